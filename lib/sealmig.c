#include "sealmig.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "text.h"

int sealmig_is_auto(const char *type)
{
    return type != NULL && type[0] != '\0' && strcmp(type, "shamir") != 0;
}

/* --- the HCL scan ------------------------------------------------------------------------- */

struct scan {
    const char *p, *end;
};

static void skip_space(struct scan *s)
{
    while (s->p < s->end) {
        if (isspace((unsigned char)*s->p)) {
            s->p++;
        } else if (*s->p == '#' || (*s->p == '/' && s->p + 1 < s->end && s->p[1] == '/')) {
            while (s->p < s->end && *s->p != '\n')
                s->p++;
        } else if (*s->p == '/' && s->p + 1 < s->end && s->p[1] == '*') {
            const char *close = NULL;
            for (const char *q = s->p + 2; q + 1 < s->end; q++)
                if (q[0] == '*' && q[1] == '/') {
                    close = q;
                    break;
                }
            s->p = close ? close + 2 : s->end;
        } else {
            return;
        }
    }
}

/* A quoted string (its content, escapes kept as is, cut to cap) or a bare word. */
static int scan_value(struct scan *s, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (s->p < s->end && *s->p == '"') {
        s->p++;
        while (s->p < s->end && *s->p != '"' && *s->p != '\n') {
            if (*s->p == '\\' && s->p + 1 < s->end)
                s->p++;
            if (n + 1 < cap)
                out[n++] = *s->p;
            s->p++;
        }
        if (s->p >= s->end || *s->p != '"')
            return -1;
        s->p++;
    } else {
        while (s->p < s->end && !isspace((unsigned char)*s->p) && *s->p != '}' && *s->p != '{' &&
               *s->p != '#') {
            if (n + 1 < cap)
                out[n++] = *s->p;
            s->p++;
        }
    }
    out[n] = '\0';
    return 0;
}

static int scan_ident(struct scan *s, char *out, size_t cap)
{
    size_t n = 0;
    while (s->p < s->end && (isalnum((unsigned char)*s->p) || *s->p == '_' || *s->p == '-')) {
        if (n + 1 < cap)
            out[n++] = *s->p;
        s->p++;
    }
    out[n] = '\0';
    return n > 0 ? 0 : -1;
}

/* Skips a block whose '{' was just read (nested blocks and strings included). */
static int skip_block(struct scan *s)
{
    int depth = 1;
    while (s->p < s->end && depth > 0) {
        char c = *s->p++;
        if (c == '"') {
            while (s->p < s->end && *s->p != '"') {
                if (*s->p == '\\' && s->p + 1 < s->end)
                    s->p++;
                s->p++;
            }
            if (s->p < s->end)
                s->p++;
        } else if (c == '#') {
            while (s->p < s->end && *s->p != '\n')
                s->p++;
        } else if (c == '{') {
            depth++;
        } else if (c == '}') {
            depth--;
        }
    }
    return depth == 0 ? 0 : -1;
}

static int parse_bool(const char *v)
{
    /* strconv.ParseBool's true forms (parseutil.ParseBool, docs/seal-migration.md §1.1) */
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (strcmp(v, yes[i]) == 0)
            return 1;
    return 0;
}

/* One attribute of a seal stanza, from HCL or JSON alike. */
static void set_attribute(struct seal_stanza *st, const char *key, const char *value)
{
    if (strcmp(key, "disabled") == 0)
        st->disabled = parse_bool(value);
    else if (strcmp(key, "address") == 0)
        text_sanitize(st->address, sizeof st->address, value, strlen(value));
    else if (strcmp(key, "mount_path") == 0)
        text_sanitize(st->mount_path, sizeof st->mount_path, value, strlen(value));
    else if (strcmp(key, "key_name") == 0)
        text_sanitize(st->key_name, sizeof st->key_name, value, strlen(value));
    else if (strcmp(key, "token") == 0)
        st->has_token = value[0] != '\0';
    else if (strcmp(key, "tls_ca_cert") == 0)
        text_sanitize(st->tls_ca_cert, sizeof st->tls_ca_cert, value, strlen(value));
    else if (strcmp(key, "tls_server_name") == 0)
        text_sanitize(st->tls_server_name, sizeof st->tls_server_name, value, strlen(value));
    else if (strcmp(key, "tls_skip_verify") == 0)
        st->tls_skip_verify = parse_bool(value);
    if (strncmp(key, "tls_", 4) == 0)
        st->has_tls = 1;
}

static int parse_seal_body(struct scan *s, struct seal_stanza *st, struct error *err)
{
    for (;;) {
        skip_space(s);
        if (s->p >= s->end)
            return error_set(err, ERR_PROTOCOL, "seal \"%s\" block: no closing }", st->type);
        if (*s->p == '}') {
            s->p++;
            return 0;
        }
        char key[64], value[256];
        if (scan_ident(s, key, sizeof key) < 0)
            return error_set(err, ERR_PROTOCOL, "seal \"%s\" block: an attribute name expected",
                             st->type);
        skip_space(s);
        if (s->p < s->end && *s->p == '{') { /* a nested block: not a seal attribute */
            s->p++;
            if (skip_block(s) < 0)
                return error_set(err, ERR_PROTOCOL, "seal \"%s\" block: no closing }", st->type);
            continue;
        }
        if (s->p >= s->end || *s->p != '=')
            return error_set(err, ERR_PROTOCOL, "seal \"%s\" block: '=' expected after %s",
                             st->type, key);
        s->p++;
        skip_space(s);
        if (scan_value(s, value, sizeof value) < 0)
            return error_set(err, ERR_PROTOCOL, "seal \"%s\" block: unterminated string", st->type);
        set_attribute(st, key, value);
        explicit_bzero(value, sizeof value); /* a token's value is not kept */
    }
}

/* --- the JSON form ------------------------------------------------------------------------ */

/* server.ha.raft.config may be JSON (docs/seal-migration.md §8.1): HCL's JSON
 * form, where "seal" is {"TYPE": {...}} or {"TYPE": [{...}]}, or a list of such
 * objects. Attribute values are strings, or booleans and numbers (disabled). */
static int json_seal_body(const char *type, const json_t *body, struct seal_config *cfg,
                          struct error *err)
{
    if (json_is_array(body)) {
        size_t i;
        const json_t *b;
        json_array_foreach(body, i, b)
        {
            if (json_seal_body(type, b, cfg, err) < 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_object(body))
        return error_set(err, ERR_PROTOCOL, "seal \"%s\": an object expected", type);
    if (cfg->n == SEALMIG_MAX_STANZAS)
        return error_set(err, ERR_PROTOCOL, "more than %d seal blocks", SEALMIG_MAX_STANZAS);
    struct seal_stanza *st = &cfg->stanzas[cfg->n++];
    text_sanitize(st->type, sizeof st->type, type, strlen(type));
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        char value[256] = "";
        if (json_is_string(v))
            snprintf(value, sizeof value, "%s", json_string_value(v));
        else if (json_is_true(v))
            snprintf(value, sizeof value, "true");
        else if (json_is_integer(v))
            snprintf(value, sizeof value, "%lld", (long long)json_integer_value(v));
        else
            continue; /* false, null, objects: nothing a seal attribute needs */
        set_attribute(st, key, value);
        explicit_bzero(value, sizeof value);
        if (strcmp(key, "token") == 0 && json_is_string(v)) /* jansson's copy of it too */
            explicit_bzero((char *)json_string_value(v), json_string_length(v));
    }
    return 0;
}

static int json_seals(const json_t *seal, struct seal_config *cfg, struct error *err)
{
    if (json_is_array(seal)) {
        size_t i;
        const json_t *x;
        json_array_foreach(seal, i, x)
        {
            if (json_seals(x, cfg, err) < 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_object(seal))
        return error_set(err, ERR_PROTOCOL, "\"seal\": an object or a list expected");
    const char *type;
    const json_t *body;
    json_object_foreach((json_t *)seal, type, body)
    {
        if (json_seal_body(type, body, cfg, err) < 0)
            return -1;
    }
    return 0;
}

static int parse_json_config(const char *text, size_t len, struct seal_config *cfg,
                             struct error *err)
{
    json_error_t jerr;
    /* The config may hold a seal token: the error names the line only, never jansson's
     * text (which quotes the input near the fault). */
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return error_set(err, ERR_PROTOCOL, "the server config (JSON) does not parse at line %d",
                         jerr.line);
    int rc = 0;
    const json_t *seal = json_object_get(doc, "seal");
    if (seal != NULL)
        rc = json_seals(seal, cfg, err);
    json_decref(doc);
    return rc;
}

int sealmig_parse_config(const char *hcl, size_t len, struct seal_config *cfg, struct error *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (len > SEALMIG_CONFIG_MAX)
        return error_set(err, ERR_PROTOCOL, "the server config is larger than %u bytes",
                         SEALMIG_CONFIG_MAX);
    struct scan s = {hcl, hcl + len};
    skip_space(&s);
    if (s.p < s.end && *s.p == '{')
        return parse_json_config(s.p, (size_t)(s.end - s.p), cfg, err);
    for (;;) {
        skip_space(&s);
        if (s.p >= s.end)
            return 0;
        char word[64];
        if (scan_ident(&s, word, sizeof word) < 0) {
            /* a character that starts nothing we read (JSON config, a stray token) */
            if (*s.p == '{') {
                s.p++;
                if (skip_block(&s) < 0)
                    return error_set(err, ERR_PROTOCOL, "the server config has an unclosed {");
            } else {
                s.p++;
            }
            continue;
        }
        skip_space(&s);
        int is_seal = strcmp(word, "seal") == 0;
        char label[64] = "";
        if (s.p < s.end && *s.p == '"') {
            if (scan_value(&s, label, sizeof label) < 0)
                return error_set(err, ERR_PROTOCOL, "the server config has an unterminated string");
            skip_space(&s);
        }
        if (s.p < s.end && *s.p == '{') {
            s.p++;
            if (is_seal) {
                if (cfg->n == SEALMIG_MAX_STANZAS)
                    return error_set(err, ERR_PROTOCOL, "more than %d seal blocks",
                                     SEALMIG_MAX_STANZAS);
                struct seal_stanza *st = &cfg->stanzas[cfg->n++];
                text_sanitize(st->type, sizeof st->type, label, strlen(label));
                if (parse_seal_body(&s, st, err) < 0)
                    return -1;
            } else if (skip_block(&s) < 0) {
                return error_set(err, ERR_PROTOCOL, "%s block: no closing }", word);
            }
            continue;
        }
        /* `key = value` at the top level */
        if (s.p < s.end && *s.p == '=') {
            s.p++;
            skip_space(&s);
            char value[256];
            if (s.p < s.end && (*s.p == '{' || *s.p == '[')) {
                char open = *s.p++;
                if (open == '{' && skip_block(&s) < 0)
                    return error_set(err, ERR_PROTOCOL, "%s: no closing }", word);
                while (open == '[' && s.p < s.end && *s.p != ']')
                    s.p++;
                if (open == '[' && s.p < s.end)
                    s.p++;
            } else if (scan_value(&s, value, sizeof value) < 0) {
                return error_set(err, ERR_PROTOCOL, "the server config has an unterminated string");
            }
        }
    }
}

void sealmig_probe_argv(const struct seal_stanza *st, const char *cli,
                        struct sealmig_probe_flags *flags, const char *argv[SEALMIG_PROBE_ARGV])
{
    size_t n = 0;
    argv[n++] = cli;
    argv[n++] = "status";
    snprintf(flags->address, sizeof flags->address, "-address=%s", st->address);
    argv[n++] = flags->address;
    if (st->tls_ca_cert[0] != '\0') {
        snprintf(flags->ca_cert, sizeof flags->ca_cert, "-ca-cert=%s", st->tls_ca_cert);
        argv[n++] = flags->ca_cert;
    }
    if (st->tls_server_name[0] != '\0') {
        snprintf(flags->server_name, sizeof flags->server_name, "-tls-server-name=%s",
                 st->tls_server_name);
        argv[n++] = flags->server_name;
    }
    if (st->tls_skip_verify)
        argv[n++] = "-tls-skip-verify";
    argv[n++] = "-format=json";
    argv[n] = NULL;
}

/* --- the StatefulSet's env ---------------------------------------------------------------- */

void sealmig_parse_env(const json_t *sts, const char *container, enum vault_product product,
                       struct seal_env *env)
{
    int bao = product == PRODUCT_OPENBAO;
    memset(env, 0, sizeof *env);
    const json_t *cs = json_object_get(
        json_object_get(json_object_get(json_object_get(sts, "spec"), "template"), "spec"),
        "containers");
    const char *token_name = bao ? "BAO_TOKEN" : "VAULT_TOKEN";
    const char *type_name = bao ? "BAO_SEAL_TYPE" : "VAULT_SEAL_TYPE";
    size_t i;
    const json_t *c;
    json_array_foreach(cs, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        if (container != NULL && (name == NULL || strcmp(name, container) != 0))
            continue;
        size_t k;
        const json_t *e;
        json_array_foreach(json_object_get(c, "env"), k, e)
        {
            const char *n = json_string_value(json_object_get(e, "name"));
            if (n == NULL)
                continue;
            const char *value = json_string_value(json_object_get(e, "value"));
            const json_t *ref = json_object_get(json_object_get(e, "valueFrom"), "secretKeyRef");
            if (strcmp(n, token_name) == 0 || strcmp(n, "VAULT_TOKEN") == 0) {
                env->token = 1;
                const char *sec = json_string_value(json_object_get(ref, "name"));
                char raw[160];
                if (sec != NULL)
                    snprintf(raw, sizeof raw, "Secret %s", sec);
                else
                    snprintf(raw, sizeof raw, "a plain value in the StatefulSet");
                text_sanitize(env->token_from, sizeof env->token_from, raw, strlen(raw));
            } else if ((strcmp(n, type_name) == 0 || strcmp(n, "VAULT_SEAL_TYPE") == 0) &&
                       value != NULL) {
                text_sanitize(env->seal_type, sizeof env->seal_type, value, strlen(value));
            }
        }
    }
}

/* --- detection and checks ----------------------------------------------------------------- */

static const struct seal_stanza *enabled_stanza(const struct seal_config *cfg, int *count)
{
    const struct seal_stanza *first = NULL;
    *count = 0;
    for (size_t i = 0; i < cfg->n; i++)
        if (!cfg->stanzas[i].disabled) {
            if (first == NULL)
                first = &cfg->stanzas[i];
            (*count)++;
        }
    return first;
}

static const struct seal_stanza *disabled_stanza(const struct seal_config *cfg)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (cfg->stanzas[i].disabled)
            return &cfg->stanzas[i];
    return NULL;
}

int sealmig_detect(const struct seal_config *cfg, const struct seal_env *env,
                   const struct vault_cluster *vc, const struct pod_view *views, struct sealmig *m,
                   char *why, size_t cap)
{
    memset(m, 0, sizeof *m);
    int count;
    const struct seal_stanza *en = enabled_stanza(cfg, &count);
    snprintf(m->to, sizeof m->to, "%s", en ? en->type : "shamir");
    if (env->seal_type[0] && en != NULL)
        snprintf(m->to, sizeof m->to, "%s", env->seal_type);
    const struct seal_stanza *dis = disabled_stanza(cfg);
    if (dis != NULL)
        snprintf(m->old_disabled, sizeof m->old_disabled, "%s", dis->type);
    int answered = 0, on_target = 0, running = 0;
    const char *other = NULL;
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        const struct pod_view *v = &views[i];
        if (!p->exists)
            continue;
        running++;
        if (!v->have_status || v->st.type == NULL)
            continue;
        answered++;
        if (strcmp(v->st.type, m->to) == 0)
            on_target++;
        else if (other == NULL)
            other = v->st.type;
        if (!v->st.sealed && v->st.is_self) {
            text_sanitize(m->active, sizeof m->active, p->name, strlen(p->name));
            text_sanitize(m->from, sizeof m->from, v->st.type, strlen(v->st.type));
            m->stored_is_target = strcmp(v->st.type, m->to) == 0 && !v->st.migration;
        }
    }
    if (answered == 0) {
        snprintf(why, cap, "no pod of %s/%s answered vault status", vc->namespace, vc->name);
        return -1;
    }
    if (m->active[0] == '\0') {
        snprintf(why, cap, "no active node in %s/%s: the cluster must be healthy first",
                 vc->namespace, vc->name);
        return -1;
    }
    /* After the step-down the storage holds the target: the pods left name the old seal. */
    if (m->stored_is_target && other != NULL)
        text_sanitize(m->from, sizeof m->from, other, strlen(other));
    m->none = on_target == running && m->stored_is_target;
    return 0;
}

void sealmig_name(const struct sealmig *m, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s -> %s", sealmig_is_auto(m->from) ? m->from : "Shamir",
             sealmig_is_auto(m->to) ? m->to : "Shamir");
}

int sealmig_check_config(const struct seal_config *cfg, const struct seal_env *env,
                         const struct sealmig *m, enum vault_product product, const char *configmap,
                         char *why, size_t cap)
{
    int bao = product == PRODUCT_OPENBAO;
    why[0] = '\0';
    int count;
    enabled_stanza(cfg, &count);
    if (count > 1) {
        char types[256] = "";
        for (size_t i = 0; i < cfg->n; i++)
            if (!cfg->stanzas[i].disabled)
                text_appendf(types, sizeof types, NULL, "%s\"%s\"", types[0] ? " and " : "",
                             cfg->stanzas[i].type);
        text_appendf(why, cap, NULL,
                     "%sConfigMap %s has %d enabled seal stanzas (%s): %s refuses to start with "
                     "them (Seal HA is Vault Enterprise's). Keep one enabled seal: add `disabled = "
                     "\"true\"` to the old one",
                     why[0] ? "; " : "", configmap, count, types, bao ? "OpenBao" : "Vault");
    }
    for (size_t i = 0; i < cfg->n; i++)
        if (cfg->stanzas[i].disabled && strcmp(cfg->stanzas[i].type, "shamir") == 0)
            text_appendf(why, cap, NULL,
                         "%sConfigMap %s disables a seal \"shamir\" stanza: %s refuses it "
                         "(\"shamir seals cannot be set disabled\"); leaving Shamir needs no "
                         "stanza for it: remove it",
                         why[0] ? "; " : "", configmap, bao ? "OpenBao" : "Vault");
    if (sealmig_is_auto(m->from) && !m->stored_is_target && strcmp(m->from, m->to) != 0 &&
        strcmp(m->old_disabled, m->from) != 0)
        text_appendf(why, cap, NULL,
                     "%sleaving the %s seal needs its stanza kept with `disabled = \"true\"` in "
                     "ConfigMap %s (seal \"%s\" { ...; disabled = \"true\" }): without it the "
                     "restarted pods crash (\"cannot seal migrate from \\\"%s\\\" ..., no disabled "
                     "seal in configuration\")",
                     why[0] ? "; " : "", m->from, configmap, m->from, m->from);
    int en_count;
    const struct seal_stanza *en = enabled_stanza(cfg, &en_count);
    if (env->seal_type[0] && (en == NULL || strcmp(env->seal_type, en->type) != 0))
        text_appendf(why, cap, NULL,
                     "%sthe StatefulSet sets %s=%s, which overrides the seal stanza (%s): remove "
                     "it from the pod env (server.extraEnvironmentVars)",
                     why[0] ? "; " : "", bao ? "BAO_SEAL_TYPE" : "VAULT_SEAL_TYPE", env->seal_type,
                     en ? en->type : "Shamir, no enabled stanza");
    return why[0] ? -1 : 0;
}

/* --- the plan ----------------------------------------------------------------------------- */

int sealmig_pod_done(void *ctx, const struct vault_pod *p, const struct pod_view *v)
{
    const struct sealmig *m = ctx;
    (void)p;
    return v->have_status && v->st.type != NULL && strcmp(v->st.type, m->to) == 0;
}

static void step_text(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void step_text(char *dst, size_t cap, const char *fmt, ...)
{
    char whole[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(whole, sizeof whole, fmt, ap);
    va_end(ap);
    text_sanitize(dst, cap, whole, strlen(whole));
}

static void pod_state(const struct vault_pod *p, const struct pod_view *v, int active, char *out,
                      size_t cap)
{
    if (!p->exists || !p->running)
        step_text(out, cap, "not running");
    else if (!v->have_status)
        step_text(out, cap, "no vault status");
    else
        step_text(out, cap, "%s, %s, seal %s%s", active ? "active" : "standby",
                  v->st.sealed ? "sealed" : "unsealed", v->st.type ? v->st.type : "?",
                  v->st.migration ? ", migration mode" : "");
}

int sealmig_plan(const struct sealmig *m, const struct vault_cluster *vc,
                 const struct pod_view *views, struct upgrade_plan *plan, struct error *err)
{
    memset(plan, 0, sizeof *plan);
    plan->steps = calloc(vc->npods * 2 + 2, sizeof *plan->steps);
    if (plan->steps == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    char name[80];
    sealmig_name(m, name, sizeof name);
    step_text(plan->version, sizeof plan->version, "%s", name);
    step_text(plan->active, sizeof plan->active, "%s", m->active);
    /* Before the step-down the restarted pods come back in migration mode and need
     * `-migrate` with the old keys; after it they unseal as the target seal does. */
    enum roll_unseal before =
        m->stored_is_target ? (sealmig_is_auto(m->to) ? ROLL_UNSEAL_DEFAULT : ROLL_UNSEAL_KEYS)
                            : ROLL_UNSEAL_MIGRATE;
    enum roll_unseal after = sealmig_is_auto(m->to) ? ROLL_UNSEAL_DEFAULT : ROLL_UNSEAL_KEYS;
    ptrdiff_t active = -1;
    /* highest ordinal first, as upgrade does */
    for (size_t k = vc->npods; k-- > 0;) {
        const struct vault_pod *p = &vc->pods[k];
        const struct pod_view *v = &views[k];
        if (!p->exists)
            continue;
        if (strcmp(p->name, m->active) == 0) {
            active = (ptrdiff_t)k;
            continue;
        }
        int done = sealmig_pod_done((void *)m, p, v) && !v->st.sealed;
        if (done) {
            text_appendf(plan->upgraded, sizeof plan->upgraded, NULL, "%s%s",
                         plan->upgraded[0] ? ", " : "", p->name);
            continue;
        }
        struct upgrade_step *s = &plan->steps[plan->n++];
        s->action = UPGRADE_RESTART;
        s->unseal = before;
        step_text(s->pod, sizeof s->pod, "%s", p->name);
        pod_state(p, v, 0, s->state, sizeof s->state);
        step_text(s->precondition, sizeof s->precondition,
                  "the cluster can lose %s (quorum kept, every other voter caught up)", p->name);
        if (before == ROLL_UNSEAL_MIGRATE)
            step_text(s->done, sizeof s->done,
                      "%s back in migration mode (seal %s), unsealed with -migrate and the old "
                      "keys, a healthy voter caught up",
                      p->name, m->to);
        else
            step_text(s->done, sizeof s->done, "%s back on seal %s, unsealed, a healthy voter",
                      p->name, m->to);
    }
    if (active >= 0) {
        const struct vault_pod *p = &vc->pods[active];
        const struct pod_view *v = &views[active];
        if (!m->stored_is_target) {
            struct upgrade_step *s = &plan->steps[plan->n++];
            s->action = UPGRADE_STEP_DOWN;
            step_text(s->pod, sizeof s->pod, "%s", p->name);
            pod_state(p, v, 1, s->state, sizeof s->state);
            step_text(s->precondition, sizeof s->precondition,
                      "every other pod is a migrated standby (seal %s, unsealed)", m->to);
            step_text(s->done, sizeof s->done,
                      "a migrated standby is active and reports seal %s, migration done", m->to);
            plan->leader_changes = 1;
        }
        if (!sealmig_pod_done((void *)m, p, v)) {
            struct upgrade_step *s = &plan->steps[plan->n++];
            s->action = UPGRADE_RESTART;
            s->unseal = after;
            step_text(s->pod, sizeof s->pod, "%s", p->name);
            pod_state(p, v, !m->stored_is_target, s->state, sizeof s->state);
            step_text(s->precondition, sizeof s->precondition, "%s is a standby", p->name);
            step_text(s->done, sizeof s->done, "%s back on seal %s, %s", p->name, m->to,
                      sealmig_is_auto(m->to) ? "unsealed by itself" : "unsealed with the keys");
        } else {
            text_appendf(plan->upgraded, sizeof plan->upgraded, NULL, "%s%s",
                         plan->upgraded[0] ? ", " : "", p->name);
        }
    }
    return 0;
}
