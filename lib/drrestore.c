/* Disaster recovery restore into a new cluster: see drrestore.h. */
#include "drrestore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init.h"
#include "text.h"
#include "vault.h"
#include "wait.h"

/* --- the plan ------------------------------------------------------------------------------ */

int dr_plan_build(const struct dr_input *in, int new_cluster, int cur_shares, int cur_threshold,
                  struct dr_plan *p, struct error *err)
{
    memset(p, 0, sizeof *p);
    const struct snapmeta *m = in->meta;
    int src_shares = m ? m->shares : in->keys_shares;
    int src_threshold = m ? m->threshold : in->keys_threshold;
    /* An auto-unseal source: its metadata says so, or (none) init's JSON with recovery keys.
     * Its recovery keys unseal nothing, so how many the file holds does not matter here. */
    p->auto_seal = m ? !snapmeta_is_shamir(m->seal_type) : in->recovery_keys;
    if (p->auto_seal) {
        p->from_check = new_cluster;
        p->shares = src_shares > 0 ? src_shares : 5;
        p->threshold = src_threshold > 0 ? src_threshold : 3;
        p->why_restart = "";
        if (new_cluster) {
            p->steps[p->nsteps++] = DR_CHECK;
            p->steps[p->nsteps++] = DR_INIT;
            p->steps[p->nsteps++] = DR_BRING_UP_TEMP;
            p->steps[p->nsteps++] = DR_RESTORE;
        }
        p->steps[p->nsteps++] = DR_WAIT_APPLY;
        if (new_cluster)
            p->steps[p->nsteps++] = DR_WIPE;
        p->steps[p->nsteps++] = DR_CHECK_ID;
        return 0;
    }
    if (src_threshold > 0 && in->nkeys < (size_t)src_threshold)
        return error_set(err, ERR_USAGE,
                         "the keys file holds %zu unseal key%s but the source needs %d: after the "
                         "restore only the source's keys unseal the cluster",
                         in->nkeys, in->nkeys == 1 ? "" : "s", src_threshold);
    p->from_check = new_cluster;
    if (new_cluster) {
        /* Init with the source's shares/threshold when known: then the sealed pods'
         * cached seal configuration is already the source's (docs/disaster-recovery.md §1.4). */
        p->shares = src_shares > 0 ? src_shares : 1;
        p->threshold = src_threshold > 0 ? src_threshold : 1;
        p->restart = src_shares <= 0;
        p->why_restart = "the source's shares and threshold are not known (no metadata)";
        p->steps[p->nsteps++] = DR_CHECK;
        p->steps[p->nsteps++] = DR_INIT;
        p->steps[p->nsteps++] = DR_BRING_UP_TEMP;
        p->steps[p->nsteps++] = DR_RESTORE;
    } else {
        p->restart = src_shares <= 0 || cur_shares <= 0 || src_shares != cur_shares ||
                     src_threshold != cur_threshold;
        p->why_restart = src_shares <= 0 || cur_shares <= 0
                             ? "the source's shares and threshold are not known (no metadata)"
                             : "this cluster's shares and threshold differ from the source's";
    }
    p->steps[p->nsteps++] = DR_WAIT_APPLY;
    if (new_cluster)
        p->steps[p->nsteps++] = DR_WIPE;
    if (p->restart)
        p->steps[p->nsteps++] = DR_RESTART;
    p->steps[p->nsteps++] = DR_UNSEAL_SOURCE;
    p->steps[p->nsteps++] = DR_CHECK_ID;
    return 0;
}

void dr_keys_warning(const struct dr_input *in, char *buf, size_t cap)
{
    buf[0] = '\0';
    const struct snapmeta *m = in->meta;
    if (m == NULL)
        return;
    if (in->keys_shares > 0 && (in->keys_shares != m->shares || in->keys_threshold != m->threshold))
        snprintf(buf, cap,
                 "the keys file was written for %d shares, threshold %d, but the snapshot's "
                 "cluster had %d shares, threshold %d: are they the source's keys?",
                 in->keys_shares, in->keys_threshold, m->shares, m->threshold);
    else if (in->keys_shares <= 0 && in->nkeys != (size_t)m->shares)
        snprintf(buf, cap,
                 "the keys file holds %zu key%s, the snapshot's cluster had %d shares "
                 "(threshold %d)",
                 in->nkeys, in->nkeys == 1 ? "" : "s", m->shares, m->threshold);
}

void dr_step_text(const struct dr_plan *p, size_t i, const char *first_pod, char *buf, size_t cap)
{
    const char *t = "";
    char tmp[400];
    switch (p->steps[i]) {
    case DR_CHECK:
        t = "check that every pod runs and is uninitialized, and what the snapshot's metadata "
            "allows";
        break;
    case DR_INIT:
        if (p->auto_seal) {
            snprintf(tmp, sizeof tmp,
                     "initialize %s with %d recovery share%s, threshold %d, as the source; it "
                     "unseals itself with its seal (temporary recovery keys and root token, in "
                     "locked memory only)",
                     first_pod, p->shares, p->shares == 1 ? "" : "s", p->threshold);
            t = tmp;
            break;
        }
        snprintf(tmp, sizeof tmp,
                 "initialize %s with %d share%s, threshold %d (temporary keys and root token, "
                 "in locked memory only)",
                 first_pod, p->shares, p->shares == 1 ? "" : "s", p->threshold);
        t = tmp;
        break;
    case DR_BRING_UP_TEMP:
        if (p->auto_seal) {
            t = "join the other pods, which unseal themselves with their seal, wait until every "
                "pod is a voter";
            break;
        }
        t = "unseal it, join and unseal the other pods with the temporary keys, wait until "
            "every pod is a voter";
        break;
    case DR_RESTORE:
        t = "restore the snapshot with -force in the active pod, against its own listener";
        break;
    case DR_WAIT_APPLY:
        if (p->auto_seal) {
            t = "wait until Vault has applied the snapshot: every pod reloads the root key with "
                "its seal and stays unsealed with the source's cluster_id (pods whose seal cannot "
                "decrypt the source's stored keys seal themselves: the run stops there)";
            break;
        }
        t = "wait until Vault has applied the snapshot: every pod seals itself";
        break;
    case DR_WIPE:
        if (p->auto_seal) {
            t = "wipe the temporary recovery keys and root token (the source's recovery keys and "
                "tokens are the cluster's now)";
            break;
        }
        t = "wipe the temporary keys and root token (they opened nothing any more)";
        break;
    case DR_RESTART:
        snprintf(tmp, sizeof tmp,
                 "restart every pod, since %s: a sealed pod keeps the old seal "
                 "configuration in memory",
                 p->why_restart);
        t = tmp;
        break;
    case DR_UNSEAL_SOURCE:
        t = p->source_token ? "unseal every pod with the source's keys and wait until every pod "
                              "is a healthy raft voter"
                            : "unseal every pod with the source's keys and wait until every pod "
                              "reports unsealed (without the source's root token, raft voters "
                              "and health are not checked)";
        break;
    case DR_CHECK_ID:
        t = "check that every pod reports the source's cluster_id";
        break;
    case DR_NSTEPS:
        break;
    }
    snprintf(buf, cap, "%zu/%zu %s", i + 1, p->nsteps, t);
}

/* --- running it ---------------------------------------------------------------------------- */

struct dr_state {
    struct dr_run *r;
    struct vault_init_result tmp; /* temporary keys and root token */
    struct secret_list tmp_keys;
    struct pod_view *views;
    double same_since; /* when every pod first showed the old cluster past its index; 0: not */
    char temp_cluster_id[64]; /* the temporary cluster's, before the restore ("": not known) */
};

/* How long every pod must stay unsealed with the old cluster_id past the old index
 * before a restore without metadata counts as the cluster's own: another cluster's
 * snapshot seals the pods only after raft's fixed 5 s delay that follows the
 * install (docs/disaster-recovery.md §1.3), so twice that. */
#define DR_SAME_CLUSTER_SETTLE_S 10.0

static void views_free(struct dr_state *s)
{
    if (s->views != NULL)
        vault_views_clear(s->views, s->r->o->vc->npods);
    free(s->views);
    s->views = NULL;
}

static int step_check(struct dr_state *s, struct error *err)
{
    struct ops *o = s->r->o;
    if (ops_refresh(o, &s->views, err) < 0)
        return -1;
    struct vault_cluster *vc = o->vc;
    for (size_t i = 0; i < (size_t)vc->replicas && i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        const struct pod_view *v = &s->views[i];
        /* OrderedReady (the OpenBao chart) creates the next pod only once the one
         * before is Ready: on a fresh install only the first exists. The bring-up
         * joins the others as they come. */
        if (!p->exists && i > 0 && vc->pod_management_policy != NULL &&
            strcmp(vc->pod_management_policy, "OrderedReady") == 0)
            continue;
        if (!p->running)
            return error_set(err, ERR_GENERIC, "%s is not running (%s%s%s): every pod must run",
                             p->name, p->phase, p->reason ? ": " : "", p->reason ? p->reason : "");
        if (!v->have_status)
            return error_set(err, ERR_GENERIC, "%s did not answer vault status (%s)", p->name,
                             v->status_error ? v->status_error : "no answer");
        if (v->st.initialized)
            return error_set(err, ERR_USAGE,
                             "%s is initialized: --new-cluster restores only into a freshly "
                             "installed, uninitialized cluster (helm uninstall keeps the data "
                             "volumes: delete the PVCs data-%s-N too before installing again; "
                             "to restore over this cluster use --force)",
                             p->name, vc->name);
    }
    const struct snapmeta *m = s->r->meta;
    if (m != NULL && vc->npods > 0) {
        struct snapmeta_target t = {.product = vc->flavor,
                                    .version = s->views[0].st.version,
                                    .seal_type = s->views[0].st.type};
        if (snapmeta_check_target(m, &t, err) < 0)
            return -1;
    }
    /* Without metadata the keys file tells the source's seal kind: it must be this
     * cluster's, or the pods could not unseal the restored data (§1.4). */
    const struct dr_plan *plan = s->r->plan;
    const char *type = vc->npods > 0 && s->views[0].have_status ? s->views[0].st.type : NULL;
    if (plan != NULL && type != NULL && plan->auto_seal == snapmeta_is_shamir(type)) {
        char shown[64];
        text_sanitize(shown, sizeof shown, type, strlen(type));
        if (plan->auto_seal)
            return error_set(err, ERR_USAGE,
                             "the keys file holds recovery keys, so the source auto-unseals, and "
                             "this cluster uses shamir: its pods could not unseal the restored "
                             "data; install this cluster with the source's seal (the same KMS or "
                             "transit key)");
        return error_set(err, ERR_USAGE,
                         "this cluster auto-unseals (seal %s) and the keys file holds the unseal "
                         "keys of a Shamir source: its pods could not unseal the restored data; "
                         "install this cluster with a Shamir seal, restore, then migrate the seal",
                         shown);
    }
    return 0;
}

int dr_check_new_cluster(struct ops *o, const struct snapmeta *meta, const struct dr_plan *p,
                         struct error *err)
{
    struct dr_run r = {.o = o, .meta = meta, .plan = p};
    struct dr_state s = {.r = &r};
    int rc = step_check(&s, err);
    views_free(&s);
    return rc;
}

static int step_init(struct dr_state *s, struct error *err)
{
    struct ops *o = s->r->o;
    const struct dr_plan *p = s->r->plan;
    struct init_request req = {.shares = p->shares, .threshold = p->threshold};
    if (p->auto_seal) /* the source's recovery configuration; the seal holds the root key */
        req =
            (struct init_request){.recovery_shares = p->shares, .recovery_threshold = p->threshold};
    if (init_pod(o, o->vc->pods[0].name, &req, &s->tmp, err) < 0)
        return -1;
    s->tmp_keys = s->tmp.keys_b64;
    memset(&s->tmp.keys_b64, 0, sizeof s->tmp.keys_b64);
    secret_list_truncate(&s->tmp_keys, (size_t)s->tmp.threshold);
    return 0;
}

static int bring_up(struct ops *o, const struct secret_list *keys, const struct secret *token,
                    int self_unseal, struct error *err)
{
    struct join_options jo = {0};
    struct bring_up b = {.keys = keys, .token = token, .jo = &jo, .self_unseal = self_unseal};
    int rc = ops_bring_up(o, &b, err);
    if (rc > 0)
        return error_set(err, ERR_GENERIC, "%d pod%s did not come up (see above)", rc,
                         rc == 1 ? "" : "s");
    return rc;
}

static int step_restore(struct dr_state *s, struct error *err)
{
    struct ops *o = s->r->o;
    char active[256];
    if (ops_wait_active(o, NULL, active, sizeof active, err) < 0)
        return -1;
    snprintf(s->r->restored_on, sizeof s->r->restored_on, "%s", active);
    /* The temporary cluster's cluster_id: an auto-unseal restore shows as applied when
     * every pod reports another one, unsealed. */
    if (ops_refresh(o, &s->views, err) < 0)
        return -1;
    for (size_t i = 0; i < o->vc->npods; i++)
        if (strcmp(o->vc->pods[i].name, active) == 0 && s->views[i].have_status &&
            s->views[i].st.cluster_id != NULL)
            snprintf(s->temp_cluster_id, sizeof s->temp_cluster_id, "%s",
                     s->views[i].st.cluster_id);
    /* Without it and without metadata, pods that stay unsealed could not be told from pods
     * that have applied the snapshot. */
    if (s->r->plan->auto_seal && s->r->meta == NULL && s->temp_cluster_id[0] == '\0')
        return error_set(err, ERR_REMOTE,
                         "%s did not report its cluster_id before the restore: without the "
                         "snapshot's metadata the apply could not be told from the cluster as it "
                         "is",
                         active);
    ops_report(o, "Restoring through %s, the active pod.", active);
    return s->r->send(s->r->send_ctx, o, active, &s->tmp.root_token, err);
}

/* Polls until the snapshot shows as applied: every pod sealed itself (a
 * Shamir source), or with an auto-unseal source on the same key every pod
 * reports the source's cluster_id, or (no metadata, before_cluster_id known)
 * every pod stayed unsealed with this cluster's own cluster_id past the raft
 * index it had before: the snapshot was this cluster's own. */
static enum wait_poll apply_poll(void *ctx, char *text, size_t cap, struct error *err)
{
    struct dr_state *s = ctx;
    struct dr_run *r = s->r;
    struct ops *o = r->o;
    if (ops_refresh(o, &s->views, err) < 0)
        return WAIT_FAILED;
    const struct snapmeta *m = r->meta;
    const char *own = m == NULL ? r->before_cluster_id : NULL;
    const char *temp = s->temp_cluster_id[0] ? s->temp_cluster_id : r->before_cluster_id;
    int pods = 0, sealed = 0, source = 0, quiet = 0, same = 0, moved = 0;
    for (size_t i = 0; i < o->vc->npods; i++) {
        if (!o->vc->pods[i].exists)
            continue;
        pods++;
        const struct pod_view *v = &s->views[i];
        if (!v->have_status) {
            quiet++; /* vault status can hang while the apply holds the state lock */
            continue;
        }
        sealed += v->st.sealed;
        source += !v->st.sealed && m != NULL && v->st.cluster_id != NULL &&
                  strcmp(v->st.cluster_id, m->cluster_id) == 0;
        same += !v->st.sealed && own != NULL && v->st.cluster_id != NULL &&
                strcmp(v->st.cluster_id, own) == 0 && v->st.raft_applied_index > r->index_before;
        moved += !v->st.sealed && v->st.cluster_id != NULL &&
                 (temp == NULL || strcmp(v->st.cluster_id, temp) != 0) &&
                 (m == NULL || strcmp(v->st.cluster_id, m->cluster_id) == 0);
    }
    if (r->plan->auto_seal) {
        if (pods > 0 && moved == pods) {
            snprintf(text, cap,
                     "every pod reloaded the root key with its seal and stayed unsealed with "
                     "the source's cluster_id");
            return WAIT_DONE;
        }
        if (pods > 0 && sealed == pods) {
            error_set(err, ERR_REMOTE,
                      "every pod sealed itself after the restore: their seal cannot decrypt the "
                      "source's stored keys (another KMS or transit key than the source's, or "
                      "one they cannot reach)");
            return WAIT_FAILED;
        }
        snprintf(text, cap, "%d of %d pods on the source's cluster_id, %d sealed%s", moved, pods,
                 sealed, quiet ? ", some busy applying it" : "");
        return WAIT_PENDING;
    }
    if (pods > 0 && sealed == pods) {
        snprintf(text, cap, "every pod sealed itself: the snapshot is applied");
        return WAIT_DONE;
    }
    if (pods > 0 && source == pods) {
        snprintf(text, cap, "every pod reports the source's cluster_id");
        return WAIT_DONE;
    }
    if (pods > 0 && same == pods) {
        double now = wait_now_s();
        if (s->same_since == 0)
            s->same_since = now;
        if (now - s->same_since >= DR_SAME_CLUSTER_SETTLE_S) {
            r->same_cluster = 1;
            snprintf(text, cap,
                     "every pod stayed unsealed with this cluster's cluster_id past raft index "
                     "%lld: the snapshot was this cluster's own",
                     r->index_before);
            return WAIT_DONE;
        }
        snprintf(text, cap,
                 "every pod unsealed with this cluster's cluster_id past raft index %lld; "
                 "watching %.0f s for a seal",
                 r->index_before, DR_SAME_CLUSTER_SETTLE_S);
        return WAIT_PENDING;
    }
    s->same_since = 0;
    snprintf(text, cap, "%d of %d pods sealed%s", sealed, pods,
             quiet ? ", some busy applying it" : "");
    return WAIT_PENDING;
}

static int step_wait_apply(struct dr_state *s, struct error *err)
{
    struct waiter w = ops_waiter(s->r->o, 1000);
    w.report_always = 1; /* the apply always takes seconds: say how many */
    return wait_for(&w, "Vault to apply the snapshot", apply_poll, s, NULL, 0, err) < 0 ? -1 : 0;
}

static int step_restart(struct dr_state *s, struct error *err)
{
    struct ops *o = s->r->o;
    if (ops_refresh(o, &s->views, err) < 0)
        return -1;
    size_t n = o->vc->npods;
    char **names = calloc(n + 1, sizeof *names), **uids = calloc(n + 1, sizeof *uids);
    int rc = -1;
    if (names == NULL || uids == NULL) {
        error_set(err, ERR_GENERIC, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!o->vc->pods[i].exists)
            continue;
        names[i] = strdup(o->vc->pods[i].name);
        uids[i] = o->vc->pods[i].uid ? strdup(o->vc->pods[i].uid) : strdup("");
        if (names[i] == NULL || uids[i] == NULL) {
            error_set(err, ERR_GENERIC, "out of memory");
            goto out;
        }
        ops_report(o, "Deleting %s so that it starts with the restored seal configuration.",
                   names[i]);
        if (ops_delete_pod(o, names[i], err) < 0)
            goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (names[i] != NULL && ops_wait_pod_recreated(o, names[i], uids[i], NULL, err) < 0)
            goto out;
    rc = 0;
out:
    for (size_t i = 0; names != NULL && uids != NULL && i < n; i++) {
        free(names[i]);
        free(uids[i]);
    }
    free(names);
    free(uids);
    return rc;
}

static int step_check_id(struct dr_state *s, struct error *err)
{
    struct ops *o = s->r->o;
    if (ops_refresh(o, &s->views, err) < 0)
        return -1;
    const struct snapmeta *m = s->r->meta;
    for (size_t i = 0; i < o->vc->npods; i++) {
        const struct pod_view *v = &s->views[i];
        if (!o->vc->pods[i].exists)
            continue;
        if (!v->have_status || v->st.sealed || v->st.cluster_id == NULL)
            return error_set(
                err, ERR_GENERIC, "%s did not report a cluster_id (%s)", o->vc->pods[i].name,
                !v->have_status ? (v->status_error ? v->status_error : "no answer") : "sealed");
        if (m != NULL && strcmp(v->st.cluster_id, m->cluster_id) != 0)
            return error_set(err, ERR_REMOTE,
                             "%s reports cluster_id %s, not the source's %s: the snapshot was "
                             "not applied there",
                             o->vc->pods[i].name, v->st.cluster_id, m->cluster_id);
        snprintf(s->r->cluster_id, sizeof s->r->cluster_id, "%s", v->st.cluster_id);
        if (v->st.type != NULL)
            text_sanitize(s->r->seal, sizeof s->r->seal, v->st.type, strlen(v->st.type));
    }
    if (m != NULL)
        ops_report(o, "Every pod reports the source's cluster_id %s.", m->cluster_id);
    return 0;
}

static void wipe_temporary(struct dr_state *s)
{
    secret_list_free(&s->tmp_keys);
    vault_init_result_clear(&s->tmp);
}

int dr_run(struct dr_run *r, struct error *err)
{
    struct dr_state s = {.r = r};
    const struct dr_plan *p = r->plan;
    struct ops *o = r->o;
    int rc = 0;
    for (size_t i = 0; i < p->nsteps && rc == 0; i++) {
        char line[600];
        r->failed_step = i;
        dr_step_text(p, i, o->vc->npods ? o->vc->pods[0].name : "", line, sizeof line);
        /* Ctrl-C or SIGTERM stops the plan only while nothing has changed: once the
         * cluster is initialized with temporary keys, stopping would lose them (they are
         * wiped on the way out) and leave a cluster to reinstall. Later, only a wait
         * (o->cancel) ends a step, with the advice for that step. */
        if (o->cancel != NULL && *o->cancel &&
            (p->steps[i] == DR_CHECK || p->steps[i] == DR_INIT)) {
            r->interrupted = 1;
            rc = error_set(err, ERR_INTERRUPTED, "interrupted before step %zu of %zu (%s)", i + 1,
                           p->nsteps, line);
            break;
        }
        if (r->same_cluster && (p->steps[i] == DR_RESTART || p->steps[i] == DR_UNSEAL_SOURCE)) {
            ops_report(o, "Step %s: skipped, no pod sealed (the snapshot was this cluster's own).",
                       line);
            continue;
        }
        ops_report(o, "Step %s.", line);
        double t0 = wait_now_s();
        switch (p->steps[i]) {
        case DR_CHECK:
            rc = step_check(&s, err);
            break;
        case DR_INIT:
            rc = step_init(&s, err);
            break;
        case DR_BRING_UP_TEMP:
            rc = bring_up(o, &s.tmp_keys, &s.tmp.root_token, p->auto_seal, err);
            break;
        case DR_RESTORE:
            rc = step_restore(&s, err);
            break;
        case DR_WAIT_APPLY:
            rc = step_wait_apply(&s, err);
            break;
        case DR_WIPE:
            wipe_temporary(&s);
            break;
        case DR_RESTART:
            rc = step_restart(&s, err);
            break;
        case DR_UNSEAL_SOURCE:
            rc = bring_up(o, r->source_keys, r->source_token, 0, err);
            break;
        case DR_CHECK_ID:
            rc = step_check_id(&s, err);
            break;
        case DR_NSTEPS:
            break;
        }
        if (rc == 0)
            ops_report(o, "  done in %.1f s.", wait_now_s() - t0);
    }
    if (rc == 0)
        r->failed_step = p->nsteps;
    wipe_temporary(&s);
    views_free(&s);
    return rc < 0 ? -1 : 0;
}

/* --- after a failure ----------------------------------------------------------------------- */

/* " vault-0 vault-1 vault-2" (prefix before each name), cut short when it does not fit. */
static void pod_list(const struct vault_cluster *vc, const char *prefix, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < vc->npods && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, " %s%s", prefix, vc->pods[i].name);
        if (n < 0 || (size_t)n >= cap - used) {
            buf[used] = '\0';
            break;
        }
        used += (size_t)n;
    }
}

void dr_advice(const struct dr_plan *p, size_t i, const char *prog, const struct vault_cluster *vc,
               const char *file, const char *keys_file, char *buf, size_t cap)
{
    enum dr_step st = i < p->nsteps ? p->steps[i] : DR_NSTEPS;
    const char *kf = keys_file ? keys_file : "SOURCE_KEYS";
    const char *ns = vc->namespace;
    char pods[400], pvcs[500];
    pod_list(vc, "", pods, sizeof pods);
    pod_list(vc, "data-", pvcs, sizeof pvcs); /* the chart's volumeClaimTemplate "data" */
    switch (st) {
    case DR_CHECK:
        snprintf(buf, cap,
                 "Nothing was changed. Next: fix the above, then run `%s -n %s snapshot restore "
                 "%s --new-cluster --keys-file %s` again.",
                 prog, ns, file, kf);
        break;
    case DR_INIT:
    case DR_BRING_UP_TEMP:
    case DR_RESTORE:
        snprintf(buf, cap,
                 "The snapshot was not applied; the cluster %s initialized with temporary keys "
                 "that are now wiped, so it cannot be used. Next: reinstall it (helm -n %s "
                 "uninstall %s, then kubectl -n %s delete pvc%s, then helm install) and run `%s "
                 "-n %s snapshot restore %s --new-cluster --keys-file %s` again.",
                 st == DR_INIT ? "may be" : "is", ns, vc->release ? vc->release : vc->name, ns,
                 pvcs, prog, ns, file, kf);
        break;
    case DR_WAIT_APPLY:
        if (p->auto_seal)
            snprintf(buf, cap,
                     "Vault accepted the snapshot; the temporary recovery keys and root token are "
                     "wiped. Pods that stay unsealed with the source's cluster_id hold its data "
                     "(`%s -n %s status`). Pods that sealed themselves cannot decrypt the "
                     "source's stored keys: only the source's KMS or transit key opens them, and "
                     "its recovery keys cannot. Next: give the pods the source's seal stanza (the "
                     "same KMS or transit key, reachable from namespace %s: helm upgrade), then "
                     "delete them (kubectl -n %s delete pod%s; the StatefulSet %s creates them "
                     "again) so that they start with it and unseal themselves, then `%s -n %s "
                     "status`.",
                     prog, ns, ns, ns, pods, vc->name, prog, ns);
        else if (p->restart)
            snprintf(buf, cap,
                     "Vault accepted the snapshot and may still be applying it. Next: watch `%s "
                     "-n %s status`; once every pod is sealed, delete them (kubectl -n %s delete "
                     "pod%s; the StatefulSet %s creates them again), then unseal them with the "
                     "source's keys: `%s -n %s unseal --keys-file %s`.",
                     prog, ns, ns, pods, vc->name, prog, ns, kf);
        else
            snprintf(buf, cap,
                     "Vault accepted the snapshot and may still be applying it. Next: watch `%s "
                     "-n %s status`; once every pod is sealed, unseal them with the source's "
                     "keys: `%s -n %s unseal --keys-file %s`.",
                     prog, ns, prog, ns, kf);
        break;
    case DR_WIPE:
    case DR_RESTART:
        snprintf(buf, cap,
                 "The snapshot is applied: the cluster holds the source's data and only the "
                 "source's keys open it. Next: once every pod runs again (kubectl -n %s get "
                 "pods%s), unseal them: `%s -n %s unseal --keys-file %s`.",
                 ns, pods, prog, ns, kf);
        break;
    case DR_UNSEAL_SOURCE:
        snprintf(buf, cap,
                 "The snapshot is applied: the cluster holds the source's data and only the "
                 "source's keys open it. Next: `%s -n %s unseal --keys-file %s` for the pods "
                 "still sealed, then `%s -n %s status`.",
                 prog, ns, kf, prog, ns);
        break;
    case DR_CHECK_ID:
    case DR_NSTEPS:
        snprintf(buf, cap,
                 "The cluster is unsealed but does not show the source's identity. Next: `%s -n "
                 "%s status` and compare with the snapshot's metadata (`%s snapshot verify %s`).",
                 prog, ns, prog, file);
        break;
    }
}
