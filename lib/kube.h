/* HTTPS client for the Kubernetes API on libcurl. Applies the rest_config's
 * TLS (CA blob, client certificate blobs, tls-server-name, insecure), proxy
 * and authentication (bearer token, basic, exec plugin with one refresh after
 * a 401) to every request, and turns failures into actionable errors: Status
 * JSON (401, 403 naming the verb and resource RBAC denies, 404), plain-text
 * bodies, TLS failures naming the CA used, refused connections and timeouts.
 * Reads are retried on 429/5xx with an integer Retry-After, bounded. */
#ifndef VH_KUBE_H
#define VH_KUBE_H

#include <curl/curl.h>
#include <jansson.h>

#include "error.h"
#include "kubeconfig.h"

struct kube_client;

struct secret;

/* How Vault is read (--read-via): through pods/proxy when RBAC allows it (auto),
 * always through it, or always by running the CLI in the pods (exec). */
enum kube_read_via { KUBE_READ_AUTO = 0, KUBE_READ_PROXY, KUBE_READ_EXEC };

/* Receives one line of the -v trace; secrets are already redacted. */
typedef void (*kube_trace_fn)(void *ctx, const char *line);

struct kube_client_options {
    long request_timeout_ms; /* 0 = no timeout (streams); --request-timeout, default 30 s */
    int max_retries;         /* reads retried on 429/5xx with Retry-After; default 5 when < 0 */
    kube_trace_fn trace;     /* NULL = no trace */
    void *trace_ctx;
    enum kube_read_via read_via;
    long long deadline_ms; /* > 0: clock_now_ms() time no request outlasts (a run's budget) */
};

int kube_client_new(const struct rest_config *cfg, const struct kube_client_options *opts,
                    struct kube_client **out, struct error *err);
void kube_client_free(struct kube_client *c);

const struct rest_config *kube_client_config(const struct kube_client *c);

/* GET path (starting with "/api" or "/apis", may carry a query) and parse the
 * JSON body. On error err->http_status holds the HTTP status when there was one. */
int kube_get(struct kube_client *c, const char *path, json_t **out, struct error *err);

/* GET path whose answer is text (pods/log); *out is malloc'd and NUL-terminated. */
int kube_get_text(struct kube_client *c, const char *path, char **out, struct error *err);

/* DELETE path; *out (may be NULL) receives the returned object. Not retried. */
int kube_delete(struct kube_client *c, const char *path, json_t **out, struct error *err);

/* PATCH path with body, a patch of content_type ("application/json-patch+json",
 * "application/merge-patch+json", "application/strategic-merge-patch+json");
 * *out (may be NULL) receives the patched object. Not retried. A JSON patch
 * whose test op fails answers 422 without saying which op. */
int kube_patch(struct kube_client *c, const char *path, const char *content_type, const char *body,
               json_t **out, struct error *err);

/* method (POST, PUT, DELETE) path with a JSON body (may be NULL for DELETE);
 * *out (may be NULL) receives the answer. Not retried: a create or an update
 * with a resourceVersion must not be sent twice. A 409 keeps err->http_status
 * so that callers can tell "someone else won" from other failures. */
int kube_send(struct kube_client *c, const char *method, const char *path, const char *body,
              json_t **out, struct error *err);

/* What is left before the client's deadline (options.deadline_ms; at least 1 ms), or
 * limit when there is none or it is further away; limit <= 0 means no limit. Whatever
 * waits on behalf of this client (an exec, its upgrade, a credential plugin) waits at
 * most this long, so that one run's budget holds for every way of reading. */
long kube_deadline_left_ms(const struct kube_client *c, long limit);

/* Prepares a fresh easy handle for a request to path on this API server with
 * the client's TLS, proxy and credentials: sets URL, TLS options, proxy,
 * timeouts, and appends the Authorization header (if any) to *headers. When
 * the kubeconfig sets tls-server-name, the URL's host is that name (for SNI and
 * verification), the connection goes to the real address through
 * CURLOPT_CONNECT_TO, and a "Host: <real host:port>" line is appended to
 * *headers: hand-written requests (lib/websocket) must take Host from there
 * when present. Handles share the client's TLS sessions and DNS answers. The
 * handle must not outlive the client. */
int kube_prepare_handle(struct kube_client *c, CURL *h, const char *path,
                        struct curl_slist **headers, struct error *err);

/* After a request made through kube_prepare_handle() answered 401: refresh
 * exec-plugin credentials once. Returns 1 when a retry may succeed, else 0.
 * Threads whose requests failed at the same time share one refresh: a refresh
 * less than 5 s old is reused, the plugin does not run again. */
int kube_refresh_credentials(struct kube_client *c);

/* Turns an HTTP answer that is not a success into an error: Status JSON when
 * the body is one, else the status line and text. method and path describe
 * the request so that 403 names the verb and resource ("list pods in
 * namespace vault"). Returns -1. */
int kube_error_from_response(struct kube_client *c, const char *method, const char *path,
                             long status, const char *body, size_t body_len, struct error *err);

/* Turns a libcurl transport failure into an error naming the server, and for
 * TLS failures the CA in use. Returns -1. */
int kube_error_from_curl(struct kube_client *c, CURLcode rc, const char *errbuf, struct error *err);

/* Emits a trace line through the client's trace callback, if any. */
void kube_trace(struct kube_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- pods/proxy: a pod's HTTP port through the API server (facts "pods/proxy") --- */

/* What the pod answered, whatever its status (Vault's 307, 429, 503 pass through). */
struct kube_proxy_answer {
    long status;
    char *body; /* NUL-terminated */
    size_t len;
    char *location; /* a redirect's Location, never followed; NULL = none */
};
void kube_proxy_answer_clear(struct kube_proxy_answer *a);

/* GET path (e.g. "/v1/sys/seal-status") on pod_id ("vault-0:8200",
 * "https:vault-0:8200") in ns. The Vault token (may be NULL) travels only as
 * an X-Vault-Token header, never in the URL or the trace. Returns 0 with what
 * the pod said in *ans; -1 when the API server answered itself (403 RBAC,
 * 404 no pod, 400 no pod IP, 503 nothing listening: err->http_status) or the
 * request failed. Redirects are never followed. */
int kube_proxy_get(struct kube_client *c, const char *ns, const char *pod_id, const char *path,
                   const struct secret *vault_token, struct kube_proxy_answer *ans,
                   struct error *err);

/* May reads use pods/proxy in ns? --read-via proxy/exec say so; auto asks one
 * SelfSubjectAccessReview (get pods/proxy) per namespace and run, cached, or
 * takes kube_proxy_refused's answer. Thread-safe. */
int kube_proxy_allowed(struct kube_client *c, const char *ns);
/* A pods/proxy request in ns got RBAC's 403: exec from now on (auto only). */
void kube_proxy_refused(struct kube_client *c, const char *ns);

/* Percent-encodes s (RFC 3986 unreserved kept) into a malloc'd string. */
char *kube_urlencode(const char *s);

#endif
