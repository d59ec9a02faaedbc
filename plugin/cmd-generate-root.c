/* generate-root: an emergency root token from the key holders' shares. The
 * holder who starts makes the OTP here (libcrypto, the length Vault asks for)
 * and keeps it in a 0600 file; each holder submits their share; the encoded
 * token is decoded here, with no cluster call (docs/ceremonies.md §3.3:
 * `-decode` would ask the status first, which 2.x refuses without a token). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

static int print_status(struct cmd_context *ctx, struct cmd_ceremony *cc,
                        const struct root_status *st)
{
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        json_t *doc = json_pack("{s:s, s:b, s:s, s:i, s:i, s:b, s:s}", "pod", cc->active, "started",
                                st->started, "nonce", st->nonce, "progress", st->progress,
                                "required", st->required, "complete", st->complete,
                                "pgp_fingerprint", st->pgp_fingerprint);
        return cmd_print_document(ctx, NULL, doc);
    }
    if (!st->started)
        fprintf(ctx->out, "No root generation in progress on %s.\n", cc->active);
    else
        fprintf(ctx->out,
                "Root generation in progress on %s\n  nonce:    %s\n  progress: %d/%d "
                "shares given\n",
                cc->active, st->nonce, st->progress, st->required);
    return EXIT_OK;
}

static int root_start(struct cmd_context *ctx, const struct cmd_args *args, struct cmd_ceremony *cc)
{
    const char *otp_file = cmd_opt_str(args, "otp-file"), *pgp = cmd_opt_str(args, "pgp-key");
    if ((otp_file == NULL) == (pgp == NULL)) {
        cmd_errorf(ctx,
                   "give --otp-file FILE (a new file for the one-time password that decodes the "
                   "token) or --pgp-key FILE (a PGP public key that encrypts it)\n");
        return EXIT_USAGE;
    }
    struct error err = {0};
    struct root_status st = {0};
    if (ceremony_root_status(&cc->c, &st, &err) < 0) {
        cmd_ceremony_report(ctx, cc, &err, "root generation");
        return EXIT_ERROR;
    }
    if (st.started) {
        cmd_errorf(ctx,
                   "a root generation is already in progress: finish it or `%s generate-root "
                   "cancel`\n",
                   ctx->prog);
        print_status(ctx, cc, &st);
        ceremony_root_status_clear(&st);
        return EXIT_ERROR;
    }
    struct secret otp = {0};
    int fd = -1, rc = EXIT_ERROR;
    if (otp_file != NULL) {
        if ((fd = cmd_ceremony_file(ctx, otp_file)) < 0)
            goto out;
        if (ceremony_make_otp((size_t)st.otp_length, &otp, &err) < 0) {
            cmd_report(ctx, &err);
            goto out;
        }
    }
    ceremony_root_status_clear(&st);
    if (ceremony_root_init(&cc->c, otp_file ? &otp : NULL, pgp, &st, &err) < 0) {
        cmd_ceremony_report(ctx, cc, &err, "root generation");
        goto out;
    }
    if (fd >= 0) {
        otp.data[otp.len] = '\n';
        otp.len++;
        int wrote = cmd_ceremony_file_write(ctx, fd, otp_file, &otp);
        fd = -1;
        if (wrote < 0) {
            /* Without the OTP the token cannot be decoded: do not leave the attempt open. */
            ceremony_root_cancel(&cc->c, &err);
            cmd_errorf(ctx, "the root generation was cancelled\n");
            goto out;
        }
    }
    if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
        rc = print_status(ctx, cc, &st);
        goto out;
    }
    fprintf(ctx->out,
            "Root generation started on %s: nonce %s.\n"
            "%s\n%d key holder%s must each submit their share (the nonce is not a secret; share "
            "it):\n  %s generate-root submit --nonce %s\n",
            cc->active, st.nonce,
            otp_file ? "The one-time password is in the OTP file (mode 0600): keep it; only it "
                       "decodes the token."
                     : "The token will be encrypted with the PGP key.",
            st.required, st.required == 1 ? "" : "s", ctx->prog, st.nonce);
    rc = EXIT_OK;
out:
    if (fd >= 0) {
        close(fd);
        unlink(otp_file);
    }
    secret_free(&otp);
    ceremony_root_status_clear(&st);
    return rc;
}

/* {"pod":..., "complete":true, "token":"..."} in locked memory: the token is
 * printable ASCII (checked by the decoder), only '"' and '\' need escaping. */
static int token_json(const char *pod, const struct secret *token, struct secret *out,
                      struct error *err)
{
    size_t cap = strlen(pod) * 6 + token->len * 2 + 64;
    if (secret_alloc(out, cap, err) < 0)
        return -1;
    json_t *p = json_string(pod);
    char *pj = p ? json_dumps(p, JSON_ENCODE_ANY) : NULL;
    json_decref(p);
    if (pj == NULL) {
        secret_free(out);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    int head = snprintf(out->data, cap,
                        "{\n  \"pod\": %s,\n  \"complete\": true,\n"
                        "  \"token\": \"",
                        pj);
    free(pj);
    /* cap holds the longest escaping of both; checked all the same, never written past. */
    if (head < 0 || (size_t)head + token->len * 2 + 5 > cap) {
        secret_free(out);
        return error_set(err, ERR_GENERIC, "the token document does not fit");
    }
    size_t o = (size_t)head;
    for (size_t i = 0; i < token->len; i++) {
        if (token->data[i] == '"' || token->data[i] == '\\')
            out->data[o++] = '\\';
        out->data[o++] = token->data[i];
    }
    memcpy(out->data + o, "\"\n}\n", 5); /* with its NUL */
    out->len = o + 4;
    return 0;
}

/* Decodes with otp and writes the token to output (fd), or shows it once.
 * On a failure, a half-written output is removed; returns an exit code. */
static int decode_to(struct cmd_context *ctx, const char *pod, const struct secret *otp,
                     const char *encoded, size_t len, int fd, const char *output)
{
    struct error err = {0};
    struct secret token = {0}, doc = {0};
    int rc = EXIT_ERROR, json = ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML;
    if (ceremony_decode_token(encoded, len, otp, &token, &err) < 0) {
        cmd_report(ctx, &err);
        if (fd >= 0) {
            close(fd);
            unlink(output);
        }
        goto out;
    }
    if (fd >= 0) {
        token.data[token.len++] = '\n';
        if (cmd_ceremony_file_write(ctx, fd, output, &token) < 0) {
            unlink(output); /* closed by the write; a partial token is no token */
            goto out;
        }
        if (json) {
            json_t *d = json_pack("{s:s, s:b, s:s}", "pod", pod ? pod : "", "complete", 1, "output",
                                  output);
            rc = cmd_print_document(ctx, NULL, d);
            goto out;
        }
        fprintf(ctx->out,
                "The new root token is in %s (mode 0600). Revoke it once the emergency is over.\n",
                output);
        rc = EXIT_OK;
        goto out;
    }
    if (json) {
        if (token_json(pod ? pod : "", &token, &doc, &err) < 0) {
            cmd_report(ctx, &err);
            goto out;
        }
        cmd_ceremony_show_secret(ctx, &doc);
    } else {
        token.data[token.len++] = '\n';
        cmd_ceremony_show_secret(ctx, &token);
    }
    fprintf(ctx->err,
            "This root token is shown only once. Revoke it once the emergency is over.\n");
    rc = EXIT_OK;
out:
    secret_free(&token);
    secret_free(&doc);
    return rc;
}

/* The OTP file, checked against the attempt's length before any share is given. */
static int read_otp(struct cmd_context *ctx, const char *otp_file, int otp_length,
                    struct secret *otp)
{
    struct error err = {0};
    if (secret_read_token_file(otp_file, otp, &err) < 0) {
        cmd_report(ctx, &err);
        return -1;
    }
    if (otp_length > 0 && otp->len != (size_t)otp_length) {
        cmd_errorf(ctx,
                   "%s holds %zu characters but this root generation's one-time password has "
                   "%d: it is not the OTP of this attempt; nothing was submitted\n",
                   otp_file, otp->len, otp_length);
        secret_free(otp);
        return -1;
    }
    return 0;
}

/* The encoded token, and how its holder decodes it: the last resort when it
 * could not be decoded or stored here (it is useless without the OTP or the
 * PGP private key, so it may be shown). */
static void print_encoded(struct cmd_context *ctx, const struct root_status *up, FILE *to)
{
    fprintf(to, "Encoded token: %.*s\n", (int)up->encoded.len, up->encoded.data);
    if (up->pgp_fingerprint[0])
        fprintf(to,
                "The holder of the PGP private key (fingerprint %s) decrypts it:\n  echo %.*s "
                "| base64 -d | gpg -d\n",
                up->pgp_fingerprint, (int)up->encoded.len, up->encoded.data);
    else
        fprintf(to,
                "The holder of the OTP decodes it:\n  %s generate-root decode --otp-file "
                "OTP-FILE %.*s\n",
                ctx->prog, (int)up->encoded.len, up->encoded.data);
}

/* Why the attempt with nonce is gone, and what the holders do now. */
static void explain_lost(struct cmd_context *ctx, struct cmd_ceremony *cc, const char *nonce,
                         int from_vault)
{
    int said = cmd_ceremony_explain_lost(ctx, cc, "root generation", nonce, from_vault);
    if (said == 0)
        cmd_errorf(ctx, "no root generation is in progress on %s: `%s generate-root start` first\n",
                   cc->active, ctx->prog);
    else if (said == 1)
        cmd_errorf(ctx,
                   "it must be started again (`%s generate-root start`) and every key holder "
                   "must submit again\n",
                   ctx->prog);
}

static int root_submit(struct cmd_context *ctx, const struct cmd_args *args,
                       struct cmd_ceremony *cc)
{
    struct error err = {0};
    struct root_status st = {0}, up = {0};
    const char *pinned = cmd_opt_str(args, "nonce"), *output = cmd_opt_str(args, "output");
    const char *otp_file = cmd_opt_str(args, "otp-file");
    struct secret_list keys = {0};
    struct secret otp = {0};
    int rc = EXIT_ERROR, fd = -1;
    if (output != NULL && otp_file == NULL) {
        cmd_errorf(ctx,
                   "--output needs --otp-file: without the OTP there is no token to write, only "
                   "the encoded one\n");
        return EXIT_USAGE;
    }
    if (ceremony_root_status(&cc->c, &st, &err) < 0) {
        cmd_ceremony_report(ctx, cc, &err, "root generation");
        return EXIT_ERROR;
    }
    if (!st.started || (pinned != NULL && strcmp(pinned, st.nonce) != 0)) {
        explain_lost(ctx, cc, pinned, 0);
        goto out;
    }
    if (otp_file != NULL && st.pgp_fingerprint[0]) {
        cmd_errorf(ctx,
                   "this root generation encrypts the token with a PGP key (fingerprint %s): "
                   "there is no OTP to decode with; leave out --otp-file and --output\n",
                   st.pgp_fingerprint);
        rc = EXIT_USAGE;
        goto out;
    }
    /* Everything that could lose the token once the last share is in is checked
     * now, while nothing has been submitted. */
    if (otp_file != NULL && read_otp(ctx, otp_file, st.otp_length, &otp) < 0)
        goto out;
    fprintf(ctx->err, "Root generation on %s, nonce %s: %d of %d shares given so far.\n",
            cc->active, st.nonce, st.progress, st.required);
    int got = secret_get_unseal_keys(cmd_opt_str(args, "keys-file"), st.required - st.progress, 1,
                                     &keys, &err);
    cmd_secret_warnings(ctx);
    if (got < 0 || keys.n == 0) {
        if (got < 0)
            cmd_report(ctx, &err);
        rc = cmd_exit_for(&err);
        goto out;
    }
    if (otp_file != NULL && output == NULL && st.progress + (int)keys.n >= st.required &&
        !cmd_ceremony_may_show(ctx, "the new root token"))
        goto out;
    if (output != NULL && (fd = cmd_ceremony_file(ctx, output)) < 0)
        goto out;
    for (size_t i = 0; i < keys.n && !up.complete; i++) {
        ceremony_root_status_clear(&up);
        if (ceremony_root_submit(&cc->c, &keys.items[i], st.nonce, &up, &err) < 0) {
            if (cc->c.failure == CER_FAIL_WRONG_NONCE || cc->c.failure == CER_FAIL_NOT_STARTED)
                explain_lost(ctx, cc, st.nonce, 1);
            else
                cmd_ceremony_report(ctx, cc, &err, "root generation");
            goto out;
        }
        if (!up.complete)
            fprintf(ctx->err, "Share accepted: %d/%d.\n", up.progress, up.required);
    }
    int json = ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML;
    if (!up.complete) {
        if (json)
            rc = print_status(ctx, cc, &up);
        else {
            fprintf(ctx->out,
                    "Root generation %s: %d/%d shares given. Next key holder: `%s "
                    "generate-root submit --nonce %s`\n",
                    st.nonce, up.progress, up.required, ctx->prog, st.nonce);
            rc = EXIT_OK;
        }
        goto out;
    }
    if (up.pgp_fingerprint[0] == '\0')
        snprintf(up.pgp_fingerprint, sizeof up.pgp_fingerprint, "%s", st.pgp_fingerprint);
    if (otp_file != NULL) {
        if (!json)
            fprintf(ctx->out, "Root generation complete on %s.\n", cc->active);
        rc = decode_to(ctx, cc->active, &otp, up.encoded.data, up.encoded.len, fd, output);
        fd = -1;
        if (rc != EXIT_OK) {
            /* The attempt is over: the encoded token is all that is left of it. */
            cmd_errorf(ctx, "the root token was generated but not stored; keep what follows to "
                            "decode it:\n");
            print_encoded(ctx, &up, ctx->err);
        }
        goto out;
    }
    if (json) {
        json_t *doc =
            json_pack("{s:s, s:b, s:s%, s:s}", "pod", cc->active, "complete", 1, "encoded_token",
                      up.encoded.data, up.encoded.len, "pgp_fingerprint", up.pgp_fingerprint);
        rc = cmd_print_document(ctx, NULL, doc);
        goto out;
    }
    fprintf(ctx->out, "Root generation complete on %s.\n", cc->active);
    print_encoded(ctx, &up, ctx->out);
    rc = EXIT_OK;
out:
    if (fd >= 0) {
        close(fd);
        unlink(output);
    }
    secret_free(&otp);
    secret_list_free(&keys);
    ceremony_root_status_clear(&st);
    ceremony_root_status_clear(&up);
    return rc;
}

static int root_decode(struct cmd_context *ctx, const struct cmd_args *args)
{
    const char *otp_file = cmd_opt_str(args, "otp-file"), *output = cmd_opt_str(args, "output");
    if (otp_file == NULL || args->argc != 2) {
        cmd_errorf(ctx, "usage: generate-root decode --otp-file FILE ENCODED [--output "
                        "FILE]\n");
        return EXIT_USAGE;
    }
    if (output == NULL && !cmd_ceremony_may_show(ctx, "the root token"))
        return EXIT_ERROR;
    struct secret otp = {0};
    if (read_otp(ctx, otp_file, 0, &otp) < 0)
        return EXIT_ERROR;
    int fd = output != NULL ? cmd_ceremony_file(ctx, output) : -1;
    int rc = EXIT_ERROR;
    if (output == NULL || fd >= 0) {
        const char *enc = args->argv[1];
        rc = decode_to(ctx, NULL, &otp, enc, strlen(enc), fd, output);
    }
    secret_free(&otp);
    return rc;
}

static int cmd_generate_root_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    const char *sub = args->argc > 0 ? args->argv[0] : "";
    if (strcmp(sub, "decode") == 0)
        return root_decode(ctx, args); /* local: no cluster call */
    int which = strcmp(sub, "start") == 0    ? 0
                : strcmp(sub, "submit") == 0 ? 1
                : strcmp(sub, "status") == 0 ? 2
                : strcmp(sub, "cancel") == 0 ? 3
                                             : -1;
    if (which < 0 || args->argc != 1) {
        cmd_errorf(ctx,
                   "usage: generate-root start|submit|decode|status|cancel [flags]\nsee '%s "
                   "generate-root --help'\n",
                   ctx->prog);
        return EXIT_USAGE;
    }
    int open_rc = cmd_connect(ctx);
    if (open_rc != EXIT_OK)
        return open_rc;
    struct cmd_ceremony cc;
    int rc = cmd_ceremony_open(ctx, args, NULL, 0, &cc);
    struct error err = {0};
    struct root_status st = {0};
    if (rc == 0 && which == 0)
        rc = root_start(ctx, args, &cc);
    else if (rc == 0 && which == 1)
        rc = root_submit(ctx, args, &cc);
    else if (rc == 0 && ceremony_root_status(&cc.c, &st, &err) < 0) {
        cmd_ceremony_report(ctx, &cc, &err, "root generation");
        rc = EXIT_ERROR;
    } else if (rc == 0 && which == 2) {
        rc = print_status(ctx, &cc, &st);
    } else if (rc == 0 && !st.started) {
        fprintf(ctx->out, "No root generation in progress on %s: nothing to cancel.\n", cc.active);
    } else if (rc == 0) {
        if (ceremony_root_cancel(&cc.c, &err) < 0) {
            cmd_ceremony_report(ctx, &cc, &err, "root generation");
            rc = EXIT_ERROR;
        } else {
            fprintf(ctx->out, "Root generation %s cancelled on %s.\n", st.nonce, cc.active);
        }
    }
    ceremony_root_status_clear(&st);
    cmd_ceremony_close(&cc);
    return rc;
}

static const char *const generate_root_subcommands[] = {"start",  "submit", "decode",
                                                        "status", "cancel", NULL};

static const struct cmd_option generate_root_options[] = {
    {"otp-file", 0, OPT_STRING, "FILE",
     "start: a new file (0600) for the one-time password; submit/decode: the OTP to decode with",
     "@files"},
    {"pgp-key", 0, OPT_STRING, "FILE", "start: encrypt the token with this PGP public key instead",
     "@files"},
    {"keys-file", 0, OPT_STRING, "FILE",
     "submit: read shares from FILE (one per line, or init's JSON); - = standard input", "@files"},
    {"nonce", 0, OPT_STRING, "NONCE",
     "submit: the nonce you were given; refuses if the generation in progress has another", NULL},
    {"output", 0, OPT_STRING, "FILE",
     "submit (with --otp-file) and decode: write the token to FILE (0600, never overwritten)",
     "@files"},
    {"token-file", 0, OPT_STRING, "FILE", "Vault token (else VAULT_TOKEN; Vault 2.x needs one)",
     "@files"},
    {0},
};

const struct cmd_entry cmd_generate_root_entry = {
    .name = "generate-root",
    .summary = "An emergency root token from the key holders' shares",
    .usage = "start|submit|decode|status|cancel [flags] [ENCODED]",
    .help = "start --otp-file FILE: makes a one-time password here (the length Vault asks for),\n"
            "writes it to FILE (0600, never overwritten) and starts the generation on the\n"
            "active node; prints the nonce and the command each key holder runs.\n"
            "start --pgp-key FILE: the token is encrypted with that public key instead.\n"
            "submit: one holder's share (hidden prompt or --keys-file); the last one gets the\n"
            "encoded token, decoded at once with --otp-file (into --output, or shown once).\n"
            "decode --otp-file FILE ENCODED: decodes here, with no cluster call.\n"
            "status (-o json), cancel.\n"
            "The attempt lives in the active node's memory only; a leader change or a restart\n"
            "loses it, and the plugin says so. Vault 2.x needs a token even for this, unless\n"
            "its server configuration has enable_unauthenticated_access = [\"generate-root\"].\n"
            "Revoke the new root token once the emergency is over.\n"
            "\nExamples:\n"
            "  kubectl vault-ha generate-root start --otp-file otp.txt\n"
            "  kubectl vault-ha generate-root submit --nonce 15565c79-...\n"
            "  kubectl vault-ha generate-root submit --otp-file otp.txt --output root.token\n"
            "  kubectl vault-ha generate-root decode --otp-file otp.txt OUJEaHkgXwEU...\n",
    .options = generate_root_options,
    .subcommands = generate_root_subcommands,
    .flags = CMD_NO_CLUSTER,
    .exec = cmd_generate_root_exec,
};
