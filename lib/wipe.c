#include "wipe.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

void (*wipe_release)(void *p) = free;

void wipe_free(void *p, size_t len)
{
    if (p == NULL)
        return;
    explicit_bzero(p, len);
    wipe_release(p);
}

void wipe_free_str(char *s)
{
    if (s != NULL)
        wipe_free(s, strlen(s));
}

void *wipe_grow(void *p, size_t len, size_t cap)
{
    void *n = malloc(cap);
    if (n == NULL)
        return NULL;
    if (len > 0)
        memcpy(n, p, len);
    wipe_free(p, len);
    return n;
}

void wipe_slist(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p != NULL; p = p->next)
        if (p->data != NULL)
            explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

void wipe_yaml(yaml_document_t *doc, yaml_parser_t *parser)
{
    if (doc != NULL && doc->nodes.start != NULL) {
        for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++)
            if (n->type == YAML_SCALAR_NODE && n->data.scalar.value != NULL)
                explicit_bzero(n->data.scalar.value, n->data.scalar.length);
    }
    if (parser != NULL) {
        if (parser->raw_buffer.start != NULL)
            explicit_bzero(parser->raw_buffer.start,
                           (size_t)(parser->raw_buffer.end - parser->raw_buffer.start));
        if (parser->buffer.start != NULL)
            explicit_bzero(parser->buffer.start,
                           (size_t)(parser->buffer.end - parser->buffer.start));
    }
}

static void *json_alloc(size_t n)
{
    return malloc(n);
}

static void json_release(void *p)
{
    if (p != NULL)
        wipe_free(p, malloc_usable_size(p));
}

void wipe_json_allocator(void)
{
    json_set_alloc_funcs(json_alloc, json_release);
}
