/* lib/text: the one sanitizer for remote text on a terminal, streaming and
 * one-shot, the sanitizing stream, hex digits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "text.h"

static char *clean(const char *s, size_t len)
{
    static char buf[4096];
    size_t n = text_sanitize(buf, sizeof buf, s, len);
    assert_true(n < sizeof buf);
    assert_int_equal(strlen(buf), n);
    return buf;
}

#define CLEAN(lit) clean(lit, sizeof(lit) - 1)

static void test_printable_text_unchanged(void **state)
{
    (void)state;
    const char *s = "pod vault-0: Error unsealing: héllo wörld ✓ 日本語 😀\n\tnext line ~`!";
    assert_string_equal(clean(s, strlen(s)), s);
    assert_true(text_is_safe(s, strlen(s)));
    /* NBSP (U+00A0) is printable: only U+0080..U+009F are C1 controls. */
    assert_string_equal(CLEAN("a\xc2\xa0"
                              "b"),
                        "a\xc2\xa0"
                        "b");
}

static void test_escape_sequences_made_visible(void **state)
{
    (void)state;
    /* OSC 52 (clipboard write), CSI (cursor, erase), CR overwrite, BEL. */
    assert_string_equal(CLEAN("\x1b]52;c;aGVsbG8=\x07ok"), "\\x1b]52;c;aGVsbG8=\\x07ok");
    assert_string_equal(CLEAN("x\x1b[2J\x1b[1;1Hforged"), "x\\x1b[2J\\x1b[1;1Hforged");
    assert_string_equal(CLEAN("real\rfake"), "real\\x0dfake");
    assert_string_equal(CLEAN("del\x7f"), "del\\x7f");
    assert_string_equal(clean("a\0b", 3), "a\\x00b");
    assert_false(text_is_safe("a\x1b", 2));
    assert_false(text_is_safe("a\r", 2));
}

static void test_c1_and_invalid_utf8(void **state)
{
    (void)state;
    /* C1 CSI as UTF-8 (U+009B), and the raw 8-bit byte that some terminals take as CSI. */
    assert_string_equal(CLEAN("a\xc2\x9b"
                              "31mred"),
                        "a\\u009b31mred");
    assert_string_equal(CLEAN("\xc2\x80\xc2\x9f"), "\\u0080\\u009f");
    assert_string_equal(CLEAN("a\x9b"
                              "31m"),
                        "a\\x9b31m");
    assert_false(text_is_safe("\xc2\x9b", 2));
    /* Overlong '/', a surrogate, beyond U+10FFFF, bytes that never start a sequence. */
    assert_string_equal(CLEAN("\xc0\xaf"), "\\xc0\\xaf");
    assert_string_equal(CLEAN("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");
    assert_string_equal(CLEAN("\xed\xa0\x80"), "\\xed\\xa0\\x80");
    assert_string_equal(CLEAN("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
    assert_string_equal(CLEAN("\xf5\xff\xfe"), "\\xf5\\xff\\xfe");
    /* A sequence broken by a byte that is not a continuation: that byte is judged anew. */
    assert_string_equal(CLEAN("\xe2\x28\xa1"), "\\xe2(\\xa1");
    assert_string_equal(CLEAN("\xe2\x82\x1b[m"), "\\xe2\\x82\\x1b[m");
    /* Cut short at the end of the text. */
    assert_string_equal(CLEAN("ok\xe2\x82"), "ok\\xe2\\x82");
    assert_false(text_is_safe("ok\xe2\x82", 4));
    assert_true(text_is_safe("\xf0\x9f\x98\x80", 4));
    /* UTF-8 validity alone: controls are well-formed UTF-8. */
    assert_true(text_is_utf8("a\x1b\r\xc2\x9b\xe2\x9c\x93", 8));
    assert_false(text_is_utf8("\xc0\xaf", 2));
    assert_false(text_is_utf8("\xed\xa0\x80", 3));
    assert_false(text_is_utf8("ok\xe2\x82", 4));
}

struct collect {
    char buf[4096];
    size_t len;
    int calls;
};

static int collect(void *ctx, const char *d, size_t n)
{
    struct collect *c = ctx;
    assert_true(c->len + n < sizeof c->buf);
    memcpy(c->buf + c->len, d, n);
    c->len += n;
    c->buf[c->len] = '\0';
    c->calls++;
    return 0;
}

static void test_streaming_any_split(void **state)
{
    (void)state;
    static const char text[] =
        "ok ✓ \x1b]0;title\x07 \xc2\x9b \xe2\x82 日\xf0\x9f\x98\x80 \x9b end";
    size_t len = sizeof text - 1;
    const char *whole = CLEAN(text);
    char expect[512];
    snprintf(expect, sizeof expect, "%s", whole);
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b++) {
            struct text_sanitizer s = {0};
            struct collect c = {0};
            assert_int_equal(text_sanitize_feed(&s, text, a, collect, &c), 0);
            assert_int_equal(text_sanitize_feed(&s, text + a, b - a, collect, &c), 0);
            assert_int_equal(text_sanitize_feed(&s, text + b, len - b, collect, &c), 0);
            assert_int_equal(text_sanitize_flush(&s, collect, &c), 0);
            assert_string_equal(c.buf, expect);
        }
    }
    /* A character split over three writes is held back, then passes whole. */
    struct text_sanitizer s = {0};
    struct collect c = {0};
    text_sanitize_feed(&s, "\xe2", 1, collect, &c);
    text_sanitize_feed(&s, "\x9c", 1, collect, &c);
    assert_int_equal(c.len, 0);
    text_sanitize_feed(&s, "\x93", 1, collect, &c);
    assert_string_equal(c.buf, "✓");
    text_sanitize_flush(&s, collect, &c);
    assert_string_equal(c.buf, "✓");
}

static int fail_emit(void *ctx, const char *d, size_t n)
{
    (void)ctx, (void)d, (void)n;
    return -7;
}

static void test_emit_error_stops(void **state)
{
    (void)state;
    struct text_sanitizer s = {0};
    assert_int_equal(text_sanitize_feed(&s,
                                        "a\x1b"
                                        "b",
                                        3, fail_emit, NULL),
                     -7);
}

static void test_one_shot_cut(void **state)
{
    (void)state;
    char buf[8];
    /* "ab\x1b" needs 6 bytes: the escape does not fit whole, so it is left out. */
    assert_int_equal(text_sanitize(buf, 5, "ab\x1b", 3), 6);
    assert_string_equal(buf, "ab");
    /* A UTF-8 character is not cut in half. */
    assert_int_equal(text_sanitize(buf, 4, "ab✓", 5), 5);
    assert_string_equal(buf, "ab");
    assert_int_equal(text_sanitize(buf, sizeof buf, "abc", 3), 3);
    assert_string_equal(buf, "abc");
    assert_int_equal(text_sanitize(NULL, 0, "\x1b", 1), 4);
    char *d = text_sanitize_dup("t\x1b[31m");
    assert_string_equal(d, "t\\x1b[31m");
    free(d);
    assert_null(text_sanitize_dup(NULL));
}

static void test_stream(void **state)
{
    (void)state;
    char *mem = NULL;
    size_t memlen = 0;
    FILE *under = open_memstream(&mem, &memlen);
    assert_non_null(under);
    FILE *f = text_open_stream(under);
    assert_non_null(f);
    fprintf(f, "%s: %s\n", "kubectl vault-ha", "vault-0: \x1b]52;c;ZXZpbA==\x07 sealed");
    /* Unbuffered: the bytes are in under already, so raw writes to under keep their place. */
    fflush(under);
    assert_string_equal(mem, "kubectl vault-ha: vault-0: \\x1b]52;c;ZXZpbA==\\x07 sealed\n");
    fputs("\x1b[32mraw colour\x1b[0m\n", under);
    fputs("split \xe2", f);
    fputs("\x9c\x93 then cut \xe2\x82", f);
    fclose(f); /* the incomplete sequence is emitted as escapes */
    fclose(under);
    assert_string_equal(mem, "kubectl vault-ha: vault-0: \\x1b]52;c;ZXZpbA==\\x07 sealed\n"
                             "\x1b[32mraw colour\x1b[0m\nsplit ✓ then cut \\xe2\\x82");
    free(mem);
}

static void test_json_text(void **state)
{
    (void)state;
    const char *cases[][2] = {{"vault-1 is sealed", "vault-1 is sealed"},
                              {"caf\xc3\xa9", "caf\xc3\xa9"},
                              {"cut \xe2\x82", "cut \\xe2\\x82"},
                              {"bell\a", "bell\\x07"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = jtext(cases[i][0]);
        assert_non_null(v); /* json_string alone answers NULL for the third */
        assert_string_equal(json_string_value(v), cases[i][1]);
        json_decref(v);
    }
    json_t *v = jtext(NULL);
    assert_true(json_is_null(v));
}

static void test_appendf(void **state)
{
    (void)state;
    char buf[8];
    size_t len = 0;
    assert_int_equal(text_appendf(buf, sizeof buf, &len, "%s", "abc"), 0);
    assert_int_equal(len, 3);
    assert_int_equal(text_appendf(buf, sizeof buf, &len, ",%d", 42), 0);
    assert_string_equal(buf, "abc,42");
    /* Cut: the buffer is full and stays terminated; later appends write nothing past it. */
    assert_int_equal(text_appendf(buf, sizeof buf, &len, "%s", "xyz"), -1);
    assert_int_equal(len, 7);
    assert_string_equal(buf, "abc,42x");
    assert_int_equal(text_appendf(buf, sizeof buf, &len, "%s", "more"), -1);
    assert_int_equal(len, 7);
    assert_string_equal(buf, "abc,42x");
    len = 100; /* a length past the end is clamped, not trusted */
    assert_int_equal(text_appendf(buf, sizeof buf, &len, "%s", "q"), -1);
    assert_string_equal(buf, "abc,42x");
    assert_int_equal(text_appendf(buf, 0, &len, "%s", "q"), -1);
    /* A cut inside a character drops the whole character: the text stays valid UTF-8. */
    len = 0;
    assert_int_equal(text_appendf(buf, sizeof buf, &len, "%s", "ab\xe2\x82\xac\xe2\x82\xac"), -1);
    assert_string_equal(buf, "ab\xe2\x82\xac");
    assert_int_equal(len, sizeof buf - 1);
    assert_int_equal(text_appendf(buf, sizeof buf, &len, "%s", "x"), -1);
    assert_string_equal(buf, "ab\xe2\x82\xac");
    len = 0;
    assert_int_equal(text_appendf(buf, sizeof buf, &len, "%s", "abcdef\xc3\xa9"), -1);
    assert_string_equal(buf, "abcdef");
    len = 0;
    assert_int_equal(text_appendf(buf, sizeof buf, &len, "%s", "abcde\xc3\xa9z"), -1);
    assert_string_equal(buf, "abcde\xc3\xa9");
    assert_true(text_is_utf8(buf, strlen(buf)));
    char *p = text_printf("%s-%d", "vault", 2);
    assert_string_equal(p, "vault-2");
    free(p);
}

static void test_hex_digit(void **state)
{
    (void)state;
    assert_int_equal(text_hex_digit('0'), 0);
    assert_int_equal(text_hex_digit('9'), 9);
    assert_int_equal(text_hex_digit('a'), 10);
    assert_int_equal(text_hex_digit('F'), 15);
    assert_int_equal(text_hex_digit('g'), -1);
    assert_int_equal(text_hex_digit(' '), -1);
    assert_int_equal(text_hex_digit(0xe9), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_printable_text_unchanged),
        cmocka_unit_test(test_escape_sequences_made_visible),
        cmocka_unit_test(test_c1_and_invalid_utf8),
        cmocka_unit_test(test_streaming_any_split),
        cmocka_unit_test(test_emit_error_stops),
        cmocka_unit_test(test_one_shot_cut),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_appendf),
        cmocka_unit_test(test_json_text),
        cmocka_unit_test(test_hex_digit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
