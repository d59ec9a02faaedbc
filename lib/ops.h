/* Multi-step Vault operations across pods, shared by the commands that change
 * a cluster: submit unseal keys to many pods at once, raft-join pods to the
 * active node, and the waits between (an election, a pod start, a promotion,
 * a catch-up), all through lib/wait with the one --timeout. The bring-up step
 * ("these pods back to healthy": running, unsealed, raft member, voter, caught
 * up) lives here once; bootstrap, init --unseal, join, restore, upgrade and
 * recover call it. Progress goes to callbacks, a line at a time ("vault-1:
 * 2/3"); nothing is printed here. */
#ifndef VH_OPS_H
#define VH_OPS_H

#include <signal.h>

#include "cluster.h"
#include "error.h"
#include "health.h"
#include "kube.h"
#include "secret.h"
#include "vault.h"
#include "wait.h"

typedef void (*ops_report_fn)(void *ctx, const char *line);

struct ops {
    struct kube_client *kube;
    struct vault_cluster *vc;
    ops_report_fn report;          /* one line of progress */
    wait_report_fn wait_report;    /* the begin/progress/end of each wait */
    void *report_ctx;              /* given to both */
    long timeout_ms;               /* each wait's limit (--timeout); <= 0: WAIT_DEFAULT_MS */
    double deadline_s;             /* > 0: no wait goes past this wait_now_s() time (a budget
                                      shared by several waits, e.g. upgrade's per pod) */
    volatile sig_atomic_t *cancel; /* Ctrl-C: waits end between polls */
    const char *prog;              /* "kubectl vault-ha", for the next command in messages */
    /* The pods that are the raft members, when the caller knows better than "every
     * initialized pod": after a peers.json recovery the configuration is the survivors,
     * and a lost pod that came back with stale data is no member. NULL = not known. */
    const char *const *members;
    size_t nmembers;
    int unseal_migrate; /* keys go with "migrate": true (a seal migration's old keys) */
    /* vc's pods were listed just now (discovery): the next ops_read does not
     * list them again; it clears the flag. */
    int pods_fresh;
};

/* One line of progress through o->report (nothing when it is NULL). */
void ops_report(struct ops *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Refreshes pods and statuses: views must have room for vc->npods after the
 * refresh (use ops_views_alloc). */
int ops_refresh(struct ops *o, struct pod_view **views, struct error *err);

/* The waiter every wait of these operations uses: o's timeout, cut to what is
 * left before o->deadline_s, its cancel flag and reporting. */
struct waiter ops_waiter(const struct ops *o, long interval_ms);

/* One reading of the whole cluster, as `status` takes it: the pods, each pod's
 * vault status, with a token the raft peers and autopilot state read from the
 * active node, and lib/health's verdict on them. */
struct ops_reading {
    struct pod_view *views; /* vc->npods entries */
    struct vault_peers peers;
    struct vault_autopilot ap;
    int have_peers, have_ap;
    char note[600]; /* why the raft state was not read, or "" */
    struct health h;
};
/* Re-reads the pods and takes a reading (r is cleared first). */
int ops_read(struct ops *o, const struct secret *token, struct ops_reading *r, struct error *err);
void ops_reading_clear(const struct ops *o, struct ops_reading *r);

/* What ops_unseal did, pod by pod. */
struct unseal_outcome {
    int unsealed;    /* pods that are unsealed now */
    int partial;     /* pods still sealed below the threshold, keys accepted */
    int wrong_keys;  /* pods whose round failed at the threshold (wrong or foreign key) */
    int failed;      /* other failures */
    int accepted;    /* keys accepted in all (a duplicate in the round is not) */
    int min_missing; /* keys still missing on the partial pods (the fewest) */
    int max_missing; /* and the most */
};

/* Submits keys, one round per key, to every pod in targets (indexes into
 * vc->pods) at once, until each is unsealed; fewer keys than the threshold
 * leave a pod's round in progress for the next key holder. Then waits for
 * pods whose last key started a raft join (answer still sealed) to unseal.
 * Per-pod progress and failures are reported ("vault-1: 2/3", "vault-1: 2/3,
 * 1 more key needed (from another key holder)"). out may be NULL. Returns the
 * number of pods left sealed, or -1. */
int ops_unseal(struct ops *o, const size_t *targets, size_t ntargets,
               const struct secret_list *keys, struct unseal_outcome *out, struct error *err);

/* Discards the unseal round in progress on each target (`sys/unseal` with
 * reset). Returns the number of pods that failed (reported), or -1. */
int ops_unseal_reset(struct ops *o, const size_t *targets, size_t ntargets, struct error *err);

/* The address followers join: --leader-addr, else
 * <scheme>://<active pod>.<serviceName>:8200. */
void ops_leader_address(const struct vault_cluster *vc, const char *active_pod, char *buf,
                        size_t cap);

struct join_options {
    const char *leader_addr;
    const char *leader_ca_pem;   /* PEM content, NULL = none */
    const char *tls_server_name; /* leader_tls_servername, NULL = none */
};

/* Raft-joins every target pod to the leader at once. Returns the number of
 * pods that failed (reported with cause and next step), or -1. */
int ops_join(struct ops *o, const size_t *targets, size_t ntargets, const struct join_options *jo,
             struct error *err);

/* Waits until every named pod is a raft voter (autopilot promotes joined
 * nodes after its stabilization time), healthy for autopilot, and caught up:
 * its applied index has reached the leader's commit index as the wait began.
 * Needs a token. */
int ops_wait_voters(struct ops *o, const struct secret *token, const char *const *pods,
                    size_t npods, struct error *err);

/* Waits until the pod exists and runs, e.g. the next pod of an OrderedReady
 * StatefulSet, or a pod the StatefulSet recreates after a delete. */
int ops_wait_pod_running(struct ops *o, const char *pod, struct error *err);

/* Deletes the pod (the StatefulSet creates it again); err names the pod. */
int ops_delete_pod(struct ops *o, const char *pod, struct error *err);

/* Waits until the StatefulSet has created the pod again after a delete: a pod
 * whose uid is not old_uid, running, not terminating, on revision (NULL: any).
 * Fails at once when it comes back on another revision (the StatefulSet's
 * template changed meanwhile). */
int ops_wait_pod_recreated(struct ops *o, const char *pod, const char *old_uid,
                           const char *revision, struct error *err);

/* `operator step-down` with the token, run in pod (the request is forwarded
 * to the active node). Returns 0 once Vault took it; the election that
 * follows is not waited for (ops_wait_active with not_this). */
int ops_step_down(struct ops *o, const struct secret *token, const char *pod, struct error *err);

/* The active node, waiting for a leader election when one can happen: some
 * raft member is unsealed and enough of them for a quorum may be. Fails at
 * once, naming each member's state and the command that helps, when no member
 * is unsealed or too few are for a quorum; a pod named not_this does not
 * count (the one that just stepped down). Writes the active pod's name.
 * Returns 1 after waiting (progress was reported), 0 when one was active
 * already, -1 with err. */
int ops_wait_active(struct ops *o, const char *not_this, char *active, size_t cap,
                    struct error *err);

/* Can an active node appear? From each pod's own vault status (pure). */
enum outlook_kind {
    OUTLOOK_ACTIVE,          /* a pod (other than not_this) is active */
    OUTLOOK_ELECTING,        /* enough members may be unsealed: an election can finish */
    OUTLOOK_NOT_INITIALIZED, /* no pod is initialized */
    OUTLOOK_ALL_SEALED,      /* no member is unsealed */
    OUTLOOK_NO_QUORUM,       /* too few members unsealed for a quorum: keys are needed */
    OUTLOOK_UNREADABLE,      /* no running pod answered vault status */
};
struct election_outlook {
    enum outlook_kind kind;
    char active[256]; /* the active pod */
    int unsealed;     /* unsealed members (not_this included) */
    int members;      /* initialized pods, plus running pods whose status is unknown */
    int unknown;      /* running pods that did not answer vault status */
    int quorum;       /* members / 2 + 1 */
    int missing;      /* more members to unseal for a quorum (<= 0: none) */
    int pods_down;    /* pods that do not exist or do not run */
    char sealed[512]; /* the sealed members, "vault-1, vault-2" */
};
void ops_election_outlook(const struct vault_cluster *vc, const struct pod_view *views,
                          const char *not_this, struct election_outlook *out);
/* The same with the raft members known (members NULL: every initialized pod):
 * pods outside them neither count for the quorum nor can become active. */
void ops_election_outlook_of(const struct vault_cluster *vc, const struct pod_view *views,
                             const char *not_this, const char *const *members, size_t nmembers,
                             struct election_outlook *out);
/* The outlook in words, with the command that helps; states from ops_describe_pods. */
void ops_outlook_message(const struct vault_cluster *vc, const struct election_outlook *ol,
                         const char *states, const char *prog, char *buf, size_t cap);

/* "vault-0: sealed 1/3; vault-1: standby; vault-2: not running (Pending)":
 * every pod's state, for messages. */
void ops_describe_pods(const struct vault_cluster *vc, const struct pod_view *views, char *buf,
                       size_t cap);

/* The bring-up step: the pods back to healthy. */
struct bring_up {
    const struct secret_list *keys; /* the cluster's unseal keys (threshold of them) */
    const struct secret *token;     /* NULL: voters and catch-up are not waited for (reported) */
    const struct join_options *jo;  /* leader_addr NULL = the active pod's internal address */
    const char *const *pods;        /* NULL = every pod of the StatefulSet */
    size_t npods;
    int wait_running; /* named pods: wait until each exists and runs (recreated after a delete) */
    int self_unseal;  /* auto-unseal: sealed members and joined pods unseal themselves: wait, submit
                         no key */
};

/* Unseals the sealed members among the pods, waits for an active node, joins
 * the pods that are not initialized (every pod: also the ones an OrderedReady
 * StatefulSet creates one by one) and unseals them, then with a token waits
 * until each is a healthy voter and caught up. Returns 0 when every pod is
 * there, the number of pods that are not (each reported), or -1 with err. */
int ops_bring_up(struct ops *o, const struct bring_up *b, struct error *err);

#endif
