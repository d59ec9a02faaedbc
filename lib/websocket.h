/* RFC 6455 WebSocket client on a libcurl CURLOPT_CONNECT_ONLY connection,
 * forced to HTTP/1.1 (docs/kubernetes.md §1.1, §1.3).
 *
 * Two layers:
 *  - pure framing, no I/O: the frame encoder, an incremental parser fed with
 *    whatever bytes arrived (any split), the handshake key/accept computation,
 *    the request writer and the response-head parser. Unit-tested byte by byte.
 *  - a thin non-blocking connection: ws_connect() performs TCP/TLS/proxy
 *    through libcurl, writes the upgrade request itself and checks the 101;
 *    then the caller polls ws_conn_fd() and calls ws_receive() / ws_flush().
 *    Several connections can share one poll loop; nothing here blocks after
 *    the handshake.
 *
 * Client frames are always masked with a fresh random key, FIN=1, never
 * fragmented (the Kubernetes server treats every frame as a message). Server
 * frames may come in any length form and fragmented, with control frames
 * between fragments; a masked server frame, RSV bits, unknown opcodes, control
 * frames over 125 bytes, a close code that may not be sent on the wire (below
 * 1000, 1004-1006, 1015-2999, 5000 and up) and a close reason that is not
 * UTF-8 are protocol errors, answered with a Close 1002. Pings are answered
 * with a pong echoing the payload; a valid Close is answered with its code. */
#ifndef VH_WEBSOCKET_H
#define VH_WEBSOCKET_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "error.h"
#include "kube.h"

#define WS_OP_CONTINUATION 0x0
#define WS_OP_TEXT         0x1
#define WS_OP_BINARY       0x2
#define WS_OP_CLOSE        0x8
#define WS_OP_PING         0x9
#define WS_OP_PONG         0xA

#define WS_HEADER_MAX  14  /* 2 + 8 (64-bit length) + 4 (mask key) */
#define WS_CONTROL_MAX 125 /* payload limit of ping, pong and close */

#define WS_CLOSE_NORMAL    1000
#define WS_CLOSE_PROTOCOL  1002
#define WS_CLOSE_NO_STATUS 1005 /* reported when a Close frame carried no code */

/* ---- framing (pure) ------------------------------------------------------------------------ */

/* Writes a frame header for a payload of len bytes; mask NULL = unmasked.
 * Returns the header length (2, 4 or 10, plus 4 when masked). */
size_t ws_frame_header(uint8_t out[WS_HEADER_MAX], int fin, int opcode, uint64_t len,
                       const uint8_t mask[4]);

/* XORs data with the mask key; offset is the position of data[0] in the payload. */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);

/* Encodes one complete frame (FIN=1) into out: header, then the payload masked
 * with mask (NULL = unmasked). Returns the frame length, 0 when cap is too small. */
size_t ws_encode_frame(uint8_t *out, size_t cap, int opcode, const void *payload, size_t len,
                       const uint8_t mask[4]);

enum ws_event_type {
    WS_EV_NONE,  /* every byte given was consumed; more input is needed */
    WS_EV_DATA,  /* a piece of a data message (text or binary), pointing into the input */
    WS_EV_PING,  /* payload in data/len (the parser's buffer) */
    WS_EV_PONG,  /* likewise */
    WS_EV_CLOSE, /* close_code, reason in data/len */
    WS_EV_ERROR, /* protocol error; the text is in the parser's error[] */
};

struct ws_event {
    enum ws_event_type type;
    int opcode;        /* DATA: opcode of the message (text or binary) */
    int message_start; /* DATA: first piece of a message */
    int message_end;   /* DATA: last piece of a message (may be empty) */
    const uint8_t *data;
    size_t len;
    int close_code; /* CLOSE: the code, WS_CLOSE_NO_STATUS when the frame had none */
};

/* Incremental parser of server frames. Data payloads are streamed as they
 * arrive (a 1 GiB message never needs 1 GiB of memory); fragmented messages
 * are reported as one message (message_start on the first piece, message_end
 * on the last), with control frames between the fragments reported on their
 * own. Zero-initialising (or ws_parser_init) gives a ready parser. */
struct ws_parser {
    int state;
    uint8_t hdr[WS_HEADER_MAX];
    size_t hdr_have, hdr_need;
    int fin, opcode;
    uint64_t remaining;    /* payload bytes of the current frame not yet consumed */
    int msg_opcode;        /* opcode of the data message in progress, 0 = none */
    int msg_first_pending; /* the next DATA piece starts the message */
    uint8_t ctl[WS_CONTROL_MAX];
    size_t ctl_len;
    char error[160];
};

void ws_parser_init(struct ws_parser *p);

/* Consumes input up to and including one event. Returns the number of bytes
 * consumed and fills *ev; ev->type is WS_EV_NONE when all of them were
 * consumed without completing an event. Call again with the rest. After
 * WS_EV_ERROR the parser stays failed. */
size_t ws_parse(struct ws_parser *p, const uint8_t *in, size_t len, struct ws_event *ev);

/* ---- handshake (pure) ---------------------------------------------------------------------- */

#define WS_KEY_LEN    24 /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */

/* A fresh Sec-WebSocket-Key: 16 random bytes, base64. Returns -1 if the RNG fails. */
int ws_make_key(char key[WS_KEY_LEN + 1]);

/* Sec-WebSocket-Accept for a key: base64(SHA1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")). */
void ws_accept_for_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* The upgrade request: "GET target HTTP/1.1", Host (host unless headers hold a
 * "Host:" line, which then wins), Upgrade, Connection, the key, version 13, ONE
 * Sec-WebSocket-Protocol line listing protocols (NULL-terminated) in order,
 * then every line of headers (Authorization from kube_prepare_handle) and
 * user_agent when not NULL. malloc'd; it may hold a bearer token: wipe it. */
char *ws_build_request(const char *target, const char *host, const char *key,
                       const char *const *protocols, const struct curl_slist *headers,
                       const char *user_agent);

/* What matters of an HTTP response head. */
struct ws_response {
    int status;
    char reason[64];
    char upgrade[64];
    char connection[128];
    char accept[64];
    char protocol[128];
    int has_protocol;
    char content_type[128];
    int has_content_type;
    long long content_length; /* -1 = none */
    int chunked;              /* Transfer-Encoding: chunked */
    size_t header_len;        /* bytes up to and including the blank line */
};

/* Parses a response head from the start of buf. Returns 1 when complete (bytes
 * after r->header_len are the start of the frame stream or the body), 0 when
 * more bytes are needed, -1 when it is not HTTP. */
int ws_parse_response(const char *buf, size_t len, struct ws_response *r);

/* Checks a 101 answer: Upgrade: websocket, Connection: upgrade, the accept value
 * for key, and a Sec-WebSocket-Protocol that is one of protocols. On success
 * *chosen points at the matching entry of protocols. */
int ws_check_upgrade(const struct ws_response *r, const char *key, const char *const *protocols,
                     const char **chosen, struct error *err);

/* Decodes a chunked body in place; returns the decoded length, or -1 when the
 * chunks are malformed or incomplete. */
long long ws_dechunk(char *body, size_t len);

/* The body of a refused upgrade (the len bytes that followed the head),
 * decoded in place: cut at Content-Length, de-chunked (empty when the chunks
 * are malformed), NUL-terminated at the returned length. body must have room
 * for that NUL at body[len]. */
size_t ws_response_body(const struct ws_response *r, char *body, size_t len);

/* ---- connection ---------------------------------------------------------------------------- */

struct ws_conn;

struct ws_connect_params {
    const char *path;              /* path and query, appended to the server URL (prefix kept) */
    const char *const *protocols;  /* offered subprotocols in order of preference */
    long timeout_ms;               /* connect + handshake; 0 = 30 s, < 0 = none */
    volatile sig_atomic_t *cancel; /* non-zero = give up (ERR_INTERRUPTED); may be NULL */
};

/* Connects through the client's TLS, proxy and credentials and upgrades.
 * A 401 refreshes exec-plugin credentials and retries once. Non-101 answers
 * become errors through kube_error_from_response (a 403 with JSON is RBAC);
 * a 403 with no body at all means no offered subprotocol is spoken. */
int ws_connect(struct kube_client *kube, const struct ws_connect_params *p, struct ws_conn **out,
               struct error *err);

/* Closes the socket and frees everything (queued bytes are wiped). NULL is fine. */
void ws_conn_free(struct ws_conn *c);

/* The subprotocol the server chose (one of the offered strings). */
const char *ws_conn_protocol(const struct ws_conn *c);

/* The socket to poll: POLLIN always while open, POLLOUT when ws_want_write(). */
int ws_conn_fd(const struct ws_conn *c);

/* Payload bytes that ws_send() accepts right now as one data frame (0 = wait
 * until ws_flush() made room). */
size_t ws_send_space(const struct ws_conn *c);

/* Queues one masked frame (FIN=1) and tries to send it. Data frames must fit
 * ws_send_space(); control frames have their own reserve. The queue holds
 * masked copies and is wiped once sent. */
int ws_send(struct ws_conn *c, int opcode, const void *payload, size_t len, struct error *err);

/* Sends queued bytes until the socket would block. */
int ws_flush(struct ws_conn *c, struct error *err);

/* Queued bytes wait for the socket. */
int ws_want_write(const struct ws_conn *c);

/* Sending failed (the peer is gone): nothing more can be sent, but bytes the
 * peer sent before may still be read. */
int ws_conn_broken(const struct ws_conn *c);

typedef int (*ws_event_fn)(void *ctx, const struct ws_event *ev, struct error *err);

enum ws_rx {
    WS_RX_AGAIN = 0,  /* drained: poll before calling again */
    WS_RX_MORE = 1,   /* budget used up with bytes possibly still buffered (TLS): call again
                         before polling */
    WS_RX_CLOSED = 2, /* the connection ended: see ws_conn_closed() */
};

/* Reads what is available (at most about budget bytes) and feeds it to the
 * parser; DATA and CLOSE events go to fn, which may return -1 to stop (the
 * error it set is returned). Pings are answered here. Returns an enum ws_rx,
 * or -1 on a protocol error or when fn failed. Call it once right after
 * ws_connect, before the first poll: frames that came with the 101, and TLS
 * records read ahead with it, are already buffered and would not wake poll. */
int ws_receive(struct ws_conn *c, size_t budget, ws_event_fn fn, void *ctx, struct error *err);

/* After WS_RX_CLOSED: 1 when a Close frame arrived (*code set), 0 when the
 * connection ended without one (abrupt end; *why describes it). */
int ws_conn_closed(const struct ws_conn *c, int *code, const char **why);

/* Queues a Close with code (if not sent yet) and flushes it for at most
 * wait_ms. Errors are ignored: the peer may already be gone. */
void ws_close(struct ws_conn *c, int code, long wait_ms);

/* Bytes of WebSocket payload received and sent so far. */
unsigned long long ws_bytes_received(const struct ws_conn *c);

#endif
