#include "text.h"

#include <errno.h>

#include <stdlib.h>
#include <string.h>

/* Pieces longer than this go to emit directly instead of through out[]. */
#define DIRECT_MIN 64

int text_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *text_vprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    return s;
}

char *text_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = text_vprintf(fmt, ap);
    va_end(ap);
    return s;
}

int text_appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (cap == 0)
        return -1;
    size_t at = 0;
    if (len == NULL) {
        at = strnlen(buf, cap);
        len = &at;
    }
    if (*len >= cap)
        *len = cap - 1;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (w < 0) {
        buf[*len] = '\0';
        return -1;
    }
    if ((size_t)w >= cap - *len) {
        /* Cut on a character boundary: half a UTF-8 sequence at the end would make
         * the whole text invalid (json_string refuses it, terminals garble it). */
        size_t end = cap - 1, start = end;
        while (start > *len && start > end - 4 && ((unsigned char)buf[start - 1] & 0xC0) == 0x80)
            start--;
        if (start > *len && ((unsigned char)buf[start - 1] & 0xC0) == 0xC0) {
            unsigned char lead = (unsigned char)buf[start - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            if (end - (start - 1) < need)
                end = start - 1;
        }
        buf[end] = '\0';
        *len = cap - 1; /* full: later appends write nothing after a cut */
        return -1;
    }
    *len += (size_t)w;
    return 0;
}

static int flush_out(struct text_sanitizer *s, text_emit_fn emit, void *ctx)
{
    if (s->olen == 0)
        return 0;
    size_t n = s->olen;
    s->olen = 0;
    return emit(ctx, s->out, n);
}

static int put(struct text_sanitizer *s, const void *d, size_t n, text_emit_fn emit, void *ctx)
{
    if (n == 0)
        return 0;
    if (n >= DIRECT_MIN || s->direct) {
        int rc = flush_out(s, emit, ctx);
        return rc < 0 ? rc : emit(ctx, d, n);
    }
    if (s->olen + n > sizeof s->out) {
        int rc = flush_out(s, emit, ctx);
        if (rc < 0)
            return rc;
    }
    memcpy(s->out + s->olen, d, n);
    s->olen += n;
    return 0;
}

static int put_byte_escape(struct text_sanitizer *s, unsigned char c, text_emit_fn emit, void *ctx)
{
    static const char hex[] = "0123456789abcdef";
    char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
    return put(s, e, sizeof e, emit, ctx);
}

/* The bytes of an abandoned sequence, each as an escape. */
static int put_pending_escaped(struct text_sanitizer *s, text_emit_fn emit, void *ctx)
{
    size_t n = s->npend;
    s->npend = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = put_byte_escape(s, s->pend[i], emit, ctx);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A lead byte: the sequence's length and the range of its second byte (the
 * well-formed sequences of Unicode's table 3-7); 0 when c cannot start one. */
static size_t lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c == 0xe0)
        *lo = 0xa0;
    else if (c == 0xed)
        *hi = 0x9f; /* no surrogates */
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c == 0xf0)
        *lo = 0x90;
    else if (c == 0xf4)
        *hi = 0x8f; /* nothing above U+10FFFF */
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

static int is_plain(unsigned char c)
{
    return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t';
}

int text_sanitize_feed(struct text_sanitizer *s, const void *data, size_t len, text_emit_fn emit,
                       void *ctx)
{
    const unsigned char *p = data;
    size_t i = 0, run = 0; /* p[run..i) is plain text not yet put */
    int rc = 0;
    while (i < len && rc == 0) {
        unsigned char c = p[i];
        if (s->npend > 0) {
            if (c < s->lo || c > s->hi) { /* not a continuation: the sequence is bad */
                rc = put_pending_escaped(s, emit, ctx);
                run = i; /* c is judged afresh */
                continue;
            }
            s->pend[s->npend++] = c;
            s->lo = 0x80;
            s->hi = 0xbf;
            i++;
            run = i;
            if (s->npend == s->need) {
                s->npend = 0;
                if (s->need == 2 && s->pend[0] == 0xc2 && s->pend[1] <= 0x9f) {
                    static const char hex[] = "0123456789abcdef";
                    char e[6] = {'\\', 'u', '0', '0', hex[s->pend[1] >> 4], hex[s->pend[1] & 15]};
                    rc = put(s, e, sizeof e, emit, ctx); /* a C1 control */
                } else {
                    rc = put(s, s->pend, s->need, emit, ctx);
                }
            }
            continue;
        }
        if (is_plain(c)) {
            i++;
            continue;
        }
        rc = put(s, p + run, i - run, emit, ctx);
        if (rc < 0)
            break;
        i++;
        run = i;
        size_t need = c >= 0x80 ? lead(c, &s->lo, &s->hi) : 0;
        if (need == 0) {
            rc = put_byte_escape(s, c, emit, ctx);
            continue;
        }
        s->pend[0] = c;
        s->npend = 1;
        s->need = need;
    }
    if (rc == 0 && i > run)
        rc = put(s, p + run, i - run, emit, ctx);
    if (rc == 0)
        rc = flush_out(s, emit, ctx);
    return rc;
}

int text_sanitize_flush(struct text_sanitizer *s, text_emit_fn emit, void *ctx)
{
    int rc = put_pending_escaped(s, emit, ctx);
    if (rc == 0)
        rc = flush_out(s, emit, ctx);
    return rc;
}

struct fixed {
    char *dst;
    size_t cap, len, total;
    int full;
};

static int to_fixed(void *ctx, const char *d, size_t n)
{
    struct fixed *f = ctx;
    f->total += n;
    if (f->full || f->cap == 0)
        return 0;
    size_t room = f->cap - 1 - f->len;
    if (n <= room) {
        memcpy(f->dst + f->len, d, n);
        f->len += n;
        return 0;
    }
    f->full = 1;
    /* Escapes come alone and are dropped whole; a run is cut at a character start. */
    if (d[0] == '\\' && (n == 4 || n == 6))
        return 0;
    size_t k = room;
    while (k > 0 && ((unsigned char)d[k] & 0xc0) == 0x80)
        k--;
    memcpy(f->dst + f->len, d, k);
    f->len += k;
    return 0;
}

size_t text_sanitize(char *dst, size_t cap, const char *src, size_t len)
{
    struct fixed f = {.dst = dst, .cap = cap};
    struct text_sanitizer s = {.direct = 1};
    text_sanitize_feed(&s, src, len, to_fixed, &f);
    text_sanitize_flush(&s, to_fixed, &f);
    if (cap > 0)
        dst[f.len] = '\0';
    return f.total;
}

char *text_sanitize_dup(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t len = strlen(s);
    size_t need = text_sanitize(NULL, 0, s, len);
    char *out = malloc(need + 1);
    if (out != NULL)
        text_sanitize(out, need + 1, s, len);
    return out;
}

/* Checks s[0..len): well-formed UTF-8, and with controls when allow_controls. */
static int check_text(const char *s, size_t len, int allow_controls)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x80) {
            if (!allow_controls && !is_plain(p[i]))
                return 0;
            continue;
        }
        unsigned char lo, hi;
        size_t need = lead(p[i], &lo, &hi);
        if (need == 0 || len - i < need)
            return 0;
        if (!allow_controls && p[i] == 0xc2 && p[i + 1] <= 0x9f)
            return 0; /* C1 */
        for (size_t k = 1; k < need; k++) {
            if (p[i + k] < lo || p[i + k] > hi)
                return 0;
            lo = 0x80;
            hi = 0xbf;
        }
        i += need - 1;
    }
    return 1;
}

int text_is_safe(const char *s, size_t len)
{
    return check_text(s, len, 0);
}

int text_is_utf8(const char *s, size_t len)
{
    return check_text(s, len, 1);
}

/* --- the sanitizing stream ------------------------------------------------------------------ */

struct stream {
    FILE *under;
    struct text_sanitizer s;
};

static int to_under(void *ctx, const char *d, size_t n)
{
    struct stream *st = ctx;
    return fwrite(d, 1, n, st->under) == n ? 0 : -1;
}

static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
    struct stream *st = cookie;
    if (text_sanitize_feed(&st->s, buf, size, to_under, st) < 0)
        return 0; /* an error for fopencookie */
    return (ssize_t)size;
}

static int stream_close(void *cookie)
{
    struct stream *st = cookie;
    int rc = text_sanitize_flush(&st->s, to_under, st);
    fflush(st->under);
    free(st);
    return rc < 0 ? -1 : 0;
}

FILE *text_open_stream(FILE *under)
{
    struct stream *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->under = under;
    cookie_io_functions_t io = {.write = stream_write, .close = stream_close};
    FILE *f = fopencookie(st, "w", io);
    if (f == NULL) {
        free(st);
        return NULL;
    }
    setvbuf(f, NULL, _IONBF, 0);
    return f;
}

char *text_read_file(const char *path, size_t max, size_t *len, struct error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        error_set(err, ERR_CONFIG, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    if (m == NULL) {
        fclose(f);
        error_set(err, ERR_GENERIC, "out of memory reading %s", path);
        return NULL;
    }
    char chunk[4096];
    size_t r, total = 0;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0 && total <= max) {
        fwrite(chunk, 1, r, m);
        total += r;
    }
    fclose(f);
    fclose(m);
    if (total > max) {
        free(buf);
        error_set(err, ERR_CONFIG, "%s is larger than %zu bytes", path, max);
        return NULL;
    }
    if (len != NULL)
        *len = n;
    return buf;
}
