/* A pod's sys/seal-status and sys/leader answers through pods/proxy, read and
 * merged as lib/vaultread does. Input: one byte choosing sys/leader's HTTP
 * status (0: 200, 1: 503, else 500), the seal-status body, a NUL, the leader
 * body. */
#include "fuzz.h"
#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    long status = data[0] == 0 ? 200 : data[0] == 1 ? 503 : 500;
    const uint8_t *rest = data + 1;
    size_t len = size - 1;
    const uint8_t *nul = memchr(rest, 0, len);
    size_t seal_len = nul ? (size_t)(nul - rest) : len;
    size_t leader_len = nul ? len - seal_len - 1 : 0;
    char *seal = fuzz_copy(rest, seal_len);
    char *leader = fuzz_copy(nul ? nul + 1 : rest, leader_len);
    struct vault_status st;
    struct error err = {0};
    if (vault_parse_http_seal_status(seal, seal_len, &st, &err) == 0) {
        vault_merge_http_leader(status, leader, leader_len, &st, &err);
        vault_status_clear(&st);
    }
    char summary[128];
    vault_http_error_summary(leader, leader_len, summary, sizeof summary);
    free(seal);
    free(leader);
    return 0;
}
