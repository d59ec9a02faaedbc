/* The growable, size-capped buffer: see dynbuf.h. */
#include "dynbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wipe.h"

void dynbuf_init(struct dynbuf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

/* Empties the buffer, keeping its settings. */
static void reset(struct dynbuf *b)
{
    size_t max = b->max;
    int wipe = b->wipe;
    dynbuf_init(b, max);
    b->wipe = wipe;
}

static void release(struct dynbuf *b)
{
    if (b->wipe)
        wipe_free(b->data, b->cap);
    else
        free(b->data);
}

static size_t limit(const struct dynbuf *b)
{
    return b->max ? b->max : DYNBUF_MAX_DEF;
}

/* Room for len more bytes and the NUL, doubling from 64 bytes, never past max + 1. */
static enum dynbuf_result fail(struct dynbuf *b, enum dynbuf_result r)
{
    b->failed = r;
    return r;
}

static enum dynbuf_result reserve(struct dynbuf *b, size_t len)
{
    if (b->failed)
        return (enum dynbuf_result)b->failed;
    size_t max = limit(b);
    if (len > max - b->len)
        return fail(b, DYNBUF_TOO_BIG);
    size_t need = b->len + len + 1;
    if (b->data != NULL && need <= b->cap)
        return DYNBUF_OK;
    size_t cap = b->cap ? b->cap : 64 < max + 1 ? 64 : max + 1;
    while (cap < need)
        cap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
    char *d = b->wipe ? wipe_grow(b->data, b->data ? b->len + 1 : 0, cap) : realloc(b->data, cap);
    if (d == NULL)
        return fail(b, DYNBUF_NOMEM);
    if (b->data == NULL)
        d[0] = '\0';
    b->data = d;
    b->cap = cap;
    return DYNBUF_OK;
}

enum dynbuf_result dynbuf_add(struct dynbuf *b, const void *data, size_t len)
{
    enum dynbuf_result r = reserve(b, len);
    if (r != DYNBUF_OK)
        return r;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return DYNBUF_OK;
}

enum dynbuf_result dynbuf_vaddf(struct dynbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int need = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (need < 0)
        return fail(b, DYNBUF_NOMEM);
    enum dynbuf_result r = reserve(b, (size_t)need);
    if (r != DYNBUF_OK)
        return r;
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    b->len += (size_t)need;
    return DYNBUF_OK;
}

enum dynbuf_result dynbuf_addf(struct dynbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum dynbuf_result r = dynbuf_vaddf(b, fmt, ap);
    va_end(ap);
    return r;
}

enum dynbuf_result dynbuf_result(const struct dynbuf *b)
{
    return (enum dynbuf_result)b->failed;
}

const char *dynbuf_str(const struct dynbuf *b)
{
    return b->data != NULL ? b->data : "";
}

char *dynbuf_take(struct dynbuf *b)
{
    char *s = NULL;
    if (b->failed)
        release(b);
    else
        s = b->data != NULL ? b->data : strdup("");
    reset(b);
    return s;
}

void dynbuf_free(struct dynbuf *b)
{
    release(b);
    reset(b);
}
