/* The snapshot stream protocol over exec (snapstream.h). */
#include "snapstream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filesink.h"
#include "kexec.h"
#include "output.h"
#include "snapmeta.h"
#include "wait.h"
#include "text.h"

#define IDLE_TIMEOUT_MS (10L * 60 * 1000) /* nothing sent or received for this long */
#define SAVE_CHUNK      (256u << 10)      /* the stream is written in pieces this large */
#define WRITEBACK_STEP  (8ull << 20)
#define SAVE_ATTEMPTS   3 /* a leader loss before the stream: start again, this often at most */

/* --- what the pod says on stderr ------------------------------------------------------------ */

void snapstream_markers_reset(struct snapstream_markers *m)
{
    memset(m, 0, sizeof *m);
}

static void text_add(struct snapstream_markers *m, const char *d, size_t n)
{
    size_t room = sizeof m->text - 1 - m->len;
    if (n > room)
        n = room;
    memcpy(m->text + m->len, d, n);
    m->len += n;
    m->text[m->len] = '\0';
}

/* A decimal count with optional blanks around it (and a \r from a CRLF line). */
static int parse_count(const char *p, unsigned long long *out)
{
    char *end;
    errno = 0;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return -1; /* strtoull would take a sign */
    unsigned long long n = strtoull(p, &end, 10);
    if (errno != 0)
        return -1;
    while (*end == ' ' || *end == '\t' || *end == '\r')
        end++;
    if (*end != '\0')
        return -1;
    *out = n;
    return 0;
}

/* "vault-ha-NAME N": the count after NAME, or -1. */
static int marker(const char *line, const char *name, unsigned long long *n)
{
    size_t mark = strlen(SNAPSTREAM_MARK), len = strlen(name);
    if (strncmp(line, SNAPSTREAM_MARK, mark) != 0 || strncmp(line + mark, name, len) != 0 ||
        line[mark + len] != ' ')
        return -1;
    return parse_count(line + mark + len + 1, n);
}

static void end_line(struct snapstream_markers *m)
{
    m->line[m->line_len] = '\0';
    unsigned long long n;
    if (marker(m->line, "exit", &n) == 0 && n < 256) {
        m->have_exit = 1;
        m->exit_code = (int)n;
    } else if (marker(m->line, "bytes", &n) == 0) {
        m->have_bytes = 1;
        m->bytes = n;
    } else if (marker(m->line, "received", &n) == 0) {
        m->have_received = 1;
        m->received = n;
    } else {
        text_add(m, m->line, m->line_len);
        text_add(m, "\n", 1);
    }
    m->line_len = 0;
}

int snapstream_markers_write(void *ctx, const void *data, size_t len, struct error *err)
{
    (void)err;
    struct snapstream_markers *m = ctx;
    const char *d = data;
    for (size_t i = 0; i < len; i++) {
        char c = d[i];
        if (m->long_line) {
            text_add(m, &c, 1);
            if (c == '\n')
                m->long_line = 0;
            continue;
        }
        if (c == '\n') {
            end_line(m);
            continue;
        }
        if (m->line_len + 1 >= sizeof m->line) {
            text_add(m, m->line, m->line_len);
            text_add(m, &c, 1);
            m->line_len = 0;
            m->long_line = 1;
            continue;
        }
        m->line[m->line_len++] = c;
    }
    return 0;
}

void snapstream_markers_finish(struct snapstream_markers *m)
{
    if (m->line_len > 0)
        end_line(m);
}

void snapstream_markers_why(const struct snapstream_markers *m, char *buf, size_t cap)
{
    vault_error_summary(m->text, buf, cap);
    if (buf[0] == '\0')
        snprintf(buf, cap, "no error message");
}

int snapstream_lost_leadership(const char *why)
{
    return strstr(why, "no active Vault instance") != NULL ||
           strstr(why, "local node not active") != NULL || strstr(why, "Vault is sealed") != NULL ||
           strstr(why, "active cluster node not found") != NULL;
}

/* --- the pod scripts ------------------------------------------------------------------------- */

static const char *token_var(const struct vault_cluster *vc)
{
    return vc->token_env;
}

void snapstream_save_argv(const char *cli, const char *var, char *script,
                          const char *argv[SNAPSTREAM_ARGV_MAX])
{
    /* The bytes vault sends are counted on their way to stdout, and the count and
     * vault's exit status follow on stderr. POSIX sh only, no bash: with a dd that
     * reports bytes copied (coreutils; busybox built with its third status line),
     * dd bs=64k passes the stream on in large blocks and counts it; otherwise tee
     * copies it to wc -c, which costs the pod two more copies of the stream in
     * small blocks. The probe tells which dd this is. */
    snprintf(script, SNAPSTREAM_SCRIPT_MAX,
             "IFS= read -r %s && export %s && exec 3>&1 && set -f && "
             "case $(LC_ALL=C dd if=/dev/null of=/dev/null 2>&1) in "
             "*' bytes '*) "
             "n=$({ \"$0\" \"$@\"; echo \"" SNAPSTREAM_MARK
             "exit $?\" >&2; } | LC_ALL=C dd bs=65536 2>&1 >&3); "
             "set -- $n; while [ $# -gt 1 ] && [ \"$2\" != bytes ]; do shift; done; "
             "if [ $# -gt 1 ]; then echo \"" SNAPSTREAM_MARK
             "bytes $1\" >&2; else echo \"$n\" >&2; fi;; "
             "*) { { \"$0\" \"$@\"; echo \"" SNAPSTREAM_MARK "exit $?\" >&2; } "
             "| tee /dev/fd/3 "
             "| { n=$(wc -c) && echo \"" SNAPSTREAM_MARK "bytes $n\" >&2; }; };; "
             "esac",
             var, var);
    const char *const words[] = {"sh",   "-c",       script, cli,           "operator",
                                 "raft", "snapshot", "save", "/dev/stdout", NULL};
    memcpy(argv, words, sizeof words);
}

void snapstream_restore_argv(const char *cli, const char *var, int copy_first, int force,
                             const char *count, char *script, const char *argv[SNAPSTREAM_ARGV_MAX])
{
    size_t n = 0;
    if (!copy_first) {
        snprintf(script, SNAPSTREAM_SCRIPT_MAX,
                 "IFS= read -r %s && export %s && exec \"$0\" \"$@\"", var, var);
    } else {
        /* A length-bounded copy into a private temporary file, its size
         * checked, then the restore from it; the file goes on every exit. */
        snprintf(script, SNAPSTREAM_SCRIPT_MAX,
                 "IFS= read -r %s && export %s && n=$1 && shift && umask 077 && "
                 "f=$(mktemp \"${TMPDIR:-/tmp}/vault-ha-restore.XXXXXX\") && "
                 "trap 'rm -f \"$f\"' EXIT && trap 'exit 129' HUP && trap 'exit 130' INT && "
                 "trap 'exit 143' TERM && head -c \"$n\" > \"$f\" && "
                 "got=$(($(wc -c < \"$f\"))) && echo \"" SNAPSTREAM_MARK "received $got\" >&2 && "
                 "[ \"$got\" -eq \"$n\" ] && \"$0\" \"$@\" \"$f\"",
                 var, var);
    }
    argv[n++] = "sh";
    argv[n++] = "-c";
    argv[n++] = script;
    argv[n++] = cli;
    if (copy_first)
        argv[n++] = count;
    argv[n++] = "operator";
    argv[n++] = "raft";
    argv[n++] = "snapshot";
    argv[n++] = "restore";
    if (force)
        argv[n++] = "-force";
    if (!copy_first)
        argv[n++] = "/dev/stdin";
    argv[n] = NULL;
}

/* --- small helpers ------------------------------------------------------------------------- */

/* The token as the first stdin line, in locked memory. */
static int token_line(const struct secret *token, struct secret *line, struct error *err)
{
    if (secret_alloc(line, token->len + 2, err) < 0)
        return -1;
    memcpy(line->data, token->data, token->len);
    line->data[token->len] = '\n';
    line->len = token->len + 1;
    return 0;
}

static int cancelled(const struct ops *o)
{
    return o->cancel != NULL && *o->cancel;
}

static void progress(snapstream_progress_fn fn, void *ctx, enum snapstream_progress ev,
                     const char *what, unsigned long long done, unsigned long long total)
{
    if (fn != NULL)
        fn(ctx, ev, what, done, total);
}

/* --- save ---------------------------------------------------------------------------------- */

/* One attempt's destination: the sink, with the verifier and the count. */
struct save_attempt {
    const struct snapstream_save *s;
    struct filesink file;            /* the sink's fd; O_DIRECT for a file of ours */
    unsigned long long written_back; /* bytes handed to writeback so far */
    struct snapshot_verifier *v;
    struct snapmeta_hash *hash; /* of the whole stream: the metadata's SHA-256 */
    unsigned long long bytes;
    int failed; /* our own error ended the stream: see why */
    struct error why;
};

static int save_write(void *ctx, const void *data, size_t len, struct error *err)
{
    struct save_attempt *a = ctx;
    const struct snapstream_save *s = a->s;
    if (filesink_write(&a->file, data, len, &a->why) < 0) {
        error_wrap(&a->why, "writing %s", s->sink.name);
        a->why.kind = ERR_CONFIG;
        goto failed;
    }
    a->bytes += len;
    /* The file is fsynced before the rename: writing it back while the stream
     * runs leaves that fsync little to wait for. A hint: failures show at fsync. */
    if (s->sink.file && a->bytes - a->written_back >= WRITEBACK_STEP) {
        sync_file_range(s->sink.fd, (off_t)a->written_back, (off_t)(a->bytes - a->written_back),
                        SYNC_FILE_RANGE_WRITE);
        a->written_back = a->bytes;
    }
    if (snapshot_verifier_feed(a->v, data, len, &a->why) < 0) {
        error_wrap(&a->why, "the snapshot stream is not a valid snapshot after %llu bytes",
                   a->bytes);
        goto failed;
    }
    snapmeta_hash_update(a->hash, data, len);
    progress(s->progress, s->progress_ctx, SNAPSTREAM_MOVED, NULL, a->bytes, 0);
    return 0;
failed:
    a->failed = 1;
    *err = a->why;
    return -1;
}

enum attempt_outcome { ATTEMPT_SAVED, ATTEMPT_FAILED, ATTEMPT_LEADER_LOST };

/* What a failure leaves of the output, for the end of its message. */
static const char *kept_text(const struct snapstream_sink *sink)
{
    return sink->file ? "nothing was saved" : "the output on stdout is incomplete";
}

/* What the pod reported after the stream, judged; why gets Vault's message. */
static enum attempt_outcome judge_save(struct ops *o, const struct snapstream_save *s,
                                       int may_retry, const struct save_attempt *a,
                                       const struct kexec_result *res,
                                       const struct snapstream_markers *pe, char *why, size_t cap,
                                       struct error *err)
{
    const char *pod = s->saved_from;
    const char *kept = kept_text(&s->sink);
    char got[32];
    output_size(got, sizeof got, a->bytes);
    if (cancelled(o)) {
        error_set(err, ERR_INTERRUPTED, "interrupted after %s: %s", got, kept);
        return ATTEMPT_FAILED;
    }
    if (a->failed) {
        error_set(err, a->why.kind, "%s: %s", a->why.msg, kept);
        return ATTEMPT_FAILED;
    }
    if (res->rc < 0) {
        if (pe->have_exit && pe->exit_code != 0) {
            snapstream_markers_why(pe, why, cap);
            error_set(err, ERR_REMOTE, "snapshot save on %s failed: %s; %s", pod, why, kept);
        } else {
            error_set(err, res->err.kind, "%s; %s", res->err.msg, kept);
        }
        return ATTEMPT_FAILED;
    }
    snapstream_markers_why(pe, why, cap);
    if (!pe->have_exit) {
        error_set(err, ERR_REMOTE,
                  "the pod %s did not report vault's exit status (shell exit %d: %s): is there a "
                  "POSIX sh in the image? %s",
                  pod, res->exit_code, why, kept);
        return ATTEMPT_FAILED;
    }
    if (pe->exit_code != 0) {
        /* The leader stepped down (or was lost) before the stream began: nothing
         * was written, so the save may start again on the new active node. */
        if (may_retry && a->bytes == 0 && snapstream_lost_leadership(why))
            return ATTEMPT_LEADER_LOST;
        const char *hint = "";
        if (strstr(why, "permission denied") != NULL)
            hint = " (the token is wrong or lacks read on sys/storage/raft/snapshot)";
        else if (s->standby)
            hint = " (a standby redirects snapshot requests to the active node's pod IP; under "
                   "TLS its certificate must name that IP: leave out --pod to save from the "
                   "active pod)";
        error_set(err, ERR_REMOTE, "snapshot save on %s failed (vault exit %d): %s%s; %s", pod,
                  pe->exit_code, why, hint, kept);
        return ATTEMPT_FAILED;
    }
    if (!pe->have_bytes) {
        error_set(err, ERR_REMOTE,
                  "%s did not report how many bytes it sent (needs dd, or tee and wc, in the "
                  "image), so a lost tail cannot be ruled out%s%s; %s",
                  pod, pe->len ? ": " : "", why, kept);
        return ATTEMPT_FAILED;
    }
    if (pe->bytes != a->bytes) {
        error_set(err, ERR_PROTOCOL, "the stream lost data: %s sent %llu bytes, %llu arrived; %s",
                  pod, pe->bytes, a->bytes, kept);
        return ATTEMPT_FAILED;
    }
    struct error verr = {0};
    if (snapshot_verifier_finish(a->v, s->info, &verr) < 0) {
        error_set(err, ERR_REMOTE, "the snapshot from %s is not valid: %s; %s", pod, verr.msg,
                  kept);
        return ATTEMPT_FAILED;
    }
    return ATTEMPT_SAVED;
}

/* One stream from s->saved_from into the (empty) sink. */
static enum attempt_outcome save_attempt(struct ops *o, struct snapstream_save *s, int may_retry,
                                         struct snapstream_markers *pe, char *why, size_t cap,
                                         struct error *err)
{
    struct secret line = {0};
    struct save_attempt a = {.s = s};
    enum attempt_outcome out = ATTEMPT_FAILED;
    if (token_line(s->token, &line, err) < 0 || (a.v = snapshot_verifier_new(err)) == NULL ||
        (a.hash = snapmeta_hash_new(err)) == NULL)
        goto done;
    char script[SNAPSTREAM_SCRIPT_MAX];
    const char *argv[SNAPSTREAM_ARGV_MAX];
    snapstream_save_argv(o->vc->cli, token_var(o->vc), script, argv);
    snapstream_markers_reset(pe);
    progress(s->progress, s->progress_ctx, SNAPSTREAM_START, "Saving snapshot:", 0, 0);
    filesink_open(&a.file, s->sink.fd, 1); /* stdout too: a redirect to a file gains */
    struct kexec_request req = {
        .namespace = o->vc->namespace,
        .pod = s->saved_from,
        .container = o->vc->container,
        .argv = argv,
        .in = {.kind = KEXEC_STDIN_MEMORY, .data = line.data, .len = line.len},
        .out = save_write,
        .out_ctx = &a,
        .out_coalesce = SAVE_CHUNK,
        .err = snapstream_markers_write,
        .err_ctx = pe,
        .handshake_timeout_ms = s->handshake_timeout_ms,
        .idle_timeout_ms = IDLE_TIMEOUT_MS,
        .cancel = o->cancel,
    };
    struct kexec_result res = {0};
    double t0 = wait_now_s();
    kexec_run(o->kube, &req, &res, NULL);
    filesink_close(&a.file);
    s->seconds = wait_now_s() - t0;
    s->bytes = a.bytes;
    progress(s->progress, s->progress_ctx, SNAPSTREAM_STOP, NULL, a.bytes, 0);
    snapstream_markers_finish(pe);
    secret_free(&line);
    out = judge_save(o, s, may_retry, &a, &res, pe, why, cap, err);
    snapmeta_hash_final(a.hash, s->sha256);
    a.hash = NULL;
done:
    secret_free(&line);
    snapshot_verifier_free(a.v);
    snapmeta_hash_free(a.hash);
    return out;
}

/* After a leader loss: the new active pod (waiting for the election), and an
 * empty sink. */
static int restart_on_new_leader(struct ops *o, struct snapstream_save *s, struct error *err)
{
    char active[sizeof s->saved_from];
    if (ops_wait_active(o, NULL, active, sizeof active, err) < 0)
        return -1;
    if (s->sink.file && (ftruncate(s->sink.fd, 0) < 0 || lseek(s->sink.fd, 0, SEEK_SET) < 0))
        return error_set(err, ERR_CONFIG, "cannot reuse the temporary file: %s", strerror(errno));
    snprintf(s->saved_from, sizeof s->saved_from, "%s", active);
    s->standby = 0;
    ops_report(o, "Starting again on %s.", active);
    return 0;
}

int snapstream_save(struct ops *o, struct snapstream_save *s, struct error *err)
{
    struct snapstream_markers *pe = calloc(1, sizeof *pe);
    if (pe == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    snprintf(s->saved_from, sizeof s->saved_from, "%s", s->pod);
    s->bytes = 0;
    char why[1024];
    enum attempt_outcome out;
    for (int attempt = 1;; attempt++) {
        int may_retry = s->follow_leader && attempt < SAVE_ATTEMPTS;
        out = save_attempt(o, s, may_retry, pe, why, sizeof why, err);
        if (out != ATTEMPT_LEADER_LOST)
            break;
        ops_report(o, "%s lost the leadership before the snapshot began (%s)", s->saved_from, why);
        if (restart_on_new_leader(o, s, err) < 0) {
            text_appendf(err->msg, sizeof err->msg, NULL, "; %s", kept_text(&s->sink));
            out = ATTEMPT_FAILED;
            break;
        }
    }
    free(pe);
    return out == ATTEMPT_SAVED ? 0 : -1;
}

/* --- restore ------------------------------------------------------------------------------- */

struct upload {
    const struct secret *line; /* token line, sent first */
    size_t line_off;
    const struct snapstream_restore *r;
    unsigned long long sent;
    const struct kexec_result *res; /* to see the negotiated protocol */
    const char *want_proto;         /* refuse to send anything on another one */
    int proto_mismatch;
    int failed;
    struct error why;
};

static ssize_t upload_read(void *ctx, void *buf, size_t cap, struct error *err)
{
    struct upload *u = ctx;
    const struct snapstream_restore *r = u->r;
    if (u->want_proto != NULL && u->res->protocol != NULL &&
        strcmp(u->res->protocol, u->want_proto) != 0) {
        u->proto_mismatch = 1;
        return error_set(err, ERR_PROTOCOL, "the API server negotiated %s for this connection",
                         u->res->protocol);
    }
    if (u->line_off < u->line->len) {
        size_t n = u->line->len - u->line_off;
        if (n > cap)
            n = cap;
        memcpy(buf, u->line->data + u->line_off, n);
        u->line_off += n;
        return (ssize_t)n;
    }
    if (u->sent >= r->size)
        return 0;
    size_t want = cap;
    if (want > r->size - u->sent)
        want = (size_t)(r->size - u->sent);
    ssize_t n;
    do
        n = read(r->fd, buf, want);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        u->failed = 1;
        if (n < 0)
            error_set(&u->why, ERR_CONFIG, "reading the snapshot: %s", strerror(errno));
        else
            error_set(&u->why, ERR_CONFIG,
                      "the snapshot file shrank while it was being sent (%llu of %llu bytes)",
                      u->sent, r->size);
        *err = u->why;
        return -1;
    }
    u->sent += (unsigned long long)n;
    progress(r->progress, r->progress_ctx, SNAPSTREAM_MOVED, NULL, u->sent, r->size);
    return n;
}

/* `vault status` in the pod through kexec directly: is it still the active
 * node, and which protocol does the API server speak (v4 cannot end stdin). */
static int preflight(struct ops *o, const struct snapstream_restore *r, const char **proto,
                     struct error *err)
{
    const char *status_argv[] = {o->vc->cli, "status", "-format=json", NULL};
    struct vault_argv wrapped;
    const char *const *argv = vault_argv_without_pod_token(o->vc, status_argv, &wrapped);
    struct kexec_buffer out = {.buf.max = 1u << 20, .what = "stdout"},
                        errb = {.buf.max = 64u << 10, .what = "stderr"};
    struct kexec_request req = {
        .namespace = o->vc->namespace,
        .pod = r->pod,
        .container = o->vc->container,
        .argv = argv,
        .out = kexec_buffer_write,
        .out_ctx = &out,
        .err = kexec_buffer_write,
        .err_ctx = &errb,
        .handshake_timeout_ms = r->handshake_timeout_ms,
        .timeout_ms = 60000,
        .cancel = o->cancel,
    };
    struct kexec_result res = {0};
    struct vault_status st = {0};
    int rc = -1;
    if (kexec_run(o->kube, &req, &res, err) < 0)
        goto out;
    *proto = res.protocol;
    if (vault_parse_status(out.buf.data, out.buf.len, res.exit_code, errb.buf.data, &st, err) < 0)
        error_wrap(err, "%s", r->pod);
    else if (!vault_status_is_active(&st))
        error_set(err, ERR_REMOTE, "%s is no longer the active node (%s); run the restore again",
                  r->pod, st.sealed ? "sealed" : "standby");
    else
        rc = 0;
    vault_status_clear(&st);
out:
    free(out.buf.data);
    free(errb.buf.data);
    return rc;
}

/* One run of the restore command in the pod: streamed (copy_first 0) or
 * copied then restored. Fills pe and *exit_code and returns 0 when the command
 * ran; *mismatch when a v5 offer met a v4 connection and nothing was sent. */
static int restore_attempt(struct ops *o, const struct snapstream_restore *r, int copy_first,
                           const struct secret *line, struct snapstream_markers *pe, int *exit_code,
                           int *mismatch, struct error *err)
{
    char script[SNAPSTREAM_SCRIPT_MAX], count[32];
    const char *argv[SNAPSTREAM_ARGV_MAX];
    *mismatch = 0;
    snprintf(count, sizeof count, "%llu", r->size);
    snapstream_restore_argv(o->vc->cli, token_var(o->vc), copy_first, r->force, count, script,
                            argv);
    if (lseek(r->fd, 0, SEEK_SET) < 0)
        return error_set(err, ERR_CONFIG, "cannot rewind the snapshot file: %s", strerror(errno));
    progress(r->progress, r->progress_ctx, SNAPSTREAM_START,
             copy_first ? "Copying snapshot into the pod:" : "Restoring snapshot:", 0, r->size);
    struct kexec_result res = {0};
    struct upload up = {
        .line = line, .r = r, .res = &res, .want_proto = copy_first ? NULL : KEXEC_PROTO_V5};
    struct kexec_request req = {
        .namespace = o->vc->namespace,
        .pod = r->pod,
        .container = o->vc->container,
        .argv = argv,
        .in = {.kind = KEXEC_STDIN_CALLBACK, .read = upload_read, .ctx = &up},
        .err = snapstream_markers_write,
        .err_ctx = pe,
        .handshake_timeout_ms = r->handshake_timeout_ms,
        .idle_timeout_ms = IDLE_TIMEOUT_MS,
        .cancel = o->cancel,
    };
    snapstream_markers_reset(pe);
    kexec_run(o->kube, &req, &res, NULL);
    progress(r->progress, r->progress_ctx, SNAPSTREAM_STOP, NULL, up.sent, r->size);
    snapstream_markers_finish(pe);
    *mismatch = up.proto_mismatch;
    if (up.proto_mismatch)
        return 0;
    if (cancelled(o)) {
        if (up.sent < r->size)
            return error_set(err, ERR_INTERRUPTED,
                             "interrupted after sending %llu of %llu bytes: the restore was "
                             "abandoned (Vault rejects an incomplete snapshot)%s",
                             up.sent, r->size,
                             copy_first ? "; the partial copy in the pod is removed when its "
                                          "stdin closes"
                                        : "");
        return error_set(err, ERR_INTERRUPTED,
                         "interrupted after the whole snapshot was sent: Vault may still apply "
                         "it; check with `%s status`",
                         o->prog ? o->prog : "kubectl vault-ha");
    }
    if (up.failed)
        return error_set(err, up.why.kind, "%s; the restore was abandoned", up.why.msg);
    if (res.rc < 0)
        return error_set(err, res.err.kind, "%s (%llu of %llu bytes sent)", res.err.msg, up.sent,
                         r->size);
    *exit_code = res.exit_code;
    return 0;
}

/* Vault's answer to the restore, when it refused it. */
static int restore_refused(const struct snapstream_restore *r, int copied, int exit_code,
                           const struct snapstream_markers *pe, struct error *err)
{
    char why[1024];
    snapstream_markers_why(pe, why, sizeof why);
    if (copied && pe->have_received && pe->received != r->size)
        return error_set(err, ERR_REMOTE,
                         "the copy into %s is incomplete (%llu of %llu bytes arrived): nothing "
                         "was restored",
                         r->pod, pe->received, r->size);
    if (strstr(why, "could not verify hash file") != NULL)
        return error_set(err, ERR_REMOTE,
                         "the snapshot comes from another cluster: Vault refused it (%s): it was "
                         "sealed with other unseal keys.",
                         why);
    if (strstr(why, "permission denied") != NULL)
        return error_set(err, ERR_REMOTE,
                         "snapshot restore on %s failed: %s (the token is wrong or lacks update "
                         "on sys/storage/raft/snapshot%s)",
                         r->pod, why, r->force ? "-force" : "");
    return error_set(err, ERR_REMOTE, "snapshot restore on %s failed (exit %d): %s", r->pod,
                     exit_code, why);
}

int snapstream_restore(struct ops *o, struct snapstream_restore *r, struct error *err)
{
    const char *proto = NULL;
    if (preflight(o, r, &proto, err) < 0)
        return -1;
    int copy_first = proto == NULL || strcmp(proto, KEXEC_PROTO_V5) != 0;
    if (copy_first)
        ops_report(o,
                   "The API server speaks %s, which cannot end stdin: the snapshot is copied "
                   "into the pod (a private temporary file, removed afterwards), then restored.",
                   proto ? proto : "an old exec protocol");
    struct secret line = {0};
    struct snapstream_markers *pe = calloc(1, sizeof *pe);
    int rc = -1, exit_code = -1, mismatch = 0, fell_back = 0;
    if (pe == NULL) {
        error_set(err, ERR_GENERIC, "out of memory");
        goto out;
    }
    if (token_line(r->token, &line, err) < 0)
        goto out;
    double t0 = wait_now_s();
    /* A v5 offer can meet a connection that speaks v4 after all (another API
     * server behind the load balancer): nothing was sent then, so copy instead. */
    for (;;) {
        if (restore_attempt(o, r, copy_first, &line, pe, &exit_code, &mismatch, err) < 0)
            goto out;
        if (!mismatch)
            break;
        copy_first = 1;
        fell_back = 1;
    }
    secret_free(&line);
    r->seconds = wait_now_s() - t0;
    if (fell_back)
        ops_report(o,
                   "note: this connection negotiated %s: the snapshot was copied into the pod "
                   "first",
                   KEXEC_PROTO_V4);
    if (exit_code != 0) {
        restore_refused(r, copy_first, exit_code, pe, err);
        goto out;
    }
    rc = 0;
out:
    secret_free(&line);
    free(pe);
    return rc;
}

/* --- after the restore --------------------------------------------------------------------- */

/* Raft membership from list-peers on the active pod: member[i] for each pod;
 * returns 0 when it could be read. */
static int read_members(struct ops *o, const char *active, const struct secret *token, int *member,
                        char *why, size_t cap)
{
    struct vault_call c = {.pod = active};
    struct error err = {0};
    const char *args[] = {o->vc->cli, "operator", "raft", "list-peers", "-format=json", NULL};
    int rc = -1;
    struct vault_peers peers = {0};
    if (vault_run_cli(o->kube, o->vc, &c, token, args, "list-peers", NULL, &err) < 0) {
        snprintf(why, cap, "%.*s", (int)(cap - 1), err.msg);
    } else if (vault_parse_peers(c.out, c.out_len, &peers, &err) < 0) {
        snprintf(why, cap, "%.*s", (int)(cap - 1), err.msg);
    } else {
        for (size_t i = 0; i < o->vc->npods; i++)
            member[i] = 0;
        for (size_t k = 0; k < peers.n; k++) {
            struct vault_pod *p = cluster_pod_for_address(o->vc, peers.items[k].address);
            if (p != NULL)
                member[p - o->vc->pods] = 1;
        }
        vault_peers_clear(&peers);
        rc = 0;
    }
    vault_call_clear(&c);
    return rc;
}

/* One look: done when the restore shows (a newer raft index, or nodes that
 * sealed themselves) and there is an active node with every running pod
 * unsealed and a raft member; failed when every pod stays sealed (only the
 * user's keys can change that). */
static enum wait_poll check_restored(void *ctx, char *text, size_t cap, struct error *err)
{
    struct snapstream_after *a = ctx;
    struct ops *o = a->o;
    if (ops_refresh(o, &a->views, err) < 0)
        return WAIT_FAILED;
    size_t npods = o->vc->npods;
    if (npods + 1 > a->member_cap) {
        int *m = realloc(a->member, (npods + 1) * sizeof *m);
        if (m == NULL)
            return error_set(err, ERR_GENERIC, "out of memory"), WAIT_FAILED;
        a->member = m;
        a->member_cap = npods + 1;
    }
    long ai = vault_active_index(a->views, o->vc->npods);
    const char *active = ai >= 0 ? o->vc->pods[ai].name : NULL;
    int running = 0, sealed = 0;
    long long max_index = 0;
    for (size_t i = 0; i < npods; i++) {
        const struct pod_view *v = &a->views[i];
        if (!o->vc->pods[i].running)
            continue;
        running++;
        sealed += v->have_status && v->st.sealed;
        if (v->have_status && !v->st.sealed && v->st.raft_applied_index > max_index)
            max_index = v->st.raft_applied_index;
    }
    /* The apply is asynchronous: until it shows, an "all fine" would be the old state. */
    if (!a->applied && (max_index > a->index_before || sealed > 0 || wait_now_s() - a->start > 10))
        a->applied = 1;
    a->all_sealed_rounds = running > 0 && sealed == running ? a->all_sealed_rounds + 1 : 0;
    a->have_members = 0;
    a->members_why[0] = '\0';
    if (active != NULL && a->token != NULL)
        a->have_members = read_members(o, active, a->token, a->member, a->members_why,
                                       sizeof a->members_why) == 0;
    int done = a->applied && active != NULL;
    for (size_t i = 0; done && i < npods; i++) {
        const struct pod_view *v = &a->views[i];
        if (o->vc->pods[i].running &&
            (!v->have_status || v->st.sealed || (a->have_members && !a->member[i])))
            done = 0;
    }
    if (done) {
        snprintf(text, cap, "every pod is unsealed%s", a->have_members ? " and a raft member" : "");
        return WAIT_DONE;
    }
    if (a->applied && a->all_sealed_rounds >= 3) {
        error_set(err, ERR_REMOTE,
                  "every pod sealed itself after the restore: it needs the unseal "
                  "keys");
        return WAIT_FAILED;
    }
    snprintf(text, cap, "%s; %d of %d running pods sealed",
             !a->applied ? "the restore is being applied"
             : active    ? "active node up"
                         : "no active node yet",
             sealed, running);
    return WAIT_PENDING;
}

int snapstream_wait_restored(struct ops *o, const struct secret *token, long long index_before,
                             struct snapstream_after *a, struct error *err)
{
    memset(a, 0, sizeof *a);
    a->o = o;
    a->token = token;
    a->index_before = index_before;
    a->start = wait_now_s();
    struct waiter w = ops_waiter(o, 1000);
    int rc = wait_for(&w, "every pod to be unsealed and a raft member again", check_restored, a,
                      NULL, 0, err);
    return rc < 0 ? -1 : 0;
}

void snapstream_after_clear(const struct ops *o, struct snapstream_after *a)
{
    if (a->views != NULL)
        vault_views_clear(a->views, o->vc->npods);
    free(a->views);
    free(a->member);
    a->views = NULL;
    a->member = NULL;
    a->member_cap = 0;
}
