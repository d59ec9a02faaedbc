/* `vault operator raft list-peers -format=json` from a pod, as
 * vault_parse_peers reads it; each peer's address is then mapped to a pod. */
#include "cluster.h"
#include "fuzz.h"
#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = fuzz_copy(data, size);
    struct vault_peers peers;
    struct error err = {0};
    if (vault_parse_peers(out, size, &peers, &err) == 0) {
        struct vault_pod pods[2] = {
            {.name = "vault-0", .exists = 1},
            {.name = "vault-1", .ordinal = 1, .exists = 1, .pod_ip = "10.0.0.1"}};
        struct vault_cluster vc = {.name = "vault",
                                   .namespace = "vault",
                                   .service_name = "vault-internal",
                                   .pods = pods,
                                   .npods = 2};
        for (size_t i = 0; i < peers.n; i++)
            if (peers.items[i].address != NULL)
                cluster_pod_for_address(&vc, peers.items[i].address);
        vault_peers_clear(&peers);
    }
    free(out);
    return 0;
}
