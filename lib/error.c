#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int error_set(struct error *e, enum error_kind kind, const char *fmt, ...)
{
    if (e == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->kind = kind;
    return -1;
}

int error_wrap(struct error *e, const char *fmt, ...)
{
    if (e == NULL)
        return -1;
    char prefix[ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* "prefix: old", truncated to the buffer: move the old text right, then copy in front. */
    size_t pl = strnlen(prefix, sizeof prefix);
    size_t ol = strnlen(e->msg, sizeof e->msg - 1);
    if (pl + 2 >= sizeof e->msg)
        pl = sizeof e->msg - 3;
    if (pl + 2 + ol >= sizeof e->msg)
        ol = sizeof e->msg - 1 - pl - 2;
    memmove(e->msg + pl + 2, e->msg, ol);
    memcpy(e->msg, prefix, pl);
    e->msg[pl] = ':';
    e->msg[pl + 1] = ' ';
    e->msg[pl + 2 + ol] = '\0';
    if (e->kind == ERR_NONE)
        e->kind = ERR_GENERIC;
    return -1;
}

void error_clear(struct error *e)
{
    if (e == NULL)
        return;
    e->kind = ERR_NONE;
    e->http_status = 0;
    e->msg[0] = '\0';
}
