#include "version.h"

#include <stddef.h>
#include <string.h>

struct version {
    const char *core[3]; /* the three numbers, each core_len[i] digits */
    size_t core_len[3];
    const char *pre; /* the pre-release, pre_len bytes; 0 for a release */
    size_t pre_len;
};

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_ident_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* Dot-separated identifiers of [0-9A-Za-z-], none empty (semver 2.0 items 9, 10). */
static int valid_identifiers(const char *s, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (run == 0)
                return 0;
            run = 0;
        } else if (is_ident_char(s[i])) {
            run++;
        } else {
            return 0;
        }
    }
    return run > 0;
}

static int parse(const char *s, struct version *v)
{
    if (s == NULL)
        return -1;
    if (*s == 'v')
        s++;
    for (int i = 0; i < 3; i++) {
        size_t n = 0;
        while (is_digit(s[n]))
            n++;
        if (n == 0)
            return -1;
        v->core[i] = s;
        v->core_len[i] = n;
        s += n;
        if (i < 2 && *s++ != '.')
            return -1;
    }
    v->pre = NULL;
    v->pre_len = 0;
    if (*s == '-') {
        s++;
        v->pre = s;
        v->pre_len = strcspn(s, "+");
        if (!valid_identifiers(v->pre, v->pre_len))
            return -1;
        s += v->pre_len;
    }
    if (*s == '+') {
        s++;
        if (!valid_identifiers(s, strlen(s)))
            return -1;
        s += strlen(s);
    }
    return *s == '\0' ? 0 : -1;
}

static int sign(int c)
{
    return c < 0 ? -1 : c > 0;
}

/* Two runs of digits as numbers: leading zeros aside, the longer is larger. */
static int compare_numbers(const char *a, size_t la, const char *b, size_t lb)
{
    while (la > 1 && *a == '0')
        a++, la--;
    while (lb > 1 && *b == '0')
        b++, lb--;
    if (la != lb)
        return la < lb ? -1 : 1;
    return sign(memcmp(a, b, la));
}

/* A word: runs of digits compare as numbers, the rest as ASCII text. */
static int compare_words(const char *a, size_t la, const char *b, size_t lb)
{
    size_t i = 0, j = 0;
    while (i < la && j < lb) {
        if (is_digit(a[i]) && is_digit(b[j])) {
            size_t ei = i, ej = j;
            while (ei < la && is_digit(a[ei]))
                ei++;
            while (ej < lb && is_digit(b[ej]))
                ej++;
            int c = compare_numbers(a + i, ei - i, b + j, ej - j);
            if (c != 0)
                return c;
            i = ei, j = ej;
        } else {
            if (a[i] != b[j])
                return (unsigned char)a[i] < (unsigned char)b[j] ? -1 : 1;
            i++, j++;
        }
    }
    return i < la ? 1 : j < lb ? -1 : 0;
}

static int all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

static int compare_prerelease(const char *a, size_t la, const char *b, size_t lb)
{
    size_t i = 0, j = 0;
    while (i < la && j < lb) {
        size_t ei = i, ej = j;
        while (ei < la && a[ei] != '.')
            ei++;
        while (ej < lb && b[ej] != '.')
            ej++;
        int na = all_digits(a + i, ei - i), nb = all_digits(b + j, ej - j);
        int c = na && nb   ? compare_numbers(a + i, ei - i, b + j, ej - j)
                : na != nb ? (na ? -1 : 1) /* a number before a word */
                           : compare_words(a + i, ei - i, b + j, ej - j);
        if (c != 0)
            return c;
        i = ei < la ? ei + 1 : ei;
        j = ej < lb ? ej + 1 : ej;
    }
    return i < la ? 1 : j < lb ? -1 : 0; /* more identifiers: later */
}

int version_compare(const char *a, const char *b)
{
    struct version x, y;
    if (parse(a, &x) < 0 || parse(b, &y) < 0)
        return -2;
    for (int i = 0; i < 3; i++) {
        int c = compare_numbers(x.core[i], x.core_len[i], y.core[i], y.core_len[i]);
        if (c != 0)
            return c;
    }
    if (x.pre == NULL || y.pre == NULL) /* a release after its pre-releases */
        return x.pre == y.pre ? 0 : x.pre == NULL ? 1 : -1;
    return compare_prerelease(x.pre, x.pre_len, y.pre, y.pre_len);
}
