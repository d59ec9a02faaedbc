/* `vault operator init` in one pod: the request checked, local PGP public key
 * files copied into a private directory that `mktemp -d` makes in the pod's
 * /tmp for this run (the CLI reads them from files there, docs/vault-cli.md §2.1),
 * read back (sha256sum) and compared with the local files right before init,
 * and removed with the directory on every path; the keys parsed straight into
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

/* The run's directory in the pod's /tmp: mktemp -d's template is
 * INIT_DIR_PREFIX "XXXXXX". */
#define INIT_DIR_PREFIX "vault-ha-init."
#define INIT_SHA256_HEX 64

/* The directory mktemp -d printed (relative to /tmp, out[0..len)) as
 * "/tmp/vault-ha-init.XXXXXX" into dir; -1 when it is not a name of that
 * form (letters, digits, '_'): a hostile pod cannot point rm -rf elsewhere. */
int init_temp_dir(const char *out, size_t len, char *dir, size_t cap);

/* One copy to check: its name in the directory, the SHA-256 (hex) of the
 * local file, and the local path for messages. */
struct init_copy_sum {
    const char *name;
    const char *sha256;
    const char *local;
};

/* Checks `sha256sum -- *`'s output (out[0..len), from the pod) against the n
 * copies: every copy listed once with its local file's hash, and no other
 * file. Returns 0, or -1 with err naming the file that differs. */
int init_check_copies(const char *out, size_t len, const struct init_copy_sum *sums, size_t n,
                      const char *pod, struct error *err);

/* Local PGP public key files for one CLI call (init's three lists, or a
 * ceremony's -pgp-keys / -pgp-key), staged in the pod in the order a call
 * needs them: read and hash every local file first (init_stage_read; counts[i]
 * = entries in lists[i], NULL lists skipped), then make the private directory
 * and copy them (init_stage_copy: flags[i] = "-<option>=<entries>" with the
 * copies' paths), then read them back right before the call
 * (init_stage_check), and remove the directory on every path
 * (init_stage_free; o NULL: nothing was made in a pod). */
#define INIT_STAGE_LISTS 3
#define INIT_FLAG_MAX    2048
struct init_stage;
struct init_stage *init_stage_read(const char *const *options, const char *const *tags,
                                   const char *const *lists, size_t n, int *counts,
                                   struct error *err);
int init_stage_copy(struct ops *o, const char *pod, struct init_stage *st,
                    char (*flags)[INIT_FLAG_MAX], struct error *err);
int init_stage_check(struct ops *o, const char *pod, const struct init_stage *st,
                     struct error *err);
void init_stage_free(struct ops *o, const char *pod, struct init_stage *st);

/* Runs init in pod (reporting "Initializing Vault on vault-0..."). Returns 0
 * with result filled, or -1 with err (the pod is then left as init left it:
 * a failed init changed nothing). */
int init_pod(struct ops *o, const char *pod, const struct init_request *req,
             struct vault_init_result *result, struct error *err);

#endif
