/* Time: the monotonic clock (elapsed time, immune to clock changes) and the
 * one RFC 3339 parser of the tree (timestamps from the API server and from
 * credential plugins). */
#ifndef VH_CLOCK_H
#define VH_CLOCK_H

#include <time.h>

/* Milliseconds on the monotonic clock. */
long long clock_now_ms(void);

/* RFC 3339 date-time, as Kubernetes writes it: YYYY-MM-DDTHH:MM:SS, optional
 * fractional seconds, then Z or an offset +HH:MM / -HH:MM ('t' and 'z' too),
 * and nothing after. Every field is checked (ranges, digits, length); the
 * text is never read past its end. Returns 0 with *out (UTC seconds), or -1. */
int clock_parse_rfc3339(const char *s, time_t *out);

#endif
