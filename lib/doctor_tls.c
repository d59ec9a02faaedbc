/* doctor: the certificate checks, with OpenSSL (lib/doctor.h). */
#include "doctor_internal.h"
#include "text.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* --- VHA-TLS: certificates
 * ------------------------------------------------------------------------ */

static const struct doctor_file *pod_file(const struct doctor_pod *p, const char *key)
{
    for (size_t i = 0; i < p->nfiles; i++)
        if (p->files[i].key && strcmp(p->files[i].key, key) == 0)
            return &p->files[i];
    return NULL;
}

/* Parses every certificate of a PEM text; the first one is returned, the rest go to *rest. */
static X509 *load_pem(const char *pem, STACK_OF(X509) * *rest)
{
    if (pem == NULL)
        return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)strnlen(pem, 1 << 20));
    if (bio == NULL)
        return NULL;
    X509 *first = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (rest != NULL) {
        *rest = sk_X509_new_null();
        X509 *x;
        while (*rest != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
            if (!sk_X509_push(*rest, x))
                X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    return first;
}

/* TLS: which pods have a certificate to check. Returns 0 when the checks can run, else
 * adds one skipped (or error) finding and returns 1. */
static int tls_missing(const struct doctor_facts *f, const char *id, struct doctor_report *r)
{
    int configs = 0, disabled = 0, certs = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_pod *p = &f->pods[i];
        if (p->config == NULL)
            continue;
        configs++;
        if (pod_file(p, "tls_cert_file") != NULL)
            certs++;
        else {
            char *v = doctor_config_value(p->config, "tls_disable");
            disabled += doctor_truthy(v);
            free(v);
        }
    }
    if (certs > 0)
        return 0;
    if (configs == 0)
        doctor_add(r, id, DOCTOR_SKIPPED,
                   "no pod's server config could be read (no shell in the image, or the pods are "
                   "down)",
                   NULL);
    else if (disabled > 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "the listener has TLS disabled (tls_disable = 1)", NULL);
    else
        doctor_add(r, id, DOCTOR_SKIPPED, "the listener config names no tls_cert_file", NULL);
    return 1;
}

/* "<pod>: cannot read its certificate PATH: <what cat said>" */
static char *cert_file_problem(const char *pod, const struct doctor_file *cf)
{
    char *l = doctor_first_line(cf->text);
    char *m =
        xfmt("%s: cannot read its certificate %s%s%s", pod, cf->path, l ? ": " : "", l ? l : "");
    free(l);
    return m;
}

/* The names a certificate covers, for messages. */
static char *cert_names(X509 *cert)
{
    struct dynbuf b = {0};
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names) && i < 16; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS) {
            const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
            int l = ASN1_STRING_length(g->d.dNSName);
            /* A certificate's bytes are hostile: the one sanitizer (lib/text). */
            char name[1024];
            text_sanitize(name, sizeof name, (const char *)d, l > 0 && l < 256 ? (size_t)l : 0);
            list_item(&b, name[0] ? name : "?");
        } else if (g->type == GEN_IPADD) {
            char ip[64] = "?";
            int l = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);
            if (l == 4)
                inet_ntop(AF_INET, d, ip, sizeof ip);
            else if (l == 16)
                inet_ntop(AF_INET6, d, ip, sizeof ip);
            list_item(&b, ip);
        }
    }
    GENERAL_NAMES_free(names);
    return b.data ? b.data : strdup("no subject alternative names");
}

/* Go's crypto/x509 matchHostnames, which Vault's TLS uses: same number of labels, a "*"
 * only as the whole first label, case-insensitive. (OpenSSL's X509_check_host refuses
 * "*.vault-internal", a wildcard over a single label, which Go accepts.) */
static int go_match_hostname(const char *pattern, size_t pl, const char *host)
{
    size_t hl = strlen(host);
    if (pl > 0 && pattern[pl - 1] == '.')
        pl--;
    if (hl > 0 && host[hl - 1] == '.')
        hl--;
    if (pl == 0 || hl == 0)
        return 0;
    const char *p = pattern, *pe = pattern + pl, *h = host, *he = host + hl;
    for (int first = 1;; first = 0) {
        const char *pd = memchr(p, '.', (size_t)(pe - p));
        const char *hd = memchr(h, '.', (size_t)(he - h));
        size_t a = (size_t)((pd ? pd : pe) - p), b = (size_t)((hd ? hd : he) - h);
        if (!(first && a == 1 && *p == '*') && (a != b || strncasecmp(p, h, a) != 0))
            return 0;
        if (b == 0)
            return 0;
        if ((pd == NULL) != (hd == NULL))
            return 0;
        if (pd == NULL)
            return 1;
        p = pd + 1;
        h = hd + 1;
    }
}

static int cert_covers_host(X509 *cert, const char *host)
{
    int ok = 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names != NULL && !ok && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_DNS)
            continue;
        int l = ASN1_STRING_length(g->d.dNSName);
        if (l > 0 && l < 256)
            ok = go_match_hostname((const char *)ASN1_STRING_get0_data(g->d.dNSName), (size_t)l,
                                   host);
    }
    GENERAL_NAMES_free(names);
    return ok;
}

void doctor_check_tls_names(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-TLS-001";
    if (tls_missing(f, id, r))
        return;
    char buf[300];
    const char *svc = doctor_internal_name(f, buf, sizeof buf);
    int checked = 0, problems = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_file *cf = pod_file(&f->pods[i], "tls_cert_file");
        if (cf == NULL)
            continue;
        const char *pod = f->vc->pods[i].name;
        X509 *cert = load_pem(cf->text, NULL);
        if (cert == NULL) {
            problems++;
            doctor_add_owned(r, id, DOCTOR_ERROR, cert_file_problem(pod, cf),
                             xfmt("mount the TLS secret at the path the listener names"));
            continue;
        }
        checked++;
        char host[400];
        snprintf(host, sizeof host, "%s.%s", pod, svc);
        int host_ok = cert_covers_host(cert, host);
        int ip_ok = X509_check_ip_asc(cert, "127.0.0.1", 0) == 1;
        if (!host_ok || !ip_ok) {
            problems++;
            char *names = cert_names(cert);
            struct dynbuf lack = {0};
            if (!host_ok)
                list_item(&lack, host);
            if (!ip_ok)
                list_item(&lack, "127.0.0.1");
            doctor_add_owned(
                r, id, DOCTOR_ERROR,
                xfmt("%s's certificate (%s) does not cover %s, only %s: %s", pod, cf->path,
                     dynbuf_str(&lack), names,
                     !host_ok ? "raft joins to it fail with x509: certificate is valid for "
                                "..., not ... (hashicorp/vault-helm#645)"
                              : "the CLI in the pod (VAULT_ADDR https://127.0.0.1:8200) "
                                "cannot verify it"),
                xfmt("reissue it with the names *.%s, *.%s.%s.svc.cluster.local and the IP "
                     "127.0.0.1, update the TLS secret, then restart the pods one at a "
                     "time",
                     svc, svc, doctor_ns_of(f)));
            free(names);
            dynbuf_free(&lack);
        }
        X509_free(cert);
    }
    if (problems == 0 && checked > 0)
        doctor_add_owned(
            r, id, DOCTOR_OK,
            xfmt("the certificates of %d pods cover <pod>.%s and 127.0.0.1", checked, svc), NULL);
}

static time_t asn1_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

static void day_text(char *buf, size_t cap, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%d", &tm);
}

void doctor_check_tls_expiry(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-TLS-002";
    if (tls_missing(f, id, r))
        return;
    int checked = 0, problems = 0;
    time_t earliest = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_file *cf = pod_file(&f->pods[i], "tls_cert_file");
        if (cf == NULL)
            continue;
        const char *pod = f->vc->pods[i].name;
        X509 *cert = load_pem(cf->text, NULL);
        if (cert == NULL) {
            problems++;
            doctor_add_owned(r, id, DOCTOR_ERROR, cert_file_problem(pod, cf), NULL);
            continue;
        }
        checked++;
        time_t nb = asn1_time(X509_get0_notBefore(cert)), na = asn1_time(X509_get0_notAfter(cert));
        char day[32];
        day_text(day, sizeof day, na);
        char *fix = xfmt("renew the certificate in the TLS secret, then restart the pods one at a "
                         "time (kubectl -n %s delete pod %s, then %s unseal %s)",
                         doctor_ns_of(f), pod, f->prog, pod);
        if (na <= f->now) {
            problems++;
            doctor_add_owned(r, id, DOCTOR_ERROR,
                             xfmt("%s's certificate (%s) expired on %s: clients and joins fail",
                                  pod, cf->path, day),
                             fix);
        } else if (nb > f->now) {
            char from[32];
            day_text(from, sizeof from, nb);
            problems++;
            doctor_add_owned(
                r, id, DOCTOR_ERROR,
                xfmt("%s's certificate (%s) is not valid before %s", pod, cf->path, from), fix);
        } else if (na - f->now < 30 * 86400) {
            problems++;
            doctor_add_owned(r, id, DOCTOR_WARN,
                             xfmt("%s's certificate (%s) expires in %ld days, on %s", pod, cf->path,
                                  (long)((na - f->now) / 86400), day),
                             fix);
        } else {
            free(fix);
            if (earliest == 0 || na < earliest)
                earliest = na;
        }
        X509_free(cert);
    }
    if (problems == 0 && checked > 0) {
        char day[32];
        day_text(day, sizeof day, earliest);
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("certificates valid for %ld more days at least (until %s)",
                              (long)((earliest - f->now) / 86400), day),
                         NULL);
    }
}

/* The CA joins use: the retry_join leader_ca_cert_file, an inline leader_ca_cert, or the
 * pod's VAULT_CACERT. text and where are set; returns 0 when none. */
static int join_ca(const struct doctor_pod *p, const char **text, char **where)
{
    const struct doctor_file *cf = pod_file(p, "leader_ca_cert_file");
    if (cf != NULL) {
        *text = cf->text;
        *where = xfmt("%s (retry_join leader_ca_cert_file)", cf->path);
        return 1;
    }
    if (doctor_config_has(p->config, "leader_ca_cert")) {
        *text = NULL; /* the caller takes it from the config */
        *where = strdup("retry_join leader_ca_cert");
        return 2;
    }
    cf = pod_file(p, "cacert_env");
    if (cf != NULL) {
        *text = cf->text;
        *where = xfmt("%s (VAULT_CACERT)", cf->path);
        return 1;
    }
    return 0;
}

void doctor_check_tls_ca(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-TLS-003";
    if (tls_missing(f, id, r))
        return;
    int checked = 0, problems = 0, none = 0;
    char *where_ok = NULL;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_pod *p = &f->pods[i];
        const struct doctor_file *cf = pod_file(p, "tls_cert_file");
        if (cf == NULL)
            continue;
        const char *pod = f->vc->pods[i].name;
        const char *ca_text = NULL;
        char *where = NULL;
        int how = join_ca(p, &ca_text, &where);
        if (how == 0) {
            none++;
            continue;
        }
        char *inline_ca = how == 2 ? doctor_config_value(p->config, "leader_ca_cert") : NULL;
        if (how == 2)
            ca_text = inline_ca;
        STACK_OF(X509) *chain = NULL, *cas = NULL;
        X509 *cert = load_pem(cf->text, &chain);
        X509 *ca = load_pem(ca_text, &cas);
        if (cert == NULL || ca == NULL) {
            problems++;
            doctor_add_owned(r, id, DOCTOR_ERROR,
                             cert == NULL
                                 ? cert_file_problem(pod, cf)
                                 : xfmt("%s: the CA %s holds no PEM certificate", pod, where),
                             xfmt("put the CA that issued the server certificates there (the TLS "
                                  "secret's ca.crt)"));
        } else {
            X509_STORE *store = X509_STORE_new();
            X509_STORE_CTX *ctx = X509_STORE_CTX_new();
            X509_STORE_add_cert(store, ca);
            for (int k = 0; cas != NULL && k < sk_X509_num(cas); k++)
                X509_STORE_add_cert(store, sk_X509_value(cas, k));
            int ok = 0;
            const char *why = "out of memory";
            if (store != NULL && ctx != NULL && X509_STORE_CTX_init(ctx, store, cert, chain) == 1) {
                /* Expiry is VHA-TLS-002's business: only the signature chain here. */
                X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
                                            X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN);
                ok = X509_verify_cert(ctx) == 1;
                why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
            }
            if (ok) {
                checked++;
                if (where_ok == NULL)
                    where_ok = strdup(where);
            } else {
                problems++;
                doctor_add_owned(
                    r, id, DOCTOR_ERROR,
                    xfmt("%s's certificate (%s) is not signed by the CA joins use, %s: %s "
                         "(joins fail with x509: certificate signed by unknown authority)",
                         pod, cf->path, where, why),
                    xfmt("put the CA that issued the certificate in %s (the TLS secret's "
                         "ca.crt), or reissue the certificate from that CA",
                         where));
            }
            X509_STORE_CTX_free(ctx);
            X509_STORE_free(store);
            ERR_clear_error();
        }
        X509_free(cert);
        X509_free(ca);
        sk_X509_pop_free(chain, X509_free);
        sk_X509_pop_free(cas, X509_free);
        free(inline_ca);
        free(where);
    }
    if (none > 0 && checked == 0 && problems == 0)
        doctor_add_owned(r, id, DOCTOR_SKIPPED,
                         xfmt("no CA configured for joins (retry_join leader_ca_cert_file) and no "
                              "VAULT_CACERT in the pods: joins need it"),
                         xfmt("%s join --leader-ca-cert FILE", f->prog));
    else if (problems == 0 && checked > 0)
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("the certificates of %d pods are signed by the CA joins use, %s",
                              checked, where_ok),
                         NULL);
    free(where_ok);
}
