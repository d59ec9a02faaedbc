/* Secrets in ordinary heap memory (kubeconfig tokens and client keys, the
 * Authorization header, JSON that carried keys) are overwritten before the
 * memory is freed, and never left behind by a realloc: one copy of each such
 * helper for the tree. Secrets we own outright live in lib/secret's locked
 * buffers instead. */
#ifndef VH_WIPE_H
#define VH_WIPE_H

#include <stddef.h>

#include <curl/curl.h>
#include <yaml.h>

/* Overwrites len bytes at p, then frees p (NULL is fine). */
void wipe_free(void *p, size_t len);

/* wipe_free() of a NUL-terminated string. */
void wipe_free_str(char *s);

/* Growth without realloc: a new block of cap bytes holding the first len
 * bytes of p, and p wiped and freed. NULL when memory is short (p untouched). */
void *wipe_grow(void *p, size_t len, size_t cap);

/* Overwrites every line of a header list, then frees it (curl_slist_free_all). */
void wipe_slist(struct curl_slist *l);

/* Overwrites every scalar of a parsed YAML document (call before
 * yaml_document_delete) and what the parser still buffers of its input (call
 * before yaml_parser_delete; either may be NULL). libyaml has no allocator
 * hooks: pieces of long scalars that its scanner outgrew and freed are beyond
 * reach, which is one reason core dumps are off for the whole process. */
void wipe_yaml(yaml_document_t *doc, yaml_parser_t *parser);

/* Makes jansson overwrite every block it frees (json_set_alloc_funcs). Call
 * before the first JSON value is made. jansson never reallocs, so no copy of
 * a parsed key or token outlives its value. */
void wipe_json_allocator(void);

/* The free() that runs after the wiping (tests look at wiped blocks through it). */
extern void (*wipe_release)(void *p);

#endif
