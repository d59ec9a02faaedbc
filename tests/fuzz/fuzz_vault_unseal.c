/* The answer of `vault write -format=json sys/unseal -` from a pod, as
 * vault_parse_unseal reads it. */
#include "fuzz.h"
#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = fuzz_copy(data, size);
    struct vault_unseal_progress p;
    struct error err = {0};
    vault_parse_unseal(out, size, &p, &err);
    free(out);
    return 0;
}
