/* status: the headline. One screen: the StatefulSet, every pod as the API
 * sees it and as its own `vault status` says (run in all pods at once), raft
 * membership when a token is at hand, and a verdict with the next command.
 * Table, json and yaml show one document; the exit code tells scripts. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "cmd.h"
#include "json.h"
#include "health.h"
#include "ops.h"
#include "output.h"
#include "secret.h"
#include "text.h"
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

/* Kubernetes' short reason why a pod does not run (Unschedulable,
 * CrashLoopBackOff: one CamelCase word, before the message), or NULL. The
 * message after it, and a reason that is not such a word, go to the findings
 * under the table, never into a table cell. */
static const char *reason_word(const struct vault_pod *p, size_t *len)
{
    if (p->running || p->reason == NULL)
        return NULL;
    size_t n = strcspn(p->reason, ":");
    if (n == 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)p->reason[i]))
            return NULL; /* a sentence of ours ("no pod yet"), or not Kubernetes' */
    *len = n;
    return p->reason;
}

/* The PHASE cell: "Pending (Unschedulable)", "Running (CrashLoopBackOff)", "Running". */
static void phase_cell(char *buf, size_t cap, const struct vault_pod *p)
{
    size_t n = 0;
    const char *why = reason_word(p, &n);
    if (why != NULL)
        snprintf(buf, cap, "%s (%.*s)", p->phase, (int)n, why);
    else
        snprintf(buf, cap, "%s", p->phase);
}

/* Widths no cell may pass, so that a long name, image or version from the API
 * server or a pod cannot stretch the lines: 63 is Kubernetes' bound on a
 * label value, which a StatefulSet pod's name and a namespace also are. */
enum {
    WIDTH_NAME = 63,
    WIDTH_PHASE = 40,
    WIDTH_SEALED = 16,
    WIDTH_VERSION = 24,
    WIDTH_NODE = 40,
    WIDTH_NODE_ID = 36, /* a UUID */
    WIDTH_IP = 39,      /* IPv6 written in full */
    WIDTH_IMAGE = 64,
};

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
        json_t *seal = json_pack("{s:s?, s:b, s:s?, s:b}", "type", v->st.type, "recoverySeal",
                                 v->st.recovery_seal, "recoverySealType", v->st.recovery_seal_type,
                                 "migration", v->st.migration);
        if (vault != NULL && seal != NULL)
            json_object_set_new(vault, "seal", seal);
        else
            json_decref(seal);
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

/* o takes text (sanitized when it reaches the terminal), raw the rendered
 * table and colorize() strings, whose remote parts were sanitized before the
 * colours were added. */
static void render_table(struct cmd_context *ctx, FILE *o, FILE *raw,
                         const struct vault_cluster *vc, const struct pod_view *views,
                         const struct health *h, const char *raft_note, time_t now)
{
    int wide = ctx->g->output == OUTPUT_WIDE;
    fprintf(o, "StatefulSet %s/%s (release %s, %s): %d/%d ready\n\n", vc->namespace, vc->name,
            vc->release ? vc->release : "-", vc->image ? vc->image : "-", vc->ready_replicas,
            vc->replicas);
    const char *headers[] = {"POD",     "PHASE", "READY",   "INITIALIZED", "SEALED",   "ROLE",
                             "RAFT",    "INDEX", "VERSION", "AGE",         "RESTARTS", "NODE",
                             "NODE ID", "IP",    "IMAGE",   "SEAL"};
    size_t ncols = wide ? 16 : 12;
    struct table *t = table_new(ncols, headers);
    if (t == NULL)
        return;
    static const size_t bounds[][2] = {{0, WIDTH_NAME},    {1, WIDTH_PHASE}, {4, WIDTH_SEALED},
                                       {8, WIDTH_VERSION}, {11, WIDTH_NODE}, {12, WIDTH_NODE_ID},
                                       {13, WIDTH_IP},     {14, WIDTH_IMAGE}};
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++)
        table_set_max_width(t, bounds[b][0], bounds[b][1]);
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        const struct pod_view *v = &views[i];
        const struct health_pod *hp = &h->pods[i];
        char age[32], restarts[16], sealed[32], index[48], phase[WIDTH_PHASE * 2], seal[96];
        phase_cell(phase, sizeof phase, p);
        output_age(age, sizeof age, now, p->created);
        snprintf(restarts, sizeof restarts, "%d", p->restarts);
        const char *init = "-", *version = p->label_version;
        snprintf(sealed, sizeof sealed, "-");
        snprintf(index, sizeof index, "-");
        snprintf(seal, sizeof seal, "-");
        if (v->have_status) {
            /* the configured seal (not the stored one), its recovery seal, and whether the
             * pod was started in migration mode and still migrates (docs/seal-migration.md) */
            snprintf(seal, sizeof seal, "%s%s%s%s", v->st.type ? v->st.type : "?",
                     v->st.recovery_seal ? ", recovery " : "",
                     v->st.recovery_seal
                         ? (v->st.recovery_seal_type ? v->st.recovery_seal_type : "shamir")
                         : "",
                     v->st.migration ? ", migration" : "");
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
                               phase,
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
                               p->image,
                               seal};
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
        fputs(s, raw);
    free(s);
    char *state = colorize(health_state_name(h->state), state_color(h->state), ctx->color);
    fputs("\nCluster: ", o);
    fputs(state ? state : "unknown", raw);
    free(state);
    if (h->state != HEALTH_UNKNOWN) {
        fprintf(o, " (%d voter%s, %d unsealed voter%s, quorum %d, failure tolerance %d", h->voters,
                h->voters == 1 ? "" : "s", h->live_voters, h->live_voters == 1 ? "" : "s",
                h->quorum, h->failure_tolerance < 0 ? 0 : h->failure_tolerance);
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

/* --- one reading of the cluster ---------------------------------------------------------- */

/* A reading is lib/ops's (the one every command takes); status only chooses
 * whether the pods are listed again (not right after discovery listed them). */
static int status_read(struct cmd_context *ctx, struct vault_cluster *vc,
                       const struct secret *token, int refresh, struct ops_reading *s,
                       struct error *err)
{
    struct ops o = {.kube = ctx->kube, .vc = vc, .prog = ctx->prog, .pods_fresh = !refresh};
    memset(s, 0, sizeof *s);
    return ops_read(&o, token, s, err);
}

static void status_state_clear(struct vault_cluster *vc, struct ops_reading *s)
{
    struct ops o = {.vc = vc};
    ops_reading_clear(&o, s);
}

/* The whole status once, as table, json or yaml, into f. Returns 0 or -1. */
static int status_print(struct cmd_context *ctx, FILE *f, FILE *raw, const struct vault_cluster *vc,
                        const struct ops_reading *s)
{
    time_t now = time(NULL);
    const char *note = s->note[0] ? s->note : NULL;
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        json_t *doc =
            build_document(vc, s->views, &s->h, s->have_peers ? &s->peers : NULL, note, now);
        return cmd_print_document(ctx, f, doc) == EXIT_OK ? 0 : -1;
    }
    render_table(ctx, f, raw, vc, s->views, &s->h, note, now);
    return 0;
}

/* --- what changed between two readings (--watch) ------------------------------------------ */

/* A pod's state in the words the change lines use. */
struct pod_facts {
    char name[128];
    char state[64]; /* active, standby, sealed 1/3, not initialized, not running (Pending), ... */
    char raft[32];  /* voter, non-voter, not a raft member, "" unknown */
};

static void pod_facts_of(const struct vault_cluster *vc, const struct ops_reading *s, size_t i,
                         struct pod_facts *f)
{
    const struct vault_pod *p = &vc->pods[i];
    const struct pod_view *v = &s->views[i];
    const struct health_pod *hp = &s->h.pods[i];
    memset(f, 0, sizeof *f);
    copy_text(f->name, sizeof f->name, p->name);
    size_t wn = 0;
    const char *why = reason_word(p, &wn);
    if (!p->exists || !p->running)
        snprintf(f->state, sizeof f->state, "not running (%.*s)", why ? (int)wn : 40,
                 why ? why : p->phase);
    else if (!v->have_status)
        snprintf(f->state, sizeof f->state, "not answering");
    else if (!v->st.initialized)
        snprintf(f->state, sizeof f->state, "not initialized");
    else if (v->st.sealed)
        snprintf(f->state, sizeof f->state, "sealed %d/%d", v->st.progress, v->st.t);
    else
        snprintf(f->state, sizeof f->state, "%s", v->st.is_self ? "active" : "standby");
    if (s->have_peers && hp->raft != NULL) /* raft roles only from raft itself */
        snprintf(f->raft, sizeof f->raft, "%s",
                 strcmp(hp->raft, "leader") == 0 || strcmp(hp->raft, "follower") == 0 ? "voter"
                 : strcmp(hp->raft, "non-voter") == 0                                 ? "non-voter"
                                                      : "not a raft member");
}

struct watch_memory {
    struct pod_facts *pods;
    size_t n;
    char verdict[32];
    char active[128];
};

static void watch_memory_free(struct watch_memory *m)
{
    free(m->pods);
    memset(m, 0, sizeof *m);
}

/* Appends one change line per difference between old and the new reading;
 * returns how many. With old empty (the first reading), every pod's state. */
static int watch_changes(const struct vault_cluster *vc, const struct ops_reading *s,
                         struct watch_memory *m, json_t *lines)
{
    int count = 0;
    char line[512];
    const char *active = s->h.active_pod ? s->h.active_pod : "";
    struct pod_facts *now = calloc(vc->npods + 1, sizeof *now);
    if (now == NULL)
        return 0;
    for (size_t i = 0; i < vc->npods; i++) {
        pod_facts_of(vc, s, i, &now[i]);
        const struct pod_facts *before = NULL;
        for (size_t k = 0; k < m->n; k++)
            if (strcmp(m->pods[k].name, now[i].name) == 0)
                before = &m->pods[k];
        /* Raft roles unknown in this reading (no active node to ask) are not a change. */
        if (now[i].raft[0] == '\0' && before != NULL)
            memcpy(now[i].raft, before->raft, sizeof now[i].raft);
        if (before == NULL || strcmp(before->state, now[i].state) != 0) {
            if (strcmp(now[i].state, "active") == 0 && m->pods != NULL)
                snprintf(line, sizeof line, "%s active (was %s)", now[i].name,
                         m->active[0] ? m->active : "none");
            else
                snprintf(line, sizeof line, "%s %s", now[i].name, now[i].state);
            json_array_append_new(lines, jtext(line));
            count++;
        }
        if (now[i].raft[0] != '\0' && (before == NULL || strcmp(before->raft, now[i].raft) != 0)) {
            snprintf(line, sizeof line, "%s %s", now[i].name, now[i].raft);
            json_array_append_new(lines, jtext(line));
            count++;
        }
    }
    const char *verdict = health_state_name(s->h.state);
    if (strcmp(m->verdict, verdict) != 0) {
        if (m->verdict[0])
            snprintf(line, sizeof line, "cluster %s (was %s)", verdict, m->verdict);
        else
            snprintf(line, sizeof line, "cluster %s", verdict);
        json_array_append_new(lines, jtext(line));
        count++;
    }
    free(m->pods);
    m->pods = now;
    m->n = vc->npods;
    snprintf(m->verdict, sizeof m->verdict, "%s", verdict);
    if (active[0] != '\0') /* "(was vault-0)" names the last active node, across elections */
        copy_text(m->active, sizeof m->active, active);
    return count;
}

static void clock_now(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, cap, "%H:%M:%S", &tm);
}

/* --watch: on a terminal the screen is redrawn in place with the changes of
 * the last step marked; elsewhere one timestamped line per change (json and
 * yaml: a document per change). Ends with Ctrl-C. */
static int status_watch(struct cmd_context *ctx, struct vault_cluster *vc,
                        const struct secret *token, long interval_ms)
{
    int tty = isatty(fileno(ctx->out_raw)) && ctx->g->output != OUTPUT_JSON &&
              ctx->g->output != OUTPUT_YAML;
    struct watch_memory mem = {0};
    json_t *last_changes = json_array();
    char last_at[16] = "";
    int first = 1, rc = EXIT_OK;
    cmd_interrupt_at_least(INTERRUPT_STEPS);
    if (tty)
        fputs("\033[?25l", ctx->out_raw); /* no cursor blinking over the table */
    while (!cmd_interrupted) {
        struct ops_reading s;
        struct error err = {0};
        char at[16];
        clock_now(at, sizeof at);
        if (status_read(ctx, vc, token, !first, &s, &err) < 0) {
            /* A failed reading is a change too: say it and keep watching. */
            if (tty) {
                fputs("\033[H\033[2J", ctx->out_raw);
                fprintf(ctx->out, "%s: %s\n", at, err.msg);
            } else
                fprintf(ctx->out, "%s %s\n", at, err.msg);
            fflush(ctx->out);
            fflush(ctx->out_raw); /* the sanitizing stream writes into it */
        } else {
            json_t *lines = json_array();
            int changed = watch_changes(vc, &s, &mem, lines);
            rc = s.h.exit_code;
            if (tty) {
                if (changed && !first) {
                    json_decref(last_changes);
                    last_changes = json_incref(lines);
                    snprintf(last_at, sizeof last_at, "%s", at);
                }
                char *screen = NULL;
                size_t len = 0;
                /* The screen is built first, then drawn at once: text through a
                 * sanitizing stream, rendered table and colours as they are. */
                FILE *m = open_memstream(&screen, &len);
                FILE *mt = m != NULL ? text_open_stream(m) : NULL;
                if (mt != NULL) {
                    char every[32];
                    wait_format_duration(every, sizeof every, interval_ms);
                    fprintf(mt, "Every %s: %s status%*s%s\n\n", every, ctx->prog, 8, "", at);
                    status_print(ctx, mt, m, vc, &s);
                    if (json_array_size(last_changes) > 0) {
                        fprintf(mt, "\nChanged at %s:\n", last_at);
                        size_t i;
                        json_t *x;
                        json_array_foreach(last_changes, i, x)
                        {
                            char *mark = colorize(json_string_value(x), COLOR_BOLD, ctx->color);
                            fputs("  * ", mt);
                            fputs(mark ? mark : "?", m);
                            fputc('\n', mt);
                            free(mark);
                        }
                    }
                    fclose(mt);
                }
                if (m != NULL) {
                    fclose(m);
                    fputs("\033[H\033[2J", ctx->out_raw);
                    fwrite(screen, 1, len, ctx->out_raw);
                    free(screen);
                }
            } else if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
                if (changed)
                    status_print(ctx, ctx->out, ctx->out_raw, vc, &s);
            } else {
                size_t i;
                json_t *x;
                json_array_foreach(lines, i, x)
                    fprintf(ctx->out, "%s %s\n", at, json_string_value(x));
            }
            fflush(ctx->out);
            fflush(ctx->out_raw); /* the sanitizing stream writes into it */
            json_decref(lines);
            status_state_clear(vc, &s);
        }
        first = 0;
        wait_sleep_ms(interval_ms, &cmd_interrupted);
    }
    if (tty)
        fputs("\033[?25h\n", ctx->out_raw);
    fflush(ctx->out);
    fflush(ctx->out_raw);
    json_decref(last_changes);
    watch_memory_free(&mem);
    (void)rc;
    return EXIT_OK; /* Ctrl-C is how a watch ends */
}

/* --- --wait-for ---------------------------------------------------------------------------- */

enum wait_goal { GOAL_HEALTHY, GOAL_UNSEALED, GOAL_ACTIVE };

struct goal_wait {
    struct cmd_context *ctx;
    struct vault_cluster *vc;
    const struct secret *token;
    enum wait_goal goal;
    struct ops_reading last;
    int have_last;
};

static int goal_met(enum wait_goal goal, const struct vault_cluster *vc,
                    const struct ops_reading *s)
{
    switch (goal) {
    case GOAL_HEALTHY:
        return s->h.state == HEALTH_HEALTHY;
    case GOAL_ACTIVE:
        return s->h.active_pod != NULL;
    case GOAL_UNSEALED:
        for (size_t i = 0; i < vc->npods; i++) {
            const struct pod_view *v = &s->views[i];
            if (!vc->pods[i].running || !v->have_status || !v->st.initialized || v->st.sealed)
                return 0;
        }
        return vc->npods > 0;
    }
    return 0;
}

static enum wait_poll check_goal(void *vctx, char *text, size_t cap, struct error *err)
{
    struct goal_wait *g = vctx;
    if (g->have_last)
        status_state_clear(g->vc, &g->last);
    g->have_last = 0;
    struct error rerr = {0};
    if (status_read(g->ctx, g->vc, g->token, 1, &g->last, &rerr) < 0) {
        /* The API may come back (a restart, a blip): keep waiting, but say so. */
        snprintf(text, cap, "%.*s", (int)(cap - 1), rerr.msg);
        (void)err;
        return WAIT_PENDING;
    }
    g->have_last = 1;
    if (goal_met(g->goal, g->vc, &g->last)) {
        snprintf(text, cap, "cluster %s%s%s", health_state_name(g->last.h.state),
                 g->last.h.active_pod ? ", active " : "",
                 g->last.h.active_pod ? g->last.h.active_pod : "");
        return WAIT_DONE;
    }
    const char *first = json_string_value(json_array_get(g->last.h.problems, 0));
    snprintf(text, cap, "cluster %s%s%s", health_state_name(g->last.h.state), first ? ": " : "",
             first ? first : "");
    return WAIT_PENDING;
}

static int status_wait_for(struct cmd_context *ctx, struct vault_cluster *vc,
                           const struct secret *token, enum wait_goal goal, long interval_ms)
{
    static const char *const what[] = {"the cluster to be healthy", "every pod to be unsealed",
                                       "an active node"};
    struct goal_wait g = {.ctx = ctx, .vc = vc, .token = token, .goal = goal};
    cmd_interrupt_at_least(INTERRUPT_WAITS);
    struct waiter w = {.timeout_ms =
                           ctx->g->wait_timeout_ms > 0 ? ctx->g->wait_timeout_ms : WAIT_DEFAULT_MS,
                       .interval_ms = interval_ms,
                       .cancel = &cmd_interrupted,
                       .report = cmd_progress_wait,
                       .report_ctx = ctx};
    struct error err = {0};
    int rc = wait_for(&w, what[goal], check_goal, &g, NULL, 0, &err);
    if (rc < 0)
        cmd_report(ctx, &err);
    int exit_code = EXIT_ERROR;
    if (g.have_last) {
        status_print(ctx, ctx->out, ctx->out_raw, vc, &g.last);
        exit_code = rc >= 0                   ? EXIT_OK
                    : g.last.h.exit_code != 0 ? g.last.h.exit_code
                                              : EXIT_DEGRADED;
        status_state_clear(vc, &g.last);
    }
    if (err.kind == ERR_INTERRUPTED)
        exit_code = EXIT_INTERRUPTED;
    return exit_code;
}

/* --- -A: every Vault in the cluster -------------------------------------------------------- */

struct all_entry {
    struct cmd_context *ctx;
    struct vault_cluster *vc;
    const char *error; /* could not be used (from discovery) */
    struct ops_reading s;
    struct error err;
    int ok;
};

static void *read_one(void *arg)
{
    struct all_entry *e = arg;
    if (e->vc != NULL)
        e->ok = status_read(e->ctx, e->vc, NULL, 1, &e->s, &e->err) == 0;
    return NULL;
}

static int status_all_namespaces(struct cmd_context *ctx)
{
    struct cluster_list list;
    struct error err = {0};
    if (cluster_discover_all(ctx->kube, &list, &err) < 0) {
        cmd_report(ctx, &err);
        return EXIT_ERROR;
    }
    struct all_entry *e = calloc(list.n + 1, sizeof *e);
    pthread_t *threads = calloc(list.n + 1, sizeof *threads);
    int *started = calloc(list.n + 1, sizeof *started);
    if (e == NULL || threads == NULL || started == NULL) {
        free(e), free(threads), free(started);
        cluster_list_free(&list);
        return EXIT_ERROR;
    }
    /* Each Vault is read in its own thread (its pods in parallel inside), so ten
     * clusters take about as long as one. */
    for (size_t i = 0; i < list.n; i++) {
        e[i].ctx = ctx;
        e[i].vc = list.items[i];
        e[i].error = list.errors[i];
        started[i] = pthread_create(&threads[i], NULL, read_one, &e[i]) == 0;
        if (!started[i])
            read_one(&e[i]);
    }
    for (size_t i = 0; i < list.n; i++)
        if (started[i])
            pthread_join(threads[i], NULL);
    int worst = list.n == 0 ? EXIT_OK : -1;
    json_t *doc = json_array();
    const char *headers[] = {"NAMESPACE", "RELEASE", "STATEFULSET", "VERSION", "READY",
                             "UNSEALED",  "VOTERS",  "ACTIVE",      "VERDICT"};
    struct table *t = table_new(9, headers);
    if (t == NULL) {
        json_decref(doc);
        free(e), free(threads), free(started);
        cluster_list_free(&list);
        return EXIT_ERROR;
    }
    static const size_t bounds[][2] = {
        {0, WIDTH_NAME}, {1, WIDTH_NAME}, {2, WIDTH_NAME}, {3, WIDTH_VERSION}, {7, WIDTH_NAME}};
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++)
        table_set_max_width(t, bounds[b][0], bounds[b][1]);
    for (size_t i = 0; i < list.n; i++) {
        struct all_entry *a = &e[i];
        const struct vault_cluster *vc = a->vc;
        char ready[32] = "-", unsealed[32] = "-", voters[32] = "-";
        const char *verdict = "unknown", *active = NULL, *why = a->error;
        int code = EXIT_ERROR;
        if (a->ok) {
            int nready = 0, nunsealed = 0;
            for (size_t k = 0; k < vc->npods; k++) {
                nready += vc->pods[k].ready;
                nunsealed += a->s.views[k].have_status && a->s.views[k].st.initialized &&
                             !a->s.views[k].st.sealed;
            }
            snprintf(ready, sizeof ready, "%d/%d", nready, vc->replicas);
            snprintf(unsealed, sizeof unsealed, "%d/%d", nunsealed, vc->replicas);
            snprintf(voters, sizeof voters, "%d/%d", a->s.h.live_voters, a->s.h.voters);
            verdict = health_state_name(a->s.h.state);
            active = a->s.h.active_pod;
            code = a->s.h.exit_code;
        } else if (why == NULL) {
            why = a->err.msg;
        }
        if (worst < 0 || (code != EXIT_OK && (worst == EXIT_OK || code > worst)))
            worst = code;
        char ns_name[256] = "";
        if (vc == NULL && why != NULL)
            snprintf(ns_name, sizeof ns_name, "%.*s", (int)strcspn(why, "/"), why);
        const char *cells[] = {vc ? vc->namespace : ns_name,
                               vc ? vc->release : NULL,
                               vc ? vc->name : NULL,
                               vc ? vc->version : NULL,
                               ready,
                               unsealed,
                               voters,
                               active,
                               verdict};
        int row = table_add_row(t, cells);
        if (row >= 0 && a->ok)
            table_set_color(t, (size_t)row, 8, state_color(a->s.h.state));
        json_array_append_new(
            doc, json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s, s:s, s:s, s:s?, s:s, s:i, s:s?}",
                           "namespace", vc ? vc->namespace : ns_name, "release",
                           vc ? vc->release : NULL, "statefulset", vc ? vc->name : NULL, "flavor",
                           vc ? vc->flavor : NULL, "version", vc ? vc->version : NULL, "ready",
                           ready, "unsealed", unsealed, "voters", voters, "active", active,
                           "verdict", verdict, "exitCode", code, "error", a->ok ? NULL : why));
        if (a->ok)
            status_state_clear(a->vc, &a->s);
    }
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        cmd_print_document(ctx, NULL, json_incref(doc));
    } else if (list.n == 0) {
        fprintf(ctx->err, "No Vault or OpenBao StatefulSet found in any namespace.\n");
    } else {
        char *text = table_render(t, ctx->color); /* cells sanitized before colour */
        if (text != NULL)
            fputs(text, ctx->out_raw);
        free(text);
        for (size_t i = 0; i < list.n; i++)
            if (!e[i].ok)
                fprintf(ctx->err, "%s\n", e[i].error ? e[i].error : e[i].err.msg);
    }
    table_free(t);
    json_decref(doc);
    free(e), free(threads), free(started);
    cluster_list_free(&list);
    return worst < 0 ? EXIT_ERROR : worst;
}

/* --- the command ------------------------------------------------------------------------- */

static int cmd_status_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    struct error err = {0};
    long interval_ms = 2000;
    const char *iv = cmd_opt_str(args, "interval");
    if (iv != NULL && (interval_ms = cmd_parse_duration_ms(iv)) <= 0) {
        cmd_errorf(ctx, "--interval wants a duration like 2s or 500ms, not \"%s\"\n", iv);
        return EXIT_USAGE;
    }
    const char *goal_name = cmd_opt_str(args, "wait-for");
    enum wait_goal goal = GOAL_HEALTHY;
    if (goal_name != NULL) {
        if (strcmp(goal_name, "healthy") == 0)
            goal = GOAL_HEALTHY;
        else if (strcmp(goal_name, "unsealed") == 0)
            goal = GOAL_UNSEALED;
        else if (strcmp(goal_name, "active") == 0)
            goal = GOAL_ACTIVE;
        else {
            cmd_errorf(ctx, "--wait-for takes healthy, unsealed or active, not \"%s\"\n",
                       goal_name);
            return EXIT_USAGE;
        }
    }
    int watch = cmd_opt_flag(args, "watch");
    if (watch && goal_name != NULL) {
        cmd_errorf(ctx, "--watch and --wait-for do not go together\n");
        return EXIT_USAGE;
    }
    const char *contexts = cmd_opt_str(args, "contexts");
    if (cmd_opt_flag(args, "all-contexts") || contexts != NULL) {
        if (goal_name != NULL || cmd_opt_flag(args, "all-namespaces")) {
            cmd_errorf(ctx, "--all-contexts and --contexts show every Vault of each context; "
                            "--wait-for and -A do not go with them\n");
            return EXIT_USAGE;
        }
        return cmd_status_contexts(ctx, contexts, watch, interval_ms);
    }
    if (cmd_opt_flag(args, "all-namespaces")) {
        if (watch || goal_name != NULL) {
            cmd_errorf(ctx, "-A shows every Vault once; --watch and --wait-for take one\n");
            return EXIT_USAGE;
        }
        return status_all_namespaces(ctx);
    }
    struct vault_cluster *vc = NULL;
    struct cluster_query q = {.namespace = ctx->cfg->namespace,
                              .release = ctx->g->release,
                              .statefulset = ctx->g->statefulset,
                              .container = ctx->g->container};
    if (cluster_discover(ctx->kube, &q, &vc, &err) < 0) {
        cmd_report(ctx, &err);
        return EXIT_ERROR;
    }
    /* Raft details only with a token at hand: status never prompts. */
    struct secret token = {0};
    int got = 0;
    if (ctx->token != NULL && ctx->token->data != NULL)
        got = secret_from(&token, ctx->token->data, ctx->token->len, &err) == 0;
    else {
        int token_rc = cmd_get_token(ctx, args, vc, 0, 0, &token, &got);
        if (token_rc != EXIT_OK) {
            cluster_free(vc);
            return token_rc;
        }
    }
    const struct secret *tok = got > 0 ? &token : NULL;
    int rc;
    if (watch) {
        rc = status_watch(ctx, vc, tok, interval_ms);
    } else if (goal_name != NULL) {
        rc = status_wait_for(ctx, vc, tok, goal, interval_ms);
    } else {
        struct ops_reading s;
        if (status_read(ctx, vc, tok, 0, &s, &err) < 0) {
            cmd_report(ctx, &err);
            rc = EXIT_ERROR;
        } else {
            rc = status_print(ctx, ctx->out, ctx->out_raw, vc, &s) < 0 ? EXIT_ERROR : s.h.exit_code;
            status_state_clear(vc, &s);
        }
    }
    secret_free(&token);
    cluster_free(vc);
    return rc;
}

static const struct cmd_option status_options[] = {
    {"token-file", 0, OPT_STRING, "FILE",
     "Vault token for raft peers and autopilot (else VAULT_TOKEN; never asked)", "@files"},
    {"watch", 'w', OPT_FLAG, NULL,
     "keep watching: redraw on a terminal, else one timestamped line per change", NULL},
    {"interval", 0, OPT_STRING, "DURATION", "time between two readings (default 2s)", NULL},
    {"wait-for", 0, OPT_STRING, "STATE",
     "wait until the cluster is healthy, unsealed or active (--timeout), then exit 0",
     "healthy|unsealed|active"},
    {"all-namespaces", 'A', OPT_FLAG, NULL, "every Vault and OpenBao of the cluster, one line each",
     NULL},
    {"all-contexts", 0, OPT_FLAG, NULL,
     "every Vault of every kubeconfig context in one table (contexts read in parallel)", NULL},
    {"contexts", 0, OPT_STRING, "A,B,C", "like --all-contexts, for these contexts", "@contexts"},
    {0},
};

const struct cmd_entry cmd_status_entry = {
    .name = "status",
    .summary = "Show the Vault cluster: pods, seal and HA state, raft, verdict, next step",
    .usage = "[--token-file FILE] [-w [--interval D]] [--wait-for STATE [--timeout D]] [-A] "
             "[--all-contexts | --contexts A,B]",
    .help = "Shows the Vault StatefulSet and each pod: phase and readiness, initialized, sealed\n"
            "with unseal progress, HA role, raft state and index, version. The pod data comes\n"
            "from the API; the Vault data from every pod at once (see --read-via below). With a\n"
            "Vault token (VAULT_TOKEN or --token-file) it also reads the raft peers and\n"
            "autopilot state. Then a verdict, the problems found and the next command to run.\n"
            "-w/--watch keeps watching (every --interval): on a terminal the screen is redrawn\n"
            "in place with the last changes marked; elsewhere one timestamped line per change\n"
            "(\"16:04:08 vault-1 active (was vault-0)\"). Ctrl-C ends it.\n"
            "--wait-for healthy|unsealed|active waits (at most --timeout, default 2m) until\n"
            "that holds, then shows the status and exits 0; else it exits with the verdict.\n"
            "-A/--all-namespaces lists every Vault and OpenBao StatefulSet, one line each.\n"
            "--all-contexts (or --contexts a,b,c) does so for every kubeconfig context at once:\n"
            "context, namespace, StatefulSet, pods ready and sealed, active pod, version, seal\n"
            "type, verdict. A context that does not answer within --request-timeout (default\n"
            "5s here) or refuses is a row with its error and counts as unavailable (3), as\n"
            "does a Vault none of whose pods answered in time. -o json|yaml: one entry per\n"
            "context, with its verdict and its Vaults, or its error.\n"
            "The Vault data comes through the API server's pods/proxy when RBAC grants \"get\"\n"
            "on pods/proxy (Vault's HTTP API, no process in the pods), else from `vault status`\n"
            "run in the pods; the global --read-via auto|proxy|exec chooses.\n"
            "\nExit codes:\n"
            "  0  healthy: every pod unsealed and a voter, one active node\n"
            "  1  could not tell (API error, no StatefulSet, no pod answered)\n"
            "  2  degraded: an active node and a quorum, but something needs attention\n"
            "  3  unavailable: no active node or no quorum\n"
            "  -A, --all-contexts: the worst of all clusters.\n"
            "\nExamples:\n"
            "  kubectl vault-ha status\n"
            "  kubectl vault-ha status -n vault --release vault -o json\n"
            "  VAULT_TOKEN=... kubectl vault-ha status -o wide\n"
            "  kubectl vault-ha status -w\n"
            "  kubectl vault-ha status --wait-for healthy --timeout 5m\n"
            "  kubectl vault-ha status -A\n"
            "  kubectl vault-ha status --all-contexts -w\n"
            "  kubectl vault-ha status --contexts prod,staging -o json\n",
    .options = status_options,
    .flags = CMD_NO_ARGS,
    .exec = cmd_status_exec,
};
