/* lib/lease, its pure part: reading a Lease (hostile text sanitized, bounds),
 * judging it live, stale or free, the refusal that names the holder and since
 * when, the holder identity, MicroTime and the object written. Taking,
 * renewing and releasing run end to end against the fake API server
 * (tests/e2e/test_lock.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "lease.h"

/* 2026-05-01T10:00:00Z */
#define T0 ((time_t)1777629600)

static json_t *lease(const char *holder, const char *acquire, const char *renew, int duration)
{
    json_t *o =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{}}", "apiVersion", "coordination.k8s.io/v1",
                  "kind", "Lease", "metadata", "name", "vault-vault-ha-lock", "namespace", "vault",
                  "resourceVersion", "1042", "spec");
    json_t *spec = json_object_get(o, "spec");
    if (holder != NULL)
        json_object_set_new(spec, "holderIdentity", json_string(holder));
    if (acquire != NULL)
        json_object_set_new(spec, "acquireTime", json_string(acquire));
    if (renew != NULL)
        json_object_set_new(spec, "renewTime", json_string(renew));
    if (duration != 0)
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(duration));
    json_object_set_new(spec, "leaseTransitions", json_integer(2));
    return o;
}

static void test_microtime_and_identity(void **state)
{
    (void)state;
    char buf[64];
    lease_microtime(T0, 42, buf, sizeof buf);
    assert_string_equal(buf, "2026-05-01T10:00:00.000042Z");
    time_t back = 0;
    assert_int_equal(clock_parse_rfc3339(buf, &back), 0);
    assert_int_equal(back, T0);
    char id[256];
    lease_identity("upgrade", "alice", "laptop", 4242, id, sizeof id);
    assert_string_equal(id, "upgrade by alice@laptop pid 4242");
    lease_identity("recover", NULL, "", 7, id, sizeof id);
    assert_string_equal(id, "recover by ?@? pid 7");
}

static void test_parse_and_judge(void **state)
{
    (void)state;
    json_t *o = lease("upgrade by bob@ci pid 12", "2026-05-01T10:00:00.000000Z",
                      "2026-05-01T10:00:20.000000Z", 30);
    struct lease_record rec;
    assert_int_equal(lease_parse(o, &rec), 0);
    assert_string_equal(rec.holder, "upgrade by bob@ci pid 12");
    assert_string_equal(rec.resource_version, "1042");
    assert_int_equal(rec.acquire, T0);
    assert_int_equal(rec.renew, T0 + 20);
    assert_int_equal(rec.duration_s, 30);
    assert_int_equal(rec.transitions, 2);
    /* Live until renewTime + leaseDurationSeconds, stale after. */
    assert_int_equal(lease_judge(&rec, T0 + 50), LEASE_LIVE);
    assert_int_equal(lease_judge(&rec, T0 + 51), LEASE_STALE);
    json_decref(o);
    /* Released (no holder): free. */
    o = lease("", "2026-05-01T10:00:00Z", "2026-05-01T10:00:00Z", 30);
    assert_int_equal(lease_parse(o, &rec), 0);
    assert_int_equal(lease_judge(&rec, T0 + 5), LEASE_FREE);
    json_decref(o);
    /* Nothing says it ended (no renewal time, no duration): live. */
    o = lease("upgrade by bob@ci pid 12", NULL, NULL, 0);
    assert_int_equal(lease_parse(o, &rec), 0);
    assert_int_equal(lease_judge(&rec, T0 + 100000), LEASE_LIVE);
    json_decref(o);
    /* Not a Lease: no resourceVersion. */
    o = json_pack("{s:{}}", "metadata");
    assert_int_equal(lease_parse(o, &rec), -1);
    json_decref(o);
}

static void test_hostile_lease(void **state)
{
    (void)state;
    /* Escapes in the holder are made visible; a bad time or a huge duration is no
     * time and no duration. */
    json_t *o = lease("evil\x1b[2J\x1b]52;c;aGFja2Vk\x07", "not a time", "2026-13-01T00:00:00Z",
                      2000000000);
    struct lease_record rec;
    assert_int_equal(lease_parse(o, &rec), 0);
    assert_null(strchr(rec.holder, '\x1b'));
    assert_string_equal(rec.holder, "evil\\x1b[2J\\x1b]52;c;aGFja2Vk\\x07");
    assert_int_equal(rec.acquire, 0);
    assert_int_equal(rec.renew, 0);
    assert_int_equal(rec.duration_s, 0);
    json_decref(o);
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    o = lease(big, NULL, NULL, 30);
    json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string(big));
    assert_int_equal(lease_parse(o, &rec), -1); /* a resourceVersion that long is no Lease */
    json_decref(o);
}

static void test_refusals(void **state)
{
    (void)state;
    json_t *o = lease("upgrade by bob@ci pid 12", "2026-05-01T10:00:00.000000Z",
                      "2026-05-01T10:00:20.000000Z", 30);
    struct lease_record rec;
    assert_int_equal(lease_parse(o, &rec), 0);
    json_decref(o);
    char why[1024];
    lease_refusal(&rec, "vault", "vault-vault-ha-lock", T0 + 25, 0, why, sizeof why);
    assert_string_equal(why, "locked by another run: \"upgrade by bob@ci pid 12\" holds the lock "
                             "(Lease vault/vault-vault-ha-lock) since 2026-05-01T10:00:00.000000Z "
                             "(25 s ago), last renewed 5 s ago; wait until it ends, then run "
                             "again");
    lease_refusal(&rec, "vault", "vault-vault-ha-lock", T0 + 25, 1, why, sizeof why);
    assert_string_equal(why, "locked by another run: \"upgrade by bob@ci pid 12\" holds the lock "
                             "(Lease vault/vault-vault-ha-lock) since 2026-05-01T10:00:00.000000Z "
                             "(25 s ago), last renewed 5 s ago; --force-unlock takes over only a "
                             "lock that has not been renewed for its 30 s, and this one is alive");
    lease_refusal(&rec, "vault", "vault-vault-ha-lock", T0 + 20 + 3 * 86400, 0, why, sizeof why);
    assert_string_equal(why, "locked by another run: \"upgrade by bob@ci pid 12\" holds the lock "
                             "(Lease vault/vault-vault-ha-lock) since 2026-05-01T10:00:00.000000Z "
                             "(3 days ago), last renewed 3 days ago, past its 30 s: its run has "
                             "probably ended without releasing it. Make sure that run is gone, "
                             "then add --force-unlock to take the lock over");
}

static void test_object(void **state)
{
    (void)state;
    json_t *o =
        lease_object("vault", "vault-vault-ha-lock", "upgrade by alice@laptop pid 1", 30,
                     "2026-05-01T10:00:00.000000Z", "2026-05-01T10:00:10.000000Z", 3, "1042");
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(
        s, "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"labels\":"
           "{\"app.kubernetes.io/managed-by\":\"kubectl-vault_ha\"},\"name\":\"vault-vault-ha-"
           "lock\",\"namespace\":\"vault\",\"resourceVersion\":\"1042\"},\"spec\":{"
           "\"acquireTime\":\"2026-05-01T10:00:00.000000Z\",\"holderIdentity\":\"upgrade by "
           "alice@laptop pid 1\",\"leaseDurationSeconds\":30,\"leaseTransitions\":3,"
           "\"renewTime\":\"2026-05-01T10:00:10.000000Z\"}}");
    free(s);
    /* What it writes, it reads back. */
    struct lease_record rec;
    assert_int_equal(lease_parse(o, &rec), 0);
    assert_string_equal(rec.holder, "upgrade by alice@laptop pid 1");
    assert_int_equal(rec.renew, T0 + 10);
    json_decref(o);
    /* A create carries no resourceVersion. */
    o = lease_object("vault", "x", "h", 30, "a", "r", 0, NULL);
    assert_null(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
    json_decref(o);
}

static void test_no_lock_is_held(void **state)
{
    (void)state;
    struct error err = {0};
    assert_int_equal(lease_check(NULL, &err), 0);
    assert_int_equal(lease_release(NULL, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_microtime_and_identity),
        cmocka_unit_test(test_parse_and_judge),
        cmocka_unit_test(test_hostile_lease),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_object),
        cmocka_unit_test(test_no_lock_is_held),
    };
    return cmocka_run_group_tests_name("lease", tests, NULL, NULL);
}
