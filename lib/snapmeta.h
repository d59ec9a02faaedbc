/* Snapshot metadata: FILE.json beside a snapshot FILE, written by `snapshot
 * save`, shown by `snapshot verify`, used by `snapshot restore`.
 *
 * A Raft snapshot records neither the Vault version nor the cluster_id
 * (meta.json is raft's SnapshotMeta, state.bin is barrier-encrypted;
 * docs/disaster-recovery.md §4.2, §5 item 26), so they are taken from `vault
 * status` at save time and kept here with the seal type, shares and threshold,
 * the raft index and term, the time and the snapshot file's size and SHA-256.
 * A restore can then refuse an older Vault, a different seal type, or a file
 * that is not the one described, and compare cluster_ids afterwards.
 *
 * The file is JSON (one object, camelCase keys). It is read as hostile input:
 * at most SNAPMETA_FILE_MAX bytes, every field type- and charset-checked. */
#ifndef VH_SNAPMETA_H
#define VH_SNAPMETA_H

#include <stddef.h>

#include "error.h"

#define SNAPMETA_FORMAT   1
#define SNAPMETA_FILE_MAX (16u << 10)

struct snapmeta {
    int format;             /* SNAPMETA_FORMAT */
    char product[16];       /* "vault" or "openbao" */
    char version[64];       /* the server's version, e.g. "1.21.2" */
    char cluster_id[64];    /* vault status cluster_id */
    char cluster_name[128]; /* optional, "" */
    char seal_type[32];     /* "shamir", "transit", "awskms", ... */
    int shares, threshold;  /* the seal's n and t (recovery keys under an auto seal) */
    unsigned long long raft_index, raft_term;
    char saved_at[40];    /* RFC 3339, UTC */
    char namespace_[254]; /* where it was saved from, optional */
    char pod[254];
    unsigned long long bytes; /* the snapshot file */
    char sha256[65];          /* of the snapshot file, lowercase hex */
};

/* "<snapshot>.json" into buf; -1 with err when it does not fit. */
int snapmeta_path(const char *snapshot, char *buf, size_t cap, struct error *err);

/* The JSON text (malloc'd, newline-terminated), or NULL with err. */
char *snapmeta_encode(const struct snapmeta *m, struct error *err);

/* Parses and validates len bytes (need not be NUL-terminated); name stands for
 * the file in messages. On failure m is cleared and err names the field. */
int snapmeta_parse(const char *name, const char *text, size_t len, struct snapmeta *m,
                   struct error *err);

/* Checks m as snapmeta_parse would read it back, then writes it to path atomically: a 0600
 * temporary file beside it, written, fsync'd and renamed over path, then the directory fsync'd. */
int snapmeta_write(const char *path, const struct snapmeta *m, struct error *err);

/* Reads path: 0 when read and valid, 1 when there is no such file, -1 with err
 * (not a regular file, too large, invalid). */
int snapmeta_read(const char *path, struct snapmeta *m, struct error *err);

/* SHA-256 of a stream, fed piece by piece (the snapshot as it arrives). */
struct snapmeta_hash;
struct snapmeta_hash *snapmeta_hash_new(struct error *err);
void snapmeta_hash_update(struct snapmeta_hash *h, const void *data, size_t len);
/* Lowercase hex into out; frees h. */
void snapmeta_hash_final(struct snapmeta_hash *h, char out[65]);
void snapmeta_hash_free(struct snapmeta_hash *h);

/* Hashes fd from its current offset to end of file. */
int snapmeta_hash_fd(int fd, char out[65], unsigned long long *bytes, struct error *err);

/* Checks that the snapshot at fd (read from offset 0; the offset is left at
 * the end) is the file m describes: same size and SHA-256. */
int snapmeta_check_file(const struct snapmeta *m, int fd, struct error *err);

/* Compares dotted versions numerically ("1.21.2" < "1.21.10"; a suffix such
 * as "+ent" or "-rc1" is ignored): *cmp < 0, 0, > 0. -1 when either does not
 * start with MAJOR.MINOR.PATCH. */
int snapmeta_version_cmp(const char *a, const char *b, int *cmp);

/* What a restore target is. */
struct snapmeta_target {
    const char *product;   /* "vault" or "openbao" */
    const char *version;   /* its server version */
    const char *seal_type; /* its seal type */
};

/* Whether the snapshot m describes may be restored into t: refused (-1, err
 * says why and what to do) for another product, an older version, or a seal
 * type of the other kind (Shamir vs auto-unseal) without a seal migration. */
int snapmeta_check_target(const struct snapmeta *m, const struct snapmeta_target *t,
                          struct error *err);

/* 1 when seal_type is Shamir ("shamir", or "" as old servers report none). */
int snapmeta_is_shamir(const char *seal_type);

#endif
