/* A raft snapshot whose tar is hostile but whose gzip is valid: the input is
 * the tar stream, compressed here, so the fuzzer works on the tar headers
 * (ustar, PAX, GNU long names), the members and their checks rather than on
 * deflate's. */
#include <zlib.h>

#include "fuzz.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    z_stream z = {0};
    /* Stored blocks: valid gzip at little cost, the time goes to the tar. */
    if (deflateInit2(&z, Z_NO_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    uLong cap = deflateBound(&z, (uLong)size) + 64;
    unsigned char *gz = malloc(cap);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    int zr = gz ? deflate(&z, Z_FINISH) : Z_MEM_ERROR;
    size_t gz_len = cap - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(gz);
        return 0;
    }
    struct error err = {0};
    struct snapshot_verifier *v = snapshot_verifier_new(&err);
    if (v != NULL) {
        /* Two pieces, split where the tar's length says, so both halves of a
         * header boundary are exercised too. */
        size_t half = gz_len / 2 + (size % 7);
        if (half > gz_len)
            half = gz_len;
        if (snapshot_verifier_feed(v, gz, half, &err) == 0)
            snapshot_verifier_feed(v, gz + half, gz_len - half, &err);
        struct snapshot_info info;
        snapshot_verifier_finish(v, &info, &err);
        snapshot_verifier_free(v);
    }
    free(gz);
    return 0;
}
