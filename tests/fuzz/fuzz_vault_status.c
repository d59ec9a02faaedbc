/* `vault status -format=json` from a pod: stdout, the CLI's exit code and its
 * stderr, as vault_parse_status reads them. The first byte is the exit code
 * (0-3); stdout runs to the first NUL, stderr follows it. */
#include "fuzz.h"
#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int exit_code = data[0] & 3;
    size_t out_len, err_len;
    const uint8_t *err_part;
    fuzz_split(data + 1, size - 1, &out_len, &err_part, &err_len);
    char *out = fuzz_copy(data + 1, out_len);
    char *stderr_text = fuzz_cstr(err_part, err_len);
    struct vault_status st;
    struct error err = {0};
    if (vault_parse_status(out, out_len, exit_code, stderr_text, &st, &err) == 0) {
        if ((exit_code == 2) != (st.sealed != 0))
            abort(); /* a success means the exit code and the JSON agree */
        vault_status_clear(&st);
    }
    char summary[256];
    vault_error_summary(stderr_text, summary, sizeof summary);
    if (strlen(summary) >= sizeof summary)
        abort();
    free(out);
    free(stderr_text);
    return 0;
}
