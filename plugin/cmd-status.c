/* status: the headline. One screen with the StatefulSet, every pod and a
 * verdict, built as one document so that table, json and yaml show the same
 * data. This version reads the API only: pod state plus the labels Vault's
 * service_registration keeps on each pod (fast, but they can lag). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "cmd.h"
#include "output.h"

static json_t *tri_json(enum tristate t)
{
    return t == TRI_UNKNOWN ? json_null() : json_boolean(t == TRI_TRUE);
}

static const char *tri_text(enum tristate t)
{
    return t == TRI_UNKNOWN ? "-" : t == TRI_TRUE ? "true" : "false";
}

struct verdict {
    const char *state; /* healthy, degraded, unavailable, unknown */
    int exit_code;
    json_t *problems; /* array of strings */
    json_t *next;     /* array of strings: commands to run */
};

static void add_problem(struct verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_problem(struct verdict *v, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_array_append_new(v->problems, json_string(buf));
}

/* Judges the cluster from the API's view: readiness (the chart's probe is
 * `vault status`, so Ready means initialized and unsealed) and the labels. */
static void judge(const struct vault_cluster *vc, const char *prog, struct verdict *v)
{
    v->problems = json_array();
    v->next = json_array();
    int unsealed = 0, active = 0, missing = 0, not_running = 0, sealed = 0, uninit = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        if (!p->exists) {
            missing++;
            add_problem(v, "%s does not exist: %s", p->name, p->reason ? p->reason : "no pod");
            continue;
        }
        if (!p->running) {
            not_running++;
            add_problem(v, "%s is not running: %s%s%s", p->name, p->phase, p->reason ? ", " : "",
                        p->reason ? p->reason : "");
            continue;
        }
        if (p->label_active == TRI_TRUE)
            active++;
        int is_sealed =
            p->label_sealed == TRI_TRUE || (p->label_sealed == TRI_UNKNOWN && !p->ready);
        if (p->label_initialized == TRI_FALSE)
            uninit++;
        else if (is_sealed)
            sealed++;
        else
            unsealed++;
    }
    int quorum = vc->replicas / 2 + 1;
    if (uninit > 0 && unsealed == 0 && sealed == 0) {
        add_problem(v, "Vault is not initialized");
        json_array_append_new(v->next,
                              json_sprintf("kubectl exec -ti %s-0 -n %s -- %s operator init",
                                           vc->name, vc->namespace, vc->cli));
    } else if (uninit > 0) {
        add_problem(v, "%d pod%s not initialized (not joined to the raft cluster)", uninit,
                    uninit == 1 ? "" : "s");
    }
    if (sealed > 0) {
        add_problem(v, "%d pod%s sealed", sealed, sealed == 1 ? "" : "s");
        json_array_append_new(v->next,
                              json_sprintf("kubectl exec -ti POD -n %s -- %s operator unseal",
                                           vc->namespace, vc->cli));
    }
    if (active > 1)
        add_problem(v, "%d pods are labelled active", active);
    if (active == 0 && unsealed > 0)
        add_problem(v, "no pod is labelled active");
    if (active >= 1 && unsealed >= quorum && missing + not_running + sealed + uninit == 0 &&
        active == 1) {
        v->state = "healthy";
        v->exit_code = EXIT_OK;
    } else if (active >= 1 && unsealed >= quorum) {
        v->state = "degraded";
        v->exit_code = EXIT_DEGRADED;
    } else {
        v->state = "unavailable";
        v->exit_code = EXIT_UNAVAILABLE;
        if (unsealed < quorum)
            add_problem(v, "%d of %d pods unsealed: a quorum needs %d", unsealed, vc->replicas,
                        quorum);
    }
    (void)prog;
}

static json_t *build_document(const struct vault_cluster *vc, const struct verdict *v, time_t now)
{
    json_t *pods = json_array();
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        char age[32];
        output_age(age, sizeof age, now, p->created);
        json_array_append_new(
            pods,
            json_pack("{s:s, s:i, s:b, s:s, s:b, s:b, s:i, s:s?, s:s?, s:s?, s:s, s:s?, "
                      "s:{s:o, s:o, s:o, s:s?}}",
                      "name", p->name, "ordinal", p->ordinal, "exists", p->exists, "phase",
                      p->phase, "running", p->running, "ready", p->ready, "restarts", p->restarts,
                      "reason", p->reason, "node", p->node, "podIP", p->pod_ip, "age",
                      p->exists ? age : "-", "image", p->image, "labels", "initialized",
                      tri_json(p->label_initialized), "sealed", tri_json(p->label_sealed), "active",
                      tri_json(p->label_active), "version", p->label_version));
    }
    return json_pack("{s:s, s:{s:s, s:s?, s:s, s:i, s:i, s:s?, s:s?}, s:o, s:{s:s, s:s, s:O, s:O}}",
                     "namespace", vc->namespace, "statefulset", "name", vc->name, "release",
                     vc->release, "flavor", vc->flavor, "replicas", vc->replicas, "readyReplicas",
                     vc->ready_replicas, "image", vc->image, "version", vc->version, "pods", pods,
                     "verdict", "state", v->state, "source", "pod labels", "problems", v->problems,
                     "next", v->next);
}

static enum color state_color(const char *s)
{
    if (strcmp(s, "healthy") == 0)
        return COLOR_GREEN;
    if (strcmp(s, "degraded") == 0)
        return COLOR_YELLOW;
    return COLOR_RED;
}

static void render_table(struct cmd_context *ctx, const struct vault_cluster *vc,
                         const struct verdict *v, time_t now)
{
    int wide = ctx->g->output == OUTPUT_WIDE;
    FILE *o = ctx->out;
    fprintf(o, "StatefulSet %s/%s (release %s, %s): %d/%d ready\n\n", vc->namespace, vc->name,
            vc->release ? vc->release : "-", vc->image ? vc->image : "-", vc->ready_replicas,
            vc->replicas);
    const char *headers[] = {"POD",         "PHASE",  "READY",  "RESTARTS", "AGE", "NODE",
                             "INITIALIZED", "SEALED", "ACTIVE", "VERSION",  "IP",  "IMAGE"};
    size_t ncols = wide ? 12 : 10;
    struct table *t = table_new(ncols, headers);
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        char age[32], restarts[16];
        output_age(age, sizeof age, now, p->created);
        snprintf(restarts, sizeof restarts, "%d", p->restarts);
        const char *cells[] = {p->name,
                               p->phase,
                               p->exists ? (p->ready ? "true" : "false") : "-",
                               p->exists ? restarts : "-",
                               p->exists ? age : "-",
                               p->node,
                               tri_text(p->label_initialized),
                               tri_text(p->label_sealed),
                               tri_text(p->label_active),
                               p->label_version,
                               p->pod_ip,
                               p->image};
        int row = table_add_row(t, cells);
        table_set_color(t, (size_t)row, 1, p->running ? COLOR_NONE : COLOR_RED);
        table_set_color(t, (size_t)row, 2, p->ready ? COLOR_GREEN : COLOR_RED);
        if (p->label_sealed == TRI_TRUE)
            table_set_color(t, (size_t)row, 7, COLOR_RED);
        if (p->label_active == TRI_TRUE)
            table_set_color(t, (size_t)row, 8, COLOR_GREEN);
    }
    char *s = table_render(t, ctx->color);
    table_free(t);
    if (s != NULL)
        fputs(s, o);
    free(s);
    char *state = colorize(v->state, state_color(v->state), ctx->color);
    fprintf(o, "\nCluster: %s (from pod labels and readiness)\n", state ? state : v->state);
    free(state);
    size_t i;
    json_t *x;
    json_array_foreach(v->problems, i, x) fprintf(o, "  - %s\n", json_string_value(x));
    if (json_array_size(v->next) > 0) {
        fprintf(o, "Next:\n");
        json_array_foreach(v->next, i, x) fprintf(o, "  %s\n", json_string_value(x));
    }
}

static int cmd_status_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    if (args->argc > 0) {
        fprintf(ctx->err, "%s: status takes no arguments\n", ctx->prog);
        return EXIT_USAGE;
    }
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
    time_t now = time(NULL);
    struct verdict v = {0};
    judge(vc, ctx->prog, &v);
    int rc = v.exit_code;
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        json_t *doc = build_document(vc, &v, now);
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
        render_table(ctx, vc, &v, now);
    }
    json_decref(v.problems);
    json_decref(v.next);
    cluster_free(vc);
    return rc;
}

static const struct cmd_option status_options[] = {{0}};

const struct cmd_entry cmd_status_entry = {
    .name = "status",
    .summary = "Show the Vault cluster: StatefulSet, pods, seal and HA state, verdict",
    .usage = "",
    .help = "Shows the Vault StatefulSet, each pod (phase, readiness, restarts, node, age,\n"
            "initialized/sealed/active/version as the pods' service_registration labels say)\n"
            "and a verdict with what to do next.\n"
            "\nExit codes:\n"
            "  0  healthy: every pod unsealed, one active node\n"
            "  1  could not tell (API error, no StatefulSet)\n"
            "  2  degraded: an active node and a quorum, but something needs attention\n"
            "  3  unavailable: no active node or no quorum\n"
            "\nExamples:\n"
            "  kubectl vault-ha status\n"
            "  kubectl vault-ha status -n vault --release vault -o json\n"
            "  kubectl vault-ha status -o wide\n",
    .options = status_options,
    .flags = 0,
    .exec = cmd_status_exec,
};
