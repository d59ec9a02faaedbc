/* doctor: the checks of raft and autopilot, versions, the seal and the vault-* labels
 * (lib/doctor.h). */
#include "doctor_internal.h"
#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* --- VHA-RAFT: raft and autopilot
 * ----------------------------------------------------------------- */

/* Skipped without a token or when the raft state could not be read; returns 1 then. */
static int raft_missing(const struct doctor_facts *f, const char *id, struct doctor_report *r,
                        int need_autopilot)
{
    if (f->raft_skip != NULL) {
        doctor_add(r, id, DOCTOR_SKIPPED, f->raft_skip,
                   "set VAULT_TOKEN or use --token-file FILE (a token that may read "
                   "sys/storage/raft/*)");
        return 1;
    }
    if (need_autopilot && !f->have_autopilot) {
        doctor_add_owned(r, id, DOCTOR_SKIPPED,
                         xfmt("autopilot state not read: %s", f->autopilot_error
                                                                  ? f->autopilot_error
                                                              : f->raft_error ? f->raft_error
                                                                              : "no answer"),
                         NULL);
        return 1;
    }
    if (!need_autopilot && !f->have_peers) {
        doctor_add_owned(
            r, id, DOCTOR_SKIPPED,
            xfmt("raft peers not read: %s", f->raft_error ? f->raft_error : "no answer"), NULL);
        return 1;
    }
    return 0;
}

static const char *server_pod(const struct doctor_facts *f, const struct vault_autopilot_server *s)
{
    struct vault_pod *p = cluster_pod_for_address(f->vc, s->address);
    return p && p->exists ? p->name : NULL;
}

void doctor_check_autopilot(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-RAFT-001";
    if (raft_missing(f, id, r, 1))
        return;
    const struct vault_autopilot *ap = &f->autopilot;
    if (!ap->healthy) {
        struct dynbuf bad = {0};
        for (size_t i = 0; i < ap->n; i++)
            if (!ap->servers[i].healthy) {
                const char *pod = server_pod(f, &ap->servers[i]);
                char *x = xfmt("%s (%s)", pod ? pod : ap->servers[i].id,
                               ap->servers[i].node_status ? ap->servers[i].node_status : "?");
                list_item(&bad, x);
                free(x);
            }
        doctor_add_owned(
            r, id, DOCTOR_ERROR,
            xfmt("autopilot reports the cluster unhealthy (failure tolerance %d)%s%s",
                 ap->failure_tolerance, bad.len ? ": " : "", dynbuf_str(&bad)),
            xfmt("%s status shows what each pod needs; VHA-RAFT-002 names dead servers", f->prog));
        dynbuf_free(&bad);
    } else if (ap->failure_tolerance < 1) {
        doctor_add_owned(
            r, id, DOCTOR_WARN,
            xfmt("autopilot: healthy, but failure tolerance %d: losing one more voter "
                 "loses quorum",
                 ap->failure_tolerance),
            xfmt("run an odd number of at least 3 voters (VHA-STS-001), all unsealed"));
    } else {
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("autopilot: healthy, failure tolerance %d", ap->failure_tolerance),
                         NULL);
    }
}

/* Dead raft servers: (address, node id, pod or NULL, status). */
void doctor_check_dead_servers(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-RAFT-002";
    if (raft_missing(f, id, r, 0))
        return;
    int problems = 0;
    for (size_t k = 0; k < f->peers.n; k++) {
        const struct vault_peer *peer = &f->peers.items[k];
        struct vault_pod *pod = cluster_pod_for_address(f->vc, peer->address);
        const char *status = NULL;
        for (size_t i = 0; f->have_autopilot && i < f->autopilot.n; i++)
            if (f->autopilot.servers[i].id && peer->node_id &&
                strcmp(f->autopilot.servers[i].id, peer->node_id) == 0)
                status = f->autopilot.servers[i].node_status;
        if (pod == NULL || !pod->exists) {
            problems++;
            doctor_add_owned(r, id, DOCTOR_ERROR,
                             xfmt("raft %s %s (%s) has no pod: a dead server that eats failure "
                                  "tolerance%s%s",
                                  peer->voter ? "voter" : "server", peer->node_id, peer->address,
                                  status ? ", autopilot: " : "", status ? status : ""),
                             xfmt("%s remove-peer %s", f->prog, peer->node_id));
        } else if (status != NULL && strcmp(status, "alive") != 0) {
            problems++;
            doctor_add_owned(
                r, id, DOCTOR_ERROR,
                xfmt("raft server %s (%s) is %s", peer->node_id, pod->name, status),
                xfmt("%s status shows why (sealed: %s unseal %s)", f->prog, f->prog, pod->name));
        }
    }
    if (problems == 0)
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("all %zu raft servers are alive and have a pod", f->peers.n), NULL);
}

/* Seconds as a Go duration prints them: 500ms, 10s, 1m30s. Beyond a Go duration's range
 * (never from doctor_go_duration) in plain seconds: no conversion to an integer overflows. */
static void duration_text(char *buf, size_t cap, double s)
{
    if (s < 1)
        snprintf(buf, cap, "%.0fms", s * 1000);
    else if (s < 60)
        snprintf(buf, cap, "%gs", s);
    else if (s <= DOCTOR_DURATION_MAX_S) {
        long long m = (long long)(s / 60);
        snprintf(buf, cap, "%lldm%gs", m, s - 60.0 * (double)m);
    } else
        snprintf(buf, cap, "%.0fs", s);
}

void doctor_check_non_voters(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-RAFT-003";
    if (raft_missing(f, id, r, 1))
        return;
    double stab = f->have_autopilot_config && f->autopilot_config.server_stabilization_s >= 0
                      ? f->autopilot_config.server_stabilization_s
                      : 10.0; /* autopilot's default */
    char stab_text[32];
    duration_text(stab_text, sizeof stab_text, stab);
    int non_voters = 0, problems = 0;
    for (size_t i = 0; i < f->autopilot.n; i++) {
        const struct vault_autopilot_server *s = &f->autopilot.servers[i];
        if (s->status == NULL || strcmp(s->status, "non-voter") != 0)
            continue;
        non_voters++;
        time_t since = 0;
        if (s->stable_since == NULL || clock_parse_rfc3339(s->stable_since, &since) < 0)
            since = 0;
        double age = since > 0 ? difftime(f->now, since) : -1;
        const char *pod = server_pod(f, s);
        /* A few seconds of slack for the time between the check and the read. */
        if (age > stab + 5) {
            problems++;
            doctor_add_owned(
                r, id, DOCTOR_WARN,
                xfmt("%s has been a non-voter for %.0fs, longer than autopilot's "
                     "server_stabilization_time (%s): it does not count for quorum and "
                     "is not being promoted",
                     pod ? pod : s->id, age, stab_text),
                xfmt("%s status shows its state; a node joined with -non-voter stays one: "
                     "%s remove-peer %s, then %s join %s",
                     f->prog, f->prog, s->id, f->prog, pod ? pod : ""));
        }
    }
    if (problems == 0)
        doctor_add_owned(r, id, DOCTOR_OK,
                         non_voters == 0
                             ? xfmt("every raft server is a voter")
                             : xfmt("%d non-voter%s younger than the stabilization time (%s): "
                                    "autopilot promotes %s",
                                    non_voters, non_voters == 1 ? "" : "s", stab_text,
                                    non_voters == 1 ? "it" : "them"),
                         NULL);
}

void doctor_check_index_lag(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-RAFT-004";
    int act = doctor_active_index(f);
    if (act < 0) {
        doctor_add(r, id, DOCTOR_SKIPPED, "no pod reports itself active: no leader to compare with",
                   NULL);
        return;
    }
    long long leader = f->pods[act].st.raft_applied_index;
    long long limit = f->have_autopilot_config && f->autopilot_config.max_trailing_logs > 0
                          ? f->autopilot_config.max_trailing_logs
                          : 1000; /* autopilot's max_trailing_logs default */
    long long worst = 0;
    int followers = 0, problems = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_pod *p = &f->pods[i];
        if ((int)i == act || !p->have_status || p->st.sealed || p->st.raft_applied_index <= 0)
            continue;
        followers++;
        long long lag = leader - p->st.raft_applied_index;
        if (lag > worst)
            worst = lag;
        if (lag > limit) {
            problems++;
            doctor_add_owned(
                r, id, DOCTOR_WARN,
                xfmt("%s's applied index %lld trails the leader %s (%lld) by %lld entries, "
                     "more than max_trailing_logs (%lld)",
                     f->vc->pods[i].name, p->st.raft_applied_index, f->vc->pods[act].name, leader,
                     lag, limit),
                xfmt("look at its log for replication errors: kubectl -n %s logs %s; a "
                     "follower that cannot catch up is replaced by deleting the pod and "
                     "its PVC, then %s join",
                     doctor_ns_of(f), f->vc->pods[i].name, f->prog));
        }
    }
    if (problems == 0 && followers > 0)
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("followers are within %lld entr%s of the leader's applied index %lld",
                              worst, worst == 1 ? "y" : "ies", leader),
                         NULL);
    else if (followers == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no unsealed follower to compare", NULL);
}

void doctor_check_cleanup_dead_servers(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-RAFT-005";
    if (f->raft_skip != NULL) {
        raft_missing(f, id, r, 0);
        return;
    }
    if (!f->have_autopilot_config) {
        doctor_add_owned(r, id, DOCTOR_SKIPPED,
                         xfmt("autopilot configuration not read: %s",
                              f->autopilot_config_error ? f->autopilot_config_error : "no answer"),
                         NULL);
        return;
    }
    const struct doctor_autopilot_config *c = &f->autopilot_config;
    int dead = 0;
    const char *dead_id = NULL;
    for (size_t k = 0; f->have_peers && k < f->peers.n; k++) {
        struct vault_pod *pod = cluster_pod_for_address(f->vc, f->peers.items[k].address);
        if (pod == NULL || !pod->exists) {
            dead++;
            dead_id = f->peers.items[k].node_id;
        }
    }
    int replicas = f->vc->replicas;
    if (!c->cleanup_dead_servers && dead > 0)
        doctor_add_owned(
            r, id, DOCTOR_WARN,
            xfmt("autopilot's cleanup_dead_servers is off, so dead servers (%d) stay voters "
                 "until removed by hand",
                 dead),
            xfmt("%s remove-peer %s; to automate it: vault operator raft autopilot "
                 "set-config -cleanup-dead-servers=true -min-quorum=%d",
                 f->prog, dead_id, replicas));
    else if (!c->cleanup_dead_servers)
        doctor_add_owned(
            r, id, DOCTOR_OK,
            xfmt("autopilot's cleanup_dead_servers is off: a dead server stays a voter until "
                 "you remove it (remove-peer); 'vault operator raft autopilot set-config "
                 "-cleanup-dead-servers=true -min-quorum=%d' automates that",
                 replicas),
            NULL);
    else if (c->min_quorum < 3 || c->min_quorum < replicas)
        doctor_add_owned(
            r, id, DOCTOR_WARN,
            xfmt("autopilot's cleanup_dead_servers is on with min_quorum %d: during an "
                 "outage it may prune the cluster below %d voters",
                 c->min_quorum, replicas),
            xfmt("vault operator raft autopilot set-config -min-quorum=%d",
                 replicas < 3 ? 3 : replicas));
    else
        doctor_add_owned(
            r, id, DOCTOR_OK,
            xfmt("autopilot removes dead servers, keeping at least %d voters", c->min_quorum),
            NULL);
}

/* --- VHA-VER: versions and seal -----------------------------------------------------------------
 */

static const char *pod_version(const struct doctor_facts *f, size_t i)
{
    const struct doctor_pod *p = &f->pods[i];
    if (p->have_status && p->st.version != NULL && p->st.version[0] != '\0')
        return p->st.version;
    return NULL;
}

void doctor_check_versions(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-VER-001";
    const char *first = NULL;
    int skew = 0, seen = 0;
    struct dynbuf list = {0};
    for (size_t i = 0; i < f->vc->npods; i++) {
        const char *v = pod_version(f, i);
        if (v == NULL)
            continue;
        seen++;
        char *x = xfmt("%s %s", f->vc->pods[i].name, v);
        list_item(&list, x);
        free(x);
        if (first == NULL)
            first = v;
        else if (strcmp(first, v) != 0)
            skew = 1;
    }
    if (seen == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no pod reported its version", NULL);
    else if (skew)
        doctor_add_owned(
            r, id, DOCTOR_WARN,
            xfmt("the pods run different versions: %s (an upgrade is half done)",
                 dynbuf_str(&list)),
            xfmt("finish it with `%s upgrade` (one pod at a time, standbys first, the active "
                 "pod last)",
                 f->prog));
    else
        doctor_add_owned(r, id, DOCTOR_OK, xfmt("every pod runs %s %s", f->vc->flavor, first),
                         NULL);
    dynbuf_free(&list);
}

/* Versions compared the way the labels write them: "+" → "-", no leading "v". */
static int same_version(const char *tag, const char *version)
{
    if (*tag == 'v')
        tag++;
    if (*version == 'v')
        version++;
    for (; *tag && *version; tag++, version++) {
        char a = *tag == '+' ? '-' : *tag, b = *version == '+' ? '-' : *version;
        if (a != b)
            return 0;
    }
    /* A tag may carry a suffix the version does not (1.21.2-ubi, 1.21.2-ent). */
    return *version == '\0' && (*tag == '\0' || *tag == '-');
}

void doctor_check_image_tags(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-VER-002";
    int checked = 0, problems = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const char *v = pod_version(f, i);
        const struct vault_pod *p = &f->vc->pods[i];
        char *tag = cluster_image_tag(p->image);
        if (v == NULL || tag == NULL) {
            free(tag);
            continue;
        }
        checked++;
        if (strcmp(tag, "latest") == 0) {
            problems++;
            doctor_add_owned(r, id, DOCTOR_WARN,
                             xfmt("%s runs %s: \"latest\" changes under you at the next pull",
                                  p->name, p->image),
                             xfmt("pin the version it runs: server.image.tag=%s", v));
        } else if (!same_version(tag, v)) {
            problems++;
            doctor_add_owned(
                r, id, DOCTOR_WARN,
                xfmt("%s runs image %s but reports version %s: the tag does not say what "
                     "runs",
                     p->name, p->image, v),
                xfmt("pin server.image.tag to the version you mean to run and restart %s",
                     p->name));
        }
        free(tag);
    }
    if (checked == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no pod reported its version", NULL);
    else if (problems == 0)
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("the image tags match the versions %d pods report", checked), NULL);
}

void doctor_check_seal(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-VER-003";
    const char *type = NULL;
    int initialized = 0, t = 0, n = 0;
    struct dynbuf sealed = {0};
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct doctor_pod *p = &f->pods[i];
        if (!p->have_status || !p->st.initialized || p->st.type == NULL)
            continue;
        initialized++;
        if (type == NULL) {
            type = p->st.type;
            t = p->st.t;
            n = p->st.n;
        }
        if (p->st.sealed)
            list_item(&sealed, f->vc->pods[i].name);
    }
    if (initialized == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no pod is initialized: no seal to look at", NULL);
    else if (strcmp(type, "shamir") == 0) /* the runbook's choice: a recommendation */
        doctor_add_owned(
            r, id, DOCTOR_ADVICE,
            xfmt("Shamir seal: every pod restart (node drain, upgrade, crash) stays sealed "
                 "until %d of the %d key holders unseal it",
                 t, n),
            xfmt("auto-unseal: add a seal stanza (awskms, gcpckms, azurekeyvault or "
                 "transit) to the config and run vault operator unseal -migrate on each "
                 "pod"));
    else if (sealed.len > 0)
        doctor_add_owned(
            r, id, DOCTOR_ERROR,
            xfmt("%s %s sealed although the seal is %s (auto-unseal): the seal cannot be "
                 "reached",
                 dynbuf_str(&sealed), strchr(dynbuf_str(&sealed), ',') ? "are" : "is", type),
            xfmt("look for the seal's error in the pod log (kubectl -n %s logs %s | grep "
                 "-i seal): credentials, network, key permissions",
                 doctor_ns_of(f), dynbuf_str(&sealed)));
    else
        doctor_add_owned(r, id, DOCTOR_OK,
                         xfmt("auto-unseal (%s): every initialized pod unsealed itself", type),
                         NULL);
    dynbuf_free(&sealed);
}

/* --- VHA-LBL: labels against Vault
 * ---------------------------------------------------------------- */

void doctor_check_labels(const struct doctor_facts *f, struct doctor_report *r)
{
    const char *id = "VHA-LBL-001";
    const char *fl = doctor_flavor_label(f);
    int checked = 0, problems = 0, unlabelled = 0;
    for (size_t i = 0; i < f->vc->npods; i++) {
        const struct vault_pod *p = &f->vc->pods[i];
        const struct doctor_pod *d = &f->pods[i];
        if (!d->have_status)
            continue;
        checked++;
        if (p->label_sealed == TRI_UNKNOWN && p->label_active == TRI_UNKNOWN &&
            p->label_initialized == TRI_UNKNOWN) {
            unlabelled++;
            continue;
        }
        struct dynbuf bad = {0}, fix = {0};
        struct {
            const char *key;
            enum tristate label;
            int truth;
        } rows[] = {
            {"sealed", p->label_sealed, d->st.sealed != 0},
            {"active", p->label_active, vault_status_is_active(&d->st)},
            {"initialized", p->label_initialized, d->st.initialized != 0},
        };
        for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
            if (rows[k].label == TRI_UNKNOWN || (rows[k].label == TRI_TRUE) == rows[k].truth)
                continue;
            char *x =
                xfmt("%s-%s=%s", fl, rows[k].key, rows[k].label == TRI_TRUE ? "true" : "false");
            list_item(&bad, x);
            free(x);
            dynbuf_addf(&fix, " %s-%s=%s", fl, rows[k].key, rows[k].truth ? "true" : "false");
        }
        if (bad.len > 0) {
            problems++;
            doctor_add_owned(
                r, id, DOCTOR_WARN,
                xfmt("%s is labelled %s, but its vault status says %s, %s%s: the "
                     "%s-active and -standby Services route by these labels "
                     "(hashicorp/vault#18117)",
                     p->name, dynbuf_str(&bad), d->st.sealed ? "sealed" : "unsealed",
                     vault_status_is_active(&d->st) ? "active" : "not active",
                     d->st.initialized ? "" : ", not initialized", f->vc->name),
                xfmt("kubectl -n %s label pod %s%s --overwrite (Vault writes them again at "
                     "its next change)",
                     doctor_ns_of(f), p->name, dynbuf_str(&fix)));
        }
        dynbuf_free(&bad);
        dynbuf_free(&fix);
    }
    if (unlabelled > 0)
        doctor_add_owned(r, id, DOCTOR_WARN,
                         xfmt("%d pod%s carr%s no %s-* labels: without service_registration "
                              "\"kubernetes\" the %s-active Service selects nothing",
                              unlabelled, unlabelled == 1 ? "" : "s", unlabelled == 1 ? "ies" : "y",
                              fl, f->vc->name),
                         xfmt("add service_registration \"kubernetes\" {} to the server config"));
    if (checked == 0)
        doctor_add(r, id, DOCTOR_SKIPPED, "no pod answered vault status", NULL);
    else if (problems == 0 && unlabelled == 0)
        doctor_add_owned(
            r, id, DOCTOR_OK,
            xfmt("the %s-* labels of %d pods agree with their vault status", fl, checked), NULL);
}
