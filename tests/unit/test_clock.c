/* lib/clock: the monotonic clock and the one RFC 3339 parser (every input is
 * given in a heap block of its exact size, so ASan sees any read past it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"

static int parse(const char *text, time_t *out)
{
    char *exact = strdup(text);
    assert_non_null(exact);
    *out = -12345;
    int rc = clock_parse_rfc3339(exact, out);
    free(exact);
    return rc;
}

static void valid(const char *text, time_t want)
{
    time_t t;
    if (parse(text, &t) != 0)
        fail_msg("\"%s\" was refused", text);
    assert_int_equal(t, want);
}

static void invalid(const char *text)
{
    time_t t;
    if (parse(text, &t) != -1)
        fail_msg("\"%s\" was accepted", text);
}

static void test_valid(void **state)
{
    (void)state;
    valid("1970-01-01T00:00:10Z", 10);
    valid("1970-01-01T01:00:10.123456+01:00", 10);
    valid("1970-01-01T00:00:10-00:30", 10 + 1800);
    valid("2026-11-25t01:00:00z", 1795568400);
    valid("2024-02-29T00:00:00Z", 1709164800);
    valid("2016-12-31T23:59:60Z", 1483228800); /* a leap second */
}

static void test_invalid(void **state)
{
    (void)state;
    /* Short offsets (found by fuzzing: "+1:1" was read 2 bytes past its end). */
    invalid("2026-01-01T00:00:00+1:1");
    invalid("2026-01-01T00:00:00+1");
    invalid("2026-01-01T00:00:00+");
    invalid("2026-01-01T00:00:00+01:0");
    invalid("2026-01-01T00:00:00+ 1: 1");
    invalid("2026-01-01T00:00:00");
    invalid("2026-01-01T00:00:00.Z");
    invalid("2026-01-01T00:00:00ZX");
    invalid("2026-01-01T00:00:00+01:00 ");
    invalid(" 2026-01-01T00:00:00Z");
    invalid("2026-1-01T00:00:00Z");
    invalid("2026-13-01T00:00:00Z");
    invalid("2025-02-29T00:00:00Z");
    invalid("2026-01-01T24:00:00Z");
    invalid("2026-01-01T00:60:00Z");
    invalid("2026-01-01T00:00:61Z");
    invalid("2026-01-01T00:00:00+24:00");
    invalid("2026-01-01 00:00:00Z");
    invalid("");
    invalid("2");
    invalid("garbage");
    time_t t;
    assert_int_equal(clock_parse_rfc3339(NULL, &t), -1);
}

static void test_monotonic(void **state)
{
    (void)state;
    long long a = clock_now_ms();
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    long long b = clock_now_ms();
    assert_true(a > 0);
    assert_true(b >= a + 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
