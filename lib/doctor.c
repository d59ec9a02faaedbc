/* doctor, the pure half: parsing what pods print, and the checks (lib/doctor.h). */
#include "doctor.h"

#include "clock.h"
#include "text.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* --- small helpers ------------------------------------------------------------------------ */

/* A growable string; NULL data after an allocation failure (then it stays empty). */
struct sbuf {
    char *data;
    size_t len, cap;
};

static void sb_vadd(struct sbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void sb_vadd(struct sbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int need = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (need < 0)
        return;
    if (b->len + (size_t)need + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + (size_t)need + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            return;
        b->data = d;
        b->cap = cap;
    }
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    b->len += (size_t)need;
}

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vadd(b, fmt, ap);
    va_end(ap);
}

/* Appends item to a ", "-separated list. */
static void sb_item(struct sbuf *b, const char *item)
{
    sb_add(b, "%s%s", b->len ? ", " : "", item);
}

static const char *sb_str(const struct sbuf *b)
{
    return b->data ? b->data : "";
}

static char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xfmt(const char *fmt, ...)
{
    struct sbuf b = {0};
    va_list ap;
    va_start(ap, fmt);
    sb_vadd(&b, fmt, ap);
    va_end(ap);
    return b.data ? b.data : strdup("");
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

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

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_t *jget(json_t *o, const char *a, const char *b)
{
    json_t *x = json_object_get(o, a);
    return b ? json_object_get(x, b) : x;
}

const char *doctor_level_name(enum doctor_level l)
{
    switch (l) {
    case DOCTOR_OK:
        return "ok";
    case DOCTOR_SKIPPED:
        return "skipped";
    case DOCTOR_ADVICE:
        return "advice";
    case DOCTOR_WARN:
        return "warn";
    default:
        return "error";
    }
}

const char *doctor_list_resource(enum doctor_list_kind k)
{
    static const char *const names[] = {"services",
                                        "endpoints",
                                        "endpointslices.discovery.k8s.io",
                                        "persistentvolumeclaims",
                                        "nodes",
                                        "poddisruptionbudgets.policy"};
    return (unsigned)k < DOCTOR_NLISTS ? names[k] : "?";
}

/* --- report --------------------------------------------------------------------------------- */

void doctor_add(struct doctor_report *r, const char *id, enum doctor_level level,
                const char *message, const char *fix)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        struct doctor_finding *d = realloc(r->items, cap * sizeof *d);
        if (d == NULL)
            return;
        r->items = d;
        r->cap = cap;
    }
    /* Messages and fixes quote pods and the API server: sanitized here, where every finding
     * passes, so each is terminal-safe and valid UTF-8 (a JSON string) whatever a check did. */
    struct doctor_finding *x = &r->items[r->n];
    x->id = id;
    x->level = level;
    x->message = text_sanitize_dup(message ? message : "");
    x->fix = fix ? text_sanitize_dup(fix) : NULL;
    if (x->message == NULL || (fix != NULL && x->fix == NULL)) {
        free(x->message);
        free(x->fix);
        return;
    }
    r->n++;
}

/* doctor_add with owned strings (freed here). */
static void add_owned(struct doctor_report *r, const char *id, enum doctor_level level, char *msg,
                      char *fix)
{
    doctor_add(r, id, level, msg, fix);
    free(msg);
    free(fix);
}

void doctor_report_clear(struct doctor_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].message);
        free(r->items[i].fix);
    }
    free(r->items);
    memset(r, 0, sizeof *r);
}

int doctor_exit_code(const struct doctor_report *r, int strict)
{
    int worst = DOCTOR_OK;
    for (size_t i = 0; i < r->n; i++)
        if ((int)r->items[i].level > worst)
            worst = r->items[i].level;
    if (worst == DOCTOR_ERROR)
        return 3;
    return worst == DOCTOR_WARN || (strict && worst == DOCTOR_ADVICE) ? 2 : 0;
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
static char *first_line(const char *text)
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
    c->cleanup_dead_servers = json_is_true(json_object_get(root, "cleanup_dead_servers"));
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
                d->detail = first_line(text);
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
                    char *l = first_line(t);
                    p->df_error = xfmt("df failed (exit %d)%s%s", rc, l ? ": " : "", l ? l : "");
                    free(l);
                }
                free(t);
            } else if (cur == CUR_CONFIG) {
                if (rc != 0 || p->config == NULL || p->config[0] == '\0') {
                    char *l = first_line(p->config);
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
        struct sbuf b = {0};
        sb_add(&b, "%s", "");
        for (p++; *p && *p != '"' && b.len < 65536; p++) {
            if (*p == '\\' && p[1]) {
                p++;
                sb_add(&b, "%c", *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
            } else {
                sb_add(&b, "%c", *p);
            }
        }
        return b.data;
    }
    size_t l = strcspn(p, " \t\r\n,}");
    return l > 0 && l < 256 ? dupn(p, l) : NULL;
}

static int truthy(const char *v)
{
    return v != NULL && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

/* --- what the checks share ---------------------------------------------------------------------
 */

static const char *ns_of(const struct doctor_facts *f)
{
    return f->vc->namespace;
}

/* The headless service that gives pods their DNS names (spec.serviceName). */
static const char *internal_name(const struct doctor_facts *f, char *buf, size_t cap)
{
    if (f->vc->service_name != NULL && f->vc->service_name[0] != '\0')
        return f->vc->service_name;
    snprintf(buf, cap, "%s-internal", f->vc->name);
    return buf;
}

/* The raw pod object of a pod, NULL when not listed. */
static json_t *pod_json(const struct doctor_facts *f, const char *name)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(f->pod_list, "items"), i, it)
    {
        const char *n = jstr(jget(it, "metadata", NULL), "name");
        if (n != NULL && strcmp(n, name) == 0)
            return it;
    }
    return NULL;
}

static json_t *pod_labels(const struct doctor_facts *f, const char *name)
{
    return jget(jget(pod_json(f, name), "metadata", NULL), "labels", NULL);
}

/* Every key/value of selector (an object) is among labels; an empty selector selects nothing. */
static int selects(json_t *selector, json_t *labels)
{
    if (!json_is_object(selector) || json_object_size(selector) == 0)
        return 0;
    const char *k;
    json_t *v;
    json_object_foreach(selector, k, v)
    {
        const char *have = jstr(labels, k);
        if (have == NULL || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
            return 0;
    }
    return 1;
}

/* "k=v,k2=v2" of a selector object, for messages. */
static char *selector_text(json_t *selector)
{
    struct sbuf b = {0};
    const char *k;
    json_t *v;
    json_object_foreach(selector, k, v)
    {
        sb_add(&b, "%s%s=%s", b.len ? "," : "", k, json_is_string(v) ? json_string_value(v) : "?");
    }
    return b.data ? b.data : strdup("(none)");
}

static json_t *find_named(json_t *items, const char *name)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *n = jstr(jget(it, "metadata", NULL), "name");
        if (n != NULL && strcmp(n, name) == 0)
            return it;
    }
    return NULL;
}

/* When a list could not be read: one skipped finding naming the verb and resource.
 * Returns 1 when skipped. */
static int list_missing(const struct doctor_facts *f, enum doctor_list_kind k, const char *id,
                        struct doctor_report *r)
{
    const struct doctor_list *l = &f->lists[k];
    if (l->items != NULL)
        return 0;
    if (l->denied != NULL)
        add_owned(r, id, DOCTOR_SKIPPED, xfmt("RBAC denies %s: cannot check", l->denied),
                  xfmt("grant \"get\" and \"list\" on \"%s\" to this user (README, RBAC)",
                       doctor_list_resource(k)));
    else
        add_owned(
            r, id, DOCTOR_SKIPPED,
            xfmt("cannot read %s: %s", doctor_list_resource(k), l->error ? l->error : "not read"),
            NULL);
    return 1;
}

static int count_existing(const struct vault_cluster *vc)
{
    int n = 0;
    for (size_t i = 0; i < vc->npods; i++)
        n += vc->pods[i].exists;
    return n;
}

/* The pod whose own vault status says it is active (unsealed, is_self), or -1. */
static int active_index(const struct doctor_facts *f)
{
    for (size_t i = 0; i < f->vc->npods; i++)
        if (f->pods[i].have_status && f->pods[i].st.is_self && !f->pods[i].st.sealed)
            return (int)i;
    return -1;
}

/* Shamir when any pod says so (or nothing is known). */
static int is_shamir(const struct doctor_facts *f)
{
    for (size_t i = 0; i < f->vc->npods; i++)
        if (f->pods[i].have_status && f->pods[i].st.type != NULL)
            return strcmp(f->pods[i].st.type, "shamir") == 0;
    return 1;
}

static int quorum_of(int voters)
{
    return voters / 2 + 1;
}

static const char *flavor_label(const struct doctor_facts *f)
{
    return f->vc->flavor; /* vault or openbao: vault-active / openbao-active */
}

/* --- VHA-STS: the StatefulSet --------------------------------------------------------------------
 */

static void check_replicas(const struct doctor_facts *f, struct doctor_report *r)
{
    int n = f->vc->replicas;
    const char *id = "VHA-STS-001";
    if (n < 3)
        add_owned(r, id, DOCTOR_ERROR,
                  xfmt("StatefulSet %s has %d replica%s: raft needs 3 voters to survive the loss "
                       "of one",
                       f->vc->name, n, n == 1 ? "" : "s"),
                  xfmt("kubectl -n %s scale statefulset %s --replicas=3 && %s join", ns_of(f),
                       f->vc->name, f->prog));
    else if (n % 2 == 0)
        add_owned(r, id, DOCTOR_WARN,
                  xfmt("%d replicas: an even count tolerates no more failures than %d (quorum "
                       "%d, failure tolerance %d)",
                       n, n - 1, quorum_of(n), n - quorum_of(n)),
                  xfmt("kubectl -n %s scale statefulset %s --replicas=%d && %s join", ns_of(f),
                       f->vc->name, n + 1, f->prog));
    else
        add_owned(
            r, id, DOCTOR_OK,
            xfmt("%d replicas: quorum %d, failure tolerance %d", n, quorum_of(n), n - quorum_of(n)),
            NULL);
}

/* Any pod's config has a retry_join: 1; none: 0; no config read: -1. */
static int retry_join_state(const struct doctor_facts *f)
{
    int seen = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        if (f->pods[i].config == NULL)
            continue;
        seen = 1;
        if (doctor_config_has(f->pods[i].config, "retry_join"))
            return 1;
    }
    return seen ? 0 : -1;
}

static void check_pod_management(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-STS-002";
    const struct vault_cluster *vc = f->vc;
    const char *pmp = vc->pod_management_policy ? vc->pod_management_policy : "OrderedReady";
    int ordered = strcmp(pmp, "OrderedReady") == 0;
    int problems = 0;
    for (size_t i = 0; ordered && i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        if (p->exists || p->ordinal < 0)
            continue;
        /* The first pod before it that is not Ready holds it back. */
        const struct vault_pod *blocker = NULL;
        for (size_t j = 0; j < vc->npods && blocker == NULL; j++)
            if (vc->pods[j].ordinal >= 0 && vc->pods[j].ordinal < p->ordinal && !vc->pods[j].ready)
                blocker = &vc->pods[j];
        if (blocker == NULL)
            continue;
        problems++;
        add_owned(r, id, DOCTOR_ERROR,
                  xfmt("%s was never created: podManagementPolicy OrderedReady waits for %s to be "
                       "Ready, and a pod is Ready only once unsealed",
                       p->name, blocker->name),
                  xfmt("%s %s %s", f->prog, blocker->exists ? "unseal" : "bootstrap",
                       blocker->exists ? blocker->name : "--keys-file FILE"));
    }
    if (problems > 0)
        return;
    if (!ordered) {
        add_owned(r, id, DOCTOR_OK, xfmt("podManagementPolicy %s: every pod starts at once", pmp),
                  NULL);
        return;
    }
    int rj = retry_join_state(f);
    if (rj == 1)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("podManagementPolicy OrderedReady with retry_join: restarted pods join "
                       "by themselves"),
                  NULL);
    else /* the cluster works; restarts are slower: a recommendation */
        add_owned(r, id, DOCTOR_ADVICE,
                  xfmt("podManagementPolicy OrderedReady%s: pod N+1 is only created once pod N "
                       "is unsealed, so every restart waits for someone to unseal and join each "
                       "pod in turn",
                       rj == 0 ? " and no retry_join in the config" : ""),
                  xfmt("add retry_join blocks to the raft storage config, or use "
                       "podManagementPolicy: Parallel (it cannot change in place: kubectl -n %s "
                       "delete statefulset %s --cascade=orphan, then helm upgrade with "
                       "server.podManagementPolicy=Parallel)",
                       ns_of(f), vc->name));
}

static void check_update_strategy(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-STS-003";
    const char *type = jstr(jget(jget(f->sts, "spec", NULL), "updateStrategy", NULL), "type");
    if (type == NULL)
        type = "RollingUpdate"; /* the API's default */
    if (strcmp(type, "OnDelete") == 0)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("updateStrategy OnDelete: pods change only when you delete them, one at "
                       "a time"),
                  NULL);
    else if (!is_shamir(f))
        add_owned(
            r, id, DOCTOR_OK,
            xfmt("updateStrategy %s with auto-unseal: restarted pods unseal themselves", type),
            NULL);
    else
        add_owned(
            r, id, DOCTOR_WARN,
            xfmt("updateStrategy %s restarts the pods on every template change; each comes "
                 "back sealed and the rollout stops until someone unseals it",
                 type),
            xfmt("kubectl -n %s patch statefulset %s -p "
                 "'{\"spec\":{\"updateStrategy\":{\"type\":\"OnDelete\",\"rollingUpdate\":null}}}' "
                 "(chart: "
                 "server.updateStrategyType=OnDelete)",
                 ns_of(f), f->vc->name));
}

static void check_revisions(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-STS-004";
    const char *want = jstr(jget(f->sts, "status", NULL), "updateRevision");
    if (want == NULL) {
        doctor_add(r, id, DOCTOR_SKIPPED, "the StatefulSet reports no updateRevision yet", NULL);
        return;
    }
    const struct vault_cluster *vc = f->vc;
    struct sbuf old = {0}, order = {0};
    int nold = 0, active = active_index(f);
    const char *old_rev = NULL;
    /* Standbys first, highest ordinal first; the active pod last, after a step-down. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = vc->npods; k-- > 0;) {
            const struct vault_pod *p = &vc->pods[k];
            if (!p->exists || ((int)k == active) != (pass == 1))
                continue;
            const char *rev = jstr(pod_labels(f, p->name), "controller-revision-hash");
            if (rev == NULL || strcmp(rev, want) == 0)
                continue;
            nold++;
            old_rev = rev;
            sb_item(&old, p->name);
            if (order.len > 0)
                sb_add(&order, "; ");
            if (pass == 1)
                sb_add(&order, "%s step-down && ", f->prog);
            sb_add(&order, "kubectl -n %s delete pod %s", ns_of(f), p->name);
            if (is_shamir(f))
                sb_add(&order, " && %s unseal %s", f->prog, p->name);
        }
    }
    if (nold == 0)
        add_owned(r, id, DOCTOR_OK, xfmt("every pod runs the StatefulSet's revision %s", want),
                  NULL);
    else
        add_owned(
            r, id, DOCTOR_WARN,
            xfmt("an update is half done: %s still run%s revision %s, the StatefulSet "
                 "wants %s",
                 sb_str(&old), nold == 1 ? "s" : "", old_rev, want),
            xfmt("%s upgrade; by hand, one pod at a time, standbys first, the active pod last: %s",
                 f->prog, sb_str(&order)));
    free(old.data);
    free(order.data);
}

/* --- VHA-SVC: services -------------------------------------------------------------------------
 */

static json_t *service(const struct doctor_facts *f, const char *name)
{
    return find_named(f->lists[DOCTOR_SERVICES].items, name);
}

/* The service checks' start: 0 when the services could not be listed (reported as skipped);
 * else the headless service's name and object (NULL when it does not exist). */
static int internal_service(const struct doctor_facts *f, const char *id, struct doctor_report *r,
                            char *buf, size_t cap, const char **name, json_t **svc)
{
    if (list_missing(f, DOCTOR_SERVICES, id, r))
        return 0;
    *name = internal_name(f, buf, cap);
    *svc = service(f, *name);
    return 1;
}

static void check_internal_service(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-SVC-001";
    char buf[300];
    const char *name;
    json_t *svc;
    if (!internal_service(f, id, r, buf, sizeof buf, &name, &svc))
        return;
    json_t *sts_sel = jget(jget(f->sts, "spec", NULL), "selector", "matchLabels");
    char *want_sel = selector_text(sts_sel);
    if (svc == NULL) {
        add_owned(r, id, DOCTOR_ERROR,
                  xfmt("the headless service %s (the StatefulSet's serviceName) does not exist: "
                       "pods have no DNS names, so they cannot join",
                       name),
                  xfmt("helm upgrade the release, or create it: a Service %s with clusterIP: "
                       "None, publishNotReadyAddresses: true and selector %s",
                       name, want_sel));
        free(want_sel);
        return;
    }
    json_t *spec = json_object_get(svc, "spec");
    json_t *sel = json_object_get(spec, "selector");
    const char *cip = jstr(spec, "clusterIP");
    int problems = 0;
    if (cip == NULL || strcmp(cip, "None") != 0) {
        problems++;
        add_owned(r, id, DOCTOR_ERROR,
                  xfmt("service %s has clusterIP %s: it is not headless, so pods get no "
                       "<pod>.%s names",
                       name, cip ? cip : "(none)", name),
                  xfmt("recreate it with clusterIP: None (it cannot change in place): kubectl -n "
                       "%s get svc %s -o yaml > svc.yaml, set clusterIP: None and remove "
                       "clusterIPs, kubectl replace --force -f svc.yaml",
                       ns_of(f), name));
    }
    struct sbuf missed = {0};
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct vault_pod *p = &f->vc->pods[i];
        if (p->exists && !selects(sel, pod_labels(f, p->name)))
            sb_item(&missed, p->name);
    }
    char *have_sel = selector_text(sel);
    if (missed.len > 0) {
        problems++;
        char *want_json = json_dumps(sts_sel, JSON_COMPACT);
        add_owned(r, id, DOCTOR_ERROR,
                  xfmt("service %s selects %s, which does not select %s", name, have_sel,
                       sb_str(&missed)),
                  xfmt("kubectl -n %s patch svc %s --type json -p "
                       "'[{\"op\":\"replace\",\"path\":\"/spec/selector\",\"value\":%s}]'",
                       ns_of(f), name, want_json ? want_json : "{}"));
        free(want_json);
    } else {
        /* Wider than the StatefulSet's selector: it may also pick other pods (the injector). */
        struct sbuf lack = {0};
        const char *k;
        json_t *v;
        json_object_foreach(sts_sel, k, v)
        {
            if (json_object_get(sel, k) == NULL)
                sb_add(&lack, "%s%s=%s", lack.len ? "," : "", k, json_string_value(v));
        }
        if (lack.len > 0) {
            problems++;
            add_owned(r, id, DOCTOR_WARN,
                      xfmt("service %s selects %s, wider than the StatefulSet (it lacks %s): it "
                           "may also select pods that are not Vault servers",
                           name, have_sel, sb_str(&lack)),
                      xfmt("make its selector %s", want_sel));
        }
        free(lack.data);
    }
    if (problems == 0)
        add_owned(
            r, id, DOCTOR_OK,
            xfmt("%s is headless and selects the %d server pods", name, count_existing(f->vc)),
            NULL);
    free(missed.data);
    free(have_sel);
    free(want_sel);
}

static void check_publish_not_ready(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-SVC-002";
    char buf[300];
    const char *name;
    json_t *svc;
    if (!internal_service(f, id, r, buf, sizeof buf, &name, &svc))
        return;
    if (svc == NULL) {
        add_owned(r, id, DOCTOR_SKIPPED, xfmt("service %s does not exist (VHA-SVC-001)", name),
                  NULL);
        return;
    }
    if (json_is_true(jget(jget(svc, "spec", NULL), "publishNotReadyAddresses", NULL)))
        add_owned(r, id, DOCTOR_OK,
                  xfmt("%s publishes not-ready addresses: sealed pods keep their DNS names", name),
                  NULL);
    else
        add_owned(r, id, DOCTOR_ERROR,
                  xfmt("%s does not publish not-ready addresses: a sealed pod is not Ready, so it "
                       "has no DNS name and cannot join (hashicorp/vault-helm#817)",
                       name),
                  xfmt("kubectl -n %s patch svc %s -p "
                       "'{\"spec\":{\"publishNotReadyAddresses\":true}}'",
                       ns_of(f), name));
}

static void check_active_standby_services(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-SVC-003";
    if (list_missing(f, DOCTOR_SERVICES, id, r))
        return;
    char label[64];
    snprintf(label, sizeof label, "%s-active", flavor_label(f));
    int problems = 0;
    for (int want_active = 1; want_active >= 0; want_active--) {
        char name[300];
        snprintf(name, sizeof name, "%s-%s", f->vc->name, want_active ? "active" : "standby");
        json_t *svc = service(f, name);
        if (svc == NULL) {
            problems++;
            add_owned(r, id, DOCTOR_WARN,
                      xfmt("service %s does not exist: clients that use it reach nothing", name),
                      xfmt("helm upgrade the release with server.ha.enabled=true and "
                           "server.service.enabled=true"));
            continue;
        }
        json_t *sel = jget(jget(svc, "spec", NULL), "selector", NULL);
        const char *v = jstr(sel, label);
        const char *want = want_active ? "true" : "false";
        if (v == NULL || strcmp(v, want) != 0) {
            problems++;
            char *st = selector_text(sel);
            add_owned(
                r, id, DOCTOR_ERROR,
                xfmt("service %s selects %s, not %s=%s: it sends clients to the wrong pods", name,
                     st, label, want),
                xfmt("kubectl -n %s patch svc %s -p '{\"spec\":{\"selector\":{\"%s\":\"%s\"}}}'",
                     ns_of(f), name, label, want));
            free(st);
        }
    }
    if (problems == 0)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("%s-active selects %s=true and %s-standby %s=false", f->vc->name, label,
                       f->vc->name, label),
                  NULL);
}

static void check_other_publish(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-SVC-004";
    char buf[300];
    const char *internal;
    json_t *internal_svc;
    if (!internal_service(f, id, r, buf, sizeof buf, &internal, &internal_svc))
        return;
    struct sbuf names = {0};
    size_t i;
    json_t *svc;
    json_array_foreach(f->lists[DOCTOR_SERVICES].items, i, svc)
    {
        const char *name = jstr(jget(svc, "metadata", NULL), "name");
        json_t *spec = json_object_get(svc, "spec");
        if (name == NULL || strcmp(name, internal) == 0 ||
            !json_is_true(json_object_get(spec, "publishNotReadyAddresses")))
            continue;
        /* A Vault service: it selects at least one of the server pods. */
        int vault = 0;
        for (size_t k = 0; k < f->vc->npods && !vault; k++)
            vault = f->vc->pods[k].exists &&
                    selects(json_object_get(spec, "selector"), pod_labels(f, f->vc->pods[k].name));
        if (vault)
            sb_item(&names, name);
    }
    if (names.len == 0)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("only %s publishes not-ready addresses: clients reach unsealed pods only",
                       internal),
                  NULL);
    else /* the chart's default, kept on purpose (vault-helm#902): a recommendation */
        add_owned(r, id, DOCTOR_ADVICE,
                  xfmt("%s publish%s not-ready addresses (the chart's default, "
                       "hashicorp/vault-helm#902): client requests may reach a sealed pod and "
                       "fail (hashicorp/vault-helm#817)",
                       sb_str(&names), strchr(sb_str(&names), ',') ? "" : "es"),
                  xfmt("to send clients to unsealed pods only: helm upgrade with "
                       "server.service.publishNotReadyAddresses=false (%s keeps it)",
                       internal));
    free(names.data);
}

/* --- VHA-EP: endpoints -------------------------------------------------------------------------
 */

/* Addresses a service routes to: pod name -> (ip, ready), from its EndpointSlices, else from
 * its Endpoints. Returns the source used, NULL when neither could be read. */
struct ep_addr {
    const char *pod;
    const char *ip;
    int ready;
};

static const char *service_addresses(const struct doctor_facts *f, const char *svc,
                                     struct ep_addr *out, size_t cap, size_t *n, int *found)
{
    *n = 0;
    *found = 0;
    json_t *slices = f->lists[DOCTOR_ENDPOINTSLICES].items;
    if (slices != NULL) {
        size_t i;
        json_t *sl;
        json_array_foreach(slices, i, sl)
        {
            const char *owner = jstr(jget(jget(sl, "metadata", NULL), "labels", NULL),
                                     "kubernetes.io/service-name");
            if (owner == NULL || strcmp(owner, svc) != 0)
                continue;
            *found = 1;
            size_t j;
            json_t *ep;
            json_array_foreach(json_object_get(sl, "endpoints"), j, ep)
            {
                json_t *ready = jget(jget(ep, "conditions", NULL), "ready", NULL);
                if (*n < cap) {
                    out[*n].pod = jstr(json_object_get(ep, "targetRef"), "name");
                    out[*n].ip =
                        json_string_value(json_array_get(json_object_get(ep, "addresses"), 0));
                    /* ready: nil means ready (discovery/v1 EndpointConditions) */
                    out[*n].ready = ready == NULL || json_is_true(ready);
                    (*n)++;
                }
            }
        }
        return "EndpointSlices";
    }
    json_t *eps = f->lists[DOCTOR_ENDPOINTS].items;
    if (eps == NULL)
        return NULL;
    json_t *ep = find_named(eps, svc);
    if (ep != NULL)
        *found = 1;
    size_t i;
    json_t *subset;
    json_array_foreach(json_object_get(ep, "subsets"), i, subset)
    {
        for (int ready = 1; ready >= 0; ready--) {
            size_t j;
            json_t *a;
            json_array_foreach(json_object_get(subset, ready ? "addresses" : "notReadyAddresses"),
                               j, a)
            {
                if (*n < cap) {
                    out[*n].pod = jstr(json_object_get(a, "targetRef"), "name");
                    out[*n].ip = jstr(a, "ip");
                    out[*n].ready = ready;
                    (*n)++;
                }
            }
        }
    }
    return "Endpoints";
}

/* Skipped when neither EndpointSlices nor Endpoints could be read; returns 1 then. */
static int endpoints_missing(const struct doctor_facts *f, const char *id, struct doctor_report *r)
{
    if (f->lists[DOCTOR_ENDPOINTSLICES].items != NULL || f->lists[DOCTOR_ENDPOINTS].items != NULL)
        return 0;
    const struct doctor_list *a = &f->lists[DOCTOR_ENDPOINTSLICES],
                             *b = &f->lists[DOCTOR_ENDPOINTS];
    if (a->denied != NULL || b->denied != NULL)
        add_owned(r, id, DOCTOR_SKIPPED,
                  xfmt("RBAC denies %s%s%s: cannot check", a->denied ? a->denied : "",
                       a->denied && b->denied ? " and " : "", b->denied ? b->denied : ""),
                  xfmt("grant \"get\" and \"list\" on \"endpointslices\" (discovery.k8s.io) or "
                       "\"endpoints\" to this user (README, RBAC)"));
    else
        add_owned(r, id, DOCTOR_SKIPPED,
                  xfmt("cannot read EndpointSlices or Endpoints: %s", a->error   ? a->error
                                                                      : b->error ? b->error
                                                                                 : "not read"),
                  NULL);
    return 1;
}

#define EP_MAX 256

static void check_internal_endpoints(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-EP-001";
    if (endpoints_missing(f, id, r))
        return;
    char buf[300];
    const char *name = internal_name(f, buf, sizeof buf);
    struct ep_addr addrs[EP_MAX];
    size_t n;
    int found;
    const char *source = service_addresses(f, name, addrs, EP_MAX, &n, &found);
    struct sbuf missing = {0}, not_ready = {0}, wrong = {0};
    int listed = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct vault_pod *p = &f->vc->pods[i];
        if (!p->exists || p->pod_ip == NULL)
            continue;
        const struct ep_addr *a = NULL;
        for (size_t k = 0; k < n && a == NULL; k++)
            if (addrs[k].pod != NULL && strcmp(addrs[k].pod, p->name) == 0)
                a = &addrs[k];
        if (a == NULL) {
            sb_item(&missing, p->name);
        } else if (!a->ready) {
            sb_item(&not_ready, p->name);
        } else if (a->ip == NULL || strcmp(a->ip, p->pod_ip) != 0) {
            char *x =
                xfmt("%s as %s (its IP is %s)", p->name, a->ip ? a->ip : "no address", p->pod_ip);
            sb_item(&wrong, x);
            free(x);
        } else {
            listed++;
        }
    }
    char *look = xfmt("kubectl -n %s get endpointslices -l kubernetes.io/service-name=%s -o yaml",
                      ns_of(f), name);
    if (!found) {
        add_owned(r, id, DOCTOR_ERROR,
                  xfmt("no %s for service %s: the pods have no DNS names", source, name),
                  xfmt("check the service (VHA-SVC-001): %s", look));
    } else {
        if (missing.len > 0)
            add_owned(r, id, DOCTOR_ERROR,
                      xfmt("%s does not list %s (%s): those pods have no DNS name", name,
                           sb_str(&missing), source),
                      xfmt("make the service select them (VHA-SVC-001): %s", look));
        if (not_ready.len > 0)
            add_owned(r, id, DOCTOR_ERROR,
                      xfmt("%s lists %s as not ready: DNS leaves them out until they are "
                           "unsealed, so they cannot join",
                           name, sb_str(&not_ready)),
                      xfmt("kubectl -n %s patch svc %s -p "
                           "'{\"spec\":{\"publishNotReadyAddresses\":true}}'",
                           ns_of(f), name));
        if (wrong.len > 0)
            add_owned(r, id, DOCTOR_ERROR,
                      xfmt("%s lists %s: stale endpoints", name, sb_str(&wrong)), xfmt("%s", look));
        if (missing.len == 0 && not_ready.len == 0 && wrong.len == 0)
            add_owned(r, id, DOCTOR_OK,
                      xfmt("%s lists all %d pods, ready or not (%s)", name, listed, source), NULL);
    }
    free(look);
    free(missing.data);
    free(not_ready.data);
    free(wrong.data);
}

static void check_active_endpoints(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-EP-002";
    if (endpoints_missing(f, id, r))
        return;
    char name[300];
    snprintf(name, sizeof name, "%s-active", f->vc->name);
    int act = active_index(f);
    if (act < 0) {
        doctor_add(r, id, DOCTOR_SKIPPED,
                   "no pod reports itself active in its vault status (see kubectl vault-ha "
                   "status)",
                   NULL);
        return;
    }
    const char *active = f->vc->pods[act].name;
    struct ep_addr addrs[EP_MAX];
    size_t n;
    int found;
    service_addresses(f, name, addrs, EP_MAX, &n, &found);
    struct sbuf listed = {0};
    int count = 0, has_active = 0;
    for (size_t k = 0; k < n; k++) {
        if (!addrs[k].ready)
            continue;
        count++;
        sb_item(&listed, addrs[k].pod ? addrs[k].pod : "?");
        if (addrs[k].pod != NULL && strcmp(addrs[k].pod, active) == 0)
            has_active = 1;
    }
    char label[64];
    snprintf(label, sizeof label, "%s-active", flavor_label(f));
    if (count == 1 && has_active) {
        add_owned(r, id, DOCTOR_OK, xfmt("%s lists %s, the active node", name, active), NULL);
    } else if (count == 0) {
        add_owned(r, id, DOCTOR_ERROR,
                  xfmt("%s lists no pod: its clients reach nothing, although %s is active "
                       "(stale %s labels, hashicorp/vault#18117)",
                       name, active, label),
                  xfmt("kubectl -n %s label pod %s %s=true --overwrite", ns_of(f), active, label));
    } else {
        struct sbuf wrong = {0}, fix = {0};
        for (size_t k = 0; k < n; k++) {
            if (!addrs[k].ready || addrs[k].pod == NULL || strcmp(addrs[k].pod, active) == 0)
                continue;
            sb_item(&wrong, addrs[k].pod);
            sb_add(&fix, "%skubectl -n %s label pod %s %s=false --overwrite", fix.len ? "; " : "",
                   ns_of(f), addrs[k].pod, label);
        }
        if (!has_active)
            sb_add(&fix, "; kubectl -n %s label pod %s %s=true --overwrite", ns_of(f), active,
                   label);
        add_owned(r, id, DOCTOR_ERROR,
                  xfmt("%s lists %s, but only %s is active: %s carr%s a stale %s=true label, so "
                       "clients reach a standby (hashicorp/vault#18117)",
                       name, sb_str(&listed), active, sb_str(&wrong),
                       strchr(sb_str(&wrong), ',') ? "y" : "ies", label),
                  fix.data ? strdup(fix.data) : NULL);
        free(wrong.data);
        free(fix.data);
    }
    free(listed.data);
}

/* --- VHA-DNS: names from the pods ---------------------------------------------------------------
 */

#define DNS_LAG_S 60

static void check_dns(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-DNS-001";
    const struct vault_cluster *vc = f->vc;
    struct sbuf skipped = {0};
    int asked = 0, good = 0, problems = 0;
    const char *tool = NULL;
    for (size_t t = 0; t < vc->npods; t++) {
        const struct vault_pod *target = &vc->pods[t];
        if (!target->exists || target->pod_ip == NULL)
            continue;
        struct sbuf nx = {0}, stale = {0};
        const char *name = NULL, *stale_ip = NULL, *detail = NULL;
        for (size_t s = 0; s < vc->npods; s++) {
            const struct doctor_pod *from = &f->pods[s];
            for (size_t k = 0; k < from->ndns; k++) {
                const struct doctor_dns *d = &from->dns[k];
                size_t pl = strlen(target->name);
                if (strncmp(d->name, target->name, pl) != 0 || d->name[pl] != '.')
                    continue;
                if (d->tool == NULL)
                    continue; /* reported below as skipped */
                asked++;
                tool = d->tool;
                name = d->name;
                if (d->ip == NULL) {
                    sb_item(&nx, vc->pods[s].name);
                    if (detail == NULL)
                        detail = d->detail;
                } else if (strcmp(d->ip, target->pod_ip) != 0) {
                    sb_item(&stale, vc->pods[s].name);
                    stale_ip = d->ip;
                } else {
                    good++;
                }
            }
        }
        time_t age = target->created > 0 ? f->now - target->created : 1000000;
        if (nx.len > 0) {
            problems++;
            if (age < DNS_LAG_S)
                add_owned(r, id, DOCTOR_WARN,
                          xfmt("%s does not resolve yet from %s: %s started %lds ago and "
                               "StatefulSet DNS can lag ~30 s (kubernetes/kubernetes#92559)",
                               name, sb_str(&nx), target->name, (long)age),
                          xfmt("wait a minute and run %s doctor again", f->prog));
            else
                add_owned(r, id, DOCTOR_ERROR,
                          xfmt("%s does not resolve from %s (%s): %s cannot be reached to join "
                               "or replicate",
                               name, sb_str(&nx), detail ? detail : "no address", target->name),
                          xfmt("check that the headless service lists it (VHA-EP-001) and the "
                               "cluster DNS: kubectl -n kube-system get pods -l "
                               "k8s-app=kube-dns"));
        }
        if (stale.len > 0) {
            problems++;
            add_owned(r, id, DOCTOR_ERROR,
                      xfmt("%s resolves to %s from %s, but %s's IP is %s: stale DNS", name,
                           stale_ip, sb_str(&stale), target->name, target->pod_ip),
                      xfmt("check the endpoints (VHA-EP-001); cached answers expire with their "
                           "TTL, restarting the cluster DNS pods clears them"));
        }
        free(nx.data);
        free(stale.data);
    }
    for (size_t s = 0; s < vc->npods; s++) {
        const struct doctor_pod *from = &f->pods[s];
        if (!from->asked)
            continue;
        char *why = NULL;
        if (from->exec_error != NULL)
            why = xfmt("%s (exec failed)", vc->pods[s].name);
        else if (from->no_shell)
            why = xfmt("%s (no shell in the image)", vc->pods[s].name);
        else
            for (size_t k = 0; k < from->ndns && why == NULL; k++)
                if (from->dns[k].tool == NULL)
                    why = xfmt("%s (neither nslookup nor getent in the image)", vc->pods[s].name);
        if (why != NULL)
            sb_item(&skipped, why);
        free(why);
    }
    if (skipped.len > 0)
        add_owned(r, id, DOCTOR_SKIPPED, xfmt("cannot look names up from %s", sb_str(&skipped)),
                  NULL);
    if (problems == 0 && asked > 0)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("every pod's <pod>.%s name resolves to its IP from the other pods (%d "
                       "lookups, %s)",
                       vc->service_name ? vc->service_name : "", good, tool),
                  NULL);
    else if (problems == 0 && asked == 0 && skipped.len == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no running pod to look names up from", NULL);
    free(skipped.data);
}

/* --- VHA-PVC: storage ---------------------------------------------------------------------------
 */

static void check_pvcs(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-PVC-001";
    if (list_missing(f, DOCTOR_PVCS, id, r))
        return;
    json_t *templates = jget(json_object_get(f->sts, "spec"), "volumeClaimTemplates", NULL);
    if (json_array_size(templates) == 0) {
        doctor_add(r, id, DOCTOR_WARN,
                   "the StatefulSet has no volumeClaimTemplates: raft data lives on the pod and "
                   "is lost with it",
                   "enable server.dataStorage in the chart (a PVC per pod)");
        return;
    }
    int bound = 0, problems = 0;
    struct sbuf kinds = {0};
    const char *size = NULL;
    size_t ti;
    json_t *t;
    json_array_foreach(templates, ti, t)
    {
        const char *tn = jstr(jget(t, "metadata", NULL), "name");
        if (tn == NULL)
            continue;
        sb_item(&kinds, tn);
        for (size_t i = 0; i < f->vc->npods; i++) {
            const struct vault_pod *p = &f->vc->pods[i];
            if (p->ordinal < 0 || p->ordinal >= f->vc->replicas)
                continue;
            char claim[400];
            snprintf(claim, sizeof claim, "%s-%s", tn, p->name);
            json_t *pvc = find_named(f->lists[DOCTOR_PVCS].items, claim);
            const char *phase = jstr(jget(pvc, "status", NULL), "phase");
            if (pvc == NULL) {
                if (!p->exists)
                    continue; /* created with the pod */
                problems++;
                add_owned(r, id, DOCTOR_ERROR, xfmt("PVC %s of %s does not exist", claim, p->name),
                          xfmt("kubectl -n %s delete pod %s (the StatefulSet recreates the "
                               "claim), then %s unseal %s",
                               ns_of(f), p->name, f->prog, p->name));
            } else if (phase == NULL || strcmp(phase, "Bound") != 0) {
                problems++;
                add_owned(r, id, DOCTOR_ERROR,
                          xfmt("PVC %s is %s, not Bound: %s cannot start", claim,
                               phase ? phase : "without a phase", p->name),
                          xfmt("kubectl -n %s describe pvc %s (storage class, capacity, zone)",
                               ns_of(f), claim));
            } else {
                bound++;
                size = jstr(jget(jget(pvc, "status", NULL), "capacity", NULL), "storage");
            }
        }
    }
    if (problems == 0)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("%d PVCs (%s) are Bound%s%s%s", bound, sb_str(&kinds), size ? " (" : "",
                       size ? size : "", size ? " each)" : ""),
                  NULL);
    free(kinds.data);
}

static void check_disk(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-PVC-002";
    int seen = 0, lo = 101, hi = -1, problems = 0;
    struct sbuf skipped = {0};
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_pod *p = &f->pods[i];
        const char *name = f->vc->pods[i].name;
        if (!p->asked)
            continue;
        if (!p->have_df) {
            char *why = xfmt("%s (%s)", name,
                             p->exec_error ? "exec failed"
                             : p->no_shell ? "no shell in the image"
                             : p->df_error ? p->df_error
                                           : "no df output");
            sb_item(&skipped, why);
            free(why);
            continue;
        }
        seen++;
        lo = p->df_percent < lo ? p->df_percent : lo;
        hi = p->df_percent > hi ? p->df_percent : hi;
        if (p->df_percent < 80)
            continue;
        problems++;
        char claim[400];
        snprintf(claim, sizeof claim, "data-%s", name);
        long long gib = (p->df_kib * 2 + (1 << 20) - 1) >> 20;
        add_owned(r, id, p->df_percent >= 95 ? DOCTOR_ERROR : DOCTOR_WARN,
                  xfmt("%s's raft data volume is %d%% full (%lld of %lld MiB used)%s", name,
                       p->df_percent, p->df_used_kib >> 10, p->df_kib >> 10,
                       p->df_percent >= 95 ? ": Vault stops writing when it is full" : ""),
                  xfmt("%s snapshot save backup.snap, then grow the claim: kubectl -n %s patch "
                       "pvc %s -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":"
                       "\"%lldGi\"}}}}' (the storage class must allow expansion)",
                       f->prog, ns_of(f), claim, gib < 1 ? 1 : gib));
    }
    if (skipped.len > 0)
        add_owned(r, id, DOCTOR_SKIPPED, xfmt("no fill level from %s", sb_str(&skipped)), NULL);
    if (problems == 0 && seen > 0)
        add_owned(r, id, DOCTOR_OK,
                  lo == hi ? xfmt("raft data volumes are %d%% full", lo)
                           : xfmt("raft data volumes are %d%%-%d%% full", lo, hi),
                  NULL);
    else if (seen == 0 && skipped.len == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no running pod to ask", NULL);
    free(skipped.data);
}

/* --- VHA-PLACE: placement ----------------------------------------------------------------------
 */

/* Voters: pods that are raft voters (from list-peers when read), else every pod that exists. */
static int is_voter(const struct doctor_facts *f, size_t i)
{
    const struct vault_pod *p = &f->vc->pods[i];
    if (!p->exists)
        return 0;
    if (!f->have_peers)
        return 1;
    for (size_t k = 0; k < f->peers.n; k++) {
        struct vault_pod *pp = cluster_pod_for_address(f->vc, f->peers.items[k].address);
        if (pp == p)
            return f->peers.items[k].voter;
    }
    return 0;
}

static int voter_count(const struct doctor_facts *f)
{
    if (f->have_peers) {
        int v = 0;
        for (size_t k = 0; k < f->peers.n; k++)
            v += f->peers.items[k].voter;
        return v;
    }
    return f->vc->replicas;
}

static void check_nodes(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-PLACE-001";
    const struct vault_cluster *vc = f->vc;
    int voters = voter_count(f), tolerance = voters - quorum_of(voters), problems = 0, placed = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        if (!is_voter(f, i) || vc->pods[i].node == NULL)
            continue;
        placed++;
        int first = 1, same = 0;
        struct sbuf names = {0};
        for (size_t j = 0; j < vc->npods; j++) {
            if (!is_voter(f, j) || vc->pods[j].node == NULL ||
                strcmp(vc->pods[j].node, vc->pods[i].node) != 0)
                continue;
            if (j < i)
                first = 0;
            same++;
            sb_item(&names, vc->pods[j].name);
        }
        if (first && same > 1) {
            problems++;
            int loses = same > tolerance;
            add_owned(r, id, loses ? DOCTOR_ERROR : DOCTOR_WARN,
                      xfmt("voters %s run on the same node %s: losing it %s", sb_str(&names),
                           vc->pods[i].node,
                           loses ? "loses quorum" : "uses up the failure tolerance"),
                      xfmt("require pod anti-affinity on kubernetes.io/hostname (the chart's "
                           "default server.affinity), then kubectl -n %s delete pod %s so it "
                           "moves, and %s unseal it",
                           ns_of(f), vc->pods[i].name, f->prog));
        }
        free(names.data);
    }
    if (problems == 0 && placed > 0)
        add_owned(r, id, DOCTOR_OK, xfmt("%d voters on %d different nodes", placed, placed), NULL);
    else if (placed == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no voter is scheduled on a node", NULL);
}

static const char *zone_of(const struct doctor_facts *f, const char *node)
{
    json_t *n = find_named(f->lists[DOCTOR_NODES].items, node);
    return jstr(jget(jget(n, "metadata", NULL), "labels", NULL), "topology.kubernetes.io/zone");
}

static void check_zones(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-PLACE-002";
    if (list_missing(f, DOCTOR_NODES, id, r))
        return;
    /* Zones in the cluster, and of the voters' nodes. */
    int cluster_zones = 0;
    size_t i;
    json_t *n;
    const char *zones[64];
    json_array_foreach(f->lists[DOCTOR_NODES].items, i, n)
    {
        const char *z =
            jstr(jget(jget(n, "metadata", NULL), "labels", NULL), "topology.kubernetes.io/zone");
        int dup = 0;
        for (int k = 0; z != NULL && k < cluster_zones; k++)
            dup |= strcmp(zones[k], z) == 0;
        if (z != NULL && !dup && cluster_zones < 64)
            zones[cluster_zones++] = z;
    }
    if (cluster_zones == 0) {
        doctor_add(r, id, DOCTOR_SKIPPED,
                   "no node carries the topology.kubernetes.io/zone label: zones unknown", NULL);
        return;
    }
    const struct vault_cluster *vc = f->vc;
    int voters = voter_count(f), quorum = quorum_of(voters), placed = 0, used = 0;
    struct sbuf unknown = {0}, spread = {0};
    const char *worst = NULL;
    int worst_count = 0;
    for (int z = 0; z < cluster_zones; z++) {
        int count = 0;
        for (size_t k = 0; k < vc->npods; k++) {
            if (!is_voter(f, k) || vc->pods[k].node == NULL)
                continue;
            const char *vz = zone_of(f, vc->pods[k].node);
            if (vz != NULL && strcmp(vz, zones[z]) == 0)
                count++;
        }
        if (count == 0)
            continue;
        used++;
        placed += count;
        sb_add(&spread, "%s%s %d", spread.len ? ", " : "", zones[z], count);
        if (count > worst_count) {
            worst_count = count;
            worst = zones[z];
        }
    }
    for (size_t k = 0; k < vc->npods; k++)
        if (is_voter(f, k) && vc->pods[k].node != NULL && zone_of(f, vc->pods[k].node) == NULL)
            sb_item(&unknown, vc->pods[k].name);
    if (unknown.len > 0)
        add_owned(r, id, DOCTOR_WARN,
                  xfmt("the nodes of %s carry no topology.kubernetes.io/zone label: their zone is "
                       "unknown",
                       sb_str(&unknown)),
                  NULL);
    /* With fewer than 3 zones no placement survives the loss of one: a recommendation about
     * the cluster, not something the pods can fix. */
    if (worst != NULL && voters - worst_count < quorum)
        add_owned(
            r, id, cluster_zones < 3 ? DOCTOR_ADVICE : DOCTOR_WARN,
            xfmt("losing zone %s loses quorum: voters per zone %s (quorum %d)%s", worst,
                 sb_str(&spread), quorum,
                 cluster_zones < 3 ? "; the cluster has fewer than 3 zones" : ""),
            xfmt("spread the pods over %s zones: a topologySpreadConstraint on "
                 "topology.kubernetes.io/zone with maxSkew 1 (server.topologySpreadConstraints), "
                 "then move pods one at a time (delete, unseal)",
                 cluster_zones < 3 ? "3 or more" : "the"));
    else if (unknown.len == 0 && placed > 0)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("%d voters in %d zones (%s): losing one zone keeps quorum", placed, used,
                       sb_str(&spread)),
                  NULL);
    free(unknown.data);
    free(spread.data);
}

static void check_pdb(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-PLACE-003";
    if (list_missing(f, DOCTOR_PDBS, id, r))
        return;
    const struct vault_cluster *vc = f->vc;
    int voters = voter_count(f), tolerance = voters - quorum_of(voters), found = 0;
    size_t i;
    json_t *pdb;
    json_array_foreach(f->lists[DOCTOR_PDBS].items, i, pdb)
    {
        json_t *sel = jget(jget(pdb, "spec", NULL), "selector", "matchLabels");
        int covers = 1, any = 0;
        for (size_t k = 0; k < vc->npods; k++) {
            if (!vc->pods[k].exists)
                continue;
            any = 1;
            covers &= selects(sel, pod_labels(f, vc->pods[k].name));
        }
        if (!any || !covers)
            continue;
        found++;
        const char *name = jstr(jget(pdb, "metadata", NULL), "name");
        json_t *mu = jget(jget(pdb, "spec", NULL), "maxUnavailable", NULL);
        json_t *ma = jget(jget(pdb, "spec", NULL), "minAvailable", NULL);
        long max_un = -1;
        int replicas = vc->replicas;
        if (json_is_integer(mu))
            max_un = (long)json_integer_value(mu);
        else if (json_is_string(mu)) /* a percentage, rounded up */
            max_un = (atol(json_string_value(mu)) * replicas + 99) / 100;
        else if (json_is_integer(ma))
            max_un = replicas - (long)json_integer_value(ma);
        else if (json_is_string(ma))
            max_un = replicas - (atol(json_string_value(ma)) * replicas + 99) / 100;
        char *fix = xfmt("kubectl -n %s patch pdb %s --type merge -p "
                         "'{\"spec\":{\"maxUnavailable\":1,\"minAvailable\":null}}'",
                         ns_of(f), name ? name : "?");
        if (max_un < 0)
            add_owned(
                r, id, DOCTOR_WARN,
                xfmt("PodDisruptionBudget %s sets neither maxUnavailable nor minAvailable", name),
                fix),
                fix = NULL;
        else if (max_un == 0)
            add_owned(
                r, id, DOCTOR_WARN,
                xfmt("PodDisruptionBudget %s allows no pod down: node drains never finish", name),
                fix),
                fix = NULL;
        else if (max_un > tolerance)
            add_owned(r, id, DOCTOR_ERROR,
                      xfmt("PodDisruptionBudget %s lets %ld pods go down at once: evictions can "
                           "take quorum (%d voters tolerate %d)",
                           name, max_un, voters, tolerance),
                      fix),
                fix = NULL;
        else if (max_un > 1)
            add_owned(r, id, DOCTOR_WARN,
                      xfmt("PodDisruptionBudget %s lets %ld pods go down at once: a drain can use "
                           "up the whole failure tolerance",
                           name, max_un),
                      fix),
                fix = NULL;
        else
            add_owned(r, id, DOCTOR_OK,
                      xfmt("PodDisruptionBudget %s allows 1 server pod down at a time", name),
                      NULL);
        free(fix);
    }
    if (found == 0) {
        char *sel = selector_text(jget(jget(f->sts, "spec", NULL), "selector", "matchLabels"));
        add_owned(r, id, DOCTOR_WARN,
                  xfmt("no PodDisruptionBudget covers the server pods: a node drain may evict "
                       "several voters at once"),
                  xfmt("kubectl -n %s create poddisruptionbudget %s --selector=%s "
                       "--max-unavailable=1",
                       ns_of(f), vc->name, sel));
        free(sel);
    }
}

/* --- VHA-RAFT: raft and autopilot
 * ----------------------------------------------------------------- */

/* Skipped without a token or when the raft state could not be read; returns 1 then. */
static int raft_missing(const struct doctor_facts *f, const char *id, struct doctor_report *r,
                        int need_autopilot)
{
    if (f->raft_skip != NULL) {
        doctor_add(r, id, DOCTOR_SKIPPED, f->raft_skip,
                   "set VAULT_TOKEN or use --token-file FILE (a token that may read "
                   "sys/storage/raft/*)");
        return 1;
    }
    if (need_autopilot && !f->have_autopilot) {
        add_owned(r, id, DOCTOR_SKIPPED,
                  xfmt("autopilot state not read: %s", f->autopilot_error ? f->autopilot_error
                                                       : f->raft_error    ? f->raft_error
                                                                          : "no answer"),
                  NULL);
        return 1;
    }
    if (!need_autopilot && !f->have_peers) {
        add_owned(r, id, DOCTOR_SKIPPED,
                  xfmt("raft peers not read: %s", f->raft_error ? f->raft_error : "no answer"),
                  NULL);
        return 1;
    }
    return 0;
}

static const char *server_pod(const struct doctor_facts *f, const struct vault_autopilot_server *s)
{
    struct vault_pod *p = cluster_pod_for_address(f->vc, s->address);
    return p && p->exists ? p->name : NULL;
}

static void check_autopilot(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-RAFT-001";
    if (raft_missing(f, id, r, 1))
        return;
    const struct vault_autopilot *ap = &f->autopilot;
    if (!ap->healthy) {
        struct sbuf bad = {0};
        for (size_t i = 0; i < ap->n; i++)
            if (!ap->servers[i].healthy) {
                const char *pod = server_pod(f, &ap->servers[i]);
                char *x = xfmt("%s (%s)", pod ? pod : ap->servers[i].id,
                               ap->servers[i].node_status ? ap->servers[i].node_status : "?");
                sb_item(&bad, x);
                free(x);
            }
        add_owned(
            r, id, DOCTOR_ERROR,
            xfmt("autopilot reports the cluster unhealthy (failure tolerance %d)%s%s",
                 ap->failure_tolerance, bad.len ? ": " : "", sb_str(&bad)),
            xfmt("%s status shows what each pod needs; VHA-RAFT-002 names dead servers", f->prog));
        free(bad.data);
    } else if (ap->failure_tolerance < 1) {
        add_owned(r, id, DOCTOR_WARN,
                  xfmt("autopilot: healthy, but failure tolerance %d: losing one more voter "
                       "loses quorum",
                       ap->failure_tolerance),
                  xfmt("run an odd number of at least 3 voters (VHA-STS-001), all unsealed"));
    } else {
        add_owned(r, id, DOCTOR_OK,
                  xfmt("autopilot: healthy, failure tolerance %d", ap->failure_tolerance), NULL);
    }
}

/* Dead raft servers: (address, node id, pod or NULL, status). */
static void check_dead_servers(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-RAFT-002";
    if (raft_missing(f, id, r, 0))
        return;
    int problems = 0;
    for (size_t k = 0; k < f->peers.n; k++) {
        const struct vault_peer *peer = &f->peers.items[k];
        struct vault_pod *pod = cluster_pod_for_address(f->vc, peer->address);
        const char *status = NULL;
        for (size_t i = 0; f->have_autopilot && i < f->autopilot.n; i++)
            if (f->autopilot.servers[i].id && peer->node_id &&
                strcmp(f->autopilot.servers[i].id, peer->node_id) == 0)
                status = f->autopilot.servers[i].node_status;
        if (pod == NULL || !pod->exists) {
            problems++;
            add_owned(r, id, DOCTOR_ERROR,
                      xfmt("raft %s %s (%s) has no pod: a dead server that eats failure "
                           "tolerance%s%s",
                           peer->voter ? "voter" : "server", peer->node_id, peer->address,
                           status ? ", autopilot: " : "", status ? status : ""),
                      xfmt("%s remove-peer %s", f->prog, peer->node_id));
        } else if (status != NULL && strcmp(status, "alive") != 0) {
            problems++;
            add_owned(
                r, id, DOCTOR_ERROR,
                xfmt("raft server %s (%s) is %s", peer->node_id, pod->name, status),
                xfmt("%s status shows why (sealed: %s unseal %s)", f->prog, f->prog, pod->name));
        }
    }
    if (problems == 0)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("all %zu raft servers are alive and have a pod", f->peers.n), NULL);
}

/* Seconds as a Go duration prints them: 500ms, 10s, 1m30s. Beyond a Go duration's range
 * (never from doctor_go_duration) in plain seconds: no conversion to an integer overflows. */
static void duration_text(char *buf, size_t cap, double s)
{
    if (s < 1)
        snprintf(buf, cap, "%.0fms", s * 1000);
    else if (s < 60)
        snprintf(buf, cap, "%gs", s);
    else if (s <= DOCTOR_DURATION_MAX_S) {
        long long m = (long long)(s / 60);
        snprintf(buf, cap, "%lldm%gs", m, s - 60.0 * (double)m);
    } else
        snprintf(buf, cap, "%.0fs", s);
}

static void check_non_voters(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-RAFT-003";
    if (raft_missing(f, id, r, 1))
        return;
    double stab = f->have_autopilot_config && f->autopilot_config.server_stabilization_s >= 0
                      ? f->autopilot_config.server_stabilization_s
                      : 10.0; /* autopilot's default */
    char stab_text[32];
    duration_text(stab_text, sizeof stab_text, stab);
    int non_voters = 0, problems = 0;
    for (size_t i = 0; i < f->autopilot.n; i++) {
        const struct vault_autopilot_server *s = &f->autopilot.servers[i];
        if (s->status == NULL || strcmp(s->status, "non-voter") != 0)
            continue;
        non_voters++;
        time_t since = 0;
        if (s->stable_since == NULL || clock_parse_rfc3339(s->stable_since, &since) < 0)
            since = 0;
        double age = since > 0 ? difftime(f->now, since) : -1;
        const char *pod = server_pod(f, s);
        /* A few seconds of slack for the time between the check and the read. */
        if (age > stab + 5) {
            problems++;
            add_owned(r, id, DOCTOR_WARN,
                      xfmt("%s has been a non-voter for %.0fs, longer than autopilot's "
                           "server_stabilization_time (%s): it does not count for quorum and "
                           "is not being promoted",
                           pod ? pod : s->id, age, stab_text),
                      xfmt("%s status shows its state; a node joined with -non-voter stays one: "
                           "%s remove-peer %s, then %s join %s",
                           f->prog, f->prog, s->id, f->prog, pod ? pod : ""));
        }
    }
    if (problems == 0)
        add_owned(r, id, DOCTOR_OK,
                  non_voters == 0 ? xfmt("every raft server is a voter")
                                  : xfmt("%d non-voter%s younger than the stabilization time (%s): "
                                         "autopilot promotes %s",
                                         non_voters, non_voters == 1 ? "" : "s", stab_text,
                                         non_voters == 1 ? "it" : "them"),
                  NULL);
}

static void check_index_lag(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-RAFT-004";
    int act = active_index(f);
    if (act < 0) {
        doctor_add(r, id, DOCTOR_SKIPPED, "no pod reports itself active: no leader to compare with",
                   NULL);
        return;
    }
    long long leader = f->pods[act].st.raft_applied_index;
    long long limit = f->have_autopilot_config && f->autopilot_config.max_trailing_logs > 0
                          ? f->autopilot_config.max_trailing_logs
                          : 1000; /* autopilot's max_trailing_logs default */
    long long worst = 0;
    int followers = 0, problems = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_pod *p = &f->pods[i];
        if ((int)i == act || !p->have_status || p->st.sealed || p->st.raft_applied_index <= 0)
            continue;
        followers++;
        long long lag = leader - p->st.raft_applied_index;
        if (lag > worst)
            worst = lag;
        if (lag > limit) {
            problems++;
            add_owned(r, id, DOCTOR_WARN,
                      xfmt("%s's applied index %lld trails the leader %s (%lld) by %lld entries, "
                           "more than max_trailing_logs (%lld)",
                           f->vc->pods[i].name, p->st.raft_applied_index, f->vc->pods[act].name,
                           leader, lag, limit),
                      xfmt("look at its log for replication errors: kubectl -n %s logs %s; a "
                           "follower that cannot catch up is replaced by deleting the pod and "
                           "its PVC, then %s join",
                           ns_of(f), f->vc->pods[i].name, f->prog));
        }
    }
    if (problems == 0 && followers > 0)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("followers are within %lld entr%s of the leader's applied index %lld", worst,
                       worst == 1 ? "y" : "ies", leader),
                  NULL);
    else if (followers == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no unsealed follower to compare", NULL);
}

static void check_cleanup_dead_servers(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-RAFT-005";
    if (f->raft_skip != NULL) {
        raft_missing(f, id, r, 0);
        return;
    }
    if (!f->have_autopilot_config) {
        add_owned(r, id, DOCTOR_SKIPPED,
                  xfmt("autopilot configuration not read: %s",
                       f->autopilot_config_error ? f->autopilot_config_error : "no answer"),
                  NULL);
        return;
    }
    const struct doctor_autopilot_config *c = &f->autopilot_config;
    int dead = 0;
    const char *dead_id = NULL;
    for (size_t k = 0; f->have_peers && k < f->peers.n; k++) {
        struct vault_pod *pod = cluster_pod_for_address(f->vc, f->peers.items[k].address);
        if (pod == NULL || !pod->exists) {
            dead++;
            dead_id = f->peers.items[k].node_id;
        }
    }
    int replicas = f->vc->replicas;
    if (!c->cleanup_dead_servers && dead > 0)
        add_owned(r, id, DOCTOR_WARN,
                  xfmt("autopilot's cleanup_dead_servers is off, so dead servers (%d) stay voters "
                       "until removed by hand",
                       dead),
                  xfmt("%s remove-peer %s; to automate it: vault operator raft autopilot "
                       "set-config -cleanup-dead-servers=true -min-quorum=%d",
                       f->prog, dead_id, replicas));
    else if (!c->cleanup_dead_servers)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("autopilot's cleanup_dead_servers is off: a dead server stays a voter until "
                       "you remove it (remove-peer); 'vault operator raft autopilot set-config "
                       "-cleanup-dead-servers=true -min-quorum=%d' automates that",
                       replicas),
                  NULL);
    else if (c->min_quorum < 3 || c->min_quorum < replicas)
        add_owned(r, id, DOCTOR_WARN,
                  xfmt("autopilot's cleanup_dead_servers is on with min_quorum %d: during an "
                       "outage it may prune the cluster below %d voters",
                       c->min_quorum, replicas),
                  xfmt("vault operator raft autopilot set-config -min-quorum=%d",
                       replicas < 3 ? 3 : replicas));
    else
        add_owned(r, id, DOCTOR_OK,
                  xfmt("autopilot removes dead servers, keeping at least %d voters", c->min_quorum),
                  NULL);
}

/* --- VHA-TLS: certificates
 * ------------------------------------------------------------------------ */

static const struct doctor_file *pod_file(const struct doctor_pod *p, const char *key)
{
    for (size_t i = 0; i < p->nfiles; i++)
        if (p->files[i].key && strcmp(p->files[i].key, key) == 0)
            return &p->files[i];
    return NULL;
}

/* Parses every certificate of a PEM text; the first one is returned, the rest go to *rest. */
static X509 *load_pem(const char *pem, STACK_OF(X509) * *rest)
{
    if (pem == NULL)
        return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)strnlen(pem, 1 << 20));
    if (bio == NULL)
        return NULL;
    X509 *first = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (rest != NULL) {
        *rest = sk_X509_new_null();
        X509 *x;
        while (*rest != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
            if (!sk_X509_push(*rest, x))
                X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    return first;
}

/* TLS: which pods have a certificate to check. Returns 0 when the checks can run, else
 * adds one skipped (or error) finding and returns 1. */
static int tls_missing(const struct doctor_facts *f, const char *id, struct doctor_report *r)
{
    int configs = 0, disabled = 0, certs = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_pod *p = &f->pods[i];
        if (p->config == NULL)
            continue;
        configs++;
        if (pod_file(p, "tls_cert_file") != NULL)
            certs++;
        else {
            char *v = doctor_config_value(p->config, "tls_disable");
            disabled += truthy(v);
            free(v);
        }
    }
    if (certs > 0)
        return 0;
    if (configs == 0)
        doctor_add(r, id, DOCTOR_SKIPPED,
                   "no pod's server config could be read (no shell in the image, or the pods are "
                   "down)",
                   NULL);
    else if (disabled > 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "the listener has TLS disabled (tls_disable = 1)", NULL);
    else
        doctor_add(r, id, DOCTOR_SKIPPED, "the listener config names no tls_cert_file", NULL);
    return 1;
}

/* "<pod>: cannot read its certificate PATH: <what cat said>" */
static char *cert_file_problem(const char *pod, const struct doctor_file *cf)
{
    char *l = first_line(cf->text);
    char *m =
        xfmt("%s: cannot read its certificate %s%s%s", pod, cf->path, l ? ": " : "", l ? l : "");
    free(l);
    return m;
}

/* The names a certificate covers, for messages. */
static char *cert_names(X509 *cert)
{
    struct sbuf b = {0};
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names) && i < 16; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS) {
            const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
            int l = ASN1_STRING_length(g->d.dNSName);
            char *s = dupn((const char *)d, l > 0 && l < 256 ? (size_t)l : 0);
            for (char *c = s; c && *c; c++)
                if (!isprint((unsigned char)*c))
                    *c = '?';
            sb_item(&b, s ? s : "?");
            free(s);
        } else if (g->type == GEN_IPADD) {
            char ip[64] = "?";
            int l = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);
            if (l == 4)
                inet_ntop(AF_INET, d, ip, sizeof ip);
            else if (l == 16)
                inet_ntop(AF_INET6, d, ip, sizeof ip);
            sb_item(&b, ip);
        }
    }
    GENERAL_NAMES_free(names);
    return b.data ? b.data : strdup("no subject alternative names");
}

/* Go's crypto/x509 matchHostnames, which Vault's TLS uses: same number of labels, a "*"
 * only as the whole first label, case-insensitive. (OpenSSL's X509_check_host refuses
 * "*.vault-internal", a wildcard over a single label, which Go accepts.) */
static int go_match_hostname(const char *pattern, size_t pl, const char *host)
{
    size_t hl = strlen(host);
    if (pl > 0 && pattern[pl - 1] == '.')
        pl--;
    if (hl > 0 && host[hl - 1] == '.')
        hl--;
    if (pl == 0 || hl == 0)
        return 0;
    const char *p = pattern, *pe = pattern + pl, *h = host, *he = host + hl;
    for (int first = 1;; first = 0) {
        const char *pd = memchr(p, '.', (size_t)(pe - p));
        const char *hd = memchr(h, '.', (size_t)(he - h));
        size_t a = (size_t)((pd ? pd : pe) - p), b = (size_t)((hd ? hd : he) - h);
        if (!(first && a == 1 && *p == '*') && (a != b || strncasecmp(p, h, a) != 0))
            return 0;
        if (b == 0)
            return 0;
        if ((pd == NULL) != (hd == NULL))
            return 0;
        if (pd == NULL)
            return 1;
        p = pd + 1;
        h = hd + 1;
    }
}

static int cert_covers_host(X509 *cert, const char *host)
{
    int ok = 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names != NULL && !ok && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_DNS)
            continue;
        int l = ASN1_STRING_length(g->d.dNSName);
        if (l > 0 && l < 256)
            ok = go_match_hostname((const char *)ASN1_STRING_get0_data(g->d.dNSName), (size_t)l,
                                   host);
    }
    GENERAL_NAMES_free(names);
    return ok;
}

static void check_tls_names(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-TLS-001";
    if (tls_missing(f, id, r))
        return;
    char buf[300];
    const char *svc = internal_name(f, buf, sizeof buf);
    int checked = 0, problems = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_file *cf = pod_file(&f->pods[i], "tls_cert_file");
        if (cf == NULL)
            continue;
        const char *pod = f->vc->pods[i].name;
        X509 *cert = load_pem(cf->text, NULL);
        if (cert == NULL) {
            problems++;
            add_owned(r, id, DOCTOR_ERROR, cert_file_problem(pod, cf),
                      xfmt("mount the TLS secret at the path the listener names"));
            continue;
        }
        checked++;
        char host[400];
        snprintf(host, sizeof host, "%s.%s", pod, svc);
        int host_ok = cert_covers_host(cert, host);
        int ip_ok = X509_check_ip_asc(cert, "127.0.0.1", 0) == 1;
        if (!host_ok || !ip_ok) {
            problems++;
            char *names = cert_names(cert);
            struct sbuf lack = {0};
            if (!host_ok)
                sb_item(&lack, host);
            if (!ip_ok)
                sb_item(&lack, "127.0.0.1");
            add_owned(r, id, DOCTOR_ERROR,
                      xfmt("%s's certificate (%s) does not cover %s, only %s: %s", pod, cf->path,
                           sb_str(&lack), names,
                           !host_ok ? "raft joins to it fail with x509: certificate is valid for "
                                      "..., not ... (hashicorp/vault-helm#645)"
                                    : "the CLI in the pod (VAULT_ADDR https://127.0.0.1:8200) "
                                      "cannot verify it"),
                      xfmt("reissue it with the names *.%s, *.%s.%s.svc.cluster.local and the IP "
                           "127.0.0.1, update the TLS secret, then restart the pods one at a "
                           "time",
                           svc, svc, ns_of(f)));
            free(names);
            free(lack.data);
        }
        X509_free(cert);
    }
    if (problems == 0 && checked > 0)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("the certificates of %d pods cover <pod>.%s and 127.0.0.1", checked, svc),
                  NULL);
}

static time_t asn1_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

static void day_text(char *buf, size_t cap, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%d", &tm);
}

static void check_tls_expiry(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-TLS-002";
    if (tls_missing(f, id, r))
        return;
    int checked = 0, problems = 0;
    time_t earliest = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_file *cf = pod_file(&f->pods[i], "tls_cert_file");
        if (cf == NULL)
            continue;
        const char *pod = f->vc->pods[i].name;
        X509 *cert = load_pem(cf->text, NULL);
        if (cert == NULL) {
            problems++;
            add_owned(r, id, DOCTOR_ERROR, cert_file_problem(pod, cf), NULL);
            continue;
        }
        checked++;
        time_t nb = asn1_time(X509_get0_notBefore(cert)), na = asn1_time(X509_get0_notAfter(cert));
        char day[32];
        day_text(day, sizeof day, na);
        char *fix = xfmt("renew the certificate in the TLS secret, then restart the pods one at a "
                         "time (kubectl -n %s delete pod %s, then %s unseal %s)",
                         ns_of(f), pod, f->prog, pod);
        if (na <= f->now) {
            problems++;
            add_owned(r, id, DOCTOR_ERROR,
                      xfmt("%s's certificate (%s) expired on %s: clients and joins fail", pod,
                           cf->path, day),
                      fix);
        } else if (nb > f->now) {
            char from[32];
            day_text(from, sizeof from, nb);
            problems++;
            add_owned(r, id, DOCTOR_ERROR,
                      xfmt("%s's certificate (%s) is not valid before %s", pod, cf->path, from),
                      fix);
        } else if (na - f->now < 30 * 86400) {
            problems++;
            add_owned(r, id, DOCTOR_WARN,
                      xfmt("%s's certificate (%s) expires in %ld days, on %s", pod, cf->path,
                           (long)((na - f->now) / 86400), day),
                      fix);
        } else {
            free(fix);
            if (earliest == 0 || na < earliest)
                earliest = na;
        }
        X509_free(cert);
    }
    if (problems == 0 && checked > 0) {
        char day[32];
        day_text(day, sizeof day, earliest);
        add_owned(r, id, DOCTOR_OK,
                  xfmt("certificates valid for %ld more days at least (until %s)",
                       (long)((earliest - f->now) / 86400), day),
                  NULL);
    }
}

/* The CA joins use: the retry_join leader_ca_cert_file, an inline leader_ca_cert, or the
 * pod's VAULT_CACERT. text and where are set; returns 0 when none. */
static int join_ca(const struct doctor_pod *p, const char **text, char **where)
{
    const struct doctor_file *cf = pod_file(p, "leader_ca_cert_file");
    if (cf != NULL) {
        *text = cf->text;
        *where = xfmt("%s (retry_join leader_ca_cert_file)", cf->path);
        return 1;
    }
    if (doctor_config_has(p->config, "leader_ca_cert")) {
        *text = NULL; /* the caller takes it from the config */
        *where = strdup("retry_join leader_ca_cert");
        return 2;
    }
    cf = pod_file(p, "cacert_env");
    if (cf != NULL) {
        *text = cf->text;
        *where = xfmt("%s (VAULT_CACERT)", cf->path);
        return 1;
    }
    return 0;
}

static void check_tls_ca(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-TLS-003";
    if (tls_missing(f, id, r))
        return;
    int checked = 0, problems = 0, none = 0;
    char *where_ok = NULL;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_pod *p = &f->pods[i];
        const struct doctor_file *cf = pod_file(p, "tls_cert_file");
        if (cf == NULL)
            continue;
        const char *pod = f->vc->pods[i].name;
        const char *ca_text = NULL;
        char *where = NULL;
        int how = join_ca(p, &ca_text, &where);
        if (how == 0) {
            none++;
            continue;
        }
        char *inline_ca = how == 2 ? doctor_config_value(p->config, "leader_ca_cert") : NULL;
        if (how == 2)
            ca_text = inline_ca;
        STACK_OF(X509) *chain = NULL, *cas = NULL;
        X509 *cert = load_pem(cf->text, &chain);
        X509 *ca = load_pem(ca_text, &cas);
        if (cert == NULL || ca == NULL) {
            problems++;
            add_owned(r, id, DOCTOR_ERROR,
                      cert == NULL ? cert_file_problem(pod, cf)
                                   : xfmt("%s: the CA %s holds no PEM certificate", pod, where),
                      xfmt("put the CA that issued the server certificates there (the TLS "
                           "secret's ca.crt)"));
        } else {
            X509_STORE *store = X509_STORE_new();
            X509_STORE_CTX *ctx = X509_STORE_CTX_new();
            X509_STORE_add_cert(store, ca);
            for (int k = 0; cas != NULL && k < sk_X509_num(cas); k++)
                X509_STORE_add_cert(store, sk_X509_value(cas, k));
            int ok = 0;
            const char *why = "out of memory";
            if (store != NULL && ctx != NULL && X509_STORE_CTX_init(ctx, store, cert, chain) == 1) {
                /* Expiry is VHA-TLS-002's business: only the signature chain here. */
                X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
                                            X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN);
                ok = X509_verify_cert(ctx) == 1;
                why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
            }
            if (ok) {
                checked++;
                if (where_ok == NULL)
                    where_ok = strdup(where);
            } else {
                problems++;
                add_owned(r, id, DOCTOR_ERROR,
                          xfmt("%s's certificate (%s) is not signed by the CA joins use, %s: %s "
                               "(joins fail with x509: certificate signed by unknown authority)",
                               pod, cf->path, where, why),
                          xfmt("put the CA that issued the certificate in %s (the TLS secret's "
                               "ca.crt), or reissue the certificate from that CA",
                               where));
            }
            X509_STORE_CTX_free(ctx);
            X509_STORE_free(store);
            ERR_clear_error();
        }
        X509_free(cert);
        X509_free(ca);
        sk_X509_pop_free(chain, X509_free);
        sk_X509_pop_free(cas, X509_free);
        free(inline_ca);
        free(where);
    }
    if (none > 0 && checked == 0 && problems == 0)
        add_owned(r, id, DOCTOR_SKIPPED,
                  xfmt("no CA configured for joins (retry_join leader_ca_cert_file) and no "
                       "VAULT_CACERT in the pods: joins need it"),
                  xfmt("%s join --leader-ca-cert FILE", f->prog));
    else if (problems == 0 && checked > 0)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("the certificates of %d pods are signed by the CA joins use, %s", checked,
                       where_ok),
                  NULL);
    free(where_ok);
}

/* --- VHA-VER: versions and seal -----------------------------------------------------------------
 */

static const char *pod_version(const struct doctor_facts *f, size_t i)
{
    const struct doctor_pod *p = &f->pods[i];
    if (p->have_status && p->st.version != NULL && p->st.version[0] != '\0')
        return p->st.version;
    return NULL;
}

static void check_versions(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-VER-001";
    const char *first = NULL;
    int skew = 0, seen = 0;
    struct sbuf list = {0};
    for (size_t i = 0; i < f->vc->npods; i++) {
        const char *v = pod_version(f, i);
        if (v == NULL)
            continue;
        seen++;
        char *x = xfmt("%s %s", f->vc->pods[i].name, v);
        sb_item(&list, x);
        free(x);
        if (first == NULL)
            first = v;
        else if (strcmp(first, v) != 0)
            skew = 1;
    }
    if (seen == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no pod reported its version", NULL);
    else if (skew)
        add_owned(
            r, id, DOCTOR_WARN,
            xfmt("the pods run different versions: %s (an upgrade is half done)", sb_str(&list)),
            xfmt("finish it with `%s upgrade` (one pod at a time, standbys first, the active "
                 "pod last)",
                 f->prog));
    else
        add_owned(r, id, DOCTOR_OK, xfmt("every pod runs %s %s", f->vc->flavor, first), NULL);
    free(list.data);
}

/* Versions compared the way the labels write them: "+" → "-", no leading "v". */
static int same_version(const char *tag, const char *version)
{
    if (*tag == 'v')
        tag++;
    if (*version == 'v')
        version++;
    for (; *tag && *version; tag++, version++) {
        char a = *tag == '+' ? '-' : *tag, b = *version == '+' ? '-' : *version;
        if (a != b)
            return 0;
    }
    /* A tag may carry a suffix the version does not (1.21.2-ubi, 1.21.2-ent). */
    return *version == '\0' && (*tag == '\0' || *tag == '-');
}

static void check_image_tags(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-VER-002";
    int checked = 0, problems = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const char *v = pod_version(f, i);
        const struct vault_pod *p = &f->vc->pods[i];
        char *tag = cluster_image_tag(p->image);
        if (v == NULL || tag == NULL) {
            free(tag);
            continue;
        }
        checked++;
        if (strcmp(tag, "latest") == 0) {
            problems++;
            add_owned(r, id, DOCTOR_WARN,
                      xfmt("%s runs %s: \"latest\" changes under you at the next pull", p->name,
                           p->image),
                      xfmt("pin the version it runs: server.image.tag=%s", v));
        } else if (!same_version(tag, v)) {
            problems++;
            add_owned(r, id, DOCTOR_WARN,
                      xfmt("%s runs image %s but reports version %s: the tag does not say what "
                           "runs",
                           p->name, p->image, v),
                      xfmt("pin server.image.tag to the version you mean to run and restart %s",
                           p->name));
        }
        free(tag);
    }
    if (checked == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no pod reported its version", NULL);
    else if (problems == 0)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("the image tags match the versions %d pods report", checked), NULL);
}

static void check_seal(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-VER-003";
    const char *type = NULL;
    int initialized = 0, t = 0, n = 0;
    struct sbuf sealed = {0};
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_pod *p = &f->pods[i];
        if (!p->have_status || !p->st.initialized || p->st.type == NULL)
            continue;
        initialized++;
        if (type == NULL) {
            type = p->st.type;
            t = p->st.t;
            n = p->st.n;
        }
        if (p->st.sealed)
            sb_item(&sealed, f->vc->pods[i].name);
    }
    if (initialized == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no pod is initialized: no seal to look at", NULL);
    else if (strcmp(type, "shamir") == 0) /* the runbook's choice: a recommendation */
        add_owned(r, id, DOCTOR_ADVICE,
                  xfmt("Shamir seal: every pod restart (node drain, upgrade, crash) stays sealed "
                       "until %d of the %d key holders unseal it",
                       t, n),
                  xfmt("auto-unseal: add a seal stanza (awskms, gcpckms, azurekeyvault or "
                       "transit) to the config and run vault operator unseal -migrate on each "
                       "pod"));
    else if (sealed.len > 0)
        add_owned(r, id, DOCTOR_ERROR,
                  xfmt("%s %s sealed although the seal is %s (auto-unseal): the seal cannot be "
                       "reached",
                       sb_str(&sealed), strchr(sb_str(&sealed), ',') ? "are" : "is", type),
                  xfmt("look for the seal's error in the pod log (kubectl -n %s logs %s | grep "
                       "-i seal): credentials, network, key permissions",
                       ns_of(f), sb_str(&sealed)));
    else
        add_owned(r, id, DOCTOR_OK,
                  xfmt("auto-unseal (%s): every initialized pod unsealed itself", type), NULL);
    free(sealed.data);
}

/* --- VHA-LBL: labels against Vault
 * ---------------------------------------------------------------- */

static void check_labels(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-LBL-001";
    const char *fl = flavor_label(f);
    int checked = 0, problems = 0, unlabelled = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct vault_pod *p = &f->vc->pods[i];
        const struct doctor_pod *d = &f->pods[i];
        if (!d->have_status)
            continue;
        checked++;
        if (p->label_sealed == TRI_UNKNOWN && p->label_active == TRI_UNKNOWN &&
            p->label_initialized == TRI_UNKNOWN) {
            unlabelled++;
            continue;
        }
        struct sbuf bad = {0}, fix = {0};
        struct {
            const char *key;
            enum tristate label;
            int truth;
        } rows[] = {
            {"sealed", p->label_sealed, d->st.sealed != 0},
            {"active", p->label_active, d->st.is_self != 0 && !d->st.sealed},
            {"initialized", p->label_initialized, d->st.initialized != 0},
        };
        for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
            if (rows[k].label == TRI_UNKNOWN || (rows[k].label == TRI_TRUE) == rows[k].truth)
                continue;
            char *x =
                xfmt("%s-%s=%s", fl, rows[k].key, rows[k].label == TRI_TRUE ? "true" : "false");
            sb_item(&bad, x);
            free(x);
            sb_add(&fix, " %s-%s=%s", fl, rows[k].key, rows[k].truth ? "true" : "false");
        }
        if (bad.len > 0) {
            problems++;
            add_owned(r, id, DOCTOR_WARN,
                      xfmt("%s is labelled %s, but its vault status says %s, %s%s: the "
                           "%s-active and -standby Services route by these labels "
                           "(hashicorp/vault#18117)",
                           p->name, sb_str(&bad), d->st.sealed ? "sealed" : "unsealed",
                           d->st.is_self && !d->st.sealed ? "active" : "not active",
                           d->st.initialized ? "" : ", not initialized", f->vc->name),
                      xfmt("kubectl -n %s label pod %s%s --overwrite (Vault writes them again at "
                           "its next change)",
                           ns_of(f), p->name, sb_str(&fix)));
        }
        free(bad.data);
        free(fix.data);
    }
    if (unlabelled > 0)
        add_owned(r, id, DOCTOR_WARN,
                  xfmt("%d pod%s carr%s no %s-* labels: without service_registration "
                       "\"kubernetes\" the %s-active Service selects nothing",
                       unlabelled, unlabelled == 1 ? "" : "s", unlabelled == 1 ? "ies" : "y", fl,
                       f->vc->name),
                  xfmt("add service_registration \"kubernetes\" {} to the server config"));
    if (checked == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no pod answered vault status", NULL);
    else if (problems == 0 && unlabelled == 0)
        add_owned(r, id, DOCTOR_OK,
                  xfmt("the %s-* labels of %d pods agree with their vault status", fl, checked),
                  NULL);
}

/* --- the table -------------------------------------------------------------------------------- */

const struct doctor_check doctor_checks[] = {
    {"VHA-STS-001", "replicas: odd and at least 3", check_replicas},
    {"VHA-STS-002", "podManagementPolicy; pods OrderedReady never created", check_pod_management},
    {"VHA-STS-003", "updateStrategy", check_update_strategy},
    {"VHA-STS-004", "pods on an older controller revision", check_revisions},
    {"VHA-SVC-001", "the headless <sts>-internal service and its selector", check_internal_service},
    {"VHA-SVC-002", "publishNotReadyAddresses on <sts>-internal", check_publish_not_ready},
    {"VHA-SVC-003", "the -active and -standby services and their selectors",
     check_active_standby_services},
    {"VHA-SVC-004", "no other Vault service publishes not-ready addresses", check_other_publish},
    {"VHA-EP-001", "<sts>-internal lists every pod, ready or not", check_internal_endpoints},
    {"VHA-EP-002", "<sts>-active lists exactly the active pod", check_active_endpoints},
    {"VHA-DNS-001", "<pod>.<sts>-internal resolves from every pod", check_dns},
    {"VHA-PVC-001", "data (and audit) PVCs are Bound", check_pvcs},
    {"VHA-PVC-002", "fill level of the raft data volume", check_disk},
    {"VHA-PLACE-001", "voters on distinct nodes", check_nodes},
    {"VHA-PLACE-002", "voters spread over zones", check_zones},
    {"VHA-PLACE-003", "a PodDisruptionBudget with maxUnavailable 1", check_pdb},
    {"VHA-RAFT-001", "autopilot healthy, failure tolerance at least 1", check_autopilot},
    {"VHA-RAFT-002", "no dead or failed raft servers", check_dead_servers},
    {"VHA-RAFT-003", "no non-voter older than the stabilization time", check_non_voters},
    {"VHA-RAFT-004", "applied-index lag of the followers", check_index_lag},
    {"VHA-RAFT-005", "autopilot's cleanup_dead_servers", check_cleanup_dead_servers},
    {"VHA-TLS-001", "certificate names: <pod>.<sts>-internal and 127.0.0.1", check_tls_names},
    {"VHA-TLS-002", "certificate expiry (warn within 30 days)", check_tls_expiry},
    {"VHA-TLS-003", "the CA joins use signed the certificates", check_tls_ca},
    {"VHA-VER-001", "one Vault version across pods", check_versions},
    {"VHA-VER-002", "image tags match the running versions", check_image_tags},
    {"VHA-VER-003", "seal: Shamir key holders, auto-unseal health", check_seal},
    {"VHA-LBL-001", "vault-* labels agree with vault status", check_labels},
    {NULL, NULL, NULL},
};

const struct doctor_check *doctor_find_check(const char *id)
{
    for (size_t i = 0; doctor_checks[i].id != NULL; i++)
        if (strcasecmp(doctor_checks[i].id, id) == 0)
            return &doctor_checks[i];
    return NULL;
}

void doctor_judge(const struct doctor_facts *f, const int *selected, struct doctor_report *r)
{
    for (size_t i = 0; doctor_checks[i].id != NULL; i++)
        if (selected == NULL || selected[i])
            doctor_checks[i].run(f, r);
}
