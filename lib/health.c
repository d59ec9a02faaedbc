#include "health.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "text.h"

/* Appends a message unless it is there already; returns 1 when it was added. */
static int add(json_t *arr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add(json_t *arr, const char *fmt, ...)
{
    /* Whole, not cut to a buffer: a scheduler message can be long, and the
     * findings are where status shows it. */
    va_list ap;
    va_start(ap, fmt);
    char *text = text_vprintf(fmt, ap);
    va_end(ap);
    if (text == NULL)
        return 0;
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) if (strcmp(json_string_value(x), text) == 0)
    {
        free(text);
        return 0;
    }
    json_t *s = json_string(text);
    if (s == NULL) { /* not UTF-8: kept, escaped, rather than dropped */
        char *safe = text_sanitize_dup(text);
        s = safe ? json_string(safe) : NULL;
        free(safe);
    }
    free(text);
    return json_array_append_new(arr, s) == 0;
}

/* Records the kind of the problem just added (added: add()'s answer) and counts it. */
static int mark(struct health *h, const char *kind, int added)
{
    if (!added)
        return 0;
    const char *text =
        json_string_value(json_array_get(h->problems, json_array_size(h->problems) - 1));
    json_object_set_new(h->kinds, text, json_string(kind));
    if (strcmp(kind, "update") == 0)
        h->update_problems++;
    else if (strcmp(kind, "pod") == 0)
        h->pod_problems++;
    else
        h->label_problems++;
    return 1;
}

const char *health_problem_kind(const struct health *h, const char *problem)
{
    const char *k = jstr(h->kinds, problem);
    return k ? k : "other";
}

const char *health_state_name(enum health_state s)
{
    switch (s) {
    case HEALTH_HEALTHY:
        return "healthy";
    case HEALTH_DEGRADED:
        return "degraded";
    case HEALTH_UNAVAILABLE:
        return "unavailable";
    default:
        return "unknown";
    }
}

void health_clear(struct health *h)
{
    free(h->pods);
    json_decref(h->problems);
    json_decref(h->kinds);
    json_decref(h->next);
    memset(h, 0, sizeof *h);
}

static int is_unsealed(const struct pod_view *v)
{
    return v->have_status && v->st.initialized && !v->st.sealed;
}

/* Labels that disagree with vault status (they lag behind); returns how many were added. */
static int check_labels(const struct vault_pod *p, const struct pod_view *v, struct health *h,
                        const char *prefix)
{
    json_t *problems = h->problems;
    int n = 0;
    if (!v->have_status)
        return 0;
    if (p->label_sealed != TRI_UNKNOWN && (p->label_sealed == TRI_TRUE) != (v->st.sealed != 0))
        n +=
            mark(h, "label",
                 add(problems,
                     "%s is labelled %s-sealed=%s but its vault status says %s (labels lag behind)",
                     p->name, prefix, p->label_sealed == TRI_TRUE ? "true" : "false",
                     v->st.sealed ? "sealed" : "unsealed"));
    if (p->label_active != TRI_UNKNOWN && (p->label_active == TRI_TRUE) != (v->st.is_self != 0))
        n += mark(
            h, "label",
            add(problems,
                "%s is labelled %s-active=%s but its vault status says %s (the %s-active Service "
                "routes by this label)",
                p->name, prefix, p->label_active == TRI_TRUE ? "true" : "false",
                v->st.is_self ? "active" : "not active", prefix));
    if (p->label_initialized != TRI_UNKNOWN &&
        (p->label_initialized == TRI_TRUE) != (v->st.initialized != 0))
        n += mark(h, "label",
                  add(problems, "%s is labelled %s-initialized=%s but its vault status says %s",
                      p->name, prefix, p->label_initialized == TRI_TRUE ? "true" : "false",
                      v->st.initialized ? "initialized" : "not initialized"));
    return n;
}

void health_judge(const struct health_input *in, struct health *h)
{
    const struct vault_cluster *vc = in->vc;
    memset(h, 0, sizeof *h);
    h->problems = json_array();
    h->kinds = json_object();
    h->next = json_array();
    h->pods = calloc(vc->npods + 1, sizeof *h->pods);
    h->failure_tolerance = -1;
    const char *prog = in->prog ? in->prog : "kubectl vault-ha";

    int running = 0, answered = 0, initialized = 0, sealed = 0, uninitialized = 0, actives = 0;
    const char *first_cluster_id = NULL;
    int split = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        const struct pod_view *v = &in->views[i];
        struct health_pod *hp = &h->pods[i];
        if (!p->exists) {
            hp->role = "down";
            mark(h, "pod",
                 add(h->problems, "%s has no pod: %s", p->name, p->reason ? p->reason : "unknown"));
            continue;
        }
        if (!p->running) {
            hp->role = "down";
            mark(h, "pod",
                 add(h->problems, "%s is not running: %s%s%s%s", p->name, p->phase,
                     p->reason ? " (" : "", p->reason ? p->reason : "", p->reason ? ")" : ""));
            continue;
        }
        running++;
        if (!v->have_status) {
            hp->role = "unknown";
            add(h->problems, "%s: cannot read its vault status: %s", p->name,
                v->status_error ? v->status_error : "no answer");
            continue;
        }
        answered++;
        check_labels(p, v, h, vc->flavor);
        if (!v->st.initialized) {
            hp->role = "uninitialized";
            uninitialized++;
        } else if (v->st.sealed) {
            hp->role = "sealed";
            initialized++;
            sealed++;
        } else {
            initialized++;
            hp->role = v->st.is_self ? "active" : "standby";
            if (v->st.is_self) {
                actives++;
                if (h->active_pod == NULL)
                    h->active_pod = p->name;
            }
            if (v->st.cluster_id != NULL) {
                if (first_cluster_id == NULL)
                    first_cluster_id = v->st.cluster_id;
                else if (strcmp(first_cluster_id, v->st.cluster_id) != 0)
                    split = 1;
            }
        }
    }

    /* Versions: between pods, and against what the StatefulSet asks for (OnDelete updates). */
    const char *seen_version = NULL;
    int skew = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        const struct pod_view *v = &in->views[i];
        const struct vault_pod *p = &vc->pods[i];
        const char *ver =
            v->have_status && v->st.version && v->st.version[0] ? v->st.version : p->label_version;
        if (ver == NULL)
            continue;
        if (seen_version == NULL)
            seen_version = ver;
        else if (strcmp(seen_version, ver) != 0)
            skew = 1;
        if (p->image != NULL && vc->image != NULL && strcmp(p->image, vc->image) != 0)
            mark(h, "update",
                 add(h->problems,
                     "%s runs %s but the StatefulSet wants %s: delete the pod to update it "
                     "(updateStrategy OnDelete)",
                     p->name, p->image, vc->image));
    }
    if (skew) {
        char list[512] = "";
        size_t len = 0;
        for (size_t i = 0; i < vc->npods; i++) {
            const struct pod_view *v = &in->views[i];
            const char *ver =
                v->have_status && v->st.version ? v->st.version : vc->pods[i].label_version;
            if (ver != NULL && len < sizeof list) {
                int w = snprintf(list + len, sizeof list - len, "%s%s %s", len ? ", " : "",
                                 vc->pods[i].name, ver);
                if (w > 0)
                    len += (size_t)w;
            }
        }
        mark(h, "update", add(h->problems, "version skew: %s", list));
    }

    if (split)
        add(h->problems,
            "unsealed pods report different cluster ids: some pods were initialized as a "
            "separate Vault cluster");
    if (actives > 1)
        add(h->problems, "%d pods report themselves active", actives);

    /* Raft membership: the peers when we have them, else one voter per replica. */
    if (in->peers != NULL) {
        h->voters = 0;
        h->live_voters = 0;
        for (size_t k = 0; k < in->peers->n; k++) {
            const struct vault_peer *peer = &in->peers->items[k];
            struct vault_pod *pp =
                cluster_pod_for_address((struct vault_cluster *)vc, peer->address);
            if (peer->voter)
                h->voters++;
            if (pp == NULL) {
                add(h->problems,
                    "raft peer %s (%s) has no pod: a dead %s that eats failure tolerance; "
                    "remove it",
                    peer->node_id, peer->address, peer->voter ? "voter" : "peer");
                add(h->next, "%s remove-peer %s", prog, peer->node_id);
                continue;
            }
            size_t idx = (size_t)(pp - vc->pods);
            h->pods[idx].node_id = peer->node_id;
            h->pods[idx].raft = peer->leader ? "leader" : peer->voter ? "follower" : "non-voter";
            if (peer->voter && is_unsealed(&in->views[idx]))
                h->live_voters++;
            if (!peer->voter)
                add(h->problems,
                    "%s is a non-voter: autopilot promotes it after its stabilization time; "
                    "until then it does not count for quorum",
                    pp->name);
        }
        for (size_t i = 0; i < vc->npods; i++) {
            if (h->pods[i].raft != NULL || !vc->pods[i].exists)
                continue;
            const struct pod_view *v = &in->views[i];
            if (!v->have_status)
                continue;
            h->pods[i].raft = "not a member";
            if (is_unsealed(v))
                add(h->problems, "%s is unsealed but not a raft peer of the active node",
                    vc->pods[i].name);
        }
        /* Voters that share a node: losing that node could take quorum. */
        int spare = h->live_voters - (h->voters / 2 + 1);
        for (size_t i = 0; i < vc->npods; i++) {
            const struct vault_pod *p = &vc->pods[i];
            if (p->node == NULL || h->pods[i].raft == NULL ||
                (strcmp(h->pods[i].raft, "leader") != 0 &&
                 strcmp(h->pods[i].raft, "follower") != 0))
                continue;
            int same = 0;
            char names[256] = "";
            size_t len = 0;
            int first_on_node = 1;
            for (size_t j = 0; j < vc->npods; j++) {
                const struct vault_pod *q = &vc->pods[j];
                if (q->node == NULL || strcmp(q->node, p->node) != 0 || h->pods[j].raft == NULL ||
                    (strcmp(h->pods[j].raft, "leader") != 0 &&
                     strcmp(h->pods[j].raft, "follower") != 0))
                    continue;
                if (j < i)
                    first_on_node = 0;
                same++;
                int w = snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", q->name);
                if (w > 0 && (size_t)w < sizeof names - len)
                    len += (size_t)w;
            }
            if (first_on_node && same > 1 && same > spare)
                add(h->problems, "voters %s run on the same node %s: losing it loses quorum", names,
                    p->node);
        }
    } else {
        h->voters = vc->replicas;
        h->live_voters = initialized - sealed;
        for (size_t i = 0; i < vc->npods; i++)
            if (h->pods[i].role != NULL && strcmp(h->pods[i].role, "active") == 0)
                h->pods[i].raft = "leader";
    }
    h->quorum = h->voters / 2 + 1;
    if (in->autopilot != NULL)
        h->failure_tolerance = in->autopilot->failure_tolerance;
    else
        h->failure_tolerance = h->live_voters >= h->quorum ? h->live_voters - h->quorum : 0;

    /* What to do next. */
    if (answered > 0 && initialized == 0) {
        add(h->problems, "Vault is not initialized");
        add(h->next, "%s bootstrap --output vault-keys.json", prog);
    } else {
        if (uninitialized > 0) {
            mark(h, "pod",
                 add(h->problems, "%d pod%s not initialized: not joined to the raft cluster",
                     uninitialized, uninitialized == 1 ? " is" : "s are"));
            add(h->next, "%s join", prog);
        }
        if (sealed > 0) {
            mark(h, "pod",
                 add(h->problems, "%d pod%s sealed", sealed, sealed == 1 ? " is" : "s are"));
            /* Key holders submit one share each: say how far the rounds are. */
            int partial = 0, same = 1, first = -1, t = 0;
            char rounds[512] = "";
            size_t len = 0;
            for (size_t i = 0; i < vc->npods; i++) {
                const struct pod_view *v = &in->views[i];
                if (!vc->pods[i].running || !v->have_status || !v->st.initialized ||
                    !v->st.sealed || v->st.progress == 0)
                    continue;
                partial++;
                t = v->st.t;
                if (first < 0)
                    first = v->st.progress;
                else if (first != v->st.progress)
                    same = 0;
                int w = snprintf(rounds + len, sizeof rounds - len, "%s%s %d of %d",
                                 len ? ", " : "", vc->pods[i].name, v->st.progress, v->st.t);
                if (w > 0 && (size_t)w < sizeof rounds - len)
                    len += (size_t)w;
            }
            if (partial == 0)
                add(h->next, "%s unseal", prog);
            else if (same && partial == sealed)
                add(h->next, "%s unseal (%d of %d keys given; key holders submit one each)", prog,
                    first, t);
            else
                add(h->next, "%s unseal (keys given: %s; key holders submit one each)", prog,
                    rounds);
        }
    }

    if (running > 0 && answered == 0) {
        h->state = HEALTH_UNKNOWN;
        h->exit_code = 1;
    } else if (actives == 0 || h->live_voters < h->quorum) {
        h->state = HEALTH_UNAVAILABLE;
        h->exit_code = 3;
        if (actives == 0 && initialized > 0)
            add(h->problems, "no active node: Vault does not serve requests");
        if (h->live_voters < h->quorum && initialized > 0)
            add(h->problems, "%d of %d raft voters unsealed: quorum needs %d", h->live_voters,
                h->voters, h->quorum);
    } else if (json_array_size(h->problems) == 0) {
        h->state = HEALTH_HEALTHY;
        h->exit_code = 0;
    } else {
        h->state = HEALTH_DEGRADED;
        h->exit_code = 2;
    }
}
