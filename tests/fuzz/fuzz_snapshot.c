/* A raft snapshot as it arrives from a pod or a file: raw bytes fed to the
 * streaming verifier in pieces (the first byte sets their size, as reads and
 * WebSocket frames split the stream anywhere), then finished. */
#include "fuzz.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] * 7 + 1;
    data++, size--;
    struct error err = {0};
    struct snapshot_verifier *v = snapshot_verifier_new(&err);
    if (v == NULL)
        return 0;
    int rc = 0;
    for (size_t off = 0; off < size && rc == 0; off += step) {
        size_t n = size - off < step ? size - off : step;
        char *piece = fuzz_copy(data + off, n);
        rc = snapshot_verifier_feed(v, piece, n, &err);
        free(piece);
    }
    struct snapshot_info info;
    snapshot_verifier_finish(v, &info, &err);
    if (memchr(info.id, 0, sizeof info.id) == NULL || info.meta_json_len > SNAPSHOT_SMALL_MAX)
        abort(); /* the fields stay within their bounds */
    snapshot_verifier_free(v);
    return 0;
}
