/* Errors with context. lib/ never prints: every failure is returned as a
 * struct error whose message names what failed and, where we know it, what to
 * do about it. Callers add context with error_wrap(). */
#ifndef VH_ERROR_H
#define VH_ERROR_H

#include <stddef.h>

enum error_kind {
    ERR_NONE = 0,
    ERR_GENERIC,      /* anything else */
    ERR_USAGE,        /* bad flags or arguments */
    ERR_CONFIG,       /* kubeconfig / local files */
    ERR_UNAUTHORIZED, /* 401: credentials rejected */
    ERR_FORBIDDEN,    /* 403: RBAC denies */
    ERR_NOT_FOUND,    /* 404 */
    ERR_UNREACHABLE,  /* connection refused, DNS, proxy */
    ERR_TLS,          /* certificate verification and handshake */
    ERR_TIMEOUT,
    ERR_PROTOCOL,    /* the peer broke a protocol rule */
    ERR_INTERRUPTED, /* Ctrl-C */
    ERR_REMOTE,      /* the remote side (API server, Vault) reported a failure */
};

#define ERROR_MSG_MAX 2048

struct error {
    enum error_kind kind;
    int http_status; /* when the error came from an HTTP answer, else 0 */
    char msg[ERROR_MSG_MAX];
};

/* Sets the message and kind; always returns -1 so callers can `return error_set(...)`. */
int error_set(struct error *e, enum error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes context: "context: previous message". Keeps the kind. Returns -1. */
int error_wrap(struct error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears an error. */
void error_clear(struct error *e);

#endif
