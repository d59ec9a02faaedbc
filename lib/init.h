/* `vault operator init` in one pod: the request checked, local PGP public key
 * files copied into the pod's /tmp (the CLI reads them from files there,
 * docs/vault-cli.md §2.1) and removed afterwards, the keys parsed straight into
 * locked memory. Nothing is printed: bootstrap and init show or write the
 * result themselves. */
#ifndef VH_INIT_H
#define VH_INIT_H

#include "error.h"
#include "ops.h"
#include "vault.h"

#define INIT_PGP_MAX 16
/* A public key file is KiBs: a larger one (/dev/zero by mistake) is refused. */
#define INIT_KEY_FILE_MAX (1u << 20)

struct init_request {
    long shares, threshold;                   /* 0 = the CLI's default (5 / 3) */
    long recovery_shares, recovery_threshold; /* auto-unseal seals; 0 = default */
    const char *pgp_keys;                     /* comma-separated local files or keybase:user */
    const char *root_token_pgp_key;           /* one local file or keybase:user */
    const char *recovery_pgp_keys;
};

/* The shares and threshold in effect, checked (1 <= threshold <= shares <= 255). */
int init_check_request(const struct init_request *req, long *shares, long *threshold,
                       struct error *err);

/* Splits a --pgp-keys list: at most INIT_PGP_MAX entries, none empty. Fills
 * items (pointers into copy, which the caller frees) and returns how many, or
 * -1 with err naming the option. */
int init_split_pgp_list(const char *list, const char *option, char **copy, char **items,
                        struct error *err);

/* Runs init in pod (reporting "Initializing Vault on vault-0..."). Returns 0
 * with result filled, or -1 with err (the pod is then left as init left it:
 * a failed init changed nothing). */
int init_pod(struct ops *o, const char *pod, const struct init_request *req,
             struct vault_init_result *result, struct error *err);

#endif
