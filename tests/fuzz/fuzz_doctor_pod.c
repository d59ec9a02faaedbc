/* What doctor's script prints in a pod (doctor_pod_script), as doctor_gather
 * hands it to doctor_parse_pod_output: stdout runs to the first NUL, the exec's
 * stderr follows it. Every text the parse keeps for messages must be valid
 * UTF-8 (else -o json cannot carry it) and terminal-safe. */
#include "doctor.h"
#include "fuzz.h"
#include "text.h"

static void check_text(const char *s)
{
    if (s != NULL && !text_is_safe(s, strlen(s)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t out_len, err_len;
    const uint8_t *err_part;
    fuzz_split(data, size, &out_len, &err_part, &err_len);
    char *out = fuzz_copy(data, out_len);
    char *stderr_text = fuzz_cstr(err_part, err_len);
    struct doctor_pod p = {0};
    struct error err = {0};
    doctor_parse_pod_output(out, out_len, "--vh-fuzz", stderr_text, &p, &err);
    check_text(p.status_error);
    check_text(p.df_error);
    check_text(p.config_error);
    for (size_t i = 0; i < p.nfiles; i++) {
        check_text(p.files[i].key);
        check_text(p.files[i].path);
    }
    for (size_t i = 0; i < p.ndns; i++) {
        check_text(p.dns[i].name);
        check_text(p.dns[i].tool);
        check_text(p.dns[i].detail);
    }
    if (p.nfiles > 16 || p.ndns > 256)
        abort(); /* the caps hold */
    doctor_pod_clear(&p);
    free(out);
    free(stderr_text);
    return 0;
}
