/* lib/recover, its pure part: the raft configuration in a server log, node
 * ids as hostile input, the peers.json text, and the judgement (refuse while
 * quorum holds, who survived, the plan). The exec'ing steps are covered end
 * to end (tests/e2e/test_recover.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "recover.h"

#define ID0        "7c0bec15-18af-4f32-9f2c-00df7dcc7a76"
#define ID1        "b1bc6ce0-5130-4650-b0f2-34b6bd6509fe"
#define ID2        "4c7b9856-34cf-43bf-b4d3-b941fd2a1c94"
#define SRV(id, n) "{Suffrage:Voter ID:" id " Address:vault-" #n ".vault-internal:8201}"

static const char LOG[] =
    "2026-12-02T19:05:56.963Z [INFO]  core: seal configuration missing, not initialized\n"
    "2026-12-02T19:05:56.964Z [INFO]  storage.raft: initial configuration: index=1 "
    "servers=\"[" SRV(
        ID0, 0) "]\"\n"
                "2026-12-02T19:05:57.100Z [INFO]  storage.raft: updating configuration: "
                "command=AddNonvoter "
                "server-id=" ID1 " server-addr=vault-1.vault-internal:8201 servers=\"[" SRV(
                    ID0,
                    0) " {Suffrage:Nonvoter ID:" ID1 " Address:vault-1.vault-internal:8201}]\"\n"
                       "2026-12-02T19:05:59.100Z [INFO]  storage.raft: updating configuration: "
                       "command=AddVoter "
                       "server-id=" ID2
                       " server-addr=vault-2.vault-internal:8201 servers=\"[" SRV(ID0, 0) " " SRV(
                           ID1, 1) " " SRV(ID2, 2) "]\"\n"
                                                   "2026-12-02T19:06:00.000Z [INFO]  core: "
                                                   "acquired lock, enabling active operation\n";

static void test_config_from_log(void **state)
{
    (void)state;
    struct raft_config cfg;
    assert_int_equal(recover_config_from_log(LOG, strlen(LOG), &cfg), 1);
    assert_int_equal(cfg.n, 3);
    assert_string_equal(cfg.stamp, "2026-12-02T19:05:59.100Z");
    assert_string_equal(cfg.servers[1].id, ID1);
    assert_string_equal(cfg.servers[2].address, "vault-2.vault-internal:8201");
    assert_true(cfg.servers[0].voter && cfg.servers[1].voter);
    /* a follower that joined prints an empty configuration: nothing known */
    const char *joined = "2026-12-02T19:05:56.964Z [INFO]  storage.raft: initial configuration: "
                         "index=0 servers=[]\n";
    assert_int_equal(recover_config_from_log(joined, strlen(joined), &cfg), 0);
    /* a recovery's line; a non-voter; the last line wins */
    const char *rec =
        "2026-12-02T19:06:04.876Z [INFO]  storage.raft: raft recovery found new config: "
        "config=\"{[{Voter " ID0 " vault-0.vault-internal:8201} {Nonvoter x vault-1.a:8201}]}\"\n"
        "no newline at the end, not a configuration";
    assert_int_equal(recover_config_from_log(rec, strlen(rec), &cfg), 1);
    assert_int_equal(cfg.n, 2);
    assert_false(cfg.servers[1].voter);
    assert_string_equal(cfg.servers[1].id, "x");
}

static void test_hostile_log_lines_are_skipped(void **state)
{
    (void)state;
    struct raft_config cfg;
    const char *bad[] = {
        /* an escape sequence in an id */
        ("t [INFO]  storage.raft: initial configuration: index=1 servers=\"[{Suffrage:Voter "
         "ID:a\x1b[2J Address:vault-0.vault-internal:8201}]\""),
        /* a quote inside the id, unterminated value, a bad address, a bad suffrage */
        "t initial configuration: servers=\"[{Suffrage:Voter ID:a\\\"b Address:h:1}]\"",
        "t initial configuration: servers=\"[{Suffrage:Voter ID:a Address:h:1}]",
        "t initial configuration: servers=\"[{Suffrage:Voter ID:a Address:h/x:1}]\"",
        "t initial configuration: servers=\"[{Suffrage:Boss ID:a Address:h:1}]\"",
        "t initial configuration: servers=\"[{Suffrage:Voter ID:a Address:h:1}\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(recover_config_from_log(bad[i], strlen(bad[i]), &cfg), 0);
    /* more servers than we hold */
    char *many = malloc(70 * 80 + 100);
    strcpy(many, "t initial configuration: servers=\"[");
    for (int i = 0; i < 70; i++)
        sprintf(many + strlen(many), "%s{Suffrage:Voter ID:n%d Address:h%d:1}", i ? " " : "", i, i);
    strcat(many, "]\"\n");
    assert_int_equal(recover_config_from_log(many, strlen(many), &cfg), 0);
    free(many);
}

static void test_node_ids(void **state)
{
    (void)state;
    char id[RECOVER_ID_MAX];
    assert_int_equal(recover_valid_id(" " ID0 "\n", strlen(ID0) + 2, id, sizeof id), 1);
    assert_string_equal(id, ID0);
    assert_int_equal(recover_valid_id("vault-1", 7, id, sizeof id), 1);
    assert_int_equal(recover_valid_id("", 0, id, sizeof id), 0);
    assert_int_equal(recover_valid_id("a b", 3, id, sizeof id), 0);
    assert_int_equal(recover_valid_id("a\"b", 3, id, sizeof id), 0);
    assert_int_equal(recover_valid_id("a\x1b", 2, id, sizeof id), 0);
    char longer[200];
    memset(longer, 'a', sizeof longer);
    assert_int_equal(recover_valid_id(longer, sizeof longer, id, sizeof id), 0);
}

static void test_peers_json_text(void **state)
{
    (void)state;
    struct raft_server s[2] = {{.id = ID0, .address = "vault-0.vault-internal:8201", .voter = 1},
                               {.id = "vault-1", .address = "vault-1.vault-internal:8201"}};
    char *text = recover_peers_json(s, 2);
    assert_string_equal(text,
                        "[\n  {\n    \"id\": \"" ID0 "\",\n    \"address\": "
                        "\"vault-0.vault-internal:8201\",\n    \"non_voter\": false\n  },\n"
                        "  {\n    \"id\": \"vault-1\",\n    \"address\": "
                        "\"vault-1.vault-internal:8201\",\n    \"non_voter\": false\n  }\n]\n");
    free(text);
}

/* --- judging ------------------------------------------------------------------------------ */

struct scene {
    struct vault_cluster *vc;
    struct pod_view views[3];
    struct recover_facts facts[3];
    struct recover_plan plan;
};

/* phases[i]: "Running" or "Pending"; what[i]: 'A' active, 'S' standby, 's' sealed,
 * 'u' uninitialized, '-' not running. Node ids ID0..ID2 in node-id files. */
static void scene(struct scene *s, const char *what, int with_log)
{
    memset(s, 0, sizeof *s);
    json_t *sts = json_loads(FIXTURE_STS, 0, NULL);
    struct cluster_query q = {.namespace = "vault"};
    struct error err = {0};
    assert_int_equal(cluster_from_statefulset(sts, &q, &s->vc, &err), 0);
    json_decref(sts);
    json_t *items = json_array();
    static const char *const ids[] = {ID0, ID1, ID2};
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "vault-%d", i);
        json_array_append_new(
            items, fixture_pod(name, "n0", what[i] == '-' ? "Pending" : "Running", 1, NULL, NULL));
    }
    json_t *list = json_pack("{s:o}", "items", items);
    assert_int_equal(cluster_set_pods(s->vc, list, &err), 0);
    json_decref(list);
    for (int i = 0; i < 3; i++) {
        struct pod_view *v = &s->views[i];
        struct recover_facts *f = &s->facts[i];
        f->peers_json = -1;
        snprintf(f->pvc_phase, sizeof f->pvc_phase, "Bound");
        if (what[i] == '-')
            continue;
        f->asked = 1;
        f->peers_json = 0;
        snprintf(f->file_id, sizeof f->file_id, "%s", ids[i]);
        v->have_status = 1;
        v->st.initialized = what[i] != 'u';
        v->st.sealed = what[i] == 's' || what[i] == 'u';
        v->st.is_self = what[i] == 'A';
        v->st.t = 3;
        v->st.raft_committed_index = v->st.sealed ? 0 : 40 + i;
    }
    if (with_log)
        s->facts[0].have_log_config =
            recover_config_from_log(LOG, strlen(LOG), &s->facts[0].log_config);
    recover_judge(s->vc, s->views, s->facts, "kubectl vault-ha", &s->plan);
}

static void scene_free(struct scene *s)
{
    recover_plan_clear(&s->plan);
    cluster_free(s->vc);
}

static void test_refusals(void **state)
{
    (void)state;
    struct scene s;
    scene(&s, "ASS", 1);
    assert_int_equal(s.plan.verdict, RECOVER_ACTIVE);
    assert_string_equal(s.plan.why, "quorum is not lost: vault-0 is active; see `kubectl vault-ha "
                                    "status` or `kubectl vault-ha doctor`");
    scene_free(&s);
    scene(&s, "SS-", 1);
    assert_int_equal(s.plan.verdict, RECOVER_QUORUM);
    assert_string_equal(s.plan.why, "quorum is not lost: 2 of 3 voters are running and unsealed (a "
                                    "leader election may be under way); see `kubectl vault-ha "
                                    "status` or `kubectl vault-ha doctor`");
    assert_null(s.plan.peers_json);
    scene_free(&s);
    scene(&s, "-ss", 1);
    assert_int_equal(s.plan.verdict, RECOVER_QUORUM);
    assert_true(strstr(s.plan.why, "2 of 3 voters are running with their data, 2 of them sealed: "
                                   "unseal them with `kubectl vault-ha unseal`") != NULL);
    scene_free(&s);
    scene(&s, "-u-", 0);
    assert_int_equal(s.plan.verdict, RECOVER_NO_SURVIVOR);
    assert_string_equal(s.plan.members[1].state, "lost: running with empty storage");
    scene_free(&s);
}

static void test_one_survivor(void **state)
{
    (void)state;
    struct scene s;
    scene(&s, "S--", 1);
    assert_int_equal(s.plan.verdict, RECOVER_GO);
    assert_false(s.plan.assumed);
    assert_string_equal(s.plan.source, "from vault-0's server log, 2026-12-02T19:05:59.100Z");
    assert_int_equal(s.plan.voters, 3);
    assert_int_equal(s.plan.quorum, 2);
    assert_int_equal(s.plan.survivors, 1);
    assert_int_equal(s.plan.best, 0);
    assert_int_equal(s.plan.members[0].index, 40);
    assert_true(s.plan.members[0].unsealed);
    assert_string_equal(s.plan.members[1].state, "lost: Pending (ContainerCreating)");
    char *want = recover_peers_json(&s.plan.members[0].server, 1);
    assert_string_equal(s.plan.peers_json, want);
    free(want);
    scene_free(&s);
}

static void test_assumed_and_unknown(void **state)
{
    (void)state;
    struct scene s;
    /* no log line: the StatefulSet's pods at the chart's addresses are shown, but not
     * confirmed: refused (issue 18 defect 7); a sealed survivor */
    scene(&s, "-s-", 0);
    assert_int_equal(s.plan.verdict, RECOVER_UNCONFIRMED);
    assert_string_equal(s.plan.why,
                        "no pod's server log shows the raft configuration, so its members and "
                        "addresses cannot be confirmed (recover does not assume "
                        "<pod>.vault-internal:8201): raft prints it when it starts: unseal "
                        "vault-1 (`kubectl vault-ha unseal`), then run `kubectl vault-ha recover` "
                        "again");
    assert_null(s.plan.peers_json);
    assert_true(s.plan.assumed);
    assert_string_equal(s.plan.members[1].server.address, "vault-1.vault-internal:8201");
    assert_string_equal(s.plan.members[1].server.id, ID1);
    assert_string_equal(s.plan.members[0].server.id, "");
    assert_false(s.plan.members[1].unsealed);
    assert_int_equal(s.plan.members[1].index, -1);
    assert_int_equal(s.plan.best, -1);
    scene_free(&s);
    /* only unsealed survivors: one of them restarted prints it */
    scene(&s, "S--", 0);
    assert_int_equal(s.plan.verdict, RECOVER_UNCONFIRMED);
    assert_non_null(strstr(s.plan.why, "raft prints it when it starts: restart an unsealed "
                                       "survivor (`kubectl -n vault delete pod vault-0`) and "
                                       "unseal it (`kubectl vault-ha unseal`), then run"));
    scene_free(&s);
    /* a running pod whose vault status cannot be read: cannot tell */
    scene(&s, "S-S", 1);
    assert_int_equal(s.plan.verdict, RECOVER_QUORUM);
    scene_free(&s);
    scene(&s, "S--", 1);
    s.views[0].have_status = 0;
    recover_plan_clear(&s.plan);
    recover_judge(s.vc, s.views, s.facts, "kubectl vault-ha", &s.plan);
    assert_int_equal(s.plan.verdict, RECOVER_UNKNOWN);
    assert_string_equal(s.plan.why,
                        "cannot tell whether quorum is lost: vault-0 could not be read; "
                        "see `kubectl vault-ha status`");
    scene_free(&s);
    /* the environment's id wins over the node-id file, as in Vault */
    scene(&s, "S--", 1);
    snprintf(s.facts[0].env_id, sizeof s.facts[0].env_id, "vault-0");
    recover_plan_clear(&s.plan);
    recover_judge(s.vc, s.views, s.facts, "kubectl vault-ha", &s.plan);
    assert_string_equal(s.plan.members[0].local_id, "vault-0");
    assert_true(strstr(s.plan.peers_json, "\"id\": \"vault-0\"") != NULL);
    scene_free(&s);
}

/* The scene's judgement again, with the configuration of one log line. */
static void rejudge_with_servers(struct scene *s, const char *servers)
{
    char line[2048];
    snprintf(line, sizeof line,
             "2026-12-02T19:07:00.000Z [INFO]  storage.raft: initial configuration: index=9 "
             "servers=\"[%s]\"\n",
             servers);
    assert_int_equal(recover_config_from_log(line, strlen(line), &s->facts[0].log_config), 1);
    s->facts[0].have_log_config = 1;
    recover_plan_clear(&s->plan);
    recover_judge(s->vc, s->views, s->facts, "kubectl vault-ha", &s->plan);
}

static void test_one_member_per_pod(void **state)
{
    (void)state;
    struct scene s;
    /* vault-0 under its DNS name and, as an old node, under the IP it holds now */
    scene(&s, "S--", 0);
    rejudge_with_servers(&s, "{Suffrage:Voter ID:old-node Address:10.0.0.1:8201} " SRV(
                                 ID0, 0) " " SRV(ID1, 1) " " SRV(ID2, 2));
    assert_int_equal(s.plan.verdict, RECOVER_GO);
    assert_int_equal(s.plan.voters, 4);
    assert_int_equal(s.plan.survivors, 1);
    assert_int_equal(s.plan.members[0].same_pod_as, 1);
    assert_int_equal(s.plan.members[0].pod, -1);
    assert_false(s.plan.members[0].survivor);
    assert_string_equal(s.plan.members[0].state,
                        "lost: an old entry: vault-0 is vault-0.vault-internal:8201 in this "
                        "configuration");
    assert_int_equal(s.plan.members[1].pod, 0);
    assert_true(s.plan.members[1].survivor);
    char *want = recover_peers_json(&s.plan.members[1].server, 1);
    assert_string_equal(s.plan.peers_json, want);
    free(want);
    scene_free(&s);
    /* two DNS forms: the one with the pod's node id is the pod, wherever it stands */
    scene(&s, "S--", 0);
    rejudge_with_servers(
        &s, "{Suffrage:Voter ID:" ID0 " Address:vault-0.vault-internal.vault.svc:8201} "
            "{Suffrage:Voter ID:stale Address:vault-0.vault-internal:8201} " SRV(ID1, 1));
    assert_int_equal(s.plan.verdict, RECOVER_GO);
    assert_int_equal(s.plan.survivors, 1);
    assert_int_equal(s.plan.members[1].same_pod_as, 0);
    assert_true(strstr(s.plan.peers_json, "vault-0.vault-internal.vault.svc:8201") != NULL);
    assert_null(strstr(s.plan.peers_json, "stale"));
    assert_null(strstr(s.plan.peers_json, "\"vault-0.vault-internal:8201"));
    scene_free(&s);
    /* no id matches: the entry by the pod's name, not the one by IP */
    scene(&s, "S--", 0);
    rejudge_with_servers(&s,
                         "{Suffrage:Voter ID:x Address:10.0.0.1:8201} "
                         "{Suffrage:Voter ID:y Address:vault-0.vault-internal:8201} " SRV(ID1, 1));
    assert_int_equal(s.plan.members[0].same_pod_as, 1);
    assert_string_equal(s.plan.members[1].local_id, ID0);
    assert_int_equal(s.plan.survivors, 1);
    scene_free(&s);
    /* two survivors with one node id: raft would refuse the list */
    scene(&s, "SS-", 1);
    snprintf(s.facts[1].file_id, sizeof s.facts[1].file_id, "%s", ID0);
    s.views[1].have_status = 1;
    s.views[0].st.sealed = s.views[1].st.sealed = 1;
    rejudge_with_servers(&s,
                         SRV(ID0, 0) " " SRV(ID1, 1) " " SRV(
                             ID2, 2) " "
                                     "{Suffrage:Voter ID:d Address:vault-3.vault-internal:8201} "
                                     "{Suffrage:Voter ID:e Address:vault-4.vault-internal:8201}");
    assert_int_equal(s.plan.verdict, RECOVER_UNKNOWN);
    assert_string_equal(s.plan.why, "vault-0 and vault-1 both use the node id " ID0
                                    ": raft refuses a configuration that lists an id twice; find "
                                    "out which pod's data is the right one (`kubectl vault-ha "
                                    "status`) before recovering");
    scene_free(&s);
}

/* Issue 18 defect 2: what a second judgement must find to go on. */
static void test_judged_again(void **state)
{
    (void)state;
    struct scene was, now;
    char what[1024];
    scene(&was, "S--", 1);
    assert_int_equal(was.plan.verdict, RECOVER_GO);
    assert_string_equal(was.plan.members[0].name, "vault-0");
    scene(&now, "S--", 1);
    assert_int_equal(recover_plan_changed(&was.plan, &now.plan, what, sizeof what), 0);
    assert_string_equal(what, "");
    scene_free(&now);
    /* a lost voter is back with its data: a quorum of the old configuration */
    scene(&now, "Ss-", 1);
    assert_int_equal(recover_plan_changed(&was.plan, &now.plan, what, sizeof what), 1);
    assert_string_equal(what, "quorum is not lost: 2 of 3 voters are running with their data, 1 "
                              "of them sealed: unseal them with `kubectl vault-ha unseal`; see "
                              "`kubectl vault-ha status` or `kubectl vault-ha doctor`");
    scene_free(&now);
    /* someone unsealed a sealed survivor: it would need a restart the plan does not make */
    scene_free(&was);
    scene(&was, "s--", 1);
    scene(&now, "S--", 1);
    assert_int_equal(recover_plan_changed(&was.plan, &now.plan, what, sizeof what), 1);
    assert_string_equal(what, "vault-0 was sealed; it is unsealed now");
    scene_free(&now);
    /* another survivor id (its data replaced) */
    scene(&now, "s--", 0);
    snprintf(now.facts[0].file_id, sizeof now.facts[0].file_id, "other");
    rejudge_with_servers(&now, SRV(ID0, 0) " " SRV(ID1, 1) " " SRV(ID2, 2));
    assert_int_equal(recover_plan_changed(&was.plan, &now.plan, what, sizeof what), 1);
    assert_string_equal(what, "the survivors were vault-0 (node id " ID0
                              "); they are vault-0 (node id other) now");
    scene_free(&now);
    /* another configuration in the log: another peers.json */
    scene(&now, "s--", 0);
    rejudge_with_servers(&now, "{Suffrage:Voter ID:" ID0
                               " Address:vault-0.other:8201} " SRV(ID1, 1) " " SRV(ID2, 2));
    assert_int_equal(recover_plan_changed(&was.plan, &now.plan, what, sizeof what), 1);
    assert_string_equal(what, "the raft configuration changed (now from vault-0's server log, "
                              "2026-12-02T19:07:00.000Z): peers.json would differ");
    scene_free(&now);
    scene_free(&was);
    /* the pod this run restarted is down, or back sealed, its new log without the
     * configuration: still the plan */
    scene(&was, "S--", 1);
    const char *restarted[] = {"vault-0"};
    for (int back = 0; back < 2; back++) {
        scene(&now, back ? "s--" : "---", 0);
        recover_mark_restarted(now.vc, now.facts, &was.plan, restarted, 1);
        recover_plan_clear(&now.plan);
        recover_judge(now.vc, now.views, now.facts, "kubectl vault-ha", &now.plan);
        assert_int_equal(now.plan.verdict, RECOVER_GO);
        assert_string_equal(now.plan.members[0].state, "survivor: restarted by this recover");
        assert_int_equal(recover_plan_changed(&was.plan, &now.plan, what, sizeof what), 0);
        assert_string_equal(now.plan.source, was.plan.source);
        scene_free(&now);
    }
    scene_free(&was);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_from_log),
        cmocka_unit_test(test_hostile_log_lines_are_skipped),
        cmocka_unit_test(test_node_ids),
        cmocka_unit_test(test_peers_json_text),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_one_survivor),
        cmocka_unit_test(test_assumed_and_unknown),
        cmocka_unit_test(test_one_member_per_pod),
        cmocka_unit_test(test_judged_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
