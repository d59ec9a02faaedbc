/* bootstrap: init + unseal + join + verify on a fresh cluster in one command,
 * and idempotent on a half-done one: it picks up where the cluster is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "init.h"
#include "ops.h"
#include "secret.h"
#include "vault.h"

static int cmd_bootstrap_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    struct ops o;
    struct pod_view *views = NULL;
    int open_rc = cmd_open_cluster(ctx, &o, &views);
    if (open_rc != EXIT_OK)
        return open_rc;
    struct vault_cluster *vc = o.vc;
    struct vault_init_result init = {0};
    struct secret_list keys = {0};
    struct secret token = {0};
    int rc = EXIT_ERROR, initialized = 0, threshold = 0, unknown = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        if (views[i].have_status && views[i].st.initialized) {
            initialized++;
            if (views[i].st.t > threshold)
                threshold = views[i].st.t;
        }
        if (vc->pods[i].running && !views[i].have_status)
            unknown++;
    }
    const struct secret *use_token = NULL;
    if (initialized == 0) {
        if (unknown > 0 || !vc->pods[0].running) {
            cmd_errorf(ctx,
                       "cannot bootstrap: %s; every pod must answer before Vault is "
                       "initialized, or a second cluster could be created\n",
                       !vc->pods[0].running ? "the first pod is not running"
                                            : "some pods did not answer vault status");
            goto out;
        }
        if (cmd_opt_str(args, "output") == NULL) {
            cmd_errorf(ctx, "bootstrap of a fresh cluster needs --output FILE for the unseal keys "
                            "and root token\n");
            rc = EXIT_USAGE;
            goto out;
        }
        struct init_request req;
        struct error err = {0};
        if (cmd_init_request(args, 0, &req, &err) < 0) {
            cmd_report(ctx, &err);
            goto out;
        }
        if (cmd_init_pod(ctx, &o, 0, &req, cmd_opt_str(args, "output"), &init) < 0)
            goto out;
        /* The keys stay in locked memory for the rest of the run. */
        keys = init.keys_b64;
        memset(&init.keys_b64, 0, sizeof init.keys_b64);
        secret_list_truncate(&keys, (size_t)init.threshold);
        use_token = &init.root_token;
    } else {
        fprintf(ctx->err, "Vault is initialized (%d pod%s): continuing with unseal and join.\n",
                initialized, initialized == 1 ? "" : "s");
        if ((rc = cmd_get_keys(ctx, args, threshold, &keys)) != 0)
            goto out;
        rc = EXIT_ERROR;
        int got = 0, token_rc = cmd_get_token(ctx, args, vc, 1, 0, &token, &got);
        if (token_rc != EXIT_OK) {
            rc = token_rc;
            goto out;
        }
        if (got > 0)
            use_token = &token;
    }
    char *ca = NULL;
    const char *ca_file = cmd_opt_str(args, "leader-ca-cert");
    struct error pem_err = {0};
    if (ca_file != NULL && (ca = cmd_read_pem(ca_file, &pem_err)) == NULL) {
        cmd_report(ctx, &pem_err);
        rc = EXIT_ERROR;
        goto out;
    }
    struct join_options jo = {.leader_ca_pem = ca,
                              .tls_server_name = cmd_opt_str(args, "leader-tls-servername")};
    struct bring_up b = {.keys = &keys, .token = use_token, .jo = &jo};
    rc = cmd_bring_up(ctx, &o, &b);
    free(ca);
    if (rc == EXIT_OK)
        fprintf(ctx->err, "Bootstrap complete.\n\n");
out:
    secret_list_free(&keys);
    cmd_close_cluster(&o, views);
    if (rc == EXIT_OK) {
        /* The final check reads the raft peers with the token this run holds
         * (the new root token, say), in memory only. */
        const struct cmd_entry *status = cmd_find("status");
        struct cmd_args sa = {.options = status->options}; /* none of them given */
        ctx->token = use_token;
        rc = status->exec(ctx, &sa);
        ctx->token = NULL;
    }
    secret_free(&token);
    vault_init_result_clear(&init);
    return rc;
}

static const struct cmd_option bootstrap_options[] = {
    {"output", 0, OPT_STRING, "FILE",
     "where the unseal keys and root token go (created 0600, never overwritten)", "@files"},
    {"key-shares", 0, OPT_INT, "N", "number of unseal key shares (default 5)", NULL},
    {"key-threshold", 0, OPT_INT, "N", "keys needed to unseal (default 3)", NULL},
    {"keys-file", 0, OPT_STRING, "FILE",
     "unseal keys when Vault is initialized already; - = standard input", "@files"},
    {"leader-ca-cert", 0, OPT_STRING, "FILE",
     "CA certificate (PEM) of the leader's TLS listener, for the joins", "@files"},
    {"leader-tls-servername", 0, OPT_STRING, "NAME",
     "name the leader's certificate is valid for, for the joins", NULL},
    {"token-file", 0, OPT_STRING, "FILE",
     "Vault token when initialized already (else VAULT_TOKEN, else asked)", "@files"},
    {0},
};

const struct cmd_entry cmd_bootstrap_entry = {
    .name = "bootstrap",
    .summary = "Init, unseal, join and verify the whole cluster; resumes a half-done one",
    .usage = "--output FILE [--key-shares N] [--key-threshold N]",
    .help = "On a fresh cluster: initializes the first pod (keys and root token to --output\n"
            "FILE, as `init --output` writes them), unseals it, joins the other pods to it,\n"
            "unseals them with the same keys held in locked memory, waits until every pod is\n"
            "a raft voter, then shows the status. On a half-done cluster it continues: the\n"
            "keys then come from --keys-file or the prompt, the token from VAULT_TOKEN,\n"
            "--token-file or the prompt.\n"
            "\nExamples:\n"
            "  kubectl vault-ha bootstrap --output vault-keys.json\n"
            "  kubectl vault-ha bootstrap --keys-file vault-keys.json --token-file root.token\n",
    .options = bootstrap_options,
    .flags = CMD_NO_ARGS,
    .exec = cmd_bootstrap_exec,
};
