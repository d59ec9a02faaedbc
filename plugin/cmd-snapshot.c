/* snapshot save|verify|restore: Raft snapshots streamed over exec, never
 * through a file in the pod on the save side and never half-written locally
 * (facts/vault.md §5, facts/kubernetes.md §1.5).
 *
 * save: `vault operator raft snapshot save /dev/stdout` in the active pod (or
 *   --pod), the token on the first stdin line. In the pod the stream is
 *   counted on its way out (by dd, or by tee into `wc -c` where dd does not
 *   report bytes); the count comes back on stderr after the stream ends, with
 *   vault's exit status:
 *     vault-ha-exit N / vault-ha-bytes N
 *   so a stream whose tail got lost (kubectl exec and kubectl cp are known to
 *   do that silently) is caught by the count, not only by the archive check.
 *   (No SHA-256 in the pod: the archive's gzip CRC-32 and SHA256SUMS already
 *   cover the content, and hashing costs the pod ~3 s of CPU per GiB.) Locally the bytes go into a
 * temporary file beside FILE (O_EXCL, 0600) while lib/snapshot verifies them as they arrive; only a
 * stream that is complete, matches what the pod sent and verifies is fsync'd and renamed over FILE
 * (then the directory is fsync'd). Any failure or Ctrl-C removes the temporary file; an existing
 * FILE stays as it was. verify: the same archive checks on a local file. restore: verifies FILE,
 * asks (naming the cluster), then streams it to the ACTIVE pod's `snapshot restore /dev/stdin`,
 * ending stdin with v5's CLOSE. A v4 API server cannot end stdin: there the pod copies exactly N
 * bytes into a 0600 temporary file with `head -c N`, checks the count, restores from that file and
 * removes it. Then every pod is polled until an active node exists and each pod is unsealed and a
 * raft member, with per-pod advice when one is not; the status screen ends the command. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster.h"
#include "cmd.h"
#include "filesink.h"
#include "kexec.h"
#include "kube.h"
#include "kubeconfig.h"
#include "ops.h"
#include "output.h"
#include "secret.h"
#include "snapshot-dr.h"
#include "snapshot.h"
#include "vault.h"
#include "wait.h"

#define IDLE_TIMEOUT_MS (10L * 60 * 1000) /* nothing sent or received for this long */
#define POD_TEXT_MAX    (16u << 10)       /* stderr text kept for messages */
#define MARK            "vault-ha-"
#define SAVE_CHUNK      (256u << 10) /* the stream is written in pieces this large */
#define WRITEBACK_STEP  (8ull << 20)

/* --- signals ------------------------------------------------------------------------------ */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct signals {
    struct sigaction old_int, old_term, old_hup, old_pipe;
};

/* Ctrl-C, SIGTERM and SIGHUP end the stream (kexec's cancel flag) so that the
 * temporary file is removed; SIGPIPE is ignored so a closed stdout is an error. */
static void signals_catch(struct signals *s)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &s->old_int);
    sigaction(SIGTERM, &sa, &s->old_term);
    sigaction(SIGHUP, &sa, &s->old_hup);
    struct sigaction ign = {0};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &s->old_pipe);
}

static void signals_restore(const struct signals *s)
{
    sigaction(SIGINT, &s->old_int, NULL);
    sigaction(SIGTERM, &s->old_term, NULL);
    sigaction(SIGHUP, &s->old_hup, NULL);
    sigaction(SIGPIPE, &s->old_pipe, NULL);
}

/* --- small helpers ------------------------------------------------------------------------- */

static void human(char *buf, size_t cap, unsigned long long bytes)
{
    output_size(buf, cap, (uint64_t)bytes);
}

/* Progress on a terminal only: bytes, percentage when the total is known, rate.
 * Written to the real stderr (ctx->err_raw): our own text and \r / erase-line
 * sequences only, never remote text. */
struct progress {
    FILE *f;
    int on;
    const char *what;
    unsigned long long total;
    double start, last;
};

static void progress_init(struct progress *p, FILE *f, const char *what, unsigned long long total)
{
    p->f = f;
    p->on = isatty(fileno(f));
    p->what = what;
    p->total = total;
    p->start = wait_now_s();
    p->last = 0;
}

static void progress_update(struct progress *p, unsigned long long done, int force)
{
    if (!p->on)
        return;
    double t = wait_now_s();
    if (!force && t - p->last < 0.2)
        return;
    p->last = t;
    char a[32], r[32], tot[32];
    human(a, sizeof a, done);
    double el = t - p->start;
    human(r, sizeof r, el > 0.05 ? (unsigned long long)((double)done / el) : 0);
    if (p->total > 0) {
        human(tot, sizeof tot, p->total);
        fprintf(p->f, "\r%s %s of %s (%llu%%), %s/s\033[K", p->what, a, tot, done * 100 / p->total,
                r);
    } else {
        fprintf(p->f, "\r%s %s, %s/s\033[K", p->what, a, r);
    }
    fflush(p->f);
}

static void progress_end(struct progress *p)
{
    if (p->on) {
        fputs("\r\033[K", p->f);
        fflush(p->f);
    }
}

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

static const char *token_var(const struct vault_cluster *vc)
{
    return strcmp(vc->cli, "bao") == 0 ? "BAO_TOKEN" : "VAULT_TOKEN";
}

/* --- what the pod says on stderr ------------------------------------------------------------ */

/* Splits the pod's stderr into our marker lines and the rest (Vault's
 * messages, bounded). */
struct pod_stderr {
    char text[POD_TEXT_MAX];
    size_t len;
    char line[256];
    size_t line_len;
    int long_line; /* the current line outgrew line[]: not a marker */
    int have_exit, exit_code;
    int have_bytes;
    unsigned long long bytes;
    int have_received;
    unsigned long long received;
};

static void text_add(struct pod_stderr *s, const char *d, size_t n)
{
    size_t room = sizeof s->text - 1 - s->len;
    if (n > room)
        n = room;
    memcpy(s->text + s->len, d, n);
    s->len += n;
    s->text[s->len] = '\0';
}

static int parse_count(const char *p, unsigned long long *out)
{
    char *end;
    errno = 0;
    while (*p == ' ' || *p == '\t')
        p++;
    unsigned long long n = strtoull(p, &end, 10);
    if (errno != 0 || end == p || *p == '-')
        return -1;
    while (*end == ' ' || *end == '\t' || *end == '\r')
        end++;
    if (*end != '\0')
        return -1;
    *out = n;
    return 0;
}

static void marker_line(struct pod_stderr *s)
{
    s->line[s->line_len] = '\0';
    const char *l = s->line;
    unsigned long long n;
    if (strncmp(l, MARK "exit ", 14) == 0 && parse_count(l + 14, &n) == 0 && n < 256) {
        s->have_exit = 1;
        s->exit_code = (int)n;
    } else if (strncmp(l, MARK "bytes ", 15) == 0 && parse_count(l + 15, &n) == 0) {
        s->have_bytes = 1;
        s->bytes = n;
    } else if (strncmp(l, MARK "received ", 18) == 0 && parse_count(l + 18, &n) == 0) {
        s->have_received = 1;
        s->received = n;
    } else {
        text_add(s, l, s->line_len);
        text_add(s, "\n", 1);
    }
    s->line_len = 0;
}

static int pod_stderr_write(void *ctx, const void *data, size_t len, struct error *err)
{
    (void)err;
    struct pod_stderr *s = ctx;
    const char *d = data;
    for (size_t i = 0; i < len; i++) {
        char c = d[i];
        if (s->long_line) {
            text_add(s, &c, 1);
            if (c == '\n')
                s->long_line = 0;
            continue;
        }
        if (c == '\n') {
            marker_line(s);
            continue;
        }
        if (s->line_len + 1 >= sizeof s->line) {
            text_add(s, s->line, s->line_len);
            text_add(s, &c, 1);
            s->line_len = 0;
            s->long_line = 1;
            continue;
        }
        s->line[s->line_len++] = c;
    }
    return 0;
}

static void pod_stderr_finish(struct pod_stderr *s)
{
    if (s->line_len > 0)
        marker_line(s);
}

/* Vault's error from the pod's stderr, for messages. */
static void pod_why(const struct pod_stderr *s, char *buf, size_t cap)
{
    vault_error_summary(s->text, buf, cap);
    if (buf[0] == '\0')
        snprintf(buf, cap, "no error message");
}

/* --- choosing the pod ---------------------------------------------------------------------- */

static const char *active_pod(const struct ops *o, const struct pod_view *views, size_t *idx)
{
    for (size_t i = 0; i < o->vc->npods; i++)
        if (views[i].have_status && !views[i].st.sealed && views[i].st.is_self) {
            if (idx != NULL)
                *idx = i;
            return o->vc->pods[i].name;
        }
    return NULL;
}

/* The pod to run in: --pod (checked) or the active one. Returns its index, or
 * -1 after reporting. */
static long pick_pod(struct cmd_context *ctx, struct ops *o, struct pod_view **viewsp,
                     const char *want, int restore)
{
    size_t ai = 0;
    const char *active = active_pod(o, *viewsp, &ai);
    if (want == NULL) {
        if (active != NULL)
            return (long)ai;
        /* No active node yet: a leader election may be under way. */
        char name[256];
        if (cmd_need_active(ctx, o, viewsp, name, sizeof name) != 0)
            return -1;
        struct vault_pod *p = cluster_find_pod(o->vc, name);
        return p != NULL ? (long)(p - o->vc->pods) : -1;
    }
    const struct pod_view *views = *viewsp;
    struct vault_pod *p = cluster_find_pod(o->vc, want);
    if (p == NULL) {
        fprintf(ctx->err, "%s: no pod \"%s\" in StatefulSet %s/%s\n", ctx->prog, want,
                o->vc->namespace, o->vc->name);
        return -1;
    }
    size_t i = (size_t)(p - o->vc->pods);
    const struct pod_view *v = &views[i];
    if (!p->running) {
        fprintf(ctx->err, "%s: %s is not running (%s%s%s)\n", ctx->prog, p->name, p->phase,
                p->reason ? ": " : "", p->reason ? p->reason : "");
        return -1;
    }
    if (!v->have_status) {
        fprintf(ctx->err, "%s: %s did not answer vault status: %s\n", ctx->prog, p->name,
                v->status_error ? v->status_error : "no answer");
        return -1;
    }
    if (!v->st.initialized) {
        fprintf(ctx->err, "%s: %s is not initialized: there is nothing to %s\n", ctx->prog, p->name,
                restore ? "restore into" : "save");
        return -1;
    }
    if (v->st.sealed) {
        fprintf(ctx->err, "%s: %s is sealed: unseal it first (`%s unseal %s`)\n", ctx->prog,
                p->name, ctx->prog, p->name);
        return -1;
    }
    if (!v->st.is_self) {
        if (restore) {
            fprintf(ctx->err,
                    "%s: %s is a standby; a restore must run on the active pod (%s): a standby "
                    "answers with a 307 redirect, and the Vault CLI follows it by resending a "
                    "request body it has already consumed, so the restore fails. Leave out --pod "
                    "to use the active pod.\n",
                    ctx->prog, p->name, active ? active : "none right now");
            return -1;
        }
        fprintf(ctx->err,
                "%s is a standby: Vault redirects the snapshot request to the active node%s%s%s.\n",
                p->name, active ? " (" : "", active ? active : "", active ? ")" : "");
    }
    return (long)i;
}

/* --- save ---------------------------------------------------------------------------------- */

struct save_sink {
    int fd;
    struct filesink file;            /* fd; O_DIRECT for the temporary file */
    int writeback;                   /* a file of ours: start its writeback as we go */
    unsigned long long written_back; /* bytes handed to writeback so far */
    const char *shown;               /* "stdout" or the file name, for messages */
    struct snapshot_verifier *v;
    struct snapmeta_hash *hash; /* of the file, for its metadata */
    unsigned long long bytes;
    struct progress *prog;
    int failed; /* our own error ended the stream: see why */
    struct error why;
};

static int save_write(void *ctx, const void *data, size_t len, struct error *err)
{
    struct save_sink *s = ctx;
    if (filesink_write(&s->file, data, len, &s->why) < 0) {
        error_wrap(&s->why, "writing %s", s->shown);
        s->why.kind = ERR_CONFIG;
        goto failed;
    }
    s->bytes += len;
    /* The file is fsynced before the rename: writing it back while the stream
     * runs leaves that fsync little to wait for. A hint: failures show at fsync. */
    if (s->writeback && s->bytes - s->written_back >= WRITEBACK_STEP) {
        sync_file_range(s->fd, (off_t)s->written_back, (off_t)(s->bytes - s->written_back),
                        SYNC_FILE_RANGE_WRITE);
        s->written_back = s->bytes;
    }
    if (snapshot_verifier_feed(s->v, data, len, &s->why) < 0) {
        error_wrap(&s->why, "the snapshot stream is not a valid snapshot after %llu bytes",
                   s->bytes);
        goto failed;
    }
    if (s->hash != NULL)
        snapmeta_hash_update(s->hash, data, len);
    progress_update(s->prog, s->bytes, 0);
    return 0;
failed:
    s->failed = 1;
    *err = s->why;
    return -1;
}

/* "dir/.name.vault-ha-XXXXXX" beside path. */
static int temp_beside(const char *path, char *tmpl, size_t cap)
{
    const char *slash = strrchr(path, '/');
    int n;
    if (slash == NULL)
        n = snprintf(tmpl, cap, ".%s.vault-ha-XXXXXX", path);
    else
        n = snprintf(tmpl, cap, "%.*s/.%s.vault-ha-XXXXXX", (int)(slash - path + 0), path,
                     slash + 1);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static void print_save_report(struct cmd_context *ctx, const char *file, const char *pod,
                              const struct snapshot_info *info, double secs)
{
    FILE *f = strcmp(file, "-") == 0 ? ctx->err : ctx->out;
    char size[32], rate[32];
    human(size, sizeof size, info->compressed_bytes);
    human(rate, sizeof rate, secs > 0 ? (unsigned long long)(info->compressed_bytes / secs) : 0);
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        json_t *doc = json_pack(
            "{s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:f}", "file", strcmp(file, "-") == 0 ? "-" : file,
            "pod", pod, "bytes", (json_int_t)info->compressed_bytes, "id", info->id, "index",
            (json_int_t)info->index, "term", (json_int_t)info->term, "stateBytes",
            (json_int_t)info->member_size[SNAPSHOT_STATE], "seconds", secs);
        struct error err = {0};
        char *s = ctx->g->output == OUTPUT_JSON ? output_json(doc) : output_yaml(doc, &err);
        if (s != NULL)
            fputs(s, f);
        free(s);
        json_decref(doc);
        return;
    }
    fprintf(f,
            "Saved snapshot %s from %s: %s (%llu bytes), raft index %llu, term %llu, in %.1fs "
            "(%s/s); verified: gzip, tar members, SHA256SUMS.\n",
            strcmp(file, "-") == 0 ? "to stdout" : file, pod, size, info->compressed_bytes,
            info->index, info->term, secs, rate);
}

/* Vault's answers when the node we asked is not (or no longer) the active one. */
static int lost_leadership(const char *why)
{
    return strstr(why, "no active Vault instance") != NULL ||
           strstr(why, "local node not active") != NULL || strstr(why, "Vault is sealed") != NULL ||
           strstr(why, "active cluster node not found") != NULL;
}

/* Before a second attempt: the new active pod, and a fresh verifier, pod
 * stderr, token line and (empty) output. Returns 0, or -1 after reporting. */
static int restart_on_new_leader(struct cmd_context *ctx, struct ops *o, struct pod_view **views,
                                 long *pi, struct snapshot_verifier **v, struct pod_stderr *pe,
                                 const struct secret *token, struct secret *line, int fd,
                                 int to_stdout)
{
    struct error err = {0};
    char active[256];
    if (ops_refresh(o, views, &err) < 0) {
        cmd_report(ctx, &err);
        return -1;
    }
    if (cmd_need_active(ctx, o, views, active, sizeof active) != 0)
        return -1;
    struct vault_pod *p = cluster_find_pod(o->vc, active);
    if (p == NULL)
        return -1;
    *pi = (long)(p - o->vc->pods);
    snapshot_verifier_free(*v);
    memset(pe, 0, sizeof *pe);
    secret_free(line);
    if ((*v = snapshot_verifier_new(&err)) == NULL || token_line(token, line, &err) < 0) {
        cmd_report(ctx, &err);
        return -1;
    }
    if (!to_stdout && (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)) {
        fprintf(ctx->err, "%s: cannot reuse the temporary file: %s\n", ctx->prog, strerror(errno));
        return -1;
    }
    fprintf(ctx->err, "Starting again on %s.\n", active);
    return 0;
}

static int snapshot_save(struct cmd_context *ctx, const struct cmd_args *args, const char *file)
{
    int to_stdout = strcmp(file, "-") == 0;
    struct stat st;
    if (to_stdout && isatty(STDOUT_FILENO)) {
        fprintf(ctx->err,
                "%s: refusing to write a binary snapshot to a terminal: redirect stdout or give "
                "a FILE\n",
                ctx->prog);
        return EXIT_USAGE;
    }
    if (!to_stdout && stat(file, &st) == 0 && !S_ISREG(st.st_mode)) {
        fprintf(ctx->err, "%s: %s exists and is not a regular file\n", ctx->prog, file);
        return EXIT_USAGE;
    }
    if (cmd_connect(ctx) < 0)
        return EXIT_ERROR;
    struct ops o;
    struct pod_view *views = NULL;
    if (cmd_open_cluster(ctx, &o, &views) < 0)
        return EXIT_ERROR;
    int rc = EXIT_ERROR;
    struct secret token = {0}, line = {0};
    struct snapshot_verifier *v = NULL;
    struct snapmeta_hash *hash = NULL;
    struct snapshot_info *info = calloc(1, sizeof *info);
    struct pod_stderr *pe = calloc(1, sizeof *pe);
    char tmp[4096] = "";
    int fd = -1, have_tmp = 0;
    struct signals sig;
    int caught = 0;
    struct error err = {0};
    if (info == NULL || pe == NULL)
        goto out;

    long pi = pick_pod(ctx, &o, &views, cmd_opt_str(args, "pod"), 0);
    if (pi < 0)
        goto out;
    const char *pod = o.vc->pods[pi].name;
    int standby = !views[pi].st.is_self;
    int got = cmd_get_token(ctx, args, o.vc, 1, 1, &token);
    if (got < 0) {
        rc = -got;
        goto out;
    }
    if (token_line(&token, &line, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    if ((v = snapshot_verifier_new(&err)) == NULL) {
        cmd_report(ctx, &err);
        goto out;
    }

    signals_catch(&sig);
    caught = 1;
    if (to_stdout) {
        fd = STDOUT_FILENO;
    } else {
        if (temp_beside(file, tmp, sizeof tmp) < 0) {
            fprintf(ctx->err, "%s: file name too long: %s\n", ctx->prog, file);
            goto out;
        }
        fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT|O_EXCL, mode 0600 */
        if (fd < 0) {
            fprintf(ctx->err, "%s: cannot create a temporary file beside %s: %s\n", ctx->prog, file,
                    strerror(errno));
            goto out;
        }
        have_tmp = 1;
        fchmod(fd, 0600);
    }

    /* In the pod, the bytes vault sends are counted on their way to stdout, and
     * the count and vault's exit status follow on stderr. POSIX sh only, no
     * bash: with a dd that reports bytes copied (coreutils; busybox built with
     * its third status line), dd bs=64k passes the stream on in large blocks and
     * counts it; otherwise tee copies it to wc -c, which costs the pod two more
     * copies of the stream in small blocks. The probe tells which dd this is. */
    char script[1400];
    snprintf(script, sizeof script,
             "IFS= read -r %s && export %s && exec 3>&1 && set -f && "
             "case $(LC_ALL=C dd if=/dev/null of=/dev/null 2>&1) in "
             "*' bytes '*) "
             "n=$({ \"$0\" \"$@\"; echo \"" MARK
             "exit $?\" >&2; } | LC_ALL=C dd bs=65536 2>&1 >&3); "
             "set -- $n; while [ $# -gt 1 ] && [ \"$2\" != bytes ]; do shift; done; "
             "if [ $# -gt 1 ]; then echo \"" MARK "bytes $1\" >&2; else echo \"$n\" >&2; fi;; "
             "*) { { \"$0\" \"$@\"; echo \"" MARK "exit $?\" >&2; } "
             "| tee /dev/fd/3 "
             "| { n=$(wc -c) && echo \"" MARK "bytes $n\" >&2; }; };; "
             "esac",
             token_var(o.vc), token_var(o.vc));
    const char *argv[] = {"sh",   "-c",       script, o.vc->cli,     "operator",
                          "raft", "snapshot", "save", "/dev/stdout", NULL};
    int attempts = 0;
stream:
    snapmeta_hash_free(hash);
    if ((hash = snapmeta_hash_new(&err)) == NULL) {
        cmd_report(ctx, &err);
        goto out;
    }
    struct progress prog;
    progress_init(&prog, ctx->err_raw, "Saving snapshot:", 0);
    struct save_sink sink = {.fd = fd,
                             .writeback = !to_stdout,
                             .shown = to_stdout ? "stdout" : tmp,
                             .v = v,
                             .hash = hash,
                             .prog = &prog};
    filesink_open(&sink.file, fd, 1); /* stdout too: a redirect to a file gains */
    struct kexec_request req = {
        .namespace = o.vc->namespace,
        .pod = pod,
        .container = o.vc->container,
        .argv = argv,
        .in = {.kind = KEXEC_STDIN_MEMORY, .data = line.data, .len = line.len},
        .out = save_write,
        .out_ctx = &sink,
        .out_coalesce = SAVE_CHUNK,
        .err = pod_stderr_write,
        .err_ctx = pe,
        .handshake_timeout_ms = ctx->g->request_timeout_ms > 0 ? ctx->g->request_timeout_ms : -1,
        .idle_timeout_ms = IDLE_TIMEOUT_MS,
        .cancel = &interrupted,
    };
    struct kexec_result res = {0};
    double t0 = wait_now_s();
    kexec_run(ctx->kube, &req, &res, NULL);
    filesink_close(&sink.file);
    double secs = wait_now_s() - t0;
    progress_end(&prog);
    pod_stderr_finish(pe);
    secret_free(&line);
    char why[1024];
    char got_s[32];
    human(got_s, sizeof got_s, sink.bytes);
    const char *kept = to_stdout ? "the output on stdout is incomplete" : "nothing was saved";

    if (interrupted) {
        fprintf(ctx->err, "%s: interrupted after %s: %s\n", ctx->prog, got_s, kept);
        rc = EXIT_INTERRUPTED;
        goto out;
    }
    if (sink.failed) {
        fprintf(ctx->err, "%s: %s: %s\n", ctx->prog, sink.why.msg, kept);
        goto out;
    }
    if (res.rc < 0) {
        if (pe->have_exit && pe->exit_code != 0) {
            pod_why(pe, why, sizeof why);
            fprintf(ctx->err, "%s: snapshot save on %s failed: %s; %s\n", ctx->prog, pod, why,
                    kept);
        } else {
            fprintf(ctx->err, "%s: %s; %s\n", ctx->prog, res.err.msg, kept);
        }
        goto out;
    }
    if (!pe->have_exit) {
        pod_why(pe, why, sizeof why);
        fprintf(ctx->err,
                "%s: the pod %s did not report vault's exit status (shell exit %d: %s): is "
                "there a POSIX sh in the image? %s\n",
                ctx->prog, pod, res.exit_code, why, kept);
        goto out;
    }
    if (pe->exit_code != 0) {
        pod_why(pe, why, sizeof why);
        if (sink.bytes == 0 && cmd_opt_str(args, "pod") == NULL && ++attempts < 3 &&
            lost_leadership(why)) {
            /* The leader stepped down (or was lost) before the stream began: nothing
             * was written, so start again on the new active node, as clients do. */
            fprintf(ctx->err, "%s lost the leadership before the snapshot began (%s)\n", pod, why);
            if (restart_on_new_leader(ctx, &o, &views, &pi, &v, pe, &token, &line, fd, to_stdout) <
                0)
                goto out;
            pod = o.vc->pods[pi].name;
            standby = 0;
            goto stream;
        }
        const char *hint = "";
        if (strstr(why, "permission denied") != NULL)
            hint = " (the token is wrong or lacks read on sys/storage/raft/snapshot)";
        else if (standby)
            hint = " (a standby redirects snapshot requests to the active node's pod IP; under "
                   "TLS its certificate must name that IP: leave out --pod to save from the "
                   "active pod)";
        fprintf(ctx->err, "%s: snapshot save on %s failed (vault exit %d): %s%s; %s\n", ctx->prog,
                pod, pe->exit_code, why, hint, kept);
        goto out;
    }
    if (!pe->have_bytes) {
        pod_why(pe, why, sizeof why);
        fprintf(ctx->err,
                "%s: %s did not report how many bytes it sent (needs dd, or tee and wc, in the "
                "image), so a lost tail cannot be ruled out%s%s; %s\n",
                ctx->prog, pod, pe->len ? ": " : "", why, kept);
        goto out;
    }
    if (pe->bytes != sink.bytes) {
        fprintf(ctx->err, "%s: the stream lost data: %s sent %llu bytes, %llu arrived; %s\n",
                ctx->prog, pod, pe->bytes, sink.bytes, kept);
        goto out;
    }
    if (snapshot_verifier_finish(v, info, &err) < 0) {
        fprintf(ctx->err, "%s: the snapshot from %s is not valid: %s; %s\n", ctx->prog, pod,
                err.msg, kept);
        goto out;
    }
    if (!to_stdout) {
        if (fsync(fd) < 0) {
            fprintf(ctx->err, "%s: fsync %s: %s; nothing was saved\n", ctx->prog, tmp,
                    strerror(errno));
            goto out;
        }
        if (close(fd) < 0) {
            fd = -1;
            fprintf(ctx->err, "%s: writing %s: %s; nothing was saved\n", ctx->prog, tmp,
                    strerror(errno));
            goto out;
        }
        fd = -1;
        if (rename(tmp, file) < 0) {
            fprintf(ctx->err, "%s: cannot rename %s to %s: %s; nothing was saved\n", ctx->prog, tmp,
                    file, strerror(errno));
            goto out;
        }
        have_tmp = 0;
        if (filesink_fsync_dir(file, &err) < 0)
            fprintf(ctx->err, "%s: warning: %s\n", ctx->prog, err.msg);
        char sha[65];
        snapmeta_hash_final(hash, sha);
        hash = NULL;
        snapdr_save_meta(ctx, file, o.vc, pod, &views[pi], info, sha, sink.bytes);
    }
    print_save_report(ctx, file, pod, info, secs);
    rc = EXIT_OK;
out:
    if (fd >= 0 && fd != STDOUT_FILENO)
        close(fd);
    if (have_tmp)
        unlink(tmp);
    if (caught)
        signals_restore(&sig);
    secret_free(&line);
    secret_free(&token);
    snapshot_verifier_free(v);
    snapmeta_hash_free(hash);
    free(info);
    free(pe);
    cmd_close_cluster(&o, views);
    return rc;
}

/* --- verify -------------------------------------------------------------------------------- */

static void on_verify_progress(void *c, unsigned long long done, unsigned long long total)
{
    struct progress *p = c;
    (void)total;
    progress_update(p, done, 0);
}

/* Verifies path (a regular file, kept open in *fdp when fdp is given). */
static int verify_local(struct cmd_context *ctx, const char *path, struct snapshot_info *info,
                        int *fdp)
{
    int fd =
        strcmp(path, "-") == 0 && fdp == NULL ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(ctx->err, "%s: cannot open %s: %s\n", ctx->prog, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fdp != NULL && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
        fprintf(ctx->err, "%s: %s is not a regular file\n", ctx->prog, path);
        close(fd);
        return -1;
    }
    struct progress prog;
    progress_init(&prog, ctx->err_raw, "Verifying:", 0);
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        prog.total = (unsigned long long)st.st_size;
    struct error err = {0};
    int rc = snapshot_verify_fd(fd, on_verify_progress, &prog, info, &err);
    progress_end(&prog);
    if (rc < 0) {
        fprintf(ctx->err, "%s: %s: %s\n", ctx->prog, fd == STDIN_FILENO ? "stdin" : path, err.msg);
        if (fd != STDIN_FILENO)
            close(fd);
        return -1;
    }
    if (fdp != NULL)
        *fdp = fd;
    else if (fd != STDIN_FILENO)
        close(fd);
    return 0;
}

int snapshot_verify_local(struct cmd_context *ctx, const char *path, struct snapshot_info *info,
                          int *fdp)
{
    return verify_local(ctx, path, info, fdp);
}

static int snapshot_verify(struct cmd_context *ctx, const char *file)
{
    struct snapshot_info *info = calloc(1, sizeof *info);
    int fd = -1, have_meta = 0;
    struct snapmeta sm;
    if (info == NULL)
        return EXIT_ERROR;
    if (verify_local(ctx, file, info, strcmp(file, "-") == 0 ? NULL : &fd) < 0 ||
        (fd >= 0 && (have_meta = snapdr_load_meta(ctx, file, fd, &sm)) < 0)) {
        if (fd >= 0)
            close(fd);
        free(info);
        return EXIT_ERROR;
    }
    if (fd >= 0)
        close(fd);
    json_t *meta = json_loadb(info->meta_json, info->meta_json_len, 0, NULL);
    if (meta == NULL)
        meta = json_object();
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        json_t *doc = json_pack(
            "{s:s, s:b, s:I, s:{s:{s:I, s:s}, s:{s:I, s:s}, s:{s:I, s:b}, s:{s:I, s:b, s:s}}, "
            "s:O}",
            "file", file, "valid", 1, "compressedBytes", (json_int_t)info->compressed_bytes,
            "members", "meta.json", "bytes", (json_int_t)info->member_size[SNAPSHOT_META], "sha256",
            info->sha256[SNAPSHOT_META], "state.bin", "bytes",
            (json_int_t)info->member_size[SNAPSHOT_STATE], "sha256", info->sha256[SNAPSHOT_STATE],
            "SHA256SUMS", "bytes", (json_int_t)info->member_size[SNAPSHOT_SUMS], "verified", 1,
            "SHA256SUMS.sealed", "bytes", (json_int_t)info->member_size[SNAPSHOT_SEALED],
            "verified", 0, "note", "needs the cluster's unseal keys; Vault checks it on restore",
            "meta", meta);
        if (have_meta)
            json_object_set_new(doc, "metadata", snapdr_meta_json(&sm));
        struct error err = {0};
        char *s = ctx->g->output == OUTPUT_JSON ? output_json(doc) : output_yaml(doc, &err);
        if (s != NULL)
            fputs(s, ctx->out);
        free(s);
        json_decref(doc);
    } else {
        char c[32], st[32];
        human(c, sizeof c, info->compressed_bytes);
        human(st, sizeof st, info->member_size[SNAPSHOT_STATE]);
        fprintf(ctx->out,
                "%s: valid Raft snapshot, %s (%llu bytes)\n"
                "  raft index %llu, term %llu, ID %s, version %lld\n"
                "  meta.json           %llu bytes, sha256 %s\n"
                "  state.bin           %s (%llu bytes), sha256 %s\n"
                "  SHA256SUMS          matches meta.json and state.bin\n"
                "  SHA256SUMS.sealed   %llu bytes, not checked: it needs the cluster's unseal "
                "keys (Vault checks it on restore)\n",
                file, c, info->compressed_bytes, info->index, info->term, info->id, info->version,
                info->member_size[SNAPSHOT_META], info->sha256[SNAPSHOT_META], st,
                info->member_size[SNAPSHOT_STATE], info->sha256[SNAPSHOT_STATE],
                info->member_size[SNAPSHOT_SEALED]);
        char *s = meta ? output_json(meta) : NULL;
        if (s != NULL)
            fprintf(ctx->out, "meta.json:\n%s", s);
        free(s);
        if (have_meta)
            snapdr_print_meta(ctx, file, &sm);
        else if (strcmp(file, "-") != 0)
            fprintf(ctx->out, "metadata: none (%s.json is missing)\n", file);
    }
    json_decref(meta);
    free(info);
    return EXIT_OK;
}

/* --- restore ------------------------------------------------------------------------------- */

struct upload {
    const struct secret *line; /* token line, sent first */
    size_t line_off;
    int fd;
    unsigned long long total, sent;
    struct progress *prog;
    const struct kexec_result *res; /* to see the negotiated protocol */
    const char *want_proto;         /* refuse to send anything on another one */
    int proto_mismatch;
    int failed;
    struct error why;
};

static ssize_t upload_read(void *ctx, void *buf, size_t cap, struct error *err)
{
    struct upload *u = ctx;
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
    if (u->sent >= u->total)
        return 0;
    size_t want = cap;
    if (want > u->total - u->sent)
        want = (size_t)(u->total - u->sent);
    ssize_t n;
    do
        n = read(u->fd, buf, want);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        u->failed = 1;
        if (n < 0)
            error_set(&u->why, ERR_CONFIG, "reading the snapshot: %s", strerror(errno));
        else
            error_set(&u->why, ERR_CONFIG,
                      "the snapshot file shrank while it was being sent (%llu of %llu bytes)",
                      u->sent, u->total);
        *err = u->why;
        return -1;
    }
    u->sent += (unsigned long long)n;
    progress_update(u->prog, u->sent, 0);
    return n;
}

/* `vault status` in one pod through kexec directly: is it still the active
 * node, and which protocol does the API server speak (v4 cannot end stdin). */
static int preflight(struct cmd_context *ctx, struct ops *o, const char *pod, const char **proto)
{
    const char *argv[] = {o->vc->cli, "status", "-format=json", NULL};
    struct kexec_buffer out = {.max = 1u << 20, .what = "stdout"},
                        errb = {.max = 64u << 10, .what = "stderr"};
    struct kexec_request req = {
        .namespace = o->vc->namespace,
        .pod = pod,
        .container = o->vc->container,
        .argv = argv,
        .out = kexec_buffer_write,
        .out_ctx = &out,
        .err = kexec_buffer_write,
        .err_ctx = &errb,
        .handshake_timeout_ms = ctx->g->request_timeout_ms > 0 ? ctx->g->request_timeout_ms : -1,
        .timeout_ms = 60000,
        .cancel = &interrupted,
    };
    struct kexec_result res = {0};
    struct error err = {0};
    int rc = -1;
    if (kexec_run(ctx->kube, &req, &res, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    *proto = res.protocol;
    struct vault_status st = {0};
    if (vault_parse_status(out.data, out.len, res.exit_code, errb.data, &st, &err) < 0) {
        fprintf(ctx->err, "%s: %s: %s\n", ctx->prog, pod, err.msg);
        goto out;
    }
    if (st.sealed || !st.is_self)
        fprintf(ctx->err, "%s: %s is no longer the active node (%s); run the restore again\n",
                ctx->prog, pod, st.sealed ? "sealed" : "standby");
    else
        rc = 0;
    vault_status_clear(&st);
out:
    free(out.data);
    free(errb.data);
    return rc;
}

/* Runs the restore in pod: streams (v5) or copies then restores (v4). Fills
 * pe and returns 0 when the command ran, -1 after reporting. */
static int run_restore(struct cmd_context *ctx, struct ops *o, const char *pod, int v4, int force,
                       int fd, unsigned long long size, const struct secret *line,
                       struct pod_stderr *pe, int *exit_code, int *fell_back)
{
    char script[1024], count[32];
    const char *argv[16];
    size_t n = 0;
    const char *var = token_var(o->vc);
    snprintf(count, sizeof count, "%llu", size);
    if (!v4) {
        snprintf(script, sizeof script, "IFS= read -r %s && export %s && exec \"$0\" \"$@\"", var,
                 var);
        argv[n++] = "sh";
        argv[n++] = "-c";
        argv[n++] = script;
        argv[n++] = o->vc->cli;
    } else {
        /* A length-bounded copy into a private temporary file, its size
         * checked, then the restore from it; the file goes on every exit. */
        snprintf(script, sizeof script,
                 "IFS= read -r %s && export %s && n=$1 && shift && umask 077 && "
                 "f=$(mktemp \"${TMPDIR:-/tmp}/vault-ha-restore.XXXXXX\") && "
                 "trap 'rm -f \"$f\"' EXIT && trap 'exit 129' HUP && trap 'exit 130' INT && "
                 "trap 'exit 143' TERM && head -c \"$n\" > \"$f\" && "
                 "got=$(($(wc -c < \"$f\"))) && echo \"" MARK "received $got\" >&2 && "
                 "[ \"$got\" -eq \"$n\" ] && \"$0\" \"$@\" \"$f\"",
                 var, var);
        argv[n++] = "sh";
        argv[n++] = "-c";
        argv[n++] = script;
        argv[n++] = o->vc->cli;
        argv[n++] = count;
    }
    argv[n++] = "operator";
    argv[n++] = "raft";
    argv[n++] = "snapshot";
    argv[n++] = "restore";
    if (force)
        argv[n++] = "-force";
    if (!v4)
        argv[n++] = "/dev/stdin";
    argv[n] = NULL;

    if (lseek(fd, 0, SEEK_SET) < 0) {
        fprintf(ctx->err, "%s: cannot rewind the snapshot file: %s\n", ctx->prog, strerror(errno));
        return -1;
    }
    struct progress prog;
    progress_init(&prog, ctx->err_raw,
                  v4 ? "Copying snapshot into the pod:" : "Restoring snapshot:", size);
    struct kexec_result res = {0};
    struct upload up = {.line = line,
                        .fd = fd,
                        .total = size,
                        .prog = &prog,
                        .res = &res,
                        .want_proto = v4 ? NULL : KEXEC_PROTO_V5};
    struct kexec_request req = {
        .namespace = o->vc->namespace,
        .pod = pod,
        .container = o->vc->container,
        .argv = argv,
        .in = {.kind = KEXEC_STDIN_CALLBACK, .read = upload_read, .ctx = &up},
        .err = pod_stderr_write,
        .err_ctx = pe,
        .handshake_timeout_ms = ctx->g->request_timeout_ms > 0 ? ctx->g->request_timeout_ms : -1,
        .idle_timeout_ms = IDLE_TIMEOUT_MS,
        .cancel = &interrupted,
    };
    memset(pe, 0, sizeof *pe);
    kexec_run(ctx->kube, &req, &res, NULL);
    progress_end(&prog);
    pod_stderr_finish(pe);
    if (up.proto_mismatch) {
        /* Nothing was sent: this connection went to a v4 server after all. */
        *fell_back = 1;
        return run_restore(ctx, o, pod, 1, force, fd, size, line, pe, exit_code, fell_back);
    }
    if (interrupted) {
        if (up.sent < size)
            fprintf(ctx->err,
                    "%s: interrupted after sending %llu of %llu bytes: the restore was abandoned "
                    "(Vault rejects an incomplete snapshot)%s\n",
                    ctx->prog, up.sent, size,
                    v4 ? "; the partial copy in the pod is removed when its stdin closes" : "");
        else
            fprintf(ctx->err,
                    "%s: interrupted after the whole snapshot was sent: Vault may still apply "
                    "it; check with `%s status`\n",
                    ctx->prog, ctx->prog);
        return -1;
    }
    if (up.failed) {
        fprintf(ctx->err, "%s: %s; the restore was abandoned\n", ctx->prog, up.why.msg);
        return -1;
    }
    if (res.rc < 0) {
        fprintf(ctx->err, "%s: %s (%llu of %llu bytes sent)\n", ctx->prog, res.err.msg, up.sent,
                size);
        return -1;
    }
    *exit_code = res.exit_code;
    return 0;
}

int snapshot_send(struct cmd_context *ctx, struct ops *o, const char *pod, int force, int fd,
                  unsigned long long size, const struct secret *token, struct error *err)
{
    struct pod_stderr *pe = calloc(1, sizeof *pe);
    struct secret line = {0};
    const char *proto = NULL;
    int rc = -1, exit_code = -1, fell_back = 0;
    if (pe == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    if (preflight(ctx, o, pod, &proto) < 0) {
        error_set(err, ERR_REMOTE, "%s cannot take the restore (see above)", pod);
        goto out;
    }
    int v4 = proto == NULL || strcmp(proto, KEXEC_PROTO_V5) != 0;
    if (token_line(token, &line, err) < 0)
        goto out;
    if (run_restore(ctx, o, pod, v4, force, fd, size, &line, pe, &exit_code, &fell_back) < 0) {
        error_set(err, interrupted ? ERR_INTERRUPTED : ERR_GENERIC,
                  "the snapshot did not reach %s (see above)", pod);
        goto out;
    }
    if (exit_code != 0) {
        char why[1024];
        pod_why(pe, why, sizeof why);
        error_set(err, ERR_REMOTE, "snapshot restore on %s failed (exit %d): %s", pod, exit_code,
                  why);
        goto out;
    }
    rc = 0;
out:
    secret_free(&line);
    free(pe);
    return rc;
}

/* Raft membership from list-peers on the active pod: member[i] for each pod;
 * returns 0 when it could be read. */
static int read_members(struct ops *o, const char *active, const struct secret *token, int *member,
                        char *why, size_t cap)
{
    struct vault_call c = {.pod = active};
    struct secret buf = {0};
    struct error err = {0};
    const char *args[] = {o->vc->cli, "operator", "raft", "list-peers", "-format=json", NULL};
    if (vault_call_with_token(&c, o->vc, token, args, &buf, &err) < 0) {
        snprintf(why, cap, "%.*s", (int)(cap - 1), err.msg);
        return -1;
    }
    vault_call_run(o->kube, o->vc, &c, 1);
    secret_free(&buf);
    int rc = -1;
    struct vault_peers peers = {0};
    if (!c.ran) {
        snprintf(why, cap, "%.*s", (int)(cap - 1), c.error.msg);
    } else if (c.exit_code != 0) {
        vault_error_summary(c.err_out, why, cap);
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

/* After a restore: what the last look at every pod found. */
struct restore_wait {
    struct ops *o;
    const struct secret *token;
    long long index_before;
    double start;
    struct pod_view *views;
    int *member;
    size_t member_cap;
    int have_members;
    char members_why[512];
    int applied, all_sealed_rounds;
};

/* One look: done when the restore shows (a newer raft index, or nodes that
 * sealed themselves) and there is an active node with every running pod
 * unsealed and a raft member; failed when every pod stays sealed (only the
 * user's keys can change that). */
static enum wait_poll check_restored(void *ctx, char *text, size_t cap, struct error *err)
{
    struct restore_wait *rw = ctx;
    struct ops *o = rw->o;
    if (ops_refresh(o, &rw->views, err) < 0)
        return WAIT_FAILED;
    size_t npods = o->vc->npods;
    if (npods + 1 > rw->member_cap) {
        int *m = realloc(rw->member, (npods + 1) * sizeof *m);
        if (m == NULL)
            return error_set(err, ERR_GENERIC, "out of memory"), WAIT_FAILED;
        rw->member = m;
        rw->member_cap = npods + 1;
    }
    const char *active = active_pod(o, rw->views, NULL);
    int running = 0, sealed = 0;
    long long max_index = 0;
    for (size_t i = 0; i < npods; i++) {
        const struct pod_view *v = &rw->views[i];
        if (!o->vc->pods[i].running)
            continue;
        running++;
        sealed += v->have_status && v->st.sealed;
        if (v->have_status && !v->st.sealed && v->st.raft_applied_index > max_index)
            max_index = v->st.raft_applied_index;
    }
    /* The apply is asynchronous: until it shows, an "all fine" would be the old state. */
    if (!rw->applied &&
        (max_index > rw->index_before || sealed > 0 || wait_now_s() - rw->start > 10))
        rw->applied = 1;
    rw->all_sealed_rounds = running > 0 && sealed == running ? rw->all_sealed_rounds + 1 : 0;
    rw->have_members = 0;
    rw->members_why[0] = '\0';
    if (active != NULL && rw->token != NULL)
        rw->have_members = read_members(o, active, rw->token, rw->member, rw->members_why,
                                        sizeof rw->members_why) == 0;
    int done = rw->applied && active != NULL;
    for (size_t i = 0; done && i < npods; i++) {
        const struct pod_view *v = &rw->views[i];
        if (o->vc->pods[i].running &&
            (!v->have_status || v->st.sealed || (rw->have_members && !rw->member[i])))
            done = 0;
    }
    if (done) {
        snprintf(text, cap, "every pod is unsealed%s",
                 rw->have_members ? " and a raft member" : "");
        return WAIT_DONE;
    }
    if (rw->applied && rw->all_sealed_rounds >= 3) {
        error_set(err, ERR_REMOTE,
                  "every pod sealed itself after the restore: it needs the unseal "
                  "keys");
        return WAIT_FAILED;
    }
    snprintf(text, cap, "%s; %d of %d running pods sealed",
             !rw->applied ? "the restore is being applied"
             : active     ? "active node up"
                          : "no active node yet",
             sealed, running);
    return WAIT_PENDING;
}

/* Waits (--timeout) until an active node exists and each running pod is
 * unsealed and a raft member, or nothing more can change without the user
 * (all sealed). Then prints per-pod advice; returns the number of pods that
 * need something, or -1 when interrupted. */
static int wait_after_restore(struct cmd_context *ctx, struct ops *o, const struct secret *token,
                              long long index_before, int force)
{
    struct restore_wait rw = {
        .o = o, .token = token, .index_before = index_before, .start = wait_now_s()};
    struct error err = {0};
    fprintf(ctx->err, "Snapshot accepted; Vault applies it in the background.\n");
    struct waiter w = {.timeout_ms = o->timeout_ms,
                       .interval_ms = 1000,
                       .cancel = &interrupted,
                       .report = o->wait_report,
                       .report_ctx = o->report_ctx};
    int rc = wait_for(&w, "every pod to be unsealed and a raft member again", check_restored, &rw,
                      NULL, 0, &err);
    if (rc < 0 && err.kind == ERR_INTERRUPTED) {
        if (rw.views != NULL)
            vault_views_clear(rw.views, o->vc->npods);
        free(rw.views);
        free(rw.member);
        return -1;
    }
    if (rc < 0 && err.kind != ERR_REMOTE)
        cmd_report(ctx, &err);
    int need = 0;
    if (rw.views == NULL) {
        free(rw.member);
        return 1;
    }
    const char *active = active_pod(o, rw.views, NULL);
    int running = 0, sealed = 0;
    for (size_t i = 0; i < o->vc->npods; i++)
        if (o->vc->pods[i].running) {
            running++;
            sealed += rw.views[i].have_status && rw.views[i].st.sealed;
        }
    if (active == NULL) {
        fprintf(ctx->err, "No active node%s.\n",
                running > 0 && sealed == running ? ": every pod sealed itself after the restore"
                                                 : "");
        need++;
    }
    for (size_t i = 0; i < o->vc->npods; i++) {
        const struct vault_pod *p = &o->vc->pods[i];
        const struct pod_view *v = &rw.views[i];
        if (!p->running) {
            fprintf(
                ctx->err, "  %s: not running (%s%s%s): once it runs, check it with `%s status`\n",
                p->name, p->phase, p->reason ? ": " : "", p->reason ? p->reason : "", ctx->prog);
            need++;
        } else if (!v->have_status) {
            fprintf(ctx->err, "  %s: did not answer vault status (%s)\n", p->name,
                    v->status_error ? v->status_error : "no answer");
            need++;
        } else if (v->st.sealed) {
            fprintf(ctx->err,
                    "  %s: sealed: unseal it with the unseal keys of the cluster the snapshot was "
                    "taken from%s: `%s unseal %s`\n",
                    p->name, force ? " (the snapshot's keys, not the old ones)" : "", ctx->prog,
                    p->name);
            need++;
        } else if (rw.have_members && !rw.member[i]) {
            fprintf(ctx->err, "  %s: unsealed but not a raft member: rejoin it with `%s join %s`\n",
                    p->name, ctx->prog, p->name);
            need++;
        } else {
            fprintf(ctx->err, "  %s: %s, unsealed%s\n", p->name,
                    v->st.is_self ? "active" : "standby", rw.have_members ? ", raft member" : "");
        }
    }
    if (active != NULL && token != NULL && !rw.have_members)
        fprintf(ctx->err,
                "Raft membership not checked: list-peers failed (%s); after a restore the token "
                "must exist in the snapshot.\n",
                rw.members_why);
    if (rc < 0 && need == 0)
        need = 1;
    vault_views_clear(rw.views, o->vc->npods);
    free(rw.views);
    free(rw.member);
    return need;
}

static int show_status(struct cmd_context *ctx, const struct cmd_args *args)
{
    const struct cmd_entry *status = cmd_find("status");
    if (status == NULL)
        return EXIT_ERROR;
    struct cmd_args sa = {.options = status->options};
    const char *tf = cmd_opt_str(args, "token-file");
    for (int i = 0; status->options != NULL && status->options[i].long_name != NULL; i++)
        if (tf != NULL && strcmp(status->options[i].long_name, "token-file") == 0 &&
            i < CMD_OPTIONS_MAX) {
            sa.values[i] = tf;
            sa.counts[i] = 1;
        }
    fputc('\n', ctx->out);
    fflush(ctx->err);
    return status->exec(ctx, &sa);
}

static int snapshot_restore(struct cmd_context *ctx, const struct cmd_args *args, const char *file)
{
    if (strcmp(file, "-") == 0) {
        fprintf(ctx->err,
                "%s: restore needs a FILE (it is verified before anything is sent), not stdin\n",
                ctx->prog);
        return EXIT_USAGE;
    }
    struct error err = {0};
    int force = cmd_opt_flag(args, "force");
    struct snapshot_info *info = calloc(1, sizeof *info);
    struct pod_stderr *pe = calloc(1, sizeof *pe);
    int fd = -1, rc = EXIT_ERROR, caught = 0;
    struct ops o = {0};
    struct pod_view *views = NULL;
    struct secret token = {0}, line = {0};
    struct signals sig;
    struct snapdr_plain pl = {0};
    if (info == NULL || pe == NULL)
        goto out;
    if (verify_local(ctx, file, info, &fd) < 0)
        goto out;
    unsigned long long size = info->compressed_bytes;
    char hsize[32];
    human(hsize, sizeof hsize, size);
    fprintf(ctx->err, "%s: valid snapshot, %s, raft index %llu, term %llu.\n", file, hsize,
            info->index, info->term);
    if (cmd_connect(ctx) < 0)
        goto out;
    if (cmd_open_cluster(ctx, &o, &views) < 0) {
        o.vc = NULL;
        goto out;
    }
    long pi = pick_pod(ctx, &o, &views, cmd_opt_str(args, "pod"), 1);
    if (pi < 0)
        goto out;
    const char *pod = o.vc->pods[pi].name;
    long long index_before = views[pi].st.raft_applied_index;
    int got = cmd_get_token(ctx, args, o.vc, 1, 1, &token);
    if (got < 0) {
        rc = -got;
        goto out;
    }
    if ((rc = snapdr_plain_check(ctx, args, file, fd, &o, &views[pi], &pl)) != 0)
        goto out;
    rc = EXIT_ERROR;
    if (force)
        fprintf(ctx->err,
                "warning: --force skips Vault's check that the snapshot was sealed with this "
                "cluster's keys. If it comes from another cluster, after the restore this "
                "cluster's unseal keys and root token are the snapshot's: the current ones stop "
                "working and every pod must be unsealed with the snapshot's keys.\n");
    char question[1024];
    snprintf(question, sizeof question,
             "Restore %s (raft index %llu, term %llu) into Vault cluster %s/%s (StatefulSet %s, "
             "through active pod %s)? This replaces ALL of the cluster's data",
             file, info->index, info->term, o.vc->namespace, o.vc->name, o.vc->name, pod);
    if (pl.keys.n == 0 && !cmd_confirm(ctx, args, question)) { /* else confirmed by typing */
        fprintf(ctx->err, "Not restored.\n");
        goto out;
    }
    signals_catch(&sig);
    caught = 1;
    const char *proto = NULL;
    if (preflight(ctx, &o, pod, &proto) < 0)
        goto out;
    int v4 = proto == NULL || strcmp(proto, KEXEC_PROTO_V5) != 0;
    if (v4)
        fprintf(ctx->err,
                "The API server speaks %s, which cannot end stdin: the snapshot is copied into "
                "the pod (a private temporary file, removed afterwards), then restored.\n",
                proto ? proto : "an old exec protocol");
    if (token_line(&token, &line, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    int exit_code = -1, fell_back = 0;
    double t0 = wait_now_s();
    if (run_restore(ctx, &o, pod, v4, force, fd, size, &line, pe, &exit_code, &fell_back) < 0) {
        rc = interrupted ? EXIT_INTERRUPTED : EXIT_ERROR;
        goto out;
    }
    secret_free(&line);
    if (fell_back)
        fprintf(ctx->err,
                "note: this connection negotiated %s: the snapshot was copied into the "
                "pod first\n",
                KEXEC_PROTO_V4);
    if (exit_code != 0) {
        char why[1024];
        pod_why(pe, why, sizeof why);
        if ((v4 || fell_back) && pe->have_received && pe->received != size)
            fprintf(ctx->err,
                    "%s: the copy into %s is incomplete (%llu of %llu bytes arrived): nothing "
                    "was restored\n",
                    ctx->prog, pod, pe->received, size);
        else if (strstr(why, "could not verify hash file") != NULL)
            snapdr_other_cluster(ctx, file, why);
        else if (strstr(why, "permission denied") != NULL)
            fprintf(ctx->err,
                    "%s: snapshot restore on %s failed: %s (the token is wrong or lacks update "
                    "on sys/storage/raft/snapshot%s)\n",
                    ctx->prog, pod, why, force ? "-force" : "");
        else
            fprintf(ctx->err, "%s: snapshot restore on %s failed (exit %d): %s\n", ctx->prog, pod,
                    exit_code, why);
        goto out;
    }
    char el[32];
    snprintf(el, sizeof el, "%.1fs", wait_now_s() - t0);
    fprintf(ctx->err, "Sent %s to %s in %s.\n", hsize, pod, el);
    if (pl.keys.n > 0) {
        /* Another cluster's snapshot: the old token is dead, the source's keys open it. */
        secret_free(&token);
        rc = snapdr_finish_forced(ctx, args, &o, file, &pl, views[pi].st.n, views[pi].st.t);
        goto out;
    }
    int need = wait_after_restore(ctx, &o, &token, index_before, force);
    if (need < 0) {
        rc = EXIT_INTERRUPTED;
        goto out;
    }
    if (need == 0)
        fprintf(ctx->err, "Restore of %s complete: every pod is unsealed and a raft member.\n",
                file);
    rc = need == 0 ? EXIT_OK : EXIT_DEGRADED;
    if (caught) {
        signals_restore(&sig);
        caught = 0;
    }
    secret_free(&token);
    cmd_close_cluster(&o, views);
    views = NULL;
    o.vc = NULL;
    {
        int src = show_status(ctx, args);
        if (src > rc)
            rc = src;
    }
out:
    if (caught)
        signals_restore(&sig);
    if (fd >= 0)
        close(fd);
    secret_free(&line);
    secret_free(&token);
    if (o.vc != NULL)
        cmd_close_cluster(&o, views);
    snapdr_plain_clear(&pl);
    free(info);
    free(pe);
    return rc;
}

/* --- the command --------------------------------------------------------------------------- */

static int cmd_snapshot_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    const char *sub = args->argc > 0 ? args->argv[0] : NULL;
    if (sub == NULL || args->argc != 2 ||
        (strcmp(sub, "save") != 0 && strcmp(sub, "verify") != 0 && strcmp(sub, "restore") != 0)) {
        fprintf(ctx->err,
                "%s: usage: snapshot save FILE|-, snapshot verify FILE, snapshot restore FILE\n"
                "see '%s snapshot --help'\n",
                ctx->prog, ctx->prog);
        return EXIT_USAGE;
    }
    const char *file = args->argv[1];
    if (strcmp(sub, "verify") == 0)
        return snapshot_verify(ctx, file);
    if (strcmp(sub, "save") == 0)
        return snapshot_save(ctx, args, file);
    if (cmd_opt_flag(args, "new-cluster"))
        return snapdr_new_cluster(ctx, args, file);
    return snapshot_restore(ctx, args, file);
}

static const char *const snapshot_subcommands[] = {"save", "verify", "restore", NULL};

static const struct cmd_option snapshot_options[] = {
    {"pod", 0, OPT_STRING, "POD",
     "pod to run in (save: default the active pod; restore: must be the active pod)", "@pods"},
    {"token-file", 0, OPT_STRING, "FILE", "Vault token (else VAULT_TOKEN, else asked)", "@files"},
    {"yes", 0, OPT_FLAG, NULL, "restore: do not ask for confirmation", NULL},
    {"force", 0, OPT_FLAG, NULL,
     "restore: accept another cluster's snapshot over this one (asks to type the StatefulSet's "
     "name; needs --keys-file: the cluster then uses the source's unseal keys and root token)",
     NULL},
    {"new-cluster", 0, OPT_FLAG, NULL,
     "restore: into a freshly installed, uninitialized cluster (init, join, restore, unseal "
     "with --keys-file)",
     NULL},
    {"keys-file", 0, OPT_STRING, "FILE",
     "restore --new-cluster or --force: the unseal keys of the cluster the snapshot comes from",
     "@files"},
    {"dry-run", 0, OPT_FLAG, NULL,
     "restore --new-cluster: check and print the plan, change nothing", NULL},
    {0},
};

const struct cmd_entry cmd_snapshot_entry = {
    .name = "snapshot",
    .summary = "Save, verify and restore Raft snapshots, streamed and verified",
    .usage = "save FILE|- | verify FILE | restore FILE [--yes] [--force --keys-file F] | restore "
             "FILE --new-cluster --keys-file F [--dry-run]",
    .help = "save: streams `vault operator raft snapshot save` from the active pod (or --pod)\n"
            "into a temporary file beside FILE (mode 0600), checks that every byte the pod sent\n"
            "arrived (the pod counts what it sends), verifies the archive (gzip, tar\n"
            "members, SHA256SUMS), then fsyncs and renames it into place. On any failure or\n"
            "Ctrl-C the temporary file is removed and an existing FILE is left as it was.\n"
            "`-` writes to stdout. Progress on a terminal. FILE.json is written beside it\n"
            "(0600, atomically): the source's cluster_id, version, seal type, shares,\n"
            "threshold, raft index and term, the time and the file's SHA-256.\n"
            "verify: the same archive checks on a local file, offline; shows meta.json, and\n"
            "FILE.json when present (checked to describe this very file).\n"
            "SHA256SUMS.sealed cannot be checked without the cluster's unseal keys.\n"
            "restore: verifies FILE, asks for confirmation (--yes to skip), streams it to the\n"
            "active pod's `snapshot restore`, then waits until every pod is unsealed and a raft\n"
            "member, says what to do for those that are not, and shows the status. With\n"
            "FILE.json it refuses an older Vault, the other seal kind, and another cluster's\n"
            "snapshot (then --force --keys-file SOURCE_KEYS, or --new-cluster).\n"
            "restore --new-cluster: into a fresh install: every pod must be uninitialized; init\n"
            "with the source's shares/threshold (temporary keys and token in locked memory\n"
            "only), unseal and join, restore -force on the active pod, wait for the apply,\n"
            "restart the pods when needed, unseal with the source's keys, check cluster_id.\n"
            "--dry-run prints the plan.\n"
            "Needs a Vault token (VAULT_TOKEN, --token-file, or asked); it goes to the pod on\n"
            "stdin, never on a command line.\n"
            "\nExamples:\n"
            "  kubectl vault-ha snapshot save backup.snap\n"
            "  kubectl vault-ha snapshot save - | gzip -t\n"
            "  kubectl vault-ha snapshot verify backup.snap\n"
            "  kubectl vault-ha snapshot restore backup.snap --token-file root.token\n"
            "  kubectl vault-ha -n dr snapshot restore backup.snap --new-cluster \\\n"
            "      --keys-file prod-keys.json --dry-run\n",
    .options = snapshot_options,
    .subcommands = snapshot_subcommands,
    .args_complete = "@files",
    .flags = CMD_NO_CLUSTER | CMD_NEEDS_TOKEN | CMD_DESTRUCTIVE,
    .exec = cmd_snapshot_exec,
};
