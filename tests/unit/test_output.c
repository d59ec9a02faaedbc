/* lib/output: tables, JSON, YAML, ages and sizes render exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "output.h"

static void test_table_alignment(void **state)
{
    (void)state;
    const char *h[] = {"POD", "SEALED", "VERSION"};
    struct table *t = table_new(3, h);
    const char *r1[] = {"vault-0", "false", "1.21.2"};
    const char *r2[] = {"vault-10", NULL, "2.0.4"};
    assert_int_equal(table_add_row(t, r1), 0);
    assert_int_equal(table_add_row(t, r2), 1);
    char *s = table_render(t, 0);
    assert_string_equal(s, "POD        SEALED   VERSION\n"
                           "vault-0    false    1.21.2\n"
                           "vault-10   -        2.0.4\n");
    free(s);
    table_set_color(t, 0, 1, COLOR_RED);
    s = table_render(t, 1);
    assert_non_null(strstr(s, "\033[31mfalse\033[0m    1.21.2"));
    assert_non_null(strstr(s, "\033[1mPOD\033[0m"));
    free(s);
    table_free(t);
}

static void test_table_max_width(void **state)
{
    (void)state;
    const char *h[] = {"POD", "PHASE", "NODE"};
    struct table *t = table_new(3, h);
    table_set_max_width(t, 1, 10);
    table_set_max_width(t, 2, 8);
    const char *r1[] = {"vault-0", "Unschedulable: 0/3 nodes", "nöde-ééééé-1"};
    const char *r2[] = {"vault-1", "Running", "node-1"};
    const char *r3[] = {"vault-2", "exactly-10", "12345678"};
    assert_int_equal(table_add_row(t, r1), 0);
    assert_int_equal(table_add_row(t, r2), 1);
    assert_int_equal(table_add_row(t, r3), 2);
    table_set_color(t, 0, 1, COLOR_RED);
    char *s = table_render(t, 0);
    /* Cut between characters (UTF-8 kept whole); a cell at the bound stays whole. */
    assert_string_equal(s, "POD       PHASE        NODE\n"
                           "vault-0   Unsched...   nöde-...\n"
                           "vault-1   Running      node-1\n"
                           "vault-2   exactly-10   12345678\n");
    free(s);
    s = table_render(t, 1); /* the colour closes after the ellipsis */
    assert_non_null(strstr(s, "vault-0   \033[31mUnsched...\033[0m   nöde-..."));
    free(s);
    table_free(t);
}

static void test_colorize(void **state)
{
    (void)state;
    char *a = colorize("ok", COLOR_GREEN, 1), *b = colorize("ok", COLOR_GREEN, 0);
    assert_string_equal(a, "\033[32mok\033[0m");
    assert_string_equal(b, "ok");
    free(a);
    free(b);
}

static void test_remote_text_sanitized_before_colour(void **state)
{
    (void)state;
    const char *h[] = {"POD", "PHASE", "READY"};
    struct table *t = table_new(3, h);
    const char *r1[] = {"vault-0", "Evil\033]52;c;ZXZpbA==\007", "false"};
    assert_int_equal(table_add_row(t, r1), 0);
    table_set_color(t, 0, 1, COLOR_RED);
    char *s = table_render(t, 0);
    /* Escaped, and the columns aligned on the escaped text. */
    assert_string_equal(s, "POD       PHASE                        READY\n"
                           "vault-0   Evil\\x1b]52;c;ZXZpbA==\\x07   false\n");
    free(s);
    s = table_render(t, 1); /* only our own colour sequences remain */
    assert_non_null(strstr(s, "\033[31mEvil\\x1b]52;c;ZXZpbA==\\x07\033[0m   false"));
    free(s);
    table_free(t);
    char *c = colorize("degraded\033[2J", COLOR_YELLOW, 1);
    assert_string_equal(c, "\033[33mdegraded\\x1b[2J\033[0m");
    free(c);
    c = colorize("\r", COLOR_NONE, 1);
    assert_string_equal(c, "\\x0d");
    free(c);
}

static void test_json(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:s, s:i, s:[b]}", "b", "x", "a", 1, "list", 1);
    char *s = output_json(v);
    assert_string_equal(s, "{\n  \"b\": \"x\",\n  \"a\": 1,\n  \"list\": [\n    true\n  ]\n}\n");
    free(s);
    json_decref(v);
}

static void test_json_is_ascii_and_terminal_safe(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:s}", "reason", "a\033[2J\x7f\xc2\x9b\xc3\xa9\xe2\x9c\x93");
    assert_non_null(v);
    char *s = output_json(v);
    assert_string_equal(s, "{\n  \"reason\": \"a\\u001B[2J\\u007F\\u009B\\u00E9\\u2713\"\n}\n");
    json_t *back = json_loads(s, 0, NULL); /* still JSON, and the same value */
    assert_true(json_equal(back, v));
    json_decref(back);
    free(s);
    json_decref(v);
}

static void test_yaml_quotes_ambiguous_strings(void **state)
{
    (void)state;
    json_t *v =
        json_pack("{s:s, s:s, s:s, s:b, s:i, s:n, s:[s], s:{}}", "name", "vault-0", "bool_text",
                  "true", "number_text", "1.21", "sealed", 0, "n", 3, "none", "list", "a", "empty");
    /* YAML 1.1 readers take n, yes, off... as booleans: such strings are quoted, keys too. */
    struct error err = {0};
    char *s = output_yaml(v, &err);
    assert_non_null(s);
    assert_string_equal(s, "name: vault-0\n"
                           "bool_text: 'true'\n"
                           "number_text: '1.21'\n"
                           "sealed: false\n"
                           "'n': 3\n"
                           "none: null\n"
                           "list:\n"
                           "- a\n"
                           "empty: {}\n");
    free(s);
    json_decref(v);
}

static void test_age(void **state)
{
    (void)state;
    char b[32];
    output_age(b, sizeof b, 1000, 1000 - 45);
    assert_string_equal(b, "45s");
    output_age(b, sizeof b, 1000, 1000 - 310);
    assert_string_equal(b, "5m10s");
    output_age(b, sizeof b, 100000, 100000 - 3 * 3600);
    assert_string_equal(b, "3h");
    output_age(b, sizeof b, 1000000, 1000000 - (2 * 86400 + 4 * 3600));
    assert_string_equal(b, "2d4h");
    output_age(b, sizeof b, 100000000, 100000000 - 400 * 86400);
    assert_string_equal(b, "400d");
    output_age(b, sizeof b, 1000, 0);
    assert_string_equal(b, "<unknown>");
}

static void test_size(void **state)
{
    (void)state;
    char b[32];
    output_size(b, sizeof b, 512);
    assert_string_equal(b, "512 B");
    output_size(b, sizeof b, 1536);
    assert_string_equal(b, "1.5 KiB");
    output_size(b, sizeof b, (uint64_t)1 << 30);
    assert_string_equal(b, "1.0 GiB");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_alignment),
        cmocka_unit_test(test_table_max_width),
        cmocka_unit_test(test_colorize),
        cmocka_unit_test(test_remote_text_sanitized_before_colour),
        cmocka_unit_test(test_json_is_ascii_and_terminal_safe),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_yaml_quotes_ambiguous_strings),
        cmocka_unit_test(test_age),
        cmocka_unit_test(test_size),
    };
    return cmocka_run_group_tests_name("output", tests, NULL, NULL);
}
