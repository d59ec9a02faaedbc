/* A growable byte buffer with a size limit, in the spirit of curl's dynbuf: one
 * implementation for every place that collects bytes or text of unknown length (an HTTP body,
 * a command's output, a label selector, a report). The limit is part of the buffer, so a peer
 * that never stops sending meets the same wall everywhere.
 *
 * The content is always NUL-terminated (dynbuf_str() is "" before the first byte), so text
 * can be read in place; binary content is read as data/len. */
#ifndef VH_DYNBUF_H
#define VH_DYNBUF_H

#include <stdarg.h>
#include <stddef.h>

/* Zero-initialise, or use dynbuf_init(); max 0 = DYNBUF_MAX_DEF. */
struct dynbuf {
    char *data; /* NULL until the first byte */
    size_t len;
    size_t cap;
    size_t max; /* the most bytes it may hold, not counting the NUL */
    int failed; /* a dynbuf_result: the first add that failed; later adds are refused */
    int wipe;   /* the content may be secret (a bearer token): growth copies and wipes the old
                   block instead of realloc, and every release wipes */
};

#define DYNBUF_MAX_DEF (1u << 20)

enum dynbuf_result {
    DYNBUF_OK = 0,
    DYNBUF_TOO_BIG = -1, /* the content would pass max: unchanged */
    DYNBUF_NOMEM = -2,   /* out of memory: unchanged */
};

void dynbuf_init(struct dynbuf *b, size_t max);

/* Appends len bytes. After a failure every later add fails the same way, so a text built in
 * many steps is checked once, with dynbuf_result(). */
enum dynbuf_result dynbuf_add(struct dynbuf *b, const void *data, size_t len);

/* Appends formatted text; on failure the content is as before the call. */
enum dynbuf_result dynbuf_addf(struct dynbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

enum dynbuf_result dynbuf_vaddf(struct dynbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* DYNBUF_OK, or the failure of the first add that failed. */
enum dynbuf_result dynbuf_result(const struct dynbuf *b);

/* The content as a string: "" when empty. */
const char *dynbuf_str(const struct dynbuf *b);

/* Hands the content to the caller (a malloc'd string, "" when empty; NULL out of memory or
 * after a failed add, when it is freed) and leaves the buffer empty. */
char *dynbuf_take(struct dynbuf *b);

/* Frees the content (wiped first with .wipe); the buffer may be used again with the same limit
 * and wipe setting. */
void dynbuf_free(struct dynbuf *b);

#endif
