/* join: raft-join the pods that are not members to the active node, unseal
 * them with the cluster's keys, and wait until autopilot made them voters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ops.h"
#include "secret.h"

static int cmd_join_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    struct ops o;
    struct pod_view *views = NULL;
    int open_rc = cmd_open_cluster(ctx, &o, &views);
    if (open_rc != EXIT_OK)
        return open_rc;
    struct vault_cluster *vc = o.vc;
    size_t *targets = calloc(vc->npods + (size_t)args->argc + 1, sizeof *targets);
    struct secret_list keys = {0};
    struct secret token = {0};
    struct error err = {0};
    char *ca = NULL;
    int rc = EXIT_ERROR;
    size_t n = 0;
    if ((rc = cmd_select_pods(ctx, &o, args, targets, &n)) != EXIT_OK)
        goto out;
    rc = EXIT_ERROR;
    /* Names, not indexes: the pods are re-read while we wait. */
    char **named_pods = calloc((size_t)n + 1, sizeof *named_pods);
    for (size_t k = 0; named_pods != NULL && k < n; k++)
        named_pods[k] = strdup(vc->pods[targets[k]].name);
    /* Right after an unseal (or a leader loss) raft is still electing: wait for it. */
    char active[256] = "";
    int threshold = 0;
    if (ops_wait_active(&o, NULL, active, sizeof active, &err) < 0 ||
        ops_refresh(&o, &views, &err) < 0) {
        cmd_report(ctx, &err);
        rc = cmd_exit_for(&err);
        for (size_t k = 0; named_pods != NULL && k < n; k++)
            free(named_pods[k]);
        free(named_pods);
        goto out;
    }
    vc = o.vc;
    free(targets);
    targets = calloc(vc->npods + (size_t)n + 1, sizeof *targets);
    for (size_t k = 0; k < n; k++) {
        struct vault_pod *p = named_pods ? cluster_find_pod(vc, named_pods[k]) : NULL;
        targets[k] = p ? (size_t)(p - vc->pods) : 0;
        if (named_pods)
            free(named_pods[k]);
    }
    free(named_pods);
    long ai = vault_active_index(views, vc->npods);
    if (ai >= 0)
        threshold = views[ai].st.t;
    int named = n > 0;
    if (!named)
        for (size_t i = 0; i < vc->npods; i++)
            if (vc->pods[i].running)
                targets[n++] = i;
    int keep = 0;
    for (size_t k = 0; k < n; k++) {
        const struct pod_view *v = &views[targets[k]];
        const char *name = vc->pods[targets[k]].name;
        if (!v->have_status) {
            fprintf(ctx->err, "%s: cannot read its vault status: %s\n", name, v->status_error);
        } else if (v->st.initialized) {
            if (named)
                fprintf(ctx->err,
                        "%s: already initialized: a raft member (or its own cluster); "
                        "nothing to join\n",
                        name);
        } else {
            targets[keep++] = targets[k];
        }
    }
    if (keep == 0) {
        fprintf(ctx->out, "Every running pod is a raft member already.\n");
        rc = EXIT_OK;
        goto out;
    }
    const char *ca_file = cmd_opt_str(args, "leader-ca-cert");
    if (ca_file != NULL && (ca = cmd_read_pem(ca_file, &err)) == NULL) {
        cmd_report(ctx, &err);
        goto out;
    }
    /* Everything we need from the user comes before the first change. */
    if ((rc = cmd_get_keys(ctx, args, threshold, &keys)) != 0)
        goto out;
    rc = EXIT_ERROR;
    int have_token = 0;
    if (!cmd_opt_flag(args, "no-wait")) {
        int token_rc = cmd_get_token(ctx, args, vc, 1, 0, &token, &have_token);
        if (token_rc != EXIT_OK) {
            rc = token_rc;
            goto out;
        }
    }
    struct join_options jo = {.leader_addr = cmd_opt_str(args, "leader-addr"),
                              .leader_ca_pem = ca,
                              .tls_server_name = cmd_opt_str(args, "leader-tls-servername")};
    const char **names = calloc((size_t)keep + 1, sizeof *names);
    for (int k = 0; names != NULL && k < keep; k++)
        names[k] = vc->pods[targets[k]].name;
    struct bring_up b = {.keys = &keys,
                         .token = have_token > 0 ? &token : NULL,
                         .jo = &jo,
                         .pods = names,
                         .npods = (size_t)keep};
    rc = names ? cmd_bring_up(ctx, &o, &b) : EXIT_ERROR;
    free(names);
out:
    secret_list_free(&keys);
    secret_free(&token);
    free(ca);
    free(targets);
    cmd_close_cluster(&o, views);
    return rc;
}

static const struct cmd_option join_options[] = {
    {"leader-addr", 0, OPT_STRING, "URL",
     "address to join (default: <scheme>://<active pod>.<sts>-internal:8200)", NULL},
    {"leader-ca-cert", 0, OPT_STRING, "FILE", "CA certificate (PEM) of the leader's TLS listener",
     "@files"},
    {"leader-tls-servername", 0, OPT_STRING, "NAME",
     "name the leader's certificate is valid for, when it is not the address's host", NULL},
    {"keys-file", 0, OPT_STRING, "FILE", "unseal keys for the joined pods; - = standard input",
     "@files"},
    {"token-file", 0, OPT_STRING, "FILE",
     "Vault token to watch the voter promotion (else VAULT_TOKEN, else asked)", "@files"},
    {"no-wait", 0, OPT_FLAG, NULL, "do not wait for autopilot to promote the pods to voters", NULL},
    {0},
};

const struct cmd_entry cmd_join_entry = {
    .name = "join",
    .summary = "Raft-join pods that are not members, unseal them, wait until they vote",
    .usage = "[POD...] [--leader-addr URL] [--leader-ca-cert FILE] [--keys-file FILE|-]",
    .help = "Joins every running pod that is not a raft member (or the named ones) to the\n"
            "active node, then unseals it with the cluster's keys (asked once, or\n"
            "--keys-file), then waits until autopilot has promoted it to a voter: until\n"
            "then a leader loss could lose quorum. Watching the promotion needs a Vault\n"
            "token (VAULT_TOKEN, --token-file, or asked); --no-wait skips it.\n"
            "\nExamples:\n"
            "  kubectl vault-ha join\n"
            "  kubectl vault-ha join vault-2 --keys-file keys.json\n"
            "  kubectl vault-ha join --leader-ca-cert ca.pem --leader-tls-servername vault\n",
    .options = join_options,
    .args_complete = "@pods",
    .exec = cmd_join_exec,
};
