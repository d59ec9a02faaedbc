/* A Lease as the API server answers it (JSON), as lib/lease reads and judges it
 * before it names the holder on the terminal: lease_parse, lease_judge and the
 * refusal built from what was read. */
#include "fuzz.h"
#include "lease.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *obj = json_loadb((const char *)data, size, 0, NULL);
    struct lease_record rec;
    if (obj != NULL && lease_parse(obj, &rec) == 0) {
        char why[1024];
        time_t now = (time_t)1777629600;
        lease_judge(&rec, now);
        lease_refusal(&rec, "vault", "vault-vault-ha-lock", now, 1, why, sizeof why);
        lease_refusal(&rec, "vault", "vault-vault-ha-lock", now, 0, why, sizeof why);
    }
    json_decref(obj);
    return 0;
}
