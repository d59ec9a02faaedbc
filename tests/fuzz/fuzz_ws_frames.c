/* WebSocket frames from the API server, through the incremental parser the
 * exec sessions use, with the stream split anywhere (the first byte sets the
 * size of the pieces, as TLS records and reads split it). Checks what every
 * caller relies on: progress, events inside the bytes given, close codes as
 * sent. */
#include "fuzz.h"
#include "websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] + 1;
    data++, size--;
    struct ws_parser p;
    ws_parser_init(&p);
    for (size_t off = 0; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        uint8_t *piece = (uint8_t *)fuzz_copy(data + off, n);
        const uint8_t *in = piece;
        size_t left = n;
        int failed = 0;
        while (left > 0 && !failed) {
            struct ws_event ev;
            size_t used = ws_parse(&p, in, left, &ev);
            if (used > left)
                abort();
            switch (ev.type) {
            case WS_EV_NONE:
                if (used != left)
                    abort(); /* NONE means every byte given was consumed */
                break;
            case WS_EV_DATA:
                if (ev.len > used || ev.data < in || ev.data + ev.len > in + used)
                    abort(); /* data points into the bytes this call consumed */
                if (ev.opcode != WS_OP_TEXT && ev.opcode != WS_OP_BINARY)
                    abort();
                break;
            case WS_EV_PING:
            case WS_EV_PONG:
            case WS_EV_CLOSE:
                if (ev.len > WS_CONTROL_MAX)
                    abort();
                if (ev.type == WS_EV_CLOSE && (ev.close_code < 0 || ev.close_code > 0xffff))
                    abort();
                break;
            case WS_EV_ERROR:
                if (p.error[0] == '\0' || memchr(p.error, 0, sizeof p.error) == NULL)
                    abort(); /* a failure says why */
                failed = 1;
                break;
            }
            if (used == 0 && ev.type == WS_EV_NONE)
                abort(); /* no progress */
            in += used;
            left -= used;
        }
        free(piece);
        if (failed)
            break;
    }
    return 0;
}
