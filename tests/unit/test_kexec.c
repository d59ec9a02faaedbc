/* lib/kexec: the exec URL, Status parsing, and whole sessions against a
 * scripted server on loopback (plain HTTP, one thread per connection) that
 * checks the client's bytes and answers like the API server would:
 * v5 with stdin EOF, v4 without, fragmented output with a ping between the
 * fragments, the two kinds of 403, 401, a stream cut, Status failures, a
 * server that does not read stdin, cancel, timeouts and several pods at once. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "kexec.h"
#include "websocket.h"

/* ---- pure parts ---------------------------------------------------------------------------- */

static void test_build_path(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "echo a+b c", "héllo", "x&y=z/?#%", NULL};
    struct kexec_request req = {
        .namespace = "vault", .pod = "vault-0", .container = "vault", .argv = argv};
    char *p = kexec_build_path(&req);
    assert_string_equal(p, "/api/v1/namespaces/vault/pods/vault-0/exec?container=vault&"
                           "stdout=true&stderr=true&command=sh&command=-c&command=echo%20a%2Bb%20c"
                           "&command=h%C3%A9llo&command=x%26y%3Dz%2F%3F%23%25");
    free(p);
    /* stdin only when given; no container when NULL; never tty. */
    const char *argv2[] = {"cat", NULL};
    struct kexec_request req2 = {.namespace = "ns", .pod = "p", .argv = argv2};
    req2.in.kind = KEXEC_STDIN_FD;
    p = kexec_build_path(&req2);
    assert_string_equal(p, "/api/v1/namespaces/ns/pods/p/exec?stdin=true&stdout=true&stderr=true&"
                           "command=cat");
    assert_null(strstr(p, "tty"));
    free(p);
}

static void status_ok(const char *json, int want)
{
    int code = -2;
    struct error err = {0};
    assert_int_equal(kexec_parse_status(json, strlen(json), &code, &err), 0);
    assert_int_equal(code, want);
}

static void status_fails(const char *json, enum error_kind kind, const char *msg)
{
    int code = -2;
    struct error err = {0};
    assert_int_equal(kexec_parse_status(json, strlen(json), &code, &err), -1);
    assert_int_equal(code, -1);
    assert_int_equal(err.kind, kind);
    assert_string_equal(err.msg, msg);
}

static void test_parse_status(void **state)
{
    (void)state;
    status_ok("{\"metadata\":{},\"status\":\"Success\"}", 0);
    status_ok("{\"status\":\"Success\"}", 0); /* 1.36+ cri-streaming: no metadata */
    status_ok("{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with "
              "non-zero exit code: error executing command [sh -c exit 3], exit code 3\","
              "\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\","
              "\"message\":\"3\"}]}}",
              3);
    /* The ExitCode cause is not first. */
    status_ok("{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":["
              "{\"reason\":\"Signal\",\"message\":\"9\"},{\"message\":\"x\"},"
              "{\"reason\":\"ExitCode\",\"message\":\"137\"}]}}",
              137);
    status_ok("{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":["
              "{\"reason\":\"ExitCode\",\"message\":\"255\"}]}}",
              255);
    status_fails("{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":"
                 "[{\"reason\":\"ExitCode\",\"message\":\"256\"}]}}",
                 ERR_PROTOCOL, "the exec status has an invalid exit code \"256\"");
    status_fails("{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":"
                 "[{\"reason\":\"ExitCode\",\"message\":\"-1\"}]}}",
                 ERR_PROTOCOL, "the exec status has an invalid exit code \"-1\"");
    status_fails("{\"status\":\"Failure\",\"message\":\"m\",\"reason\":\"NonZeroExitCode\"}",
                 ERR_PROTOCOL,
                 "the exec status reports a non-zero exit code without an ExitCode cause: m");
    status_fails("{\"metadata\":{},\"status\":\"Failure\",\"message\":\"Internal error occurred: "
                 "error executing command in container: failed to exec in container: exec: "
                 "\\\"nope\\\": executable file not found in $PATH\",\"reason\":\"InternalError\","
                 "\"details\":{\"causes\":[{\"message\":\"error executing command\"}]},"
                 "\"code\":500}",
                 ERR_REMOTE,
                 "Internal error occurred: error executing command in container: failed to exec "
                 "in container: exec: \"nope\": executable file not found in $PATH");
    status_fails("{\"status\":\"Failure\",\"reason\":\"InternalError\"}", ERR_REMOTE,
                 "InternalError");
    status_fails("container not found (\"vault\")", ERR_PROTOCOL,
                 "the exec status is not a JSON object: container not found (\"vault\")");
    status_fails("{\"status\":\"Unknown\"}", ERR_PROTOCOL,
                 "the exec status is neither Success nor Failure: {\"status\":\"Unknown\"}");
}

static void test_buffer_sink(void **state)
{
    (void)state;
    struct kexec_buffer b = {.buf.max = 8, .what = "stdout"};
    struct error err = {0};
    assert_int_equal(kexec_buffer_write(&b, "hello", 5, &err), 0);
    assert_int_equal(kexec_buffer_write(&b, "!!!", 3, &err), 0);
    assert_string_equal(b.buf.data, "hello!!!");
    /* Past the cap: an error that ends the session, nothing kept of it. */
    assert_int_equal(kexec_buffer_write(&b, "x", 1, &err), -1);
    assert_int_equal(err.kind, ERR_PROTOCOL);
    assert_string_equal(err.msg, "stdout is over the limit of 8 bytes (a command that does not "
                                 "stop printing?)");
    assert_int_equal(b.buf.len, 8);
    free(b.buf.data);
    struct kexec_buffer d = {0}; /* default cap: 1 MiB */
    char *big = calloc(1, 1u << 20);
    assert_int_equal(kexec_buffer_write(&d, big, 1u << 20, &err), 0);
    assert_int_equal(kexec_buffer_write(&d, big, 1, &err), -1);
    assert_string_equal(err.msg, "the output is over the limit of 1048576 bytes (a command that "
                                 "does not stop printing?)");
    free(big);
    free(d.buf.data);
}

/* ---- scripted server ----------------------------------------------------------------------- */

#define STATUS_SUCCESS "{\"metadata\":{},\"status\":\"Success\"}"

struct server;
typedef void (*scenario_fn)(struct server *sv, int fd, int index);

struct conn_record {
    char head[8192];
    int protocol_lines;
    unsigned char *stdin_data;
    size_t stdin_len;
    size_t max_frame;  /* largest client data frame payload */
    int close_signals; /* [FF 00] frames */
    int bad_frames;    /* unmasked or fragmented client frames */
    int pong_ok;       /* a pong echoing our ping arrived */
    int client_close;  /* close code the client sent, 0 = none */
};

struct server {
    int listen_fd;
    int port;
    scenario_fn scenario;
    int expected;
    pthread_t thread;
    struct conn_record rec[4];
    int accepted;
    const char *protocol; /* what the 101 chooses */
    size_t big;           /* scenario-specific sizes */
    int delay_ms;         /* scenario-specific pause */
};

struct conn_arg {
    struct server *sv;
    int fd;
    int index;
};

/* TLS: when use_tls is set the server speaks HTTPS with a throw-away self-signed
 * certificate (the client trusts it through rest_config.ca), so the libcurl TLS
 * path is exercised: TLS-buffered bytes, records split across reads, ALPN. */
static int use_tls;
static SSL_CTX *server_ctx;
static char *ca_pem;
static size_t ca_len;
static char alpn_offered[128]; /* what the client offered in ALPN, "," separated */
static __thread SSL *thread_ssl;

/* libssl (server side of the test only) is reached through dlsym: unit tests are
 * linked against libcrypto, not libssl, and libssl is loaded anyway as a
 * dependency of libcurl. */
static struct {
    const SSL_METHOD *(*TLS_server_method)(void);
    SSL_CTX *(*SSL_CTX_new)(const SSL_METHOD *);
    int (*SSL_CTX_use_certificate)(SSL_CTX *, X509 *);
    int (*SSL_CTX_use_PrivateKey)(SSL_CTX *, EVP_PKEY *);
    void (*SSL_CTX_set_alpn_select_cb)(SSL_CTX *, SSL_CTX_alpn_select_cb_func, void *);
    void (*SSL_CTX_free)(SSL_CTX *);
    SSL *(*SSL_new)(SSL_CTX *);
    int (*SSL_set_fd)(SSL *, int);
    int (*SSL_accept)(SSL *);
    int (*SSL_read)(SSL *, void *, int);
    int (*SSL_write)(SSL *, const void *, int);
    int (*SSL_shutdown)(SSL *);
    void (*SSL_free)(SSL *);
} ssl;

static void resolve_libssl(void)
{
#define RESOLVE(name)                                                                              \
    do {                                                                                           \
        *(void **)&ssl.name = dlsym(RTLD_DEFAULT, #name);                                          \
        assert_non_null(*(void **)&ssl.name);                                                      \
    } while (0)
    RESOLVE(TLS_server_method);
    RESOLVE(SSL_CTX_new);
    RESOLVE(SSL_CTX_use_certificate);
    RESOLVE(SSL_CTX_use_PrivateKey);
    RESOLVE(SSL_CTX_set_alpn_select_cb);
    RESOLVE(SSL_CTX_free);
    RESOLVE(SSL_new);
    RESOLVE(SSL_set_fd);
    RESOLVE(SSL_accept);
    RESOLVE(SSL_read);
    RESOLVE(SSL_write);
    RESOLVE(SSL_shutdown);
    RESOLVE(SSL_free);
#undef RESOLVE
}

static int alpn_select(SSL *conn, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)conn, (void)arg;
    size_t n = 0;
    alpn_offered[0] = '\0';
    for (unsigned int i = 0; i < inlen && n + in[i] + 2 < sizeof alpn_offered; i += 1u + in[i]) {
        if (n > 0)
            alpn_offered[n++] = ',';
        memcpy(alpn_offered + n, in + i + 1, in[i]);
        n += in[i];
        alpn_offered[n] = '\0';
    }
    for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
        if (in[i] == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *outlen = 8;
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static void tls_setup(void)
{
    resolve_libssl();
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"test-apiserver",
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x, san, -1);
    X509_add_ext(x, bc, -1);
    X509_EXTENSION_free(san);
    X509_EXTENSION_free(bc);
    X509_sign(x, key, EVP_sha256());
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    ca_pem = malloc((size_t)len);
    memcpy(ca_pem, data, (size_t)len);
    ca_len = (size_t)len;
    BIO_free(b);
    server_ctx = ssl.SSL_CTX_new(ssl.TLS_server_method());
    ssl.SSL_CTX_use_certificate(server_ctx, x);
    ssl.SSL_CTX_use_PrivateKey(server_ctx, key);
    ssl.SSL_CTX_set_alpn_select_cb(server_ctx, alpn_select, NULL);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void tls_teardown(void)
{
    ssl.SSL_CTX_free(server_ctx);
    free(ca_pem);
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n;
        if (thread_ssl != NULL) {
            int w = ssl.SSL_write(thread_ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
            n = w > 0 ? w : -1;
            if (n < 0)
                return -1;
        } else {
            n = send(fd, p, len, MSG_NOSIGNAL);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_exact(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n;
        if (thread_ssl != NULL) {
            int r = ssl.SSL_read(thread_ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
            n = r > 0 ? r : -1;
        } else {
            n = recv(fd, p, len, 0);
        }
        if (n < 0 && errno == EINTR && thread_ssl == NULL)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads the request head; returns its length or -1. */
static int read_head(int fd, struct conn_record *r)
{
    size_t got = 0;
    while (got < sizeof r->head - 1) {
        if (read_exact(fd, r->head + got, 1) < 0)
            return -1;
        got++;
        r->head[got] = '\0';
        if (got >= 4 && memcmp(r->head + got - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    for (const char *p = r->head; (p = strcasestr(p, "\r\nSec-WebSocket-Protocol:")) != NULL; p++)
        r->protocol_lines++;
    return (int)got;
}

static void header_value(const char *head, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    char pat[64];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    const char *p = strcasestr(head, pat);
    if (p == NULL)
        return;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static void send_frame(int fd, int opcode, int fin, const void *payload, size_t len)
{
    uint8_t hdr[WS_HEADER_MAX];
    size_t hl = ws_frame_header(hdr, fin, opcode, len, NULL);
    write_all(fd, hdr, hl);
    if (len > 0)
        write_all(fd, payload, len);
}

static void send_channel(int fd, int channel, const void *data, size_t len)
{
    uint8_t *m = malloc(len + 1);
    m[0] = (uint8_t)channel;
    memcpy(m + 1, data, len);
    send_frame(fd, WS_OP_BINARY, 1, m, len + 1);
    free(m);
}

static void send_status_and_close(int fd, const char *status)
{
    send_channel(fd, 3, status, strlen(status));
    static const uint8_t close1000[] = {0x88, 0x02, 0x03, 0xe8};
    write_all(fd, close1000, sizeof close1000);
}

/* Answers the upgrade with 101 for the request's key; extra bytes go in the same write. */
static void send_101(struct server *sv, int fd, struct conn_record *r, const void *extra,
                     size_t extra_len)
{
    char key[64], accept[WS_ACCEPT_LEN + 1];
    header_value(r->head, "Sec-WebSocket-Key", key, sizeof key);
    ws_accept_for_key(key, accept);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                     "Sec-WebSocket-Protocol: %s\r\n\r\n",
                     accept, sv->protocol ? sv->protocol : KEXEC_PROTO_V5);
    size_t total = (size_t)n + extra_len;
    char *buf = malloc(total);
    memcpy(buf, head, (size_t)n);
    if (extra_len > 0)
        memcpy(buf + n, extra, extra_len);
    write_all(fd, buf, total);
    free(buf);
}

/* Reads one client frame, unmasked into *payload (malloc'd). Returns the opcode or -1. */
static int read_client_frame(int fd, struct conn_record *r, uint8_t **payload, size_t *len)
{
    uint8_t h[2];
    if (read_exact(fd, h, 2) < 0)
        return -1;
    if (!(h[0] & 0x80) || (h[0] & 0x0f) == 0 || !(h[1] & 0x80))
        r->bad_frames++;
    uint64_t l = h[1] & 0x7f;
    if (l == 126) {
        uint8_t e[2];
        read_exact(fd, e, 2);
        l = ((uint64_t)e[0] << 8) | e[1];
    } else if (l == 127) {
        uint8_t e[8];
        read_exact(fd, e, 8);
        l = 0;
        for (int i = 0; i < 8; i++)
            l = (l << 8) | e[i];
    }
    uint8_t mask[4] = {0};
    if (h[1] & 0x80)
        read_exact(fd, mask, 4);
    *payload = malloc(l + 1);
    if (read_exact(fd, *payload, l) < 0) {
        free(*payload);
        *payload = NULL;
        return -1;
    }
    ws_mask(*payload, l, mask, 0);
    *len = l;
    return h[0] & 0x0f;
}

/* Reads client frames until [FF 00] (v5), a Close, the connection's end, or
 * until `until` stdin bytes arrived. Records stdin. Returns the last opcode. */
static int read_stdin(int fd, struct conn_record *r, size_t until)
{
    for (;;) {
        uint8_t *p = NULL;
        size_t len = 0;
        int op = read_client_frame(fd, r, &p, &len);
        if (op < 0)
            return -1;
        if (op == WS_OP_CLOSE) {
            r->client_close = len >= 2 ? (p[0] << 8) | p[1] : 1005;
            free(p);
            return op;
        }
        if (op == WS_OP_PONG) {
            r->pong_ok = len == 3 && memcmp(p, "abc", 3) == 0;
            free(p);
            continue;
        }
        if (len == 2 && p[0] == 0xff && p[1] == 0x00) {
            r->close_signals++;
            free(p);
            return op;
        }
        if (len >= 1 && p[0] == 0) {
            if (len > r->max_frame)
                r->max_frame = len;
            r->stdin_data = realloc(r->stdin_data, r->stdin_len + len);
            memcpy(r->stdin_data + r->stdin_len, p + 1, len - 1);
            r->stdin_len += len - 1;
        }
        free(p);
        if (until > 0 && r->stdin_len >= until)
            return op;
    }
}

/* Waits for the client's Close (or the end of the connection). */
static void read_client_close(int fd, struct conn_record *r)
{
    for (;;) {
        uint8_t *p = NULL;
        size_t len = 0;
        int op = read_client_frame(fd, r, &p, &len);
        if (op < 0)
            return;
        if (op == WS_OP_CLOSE) {
            r->client_close = len >= 2 ? (p[0] << 8) | p[1] : 1005;
            free(p);
            return;
        }
        if (op == WS_OP_PONG)
            r->pong_ok = len == 3 && memcmp(p, "abc", 3) == 0;
        free(p);
    }
}

static void *conn_thread(void *arg)
{
    struct conn_arg *a = arg;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(a->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* The server side may write to a connection the client closed (TLS close_notify):
     * no SIGPIPE for it. The client's thread keeps SIGPIPE deadly, so a client write
     * that could raise it fails the test. */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    thread_ssl = NULL;
    int ready = 1;
    if (use_tls) {
        thread_ssl = ssl.SSL_new(server_ctx);
        ssl.SSL_set_fd(thread_ssl, a->fd);
        ready = ssl.SSL_accept(thread_ssl) == 1;
    }
    if (ready && read_head(a->fd, &a->sv->rec[a->index]) > 0)
        a->sv->scenario(a->sv, a->fd, a->index);
    if (thread_ssl != NULL) {
        ssl.SSL_shutdown(thread_ssl); /* close_notify, like Go's tls.Conn.Close */
        ssl.SSL_free(thread_ssl);
        thread_ssl = NULL;
    }
    close(a->fd);
    free(a);
    return NULL;
}

static void *accept_thread(void *arg)
{
    struct server *sv = arg;
    pthread_t t[4];
    int n = 0;
    while (n < sv->expected) {
        int fd = accept(sv->listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        struct conn_arg *a = malloc(sizeof *a);
        *a = (struct conn_arg){.sv = sv, .fd = fd, .index = n};
        pthread_create(&t[n], NULL, conn_thread, a);
        n++;
        sv->accepted = n;
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    return NULL;
}

static void server_free(struct server *sv)
{
    for (int i = 0; i < 4; i++) {
        free(sv->rec[i].stdin_data);
        sv->rec[i].stdin_data = NULL;
    }
}

static void server_start(struct server *sv, scenario_fn fn, int expected)
{
    server_free(sv);
    memset(sv, 0, sizeof *sv);
    sv->scenario = fn;
    sv->expected = expected;
    sv->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(sv->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(sv->listen_fd, 8), 0);
    socklen_t al = sizeof a;
    getsockname(sv->listen_fd, (struct sockaddr *)&a, &al);
    sv->port = ntohs(a.sin_port);
}

static void server_run(struct server *sv)
{
    pthread_create(&sv->thread, NULL, accept_thread, sv);
}

static void server_stop(struct server *sv)
{
    shutdown(sv->listen_fd, SHUT_RDWR);
    pthread_join(sv->thread, NULL);
    close(sv->listen_fd);
}

/* ---- client side --------------------------------------------------------------------------- */

struct client {
    char server_url[128];
    struct rest_config cfg;
    struct kube_client *kube;
};

/* VH_TEST_TRACE=1 shows the client's trace lines. */
static void test_trace(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "trace: %s\n", line);
}
static void client_new(struct client *c, const struct server *sv, const char *prefix)
{
    memset(c, 0, sizeof *c);
    snprintf(c->server_url, sizeof c->server_url, "%s://127.0.0.1:%d%s", use_tls ? "https" : "http",
             sv->port, prefix ? prefix : "");
    if (use_tls) {
        c->cfg.ca.data = (unsigned char *)ca_pem;
        c->cfg.ca.len = ca_len;
    }
    c->cfg.context_name = "test";
    c->cfg.cluster_name = "test-cluster";
    c->cfg.user_name = "tester";
    c->cfg.origin = "/tmp/kubeconfig";
    c->cfg.server = c->server_url;
    c->cfg.token = "t0ken";
    c->cfg.namespace = "vault";
    struct kube_client_options o = {.request_timeout_ms = 60000,
                                    .trace = getenv("VH_TEST_TRACE") ? test_trace : NULL};
    struct error err = {0};
    assert_int_equal(kube_client_new(&c->cfg, &o, &c->kube, &err), 0);
}

static const char *const cmd_cat[] = {"cat", NULL};

static struct kexec_request request(const char *pod, struct kexec_buffer *out,
                                    struct kexec_buffer *errb)
{
    struct kexec_request r = {
        .namespace = "vault",
        .pod = pod,
        .container = "vault",
        .argv = cmd_cat,
        .out = kexec_buffer_write,
        .out_ctx = out,
        .err = kexec_buffer_write,
        .err_ctx = errb,
        .handshake_timeout_ms = 60000, /* limits for failures only: generous on a busy machine */
        .timeout_ms = 120000,
    };
    return r;
}

/* ---- scenarios ----------------------------------------------------------------------------- */

/* v5: output arrives with the 101 (initial empty frame, stdout fragmented around a
 * ping, stderr), then the server reads stdin to the CLOSE signal and answers
 * with exit code 3 and Close 1000. */
static void sc_v5_full(struct server *sv, int fd, int i)
{
    struct conn_record *r = &sv->rec[i];
    uint8_t extra[64];
    size_t n = 0;
    const uint8_t init[] = {0x82, 0x01, 0x01};
    memcpy(extra + n, init, sizeof init), n += sizeof init;
    const uint8_t frag1[] = {0x02, 0x04, 0x01, 'h', 'e', 'l'};
    memcpy(extra + n, frag1, sizeof frag1), n += sizeof frag1;
    const uint8_t ping[] = {0x89, 0x03, 'a', 'b', 'c'};
    memcpy(extra + n, ping, sizeof ping), n += sizeof ping;
    const uint8_t frag2[] = {0x80, 0x03, 'l', 'o', '\n'};
    memcpy(extra + n, frag2, sizeof frag2), n += sizeof frag2;
    const uint8_t err[] = {0x82, 0x05, 0x02, 'o', 'o', 'p', 's'};
    memcpy(extra + n, err, sizeof err), n += sizeof err;
    send_101(sv, fd, r, extra, n);
    read_stdin(fd, r, 0);
    send_status_and_close(fd, "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command "
                              "terminated with non-zero exit code\",\"reason\":"
                              "\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":"
                              "\"Other\",\"message\":\"x\"},{\"reason\":\"ExitCode\","
                              "\"message\":\"3\"}]}}");
    read_client_close(fd, r);
}

static void test_v5_session(void **state)
{
    (void)state;
    struct server sv = {0};
    server_start(&sv, sc_v5_full, 1);
    server_run(&sv);
    struct client c;
    client_new(&c, &sv, "/k8s/clusters/c-1");
    size_t in_len = 100000;
    unsigned char *in = malloc(in_len);
    for (size_t k = 0; k < in_len; k++)
        in[k] = (unsigned char)(k * 31 + 7);
    struct kexec_buffer out = {0}, errb = {0};
    const char *argv[] = {"sh", "-c", "cat; exit 3", NULL};
    struct kexec_request req = request("vault-0", &out, &errb);
    req.argv = argv;
    req.in.kind = KEXEC_STDIN_MEMORY;
    req.in.data = in;
    req.in.len = in_len;
    struct kexec_result res;
    struct error err = {0};
    assert_int_equal(kexec_run(c.kube, &req, &res, &err), 0);
    server_stop(&sv);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.exit_code, 3);
    assert_string_equal(res.protocol, KEXEC_PROTO_V5);
    assert_false(res.stdin_eof_unsupported);
    assert_string_equal(out.buf.data, "hello\n");
    assert_string_equal(errb.buf.data, "oops");
    assert_int_equal(res.stdout_bytes, 6);
    assert_int_equal(res.stderr_bytes, 4);
    assert_int_equal(res.stdin_bytes, in_len);

    struct conn_record *r = &sv.rec[0];
    /* The request: path prefix kept, one protocol line, token, GET over HTTP/1.1. */
    assert_non_null(strstr(r->head,
                           "GET /k8s/clusters/c-1/api/v1/namespaces/vault/pods/vault-0/"
                           "exec?container=vault&stdin=true&stdout=true&stderr=true&"
                           "command=sh&command=-c&command=cat%3B%20exit%203 HTTP/1.1\r\n"));
    assert_int_equal(r->protocol_lines, 1);
    assert_non_null(
        strstr(r->head, "\r\nSec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n"));
    /* The token goes over TLS only (no credential of any kind to a plain-HTTP server). */
    if (use_tls)
        assert_non_null(strstr(r->head, "\r\nAuthorization: Bearer t0ken\r\n"));
    else
        assert_null(strstr(r->head, "Authorization"));
    assert_non_null(strstr(r->head, "\r\nSec-WebSocket-Version: 13\r\n"));
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", sv.port);
    assert_non_null(strstr(r->head, host));
    /* stdin arrived intact, in masked unfragmented frames of at most 32 KiB, then
     * exactly one CLOSE signal; the ping was answered; our Close echoed 1000. */
    assert_int_equal(r->stdin_len, in_len);
    assert_memory_equal(r->stdin_data, in, in_len);
    assert_true(r->max_frame <= KEXEC_STDIN_FRAME_MAX);
    assert_true(r->max_frame > 1000);
    assert_int_equal(r->close_signals, 1);
    assert_int_equal(r->bad_frames, 0);
    assert_true(r->pong_ok);
    assert_int_equal(r->client_close, 1000);
    server_free(&sv);
    free(in);
    free(out.buf.data);
    free(errb.buf.data);
    kube_client_free(c.kube);
}

/* Pieces log_out was given, for the server thread to wait on. */
static atomic_int stdout_pieces;

/* Coalesced stdout: pieces of exactly out_coalesce bytes from an aligned buffer,
 * a held-back rest handed over after KEXEC_COALESCE_MS of quiet, stdout that
 * arrived before stderr handed over first, the rest at the end. */
static void sc_coalesce(struct server *sv, int fd, int i)
{
    struct conn_record *r = &sv->rec[i];
    const uint8_t init[] = {0x82, 0x01, 0x01};
    send_101(sv, fd, r, init, sizeof init);
    uint8_t *d = malloc(10000);
    memset(d, 'o', 10000);
    send_channel(fd, 1, d, 3000);
    send_channel(fd, 1, d, 2000);
    /* The rest once the held-back 904 bytes went to the sink (KEXEC_COALESCE_MS after they
     * came), however long a busy machine takes: watched, not slept on. */
    for (int waited = 0; stdout_pieces < 2 && waited < 60000; waited += 5)
        usleep(5 * 1000);
    send_channel(fd, 1, d, 100);
    send_channel(fd, 2, "e", 1);
    send_channel(fd, 1, d, 10000);
    send_status_and_close(fd, STATUS_SUCCESS);
    read_client_close(fd, r);
    free(d);
}

struct piece_log {
    char text[256];
    int misaligned; /* a full piece from an unaligned address */
};

static int log_out(void *ctx, const void *data, size_t len, struct error *err)
{
    (void)err;
    struct piece_log *l = ctx;
    if (len == 4096 && (uintptr_t)data % 4096 != 0)
        l->misaligned++;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "O%zu ", len);
    atomic_fetch_add(&stdout_pieces, 1);
    return 0;
}

static int log_err(void *ctx, const void *data, size_t len, struct error *err)
{
    (void)err, (void)data;
    struct piece_log *l = ctx;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "E%zu ", len);
    return 0;
}

static void test_coalesced_stdout(void **state)
{
    (void)state;
    struct server sv = {0};
    atomic_store(&stdout_pieces, 0);
    server_start(&sv, sc_coalesce, 1);
    server_run(&sv);
    struct client c;
    client_new(&c, &sv, NULL);
    struct piece_log log = {0};
    struct kexec_request req = request("vault-0", NULL, NULL);
    req.out = log_out;
    req.out_ctx = &log;
    req.err = log_err;
    req.err_ctx = &log;
    req.out_coalesce = 4096;
    struct kexec_result res;
    struct error err = {0};
    assert_int_equal(kexec_run(c.kube, &req, &res, &err), 0);
    server_stop(&sv);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(log.text, "O4096 O904 O100 E1 O4096 O4096 O1808 ");
    assert_int_equal(log.misaligned, 0);
    assert_int_equal(res.stdout_bytes, 15100);
    server_free(&sv);
    kube_client_free(c.kube);
}

/* v4: the server reads the stdin bytes, checks that no [FF xx] frame follows,
 * then answers. */
static void sc_v4(struct server *sv, int fd, int i)
{
    struct conn_record *r = &sv->rec[i];
    const uint8_t init[] = {0x82, 0x01, 0x01};
    send_101(sv, fd, r, init, sizeof init);
    read_stdin(fd, r, sv->big);
    /* Anything more within 300 ms would be a CLOSE signal v4 does not know. */
    struct timeval tv = {.tv_usec = 300000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t *p = NULL;
    size_t len = 0;
    if (read_client_frame(fd, r, &p, &len) >= 0)
        r->close_signals += 100;
    free(p);
    if (sv->delay_ms > 0)
        usleep((useconds_t)sv->delay_ms * 1000);
    send_channel(fd, 1, r->stdin_data, r->stdin_len);
    send_status_and_close(fd, STATUS_SUCCESS);
}

static int notes;
static void count_note(void *ctx, const char *pod, enum kexec_note note)
{
    (void)ctx;
    assert_string_equal(pod, "vault-1");
    assert_int_equal(note, KEXEC_NOTE_STDIN_EOF_UNSUPPORTED);
    notes++;
}

/* v4: no CLOSE signal is ever sent; the note comes only when the command still
 * runs a second after stdin ended (a quick bounded reader gets no warning). */
static void run_v4(int delay_ms, int want_notes)
{
    struct server sv = {0};
    server_start(&sv, sc_v4, 1);
    sv.protocol = KEXEC_PROTO_V4;
    sv.big = 5;
    sv.delay_ms = delay_ms;
    server_run(&sv);
    struct client c;
    client_new(&c, &sv, NULL);
    struct kexec_buffer out = {0}, errb = {0};
    struct kexec_request req = request("vault-1", &out, &errb);
    req.in.kind = KEXEC_STDIN_MEMORY;
    req.in.data = "12345";
    req.in.len = 5;
    req.note = count_note;
    notes = 0;
    struct kexec_result res;
    struct error err = {0};
    assert_int_equal(kexec_run(c.kube, &req, &res, &err), 0);
    server_stop(&sv);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.protocol, KEXEC_PROTO_V4);
    assert_true(res.stdin_eof_unsupported);
    assert_int_equal(notes, want_notes);
    assert_string_equal(out.buf.data, "12345");
    assert_int_equal(sv.rec[0].close_signals, 0);
    server_free(&sv);
    free(out.buf.data);
    kube_client_free(c.kube);
}

static void test_v4_no_stdin_eof(void **state)
{
    (void)state;
    run_v4(0, 0);
    run_v4(1500, 1);
}

static void sc_bare_403(struct server *sv, int fd, int i)
{
    (void)sv, (void)i;
    const char *a = "HTTP/1.1 403 Forbidden\r\n\r\n";
    write_all(fd, a, strlen(a));
}

static void sc_rbac_403(struct server *sv, int fd, int i)
{
    (void)sv, (void)i;
    const char *body =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"pods \\\"vault-0\\\" is forbidden: User \\\"limited\\\" cannot get "
        "resource \\\"pods/exec\\\" in API group \\\"\\\" in the namespace \\\"vault\\\"\","
        "\"reason\":\"Forbidden\",\"details\":{\"name\":\"vault-0\",\"kind\":\"pods\"},"
        "\"code\":403}";
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     strlen(body));
    write_all(fd, head, (size_t)n);
    write_all(fd, body, strlen(body));
    /* Keep the connection open: the client must stop at Content-Length. */
    char b;
    recv(fd, &b, 1, 0);
}

static void sc_401(struct server *sv, int fd, int i)
{
    (void)sv, (void)i;
    const char *a =
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "20\r\n{\"kind\":\"Status\",\"apiVersion\":\"\r\n"
        "4b\r\nv1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"Unauthorized\","
        "\"reason\":\"Unauthorized\",\"code\":401}\r\n0\r\n\r\n";
    write_all(fd, a, strlen(a));
}

/* msg is the whole message, or with exact == 0 a part of it. */
static void run_expect_error(scenario_fn fn, const char *const *protocols, enum error_kind kind,
                             const char *msg, int exact, int http_status)
{
    struct server sv = {0};
    server_start(&sv, fn, 2); /* a second connection would be a retry */
    server_run(&sv);
    struct client c;
    client_new(&c, &sv, NULL);
    struct kexec_buffer out = {0}, errb = {0};
    struct kexec_request req = request("vault-0", &out, &errb);
    req.protocols = protocols;
    struct kexec_result res;
    struct error err = {0};
    int rc = kexec_run(c.kube, &req, &res, &err);
    server_stop(&sv);
    kube_client_free(c.kube);
    assert_int_equal(rc, -1);
    assert_int_equal(res.rc, -1);
    assert_int_equal(res.exit_code, -1);
    assert_null(res.protocol);
    assert_int_equal(err.kind, kind);
    assert_int_equal(err.http_status, http_status);
    if (exact)
        assert_string_equal(err.msg, msg);
    else
        assert_non_null(strstr(err.msg, msg));
    assert_int_equal(sv.accepted, 1); /* one attempt: no retry */
}

static void test_upgrade_refusals(void **state)
{
    (void)state;
    static const char *const v5only[] = {KEXEC_PROTO_V5, NULL};
    run_expect_error(sc_bare_403, v5only, ERR_PROTOCOL,
                     "exec in vault-0: the API server does not speak the exec protocol offered "
                     "(v5.channel.k8s.io); Kubernetes >= 1.30 (v5.channel.k8s.io) or a server "
                     "speaking v4.channel.k8s.io is required",
                     1, 403);
    run_expect_error(sc_rbac_403, NULL, ERR_FORBIDDEN,
                     "exec in vault-0: RBAC denies exec: grant verbs \"get\" and \"create\" on "
                     "resource \"pods/exec\" in namespace \"vault\" (API server: pods \"vault-0\" "
                     "is forbidden: User \"limited\" cannot get resource \"pods/exec\" in API "
                     "group \"\" in the namespace \"vault\")",
                     1, 403);
    /* No exec plugin: no refresh, no second attempt. */
    run_expect_error(sc_401, NULL, ERR_UNAUTHORIZED,
                     "rejected the credentials of user \"tester\" (context \"test\"): "
                     "Unauthorized",
                     0, 401);
}

/* 101, 1000 bytes of stdout, then the TCP connection ends: no Status, no Close. */
static void sc_cut(struct server *sv, int fd, int i)
{
    char data[1000];
    memset(data, 'x', sizeof data);
    send_101(sv, fd, &sv->rec[i], NULL, 0);
    send_channel(fd, 1, data, sizeof data);
    shutdown(fd, SHUT_WR);
    char b;
    recv(fd, &b, 1, 0);
}

static void sc_close_without_status(struct server *sv, int fd, int i)
{
    send_101(sv, fd, &sv->rec[i], NULL, 0);
    send_channel(fd, 2, "e", 1);
    static const uint8_t close1000[] = {0x88, 0x02, 0x03, 0xe8};
    write_all(fd, close1000, sizeof close1000);
    read_client_close(fd, &sv->rec[i]);
}

static void sc_internal_error(struct server *sv, int fd, int i)
{
    send_101(sv, fd, &sv->rec[i], NULL, 0);
    send_status_and_close(fd, "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"Internal "
                              "error occurred: container vault is not running\",\"reason\":"
                              "\"InternalError\",\"code\":500}");
}

static void sc_masked(struct server *sv, int fd, int i)
{
    static const uint8_t masked[] = {0x82, 0x81, 1, 2, 3, 4, 5};
    send_101(sv, fd, &sv->rec[i], masked, sizeof masked);
    read_client_close(fd, &sv->rec[i]);
}

static void sc_wrong_protocol(struct server *sv, int fd, int i)
{
    sv->protocol = "channel.k8s.io";
    send_101(sv, fd, &sv->rec[i], NULL, 0);
}

static void sc_status_then_eof(struct server *sv, int fd, int i)
{
    send_101(sv, fd, &sv->rec[i], NULL, 0);
    send_channel(fd, 1, "ok\n", 3);
    send_channel(fd, 3, "{\"status\":", 10); /* the Status in two messages */
    send_channel(fd, 3, "\"Success\"}", 10);
    /* no Close frame: the TCP connection just ends */
}

static struct server *session_sv;
static struct kexec_result session_res;
static struct error session_err;

static int run_session(scenario_fn fn, long idle_ms, volatile sig_atomic_t *cancel,
                       kexec_write_fn out_fn, struct kexec_buffer *out)
{
    static struct server sv;
    server_start(&sv, fn, 1);
    server_run(&sv);
    session_sv = &sv;
    struct client c;
    client_new(&c, &sv, NULL);
    struct kexec_buffer errb = {0};
    struct kexec_request req = request("vault-0", out, &errb);
    if (out_fn != NULL)
        req.out = out_fn;
    req.idle_timeout_ms = idle_ms;
    req.cancel = cancel;
    error_clear(&session_err);
    int rc = kexec_run(c.kube, &req, &session_res, &session_err);
    server_stop(&sv);
    kube_client_free(c.kube);
    free(errb.buf.data);
    return rc;
}

/* The exit status, then a Close whose code may not be sent on the wire. */
static void sc_status_then_bad_close(struct server *sv, int fd, int i)
{
    send_101(sv, fd, &sv->rec[i], NULL, 0);
    send_channel(fd, 1, "ok\n", 3);
    const char *st = STATUS_SUCCESS;
    uint8_t hdr[WS_HEADER_MAX];
    size_t sl = strlen(st);
    size_t hl = ws_frame_header(hdr, 1, WS_OP_BINARY, sl + 1, NULL);
    write_all(fd, hdr, hl);
    write_all(fd, "\x03", 1);
    write_all(fd, st, sl);
    static const uint8_t close_1005[] = {0x88, 0x02, 0x03, 0xed};
    write_all(fd, close_1005, sizeof close_1005);
    read_client_close(fd, &sv->rec[i]);
}

static void test_stream_endings(void **state)
{
    (void)state;
    struct kexec_buffer out = {0};
    assert_int_equal(run_session(sc_cut, 0, NULL, NULL, &out), -1);
    assert_int_equal(session_err.kind, ERR_UNREACHABLE);
    assert_string_equal(session_err.msg,
                        "exec in vault-0: the stream was cut before the command finished (1000 "
                        "bytes received; the connection was closed without a WebSocket Close)");
    assert_int_equal(out.buf.len, 1000);
    free(out.buf.data);

    memset(&out, 0, sizeof out);
    assert_int_equal(run_session(sc_close_without_status, 0, NULL, NULL, &out), -1);
    assert_string_equal(session_err.msg,
                        "exec in vault-0: the stream was cut before the command finished (1 bytes "
                        "received; the API server closed it with code 1000 and no exit status)");
    assert_int_equal(session_sv->rec[0].client_close, 1000);

    assert_int_equal(run_session(sc_internal_error, 0, NULL, NULL, &out), -1);
    assert_int_equal(session_err.kind, ERR_REMOTE);
    assert_string_equal(session_err.msg, "exec in vault-0: Internal error occurred: container "
                                         "vault is not running");

    assert_int_equal(run_session(sc_masked, 0, NULL, NULL, &out), -1);
    assert_int_equal(session_err.kind, ERR_PROTOCOL);
    assert_string_equal(session_err.msg, "exec in vault-0: WebSocket protocol error from the API "
                                         "server: the server sent a masked frame");
    assert_int_equal(session_sv->rec[0].client_close, 1002);

    assert_int_equal(run_session(sc_wrong_protocol, 0, NULL, NULL, &out), -1);
    assert_int_equal(session_err.kind, ERR_PROTOCOL);
    assert_string_equal(session_err.msg,
                        "exec in vault-0: the API server chose subprotocol \"channel.k8s.io\", "
                        "which we did not offer (v5.channel.k8s.io, v4.channel.k8s.io)");

    /* 1005 is never sent on the wire: answered with 1002, not echoed. */
    memset(&out, 0, sizeof out);
    assert_int_equal(run_session(sc_status_then_bad_close, 0, NULL, NULL, &out), -1);
    assert_int_equal(session_err.kind, ERR_PROTOCOL);
    assert_string_equal(session_err.msg, "exec in vault-0: WebSocket protocol error from the API "
                                         "server: a close frame carries code 1005, which RFC "
                                         "6455 does not allow");
    assert_int_equal(session_sv->rec[0].client_close, 1002);
    free(out.buf.data);

    memset(&out, 0, sizeof out);
    assert_int_equal(run_session(sc_status_then_eof, 0, NULL, NULL, &out), 0);
    assert_int_equal(session_res.exit_code, 0);
    assert_string_equal(out.buf.data, "ok\n");
    free(out.buf.data);
}

/* The server never reads stdin and sends 2 MiB of stdout in 64-bit-length frames,
 * then the status: the client must keep receiving while its sends are stuck. */
static void sc_no_stdin_reader(struct server *sv, int fd, int i)
{
    send_101(sv, fd, &sv->rec[i], NULL, 0);
    size_t chunk = 70000;
    char *data = malloc(chunk);
    memset(data, 'y', chunk);
    size_t sent = 0;
    while (sent < sv->big) {
        send_channel(fd, 1, data, chunk);
        sent += chunk;
    }
    free(data);
    send_status_and_close(fd, STATUS_SUCCESS);
    /* Like the API server once the process exited: the read loop runs again and
     * drains what the client sent (closing with unread bytes would reset the
     * connection and drop what is still in flight to the client). */
    read_client_close(fd, &sv->rec[i]);
}

static void test_no_deadlock_when_stdin_unread(void **state)
{
    (void)state;
    struct server sv = {0};
    server_start(&sv, sc_no_stdin_reader, 1);
    sv.big = 30 * 70000;
    server_run(&sv);
    struct client c;
    client_new(&c, &sv, NULL);
    /* Far more than the socket buffers hold: loopback TCP may buffer up to tcp_rmem's and
     * tcp_wmem's maxima (32 + 4 MiB here); with 8 MiB a busy run once sent it all. */
    size_t in_len = 64u << 20;
    unsigned char *in = calloc(1, in_len);
    struct kexec_buffer out = {.buf.max = 4u << 20}, errb = {0};
    struct kexec_request req = request("vault-0", &out, &errb);
    req.in.kind = KEXEC_STDIN_MEMORY;
    req.in.data = in;
    req.in.len = in_len;
    struct kexec_result res;
    struct error err = {0};
    int rc = kexec_run(c.kube, &req, &res, &err);
    server_stop(&sv);
    if (rc != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.stdout_bytes, 30 * 70000);
    assert_true(res.stdin_bytes < in_len);
    free(in);
    free(out.buf.data);
    kube_client_free(c.kube);
}

/* The connection drops while the client is still sending stdin: the server reads
 * a little, then closes with unread bytes (the kernel answers with a reset). */
static void sc_drop_during_stdin(struct server *sv, int fd, int i)
{
    send_101(sv, fd, &sv->rec[i], NULL, 0);
    send_channel(fd, 1, "partial", 7);
    read_stdin(fd, &sv->rec[i], 100000);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (thread_ssl != NULL) {
        ssl.SSL_free(thread_ssl);
        thread_ssl = NULL;
    }
}

static void test_drop_while_sending(void **state)
{
    (void)state;
    struct server sv = {0};
    server_start(&sv, sc_drop_during_stdin, 1);
    server_run(&sv);
    struct client c;
    client_new(&c, &sv, NULL);
    size_t in_len = 16u << 20;
    unsigned char *in = calloc(1, in_len);
    struct kexec_buffer out = {0}, errb = {0};
    struct kexec_request req = request("vault-0", &out, &errb);
    req.in.kind = KEXEC_STDIN_MEMORY;
    req.in.data = in;
    req.in.len = in_len;
    struct kexec_result res;
    struct error err = {0};
    assert_int_equal(kexec_run(c.kube, &req, &res, &err), -1);
    server_stop(&sv);
    server_free(&sv);
    assert_int_equal(err.kind, ERR_UNREACHABLE);
    assert_non_null(strstr(err.msg, "exec in vault-0: the stream was cut before the command "
                                    "finished (7 bytes received; "));
    assert_true(res.stdin_bytes >= 100000);
    assert_true(res.stdin_bytes < in_len);
    assert_string_equal(out.buf.data, "partial");
    free(in);
    free(out.buf.data);
    kube_client_free(c.kube);
}

static void sc_silent(struct server *sv, int fd, int i)
{
    const uint8_t init[] = {0x82, 0x01, 0x01};
    send_101(sv, fd, &sv->rec[i], init, sizeof init);
    send_channel(fd, 1, "first\n", 6);
    read_client_close(fd, &sv->rec[i]);
}

static volatile sig_atomic_t cancel_flag;
static int cancel_on_output(void *ctx, const void *data, size_t len, struct error *err)
{
    cancel_flag = 1;
    return kexec_buffer_write(ctx, data, len, err);
}

static void test_cancel_and_timeouts(void **state)
{
    (void)state;
    struct kexec_buffer out = {0};
    /* Cancel after the first output: the session ends with ERR_INTERRUPTED and a Close. */
    cancel_flag = 0;
    assert_int_equal(run_session(sc_silent, 0, &cancel_flag, cancel_on_output, &out), -1);
    assert_int_equal(session_err.kind, ERR_INTERRUPTED);
    assert_string_equal(session_err.msg, "exec in vault-0: interrupted");
    assert_int_equal(session_sv->rec[0].client_close, 1000);
    assert_string_equal(out.buf.data, "first\n");
    free(out.buf.data);

    /* Idle timeout. */
    memset(&out, 0, sizeof out);
    assert_int_equal(run_session(sc_silent, 300, NULL, NULL, &out), -1);
    assert_int_equal(session_err.kind, ERR_TIMEOUT);
    assert_string_equal(session_err.msg, "exec in vault-0: nothing was received or sent for 300 "
                                         "ms (6 bytes received)");
    assert_int_equal(session_sv->rec[0].client_close, 1000);
    free(out.buf.data);

    /* Cancelled before it starts: no session at all. */
    cancel_flag = 1;
    memset(&out, 0, sizeof out);
    static struct server sv;
    server_start(&sv, sc_silent, 0);
    struct client c;
    client_new(&c, &sv, NULL);
    struct kexec_request req = request("vault-0", &out, NULL);
    req.err = NULL;
    req.cancel = &cancel_flag;
    struct kexec_result res;
    struct error err = {0};
    assert_int_equal(kexec_run(c.kube, &req, &res, &err), -1);
    assert_int_equal(err.kind, ERR_INTERRUPTED);
    close(sv.listen_fd);
    kube_client_free(c.kube);
}

/* Three pods at once: each answers with its pod name and an exit code by ordinal. */
static void sc_many(struct server *sv, int fd, int i)
{
    struct conn_record *r = &sv->rec[i];
    const char *p = strstr(r->head, "/pods/");
    char pod[32] = "";
    if (p != NULL)
        sscanf(p + 6, "%31[^/]", pod);
    send_101(sv, fd, r, NULL, 0);
    char line[64];
    int n = snprintf(line, sizeof line, "I am %s\n", pod);
    send_channel(fd, 1, line, (size_t)n);
    int ord = pod[strlen(pod) - 1] - '0';
    char status[256];
    snprintf(status, sizeof status,
             "{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":"
             "[{\"reason\":\"ExitCode\",\"message\":\"%d\"}]}}",
             ord + 10);
    send_status_and_close(fd, status);
    read_client_close(fd, r);
}

static void test_run_many(void **state)
{
    (void)state;
    struct server sv = {0};
    server_start(&sv, sc_many, 3);
    server_run(&sv);
    struct client c;
    client_new(&c, &sv, NULL);
    struct kexec_buffer out[3] = {0}, errb[3] = {0};
    struct kexec_request reqs[3];
    const char *pods[] = {"vault-0", "vault-1", "vault-2"};
    for (int i = 0; i < 3; i++)
        reqs[i] = request(pods[i], &out[i], &errb[i]);
    struct kexec_result res[3];
    assert_int_equal(kexec_run_many(c.kube, reqs, 3, res), 0);
    server_stop(&sv);
    for (int i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof want, "I am %s\n", pods[i]);
        assert_int_equal(res[i].rc, 0);
        assert_int_equal(res[i].exit_code, 10 + i);
        assert_string_equal(out[i].buf.data, want);
        free(out[i].buf.data);
    }
    kube_client_free(c.kube);
}

static void test_bad_requests(void **state)
{
    (void)state;
    struct kexec_request req = {.namespace = "vault", .pod = "vault-0", .argv = cmd_cat};
    static const char *const bad[] = {"channel.k8s.io", NULL};
    req.protocols = bad;
    struct kexec_result res;
    struct error err = {0};
    assert_int_equal(kexec_run(NULL, &req, &res, &err), -1);
    assert_int_equal(err.kind, ERR_USAGE);
    assert_string_equal(err.msg, "exec in vault-0: exec protocol \"channel.k8s.io\" is not "
                                 "supported (only v5.channel.k8s.io, v4.channel.k8s.io)");
    struct kexec_request none = {.namespace = "vault", .pod = "vault-0"};
    assert_int_equal(kexec_run(NULL, &none, &res, &err), -1);
    assert_string_equal(err.msg, "exec in vault-0: exec needs a namespace, a pod and a command");
}

/* The same sessions over HTTPS. */
static void test_tls_sessions(void **state)
{
    use_tls = 1;
    alpn_offered[0] = '\0';
    test_v5_session(state);
    /* HTTP/1.1 only: h2 would make the hand-written upgrade impossible. */
    assert_string_equal(alpn_offered, "http/1.1");
    test_v4_no_stdin_eof(state);
    test_upgrade_refusals(state);
    test_stream_endings(state);
    test_no_deadlock_when_stdin_unread(state);
    test_run_many(state);
    test_drop_while_sending(state);
    use_tls = 0;
}

static int teardown_tls(void **state)
{
    (void)state;
    use_tls = 0;
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_path),
        cmocka_unit_test(test_parse_status),
        cmocka_unit_test(test_buffer_sink),
        cmocka_unit_test(test_v5_session),
        cmocka_unit_test(test_coalesced_stdout),
        cmocka_unit_test(test_v4_no_stdin_eof),
        cmocka_unit_test(test_upgrade_refusals),
        cmocka_unit_test(test_stream_endings),
        cmocka_unit_test(test_no_deadlock_when_stdin_unread),
        cmocka_unit_test(test_drop_while_sending),
        cmocka_unit_test(test_cancel_and_timeouts),
        cmocka_unit_test(test_run_many),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test_teardown(test_tls_sessions, teardown_tls),
    };
    tls_setup();
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tls_teardown();
    curl_global_cleanup();
    return rc;
}
