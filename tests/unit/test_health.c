/* lib/health: the verdict, exit code, problems and next steps for the
 * situations the runbook meets (fresh, healthy, leader lost, quorum lost) and
 * the cross-checks (stale labels, dead peers, non-voters, shared nodes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "health.h"

struct scene {
    struct vault_cluster *vc;
    struct pod_view views[8];
    struct vault_peers peers;
    struct vault_peer peer_items[8];
    struct health h;
};

/* Three running pods on nodes n0..n2 (or as given), labels from the strings. */
static void scene_init(struct scene *s, const char *nodes[3], const char *sealed_labels[3],
                       const char *active_labels[3])
{
    memset(s, 0, sizeof *s);
    json_t *sts = json_loads(FIXTURE_STS, 0, NULL);
    struct cluster_query q = {.namespace = "vault"};
    struct error err = {0};
    assert_int_equal(cluster_from_statefulset(sts, &q, &s->vc, &err), 0);
    json_decref(sts);
    static const char *default_nodes[3] = {"n0", "n1", "n2"};
    if (nodes == NULL)
        nodes = default_nodes;
    json_t *items = json_array();
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "vault-%d", i % 10);
        json_array_append_new(items, fixture_pod(name, nodes[i], "Running", 1,
                                                 sealed_labels ? sealed_labels[i] : NULL,
                                                 active_labels ? active_labels[i] : NULL));
    }
    json_t *list = json_pack("{s:o}", "items", items);
    assert_int_equal(cluster_set_pods(s->vc, list, &err), 0);
    json_decref(list);
}

/* Pod i answered vault status: 'A' active, 'S' standby, 's' sealed, 'u' uninitialized. */
static void status(struct scene *s, int i, char what)
{
    struct pod_view *v = &s->views[i];
    v->have_status = 1;
    v->st.initialized = what != 'u';
    v->st.sealed = what == 's' || what == 'u';
    v->st.is_self = what == 'A';
    v->st.version = (char *)"1.21.2";
    v->st.cluster_id = what == 'A' || what == 'S' ? (char *)"c1" : NULL;
}

static void peer(struct scene *s, const char *id, const char *addr, int leader, int voter)
{
    struct vault_peer *p = &s->peer_items[s->peers.n++];
    p->node_id = (char *)id;
    p->address = (char *)addr;
    p->leader = leader;
    p->voter = voter;
    s->peers.items = s->peer_items;
}

static void judge(struct scene *s, int with_peers)
{
    struct health_input in = {.vc = s->vc,
                              .views = s->views,
                              .peers = with_peers ? &s->peers : NULL,
                              .prog = "kubectl vault-ha"};
    health_judge(&in, &s->h);
}

static void scene_free(struct scene *s)
{
    health_clear(&s->h);
    cluster_free(s->vc);
}

static const char *problem(struct scene *s, size_t i)
{
    return json_string_value(json_array_get(s->h.problems, i));
}

static const char *next(struct scene *s, size_t i)
{
    return json_string_value(json_array_get(s->h.next, i));
}

static void three_peers(struct scene *s, int voter2)
{
    peer(s, "vault-0", "vault-0.vault-internal:8201", 1, 1);
    peer(s, "vault-1", "vault-1.vault-internal:8201", 0, 1);
    peer(s, "vault-2", "vault-2.vault-internal:8201", 0, voter2);
}

static void test_healthy(void **state)
{
    (void)state;
    struct scene s;
    const char *sealed[3] = {"false", "false", "false"}, *active[3] = {"true", "false", "false"};
    scene_init(&s, NULL, sealed, active);
    status(&s, 0, 'A');
    status(&s, 1, 'S');
    status(&s, 2, 'S');
    three_peers(&s, 1);
    judge(&s, 1);
    assert_int_equal(s.h.state, HEALTH_HEALTHY);
    assert_int_equal(s.h.exit_code, 0);
    assert_int_equal(json_array_size(s.h.problems), 0);
    assert_int_equal(s.h.voters, 3);
    assert_int_equal(s.h.live_voters, 3);
    assert_int_equal(s.h.quorum, 2);
    assert_int_equal(s.h.failure_tolerance, 1);
    assert_string_equal(s.h.active_pod, "vault-0");
    assert_string_equal(s.h.pods[0].role, "active");
    assert_string_equal(s.h.pods[0].raft, "leader");
    assert_string_equal(s.h.pods[1].raft, "follower");
    scene_free(&s);
}

static void test_fresh_cluster(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, NULL, NULL, NULL);
    for (int i = 0; i < 3; i++)
        status(&s, i, 'u');
    judge(&s, 0);
    assert_int_equal(s.h.state, HEALTH_UNAVAILABLE);
    assert_int_equal(s.h.exit_code, 3);
    assert_string_equal(problem(&s, 0), "Vault is not initialized");
    assert_int_equal(json_array_size(s.h.problems), 1);
    assert_string_equal(next(&s, 0), "kubectl vault-ha bootstrap --output vault-keys.json");
    scene_free(&s);
}

static void test_leader_lost_one_sealed(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, NULL, NULL, NULL);
    status(&s, 0, 's');
    status(&s, 1, 'A');
    status(&s, 2, 'S');
    judge(&s, 0);
    assert_int_equal(s.h.state, HEALTH_DEGRADED);
    assert_int_equal(s.h.exit_code, 2);
    assert_string_equal(problem(&s, 0), "1 pod is sealed");
    assert_int_equal(s.h.pod_problems, 1);
    assert_int_equal(s.h.label_problems + s.h.update_problems, 0);
    assert_string_equal(health_problem_kind(&s.h, "1 pod is sealed"), "pod");
    assert_string_equal(health_problem_kind(&s.h, "anything else"), "other");
    assert_string_equal(next(&s, 0), "kubectl vault-ha unseal");
    assert_int_equal(s.h.failure_tolerance, 0);
    assert_string_equal(s.h.pods[1].raft, "leader");
    assert_null(s.h.pods[2].raft); /* unknown without the peers */
    scene_free(&s);
}

static void test_quorum_lost(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, NULL, NULL, NULL);
    status(&s, 0, 's');
    status(&s, 1, 's');
    status(&s, 2, 'S');
    judge(&s, 0);
    assert_int_equal(s.h.state, HEALTH_UNAVAILABLE);
    assert_int_equal(s.h.exit_code, 3);
    assert_string_equal(problem(&s, 0), "2 pods are sealed");
    assert_string_equal(problem(&s, 1), "no active node: Vault does not serve requests");
    assert_string_equal(problem(&s, 2), "1 of 3 raft voters unsealed: quorum needs 2");
    scene_free(&s);
}

/* Key holders: the next step says how far the unseal rounds are. */
static void test_next_step_for_key_holders(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, NULL, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        status(&s, i, 's');
        s.views[i].st.t = 3;
        s.views[i].st.progress = 2;
    }
    judge(&s, 0);
    assert_string_equal(next(&s, 0),
                        "kubectl vault-ha unseal (2 of 3 keys given; key holders submit one each)");
    health_clear(&s.h);
    s.views[1].st.progress = 1;
    s.views[2].st.progress = 0;
    judge(&s, 0);
    assert_string_equal(next(&s, 0), "kubectl vault-ha unseal (keys given: vault-0 2 of 3, "
                                     "vault-1 1 of 3; key holders submit one each)");
    health_clear(&s.h);
    for (int i = 0; i < 3; i++)
        s.views[i].st.progress = 0;
    judge(&s, 0);
    assert_string_equal(next(&s, 0), "kubectl vault-ha unseal");
    scene_free(&s);
}

static void test_stale_labels(void **state)
{
    (void)state;
    struct scene s;
    const char *sealed[3] = {"false", "true", "false"}, *active[3] = {"true", "true", "false"};
    scene_init(&s, NULL, sealed, active);
    status(&s, 0, 'A');
    status(&s, 1, 'S');
    status(&s, 2, 'S');
    judge(&s, 0);
    assert_int_equal(s.h.state, HEALTH_DEGRADED);
    assert_string_equal(problem(&s, 0), "vault-1 is labelled vault-sealed=true but its vault "
                                        "status says unsealed (labels lag behind)");
    assert_string_equal(problem(&s, 1),
                        "vault-1 is labelled vault-active=true but its vault status says not "
                        "active (the vault-active Service routes by this label)");
    assert_int_equal(s.h.label_problems, 2);
    assert_int_equal(s.h.pod_problems + s.h.update_problems, 0);
    assert_string_equal(health_problem_kind(&s.h, problem(&s, 1)), "label");
    scene_free(&s);
}

static void test_dead_peer_and_non_member(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, NULL, NULL, NULL);
    status(&s, 0, 'A');
    status(&s, 1, 'S');
    status(&s, 2, 'S');
    peer(&s, "vault-0", "vault-0.vault-internal:8201", 1, 1);
    peer(&s, "vault-1", "vault-1.vault-internal:8201", 0, 1);
    peer(&s, "3f2a-old", "vault-7.vault-internal:8201", 0, 1);
    judge(&s, 1);
    assert_int_equal(s.h.state, HEALTH_DEGRADED);
    assert_string_equal(problem(&s, 0), "raft peer 3f2a-old (vault-7.vault-internal:8201) has no "
                                        "pod: a dead voter that eats failure tolerance; remove it");
    assert_string_equal(problem(&s, 1),
                        "vault-2 is unsealed but not a raft peer of the active node");
    assert_string_equal(next(&s, 0), "kubectl vault-ha remove-peer 3f2a-old");
    assert_int_equal(s.h.voters, 3);
    assert_int_equal(s.h.live_voters, 2);
    assert_int_equal(s.h.failure_tolerance, 0);
    assert_string_equal(s.h.pods[2].raft, "not a member");
    scene_free(&s);
}

static void test_non_voter_stabilizing(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, NULL, NULL, NULL);
    status(&s, 0, 'A');
    status(&s, 1, 'S');
    status(&s, 2, 'S');
    three_peers(&s, 0);
    judge(&s, 1);
    assert_int_equal(s.h.state, HEALTH_DEGRADED);
    assert_string_equal(s.h.pods[2].raft, "non-voter");
    assert_string_equal(problem(&s, 0),
                        "vault-2 is a non-voter: autopilot promotes it after its stabilization "
                        "time; until then it does not count for quorum");
    assert_int_equal(s.h.voters, 2);
    assert_int_equal(s.h.quorum, 2);
    assert_int_equal(s.h.failure_tolerance, 0);
    scene_free(&s);
}

static void test_voters_share_a_node(void **state)
{
    (void)state;
    struct scene s;
    const char *nodes[3] = {"n0", "n0", "n2"};
    scene_init(&s, nodes, NULL, NULL);
    status(&s, 0, 'A');
    status(&s, 1, 'S');
    status(&s, 2, 'S');
    three_peers(&s, 1);
    judge(&s, 1);
    assert_int_equal(s.h.state, HEALTH_DEGRADED);
    assert_string_equal(problem(&s, 0),
                        "voters vault-0, vault-1 run on the same node n0: losing it loses quorum");
    assert_int_equal(json_array_size(s.h.problems), 1);
    scene_free(&s);
}

static void test_cannot_tell(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, NULL, NULL, NULL);
    for (int i = 0; i < 3; i++)
        s.views[i].status_error = (char *)"RBAC denies exec";
    judge(&s, 0);
    assert_int_equal(s.h.state, HEALTH_UNKNOWN);
    assert_int_equal(s.h.exit_code, 1);
    assert_string_equal(problem(&s, 0), "vault-0: cannot read its vault status: RBAC denies exec");
    assert_string_equal(health_state_name(s.h.state), "unknown");
    scene_free(&s);
}

static void test_version_skew(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, NULL, NULL, NULL);
    status(&s, 0, 'A');
    status(&s, 1, 'S');
    status(&s, 2, 'S');
    s.views[2].st.version = (char *)"1.20.0";
    judge(&s, 0);
    assert_int_equal(s.h.state, HEALTH_DEGRADED);
    assert_string_equal(problem(&s, 0),
                        "version skew: vault-0 1.21.2, vault-1 1.21.2, vault-2 1.20.0");
    assert_int_equal(s.h.update_problems, 1);
    scene_free(&s);
}

/* Half through an update: what an upgrade fixes is counted apart from the rest. */
static void test_update_problems_counted_apart(void **state)
{
    (void)state;
    struct scene s;
    scene_init(&s, NULL, NULL, NULL);
    free(s.vc->image);
    s.vc->image = strdup("hashicorp/vault:1.21.3");
    status(&s, 0, 'A');
    status(&s, 1, 'S');
    status(&s, 2, 'S');
    s.views[2].st.version = (char *)"1.21.3";
    free(s.vc->pods[2].image);
    s.vc->pods[2].image = strdup("hashicorp/vault:1.21.3");
    judge(&s, 0);
    assert_int_equal(s.h.state, HEALTH_DEGRADED);
    assert_int_equal(json_array_size(s.h.problems), 3);
    assert_int_equal(s.h.update_problems, 3);
    assert_string_equal(health_problem_kind(&s.h, problem(&s, 2)), "update");
    assert_string_equal(problem(&s, 0),
                        "vault-0 runs hashicorp/vault:1.21.2 but the StatefulSet wants "
                        "hashicorp/vault:1.21.3: delete the pod to update it (updateStrategy "
                        "OnDelete)");
    health_clear(&s.h);
    /* Anything else is not the update's. */
    status(&s, 1, 's');
    judge(&s, 0);
    assert_int_equal(s.h.update_problems, 3);
    assert_true(json_array_size(s.h.problems) > 3);
    scene_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy),
        cmocka_unit_test(test_fresh_cluster),
        cmocka_unit_test(test_leader_lost_one_sealed),
        cmocka_unit_test(test_quorum_lost),
        cmocka_unit_test(test_next_step_for_key_holders),
        cmocka_unit_test(test_stale_labels),
        cmocka_unit_test(test_dead_peer_and_non_member),
        cmocka_unit_test(test_non_voter_stabilizing),
        cmocka_unit_test(test_voters_share_a_node),
        cmocka_unit_test(test_cannot_tell),
        cmocka_unit_test(test_version_skew),
        cmocka_unit_test(test_update_problems_counted_apart),
    };
    return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
