#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void report(struct ops *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(struct ops *o, const char *fmt, ...)
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

static int wait_limit(const struct ops *o)
{
    return o->wait_seconds > 0 ? o->wait_seconds : 60;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
    vault_status_all(o->kube, o->vc, v);
    return 0;
}

/* Polls one pod's vault status until unsealed; 1 unsealed, 0 not in time. */
static int wait_pod_unsealed(struct ops *o, const char *pod)
{
    double deadline = now_s() + wait_limit(o);
    while (now_s() < deadline) {
        struct vault_call c = {.pod = pod};
        c.argv[0] = o->vc->cli;
        c.argv[1] = "status";
        c.argv[2] = "-format=json";
        vault_call_run(o->kube, o->vc, &c, 1);
        struct vault_status st;
        struct error err = {0};
        int unsealed =
            c.ran && vault_parse_status(c.out, c.out_len, c.exit_code, c.err_out, &st, &err) == 0 &&
            !st.sealed;
        if (c.ran && err.kind == ERR_NONE)
            vault_status_clear(&st);
        vault_call_clear(&c);
        if (unsealed)
            return 1;
        sleep_ms(500);
    }
    return 0;
}

enum unseal_state { US_PENDING, US_UNSEALED, US_FAILED, US_WAITING };

int ops_unseal(struct ops *o, const size_t *targets, size_t ntargets,
               const struct secret_list *keys, struct error *err)
{
    struct vault_cluster *vc = o->vc;
    enum unseal_state *state = calloc(ntargets + 1, sizeof *state);
    int *progress = calloc(ntargets + 1, sizeof *progress);
    int *threshold = calloc(ntargets + 1, sizeof *threshold);
    struct vault_call *calls = calloc(ntargets + 1, sizeof *calls);
    size_t *which = calloc(ntargets + 1, sizeof *which);
    if (!state || !progress || !threshold || !calls || !which) {
        free(state), free(progress), free(threshold), free(calls), free(which);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    for (size_t k = 0; k < keys->n; k++) {
        /* {"key":"..."} on stdin: `vault write sys/unseal -` returns as soon as the
         * object closes, so neither a shell nor stdin EOF is needed (facts §3). */
        struct secret body = {0};
        if (secret_alloc(&body, keys->items[k].len + 16, err) < 0)
            break;
        body.len = (size_t)snprintf(body.data, body.cap, "{\"key\":\"%s\"}\n", keys->items[k].data);
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
            char why[512];
            struct vault_unseal_progress p;
            struct error perr = {0};
            if (!c->ran) {
                report(o, "%s: %s", pod, c->error.msg);
                state[i] = US_FAILED;
            } else if (c->exit_code != 0) {
                vault_error_summary(c->err_out, why, sizeof why);
                if (strstr(why, "invalid key") != NULL ||
                    strstr(why, "message authentication failed") != NULL)
                    report(o,
                           "%s: Vault rejected the unseal keys (%s); it reset its unseal "
                           "progress, so a full set of correct keys must be given again",
                           pod, why);
                else if (strstr(why, "not initialized") != NULL)
                    report(o, "%s: not initialized: it is not a raft member yet, join it first",
                           pod);
                else
                    report(o, "%s: unseal failed: %s", pod, why);
                state[i] = US_FAILED;
            } else if (vault_parse_unseal(c->out, c->out_len, &p, &perr) < 0) {
                report(o, "%s: %s", pod, perr.msg);
                state[i] = US_FAILED;
            } else if (!p.sealed) {
                report(o, "%s: unsealed", pod);
                state[i] = US_UNSEALED;
            } else if (p.progress == 0 && k > 0) {
                /* The threshold key of a raft joiner: the join completes, then the node
                 * unseals on its own (facts §3 "Raft join + Shamir"). */
                report(o, "%s: %d/%d, finishing the raft join", pod, p.t, p.t);
                state[i] = US_WAITING;
            } else {
                progress[i] = p.progress;
                threshold[i] = p.t;
                report(o, "%s: %d/%d", pod, p.progress, p.t);
            }
            vault_call_clear(c);
        }
    }
    int left = 0;
    for (size_t i = 0; i < ntargets; i++) {
        const char *pod = vc->pods[targets[i]].name;
        if (state[i] == US_WAITING) {
            if (wait_pod_unsealed(o, pod)) {
                report(o, "%s: unsealed", pod);
                state[i] = US_UNSEALED;
            } else {
                report(o, "%s: did not unseal within %d s after its last key", pod, wait_limit(o));
                state[i] = US_FAILED;
            }
        } else if (state[i] == US_PENDING) {
            report(o, "%s: still sealed at %d/%d: %d more key%s needed", pod, progress[i],
                   threshold[i], threshold[i] - progress[i],
                   threshold[i] - progress[i] == 1 ? "" : "s");
        }
        if (state[i] != US_UNSEALED)
            left++;
    }
    free(state), free(progress), free(threshold), free(calls), free(which);
    return left;
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
 * (facts/vault.md addendum). Fills why with the last such line's detail, or a
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
        /* The CLI has no flag for leader_tls_servername (facts §4): write the join
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
            report(o, "%s: %s", c->pod, c->error.msg);
            failed++;
        } else if (c->exit_code != 0) {
            vault_error_summary(c->err_out, why, sizeof why);
            if (strstr(why, "x509") != NULL)
                report(o,
                       "%s: the leader's TLS certificate was refused (%s): give its CA with "
                       "--leader-ca-cert, or the name it is valid for with "
                       "--leader-tls-servername",
                       c->pod, why);
            else if (strstr(why, "raft challenge") != NULL) {
                char reason[600];
                int x509 = join_reason_from_log(o, c->pod, reason, sizeof reason);
                if (x509 && strstr(reason, "valid for") != NULL)
                    report(o,
                           "%s: the leader's TLS certificate does not name %s (%s, from %s's "
                           "log): give a name it is valid for with --leader-tls-servername NAME",
                           c->pod, jo->leader_addr, reason, c->pod);
                else if (x509)
                    report(o,
                           "%s: the leader's TLS certificate is not trusted (%s, from %s's log): "
                           "give the CA that signed it with --leader-ca-cert FILE",
                           c->pod, reason, c->pod);
                else
                    report(o,
                           "%s: could not reach the leader at %s (%s%s%s): check that the "
                           "headless service %s resolves the leader's pod from %s and that the "
                           "leader is unsealed",
                           c->pod, jo->leader_addr, why, reason[0] ? "; " : "", reason,
                           vc->service_name ? vc->service_name : "<fullname>-internal", c->pod);
            } else if (strstr(why, "must be sealed") != NULL)
                report(o, "%s: it is unsealed already, so it cannot join (%s)", c->pod, why);
            else
                report(o, "%s: raft join failed: %s", c->pod, why);
            failed++;
        } else if (strstr(c->out ? c->out : "", "\"joined\": true") == NULL &&
                   strstr(c->out ? c->out : "", "\"joined\":true") == NULL) {
            report(o, "%s: raft join answered without joined=true: %s", c->pod,
                   c->out ? c->out : "");
            failed++;
        } else {
            report(o, "%s: joined %s", c->pod, jo->leader_addr);
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

/* Preflight: can each joining pod resolve the leader's name? A wrong headless
 * service or a DNS problem shows up here, before the join, more clearly than
 * Vault's "failed to get raft challenge". Pods that cannot are reported and
 * left out of keep; a pod without sh or nslookup (distroless) is not held
 * back. Returns how many are in keep. */
static size_t preflight_dns(struct ops *o, const size_t *targets, size_t ntargets,
                            const char *leader_addr, size_t *keep)
{
    char host[256];
    leader_host(leader_addr, host, sizeof host);
    for (size_t i = 0; i < ntargets; i++)
        keep[i] = targets[i];
    struct vault_call *calls = host[0] ? calloc(ntargets + 1, sizeof *calls) : NULL;
    if (calls == NULL)
        return ntargets;
    for (size_t i = 0; i < ntargets; i++) {
        struct vault_call *c = &calls[i];
        c->pod = o->vc->pods[targets[i]].name;
        c->argv[0] = "sh";
        c->argv[1] = "-c";
        c->argv[2] = "command -v nslookup >/dev/null 2>&1 || exit 127; "
                     "nslookup \"$0\" >/dev/null 2>&1";
        c->argv[3] = host;
    }
    vault_call_run(o->kube, o->vc, calls, ntargets);
    size_t n = 0;
    for (size_t i = 0; i < ntargets; i++) {
        struct vault_call *c = &calls[i];
        const char *svc = o->vc->service_name ? o->vc->service_name : "<fullname>-internal";
        if (c->ran && c->exit_code != 0 && c->exit_code != 127)
            report(o,
                   "%s: cannot resolve %s from the pod: check that the headless service %s lists "
                   "the leader (kubectl get endpoints %s -n %s) and that the cluster DNS works",
                   c->pod, host, svc, svc, o->vc->namespace);
        else
            keep[n++] = targets[i];
        vault_call_clear(c);
    }
    free(calls);
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

int ops_wait_voters(struct ops *o, const char *active_pod, const struct secret *token,
                    const size_t *targets, size_t ntargets, struct error *err)
{
    struct vault_cluster *vc = o->vc;
    int *said = calloc(ntargets + 1, sizeof *said);
    if (said == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    double deadline = now_s() + wait_limit(o);
    int rc = -1;
    const char *args[] = {vc->cli, "operator", "raft", "list-peers", "-format=json", NULL};
    for (;;) {
        struct vault_call c = {.pod = active_pod};
        struct secret buf = {0};
        if (vault_call_with_token(&c, vc, token, args, &buf, err) < 0)
            break;
        vault_call_run(o->kube, vc, &c, 1);
        secret_free(&buf);
        struct vault_peers peers = {0};
        char why[512];
        if (!c.ran) {
            error_set(err, c.error.kind, "%s", c.error.msg);
            vault_call_clear(&c);
            break;
        }
        if (c.exit_code != 0) {
            vault_error_summary(c.err_out, why, sizeof why);
            error_set(err, ERR_REMOTE, "list-peers on %s failed: %s", active_pod, why);
            vault_call_clear(&c);
            break;
        }
        int parsed = vault_parse_peers(c.out, c.out_len, &peers, err);
        vault_call_clear(&c);
        if (parsed < 0)
            break;
        size_t voters = 0;
        for (size_t i = 0; i < ntargets; i++) {
            const char *pod = vc->pods[targets[i]].name;
            int state = 1; /* 1 missing, 2 non-voter, 3 voter */
            for (size_t k = 0; k < peers.n; k++) {
                struct vault_pod *pp = cluster_pod_for_address(vc, peers.items[k].address);
                if (pp != NULL && strcmp(pp->name, pod) == 0)
                    state = peers.items[k].voter ? 3 : 2;
            }
            if (state == 3)
                voters++;
            if (state != said[i]) {
                if (state == 2)
                    report(o, "%s: raft non-voter, waiting for autopilot to promote it", pod);
                else if (state == 3)
                    report(o, "%s: raft voter", pod);
                else
                    report(o, "%s: not yet a raft peer", pod);
                said[i] = state;
            }
        }
        vault_peers_clear(&peers);
        if (voters == ntargets) {
            rc = 0;
            break;
        }
        if (now_s() >= deadline) {
            error_set(err, ERR_TIMEOUT,
                      "%zu of %zu pods are raft voters after %d s; autopilot promotes new "
                      "nodes after server_stabilization_time: check `%s operator raft autopilot "
                      "state`",
                      voters, ntargets, wait_limit(o), vc->cli);
            break;
        }
        sleep_ms(1000);
    }
    free(said);
    return rc;
}

int ops_wait_pod_running(struct ops *o, const char *pod, struct error *err)
{
    double deadline = now_s() + wait_limit(o);
    for (;;) {
        if (cluster_refresh_pods(o->kube, o->vc, err) < 0)
            return -1;
        const struct vault_pod *p = cluster_find_pod(o->vc, pod);
        if (p != NULL && p->exists && p->running)
            return 0;
        if (now_s() >= deadline)
            return error_set(err, ERR_TIMEOUT,
                             "%s is not running after %d s (%s%s%s): check `kubectl describe "
                             "statefulset %s -n %s`",
                             pod, wait_limit(o), p ? p->phase : "no pod",
                             p && p->reason ? ": " : "", p && p->reason ? p->reason : "",
                             o->vc->name, o->vc->namespace);
        sleep_ms(1000);
    }
}

int ops_wait_active(struct ops *o, const char *not_this, char *active, size_t cap,
                    struct error *err)
{
    double deadline = now_s() + wait_limit(o);
    struct pod_view *views = NULL;
    for (;;) {
        if (ops_refresh(o, &views, err) < 0) {
            free(views);
            return -1;
        }
        int found = 0;
        for (size_t i = 0; i < o->vc->npods; i++) {
            const struct pod_view *v = &views[i];
            if (v->have_status && !v->st.sealed && v->st.is_self &&
                (not_this == NULL || strcmp(o->vc->pods[i].name, not_this) != 0)) {
                snprintf(active, cap, "%s", o->vc->pods[i].name);
                found = 1;
                break;
            }
        }
        vault_views_clear(views, o->vc->npods);
        if (found) {
            free(views);
            return 0;
        }
        if (now_s() >= deadline) {
            free(views);
            return error_set(err, ERR_TIMEOUT, "no %spod became active within %d s",
                             not_this ? "other " : "", wait_limit(o));
        }
        sleep_ms(1000);
    }
}
