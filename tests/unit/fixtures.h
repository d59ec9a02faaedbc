/* Kubernetes objects shaped like the Vault Helm chart's (docs/vault-cli.md §7),
 * shared by the unit tests of lib/cluster and lib/health. */
#ifndef VH_TEST_FIXTURES_H
#define VH_TEST_FIXTURES_H

#include <string.h>

#include <jansson.h>

static const char *const FIXTURE_STS =
    "{\"metadata\":{\"name\":\"vault\",\"namespace\":\"vault\",\"labels\":{"
    "\"app.kubernetes.io/name\":\"vault\",\"app.kubernetes.io/instance\":\"vault\","
    "\"app.kubernetes.io/managed-by\":\"Helm\"}},"
    "\"spec\":{\"replicas\":3,\"serviceName\":\"vault-internal\",\"podManagementPolicy\":"
    "\"Parallel\",\"selector\":{\"matchLabels\":{\"app.kubernetes.io/name\":\"vault\","
    "\"app.kubernetes.io/instance\":\"vault\",\"component\":\"server\"}},"
    "\"template\":{\"spec\":{\"containers\":[{\"name\":\"vault\",\"image\":"
    "\"hashicorp/vault:1.21.2\"}]}}},\"status\":{\"replicas\":3,\"readyReplicas\":1}}";

/* A chart pod; sealed/active are label values or NULL for no label; with
 * neither, no service_registration label at all (as before Vault starts). */
static inline json_t *fixture_pod(const char *name, const char *node, const char *phase, int ready,
                                  const char *sealed, const char *active)
{
    json_t *labels =
        json_pack("{s:s, s:s}", "app.kubernetes.io/name", "vault", "component", "server");
    if (sealed || active) {
        json_object_set_new(labels, "vault-initialized", json_string("true"));
        json_object_set_new(labels, "vault-version", json_string("1.21.2"));
    }
    if (sealed)
        json_object_set_new(labels, "vault-sealed", json_string(sealed));
    if (active)
        json_object_set_new(labels, "vault-active", json_string(active));
    int running = strcmp(phase, "Running") == 0;
    json_t *state = running ? json_pack("{s:{}}", "running")
                            : json_pack("{s:{s:s}}", "waiting", "reason", "ContainerCreating");
    return json_pack("{s:{s:s, s:s, s:o}, s:{s:s, s:[{s:s, s:s}]}, s:{s:s, s:s, s:[{s:s, s:s}], "
                     "s:[{s:s, s:i, s:o}]}}",
                     "metadata", "name", name, "creationTimestamp", "2026-11-25T01:00:00Z",
                     "labels", labels, "spec", "nodeName", node, "containers", "name", "vault",
                     "image", "hashicorp/vault:1.21.2", "status", "phase", phase, "podIP",
                     "10.0.0.1", "conditions", "type", "Ready", "status", ready ? "True" : "False",
                     "containerStatuses", "name", "vault", "restartCount", 2, "state", state);
}

#endif
