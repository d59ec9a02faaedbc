#include "vault.h"

#include "kexec.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(json_t *obj, const char *key)
{
    const char *s = jstr(obj, key);
    return s != NULL ? strdup(s) : NULL;
}

/* Loads JSON from CLI output; tolerates text before the first '{' (a TTY
 * prompt) but not a missing document. */
json_t *vault_load_output(const char *out, size_t len, const char *what, struct error *err)
{
    const char *brace = out ? memchr(out, '{', len) : NULL;
    if (brace == NULL) {
        error_set(err, ERR_PROTOCOL, "%s printed no JSON", what);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(brace, len - (size_t)(brace - out), JSON_DISABLE_EOF_CHECK, &je);
    if (root == NULL) /* the place only: init's output holds the keys and the root token */
        error_set(err, ERR_PROTOCOL,
                  "%s printed JSON that cannot be read: %s at line %d, column %d of the document",
                  what, secret_json_fault(&je), je.line, je.column);
    return root; /* an object: it starts with '{' */
}

void vault_error_summary(const char *text, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (text == NULL)
        return;
    size_t len = 0;
    const char *first = NULL;
    size_t first_len = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        while (l > 0 && (p[l - 1] == '\r' || p[l - 1] == ' '))
            l--;
        if (l > 2 && p[0] == '*' && p[1] == ' ') {
            int w = snprintf(buf + len, cap - len, "%s%.*s", len ? "; " : "", (int)(l - 2), p + 2);
            if (w > 0 && (size_t)w < cap - len)
                len += (size_t)w;
        } else if (first == NULL && l > 0) {
            first = p;
            first_len = l;
        }
        p = nl ? nl + 1 : p + strlen(p);
    }
    if (len == 0 && first != NULL)
        snprintf(buf, cap, "%.*s", (int)first_len, first);
}

void vault_status_clear(struct vault_status *st)
{
    free(st->type);
    free(st->nonce);
    free(st->version);
    free(st->cluster_name);
    free(st->cluster_id);
    free(st->storage_type);
    free(st->recovery_seal_type);
    free(st->leader_address);
    free(st->leader_cluster_address);
    memset(st, 0, sizeof *st);
}

/* The fields of `vault status -format=json`; the HTTP sys/seal-status answer
 * has the first half of them (the leader fields stay zero). */
static void status_fields(json_t *root, struct vault_status *st)
{
    st->type = dup_str(root, "type");
    st->initialized = jbool(root, "initialized");
    st->sealed = jbool(root, "sealed");
    st->t = (int)jint(root, "t");
    st->n = (int)jint(root, "n");
    st->progress = (int)jint(root, "progress");
    st->nonce = dup_str(root, "nonce");
    st->version = dup_str(root, "version");
    st->cluster_name = dup_str(root, "cluster_name");
    st->cluster_id = dup_str(root, "cluster_id");
    st->storage_type = dup_str(root, "storage_type");
    st->recovery_seal = jbool(root, "recovery_seal");
    st->recovery_seal_type = dup_str(root, "recovery_seal_type");
    st->migration = jbool(root, "migration");
    json_t *removed = json_object_get(root, "removed_from_cluster");
    st->removed_from_cluster = removed == NULL         ? TRI_UNKNOWN
                               : json_is_true(removed) ? TRI_TRUE
                                                       : TRI_FALSE;
    st->ha_enabled = jbool(root, "ha_enabled");
    st->is_self = jbool(root, "is_self");
    st->leader_address = dup_str(root, "leader_address");
    st->leader_cluster_address = dup_str(root, "leader_cluster_address");
    st->raft_committed_index = jint(root, "raft_committed_index");
    st->raft_applied_index = jint(root, "raft_applied_index");
}

int vault_parse_status(const char *out, size_t len, int exit_code, const char *stderr_text,
                       struct vault_status *st, struct error *err)
{
    memset(st, 0, sizeof *st);
    char why[512];
    vault_error_summary(stderr_text, why, sizeof why);
    if (exit_code == 1 || (exit_code == 2 && (out == NULL || memchr(out, '{', len) == NULL)))
        return error_set(err, ERR_REMOTE, "vault status failed (exit %d)%s%s", exit_code,
                         why[0] ? ": " : "", why);
    if (exit_code != 0 && exit_code != 2)
        return error_set(err, ERR_REMOTE, "vault status exited %d%s%s", exit_code,
                         why[0] ? ": " : "", why);
    json_t *root = vault_load_output(out, len, "vault status", err);
    if (root == NULL)
        return -1;
    if (json_object_get(root, "sealed") == NULL || json_object_get(root, "initialized") == NULL) {
        json_decref(root);
        return error_set(err, ERR_PROTOCOL,
                         "vault status printed JSON without \"sealed\"/\"initialized\"");
    }
    status_fields(root, st);
    json_decref(root);
    /* Exit code and JSON must agree: 2 ⇔ sealed. */
    if ((exit_code == 2) != (st->sealed != 0)) {
        int sealed = st->sealed;
        vault_status_clear(st);
        return error_set(err, ERR_PROTOCOL, "vault status exited %d but reports sealed=%s",
                         exit_code, sealed ? "true" : "false");
    }
    return 0;
}

/* Keys and the root token are shown on the terminal as they are (they never
 * pass through stdio) and sent to pods on a stdin line: printable ASCII only
 * (base64, hex, "hvs." tokens), or refused (ERR_PROTOCOL). */
static int check_init_text(const char *v, const char *what, struct error *err)
{
    size_t len = strlen(v);
    if (secret_check_token(v, len, what, err) < 0) {
        err->kind = ERR_PROTOCOL;
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] > 0x7e)
            return error_set(err, ERR_PROTOCOL,
                             "%s: a byte that is not printable ASCII (0x%02x at byte %zu)", what,
                             (unsigned char)v[i], i + 1);
    return 0;
}

static int copy_key_list(json_t *root, const char *field, struct secret_list *l, struct error *err)
{
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(root, field), i, k)
    {
        const char *v = json_string_value(k);
        if (v == NULL)
            return error_set(err, ERR_PROTOCOL, "init output: %s[%zu] is not a string", field, i);
        char what[96];
        snprintf(what, sizeof what, "vault operator init printed a bad %s[%zu]", field, i);
        if (check_init_text(v, what, err) < 0 || secret_list_add(l, v, strlen(v), err) < 0)
            return -1;
    }
    return 0;
}

int vault_parse_init(const char *out, size_t len, struct vault_init_result *r, struct error *err)
{
    memset(r, 0, sizeof *r);
    json_t *root = vault_load_output(out, len, "vault operator init", err);
    if (root == NULL)
        return -1;
    const char *token = jstr(root, "root_token");
    int rc = 0;
    if (token == NULL || json_object_get(root, "unseal_keys_b64") == NULL)
        rc = error_set(err, ERR_PROTOCOL,
                       "vault operator init printed JSON without unseal_keys_b64/root_token");
    if (rc == 0)
        rc = copy_key_list(root, "unseal_keys_b64", &r->keys_b64, err);
    if (rc == 0)
        rc = copy_key_list(root, "unseal_keys_hex", &r->keys_hex, err);
    if (rc == 0)
        rc = copy_key_list(root, "recovery_keys_b64", &r->recovery_b64, err);
    if (rc == 0)
        rc = copy_key_list(root, "recovery_keys_hex", &r->recovery_hex, err);
    if (rc == 0)
        rc = check_init_text(token, "vault operator init printed a bad root_token", err);
    if (rc == 0)
        rc = secret_from(&r->root_token, token, strlen(token), err);
    r->shares = (int)jint(root, "unseal_shares");
    r->threshold = (int)jint(root, "unseal_threshold");
    r->recovery_shares = (int)jint(root, "recovery_keys_shares");
    r->recovery_threshold = (int)jint(root, "recovery_keys_threshold");
    secret_wipe_json(root);
    json_decref(root);
    if (rc < 0)
        vault_init_result_clear(r);
    return rc;
}

void vault_init_result_clear(struct vault_init_result *r)
{
    secret_list_free(&r->keys_b64);
    secret_list_free(&r->keys_hex);
    secret_list_free(&r->recovery_b64);
    secret_list_free(&r->recovery_hex);
    secret_free(&r->root_token);
    memset(r, 0, sizeof *r);
}

/* Appends to a secret buffer, growing it in locked memory. */
static int secret_append(struct secret *s, const char *text, size_t len, struct error *err)
{
    if (s->data == NULL && secret_alloc(s, 4096, err) < 0)
        return -1;
    if (s->len + len + 1 > s->cap) {
        struct secret bigger = {0};
        if (secret_alloc(&bigger, (s->len + len + 1) * 2, err) < 0)
            return -1;
        memcpy(bigger.data, s->data, s->len);
        bigger.len = s->len;
        secret_free(s);
        *s = bigger;
    }
    memcpy(s->data + s->len, text, len);
    s->len += len;
    s->data[s->len] = '\0';
    return 0;
}

static int append_key_array(struct secret *s, const char *field, const struct secret_list *l,
                            int last, struct error *err)
{
    char head[64];
    snprintf(head, sizeof head, "  \"%s\": [", field);
    if (secret_append(s, head, strlen(head), err) < 0)
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        if (secret_append(s, i ? ",\n    \"" : "\n    \"", i ? 7 : 6, err) < 0 ||
            secret_append(s, l->items[i].data, l->items[i].len, err) < 0 ||
            secret_append(s, "\"", 1, err) < 0)
            return -1;
    }
    const char *tail = l->n ? (last ? "\n  ]\n" : "\n  ],\n") : (last ? "]\n" : "],\n");
    return secret_append(s, tail, strlen(tail), err);
}

int vault_init_result_json(const struct vault_init_result *r, struct secret *out, struct error *err)
{
    /* Built by hand into locked memory: jansson would copy the keys into its heap. */
    char nums[256];
    memset(out, 0, sizeof *out);
    if (secret_append(out, "{\n", 2, err) < 0 ||
        append_key_array(out, "unseal_keys_b64", &r->keys_b64, 0, err) < 0 ||
        append_key_array(out, "unseal_keys_hex", &r->keys_hex, 0, err) < 0)
        goto fail;
    snprintf(nums, sizeof nums, "  \"unseal_shares\": %d,\n  \"unseal_threshold\": %d,\n",
             r->shares, r->threshold);
    if (secret_append(out, nums, strlen(nums), err) < 0 ||
        append_key_array(out, "recovery_keys_b64", &r->recovery_b64, 0, err) < 0 ||
        append_key_array(out, "recovery_keys_hex", &r->recovery_hex, 0, err) < 0)
        goto fail;
    snprintf(nums, sizeof nums,
             "  \"recovery_keys_shares\": %d,\n  \"recovery_keys_threshold\": %d,\n"
             "  \"root_token\": \"",
             r->recovery_shares, r->recovery_threshold);
    if (secret_append(out, nums, strlen(nums), err) < 0 ||
        secret_append(out, r->root_token.data, r->root_token.len, err) < 0 ||
        secret_append(out, "\"\n}\n", 4, err) < 0)
        goto fail;
    return 0;
fail:
    secret_free(out);
    return -1;
}

int vault_parse_unseal(const char *out, size_t len, struct vault_unseal_progress *p,
                       struct error *err)
{
    memset(p, 0, sizeof *p);
    json_t *root = vault_load_output(out, len, "vault write sys/unseal", err);
    if (root == NULL)
        return -1;
    /* Since Vault 1.13 the raw seal status is wrapped in an api.Secret's .data. */
    json_t *data = json_object_get(root, "data");
    if (!json_is_object(data))
        data = root;
    if (json_object_get(data, "sealed") == NULL) {
        json_decref(root);
        return error_set(err, ERR_PROTOCOL, "sys/unseal answered without \"sealed\"");
    }
    p->sealed = jbool(data, "sealed");
    p->t = (int)jint(data, "t");
    p->n = (int)jint(data, "n");
    p->progress = (int)jint(data, "progress");
    json_decref(root);
    return 0;
}

void vault_peers_clear(struct vault_peers *peers)
{
    for (size_t i = 0; i < peers->n; i++) {
        free(peers->items[i].node_id);
        free(peers->items[i].address);
    }
    free(peers->items);
    memset(peers, 0, sizeof *peers);
}

int vault_parse_peers(const char *out, size_t len, struct vault_peers *peers, struct error *err)
{
    memset(peers, 0, sizeof *peers);
    json_t *root = vault_load_output(out, len, "vault operator raft list-peers", err);
    if (root == NULL)
        return -1;
    json_t *config = json_object_get(json_object_get(root, "data"), "config");
    json_t *servers = json_object_get(config, "servers");
    if (!json_is_array(servers)) {
        json_decref(root);
        return error_set(err, ERR_PROTOCOL, "list-peers printed no data.config.servers");
    }
    peers->index = jint(config, "index");
    peers->items = calloc(json_array_size(servers) + 1, sizeof *peers->items);
    size_t i;
    json_t *s;
    json_array_foreach(servers, i, s)
    {
        struct vault_peer *p = &peers->items[peers->n++];
        p->node_id = dup_str(s, "node_id");
        p->address = dup_str(s, "address");
        p->leader = jbool(s, "leader");
        p->voter = jbool(s, "voter");
    }
    json_decref(root);
    return 0;
}

void vault_autopilot_clear(struct vault_autopilot *ap)
{
    for (size_t i = 0; i < ap->n; i++) {
        struct vault_autopilot_server *s = &ap->servers[i];
        free(s->id);
        free(s->name);
        free(s->address);
        free(s->node_status);
        free(s->status);
        free(s->stable_since);
    }
    free(ap->servers);
    free(ap->leader);
    memset(ap, 0, sizeof *ap);
}

/* The names autopilot's fields go by: Go's CamelCase in the CLI's JSON (no json
 * tags, docs/vault-cli.md §4), snake_case in the HTTP answer's data. */
struct autopilot_keys {
    const char *healthy, *failure_tolerance, *leader, *servers;
    const char *id, *name, *address, *node_status, *status, *last_index, *stable_since;
};
static const struct autopilot_keys CLI_AUTOPILOT = {
    "Healthy", "FailureTolerance", "Leader", "Servers",   "ID",         "Name",
    "Address", "NodeStatus",       "Status", "LastIndex", "StableSince"};
static const struct autopilot_keys HTTP_AUTOPILOT = {
    "healthy", "failure_tolerance", "leader", "servers",    "id",          "name",
    "address", "node_status",       "status", "last_index", "stable_since"};

static int autopilot_from(json_t *doc, const struct autopilot_keys *k, struct vault_autopilot *ap,
                          const char *missing, struct error *err)
{
    json_t *servers = json_object_get(doc, k->servers);
    if (json_object_get(doc, k->healthy) == NULL || !json_is_object(servers))
        return error_set(err, ERR_PROTOCOL, "%s", missing);
    ap->healthy = jbool(doc, k->healthy);
    ap->failure_tolerance = (int)jint(doc, k->failure_tolerance);
    ap->leader = dup_str(doc, k->leader);
    ap->servers = calloc(json_object_size(servers) + 1, sizeof *ap->servers);
    if (ap->servers == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    const char *key;
    json_t *s;
    json_object_foreach(servers, key, s)
    {
        struct vault_autopilot_server *x = &ap->servers[ap->n++];
        x->id = dup_str(s, k->id);
        x->name = dup_str(s, k->name);
        x->address = dup_str(s, k->address);
        x->node_status = dup_str(s, k->node_status);
        x->status = dup_str(s, k->status);
        x->healthy = jbool(s, k->healthy);
        x->last_index = jint(s, k->last_index);
        x->stable_since = dup_str(s, k->stable_since);
    }
    return 0;
}

int vault_parse_autopilot(const char *out, size_t len, struct vault_autopilot *ap,
                          struct error *err)
{
    memset(ap, 0, sizeof *ap);
    json_t *root = vault_load_output(out, len, "vault operator raft autopilot state", err);
    if (root == NULL)
        return -1;
    int rc =
        autopilot_from(root, &CLI_AUTOPILOT, ap,
                       "autopilot state printed JSON without Healthy/Servers (CamelCase)", err);
    json_decref(root);
    if (rc < 0)
        vault_autopilot_clear(ap);
    return rc;
}

/* --- Vault's HTTP answers (through pods/proxy) ---------------------------------------------- */

/* The whole body must be one JSON object: no prompt or other text around it. */
static json_t *load_http(const char *body, size_t len, const char *what, struct error *err)
{
    json_error_t je;
    json_t *root = body != NULL ? json_loadb(body, len, 0, &je) : NULL;
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        error_set(err, ERR_PROTOCOL, "%s: the answer is not a JSON object%s%s", what,
                  root == NULL && body != NULL ? ": " : "", root == NULL && body ? je.text : "");
        return NULL;
    }
    return root;
}

void vault_http_error_summary(const char *body, size_t len, char *buf, size_t cap)
{
    buf[0] = '\0';
    json_t *root = body != NULL && len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *errors = json_object_get(root, "errors");
    if (json_is_array(errors)) {
        size_t used = 0, i;
        json_t *e;
        json_array_foreach(errors, i, e)
        {
            const char *m = json_string_value(e);
            if (m == NULL || used + 1 >= cap)
                continue;
            int w = snprintf(buf + used, cap - used, "%s%s", used ? "; " : "", m);
            used = w < 0 ? used : (size_t)w >= cap - used ? cap - 1 : used + (size_t)w;
        }
    } else if (root == NULL && body != NULL) {
        size_t l = 0; /* plain text: its first line (the body need not end in a NUL) */
        while (l < len && l < cap - 1 && body[l] != '\r' && body[l] != '\n' && body[l] != '\0')
            l++;
        snprintf(buf, cap, "%.*s", (int)l, body);
    }
    json_decref(root);
}

int vault_parse_http_seal_status(const char *body, size_t len, struct vault_status *st,
                                 struct error *err)
{
    memset(st, 0, sizeof *st);
    json_t *root = load_http(body, len, "sys/seal-status", err);
    if (root == NULL)
        return -1;
    if (!json_is_boolean(json_object_get(root, "sealed")) ||
        !json_is_boolean(json_object_get(root, "initialized"))) {
        json_decref(root);
        return error_set(err, ERR_PROTOCOL,
                         "sys/seal-status answered JSON without \"sealed\"/\"initialized\"");
    }
    status_fields(root, st);
    json_decref(root);
    return 0;
}

int vault_merge_http_leader(long http_status, const char *body, size_t len, struct vault_status *st,
                            struct error *err)
{
    if (http_status != 200) {
        char why[512];
        vault_http_error_summary(body, len, why, sizeof why);
        /* The CLI masks a leader call failing with "Vault is sealed" as {HAEnabled:
         * true}, whatever seal-status said (facts vault.md §1): a node sealed between
         * the two calls reads the same. */
        if (strstr(why, "Vault is sealed") != NULL) {
            st->ha_enabled = 1;
            return 0;
        }
        return error_set(err, ERR_REMOTE, "sys/leader answered %ld%s%s", http_status,
                         why[0] ? ": " : "", why);
    }
    json_t *root = load_http(body, len, "sys/leader", err);
    if (root == NULL)
        return -1;
    st->ha_enabled = jbool(root, "ha_enabled");
    st->is_self = jbool(root, "is_self");
    free(st->leader_address);
    free(st->leader_cluster_address);
    st->leader_address = dup_str(root, "leader_address");
    st->leader_cluster_address = dup_str(root, "leader_cluster_address");
    st->raft_committed_index = jint(root, "raft_committed_index");
    st->raft_applied_index = jint(root, "raft_applied_index");
    json_decref(root);
    return 0;
}

int vault_parse_http_peers(const char *body, size_t len, struct vault_peers *peers,
                           struct error *err)
{
    memset(peers, 0, sizeof *peers);
    json_t *root = load_http(body, len, "sys/storage/raft/configuration", err);
    if (root == NULL)
        return -1;
    json_decref(root);
    /* The same document as `list-peers -format=json` prints (the whole api.Secret). */
    return vault_parse_peers(body, len, peers, err);
}

int vault_parse_http_autopilot(const char *body, size_t len, struct vault_autopilot *ap,
                               struct error *err)
{
    memset(ap, 0, sizeof *ap);
    json_t *root = load_http(body, len, "sys/storage/raft/autopilot/state", err);
    if (root == NULL)
        return -1;
    json_t *data = json_object_get(root, "data");
    int rc = autopilot_from(json_is_object(data) ? data : root, &HTTP_AUTOPILOT, ap,
                            "sys/storage/raft/autopilot/state answered without "
                            "data.healthy/data.servers",
                            err);
    json_decref(root);
    if (rc < 0)
        vault_autopilot_clear(ap);
    return rc;
}

/* --- running the CLI in pods ------------------------------------------------------------- */

void vault_call_clear(struct vault_call *c)
{
    free(c->out);
    c->out = NULL;
    c->out_len = 0;
    secret_free(&c->secret_out);
    free(c->err_out);
    c->err_out = NULL;
    c->ran = 0;
    c->exit_code = 0;
    error_clear(&c->error);
}

int vault_call_with_token(struct vault_call *call, const struct vault_cluster *vc,
                          const struct secret *token, const char *const *args,
                          struct secret *with_token, struct error *err)
{
    /* The token travels on stdin; `read` stops at the newline, so anything after
     * it stays on stdin for the CLI. exec "$0" "$@" keeps every argument as is. */
    int bao = vc->product == PRODUCT_OPENBAO;
    size_t n = 0;
    call->argv[n++] = "sh";
    call->argv[n++] = "-c";
    call->argv[n++] = bao ? "IFS= read -r BAO_TOKEN && export BAO_TOKEN && exec \"$0\" \"$@\""
                          : "IFS= read -r VAULT_TOKEN && export VAULT_TOKEN && exec \"$0\" \"$@\"";
    for (size_t i = 0; args[i] != NULL; i++) {
        if (n + 1 >= sizeof call->argv / sizeof call->argv[0])
            return error_set(err, ERR_GENERIC, "too many arguments");
        call->argv[n++] = args[i];
    }
    call->argv[n] = NULL;
    size_t extra = call->input != NULL ? call->input_len : 0;
    if (secret_alloc(with_token, token->len + 1 + extra + 1, err) < 0)
        return -1;
    memcpy(with_token->data, token->data, token->len);
    with_token->data[token->len] = '\n';
    if (extra > 0)
        memcpy(with_token->data + token->len + 1, call->input, extra);
    with_token->len = token->len + 1 + extra;
    call->input = with_token->data;
    call->input_len = with_token->len;
    return 0;
}

const char *const *vault_argv_without_pod_token(const struct vault_cluster *vc,
                                                const char *const *argv, struct vault_argv *w)
{
    /* Always, not only when the StatefulSet's env names a token: one can come from envFrom,
     * the image's ENV, a mutating webhook or a pod of an older revision, and the plugin cannot
     * see those. `sh -c` scripts too: those with a token export theirs after this; the others
     * run the CLI without one. The bao CLI reads BAO_TOKEN, then VAULT_TOKEN. */
    static const char *const vault_prefix[] = {"env", "-u", "VAULT_TOKEN", NULL};
    static const char *const bao_prefix[] = {"env", "-u", "BAO_TOKEN", "-u", "VAULT_TOKEN", NULL};
    const char *const *prefix = vc->product == PRODUCT_OPENBAO ? bao_prefix : vault_prefix;
    if (argv[0] == NULL)
        return argv;
    size_t n = 0;
    for (size_t i = 0; prefix[i] != NULL; i++)
        w->argv[n++] = prefix[i];
    for (size_t i = 0; argv[i] != NULL && n + 1 < sizeof w->argv / sizeof w->argv[0]; i++)
        w->argv[n++] = argv[i];
    w->argv[n] = NULL;
    return w->argv;
}

int vault_exec_lacks_env(const char *msg)
{
    return msg != NULL && strstr(msg, "\"env\"") != NULL &&
           (strstr(msg, "not found") != NULL || strstr(msg, "no such file") != NULL);
}

#define CALL_TIMEOUT_MS (120 * 1000)
#define CALL_STDOUT_MAX (4u << 20) /* init's output with 255 PGP-encrypted shares is < 1 MiB */
#define CALL_STDERR_MAX (64u << 10)

/* A stdout sink into locked memory, for output that carries keys; capped like
 * every other: locked memory is scarce (RLIMIT_MEMLOCK). */
static int secret_sink(void *ctx, const void *data, size_t len, struct error *err)
{
    struct secret *s = ctx;
    if (len > CALL_STDOUT_MAX - s->len)
        return kexec_limit_error(err, "stdout", CALL_STDOUT_MAX);
    return secret_append(s, data, len, err);
}

/* kexec's default for the upgrade */
static const long call_handshake_ms = 30 * 1000;

/* vault_call_run's one pass: unset_token puts every command under `env -u`. */
static int run_calls(struct kube_client *kube, const struct vault_cluster *vc,
                     struct vault_call *calls, size_t n, int unset_token)
{
    if (n == 0)
        return 0;
    struct kexec_request *req = calloc(n, sizeof *req);
    struct kexec_result *res = calloc(n, sizeof *res);
    struct kexec_buffer *outb = calloc(n, sizeof *outb);
    struct kexec_buffer *errb = calloc(n, sizeof *errb);
    struct vault_argv *wrapped = calloc(n, sizeof *wrapped);
    if (!req || !res || !outb || !errb || !wrapped) {
        free(req), free(res), free(outb), free(errb), free(wrapped);
        for (size_t i = 0; i < n; i++)
            error_set(&calls[i].error, ERR_GENERIC, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct vault_call *c = &calls[i];
        c->ran = 0;
        c->exit_code = -1;
        error_clear(&c->error);
        outb[i].buf.max = CALL_STDOUT_MAX;
        outb[i].what = "stdout";
        errb[i].buf.max = CALL_STDERR_MAX;
        errb[i].what = "stderr";
        req[i].namespace = vc->namespace;
        req[i].pod = c->pod;
        req[i].container = vc->container;
        req[i].argv =
            unset_token ? vault_argv_without_pod_token(vc, c->argv, &wrapped[i]) : c->argv;
        if (c->input != NULL) {
            req[i].in.kind = KEXEC_STDIN_MEMORY;
            req[i].in.data = c->input;
            req[i].in.len = c->input_len;
        }
        if (c->secret_output) {
            req[i].out = secret_sink;
            req[i].out_ctx = &c->secret_out;
        } else {
            req[i].out = kexec_buffer_write;
            req[i].out_ctx = &outb[i];
        }
        req[i].err = kexec_buffer_write;
        req[i].err_ctx = &errb[i];
        /* A run with a deadline (status --all-contexts) must not wait past it here
         * either: an exec that hangs ends with it, as a proxied read does. */
        req[i].handshake_timeout_ms = kube_deadline_left_ms(kube, call_handshake_ms);
        req[i].timeout_ms = kube_deadline_left_ms(kube, CALL_TIMEOUT_MS);
    }
    int rc = kexec_run_many(kube, req, n, res);
    for (size_t i = 0; i < n; i++) {
        struct vault_call *c = &calls[i];
        c->out = outb[i].buf.data;
        c->out_len = outb[i].buf.len;
        c->err_out = errb[i].buf.data;
        if (res[i].rc == 0) {
            c->ran = 1;
            c->exit_code = res[i].exit_code;
        } else {
            c->error = res[i].err; /* kexec's message already names the pod */
        }
    }
    free(req), free(res), free(outb), free(errb), free(wrapped);
    return rc;
}

int vault_call_run(struct kube_client *kube, const struct vault_cluster *vc,
                   struct vault_call *calls, size_t n)
{
    int rc = run_calls(kube, vc, calls, n, 1);
    /* An image without env (OpenBao's distroless one: no env, no sh) cannot unset a
     * variable at all; there the command runs as is. Only the CLI commands without a token
     * of their own can run there (those with one need sh), and they call endpoints that do
     * not look at a token (status, init, unseal). The failed exec ran nothing, so running
     * it again is safe. */
    size_t lacking = 0;
    for (size_t i = 0; i < n; i++)
        lacking += !calls[i].ran && vault_exec_lacks_env(calls[i].error.msg);
    if (lacking == 0)
        return rc;
    if (lacking == n) {
        for (size_t i = 0; i < n; i++)
            vault_call_clear(&calls[i]);
        return run_calls(kube, vc, calls, n, 0);
    }
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (calls[i].ran || !vault_exec_lacks_env(calls[i].error.msg)) {
            rc |= calls[i].ran ? 0 : -1;
            continue;
        }
        vault_call_clear(&calls[i]);
        rc |= run_calls(kube, vc, &calls[i], 1, 0);
    }
    return rc;
}

int vault_status_from_call(const struct vault_call *c, struct vault_status *st, char **error)
{
    struct error err = {0};
    if (!c->ran)
        *error = strdup(c->error.msg);
    else if (vault_parse_status(c->out, c->out_len, c->exit_code, c->err_out, st, &err) < 0)
        *error = strdup(err.msg);
    else
        return 1;
    return 0;
}

void vault_views_clear(struct pod_view *views, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vault_status_clear(&views[i].st);
        free(views[i].status_error);
        memset(&views[i], 0, sizeof views[i]);
    }
}

int vault_read_raft(struct kube_client *kube, const struct vault_cluster *vc, const char *pod,
                    const struct secret *token, struct vault_peers *peers,
                    struct vault_autopilot *ap, int *have_ap, char *why, size_t why_cap)
{
    struct vault_call calls[2] = {{0}};
    struct secret bufs[2] = {{0}};
    const char *peers_args[] = {vc->cli, "operator", "raft", "list-peers", "-format=json", NULL};
    const char *ap_args[] = {vc->cli, "operator",     "raft", "autopilot",
                             "state", "-format=json", NULL};
    struct error err = {0};
    int rc = -1;
    *have_ap = 0;
    calls[0].pod = calls[1].pod = pod;
    if (vault_call_with_token(&calls[0], vc, token, peers_args, &bufs[0], &err) < 0 ||
        vault_call_with_token(&calls[1], vc, token, ap_args, &bufs[1], &err) < 0) {
        snprintf(why, why_cap, "%.*s", (int)why_cap - 1, err.msg);
        goto out;
    }
    vault_call_run(kube, vc, calls, 2);
    if (!calls[0].ran) {
        snprintf(why, why_cap, "%.*s", (int)why_cap - 1, calls[0].error.msg);
    } else if (calls[0].exit_code != 0) {
        char summary[512];
        vault_error_summary(calls[0].err_out, summary, sizeof summary);
        snprintf(why, why_cap, "list-peers on %s failed: %s", pod, summary);
        rc = strstr(summary, "permission denied") != NULL ? -2 : -1;
    } else if (vault_parse_peers(calls[0].out, calls[0].out_len, peers, &err) < 0) {
        snprintf(why, why_cap, "%.*s", (int)why_cap - 1, err.msg);
    } else {
        rc = 0;
        /* autopilot state answers nothing (exit 0) on a 404: only peers then */
        *have_ap = calls[1].ran && calls[1].exit_code == 0 && calls[1].out_len > 0 &&
                   vault_parse_autopilot(calls[1].out, calls[1].out_len, ap, &err) == 0;
    }
out:
    for (int i = 0; i < 2; i++) {
        vault_call_clear(&calls[i]);
        secret_free(&bufs[i]);
    }
    return rc;
}

void vault_status_some(struct kube_client *kube, const struct vault_cluster *vc,
                       const size_t *index, size_t n, struct pod_view *views)
{
    struct vault_call *calls = calloc(n + 1, sizeof *calls);
    for (size_t k = 0; k < n; k++)
        memset(&views[index[k]], 0, sizeof views[index[k]]);
    if (calls == NULL)
        return;
    for (size_t k = 0; k < n; k++) {
        calls[k].pod = vc->pods[index[k]].name;
        calls[k].argv[0] = vc->cli;
        calls[k].argv[1] = "status";
        calls[k].argv[2] = "-format=json";
    }
    vault_call_run(kube, vc, calls, n);
    for (size_t k = 0; k < n; k++) {
        struct pod_view *v = &views[index[k]];
        v->have_status = vault_status_from_call(&calls[k], &v->st, &v->status_error);
        vault_call_clear(&calls[k]);
    }
    free(calls);
}

size_t *vault_running_pods(const struct vault_cluster *vc, struct pod_view *views, size_t *n)
{
    size_t *index = calloc(vc->npods + 1, sizeof *index);
    *n = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        memset(&views[i], 0, sizeof views[i]);
        if (index != NULL && vc->pods[i].running)
            index[(*n)++] = i;
    }
    return index;
}

void vault_status_all(struct kube_client *kube, const struct vault_cluster *vc,
                      struct pod_view *views)
{
    size_t n;
    size_t *index = vault_running_pods(vc, views, &n);
    if (index != NULL)
        vault_status_some(kube, vc, index, n, views);
    free(index);
}

int vault_call_check(const struct vault_call *call, const char *what, const char *denied_hint,
                     struct error *err)
{
    if (!call->ran)
        return error_set(err, ERR_REMOTE, "%s", call->error.msg);
    if (call->exit_code == 0)
        return 0;
    char why[900];
    vault_error_summary(call->err_out, why, sizeof why);
    int denied = strstr(why, "permission denied") != NULL;
    return error_set(err, denied ? ERR_FORBIDDEN : ERR_REMOTE, "%s on %s failed: %s%s", what,
                     call->pod, why[0] ? why : "no reason given",
                     denied && denied_hint ? denied_hint : "");
}

int vault_run_cli(struct kube_client *kube, const struct vault_cluster *vc, struct vault_call *call,
                  const struct secret *token, const char *const *args, const char *what,
                  const char *denied_hint, struct error *err)
{
    struct secret with_token = {0};
    if (token != NULL) {
        if (vault_call_with_token(call, vc, token, args, &with_token, err) < 0)
            return -1;
    } else {
        size_t n = 0;
        for (; args[n] != NULL; n++) {
            if (n + 1 >= sizeof call->argv / sizeof call->argv[0])
                return error_set(err, ERR_GENERIC, "too many arguments");
            call->argv[n] = args[n];
        }
        call->argv[n] = NULL;
    }
    vault_call_run(kube, vc, call, 1);
    secret_free(&with_token);
    return vault_call_check(call, what, denied_hint, err);
}

int vault_status_is_active(const struct vault_status *st)
{
    return st->is_self && !st->sealed;
}

long vault_active_index(const struct pod_view *views, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (views[i].have_status && vault_status_is_active(&views[i].st))
            return (long)i;
    return -1;
}
