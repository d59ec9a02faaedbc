/* lib/wait: the one wait helper. A scripted check stands in for the cluster:
 * what is reported (begin, changes of state, end), what a timeout and a
 * failure say, cancel, and the duration format. Timeouts are short, but no
 * assertion depends on how long anything took. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wait.h"

struct script {
    const char *states[8]; /* one per poll; "" done, "!" failed, else pending with that text */
    int polls;
    volatile sig_atomic_t *cancel_after_first;
};

static enum wait_poll scripted(void *ctx, char *text, size_t cap, struct error *err)
{
    struct script *s = ctx;
    const char *st = s->states[s->polls < 7 ? s->polls : 7];
    s->polls++;
    if (s->cancel_after_first != NULL)
        *s->cancel_after_first = 1;
    if (st == NULL || st[0] == '\0') {
        snprintf(text, cap, "vault-0 is active");
        return WAIT_DONE;
    }
    if (strcmp(st, "!") == 0) {
        error_set(err, ERR_REMOTE, "no raft member is unsealed");
        return WAIT_FAILED;
    }
    snprintf(text, cap, "%s", st);
    return WAIT_PENDING;
}

struct log {
    char lines[16][256];
    int n;
};

static void record(void *ctx, enum wait_event ev, const char *text)
{
    struct log *l = ctx;
    static const char *const names[] = {"begin", "progress", "end"};
    if (l->n < 16)
        snprintf(l->lines[l->n++], sizeof l->lines[0], "%s: %s", names[ev], text);
}

static void test_done_at_once_says_nothing(void **state)
{
    (void)state;
    struct script s = {.states = {""}};
    struct log l = {0};
    struct waiter w = {.timeout_ms = 1000, .interval_ms = 10, .report = record, .report_ctx = &l};
    char result[64];
    struct error err = {0};
    assert_int_equal(wait_for(&w, "a leader election", scripted, &s, result, sizeof result, &err),
                     0);
    assert_string_equal(result, "vault-0 is active");
    assert_int_equal(l.n, 0);
    assert_int_equal(s.polls, 1);
}

static void test_done_at_once_reported_when_asked(void **state)
{
    (void)state;
    struct script s = {.states = {""}};
    struct log l = {0};
    struct waiter w = {.timeout_ms = 1000,
                       .interval_ms = 10,
                       .report = record,
                       .report_ctx = &l,
                       .report_always = 1};
    struct error err = {0};
    assert_int_equal(wait_for(&w, "vault-1 to run again", scripted, &s, NULL, 0, &err), 1);
    assert_int_equal(s.polls, 1);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.lines[0], "begin: waiting for vault-1 to run again");
    assert_true(strncmp(l.lines[1], "end: vault-0 is active (", 24) == 0);
}

static void test_pending_then_done_reports_changes_once(void **state)
{
    (void)state;
    struct script s = {.states = {"no leader yet", "no leader yet", "vault-1 sealed", ""}};
    struct log l = {0};
    struct waiter w = {.timeout_ms = 60000, .interval_ms = 1, .report = record, .report_ctx = &l};
    struct error err = {0};
    assert_int_equal(wait_for(&w, "a leader election", scripted, &s, NULL, 0, &err), 1);
    assert_int_equal(s.polls, 4);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.lines[0], "begin: waiting for a leader election");
    assert_string_equal(l.lines[1], "progress: vault-1 sealed");
    assert_true(strncmp(l.lines[2], "end: vault-0 is active (", 24) == 0);
    assert_true(strstr(l.lines[2], " s)") != NULL);
}

static void test_timeout_says_what_and_last_state(void **state)
{
    (void)state;
    struct script s = {.states = {"vault-0: unsealed standby", "vault-0: unsealed standby",
                                  "vault-0: unsealed standby", "vault-0: unsealed standby",
                                  "vault-0: unsealed standby", "vault-0: unsealed standby",
                                  "vault-0: unsealed standby", "vault-0: unsealed standby"}};
    struct log l = {0};
    struct waiter w = {.timeout_ms = 50, .interval_ms = 10, .report = record, .report_ctx = &l};
    struct error err = {0};
    assert_int_equal(wait_for(&w, "a leader election", scripted, &s, NULL, 0, &err), -1);
    assert_int_equal(err.kind, ERR_TIMEOUT);
    assert_string_equal(err.msg, "gave up after 50ms waiting for a leader election: vault-0: "
                                 "unsealed standby");
    assert_string_equal(l.lines[l.n - 1], "end: timed out");
}

static void test_failure_ends_the_wait_with_its_reason(void **state)
{
    (void)state;
    struct script s = {.states = {"electing", "!"}};
    struct log l = {0};
    struct waiter w = {.timeout_ms = 60000, .interval_ms = 1, .report = record, .report_ctx = &l};
    struct error err = {0};
    assert_int_equal(wait_for(&w, "a leader election", scripted, &s, NULL, 0, &err), -1);
    assert_int_equal(err.kind, ERR_REMOTE);
    assert_string_equal(err.msg, "no raft member is unsealed");
    assert_int_equal(l.n, 2);
    assert_string_equal(l.lines[1], "end: stopped");
    /* failed at the first poll: nothing was begun, nothing is reported */
    struct script s2 = {.states = {"!"}};
    struct log l2 = {0};
    w.report_ctx = &l2;
    assert_int_equal(wait_for(&w, "x", scripted, &s2, NULL, 0, &err), -1);
    assert_int_equal(l2.n, 0);
}

static void test_cancel_interrupts_between_polls(void **state)
{
    (void)state;
    volatile sig_atomic_t cancel = 0;
    struct script s = {.states = {"electing", "electing"}, .cancel_after_first = &cancel};
    struct waiter w = {.timeout_ms = 60000, .interval_ms = 30000, .cancel = &cancel};
    struct error err = {0};
    assert_int_equal(wait_for(&w, "a leader election", scripted, &s, NULL, 0, &err), -1);
    assert_int_equal(err.kind, ERR_INTERRUPTED);
    assert_string_equal(err.msg, "interrupted while waiting for a leader election");
    assert_int_equal(s.polls, 1);
}

static void test_sleep_cancelled(void **state)
{
    (void)state;
    volatile sig_atomic_t cancel = 1;
    assert_int_equal(wait_sleep_ms(60000, &cancel), -1);
    assert_int_equal(wait_sleep_ms(1, NULL), 0);
    double a = wait_now_s(), b = wait_now_s();
    assert_true(b >= a);
}

static void test_format_duration(void **state)
{
    (void)state;
    char b[32];
    wait_format_duration(b, sizeof b, 300);
    assert_string_equal(b, "300ms");
    wait_format_duration(b, sizeof b, 3000);
    assert_string_equal(b, "3s");
    wait_format_duration(b, sizeof b, 1500);
    assert_string_equal(b, "1.5s");
    wait_format_duration(b, sizeof b, 120000);
    assert_string_equal(b, "2m0s");
    wait_format_duration(b, sizeof b, 600000 + 5000);
    assert_string_equal(b, "10m5s");
    wait_format_duration(b, sizeof b, 3600000 + 61000);
    assert_string_equal(b, "1h1m1s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_done_at_once_says_nothing),
        cmocka_unit_test(test_done_at_once_reported_when_asked),
        cmocka_unit_test(test_pending_then_done_reports_changes_once),
        cmocka_unit_test(test_timeout_says_what_and_last_state),
        cmocka_unit_test(test_failure_ends_the_wait_with_its_reason),
        cmocka_unit_test(test_cancel_interrupts_between_polls),
        cmocka_unit_test(test_sleep_cancelled),
        cmocka_unit_test(test_format_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
