/* unseal: every sealed pod (or the named ones) with keys asked once through a
 * hidden prompt, or read from --keys-file; sent to the pods on stdin through
 * `vault write sys/unseal -`, never on a command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ops.h"
#include "secret.h"

static int cmd_unseal_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    struct ops o;
    struct pod_view *views = NULL;
    if (cmd_open_cluster(ctx, &o, &views) < 0)
        return EXIT_ERROR;
    struct vault_cluster *vc = o.vc;
    size_t *targets = calloc(vc->npods + (size_t)args->argc + 1, sizeof *targets);
    int rc = EXIT_ERROR;
    struct secret_list keys = {0};
    struct error err = {0};
    int n = cmd_select_pods(ctx, &o, args, targets);
    if (n < 0) {
        rc = EXIT_USAGE;
        goto out;
    }
    int named = n > 0;
    if (!named)
        for (size_t i = 0; i < vc->npods; i++)
            if (vc->pods[i].running)
                targets[n++] = i;
    /* Keep the pods that need keys; say why the others do not. */
    int keep = 0, threshold = 0, problems = 0;
    for (int k = 0; k < n; k++) {
        struct pod_view *v = &views[targets[k]];
        const char *name = vc->pods[targets[k]].name;
        if (!v->have_status) {
            fprintf(ctx->err, "%s: cannot read its vault status: %s\n", name, v->status_error);
            problems++;
        } else if (!v->st.initialized) {
            fprintf(ctx->err, "%s: not initialized: not a raft member yet (%s join %s)\n", name,
                    ctx->prog, name);
            problems += named;
        } else if (!v->st.sealed) {
            if (named)
                fprintf(ctx->err, "%s: already unsealed\n", name);
        } else {
            targets[keep++] = targets[k];
            if (v->st.t > threshold)
                threshold = v->st.t;
        }
    }
    if (keep == 0) {
        if (problems == 0)
            fprintf(ctx->out, "No sealed pod to unseal.\n");
        rc = problems ? EXIT_ERROR : EXIT_OK;
        goto out;
    }
    if ((rc = cmd_get_keys(ctx, args, threshold, &keys)) != 0)
        goto out;
    rc = EXIT_ERROR;
    int left = ops_unseal(&o, targets, (size_t)keep, &keys, &err);
    if (left < 0)
        cmd_report(ctx, &err);
    else if (left == 0 && problems == 0)
        rc = EXIT_OK;
out:
    secret_list_free(&keys);
    free(targets);
    cmd_close_cluster(&o, views);
    return rc;
}

static const struct cmd_option unseal_options[] = {
    {"keys-file", 0, OPT_STRING, "FILE",
     "read unseal keys from FILE (one per line, or init's JSON); - = standard input", "@files"},
    {0},
};

const struct cmd_entry cmd_unseal_entry = {
    .name = "unseal",
    .summary = "Unseal every sealed pod (or the named ones), keys asked once",
    .usage = "[POD...] [--keys-file FILE|-]",
    .help = "Asks for as many unseal keys as the threshold needs, once, with a hidden prompt\n"
            "(no echo, no history), checks them locally, and applies them to every sealed pod\n"
            "at once. Keys go to the pods on standard input, never on a command line.\n"
            "Without a terminal, give --keys-file (a file only you can read, one key per\n"
            "line or the JSON of `init --output`), or --keys-file - to read standard input.\n"
            "\nExamples:\n"
            "  kubectl vault-ha unseal\n"
            "  kubectl vault-ha unseal vault-1 2\n"
            "  kubectl vault-ha unseal --keys-file ~/vault-keys.json\n",
    .options = unseal_options,
    .args_complete = "@pods",
    .exec = cmd_unseal_exec,
};
