/* doctor: what the pod script prints, parsed; the server config's values (lib/doctor.h).
 * Everything here reads bytes from a pod: bounded, and hostile input is expected. */
#include "doctor_internal.h"
#include "text.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* A copy of text a pod printed, for messages, through lib/text's sanitizer (the one for the
 * tree): control bytes and bytes that are not UTF-8 become visible escapes, so a message is
 * terminal-safe and valid UTF-8 (JSON cannot carry anything else). At most max bytes of the
 * result, cut on a character boundary. */
static char *dup_clean_max(const char *s, size_t n, size_t max)
{
    size_t need = text_sanitize(NULL, 0, s, n);
    size_t cap = (need < max ? need : max) + 1;
    char *d = malloc(cap);
    if (d != NULL)
        text_sanitize(d, cap, s, n);
    return d;
}

static char *dup_clean(const char *s, size_t n)
{
    return dup_clean_max(s, n, SIZE_MAX - 1);
}

/* --- facts: cleanup -------------------------------------------------------------------------- */

void doctor_pod_clear(struct doctor_pod *p)
{
    free(p->exec_error);
    vault_status_clear(&p->st);
    free(p->status_error);
    for (size_t i = 0; i < p->ndns; i++) {
        free(p->dns[i].name);
        free(p->dns[i].tool);
        free(p->dns[i].ip);
        free(p->dns[i].detail);
    }
    free(p->dns);
    free(p->df_error);
    free(p->config);
    free(p->config_error);
    for (size_t i = 0; i < p->nfiles; i++) {
        free(p->files[i].key);
        free(p->files[i].path);
        free(p->files[i].text);
    }
    free(p->files);
    memset(p, 0, sizeof *p);
}

void doctor_facts_clear(struct doctor_facts *f)
{
    for (size_t i = 0; f->vc != NULL && f->pods != NULL && i < f->vc->npods; i++)
        doctor_pod_clear(&f->pods[i]);
    free(f->pods);
    for (int k = 0; k < DOCTOR_NLISTS; k++) {
        json_decref(f->lists[k].items);
        free(f->lists[k].denied);
        free(f->lists[k].error);
    }
    if (f->have_peers)
        vault_peers_clear(&f->peers);
    if (f->have_autopilot)
        vault_autopilot_clear(&f->autopilot);
    free(f->raft_error);
    free(f->autopilot_error);
    free(f->autopilot_config_error);
    json_decref(f->sts);
    json_decref(f->pod_list);
    cluster_free(f->vc);
    memset(f, 0, sizeof *f);
}

/* --- facts: what the pod script prints ---------------------------------------------------------
 */

/* Sections are "\n<marker> <header>\n<body>"; the body runs to the next "\n<marker> ".
 * Everything here is bounded and treats the pod's bytes as hostile. */
const char doctor_pod_script[] =
    "m=$1 cli=$2 data=$3 conf=$4 names=$5\n"
    "s() { printf '\\n%s %s\\n' \"$m\" \"$*\"; }\n"
    "s status\n"
    "\"$cli\" status -format=json\n"
    "s rc $?\n"
    "s df \"$data\"\n"
    "df -Pk \"$data\" 2>&1\n"
    "s rc $?\n"
    "s config \"$conf\"\n"
    "cat \"$conf\" 2>&1 | head -c 262144\n"
    "s rc $?\n"
    "cat \"$conf\" 2>/dev/null | head -c 262144 | sed -n"
    " -e 's/^[[:space:]]*\"\\{0,1\\}tls_cert_file\"\\{0,1\\}[[:space:]]*[=:][[:space:]]*"
    "\"\\([^\"]*\\)\".*/tls_cert_file \\1/p'"
    " -e 's/^[[:space:]]*\"\\{0,1\\}leader_ca_cert_file\"\\{0,1\\}[[:space:]]*[=:][[:space:]]*"
    "\"\\([^\"]*\\)\".*/leader_ca_cert_file \\1/p' | head -n 8 | while read -r k f; do\n"
    "  s file \"$k\" \"$f\"; cat \"$f\" 2>&1 | head -c 65536; s rc $?\n"
    "done\n"
    "ca=${BAO_CACERT:-$VAULT_CACERT}\n"
    "if [ -n \"$ca\" ]; then s file cacert_env \"$ca\"; cat \"$ca\" 2>&1 | head -c 65536;"
    " s rc $?; fi\n"
    "for n in $names; do\n"
    "  s dns \"$n\" nslookup; nslookup \"$n\" 2>&1; r=$?\n"
    "  if [ \"$r\" = 127 ]; then s dns \"$n\" getent; getent hosts \"$n\" 2>&1; r=$?; fi\n"
    "  s rc $r\n"
    "done\n"
    "s end\n";

#define SECTION_TEXT_MAX (256u << 10)
#define FIELD_MAX        1024
#define DOCTOR_FILES_MAX 16 /* the script reads at most 8 config files and $VAULT_CACERT */
#define DOCTOR_DNS_MAX   256

static int valid_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* The first line (trimmed) of text that says something, bounded; for messages. */
char *doctor_first_line(const char *text)
{
    if (text == NULL)
        return NULL;
    const char *p = text;
    while (*p) {
        while (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t')
            p++;
        size_t l = strcspn(p, "\r\n");
        /* skip busybox's "Server:" / "Address:" preamble lines */
        /* 1024 bytes of the pod's line give at least 200 of sanitized text (never shorter). */
        if (l > 0 && strncmp(p, "Server:", 7) != 0 && strncmp(p, "Address", 7) != 0)
            return dup_clean_max(p, l > 1024 ? 1024 : l, 200);
        p += l;
    }
    return NULL;
}

char *doctor_dns_address(const char *tool, const char *text)
{
    if (text == NULL)
        return NULL;
    char tok[64];
    if (tool != NULL && strcmp(tool, "getent") == 0) {
        size_t l = strcspn(text, " \t\r\n");
        if (l == 0 || l >= sizeof tok)
            return NULL;
        memcpy(tok, text, l);
        tok[l] = '\0';
        return valid_ip(tok) ? strdup(tok) : NULL;
    }
    int after_name = 0;
    for (const char *p = text; *p;) {
        size_t l = strcspn(p, "\n");
        if (strncmp(p, "Name:", 5) == 0) {
            after_name = 1;
        } else if (after_name && strncmp(p, "Address", 7) == 0) {
            const char *q = p + 7;
            while (q < p + l && *q != ':')
                q++;
            if (q < p + l) {
                q++;
                while (q < p + l && (*q == ' ' || *q == '\t'))
                    q++;
                size_t tl = strcspn(q, " \t\r\n");
                if (tl > 0 && tl < sizeof tok && q + tl <= p + l) {
                    memcpy(tok, q, tl);
                    tok[tl] = '\0';
                    if (valid_ip(tok))
                        return strdup(tok);
                }
            }
        }
        p += l;
        if (*p == '\n')
            p++;
    }
    return NULL;
}

int doctor_parse_df(const char *text, long long *kib, long long *used_kib, int *percent)
{
    if (text == NULL)
        return -1;
    /* The last non-empty line: "<fs> <1024-blocks> <used> <available> <n>% <mount>". */
    const char *last = NULL;
    size_t last_len = 0;
    for (const char *p = text; *p;) {
        size_t l = strcspn(p, "\n");
        size_t k = 0;
        while (k < l && isspace((unsigned char)p[k]))
            k++;
        if (k < l) {
            last = p;
            last_len = l;
        }
        p += l;
        if (*p == '\n')
            p++;
    }
    if (last == NULL || last_len > 1024)
        return -1;
    char line[1025];
    memcpy(line, last, last_len);
    line[last_len] = '\0';
    char *tok[32];
    int n = 0;
    for (char *t = strtok(line, " \t\r"); t != NULL && n < 32; t = strtok(NULL, " \t\r"))
        tok[n++] = t;
    for (int i = n - 1; i >= 3; i--) {
        size_t tl = strlen(tok[i]);
        if (tl < 2 || tok[i][tl - 1] != '%')
            continue;
        char *end;
        long pct = strtol(tok[i], &end, 10);
        long long a = strtoll(tok[i - 3], NULL, 10), u = strtoll(tok[i - 2], NULL, 10);
        if (*end != '%' || pct < 0 || pct > 100 || a <= 0 || u < 0)
            return -1;
        *kib = a;
        *used_kib = u;
        *percent = (int)pct;
        return 0;
    }
    return -1;
}

double doctor_go_duration(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    if (strcmp(s, "0") == 0)
        return 0;
    double total = 0;
    const char *p = s;
    while (*p) {
        /* Digits and a decimal point only: strtod alone would take "inf", "nan", "1e999"
         * and hex floats. */
        size_t digits = strspn(p, "0123456789.");
        char *end;
        double v = digits > 0 && digits < 64 ? strtod(p, &end) : -1;
        if (v < 0 || end != p + digits)
            return -1;
        p = end;
        double unit;
        if (strncmp(p, "ns", 2) == 0)
            unit = 1e-9, p += 2;
        else if (strncmp(p, "us", 2) == 0)
            unit = 1e-6, p += 2;
        else if (strncmp(p, "\xc2\xb5s", 3) == 0)
            unit = 1e-6, p += 3;
        else if (strncmp(p, "ms", 2) == 0)
            unit = 1e-3, p += 2;
        else if (*p == 's')
            unit = 1, p++;
        else if (*p == 'm')
            unit = 60, p++;
        else if (*p == 'h')
            unit = 3600, p++;
        else
            return -1;
        total += v * unit;
        /* Go's time.Duration is an int64 of nanoseconds: nothing Vault prints is longer. */
        if (!(total <= DOCTOR_DURATION_MAX_S))
            return -1;
    }
    return total;
}

int doctor_parse_autopilot_config(const char *out, size_t len, struct doctor_autopilot_config *c,
                                  struct error *err)
{
    memset(c, 0, sizeof *c);
    size_t k = 0;
    while (k < len && isspace((unsigned char)out[k]))
        k++;
    if (k == len)
        return error_set(err, ERR_REMOTE,
                         "autopilot get-config printed nothing (the CLI hides a failed request: "
                         "the token may lack read on sys/storage/raft/autopilot/configuration)");
    json_error_t je;
    json_t *root = json_loadb(out, len, 0, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        return error_set(err, ERR_PROTOCOL, "autopilot get-config did not print a JSON object");
    }
    c->cleanup_dead_servers = jbool(root, "cleanup_dead_servers");
    c->min_quorum = (int)json_integer_value(json_object_get(root, "min_quorum"));
    c->max_trailing_logs = json_integer_value(json_object_get(root, "max_trailing_logs"));
    c->server_stabilization_s = doctor_go_duration(jstr(root, "server_stabilization_time"));
    json_decref(root);
    return 0;
}

/* Header "<what> <rest>": what is the first word. */
static int header_is(const char *h, size_t hl, const char *what, const char **rest)
{
    size_t wl = strlen(what);
    if (hl < wl || strncmp(h, what, wl) != 0 || (hl > wl && h[wl] != ' '))
        return 0;
    *rest = hl > wl ? h + wl + 1 : h + hl;
    return 1;
}

/* The length of the first word of [s, end): a header is bounded by its length, not a NUL. */
static size_t word_len(const char *s, const char *end)
{
    const char *sp = memchr(s, ' ', (size_t)(end - s));
    return (size_t)((sp ? sp : end) - s);
}

/* The exit code an "rc" header carries, read within [s, end); -1 when it holds none. */
static int header_rc(const char *s, const char *end)
{
    int neg = s < end && *s == '-', any = 0;
    long v = 0;
    for (const char *c = s + neg; c < end && isdigit((unsigned char)*c); c++) {
        any = 1;
        if (v < 1000000) /* exit codes are 0-255: no more digits are needed */
            v = v * 10 + (*c - '0');
    }
    return any ? (int)(neg ? -v : v) : -1;
}

int doctor_parse_pod_output(const char *out, size_t len, const char *marker,
                            const char *status_stderr, struct doctor_pod *p, struct error *err)
{
    char sep[96];
    int sl = snprintf(sep, sizeof sep, "\n%s ", marker);
    if (sl <= 0 || (size_t)sl >= sizeof sep)
        return error_set(err, ERR_GENERIC, "marker too long");
    /* Which item an "rc" line belongs to. */
    enum { CUR_NONE, CUR_STATUS, CUR_DF, CUR_CONFIG, CUR_FILE, CUR_DNS } cur = CUR_NONE;
    const char *status_text = NULL;
    size_t status_len = 0;
    const char *df_text = NULL;
    size_t df_len = 0;
    int ended = 0;
    const char *p0 = memmem(out, len, sep, (size_t)sl);
    while (p0 != NULL) {
        const char *h = p0 + sl;
        const char *end = out + len;
        const char *nl = memchr(h, '\n', (size_t)(end - h));
        size_t hl = nl ? (size_t)(nl - h) : (size_t)(end - h);
        if (hl > FIELD_MAX)
            hl = FIELD_MAX;
        const char *body = nl ? nl + 1 : end;
        const char *next = body < end ? memmem(body, (size_t)(end - body), sep, (size_t)sl) : NULL;
        size_t bl = (size_t)((next ? next : end) - body);
        if (bl > SECTION_TEXT_MAX)
            bl = SECTION_TEXT_MAX;
        const char *rest, *hend = h + hl;
        /* Only a section that was stored gets its "rc": one dropped (over a cap, out of
         * memory) leaves the current item unset. */
        if (!header_is(h, hl, "rc", &rest))
            cur = CUR_NONE;
        if (header_is(h, hl, "status", &rest)) {
            cur = CUR_STATUS;
            status_text = body;
            status_len = bl;
        } else if (header_is(h, hl, "df", &rest)) {
            cur = CUR_DF;
            df_text = body;
            df_len = bl;
        } else if (header_is(h, hl, "config", &rest)) {
            cur = CUR_CONFIG;
            free(p->config);
            p->config = dupn(body, bl);
        } else if (header_is(h, hl, "file", &rest)) {
            /* The cap before the realloc: past it the array is left as it is. */
            struct doctor_file *nf = p->nfiles < DOCTOR_FILES_MAX
                                         ? realloc(p->files, (p->nfiles + 1) * sizeof *nf)
                                         : NULL;
            if (nf != NULL) {
                p->files = nf;
                struct doctor_file *x = &p->files[p->nfiles++];
                memset(x, 0, sizeof *x);
                size_t kl = word_len(rest, hend);
                x->key = dup_clean(rest, kl);
                const char *path = rest + kl + (rest + kl < hend ? 1 : 0);
                x->path = dup_clean(path, (size_t)(hend - path));
                x->text = dupn(body, bl);
                x->exit_code = -1;
                cur = CUR_FILE;
            }
        } else if (header_is(h, hl, "dns", &rest)) {
            size_t nl2 = word_len(rest, hend);
            const char *tool = rest + nl2 + (rest + nl2 < hend ? 1 : 0);
            size_t tl = (size_t)(hend - tool);
            char *name = dup_clean(rest, nl2);
            struct doctor_dns *d = NULL;
            /* A second tool for the same name (getent after nslookup was missing). */
            if (name != NULL && p->ndns > 0 && strcmp(p->dns[p->ndns - 1].name, name) == 0 &&
                p->dns[p->ndns - 1].exit_code == -2)
                d = &p->dns[p->ndns - 1];
            if (name != NULL && d == NULL && p->ndns < DOCTOR_DNS_MAX) {
                struct doctor_dns *nd = realloc(p->dns, (p->ndns + 1) * sizeof *nd);
                if (nd != NULL) {
                    p->dns = nd;
                    d = &p->dns[p->ndns++];
                    memset(d, 0, sizeof *d);
                    d->name = name;
                    name = NULL;
                }
            }
            free(name);
            if (d != NULL) {
                free(d->tool);
                free(d->ip);
                free(d->detail);
                d->tool = dup_clean(tool, tl);
                char *text = dupn(body, bl);
                d->ip = doctor_dns_address(d->tool, text);
                d->detail = doctor_first_line(text);
                free(text);
                d->exit_code = -2; /* until its rc */
                cur = CUR_DNS;
            }
        } else if (header_is(h, hl, "rc", &rest)) {
            int rc = header_rc(rest, hend);
            if (cur == CUR_STATUS) {
                struct error e = {0};
                /* A second status section replaces the first, whose strings are freed. */
                if (p->have_status)
                    vault_status_clear(&p->st);
                p->have_status = 0;
                if (vault_parse_status(status_text, status_len, rc, status_stderr, &p->st, &e) <
                    0) {
                    free(p->status_error);
                    p->status_error = text_sanitize_dup(e.msg);
                } else {
                    p->have_status = 1;
                }
            } else if (cur == CUR_DF) {
                char *t = dupn(df_text, df_len);
                if (rc == 0 &&
                    doctor_parse_df(t, &p->df_kib, &p->df_used_kib, &p->df_percent) == 0) {
                    p->have_df = 1;
                } else {
                    free(p->df_error);
                    char *l = doctor_first_line(t);
                    p->df_error = xfmt("df failed (exit %d)%s%s", rc, l ? ": " : "", l ? l : "");
                    free(l);
                }
                free(t);
            } else if (cur == CUR_CONFIG) {
                if (rc != 0 || p->config == NULL || p->config[0] == '\0') {
                    char *l = doctor_first_line(p->config);
                    free(p->config_error);
                    p->config_error = xfmt("cannot read it%s%s", l ? ": " : "", l ? l : "");
                    free(l);
                    free(p->config);
                    p->config = NULL;
                }
            } else if (cur == CUR_FILE) {
                p->files[p->nfiles - 1].exit_code = rc;
            } else if (cur == CUR_DNS) {
                struct doctor_dns *d = &p->dns[p->ndns - 1];
                d->exit_code = rc;
                if (rc == 127) { /* neither nslookup nor getent */
                    free(d->tool);
                    d->tool = NULL;
                    free(d->ip);
                    d->ip = NULL;
                }
            }
            cur = CUR_NONE;
        } else if (header_is(h, hl, "end", &rest)) {
            ended = 1;
        }
        p0 = next;
    }
    if (status_text == NULL && !p->have_status && p->status_error == NULL)
        p->status_error = strdup("the pod printed no vault status");
    if (!ended)
        return error_set(err, ERR_PROTOCOL, "the pod's report ended early");
    return 0;
}

/* --- server config ---------------------------------------------------------------------------- */

/* Advances past comments and whitespace; returns the next significant position. */
static const char *skip_space(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
            p += strcspn(p, "\n");
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
            continue;
        }
        return p;
    }
}

/* The end of a quoted string starting at p (on the quote): after the closing quote. */
static const char *skip_string(const char *p)
{
    p++;
    while (*p && *p != '"') {
        if (*p == '\\' && p[1])
            p++;
        p++;
    }
    return *p ? p + 1 : p;
}

static int ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* Position after `key` used as a key (bare or quoted, then = or :), or NULL. */
static const char *find_key(const char *config, const char *key, const char **after)
{
    size_t kl = strlen(key);
    const char *p = config;
    for (;;) {
        p = skip_space(p);
        if (*p == '\0')
            return NULL;
        const char *start = p;
        int quoted = *p == '"';
        const char *name = quoted ? p + 1 : p;
        const char *name_end;
        if (quoted) {
            p = skip_string(p);
            name_end = p - 1;
        } else if (ident_char(*p)) {
            while (ident_char(*p))
                p++;
            name_end = p;
        } else {
            p++;
            continue;
        }
        if ((size_t)(name_end - name) == kl && strncmp(name, key, kl) == 0) {
            const char *q = skip_space(p);
            if (*q == '=' || *q == ':' || *q == '{') {
                *after = *q == '{' ? q : q + 1;
                return start;
            }
        }
    }
}

int doctor_config_has(const char *config, const char *key)
{
    const char *after;
    return config != NULL && find_key(config, key, &after) != NULL;
}

char *doctor_config_value(const char *config, const char *key)
{
    const char *after;
    if (config == NULL || find_key(config, key, &after) == NULL || *after == '{')
        return NULL;
    const char *p = skip_space(after);
    if (*p == '"') {
        struct dynbuf b = {0};
        dynbuf_addf(&b, "%s", "");
        for (p++; *p && *p != '"' && b.len < 65536; p++) {
            if (*p == '\\' && p[1]) {
                p++;
                dynbuf_addf(&b, "%c", *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
            } else {
                dynbuf_addf(&b, "%c", *p);
            }
        }
        return b.data;
    }
    size_t l = strcspn(p, " \t\r\n,}");
    return l > 0 && l < 256 ? dupn(p, l) : NULL;
}

int doctor_truthy(const char *v)
{
    return v != NULL && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}
