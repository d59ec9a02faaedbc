/* Multi-step Vault operations across pods, shared by init --unseal, unseal,
 * join and bootstrap: submit unseal keys to many pods at once, raft-join pods
 * to the active node, wait for nodes to unseal, for autopilot to promote
 * voters, for a new active node. Progress goes to a callback, one line at a
 * time ("vault-1: 2/3"); nothing is printed here. */
#ifndef VH_OPS_H
#define VH_OPS_H

#include <signal.h>

#include "cluster.h"
#include "error.h"
#include "kube.h"
#include "secret.h"
#include "vault.h"

typedef void (*ops_report_fn)(void *ctx, const char *line);

struct ops {
    struct kube_client *kube;
    struct vault_cluster *vc;
    ops_report_fn report;
    void *report_ctx;
    int wait_seconds; /* limit for each wait; default 60 */
};

/* Refreshes pods and statuses: views must have room for vc->npods after the
 * refresh (use ops_views_alloc). */
int ops_refresh(struct ops *o, struct pod_view **views, struct error *err);

/* Submits keys, one round per key, to every pod in targets (indexes into
 * vc->pods) at once, until each is unsealed, then waits for pods whose last
 * key started a raft join (answer still sealed) to unseal. Per-pod failures
 * are reported and counted; returns the number of pods left sealed, or -1. */
int ops_unseal(struct ops *o, const size_t *targets, size_t ntargets,
               const struct secret_list *keys, struct error *err);

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

/* Waits until every target pod is a raft voter (autopilot promotes joined
 * nodes after its stabilization time). Needs a token. */
int ops_wait_voters(struct ops *o, const char *active_pod, const struct secret *token,
                    const size_t *targets, size_t ntargets, struct error *err);

/* Waits until the pod exists and runs, e.g. the next pod of an OrderedReady
 * StatefulSet, which the controller creates once the ones before it are Ready. */
int ops_wait_pod_running(struct ops *o, const char *pod, struct error *err);

/* Waits until a pod other than not_this (NULL = any) reports itself active;
 * writes its name into active (cap bytes). */
int ops_wait_active(struct ops *o, const char *not_this, char *active, size_t cap,
                    struct error *err);

#endif
