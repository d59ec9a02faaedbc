/* Terminal-safe text. Every string that came from outside (the API server, a
 * pod, a file) goes through this one sanitizer before it reaches a terminal:
 * control sequences in it could otherwise move the cursor, hide or forge
 * output, retitle the window or write the clipboard (OSC 52).
 *
 * What it guarantees: the output holds no C0 control character but '\n' and
 * '\t' (so no ESC and no '\r'), no DEL, no C1 control (U+0080..U+009F) and
 * only well-formed UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF). Each byte it takes out is written as a visible escape: "\x1b"
 * for a byte (a C0 control, DEL, or a byte that is not part of well-formed
 * UTF-8) and "\u009b" for a well-formed C1 control. Printable ASCII and
 * well-formed UTF-8 of printable characters pass unchanged.
 *
 * The streaming form carries its state across calls: a UTF-8 sequence split
 * between two writes is judged whole. Also a FILE stream that sanitizes what
 * is written to it, and hex digits (one copy for the tree). */
#ifndef VH_TEXT_H
#define VH_TEXT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

/* Streaming state; zero-initialise. */
struct text_sanitizer {
    unsigned char pend[4]; /* an incomplete UTF-8 sequence held back */
    size_t npend;
    size_t need;          /* length of that sequence */
    unsigned char lo, hi; /* allowed range of its next byte */
    char out[256];        /* small pieces gathered before emit */
    size_t olen;
    int direct; /* no gathering: each escape reaches emit alone */
};

/* Receives sanitized text; returns 0, or a negative value to stop. */
typedef int (*text_emit_fn)(void *ctx, const char *data, size_t len);

/* Sanitizes len bytes, emitting the result (in any number of pieces). A
 * sequence that may continue in the next call is held back. Returns 0, or the
 * first negative value emit returned. */
int text_sanitize_feed(struct text_sanitizer *s, const void *data, size_t len, text_emit_fn emit,
                       void *ctx);

/* End of the stream: a held-back incomplete sequence is emitted as escapes. */
int text_sanitize_flush(struct text_sanitizer *s, text_emit_fn emit, void *ctx);

/* One-shot form: the sanitized text of src[0..len) into dst (always
 * NUL-terminated when cap > 0; cut before an escape or a character that does
 * not fit whole). Returns the length of the whole result, like snprintf. */
size_t text_sanitize(char *dst, size_t cap, const char *src, size_t len);

/* A malloc'd sanitized copy of the NUL-terminated s (NULL when s is NULL or
 * memory is short). */
char *text_sanitize_dup(const char *s);

/* 1 when s[0..len) is well-formed UTF-8 (control characters allowed). */
int text_is_utf8(const char *s, size_t len);

/* 1 when sanitizing would leave s[0..len) unchanged. */
int text_is_safe(const char *s, size_t len);

/* A stream whose bytes are sanitized, then written to under (which it does
 * not close). Unbuffered: every write reaches under at once, so text written
 * straight to under (a rendered table with its colours) keeps its place.
 * fclose() emits a sequence left incomplete. NULL when memory is short. */
FILE *text_open_stream(FILE *under);

/* Appends printf-style text to buf (cap bytes, always NUL-terminated) at
 * *len, cut to fit: never writes past buf + cap, and *len stays below cap.
 * A cut falls on a UTF-8 character boundary, and leaves *len at cap - 1 (the
 * buffer counts as full, so later appends add nothing after the gap).
 * len NULL: at the end of the string already in buf. Returns 0, or -1 when
 * the text was cut. The one way to build text piece by piece in a fixed
 * buffer (`len += snprintf(...)` runs past the buffer once a piece is cut);
 * lib/dynbuf grows one instead. */
int text_appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A malloc'd formatted string, NULL when memory is short. */
char *text_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *text_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* A small local file read whole, NUL-terminated (length in *len when len is
 * given); a file over max bytes is refused ("X is larger than N bytes"), so
 * /dev/zero given by mistake cannot grow memory. NULL with err naming the
 * file. Free with free(). */
char *text_read_file(const char *path, size_t max, size_t *len, struct error *err);

/* The value of a hexadecimal digit, or -1. */
int text_hex_digit(int c);

#endif
