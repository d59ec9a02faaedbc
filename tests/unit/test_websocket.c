/* lib/websocket: RFC 6455 framing (§5.7 examples), every length form, masking,
 * the incremental parser (fragments, interleaved control frames, any input
 * split, protocol errors), the handshake key/accept, the request bytes and the
 * response-head parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "websocket.h"

static const uint8_t rfc_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

/* ---- encoding ------------------------------------------------------------------------------ */

static void test_encode_unmasked_hello(void **state)
{
    (void)state;
    uint8_t out[32];
    static const uint8_t want[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    size_t n = ws_encode_frame(out, sizeof out, WS_OP_TEXT, "Hello", 5, NULL);
    assert_int_equal(n, sizeof want);
    assert_memory_equal(out, want, sizeof want);
}

static void test_encode_masked_hello(void **state)
{
    (void)state;
    uint8_t out[32];
    static const uint8_t want[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                   0x7f, 0x9f, 0x4d, 0x51, 0x58};
    size_t n = ws_encode_frame(out, sizeof out, WS_OP_TEXT, "Hello", 5, rfc_mask);
    assert_int_equal(n, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    /* Masked pong "Hello" (RFC 6455 §5.7: a pong answering the ping 89 05 "Hello"). */
    static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                   0x7f, 0x9f, 0x4d, 0x51, 0x58};
    n = ws_encode_frame(out, sizeof out, WS_OP_PONG, "Hello", 5, rfc_mask);
    assert_int_equal(n, sizeof pong);
    assert_memory_equal(out, pong, sizeof pong);
}

static void test_encode_256_and_64k(void **state)
{
    (void)state;
    uint8_t *payload = malloc(65536);
    uint8_t *out = malloc(65536 + 16);
    for (size_t i = 0; i < 65536; i++)
        payload[i] = (uint8_t)(i * 7 + 3);

    size_t n = ws_encode_frame(out, 65536 + 16, WS_OP_BINARY, payload, 256, NULL);
    assert_int_equal(n, 4 + 256);
    static const uint8_t h256[] = {0x82, 0x7e, 0x01, 0x00};
    assert_memory_equal(out, h256, 4);
    assert_memory_equal(out + 4, payload, 256);

    n = ws_encode_frame(out, 65536 + 16, WS_OP_BINARY, payload, 65536, NULL);
    assert_int_equal(n, 10 + 65536);
    static const uint8_t h64k[] = {0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
    assert_memory_equal(out, h64k, 10);
    assert_memory_equal(out + 10, payload, 65536);

    /* Masked 64 KiB: header, key, then payload XOR key. */
    n = ws_encode_frame(out, 65536 + 16, WS_OP_BINARY, payload, 65536, rfc_mask);
    assert_int_equal(n, 14 + 65536);
    assert_int_equal(out[1], 0xff);
    assert_memory_equal(out + 10, rfc_mask, 4);
    for (size_t i = 0; i < 65536; i++)
        assert_int_equal(out[14 + i], payload[i] ^ rfc_mask[i % 4]);
    /* Too small a buffer: nothing written. */
    assert_int_equal(ws_encode_frame(out, 100, WS_OP_BINARY, payload, 256, NULL), 0);
    free(payload);
    free(out);
}

static void test_header_length_forms(void **state)
{
    (void)state;
    uint8_t h[WS_HEADER_MAX];
    assert_int_equal(ws_frame_header(h, 1, WS_OP_BINARY, 0, NULL), 2);
    assert_int_equal(h[0], 0x82);
    assert_int_equal(h[1], 0x00);
    assert_int_equal(ws_frame_header(h, 1, WS_OP_BINARY, 125, NULL), 2);
    assert_int_equal(h[1], 125);
    assert_int_equal(ws_frame_header(h, 1, WS_OP_BINARY, 126, NULL), 4);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2], 0x00);
    assert_int_equal(h[3], 0x7e);
    assert_int_equal(ws_frame_header(h, 1, WS_OP_BINARY, 65535, NULL), 4);
    assert_int_equal(h[2], 0xff);
    assert_int_equal(h[3], 0xff);
    assert_int_equal(ws_frame_header(h, 1, WS_OP_BINARY, 65536, NULL), 10);
    assert_int_equal(h[1], 127);
    static const uint8_t l65536[8] = {0, 0, 0, 0, 0, 1, 0, 0};
    assert_memory_equal(h + 2, l65536, 8);
    assert_int_equal(ws_frame_header(h, 1, WS_OP_BINARY, 0x0102030405060708ULL, rfc_mask), 14);
    assert_int_equal(h[1], 0xff);
    static const uint8_t lbig[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(h + 2, lbig, 8);
    assert_memory_equal(h + 10, rfc_mask, 4);
    /* FIN clear, continuation. */
    assert_int_equal(ws_frame_header(h, 0, WS_OP_CONTINUATION, 3, rfc_mask), 6);
    assert_int_equal(h[0], 0x00);
    assert_int_equal(h[1], 0x83);
}

static void test_mask_offsets(void **state)
{
    (void)state;
    uint8_t buf[37], ref[37];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = ref[i] = (uint8_t)(i * 13);
    /* Masking in two pieces at any split equals masking at once, and is its own inverse. */
    for (size_t split = 0; split <= sizeof buf; split++) {
        uint8_t a[37];
        memcpy(a, ref, sizeof a);
        ws_mask(a, split, rfc_mask, 0);
        ws_mask(a + split, sizeof a - split, rfc_mask, split);
        for (size_t i = 0; i < sizeof a; i++)
            assert_int_equal(a[i], ref[i] ^ rfc_mask[i % 4]);
        ws_mask(a, sizeof a, rfc_mask, 0);
        assert_memory_equal(a, ref, sizeof a);
    }
    (void)buf;
}

/* ---- parsing ------------------------------------------------------------------------------- */

/* Collects what the parser reports, fed in pieces of `step` bytes. */
struct collected {
    uint8_t data[70000];
    size_t len;
    int messages; /* message_end seen */
    int starts;
    int opcode;
    int pings, pongs, closes;
    uint8_t ping[WS_CONTROL_MAX];
    size_t ping_len;
    int close_code;
    char close_reason[WS_CONTROL_MAX + 1];
    int error;
    char error_text[160];
    char order[64]; /* D (data piece), S (start), E (end), P (ping), O (pong), C (close) */
    size_t norder;
};

static void note(struct collected *c, char ch)
{
    if (c->norder + 1 < sizeof c->order)
        c->order[c->norder++] = ch;
}

static void feed(struct ws_parser *p, const uint8_t *in, size_t len, size_t step,
                 struct collected *c)
{
    size_t off = 0;
    while (off < len && !c->error) {
        size_t chunk = len - off < step ? len - off : step;
        size_t used = 0;
        while (used < chunk) {
            struct ws_event ev;
            size_t n = ws_parse(p, in + off + used, chunk - used, &ev);
            used += n;
            switch (ev.type) {
            case WS_EV_NONE:
                assert_int_equal(used, chunk);
                break;
            case WS_EV_DATA:
                if (ev.message_start) {
                    c->starts++;
                    c->opcode = ev.opcode;
                    note(c, 'S');
                }
                memcpy(c->data + c->len, ev.data, ev.len);
                c->len += ev.len;
                if (ev.message_end) {
                    c->messages++;
                    note(c, 'E');
                }
                break;
            case WS_EV_PING:
                c->pings++;
                memcpy(c->ping, ev.data, ev.len);
                c->ping_len = ev.len;
                note(c, 'P');
                break;
            case WS_EV_PONG:
                c->pongs++;
                note(c, 'O');
                break;
            case WS_EV_CLOSE:
                c->closes++;
                c->close_code = ev.close_code;
                memcpy(c->close_reason, ev.data, ev.len);
                c->close_reason[ev.len] = '\0';
                note(c, 'C');
                break;
            case WS_EV_ERROR:
                c->error = 1;
                snprintf(c->error_text, sizeof c->error_text, "%s", p->error);
                return;
            }
        }
        off += chunk;
    }
}

static void parse_all(const uint8_t *in, size_t len, size_t step, struct collected *c)
{
    struct ws_parser p;
    ws_parser_init(&p);
    memset(c, 0, sizeof *c);
    feed(&p, in, len, step, c);
}

static void test_parse_hello_any_split(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    struct collected *c = malloc(sizeof *c);
    for (size_t step = 1; step <= sizeof in; step++) {
        parse_all(in, sizeof in, step, c);
        assert_false(c->error);
        assert_int_equal(c->messages, 1);
        assert_int_equal(c->starts, 1);
        assert_int_equal(c->opcode, WS_OP_TEXT);
        assert_int_equal(c->len, 5);
        assert_memory_equal(c->data, "Hello", 5);
    }
    free(c);
}

static void test_parse_fragmented_with_ping_between(void **state)
{
    (void)state;
    /* RFC 6455 §5.7: "Hel" (FIN=0, text) then "lo" (FIN=1, continuation), here with
     * an unmasked ping "Hello" between the fragments. */
    static const uint8_t in[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x89, 0x05, 0x48,
                                 0x65, 0x6c, 0x6c, 0x6f, 0x80, 0x02, 0x6c, 0x6f};
    struct collected *c = malloc(sizeof *c);
    for (size_t step = 1; step <= sizeof in; step++) {
        parse_all(in, sizeof in, step, c);
        assert_false(c->error);
        assert_int_equal(c->messages, 1);
        assert_int_equal(c->starts, 1);
        assert_int_equal(c->len, 5);
        assert_memory_equal(c->data, "Hello", 5);
        assert_int_equal(c->pings, 1);
        assert_int_equal(c->ping_len, 5);
        assert_memory_equal(c->ping, "Hello", 5);
        c->order[c->norder] = '\0';
        assert_string_equal(c->order, "SPE");
    }
    free(c);
}

static void test_parse_binary_length_forms(void **state)
{
    (void)state;
    size_t sizes[] = {0, 1, 125, 126, 256, 65535, 65536};
    uint8_t *frame = malloc(65536 + 16);
    uint8_t *payload = malloc(65536);
    struct collected *c = malloc(sizeof *c);
    for (size_t i = 0; i < 65536; i++)
        payload[i] = (uint8_t)(i ^ (i >> 8));
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = ws_encode_frame(frame, 65536 + 16, WS_OP_BINARY, payload, sizes[k], NULL);
        size_t steps[] = {1, 3, 1000, n};
        for (size_t s = 0; s < 4; s++) {
            if (sizes[k] > 300 && steps[s] == 1)
                continue; /* byte by byte is covered by the small sizes */
            parse_all(frame, n, steps[s], c);
            assert_false(c->error);
            assert_int_equal(c->messages, 1);
            assert_int_equal(c->opcode, WS_OP_BINARY);
            assert_int_equal(c->len, sizes[k]);
            assert_memory_equal(c->data, payload, sizes[k]);
        }
    }
    /* A 16-bit length form used for a short payload is still accepted. */
    static const uint8_t wide[] = {0x82, 0x7e, 0x00, 0x02, 0x01, 0x41};
    parse_all(wide, sizeof wide, 1, c);
    assert_false(c->error);
    assert_int_equal(c->len, 2);
    free(frame);
    free(payload);
    free(c);
}

static void test_parse_kubernetes_stream(void **state)
{
    (void)state;
    /* What the API server sends: the initial empty [01], stdout "hi\n", the Success
     * status on channel 3, Close 1000 - all in one read. */
    static const char status[] = "{\"metadata\":{},\"status\":\"Success\"}";
    uint8_t in[128];
    size_t n = 0;
    static const uint8_t first[] = {0x82, 0x01, 0x01, 0x82, 0x04, 0x01,
                                    0x68, 0x69, 0x0a, 0x82, 0x23, 0x03};
    memcpy(in, first, sizeof first);
    n = sizeof first;
    assert_int_equal(strlen(status), 34);
    memcpy(in + n, status, 34);
    n += 34;
    static const uint8_t close[] = {0x88, 0x02, 0x03, 0xe8};
    memcpy(in + n, close, sizeof close);
    n += sizeof close;
    struct collected *c = malloc(sizeof *c);
    for (size_t step = 1; step <= n; step += 7) {
        parse_all(in, n, step, c);
        assert_false(c->error);
        assert_int_equal(c->messages, 3);
        assert_int_equal(c->len, 1 + 4 + 35);
        assert_memory_equal(c->data, "\x01\x01hi\n\x03{", 7);
        assert_int_equal(c->closes, 1);
        assert_int_equal(c->close_code, 1000);
        assert_string_equal(c->close_reason, "");
    }
    free(c);
}

static void test_parse_close_forms(void **state)
{
    (void)state;
    struct collected *c = malloc(sizeof *c);
    static const uint8_t empty[] = {0x88, 0x00};
    parse_all(empty, sizeof empty, 1, c);
    assert_false(c->error);
    assert_int_equal(c->closes, 1);
    assert_int_equal(c->close_code, WS_CLOSE_NO_STATUS);
    static const uint8_t reason[] = {0x88, 0x05, 0x03, 0xea, 'b', 'y', 'e'};
    parse_all(reason, sizeof reason, 2, c);
    assert_false(c->error);
    assert_int_equal(c->close_code, 1002);
    assert_string_equal(c->close_reason, "bye");
    static const uint8_t one[] = {0x88, 0x01, 0x03};
    parse_all(one, sizeof one, 3, c);
    assert_true(c->error);
    assert_string_equal(c->error_text, "a close frame has a one-byte payload");
    /* Codes RFC 6455 §7.4 allows on the wire pass; the others are a protocol error
     * (answered with 1002 by ws_receive), never echoed. */
    static const int allowed[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                  1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        uint8_t f[] = {0x88, 0x02, (uint8_t)(allowed[i] >> 8), (uint8_t)allowed[i]};
        parse_all(f, sizeof f, 1, c);
        assert_false(c->error);
        assert_int_equal(c->close_code, allowed[i]);
    }
    static const int refused[] = {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        uint8_t f[] = {0x88, 0x02, (uint8_t)(refused[i] >> 8), (uint8_t)refused[i]};
        parse_all(f, sizeof f, 1, c);
        assert_true(c->error);
        assert_int_equal(c->closes, 0);
        char want[128];
        snprintf(want, sizeof want, "a close frame carries code %d, which RFC 6455 does not allow",
                 refused[i]);
        assert_string_equal(c->error_text, want);
    }
    /* The reason must be UTF-8. */
    static const uint8_t bad_reason[] = {0x88, 0x04, 0x03, 0xe8, 0xc0, 0xaf};
    parse_all(bad_reason, sizeof bad_reason, 1, c);
    assert_true(c->error);
    assert_string_equal(c->error_text, "a close frame's reason is not UTF-8");
    static const uint8_t utf8_reason[] = {0x88, 0x05, 0x03, 0xe8, 0xe2, 0x9c, 0x93};
    parse_all(utf8_reason, sizeof utf8_reason, 2, c);
    assert_false(c->error);
    assert_string_equal(c->close_reason, "✓");
    /* A pong with a payload, unsolicited: reported, harmless. */
    static const uint8_t pong[] = {0x8a, 0x02, 'h', 'i'};
    parse_all(pong, sizeof pong, 1, c);
    assert_false(c->error);
    assert_int_equal(c->pongs, 1);
    free(c);
}

static void expect_error(const uint8_t *in, size_t len, const char *text)
{
    struct collected *c = malloc(sizeof *c);
    for (size_t step = 1; step <= len; step++) {
        parse_all(in, len, step, c);
        assert_true(c->error);
        assert_string_equal(c->error_text, text);
    }
    free(c);
}

static void test_parse_protocol_errors(void **state)
{
    (void)state;
    static const uint8_t masked[] = {0x82, 0x81, 1, 2, 3, 4, 5};
    expect_error(masked, sizeof masked, "the server sent a masked frame");
    static const uint8_t rsv1[] = {0xc2, 0x01, 0x01};
    expect_error(rsv1, sizeof rsv1,
                 "a frame has reserved bits (RSV1-3) set, but no extension was negotiated");
    static const uint8_t rsv3[] = {0x92, 0x00};
    expect_error(rsv3, sizeof rsv3,
                 "a frame has reserved bits (RSV1-3) set, but no extension was negotiated");
    static const uint8_t long_ping[] = {0x89, 0x7e, 0x00, 0x7e};
    expect_error(long_ping, sizeof long_ping, "a control frame is longer than 125 bytes");
    static const uint8_t frag_ping[] = {0x09, 0x00};
    expect_error(frag_ping, sizeof frag_ping, "a control frame is fragmented");
    static const uint8_t lone_cont[] = {0x80, 0x01, 0x41};
    expect_error(lone_cont, sizeof lone_cont,
                 "a continuation frame arrived outside a fragmented message");
    static const uint8_t interleaved[] = {0x02, 0x01, 0x41, 0x82, 0x01, 0x42};
    expect_error(interleaved, sizeof interleaved,
                 "a new message started before the fragmented one ended");
    static const uint8_t opcode3[] = {0x83, 0x00};
    expect_error(opcode3, sizeof opcode3, "unknown frame opcode 0x3");
    static const uint8_t opcode_b[] = {0x8b, 0x00};
    expect_error(opcode_b, sizeof opcode_b, "unknown frame opcode 0xb");
    static const uint8_t huge[] = {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0};
    expect_error(huge, sizeof huge, "a frame length has its top bit set");

    /* A failed parser stays failed and consumes nothing more. */
    struct ws_parser p;
    ws_parser_init(&p);
    struct ws_event ev;
    ws_parse(&p, masked, sizeof masked, &ev);
    assert_int_equal(ev.type, WS_EV_ERROR);
    static const uint8_t ok[] = {0x82, 0x00};
    assert_int_equal(ws_parse(&p, ok, sizeof ok, &ev), 0);
    assert_int_equal(ev.type, WS_EV_ERROR);
}

static void test_parse_zero_initialised(void **state)
{
    (void)state;
    struct ws_parser p;
    memset(&p, 0, sizeof p);
    static const uint8_t in[] = {0x82, 0x02, 0x01, 0x41};
    struct ws_event ev;
    size_t n = ws_parse(&p, in, sizeof in, &ev);
    assert_int_equal(n, 4);
    assert_int_equal(ev.type, WS_EV_DATA);
    assert_true(ev.message_start);
    assert_true(ev.message_end);
    assert_int_equal(ev.len, 2);
}

/* ---- handshake ----------------------------------------------------------------------------- */

static void test_accept_rfc_key(void **state)
{
    (void)state;
    /* RFC 6455 §1.3. (A value often quoted for this key, s3pPLMBiTxaQ9kcvzi2BKN0GvJo=,
     * is wrong: base64(SHA1(key + GUID)) is the one below.) */
    char out[WS_ACCEPT_LEN + 1];
    ws_accept_for_key("dGhlIHNhbXBsZSBub25jZQ==", out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_make_key(void **state)
{
    (void)state;
    char a[WS_KEY_LEN + 1], b[WS_KEY_LEN + 1];
    assert_int_equal(ws_make_key(a), 0);
    assert_int_equal(ws_make_key(b), 0);
    assert_int_equal(strlen(a), 24);
    assert_string_not_equal(a, b);
    assert_int_equal(a[22], '=');
    assert_int_equal(a[23], '=');
    unsigned char raw[24];
    assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)a, 24), 18); /* 16 + padding */
}

static void test_build_request(void **state)
{
    (void)state;
    static const char *const protos[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", NULL};
    struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer s3cr3t");
    char *r = ws_build_request("/k8s/clusters/c-1/api/v1/namespaces/vault/pods/vault-0/"
                               "exec?stdout=true&command=a%2Bb",
                               "rancher.example:8443", "dGhlIHNhbXBsZSBub25jZQ==", protos, h,
                               "kubectl-vault_ha/0.1.0");
    assert_string_equal(r, "GET /k8s/clusters/c-1/api/v1/namespaces/vault/pods/vault-0/"
                           "exec?stdout=true&command=a%2Bb HTTP/1.1\r\n"
                           "Host: rancher.example:8443\r\n"
                           "User-Agent: kubectl-vault_ha/0.1.0\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n"
                           "Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n"
                           "Authorization: Bearer s3cr3t\r\n"
                           "\r\n");
    free(r);
    /* tls-server-name: kube_prepare_handle's Host line wins over the URL's host. */
    h = curl_slist_append(h, "Host: 10.0.0.1:6443");
    static const char *const v5only[] = {"v5.channel.k8s.io", NULL};
    r = ws_build_request("/api", "api.internal:6443", "k", v5only, h, NULL);
    assert_string_equal(r, "GET /api HTTP/1.1\r\n"
                           "Host: 10.0.0.1:6443\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Key: k\r\n"
                           "Sec-WebSocket-Version: 13\r\n"
                           "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n"
                           "Authorization: Bearer s3cr3t\r\n"
                           "\r\n");
    free(r);
    curl_slist_free_all(h);
}

static const char upgrade_101[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n"
                                  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                  "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n"
                                  "\r\n";

static void test_parse_response_101_with_frames_after(void **state)
{
    (void)state;
    char buf[512];
    size_t hl = strlen(upgrade_101);
    memcpy(buf, upgrade_101, hl);
    static const uint8_t frames[] = {0x82, 0x01, 0x01, 0x82, 0x04, 0x01, 'h', 'i', '\n'};
    memcpy(buf + hl, frames, sizeof frames);
    struct ws_response r;
    /* Incomplete until the blank line. */
    for (size_t k = 1; k < hl; k++)
        assert_int_equal(ws_parse_response(buf, k, &r), 0);
    assert_int_equal(ws_parse_response(buf, hl + sizeof frames, &r), 1);
    assert_int_equal(r.status, 101);
    assert_string_equal(r.reason, "Switching Protocols");
    assert_int_equal(r.header_len, hl);
    assert_memory_equal(buf + r.header_len, frames, sizeof frames);
    assert_string_equal(r.upgrade, "websocket");
    assert_string_equal(r.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_true(r.has_protocol);
    assert_string_equal(r.protocol, "v5.channel.k8s.io");
    assert_false(r.has_content_type);
    assert_int_equal(r.content_length, -1);

    static const char *const offered[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", NULL};
    const char *chosen = NULL;
    struct error err = {0};
    assert_int_equal(ws_check_upgrade(&r, "dGhlIHNhbXBsZSBub25jZQ==", offered, &chosen, &err), 0);
    assert_ptr_equal(chosen, offered[0]);
}

static void test_parse_response_refusals(void **state)
{
    (void)state;
    struct ws_response r;
    /* The bodyless 403 of golang.org/x/net/websocket. */
    static const char bare[] = "HTTP/1.1 403 Forbidden\r\n\r\n";
    assert_int_equal(ws_parse_response(bare, strlen(bare), &r), 1);
    assert_int_equal(r.status, 403);
    assert_false(r.has_content_type);
    assert_int_equal(r.content_length, -1);
    assert_int_equal(r.header_len, strlen(bare));
    /* RBAC 403: JSON body, headers in any case. */
    static const char rbac[] = "HTTP/1.1 403 Forbidden\r\n"
                               "content-type: application/json\r\n"
                               "CONTENT-LENGTH: 42\r\n"
                               "X-Extra:  spaced value  \r\n"
                               "\r\n{...";
    assert_int_equal(ws_parse_response(rbac, strlen(rbac), &r), 1);
    assert_true(r.has_content_type);
    assert_string_equal(r.content_type, "application/json");
    assert_int_equal(r.content_length, 42);
    assert_int_equal(r.header_len, strlen(rbac) - 4);
    static const char chunked[] = "HTTP/1.1 500 Internal Server Error\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(ws_parse_response(chunked, strlen(chunked), &r), 1);
    assert_true(r.chunked);
    assert_string_equal(r.reason, "Internal Server Error");
    /* Not HTTP at all. */
    assert_int_equal(ws_parse_response("SSH-2.0-OpenSSH\r\n", 17, &r), -1);
    assert_int_equal(ws_parse_response("HTTP/1.1 abc x\r\n\r\n", 18, &r), -1);
    /* A partial prefix is not rejected. */
    assert_int_equal(ws_parse_response("HTT", 3, &r), 0);
}

static void check_fails(const char *response, const char *const *offered, const char *msg)
{
    struct ws_response r;
    assert_int_equal(ws_parse_response(response, strlen(response), &r), 1);
    const char *chosen = NULL;
    struct error err = {0};
    assert_int_equal(ws_check_upgrade(&r, "dGhlIHNhbXBsZSBub25jZQ==", offered, &chosen, &err), -1);
    assert_int_equal(err.kind, ERR_PROTOCOL);
    assert_string_equal(err.msg, msg);
}

static void test_check_upgrade_failures(void **state)
{
    (void)state;
    static const char *const offered[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", NULL};
    static const char *const v5only[] = {"v5.channel.k8s.io", NULL};
    check_fails("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                "Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kcvzi2BKN0GvJo=\r\n"
                "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n",
                offered,
                "the API server's Sec-WebSocket-Accept \"s3pPLMBiTxaQ9kcvzi2BKN0GvJo=\" does "
                "not match the key (expected \"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\"): something "
                "between us and the API server answered");
    check_fails("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                "Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n",
                v5only,
                "the API server chose subprotocol \"v4.channel.k8s.io\", which we did not offer "
                "(v5.channel.k8s.io)");
    check_fails("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                "Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                offered,
                "the API server accepted the WebSocket upgrade without choosing one of the "
                "offered subprotocols (v5.channel.k8s.io, v4.channel.k8s.io)");
    check_fails("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: "
                "Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                offered, "the API server's 101 answer upgrades to \"h2c\", not to websocket");
    check_fails("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: keep-alive\r\n"
                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                offered,
                "the API server's 101 answer lacks \"Connection: Upgrade\" (got \"keep-alive\")");
    /* Connection as a list, in two lines, any case: accepted. */
    struct ws_response r;
    static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
                             "connection: keep-alive\r\nConnection: UPGRADE\r\n"
                             "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                             "sec-websocket-protocol: v4.channel.k8s.io\r\n\r\n";
    assert_int_equal(ws_parse_response(ok, strlen(ok), &r), 1);
    const char *chosen = NULL;
    struct error err = {0};
    assert_int_equal(ws_check_upgrade(&r, "dGhlIHNhbXBsZSBub25jZQ==", offered, &chosen, &err), 0);
    assert_string_equal(chosen, "v4.channel.k8s.io");
}

static void test_dechunk(void **state)
{
    (void)state;
    char body[] = "7\r\n{\"a\":1,\r\n3;ext=1\r\n\"b\"\r\n2\r\n:2\r\n1\r\n}\r\n0\r\n\r\n";
    long long n = ws_dechunk(body, strlen(body));
    assert_int_equal(n, 13);
    assert_memory_equal(body, "{\"a\":1,\"b\":2}", 13);
    char bad[] = "5\r\nabc\r\n0\r\n\r\n";
    assert_int_equal(ws_dechunk(bad, strlen(bad)), -1);
    char cut[] = "5\r\nabcde\r\n";
    assert_int_equal(ws_dechunk(cut, strlen(cut)), -1);
}

/* A refusal's body: cut at Content-Length, de-chunked, empty when malformed,
 * always NUL-terminated. */
static void test_response_body(void **state)
{
    (void)state;
    struct ws_response r = {.content_length = 4};
    char plain[] = "abcdefXX";
    assert_int_equal(ws_response_body(&r, plain, 6), 4);
    assert_string_equal(plain, "abcd");
    r.content_length = -1;
    char all[] = "abcdefXX";
    assert_int_equal(ws_response_body(&r, all, 6), 6);
    assert_string_equal(all, "abcdef");
    r.chunked = 1;
    char chunked[] = "3\r\nabc\r\n0\r\n\r\nXX";
    assert_int_equal(ws_response_body(&r, chunked, sizeof chunked - 3), 3);
    assert_string_equal(chunked, "abc");
    char broken[] = "9\r\nabc\r\n0\r\n\r\n";
    assert_int_equal(ws_response_body(&r, broken, sizeof broken - 1), 0);
    assert_string_equal(broken, "");
}

/* ws_dechunk on the exact bytes (no NUL after them), so ASan sees any read past
 * the body: strtoull skipped the "\r\n" of an empty size line and ran on (found
 * by fuzzing). */
static long long dechunk_exact(const char *text, char *out, size_t cap)
{
    size_t len = strlen(text);
    char *b = malloc(len ? len : 1);
    assert_non_null(b);
    memcpy(b, text, len);
    long long n = ws_dechunk(b, len);
    if (n > 0 && (size_t)n < cap) {
        memcpy(out, b, (size_t)n);
        out[n] = '\0';
    }
    free(b);
    return n;
}

static void test_dechunk_never_reads_past_the_body(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(dechunk_exact("\r\n", out, sizeof out), -1);
    assert_int_equal(dechunk_exact("\r\n\r\n", out, sizeof out), -1);
    assert_int_equal(dechunk_exact(" 5\r\nhello\r\n0\r\n\r\n", out, sizeof out), -1);
    assert_int_equal(dechunk_exact("+5\r\nhello\r\n0\r\n\r\n", out, sizeof out), -1);
    assert_int_equal(dechunk_exact("0x5\r\nhello\r\n0\r\n\r\n", out, sizeof out), -1);
    assert_int_equal(dechunk_exact("ffffffffffffffffff\r\nx\r\n", out, sizeof out), -1);
    assert_int_equal(dechunk_exact("5", out, sizeof out), -1);
    assert_int_equal(dechunk_exact("", out, sizeof out), -1);
    /* What is well-formed still decodes: hex of any case, extensions, the last chunk. */
    assert_int_equal(
        dechunk_exact("5;name=v\r\nhello\r\nA\r\n, world!!!\r\n0\r\n\r\n", out, sizeof out), 15);
    assert_string_equal(out, "hello, world!!!");
    assert_int_equal(dechunk_exact("0\r\n\r\n", out, sizeof out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_unmasked_hello),
        cmocka_unit_test(test_dechunk_never_reads_past_the_body),
        cmocka_unit_test(test_encode_masked_hello),
        cmocka_unit_test(test_encode_256_and_64k),
        cmocka_unit_test(test_header_length_forms),
        cmocka_unit_test(test_mask_offsets),
        cmocka_unit_test(test_parse_hello_any_split),
        cmocka_unit_test(test_parse_fragmented_with_ping_between),
        cmocka_unit_test(test_parse_binary_length_forms),
        cmocka_unit_test(test_parse_kubernetes_stream),
        cmocka_unit_test(test_parse_close_forms),
        cmocka_unit_test(test_parse_protocol_errors),
        cmocka_unit_test(test_parse_zero_initialised),
        cmocka_unit_test(test_accept_rfc_key),
        cmocka_unit_test(test_make_key),
        cmocka_unit_test(test_build_request),
        cmocka_unit_test(test_parse_response_101_with_frames_after),
        cmocka_unit_test(test_parse_response_refusals),
        cmocka_unit_test(test_check_upgrade_failures),
        cmocka_unit_test(test_dechunk),
        cmocka_unit_test(test_response_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
