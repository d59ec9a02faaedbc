/* doctor: the checks of the Kubernetes objects around Vault: the StatefulSet, services,
 * endpoints, DNS, storage and placement (lib/doctor.h). */
#include "doctor_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- VHA-STS: the StatefulSet --------------------------------------------------------------------
 */

void doctor_check_replicas(const struct doctor_facts *f, struct doctor_report *r)
{
    int n = f->vc->replicas;
    const char *id = "VHA-STS-001";
    if (n < 3)
        doctor_add_owned(
            r, id, DOCTOR_ERROR,
            xfmt("StatefulSet %s has %d replica%s: raft needs 3 voters to survive the loss "
                 "of one",
                 f->vc->name, n, n == 1 ? "" : "s"),
            xfmt("kubectl -n %s scale statefulset %s --replicas=3 && %s join", doctor_ns_of(f),
                 f->vc->name, f->prog));
    else if (n % 2 == 0)
        doctor_add_owned(
            r, id, DOCTOR_WARN,
            xfmt("%d replicas: an even count tolerates no more failures than %d (quorum "
                 "%d, failure tolerance %d)",
                 n, n - 1, doctor_quorum_of(n), n - doctor_quorum_of(n)),
            xfmt("kubectl -n %s scale statefulset %s --replicas=%d && %s join", doctor_ns_of(f),
                 f->vc->name, n + 1, f->prog));
    else
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("%d replicas: quorum %d, failure tolerance %d", n,
                              doctor_quorum_of(n), n - doctor_quorum_of(n)),
                         NULL);
}

/* Any pod's config has a retry_join: 1; none: 0; no config read: -1. */
static int retry_join_state(const struct doctor_facts *f)
{
    int seen = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        if (f->pods[i].config == NULL)
            continue;
        seen = 1;
        if (doctor_config_has(f->pods[i].config, "retry_join"))
            return 1;
    }
    return seen ? 0 : -1;
}

void doctor_check_pod_management(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-STS-002";
    const struct vault_cluster *vc = f->vc;
    const char *pmp = vc->pod_management_policy ? vc->pod_management_policy : "OrderedReady";
    int ordered = strcmp(pmp, "OrderedReady") == 0;
    int problems = 0;
    for (size_t i = 0; ordered && i < vc->npods; i++) {
        const struct vault_pod *p = &vc->pods[i];
        if (p->exists || p->ordinal < 0)
            continue;
        /* The first pod before it that is not Ready holds it back. */
        const struct vault_pod *blocker = NULL;
        for (size_t j = 0; j < vc->npods && blocker == NULL; j++)
            if (vc->pods[j].ordinal >= 0 && vc->pods[j].ordinal < p->ordinal && !vc->pods[j].ready)
                blocker = &vc->pods[j];
        if (blocker == NULL)
            continue;
        problems++;
        doctor_add_owned(
            r, id, DOCTOR_ERROR,
            xfmt("%s was never created: podManagementPolicy OrderedReady waits for %s to be "
                 "Ready, and a pod is Ready only once unsealed",
                 p->name, blocker->name),
            xfmt("%s %s %s", f->prog, blocker->exists ? "unseal" : "bootstrap",
                 blocker->exists ? blocker->name : "--keys-file FILE"));
    }
    if (problems > 0)
        return;
    if (!ordered) {
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("podManagementPolicy %s: every pod starts at once", pmp), NULL);
        return;
    }
    int rj = retry_join_state(f);
    if (rj == 1)
        doctor_add_owned(
            r, id, DOCTOR_OK,
            xfmt("podManagementPolicy OrderedReady with retry_join: restarted pods join "
                 "by themselves"),
            NULL);
    else /* the cluster works; restarts are slower: a recommendation */
        doctor_add_owned(
            r, id, DOCTOR_ADVICE,
            xfmt("podManagementPolicy OrderedReady%s: pod N+1 is only created once pod N "
                 "is unsealed, so every restart waits for someone to unseal and join each "
                 "pod in turn",
                 rj == 0 ? " and no retry_join in the config" : ""),
            xfmt("add retry_join blocks to the raft storage config, or use "
                 "podManagementPolicy: Parallel (it cannot change in place: kubectl -n %s "
                 "delete statefulset %s --cascade=orphan, then helm upgrade with "
                 "server.podManagementPolicy=Parallel)",
                 doctor_ns_of(f), vc->name));
}

void doctor_check_update_strategy(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-STS-003";
    const char *type = jstr(jpath(jpath(f->sts, "spec", NULL), "updateStrategy", NULL), "type");
    if (type == NULL)
        type = "RollingUpdate"; /* the API's default */
    if (strcmp(type, "OnDelete") == 0)
        doctor_add_owned(
            r, id, DOCTOR_OK,
            xfmt("updateStrategy OnDelete: pods change only when you delete them, one at "
                 "a time"),
            NULL);
    else if (!doctor_is_shamir(f))
        doctor_add_owned(
            r, id, DOCTOR_OK,
            xfmt("updateStrategy %s with auto-unseal: restarted pods unseal themselves", type),
            NULL);
    else
        doctor_add_owned(
            r, id, DOCTOR_WARN,
            xfmt("updateStrategy %s restarts the pods on every template change; each comes "
                 "back sealed and the rollout stops until someone unseals it",
                 type),
            xfmt("kubectl -n %s patch statefulset %s -p "
                 "'{\"spec\":{\"updateStrategy\":{\"type\":\"OnDelete\",\"rollingUpdate\":null}}}' "
                 "(chart: "
                 "server.updateStrategyType=OnDelete)",
                 doctor_ns_of(f), f->vc->name));
}

void doctor_check_revisions(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-STS-004";
    const char *want = jstr(jpath(f->sts, "status", NULL), "updateRevision");
    if (want == NULL) {
        doctor_add(r, id, DOCTOR_SKIPPED, "the StatefulSet reports no updateRevision yet", NULL);
        return;
    }
    const struct vault_cluster *vc = f->vc;
    struct dynbuf old = {0}, order = {0};
    int nold = 0, active = doctor_active_index(f);
    const char *old_rev = NULL;
    /* Standbys first, highest ordinal first; the active pod last, after a step-down. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = vc->npods; k-- > 0;) {
            const struct vault_pod *p = &vc->pods[k];
            if (!p->exists || ((int)k == active) != (pass == 1))
                continue;
            const char *rev = jstr(doctor_pod_labels(f, p->name), "controller-revision-hash");
            if (rev == NULL || strcmp(rev, want) == 0)
                continue;
            nold++;
            old_rev = rev;
            list_item(&old, p->name);
            if (order.len > 0)
                dynbuf_addf(&order, "; ");
            if (pass == 1)
                dynbuf_addf(&order, "%s step-down && ", f->prog);
            dynbuf_addf(&order, "kubectl -n %s delete pod %s", doctor_ns_of(f), p->name);
            if (doctor_is_shamir(f))
                dynbuf_addf(&order, " && %s unseal %s", f->prog, p->name);
        }
    }
    if (nold == 0)
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("every pod runs the StatefulSet's revision %s", want), NULL);
    else
        doctor_add_owned(
            r, id, DOCTOR_WARN,
            xfmt("an update is half done: %s still run%s revision %s, the StatefulSet "
                 "wants %s",
                 dynbuf_str(&old), nold == 1 ? "s" : "", old_rev, want),
            xfmt("%s upgrade; by hand, one pod at a time, standbys first, the active pod last: %s",
                 f->prog, dynbuf_str(&order)));
    dynbuf_free(&old);
    dynbuf_free(&order);
}

/* --- VHA-SVC: services -------------------------------------------------------------------------
 */

static json_t *service(const struct doctor_facts *f, const char *name)
{
    return doctor_find_named(f->lists[DOCTOR_SERVICES].items, name);
}

/* The service checks' start: 0 when the services could not be listed (reported as skipped);
 * else the headless service's name and object (NULL when it does not exist). */
static int internal_service(const struct doctor_facts *f, const char *id, struct doctor_report *r,
                            char *buf, size_t cap, const char **name, json_t **svc)
{
    if (doctor_list_missing(f, DOCTOR_SERVICES, id, r))
        return 0;
    *name = doctor_internal_name(f, buf, cap);
    *svc = service(f, *name);
    return 1;
}

void doctor_check_internal_service(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-SVC-001";
    char buf[300];
    const char *name;
    json_t *svc;
    if (!internal_service(f, id, r, buf, sizeof buf, &name, &svc))
        return;
    json_t *sts_sel = jpath(jpath(f->sts, "spec", NULL), "selector", "matchLabels");
    char *want_sel = doctor_selector_text(sts_sel);
    if (svc == NULL) {
        doctor_add_owned(
            r, id, DOCTOR_ERROR,
            xfmt("the headless service %s (the StatefulSet's serviceName) does not exist: "
                 "pods have no DNS names, so they cannot join",
                 name),
            xfmt("helm upgrade the release, or create it: a Service %s with clusterIP: "
                 "None, publishNotReadyAddresses: true and selector %s",
                 name, want_sel));
        free(want_sel);
        return;
    }
    json_t *spec = json_object_get(svc, "spec");
    json_t *sel = json_object_get(spec, "selector");
    const char *cip = jstr(spec, "clusterIP");
    int problems = 0;
    if (cip == NULL || strcmp(cip, "None") != 0) {
        problems++;
        doctor_add_owned(
            r, id, DOCTOR_ERROR,
            xfmt("service %s has clusterIP %s: it is not headless, so pods get no "
                 "<pod>.%s names",
                 name, cip ? cip : "(none)", name),
            xfmt("recreate it with clusterIP: None (it cannot change in place): kubectl -n "
                 "%s get svc %s -o yaml > svc.yaml, set clusterIP: None and remove "
                 "clusterIPs, kubectl replace --force -f svc.yaml",
                 doctor_ns_of(f), name));
    }
    struct dynbuf missed = {0};
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct vault_pod *p = &f->vc->pods[i];
        if (p->exists && !doctor_selects(sel, doctor_pod_labels(f, p->name)))
            list_item(&missed, p->name);
    }
    char *have_sel = doctor_selector_text(sel);
    if (missed.len > 0) {
        problems++;
        char *want_json = json_dumps(sts_sel, JSON_COMPACT);
        doctor_add_owned(r, id, DOCTOR_ERROR,
                         xfmt("service %s selects %s, which does not select %s", name, have_sel,
                              dynbuf_str(&missed)),
                         xfmt("kubectl -n %s patch svc %s --type json -p "
                              "'[{\"op\":\"replace\",\"path\":\"/spec/selector\",\"value\":%s}]'",
                              doctor_ns_of(f), name, want_json ? want_json : "{}"));
        free(want_json);
    } else {
        /* Wider than the StatefulSet's selector: it may also pick other pods (the injector). */
        struct dynbuf lack = {0};
        const char *k;
        json_t *v;
        json_object_foreach(sts_sel, k, v)
        {
            if (json_object_get(sel, k) == NULL)
                dynbuf_addf(&lack, "%s%s=%s", lack.len ? "," : "", k, json_string_value(v));
        }
        if (lack.len > 0) {
            problems++;
            doctor_add_owned(
                r, id, DOCTOR_WARN,
                xfmt("service %s selects %s, wider than the StatefulSet (it lacks %s): it "
                     "may also select pods that are not Vault servers",
                     name, have_sel, dynbuf_str(&lack)),
                xfmt("make its selector %s", want_sel));
        }
        dynbuf_free(&lack);
    }
    if (problems == 0)
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("%s is headless and selects the %d server pods", name,
                              doctor_count_existing(f->vc)),
                         NULL);
    dynbuf_free(&missed);
    free(have_sel);
    free(want_sel);
}

void doctor_check_publish_not_ready(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-SVC-002";
    char buf[300];
    const char *name;
    json_t *svc;
    if (!internal_service(f, id, r, buf, sizeof buf, &name, &svc))
        return;
    if (svc == NULL) {
        doctor_add_owned(r, id, DOCTOR_SKIPPED,
                         xfmt("service %s does not exist (VHA-SVC-001)", name), NULL);
        return;
    }
    if (json_is_true(jpath(jpath(svc, "spec", NULL), "publishNotReadyAddresses", NULL)))
        doctor_add_owned(
            r, id, DOCTOR_OK,
            xfmt("%s publishes not-ready addresses: sealed pods keep their DNS names", name), NULL);
    else
        doctor_add_owned(
            r, id, DOCTOR_ERROR,
            xfmt("%s does not publish not-ready addresses: a sealed pod is not Ready, so it "
                 "has no DNS name and cannot join (hashicorp/vault-helm#817)",
                 name),
            xfmt("kubectl -n %s patch svc %s -p "
                 "'{\"spec\":{\"publishNotReadyAddresses\":true}}'",
                 doctor_ns_of(f), name));
}

void doctor_check_active_standby_services(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-SVC-003";
    if (doctor_list_missing(f, DOCTOR_SERVICES, id, r))
        return;
    char label[64];
    snprintf(label, sizeof label, "%s-active", doctor_flavor_label(f));
    int problems = 0;
    for (int want_active = 1; want_active >= 0; want_active--) {
        char name[300];
        snprintf(name, sizeof name, "%s-%s", f->vc->name, want_active ? "active" : "standby");
        json_t *svc = service(f, name);
        if (svc == NULL) {
            problems++;
            doctor_add_owned(
                r, id, DOCTOR_WARN,
                xfmt("service %s does not exist: clients that use it reach nothing", name),
                xfmt("helm upgrade the release with server.ha.enabled=true and "
                     "server.service.enabled=true"));
            continue;
        }
        json_t *sel = jpath(jpath(svc, "spec", NULL), "selector", NULL);
        const char *v = jstr(sel, label);
        const char *want = want_active ? "true" : "false";
        if (v == NULL || strcmp(v, want) != 0) {
            problems++;
            char *st = doctor_selector_text(sel);
            doctor_add_owned(
                r, id, DOCTOR_ERROR,
                xfmt("service %s selects %s, not %s=%s: it sends clients to the wrong pods", name,
                     st, label, want),
                xfmt("kubectl -n %s patch svc %s -p '{\"spec\":{\"selector\":{\"%s\":\"%s\"}}}'",
                     doctor_ns_of(f), name, label, want));
            free(st);
        }
    }
    if (problems == 0)
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("%s-active selects %s=true and %s-standby %s=false", f->vc->name,
                              label, f->vc->name, label),
                         NULL);
}

void doctor_check_other_publish(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-SVC-004";
    char buf[300];
    const char *internal;
    json_t *internal_svc;
    if (!internal_service(f, id, r, buf, sizeof buf, &internal, &internal_svc))
        return;
    struct dynbuf names = {0};
    size_t i;
    json_t *svc;
    json_array_foreach(f->lists[DOCTOR_SERVICES].items, i, svc)
    {
        const char *name = jstr(jpath(svc, "metadata", NULL), "name");
        json_t *spec = json_object_get(svc, "spec");
        if (name == NULL || strcmp(name, internal) == 0 || !jbool(spec, "publishNotReadyAddresses"))
            continue;
        /* A Vault service: it selects at least one of the server pods. */
        int vault = 0;
        for (size_t k = 0; k < f->vc->npods && !vault; k++)
            vault =
                f->vc->pods[k].exists && doctor_selects(json_object_get(spec, "selector"),
                                                        doctor_pod_labels(f, f->vc->pods[k].name));
        if (vault)
            list_item(&names, name);
    }
    if (names.len == 0)
        doctor_add_owned(
            r, id, DOCTOR_OK,
            xfmt("only %s publishes not-ready addresses: clients reach unsealed pods only",
                 internal),
            NULL);
    else /* the chart's default, kept on purpose (vault-helm#902): a recommendation */
        doctor_add_owned(
            r, id, DOCTOR_ADVICE,
            xfmt("%s publish%s not-ready addresses (the chart's default, "
                 "hashicorp/vault-helm#902): client requests may reach a sealed pod and "
                 "fail (hashicorp/vault-helm#817)",
                 dynbuf_str(&names), strchr(dynbuf_str(&names), ',') ? "" : "es"),
            xfmt("to send clients to unsealed pods only: helm upgrade with "
                 "server.service.publishNotReadyAddresses=false (%s keeps it)",
                 internal));
    dynbuf_free(&names);
}

/* --- VHA-EP: endpoints -------------------------------------------------------------------------
 */

/* Addresses a service routes to: pod name -> (ip, ready), from its EndpointSlices, else from
 * its Endpoints. Returns the source used, NULL when neither could be read. */
struct ep_addr {
    const char *pod;
    const char *ip;
    int ready;
};

static const char *service_addresses(const struct doctor_facts *f, const char *svc,
                                     struct ep_addr *out, size_t cap, size_t *n, int *found)
{
    *n = 0;
    *found = 0;
    json_t *slices = f->lists[DOCTOR_ENDPOINTSLICES].items;
    if (slices != NULL) {
        size_t i;
        json_t *sl;
        json_array_foreach(slices, i, sl)
        {
            const char *owner = jstr(jpath(jpath(sl, "metadata", NULL), "labels", NULL),
                                     "kubernetes.io/service-name");
            if (owner == NULL || strcmp(owner, svc) != 0)
                continue;
            *found = 1;
            size_t j;
            json_t *ep;
            json_array_foreach(json_object_get(sl, "endpoints"), j, ep)
            {
                json_t *ready = jpath(jpath(ep, "conditions", NULL), "ready", NULL);
                if (*n < cap) {
                    out[*n].pod = jstr(json_object_get(ep, "targetRef"), "name");
                    out[*n].ip =
                        json_string_value(json_array_get(json_object_get(ep, "addresses"), 0));
                    /* ready: nil means ready (discovery/v1 EndpointConditions) */
                    out[*n].ready = ready == NULL || json_is_true(ready);
                    (*n)++;
                }
            }
        }
        return "EndpointSlices";
    }
    json_t *eps = f->lists[DOCTOR_ENDPOINTS].items;
    if (eps == NULL)
        return NULL;
    json_t *ep = doctor_find_named(eps, svc);
    if (ep != NULL)
        *found = 1;
    size_t i;
    json_t *subset;
    json_array_foreach(json_object_get(ep, "subsets"), i, subset)
    {
        for (int ready = 1; ready >= 0; ready--) {
            size_t j;
            json_t *a;
            json_array_foreach(json_object_get(subset, ready ? "addresses" : "notReadyAddresses"),
                               j, a)
            {
                if (*n < cap) {
                    out[*n].pod = jstr(json_object_get(a, "targetRef"), "name");
                    out[*n].ip = jstr(a, "ip");
                    out[*n].ready = ready;
                    (*n)++;
                }
            }
        }
    }
    return "Endpoints";
}

/* Skipped when neither EndpointSlices nor Endpoints could be read; returns 1 then. */
static int endpoints_missing(const struct doctor_facts *f, const char *id, struct doctor_report *r)
{
    if (f->lists[DOCTOR_ENDPOINTSLICES].items != NULL || f->lists[DOCTOR_ENDPOINTS].items != NULL)
        return 0;
    const struct doctor_list *a = &f->lists[DOCTOR_ENDPOINTSLICES],
                             *b = &f->lists[DOCTOR_ENDPOINTS];
    if (a->denied != NULL || b->denied != NULL)
        doctor_add_owned(
            r, id, DOCTOR_SKIPPED,
            xfmt("RBAC denies %s%s%s: cannot check", a->denied ? a->denied : "",
                 a->denied && b->denied ? " and " : "", b->denied ? b->denied : ""),
            xfmt("grant \"get\" and \"list\" on \"endpointslices\" (discovery.k8s.io) or "
                 "\"endpoints\" to this user (README, RBAC)"));
    else
        doctor_add_owned(r, id, DOCTOR_SKIPPED,
                         xfmt("cannot read EndpointSlices or Endpoints: %s", a->error ? a->error
                                                                             : b->error
                                                                                 ? b->error
                                                                                 : "not read"),
                         NULL);
    return 1;
}

#define EP_MAX 256

void doctor_check_internal_endpoints(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-EP-001";
    if (endpoints_missing(f, id, r))
        return;
    char buf[300];
    const char *name = doctor_internal_name(f, buf, sizeof buf);
    struct ep_addr addrs[EP_MAX];
    size_t n;
    int found;
    const char *source = service_addresses(f, name, addrs, EP_MAX, &n, &found);
    struct dynbuf missing = {0}, not_ready = {0}, wrong = {0};
    int listed = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct vault_pod *p = &f->vc->pods[i];
        if (!p->exists || p->pod_ip == NULL)
            continue;
        const struct ep_addr *a = NULL;
        for (size_t k = 0; k < n && a == NULL; k++)
            if (addrs[k].pod != NULL && strcmp(addrs[k].pod, p->name) == 0)
                a = &addrs[k];
        if (a == NULL) {
            list_item(&missing, p->name);
        } else if (!a->ready) {
            list_item(&not_ready, p->name);
        } else if (a->ip == NULL || strcmp(a->ip, p->pod_ip) != 0) {
            char *x =
                xfmt("%s as %s (its IP is %s)", p->name, a->ip ? a->ip : "no address", p->pod_ip);
            list_item(&wrong, x);
            free(x);
        } else {
            listed++;
        }
    }
    char *look = xfmt("kubectl -n %s get endpointslices -l kubernetes.io/service-name=%s -o yaml",
                      doctor_ns_of(f), name);
    if (!found) {
        doctor_add_owned(r, id, DOCTOR_ERROR,
                         xfmt("no %s for service %s: the pods have no DNS names", source, name),
                         xfmt("check the service (VHA-SVC-001): %s", look));
    } else {
        if (missing.len > 0)
            doctor_add_owned(r, id, DOCTOR_ERROR,
                             xfmt("%s does not list %s (%s): those pods have no DNS name", name,
                                  dynbuf_str(&missing), source),
                             xfmt("make the service select them (VHA-SVC-001): %s", look));
        if (not_ready.len > 0)
            doctor_add_owned(r, id, DOCTOR_ERROR,
                             xfmt("%s lists %s as not ready: DNS leaves them out until they are "
                                  "unsealed, so they cannot join",
                                  name, dynbuf_str(&not_ready)),
                             xfmt("kubectl -n %s patch svc %s -p "
                                  "'{\"spec\":{\"publishNotReadyAddresses\":true}}'",
                                  doctor_ns_of(f), name));
        if (wrong.len > 0)
            doctor_add_owned(r, id, DOCTOR_ERROR,
                             xfmt("%s lists %s: stale endpoints", name, dynbuf_str(&wrong)),
                             xfmt("%s", look));
        if (missing.len == 0 && not_ready.len == 0 && wrong.len == 0)
            doctor_add_owned(r, id, DOCTOR_OK,
                             xfmt("%s lists all %d pods, ready or not (%s)", name, listed, source),
                             NULL);
    }
    free(look);
    dynbuf_free(&missing);
    dynbuf_free(&not_ready);
    dynbuf_free(&wrong);
}

void doctor_check_active_endpoints(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-EP-002";
    if (endpoints_missing(f, id, r))
        return;
    char name[300];
    snprintf(name, sizeof name, "%s-active", f->vc->name);
    int act = doctor_active_index(f);
    if (act < 0) {
        doctor_add(r, id, DOCTOR_SKIPPED,
                   "no pod reports itself active in its vault status (see kubectl vault-ha "
                   "status)",
                   NULL);
        return;
    }
    const char *active = f->vc->pods[act].name;
    struct ep_addr addrs[EP_MAX];
    size_t n;
    int found;
    service_addresses(f, name, addrs, EP_MAX, &n, &found);
    struct dynbuf listed = {0};
    int count = 0, has_active = 0;
    for (size_t k = 0; k < n; k++) {
        if (!addrs[k].ready)
            continue;
        count++;
        list_item(&listed, addrs[k].pod ? addrs[k].pod : "?");
        if (addrs[k].pod != NULL && strcmp(addrs[k].pod, active) == 0)
            has_active = 1;
    }
    char label[64];
    snprintf(label, sizeof label, "%s-active", doctor_flavor_label(f));
    if (count == 1 && has_active) {
        doctor_add_owned(r, id, DOCTOR_OK, xfmt("%s lists %s, the active node", name, active),
                         NULL);
    } else if (count == 0) {
        doctor_add_owned(
            r, id, DOCTOR_ERROR,
            xfmt("%s lists no pod: its clients reach nothing, although %s is active "
                 "(stale %s labels, hashicorp/vault#18117)",
                 name, active, label),
            xfmt("kubectl -n %s label pod %s %s=true --overwrite", doctor_ns_of(f), active, label));
    } else {
        struct dynbuf wrong = {0}, fix = {0};
        for (size_t k = 0; k < n; k++) {
            if (!addrs[k].ready || addrs[k].pod == NULL || strcmp(addrs[k].pod, active) == 0)
                continue;
            list_item(&wrong, addrs[k].pod);
            dynbuf_addf(&fix, "%skubectl -n %s label pod %s %s=false --overwrite",
                        fix.len ? "; " : "", doctor_ns_of(f), addrs[k].pod, label);
        }
        if (!has_active)
            dynbuf_addf(&fix, "; kubectl -n %s label pod %s %s=true --overwrite", doctor_ns_of(f),
                        active, label);
        doctor_add_owned(
            r, id, DOCTOR_ERROR,
            xfmt("%s lists %s, but only %s is active: %s carr%s a stale %s=true label, so "
                 "clients reach a standby (hashicorp/vault#18117)",
                 name, dynbuf_str(&listed), active, dynbuf_str(&wrong),
                 strchr(dynbuf_str(&wrong), ',') ? "y" : "ies", label),
            fix.data ? strdup(fix.data) : NULL);
        dynbuf_free(&wrong);
        dynbuf_free(&fix);
    }
    dynbuf_free(&listed);
}

/* --- VHA-DNS: names from the pods ---------------------------------------------------------------
 */

#define DNS_LAG_S 60

void doctor_check_dns(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-DNS-001";
    const struct vault_cluster *vc = f->vc;
    struct dynbuf skipped = {0};
    int asked = 0, good = 0, problems = 0;
    const char *tool = NULL;
    for (size_t t = 0; t < vc->npods; t++) {
        const struct vault_pod *target = &vc->pods[t];
        if (!target->exists || target->pod_ip == NULL)
            continue;
        struct dynbuf nx = {0}, stale = {0};
        const char *name = NULL, *stale_ip = NULL, *detail = NULL;
        for (size_t s = 0; s < vc->npods; s++) {
            const struct doctor_pod *from = &f->pods[s];
            for (size_t k = 0; k < from->ndns; k++) {
                const struct doctor_dns *d = &from->dns[k];
                size_t pl = strlen(target->name);
                if (strncmp(d->name, target->name, pl) != 0 || d->name[pl] != '.')
                    continue;
                if (d->tool == NULL)
                    continue; /* reported below as skipped */
                asked++;
                tool = d->tool;
                name = d->name;
                if (d->ip == NULL) {
                    list_item(&nx, vc->pods[s].name);
                    if (detail == NULL)
                        detail = d->detail;
                } else if (strcmp(d->ip, target->pod_ip) != 0) {
                    list_item(&stale, vc->pods[s].name);
                    stale_ip = d->ip;
                } else {
                    good++;
                }
            }
        }
        time_t age = target->created > 0 ? f->now - target->created : 1000000;
        if (nx.len > 0) {
            problems++;
            if (age < DNS_LAG_S)
                doctor_add_owned(r, id, DOCTOR_WARN,
                                 xfmt("%s does not resolve yet from %s: %s started %lds ago and "
                                      "StatefulSet DNS can lag ~30 s (kubernetes/kubernetes#92559)",
                                      name, dynbuf_str(&nx), target->name, (long)age),
                                 xfmt("wait a minute and run %s doctor again", f->prog));
            else
                doctor_add_owned(
                    r, id, DOCTOR_ERROR,
                    xfmt("%s does not resolve from %s (%s): %s cannot be reached to join "
                         "or replicate",
                         name, dynbuf_str(&nx), detail ? detail : "no address", target->name),
                    xfmt("check that the headless service lists it (VHA-EP-001) and the "
                         "cluster DNS: kubectl -n kube-system get pods -l "
                         "k8s-app=kube-dns"));
        }
        if (stale.len > 0) {
            problems++;
            doctor_add_owned(
                r, id, DOCTOR_ERROR,
                xfmt("%s resolves to %s from %s, but %s's IP is %s: stale DNS", name, stale_ip,
                     dynbuf_str(&stale), target->name, target->pod_ip),
                xfmt("check the endpoints (VHA-EP-001); cached answers expire with their "
                     "TTL, restarting the cluster DNS pods clears them"));
        }
        dynbuf_free(&nx);
        dynbuf_free(&stale);
    }
    for (size_t s = 0; s < vc->npods; s++) {
        const struct doctor_pod *from = &f->pods[s];
        if (!from->asked)
            continue;
        char *why = NULL;
        if (from->exec_error != NULL)
            why = xfmt("%s (exec failed)", vc->pods[s].name);
        else if (from->no_shell)
            why = xfmt("%s (no shell in the image)", vc->pods[s].name);
        else
            for (size_t k = 0; k < from->ndns && why == NULL; k++)
                if (from->dns[k].tool == NULL)
                    why = xfmt("%s (neither nslookup nor getent in the image)", vc->pods[s].name);
        if (why != NULL)
            list_item(&skipped, why);
        free(why);
    }
    if (skipped.len > 0)
        doctor_add_owned(r, id, DOCTOR_SKIPPED,
                         xfmt("cannot look names up from %s", dynbuf_str(&skipped)), NULL);
    if (problems == 0 && asked > 0)
        doctor_add_owned(
            r, id, DOCTOR_OK,
            xfmt("every pod's <pod>.%s name resolves to its IP from the other pods (%d "
                 "lookups, %s)",
                 vc->service_name ? vc->service_name : "", good, tool),
            NULL);
    else if (problems == 0 && asked == 0 && skipped.len == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no running pod to look names up from", NULL);
    dynbuf_free(&skipped);
}

/* --- VHA-PVC: storage ---------------------------------------------------------------------------
 */

void doctor_check_pvcs(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-PVC-001";
    if (doctor_list_missing(f, DOCTOR_PVCS, id, r))
        return;
    json_t *templates = jpath(json_object_get(f->sts, "spec"), "volumeClaimTemplates", NULL);
    if (json_array_size(templates) == 0) {
        doctor_add(r, id, DOCTOR_WARN,
                   "the StatefulSet has no volumeClaimTemplates: raft data lives on the pod and "
                   "is lost with it",
                   "enable server.dataStorage in the chart (a PVC per pod)");
        return;
    }
    int bound = 0, problems = 0;
    struct dynbuf kinds = {0};
    const char *size = NULL;
    size_t ti;
    json_t *t;
    json_array_foreach(templates, ti, t)
    {
        const char *tn = jstr(jpath(t, "metadata", NULL), "name");
        if (tn == NULL)
            continue;
        list_item(&kinds, tn);
        for (size_t i = 0; i < f->vc->npods; i++) {
            const struct vault_pod *p = &f->vc->pods[i];
            if (p->ordinal < 0 || p->ordinal >= f->vc->replicas)
                continue;
            char claim[400];
            snprintf(claim, sizeof claim, "%s-%s", tn, p->name);
            json_t *pvc = doctor_find_named(f->lists[DOCTOR_PVCS].items, claim);
            const char *phase = jstr(jpath(pvc, "status", NULL), "phase");
            if (pvc == NULL) {
                if (!p->exists)
                    continue; /* created with the pod */
                problems++;
                doctor_add_owned(r, id, DOCTOR_ERROR,
                                 xfmt("PVC %s of %s does not exist", claim, p->name),
                                 xfmt("kubectl -n %s delete pod %s (the StatefulSet recreates the "
                                      "claim), then %s unseal %s",
                                      doctor_ns_of(f), p->name, f->prog, p->name));
            } else if (phase == NULL || strcmp(phase, "Bound") != 0) {
                problems++;
                doctor_add_owned(
                    r, id, DOCTOR_ERROR,
                    xfmt("PVC %s is %s, not Bound: %s cannot start", claim,
                         phase ? phase : "without a phase", p->name),
                    xfmt("kubectl -n %s describe pvc %s (storage class, capacity, zone)",
                         doctor_ns_of(f), claim));
            } else {
                bound++;
                size = jstr(jpath(jpath(pvc, "status", NULL), "capacity", NULL), "storage");
            }
        }
    }
    if (problems == 0)
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("%d PVCs (%s) are Bound%s%s%s", bound, dynbuf_str(&kinds),
                              size ? " (" : "", size ? size : "", size ? " each)" : ""),
                         NULL);
    dynbuf_free(&kinds);
}

void doctor_check_disk(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-PVC-002";
    int seen = 0, lo = 101, hi = -1, problems = 0;
    struct dynbuf skipped = {0};
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_pod *p = &f->pods[i];
        const char *name = f->vc->pods[i].name;
        if (!p->asked)
            continue;
        if (!p->have_df) {
            char *why = xfmt("%s (%s)", name,
                             p->exec_error ? "exec failed"
                             : p->no_shell ? "no shell in the image"
                             : p->df_error ? p->df_error
                                           : "no df output");
            list_item(&skipped, why);
            free(why);
            continue;
        }
        seen++;
        lo = p->df_percent < lo ? p->df_percent : lo;
        hi = p->df_percent > hi ? p->df_percent : hi;
        if (p->df_percent < 80)
            continue;
        problems++;
        char claim[400];
        snprintf(claim, sizeof claim, "data-%s", name);
        long long gib = (p->df_kib * 2 + (1 << 20) - 1) >> 20;
        doctor_add_owned(
            r, id, p->df_percent >= 95 ? DOCTOR_ERROR : DOCTOR_WARN,
            xfmt("%s's raft data volume is %d%% full (%lld of %lld MiB used)%s", name,
                 p->df_percent, p->df_used_kib >> 10, p->df_kib >> 10,
                 p->df_percent >= 95 ? ": Vault stops writing when it is full" : ""),
            xfmt("%s snapshot save backup.snap, then grow the claim: kubectl -n %s patch "
                 "pvc %s -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":"
                 "\"%lldGi\"}}}}' (the storage class must allow expansion)",
                 f->prog, doctor_ns_of(f), claim, gib < 1 ? 1 : gib));
    }
    if (skipped.len > 0)
        doctor_add_owned(r, id, DOCTOR_SKIPPED, xfmt("no fill level from %s", dynbuf_str(&skipped)),
                         NULL);
    if (problems == 0 && seen > 0)
        doctor_add_owned(r, id, DOCTOR_OK,
                         lo == hi ? xfmt("raft data volumes are %d%% full", lo)
                                  : xfmt("raft data volumes are %d%%-%d%% full", lo, hi),
                         NULL);
    else if (seen == 0 && skipped.len == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no running pod to ask", NULL);
    dynbuf_free(&skipped);
}

/* --- VHA-PLACE: placement ----------------------------------------------------------------------
 */

/* Voters: pods that are raft voters (from list-peers when read), else every pod that exists. */
static int is_voter(const struct doctor_facts *f, size_t i)
{
    const struct vault_pod *p = &f->vc->pods[i];
    if (!p->exists)
        return 0;
    if (!f->have_peers)
        return 1;
    for (size_t k = 0; k < f->peers.n; k++) {
        struct vault_pod *pp = cluster_pod_for_address(f->vc, f->peers.items[k].address);
        if (pp == p)
            return f->peers.items[k].voter;
    }
    return 0;
}

static int voter_count(const struct doctor_facts *f)
{
    if (f->have_peers) {
        int v = 0;
        for (size_t k = 0; k < f->peers.n; k++)
            v += f->peers.items[k].voter;
        return v;
    }
    return f->vc->replicas;
}

void doctor_check_nodes(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-PLACE-001";
    const struct vault_cluster *vc = f->vc;
    int voters = voter_count(f), tolerance = voters - doctor_quorum_of(voters), problems = 0,
        placed = 0;
    for (size_t i = 0; i < vc->npods; i++) {
        if (!is_voter(f, i) || vc->pods[i].node == NULL)
            continue;
        placed++;
        int first = 1, same = 0;
        struct dynbuf names = {0};
        for (size_t j = 0; j < vc->npods; j++) {
            if (!is_voter(f, j) || vc->pods[j].node == NULL ||
                strcmp(vc->pods[j].node, vc->pods[i].node) != 0)
                continue;
            if (j < i)
                first = 0;
            same++;
            list_item(&names, vc->pods[j].name);
        }
        if (first && same > 1) {
            problems++;
            int loses = same > tolerance;
            doctor_add_owned(
                r, id, loses ? DOCTOR_ERROR : DOCTOR_WARN,
                xfmt("voters %s run on the same node %s: losing it %s", dynbuf_str(&names),
                     vc->pods[i].node, loses ? "loses quorum" : "uses up the failure tolerance"),
                xfmt("require pod anti-affinity on kubernetes.io/hostname (the chart's "
                     "default server.affinity), then kubectl -n %s delete pod %s so it "
                     "moves, and %s unseal it",
                     doctor_ns_of(f), vc->pods[i].name, f->prog));
        }
        dynbuf_free(&names);
    }
    if (problems == 0 && placed > 0)
        doctor_add_owned(r, id, DOCTOR_OK, xfmt("%d voters on %d different nodes", placed, placed),
                         NULL);
    else if (placed == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no voter is scheduled on a node", NULL);
}

static const char *zone_of(const struct doctor_facts *f, const char *node)
{
    json_t *n = doctor_find_named(f->lists[DOCTOR_NODES].items, node);
    return jstr(jpath(jpath(n, "metadata", NULL), "labels", NULL), "topology.kubernetes.io/zone");
}

void doctor_check_zones(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-PLACE-002";
    if (doctor_list_missing(f, DOCTOR_NODES, id, r))
        return;
    /* Zones in the cluster, and of the voters' nodes. */
    int cluster_zones = 0;
    size_t i;
    json_t *n;
    const char *zones[64];
    json_array_foreach(f->lists[DOCTOR_NODES].items, i, n)
    {
        const char *z =
            jstr(jpath(jpath(n, "metadata", NULL), "labels", NULL), "topology.kubernetes.io/zone");
        int dup = 0;
        for (int k = 0; z != NULL && k < cluster_zones; k++)
            dup |= strcmp(zones[k], z) == 0;
        if (z != NULL && !dup && cluster_zones < 64)
            zones[cluster_zones++] = z;
    }
    if (cluster_zones == 0) {
        doctor_add(r, id, DOCTOR_SKIPPED,
                   "no node carries the topology.kubernetes.io/zone label: zones unknown", NULL);
        return;
    }
    const struct vault_cluster *vc = f->vc;
    int voters = voter_count(f), quorum = doctor_quorum_of(voters), placed = 0, used = 0;
    struct dynbuf unknown = {0}, spread = {0};
    const char *worst = NULL;
    int worst_count = 0;
    for (int z = 0; z < cluster_zones; z++) {
        int count = 0;
        for (size_t k = 0; k < vc->npods; k++) {
            if (!is_voter(f, k) || vc->pods[k].node == NULL)
                continue;
            const char *vz = zone_of(f, vc->pods[k].node);
            if (vz != NULL && strcmp(vz, zones[z]) == 0)
                count++;
        }
        if (count == 0)
            continue;
        used++;
        placed += count;
        dynbuf_addf(&spread, "%s%s %d", spread.len ? ", " : "", zones[z], count);
        if (count > worst_count) {
            worst_count = count;
            worst = zones[z];
        }
    }
    for (size_t k = 0; k < vc->npods; k++)
        if (is_voter(f, k) && vc->pods[k].node != NULL && zone_of(f, vc->pods[k].node) == NULL)
            list_item(&unknown, vc->pods[k].name);
    if (unknown.len > 0)
        doctor_add_owned(
            r, id, DOCTOR_WARN,
            xfmt("the nodes of %s carry no topology.kubernetes.io/zone label: their zone is "
                 "unknown",
                 dynbuf_str(&unknown)),
            NULL);
    /* With fewer than 3 zones no placement survives the loss of one: a recommendation about
     * the cluster, not something the pods can fix. */
    if (worst != NULL && voters - worst_count < quorum)
        doctor_add_owned(
            r, id, cluster_zones < 3 ? DOCTOR_ADVICE : DOCTOR_WARN,
            xfmt("losing zone %s loses quorum: voters per zone %s (quorum %d)%s", worst,
                 dynbuf_str(&spread), quorum,
                 cluster_zones < 3 ? "; the cluster has fewer than 3 zones" : ""),
            xfmt("spread the pods over %s zones: a topologySpreadConstraint on "
                 "topology.kubernetes.io/zone with maxSkew 1 (server.topologySpreadConstraints), "
                 "then move pods one at a time (delete, unseal)",
                 cluster_zones < 3 ? "3 or more" : "the"));
    else if (unknown.len == 0 && placed > 0)
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("%d voters in %d zones (%s): losing one zone keeps quorum", placed,
                              used, dynbuf_str(&spread)),
                         NULL);
    dynbuf_free(&unknown);
    dynbuf_free(&spread);
}

void doctor_check_pdb(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-PLACE-003";
    if (doctor_list_missing(f, DOCTOR_PDBS, id, r))
        return;
    const struct vault_cluster *vc = f->vc;
    int voters = voter_count(f), tolerance = voters - doctor_quorum_of(voters), found = 0;
    size_t i;
    json_t *pdb;
    json_array_foreach(f->lists[DOCTOR_PDBS].items, i, pdb)
    {
        json_t *sel = jpath(jpath(pdb, "spec", NULL), "selector", "matchLabels");
        int covers = 1, any = 0;
        for (size_t k = 0; k < vc->npods; k++) {
            if (!vc->pods[k].exists)
                continue;
            any = 1;
            covers &= doctor_selects(sel, doctor_pod_labels(f, vc->pods[k].name));
        }
        if (!any || !covers)
            continue;
        found++;
        const char *name = jstr(jpath(pdb, "metadata", NULL), "name");
        json_t *mu = jpath(jpath(pdb, "spec", NULL), "maxUnavailable", NULL);
        json_t *ma = jpath(jpath(pdb, "spec", NULL), "minAvailable", NULL);
        long max_un = -1;
        int replicas = vc->replicas;
        if (json_is_integer(mu))
            max_un = (long)json_integer_value(mu);
        else if (json_is_string(mu)) /* a percentage, rounded up */
            max_un = (atol(json_string_value(mu)) * replicas + 99) / 100;
        else if (json_is_integer(ma))
            max_un = replicas - (long)json_integer_value(ma);
        else if (json_is_string(ma))
            max_un = replicas - (atol(json_string_value(ma)) * replicas + 99) / 100;
        char *fix = xfmt("kubectl -n %s patch pdb %s --type merge -p "
                         "'{\"spec\":{\"maxUnavailable\":1,\"minAvailable\":null}}'",
                         doctor_ns_of(f), name ? name : "?");
        if (max_un < 0)
            doctor_add_owned(
                r, id, DOCTOR_WARN,
                xfmt("PodDisruptionBudget %s sets neither maxUnavailable nor minAvailable", name),
                fix),
                fix = NULL;
        else if (max_un == 0)
            doctor_add_owned(
                r, id, DOCTOR_WARN,
                xfmt("PodDisruptionBudget %s allows no pod down: node drains never finish", name),
                fix),
                fix = NULL;
        else if (max_un > tolerance)
            doctor_add_owned(
                r, id, DOCTOR_ERROR,
                xfmt("PodDisruptionBudget %s lets %ld pods go down at once: evictions can "
                     "take quorum (%d voters tolerate %d)",
                     name, max_un, voters, tolerance),
                fix),
                fix = NULL;
        else if (max_un > 1)
            doctor_add_owned(
                r, id, DOCTOR_WARN,
                xfmt("PodDisruptionBudget %s lets %ld pods go down at once: a drain can use "
                     "up the whole failure tolerance",
                     name, max_un),
                fix),
                fix = NULL;
        else
            doctor_add_owned(
                r, id, DOCTOR_OK,
                xfmt("PodDisruptionBudget %s allows 1 server pod down at a time", name), NULL);
        free(fix);
    }
    if (found == 0) {
        char *sel =
            doctor_selector_text(jpath(jpath(f->sts, "spec", NULL), "selector", "matchLabels"));
        doctor_add_owned(
            r, id, DOCTOR_WARN,
            xfmt("no PodDisruptionBudget covers the server pods: a node drain may evict "
                 "several voters at once"),
            xfmt("kubectl -n %s create poddisruptionbudget %s --selector=%s "
                 "--max-unavailable=1",
                 doctor_ns_of(f), vc->name, sel));
        free(sel);
    }
}
