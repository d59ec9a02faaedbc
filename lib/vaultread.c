#include "vaultread.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

void vaultread_pod_id(const struct vault_cluster *vc, const char *pod, char *buf, size_t cap)
{
    /* The API server does not verify the pod's certificate (facts "pods/proxy"): the
     * scheme only has to match the listener. */
    int tls = vc->api_scheme != NULL && strcmp(vc->api_scheme, "https") == 0;
    snprintf(buf, cap, "%s%s:%d", tls ? "https:" : "", pod, VAULTREAD_API_PORT);
}

const struct vault_pod *vaultread_redirect_pod(const struct vault_cluster *vc, const char *location)
{
    if (location == NULL)
        return NULL;
    const char *host = strstr(location, "://");
    if (host == NULL)
        return NULL;
    host += 3;
    size_t len;
    if (host[0] == '[') { /* an IPv6 literal (RFC 3986): the pod's IP has no brackets */
        host++;
        len = strcspn(host, "]/");
        if (host[len] != ']')
            return NULL;
    } else {
        len = strcspn(host, ":/");
    }
    for (size_t i = 0; i < vc->npods; i++) {
        const char *ip = vc->pods[i].pod_ip;
        if (ip != NULL && ip[0] != '\0' && strlen(ip) == len && strncmp(ip, host, len) == 0)
            return &vc->pods[i];
    }
    return NULL;
}

/* One GET through pods/proxy, run in its own thread. */
struct job {
    struct kube_client *kube;
    const char *ns;
    char pod_id[300];
    const char *path;
    const struct secret *token;
    struct kube_proxy_answer ans;
    struct error err;
    int rc;
};

static void *run_job(void *arg)
{
    struct job *j = arg;
    j->rc = kube_proxy_get(j->kube, j->ns, j->pod_id, j->path, j->token, &j->ans, &j->err);
    return NULL;
}

/* Every job at once: the API server's latency is paid once, not per pod. */
static void run_jobs(struct job *jobs, size_t n)
{
    pthread_t *threads = calloc(n + 1, sizeof *threads);
    int *started = calloc(n + 1, sizeof *started);
    for (size_t i = 0; i < n; i++) {
        started[i] = threads != NULL && started != NULL &&
                     pthread_create(&threads[i], NULL, run_job, &jobs[i]) == 0;
        if (!started[i])
            run_job(&jobs[i]);
    }
    for (size_t i = 0; i < n; i++)
        if (started[i])
            pthread_join(threads[i], NULL);
    free(threads);
    free(started);
}

static void clear_jobs(struct job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kube_proxy_answer_clear(&jobs[i].ans);
}

static void set_job(struct job *j, struct kube_client *kube, const struct vault_cluster *vc,
                    const char *pod, const char *path, const struct secret *token)
{
    memset(j, 0, sizeof *j);
    j->kube = kube;
    j->ns = vc->namespace;
    vaultread_pod_id(vc, pod, j->pod_id, sizeof j->pod_id);
    j->path = path;
    j->token = token;
}

/* RBAC refused pods/proxy (403 from the API server itself): with --read-via
 * auto the reads of this run go back to exec; returns 1 then. */
static int fall_back(struct kube_client *kube, const char *ns, const struct job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (jobs[i].rc < 0 && jobs[i].err.kind == ERR_FORBIDDEN) {
            kube_proxy_refused(kube, ns);
            return !kube_proxy_allowed(kube, ns);
        }
    return 0;
}

/* A pod's status from its sys/seal-status and sys/leader answers. */
static int status_from(const char *pod, const struct job *seal, const struct job *leader,
                       struct vault_status *st, struct error *err)
{
    char why[512];
    if (seal->rc < 0)
        return error_set(err, seal->err.kind, "%s: %s", pod, seal->err.msg);
    if (seal->ans.status != 200) {
        vault_http_error_summary(seal->ans.body, seal->ans.len, why, sizeof why);
        return error_set(err, ERR_REMOTE, "%s: sys/seal-status answered %ld%s%s", pod,
                         seal->ans.status, why[0] ? ": " : "", why);
    }
    struct error perr = {0};
    if (vault_parse_http_seal_status(seal->ans.body, seal->ans.len, st, &perr) < 0)
        return error_set(err, perr.kind, "%s: %s", pod, perr.msg);
    if (leader->rc < 0) {
        vault_status_clear(st);
        return error_set(err, leader->err.kind, "%s: %s", pod, leader->err.msg);
    }
    if (vault_merge_http_leader(leader->ans.status, leader->ans.body, leader->ans.len, st, &perr) <
        0) {
        vault_status_clear(st);
        return error_set(err, perr.kind, "%s: %s", pod, perr.msg);
    }
    return 0;
}

/* The statuses of the pods at index[0..n) through the proxy, into their views.
 * Returns 1 when RBAC refused it and the reads go by exec instead (nothing
 * filled), else 0. */
static int proxy_views(struct kube_client *kube, const struct vault_cluster *vc,
                       const size_t *index, size_t n, struct pod_view *views)
{
    struct job *jobs = calloc(2 * n + 1, sizeof *jobs);
    if (jobs == NULL)
        return 0;
    for (size_t k = 0; k < n; k++) {
        set_job(&jobs[2 * k], kube, vc, vc->pods[index[k]].name, "/v1/sys/seal-status", NULL);
        set_job(&jobs[2 * k + 1], kube, vc, vc->pods[index[k]].name, "/v1/sys/leader", NULL);
    }
    run_jobs(jobs, 2 * n);
    int refused = fall_back(kube, vc->namespace, jobs, 2 * n);
    for (size_t k = 0; k < n && !refused; k++) {
        struct pod_view *v = &views[index[k]];
        struct error err = {0};
        if (status_from(vc->pods[index[k]].name, &jobs[2 * k], &jobs[2 * k + 1], &v->st, &err) == 0)
            v->have_status = 1;
        else
            v->status_error = strdup(err.msg);
    }
    clear_jobs(jobs, 2 * n);
    free(jobs);
    return refused;
}

void vaultread_status_all(struct kube_client *kube, const struct vault_cluster *vc,
                          struct pod_view *views)
{
    size_t n;
    size_t *index = vault_running_pods(vc, views, &n);
    if (index != NULL)
        vaultread_status_some(kube, vc, index, n, views);
    free(index);
}

void vaultread_status_some(struct kube_client *kube, const struct vault_cluster *vc,
                           const size_t *index, size_t n, struct pod_view *views)
{
    for (size_t k = 0; k < n; k++)
        memset(&views[index[k]], 0, sizeof views[index[k]]);
    if (!kube_proxy_allowed(kube, vc->namespace) || proxy_views(kube, vc, index, n, views))
        vault_status_some(kube, vc, index, n, views);
}

/* One pod's `vault status` in the pod (exec). */
static int status_by_exec(struct kube_client *kube, const struct vault_cluster *vc, const char *pod,
                          struct vault_status *st, struct error *err)
{
    struct vault_call c = {.pod = pod};
    c.argv[0] = vc->cli;
    c.argv[1] = "status";
    c.argv[2] = "-format=json";
    vault_call_run(kube, vc, &c, 1);
    int rc = c.ran ? vault_parse_status(c.out, c.out_len, c.exit_code, c.err_out, st, err)
                   : error_set(err, c.error.kind, "%s", c.error.msg);
    vault_call_clear(&c);
    return rc;
}

int vaultread_status(struct kube_client *kube, const struct vault_cluster *vc, const char *pod,
                     struct vault_status *st, struct error *err)
{
    memset(st, 0, sizeof *st);
    if (!kube_proxy_allowed(kube, vc->namespace))
        return status_by_exec(kube, vc, pod, st, err);
    struct job jobs[2];
    set_job(&jobs[0], kube, vc, pod, "/v1/sys/seal-status", NULL);
    set_job(&jobs[1], kube, vc, pod, "/v1/sys/leader", NULL);
    run_jobs(jobs, 2);
    int rc;
    if (fall_back(kube, vc->namespace, jobs, 2))
        rc = status_by_exec(kube, vc, pod, st, err);
    else
        rc = status_from(pod, &jobs[0], &jobs[1], st, err);
    clear_jobs(jobs, 2);
    return rc;
}

/* The raft reads' answers in words and a result code (vaultread_raft's). */
static int raft_from(const char *pod, const struct job *jobs, struct vault_peers *peers,
                     struct vault_autopilot *ap, int *have_ap, char *why, size_t why_cap)
{
    char summary[512];
    struct error err = {0};
    const struct job *cfg = &jobs[0], *apj = &jobs[1];
    if (cfg->rc < 0) {
        snprintf(why, why_cap, "%.*s", (int)why_cap - 1, cfg->err.msg);
        return -1;
    }
    if (cfg->ans.status != 200) {
        vault_http_error_summary(cfg->ans.body, cfg->ans.len, summary, sizeof summary);
        snprintf(why, why_cap, "raft configuration on %s: %ld%s%s", pod, cfg->ans.status,
                 summary[0] ? " " : "", summary);
        return strstr(summary, "permission denied") != NULL ? -2 : -1;
    }
    if (vault_parse_http_peers(cfg->ans.body, cfg->ans.len, peers, &err) < 0) {
        snprintf(why, why_cap, "%.*s", (int)why_cap - 1, err.msg);
        return -1;
    }
    /* Autopilot may be missing (404 on old versions): the peers alone then. */
    *have_ap = apj->rc == 0 && apj->ans.status == 200 &&
               vault_parse_http_autopilot(apj->ans.body, apj->ans.len, ap, &err) == 0;
    return 0;
}

int vaultread_raft(struct kube_client *kube, const struct vault_cluster *vc, const char *pod,
                   const struct secret *token, struct vault_peers *peers,
                   struct vault_autopilot *ap, int *have_ap, char *why, size_t why_cap)
{
    *have_ap = 0;
    if (!kube_proxy_allowed(kube, vc->namespace))
        return vault_read_raft(kube, vc, pod, token, peers, ap, have_ap, why, why_cap);
    const char *target = pod;
    for (int hop = 0;; hop++) {
        struct job jobs[2];
        set_job(&jobs[0], kube, vc, target, "/v1/sys/storage/raft/configuration", token);
        set_job(&jobs[1], kube, vc, target, "/v1/sys/storage/raft/autopilot/state", token);
        run_jobs(jobs, 2);
        if (fall_back(kube, vc->namespace, jobs, 2)) {
            clear_jobs(jobs, 2);
            return vault_read_raft(kube, vc, pod, token, peers, ap, have_ap, why, why_cap);
        }
        long status = jobs[0].rc == 0 ? jobs[0].ans.status : 0;
        if (status >= 300 && status < 400) {
            /* A standby points at the active pod's IP, unreachable from here; the
             * token is not sent there: that pod is asked through the API server. */
            const struct vault_pod *next = vaultread_redirect_pod(vc, jobs[0].ans.location);
            if (hop == 0 && next != NULL && strcmp(next->name, target) != 0) {
                target = next->name;
                clear_jobs(jobs, 2);
                continue;
            }
            char *loc = text_sanitize_dup(jobs[0].ans.location ? jobs[0].ans.location : "?");
            snprintf(why, why_cap, "%s answered %ld to %s (a standby), not followed", target,
                     status, loc ? loc : "?");
            free(loc);
            clear_jobs(jobs, 2);
            return -1;
        }
        int rc = raft_from(target, jobs, peers, ap, have_ap, why, why_cap);
        clear_jobs(jobs, 2);
        return rc;
    }
}
