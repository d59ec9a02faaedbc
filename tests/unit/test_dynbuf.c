/* lib/dynbuf: growth, the size limit, the sticky failure, formatted appends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dynbuf.h"

static void test_empty_reads_as_empty_string(void **state)
{
    (void)state;
    struct dynbuf b = {0};
    assert_string_equal(dynbuf_str(&b), "");
    assert_int_equal(b.len, 0);
    char *s = dynbuf_take(&b);
    assert_string_equal(s, "");
    free(s);
    dynbuf_free(&b);
}

static void test_grows_and_stays_terminated(void **state)
{
    (void)state;
    struct dynbuf b;
    dynbuf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(dynbuf_addf(&b, "%d,", i % 10), DYNBUF_OK);
    assert_int_equal(b.len, 2000);
    assert_int_equal(strlen(dynbuf_str(&b)), 2000);
    assert_memory_equal(b.data, "0,1,2,", 6);
    assert_int_equal(dynbuf_add(&b, "\0x", 2), DYNBUF_OK); /* binary content */
    assert_int_equal(b.len, 2002);
    assert_int_equal(b.data[2001], 'x');
    assert_int_equal(b.data[2002], '\0');
    dynbuf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_limit_is_exact_and_sticky(void **state)
{
    (void)state;
    struct dynbuf b;
    dynbuf_init(&b, 8);
    assert_int_equal(dynbuf_add(&b, "hello", 5), DYNBUF_OK);
    assert_int_equal(dynbuf_add(&b, "!!!", 3), DYNBUF_OK); /* exactly max */
    assert_true(b.cap <= 9);
    assert_int_equal(dynbuf_add(&b, "x", 1), DYNBUF_TOO_BIG);
    assert_string_equal(dynbuf_str(&b), "hello!!!"); /* unchanged */
    assert_int_equal(dynbuf_add(&b, "", 0), DYNBUF_TOO_BIG);
    assert_int_equal(dynbuf_result(&b), DYNBUF_TOO_BIG);
    assert_null(dynbuf_take(&b)); /* freed: a half-built text is not handed on */
    assert_int_equal(dynbuf_result(&b), DYNBUF_OK);
    assert_int_equal(b.max, 8); /* the limit survives */
    assert_int_equal(dynbuf_addf(&b, "%s", "123456789"), DYNBUF_TOO_BIG);
    dynbuf_free(&b);
    assert_int_equal(dynbuf_addf(&b, "%d", 42), DYNBUF_OK);
    char *s = dynbuf_take(&b);
    assert_string_equal(s, "42");
    free(s);
}

static void test_default_limit(void **state)
{
    (void)state;
    struct dynbuf b = {0};
    char *big = calloc(1, DYNBUF_MAX_DEF);
    assert_non_null(big);
    assert_int_equal(dynbuf_add(&b, big, DYNBUF_MAX_DEF), DYNBUF_OK);
    assert_int_equal(dynbuf_add(&b, big, 1), DYNBUF_TOO_BIG);
    free(big);
    dynbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_reads_as_empty_string),
        cmocka_unit_test(test_grows_and_stays_terminated),
        cmocka_unit_test(test_limit_is_exact_and_sticky),
        cmocka_unit_test(test_default_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
