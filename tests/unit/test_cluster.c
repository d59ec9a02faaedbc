/* lib/cluster: StatefulSet and pod objects as the Vault Helm chart creates
 * them (docs/vault-cli.md §7) turned into the cluster model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster.h"
#include "fixtures.h"

#define STS FIXTURE_STS

static struct vault_cluster *load_cluster(const char *sts_text)
{
    json_t *sts = json_loads(sts_text, 0, NULL);
    assert_non_null(sts);
    struct cluster_query q = {.namespace = "vault"};
    struct vault_cluster *vc = NULL;
    struct error err = {0};
    assert_int_equal(cluster_from_statefulset(sts, &q, &vc, &err), 0);
    json_decref(sts);
    return vc;
}

static void test_statefulset_fields(void **state)
{
    (void)state;
    struct vault_cluster *vc = load_cluster(STS);
    assert_string_equal(vc->name, "vault");
    assert_string_equal(vc->release, "vault");
    assert_string_equal(vc->flavor, "vault");
    assert_string_equal(vc->cli, "vault");
    assert_string_equal(vc->container, "vault");
    assert_string_equal(vc->version, "1.21.2");
    assert_string_equal(vc->service_name, "vault-internal");
    assert_int_equal(vc->replicas, 3);
    assert_int_equal(vc->ready_replicas, 1);
    assert_string_equal(vc->selector,
                        "app.kubernetes.io/name=vault,app.kubernetes.io/instance=vault,"
                        "component=server");
    cluster_free(vc);
}

static void test_update_state(void **state)
{
    (void)state;
    struct vault_cluster *vc = load_cluster(STS);
    /* No updateStrategy: the API server's default. */
    assert_string_equal(vc->update_strategy, "RollingUpdate");
    assert_null(vc->update_revision);
    json_t *sts = json_loads(
        "{\"metadata\":{\"generation\":4},\"spec\":{\"updateStrategy\":{\"type\":\"OnDelete\"},"
        "\"template\":{\"spec\":{\"containers\":[{\"name\":\"sidecar\",\"image\":\"busybox\"},"
        "{\"name\":\"vault\",\"image\":\"hashicorp/vault:1.21.3\"}]}}},\"status\":{"
        "\"observedGeneration\":3,\"currentRevision\":\"vault-5d8c7b9f6\",\"updateRevision\":"
        "\"vault-7778bbf7b6\"}}",
        0, NULL);
    cluster_set_update_state(vc, sts);
    json_decref(sts);
    assert_string_equal(vc->update_strategy, "OnDelete");
    assert_string_equal(vc->update_revision, "vault-7778bbf7b6");
    assert_string_equal(vc->current_revision, "vault-5d8c7b9f6");
    assert_string_equal(vc->image, "hashicorp/vault:1.21.3");
    assert_string_equal(vc->version, "1.21.3");
    assert_int_equal(vc->generation, 4);
    assert_int_equal(vc->observed_generation, 3);
    /* Each pod's revision and uid. */
    json_t *pod = fixture_pod("vault-0", "n0", "Running", 1, "false", "true");
    json_t *meta = json_object_get(pod, "metadata");
    json_object_set_new(meta, "uid", json_string("9a2c-1"));
    json_object_set_new(json_object_get(meta, "labels"), "controller-revision-hash",
                        json_string("vault-5d8c7b9f6"));
    json_t *list = json_pack("{s:[o]}", "items", pod);
    struct error err = {0};
    assert_int_equal(cluster_set_pods(vc, list, &err), 0);
    json_decref(list);
    assert_string_equal(vc->pods[0].revision, "vault-5d8c7b9f6");
    assert_string_equal(vc->pods[0].uid, "9a2c-1");
    assert_null(vc->pods[1].revision); /* a placeholder */
    cluster_free(vc);
}

static void test_pods_sorted_with_placeholders(void **state)
{
    (void)state;
    struct vault_cluster *vc = load_cluster(STS);
    json_t *list = json_pack("{s:[o,o,o]}", "items",
                             fixture_pod("vault-2", "node-1", "Running", 0, "true", "false"),
                             fixture_pod("vault-0", "node-1", "Running", 1, "false", "true"),
                             fixture_pod("other-0", "node-1", "Running", 1, NULL, NULL));
    struct error err = {0};
    assert_int_equal(cluster_set_pods(vc, list, &err), 0);
    json_decref(list);
    assert_int_equal(vc->npods, 3);
    assert_string_equal(vc->pods[0].name, "vault-0");
    assert_true(vc->pods[0].running);
    assert_true(vc->pods[0].ready);
    assert_int_equal(vc->pods[0].restarts, 2);
    assert_int_equal(vc->pods[0].label_sealed, TRI_FALSE);
    assert_int_equal(vc->pods[0].label_active, TRI_TRUE);
    assert_int_equal(vc->pods[0].label_perf_standby, TRI_UNKNOWN);
    assert_string_equal(vc->pods[0].label_version, "1.21.2");
    assert_int_equal(vc->pods[0].created, 1795568400); /* 2026-11-25T01:00:00Z */
    /* vault-1 has no pod: a placeholder says so (Parallel policy: no ordering wait). */
    assert_string_equal(vc->pods[1].name, "vault-1");
    assert_false(vc->pods[1].exists);
    assert_string_equal(vc->pods[1].phase, "Missing");
    assert_string_equal(vc->pods[1].reason, "no pod yet");
    assert_string_equal(vc->pods[2].name, "vault-2");
    assert_int_equal(vc->pods[2].label_sealed, TRI_TRUE);
    cluster_free(vc);
}

static void test_ordered_ready_explains_missing_replica(void **state)
{
    (void)state;
    json_t *obj = json_loads(STS, 0, NULL);
    json_object_set_new(json_object_get(obj, "spec"), "podManagementPolicy",
                        json_string("OrderedReady"));
    struct cluster_query q = {.namespace = "vault"};
    struct vault_cluster *vc = NULL;
    struct error err = {0};
    assert_int_equal(cluster_from_statefulset(obj, &q, &vc, &err), 0);
    json_decref(obj);
    json_t *list =
        json_pack("{s:[o]}", "items", fixture_pod("vault-0", "node-1", "Running", 0, "true", NULL));
    assert_int_equal(cluster_set_pods(vc, list, &err), 0);
    json_decref(list);
    assert_int_equal(vc->npods, 3);
    assert_string_equal(vc->pods[1].reason,
                        "waiting for vault-0 to be Ready (podManagementPolicy OrderedReady)");
    cluster_free(vc);
}

static void test_pending_pod_reason(void **state)
{
    (void)state;
    struct vault_cluster *vc = load_cluster(STS);
    json_t *pod = json_pack("{s:{s:s}, s:{s:[{s:s, s:s}]}, s:{s:s, s:[{s:s, s:s, s:s, s:s}]}}",
                            "metadata", "name", "vault-1", "spec", "containers", "name", "vault",
                            "image", "hashicorp/vault:1.21.2", "status", "phase", "Pending",
                            "conditions", "type", "PodScheduled", "status", "False", "reason",
                            "Unschedulable", "message", "0/3 nodes are available");
    json_t *list = json_pack("{s:[o]}", "items", pod);
    struct error err = {0};
    assert_int_equal(cluster_set_pods(vc, list, &err), 0);
    json_decref(list);
    struct vault_pod *p = cluster_find_pod(vc, "vault-1");
    assert_non_null(p);
    assert_false(p->running);
    assert_string_equal(p->reason, "Unschedulable: 0/3 nodes are available");
    assert_ptr_equal(cluster_find_pod(vc, "1"), p);
    assert_null(cluster_find_pod(vc, "vault-9"));

    /* Pods chosen from a command line: names or ordinals, each once, in order; exec takes a
     * pod that exists, the others one that runs. */
    size_t idx[4];
    char *one[] = {"vault-1", "1"};
    assert_int_equal(cluster_select_pods(vc, one, 2, 0, idx, &err), 1);
    assert_ptr_equal(&vc->pods[idx[0]], p);
    assert_int_equal(cluster_select_pods(vc, one, 2, 1, idx, &err), -1);
    assert_int_equal(err.kind, ERR_GENERIC);
    assert_string_equal(err.msg, "vault-1 is not running (Pending: Unschedulable: 0/3 nodes are "
                                 "available)");
    char *unknown[] = {"1", "vault-9"};
    assert_int_equal(cluster_select_pods(vc, unknown, 2, 0, idx, &err), -1);
    assert_int_equal(err.kind, ERR_USAGE);
    assert_string_equal(err.msg,
                        "no pod \"vault-9\" in StatefulSet vault/vault (pods: vault-0 to vault-2)");
    cluster_free(vc);
}

static void assert_layout(const struct vault_cluster *vc, enum vault_product product,
                          const char *data_dir, enum layout_source from, const char *config_path)
{
    int bao = product == PRODUCT_OPENBAO;
    assert_int_equal(vc->product, product);
    assert_string_equal(vc->cli, bao ? "bao" : "vault");
    assert_string_equal(vc->token_env, bao ? "BAO_TOKEN" : "VAULT_TOKEN");
    assert_string_equal(vc->data_dir, data_dir);
    assert_int_equal(vc->data_dir_from, from);
    assert_string_equal(vc->config_path, config_path);
}

static void test_openbao_flavor(void **state)
{
    (void)state;
    json_t *sts = json_pack(
        "{s:{s:s, s:{s:s, s:s}}, s:{s:i, s:{s:{s:s}}, s:{s:{s:[{s:s, s:s}, {s:s, s:s}]}}}}",
        "metadata", "name", "openbao", "labels", "app.kubernetes.io/name", "openbao",
        "app.kubernetes.io/instance", "openbao", "spec", "replicas", 3, "selector", "matchLabels",
        "component", "server", "template", "spec", "containers", "name", "sidecar", "image",
        "busybox", "name", "openbao", "image", "quay.io/openbao/openbao:2.6.2");
    struct cluster_query q = {.namespace = "bao"};
    struct vault_cluster *vc = NULL;
    struct error err = {0};
    assert_int_equal(cluster_from_statefulset(sts, &q, &vc, &err), 0);
    assert_string_equal(vc->container, "openbao");
    assert_string_equal(vc->cli, "bao");
    assert_string_equal(vc->version, "2.6.2");
    assert_string_equal(vc->namespace, "bao");
    /* the layout of OpenBao's chart without mounts in the template: its defaults */
    assert_layout(vc, PRODUCT_OPENBAO, "/openbao/data", LAYOUT_DEFAULT,
                  "/openbao/config/extraconfig-from-values.hcl");
    assert_string_equal(vc->node_id_env, "BAO_RAFT_NODE_ID");
    cluster_free(vc);
    /* A container named on the command line that does not exist is refused. */
    q.container = "vault";
    assert_int_equal(cluster_from_statefulset(sts, &q, &vc, &err), -1);
    assert_string_equal(err.msg,
                        "StatefulSet bao/openbao has no container \"vault\" (--container)");
    json_decref(sts);
}

/* Issue 18 defect 7: a custom server.dataStorage.mountPath, the raft path in the config. */
static void test_layout(void **state)
{
    (void)state;
    json_t *sts = json_loads(FIXTURE_STS, 0, NULL);
    json_t *c = json_array_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(sts, "spec"), "template"), "spec"),
            "containers"),
        0);
    json_object_set_new(c, "volumeMounts",
                        json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "name", "data",
                                  "mountPath", "/srv/vault-store/", "name", "config", "mountPath",
                                  "/etc/vault", "name", "home", "mountPath", "/home/vault"));
    struct cluster_query q = {.namespace = "vault"};
    struct vault_cluster *vc = NULL;
    struct error err = {0};
    assert_int_equal(cluster_from_statefulset(sts, &q, &vc, &err), 0);
    assert_layout(vc, PRODUCT_VAULT, "/srv/vault-store", LAYOUT_MOUNT,
                  "/etc/vault/extraconfig-from-values.hcl");
    /* the raft path in the server config wins over the mount */
    const char *hcl = "ui = true\nlistener \"tcp\" {\n  address = \"[::]:8200\"\n}\n"
                      "storage \"raft\" {\n  path = \"/srv/vault-store/raft-db\"\n"
                      "  retry_join {\n    path = \"/nope\"\n  }\n}\n";
    assert_int_equal(cluster_use_server_config(vc, hcl, strlen(hcl)), 1);
    assert_string_equal(vc->data_dir, "/srv/vault-store/raft-db");
    assert_int_equal(vc->data_dir_from, LAYOUT_CONFIG);
    /* a config without one keeps the mount */
    assert_int_equal(cluster_use_server_config(vc, "ui = true\n", 10), 0);
    assert_string_equal(vc->data_dir, "/srv/vault-store/raft-db");
    cluster_free(vc);
    /* a hostile mountPath is not taken */
    json_object_set_new(c, "volumeMounts",
                        json_pack("[{s:s, s:s}]", "name", "data", "mountPath", "/x/../etc"));
    assert_int_equal(cluster_from_statefulset(sts, &q, &vc, &err), 0);
    assert_layout(vc, PRODUCT_VAULT, "/vault/data", LAYOUT_DEFAULT,
                  "/vault/config/extraconfig-from-values.hcl");
    cluster_free(vc);
    json_decref(sts);
}

static void test_config_raft_path(void **state)
{
    (void)state;
    char out[256];
    struct {
        const char *config, *want; /* want NULL: none found */
    } cases[] = {
        {"storage \"raft\" {\n  path = \"/vault/data\"\n}\n", "/vault/data"},
        {"# storage \"raft\" { path = \"/commented\" }\n/* storage \"raft\" { path = \"/c\" } */\n"
         "storage \"raft\" { node_id = \"a\" // path = \"/no\"\n path = \"/yes\" }",
         "/yes"},
        {"{\"storage\": {\"raft\": {\"node_id\": \"x\", \"path\": \"/json/data\"}}}", "/json/data"},
        {"storage = { raft = { path = \"/attr/data\" } }", "/attr/data"},
        {"ha_storage \"raft\" { path = \"/ha\" }", NULL},
        {"storage \"file\" { path = \"/file\" }", NULL},
        {"storage \"raft\" { }\npath = \"/outside\"", NULL},
        {"storage \"raft\" { path = \"relative/dir\" }", NULL},
        {"storage \"raft\" { path = \"/a b\" }", NULL},
        {"storage \"raft\" { path = \"/a\\\"b\" }", NULL},
        {"storage \"raft\" { path = \"/a/../b\" }", NULL},
        {"storage \"raft\" { path = \"/unterminated }", NULL},
        {"storage \"raft\" { path = \"/x\x1b[2J\" }", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int got =
            cluster_config_raft_path(cases[i].config, strlen(cases[i].config), out, sizeof out);
        assert_int_equal(got, cases[i].want != NULL);
        if (got)
            assert_string_equal(out, cases[i].want);
    }
    /* bounded by len, not by a NUL; a path longer than the buffer is refused */
    const char cut[] = "storage \"raft\" { path = \"/vault/data\" }";
    assert_int_equal(cluster_config_raft_path(cut, strlen(cut) - 5, out, sizeof out), 0);
    assert_int_equal(cluster_config_raft_path(cut, strlen(cut), out, 5), 0);
    assert_int_equal(cluster_config_raft_path(NULL, 0, out, sizeof out), 0);
}

static void test_pod_for_address(void **state)
{
    (void)state;
    struct vault_cluster *vc = load_cluster(STS);
    json_t *list = json_pack("{s:[o,o]}", "items",
                             fixture_pod("vault-0", "node-1", "Running", 1, "false", "true"),
                             fixture_pod("vault-1", "node-1", "Running", 1, "false", "false"));
    struct error err = {0};
    assert_int_equal(cluster_set_pods(vc, list, &err), 0);
    json_decref(list);
    assert_string_equal(cluster_pod_for_address(vc, "vault-1.vault-internal:8201")->name,
                        "vault-1");
    assert_string_equal(cluster_pod_for_address(vc, "https://vault-0.vault-internal:8201")->name,
                        "vault-0");
    assert_null(cluster_pod_for_address(vc, "vault-10.vault-internal:8201"));
    assert_null(cluster_pod_for_address(vc, NULL));
    cluster_free(vc);
}

/* The fixture StatefulSet with one field of spec replaced (a JSON value). */
static int load_variant(const char *key, const char *json_value, const char *policy,
                        struct vault_cluster **vc, struct error *err)
{
    json_t *obj = json_loads(STS, 0, NULL);
    json_t *spec = json_object_get(obj, "spec");
    if (key != NULL)
        json_object_set_new(spec, key, json_loads(json_value, JSON_DECODE_ANY, NULL));
    if (policy != NULL)
        json_object_set_new(spec, "podManagementPolicy", json_string(policy));
    struct cluster_query q = {.namespace = "vault"};
    *vc = NULL;
    int rc = cluster_from_statefulset(obj, &q, vc, err);
    json_decref(obj);
    return rc;
}

static void test_container_without_name_refused(void **state)
{
    (void)state;
    /* {"containers":[{}]} left the container NULL and fill_pod crashed on it (found
     * by fuzzing). Every field indexed by is checked, and the message says which. */
    struct vault_cluster *vc = NULL;
    struct error err = {0};
    assert_int_equal(load_variant("template", "{\"spec\":{\"containers\":[{}]}}", NULL, &vc, &err),
                     -1);
    assert_null(vc);
    assert_string_equal(err.msg, "StatefulSet vault/vault: container 0 of the pod template has no "
                                 "name");
    assert_int_equal(load_variant("template",
                                  "{\"spec\":{\"containers\":[{\"name\":\"vault\"},"
                                  "{\"image\":\"x\"}]}}",
                                  NULL, &vc, &err),
                     -1);
    assert_string_equal(err.msg, "StatefulSet vault/vault: container 1 of the pod template has no "
                                 "name");
    assert_int_equal(load_variant("template", "{\"spec\":{}}", NULL, &vc, &err), -1);
    assert_string_equal(err.msg, "StatefulSet vault/vault has no containers in its pod template");
    /* A pod whose container has no name does not trip the pod list either. */
    assert_int_equal(load_variant(NULL, NULL, NULL, &vc, &err), 0);
    json_t *list = json_pack("{s:[{s:{s:s}, s:{s:[{}]}, s:{s:s, s:[{}]}}]}", "items", "metadata",
                             "name", "vault-0", "spec", "containers", "status", "phase", "Running",
                             "containerStatuses");
    assert_int_equal(cluster_set_pods(vc, list, &err), 0);
    json_decref(list);
    assert_false(vc->pods[0].running);
    assert_null(vc->pods[0].image);
    cluster_free(vc);
}

static void test_replicas_bounded_and_placeholders_linear(void **state)
{
    (void)state;
    struct vault_cluster *vc = NULL;
    struct error err = {0};
    assert_int_equal(load_variant("replicas", "300000", NULL, &vc, &err), -1);
    assert_string_equal(err.msg, "StatefulSet vault/vault wants 300000 replicas: more pods than a "
                                 "Kubernetes cluster can run (150000)");
    assert_int_equal(load_variant("replicas", "4294967299", NULL, &vc, &err), -1);
    assert_int_equal(load_variant("replicas", "-1", NULL, &vc, &err), -1);
    assert_string_equal(err.msg, "StatefulSet vault/vault: spec.replicas is -1, not a count");
    assert_int_equal(load_variant("replicas", "\"3\"", NULL, &vc, &err), -1);
    assert_string_equal(err.msg, "StatefulSet vault/vault: spec.replicas is not a whole number");
    /* The largest count, OrderedReady, no pod at all: placeholders in linear time (the
     * old loop was cubic here, and never finished). */
    assert_int_equal(load_variant("replicas", "150000", "OrderedReady", &vc, &err), 0);
    json_t *list = json_pack("{s:[o]}", "items",
                             fixture_pod("vault-0", "node-1", "Running", 1, "false", "true"));
    assert_int_equal(cluster_set_pods(vc, list, &err), 0);
    json_decref(list);
    assert_int_equal(vc->npods, 150000);
    assert_true(vc->pods[0].exists);
    assert_string_equal(vc->pods[1].reason, "no pod yet");
    assert_string_equal(vc->pods[2].reason,
                        "waiting for vault-1 to be Ready (podManagementPolicy OrderedReady)");
    assert_string_equal(vc->pods[149999].name, "vault-149999");
    assert_string_equal(vc->pods[149999].reason,
                        "waiting for vault-1 to be Ready (podManagementPolicy OrderedReady)");
    cluster_free(vc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_container_without_name_refused),
        cmocka_unit_test(test_replicas_bounded_and_placeholders_linear),
        cmocka_unit_test(test_statefulset_fields),
        cmocka_unit_test(test_update_state),
        cmocka_unit_test(test_pods_sorted_with_placeholders),
        cmocka_unit_test(test_ordered_ready_explains_missing_replica),
        cmocka_unit_test(test_pending_pod_reason),
        cmocka_unit_test(test_openbao_flavor),
        cmocka_unit_test(test_pod_for_address),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_config_raft_path),
    };
    return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
