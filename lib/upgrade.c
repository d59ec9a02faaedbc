#include "upgrade.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "text.h"
#include "version.h"
#include "wait.h"

static const char *prog(const struct ops *o)
{
    return o->prog ? o->prog : "kubectl vault-ha";
}

/* Text from the API server and the pods goes into fixed fields: formatted whole
 * first, then sanitized into the field, which cuts only between characters, so
 * that every field is valid UTF-8 (a plan step whose text is not would be lost
 * from -o json). */
static void fit(char *dst, size_t cap, const char *text)
{
    text_sanitize(dst, cap, text, strlen(text));
}

static void fitf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fitf(char *dst, size_t cap, const char *fmt, ...)
{
    char whole[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(whole, sizeof whole, fmt, ap);
    va_end(ap);
    fit(dst, cap, whole);
}

/* --- versions ------------------------------------------------------------------------------ */

/* The version a pod runs: its own vault status, else its vault-version label. */
static const char *pod_version(const struct vault_pod *p, const struct pod_view *v)
{
    if (v->have_status && v->st.version != NULL && v->st.version[0] != '\0')
        return v->st.version;
    return p->label_version;
}

int upgrade_is_downgrade(const struct vault_cluster *vc, const struct pod_view *views,
                         const char *version, char *why, size_t cap)
{
    why[0] = '\0';
    for (size_t i = 0; i < vc->npods; i++) {
        const char *have = pod_version(&vc->pods[i], &views[i]);
        if (have == NULL)
            continue;
        int c = version_compare(version, have);
        if (c == -2) {
            snprintf(why, cap, "%s is not a version that can be compared with %s's %s",
                     version ? version : "(no tag)", vc->pods[i].name, have);
            return -1;
        }
        if (c < 0) {
            snprintf(why, cap, "%s runs %s, newer than %s", vc->pods[i].name, have, version);
            return 1;
        }
    }
    return 0;
}

/* --- the plan ------------------------------------------------------------------------------ */

const char *upgrade_action_name(enum upgrade_action a)
{
    switch (a) {
    case UPGRADE_BRING_BACK:
        return "bring back";
    case UPGRADE_RESTART:
        return "restart";
    default:
        return "step down";
    }
}

/* Up, unsealed and initialized: a pod that needs no repair. */
static int pod_ok(const struct vault_pod *p, const struct pod_view *v)
{
    return p->exists && p->running && !p->terminating && v->have_status && v->st.initialized &&
           !v->st.sealed;
}

static int on_revision(const struct vault_pod *p, const char *revision)
{
    return revision != NULL && revision[0] != '\0' && p->exists && !p->terminating &&
           p->revision != NULL && strcmp(p->revision, revision) == 0;
}

/* Is the roll's per-pod step done for p: on the revision, or the run's own test. */
static int roll_pod_done(const struct upgrade_run *run, const struct vault_pod *p,
                         const struct pod_view *v)
{
    if (run->done != NULL)
        return p->exists && !p->terminating && run->done->pod_done(run->done->ctx, p, v);
    return on_revision(p, run->revision);
}

static const char *roll_command(const struct upgrade_run *run)
{
    return run->done != NULL ? run->done->command : "upgrade";
}

static const char *roll_target(const struct upgrade_run *run, char *buf, size_t cap)
{
    if (run->done != NULL)
        snprintf(buf, cap, "%s", run->done->what);
    else
        snprintf(buf, cap, "revision %s", run->revision ? run->revision : "?");
    return buf;
}

static int pod_active(const struct vault_pod *p, const struct pod_view *v)
{
    return pod_ok(p, v) && v->st.is_self;
}

/* The pod's state in words, for the plan. */
static void describe(const struct vault_pod *p, const struct pod_view *v, int active, char *out,
                     size_t out_cap)
{
    char buf[1024];
    size_t cap = sizeof buf;
    if (!p->exists)
        snprintf(buf, cap, "no pod%s%s", p->reason ? ": " : "", p->reason ? p->reason : "");
    else if (p->terminating)
        snprintf(buf, cap, "terminating");
    else if (!p->running)
        snprintf(buf, cap, "not running (%s%s%s)", p->phase, p->reason ? ": " : "",
                 p->reason ? p->reason : "");
    else if (!v->have_status)
        snprintf(buf, cap, "vault status not readable");
    else if (!v->st.initialized)
        snprintf(buf, cap, "not initialized");
    else if (v->st.sealed)
        snprintf(buf, cap, "sealed");
    else
        snprintf(buf, cap, "%s", active ? "active" : "standby");
    if (p->exists && !p->terminating && p->revision != NULL)
        text_appendf(buf, cap, NULL, ", revision %s", p->revision);
    const char *ver = pod_version(p, v);
    if (ver != NULL)
        text_appendf(buf, cap, NULL, ", version %s", ver);
    fit(out, out_cap, buf);
}

static struct upgrade_step *add_step(struct upgrade_plan *plan, enum upgrade_action a,
                                     const struct vault_pod *p, const struct pod_view *v,
                                     int active)
{
    struct upgrade_step *s = &plan->steps[plan->n++];
    memset(s, 0, sizeof *s);
    s->action = a;
    fit(s->pod, sizeof s->pod, p->name);
    describe(p, v, active, s->state, sizeof s->state);
    const char *rev = plan->revision[0] ? plan->revision : "the new revision";
    switch (a) {
    case UPGRADE_BRING_BACK:
        fitf(s->precondition, sizeof s->precondition,
             "an active node, and a quorum of voters without %s", p->name);
        fitf(s->done, sizeof s->done,
             "%s runs, unsealed, a healthy raft voter caught up with the leader", p->name);
        break;
    case UPGRADE_RESTART:
        if (!p->running)
            fitf(s->precondition, sizeof s->precondition,
                 "%s is down already: the other voters hold a quorum without it", p->name);
        else
            fitf(s->precondition, sizeof s->precondition,
                 "%s is not the active node; every other pod is a healthy voter, caught "
                 "up; without %s the voters keep a quorum (failure tolerance >= 1)",
                 p->name, p->name);
        fitf(s->done, sizeof s->done,
             "%s runs %s, unsealed, a healthy raft voter caught up with the leader", p->name, rev);
        break;
    case UPGRADE_STEP_DOWN:
        fitf(s->precondition, sizeof s->precondition,
             "%s is the active node; an upgraded standby is a healthy voter", p->name);
        fitf(s->done, sizeof s->done, "the active node runs %s", rev);
        break;
    }
    return s;
}

/* Is item one of the entries of "a, b, c"? */
static int in_list(const char *list, const char *item)
{
    size_t l = strlen(item);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == l && strncmp(p, item, l) == 0)
            return 1;
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return 0;
}

static int planned(const struct upgrade_plan *plan, enum upgrade_action a, const char *pod)
{
    for (size_t i = 0; i < plan->n; i++)
        if (plan->steps[i].action == a && strcmp(plan->steps[i].pod, pod) == 0)
            return 1;
    return 0;
}

int upgrade_plan_build(const struct upgrade_facts *f, struct upgrade_plan *plan, struct error *err)
{
    const struct vault_cluster *vc = f->vc;
    memset(plan, 0, sizeof *plan);
    const char *rev = f->revision ? f->revision : vc->update_revision;
    const char *image = f->image ? f->image : vc->image;
    if (rev == NULL)
        return error_set(err, ERR_USAGE,
                         "StatefulSet %s/%s reports no updateRevision: nothing to roll to (is "
                         "the StatefulSet controller running?)",
                         vc->namespace, vc->name);
    fit(plan->revision, sizeof plan->revision, rev);
    fit(plan->image, sizeof plan->image, image ? image : "");
    char *tag = cluster_image_tag(image);
    fit(plan->version, sizeof plan->version, tag ? tag : "");
    free(tag);
    /* Bring-back, restart of a down pod, restart of each standby, step-down + restart. */
    plan->steps = calloc(3 * vc->npods + 2, sizeof *plan->steps);
    if (plan->steps == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    int active = -1;
    for (size_t i = 0; i < vc->npods; i++)
        if (pod_active(&vc->pods[i], &f->views[i]) && active < 0)
            active = (int)i;
    if (active >= 0)
        fit(plan->active, sizeof plan->active, vc->pods[active].name);
    /* 1. What a stopped run (or anyone) left down or sealed, so that every later
     * deletion starts from a full cluster. A pod down on an old revision is simply
     * deleted: it holds no vote now, and comes back on the new revision. */
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        const struct pod_view *v = &f->views[i];
        if (pod_ok(p, v))
            continue;
        if (!on_revision(p, rev) && p->exists && !p->terminating && !p->running)
            add_step(plan, UPGRADE_RESTART, p, v, 0);
        else
            add_step(plan, UPGRADE_BRING_BACK, p, v, 0);
    }
    /* 2. The standbys, one at a time, highest ordinal first (as the StatefulSet
     * controller would). */
    for (size_t k = vc->npods; k-- > 0;) {
        const struct vault_pod *p = &vc->pods[k];
        if ((int)k == active || on_revision(p, rev) || !p->exists ||
            planned(plan, UPGRADE_RESTART, p->name))
            continue;
        /* Deleted already: it comes back on the update revision (OnDelete), and step 1
         * brings it back; restarting it again would cost a second outage. */
        if (p->terminating)
            continue;
        if (p->exists && !p->terminating && !p->running)
            continue;
        add_step(plan, UPGRADE_RESTART, p, &f->views[k], 0);
    }
    /* 3. The active node last: one step-down, the one planned leader change. */
    if (active >= 0 && !on_revision(&vc->pods[active], rev)) {
        add_step(plan, UPGRADE_STEP_DOWN, &vc->pods[active], &f->views[active], 1);
        add_step(plan, UPGRADE_RESTART, &vc->pods[active], &f->views[active], 1);
        plan->leader_changes = 1;
    }
    /* What is there already, and what the pods to restart run now. */
    char upgraded[4096] = "", from[4096] = "";
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        const char *ver = pod_version(p, &f->views[i]);
        if (on_revision(p, rev) && pod_ok(p, &f->views[i]))
            text_appendf(upgraded, sizeof upgraded, NULL, "%s%s", upgraded[0] ? ", " : "", p->name);
        else if (ver != NULL && planned(plan, UPGRADE_RESTART, p->name) && !in_list(from, ver))
            text_appendf(from, sizeof from, NULL, "%s%s", from[0] ? ", " : "", ver);
    }
    fit(plan->upgraded, sizeof plan->upgraded, upgraded);
    fit(plan->from, sizeof plan->from, from);
    return 0;
}

void upgrade_plan_free(struct upgrade_plan *plan)
{
    free(plan->steps);
    memset(plan, 0, sizeof *plan);
}

json_t *upgrade_plan_json(const struct upgrade_plan *plan)
{
    /* Every field is valid UTF-8 (fit), so a pack fails only when memory is short:
     * then there is no document rather than one without some of its steps. */
    json_t *steps = json_array(), *upgraded = json_array();
    int ok = steps != NULL && upgraded != NULL;
    for (size_t i = 0; ok && i < plan->n; i++) {
        const struct upgrade_step *s = &plan->steps[i];
        json_t *step = json_pack("{s:s, s:s, s:s, s:s, s:s}", "pod", s->pod, "action",
                                 upgrade_action_name(s->action), "state", s->state, "precondition",
                                 s->precondition, "done", s->done);
        ok = step != NULL && json_array_append_new(steps, step) == 0;
    }
    for (const char *p = plan->upgraded; ok && *p;) {
        size_t n = strcspn(p, ",");
        json_t *pod = json_stringn(p, n);
        ok = pod != NULL && json_array_append_new(upgraded, pod) == 0;
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    if (!ok) {
        json_decref(steps);
        json_decref(upgraded);
        return NULL;
    }
    return json_pack("{s:s?, s:s, s:s, s:s, s:o, s:i, s:s?, s:o}", "revision",
                     plan->revision[0] ? plan->revision : NULL, "image", plan->image, "version",
                     plan->version, "from", plan->from, "steps", steps, "leaderChanges",
                     plan->leader_changes, "active", plan->active[0] ? plan->active : NULL,
                     "upgraded", upgraded);
}

/* --- may the cluster be touched? ----------------------------------------------------------- */

int upgrade_judge(const struct vault_cluster *vc, const struct ops_reading *r, const char *pod,
                  char *why, size_t cap)
{
    const struct health *h = &r->h;
    why[0] = '\0';
    if (h->state == HEALTH_UNKNOWN) {
        snprintf(why, cap, "no pod answered vault status");
        return -1;
    }
    if (h->active_pod == NULL) {
        snprintf(why, cap, "no active node (a leader election, or no quorum)");
        return -1;
    }
    /* Problems an upgrade does not explain or repair stop it. */
    size_t i;
    json_t *x;
    int others = 0;
    json_array_foreach(h->problems, i, x)
    {
        /* Pods down or sealed: the plan brings them back first; before a deletion
         * they are checked one by one below. */
        if (strcmp(health_problem_kind(h, json_string_value(x)), "other") == 0) {
            text_appendf(why, cap, NULL, "%s%s",
                         others++ ? "; " : "the cluster is degraded: ", json_string_value(x));
        }
    }
    /* Before a deletion, every other pod must be up: the one about to go is the
     * only margin the plan spends. */
    int self_live = 0;
    char down[512] = "";
    for (size_t k = 0; k < vc->npods; k++) {
        const struct vault_pod *p = &vc->pods[k];
        int ok = pod_ok(p, &r->views[k]);
        if (pod != NULL && strcmp(p->name, pod) == 0)
            self_live = ok;
        else if (!ok)
            text_appendf(down, sizeof down, NULL, "%s%s", down[0] ? ", " : "", p->name);
    }
    if (pod != NULL && down[0] != '\0' && others == 0)
        text_appendf(why, cap, NULL, "%s%s %s not a healthy, unsealed member yet",
                     others++ ? "; " : "", down, strchr(down, ',') ? "are" : "is");
    if (others > 0) {
        size_t n;
        json_t *next;
        json_array_foreach(h->next, n, next)
            text_appendf(why, cap, NULL, "%s`%s`", n ? ", " : "; run ", json_string_value(next));
        return -1;
    }
    /* Quorum: the voters that are up, the one to delete not counted. */
    int live = h->live_voters - (pod != NULL && self_live ? 1 : 0);
    if (live < h->quorum) {
        snprintf(why, cap, "%s would leave %d of %d raft voters up, and a quorum needs %d",
                 pod ? pod : "?", live, h->voters, h->quorum);
        return -1;
    }
    int all_ok = 1;
    for (size_t k = 0; k < vc->npods; k++)
        all_ok &= pod_ok(&vc->pods[k], &r->views[k]);
    if ((pod != NULL && self_live) || (pod == NULL && all_ok)) {
        if (h->failure_tolerance < 1) {
            snprintf(why, cap,
                     "the failure tolerance is %d (%d voters, a quorum needs %d): restarting any "
                     "voter would lose quorum; add voters first",
                     h->failure_tolerance < 0 ? 0 : h->failure_tolerance, h->voters, h->quorum);
            return -1;
        }
    }
    return 0;
}

/* --- running the steps --------------------------------------------------------------------- */

static struct vault_pod *find(struct ops *o, const char *pod, const struct pod_view **view,
                              const struct ops_reading *r)
{
    struct vault_pod *p = cluster_find_pod(o->vc, pod);
    if (p != NULL && view != NULL)
        *view = &r->views[p - o->vc->pods];
    return p;
}

static int bring_up(struct ops *o, const struct upgrade_run *run, const char *pod, int wait_running,
                    enum roll_unseal unseal, struct error *err)
{
    const char *pods[] = {pod};
    struct bring_up b = {.keys = run->keys,
                         .token = run->token,
                         .pods = pods,
                         .npods = 1,
                         .wait_running = wait_running,
                         .self_unseal = unseal == ROLL_UNSEAL_DEFAULT && run->self_unseal};
    int saved = o->unseal_migrate;
    o->unseal_migrate = unseal == ROLL_UNSEAL_MIGRATE;
    int rc = ops_bring_up(o, &b, err);
    o->unseal_migrate = saved;
    if (rc > 0)
        return error_set(err, ERR_REMOTE, "%s could not be brought back (see above)", pod);
    return rc;
}

/* Waits (a little: guard_timeout_ms) until deleting pod is safe. */
struct guard {
    struct ops *o;
    const struct upgrade_run *run;
    const char *pod;
    struct ops_reading r;
};

static enum wait_poll check_guard(void *ctx, char *text, size_t cap, struct error *err)
{
    struct guard *g = ctx;
    if (ops_read(g->o, g->run->token, &g->r, err) < 0)
        return WAIT_FAILED;
    if (upgrade_judge(g->o->vc, &g->r, g->pod, text, cap) < 0)
        return WAIT_PENDING;
    snprintf(text, cap, "the others keep a quorum without %s", g->pod);
    return WAIT_DONE;
}

/* The waits before a deletion: polled each second, within the guard's limit. */
static struct waiter guard_waiter(const struct ops *o, const struct upgrade_run *run)
{
    struct waiter w = ops_waiter(o, 1000);
    if (run->guard_timeout_ms > 0 && run->guard_timeout_ms < w.timeout_ms)
        w.timeout_ms = run->guard_timeout_ms;
    return w;
}

static int guard_deletion(struct ops *o, const struct upgrade_run *run, const char *pod,
                          struct error *err)
{
    struct guard g = {.o = o, .run = run, .pod = pod};
    struct waiter w = guard_waiter(o, run);
    char what[300];
    snprintf(what, sizeof what, "the cluster to be able to lose %s", pod);
    int rc = wait_for(&w, what, check_guard, &g, NULL, 0, err);
    if (rc < 0 && err->kind == ERR_TIMEOUT) {
        char last[ERROR_MSG_MAX];
        upgrade_judge(o->vc, &g.r, pod, last, sizeof last);
        error_set(err, ERR_REMOTE, "not deleting %s: %s", pod, last);
    }
    if (rc >= 0 && run->token != NULL) {
        /* Every other member caught up with the leader: a lagging one cannot help
         * commit while pod is away. */
        const char *others[64];
        size_t n = 0;
        for (size_t k = 0; k < o->vc->npods && n < 64; k++)
            if (strcmp(o->vc->pods[k].name, pod) != 0 && o->vc->pods[k].exists)
                others[n++] = o->vc->pods[k].name;
        /* Quietly: each pod's "raft voter" line was said when it came back. */
        ops_report_fn said = o->report;
        o->report = NULL;
        rc = ops_wait_voters(o, run->token, others, n, err);
        o->report = said;
    }
    ops_reading_clear(o, &g.r);
    return rc < 0 ? -1 : 0;
}

/* POST pods/eviction: a deletion the PodDisruptionBudget may refuse (429). */
static int evict_pod(struct ops *o, const char *pod, struct error *err)
{
    char *ns = kube_urlencode(o->vc->namespace), *name = kube_urlencode(pod);
    char path[1024];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/eviction", ns ? ns : "",
             name ? name : "");
    free(ns);
    free(name);
    json_t *ev = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "policy/v1", "kind",
                           "Eviction", "metadata", "name", pod, "namespace", o->vc->namespace);
    char *body = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (body == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    int rc = kube_send(o->kube, "POST", path, body, NULL, err);
    free(body);
    if (rc < 0 && err->http_status != 429)
        return error_wrap(err, "evicting pod %s", pod);
    return rc;
}

/* A planned standby made active by a leader change is stepped down this many
 * times at most before the upgrade gives up (the cluster keeps electing it). */
#define STEP_DOWNS_MAX 3

/* Right before the deletion, polled until it is done: the pod is not the
 * active node (a leader change during the guard's wait may have made it so:
 * it steps down first), the cluster can still lose it, the lock is ours, and
 * the PodDisruptionBudget lets it go. */
struct removal {
    struct ops *o;
    const struct upgrade_run *run;
    const char *pod;
    int step_downs;
    char refused[ERROR_MSG_MAX]; /* the budget's last refusal, or "" */
};

static enum wait_poll check_removal(void *ctx, char *text, size_t cap, struct error *err)
{
    struct removal *m = ctx;
    struct ops *o = m->o;
    struct ops_reading r = {0};
    enum wait_poll res = WAIT_FAILED;
    if (ops_read(o, m->run->token, &r, err) < 0)
        goto out;
    const struct pod_view *v = NULL;
    struct vault_pod *p = find(o, m->pod, &v, &r);
    if (p == NULL) {
        error_set(err, ERR_REMOTE, "no pod %s in StatefulSet %s/%s", m->pod, o->vc->namespace,
                  o->vc->name);
        goto out;
    }
    if (pod_active(p, v)) {
        if (m->run->token == NULL) {
            error_set(err, ERR_USAGE,
                      "%s became the active node (a leader change) and a Vault token is needed to "
                      "step it down",
                      m->pod);
            goto out;
        }
        if (m->step_downs >= STEP_DOWNS_MAX) {
            error_set(err, ERR_REMOTE,
                      "%s is the active node again after %d step-downs: not deleting it; run `%s "
                      "upgrade` again to plan from the cluster as it is",
                      m->pod, m->step_downs, prog(o));
            goto out;
        }
        if (lease_check(m->run->lock, err) < 0 || ops_step_down(o, m->run->token, m->pod, err) < 0)
            goto out;
        m->step_downs++;
        ops_report(o,
                   "%s: became the active node during the wait (a leader change); stepped it "
                   "down before its restart",
                   m->pod);
        snprintf(text, cap, "%s stepped down, another node to become active", m->pod);
        res = WAIT_PENDING;
        goto out;
    }
    if (upgrade_judge(o->vc, &r, m->pod, text, cap) < 0) {
        res = WAIT_PENDING;
        goto out;
    }
    if (lease_check(m->run->lock, err) < 0)
        goto out;
    if (evict_pod(o, m->pod, err) == 0) {
        m->refused[0] = '\0';
        snprintf(text, cap, "%s evicted", m->pod);
        res = WAIT_DONE;
    } else if (err->http_status == 429) {
        snprintf(m->refused, sizeof m->refused, "%s", err->msg);
        snprintf(text, cap, "the PodDisruptionBudget refuses: %s", err->msg);
        error_clear(err);
        res = WAIT_PENDING;
    }
out:
    ops_reading_clear(o, &r);
    return res;
}

static int remove_pod(struct ops *o, const struct upgrade_run *run, const char *pod,
                      struct error *err)
{
    struct removal m = {.o = o, .run = run, .pod = pod};
    struct waiter w = guard_waiter(o, run);
    char what[300];
    snprintf(what, sizeof what, "%s to be evicted", pod);
    int rc = wait_for(&w, what, check_removal, &m, NULL, 0, err);
    if (rc < 0 && err->kind == ERR_TIMEOUT && m.refused[0] != '\0') {
        char refused[ERROR_MSG_MAX];
        snprintf(refused, sizeof refused, "%s", m.refused);
        error_set(err, ERR_REMOTE,
                  "the PodDisruptionBudget does not let %s go: the API server refused its eviction "
                  "until the wait ended (%s). The upgrade keeps to the budget: see `kubectl get "
                  "pdb -n %s`, then run `%s upgrade` again",
                  pod, refused, o->vc->namespace, prog(o));
    }
    return rc < 0 ? -1 : 0;
}

static int run_restart(struct ops *o, const struct upgrade_run *run, const char *pod,
                       enum roll_unseal unseal, struct error *err)
{
    char target[300];
    roll_target(run, target, sizeof target);
    struct ops_reading r = {0};
    int rc = -1;
    if (ops_read(o, run->token, &r, err) < 0)
        goto out;
    const struct pod_view *v = NULL;
    struct vault_pod *p = find(o, pod, &v, &r);
    if (p == NULL) {
        error_set(err, ERR_REMOTE, "no pod %s in StatefulSet %s/%s", pod, o->vc->namespace,
                  o->vc->name);
        goto out;
    }
    /* Done already (a resumed run)? Then only make sure it is a healthy voter. */
    if (roll_pod_done(run, p, v)) {
        int ok = pod_ok(p, v);
        ops_report(o, "%s: %s already%s", pod, target, ok ? "" : "; bringing it back");
        rc = bring_up(o, run, pod, !ok, unseal, err);
        goto out;
    }
    if (pod_active(p, v)) {
        error_set(err, ERR_REMOTE,
                  "%s is the active node now, a leader change the plan did not make: run `%s "
                  "%s` again to plan from the cluster as it is",
                  pod, prog(o), roll_command(run));
        goto out;
    }
    char old_uid[128], old_rev[256], old_ver[128];
    snprintf(old_uid, sizeof old_uid, "%s", p->uid ? p->uid : "");
    snprintf(old_rev, sizeof old_rev, "%s", p->revision ? p->revision : "?");
    snprintf(old_ver, sizeof old_ver, "%s", pod_version(p, v) ? pod_version(p, v) : "?");
    if (guard_deletion(o, run, pod, err) < 0)
        goto out;
    if (o->cancel != NULL && *o->cancel) {
        error_set(err, ERR_INTERRUPTED, "interrupted before deleting %s", pod);
        goto out;
    }
    double t0 = wait_now_s();
    if (remove_pod(o, run, pod, err) < 0)
        goto out;
    /* "Healthy again within --timeout" counts from the deletion: the reads and the
     * quorum guard before it have limits of their own, and on a busy machine they
     * must not eat the pod's time to come back. */
    o->deadline_s = t0 + (double)run->pod_timeout_ms / 1000.0;
    ops_report(o, "%s: deleted (revision %s, version %s)", pod, old_rev, old_ver);
    if (ops_wait_pod_recreated(o, pod, old_uid[0] ? old_uid : NULL, run->revision, err) < 0)
        goto out;
    if (bring_up(o, run, pod, 0, unseal, err) < 0)
        goto out;
    ops_reading_clear(o, &r);
    if (ops_read(o, run->token, &r, err) < 0)
        goto out;
    p = find(o, pod, &v, &r);
    const char *ver = p ? pod_version(p, v) : NULL;
    if (run->done != NULL)
        ops_report(o, "%s: back, %s, in %.1f s", pod, target, wait_now_s() - t0);
    else
        ops_report(o, "%s: upgraded to %s (revision %s) in %.1f s", pod, ver ? ver : "?",
                   run->revision, wait_now_s() - t0);
    rc = 0;
out:
    ops_reading_clear(o, &r);
    return rc;
}

static int run_step_down(struct ops *o, const struct upgrade_run *run, const char *pod,
                         struct error *err)
{
    struct ops_reading r = {0};
    int rc = -1;
    if (ops_read(o, run->token, &r, err) < 0)
        goto out;
    const char *active = r.h.active_pod;
    char now_active[256] = "";
    if (active == NULL) {
        if (ops_wait_active(o, NULL, now_active, sizeof now_active, err) < 0 ||
            ops_read(o, run->token, &r, err) < 0)
            goto out;
        active = r.h.active_pod;
    }
    const struct pod_view *v = NULL;
    struct vault_pod *ap = active ? find(o, active, &v, &r) : NULL;
    char target[300];
    roll_target(run, target, sizeof target);
    if (ap != NULL && roll_pod_done(run, ap, v)) {
        ops_report(o, "%s is active, %s already", active, target);
        rc = 0;
        goto out;
    }
    if (active == NULL || strcmp(active, pod) != 0) {
        error_set(err, ERR_REMOTE,
                  "the plan expected %s to be the active node, but %s is: run `%s %s` again "
                  "to plan from the cluster as it is",
                  pod, active ? active : "none", prog(o), roll_command(run));
        goto out;
    }
    char why[ERROR_MSG_MAX];
    if (upgrade_takeover_ready(run, o->vc, r.views, pod, why, sizeof why) < 0) {
        error_set(err, ERR_REMOTE, "%s", why);
        goto out;
    }
    if (run->token == NULL) {
        error_set(err, ERR_USAGE, "a Vault token is needed to step %s down", pod);
        goto out;
    }
    if (o->cancel != NULL && *o->cancel) {
        error_set(err, ERR_INTERRUPTED, "interrupted before stepping %s down", pod);
        goto out;
    }
    if (lease_check(run->lock, err) < 0)
        goto out;
    double t0 = wait_now_s();
    if (ops_step_down(o, run->token, pod, err) < 0)
        goto out;
    ops_report(o, "%s: stepped down", pod);
    if (ops_wait_active(o, pod, now_active, sizeof now_active, err) < 0)
        goto out;
    if (ops_read(o, run->token, &r, err) < 0)
        goto out;
    ap = find(o, now_active, &v, &r);
    if (run->done != NULL)
        ops_report(o, "%s is active (was %s), %s%s, in %.1f s", now_active, pod,
                   ap && roll_pod_done(run, ap, v) ? "" : "NOT: ", target, wait_now_s() - t0);
    else
        ops_report(o, "%s is active (was %s), %s revision %s, in %.1f s", now_active, pod,
                   ap && on_revision(ap, run->revision) ? "on" : "NOT on", run->revision,
                   wait_now_s() - t0);
    rc = 0;
out:
    ops_reading_clear(o, &r);
    return rc;
}

int upgrade_takeover_ready(const struct upgrade_run *run, const struct vault_cluster *vc,
                           const struct pod_view *views, const char *pod, char *why, size_t cap)
{
    char target[300], behind[512] = "";
    roll_target(run, target, sizeof target);
    int ready = 0;
    for (size_t k = 0; k < vc->npods; k++) {
        const struct vault_pod *q = &vc->pods[k];
        if (strcmp(q->name, pod) == 0 || !q->exists)
            continue;
        if (roll_pod_done(run, q, &views[k]) && pod_ok(q, &views[k]))
            ready++;
        else
            text_appendf(behind, sizeof behind, NULL, "%s%s", behind[0] ? ", " : "", q->name);
    }
    if (ready == 0) {
        snprintf(why, cap, "no standby (%s) can take over from %s", target, pod);
        return -1;
    }
    /* A seal migration happens on the node that takes over, only if it was started in
     * migration mode: raft may hand leadership to any voter, so every one must be. */
    if (run->done != NULL && behind[0] != '\0') {
        snprintf(why, cap,
                 "not every other pod is on %s and unsealed (%s): a step-down now may "
                 "hand leadership to one that is not; run %s again",
                 target, behind, roll_command(run));
        return -1;
    }
    return 0;
}

int upgrade_run_step(struct ops *o, const struct upgrade_run *run, const struct upgrade_step *s,
                     struct error *err)
{
    long saved_timeout = o->timeout_ms;
    double saved_deadline = o->deadline_s;
    /* One pod's whole way back (start, unseal, promotion, catch-up) shares one budget. */
    o->timeout_ms = run->pod_timeout_ms;
    o->deadline_s = wait_now_s() + (double)run->pod_timeout_ms / 1000.0;
    int rc;
    switch (s->action) {
    case UPGRADE_BRING_BACK:
        rc = bring_up(o, run, s->pod, 1, s->unseal, err);
        break;
    case UPGRADE_RESTART:
        rc = run_restart(o, run, s->pod, s->unseal, err);
        break;
    default:
        rc = run_step_down(o, run, s->pod, err);
        break;
    }
    o->timeout_ms = saved_timeout;
    o->deadline_s = saved_deadline;
    if (rc < 0 && err->kind == ERR_TIMEOUT) {
        char limit[32];
        wait_format_duration(limit, sizeof limit, run->pod_timeout_ms);
        error_wrap(err, "%s was not healthy again within %s (--timeout)", s->pod, limit);
    }
    return rc;
}

/* --- a new image ------------------------------------------------------------------------- */

struct observed_wait {
    struct ops *o;
    long long generation;
};

static enum wait_poll check_observed(void *ctx, char *text, size_t cap, struct error *err)
{
    struct observed_wait *w = ctx;
    struct vault_cluster *vc = w->o->vc;
    if (cluster_refresh_statefulset(w->o->kube, vc, NULL, err) < 0)
        return WAIT_FAILED;
    if (vc->observed_generation >= w->generation && vc->update_revision != NULL) {
        snprintf(text, cap, "revision %s", vc->update_revision);
        return WAIT_DONE;
    }
    snprintf(text, cap, "observedGeneration %lld of %lld", vc->observed_generation, w->generation);
    return WAIT_PENDING;
}

int upgrade_set_image(struct ops *o, const char *image, char *old, size_t old_cap,
                      struct error *err)
{
    struct vault_cluster *vc = o->vc;
    char path[1024];
    cluster_statefulset_path(vc, path, sizeof path);
    json_t *sts = NULL;
    if (cluster_refresh_statefulset(o->kube, vc, &sts, err) < 0)
        return -1;
    json_t *containers = json_object_get(
        json_object_get(json_object_get(json_object_get(sts, "spec"), "template"), "spec"),
        "containers");
    size_t idx = 0;
    json_t *c = NULL, *it;
    json_array_foreach(containers, idx, it)
    {
        const char *n = jstr(it, "name");
        if (n != NULL && strcmp(n, vc->container) == 0) {
            c = it;
            break;
        }
    }
    const char *cur = jstr(c, "image");
    if (c == NULL || cur == NULL) {
        json_decref(sts);
        return error_set(err, ERR_REMOTE, "StatefulSet %s/%s has no container \"%s\" with an image",
                         vc->namespace, vc->name, vc->container);
    }
    snprintf(old, old_cap, "%s", cur);
    json_decref(sts);
    if (strcmp(old, image) == 0)
        return 0;
    /* test the name and the image we read, then replace: all or nothing. */
    char base[128];
    snprintf(base, sizeof base, "/spec/template/spec/containers/%zu", idx);
    char p_name[160], p_image[160];
    snprintf(p_name, sizeof p_name, "%s/name", base);
    snprintf(p_image, sizeof p_image, "%s/image", base);
    json_t *patch = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]", "op", "test",
                              "path", p_name, "value", vc->container, "op", "test", "path", p_image,
                              "value", old, "op", "replace", "path", p_image, "value", image);
    char *body = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
    json_decref(patch);
    if (body == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    json_t *after = NULL;
    int rc = kube_patch(o->kube, path, "application/json-patch+json", body, &after, err);
    free(body);
    if (rc < 0) {
        if (err->http_status == 422) {
            struct error e2 = {0};
            char now[512] = "?";
            if (cluster_refresh_statefulset(o->kube, vc, NULL, &e2) == 0 && vc->image != NULL)
                snprintf(now, sizeof now, "%s", vc->image);
            return error_set(err, ERR_REMOTE,
                             "the StatefulSet changed while it was being patched (its image is "
                             "now %s, was %s): run `%s upgrade` again",
                             now, old, prog(o));
        }
        return error_wrap(err, "patching the image of StatefulSet %s/%s", vc->namespace, vc->name);
    }
    long long generation =
        json_integer_value(json_object_get(json_object_get(after, "metadata"), "generation"));
    json_decref(after);
    return upgrade_wait_observed(o, generation, err);
}

int upgrade_wait_observed(struct ops *o, long long generation, struct error *err)
{
    struct observed_wait w = {.o = o, .generation = generation};
    struct waiter wt = ops_waiter(o, 250);
    if (wait_for(&wt, "the StatefulSet controller to take the new template", check_observed, &w,
                 NULL, 0, err) < 0)
        return -1;
    return 0;
}
