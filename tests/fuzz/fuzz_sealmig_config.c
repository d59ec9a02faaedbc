/* The chart's server config from a ConfigMap, as sealmig_parse_config scans
 * it for seal stanzas (migrate-seal, doctor). */
#include "fuzz.h"
#include "sealmig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_copy(data, size);
    struct seal_config cfg;
    struct error err = {0};
    sealmig_parse_config(text, size, &cfg, &err);
    free(text);
    return 0;
}
