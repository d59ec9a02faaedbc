/* Waits are first-class (docs/design.md §4.4): every wait of the tool (an election, a
 * pod start, a promotion, a catch-up) goes through wait_for(), which holds a
 * wall-clock deadline, reports progress (a begin line, each change of state,
 * an end line with the time taken) and, when it gives up, says what it waited
 * for and the last state it saw. A cancel flag (Ctrl-C) ends it between polls.
 * Also an interruptible sleep. */
#ifndef VH_WAIT_H
#define VH_WAIT_H

#include <signal.h>
#include <stddef.h>

#include "error.h"

/* --timeout's default: each wait gives up after this long. */
#define WAIT_DEFAULT_MS (2L * 60 * 1000)

/* Seconds on lib/clock's monotonic clock (elapsed real time). */
double wait_now_s(void);

/* Sleeps ms milliseconds, or until *cancel is set (checked every 100 ms).
 * Returns 0, or -1 when cancelled. cancel may be NULL. */
int wait_sleep_ms(long ms, volatile sig_atomic_t *cancel);

/* "2m0s", "45s", "1.5s", "300ms": a duration as Go and kubectl print it. */
void wait_format_duration(char *buf, size_t cap, long ms);

enum wait_event {
    WAIT_BEGIN,    /* text: what is waited for, e.g. "waiting for a leader election" */
    WAIT_PROGRESS, /* text: the state changed, e.g. "vault-1: raft non-voter" */
    WAIT_END,      /* text: the outcome and the time taken, e.g. "vault-0 is active (2.4 s)" */
};
typedef void (*wait_report_fn)(void *ctx, enum wait_event ev, const char *text);

struct waiter {
    long timeout_ms;               /* <= 0: WAIT_DEFAULT_MS */
    long interval_ms;              /* between polls; <= 0: 1000 */
    volatile sig_atomic_t *cancel; /* NULL = none */
    wait_report_fn report;         /* NULL = silent */
    void *report_ctx;
    int report_always; /* report even when the first poll is done: a wait the user
                        * expects to see, such as a pod coming back after its deletion */
};

/* What one poll found. */
enum wait_poll { WAIT_FAILED = -1, WAIT_PENDING = 0, WAIT_DONE = 1 };

/* One poll. WAIT_DONE: text holds the outcome ("vault-0 is active").
 * WAIT_PENDING: text holds the state now ("vault-0 unsealed, no leader yet"),
 * reported when it changes and quoted when the wait gives up. WAIT_FAILED:
 * err says why waiting longer cannot help (nothing changes without the user). */
typedef enum wait_poll (*wait_check_fn)(void *ctx, char *text, size_t cap, struct error *err);

/* Polls check until it is done, fails, the deadline passes (ERR_TIMEOUT: "gave
 * up after 2m0s waiting for WHAT: <last state>") or cancel is set
 * (ERR_INTERRUPTED). `what` completes "waiting for ...". Nothing is reported
 * when the first poll is already done, unless w->report_always. On success,
 * result (when not NULL) gets the outcome text. Returns 1 when it reported the
 * wait, 0 when the first poll was done already (and nothing was reported), or
 * -1. */
int wait_for(const struct waiter *w, const char *what, wait_check_fn check, void *ctx, char *result,
             size_t result_cap, struct error *err);

#endif
