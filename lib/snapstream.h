/* The snapshot stream protocol: Raft snapshots streamed over exec, never
 * through a file in the pod on the save side (docs/vault-cli.md §5,
 * docs/kubernetes.md §1.5). Nothing is printed here: progress goes to a
 * callback, steps to o->report, failures come back as struct error whose
 * message names what failed, where it stands and what to do.
 *
 * save: `vault operator raft snapshot save /dev/stdout` in a pod, the token on
 *   the first stdin line. In the pod the stream is counted on its way out (by
 *   dd, or by tee into `wc -c` where dd does not report bytes); the count and
 *   vault's exit status come back on stderr after the stream ends, as marker
 *   lines:
 *     vault-ha-exit N / vault-ha-bytes N
 *   so a stream whose tail got lost (kubectl exec and kubectl cp are known to
 *   do that silently) is caught by the count, not only by the archive check.
 *   (No SHA-256 in the pod: the archive's gzip CRC-32 and SHA256SUMS already
 *   cover the content, and hashing costs the pod ~3 s of CPU per GiB.) The
 *   bytes go to a sink while lib/snapshot verifies them as they arrive. When
 *   the active pod loses the leadership before the stream begins, the save
 *   starts again on the new active pod, as Vault's clients do.
 *
 * restore: the verified file goes to the ACTIVE pod's `snapshot restore
 *   /dev/stdin`, stdin ended with v5's CLOSE. A v4 API server cannot end stdin:
 *   there the pod copies exactly N bytes into a 0600 temporary file with
 *   `head -c N`, reports what it received (vault-ha-received N), restores from
 *   that file and removes it. Then every pod is polled until an active node
 *   exists and each pod is unsealed and a raft member.
 *
 * Every wait and stream here ends when o->cancel is set (Ctrl-C). */
#ifndef VH_SNAPSTREAM_H
#define VH_SNAPSTREAM_H

#include <stddef.h>

#include "error.h"
#include "ops.h"
#include "secret.h"
#include "snapshot.h"
#include "vault.h"

#define SNAPSTREAM_MARK     "vault-ha-"
#define SNAPSTREAM_TEXT_MAX (16u << 10) /* stderr text kept for messages */
#define SNAPSTREAM_LINE_MAX 256u        /* a longer stderr line is no marker */

/* --- what the pod says on stderr ------------------------------------------------------------ */

/* The pod's stderr split into our marker lines and the rest (Vault's messages,
 * bounded). Bytes from a pod are hostile: every field stays within its bounds
 * whatever arrives, split anywhere. */
struct snapstream_markers {
    char text[SNAPSTREAM_TEXT_MAX]; /* what is not a marker, NUL-terminated, cut at the bound */
    size_t len;
    char line[SNAPSTREAM_LINE_MAX];
    size_t line_len;
    int long_line;            /* the current line outgrew line[]: not a marker */
    int have_exit, exit_code; /* vault-ha-exit N: vault's exit status, 0-255 */
    int have_bytes;           /* vault-ha-bytes N: what the pod sent */
    unsigned long long bytes;
    int have_received; /* vault-ha-received N: what the pod's copy holds (v4 restore) */
    unsigned long long received;
};

/* Empties m for a new command. */
void snapstream_markers_reset(struct snapstream_markers *m);
/* A kexec_write_fn for stderr (ctx is the struct snapstream_markers); never fails. */
int snapstream_markers_write(void *ctx, const void *data, size_t len, struct error *err);
/* Takes a last line without its newline. */
void snapstream_markers_finish(struct snapstream_markers *m);
/* Vault's error from the text ("no error message" when there is none). */
void snapstream_markers_why(const struct snapstream_markers *m, char *buf, size_t cap);

/* Vault's answers when the node asked is not (or no longer) the active one. */
int snapstream_lost_leadership(const char *why);

/* --- the pod scripts ------------------------------------------------------------------------- */

#define SNAPSTREAM_ARGV_MAX   16
#define SNAPSTREAM_SCRIPT_MAX 1400

/* The save command: sh -c SCRIPT cli operator raft snapshot save /dev/stdout.
 * The token is read from the first stdin line into token_var; script (of
 * SNAPSTREAM_SCRIPT_MAX bytes) holds the script argv points to. POSIX sh only. */
void snapstream_save_argv(const char *cli, const char *token_var, char *script,
                          const char *argv[SNAPSTREAM_ARGV_MAX]);

/* The restore command: streamed from stdin (copy_first 0), or copied into a
 * private temporary file of exactly count bytes first (copy_first 1, for v4). */
void snapstream_restore_argv(const char *cli, const char *token_var, int copy_first, int force,
                             const char *count, char *script,
                             const char *argv[SNAPSTREAM_ARGV_MAX]);

/* --- progress -------------------------------------------------------------------------------- */

enum snapstream_progress {
    SNAPSTREAM_START, /* what: "Saving snapshot:", "Restoring snapshot:", ... */
    SNAPSTREAM_MOVED, /* done bytes of total (0: unknown) */
    SNAPSTREAM_STOP,  /* the stream ended, whatever the outcome */
};
typedef void (*snapstream_progress_fn)(void *ctx, enum snapstream_progress ev, const char *what,
                                       unsigned long long done, unsigned long long total);

/* --- save ---------------------------------------------------------------------------------- */

/* Where the stream goes: a temporary file of the caller's (filesink_temp) or
 * standard output. */
struct snapstream_sink {
    int fd;
    int file;         /* a file of ours: written back as it goes, emptied for a new attempt */
    const char *name; /* for messages: the temporary file, or "stdout" */
};

struct snapstream_save {
    /* in */
    const char *pod;            /* the pod to save from */
    int standby;                /* it is a standby (named by the user): hint at TLS on failure */
    int follow_leader;          /* it was chosen as the active pod: start again on the new
                                   active pod when it loses the leadership before the stream */
    const struct secret *token; /* sent on stdin */
    struct snapstream_sink sink;
    long handshake_timeout_ms;       /* kexec's: 0 = 30 s, < 0 = none */
    snapstream_progress_fn progress; /* NULL = none */
    void *progress_ctx;
    /* out */
    char saved_from[256];       /* the pod the snapshot came from */
    struct snapshot_info *info; /* the caller's: the verified snapshot */
    unsigned long long bytes;   /* what arrived */
    char sha256[65];            /* of what arrived (lowercase hex), for the metadata file */
    double seconds;             /* the stream's time */
};

/* Streams a snapshot into s->sink, checks the pod's count and the archive.
 * Returns 0, or -1 with err: ERR_INTERRUPTED after Ctrl-C; the message ends in
 * what became of the output ("nothing was saved" for a file, "the output on
 * stdout is incomplete"). The caller keeps the file only on 0. */
int snapstream_save(struct ops *o, struct snapstream_save *s, struct error *err);

/* --- restore ------------------------------------------------------------------------------- */

struct snapstream_restore {
    /* in */
    const char *pod;            /* the active pod (checked again before anything is sent) */
    const struct secret *token; /* sent on stdin */
    int fd;                     /* the verified snapshot, sent from its start */
    unsigned long long size;
    int force; /* -force: a snapshot sealed with other keys */
    long handshake_timeout_ms;
    snapstream_progress_fn progress;
    void *progress_ctx;
    /* out */
    double seconds;
};

/* Sends the snapshot to the pod's `snapshot restore` and returns 0 once Vault
 * accepted it (it applies it in the background), or -1 with err
 * (ERR_INTERRUPTED after Ctrl-C). The API server's protocol is reported
 * through o->report when the snapshot must be copied into the pod first. */
int snapstream_restore(struct ops *o, struct snapstream_restore *r, struct error *err);

/* What the last look after a restore found. */
struct snapstream_after {
    struct pod_view *views; /* o->vc->npods entries; NULL when no look succeeded */
    int *member;            /* member[i]: pod i is a raft member (when have_members) */
    size_t member_cap;
    int have_members;      /* list-peers on the active pod answered */
    char members_why[512]; /* why not */
    /* the wait's own state */
    struct ops *o;
    const struct secret *token;
    long long index_before;
    double start;
    int applied, all_sealed_rounds;
};

/* Waits (o's timeout) until the restore shows (a newer raft index, or nodes
 * that sealed themselves) and an active node exists with every running pod
 * unsealed and a raft member. Fails at once when every pod stays sealed (only
 * the unseal keys can change that: ERR_REMOTE). a holds the last look in
 * every case; clear it with snapstream_after_clear. */
int snapstream_wait_restored(struct ops *o, const struct secret *token, long long index_before,
                             struct snapstream_after *a, struct error *err);
void snapstream_after_clear(const struct ops *o, struct snapstream_after *a);

#endif
