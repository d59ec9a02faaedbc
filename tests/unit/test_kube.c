/* lib/kube: URL encoding and the errors made from API answers (docs/kubernetes.md §2.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "curlmem.h"
#include "kube.h"

static struct rest_config cfg = {
    .context_name = "prod",
    .cluster_name = "prod-cluster",
    .user_name = "alice",
    .origin = "/home/alice/.kube/config",
    .server = "https://10.0.0.1:6443",
    .ca_description = "certificate-authority-data of cluster \"prod-cluster\"",
    .namespace = "vault",
};

static struct kube_client *client(void)
{
    struct kube_client *c = NULL;
    struct error err = {0};
    struct kube_client_options o = {.request_timeout_ms = 30000};
    assert_int_equal(kube_client_new(&cfg, &o, &c, &err), 0);
    return c;
}

static void test_urlencode(void **state)
{
    (void)state;
    char *s = kube_urlencode("a+b c/d=e,f~g_h.i-j");
    assert_string_equal(s, "a%2Bb%20c%2Fd%3De%2Cf~g_h.i-j");
    free(s);
    s = kube_urlencode("app.kubernetes.io/name in (vault,openbao)");
    assert_string_equal(s, "app.kubernetes.io%2Fname%20in%20%28vault%2Copenbao%29");
    free(s);
}

static void test_forbidden_list_names_verb_and_resource(void **state)
{
    (void)state;
    struct kube_client *c = client();
    const char *body =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"pods is forbidden: User \\\"limited\\\" cannot list resource \\\"pods\\\" "
        "in API group \\\"\\\" in the namespace \\\"vault\\\"\",\"reason\":\"Forbidden\","
        "\"details\":{\"kind\":\"pods\"},\"code\":403}";
    struct error err = {0};
    assert_int_equal(kube_error_from_response(c, "GET",
                                              "/api/v1/namespaces/vault/pods?labelSelector=x", 403,
                                              body, strlen(body), &err),
                     -1);
    assert_int_equal(err.kind, ERR_FORBIDDEN);
    assert_int_equal(err.http_status, 403);
    assert_string_equal(err.msg,
                        "RBAC denies \"list\" on resource \"pods\" in namespace \"vault\": grant "
                        "verb \"list\" on \"pods\" to this user (API server: pods is forbidden: "
                        "User \"limited\" cannot list resource \"pods\" in API group \"\" in the "
                        "namespace \"vault\")");
    kube_client_free(c);
}

static void test_forbidden_get_statefulset_and_exec(void **state)
{
    (void)state;
    struct kube_client *c = client();
    struct error err = {0};
    kube_error_from_response(c, "GET", "/apis/apps/v1/namespaces/vault/statefulsets/vault", 403,
                             NULL, 0, &err);
    assert_string_equal(err.msg, "RBAC denies \"get\" on resource \"statefulsets.apps\" in "
                                 "namespace \"vault\": grant verb \"get\" on \"statefulsets\" to "
                                 "this user (API server: Forbidden)");
    kube_error_from_response(c, "GET", "/api/v1/namespaces/vault/pods/vault-0/exec?command=ls", 403,
                             NULL, 0, &err);
    assert_string_equal(err.msg, "RBAC denies exec: grant verbs \"get\" and \"create\" on "
                                 "resource \"pods/exec\" in namespace \"vault\" (API server: "
                                 "Forbidden)");
    kube_error_from_response(c, "DELETE", "/api/v1/namespaces/vault/pods/vault-1", 403, NULL, 0,
                             &err);
    assert_non_null(strstr(err.msg, "RBAC denies \"delete\" on resource \"pods\""));
    kube_client_free(c);
}

static void test_patch_errors(void **state)
{
    (void)state;
    struct kube_client *c = client();
    struct error err = {0};
    const char *forbidden =
        "{\"kind\":\"Status\",\"message\":\"statefulsets.apps \\\"vault\\\" is forbidden: User "
        "\\\"bob\\\" cannot patch resource \\\"statefulsets\\\" in API group \\\"apps\\\" in the "
        "namespace \\\"vault\\\"\",\"reason\":\"Forbidden\",\"code\":403}";
    kube_error_from_response(c, "PATCH", "/apis/apps/v1/namespaces/vault/statefulsets/vault", 403,
                             forbidden, strlen(forbidden), &err);
    assert_int_equal(err.kind, ERR_FORBIDDEN);
    assert_string_equal(err.msg,
                        "RBAC denies \"patch\" on resource \"statefulsets.apps\" in namespace "
                        "\"vault\": grant verb \"patch\" on \"statefulsets\" to this user (API "
                        "server: statefulsets.apps \"vault\" is forbidden: User \"bob\" cannot "
                        "patch resource \"statefulsets\" in API group \"apps\" in the namespace "
                        "\"vault\")");
    /* A JSON patch whose test op failed: the API server does not say which. */
    const char *invalid = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
                          "\"Failure\",\"message\":\"the server rejected our request due to an "
                          "error in our request\",\"reason\":\"Invalid\",\"details\":{},"
                          "\"code\":422}";
    kube_error_from_response(c, "PATCH", "/apis/apps/v1/namespaces/vault/statefulsets/vault", 422,
                             invalid, strlen(invalid), &err);
    assert_int_equal(err.http_status, 422);
    assert_string_equal(err.msg, "the API server answered 422 to PATCH "
                                 "/apis/apps/v1/namespaces/vault/statefulsets/vault: the server "
                                 "rejected our request due to an error in our request");
    kube_client_free(c);
}

/* An eviction the PodDisruptionBudget refuses: the server's message and its cause, not
 * "the API server answered 429" (which stays for a busy server's plain text). */
static void test_eviction_refused(void **state)
{
    (void)state;
    struct kube_client *c = client();
    const char *body =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"Cannot evict pod as it would violate the pod's disruption budget.\","
        "\"reason\":\"TooManyRequests\",\"details\":{\"causes\":[{\"reason\":"
        "\"DisruptionBudget\",\"message\":\"The disruption budget vault needs 2 healthy pods "
        "and has 2 currently\"}]},\"code\":429}";
    struct error err = {0};
    const char *path = "/api/v1/namespaces/vault/pods/vault-2/eviction";
    assert_int_equal(kube_error_from_response(c, "POST", path, 429, body, strlen(body), &err), -1);
    assert_int_equal(err.http_status, 429);
    assert_string_equal(err.msg, "Cannot evict pod as it would violate the pod's disruption "
                                 "budget. The disruption budget vault needs 2 healthy pods and "
                                 "has 2 currently");
    const char *text = "Too many requests, please try again later.\n";
    assert_int_equal(kube_error_from_response(c, "POST", path, 429, text, strlen(text), &err), -1);
    assert_string_equal(err.msg, "the API server answered 429 to POST "
                                 "/api/v1/namespaces/vault/pods/vault-2/eviction: Too many "
                                 "requests, please try again later.");
    kube_client_free(c);
}

static void test_unauthorized(void **state)
{
    (void)state;
    struct kube_client *c = client();
    const char *body = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
                       "\"Failure\",\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\","
                       "\"code\":401}";
    struct error err = {0};
    kube_error_from_response(c, "GET", "/api/v1/namespaces/vault/pods", 401, body, strlen(body),
                             &err);
    assert_int_equal(err.kind, ERR_UNAUTHORIZED);
    assert_string_equal(err.msg, "the API server at https://10.0.0.1:6443 rejected the "
                                 "credentials of user \"alice\" (context \"prod\"): "
                                 "Unauthorized; the token or client certificate is wrong or "
                                 "expired, log in again or fix the user in "
                                 "/home/alice/.kube/config");
    kube_client_free(c);
}

static void test_not_found_and_plain_text(void **state)
{
    (void)state;
    struct kube_client *c = client();
    const char *nf = "{\"kind\":\"Status\",\"message\":\"statefulsets.apps \\\"x\\\" not found\","
                     "\"reason\":\"NotFound\",\"code\":404}";
    struct error err = {0};
    kube_error_from_response(c, "GET", "/apis/apps/v1/namespaces/vault/statefulsets/x", 404, nf,
                             strlen(nf), &err);
    assert_int_equal(err.kind, ERR_NOT_FOUND);
    assert_string_equal(err.msg, "statefulsets.apps \"x\" not found");
    const char *text = "Too many requests, please try again later.\n";
    kube_error_from_response(c, "GET", "/api/v1/pods", 429, text, strlen(text), &err);
    assert_string_equal(err.msg, "the API server answered 429 to GET /api/v1/pods: Too many "
                                 "requests, please try again later.");
    kube_client_free(c);
}

static void test_curl_errors(void **state)
{
    (void)state;
    struct kube_client *c = client();
    struct error err = {0};
    kube_error_from_curl(c, CURLE_COULDNT_CONNECT, "Failed to connect: Connection refused", &err);
    assert_int_equal(err.kind, ERR_UNREACHABLE);
    assert_string_equal(err.msg, "cannot reach the API server at https://10.0.0.1:6443 (context "
                                 "\"prod\"): Failed to connect: Connection refused; is the "
                                 "cluster running and the server address in "
                                 "/home/alice/.kube/config right?");
    kube_error_from_curl(c, CURLE_PEER_FAILED_VERIFICATION, "unable to get local issuer", &err);
    assert_int_equal(err.kind, ERR_TLS);
    assert_string_equal(err.msg, "TLS: the API server's certificate at https://10.0.0.1:6443 is "
                                 "not trusted by certificate-authority-data of cluster "
                                 "\"prod-cluster\": unable to get local issuer; fix "
                                 "certificate-authority(-data) of cluster \"prod-cluster\"");
    kube_error_from_curl(c, CURLE_OPERATION_TIMEDOUT, "SSL connection timeout", &err);
    assert_int_equal(err.kind, ERR_TIMEOUT);
    assert_string_equal(err.msg, "no answer from the API server at https://10.0.0.1:6443 within "
                                 "30000 ms, or no connection within 10000 ms (--request-timeout "
                                 "sets both): SSL connection timeout");
    kube_client_free(c);
}

static void test_no_server(void **state)
{
    (void)state;
    struct rest_config empty = {.cluster_name = "c1"};
    struct kube_client *c = NULL;
    struct error err = {0};
    assert_int_equal(kube_client_new(&empty, NULL, &c, &err), -1);
    assert_string_equal(err.msg, "cluster \"c1\" has no server address");
}

static void test_auth_header_list_wiped(void **state)
{
    (void)state;
    /* Port 1 refuses at once: the request never leaves, but its header list
     * (Authorization included) was built and is freed by libcurl. */
    struct rest_config tcfg = cfg;
    tcfg.server = "https://127.0.0.1:1";
    tcfg.token = "tok-MARKER-5a9c1e";
    struct kube_client *c = NULL;
    struct error err = {0};
    struct kube_client_options o = {.request_timeout_ms = 5000, .max_retries = 0};
    assert_int_equal(kube_client_new(&tcfg, &o, &c, &err), 0);
    curlmem_marker = "MARKER-5a9c1e";
    curlmem_freed_with_marker = 0;
    json_t *out = NULL;
    assert_int_equal(kube_get(c, "/api/v1/namespaces", &out, &err), -1);
    assert_int_equal(err.kind, ERR_UNREACHABLE);
    curlmem_marker = NULL;
    assert_int_equal(curlmem_freed_with_marker, 0);
    kube_client_free(c);
    /* The check itself sees an unwiped list. */
    curlmem_marker = "MARKER-5a9c1e";
    curl_slist_free_all(curl_slist_append(NULL, "Authorization: Bearer tok-MARKER-5a9c1e"));
    curlmem_marker = NULL;
    assert_int_equal(curlmem_freed_with_marker, 1);
}

static void test_no_credentials_over_http(void **state)
{
    (void)state;
    /* Even a config that still holds a token (lib/kubeconfig drops it) sends none over
     * plain HTTP. */
    struct rest_config tcfg = cfg;
    tcfg.server = "http://10.0.0.1:8080";
    tcfg.token = "tok-secret";
    struct kube_client *c = NULL;
    struct error err = {0};
    assert_int_equal(kube_client_new(&tcfg, NULL, &c, &err), 0);
    CURL *h = curl_easy_init();
    struct curl_slist *headers = NULL;
    assert_int_equal(kube_prepare_handle(c, h, "/api/v1/pods", &headers, &err), 0);
    for (struct curl_slist *l = headers; l != NULL; l = l->next)
        assert_null(strstr(l->data, "Authorization"));
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    kube_client_free(c);
    /* Over https it is sent. */
    tcfg.server = "https://10.0.0.1:6443";
    assert_int_equal(kube_client_new(&tcfg, NULL, &c, &err), 0);
    h = curl_easy_init();
    headers = NULL;
    assert_int_equal(kube_prepare_handle(c, h, "/api/v1/pods", &headers, &err), 0);
    assert_non_null(headers);
    assert_string_equal(headers->data, "Authorization: Bearer tok-secret");
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    kube_client_free(c);
}

static void test_deadline_left(void **state)
{
    (void)state;
    struct kube_client *c = client();
    assert_int_equal(kube_deadline_left_ms(c, 120000), 120000); /* no deadline: the limit */
    assert_int_equal(kube_deadline_left_ms(c, 0), 0);
    kube_client_free(c);
    struct error err = {0};
    struct kube_client_options o = {.request_timeout_ms = 30000,
                                    .deadline_ms = clock_now_ms() + 60000};
    assert_int_equal(kube_client_new(&cfg, &o, &c, &err), 0);
    long left = kube_deadline_left_ms(c, 120000); /* an exec's own 120 s: cut to the deadline */
    assert_true(left > 50000 && left <= 60000);
    assert_int_equal(kube_deadline_left_ms(c, 100), 100);
    left = kube_deadline_left_ms(c, 0);
    assert_true(left > 50000 && left <= 60000);
    kube_client_free(c);
    o.deadline_ms = clock_now_ms() - 10; /* passed: the shortest wait, never "none" */
    assert_int_equal(kube_client_new(&cfg, &o, &c, &err), 0);
    assert_int_equal(kube_deadline_left_ms(c, 120000), 1);
    kube_client_free(c);
}

int main(void)
{
    curlmem_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlencode),
        cmocka_unit_test(test_forbidden_list_names_verb_and_resource),
        cmocka_unit_test(test_forbidden_get_statefulset_and_exec),
        cmocka_unit_test(test_patch_errors),
        cmocka_unit_test(test_eviction_refused),
        cmocka_unit_test(test_unauthorized),
        cmocka_unit_test(test_not_found_and_plain_text),
        cmocka_unit_test(test_curl_errors),
        cmocka_unit_test(test_no_server),
        cmocka_unit_test(test_auth_header_list_wiped),
        cmocka_unit_test(test_no_credentials_over_http),
        cmocka_unit_test(test_deadline_left),
    };
    int rc = cmocka_run_group_tests_name("kube", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
