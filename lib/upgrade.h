/* upgrade: rolls a Vault (or OpenBao) StatefulSet onto its update revision
 * without losing quorum, as a plan of steps (docs/design.md §4.2).
 *
 * The plan is pure: from the cluster as read (each pod's revision and vault
 * status) it orders the steps. Pods found down or sealed are brought back
 * first (a run that stopped half way resumes there); then the standbys, one at
 * a time, highest ordinal first; then the active node steps down and is
 * restarted last, so that there is exactly one planned leader change. Each
 * step has a precondition, checked right before it acts, and an observable
 * done state, checked first, so that running the plan again resumes where it
 * stopped. The steps run through lib/ops (the bring-up step, the waits);
 * nothing is printed here: progress goes to the ops callbacks. */
#ifndef VH_UPGRADE_H
#define VH_UPGRADE_H

#include <jansson.h>

#include "cluster.h"
#include "error.h"
#include "health.h"
#include "lease.h"
#include "ops.h"
#include "secret.h"
#include "vault.h"

enum upgrade_action {
    UPGRADE_BRING_BACK, /* a pod down or sealed: back to a healthy voter (no delete) */
    UPGRADE_RESTART,    /* delete the pod, then bring it back on the update revision */
    UPGRADE_STEP_DOWN,  /* the active node hands over to an upgraded standby */
};

/* How a restarted pod gets unsealed. */
enum roll_unseal {
    ROLL_UNSEAL_DEFAULT, /* the run's: its keys, or by itself with self_unseal */
    ROLL_UNSEAL_MIGRATE, /* `unseal -migrate` with the old seal's keys (seal migration) */
    ROLL_UNSEAL_KEYS,    /* the run's keys, even when self_unseal is set */
};

struct upgrade_step {
    enum upgrade_action action;
    enum roll_unseal unseal; /* for a restart */
    char pod[128];
    char state[200];        /* the pod when planned: "standby, revision vault-5d8c7b9f6" */
    char precondition[400]; /* checked right before the step acts */
    char done[400];         /* the observable state that ends it (checked first) */
};

struct upgrade_plan {
    char revision[256]; /* target: the StatefulSet's update revision ("" = not known yet) */
    char image[512];    /* target image */
    char version[128];  /* its tag */
    char from[256];     /* versions the pods to restart run now: "1.21.2" */
    struct upgrade_step *steps;
    size_t n;
    int leader_changes;  /* planned: 1 when the active pod is restarted, else 0 */
    char active[128];    /* the active pod as planned, "" if none */
    char upgraded[1024]; /* pods already on the revision and healthy: "vault-2, vault-1" */
};

struct upgrade_facts {
    const struct vault_cluster *vc; /* pods with their revisions */
    const struct pod_view *views;   /* each pod's vault status */
    const char *revision;           /* target; NULL = vc->update_revision; "" = not known yet
                                       (a new image before its patch): every pod is restarted */
    const char *image;              /* target image; NULL = vc->image */
};

/* Builds the plan. Fails (ERR_USAGE) when there is no revision to roll to. */
int upgrade_plan_build(const struct upgrade_facts *f, struct upgrade_plan *plan, struct error *err);
void upgrade_plan_free(struct upgrade_plan *plan);
/* The plan as a document (-o json|yaml): revision, image, version, from, steps
 * [{pod, action, state, precondition, done}], leaderChanges, upgraded. */
json_t *upgrade_plan_json(const struct upgrade_plan *plan);
/* "restart", "step down", "bring back". */
const char *upgrade_action_name(enum upgrade_action a);

/* Would rolling to version be a downgrade of a pod? Names the first pod that
 * runs a newer version in why, and returns 1; 0 when not; -1 when it cannot
 * be told (a version that is not one: why says which). */
int upgrade_is_downgrade(const struct vault_cluster *vc, const struct pod_view *views,
                         const char *version, char *why, size_t cap);

/* May the cluster be touched? From a reading (ops_read) and the pod about to
 * be deleted (NULL: the check before any change, where pods down or sealed
 * are allowed because the plan brings them back first). Pure. Returns 0, or
 * -1 with why (the problems and the command that helps) in why. */
int upgrade_judge(const struct vault_cluster *vc, const struct ops_reading *r, const char *pod,
                  char *why, size_t cap);

/* What ends a roll's per-pod step when it is not "on the target revision"
 * (a seal migration: the pod runs the target seal). */
struct roll_done {
    int (*pod_done)(void *ctx, const struct vault_pod *p, const struct pod_view *v);
    void *ctx;
    const char *what;    /* "runs seal transit", for reports */
    const char *command; /* the command to run again: "migrate-seal" */
};

/* What a step needs to run. */
struct upgrade_run {
    const struct secret_list *keys; /* Shamir: the threshold's worth of unseal keys */
    const struct secret *token;     /* for the raft state and the step-down */
    int self_unseal;                /* auto-unseal: restarted pods unseal themselves */
    const char *revision;           /* the target revision */
    long pod_timeout_ms;            /* how long one pod may take to be healthy again */
    long guard_timeout_ms;   /* how long a deletion waits for the cluster to be healthy first */
    struct lease_lock *lock; /* checked right before each change (NULL: none) */
    const struct roll_done *done; /* NULL: on the revision (upgrade) */
};

/* May pod, the active node, step down: 0, or -1 with why. Some other pod must be done and
 * unsealed; for a roll with its own done test (a seal migration) every other existing pod
 * must be, as the node that takes over is any voter (docs/seal-migration.md §10.4). */
int upgrade_takeover_ready(const struct upgrade_run *run, const struct vault_cluster *vc,
                           const struct pod_view *views, const char *pod, char *why, size_t cap);

/* Runs one step: its done state first (nothing left to do: 0, reported), then
 * its precondition, then its action and waits, all within run->pod_timeout_ms
 * (for a restart: from the pod's deletion on). A restart evicts the pod
 * (pods/eviction: the PodDisruptionBudget applies; a refusal is waited on, then
 * reported) after checking, right before, that it is not the active node: a
 * leader change during the quorum guard's wait made it so, and it is stepped
 * down first.
 * Returns 0, or -1 with err (ERR_INTERRUPTED after Ctrl-C, ERR_TIMEOUT when
 * the pod was not healthy in time). */
int upgrade_run_step(struct ops *o, const struct upgrade_run *run, const struct upgrade_step *s,
                     struct error *err);

/* Patches the StatefulSet's template to image (a JSON patch that first tests
 * the container's name and current image, so that a concurrent change fails
 * instead of being overwritten), then waits until the controller has observed
 * it and vc holds the new update revision. old gets the image replaced. */
int upgrade_set_image(struct ops *o, const char *image, char *old, size_t old_cap,
                      struct error *err);

/* Waits until the StatefulSet controller has observed generation (its
 * status.observedGeneration), so that status.updateRevision is the revision of
 * the template as it is; vc's update state is refreshed. */
int upgrade_wait_observed(struct ops *o, long long generation, struct error *err);

#endif
