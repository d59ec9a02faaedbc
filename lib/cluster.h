/* Finds the Vault (or OpenBao) StatefulSet of a Helm release and its pods:
 * StatefulSets labelled app.kubernetes.io/name=vault|openbao in the namespace,
 * pods by the StatefulSet's own selector, ordered by ordinal, with the
 * service_registration labels (vault-sealed, vault-active, ...) read as the
 * fast, possibly stale view (docs/vault-cli.md §7.7). Replicas that have no pod get
 * a placeholder saying why. Also maps raft peer addresses to pods. */
#ifndef VH_CLUSTER_H
#define VH_CLUSTER_H

#include <stddef.h>
#include <time.h>

#include "error.h"
#include "kube.h"

enum tristate { TRI_UNKNOWN = -1, TRI_FALSE = 0, TRI_TRUE = 1 };

/* Which product the chart installs (app.kubernetes.io/name). */
enum vault_product { PRODUCT_VAULT, PRODUCT_OPENBAO };

/* Where the data folder (vc->data_dir) was taken from. */
enum layout_source {
    LAYOUT_DEFAULT, /* the chart's default: /vault/data, /openbao/data */
    LAYOUT_MOUNT,   /* the mountPath of the container's "data" volume in the StatefulSet */
    LAYOUT_CONFIG,  /* the `path` of storage "raft" in the server config */
};

struct vault_pod {
    char *name;
    int ordinal;
    int exists;      /* 0: a replica the StatefulSet wants but that has no pod */
    char *phase;     /* Pending, Running, ... or "Missing" */
    int running;     /* phase Running and the Vault container running: exec possible */
    int ready;       /* Ready condition */
    int terminating; /* deletionTimestamp set */
    int restarts;    /* Vault container restartCount */
    char *reason;    /* why not running/ready: CrashLoopBackOff, Unschedulable: ..., or NULL */
    char *node;
    char *pod_ip;
    char *image;
    char *uid;      /* metadata.uid: a pod created again has another */
    char *revision; /* controller-revision-hash: the StatefulSet revision it was created from */
    time_t created; /* creationTimestamp, 0 when unknown */
    /* service_registration labels: the fast view, can lag behind the node */
    enum tristate label_initialized;
    enum tristate label_sealed;
    enum tristate label_active;
    enum tristate label_perf_standby;
    char *label_version;
};

struct vault_cluster {
    char *namespace;
    char *name;      /* StatefulSet name = chart fullname */
    char *release;   /* app.kubernetes.io/instance */
    char *flavor;    /* "vault" or "openbao" (app.kubernetes.io/name) */
    char *container; /* container that runs the server: vault / openbao */
    char *cli;       /* CLI in that container: vault / bao */
    /* The chart's layout, derived once from the StatefulSet (cluster_from_statefulset)
     * and the server config (cluster_use_server_config): */
    enum vault_product product;
    const char *token_env;   /* the CLI's token variable: VAULT_TOKEN / BAO_TOKEN */
    const char *node_id_env; /* the raft node id variable: VAULT_RAFT_NODE_ID / BAO_... */
    char *data_dir;          /* the raft storage folder (node-id, raft/peers.json) */
    enum layout_source data_dir_from;
    char *config_path;  /* the server config in the pod (<config mount>/extraconfig-...) */
    char *service_name; /* spec.serviceName, the headless <fullname>-internal */
    char *pod_management_policy;
    char *image;            /* pod template image */
    char *version;          /* tag of that image */
    char *update_strategy;  /* spec.updateStrategy.type: OnDelete or RollingUpdate (the default) */
    char *update_revision;  /* status.updateRevision: the revision new pods are created from */
    char *current_revision; /* status.currentRevision (never promoted under OnDelete, < 1.36) */
    long long generation;   /* metadata.generation: bumped by every spec change */
    long long observed_generation; /* status.observedGeneration: what the controller has seen */
    char *api_scheme;              /* http or https, from the container's VAULT_ADDR / BAO_ADDR */
    int replicas;                  /* spec.replicas */
    int ready_replicas;            /* status.readyReplicas */
    char *selector;                /* label selector of the pods (from spec.selector) */
    struct vault_pod *pods; /* ordinals 0..replicas-1 first (placeholders included), then extras */
    size_t npods;
};

struct cluster_query {
    const char *namespace;   /* required */
    const char *release;     /* --release, NULL = any */
    const char *statefulset; /* --statefulset, NULL = discover */
    const char *container;   /* --container, NULL = from the pod template */
};

/* Finds the StatefulSet and lists its pods. When none is found in the namespace
 * it looks in all namespaces (if RBAC allows) and suggests -n; when several
 * match it lists them and asks for --release/--statefulset. */
int cluster_discover(struct kube_client *kube, const struct cluster_query *q,
                     struct vault_cluster **out, struct error *err);

/* Every Vault and OpenBao StatefulSet the user may list, in all namespaces
 * (status -A); their pods are not read yet (cluster_refresh_pods). An object
 * that cannot be used gets items[i] NULL and errors[i] saying why. */
struct cluster_list {
    struct vault_cluster **items;
    char **errors;
    size_t n;
};
int cluster_discover_all(struct kube_client *kube, struct cluster_list *out, struct error *err);
void cluster_list_free(struct cluster_list *l);
/* cluster_discover that also hands over what it read (new references, NULL
 * when not wanted): the StatefulSet object and the list of its pods, for
 * callers that look at more fields (doctor: revisions, volumes, labels). */
int cluster_discover_objects(struct kube_client *kube, const struct cluster_query *q,
                             struct vault_cluster **out, json_t **sts_out, json_t **pods_out,
                             struct error *err);

/* The pure halves of discovery, for tests and callers that already hold the
 * objects: a cluster from a StatefulSet object (no pods yet), and its pods
 * from a PodList (replaces the current ones; placeholders for missing replicas). */
int cluster_from_statefulset(json_t *sts, const struct cluster_query *q, struct vault_cluster **out,
                             struct error *err);
int cluster_set_pods(struct vault_cluster *vc, json_t *pod_list, struct error *err);

/* The raft storage folder in a Vault server config, HCL or JSON: the `path`
 * of the storage "raft" block. Returns 1 with out filled when it is a sane
 * absolute path (no "..", no quotes, spaces or control bytes), else 0. Bounded
 * by len; the config is hostile input (it comes from a pod). */
int cluster_config_raft_path(const char *config, size_t len, char *out, size_t cap);

/* Takes the data folder from the server config read from a pod: its raft path
 * wins over the volume's mount. Returns 1 when the config named one. */
int cluster_use_server_config(struct vault_cluster *vc, const char *config, size_t len);

/* Re-reads the pods (after a change such as a pod deletion). */
int cluster_refresh_pods(struct kube_client *kube, struct vault_cluster *vc, struct error *err);

/* Re-reads the StatefulSet's template image and update state (strategy,
 * revisions, generations), after a patch say; the pods stay as they are.
 * *sts_out (may be NULL) gets the object read. */
int cluster_refresh_statefulset(struct kube_client *kube, struct vault_cluster *vc,
                                json_t **sts_out, struct error *err);
/* The API path of the StatefulSet (GET, PATCH). */
void cluster_statefulset_path(const struct vault_cluster *vc, char *buf, size_t cap);
/* The same from a StatefulSet object at hand (pure). */
void cluster_set_update_state(struct vault_cluster *vc, json_t *sts);

/* The pod called name, or by ordinal when name is a number ("1" → vault-1); NULL if none. */
struct vault_pod *cluster_find_pod(struct vault_cluster *vc, const char *name_or_ordinal);

/* The pods named on a command line (names or ordinals, each once, in the order given)
 * as indexes into vc->pods in out (room for n). Each must exist in the StatefulSet, and
 * with need_running be running. Returns how many, or -1 with err: ERR_USAGE for a name
 * that is not one of its pods, ERR_GENERIC for a pod that is not running. */
int cluster_select_pods(struct vault_cluster *vc, char *const *names, int n, int need_running,
                        size_t *out, struct error *err);

/* Maps a raft peer address ("vault-1.vault-internal:8201") or a cluster address
 * ("https://vault-1.vault-internal:8201") to a pod of this cluster; NULL if none. */
struct vault_pod *cluster_pod_for_address(struct vault_cluster *vc, const char *address);

void cluster_free(struct vault_cluster *vc);

/* The tag of an image reference: "reg:5000/vault:1.2@sha256:.." → "1.2", no tag →
 * "latest", by digest only → NULL. malloc'd. */
char *cluster_image_tag(const char *image);

#endif
