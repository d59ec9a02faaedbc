/* status: the headline. One screen: the StatefulSet, every pod as the API
 * sees it and as its own `vault status` says (run in all pods at once), raft
 * membership when a token is at hand, and a verdict with the next command.
 * Table, json and yaml show one document; the exit code tells scripts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "cmd.h"
#include "health.h"
#include "output.h"
#include "secret.h"
#include "vault.h"

static json_t *tri_json(enum tristate t)
{
    return t == TRI_UNKNOWN ? json_null() : json_boolean(t == TRI_TRUE);
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t l = strnlen(src, cap - 1);
    memcpy(dst, src, l);
    dst[l] = '\0';
}

/* With a token: list-peers and autopilot state from the active pod (either may fail). */
static void read_raft(struct cmd_context *ctx, const struct vault_cluster *vc, const char *pod,
                      const struct secret *token, struct vault_peers *peers, int *have_peers,
                      struct vault_autopilot *ap, int *have_ap, char *why, size_t why_cap)
{
    struct vault_call calls[2] = {{0}};
    struct secret stdin_buf[2] = {{0}};
    const char *peers_args[] = {vc->cli, "operator", "raft", "list-peers", "-format=json", NULL};
    const char *ap_args[] = {vc->cli, "operator",     "raft", "autopilot",
                             "state", "-format=json", NULL};
    struct error err = {0};
    calls[0].pod = calls[1].pod = pod;
    if (vault_call_with_token(&calls[0], vc, token, peers_args, &stdin_buf[0], &err) < 0 ||
        vault_call_with_token(&calls[1], vc, token, ap_args, &stdin_buf[1], &err) < 0) {
        copy_text(why, why_cap, err.msg);
        secret_free(&stdin_buf[0]);
        secret_free(&stdin_buf[1]);
        return;
    }
    vault_call_run(ctx->kube, vc, calls, 2);
    char summary[512];
    if (!calls[0].ran) {
        copy_text(why, why_cap, calls[0].error.msg);
    } else if (calls[0].exit_code != 0) {
        vault_error_summary(calls[0].err_out, summary, sizeof summary);
        snprintf(why, why_cap, "list-peers on %s failed: %s", pod, summary);
    } else if (vault_parse_peers(calls[0].out, calls[0].out_len, peers, &err) < 0) {
        copy_text(why, why_cap, err.msg);
    } else {
        *have_peers = 1;
    }
    if (calls[1].ran && calls[1].exit_code == 0 &&
        vault_parse_autopilot(calls[1].out, calls[1].out_len, ap, &err) == 0)
        *have_ap = 1;
    for (int i = 0; i < 2; i++) {
        vault_call_clear(&calls[i]);
        secret_free(&stdin_buf[i]);
    }
}

static json_t *pod_document(const struct vault_pod *p, const struct pod_view *v,
                            const struct health_pod *hp, time_t now)
{
    char age[32];
    output_age(age, sizeof age, now, p->created);
    json_t *vault;
    if (v->have_status) {
        vault = json_pack("{s:b, s:b, s:i, s:i, s:i, s:s?, s:s, s:s?, s:s?, s:I, s:I, s:s?}",
                          "initialized", v->st.initialized, "sealed", v->st.sealed, "threshold",
                          v->st.t, "shares", v->st.n, "progress", v->st.progress, "version",
                          v->st.version, "role", hp->role, "raft", hp->raft, "nodeId", hp->node_id,
                          "committedIndex", (json_int_t)v->st.raft_committed_index, "appliedIndex",
                          (json_int_t)v->st.raft_applied_index, "clusterId", v->st.cluster_id);
    } else {
        vault = json_pack("{s:s, s:s?}", "role", hp->role ? hp->role : "unknown", "error",
                          v->status_error);
    }
    return json_pack("{s:s, s:i, s:b, s:s, s:b, s:b, s:i, s:s?, s:s?, s:s?, s:s, s:s?, "
                     "s:{s:o, s:o, s:o, s:s?}, s:o}",
                     "name", p->name, "ordinal", p->ordinal, "exists", p->exists, "phase", p->phase,
                     "running", p->running, "ready", p->ready, "restarts", p->restarts, "reason",
                     p->reason, "node", p->node, "podIP", p->pod_ip, "age", p->exists ? age : "-",
                     "image", p->image, "labels", "initialized", tri_json(p->label_initialized),
                     "sealed", tri_json(p->label_sealed), "active", tri_json(p->label_active),
                     "version", p->label_version, "vault", vault);
}

static json_t *build_document(const struct vault_cluster *vc, const struct pod_view *views,
                              const struct health *h, const struct vault_peers *peers,
                              const char *raft_note, time_t now)
{
    json_t *pods = json_array();
    for (size_t i = 0; i < vc->npods; i++)
        json_array_append_new(pods, pod_document(&vc->pods[i], &views[i], &h->pods[i], now));
    json_t *peer_list = json_null();
    if (peers != NULL) {
        peer_list = json_array();
        for (size_t k = 0; k < peers->n; k++) {
            const struct vault_peer *p = &peers->items[k];
            struct vault_pod *pod = cluster_pod_for_address((struct vault_cluster *)vc, p->address);
            json_array_append_new(peer_list,
                                  json_pack("{s:s?, s:s?, s:s?, s:b, s:b}", "nodeId", p->node_id,
                                            "address", p->address, "pod", pod ? pod->name : NULL,
                                            "leader", p->leader, "voter", p->voter));
        }
    }
    return json_pack(
        "{s:s, s:{s:s, s:s?, s:s, s:i, s:i, s:s?, s:s?}, s:o, s:{s:o, s:i, s:i, s:i, s:i, s:s?}, "
        "s:{s:s, s:i, s:s?, s:O, s:O}}",
        "namespace", vc->namespace, "statefulset", "name", vc->name, "release", vc->release,
        "flavor", vc->flavor, "replicas", vc->replicas, "readyReplicas", vc->ready_replicas,
        "image", vc->image, "version", vc->version, "pods", pods, "raft", "peers", peer_list,
        "voters", h->voters, "liveVoters", h->live_voters, "quorum", h->quorum, "failureTolerance",
        h->failure_tolerance, "note", raft_note, "verdict", "state", health_state_name(h->state),
        "exitCode", h->exit_code, "active", h->active_pod, "problems", h->problems, "next",
        h->next);
}

static enum color state_color(enum health_state s)
{
    return s == HEALTH_HEALTHY ? COLOR_GREEN : s == HEALTH_DEGRADED ? COLOR_YELLOW : COLOR_RED;
}

static void render_table(struct cmd_context *ctx, const struct vault_cluster *vc,
                         const struct pod_view *views, const struct health *h,
                         const char *raft_note, time_t now)
{
    int wide = ctx->g->output == OUTPUT_WIDE;
    FILE *o = ctx->out;
    fprintf(o, "StatefulSet %s/%s (release %s, %s): %d/%d ready\n\n", vc->namespace, vc->name,
            vc->release ? vc->release : "-", vc->image ? vc->image : "-", vc->ready_replicas,
            vc->replicas);
    const char *headers[] = {"POD",      "PHASE", "READY",   "INITIALIZED", "SEALED",
                             "ROLE",     "RAFT",  "INDEX",   "VERSION",     "AGE",
                             "RESTARTS", "NODE",  "NODE ID", "IP",          "IMAGE"};
    size_t ncols = wide ? 15 : 12;
    struct table *t = table_new(ncols, headers);
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        const struct pod_view *v = &views[i];
        const struct health_pod *hp = &h->pods[i];
        char age[32], restarts[16], sealed[32], index[48];
        output_age(age, sizeof age, now, p->created);
        snprintf(restarts, sizeof restarts, "%d", p->restarts);
        const char *init = "-", *version = p->label_version;
        snprintf(sealed, sizeof sealed, "-");
        snprintf(index, sizeof index, "-");
        if (v->have_status) {
            init = v->st.initialized ? "true" : "false";
            if (v->st.sealed && v->st.initialized)
                snprintf(sealed, sizeof sealed, "true %d/%d", v->st.progress, v->st.t);
            else
                snprintf(sealed, sizeof sealed, "%s", v->st.sealed ? "true" : "false");
            if (v->st.raft_committed_index > 0)
                snprintf(index, sizeof index, "%lld/%lld", v->st.raft_committed_index,
                         v->st.raft_applied_index);
            if (v->st.version != NULL && v->st.version[0] != '\0')
                version = v->st.version;
        }
        const char *cells[] = {p->name,
                               p->reason && !p->running ? p->reason : p->phase,
                               p->exists ? (p->ready ? "true" : "false") : "-",
                               init,
                               sealed,
                               hp->role,
                               hp->raft,
                               index,
                               version,
                               p->exists ? age : "-",
                               p->exists ? restarts : "-",
                               p->node,
                               hp->node_id,
                               p->pod_ip,
                               p->image};
        int row = table_add_row(t, cells);
        if (row < 0)
            continue;
        table_set_color(t, (size_t)row, 1, p->running ? COLOR_NONE : COLOR_RED);
        table_set_color(t, (size_t)row, 2, p->ready ? COLOR_GREEN : COLOR_RED);
        if (v->have_status && v->st.sealed)
            table_set_color(t, (size_t)row, 4, COLOR_RED);
        if (hp->role != NULL && strcmp(hp->role, "active") == 0)
            table_set_color(t, (size_t)row, 5, COLOR_GREEN);
    }
    /* Cells and colorize()'s text are sanitized: the colours may reach the terminal. */
    char *s = table_render(t, ctx->color);
    table_free(t);
    if (s != NULL)
        fputs(s, ctx->out_raw);
    free(s);
    char *state = colorize(health_state_name(h->state), state_color(h->state), ctx->color);
    fputs("\nCluster: ", o);
    fputs(state ? state : "unknown", ctx->out_raw);
    free(state);
    if (h->state != HEALTH_UNKNOWN) {
        fprintf(o, " (%d voter%s, %d unsealed, quorum %d, failure tolerance %d", h->voters,
                h->voters == 1 ? "" : "s", h->live_voters, h->quorum,
                h->failure_tolerance < 0 ? 0 : h->failure_tolerance);
        if (h->active_pod != NULL)
            fprintf(o, ", active %s", h->active_pod);
        fputc(')', o);
    }
    fputc('\n', o);
    size_t i;
    json_t *x;
    json_array_foreach(h->problems, i, x) fprintf(o, "  - %s\n", json_string_value(x));
    if (raft_note != NULL)
        fprintf(o, "Note: %s\n", raft_note);
    if (json_array_size(h->next) > 0) {
        fprintf(o, "Next:\n");
        json_array_foreach(h->next, i, x) fprintf(o, "  %s\n", json_string_value(x));
    }
}

static int cmd_status_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    struct error err = {0};
    struct vault_cluster *vc = NULL;
    struct cluster_query q = {.namespace = ctx->cfg->namespace,
                              .release = ctx->g->release,
                              .statefulset = ctx->g->statefulset,
                              .container = ctx->g->container};
    if (cluster_discover(ctx->kube, &q, &vc, &err) < 0) {
        cmd_report(ctx, &err);
        return EXIT_ERROR;
    }
    struct pod_view *views = calloc(vc->npods + 1, sizeof *views);
    vault_status_all(ctx->kube, vc, views);

    /* Raft details only with a token at hand: status never prompts. */
    struct vault_peers peers = {0};
    struct vault_autopilot ap = {0};
    int have_peers = 0, have_ap = 0;
    char raft_note[600] = "";
    const char *active = NULL;
    for (size_t i = 0; i < vc->npods; i++)
        if (views[i].have_status && views[i].st.is_self && !views[i].st.sealed)
            active = vc->pods[i].name;
    struct secret token = {0};
    int got = cmd_get_token(ctx, args, vc, 0, 0, &token);
    if (got < 0) {
        vault_views_clear(views, vc->npods);
        free(views);
        cluster_free(vc);
        return -got;
    }
    if (got == 0)
        snprintf(raft_note, sizeof raft_note,
                 "raft peers not read: set VAULT_TOKEN or use --token-file for membership, "
                 "voters and failure tolerance from raft itself");
    else if (active == NULL)
        snprintf(raft_note, sizeof raft_note, "raft peers not read: no active node to ask");
    else
        read_raft(ctx, vc, active, &token, &peers, &have_peers, &ap, &have_ap, raft_note,
                  sizeof raft_note);
    secret_free(&token);

    struct health h;
    struct health_input in = {.vc = vc,
                              .views = views,
                              .peers = have_peers ? &peers : NULL,
                              .autopilot = have_ap ? &ap : NULL,
                              .prog = ctx->prog};
    health_judge(&in, &h);
    time_t now = time(NULL);
    const char *note = raft_note[0] ? raft_note : NULL;
    int rc = h.exit_code;
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        json_t *doc = build_document(vc, views, &h, have_peers ? &peers : NULL, note, now);
        char *s = ctx->g->output == OUTPUT_JSON ? output_json(doc) : output_yaml(doc, &err);
        json_decref(doc);
        if (s == NULL) {
            cmd_report(ctx, &err);
            rc = EXIT_ERROR;
        } else {
            fputs(s, ctx->out);
            free(s);
        }
    } else {
        render_table(ctx, vc, views, &h, note, now);
    }
    health_clear(&h);
    if (have_peers)
        vault_peers_clear(&peers);
    if (have_ap)
        vault_autopilot_clear(&ap);
    vault_views_clear(views, vc->npods);
    free(views);
    cluster_free(vc);
    return rc;
}

static const struct cmd_option status_options[] = {
    {"token-file", 0, OPT_STRING, "FILE",
     "Vault token for raft peers and autopilot (else VAULT_TOKEN; never asked)", "@files"},
    {0},
};

const struct cmd_entry cmd_status_entry = {
    .name = "status",
    .summary = "Show the Vault cluster: pods, seal and HA state, raft, verdict, next step",
    .usage = "[--token-file FILE]",
    .help = "Shows the Vault StatefulSet and each pod: phase and readiness, initialized, sealed\n"
            "with unseal progress, HA role, raft state and index, version. The pod data comes\n"
            "from the API; the Vault data from `vault status` run in every pod at once. With a\n"
            "Vault token (VAULT_TOKEN or --token-file) it also reads the raft peers and\n"
            "autopilot state. Then a verdict, the problems found and the next command to run.\n"
            "\nExit codes:\n"
            "  0  healthy: every pod unsealed and a voter, one active node\n"
            "  1  could not tell (API error, no StatefulSet, no pod answered)\n"
            "  2  degraded: an active node and a quorum, but something needs attention\n"
            "  3  unavailable: no active node or no quorum\n"
            "\nExamples:\n"
            "  kubectl vault-ha status\n"
            "  kubectl vault-ha status -n vault --release vault -o json\n"
            "  VAULT_TOKEN=... kubectl vault-ha status -o wide\n",
    .options = status_options,
    .flags = CMD_NO_ARGS,
    .exec = cmd_status_exec,
};
