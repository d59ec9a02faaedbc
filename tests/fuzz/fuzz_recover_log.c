/* A pod's server log, as recover reads it through pods/log (lib/recover):
 * recover_config_from_log finds the newest raft configuration in it, and its
 * servers become peers.json text. A compromised image writes what it likes
 * to its log. */
#include "fuzz.h"
#include "recover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *log = fuzz_copy(data, size);
    struct raft_config *cfg = calloc(1, sizeof *cfg);
    if (log != NULL && cfg != NULL && recover_config_from_log(log, size, cfg) == 1) {
        if (cfg->n == 0 || cfg->n > RECOVER_SERVERS_MAX)
            abort(); /* found means 1..RECOVER_SERVERS_MAX servers */
        char *peers = recover_peers_json(cfg->servers, cfg->n);
        free(peers);
    }
    free(cfg);
    free(log);
    return 0;
}
