#include "init.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

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

/* One option's list of keys: keybase: names stay as given, local files are
 * copied into the run's directory in the pod. */
struct key_option {
    const char *option; /* pgp-keys, ... */
    const char *tag;    /* its files' prefix in the pod: pgp, root, recovery */
    char *copy;         /* init_split_pgp_list's */
    char *items[INIT_PGP_MAX];
    int file[INIT_PGP_MAX]; /* index into key_copies.items, -1 for keybase: */
    int n;
};

/* One local key file on its way into the pod. */
struct key_copy {
    char *data;
    size_t len;
    char name[32];                    /* in the run's directory: pgp-0.key, ... */
    char sha256[INIT_SHA256_HEX + 1]; /* of data */
};

struct key_copies {
    struct key_copy items[INIT_PGP_MAX * INIT_STAGE_LISTS];
    size_t n;
    char dir[64]; /* /tmp/vault-ha-init.XXXXXX in the pod, "" until made */
};

/* The files of one CLI call on their way into a pod (init_stage_*). */
struct init_stage {
    struct key_option opts[INIT_STAGE_LISTS];
    size_t nopts;
    struct key_copies kc;
};

static void sha256_hex(const void *data, size_t len, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
        mdlen = 0; /* an empty hash matches no copy: the check refuses */
    hex[0] = '\0';
    for (unsigned int i = 0; i < mdlen && 2 * i < INIT_SHA256_HEX; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Splits one option's list and reads its local files (all of them before
 * anything runs in the pod). */
static int read_keys(struct key_option *ko, const char *list, struct key_copies *kc,
                     struct error *err)
{
    ko->n = init_split_pgp_list(list, ko->option, &ko->copy, ko->items, err);
    if (ko->n < 0)
        return -1;
    for (int i = 0; i < ko->n; i++) {
        ko->file[i] = -1;
        if (strncmp(ko->items[i], "keybase:", 8) == 0)
            continue;
        struct key_copy *k = &kc->items[kc->n];
        k->data = text_read_file(ko->items[i], INIT_KEY_FILE_MAX, &k->len, err);
        if (k->data == NULL)
            return -1;
        snprintf(k->name, sizeof k->name, "%s-%d.key", ko->tag, i);
        sha256_hex(k->data, k->len, k->sha256);
        ko->file[i] = (int)kc->n++;
    }
    return 0;
}

/* "-<option>=<entries>", local files named by their copies in the pod; the
 * entries at most KEY_LIST_MAX - 1 characters. */
#define KEY_LIST_MAX 1900
static int key_flag(const struct key_option *ko, const struct key_copies *kc, char *flag,
                    size_t cap, struct error *err)
{
    size_t len = 0;
    text_appendf(flag, cap, &len, "-%s=", ko->option);
    size_t list_cap = len + KEY_LIST_MAX < cap ? len + KEY_LIST_MAX : cap;
    int cut = 0;
    for (int i = 0; i < ko->n; i++) {
        if (ko->file[i] < 0)
            cut |= text_appendf(flag, list_cap, &len, "%s%s", i ? "," : "", ko->items[i]) < 0;
        else
            cut |= text_appendf(flag, list_cap, &len, "%s%s/%s", i ? "," : "", kc->dir,
                                kc->items[ko->file[i]].name) < 0;
    }
    if (cut)
        return error_set(err, ERR_USAGE,
                         "--%s: the list of keys is too long (at most %d characters after the key "
                         "files are copied)",
                         ko->option, KEY_LIST_MAX - 1);
    return 0;
}

int init_temp_dir(const char *out, size_t len, char *dir, size_t cap)
{
    static const char prefix[] = INIT_DIR_PREFIX;
    size_t plen = sizeof prefix - 1;
    while (len > 0 && out[len - 1] == '\n')
        len--;
    /* mktemp replaces the template's six X in place: the name has its length. */
    if (len != plen + 6 || memcmp(out, prefix, plen) != 0)
        return -1;
    for (size_t i = plen; i < len; i++)
        if (!isalnum((unsigned char)out[i]) && out[i] != '_')
            return -1;
    if (snprintf(dir, cap, "/tmp/%.*s", (int)len, out) >= (int)cap)
        return -1;
    return 0;
}

int init_check_copies(const char *out, size_t len, const struct init_copy_sum *sums, size_t n,
                      const char *pod, struct error *err)
{
    char seen[INIT_PGP_MAX * INIT_STAGE_LISTS] = {0};
    if (n > sizeof seen)
        return error_set(err, ERR_GENERIC, "too many key copies to check");
    const char *p = out, *end = out + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t l = (size_t)(stop - p);
        /* "<64 hex>  <name>" as sha256sum (GNU and busybox) prints it */
        int ok =
            l > INIT_SHA256_HEX + 2 && p[INIT_SHA256_HEX] == ' ' && p[INIT_SHA256_HEX + 1] == ' ';
        for (size_t i = 0; ok && i < INIT_SHA256_HEX; i++)
            ok = text_hex_digit((unsigned char)p[i]) >= 0;
        if (!ok)
            return error_set(err, ERR_REMOTE,
                             "sha256sum in %s printed something else than a list of hashes: the "
                             "key copies cannot be checked; init refused",
                             pod);
        const char *name = p + INIT_SHA256_HEX + 2;
        size_t nl_len = (size_t)(stop - name);
        size_t k = 0;
        while (k < n && (strlen(sums[k].name) != nl_len || memcmp(sums[k].name, name, nl_len) != 0))
            k++;
        if (k == n)
            return error_set(err, ERR_REMOTE,
                             "a file that this run did not copy appeared beside the key copies in "
                             "%s: someone else writes there; init refused",
                             pod);
        if (strncasecmp(p, sums[k].sha256, INIT_SHA256_HEX) != 0)
            return error_set(err, ERR_REMOTE,
                             "the copy of %s in %s is not the file that was sent (its SHA-256 "
                             "differs): someone changed it; init refused, so that no share is "
                             "encrypted to another key",
                             sums[k].local, pod);
        seen[k] = 1;
        p = nl ? nl + 1 : end;
    }
    for (size_t k = 0; k < n; k++)
        if (!seen[k])
            return error_set(err, ERR_REMOTE,
                             "the copy of %s in %s is gone: someone removed it; init refused",
                             sums[k].local, pod);
    return 0;
}

/* Runs `sh -c script arg0 arg1` in pod with input on stdin. On failure err
 * says "<what> failed: <why>". The caller reads c and clears it. */
static int run_sh(struct ops *o, const char *pod, const char *script, const char *arg0,
                  const char *arg1, const struct key_copy *input, const char *what,
                  struct vault_call *c, struct error *err)
{
    memset(c, 0, sizeof *c);
    c->pod = pod;
    c->argv[0] = "sh";
    c->argv[1] = "-c";
    c->argv[2] = script;
    c->argv[3] = arg0;
    c->argv[4] = arg1;
    if (input != NULL) {
        c->input = input->data;
        c->input_len = input->len;
    }
    vault_call_run(o->kube, o->vc, c, 1);
    if (c->ran && c->exit_code == 0)
        return 0;
    char why[512];
    if (c->ran)
        vault_error_summary(c->err_out, why, sizeof why);
    return error_set(err, ERR_REMOTE, "%s failed: %s", what, c->ran ? why : c->error.msg);
}

/* A private directory for this run's key copies: `mktemp -d` in the pod's
 * /tmp (mode 0700, a fresh name: two runs never share one). The name is
 * printed relative to /tmp, and checked before it is used. */
static int make_dir(struct ops *o, const char *pod, struct key_copies *kc, struct error *err)
{
    char what[256];
    snprintf(what, sizeof what, "making a private directory for the key files in %s's /tmp", pod);
    struct vault_call c;
    int rc = run_sh(o, pod, "cd \"$0\" && exec mktemp -d " INIT_DIR_PREFIX "XXXXXX", "/tmp/", NULL,
                    NULL, what, &c, err);
    if (rc == 0 && init_temp_dir(c.out, c.out_len, kc->dir, sizeof kc->dir) < 0)
        rc = error_set(err, ERR_REMOTE,
                       "mktemp -d in %s printed no directory name of the form /tmp/" INIT_DIR_PREFIX
                       "XXXXXX",
                       pod);
    vault_call_clear(&c);
    return rc;
}

/* The local path of copy k, as the user named it. */
static const char *key_local_name(const struct key_option *opts, size_t nopts, size_t k)
{
    for (size_t i = 0; i < nopts; i++)
        for (int j = 0; j < opts[i].n; j++)
            if (opts[i].file[j] == (int)k)
                return opts[i].items[j];
    return "a key file";
}

/* Copies every local key file into the directory; a length-bounded `head -c`
 * needs no stdin EOF. */
static int copy_keys(struct ops *o, const char *pod, const struct key_copies *kc,
                     const struct key_option *opts, size_t nopts, struct error *err)
{
    for (size_t k = 0; k < kc->n; k++) {
        const struct key_copy *kp = &kc->items[k];
        char dst[128], lenbuf[32], what[4200];
        snprintf(dst, sizeof dst, "%s/%s", kc->dir, kp->name);
        snprintf(lenbuf, sizeof lenbuf, "%zu", kp->len);
        snprintf(what, sizeof what, "copying %s into %s", key_local_name(opts, nopts, k), pod);
        struct vault_call c;
        int rc = run_sh(o, pod, "head -c \"$1\" > \"$0\"", dst, lenbuf, kp, what, &c, err);
        vault_call_clear(&c);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Reads the copies back (sha256sum in the pod) and compares them with the
 * local files, right before init reads them. */
static int check_copies(struct ops *o, const char *pod, const struct key_copies *kc,
                        const struct key_option *opts, size_t nopts, struct error *err)
{
    struct init_copy_sum sums[INIT_PGP_MAX * INIT_STAGE_LISTS];
    for (size_t k = 0; k < kc->n; k++) {
        sums[k].name = kc->items[k].name;
        sums[k].sha256 = kc->items[k].sha256;
        sums[k].local = key_local_name(opts, nopts, k);
    }
    char what[256];
    snprintf(what, sizeof what, "checking the key copies in %s with sha256sum (init refused)", pod);
    struct vault_call c;
    /* Every file there, not only ours: one added beside them is refused too. */
    int rc = run_sh(o, pod, "cd \"$0\" && exec sha256sum -- *", kc->dir, NULL, NULL, what, &c, err);
    if (rc == 0)
        rc = init_check_copies(c.out, c.out_len, sums, kc->n, pod, err);
    vault_call_clear(&c);
    return rc;
}

/* The run's directory and everything in it, on every path. */
static void remove_dir(struct ops *o, const char *pod, const struct key_copies *kc)
{
    if (kc->dir[0] == '\0')
        return;
    struct vault_call c = {.pod = pod};
    c.argv[0] = "rm";
    c.argv[1] = "-rf";
    c.argv[2] = "--";
    c.argv[3] = kc->dir;
    vault_call_run(o->kube, o->vc, &c, 1);
    vault_call_clear(&c);
}

struct init_stage *init_stage_read(const char *const *options, const char *const *tags,
                                   const char *const *lists, size_t n, int *counts,
                                   struct error *err)
{
    if (n > INIT_STAGE_LISTS) {
        error_set(err, ERR_GENERIC, "too many key lists");
        return NULL;
    }
    struct init_stage *st = calloc(1, sizeof *st);
    if (st == NULL) {
        error_set(err, ERR_GENERIC, "out of memory");
        return NULL;
    }
    st->nopts = n;
    for (size_t i = 0; i < n; i++) {
        st->opts[i].option = options[i];
        st->opts[i].tag = tags[i];
        counts[i] = 0;
        if (lists[i] == NULL)
            continue;
        if (read_keys(&st->opts[i], lists[i], &st->kc, err) < 0) {
            init_stage_free(NULL, NULL, st);
            return NULL;
        }
        counts[i] = st->opts[i].n;
    }
    /* The flags' length is known before anything runs in the pod: the
     * directory's name has the template's length. */
    char flag[INIT_FLAG_MAX];
    snprintf(st->kc.dir, sizeof st->kc.dir, "/tmp/%sXXXXXX", INIT_DIR_PREFIX);
    int too_long = 0;
    for (size_t i = 0; i < n && !too_long; i++)
        too_long = lists[i] != NULL && key_flag(&st->opts[i], &st->kc, flag, sizeof flag, err) < 0;
    st->kc.dir[0] = '\0'; /* not made: nothing to remove */
    if (too_long) {
        init_stage_free(NULL, NULL, st);
        return NULL;
    }
    return st;
}

int init_stage_copy(struct ops *o, const char *pod, struct init_stage *st,
                    char (*flags)[INIT_FLAG_MAX], struct error *err)
{
    if (st->kc.n > 0 && (make_dir(o, pod, &st->kc, err) < 0 ||
                         copy_keys(o, pod, &st->kc, st->opts, st->nopts, err) < 0))
        return -1;
    for (size_t i = 0; i < st->nopts; i++) {
        flags[i][0] = '\0';
        if (st->opts[i].copy != NULL &&
            key_flag(&st->opts[i], &st->kc, flags[i], INIT_FLAG_MAX, err) < 0)
            return -1;
    }
    return 0;
}

int init_stage_check(struct ops *o, const char *pod, const struct init_stage *st, struct error *err)
{
    return st->kc.n > 0 ? check_copies(o, pod, &st->kc, st->opts, st->nopts, err) : 0;
}

void init_stage_free(struct ops *o, const char *pod, struct init_stage *st)
{
    if (st == NULL)
        return;
    if (o != NULL)
        remove_dir(o, pod, &st->kc);
    for (size_t i = 0; i < st->nopts; i++)
        free(st->opts[i].copy);
    for (size_t k = 0; k < st->kc.n; k++)
        free(st->kc.items[k].data);
    free(st);
}

int init_pod(struct ops *o, const char *pod, const struct init_request *req,
             struct vault_init_result *result, struct error *err)
{
    long shares, threshold;
    if (init_check_request(req, &shares, &threshold, err) < 0)
        return -1;
    static const char *const options[3] = {"pgp-keys", "root-token-pgp-key", "recovery-pgp-keys"};
    static const char *const tags[3] = {"pgp", "root", "recovery"};
    const char *lists[3] = {req->pgp_keys, req->root_token_pgp_key, req->recovery_pgp_keys};
    int counts[3];
    char(*flags)[INIT_FLAG_MAX] = calloc(3, INIT_FLAG_MAX);
    if (flags == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
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
    struct init_stage *st = init_stage_read(options, tags, lists, 3, counts, err);
    if (st == NULL)
        goto out;
    if (req->pgp_keys != NULL && counts[0] != shares) {
        error_set(err, ERR_USAGE, "--pgp-keys names %d keys but there are %ld key shares",
                  counts[0], shares);
        goto out;
    }
    if (req->root_token_pgp_key != NULL && counts[1] != 1) {
        error_set(err, ERR_USAGE, "--root-token-pgp-key takes exactly one key");
        goto out;
    }
    if (init_stage_copy(o, pod, st, flags, err) < 0)
        goto out;
    for (size_t i = 0; i < 3; i++)
        if (lists[i] != NULL)
            argv[a++] = flags[i];
    argv[a] = NULL;
    /* Last thing before init: the copies are still the files that were sent. */
    if (init_stage_check(o, pod, st, err) < 0)
        goto out;
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
    init_stage_free(o, pod, st);
    free(flags);
    return rc;
}
