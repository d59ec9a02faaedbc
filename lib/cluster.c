#include "cluster.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dynbuf.h"
#include "json.h"
#include "text.h"

#define NAME_SELECTOR "app.kubernetes.io/name in (vault,openbao)"

/* The most pods a Kubernetes cluster runs (its documented scalability limit,
 * kubernetes.io/docs/setup/best-practices/cluster-large): no StatefulSet has
 * more replicas, and no pod a higher ordinal. */
#define REPLICAS_MAX 150000
/* The longest data or config folder we take (Linux's PATH_MAX is 4096; the chart's are short). */
#define LAYOUT_PATH_MAX 256

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* "image:tag" → tag; "reg:5000/vault:1.2@sha256:.." → "1.2". */
char *cluster_image_tag(const char *image)
{
    if (image == NULL)
        return NULL;
    const char *slash = strrchr(image, '/');
    const char *base = slash ? slash + 1 : image;
    const char *at = strchr(base, '@');
    const char *colon = strchr(base, ':');
    if (colon != NULL && at != NULL && colon > at)
        colon = NULL; /* the colon of "@sha256:..." */
    if (colon == NULL)
        return at ? NULL : strdup("latest");
    return at ? strndup(colon + 1, (size_t)(at - colon - 1)) : strdup(colon + 1);
}

static enum tristate label_bool(json_t *labels, const char *prefix, const char *key)
{
    char name[64];
    snprintf(name, sizeof name, "%s-%s", prefix, key);
    const char *v = jstr(labels, name);
    if (v == NULL)
        return TRI_UNKNOWN;
    if (strcmp(v, "true") == 0)
        return TRI_TRUE;
    if (strcmp(v, "false") == 0)
        return TRI_FALSE;
    return TRI_UNKNOWN;
}

/* Builds "k=v,k2=v2,k3 in (a,b)" from a LabelSelector object. */
static char *selector_string(json_t *sel)
{
    struct dynbuf b = {0};
    const char *key;
    json_t *val;
    json_object_foreach(json_object_get(sel, "matchLabels"), key, val)
    {
        dynbuf_addf(&b, "%s%s=%s", b.len ? "," : "", key, json_string_value(val));
    }
    size_t i;
    json_t *expr;
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, expr)
    {
        const char *k = jstr(expr, "key"), *op = jstr(expr, "operator");
        if (k == NULL || op == NULL)
            continue;
        if (strcmp(op, "Exists") == 0) {
            dynbuf_addf(&b, "%s%s", b.len ? "," : "", k);
        } else if (strcmp(op, "DoesNotExist") == 0) {
            dynbuf_addf(&b, "%s!%s", b.len ? "," : "", k);
        } else {
            dynbuf_addf(&b, "%s%s %s (", b.len ? "," : "", k,
                        strcmp(op, "In") == 0 ? "in" : "notin");
            size_t j;
            json_t *v;
            json_array_foreach(json_object_get(expr, "values"), j, v)
            {
                dynbuf_addf(&b, "%s%s", j ? "," : "", json_string_value(v));
            }
            dynbuf_addf(&b, ")");
        }
    }
    return dynbuf_take(&b);
}

static void pod_clear(struct vault_pod *p)
{
    free(p->name);
    free(p->phase);
    free(p->reason);
    free(p->node);
    free(p->pod_ip);
    free(p->image);
    free(p->uid);
    free(p->revision);
    free(p->label_version);
    memset(p, 0, sizeof *p);
}

void cluster_free(struct vault_cluster *vc)
{
    if (vc == NULL)
        return;
    for (size_t i = 0; i < vc->npods; i++)
        pod_clear(&vc->pods[i]);
    free(vc->pods);
    free(vc->namespace);
    free(vc->name);
    free(vc->release);
    free(vc->flavor);
    free(vc->container);
    free(vc->cli);
    free(vc->data_dir);
    free(vc->config_path);
    free(vc->service_name);
    free(vc->pod_management_policy);
    free(vc->image);
    free(vc->version);
    free(vc->update_strategy);
    free(vc->update_revision);
    free(vc->current_revision);
    free(vc->api_scheme);
    free(vc->selector);
    free(vc);
}

/* Ordinal of "<sts>-N", or -1. */
static int ordinal_of(const char *sts, const char *pod)
{
    size_t l = strlen(sts);
    if (strncmp(pod, sts, l) != 0 || pod[l] != '-' || pod[l + 1] == '\0')
        return -1;
    char *end;
    long n = strtol(pod + l + 1, &end, 10);
    if (*end != '\0' || n < 0 || n >= REPLICAS_MAX)
        return -1;
    return (int)n;
}

static json_t *find_container(json_t *containers, const char *name)
{
    size_t i;
    json_t *c;
    if (name == NULL)
        return NULL;
    json_array_foreach(containers, i, c)
    {
        const char *n = jstr(c, "name");
        if (n != NULL && strcmp(n, name) == 0)
            return c;
    }
    return NULL;
}

static void fill_pod(struct vault_cluster *vc, struct vault_pod *p, json_t *pod)
{
    json_t *meta = json_object_get(pod, "metadata");
    json_t *spec = json_object_get(pod, "spec");
    json_t *status = json_object_get(pod, "status");
    json_t *labels = json_object_get(meta, "labels");
    p->exists = 1;
    p->name = dup_or_null(jstr(meta, "name"));
    p->ordinal = ordinal_of(vc->name, p->name ? p->name : "");
    p->phase = strdup(jstr(status, "phase") ? jstr(status, "phase") : "Unknown");
    p->terminating = json_object_get(meta, "deletionTimestamp") != NULL;
    p->uid = dup_or_null(jstr(meta, "uid"));
    p->revision = dup_or_null(jstr(labels, "controller-revision-hash"));
    if (clock_parse_rfc3339(jstr(meta, "creationTimestamp"), &p->created) < 0)
        p->created = 0;
    p->node = dup_or_null(jstr(spec, "nodeName"));
    p->pod_ip = dup_or_null(jstr(status, "podIP"));
    json_t *spec_c = find_container(json_object_get(spec, "containers"), vc->container);
    p->image = dup_or_null(jstr(spec_c, "image"));

    size_t i;
    json_t *cond;
    json_array_foreach(json_object_get(status, "conditions"), i, cond)
    {
        const char *type = jstr(cond, "type"), *st = jstr(cond, "status");
        if (type == NULL || st == NULL)
            continue;
        if (strcmp(type, "Ready") == 0)
            p->ready = strcmp(st, "True") == 0;
        if (strcmp(type, "PodScheduled") == 0 && strcmp(st, "False") == 0 && p->reason == NULL) {
            const char *r = jstr(cond, "reason"), *m = jstr(cond, "message");
            /* The scheduler's message whole: the findings show it (status's table
             * shows only the reason). */
            p->reason = text_printf("%s%s%s", r ? r : "NotScheduled", m ? ": " : "", m ? m : "");
        }
    }
    json_t *cs = find_container(json_object_get(status, "containerStatuses"), vc->container);
    int container_running = 0;
    if (cs != NULL) {
        p->restarts = (int)json_integer_value(json_object_get(cs, "restartCount"));
        json_t *state = json_object_get(cs, "state");
        if (json_object_get(state, "running") != NULL)
            container_running = 1;
        const char *why = jstr(jpath(state, "waiting", NULL), "reason");
        if (why == NULL)
            why = jstr(jpath(state, "terminated", NULL), "reason");
        if (why != NULL && p->reason == NULL)
            p->reason = strdup(why);
    }
    if (p->reason == NULL && jstr(status, "reason") != NULL)
        p->reason = strdup(jstr(status, "reason")); /* Evicted, NodeLost, ... */
    if (p->terminating && p->reason == NULL)
        p->reason = strdup("Terminating");
    p->running = strcmp(p->phase, "Running") == 0 && container_running && !p->terminating;

    const char *prefix = vc->flavor;
    p->label_initialized = label_bool(labels, prefix, "initialized");
    p->label_sealed = label_bool(labels, prefix, "sealed");
    p->label_active = label_bool(labels, prefix, "active");
    p->label_perf_standby = label_bool(labels, prefix, "perf-standby");
    char vkey[64];
    snprintf(vkey, sizeof vkey, "%s-version", prefix);
    p->label_version = dup_or_null(jstr(labels, vkey));
}

static int compare_pods(const void *a, const void *b)
{
    const struct vault_pod *x = a, *y = b;
    if (x->ordinal != y->ordinal)
        return x->ordinal < y->ordinal ? -1 : 1;
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

int cluster_set_pods(struct vault_cluster *vc, json_t *list, struct error *err)
{
    json_t *items = json_object_get(list, "items");
    size_t n = json_array_size(items);
    size_t want = vc->replicas > 0 ? (size_t)vc->replicas : 0;
    struct vault_pod *pods = calloc(n + want + 1, sizeof *pods);
    if (pods == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    size_t np = 0;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *name = jstr(json_object_get(item, "metadata"), "name");
        if (name == NULL || ordinal_of(vc->name, name) < 0)
            continue; /* another workload that matches the selector */
        fill_pod(vc, &pods[np++], item);
    }
    /* Replicas without a pod: say why, the way the StatefulSet controller decides
     * (OrderedReady: it waits for the first ordinal that is not Ready). One pass
     * over the pods, one over the ordinals. */
    unsigned char *state = calloc(want + 1, 1); /* 1 = has a pod, 2 = and it is Ready */
    if (state == NULL) {
        for (size_t k = 0; k < np; k++)
            pod_clear(&pods[k]);
        free(pods);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    for (size_t k = 0; k < np; k++) {
        int o = pods[k].ordinal;
        if (o >= 0 && (size_t)o < want && pods[k].exists)
            state[o] = pods[k].ready ? 2 : (state[o] == 2 ? 2 : 1);
    }
    int ordered =
        vc->pod_management_policy != NULL && strcmp(vc->pod_management_policy, "OrderedReady") == 0;
    size_t unready = want; /* the first ordinal below the current one that is not Ready */
    for (size_t ord = 0; ord < want; ord++) {
        if (state[ord] == 0) {
            struct vault_pod *p = &pods[np++];
            char name[300], why[400];
            snprintf(name, sizeof name, "%s-%zu", vc->name, ord);
            if (ordered && unready < ord)
                snprintf(why, sizeof why,
                         "waiting for %s-%zu to be Ready (podManagementPolicy OrderedReady)",
                         vc->name, unready);
            else
                snprintf(why, sizeof why, "no pod yet");
            p->name = strdup(name);
            p->ordinal = (int)ord;
            p->exists = 0;
            p->phase = strdup("Missing");
            p->reason = strdup(why);
            p->label_initialized = p->label_sealed = p->label_active = TRI_UNKNOWN;
            p->label_perf_standby = TRI_UNKNOWN;
        }
        if (state[ord] != 2 && unready == want)
            unready = ord;
    }
    free(state);
    qsort(pods, np, sizeof *pods, compare_pods);
    for (size_t k = 0; k < vc->npods; k++)
        pod_clear(&vc->pods[k]);
    free(vc->pods);
    vc->pods = pods;
    vc->npods = np;
    return 0;
}

static json_t *list_pods_by_selector(struct kube_client *kube, const struct vault_cluster *vc,
                                     struct error *err);

int cluster_refresh_pods(struct kube_client *kube, struct vault_cluster *vc, struct error *err)
{
    json_t *list = list_pods_by_selector(kube, vc, err);
    if (list == NULL)
        return -1;
    int rc = cluster_set_pods(vc, list, err);
    json_decref(list);
    return rc;
}

/* A folder we may pass to a pod's tools and show: absolute, no "..", only the
 * bytes of ordinary paths; a trailing slash is dropped. */
static int sane_dir(const char *s, size_t len, char *out, size_t cap)
{
    while (len > 1 && s[len - 1] == '/')
        len--;
    if (len < 2 || len >= cap || len >= LAYOUT_PATH_MAX || s[0] != '/')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '/' && ch != '.' && ch != '-' && ch != '_' && ch != '+' &&
            ch != '@')
            return 0;
        if (ch == '.' && s[i - 1] == '/' && i + 1 < len && s[i + 1] == '.' &&
            (i + 2 == len || s[i + 2] == '/'))
            return 0;
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return 1;
}

/* The mountPath of the container's volume called name, NULL when none is sane. */
static char *volume_mount(json_t *container, const char *name)
{
    size_t i;
    json_t *m;
    char path[LAYOUT_PATH_MAX];
    json_array_foreach(json_object_get(container, "volumeMounts"), i, m)
    {
        const char *mn = jstr(m, "name"), *mp = jstr(m, "mountPath");
        if (mn != NULL && mp != NULL && strcmp(mn, name) == 0 &&
            sane_dir(mp, strlen(mp), path, sizeof path))
            return strdup(path);
    }
    return NULL;
}

/* The chart's layout from the server container (the config may refine it later). */
static void set_layout(struct vault_cluster *vc, json_t *container)
{
    const char *base = vc->product == PRODUCT_OPENBAO ? "/openbao" : "/vault";
    vc->data_dir = volume_mount(container, "data");
    vc->data_dir_from = vc->data_dir != NULL ? LAYOUT_MOUNT : LAYOUT_DEFAULT;
    if (vc->data_dir == NULL && asprintf(&vc->data_dir, "%s/data", base) < 0)
        vc->data_dir = NULL;
    char *conf = volume_mount(container, "config");
    if (asprintf(&vc->config_path, "%s/extraconfig-from-values.hcl", conf ? conf : "") < 0)
        vc->config_path = NULL;
    if (conf == NULL) {
        free(vc->config_path);
        if (asprintf(&vc->config_path, "%s/config/extraconfig-from-values.hcl", base) < 0)
            vc->config_path = NULL;
    }
    free(conf);
}

/* --- the server config: a small HCL/JSON tokenizer, enough to find storage "raft" { path } */

enum conf_token { CT_END, CT_WORD, CT_STRING, CT_OPEN, CT_CLOSE, CT_ASSIGN, CT_OTHER };

struct conf_lexer {
    const char *s;
    size_t len, pos;
    const char *text; /* the token's word or string content */
    size_t tlen;
};

static void skip_space_and_comments(struct conf_lexer *lx)
{
    while (lx->pos < lx->len) {
        const char *p = lx->s + lx->pos;
        size_t left = lx->len - lx->pos;
        if (isspace((unsigned char)*p) || *p == ',') {
            lx->pos++;
        } else if (*p == '#' || (left > 1 && p[0] == '/' && p[1] == '/')) {
            const char *nl = memchr(p, '\n', left);
            lx->pos = nl ? (size_t)(nl - lx->s) + 1 : lx->len;
        } else if (left > 1 && p[0] == '/' && p[1] == '*') {
            const char *q = p + 2;
            while (q + 1 < lx->s + lx->len && !(q[0] == '*' && q[1] == '/'))
                q++;
            lx->pos = q + 1 < lx->s + lx->len ? (size_t)(q - lx->s) + 2 : lx->len;
        } else {
            return;
        }
    }
}

static enum conf_token next_token(struct conf_lexer *lx)
{
    skip_space_and_comments(lx);
    if (lx->pos >= lx->len)
        return CT_END;
    const char *p = lx->s + lx->pos;
    lx->pos++;
    switch (*p) {
    case '{':
        return CT_OPEN;
    case '}':
        return CT_CLOSE;
    case '=':
    case ':':
        return CT_ASSIGN;
    case '"': {
        size_t i = lx->pos;
        while (i < lx->len && lx->s[i] != '"' && lx->s[i] != '\n')
            i += lx->s[i] == '\\' ? 2 : 1;
        if (i >= lx->len || lx->s[i] != '"') {
            lx->pos = lx->len;
            return CT_END; /* unterminated: nothing after it can be trusted */
        }
        lx->text = p + 1;
        lx->tlen = i - lx->pos;
        lx->pos = i + 1;
        return CT_STRING;
    }
    default:
        if (isalnum((unsigned char)*p) || *p == '_') {
            while (lx->pos < lx->len && (isalnum((unsigned char)lx->s[lx->pos]) ||
                                         lx->s[lx->pos] == '_' || lx->s[lx->pos] == '-'))
                lx->pos++;
            lx->text = p;
            lx->tlen = (size_t)(lx->s + lx->pos - p);
            return CT_WORD;
        }
        return CT_OTHER;
    }
}

static int is_key(enum conf_token t, const struct conf_lexer *lx, const char *word)
{
    return (t == CT_WORD || t == CT_STRING) && lx->tlen == strlen(word) &&
           memcmp(lx->text, word, lx->tlen) == 0;
}

int cluster_config_raft_path(const char *config, size_t len, char *out, size_t cap)
{
    struct conf_lexer lx = {.s = config, .len = config ? len : 0};
    /* storage "raft" { ... }, storage = { raft = { ... } }, {"storage": {"raft": {...}}} */
    enum { SEEK, AFTER_STORAGE, AFTER_RAFT, IN_RAFT } stage = SEEK;
    int depth = 0, raft_depth = -1, path_key = 0, path_assign = 0;
    for (enum conf_token t; (t = next_token(&lx)) != CT_END;) {
        int key_path = 0;
        switch (stage) {
        case SEEK:
            if (depth <= 1 && is_key(t, &lx, "storage"))
                stage = AFTER_STORAGE;
            break;
        case AFTER_STORAGE:
            if (is_key(t, &lx, "raft"))
                stage = AFTER_RAFT;
            else if (t != CT_ASSIGN && t != CT_OPEN)
                stage = SEEK;
            break;
        case AFTER_RAFT:
            if (t == CT_OPEN) {
                stage = IN_RAFT;
                raft_depth = depth + 1;
            } else if (t != CT_ASSIGN) {
                stage = SEEK;
            }
            break;
        case IN_RAFT:
            if (path_assign && t == CT_STRING && depth == raft_depth)
                return sane_dir(lx.text, lx.tlen, out, cap);
            key_path = depth == raft_depth && is_key(t, &lx, "path");
            path_assign = path_key && t == CT_ASSIGN;
            break;
        }
        path_key = key_path;
        if (t == CT_OPEN)
            depth++;
        else if (t == CT_CLOSE && --depth < raft_depth && stage == IN_RAFT)
            return 0; /* the raft block ended without a path: Vault refuses that */
        if (depth < 0 || depth > 64)
            return 0;
    }
    return 0;
}

int cluster_use_server_config(struct vault_cluster *vc, const char *config, size_t len)
{
    char path[LAYOUT_PATH_MAX];
    char *copy = NULL;
    if (!cluster_config_raft_path(config, len, path, sizeof path) || (copy = strdup(path)) == NULL)
        return 0;
    free(vc->data_dir);
    vc->data_dir = copy;
    vc->data_dir_from = LAYOUT_CONFIG;
    return 1;
}

static int fill_statefulset(struct vault_cluster *vc, json_t *sts, const struct cluster_query *q,
                            struct error *err)
{
    json_t *meta = json_object_get(sts, "metadata");
    json_t *spec = json_object_get(sts, "spec");
    json_t *labels = json_object_get(meta, "labels");
    vc->name = dup_or_null(jstr(meta, "name"));
    vc->namespace = dup_or_null(jstr(meta, "namespace"));
    if (vc->namespace == NULL)
        vc->namespace = strdup(q->namespace);
    vc->release = dup_or_null(jstr(labels, "app.kubernetes.io/instance"));
    const char *flavor = jstr(labels, "app.kubernetes.io/name");
    vc->product =
        flavor != NULL && strcmp(flavor, "openbao") == 0 ? PRODUCT_OPENBAO : PRODUCT_VAULT;
    int bao = vc->product == PRODUCT_OPENBAO;
    vc->flavor = strdup(bao ? "openbao" : "vault");
    vc->cli = strdup(bao ? "bao" : "vault");
    vc->token_env = bao ? "BAO_TOKEN" : "VAULT_TOKEN";
    vc->node_id_env = bao ? "BAO_RAFT_NODE_ID" : "VAULT_RAFT_NODE_ID";
    vc->service_name = dup_or_null(jstr(spec, "serviceName"));
    vc->pod_management_policy = dup_or_null(jstr(spec, "podManagementPolicy"));
    if (vc->name == NULL)
        return error_set(err, ERR_PROTOCOL, "a StatefulSet in namespace %s has no metadata.name",
                         vc->namespace);
    json_t *rep = json_object_get(spec, "replicas");
    json_int_t n = rep != NULL ? json_integer_value(rep) : 1; /* the API server's default */
    if (rep != NULL && !json_is_integer(rep))
        return error_set(err, ERR_PROTOCOL,
                         "StatefulSet %s/%s: spec.replicas is not a whole number", vc->namespace,
                         vc->name);
    if (n < 0)
        return error_set(err, ERR_PROTOCOL, "StatefulSet %s/%s: spec.replicas is %lld, not a count",
                         vc->namespace, vc->name, (long long)n);
    if (n > REPLICAS_MAX)
        return error_set(err, ERR_PROTOCOL,
                         "StatefulSet %s/%s wants %lld replicas: more pods than a Kubernetes "
                         "cluster can run (%d)",
                         vc->namespace, vc->name, (long long)n, REPLICAS_MAX);
    vc->replicas = (int)n;
    json_int_t ready =
        json_integer_value(json_object_get(json_object_get(sts, "status"), "readyReplicas"));
    vc->ready_replicas = ready >= 0 && ready <= REPLICAS_MAX ? (int)ready : 0;
    vc->selector = selector_string(json_object_get(spec, "selector"));
    if (vc->selector == NULL || vc->selector[0] == '\0')
        return error_set(err, ERR_PROTOCOL, "StatefulSet %s/%s has no selector", vc->namespace,
                         vc->name);

    json_t *containers = jpath(jpath(spec, "template", "spec"), "containers", NULL);
    if (json_array_size(containers) == 0)
        return error_set(err, ERR_PROTOCOL,
                         "StatefulSet %s/%s has no containers in its pod template", vc->namespace,
                         vc->name);
    size_t ci;
    json_t *cx;
    json_array_foreach(containers, ci, cx)
    {
        if (jstr(cx, "name") == NULL)
            return error_set(err, ERR_PROTOCOL,
                             "StatefulSet %s/%s: container %zu of the pod template has no name",
                             vc->namespace, vc->name, ci);
    }
    json_t *c = NULL;
    if (q->container != NULL) {
        c = find_container(containers, q->container);
        if (c == NULL)
            return error_set(err, ERR_USAGE,
                             "StatefulSet %s/%s has no container \"%s\" (--container)",
                             vc->namespace, vc->name, q->container);
    } else {
        c = find_container(containers, vc->flavor);
        if (c == NULL && json_array_size(containers) == 1)
            c = json_array_get(containers, 0);
        if (c == NULL)
            return error_set(err, ERR_USAGE,
                             "cannot tell which container of StatefulSet %s/%s runs %s: use "
                             "--container",
                             vc->namespace, vc->name, vc->flavor);
    }
    vc->container = dup_or_null(jstr(c, "name"));
    set_layout(vc, c);
    /* The chart sets VAULT_ADDR to http(s)://127.0.0.1:8200 from global.tlsDisable. */
    vc->api_scheme = strdup("http");
    size_t ei;
    json_t *env;
    json_array_foreach(json_object_get(c, "env"), ei, env)
    {
        const char *en = jstr(env, "name"), *ev = jstr(env, "value");
        if (en != NULL && ev != NULL &&
            (strcmp(en, "VAULT_ADDR") == 0 || strcmp(en, "BAO_ADDR") == 0) &&
            strncmp(ev, "https:", 6) == 0) {
            free(vc->api_scheme);
            vc->api_scheme = strdup("https");
        }
    }
    cluster_set_update_state(vc, sts);
    return 0;
}

static void replace_str(char **field, const char *value)
{
    free(*field);
    *field = dup_or_null(value);
}

void cluster_set_update_state(struct vault_cluster *vc, json_t *sts)
{
    json_t *spec = json_object_get(sts, "spec");
    json_t *status = json_object_get(sts, "status");
    json_t *containers = jpath(jpath(spec, "template", "spec"), "containers", NULL);
    json_t *c = find_container(containers, vc->container ? vc->container : "");
    replace_str(&vc->image, jstr(c, "image"));
    free(vc->version);
    vc->version = cluster_image_tag(vc->image);
    /* The API server defaults an absent strategy to RollingUpdate. */
    const char *strategy = jstr(json_object_get(spec, "updateStrategy"), "type");
    replace_str(&vc->update_strategy, strategy ? strategy : "RollingUpdate");
    replace_str(&vc->update_revision, jstr(status, "updateRevision"));
    replace_str(&vc->current_revision, jstr(status, "currentRevision"));
    vc->generation = json_integer_value(jpath(sts, "metadata", "generation"));
    vc->observed_generation = json_integer_value(json_object_get(status, "observedGeneration"));
}

void cluster_statefulset_path(const struct vault_cluster *vc, char *buf, size_t cap)
{
    char *ns = kube_urlencode(vc->namespace), *name = kube_urlencode(vc->name);
    snprintf(buf, cap, "/apis/apps/v1/namespaces/%s/statefulsets/%s", ns ? ns : "",
             name ? name : "");
    free(ns);
    free(name);
}

int cluster_refresh_statefulset(struct kube_client *kube, struct vault_cluster *vc,
                                json_t **sts_out, struct error *err)
{
    char path[1024];
    cluster_statefulset_path(vc, path, sizeof path);
    json_t *sts = NULL;
    if (kube_get(kube, path, &sts, err) < 0)
        return error_wrap(err, "reading StatefulSet %s/%s", vc->namespace, vc->name);
    cluster_set_update_state(vc, sts);
    if (sts_out != NULL)
        *sts_out = sts;
    else
        json_decref(sts);
    return 0;
}

/* "ns/name (release r)" list of StatefulSets for messages. */
static void describe_list(json_t *items, char *buf, size_t cap)
{
    size_t len = 0, i;
    json_t *it;
    buf[0] = '\0';
    json_array_foreach(items, i, it)
    {
        json_t *meta = json_object_get(it, "metadata");
        const char *rel = jstr(json_object_get(meta, "labels"), "app.kubernetes.io/instance");
        int w = snprintf(buf + len, cap - len, "%s%s/%s (release %s)", i ? ", " : "",
                         jstr(meta, "namespace") ? jstr(meta, "namespace") : "?",
                         jstr(meta, "name") ? jstr(meta, "name") : "?", rel ? rel : "?");
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
}

/* The pods, listed while the StatefulSet is looked up: the chart's pod labels
 * are known, so one API round trip is saved; the StatefulSet's own selector
 * is the fallback when the guess finds nothing. */
struct pod_prefetch {
    pthread_t thread;
    int started;
    struct kube_client *kube;
    char path[1024];
    json_t *list;
};

static void *prefetch_pods(void *arg)
{
    struct pod_prefetch *pf = arg;
    struct error ignored = {0};
    if (kube_get(pf->kube, pf->path, &pf->list, &ignored) < 0)
        pf->list = NULL;
    return NULL;
}

static void prefetch_start(struct pod_prefetch *pf, struct kube_client *kube,
                           const struct cluster_query *q)
{
    char selector[512];
    snprintf(selector, sizeof selector, "%s,component=server%s%s", NAME_SELECTOR,
             q->release ? ",app.kubernetes.io/instance=" : "", q->release ? q->release : "");
    char *sel = kube_urlencode(selector), *ns = kube_urlencode(q->namespace);
    snprintf(pf->path, sizeof pf->path, "/api/v1/namespaces/%s/pods?labelSelector=%s", ns, sel);
    free(sel);
    free(ns);
    pf->kube = kube;
    pf->started = pthread_create(&pf->thread, NULL, prefetch_pods, pf) == 0;
}

static json_t *prefetch_finish(struct pod_prefetch *pf)
{
    if (pf->started)
        pthread_join(pf->thread, NULL);
    pf->started = 0;
    return pf->list;
}

static int discover_statefulset(struct kube_client *kube, const struct cluster_query *q,
                                json_t **out, struct error *err);

int cluster_discover(struct kube_client *kube, const struct cluster_query *q,
                     struct vault_cluster **out, struct error *err)
{
    return cluster_discover_objects(kube, q, out, NULL, NULL, err);
}

/* The pods by the StatefulSet's own selector (when the chart's labels found none). */
static json_t *list_pods_by_selector(struct kube_client *kube, const struct vault_cluster *vc,
                                     struct error *err)
{
    char *ns = kube_urlencode(vc->namespace);
    char *sel = kube_urlencode(vc->selector);
    char path[2048];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods?labelSelector=%s", ns, sel);
    free(ns);
    free(sel);
    json_t *list = NULL;
    if (kube_get(kube, path, &list, err) < 0) {
        error_wrap(err, "listing the pods of StatefulSet %s/%s", vc->namespace, vc->name);
        return NULL;
    }
    return list;
}

int cluster_discover_objects(struct kube_client *kube, const struct cluster_query *q,
                             struct vault_cluster **out, json_t **sts_out, json_t **pods_out,
                             struct error *err)
{
    struct pod_prefetch pf = {0};
    prefetch_start(&pf, kube, q);
    json_t *sts = NULL;
    int rc = discover_statefulset(kube, q, &sts, err);
    json_t *pods = prefetch_finish(&pf);
    struct vault_cluster *vc = NULL;
    if (rc == 0)
        rc = cluster_from_statefulset(sts, q, &vc, err);
    if (rc == 0) {
        rc = pods != NULL ? cluster_set_pods(vc, pods, err) : -1;
        int found = 0;
        for (size_t i = 0; rc == 0 && i < vc->npods; i++)
            found |= vc->pods[i].exists;
        if (rc < 0 || !found) {
            json_decref(pods);
            pods = list_pods_by_selector(kube, vc, err);
            rc = pods != NULL ? cluster_set_pods(vc, pods, err) : -1;
        }
    }
    if (rc < 0) {
        json_decref(sts);
        json_decref(pods);
        cluster_free(vc);
        return -1;
    }
    if (sts_out != NULL)
        *sts_out = sts;
    else
        json_decref(sts);
    if (pods_out != NULL)
        *pods_out = pods;
    else
        json_decref(pods);
    *out = vc;
    return 0;
}

/* The one StatefulSet the flags designate (a new reference in *out). */
static int discover_statefulset(struct kube_client *kube, const struct cluster_query *q,
                                json_t **out, struct error *err)
{
    char path[2048];
    json_t *sts = NULL, *list = NULL;
    char *ns = kube_urlencode(q->namespace);
    if (q->statefulset != NULL) {
        char *name = kube_urlencode(q->statefulset);
        snprintf(path, sizeof path, "/apis/apps/v1/namespaces/%s/statefulsets/%s", ns, name);
        free(name);
        free(ns);
        if (kube_get(kube, path, &sts, err) < 0) {
            if (err->kind == ERR_NOT_FOUND)
                return error_set(err, ERR_NOT_FOUND,
                                 "StatefulSet \"%s\" not found in namespace \"%s\" "
                                 "(--statefulset, -n)",
                                 q->statefulset, q->namespace);
            return error_wrap(err, "finding StatefulSet %s", q->statefulset);
        }
    } else {
        char selector[512];
        if (q->release != NULL)
            snprintf(selector, sizeof selector, "%s,app.kubernetes.io/instance=%s", NAME_SELECTOR,
                     q->release);
        else
            snprintf(selector, sizeof selector, "%s", NAME_SELECTOR);
        char *sel = kube_urlencode(selector);
        snprintf(path, sizeof path, "/apis/apps/v1/namespaces/%s/statefulsets?labelSelector=%s", ns,
                 sel);
        free(ns);
        if (kube_get(kube, path, &list, err) < 0) {
            free(sel);
            return error_wrap(err, "finding the Vault StatefulSet in namespace \"%s\"",
                              q->namespace);
        }
        json_t *items = json_object_get(list, "items");
        size_t n = json_array_size(items);
        if (n == 0) {
            /* Look everywhere, if RBAC lets us, to suggest the right namespace. */
            json_t *all = NULL;
            struct error ignored = {0};
            snprintf(path, sizeof path, "/apis/apps/v1/statefulsets?labelSelector=%s", sel);
            free(sel);
            json_decref(list);
            char where[1024] = "";
            if (kube_get(kube, path, &all, &ignored) == 0)
                describe_list(json_object_get(all, "items"), where, sizeof where);
            json_decref(all);
            const char *what = q->release ? "release" : NULL;
            if (where[0] != '\0')
                return error_set(err, ERR_NOT_FOUND,
                                 "no Vault StatefulSet%s%s%s in namespace \"%s\"; found %s: use "
                                 "-n NAMESPACE%s",
                                 what ? " of release \"" : "", what ? q->release : "",
                                 what ? "\"" : "", q->namespace, where,
                                 q->release ? " (and --release)" : "");
            return error_set(err, ERR_NOT_FOUND,
                             "no Vault StatefulSet%s%s%s in namespace \"%s\" (looked for label "
                             "app.kubernetes.io/name=vault or openbao); use -n NAMESPACE",
                             what ? " of release \"" : "", what ? q->release : "", what ? "\"" : "",
                             q->namespace);
        }
        free(sel);
        if (n > 1) {
            char names[1024];
            describe_list(items, names, sizeof names);
            json_decref(list);
            return error_set(err, ERR_USAGE,
                             "several Vault StatefulSets in namespace \"%s\": %s; choose one "
                             "with --release or --statefulset",
                             q->namespace, names);
        }
        sts = json_incref(json_array_get(items, 0));
        json_decref(list);
    }
    *out = sts;
    return 0;
}

int cluster_from_statefulset(json_t *sts, const struct cluster_query *q, struct vault_cluster **out,
                             struct error *err)
{
    struct vault_cluster *vc = calloc(1, sizeof *vc);
    if (vc == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    if (fill_statefulset(vc, sts, q, err) < 0) {
        cluster_free(vc);
        return -1;
    }
    *out = vc;
    return 0;
}

int cluster_discover_all(struct kube_client *kube, struct cluster_list *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    char *sel = kube_urlencode(NAME_SELECTOR);
    char path[512];
    snprintf(path, sizeof path, "/apis/apps/v1/statefulsets?labelSelector=%s", sel);
    free(sel);
    json_t *list = NULL;
    if (kube_get(kube, path, &list, err) < 0)
        return error_wrap(err, "listing the Vault StatefulSets of every namespace");
    json_t *items = json_object_get(list, "items");
    size_t n = json_array_size(items);
    out->items = calloc(n + 1, sizeof *out->items);
    out->errors = calloc(n + 1, sizeof *out->errors);
    if (out->items == NULL || out->errors == NULL) {
        json_decref(list);
        cluster_list_free(out);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *sts = json_array_get(items, i);
        json_t *meta = json_object_get(sts, "metadata");
        const char *ns = jstr(meta, "namespace"), *name = jstr(meta, "name");
        struct cluster_query q = {.namespace = ns ? ns : "?"};
        struct error e = {0};
        if (cluster_from_statefulset(sts, &q, &out->items[out->n], &e) < 0) {
            out->items[out->n] = NULL;
            if (asprintf(&out->errors[out->n], "%s/%s: %s", ns ? ns : "?", name ? name : "?",
                         e.msg) < 0)
                out->errors[out->n] = NULL;
        }
        out->n++;
    }
    json_decref(list);
    return 0;
}

void cluster_list_free(struct cluster_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        cluster_free(l->items[i]);
        free(l->errors[i]);
    }
    free(l->items);
    free(l->errors);
    memset(l, 0, sizeof *l);
}

struct vault_pod *cluster_find_pod(struct vault_cluster *vc, const char *name_or_ordinal)
{
    char *end;
    long ord = strtol(name_or_ordinal, &end, 10);
    int numeric = *name_or_ordinal != '\0' && *end == '\0';
    for (size_t i = 0; i < vc->npods; i++) {
        struct vault_pod *p = &vc->pods[i];
        if (numeric ? p->ordinal == ord : strcmp(p->name, name_or_ordinal) == 0)
            return p;
    }
    return NULL;
}

int cluster_select_pods(struct vault_cluster *vc, char *const *names, int n, int need_running,
                        size_t *out, struct error *err)
{
    int count = 0;
    for (int i = 0; i < n; i++) {
        struct vault_pod *p = cluster_find_pod(vc, names[i]);
        if (p == NULL || (!need_running && !p->exists))
            return error_set(err, ERR_USAGE,
                             "no pod \"%s\" in StatefulSet %s/%s (pods: %s-0 to %s-%d)", names[i],
                             vc->namespace, vc->name, vc->name, vc->name, vc->replicas - 1);
        if (need_running && !p->running)
            return error_set(err, ERR_GENERIC, "%s is not running (%s%s%s)", p->name, p->phase,
                             p->reason ? ": " : "", p->reason ? p->reason : "");
        size_t idx = (size_t)(p - vc->pods);
        int dup = 0;
        for (int k = 0; k < count; k++)
            dup |= out[k] == idx;
        if (!dup)
            out[count++] = idx;
    }
    return count;
}

struct vault_pod *cluster_pod_for_address(struct vault_cluster *vc, const char *address)
{
    if (address == NULL)
        return NULL;
    const char *host = strstr(address, "://");
    host = host ? host + 3 : address;
    size_t hl = strcspn(host, ".:/");
    for (size_t i = 0; i < vc->npods; i++) {
        struct vault_pod *p = &vc->pods[i];
        if (strlen(p->name) == hl && strncmp(p->name, host, hl) == 0)
            return p;
        /* An address by pod IP (api_addr style). */
        if (p->pod_ip != NULL) {
            size_t il = strcspn(host, ":/");
            if (strlen(p->pod_ip) == il && strncmp(p->pod_ip, host, il) == 0)
                return p;
        }
    }
    return NULL;
}
