#include "clock.h"

#include <string.h>

long long clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* n decimal digits at *p, advancing it; -1 when one is not a digit. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    return v;
}

static int expect(const char **p, char a, char b)
{
    if (**p != a && **p != b)
        return -1;
    (*p)++;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : d[month - 1];
}

int clock_parse_rfc3339(const char *s, time_t *out)
{
    if (s == NULL)
        return -1;
    const char *p = s;
    /* Each step stops at the first character that does not fit, so a short
     * string ends at its NUL and is never read past. */
    int year = digits(&p, 4);
    if (year < 0 || expect(&p, '-', '-') < 0)
        return -1;
    int month = digits(&p, 2);
    if (month < 1 || month > 12 || expect(&p, '-', '-') < 0)
        return -1;
    int day = digits(&p, 2);
    if (day < 1 || day > days_in_month(year, month) || expect(&p, 'T', 't') < 0)
        return -1;
    int hour = digits(&p, 2);
    if (hour < 0 || hour > 23 || expect(&p, ':', ':') < 0)
        return -1;
    int min = digits(&p, 2);
    if (min < 0 || min > 59 || expect(&p, ':', ':') < 0)
        return -1;
    int sec = digits(&p, 2);
    if (sec < 0 || sec > 60) /* 60: a leap second */
        return -1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        int oh = digits(&p, 2);
        if (oh < 0 || oh > 23 || expect(&p, ':', ':') < 0)
            return -1;
        int om = digits(&p, 2);
        if (om < 0 || om > 59)
            return -1;
        offset = sign * (oh * 3600L + om * 60L);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    *out = timegm(&tm) - offset;
    return 0;
}
