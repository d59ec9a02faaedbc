/* peers (alias list-peers): the raft peers, mapped to pods by address (node
 * ids are UUIDs with the chart's defaults, docs/vault-cli.md §4.1). Also step-down and
 * remove-peer, the runbook's leader-loss verbs, which need the same token and
 * peer lookup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ops.h"
#include "output.h"
#include "secret.h"
#include "vault.h"

/* Runs a token-bearing CLI command in pod. On success (exit 0) call holds the
 * output (caller clears it); else the failure is reported, naming what and,
 * for "permission denied", denied_hint, and -1 is returned. */
static int run_with_token(struct cmd_context *ctx, struct ops *o, const char *pod,
                          const struct secret *token, const char *const *args, const char *what,
                          const char *denied_hint, struct vault_call *c)
{
    struct error err = {0};
    memset(c, 0, sizeof *c);
    c->pod = pod;
    if (vault_run_cli(o->kube, o->vc, c, token, args, what, denied_hint, &err) < 0) {
        cmd_report(ctx, &err);
        vault_call_clear(c);
        return -1;
    }
    return 0;
}

/* Opens the cluster, gets a token and reads the peers from the active pod
 * (waiting for a leader election when one is under way). Returns 0 or an
 * exit code. */
static int load_peers(struct cmd_context *ctx, const struct cmd_args *args, struct ops *o,
                      struct pod_view **views, struct secret *token, struct vault_peers *peers,
                      char *pod, size_t pod_cap)
{
    struct error err = {0};
    int open_rc = cmd_open_cluster(ctx, o, views);
    if (open_rc != EXIT_OK)
        return open_rc;
    int rc = cmd_need_active(ctx, o, views, pod, pod_cap);
    if (rc != 0)
        return rc;
    int got = 0, token_rc = cmd_get_token(ctx, args, o->vc, 1, 1, token, &got);
    if (token_rc != EXIT_OK)
        return token_rc;
    const char *list[] = {o->vc->cli, "operator", "raft", "list-peers", "-format=json", NULL};
    struct vault_call c;
    if (run_with_token(ctx, o, pod, token, list, "list-peers",
                       " (the token is wrong or lacks read on sys/storage/raft/configuration)",
                       &c) < 0)
        return EXIT_ERROR;
    if (vault_parse_peers(c.out, c.out_len, peers, &err) < 0) {
        cmd_report(ctx, &err);
        rc = EXIT_ERROR;
    }
    vault_call_clear(&c);
    return rc;
}

static int cmd_peers_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    struct ops o;
    struct pod_view *views = NULL;
    struct secret token = {0};
    struct vault_peers peers = {0};
    char pod[256] = "";
    int rc = load_peers(ctx, args, &o, &views, &token, &peers, pod, sizeof pod);
    secret_free(&token);
    if (rc == 0) {
        json_t *doc = json_array();
        const char *headers[] = {"NODE ID", "POD", "ADDRESS", "STATE", "VOTER"};
        struct table *t = table_new(5, headers);
        for (size_t i = 0; i < peers.n; i++) {
            const struct vault_peer *p = &peers.items[i];
            struct vault_pod *pp = cluster_pod_for_address(o.vc, p->address);
            const char *state = p->leader ? "leader" : "follower";
            const char *cells[] = {p->node_id, pp ? pp->name : "(no pod)", p->address, state,
                                   p->voter ? "true" : "false"};
            int row = table_add_row(t, cells);
            if (row >= 0 && pp == NULL)
                table_set_color(t, (size_t)row, 1, COLOR_RED);
            json_array_append_new(doc,
                                  json_pack("{s:s?, s:s?, s:s?, s:b, s:b}", "nodeId", p->node_id,
                                            "pod", pp ? pp->name : NULL, "address", p->address,
                                            "leader", p->leader, "voter", p->voter));
        }
        if (ctx->g->output == OUTPUT_JSON || ctx->g->output == OUTPUT_YAML) {
            rc = cmd_print_document(ctx, NULL, doc);
        } else {
            char *s = table_render(t, ctx->color);
            if (s != NULL) /* a table's cells are sanitized: its colours may pass */
                fputs(s, ctx->out_raw);
            free(s);
            json_decref(doc);
        }
        table_free(t);
        vault_peers_clear(&peers);
    }
    cmd_close_cluster(&o, views);
    return rc;
}

static int cmd_step_down_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    struct ops o;
    struct pod_view *views = NULL;
    struct secret token = {0};
    struct error err = {0};
    int rc = EXIT_ERROR;
    int open_rc = cmd_open_cluster(ctx, &o, &views);
    if (open_rc != EXIT_OK)
        return open_rc;
    char active[256];
    if ((rc = cmd_need_active(ctx, &o, &views, active, sizeof active)) != 0)
        goto out;
    rc = EXIT_ERROR;
    int got = 0, token_rc = cmd_get_token(ctx, args, o.vc, 1, 1, &token, &got);
    if (token_rc != EXIT_OK) {
        rc = token_rc;
        goto out;
    }
    if (ops_step_down(&o, &token, active, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    char old[256];
    snprintf(old, sizeof old, "%s", active);
    fprintf(ctx->err, "%s stepped down.\n", old);
    char now_active[256];
    if (ops_wait_active(&o, old, now_active, sizeof now_active, &err) < 0) {
        cmd_report(ctx, &err);
        goto out;
    }
    fprintf(ctx->out, "%s is active now (was %s).\n", now_active, old);
    rc = EXIT_OK;
out:
    secret_free(&token);
    cmd_close_cluster(&o, views);
    return rc;
}

static int cmd_remove_peer_exec(struct cmd_context *ctx, const struct cmd_args *args)
{
    if (args->argc != 1) {
        cmd_errorf(ctx, "remove-peer takes one POD, ORDINAL or NODE_ID\n");
        return EXIT_USAGE;
    }
    struct ops o;
    struct pod_view *views = NULL;
    struct secret token = {0};
    struct vault_peers peers = {0};
    char pod[256] = "";
    int rc = load_peers(ctx, args, &o, &views, &token, &peers, pod, sizeof pod);
    if (rc != 0)
        goto out;
    rc = EXIT_ERROR;
    const char *want = args->argv[0];
    struct vault_pod *wp = cluster_find_pod(o.vc, want);
    const struct vault_peer *target = NULL;
    for (size_t i = 0; i < peers.n && target == NULL; i++) {
        const struct vault_peer *p = &peers.items[i];
        struct vault_pod *pp = cluster_pod_for_address(o.vc, p->address);
        if ((p->node_id != NULL && strcmp(p->node_id, want) == 0) || (wp != NULL && pp == wp))
            target = p;
    }
    if (target == NULL) {
        /* Vault itself would "succeed" silently for an unknown id (docs/vault-cli.md §4.4). */
        cmd_errorf(ctx, "\"%s\" is not a raft peer; peers:", want);
        for (size_t i = 0; i < peers.n; i++) {
            struct vault_pod *pp = cluster_pod_for_address(o.vc, peers.items[i].address);
            fprintf(ctx->err, "%s %s (%s)", i ? "," : "", peers.items[i].node_id,
                    pp ? pp->name : "no pod");
        }
        fputc('\n', ctx->err);
        goto out;
    }
    struct vault_pod *tp = cluster_pod_for_address(o.vc, target->address);
    if (target->leader) {
        cmd_errorf(ctx, "%s is the raft leader: step it down first (%s step-down)\n",
                   target->node_id, ctx->prog);
        goto out;
    }
    /* Quorum of the live voters after the removal. */
    int voters = 0, live = 0;
    for (size_t i = 0; i < peers.n; i++) {
        if (!peers.items[i].voter)
            continue;
        voters++;
        struct vault_pod *pp = cluster_pod_for_address(o.vc, peers.items[i].address);
        if (pp != NULL) {
            const struct pod_view *v = &views[pp - o.vc->pods];
            live += v->have_status && !v->st.sealed;
        }
    }
    int target_live =
        tp != NULL && views[tp - o.vc->pods].have_status && !views[tp - o.vc->pods].st.sealed;
    int after_voters = voters - (target->voter ? 1 : 0);
    int after_live = live - (target->voter && target_live ? 1 : 0);
    int after_quorum = after_voters / 2 + 1;
    if (after_live < after_quorum) {
        cmd_errorf(ctx,
                   "removing %s would leave %d live voter%s of %d, below the quorum of %d: "
                   "refusing\n",
                   target->node_id, after_live, after_live == 1 ? "" : "s", after_voters,
                   after_quorum);
        goto out;
    }
    char question[512];
    snprintf(question, sizeof question, "Remove raft peer %s (%s, %s) from the cluster?",
             target->node_id, tp ? tp->name : "no pod", target->address);
    if (!cmd_confirm(ctx, args, question))
        goto out;
    const char *rm[] = {o.vc->cli, "operator", "raft", "remove-peer", target->node_id, NULL};
    struct vault_call c;
    if (run_with_token(ctx, &o, pod, &token, rm, "remove-peer",
                       " (remove-peer needs update on sys/storage/raft/remove-peer)", &c) < 0)
        goto out;
    vault_call_clear(&c);
    fprintf(ctx->out, "Removed raft peer %s (%s).\n", target->node_id,
            tp ? tp->name : target->address);
    if (tp != NULL)
        fprintf(ctx->err,
                "Before %s rejoins, its raft data must be wiped (its PVC data-%s), then "
                "`%s join %s`.\n",
                tp->name, tp->name, ctx->prog, tp->name);
    rc = EXIT_OK;
out:
    vault_peers_clear(&peers);
    secret_free(&token);
    cmd_close_cluster(&o, views);
    return rc;
}

static const struct cmd_option token_options[] = {
    {"token-file", 0, OPT_STRING, "FILE", "Vault token (else VAULT_TOKEN, else asked)", "@files"},
    {0},
};

static const struct cmd_option remove_options[] = {
    {"token-file", 0, OPT_STRING, "FILE", "Vault token (else VAULT_TOKEN, else asked)", "@files"},
    {"yes", 0, OPT_FLAG, NULL, "do not ask for confirmation", NULL},
    {0},
};

const struct cmd_entry cmd_peers_entry = {
    .name = "peers",
    .alias = "list-peers",
    .summary = "List the raft peers with their pods, leader and voters",
    .usage = "[--token-file FILE]",
    .help = "Reads the raft configuration from the active node and maps each peer to its pod\n"
            "by address (node ids are random UUIDs unless setNodeId is on). A peer without a\n"
            "pod is a dead voter: remove it with remove-peer. Needs a Vault token.\n"
            "\nExamples:\n"
            "  VAULT_TOKEN=... kubectl vault-ha peers\n"
            "  kubectl vault-ha list-peers --token-file root.token -o json\n",
    .options = token_options,
    .flags = CMD_NEEDS_TOKEN | CMD_NO_ARGS,
    .exec = cmd_peers_exec,
};

const struct cmd_entry cmd_step_down_entry = {
    .name = "step-down",
    .summary = "Make the active node step down and wait for a new active node",
    .usage = "[--token-file FILE]",
    .help = "Asks the active node to step down (it will not compete again for 10 s) and waits\n"
            "until another pod reports itself active. Needs a root or sudo token.\n"
            "\nExamples:\n"
            "  VAULT_TOKEN=... kubectl vault-ha step-down\n",
    .options = token_options,
    .flags = CMD_NEEDS_TOKEN | CMD_NO_ARGS,
    .exec = cmd_step_down_exec,
};

const struct cmd_entry cmd_remove_peer_entry = {
    .name = "remove-peer",
    .summary = "Remove a raft peer (by pod, ordinal or node id), keeping quorum",
    .usage = "POD|ORDINAL|NODE_ID [--yes] [--token-file FILE]",
    .help = "Removes one raft peer. Refuses a name that is not a peer (Vault would report\n"
            "success for it), the leader, and a removal that would leave the live voters\n"
            "below quorum. Asks for confirmation on a terminal; --yes otherwise.\n"
            "\nExamples:\n"
            "  kubectl vault-ha remove-peer vault-2\n"
            "  kubectl vault-ha remove-peer 3f2a9c1e-... --yes --token-file root.token\n",
    .options = remove_options,
    .args_complete = "@pods",
    .flags = CMD_NEEDS_TOKEN | CMD_DESTRUCTIVE,
    .exec = cmd_remove_peer_exec,
};
