/* The cluster verdict: from the API's view of the pods, each pod's own
 * `vault status`, and (with a token) the raft peers and autopilot state,
 * decide healthy / degraded / unavailable, why, and the next command to run.
 * Cross-checks the views, because labels and readiness lie in the field.
 * Pure: no I/O, so every rule is unit-tested. */
#ifndef VH_HEALTH_H
#define VH_HEALTH_H

#include <jansson.h>

#include "cluster.h"
#include "vault.h"

enum health_state { HEALTH_HEALTHY, HEALTH_DEGRADED, HEALTH_UNAVAILABLE, HEALTH_UNKNOWN };

struct health_input {
    const struct vault_cluster *vc;
    const struct pod_view *views;            /* vc->npods entries */
    const struct vault_peers *peers;         /* NULL: unknown (no token) */
    const struct vault_autopilot *autopilot; /* NULL: unknown */
    const char *prog;                        /* "kubectl vault-ha", for next steps */
};

struct health_pod {
    const char *role;    /* active, standby, sealed, uninitialized, down, unknown */
    const char *raft;    /* leader, follower, non-voter, not a member, or NULL (unknown) */
    const char *node_id; /* raft node id when the peers are known */
};

struct health {
    enum health_state state;
    int exit_code; /* 0 healthy, 2 degraded, 3 unavailable, 1 unknown */
    int voters;    /* raft voters (peers when known, else replicas) */
    int live_voters;
    int quorum;
    int failure_tolerance;  /* how many more voters may fail; -1 unknown */
    const char *active_pod; /* NULL when none */
    struct health_pod *pods;
    json_t *problems; /* array of strings */
    json_t *kinds;    /* problem text -> "update", "pod" or "label" (health_problem_kind) */
    /* How many of the problems are of these kinds (the rest is any other kind): */
    int update_problems; /* an update in progress: pods on another image than the
                            StatefulSet's, version skew */
    int pod_problems;    /* pods down (no pod, not running), sealed or not initialized:
                            the bring-up step repairs them */
    int label_problems;  /* service_registration labels that lag behind vault status */
    json_t *next;        /* array of strings: commands to run */
};

void health_judge(const struct health_input *in, struct health *out);
/* The kind of one of h->problems: "update", "pod", "label" or "other". */
const char *health_problem_kind(const struct health *h, const char *problem);
void health_clear(struct health *h);
const char *health_state_name(enum health_state s);

#endif
