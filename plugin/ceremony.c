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
#include "ops.h"

/* Vault 2.x (version known): rekey and generate-root may be served without a token. */
static int may_go_without_token(const struct cmd_ceremony *cc)
{
    return !cc->c.flavor.openbao && cc->c.flavor.version_known && cc->c.flavor.needs_token;
}

int cmd_ceremony_open(struct cmd_context *ctx, const struct cmd_args *args, const char *target,
                      int token_always, struct cmd_ceremony *cc)
{
    memset(cc, 0, sizeof *cc);
    int open_rc = cmd_open_cluster(ctx, &cc->o, &cc->views);
    if (open_rc != EXIT_OK)
        return open_rc;
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
    ceremony_flavor_of(cc->o.vc->product, cc->version, &cc->c.flavor);
    if (target != NULL && strcmp(target, "recovery") != 0 && strcmp(target, "barrier") != 0) {
        cmd_errorf(ctx, "--target is barrier or recovery, not \"%s\"\n", target);
        return EXIT_USAGE;
    }
    cc->c.recovery = target != NULL && strcmp(target, "recovery") == 0;
    /* Vault 2.x and OpenBao's rotate-keys need a token besides the shares
     * (docs/ceremonies.md §1.6, §6), and so does an unknown version; 1.x takes one
     * when it is at hand and needs none. A Vault 2.x server may serve rekey and
     * generate-root without one (enable_unauthenticated_access, the way out when
     * no token exists at all): there the call goes without, and a 403 explains. */
    int need = token_always || cc->c.flavor.needs_token;
    int may_go_without = !token_always && may_go_without_token(cc);
    int got = 0, token_rc = cmd_get_token(ctx, args, cc->o.vc,
                                          need && !may_go_without && isatty(STDIN_FILENO), 0,
                                          &cc->token, &got);
    if (token_rc != EXIT_OK)
        return token_rc;
    if (got == 0 && need && !may_go_without) {
        const char *product = cc->c.flavor.openbao ? "OpenBao" : "Vault";
        if (token_always)
            cmd_errorf(ctx, "rotate needs a Vault token: set VAULT_TOKEN or use --token-file "
                            "FILE\n");
        else if (!cc->c.flavor.version_known)
            cmd_errorf(
                ctx,
                "the %s version of %s is unknown (\"%.40s\"), and since Vault 2.0 the "
                "ceremonies need a Vault token as well as the key shares: set VAULT_TOKEN or "
                "use --token-file FILE\n",
                product, cc->active, cc->version);
        else
            cmd_errorf(ctx,
                       "%s %s needs a Vault token as well as the key shares (since Vault 2.0 the "
                       "ceremonies are authenticated): set VAULT_TOKEN or use --token-file FILE\n",
                       product, cc->version);
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

/* The latest start of the ceremony of kind (with nonce, when not NULL) in every
 * running pod's Vault log: the pod that wrote it goes into pod. */
static int find_start(struct cmd_ceremony *cc, const char *kind, const char *nonce,
                      struct ceremony_start *start, char *pod, size_t pod_cap)
{
    const struct vault_cluster *vc = cc->o.vc;
    int have = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        if (!vc->pods[i].running)
            continue;
        char *ns = kube_urlencode(vc->namespace), *name = kube_urlencode(vc->pods[i].name);
        char *container = kube_urlencode(vc->container), path[1024], *log = NULL;
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/log?container=%s", ns, name,
                 container);
        free(ns), free(name), free(container);
        struct error err = {0};
        struct ceremony_start here;
        if (kube_get_text(cc->o.kube, path, &log, &err) == 0 &&
            ceremony_find_start(log, kind, nonce, &here) &&
            (!have || strcmp(here.stamp, start->stamp) > 0)) {
            *start = here;
            snprintf(pod, pod_cap, "%s", vc->pods[i].name);
            have = 1;
        }
        free(log);
    }
    return have;
}

static const struct vault_status *status_of(const struct cmd_ceremony *cc, const char *pod)
{
    for (size_t i = 0; i < cc->o.vc->npods; i++)
        if (strcmp(cc->o.vc->pods[i].name, pod) == 0 && cc->views[i].have_status)
            return &cc->views[i].st;
    return NULL;
}

/* Reads the cluster again (a holder may have typed for minutes), then the
 * ceremony in progress on the pod active now: its nonce into now_nonce. */
static void reread(struct cmd_ceremony *cc, const char *kind, char *now_nonce, size_t cap)
{
    struct error err = {0};
    now_nonce[0] = '\0';
    if (ops_refresh(&cc->o, &cc->views, &err) < 0)
        return;
    int found = 0;
    for (size_t i = 0; i < cc->o.vc->npods && !found; i++)
        if (cc->views[i].have_status && !cc->views[i].st.sealed && cc->views[i].st.is_self) {
            snprintf(cc->active, sizeof cc->active, "%s", cc->o.vc->pods[i].name);
            found = 1;
        }
    if (!found) {
        cc->active[0] = '\0';
        return;
    }
    if (strcmp(kind, "rekey") == 0) {
        struct rekey_status st;
        if (ceremony_rekey_status(&cc->c, &st, &err) == 0 && st.started)
            snprintf(now_nonce, cap, "%s", st.nonce);
    } else {
        struct root_status st = {0};
        if (ceremony_root_status(&cc->c, &st, &err) == 0 && st.started)
            snprintf(now_nonce, cap, "%s", st.nonce);
        ceremony_root_status_clear(&st);
    }
}

int cmd_ceremony_explain_lost(struct cmd_context *ctx, struct cmd_ceremony *cc, const char *kind,
                              const char *nonce, int from_vault)
{
    char held[sizeof cc->active], now_nonce[CEREMONY_NONCE_MAX], pod[256] = "";
    snprintf(held, sizeof held, "%s", cc->active); /* where this run read the ceremony */
    reread(cc, kind, now_nonce, sizeof now_nonce);
    const char *active = cc->active[0] ? cc->active : "no pod (none is active)";
    struct ceremony_start start;
    int have = find_start(cc, kind, nonce, &start, pod, sizeof pod);
    if (nonce == NULL && (!have || start.completed))
        return 0; /* nothing was started that we can see, or it completed: nothing was lost */
    if (nonce != NULL && now_nonce[0] && strcmp(now_nonce, nonce) == 0)
        return 0; /* still there: not lost */
    if (nonce != NULL && !from_vault && !have) {
        /* Never read from Vault, never in a log: a nonce nobody started. */
        if (now_nonce[0])
            cmd_errorf(ctx,
                       "unknown nonce %s: no %s with it was started that the pods' logs show; "
                       "the one in progress on %s has nonce %s: check the nonce you were given\n",
                       nonce, kind, active, now_nonce);
        else
            cmd_errorf(ctx,
                       "unknown nonce %s: no %s with it was started that the pods' logs show, "
                       "and none is in progress on %s: check the nonce you were given\n",
                       nonce, kind, active);
        return 3;
    }
    const char *which = have ? start.nonce : nonce;
    char started[400];
    if (have)
        snprintf(started, sizeof started, "started at %s on %.100s", start.when, pod);
    else
        snprintf(started, sizeof started, "started on %.100s (its log no longer shows when)", held);
    if (now_nonce[0]) {
        cmd_errorf(ctx,
                   "the %s with nonce %s (%s) was replaced by nonce %s, in progress on %s: "
                   "check with whoever started it before you submit\n",
                   kind, which, started, now_nonce, active);
        return 3;
    }
    if (have && start.completed) {
        cmd_errorf(ctx, "the %s with nonce %s (%s) completed; none is in progress now\n", kind,
                   which, started);
        return 2;
    }
    const char *lost_on = have ? pod : held;
    /* docs/ceremonies.md §1.3, §3.5: preSeal (a seal, a step-down, any leader change)
     * wipes a rekey; a root generation stays in its node's memory until that process
     * restarts or it is cancelled there, only out of sight while another node leads. */
    int rekey = strcmp(kind, "rekey") == 0;
    if (strcmp(lost_on, cc->active) == 0) {
        if (rekey)
            cmd_errorf(ctx,
                       "no %s is in progress on %s: the last one (started at %s, nonce %s) was "
                       "completed or cancelled, or %.100s lost the leadership and got it back (a "
                       "step-down or a seal discards a rekey in progress)\n",
                       kind, cc->active, have ? start.when : "an unknown time", which, lost_on);
        else
            cmd_errorf(ctx,
                       "no %s is in progress on %s: the last one (started at %s, nonce %s) was "
                       "completed or cancelled, or the Vault process of %.100s restarted (which "
                       "discards a root generation in progress)\n",
                       kind, cc->active, have ? start.when : "an unknown time", which, lost_on);
        return 2;
    }
    const struct vault_status *st = status_of(cc, lost_on);
    char why[1024];
    if (rekey && (st == NULL || st->sealed))
        snprintf(why, sizeof why,
                 "%.100s, which held it in memory, was sealed or restarted (%s is active now)",
                 lost_on, active);
    else if (rekey)
        snprintf(why, sizeof why,
                 "%.100s, which held it in memory, is no longer the active node (%s is now): a "
                 "step-down or a leader change discards a rekey in progress",
                 lost_on, active);
    else if (st == NULL || st->sealed)
        snprintf(why, sizeof why,
                 "%.100s, which held it in memory, is sealed or was restarted, and %s, active now, "
                 "has none (a restart discards it; a sealed node keeps it out of reach)",
                 lost_on, active);
    else
        snprintf(
            why, sizeof why,
            "%.100s, which holds it in memory, is no longer the active node (%.100s is now, and "
            "has none). %.100s keeps the stale attempt until its Vault process restarts: "
            "if it leads again, `generate-root cancel` clears it",
            lost_on, active, lost_on);
    cmd_errorf(ctx, "the %s %s (nonce %s) was lost: %s\n", kind, started, which, why);
    return 1;
}

void cmd_ceremony_report(struct cmd_context *ctx, struct cmd_ceremony *cc, const struct error *err,
                         const char *kind)
{
    cmd_report(ctx, err);
    switch (cc->c.failure) {
    case CER_FAIL_DENIED: {
        int rekey = strcmp(kind, "rekey") == 0;
        if (cc->c.token == NULL && may_go_without_token(cc))
            /* docs/ceremonies.md §1.6 and seal-migration.md §8.3: the opt-out is server
             * configuration; the chart copies its ConfigMap at container start, so a SIGHUP
             * alone re-reads the old copy. */
            cmd_errorf(
                ctx,
                "Vault %s refused the %s without a token: set VAULT_TOKEN or use "
                "--token-file FILE. With no token at all, add enable_unauthenticated_access "
                "= [\"%s\"] to the Vault server configuration and make every Vault pod "
                "read it (with the Helm chart: in the server config values, then restart "
                "the pods; a SIGHUP re-reads only the copy made at container start), run the "
                "%s, then remove it the same way\n",
                cc->version, kind, rekey ? "rekey" : "generate-root", kind);
        else if (cc->c.token == NULL)
            cmd_errorf(ctx,
                       "Vault refused the %s without a token: this server needs one (set "
                       "VAULT_TOKEN or use --token-file FILE)\n",
                       kind);
        else
            cmd_errorf(ctx,
                       "Vault refused the token: the %s needs a token whose policy grants read "
                       "(status), update (start, submit) and delete (cancel) on %s/* (a root token "
                       "has them)\n",
                       kind, rekey ? ceremony_rekey_prefix(&cc->c) : ceremony_root_prefix(&cc->c));
        break;
    }
    case CER_FAIL_WRONG_SHARES:
        cmd_errorf(ctx,
                   "the shares given did not combine into the key: at least one is wrong. Vault "
                   "set the progress back to 0; the %s stays open with the same nonce, and every "
                   "key holder must submit again\n",
                   kind);
        break;
    case CER_FAIL_DUPLICATE:
        cmd_errorf(ctx,
                   "this share was already submitted in this %s: the progress did not change; "
                   "another key holder must submit theirs\n",
                   kind);
        break;
    default:
        /* docs/ceremonies.md §6: OpenBao 2.5.3 to 2.5.x unmount sys/generate-root by
         * default, and sys/generate-root-token only comes with 2.6.0. */
        if (strcmp(kind, "rekey") != 0 && cc->c.flavor.root_unmounted && err->msg[0] &&
            (strstr(err->msg, "404") != NULL || strstr(err->msg, "unsupported path") != NULL))
            cmd_errorf(
                ctx,
                "OpenBao %s serves no generate-root endpoint by default "
                "(disable_unauthed_generate_root_endpoints, on since 2.5.3; 2.6.0 brings the "
                "authenticated sys/generate-root-token): upgrade to 2.6, or set that listener "
                "option to false for the ceremony\n",
                cc->version);
        break;
    }
}

int cmd_ceremony_file(struct cmd_context *ctx, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        cmd_errorf(ctx, "cannot create %s: %s%s\n", path, strerror(errno),
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
        cmd_errorf(ctx, "writing %s failed: %s\n", path, err.msg);
    return ok ? 0 : -1;
}

int cmd_ceremony_may_show(struct cmd_context *ctx, const char *what)
{
    if (isatty(fileno(ctx->out_raw)))
        return 1;
    cmd_errorf(ctx,
               "standard output is not a terminal: %s would be shown there; give --output "
               "FILE (0600) instead\n",
               what);
    return 0;
}

void cmd_ceremony_show_secret(struct cmd_context *ctx, const struct secret *text)
{
    struct error err = {0};
    /* From locked memory to the descriptor, never through a stdio buffer. */
    fflush(ctx->out);
    fflush(ctx->out_raw);
    filesink_write_all(fileno(ctx->out_raw), text->data, text->len, &err);
}
