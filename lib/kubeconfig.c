#include "kubeconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "secret.h"
#include "text.h"
#include "wipe.h"

#define SA_DIR   "/var/run/secrets/kubernetes.io/serviceaccount"
#define FILE_MAX (16u << 20)

/* One loaded kubeconfig file. */
struct kc_file {
    char *path;
    char *dir;
    yaml_document_t doc;
};

/* A named entry (cluster, user or context) and the file that defined it. */
struct entry {
    const char *name;
    yaml_node_t *body; /* the inner mapping, may be NULL */
    struct kc_file *file;
    int line;
};

struct merged {
    struct kc_file *files;
    size_t nfiles;
    struct entry *clusters, *users, *contexts;
    size_t nclusters, nusers, ncontexts;
    const char *current_context;
    char *searched; /* file list, for messages */
};

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void blob_free(struct blob *b)
{
    wipe_free(b->data, b->len);
    b->data = NULL;
    b->len = 0;
}

static int read_file(const char *path, struct blob *out, struct error *err, const char *what)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return error_set(err, ERR_CONFIG, "cannot read %s %s: %s", what, path, strerror(errno));
    setvbuf(f, NULL, _IONBF, 0); /* no stdio buffer keeps a copy */
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap + 1);
    size_t r;
    while (buf != NULL && (r = fread(buf + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            if (cap >= FILE_MAX) {
                wipe_free(buf, len);
                fclose(f);
                return error_set(err, ERR_CONFIG, "%s %s is too large", what, path);
            }
            /* Not realloc: the part read so far may be a token or a key. */
            unsigned char *nb = wipe_grow(buf, len, cap * 2 + 1);
            if (nb == NULL)
                wipe_free(buf, len);
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    buf[len] = '\0';
    out->data = buf;
    out->len = len;
    return 0;
}

/* --- YAML access ----------------------------------------------------------------------------- */

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

/* A scalar's text; NULL when absent or null ("~", "null", empty plain). */
static const char *scalar(yaml_node_t *n)
{
    if (n == NULL || n->type != YAML_SCALAR_NODE)
        return NULL;
    const char *v = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0))
        return NULL;
    return v;
}

static const char *get_str(struct kc_file *f, yaml_node_t *map, const char *key)
{
    return scalar(map_get(&f->doc, map, key));
}

static int get_bool(struct kc_file *f, yaml_node_t *map, const char *key)
{
    const char *v = get_str(f, map, key);
    return v != NULL &&
           (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0);
}

static int line_of(yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 0;
}

/* --- loading and merging --------------------------------------------------------------------- */

/* Parses the text of the kubeconfig at path (which names it in messages and
 * anchors its relative paths). */
static int parse_file(const char *path, const unsigned char *text, size_t len, struct kc_file *f,
                      struct error *err)
{
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, text, len);
    int ok = yaml_parser_load(&p, &f->doc);
    if (!ok) {
        error_set(err, ERR_CONFIG, "%s:%zu:%zu: invalid YAML: %s%s%s", path,
                  p.problem_mark.line + 1, p.problem_mark.column + 1,
                  p.problem ? p.problem : "syntax error", p.context ? " " : "",
                  p.context ? p.context : "");
        wipe_yaml(&f->doc, &p);
        yaml_parser_delete(&p);
        return -1;
    }
    wipe_yaml(NULL, &p);
    yaml_parser_delete(&p);
    f->path = strdup(path);
    char *slash = strrchr(f->path, '/');
    f->dir = slash ? strndup(f->path, (size_t)(slash - f->path) + (slash == f->path)) : strdup(".");
    yaml_node_t *root = yaml_document_get_root_node(&f->doc);
    if (root != NULL && root->type != YAML_MAPPING_NODE) {
        error_set(err, ERR_CONFIG, "%s:%d: a kubeconfig is a mapping (apiVersion, clusters, ...)",
                  path, line_of(root));
        return -1;
    }
    return 0;
}

static int load_file(const char *path, struct kc_file *f, struct error *err)
{
    struct blob text = {0};
    if (read_file(path, &text, err, "kubeconfig") < 0)
        return -1;
    int rc = parse_file(path, text.data, text.len, f, err);
    blob_free(&text); /* it may hold tokens and keys */
    return rc;
}

static int add_entries(struct merged *m, struct kc_file *f, const char *list_key,
                       const char *body_key, struct entry **arr, size_t *n, struct error *err)
{
    yaml_node_t *root = yaml_document_get_root_node(&f->doc);
    yaml_node_t *list = map_get(&f->doc, root, list_key);
    if (list == NULL || (list->type == YAML_SCALAR_NODE && scalar(list) == NULL))
        return 0;
    if (list->type != YAML_SEQUENCE_NODE)
        return error_set(err, ERR_CONFIG, "%s:%d: %s must be a list", f->path, line_of(list),
                         list_key);
    size_t first_of_file = *n;
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(&f->doc, *it);
        const char *name = get_str(f, item, "name");
        if (item == NULL || item->type != YAML_MAPPING_NODE || name == NULL)
            return error_set(err, ERR_CONFIG, "%s:%d: each entry of %s needs a name", f->path,
                             line_of(item), list_key);
        int seen = 0;
        for (size_t k = 0; k < *n; k++) {
            if (strcmp((*arr)[k].name, name) != 0)
                continue;
            if (k >= first_of_file)
                return error_set(err, ERR_CONFIG, "%s:%d: duplicate name \"%s\" in list %s",
                                 f->path, line_of(item), name, list_key);
            seen = 1; /* an earlier file already defined it: that one wins as a whole */
        }
        if (seen)
            continue;
        struct entry *na = realloc(*arr, (*n + 1) * sizeof *na);
        if (na == NULL)
            return error_set(err, ERR_GENERIC, "out of memory");
        *arr = na;
        yaml_node_t *body = map_get(&f->doc, item, body_key);
        if (body != NULL && body->type != YAML_MAPPING_NODE && scalar(body) != NULL)
            return error_set(err, ERR_CONFIG, "%s:%d: %s \"%s\": %s must be a mapping", f->path,
                             line_of(body), list_key, name, body_key);
        (*arr)[*n] = (struct entry){.name = name,
                                    .body = body && body->type == YAML_MAPPING_NODE ? body : NULL,
                                    .file = f,
                                    .line = line_of(item)};
        (*n)++;
    }
    (void)m;
    return 0;
}

static void merged_free(struct merged *m)
{
    for (size_t i = 0; i < m->nfiles; i++) {
        wipe_yaml(&m->files[i].doc, NULL); /* tokens, passwords, keys */
        yaml_document_delete(&m->files[i].doc);
        free(m->files[i].path);
        free(m->files[i].dir);
    }
    free(m->files);
    free(m->clusters);
    free(m->users);
    free(m->contexts);
    free(m->searched);
    memset(m, 0, sizeof *m);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Loads one more file into m (m->files has room), from text when not NULL, else
 * from path, and merges its entries. */
static int add_file(struct merged *m, const char *path, const unsigned char *text, size_t len,
                    struct error *err)
{
    struct kc_file *f = &m->files[m->nfiles];
    int rc = text != NULL ? parse_file(path, text, len, f, err) : load_file(path, f, err);
    if (rc < 0) {
        if (f->path != NULL || f->doc.nodes.start != NULL) {
            wipe_yaml(&f->doc, NULL);
            yaml_document_delete(&f->doc);
            free(f->path);
            free(f->dir);
        }
        memset(f, 0, sizeof *f);
        return -1;
    }
    m->nfiles++;
    if (add_entries(m, f, "clusters", "cluster", &m->clusters, &m->nclusters, err) < 0 ||
        add_entries(m, f, "users", "user", &m->users, &m->nusers, err) < 0 ||
        add_entries(m, f, "contexts", "context", &m->contexts, &m->ncontexts, err) < 0)
        return -1;
    const char *cc = get_str(f, yaml_document_get_root_node(&f->doc), "current-context");
    if (m->current_context == NULL && cc != NULL)
        m->current_context = cc;
    return 0;
}

/* One kubeconfig held in memory, named name. */
static int load_text(const char *name, const char *text, size_t len, struct merged *m,
                     struct error *err)
{
    memset(m, 0, sizeof *m);
    m->searched = strdup(name);
    m->files = calloc(1, sizeof *m->files);
    if (m->searched == NULL || m->files == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    return add_file(m, name, (const unsigned char *)text, len, err);
}

/* Loads the files client-go would: --kubeconfig only, else KUBECONFIG, else ~/.kube/config. */
static int load_merged(const struct kubeconfig_flags *flags, struct merged *m, struct error *err)
{
    memset(m, 0, sizeof *m);
    char **paths = NULL;
    size_t np = 0;
    const char *env = getenv("KUBECONFIG");
    if (flags->kubeconfig != NULL) {
        if (!file_exists(flags->kubeconfig))
            return error_set(err, ERR_CONFIG, "--kubeconfig %s: %s", flags->kubeconfig,
                             strerror(errno));
        paths = calloc(2, sizeof *paths);
        paths[np++] = strdup(flags->kubeconfig);
    } else if (env != NULL && env[0] != '\0') {
        char *copy = strdup(env), *save = NULL;
        paths = calloc(strlen(env) + 2, sizeof *paths);
        for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
            int dup = 0;
            for (size_t i = 0; i < np; i++)
                dup |= strcmp(paths[i], t) == 0;
            if (!dup && t[0] != '\0')
                paths[np++] = strdup(t);
        }
        free(copy);
    } else {
        const char *home = getenv("HOME");
        paths = calloc(2, sizeof *paths);
        if (home != NULL)
            paths[np++] = text_printf("%s/.kube/config", home);
    }
    size_t len = 0;
    for (size_t i = 0; i < np; i++)
        len += strlen(paths[i]) + 2;
    m->searched = calloc(len + 1, 1);
    for (size_t i = 0; i < np; i++) {
        if (i)
            strcat(m->searched, ", ");
        strcat(m->searched, paths[i]);
    }
    m->files = calloc(np + 1, sizeof *m->files);
    int rc = 0;
    for (size_t i = 0; i < np && rc == 0; i++) {
        if (!file_exists(paths[i]) && flags->kubeconfig == NULL)
            continue; /* missing files in KUBECONFIG are skipped */
        rc = add_file(m, paths[i], NULL, 0, err);
    }
    for (size_t i = 0; i < np; i++)
        free(paths[i]);
    free(paths);
    return rc;
}

static struct entry *find_entry(struct entry *arr, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(arr[i].name, name) == 0)
            return &arr[i];
    return NULL;
}

static char *names_of(struct entry *arr, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(arr[i].name) + 2;
    char *s = calloc(len, 1);
    for (size_t i = 0; s && i < n; i++) {
        if (i)
            strcat(s, ", ");
        strcat(s, arr[i].name);
    }
    return s;
}

/* --- building the rest_config ---------------------------------------------------------------- */

static char *resolve_path(const char *dir, const char *p)
{
    if (p == NULL)
        return NULL;
    if (p[0] == '/' || dir == NULL)
        return strdup(p);
    return text_printf("%s/%s", dir, p);
}

static int decode_b64(struct kc_file *f, yaml_node_t *map, const char *key, struct blob *out,
                      struct error *err)
{
    yaml_node_t *n = map_get(&f->doc, map, key);
    const char *v = scalar(n);
    if (v == NULL)
        return 0;
    size_t len = strlen(v), clean_len = 0;
    char *clean = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)v[i]))
            clean[clean_len++] = v[i];
    clean[clean_len] = '\0';
    unsigned char *buf = malloc(clean_len / 4 * 3 + 4);
    int ok = clean_len % 4 == 0;
    for (size_t i = 0; ok && i < clean_len; i++)
        ok = isalnum((unsigned char)clean[i]) || clean[i] == '+' || clean[i] == '/' ||
             (clean[i] == '=' && i >= clean_len - 2);
    int n_out = ok ? EVP_DecodeBlock(buf, (unsigned char *)clean, (int)clean_len) : -1;
    if (n_out < 0) {
        explicit_bzero(clean, clean_len);
        free(clean);
        free(buf);
        return error_set(err, ERR_CONFIG, "%s:%d: %s is not valid base64", f->path, line_of(n),
                         key);
    }
    /* EVP_DecodeBlock counts padding as data: drop it. */
    if (clean_len >= 1 && clean[clean_len - 1] == '=')
        n_out--;
    if (clean_len >= 2 && clean[clean_len - 2] == '=')
        n_out--;
    explicit_bzero(clean, clean_len);
    free(clean);
    buf[n_out] = '\0';
    out->data = buf;
    out->len = (size_t)n_out;
    return 0;
}

static void add_warning(struct rest_config *c, char *w)
{
    size_t n = 0;
    while (c->warnings != NULL && c->warnings[n] != NULL)
        n++;
    char **nw = realloc(c->warnings, (n + 2) * sizeof *nw);
    if (nw == NULL) {
        free(w);
        return;
    }
    nw[n] = w;
    nw[n + 1] = NULL;
    c->warnings = nw;
}

/* Limits of json_from_yaml: YAML aliases are references in libyaml's document,
 * so one that contains itself never ends, and a few that repeat each other
 * grow exponentially ("billion laughs"). */
#define YAML_DEPTH_MAX  64
#define YAML_VALUES_MAX 10000

struct yaml_budget {
    int depth;
    size_t values;
    int over; /* 1: too deep, 2: too many values */
};

static json_t *json_from_yaml(yaml_document_t *doc, yaml_node_t *n, struct yaml_budget *b)
{
    if (n == NULL)
        return json_null();
    if (b->depth >= YAML_DEPTH_MAX || b->values >= YAML_VALUES_MAX) {
        b->over = b->depth >= YAML_DEPTH_MAX ? 1 : 2;
        return NULL;
    }
    b->values++;
    json_t *out = NULL;
    b->depth++;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        out = json_string((const char *)n->data.scalar.value);
        break;
    case YAML_SEQUENCE_NODE:
        out = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             out != NULL && it < n->data.sequence.items.top; it++) {
            json_t *v = json_from_yaml(doc, yaml_document_get_node(doc, *it), b);
            if (v == NULL) {
                json_decref(out);
                out = NULL;
                break;
            }
            json_array_append_new(out, v);
        }
        break;
    case YAML_MAPPING_NODE:
        out = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             out != NULL && p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            json_t *v = json_from_yaml(doc, yaml_document_get_node(doc, p->value), b);
            if (v == NULL) {
                json_decref(out);
                out = NULL;
                break;
            }
            if (k != NULL && k->type == YAML_SCALAR_NODE)
                json_object_set_new(out, (const char *)k->data.scalar.value, v);
            else
                json_decref(v);
        }
        break;
    default:
        out = json_null();
        break;
    }
    b->depth--;
    return out;
}

static int fill_exec(struct rest_config *c, struct entry *user, yaml_node_t *ex,
                     struct entry *cluster, struct error *err)
{
    struct kc_file *f = user->file;
    struct exec_plugin_config *e = calloc(1, sizeof *e);
    c->exec = e;
    e->api_version = xstrdup(get_str(f, ex, "apiVersion"));
    const char *cmd = get_str(f, ex, "command");
    int line = line_of(ex);
    if (cmd == NULL)
        return error_set(err, ERR_CONFIG, "%s:%d: user \"%s\": exec needs a command", f->path, line,
                         user->name);
    if (e->api_version == NULL)
        return error_set(err, ERR_CONFIG, "%s:%d: user \"%s\": exec needs an apiVersion", f->path,
                         line, user->name);
    if (strcmp(e->api_version, "client.authentication.k8s.io/v1alpha1") == 0)
        return error_set(err, ERR_CONFIG,
                         "%s:%d: user \"%s\": exec apiVersion client.authentication.k8s.io/"
                         "v1alpha1 was removed in Kubernetes 1.24; use v1 or v1beta1",
                         f->path, line, user->name);
    if (strcmp(e->api_version, "client.authentication.k8s.io/v1") != 0 &&
        strcmp(e->api_version, "client.authentication.k8s.io/v1beta1") != 0)
        return error_set(err, ERR_CONFIG,
                         "%s:%d: user \"%s\": exec apiVersion \"%s\" is not supported (v1 or "
                         "v1beta1 of client.authentication.k8s.io)",
                         f->path, line, user->name, e->api_version);
    /* A command with a slash is relative to the kubeconfig; without one, looked up on PATH. */
    e->command = strchr(cmd, '/') ? resolve_path(f->dir, cmd) : strdup(cmd);
    yaml_node_t *args = map_get(&f->doc, ex, "args");
    size_t na = args && args->type == YAML_SEQUENCE_NODE
                    ? (size_t)(args->data.sequence.items.top - args->data.sequence.items.start)
                    : 0;
    e->args = calloc(na + 1, sizeof *e->args);
    for (size_t i = 0; i < na; i++) {
        /* A NULL would end the argv early, dropping the arguments after it. */
        yaml_node_t *an = yaml_document_get_node(&f->doc, args->data.sequence.items.start[i]);
        const char *a = scalar(an);
        if (a == NULL)
            return error_set(err, ERR_CONFIG,
                             "%s:%d: user \"%s\": exec args[%zu] is null or not a string; quote "
                             "it (\"~\") or remove it",
                             f->path, an ? line_of(an) : line, user->name, i);
        e->args[i] = strdup(a);
    }
    yaml_node_t *env = map_get(&f->doc, ex, "env");
    size_t ne = env && env->type == YAML_SEQUENCE_NODE
                    ? (size_t)(env->data.sequence.items.top - env->data.sequence.items.start)
                    : 0;
    e->env = calloc(ne + 1, sizeof *e->env);
    for (size_t i = 0; i < ne; i++) {
        yaml_node_t *item = yaml_document_get_node(&f->doc, env->data.sequence.items.start[i]);
        const char *n = get_str(f, item, "name"), *v = get_str(f, item, "value");
        if (n == NULL)
            return error_set(err, ERR_CONFIG, "%s:%d: user \"%s\": exec env[%zu] has no name",
                             f->path, item ? line_of(item) : line, user->name, i);
        e->env[i] = text_printf("%s=%s", n, v ? v : "");
    }
    e->install_hint = xstrdup(get_str(f, ex, "installHint"));
    e->provide_cluster_info = get_bool(f, ex, "provideClusterInfo");
    const char *mode = get_str(f, ex, "interactiveMode");
    if (mode == NULL) {
        if (strcmp(e->api_version, "client.authentication.k8s.io/v1") == 0)
            return error_set(err, ERR_CONFIG,
                             "%s:%d: user \"%s\": exec: interactiveMode must be specified for "
                             "client.authentication.k8s.io/v1 (Never, IfAvailable or Always)",
                             f->path, line, user->name);
        e->interactive_mode = EXEC_INTERACTIVE_IF_AVAILABLE;
    } else if (strcmp(mode, "Never") == 0) {
        e->interactive_mode = EXEC_INTERACTIVE_NEVER;
    } else if (strcmp(mode, "IfAvailable") == 0) {
        e->interactive_mode = EXEC_INTERACTIVE_IF_AVAILABLE;
    } else if (strcmp(mode, "Always") == 0) {
        e->interactive_mode = EXEC_INTERACTIVE_ALWAYS;
    } else {
        return error_set(err, ERR_CONFIG,
                         "%s:%d: user \"%s\": exec interactiveMode \"%s\" is not Never, "
                         "IfAvailable or Always",
                         f->path, line, user->name, mode);
    }
    /* The cluster's extension for exec plugins becomes spec.cluster.config. */
    if (cluster != NULL) {
        yaml_node_t *exts = map_get(&cluster->file->doc, cluster->body, "extensions");
        for (yaml_node_item_t *it =
                 exts && exts->type == YAML_SEQUENCE_NODE ? exts->data.sequence.items.start : NULL;
             it != NULL && it < exts->data.sequence.items.top; it++) {
            yaml_node_t *x = yaml_document_get_node(&cluster->file->doc, *it);
            const char *n = get_str(cluster->file, x, "name");
            yaml_node_t *ext = map_get(&cluster->file->doc, x, "extension");
            if (n != NULL && strcmp(n, "client.authentication.k8s.io/exec") == 0 && ext) {
                struct yaml_budget b = {0};
                json_t *j = json_from_yaml(&cluster->file->doc, ext, &b);
                if (j == NULL && b.over == 1)
                    return error_set(err, ERR_CONFIG,
                                     "%s:%d: the exec extension of cluster \"%s\" nests deeper "
                                     "than %d levels (a YAML alias that contains itself?)",
                                     cluster->file->path, line_of(ext), cluster->name,
                                     YAML_DEPTH_MAX);
                if (j == NULL && b.over == 2)
                    return error_set(err, ERR_CONFIG,
                                     "%s:%d: the exec extension of cluster \"%s\" expands to more "
                                     "than %d values (YAML aliases that repeat each other)",
                                     cluster->file->path, line_of(ext), cluster->name,
                                     YAML_VALUES_MAX);
                if (j == NULL)
                    return error_set(err, ERR_GENERIC, "out of memory");
                free(e->cluster_config_json);
                e->cluster_config_json = json_dumps(j, JSON_COMPACT);
                json_decref(j);
            }
        }
    }
    return 0;
}

/* A bearer token becomes an HTTP header line: one line of printable text. */
static int check_token(const struct rest_config *c, const char *what, struct error *err)
{
    if (c->token == NULL || secret_check_token(c->token, strlen(c->token), what, err) == 0)
        return 0;
    err->kind = ERR_CONFIG;
    return -1;
}

static int fill_user(struct rest_config *c, struct entry *user, struct entry *cluster,
                     const struct kubeconfig_flags *flags, struct error *err)
{
    struct kc_file *f = user->file;
    yaml_node_t *u = user->body;
    if (decode_b64(f, u, "client-certificate-data", &c->client_cert, err) < 0 ||
        decode_b64(f, u, "client-key-data", &c->client_key, err) < 0)
        return -1;
    const char *cert = get_str(f, u, "client-certificate");
    const char *key = get_str(f, u, "client-key");
    if (c->client_cert.len == 0 && cert != NULL) {
        char *p = resolve_path(f->dir, cert);
        int rc = read_file(p, &c->client_cert, err, "client-certificate");
        free(p);
        if (rc < 0)
            return error_wrap(err, "user \"%s\" in %s", user->name, f->path);
    }
    if (c->client_key.len == 0 && key != NULL) {
        char *p = resolve_path(f->dir, key);
        int rc = read_file(p, &c->client_key, err, "client-key");
        free(p);
        if (rc < 0)
            return error_wrap(err, "user \"%s\" in %s", user->name, f->path);
    }
    if (c->client_cert.len > 0 && c->client_key.len == 0)
        return error_set(err, ERR_CONFIG,
                         "%s:%d: user \"%s\" has a client certificate but no client key", f->path,
                         user->line, user->name);
    if (c->client_key.len > 0 && c->client_cert.len == 0)
        return error_set(err, ERR_CONFIG,
                         "%s:%d: user \"%s\" has a client key but no client certificate", f->path,
                         user->line, user->name);
    const char *token = get_str(f, u, "token");
    const char *token_file = get_str(f, u, "tokenFile");
    const char *username = get_str(f, u, "username");
    const char *password = get_str(f, u, "password");
    if ((token != NULL || token_file != NULL) && (username != NULL || password != NULL))
        return error_set(err, ERR_CONFIG,
                         "%s:%d: user \"%s\": more than one authentication method (token and "
                         "username/password)",
                         f->path, user->line, user->name);
    yaml_node_t *ex = map_get(&f->doc, u, "exec");
    yaml_node_t *ap = map_get(&f->doc, u, "auth-provider");
    if (ex != NULL && ap != NULL)
        return error_set(err, ERR_CONFIG,
                         "%s:%d: user \"%s\" has both exec and auth-provider: use one", f->path,
                         user->line, user->name);
    if (flags->token != NULL) {
        c->token = strdup(flags->token); /* --token also clears tokenFile */
    } else if (token_file != NULL) {
        char *p = resolve_path(f->dir, token_file);
        struct blob b = {0};
        if (read_file(p, &b, err, "tokenFile") < 0) {
            free(p);
            return error_wrap(err, "user \"%s\" in %s", user->name, f->path);
        }
        size_t l = b.len;
        char *s = (char *)b.data, *start = s;
        while (l > 0 && isspace((unsigned char)s[l - 1]))
            s[--l] = '\0';
        while (*start && isspace((unsigned char)*start))
            start++;
        c->token = strdup(start);
        c->token_file = p;
        blob_free(&b);
    } else if (token != NULL) {
        c->token = strdup(token);
    }
    c->username = xstrdup(username);
    c->password = xstrdup(password);
    if (ap != NULL) {
        const char *name = get_str(f, ap, "name");
        if (name != NULL && (strcmp(name, "gcp") == 0 || strcmp(name, "azure") == 0))
            return error_set(err, ERR_CONFIG,
                             "%s:%d: user \"%s\": the %s auth-provider was removed in Kubernetes "
                             "1.25; use %s (an exec credential plugin)",
                             f->path, line_of(ap), user->name, name,
                             strcmp(name, "gcp") == 0 ? "gke-gcloud-auth-plugin" : "kubelogin");
        yaml_node_t *cfg = map_get(&f->doc, ap, "config");
        const char *id = get_str(f, cfg, "id-token");
        if (name != NULL && strcmp(name, "oidc") == 0 && id != NULL && c->token == NULL) {
            c->token = strdup(id);
            add_warning(
                c, text_printf("user \"%s\": using the oidc auth-provider's id-token as is; it is "
                               "not refreshed when it expires",
                               user->name));
        } else if (c->token == NULL) {
            return error_set(err, ERR_CONFIG,
                             "%s:%d: user \"%s\": auth-provider \"%s\" is not supported; use an "
                             "exec credential plugin",
                             f->path, line_of(ap), user->name, name ? name : "?");
        }
    }
    char what[512];
    if (flags->token != NULL)
        snprintf(what, sizeof what, "--token");
    else
        snprintf(what, sizeof what, "user \"%s\" in %s", user->name, f->path);
    if (check_token(c, what, err) < 0)
        return -1;
    if (ex != NULL && c->token == NULL && c->client_cert.len == 0 && c->username == NULL)
        return fill_exec(c, user, ex, cluster, err);
    return 0;
}

static int in_cluster(const struct kubeconfig_flags *flags, struct rest_config **out,
                      struct error *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *dir = flags->serviceaccount_dir ? flags->serviceaccount_dir : SA_DIR;
    char *token_path = text_printf("%s/token", dir);
    if (host == NULL || port == NULL || host[0] == '\0' || !file_exists(token_path)) {
        free(token_path);
        return 0;
    }
    struct rest_config *c = calloc(1, sizeof *c);
    c->origin = strdup("in-cluster config");
    c->server = strchr(host, ':') ? text_printf("https://[%s]:%s", host, port)
                                  : text_printf("https://%s:%s", host, port);
    struct blob t = {0};
    if (read_file(token_path, &t, err, "service account token") < 0) {
        free(token_path);
        rest_config_free(c);
        return -1;
    }
    size_t l = t.len;
    while (l > 0 && isspace(t.data[l - 1]))
        t.data[--l] = '\0';
    c->token = strdup((char *)t.data);
    c->token_file = token_path;
    blob_free(&t);
    if (check_token(c, token_path, err) < 0) {
        rest_config_free(c);
        return -1;
    }
    char *ca = text_printf("%s/ca.crt", dir);
    if (read_file(ca, &c->ca, err, "service account CA") < 0) {
        free(ca);
        rest_config_free(c);
        return -1;
    }
    c->ca_description = text_printf("file %s", ca);
    free(ca);
    const char *ns = flags->namespace ? flags->namespace : getenv("POD_NAMESPACE");
    if (ns == NULL || ns[0] == '\0') {
        char *nsf = text_printf("%s/namespace", dir);
        struct blob b = {0};
        struct error ignore = {0};
        if (read_file(nsf, &b, &ignore, "namespace") == 0) {
            size_t bl = b.len;
            while (bl > 0 && isspace(b.data[bl - 1]))
                b.data[--bl] = '\0';
            if (bl > 0)
                c->namespace = strdup((char *)b.data);
            blob_free(&b);
        }
        free(nsf);
    } else {
        c->namespace = strdup(ns);
    }
    if (c->namespace == NULL)
        c->namespace = strdup("default");
    if (flags->server != NULL) {
        free(c->server);
        c->server = strdup(flags->server);
    }
    *out = c;
    return 1;
}

/* Applies --server and the CA/insecure flags (they replace the cluster's settings together). */
static int apply_cluster_flags(struct rest_config *c, const struct kubeconfig_flags *flags,
                               struct error *err)
{
    if (flags->server != NULL) {
        free(c->server);
        c->server = strdup(flags->server);
        if (flags->tls_server_name == NULL) {
            free(c->tls_server_name);
            c->tls_server_name = NULL;
        }
    }
    if (flags->tls_server_name != NULL) {
        free(c->tls_server_name);
        c->tls_server_name = strdup(flags->tls_server_name);
    }
    if (flags->certificate_authority != NULL || flags->insecure_skip_tls_verify) {
        blob_free(&c->ca);
        free(c->ca_description);
        c->ca_description = NULL;
        c->insecure_skip_tls_verify = flags->insecure_skip_tls_verify;
        if (flags->certificate_authority != NULL) {
            if (read_file(flags->certificate_authority, &c->ca, err, "--certificate-authority") < 0)
                return -1;
            c->ca_description =
                text_printf("file %s (--certificate-authority)", flags->certificate_authority);
        }
    }
    if (c->insecure_skip_tls_verify && c->ca.len > 0)
        return error_set(err, ERR_CONFIG,
                         "cluster \"%s\": specifying a root certificates file with the insecure "
                         "flag is not allowed",
                         c->cluster_name ? c->cluster_name : "?");
    return 0;
}

static void exec_free(struct exec_plugin_config *e)
{
    if (e == NULL)
        return;
    free(e->api_version);
    free(e->command);
    kubeconfig_free_strv(e->args);
    kubeconfig_free_strv(e->env);
    free(e->install_hint);
    free(e->cluster_config_json);
    free(e);
}

/* A server without TLS gets no credential of any kind (not even the exec
 * plugin runs); the warning says whose and which were held back. */
static void drop_credentials(struct rest_config *c)
{
    char kinds[512] = "";
    size_t n = 0;
    if (c->token != NULL)
        text_appendf(kinds, sizeof kinds, &n, "%stoken", n ? ", " : "");
    if (c->password != NULL)
        text_appendf(kinds, sizeof kinds, &n, "%spassword", n ? ", " : "");
    if (c->exec != NULL)
        text_appendf(kinds, sizeof kinds, &n, "%sexec plugin %s", n ? ", " : "",
                     c->exec->command ? c->exec->command : "?");
    if (c->client_cert.len > 0)
        text_appendf(kinds, sizeof kinds, &n, "%sclient certificate", n ? ", " : "");
    if (n == 0)
        return;
    if (c->user_name != NULL)
        add_warning(
            c, text_printf("server %s is not https: the credentials of user \"%s\" (%s) are not "
                           "sent",
                           c->server, c->user_name, kinds));
    else
        add_warning(c,
                    text_printf("server %s is not https: the credentials given (%s) are not sent",
                                c->server, kinds));
    wipe_free_str(c->token);
    c->token = NULL;
    wipe_free_str(c->password);
    c->password = NULL;
    exec_free(c->exec);
    c->exec = NULL;
    blob_free(&c->client_cert);
    blob_free(&c->client_key);
}

/* Resolves the configuration from the files the flags name, or from text (named name). */
static int load_config(const struct kubeconfig_flags *flags, const char *name, const char *text,
                       size_t text_len, struct rest_config **out, struct error *err)
{
    struct merged m;
    *out = NULL;
    if ((text != NULL ? load_text(name, text, text_len, &m, err) : load_merged(flags, &m, err)) <
        0) {
        merged_free(&m);
        return -1;
    }
    if (m.nfiles == 0 || (m.ncontexts == 0 && m.nclusters == 0 && flags->context == NULL)) {
        int ic = in_cluster(flags, out, err);
        if (ic != 0) {
            merged_free(&m);
            return ic < 0 ? -1 : 0;
        }
        if (m.nfiles == 0) {
            error_set(err, ERR_CONFIG,
                      "no kubeconfig found (looked at %s) and not running in a cluster: use "
                      "--kubeconfig FILE or set KUBECONFIG",
                      m.searched && m.searched[0] ? m.searched : "~/.kube/config");
            merged_free(&m);
            return -1;
        }
    }
    const char *ctx_name = flags->context ? flags->context : m.current_context;
    char *known = names_of(m.contexts, m.ncontexts);
    if (ctx_name == NULL) {
        error_set(err, ERR_CONFIG,
                  "no current context in %s: set current-context or use --context (contexts: "
                  "%s)",
                  m.searched, known && known[0] ? known : "none");
        free(known);
        merged_free(&m);
        return -1;
    }
    struct entry *ctx = find_entry(m.contexts, m.ncontexts, ctx_name);
    if (ctx == NULL) {
        error_set(err, ERR_CONFIG, "context \"%s\" does not exist in %s (known contexts: %s)",
                  ctx_name, m.searched, known && known[0] ? known : "none");
        free(known);
        merged_free(&m);
        return -1;
    }
    free(known);
    const char *cluster_name =
        flags->cluster ? flags->cluster : get_str(ctx->file, ctx->body, "cluster");
    const char *user_name = flags->user ? flags->user : get_str(ctx->file, ctx->body, "user");
    struct entry *cluster = cluster_name ? find_entry(m.clusters, m.nclusters, cluster_name) : NULL;
    if (cluster == NULL) {
        char *k = names_of(m.clusters, m.nclusters);
        error_set(err, ERR_CONFIG,
                  "%s:%d: context \"%s\": cluster \"%s\" does not exist (known "
                  "clusters: %s)",
                  ctx->file->path, ctx->line, ctx->name, cluster_name ? cluster_name : "",
                  k && k[0] ? k : "none");
        free(k);
        merged_free(&m);
        return -1;
    }
    struct entry *user = user_name ? find_entry(m.users, m.nusers, user_name) : NULL;
    if (user_name != NULL && user == NULL) {
        char *k = names_of(m.users, m.nusers);
        error_set(err, ERR_CONFIG,
                  "%s:%d: context \"%s\": user \"%s\" does not exist (known users: %s)",
                  ctx->file->path, ctx->line, ctx->name, user_name, k && k[0] ? k : "none");
        free(k);
        merged_free(&m);
        return -1;
    }

    struct rest_config *c = calloc(1, sizeof *c);
    c->context_name = strdup(ctx->name);
    c->cluster_name = strdup(cluster->name);
    c->user_name = user ? strdup(user->name) : NULL;
    c->origin = strdup(ctx->file->path);
    struct kc_file *cf = cluster->file;
    c->server = xstrdup(get_str(cf, cluster->body, "server"));
    c->tls_server_name = xstrdup(get_str(cf, cluster->body, "tls-server-name"));
    c->insecure_skip_tls_verify = get_bool(cf, cluster->body, "insecure-skip-tls-verify");
    c->disable_compression = get_bool(cf, cluster->body, "disable-compression");
    int rc = decode_b64(cf, cluster->body, "certificate-authority-data", &c->ca, err);
    if (rc == 0 && c->ca.len > 0)
        c->ca_description = text_printf("certificate-authority-data of cluster \"%s\" in %s",
                                        cluster->name, cf->path);
    const char *ca_file = get_str(cf, cluster->body, "certificate-authority");
    if (rc == 0 && c->ca.len == 0 && ca_file != NULL) {
        char *p = resolve_path(cf->dir, ca_file);
        rc = read_file(p, &c->ca, err, "certificate-authority");
        if (rc == 0)
            c->ca_description = text_printf("file %s", p);
        else
            error_wrap(err, "cluster \"%s\" in %s", cluster->name, cf->path);
        free(p);
    }
    const char *proxy = get_str(cf, cluster->body, "proxy-url");
    if (rc == 0 && proxy != NULL) {
        if (strncmp(proxy, "http://", 7) != 0 && strncmp(proxy, "https://", 8) != 0 &&
            strncmp(proxy, "socks5://", 9) != 0)
            rc = error_set(err, ERR_CONFIG,
                           "%s:%d: cluster \"%s\": proxy-url \"%s\": only http, https and "
                           "socks5 proxies are supported",
                           cf->path, cluster->line, cluster->name, proxy);
        else
            c->proxy_url = strdup(proxy);
    }
    if (rc == 0)
        rc = apply_cluster_flags(c, flags, err);
    if (rc == 0 && c->server == NULL)
        rc = error_set(err, ERR_CONFIG, "%s:%d: cluster \"%s\" has no server", cf->path,
                       cluster->line, cluster->name);
    if (rc == 0 && strstr(c->server, "://") == NULL) {
        /* client-go: https only when TLS settings say so, else http. */
        int tls = c->ca.len > 0 || c->insecure_skip_tls_verify;
        char *s = text_printf("%s://%s", tls ? "https" : "http", c->server);
        free(c->server);
        c->server = s;
    }
    if (rc == 0 && user != NULL)
        rc = fill_user(c, user, cluster, flags, err);
    else if (rc == 0 && flags->token != NULL) {
        c->token = strdup(flags->token);
        rc = check_token(c, "--token", err);
    }
    if (rc == 0 && strncasecmp(c->server, "https://", 8) != 0)
        drop_credentials(c); /* client-go attaches credentials only over TLS */
    if (rc == 0 && c->insecure_skip_tls_verify)
        add_warning(c, text_printf("TLS verification disabled for cluster \"%s\" "
                                   "(insecure-skip-tls-verify)",
                                   c->cluster_name));
    const char *ns =
        flags->namespace ? flags->namespace : get_str(ctx->file, ctx->body, "namespace");
    c->namespace = strdup(ns ? ns : "default");
    merged_free(&m);
    if (rc < 0) {
        rest_config_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

int kubeconfig_load(const struct kubeconfig_flags *flags, struct rest_config **out,
                    struct error *err)
{
    return load_config(flags, NULL, NULL, 0, out, err);
}

int kubeconfig_load_text(const char *name, const char *text, size_t len,
                         const struct kubeconfig_flags *flags, struct rest_config **out,
                         struct error *err)
{
    return load_config(flags, name, text != NULL ? text : "", len, out, err);
}

void kubeconfig_free_strv(char **strv)
{
    for (size_t i = 0; strv != NULL && strv[i] != NULL; i++)
        free(strv[i]);
    free(strv);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int kubeconfig_list_contexts(const struct kubeconfig_flags *flags, char ***names, struct error *err)
{
    struct merged m;
    if (load_merged(flags, &m, err) < 0) {
        merged_free(&m);
        return -1;
    }
    char **v = calloc(m.ncontexts + 1, sizeof *v);
    for (size_t i = 0; i < m.ncontexts; i++)
        v[i] = strdup(m.contexts[i].name);
    qsort(v, m.ncontexts, sizeof *v, cmp_str);
    merged_free(&m);
    *names = v;
    return 0;
}

void rest_config_free(struct rest_config *c)
{
    if (c == NULL)
        return;
    free(c->context_name);
    free(c->cluster_name);
    free(c->user_name);
    free(c->origin);
    free(c->server);
    free(c->tls_server_name);
    blob_free(&c->ca);
    free(c->ca_description);
    free(c->proxy_url);
    blob_free(&c->client_cert);
    blob_free(&c->client_key);
    wipe_free_str(c->token);
    free(c->token_file);
    free(c->username);
    wipe_free_str(c->password);
    exec_free(c->exec);
    free(c->namespace);
    kubeconfig_free_strv(c->warnings);
    free(c);
}
