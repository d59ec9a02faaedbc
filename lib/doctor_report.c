/* doctor: findings, the table of checks and what the checks share (lib/doctor.h). */
#include "doctor_internal.h"
#include "text.h"

#include <string.h>
#include <strings.h>

const char *doctor_level_name(enum doctor_level l)
{
    switch (l) {
    case DOCTOR_OK:
        return "ok";
    case DOCTOR_SKIPPED:
        return "skipped";
    case DOCTOR_ADVICE:
        return "advice";
    case DOCTOR_WARN:
        return "warn";
    default:
        return "error";
    }
}

const char *doctor_list_resource(enum doctor_list_kind k)
{
    static const char *const names[] = {"services",
                                        "endpoints",
                                        "endpointslices.discovery.k8s.io",
                                        "persistentvolumeclaims",
                                        "nodes",
                                        "poddisruptionbudgets.policy"};
    return (unsigned)k < DOCTOR_NLISTS ? names[k] : "?";
}

/* --- report --------------------------------------------------------------------------------- */

void doctor_add(struct doctor_report *r, const char *id, enum doctor_level level,
                const char *message, const char *fix)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        struct doctor_finding *d = realloc(r->items, cap * sizeof *d);
        if (d == NULL)
            return;
        r->items = d;
        r->cap = cap;
    }
    /* Messages and fixes quote pods and the API server: sanitized here, where every finding
     * passes, so each is terminal-safe and valid UTF-8 (a JSON string) whatever a check did. */
    struct doctor_finding *x = &r->items[r->n];
    x->id = id;
    x->level = level;
    x->message = text_sanitize_dup(message ? message : "");
    x->fix = fix ? text_sanitize_dup(fix) : NULL;
    if (x->message == NULL || (fix != NULL && x->fix == NULL)) {
        free(x->message);
        free(x->fix);
        return;
    }
    r->n++;
}

/* doctor_add with owned strings (freed here). */
void doctor_add_owned(struct doctor_report *r, const char *id, enum doctor_level level, char *msg,
                      char *fix)
{
    doctor_add(r, id, level, msg, fix);
    free(msg);
    free(fix);
}

void doctor_report_clear(struct doctor_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].message);
        free(r->items[i].fix);
    }
    free(r->items);
    memset(r, 0, sizeof *r);
}

int doctor_exit_code(const struct doctor_report *r, int strict)
{
    int worst = DOCTOR_OK;
    for (size_t i = 0; i < r->n; i++)
        if ((int)r->items[i].level > worst)
            worst = r->items[i].level;
    if (worst == DOCTOR_ERROR)
        return 3;
    return worst == DOCTOR_WARN || (strict && worst == DOCTOR_ADVICE) ? 2 : 0;
}

/* --- what the checks share ---------------------------------------------------------------------
 */

const char *doctor_ns_of(const struct doctor_facts *f)
{
    return f->vc->namespace;
}

/* The headless service that gives pods their DNS names (spec.serviceName). */
const char *doctor_internal_name(const struct doctor_facts *f, char *buf, size_t cap)
{
    if (f->vc->service_name != NULL && f->vc->service_name[0] != '\0')
        return f->vc->service_name;
    snprintf(buf, cap, "%s-internal", f->vc->name);
    return buf;
}

/* The raw pod object of a pod, NULL when not listed. */
static json_t *pod_json(const struct doctor_facts *f, const char *name)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(f->pod_list, "items"), i, it)
    {
        const char *n = jstr(jpath(it, "metadata", NULL), "name");
        if (n != NULL && strcmp(n, name) == 0)
            return it;
    }
    return NULL;
}

json_t *doctor_pod_labels(const struct doctor_facts *f, const char *name)
{
    return jpath(jpath(pod_json(f, name), "metadata", NULL), "labels", NULL);
}

/* Every key/value of selector (an object) is among labels; an empty selector selects nothing. */
int doctor_selects(json_t *selector, json_t *labels)
{
    if (!json_is_object(selector) || json_object_size(selector) == 0)
        return 0;
    const char *k;
    json_t *v;
    json_object_foreach(selector, k, v)
    {
        const char *have = jstr(labels, k);
        if (have == NULL || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
            return 0;
    }
    return 1;
}

/* "k=v,k2=v2" of a selector object, for messages. */
char *doctor_selector_text(json_t *selector)
{
    struct dynbuf b = {0};
    const char *k;
    json_t *v;
    json_object_foreach(selector, k, v)
    {
        dynbuf_addf(&b, "%s%s=%s", b.len ? "," : "", k,
                    json_is_string(v) ? json_string_value(v) : "?");
    }
    return b.data ? b.data : strdup("(none)");
}

json_t *doctor_find_named(json_t *items, const char *name)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *n = jstr(jpath(it, "metadata", NULL), "name");
        if (n != NULL && strcmp(n, name) == 0)
            return it;
    }
    return NULL;
}

/* When a list could not be read: one skipped finding naming the verb and resource.
 * Returns 1 when skipped. */
int doctor_list_missing(const struct doctor_facts *f, enum doctor_list_kind k, const char *id,
                        struct doctor_report *r)
{
    const struct doctor_list *l = &f->lists[k];
    if (l->items != NULL)
        return 0;
    if (l->denied != NULL)
        doctor_add_owned(r, id, DOCTOR_SKIPPED, xfmt("RBAC denies %s: cannot check", l->denied),
                         xfmt("grant \"get\" and \"list\" on \"%s\" to this user (README, RBAC)",
                              doctor_list_resource(k)));
    else
        doctor_add_owned(
            r, id, DOCTOR_SKIPPED,
            xfmt("cannot read %s: %s", doctor_list_resource(k), l->error ? l->error : "not read"),
            NULL);
    return 1;
}

int doctor_count_existing(const struct vault_cluster *vc)
{
    int n = 0;
    for (size_t i = 0; i < vc->npods; i++)
        n += vc->pods[i].exists;
    return n;
}

/* The pod whose own vault status says it is active (unsealed, is_self), or -1. */
int doctor_active_index(const struct doctor_facts *f)
{
    for (size_t i = 0; i < f->vc->npods; i++)
        if (f->pods[i].have_status && vault_status_is_active(&f->pods[i].st))
            return (int)i;
    return -1;
}

/* Shamir when any pod says so (or nothing is known). */
int doctor_is_shamir(const struct doctor_facts *f)
{
    for (size_t i = 0; i < f->vc->npods; i++)
        if (f->pods[i].have_status && f->pods[i].st.type != NULL)
            return strcmp(f->pods[i].st.type, "shamir") == 0;
    return 1;
}

int doctor_quorum_of(int voters)
{
    return voters / 2 + 1;
}

const char *doctor_flavor_label(const struct doctor_facts *f)
{
    return f->vc->flavor; /* vault or openbao: vault-active / openbao-active */
}

/* --- the table -------------------------------------------------------------------------------- */

const struct doctor_check doctor_checks[] = {
    {"VHA-STS-001", "replicas: odd and at least 3", doctor_check_replicas},
    {"VHA-STS-002", "podManagementPolicy; pods OrderedReady never created",
     doctor_check_pod_management},
    {"VHA-STS-003", "updateStrategy", doctor_check_update_strategy},
    {"VHA-STS-004", "pods on an older controller revision", doctor_check_revisions},
    {"VHA-SVC-001", "the headless <sts>-internal service and its selector",
     doctor_check_internal_service},
    {"VHA-SVC-002", "publishNotReadyAddresses on <sts>-internal", doctor_check_publish_not_ready},
    {"VHA-SVC-003", "the -active and -standby services and their selectors",
     doctor_check_active_standby_services},
    {"VHA-SVC-004", "no other Vault service publishes not-ready addresses",
     doctor_check_other_publish},
    {"VHA-EP-001", "<sts>-internal lists every pod, ready or not", doctor_check_internal_endpoints},
    {"VHA-EP-002", "<sts>-active lists exactly the active pod", doctor_check_active_endpoints},
    {"VHA-DNS-001", "<pod>.<sts>-internal resolves from every pod", doctor_check_dns},
    {"VHA-PVC-001", "data (and audit) PVCs are Bound", doctor_check_pvcs},
    {"VHA-PVC-002", "fill level of the raft data volume", doctor_check_disk},
    {"VHA-PLACE-001", "voters on distinct nodes", doctor_check_nodes},
    {"VHA-PLACE-002", "voters spread over zones", doctor_check_zones},
    {"VHA-PLACE-003", "a PodDisruptionBudget with maxUnavailable 1", doctor_check_pdb},
    {"VHA-RAFT-001", "autopilot healthy, failure tolerance at least 1", doctor_check_autopilot},
    {"VHA-RAFT-002", "no dead or failed raft servers", doctor_check_dead_servers},
    {"VHA-RAFT-003", "no non-voter older than the stabilization time", doctor_check_non_voters},
    {"VHA-RAFT-004", "applied-index lag of the followers", doctor_check_index_lag},
    {"VHA-RAFT-005", "autopilot's cleanup_dead_servers", doctor_check_cleanup_dead_servers},
    {"VHA-TLS-001", "certificate names: <pod>.<sts>-internal and 127.0.0.1",
     doctor_check_tls_names},
    {"VHA-TLS-002", "certificate expiry (warn within 30 days)", doctor_check_tls_expiry},
    {"VHA-TLS-003", "the CA joins use signed the certificates", doctor_check_tls_ca},
    {"VHA-VER-001", "one Vault version across pods", doctor_check_versions},
    {"VHA-VER-002", "image tags match the running versions", doctor_check_image_tags},
    {"VHA-VER-003", "seal: Shamir key holders, auto-unseal health", doctor_check_seal},
    {"VHA-VER-004",
     "seal config: one enabled seal, no token or type in the pod env, no "
     "leftover disabled stanza",
     doctor_check_seal_config},
    {"VHA-LBL-001", "vault-* labels agree with vault status", doctor_check_labels},
    {NULL, NULL, NULL},
};

const struct doctor_check *doctor_find_check(const char *id)
{
    for (size_t i = 0; doctor_checks[i].id != NULL; i++)
        if (strcasecmp(doctor_checks[i].id, id) == 0)
            return &doctor_checks[i];
    return NULL;
}

void doctor_judge(const struct doctor_facts *f, const int *selected, struct doctor_report *r)
{
    for (size_t i = 0; doctor_checks[i].id != NULL; i++)
        if (selected == NULL || selected[i])
            doctor_checks[i].run(f, r);
}
