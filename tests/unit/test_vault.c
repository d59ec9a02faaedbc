/* lib/vault parsers against the exact CLI outputs of docs/vault-cli.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vault.h"

/* §1: sealed, initialized (exit 2). */
static const char *SEALED =
    "{\n  \"type\": \"shamir\",\n  \"initialized\": true,\n  \"sealed\": true,\n  \"t\": 3,\n"
    "  \"n\": 5,\n  \"progress\": 1,\n  \"nonce\": \"a8f3c6e2-1d4b-6f0e-9c7a-5b2d8e4f1a30\",\n"
    "  \"version\": \"1.21.2\",\n  \"build_date\": \"2025-12-18T15:41:11Z\",\n"
    "  \"migration\": false,\n  \"recovery_seal\": false,\n  \"storage_type\": \"raft\",\n"
    "  \"removed_from_cluster\": false,\n  \"ha_enabled\": true,\n"
    "  \"active_time\": \"0001-01-01T00:00:00Z\"\n}\n";

/* §1: unsealed raft leader (exit 0). */
static const char *LEADER =
    "{\"type\":\"shamir\",\"initialized\":true,\"sealed\":false,\"t\":3,\"n\":5,\"progress\":0,"
    "\"nonce\":\"\",\"version\":\"1.21.2\",\"build_date\":\"2025-12-18T15:41:11Z\","
    "\"migration\":false,\"cluster_name\":\"vault-cluster-5c1d0e2a\",\"cluster_id\":"
    "\"0f6b2c3e-7a1d-9e4b-2c8f-6d5a4b3c2e10\",\"recovery_seal\":false,\"storage_type\":\"raft\","
    "\"removed_from_cluster\":false,\"ha_enabled\":true,\"is_self\":true,\"active_time\":"
    "\"2026-01-05T09:12:44.512367088Z\",\"leader_address\":\"http://10.244.1.17:8200\","
    "\"leader_cluster_address\":\"https://vault-0.vault-internal:8201\","
    "\"raft_committed_index\":412,\"raft_applied_index\":412}";

static void test_status_sealed(void **state)
{
    (void)state;
    struct vault_status st;
    struct error err = {0};
    assert_int_equal(vault_parse_status(SEALED, strlen(SEALED), 2, "", &st, &err), 0);
    assert_true(st.initialized);
    assert_true(st.sealed);
    assert_int_equal(st.t, 3);
    assert_int_equal(st.n, 5);
    assert_int_equal(st.progress, 1);
    assert_string_equal(st.version, "1.21.2");
    assert_int_equal(st.removed_from_cluster, TRI_FALSE);
    assert_false(st.is_self);
    assert_null(st.leader_cluster_address);
    assert_int_equal(st.raft_committed_index, 0);
    vault_status_clear(&st);
}

/* docs/seal-migration.md §3.1: a standby restarted with a transit stanza over Shamir storage */
static const char MIGRATING[] =
    "{\"type\":\"transit\",\"initialized\":true,\"sealed\":true,\"t\":3,\"n\":5,\"progress\":0,"
    "\"nonce\":\"\",\"version\":\"1.21.2\",\"migration\":true,\"recovery_seal\":true,"
    "\"recovery_seal_type\":\"shamir\",\"storage_type\":\"raft\",\"removed_from_cluster\":false,"
    "\"ha_enabled\":true,\"active_time\":\"0001-01-01T00:00:00Z\"}";

static void test_status_seal_migration(void **state)
{
    (void)state;
    struct vault_status st;
    struct error err = {0};
    assert_int_equal(vault_parse_status(MIGRATING, strlen(MIGRATING), 2, "", &st, &err), 0);
    assert_string_equal(st.type, "transit");
    assert_true(st.migration);
    assert_true(st.recovery_seal);
    assert_string_equal(st.recovery_seal_type, "shamir");
    vault_status_clear(&st);
    assert_int_equal(vault_parse_status(SEALED, strlen(SEALED), 2, "", &st, &err), 0);
    assert_false(st.migration);
    assert_null(st.recovery_seal_type);
    vault_status_clear(&st);
}

static void test_status_leader_and_standby(void **state)
{
    (void)state;
    struct vault_status st;
    struct error err = {0};
    assert_int_equal(vault_parse_status(LEADER, strlen(LEADER), 0, NULL, &st, &err), 0);
    assert_true(st.is_self);
    assert_false(st.sealed);
    assert_string_equal(st.leader_cluster_address, "https://vault-0.vault-internal:8201");
    assert_int_equal(st.raft_applied_index, 412);
    assert_string_equal(st.cluster_name, "vault-cluster-5c1d0e2a");
    vault_status_clear(&st);
    /* A standby has no is_self at all (omitempty); OpenBao has no removed_from_cluster. */
    const char *standby = "{\"initialized\":true,\"sealed\":false,\"t\":3,\"n\":5,"
                          "\"ha_enabled\":true,\"leader_cluster_address\":"
                          "\"https://vault-0.vault-internal:8201\"}";
    assert_int_equal(vault_parse_status(standby, strlen(standby), 0, NULL, &st, &err), 0);
    assert_false(st.is_self);
    assert_int_equal(st.removed_from_cluster, TRI_UNKNOWN);
    vault_status_clear(&st);
}

static void test_status_failures(void **state)
{
    (void)state;
    struct vault_status st;
    struct error err = {0};
    /* Sealed and the leader call failed: exit 2, empty stdout (§1 exit codes). */
    assert_int_equal(vault_parse_status("", 0, 2,
                                        "Error checking leader status: Error making API "
                                        "request.\n\nURL: GET http://127.0.0.1:8200/v1/sys/"
                                        "leader\nCode: 500. Errors:\n\n* internal error\n",
                                        &st, &err),
                     -1);
    assert_string_equal(err.msg, "vault status failed (exit 2): internal error");
    assert_int_equal(vault_parse_status("", 0, 1,
                                        "Error checking seal status: Get \"http://127.0.0.1:8200"
                                        "/v1/sys/seal-status\": dial tcp 127.0.0.1:8200: connect: "
                                        "connection refused\n",
                                        &st, &err),
                     -1);
    assert_string_equal(err.msg, "vault status failed (exit 1): Error checking seal status: Get "
                                 "\"http://127.0.0.1:8200/v1/sys/seal-status\": dial tcp "
                                 "127.0.0.1:8200: connect: connection refused");
    /* Exit code and JSON disagree. */
    assert_int_equal(vault_parse_status(LEADER, strlen(LEADER), 2, NULL, &st, &err), -1);
    assert_string_equal(err.msg, "vault status exited 2 but reports sealed=false");
    assert_int_equal(vault_parse_status("{\"x\":1}", 7, 0, NULL, &st, &err), -1);
    assert_int_equal(vault_parse_status("not json", 8, 0, NULL, &st, &err), -1);
    assert_string_equal(err.msg, "vault status printed no JSON");
}

static const char *INIT =
    "{\n  \"unseal_keys_b64\": [\n    \"IXyR0OJnSFobekZMMCKCoVEpT7wI6l+USMzE3IcyDyoA\",\n"
    "    \"AXyR0OJnSFobekZMMCKCoVEpT7wI6l+USMzE3IcyDyoB\"\n  ],\n"
    "  \"unseal_keys_hex\": [\n    \"aa\",\n    \"bb\"\n  ],\n  \"unseal_shares\": 2,\n"
    "  \"unseal_threshold\": 2,\n  \"recovery_keys_b64\": [],\n  \"recovery_keys_hex\": [],\n"
    "  \"recovery_keys_shares\": 0,\n  \"recovery_keys_threshold\": 0,\n"
    "  \"root_token\": \"hvs.XXXXXXXXXXXXXXXXXXXXXXXX\"\n}\n";

static void test_init_roundtrip(void **state)
{
    (void)state;
    struct vault_init_result r;
    struct error err = {0};
    assert_int_equal(vault_parse_init(INIT, strlen(INIT), &r, &err), 0);
    assert_int_equal(r.keys_b64.n, 2);
    assert_string_equal(r.keys_b64.items[1].data, "AXyR0OJnSFobekZMMCKCoVEpT7wI6l+USMzE3IcyDyoB");
    assert_string_equal(r.root_token.data, "hvs.XXXXXXXXXXXXXXXXXXXXXXXX");
    assert_int_equal(r.shares, 2);
    assert_int_equal(r.threshold, 2);
    struct secret js = {0};
    assert_int_equal(vault_init_result_json(&r, &js, &err), 0);
    /* Same shape and field names as `vault operator init -format=json` (§2). */
    assert_string_equal(js.data, INIT);
    secret_free(&js);
    vault_init_result_clear(&r);
    assert_int_equal(secret_live_count(), 0);
    assert_int_equal(vault_parse_init("{\"Initialized\": true}", 21, &r, &err), -1);
    assert_string_equal(err.msg,
                        "vault operator init printed JSON without unseal_keys_b64/root_token");
    /* A root token or key with a control character: a newline would split the stdin
     * line `sh` reads in the pod when the token is used; an escape would reach the
     * terminal when the keys are shown. */
    static const char bad_token[] = "{\"unseal_keys_b64\": [\"AAAA\"], \"root_token\": "
                                    "\"hvs.X\\nvault token revoke -self\"}";
    assert_int_equal(vault_parse_init(bad_token, strlen(bad_token), &r, &err), -1);
    assert_string_equal(err.msg,
                        "vault operator init printed a bad root_token: the token holds a control "
                        "character (0x0a at byte 6); a token is one line of printable text");
    assert_int_equal(err.kind, ERR_PROTOCOL);
    static const char bad_key[] =
        "{\"unseal_keys_b64\": [\"AAAA\", \"B\\u001b]52;c;eA==\\u0007\"], "
        "\"root_token\": \"hvs.X\"}";
    assert_int_equal(vault_parse_init(bad_key, strlen(bad_key), &r, &err), -1);
    assert_string_equal(err.msg,
                        "vault operator init printed a bad unseal_keys_b64[1]: the token holds a "
                        "control character (0x1b at byte 2); a token is one line of printable "
                        "text");
    /* Shown raw on the terminal: a raw 8-bit CSI (0x9b) would be obeyed. */
    static const char bad_byte[] = "{\"unseal_keys_b64\": [\"AA\x9b[2J\"], \"root_token\": "
                                   "\"hvs.X\"}";
    assert_int_equal(vault_parse_init(bad_byte, strlen(bad_byte), &r, &err), -1);
    assert_int_equal(err.kind, ERR_PROTOCOL);
    static const char c1_token[] = "{\"unseal_keys_b64\": [\"AA\"], \"root_token\": "
                                   "\"hvs.\\u009b2J\"}";
    assert_int_equal(vault_parse_init(c1_token, strlen(c1_token), &r, &err), -1);
    assert_string_equal(err.msg, "vault operator init printed a bad root_token: a byte that is "
                                 "not printable ASCII (0xc2 at byte 5)");
    /* A raw control character inside a key: jansson's text would quote the key
     * ("near '\"IXyR0OJnSFobekZ'"); the message gives the place only. */
    static const char raw_ctl[] = "{\"unseal_keys_b64\": [\n\"IXyR0OJnSFobekZ\x01MMCKCoVEpT7wI6l"
                                  "\"], \"root_token\": \"hvs.X\"}";
    assert_int_equal(vault_parse_init(raw_ctl, strlen(raw_ctl), &r, &err), -1);
    assert_string_equal(err.msg, "vault operator init printed JSON that cannot be read: a control "
                                 "character at line 2, column 16 of the document");
    assert_null(strstr(err.msg, "IXyR"));
    assert_int_equal(secret_live_count(), 0);
}

static void test_unseal_answer(void **state)
{
    (void)state;
    /* §3: vault write -format=json sys/unseal - wraps the seal status in .data. */
    const char *out = "{\"request_id\":\"\",\"lease_id\":\"\",\"lease_duration\":0,\"renewable\":"
                      "false,\"data\":{\"type\":\"shamir\",\"initialized\":true,\"sealed\":true,"
                      "\"t\":3,\"n\":5,\"progress\":2,\"nonce\":\"x\"},\"warnings\":null}\n";
    struct vault_unseal_progress p;
    struct error err = {0};
    assert_int_equal(vault_parse_unseal(out, strlen(out), &p, &err), 0);
    assert_true(p.sealed);
    assert_int_equal(p.progress, 2);
    assert_int_equal(p.t, 3);
    assert_int_equal(vault_parse_unseal("{\"data\":{}}", 11, &p, &err), -1);
    assert_string_equal(err.msg, "sys/unseal answered without \"sealed\"");
}

static void test_peers(void **state)
{
    (void)state;
    /* §4 list-peers: the whole api.Secret. */
    const char *out =
        "{\"request_id\":\"4b5c\",\"lease_id\":\"\",\"lease_duration\":0,\"renewable\":false,"
        "\"data\":{\"config\":{\"index\":62,\"servers\":[{\"address\":"
        "\"vault-0.vault-internal:8201\",\"leader\":true,\"node_id\":\"vault-0\","
        "\"protocol_version\":\"3\",\"voter\":true},{\"address\":\"vault-1.vault-internal:8201\","
        "\"leader\":false,\"node_id\":\"5f1c\",\"protocol_version\":\"3\",\"voter\":false}]}},"
        "\"warnings\":null,\"mount_type\":\"system\"}";
    struct vault_peers peers;
    struct error err = {0};
    assert_int_equal(vault_parse_peers(out, strlen(out), &peers, &err), 0);
    assert_int_equal(peers.n, 2);
    assert_int_equal(peers.index, 62);
    assert_string_equal(peers.items[1].node_id, "5f1c");
    assert_string_equal(peers.items[1].address, "vault-1.vault-internal:8201");
    assert_true(peers.items[0].leader);
    assert_false(peers.items[1].voter);
    vault_peers_clear(&peers);
}

static void test_autopilot_camel_case(void **state)
{
    (void)state;
    const char *out =
        "{\"Healthy\":true,\"FailureTolerance\":1,\"Servers\":{\"vault-0\":{\"ID\":\"vault-0\","
        "\"Name\":\"vault-0\",\"Address\":\"vault-0.vault-internal:8201\",\"NodeStatus\":"
        "\"alive\",\"LastContact\":\"0s\",\"LastTerm\":3,\"LastIndex\":412,\"Healthy\":true,"
        "\"StableSince\":\"2026-01-05T09:12:50.1Z\",\"Status\":\"leader\",\"Version\":\"1.21.2\","
        "\"UpgradeVersion\":\"\",\"RedundancyZone\":\"\",\"NodeType\":\"voter\"}},\"Leader\":"
        "\"vault-0\",\"Voters\":[\"vault-0\"],\"NonVoters\":null,\"RedundancyZones\":null,"
        "\"Upgrade\":null,\"OptimisticFailureTolerance\":0}";
    struct vault_autopilot ap;
    struct error err = {0};
    assert_int_equal(vault_parse_autopilot(out, strlen(out), &ap, &err), 0);
    assert_true(ap.healthy);
    assert_int_equal(ap.failure_tolerance, 1);
    assert_string_equal(ap.leader, "vault-0");
    assert_int_equal(ap.n, 1);
    assert_string_equal(ap.servers[0].status, "leader");
    assert_int_equal(ap.servers[0].last_index, 412);
    vault_autopilot_clear(&ap);
    /* The HTTP API's snake_case is not what the CLI prints. */
    const char *snake = "{\"healthy\":true,\"servers\":{}}";
    assert_int_equal(vault_parse_autopilot(snake, strlen(snake), &ap, &err), -1);
}

static void test_error_summary(void **state)
{
    (void)state;
    char buf[256];
    vault_error_summary("Error unsealing: Error making API request.\n\nURL: PUT "
                        "http://127.0.0.1:8200/v1/sys/unseal\nCode: 400. Errors:\n\n* 'key' "
                        "must be a valid hex or base64 string\n",
                        buf, sizeof buf);
    assert_string_equal(buf, "'key' must be a valid hex or base64 string");
    vault_error_summary("Peer removed successfully!\n", buf, sizeof buf);
    assert_string_equal(buf, "Peer removed successfully!");
}

/* The one judgement of a CLI run: exec failure as kexec said it, the CLI's words with what and
 * the pod, permission denied as ERR_FORBIDDEN with its hint. */
static void test_call_check(void **state)
{
    (void)state;
    struct error err = {0};
    struct vault_call c = {.pod = "vault-0", .ran = 1, .exit_code = 0};
    assert_int_equal(vault_call_check(&c, "step-down", " (hint)", &err), 0);

    c.ran = 0;
    error_set(&c.error, ERR_TIMEOUT, "vault-0: the exec did not finish");
    assert_int_equal(vault_call_check(&c, "step-down", " (hint)", &err), -1);
    assert_int_equal(err.kind, ERR_REMOTE);
    assert_string_equal(err.msg, "vault-0: the exec did not finish");

    char denied[] = "Error: Code: 403. Errors:\n\n* permission denied\n";
    c.ran = 1;
    c.exit_code = 2;
    c.err_out = denied;
    assert_int_equal(vault_call_check(&c, "step-down", " (hint)", &err), -1);
    assert_int_equal(err.kind, ERR_FORBIDDEN);
    assert_non_null(strstr(err.msg, "step-down on vault-0 failed: "));
    assert_non_null(strstr(err.msg, "permission denied (hint)"));

    char other[] = "Error: connection refused\n";
    c.err_out = other;
    assert_int_equal(vault_call_check(&c, "list-peers", " (hint)", &err), -1);
    assert_int_equal(err.kind, ERR_REMOTE);
    assert_null(strstr(err.msg, "(hint)"));

    c.err_out = NULL;
    assert_int_equal(vault_call_check(&c, "list-peers", NULL, &err), -1);
    assert_string_equal(err.msg, "list-peers on vault-0 failed: no reason given");
}

/* --- the HTTP API's answers (pods/proxy) ------------------------------------------------------ */

/* api/sys_seal.go SealStatusResponse of an unsealed node: no leader fields. */
static const char *HTTP_SEAL =
    "{\"type\":\"awskms\",\"initialized\":true,\"sealed\":false,\"t\":3,\"n\":5,\"progress\":0,"
    "\"nonce\":\"\",\"version\":\"1.21.2\",\"build_date\":\"2025-12-18T15:41:11Z\","
    "\"migration\":false,\"cluster_name\":\"vault-cluster-5c1d0e2a\",\"cluster_id\":\"c1\","
    "\"recovery_seal\":true,\"recovery_seal_type\":\"shamir\",\"storage_type\":\"raft\","
    "\"removed_from_cluster\":false}";

static void test_http_seal_status_and_leader(void **state)
{
    (void)state;
    struct vault_status st;
    struct error err = {0};
    assert_int_equal(vault_parse_http_seal_status(HTTP_SEAL, strlen(HTTP_SEAL), &st, &err), 0);
    assert_string_equal(st.type, "awskms");
    assert_true(st.recovery_seal);
    assert_false(st.ha_enabled); /* not in sys/seal-status: sys/leader brings it */
    assert_null(st.leader_address);
    /* api/sys_leader.go LeaderResponse of a standby. */
    const char *standby =
        "{\"ha_enabled\":true,\"is_self\":false,\"active_time\":\"0001-01-01T00:00:00Z\","
        "\"leader_address\":\"http://10.244.1.17:8200\",\"leader_cluster_address\":"
        "\"https://vault-0.vault-internal:8201\",\"performance_standby\":false,"
        "\"performance_standby_last_remote_wal\":0,\"last_wal\":0,\"raft_committed_index\":412,"
        "\"raft_applied_index\":410}";
    assert_int_equal(vault_merge_http_leader(200, standby, strlen(standby), &st, &err), 0);
    assert_true(st.ha_enabled);
    assert_false(st.is_self);
    assert_string_equal(st.leader_cluster_address, "https://vault-0.vault-internal:8201");
    assert_int_equal(st.raft_applied_index, 410);
    /* An unsealed node whose leader call fails: an error, as the CLI's exit 1. */
    const char *e500 = "{\"errors\":[\"internal error\"]}";
    assert_int_equal(vault_merge_http_leader(500, e500, strlen(e500), &st, &err), -1);
    assert_string_equal(err.msg, "sys/leader answered 500: internal error");
    /* Sealed between the two calls: the CLI masks "Vault is sealed" whatever seal-status
     * said (facts vault.md §1), and so does this. */
    assert_false(st.sealed);
    const char *sealed_now = "{\"errors\":[\"Vault is sealed\"]}";
    st.ha_enabled = 0;
    assert_int_equal(vault_merge_http_leader(503, sealed_now, strlen(sealed_now), &st, &err), 0);
    assert_true(st.ha_enabled);
    vault_status_clear(&st);

    /* Sealed: sys/leader's 503 "Vault is sealed" is masked (ha_enabled true). */
    const char *sealed = "{\"type\":\"shamir\",\"initialized\":true,\"sealed\":true,\"t\":3,"
                         "\"n\":5,\"progress\":2,\"nonce\":\"x\",\"version\":\"1.21.2\"}";
    assert_int_equal(vault_parse_http_seal_status(sealed, strlen(sealed), &st, &err), 0);
    const char *e503 = "{\"errors\":[\"Vault is sealed\"]}";
    assert_int_equal(vault_merge_http_leader(503, e503, strlen(e503), &st, &err), 0);
    assert_true(st.ha_enabled);
    assert_int_equal(st.progress, 2);
    assert_int_equal(vault_merge_http_leader(502, "bad gateway\n", 12, &st, &err), -1);
    assert_string_equal(err.msg, "sys/leader answered 502: bad gateway");
    vault_status_clear(&st);

    /* Not the whole body one object, or the wrong document. */
    const char *prompt = "Token: {\"sealed\":true,\"initialized\":true}";
    assert_int_equal(vault_parse_http_seal_status(prompt, strlen(prompt), &st, &err), -1);
    const char *noflag = "{\"sealed\":\"yes\",\"initialized\":true}";
    assert_int_equal(vault_parse_http_seal_status(noflag, strlen(noflag), &st, &err), -1);
    assert_string_equal(err.msg,
                        "sys/seal-status answered JSON without \"sealed\"/\"initialized\"");
    assert_int_equal(vault_parse_http_seal_status("[]", 2, &st, &err), -1);
    assert_int_equal(vault_parse_http_seal_status(NULL, 0, &st, &err), -1);
}

static void test_http_raft_answers(void **state)
{
    (void)state;
    const char *config =
        "{\"request_id\":\"4b5c\",\"lease_id\":\"\",\"lease_duration\":0,\"renewable\":false,"
        "\"data\":{\"config\":{\"index\":62,\"servers\":[{\"address\":\"vault-0.vault-internal:"
        "8201\",\"leader\":true,\"node_id\":\"vault-0\",\"protocol_version\":\"3\",\"voter\":"
        "true}]}},\"warnings\":null}";
    struct vault_peers peers;
    struct error err = {0};
    assert_int_equal(vault_parse_http_peers(config, strlen(config), &peers, &err), 0);
    assert_int_equal(peers.n, 1);
    assert_int_equal(peers.index, 62);
    vault_peers_clear(&peers);
    assert_int_equal(vault_parse_http_peers("x{}", 3, &peers, &err), -1);
    /* The HTTP API's autopilot state: snake_case under data (docs/vault-cli.md §4). */
    const char *ap_json =
        "{\"request_id\":\"r\",\"data\":{\"healthy\":false,\"failure_tolerance\":0,\"leader\":"
        "\"vault-0\",\"voters\":[\"vault-0\",\"vault-1\"],\"servers\":{\"vault-0\":{\"id\":"
        "\"vault-0\",\"name\":\"vault-0\",\"address\":\"vault-0.vault-internal:8201\","
        "\"node_status\":\"alive\",\"last_contact\":\"0s\",\"last_index\":412,\"healthy\":true,"
        "\"stable_since\":\"2026-01-05T09:12:50.1Z\",\"status\":\"leader\"},\"vault-1\":{\"id\":"
        "\"vault-1\",\"name\":\"vault-1\",\"node_status\":\"failed\",\"healthy\":false,"
        "\"last_index\":409,\"status\":\"voter\"}}}}";
    struct vault_autopilot ap;
    assert_int_equal(vault_parse_http_autopilot(ap_json, strlen(ap_json), &ap, &err), 0);
    assert_false(ap.healthy);
    assert_string_equal(ap.leader, "vault-0");
    assert_int_equal(ap.n, 2);
    assert_string_equal(ap.servers[1].node_status, "failed");
    assert_int_equal(ap.servers[1].last_index, 409);
    vault_autopilot_clear(&ap);
    /* The CLI's CamelCase is not the HTTP answer. */
    const char *camel = "{\"data\":{\"Healthy\":true,\"Servers\":{}}}";
    assert_int_equal(vault_parse_http_autopilot(camel, strlen(camel), &ap, &err), -1);
    assert_string_equal(err.msg, "sys/storage/raft/autopilot/state answered without "
                                 "data.healthy/data.servers");
}

static void test_http_error_summary(void **state)
{
    (void)state;
    char buf[64];
    const char *two = "{\"errors\":[\"permission denied\",\"1 error occurred\"]}";
    vault_http_error_summary(two, strlen(two), buf, sizeof buf);
    assert_string_equal(buf, "permission denied; 1 error occurred");
    vault_http_error_summary("Client sent an HTTP request to an HTTPS server.\n", 48, buf,
                             sizeof buf);
    assert_string_equal(buf, "Client sent an HTTP request to an HTTPS server.");
    const char *none = "{\"errors\":[]}";
    vault_http_error_summary(none, strlen(none), buf, sizeof buf);
    assert_string_equal(buf, "");
    char tiny[8];
    vault_http_error_summary(two, strlen(two), tiny, sizeof tiny);
    assert_string_equal(tiny, "permiss");
}

/* Every command, with or without sh, runs with the inherited token unset: the plugin cannot
 * see a token that comes from envFrom, the image or a webhook. */
static void test_argv_without_pod_token(void **state)
{
    (void)state;
    struct vault_cluster vc = {.product = PRODUCT_VAULT};
    struct vault_argv w;
    const char *status[] = {"vault", "status", "-format=json", NULL};
    const char *const *a = vault_argv_without_pod_token(&vc, status, &w);
    const char *want[] = {"env", "-u", "VAULT_TOKEN", "vault", "status", "-format=json"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_string_equal(a[i], want[i]);
    assert_null(a[6]);
    const char *script[] = {"sh", "-c", "\"$0\" status", "vault", NULL};
    a = vault_argv_without_pod_token(&vc, script, &w);
    assert_string_equal(a[0], "env");
    assert_string_equal(a[3], "sh");
    assert_null(a[7]);
    vc.product = PRODUCT_OPENBAO;
    const char *bao[] = {"bao", "status", NULL};
    a = vault_argv_without_pod_token(&vc, bao, &w);
    const char *want_bao[] = {"env", "-u", "BAO_TOKEN", "-u", "VAULT_TOKEN", "bao", "status"};
    for (size_t i = 0; i < sizeof want_bao / sizeof want_bao[0]; i++)
        assert_string_equal(a[i], want_bao[i]);
    assert_null(a[7]);
    /* The distroless image: no env, so the command runs as is. */
    assert_true(vault_exec_lacks_env(
        "failed to exec in container: OCI runtime exec failed: exec failed: unable to start "
        "container process: exec: \"env\": executable file not found in $PATH: unknown"));
    assert_false(vault_exec_lacks_env(
        "OCI runtime exec failed: exec: \"sh\": executable file not found in $PATH: unknown"));
    assert_false(vault_exec_lacks_env(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_sealed),
        cmocka_unit_test(test_status_seal_migration),
        cmocka_unit_test(test_status_leader_and_standby),
        cmocka_unit_test(test_status_failures),
        cmocka_unit_test(test_init_roundtrip),
        cmocka_unit_test(test_unseal_answer),
        cmocka_unit_test(test_peers),
        cmocka_unit_test(test_autopilot_camel_case),
        cmocka_unit_test(test_error_summary),
        cmocka_unit_test(test_call_check),
        cmocka_unit_test(test_http_seal_status_and_leader),
        cmocka_unit_test(test_http_raft_answers),
        cmocka_unit_test(test_http_error_summary),
        cmocka_unit_test(test_argv_without_pod_token),
    };
    return cmocka_run_group_tests_name("vault", tests, NULL, NULL);
}
