/* libcurl's allocations through curl_global_init_mem, for tests that look at
 * what libcurl frees: a freed block that still holds curlmem_marker is a
 * secret left behind in freed memory (counted in curlmem_freed_with_marker). */
#ifndef VH_TEST_CURLMEM_H
#define VH_TEST_CURLMEM_H

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

static const char *curlmem_marker;
static int curlmem_freed_with_marker;

static void curlmem_free(void *p)
{
    if (p != NULL && curlmem_marker != NULL &&
        memmem(p, malloc_usable_size(p), curlmem_marker, strlen(curlmem_marker)) != NULL)
        curlmem_freed_with_marker++;
    free(p);
}

static void *curlmem_malloc(size_t n)
{
    return malloc(n);
}

static void *curlmem_realloc(void *p, size_t n)
{
    return realloc(p, n);
}

static char *curlmem_strdup(const char *s)
{
    return strdup(s);
}

static void *curlmem_calloc(size_t n, size_t m)
{
    return calloc(n, m);
}

/* Instead of curl_global_init(CURL_GLOBAL_DEFAULT). */
static inline CURLcode curlmem_global_init(void)
{
    return curl_global_init_mem(CURL_GLOBAL_DEFAULT, curlmem_malloc, curlmem_free, curlmem_realloc,
                                curlmem_strdup, curlmem_calloc);
}

#endif
