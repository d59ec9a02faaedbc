/* Reading Vault without changing it: each pod's status and, with a token,
 * the raft peers and autopilot state. Through the API server's pods/proxy
 * (Vault's HTTP API, no process in the pod) when RBAC allows it and
 * --read-via does not say exec (lib/kube decides once per namespace and run);
 * otherwise, or after the first 403, by running the CLI in the pods (lib/vault).
 * The token travels only as the X-Vault-Token header. A standby's redirect is
 * never followed: the pod it points at is asked instead. Everything that
 * changes state keeps exec (lib/vault, lib/ops). */
#ifndef VH_VAULTREAD_H
#define VH_VAULTREAD_H

#include "cluster.h"
#include "kube.h"
#include "secret.h"
#include "vault.h"

/* The chart's API port (the listener at VAULT_ADDR / BAO_ADDR). */
#define VAULTREAD_API_PORT 8200

/* Every running pod's status at once, as vault_status_all (views has
 * vc->npods entries). */
void vaultread_status_all(struct kube_client *kube, const struct vault_cluster *vc,
                          struct pod_view *views);

/* The statuses of the pods at index[0..n) (indexes into vc->pods) at once, into
 * those views (views has vc->npods entries; the others are left alone). */
void vaultread_status_some(struct kube_client *kube, const struct vault_cluster *vc,
                           const size_t *index, size_t n, struct pod_view *views);

/* One pod's status: 0 with st filled, -1 with err. */
int vaultread_status(struct kube_client *kube, const struct vault_cluster *vc, const char *pod,
                     struct vault_status *st, struct error *err);

/* The raft peers and autopilot state from pod (the active one), as
 * vault_read_raft: 0 with peers (and *have_ap), -2 token refused, -1 else;
 * why says what failed. */
int vaultread_raft(struct kube_client *kube, const struct vault_cluster *vc, const char *pod,
                   const struct secret *token, struct vault_peers *peers,
                   struct vault_autopilot *ap, int *have_ap, char *why, size_t why_cap);

/* The proxy id of a pod's API port: "vault-0:8200", "https:vault-0:8200". */
void vaultread_pod_id(const struct vault_cluster *vc, const char *pod, char *buf, size_t cap);

/* The pod whose IP a redirect's Location names ("http://10.244.1.17:8200/v1/..."),
 * NULL when none (pure). */
const struct vault_pod *vaultread_redirect_pod(const struct vault_cluster *vc,
                                               const char *location);

#endif
