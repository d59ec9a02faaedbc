/* lib/ops, its pure part: can a leader be elected (the outlook every wait for
 * an active node starts from), the pods' states in words, and what the
 * outlook says to the user. The exec'ing parts are covered end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "ops.h"

struct scene {
    struct vault_cluster *vc;
    struct pod_view views[8];
};

/* Three pods; phases[i] "Running" unless given. */
static void scene_init(struct scene *s, const char *phases[3])
{
    memset(s, 0, sizeof *s);
    json_t *sts = json_loads(FIXTURE_STS, 0, NULL);
    struct cluster_query q = {.namespace = "vault"};
    struct error err = {0};
    assert_int_equal(cluster_from_statefulset(sts, &q, &s->vc, &err), 0);
    json_decref(sts);
    json_t *items = json_array();
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "vault-%d", i);
        json_array_append_new(
            items,
            fixture_pod(name, "n0", phases && phases[i] ? phases[i] : "Running", 1, NULL, NULL));
    }
    json_t *list = json_pack("{s:o}", "items", items);
    assert_int_equal(cluster_set_pods(s->vc, list, &err), 0);
    json_decref(list);
}

/* 'A' active, 'S' unsealed standby, 's' sealed 1/3, 'u' uninitialized, '?' no status. */
static void says(struct scene *s, const char *what)
{
    for (int i = 0; what[i]; i++) {
        struct pod_view *v = &s->views[i];
        memset(v, 0, sizeof *v);
        if (what[i] == '?') {
            v->status_error = (char *)"exec failed";
            continue;
        }
        v->have_status = 1;
        v->st.initialized = what[i] != 'u';
        v->st.sealed = what[i] == 's' || what[i] == 'u';
        v->st.is_self = what[i] == 'A';
        v->st.t = what[i] == 'u' ? 0 : 3;
        v->st.progress = what[i] == 's' ? 1 : 0;
    }
}

static void scene_free(struct scene *s)
{
    cluster_free(s->vc);
}

static void outlook(struct scene *s, const char *what, const char *not_this,
                    struct election_outlook *ol, char *msg, size_t cap)
{
    says(s, what);
    ops_election_outlook(s->vc, s->views, not_this, ol);
    char states[512];
    ops_describe_pods(s->vc, s->views, states, sizeof states);
    ops_outlook_message(s->vc, ol, states, "kubectl vault-ha", msg, cap);
}

static void test_outlook_kinds(void **state)
{
    (void)state;
    struct scene s;
    struct election_outlook ol;
    char msg[1024];
    scene_init(&s, NULL);
    outlook(&s, "ASS", NULL, &ol, msg, sizeof msg);
    assert_int_equal(ol.kind, OUTLOOK_ACTIVE);
    assert_string_equal(ol.active, "vault-0");
    assert_string_equal(msg, "vault-0 is active");
    /* the one that stepped down does not count as the new active node */
    outlook(&s, "ASS", "vault-0", &ol, msg, sizeof msg);
    assert_int_equal(ol.kind, OUTLOOK_ELECTING);
    assert_int_equal(ol.unsealed, 3);
    /* right after the unseal of a quorum: an election is under way */
    outlook(&s, "SSs", NULL, &ol, msg, sizeof msg);
    assert_int_equal(ol.kind, OUTLOOK_ELECTING);
    assert_string_equal(msg, "no active node yet (vault-0: unsealed standby; vault-1: unsealed "
                             "standby; vault-2: sealed 1/3)");
    /* a fresh cluster: vault-0 alone is the raft cluster, and it is unsealed */
    outlook(&s, "Suu", NULL, &ol, msg, sizeof msg);
    assert_int_equal(ol.kind, OUTLOOK_ELECTING);
    assert_int_equal(ol.members, 1);
    scene_free(&s);
}

static void test_outlook_that_cannot_elect(void **state)
{
    (void)state;
    struct scene s;
    struct election_outlook ol;
    char msg[1024];
    scene_init(&s, NULL);
    outlook(&s, "Sss", NULL, &ol, msg, sizeof msg);
    assert_int_equal(ol.kind, OUTLOOK_NO_QUORUM);
    assert_int_equal(ol.missing, 1);
    assert_string_equal(msg, "no leader can be elected: 1 of 3 raft members is unsealed and a "
                             "quorum needs 2, so 1 more must be unsealed (sealed: vault-1, "
                             "vault-2): run `kubectl vault-ha unseal`");
    outlook(&s, "sss", NULL, &ol, msg, sizeof msg);
    assert_int_equal(ol.kind, OUTLOOK_ALL_SEALED);
    assert_string_equal(msg, "no active node, and no raft member is unsealed (vault-0: sealed "
                             "1/3; vault-1: sealed 1/3; vault-2: sealed 1/3): run `kubectl "
                             "vault-ha unseal`");
    outlook(&s, "uuu", NULL, &ol, msg, sizeof msg);
    assert_int_equal(ol.kind, OUTLOOK_NOT_INITIALIZED);
    assert_true(strstr(msg, "run `kubectl vault-ha bootstrap --output vault-keys.json`") != NULL);
    outlook(&s, "???", NULL, &ol, msg, sizeof msg);
    assert_int_equal(ol.kind, OUTLOOK_UNREADABLE);
    assert_string_equal(msg, "no pod of vault/vault answered vault status (vault-0: no vault "
                             "status (exec failed); vault-1: no vault status (exec failed); "
                             "vault-2: no vault status (exec failed)): nothing to wait for until "
                             "they do; see `kubectl vault-ha status`");
    scene_free(&s);
}

static void test_unknown_pods_may_hold_the_quorum(void **state)
{
    (void)state;
    struct scene s;
    struct election_outlook ol;
    char msg[1024];
    scene_init(&s, NULL);
    /* vault-2 did not answer: it may be an unsealed member, so an election may finish */
    outlook(&s, "Ss?", NULL, &ol, msg, sizeof msg);
    assert_int_equal(ol.kind, OUTLOOK_ELECTING);
    assert_int_equal(ol.members, 3);
    scene_free(&s);
    /* a pod that does not run is not counted: it may never have been a member */
    const char *phases[3] = {"Running", "Pending", "Running"};
    scene_init(&s, phases);
    outlook(&s, "S?u", NULL, &ol, msg, sizeof msg);
    assert_int_equal(ol.pods_down, 1);
    assert_int_equal(ol.kind, OUTLOOK_ELECTING);
    char states[512];
    ops_describe_pods(s.vc, s.views, states, sizeof states);
    assert_string_equal(states, "vault-0: unsealed standby; vault-1: not running (Pending: "
                                "ContainerCreating); vault-2: not initialized");
    scene_free(&s);
}

/* One budget for several waits: each wait gets what is left of it. */
static void test_waiter_deadline(void **state)
{
    (void)state;
    struct ops o = {.timeout_ms = 600000};
    struct waiter w = ops_waiter(&o, 500);
    assert_int_equal(w.timeout_ms, 600000);
    assert_int_equal(w.interval_ms, 500);
    o.deadline_s = wait_now_s() + 30.0;
    w = ops_waiter(&o, 500);
    assert_true(w.timeout_ms > 29000 && w.timeout_ms <= 30000);
    o.deadline_s = wait_now_s() - 1.0; /* spent: the next wait gives up at once */
    w = ops_waiter(&o, 500);
    assert_int_equal(w.timeout_ms, 1);
    o.timeout_ms = 0; /* the default, cut the same way */
    o.deadline_s = 0;
    w = ops_waiter(&o, 500);
    assert_int_equal(w.timeout_ms, WAIT_DEFAULT_MS);
}

/* After a peers.json recovery to vault-0 alone, the lost pods that came back
 * with stale data (initialized, sealed) are no members: the survivor's
 * election is waited for, where counting them would refuse ("no quorum"). */
static void test_known_members_after_recovery(void **state)
{
    (void)state;
    struct scene s;
    struct election_outlook ol;
    scene_init(&s, NULL);
    says(&s, "Sss");
    ops_election_outlook(s.vc, s.views, NULL, &ol);
    assert_int_equal(ol.kind, OUTLOOK_NO_QUORUM);
    const char *survivors[] = {"vault-0"};
    ops_election_outlook_of(s.vc, s.views, NULL, survivors, 1, &ol);
    assert_int_equal(ol.kind, OUTLOOK_ELECTING);
    assert_int_equal(ol.members, 1);
    assert_int_equal(ol.quorum, 1);
    assert_string_equal(ol.sealed, "");
    /* an isolated stale pod that someone unsealed is not the active node either */
    says(&s, "sAs");
    const char *two[] = {"vault-0", "vault-2"};
    ops_election_outlook_of(s.vc, s.views, NULL, two, 2, &ol);
    assert_int_equal(ol.kind, OUTLOOK_ALL_SEALED);
    assert_string_equal(ol.active, "");
    assert_string_equal(ol.sealed, "vault-0, vault-2");
    scene_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outlook_kinds),
        cmocka_unit_test(test_outlook_that_cannot_elect),
        cmocka_unit_test(test_unknown_pods_may_hold_the_quorum),
        cmocka_unit_test(test_waiter_deadline),
        cmocka_unit_test(test_known_members_after_recovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
