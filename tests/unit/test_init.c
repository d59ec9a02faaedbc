/* lib/init, its pure part: the request's shares and threshold, the
 * --pgp-keys list (entries, limits), the pod's temporary directory name and
 * the check of the key copies read back from the pod. Running init in a pod is covered end to
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

static void test_temp_dir(void **state)
{
    (void)state;
    char dir[64];
    assert_int_equal(init_temp_dir("vault-ha-init.aB3_x9\n", 21, dir, sizeof dir), 0);
    assert_string_equal(dir, "/tmp/vault-ha-init.aB3_x9");
    /* Anything else a pod prints is refused: rm -rf is run on this path. */
    static const char *const bad[] = {"",
                                      "\n",
                                      "vault-ha-init.\n",
                                      "vault-ha-init.abc\n", /* shorter than mktemp's XXXXXX */
                                      "vault-ha-init.abcdef/..\n",
                                      "vault-ha-init.abc def\n",
                                      "vault-ha-init.abcdef\nvault-ha-init.ghijkl\n",
                                      "/tmp/vault-ha-init.abcdef\n",
                                      "other.abcdef\n",
                                      "vault-ha-init.abcdefg\n", /* mktemp keeps the length */
                                      NULL};
    for (size_t i = 0; bad[i] != NULL; i++)
        assert_int_equal(init_temp_dir(bad[i], strlen(bad[i]), dir, sizeof dir), -1);
    /* Bounded by its length, not by a NUL. */
    assert_int_equal(init_temp_dir("vault-ha-init.abcdefXYZ", 20, dir, sizeof dir), 0);
    assert_string_equal(dir, "/tmp/vault-ha-init.abcdef");
    assert_int_equal(init_temp_dir("vault-ha-init.abcdef", 20, dir, 20), -1);
}

#define H1 "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
#define H2 "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"

static void test_check_copies(void **state)
{
    (void)state;
    const struct init_copy_sum sums[] = {{"pgp-0.key", H1, "alice.pub"},
                                         {"root-0.key", H2, "bob.pub"}};
    struct error err = {0};
    static const char good[] = H2 "  root-0.key\n" H1 "  pgp-0.key\n";
    assert_int_equal(init_check_copies(good, strlen(good), sums, 2, "vault-0", &err), 0);
    static const char upper[] = "6B86B273FF34FCE19D6B804EFF5A3F5747ADA4EAA22F1D49C01E52DDB7875B4B"
                                "  root-0.key\n" H1 "  pgp-0.key";
    assert_int_equal(init_check_copies(upper, strlen(upper), sums, 2, "vault-0", &err), 0);
    static const char swapped[] = H1 "  root-0.key\n" H1 "  pgp-0.key\n";
    assert_int_equal(init_check_copies(swapped, strlen(swapped), sums, 2, "vault-0", &err), -1);
    assert_int_equal(err.kind, ERR_REMOTE);
    assert_string_equal(err.msg, "the copy of bob.pub in vault-0 is not the file that was sent "
                                 "(its SHA-256 differs): someone changed it; init refused, so "
                                 "that no share is encrypted to another key");
    static const char gone[] = H1 "  pgp-0.key\n";
    assert_int_equal(init_check_copies(gone, strlen(gone), sums, 2, "vault-0", &err), -1);
    assert_string_equal(err.msg,
                        "the copy of bob.pub in vault-0 is gone: someone removed it; init refused");
    static const char extra[] = H1 "  pgp-0.key\n" H2 "  root-0.key\n" H2 "  pgp-1.key\n";
    assert_int_equal(init_check_copies(extra, strlen(extra), sums, 2, "vault-0", &err), -1);
    assert_string_equal(err.msg, "a file that this run did not copy appeared beside the key "
                                 "copies in vault-0: someone else writes there; init refused");
    static const char *const garbled[] = {
        H1 " pgp-0.key\n",                     /* one space */
        H1 "  \n",                             /* no name */
        "5e884898da28  pgp-0.key\n",           /* short hash */
        "zz" H1 "  pgp-0.key\n",               /* not hex */
        "sha256sum: can't open 'pgp-0.key'\n", /* an error on stdout */
        NULL};
    for (size_t i = 0; garbled[i] != NULL; i++) {
        assert_int_equal(
            init_check_copies(garbled[i], strlen(garbled[i]), sums, 2, "vault-0", &err), -1);
        assert_string_equal(err.msg, "sha256sum in vault-0 printed something else than a list "
                                     "of hashes: the key copies cannot be checked; init refused");
    }
    /* Bounded by its length: the name ends at len, not at a NUL. */
    assert_int_equal(init_check_copies(good, strlen(good) - 2, sums, 2, "vault-0", &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_request),
        cmocka_unit_test(test_split_pgp_list),
        cmocka_unit_test(test_temp_dir),
        cmocka_unit_test(test_check_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
