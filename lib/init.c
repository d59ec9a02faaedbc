#include "init.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

int init_check_request(const struct init_request *req, long *shares, long *threshold,
                       struct error *err)
{
    long s = req->shares ? req->shares : 5, t = req->threshold ? req->threshold : 3;
    if (s < 1 || t < 1 || t > s || s > 255)
        return error_set(err, ERR_USAGE,
                         "--key-threshold (%ld) must be between 1 and --key-shares (%ld), at most "
                         "255",
                         t, s);
    *shares = s;
    *threshold = t;
    return 0;
}

int init_split_pgp_list(const char *list, const char *option, char **copy, char **items,
                        struct error *err)
{
    *copy = strdup(list);
    if (*copy == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    int n = 0;
    char *p = *copy;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        if (*p == '\0')
            return error_set(err, ERR_USAGE, "--%s: an empty entry in \"%s\"", option, list);
        if (n >= INIT_PGP_MAX)
            return error_set(err, ERR_USAGE, "--%s: at most %d keys", option, INIT_PGP_MAX);
        items[n++] = p;
        if (comma == NULL)
            return n;
        p = comma + 1;
    }
}

/* A length-bounded `head -c` needs no stdin EOF. */
int init_copy_pgp_files(struct ops *o, const char *pod, const char *list, const char *option,
                        const char *tag, struct init_remote_files *rf, char *flag, size_t cap,
                        struct error *err)
{
    char *copy = NULL, *items[INIT_PGP_MAX];
    int n = init_split_pgp_list(list, option, &copy, items, err);
    size_t flen = 0;
    flag[0] = '\0';
    int failed = n < 0;
    for (int i = 0; !failed && i < n; i++) {
        const char *path = items[i];
        if (strncmp(items[i], "keybase:", 8) != 0) {
            size_t len = 0;
            char *data = text_read_file(items[i], INIT_KEY_FILE_MAX, &len, err);
            if (data == NULL) {
                failed = 1;
                break;
            }
            char *dst = rf->paths[rf->n];
            snprintf(dst, sizeof rf->paths[0], "/tmp/vault-ha-%s-%d.key", tag, rf->n);
            char lenbuf[32];
            snprintf(lenbuf, sizeof lenbuf, "%zu", len);
            struct vault_call c = {.pod = pod, .input = data, .input_len = len};
            c.argv[0] = "sh";
            c.argv[1] = "-c";
            c.argv[2] = "head -c \"$1\" > \"$0\"";
            c.argv[3] = dst;
            c.argv[4] = lenbuf;
            vault_call_run(o->kube, o->vc, &c, 1);
            if (!c.ran || c.exit_code != 0) {
                char why[512];
                if (c.ran)
                    vault_error_summary(c.err_out, why, sizeof why);
                error_set(err, ERR_REMOTE, "copying %s into %s failed: %s", items[i], pod,
                          c.ran ? why : c.error.msg);
                failed = 1;
            }
            vault_call_clear(&c);
            free(data);
            if (failed)
                break;
            rf->n++;
            path = dst;
        }
        if (text_appendf(flag, cap, &flen, "%s%s", i ? "," : "", path) < 0) {
            error_set(err, ERR_USAGE,
                      "--%s: the list of keys is too long (at most %zu characters after the key "
                      "files are copied)",
                      option, cap - 1);
            failed = 1;
        }
    }
    free(copy);
    return failed ? -1 : n;
}

void init_remove_pgp_files(struct ops *o, const char *pod, const struct init_remote_files *rf)
{
    if (rf->n == 0)
        return;
    struct vault_call c = {.pod = pod};
    int a = 0;
    c.argv[a++] = "rm";
    c.argv[a++] = "-f";
    for (int i = 0; i < rf->n && a < 22; i++)
        c.argv[a++] = rf->paths[i];
    vault_call_run(o->kube, o->vc, &c, 1);
    vault_call_clear(&c);
}

int init_pod(struct ops *o, const char *pod, const struct init_request *req,
             struct vault_init_result *result, struct error *err)
{
    long shares, threshold;
    if (init_check_request(req, &shares, &threshold, err) < 0)
        return -1;
    struct init_remote_files *rf = calloc(1, sizeof *rf);
    char *flags = calloc(3, 2048);
    if (rf == NULL || flags == NULL) {
        free(rf), free(flags);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    char *pgp_flag = flags, *root_flag = flags + 2048, *rec_flag = flags + 4096;
    char sh[32], th[32], rsh[32], rth[32];
    const char *argv[24];
    size_t a = 0;
    argv[a++] = o->vc->cli;
    argv[a++] = "operator";
    argv[a++] = "init";
    argv[a++] = "-format=json";
    if (req->shares) {
        snprintf(sh, sizeof sh, "-key-shares=%ld", req->shares);
        argv[a++] = sh;
    }
    if (req->threshold) {
        snprintf(th, sizeof th, "-key-threshold=%ld", req->threshold);
        argv[a++] = th;
    }
    if (req->recovery_shares) {
        snprintf(rsh, sizeof rsh, "-recovery-shares=%ld", req->recovery_shares);
        argv[a++] = rsh;
    }
    if (req->recovery_threshold) {
        snprintf(rth, sizeof rth, "-recovery-threshold=%ld", req->recovery_threshold);
        argv[a++] = rth;
    }
    int rc = -1;
    char list[2048];
    if (req->pgp_keys != NULL) {
        int n = init_copy_pgp_files(o, pod, req->pgp_keys, "pgp-keys", "pgp", rf, list, 1900, err);
        if (n < 0)
            goto out;
        if (n != shares) {
            error_set(err, ERR_USAGE, "--pgp-keys names %d keys but there are %ld key shares", n,
                      shares);
            goto out;
        }
        snprintf(pgp_flag, 2048, "-pgp-keys=%.1900s", list);
        argv[a++] = pgp_flag;
    }
    if (req->root_token_pgp_key != NULL) {
        int n = init_copy_pgp_files(o, pod, req->root_token_pgp_key, "root-token-pgp-key", "root",
                                    rf, list, 200, err);
        if (n < 0)
            goto out;
        if (n != 1) {
            error_set(err, ERR_USAGE, "--root-token-pgp-key takes exactly one key");
            goto out;
        }
        snprintf(root_flag, 2048, "-root-token-pgp-key=%.200s", list);
        argv[a++] = root_flag;
    }
    if (req->recovery_pgp_keys != NULL) {
        if (init_copy_pgp_files(o, pod, req->recovery_pgp_keys, "recovery-pgp-keys", "recovery", rf,
                                list, 1900, err) < 0)
            goto out;
        snprintf(rec_flag, 2048, "-recovery-pgp-keys=%.1900s", list);
        argv[a++] = rec_flag;
    }
    argv[a] = NULL;
    struct vault_call c = {.pod = pod, .secret_output = 1};
    memcpy(c.argv, argv, (a + 1) * sizeof *argv);
    ops_report(o, "Initializing Vault on %s...", pod);
    vault_call_run(o->kube, o->vc, &c, 1);
    char why[512];
    if (!c.ran) {
        error_set(err, c.error.kind, "%s", c.error.msg);
    } else if (c.exit_code != 0) {
        vault_error_summary(c.err_out, why, sizeof why);
        error_set(err, ERR_REMOTE, "%s operator init on %s failed: %s", o->vc->cli, pod, why);
    } else if (vault_parse_init(c.secret_out.data, c.secret_out.len, result, err) == 0) {
        rc = 0;
    }
    vault_call_clear(&c);
out:
    init_remove_pgp_files(o, pod, rf);
    free(rf);
    free(flags);
    return rc;
}
