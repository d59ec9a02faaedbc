/* What the API server returns for the cluster: a StatefulSet (an object, as
 * GET by --statefulset returns it, or a StatefulSetList, as the label search
 * does) and a PodList, through cluster_from_statefulset and cluster_set_pods;
 * then the lookups and the health verdict every command runs on them, with
 * one `vault status` answer for every pod.
 * Input: StatefulSet JSON, NUL, PodList JSON, NUL, status JSON. The first
 * byte picks --container and the status's exit code. */
#include <jansson.h>

#include "cluster.h"
#include "fuzz.h"
#include "health.h"
#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int flags = data[0];
    size_t sts_len, rest_len, pods_len, st_len;
    const uint8_t *rest, *st_part;
    fuzz_split(data + 1, size - 1, &sts_len, &rest, &rest_len);
    fuzz_split(rest, rest_len, &pods_len, &st_part, &st_len);

    json_t *sts = json_loadb((const char *)data + 1, sts_len, 0, NULL);
    json_t *pods = json_loadb((const char *)rest, pods_len, 0, NULL);
    json_t *items = json_object_get(sts, "items");
    json_t *one = json_is_array(items) ? json_array_get(items, 0) : sts;
    struct cluster_query q = {.namespace = "vault", .container = flags & 1 ? "vault" : NULL};
    struct vault_cluster *vc = NULL;
    struct error err = {0};
    if (one != NULL && cluster_from_statefulset(one, &q, &vc, &err) == 0) {
        if (cluster_set_pods(vc, pods, &err) == 0) {
            cluster_find_pod(vc, "0");
            cluster_find_pod(vc, "vault-1");
            cluster_pod_for_address(vc, "https://vault-2.vault-internal:8201");

            char *out = fuzz_copy(st_part, st_len);
            struct vault_status st;
            int have = vault_parse_status(out, st_len, flags & 2 ? 2 : 0, "", &st, &err) == 0;
            struct pod_view *views = calloc(vc->npods + 1, sizeof *views);
            for (size_t i = 0; have && i < vc->npods; i++) {
                views[i].have_status = vc->pods[i].running;
                views[i].st = st; /* shared, cleared once below */
            }
            struct health_input in = {.vc = vc, .views = views};
            struct health h;
            health_judge(&in, &h);
            health_clear(&h);
            free(views);
            if (have)
                vault_status_clear(&st);
            free(out);
        }
        cluster_free(vc);
    }
    json_decref(sts);
    json_decref(pods);
    return 0;
}
