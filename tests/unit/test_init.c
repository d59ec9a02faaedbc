/* lib/init, its pure part: the request's shares and threshold, and the
 * --pgp-keys list (entries, limits). Running init in a pod is covered end to
 * end (tests/e2e/test_ops.py, test_hardening.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "init.h"

static void test_check_request(void **state)
{
    (void)state;
    struct init_request req = {0};
    long s = 0, t = 0;
    struct error err = {0};
    assert_int_equal(init_check_request(&req, &s, &t, &err), 0);
    assert_int_equal(s, 5);
    assert_int_equal(t, 3);
    req.shares = 1;
    req.threshold = 1;
    assert_int_equal(init_check_request(&req, &s, &t, &err), 0);
    assert_int_equal(s, 1);
    req.shares = 3;
    req.threshold = 4;
    assert_int_equal(init_check_request(&req, &s, &t, &err), -1);
    assert_int_equal(err.kind, ERR_USAGE);
    assert_string_equal(err.msg, "--key-threshold (4) must be between 1 and --key-shares (3), at "
                                 "most 255");
    req.shares = 256;
    req.threshold = 3;
    assert_int_equal(init_check_request(&req, &s, &t, &err), -1);
    req.shares = -1;
    assert_int_equal(init_check_request(&req, &s, &t, &err), -1);
}

static void test_split_pgp_list(void **state)
{
    (void)state;
    char *copy = NULL, *items[INIT_PGP_MAX];
    struct error err = {0};
    assert_int_equal(init_split_pgp_list("a.pub,keybase:bob,c.pub", "pgp-keys", &copy, items, &err),
                     3);
    assert_string_equal(items[0], "a.pub");
    assert_string_equal(items[1], "keybase:bob");
    assert_string_equal(items[2], "c.pub");
    free(copy);
    assert_int_equal(init_split_pgp_list("a.pub,,c.pub", "pgp-keys", &copy, items, &err), -1);
    assert_string_equal(err.msg, "--pgp-keys: an empty entry in \"a.pub,,c.pub\"");
    free(copy);
    char many[256] = "k";
    for (int i = 0; i < INIT_PGP_MAX; i++)
        strcat(many, ",k");
    assert_int_equal(init_split_pgp_list(many, "recovery-pgp-keys", &copy, items, &err), -1);
    assert_string_equal(err.msg, "--recovery-pgp-keys: at most 16 keys");
    free(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_request),
        cmocka_unit_test(test_split_pgp_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
