/* migrate-seal: after `helm upgrade` changed the chart's seal stanza, move the
 * cluster from its seal to the configured one pod by pod (docs/seal-migration.md):
 * standbys restarted one at a time and unsealed with -migrate and the OLD
 * seal's keys, one step-down to a migrated standby (the migration happens
 * there), the old active pod last. A roll of lib/upgrade with lib/sealmig's
 * per-pod step and done test; plan, then apply; running it again resumes. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "json.h"
#include "kube.h"
#include "lease.h"
#include "ops.h"
#include "sealmig.h"
#include "secret.h"
#include "text.h"
#include "upgrade.h"
#include "vault.h"

#define MIGRATE_POD_TIMEOUT_MS (10L * 60 * 1000)
#define MIGRATE_GUARD_MS       (60L * 1000)

/* The ConfigMap's config may hold the transit token (`token = ...` in the stanza): its
 * strings are wiped before they are freed. */
static void wipe_strings(json_t *cm)
{
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get(cm, "data"), key, value)
    {
        if (json_is_string(value))
            explicit_bzero((char *)json_string_value(value), json_string_length(value));
    }
}

/* The chart's ConfigMap and the StatefulSet: the seal the pods get on restart. */
static int read_config(struct cmd_context *ctx, struct ops *o, struct seal_config *cfg,
                       struct seal_env *env, char *cm_name, size_t cm_cap)
{
    const struct vault_cluster *vc = o->vc;
    struct error err = {0};
    char *ns = kube_urlencode(vc->namespace), *sts = kube_urlencode(vc->name);
    char path[1024];
    snprintf(cm_name, cm_cap, "%s/%s-config", vc->namespace, vc->name);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/configmaps/%s-config", ns ? ns : "",
             sts ? sts : "");
    json_t *cm = NULL, *obj = NULL;
    int rc = -1;
    if (kube_get(o->kube, path, &cm, &err) < 0) {
        error_wrap(&err,
                   "reading ConfigMap %s (the chart's server config; the plugin needs "
                   "`get` on configmaps)",
                   cm_name);
        cmd_report(ctx, &err);
        goto out;
    }
    const char *hcl =
        json_string_value(json_object_get(json_object_get(cm, "data"), SEALMIG_CONFIG_KEY));
    if (hcl == NULL) {
        cmd_errorf(ctx, "ConfigMap %s has no %s: is it the Helm chart's?\n", cm_name,
                   SEALMIG_CONFIG_KEY);
        goto out;
    }
    if (sealmig_parse_config(hcl, strlen(hcl), cfg, &err) < 0) {
        error_wrap(&err, "ConfigMap %s", cm_name);
        cmd_report(ctx, &err);
        goto out;
    }
    snprintf(path, sizeof path, "/apis/apps/v1/namespaces/%s/statefulsets/%s", ns ? ns : "",
             sts ? sts : "");
    if (kube_get(o->kube, path, &obj, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    sealmig_parse_env(obj, vc->container, vc->product, env);
    rc = 0;
out:
    wipe_strings(cm);
    json_decref(cm);
    json_decref(obj);
    free(ns);
    free(sts);
    return rc;
}

/* From the active pod, each transit stanza's address answers, over the stanza's own TLS
 * settings; other KMS cannot be probed this way. The mount, key and token stay unchecked:
 * without the seal's token Vault answers 403 for any path (sealmig_probe_argv). */
static int probe_seals(struct cmd_context *ctx, struct ops *o, const struct seal_config *cfg,
                       const char *pod, char *why, size_t cap)
{
    why[0] = '\0';
    for (size_t i = 0; i < cfg->n; i++) {
        const struct seal_stanza *st = &cfg->stanzas[i];
        if (strcmp(st->type, "transit") != 0) {
            if (sealmig_is_auto(st->type))
                fprintf(ctx->err,
                        "Seal %s%s: not checked (a cloud KMS cannot be probed from a "
                        "pod); the pods check it when they start.\n",
                        st->type, st->disabled ? " (old)" : "");
            continue;
        }
        if (st->address[0] == '\0') {
            text_appendf(why, cap, NULL,
                         "%sthe seal \"transit\" stanza has no address: Vault would use the pod's "
                         "VAULT_ADDR, the pod itself; set address",
                         why[0] ? "; " : "");
            continue;
        }
        struct sealmig_probe_flags flags;
        const char *argv[SEALMIG_PROBE_ARGV];
        sealmig_probe_argv(st, o->vc->cli, &flags, argv);
        struct vault_call c = {.pod = pod};
        memcpy(c.argv, argv, sizeof argv);
        vault_call_run(o->kube, o->vc, &c, 1);
        if (!c.ran) {
            text_appendf(why, cap, NULL, "%s%s: %s", why[0] ? "; " : "", pod, c.error.msg);
        } else if (c.exit_code != 0 && c.exit_code != 2) {
            char text[600];
            const char *e = c.err_out ? c.err_out : "";
            text_sanitize(text, sizeof text, e, strlen(e));
            text_appendf(why, cap, NULL,
                         "%sthe transit seal at %s (mount %s) cannot be reached from %s: %s; every "
                         "pod restarted now would crash (\"error parsing Seal configuration\")",
                         why[0] ? "; " : "", st->address, st->mount_path[0] ? st->mount_path : "?",
                         pod, text);
        } else {
            fprintf(ctx->err,
                    "Seal transit%s: %s answers from %s%s. Its mount (%s), key (%s) and token "
                    "are not checked (without the seal's token Vault answers 403 for any "
                    "path): the first standby restarted checks them as it starts, and stops "
                    "the migration if it does not come back.\n",
                    st->disabled ? " (old)" : "", st->address, pod,
                    st->has_tls ? " (with the stanza's TLS settings)" : "",
                    st->mount_path[0] ? st->mount_path : "?", st->key_name[0] ? st->key_name : "?");
        }
        vault_call_clear(&c);
    }
    return why[0] ? -1 : 0;
}

static void print_plan(struct cmd_context *ctx, const struct vault_cluster *vc,
                       const struct upgrade_plan *plan)
{
    FILE *f = ctx->out;
    fprintf(f, "Seal migration plan for %s/%s: %s\n", vc->namespace, vc->name, plan->version);
    for (size_t i = 0; i < plan->n; i++) {
        const struct upgrade_step *s = &plan->steps[i];
        fprintf(f, "  %zu. %s %s (%s)\n       before: %s\n       done:   %s\n", i + 1,
                upgrade_action_name(s->action), s->pod, s->state, s->precondition, s->done);
    }
    fprintf(f, "Leader changes: %d%s%s%s\n", plan->leader_changes, plan->leader_changes ? " (" : "",
            plan->leader_changes ? plan->active : "", plan->leader_changes ? " steps down)" : "");
    fprintf(f, "Already on the new seal: %s\n", plan->upgraded[0] ? plan->upgraded : "none");
}

static json_t *plan_json(const struct vault_cluster *vc, const struct upgrade_plan *plan,
                         const struct sealmig *m, int ready, const char *blocker)
{
    json_t *doc = upgrade_plan_json(plan);
    if (doc == NULL)
        return NULL;
    json_object_del(doc, "revision");
    json_object_del(doc, "image");
    json_object_del(doc, "version");
    json_object_set_new(doc, "statefulset", json_sprintf("%s/%s", vc->namespace, vc->name));
    json_object_set_new(doc, "from", json_string(m->from));
    json_object_set_new(doc, "to", json_string(m->to));
    json_object_set_new(doc, "ready", json_boolean(ready));
    if (blocker != NULL)
        json_object_set_new(doc, "blocker", jtext(blocker));
    return doc;
}

/* A restarted pod that does not come back: Vault exits at start on a bad seal
 * config and says why only in its log (facts: seal-migration §4.2). */
static void say_pod_log(struct cmd_context *ctx, struct ops *o, const char *pod)
{
    const struct vault_pod *p = cluster_find_pod(o->vc, pod);
    if (p == NULL || p->running)
        return;
    char *ns = kube_urlencode(o->vc->namespace), *name = kube_urlencode(pod);
    char path[1024];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/log?container=%s&tailLines=20",
             ns ? ns : "", name ? name : "", o->vc->container);
    free(ns);
    free(name);
    char *text = NULL;
    struct error err = {0};
    if (kube_get_text(o->kube, path, &text, &err) < 0 || text == NULL) {
        free(text);
        return;
    }
    /* What follows the last log line (hclog lines start with their date) is what
     * the server printed as it exited, maybe over several lines: one line here. */
    char fatal[1024] = "";
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        int stamped = strlen(line) > 5 && isdigit((unsigned char)line[0]) &&
                      isdigit((unsigned char)line[3]) && line[4] == '-';
        if (stamped)
            fatal[0] = '\0';
        else if (line[0] != '\0')
            text_appendf(fatal, sizeof fatal, NULL, "%s%s", fatal[0] ? " " : "", line);
    }
    if (fatal[0] != '\0') {
        char clean[1024];
        text_sanitize(clean, sizeof clean, fatal, strlen(fatal));
        fprintf(ctx->err, "%s does not start (%s); its log ends with: %s\n", pod,
                p->reason ? p->reason : "not running", clean);
    }
    free(text);
}

/* Before the step-down nothing is written: say how to roll back. */
static void say_rollback(struct cmd_context *ctx, const char *cm, const char *restarted)
{
    fprintf(ctx->err,
            "Nothing was written to storage yet (the migration happens at the step-down). To "
            "roll back: put the old seal stanza back in ConfigMap %s (helm rollback, or helm "
            "upgrade with the old values), then delete the pods already restarted (%s) one at a "
            "time and unseal them with the old keys (kubectl vault-ha unseal). To go on instead: "
            "run migrate-seal again.\n",
            cm, restarted[0] ? restarted : "none");
}

/* The new active node shows the migration: the target type, migration done. */
static int check_migrated(struct cmd_context *ctx, struct ops *o, const struct sealmig *m,
                          const struct secret *tok)
{
    struct ops_reading r = {0};
    struct error err = {0};
    int ok = -1;
    if (ops_read(o, tok, &r, &err) < 0) {
        cmd_report(ctx, &err);
        return -1;
    }
    for (size_t i = 0; i < o->vc->npods; i++) {
        const struct vault_status *st = &r.views[i].st;
        if (!r.views[i].have_status || st->sealed || !st->is_self)
            continue;
        int type_ok = st->type != NULL && strcmp(st->type, m->to) == 0;
        int recovery_ok = st->recovery_seal == sealmig_is_auto(m->to);
        if (type_ok && recovery_ok && !st->migration) {
            fprintf(ctx->err, "%s: migrated: seal %s, recovery seal %s, migration done\n",
                    o->vc->pods[i].name, st->type,
                    st->recovery_seal ? (st->recovery_seal_type ? st->recovery_seal_type : "yes")
                                      : "none");
            ok = 0;
        } else {
            fprintf(ctx->err,
                    "%s: is active but reports seal %s%s, recovery seal %s: the migration did "
                    "not happen there. Check its log (kubectl logs -n %s %s: \"seal migration "
                    "error\"), then run migrate-seal again\n",
                    o->vc->pods[i].name, st->type ? st->type : "?",
                    st->migration ? " (migration still pending)" : "",
                    st->recovery_seal ? "yes" : "none", o->vc->namespace, o->vc->pods[i].name);
        }
    }
    ops_reading_clear(o, &r);
    return ok;
}

static void say_finish(struct cmd_context *ctx, const struct sealmig *m, int t, int n,
                       const char *last)
{
    FILE *f = ctx->out;
    if (!sealmig_is_auto(m->from) && sealmig_is_auto(m->to)) {
        fprintf(f, "%s came back unsealed by itself (seal %s).\n", last, m->to);
        fprintf(f,
                "Your unseal key shares (%d of %d) are now the recovery keys: generate-root "
                "and rekey -target=recovery need them; they no longer unseal.\n",
                t, n);
    } else if (sealmig_is_auto(m->from) && !sealmig_is_auto(m->to)) {
        fprintf(f,
                "The recovery key shares (%d of %d) are now the unseal keys: every restarted "
                "pod needs %d of them.\n",
                t, n, t);
    } else {
        fprintf(f, "The recovery keys are unchanged.\n");
    }
    if (sealmig_is_auto(m->from))
        fprintf(f,
                "Remove the disabled seal \"%s\" stanza in a follow-up helm upgrade: until "
                "then every restarted pod comes up sealed and needs the keys, and the old "
                "%s stays a start-up dependency.\n",
                m->from, m->from);
}

static int cmd_migrate_seal_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    int dry = cmd_opt_flag(args, "dry-run");
    struct ops o;
    struct pod_view *views = NULL;
    struct ops_reading r = {0};
    struct upgrade_plan plan = {0};
    struct secret token = {0};
    struct secret_list keys = {0};
    struct lease_lock *lock = NULL;
    struct seal_config cfg;
    struct seal_env env;
    struct sealmig m;
    struct error err = {0};
    char why[ERROR_MSG_MAX], cm[300];
    int rc = EXIT_ERROR;
    int open_rc = cmd_open_cluster(ctx, &o, &views);
    if (open_rc != EXIT_OK)
        return open_rc;
    struct vault_cluster *vc = o.vc;
    long pod_timeout =
        ctx->g->wait_timeout_ms > 0 ? ctx->g->wait_timeout_ms : MIGRATE_POD_TIMEOUT_MS;
    o.timeout_ms = pod_timeout;

    /* 1. Detect: the seal the pods get on restart, and the one each runs now. */
    if (read_config(ctx, &o, &cfg, &env, cm, sizeof cm) < 0)
        goto out;
    /* The update revision must be the template's as it is now (right after a helm upgrade the
     * controller may not have seen it yet): each restart waits for the pod on it. */
    if (vc->observed_generation < vc->generation &&
        upgrade_wait_observed(&o, vc->generation, &err) < 0) {
        cmd_report(ctx, &err);
        rc = cmd_exit_for(&err);
        goto out;
    }
    int got = 0, token_rc = cmd_get_token(ctx, args, vc, 1, !dry, &token, &got);
    if (token_rc != EXIT_OK) {
        rc = token_rc;
        goto out;
    }
    const struct secret *tok = got > 0 ? &token : NULL;
    if (ops_read(&o, tok, &r, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    vc = o.vc;
    if (sealmig_detect(&cfg, &env, vc, r.views, &m, why, sizeof why) < 0) {
        cmd_errorf(ctx, "%s\n", why);
        goto out;
    }
    char name[80];
    sealmig_name(&m, name, sizeof name);
    if (m.none) {
        fprintf(ctx->out,
                "No seal migration: every pod of %s/%s runs seal %s, as ConfigMap %s "
                "configures.\n",
                vc->namespace, vc->name, m.to, cm);
        if (m.old_disabled[0])
            fprintf(ctx->out,
                    "ConfigMap %s still has the disabled seal \"%s\" stanza: remove it "
                    "(helm upgrade), or restarted pods stay sealed and need the keys.\n",
                    cm, m.old_disabled);
        rc = EXIT_OK;
        goto out;
    }
    fprintf(ctx->err, "Seal migration: %s (ConfigMap %s; now: %s active)\n", name, cm, m.active);

    /* 2. Preconditions, before any change. */
    char problems[ERROR_MSG_MAX * 2] = "";
    if (vc->update_strategy == NULL || strcmp(vc->update_strategy, "OnDelete") != 0)
        text_appendf(problems, sizeof problems, NULL,
                     "its updateStrategy is %s: switch to OnDelete first (Helm: "
                     "server.updateStrategyType=OnDelete)",
                     vc->update_strategy ? vc->update_strategy : "RollingUpdate");
    /* Under OnDelete a deleted pod comes back from the template as it is: an image change made
     * by the same helm upgrade would ride along (docs/seal-migration.md §8.2). */
    char other_images[512] = "";
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        if (p->exists && p->image != NULL && vc->image != NULL && strcmp(p->image, vc->image) != 0)
            text_appendf(other_images, sizeof other_images, NULL, "%s%s runs %s",
                         other_images[0] ? ", " : "", p->name, p->image);
    }
    if (other_images[0])
        text_appendf(problems, sizeof problems, NULL,
                     "%sthe pod template has image %s but %s: every pod the migration deletes "
                     "would come back on the new image too. Do the upgrade first (kubectl "
                     "vault-ha upgrade), then migrate-seal; or helm upgrade with the seal change "
                     "alone",
                     problems[0] ? "; " : "", vc->image, other_images);
    if (sealmig_check_config(&cfg, &env, &m, vc->product, cm, why, sizeof why) < 0)
        text_appendf(problems, sizeof problems, NULL, "%s%s", problems[0] ? "; " : "", why);
    int started = 0; /* a pod runs the target already: a resumed run */
    for (size_t i = 0; i < vc->npods; i++)
        started |= sealmig_pod_done(&m, &vc->pods[i], &r.views[i]);
    if (!started && r.h.exit_code != 0)
        text_appendf(problems, sizeof problems, NULL,
                     "%sthe cluster is not healthy (status verdict %s): fix that first (kubectl "
                     "vault-ha status)",
                     problems[0] ? "; " : "", health_state_name(r.h.state));
    else if (upgrade_judge(vc, &r, NULL, why, sizeof why) < 0)
        text_appendf(problems, sizeof problems, NULL, "%s%s", problems[0] ? "; " : "", why);
    if (probe_seals(ctx, &o, &cfg, m.active, why, sizeof why) < 0)
        text_appendf(problems, sizeof problems, NULL, "%s%s", problems[0] ? "; " : "", why);
    if (env.token)
        fprintf(ctx->err,
                "Note: the pods get %s from %s (a transit token, likely): the plugin sets or "
                "unsets it in every command it runs, so it never reaches them.\n",
                vc->token_env, env.token_from);
    if (sealmig_plan(&m, vc, r.views, &plan, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    if (dry) {
        if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
            json_t *doc =
                plan_json(vc, &plan, &m, problems[0] == '\0', problems[0] ? problems : NULL);
            if (doc == NULL) {
                cmd_errorf(ctx, "out of memory\n");
                goto out;
            }
            rc = cmd_print_document(ctx, NULL, doc) != EXIT_OK ? EXIT_ERROR
                 : problems[0]                                 ? EXIT_ERROR
                                                               : EXIT_OK;
            goto out;
        }
        print_plan(ctx, vc, &plan);
        if (problems[0]) {
            cmd_errorf(ctx, "the migration would not start: %s\n", problems);
            goto out;
        }
        fprintf(ctx->out, "Dry run: nothing was changed.\n");
        rc = EXIT_OK;
        goto out;
    }
    if (problems[0]) {
        cmd_errorf(ctx, "refusing to migrate the seal of %s/%s: %s\n", vc->namespace, vc->name,
                   problems);
        goto out;
    }
    int lock_rc = cmd_lock(ctx, args, vc, "migrate-seal", &lock);
    if (lock_rc != EXIT_OK) {
        rc = lock_rc;
        goto out;
    }

    /* 3. The plan, then the old keys once, then the confirmation. */
    print_plan(ctx, vc, &plan);
    fflush(ctx->out);
    fflush(stdout);
    int threshold = 0, shares = 0;
    for (size_t i = 0; i < vc->npods; i++)
        if (r.views[i].have_status && r.views[i].st.t > threshold) {
            threshold = r.views[i].st.t;
            shares = r.views[i].st.n;
        }
    /* Keys only when a step left needs them: after the step-down to an auto seal (a resumed
     * run) the restarted pods unseal themselves. */
    int needs_keys = 0;
    for (size_t i = 0; i < plan.n; i++)
        needs_keys |= plan.steps[i].action != UPGRADE_STEP_DOWN &&
                      plan.steps[i].unseal != ROLL_UNSEAL_DEFAULT;
    if (needs_keys) {
        fprintf(ctx->err, "The old seal's keys: %s (%d of %d).\n",
                sealmig_is_auto(m.from) ? "its recovery keys" : "the unseal keys", threshold,
                shares);
        if ((rc = cmd_get_keys(ctx, args, threshold > 0 ? threshold : 1, &keys)) != 0)
            goto out;
    } else {
        fprintf(ctx->err, "No keys needed: the pods left unseal themselves (seal %s).\n", m.to);
    }
    rc = EXIT_ERROR;
    char question[512];
    snprintf(question, sizeof question,
             "Migrate the seal of %s/%s (%s): %zu step%s, %d leader change%s?", vc->namespace,
             vc->name, name, plan.n, plan.n == 1 ? "" : "s", plan.leader_changes,
             plan.leader_changes == 1 ? "" : "s");
    if (!cmd_confirm(ctx, args, question))
        goto out;

    /* 4. Apply. */
    struct roll_done done = {.pod_done = sealmig_pod_done, .ctx = &m, .command = "migrate-seal"};
    char what[80];
    snprintf(what, sizeof what, "seal %s", m.to);
    done.what = what;
    struct upgrade_run run = {.keys = &keys,
                              .token = tok,
                              .self_unseal = sealmig_is_auto(m.to),
                              .revision = vc->update_revision,
                              .pod_timeout_ms = pod_timeout,
                              .guard_timeout_ms = MIGRATE_GUARD_MS,
                              .lock = lock,
                              .done = &done};
    char restarted[512] = "", last[128] = "";
    int stepped_down = m.stored_is_target;
    for (size_t i = 0; i < plan.n; i++) {
        const struct upgrade_step *s = &plan.steps[i];
        if (cmd_interrupted) {
            cmd_errorf(ctx, "interrupted before step %zu of %zu (%s %s)\n", i + 1, plan.n,
                       upgrade_action_name(s->action), s->pod);
            if (!stepped_down)
                say_rollback(ctx, cm, restarted);
            rc = EXIT_INTERRUPTED;
            goto out;
        }
        fprintf(ctx->err, "[%zu/%zu] %s %s\n", i + 1, plan.n, upgrade_action_name(s->action),
                s->pod);
        if (upgrade_run_step(&o, &run, s, &err) < 0) {
            cmd_report(ctx, &err);
            rc = cmd_exit_for(&err);
            cmd_errorf(ctx, "the migration stopped at step %zu of %zu (%s %s)\n", i + 1, plan.n,
                       upgrade_action_name(s->action), s->pod);
            struct error e2 = {0};
            if (s->action == UPGRADE_RESTART) {
                text_appendf(restarted, sizeof restarted, NULL, "%s%s", restarted[0] ? ", " : "",
                             s->pod);
                if (cluster_refresh_pods(o.kube, o.vc, &e2) == 0)
                    say_pod_log(ctx, &o, s->pod);
            }
            if (!stepped_down)
                say_rollback(ctx, cm, restarted);
            else
                fprintf(ctx->err, "The migration already happened on the active node: run "
                                  "migrate-seal again to go on with the pods left.\n");
            goto out;
        }
        if (s->action == UPGRADE_STEP_DOWN) {
            stepped_down = 1;
            if (check_migrated(ctx, &o, &m, tok) < 0)
                goto out;
        } else if (s->action == UPGRADE_RESTART) {
            text_appendf(restarted, sizeof restarted, NULL, "%s%s", restarted[0] ? ", " : "",
                         s->pod);
            snprintf(last, sizeof last, "%s", s->pod);
        }
    }

    /* 5. Finish: every pod on the target. */
    ops_reading_clear(&o, &r);
    if (ops_read(&o, tok, &r, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    for (size_t i = 0; i < o.vc->npods; i++)
        if (o.vc->pods[i].exists && !sealmig_pod_done(&m, &o.vc->pods[i], &r.views[i])) {
            cmd_errorf(ctx, "%s does not report seal %s yet: run migrate-seal again\n",
                       o.vc->pods[i].name, m.to);
            goto out;
        }
    fprintf(ctx->out, "Seal migration complete: every pod of %s/%s runs seal %s. Active: %s.\n",
            o.vc->namespace, o.vc->name, m.to, r.h.active_pod ? r.h.active_pod : "none");
    say_finish(ctx, &m, threshold, shares, last[0] ? last : m.active);
    rc = EXIT_OK;
out:
    cmd_unlock(ctx, lock);
    upgrade_plan_free(&plan);
    ops_reading_clear(&o, &r);
    secret_list_free(&keys);
    secret_free(&token);
    cmd_close_cluster(&o, views);
    return rc;
}

static const struct cmd_option migrate_seal_options[] = {
    {"dry-run", 0, OPT_FLAG, NULL, "print the migration, its checks and its plan; change nothing",
     NULL},
    {"yes", 0, OPT_FLAG, NULL, "do not ask for confirmation (needed without a terminal)", NULL},
    {"keys-file", 0, OPT_STRING, "FILE",
     "the OLD seal's keys (unseal keys leaving Shamir, recovery keys leaving an auto seal); - = "
     "standard input; else asked once",
     "@files"},
    {"token-file", 0, OPT_STRING, "FILE", "Vault token (else VAULT_TOKEN, else asked)", "@files"},
    CMD_FORCE_UNLOCK_OPTION,
    {0},
};

const struct cmd_entry cmd_migrate_seal_entry = {
    .name = "migrate-seal",
    .summary = "Move the cluster to the seal the chart configures (Shamir <-> auto), pod by pod",
    .usage = "[--dry-run] [--yes] [--keys-file FILE] [--timeout D] [--force-unlock]",
    .help = "After `helm upgrade` changed the seal stanza in the chart's ConfigMap\n"
            "(<statefulset>-config), migrates the cluster from the seal its storage holds to the\n"
            "configured one: each standby in turn is deleted, comes back in migration mode and is\n"
            "unsealed with -migrate and the OLD seal's keys (unseal keys leaving Shamir, recovery\n"
            "keys leaving an auto seal), and is a healthy voter again before the next; then the\n"
            "active node steps down to a migrated standby, which performs the migration (checked:\n"
            "its seal type is the target); then the old active pod is restarted. Exactly one\n"
            "leader change. Before any change it checks: a healthy cluster with a failure\n"
            "tolerance of at least 1, OnDelete, exactly one enabled seal, the old auto seal kept\n"
            "with disabled = \"true\", no VAULT_SEAL_TYPE contradicting the stanza, a transit\n"
            "seal reachable from a pod. The keys are asked once (hidden) or read from\n"
            "--keys-file. Until the step-down nothing is written: it says how to roll back.\n"
            "Running it again continues from what the pods report. Needs `get` on configmaps.\n"
            "\nExamples:\n"
            "  helm upgrade vault hashicorp/vault -n vault -f values-with-transit-seal.yaml\n"
            "  kubectl vault-ha migrate-seal --dry-run\n"
            "  kubectl vault-ha migrate-seal --keys-file vault-keys.json --token-file root.token\n",
    .options = migrate_seal_options,
    .flags = CMD_DESTRUCTIVE | CMD_NO_ARGS,
    .exec = cmd_migrate_seal_exec,
};
