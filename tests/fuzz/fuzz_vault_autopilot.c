/* `vault operator raft autopilot state -format=json` from a pod, as
 * vault_parse_autopilot reads it. */
#include "fuzz.h"
#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = fuzz_copy(data, size);
    struct vault_autopilot ap;
    struct error err = {0};
    if (vault_parse_autopilot(out, size, &ap, &err) == 0)
        vault_autopilot_clear(&ap);
    free(out);
    return 0;
}
