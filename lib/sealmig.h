/* Seal migration (docs/seal-migration.md): from Shamir keys to an auto seal
 * and back, pod by pod. A migration is a roll (lib/upgrade) whose per-pod step
 * is "restart, then `unseal -migrate` with the OLD seal's keys" and whose done
 * test is "the pod runs the target seal".
 *
 * Pure parts: the seal stanzas of the chart's ConfigMap (a bounded HCL scan:
 * the bytes are hostile), the seal-related env of the StatefulSet template,
 * the detection (what the pods run now, what they get on restart), the config
 * checks, and the plan. Nothing here prints. */
#ifndef VH_SEALMIG_H
#define VH_SEALMIG_H

#include <jansson.h>
#include <stddef.h>

#include "cluster.h"
#include "error.h"
#include "upgrade.h"
#include "vault.h"

#define SEALMIG_MAX_STANZAS 8
#define SEALMIG_CONFIG_MAX  (1u << 20) /* bigger configs are refused */
#define SEALMIG_CONFIG_KEY  "extraconfig-from-values.hcl"

struct seal_stanza {
    char type[32];
    int disabled; /* disabled = "true" (ParseBool: true, 1, t...) */
    char address[256];
    char mount_path[128];
    char key_name[128];
    int has_token; /* a token attribute (its value is never kept) */
    /* transit's TLS client settings (any tls_* key set: the pod's VAULT_CACERT... do not apply) */
    char tls_ca_cert[256];
    char tls_server_name[256];
    int tls_skip_verify;
    int has_tls;
};

struct seal_config {
    struct seal_stanza stanzas[SEALMIG_MAX_STANZAS];
    size_t n;
};

/* The `seal "TYPE" { ... }` blocks of an HCL server config. Fails (ERR_PROTOCOL)
 * on more than SEALMIG_MAX_STANZAS blocks, an unterminated block, or a config
 * larger than SEALMIG_CONFIG_MAX. */
int sealmig_parse_config(const char *hcl, size_t len, struct seal_config *cfg, struct error *err);

/* The probe of a transit stanza from a pod: `<cli> status -address=<address> -format=json`
 * with the stanza's own TLS settings (-ca-cert, -tls-server-name, -tls-skip-verify), as the
 * seal's client makes its connection; without any tls_* key the pod's VAULT_CACERT... apply
 * to both. Only the address and TLS are checked this way: Vault answers an unauthenticated
 * request 403 for any path, so the mount, key and token cannot be told apart without the
 * seal's token. argv gets at most SEALMIG_PROBE_ARGV entries (NULL-terminated), their text in
 * flags. */
#define SEALMIG_PROBE_ARGV 8
struct sealmig_probe_flags {
    char address[300], ca_cert[300], server_name[300];
};
void sealmig_probe_argv(const struct seal_stanza *st, const char *cli,
                        struct sealmig_probe_flags *flags, const char *argv[SEALMIG_PROBE_ARGV]);

/* The seal-related env of the server container in a StatefulSet object. */
struct seal_env {
    int token;            /* VAULT_TOKEN (BAO_TOKEN) is set: a transit token, inherited by execs */
    char seal_type[32];   /* VAULT_SEAL_TYPE (BAO_SEAL_TYPE), "" = not set */
    char token_from[160]; /* "Secret transit-token" or "a plain value" */
};
void sealmig_parse_env(const json_t *sts, const char *container, enum vault_product product,
                       struct seal_env *env);

/* What the pods run now and what they get on restart. */
struct sealmig {
    char from[32];         /* the seal the cluster's storage holds (the active pod's, or the
                              pods' that run the old config) */
    char to[32];           /* the configured seal: the enabled stanza, or "shamir" */
    char old_disabled[32]; /* the disabled stanza's type, "" = none */
    int stored_is_target;  /* the active node runs the target and is not migrating */
    int none;              /* nothing to migrate: every pod runs the target */
    char active[128];
};

/* Detects the migration. Returns 0, or -1 with why (the cluster cannot be read
 * for it: no active node, no pod answered). */
int sealmig_detect(const struct seal_config *cfg, const struct seal_env *env,
                   const struct vault_cluster *vc, const struct pod_view *views, struct sealmig *m,
                   char *why, size_t cap);

/* The config checks before any change (issue 21 Deliver 2): exactly one
 * enabled seal, the disabled stanza of the old auto seal when leaving one, no
 * disabled shamir, no VAULT_SEAL_TYPE contradicting the stanza. Returns 0, or
 * -1 with every problem and its fix in why, in the product's names. */
int sealmig_check_config(const struct seal_config *cfg, const struct seal_env *env,
                         const struct sealmig *m, enum vault_product product, const char *configmap,
                         char *why, size_t cap);

/* "Shamir -> transit", "transit -> Shamir", "awskms -> transit". */
void sealmig_name(const struct sealmig *m, char *buf, size_t cap);

/* The plan: the standbys that do not run the target, one at a time (restart,
 * unseal -migrate with the old keys), then one step-down, then the old active
 * pod. After the step-down (a resumed run) restarted pods unseal as the target
 * seal does (by themselves, or with the keys). */
int sealmig_plan(const struct sealmig *m, const struct vault_cluster *vc,
                 const struct pod_view *views, struct upgrade_plan *plan, struct error *err);

/* The roll's done test: the pod runs the target seal (ctx: the struct sealmig). */
int sealmig_pod_done(void *ctx, const struct vault_pod *p, const struct pod_view *v);

/* Is seal type an auto seal (not shamir)? */
int sealmig_is_auto(const char *type);

#endif
