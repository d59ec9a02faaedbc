/* lib/snapstream: the marker lines on the pod's stderr (split anywhere, hostile
 * bytes bounded, look-alikes kept as Vault's text), the leader-loss answers,
 * and the pod scripts (the token never in argv, the count and exit status
 * reported, the v4 copy bounded by its length). The drivers themselves run
 * against the fake cluster (tests/e2e/test_snapshot*.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapstream.h"

static struct snapstream_markers *feed(const char *text, size_t step)
{
    struct snapstream_markers *m = calloc(1, sizeof *m);
    assert_non_null(m);
    snapstream_markers_reset(m);
    size_t len = strlen(text);
    struct error err = {0};
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        assert_int_equal(snapstream_markers_write(m, text + off, n, &err), 0);
    }
    snapstream_markers_finish(m);
    return m;
}

static void test_markers_split_anywhere(void **state)
{
    (void)state;
    const char *text = "Error: something\nvault-ha-exit 0\nvault-ha-bytes 123456789\n";
    for (size_t step = 1; step <= strlen(text); step++) {
        struct snapstream_markers *m = feed(text, step);
        assert_true(m->have_exit);
        assert_int_equal(m->exit_code, 0);
        assert_true(m->have_bytes);
        assert_true(m->bytes == 123456789ull);
        assert_false(m->have_received);
        assert_string_equal(m->text, "Error: something\n");
        free(m);
    }
}

static void test_markers_last_line_without_newline_and_crlf(void **state)
{
    (void)state;
    struct snapstream_markers *m = feed("vault-ha-received 42\r\nvault-ha-exit 2", 3);
    assert_true(m->have_received);
    assert_true(m->received == 42);
    assert_true(m->have_exit);
    assert_int_equal(m->exit_code, 2);
    assert_int_equal(m->len, 0);
    free(m);
    m = feed("vault-ha-bytes   7  \t\n", 100); /* blanks around the count */
    assert_true(m->have_bytes && m->bytes == 7);
    free(m);
}

static void test_markers_look_alikes_are_text(void **state)
{
    (void)state;
    const char *bad[] = {
        "vault-ha-exit 256",                      /* no exit status */
        "vault-ha-exit -1",                       /* a sign */
        "vault-ha-exit +1",                       /* a sign */
        "vault-ha-exit",                          /* no count */
        "vault-ha-exit ",                         /* no count */
        "vault-ha-exit 1x",                       /* trailing junk */
        "vault-ha-exit 1 2",                      /* two counts */
        "vault-ha-exitt 1",                       /* another name */
        "vault-ha-bytes 99999999999999999999999", /* over 64 bits */
        " vault-ha-bytes 5",                      /* not at the line's start */
        "vault-ha-received 0x10",                 /* not decimal */
        "xvault-ha-exit 0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char line[128];
        snprintf(line, sizeof line, "%s\n", bad[i]);
        struct snapstream_markers *m = feed(line, 5);
        assert_false(m->have_exit);
        assert_false(m->have_bytes);
        assert_false(m->have_received);
        assert_string_equal(m->text, line);
        free(m);
    }
}

static void test_markers_long_lines_and_the_text_bound(void **state)
{
    (void)state;
    /* A marker at the end of a line longer than the line buffer is no marker. */
    size_t pad = SNAPSTREAM_LINE_MAX + 10;
    char *text = malloc(pad + 64);
    assert_non_null(text);
    memset(text, 'a', pad);
    strcpy(text + pad, " vault-ha-exit 0\nvault-ha-exit 3\n");
    struct snapstream_markers *m = feed(text, 17);
    assert_true(m->have_exit);
    assert_int_equal(m->exit_code, 3);
    assert_int_equal(m->len, pad + strlen(" vault-ha-exit 0\n"));
    assert_memory_equal(m->text, text, m->len);
    free(m);
    free(text);
    /* Endless text is cut at the bound, NUL-terminated; markers after it still count. */
    size_t big = 3 * SNAPSTREAM_TEXT_MAX;
    text = malloc(big + 64);
    assert_non_null(text);
    for (size_t i = 0; i < big; i++)
        text[i] = i % 80 == 79 ? '\n' : 'x';
    strcpy(text + big, "\nvault-ha-bytes 9\n");
    m = feed(text, 4096);
    assert_int_equal(m->len, SNAPSTREAM_TEXT_MAX - 1);
    assert_int_equal(strlen(m->text), SNAPSTREAM_TEXT_MAX - 1);
    assert_true(m->have_bytes && m->bytes == 9);
    free(m);
    free(text);
}

static void test_markers_why(void **state)
{
    (void)state;
    char why[256];
    struct snapstream_markers *m = feed("vault-ha-exit 2\n", 64);
    snapstream_markers_why(m, why, sizeof why);
    assert_string_equal(why, "no error message");
    free(m);
    m = feed("Error taking the snapshot: Error making API request.\n\n"
             "URL: GET http://127.0.0.1:8200/v1/sys/storage/raft/snapshot\n"
             "Code: 503. Errors:\n\n* no active Vault instance found\nvault-ha-exit 2\n",
             64);
    snapstream_markers_why(m, why, sizeof why);
    assert_string_equal(why, "no active Vault instance found");
    assert_true(snapstream_lost_leadership(why));
    free(m);
}

static void test_lost_leadership(void **state)
{
    (void)state;
    assert_true(snapstream_lost_leadership("local node not active but active cluster node not "
                                           "found"));
    assert_true(snapstream_lost_leadership("Vault is sealed"));
    assert_true(snapstream_lost_leadership("no active Vault instance found"));
    assert_false(snapstream_lost_leadership("permission denied"));
    assert_false(snapstream_lost_leadership("no error message"));
}

static int argv_has(const char *const *argv, const char *word)
{
    for (size_t i = 0; argv[i] != NULL; i++)
        if (strcmp(argv[i], word) == 0)
            return 1;
    return 0;
}

static void test_save_script(void **state)
{
    (void)state;
    char script[SNAPSTREAM_SCRIPT_MAX];
    const char *argv[SNAPSTREAM_ARGV_MAX];
    snapstream_save_argv("bao", "BAO_TOKEN", script, argv);
    const char *want[] = {"sh",   "-c",       script, "bao",         "operator",
                          "raft", "snapshot", "save", "/dev/stdout", NULL};
    for (size_t i = 0; want[i] != NULL; i++)
        assert_string_equal(argv[i], want[i]);
    assert_null(argv[9]);
    assert_true(strncmp(script, "IFS= read -r BAO_TOKEN && export BAO_TOKEN && ", 46) == 0);
    assert_non_null(strstr(script, "echo \"vault-ha-exit $?\" >&2"));
    assert_non_null(strstr(script, "echo \"vault-ha-bytes $1\" >&2")); /* counted by dd */
    assert_non_null(strstr(script, "echo \"vault-ha-bytes $n\" >&2")); /* by tee and wc */
    assert_true(strlen(script) < SNAPSTREAM_SCRIPT_MAX - 1);           /* not cut */
    assert_string_equal(script + strlen(script) - 4, "esac");
}

static void test_restore_scripts(void **state)
{
    (void)state;
    char script[SNAPSTREAM_SCRIPT_MAX];
    const char *argv[SNAPSTREAM_ARGV_MAX];
    snapstream_restore_argv("vault", "VAULT_TOKEN", 0, 0, "1234", script, argv);
    assert_string_equal(script, "IFS= read -r VAULT_TOKEN && export VAULT_TOKEN && exec \"$0\" "
                                "\"$@\"");
    const char *streamed[] = {"sh",   "-c",       script,    "vault",      "operator",
                              "raft", "snapshot", "restore", "/dev/stdin", NULL};
    for (size_t i = 0; streamed[i] != NULL; i++)
        assert_string_equal(argv[i], streamed[i]);
    assert_null(argv[9]);
    assert_false(argv_has(argv, "1234"));

    snapstream_restore_argv("vault", "VAULT_TOKEN", 1, 1, "1234", script, argv);
    const char *copied[] = {"sh",   "-c",       script,    "vault",  "1234", "operator",
                            "raft", "snapshot", "restore", "-force", NULL};
    for (size_t i = 0; copied[i] != NULL; i++)
        assert_string_equal(argv[i], copied[i]);
    assert_null(argv[10]);
    assert_non_null(strstr(script, "head -c \"$n\" > \"$f\""));
    assert_non_null(strstr(script, "trap 'rm -f \"$f\"' EXIT"));
    assert_non_null(strstr(script, "echo \"vault-ha-received $got\" >&2"));
    assert_non_null(strstr(script, "[ \"$got\" -eq \"$n\" ] && \"$0\" \"$@\" \"$f\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_markers_split_anywhere),
        cmocka_unit_test(test_markers_last_line_without_newline_and_crlf),
        cmocka_unit_test(test_markers_look_alikes_are_text),
        cmocka_unit_test(test_markers_long_lines_and_the_text_bound),
        cmocka_unit_test(test_markers_why),
        cmocka_unit_test(test_lost_leadership),
        cmocka_unit_test(test_save_script),
        cmocka_unit_test(test_restore_scripts),
    };
    return cmocka_run_group_tests_name("snapstream", tests, NULL, NULL);
}
