/* rekey: new unseal key shares, with the key holders in separate places. One
 * starts it on the active node; each holder submits their share from their
 * own terminal (hidden prompt or --keys-file), the nonce read back from Vault
 * every time; the last one gets the new shares into a 0600 file (or shown
 * once). With --verify the new holders prove their shares before they become
 * active. Shares go to the pod on stdin only (lib/ceremony). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "init.h"

/* What the old shares no longer do: unseal keys unseal; recovery keys authorize
 * generate-root, rekey and a migration away from the auto seal. */
static const char *old_shares_gone(const struct cmd_ceremony *cc)
{
    return cc->c.recovery ? "the old recovery shares no longer work (generate-root, rekey, seal "
                            "migration)"
                          : "the old ones no longer unseal";
}

/* docs/ceremonies.md §2.8: under auto-unseal (recovery keys) the barrier target
 * rotates the root key only: Vault forces 1/1, authorises with the recovery shares
 * and returns no shares. */
static int root_key_rotation(const struct cmd_ceremony *cc)
{
    if (cc->c.recovery)
        return 0;
    for (size_t i = 0; i < cc->o.vc->npods; i++)
        if (strcmp(cc->o.vc->pods[i].name, cc->active) == 0 && cc->views[i].have_status)
            return cc->views[i].st.recovery_seal;
    return 0;
}

static const char *target_flag(const struct cmd_ceremony *cc)
{
    return cc->c.recovery ? " --target recovery" : root_key_rotation(cc) ? " --target barrier" : "";
}

/* rekey start on auto-unseal: the default target gives no new shares, so it is
 * asked for by name; 0 to go on, else an exit code after explaining. */
static int check_root_key_rotation(struct cmd_context *ctx, const struct cmd_args *args,
                                   const struct cmd_ceremony *cc, const struct rekey_request *req)
{
    if (!root_key_rotation(cc))
        return 0;
    if (cmd_opt_str(args, "target") == NULL) {
        cmd_errorf(ctx,
                   "%s uses auto-unseal (recovery keys): a rekey of the barrier target (the "
                   "default) only rotates the root key, which the seal stores, and returns no "
                   "shares. For new recovery shares: `%s rekey start --target recovery` (and "
                   "--target recovery on every rekey command of that ceremony); to rotate the "
                   "root key on purpose: --target barrier\n",
                   cc->active, ctx->prog);
        return EXIT_ERROR;
    }
    if (req->verify || req->pgp_keys != NULL || req->backup) {
        cmd_errorf(ctx,
                   "%s uses auto-unseal: --target barrier rotates the root key only and returns "
                   "no shares, so --verify, --pgp-keys and --backup do not apply (Vault refuses "
                   "them)\n",
                   cc->active);
        return EXIT_USAGE;
    }
    return 0;
}

static int print_status(struct cmd_context *ctx, struct cmd_ceremony *cc,
                        const struct rekey_status *st)
{
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        json_t *doc =
            json_pack("{s:s, s:b, s:s, s:i, s:i, s:i, s:i, s:b, s:s, s:b, s:i}", "pod", cc->active,
                      "started", st->started, "nonce", st->nonce, "progress", st->progress,
                      "required", st->required, "new_shares", st->n, "new_threshold", st->t,
                      "verification_required", st->verification_required, "verification_nonce",
                      st->verification_nonce, "backup", st->backup, "pgp_keys", st->npgp);
        return cmd_print_document(ctx, NULL, doc);
    }
    if (!st->started) {
        fprintf(ctx->out, "No rekey in progress on %s.\n", cc->active);
        return EXIT_OK;
    }
    fprintf(ctx->out,
            "Rekey in progress on %s\n  nonce:      %s\n  progress:   %d/%d shares given\n"
            "  new shares: %d, threshold %d%s%s\n",
            cc->active, st->nonce, st->progress, st->required, st->n, st->t,
            st->npgp ? ", PGP-encrypted" : "", st->backup ? ", backed up in Vault" : "");
    if (st->verification_nonce[0])
        fprintf(ctx->out, "  verification: the new holders verify their shares (nonce %s)\n",
                st->verification_nonce);
    return EXIT_OK;
}

static int rekey_start(struct cmd_context *ctx, const struct cmd_args *args,
                       struct cmd_ceremony *cc)
{
    struct error err = {0};
    struct rekey_request req = {.pgp_keys = cmd_opt_str(args, "pgp-keys"),
                                .backup = cmd_opt_flag(args, "backup"),
                                .verify = cmd_opt_flag(args, "verify")};
    if (cmd_opt_int(args, "shares", 5, &req.shares, &err) < 0 ||
        cmd_opt_int(args, "threshold", 3, &req.threshold, &err) < 0) {
        cmd_report(ctx, &err);
        return EXIT_USAGE;
    }
    if (req.threshold < 1 || req.threshold > req.shares || req.shares > 255 ||
        (req.shares > 1 && req.threshold == 1)) {
        cmd_errorf(ctx,
                   "--threshold (%ld) must be between 2 and --shares (%ld), at most 255 (1 only "
                   "with a single share)\n",
                   req.threshold, req.shares);
        return EXIT_USAGE;
    }
    if (req.pgp_keys != NULL) {
        char *copy = NULL, *items[INIT_PGP_MAX];
        int n = init_split_pgp_list(req.pgp_keys, "pgp-keys", &copy, items, &err);
        free(copy);
        if (n < 0 || n != req.shares) {
            if (n >= 0)
                error_set(&err, ERR_USAGE, "--pgp-keys names %d key%s but --shares is %ld", n,
                          n == 1 ? "" : "s", req.shares);
            cmd_report(ctx, &err);
            return EXIT_USAGE;
        }
    } else if (req.backup) {
        cmd_errorf(ctx, "--backup keeps PGP-encrypted shares in Vault: it needs --pgp-keys\n");
        return EXIT_USAGE;
    }
    int rc = check_root_key_rotation(ctx, args, cc, &req);
    if (rc != 0)
        return rc;
    struct rekey_status st;
    if (ceremony_rekey_status(&cc->c, &st, &err) < 0) {
        cmd_ceremony_report(ctx, cc, &err, "rekey");
        return EXIT_ERROR;
    }
    if (st.started) {
        cmd_errorf(ctx, "a rekey is already in progress: finish it or `%s rekey cancel%s`\n",
                   ctx->prog, target_flag(cc));
        print_status(ctx, cc, &st);
        return EXIT_ERROR;
    }
    if (!req.verify && !req.backup && !root_key_rotation(cc))
        cmd_errorf(ctx,
                   "warning: without --verify the new shares are active the moment the last "
                   "share is in; if that answer is lost on the way (a broken connection), so are "
                   "they. --verify (or --pgp-keys with --backup) guards against that\n");
    if (ceremony_rekey_init(&cc->c, &req, &st, &err) < 0) {
        cmd_ceremony_report(ctx, cc, &err, "rekey");
        return EXIT_ERROR;
    }
    if (ctx->g->output != OUTPUT_TABLE && ctx->g->output != OUTPUT_WIDE)
        return print_status(ctx, cc, &st);
    if (root_key_rotation(cc)) {
        fprintf(ctx->out,
                "Root key rotation started on %s: nonce %s.\n"
                "Auto-unseal: this rekey of the barrier rotates the root key only; it returns no "
                "shares, and the recovery shares stay as they are.\n"
                "%d recovery key holder%s must each submit their recovery share (the nonce is not "
                "a secret; share it):\n  %s rekey submit --nonce %s%s\n",
                cc->active, st.nonce, st.required, st.required == 1 ? "" : "s", ctx->prog, st.nonce,
                target_flag(cc));
        return EXIT_OK;
    }
    fprintf(ctx->out,
            "Rekey started on %s: nonce %s.\n"
            "New shares: %d, threshold %d%s%s.\n"
            "%d current key holder%s must each submit their share (the nonce is not a secret; "
            "share it):\n  %s rekey submit --nonce %s%s\n",
            cc->active, st.nonce, st.n, st.t, st.npgp ? ", PGP-encrypted" : "",
            st.verification_required ? ", verified by the new holders before they are active" : "",
            st.required, st.required == 1 ? "" : "s", ctx->prog, st.nonce, target_flag(cc));
    return EXIT_OK;
}

/* After a lost rekey (said == 1): what the holders do now. */
static void restart_advice(struct cmd_context *ctx, const struct cmd_ceremony *cc, int said)
{
    if (said == 1)
        cmd_errorf(ctx,
                   "no rekey is in progress now: it must be started again (`%s rekey start%s`) "
                   "and every key holder must submit again\n",
                   ctx->prog, target_flag(cc));
}

/* The nonce in progress, checked against the one the holder pinned. Returns 0
 * to go on, else an exit code after explaining. */
static int check_in_progress(struct cmd_context *ctx, struct cmd_ceremony *cc,
                             const struct rekey_status *st, const char *pinned)
{
    if (!st->started || (pinned != NULL && strcmp(pinned, st->nonce) != 0)) {
        int said = cmd_ceremony_explain_lost(ctx, cc, "rekey", pinned, 0);
        if (said == 0)
            cmd_errorf(ctx, "no rekey is in progress on %s: `%s rekey start` first\n", cc->active,
                       ctx->prog);
        else
            restart_advice(ctx, cc, said);
        return EXIT_ERROR;
    }
    if (st->verification_nonce[0]) {
        cmd_errorf(ctx,
                   "the old shares are all in: the new holders must now verify their new shares "
                   "(`%s rekey verify%s`)\n",
                   ctx->prog, target_flag(cc));
        return EXIT_ERROR;
    }
    return 0;
}

/* --output could not be written, and Vault has made the new shares active (or holds
 * them for verification): they exist nowhere else. A rescue file next to it (0600,
 * O_EXCL), else standard output, whatever it is: a pipe beats losing them. */
static void rescue_keys(struct cmd_context *ctx, const char *output, const struct secret *text)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s.rescue-XXXXXX", output);
    int fd = n > 0 && (size_t)n < sizeof path ? mkostemp(path, O_CLOEXEC) : -1;
    if (fd >= 0 && cmd_ceremony_file_write(ctx, fd, path, text) == 0) {
        cmd_errorf(ctx, "the new shares were written to %s (mode 0600) instead: keep that file\n",
                   path);
        return;
    }
    if (fd >= 0)
        unlink(path);
    cmd_errorf(ctx,
               "WARNING: no file could hold the new shares, and Vault has them active or "
               "pending: they follow on standard output%s. Store them safely now: they are "
               "shown only once\n",
               isatty(fileno(ctx->out_raw)) ? ""
                                            : ", which is not a terminal: whatever reads it "
                                              "now holds them");
    cmd_ceremony_show_secret(ctx, text);
}

/* Auto-unseal's barrier rekey (§2.8): complete with no shares. */
static int report_root_key_rotated(struct cmd_context *ctx, const struct cmd_ceremony *cc,
                                   const char *output)
{
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        json_t *doc = json_pack("{s:s, s:b, s:i, s:b}", "pod", cc->active, "complete", 1,
                                "new_shares", 0, "root_key_rotated", 1);
        return cmd_print_document(ctx, NULL, doc);
    }
    fprintf(ctx->out,
            "Root key rotated on %s. Vault returned no shares (auto-unseal: the seal stores the "
            "root key); the recovery shares are unchanged and still authorise generate-root and "
            "rekey.%s%s%s\n",
            cc->active, output ? " Nothing was written to " : "", output ? output : "",
            output ? "." : "");
    return EXIT_OK;
}

/* The new shares: into --output (opened before anything was submitted), else shown once. */
static int deliver_keys(struct cmd_context *ctx, struct cmd_ceremony *cc,
                        const struct rekey_update *u, const struct rekey_status *st, int fd,
                        const char *output)
{
    struct error err = {0};
    struct secret text = {0};
    if (u->keys_b64.n == 0) {
        if (fd >= 0) {
            close(fd);
            unlink(output);
        }
        return report_root_key_rotated(ctx, cc, output);
    }
    if (ceremony_rekey_keys_json(u, st->t, cc->c.recovery, &text, &err) < 0) {
        cmd_report(ctx, &err);
        return EXIT_ERROR;
    }
    int rc = EXIT_OK, json = ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML;
    if (fd >= 0 && cmd_ceremony_file_write(ctx, fd, output, &text) == 0) {
        if (json) {
            secret_free(&text);
            json_t *doc =
                json_pack("{s:s, s:b, s:s, s:i, s:i, s:b, s:s}", "pod", cc->active, "complete", 1,
                          "output", output, "new_shares", (int)u->keys_b64.n, "new_threshold",
                          st->t, "verification_required", u->verification_required,
                          "verification_nonce", u->verification_nonce);
            return cmd_print_document(ctx, NULL, doc);
        }
        fprintf(ctx->out,
                "Rekey complete on %s: %zu new shares, threshold %d, written to %s (mode "
                "0600).\n",
                cc->active, u->keys_b64.n, st->t, output);
    } else if (fd >= 0) {
        unlink(output); /* closed by the write; a partial file is no copy */
        rescue_keys(ctx, output, &text);
        rc = EXIT_ERROR;
    } else {
        cmd_ceremony_show_secret(ctx, &text);
        fprintf(ctx->err, "Store the new shares safely now: they are shown only once.\n");
    }
    secret_free(&text);
    if (json)
        return rc; /* the keys JSON was the document */
    if (u->verification_required)
        fprintf(ctx->out,
                "Nothing is active yet: each new key holder proves their new share with `%s "
                "rekey verify%s` (verification nonce %s); the old shares stay valid until %d of "
                "them have.\n",
                ctx->prog, target_flag(cc), u->verification_nonce, st->t);
    else
        fprintf(ctx->out, "The new shares are active now: %s.\n", old_shares_gone(cc));
    return rc;
}

static int rekey_submit(struct cmd_context *ctx, const struct cmd_args *args,
                        struct cmd_ceremony *cc)
{
    struct error err = {0};
    struct rekey_status st;
    const char *pinned = cmd_opt_str(args, "nonce");
    const char *output = cmd_opt_str(args, "output");
    if (ceremony_rekey_status(&cc->c, &st, &err) < 0) {
        cmd_ceremony_report(ctx, cc, &err, "rekey");
        return EXIT_ERROR;
    }
    int rc = check_in_progress(ctx, cc, &st, pinned);
    if (rc != 0)
        return rc;
    fprintf(ctx->err, "Rekey on %s, nonce %s: %d of %d shares given so far.\n", cc->active,
            st.nonce, st.progress, st.required);
    struct secret_list keys = {0};
    int got = secret_get_unseal_keys(cmd_opt_str(args, "keys-file"), st.required - st.progress, 1,
                                     &keys, &err);
    cmd_secret_warnings(ctx);
    if (got < 0 || keys.n == 0) {
        if (got < 0)
            cmd_report(ctx, &err);
        else
            cmd_errorf(ctx, "no share given\n");
        secret_list_free(&keys);
        return cmd_exit_for(&err);
    }
    /* PGP-encrypted shares are useless to whoever reads a pipe; plain ones are not. */
    int may_complete = st.progress + (int)keys.n >= st.required;
    /* No share comes back from a root-key rotation (§2.8): nothing to write or show. */
    int rotation = root_key_rotation(cc);
    if (output == NULL && st.npgp == 0 && may_complete && !rotation &&
        !cmd_ceremony_may_show(ctx, cc->c.recovery ? "the new recovery key shares"
                                                   : "the new unseal key shares")) {
        secret_list_free(&keys);
        return EXIT_ERROR;
    }
    /* The file before the shares: if it cannot be created, nothing has happened yet. */
    int fd = output != NULL && !rotation ? cmd_ceremony_file(ctx, output) : -1;
    if (output != NULL && !rotation && fd < 0) {
        secret_list_free(&keys);
        return EXIT_ERROR;
    }
    rc = EXIT_ERROR;
    struct rekey_update u = {0};
    for (size_t i = 0; i < keys.n; i++) {
        ceremony_rekey_update_clear(&u);
        if (ceremony_rekey_submit(&cc->c, &keys.items[i], st.nonce, &u, &err) < 0) {
            if (cc->c.failure == CER_FAIL_WRONG_NONCE || cc->c.failure == CER_FAIL_NOT_STARTED)
                restart_advice(ctx, cc, cmd_ceremony_explain_lost(ctx, cc, "rekey", st.nonce, 1));
            else
                cmd_ceremony_report(ctx, cc, &err, "rekey");
            /* docs/ceremonies.md §5.2: without -verify the new shares are active the
             * moment the last one lands, even when its answer never came back. */
            if (cc->c.failure == CER_FAIL_OTHER && st.progress + (int)i + 1 >= st.required &&
                !st.verification_required)
                cmd_errorf(ctx,
                           "this share should have completed the rekey, and Vault may have "
                           "made the new shares active although their answer was lost. Run `%s "
                           "rekey status%s` now: if it shows no rekey in progress, the new shares "
                           "may be lost%s; restart or seal no pod until this is checked\n",
                           ctx->prog, target_flag(cc),
                           st.backup ? " (their PGP-encrypted backup is kept in Vault)" : "");
            goto out;
        }
        if (u.complete)
            break;
        fprintf(ctx->err, "Share accepted: %d/%d.\n", u.status.progress, u.status.required);
    }
    if (u.complete) {
        rc = deliver_keys(ctx, cc, &u, &st, fd, output);
        fd = -1;
    } else if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        rc = print_status(ctx, cc, &u.status);
    } else {
        fprintf(ctx->out,
                "Rekey %s: %d/%d shares given. Next key holder: `%s rekey submit "
                "--nonce %s%s`\n",
                st.nonce, u.status.progress, u.status.required, ctx->prog, st.nonce,
                target_flag(cc));
        rc = EXIT_OK;
    }
out:
    if (fd >= 0) {
        close(fd);
        unlink(output);
    }
    ceremony_rekey_update_clear(&u);
    secret_list_free(&keys);
    return rc;
}

static int rekey_verify(struct cmd_context *ctx, const struct cmd_args *args,
                        struct cmd_ceremony *cc)
{
    struct error err = {0};
    struct rekey_verify_status vs;
    if (ceremony_rekey_verify_status(&cc->c, &vs, &err) < 0) {
        cmd_ceremony_report(ctx, cc, &err, "rekey");
        return EXIT_ERROR;
    }
    if (!vs.started) {
        if (!cmd_ceremony_explain_lost(ctx, cc, "rekey", NULL, 0))
            cmd_errorf(ctx, "no rekey is waiting for verification on %s\n", cc->active);
        return EXIT_ERROR;
    }
    fprintf(ctx->err, "Verification on %s, nonce %s: %d of %d new shares verified so far.\n",
            cc->active, vs.nonce, vs.progress, vs.t);
    struct secret_list keys = {0};
    int got =
        secret_get_unseal_keys(cmd_opt_str(args, "keys-file"), vs.t - vs.progress, 1, &keys, &err);
    cmd_secret_warnings(ctx);
    if (got < 0 || keys.n == 0) {
        if (got < 0)
            cmd_report(ctx, &err);
        secret_list_free(&keys);
        return cmd_exit_for(&err);
    }
    int rc = EXIT_ERROR, done = 0;
    for (size_t i = 0; i < keys.n && !done; i++) {
        done = ceremony_rekey_verify(&cc->c, &keys.items[i], vs.nonce, &vs, &err);
        if (done < 0) {
            if (cc->c.failure == CER_FAIL_WRONG_SHARES)
                cmd_errorf(ctx, "verification failed: the new shares did not combine into the new "
                                "key. Vault restarted the verification with a new nonce: every new "
                                "holder verifies again (nothing changed: the old shares are still "
                                "active)\n");
            else
                cmd_ceremony_report(ctx, cc, &err, "rekey");
            goto out;
        }
    }
    if (done)
        fprintf(ctx->out, "Rekey verified on %s: the new shares are active now; %s.\n", cc->active,
                old_shares_gone(cc));
    else
        fprintf(ctx->out, "New share verified: %d/%d. Next new key holder: `%s rekey verify%s`\n",
                vs.progress, vs.t, ctx->prog, target_flag(cc));
    rc = EXIT_OK;
out:
    secret_list_free(&keys);
    return rc;
}

static int rekey_cancel(struct cmd_context *ctx, struct cmd_ceremony *cc)
{
    struct error err = {0};
    struct rekey_status st;
    if (ceremony_rekey_status(&cc->c, &st, &err) < 0) {
        cmd_ceremony_report(ctx, cc, &err, "rekey");
        return EXIT_ERROR;
    }
    if (!st.started) {
        fprintf(ctx->out, "No rekey in progress on %s: nothing to cancel.\n", cc->active);
        return EXIT_OK;
    }
    /* Vault >= 1.20 wants the nonce within 10 minutes of the start (docs/ceremonies.md §2.7). */
    if (ceremony_rekey_cancel(&cc->c, st.nonce, &err) < 0) {
        cmd_ceremony_report(ctx, cc, &err, "rekey");
        return EXIT_ERROR;
    }
    fprintf(ctx->out, "Rekey %s cancelled on %s: the current shares stay valid.\n", st.nonce,
            cc->active);
    return EXIT_OK;
}

static int cmd_rekey_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    const char *sub = args->argc > 0 ? args->argv[0] : NULL;
    const char *const subs[] = {"start", "submit", "verify", "status", "cancel"};
    int which = -1;
    for (int i = 0; sub != NULL && i < 5; i++)
        if (strcmp(sub, subs[i]) == 0)
            which = i;
    if (which < 0 || args->argc != 1) {
        cmd_errorf(ctx,
                   "usage: rekey start|submit|verify|status|cancel [flags]\nsee '%s rekey "
                   "--help'\n",
                   ctx->prog);
        return EXIT_USAGE;
    }
    struct cmd_ceremony cc;
    int rc = cmd_ceremony_open(ctx, args, cmd_opt_str(args, "target"), 0, &cc);
    if (rc == 0) {
        struct rekey_status st;
        struct error err = {0};
        switch (which) {
        case 0:
            rc = rekey_start(ctx, args, &cc);
            break;
        case 1:
            rc = rekey_submit(ctx, args, &cc);
            break;
        case 2:
            rc = rekey_verify(ctx, args, &cc);
            break;
        case 3:
            if (ceremony_rekey_status(&cc.c, &st, &err) < 0) {
                cmd_ceremony_report(ctx, &cc, &err, "rekey");
                rc = EXIT_ERROR;
            } else {
                rc = print_status(ctx, &cc, &st);
            }
            break;
        default:
            rc = rekey_cancel(ctx, &cc);
        }
    }
    cmd_ceremony_close(&cc);
    return rc;
}

static const char *const rekey_subcommands[] = {"start",  "submit", "verify",
                                                "status", "cancel", NULL};

static const struct cmd_option rekey_options[] = {
    {"shares", 0, OPT_INT, "N", "start: number of new key shares (default 5)", NULL},
    {"threshold", 0, OPT_INT, "T", "start: new shares needed to unseal (default 3)", NULL},
    {"pgp-keys", 0, OPT_STRING, "FILES",
     "start: comma-separated local PGP public key files, one per new share, in order", "@files"},
    {"backup", 0, OPT_FLAG, NULL, "start: keep the PGP-encrypted new shares in Vault", NULL},
    {"verify", 0, OPT_FLAG, NULL,
     "start: the new holders prove their shares before they become active", NULL},
    {"target", 0, OPT_STRING, "KEYS", "barrier (unseal keys, default) or recovery (auto-unseal)",
     "barrier|recovery"},
    {"keys-file", 0, OPT_STRING, "FILE",
     "submit/verify: read shares from FILE (one per line, or init's JSON); - = standard input",
     "@files"},
    {"nonce", 0, OPT_STRING, "NONCE",
     "submit: the nonce you were given; refuses if the rekey in progress has another", NULL},
    {"output", 0, OPT_STRING, "FILE",
     "submit: write the new shares to FILE (init's JSON shape, 0600, never overwritten) if "
     "yours is the last share",
     "@files"},
    {"token-file", 0, OPT_STRING, "FILE", "Vault token (else VAULT_TOKEN; Vault 2.x needs one)",
     "@files"},
    {0},
};

const struct cmd_entry cmd_rekey_entry = {
    .name = "rekey",
    .summary = "New unseal key shares, with each key holder in their own place",
    .usage = "start|submit|verify|status|cancel [flags]",
    .help = "start: begins a rekey on the active node and prints its nonce and the command each\n"
            "current key holder runs. Refuses when one is in progress.\n"
            "submit: one holder's share, asked with a hidden prompt (or --keys-file). The\n"
            "nonce in progress is read from Vault and shown (--nonce pins the one you were\n"
            "given). The share that completes the rekey writes the new shares to --output\n"
            "(or shows them once). A wrong share is found at the threshold: Vault then sets\n"
            "the progress back to 0 and everyone submits again.\n"
            "verify: with start --verify, each new holder proves their new share; the last\n"
            "one makes the new shares active.\n"
            "status (-o json), cancel.\n"
            "The rekey lives in the active node's memory only: a step-down, a leader change,\n"
            "a seal or a restart loses it, and the plugin says so. Shares and the token go to\n"
            "the pod on standard input, never on a command line. Vault 2.x needs a token.\n"
            "On auto-unseal, new recovery shares take --target recovery on every command;\n"
            "--target barrier there only rotates the root key (no shares come back).\n"
            "\nExamples:\n"
            "  kubectl vault-ha rekey start --shares 5 --threshold 3 --verify\n"
            "  kubectl vault-ha rekey submit --nonce 2dbd10f1-... --output new-shares.json\n"
            "  kubectl vault-ha rekey verify\n"
            "  kubectl vault-ha rekey status -o json\n",
    .options = rekey_options,
    .subcommands = rekey_subcommands,
    .exec = cmd_rekey_exec,
};
