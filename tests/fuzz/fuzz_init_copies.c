/* What a pod prints while init copies the PGP key files into it: the name
 * `mktemp -d` printed (init_temp_dir: rm -rf is later run on it) and the
 * lines of `sha256sum -- *` (init_check_copies), both exactly as long as the
 * pod's output, not NUL-terminated. */
#include "fuzz.h"
#include "init.h"

#define H1 "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
#define H2 "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_copy(data, size);
    if (text == NULL)
        return 0;
    char dir[64];
    if (init_temp_dir(text, size, dir, sizeof dir) == 0 && strstr(dir, "..") != NULL)
        abort(); /* a name that leaves /tmp */
    static const struct init_copy_sum sums[] = {{"pgp-0.key", H1, "a.pub"},
                                                {"root-0.key", H2, "b.pub"}};
    struct error err = {0};
    init_check_copies(text, size, sums, 2, "vault-0", &err);
    free(text);
    return 0;
}
