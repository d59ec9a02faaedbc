/* The Status JSON of the exec error channel (channel 3), as kexec_parse_status
 * reads it when a session ends. */
#include "fuzz.h"
#include "kexec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = fuzz_copy(data, size);
    int code = 0;
    struct error err = {0};
    int rc = kexec_parse_status(json, size, &code, &err);
    if ((rc == 0) != (code >= 0 && code <= 255))
        abort(); /* an exit status is 0-255 exactly when the parse succeeded */
    free(json);
    return 0;
}
