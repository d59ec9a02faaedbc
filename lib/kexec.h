/* Commands in pods over the Kubernetes exec WebSocket protocols
 * v5.channel.k8s.io (preferred) and v4.channel.k8s.io (docs/kubernetes.md §1):
 * stdin, stdout and stderr streams, the command's exit code, one pod or many at
 * once. Never a tty (a pty would echo stdin, secrets included, and rewrite
 * bytes); the URL (every argv element) lands in the API server's audit log, so
 * secrets go on stdin only.
 *
 * Streams are binary-safe and constant-memory whatever their size: stdout and
 * stderr go to caller sinks as they arrive (a sink that blocks stops us reading
 * the socket, which is the backpressure); stdin is read from its source only
 * when the send queue has room, in frames of at most 32 KiB, while receiving
 * continues (a pod that does not read stdin cannot deadlock us).
 *
 * End of stdin: on v5, when the source reaches EOF the CLOSE signal [0xFF,0x00]
 * is sent and the command sees EOF. v4 CANNOT signal EOF at all (only closing
 * the whole connection would, losing output and exit code): the result then
 * carries stdin_eof_unsupported and a command that reads stdin to its end
 * waits forever (until the timeout or cancel). Callers that must work on v4
 * make the pod read a known length instead, e.g. `sh -c 'head -c N | cmd'`, or
 * send input the command reads without waiting for EOF (one JSON line). */
#ifndef VH_KEXEC_H
#define VH_KEXEC_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "dynbuf.h"
#include "error.h"
#include "kube.h"

#define KEXEC_PROTO_V5 "v5.channel.k8s.io"
#define KEXEC_PROTO_V4 "v4.channel.k8s.io"

/* Channels (stream ids) of the binary protocols. */
enum kexec_channel {
    KEXEC_CH_STDIN = 0,
    KEXEC_CH_STDOUT = 1,
    KEXEC_CH_STDERR = 2,
    KEXEC_CH_ERROR = 3,
    KEXEC_CH_RESIZE = 4,
    KEXEC_CH_CLOSE = 255, /* v5 client->server: [0xFF, channel] closes that stream */
};

/* Longest that coalesced stdout waits for more before it goes to the sink. */
#define KEXEC_COALESCE_MS 10

/* Largest stdin frame payload (channel byte included), as client-go sends. */
#define KEXEC_STDIN_FRAME_MAX (32u << 10)

/* Receives stdout or stderr bytes as they arrive, split anywhere. Returns 0, or
 * -1 with err set to end the session with that error. */
typedef int (*kexec_write_fn)(void *ctx, const void *data, size_t len, struct error *err);

/* Fills buf with up to cap bytes of stdin: returns the count (> 0), 0 at end of
 * input, KEXEC_READ_AGAIN when nothing is ready yet (asked again within
 * ~20 ms), or -1 with err set. Must not block for long: receiving waits. */
typedef ssize_t (*kexec_read_fn)(void *ctx, void *buf, size_t cap, struct error *err);
#define KEXEC_READ_AGAIN ((ssize_t)-2)

enum kexec_stdin_kind {
    KEXEC_STDIN_NONE = 0, /* no stdin: the query says nothing about it (false) */
    KEXEC_STDIN_MEMORY,   /* data/len, e.g. a secret: never traced, frames wiped after sending */
    KEXEC_STDIN_FD,       /* fd read (after poll says readable) until EOF; not closed by us */
    KEXEC_STDIN_CALLBACK, /* read/ctx */
};

struct kexec_stdin {
    enum kexec_stdin_kind kind;
    const void *data;
    size_t len;
    int fd;
    kexec_read_fn read;
    void *ctx;
};

enum kexec_note {
    /* stdin reached its end on a v4 connection, which cannot tell the command, and the
     * command still runs a second later (it may be waiting for that end). */
    KEXEC_NOTE_STDIN_EOF_UNSUPPORTED = 1,
};
typedef void (*kexec_note_fn)(void *ctx, const char *pod, enum kexec_note note);

struct kexec_request {
    const char *namespace;
    const char *pod;
    const char *container;   /* NULL = the pod's only container */
    const char *const *argv; /* NULL-terminated, argv[0] is the program; no shell, no secrets */
    struct kexec_stdin in;
    kexec_write_fn out; /* stdout sink; NULL = discard */
    void *out_ctx;
    /* 0: stdout goes to the sink as it arrives (TLS records, ~16 KiB). Else it is
     * gathered into pieces of exactly this many bytes from a page-aligned buffer
     * (lib/filesink can write those with O_DIRECT), held back at most
     * KEXEC_COALESCE_MS, and handed over before any stderr and at the end: bulk
     * streams then cost far fewer system calls. A multiple of 4096. */
    size_t out_coalesce;
    kexec_write_fn err; /* stderr sink; NULL = discard */
    void *err_ctx;
    kexec_note_fn note; /* optional */
    void *note_ctx;
    /* Offered subprotocols in order; NULL = { v5, v4 }. Only v5 and v4 are
     * understood (tests offer v5 alone to see a v4-only server refuse). */
    const char *const *protocols;
    long handshake_timeout_ms;     /* connect + upgrade: 0 = 30 s, < 0 = none */
    long timeout_ms;               /* the whole session after the upgrade: 0 = none */
    long idle_timeout_ms;          /* nothing received or sent for this long: 0 = none */
    volatile sig_atomic_t *cancel; /* set (e.g. by SIGINT) to end the session: ERR_INTERRUPTED */
};

struct kexec_result {
    int rc;        /* 0: the command ran and reported its exit status; -1: see err */
    int exit_code; /* the command's exit status 0-255 when rc == 0, else -1 */
    /* Negotiated subprotocol (KEXEC_PROTO_V5/V4), NULL before the upgrade. Set as soon as
     * the upgrade succeeded, so sources and sinks may look at it during the session. */
    const char *protocol;
    int stdin_eof_unsupported; /* stdin was given, the server speaks v4: no EOF could be sent */
    unsigned long long stdout_bytes, stderr_bytes, stdin_bytes;
    struct error err; /* why rc == -1 */
};

/* The exec path with its query: every argument percent-encoded (RFC 3986
 * unreserved kept), stdin=true only when the request has stdin, no tty.
 * malloc'd, NULL when out of memory. */
char *kexec_build_path(const struct kexec_request *req);

/* Parses the Status JSON of channel 3: Success -> *exit_code 0; NonZeroExitCode
 * -> the code from the cause whose reason is ExitCode (0-255); any other
 * failure -> -1 with err (ERR_REMOTE) carrying the Status message. */
int kexec_parse_status(const char *json, size_t len, int *exit_code, struct error *err);

/* Runs one command in one pod. Returns 0 when the command ran to its end (its
 * exit status in res->exit_code, possibly non-zero), -1 with err otherwise: the
 * upgrade failed, the command could not start, the stream was cut before the
 * exit status arrived, a timeout, or cancel (ERR_INTERRUPTED). */
int kexec_run(struct kube_client *kube, const struct kexec_request *req, struct kexec_result *res,
              struct error *err);

/* Runs n requests concurrently: the upgrades in parallel threads (connection
 * setup dominates), then all streams in one poll loop in the calling thread,
 * so sinks and sources are only ever called from the caller's thread, never
 * at the same time. results[i] belongs to requests[i]. Returns 0 when every
 * result has rc == 0, else -1. */
int kexec_run_many(struct kube_client *kube, const struct kexec_request *requests, size_t n,
                   struct kexec_result *results);

/* A sink collecting output into memory, bounded: more than buf.max bytes end the
 * session with an error (kexec_limit_error). Free buf.data with free() (wipe it
 * first if secret). */
struct kexec_buffer {
    struct dynbuf buf; /* max 0 = 1 MiB */
    const char *what;  /* "stdout", "stderr": for the message; NULL = "the output" */
};
int kexec_buffer_write(void *ctx, const void *data, size_t len, struct error *err);

/* The error of a sink whose cap of max bytes was reached ("stdout is over the
 * limit of N bytes ..."): a pod that prints without end cannot grow our
 * memory. Returns -1. */
int kexec_limit_error(struct error *err, const char *what, size_t max);

#endif
