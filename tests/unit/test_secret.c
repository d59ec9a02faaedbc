/* lib/secret: locked buffers, core dumps off while secrets live, unseal key
 * checks as Vault decodes keys (docs/vault-cli.md §3.4), keys and token files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "secret.h"

/* A 33-byte share: 66 hex characters / 44 base64 characters. */
#define HEX66  "217c91d0e267485a1b7a464c30228aa151294fbc08ea5f9448ccc4dc87320f2a00"
#define B64_44 "IXyR0OJnSFobekZMMCKCoVEpT7wI6l+USMzE3IcyDyoA"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/vh-secret-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static char *write_file(const char *name, const char *text, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
    return path;
}

static void test_core_dumps_off_for_good(void **state)
{
    (void)state;
    struct secret s = {0};
    struct error err = {0};
    assert_int_equal(secret_live_count(), 0);
    /* This process starts with dumps on (a test binary); the first secret turns them off. */
    assert_int_equal(secret_from(&s, "hvs.token", 9, &err), 0);
    assert_string_equal(s.data, "hvs.token");
    struct rlimit rl;
    getrlimit(RLIMIT_CORE, &rl);
    assert_int_equal(rl.rlim_cur, 0);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    assert_int_equal(secret_live_count(), 1);
    secret_free(&s);
    assert_null(s.data);
    assert_int_equal(secret_live_count(), 0);
    /* The last secret freed does not turn them back on: copies outlive it. */
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    getrlimit(RLIMIT_CORE, &rl);
    assert_int_equal(rl.rlim_cur, 0);
    assert_int_equal(rl.rlim_max, 0);
    secret_free(&s); /* twice is harmless */
    assert_int_equal(secret_protect_process(&err), 0);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    char msg[512];
    assert_int_equal(secret_mlock_warning(msg, sizeof msg), 0); /* mlock worked here */
}

static void test_token_control_characters_refused(void **state)
{
    (void)state;
    struct error err = {0};
    assert_int_equal(secret_check_token("hvs.abc", 7, "VAULT_TOKEN", &err), 0);
    assert_int_equal(secret_check_token("hvs.a\nvault token revoke -self", 30, "VAULT_TOKEN", &err),
                     -1);
    assert_string_equal(err.msg, "VAULT_TOKEN: the token holds a control character (0x0a at byte "
                                 "6); a token is one line of printable text");
    assert_int_equal(secret_check_token("a\rb", 3, "x", &err), -1);
    assert_int_equal(secret_check_token("a\x1b[2Jb", 7, "x", &err), -1);
    assert_int_equal(secret_check_token("a\x7f", 2, "x", &err), -1);
    assert_int_equal(secret_check_token("", 0, "x", &err), -1);
    assert_string_equal(err.msg, "x: the token is empty");
    /* From every source: the environment, a token file. */
    struct secret t = {0};
    setenv("VAULT_TOKEN", "hvs.abc\nexit 0", 1);
    assert_int_equal(secret_get_token(NULL, 0, 0, &t, &err), -1);
    assert_non_null(strstr(err.msg, "VAULT_TOKEN: the token holds a control character"));
    setenv("BAO_TOKEN", "s.abc\r", 1);
    assert_int_equal(secret_get_token(NULL, 1, 0, &t, &err), 0 - 1);
    assert_non_null(strstr(err.msg, "BAO_TOKEN: the token holds a control character (0x0d"));
    unsetenv("BAO_TOKEN");
    setenv("VAULT_TOKEN", "hvs.good", 1);
    assert_int_equal(secret_get_token(NULL, 1, 0, &t, &err), 1);
    assert_string_equal(t.data, "hvs.good");
    secret_free(&t);
    unsetenv("VAULT_TOKEN");
    char *path = write_file("token-cr", "hvs.a\rb\n", 0600);
    assert_int_equal(secret_read_token_file(path, &t, &err), -1);
    assert_non_null(strstr(err.msg, ": the token holds a control character (0x0d at byte 6)"));
    assert_null(t.data);
    assert_int_equal(secret_live_count(), 0);
}

static void test_unseal_key_checks(void **state)
{
    (void)state;
    struct error err = {0};
    assert_int_equal(secret_check_unseal_key(HEX66, 66, &err), 0);
    assert_int_equal(secret_check_unseal_key(B64_44, 44, &err), 0);
    /* 16 bytes hex (32 chars) is the minimum Vault accepts. */
    assert_int_equal(secret_check_unseal_key("00112233445566778899aabbccddeeff", 32, &err), 0);
    /* Valid hex but too short, so Vault tries base64 next: 3 bytes. */
    assert_int_equal(secret_check_unseal_key("abcd", 4, &err), -1);
    assert_string_equal(err.msg, "unseal key too short: 3 bytes, Vault's keys have 16 to 33 bytes");
    assert_int_equal(secret_check_unseal_key("not a key!", 10, &err), -1);
    assert_string_equal(err.msg, "not an unseal key: it must be hex or base64 (as `vault operator "
                                 "init` prints them), 10 characters given");
    const char *long_b64 = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"; /* 39 bytes */
    assert_int_equal(secret_check_unseal_key(long_b64, strlen(long_b64), &err), -1);
    assert_string_equal(err.msg, "unseal key too long: 39 bytes, Vault's keys have 16 to 33 bytes");
    assert_null(strstr(err.msg, "QUFB")); /* never echoes the key */
    assert_int_equal(secret_check_unseal_key("", 0, &err), -1);
    assert_string_equal(err.msg, "empty unseal key");
}

static void test_keys_file_lines(void **state)
{
    (void)state;
    char *path = write_file("keys", "# unseal keys\n" HEX66 "\n\n  " B64_44 "  \n", 0600);
    struct secret_list l = {0};
    struct error err = {0};
    assert_int_equal(secret_read_keys_file(path, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].data, HEX66);
    assert_string_equal(l.items[1].data, B64_44);
    secret_list_free(&l);
    assert_int_equal(secret_live_count(), 0);
}

static void test_keys_file_init_json(void **state)
{
    (void)state;
    char *path = write_file("init.json",
                            "{\"unseal_keys_b64\": [\"" B64_44 "\", \"" B64_44 "\"],"
                            " \"unseal_keys_hex\": [\"" HEX66 "\"], \"unseal_shares\": 5,"
                            " \"root_token\": \"hvs.XXXXXXXXXXXXXXXXXXXXXXXX\"}\n",
                            0400);
    struct secret_list l = {0};
    struct error err = {0};
    assert_int_equal(secret_read_keys_file(path, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[1].data, B64_44);
    secret_list_free(&l);
    /* Under auto-unseal init writes empty unseal keys and the recovery keys. */
    char *auto_path = write_file("init-auto.json",
                                 "{\"unseal_keys_b64\": [], \"unseal_keys_hex\": [],"
                                 " \"recovery_keys_b64\": [\"" B64_44 "\"],"
                                 " \"recovery_keys_hex\": [\"" HEX66 "\", \"" HEX66 "\"]}\n",
                                 0400);
    assert_int_equal(secret_read_keys_file(auto_path, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].data, B64_44);
    secret_list_free(&l);
}

/* The shares and threshold init's JSON records come from the same one parse
 * (unseal or recovery, whichever keys were taken); key lines and invalid pairs
 * record none. */
static void test_keys_file_record(void **state)
{
    (void)state;
    char *path = write_file("init-rec.json",
                            "{\"unseal_keys_b64\": [\"" B64_44 "\", \"" B64_44 "\", \"" B64_44
                            "\"], \"unseal_shares\": 5, \"unseal_threshold\": 3,"
                            " \"recovery_keys_shares\": 0, \"recovery_keys_threshold\": 0,"
                            " \"root_token\": \"hvs.XXXXXXXXXXXXXXXXXXXXXXXX\"}\n",
                            0400);
    struct secret_list l = {0};
    struct error err = {0};
    struct secret_keys_record rec = {.shares = 9, .threshold = 9, .recovery = 1};
    assert_int_equal(secret_read_keys_file_record(path, &l, &rec, &err), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(rec.shares, 5);
    assert_int_equal(rec.threshold, 3);
    assert_int_equal(rec.recovery, 0);
    secret_list_free(&l);
    char *auto_path = write_file("init-auto-rec.json",
                                 "{\"unseal_keys_b64\": [], \"unseal_shares\": 1,"
                                 " \"unseal_threshold\": 1, \"recovery_keys_b64\": [\"" B64_44
                                 "\", \"" B64_44 "\"], \"recovery_keys_shares\": 4,"
                                 " \"recovery_keys_threshold\": 2}\n",
                                 0400);
    assert_int_equal(secret_read_keys_file_record(auto_path, &l, &rec, &err), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(rec.shares, 4);
    assert_int_equal(rec.threshold, 2);
    assert_int_equal(rec.recovery, 1);
    secret_list_free(&l);
    char *lines = write_file("keys-rec", HEX66 "\n" B64_44 "\n", 0600);
    assert_int_equal(secret_read_keys_file_record(lines, &l, &rec, &err), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(rec.shares, 0);
    assert_int_equal(rec.threshold, 0);
    secret_list_free(&l);
    static const char bad_pair[] = "{\"keys\": [\"" B64_44 "\"], \"unseal_shares\": 2,"
                                   " \"unseal_threshold\": 3}";
    assert_int_equal(
        secret_parse_keys_record("k.json", bad_pair, sizeof bad_pair - 1, &l, &rec, &err), 0);
    assert_int_equal(rec.shares, 0);
    assert_int_equal(rec.threshold, 0);
    secret_list_free(&l);
    assert_int_equal(secret_live_count(), 0);
}

/* The parser on its own: text without a NUL (bytes after len are not keys), a
 * key on the last line without a newline, errors naming the given name. */
static void test_parse_keys_text(void **state)
{
    (void)state;
    static const char text[] = "  " HEX66 "\n" B64_44 "short";
    struct secret_list l = {0};
    struct error err = {0};
    assert_int_equal(secret_parse_keys("keys.txt", text, sizeof text - 6, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].data, HEX66);
    assert_string_equal(l.items[1].data, B64_44);
    secret_list_free(&l);
    assert_int_equal(secret_parse_keys("keys.txt", text, sizeof text - 1, &l, &err), -1);
    assert_non_null(strstr(err.msg, "keys.txt:2: not an unseal key"));
    assert_int_equal(l.n, 0);
    static const char json[] = "{\"keys\": [\"" B64_44 "\"]}}";
    assert_int_equal(secret_parse_keys("k.json", json, sizeof json - 2, &l, &err), 0);
    assert_int_equal(l.n, 1);
    secret_list_free(&l);
    assert_int_equal(secret_parse_keys("k.json", json, sizeof json - 1, &l, &err), -1);
    assert_string_equal(err.msg, "k.json:1:59: not valid JSON: text after the end of the document");
    /* A stray control character in a key: jansson's text quotes 16 characters
     * of the key; the message gives file, line and column only. Leading blank
     * lines and spaces count in the place. */
    static const char ctl[] =
        "\n  {\"unseal_keys_b64\": [\n  \"IXyR0OJnSFobekZM\x02MCKCoVEpT7wI6l+USMzE3IcyDyoA\"]}\n";
    assert_int_equal(secret_parse_keys("k.json", ctl, sizeof ctl - 1, &l, &err), -1);
    assert_string_equal(err.msg, "k.json:3:19: not valid JSON: a control character");
    assert_null(strstr(err.msg, "IXyR"));
    static const char indented[] = "  {\"keys\": [\"" B64_44 "\"]}}";
    assert_int_equal(secret_parse_keys("k.json", indented, sizeof indented - 1, &l, &err), -1);
    assert_string_equal(err.msg, "k.json:1:61: not valid JSON: text after the end of the document");
    assert_int_equal(secret_parse_keys("empty", "", 0, &l, &err), -1);
    assert_string_equal(err.msg, "empty holds no unseal keys");
    assert_int_equal(secret_live_count(), 0);
}

static void test_keys_file_refused_when_readable_by_others(void **state)
{
    (void)state;
    char *path = write_file("open-keys", HEX66 "\n", 0644);
    char expect[256];
    snprintf(expect, sizeof expect,
             "%s holds secrets but group or others can read it (mode 0644): run chmod 600 %s", path,
             path);
    struct secret_list l = {0};
    struct error err = {0};
    assert_int_equal(secret_read_keys_file(path, &l, &err), -1);
    assert_string_equal(err.msg, expect);
    assert_int_equal(l.n, 0);
}

static void test_keys_file_bad_key_names_line(void **state)
{
    (void)state;
    char *path = write_file("bad-keys", HEX66 "\nshort\n", 0600);
    char expect[256];
    snprintf(expect, sizeof expect,
             "%s:2: not an unseal key: it must be hex or base64 (as `vault operator init` prints "
             "them), 5 characters given",
             path);
    struct secret_list l = {0};
    struct error err = {0};
    assert_int_equal(secret_read_keys_file(path, &l, &err), -1);
    assert_string_equal(err.msg, expect);
    assert_int_equal(l.n, 0);
    assert_int_equal(secret_live_count(), 0);
    path = write_file("empty-keys", "\n# nothing\n", 0600);
    assert_int_equal(secret_read_keys_file(path, &l, &err), -1);
    snprintf(expect, sizeof expect, "%s holds no unseal keys", path);
    assert_string_equal(err.msg, expect);
    path = write_file("nokeys.json", "{\"root_token\": \"x\"}", 0600);
    assert_int_equal(secret_read_keys_file(path, &l, &err), -1);
    assert_non_null(strstr(err.msg, "is JSON but has no unseal keys"));
}

static void test_token_file(void **state)
{
    (void)state;
    char *path = write_file("token", "  hvs.abcdef  \n", 0600);
    struct secret t = {0};
    struct error err = {0};
    assert_int_equal(secret_read_token_file(path, &t, &err), 0);
    assert_string_equal(t.data, "hvs.abcdef");
    assert_int_equal(t.len, 10);
    secret_free(&t);
    path = write_file("token2", "a\nb\n", 0600);
    assert_int_equal(secret_read_token_file(path, &t, &err), -1);
    assert_non_null(strstr(err.msg, "holds more than one line"));
    assert_int_equal(secret_read_token_file("/nonexistent/token", &t, &err), -1);
    assert_string_equal(err.msg, "cannot open /nonexistent/token: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_dumps_off_for_good),
        cmocka_unit_test(test_token_control_characters_refused),
        cmocka_unit_test(test_unseal_key_checks),
        cmocka_unit_test(test_keys_file_lines),
        cmocka_unit_test(test_keys_file_init_json),
        cmocka_unit_test(test_keys_file_record),
        cmocka_unit_test(test_parse_keys_text),
        cmocka_unit_test(test_keys_file_refused_when_readable_by_others),
        cmocka_unit_test(test_keys_file_bad_key_names_line),
        cmocka_unit_test(test_token_file),
    };
    return cmocka_run_group_tests_name("secret", tests, setup, teardown);
}
