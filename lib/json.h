/* Read-only accessors for jansson documents, one copy for the tree. Each takes NULL or a value
 * of the wrong type and answers NULL (or the fallback), so a missing or mistyped field in a
 * document from the API server or a pod never needs its own check before the next step. */
#ifndef VH_JSON_H
#define VH_JSON_H

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "text.h"

/* obj[key] as a string, or NULL. */
static inline const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* obj[a] or, with b, obj[a][b]; NULL when a step is missing. */
static inline json_t *jpath(const json_t *obj, const char *a, const char *b)
{
    json_t *x = json_object_get(obj, a);
    return b != NULL ? json_object_get(x, b) : x;
}

/* obj[a][b] as a string, or NULL. */
static inline const char *jpath_str(const json_t *obj, const char *a, const char *b)
{
    return json_string_value(jpath(obj, a, b));
}

/* obj[key] is JSON true. */
static inline int jbool(const json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

/* obj[key] as an integer, 0 when missing or not an integer. */
static inline long long jint(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

/* s as a JSON string, sanitized first when it is not valid UTF-8 or holds control bytes:
 * json_string refuses invalid UTF-8, and a value silently missing from a document hides
 * what a script should see. NULL only when memory is short. */
static inline json_t *jtext(const char *s)
{
    if (s == NULL)
        return json_null();
    if (text_is_safe(s, strlen(s)))
        return json_string(s);
    char *clean = text_sanitize_dup(s);
    json_t *v = clean != NULL ? json_string(clean) : NULL;
    free(clean);
    return v;
}

#endif
