/* Shared by the libFuzzer targets (tests/fuzz/fuzz_*.c): each feeds bytes an
 * attacker controls to one parser of lib/, exactly as the shipped code path
 * does, and frees what it got back. The same files build two ways: with
 * clang's -fsanitize=fuzzer for `make fuzz`, and with gcc plus replay.c (a
 * plain main) for `make check`, which replays the corpus and crash files. */
#ifndef VH_FUZZ_H
#define VH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A copy of the input in a block of exactly size bytes, so that reading one
 * byte past it is caught by ASan (libFuzzer's own buffer is exact too; the
 * replay driver's is not guaranteed to be). */
static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (p != NULL && size > 0)
        memcpy(p, data, size);
    return p;
}

/* A NUL-terminated copy, for parsers that take C strings. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *p = malloc(size + 1);
    if (p != NULL) {
        if (size > 0)
            memcpy(p, data, size);
        p[size] = '\0';
    }
    return p;
}

/* Splits the input at its first NUL byte: [data, *a_len) and the rest after
 * the NUL (empty when there is none). Lets one input carry two documents. */
static inline void fuzz_split(const uint8_t *data, size_t size, size_t *a_len, const uint8_t **b,
                              size_t *b_len)
{
    const uint8_t *nul = memchr(data, 0, size);
    *a_len = nul ? (size_t)(nul - data) : size;
    *b = nul ? nul + 1 : data + size;
    *b_len = nul ? size - *a_len - 1 : 0;
}

#endif
