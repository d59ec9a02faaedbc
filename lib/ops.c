#include "ops.h"

#include "vaultread.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "text.h"

void ops_report(struct ops *o, const char *fmt, ...)
{
    if (o->report == NULL)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->report(o->report_ctx, line);
}

static const char *prog(const struct ops *o)
{
    return o->prog ? o->prog : "kubectl vault-ha";
}

struct waiter ops_waiter(const struct ops *o, long interval_ms)
{
    long timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : WAIT_DEFAULT_MS;
    if (o->deadline_s > 0) {
        double left_ms = (o->deadline_s - wait_now_s()) * 1000.0;
        if (left_ms < (double)timeout_ms)
            timeout_ms = left_ms < 1.0 ? 1 : (long)left_ms;
    }
    struct waiter w = {.timeout_ms = timeout_ms,
                       .interval_ms = interval_ms,
                       .cancel = o->cancel,
                       .report = o->wait_report,
                       .report_ctx = o->report_ctx};
    return w;
}

/* Copies text, truncated to the buffer. */
static void set_text(char *buf, size_t cap, const char *text)
{
    if (cap == 0)
        return;
    buf[0] = '\0';
    text_appendf(buf, cap, NULL, "%s", text);
}

int ops_refresh(struct ops *o, struct pod_view **views, struct error *err)
{
    if (*views != NULL)
        vault_views_clear(*views, o->vc->npods);
    if (cluster_refresh_pods(o->kube, o->vc, err) < 0)
        return -1;
    struct pod_view *v = realloc(*views, (o->vc->npods + 1) * sizeof *v);
    if (v == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    memset(v, 0, (o->vc->npods + 1) * sizeof *v);
    *views = v;
    vaultread_status_all(o->kube, o->vc, v);
    return 0;
}

void ops_reading_clear(const struct ops *o, struct ops_reading *r)
{
    if (r->views != NULL)
        vault_views_clear(r->views, o->vc->npods);
    free(r->views);
    if (r->have_peers)
        vault_peers_clear(&r->peers);
    if (r->have_ap)
        vault_autopilot_clear(&r->ap);
    if (r->h.problems != NULL)
        health_clear(&r->h);
    memset(r, 0, sizeof *r);
}

int ops_read(struct ops *o, const struct secret *token, struct ops_reading *r, struct error *err)
{
    ops_reading_clear(o, r);
    if (o->pods_fresh) {
        o->pods_fresh = 0;
        r->views = calloc(o->vc->npods + 1, sizeof *r->views);
        if (r->views == NULL)
            return error_set(err, ERR_GENERIC, "out of memory");
        vaultread_status_all(o->kube, o->vc, r->views);
    } else if (ops_refresh(o, &r->views, err) < 0) {
        return -1;
    }
    const struct vault_cluster *vc = o->vc;
    long ai = vault_active_index(r->views, vc->npods);
    const char *active = ai >= 0 ? vc->pods[ai].name : NULL;
    if (token == NULL)
        set_text(r->note, sizeof r->note,
                 "raft peers not read: set VAULT_TOKEN or use --token-file for membership, "
                 "voters and failure tolerance from raft itself");
    else if (active == NULL)
        set_text(r->note, sizeof r->note, "raft peers not read: no active node to ask");
    else
        r->have_peers = vaultread_raft(o->kube, vc, active, token, &r->peers, &r->ap, &r->have_ap,
                                       r->note, sizeof r->note) == 0;
    struct health_input in = {.vc = vc,
                              .views = r->views,
                              .peers = r->have_peers ? &r->peers : NULL,
                              .autopilot = r->have_ap ? &r->ap : NULL,
                              .prog = prog(o)};
    health_judge(&in, &r->h);
    return 0;
}

/* One pod's status; 0 with st filled, -1 when it could not be read. */
static int pod_status(struct ops *o, const char *pod, struct vault_status *st)
{
    struct error err = {0};
    return vaultread_status(o->kube, o->vc, pod, st, &err);
}

static enum wait_poll check_unsealed(void *ctx, char *text, size_t cap, struct error *err)
{
    struct ops *o = ((void **)ctx)[0];
    const char *pod = ((void **)ctx)[1];
    (void)err;
    struct vault_status st;
    if (pod_status(o, pod, &st) < 0) {
        snprintf(text, cap, "%s: vault status not readable", pod);
        return WAIT_PENDING;
    }
    int unsealed = !st.sealed;
    vault_status_clear(&st);
    if (unsealed)
        snprintf(text, cap, "%s is unsealed", pod);
    else
        snprintf(text, cap, "%s: still sealed", pod);
    return unsealed ? WAIT_DONE : WAIT_PENDING;
}

/* Waits until pod is unsealed by something else than us: the end of its raft
 * join (docs/vault-cli.md §3.3), or its auto-unseal seal. */
static int wait_pod_unsealed(struct ops *o, const char *pod, const char *how, struct error *err)
{
    struct waiter w = ops_waiter(o, 500);
    void *ctx[2] = {o, (void *)pod};
    char what[300];
    snprintf(what, sizeof what, "%s to %s", pod, how);
    return wait_for(&w, what, check_unsealed, ctx, NULL, 0, err);
}

enum unseal_state { US_PENDING, US_UNSEALED, US_FAILED, US_WRONG, US_WAITING };

/* Reads each target's unseal progress before the first key, so that a key
 * Vault already has in this round can be told apart (progress unchanged). */
static void read_progress(struct ops *o, const size_t *targets, size_t n, int *progress,
                          int *threshold)
{
    /* A read: through pods/proxy when allowed, no `vault status` process in the pods. */
    struct pod_view *views = calloc(o->vc->npods + 1, sizeof *views);
    if (views == NULL)
        return;
    vaultread_status_some(o->kube, o->vc, targets, n, views);
    for (size_t i = 0; i < n; i++) {
        const struct pod_view *v = &views[targets[i]];
        if (v->have_status) {
            progress[i] = v->st.progress;
            threshold[i] = v->st.t;
        }
    }
    vault_views_clear(views, o->vc->npods);
    free(views);
}

static void classify_unseal_error(struct ops *o, const char *pod, const char *err_out, int t,
                                  enum unseal_state *state)
{
    char why[512];
    vault_error_summary(err_out, why, sizeof why);
    if (strstr(why, "invalid key") != NULL ||
        strstr(why, "message authentication failed") != NULL ||
        strstr(why, "error decrypting") != NULL) {
        /* A wrong share is only detected at the threshold, and Vault then starts the
         * round again (docs/vault-cli.md §3.4): every key of the round must be given again. */
        ops_report(
            o,
            "%s: the keys of this round did not unseal it: one of them is wrong or from "
            "another cluster (%s). Vault reset its unseal progress to 0/%d: every key holder "
            "must submit their key again",
            pod, why, t);
        *state = US_WRONG;
        return;
    }
    if (strstr(why, "not initialized") != NULL)
        ops_report(o,
                   "%s: not initialized: it is not a raft member yet, join it first (%s join %s)",
                   pod, prog(o), pod);
    else
        ops_report(o, "%s: unseal failed: %s", pod, why);
    *state = US_FAILED;
}

int ops_unseal(struct ops *o, const size_t *targets, size_t ntargets,
               const struct secret_list *keys, struct unseal_outcome *out, struct error *err)
{
    struct vault_cluster *vc = o->vc;
    struct unseal_outcome local;
    if (out == NULL)
        out = &local;
    memset(out, 0, sizeof *out);
    enum unseal_state *state = calloc(ntargets + 1, sizeof *state);
    int *progress = calloc(ntargets + 1, sizeof *progress);
    int *threshold = calloc(ntargets + 1, sizeof *threshold);
    struct vault_call *calls = calloc(ntargets + 1, sizeof *calls);
    size_t *which = calloc(ntargets + 1, sizeof *which);
    if (!state || !progress || !threshold || !calls || !which) {
        free(state), free(progress), free(threshold), free(calls), free(which);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    read_progress(o, targets, ntargets, progress, threshold);
    for (size_t k = 0; k < keys->n; k++) {
        /* {"key":"..."} on stdin: `vault write sys/unseal -` returns as soon as the
         * object closes, so neither a shell nor stdin EOF is needed (docs/vault-cli.md §3.5). */
        struct secret body = {0};
        if (secret_alloc(&body, keys->items[k].len + 32, err) < 0)
            break;
        body.len = (size_t)snprintf(body.data, body.cap,
                                    o->unseal_migrate ? "{\"key\":\"%s\",\"migrate\":true}\n"
                                                      : "{\"key\":\"%s\"}\n",
                                    keys->items[k].data);
        size_t n = 0;
        for (size_t i = 0; i < ntargets; i++) {
            if (state[i] != US_PENDING)
                continue;
            struct vault_call *c = &calls[n];
            memset(c, 0, sizeof *c);
            c->pod = vc->pods[targets[i]].name;
            c->argv[0] = vc->cli;
            c->argv[1] = "write";
            c->argv[2] = "-format=json";
            c->argv[3] = "sys/unseal";
            c->argv[4] = "-";
            c->input = body.data;
            c->input_len = body.len;
            which[n++] = i;
        }
        if (n == 0) {
            secret_free(&body);
            break;
        }
        vault_call_run(o->kube, vc, calls, n);
        secret_free(&body);
        for (size_t j = 0; j < n; j++) {
            struct vault_call *c = &calls[j];
            size_t i = which[j];
            const char *pod = c->pod;
            struct vault_unseal_progress p;
            struct error perr = {0};
            if (!c->ran) {
                ops_report(o, "%s: %s", pod, c->error.msg);
                state[i] = US_FAILED;
            } else if (c->exit_code != 0) {
                classify_unseal_error(o, pod, c->err_out, threshold[i], &state[i]);
            } else if (vault_parse_unseal(c->out, c->out_len, &p, &perr) < 0) {
                ops_report(o, "%s: %s", pod, perr.msg);
                state[i] = US_FAILED;
            } else if (!p.sealed) {
                ops_report(o, "%s: unsealed", pod);
                state[i] = US_UNSEALED;
                out->accepted++;
            } else if (p.progress == 0 && p.t > 0 && progress[i] + 1 >= p.t) {
                ops_report(o, "%s: %d/%d, finishing the raft join", pod, p.t, p.t);
                state[i] = US_WAITING;
                out->accepted++;
            } else if (p.progress == progress[i] && p.progress > 0) {
                ops_report(o, "%s: %d/%d (Vault already had this key in this round: ignored)", pod,
                           p.progress, p.t);
                threshold[i] = p.t;
            } else {
                progress[i] = p.progress;
                threshold[i] = p.t;
                out->accepted++;
                ops_report(o, "%s: %d/%d", pod, p.progress, p.t);
            }
            vault_call_clear(c);
        }
    }
    int left = 0;
    out->min_missing = -1;
    for (size_t i = 0; i < ntargets; i++) {
        const char *pod = vc->pods[targets[i]].name;
        if (state[i] == US_WAITING) {
            struct error werr = {0};
            if (wait_pod_unsealed(o, pod, "finish its raft join and unseal", &werr) >= 0) {
                ops_report(o, "%s: unsealed", pod);
                state[i] = US_UNSEALED;
            } else {
                ops_report(o, "%s: %s", pod, werr.msg);
                state[i] = US_FAILED;
            }
        } else if (state[i] == US_PENDING) {
            int missing = threshold[i] - progress[i];
            ops_report(o, "%s: %d/%d, %d more key%s needed (from another key holder)", pod,
                       progress[i], threshold[i], missing, missing == 1 ? "" : "s");
            out->partial++;
            if (out->min_missing < 0 || missing < out->min_missing)
                out->min_missing = missing;
            if (missing > out->max_missing)
                out->max_missing = missing;
        }
        out->unsealed += state[i] == US_UNSEALED;
        out->wrong_keys += state[i] == US_WRONG;
        out->failed += state[i] == US_FAILED;
        if (state[i] != US_UNSEALED)
            left++;
    }
    if (out->min_missing < 0)
        out->min_missing = 0;
    free(state), free(progress), free(threshold), free(calls), free(which);
    return left;
}

int ops_unseal_reset(struct ops *o, const size_t *targets, size_t ntargets, struct error *err)
{
    struct vault_call *calls = calloc(ntargets + 1, sizeof *calls);
    if (calls == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    static const char body[] = "{\"reset\":true}\n";
    for (size_t i = 0; i < ntargets; i++) {
        struct vault_call *c = &calls[i];
        c->pod = o->vc->pods[targets[i]].name;
        c->argv[0] = o->vc->cli;
        c->argv[1] = "write";
        c->argv[2] = "-format=json";
        c->argv[3] = "sys/unseal";
        c->argv[4] = "-";
        c->input = body;
        c->input_len = sizeof body - 1;
    }
    vault_call_run(o->kube, o->vc, calls, ntargets);
    int failed = 0;
    for (size_t i = 0; i < ntargets; i++) {
        struct vault_call *c = &calls[i];
        struct vault_unseal_progress p;
        struct error perr = {0};
        char why[512];
        if (!c->ran) {
            ops_report(o, "%s: %s", c->pod, c->error.msg);
            failed++;
        } else if (c->exit_code != 0) {
            vault_error_summary(c->err_out, why, sizeof why);
            ops_report(o, "%s: reset failed: %s", c->pod, why);
            failed++;
        } else if (vault_parse_unseal(c->out, c->out_len, &p, &perr) < 0) {
            ops_report(o, "%s: %s", c->pod, perr.msg);
            failed++;
        } else {
            ops_report(o, "%s: unseal progress reset to %d/%d", c->pod, p.progress, p.t);
        }
        vault_call_clear(c);
    }
    free(calls);
    return failed;
}

void ops_leader_address(const struct vault_cluster *vc, const char *active_pod, char *buf,
                        size_t cap)
{
    snprintf(buf, cap, "%s://%s.%s:8200", vc->api_scheme ? vc->api_scheme : "http", active_pod,
             vc->service_name ? vc->service_name : "vault-internal");
}

/* JSON string escaping for the join body (PEM has newlines). */
static char *json_quote(const char *s)
{
    json_t *j = json_string(s);
    char *out = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

/* Vault answers a failed join with "failed to get raft challenge" only; the
 * reason (an x509 error, a refused connection) is in the joining pod's log
 * (docs/vault-cli.md §10.4). Fills why with the last such line's detail, or a
 * note saying why the log could not be read. Returns 1 for an x509 reason. */
static int join_reason_from_log(struct ops *o, const char *pod, char *why, size_t cap)
{
    char *ns = kube_urlencode(o->vc->namespace), *name = kube_urlencode(pod);
    char *container = kube_urlencode(o->vc->container);
    char path[1024];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/log?container=%s&tailLines=200", ns,
             name, container);
    free(ns), free(name), free(container);
    char *log = NULL;
    struct error err = {0};
    why[0] = '\0';
    if (kube_get_text(o->kube, path, &log, &err) < 0) {
        snprintf(why, cap, "the reason is in %s's log, which could not be read: %.300s", pod,
                 err.msg);
        return 0;
    }
    const char *found = NULL, *kind = NULL;
    /* The detailed line: core: failed to get raft challenge: leader_addr=... error="...". */
    for (const char *p = log; (p = strstr(p, "raft challenge: leader_addr=")) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        const char *x = strstr(p, "x509:");
        const char *e = strstr(p, "error=");
        if (x != NULL && (eol == NULL || x < eol)) {
            found = x;
            kind = "x509";
        } else if (e != NULL && (eol == NULL || e < eol)) {
            found = e + 6 + (e[6] == '"');
            kind = "other";
        }
    }
    int x509 = 0;
    if (found != NULL) {
        /* The rest of the line, without hclog's closing quote; \" unescaped. */
        size_t n = 0;
        for (const char *q = found; *q && *q != '\n' && n + 1 < cap && n < 400; q++) {
            if (q[0] == '\\' && q[1] == '"')
                continue;
            why[n++] = *q;
        }
        while (n > 0 && (why[n - 1] == '"' || why[n - 1] == ' '))
            n--;
        why[n] = '\0';
        x509 = strcmp(kind, "x509") == 0;
    }
    free(log);
    return x509;
}

static int join_targets(struct ops *o, const size_t *targets, size_t ntargets,
                        const struct join_options *jo, struct error *err)
{
    struct vault_cluster *vc = o->vc;
    struct vault_call *calls = calloc(ntargets + 1, sizeof *calls);
    char *body = NULL, *ca_flag = NULL;
    if (calls == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    if (jo->tls_server_name != NULL) {
        /* The CLI has no flag for leader_tls_servername (docs/vault-cli.md §4.3): write the join
         * request itself, as JSON on stdin. */
        char *addr = json_quote(jo->leader_addr), *name = json_quote(jo->tls_server_name);
        char *ca = jo->leader_ca_pem ? json_quote(jo->leader_ca_pem) : NULL;
        if (asprintf(&body, "{\"leader_api_addr\":%s,\"leader_tls_servername\":%s%s%s}\n", addr,
                     name, ca ? ",\"leader_ca_cert\":" : "", ca ? ca : "") < 0)
            body = NULL;
        free(addr), free(name), free(ca);
    } else if (jo->leader_ca_pem != NULL) {
        if (asprintf(&ca_flag, "-leader-ca-cert=%s", jo->leader_ca_pem) < 0)
            ca_flag = NULL;
    }
    for (size_t i = 0; i < ntargets; i++) {
        struct vault_call *c = &calls[i];
        size_t a = 0;
        c->pod = vc->pods[targets[i]].name;
        c->argv[a++] = vc->cli;
        if (body != NULL) {
            c->argv[a++] = "write";
            c->argv[a++] = "-format=json";
            c->argv[a++] = "sys/storage/raft/join";
            c->argv[a++] = "-";
            c->input = body;
            c->input_len = strlen(body);
        } else {
            c->argv[a++] = "operator";
            c->argv[a++] = "raft";
            c->argv[a++] = "join";
            c->argv[a++] = "-format=json";
            if (ca_flag != NULL)
                c->argv[a++] = ca_flag;
            c->argv[a++] = jo->leader_addr;
        }
        c->argv[a] = NULL;
    }
    vault_call_run(o->kube, vc, calls, ntargets);
    int failed = 0;
    for (size_t i = 0; i < ntargets; i++) {
        struct vault_call *c = &calls[i];
        char why[512];
        if (!c->ran) {
            ops_report(o, "%s: %s", c->pod, c->error.msg);
            failed++;
        } else if (c->exit_code != 0) {
            vault_error_summary(c->err_out, why, sizeof why);
            if (strstr(why, "x509") != NULL)
                ops_report(o,
                           "%s: the leader's TLS certificate was refused (%s): give its CA with "
                           "--leader-ca-cert, or the name it is valid for with "
                           "--leader-tls-servername",
                           c->pod, why);
            else if (strstr(why, "raft challenge") != NULL) {
                char reason[600];
                int x509 = join_reason_from_log(o, c->pod, reason, sizeof reason);
                if (x509 && strstr(reason, "valid for") != NULL)
                    ops_report(
                        o,
                        "%s: the leader's TLS certificate does not name %s (%s, from %s's "
                        "log): give a name it is valid for with --leader-tls-servername NAME",
                        c->pod, jo->leader_addr, reason, c->pod);
                else if (x509)
                    ops_report(
                        o,
                        "%s: the leader's TLS certificate is not trusted (%s, from %s's log): "
                        "give the CA that signed it with --leader-ca-cert FILE",
                        c->pod, reason, c->pod);
                else
                    ops_report(o,
                               "%s: could not reach the leader at %s (%s%s%s): check that the "
                               "headless service %s resolves the leader's pod from %s and that the "
                               "leader is unsealed",
                               c->pod, jo->leader_addr, why, reason[0] ? "; " : "", reason,
                               vc->service_name ? vc->service_name : "<fullname>-internal", c->pod);
            } else if (strstr(why, "must be sealed") != NULL)
                ops_report(o, "%s: it is unsealed already, so it cannot join (%s)", c->pod, why);
            else
                ops_report(o, "%s: raft join failed: %s", c->pod, why);
            failed++;
        } else if (strstr(c->out ? c->out : "", "\"joined\": true") == NULL &&
                   strstr(c->out ? c->out : "", "\"joined\":true") == NULL) {
            ops_report(o, "%s: raft join answered without joined=true: %s", c->pod,
                       c->out ? c->out : "");
            failed++;
        } else {
            ops_report(o, "%s: joined %s", c->pod, jo->leader_addr);
        }
        vault_call_clear(c);
    }
    free(calls);
    free(body);
    free(ca_flag);
    return failed;
}

/* The host of a leader address, or "" when it is an IP address (nothing to resolve). */
static void leader_host(const char *addr, char *host, size_t cap)
{
    const char *h = strstr(addr, "://");
    h = h ? h + 3 : addr;
    size_t l = h[0] == '[' ? 0 : strcspn(h, ":/");
    snprintf(host, cap, "%.*s", (int)l, h);
    int ip = 1;
    for (const char *p = host; *p; p++)
        ip &= (*p >= '0' && *p <= '9') || *p == '.';
    if (ip)
        host[0] = '\0';
}

/* Longest the preflight waits for a name to resolve: StatefulSet DNS records
 * can lag ~30 s behind a pod's start (kubernetes/kubernetes#92559). */
#define DNS_WAIT_MS 60000L

struct dns_wait {
    struct ops *o;
    const char *host;
    const char **pods; /* still unresolved; NULL once resolved (or no resolver) */
    size_t n;
};

static enum wait_poll check_dns(void *ctx, char *text, size_t cap, struct error *err)
{
    struct dns_wait *d = ctx;
    struct vault_call *calls = calloc(d->n + 1, sizeof *calls);
    size_t *which = calloc(d->n + 1, sizeof *which);
    size_t n = 0;
    if (calls == NULL || which == NULL) {
        free(calls), free(which);
        error_set(err, ERR_GENERIC, "out of memory");
        return WAIT_FAILED;
    }
    for (size_t i = 0; i < d->n; i++) {
        if (d->pods[i] == NULL)
            continue;
        struct vault_call *c = &calls[n];
        c->pod = d->pods[i];
        c->argv[0] = "sh";
        c->argv[1] = "-c";
        c->argv[2] = "command -v nslookup >/dev/null 2>&1 || exit 127; "
                     "nslookup \"$0\" >/dev/null 2>&1";
        c->argv[3] = d->host;
        which[n++] = i;
    }
    vault_call_run(d->o->kube, d->o->vc, calls, n);
    text[0] = '\0';
    size_t left = 0;
    for (size_t k = 0; k < n; k++) {
        struct vault_call *c = &calls[k];
        /* No sh or no nslookup (distroless): nothing to learn here, let the join tell. */
        if (!c->ran || c->exit_code == 0 || c->exit_code == 127) {
            d->pods[which[k]] = NULL;
        } else {
            left++;
            text_appendf(text, cap, NULL, "%s%s", text[0] ? ", " : "", c->pod);
        }
        vault_call_clear(c);
    }
    free(calls), free(which);
    if (left == 0) {
        snprintf(text, cap, "%s resolves", d->host);
        return WAIT_DONE;
    }
    text_appendf(text, cap, NULL, " cannot resolve %s yet", d->host);
    return WAIT_PENDING;
}

/* Preflight: can each joining pod resolve the leader's name? A wrong headless
 * service or a DNS problem shows up here, before the join, more clearly than
 * Vault's "failed to get raft challenge". A name that does not resolve yet is
 * waited for (DNS lags behind new pods), up to DNS_WAIT_MS; pods that still
 * cannot are reported and left out of keep. A pod without sh or nslookup
 * (distroless) is not held back. Returns how many are in keep. */
static size_t preflight_dns(struct ops *o, const size_t *targets, size_t ntargets,
                            const char *leader_addr, size_t *keep)
{
    char host[256];
    leader_host(leader_addr, host, sizeof host);
    for (size_t i = 0; i < ntargets; i++)
        keep[i] = targets[i];
    const char **pods = host[0] ? calloc(ntargets + 1, sizeof *pods) : NULL;
    if (pods == NULL)
        return ntargets;
    for (size_t i = 0; i < ntargets; i++)
        pods[i] = o->vc->pods[targets[i]].name;
    struct dns_wait d = {.o = o, .host = host, .pods = pods, .n = ntargets};
    struct waiter w = ops_waiter(o, 2000);
    if (w.timeout_ms <= 0 || w.timeout_ms > DNS_WAIT_MS)
        w.timeout_ms = DNS_WAIT_MS;
    char what[400];
    snprintf(what, sizeof what, "%s to resolve from the joining pods (DNS lags behind new pods)",
             host);
    struct error err = {0};
    wait_for(&w, what, check_dns, &d, NULL, 0, &err);
    size_t n = 0;
    const char *svc = o->vc->service_name ? o->vc->service_name : "<fullname>-internal";
    for (size_t i = 0; i < ntargets; i++) {
        if (pods[i] != NULL && err.kind != ERR_NONE)
            ops_report(
                o,
                "%s: cannot resolve %s from the pod: check that the headless service %s lists "
                "the leader (kubectl get endpoints %s -n %s) and that the cluster DNS works",
                pods[i], host, svc, svc, o->vc->namespace);
        else
            keep[n++] = targets[i];
    }
    free(pods);
    return n;
}

int ops_join(struct ops *o, const size_t *targets, size_t ntargets, const struct join_options *jo,
             struct error *err)
{
    size_t *keep = calloc(ntargets + 1, sizeof *keep);
    if (keep == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    size_t n = preflight_dns(o, targets, ntargets, jo->leader_addr, keep);
    int failed = n > 0 ? join_targets(o, keep, n, jo, err) : 0;
    free(keep);
    return failed < 0 ? -1 : failed + (int)(ntargets - n);
}

/* --- waits ------------------------------------------------------------------------------- */

void ops_describe_pods(const struct vault_cluster *vc, const struct pod_view *views, char *buf,
                       size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        const struct pod_view *v = &views[i];
        text_appendf(buf, cap, NULL, "%s%s: ", i ? "; " : "", p->name);
        if (!p->exists || !p->running)
            text_appendf(buf, cap, NULL, "not running (%s%s%s)", p->phase, p->reason ? ": " : "",
                         p->reason ? p->reason : "");
        else if (!v->have_status)
            text_appendf(buf, cap, NULL, "no vault status (%.120s)",
                         v->status_error ? v->status_error : "no answer");
        else if (!v->st.initialized)
            text_appendf(buf, cap, NULL, "not initialized");
        else if (v->st.sealed)
            text_appendf(buf, cap, NULL, "sealed %d/%d", v->st.progress, v->st.t);
        else
            text_appendf(buf, cap, NULL, "%s", v->st.is_self ? "active" : "unsealed standby");
    }
}

void ops_election_outlook(const struct vault_cluster *vc, const struct pod_view *views,
                          const char *not_this, struct election_outlook *out)
{
    ops_election_outlook_of(vc, views, not_this, NULL, 0, out);
}

static int is_member(const char *const *members, size_t n, const char *name)
{
    if (members == NULL)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(members[i], name) == 0)
            return 1;
    return 0;
}

void ops_election_outlook_of(const struct vault_cluster *vc, const struct pod_view *views,
                             const char *not_this, const char *const *members, size_t nmembers,
                             struct election_outlook *out)
{
    memset(out, 0, sizeof *out);
    int uninitialized = 0, initialized = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        const struct pod_view *v = &views[i];
        const char *name = vc->pods[i].name;
        if (!is_member(members, nmembers, name))
            continue;
        if (!vc->pods[i].exists || !vc->pods[i].running) {
            out->pods_down++;
            continue;
        }
        if (!v->have_status) {
            out->unknown++;
            continue;
        }
        int other = not_this == NULL || strcmp(name, not_this) != 0;
        if (other && vault_status_is_active(&v->st) && out->active[0] == '\0')
            snprintf(out->active, sizeof out->active, "%s", name);
        if (!v->st.initialized) {
            uninitialized++;
            continue;
        }
        initialized++;
        if (v->st.sealed)
            text_appendf(out->sealed, sizeof out->sealed, NULL, "%s%s", out->sealed[0] ? ", " : "",
                         name);
        else
            out->unsealed++;
    }
    /* Initialized pods are members (or joining); pods we could not read may be
     * unsealed members too. When even then no quorum can be unsealed, no
     * election can happen: waiting would not help, keys would. */
    out->members = initialized + out->unknown;
    out->quorum = out->members / 2 + 1;
    out->missing = out->quorum - (out->unsealed + out->unknown);
    if (out->active[0] != '\0')
        out->kind = OUTLOOK_ACTIVE;
    else if (initialized == 0 && uninitialized == 0)
        out->kind = OUTLOOK_UNREADABLE;
    else if (initialized == 0 && out->unknown == 0 && uninitialized > 0)
        out->kind = OUTLOOK_NOT_INITIALIZED;
    else if (out->unsealed == 0 && out->unknown == 0)
        out->kind = OUTLOOK_ALL_SEALED;
    else if (out->members > 0 && out->missing > 0)
        out->kind = OUTLOOK_NO_QUORUM;
    else
        out->kind = OUTLOOK_ELECTING;
}

void ops_outlook_message(const struct vault_cluster *vc, const struct election_outlook *ol,
                         const char *states, const char *prog, char *buf, size_t cap)
{
    switch (ol->kind) {
    case OUTLOOK_UNREADABLE:
        snprintf(buf, cap,
                 "no pod of %s/%s answered vault status (%s): nothing to wait for until they do; "
                 "see `%s status`",
                 vc->namespace, vc->name, states, prog);
        break;
    case OUTLOOK_NOT_INITIALIZED:
        snprintf(buf, cap,
                 "no active node: Vault is not initialized (%s): run `%s bootstrap --output "
                 "vault-keys.json` (or `%s init`)",
                 states, prog, prog);
        break;
    case OUTLOOK_ALL_SEALED:
        snprintf(buf, cap, "no active node, and no raft member is unsealed (%s): run `%s unseal`",
                 states, prog);
        break;
    case OUTLOOK_NO_QUORUM:
        snprintf(buf, cap,
                 "no leader can be elected: %d of %d raft members %s unsealed and a quorum needs "
                 "%d, so %d more must be unsealed (sealed: %s): run `%s unseal`",
                 ol->unsealed, ol->members, ol->unsealed == 1 ? "is" : "are", ol->quorum,
                 ol->missing, ol->sealed[0] ? ol->sealed : "none", prog);
        break;
    case OUTLOOK_ELECTING:
        snprintf(buf, cap, "no active node yet (%s)", states);
        break;
    case OUTLOOK_ACTIVE:
        snprintf(buf, cap, "%s is active", ol->active);
        break;
    }
}

struct active_wait {
    struct ops *o;
    const char *not_this;
    struct pod_view *views;
    int pods_down;
};

static enum wait_poll check_active(void *ctx, char *text, size_t cap, struct error *err)
{
    struct active_wait *a = ctx;
    struct ops *o = a->o;
    if (ops_refresh(o, &a->views, err) < 0)
        return WAIT_FAILED;
    struct election_outlook ol;
    ops_election_outlook_of(o->vc, a->views, a->not_this, o->members, o->nmembers, &ol);
    a->pods_down = ol.pods_down;
    char states[768];
    ops_describe_pods(o->vc, a->views, states, sizeof states);
    char msg[ERROR_MSG_MAX];
    ops_outlook_message(o->vc, &ol, states, prog(o), msg, sizeof msg);
    switch (ol.kind) {
    case OUTLOOK_ACTIVE:
        set_text(text, cap, msg);
        return WAIT_DONE;
    case OUTLOOK_ELECTING:
        set_text(text, cap, msg);
        return WAIT_PENDING;
    default:
        error_set(err, ERR_REMOTE, "%s", msg);
        return WAIT_FAILED;
    }
}

int ops_wait_active(struct ops *o, const char *not_this, char *active, size_t cap,
                    struct error *err)
{
    struct active_wait a = {.o = o, .not_this = not_this};
    struct waiter w = ops_waiter(o, 500);
    char result[300];
    int rc = wait_for(&w, not_this ? "another pod to become active" : "a leader election",
                      check_active, &a, result, sizeof result, err);
    if (a.views != NULL)
        vault_views_clear(a.views, o->vc->npods);
    free(a.views);
    if (rc < 0) {
        if (err->kind == ERR_TIMEOUT)
            text_appendf(err->msg, sizeof err->msg, NULL, "%s; see `%s status`",
                         a.pods_down ? "; pods that are not running may hold the "
                                       "missing votes"
                                     : "",
                         prog(o));
        return -1;
    }
    /* result is "<pod> is active" */
    size_t n = strcspn(result, " ");
    snprintf(active, cap, "%.*s", (int)n, result);
    return rc;
}

struct running_wait {
    struct ops *o;
    const char *pod;
};

static enum wait_poll check_running(void *ctx, char *text, size_t cap, struct error *err)
{
    struct running_wait *r = ctx;
    if (cluster_refresh_pods(r->o->kube, r->o->vc, err) < 0)
        return WAIT_FAILED;
    const struct vault_pod *p = cluster_find_pod(r->o->vc, r->pod);
    if (p != NULL && p->exists && p->running && !p->terminating) {
        snprintf(text, cap, "%s is running", r->pod);
        return WAIT_DONE;
    }
    snprintf(text, cap, "%s: %s%s%s", r->pod,
             p ? (p->terminating ? "terminating" : p->phase) : "no pod", p && p->reason ? ": " : "",
             p && p->reason ? p->reason : "");
    return WAIT_PENDING;
}

struct recreated_wait {
    struct ops *o;
    const char *pod, *old_uid, *revision;
};

static enum wait_poll check_recreated(void *ctx, char *text, size_t cap, struct error *err)
{
    struct recreated_wait *r = ctx;
    if (cluster_refresh_pods(r->o->kube, r->o->vc, err) < 0)
        return WAIT_FAILED;
    const struct vault_pod *p = cluster_find_pod(r->o->vc, r->pod);
    if (p == NULL || !p->exists) {
        snprintf(text, cap, "%s: no pod yet", r->pod);
        return WAIT_PENDING;
    }
    if (p->terminating ||
        (p->uid != NULL && r->old_uid != NULL && strcmp(p->uid, r->old_uid) == 0)) {
        snprintf(text, cap, "%s: the old pod is %s", r->pod,
                 p->terminating ? "terminating" : "still there");
        return WAIT_PENDING;
    }
    if (r->revision != NULL && (p->revision == NULL || strcmp(p->revision, r->revision) != 0)) {
        error_set(err, ERR_REMOTE,
                  "%s came back on revision %s, not %s: the StatefulSet's template changed "
                  "meanwhile (kubectl get statefulset %s -n %s -o yaml)",
                  r->pod, p->revision ? p->revision : "(none)", r->revision, r->o->vc->name,
                  r->o->vc->namespace);
        return WAIT_FAILED;
    }
    if (p->running && !p->terminating) {
        snprintf(text, cap, "%s is running%s%s", r->pod, r->revision ? " revision " : "",
                 r->revision ? r->revision : "");
        return WAIT_DONE;
    }
    snprintf(text, cap, "%s: %s%s%s", r->pod, p->phase, p->reason ? " (" : "",
             p->reason ? p->reason : "");
    if (p->reason != NULL)
        text_appendf(text, cap, NULL, ")");
    return WAIT_PENDING;
}

int ops_wait_pod_recreated(struct ops *o, const char *pod, const char *old_uid,
                           const char *revision, struct error *err)
{
    struct recreated_wait r = {.o = o, .pod = pod, .old_uid = old_uid, .revision = revision};
    struct waiter w = ops_waiter(o, 1000);
    w.report_always = 1; /* the pod was just deleted: how long it took to return is news */
    char what[400];
    snprintf(what, sizeof what, "%s to run again%s%s", pod, revision ? " on revision " : "",
             revision ? revision : "");
    if (wait_for(&w, what, check_recreated, &r, NULL, 0, err) < 0) {
        if (err->kind == ERR_TIMEOUT)
            text_appendf(err->msg, sizeof err->msg, NULL, "; see `kubectl describe pod %s -n %s`",
                         pod, o->vc->namespace);
        return -1;
    }
    return 0;
}

int ops_step_down(struct ops *o, const struct secret *token, const char *pod, struct error *err)
{
    /* No -format here: step-down rejects it (docs/vault-cli.md §0.3). */
    const char *args[] = {o->vc->cli, "operator", "step-down", NULL};
    struct vault_call c = {.pod = pod};
    int rc = vault_run_cli(o->kube, o->vc, &c, token, args, "step-down",
                           " (step-down needs a root or sudo token)", err);
    vault_call_clear(&c);
    return rc;
}

int ops_wait_pod_running(struct ops *o, const char *pod, struct error *err)
{
    struct running_wait r = {.o = o, .pod = pod};
    struct waiter w = ops_waiter(o, 1000);
    char what[300];
    snprintf(what, sizeof what, "%s to run", pod);
    if (wait_for(&w, what, check_running, &r, NULL, 0, err) < 0) {
        if (err->kind == ERR_TIMEOUT)
            text_appendf(err->msg, sizeof err->msg, NULL,
                         "; check `kubectl describe statefulset %s -n %s`", o->vc->name,
                         o->vc->namespace);
        return -1;
    }
    return 0;
}

/* A target's progress towards "healthy voter": 1 not a peer, 2 non-voter,
 * 3 voter (not yet healthy or caught up), 4 healthy voter, caught up. */
struct voters_wait {
    struct ops *o;
    const struct secret *token;
    const char *const *pods;
    size_t n;
    int *said;
    struct pod_view *views;
    long long target_index; /* the leader's commit index when the wait began */
    int autopilot_note;
};

static enum wait_poll check_voters(void *ctx, char *text, size_t cap, struct error *err)
{
    struct voters_wait *vw = ctx;
    struct ops *o = vw->o;
    if (ops_refresh(o, &vw->views, err) < 0)
        return WAIT_FAILED;
    struct vault_cluster *vc = o->vc;
    long ai = vault_active_index(vw->views, vc->npods);
    const char *active = ai >= 0 ? vc->pods[ai].name : NULL;
    if (ai >= 0 && vw->target_index == 0)
        vw->target_index = vw->views[ai].st.raft_committed_index;
    if (active == NULL) {
        snprintf(text, cap, "no active node to ask for the raft peers (a leader election?)");
        return WAIT_PENDING;
    }
    struct vault_peers peers = {0};
    struct vault_autopilot ap = {0};
    int have_ap = 0;
    char why[600] = "";
    int rr = vaultread_raft(o->kube, vc, active, vw->token, &peers, &ap, &have_ap, why, sizeof why);
    if (rr == -2) {
        error_set(err, ERR_FORBIDDEN,
                  "%s: the token cannot read sys/storage/raft/configuration; check the voters "
                  "later with `%s status`",
                  why, prog(o));
        return WAIT_FAILED;
    }
    if (rr < 0) {
        set_text(text, cap, why);
        return WAIT_PENDING;
    }
    if (!have_ap && !vw->autopilot_note) {
        ops_report(o, "autopilot state not readable from %s: waiting for voters only", active);
        vw->autopilot_note = 1;
    }
    size_t ready = 0;
    text[0] = '\0';
    for (size_t t = 0; t < vw->n; t++) {
        const char *pod = vw->pods[t];
        int state = 1;
        const struct vault_peer *peer = NULL;
        for (size_t k = 0; k < peers.n; k++) {
            struct vault_pod *pp = cluster_pod_for_address(vc, peers.items[k].address);
            if (pp != NULL && strcmp(pp->name, pod) == 0)
                peer = &peers.items[k];
        }
        if (peer != NULL)
            state = peer->voter ? 3 : 2;
        int healthy = !have_ap, caught = 0;
        for (size_t k = 0; have_ap && peer != NULL && k < ap.n; k++)
            if (ap.servers[k].address != NULL && peer->address != NULL &&
                strcmp(ap.servers[k].address, peer->address) == 0)
                healthy = ap.servers[k].healthy;
        const struct vault_pod *vp = cluster_find_pod(vc, pod);
        long long applied = 0;
        if (vp != NULL) {
            const struct pod_view *v = &vw->views[vp - vc->pods];
            if (v->have_status && !v->st.sealed) {
                applied = v->st.raft_applied_index;
                caught = applied >= vw->target_index;
            }
        }
        if (state == 3 && healthy && caught)
            state = 4;
        if (state != vw->said[t]) {
            if (state == 2)
                ops_report(o, "%s: raft non-voter, waiting for autopilot to promote it", pod);
            else if ((state == 3 || state == 4) && vw->said[t] < 3)
                ops_report(o, "%s: raft voter", pod);
            else if (state == 4)
                ops_report(o, "%s: healthy and caught up (applied index %lld)", pod, applied);
            else if (state == 1)
                ops_report(o, "%s: not yet a raft peer", pod);
            vw->said[t] = state;
        }
        if (state == 4) {
            ready++;
        } else {
            const char *what = state == 1   ? "not a raft peer"
                               : state == 2 ? "non-voter"
                               : !healthy   ? "voter, not healthy for autopilot"
                                            : "voter, catching up";
            if (state == 3 && healthy && !caught)
                text_appendf(text, cap, NULL, "%s%s: voter, applied index %lld of %lld",
                             text[0] ? "; " : "", pod, applied, vw->target_index);
            else
                text_appendf(text, cap, NULL, "%s%s: %s", text[0] ? "; " : "", pod, what);
        }
    }
    vault_peers_clear(&peers);
    if (have_ap)
        vault_autopilot_clear(&ap);
    if (ready == vw->n) {
        snprintf(text, cap, "%zu pod%s healthy raft voter%s, caught up", vw->n,
                 vw->n == 1 ? " is a" : "s are", vw->n == 1 ? "" : "s");
        return WAIT_DONE;
    }
    return WAIT_PENDING;
}

int ops_wait_voters(struct ops *o, const struct secret *token, const char *const *pods,
                    size_t npods, struct error *err)
{
    if (npods == 0)
        return 0;
    /* Our own copies: the names may point into vc->pods, which each poll re-reads. */
    char **copy = calloc(npods + 1, sizeof *copy);
    struct voters_wait vw = {.o = o, .token = token, .pods = (const char *const *)copy, .n = npods};
    vw.said = calloc(npods + 1, sizeof *vw.said);
    for (size_t i = 0; copy != NULL && i < npods; i++)
        copy[i] = strdup(pods[i]);
    for (size_t i = 0; copy != NULL && i < npods; i++)
        if (copy[i] == NULL)
            vw.said = (free(vw.said), NULL);
    if (vw.said == NULL || copy == NULL) {
        for (size_t i = 0; copy != NULL && i < npods; i++)
            free(copy[i]);
        free(copy);
        free(vw.said);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    char what[600] = "";
    for (size_t i = 0; i < npods; i++)
        text_appendf(what, sizeof what, NULL, "%s%s", i ? ", " : "", pods[i]);
    char full[800] = "";
    text_appendf(full, sizeof full, NULL,
                 "%s to be %s (autopilot promotes joined nodes after its stabilization time)", what,
                 npods == 1 ? "a healthy raft voter, caught up" : "healthy raft voters, caught up");
    struct waiter w = ops_waiter(o, 1000);
    int rc = wait_for(&w, full, check_voters, &vw, NULL, 0, err);
    if (rc < 0 && err->kind == ERR_TIMEOUT)
        text_appendf(err->msg, sizeof err->msg, NULL,
                     "; check `%s operator raft autopilot state` in the active pod", o->vc->cli);
    if (vw.views != NULL)
        vault_views_clear(vw.views, o->vc->npods);
    free(vw.views);
    free(vw.said);
    for (size_t i = 0; i < npods; i++)
        free(copy[i]);
    free(copy);
    return rc;
}

/* --- the bring-up step ------------------------------------------------------------------- */

/* The pods asked for, by name: our own copies, since the caller's may point
 * into vc->pods, which every refresh replaces. NULL names = every pod. */
struct wanted {
    char **names;
    size_t n;
};

static int wanted(const struct wanted *w, const char *name)
{
    if (w->names == NULL)
        return 1;
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->names[i], name) == 0)
            return 1;
    return 0;
}

static void wanted_free(struct wanted *w)
{
    for (size_t i = 0; w->names != NULL && i < w->n; i++)
        free(w->names[i]);
    free(w->names);
}

/* Auto-unseal: a joined pod answers the raft challenge with its own seal and unseals
 * itself (docs/disaster-recovery.md §1.4), no key to submit. Returns how many did not. */
static int wait_joined_self_unseal(struct ops *o, const struct pod_view *views,
                                   const size_t *targets, size_t n)
{
    int left = 0;
    for (size_t k = 0; k < n; k++) {
        const char *pod = o->vc->pods[targets[k]].name;
        const char *seal = views[targets[k]].st.type;
        char how[200];
        snprintf(how, sizeof how, "finish its raft join and unseal itself (seal %s)",
                 seal ? seal : "auto-unseal");
        struct error werr = {0};
        int waited = wait_pod_unsealed(o, pod, how, &werr);
        if (waited < 0) {
            ops_report(o,
                       "%s: %s; its seal may not decrypt the cluster's stored keys: see "
                       "`kubectl logs %s -n %s`",
                       pod, werr.msg, pod, o->vc->namespace);
            left++;
        } else if (waited == 0) {
            ops_report(o, "%s: unsealed", pod);
        }
    }
    return left;
}

int ops_bring_up(struct ops *o, const struct bring_up *b_in, struct error *err)
{
    struct pod_view *views = NULL;
    size_t *targets = NULL;
    const char **names = NULL;
    int rc = -1, failed = 0;
    struct wanted want = {0};
    const struct wanted *b = &want;
    if (b_in->pods != NULL) {
        want.names = calloc(b_in->npods + 1, sizeof *want.names);
        if (want.names == NULL)
            return error_set(err, ERR_GENERIC, "out of memory");
        for (want.n = 0; want.n < b_in->npods; want.n++)
            if ((want.names[want.n] = strdup(b_in->pods[want.n])) == NULL) {
                wanted_free(&want);
                return error_set(err, ERR_GENERIC, "out of memory");
            }
    }
    for (size_t i = 0; b_in->wait_running && i < want.n; i++)
        if (ops_wait_pod_running(o, want.names[i], err) < 0)
            goto out;
    if (ops_refresh(o, &views, err) < 0)
        goto out;
    struct vault_cluster *vc = o->vc;
    targets = calloc(vc->npods + 1, sizeof *targets);
    if (targets == NULL) {
        error_set(err, ERR_GENERIC, "out of memory");
        goto out;
    }
    size_t n = 0;
    /* 1. Sealed members first: they hold the data and elect the leader. */
    for (size_t i = 0; i < vc->npods; i++)
        if (wanted(b, vc->pods[i].name) && views[i].have_status && views[i].st.initialized &&
            views[i].st.sealed)
            targets[n++] = i;
    if (n > 0 && b_in->self_unseal) {
        /* Auto-unseal: the seal (KMS, transit) unseals a restarted member by itself. */
        for (size_t k = 0; k < n; k++) {
            char how[200];
            const char *pod = vc->pods[targets[k]].name;
            snprintf(how, sizeof how, "unseal itself (seal %s)",
                     views[targets[k]].st.type ? views[targets[k]].st.type : "auto-unseal");
            int waited = wait_pod_unsealed(o, pod, how, err);
            if (waited < 0) {
                if (err->kind == ERR_TIMEOUT)
                    text_appendf(err->msg, sizeof err->msg, NULL,
                                 "; its seal may be unreachable: see `kubectl logs %s -n %s`", pod,
                                 vc->namespace);
                goto out;
            }
            if (waited == 0) /* the wait's own line says so when it waited */
                ops_report(o, "%s: unsealed", pod);
        }
    } else if (n > 0) {
        int left = ops_unseal(o, targets, n, b_in->keys, NULL, err);
        if (left < 0)
            goto out;
        if (left > 0) {
            error_set(err, ERR_REMOTE, "could not unseal every member; stopping here");
            goto out;
        }
    }
    /* 2. An active node to join. */
    char active[256];
    if (ops_wait_active(o, NULL, active, sizeof active, err) < 0)
        goto out;
    char leader[512];
    if (b_in->jo != NULL && b_in->jo->leader_addr != NULL)
        snprintf(leader, sizeof leader, "%s", b_in->jo->leader_addr);
    else
        ops_leader_address(vc, active, leader, sizeof leader);
    struct join_options j = {0};
    if (b_in->jo != NULL)
        j = *b_in->jo;
    j.leader_addr = leader;
    /* 3. Join the pods that are not members, then unseal them with the cluster's keys.
     * Under podManagementPolicy OrderedReady (OpenBao's chart) the StatefulSet creates
     * the next pod only once the ones before it are Ready (unsealed): wait for it, join
     * and unseal it, and go on until every pod is there. */
    int ordered =
        vc->pod_management_policy != NULL && strcmp(vc->pod_management_policy, "OrderedReady") == 0;
    for (;;) {
        if (ops_refresh(o, &views, err) < 0)
            goto out;
        vc = o->vc;
        free(targets);
        targets = calloc(vc->npods + 1, sizeof *targets);
        if (targets == NULL) {
            error_set(err, ERR_GENERIC, "out of memory");
            goto out;
        }
        n = 0;
        char next[256] = "";
        for (size_t i = 0; i < vc->npods; i++) {
            const struct vault_pod *p = &vc->pods[i];
            if (!wanted(b, p->name))
                continue;
            if (ordered && !p->exists) {
                if (next[0] == '\0')
                    snprintf(next, sizeof next, "%s", p->name);
                continue;
            }
            if (!p->running) {
                ops_report(o, "%s: not running (%s%s%s): skipped", p->name, p->phase,
                           p->reason ? ": " : "", p->reason ? p->reason : "");
                continue;
            }
            if (views[i].have_status && !views[i].st.initialized)
                targets[n++] = i;
        }
        if (n > 0) {
            int jf = ops_join(o, targets, n, &j, err);
            if (jf < 0)
                goto out;
            failed += jf;
            if (jf < (int)n) {
                int left = b_in->self_unseal ? wait_joined_self_unseal(o, views, targets, n)
                                             : ops_unseal(o, targets, n, b_in->keys, NULL, err);
                if (left < 0)
                    goto out;
                failed += left - jf > 0 ? left - jf : 0;
            }
        }
        if (next[0] == '\0' || failed)
            break;
        ops_report(
            o,
            "%s: not created yet (podManagementPolicy OrderedReady: the StatefulSet creates it "
            "once the pods before it are Ready)",
            next);
        if (ops_wait_pod_running(o, next, err) < 0)
            goto out;
    }
    /* 4. Voters: until autopilot promotes a joined node, losing the leader loses quorum. */
    if (ops_refresh(o, &views, err) < 0)
        goto out;
    vc = o->vc;
    names = calloc(vc->npods + 1, sizeof *names);
    if (names == NULL) {
        error_set(err, ERR_GENERIC, "out of memory");
        goto out;
    }
    size_t nv = 0;
    for (size_t i = 0; i < vc->npods; i++)
        if (wanted(b, vc->pods[i].name) && views[i].have_status && views[i].st.initialized &&
            !views[i].st.sealed)
            names[nv++] = vc->pods[i].name;
    if (b_in->token == NULL)
        ops_report(o,
                   "not waiting for autopilot to promote the pods to voters: no Vault token "
                   "(VAULT_TOKEN or --token-file); check with `%s status`",
                   prog(o));
    else if (nv > 0 && ops_wait_voters(o, b_in->token, names, nv, err) < 0)
        goto out;
    rc = failed;
out:
    wanted_free(&want);
    free(names);
    free(targets);
    if (views != NULL)
        vault_views_clear(views, o->vc->npods);
    free(views);
    return rc;
}

int ops_delete_pod(struct ops *o, const char *pod, struct error *err)
{
    char *ns = kube_urlencode(o->vc->namespace), *name = kube_urlencode(pod);
    char path[1024];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", ns ? ns : "", name ? name : "");
    free(ns);
    free(name);
    if (kube_delete(o->kube, path, NULL, err) < 0)
        return error_wrap(err, "deleting pod %s", pod);
    return 0;
}
