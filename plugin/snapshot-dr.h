/* The snapshot command is two files: cmd-snapshot.c (save, verify, restore:
 * the streams) and cmd-snapshot-dr.c (the metadata beside a snapshot and the
 * disaster-recovery restore). This is what they share. */
#ifndef VH_SNAPSHOT_DR_H
#define VH_SNAPSHOT_DR_H

#include <jansson.h>

#include "cmd.h"
#include "ops.h"
#include "secret.h"
#include "snapmeta.h"
#include "snapshot.h"
#include "vault.h"

/* --- cmd-snapshot.c --- */

/* Verifies the snapshot at path (kept open in *fdp). Reports; -1 when not valid. */
int snapshot_verify_local(struct cmd_context *ctx, const char *path, struct snapshot_info *info,
                          int *fdp);

/* Sends the snapshot at fd (size bytes) to pod's `snapshot restore` (-force
 * when force) through lib/snapstream, the token on stdin, the time it took in
 * *seconds (optional): 0 when Vault accepted it, -1 with err. */
int snapshot_send(struct cmd_context *ctx, struct ops *o, const char *pod, int force, int fd,
                  unsigned long long size, const struct secret *token, double *seconds,
                  struct error *err);

/* --- cmd-snapshot-dr.c --- */

/* After `snapshot save FILE`: writes FILE.json from the saving pod's status
 * and the file's SHA-256; a failure is a warning (the snapshot is saved). */
void snapdr_save_meta(struct cmd_context *ctx, const char *file, const struct vault_cluster *vc,
                      const char *pod, const struct pod_view *v, const struct snapshot_info *info,
                      const char sha256[65], unsigned long long bytes);

/* Before `snapshot save FILE` replaces FILE: removes FILE.json, which describes
 * the old snapshot (left there, it would pair with the new one if the new
 * metadata cannot be written). 0, or -1 after reporting. */
int snapdr_drop_meta(struct cmd_context *ctx, const char *file);

/* For `snapshot verify`: reads FILE.json when present and checks that fd is
 * the file it describes. Returns 1 with *m filled, 0 when there is none, -1
 * after reporting (invalid, or another file). */
int snapdr_load_meta(struct cmd_context *ctx, const char *file, int fd, struct snapmeta *m);

/* The metadata as lines for verify's text output, or as a JSON object. */
void snapdr_print_meta(struct cmd_context *ctx, const char *file, const struct snapmeta *m);
json_t *snapdr_meta_json(const struct snapmeta *m);

/* `snapshot restore FILE --new-cluster --keys-file SOURCE_KEYS [--dry-run]`. */
int snapdr_new_cluster(struct cmd_context *ctx, const struct cmd_args *args, const char *file);

/* What a plain restore learnt before sending, for its --force ending. */
struct snapdr_plain {
    struct snapmeta meta;
    int have_meta;
    struct secret_list keys; /* --force: the source's keys */
    int keys_shares, keys_threshold;
    int keys_recovery; /* the keys file holds init's recovery keys (an auto-unseal source) */
};

/* A plain restore, before anything is sent: checks the metadata against the
 * target (version, seal, product) and refuses a snapshot of another cluster
 * (cluster_id differs) without --force; with --force requires --keys-file
 * and a typed confirmation. Returns 0 to go on, or an exit code. */
int snapdr_plain_check(struct cmd_context *ctx, const struct cmd_args *args, const char *file,
                       int fd, struct ops *o, const struct pod_view *target,
                       struct snapdr_plain *pl);

/* After Vault refused the snapshot as another cluster's (its 400): what a
 * restore would replace, and the two ways on (--new-cluster, --force). */
void snapdr_other_cluster(struct cmd_context *ctx, const char *file);

/* --force over another cluster, after Vault accepted the snapshot: waits for
 * the apply, restarts where needed, unseals with the source's keys, checks
 * cluster_id. before: the target pod's status read before the restore (its
 * shares, threshold, cluster_id and raft applied index; without metadata a
 * snapshot that leaves every pod unsealed with that cluster_id past that index
 * was the cluster's own). Returns an exit code. */
int snapdr_finish_forced(struct cmd_context *ctx, const struct cmd_args *args, struct ops *o,
                         const char *file, struct snapdr_plain *pl,
                         const struct vault_status *before);

void snapdr_plain_clear(struct snapdr_plain *pl);

#endif
