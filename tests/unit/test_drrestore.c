/* lib/drrestore: the plan of a restore into a new cluster (init with the
 * source's shares/threshold when the metadata says them, else restart the
 * pods before the source's keys), the end of a forced restore, the keys-file
 * checks, the step texts and the advice after a failure at each step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrestore.h"

static void meta(struct snapmeta *m, int shares, int threshold)
{
    memset(m, 0, sizeof *m);
    m->format = SNAPMETA_FORMAT;
    strcpy(m->product, "vault");
    strcpy(m->version, "1.21.2");
    strcpy(m->cluster_id, "src-id");
    strcpy(m->seal_type, "shamir");
    m->shares = shares;
    m->threshold = threshold;
}

static void expect_steps(const struct dr_plan *p, const enum dr_step *want, size_t n)
{
    assert_int_equal(p->nsteps, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(p->steps[i], want[i]);
}

static void test_new_cluster_with_metadata_inits_like_the_source(void **state)
{
    (void)state;
    struct snapmeta m;
    meta(&m, 5, 3);
    struct dr_input in = {.meta = &m, .nkeys = 5};
    struct dr_plan p;
    struct error err = {0};
    assert_int_equal(dr_plan_build(&in, 1, 0, 0, &p, &err), 0);
    assert_int_equal(p.shares, 5);
    assert_int_equal(p.threshold, 3);
    assert_false(p.restart);
    const enum dr_step want[] = {DR_CHECK,      DR_INIT, DR_BRING_UP_TEMP, DR_RESTORE,
                                 DR_WAIT_APPLY, DR_WIPE, DR_UNSEAL_SOURCE, DR_CHECK_ID};
    expect_steps(&p, want, sizeof want / sizeof *want);
    char line[600];
    dr_step_text(&p, 1, "vault-0", line, sizeof line);
    assert_string_equal(line, "2/8 initialize vault-0 with 5 shares, threshold 3 (temporary keys "
                              "and root token, in locked memory only)");
    char w[300];
    dr_keys_warning(&in, w, sizeof w);
    assert_string_equal(w, "");
}

static void test_new_cluster_without_metadata_restarts(void **state)
{
    (void)state;
    struct dr_input in = {.nkeys = 3};
    struct dr_plan p;
    struct error err = {0};
    assert_int_equal(dr_plan_build(&in, 1, 0, 0, &p, &err), 0);
    assert_int_equal(p.shares, 1);
    assert_int_equal(p.threshold, 1);
    assert_true(p.restart);
    const enum dr_step want[] = {DR_CHECK, DR_INIT,    DR_BRING_UP_TEMP, DR_RESTORE, DR_WAIT_APPLY,
                                 DR_WIPE,  DR_RESTART, DR_UNSEAL_SOURCE, DR_CHECK_ID};
    expect_steps(&p, want, sizeof want / sizeof *want);
    char line[600];
    dr_step_text(&p, 6, "vault-0", line, sizeof line);
    assert_non_null(strstr(line, "7/9 restart every pod, since the source's shares and threshold "
                                 "are not known (no metadata)"));
    /* The keys file's own record stands in for the metadata. */
    in.keys_shares = 3;
    in.keys_threshold = 2;
    assert_int_equal(dr_plan_build(&in, 1, 0, 0, &p, &err), 0);
    assert_int_equal(p.threshold, 2);
    assert_false(p.restart);
}

static void test_forced_restore_end(void **state)
{
    (void)state;
    struct snapmeta m;
    meta(&m, 5, 3);
    struct dr_input in = {.meta = &m, .nkeys = 3};
    struct dr_plan p;
    struct error err = {0};
    assert_int_equal(dr_plan_build(&in, 0, 5, 3, &p, &err), 0);
    const enum dr_step same[] = {DR_WAIT_APPLY, DR_UNSEAL_SOURCE, DR_CHECK_ID};
    expect_steps(&p, same, 3);
    assert_int_equal(dr_plan_build(&in, 0, 3, 2, &p, &err), 0);
    const enum dr_step differ[] = {DR_WAIT_APPLY, DR_RESTART, DR_UNSEAL_SOURCE, DR_CHECK_ID};
    expect_steps(&p, differ, 4);
    assert_string_equal(p.why_restart,
                        "this cluster's shares and threshold differ from the source's");
}

static void test_keys_file_checks(void **state)
{
    (void)state;
    struct snapmeta m;
    meta(&m, 5, 3);
    struct dr_input in = {.meta = &m, .nkeys = 2};
    struct dr_plan p;
    struct error err = {0};
    assert_int_equal(dr_plan_build(&in, 1, 0, 0, &p, &err), -1);
    assert_string_equal(err.msg, "the keys file holds 2 unseal keys but the source needs 3: after "
                                 "the restore only the source's keys unseal the cluster");
    char w[300];
    in.nkeys = 3;
    dr_keys_warning(&in, w, sizeof w);
    assert_string_equal(w, "the keys file holds 3 keys, the snapshot's cluster had 5 shares "
                           "(threshold 3)");
    in.keys_shares = 4;
    in.keys_threshold = 3;
    dr_keys_warning(&in, w, sizeof w);
    assert_non_null(strstr(w, "written for 4 shares, threshold 3, but the snapshot's cluster had "
                              "5 shares, threshold 3"));
}

static void test_advice_per_step(void **state)
{
    (void)state;
    struct dr_input in = {.nkeys = 3};
    struct dr_plan p;
    struct error err = {0};
    char buf[1500];
    struct vault_pod pods[3] = {{.name = "vault-0"}, {.name = "vault-1"}, {.name = "vault-2"}};
    struct vault_cluster vc = {
        .namespace = "dr", .name = "vault", .release = "drill", .pods = pods, .npods = 3};
    assert_int_equal(dr_plan_build(&in, 1, 0, 0, &p, &err), 0);
    dr_advice(&p, 0, "kubectl vault-ha", &vc, "b.snap", "keys.json", buf, sizeof buf);
    assert_string_equal(buf, "Nothing was changed. Next: fix the above, then run `kubectl "
                             "vault-ha -n dr snapshot restore b.snap --new-cluster --keys-file "
                             "keys.json` again.");
    dr_advice(&p, 3, "kubectl vault-ha", &vc, "b.snap", "keys.json", buf, sizeof buf);
    assert_string_equal(buf, "The snapshot was not applied; the cluster is initialized with "
                             "temporary keys that are now wiped, so it cannot be used. Next: "
                             "reinstall it (helm -n dr uninstall drill, then kubectl -n dr delete "
                             "pvc data-vault-0 data-vault-1 data-vault-2, then helm install) and "
                             "run `kubectl vault-ha -n dr snapshot restore b.snap --new-cluster "
                             "--keys-file keys.json` again.");
    dr_advice(&p, 4, "kubectl vault-ha", &vc, "b.snap", "keys.json", buf, sizeof buf);
    assert_string_equal(buf, "Vault accepted the snapshot and may still be applying it. Next: "
                             "watch `kubectl vault-ha -n dr status`; once every pod is sealed, "
                             "delete them (kubectl -n dr delete pod vault-0 vault-1 vault-2; the "
                             "StatefulSet vault creates them again), then unseal them with the "
                             "source's keys: `kubectl vault-ha -n dr unseal --keys-file "
                             "keys.json`.");
    dr_advice(&p, 6, "kubectl vault-ha", &vc, "b.snap", "keys.json", buf, sizeof buf);
    assert_string_equal(buf, "The snapshot is applied: the cluster holds the source's data and "
                             "only the source's keys open it. Next: once every pod runs again "
                             "(kubectl -n dr get pods vault-0 vault-1 vault-2), unseal them: "
                             "`kubectl vault-ha -n dr unseal --keys-file keys.json`.");
    dr_advice(&p, 7, "kubectl vault-ha", &vc, "b.snap", NULL, buf, sizeof buf);
    assert_non_null(strstr(buf, "unseal --keys-file SOURCE_KEYS` for the pods still sealed"));
    /* Without a release label the StatefulSet's name stands in for helm. */
    vc.release = NULL;
    dr_advice(&p, 2, "kubectl vault-ha", &vc, "b.snap", "keys.json", buf, sizeof buf);
    assert_non_null(strstr(buf, "(helm -n dr uninstall vault, then"));
    /* Init's shares known: no restart, so no pods to delete. */
    in.keys_shares = 3;
    in.keys_threshold = 2;
    assert_int_equal(dr_plan_build(&in, 1, 0, 0, &p, &err), 0);
    dr_advice(&p, 4, "kubectl vault-ha", &vc, "b.snap", "keys.json", buf, sizeof buf);
    assert_null(strstr(buf, "delete"));
}

/* The unseal step says what it waits for: healthy voters only with the source's token. */
static void test_unseal_step_text_follows_the_token(void **state)
{
    (void)state;
    struct dr_input in = {.nkeys = 3, .keys_shares = 3, .keys_threshold = 2};
    struct dr_plan p;
    struct error err = {0};
    char line[600];
    assert_int_equal(dr_plan_build(&in, 1, 0, 0, &p, &err), 0);
    assert_int_equal(p.steps[6], DR_UNSEAL_SOURCE);
    dr_step_text(&p, 6, "vault-0", line, sizeof line);
    assert_string_equal(line, "7/8 unseal every pod with the source's keys and wait until every "
                              "pod reports unsealed (without the source's root token, raft "
                              "voters and health are not checked)");
    p.source_token = 1;
    dr_step_text(&p, 6, "vault-0", line, sizeof line);
    assert_string_equal(line, "7/8 unseal every pod with the source's keys and wait until every "
                              "pod is a healthy raft voter");
}

/* An auto-unseal source (disaster-recovery §1.4, same KMS key): init with its recovery
 * shares, no restart and no unseal with keys; how many recovery keys the file holds does
 * not matter (they unseal nothing). Known from the metadata, or from init's JSON. */
static void test_auto_seal_source(void **state)
{
    (void)state;
    struct snapmeta m;
    meta(&m, 3, 2);
    strcpy(m.seal_type, "transit");
    struct dr_input in = {.meta = &m, .nkeys = 1};
    struct dr_plan p;
    struct error err = {0};
    assert_int_equal(dr_plan_build(&in, 1, 0, 0, &p, &err), 0);
    assert_true(p.auto_seal);
    assert_false(p.restart);
    assert_int_equal(p.shares, 3);
    assert_int_equal(p.threshold, 2);
    const enum dr_step want[] = {DR_CHECK,      DR_INIT, DR_BRING_UP_TEMP, DR_RESTORE,
                                 DR_WAIT_APPLY, DR_WIPE, DR_CHECK_ID};
    expect_steps(&p, want, sizeof want / sizeof *want);
    char line[600];
    dr_step_text(&p, 1, "vault-0", line, sizeof line);
    assert_string_equal(line, "2/7 initialize vault-0 with 3 recovery shares, threshold 2, as the "
                              "source; it unseals itself with its seal (temporary recovery keys "
                              "and root token, in locked memory only)");
    struct vault_pod pods[2] = {{.name = "vault-0"}, {.name = "vault-1"}};
    struct vault_cluster vc = {.namespace = "dr", .name = "vault", .pods = pods, .npods = 2};
    char buf[1500];
    dr_advice(&p, 4, "kubectl vault-ha", &vc, "b.snap", "keys.json", buf, sizeof buf);
    assert_non_null(strstr(buf, "Next: give the pods the source's seal stanza (the same KMS or "
                                "transit key, reachable from namespace dr: helm upgrade), then "
                                "delete them (kubectl -n dr delete pod vault-0 vault-1;"));
    /* No metadata: init's JSON with recovery keys says it. */
    struct dr_input rec = {.nkeys = 3, .keys_shares = 4, .keys_threshold = 3, .recovery_keys = 1};
    assert_int_equal(dr_plan_build(&rec, 1, 0, 0, &p, &err), 0);
    assert_true(p.auto_seal);
    assert_int_equal(p.shares, 4);
    assert_int_equal(p.nsteps, 7);
    /* The end of a forced restore over a running cluster: wait, then the cluster_id. */
    assert_int_equal(dr_plan_build(&in, 0, 3, 2, &p, &err), 0);
    const enum dr_step forced[] = {DR_WAIT_APPLY, DR_CHECK_ID};
    expect_steps(&p, forced, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_cluster_with_metadata_inits_like_the_source),
        cmocka_unit_test(test_new_cluster_without_metadata_restarts),
        cmocka_unit_test(test_forced_restore_end),
        cmocka_unit_test(test_keys_file_checks),
        cmocka_unit_test(test_advice_per_step),
        cmocka_unit_test(test_unseal_step_text_follows_the_token),
        cmocka_unit_test(test_auto_seal_source),
    };
    return cmocka_run_group_tests_name("drrestore", tests, NULL, NULL);
}
