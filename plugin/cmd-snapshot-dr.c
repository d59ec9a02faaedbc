/* snapshot, disaster recovery (docs/disaster-recovery.md §1, §4-5): the
 * metadata written beside a saved snapshot (FILE.json, lib/snapmeta), shown by
 * verify and enforced by restore; `restore --new-cluster` into a freshly
 * installed cluster (lib/drrestore's plan); and a plain restore of another
 * cluster's snapshot stopped before anything changes, or with --force finished
 * with the source's keys. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drrestore.h"
#include "output.h"
#include "snapshot-dr.h"
#include "text.h"

/* --- metadata ------------------------------------------------------------------------------ */

void snapdr_save_meta(struct cmd_context *ctx, const char *file, const struct vault_cluster *vc,
                      const char *pod, const struct pod_view *v, const struct snapshot_info *info,
                      const char sha256[65], unsigned long long bytes)
{
    struct snapmeta m = {.format = SNAPMETA_FORMAT};
    struct error err = {0};
    char path[4096];
    if (snapmeta_path(file, path, sizeof path, &err) < 0)
        goto fail;
    const struct vault_status *st = &v->st;
    snprintf(m.product, sizeof m.product, "%s", vc->flavor ? vc->flavor : "vault");
    snprintf(m.version, sizeof m.version, "%s",
             st->version ? st->version : (vc->version ? vc->version : ""));
    snprintf(m.cluster_id, sizeof m.cluster_id, "%s", st->cluster_id ? st->cluster_id : "");
    snprintf(m.cluster_name, sizeof m.cluster_name, "%s", st->cluster_name ? st->cluster_name : "");
    snprintf(m.seal_type, sizeof m.seal_type, "%s", st->type ? st->type : "shamir");
    m.shares = st->n;
    m.threshold = st->t;
    m.raft_index = info->index;
    m.raft_term = info->term;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(m.saved_at, sizeof m.saved_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(m.namespace_, sizeof m.namespace_, "%s", vc->namespace);
    snprintf(m.pod, sizeof m.pod, "%s", pod);
    m.bytes = bytes;
    snprintf(m.sha256, sizeof m.sha256, "%s", sha256);
    if (snapmeta_write(path, &m, &err) < 0)
        goto fail;
    fprintf(ctx->err, "Wrote %s: cluster_id %s, %s %s, seal %s %d/%d.\n", path, m.cluster_id,
            m.product, m.version, m.seal_type, m.shares, m.threshold);
    return;
fail:
    cmd_errorf(ctx,
               "warning: the snapshot is saved, but not its metadata (%s): a restore cannot "
               "check its source's version, seal and cluster_id\n",
               err.msg);
}

int snapdr_drop_meta(struct cmd_context *ctx, const char *file)
{
    char path[4096];
    struct error err = {0};
    if (snapmeta_path(file, path, sizeof path, &err) < 0) {
        cmd_report(ctx, &err);
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        cmd_errorf(ctx,
                   "cannot remove %s, the metadata of the snapshot about to be replaced (%s); "
                   "nothing was saved\n",
                   path, strerror(errno));
        return -1;
    }
    return 0;
}

int snapdr_load_meta(struct cmd_context *ctx, const char *file, int fd, struct snapmeta *m)
{
    char path[4096];
    struct error err = {0};
    if (snapmeta_path(file, path, sizeof path, &err) < 0) {
        cmd_report(ctx, &err);
        return -1;
    }
    int got = snapmeta_read(path, m, &err);
    if (got == 1)
        return 0;
    if (got == 0 && snapmeta_check_file(m, fd, &err) < 0)
        error_wrap(&err, "%s", path);
    else if (got == 0)
        return 1;
    cmd_report(ctx, &err);
    return -1;
}

json_t *snapdr_meta_json(const struct snapmeta *m)
{
    struct error err = {0};
    char *text = snapmeta_encode(m, &err);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return doc ? doc : json_null();
}

void snapdr_print_meta(struct cmd_context *ctx, const char *file, const struct snapmeta *m)
{
    fprintf(ctx->out,
            "metadata (%s.json): matches this file\n"
            "  source cluster_id   %s%s%s%s\n"
            "  source version      %s %s\n"
            "  seal                %s, %d shares, threshold %d\n"
            "  raft index, term    %llu, %llu\n"
            "  saved               %s%s%s%s%s\n",
            file, m->cluster_id, m->cluster_name[0] ? " (" : "", m->cluster_name,
            m->cluster_name[0] ? ")" : "", m->product, m->version, m->seal_type, m->shares,
            m->threshold, m->raft_index, m->raft_term, m->saved_at, m->pod[0] ? " from " : "",
            m->namespace_, m->pod[0] ? "/" : "", m->pod);
}

/* --- the source's keys --------------------------------------------------------------------- */

/* Reads the source keys into locked memory, and when the file is init's JSON
 * its own record of shares and threshold (from the same one parse of the
 * locked buffer). Returns 0, or an exit code. */
static int read_source_keys(struct cmd_context *ctx, const char *path, struct secret_list *keys,
                            int *shares, int *threshold, int *recovery)
{
    struct error err = {0};
    struct secret_keys_record rec;
    *shares = *threshold = *recovery = 0;
    if (secret_read_keys_file_record(path, keys, &rec, &err) < 0) {
        cmd_report(ctx, &err);
        return EXIT_ERROR;
    }
    cmd_secret_warnings(ctx);
    *shares = rec.shares;
    *threshold = rec.threshold;
    *recovery = rec.recovery;
    return 0;
}

/* --- running a plan ------------------------------------------------------------------------ */

struct send_ctx {
    struct cmd_context *ctx;
    int fd;
    unsigned long long size;
};

static int send_force(void *c, struct ops *o, const char *pod, const struct secret *token,
                      struct error *err)
{
    struct send_ctx *s = c;
    return snapshot_send(s->ctx, o, pod, 1, s->fd, s->size, token, NULL, err);
}

/* source_token: VAULT_TOKEN or --token-file is the source's root token (a new
 * cluster: with it the end waits for voters); 0 when it is the old cluster's,
 * which the restore just made worthless (--force). before: the cluster's status
 * before a forced restore (NULL for a new cluster). */
static int run_plan(struct cmd_context *ctx, const struct cmd_args *args, struct ops *o,
                    const struct dr_plan *plan, const struct snapmeta *meta,
                    const struct secret_list *keys, struct send_ctx *sc, const char *file,
                    int source_token, const struct vault_status *before)
{
    struct secret token = {0};
    int got = 0, token_rc = source_token ? cmd_get_token(ctx, args, o->vc, 0, 0, &token, &got) : 0;
    if (token_rc != EXIT_OK)
        return token_rc;
    struct dr_plan p = *plan;
    p.source_token = got > 0;
    struct dr_run r = {.o = o,
                       .plan = &p,
                       .meta = meta,
                       .source_keys = keys,
                       .source_token = got > 0 ? &token : NULL,
                       .send = send_force,
                       .send_ctx = sc,
                       .before_cluster_id = before ? before->cluster_id : NULL,
                       .index_before = before ? before->raft_applied_index : 0};
    struct error err = {0};
    double t0 = wait_now_s();
    int rc = dr_run(&r, &err);
    secret_free(&token);
    if (rc < 0 && r.interrupted) {
        cmd_report(ctx, &err);
        fprintf(ctx->err, "Nothing was changed.\n");
        return cmd_exit_for(&err);
    }
    if (rc < 0) {
        char advice[1500];
        cmd_report(ctx, &err);
        dr_advice(&p, r.failed_step, ctx->prog, o->vc, file, cmd_opt_str(args, "keys-file"), advice,
                  sizeof advice);
        fprintf(ctx->err, "Stopped at step %zu of %zu. %s\n", r.failed_step + 1, p.nsteps, advice);
        return cmd_exit_for(&err);
    }
    if (p.auto_seal)
        fprintf(ctx->err,
                "Restore of %s complete in %.1f s: the cluster runs the source's data%s%s; its "
                "pods unseal themselves with their seal%s%s (the source's KMS or transit key), "
                "and its recovery keys and tokens are the source's now.\n",
                file, wait_now_s() - t0, r.cluster_id[0] ? ", cluster_id " : "", r.cluster_id,
                r.seal[0] ? " " : "", r.seal);
    else if (r.same_cluster)
        fprintf(ctx->err,
                "Restore of %s complete in %.1f s: the snapshot was this cluster's own "
                "(cluster_id %s): every pod stayed unsealed, its unseal keys and tokens are "
                "unchanged.\n",
                file, wait_now_s() - t0, r.cluster_id);
    else
        fprintf(ctx->err,
                "Restore of %s complete in %.1f s: the cluster runs the source's data; its "
                "unseal keys and tokens are the source's%s%s.\n",
                file, wait_now_s() - t0, r.cluster_id[0] ? ", cluster_id " : "", r.cluster_id);
    return EXIT_OK;
}

static void print_plan(struct cmd_context *ctx, const struct dr_plan *p, const char *first_pod)
{
    char line[600];
    for (size_t i = 0; i < p->nsteps; i++) {
        dr_step_text(p, i, first_pod, line, sizeof line);
        fprintf(ctx->out, "  %s\n", line);
    }
}

/* --- restore --new-cluster ----------------------------------------------------------------- */

int snapdr_new_cluster(struct cmd_context *ctx, const struct cmd_args *args, const char *file)
{
    const char *keys_file = cmd_opt_str(args, "keys-file");
    if (keys_file == NULL) {
        cmd_errorf(ctx, "--new-cluster needs --keys-file SOURCE_KEYS: after the restore only the "
                        "unseal keys of the cluster the snapshot was taken from open it\n");
        return EXIT_USAGE;
    }
    if (cmd_opt_flag(args, "force")) {
        cmd_errorf(ctx, "--new-cluster and --force do not go together\n");
        return EXIT_USAGE;
    }
    int rc = EXIT_ERROR, fd = -1;
    struct snapshot_info *info = calloc(1, sizeof *info);
    struct snapmeta meta;
    struct secret_list keys = {0};
    struct ops o = {0};
    struct pod_view *views = NULL;
    struct lease_lock *lock = NULL;
    if (info == NULL || snapshot_verify_local(ctx, file, info, &fd) < 0)
        goto out;
    int have_meta = snapdr_load_meta(ctx, file, fd, &meta);
    if (have_meta < 0)
        goto out;
    struct dr_input in = {.meta = have_meta ? &meta : NULL};
    if ((rc = read_source_keys(ctx, keys_file, &keys, &in.keys_shares, &in.keys_threshold,
                               &in.recovery_keys)) != 0)
        goto out;
    rc = EXIT_ERROR;
    in.nkeys = keys.n;
    struct dr_plan plan;
    struct error err = {0};
    if (dr_plan_build(&in, 1, 0, 0, &plan, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    if (!have_meta)
        fprintf(ctx->err,
                "%s has no metadata (%s.json): the source's version, seal and cluster_id cannot "
                "be checked%s.\n",
                file, file,
                plan.restart ? ", and the pods are restarted before the source's keys unseal them"
                             : "");
    char warn[400];
    dr_keys_warning(&in, warn, sizeof warn);
    if (warn[0])
        cmd_warnf(ctx, "%s\n", warn);
    if (cmd_connect(ctx) != EXIT_OK || cmd_open_cluster(ctx, &o, &views) != EXIT_OK) {
        o.vc = NULL;
        goto out;
    }
    const char *first = o.vc->npods ? o.vc->pods[0].name : "";
    if (cmd_opt_flag(args, "dry-run")) {
        /* Only whether the run would have the source's root token (it says what the end
         * waits for); the dry run itself uses none. */
        struct secret token = {0};
        int got = 0, token_rc = cmd_get_token(ctx, args, o.vc, 0, 0, &token, &got);
        secret_free(&token);
        if (token_rc != EXIT_OK) {
            rc = token_rc;
            goto out;
        }
        plan.source_token = got > 0;
        fprintf(ctx->out, "Plan: restore %s (raft index %llu, term %llu%s%s) into %s/%s:\n", file,
                info->index, info->term, have_meta ? ", cluster_id " : "",
                have_meta ? meta.cluster_id : "", o.vc->namespace, o.vc->name);
        print_plan(ctx, &plan, first);
        /* The first step only reads: run it, so that the plan is known to start. */
        if (dr_check_new_cluster(&o, have_meta ? &meta : NULL, &plan, &err) < 0) {
            cmd_report(ctx, &err);
            fprintf(ctx->err, "The plan cannot start. Nothing was changed.\n");
            goto out;
        }
        fprintf(ctx->out, "Dry run: nothing was changed.\n");
        rc = EXIT_OK;
        goto out;
    }
    char question[1024];
    snprintf(question, sizeof question,
             "Restore %s into the new cluster %s/%s? It is initialized, the snapshot replaces "
             "its data, and afterwards only the source's keys and tokens open it",
             file, o.vc->namespace, o.vc->name);
    if (!cmd_confirm(ctx, args, question)) {
        fprintf(ctx->err, "Not restored.\n");
        goto out;
    }
    /* One destructive run at a time on this StatefulSet (upgrade, recover, restore...). */
    int lock_rc = cmd_lock(ctx, args, o.vc, "snapshot restore", &lock);
    if (lock_rc != EXIT_OK) {
        rc = lock_rc;
        goto out;
    }
    struct send_ctx sc = {.ctx = ctx, .fd = fd, .size = info->compressed_bytes};
    rc = run_plan(ctx, args, &o, &plan, have_meta ? &meta : NULL, &keys, &sc, file, 1, NULL);
out:
    cmd_unlock(ctx, lock);
    secret_list_free(&keys);
    if (fd >= 0)
        close(fd);
    if (o.vc != NULL)
        cmd_close_cluster(&o, views);
    free(info);
    return rc;
}

/* --- plain restore ------------------------------------------------------------------------- */

static void other_cluster_lines(struct cmd_context *ctx, const char *file)
{
    fprintf(ctx->err,
            "Restoring it would replace this cluster's data, and its unseal keys and root token "
            "with the source's. Nothing was changed.\n"
            "  Into a freshly installed cluster: %s snapshot restore %s --new-cluster "
            "--keys-file SOURCE_KEYS\n"
            "  Over this cluster anyway: %s snapshot restore %s --force --keys-file "
            "SOURCE_KEYS (asks you to type the StatefulSet's name; the source's keys unseal it "
            "afterwards)\n",
            ctx->prog, file, ctx->prog, file);
}

void snapdr_other_cluster(struct cmd_context *ctx, const char *file)
{
    other_cluster_lines(ctx, file);
}

void snapdr_plain_clear(struct snapdr_plain *pl)
{
    secret_list_free(&pl->keys);
}

int snapdr_plain_check(struct cmd_context *ctx, const struct cmd_args *args, const char *file,
                       int fd, struct ops *o, const struct pod_view *target,
                       struct snapdr_plain *pl)
{
    struct error err = {0};
    int got = snapdr_load_meta(ctx, file, fd, &pl->meta);
    if (got < 0)
        return EXIT_ERROR;
    pl->have_meta = got;
    const struct vault_status *st = &target->st;
    if (pl->have_meta) {
        struct snapmeta_target t = {
            .product = o->vc->flavor, .version = st->version, .seal_type = st->type};
        if (snapmeta_check_target(&pl->meta, &t, &err) < 0) {
            cmd_report(ctx, &err);
            fprintf(ctx->err, "Nothing was changed.\n");
            return EXIT_ERROR;
        }
    }
    int foreign =
        pl->have_meta && st->cluster_id != NULL && strcmp(st->cluster_id, pl->meta.cluster_id) != 0;
    int force = cmd_opt_flag(args, "force");
    if (foreign && !force) {
        char shown[128];
        text_sanitize(shown, sizeof shown, st->cluster_id, strlen(st->cluster_id));
        cmd_errorf(ctx,
                   "the snapshot comes from another cluster: its metadata says cluster_id %s "
                   "(saved %s from %s/%s), this cluster is %s.\n",
                   pl->meta.cluster_id, pl->meta.saved_at, pl->meta.namespace_, pl->meta.pod,
                   shown);
        other_cluster_lines(ctx, file);
        return EXIT_ERROR;
    }
    if (!force || (pl->have_meta && !foreign))
        return 0; /* the same cluster: Vault's own check decides */
    const char *keys_file = cmd_opt_str(args, "keys-file");
    if (keys_file == NULL) {
        cmd_errorf(
            ctx, "--force needs --keys-file SOURCE_KEYS: after a restore of another cluster's "
                 "snapshot every pod seals and only the source's unseal keys open it. Nothing was "
                 "changed.\n");
        return EXIT_USAGE;
    }
    int rc = read_source_keys(ctx, keys_file, &pl->keys, &pl->keys_shares, &pl->keys_threshold,
                              &pl->keys_recovery);
    if (rc != 0)
        return rc;
    struct dr_input in = {.meta = pl->have_meta ? &pl->meta : NULL,
                          .nkeys = pl->keys.n,
                          .keys_shares = pl->keys_shares,
                          .keys_threshold = pl->keys_threshold,
                          .recovery_keys = pl->keys_recovery};
    struct dr_plan plan;
    if (dr_plan_build(&in, 0, st->n, st->t, &plan, &err) < 0) {
        cmd_report(ctx, &err);
        return EXIT_ERROR;
    }
    char warn[400];
    dr_keys_warning(&in, warn, sizeof warn);
    if (warn[0])
        cmd_warnf(ctx, "%s\n", warn);
    char what[600];
    snprintf(what, sizeof what,
             "Restoring %s over %s/%s replaces its data, unseal keys and root token with the "
             "snapshot's source's: every pod seals and only SOURCE_KEYS open it again. This",
             file, o->vc->namespace, o->vc->name);
    if (!cmd_confirm_typed(ctx, args, what, o->vc->name))
        return EXIT_ERROR;
    return 0;
}

int snapdr_finish_forced(struct cmd_context *ctx, const struct cmd_args *args, struct ops *o,
                         const char *file, struct snapdr_plain *pl,
                         const struct vault_status *before)
{
    struct dr_input in = {.meta = pl->have_meta ? &pl->meta : NULL,
                          .nkeys = pl->keys.n,
                          .keys_shares = pl->keys_shares,
                          .keys_threshold = pl->keys_threshold,
                          .recovery_keys = pl->keys_recovery};
    struct dr_plan plan;
    struct error err = {0};
    if (dr_plan_build(&in, 0, before->n, before->t, &plan, &err) < 0) {
        cmd_report(ctx, &err);
        return EXIT_ERROR;
    }
    return run_plan(ctx, args, o, &plan, in.meta, &pl->keys, NULL, file, 0, before);
}
