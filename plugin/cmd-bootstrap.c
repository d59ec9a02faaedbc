/* bootstrap: init + unseal + join + verify on a fresh cluster in one command,
 * and idempotent on a half-done one: it picks up where the cluster is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ops.h"
#include "secret.h"
#include "vault.h"

int cmd_bring_up(struct cmd_context *ctx, struct ops *o, const struct secret_list *keys,
                 const struct secret *token, const struct join_options *jo, const size_t *only,
                 size_t nonly)
{
    struct error err = {0};
    struct pod_view *views = NULL;
    int rc = EXIT_ERROR;
    char **only_names = calloc(nonly + 1, sizeof *only_names);
    size_t *targets = NULL;
    for (size_t i = 0; i < nonly; i++)
        only_names[i] = strdup(o->vc->pods[only[i]].name);
    if (ops_refresh(o, &views, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    struct vault_cluster *vc = o->vc;
    targets = calloc(vc->npods + 1, sizeof *targets);
    size_t n = 0;
    /* 1. Sealed members first: they hold the data and elect the leader. */
    if (only == NULL) {
        for (size_t i = 0; i < vc->npods; i++)
            if (views[i].have_status && views[i].st.initialized && views[i].st.sealed)
                targets[n++] = i;
        if (n > 0 && ops_unseal(o, targets, n, keys, &err) != 0) {
            fprintf(ctx->err, "%s: could not unseal every member; stopping here\n", ctx->prog);
            goto out;
        }
    }
    /* 2. An active node to join. */
    char active[256];
    if (ops_wait_active(o, NULL, active, sizeof active, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    char leader[512];
    if (jo->leader_addr != NULL)
        snprintf(leader, sizeof leader, "%s", jo->leader_addr);
    else
        ops_leader_address(vc, active, leader, sizeof leader);
    struct join_options j = *jo;
    j.leader_addr = leader;
    /* 3. Join the pods that are not members, then unseal them with the cluster's keys.
     * Under podManagementPolicy OrderedReady (OpenBao's chart) the StatefulSet creates
     * the next pod only once the ones before it are Ready (unsealed): wait for it, join
     * and unseal it, and go on until every pod is there. */
    int ordered =
        vc->pod_management_policy != NULL && strcmp(vc->pod_management_policy, "OrderedReady") == 0;
    int failed = 0;
    for (;;) {
        if (ops_refresh(o, &views, &err) < 0) {
            cmd_report(ctx, &err);
            goto out;
        }
        vc = o->vc;
        free(targets);
        targets = calloc(vc->npods + 1, sizeof *targets);
        n = 0;
        char next[256] = "";
        for (size_t i = 0; i < vc->npods; i++) {
            int wanted = only == NULL;
            for (size_t k = 0; k < nonly; k++)
                wanted |= strcmp(only_names[k], vc->pods[i].name) == 0;
            if (!wanted)
                continue;
            if (ordered && !vc->pods[i].exists) {
                if (next[0] == '\0')
                    snprintf(next, sizeof next, "%s", vc->pods[i].name);
                continue;
            }
            if (!vc->pods[i].running) {
                fprintf(ctx->err, "%s: not running (%s%s%s): skipped\n", vc->pods[i].name,
                        vc->pods[i].phase, vc->pods[i].reason ? ": " : "",
                        vc->pods[i].reason ? vc->pods[i].reason : "");
                continue;
            }
            if (views[i].have_status && !views[i].st.initialized)
                targets[n++] = i;
        }
        if (n > 0) {
            int jf = ops_join(o, targets, n, &j, &err);
            if (jf < 0) {
                cmd_report(ctx, &err);
                goto out;
            }
            failed += jf;
            if (jf < (int)n) {
                int left = ops_unseal(o, targets, n, keys, &err);
                if (left < 0) {
                    cmd_report(ctx, &err);
                    goto out;
                }
                failed += left - jf > 0 ? left - jf : 0;
            }
        }
        if (next[0] == '\0' || failed)
            break;
        fprintf(ctx->err,
                "%s: waiting for the StatefulSet to create it (podManagementPolicy "
                "OrderedReady: once the pods before it are Ready)\n",
                next);
        if (ops_wait_pod_running(o, next, &err) < 0) {
            cmd_report(ctx, &err);
            failed++;
            break;
        }
    }
    /* 4. Voters: until autopilot promotes a joined node, losing the leader loses quorum. */
    if (ops_refresh(o, &views, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    vc = o->vc;
    size_t nv = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        int wanted = only == NULL;
        for (size_t k = 0; k < nonly; k++)
            wanted |= strcmp(only_names[k], vc->pods[i].name) == 0;
        if (wanted && views[i].have_status && views[i].st.initialized && !views[i].st.sealed)
            targets[nv++] = i;
    }
    if (token == NULL) {
        fprintf(ctx->err,
                "not waiting for autopilot to promote the joined pods to voters: no Vault token "
                "(VAULT_TOKEN or --token-file); check with `%s status`\n",
                ctx->prog);
    } else if (nv > 0 && ops_wait_voters(o, active, token, targets, nv, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    rc = failed ? EXIT_ERROR : EXIT_OK;
out:
    for (size_t i = 0; i < nonly; i++)
        free(only_names[i]);
    free(only_names);
    free(targets);
    if (views != NULL)
        vault_views_clear(views, o->vc->npods);
    free(views);
    return rc;
}

static int cmd_bootstrap_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    struct ops o;
    struct pod_view *views = NULL;
    if (cmd_open_cluster(ctx, &o, &views) < 0)
        return EXIT_ERROR;
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
            fprintf(ctx->err,
                    "%s: cannot bootstrap: %s; every pod must answer before Vault is "
                    "initialized, or a second cluster could be created\n",
                    ctx->prog,
                    !vc->pods[0].running ? "the first pod is not running"
                                         : "some pods did not answer vault status");
            goto out;
        }
        if (cmd_opt_str(args, "output") == NULL) {
            fprintf(ctx->err,
                    "%s: bootstrap of a fresh cluster needs --output FILE for the unseal keys "
                    "and root token\n",
                    ctx->prog);
            rc = EXIT_USAGE;
            goto out;
        }
        if (cmd_init_pod(ctx, &o, 0, args, &init) < 0)
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
        int got = cmd_get_token(ctx, args, vc, 1, 0, &token);
        if (got < 0) {
            rc = -got;
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
    rc = cmd_bring_up(ctx, &o, &keys, use_token, &jo, NULL, 0);
    free(ca);
    if (rc == EXIT_OK)
        fprintf(ctx->err, "Bootstrap complete.\n\n");
out:
    secret_list_free(&keys);
    secret_free(&token);
    vault_init_result_clear(&init);
    cmd_close_cluster(&o, views);
    if (rc == EXIT_OK) {
        const struct cmd_entry *status = cmd_find("status");
        static const struct cmd_option none[] = {{0}};
        struct cmd_args sa = {.options = none};
        return status->exec(ctx, &sa);
    }
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
