#include "kube.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "clock.h"
#include "credentials.h"
#include "secret.h"
#include "text.h"
#include "wipe.h"
#include "dynbuf.h"
#include "json.h"

#define USER_AGENT       "kubectl-vault_ha/" VH_VERSION
#define BODY_MAX         (64u << 20) /* no API answer we read is anywhere near this */
#define RETRY_WAIT_MAX_S 30
#define HANDLE_POOL_MAX  16 /* more than the widest batch of parallel requests */

/* What a pod may answer through pods/proxy: Vault's status and raft answers are a few
 * KiB; a pod that does not stop writing is cut here (the same limit as exec's stdout). */
#define PROXY_BODY_MAX (4u << 20)

struct kube_client {
    const struct rest_config *cfg;
    struct kube_client_options opts;
    pthread_mutex_t lock; /* guards cred and auth_header across exec threads */
    struct credential cred;
    int have_cred;
    char *auth_header;             /* "Authorization: ..." (secret), NULL when none */
    char *host_header;             /* "Host: ..." when tls-server-name redirects the connection */
    struct curl_slist *connect_to; /* CURLOPT_CONNECT_TO entry for tls-server-name */
    char *url_base;                /* server URL, host replaced by tls-server-name when set */
    long long refreshed_at_ms;     /* last forced credential refresh (monotonic), 0 = none */
    struct proxy_decision *proxy;  /* per namespace: may reads use pods/proxy (guarded by lock) */
    size_t nproxy;
    /* TLS sessions and DNS answers are shared by every handle of the run, across threads
     * (libcurl supports that): a new connection resumes the TLS session instead of a full
     * handshake. Connections may not be shared between concurrent threads (CURLSHOPT_SHARE),
     * but a handle keeps its own: finished handles wait in a pool, each with its open
     * connection, and the next request, on any thread, takes one. A wait that polls every
     * second, or the parallel reads of five pods, reuse connections instead of a TCP and TLS
     * handshake per request. */
    CURLSH *share;
    pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL *pool[HANDLE_POOL_MAX];
    size_t npool;
};

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h, (void)access;
    struct kube_client *c = ud;
    pthread_mutex_lock(&c->share_lock[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h;
    struct kube_client *c = ud;
    pthread_mutex_unlock(&c->share_lock[data]);
}

static CURLSH *new_share(struct kube_client *c)
{
    CURLSH *s = curl_share_init();
    if (s == NULL)
        return NULL;
    curl_share_setopt(s, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s, CURLSHOPT_USERDATA, c);
    curl_share_setopt(s, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(s, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    return s;
}

/* A handle for one request: a pooled one with its open connection, else a new one. */
static CURL *take_handle(struct kube_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_lock);
    if (c->npool > 0)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->pool_lock);
    if (h == NULL)
        return curl_easy_init();
    curl_easy_reset(h); /* the options go; the connection stays */
    return h;
}

/* Back to the pool with its connection (or closed when the pool is full). */
static void release_handle(struct kube_client *c, CURL *h)
{
    /* Nothing of this request may stay reachable: the next one resets it first anyway. */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    pthread_mutex_lock(&c->pool_lock);
    int kept = c->npool < HANDLE_POOL_MAX;
    if (kept)
        c->pool[c->npool++] = h;
    pthread_mutex_unlock(&c->pool_lock);
    if (!kept)
        curl_easy_cleanup(h);
}

/* Whether pods/proxy may be used in a namespace, decided once per run. */
struct proxy_decision {
    char *ns;
    int allowed;
};

void kube_trace(struct kube_client *c, const char *fmt, ...)
{
    if (c == NULL || c->opts.trace == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *line = text_vprintf(fmt, ap);
    va_end(ap);
    if (line != NULL)
        c->opts.trace(c->opts.trace_ctx, line);
    free(line);
}

char *kube_urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1);
    if (out == NULL)
        return NULL;
    char *p = out;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
            *q == '-' || *q == '.' || *q == '_' || *q == '~') {
            *p++ = (char)*q;
        } else {
            *p++ = '%';
            *p++ = hex[*q >> 4];
            *p++ = hex[*q & 15];
        }
    }
    *p = '\0';
    return out;
}

/* Splits "scheme://host[:port]/prefix" into host and port for tls-server-name handling. */
static int split_server(const char *server, char **scheme, char **hostport, char **rest)
{
    const char *sep = strstr(server, "://");
    if (sep == NULL)
        return -1;
    const char *h = sep + 3;
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    *scheme = strndup(server, (size_t)(sep - server));
    *hostport = strndup(h, hl);
    *rest = strdup(slash ? slash : "");
    return (*scheme && *hostport && *rest) ? 0 : -1;
}

static char *default_port_of(const char *scheme)
{
    return strdup(strcasecmp(scheme, "http") == 0 ? "80" : "443");
}

/* host:port → host, port (IPv6 in brackets kept with brackets). */
static void split_hostport(const char *hp, const char *scheme, char **host, char **port)
{
    const char *colon = NULL;
    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');
        if (end != NULL && end[1] == ':')
            colon = end + 1;
    } else {
        colon = strrchr(hp, ':');
    }
    if (colon != NULL) {
        *host = strndup(hp, (size_t)(colon - hp));
        *port = strdup(colon + 1);
    } else {
        *host = strdup(hp);
        *port = default_port_of(scheme);
    }
}

static char *basic_auth_header(const char *user, const char *pass)
{
    size_t ul = strlen(user), pl = strlen(pass);
    unsigned char *raw = malloc(ul + pl + 2);
    if (raw == NULL)
        return NULL;
    memcpy(raw, user, ul);
    raw[ul] = ':';
    memcpy(raw + ul + 1, pass, pl);
    size_t rl = ul + pl + 1;
    size_t el = 4 * ((rl + 2) / 3) + 1;
    char *enc = malloc(el);
    char *hdr = NULL;
    if (enc != NULL) {
        EVP_EncodeBlock((unsigned char *)enc, raw, (int)rl);
        hdr = text_printf("Authorization: Basic %s", enc);
        explicit_bzero(enc, el);
        free(enc);
    }
    explicit_bzero(raw, rl);
    free(raw);
    return hdr;
}

/* (Re)computes the Authorization header from the config or the exec plugin. Caller holds lock. */
static int load_auth_locked(struct kube_client *c, int force_refresh, struct error *err)
{
    const struct rest_config *cfg = c->cfg;
    wipe_free_str(c->auth_header);
    c->auth_header = NULL;
    if (cfg->server == NULL || strncasecmp(cfg->server, "https://", 8) != 0)
        return 0; /* no credential of any kind over plain HTTP (lib/kubeconfig drops them) */
    if (cfg->token != NULL && cfg->token[0] != '\0') {
        c->auth_header = text_printf("Authorization: Bearer %s", cfg->token);
    } else if (cfg->username != NULL && cfg->password != NULL) {
        c->auth_header = basic_auth_header(cfg->username, cfg->password);
    } else if (cfg->exec != NULL && cfg->client_cert.len == 0) {
        if (c->have_cred) {
            credential_free(&c->cred);
            c->have_cred = 0;
        }
        if (credentials_get_until(cfg, force_refresh, c->opts.deadline_ms, &c->cred, err) < 0)
            return -1;
        c->have_cred = 1;
        if (c->cred.token != NULL)
            c->auth_header = text_printf("Authorization: Bearer %s", c->cred.token);
    }
    return 0;
}

int kube_client_new(const struct rest_config *cfg, const struct kube_client_options *opts,
                    struct kube_client **out, struct error *err)
{
    struct kube_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    c->cfg = cfg;
    if (opts != NULL)
        c->opts = *opts;
    if (c->opts.max_retries < 0)
        c->opts.max_retries = 5;
    pthread_mutex_init(&c->lock, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_lock[i], NULL);
    pthread_mutex_init(&c->pool_lock, NULL);
    c->share = new_share(c);

    if (cfg->server == NULL || cfg->server[0] == '\0') {
        kube_client_free(c);
        return error_set(err, ERR_CONFIG, "cluster \"%s\" has no server address",
                         cfg->cluster_name ? cfg->cluster_name : "?");
    }
    if (cfg->tls_server_name != NULL && cfg->tls_server_name[0] != '\0') {
        /* libcurl verifies and sends SNI for the URL's host: put tls-server-name in the
         * URL, connect to the real address, and keep the real Host header. */
        char *scheme = NULL, *hostport = NULL, *rest = NULL, *host = NULL, *port = NULL;
        if (split_server(cfg->server, &scheme, &hostport, &rest) < 0) {
            free(scheme), free(hostport), free(rest);
            kube_client_free(c);
            return error_set(err, ERR_CONFIG, "server address \"%s\" is not a URL", cfg->server);
        }
        split_hostport(hostport, scheme, &host, &port);
        c->url_base = text_printf("%s://%s:%s%s", scheme, cfg->tls_server_name, port, rest);
        char *entry = text_printf("%s:%s:%s:%s", cfg->tls_server_name, port, host, port);
        c->connect_to = curl_slist_append(NULL, entry);
        free(entry);
        c->host_header = text_printf("Host: %s", hostport);
        free(scheme), free(hostport), free(rest), free(host), free(port);
    } else {
        c->url_base = strdup(cfg->server);
    }
    size_t bl = strlen(c->url_base);
    while (bl > 0 && c->url_base[bl - 1] == '/')
        c->url_base[--bl] = '\0';

    pthread_mutex_lock(&c->lock);
    int rc = load_auth_locked(c, 0, err);
    pthread_mutex_unlock(&c->lock);
    if (rc < 0) {
        kube_client_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void kube_client_free(struct kube_client *c)
{
    if (c == NULL)
        return;
    wipe_free_str(c->auth_header);
    if (c->have_cred)
        credential_free(&c->cred);
    free(c->host_header);
    curl_slist_free_all(c->connect_to);
    free(c->url_base);
    for (size_t i = 0; i < c->nproxy; i++)
        free(c->proxy[i].ns);
    free(c->proxy);
    /* After every other handle: this closes the kept connections, then the share goes. */
    for (size_t i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    pthread_mutex_destroy(&c->pool_lock);
    if (c->share != NULL)
        curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_lock[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const struct rest_config *kube_client_config(const struct kube_client *c)
{
    return c->cfg;
}

/* Requests that got their 401 with the old credential while another thread
 * refreshed it retry with the new one instead of running the plugin again. */
#define REFRESH_SHARED_MS 5000

int kube_refresh_credentials(struct kube_client *c)
{
    if (c->cfg->exec == NULL || c->cfg->token != NULL)
        return 0;
    struct error e = {0};
    pthread_mutex_lock(&c->lock);
    long long now = clock_now_ms();
    int rc = 0;
    if (c->refreshed_at_ms > 0 && now - c->refreshed_at_ms < REFRESH_SHARED_MS) {
        kube_trace(c, "credentials were refreshed %lld ms ago: retrying with those",
                   now - c->refreshed_at_ms);
    } else {
        rc = load_auth_locked(c, 1, &e);
        if (rc == 0)
            c->refreshed_at_ms = clock_now_ms();
    }
    pthread_mutex_unlock(&c->lock);
    return rc == 0;
}

long kube_deadline_left_ms(const struct kube_client *c, long limit)
{
    if (c->opts.deadline_ms <= 0)
        return limit;
    long long left = c->opts.deadline_ms - clock_now_ms();
    if (left < 1)
        left = 1;
    return limit > 0 && limit < left ? limit : (long)left;
}

/* Connecting (TCP, proxy, TLS handshake) gets 10 s like client-go's handshake, or a third of
 * a longer --request-timeout: whoever raises it for a slow link or a busy server means the
 * handshake too. Never more than the request itself. */
static long connect_limit_ms(const struct kube_client *c)
{
    long rt = c->opts.request_timeout_ms;
    long ms = rt / 3 > 10000 ? rt / 3 : 10000;
    return ms < rt ? ms : rt;
}

static long connect_timeout_ms(const struct kube_client *c)
{
    return kube_deadline_left_ms(c, connect_limit_ms(c));
}

int kube_prepare_handle(struct kube_client *c, CURL *h, const char *path,
                        struct curl_slist **headers, struct error *err)
{
    const struct rest_config *cfg = c->cfg;
    char *url = text_printf("%s%s", c->url_base, path);
    if (url == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    curl_easy_setopt(h, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (c->share != NULL)
        curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->connect_to != NULL) {
        /* The list lives in the client, which outlives its handles. */
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to);
        *headers = curl_slist_append(*headers, c->host_header);
    }
    if (cfg->insecure_skip_tls_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (cfg->ca.len > 0) {
        struct curl_blob blob = {.data = cfg->ca.data, .len = cfg->ca.len, .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    }
    const struct blob *cert = &cfg->client_cert, *key = &cfg->client_key;
    pthread_mutex_lock(&c->lock);
    if (cert->len == 0 && c->have_cred && c->cred.client_cert.len > 0) {
        cert = &c->cred.client_cert;
        key = &c->cred.client_key;
    }
    if (cert->len > 0) {
        struct curl_blob cb = {.data = cert->data, .len = cert->len, .flags = CURL_BLOB_COPY};
        struct curl_blob kb = {.data = key->data, .len = key->len, .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
    }
    if (c->auth_header != NULL)
        *headers = curl_slist_append(*headers, c->auth_header);
    pthread_mutex_unlock(&c->lock);
    if (cfg->proxy_url != NULL)
        curl_easy_setopt(h, CURLOPT_PROXY, cfg->proxy_url);
    if (c->opts.request_timeout_ms > 0 || c->opts.deadline_ms > 0)
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms(c));
    return 0;
}

static size_t collect_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    size_t n = size * nmemb;
    return dynbuf_add(ud, ptr, n) == DYNBUF_OK ? n : 0;
}

struct header_info {
    long retry_after;    /* -1 = none or not an integer */
    char location[1024]; /* Location of a redirect (never followed), "" = none */
};

static size_t collect_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct header_info *hi = ud;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0) {
        char buf[32];
        size_t l = n - 12 < sizeof buf - 1 ? n - 12 : sizeof buf - 1;
        memcpy(buf, ptr + 12, l);
        buf[l] = '\0';
        char *end;
        long v = strtol(buf, &end, 10);
        while (*end == ' ' || *end == '\r' || *end == '\n')
            end++;
        hi->retry_after = (*end == '\0' && end != buf && v >= 0) ? v : -1;
    } else if (n > 9 && strncasecmp(ptr, "Location:", 9) == 0) {
        size_t off = 9;
        while (off < n && ptr[off] == ' ')
            off++;
        size_t l = n - off;
        while (l > 0 && (ptr[off + l - 1] == '\r' || ptr[off + l - 1] == '\n'))
            l--;
        if (l >= sizeof hi->location)
            l = sizeof hi->location - 1;
        memcpy(hi->location, ptr + off, l);
        hi->location[l] = '\0';
    }
    return n;
}

/* What RBAC checks for a request, derived from method and path the way the API
 * server's RequestInfo does: verb, resource[/subresource], namespace, name. */
struct request_info {
    char verb[16];
    char resource[96];
    char group[64];
    char ns[128];
    char name[256];
};

static void parse_request_info(const char *method, const char *path, struct request_info *ri)
{
    memset(ri, 0, sizeof *ri);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    char *q = strchr(buf, '?');
    if (q != NULL)
        *q = '\0';
    char *parts[16];
    int n = 0;
    for (char *tok = strtok(buf, "/"); tok != NULL && n < 16; tok = strtok(NULL, "/"))
        parts[n++] = tok;
    int i = 0;
    if (i < n && strcmp(parts[i], "api") == 0) {
        i += 2; /* api/v1 */
    } else if (i < n && strcmp(parts[i], "apis") == 0) {
        if (i + 1 < n)
            snprintf(ri->group, sizeof ri->group, "%s", parts[i + 1]);
        i += 3; /* apis/group/version */
    }
    if (i + 1 < n && strcmp(parts[i], "namespaces") == 0 && i + 2 < n) {
        snprintf(ri->ns, sizeof ri->ns, "%s", parts[i + 1]);
        i += 2;
    }
    const char *res = i < n ? parts[i] : "";
    const char *name = i + 1 < n ? parts[i + 1] : NULL;
    const char *sub = i + 2 < n ? parts[i + 2] : NULL;
    if (sub != NULL)
        snprintf(ri->resource, sizeof ri->resource, "%s/%s", res, sub);
    else
        snprintf(ri->resource, sizeof ri->resource, "%s", res);
    if (name != NULL)
        snprintf(ri->name, sizeof ri->name, "%s", name);
    const char *verb = "get";
    if (strcmp(method, "DELETE") == 0)
        verb = "delete";
    else if (strcmp(method, "POST") == 0)
        verb = "create";
    else if (strcmp(method, "PATCH") == 0)
        verb = "patch";
    else if (strcmp(method, "PUT") == 0)
        verb = "update";
    else if (name == NULL)
        verb = "list";
    if (sub != NULL && strcmp(sub, "exec") == 0)
        verb = "get+create"; /* WebSocket exec: get, plus create since 1.35 */
    snprintf(ri->verb, sizeof ri->verb, "%s", verb);
}

static const char *context_label(const struct rest_config *cfg)
{
    return cfg->context_name ? cfg->context_name : "in-cluster";
}

int kube_error_from_response(struct kube_client *c, const char *method, const char *path,
                             long status, const char *body, size_t body_len, struct error *err)
{
    const struct rest_config *cfg = c->cfg;
    char message[1024] = "";
    char causes[512] = ""; /* details.causes: why an eviction was refused */
    json_t *root = NULL;
    if (body != NULL && body_len > 0) {
        root = json_loadb(body, body_len, 0, NULL);
        if (root != NULL && json_is_object(root) && json_object_get(root, "message") != NULL) {
            const char *m = jstr(root, "message");
            snprintf(message, sizeof message, "%s", m ? m : "");
            size_t i, len = 0;
            json_t *cause;
            json_array_foreach(json_object_get(json_object_get(root, "details"), "causes"), i,
                               cause)
            {
                const char *cm = jstr(cause, "message");
                if (cm != NULL)
                    text_appendf(causes, sizeof causes, &len, " %s", cm);
            }
        } else {
            /* Plain text (404 page not found, priority-and-fairness 429): first line. */
            size_t l = body_len < sizeof message - 1 ? body_len : sizeof message - 1;
            memcpy(message, body, l);
            message[l] = '\0';
            char *nl = strpbrk(message, "\r\n");
            if (nl != NULL)
                *nl = '\0';
        }
    }
    json_decref(root);
    struct request_info ri;
    parse_request_info(method, path, &ri);
    int rc;
    switch (status) {
    case 401:
        rc = error_set(err, ERR_UNAUTHORIZED,
                       "the API server at %s rejected the credentials of user \"%s\" (context "
                       "\"%s\"): Unauthorized; the token or client certificate is wrong or "
                       "expired, log in again or fix the user in %s",
                       cfg->server, cfg->user_name ? cfg->user_name : "?", context_label(cfg),
                       cfg->origin ? cfg->origin : "the kubeconfig");
        break;
    case 403: {
        char where[200] = "";
        if (ri.ns[0] != '\0')
            snprintf(where, sizeof where, " in namespace \"%s\"", ri.ns);
        if (strcmp(ri.verb, "get+create") == 0) {
            rc = error_set(err, ERR_FORBIDDEN,
                           "RBAC denies exec: grant verbs \"get\" and \"create\" on resource "
                           "\"pods/exec\"%s (API server: %s)",
                           where, message[0] ? message : "Forbidden");
        } else {
            rc = error_set(err, ERR_FORBIDDEN,
                           "RBAC denies \"%s\" on resource \"%s%s%s\"%s: grant verb \"%s\" on "
                           "\"%s\" to this user (API server: %s)",
                           ri.verb, ri.resource, ri.group[0] ? "." : "", ri.group, where, ri.verb,
                           ri.resource, message[0] ? message : "Forbidden");
        }
        break;
    }
    case 404:
        rc = error_set(err, ERR_NOT_FOUND, "%s", message[0] ? message : "not found");
        break;
    case 429:
        if (causes[0] != '\0') {
            /* A refusal with its reasons (an eviction the PodDisruptionBudget does
             * not allow), not the server being busy. */
            rc = error_set(err, ERR_REMOTE, "%s%s", message, causes);
            break;
        }
        rc = error_set(err, ERR_REMOTE, "the API server answered %ld to %s %s%s%s", status, method,
                       path, message[0] ? ": " : "", message);
        break;
    default:
        rc = error_set(err, status == 429 || status >= 500 ? ERR_REMOTE : ERR_REMOTE,
                       "the API server answered %ld to %s %s%s%s", status, method, path,
                       message[0] ? ": " : "", message);
        break;
    }
    err->http_status = (int)status;
    return rc;
}

int kube_error_from_curl(struct kube_client *c, CURLcode rc, const char *errbuf, struct error *err)
{
    const struct rest_config *cfg = c->cfg;
    const char *detail = (errbuf != NULL && errbuf[0] != '\0') ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return error_set(err, ERR_UNREACHABLE,
                         "cannot reach the API server at %s (context \"%s\"): %s; is the cluster "
                         "running and the server address in %s right?",
                         cfg->server, context_label(cfg), detail,
                         cfg->origin ? cfg->origin : "the kubeconfig");
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return error_set(err, ERR_UNREACHABLE, "cannot resolve the API server address %s: %s",
                         cfg->server, detail);
    case CURLE_OPERATION_TIMEDOUT:
        return error_set(err, ERR_TIMEOUT,
                         "no answer from the API server at %s within %ld ms, or no connection "
                         "within %ld ms (--request-timeout sets both): %s",
                         cfg->server, c->opts.request_timeout_ms, connect_limit_ms(c), detail);
    case CURLE_PEER_FAILED_VERIFICATION:
#if LIBCURL_VERSION_NUM < 0x073e00
    case CURLE_SSL_CACERT:
#endif
    case CURLE_SSL_CACERT_BADFILE:
        return error_set(err, ERR_TLS,
                         "TLS: the API server's certificate at %s is not trusted by %s: %s; fix "
                         "certificate-authority(-data) of cluster \"%s\"",
                         cfg->server,
                         cfg->ca_description ? cfg->ca_description : "the system CA store", detail,
                         cfg->cluster_name ? cfg->cluster_name : "?");
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
        if (cfg->client_cert.len > 0)
            return error_set(err, ERR_TLS,
                             "TLS handshake with %s failed: %s (check %s and the client "
                             "certificate and key of user \"%s\")",
                             cfg->server, detail,
                             cfg->ca_description ? cfg->ca_description : "the system CA store",
                             cfg->user_name ? cfg->user_name : "?");
        return error_set(err, ERR_TLS, "TLS handshake with %s failed: %s (check %s)", cfg->server,
                         detail, cfg->ca_description ? cfg->ca_description : "the system CA store");
    case CURLE_ABORTED_BY_CALLBACK:
        return error_set(err, ERR_INTERRUPTED, "interrupted");
    default:
        return error_set(err, ERR_UNREACHABLE, "request to the API server at %s failed: %s",
                         cfg->server, detail);
    }
}

static void sleep_seconds(long s)
{
    struct timespec ts = {.tv_sec = s, .tv_nsec = 0};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* What a request sends: a body and its Content-Type (PATCH), or nothing. */
struct request_body {
    const char *content_type;
    const char *data;
};

/* Is this answer the API server's own (a Status), not what a pod said through
 * pods/proxy? Vault answers JSON without "kind"; a priority-and-fairness 429
 * is plain text with Retry-After (docs/kubernetes.md §2.3), Vault's 429 has none. */
static int api_server_answer(long status, const char *body, size_t len, long retry_after)
{
    json_t *root = body != NULL && len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    int status_object = root != NULL && json_is_object(root) &&
                        json_is_string(json_object_get(root, "kind")) &&
                        strcmp(json_string_value(json_object_get(root, "kind")), "Status") == 0;
    int is_json = root != NULL;
    json_decref(root);
    return status_object || (status == 429 && retry_after >= 0 && !is_json);
}

/* One API call; the body is parsed as JSON into *out, or handed over as text
 * in *text (NUL-terminated) when text is not NULL. With pass, what a pod
 * answered through pods/proxy (any status) is handed over there, and
 * extra_header (a secret line, wiped) is sent too. */
static int request_ex(struct kube_client *c, const char *method, const char *path,
                      const struct request_body *send, const char *extra_header,
                      struct kube_proxy_answer *pass, json_t **out, char **text, struct error *err)
{
    int is_read = strcmp(method, "GET") == 0;
    int refreshed = 0;
    for (int attempt = 0;; attempt++) {
        CURL *h = take_handle(c);
        if (h == NULL)
            return error_set(err, ERR_GENERIC, "out of memory");
        struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
        if (send != NULL) {
            char ct[128];
            snprintf(ct, sizeof ct, "Content-Type: %s", send->content_type);
            headers = curl_slist_append(headers, ct);
        }
        if (extra_header != NULL)
            headers = curl_slist_append(headers, extra_header);
        if (kube_prepare_handle(c, h, path, &headers, err) < 0) {
            release_handle(c, h);
            wipe_slist(headers);
            return -1;
        }
        struct dynbuf body = {.max = pass != NULL ? PROXY_BODY_MAX : BODY_MAX};
        struct header_info hi = {.retry_after = -1};
        char errbuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        /* A redirect is never followed: a Vault standby's 307 names the active pod's
         * IP, and following it would send the headers there (docs/kubernetes.md §8). */
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        if (send != NULL) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, send->data);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(send->data));
        }
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &hi);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        if (c->opts.request_timeout_ms > 0 || c->opts.deadline_ms > 0)
            curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                             kube_deadline_left_ms(c, c->opts.request_timeout_ms));
        if (!c->cfg->disable_compression)
            curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");

        long long t0 = clock_now_ms();
        CURLcode rc = curl_easy_perform(h);
        long ms = (long)(clock_now_ms() - t0);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        release_handle(c, h);
        wipe_slist(headers); /* the Authorization line */

        if (rc != CURLE_OK) {
            kube_trace(c, "%s %s%s: %s (%ld ms)", method, c->cfg->server, path,
                       curl_easy_strerror(rc), ms);
            enum dynbuf_result collected = dynbuf_result(&body);
            dynbuf_free(&body);
            if (collected == DYNBUF_TOO_BIG)
                return error_set(err, ERR_PROTOCOL, "%s %s: answer larger than %zu bytes", method,
                                 path, (size_t)(pass != NULL ? PROXY_BODY_MAX : BODY_MAX));
            return kube_error_from_curl(c, rc, errbuf, err);
        }
        kube_trace(c, "%s %s%s %ld (%ld ms, %zu bytes%s)", method, c->cfg->server, path, status, ms,
                   body.len, extra_header != NULL ? ", X-Vault-Token redacted" : "");
        if (pass != NULL && !api_server_answer(status, body.data, body.len, hi.retry_after)) {
            pass->status = status;
            pass->len = body.len;
            pass->body = dynbuf_take(&body);
            pass->location = hi.location[0] ? strdup(hi.location) : NULL;
            return pass->body == NULL ? error_set(err, ERR_GENERIC, "out of memory") : 0;
        }
        if (status >= 200 && status < 300) {
            int ret = 0;
            if (text != NULL) {
                *text = dynbuf_take(&body);
                return 0;
            }
            if (out != NULL) {
                json_error_t je;
                *out = json_loadb(dynbuf_str(&body), body.len, 0, &je);
                if (*out == NULL)
                    ret = error_set(err, ERR_PROTOCOL,
                                    "%s %s: the API server's answer is not JSON: %s", method, path,
                                    je.text);
            }
            dynbuf_free(&body);
            return ret;
        }
        if (status == 401 && !refreshed && kube_refresh_credentials(c)) {
            refreshed = 1;
            dynbuf_free(&body);
            continue;
        }
        if (is_read && (status == 429 || status >= 500) && hi.retry_after >= 0 &&
            attempt < c->opts.max_retries) {
            long wait = hi.retry_after;
            if (wait < 1)
                wait = 1;
            if (wait > RETRY_WAIT_MAX_S)
                wait = RETRY_WAIT_MAX_S;
            kube_trace(c, "retrying %s %s in %ld s (Retry-After)", method, path, wait);
            dynbuf_free(&body);
            sleep_seconds(wait);
            continue;
        }
        kube_error_from_response(c, method, path, status, body.data, body.len, err);
        dynbuf_free(&body);
        return -1;
    }
}

static int request(struct kube_client *c, const char *method, const char *path,
                   const struct request_body *send, json_t **out, char **text, struct error *err)
{
    return request_ex(c, method, path, send, NULL, NULL, out, text, err);
}

int kube_get(struct kube_client *c, const char *path, json_t **out, struct error *err)
{
    return request(c, "GET", path, NULL, out, NULL, err);
}

int kube_get_text(struct kube_client *c, const char *path, char **out, struct error *err)
{
    return request(c, "GET", path, NULL, NULL, out, err);
}

int kube_delete(struct kube_client *c, const char *path, json_t **out, struct error *err)
{
    return request(c, "DELETE", path, NULL, out, NULL, err);
}

int kube_patch(struct kube_client *c, const char *path, const char *content_type, const char *body,
               json_t **out, struct error *err)
{
    struct request_body send = {.content_type = content_type, .data = body};
    return request(c, "PATCH", path, &send, out, NULL, err);
}

int kube_send(struct kube_client *c, const char *method, const char *path, const char *body,
              json_t **out, struct error *err)
{
    struct request_body send = {.content_type = "application/json", .data = body};
    return request(c, method, path, body != NULL ? &send : NULL, out, NULL, err);
}

/* --- pods/proxy -------------------------------------------------------------------------- */

void kube_proxy_answer_clear(struct kube_proxy_answer *a)
{
    free(a->body);
    free(a->location);
    memset(a, 0, sizeof *a);
}

int kube_proxy_get(struct kube_client *c, const char *ns, const char *pod_id, const char *path,
                   const struct secret *vault_token, struct kube_proxy_answer *ans,
                   struct error *err)
{
    memset(ans, 0, sizeof *ans);
    char *p = text_printf("/api/v1/namespaces/%s/pods/%s/proxy%s", ns, pod_id, path);
    if (p == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    /* The token only ever travels in this header line, in locked memory here;
     * curl's copy of the list is wiped (wipe_slist). */
    struct secret line = {0};
    int rc = 0;
    if (vault_token != NULL && vault_token->len > 0) {
        static const char name[] = "X-Vault-Token: ";
        for (size_t i = 0; i < vault_token->len; i++)
            if ((unsigned char)vault_token->data[i] < 0x21 || vault_token->data[i] == 0x7f) {
                free(p); /* a line break would end the header and start another */
                return error_set(err, ERR_USAGE,
                                 "the Vault token holds a space or control character");
            }
        if (secret_alloc(&line, sizeof name + vault_token->len, err) < 0) {
            free(p);
            return -1;
        }
        memcpy(line.data, name, sizeof name - 1);
        memcpy(line.data + sizeof name - 1, vault_token->data, vault_token->len);
        line.data[sizeof name - 1 + vault_token->len] = '\0';
        line.len = sizeof name - 1 + vault_token->len;
    }
    rc = request_ex(c, "GET", p, NULL, line.data, ans, NULL, NULL, err);
    secret_free(&line);
    free(p);
    return rc;
}

/* The cached decision for ns: 1 allowed, 0 refused, -1 not decided yet. */
static int proxy_cached(struct kube_client *c, const char *ns)
{
    int v = -1;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nproxy; i++)
        if (strcmp(c->proxy[i].ns, ns) == 0)
            v = c->proxy[i].allowed;
    pthread_mutex_unlock(&c->lock);
    return v;
}

static void proxy_remember(struct kube_client *c, const char *ns, int allowed)
{
    pthread_mutex_lock(&c->lock);
    size_t i = 0;
    while (i < c->nproxy && strcmp(c->proxy[i].ns, ns) != 0)
        i++;
    if (i == c->nproxy) {
        struct proxy_decision *d = realloc(c->proxy, (c->nproxy + 1) * sizeof *d);
        char *copy = strdup(ns);
        if (d == NULL || copy == NULL) {
            free(copy);
            if (d != NULL)
                c->proxy = d;
            pthread_mutex_unlock(&c->lock);
            return;
        }
        c->proxy = d;
        c->proxy[c->nproxy++].ns = copy;
    }
    c->proxy[i].allowed = allowed;
    pthread_mutex_unlock(&c->lock);
}

int kube_proxy_allowed(struct kube_client *c, const char *ns)
{
    if (c->opts.read_via == KUBE_READ_EXEC)
        return 0;
    if (c->opts.read_via == KUBE_READ_PROXY)
        return 1;
    int cached = proxy_cached(c, ns);
    if (cached >= 0)
        return cached;
    /* One SelfSubjectAccessReview per namespace and run; any user may ask it. Two
     * threads asking for the same namespace at once may both ask: same answer. */
    char *body = text_printf(
        "{\"kind\":\"SelfSubjectAccessReview\",\"apiVersion\":\"authorization.k8s.io/v1\","
        "\"spec\":{\"resourceAttributes\":{\"namespace\":\"%s\",\"verb\":\"get\","
        "\"resource\":\"pods\",\"subresource\":\"proxy\"}}}",
        ns);
    struct request_body send = {.content_type = "application/json", .data = body};
    json_t *review = NULL;
    struct error err = {0};
    int allowed = 1; /* no answer: try, and let the first 403 decide */
    if (body != NULL && request(c, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                                &send, &review, NULL, &err) == 0)
        allowed = json_is_true(json_object_get(json_object_get(review, "status"), "allowed"));
    json_decref(review);
    free(body);
    kube_trace(c, "pods/proxy in namespace %s: %s", ns,
               allowed ? "allowed, reads go through the API server"
                       : "not allowed (RBAC), reads run the CLI in the pods (exec)");
    proxy_remember(c, ns, allowed);
    return allowed;
}

void kube_proxy_refused(struct kube_client *c, const char *ns)
{
    if (c->opts.read_via != KUBE_READ_AUTO)
        return;
    kube_trace(c, "pods/proxy in namespace %s refused (403): reads run the CLI in the pods", ns);
    proxy_remember(c, ns, 0);
}
