/* doctor's internal header: what the parts of lib/doctor share (the public one is
 * doctor.h). The parts: doctor_parse.c (what pods print, the server config),
 * doctor_kube.c (the Kubernetes objects: StatefulSet, services, endpoints, DNS,
 * storage, placement), doctor_vault.c (raft, autopilot, versions, seal,
 * labels), doctor_tls.c (certificates, with OpenSSL) and doctor_report.c
 * (findings, the table of checks and what the checks share). */
#ifndef VH_DOCTOR_INTERNAL_H
#define VH_DOCTOR_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "doctor.h"
#include "dynbuf.h"
#include "json.h"

/* --- small helpers (each part gets its own copy) ------------------------------------------- */

/* Appends item to a ", "-separated list. */
static inline void list_item(struct dynbuf *b, const char *item)
{
    dynbuf_addf(b, "%s%s", b->len ? ", " : "", item);
}

static inline char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *xfmt(const char *fmt, ...)
{
    struct dynbuf b = {0};
    va_list ap;
    va_start(ap, fmt);
    dynbuf_vaddf(&b, fmt, ap);
    va_end(ap);
    return dynbuf_take(&b);
}

static inline char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* --- doctor_report.c: findings and what the checks share ------------------------------- */

void doctor_add_owned(struct doctor_report *r, const char *id, enum doctor_level level, char *msg,
                      char *fix);
const char *doctor_ns_of(const struct doctor_facts *f);
const char *doctor_internal_name(const struct doctor_facts *f, char *buf, size_t cap);
json_t *doctor_pod_labels(const struct doctor_facts *f, const char *name);
int doctor_selects(json_t *selector, json_t *labels);
char *doctor_selector_text(json_t *selector);
json_t *doctor_find_named(json_t *items, const char *name);
int doctor_list_missing(const struct doctor_facts *f, enum doctor_list_kind k, const char *id,
                        struct doctor_report *r);
int doctor_count_existing(const struct vault_cluster *vc);
int doctor_active_index(const struct doctor_facts *f);
int doctor_is_shamir(const struct doctor_facts *f);
int doctor_quorum_of(int voters);
const char *doctor_flavor_label(const struct doctor_facts *f);

/* --- doctor_parse.c: pod output and server config -------------------------------------- */

char *doctor_first_line(const char *text);
int doctor_truthy(const char *v);

/* --- doctor_kube.c: the checks of Kubernetes objects ----------------------------------- */

void doctor_check_replicas(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_pod_management(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_update_strategy(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_revisions(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_internal_service(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_publish_not_ready(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_active_standby_services(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_other_publish(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_internal_endpoints(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_active_endpoints(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_dns(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_pvcs(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_disk(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_nodes(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_zones(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_pdb(const struct doctor_facts *f, struct doctor_report *r);

/* --- doctor_vault.c: the checks of raft, autopilot, versions, seal and labels ---------- */

void doctor_check_autopilot(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_dead_servers(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_non_voters(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_index_lag(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_cleanup_dead_servers(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_versions(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_image_tags(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_seal(const struct doctor_facts *f, struct doctor_report *r);
/* doctor_seal.c */
void doctor_check_seal_config(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_labels(const struct doctor_facts *f, struct doctor_report *r);

/* --- doctor_tls.c: the certificate checks ---------------------------------------------- */

void doctor_check_tls_names(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_tls_expiry(const struct doctor_facts *f, struct doctor_report *r);
void doctor_check_tls_ca(const struct doctor_facts *f, struct doctor_report *r);

#endif
