/* Disaster recovery: a snapshot restored into a freshly installed cluster
 * (`snapshot restore FILE --new-cluster --keys-file SOURCE_KEYS`), as a plan
 * of steps run one by one (docs/disaster-recovery.md §1):
 *
 *   1. check: every pod runs and is uninitialized, the metadata allows it
 *   2. init the first pod with the source's shares/threshold; the temporary
 *      keys and root token live only in locked memory
 *   3. bring-up with them: unseal, join, unseal, every pod a voter
 *   4. `snapshot restore -force` in the active pod, against its own listener
 *   5. wait for the apply by polling: every pod seals itself (Shamir source)
 *   6. wipe the temporary keys and token
 *   7. only when the shares/threshold of the init could differ from the
 *      source's: restart every pod (a sealed pod keeps the seal configuration
 *      in memory, §1.4)
 *   8. bring-up with the source's keys
 *   9. check that cluster_id is the source's
 *
 * An auto-unseal source (its metadata's seal type, or a keys file that holds
 * init's recovery keys) into a cluster on the same KMS or transit key (§1.4):
 * init takes the source's recovery shares/threshold, the pods unseal
 * themselves (bring-up and join submit no key), and after the restore they
 * stay unsealed with the source's cluster_id, keyring and recovery keys. So
 * the plan is steps 1-6 and 9: no restart, no unseal with keys. Pods that
 * seal themselves instead cannot decrypt the source's stored keys with their
 * seal: the run stops there and says so.
 *
 * Steps 5-9 also finish a plain `restore --force` over another cluster. Without
 * metadata such a snapshot may be this cluster's own after all: then no pod
 * seals, and the restart and the unseal are skipped.
 * The upload itself is the caller's (dr_send_fn). Nothing is printed: progress
 * goes through the ops callbacks, failures are errors, and dr_advice says
 * where the cluster stands after a failure at a step and the next command. */
#ifndef VH_DRRESTORE_H
#define VH_DRRESTORE_H

#include <stddef.h>

#include "error.h"
#include "ops.h"
#include "secret.h"
#include "snapmeta.h"

enum dr_step {
    DR_CHECK,
    DR_INIT,
    DR_BRING_UP_TEMP,
    DR_RESTORE,
    DR_WAIT_APPLY,
    DR_WIPE,
    DR_RESTART,
    DR_UNSEAL_SOURCE,
    DR_CHECK_ID,
    DR_NSTEPS,
};

struct dr_plan {
    int shares, threshold; /* of the temporary init */
    int restart;           /* step 7 is part of the plan */
    const char *why_restart;
    enum dr_step steps[DR_NSTEPS];
    size_t nsteps;
    int from_check; /* 1: the plan starts at DR_CHECK (new cluster); 0: at DR_WAIT_APPLY */
    int auto_seal;  /* the source auto-unseals: shares/threshold are recovery shares */
    /* The caller's: the source's root token is at hand, so the end waits until every pod
     * is a healthy raft voter; without it only the unseal is waited for (0 after build). */
    int source_token;
};

/* What the plan is built from. */
struct dr_input {
    const struct snapmeta *meta;     /* NULL: the snapshot has no metadata */
    size_t nkeys;                    /* keys in the source keys file */
    int keys_shares, keys_threshold; /* the keys file's own record (init JSON), 0 = none */
    int recovery_keys;               /* that record: the keys are recovery keys (auto seal) */
};

/* The plan of a --new-cluster restore (new_cluster = 1) or of the end of a
 * forced restore over a running cluster (0: steps 5-9, restarting when the
 * cluster's shares/threshold are not known to be the source's: cur_shares,
 * cur_threshold are the cluster's, 0 = unknown). Refuses (-1, err) when the
 * keys file has fewer keys than the source's threshold. */
int dr_plan_build(const struct dr_input *in, int new_cluster, int cur_shares, int cur_threshold,
                  struct dr_plan *p, struct error *err);

/* Warnings about the keys file against the source (different shares or
 * threshold): "" when none. */
void dr_keys_warning(const struct dr_input *in, char *buf, size_t cap);

/* One line per step, numbered, for --dry-run and for the progress. */
void dr_step_text(const struct dr_plan *p, size_t i, const char *first_pod, char *buf, size_t cap);

/* Sends the snapshot to pod's `snapshot restore -force` with token: 0 when
 * Vault accepted it, -1 with err (Vault's words). */
typedef int (*dr_send_fn)(void *ctx, struct ops *o, const char *pod, const struct secret *token,
                          struct error *err);

struct dr_run {
    struct ops *o;
    const struct dr_plan *plan;
    const struct snapmeta *meta;           /* NULL: no metadata */
    const struct secret_list *source_keys; /* the source's unseal keys */
    const struct secret *source_token;     /* NULL: voters are not waited for at the end */
    dr_send_fn send;
    void *send_ctx;
    /* A forced restore without metadata (meta == NULL): the cluster's cluster_id and raft
     * applied index before the restore (NULL: not known). When every pod stays unsealed
     * with that cluster_id past that index, the snapshot was this cluster's own. */
    const char *before_cluster_id;
    long long index_before;
    /* out */
    int same_cluster;   /* the snapshot was this cluster's own: nothing sealed, steps skipped */
    char seal[32];      /* auto seal: the seal type the pods reported (for the summary) */
    size_t failed_step; /* index into plan->steps of the step that failed */
    int interrupted;    /* stopped by o->cancel before failed_step began: nothing changed */
    char restored_on[256];
    char cluster_id[64]; /* what the pods report at the end */
};

/* Step 1 alone (it only reads): every pod of the StatefulSet runs and is
 * uninitialized, and the metadata (NULL: none) allows a restore into it; the
 * seal kind of plan p (auto or Shamir) must be the cluster's. */
int dr_check_new_cluster(struct ops *o, const struct snapmeta *meta, const struct dr_plan *p,
                         struct error *err);

/* Runs the plan (all of it, or from DR_WAIT_APPLY when !plan->from_check).
 * Each step begins with a report line "Step N/M: ...". Returns 0, or -1 with
 * err and r->failed_step set. */
int dr_run(struct dr_run *r, struct error *err);

/* Where the cluster stands after a failure at step index i of plan p, and the
 * next command (prog: "kubectl vault-ha"; file and keys_file as given), with
 * vc's namespace, release, StatefulSet, pods and their PVCs filled in. */
void dr_advice(const struct dr_plan *p, size_t i, const char *prog, const struct vault_cluster *vc,
               const char *file, const char *keys_file, char *buf, size_t cap);

#endif
