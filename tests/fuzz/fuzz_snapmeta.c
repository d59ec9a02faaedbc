/* Snapshot metadata (FILE.json beside a snapshot): a file anyone may have
 * edited, read by `snapshot verify` and `snapshot restore` with
 * snapmeta_parse. */
#include "fuzz.h"
#include "snapmeta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_copy(data, size);
    struct snapmeta m;
    struct error err = {0};
    if (snapmeta_parse("f.json", text, size, &m, &err) == 0) {
        /* What was accepted is what the checks rely on. */
        if (m.format != SNAPMETA_FORMAT || m.threshold < 1 || m.threshold > m.shares ||
            m.shares > 255 || strlen(m.sha256) != 64 || m.version[0] == '\0' ||
            m.cluster_id[0] == '\0')
            abort();
        char *again = snapmeta_encode(&m, &err);
        struct snapmeta back;
        if (again == NULL || snapmeta_parse("again", again, strlen(again), &back, &err) != 0 ||
            memcmp(&m, &back, sizeof m) != 0)
            abort(); /* what is read can be written and read back the same */
        free(again);
        struct snapmeta_target t = {"vault", "1.21.2", "shamir"};
        snapmeta_check_target(&m, &t, &err);
    } else if (m.shares != 0 || err.msg[0] == '\0') {
        abort(); /* a failure says why and leaves nothing half-filled */
    }
    free(text);
    return 0;
}
