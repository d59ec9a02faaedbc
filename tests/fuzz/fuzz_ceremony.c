/* What pods print during a key ceremony, as lib/ceremony reads it: the rekey
 * status and answers, the verification status, the root generation status and
 * answers, the key status, and a Vault log searched for a ceremony's start. */
#include "ceremony.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = fuzz_copy(data, size);
    struct error err = {0};
    struct rekey_status st;
    ceremony_parse_rekey_status(out, size, &st, &err);
    struct rekey_update u;
    if (ceremony_parse_rekey_update(out, size, &u, &err) == 0) {
        struct secret json = {0};
        ceremony_rekey_keys_json(&u, 3, size % 2, &json, &err);
        secret_free(&json);
        ceremony_rekey_update_clear(&u);
    }
    struct rekey_verify_status v;
    ceremony_parse_verify_status(out, size, &v, &err);
    ceremony_parse_verify_update(out, size, &v, &err);
    struct root_status r;
    if (ceremony_parse_root(out, size, &r, &err) == 0)
        ceremony_root_status_clear(&r);
    struct key_status ks;
    ceremony_parse_key_status(out, size, &ks, &err);
    free(out);
    /* The log (kube_get_text) and stderr (lib/vault) arrive NUL-terminated. */
    char *text = fuzz_cstr(data, size);
    struct ceremony_start start;
    ceremony_find_start(text, "rekey", "ab-1", &start);
    ceremony_find_start(text, "rekey", NULL, &start);
    ceremony_classify(text);
    free(text);
    return 0;
}
