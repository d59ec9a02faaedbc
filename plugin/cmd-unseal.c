/* unseal: every sealed pod (or the named ones) with keys asked once through a
 * hidden prompt, or read from --keys-file; sent to the pods on stdin through
 * `vault write sys/unseal -`, never on a command line. Serves key holders who
 * each hold one share: fewer keys than the threshold are submitted and the
 * pods keep the round for the next holder. After the last key it waits for
 * the leader election that follows, or says how many more pods need keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ops.h"
#include "secret.h"

/* --reset: discards the round in progress on the sealed targets, after a confirmation. */
static int reset_rounds(struct cmd_context *ctx, const struct cmd_args *args, struct ops *o,
                        const struct pod_view *views, size_t *targets, size_t n)
{
    char list[1024] = "";
    size_t len = 0;
    int keep = 0;
    for (size_t k = 0; k < n; k++) {
        const struct pod_view *v = &views[targets[k]];
        if (v->st.progress == 0)
            continue;
        int w = snprintf(list + len, sizeof list - len, "%s%s (%d/%d)", len ? ", " : "",
                         o->vc->pods[targets[k]].name, v->st.progress, v->st.t);
        if (w > 0 && (size_t)w < sizeof list - len)
            len += (size_t)w;
        targets[keep++] = targets[k];
    }
    if (keep == 0) {
        fprintf(ctx->out, "No unseal round in progress: nothing to reset.\n");
        return EXIT_OK;
    }
    char question[1200];
    snprintf(question, sizeof question,
             "Discard the unseal keys given so far on %s? Every key holder must then submit "
             "again",
             list);
    if (!cmd_confirm(ctx, args, question))
        return EXIT_ERROR;
    struct error err = {0};
    int failed = ops_unseal_reset(o, targets, (size_t)keep, &err);
    if (failed < 0) {
        cmd_report(ctx, &err);
        return EXIT_ERROR;
    }
    return failed ? EXIT_ERROR : EXIT_OK;
}

/* After every target is unsealed: an active node, or why there is none yet. */
static int after_unseal(struct cmd_context *ctx, struct ops *o)
{
    struct pod_view *views = NULL;
    struct error err = {0};
    if (ops_refresh(o, &views, &err) < 0) {
        cmd_report(ctx, &err);
        return EXIT_ERROR;
    }
    struct election_outlook ol;
    ops_election_outlook(o->vc, views, NULL, &ol);
    int rc = EXIT_OK;
    if (ol.kind == OUTLOOK_NO_QUORUM || ol.kind == OUTLOOK_ALL_SEALED) {
        /* Nothing to wait for: raft needs more unsealed voters first. */
        fprintf(ctx->err,
                "No leader yet: %d of %d raft members %s unsealed and a quorum needs %d: %d more "
                "pod%s need%s keys (sealed: %s): `%s unseal`\n",
                ol.unsealed, ol.members, ol.unsealed == 1 ? "is" : "are", ol.quorum, ol.missing,
                ol.missing == 1 ? "" : "s", ol.missing == 1 ? "s" : "", ol.sealed, ctx->prog);
    } else if (ol.kind == OUTLOOK_ACTIVE) {
        fprintf(ctx->err, "%s is active.\n", ol.active);
    } else if (ol.kind == OUTLOOK_ELECTING) {
        char active[256];
        int waited = ops_wait_active(o, NULL, active, sizeof active, &err);
        if (waited < 0) {
            cmd_report(ctx, &err);
            rc = cmd_exit_for(&err);
        } else if (waited == 0) {
            fprintf(ctx->err, "%s is active.\n", active);
        }
    } else {
        char states[768], msg[1024];
        ops_describe_pods(o->vc, views, states, sizeof states);
        ops_outlook_message(o->vc, &ol, states, ctx->prog, msg, sizeof msg);
        fprintf(ctx->err, "%s\n", msg);
    }
    vault_views_clear(views, o->vc->npods);
    free(views);
    return rc;
}

static int cmd_unseal_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    struct ops o;
    struct pod_view *views = NULL;
    int open_rc = cmd_open_cluster(ctx, &o, &views);
    if (open_rc != EXIT_OK)
        return open_rc;
    struct vault_cluster *vc = o.vc;
    size_t *targets = calloc(vc->npods + (size_t)args->argc + 1, sizeof *targets);
    int rc = EXIT_ERROR;
    struct secret_list keys = {0};
    struct error err = {0};
    size_t n = 0;
    if ((rc = cmd_select_pods(ctx, &o, args, targets, &n)) != EXIT_OK)
        goto out;
    rc = EXIT_ERROR;
    int named = n > 0;
    if (!named)
        for (size_t i = 0; i < vc->npods; i++)
            if (vc->pods[i].running)
                targets[n++] = i;
    /* Keep the pods that need keys; say why the others do not. */
    int keep = 0, threshold = 0, problems = 0, min_progress = -1, not_by_keys = 0;
    for (size_t k = 0; k < n; k++) {
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
        } else if (v->st.migration) {
            fprintf(ctx->err,
                    "%s: in seal migration mode (seal %s): it needs the old seal's keys with "
                    "-migrate: `%s migrate-seal`\n",
                    name, v->st.type ? v->st.type : "?", ctx->prog);
            not_by_keys++;
        } else if (v->st.recovery_seal) {
            /* docs/seal-migration.md: an auto seal unseals the pod by itself; recovery
             * keys authorise generate-root and rekey, they do not decrypt the root key */
            fprintf(ctx->err,
                    "%s: seal %s: the pod unseals itself; recovery keys do not unseal it. If it "
                    "stays sealed, its log says why (kubectl logs -n %s %s): the seal may be "
                    "unreachable\n",
                    name, v->st.type ? v->st.type : "?", vc->namespace, name);
            not_by_keys++;
        } else {
            targets[keep++] = targets[k];
            if (v->st.t > threshold)
                threshold = v->st.t;
            if (min_progress < 0 || v->st.progress < min_progress)
                min_progress = v->st.progress;
        }
    }
    if (keep == 0) {
        if (problems == 0 && not_by_keys == 0)
            fprintf(ctx->out, "No sealed pod to unseal.\n");
        rc = problems ? EXIT_ERROR : EXIT_OK;
        goto out;
    }
    if (cmd_opt_flag(args, "reset")) {
        rc = reset_rounds(ctx, args, &o, views, targets, keep);
        goto out;
    }
    /* Rounds other key holders started: each pod keeps its own. */
    for (int k = 0; k < keep; k++) {
        const struct pod_view *v = &views[targets[k]];
        if (v->st.progress > 0)
            fprintf(ctx->err, "%s: %d of %d keys given in this round so far\n",
                    vc->pods[targets[k]].name, v->st.progress, v->st.t);
    }
    int needed = threshold - (min_progress > 0 ? min_progress : 0);
    if (needed < 1)
        needed = 1;
    int got = secret_get_unseal_keys(cmd_opt_str(args, "keys-file"), needed, 1, &keys, &err);
    cmd_secret_warnings(ctx);
    if (got < 0) {
        cmd_report(ctx, &err);
        rc = cmd_exit_for(&err);
        goto out;
    }
    if (keys.n == 0) {
        cmd_errorf(ctx, "no unseal key given\n");
        goto out;
    }
    secret_list_truncate(&keys, (size_t)threshold); /* no pod needs more than the threshold */
    struct unseal_outcome res;
    int left = ops_unseal(&o, targets, (size_t)keep, &keys, &res, &err);
    if (left < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    if (res.wrong_keys > 0 || res.failed > 0) {
        rc = EXIT_ERROR;
        goto out;
    }
    if (res.partial > 0) {
        if (res.accepted == 0) {
            cmd_errorf(ctx,
                       "Vault already had every key given in this round: another key holder "
                       "must submit theirs (`%s unseal`)\n",
                       ctx->prog);
            goto out;
        }
        fprintf(ctx->err, "Keys accepted. Next key holder: `%s unseal`\n", ctx->prog);
        rc = problems ? EXIT_ERROR : EXIT_OK;
        goto out;
    }
    rc = after_unseal(ctx, &o);
    if (rc == EXIT_OK && problems)
        rc = EXIT_ERROR;
out:
    secret_list_free(&keys);
    free(targets);
    cmd_close_cluster(&o, views);
    return rc;
}

static const struct cmd_option unseal_options[] = {
    {"keys-file", 0, OPT_STRING, "FILE",
     "read unseal keys from FILE (one per line, or init's JSON); - = standard input", "@files"},
    {"reset", 0, OPT_FLAG, NULL,
     "discard the keys given so far in the round in progress (asks to confirm)", NULL},
    {"yes", 0, OPT_FLAG, NULL, "with --reset: do not ask for confirmation", NULL},
    {0},
};

const struct cmd_entry cmd_unseal_entry = {
    .name = "unseal",
    .summary = "Unseal every sealed pod (or the named ones); key holders submit one key each",
    .usage = "[POD...] [--keys-file FILE|-] [--reset]",
    .help = "Asks for the unseal keys once, with a hidden prompt (no echo, no history), checks\n"
            "them locally, and applies them to every sealed pod at once. Keys go to the pods\n"
            "on standard input, never on a command line.\n"
            "A key holder with fewer keys than the threshold submits what they hold: an empty\n"
            "line at the prompt (or a keys file with fewer keys) submits the keys given so\n"
            "far. Each pod keeps its round until the threshold is reached, shows its own\n"
            "progress, and the next key holder runs the same command. A wrong key is only\n"
            "found at the threshold; Vault then starts the round again. --reset discards a\n"
            "round in progress.\n"
            "After the last key it waits for the leader election that follows (--timeout),\n"
            "or says how many more pods need keys for a quorum.\n"
            "Without a terminal, give --keys-file (a file only you can read, one key per\n"
            "line or the JSON of `init --output`), or --keys-file - to read standard input.\n"
            "\nExamples:\n"
            "  kubectl vault-ha unseal\n"
            "  kubectl vault-ha unseal vault-1 2\n"
            "  kubectl vault-ha unseal --keys-file ~/vault-keys.json\n"
            "  kubectl vault-ha unseal --reset vault-1\n",
    .options = unseal_options,
    .args_complete = "@pods",
    .exec = cmd_unseal_exec,
};
