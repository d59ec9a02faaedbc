/* init: initialize exactly one pod when no pod is initialized. The keys and
 * root token are shown once, or written to a new 0600 file; they pass through
 * locked memory only (never stdio buffers, never a command line). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "init.h"
#include "ops.h"
#include "secret.h"
#include "text.h"
#include "vault.h"

static int cmd_init_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    if (args->argc > 1) {
        cmd_errorf(ctx, "init takes at most one pod\n");
        return EXIT_USAGE;
    }
    struct ops o;
    struct pod_view *views = NULL;
    int open_rc = cmd_open_cluster(ctx, &o, &views);
    if (open_rc != EXIT_OK)
        return open_rc;
    struct vault_cluster *vc = o.vc;
    int rc = EXIT_ERROR;
    struct vault_init_result init = {0};
    struct secret_list keys = {0};
    char done[512] = "", unknown[512] = "";
    size_t dl = 0, ul = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        if (views[i].have_status && views[i].st.initialized)
            text_appendf(done, sizeof done, &dl, "%s%s", dl ? ", " : "", vc->pods[i].name);
        else if (vc->pods[i].running && !views[i].have_status)
            text_appendf(unknown, sizeof unknown, &ul, "%s%s", ul ? ", " : "", vc->pods[i].name);
    }
    if (dl > 0) {
        cmd_errorf(ctx,
                   "Vault is already initialized (%s): refusing to initialize again; unseal "
                   "with `%s unseal`, add members with `%s join`\n",
                   done, ctx->prog, ctx->prog);
        goto out;
    }
    if (ul > 0) {
        cmd_errorf(ctx,
                   "cannot tell whether %s %s initialized: refusing, since initializing a "
                   "second pod would create a separate cluster\n",
                   unknown, strchr(unknown, ',') ? "are" : "is");
        goto out;
    }
    struct vault_pod *target = cluster_find_pod(vc, args->argc ? args->argv[0] : "0");
    if (target == NULL || !target->running) {
        cmd_errorf(ctx, "%s is %s\n",
                   target ? target->name : (args->argc ? args->argv[0] : "pod 0"),
                   target ? "not running" : "not a pod of this StatefulSet");
        goto out;
    }
    struct init_request req;
    struct error err = {0};
    if (cmd_init_request(args, 1, &req, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    if (cmd_init_pod(ctx, &o, (size_t)(target - vc->pods), &req, cmd_opt_str(args, "output"),
                     &init) < 0)
        goto out;
    rc = EXIT_OK;
    if (cmd_opt_flag(args, "unseal")) {
        keys = init.keys_b64;
        memset(&init.keys_b64, 0, sizeof init.keys_b64);
        secret_list_truncate(&keys, (size_t)init.threshold);
        struct bring_up b = {.keys = &keys, .token = &init.root_token};
        rc = cmd_bring_up(ctx, &o, &b);
    }
out:
    secret_list_free(&keys);
    vault_init_result_clear(&init);
    cmd_close_cluster(&o, views);
    return rc;
}

static const struct cmd_option init_options[] = {
    {"key-shares", 0, OPT_INT, "N", "number of unseal key shares (default 5)", NULL},
    {"key-threshold", 0, OPT_INT, "N", "keys needed to unseal (default 3)", NULL},
    {"pgp-keys", 0, OPT_STRING, "FILES",
     "comma-separated local PGP public key files (or keybase:user), one per share", "@files"},
    {"root-token-pgp-key", 0, OPT_STRING, "FILE", "PGP public key to encrypt the root token",
     "@files"},
    {"recovery-shares", 0, OPT_INT, "N", "recovery key shares (auto-unseal seals)", NULL},
    {"recovery-threshold", 0, OPT_INT, "N", "recovery key threshold (auto-unseal seals)", NULL},
    {"recovery-pgp-keys", 0, OPT_STRING, "FILES", "PGP public keys for the recovery shares",
     "@files"},
    {"output", 0, OPT_STRING, "FILE",
     "write keys and root token to FILE (JSON of `vault operator init -format=json`, 0600, "
     "never overwritten) instead of showing them",
     "@files"},
    {"unseal", 0, OPT_FLAG, NULL, "then unseal and join the whole cluster with the new keys", NULL},
    {0},
};

const struct cmd_entry cmd_init_entry = {
    .name = "init",
    .summary = "Initialize Vault on one pod (default ordinal 0) when no pod is initialized",
    .usage = "[POD] [--key-shares N] [--key-threshold N] [--output FILE] [--unseal]",
    .help = "Runs `vault operator init` in one pod, after checking that no pod is initialized:\n"
            "init on a second pod would create a separate cluster. The unseal keys and the\n"
            "root token are shown once, or written to --output FILE. With --unseal it goes\n"
            "on to unseal that pod, join and unseal the others and wait until they vote,\n"
            "with the keys kept in locked memory.\n"
            "\nExamples:\n"
            "  kubectl vault-ha init --output vault-keys.json\n"
            "  kubectl vault-ha init vault-0 --key-shares 3 --key-threshold 2 --output k.json\n"
            "  kubectl vault-ha init --output vault-keys.json --unseal\n",
    .options = init_options,
    .args_complete = "@pods",
    .exec = cmd_init_exec,
};
