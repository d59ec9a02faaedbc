/* The API server's answer to the exec WebSocket upgrade: the response head as
 * ws_parse_response reads it, a 101 checked by ws_check_upgrade, and any other
 * status's body (Content-Length, chunked) decoded by ws_response_body and
 * turned into the user's error by kube_error_from_response, as connect_once
 * does. */
#include "fuzz.h"
#include "kube.h"
#include "websocket.h"

static struct rest_config *cfg;
static struct kube_client *kube;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static const char kc[] = "current-context: c\n"
                             "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                             "users: [{name: u, user: {token: t}}]\n"
                             "contexts: [{name: c, context: {cluster: k, user: u}}]\n";
    struct kubeconfig_flags flags = {0};
    struct error err = {0};
    if (kubeconfig_load_text("fuzz", kc, sizeof kc - 1, &flags, &cfg, &err) < 0 ||
        kube_client_new(cfg, NULL, &kube, &err) < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const protocols[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", NULL};
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
    char *head = fuzz_copy(data, size);
    struct ws_response r;
    int pr = ws_parse_response(head, size, &r);
    if (pr == 1) {
        if (r.header_len > size)
            abort();
        struct error err = {0};
        const char *chosen = NULL;
        if (ws_check_upgrade(&r, key, protocols, &chosen, &err) == 0 && chosen == NULL)
            abort(); /* an accepted upgrade names the subprotocol */
        /* The body in a block with one byte to spare for the NUL, that byte
         * set to a hex digit: a decoder that reads past the body runs off the
         * end of the block, where ASan sees it. */
        size_t blen = size - r.header_len;
        char *body = malloc(blen + 1);
        if (blen > 0)
            memcpy(body, head + r.header_len, blen);
        body[blen] = '1';
        size_t dl = ws_response_body(&r, body, blen);
        if (dl > blen || body[dl] != '\0')
            abort();
        kube_error_from_response(kube, "GET",
                                 "/api/v1/namespaces/vault/pods/vault-0/exec?command=vault&"
                                 "stdout=true",
                                 r.status, body, dl, &err);
        free(body);
    }
    free(head);
    return 0;
}
