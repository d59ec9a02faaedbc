/* snapshot save|verify|restore: options, confirmation and printing; the
 * stream protocol (the pod scripts, the byte count, the leader-loss retry, the
 * restore and the wait after it) is lib/snapstream's.
 *
 * save: from the active pod (or --pod) into a temporary file beside FILE
 * (O_EXCL, 0600, lib/filesink) while lib/snapshot verifies the bytes as they
 * arrive; only a stream that is complete, matches what the pod sent and
 * verifies is fsync'd and renamed over FILE (then the directory is fsync'd).
 * Any failure or Ctrl-C removes the temporary file; an existing FILE stays as
 * it was. `-` streams to stdout. verify: the same archive checks on a local
 * file. restore: verifies FILE, asks (naming the cluster), streams it to the
 * ACTIVE pod, then waits until an active node exists and each pod is unsealed
 * and a raft member, with per-pod advice when one is not; the status screen
 * ends the command. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster.h"
#include "cmd.h"
#include "filesink.h"
#include "ops.h"
#include "output.h"
#include "secret.h"
#include "snapshot-dr.h"
#include "snapshot.h"
#include "snapstream.h"
#include "vault.h"
#include "wait.h"

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

/* lib/snapstream's progress callback: ctx is a struct progress with its f set. */
static void on_stream_progress(void *ctx, enum snapstream_progress ev, const char *what,
                               unsigned long long done, unsigned long long total)
{
    struct progress *p = ctx;
    switch (ev) {
    case SNAPSTREAM_START:
        progress_init(p, p->f, what, total);
        break;
    case SNAPSTREAM_MOVED:
        progress_update(p, done, 0);
        break;
    case SNAPSTREAM_STOP:
        progress_end(p);
        break;
    }
}

/* --- choosing the pod ---------------------------------------------------------------------- */

static const char *active_pod(const struct ops *o, const struct pod_view *views, size_t *idx)
{
    long i = vault_active_index(views, o->vc->npods);
    if (i >= 0 && idx != NULL)
        *idx = (size_t)i;
    return i >= 0 ? o->vc->pods[i].name : NULL;
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
        cmd_errorf(ctx, "no pod \"%s\" in StatefulSet %s/%s\n", want, o->vc->namespace,
                   o->vc->name);
        return -1;
    }
    size_t i = (size_t)(p - o->vc->pods);
    const struct pod_view *v = &views[i];
    if (!p->running) {
        cmd_errorf(ctx, "%s is not running (%s%s%s)\n", p->name, p->phase, p->reason ? ": " : "",
                   p->reason ? p->reason : "");
        return -1;
    }
    if (!v->have_status) {
        cmd_errorf(ctx, "%s did not answer vault status: %s\n", p->name,
                   v->status_error ? v->status_error : "no answer");
        return -1;
    }
    if (!v->st.initialized) {
        cmd_errorf(ctx, "%s is not initialized: there is nothing to %s\n", p->name,
                   restore ? "restore into" : "save");
        return -1;
    }
    if (v->st.sealed) {
        cmd_errorf(ctx, "%s is sealed: unseal it first (`%s unseal %s`)\n", p->name, ctx->prog,
                   p->name);
        return -1;
    }
    if (!v->st.is_self) {
        if (restore) {
            cmd_errorf(
                ctx,
                "%s is a standby; a restore must run on the active pod (%s): a standby "
                "answers with a 307 redirect, and the Vault CLI follows it by resending a "
                "request body it has already consumed, so the restore fails. Leave out --pod "
                "to use the active pod.\n",
                p->name, active ? active : "none right now");
            return -1;
        }
        fprintf(ctx->err,
                "%s is a standby: Vault redirects the snapshot request to the active node%s%s%s.\n",
                p->name, active ? " (" : "", active ? active : "", active ? ")" : "");
    }
    return (long)i;
}

/* --- save ---------------------------------------------------------------------------------- */

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
        cmd_print_document(ctx, f, doc);
        return;
    }
    fprintf(f,
            "Saved snapshot %s from %s: %s (%llu bytes), raft index %llu, term %llu, in %.1fs "
            "(%s/s); verified: gzip, tar members, SHA256SUMS.\n",
            strcmp(file, "-") == 0 ? "to stdout" : file, pod, size, info->compressed_bytes,
            info->index, info->term, secs, rate);
}

static int snapshot_save(struct cmd_context *ctx, const struct cmd_args *args, const char *file)
{
    int to_stdout = strcmp(file, "-") == 0;
    struct stat st;
    if (to_stdout && isatty(STDOUT_FILENO)) {
        cmd_errorf(ctx,
                   "refusing to write a binary snapshot to a terminal: redirect stdout or give "
                   "a FILE\n");
        return EXIT_USAGE;
    }
    if (!to_stdout && stat(file, &st) == 0 && !S_ISREG(st.st_mode)) {
        cmd_errorf(ctx, "%s exists and is not a regular file\n", file);
        return EXIT_USAGE;
    }
    int open_rc = cmd_connect(ctx);
    if (open_rc != EXIT_OK)
        return open_rc;
    struct ops o;
    struct pod_view *views = NULL;
    open_rc = cmd_open_cluster(ctx, &o, &views);
    if (open_rc != EXIT_OK)
        return open_rc;
    int rc = EXIT_ERROR, caught = 0;
    struct secret token = {0};
    struct snapshot_info *info = calloc(1, sizeof *info);
    struct filesink_temp tmp = {.fd = -1};
    enum interrupt_mode before = INTERRUPT_DEFAULT;
    struct error err = {0};
    if (info == NULL)
        goto out;

    const char *want = cmd_opt_str(args, "pod");
    long pi = pick_pod(ctx, &o, &views, want, 0);
    if (pi < 0)
        goto out;
    int got = 0, token_rc = cmd_get_token(ctx, args, o.vc, 1, 1, &token, &got);
    if (token_rc != EXIT_OK) {
        rc = token_rc;
        goto out;
    }
    /* Ctrl-C, SIGTERM and SIGHUP end the stream, which removes its temporary file. */
    before = cmd_interrupt_mode(INTERRUPT_STREAM);
    caught = 1;
    if (!to_stdout && filesink_temp_open(&tmp, file, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    struct progress prog = {.f = ctx->err_raw};
    struct snapstream_save s = {
        .pod = o.vc->pods[pi].name,
        .standby = !views[pi].st.is_self,
        .follow_leader = want == NULL,
        .token = &token,
        .sink = {.fd = to_stdout ? STDOUT_FILENO : tmp.fd,
                 .file = !to_stdout,
                 .name = to_stdout ? "stdout" : tmp.path},
        .handshake_timeout_ms = ctx->g->request_timeout_ms > 0 ? ctx->g->request_timeout_ms : -1,
        .progress = on_stream_progress,
        .progress_ctx = &prog,
        .info = info,
    };
    if (snapstream_save(&o, &s, &err) < 0) {
        cmd_report(ctx, &err);
        rc = cmd_exit_for(&err);
        goto out;
    }
    if (!to_stdout) {
        if (snapdr_drop_meta(ctx, file) < 0)
            goto out;
        int committed = filesink_temp_commit(&tmp, file, &err);
        if (committed < 0) {
            cmd_errorf(ctx, "%s; nothing was saved\n", err.msg);
            goto out;
        }
        if (committed > 0)
            cmd_errorf(ctx, "warning: %s\n", err.msg);
        /* The status of the pod it came from (the save may have followed a new leader). */
        const struct pod_view *from = &views[pi];
        for (size_t i = 0; i < o.vc->npods; i++)
            if (strcmp(o.vc->pods[i].name, s.saved_from) == 0 && views[i].have_status)
                from = &views[i];
        snapdr_save_meta(ctx, file, o.vc, s.saved_from, from, info, s.sha256, s.bytes);
    }
    print_save_report(ctx, file, s.saved_from, info, s.seconds);
    rc = EXIT_OK;
out:
    filesink_temp_discard(&tmp);
    if (caught)
        cmd_interrupt_mode(before);
    secret_free(&token);
    free(info);
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
        cmd_errorf(ctx, "cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fdp != NULL && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
        cmd_errorf(ctx, "%s is not a regular file\n", path);
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
        cmd_errorf(ctx, "%s: %s\n", fd == STDIN_FILENO ? "stdin" : path, err.msg);
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
    int fd = -1, have_meta = 0, rc = EXIT_OK;
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
        rc = cmd_print_document(ctx, NULL, doc);
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
    return rc;
}

/* --- restore ------------------------------------------------------------------------------- */

/* After the restore: says what the last look found, pod by pod, with what to
 * do for each pod that is not back; returns how many need something. */
static int print_after_restore(struct cmd_context *ctx, const struct ops *o,
                               const struct snapstream_after *a, const struct secret *token,
                               int force)
{
    int need = 0;
    if (a->views == NULL)
        return 1;
    const char *active = active_pod(o, a->views, NULL);
    int running = 0, sealed = 0;
    for (size_t i = 0; i < o->vc->npods; i++)
        if (o->vc->pods[i].running) {
            running++;
            sealed += a->views[i].have_status && a->views[i].st.sealed;
        }
    if (active == NULL) {
        fprintf(ctx->err, "No active node%s.\n",
                running > 0 && sealed == running ? ": every pod sealed itself after the restore"
                                                 : "");
        need++;
    }
    for (size_t i = 0; i < o->vc->npods; i++) {
        const struct vault_pod *p = &o->vc->pods[i];
        const struct pod_view *v = &a->views[i];
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
        } else if (a->have_members && !a->member[i]) {
            fprintf(ctx->err, "  %s: unsealed but not a raft member: rejoin it with `%s join %s`\n",
                    p->name, ctx->prog, p->name);
            need++;
        } else {
            fprintf(ctx->err, "  %s: %s, unsealed%s\n", p->name,
                    v->st.is_self ? "active" : "standby", a->have_members ? ", raft member" : "");
        }
    }
    if (active != NULL && token != NULL && !a->have_members)
        fprintf(ctx->err,
                "Raft membership not checked: list-peers failed (%s); after a restore the token "
                "must exist in the snapshot.\n",
                a->members_why);
    return need;
}

/* Waits until every pod is back, then prints where each stands. Returns the
 * number of pods that need something, or -1 when interrupted. */
static int wait_after_restore(struct cmd_context *ctx, struct ops *o, const struct secret *token,
                              long long index_before, int force)
{
    struct snapstream_after a;
    struct error err = {0};
    fprintf(ctx->err, "Snapshot accepted; Vault applies it in the background.\n");
    int rc = snapstream_wait_restored(o, token, index_before, &a, &err);
    if (rc < 0 && err.kind == ERR_INTERRUPTED) {
        snapstream_after_clear(o, &a);
        return -1;
    }
    if (rc < 0 && err.kind != ERR_REMOTE)
        cmd_report(ctx, &err);
    int need = print_after_restore(ctx, o, &a, token, force);
    if (rc < 0 && need == 0)
        need = 1;
    snapstream_after_clear(o, &a);
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

int snapshot_send(struct cmd_context *ctx, struct ops *o, const char *pod, int force, int fd,
                  unsigned long long size, const struct secret *token, double *seconds,
                  struct error *err)
{
    struct progress prog = {.f = ctx->err_raw};
    struct snapstream_restore r = {
        .pod = pod,
        .token = token,
        .fd = fd,
        .size = size,
        .force = force,
        .handshake_timeout_ms = ctx->g->request_timeout_ms > 0 ? ctx->g->request_timeout_ms : -1,
        .progress = on_stream_progress,
        .progress_ctx = &prog,
    };
    int rc = snapstream_restore(o, &r, err);
    if (seconds != NULL)
        *seconds = r.seconds;
    return rc;
}

static int snapshot_restore(struct cmd_context *ctx, const struct cmd_args *args, const char *file)
{
    if (strcmp(file, "-") == 0) {
        cmd_errorf(ctx,
                   "restore needs a FILE (it is verified before anything is sent), not stdin\n");
        return EXIT_USAGE;
    }
    struct error err = {0};
    int force = cmd_opt_flag(args, "force");
    struct snapshot_info *info = calloc(1, sizeof *info);
    int fd = -1, rc = EXIT_ERROR, caught = 0;
    struct ops o = {0};
    struct pod_view *views = NULL;
    struct secret token = {0};
    enum interrupt_mode before = INTERRUPT_DEFAULT;
    struct snapdr_plain pl = {0};
    struct lease_lock *lock = NULL;
    if (info == NULL)
        goto out;
    if (verify_local(ctx, file, info, &fd) < 0)
        goto out;
    unsigned long long size = info->compressed_bytes;
    char hsize[32];
    human(hsize, sizeof hsize, size);
    fprintf(ctx->err, "%s: valid snapshot, %s, raft index %llu, term %llu.\n", file, hsize,
            info->index, info->term);
    if (cmd_connect(ctx) != EXIT_OK)
        goto out;
    if (cmd_open_cluster(ctx, &o, &views) != EXIT_OK) {
        o.vc = NULL;
        goto out;
    }
    long pi = pick_pod(ctx, &o, &views, cmd_opt_str(args, "pod"), 1);
    if (pi < 0)
        goto out;
    const char *pod = o.vc->pods[pi].name;
    long long index_before = views[pi].st.raft_applied_index;
    int got = 0, token_rc = cmd_get_token(ctx, args, o.vc, 1, 1, &token, &got);
    if (token_rc != EXIT_OK) {
        rc = token_rc;
        goto out;
    }
    if ((rc = snapdr_plain_check(ctx, args, file, fd, &o, &views[pi], &pl)) != 0)
        goto out;
    rc = EXIT_ERROR;
    if (force)
        cmd_warnf(ctx,
                  "--force skips Vault's check that the snapshot was sealed with this "
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
    /* One destructive run at a time on this StatefulSet (upgrade, recover, restore...). */
    int lock_rc = cmd_lock(ctx, args, o.vc, "snapshot restore", &lock);
    if (lock_rc != EXIT_OK) {
        rc = lock_rc;
        goto out;
    }
    before = cmd_interrupt_mode(INTERRUPT_STREAM);
    caught = 1;
    double sent_s = 0;
    if (snapshot_send(ctx, &o, pod, force, fd, size, &token, &sent_s, &err) < 0) {
        cmd_report(ctx, &err);
        if (strstr(err.msg, "could not verify hash file") != NULL)
            snapdr_other_cluster(ctx, file);
        rc = cmd_exit_for(&err);
        goto out;
    }
    /* The stream is over: the waits that follow end at Ctrl-C between two steps. */
    cmd_interrupt_mode(before);
    caught = 0;
    char el[32];
    snprintf(el, sizeof el, "%.1fs", sent_s);
    fprintf(ctx->err, "Sent %s to %s in %s.\n", hsize, pod, el);
    if (pl.keys.n > 0) {
        /* Another cluster's snapshot: the old token is dead, the source's keys open it. */
        secret_free(&token);
        rc = snapdr_finish_forced(ctx, args, &o, file, &pl, &views[pi].st);
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
        cmd_interrupt_mode(before);
        caught = 0;
    }
    cmd_unlock(ctx, lock);
    lock = NULL;
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
        cmd_interrupt_mode(before);
    cmd_unlock(ctx, lock);
    if (fd >= 0)
        close(fd);
    secret_free(&token);
    if (o.vc != NULL)
        cmd_close_cluster(&o, views);
    snapdr_plain_clear(&pl);
    free(info);
    return rc;
}

/* --- the command --------------------------------------------------------------------------- */

static int cmd_snapshot_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    const char *sub = args->argc > 0 ? args->argv[0] : NULL;
    if (sub == NULL || args->argc != 2 ||
        (strcmp(sub, "save") != 0 && strcmp(sub, "verify") != 0 && strcmp(sub, "restore") != 0)) {
        cmd_errorf(ctx,
                   "usage: snapshot save FILE|-, snapshot verify FILE, snapshot restore FILE\n"
                   "see '%s snapshot --help'\n",
                   ctx->prog);
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
    CMD_FORCE_UNLOCK_OPTION,
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
