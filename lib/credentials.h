/* Exec credential plugins (client.authentication.k8s.io v1 / v1beta1),
 * docs/kubernetes.md §3.4. Runs the plugin without a shell, passes
 * KUBERNETES_EXEC_INFO, parses the ExecCredential and caches it in-process
 * until its expirationTimestamp. */
#ifndef VH_CREDENTIALS_H
#define VH_CREDENTIALS_H

#include <time.h>

#include "error.h"
#include "kubeconfig.h"

struct credential {
    char *token;             /* secret */
    struct blob client_cert; /* PEM */
    struct blob client_key;  /* PEM, secret */
    time_t expiry;           /* 0 = no expirationTimestamp */
};

/* Fills *out with a copy of the plugin's credential for cfg, from the cache
 * when it has not expired, unless force_refresh (after a 401). Thread-safe
 * (exec runs many pods at once). Free the copy with credential_free(). */
int credentials_get(const struct rest_config *cfg, int force_refresh, struct credential *out,
                    struct error *err);

/* credentials_get(), but a plugin that has to run is waited for only until
 * deadline_ms (clock_now_ms() time; <= 0: the usual 60 s), when that is sooner. */
int credentials_get_until(const struct rest_config *cfg, int force_refresh, long long deadline_ms,
                          struct credential *out, struct error *err);

/* Wipes and frees the secrets held by a credential copy. */
void credential_free(struct credential *c);

/* Parses an ExecCredential (raw PEM in clientCertificateData/clientKeyData). */
int credentials_parse(const char *api_version, const char *text, size_t len, struct credential *out,
                      struct error *err);

/* Wipes and frees every cached credential. */
void credentials_clear(void);

#endif
