/* init: initialize exactly one pod when no pod is initialized. The keys and
 * root token are shown once, or written to a new 0600 file; they pass through
 * locked memory only (never stdio buffers, never a command line). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "filesink.h"
#include "ops.h"
#include "secret.h"
#include "text.h"
#include "vault.h"

#define PGP_MAX 16

/* Copies local public key files into the pod's /tmp (the CLI reads PGP keys
 * from files in the pod, facts §2); a length-bounded `head -c` needs no stdin
 * EOF. Fills paths (comma-joined into flag) and returns how many, or -1. */
static int copy_pgp_files(struct cmd_context *ctx, struct ops *o, const char *pod, const char *list,
                          const char *option, const char *tag, char *flag, size_t cap,
                          char remote[][64], int *nremote)
{
    char *copy = strdup(list), *save = NULL;
    int count = 0;
    size_t flen = 0;
    flag[0] = '\0';
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        struct error err = {0};
        if (strncmp(tok, "keybase:", 8) == 0) {
            if (text_appendf(flag, cap, &flen, "%s%s", count ? "," : "", tok) < 0)
                goto too_long;
            count++;
            continue;
        }
        if (*nremote >= PGP_MAX) {
            fprintf(ctx->err, "%s: at most %d PGP key files\n", ctx->prog, PGP_MAX);
            free(copy);
            return -1;
        }
        size_t len = 0;
        char *data = cmd_read_file(tok, &len, &err);
        if (data == NULL) {
            cmd_report(ctx, &err);
            free(copy);
            return -1;
        }
        char *dst = remote[*nremote];
        snprintf(dst, 64, "/tmp/vault-ha-%s-%d.key", tag, *nremote);
        char lenbuf[32];
        snprintf(lenbuf, sizeof lenbuf, "%zu", len);
        struct vault_call c = {.pod = pod, .input = data, .input_len = len};
        c.argv[0] = "sh";
        c.argv[1] = "-c";
        c.argv[2] = "head -c \"$1\" > \"$0\"";
        c.argv[3] = dst;
        c.argv[4] = lenbuf;
        vault_call_run(o->kube, o->vc, &c, 1);
        int ok = c.ran && c.exit_code == 0;
        if (!ok)
            fprintf(ctx->err, "%s: copying %s into %s failed: %s\n", ctx->prog, tok, pod,
                    c.ran ? (c.err_out ? c.err_out : "") : c.error.msg);
        vault_call_clear(&c);
        free(data);
        if (!ok) {
            free(copy);
            return -1;
        }
        (*nremote)++;
        if (text_appendf(flag, cap, &flen, "%s%s", count ? "," : "", dst) < 0)
            goto too_long;
        count++;
    }
    free(copy);
    return count;
too_long:
    fprintf(ctx->err,
            "%s: --%s: the list of keys is too long (at most %zu characters after the key files "
            "are copied)\n",
            ctx->prog, option, cap - 1);
    free(copy);
    return -1;
}

static void remove_remote(struct ops *o, const char *pod, char remote[][64], int n)
{
    if (n == 0)
        return;
    struct vault_call c = {.pod = pod};
    int a = 0;
    c.argv[a++] = "rm";
    c.argv[a++] = "-f";
    for (int i = 0; i < n && a < 22; i++)
        c.argv[a++] = remote[i];
    vault_call_run(o->kube, o->vc, &c, 1);
    vault_call_clear(&c);
}

/* Writes the keys into a secret buffer in the CLI's table wording. */
static int keys_text(const struct vault_init_result *r, struct secret *out, struct error *err)
{
    size_t cap = 256 + r->root_token.len;
    for (size_t i = 0; i < r->keys_b64.n; i++)
        cap += r->keys_b64.items[i].len + 32;
    for (size_t i = 0; i < r->recovery_b64.n; i++)
        cap += r->recovery_b64.items[i].len + 32;
    if (secret_alloc(out, cap, err) < 0)
        return -1;
    size_t len = 0;
    int cut = 0;
    for (size_t i = 0; i < r->keys_b64.n; i++)
        cut |= text_appendf(out->data, out->cap, &len, "Unseal Key %zu: %s\n", i + 1,
                            r->keys_b64.items[i].data);
    for (size_t i = 0; i < r->recovery_b64.n; i++)
        cut |= text_appendf(out->data, out->cap, &len, "Recovery Key %zu: %s\n", i + 1,
                            r->recovery_b64.items[i].data);
    cut |=
        text_appendf(out->data, out->cap, &len, "\nInitial Root Token: %s\n", r->root_token.data);
    out->len = len;
    if (cut) { /* cannot happen: cap counts every piece */
        secret_free(out);
        return error_set(err, ERR_GENERIC, "the keys do not fit their buffer");
    }
    return 0;
}

int cmd_init_pod(struct cmd_context *ctx, struct ops *o, size_t idx, const struct cmd_args *args,
                 struct vault_init_result *result)
{
    const char *pod = o->vc->pods[idx].name;
    const char *output = cmd_opt_str(args, "output");
    struct error err = {0};
    long shares = 0, threshold = 0, rshares = 0, rthreshold = 0;
    if (cmd_opt_int(args, "key-shares", 0, &shares, &err) < 0 ||
        cmd_opt_int(args, "key-threshold", 0, &threshold, &err) < 0 ||
        cmd_opt_int(args, "recovery-shares", 0, &rshares, &err) < 0 ||
        cmd_opt_int(args, "recovery-threshold", 0, &rthreshold, &err) < 0) {
        cmd_report(ctx, &err);
        return -1;
    }
    long eff_shares = shares ? shares : 5, eff_threshold = threshold ? threshold : 3;
    if (eff_shares < 1 || eff_threshold < 1 || eff_threshold > eff_shares || eff_shares > 255) {
        fprintf(ctx->err,
                "%s: --key-threshold (%ld) must be between 1 and --key-shares (%ld), at most "
                "255\n",
                ctx->prog, eff_threshold, eff_shares);
        return -1;
    }
    /* The file first: if it cannot be created, nothing has happened yet. */
    int fd = -1;
    if (output != NULL) {
        fd = open(output, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            fprintf(ctx->err, "%s: cannot create %s: %s%s\n", ctx->prog, output, strerror(errno),
                    errno == EEXIST ? " (an existing keys file is never overwritten)" : "");
            return -1;
        }
    }
    char remote[PGP_MAX][64];
    int nremote = 0;
    char pgp_flag[2048] = "", root_flag[256] = "", rec_flag[2048] = "";
    char sh[32], th[32], rsh[32], rth[32];
    const char *argv[24];
    size_t a = 0;
    argv[a++] = o->vc->cli;
    argv[a++] = "operator";
    argv[a++] = "init";
    argv[a++] = "-format=json";
    if (shares) {
        snprintf(sh, sizeof sh, "-key-shares=%ld", shares);
        argv[a++] = sh;
    }
    if (threshold) {
        snprintf(th, sizeof th, "-key-threshold=%ld", threshold);
        argv[a++] = th;
    }
    if (rshares) {
        snprintf(rsh, sizeof rsh, "-recovery-shares=%ld", rshares);
        argv[a++] = rsh;
    }
    if (rthreshold) {
        snprintf(rth, sizeof rth, "-recovery-threshold=%ld", rthreshold);
        argv[a++] = rth;
    }
    const char *pgp = cmd_opt_str(args, "pgp-keys");
    const char *root_pgp = cmd_opt_str(args, "root-token-pgp-key");
    const char *rec_pgp = cmd_opt_str(args, "recovery-pgp-keys");
    int ok = 1;
    if (pgp != NULL) {
        char flag[1900];
        int n = copy_pgp_files(ctx, o, pod, pgp, "pgp-keys", "pgp", flag, sizeof flag, remote,
                               &nremote);
        if (n < 0)
            ok = 0;
        else if (n != eff_shares) {
            fprintf(ctx->err, "%s: --pgp-keys names %d keys but there are %ld key shares\n",
                    ctx->prog, n, eff_shares);
            ok = 0;
        } else {
            snprintf(pgp_flag, sizeof pgp_flag, "-pgp-keys=%s", flag);
            argv[a++] = pgp_flag;
        }
    }
    if (ok && root_pgp != NULL) {
        char flag[200];
        int n = copy_pgp_files(ctx, o, pod, root_pgp, "root-token-pgp-key", "root", flag,
                               sizeof flag, remote, &nremote);
        if (n < 0) {
            ok = 0;
        } else if (n != 1) {
            fprintf(ctx->err, "%s: --root-token-pgp-key takes exactly one key\n", ctx->prog);
            ok = 0;
        } else {
            snprintf(root_flag, sizeof root_flag, "-root-token-pgp-key=%s", flag);
            argv[a++] = root_flag;
        }
    }
    if (ok && rec_pgp != NULL) {
        char flag[1900];
        if (copy_pgp_files(ctx, o, pod, rec_pgp, "recovery-pgp-keys", "recovery", flag, sizeof flag,
                           remote, &nremote) < 0) {
            ok = 0;
        } else {
            snprintf(rec_flag, sizeof rec_flag, "-recovery-pgp-keys=%s", flag);
            argv[a++] = rec_flag;
        }
    }
    argv[a] = NULL;
    int rc = -1;
    if (ok) {
        struct vault_call c = {.pod = pod, .secret_output = 1};
        memcpy(c.argv, argv, (a + 1) * sizeof *argv);
        fprintf(ctx->err, "Initializing Vault on %s...\n", pod);
        vault_call_run(o->kube, o->vc, &c, 1);
        char why[512];
        if (!c.ran) {
            fprintf(ctx->err, "%s: %s\n", ctx->prog, c.error.msg);
        } else if (c.exit_code != 0) {
            vault_error_summary(c.err_out, why, sizeof why);
            fprintf(ctx->err, "%s: %s operator init on %s failed: %s\n", ctx->prog, o->vc->cli, pod,
                    why);
        } else if (vault_parse_init(c.secret_out.data, c.secret_out.len, result, &err) < 0) {
            cmd_report(ctx, &err);
        } else {
            rc = 0;
        }
        vault_call_clear(&c);
    }
    remove_remote(o, pod, remote, nremote);
    if (rc < 0) {
        if (fd >= 0) {
            close(fd);
            unlink(output);
        }
        return -1;
    }
    struct secret text = {0};
    if (fd >= 0) {
        /* The file is the only copy of the keys: its data, then its directory entry,
         * reach the disk before it is called written. */
        int wrote = vault_init_result_json(result, &text, &err) == 0 &&
                    filesink_write_all(fd, text.data, text.len, &err) == 0;
        if (wrote && fsync(fd) < 0) {
            error_set(&err, ERR_CONFIG, "fsync: %s", strerror(errno));
            wrote = 0;
        }
        if (close(fd) < 0 && wrote) {
            error_set(&err, ERR_CONFIG, "close: %s", strerror(errno));
            wrote = 0;
        }
        if (wrote && filesink_fsync_dir(output, &err) < 0)
            wrote = 0;
        if (!wrote) {
            /* Vault is initialized now: the keys must not be lost. Show them. */
            fprintf(ctx->err, "%s: writing %s failed (%s): the keys follow on standard output\n",
                    ctx->prog, output, err.msg);
            secret_free(&text);
            fflush(ctx->out);
            fflush(stdout);
            if (keys_text(result, &text, &err) == 0)
                filesink_write_all(STDOUT_FILENO, text.data, text.len, &err);
            secret_free(&text);
            return 0;
        }
        fprintf(ctx->out,
                "Vault initialized on %s with %d key shares and a key threshold of %d.\n"
                "Unseal keys and root token written to %s (mode 0600). Store them safely and "
                "remove the file from this machine.\n",
                pod, result->shares, result->threshold, output);
        fflush(ctx->out);
    } else {
        int json = ctx->g->output == OUTPUT_JSON;
        if ((json ? vault_init_result_json(result, &text, &err) : keys_text(result, &text, &err)) ==
            0) {
            fflush(ctx->out);
            fflush(stdout);
            filesink_write_all(STDOUT_FILENO, text.data, text.len, &err);
        }
        if (!json)
            fprintf(ctx->out,
                    "\nVault initialized on %s with %d key shares and a key threshold of %d.\n",
                    pod, result->shares, result->threshold);
        fprintf(ctx->err,
                "Store the unseal keys and the root token safely now: they are shown only "
                "once. Next time use --output FILE.\n");
    }
    secret_free(&text);
    return 0;
}

static int cmd_init_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    if (args->argc > 1) {
        fprintf(ctx->err, "%s: init takes at most one pod\n", ctx->prog);
        return EXIT_USAGE;
    }
    struct ops o;
    struct pod_view *views = NULL;
    if (cmd_open_cluster(ctx, &o, &views) < 0)
        return EXIT_ERROR;
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
        fprintf(ctx->err,
                "%s: Vault is already initialized (%s): refusing to initialize again; unseal "
                "with `%s unseal`, add members with `%s join`\n",
                ctx->prog, done, ctx->prog, ctx->prog);
        goto out;
    }
    if (ul > 0) {
        fprintf(ctx->err,
                "%s: cannot tell whether %s %s initialized: refusing, since initializing a "
                "second pod would create a separate cluster\n",
                ctx->prog, unknown, strchr(unknown, ',') ? "are" : "is");
        goto out;
    }
    struct vault_pod *target = cluster_find_pod(vc, args->argc ? args->argv[0] : "0");
    if (target == NULL || !target->running) {
        fprintf(ctx->err, "%s: %s is %s\n", ctx->prog,
                target ? target->name : (args->argc ? args->argv[0] : "pod 0"),
                target ? "not running" : "not a pod of this StatefulSet");
        goto out;
    }
    if (cmd_init_pod(ctx, &o, (size_t)(target - vc->pods), args, &init) < 0)
        goto out;
    rc = EXIT_OK;
    if (cmd_opt_flag(args, "unseal")) {
        keys = init.keys_b64;
        memset(&init.keys_b64, 0, sizeof init.keys_b64);
        secret_list_truncate(&keys, (size_t)init.threshold);
        struct join_options jo = {0};
        rc = cmd_bring_up(ctx, &o, &keys, &init.root_token, &jo, NULL, 0);
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
