/* A Vault server config read from a pod (lib/cluster's
 * cluster_config_raft_path, used by recover): the raft path it finds goes to
 * the pod's tools as a folder, so it must be a sane absolute path. */
#include "cluster.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *config = fuzz_copy(data, size);
    char path[256];
    if (config != NULL && cluster_config_raft_path(config, size, path, sizeof path) == 1) {
        if (path[0] != '/' || strstr(path, "/../") != NULL || strchr(path, '"') != NULL)
            abort();
    }
    free(config);
    return 0;
}
