/* lib/sealmig, its pure part: the seal stanzas of a server config (hostile
 * bytes: bounded, never a token value kept), the seal env of a StatefulSet,
 * the detection, the config checks and the plan. The roll itself runs end to
 * end against the fake (tests/e2e/test_migrate_seal.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sealmig.h"

static const char RUNBOOK[] =
    "ui = true\n\nlistener \"tcp\" {\n  tls_disable = 1\n  address = \"[::]:8200\"\n}\n"
    "storage \"raft\" {\n  path = \"/vault/data\"\n}\n\n"
    "service_registration \"kubernetes\" {}\ndisable_mlock = true\n";

static void parse(const char *text, struct seal_config *cfg)
{
    struct error err = {0};
    assert_int_equal(sealmig_parse_config(text, strlen(text), cfg, &err), 0);
}

static void test_parse_stanzas(void **state)
{
    (void)state;
    struct seal_config cfg;
    parse(RUNBOOK, &cfg);
    assert_int_equal(cfg.n, 0);
    char text[2048];
    snprintf(text, sizeof text,
             "%s# seal \"awskms\" { }\nseal \"transit\" {\n  address = \"http://t:8200\"\n"
             "  token = \"hvs.SECRET\"\n  key_name = \"autounseal\"\n  mount_path = \"transit/\"\n"
             "  disabled = \"true\"\n}\nseal \"awskms\" { kms_key_id = \"k\" // c\n}\n",
             RUNBOOK);
    parse(text, &cfg);
    assert_int_equal(cfg.n, 2);
    assert_string_equal(cfg.stanzas[0].type, "transit");
    assert_true(cfg.stanzas[0].disabled);
    assert_true(cfg.stanzas[0].has_token);
    assert_string_equal(cfg.stanzas[0].address, "http://t:8200");
    assert_string_equal(cfg.stanzas[0].mount_path, "transit/");
    assert_string_equal(cfg.stanzas[0].key_name, "autounseal");
    assert_null(memmem(&cfg, sizeof cfg, "hvs.SECRET", 10)); /* the token is not kept */
    assert_string_equal(cfg.stanzas[1].type, "awskms");
    assert_false(cfg.stanzas[1].disabled);
    /* ParseBool forms */
    parse("seal \"transit\" { disabled = 1 }\nseal \"x\" { disabled = \"false\" }", &cfg);
    assert_true(cfg.stanzas[0].disabled);
    assert_false(cfg.stanzas[1].disabled);
}

/* server.ha.raft.config given as JSON (docs/seal-migration.md §8.1): the same stanzas. */
static void test_parse_json(void **state)
{
    (void)state;
    struct seal_config cfg;
    parse("  {\"ui\": true, \"storage\": {\"raft\": {\"path\": \"/vault/data\"}},\n"
          "   \"seal\": {\"transit\": {\"address\": \"http://t:8200\", \"token\": \"hvs.SECRET\","
          " \"key_name\": \"autounseal\", \"mount_path\": \"transit/\", \"disabled\": \"true\","
          " \"tls_skip_verify\": true}}}",
          &cfg);
    assert_int_equal(cfg.n, 1);
    assert_string_equal(cfg.stanzas[0].type, "transit");
    assert_true(cfg.stanzas[0].disabled);
    assert_true(cfg.stanzas[0].has_token);
    assert_true(cfg.stanzas[0].tls_skip_verify);
    assert_string_equal(cfg.stanzas[0].address, "http://t:8200");
    assert_string_equal(cfg.stanzas[0].mount_path, "transit/");
    assert_null(memmem(&cfg, sizeof cfg, "hvs.SECRET", 10));
    /* a list of seals, a block given as a list, booleans and numbers */
    parse("{\"seal\": [{\"awskms\": [{\"kms_key_id\": \"k\", \"disabled\": 1}]},"
          " {\"transit\": {\"address\": \"http://t:8200\", \"disabled\": false}}]}",
          &cfg);
    assert_int_equal(cfg.n, 2);
    assert_string_equal(cfg.stanzas[0].type, "awskms");
    assert_true(cfg.stanzas[0].disabled);
    assert_string_equal(cfg.stanzas[1].type, "transit");
    assert_false(cfg.stanzas[1].disabled);
    /* no seal at all: Shamir */
    parse("{\"ui\": true}", &cfg);
    assert_int_equal(cfg.n, 0);
    /* broken JSON fails with its line, quoting nothing (a token may be near) */
    struct error err = {0};
    const char *bad = "{\"seal\": {\"transit\": {\"token\": \"hvs.SECRET\",\n}}";
    assert_int_equal(sealmig_parse_config(bad, strlen(bad), &cfg, &err), -1);
    assert_string_equal(err.msg, "the server config (JSON) does not parse at line 2");
    const char *wrong = "{\"seal\": \"transit\"}";
    assert_int_equal(sealmig_parse_config(wrong, strlen(wrong), &cfg, &err), -1);
    assert_string_equal(err.msg, "\"seal\": an object or a list expected");
}

static void test_parse_hostile(void **state)
{
    (void)state;
    struct seal_config cfg;
    struct error err = {0};
    const char *bad[] = {"seal \"transit\" {", "seal \"transit\" { address = \"open",
                         "seal \"t\" { = 1 }", "listener \"tcp\" { x = 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sealmig_parse_config(bad[i], strlen(bad[i]), &cfg, &err), -1);
    char many[4096] = "";
    for (int i = 0; i < SEALMIG_MAX_STANZAS + 1; i++)
        strcat(many, "seal \"awskms\" {}\n");
    assert_int_equal(sealmig_parse_config(many, strlen(many), &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "more than 8 seal blocks"));
    /* escapes in a type are sanitized */
    parse("seal \"tr\x1b]52;c;x\x07\" {}", &cfg);
    assert_null(strchr(cfg.stanzas[0].type, '\x1b'));
}

static void test_env(void **state)
{
    (void)state;
    json_t *sts = json_loads(
        "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"vault\",\"env\":["
        "{\"name\":\"VAULT_ADDR\",\"value\":\"http://127.0.0.1:8200\"},"
        "{\"name\":\"VAULT_TOKEN\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"transit-token\","
        "\"key\":\"token\"}}},{\"name\":\"VAULT_SEAL_TYPE\",\"value\":\"awskms\"}]}]}}}}",
        0, NULL);
    struct seal_env env;
    sealmig_parse_env(sts, "vault", PRODUCT_VAULT, &env);
    assert_true(env.token);
    assert_string_equal(env.token_from, "Secret transit-token");
    assert_string_equal(env.seal_type, "awskms");
    sealmig_parse_env(sts, "other", PRODUCT_VAULT, &env);
    assert_false(env.token);
    json_decref(sts);
}

/* Three pods: status type per pod, which one is active, migration flags. */
static void cluster(struct vault_cluster *vc, struct vault_pod *pods, struct pod_view *views,
                    const char *types[3], int active, const int migration[3])
{
    static char *names[] = {"vault-0", "vault-1", "vault-2"};
    memset(vc, 0, sizeof *vc);
    memset(pods, 0, 3 * sizeof *pods);
    memset(views, 0, 3 * sizeof *views);
    vc->namespace = "vault";
    vc->name = "vault";
    vc->pods = pods;
    vc->npods = 3;
    for (int i = 0; i < 3; i++) {
        pods[i].name = names[i];
        pods[i].exists = pods[i].running = 1;
        views[i].have_status = 1;
        views[i].st.initialized = 1;
        views[i].st.type = (char *)types[i];
        views[i].st.is_self = i == active;
        views[i].st.migration = migration[i];
        views[i].st.t = 3;
        views[i].st.n = 5;
    }
}

static void test_detect_check_and_plan(void **state)
{
    (void)state;
    struct vault_cluster vc;
    struct vault_pod pods[3];
    struct pod_view views[3];
    const char *shamir[3] = {"shamir", "shamir", "shamir"};
    const int none[3] = {0, 0, 0};
    cluster(&vc, pods, views, shamir, 1, none);
    struct seal_config cfg;
    parse("seal \"transit\" { address = \"http://t:8200\" }", &cfg);
    struct seal_env env = {0};
    struct sealmig m;
    char why[1024], name[80];
    assert_int_equal(sealmig_detect(&cfg, &env, &vc, views, &m, why, sizeof why), 0);
    sealmig_name(&m, name, sizeof name);
    assert_string_equal(name, "Shamir -> transit");
    assert_string_equal(m.active, "vault-1");
    assert_false(m.none);
    assert_int_equal(
        sealmig_check_config(&cfg, &env, &m, PRODUCT_VAULT, "vault/vault-config", why, sizeof why),
        0);
    struct upgrade_plan plan;
    struct error err = {0};
    assert_int_equal(sealmig_plan(&m, &vc, views, &plan, &err), 0);
    assert_int_equal(plan.n, 4);
    assert_string_equal(plan.steps[0].pod, "vault-2");
    assert_int_equal(plan.steps[0].unseal, ROLL_UNSEAL_MIGRATE);
    assert_string_equal(plan.steps[1].pod, "vault-0");
    assert_int_equal(plan.steps[2].action, UPGRADE_STEP_DOWN);
    assert_string_equal(plan.steps[2].pod, "vault-1");
    assert_int_equal(plan.steps[3].action, UPGRADE_RESTART);
    assert_int_equal(plan.steps[3].unseal, ROLL_UNSEAL_DEFAULT);
    assert_int_equal(plan.leader_changes, 1);
    upgrade_plan_free(&plan);

    /* resumed after the step-down: the new active node migrated */
    const char *half[3] = {"transit", "shamir", "transit"};
    cluster(&vc, pods, views, half, 2, none);
    assert_int_equal(sealmig_detect(&cfg, &env, &vc, views, &m, why, sizeof why), 0);
    assert_true(m.stored_is_target);
    sealmig_name(&m, name, sizeof name);
    assert_string_equal(name, "Shamir -> transit");
    assert_int_equal(sealmig_plan(&m, &vc, views, &plan, &err), 0);
    assert_int_equal(plan.n, 1);
    assert_string_equal(plan.steps[0].pod, "vault-1");
    assert_int_equal(plan.leader_changes, 0);
    upgrade_plan_free(&plan);

    /* all done */
    const char *all[3] = {"transit", "transit", "transit"};
    cluster(&vc, pods, views, all, 0, none);
    assert_int_equal(sealmig_detect(&cfg, &env, &vc, views, &m, why, sizeof why), 0);
    assert_true(m.none);
}

static void test_refusals(void **state)
{
    (void)state;
    struct vault_cluster vc;
    struct vault_pod pods[3];
    struct pod_view views[3];
    const char *transit[3] = {"transit", "transit", "transit"};
    const int none[3] = {0, 0, 0};
    cluster(&vc, pods, views, transit, 0, none);
    struct seal_config cfg;
    struct seal_env env = {0};
    struct sealmig m;
    char why[2048];
    /* leaving transit without the disabled stanza */
    parse(RUNBOOK, &cfg);
    assert_int_equal(sealmig_detect(&cfg, &env, &vc, views, &m, why, sizeof why), 0);
    assert_int_equal(
        sealmig_check_config(&cfg, &env, &m, PRODUCT_VAULT, "vault/vault-config", why, sizeof why),
        -1);
    assert_non_null(strstr(why, "leaving the transit seal needs its stanza kept with `disabled = "
                                "\"true\"` in ConfigMap vault/vault-config"));
    /* two enabled seals; a disabled shamir; VAULT_SEAL_TYPE against the stanza */
    parse("seal \"awskms\" {}\nseal \"gcpckms\" {}\nseal \"shamir\" { disabled = \"true\" }", &cfg);
    snprintf(env.seal_type, sizeof env.seal_type, "pkcs11");
    sealmig_detect(&cfg, &env, &vc, views, &m, why, sizeof why);
    assert_int_equal(
        sealmig_check_config(&cfg, &env, &m, PRODUCT_OPENBAO, "o/o-config", why, sizeof why), -1);
    assert_non_null(strstr(why, "has 2 enabled seal stanzas (\"awskms\" and \"gcpckms\"): "
                                "OpenBao refuses"));
    assert_non_null(strstr(why, "ConfigMap o/o-config disables a seal \"shamir\" stanza: OpenBao "
                                "refuses it (\"shamir seals cannot be set disabled\")"));
    assert_non_null(strstr(why, "the StatefulSet sets BAO_SEAL_TYPE=pkcs11"));
    /* no active node */
    views[0].st.is_self = 0;
    assert_int_equal(sealmig_detect(&cfg, &env, &vc, views, &m, why, sizeof why), -1);
    assert_non_null(strstr(why, "no active node"));
}

/* A transit stanza's TLS settings reach the probe as the CLI's flags. */
static void test_probe_argv_takes_the_stanza_tls(void **state)
{
    (void)state;
    struct seal_config cfg;
    parse("seal \"transit\" {\n  address = \"https://t.svc:8200\"\n"
          "  tls_ca_cert = \"/vault/userconfig/transit-ca/ca.crt\"\n"
          "  tls_server_name = \"transit.example\"\n  tls_skip_verify = \"true\"\n}\n"
          "seal \"transit\" {\n  address = \"http://u:8200\"\n}\n",
          &cfg);
    assert_true(cfg.stanzas[0].has_tls);
    assert_false(cfg.stanzas[1].has_tls);
    struct sealmig_probe_flags flags;
    const char *argv[SEALMIG_PROBE_ARGV];
    sealmig_probe_argv(&cfg.stanzas[0], "vault", &flags, argv);
    const char *want[] = {"vault",
                          "status",
                          "-address=https://t.svc:8200",
                          "-ca-cert=/vault/userconfig/transit-ca/ca.crt",
                          "-tls-server-name=transit.example",
                          "-tls-skip-verify",
                          "-format=json",
                          NULL};
    for (size_t i = 0; want[i] != NULL; i++)
        assert_string_equal(argv[i], want[i]);
    assert_null(argv[7]);
    sealmig_probe_argv(&cfg.stanzas[1], "bao", &flags, argv);
    assert_string_equal(argv[2], "-address=http://u:8200");
    assert_string_equal(argv[3], "-format=json");
    assert_null(argv[4]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stanzas),
        cmocka_unit_test(test_parse_json),
        cmocka_unit_test(test_parse_hostile),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_detect_check_and_plan),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_probe_argv_takes_the_stanza_tls),
    };
    return cmocka_run_group_tests_name("sealmig", tests, NULL, NULL);
}
