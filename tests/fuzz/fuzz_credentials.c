/* The output of an exec credential plugin (an ExecCredential, JSON), as
 * credentials_parse reads it for the kubeconfig's apiVersion. The first byte
 * picks that apiVersion. */
#include "credentials.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *api =
        data[0] & 1 ? "client.authentication.k8s.io/v1beta1" : "client.authentication.k8s.io/v1";
    char *text = fuzz_copy(data + 1, size - 1);
    struct credential c;
    struct error err = {0};
    if (credentials_parse(api, text, size - 1, &c, &err) == 0)
        credential_free(&c);
    free(text);
    return 0;
}
