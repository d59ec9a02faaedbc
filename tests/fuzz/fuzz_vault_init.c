/* `vault operator init -format=json` from a pod, as vault_parse_init reads it
 * into locked memory, then written back out as init --output does. */
#include "fuzz.h"
#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = fuzz_copy(data, size);
    struct vault_init_result r;
    struct error err = {0};
    if (vault_parse_init(out, size, &r, &err) == 0) {
        struct secret json = {0};
        if (vault_init_result_json(&r, &json, &err) == 0) {
            if (strlen(json.data) != json.len)
                abort();
            secret_free(&json);
        }
        vault_init_result_clear(&r);
    }
    free(out);
    if (secret_live_count() != 0)
        abort(); /* every locked buffer was released */
    return 0;
}
