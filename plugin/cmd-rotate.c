/* rotate: a new barrier encryption key term (online; old terms still decrypt),
 * with the term before and after. It needs two grants (docs/ceremonies.md
 * §4.1): update+sudo on sys/rotate and read on sys/key-status; it says which
 * one is missing. */
#include <stdio.h>

#include "cmd.h"

static int cmd_rotate_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    struct cmd_ceremony cc;
    int rc = cmd_ceremony_open(ctx, args, NULL, 1, &cc);
    if (rc != 0) {
        cmd_ceremony_close(&cc);
        return rc;
    }
    struct error err = {0};
    struct key_status before, after;
    int rotated = 0;
    rc = EXIT_ERROR;
    /* Read first: a token that cannot read the key status gets no rotation it cannot see. */
    if (ceremony_key_status(&cc.c, &before, &err) < 0) {
        cmd_report(ctx, &err);
        if (cc.c.failure == CER_FAIL_DENIED)
            cmd_errorf(ctx, "the token lacks read on sys/key-status; nothing was rotated\n");
        goto out;
    }
    if (ceremony_rotate(&cc.c, &after, &rotated, &err) < 0) {
        cmd_report(ctx, &err);
        if (!rotated && cc.c.failure == CER_FAIL_DENIED)
            cmd_errorf(ctx,
                       "the token lacks update and sudo on sys/rotate; nothing was rotated (key "
                       "term %lld)\n",
                       before.term);
        goto out;
    }
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        json_t *doc = json_pack("{s:s, s:I, s:I, s:s?}", "pod", cc.active, "term_before",
                                (json_int_t)before.term, "term", (json_int_t)after.term,
                                "install_time", after.install_time[0] ? after.install_time : NULL);
        rc = cmd_print_document(ctx, NULL, doc);
    } else {
        fprintf(ctx->out, "Encryption key rotated on %s: key term %lld -> %lld (installed %s).\n",
                cc.active, before.term, after.term,
                after.install_time[0] ? after.install_time : "at a time Vault did not give");
        rc = EXIT_OK;
    }
out:
    cmd_ceremony_close(&cc);
    return rc;
}

static const struct cmd_option rotate_options[] = {
    {"token-file", 0, OPT_STRING, "FILE", "Vault token (else VAULT_TOKEN, else asked)", "@files"},
    {0},
};

const struct cmd_entry cmd_rotate_entry = {
    .name = "rotate",
    .summary = "Rotate the barrier encryption key (a new key term)",
    .usage = "[--token-file FILE]",
    .help = "Installs a new encryption key term in the active node (online; data written\n"
            "before stays readable) and shows the key term before and after. Needs a token\n"
            "with update and sudo on sys/rotate and read on sys/key-status; says which one is\n"
            "missing. The unseal keys do not change: that is `rekey`.\n"
            "\nExamples:\n"
            "  kubectl vault-ha rotate\n"
            "  kubectl vault-ha rotate -o json --token-file root.token\n",
    .options = rotate_options,
    .flags = CMD_NEEDS_TOKEN | CMD_NO_ARGS,
    .exec = cmd_rotate_exec,
};
