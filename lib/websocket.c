#include "websocket.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "text.h"
#include "dynbuf.h"
#include "wipe.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* Receive buffer: everything read is parsed at once (payloads are streamed to
 * the caller), so this bounds memory, not message size. */
#define RBUF_SIZE (64u << 10)
/* Send queue: two full data frames (one being sent while the next is queued)
 * plus a reserve that only control frames (pong, close) may use. */
#define DATA_FRAME_MAX  (32u << 10)
#define CONTROL_RESERVE 1024u
#define WBUF_SIZE       (2 * (DATA_FRAME_MAX + WS_HEADER_MAX) + CONTROL_RESERVE)
#define HEAD_MAX        (16u << 10) /* response head of the upgrade */
#define ERROR_BODY_MAX  (64u << 10) /* body of a refused upgrade */
#define DEFAULT_TIMEOUT 30000L
#define POLL_SLICE_MS   100

enum { P_HEADER, P_PAYLOAD, P_CONTROL, P_FAILED };

/* ---- framing ------------------------------------------------------------------------------- */

size_t ws_frame_header(uint8_t out[WS_HEADER_MAX], int fin, int opcode, uint64_t len,
                       const uint8_t mask[4])
{
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0x00) | (opcode & 0x0f));
    uint8_t m = mask != NULL ? 0x80 : 0x00;
    if (len <= 125) {
        out[n++] = (uint8_t)(m | len);
    } else if (len <= 0xffff) {
        out[n++] = (uint8_t)(m | 126);
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = (uint8_t)(m | 127);
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(len >> (8 * i));
    }
    if (mask != NULL) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
    /* Eight bytes at a time: m[k] = mask[(offset + k) % 4], and 8 is a multiple of 4. */
    uint8_t m[8];
    for (int k = 0; k < 8; k++)
        m[k] = mask[(offset + (uint64_t)k) & 3];
    uint64_t m64;
    memcpy(&m64, m, sizeof m64);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, data + i, sizeof v);
        v ^= m64;
        memcpy(data + i, &v, sizeof v);
    }
    for (; i < len; i++)
        data[i] ^= m[i & 7];
}

size_t ws_encode_frame(uint8_t *out, size_t cap, int opcode, const void *payload, size_t len,
                       const uint8_t mask[4])
{
    uint8_t hdr[WS_HEADER_MAX];
    size_t hl = ws_frame_header(hdr, 1, opcode, len, mask);
    if (cap < hl || cap - hl < len)
        return 0;
    memcpy(out, hdr, hl);
    if (len > 0)
        memcpy(out + hl, payload, len);
    if (mask != NULL)
        ws_mask(out + hl, len, mask, 0);
    return hl + len;
}

void ws_parser_init(struct ws_parser *p)
{
    memset(p, 0, sizeof *p);
    p->state = P_HEADER;
    p->hdr_need = 2;
}

static size_t parser_fail(struct ws_parser *p, struct ws_event *ev, size_t used, const char *msg)
{
    snprintf(p->error, sizeof p->error, "%s", msg);
    p->state = P_FAILED;
    ev->type = WS_EV_ERROR;
    return used;
}

/* Close codes that may be sent on the wire (RFC 6455 §7.4 and the IANA
 * registry): 1000-1003, 1007-1014, and 3000-4999 for libraries and
 * applications. 1004 is reserved; 1005, 1006 and 1015 are never sent; the
 * rest below 3000 is unassigned, below 1000 unused. */
static int close_code_allowed(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static int is_control(int opcode)
{
    return (opcode & 0x08) != 0;
}

size_t ws_parse(struct ws_parser *p, const uint8_t *in, size_t len, struct ws_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->type = WS_EV_NONE;
    if (p->hdr_need == 0) /* zero-initialised */
        ws_parser_init(p);
    size_t used = 0;
    for (;;) {
        switch (p->state) {
        case P_FAILED:
            ev->type = WS_EV_ERROR;
            return used;

        case P_HEADER: {
            while (p->hdr_have < p->hdr_need && used < len)
                p->hdr[p->hdr_have++] = in[used++];
            if (p->hdr_have < p->hdr_need)
                return used;
            if (p->hdr_need == 2) {
                uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
                int opcode = b0 & 0x0f, fin = (b0 & 0x80) != 0;
                if (b0 & 0x70)
                    return parser_fail(p, ev, used,
                                       "a frame has reserved bits (RSV1-3) set, but no extension "
                                       "was negotiated");
                if (b1 & 0x80)
                    return parser_fail(p, ev, used, "the server sent a masked frame");
                if (opcode != WS_OP_CONTINUATION && opcode != WS_OP_TEXT &&
                    opcode != WS_OP_BINARY && opcode != WS_OP_CLOSE && opcode != WS_OP_PING &&
                    opcode != WS_OP_PONG) {
                    char m[64];
                    snprintf(m, sizeof m, "unknown frame opcode 0x%x", opcode);
                    return parser_fail(p, ev, used, m);
                }
                if (is_control(opcode) && !fin)
                    return parser_fail(p, ev, used, "a control frame is fragmented");
                if (is_control(opcode) && (b1 & 0x7f) > WS_CONTROL_MAX)
                    return parser_fail(p, ev, used, "a control frame is longer than 125 bytes");
                if (opcode == WS_OP_CONTINUATION && p->msg_opcode == 0)
                    return parser_fail(p, ev, used,
                                       "a continuation frame arrived outside a fragmented message");
                if ((opcode == WS_OP_TEXT || opcode == WS_OP_BINARY) && p->msg_opcode != 0)
                    return parser_fail(p, ev, used,
                                       "a new message started before the fragmented one ended");
                size_t l7 = b1 & 0x7f;
                size_t need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0);
                if (need > 2) {
                    p->hdr_need = need;
                    continue;
                }
            }
            /* Complete header. */
            p->fin = (p->hdr[0] & 0x80) != 0;
            p->opcode = p->hdr[0] & 0x0f;
            size_t l7 = p->hdr[1] & 0x7f;
            uint64_t plen = l7;
            if (l7 == 126) {
                plen = ((uint64_t)p->hdr[2] << 8) | p->hdr[3];
            } else if (l7 == 127) {
                plen = 0;
                for (int i = 0; i < 8; i++)
                    plen = (plen << 8) | p->hdr[2 + i];
                if (plen >> 63)
                    return parser_fail(p, ev, used, "a frame length has its top bit set");
            }
            p->hdr_have = 0;
            p->hdr_need = 2;
            p->remaining = plen;
            if (is_control(p->opcode)) {
                p->ctl_len = 0;
                p->state = P_CONTROL;
                continue;
            }
            if (p->opcode != WS_OP_CONTINUATION) {
                p->msg_opcode = p->opcode;
                p->msg_first_pending = 1;
            }
            p->state = P_PAYLOAD;
            if (plen == 0) {
                ev->type = WS_EV_DATA;
                ev->opcode = p->msg_opcode;
                ev->message_start = p->msg_first_pending;
                ev->message_end = p->fin;
                ev->data = in + used;
                ev->len = 0;
                p->msg_first_pending = 0;
                p->state = P_HEADER;
                if (p->fin)
                    p->msg_opcode = 0;
                return used;
            }
            continue;
        }

        case P_PAYLOAD: {
            if (used == len)
                return used;
            size_t n = len - used;
            if ((uint64_t)n > p->remaining)
                n = (size_t)p->remaining;
            ev->type = WS_EV_DATA;
            ev->opcode = p->msg_opcode;
            ev->message_start = p->msg_first_pending;
            ev->data = in + used;
            ev->len = n;
            p->msg_first_pending = 0;
            p->remaining -= n;
            used += n;
            if (p->remaining == 0) {
                ev->message_end = p->fin;
                p->state = P_HEADER;
                if (p->fin)
                    p->msg_opcode = 0;
            }
            return used;
        }

        case P_CONTROL: {
            size_t n = len - used;
            if ((uint64_t)n > p->remaining)
                n = (size_t)p->remaining;
            memcpy(p->ctl + p->ctl_len, in + used, n);
            p->ctl_len += n;
            p->remaining -= n;
            used += n;
            if (p->remaining > 0)
                return used;
            p->state = P_HEADER;
            if (p->opcode == WS_OP_CLOSE) {
                if (p->ctl_len == 1)
                    return parser_fail(p, ev, used, "a close frame has a one-byte payload");
                int code = p->ctl_len >= 2 ? (p->ctl[0] << 8) | p->ctl[1] : WS_CLOSE_NO_STATUS;
                if (p->ctl_len >= 2 && !close_code_allowed(code)) {
                    char m[96];
                    snprintf(m, sizeof m,
                             "a close frame carries code %d, which RFC 6455 does not allow", code);
                    return parser_fail(p, ev, used, m);
                }
                if (p->ctl_len > 2 && !text_is_utf8((const char *)p->ctl + 2, p->ctl_len - 2))
                    return parser_fail(p, ev, used, "a close frame's reason is not UTF-8");
                ev->type = WS_EV_CLOSE;
                ev->close_code = code;
                ev->data = p->ctl;
                ev->len = 0;
                if (p->ctl_len >= 2) {
                    ev->data = p->ctl + 2;
                    ev->len = p->ctl_len - 2;
                }
            } else {
                ev->type = p->opcode == WS_OP_PING ? WS_EV_PING : WS_EV_PONG;
                ev->data = p->ctl;
                ev->len = p->ctl_len;
            }
            return used;
        }
        }
    }
}

/* ---- handshake ----------------------------------------------------------------------------- */

int ws_make_key(char key[WS_KEY_LEN + 1])
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
    key[WS_KEY_LEN] = '\0';
    return 0;
}

void ws_accept_for_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s%s", key, WS_GUID);
    if (n < 0 || (size_t)n >= sizeof buf)
        n = 0;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
    out[WS_ACCEPT_LEN] = '\0';
}

static void add(struct dynbuf *b, const char *s)
{
    dynbuf_add(b, s, strlen(s));
}

static int header_is(const char *line, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static void write_request(struct dynbuf *b, const char *target, const char *host, const char *key,
                          const char *const *protocols, const struct curl_slist *headers,
                          const char *user_agent)
{
    const char *host_line = NULL;
    for (const struct curl_slist *l = headers; l != NULL; l = l->next)
        if (header_is(l->data, "Host"))
            host_line = l->data;
    add(b, "GET ");
    add(b, target);
    add(b, " HTTP/1.1\r\n");
    if (host_line != NULL) {
        add(b, host_line);
    } else {
        add(b, "Host: ");
        add(b, host);
    }
    add(b, "\r\n");
    if (user_agent != NULL) {
        add(b, "User-Agent: ");
        add(b, user_agent);
        add(b, "\r\n");
    }
    add(b, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
    add(b, key);
    add(b, "\r\nSec-WebSocket-Version: 13\r\n");
    if (protocols != NULL && protocols[0] != NULL) {
        add(b, "Sec-WebSocket-Protocol: ");
        for (size_t i = 0; protocols[i] != NULL; i++) {
            if (i > 0)
                add(b, ", ");
            add(b, protocols[i]);
        }
        add(b, "\r\n");
    }
    for (const struct curl_slist *l = headers; l != NULL; l = l->next) {
        if (header_is(l->data, "Host"))
            continue;
        add(b, l->data);
        add(b, "\r\n");
    }
    add(b, "\r\n");
}

char *ws_build_request(const char *target, const char *host, const char *key,
                       const char *const *protocols, const struct curl_slist *headers,
                       const char *user_agent)
{
    struct dynbuf b = {.wipe = 1}; /* the Authorization line */
    write_request(&b, target, host, key, protocols, headers, user_agent);
    return dynbuf_take(&b);
}

/* Copies a header value (trimmed) into dst. */
static void copy_value(char *dst, size_t cap, const char *v, size_t vl)
{
    while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (vl >= cap)
        vl = cap - 1;
    memcpy(dst, v, vl);
    dst[vl] = '\0';
}

int ws_parse_response(const char *buf, size_t len, struct ws_response *r)
{
    memset(r, 0, sizeof *r);
    r->content_length = -1;
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL) {
        /* Not even a status line prefix: reject early instead of waiting for 16 KiB. */
        size_t k = len < 5 ? len : 5;
        if (memcmp(buf, "HTTP/", k) != 0)
            return -1;
        return 0;
    }
    r->header_len = (size_t)(end - buf) + 4;
    const char *line = buf;
    const char *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
    /* Status line: HTTP/1.x SP code SP reason */
    if (eol == NULL || eol - line < 12 || strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
        return -1;
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -1;
        code = code * 10 + (line[i] - '0');
    }
    r->status = code;
    if (eol - line > 13)
        copy_value(r->reason, sizeof r->reason, line + 13, (size_t)(eol - line - 13));
    line = eol + 2;
    int have_accept = 0, have_upgrade = 0;
    while (line < end + 2) {
        eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        if (eol == NULL || eol == line)
            break;
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon != NULL) {
            size_t nl = (size_t)(colon - line);
            const char *v = colon + 1;
            size_t vl = (size_t)(eol - v);
#define NAME_IS(s) (nl == sizeof(s) - 1 && strncasecmp(line, s, nl) == 0)
            if (NAME_IS("Upgrade") && !have_upgrade) {
                copy_value(r->upgrade, sizeof r->upgrade, v, vl);
                have_upgrade = 1;
            } else if (NAME_IS("Connection")) {
                /* Several Connection lines are one comma-separated list. */
                size_t cl = strlen(r->connection);
                if (cl > 0 && cl + 2 < sizeof r->connection) {
                    strcat(r->connection, ", ");
                    cl += 2;
                }
                copy_value(r->connection + cl, sizeof r->connection - cl, v, vl);
            } else if (NAME_IS("Sec-WebSocket-Accept") && !have_accept) {
                copy_value(r->accept, sizeof r->accept, v, vl);
                have_accept = 1;
            } else if (NAME_IS("Sec-WebSocket-Protocol") && !r->has_protocol) {
                copy_value(r->protocol, sizeof r->protocol, v, vl);
                r->has_protocol = 1;
            } else if (NAME_IS("Content-Type") && !r->has_content_type) {
                copy_value(r->content_type, sizeof r->content_type, v, vl);
                r->has_content_type = 1;
            } else if (NAME_IS("Content-Length")) {
                char num[32];
                copy_value(num, sizeof num, v, vl);
                char *e;
                errno = 0;
                long long cl = strtoll(num, &e, 10);
                if (errno == 0 && e != num && *e == '\0' && cl >= 0)
                    r->content_length = cl;
            } else if (NAME_IS("Transfer-Encoding")) {
                char te[64];
                copy_value(te, sizeof te, v, vl);
                if (strcasestr(te, "chunked") != NULL)
                    r->chunked = 1;
            }
#undef NAME_IS
        }
        line = eol + 2;
    }
    return 1;
}

static int has_token(const char *list, const char *token)
{
    size_t tl = strlen(token);
    const char *p = list;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p != '\0' && *p != ',')
            p++;
        const char *e = p;
        while (e > start && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - start) == tl && strncasecmp(start, token, tl) == 0)
            return 1;
    }
    return 0;
}

static void join_protocols(const char *const *protocols, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; protocols != NULL && protocols[i] != NULL; i++) {
        int w = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", protocols[i]);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
}

int ws_check_upgrade(const struct ws_response *r, const char *key, const char *const *protocols,
                     const char **chosen, struct error *err)
{
    if (r->status != 101)
        return error_set(err, ERR_PROTOCOL, "the API server answered %d instead of 101", r->status);
    if (strcasecmp(r->upgrade, "websocket") != 0)
        return error_set(err, ERR_PROTOCOL,
                         "the API server's 101 answer upgrades to \"%s\", not to websocket",
                         r->upgrade);
    if (!has_token(r->connection, "upgrade"))
        return error_set(err, ERR_PROTOCOL,
                         "the API server's 101 answer lacks \"Connection: Upgrade\" (got \"%s\")",
                         r->connection);
    char expect[WS_ACCEPT_LEN + 1];
    ws_accept_for_key(key, expect);
    if (strcmp(r->accept, expect) != 0)
        return error_set(err, ERR_PROTOCOL,
                         "the API server's Sec-WebSocket-Accept \"%s\" does not match the key "
                         "(expected \"%s\"): something between us and the API server answered",
                         r->accept, expect);
    char offered[256];
    join_protocols(protocols, offered, sizeof offered);
    if (protocols == NULL || protocols[0] == NULL) {
        *chosen = NULL;
        return 0;
    }
    if (!r->has_protocol || r->protocol[0] == '\0')
        return error_set(err, ERR_PROTOCOL,
                         "the API server accepted the WebSocket upgrade without choosing one of "
                         "the offered subprotocols (%s)",
                         offered);
    for (size_t i = 0; protocols[i] != NULL; i++) {
        if (strcmp(r->protocol, protocols[i]) == 0) {
            *chosen = protocols[i];
            return 0;
        }
    }
    return error_set(err, ERR_PROTOCOL,
                     "the API server chose subprotocol \"%s\", which we did not offer (%s)",
                     r->protocol, offered);
}

long long ws_dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;
    for (;;) {
        /* chunk-size = 1*HEXDIG, then [ chunk-ext ] CRLF; parsed only inside the
         * size line (the body is not NUL-terminated, and strtoull would skip
         * whitespace past it). */
        const char *eol = memmem(body + in, len - in, "\r\n", 2);
        if (eol == NULL)
            return -1;
        const char *p = body + in;
        unsigned long long n = 0;
        size_t digits = 0;
        for (; p < eol && text_hex_digit((unsigned char)*p) >= 0; p++, digits++) {
            if (n >> 60)
                return -1; /* more than 2^64 */
            n = n << 4 | (unsigned)text_hex_digit((unsigned char)*p);
        }
        if (digits == 0 || (p != eol && *p != ';' && *p != ' ' && *p != '\t'))
            return -1;
        in = (size_t)(eol - body) + 2;
        if (n == 0)
            return (long long)out;
        if (n > len - in || len - in - n < 2 || memcmp(body + in + n, "\r\n", 2) != 0)
            return -1;
        memmove(body + out, body + in, n);
        out += n;
        in += n + 2;
    }
}

size_t ws_response_body(const struct ws_response *r, char *body, size_t len)
{
    if (r->content_length >= 0 && (long long)len > r->content_length)
        len = (size_t)r->content_length;
    if (r->chunked) {
        long long dl = ws_dechunk(body, len);
        len = dl >= 0 ? (size_t)dl : 0;
    }
    body[len] = '\0';
    return len;
}

/* ---- connection ---------------------------------------------------------------------------- */

struct ws_conn {
    struct kube_client *kube;
    CURL *h;
    curl_socket_t fd;
    const char *protocol;
    struct ws_parser parser;
    uint8_t *rbuf;
    size_t roff, rlen;
    uint8_t *wbuf;
    size_t woff, wlen;
    int again_pending; /* the last send returned CURLE_AGAIN: retry with the same bytes */
    int ended;         /* no more reading: close received or connection gone */
    int close_received;
    int close_code;
    int close_sent;
    int send_failed;
    char why[256];
    char errbuf[CURL_ERROR_SIZE];
    unsigned long long rx_payload;
};

static int xferinfo_cancel(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    volatile sig_atomic_t *cancel = ud;
    return (cancel != NULL && *cancel) ? 1 : 0;
}

/* Waits until fd is ready for events, the deadline passes (0) or cancel is set (-2). */
static int wait_fd(curl_socket_t fd, short events, long long deadline,
                   volatile sig_atomic_t *cancel)
{
    for (;;) {
        if (cancel != NULL && *cancel)
            return -2;
        long long left = deadline > 0 ? deadline - clock_now_ms() : POLL_SLICE_MS;
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, (int)(left < POLL_SLICE_MS ? left : POLL_SLICE_MS));
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 1; /* let the next send/recv report the problem */
    }
}

struct handshake {
    struct kube_client *kube;
    const struct ws_connect_params *p;
    long long deadline; /* 0 = none */
    CURL *h;
    curl_socket_t fd;
    char *head; /* HEAD_MAX + ERROR_BODY_MAX */
    size_t got;
};

static int hs_timeout(struct handshake *hs, const char *phase, struct error *err)
{
    return error_set(err, ERR_TIMEOUT,
                     "no answer from the API server at %s within %ld ms while %s the WebSocket "
                     "upgrade of %s",
                     kube_client_config(hs->kube)->server,
                     hs->p->timeout_ms > 0 ? hs->p->timeout_ms : DEFAULT_TIMEOUT, phase,
                     hs->p->path);
}

static int hs_send_all(struct handshake *hs, const char *data, size_t len, struct error *err)
{
    size_t off = 0;
    while (off < len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(hs->h, data + off, len - off, &n);
        if (rc == CURLE_AGAIN) {
            int w = wait_fd(hs->fd, POLLOUT, hs->deadline, hs->p->cancel);
            if (w == -2)
                return error_set(err, ERR_INTERRUPTED, "interrupted");
            if (w == 0)
                return hs_timeout(hs, "sending", err);
            continue;
        }
        if (rc != CURLE_OK)
            return kube_error_from_curl(hs->kube, rc, NULL, err);
        off += n;
    }
    return 0;
}

/* Reads more bytes into hs->head up to limit. Returns bytes read, 0 at EOF, -1 error
 * (-3 when the deadline passed: the caller decides whether that is fatal). */
static long hs_read(struct handshake *hs, size_t limit, struct error *err)
{
    for (;;) {
        if (hs->got >= limit)
            return 0;
        size_t n = 0;
        CURLcode rc = curl_easy_recv(hs->h, hs->head + hs->got, limit - hs->got, &n);
        if (rc == CURLE_AGAIN) {
            int w = wait_fd(hs->fd, POLLIN, hs->deadline, hs->p->cancel);
            if (w == -2) {
                error_set(err, ERR_INTERRUPTED, "interrupted");
                return -1;
            }
            if (w == 0)
                return -3;
            continue;
        }
        if (rc != CURLE_OK) {
            /* A server that closes right after a refusal can make TLS report an
             * unexpected EOF: treat it as the end of the answer. */
            return 0;
        }
        hs->got += n;
        return (long)n;
    }
}

static int body_complete(const struct ws_response *r, const char *body, size_t len)
{
    if (r->content_length >= 0)
        return (long long)len >= r->content_length;
    if (r->chunked)
        return len >= 5 && (memcmp(body + len - 5, "0\r\n\r\n", 5) == 0);
    return 0; /* until the server closes */
}

/* Exec streams are bulk data in 16 KiB TLS records. Without read-ahead OpenSSL
 * reads each record with two recv calls (header, then body); with it and a
 * larger buffer one recv takes several records. Every SSL_read is still made
 * until CURLE_AGAIN before we poll, so no decrypted data waits unseen. */
#define TLS_READ_BUFFER (256u << 10)

static CURLcode tune_tls(CURL *h, void *ssl_ctx, void *unused)
{
    (void)h, (void)unused;
    SSL_CTX_set_read_ahead((SSL_CTX *)ssl_ctx, 1);
    SSL_CTX_set_default_read_buffer_len((SSL_CTX *)ssl_ctx, TLS_READ_BUFFER);
    return CURLE_OK;
}

/* The callback gets the TLS library's own context: only an SSL_CTX of the same
 * OpenSSL major version as ours may be touched (a libcurl built against another
 * one would hand us a structure of a different layout). */
static int curl_uses_our_openssl(void)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (v == NULL || v->ssl_version == NULL || strncmp(v->ssl_version, "OpenSSL/", 8) != 0)
        return 0;
    unsigned long major = strtoul(v->ssl_version + 8, NULL, 10);
    return major == (unsigned long)(OpenSSL_version_num() >> 28);
}

/* One attempt. *status_out receives the HTTP status (0 when none arrived). */
static int connect_once(struct kube_client *kube, const struct ws_connect_params *p,
                        struct ws_conn **out, int *status_out, struct error *err)
{
    *status_out = 0;
    const struct rest_config *cfg = kube_client_config(kube);
    struct handshake hs = {.kube = kube, .p = p, .fd = CURL_SOCKET_BAD};
    long timeout = p->timeout_ms == 0 ? DEFAULT_TIMEOUT : p->timeout_ms;
    long long t0 = clock_now_ms();
    hs.deadline = timeout > 0 ? t0 + timeout : 0;

    int ret = -1;
    struct curl_slist *headers = NULL;
    char *request = NULL, *target = NULL, *host = NULL;
    CURLU *u = NULL;
    struct ws_conn *c = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";

    hs.h = curl_easy_init();
    hs.head = malloc(HEAD_MAX + ERROR_BODY_MAX + 1);
    if (hs.h == NULL || hs.head == NULL) {
        error_set(err, ERR_GENERIC, "out of memory");
        goto done;
    }
    if (kube_prepare_handle(kube, hs.h, p->path, &headers, err) < 0)
        goto done;
    curl_easy_setopt(hs.h, CURLOPT_CONNECT_ONLY, 1L);
    /* HTTP/1.1 only: ALPN must not negotiate h2, the upgrade is written by hand. */
    curl_easy_setopt(hs.h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    /* Through an HTTP proxy, always tunnel (CONNECT), also for http:// servers. */
    curl_easy_setopt(hs.h, CURLOPT_HTTPPROXYTUNNEL, 1L);
    curl_easy_setopt(hs.h, CURLOPT_ERRORBUFFER, errbuf);
    if (curl_uses_our_openssl())
        curl_easy_setopt(hs.h, CURLOPT_SSL_CTX_FUNCTION, tune_tls);
    /* A peer that vanished without a FIN or RST is noticed by TCP keepalive. No
     * WebSocket pings: the server cannot answer them while the process does not
     * read stdin (its read loop is blocked), which would look like a dead peer. */
    curl_easy_setopt(hs.h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(hs.h, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(hs.h, CURLOPT_TCP_KEEPINTVL, 10L);
    if (timeout > 0)
        curl_easy_setopt(hs.h, CURLOPT_TIMEOUT_MS, timeout);
    if (p->cancel != NULL) {
        curl_easy_setopt(hs.h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(hs.h, CURLOPT_XFERINFOFUNCTION, xferinfo_cancel);
        curl_easy_setopt(hs.h, CURLOPT_XFERINFODATA, (void *)p->cancel);
    }
    CURLcode rc = curl_easy_perform(hs.h);
    /* errbuf lives on this stack: the handle must not keep it. */
    curl_easy_setopt(hs.h, CURLOPT_ERRORBUFFER, NULL);
    if (rc != CURLE_OK) {
        if (rc == CURLE_ABORTED_BY_CALLBACK && p->cancel != NULL && *p->cancel)
            error_set(err, ERR_INTERRUPTED, "interrupted");
        else
            kube_error_from_curl(kube, rc, errbuf, err);
        goto done;
    }
    if (curl_easy_getinfo(hs.h, CURLINFO_ACTIVESOCKET, &hs.fd) != CURLE_OK ||
        hs.fd == CURL_SOCKET_BAD) {
        error_set(err, ERR_UNREACHABLE, "no connection to the API server at %s", cfg->server);
        goto done;
    }

    /* The request target and Host come from the URL libcurl connected to, so a
     * server path prefix (https://host/k8s/clusters/c-1) is kept. */
    char *eff = NULL;
    curl_easy_getinfo(hs.h, CURLINFO_EFFECTIVE_URL, &eff);
    u = curl_url();
    char *upath = NULL, *uquery = NULL, *uhost = NULL, *uport = NULL;
    if (u == NULL || eff == NULL || curl_url_set(u, CURLUPART_URL, eff, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &upath, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &uhost, 0) != CURLUE_OK) {
        curl_free(upath);
        curl_free(uhost);
        error_set(err, ERR_CONFIG, "cannot parse the exec URL %s%s", cfg->server, p->path);
        goto done;
    }
    if (curl_url_get(u, CURLUPART_QUERY, &uquery, 0) != CURLUE_OK)
        uquery = NULL;
    if (curl_url_get(u, CURLUPART_PORT, &uport, 0) != CURLUE_OK)
        uport = NULL;
    if (asprintf(&target, "%s%s%s", upath, uquery ? "?" : "", uquery ? uquery : "") < 0)
        target = NULL;
    if (asprintf(&host, "%s%s%s", uhost, uport ? ":" : "", uport ? uport : "") < 0)
        host = NULL;
    curl_free(upath);
    curl_free(uquery);
    curl_free(uhost);
    curl_free(uport);
    if (target == NULL || host == NULL) {
        error_set(err, ERR_GENERIC, "out of memory");
        goto done;
    }

    char key[WS_KEY_LEN + 1];
    if (ws_make_key(key) < 0) {
        error_set(err, ERR_GENERIC, "no random bytes for the WebSocket key");
        goto done;
    }
    request =
        ws_build_request(target, host, key, p->protocols, headers, "kubectl-vault_ha/" VH_VERSION);
    if (request == NULL) {
        error_set(err, ERR_GENERIC, "out of memory");
        goto done;
    }
    size_t request_len = strlen(request);
    if (hs_send_all(&hs, request, request_len, err) < 0)
        goto done;

    struct ws_response r;
    for (;;) {
        long n = hs_read(&hs, HEAD_MAX, err);
        if (n == -1)
            goto done;
        if (n == -3) {
            hs_timeout(&hs, "waiting for the answer to", err);
            goto done;
        }
        int pr = ws_parse_response(hs.head, hs.got, &r);
        if (pr < 0) {
            error_set(err, ERR_PROTOCOL,
                      "the API server at %s did not answer the WebSocket upgrade with HTTP",
                      cfg->server);
            goto done;
        }
        if (pr == 1)
            break;
        if (n == 0) {
            if (hs.got >= HEAD_MAX)
                error_set(err, ERR_PROTOCOL,
                          "the API server's answer to the WebSocket upgrade has a head over "
                          "16 KiB");
            else
                error_set(err, ERR_UNREACHABLE,
                          "the API server at %s closed the connection during the WebSocket "
                          "upgrade",
                          cfg->server);
            goto done;
        }
    }
    *status_out = r.status;
    long ms = (long)(clock_now_ms() - t0);

    if (r.status == 101) {
        const char *chosen = NULL;
        if (ws_check_upgrade(&r, key, p->protocols, &chosen, err) < 0) {
            kube_trace(kube, "GET %s%s %d (upgrade refused by us: %s, %ld ms)", cfg->server,
                       p->path, r.status, err->msg, ms);
            goto done;
        }
        kube_trace(kube, "GET %s%s %d %s (WebSocket %s, %ld ms)", cfg->server, p->path, r.status,
                   r.reason, chosen ? chosen : "-", ms);
        c = calloc(1, sizeof *c);
        if (c == NULL || (c->rbuf = malloc(RBUF_SIZE)) == NULL ||
            (c->wbuf = calloc(1, WBUF_SIZE)) == NULL) {
            error_set(err, ERR_GENERIC, "out of memory");
            goto done;
        }
        c->kube = kube;
        c->h = hs.h;
        curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
        c->fd = hs.fd;
        c->protocol = chosen;
        ws_parser_init(&c->parser);
        /* Frames may follow the head in the same read. */
        c->rlen = hs.got - r.header_len;
        memcpy(c->rbuf, hs.head + r.header_len, c->rlen);
        hs.h = NULL;
        *out = c;
        c = NULL;
        ret = 0;
        goto done;
    }

    /* A refusal: read the body (bounded), then turn it into an error. */
    size_t body_off = r.header_len;
    while (!body_complete(&r, hs.head + body_off, hs.got - body_off) &&
           hs.got < r.header_len + ERROR_BODY_MAX) {
        struct error ignored = {0};
        long n = hs_read(&hs, r.header_len + ERROR_BODY_MAX, &ignored);
        if (n <= 0)
            break; /* EOF, deadline or error: use what arrived */
    }
    char *body = hs.head + body_off;
    size_t body_len = ws_response_body(&r, body, hs.got - body_off);
    kube_trace(kube, "GET %s%s %d %s (WebSocket upgrade refused, %zu bytes, %ld ms)", cfg->server,
               p->path, r.status, r.reason, body_len, ms);
    char offered[256];
    join_protocols(p->protocols, offered, sizeof offered);
    if (r.status == 403 && body_len == 0 && !r.has_content_type) {
        /* golang.org/x/net/websocket's answer when no offered subprotocol is
         * supported: a bare 403 (docs/kubernetes.md §1.1), not RBAC. */
        error_set(err, ERR_PROTOCOL,
                  "the API server does not speak the exec protocol offered (%s); Kubernetes "
                  ">= 1.30 (v5.channel.k8s.io) or a server speaking v4.channel.k8s.io is "
                  "required",
                  offered);
        err->http_status = 403;
    } else if (r.status < 400) {
        error_set(err, ERR_PROTOCOL,
                  "the API server at %s answered the WebSocket upgrade with %d %s instead of 101 "
                  "Switching Protocols (a proxy that does not pass WebSocket upgrades?)",
                  cfg->server, r.status, r.reason);
        err->http_status = r.status;
    } else {
        kube_error_from_response(kube, "GET", p->path, r.status, body, body_len, err);
    }

done:
    if (request != NULL) {
        explicit_bzero(request, strlen(request));
        free(request);
    }
    wipe_slist(headers);
    free(target);
    free(host);
    curl_url_cleanup(u);
    if (hs.head != NULL) {
        explicit_bzero(hs.head, hs.got);
        free(hs.head);
    }
    if (hs.h != NULL)
        curl_easy_cleanup(hs.h);
    if (c != NULL) {
        free(c->rbuf);
        free(c->wbuf);
        free(c);
    }
    return ret;
}

int ws_connect(struct kube_client *kube, const struct ws_connect_params *p, struct ws_conn **out,
               struct error *err)
{
    *out = NULL;
    for (int attempt = 0;; attempt++) {
        int status = 0;
        if (connect_once(kube, p, out, &status, err) == 0)
            return 0;
        if (status == 401 && attempt == 0 && kube_refresh_credentials(kube)) {
            kube_trace(kube, "401 on the WebSocket upgrade: credentials refreshed, retrying");
            error_clear(err);
            continue;
        }
        return -1;
    }
}

void ws_conn_free(struct ws_conn *c)
{
    if (c == NULL)
        return;
    if (c->h != NULL)
        curl_easy_cleanup(c->h);
    explicit_bzero(c->wbuf, WBUF_SIZE);
    explicit_bzero(c->rbuf, RBUF_SIZE);
    free(c->wbuf);
    free(c->rbuf);
    free(c);
}

const char *ws_conn_protocol(const struct ws_conn *c)
{
    return c->protocol;
}

int ws_conn_fd(const struct ws_conn *c)
{
    return (int)c->fd;
}

unsigned long long ws_bytes_received(const struct ws_conn *c)
{
    return c->rx_payload;
}

/* Moves unsent bytes to the front, unless a send is pending with these exact bytes. */
static void compact(struct ws_conn *c)
{
    if (c->again_pending || c->woff == 0)
        return;
    size_t left = c->wlen - c->woff;
    memmove(c->wbuf, c->wbuf + c->woff, left);
    explicit_bzero(c->wbuf + left, c->wlen - left);
    c->wlen = left;
    c->woff = 0;
}

size_t ws_send_space(const struct ws_conn *c)
{
    if (c->close_sent || c->send_failed)
        return 0;
    size_t used = c->again_pending ? c->wlen : c->wlen - c->woff;
    size_t limit = WBUF_SIZE - CONTROL_RESERVE;
    if (used + WS_HEADER_MAX >= limit)
        return 0;
    size_t space = limit - used - WS_HEADER_MAX;
    return space > DATA_FRAME_MAX ? DATA_FRAME_MAX : space;
}

int ws_want_write(const struct ws_conn *c)
{
    return !c->send_failed && c->woff < c->wlen;
}

int ws_conn_broken(const struct ws_conn *c)
{
    return c->send_failed;
}

int ws_flush(struct ws_conn *c, struct error *err)
{
    if (c->send_failed)
        return error_set(err, ERR_UNREACHABLE, "the connection to the API server is broken");
    while (c->woff < c->wlen) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(c->h, c->wbuf + c->woff, c->wlen - c->woff, &n);
        if (rc == CURLE_AGAIN) {
            c->again_pending = 1;
            return 0;
        }
        c->again_pending = 0;
        if (rc != CURLE_OK) {
            c->send_failed = 1;
            return error_set(err, ERR_UNREACHABLE, "sending to the API server failed: %s",
                             c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
        }
        c->woff += n;
    }
    explicit_bzero(c->wbuf, c->wlen);
    c->woff = c->wlen = 0;
    return 0;
}

int ws_send(struct ws_conn *c, int opcode, const void *payload, size_t len, struct error *err)
{
    if (c->send_failed)
        return error_set(err, ERR_UNREACHABLE, "the connection to the API server is broken");
    if (c->close_sent)
        return error_set(err, ERR_PROTOCOL, "the WebSocket is already closing");
    int control = is_control(opcode);
    if (control && len > WS_CONTROL_MAX)
        return error_set(err, ERR_PROTOCOL, "control frame payload over 125 bytes");
    compact(c);
    if (!control && len > ws_send_space(c))
        return error_set(err, ERR_GENERIC, "WebSocket send queue full");
    uint8_t mask[4];
    if (RAND_bytes(mask, sizeof mask) != 1)
        return error_set(err, ERR_GENERIC, "no random bytes for the WebSocket mask");
    size_t n = ws_encode_frame(c->wbuf + c->wlen, WBUF_SIZE - c->wlen, opcode, payload, len, mask);
    if (n == 0)
        return error_set(err, ERR_PROTOCOL,
                         "cannot queue a control frame: the API server is not reading");
    c->wlen += n;
    if (opcode == WS_OP_CLOSE)
        c->close_sent = 1;
    return ws_flush(c, err);
}

static void reply_close(struct ws_conn *c, int code)
{
    if (c->close_sent || c->send_failed)
        return;
    uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    struct error ignored = {0};
    /* Echo the code; a Close without one is answered without one. */
    ws_send(c, WS_OP_CLOSE, payload, code == WS_CLOSE_NO_STATUS ? 0 : 2, &ignored);
}

int ws_receive(struct ws_conn *c, size_t budget, ws_event_fn fn, void *ctx, struct error *err)
{
    if (c->ended)
        return WS_RX_CLOSED;
    size_t taken = 0;
    for (;;) {
        while (c->roff < c->rlen) {
            struct ws_event ev;
            size_t n = ws_parse(&c->parser, c->rbuf + c->roff, c->rlen - c->roff, &ev);
            c->roff += n;
            switch (ev.type) {
            case WS_EV_NONE:
                break;
            case WS_EV_ERROR:
                reply_close(c, WS_CLOSE_PROTOCOL);
                c->ended = 1;
                return error_set(err, ERR_PROTOCOL,
                                 "WebSocket protocol error from the API server: %s",
                                 c->parser.error);
            case WS_EV_DATA:
                c->rx_payload += ev.len;
                if (fn(ctx, &ev, err) < 0)
                    return -1;
                break;
            case WS_EV_PING: {
                kube_trace(c->kube, "WebSocket ping (%zu bytes), answering", ev.len);
                struct error e2 = {0};
                if (!c->close_sent && ws_send(c, WS_OP_PONG, ev.data, ev.len, &e2) < 0 &&
                    !c->send_failed)
                    return error_set(err, ERR_PROTOCOL, "%s", e2.msg);
                break;
            }
            case WS_EV_PONG:
                break;
            case WS_EV_CLOSE:
                c->close_received = 1;
                c->close_code = ev.close_code;
                c->ended = 1;
                reply_close(c, ev.close_code);
                if (fn(ctx, &ev, err) < 0)
                    return -1;
                return WS_RX_CLOSED;
            }
        }
        c->roff = c->rlen = 0;
        if (taken >= budget)
            return WS_RX_MORE;
        size_t n = 0;
        CURLcode rc = curl_easy_recv(c->h, c->rbuf, RBUF_SIZE, &n);
        if (rc == CURLE_AGAIN)
            return WS_RX_AGAIN;
        if (rc != CURLE_OK || n == 0) {
            c->ended = 1;
            snprintf(c->why, sizeof c->why, "%s",
                     rc == CURLE_OK ? "the connection was closed without a WebSocket Close"
                     : c->errbuf[0] ? c->errbuf
                                    : curl_easy_strerror(rc));
            return WS_RX_CLOSED;
        }
        c->rlen = n;
        taken += n;
    }
}

int ws_conn_closed(const struct ws_conn *c, int *code, const char **why)
{
    if (code != NULL)
        *code = c->close_code;
    if (why != NULL)
        *why = c->why[0] ? c->why : "the connection ended";
    return c->close_received;
}

void ws_close(struct ws_conn *c, int code, long wait_ms)
{
    if (c == NULL)
        return;
    reply_close(c, code);
    long long deadline = clock_now_ms() + wait_ms;
    while (ws_want_write(c)) {
        struct error ignored = {0};
        if (ws_flush(c, &ignored) < 0 || !ws_want_write(c))
            break;
        if (wait_fd(c->fd, POLLOUT, deadline, NULL) <= 0)
            break;
    }
}
