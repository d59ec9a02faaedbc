/* recover: a cluster that lost quorum, back to a working one with peers.json
 * (lib/recover). Diagnose (refuse while quorum holds), plan (peers.json from
 * the survivors, the steps; --dry-run stops there), confirm by typing the
 * StatefulSet's name, apply step by step, each step skipping what is done
 * already, so that running it again resumes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "lease.h"
#include "ops.h"
#include "recover.h"
#include "secret.h"
#include "text.h"

static const char *member_name(const struct vault_cluster *vc, const struct recover_member *m,
                               char *buf, size_t cap)
{
    if (m->pod >= 0)
        return vc->pods[m->pod].name;
    /* An old entry of a pod listed under another address: its whole host tells them apart. */
    snprintf(buf, cap, "%.*s", (int)strcspn(m->server.address, m->same_pod_as >= 0 ? ":" : ".:"),
             m->server.address);
    return buf;
}

static void print_diagnosis(struct cmd_context *ctx, const struct vault_cluster *vc,
                            const struct recover_plan *p)
{
    FILE *o = ctx->out;
    fprintf(o, "Raft configuration (%s): %d voter%s, a quorum needs %d\n", p->source, p->voters,
            p->voters == 1 ? "" : "s", p->quorum);
    for (size_t i = 0; i < p->n; i++) {
        const struct recover_member *m = &p->members[i];
        char nb[64];
        fprintf(o, "  %-10s %-9s %-38s %-34s %s", member_name(vc, m, nb, sizeof nb),
                m->server.voter ? "voter" : "non-voter",
                m->survivor ? m->local_id : (m->server.id[0] ? m->server.id : "?"),
                m->server.address, m->state);
        if (m->survivor)
            m->index >= 0 ? fprintf(o, ", raft index %lld", m->index)
                          : fprintf(o, ", raft index unknown until unsealed");
        fputc('\n', o);
    }
    if (p->extra[0])
        fprintf(o, "Not in this configuration (left out): %s\n", p->extra);
    if (p->verdict != RECOVER_GO)
        return;
    fprintf(o, "Quorum is lost: %d of %d voter%s survive%s.\n", p->survivors, p->voters,
            p->voters == 1 ? "" : "s", p->survivors == 1 ? "s" : "");
    if (p->best >= 0)
        fprintf(o, "Most up-to-date survivor: %s (raft index %lld).\n",
                vc->pods[p->members[p->best].pod].name, p->members[p->best].index);
}

/* "vault-0, vault-1" of the members that match. */
static void names_of(const struct vault_cluster *vc, const struct recover_plan *p, int survivors,
                     int unsealed_only, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < p->n; i++) {
        const struct recover_member *m = &p->members[i];
        if (m->survivor != survivors || (unsealed_only && !m->unsealed))
            continue;
        char nb[64];
        size_t l = strlen(buf);
        snprintf(buf + l, cap - l, "%s%s", l ? ", " : "", member_name(vc, m, nb, sizeof nb));
    }
}

static void print_plan(struct cmd_context *ctx, const struct vault_cluster *vc,
                       const struct recover_plan *p)
{
    FILE *o = ctx->out;
    char surv[512], restart[512], lost[512];
    names_of(vc, p, 1, 0, surv, sizeof surv);
    names_of(vc, p, 1, 1, restart, sizeof restart);
    names_of(vc, p, 0, 0, lost, sizeof lost);
    int in_place = 1;
    for (size_t i = 0; i < p->n; i++)
        if (p->members[i].survivor && p->members[i].peers_state != 2)
            in_place = 0;
    fprintf(o, "\nPlan: recover the raft configuration to the survivor%s %s.\n",
            p->survivors == 1 ? "" : "s", surv);
    fprintf(o, "peers.json for %s/raft/peers.json:\n%s", vc->data_dir, p->peers_json);
    fprintf(o, "Steps:\n");
    fprintf(o,
            "  1. write peers.json on %s (through exec stdin, a temp file renamed into place, as "
            "the vault user) and read it back%s\n",
            surv, in_place ? " (in place already)" : "");
    if (restart[0])
        fprintf(o,
                "  2. restart %s (delete the pod%s; the StatefulSet recreates it on the same "
                "volume): raft reads peers.json only when it starts\n",
                restart, strchr(restart, ',') ? "s" : "");
    else
        fprintf(o, "  2. no restart: sealed survivors read peers.json at their next unseal\n");
    fprintf(o,
            "  3. unseal %s (keys asked once): Vault recovers the configuration from peers.json "
            "and deletes the file\n",
            surv);
    fprintf(o, "  4. wait for a leader and a healthy raft with %s as voter%s\n", surv,
            p->survivors == 1 ? "" : "s");
    fprintf(o, "  5. check that peers.json is gone from %s\n", surv);
    fprintf(o,
            "  6. say what the lost pods (%s) need: nothing is done to them, no PVC is deleted\n",
            lost[0] ? lost : "none");
}

/* What a lost member needs, with the exact commands. */
static void print_lost(struct cmd_context *ctx, const struct vault_cluster *vc,
                       const struct pod_view *views, const struct recover_plan *p)
{
    FILE *o = ctx->out;
    int any = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct recover_member *m = &p->members[i];
        if (m->survivor)
            continue;
        if (!any)
            fprintf(o, "\nThe lost pods (nothing was done to them):\n");
        any = 1;
        char nb[64];
        const char *name = member_name(vc, m, nb, sizeof nb);
        const char *ns = vc->namespace;
        if (m->same_pod_as >= 0) {
            fprintf(o,
                    "  %s: an old entry of %s: nothing to do, it is out of the raft "
                    "configuration now\n",
                    name, vc->pods[p->members[m->same_pod_as].pod].name);
            continue;
        }
        if (m->pod < 0 || vc->pods[m->pod].ordinal >= vc->replicas) {
            fprintf(o,
                    "  %s: not a pod of StatefulSet %s: nothing to do, it is out of the raft "
                    "configuration now\n",
                    name, vc->name);
            continue;
        }
        const struct vault_pod *pod = &vc->pods[m->pod];
        const struct pod_view *v = &views[m->pod];
        char wipe[512];
        snprintf(wipe, sizeof wipe,
                 "kubectl -n %s delete pvc data-%s --wait=false && kubectl -n %s delete pod %s", ns,
                 name, ns, name);
        if (pod->exists && pod->running && v->have_status && !v->st.initialized)
            fprintf(o, "  %s: runs with empty storage: join it: %s join %s\n", name, ctx->prog,
                    name);
        else if (pod->exists && pod->running && v->have_status)
            fprintf(o,
                    "  %s: runs with the data of the old configuration: remove its data first "
                    "(%s), then join it: %s join %s\n",
                    name, wipe, ctx->prog, name);
        else
            fprintf(o,
                    "  %s: %s. When it runs again with a new, empty volume, join it: %s join %s; "
                    "if it comes back with its old volume, that data belongs to the old "
                    "configuration: remove it first (%s), then join it\n",
                    name, strncmp(m->state, "lost: ", 6) == 0 ? m->state + 6 : m->state, ctx->prog,
                    name, wipe);
    }
}

/* Every member's state after a failed write, so the user knows where things stand. */
static void print_states(struct cmd_context *ctx, const struct vault_cluster *vc,
                         const struct recover_plan *p, const struct recover_step *steps,
                         size_t nsteps, const struct recover_step *undo)
{
    fprintf(ctx->err, "State of the pods:\n");
    for (size_t i = 0; i < p->n; i++) {
        const struct recover_member *m = &p->members[i];
        char nb[64];
        const char *name = member_name(vc, m, nb, sizeof nb);
        if (!m->survivor) {
            fprintf(ctx->err, "  %s: %s\n", name, m->state);
            continue;
        }
        for (size_t k = 0; k < nsteps; k++) {
            if (strcmp(steps[k].pod, name) != 0)
                continue;
            const char *sealed = m->unsealed ? "unsealed standby" : "sealed";
            if (!steps[k].ok)
                fprintf(ctx->err, "  %s: %s, unchanged: peers.json not written (%s)\n", name,
                        sealed, steps[k].detail);
            else if (undo[k].ok)
                fprintf(ctx->err, "  %s: %s, unchanged: peers.json written, then removed again\n",
                        name, sealed);
            else
                fprintf(ctx->err,
                        "  %s: %s, peers.json IS IN PLACE and could not be removed (%s): it "
                        "takes effect at its next unseal\n",
                        name, sealed, undo[k].detail);
        }
    }
}

/* Reads the cluster again and judges it, the pods in restarted counting as
 * the survivors they were. 0 when the plan still holds (*plan is then the new
 * judgement, indexed like the new reading), else -1 with what changed in what. */
static int judge_again(struct cmd_context *ctx, struct ops *o, struct pod_view **views,
                       struct recover_plan *plan, const char *const *restarted, size_t nr,
                       char *what, size_t cap)
{
    struct error err = {0};
    struct recover_facts *facts = NULL;
    struct recover_plan *now = calloc(1, sizeof *now);
    int rc = -1;
    if (now == NULL || ops_refresh(o, views, &err) < 0 ||
        (facts = calloc(o->vc->npods + 1, sizeof *facts)) == NULL ||
        recover_gather(ctx->kube, o->vc, facts, &err) < 0) {
        snprintf(what, cap, "the cluster could not be read again: %s",
                 err.msg[0] ? err.msg : "out of memory");
        goto out;
    }
    recover_mark_restarted(o->vc, facts, plan, restarted, nr);
    recover_judge(o->vc, *views, facts, ctx->prog, now);
    if (recover_plan_changed(plan, now, what, cap) == 0) {
        recover_plan_clear(plan);
        *plan = *now;
        now->peers_json = NULL; /* moved into plan */
        rc = 0;
    }
out:
    if (facts != NULL)
        recover_facts_clear(facts, o->vc->npods);
    free(facts);
    if (now != NULL)
        recover_plan_clear(now);
    free(now);
    return rc;
}

static void report_change(struct cmd_context *ctx, const char *when, const char *what)
{
    char clean[ERROR_MSG_MAX + 64];
    text_sanitize(clean, sizeof clean, what, strlen(what));
    cmd_errorf(ctx, "the cluster changed %s: %s\n", when, clean);
}

/* A change seen after peers.json was written: take it back from every
 * survivor (a restarted one too: it has not read it while sealed), and say
 * where things stand. */
static void undo_after_change(struct cmd_context *ctx, const struct vault_cluster *vc,
                              const struct recover_step *steps, size_t ns,
                              const char *const *restarted, size_t nr)
{
    struct recover_step undo[RECOVER_SERVERS_MAX];
    memcpy(undo, steps, ns * sizeof *undo);
    recover_remove_peers(ctx->kube, vc, undo, ns);
    char done[512] = "";
    for (size_t i = 0; i < nr; i++)
        text_appendf(done, sizeof done, NULL, "%s%s", i ? ", " : "", restarted[i]);
    fprintf(ctx->err, "Done so far: peers.json was written on %zu pod%s; restarted: %s.\n", ns,
            ns == 1 ? "" : "s", nr ? done : "none");
    for (size_t i = 0; i < ns; i++)
        if (undo[i].ok)
            fprintf(ctx->err, "  %s: peers.json removed again\n", undo[i].pod);
        else
            fprintf(ctx->err,
                    "  %s: peers.json IS IN PLACE and could not be removed (%s): remove %s/raft/"
                    "peers.json before this pod is unsealed\n",
                    undo[i].pod, undo[i].detail, vc->data_dir);
    cmd_errorf(ctx, "recover stopped: run `%s recover --dry-run` for the new diagnosis%s%s%s\n",
               ctx->prog, nr ? "; the restarted pods come back sealed: `" : "", nr ? ctx->prog : "",
               nr ? " unseal` unseals them" : "");
}

static int apply(struct cmd_context *ctx, struct ops *o, const struct cmd_args *args,
                 struct recover_plan *p, struct pod_view **views, struct lease_lock *lock)
{
    struct error lock_err = {0};
    struct vault_cluster *vc = o->vc;
    struct secret_list keys = {0};
    struct secret token = {0};
    struct recover_step steps[RECOVER_SERVERS_MAX], undo[RECOVER_SERVERS_MAX];
    char *names[RECOVER_SERVERS_MAX];
    size_t ns = 0;
    int threshold = 0, rc = EXIT_ERROR;
    memset(steps, 0, sizeof steps);
    memset(undo, 0, sizeof undo);
    for (size_t i = 0; i < p->n; i++)
        if (p->members[i].survivor) {
            names[ns] = strdup(vc->pods[p->members[i].pod].name);
            steps[ns].pod = undo[ns].pod = names[ns];
            const struct pod_view *v = &(*views)[p->members[i].pod];
            if (v->st.t > threshold)
                threshold = v->st.t;
            ns++;
        }
    for (size_t i = 0; i < ns; i++)
        if (names[i] == NULL)
            goto out;
    /* Everything we need from the user comes before the first change. */
    if ((rc = cmd_get_keys(ctx, args, threshold, &keys)) != 0)
        goto out;
    int got = 0, token_rc = cmd_get_token(ctx, args, vc, 1, 1, &token, &got);
    if (token_rc != EXIT_OK) {
        rc = token_rc;
        goto out;
    }
    rc = EXIT_ERROR;
    /* The prompts can wait for hours: lost voters may be back, and a quorum of
     * the old configuration with them. Judge again before the first change. */
    char what[ERROR_MSG_MAX + 64];
    if (cmd_interrupted) { /* SIGTERM or SIGHUP while the prompts waited */
        cmd_errorf(ctx, "interrupted: nothing was written\n");
        rc = EXIT_INTERRUPTED;
        goto out;
    }
    /* The lock too may have been taken over meanwhile (--force-unlock after a long stop). */
    if (lease_check(lock, &lock_err) < 0) {
        cmd_report(ctx, &lock_err);
        cmd_errorf(ctx, "nothing was written\n");
        goto out;
    }
    if (judge_again(ctx, o, views, p, NULL, 0, what, sizeof what) < 0) {
        report_change(ctx, "while recover waited", what);
        cmd_errorf(ctx,
                   "nothing was written: run `%s recover --dry-run` for the new "
                   "diagnosis\n",
                   ctx->prog);
        goto out;
    }
    vc = o->vc;
    /* 1. peers.json on every survivor, or on none. */
    recover_write_peers(ctx->kube, vc, p->peers_json, steps, ns);
    size_t failed = 0;
    for (size_t i = 0; i < ns; i++) {
        if (steps[i].ok)
            fprintf(ctx->err, "%s: peers.json written and read back\n", steps[i].pod);
        else
            fprintf(ctx->err, "%s: %s/raft/peers.json: %s\n", steps[i].pod, vc->data_dir,
                    steps[i].detail);
        failed += !steps[i].ok;
    }
    if (failed > 0) {
        /* A peers.json left behind would shrink the configuration at that pod's next
         * unseal, whoever unseals it: undo the writes that worked. */
        size_t nu = 0;
        struct recover_step redo[RECOVER_SERVERS_MAX];
        for (size_t i = 0; i < ns; i++)
            if (steps[i].ok)
                redo[nu++] = steps[i];
        recover_remove_peers(ctx->kube, vc, redo, nu);
        for (size_t i = 0, k = 0; i < ns; i++)
            if (steps[i].ok)
                undo[i] = redo[k++];
        print_states(ctx, vc, p, steps, ns, undo);
        cmd_errorf(ctx,
                   "recover stopped before any pod was restarted: fix the pod%s above and run "
                   "`%s recover` again\n",
                   failed == 1 ? "" : "s", ctx->prog);
        goto out;
    }
    /* 2. Restart the survivors whose raft runs already: it reads peers.json when it starts. */
    struct recover_step del[RECOVER_SERVERS_MAX];
    size_t nd = 0;
    for (size_t i = 0, k = 0; i < p->n; i++)
        if (p->members[i].survivor) {
            if (p->members[i].unsealed)
                del[nd++] = steps[k];
            k++;
        }
    const char *restarted[RECOVER_SERVERS_MAX];
    for (size_t i = 0; i < nd; i++) {
        /* Each deletion is a change of its own: the lock and the judgement again. */
        if (cmd_interrupted) {
            cmd_errorf(ctx, "interrupted before %s was restarted\n", del[i].pod);
            undo_after_change(ctx, o->vc, steps, ns, restarted, i);
            rc = EXIT_INTERRUPTED;
            goto out;
        }
        if (lease_check(lock, &lock_err) < 0) {
            cmd_report(ctx, &lock_err);
            undo_after_change(ctx, o->vc, steps, ns, restarted, i);
            goto out;
        }
        if (judge_again(ctx, o, views, p, restarted, i, what, sizeof what) < 0) {
            char when[300];
            snprintf(when, sizeof when, "before %s was restarted", del[i].pod);
            report_change(ctx, when, what);
            undo_after_change(ctx, o->vc, steps, ns, restarted, i);
            goto out;
        }
        recover_delete_pods(ctx->kube, o->vc, &del[i], 1);
        if (!del[i].ok) {
            cmd_errorf(ctx,
                       "%s: could not delete the pod (%s): peers.json is in place and takes "
                       "effect when it restarts; run `%s recover` again\n",
                       del[i].pod, del[i].detail, ctx->prog);
            goto out;
        }
        fprintf(ctx->err, "%s: deleted, the StatefulSet recreates it\n", del[i].pod);
        restarted[i] = del[i].pod;
    }
    vc = o->vc;
    /* 3. and 4. Running, unsealed (Vault recovers), a leader, healthy voters. */
    o->members = (const char *const *)names;
    o->nmembers = ns;
    struct bring_up b = {.keys = &keys,
                         .token = &token,
                         .pods = (const char *const *)names,
                         .npods = ns,
                         .wait_running = 1};
    if ((rc = cmd_bring_up(ctx, o, &b)) != EXIT_OK)
        goto out;
    rc = EXIT_ERROR;
    /* 5. Vault deletes peers.json once it has recovered from it. */
    recover_check_gone(ctx->kube, vc, steps, ns);
    int left = 0;
    for (size_t i = 0; i < ns; i++) {
        if (steps[i].ok)
            fprintf(ctx->err, "%s: peers.json is gone (Vault recovered from it)\n", steps[i].pod);
        else
            fprintf(ctx->err, "%s: %s\n", steps[i].pod, steps[i].detail);
        left += !steps[i].ok;
    }
    if (left > 0) {
        cmd_errorf(ctx,
                   "peers.json was not consumed: check the pod's log (kubectl -n %s logs %s) "
                   "for `raft recovery`\n",
                   vc->namespace, steps[0].pod);
        goto out;
    }
    struct error err = {0};
    if (ops_refresh(o, views, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    vc = o->vc;
    char active[256] = "", surv[512];
    long ai = vault_active_index(*views, vc->npods);
    if (ai >= 0)
        snprintf(active, sizeof active, "%s", vc->pods[ai].name);
    names_of(vc, p, 1, 0, surv, sizeof surv);
    fprintf(ctx->out, "\nRecovered: %s is active; the raft configuration is %s.\n",
            active[0] ? active : "no pod", surv);
    print_lost(ctx, vc, *views, p);
    rc = EXIT_OK;
out:
    o->members = NULL;
    o->nmembers = 0;
    for (size_t i = 0; i < ns; i++)
        free(names[i]);
    secret_list_free(&keys);
    secret_free(&token);
    return rc;
}

static int cmd_recover_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    struct ops o;
    struct pod_view *views = NULL;
    int open_rc = cmd_open_cluster(ctx, &o, &views);
    if (open_rc != EXIT_OK)
        return open_rc;
    struct vault_cluster *vc = o.vc;
    struct recover_facts *facts = calloc(vc->npods + 1, sizeof *facts);
    struct recover_plan *plan = calloc(1, sizeof *plan);
    struct error err = {0};
    int rc = EXIT_ERROR;
    struct lease_lock *lock = NULL;
    if (facts == NULL || plan == NULL)
        goto out;
    int lock_rc =
        !cmd_opt_flag(args, "dry-run") ? cmd_lock(ctx, args, vc, "recover", &lock) : EXIT_OK;
    if (lock_rc != EXIT_OK) {
        rc = lock_rc;
        goto out;
    }
    recover_read_server_config(ctx->kube, vc);
    if (recover_gather(ctx->kube, vc, facts, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    recover_judge(vc, views, facts, ctx->prog, plan);
    if (plan->verdict == RECOVER_ACTIVE) {
        cmd_errorf(ctx, "%s\n", plan->why);
        goto out;
    }
    print_diagnosis(ctx, vc, plan);
    if (plan->verdict != RECOVER_GO) {
        fflush(ctx->out);
        cmd_errorf(ctx, "%s\n", plan->why);
        goto out;
    }
    print_plan(ctx, vc, plan);
    if (cmd_opt_flag(args, "dry-run")) {
        fprintf(ctx->out, "\nDry run: nothing was changed.\n");
        rc = EXIT_OK;
        goto out;
    }
    fflush(ctx->out);
    char what[300];
    snprintf(what, sizeof what, "Writing the raft configuration of %s/%s", vc->namespace, vc->name);
    if (!cmd_confirm_typed(ctx, args, what, vc->name))
        goto out;
    rc = apply(ctx, &o, args, plan, &views, lock);
out:
    cmd_unlock(ctx, lock);
    if (facts != NULL)
        recover_facts_clear(facts, vc->npods);
    free(facts);
    if (plan != NULL)
        recover_plan_clear(plan);
    free(plan);
    cmd_close_cluster(&o, views);
    return rc;
}

static const struct cmd_option recover_options[] = {
    {"dry-run", 0, OPT_FLAG, NULL, "show the diagnosis and the plan, change nothing", NULL},
    {"yes", 0, OPT_FLAG, NULL, "do not ask for the StatefulSet's name", NULL},
    {"keys-file", 0, OPT_STRING, "FILE", "unseal keys for the survivors; - = standard input",
     "@files"},
    {"token-file", 0, OPT_STRING, "FILE",
     "Vault token to check the recovered raft (else VAULT_TOKEN, else asked)", "@files"},
    CMD_FORCE_UNLOCK_OPTION,
    {0},
};

const struct cmd_entry cmd_recover_entry = {
    .name = "recover",
    .summary = "Bring a cluster that lost quorum back, from its surviving pods (peers.json)",
    .usage = "[--dry-run] [--yes] [--keys-file FILE|-] [--token-file FILE] [--force-unlock]",
    .help = "When most raft voters are gone (their pods, nodes or volumes lost), no leader can\n"
            "be elected, whatever is unsealed. recover shows the last raft configuration, which\n"
            "voters survive (a running pod with its data) and which are gone, each survivor's\n"
            "node id and raft index; then the plan: peers.json listing the survivors only,\n"
            "written into each survivor's raft folder, the survivors restarted and unsealed,\n"
            "and a leader and a healthy raft waited for. It refuses while a node is active or\n"
            "a quorum of voters still runs with its data. Writing a raft configuration cannot\n"
            "be undone: it asks for the StatefulSet's name to be typed (--yes skips that).\n"
            "It never deletes a PVC: it prints the commands the lost pods need.\n"
            "\nExamples:\n"
            "  kubectl vault-ha recover --dry-run\n"
            "  kubectl vault-ha recover --keys-file vault-keys.json --token-file root.token\n",
    .options = recover_options,
    .flags = CMD_DESTRUCTIVE | CMD_NO_ARGS,
    .exec = cmd_recover_exec,
};
