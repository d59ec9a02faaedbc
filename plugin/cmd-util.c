/* Helpers the commands share: the cluster opened and read, pods chosen from the
 * arguments, confirmations, tokens and keys asked once, small local files, init
 * in one pod, the lock, -o json|yaml documents, durations. main.c keeps main()
 * (options, dispatch, help) and the process-wide state: the sanitized streams,
 * the progress line and Ctrl-C. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cluster.h"
#include "cmd.h"
#include "init.h"
#include "filesink.h"
#include "kube.h"
#include "kubeconfig.h"
#include "lease.h"
#include "ops.h"
#include "output.h"
#include "secret.h"
#include "text.h"
#include "vault.h"
#include "vaultread.h"
#include "wipe.h"

int cmd_lock(struct cmd_context *ctx, const struct cmd_args *args, const struct vault_cluster *vc,
             const char *command, struct lease_lock **lock)
{
    struct error err = {0};
    struct lease_options lo = {.command = command,
                               .force_unlock = cmd_opt_flag(args, "force-unlock")};
    /* From before the Lease exists: a signal that lands as it is created must not end the
     * process with the lock left behind. */
    cmd_interrupt_at_least(INTERRUPT_STEPS);
    if (lease_acquire(ctx->kube, vc->namespace, vc->name, &lo, lock, &err) < 0) {
        cmd_errorf(ctx, "not starting %s of %s/%s: %s\n", command, vc->namespace, vc->name,
                   err.msg);
        return EXIT_ERROR;
    }
    if (cmd_interrupted) {
        cmd_unlock(ctx, *lock);
        *lock = NULL;
        cmd_errorf(ctx, "interrupted: %s of %s/%s did not start\n", command, vc->namespace,
                   vc->name);
        return EXIT_INTERRUPTED;
    }
    if (lease_taken_from(*lock)[0] != '\0')
        fprintf(ctx->err, "Took over the stale lock (Lease %s) of \"%s\" as \"%s\".\n",
                lease_name(*lock), lease_taken_from(*lock), lease_holder(*lock));
    return 0;
}

void cmd_unlock(struct cmd_context *ctx, struct lease_lock *lock)
{
    struct error err = {0};
    if (lease_release(lock, &err) < 0)
        cmd_report(ctx, &err);
    /* Nothing is held any more: what follows (a status) may end at once again. */
    if (lock != NULL)
        cmd_interrupt_mode(INTERRUPT_WAITS);
}

int cmd_print_document(struct cmd_context *ctx, FILE *f, json_t *doc)
{
    struct error err = {0};
    char *s = doc == NULL                     ? NULL
              : ctx->g->output == OUTPUT_YAML ? output_yaml(doc, &err)
                                              : output_json(doc);
    json_decref(doc);
    if (s == NULL) {
        if (err.msg[0] == '\0')
            error_set(&err, ERR_GENERIC, "out of memory");
        cmd_report(ctx, &err);
        return EXIT_ERROR;
    }
    fputs(s, f != NULL ? f : ctx->out);
    free(s);
    return EXIT_OK;
}

long cmd_parse_duration_ms(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || v < 0)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        return (long)(v * 1000);
    if (strcmp(end, "ms") == 0)
        return (long)v;
    if (strcmp(end, "m") == 0)
        return (long)(v * 60000);
    if (strcmp(end, "h") == 0)
        return (long)(v * 3600000);
    return -1;
}

/* --- helpers shared by the cluster commands ------------------------------------------------ */

int cmd_open_cluster(struct cmd_context *ctx, struct ops *o, struct pod_view **views)
{
    struct error err = {0};
    struct cluster_query q = {.namespace = ctx->cfg->namespace,
                              .release = ctx->g->release,
                              .statefulset = ctx->g->statefulset,
                              .container = ctx->g->container};
    cmd_ops_init(ctx, o);
    *views = NULL;
    if (cluster_discover(ctx->kube, &q, &o->vc, &err) < 0) {
        cmd_report(ctx, &err);
        return cmd_exit_for(&err);
    }
    *views = calloc(o->vc->npods + 1, sizeof **views);
    if (*views == NULL) {
        cluster_free(o->vc);
        o->vc = NULL;
        cmd_errorf(ctx, "out of memory\n");
        return EXIT_ERROR;
    }
    vaultread_status_all(ctx->kube, o->vc, *views);
    return EXIT_OK;
}

void cmd_close_cluster(struct ops *o, struct pod_view *views)
{
    if (o->vc != NULL && views != NULL)
        vault_views_clear(views, o->vc->npods);
    free(views);
    cluster_free(o->vc);
    o->vc = NULL;
}

int cmd_bring_up(struct cmd_context *ctx, struct ops *o, const struct bring_up *b)
{
    struct error err = {0};
    int rc = ops_bring_up(o, b, &err);
    if (rc < 0) {
        cmd_report(ctx, &err);
        return cmd_exit_for(&err);
    }
    return rc == 0 ? EXIT_OK : EXIT_ERROR;
}

int cmd_need_active(struct cmd_context *ctx, struct ops *o, struct pod_view **views, char *active,
                    size_t cap)
{
    long ai = vault_active_index(*views, o->vc->npods);
    if (ai >= 0) {
        snprintf(active, cap, "%s", o->vc->pods[ai].name);
        return 0;
    }
    struct error err = {0};
    if (ops_wait_active(o, NULL, active, cap, &err) < 0 || ops_refresh(o, views, &err) < 0) {
        cmd_report(ctx, &err);
        return cmd_exit_for(&err);
    }
    return 0;
}

int cmd_select_pods(struct cmd_context *ctx, struct ops *o, const struct cmd_args *args,
                    size_t *out, size_t *n)
{
    struct error err = {0};
    int got = cluster_select_pods(o->vc, args->argv, args->argc, 1, out, &err);
    if (got < 0) {
        cmd_report(ctx, &err);
        return EXIT_USAGE; /* a pod named on the command line that is not there or not running */
    }
    *n = (size_t)got;
    return EXIT_OK;
}

int cmd_confirm(struct cmd_context *ctx, const struct cmd_args *args, const char *question)
{
    if (cmd_opt_flag(args, "yes"))
        return 1;
    if (!isatty(STDIN_FILENO)) {
        cmd_errorf(ctx, "%s: refusing without a terminal to confirm; add --yes\n", question);
        return 0;
    }
    fprintf(ctx->err, "%s [y/N] ", question);
    fflush(ctx->err);
    char line[16] = "";
    if (fgets(line, sizeof line, stdin) == NULL) {
        if (cmd_interrupted) /* SIGTERM or SIGHUP while asking (a lock holds them) */
            cmd_errorf(ctx, "interrupted: nothing was changed\n");
        return 0;
    }
    return line[0] == 'y' || line[0] == 'Y';
}

int cmd_confirm_typed(struct cmd_context *ctx, const struct cmd_args *args, const char *what,
                      const char *expected)
{
    if (cmd_opt_flag(args, "yes"))
        return 1;
    if (!isatty(STDIN_FILENO)) {
        cmd_errorf(ctx, "%s: refusing without a terminal to confirm; add --yes\n", what);
        return 0;
    }
    fprintf(ctx->err, "%s cannot be undone. Type the StatefulSet's name (%s) to go on: ", what,
            expected);
    fflush(ctx->err);
    char line[256] = "";
    if (fgets(line, sizeof line, stdin) == NULL) {
        if (cmd_interrupted) /* SIGTERM or SIGHUP while asking (a lock holds them) */
            cmd_errorf(ctx, "interrupted: nothing was changed\n");
        return 0;
    }
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, expected) == 0)
        return 1;
    cmd_errorf(ctx, "\"%s\" is not %s: nothing was changed\n", line, expected);
    return 0;
}

int cmd_get_token(struct cmd_context *ctx, const struct cmd_args *args,
                  const struct vault_cluster *vc, int allow_prompt, int required,
                  struct secret *token, int *found)
{
    struct error err = {0};
    int got = secret_get_token(cmd_opt_str(args, "token-file"), vc->product == PRODUCT_OPENBAO,
                               allow_prompt, token, &err);
    *found = got > 0;
    if (got == 0 && required)
        got = error_set(&err, ERR_USAGE,
                        "a Vault token is needed: set VAULT_TOKEN, use --token-file FILE, or run "
                        "on a terminal to be asked");
    cmd_secret_warnings(ctx);
    if (got < 0) {
        cmd_report(ctx, &err);
        return cmd_exit_for(&err);
    }
    return EXIT_OK;
}

int cmd_get_keys(struct cmd_context *ctx, const struct cmd_args *args, int threshold,
                 struct secret_list *keys)
{
    struct error err = {0};
    int got = secret_get_unseal_keys(cmd_opt_str(args, "keys-file"), threshold, 0, keys, &err);
    cmd_secret_warnings(ctx);
    if (got < 0) {
        cmd_report(ctx, &err);
        return cmd_exit_for(&err);
    }
    if (keys->n < (size_t)threshold) {
        cmd_errorf(ctx, "%zu unseal key%s given, the threshold is %d\n", keys->n,
                   keys->n == 1 ? "" : "s", threshold);
        secret_list_free(keys);
        return EXIT_ERROR;
    }
    secret_list_truncate(keys, (size_t)threshold); /* only as many as the threshold needs */
    return 0;
}

char *cmd_read_file(const char *path, size_t *len, struct error *err)
{
    return text_read_file(path, CMD_FILE_MAX, len, err);
}

/* Reads a PEM file for --leader-ca-cert (sent as content: the CLI would take a
 * bare path as PEM text and fail later, docs/vault-cli.md §10.4). */
char *cmd_read_pem(const char *path, struct error *err)
{
    char *buf = cmd_read_file(path, NULL, err);
    if (buf == NULL)
        return NULL;
    if (strstr(buf, "-----BEGIN CERTIFICATE-----") == NULL) {
        error_set(err, ERR_CONFIG, "%s is not a PEM certificate (no BEGIN CERTIFICATE line)", path);
        free(buf);
        return NULL;
    }
    return buf;
}

/* --- init's keys: shared by init and bootstrap ---------------------------------------------- */

/* The keys in the CLI's table wording, in locked memory. */
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

int cmd_init_request(const struct cmd_args *args, int pgp_and_recovery, struct init_request *req,
                     struct error *err)
{
    memset(req, 0, sizeof *req);
    if (cmd_opt_int(args, "key-shares", 0, &req->shares, err) < 0 ||
        cmd_opt_int(args, "key-threshold", 0, &req->threshold, err) < 0)
        return -1;
    if (!pgp_and_recovery)
        return 0;
    req->pgp_keys = cmd_opt_str(args, "pgp-keys");
    req->root_token_pgp_key = cmd_opt_str(args, "root-token-pgp-key");
    req->recovery_pgp_keys = cmd_opt_str(args, "recovery-pgp-keys");
    if (cmd_opt_int(args, "recovery-shares", 0, &req->recovery_shares, err) < 0 ||
        cmd_opt_int(args, "recovery-threshold", 0, &req->recovery_threshold, err) < 0)
        return -1;
    return 0;
}

int cmd_init_pod(struct cmd_context *ctx, struct ops *o, size_t idx,
                 const struct init_request *req_in, const char *output,
                 struct vault_init_result *result)
{
    const char *pod = o->vc->pods[idx].name;
    struct error err = {0};
    struct init_request req = *req_in;
    long shares, threshold;
    if (init_check_request(&req, &shares, &threshold, &err) < 0) {
        cmd_report(ctx, &err);
        return -1;
    }
    /* The file first: if it cannot be created, nothing has happened yet. */
    int fd = -1;
    if (output != NULL) {
        fd = open(output, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            cmd_errorf(ctx, "cannot create %s: %s%s\n", output, strerror(errno),
                       errno == EEXIST ? " (an existing keys file is never overwritten)" : "");
            return -1;
        }
    }
    if (init_pod(o, pod, &req, result, &err) < 0) {
        cmd_report(ctx, &err);
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
            cmd_errorf(ctx, "writing %s failed (%s): the keys follow on standard output\n", output,
                       err.msg);
            secret_free(&text);
            fflush(ctx->out);
            fflush(ctx->out_raw);
            if (keys_text(result, &text, &err) == 0)
                filesink_write_all(fileno(ctx->out_raw), text.data, text.len, &err);
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
        /* The keys go straight from locked memory to the descriptor, never through
         * a stdio buffer; they are printable ASCII (lib/vault checks). */
        int json = ctx->g->output == OUTPUT_JSON;
        if ((json ? vault_init_result_json(result, &text, &err) : keys_text(result, &text, &err)) ==
            0) {
            fflush(ctx->out);
            fflush(ctx->out_raw);
            filesink_write_all(fileno(ctx->out_raw), text.data, text.len, &err);
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
