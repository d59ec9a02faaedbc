/* lib/wipe: secrets in ordinary heap memory are overwritten before they are
 * freed (wipe_release and libcurl's free show what is handed back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <malloc.h>

#include <jansson.h>

#include "curlmem.h"
#include "wipe.h"

#define MARK "MARK-0c41d9"

static int released, released_with_mark;

static void check_release(void *p)
{
    released++;
    if (memmem(p, malloc_usable_size(p), MARK, strlen(MARK)) != NULL)
        released_with_mark++;
    free(p);
}

static void hook(void)
{
    released = released_with_mark = 0;
    wipe_release = check_release;
}

static void unhook(void)
{
    wipe_release = free;
}

static void test_free_and_grow(void **state)
{
    (void)state;
    hook();
    wipe_free_str(strdup("Bearer " MARK));
    wipe_free(NULL, 10);
    wipe_free_str(NULL);
    char *p = malloc(32);
    snprintf(p, 32, "key " MARK);
    size_t len = strlen(p);
    char *q = wipe_grow(p, len, 4096);
    assert_non_null(q);
    assert_memory_equal(q, "key " MARK, len);
    unhook();
    assert_int_equal(released, 2);
    assert_int_equal(released_with_mark, 0);
    free(q);
}

static void test_yaml(void **state)
{
    (void)state;
    static const char text[] = "users:\n- name: u\n  user:\n    token: tok-" MARK "\n";
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, sizeof text - 1);
    assert_int_equal(yaml_parser_load(&p, &doc), 1);
    wipe_yaml(&doc, &p);
    int scalars = 0;
    for (yaml_node_t *n = doc.nodes.start; n < doc.nodes.top; n++) {
        if (n->type != YAML_SCALAR_NODE)
            continue;
        scalars++;
        for (size_t i = 0; i < n->data.scalar.length; i++)
            assert_int_equal(n->data.scalar.value[i], 0);
    }
    assert_int_equal(scalars, 6);
    assert_null(memmem(p.raw_buffer.start, (size_t)(p.raw_buffer.end - p.raw_buffer.start), MARK,
                       strlen(MARK)));
    assert_null(
        memmem(p.buffer.start, (size_t)(p.buffer.end - p.buffer.start), MARK, strlen(MARK)));
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    wipe_yaml(NULL, NULL);
}

static void test_json(void **state)
{
    (void)state;
    wipe_json_allocator();
    hook();
    /* The lexer's buffers and the values: every block jansson frees goes through the wipe. */
    json_t *v =
        json_loads("{\"root_token\":\"hvs." MARK "\",\"unseal_keys_b64\":[\"" MARK "\"]}", 0, NULL);
    assert_non_null(v);
    json_decref(v);
    unhook();
    assert_true(released >= 3);
    assert_int_equal(released_with_mark, 0);
}

static void test_slist(void **state)
{
    (void)state;
    struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json");
    l = curl_slist_append(l, "Authorization: Bearer " MARK);
    curlmem_marker = MARK;
    curlmem_freed_with_marker = 0;
    wipe_slist(l);
    assert_int_equal(curlmem_freed_with_marker, 0);
    wipe_slist(NULL);
    /* Without the wipe the check sees it. */
    curl_slist_free_all(curl_slist_append(NULL, "Authorization: Bearer " MARK));
    assert_int_equal(curlmem_freed_with_marker, 1);
}

int main(void)
{
    curlmem_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_and_grow),
        cmocka_unit_test(test_yaml),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_slist),
    };
    int rc = cmocka_run_group_tests_name("wipe", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
