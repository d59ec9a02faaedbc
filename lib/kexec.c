#include "kexec.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "websocket.h"
#include "json.h"

#define STATUS_MAX     (64u << 10) /* channel 3 carries one small Status */
#define RX_BUDGET      (1u << 20)  /* bytes read from one connection before looking at others */
#define POLL_SLICE_MS  100         /* cancel is checked at least this often */
#define AGAIN_RETRY_MS 20          /* a source that said KEXEC_READ_AGAIN is asked again */
#define CLOSE_WAIT_MS  200         /* how long a Close may take to leave on the way out */
#define V4_NOTE_MS                                                                                 \
    1000                    /* a command still running this long after stdin ended on v4           \
                               probably waits for the EOF it will never see */
#define OBUF_ALIGN     4096 /* coalesced stdout: page-aligned for O_DIRECT writers */
#define STDIN_MIN_ROOM 4096 /* no stdin frame smaller than this while more input may come */

static const char *const default_protocols[] = {KEXEC_PROTO_V5, KEXEC_PROTO_V4, NULL};

/* ---- pure parts ---------------------------------------------------------------------------- */

char *kexec_build_path(const struct kexec_request *req)
{
    size_t nargs = 0;
    while (req->argv != NULL && req->argv[nargs] != NULL)
        nargs++;
    char **enc = calloc(nargs + 3, sizeof *enc);
    if (enc == NULL)
        return NULL;
    char *path = NULL;
    char *ns = kube_urlencode(req->namespace);
    char *pod = kube_urlencode(req->pod);
    char *container = req->container ? kube_urlencode(req->container) : NULL;
    size_t total = 64 + (ns ? strlen(ns) : 0) + (pod ? strlen(pod) : 0) +
                   (container ? strlen(container) + 11 : 0);
    int ok = ns != NULL && pod != NULL && (req->container == NULL || container != NULL);
    for (size_t i = 0; ok && i < nargs; i++) {
        enc[i] = kube_urlencode(req->argv[i]);
        if (enc[i] == NULL)
            ok = 0;
        else
            total += strlen(enc[i]) + 9;
    }
    if (ok && (path = malloc(total + 64)) != NULL) {
        size_t n = (size_t)sprintf(path, "/api/v1/namespaces/%s/pods/%s/exec?", ns, pod);
        const char *sep = "";
        if (container != NULL) {
            n += (size_t)sprintf(path + n, "container=%s", container);
            sep = "&";
        }
        if (req->in.kind != KEXEC_STDIN_NONE) {
            n += (size_t)sprintf(path + n, "%sstdin=true", sep);
            sep = "&";
        }
        n += (size_t)sprintf(path + n, "%sstdout=true&stderr=true", sep);
        for (size_t i = 0; i < nargs; i++)
            n += (size_t)sprintf(path + n, "&command=%s", enc[i]);
    }
    for (size_t i = 0; i < nargs; i++)
        free(enc[i]);
    free(enc);
    free(ns);
    free(pod);
    free(container);
    return path;
}

/* "137" -> 137; digits only, 0-255 (client-go: strconv.ParseUint(msg, 10, 8)). */
static int parse_exit_code(const char *s, int *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    int v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
        if (v > 255)
            return -1;
    }
    *out = v;
    return 0;
}

int kexec_parse_status(const char *json, size_t len, int *exit_code, struct error *err)
{
    *exit_code = -1;
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        int shown = len > 200 ? 200 : (int)len;
        return error_set(err, ERR_PROTOCOL, "the exec status is not a JSON object: %.*s", shown,
                         json);
    }
    const char *status = jstr(root, "status");
    const char *reason = jstr(root, "reason");
    const char *message = jstr(root, "message");
    int rc;
    if (status != NULL && strcmp(status, "Success") == 0) {
        *exit_code = 0;
        rc = 0;
    } else if (reason != NULL && strcmp(reason, "NonZeroExitCode") == 0) {
        /* Scan every cause: the ExitCode one need not be first. */
        json_t *causes = json_object_get(json_object_get(root, "details"), "causes");
        size_t i;
        json_t *c;
        rc = error_set(err, ERR_PROTOCOL,
                       "the exec status reports a non-zero exit code without an ExitCode cause: "
                       "%s",
                       message ? message : "(no message)");
        json_array_foreach(causes, i, c)
        {
            const char *cr = jstr(c, "reason");
            if (cr == NULL || strcmp(cr, "ExitCode") != 0)
                continue;
            const char *m = jstr(c, "message");
            int code;
            if (parse_exit_code(m, &code) < 0) {
                rc = error_set(err, ERR_PROTOCOL, "the exec status has an invalid exit code \"%s\"",
                               m ? m : "");
            } else {
                *exit_code = code;
                error_clear(err);
                rc = 0;
            }
            break;
        }
    } else if (status != NULL && strcmp(status, "Failure") == 0) {
        rc = error_set(err, ERR_REMOTE, "%s",
                       message && *message ? message
                       : reason && *reason ? reason
                                           : "the command failed to run (no message)");
    } else {
        rc = error_set(err, ERR_PROTOCOL, "the exec status is neither Success nor Failure: %.*s",
                       len > 200 ? 200 : (int)len, json);
    }
    json_decref(root);
    return rc;
}

int kexec_limit_error(struct error *err, const char *what, size_t max)
{
    return error_set(err, ERR_PROTOCOL,
                     "%s is over the limit of %zu bytes (a command that does not stop printing?)",
                     what ? what : "the output", max);
}

int kexec_buffer_write(void *ctx, const void *data, size_t len, struct error *err)
{
    struct kexec_buffer *b = ctx;
    switch (dynbuf_add(&b->buf, data, len)) {
    case DYNBUF_OK:
        return 0;
    case DYNBUF_TOO_BIG:
        return kexec_limit_error(err, b->what, b->buf.max ? b->buf.max : DYNBUF_MAX_DEF);
    case DYNBUF_NOMEM:
        break;
    }
    return error_set(err, ERR_GENERIC, "out of memory");
}

/* ---- sessions ------------------------------------------------------------------------------ */

enum stdin_state { IN_NONE, IN_SENDING, IN_EOF, IN_DONE };

struct session {
    struct kube_client *kube;
    const struct kexec_request *req;
    struct kexec_result *res;
    char *path;
    struct ws_conn *ws;
    int v5;
    int active;
    int channel; /* channel of the message being received, -1 until its first byte */
    int unknown_channel_traced;
    char *status;
    size_t status_len;
    enum stdin_state in_state;
    size_t mem_off;
    int in_again; /* the callback source said KEXEC_READ_AGAIN */
    uint8_t *inbuf;
    int rx_more; /* ws_receive stopped on its budget: call again before polling */
    long long started, last_activity;
    long long v4_eof_at; /* when stdin ended on v4 and the note is still due, else 0 */
    int pfd_ws, pfd_in;
    uint8_t *obuf; /* coalesced stdout (req->out_coalesce bytes), allocated on first use */
    size_t olen;
    long long o_since; /* when obuf got its first byte */
};

/* Hands coalesced stdout to the sink. */
static int flush_out(struct session *s, struct error *err)
{
    if (s->olen == 0)
        return 0;
    size_t n = s->olen;
    s->olen = 0;
    return s->req->out ? s->req->out(s->req->out_ctx, s->obuf, n, err) : 0;
}

static int coalesce_out(struct session *s, const uint8_t *d, size_t n, struct error *err)
{
    size_t cap = s->req->out_coalesce;
    if (s->obuf == NULL && posix_memalign((void **)&s->obuf, OBUF_ALIGN, cap) != 0) {
        s->obuf = NULL;
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    while (n > 0) {
        if (s->olen == 0)
            s->o_since = clock_now_ms();
        size_t take = cap - s->olen < n ? cap - s->olen : n;
        memcpy(s->obuf + s->olen, d, take);
        s->olen += take;
        d += take;
        n -= take;
        if (s->olen == cap && flush_out(s, err) < 0)
            return -1;
    }
    return 0;
}

static int dispatch(struct session *s, const uint8_t *d, size_t n, struct error *err)
{
    const struct kexec_request *req = s->req;
    switch (s->channel) {
    case KEXEC_CH_STDOUT:
        s->res->stdout_bytes += n;
        if (req->out_coalesce > 0 && req->out != NULL)
            return coalesce_out(s, d, n, err);
        return req->out ? req->out(req->out_ctx, d, n, err) : 0;
    case KEXEC_CH_STDERR:
        s->res->stderr_bytes += n;
        /* Stdout that arrived first goes out first. */
        if (flush_out(s, err) < 0)
            return -1;
        return req->err ? req->err(req->err_ctx, d, n, err) : 0;
    case KEXEC_CH_ERROR:
        if (s->status_len + n > STATUS_MAX)
            return error_set(err, ERR_PROTOCOL, "the exec status is larger than %u bytes",
                             STATUS_MAX);
        if (s->status == NULL && (s->status = malloc(STATUS_MAX + 1)) == NULL)
            return error_set(err, ERR_GENERIC, "out of memory");
        memcpy(s->status + s->status_len, d, n);
        s->status_len += n;
        return 0;
    default:
        /* client-go discards messages for unknown streams. */
        if (!s->unknown_channel_traced) {
            kube_trace(s->kube, "exec in %s: discarding data on unknown channel %d", req->pod,
                       s->channel);
            s->unknown_channel_traced = 1;
        }
        return 0;
    }
}

static int on_event(void *ctx, const struct ws_event *ev, struct error *err)
{
    struct session *s = ctx;
    if (ev->type != WS_EV_DATA)
        return 0;
    s->last_activity = clock_now_ms();
    if (ev->message_start) {
        if (ev->opcode != WS_OP_BINARY)
            return error_set(err, ERR_PROTOCOL,
                             "the API server sent a text message on a binary exec stream");
        s->channel = -1;
    }
    const uint8_t *d = ev->data;
    size_t n = ev->len;
    /* The channel is the first byte of the message, not of each fragment. An
     * empty message (the server's initial [ch] included) is no data, not EOF. */
    if (s->channel < 0 && n > 0) {
        s->channel = d[0];
        d++;
        n--;
    }
    if (n == 0)
        return 0;
    return dispatch(s, d, n, err);
}

/* A send failed. When the connection broke, stop sending and let receiving
 * tell how the session ended (the exit status may already be on its way);
 * returns 0 then, else -1. */
static int send_failed(struct session *s, struct error *err)
{
    if (!ws_conn_broken(s->ws))
        return -1;
    kube_trace(s->kube, "exec in %s: stdin stopped after %llu bytes: %s", s->req->pod,
               s->res->stdin_bytes, err->msg);
    error_clear(err);
    s->in_state = IN_DONE;
    s->rx_more = 1;
    return 0;
}

/* Sends stdin while the queue has room, at most about RX_BUDGET bytes per call
 * so that receiving gets its turn. fd_ready: poll said the fd is readable. */
static int pump_stdin(struct session *s, int fd_ready, struct error *err)
{
    const struct kexec_stdin *in = &s->req->in;
    size_t pumped = 0;
    s->in_again = 0;
    while (s->in_state == IN_SENDING && pumped < RX_BUDGET) {
        size_t space = ws_send_space(s->ws);
        if (space < STDIN_MIN_ROOM)
            return 0;
        size_t cap = (space < KEXEC_STDIN_FRAME_MAX ? space : KEXEC_STDIN_FRAME_MAX) - 1;
        ssize_t n = 0;
        switch (in->kind) {
        case KEXEC_STDIN_MEMORY: {
            size_t left = in->len - s->mem_off;
            n = (ssize_t)(left < cap ? left : cap);
            memcpy(s->inbuf + 1, (const uint8_t *)in->data + s->mem_off, (size_t)n);
            s->mem_off += (size_t)n;
            break;
        }
        case KEXEC_STDIN_FD:
            if (!fd_ready)
                return 0;
            fd_ready = 0; /* one read per readiness: another could block */
            n = read(in->fd, s->inbuf + 1, cap);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                    return 0;
                return error_set(err, ERR_GENERIC, "reading stdin failed: %s", strerror(errno));
            }
            break;
        case KEXEC_STDIN_CALLBACK:
            n = in->read(in->ctx, s->inbuf + 1, cap, err);
            if (n == KEXEC_READ_AGAIN) {
                s->in_again = 1;
                return 0;
            }
            if (n < 0)
                return -1;
            break;
        case KEXEC_STDIN_NONE:
            break;
        }
        if (n == 0) {
            s->in_state = IN_EOF;
            break;
        }
        s->inbuf[0] = KEXEC_CH_STDIN;
        int rc = ws_send(s->ws, WS_OP_BINARY, s->inbuf, (size_t)n + 1, err);
        explicit_bzero(s->inbuf, (size_t)n + 1);
        if (rc < 0)
            return send_failed(s, err);
        s->res->stdin_bytes += (size_t)n;
        pumped += (size_t)n;
        s->last_activity = clock_now_ms();
    }
    if (s->in_state == IN_EOF) {
        if (s->v5) {
            if (ws_send_space(s->ws) < 2)
                return 0;
            static const uint8_t close_stdin[2] = {KEXEC_CH_CLOSE, KEXEC_CH_STDIN};
            if (ws_send(s->ws, WS_OP_BINARY, close_stdin, sizeof close_stdin, err) < 0)
                return send_failed(s, err);
            kube_trace(s->kube, "exec in %s: end of stdin after %llu bytes (v5 CLOSE sent)",
                       s->req->pod, s->res->stdin_bytes);
        } else {
            s->res->stdin_eof_unsupported = 1;
            kube_trace(s->kube,
                       "exec in %s: end of stdin after %llu bytes; %s cannot signal it, the "
                       "command keeps its stdin open",
                       s->req->pod, s->res->stdin_bytes, KEXEC_PROTO_V4);
            s->v4_eof_at = clock_now_ms(); /* noted if the command still runs a little later */
        }
        s->in_state = IN_DONE;
    }
    return 0;
}

static const char *v4_hint(const struct session *s)
{
    if (s->res->stdin_eof_unsupported)
        return "; the API server speaks " KEXEC_PROTO_V4 ", which cannot signal the end of stdin: "
               "a command that reads its input to the end never finishes there (make it read a "
               "known length, e.g. head -c N)";
    return "";
}

/* Ends a session with an error (already in s->res->err). */
static void finish_error(struct session *s, int close_code)
{
    struct error ignored = {0};
    flush_out(s, &ignored); /* what did arrive is shown; the session failed anyway */
    s->res->rc = -1;
    s->res->exit_code = -1;
    error_wrap(&s->res->err, "exec in %s", s->req->pod);
    ws_close(s->ws, close_code, CLOSE_WAIT_MS);
    s->active = 0;
}

/* The connection ended (Close frame or EOF): decide from the Status. */
static void finish_end(struct session *s)
{
    int code = 0;
    const char *why = NULL;
    int clean = ws_conn_closed(s->ws, &code, &why);
    struct kexec_result *res = s->res;
    unsigned long long got = res->stdout_bytes + res->stderr_bytes;
    if (flush_out(s, &res->err) < 0) {
        finish_error(s, WS_CLOSE_NORMAL);
        return;
    }
    if (s->status_len > 0) {
        int exit_code = -1;
        if (kexec_parse_status(s->status, s->status_len, &exit_code, &res->err) == 0) {
            res->rc = 0;
            res->exit_code = exit_code;
            if (!clean)
                kube_trace(s->kube,
                           "exec in %s: status received, then the connection ended "
                           "without a Close (%s)",
                           s->req->pod, why);
            else if (code != WS_CLOSE_NORMAL)
                kube_trace(s->kube, "exec in %s: status received, then Close %d", s->req->pod,
                           code);
            kube_trace(s->kube,
                       "exec in %s: exit code %d (%s, stdout %llu, stderr %llu, stdin %llu bytes)",
                       s->req->pod, exit_code, res->protocol, res->stdout_bytes, res->stderr_bytes,
                       res->stdin_bytes);
            s->active = 0;
            ws_close(s->ws, WS_CLOSE_NORMAL, CLOSE_WAIT_MS);
            return;
        }
        /* A Failure Status (the command could not run) is complete whatever
         * followed; a malformed one after a clean Close is a protocol error. */
        if (res->err.kind != ERR_PROTOCOL || clean) {
            finish_error(s, WS_CLOSE_NORMAL);
            return;
        }
    }
    if (!clean)
        error_set(&res->err, ERR_UNREACHABLE,
                  "the stream was cut before the command finished (%llu bytes received; %s)", got,
                  why);
    else
        error_set(&res->err, ERR_UNREACHABLE,
                  "the stream was cut before the command finished (%llu bytes received; the API "
                  "server closed it with code %d and no exit status)",
                  got, code);
    finish_error(s, WS_CLOSE_NORMAL);
}

static int session_start(struct session *s, struct ws_conn *ws)
{
    s->ws = ws;
    const char *chosen = ws_conn_protocol(ws);
    s->v5 = chosen != NULL && strcmp(chosen, KEXEC_PROTO_V5) == 0;
    s->res->protocol = s->v5 ? KEXEC_PROTO_V5 : KEXEC_PROTO_V4;
    s->channel = -1;
    s->in_state = s->req->in.kind != KEXEC_STDIN_NONE ? IN_SENDING : IN_NONE;
    if (s->in_state == IN_SENDING && (s->inbuf = malloc(KEXEC_STDIN_FRAME_MAX)) == NULL) {
        error_set(&s->res->err, ERR_GENERIC, "out of memory");
        return -1;
    }
    s->rx_more = 1; /* frames may have arrived with the 101 */
    s->started = s->last_activity = clock_now_ms();
    s->active = 1;
    return 0;
}

static void run_sessions(struct session *ss, size_t n)
{
    struct pollfd *pfds = calloc(2 * n + 1, sizeof *pfds);
    if (pfds == NULL) {
        for (size_t i = 0; i < n; i++) {
            if (ss[i].active) {
                error_set(&ss[i].res->err, ERR_GENERIC, "out of memory");
                finish_error(&ss[i], WS_CLOSE_NORMAL);
            }
        }
        return;
    }
    for (;;) {
        size_t np = 0, active = 0;
        long long now = clock_now_ms();
        long long timeout = POLL_SLICE_MS;
        for (size_t i = 0; i < n; i++) {
            struct session *s = &ss[i];
            if (!s->active)
                continue;
            const struct kexec_request *req = s->req;
            if (req->cancel != NULL && *req->cancel) {
                error_set(&s->res->err, ERR_INTERRUPTED, "interrupted");
                finish_error(s, WS_CLOSE_NORMAL);
                continue;
            }
            if (req->timeout_ms > 0 && now - s->started >= req->timeout_ms) {
                error_set(&s->res->err, ERR_TIMEOUT,
                          "the command did not finish within %ld ms (%llu bytes received)%s",
                          req->timeout_ms, s->res->stdout_bytes + s->res->stderr_bytes, v4_hint(s));
                finish_error(s, WS_CLOSE_NORMAL);
                continue;
            }
            if (req->idle_timeout_ms > 0 && now - s->last_activity >= req->idle_timeout_ms) {
                error_set(&s->res->err, ERR_TIMEOUT,
                          "nothing was received or sent for %ld ms (%llu bytes received)%s",
                          req->idle_timeout_ms, s->res->stdout_bytes + s->res->stderr_bytes,
                          v4_hint(s));
                finish_error(s, WS_CLOSE_NORMAL);
                continue;
            }
            if (s->in_state == IN_EOF ||
                (s->in_state == IN_SENDING && req->in.kind != KEXEC_STDIN_FD)) {
                if (pump_stdin(s, 0, &s->res->err) < 0) {
                    finish_error(s, WS_CLOSE_NORMAL);
                    continue;
                }
            }
            if (s->v4_eof_at > 0 && now - s->v4_eof_at >= V4_NOTE_MS) {
                s->v4_eof_at = 0;
                if (req->note != NULL)
                    req->note(req->note_ctx, req->pod, KEXEC_NOTE_STDIN_EOF_UNSUPPORTED);
            }
            if (s->olen > 0 && now - s->o_since >= KEXEC_COALESCE_MS &&
                flush_out(s, &s->res->err) < 0) {
                finish_error(s, WS_CLOSE_NORMAL);
                continue;
            }
            active++;
            if (s->rx_more)
                timeout = 0;
            if (s->olen > 0 && s->o_since + KEXEC_COALESCE_MS - now < timeout)
                timeout = s->o_since + KEXEC_COALESCE_MS - now;
            if (s->v4_eof_at > 0 && s->v4_eof_at + V4_NOTE_MS - now < timeout)
                timeout = s->v4_eof_at + V4_NOTE_MS - now;
            if (s->in_again && timeout > AGAIN_RETRY_MS)
                timeout = AGAIN_RETRY_MS;
            if (s->in_state == IN_SENDING && req->in.kind == KEXEC_STDIN_MEMORY &&
                ws_send_space(s->ws) >= STDIN_MIN_ROOM)
                timeout = 0;
            if (req->timeout_ms > 0 && s->started + req->timeout_ms - now < timeout)
                timeout = s->started + req->timeout_ms - now;
            if (req->idle_timeout_ms > 0 && s->last_activity + req->idle_timeout_ms - now < timeout)
                timeout = s->last_activity + req->idle_timeout_ms - now;
            s->pfd_ws = (int)np;
            pfds[np].fd = ws_conn_fd(s->ws);
            pfds[np].events = (short)(POLLIN | (ws_want_write(s->ws) ? POLLOUT : 0));
            pfds[np].revents = 0;
            np++;
            s->pfd_in = -1;
            if (s->in_state == IN_SENDING && req->in.kind == KEXEC_STDIN_FD &&
                ws_send_space(s->ws) >= STDIN_MIN_ROOM) {
                s->pfd_in = (int)np;
                pfds[np].fd = req->in.fd;
                pfds[np].events = POLLIN;
                pfds[np].revents = 0;
                np++;
            }
        }
        if (active == 0)
            break;
        if (timeout < 0)
            timeout = 0;
        int pr = poll(pfds, np, (int)timeout);
        if (pr < 0 && errno != EINTR) {
            for (size_t i = 0; i < n; i++) {
                if (ss[i].active) {
                    error_set(&ss[i].res->err, ERR_GENERIC, "poll failed: %s", strerror(errno));
                    finish_error(&ss[i], WS_CLOSE_NORMAL);
                }
            }
            break;
        }
        for (size_t i = 0; i < n; i++) {
            struct session *s = &ss[i];
            if (!s->active || s->pfd_ws < 0)
                continue;
            short re = pr > 0 ? pfds[s->pfd_ws].revents : 0;
            if (re & POLLOUT) {
                struct error e = {0};
                if (ws_flush(s->ws, &e) < 0) {
                    /* The peer is gone: stop sending; reading tells how it ended. */
                    kube_trace(s->kube, "exec in %s: %s", s->req->pod, e.msg);
                    if (s->in_state == IN_SENDING || s->in_state == IN_EOF)
                        s->in_state = IN_DONE;
                    s->rx_more = 1;
                } else {
                    s->last_activity = clock_now_ms();
                }
            }
            if ((re & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) || s->rx_more) {
                int rc = ws_receive(s->ws, RX_BUDGET, on_event, s, &s->res->err);
                s->rx_more = rc == WS_RX_MORE;
                if (rc < 0) {
                    finish_error(s, s->res->err.kind == ERR_PROTOCOL ? WS_CLOSE_PROTOCOL
                                                                     : WS_CLOSE_NORMAL);
                    continue;
                }
                if (rc == WS_RX_CLOSED) {
                    finish_end(s);
                    continue;
                }
            }
            if (s->pfd_in >= 0 && pr > 0 &&
                (pfds[s->pfd_in].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
                if (pump_stdin(s, 1, &s->res->err) < 0) {
                    finish_error(s, WS_CLOSE_NORMAL);
                    continue;
                }
            }
            s->pfd_ws = -1;
        }
    }
    free(pfds);
}

/* ---- connecting ---------------------------------------------------------------------------- */

struct connect_job {
    struct kube_client *kube;
    struct ws_connect_params params;
    struct ws_conn *ws;
    struct error err;
    int rc;
};

static void *connect_thread(void *arg)
{
    struct connect_job *j = arg;
    j->rc = ws_connect(j->kube, &j->params, &j->ws, &j->err);
    return NULL;
}

static int check_request(const struct kexec_request *req, struct error *err)
{
    if (req->namespace == NULL || req->pod == NULL || req->argv == NULL || req->argv[0] == NULL)
        return error_set(err, ERR_USAGE, "exec needs a namespace, a pod and a command");
    for (const char *const *p = req->protocols; p != NULL && *p != NULL; p++)
        if (strcmp(*p, KEXEC_PROTO_V5) != 0 && strcmp(*p, KEXEC_PROTO_V4) != 0)
            return error_set(err, ERR_USAGE, "exec protocol \"%s\" is not supported (only %s, %s)",
                             *p, KEXEC_PROTO_V5, KEXEC_PROTO_V4);
    if (req->protocols != NULL && req->protocols[0] == NULL)
        return error_set(err, ERR_USAGE, "no exec protocol offered");
    if (req->in.kind == KEXEC_STDIN_CALLBACK && req->in.read == NULL)
        return error_set(err, ERR_USAGE, "stdin callback missing");
    return 0;
}

int kexec_run_many(struct kube_client *kube, const struct kexec_request *requests, size_t n,
                   struct kexec_result *results)
{
    struct session *ss = calloc(n ? n : 1, sizeof *ss);
    struct connect_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    pthread_t *threads = calloc(n ? n : 1, sizeof *threads);
    int *started = calloc(n ? n : 1, sizeof *started);
    for (size_t i = 0; i < n; i++) {
        memset(&results[i], 0, sizeof results[i]);
        results[i].rc = -1;
        results[i].exit_code = -1;
    }
    if (ss == NULL || jobs == NULL || threads == NULL || started == NULL) {
        for (size_t i = 0; i < n; i++)
            error_set(&results[i].err, ERR_GENERIC, "out of memory");
        free(ss), free(jobs), free(threads), free(started);
        return -1;
    }

    /* Upgrades: one thread each when there are several (TCP + TLS + HTTP round
     * trips dominate), inline for one. */
    for (size_t i = 0; i < n; i++) {
        const struct kexec_request *req = &requests[i];
        ss[i].kube = kube;
        ss[i].req = req;
        ss[i].res = &results[i];
        ss[i].pfd_ws = ss[i].pfd_in = -1;
        jobs[i].kube = kube;
        jobs[i].rc = -1;
        if (check_request(req, &jobs[i].err) < 0)
            continue;
        ss[i].path = kexec_build_path(req);
        if (ss[i].path == NULL) {
            error_set(&jobs[i].err, ERR_GENERIC, "out of memory");
            continue;
        }
        jobs[i].params.path = ss[i].path;
        jobs[i].params.protocols = req->protocols ? req->protocols : default_protocols;
        jobs[i].params.timeout_ms = req->handshake_timeout_ms;
        jobs[i].params.cancel = req->cancel;
        if (n > 1 && pthread_create(&threads[i], NULL, connect_thread, &jobs[i]) == 0)
            started[i] = 1;
        else
            connect_thread(&jobs[i]);
    }
    for (size_t i = 0; i < n; i++)
        if (started[i])
            pthread_join(threads[i], NULL);

    for (size_t i = 0; i < n; i++) {
        if (jobs[i].rc < 0) {
            results[i].err = jobs[i].err;
            error_wrap(&results[i].err, "exec in %s", requests[i].pod ? requests[i].pod : "?");
            continue;
        }
        if (session_start(&ss[i], jobs[i].ws) < 0) {
            finish_error(&ss[i], WS_CLOSE_NORMAL);
            continue;
        }
    }
    run_sessions(ss, n);

    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        ws_conn_free(ss[i].ws);
        free(ss[i].path);
        if (ss[i].status != NULL) {
            explicit_bzero(ss[i].status, ss[i].status_len);
            free(ss[i].status);
        }
        if (ss[i].obuf != NULL) {
            explicit_bzero(ss[i].obuf, requests[i].out_coalesce);
            free(ss[i].obuf);
        }
        if (ss[i].inbuf != NULL) {
            explicit_bzero(ss[i].inbuf, KEXEC_STDIN_FRAME_MAX);
            free(ss[i].inbuf);
        }
        if (results[i].rc != 0)
            ret = -1;
    }
    free(ss), free(jobs), free(threads), free(started);
    return ret;
}

int kexec_run(struct kube_client *kube, const struct kexec_request *req, struct kexec_result *res,
              struct error *err)
{
    int rc = kexec_run_many(kube, req, 1, res);
    if (rc < 0 && err != NULL)
        *err = res->err;
    return rc;
}
