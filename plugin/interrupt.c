/* How a run answers SIGINT, SIGTERM and SIGHUP: the one handler of the plugin (lib/secret's
 * prompt has its own, which restores the terminal while the prompt runs). A command says what
 * it is doing (cmd_interrupt_mode) and the handler decides between ending the process at once
 * and setting cmd_interrupted, which every wait, stream and plan step watches. */
#include <signal.h>
#include <string.h>

#include "cmd.h"

volatile sig_atomic_t cmd_interrupted;
static volatile sig_atomic_t mode = INTERRUPT_DEFAULT;
static volatile sig_atomic_t waiting; /* a wait of cmd_progress_wait is under way */
static int installed;
static struct sigaction pipe_before; /* SIGPIPE as the run found it */

static const int caught_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define NCAUGHT (sizeof caught_signals / sizeof caught_signals[0])

static void end_by(int sig)
{
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_signal(int sig)
{
    switch ((enum interrupt_mode)mode) {
    case INTERRUPT_DEFAULT:
        end_by(sig);
        return;
    case INTERRUPT_WAITS:
        /* Only Ctrl-C, only in a wait, and only the first: the wait ends between two polls. */
        if (sig != SIGINT || !waiting || cmd_interrupted)
            end_by(sig);
        else
            cmd_interrupted = 1;
        return;
    case INTERRUPT_STEPS:
        /* The run stops between two steps and releases what it holds (the lock); a second
         * Ctrl-C is the user insisting. */
        if (cmd_interrupted && sig == SIGINT)
            end_by(sig);
        else
            cmd_interrupted = 1;
        return;
    case INTERRUPT_STREAM:
        /* A stream ends promptly on its own and removes its temporary file: never end the
         * process under it. */
        cmd_interrupted = 1;
        return;
    }
}

enum interrupt_mode cmd_interrupt_mode(enum interrupt_mode m)
{
    enum interrupt_mode old = (enum interrupt_mode)mode;
    if (!installed) {
        struct sigaction sa, before;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < NCAUGHT; i++) {
            /* A signal ignored by whoever started us stays ignored (nohup's SIGHUP). */
            if (sigaction(caught_signals[i], NULL, &before) == 0 && before.sa_handler == SIG_IGN)
                continue;
            sigaction(caught_signals[i], &sa, NULL);
        }
        sigaction(SIGPIPE, NULL, &pipe_before);
        installed = 1;
    }
    if (m == INTERRUPT_STREAM) {
        /* A closed stdout or pipe is an error the stream reports, not a silent death. */
        struct sigaction ignore;
        memset(&ignore, 0, sizeof ignore);
        ignore.sa_handler = SIG_IGN;
        sigemptyset(&ignore.sa_mask);
        sigaction(SIGPIPE, &ignore, NULL);
    } else {
        sigaction(SIGPIPE, &pipe_before, NULL);
    }
    mode = m;
    return old;
}

void cmd_interrupt_at_least(enum interrupt_mode m)
{
    if ((enum interrupt_mode)mode < m)
        cmd_interrupt_mode(m);
}

void cmd_interrupt_waiting(int on)
{
    waiting = on;
}
