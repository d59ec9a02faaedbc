/* Vault operations inside the pods, over lib/kexec: the argv to run (never a
 * secret in it), what goes on stdin, and typed results parsed from the CLI's
 * -format=json output (docs/vault-cli.md §1-§5; OpenBao §8). Parsers are pure so
 * the exact shapes are unit-tested; the run_* functions exec in pods. */
#ifndef VH_VAULT_H
#define VH_VAULT_H

#include <jansson.h>
#include <stddef.h>

#include "cluster.h"
#include "error.h"
#include "secret.h"

/* The JSON object a CLI printed (after any prompt text before its '{'); NULL
 * with err naming what. */
json_t *vault_load_output(const char *out, size_t len, const char *what, struct error *err);

/* `vault status -format=json` of one node. */
struct vault_status {
    char *type; /* shamir, awskms, ... */
    int initialized;
    int sealed;
    int t, n, progress;
    char *nonce;
    char *version;
    char *cluster_name;
    char *cluster_id;
    char *storage_type;
    int recovery_seal;
    char *recovery_seal_type; /* "shamir" for auto seals (1.16+), NULL otherwise */
    int migration;            /* started in seal migration mode and not migrated yet (facts:
                                 seal-migration §1.4: false alone does not mean done) */
    enum tristate removed_from_cluster; /* 1.19+ only */
    int ha_enabled;
    int is_self; /* absent on standbys: 0 */
    char *leader_address;
    char *leader_cluster_address;
    long long raft_committed_index; /* 0 when absent (sealed) */
    long long raft_applied_index;
};

/* Parses status output. exit_code is the CLI's: 0 unsealed, 2 sealed (possibly
 * with EMPTY stdout when the leader call failed: then err carries stderr),
 * 1 could not ask. */
int vault_parse_status(const char *out, size_t len, int exit_code, const char *stderr_text,
                       struct vault_status *st, struct error *err);
void vault_status_clear(struct vault_status *st);

/* `vault operator init -format=json`: keys go straight into locked memory. */
struct vault_init_result {
    struct secret_list keys_b64;     /* unseal_keys_b64 */
    struct secret_list keys_hex;     /* unseal_keys_hex */
    struct secret_list recovery_b64; /* recovery_keys_b64 */
    struct secret_list recovery_hex;
    struct secret root_token;
    int shares, threshold;
    int recovery_shares, recovery_threshold;
};
int vault_parse_init(const char *out, size_t len, struct vault_init_result *r, struct error *err);
void vault_init_result_clear(struct vault_init_result *r);
/* The same JSON shape as `vault operator init -format=json`, written into a
 * secret buffer (for init --output and for printing). */
int vault_init_result_json(const struct vault_init_result *r, struct secret *out,
                           struct error *err);

/* `vault write -format=json sys/unseal -` answer: the seal status under .data. */
struct vault_unseal_progress {
    int sealed;
    int t, n, progress;
};
int vault_parse_unseal(const char *out, size_t len, struct vault_unseal_progress *p,
                       struct error *err);

/* `vault operator raft list-peers -format=json`. */
struct vault_peer {
    char *node_id;
    char *address; /* host:port, the cluster address host (maps to a pod) */
    int leader;
    int voter;
};
struct vault_peers {
    struct vault_peer *items;
    size_t n;
    long long index;
};
int vault_parse_peers(const char *out, size_t len, struct vault_peers *peers, struct error *err);
void vault_peers_clear(struct vault_peers *peers);

/* `vault operator raft autopilot state -format=json` (CamelCase Go names). */
struct vault_autopilot_server {
    char *id;
    char *name;
    char *address;
    char *node_status; /* alive, failed, left, unknown */
    char *status;      /* leader, voter, non-voter, staging, none */
    int healthy;
    long long last_index;
    char *stable_since; /* RFC 3339, when the server last became stable */
};
struct vault_autopilot {
    int healthy;
    int failure_tolerance;
    char *leader;
    struct vault_autopilot_server *servers;
    size_t n;
};
int vault_parse_autopilot(const char *out, size_t len, struct vault_autopilot *ap,
                          struct error *err);
void vault_autopilot_clear(struct vault_autopilot *ap);

/* --- Vault's HTTP answers (read through pods/proxy, lib/vaultread) ---------------------------
 * The HTTP JSON differs from the CLI's: the CLI merges sys/seal-status and
 * sys/leader into one document and masks a sealed node's failing leader call;
 * autopilot's fields are snake_case under "data" (docs/vault-cli.md §1, §4;
 * hashicorp/vault api/sys_seal.go, api/sys_leader.go). Pure and bounded. */

/* sys/seal-status (200) into st; the leader fields are zero until merged. */
int vault_parse_http_seal_status(const char *body, size_t len, struct vault_status *st,
                                 struct error *err);
/* sys/leader's answer (status and body) merged into st as the CLI does: a
 * sealed node's "Vault is sealed" gives ha_enabled true; any other failure is
 * an error (st is left as it was). */
int vault_merge_http_leader(long http_status, const char *body, size_t len, struct vault_status *st,
                            struct error *err);
/* sys/storage/raft/configuration: the document list-peers prints. */
int vault_parse_http_peers(const char *body, size_t len, struct vault_peers *peers,
                           struct error *err);
/* sys/storage/raft/autopilot/state (snake_case under data). */
int vault_parse_http_autopilot(const char *body, size_t len, struct vault_autopilot *ap,
                               struct error *err);
/* Vault's {"errors":[...]} joined with "; ", else the first line of a text body. */
void vault_http_error_summary(const char *body, size_t len, char *buf, size_t cap);

/* --- running the CLI in pods ------------------------------------------------------------- */

/* One CLI invocation in one pod. stdin may carry a secret: it is never traced
 * and never in argv. */
struct vault_call {
    /* in */
    const char *pod;
    const char *argv[24]; /* NULL-terminated */
    const char *input;    /* stdin bytes, NULL = no stdin */
    size_t input_len;
    int secret_output; /* stdout goes to locked memory (init prints keys) */
    /* out */
    int ran; /* the command ran to its end: exit_code is valid */
    int exit_code;
    char *out; /* stdout, NUL-terminated (not with secret_output) */
    size_t out_len;
    struct secret secret_out; /* stdout with secret_output */
    char *err_out;            /* stderr, NUL-terminated, bounded */
    struct error error;       /* why it did not run */
};

/* The argv to exec for a command without the token the container may inherit (a transit seal
 * token in VAULT_TOKEN, docs/seal-migration.md; from the env, envFrom, the image, a webhook):
 * it would reach every command, and a privileged one would get 403. Every command runs under
 * `env -u VAULT_TOKEN` (`env -u BAO_TOKEN -u VAULT_TOKEN` for OpenBao); those with a token of
 * their own set it after that (vault_call_with_token: sh reads it into VAULT_TOKEN).
 * vault_call_run does this for every call; on an image without env (exec error: see
 * vault_exec_lacks_env) it runs the command as is. */
struct vault_argv {
    const char *argv[32];
};
const char *const *vault_argv_without_pod_token(const struct vault_cluster *vc,
                                                const char *const *argv, struct vault_argv *w);
/* The exec error says the image has no `env`. */
int vault_exec_lacks_env(const char *msg);

/* Runs every call at once (one exec session per call). Returns 0 when every
 * call ran (exit codes may be non-zero), -1 when any did not. */
int vault_call_run(struct kube_client *kube, const struct vault_cluster *vc,
                   struct vault_call *calls, size_t n);
void vault_call_clear(struct vault_call *c);

/* Fills call->argv with `sh -c` reading the token from the first stdin line
 * into VAULT_TOKEN (BAO_TOKEN for OpenBao), then exec'ing the CLI with args;
 * and call->input with "token\n" followed by extra stdin. The token is in
 * the caller's locked buffer given as `with_token` (size token_len + 1 +
 * extra_len); the caller wipes it. */
int vault_call_with_token(struct vault_call *call, const struct vault_cluster *vc,
                          const struct secret *token, const char *const *args,
                          struct secret *with_token, struct error *err);

/* Judges a call that ran: 0 when the CLI exited 0; else -1 with err, either why it did not run
 * (kexec's words, which name the pod) or "what on POD failed: <the CLI's words>", ERR_FORBIDDEN
 * for "permission denied" (then with denied_hint appended, when not NULL), else ERR_REMOTE. */
int vault_call_check(const struct vault_call *call, const char *what, const char *denied_hint,
                     struct error *err);

/* "Run the CLI in a pod with the token and check the answer", the one way: args (args[0] the
 * CLI) in call->pod, the token on stdin before call->input when token is not NULL, judged by
 * vault_call_check. The caller sets call->pod (and input, secret_output) first and clears the
 * call afterwards whatever the result. */
int vault_run_cli(struct kube_client *kube, const struct vault_cluster *vc, struct vault_call *call,
                  const struct secret *token, const char *const *args, const char *what,
                  const char *denied_hint, struct error *err);

/* With a token: `operator raft list-peers` and `operator raft autopilot
 * state` in pod (the active one), at once. Returns 0 with peers read (and
 * *have_ap when autopilot answered too), -2 when the token was refused
 * (permission denied), -1 otherwise; why says what failed. */
int vault_read_raft(struct kube_client *kube, const struct vault_cluster *vc, const char *pod,
                    const struct secret *token, struct vault_peers *peers,
                    struct vault_autopilot *ap, int *have_ap, char *why, size_t why_cap);

/* What we learnt about one pod (index = the cluster's pod index). */
struct pod_view {
    int have_status; /* vault status answered */
    struct vault_status st;
    char *status_error; /* why not (owned), when it was asked */
};

/* The status of the active node: unsealed, and is_self (it is the leader itself). */
int vault_status_is_active(const struct vault_status *st);

/* Which pod is active: the index of the first view whose own status says so, or -1. The one
 * answer for the tree: a pod's label may lag, its own status does not. */
long vault_active_index(const struct pod_view *views, size_t n);

/* What a `vault status -format=json` call said: st filled (returns 1), or why
 * not in *error (malloc'd; returns 0). */
int vault_status_from_call(const struct vault_call *c, struct vault_status *st, char **error);

/* `vault status -format=json` in every running pod at once; views has
 * vc->npods entries. */
void vault_status_all(struct kube_client *kube, const struct vault_cluster *vc,
                      struct pod_view *views);
/* The indexes of vc's running pods (malloc'd, *n of them; NULL when out of
 * memory), every view cleared. */
size_t *vault_running_pods(const struct vault_cluster *vc, struct pod_view *views, size_t *n);

/* The same in the pods at index[0..n) (indexes into vc->pods); the other views
 * are left alone. */
void vault_status_some(struct kube_client *kube, const struct vault_cluster *vc,
                       const size_t *index, size_t n, struct pod_view *views);
void vault_views_clear(struct pod_view *views, size_t n);

/* The first "* message" lines of a Vault CLI error on stderr, joined with "; ",
 * or the first non-empty line; for messages shown to users. */
void vault_error_summary(const char *stderr_text, char *buf, size_t cap);

#endif
