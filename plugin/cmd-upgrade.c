/* upgrade: roll the Vault StatefulSet onto its update revision (after `helm
 * upgrade`, or onto --image) one pod at a time, standbys first, the active
 * node last after one step-down; plan, then apply (lib/upgrade). Everything
 * needed from the user (token, unseal keys, confirmation) is asked before the
 * first change; running it again resumes where it stopped. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "json.h"
#include "lease.h"
#include "ops.h"
#include "secret.h"
#include "upgrade.h"
#include "vault.h"

/* --timeout's default here: how long one pod may take to be healthy again. */
#define UPGRADE_POD_TIMEOUT_MS (10L * 60 * 1000)
/* How long a deletion waits for a cluster that is not quite ready to lose a pod
 * (labels catching up, a promotion) before the upgrade stops. */
#define UPGRADE_GUARD_MS (60L * 1000)

/* An image reference the API server could take: printable, no spaces, bounded. */
static int image_ok(const char *image)
{
    size_t n = strlen(image);
    if (n == 0 || n > 400)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)image[i]))
            return 0;
    return 1;
}

static void print_plan(struct cmd_context *ctx, const struct vault_cluster *vc,
                       const struct upgrade_plan *plan, const char *old_image)
{
    FILE *f = ctx->out;
    fprintf(f, "Upgrade plan for %s/%s: %s -> %s (%s, ", vc->namespace, vc->name,
            plan->from[0] ? plan->from : "?", plan->version[0] ? plan->version : "?", plan->image);
    if (plan->revision[0])
        fprintf(f, "revision %s)\n", plan->revision);
    else
        fprintf(f, "a new revision once the StatefulSet is patched)\n");
    if (old_image != NULL)
        fprintf(f, "  0. patch statefulset %s/%s: image %s -> %s (container %s)\n", vc->namespace,
                vc->name, old_image, plan->image, vc->container);
    for (size_t i = 0; i < plan->n; i++) {
        const struct upgrade_step *s = &plan->steps[i];
        fprintf(f, "  %zu. %s %s (%s)\n       before: %s\n       done:   %s\n", i + 1,
                upgrade_action_name(s->action), s->pod, s->state, s->precondition, s->done);
    }
    if (plan->leader_changes)
        fprintf(f, "Leader changes: 1 (%s steps down)\n", plan->active);
    else
        fprintf(f, "Leader changes: 0\n");
    fprintf(f, "Already upgraded: %s\n", plan->upgraded[0] ? plan->upgraded : "none");
}

/* Seal type of the initialized pods: 1 for auto-unseal (no keys), 0 for Shamir.
 * threshold gets the number of keys Shamir needs. */
static int auto_unseal(const struct vault_cluster *vc, const struct pod_view *views, int *threshold,
                       char *type, size_t cap)
{
    int self = 0;
    *threshold = 0;
    snprintf(type, cap, "shamir");
    for (size_t i = 0; i < vc->npods; i++) {
        const struct vault_status *st = &views[i].st;
        if (!views[i].have_status || !st->initialized)
            continue;
        if (st->t > *threshold)
            *threshold = st->t;
        if (st->recovery_seal || (st->type != NULL && strcmp(st->type, "shamir") != 0)) {
            self = 1;
            snprintf(type, cap, "%s", st->type ? st->type : "auto-unseal");
        }
    }
    return self;
}

static int cmd_upgrade_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    const char *image = cmd_opt_str(args, "image");
    int dry = cmd_opt_flag(args, "dry-run");
    if (image != NULL && !image_ok(image)) {
        cmd_errorf(ctx, "--image wants an image reference like hashicorp/vault:1.21.3\n");
        return EXIT_USAGE;
    }
    struct ops o;
    struct pod_view *views = NULL;
    struct ops_reading r = {0};
    struct upgrade_plan plan = {0};
    struct secret token = {0};
    struct secret_list keys = {0};
    struct lease_lock *lock = NULL;
    struct error err = {0};
    int rc = EXIT_ERROR;
    int open_rc = cmd_open_cluster(ctx, &o, &views);
    if (open_rc != EXIT_OK)
        return open_rc;
    struct vault_cluster *vc = o.vc;
    long pod_timeout =
        ctx->g->wait_timeout_ms > 0 ? ctx->g->wait_timeout_ms : UPGRADE_POD_TIMEOUT_MS;
    o.timeout_ms = pod_timeout;

    /* 1. The StatefulSet must leave the restarts to us. */
    if (vc->update_strategy == NULL || strcmp(vc->update_strategy, "OnDelete") != 0) {
        cmd_errorf(
            ctx,
            "refusing to upgrade %s/%s: its updateStrategy is %s, so the StatefulSet "
            "controller restarts the pods itself on a template change, in reverse ordinal "
            "order, without unsealing them: the rollout stops at the first sealed pod, and "
            "a second restart can lose quorum. Switch to OnDelete first: kubectl -n %s patch "
            "statefulset %s -p '{\"spec\":{\"updateStrategy\":{\"type\":\"OnDelete\","
            "\"rollingUpdate\":null}}}' (Helm: server.updateStrategyType=OnDelete)\n",
            vc->namespace, vc->name, vc->update_strategy ? vc->update_strategy : "RollingUpdate",
            vc->namespace, vc->name);
        goto out;
    }
    /* One destructive run at a time: the plan is made and carried out under the lock. */
    int lock_rc = !dry ? cmd_lock(ctx, args, vc, "upgrade", &lock) : EXIT_OK;
    if (lock_rc != EXIT_OK) {
        rc = lock_rc;
        goto out;
    }
    /* The update revision must be the template's as it is now (right after a helm
     * upgrade the controller may not have seen it yet). */
    if (vc->observed_generation < vc->generation &&
        upgrade_wait_observed(&o, vc->generation, &err) < 0) {
        cmd_report(ctx, &err);
        rc = cmd_exit_for(&err);
        goto out;
    }
    /* 2. The target: the update revision, or the new image. */
    int new_image = image != NULL && (vc->image == NULL || strcmp(image, vc->image) != 0);
    const char *target = new_image ? image : vc->image;
    char *version = cluster_image_tag(target);
    char why[ERROR_MSG_MAX];
    int down = upgrade_is_downgrade(vc, views, version, why, sizeof why);
    if (down != 0 && !cmd_opt_flag(args, "allow-downgrade")) {
        if (down > 0)
            cmd_errorf(ctx,
                       "refusing to downgrade to %s: %s; Vault does not promise to read "
                       "data a newer version wrote. Add --allow-downgrade if you mean it\n",
                       version, why);
        else
            cmd_errorf(ctx,
                       "cannot tell whether %s is a downgrade: %s. Add --allow-downgrade to "
                       "roll to it anyway\n",
                       target, why);
        free(version);
        goto out;
    }
    free(version);

    /* 3. A token: for the raft state, the voters, the step-down. */
    int got = 0, token_rc = cmd_get_token(ctx, args, vc, 1, !dry, &token, &got);
    if (token_rc != EXIT_OK) {
        rc = token_rc;
        goto out;
    }
    const struct secret *tok = got > 0 ? &token : NULL;

    /* 4. The plan, and whether the cluster can take it. */
    if (ops_read(&o, tok, &r, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    vc = o.vc;
    struct upgrade_facts facts = {
        .vc = vc, .views = r.views, .revision = new_image ? "" : NULL, .image = target};
    if (upgrade_plan_build(&facts, &plan, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    if (plan.n == 0 && !new_image) {
        fprintf(ctx->out, "Every pod of %s/%s runs revision %s (%s): nothing to upgrade.\n",
                vc->namespace, vc->name, plan.revision, plan.image);
        rc = EXIT_OK;
        goto out;
    }
    int judged = upgrade_judge(vc, &r, NULL, why, sizeof why);
    if (dry) {
        if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
            json_t *doc = upgrade_plan_json(&plan);
            if (doc == NULL) {
                cmd_errorf(ctx, "out of memory\n");
                goto out;
            }
            json_object_set_new(doc, "statefulset", json_sprintf("%s/%s", vc->namespace, vc->name));
            json_object_set_new(doc, "ready", json_boolean(judged == 0));
            if (judged < 0)
                json_object_set_new(doc, "blocker", jtext(why));
            if (new_image)
                json_object_set_new(doc, "patchImage", json_string(image));
            rc = cmd_print_document(ctx, NULL, doc) != EXIT_OK ? EXIT_ERROR
                 : judged < 0                                  ? EXIT_ERROR
                                                               : EXIT_OK;
            goto out;
        }
        print_plan(ctx, vc, &plan, new_image ? vc->image : NULL);
        if (tok == NULL)
            fprintf(ctx->out, "Not checked without a Vault token: raft voters and autopilot's "
                              "failure tolerance.\n");
        if (judged < 0) {
            cmd_errorf(ctx, "the upgrade would not start: %s\n", why);
            goto out;
        }
        fprintf(ctx->out, "Dry run: nothing was changed.\n");
        rc = EXIT_OK;
        goto out;
    }
    if (judged < 0) {
        cmd_errorf(ctx, "refusing to upgrade %s/%s: %s\n", vc->namespace, vc->name, why);
        goto out;
    }

    /* The plan before anything is asked or changed. */
    print_plan(ctx, vc, &plan, new_image ? vc->image : NULL);
    fflush(ctx->out);
    /* ctx->out writes through to stdout, which a pipe buffers: the plan must be
     * out before the keys are read (--keys-file - from a script that reads it). */
    fflush(stdout);

    /* 5. Unseal keys, once, for every pod that restarts (none with auto-unseal). */
    int threshold = 0;
    char seal[64];
    int self_unseal = auto_unseal(vc, r.views, &threshold, seal, sizeof seal);
    if (self_unseal) {
        fprintf(ctx->err, "Seal %s: restarted pods unseal themselves; no unseal keys needed.\n",
                seal);
    } else if ((rc = cmd_get_keys(ctx, args, threshold > 0 ? threshold : 1, &keys)) != 0) {
        goto out;
    }
    rc = EXIT_ERROR;
    size_t restarts = 0;
    for (size_t i = 0; i < plan.n; i++)
        restarts += plan.steps[i].action == UPGRADE_RESTART;
    char question[512];
    snprintf(question, sizeof question,
             "Restart %zu pod%s of %s/%s one at a time onto %s (%d leader change%s)?", restarts,
             restarts == 1 ? "" : "s", vc->namespace, vc->name, plan.version, plan.leader_changes,
             plan.leader_changes == 1 ? "" : "s");
    if (!cmd_confirm(ctx, args, question))
        goto out;

    /* 6. A new image: the one change to the StatefulSet, then the plan of its revision. */
    if (new_image) {
        char old[512] = "";
        if (lease_check(lock, &err) < 0 ||
            upgrade_set_image(&o, image, old, sizeof old, &err) < 0) {
            cmd_report(ctx, &err);
            rc = cmd_exit_for(&err);
            goto out;
        }
        fprintf(ctx->err, "statefulset %s/%s: image %s -> %s (container %s), revision %s\n",
                vc->namespace, vc->name, old, image, vc->container, vc->update_revision);
        struct upgrade_plan first = plan;
        memset(&plan, 0, sizeof plan);
        if (ops_read(&o, tok, &r, &err) < 0) {
            upgrade_plan_free(&first);
            cmd_report(ctx, &err);
            goto out;
        }
        vc = o.vc;
        struct upgrade_facts again = {.vc = vc, .views = r.views};
        if (upgrade_plan_build(&again, &plan, &err) < 0) {
            upgrade_plan_free(&first);
            cmd_report(ctx, &err);
            goto out;
        }
        /* The same steps, now with their revision; say so only when they differ
         * (the cluster moved while the keys were asked for). */
        int same = first.n == plan.n;
        for (size_t i = 0; same && i < plan.n; i++)
            same = first.steps[i].action == plan.steps[i].action &&
                   strcmp(first.steps[i].pod, plan.steps[i].pod) == 0;
        upgrade_plan_free(&first);
        if (!same) {
            fprintf(ctx->out, "The cluster changed meanwhile; the plan is now:\n");
            print_plan(ctx, vc, &plan, NULL);
            fflush(ctx->out);
        }
    }

    /* 7. The steps, one at a time; Ctrl-C stops between them (or ends a wait). */
    char first_active[128];
    snprintf(first_active, sizeof first_active, "%s", plan.active);
    struct upgrade_run run = {.keys = &keys,
                              .token = tok,
                              .self_unseal = self_unseal,
                              .revision = plan.revision,
                              .pod_timeout_ms = pod_timeout,
                              .guard_timeout_ms = UPGRADE_GUARD_MS,
                              .lock = lock};
    for (size_t i = 0; i < plan.n; i++) {
        const struct upgrade_step *s = &plan.steps[i];
        if (cmd_interrupted) {
            cmd_errorf(ctx,
                       "interrupted before step %zu of %zu (%s %s): run `%s upgrade` again to "
                       "continue where it stopped\n",
                       i + 1, plan.n, upgrade_action_name(s->action), s->pod, ctx->prog);
            rc = EXIT_INTERRUPTED;
            goto out;
        }
        fprintf(ctx->err, "[%zu/%zu] %s %s\n", i + 1, plan.n, upgrade_action_name(s->action),
                s->pod);
        if (upgrade_run_step(&o, &run, s, &err) < 0) {
            cmd_report(ctx, &err);
            char states[1024] = "";
            struct ops_reading now = {0};
            struct error e2 = {0};
            if (ops_read(&o, NULL, &now, &e2) == 0)
                ops_describe_pods(o.vc, now.views, states, sizeof states);
            ops_reading_clear(&o, &now);
            rc = cmd_exit_for(&err);
            cmd_errorf(ctx,
                       "the upgrade stopped at step %zu of %zu (%s %s)%s%s; %s`%s upgrade` "
                       "again continues where it stopped\n",
                       i + 1, plan.n, upgrade_action_name(s->action), s->pod,
                       states[0] ? ". Now: " : "", states,
                       rc == EXIT_INTERRUPTED ? ""
                                              : "see `kubectl vault-ha status`; once it is "
                                                "fixed, ",
                       ctx->prog);
            goto out;
        }
    }
    ops_reading_clear(&o, &r);
    if (ops_read(&o, tok, &r, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    fprintf(ctx->out, "Upgrade complete: every pod of %s/%s runs revision %s (%s).",
            o.vc->namespace, o.vc->name, plan.revision, plan.version);
    if (r.h.active_pod != NULL && strcmp(r.h.active_pod, first_active) != 0)
        fprintf(ctx->out, " Active: %s (was %s).\n", r.h.active_pod, first_active);
    else
        fprintf(ctx->out, " Active: %s.\n", r.h.active_pod ? r.h.active_pod : "none");
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

static const struct cmd_option upgrade_options[] = {
    {"image", 0, OPT_STRING, "IMAGE",
     "first set the Vault container's image in the StatefulSet (a JSON patch), then roll to it",
     NULL},
    {"dry-run", 0, OPT_FLAG, NULL, "print the plan and its checks, change nothing", NULL},
    {"yes", 0, OPT_FLAG, NULL, "do not ask for confirmation (needed without a terminal)", NULL},
    {"allow-downgrade", 0, OPT_FLAG, NULL,
     "roll to an older version (or to a tag that is not a version)", NULL},
    {"keys-file", 0, OPT_STRING, "FILE",
     "unseal keys for the restarted pods (Shamir); - = standard input; else asked once", "@files"},
    {"token-file", 0, OPT_STRING, "FILE", "Vault token (else VAULT_TOKEN, else asked)", "@files"},
    CMD_FORCE_UNLOCK_OPTION,
    {0},
};

const struct cmd_entry cmd_upgrade_entry = {
    .name = "upgrade",
    .summary = "Roll the pods onto the StatefulSet's new revision, standbys first, no quorum lost",
    .usage = "[--image IMAGE] [--dry-run] [--yes] [--allow-downgrade] [--keys-file FILE] "
             "[--force-unlock]",
    .help =
        "After `helm upgrade` (or with --image, which patches the StatefulSet first), restarts\n"
        "every pod whose controller-revision-hash is not the StatefulSet's updateRevision,\n"
        "one at a time: the standbys first (highest ordinal first), then the active node\n"
        "steps down and is restarted last, so there is exactly one planned leader change.\n"
        "Each restart deletes the pod, waits until it runs on the new revision, unseals it\n"
        "and waits until it is a healthy raft voter caught up with the leader. Before each\n"
        "deletion it checks that losing the pod keeps quorum, and that the pod did not become\n"
        "the active node meanwhile (then it steps down first); the pod is evicted, so the\n"
        "PodDisruptionBudget applies. It refuses an updateStrategy\n"
        "other than OnDelete, a degraded cluster, a failure tolerance of 0 and a downgrade\n"
        "(--allow-downgrade). The unseal keys (Shamir) are asked once at the start, or read\n"
        "from --keys-file; the token comes from VAULT_TOKEN, --token-file or the prompt.\n"
        "--timeout (default 10m) is how long each pod may take to be healthy again. Ctrl-C\n"
        "stops it; running it again continues: upgraded pods are skipped, a pod left down\n"
        "or sealed is brought back first. --dry-run prints the plan (-o json|yaml too).\n"
        "One run at a time: it holds a lock (the Lease <statefulset>-vault-ha-lock) while it\n"
        "runs; a second run (upgrade or recover) names the holder and stops. A run that died\n"
        "leaves its lock to expire in 30 s; --force-unlock takes over such a stale lock.\n"
        "\nExamples:\n"
        "  helm upgrade vault hashicorp/vault -n vault -f values.yaml\n"
        "  kubectl vault-ha upgrade --dry-run\n"
        "  kubectl vault-ha upgrade --keys-file vault-keys.json --token-file root.token --yes\n"
        "  kubectl vault-ha upgrade --image hashicorp/vault:1.21.3\n",
    .options = upgrade_options,
    .flags = CMD_DESTRUCTIVE | CMD_NO_ARGS,
    .exec = cmd_upgrade_exec,
};
