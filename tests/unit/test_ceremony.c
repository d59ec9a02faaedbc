/* lib/ceremony: parsers against the CLI outputs of docs/ceremonies.md, the
 * OTP, the local decode, the failure classes and the start-line search. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ceremony.h"

/* §2.4: `operator rekey -status -format=json` with a rekey in progress. */
static const char *STATUS =
    "{\n  \"nonce\": \"ba8c0b52-6f88-d206-d9de-ad1a2330f8c0\",\n  \"started\": true,\n"
    "  \"t\": 3,\n  \"n\": 5,\n  \"progress\": 1,\n  \"required\": 3,\n"
    "  \"pgp_fingerprints\": null,\n  \"backup\": false,\n  \"verification_required\": false,\n"
    "  \"verification_nonce\": \"\"\n}\n";

/* §2.4: the final submit through `vault write` (.data since 1.13). */
static const char *FINAL =
    "{\"request_id\":\"\",\"lease_id\":\"\",\"lease_duration\":0,\"renewable\":false,\"data\":{"
    "\"backup\":false,\"complete\":true,\"keys\":[\"aa\",\"bb\"],\"keys_base64\":[\"qg==\","
    "\"uw==\"],\"nonce\":\"ba8c0b52-6f88-d206-d9de-ad1a2330f8c0\",\"pgp_fingerprints\":[\"0a1b\"],"
    "\"verification_nonce\":\"11111111-2222-3333-4444-555555555555\","
    "\"verification_required\":true},\"warnings\":null}\n";

static void test_rekey_status(void **state)
{
    (void)state;
    struct rekey_status st;
    struct error err = {0};
    assert_int_equal(ceremony_parse_rekey_status(STATUS, strlen(STATUS), &st, &err), 0);
    assert_true(st.started);
    assert_string_equal(st.nonce, "ba8c0b52-6f88-d206-d9de-ad1a2330f8c0");
    assert_int_equal(st.t, 3);
    assert_int_equal(st.n, 5);
    assert_int_equal(st.progress, 1);
    assert_int_equal(st.required, 3);
    assert_int_equal(st.npgp, 0);
    /* The TTY prompt text may come first (docs/ceremonies.md §1.2). */
    char with_prompt[1024];
    snprintf(with_prompt, sizeof with_prompt, "Rekey operation nonce: x\n%s", STATUS);
    assert_int_equal(ceremony_parse_rekey_status(with_prompt, strlen(with_prompt), &st, &err), 0);
    assert_int_equal(st.progress, 1);
    /* A nonce that is not a UUID is never kept (it goes into a command line). */
    const char *evil = "{\"started\":true,\"nonce\":\"a\\\"; rm -rf /\"}";
    assert_int_equal(ceremony_parse_rekey_status(evil, strlen(evil), &st, &err), 0);
    assert_string_equal(st.nonce, "");
    assert_int_equal(ceremony_parse_rekey_status("{}", 2, &st, &err), -1);
    assert_int_equal(ceremony_parse_rekey_status("nothing", 7, &st, &err), -1);
}

static void test_rekey_update(void **state)
{
    (void)state;
    struct rekey_update u;
    struct error err = {0};
    assert_int_equal(ceremony_parse_rekey_update(FINAL, strlen(FINAL), &u, &err), 0);
    assert_true(u.complete);
    assert_int_equal(u.keys_b64.n, 2);
    assert_memory_equal(u.keys_hex.items[1].data, "bb", 2);
    assert_int_equal(u.npgp, 1);
    assert_string_equal(u.pgp_fingerprints[0], "0a1b");
    assert_true(u.verification_required);
    assert_string_equal(u.verification_nonce, "11111111-2222-3333-4444-555555555555");
    struct secret json = {0};
    assert_int_equal(ceremony_rekey_keys_json(&u, 2, 0, &json, &err), 0);
    assert_non_null(strstr(json.data, "\"unseal_keys_b64\": [\n    \"qg==\","));
    assert_non_null(strstr(json.data, "\"unseal_threshold\": 2"));
    assert_non_null(strstr(json.data, "\"pgp_fingerprints\": [\n    \"0a1b\"\n  ]"));
    assert_non_null(strstr(json.data, "\"nonce\": \"ba8c0b52"));
    secret_free(&json);
    /* Recovery shares under init's recovery names: never mistaken for unseal keys. */
    assert_int_equal(ceremony_rekey_keys_json(&u, 2, 1, &json, &err), 0);
    assert_non_null(strstr(json.data, "\"recovery_keys_b64\": [\n    \"qg==\","));
    assert_non_null(strstr(json.data, "\"recovery_keys_hex\": ["));
    assert_non_null(strstr(json.data, "\"recovery_keys_shares\": 2"));
    assert_non_null(strstr(json.data, "\"recovery_keys_threshold\": 2"));
    assert_null(strstr(json.data, "unseal"));
    secret_free(&json);
    ceremony_rekey_update_clear(&u);
    /* Not complete: the status under .data. */
    const char *mid =
        "{\"data\":{\"started\":true,\"progress\":2,\"required\":3,\"nonce\":\"ab\"}}";
    assert_int_equal(ceremony_parse_rekey_update(mid, strlen(mid), &u, &err), 0);
    assert_false(u.complete);
    assert_int_equal(u.status.progress, 2);
    ceremony_rekey_update_clear(&u);
    const char *bad = "{\"complete\":true,\"keys\":[\"aa\"],\"keys_base64\":[]}";
    assert_int_equal(ceremony_parse_rekey_update(bad, strlen(bad), &u, &err), -1);
    const char *nokeys = "{\"complete\":true}";
    assert_int_equal(ceremony_parse_rekey_update(nokeys, strlen(nokeys), &u, &err), -1);
}

static void test_verify(void **state)
{
    (void)state;
    struct rekey_verify_status st;
    struct error err = {0};
    const char *s = "{\"nonce\":\"abc-1\",\"started\":true,\"t\":2,\"n\":3,\"progress\":1}";
    assert_int_equal(ceremony_parse_verify_status(s, strlen(s), &st, &err), 0);
    assert_string_equal(st.nonce, "abc-1");
    assert_int_equal(st.progress, 1);
    const char *done = "{\"data\":{\"nonce\":\"abc-1\",\"complete\":true}}";
    assert_int_equal(ceremony_parse_verify_update(done, strlen(done), &st, &err), 1);
    assert_int_equal(ceremony_parse_verify_update(s, strlen(s), &st, &err), 0);
}

static void test_root(void **state)
{
    (void)state;
    struct root_status st;
    struct error err = {0};
    /* §3.2: the status, then a final update through `vault write`. */
    const char *status = "{\"nonce\":\"15565c79-cc9e\",\"started\":true,\"progress\":0,"
                         "\"required\":3,\"complete\":false,\"encoded_token\":\"\","
                         "\"encoded_root_token\":\"\",\"pgp_fingerprint\":\"\",\"otp\":\"\","
                         "\"otp_length\":28}";
    assert_int_equal(ceremony_parse_root(status, strlen(status), &st, &err), 0);
    assert_int_equal(st.otp_length, 28);
    assert_false(st.complete);
    ceremony_root_status_clear(&st);
    const char *final =
        "{\"data\":{\"complete\":true,\"encoded_token\":\"OUJEaHkg\",\"progress\":3,"
        "\"required\":3,\"started\":true}}";
    assert_int_equal(ceremony_parse_root(final, strlen(final), &st, &err), 0);
    assert_true(st.complete);
    assert_memory_equal(st.encoded.data, "OUJEaHkg", 8);
    ceremony_root_status_clear(&st);
    const char *empty = "{\"complete\":true,\"started\":true,\"encoded_token\":\"\"}";
    assert_int_equal(ceremony_parse_root(empty, strlen(empty), &st, &err), -1);
}

static void test_otp_and_decode(void **state)
{
    (void)state;
    struct secret otp = {0}, token = {0};
    struct error err = {0};
    assert_int_equal(ceremony_make_otp(28, &otp, &err), 0);
    assert_int_equal(otp.len, 28);
    for (size_t i = 0; i < otp.len; i++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", otp.data[i]));
    secret_free(&otp);
    assert_int_equal(ceremony_make_otp(0, &otp, &err), -1);
    /* The fake's generate-root: OTP Q47F7PnoCya6INjTzm34pL7LxLxp gave this encoded token. */
    assert_int_equal(secret_from(&otp, "Q47F7PnoCya6INjTzm34pL7LxLxp", 28, &err), 0);
    const char *enc = "OUJEaHkgXwEUF1JxeXhfATgcQVk4PXs9AQoPSA";
    assert_int_equal(ceremony_decode_token(enc, strlen(enc), &otp, &token, &err), 0);
    assert_string_equal(token.data, "hvs.Np1nWn3G065UBqrmHqLqyFw8");
    secret_free(&token);
    /* Padded: a PGP token; a wrong length; a character outside base64. */
    assert_int_equal(ceremony_decode_token("OUJEaA==", 8, &otp, &token, &err), -1);
    assert_non_null(strstr(err.msg, "pgp"));
    assert_int_equal(ceremony_decode_token("OUJE", 4, &otp, &token, &err), -1);
    assert_non_null(strstr(err.msg, "not the one"));
    char bad[64];
    snprintf(bad, sizeof bad, "%s", enc);
    bad[3] = '*';
    assert_int_equal(ceremony_decode_token(bad, strlen(bad), &otp, &token, &err), -1);
    secret_free(&otp);
}

static void test_classify_and_flavor(void **state)
{
    (void)state;
    assert_int_equal(ceremony_classify("permission denied"), CER_FAIL_DENIED);
    assert_int_equal(ceremony_classify("given key has already been provided during this "
                                       "generation operation"),
                     CER_FAIL_DUPLICATE);
    assert_int_equal(ceremony_classify("rootter key verification failed: x"),
                     CER_FAIL_WRONG_SHARES);
    assert_int_equal(ceremony_classify("root generation aborted: root key verification failed"),
                     CER_FAIL_WRONG_SHARES);
    assert_int_equal(ceremony_classify("incorrect nonce supplied; nonce for this rekey "
                                       "operation is \"x\""),
                     CER_FAIL_WRONG_NONCE);
    assert_int_equal(ceremony_classify("rekey already in progress"), CER_FAIL_IN_PROGRESS);
    assert_int_equal(ceremony_classify("no barrier rekey in progress"), CER_FAIL_NOT_STARTED);
    assert_int_equal(ceremony_classify("rekey operation already finished; verification must be "
                                       "performed"),
                     CER_FAIL_VERIFY_PENDING);
    assert_int_equal(ceremony_classify(""), CER_FAIL_OTHER);
    struct ceremony_flavor f;
    ceremony_flavor_of(PRODUCT_VAULT, "1.21.2", &f);
    assert_false(f.needs_token);
    ceremony_flavor_of(PRODUCT_VAULT, "2.0.4", &f);
    assert_true(f.needs_token);
    ceremony_flavor_of(PRODUCT_OPENBAO, "2.6.2", &f);
    assert_true(f.openbao && f.needs_token && f.root_token_v2);
    ceremony_flavor_of(PRODUCT_OPENBAO, "2.5.1", &f);
    assert_false(f.root_token_v2);
    assert_false(f.root_unmounted);
    assert_true(f.rotate_keys && f.needs_token);
    /* OpenBao: rotate-keys since 2.4.0; 2.5.3 to 2.5.x serve no generate-root by default. */
    ceremony_flavor_of(PRODUCT_OPENBAO, "2.3.2", &f);
    assert_false(f.rotate_keys || f.needs_token || f.root_token_v2);
    ceremony_flavor_of(PRODUCT_OPENBAO, "2.5.3", &f);
    assert_true(f.root_unmounted && !f.root_token_v2);
    ceremony_flavor_of(PRODUCT_OPENBAO, "2.5.10", &f);
    assert_true(f.root_unmounted);
    ceremony_flavor_of(PRODUCT_OPENBAO, "v2.6.0", &f);
    assert_true(f.root_token_v2 && !f.root_unmounted && f.version_known);
    /* A leading v is a version; sscanf read "v2.0.1" as 0.0.0, i.e. Vault 1.x rules. */
    ceremony_flavor_of(PRODUCT_VAULT, "v2.0.1", &f);
    assert_true(f.needs_token && f.version_known);
    ceremony_flavor_of(PRODUCT_VAULT, "1.21.0-rc1", &f);
    assert_false(f.needs_token);
    /* Unknown: the newest rules, a token required. */
    ceremony_flavor_of(PRODUCT_VAULT, "", &f);
    assert_true(f.needs_token && !f.version_known);
    ceremony_flavor_of(PRODUCT_VAULT, NULL, &f);
    assert_true(f.needs_token);
    ceremony_flavor_of(PRODUCT_VAULT, "latest", &f);
    assert_true(f.needs_token);
}

static void test_find_start_and_key_status(void **state)
{
    (void)state;
    struct ceremony_start st;
    const char *log = "2026-12-06T10:40:01.000Z [INFO]  core: vault is unsealed\n"
                      "2026-12-06T10:41:02.123Z [INFO]  core: rekey initialized: nonce=ab-1 "
                      "shares=5\n";
    assert_int_equal(ceremony_find_start(log, "rekey", "ab-1", &st), 1);
    assert_string_equal(st.when, "2026-12-06 10:41 UTC");
    assert_string_equal(st.stamp, "2026-12-06T10:41:02");
    assert_false(st.completed);
    assert_int_equal(ceremony_find_start(log, "rekey", "ab-2", &st), 0);
    assert_int_equal(ceremony_find_start(log, "root generation", NULL, &st), 0);
    assert_int_equal(ceremony_find_start(log, "rekey", NULL, &st), 1);
    assert_string_equal(st.nonce, "ab-1");
    assert_int_equal(ceremony_find_start("rekey initialized: nonce=ab-1\n", "rekey", "ab-1", &st),
                     0);
    /* A timestamp with a non-digit anywhere is no timestamp: its text is not shown. */
    assert_int_equal(ceremony_find_start("2026-12-06T1\x1b:41:02Z core: rekey initialized: "
                                         "nonce=ab-1\n",
                                         "rekey", "ab-1", &st),
                     0);
    assert_int_equal(ceremony_find_start("2026-1\x1b-06T10:41:02Z core: rekey initialized: "
                                         "nonce=ab-1\n",
                                         "rekey", "ab-1", &st),
                     0);
    /* A rekey that completed after its start is not a lost one. */
    const char *done = "2026-11-29T09:00:00Z [INFO]  core: rekey initialized: nonce=ab-3\n"
                       "2026-11-29T09:05:00Z [INFO]  core: security barrier rekeyed: shares=5\n";
    assert_int_equal(ceremony_find_start(done, "rekey", NULL, &st), 1);
    assert_true(st.completed);
    assert_string_equal(st.when, "2026-11-29 09:00 UTC");
    struct key_status ks;
    struct error err = {0};
    const char *k = "{\"term\":3,\"install_time\":\"2015-05-29T14:50:46.223692553Z\","
                    "\"encryptions\":74718331}";
    assert_int_equal(ceremony_parse_key_status(k, strlen(k), &ks, &err), 0);
    assert_int_equal(ks.term, 3);
    assert_string_equal(ks.install_time, "2015-05-29T14:50:46.223692553Z");
    /* Not a time (escapes, a cut character): nothing of it is kept. */
    const char *bad = "{\"term\":4,\"install_time\":\"2015-05-29T14:50:46Z\\u001b]52;c;x\"}";
    assert_int_equal(ceremony_parse_key_status(bad, strlen(bad), &ks, &err), 0);
    assert_int_equal(ks.term, 4);
    assert_string_equal(ks.install_time, "");
    const char *cut = "{\"term\":5,\"install_time\":\"2015-05-29T14:50:\\u00e946Z\"}";
    assert_int_equal(ceremony_parse_key_status(cut, strlen(cut), &ks, &err), 0);
    assert_string_equal(ks.install_time, "");
    assert_int_equal(ceremony_parse_key_status("{\"term\":1}", 10, &ks, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rekey_status),
        cmocka_unit_test(test_rekey_update),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_root),
        cmocka_unit_test(test_otp_and_decode),
        cmocka_unit_test(test_classify_and_flavor),
        cmocka_unit_test(test_find_start_and_key_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
