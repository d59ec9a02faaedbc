/* doctor's other parsers of pod bytes, the first byte choosing one: the server
 * config (doctor_config_value / doctor_config_has, as the TLS checks ask it),
 * nslookup and getent output, df -P, autopilot get-config JSON and a Go
 * duration. The rest of the input is the text. */
#include "doctor.h"
#include "fuzz.h"

static const char *const config_keys[] = {"tls_cert_file", "tls_disable", "leader_ca_cert",
                                          "retry_join", "path"};

static void config(const char *text)
{
    for (size_t k = 0; k < sizeof config_keys / sizeof config_keys[0]; k++) {
        char *v = doctor_config_value(text, config_keys[k]);
        if (v != NULL && strlen(v) > 65536 + 4)
            abort(); /* a quoted value is bounded */
        free(v);
        (void)doctor_config_has(text, config_keys[k]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *text = fuzz_cstr(data + 1, size - 1);
    switch (data[0] % 6) {
    case 0:
        config(text);
        break;
    case 1:
    case 2: {
        char *ip = doctor_dns_address(data[0] % 6 == 1 ? "nslookup" : "getent", text);
        free(ip);
        break;
    }
    case 3: {
        long long kib, used;
        int pct;
        if (doctor_parse_df(text, &kib, &used, &pct) == 0 && (pct < 0 || pct > 100))
            abort();
        break;
    }
    case 4: {
        char *exact = fuzz_copy(data + 1, size - 1);
        struct doctor_autopilot_config c;
        struct error err = {0};
        doctor_parse_autopilot_config(exact, size - 1, &c, &err);
        free(exact);
        break;
    }
    default: {
        double s = doctor_go_duration(text);
        if (s > DOCTOR_DURATION_MAX_S)
            abort(); /* bounded, so that no conversion overflows */
        break;
    }
    }
    free(text);
    return 0;
}
