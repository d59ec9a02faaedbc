/* What rekey, generate-root and rotate share: the session in the active pod
 * with its token, the report of a failed ceremony call in the holder's terms,
 * the explanation of a lost ceremony, and the 0600 files for new shares, the
 * OTP and the token. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ceremony.h"
#include "cmd.h"
#include "filesink.h"
#include "kube.h"

int cmd_ceremony_open(struct cmd_context *ctx, const struct cmd_args *args, const char *target,
                      struct cmd_ceremony *cc)
{
    memset(cc, 0, sizeof *cc);
    if (cmd_open_cluster(ctx, &cc->o, &cc->views) < 0)
        return EXIT_ERROR;
    int rc = cmd_need_active(ctx, &cc->o, &cc->views, cc->active, sizeof cc->active);
    if (rc != 0)
        return rc;
    const char *version = NULL;
    for (size_t i = 0; i < cc->o.vc->npods; i++)
        if (strcmp(cc->o.vc->pods[i].name, cc->active) == 0 && cc->views[i].have_status)
            version = cc->views[i].st.version;
    snprintf(cc->version, sizeof cc->version, "%s", version ? version : "");
    cc->c.o = &cc->o;
    cc->c.pod = cc->active;
    ceremony_flavor_of(cc->o.vc->cli, cc->version, &cc->c.flavor);
    if (target != NULL && strcmp(target, "recovery") != 0 && strcmp(target, "barrier") != 0) {
        fprintf(ctx->err, "%s: --target is barrier or recovery, not \"%s\"\n", ctx->prog, target);
        return EXIT_USAGE;
    }
    cc->c.recovery = target != NULL && strcmp(target, "recovery") == 0;
    /* Vault 2.x and OpenBao need a token besides the shares (facts/ceremonies.md §1.6, §6);
     * 1.x takes one when it is at hand and needs none. */
    int need = cc->c.flavor.needs_token;
    int got = cmd_get_token(ctx, args, cc->o.vc, need && isatty(STDIN_FILENO), 0, &cc->token);
    if (got < 0)
        return -got;
    if (got == 0 && need) {
        fprintf(ctx->err,
                "%s: %s %s needs a Vault token as well as the key shares (since Vault 2.0 the "
                "ceremonies are authenticated): set VAULT_TOKEN or use --token-file FILE\n",
                ctx->prog, cc->c.flavor.openbao ? "OpenBao" : "Vault", cc->version);
        return EXIT_ERROR;
    }
    cc->c.token = got ? &cc->token : NULL;
    return 0;
}

void cmd_ceremony_close(struct cmd_ceremony *cc)
{
    secret_free(&cc->token);
    cmd_close_cluster(&cc->o, cc->views);
    cc->views = NULL;
}

/* Where the log lines that start a ceremony are: every running pod's Vault log. */
static int find_start(struct cmd_ceremony *cc, const char *kind, const char *nonce, char *found,
                      size_t found_cap, char *hhmm, size_t cap, char *pod, size_t pod_cap)
{
    const struct vault_cluster *vc = cc->o.vc;
    for (size_t i = 0; i < vc->npods; i++) {
        if (!vc->pods[i].running)
            continue;
        char *ns = kube_urlencode(vc->namespace), *name = kube_urlencode(vc->pods[i].name);
        char *container = kube_urlencode(vc->container), path[1024], *log = NULL;
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/log?container=%s", ns, name,
                 container);
        free(ns), free(name), free(container);
        struct error err = {0};
        int hit = kube_get_text(cc->o.kube, path, &log, &err) == 0 &&
                  ceremony_find_start(log, kind, nonce, found, found_cap, hhmm, cap);
        free(log);
        if (hit) {
            snprintf(pod, pod_cap, "%s", vc->pods[i].name);
            return 1;
        }
    }
    return 0;
}

static const struct vault_status *status_of(const struct cmd_ceremony *cc, const char *pod)
{
    for (size_t i = 0; i < cc->o.vc->npods; i++)
        if (strcmp(cc->o.vc->pods[i].name, pod) == 0 && cc->views[i].have_status)
            return &cc->views[i].st;
    return NULL;
}

int cmd_ceremony_explain_lost(struct cmd_context *ctx, struct cmd_ceremony *cc, const char *kind,
                              const char *nonce)
{
    char found[CEREMONY_NONCE_MAX] = "", hhmm[32] = "", pod[256] = "";
    int have = find_start(cc, kind, nonce, found, sizeof found, hhmm, sizeof hhmm, pod, sizeof pod);
    if (!have && nonce == NULL)
        return 0; /* nothing was started that we can see: nothing was lost */
    if (have && strcmp(pod, cc->active) == 0) {
        fprintf(ctx->err,
                "%s: no %s is in progress on %s: the last one (started at %s, nonce %s) was "
                "completed or cancelled, or %.100s lost the leadership and got it back (a "
                "step-down or a seal discards a ceremony in progress)\n",
                ctx->prog, kind, cc->active, hhmm, found, pod);
        return 2;
    }
    const struct vault_status *st = have ? status_of(cc, pod) : NULL;
    char why[600];
    if (!have)
        snprintf(why, sizeof why,
                 "the pod that held it restarted (its log no longer has the start), and a "
                 "ceremony lives only in the active node's memory");
    else if (st != NULL && st->sealed)
        snprintf(why, sizeof why,
                 "%.100s, which held it in memory, was sealed or restarted (%.100s is active now)",
                 pod, cc->active);
    else
        snprintf(why, sizeof why,
                 "%.100s, which held it in memory, is no longer the active node (%.100s is now): a "
                 "step-down or a leader change discards a ceremony in progress",
                 pod, cc->active);
    fprintf(ctx->err, "%s: the %s started at %s on %s (nonce %s) was lost: %s\n", ctx->prog, kind,
            have ? hhmm : "an unknown time", have ? pod : "a pod", have ? found : nonce, why);
    return 1;
}

void cmd_ceremony_report(struct cmd_context *ctx, struct cmd_ceremony *cc, const struct error *err,
                         const char *kind)
{
    cmd_report(ctx, err);
    switch (cc->c.failure) {
    case CER_FAIL_DENIED:
        fprintf(ctx->err,
                "%s: Vault refused the token: the %s needs a token whose policy grants update on "
                "sys/%s/* (a root token has it)\n",
                ctx->prog, kind, strcmp(kind, "rekey") == 0 ? "rekey" : "generate-root");
        break;
    case CER_FAIL_WRONG_SHARES:
        fprintf(ctx->err,
                "%s: the shares given did not combine into the key: at least one is wrong. Vault "
                "set the progress back to 0; the %s stays open with the same nonce, and every "
                "key holder must submit again\n",
                ctx->prog, kind);
        break;
    case CER_FAIL_DUPLICATE:
        fprintf(ctx->err,
                "%s: this share was already submitted in this %s: the progress did not change; "
                "another key holder must submit theirs\n",
                ctx->prog, kind);
        break;
    default:
        break;
    }
}

int cmd_ceremony_file(struct cmd_context *ctx, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        fprintf(ctx->err, "%s: cannot create %s: %s%s\n", ctx->prog, path, strerror(errno),
                errno == EEXIST ? " (an existing file is never overwritten)" : "");
    return fd;
}

int cmd_ceremony_file_write(struct cmd_context *ctx, int fd, const char *path,
                            const struct secret *text)
{
    struct error err = {0};
    int ok = filesink_write_all(fd, text->data, text->len, &err) == 0;
    if (ok && fsync(fd) < 0)
        ok = error_set(&err, ERR_CONFIG, "fsync: %s", strerror(errno)) == 0;
    if (close(fd) < 0 && ok)
        ok = error_set(&err, ERR_CONFIG, "close: %s", strerror(errno)) == 0;
    if (ok && filesink_fsync_dir(path, &err) < 0)
        ok = 0;
    if (!ok)
        fprintf(ctx->err, "%s: writing %s failed: %s\n", ctx->prog, path, err.msg);
    return ok ? 0 : -1;
}

void cmd_ceremony_show_secret(struct cmd_context *ctx, const struct secret *text)
{
    struct error err = {0};
    /* From locked memory to the descriptor, never through a stdio buffer. */
    fflush(ctx->out);
    fflush(ctx->out_raw);
    filesink_write_all(fileno(ctx->out_raw), text->data, text->len, &err);
}
