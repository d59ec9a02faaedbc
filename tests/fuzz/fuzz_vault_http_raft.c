/* The active pod's sys/storage/raft/configuration and autopilot/state answers
 * through pods/proxy (lib/vaultread), and Vault's error bodies. */
#include "fuzz.h"
#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = fuzz_copy(data, size);
    struct error err = {0};
    struct vault_peers peers;
    if (vault_parse_http_peers(body, size, &peers, &err) == 0)
        vault_peers_clear(&peers);
    struct vault_autopilot ap;
    if (vault_parse_http_autopilot(body, size, &ap, &err) == 0)
        vault_autopilot_clear(&ap);
    char summary[64];
    vault_http_error_summary(body, size, summary, sizeof summary);
    free(body);
    return 0;
}
