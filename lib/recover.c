#include "recover.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ops.h"
#include "json.h"
#include "text.h"

/* What is read back from a pod's file at most (peers.json of 64 servers fits). */
#define PEERS_READ_MAX (64 * 1024)
/* The server log read at most: the start of the container's log (where raft
 * prints its initial configuration) and typically all of it. */
#define LOG_READ_MAX (16L * 1024 * 1024)
/* A file under the data folder (the folder is at most 255 bytes: lib/cluster). */
#define LAYOUT_FILE_MAX 320
/* The state of a survivor that this run restarted (recover_mark_restarted). */
#define RESTARTED_STATE "survivor: restarted by this recover"

/* Text from a pod for a message: one line, control bytes as '?', bounded. */
static void clean_copy(char *out, size_t cap, const char *in, size_t len)
{
    size_t n = 0;
    while (len > 0 && isspace((unsigned char)in[len - 1]))
        len--;
    while (len > 0 && isspace((unsigned char)*in))
        in++, len--;
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)in[i];
        out[n++] = c == '\n' ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (cap > 0)
        out[n] = '\0';
}

int recover_valid_id(const char *text, size_t len, char *out, size_t cap)
{
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    while (len > 0 && isspace((unsigned char)*text))
        text++, len--;
    if (len == 0 || len >= RECOVER_ID_MAX || len >= cap)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return 0;
    }
    memcpy(out, text, len);
    out[len] = '\0';
    return 1;
}

/* host:port with a DNS name or IPv4 host, as raft addresses are with the chart. */
static int valid_address(const char *s, size_t len)
{
    if (len == 0 || len >= RECOVER_ADDR_MAX)
        return 0;
    const char *colon = memchr(s, ':', len);
    if (colon == NULL || colon == s || (size_t)(colon - s) + 1 >= len)
        return 0;
    for (const char *p = s; p < colon; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
            return 0;
    for (const char *p = colon + 1; p < s + len; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return 1;
}

/* --- the configuration in a server log ----------------------------------------------------- */

/* The value of key=... on a line: a Go-quoted string or a bare word. */
static int field_value(const char *line, size_t len, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl < len; i++) {
        if ((i > 0 && line[i - 1] != ' ') || memcmp(line + i, key, kl) != 0 || line[i + kl] != '=')
            continue;
        const char *v = line + i + kl + 1, *end = line + len;
        size_t n = 0;
        if (v < end && *v == '"') {
            for (v++; v < end && *v != '"'; v++) {
                if (*v == '\\' && v + 1 < end)
                    v++;
                if (n + 1 >= cap)
                    return 0;
                out[n++] = *v;
            }
            if (v >= end)
                return 0; /* unterminated */
        } else {
            for (; v < end && *v != ' '; v++) {
                if (n + 1 >= cap)
                    return 0;
                out[n++] = *v;
            }
        }
        out[n] = '\0';
        return 1;
    }
    return 0;
}

/* "[{Suffrage:Voter ID:x Address:y} {...}]" (hashicorp/raft's %+v of []Server)
 * or, with plain, "{[{Voter x y} ...]}" (%v of a Configuration). */
static int parse_servers(const char *s, int plain, struct raft_config *cfg)
{
    cfg->n = 0;
    const char *p = s;
    if (plain) {
        if (strncmp(p, "{[", 2) != 0)
            return 0;
        p += 2;
    } else {
        if (*p != '[')
            return 0;
        p++;
    }
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == ']')
            break;
        if (*p != '{')
            return 0;
        const char *close = strchr(p, '}');
        if (close == NULL || cfg->n >= RECOVER_SERVERS_MAX)
            return 0;
        char item[512];
        size_t il = (size_t)(close - p - 1);
        if (il >= sizeof item)
            return 0;
        memcpy(item, p + 1, il);
        item[il] = '\0';
        char suffrage[32], id[RECOVER_ID_MAX + 8], addr[RECOVER_ADDR_MAX + 8];
        if (plain) {
            if (sscanf(item, "%31s %136s %307s", suffrage, id, addr) != 3)
                return 0;
        } else {
            const char *a = strstr(item, " ID:"), *b = strstr(item, " Address:");
            if (strncmp(item, "Suffrage:", 9) != 0 || a == NULL || b == NULL || b < a)
                return 0;
            snprintf(suffrage, sizeof suffrage, "%.*s", (int)(a - item - 9), item + 9);
            snprintf(id, sizeof id, "%.*s", (int)(b - a - 4), a + 4);
            snprintf(addr, sizeof addr, "%s", b + 9);
        }
        struct raft_server *sv = &cfg->servers[cfg->n];
        if (!recover_valid_id(id, strlen(id), sv->id, sizeof sv->id) ||
            !valid_address(addr, strlen(addr)))
            return 0;
        memcpy(sv->address, addr, strlen(addr) + 1); /* < RECOVER_ADDR_MAX: checked */
        sv->voter = strcmp(suffrage, "Voter") == 0;
        if (!sv->voter && strcmp(suffrage, "Nonvoter") != 0 && strcmp(suffrage, "Staging") != 0)
            return 0;
        cfg->n++;
        p = close + 1;
    }
    if (plain && strcmp(p, "]}") != 0)
        return 0;
    if (!plain && strcmp(p, "]") != 0)
        return 0;
    return cfg->n > 0;
}

int recover_config_from_log(const char *log, size_t len, struct raft_config *cfg)
{
    int found = 0;
    struct raft_config *tmp = calloc(1, sizeof *tmp);
    char *value = malloc(RECOVER_SERVERS_MAX * 512);
    if (tmp == NULL || value == NULL) {
        free(tmp);
        free(value);
        return 0;
    }
    const char *end = log + len;
    for (const char *line = log; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);
        const char *key = NULL;
        int plain = 0;
        const char *msg = NULL;
        if ((msg = memmem(line, ll, "initial configuration: ", 23)) != NULL ||
            (msg = memmem(line, ll, "updating configuration: ", 24)) != NULL)
            key = "servers";
        else if ((msg = memmem(line, ll, "raft recovery found new config: ", 32)) != NULL ||
                 (msg = memmem(line, ll, "raft recovery: found new config: ", 33)) != NULL)
            key = "config", plain = 1;
        if (key != NULL &&
            field_value(msg, ll - (size_t)(msg - line), key, value, RECOVER_SERVERS_MAX * 512) &&
            parse_servers(value, plain, tmp)) {
            /* hclog: "2026-01-05T09:12:44.512Z [INFO]  ..." */
            const char *space = memchr(line, ' ', ll);
            size_t sl = space ? (size_t)(space - line) : ll;
            tmp->stamp[0] = '\0';
            if (sl < ll && sl < sizeof tmp->stamp && isdigit((unsigned char)line[0]))
                snprintf(tmp->stamp, sizeof tmp->stamp, "%.*s", (int)sl, line);
            *cfg = *tmp;
            found = 1;
        }
        line += ll + 1;
    }
    free(tmp);
    free(value);
    return found;
}

/* --- gathering ----------------------------------------------------------------------------- */

/* A server config is a few kilobytes; the chart's ConfigMap holds at most 1 MiB. */
#define CONFIG_READ_MAX (1024 * 1024)

int recover_read_server_config(struct kube_client *kube, struct vault_cluster *vc)
{
    struct vault_call *calls = calloc(vc->npods + 1, sizeof *calls);
    if (calls == NULL || vc->config_path == NULL) {
        free(calls);
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        if (!vc->pods[i].exists || !vc->pods[i].running)
            continue;
        calls[n].pod = vc->pods[i].name;
        calls[n].argv[0] = "cat";
        calls[n].argv[1] = vc->config_path;
        n++;
    }
    vault_call_run(kube, vc, calls, n);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        struct vault_call *c = &calls[i];
        if (!found && c->ran && c->exit_code == 0 && c->out != NULL)
            found = cluster_use_server_config(
                vc, c->out, c->out_len < CONFIG_READ_MAX ? c->out_len : CONFIG_READ_MAX);
        vault_call_clear(c);
    }
    free(calls);
    return found;
}

void recover_facts_clear(struct recover_facts *facts, size_t n)
{
    for (size_t i = 0; facts != NULL && i < n; i++) {
        free(facts[i].peers_text);
        facts[i].peers_text = NULL;
    }
}

/* "executable file not found" and friends: the image lacks the tool. */
static int missing_tool(const struct vault_call *c)
{
    return !c->ran && strstr(c->error.msg, "not found") != NULL;
}

int recover_gather(struct kube_client *kube, const struct vault_cluster *vc,
                   struct recover_facts *facts, struct error *err)
{
    size_t np = vc->npods;
    struct vault_call *calls = calloc(np * 3 + 1, sizeof *calls);
    char(*paths)[2][LAYOUT_FILE_MAX] = calloc(np + 1, sizeof *paths);
    if (calls == NULL || paths == NULL) {
        free(calls);
        free(paths);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    int openbao = vc->product == PRODUCT_OPENBAO;
    const char *dir = vc->data_dir;
    size_t n = 0;
    for (size_t i = 0; i < np; i++) {
        memset(&facts[i], 0, sizeof facts[i]);
        facts[i].peers_json = -1;
        if (!vc->pods[i].exists || !vc->pods[i].running)
            continue;
        facts[i].asked = 1;
        snprintf(paths[i][0], sizeof paths[i][0], "%s/node-id", dir);
        snprintf(paths[i][1], sizeof paths[i][1], "%s/raft/peers.json", dir);
        struct vault_call *c = &calls[n++];
        c->pod = vc->pods[i].name;
        c->argv[0] = "printenv";
        c->argv[1] = vc->node_id_env;
        c->argv[2] = openbao ? "VAULT_RAFT_NODE_ID" : NULL; /* OpenBao falls back to it */
        for (int k = 0; k < 2; k++) {
            c = &calls[n++];
            c->pod = vc->pods[i].name;
            c->argv[0] = "cat";
            c->argv[1] = paths[i][k];
        }
    }
    vault_call_run(kube, vc, calls, n);
    size_t k = 0;
    for (size_t i = 0; i < np; i++) {
        struct recover_facts *f = &facts[i];
        if (!f->asked)
            continue;
        struct vault_call *env = &calls[k++], *file = &calls[k++], *peers = &calls[k++];
        if (env->ran && env->exit_code == 0 && env->out != NULL) {
            size_t l = strcspn(env->out, "\n");
            if (!recover_valid_id(env->out, l, f->env_id, sizeof f->env_id))
                snprintf(f->id_error, sizeof f->id_error,
                         "its raft node id variable holds unexpected bytes");
        }
        if (file->ran && file->exit_code == 0 && file->out != NULL) {
            if (!recover_valid_id(file->out, file->out_len, f->file_id, sizeof f->file_id))
                snprintf(f->id_error, sizeof f->id_error, "%s/node-id holds unexpected bytes", dir);
        } else if (missing_tool(file) || missing_tool(env)) {
            snprintf(f->id_error, sizeof f->id_error,
                     "the image has no cat or printenv (distroless?): its files cannot be read "
                     "or written");
        }
        if (peers->ran && peers->exit_code == 0) {
            f->peers_json = 1;
            size_t l = peers->out_len < PEERS_READ_MAX ? peers->out_len : PEERS_READ_MAX;
            f->peers_text = strndup(peers->out ? peers->out : "", l);
        } else if (peers->ran && peers->err_out != NULL &&
                   strstr(peers->err_out, "No such file") != NULL) {
            f->peers_json = 0;
        }
        for (int j = 0; j < 3; j++)
            vault_call_clear(&calls[k - 3 + (size_t)j]);
    }
    free(calls);
    free(paths);
    /* The server logs (the configuration) and the data PVCs. */
    char *ns = kube_urlencode(vc->namespace), *container = kube_urlencode(vc->container);
    for (size_t i = 0; i < np; i++) {
        struct recover_facts *f = &facts[i];
        char *name = kube_urlencode(vc->pods[i].name);
        char path[1024];
        struct error e = {0};
        if (f->asked && name != NULL) {
            snprintf(path, sizeof path,
                     "/api/v1/namespaces/%s/pods/%s/log?container=%s&limitBytes=%ld", ns, name,
                     container, LOG_READ_MAX);
            char *log = NULL;
            if (kube_get_text(kube, path, &log, &e) < 0)
                clean_copy(f->log_error, sizeof f->log_error, e.msg, strlen(e.msg));
            else
                f->have_log_config = recover_config_from_log(log, strlen(log), &f->log_config);
            free(log);
        }
        char *claim = NULL;
        if (name != NULL && asprintf(&claim, "data-%s", vc->pods[i].name) >= 0) {
            char *cq = kube_urlencode(claim);
            snprintf(path, sizeof path, "/api/v1/namespaces/%s/persistentvolumeclaims/%s", ns, cq);
            json_t *pvc = NULL;
            error_clear(&e);
            if (kube_get(kube, path, &pvc, &e) == 0) {
                const char *phase = jpath_str(pvc, "status", "phase");
                clean_copy(f->pvc_phase, sizeof f->pvc_phase, phase ? phase : "",
                           phase ? strlen(phase) : 0);
            } else if (e.http_status == 404) {
                snprintf(f->pvc_phase, sizeof f->pvc_phase, "missing");
            }
            json_decref(pvc);
            free(cq);
            free(claim);
        }
        free(name);
    }
    free(ns);
    free(container);
    return 0;
}

/* --- judging ------------------------------------------------------------------------------- */

void recover_plan_clear(struct recover_plan *plan)
{
    free(plan->peers_json);
    plan->peers_json = NULL;
}

char *recover_peers_json(const struct raft_server *servers, size_t n)
{
    json_t *arr = json_array();
    /* A member missing from peers.json would be dropped from the cluster: every append
     * is checked, a failed one fails the whole (ids and addresses are UTF-8 by now). */
    for (size_t i = 0; arr != NULL && i < n; i++)
        if (json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "id", servers[i].id, "address",
                                                 servers[i].address, "non_voter", 0)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    if (arr == NULL)
        return NULL;
    char *text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(arr);
    if (text == NULL)
        return NULL;
    char *out = NULL;
    if (asprintf(&out, "%s\n", text) < 0)
        out = NULL;
    free(text);
    return out;
}

/* The pod a raft address names, by index; -1 when none. */
static int pod_of_address(const struct vault_cluster *vc, const char *address)
{
    struct vault_pod *p = cluster_pod_for_address((struct vault_cluster *)vc, address);
    return p ? (int)(p - vc->pods) : -1;
}

/* Why a pod is gone, or "" when it runs. */
static void gone_reason(const struct vault_cluster *vc, const struct recover_facts *facts, int pod,
                        char *buf, size_t cap)
{
    buf[0] = '\0';
    if (pod < 0) {
        snprintf(buf, cap, "no pod of the StatefulSet has this address");
        return;
    }
    const struct vault_pod *p = &vc->pods[pod];
    const char *pvc = facts[pod].pvc_phase;
    if (!p->exists)
        snprintf(buf, cap, "no pod");
    else if (p->terminating)
        snprintf(buf, cap, "terminating");
    else if (!p->running)
        /* the reason's word only: "Unschedulable", not the scheduler's whole message */
        snprintf(buf, cap, "%s%s%.*s%s", p->phase, p->reason ? " (" : "",
                 p->reason ? (int)strcspn(p->reason, ":") : 0, p->reason ? p->reason : "",
                 p->reason ? ")" : "");
    if (strcmp(pvc, "missing") == 0)
        text_appendf(buf, cap, NULL, "%sno PVC data-%s", buf[0] ? "; " : "", p->name);
    else if (pvc[0] != '\0' && strcmp(pvc, "Bound") != 0)
        text_appendf(buf, cap, NULL, "%sPVC data-%s is %s", buf[0] ? "; " : "", p->name, pvc);
}

/* The pod's node id as Vault takes it: the environment, else the node-id file. */
static const char *pod_node_id(const struct recover_facts *facts, int pod)
{
    return facts[pod].env_id[0] ? facts[pod].env_id : facts[pod].file_id;
}

/* Of the members whose address names pod, the one that is that pod: the one
 * with the pod's node id, else the one that names it by its DNS name, else the first. */
static int pod_owner(const struct vault_cluster *vc, const struct recover_facts *facts,
                     const struct recover_plan *plan, int pod)
{
    const char *id = pod_node_id(facts, pod), *name = vc->pods[pod].name;
    int by_name = -1, first = -1;
    for (size_t m = 0; m < plan->n; m++) {
        const struct raft_server *s = &plan->members[m].server;
        if (plan->members[m].pod != pod)
            continue;
        if (id[0] != '\0' && strcmp(s->id, id) == 0)
            return (int)m;
        if (by_name < 0 && strncmp(s->address, name, strlen(name)) == 0 &&
            s->address[strlen(name)] == '.')
            by_name = (int)m;
        if (first < 0)
            first = (int)m;
    }
    return by_name >= 0 ? by_name : first;
}

void recover_judge(const struct vault_cluster *vc, const struct pod_view *views,
                   const struct recover_facts *facts, const char *prog, struct recover_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->best = -1;
    /* 1. A node is active: quorum holds. */
    long ai = vault_active_index(views, vc->npods);
    if (ai >= 0) {
        plan->verdict = RECOVER_ACTIVE;
        snprintf(plan->why, sizeof plan->why,
                 "quorum is not lost: %s is active; see `%s status` or `%s doctor`",
                 vc->pods[ai].name, prog, prog);
        return;
    }
    /* 2. The last configuration: the newest one a pod's log shows, else the StatefulSet. */
    int from = -1;
    for (size_t i = 0; i < vc->npods; i++)
        if (facts[i].have_log_config &&
            (from < 0 || strcmp(facts[i].log_config.stamp, facts[from].log_config.stamp) > 0))
            from = (int)i;
    if (from >= 0) {
        const struct raft_config *c = &facts[from].log_config;
        plan->config = *c;
        snprintf(plan->from_pod, sizeof plan->from_pod, "%s", vc->pods[from].name);
        for (size_t k = 0; k < c->n && plan->n < RECOVER_SERVERS_MAX; k++)
            plan->members[plan->n++].server = c->servers[k];
        snprintf(plan->source, sizeof plan->source, "from %s's server log%s%s", vc->pods[from].name,
                 c->stamp[0] ? ", " : "", c->stamp);
    } else {
        plan->assumed = 1;
        for (size_t i = 0; i < vc->npods && plan->n < RECOVER_SERVERS_MAX; i++) {
            if (vc->pods[i].ordinal >= vc->replicas)
                continue;
            struct raft_server *s = &plan->members[plan->n++].server;
            snprintf(s->address, sizeof s->address, "%s.%s:8201", vc->pods[i].name,
                     vc->service_name ? vc->service_name : "vault-internal");
            s->voter = 1;
        }
        snprintf(plan->source, sizeof plan->source,
                 "assumed from the StatefulSet: no pod's server log shows it");
    }
    /* 3. What became of each server: one member per pod. */
    for (size_t m = 0; m < plan->n; m++) {
        plan->members[m].pod = pod_of_address(vc, plan->members[m].server.address);
        plan->members[m].same_pod_as = -1;
    }
    for (size_t m = 0; m < plan->n; m++) {
        struct recover_member *mb = &plan->members[m];
        if (mb->pod < 0)
            continue;
        int owner = pod_owner(vc, facts, plan, mb->pod);
        if (owner == (int)m)
            continue;
        /* raft refuses a peers.json that lists a node twice, and the survivor then
         * cannot start: the other entry is an old one (another id, an old IP). */
        mb->same_pod_as = owner;
        snprintf(mb->state, sizeof mb->state, "lost: an old entry: %s is %s in this configuration",
                 vc->pods[mb->pod].name, plan->members[owner].server.address);
        mb->pod = -1;
    }
    int unknown = 0, running_voters = 0, unsealed_voters = 0;
    char unreadable[300] = "";
    for (size_t m = 0; m < plan->n; m++) {
        struct recover_member *mb = &plan->members[m];
        mb->index = -1;
        plan->voters += mb->server.voter;
        if (mb->same_pod_as >= 0)
            continue;
        if (mb->pod >= 0)
            snprintf(mb->name, sizeof mb->name, "%s", vc->pods[mb->pod].name);
        if (mb->pod >= 0 && facts[mb->pod].restarted) {
            /* Down or sealed because we restarted it: it reads peers.json at its unseal. */
            snprintf(mb->local_id, sizeof mb->local_id, "%s", pod_node_id(facts, mb->pod));
            if (mb->server.id[0] == '\0')
                snprintf(mb->server.id, sizeof mb->server.id, "%s", mb->local_id);
            mb->survivor = 1;
            running_voters += mb->server.voter;
            plan->survivors++;
            snprintf(mb->state, sizeof mb->state, "%s", RESTARTED_STATE);
            continue;
        }
        char gone[200];
        gone_reason(vc, facts, mb->pod, gone, sizeof gone);
        if (gone[0] != '\0') {
            snprintf(mb->state, sizeof mb->state, "lost: %s", gone);
            continue;
        }
        const struct pod_view *v = &views[mb->pod];
        const struct recover_facts *f = &facts[mb->pod];
        const char *name = vc->pods[mb->pod].name;
        if (!v->have_status) {
            unknown++;
            text_appendf(unreadable, sizeof unreadable, NULL, "%s%s", unreadable[0] ? ", " : "",
                         name);
            snprintf(mb->state, sizeof mb->state, "unknown: vault status not readable");
            continue;
        }
        if (!v->st.initialized) {
            snprintf(mb->state, sizeof mb->state, "lost: running with empty storage");
            continue;
        }
        const char *id = pod_node_id(facts, mb->pod);
        if (id[0] == '\0') {
            unknown++;
            text_appendf(unreadable, sizeof unreadable, NULL, "%s%s", unreadable[0] ? ", " : "",
                         name);
            snprintf(mb->state, sizeof mb->state, "unknown: node id not readable (%s)",
                     f->id_error[0] ? f->id_error : "no node-id file, no node id variable");
            continue;
        }
        snprintf(mb->local_id, sizeof mb->local_id, "%s", id);
        if (mb->server.id[0] == '\0')
            snprintf(mb->server.id, sizeof mb->server.id, "%s", id);
        mb->survivor = 1;
        mb->unsealed = !v->st.sealed;
        running_voters += mb->server.voter;
        unsealed_voters += mb->server.voter && mb->unsealed;
        if (mb->unsealed && v->st.raft_committed_index > 0)
            mb->index = v->st.raft_committed_index;
        snprintf(mb->state, sizeof mb->state, "survivor: %s",
                 mb->unsealed ? "unsealed standby" : "sealed");
        if (strcmp(mb->local_id, mb->server.id) != 0)
            text_appendf(mb->state, sizeof mb->state, NULL,
                         "; its node id is %s, not the configuration's (it uses its own)",
                         mb->local_id);
        plan->survivors++;
        if (mb->index >= 0 && (plan->best < 0 || mb->index > plan->members[plan->best].index))
            plan->best = (int)m;
    }
    /* Pods with raft data that the configuration does not list. */
    for (size_t i = 0; i < vc->npods; i++) {
        int listed = 0;
        for (size_t m = 0; m < plan->n; m++)
            listed |= plan->members[m].pod == (int)i;
        if (!listed && views[i].have_status && views[i].st.initialized)
            text_appendf(plan->extra, sizeof plan->extra, NULL, "%s%s", plan->extra[0] ? ", " : "",
                         vc->pods[i].name);
    }
    plan->quorum = plan->voters / 2 + 1;
    if (running_voters >= plan->quorum) {
        plan->verdict = RECOVER_QUORUM;
        if (unsealed_voters >= plan->quorum)
            snprintf(plan->why, sizeof plan->why,
                     "quorum is not lost: %d of %d voters are running and unsealed (a leader "
                     "election may be under way); see `%s status` or `%s doctor`",
                     unsealed_voters, plan->voters, prog, prog);
        else
            snprintf(plan->why, sizeof plan->why,
                     "quorum is not lost: %d of %d voters are running with their data, %d of "
                     "them sealed: unseal them with `%s unseal`; see `%s status` or `%s doctor`",
                     running_voters, plan->voters, running_voters - unsealed_voters, prog, prog,
                     prog);
        return;
    }
    if (unknown > 0) {
        plan->verdict = RECOVER_UNKNOWN;
        snprintf(plan->why, sizeof plan->why,
                 "cannot tell whether quorum is lost: %s could not be read; see `%s status`",
                 unreadable, prog);
        return;
    }
    if (plan->survivors == 0) {
        plan->verdict = RECOVER_NO_SURVIVOR;
        snprintf(plan->why, sizeof plan->why,
                 "no running pod holds raft data: there is nothing to recover from; restore a "
                 "snapshot into a new cluster (`%s bootstrap`, then `%s snapshot restore FILE`)",
                 prog, prog);
        return;
    }
    /* No log showed the configuration: its voters and addresses are a guess
     * (another service name, an IP, an old member), and a wrong peers.json
     * leaves a cluster that cannot start. Raft prints the configuration at start. */
    if (plan->assumed) {
        char sealed[300] = "", unsealed[300] = "", how[700];
        for (size_t m = 0; m < plan->n; m++) {
            char *list = plan->members[m].unsealed ? unsealed : sealed;
            if (plan->members[m].survivor)
                text_appendf(list, sizeof sealed, NULL, "%s%s", list[0] ? " " : "",
                             plan->members[m].name);
        }
        if (sealed[0] != '\0')
            snprintf(how, sizeof how, "unseal %s (`%s unseal`)", sealed, prog);
        else
            snprintf(how, sizeof how,
                     "restart an unsealed survivor (`kubectl -n %s delete pod %.*s`) and unseal "
                     "it (`%s unseal`)",
                     vc->namespace, (int)strcspn(unsealed, " "), unsealed, prog);
        plan->verdict = RECOVER_UNCONFIRMED;
        snprintf(plan->why, sizeof plan->why,
                 "no pod's server log shows the raft configuration, so its members and addresses "
                 "cannot be confirmed (recover does not assume <pod>.%s:8201): raft prints it "
                 "when it starts: %s, then run `%s recover` again",
                 vc->service_name ? vc->service_name : "<service>", how, prog);
        return;
    }
    /* Two pods with one node id (a copied volume): raft would refuse the list. */
    for (size_t m = 0; m < plan->n; m++)
        for (size_t k = m + 1; plan->members[m].survivor && k < plan->n; k++)
            if (plan->members[k].survivor &&
                strcmp(plan->members[m].local_id, plan->members[k].local_id) == 0) {
                plan->verdict = RECOVER_UNKNOWN;
                snprintf(plan->why, sizeof plan->why,
                         "%s and %s both use the node id %s: raft refuses a configuration that "
                         "lists an id twice; find out which pod's data is the right one (`%s "
                         "status`) before recovering",
                         vc->pods[plan->members[m].pod].name, vc->pods[plan->members[k].pod].name,
                         plan->members[m].local_id, prog);
                return;
            }
    /* 4. peers.json: the survivors, all voters. */
    struct raft_server list[RECOVER_SERVERS_MAX];
    size_t nl = 0;
    for (size_t m = 0; m < plan->n; m++)
        if (plan->members[m].survivor) {
            list[nl] = plan->members[m].server;
            snprintf(list[nl].id, sizeof list[nl].id, "%s", plan->members[m].local_id);
            list[nl].voter = 1;
            nl++;
        }
    plan->peers_json = recover_peers_json(list, nl);
    for (size_t m = 0; m < plan->n; m++) {
        struct recover_member *mb = &plan->members[m];
        const struct recover_facts *f = mb->survivor ? &facts[mb->pod] : NULL;
        if (f != NULL && f->peers_json == 1)
            mb->peers_state =
                plan->peers_json && f->peers_text && strcmp(f->peers_text, plan->peers_json) == 0
                    ? 2
                    : 1;
    }
    plan->verdict = plan->peers_json ? RECOVER_GO : RECOVER_UNKNOWN;
}

void recover_mark_restarted(const struct vault_cluster *vc, struct recover_facts *facts,
                            const struct recover_plan *was, const char *const *names, size_t n)
{
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < vc->npods; i++) {
            if (strcmp(vc->pods[i].name, names[k]) != 0)
                continue;
            facts[i].restarted = 1;
            if (was->config.n > 0 && strcmp(was->from_pod, names[k]) == 0 &&
                (!facts[i].have_log_config ||
                 strcmp(facts[i].log_config.stamp, was->config.stamp) < 0)) {
                facts[i].log_config = was->config;
                facts[i].have_log_config = 1;
            }
            for (size_t m = 0; m < was->n; m++)
                if (was->members[m].survivor && strcmp(was->members[m].name, names[k]) == 0) {
                    /* the id it had: the pod may not run yet to show it */
                    snprintf(facts[i].env_id, sizeof facts[i].env_id, "%s",
                             was->members[m].local_id);
                    facts[i].file_id[0] = '\0';
                }
        }
}

/* "vault-0 (node id x), vault-1 (node id y)": the survivors of a plan. */
static void survivor_list(const struct recover_plan *p, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t m = 0; m < p->n; m++)
        if (p->members[m].survivor)
            text_appendf(buf, cap, NULL, "%s%s (node id %s)", buf[0] ? ", " : "",
                         p->members[m].name, p->members[m].local_id);
    if (buf[0] == '\0')
        snprintf(buf, cap, "none");
}

static const struct recover_member *survivor_named(const struct recover_plan *p, const char *name)
{
    for (size_t m = 0; m < p->n; m++)
        if (p->members[m].survivor && strcmp(p->members[m].name, name) == 0)
            return &p->members[m];
    return NULL;
}

int recover_plan_changed(const struct recover_plan *was, const struct recover_plan *now, char *what,
                         size_t cap)
{
    what[0] = '\0';
    if (now->verdict != RECOVER_GO) {
        snprintf(what, cap, "%s", now->why);
        return 1;
    }
    char a[600], b[600];
    survivor_list(was, a, sizeof a);
    survivor_list(now, b, sizeof b);
    if (strcmp(a, b) != 0) {
        snprintf(what, cap, "the survivors were %s; they are %s now", a, b);
        return 1;
    }
    for (size_t m = 0; m < now->n; m++) {
        const struct recover_member *n = &now->members[m];
        const struct recover_member *w = n->survivor ? survivor_named(was, n->name) : NULL;
        /* a survivor restarted by this run is down or sealed on purpose */
        if (w != NULL && strcmp(n->state, RESTARTED_STATE) != 0 && w->unsealed != n->unsealed) {
            snprintf(what, cap, "%s was %s; it is %s now", n->name,
                     w->unsealed ? "unsealed" : "sealed", n->unsealed ? "unsealed" : "sealed");
            return 1;
        }
    }
    if (was->peers_json == NULL || now->peers_json == NULL ||
        strcmp(was->peers_json, now->peers_json) != 0) {
        snprintf(what, cap, "the raft configuration changed (now %s): peers.json would differ",
                 now->source);
        return 1;
    }
    return 0;
}

/* --- apply steps --------------------------------------------------------------------------- */

/* The write, in the pod's shell (busybox ash or dash): $0 the data folder, $1
 * the byte count; the content on stdin, read to exactly that many bytes (exec
 * v4 cannot close stdin). A temp file in the raft folder, owned like that
 * folder when we run as root (the chart runs exec as the vault user already),
 * renamed over peers.json, then printed for the read-back. Exit 3: the write
 * failed, 4: the ownership, 5: the rename. */
static const char write_script[] =
    "raft=$0/raft; tmp=$raft/.peers.json.vault-ha; umask 077\n"
    "head -c \"$1\" | tee \"$tmp\" >/dev/null || { rm -f \"$tmp\"; exit 3; }\n"
    "if [ \"$(id -u)\" = 0 ]; then\n"
    "  owner=$(stat -c %u:%g \"$raft\") && chown \"$owner\" \"$tmp\" || { rm -f \"$tmp\"; exit 4; "
    "}\n"
    "fi\n"
    "mv -f \"$tmp\" \"$raft/peers.json\" || { rm -f \"$tmp\"; exit 5; }\n"
    "cat \"$raft/peers.json\"\n";

static void step_failure(struct recover_step *s, const struct vault_call *c, const char *what)
{
    char why[400] = "";
    if (!c->ran)
        clean_copy(why, sizeof why, c->error.msg, strlen(c->error.msg));
    else if (c->err_out != NULL && c->err_out[0] != '\0')
        clean_copy(why, sizeof why, c->err_out, strlen(c->err_out));
    else
        snprintf(why, sizeof why, "exit code %d", c->exit_code);
    snprintf(s->detail, sizeof s->detail, "%s: %s", what, why);
    s->ok = 0;
}

void recover_write_peers(struct kube_client *kube, const struct vault_cluster *vc,
                         const char *content, struct recover_step *steps, size_t n)
{
    struct vault_call *calls = calloc(n + 1, sizeof *calls);
    char count[32];
    snprintf(count, sizeof count, "%zu", strlen(content));
    if (calls == NULL) {
        for (size_t i = 0; i < n; i++)
            snprintf(steps[i].detail, sizeof steps[i].detail, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct vault_call *c = &calls[i];
        c->pod = steps[i].pod;
        c->argv[0] = "sh";
        c->argv[1] = "-c";
        c->argv[2] = write_script;
        c->argv[3] = vc->data_dir;
        c->argv[4] = count;
        c->input = content;
        c->input_len = strlen(content);
    }
    vault_call_run(kube, vc, calls, n);
    for (size_t i = 0; i < n; i++) {
        struct vault_call *c = &calls[i];
        steps[i].ok = 1;
        steps[i].detail[0] = '\0';
        if (!c->ran || c->exit_code != 0)
            step_failure(&steps[i], c,
                         c->ran && c->exit_code == 4   ? "cannot give it to the vault user"
                         : c->ran && c->exit_code == 5 ? "cannot rename it into place"
                                                       : "cannot write it");
        else if (c->out == NULL || strcmp(c->out, content) != 0) {
            steps[i].ok = 0;
            snprintf(steps[i].detail, sizeof steps[i].detail,
                     "read back %zu bytes that differ from the %zu written", c->out_len,
                     strlen(content));
        }
        vault_call_clear(c);
    }
    free(calls);
}

static void run_on_file(struct kube_client *kube, const struct vault_cluster *vc, const char *tool,
                        struct recover_step *steps, size_t n, int gone_check)
{
    struct vault_call *calls = calloc(n + 1, sizeof *calls);
    char path[LAYOUT_FILE_MAX];
    snprintf(path, sizeof path, "%s/raft/peers.json", vc->data_dir);
    if (calls == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        struct vault_call *c = &calls[i];
        c->pod = steps[i].pod;
        c->argv[0] = tool;
        if (gone_check) {
            c->argv[1] = path;
        } else {
            c->argv[1] = "-f";
            c->argv[2] = path;
        }
    }
    vault_call_run(kube, vc, calls, n);
    for (size_t i = 0; i < n; i++) {
        struct vault_call *c = &calls[i];
        steps[i].ok = 0;
        steps[i].detail[0] = '\0';
        if (gone_check) {
            if (c->ran && c->exit_code != 0 && c->err_out != NULL &&
                strstr(c->err_out, "No such file") != NULL)
                steps[i].ok = 1;
            else if (c->ran && c->exit_code == 0)
                snprintf(steps[i].detail, sizeof steps[i].detail, "%s is still there", path);
            else
                step_failure(&steps[i], c, "cannot look for it");
        } else if (c->ran && c->exit_code == 0) {
            steps[i].ok = 1;
        } else {
            step_failure(&steps[i], c, "cannot remove it");
        }
        vault_call_clear(c);
    }
    free(calls);
}

void recover_remove_peers(struct kube_client *kube, const struct vault_cluster *vc,
                          struct recover_step *steps, size_t n)
{
    run_on_file(kube, vc, "rm", steps, n, 0);
}

void recover_check_gone(struct kube_client *kube, const struct vault_cluster *vc,
                        struct recover_step *steps, size_t n)
{
    run_on_file(kube, vc, "cat", steps, n, 1);
}

void recover_delete_pods(struct kube_client *kube, const struct vault_cluster *vc,
                         struct recover_step *steps, size_t n)
{
    char *ns = kube_urlencode(vc->namespace);
    for (size_t i = 0; i < n; i++) {
        char *name = kube_urlencode(steps[i].pod);
        char path[512];
        struct error e = {0};
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", ns ? ns : "",
                 name ? name : "");
        steps[i].ok = kube_delete(kube, path, NULL, &e) == 0;
        steps[i].detail[0] = '\0';
        if (!steps[i].ok)
            clean_copy(steps[i].detail, sizeof steps[i].detail, e.msg, strlen(e.msg));
        free(name);
    }
    free(ns);
}
