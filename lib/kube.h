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

/* Receives one line of the -v trace; secrets are already redacted. */
typedef void (*kube_trace_fn)(void *ctx, const char *line);

struct kube_client_options {
    long request_timeout_ms; /* 0 = no timeout (streams); --request-timeout, default 30 s */
    int max_retries;         /* reads retried on 429/5xx with Retry-After; default 5 when < 0 */
    kube_trace_fn trace;     /* NULL = no trace */
    void *trace_ctx;
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

/* Prepares a fresh easy handle for a request to path on this API server with
 * the client's TLS, proxy and credentials: sets URL, TLS options, proxy,
 * timeouts, and appends the Authorization header (if any) to *headers. When
 * the kubeconfig sets tls-server-name, the URL's host is that name (for SNI and
 * verification), the connection goes to the real address through
 * CURLOPT_CONNECT_TO, and a "Host: <real host:port>" line is appended to
 * *headers: hand-written requests (lib/websocket) must take Host from there
 * when present. The handle must not outlive the client. */
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

/* Percent-encodes s (RFC 3986 unreserved kept) into a malloc'd string. */
char *kube_urlencode(const char *s);

#endif
