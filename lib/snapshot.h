/* Raft snapshot archives (docs/vault-cli.md §5.3): a streaming verifier fed chunk
 * by chunk as the bytes arrive, in constant memory whatever the snapshot's
 * size, so `snapshot save` verifies while it writes.
 *
 * A snapshot is a gzip-compressed tar holding exactly these members, in this
 * order: meta.json (raft.SnapshotMeta), state.bin (the FSM data), SHA256SUMS
 * ("<sha256 hex>  <name>" lines for meta.json and state.bin) and
 * SHA256SUMS.sealed (the same list encrypted with the cluster's seal). Checked
 * here: the gzip stream (magic, deflate data, CRC-32 and ISIZE, a complete
 * end), the tar headers (checksums; ustar, PAX and GNU long names), the member
 * names and their order (any other name is `unexpected file "x" in snapshot`,
 * Vault's words), meta.json and both hash files at most 8 KiB, the SHA-256 of
 * meta.json and state.bin against SHA256SUMS, a non-empty SHA256SUMS.sealed,
 * and meta.json's ID, Index, Term, Version and Size. SHA256SUMS.sealed cannot
 * be verified without the cluster's unseal keys: Vault checks it on restore.
 *
 * Every failure names the problem: bad gzip, truncated (and where), missing
 * member, wrong checksum (the member and both hashes), unexpected member. */
#ifndef VH_SNAPSHOT_H
#define VH_SNAPSHOT_H

#include <stddef.h>

#include "error.h"

enum snapshot_member {
    SNAPSHOT_META = 0,   /* meta.json */
    SNAPSHOT_STATE = 1,  /* state.bin */
    SNAPSHOT_SUMS = 2,   /* SHA256SUMS */
    SNAPSHOT_SEALED = 3, /* SHA256SUMS.sealed */
    SNAPSHOT_NMEMBERS = 4,
};

/* Largest meta.json, SHA256SUMS and SHA256SUMS.sealed Vault accepts. */
#define SNAPSHOT_SMALL_MAX 8192

/* What a verified snapshot holds. After a failure the fields hold what was
 * learnt before it (members seen, sizes, meta.json once parsed). */
struct snapshot_info {
    /* meta.json (raft.SnapshotMeta) */
    char id[256];
    unsigned long long index, term;
    long long version;
    unsigned long long size;                /* meta.json's Size field, as Vault wrote it */
    int have_meta;                          /* the fields above were parsed */
    char meta_json[SNAPSHOT_SMALL_MAX + 1]; /* meta.json as stored, NUL-terminated */
    size_t meta_json_len;
    /* members */
    int present[SNAPSHOT_NMEMBERS];
    unsigned long long member_size[SNAPSHOT_NMEMBERS];
    char sha256[2]
               [65]; /* of meta.json and state.bin, lowercase hex (verified against SHA256SUMS) */
    /* the archive */
    unsigned long long compressed_bytes; /* gzip bytes fed */
    unsigned long long tar_bytes;        /* decompressed bytes */
};

/* The member's file name ("meta.json", ...). */
const char *snapshot_member_name(enum snapshot_member m);

struct snapshot_verifier;

/* A verifier for one archive (~110 KiB, however large the snapshot). NULL
 * with err when out of memory. */
struct snapshot_verifier *snapshot_verifier_new(struct error *err);

/* Feeds the next len bytes of the archive, split anywhere. Returns 0, or -1
 * with err as soon as the bytes seen prove the archive bad (bad gzip, an
 * unexpected or out-of-order member, an oversize meta file, a checksum
 * mismatch); the failure is sticky: later calls return it again. */
int snapshot_verifier_feed(struct snapshot_verifier *v, const void *data, size_t len,
                           struct error *err);

/* The archive is complete: checks that the gzip stream ended (else it is
 * truncated) and every member was seen, and fills info (optional; also on
 * failure, with what was learnt). Returns 0 when the snapshot is valid. */
int snapshot_verifier_finish(struct snapshot_verifier *v, struct snapshot_info *info,
                             struct error *err);

void snapshot_verifier_free(struct snapshot_verifier *v);

/* Called while verifying a file: bytes read so far (total is the file's size,
 * 0 when unknown, e.g. a pipe). */
typedef void (*snapshot_progress_fn)(void *ctx, unsigned long long done, unsigned long long total);

/* Verifies the archive read from fd until end of file (not closed). */
int snapshot_verify_fd(int fd, snapshot_progress_fn progress, void *progress_ctx,
                       struct snapshot_info *info, struct error *err);

/* Verifies the file at path ("-" = stdin); errors are prefixed with path. */
int snapshot_verify_file(const char *path, struct snapshot_info *info, struct error *err);

#endif
