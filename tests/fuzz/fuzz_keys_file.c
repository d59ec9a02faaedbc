/* An unseal keys file (--keys-file, or stdin): key lines or init's JSON, as
 * secret_parse_keys reads it. */
#include "fuzz.h"
#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_copy(data, size);
    struct secret_list keys = {0};
    struct error err = {0};
    if (secret_parse_keys("keys", text, size, &keys, &err) == 0) {
        for (size_t i = 0; i < keys.n; i++)
            if (keys.items[i].data == NULL || strlen(keys.items[i].data) != keys.items[i].len)
                abort(); /* every key is a NUL-terminated string of its length */
        secret_list_free(&keys);
    } else if (keys.n != 0) {
        abort(); /* a failure leaves no key behind */
    }
    free(text);
    if (secret_live_count() != 0)
        abort(); /* every locked buffer was released */
    return 0;
}
