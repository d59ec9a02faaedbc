/* status --all-contexts / --contexts a,b,c: one table of every Vault in every
 * kubeconfig context. Each context is read in its own thread with its own API
 * client, under one deadline (--request-timeout, default 5 s here): a context
 * that does not answer, or refuses, becomes a row with its error when the
 * deadline passes and never holds the others up. Each Vault of a context is
 * read in parallel too (lib/ops's reading, through pods/proxy when allowed).
 * The exit code is the worst verdict; a context that cannot be read counts 3, and so
 * does a Vault none of whose pods answered before the deadline. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cluster.h"
#include "cmd.h"
#include "json.h"
#include "health.h"
#include "kubeconfig.h"
#include "ops.h"
#include "output.h"
#include "text.h"

#define CONTEXTS_DEFAULT_TIMEOUT_MS 5000

/* One Vault of a context, read. */
struct vault_row {
    struct vault_cluster *vc;
    struct ops_reading r;
    struct error err;
    int ok;
    struct kube_client *kube;
    const char *prog;
    long long deadline_ms;
    long long done_ms; /* when its reading ended */
};

/* One context: its client, the Vaults found, or why none could be read. */
struct context_entry {
    const struct cmd_context *ctx;
    const char *name;
    long long deadline_ms;
    long timeout_ms; /* --request-timeout: the whole context's budget */
    struct rest_config *cfg;
    struct kube_client *kube;
    struct cluster_list list;
    int have_list;
    struct vault_row *rows;
    struct error err; /* the context could not be read */
};

static void *read_vault(void *arg)
{
    struct vault_row *v = arg;
    struct ops o = {.kube = v->kube, .vc = v->vc, .prog = v->prog};
    v->ok = ops_read(&o, NULL, &v->r, &v->err) == 0;
    v->done_ms = clock_now_ms();
    return NULL;
}

/* Runs fn on every item at once, each in its own thread. */
static void run_parallel(void *(*fn)(void *), void *items, size_t size, size_t n)
{
    pthread_t *threads = calloc(n + 1, sizeof *threads);
    int *started = calloc(n + 1, sizeof *started);
    for (size_t i = 0; i < n; i++) {
        void *item = (char *)items + i * size;
        started[i] =
            threads != NULL && started != NULL && pthread_create(&threads[i], NULL, fn, item) == 0;
        if (!started[i])
            fn(item);
    }
    for (size_t i = 0; i < n; i++)
        if (started[i])
            pthread_join(threads[i], NULL);
    free(threads);
    free(started);
}

/* The Vaults of a context: those of -n's namespace when given, else of every
 * namespace when the user may list StatefulSets cluster-wide, else of the
 * context's namespace. */
static int find_vaults(struct context_entry *e)
{
    if (e->ctx->g->kc.namespace == NULL) {
        if (cluster_discover_all(e->kube, &e->list, &e->err) == 0)
            return 0;
        if (e->err.kind != ERR_FORBIDDEN)
            return -1;
    }
    struct vault_cluster *vc = NULL;
    const struct global_options *g = e->ctx->g;
    struct cluster_query q = {.namespace = e->cfg->namespace,
                              .release = g->release,
                              .statefulset = g->statefulset,
                              .container = g->container};
    memset(&e->err, 0, sizeof e->err);
    if (cluster_discover(e->kube, &q, &vc, &e->err) < 0)
        return -1;
    e->list.items = calloc(2, sizeof *e->list.items);
    e->list.errors = calloc(2, sizeof *e->list.errors);
    if (e->list.items == NULL || e->list.errors == NULL) {
        cluster_free(vc);
        return error_set(&e->err, ERR_GENERIC, "out of memory");
    }
    e->list.items[0] = vc;
    e->list.n = 1;
    return 0;
}

static void *read_context(void *arg)
{
    struct context_entry *e = arg;
    const struct global_options *g = e->ctx->g;
    struct kubeconfig_flags flags = g->kc;
    flags.context = e->name;
    if (kubeconfig_load(&flags, &e->cfg, &e->err) < 0)
        return NULL;
    struct kube_client_options ko = {.request_timeout_ms = e->timeout_ms,
                                     .max_retries = 0, /* one deadline: no Retry-After waits */
                                     .read_via = g->read_via,
                                     .deadline_ms = e->deadline_ms};
    if (kube_client_new(e->cfg, &ko, &e->kube, &e->err) < 0)
        return NULL;
    if (find_vaults(e) < 0)
        return NULL;
    e->have_list = 1;
    e->rows = calloc(e->list.n + 1, sizeof *e->rows);
    if (e->rows == NULL) {
        error_set(&e->err, ERR_GENERIC, "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < e->list.n; i++)
        if (e->list.items[i] != NULL) {
            e->rows[n].vc = e->list.items[i];
            e->rows[n].kube = e->kube;
            e->rows[n].deadline_ms = e->deadline_ms;
            e->rows[n++].prog = e->ctx->prog;
        }
    run_parallel(read_vault, e->rows, sizeof *e->rows, n);
    return NULL;
}

static void context_entry_clear(struct context_entry *e)
{
    for (size_t i = 0; e->rows != NULL && e->rows[i].vc != NULL; i++) {
        struct ops o = {.vc = e->rows[i].vc};
        ops_reading_clear(&o, &e->rows[i].r);
    }
    free(e->rows);
    if (e->have_list)
        cluster_list_free(&e->list);
    kube_client_free(e->kube);
    rest_config_free(e->cfg);
    e->rows = NULL;
    e->kube = NULL;
    e->cfg = NULL;
    e->have_list = 0;
    memset(&e->err, 0, sizeof e->err);
}

/* --- one row per Vault, or per context that could not be read --------------------------------- */

struct row_facts {
    char ready[32], sealed[32];
    const char *active, *version, *seal_type, *verdict, *problem;
    /* It could not be read: the document gives this instead of a verdict (verdict is
     * then the table's word for it). */
    const char *error;
    int code;
    enum health_state state;
};

/* Why none of the Vault's pods could be read (the first pod's error), or NULL when one
 * answered or none was asked (none running: a verdict of its own). */
static const char *no_pod_answered(const struct vault_row *v)
{
    const char *first = NULL;
    for (size_t k = 0; k < v->vc->npods; k++) {
        if (v->r.views[k].have_status)
            return NULL;
        if (first == NULL)
            first = v->r.views[k].status_error;
    }
    return first;
}

static void vault_facts(const struct vault_row *v, struct row_facts *f)
{
    const struct vault_cluster *vc = v->vc;
    memset(f, 0, sizeof *f);
    snprintf(f->ready, sizeof f->ready, "-");
    snprintf(f->sealed, sizeof f->sealed, "-");
    f->version = vc->version;
    f->verdict = "unknown";
    f->code = EXIT_ERROR;
    f->state = HEALTH_UNKNOWN;
    if (!v->ok) {
        f->problem = f->error = v->err.msg;
        if (v->err.kind == ERR_TIMEOUT || v->err.kind == ERR_UNREACHABLE) {
            f->verdict = "unreachable";
            f->code = EXIT_UNAVAILABLE;
        }
        return;
    }
    int ready = 0, sealed = 0;
    for (size_t k = 0; k < vc->npods; k++) {
        const struct pod_view *pv = &v->r.views[k];
        ready += vc->pods[k].ready;
        sealed += pv->have_status && pv->st.sealed;
        if (pv->have_status && f->seal_type == NULL)
            f->seal_type = pv->st.type;
        if (pv->have_status && pv->st.is_self && !pv->st.sealed && pv->st.version != NULL &&
            pv->st.version[0] != '\0')
            f->version = pv->st.version; /* what the active node runs */
    }
    snprintf(f->ready, sizeof f->ready, "%d/%d", ready, vc->replicas);
    snprintf(f->sealed, sizeof f->sealed, "%d/%d", sealed, vc->replicas);
    f->active = v->r.h.active_pod;
    f->state = v->r.h.state;
    f->verdict = health_state_name(v->r.h.state);
    f->code = v->r.h.exit_code;
    f->problem = json_string_value(json_array_get(v->r.h.problems, 0));
    f->error = no_pod_answered(v);
    if (f->error != NULL) {
        if (f->problem != NULL)
            f->error = f->problem; /* the same, naming the pod and what was asked */
        f->problem = f->error;
        f->verdict = "unknown";
        f->code = EXIT_ERROR;
        /* Its reads were cut by the deadline: it did not answer in time, as a context
         * that does not (3), not a failure of ours (1). */
        if (v->done_ms >= v->deadline_ms) {
            f->verdict = "unreachable";
            f->code = EXIT_UNAVAILABLE;
        }
    }
}

/* A context that could not be read: unreachable (no answer in time, TLS) or
 * refusing (credentials, RBAC) both count as unavailable (3). */
static void context_facts(const struct context_entry *e, struct row_facts *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->ready, sizeof f->ready, "-");
    snprintf(f->sealed, sizeof f->sealed, "-");
    f->problem = e->err.msg;
    f->state = HEALTH_UNKNOWN;
    switch (e->err.kind) {
    case ERR_UNAUTHORIZED:
    case ERR_FORBIDDEN:
        f->verdict = "refused";
        f->code = EXIT_UNAVAILABLE;
        break;
    case ERR_UNREACHABLE:
    case ERR_TIMEOUT:
    case ERR_TLS:
        f->verdict = "unreachable";
        f->code = EXIT_UNAVAILABLE;
        break;
    default:
        f->verdict = "error";
        f->code = EXIT_ERROR;
    }
}

static int worse(int worst, int code)
{
    if (worst < 0)
        return code;
    return code != EXIT_OK && (worst == EXIT_OK || code > worst) ? code : worst;
}

static enum color verdict_color(const struct row_facts *f)
{
    if (f->state == HEALTH_HEALTHY)
        return COLOR_GREEN;
    return f->state == HEALTH_DEGRADED ? COLOR_YELLOW : COLOR_RED;
}

static const char *const no_vault = "no Vault or OpenBao StatefulSet found";

/* One Vault of the document: what the table shows, and either its verdict (status's
 * words) or why it could not be read. */
static json_t *vault_item(const struct vault_cluster *vc, const struct row_facts *f)
{
    return json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s?, s:s?, s:s?, s:s*, s:i, s:s*, s:s*}",
                     "namespace", vc->namespace, "statefulset", vc->name, "release", vc->release,
                     "ready", f->ready, "sealed", f->sealed, "active", f->active, "version",
                     f->version, "sealType", f->seal_type, "verdict", f->error ? NULL : f->verdict,
                     "exitCode", f->code, "error", f->error, "problem",
                     f->error ? NULL : f->problem);
}

/* One context of the document (json/yaml): its `verdict` (the worst of its Vaults', in
 * status's words) and its Vaults, or an `error`: it could not be read, has no Vault, or
 * one of its Vaults could not be read (the others' verdicts stay in `vaults`). */
static json_t *context_item(const char *name, const char *verdict, const char *error, int code,
                            json_t *vaults)
{
    return json_pack("{s:s, s:s*, s:s*, s:i, s:o*}", "context", name, "verdict",
                     error ? NULL : verdict, "error", error, "exitCode", code, "vaults", vaults);
}

static void add_row(struct table *t, const char *context, const struct vault_cluster *vc,
                    const struct row_facts *f, json_t *lines)
{
    const char *cells[] = {context,
                           vc ? vc->namespace : "-",
                           vc ? vc->name : "-",
                           f->ready,
                           f->sealed,
                           f->active ? f->active : "-",
                           f->version ? f->version : "-",
                           f->seal_type ? f->seal_type : "-",
                           f->verdict,
                           f->problem ? f->problem : ""};
    int row = table_add_row(t, cells);
    if (row >= 0)
        table_set_color(t, (size_t)row, 8, verdict_color(f));
    if (lines != NULL) {
        char *line = text_printf("%s %s/%s %s", context, vc ? vc->namespace : "-",
                                 vc ? vc->name : "-", f->verdict);
        if (line != NULL)
            json_array_append_new(lines, jtext(line));
        free(line);
    }
}

/* A context's Vaults: their rows, their document items; returns the context's item. */
static json_t *context_vaults(const struct context_entry *e, size_t nrows, struct table *t,
                              json_t *lines)
{
    json_t *vaults = json_array();
    int code = -1;
    const char *verdict = NULL;
    char *error = NULL;
    for (size_t k = 0; k < nrows; k++) {
        struct row_facts f;
        const struct vault_cluster *vc = e->rows[k].vc;
        vault_facts(&e->rows[k], &f);
        add_row(t, e->name, vc, &f, lines);
        json_array_append_new(vaults, vault_item(vc, &f));
        if (f.error != NULL && error == NULL)
            error = text_printf("%s/%s: %s", vc->namespace, vc->name, f.error);
        if (f.error == NULL && (verdict == NULL || worse(code, f.code) != code))
            verdict = f.verdict;
        code = worse(code, f.code);
    }
    json_t *item = context_item(e->name, verdict, error, code, vaults);
    free(error);
    return item;
}

/* Everything read, as a table (text) and a document (json/yaml); returns the
 * worst exit code. lines (may be NULL) gets "context ns/sts verdict" per row,
 * for --watch's change lines. */
static int build_views(const struct context_entry *entries, size_t n, struct table *t, json_t *doc,
                       json_t *lines)
{
    int worst = -1;
    for (size_t i = 0; i < n; i++) {
        const struct context_entry *e = &entries[i];
        size_t nrows = 0;
        while (e->rows != NULL && e->rows[nrows].vc != NULL)
            nrows++;
        if (e->have_list && nrows == 0) {
            const char *cells[] = {e->name, "-", "-", "-", "-", "-", "-", "-", "none", no_vault};
            table_add_row(t, cells);
            json_array_append_new(doc, context_item(e->name, NULL, no_vault, EXIT_OK, NULL));
            worst = worse(worst, EXIT_OK);
            continue;
        }
        json_t *item;
        if (e->have_list) {
            item = context_vaults(e, nrows, t, lines);
        } else {
            struct row_facts f;
            context_facts(e, &f);
            add_row(t, e->name, NULL, &f, lines);
            item = context_item(e->name, NULL, f.problem, f.code, NULL);
        }
        worst = worse(worst, (int)json_integer_value(json_object_get(item, "exitCode")));
        json_array_append_new(doc, item);
    }
    return worst < 0 ? EXIT_OK : worst;
}

/* The contexts to read: --contexts a,b,c, else every context of the kubeconfig. */
static char **context_names(struct cmd_context *ctx, const char *list)
{
    if (list == NULL) {
        char **names = NULL;
        struct error err = {0};
        if (kubeconfig_list_contexts(&ctx->g->kc, &names, &err) < 0) {
            cmd_report(ctx, &err);
            return NULL;
        }
        return names;
    }
    size_t count = 1;
    for (const char *p = list; *p; p++)
        count += *p == ',';
    char **names = calloc(count + 1, sizeof *names);
    size_t n = 0;
    for (const char *p = list; names != NULL && *p;) {
        size_t len = strcspn(p, ",");
        if (len > 0)
            names[n++] = strndup(p, len);
        p += len + (p[len] == ',');
    }
    return names;
}

/* Reads every context at once, within the deadline: the readings stop a little
 * before it, so that the whole answer (the table, the exit) comes within it. */
static void read_all(struct cmd_context *ctx, struct context_entry *entries, size_t n,
                     long timeout_ms)
{
    long margin = timeout_ms >= 2500 ? 250 : timeout_ms / 10;
    long long deadline = clock_now_ms() + timeout_ms - margin;
    for (size_t i = 0; i < n; i++) {
        context_entry_clear(&entries[i]);
        entries[i].ctx = ctx;
        entries[i].deadline_ms = deadline;
        entries[i].timeout_ms = timeout_ms;
    }
    run_parallel(read_context, entries, sizeof *entries, n);
}

static void print_once(struct cmd_context *ctx, FILE *text, FILE *raw, struct table *t, json_t *doc)
{
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        cmd_print_document(ctx, text, json_incref(doc));
        return;
    }
    char *s = table_render(t, ctx->color); /* cells sanitized before colour */
    if (s != NULL)
        fputs(s, raw);
    free(s);
}

static const char *const headers[] = {"CONTEXT", "NAMESPACE", "STATEFULSET", "READY",   "SEALED",
                                      "ACTIVE",  "VERSION",   "SEAL",        "VERDICT", "PROBLEM"};

/* -w: on a terminal the table is redrawn; elsewhere one timestamped line per
 * row whose verdict changed (json/yaml: the document again). Ctrl-C ends it. */
static int watch_contexts(struct cmd_context *ctx, struct context_entry *entries, size_t n,
                          long timeout_ms, long interval_ms, const char *what)
{
    int tty = isatty(fileno(ctx->out_raw)) && ctx->g->output != OUTPUT_JSON &&
              ctx->g->output != OUTPUT_YAML;
    json_t *before = json_array();
    cmd_interrupt_at_least(INTERRUPT_STEPS);
    while (!cmd_interrupted) {
        read_all(ctx, entries, n, timeout_ms);
        struct table *t = table_new(10, headers);
        json_t *doc = json_array(), *lines = json_array();
        build_views(entries, n, t, doc, lines);
        char at[16];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(at, sizeof at, "%H:%M:%S", &tm);
        if (tty) {
            char every[32];
            wait_format_duration(every, sizeof every, interval_ms);
            fputs("\033[H\033[2J", ctx->out_raw);
            fprintf(ctx->out, "Every %s: %s status %s%*s%s\n\n", every, ctx->prog, what, 8, "", at);
            fflush(ctx->out);
            print_once(ctx, ctx->out, ctx->out_raw, t, doc);
        } else if (!json_equal(before, lines)) {
            if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
                print_once(ctx, ctx->out, ctx->out_raw, t, doc);
            } else {
                size_t i;
                json_t *x;
                json_array_foreach(lines, i, x)
                {
                    const char *line = json_string_value(x);
                    int seen = 0;
                    size_t k;
                    json_t *y;
                    json_array_foreach(before, k, y) seen |=
                        strcmp(json_string_value(y), line) == 0;
                    if (!seen)
                        fprintf(ctx->out, "%s %s\n", at, line);
                }
            }
        }
        fflush(ctx->out);
        fflush(ctx->out_raw);
        json_decref(before);
        before = lines;
        json_decref(doc);
        table_free(t);
        wait_sleep_ms(interval_ms, &cmd_interrupted);
    }
    json_decref(before);
    return EXIT_OK; /* Ctrl-C is how a watch ends */
}

int cmd_status_contexts(struct cmd_context *ctx, const char *list, int watch, long interval_ms)
{
    char **names = context_names(ctx, list);
    if (names == NULL)
        return EXIT_ERROR;
    size_t n = 0;
    while (names[n] != NULL)
        n++;
    if (n == 0) {
        cmd_errorf(ctx, "no context to read%s\n",
                   list ? " (--contexts is empty)" : " in the kubeconfig");
        kubeconfig_free_strv(names);
        return EXIT_USAGE;
    }
    long timeout_ms =
        ctx->g->request_timeout_set ? ctx->g->request_timeout_ms : CONTEXTS_DEFAULT_TIMEOUT_MS;
    if (timeout_ms <= 0)
        timeout_ms = CONTEXTS_DEFAULT_TIMEOUT_MS;
    struct context_entry *entries = calloc(n + 1, sizeof *entries);
    if (entries == NULL) {
        kubeconfig_free_strv(names);
        return EXIT_ERROR;
    }
    for (size_t i = 0; i < n; i++)
        entries[i].name = names[i];
    int rc;
    if (watch) {
        rc = watch_contexts(ctx, entries, n, timeout_ms, interval_ms,
                            list ? "--contexts" : "--all-contexts");
    } else {
        read_all(ctx, entries, n, timeout_ms);
        struct table *t = table_new(10, headers);
        json_t *doc = json_array();
        rc = build_views(entries, n, t, doc, NULL);
        print_once(ctx, ctx->out, ctx->out_raw, t, doc);
        json_decref(doc);
        table_free(t);
    }
    for (size_t i = 0; i < n; i++)
        context_entry_clear(&entries[i]);
    free(entries);
    kubeconfig_free_strv(names);
    return rc;
}
