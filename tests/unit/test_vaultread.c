/* lib/vaultread and lib/kube's pods/proxy against a small HTTP server in this
 * process: what passes through (Vault's 307, 503), what is the API server's
 * own error (Status 403), the token only in a header and wiped, the per-run
 * decision (one SelfSubjectAccessReview), and a standby's redirect answered
 * by asking the pod it names (docs/kubernetes.md §8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "curlmem.h"
#include "kube.h"
#include "secret.h"
#include "vaultread.h"

/* --- a one-connection-at-a-time HTTP server -------------------------------------------------- */

struct route {
    const char *path_part; /* first route whose text is in the request line answers */
    const char *response;  /* the whole HTTP answer */
};

static struct {
    int fd;
    int port;
    pthread_t thread;
    const struct route *routes;
    char log[16384]; /* every request's head, one after the other */
    int requests;
    pthread_mutex_t lock;
} srv;

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(srv.fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[4096] = "";
        size_t len = 0;
        while (len < sizeof req - 1 && strstr(req, "\r\n\r\n") == NULL) {
            ssize_t r = read(c, req + len, sizeof req - 1 - len);
            if (r <= 0)
                break;
            len += (size_t)r;
            req[len] = '\0';
        }
        req[len] = '\0';
        const char *cl = strstr(req, "Content-Length: ");
        char *end = strstr(req, "\r\n\r\n");
        if (cl != NULL && end != NULL) {
            size_t want = (size_t)atol(cl + 16), have = len - (size_t)(end + 4 - req);
            while (have < want && len < sizeof req - 1) {
                ssize_t r = read(c, req + len, sizeof req - 1 - len);
                if (r <= 0)
                    break;
                len += (size_t)r;
                have += (size_t)r;
            }
            req[len] = '\0';
        }
        pthread_mutex_lock(&srv.lock);
        srv.requests++;
        size_t used = strlen(srv.log);
        snprintf(srv.log + used, sizeof srv.log - used, "%s\n----\n", req);
        pthread_mutex_unlock(&srv.lock);
        const char *line_end = strstr(req, "\r\n");
        size_t line_len = line_end ? (size_t)(line_end - req) : len;
        const char *answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\nConnection: "
                             "close\r\n\r\n404 page not found\n";
        for (const struct route *r = srv.routes; r != NULL && r->path_part != NULL; r++) {
            const char *hit = strstr(req, r->path_part);
            if (hit != NULL && (size_t)(hit - req) < line_len) {
                answer = r->response;
                break;
            }
        }
        for (size_t sent = 0, total = strlen(answer); sent < total;) {
            ssize_t w = write(c, answer + sent, total - sent);
            if (w <= 0)
                break; /* the client stopped reading */
            sent += (size_t)w;
        }
        close(c);
    }
}

static void server_start(const struct route *routes)
{
    memset(srv.log, 0, sizeof srv.log);
    srv.requests = 0;
    srv.routes = routes;
    pthread_mutex_init(&srv.lock, NULL);
    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(srv.fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(srv.fd, (struct sockaddr *)&a, &al);
    srv.port = ntohs(a.sin_port);
    assert_int_equal(listen(srv.fd, 16), 0);
    assert_int_equal(pthread_create(&srv.thread, NULL, serve, NULL), 0);
}

static void server_stop(void)
{
    shutdown(srv.fd, SHUT_RDWR);
    close(srv.fd);
    pthread_join(srv.thread, NULL);
    pthread_mutex_destroy(&srv.lock);
}

static char *answer(const char *status_line, const char *extra_headers, const char *body)
{
    char *s = malloc(strlen(body) + 512);
    sprintf(s,
            "HTTP/1.1 %s\r\nContent-Type: application/json\r\nConnection: close\r\n%s"
            "Content-Length: %zu\r\n\r\n%s",
            status_line, extra_headers, strlen(body), body);
    return s;
}

static struct rest_config cfg = {
    .context_name = "test",
    .cluster_name = "test",
    .user_name = "alice",
    .namespace = "vault",
};

static struct kube_client *client_for(enum kube_read_via via, char *server, size_t cap)
{
    snprintf(server, cap, "http://127.0.0.1:%d", srv.port);
    cfg.server = server;
    struct kube_client *c = NULL;
    struct error err = {0};
    struct kube_client_options o = {.request_timeout_ms = 5000, .max_retries = 0, .read_via = via};
    assert_int_equal(kube_client_new(&cfg, &o, &c, &err), 0);
    return c;
}

static int count(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* --- kube_proxy_get ----------------------------------------------------------------------------
 */

static const char *STATUS_403 =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
    "\"message\":\"pods \\\"vault-0:8200\\\" is forbidden: User \\\"alice\\\" cannot get "
    "resource \\\"pods/proxy\\\" in API group \\\"\\\" in the namespace \\\"vault\\\"\","
    "\"reason\":\"Forbidden\",\"details\":{\"name\":\"vault-0:8200\",\"kind\":\"pods\"},"
    "\"code\":403}";

static void test_proxy_get_passes_the_pods_answer_and_never_follows(void **state)
{
    (void)state;
    char *redirect =
        answer("307 Temporary Redirect",
               "Location: http://10.244.1.17:8200/v1/sys/storage/raft/snapshot\r\n", "");
    char *sealed = answer("503 Service Unavailable", "", "{\"errors\":[\"Vault is sealed\"]}");
    char *denied = answer("403 Forbidden", "", STATUS_403);
    struct route routes[] = {{"vault-1:8200/proxy/v1/sys/storage", redirect},
                             {"vault-2:8200/proxy/v1/sys/leader", sealed},
                             {"vault-0:8200/proxy", denied},
                             {NULL, NULL}};
    server_start(routes);
    char server[64];
    struct kube_client *c = client_for(KUBE_READ_AUTO, server, sizeof server);
    struct secret tok = {0};
    struct error err = {0};
    assert_int_equal(secret_from(&tok, "hvs.TOKEN-MARKER-77", 19, &err), 0);
    struct kube_proxy_answer a;
    assert_int_equal(
        kube_proxy_get(c, "vault", "vault-1:8200", "/v1/sys/storage/raft/snapshot", &tok, &a, &err),
        0);
    assert_int_equal(a.status, 307);
    assert_string_equal(a.location, "http://10.244.1.17:8200/v1/sys/storage/raft/snapshot");
    kube_proxy_answer_clear(&a);
    assert_int_equal(srv.requests, 1); /* not followed */
    assert_non_null(strstr(srv.log, "GET /api/v1/namespaces/vault/pods/vault-1:8200/proxy/v1/sys/"
                                    "storage/raft/snapshot HTTP/1.1\r\n"));
    assert_non_null(strstr(srv.log, "\r\nX-Vault-Token: hvs.TOKEN-MARKER-77\r\n"));
    assert_int_equal(count(srv.log, "TOKEN-MARKER"), 1); /* in that header only */

    /* Vault's own 503 passes; the API server's 403 (a Status) is an RBAC error. */
    assert_int_equal(kube_proxy_get(c, "vault", "vault-2:8200", "/v1/sys/leader", NULL, &a, &err),
                     0);
    assert_int_equal(a.status, 503);
    assert_string_equal(a.body, "{\"errors\":[\"Vault is sealed\"]}");
    kube_proxy_answer_clear(&a);
    assert_int_equal(
        kube_proxy_get(c, "vault", "vault-0:8200", "/v1/sys/seal-status", NULL, &a, &err), -1);
    assert_int_equal(err.kind, ERR_FORBIDDEN);
    assert_int_equal(err.http_status, 403);
    assert_string_equal(err.msg,
                        "RBAC denies \"get\" on resource \"pods/proxy\" in namespace \"vault\": "
                        "grant verb \"get\" on \"pods/proxy\" to this user (API server: pods "
                        "\"vault-0:8200\" is forbidden: User \"alice\" cannot get resource "
                        "\"pods/proxy\" in API group \"\" in the namespace \"vault\")");

    /* A token that would end the header line is refused before anything is sent. */
    struct secret bad = {0};
    assert_int_equal(secret_from(&bad, "hvs.x\r\nX-Evil: 1", 16, &err), 0);
    int before = srv.requests;
    assert_int_equal(kube_proxy_get(c, "vault", "vault-1:8200", "/v1/sys/leader", &bad, &a, &err),
                     -1);
    assert_int_equal(srv.requests, before);
    secret_free(&bad);
    kube_client_free(c);
    server_stop();
    free(redirect), free(sealed), free(denied);

    /* The header list that carried the token is wiped (port 1 refuses: libcurl's own
     * copy of a sent request is beyond reach, as for Authorization). */
    struct rest_config refused = cfg;
    refused.server = "http://127.0.0.1:1";
    struct kube_client_options o = {.request_timeout_ms = 5000, .read_via = KUBE_READ_PROXY};
    assert_int_equal(kube_client_new(&refused, &o, &c, &err), 0);
    curlmem_marker = "TOKEN-MARKER-77";
    curlmem_freed_with_marker = 0;
    assert_int_equal(kube_proxy_get(c, "vault", "vault-1:8200", "/v1/sys/leader", &tok, &a, &err),
                     -1);
    curlmem_marker = NULL;
    assert_int_equal(curlmem_freed_with_marker, 0);
    kube_client_free(c);
    secret_free(&tok);
}

static void test_endless_answer_is_cut(void **state)
{
    (void)state;
    size_t big = (4u << 20) + 4096;
    char *body = malloc(big + 1);
    memset(body, 'y', big);
    body[big] = '\0';
    char *endless = answer("200 OK", "", body);
    free(body);
    struct route routes[] = {{"vault-0:8200", endless}, {NULL, NULL}};
    server_start(routes);
    char server[64];
    struct kube_client *c = client_for(KUBE_READ_PROXY, server, sizeof server);
    struct kube_proxy_answer a;
    struct error err = {0};
    assert_int_equal(
        kube_proxy_get(c, "vault", "vault-0:8200", "/v1/sys/seal-status", NULL, &a, &err), -1);
    assert_string_equal(err.msg, "GET /api/v1/namespaces/vault/pods/vault-0:8200/proxy/v1/sys/"
                                 "seal-status: answer larger than 4194304 bytes");
    kube_client_free(c);
    server_stop();
    free(endless);
}

static void test_decision_once_per_namespace(void **state)
{
    (void)state;
    char *no = answer("201 Created", "",
                      "{\"kind\":\"SelfSubjectAccessReview\",\"status\":{\"allowed\":false}}");
    struct route routes[] = {{"selfsubjectaccessreviews", no}, {NULL, NULL}};
    server_start(routes);
    char server[64];
    struct kube_client *c = client_for(KUBE_READ_AUTO, server, sizeof server);
    assert_int_equal(kube_proxy_allowed(c, "vault"), 0);
    assert_int_equal(kube_proxy_allowed(c, "vault"), 0);
    assert_int_equal(srv.requests, 1);
    assert_non_null(strstr(srv.log, "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews"));
    assert_non_null(strstr(srv.log, "\"namespace\":\"vault\",\"verb\":\"get\",\"resource\":"
                                    "\"pods\",\"subresource\":\"proxy\""));
    assert_int_equal(kube_proxy_allowed(c, "other"), 0);
    assert_int_equal(srv.requests, 2);
    kube_client_free(c);

    /* --read-via says it: no question asked. */
    c = client_for(KUBE_READ_EXEC, server, sizeof server);
    assert_int_equal(kube_proxy_allowed(c, "vault"), 0);
    kube_client_free(c);
    c = client_for(KUBE_READ_PROXY, server, sizeof server);
    assert_int_equal(kube_proxy_allowed(c, "vault"), 1);
    kube_proxy_refused(c, "vault"); /* a 403 does not change an explicit choice */
    assert_int_equal(kube_proxy_allowed(c, "vault"), 1);
    kube_client_free(c);
    assert_int_equal(srv.requests, 2);

    /* No answer to the review: try the proxy; the first 403 decides. */
    c = client_for(KUBE_READ_AUTO, server, sizeof server);
    assert_int_equal(kube_proxy_allowed(c, "nowhere"), 0); /* answered no */
    kube_client_free(c);
    server_stop();
    free(no);
    struct route none[] = {{NULL, NULL}};
    server_start(none); /* 404 page not found to everything */
    c = client_for(KUBE_READ_AUTO, server, sizeof server);
    assert_int_equal(kube_proxy_allowed(c, "vault"), 1);
    kube_proxy_refused(c, "vault");
    assert_int_equal(kube_proxy_allowed(c, "vault"), 0);
    assert_int_equal(srv.requests, 1);
    kube_client_free(c);
    server_stop();
}

/* --- vaultread -----------------------------------------------------------------------------------
 */

static struct vault_pod pods[3] = {
    {.name = "vault-0", .running = 1, .pod_ip = "10.244.1.17"},
    {.name = "vault-1", .running = 1, .pod_ip = "10.244.2.18"},
    {.name = "vault-2", .running = 0, .pod_ip = NULL},
};
static struct vault_cluster vc = {.namespace = "vault",
                                  .name = "vault",
                                  .cli = "vault",
                                  .api_scheme = "http",
                                  .pods = pods,
                                  .npods = 3};

static void test_pod_id_and_redirect_pod(void **state)
{
    (void)state;
    char id[64];
    vaultread_pod_id(&vc, "vault-1", id, sizeof id);
    assert_string_equal(id, "vault-1:8200");
    vc.api_scheme = "https";
    vaultread_pod_id(&vc, "vault-1", id, sizeof id);
    assert_string_equal(id, "https:vault-1:8200");
    vc.api_scheme = "http";
    assert_ptr_equal(vaultread_redirect_pod(&vc, "http://10.244.1.17:8200/v1/sys/x"), &pods[0]);
    assert_ptr_equal(vaultread_redirect_pod(&vc, "https://10.244.2.18/v1"), &pods[1]);
    assert_null(vaultread_redirect_pod(&vc, "http://10.244.1.1:8200/v1")); /* a prefix only */
    assert_null(vaultread_redirect_pod(&vc, "http://10.244.1.170:8200/v1"));
    assert_null(vaultread_redirect_pod(&vc, "/relative"));
    assert_null(vaultread_redirect_pod(&vc, NULL));
    /* IPv6: the address is in brackets (RFC 3986), the pod's IP is not. */
    pods[2].pod_ip = "fd00::5";
    assert_ptr_equal(vaultread_redirect_pod(&vc, "http://[fd00::5]:8200/v1/sys/x"), &pods[2]);
    assert_ptr_equal(vaultread_redirect_pod(&vc, "https://[fd00::5]/v1"), &pods[2]);
    assert_null(vaultread_redirect_pod(&vc, "http://[fd00::50]:8200/v1"));
    assert_null(vaultread_redirect_pod(&vc, "http://[fd00::5:8200/v1")); /* no closing bracket */
    assert_null(vaultread_redirect_pod(&vc, "http://fd00::5:8200/v1"));
    pods[2].pod_ip = NULL;
}

static const char *SEAL_ACTIVE =
    "{\"type\":\"shamir\",\"initialized\":true,\"sealed\":false,\"t\":3,\"n\":5,\"progress\":0,"
    "\"nonce\":\"\",\"version\":\"1.21.2\",\"build_date\":\"2025-12-18T15:41:11Z\","
    "\"migration\":false,\"cluster_name\":\"vault-cluster-5c1d0e2a\",\"cluster_id\":\"c1\","
    "\"recovery_seal\":false,\"storage_type\":\"raft\",\"removed_from_cluster\":false}";
static const char *LEADER_ACTIVE =
    "{\"ha_enabled\":true,\"is_self\":true,\"active_time\":\"2026-01-05T09:12:44.5Z\","
    "\"leader_address\":\"http://10.244.1.17:8200\",\"leader_cluster_address\":"
    "\"https://vault-0.vault-internal:8201\",\"performance_standby\":false,"
    "\"performance_standby_last_remote_wal\":0,\"raft_committed_index\":412,"
    "\"raft_applied_index\":411}";
static const char *SEAL_SEALED =
    "{\"type\":\"shamir\",\"initialized\":true,\"sealed\":true,\"t\":3,\"n\":5,\"progress\":1,"
    "\"nonce\":\"n\",\"version\":\"1.21.2\",\"build_date\":\"2025-12-18T15:41:11Z\","
    "\"migration\":false,\"recovery_seal\":false,\"storage_type\":\"raft\"}";

static void test_status_all_over_the_proxy(void **state)
{
    (void)state;
    char *ok = answer("201 Created", "", "{\"status\":{\"allowed\":true}}");
    char *s0 = answer("200 OK", "", SEAL_ACTIVE), *l0 = answer("200 OK", "", LEADER_ACTIVE);
    char *s1 = answer("200 OK", "", SEAL_SEALED);
    char *l1 = answer("503 Service Unavailable", "", "{\"errors\":[\"Vault is sealed\"]}");
    char *gone = answer("404 Not Found", "",
                        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                        "\"message\":\"pods \\\"vault-2\\\" not found\",\"reason\":\"NotFound\","
                        "\"code\":404}");
    struct route routes[] = {{"selfsubjectaccessreviews", ok},
                             {"vault-2:8200", gone},
                             {"vault-0:8200/proxy/v1/sys/seal-status", s0},
                             {"vault-0:8200/proxy/v1/sys/leader", l0},
                             {"vault-1:8200/proxy/v1/sys/seal-status", s1},
                             {"vault-1:8200/proxy/v1/sys/leader", l1},
                             {NULL, NULL}};
    server_start(routes);
    char server[64];
    struct kube_client *c = client_for(KUBE_READ_AUTO, server, sizeof server);
    struct pod_view views[3];
    vaultread_status_all(c, &vc, views);
    assert_int_equal(srv.requests, 5); /* the review, then two per running pod */
    assert_true(views[0].have_status);
    assert_true(views[0].st.is_self);
    assert_false(views[0].st.sealed);
    assert_int_equal(views[0].st.raft_committed_index, 412);
    assert_int_equal(views[0].st.raft_applied_index, 411);
    assert_string_equal(views[0].st.leader_cluster_address, "https://vault-0.vault-internal:8201");
    assert_true(views[1].have_status);
    assert_true(views[1].st.sealed);
    assert_true(views[1].st.ha_enabled); /* masked, as the CLI does */
    assert_int_equal(views[1].st.progress, 1);
    assert_false(views[2].have_status); /* not running: not asked */
    assert_null(views[2].status_error);
    vault_views_clear(views, 3);
    struct vault_status st;
    struct error err = {0};
    assert_int_equal(vaultread_status(c, &vc, "vault-2", &st, &err), -1);
    assert_string_equal(err.msg, "vault-2: pods \"vault-2\" not found");
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    kube_client_free(c);
    server_stop();
    free(ok), free(s0), free(l0), free(s1), free(l1), free(gone);
}

static const char *CONFIG =
    "{\"request_id\":\"r\",\"data\":{\"config\":{\"index\":62,\"servers\":["
    "{\"address\":\"vault-0.vault-internal:8201\",\"leader\":true,\"node_id\":\"a\","
    "\"protocol_version\":\"3\",\"voter\":true}]}},\"mount_type\":\"system\"}";

static void test_raft_standby_redirect_asks_the_active_pod(void **state)
{
    (void)state;
    char *redirect = answer("307 Temporary Redirect",
                            "Location: http://10.244.1.17:8200/v1/sys/storage/raft/"
                            "configuration\r\n",
                            "");
    char *config = answer("200 OK", "", CONFIG);
    char *missing = answer("404 Not Found", "", "{\"errors\":[]}");
    char *denied = answer("403 Forbidden", "", "{\"errors\":[\"permission denied\"]}");
    struct route routes[] = {{"vault-1:8200/proxy", redirect},
                             {"vault-0:8200/proxy/v1/sys/storage/raft/configuration", config},
                             {"vault-0:8200/proxy/v1/sys/storage/raft/autopilot", missing},
                             {"vault-2:8200/proxy", denied},
                             {NULL, NULL}};
    server_start(routes);
    char server[64];
    struct kube_client *c = client_for(KUBE_READ_PROXY, server, sizeof server);
    struct secret tok = {0};
    struct error err = {0};
    assert_int_equal(secret_from(&tok, "hvs.t", 5, &err), 0);
    struct vault_peers peers;
    struct vault_autopilot ap;
    int have_ap = -1;
    char why[512] = "";
    assert_int_equal(
        vaultread_raft(c, &vc, "vault-1", &tok, &peers, &ap, &have_ap, why, sizeof why), 0);
    assert_int_equal(peers.n, 1);
    assert_int_equal(peers.index, 62);
    assert_false(have_ap);
    vault_peers_clear(&peers);
    /* Asked through the API server, never at the Location's address. */
    assert_int_equal(count(srv.log, "/pods/vault-0:8200/proxy/v1/sys/storage/raft/"), 2);
    assert_int_equal(count(srv.log, "Host: 10.244"), 0);
    assert_int_equal(
        vaultread_raft(c, &vc, "vault-2", &tok, &peers, &ap, &have_ap, why, sizeof why), -2);
    assert_string_equal(why, "raft configuration on vault-2: 403 permission denied");
    secret_free(&tok);
    kube_client_free(c);
    server_stop();
    free(redirect), free(config), free(missing), free(denied);
}

int main(void)
{
    curlmem_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proxy_get_passes_the_pods_answer_and_never_follows),
        cmocka_unit_test(test_endless_answer_is_cut),
        cmocka_unit_test(test_decision_once_per_namespace),
        cmocka_unit_test(test_pod_id_and_redirect_pod),
        cmocka_unit_test(test_status_all_over_the_proxy),
        cmocka_unit_test(test_raft_standby_redirect_asks_the_active_pod),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
