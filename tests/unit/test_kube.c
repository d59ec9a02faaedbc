/* lib/kube: URL encoding and the errors made from API answers (facts/kubernetes.md §2.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
    kube_error_from_curl(c, CURLE_OPERATION_TIMEDOUT, "", &err);
    assert_int_equal(err.kind, ERR_TIMEOUT);
    assert_non_null(strstr(err.msg, "within 30000 ms (--request-timeout)"));
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

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlencode),
        cmocka_unit_test(test_forbidden_list_names_verb_and_resource),
        cmocka_unit_test(test_forbidden_get_statefulset_and_exec),
        cmocka_unit_test(test_patch_errors),
        cmocka_unit_test(test_unauthorized),
        cmocka_unit_test(test_not_found_and_plain_text),
        cmocka_unit_test(test_curl_errors),
        cmocka_unit_test(test_no_server),
    };
    int rc = cmocka_run_group_tests_name("kube", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
