/* lib/doctor: each check fed canned facts (a healthy cluster, then one thing
 * broken at a time), the exact findings; and the parsers of what pods print. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "doctor.h"
#include "text.h"

/* --- certificates made here ------------------------------------------------------------------ */

struct ca {
    EVP_PKEY *key;
    X509 *cert;
};

static EVP_PKEY *new_key(void)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    assert_non_null(c);
    assert_int_equal(EVP_PKEY_keygen_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_ec_paramgen_curve_nid(c, NID_X9_62_prime256v1), 1);
    assert_int_equal(EVP_PKEY_keygen(c, &k), 1);
    EVP_PKEY_CTX_free(c);
    return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

/* A certificate valid from `from` to `to` days from now, signed by ca (self-signed when NULL). */
static X509 *make_cert(const char *cn, const char *sans, long from, long to, const struct ca *ca,
                       EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), rand() + 1);
    X509_gmtime_adj(X509_getm_notBefore(x), from * 86400);
    X509_gmtime_adj(X509_getm_notAfter(x), to * 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, ca ? X509_get_subject_name(ca->cert) : name);
    if (ca == NULL)
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
    if (sans != NULL)
        add_ext(x, ca ? ca->cert : x, NID_subject_alt_name, sans);
    assert_true(X509_sign(x, ca ? ca->key : key, EVP_sha256()) > 0);
    return x;
}

static char *pem_of(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

static struct ca make_ca(const char *cn)
{
    struct ca ca = {.key = new_key()};
    ca.cert = make_cert(cn, NULL, -1, 3650, NULL, ca.key);
    return ca;
}

static void ca_free(struct ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
}

/* A leaf for a pod: SANs, validity in days, issuer. */
static char *leaf_pem(const char *sans, long from, long to, const struct ca *ca)
{
    EVP_PKEY *k = new_key();
    X509 *x = make_cert("vault", sans, from, to, ca, k);
    char *pem = pem_of(x);
    X509_free(x);
    EVP_PKEY_free(k);
    return pem;
}

/* --- a scene: the facts of a healthy 3-pod cluster -----------------------------------------------
 */

#define NOW 1800000000 /* 2027-01-15 */

static const char *const STS_JSON =
    "{\"metadata\":{\"name\":\"vault\",\"namespace\":\"vault\",\"labels\":{"
    "\"app.kubernetes.io/name\":\"vault\",\"app.kubernetes.io/instance\":\"vault\"}},"
    "\"spec\":{\"replicas\":3,\"serviceName\":\"vault-internal\",\"podManagementPolicy\":"
    "\"Parallel\",\"updateStrategy\":{\"type\":\"OnDelete\"},\"selector\":{\"matchLabels\":{"
    "\"app.kubernetes.io/name\":\"vault\",\"app.kubernetes.io/instance\":\"vault\","
    "\"component\":\"server\"}},\"template\":{\"spec\":{\"containers\":[{\"name\":\"vault\","
    "\"image\":\"hashicorp/vault:1.21.2\"}]}},\"volumeClaimTemplates\":[{\"metadata\":{"
    "\"name\":\"data\"}}]},\"status\":{\"replicas\":3,\"readyReplicas\":3,"
    "\"updateRevision\":\"vault-abc\"}}";

static json_t *pod_object(int i, const char *active)
{
    char name[32], ip[32], node[32];
    snprintf(name, sizeof name, "vault-%d", i);
    snprintf(ip, sizeof ip, "10.0.0.%d", i + 1);
    snprintf(node, sizeof node, "node-%d", i);
    return json_pack(
        "{s:{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}, s:{s:s, s:[{s:s, s:s}]}, "
        "s:{s:s, s:s, s:[{s:s, s:s}], s:[{s:s, s:i, s:{s:{}}}]}}",
        "metadata", "name", name, "creationTimestamp", "2026-11-25T01:00:00Z", "labels",
        "app.kubernetes.io/name", "vault", "app.kubernetes.io/instance", "vault", "component",
        "server", "controller-revision-hash", "vault-abc", "vault-sealed", "false", "vault-active",
        active, "vault-initialized", "true", "vault-version", "1.21.2", "spec", "nodeName", node,
        "containers", "name", "vault", "image", "hashicorp/vault:1.21.2", "status", "phase",
        "Running", "podIP", ip, "conditions", "type", "Ready", "status", "True",
        "containerStatuses", "name", "vault", "restartCount", 0, "state", "running");
}

static json_t *service(const char *name, const char *active, int headless, int publish)
{
    json_t *sel = json_pack("{s:s, s:s, s:s}", "app.kubernetes.io/name", "vault",
                            "app.kubernetes.io/instance", "vault", "component", "server");
    if (active)
        json_object_set_new(sel, "vault-active", json_string(active));
    json_t *spec =
        json_pack("{s:o, s:s}", "selector", sel, "clusterIP", headless ? "None" : "10.96.0.20");
    if (publish)
        json_object_set_new(spec, "publishNotReadyAddresses", json_true());
    return json_pack("{s:{s:s}, s:o}", "metadata", "name", name, "spec", spec);
}

/* An EndpointSlice of svc listing the pods given ("0r1r2n": pod 0 ready, ... pod 2 not). */
static json_t *slice(const char *svc, const char *pods)
{
    json_t *eps = json_array();
    for (const char *p = pods; p[0] && p[1]; p += 2) {
        char name[16], ip[16];
        snprintf(name, sizeof name, "vault-%c", p[0]);
        snprintf(ip, sizeof ip, "10.0.0.%d", p[0] - '0' + 1);
        json_array_append_new(eps,
                              json_pack("{s:[s], s:{s:b}, s:{s:s}}", "addresses", ip, "conditions",
                                        "ready", p[1] == 'r', "targetRef", "name", name));
    }
    return json_pack("{s:{s:s, s:{s:s}}, s:o}", "metadata", "name", svc, "labels",
                     "kubernetes.io/service-name", svc, "endpoints", eps);
}

static json_t *pvc(const char *name, const char *phase)
{
    return json_pack("{s:{s:s}, s:{s:s, s:{s:s}}}", "metadata", "name", name, "status", "phase",
                     phase, "capacity", "storage", "10Gi");
}

static json_t *node(const char *name, const char *zone)
{
    json_t *labels = json_pack("{s:s}", "kubernetes.io/hostname", name);
    if (zone)
        json_object_set_new(labels, "topology.kubernetes.io/zone", json_string(zone));
    return json_pack("{s:{s:s, s:o}}", "metadata", "name", name, "labels", labels);
}

static json_t *pdb(json_t *max_unavailable, json_t *min_available)
{
    json_t *spec =
        json_pack("{s:{s:{s:s, s:s, s:s}}}", "selector", "matchLabels", "app.kubernetes.io/name",
                  "vault", "app.kubernetes.io/instance", "vault", "component", "server");
    if (max_unavailable)
        json_object_set_new(spec, "maxUnavailable", max_unavailable);
    if (min_available)
        json_object_set_new(spec, "minAvailable", min_available);
    return json_pack("{s:{s:s}, s:o}", "metadata", "name", "vault", "spec", spec);
}

static const char *const TLS_CONFIG =
    "ui = true\n# listener \"tcp\" { tls_disable = 1 }\nlistener \"tcp\" {\n  tls_disable = 0\n"
    "  address = \"[::]:8200\"\n  tls_cert_file = \"/vault/userconfig/tls/vault.crt\"\n}\n"
    "storage \"raft\" {\n  path = \"/vault/data\"\n}\nservice_registration \"kubernetes\" {}\n";

struct scene {
    struct doctor_facts f;
    struct doctor_report r;
    struct ca ca;
};

static void add_dns(struct doctor_pod *p, const char *name, const char *tool, const char *ip,
                    int exit_code, const char *detail)
{
    p->dns = realloc(p->dns, (p->ndns + 1) * sizeof *p->dns);
    struct doctor_dns *d = &p->dns[p->ndns++];
    d->name = strdup(name);
    d->tool = tool ? strdup(tool) : NULL;
    d->ip = ip ? strdup(ip) : NULL;
    d->exit_code = exit_code;
    d->detail = detail ? strdup(detail) : NULL;
}

static void add_file(struct doctor_pod *p, const char *key, const char *path, const char *text)
{
    p->files = realloc(p->files, (p->nfiles + 1) * sizeof *p->files);
    struct doctor_file *x = &p->files[p->nfiles++];
    x->key = strdup(key);
    x->path = strdup(path);
    x->text = strdup(text);
    x->exit_code = 0;
}

static void clear_files(struct doctor_pod *p)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        free(p->files[i].key);
        free(p->files[i].path);
        free(p->files[i].text);
    }
    free(p->files);
    p->files = NULL;
    p->nfiles = 0;
}

static struct doctor_file *file_of(struct doctor_pod *p, const char *key)
{
    for (size_t i = 0; i < p->nfiles; i++)
        if (strcmp(p->files[i].key, key) == 0)
            return &p->files[i];
    return NULL;
}

static void set_status(struct doctor_pod *p, int active, int sealed, const char *type)
{
    vault_status_clear(&p->st);
    p->have_status = 1;
    p->st.type = strdup(type);
    p->st.initialized = 1;
    p->st.sealed = sealed;
    p->st.is_self = active;
    p->st.t = 3;
    p->st.n = 5;
    p->st.version = strdup("1.21.2");
    p->st.raft_applied_index = sealed ? 0 : 412;
}

static void set_peers(struct scene *s, int n, const char *dead_id)
{
    struct doctor_facts *f = &s->f;
    if (f->have_peers)
        vault_peers_clear(&f->peers);
    if (f->have_autopilot)
        vault_autopilot_clear(&f->autopilot);
    f->have_peers = f->have_autopilot = 1;
    f->peers.items = calloc((size_t)n + 1, sizeof *f->peers.items);
    f->autopilot.servers = calloc((size_t)n + 1, sizeof *f->autopilot.servers);
    f->autopilot.healthy = 1;
    f->autopilot.failure_tolerance = 1;
    f->autopilot.leader = strdup("vault-0");
    for (int i = 0; i < n; i++) {
        char id[32], addr[64];
        if (i == 3 && dead_id)
            snprintf(id, sizeof id, "%s", dead_id);
        else
            snprintf(id, sizeof id, "vault-%d", i);
        snprintf(addr, sizeof addr, "vault-%d.vault-internal:8201", i);
        struct vault_peer *p = &f->peers.items[f->peers.n++];
        p->node_id = strdup(id);
        p->address = strdup(addr);
        p->leader = i == 0;
        p->voter = 1;
        struct vault_autopilot_server *a = &f->autopilot.servers[f->autopilot.n++];
        a->id = strdup(id);
        a->name = strdup(id);
        a->address = strdup(addr);
        a->node_status = strdup(i < 3 ? "alive" : "failed");
        a->status = strdup(i == 0 ? "leader" : "voter");
        a->healthy = i < 3;
        a->last_index = 412;
        a->stable_since = strdup("2027-01-15T07:00:00.123456789Z");
    }
}

/* The healthy cluster: TLS, auto-unseal, a token; every check says ok. */
static void scene_healthy(struct scene *s)
{
    memset(s, 0, sizeof *s);
    struct doctor_facts *f = &s->f;
    f->now = NOW;
    f->prog = "kubectl vault-ha";
    f->sts = json_loads(STS_JSON, 0, NULL);
    assert_non_null(f->sts);
    struct cluster_query q = {.namespace = "vault"};
    struct error err = {0};
    assert_int_equal(cluster_from_statefulset(f->sts, &q, &f->vc, &err), 0);
    f->pod_list = json_pack("{s:[o, o, o]}", "items", pod_object(0, "true"), pod_object(1, "false"),
                            pod_object(2, "false"));
    assert_int_equal(cluster_set_pods(f->vc, f->pod_list, &err), 0);
    f->lists[DOCTOR_SERVICES].items = json_pack(
        "[o, o, o, o]", service("vault", NULL, 0, 0), service("vault-internal", NULL, 1, 1),
        service("vault-active", "true", 0, 0), service("vault-standby", "false", 0, 0));
    f->lists[DOCTOR_ENDPOINTSLICES].items =
        json_pack("[o, o]", slice("vault-internal", "0r1r2r"), slice("vault-active", "0r1n2n"));
    f->lists[DOCTOR_ENDPOINTS].items = json_array();
    f->lists[DOCTOR_PVCS].items =
        json_pack("[o, o, o]", pvc("data-vault-0", "Bound"), pvc("data-vault-1", "Bound"),
                  pvc("data-vault-2", "Bound"));
    f->lists[DOCTOR_NODES].items = json_pack("[o, o, o]", node("node-0", "zone-a"),
                                             node("node-1", "zone-b"), node("node-2", "zone-c"));
    f->lists[DOCTOR_PDBS].items = json_pack("[o]", pdb(json_integer(1), NULL));
    s->ca = make_ca("test-ca");
    char *ca_pem = pem_of(s->ca.cert);
    f->pods = calloc(3, sizeof *f->pods);
    for (int i = 0; i < 3; i++) {
        struct doctor_pod *p = &f->pods[i];
        p->asked = 1;
        set_status(p, i == 0, 0, "transit");
        p->have_df = 1;
        p->df_kib = 10485760;
        p->df_used_kib = 314572;
        p->df_percent = 3;
        p->config = strdup(TLS_CONFIG);
        for (int k = 0; k < 3; k++) {
            if (k == i)
                continue;
            char name[64], ip[32];
            snprintf(name, sizeof name, "vault-%d.vault-internal", k);
            snprintf(ip, sizeof ip, "10.0.0.%d", k + 1);
            add_dns(p, name, "nslookup", ip, 0, NULL);
        }
        char *leaf = leaf_pem("DNS:*.vault-internal,IP:127.0.0.1", -1, 365, &s->ca);
        add_file(p, "tls_cert_file", "/vault/userconfig/tls/vault.crt", leaf);
        add_file(p, "cacert_env", "/vault/userconfig/tls/ca.crt", ca_pem);
        free(leaf);
    }
    free(ca_pem);
    set_peers(s, 3, NULL);
    f->have_autopilot_config = 1;
    f->autopilot_config.server_stabilization_s = 10;
    f->autopilot_config.max_trailing_logs = 1000;
}

static void scene_free(struct scene *s)
{
    doctor_report_clear(&s->r);
    doctor_facts_clear(&s->f);
    ca_free(&s->ca);
}

static void judge(struct scene *s)
{
    doctor_report_clear(&s->r);
    doctor_judge(&s->f, NULL, &s->r);
}

/* The only finding of check id (fails when there are several or none). */
static const struct doctor_finding *only(struct scene *s, const char *id)
{
    judge(s);
    const struct doctor_finding *hit = NULL;
    int n = 0;
    for (size_t i = 0; i < s->r.n; i++)
        if (strcmp(s->r.items[i].id, id) == 0) {
            hit = &s->r.items[i];
            n++;
        }
    if (n != 1)
        fail_msg("%s: %d findings", id, n);
    return hit;
}

static const struct doctor_finding *nth(struct scene *s, const char *id, int k)
{
    for (size_t i = 0; i < s->r.n; i++)
        if (strcmp(s->r.items[i].id, id) == 0 && k-- == 0)
            return &s->r.items[i];
    fail_msg("%s: no finding %d", id, k);
    return NULL;
}

#define assert_finding(x, lvl, msg)                                                                \
    do {                                                                                           \
        assert_int_equal((x)->level, lvl);                                                         \
        assert_string_equal((x)->message, msg);                                                    \
    } while (0)

static void set_json(json_t *obj, const char *path_a, const char *key, json_t *value)
{
    json_t *o = path_a ? json_object_get(obj, path_a) : obj;
    json_object_set_new(o, key, value);
}

/* --- the healthy cluster ------------------------------------------------------------------------
 */

static void test_healthy_every_check_ok(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    judge(&s);
    size_t n = 0;
    for (; doctor_checks[n].id != NULL; n++)
        ;
    assert_int_equal(s.r.n, n);
    for (size_t i = 0; i < s.r.n; i++) {
        if (s.r.items[i].level != DOCTOR_OK)
            fail_msg("%s %s: %s", s.r.items[i].id, doctor_level_name(s.r.items[i].level),
                     s.r.items[i].message);
        assert_string_equal(s.r.items[i].id, doctor_checks[i].id);
        assert_null(s.r.items[i].fix);
    }
    assert_int_equal(doctor_exit_code(&s.r, 0), 0);
    assert_finding(only(&s, "VHA-DNS-001"), DOCTOR_OK,
                   "every pod's <pod>.vault-internal name resolves to its IP from the other pods "
                   "(6 lookups, nslookup)");
    assert_finding(only(&s, "VHA-TLS-003"), DOCTOR_OK,
                   "the certificates of 3 pods are signed by the CA joins use, "
                   "/vault/userconfig/tls/ca.crt (VAULT_CACERT)");
    /* the certificates are made for the real clock: 365 days from the run */
    s.f.now = time(NULL);
    const struct doctor_finding *x = only(&s, "VHA-TLS-002");
    assert_int_equal(x->level, DOCTOR_OK);
    assert_non_null(strstr(x->message, "certificates valid for 36")); /* 364 or 365 */
    scene_free(&s);
}

static void test_selection_and_exit_codes(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    int selected[64] = {0};
    selected[0] = 1;
    doctor_judge(&s.f, selected, &s.r);
    assert_int_equal(s.r.n, 1);
    assert_string_equal(s.r.items[0].id, "VHA-STS-001");
    doctor_add(&s.r, "VHA-X", DOCTOR_SKIPPED, "x", NULL);
    assert_int_equal(doctor_exit_code(&s.r, 0), 0);
    /* advice leaves the exit code at 0; --strict makes it a warning */
    doctor_add(&s.r, "VHA-X", DOCTOR_ADVICE, "x", "y");
    assert_int_equal(doctor_exit_code(&s.r, 0), 0);
    assert_int_equal(doctor_exit_code(&s.r, 1), 2);
    assert_string_equal(doctor_level_name(DOCTOR_ADVICE), "advice");
    doctor_add(&s.r, "VHA-X", DOCTOR_WARN, "x", NULL);
    assert_int_equal(doctor_exit_code(&s.r, 0), 2);
    doctor_add(&s.r, "VHA-X", DOCTOR_ERROR, "x", "fix");
    assert_int_equal(doctor_exit_code(&s.r, 0), 3);
    assert_non_null(doctor_find_check("vha-dns-001"));
    assert_null(doctor_find_check("VHA-DNS"));
    scene_free(&s);
}

/* --- VHA-STS --------------------------------------------------------------------------------- */

static void set_pod_ready(struct scene *s, int i, int ready)
{
    json_t *pod = json_array_get(json_object_get(s->f.pod_list, "items"), (size_t)i);
    json_t *cond = json_array_get(json_object_get(json_object_get(pod, "status"), "conditions"), 0);
    json_object_set_new(cond, "status", json_string(ready ? "True" : "False"));
}

static void test_sts_replicas(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    s.f.vc->replicas = 1;
    const struct doctor_finding *x = only(&s, "VHA-STS-001");
    assert_finding(x, DOCTOR_ERROR,
                   "StatefulSet vault has 1 replica: raft needs 3 voters to survive the loss of "
                   "one");
    assert_string_equal(x->fix,
                        "kubectl -n vault scale statefulset vault --replicas=3 && kubectl vault-ha "
                        "join");
    s.f.vc->replicas = 4;
    assert_finding(only(&s, "VHA-STS-001"), DOCTOR_WARN,
                   "4 replicas: an even count tolerates no more failures than 3 (quorum 3, "
                   "failure tolerance 1)");
    scene_free(&s);
}

static void test_sts_pod_management(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    free(s.f.vc->pod_management_policy);
    s.f.vc->pod_management_policy = strdup("OrderedReady");
    const struct doctor_finding *x = only(&s, "VHA-STS-002");
    assert_finding(x, DOCTOR_ADVICE,
                   "podManagementPolicy OrderedReady and no retry_join in the config: pod N+1 is "
                   "only created once pod N is unsealed, so every restart waits for someone to "
                   "unseal and join each pod in turn");
    free(s.f.pods[1].config);
    s.f.pods[1].config = strdup("storage \"raft\" {\n retry_join {\n  leader_api_addr = \"x\"\n "
                                "}\n}\n");
    assert_int_equal(only(&s, "VHA-STS-002")->level, DOCTOR_OK);
    /* vault-2 never created: vault-1 is not Ready */
    json_array_remove(json_object_get(s.f.pod_list, "items"), 2);
    set_pod_ready(&s, 1, 0);
    struct error err = {0};
    assert_int_equal(cluster_set_pods(s.f.vc, s.f.pod_list, &err), 0);
    x = only(&s, "VHA-STS-002");
    assert_finding(x, DOCTOR_ERROR,
                   "vault-2 was never created: podManagementPolicy OrderedReady waits for vault-1 "
                   "to be Ready, and a pod is Ready only once unsealed");
    assert_string_equal(x->fix, "kubectl vault-ha unseal vault-1");
    scene_free(&s);
}

static void test_sts_update_strategy_and_revisions(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    set_json(json_object_get(s.f.sts, "spec"), "updateStrategy", "type",
             json_string("RollingUpdate"));
    assert_int_equal(only(&s, "VHA-STS-003")->level, DOCTOR_OK); /* auto-unseal */
    for (int i = 0; i < 3; i++)
        set_status(&s.f.pods[i], i == 0, 0, "shamir");
    const struct doctor_finding *x = only(&s, "VHA-STS-003");
    assert_finding(x, DOCTOR_WARN,
                   "updateStrategy RollingUpdate restarts the pods on every template change; each "
                   "comes back sealed and the rollout stops until someone unseals it");
    set_json(json_object_get(s.f.sts, "status"), NULL, "updateRevision", json_string("vault-new"));
    json_t *items = json_object_get(s.f.pod_list, "items");
    set_json(json_object_get(json_array_get(items, 1), "metadata"), "labels",
             "controller-revision-hash", json_string("vault-new"));
    x = only(&s, "VHA-STS-004");
    assert_finding(x, DOCTOR_WARN,
                   "an update is half done: vault-2, vault-0 still run revision vault-abc, the "
                   "StatefulSet wants vault-new");
    assert_string_equal(x->fix,
                        "kubectl vault-ha upgrade; by hand, one pod at a time, standbys first, "
                        "the active pod last: kubectl -n vault "
                        "delete pod vault-2 && kubectl vault-ha unseal vault-2; kubectl vault-ha "
                        "step-down && kubectl -n vault delete pod vault-0 && kubectl vault-ha "
                        "unseal vault-0");
    scene_free(&s);
}

/* --- VHA-SVC ---------------------------------------------------------------------------------- */

static json_t *svc_named(struct scene *s, const char *name)
{
    size_t i;
    json_t *it;
    json_array_foreach(s->f.lists[DOCTOR_SERVICES].items, i, it)
    {
        if (strcmp(json_string_value(json_object_get(json_object_get(it, "metadata"), "name")),
                   name) == 0)
            return it;
    }
    return NULL;
}

static void remove_svc(struct scene *s, const char *name)
{
    json_t *items = s->f.lists[DOCTOR_SERVICES].items;
    for (size_t i = 0; i < json_array_size(items); i++)
        if (json_array_get(items, i) == svc_named(s, name)) {
            json_array_remove(items, i);
            return;
        }
}

static void test_svc_internal(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    json_t *spec = json_object_get(svc_named(&s, "vault-internal"), "spec");
    json_object_set_new(spec, "clusterIP", json_string("10.96.0.30"));
    assert_finding(only(&s, "VHA-SVC-001"), DOCTOR_ERROR,
                   "service vault-internal has clusterIP 10.96.0.30: it is not headless, so pods "
                   "get no <pod>.vault-internal names");
    json_object_set_new(spec, "clusterIP", json_string("None"));
    json_object_del(json_object_get(spec, "selector"), "component");
    const struct doctor_finding *x = only(&s, "VHA-SVC-001");
    assert_finding(x, DOCTOR_WARN,
                   "service vault-internal selects app.kubernetes.io/name=vault,"
                   "app.kubernetes.io/instance=vault, wider than the StatefulSet (it lacks "
                   "component=server): it may also select pods that are not Vault servers");
    json_object_set_new(json_object_get(spec, "selector"), "component", json_string("agent"));
    assert_finding(only(&s, "VHA-SVC-001"), DOCTOR_ERROR,
                   "service vault-internal selects app.kubernetes.io/name=vault,"
                   "app.kubernetes.io/instance=vault,component=agent, which does not select "
                   "vault-0, vault-1, vault-2");
    remove_svc(&s, "vault-internal");
    assert_finding(only(&s, "VHA-SVC-001"), DOCTOR_ERROR,
                   "the headless service vault-internal (the StatefulSet's serviceName) does not "
                   "exist: pods have no DNS names, so they cannot join");
    assert_finding(only(&s, "VHA-SVC-002"), DOCTOR_SKIPPED,
                   "service vault-internal does not exist (VHA-SVC-001)");
    scene_free(&s);
}

static void test_svc_publish_and_active_standby(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    json_object_del(json_object_get(svc_named(&s, "vault-internal"), "spec"),
                    "publishNotReadyAddresses");
    const struct doctor_finding *x = only(&s, "VHA-SVC-002");
    assert_finding(x, DOCTOR_ERROR,
                   "vault-internal does not publish not-ready addresses: a sealed pod is not "
                   "Ready, so it has no DNS name and cannot join (hashicorp/vault-helm#817)");
    assert_string_equal(x->fix, "kubectl -n vault patch svc vault-internal -p "
                                "'{\"spec\":{\"publishNotReadyAddresses\":true}}'");
    json_object_set_new(json_object_get(svc_named(&s, "vault"), "spec"), "publishNotReadyAddresses",
                        json_true());
    json_object_set_new(json_object_get(svc_named(&s, "vault-standby"), "spec"),
                        "publishNotReadyAddresses", json_true());
    assert_finding(only(&s, "VHA-SVC-004"), DOCTOR_ADVICE,
                   "vault, vault-standby publish not-ready addresses (the chart's default, "
                   "hashicorp/vault-helm#902): client requests may reach a sealed pod and fail "
                   "(hashicorp/vault-helm#817)");
    json_object_set_new(
        json_object_get(json_object_get(svc_named(&s, "vault-active"), "spec"), "selector"),
        "vault-active", json_string("false"));
    remove_svc(&s, "vault-standby");
    judge(&s);
    assert_finding(nth(&s, "VHA-SVC-003", 0), DOCTOR_ERROR,
                   "service vault-active selects app.kubernetes.io/name=vault,"
                   "app.kubernetes.io/instance=vault,component=server,vault-active=false, not "
                   "vault-active=true: it sends clients to the wrong pods");
    assert_finding(nth(&s, "VHA-SVC-003", 1), DOCTOR_WARN,
                   "service vault-standby does not exist: clients that use it reach nothing");
    scene_free(&s);
}

static void test_svc_rbac_denied(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    json_decref(s.f.lists[DOCTOR_SERVICES].items);
    s.f.lists[DOCTOR_SERVICES].items = NULL;
    s.f.lists[DOCTOR_SERVICES].denied = strdup("\"list\" on \"services\" in namespace vault");
    for (int k = 1; k <= 4; k++) {
        char id[32];
        snprintf(id, sizeof id, "VHA-SVC-00%d", k);
        const struct doctor_finding *x = only(&s, id);
        assert_finding(x, DOCTOR_SKIPPED,
                       "RBAC denies \"list\" on \"services\" in namespace vault: cannot check");
        assert_string_equal(
            x->fix, "grant \"get\" and \"list\" on \"services\" to this user (README, RBAC)");
    }
    assert_int_equal(doctor_exit_code(&s.r, 0), 0);
    scene_free(&s);
}

/* --- VHA-EP ----------------------------------------------------------------------------------- */

static void set_slices(struct scene *s, const char *internal, const char *active)
{
    json_decref(s->f.lists[DOCTOR_ENDPOINTSLICES].items);
    s->f.lists[DOCTOR_ENDPOINTSLICES].items =
        json_pack("[o, o]", slice("vault-internal", internal), slice("vault-active", active));
}

static void test_ep_internal(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    set_slices(&s, "0r1r2n", "0r");
    assert_finding(only(&s, "VHA-EP-001"), DOCTOR_ERROR,
                   "vault-internal lists vault-2 as not ready: DNS leaves them out until they "
                   "are unsealed, so they cannot join");
    set_slices(&s, "0r1r", "0r");
    assert_finding(only(&s, "VHA-EP-001"), DOCTOR_ERROR,
                   "vault-internal does not list vault-2 (EndpointSlices): those pods have no DNS "
                   "name");
    /* EndpointSlices denied: the Endpoints answer. */
    json_decref(s.f.lists[DOCTOR_ENDPOINTSLICES].items);
    s.f.lists[DOCTOR_ENDPOINTSLICES].items = NULL;
    s.f.lists[DOCTOR_ENDPOINTSLICES].denied =
        strdup("\"list\" on \"endpointslices.discovery.k8s.io\" in namespace vault");
    json_decref(s.f.lists[DOCTOR_ENDPOINTS].items);
    s.f.lists[DOCTOR_ENDPOINTS].items =
        json_loads("[{\"metadata\":{\"name\":\"vault-internal\"},\"subsets\":[{\"addresses\":["
                   "{\"ip\":\"10.0.0.1\",\"targetRef\":{\"name\":\"vault-0\"}},"
                   "{\"ip\":\"10.0.0.2\",\"targetRef\":{\"name\":\"vault-1\"}},"
                   "{\"ip\":\"10.0.0.3\",\"targetRef\":{\"name\":\"vault-2\"}}]}]}]",
                   0, NULL);
    assert_finding(only(&s, "VHA-EP-001"), DOCTOR_OK,
                   "vault-internal lists all 3 pods, ready or not (Endpoints)");
    json_decref(s.f.lists[DOCTOR_ENDPOINTS].items);
    s.f.lists[DOCTOR_ENDPOINTS].items = NULL;
    s.f.lists[DOCTOR_ENDPOINTS].denied = strdup("\"list\" on \"endpoints\" in namespace vault");
    assert_finding(only(&s, "VHA-EP-001"), DOCTOR_SKIPPED,
                   "RBAC denies \"list\" on \"endpointslices.discovery.k8s.io\" in namespace "
                   "vault and \"list\" on \"endpoints\" in namespace vault: cannot check");
    scene_free(&s);
}

static void test_ep_active(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    set_slices(&s, "0r1r2r", "0r1r");
    const struct doctor_finding *x = only(&s, "VHA-EP-002");
    assert_finding(x, DOCTOR_ERROR,
                   "vault-active lists vault-0, vault-1, but only vault-0 is active: vault-1 "
                   "carries a stale vault-active=true label, so clients reach a standby "
                   "(hashicorp/vault#18117)");
    assert_string_equal(x->fix,
                        "kubectl -n vault label pod vault-1 vault-active=false --overwrite");
    set_slices(&s, "0r1r2r", "0n");
    assert_finding(only(&s, "VHA-EP-002"), DOCTOR_ERROR,
                   "vault-active lists no pod: its clients reach nothing, although vault-0 is "
                   "active (stale vault-active labels, hashicorp/vault#18117)");
    set_status(&s.f.pods[0], 0, 1, "transit");
    assert_int_equal(only(&s, "VHA-EP-002")->level, DOCTOR_SKIPPED);
    scene_free(&s);
}

/* --- VHA-DNS ---------------------------------------------------------------------------------- */

static struct doctor_dns *lookup(struct scene *s, int from, const char *name)
{
    for (size_t k = 0; k < s->f.pods[from].ndns; k++)
        if (strcmp(s->f.pods[from].dns[k].name, name) == 0)
            return &s->f.pods[from].dns[k];
    fail();
    return NULL;
}

static void test_dns(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    for (int from = 0; from < 2; from++) {
        struct doctor_dns *d = lookup(&s, from, "vault-2.vault-internal");
        free(d->ip);
        d->ip = NULL;
        d->detail = strdup("** server can't find vault-2.vault-internal: NXDOMAIN");
    }
    const struct doctor_finding *x = only(&s, "VHA-DNS-001");
    assert_finding(x, DOCTOR_ERROR,
                   "vault-2.vault-internal does not resolve from vault-0, vault-1 (** server "
                   "can't find vault-2.vault-internal: NXDOMAIN): vault-2 cannot be reached to "
                   "join or replicate");
    /* a pod that started 12 s ago: DNS lags */
    s.f.vc->pods[2].created = NOW - 12;
    assert_finding(only(&s, "VHA-DNS-001"), DOCTOR_WARN,
                   "vault-2.vault-internal does not resolve yet from vault-0, vault-1: vault-2 "
                   "started 12s ago and StatefulSet DNS can lag ~30 s "
                   "(kubernetes/kubernetes#92559)");
    struct doctor_dns *d = lookup(&s, 0, "vault-2.vault-internal");
    d->ip = strdup("10.0.0.99");
    struct doctor_dns *d1 = lookup(&s, 1, "vault-2.vault-internal");
    d1->ip = strdup("10.0.0.3");
    assert_finding(only(&s, "VHA-DNS-001"), DOCTOR_ERROR,
                   "vault-2.vault-internal resolves to 10.0.0.99 from vault-0, but vault-2's IP "
                   "is 10.0.0.3: stale DNS");
    /* vault-1 has no resolver at all; the others still look up */
    free(d->ip);
    d->ip = strdup("10.0.0.3");
    for (size_t k = 0; k < s.f.pods[1].ndns; k++) {
        free(s.f.pods[1].dns[k].tool);
        s.f.pods[1].dns[k].tool = NULL;
    }
    judge(&s);
    assert_finding(nth(&s, "VHA-DNS-001", 0), DOCTOR_SKIPPED,
                   "cannot look names up from vault-1 (neither nslookup nor getent in the image)");
    assert_finding(nth(&s, "VHA-DNS-001", 1), DOCTOR_OK,
                   "every pod's <pod>.vault-internal name resolves to its IP from the other pods "
                   "(4 lookups, nslookup)");
    assert_int_equal(doctor_exit_code(&s.r, 0), 0);
    scene_free(&s);
}

/* --- VHA-PVC ---------------------------------------------------------------------------------- */

static void test_pvc_and_disk(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    json_object_set_new(json_object_get(json_array_get(s.f.lists[DOCTOR_PVCS].items, 1), "status"),
                        "phase", json_string("Pending"));
    const struct doctor_finding *x = only(&s, "VHA-PVC-001");
    assert_finding(x, DOCTOR_ERROR, "PVC data-vault-1 is Pending, not Bound: vault-1 cannot start");
    assert_string_equal(
        x->fix, "kubectl -n vault describe pvc data-vault-1 (storage class, capacity, zone)");
    json_array_remove(s.f.lists[DOCTOR_PVCS].items, 1);
    assert_finding(only(&s, "VHA-PVC-001"), DOCTOR_ERROR,
                   "PVC data-vault-1 of vault-1 does not exist");
    s.f.pods[1].df_percent = 85;
    s.f.pods[1].df_used_kib = 8912896;
    x = only(&s, "VHA-PVC-002");
    assert_finding(x, DOCTOR_WARN,
                   "vault-1's raft data volume is 85% full (8704 of 10240 MiB used)");
    assert_string_equal(x->fix,
                        "kubectl vault-ha snapshot save backup.snap, then grow the claim: kubectl "
                        "-n vault patch pvc data-vault-1 -p "
                        "'{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"20Gi\"}}}}' (the "
                        "storage class must allow expansion)");
    s.f.pods[1].df_percent = 96;
    assert_int_equal(only(&s, "VHA-PVC-002")->level, DOCTOR_ERROR);
    s.f.pods[1].df_percent = 3;
    s.f.pods[2].have_df = 0;
    s.f.pods[2].no_shell = 1;
    judge(&s);
    assert_finding(nth(&s, "VHA-PVC-002", 0), DOCTOR_SKIPPED,
                   "no fill level from vault-2 (no shell in the image)");
    assert_finding(nth(&s, "VHA-PVC-002", 1), DOCTOR_OK, "raft data volumes are 3% full");
    scene_free(&s);
}

/* --- VHA-PLACE -------------------------------------------------------------------------------- */

static void test_placement(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    free(s.f.vc->pods[1].node);
    s.f.vc->pods[1].node = strdup("node-0");
    const struct doctor_finding *x = only(&s, "VHA-PLACE-001");
    assert_finding(x, DOCTOR_ERROR,
                   "voters vault-0, vault-1 run on the same node node-0: losing it "
                   "loses quorum");
    assert_finding(only(&s, "VHA-PLACE-002"), DOCTOR_WARN,
                   "losing zone zone-a loses quorum: voters per zone zone-a 2, zone-c 1 (quorum "
                   "2)");
    /* With two zones in the whole cluster no placement survives a zone's loss: advice. */
    json_decref(s.f.lists[DOCTOR_NODES].items);
    s.f.lists[DOCTOR_NODES].items = json_pack("[o, o, o]", node("node-0", "zone-a"),
                                              node("node-1", "zone-b"), node("node-2", "zone-b"));
    assert_finding(only(&s, "VHA-PLACE-002"), DOCTOR_ADVICE,
                   "losing zone zone-a loses quorum: voters per zone zone-a 2, zone-b 1 (quorum "
                   "2); the cluster has fewer than 3 zones");
    free(s.f.vc->pods[1].node);
    s.f.vc->pods[1].node = strdup("node-1");
    json_decref(s.f.lists[DOCTOR_NODES].items);
    s.f.lists[DOCTOR_NODES].items =
        json_pack("[o, o, o]", node("node-0", NULL), node("node-1", NULL), node("node-2", NULL));
    assert_finding(only(&s, "VHA-PLACE-002"), DOCTOR_SKIPPED,
                   "no node carries the topology.kubernetes.io/zone label: zones unknown");
    json_decref(s.f.lists[DOCTOR_NODES].items);
    s.f.lists[DOCTOR_NODES].items = NULL;
    s.f.lists[DOCTOR_NODES].denied = strdup("\"list\" on \"nodes\" at the cluster scope");
    assert_finding(only(&s, "VHA-PLACE-002"), DOCTOR_SKIPPED,
                   "RBAC denies \"list\" on \"nodes\" at the cluster scope: cannot check");
    scene_free(&s);
}

static void test_pdb(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    json_decref(s.f.lists[DOCTOR_PDBS].items);
    s.f.lists[DOCTOR_PDBS].items = json_array();
    const struct doctor_finding *x = only(&s, "VHA-PLACE-003");
    assert_finding(x, DOCTOR_WARN,
                   "no PodDisruptionBudget covers the server pods: a node drain may evict several "
                   "voters at once");
    assert_string_equal(x->fix, "kubectl -n vault create poddisruptionbudget vault "
                                "--selector=app.kubernetes.io/name=vault,app.kubernetes.io/"
                                "instance=vault,component=server --max-unavailable=1");
    json_array_append_new(s.f.lists[DOCTOR_PDBS].items, pdb(json_integer(2), NULL));
    assert_finding(only(&s, "VHA-PLACE-003"), DOCTOR_ERROR,
                   "PodDisruptionBudget vault lets 2 pods go down at once: evictions can take "
                   "quorum (3 voters tolerate 1)");
    json_array_clear(s.f.lists[DOCTOR_PDBS].items);
    json_array_append_new(s.f.lists[DOCTOR_PDBS].items, pdb(NULL, json_string("50%")));
    assert_finding(only(&s, "VHA-PLACE-003"), DOCTOR_OK,
                   "PodDisruptionBudget vault allows 1 server pod down at a time");
    json_array_clear(s.f.lists[DOCTOR_PDBS].items);
    json_array_append_new(s.f.lists[DOCTOR_PDBS].items, pdb(json_integer(0), NULL));
    assert_finding(only(&s, "VHA-PLACE-003"), DOCTOR_WARN,
                   "PodDisruptionBudget vault allows no pod down: node drains never finish");
    scene_free(&s);
}

/* --- VHA-RAFT --------------------------------------------------------------------------------- */

static void test_raft_without_token(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    s.f.raft_skip = "no Vault token: raft peers and autopilot not read";
    judge(&s);
    const char *ids[] = {"VHA-RAFT-001", "VHA-RAFT-002", "VHA-RAFT-003", "VHA-RAFT-005"};
    for (int i = 0; i < 4; i++) {
        const struct doctor_finding *x = only(&s, ids[i]);
        assert_finding(x, DOCTOR_SKIPPED, "no Vault token: raft peers and autopilot not read");
    }
    /* the index lag needs no token: vault status has it */
    assert_int_equal(only(&s, "VHA-RAFT-004")->level, DOCTOR_OK);
    scene_free(&s);
}

static void test_raft_dead_and_unhealthy(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    set_peers(&s, 4, "3f1c7a0e-dead");
    s.f.autopilot.healthy = 0;
    s.f.autopilot.failure_tolerance = 0;
    assert_finding(only(&s, "VHA-RAFT-001"), DOCTOR_ERROR,
                   "autopilot reports the cluster unhealthy (failure tolerance 0): "
                   "3f1c7a0e-dead (failed)");
    const struct doctor_finding *x = only(&s, "VHA-RAFT-002");
    assert_finding(x, DOCTOR_ERROR,
                   "raft voter 3f1c7a0e-dead (vault-3.vault-internal:8201) has no pod: a dead "
                   "server that eats failure tolerance, autopilot: failed");
    assert_string_equal(x->fix, "kubectl vault-ha remove-peer 3f1c7a0e-dead");
    x = only(&s, "VHA-RAFT-005");
    assert_finding(x, DOCTOR_WARN,
                   "autopilot's cleanup_dead_servers is off, so dead servers (1) stay voters "
                   "until removed by hand");
    s.f.autopilot_config.cleanup_dead_servers = 1;
    assert_finding(only(&s, "VHA-RAFT-005"), DOCTOR_WARN,
                   "autopilot's cleanup_dead_servers is on with min_quorum 0: during an outage it "
                   "may prune the cluster below 3 voters");
    s.f.autopilot_config.min_quorum = 3;
    assert_int_equal(only(&s, "VHA-RAFT-005")->level, DOCTOR_OK);
    set_peers(&s, 3, NULL);
    s.f.autopilot.failure_tolerance = 0;
    assert_finding(only(&s, "VHA-RAFT-001"), DOCTOR_WARN,
                   "autopilot: healthy, but failure tolerance 0: losing one more voter loses "
                   "quorum");
    free(s.f.autopilot.servers[2].node_status);
    s.f.autopilot.servers[2].node_status = strdup("failed");
    assert_finding(only(&s, "VHA-RAFT-002"), DOCTOR_ERROR,
                   "raft server vault-2 (vault-2) is failed");
    scene_free(&s);
}

static void test_raft_non_voters_and_lag(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    struct vault_autopilot_server *a = &s.f.autopilot.servers[2];
    free(a->status);
    a->status = strdup("non-voter");
    free(a->stable_since);
    a->stable_since = strdup("2027-01-15T07:59:55Z"); /* NOW is 08:00:00 */
    assert_finding(only(&s, "VHA-RAFT-003"), DOCTOR_OK,
                   "1 non-voter younger than the stabilization time (10s): autopilot promotes it");
    free(a->stable_since);
    a->stable_since = strdup("2027-01-15T07:55:00.5Z");
    assert_finding(only(&s, "VHA-RAFT-003"), DOCTOR_WARN,
                   "vault-2 has been a non-voter for 300s, longer than autopilot's "
                   "server_stabilization_time (10s): it does not count for quorum and is not "
                   "being promoted");
    s.f.pods[1].st.raft_applied_index = 412 - 5000;
    s.f.pods[0].st.raft_applied_index = 6000;
    s.f.pods[1].st.raft_applied_index = 1000;
    s.f.pods[2].st.raft_applied_index = 5990;
    assert_finding(only(&s, "VHA-RAFT-004"), DOCTOR_WARN,
                   "vault-1's applied index 1000 trails the leader vault-0 (6000) by 5000 entries, "
                   "more than max_trailing_logs (1000)");
    s.f.pods[1].st.raft_applied_index = 5999;
    assert_finding(only(&s, "VHA-RAFT-004"), DOCTOR_OK,
                   "followers are within 10 entries of the leader's applied index 6000");
    /* Defect 10: the longest stabilization time a Go duration holds prints without overflow. */
    s.f.have_autopilot_config = 1;
    s.f.autopilot_config.server_stabilization_s = doctor_go_duration("2562047h");
    a->stable_since = (free(a->stable_since), strdup("2027-01-15T07:59:55Z"));
    assert_finding(only(&s, "VHA-RAFT-003"), DOCTOR_OK,
                   "1 non-voter younger than the stabilization time (153722820m0s): autopilot "
                   "promotes it");
    s.f.have_autopilot_config = 0;
    scene_free(&s);
}

/* --- VHA-TLS ---------------------------------------------------------------------------------- */

static void set_cert(struct scene *s, int pod, char *pem)
{
    struct doctor_file *cf = file_of(&s->f.pods[pod], "tls_cert_file");
    free(cf->text);
    cf->text = pem;
}

static void test_tls(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    set_cert(&s, 1, leaf_pem("DNS:vault.example.com,IP:127.0.0.1", -1, 365, &s.ca));
    const struct doctor_finding *x = only(&s, "VHA-TLS-001");
    assert_finding(x, DOCTOR_ERROR,
                   "vault-1's certificate (/vault/userconfig/tls/vault.crt) does not cover "
                   "vault-1.vault-internal, only vault.example.com, 127.0.0.1: raft joins to it "
                   "fail with x509: certificate is valid for ..., not ... "
                   "(hashicorp/vault-helm#645)");
    /* A name with a terminal escape in it is shown through the one sanitizer, escaped
     * (not replaced by '?', and never reaching the terminal). */
    set_cert(&s, 1, leaf_pem("DNS:vault\x1b[2J.example.com,IP:127.0.0.1", -1, 365, &s.ca));
    assert_finding(only(&s, "VHA-TLS-001"), DOCTOR_ERROR,
                   "vault-1's certificate (/vault/userconfig/tls/vault.crt) does not cover "
                   "vault-1.vault-internal, only vault\\x1b[2J.example.com, 127.0.0.1: raft joins "
                   "to it fail with x509: certificate is valid for ..., not ... "
                   "(hashicorp/vault-helm#645)");
    set_cert(&s, 1, leaf_pem("DNS:*.vault-internal", -1, 365, &s.ca));
    assert_finding(only(&s, "VHA-TLS-001"), DOCTOR_ERROR,
                   "vault-1's certificate (/vault/userconfig/tls/vault.crt) does not cover "
                   "127.0.0.1, only *.vault-internal: the CLI in the pod (VAULT_ADDR "
                   "https://127.0.0.1:8200) cannot verify it");
    /* expiry: the test's certificates are relative to the real clock; NOW follows it */
    s.f.now = time(NULL);
    set_cert(&s, 1, leaf_pem("DNS:*.vault-internal,IP:127.0.0.1", -30, -2, &s.ca));
    x = only(&s, "VHA-TLS-002");
    assert_int_equal(x->level, DOCTOR_ERROR);
    assert_non_null(strstr(x->message, "vault-1's certificate (/vault/userconfig/tls/vault.crt) "
                                       "expired on "));
    set_cert(&s, 1, leaf_pem("DNS:*.vault-internal,IP:127.0.0.1", -1, 10, &s.ca));
    x = only(&s, "VHA-TLS-002");
    assert_int_equal(x->level, DOCTOR_WARN);
    assert_non_null(
        strstr(x->message, "vault-1's certificate (/vault/userconfig/tls/vault.crt) expires in "));
    /* another CA */
    struct ca other = make_ca("other-ca");
    set_cert(&s, 1, leaf_pem("DNS:*.vault-internal,IP:127.0.0.1", -1, 365, &other));
    x = only(&s, "VHA-TLS-003");
    assert_finding(x, DOCTOR_ERROR,
                   "vault-1's certificate (/vault/userconfig/tls/vault.crt) is not signed by the "
                   "CA joins use, /vault/userconfig/tls/ca.crt (VAULT_CACERT): unable to get "
                   "local issuer certificate (joins fail with x509: certificate signed by "
                   "unknown authority)");
    ca_free(&other);
    /* the retry_join CA file wins over VAULT_CACERT */
    char *ca_pem = pem_of(s.ca.cert);
    add_file(&s.f.pods[0], "leader_ca_cert_file", "/vault/userconfig/tls/join-ca.crt", ca_pem);
    free(ca_pem);
    judge(&s);
    assert_int_equal(nth(&s, "VHA-TLS-003", 0)->level, DOCTOR_ERROR);
    /* no CA for joins anywhere: skipped */
    for (int i = 0; i < 3; i++) {
        char *leaf = leaf_pem("DNS:*.vault-internal,IP:127.0.0.1", -1, 365, &s.ca);
        clear_files(&s.f.pods[i]);
        add_file(&s.f.pods[i], "tls_cert_file", "/vault/userconfig/tls/vault.crt", leaf);
        free(leaf);
    }
    assert_finding(only(&s, "VHA-TLS-003"), DOCTOR_SKIPPED,
                   "no CA configured for joins (retry_join leader_ca_cert_file) and no "
                   "VAULT_CACERT in the pods: joins need it");
    /* TLS off */
    for (int i = 0; i < 3; i++) {
        free(s.f.pods[i].config);
        s.f.pods[i].config = strdup("listener \"tcp\" {\n  tls_disable = \"true\"\n}\n");
        clear_files(&s.f.pods[i]);
    }
    assert_finding(only(&s, "VHA-TLS-001"), DOCTOR_SKIPPED,
                   "the listener has TLS disabled (tls_disable = 1)");
    scene_free(&s);
}

/* --- VHA-VER and VHA-LBL ------------------------------------------------------------------------
 */

static void test_versions_and_seal(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    free(s.f.pods[2].st.version);
    s.f.pods[2].st.version = strdup("1.20.0");
    assert_finding(only(&s, "VHA-VER-001"), DOCTOR_WARN,
                   "the pods run different versions: vault-0 1.21.2, vault-1 1.21.2, vault-2 "
                   "1.20.0 (an upgrade is half done)");
    assert_finding(only(&s, "VHA-VER-002"), DOCTOR_WARN,
                   "vault-2 runs image hashicorp/vault:1.21.2 but reports version 1.20.0: the tag "
                   "does not say what runs");
    free(s.f.pods[2].st.version);
    s.f.pods[2].st.version = strdup("1.21.2");
    free(s.f.vc->pods[0].image);
    s.f.vc->pods[0].image = strdup("hashicorp/vault:1.21.2-ubi");
    free(s.f.vc->pods[1].image);
    s.f.vc->pods[1].image = strdup("hashicorp/vault:latest");
    assert_finding(only(&s, "VHA-VER-002"), DOCTOR_WARN,
                   "vault-1 runs hashicorp/vault:latest: \"latest\" changes under you at the next "
                   "pull");
    set_status(&s.f.pods[1], 0, 1, "transit");
    const struct doctor_finding *x = only(&s, "VHA-VER-003");
    assert_finding(x, DOCTOR_ERROR,
                   "vault-1 is sealed although the seal is transit (auto-unseal): the seal cannot "
                   "be reached");
    for (int i = 0; i < 3; i++)
        set_status(&s.f.pods[i], i == 0, 0, "shamir");
    assert_finding(only(&s, "VHA-VER-003"), DOCTOR_ADVICE,
                   "Shamir seal: every pod restart (node drain, upgrade, crash) stays sealed until "
                   "3 of the 5 key holders unseal it");
    scene_free(&s);
}

static void set_configs(struct scene *s, const char *seals)
{
    for (int i = 0; i < 3; i++) {
        free(s->f.pods[i].config);
        size_t len = strlen(TLS_CONFIG) + strlen(seals) + 1;
        s->f.pods[i].config = malloc(len);
        assert_non_null(s->f.pods[i].config);
        snprintf(s->f.pods[i].config, len, "%s%s", TLS_CONFIG, seals);
    }
}

/* VHA-VER-004: the seal stanzas of the config the pods run. */
static void test_seal_config(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    /* two enabled seals: Vault (CE) exits at start */
    set_configs(&s, "seal \"transit\" {\n  address = \"http://t:8200\"\n}\n"
                    "seal \"awskms\" {\n  kms_key_id = \"k\"\n}\n");
    const struct doctor_finding *x = only(&s, "VHA-VER-004");
    assert_finding(x, DOCTOR_ERROR,
                   "the server config has 2 enabled seal stanzas: Vault refuses to start with "
                   "them (Seal HA is Vault Enterprise's)");
    assert_string_equal(x->fix, "keep one enabled seal; mark the old one disabled = \"true\"");
    /* transit -> Shamir still under way: a pod started in migration mode */
    set_configs(&s, "seal \"transit\" {\n  address = \"http://t:8200\"\n"
                    "  disabled = \"true\"\n}\n");
    for (int i = 0; i < 3; i++)
        set_status(&s.f.pods[i], i == 0, 0, "shamir");
    s.f.pods[1].st.migration = 1;
    assert_finding(only(&s, "VHA-VER-004"), DOCTOR_OK,
                   "seal config: shamir, migrating from transit");
    /* ...finished: the disabled stanza left behind */
    s.f.pods[1].st.migration = 0;
    x = only(&s, "VHA-VER-004");
    assert_finding(x, DOCTOR_WARN,
                   "the disabled seal \"transit\" stanza is still in the config although every "
                   "pod runs seal shamir: restarted pods come up sealed and need the keys, and "
                   "the old seal stays a start-up dependency");
    assert_string_equal(x->fix, "remove the disabled seal \"transit\" stanza (helm upgrade); the "
                                "pods read it when they next start");
    /* a pod still on the old seal: not finished, nothing to remove yet */
    set_status(&s.f.pods[2], 0, 0, "transit");
    assert_finding(only(&s, "VHA-VER-004"), DOCTOR_OK,
                   "seal config: shamir, migrating from transit");
    scene_free(&s);
}

static void test_labels(void **state)
{
    (void)state;
    struct scene s;
    scene_healthy(&s);
    s.f.vc->pods[1].label_active = TRI_TRUE;
    const struct doctor_finding *x = only(&s, "VHA-LBL-001");
    assert_finding(x, DOCTOR_WARN,
                   "vault-1 is labelled vault-active=true, but its vault status says unsealed, "
                   "not active: the vault-active and -standby Services route by these labels "
                   "(hashicorp/vault#18117)");
    assert_string_equal(x->fix, "kubectl -n vault label pod vault-1 vault-active=false --overwrite "
                                "(Vault writes them again at its next change)");
    s.f.vc->pods[1].label_active = TRI_FALSE;
    for (int i = 0; i < 3; i++)
        s.f.vc->pods[i].label_sealed = s.f.vc->pods[i].label_active =
            s.f.vc->pods[i].label_initialized = TRI_UNKNOWN;
    assert_finding(only(&s, "VHA-LBL-001"), DOCTOR_WARN,
                   "3 pods carry no vault-* labels: without service_registration \"kubernetes\" "
                   "the vault-active Service selects nothing");
    scene_free(&s);
}

/* --- parsers ---------------------------------------------------------------------------------- */

static void test_dns_address_formats(void **state)
{
    (void)state;
    /* busybox >= 1.28 */
    char *ip =
        doctor_dns_address("nslookup", "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n"
                                       "Name:\tvault-1.vault-internal\nAddress: 10.244.1.18\n");
    assert_string_equal(ip, "10.244.1.18");
    free(ip);
    /* busybox 1.27 and older */
    ip = doctor_dns_address("nslookup",
                            "Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system\n\n"
                            "Name:      vault-1.vault-internal\nAddress 1: 10.244.1.18 "
                            "vault-1.vault-internal.vault.svc.cluster.local\n");
    assert_string_equal(ip, "10.244.1.18");
    free(ip);
    /* IPv6 */
    ip = doctor_dns_address("nslookup",
                            "Server: ::1\nAddress: ::1#53\n\nName: v\nAddress: fd00::12\n");
    assert_string_equal(ip, "fd00::12");
    free(ip);
    assert_null(doctor_dns_address("nslookup", "Server:\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n"
                                               "** server can't find x: NXDOMAIN\n"));
    ip = doctor_dns_address("getent", "10.244.3.19     vault-2.vault-internal\n");
    assert_string_equal(ip, "10.244.3.19");
    free(ip);
    assert_null(doctor_dns_address("getent", "garbage here\n"));
    assert_null(doctor_dns_address("getent", ""));
}

static void test_df_duration_autopilot_config(void **state)
{
    (void)state;
    long long kib, used;
    int pct;
    assert_int_equal(doctor_parse_df("Filesystem           1024-blocks    Used Available Capacity "
                                     "Mounted on\n/dev/sdb  10485760  314572  10171188  3% "
                                     "/vault/data\n",
                                     &kib, &used, &pct),
                     0);
    assert_true(kib == 10485760 && used == 314572 && pct == 3);
    assert_int_equal(
        doctor_parse_df("df: /vault/data: No such file or directory\n", &kib, &used, &pct), -1);
    assert_int_equal(doctor_parse_df("a b c d 250% e\n", &kib, &used, &pct), -1);
    assert_true(doctor_go_duration("10s") == 10);
    assert_true(doctor_go_duration("24h0m0s") == 86400);
    assert_true(doctor_go_duration("1m30.5s") == 90.5);
    assert_true(doctor_go_duration("500ms") == 0.5);
    assert_true(doctor_go_duration("0") == 0);
    assert_true(doctor_go_duration("10x") < 0);
    /* Defect 10: bounded to a Go duration's range, digits only (1e10h overflowed an int). */
    assert_true(doctor_go_duration("1e10h") < 0);
    assert_true(doctor_go_duration("inf") < 0);
    assert_true(doctor_go_duration("nans") < 0);
    assert_true(doctor_go_duration("0x10s") < 0);
    assert_true(doctor_go_duration("2562048h") < 0);
    assert_true(doctor_go_duration("2562047h") == 2562047.0 * 3600);
    assert_true(doctor_go_duration(".5s") == 0.5);
    struct doctor_autopilot_config c;
    struct error err = {0};
    const char *json = "{\n  \"cleanup_dead_servers\": true,\n  \"dead_server_last_contact_"
                       "threshold\": \"24h0m0s\",\n  \"max_trailing_logs\": 1000,\n  "
                       "\"min_quorum\": 3,\n  \"server_stabilization_time\": \"10s\"\n}\n";
    assert_int_equal(doctor_parse_autopilot_config(json, strlen(json), &c, &err), 0);
    assert_true(c.cleanup_dead_servers && c.min_quorum == 3 && c.max_trailing_logs == 1000 &&
                c.server_stabilization_s == 10);
    assert_int_equal(doctor_parse_autopilot_config("\n", 1, &c, &err), -1);
    assert_string_equal(err.msg,
                        "autopilot get-config printed nothing (the CLI hides a failed request: the "
                        "token may lack read on sys/storage/raft/autopilot/configuration)");
}

static void test_config_values(void **state)
{
    (void)state;
    const char *hcl = "# tls_cert_file = \"/commented\"\nlistener \"tcp\" {\n  tls_disable = 1\n"
                      "  // leader_ca_cert = \"no\"\n  tls_cert_file = \"/a/b \\\"c\\\".crt\"\n}\n"
                      "storage \"raft\" {\n  retry_join {\n    leader_ca_cert = "
                      "\"-----BEGIN\\nX\"\n  }\n}\n";
    char *v = doctor_config_value(hcl, "tls_cert_file");
    assert_string_equal(v, "/a/b \"c\".crt");
    free(v);
    v = doctor_config_value(hcl, "tls_disable");
    assert_string_equal(v, "1");
    free(v);
    v = doctor_config_value(hcl, "leader_ca_cert");
    assert_string_equal(v, "-----BEGIN\nX");
    free(v);
    assert_true(doctor_config_has(hcl, "retry_join"));
    assert_false(doctor_config_has(hcl, "seal"));
    assert_null(doctor_config_value(hcl, "retry_join")); /* a block, not a value */
    const char *json = "{\"listener\": {\"tcp\": {\"tls_disable\": true}}}";
    v = doctor_config_value(json, "tls_disable");
    assert_string_equal(v, "true");
    free(v);
    assert_null(doctor_config_value("x = ", "x"));
    assert_null(doctor_config_value("unterminated = \"abc", "nope"));
}

static void test_parse_pod_output(void **state)
{
    (void)state;
    const char *m = "--vh-0123";
    const char *out =
        "\n--vh-0123 status\n{\"type\":\"shamir\",\"initialized\":true,\"sealed\":false,\"t\":3,"
        "\"n\":5,\"progress\":0,\"nonce\":\"\",\"version\":\"1.21.2\",\"ha_enabled\":true,"
        "\"is_self\":true,\"raft_applied_index\":412}\n"
        "\n--vh-0123 rc 0\n"
        "\n--vh-0123 df /vault/data\nFilesystem 1024-blocks Used Available Capacity Mounted on\n"
        "/dev/sdb 1000 950 50 95% /vault/data\n"
        "\n--vh-0123 rc 0\n"
        "\n--vh-0123 config /vault/config/extraconfig-from-values.hcl\nui = true\n--vh-fake "
        "status\n"
        "\n--vh-0123 rc 0\n"
        "\n--vh-0123 file tls_cert_file /vault/user config/v.crt\ncat: can't open: no such file\n"
        "\n--vh-0123 rc 1\n"
        "\n--vh-0123 dns vault-1.vault-internal nslookup\nsh: nslookup: not found\n"
        "\n--vh-0123 dns vault-1.vault-internal getent\n10.0.0.2 vault-1.vault-internal\n"
        "\n--vh-0123 rc 0\n"
        "\n--vh-0123 dns vault-2.vault-internal nslookup\nsh: nslookup: not found\n"
        "\n--vh-0123 dns vault-2.vault-internal getent\nsh: getent: not found\n"
        "\n--vh-0123 rc 127\n"
        "\n--vh-0123 end\n";
    struct doctor_pod p = {0};
    struct error err = {0};
    assert_int_equal(doctor_parse_pod_output(out, strlen(out), m, "", &p, &err), 0);
    assert_true(p.have_status && p.st.is_self && p.st.raft_applied_index == 412);
    assert_true(p.have_df && p.df_percent == 95 && p.df_kib == 1000);
    assert_string_equal(p.config, "ui = true\n--vh-fake status\n");
    assert_int_equal(p.nfiles, 1);
    assert_string_equal(p.files[0].key, "tls_cert_file");
    assert_string_equal(p.files[0].path, "/vault/user config/v.crt");
    assert_int_equal(p.files[0].exit_code, 1);
    assert_int_equal(p.ndns, 2);
    assert_string_equal(p.dns[0].tool, "getent");
    assert_string_equal(p.dns[0].ip, "10.0.0.2");
    assert_null(p.dns[1].tool);
    assert_null(p.dns[1].ip);
    doctor_pod_clear(&p);
    /* Cut short: what arrived is kept, the error says so. */
    const char *cut = "\n--vh-0123 status\n\n--vh-0123 rc 2\n\n--vh-0123 df /d\n";
    assert_int_equal(
        doctor_parse_pod_output(cut, strlen(cut), m, "Error checking seal status: x", &p, &err),
        -1);
    assert_string_equal(err.msg, "the pod's report ended early");
    assert_false(p.have_status);
    assert_non_null(p.status_error);
    doctor_pod_clear(&p);
    assert_int_equal(doctor_parse_pod_output("", 0, m, "", &p, &err), -1);
    assert_string_equal(p.status_error, "the pod printed no vault status");
    doctor_pod_clear(&p);
    /* What a pod prints reaches messages without its control bytes. */
    const char *esc = "\n--vh-0123 df /d\n\x1b[2Jdf: /d: gone\x07\n\n--vh-0123 rc 1\n"
                      "\n--vh-0123 file tls_cert_file /x\x1b]0;t\x07\n\n--vh-0123 rc 0\n"
                      "\n--vh-0123 end\n";
    assert_int_equal(doctor_parse_pod_output(esc, strlen(esc), m, "", &p, &err), 0);
    assert_string_equal(p.df_error, "df failed (exit 1): \\x1b[2Jdf: /d: gone\\x07");
    assert_string_equal(p.files[0].path, "/x\\x1b]0;t\\x07");
    doctor_pod_clear(&p);
}

/* Pod output in a block of exactly its length, no NUL after it: reading past it is caught. */
static int parse_exact(const char *text, struct doctor_pod *p, struct error *err)
{
    size_t n = strlen(text);
    char *copy = malloc(n);
    memcpy(copy, text, n);
    int rc = doctor_parse_pod_output(copy, n, "--vh-0123", "", p, err);
    free(copy);
    return rc;
}

/* Defect 1: the cap on file sections came after the realloc; the 17th section left
 * p->files dangling and the 18th freed it twice. */
static void test_parse_caps_file_sections(void **state)
{
    (void)state;
    char out[8192];
    size_t len = 0;
    for (int i = 0; i < 40; i++)
        text_appendf(out, sizeof out, &len,
                     "\n--vh-0123 file tls_cert_file /f%d\nPEM\n"
                     "\n--vh-0123 rc %d\n",
                     i, i % 2);
    text_appendf(out, sizeof out, &len, "\n--vh-0123 end\n");
    struct doctor_pod p = {0};
    struct error err = {0};
    assert_int_equal(parse_exact(out, &p, &err), 0);
    assert_int_equal(p.nfiles, 16);
    assert_string_equal(p.files[15].path, "/f15");
    assert_int_equal(p.files[15].exit_code, 1); /* the rc of a dropped section changes nothing */
    doctor_pod_clear(&p);
}

/* Defect 8: a second status section leaked the first parse; the last one counts. */
static void test_parse_second_status_replaces_the_first(void **state)
{
    (void)state;
#define STATUS_JSON(version)                                                                       \
    "{\"type\":\"shamir\",\"initialized\":true,\"sealed\":false,\"t\":3,\"n\":5,\"version\":"      \
    "\"" version "\",\"cluster_name\":\"c\",\"nonce\":\"\"}"
    char out[1024];
    size_t len = 0;
    text_appendf(
        out, sizeof out, &len,
        "\n--vh-0123 status\n" STATUS_JSON("1.21.2") "\n--vh-0123 rc 0\n"
                                                     "\n--vh-0123 status\n" STATUS_JSON("1.21.3"));
    text_appendf(out, sizeof out, &len, "\n--vh-0123 rc 0\n\n--vh-0123 end\n");
    struct doctor_pod p = {0};
    struct error err = {0};
    assert_int_equal(parse_exact(out, &p, &err), 0);
    assert_true(p.have_status);
    assert_string_equal(p.st.version, "1.21.3");
    doctor_pod_clear(&p); /* LeakSanitizer: nothing of the first parse is left */
}

/* Defect 9: headers were read with strcspn/strtol, up to a NUL that need not be there. */
static void test_parse_reads_within_its_length(void **state)
{
    (void)state;
    const char *ends[] = {
        "\n--vh-0123 file tls_cert_file",
        "\n--vh-0123 file tls_cert_file /a/b",
        "\n--vh-0123 dns vault-1.vault-internal",
        "\n--vh-0123 status\n{}\n--vh-0123 rc 0",
        "\n--vh-0123 df /d\n\n--vh-0123 rc 12",
        "\n--vh-0123 dns vault-1.vault-internal nslookup\nx\n--vh-0123 rc",
    };
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        struct doctor_pod p = {0};
        struct error err = {0};
        assert_int_equal(parse_exact(ends[i], &p, &err), -1);
        assert_string_equal(err.msg, "the pod's report ended early");
        doctor_pod_clear(&p);
    }
    struct doctor_pod p = {0};
    struct error err = {0};
    parse_exact("\n--vh-0123 df /d\nx\n--vh-0123 rc 12", &p, &err);
    assert_string_equal(p.df_error, "df failed (exit 12): x");
    doctor_pod_clear(&p);
    parse_exact("\n--vh-0123 df /d\nx\n--vh-0123 rc", &p, &err);
    assert_string_equal(p.df_error, "df failed (exit -1): x");
    doctor_pod_clear(&p);
}

/* Defects 3 and 15: pod text in facts goes through lib/text's sanitizer, so every message is
 * valid UTF-8 (json_pack refuses anything else, and the finding vanished from -o json), cut on
 * a character boundary; doctor_add sanitizes what any check builds. */
static void test_messages_are_utf8(void **state)
{
    (void)state;
    char line[300];
    memset(line, 'a', 199);
    strcpy(line + 199, "\xc3\xa9 and more");
    char out[1024];
    size_t len = 0;
    text_appendf(out, sizeof out, &len,
                 "\n--vh-0123 df /d\n%s\n\n--vh-0123 rc 1\n"
                 "\n--vh-0123 config /c\n\xff\xfe bad\n\n--vh-0123 rc 1\n"
                 "\n--vh-0123 file tls_cert_file /x\xe9\x9b\n\n--vh-0123 rc 0\n"
                 "\n--vh-0123 end\n",
                 line);
    struct doctor_pod p = {0};
    struct error err = {0};
    assert_int_equal(parse_exact(out, &p, &err), 0);
    char want[300];
    snprintf(want, sizeof want, "df failed (exit 1): %.199s", line);
    assert_string_equal(p.df_error, want); /* the é did not fit whole: cut before it */
    assert_string_equal(p.config_error, "cannot read it: \\xff\\xfe bad");
    assert_string_equal(p.files[0].path, "/x\\xe9\\x9b");
    struct doctor_report r = {0};
    doctor_add(&r, "VHA-X", DOCTOR_ERROR, p.df_error, p.config_error);
    doctor_add(&r, "VHA-X", DOCTOR_WARN, "raw \xff\xc3 from a check \x1b[2J", "fix \xe2\x82");
    assert_string_equal(r.items[1].message, "raw \\xff\\xc3 from a check \\x1b[2J");
    assert_string_equal(r.items[1].fix, "fix \\xe2\\x82");
    for (size_t i = 0; i < r.n; i++) {
        assert_true(text_is_utf8(r.items[i].message, strlen(r.items[i].message)));
        json_t *j = json_pack("{s:s, s:s?}", "message", r.items[i].message, "fix", r.items[i].fix);
        assert_non_null(j);
        json_decref(j);
    }
    doctor_report_clear(&r);
    doctor_pod_clear(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_every_check_ok),
        cmocka_unit_test(test_selection_and_exit_codes),
        cmocka_unit_test(test_sts_replicas),
        cmocka_unit_test(test_sts_pod_management),
        cmocka_unit_test(test_sts_update_strategy_and_revisions),
        cmocka_unit_test(test_svc_internal),
        cmocka_unit_test(test_svc_publish_and_active_standby),
        cmocka_unit_test(test_svc_rbac_denied),
        cmocka_unit_test(test_ep_internal),
        cmocka_unit_test(test_ep_active),
        cmocka_unit_test(test_dns),
        cmocka_unit_test(test_pvc_and_disk),
        cmocka_unit_test(test_placement),
        cmocka_unit_test(test_pdb),
        cmocka_unit_test(test_raft_without_token),
        cmocka_unit_test(test_raft_dead_and_unhealthy),
        cmocka_unit_test(test_raft_non_voters_and_lag),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_versions_and_seal),
        cmocka_unit_test(test_seal_config),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_dns_address_formats),
        cmocka_unit_test(test_df_duration_autopilot_config),
        cmocka_unit_test(test_config_values),
        cmocka_unit_test(test_parse_pod_output),
        cmocka_unit_test(test_parse_caps_file_sections),
        cmocka_unit_test(test_parse_second_status_replaces_the_first),
        cmocka_unit_test(test_parse_reads_within_its_length),
        cmocka_unit_test(test_messages_are_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
