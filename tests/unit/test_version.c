/* lib/version: semver 2.0 precedence, Vault's and OpenBao's tags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "version.h"

/* a < b, and so b > a. */
static void older(const char *a, const char *b)
{
    assert_int_equal(version_compare(a, b), -1);
    assert_int_equal(version_compare(b, a), 1);
}

static void test_releases(void **state)
{
    (void)state;
    older("1.21.2", "1.21.3");
    older("1.21.9", "1.21.10");
    older("1.21.9", "2.0.4");
    older("1.9.0", "1.10.0");
    older("99999999999999999999.0.0", "100000000000000000000.0.0"); /* no overflow */
    assert_int_equal(version_compare("v2.6.2", "2.6.2"), 0);
    assert_int_equal(version_compare("1.21.02", "1.21.2"), 0);
}

static void test_prereleases(void **state)
{
    (void)state;
    older("1.21.0-beta1", "1.21.0");
    older("1.21.0-beta2", "1.21.0-rc1");
    older("1.21.0-beta2", "1.21.0-beta10"); /* was text order: beta10 < beta2 */
    older("1.21.0-rc9", "1.21.0-rc10");
    older("1.20.9", "1.21.0-beta1");
    /* semver 2.0's own example, section 11 */
    static const char *const chain[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                        "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                        "1.0.0-rc.1",  "1.0.0"};
    for (size_t i = 0; i + 1 < sizeof chain / sizeof chain[0]; i++)
        older(chain[i], chain[i + 1]);
    older("1.0.0-2", "1.0.0-10");      /* numeric identifiers as numbers */
    older("1.0.0-999", "1.0.0-alpha"); /* a number before a word */
    older("1.0.0-Beta", "1.0.0-beta"); /* ASCII order */
    assert_int_equal(version_compare("1.0.0-rc.01", "1.0.0-rc.1"), 0);
}

static void test_build_metadata_ignored(void **state)
{
    (void)state;
    assert_int_equal(version_compare("1.17.0+ent", "1.17.0"), 0);
    assert_int_equal(version_compare("1.17.0+ent.hsm", "1.17.0+fips1402"), 0);
    assert_int_equal(version_compare("1.17.0-rc1+ent", "1.17.0-rc1"), 0);
    older("1.17.0-rc1+ent", "1.17.0+ent");
}

static void test_not_versions(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "latest", "1.21",    "1.21.0x", "1.21.0-", "1.21.0-a..b", "1.21.0+", "1.21.0-a_b", ".1.2",
        "1..2.3", "1.2.3.4", "vv1.2.3", "",        "1.2.3-rc1+",  "-1.2.3",  NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        assert_int_equal(version_compare(bad[i], "1.21.0"), -2);
        assert_int_equal(version_compare("1.21.0", bad[i]), -2);
    }
    assert_int_equal(version_compare(NULL, "1.21.0"), -2);
    assert_int_equal(version_compare("1.21.0", NULL), -2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_releases),
        cmocka_unit_test(test_prereleases),
        cmocka_unit_test(test_build_metadata_ignored),
        cmocka_unit_test(test_not_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
