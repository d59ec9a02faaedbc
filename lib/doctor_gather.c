/* doctor, the gathering half: every API list and every exec at once (lib/doctor.h). */
#include "doctor.h"
#include "text.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "kexec.h"

/* --- the API lists, in threads ---------------------------------------------------------------- */

struct list_job {
    pthread_t thread;
    int started;
    struct kube_client *kube;
    char path[1024];
    char what[256]; /* "list on services in namespace vault", for RBAC denials */
    struct doctor_list *out;
};

static void *run_list(void *arg)
{
    struct list_job *j = arg;
    json_t *doc = NULL;
    struct error e = {0};
    if (kube_get(j->kube, j->path, &doc, &e) == 0) {
        json_t *items = json_object_get(doc, "items");
        if (json_is_array(items))
            j->out->items = json_incref(items);
        else
            j->out->error = strdup("the API server's answer has no items");
        json_decref(doc);
    } else if (e.kind == ERR_FORBIDDEN) {
        j->out->denied = strdup(j->what);
    } else {
        j->out->not_served = e.kind == ERR_NOT_FOUND;
        j->out->error = strdup(e.msg);
    }
    return NULL;
}

static void start_lists(struct kube_client *kube, const char *ns, struct doctor_facts *f,
                        struct list_job *jobs)
{
    /* prefix, then the namespace and the resource (nodes: cluster-scoped) */
    static const char *const paths[DOCTOR_NLISTS][2] = {
        {"/api/v1/namespaces/", "/services"},
        {"/api/v1/namespaces/", "/endpoints"},
        {"/apis/discovery.k8s.io/v1/namespaces/", "/endpointslices"},
        {"/api/v1/namespaces/", "/persistentvolumeclaims"},
        {"/api/v1/nodes", NULL},
        {"/apis/policy/v1/namespaces/", "/poddisruptionbudgets"},
    };
    char *ens = kube_urlencode(ns);
    for (int k = 0; k < DOCTOR_NLISTS; k++) {
        struct list_job *j = &jobs[k];
        j->kube = kube;
        j->out = &f->lists[k];
        if (paths[k][1] == NULL)
            snprintf(j->path, sizeof j->path, "%s", paths[k][0]);
        else
            snprintf(j->path, sizeof j->path, "%s%s%s", paths[k][0], ens ? ens : "", paths[k][1]);
        if (k == DOCTOR_NODES)
            snprintf(j->what, sizeof j->what, "\"list\" on \"nodes\" at the cluster scope");
        else
            snprintf(j->what, sizeof j->what, "\"list\" on \"%s\" in namespace %s",
                     doctor_list_resource((enum doctor_list_kind)k), ns);
        j->started = pthread_create(&j->thread, NULL, run_list, j) == 0;
        if (!j->started)
            run_list(j);
    }
    free(ens);
}

static void finish_lists(struct list_job *jobs)
{
    for (int k = 0; k < DOCTOR_NLISTS; k++)
        if (jobs[k].started)
            pthread_join(jobs[k].thread, NULL);
}

/* --- what to ask each pod ------------------------------------------------------------------------
 */

/* A path the pod script may take: absolute, printable, no newline. */
static int sane_path(const char *s)
{
    if (s == NULL || s[0] != '/' || strlen(s) > 512)
        return 0;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return 0;
    return 1;
}

/* A DNS name the script word-splits: lowercase letters, digits, '-' and '.'. */
static int dns_safe(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 253)
        return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
            return 0;
    return 1;
}

static void make_marker(char *buf, size_t cap)
{
    unsigned char r[10] = {0};
    if (getentropy(r, sizeof r) != 0) {
        unsigned long x = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16);
        memcpy(r, &x, sizeof x < sizeof r ? sizeof x : sizeof r);
    }
    size_t n = 0;
    buf[0] = '\0';
    text_appendf(buf, cap, &n, "--vh-");
    for (size_t i = 0; i < sizeof r; i++)
        if (text_appendf(buf, cap, &n, "%02x", r[i]) < 0)
            break;
}

/* The pod to ask for raft state: labelled active, else labelled unsealed, else running. */
static int raft_pod(const struct vault_cluster *vc)
{
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < vc->npods; i++) {
            const struct vault_pod *p = &vc->pods[i];
            if (!p->running)
                continue;
            if (pass == 0 && p->label_active != TRI_TRUE)
                continue;
            if (pass == 1 && p->label_sealed != TRI_FALSE)
                continue;
            return (int)i;
        }
    return -1;
}

/* The exec's error says the image has no shell (distroless). */
static int no_shell_error(const char *msg)
{
    return msg != NULL && strstr(msg, "\"sh\"") != NULL &&
           (strstr(msg, "not found") != NULL || strstr(msg, "no such file") != NULL);
}

static char *report_error(const char *msg, int exit_code, const char *line)
{
    char out[ERROR_MSG_MAX + 1024];
    snprintf(out, sizeof out, "%s (exit %d)%s%s", msg, exit_code, line[0] ? ": " : "", line);
    return strdup(out);
}

static char *summary(const struct vault_call *c, const char *what, const char *pod)
{
    char buf[600], out[ERROR_MSG_MAX + 1024];
    if (!c->ran) {
        snprintf(out, sizeof out, "%s", c->error.msg);
    } else {
        vault_error_summary(c->err_out, buf, sizeof buf);
        snprintf(out, sizeof out, "%s on %s failed (exit %d)%s%s", what, pod, c->exit_code,
                 buf[0] ? ": " : "", buf);
    }
    return strdup(out);
}

int doctor_gather(struct kube_client *kube, const struct doctor_gather_options *o,
                  struct doctor_facts *f, struct error *err)
{
    memset(f, 0, sizeof *f);
    f->now = time(NULL);
    f->prog = o->prog ? o->prog : "kubectl vault-ha";
    struct list_job jobs[DOCTOR_NLISTS];
    memset(jobs, 0, sizeof jobs);
    start_lists(kube, o->q.namespace, f, jobs);
    int rc = cluster_discover_objects(kube, &o->q, &f->vc, &f->sts, &f->pod_list, err);
    finish_lists(jobs);
    if (rc < 0) {
        doctor_facts_clear(f);
        return -1;
    }
    struct vault_cluster *vc = f->vc;
    f->now = time(NULL);
    f->pods = calloc(vc->npods + 1, sizeof *f->pods);
    if (f->pods == NULL) {
        doctor_facts_clear(f);
        return error_set(err, ERR_GENERIC, "out of memory");
    }

    /* What the script reads: the data volume and the chart's config file. */
    char data_dir[600], conf[700], marker[40];
    /* The chart's layout as lib/cluster derived it once (the raft path of the server
     * config, else the data volume's mount; the config volume's mount), as recover and
     * snapshot use it. */
    if (vc->data_dir == NULL || vc->config_path == NULL) {
        doctor_facts_clear(f);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    /* They go into the pod script: checked again here, whatever derived them. */
    if (!sane_path(vc->data_dir) || !sane_path(vc->config_path)) {
        doctor_facts_clear(f);
        return error_set(err, ERR_PROTOCOL,
                         "the StatefulSet's data or config path is not a plain absolute path: "
                         "doctor does not put it into a pod script");
    }
    snprintf(data_dir, sizeof data_dir, "%s", vc->data_dir);
    snprintf(conf, sizeof conf, "%s", vc->config_path);
    make_marker(marker, sizeof marker);
    const char *svc = vc->service_name && dns_safe(vc->service_name) ? vc->service_name : NULL;
    char svc_buf[300];
    if (svc == NULL) {
        snprintf(svc_buf, sizeof svc_buf, "%s-internal", vc->name);
        svc = svc_buf;
    }

    /* One call per running pod, plus the token calls, all in one batch. */
    struct vault_call *calls = calloc(vc->npods + 4, sizeof *calls);
    char **names = calloc(vc->npods + 1, sizeof *names);
    size_t *index = calloc(vc->npods + 1, sizeof *index);
    struct secret stdin_bufs[3] = {{0}};
    if (calls == NULL || names == NULL || index == NULL) {
        free(calls), free(names), free(index);
        doctor_facts_clear(f);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        if (!p->running)
            continue;
        size_t len = 0, cap = 1;
        for (size_t k = 0; k < vc->npods; k++)
            cap += strlen(vc->pods[k].name) + strlen(svc) + 2;
        names[i] = calloc(1, cap);
        for (size_t k = 0; names[i] != NULL && k < vc->npods; k++) {
            const struct vault_pod *q = &vc->pods[k];
            if (k == i || !q->exists || !dns_safe(q->name) || !dns_safe(svc))
                continue;
            text_appendf(names[i], cap, &len, "%s%s.%s", len ? " " : "", q->name, svc);
        }
        f->pods[i].asked = 1;
        struct vault_call *c = &calls[n];
        c->pod = p->name;
        const char *argv[] = {"sh",
                              "-c",
                              doctor_pod_script,
                              "vault-ha-doctor",
                              marker,
                              vc->cli,
                              data_dir,
                              conf,
                              names[i] ? names[i] : "",
                              NULL};
        memcpy(c->argv, argv, sizeof argv);
        index[n++] = i;
    }
    size_t npods_calls = n;
    int rp = -1;
    const struct secret *token = o->token;
    if (vc->product == PRODUCT_OPENBAO && o->openbao_token != NULL)
        token = o->openbao_token;
    if (token == NULL) {
        f->raft_skip = o->no_token_reason ? o->no_token_reason : "no Vault token";
    } else if ((rp = raft_pod(vc)) < 0) {
        f->raft_skip = "no running pod to ask for the raft state";
    } else {
        f->raft_pod = vc->pods[rp].name;
        const char *peers_args[] = {vc->cli,      "operator",     "raft",
                                    "list-peers", "-format=json", NULL};
        const char *ap_args[] = {vc->cli, "operator",     "raft", "autopilot",
                                 "state", "-format=json", NULL};
        const char *conf_args[] = {vc->cli,      "operator",     "raft", "autopilot",
                                   "get-config", "-format=json", NULL};
        const char *const *args[] = {peers_args, ap_args, conf_args};
        struct error terr = {0};
        for (int k = 0; k < 3; k++) {
            calls[n].pod = vc->pods[rp].name;
            if (vault_call_with_token(&calls[n], vc, token, args[k], &stdin_bufs[k], &terr) < 0) {
                f->raft_error = strdup(terr.msg);
                break;
            }
            n++;
        }
    }
    vault_call_run(kube, vc, calls, n);

    /* The pods' reports; pods without a shell get a plain `vault status` next. */
    struct vault_call *retry = calloc(npods_calls + 1, sizeof *retry);
    size_t *retry_index = calloc(npods_calls + 1, sizeof *retry_index);
    size_t nretry = 0;
    for (size_t k = 0; k < npods_calls; k++) {
        struct doctor_pod *p = &f->pods[index[k]];
        struct vault_call *c = &calls[k];
        if (!c->ran) {
            if (no_shell_error(c->error.msg) && retry != NULL && retry_index != NULL) {
                p->no_shell = 1;
                retry[nretry].pod = c->pod;
                retry[nretry].argv[0] = vc->cli;
                retry[nretry].argv[1] = "status";
                retry[nretry].argv[2] = "-format=json";
                retry_index[nretry++] = index[k];
            } else {
                p->exec_error = strdup(c->error.msg);
            }
            continue;
        }
        struct error perr = {0};
        if (doctor_parse_pod_output(c->out ? c->out : "", c->out_len, marker, c->err_out, p,
                                    &perr) < 0 &&
            !p->have_status && p->exec_error == NULL) {
            char line[300];
            vault_error_summary(c->err_out, line, sizeof line);
            p->exec_error = report_error(perr.msg, c->exit_code, line);
        }
    }
    if (nretry > 0) {
        vault_call_run(kube, vc, retry, nretry);
        for (size_t k = 0; k < nretry; k++) {
            struct doctor_pod *p = &f->pods[retry_index[k]];
            struct vault_call *c = &retry[k];
            if (!c->ran)
                p->exec_error = strdup(c->error.msg);
            else
                p->have_status = vault_status_from_call(c, &p->st, &p->status_error);
            vault_call_clear(c);
        }
    }
    free(retry);
    free(retry_index);

    /* The raft state. */
    if (n > npods_calls) {
        struct vault_call *pc = &calls[npods_calls];
        const char *pod = vc->pods[rp].name;
        struct error perr = {0};
        if (!pc->ran && no_shell_error(pc->error.msg))
            f->raft_skip = "the image has no shell: the token cannot reach the CLI on stdin";
        else if (!pc->ran || pc->exit_code != 0)
            f->raft_error = summary(pc, "list-peers", pod);
        else if (vault_parse_peers(pc->out, pc->out_len, &f->peers, &perr) < 0)
            f->raft_error = strdup(perr.msg);
        else
            f->have_peers = 1;
        if (n > npods_calls + 1) {
            struct vault_call *ac = &calls[npods_calls + 1];
            if (!ac->ran || ac->exit_code != 0)
                f->autopilot_error = summary(ac, "autopilot state", pod);
            else if (vault_parse_autopilot(ac->out, ac->out_len, &f->autopilot, &perr) < 0)
                f->autopilot_error = strdup(perr.msg);
            else
                f->have_autopilot = 1;
        }
        if (n > npods_calls + 2) {
            struct vault_call *cc = &calls[npods_calls + 2];
            if (!cc->ran || cc->exit_code != 0)
                f->autopilot_config_error = summary(cc, "autopilot get-config", pod);
            else if (doctor_parse_autopilot_config(cc->out ? cc->out : "", cc->out_len,
                                                   &f->autopilot_config, &perr) < 0)
                f->autopilot_config_error = strdup(perr.msg);
            else
                f->have_autopilot_config = 1;
        }
    }
    for (size_t k = 0; k < n; k++)
        vault_call_clear(&calls[k]);
    for (int k = 0; k < 3; k++)
        secret_free(&stdin_bufs[k]);
    for (size_t i = 0; i < vc->npods; i++)
        free(names[i]);
    free(names);
    free(index);
    free(calls);
    return 0;
}
