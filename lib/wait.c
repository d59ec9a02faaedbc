#include "wait.h"

#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

double wait_now_s(void)
{
    return (double)clock_now_ms() / 1000.0;
}

int wait_sleep_ms(long ms, volatile sig_atomic_t *cancel)
{
    double end = wait_now_s() + (double)ms / 1000.0;
    for (;;) {
        if (cancel != NULL && *cancel)
            return -1;
        double left = end - wait_now_s();
        if (left <= 0)
            return 0;
        /* Short slices so a cancel flag set by a signal handler is seen soon,
         * whether or not the signal interrupted nanosleep. */
        long slice = left > 0.1 ? 100 : (long)(left * 1000.0) + 1;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = slice * 1000000L};
        if (slice >= 1000) {
            ts.tv_sec = slice / 1000;
            ts.tv_nsec = (slice % 1000) * 1000000L;
        }
        nanosleep(&ts, NULL);
    }
}

void wait_format_duration(char *buf, size_t cap, long ms)
{
    if (ms < 1000) {
        snprintf(buf, cap, "%ldms", ms);
    } else if (ms < 60000) {
        if (ms % 1000 == 0)
            snprintf(buf, cap, "%lds", ms / 1000);
        else
            snprintf(buf, cap, "%.1fs", (double)ms / 1000.0);
    } else if (ms < 3600000) {
        snprintf(buf, cap, "%ldm%lds", ms / 60000, (ms % 60000) / 1000);
    } else {
        snprintf(buf, cap, "%ldh%ldm%lds", ms / 3600000, (ms % 3600000) / 60000,
                 (ms % 60000) / 1000);
    }
}

static void report(const struct waiter *w, enum wait_event ev, const char *text)
{
    if (w->report != NULL)
        w->report(w->report_ctx, ev, text);
}

int wait_for(const struct waiter *w, const char *what, wait_check_fn check, void *ctx, char *result,
             size_t result_cap, struct error *err)
{
    long timeout_ms = w->timeout_ms > 0 ? w->timeout_ms : WAIT_DEFAULT_MS;
    long interval_ms = w->interval_ms > 0 ? w->interval_ms : 1000;
    double start = wait_now_s(), deadline = start + (double)timeout_ms / 1000.0;
    char text[1024], last[1024] = "", line[1200];
    int begun = 0;
    for (;;) {
        text[0] = '\0';
        struct error perr = {0};
        enum wait_poll r = check(ctx, text, sizeof text, &perr);
        double elapsed = wait_now_s() - start;
        if (r == WAIT_DONE) {
            if (!begun && w->report_always) {
                snprintf(line, sizeof line, "waiting for %s", what);
                report(w, WAIT_BEGIN, line);
                begun = 1;
            }
            if (begun) {
                snprintf(line, sizeof line, "%s (%.1f s)", text, elapsed);
                report(w, WAIT_END, line);
            }
            if (result != NULL)
                snprintf(result, result_cap, "%s", text);
            return begun;
        }
        if (r == WAIT_FAILED) {
            if (begun)
                report(w, WAIT_END, "stopped");
            *err = perr;
            if (err->kind == ERR_NONE)
                err->kind = ERR_GENERIC;
            return -1;
        }
        if (!begun) {
            snprintf(line, sizeof line, "waiting for %s", what);
            report(w, WAIT_BEGIN, line);
            begun = 1;
        } else if (text[0] != '\0' && strcmp(text, last) != 0) {
            report(w, WAIT_PROGRESS, text);
        }
        snprintf(last, sizeof last, "%s", text);
        double now = wait_now_s();
        if (now >= deadline) {
            char limit[32];
            wait_format_duration(limit, sizeof limit, timeout_ms);
            report(w, WAIT_END, "timed out");
            return error_set(err, ERR_TIMEOUT, "gave up after %s waiting for %s%s%s", limit, what,
                             last[0] ? ": " : "", last);
        }
        long nap = interval_ms;
        if ((deadline - now) * 1000.0 < (double)nap)
            nap = (long)((deadline - now) * 1000.0) + 1;
        if (wait_sleep_ms(nap, w->cancel) < 0) {
            report(w, WAIT_END, "interrupted");
            return error_set(err, ERR_INTERRUPTED, "interrupted while waiting for %s", what);
        }
    }
}
