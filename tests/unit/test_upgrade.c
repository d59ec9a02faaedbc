/* lib/upgrade, its pure part: versions and downgrades, the plan (order, the one
 * step-down, resuming a half-done roll, repairs first), its document, and the
 * judgement whether the cluster may lose a pod. The steps themselves run end to
 * end (tests/e2e/test_upgrade.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "text.h"
#include "upgrade.h"

#define OLD "vault-5d8c7b9f6"
#define NEW "vault-7778bbf7b6"

struct scene {
    struct vault_cluster *vc;
    struct pod_view views[8];
    struct ops_reading r;
    struct vault_peer peer_items[8];
};

/* n pods; revs[i] 'o' old revision, 'n' new; what[i]: 'A' active, 'S' standby,
 * 's' sealed, 'd' down (CrashLoopBackOff), 'm' missing, 't' terminating (deleted, the
 * old pod still shutting down, vault status not answered). */
static void scene_init(struct scene *s, int n, const char *revs, const char *what)
{
    memset(s, 0, sizeof *s);
    json_t *sts = json_loads(FIXTURE_STS, 0, NULL);
    json_object_set_new(json_object_get(sts, "spec"), "replicas", json_integer(n));
    json_t *status = json_object_get(sts, "status");
    json_object_set_new(status, "updateRevision", json_string(NEW));
    json_object_set_new(status, "currentRevision", json_string(OLD));
    struct cluster_query q = {.namespace = "vault"};
    struct error err = {0};
    assert_int_equal(cluster_from_statefulset(sts, &q, &s->vc, &err), 0);
    json_decref(sts);
    json_t *items = json_array();
    for (int i = 0; i < n; i++) {
        if (what[i] == 'm')
            continue;
        char name[32], node[16];
        snprintf(name, sizeof name, "vault-%d", i);
        snprintf(node, sizeof node, "n%d", i);
        json_t *pod = fixture_pod(name, node, what[i] == 'd' ? "Pending" : "Running",
                                  what[i] != 'd' && what[i] != 's', NULL, NULL);
        json_object_set_new(json_object_get(json_object_get(pod, "metadata"), "labels"),
                            "controller-revision-hash", json_string(revs[i] == 'n' ? NEW : OLD));
        if (what[i] == 't')
            json_object_set_new(json_object_get(pod, "metadata"), "deletionTimestamp",
                                json_string("2026-12-03T08:00:00Z"));
        json_array_append_new(items, pod);
    }
    json_t *list = json_pack("{s:o}", "items", items);
    assert_int_equal(cluster_set_pods(s->vc, list, &err), 0);
    json_decref(list);
    for (int i = 0; i < n; i++) {
        struct pod_view *v = &s->views[i];
        if (what[i] == 'd' || what[i] == 'm' || what[i] == 't')
            continue;
        v->have_status = 1;
        v->st.initialized = 1;
        v->st.sealed = what[i] == 's';
        v->st.is_self = what[i] == 'A';
        v->st.t = 3;
        v->st.version = (char *)(revs[i] == 'n' ? "1.21.3" : "1.21.2");
    }
}

/* Judges the scene as ops_read would, with every running pod a raft voter. */
static void read_scene(struct scene *s, int ft)
{
    size_t np = 0;
    for (size_t i = 0; i < s->vc->npods; i++) {
        struct vault_peer *p = &s->peer_items[np++];
        static char addr[8][64];
        snprintf(addr[i], sizeof addr[i], "%s.vault-internal:8201", s->vc->pods[i].name);
        p->node_id = s->vc->pods[i].name;
        p->address = addr[i];
        p->voter = 1;
        p->leader = s->views[i].st.is_self;
    }
    s->r.peers.items = s->peer_items;
    s->r.peers.n = np;
    s->r.views = s->views;
    s->r.ap.failure_tolerance = ft;
    struct health_input in = {
        .vc = s->vc, .views = s->views, .peers = &s->r.peers, .autopilot = &s->r.ap};
    health_judge(&in, &s->r.h);
}

static void scene_free(struct scene *s)
{
    if (s->r.h.problems != NULL)
        health_clear(&s->r.h);
    cluster_free(s->vc);
}

static void plan_of(struct scene *s, struct upgrade_plan *plan)
{
    struct upgrade_facts f = {.vc = s->vc, .views = s->views};
    struct error err = {0};
    assert_int_equal(upgrade_plan_build(&f, plan, &err), 0);
}

static void assert_steps(const struct upgrade_plan *plan, const char *const *want)
{
    size_t n = 0;
    while (want[n] != NULL)
        n++;
    for (size_t i = 0; i < plan->n && i < n; i++) {
        char got[200];
        snprintf(got, sizeof got, "%s %s", upgrade_action_name(plan->steps[i].action),
                 plan->steps[i].pod);
        assert_string_equal(got, want[i]);
    }
    assert_int_equal(plan->n, n);
}

static void test_downgrade(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, 3, "oon", "ASS");
    char why[300];
    assert_int_equal(upgrade_is_downgrade(s.vc, s.views, "1.21.3", why, sizeof why), 0);
    assert_int_equal(upgrade_is_downgrade(s.vc, s.views, "1.21.2", why, sizeof why), 1);
    assert_string_equal(why, "vault-2 runs 1.21.3, newer than 1.21.2");
    assert_int_equal(upgrade_is_downgrade(s.vc, s.views, "latest", why, sizeof why), -1);
    assert_string_equal(why, "latest is not a version that can be compared with vault-0's 1.21.2");
    scene_free(&s);
}

static void test_plan_standbys_first_active_last(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, 3, "ooo", "SAS");
    struct upgrade_plan plan;
    plan_of(&s, &plan);
    const char *want[] = {"restart vault-2", "restart vault-0", "step down vault-1",
                          "restart vault-1", NULL};
    assert_steps(&plan, want);
    assert_int_equal(plan.leader_changes, 1);
    assert_string_equal(plan.active, "vault-1");
    assert_string_equal(plan.revision, NEW);
    assert_string_equal(plan.version, "1.21.2"); /* the fixture's template image */
    assert_string_equal(plan.from, "1.21.2");
    assert_string_equal(plan.upgraded, "");
    assert_string_equal(plan.steps[0].state, "standby, revision " OLD ", version 1.21.2");
    assert_string_equal(plan.steps[2].done, "the active node runs " NEW);
    json_t *doc = upgrade_plan_json(&plan);
    assert_int_equal(json_integer_value(json_object_get(doc, "leaderChanges")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(doc, "steps"), 2), "action")),
                        "step down");
    json_decref(doc);
    upgrade_plan_free(&plan);
    scene_free(&s);
}

static void test_plan_five_and_the_new_image(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, 5, "ooooo", "ASSSS");
    struct upgrade_plan plan;
    /* Before the patch the revision is not known: every pod is planned. */
    struct upgrade_facts f = {
        .vc = s.vc, .views = s.views, .revision = "", .image = "hashicorp/vault:1.22.0"};
    struct error err = {0};
    assert_int_equal(upgrade_plan_build(&f, &plan, &err), 0);
    const char *want[] = {"restart vault-4",
                          "restart vault-3",
                          "restart vault-2",
                          "restart vault-1",
                          "step down vault-0",
                          "restart vault-0",
                          NULL};
    assert_steps(&plan, want);
    assert_string_equal(plan.version, "1.22.0");
    assert_string_equal(plan.steps[0].done, "vault-4 runs the new revision, unsealed, a healthy "
                                            "raft voter caught up with the leader");
    upgrade_plan_free(&plan);
    scene_free(&s);
}

static void test_plan_resumes(void **state)
{
    (void)state;
    struct scene s;
    /* vault-2 done; vault-1 on the new revision but sealed (stopped half way); the
     * active vault-0 still old. */
    scene_init(&s, 3, "onn", "AsS");
    struct upgrade_plan plan;
    plan_of(&s, &plan);
    const char *want[] = {"bring back vault-1", "step down vault-0", "restart vault-0", NULL};
    assert_steps(&plan, want);
    assert_string_equal(plan.upgraded, "vault-2");
    assert_string_equal(plan.steps[0].state, "sealed, revision " NEW ", version 1.21.3");
    upgrade_plan_free(&plan);
    scene_free(&s);
    /* All done: an empty plan. */
    scene_init(&s, 3, "nnn", "SAS");
    plan_of(&s, &plan);
    assert_int_equal(plan.n, 0);
    assert_int_equal(plan.leader_changes, 0);
    assert_string_equal(plan.upgraded, "vault-0, vault-1, vault-2");
    upgrade_plan_free(&plan);
    scene_free(&s);
    /* Stopped while vault-1 was being replaced: its old pod still terminates. It is
     * brought back (it returns on the new revision), not restarted a second time. */
    scene_init(&s, 3, "oon", "AtS");
    plan_of(&s, &plan);
    const char *want_t[] = {"bring back vault-1", "step down vault-0", "restart vault-0", NULL};
    assert_steps(&plan, want_t);
    upgrade_plan_free(&plan);
    scene_free(&s);
    /* The active node upgraded already (a leader change someone else made). */
    scene_init(&s, 3, "onn", "SAS");
    plan_of(&s, &plan);
    const char *want2[] = {"restart vault-0", NULL};
    assert_steps(&plan, want2);
    assert_int_equal(plan.leader_changes, 0);
    upgrade_plan_free(&plan);
    scene_free(&s);
}

static void test_plan_repairs_first(void **state)
{
    (void)state;
    struct scene s;
    /* vault-2 down on the old revision (it cannot start): deleted first, at no cost;
     * vault-1 sealed on the old revision: unsealed first, restarted later; vault-3 has no
     * pod at all: waited for. */
    scene_init(&s, 4, "oooo", "Asdm");
    struct upgrade_plan plan;
    plan_of(&s, &plan);
    const char *want[] = {"bring back vault-1",
                          "restart vault-2",
                          "bring back vault-3",
                          "restart vault-1",
                          "step down vault-0",
                          "restart vault-0",
                          NULL};
    assert_steps(&plan, want);
    assert_string_equal(plan.steps[1].precondition,
                        "vault-2 is down already: the other voters hold a quorum without it");
    assert_string_equal(plan.steps[1].state,
                        "not running (Pending: ContainerCreating), revision " OLD);
    upgrade_plan_free(&plan);
    scene_free(&s);
}

static void test_plan_needs_a_revision(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, 3, "ooo", "ASS");
    free(s.vc->update_revision);
    s.vc->update_revision = NULL;
    struct upgrade_plan plan;
    struct upgrade_facts f = {.vc = s.vc, .views = s.views};
    struct error err = {0};
    assert_int_equal(upgrade_plan_build(&f, &plan, &err), -1);
    assert_string_equal(err.msg, "StatefulSet vault/vault reports no updateRevision: nothing to "
                                 "roll to (is the StatefulSet controller running?)");
    scene_free(&s);
}

static void test_judge(void **state)
{
    (void)state;
    struct scene s;
    char why[ERROR_MSG_MAX];
    /* Healthy, half upgraded (version skew): a standby may go. */
    scene_init(&s, 3, "oon", "ASS");
    read_scene(&s, 1);
    assert_int_equal(upgrade_judge(s.vc, &s.r, NULL, why, sizeof why), 0);
    assert_int_equal(upgrade_judge(s.vc, &s.r, "vault-1", why, sizeof why), 0);
    scene_free(&s);
    /* A sealed pod: fine before any change (it is brought back first), not before a
     * deletion of another pod. */
    scene_init(&s, 3, "ooo", "AsS");
    read_scene(&s, 0);
    assert_int_equal(upgrade_judge(s.vc, &s.r, NULL, why, sizeof why), 0);
    assert_int_equal(upgrade_judge(s.vc, &s.r, "vault-2", why, sizeof why), -1);
    assert_string_equal(why, "vault-1 is not a healthy, unsealed member yet; run `kubectl "
                             "vault-ha unseal`");
    /* Deleting the sealed one itself costs no vote. */
    assert_int_equal(upgrade_judge(s.vc, &s.r, "vault-1", why, sizeof why), 0);
    scene_free(&s);
    /* Autopilot says no margin. */
    scene_init(&s, 3, "ooo", "ASS");
    read_scene(&s, 0);
    assert_int_equal(upgrade_judge(s.vc, &s.r, "vault-2", why, sizeof why), -1);
    assert_string_equal(why, "the failure tolerance is 0 (3 voters, a quorum needs 2): "
                             "restarting any voter would lose quorum; add voters first");
    scene_free(&s);
    /* A dead raft voter: degraded, with the command that helps. */
    scene_init(&s, 3, "ooo", "ASS");
    s.peer_items[3].node_id = (char *)"0e1c";
    s.peer_items[3].address = (char *)"vault-3.vault-internal:8201";
    s.peer_items[3].voter = 1;
    read_scene(&s, 0);
    health_clear(&s.r.h);
    s.r.peers.n = 4;
    struct health_input in = {
        .vc = s.vc, .views = s.views, .peers = &s.r.peers, .autopilot = &s.r.ap};
    health_judge(&in, &s.r.h);
    assert_int_equal(upgrade_judge(s.vc, &s.r, NULL, why, sizeof why), -1);
    assert_string_equal(why, "the cluster is degraded: raft peer 0e1c "
                             "(vault-3.vault-internal:8201) has no pod: a dead voter that eats "
                             "failure tolerance; remove it; run `kubectl vault-ha remove-peer "
                             "0e1c`");
    scene_free(&s);
    /* No active node. */
    scene_init(&s, 3, "ooo", "SSS");
    read_scene(&s, 1);
    assert_int_equal(upgrade_judge(s.vc, &s.r, NULL, why, sizeof why), -1);
    assert_string_equal(why, "no active node (a leader election, or no quorum)");
    scene_free(&s);
}

/* A version with multi-byte characters where the 200-byte state field ends: the
 * field is cut between characters, and -o json keeps every step (a cut inside a
 * character made json_pack fail and the step vanish). */
static void test_plan_json_keeps_steps_cut_in_a_character(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, 3, "ooo", "ASS");
    /* "standby, revision vault-5d8c7b9f6, version " is 43 bytes, "1.21.2-" 7: the
     * 2-byte characters from byte 50 on reach the 199th byte in the middle of one. */
    char version[400] = "1.21.2-";
    for (int i = 0; i < 150; i++)
        strcat(version, "\xc3\xa9"); /* é */
    s.views[1].st.version = version;
    s.views[2].st.version = version;
    struct upgrade_plan plan;
    plan_of(&s, &plan);
    assert_int_equal(plan.n, 4);
    for (size_t i = 0; i < plan.n; i++) {
        const struct upgrade_step *st = &plan.steps[i];
        assert_true(text_is_utf8(st->state, strlen(st->state)));
        assert_true(text_is_utf8(st->precondition, strlen(st->precondition)));
        assert_true(text_is_utf8(st->done, strlen(st->done)));
    }
    assert_true(strlen(plan.steps[0].state) > 150); /* cut, not emptied */
    assert_true(text_is_utf8(plan.from, strlen(plan.from)));
    json_t *doc = upgrade_plan_json(&plan);
    assert_non_null(doc);
    assert_int_equal(json_array_size(json_object_get(doc, "steps")), 4);
    const char *state0 = json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "steps"), 0), "state"));
    assert_string_equal(state0, plan.steps[0].state);
    json_decref(doc);
    upgrade_plan_free(&plan);
    scene_free(&s);
}

static int on_new_version(void *ctx, const struct vault_pod *p, const struct pod_view *v)
{
    (void)ctx;
    (void)p;
    return v->have_status && v->st.version != NULL && strcmp(v->st.version, "1.21.3") == 0;
}

/* The step-down: an upgrade needs one standby on the new revision; a roll with its own done
 * test (a seal migration) needs every other pod done, since raft hands leadership to any
 * voter and the migration happens only on one started in migration mode. */
static void test_takeover_ready(void **state)
{
    (void)state;
    struct scene s;
    char why[512];
    struct roll_done done = {
        .pod_done = on_new_version, .what = "seal transit", .command = "migrate-seal"};
    struct upgrade_run upgrade = {.revision = NEW}, migrate = {.revision = NEW, .done = &done};
    const char *behind = "not every other pod is on seal transit and unsealed (vault-2): a "
                         "step-down now may hand leadership to one that is not; run migrate-seal "
                         "again";
    scene_init(&s, 3, "onn", "ASS");
    assert_int_equal(upgrade_takeover_ready(&upgrade, s.vc, s.views, "vault-0", why, sizeof why),
                     0);
    assert_int_equal(upgrade_takeover_ready(&migrate, s.vc, s.views, "vault-0", why, sizeof why),
                     0);
    scene_free(&s);
    scene_init(&s, 3, "ono", "ASS");
    assert_int_equal(upgrade_takeover_ready(&upgrade, s.vc, s.views, "vault-0", why, sizeof why),
                     0);
    assert_int_equal(upgrade_takeover_ready(&migrate, s.vc, s.views, "vault-0", why, sizeof why),
                     -1);
    assert_string_equal(why, behind);
    scene_free(&s);
    /* done but sealed does not count */
    scene_init(&s, 3, "onn", "ASs");
    assert_int_equal(upgrade_takeover_ready(&migrate, s.vc, s.views, "vault-0", why, sizeof why),
                     -1);
    assert_string_equal(why, behind);
    scene_free(&s);
    scene_init(&s, 3, "ooo", "ASS");
    assert_int_equal(upgrade_takeover_ready(&migrate, s.vc, s.views, "vault-0", why, sizeof why),
                     -1);
    assert_string_equal(why, "no standby (seal transit) can take over from vault-0");
    scene_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_downgrade),
        cmocka_unit_test(test_plan_standbys_first_active_last),
        cmocka_unit_test(test_plan_five_and_the_new_image),
        cmocka_unit_test(test_plan_resumes),
        cmocka_unit_test(test_plan_repairs_first),
        cmocka_unit_test(test_plan_needs_a_revision),
        cmocka_unit_test(test_judge),
        cmocka_unit_test(test_plan_json_keeps_steps_cut_in_a_character),
        cmocka_unit_test(test_takeover_ready),
    };
    return cmocka_run_group_tests_name("upgrade", tests, NULL, NULL);
}
