/* The pod's stderr during snapshot save and restore: marker lines
 * (vault-ha-exit/bytes/received N) among Vault's messages, as a hostile pod
 * could write them, fed in pieces (the first byte sets their size, as
 * WebSocket frames split the stream anywhere), then finished and summarized. */
#include "fuzz.h"
#include "snapstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] + 1;
    data++, size--;
    struct snapstream_markers *m = malloc(sizeof *m);
    if (m == NULL)
        return 0;
    snapstream_markers_reset(m);
    struct error err = {0};
    for (size_t off = 0; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        char *piece = fuzz_copy(data + off, n);
        snapstream_markers_write(m, piece, n, &err);
        free(piece);
    }
    snapstream_markers_finish(m);
    /* The fields stay within their bounds. */
    if (m->len >= sizeof m->text || m->text[m->len] != '\0' || m->line_len >= sizeof m->line ||
        (m->have_exit && (m->exit_code < 0 || m->exit_code > 255)))
        abort();
    char why[1024];
    snapstream_markers_why(m, why, sizeof why);
    if (memchr(why, 0, sizeof why) == NULL)
        abort();
    snapstream_lost_leadership(why);
    free(m);
    return 0;
}
