/* doctor: what is wrong around a Vault HA cluster, and the fix. Two halves
 * (docs/design.md §4.1 "Gather once, judge purely"):
 *
 * Gathering (doctor_gather, the only I/O): one parallel pass collects the
 * facts. The API lists (Services, Endpoints, EndpointSlices, PVCs, Nodes,
 * PodDisruptionBudgets) run in threads while the StatefulSet and its pods are
 * found; then one exec per running pod runs a small shell script that reports
 * `vault status`, DNS lookups of the other pods' <pod>.<service> names (busybox
 * nslookup, else getent), `df` of the data volume, the server config and the
 * certificate files it names; with a token, list-peers and autopilot state
 * and configuration run in the same batch. A list RBAC denies is recorded as
 * "list services", a pod without a shell as such: the checks that need them
 * say `skipped` and why.
 *
 * Judging (doctor_judge): a table of checks, each a pure function from the
 * facts to findings {id, level, message, fix}. No I/O, so each check is
 * tested on canned facts. */
#ifndef VH_DOCTOR_H
#define VH_DOCTOR_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "cluster.h"
#include "error.h"
#include "kube.h"
#include "secret.h"
#include "vault.h"

/* Ordered by weight. Advice is a recommendation about a setup that works (the chart's
 * defaults, Shamir rather than auto-unseal): shown and counted, but it leaves the exit code
 * at 0 unless --strict makes it a warning; so that the exit code of a default install says
 * something when a real warning comes. */
enum doctor_level {
    DOCTOR_OK = 0,
    DOCTOR_SKIPPED,
    DOCTOR_ADVICE,
    DOCTOR_WARN,
    DOCTOR_ERROR,
    DOCTOR_NLEVELS,
};

const char *doctor_level_name(enum doctor_level l);

/* --- facts --------------------------------------------------------------------------------- */

/* One API list: its items, or why there are none. */
struct doctor_list {
    json_t *items;  /* array (new reference), NULL when not read */
    char *denied;   /* RBAC: "list" on "services" ... e.g. `list services`, else NULL */
    char *error;    /* any other failure, else NULL */
    int not_served; /* 404: the API server does not serve this resource (old cluster) */
};

enum doctor_list_kind {
    DOCTOR_SERVICES,
    DOCTOR_ENDPOINTS,
    DOCTOR_ENDPOINTSLICES,
    DOCTOR_PVCS,
    DOCTOR_NODES,
    DOCTOR_PDBS,
    DOCTOR_NLISTS,
};

/* The resource and API group of each list, and its RBAC verb ("list"). */
const char *doctor_list_resource(enum doctor_list_kind k);

/* One lookup from a pod: the name asked, what answered and what it said. */
struct doctor_dns {
    char *name;    /* <pod>.<service> */
    char *tool;    /* nslookup or getent; NULL when the pod has neither */
    int exit_code; /* of the tool */
    char *ip;      /* the first address it gave for the name, NULL when none */
    char *detail;  /* first meaningful line of a failure (NXDOMAIN ...), or NULL */
};

/* A file the script read from a pod (certificate, CA). */
struct doctor_file {
    char *key;  /* tls_cert_file, leader_ca_cert_file or cacert_env */
    char *path; /* in the pod */
    char *text; /* what cat printed (the PEM, or cat's error) */
    int exit_code;
};

/* What one pod said: its exec, `vault status`, DNS, df, config and files. */
struct doctor_pod {
    int asked;        /* the pod runs: an exec was made */
    char *exec_error; /* the exec did not run (the API's or kubelet's message) */
    int no_shell;     /* the image has no /bin/sh: only `vault status` was read */
    int have_status;
    struct vault_status st;
    char *status_error;
    struct doctor_dns *dns;
    size_t ndns;
    int have_df;
    long long df_kib, df_used_kib;
    int df_percent; /* df's Capacity column */
    char *df_error;
    char *config; /* the server config text, NULL when not read */
    char *config_error;
    struct doctor_file *files;
    size_t nfiles;
};

/* `vault operator raft autopilot get-config -format=json`. */
struct doctor_autopilot_config {
    int cleanup_dead_servers;
    int min_quorum;
    long long max_trailing_logs;
    double server_stabilization_s; /* Go duration, in seconds */
};

struct doctor_facts {
    time_t now;
    const char *prog; /* "kubectl vault-ha", for fixes */
    struct vault_cluster *vc;
    json_t *sts;      /* the StatefulSet object */
    json_t *pod_list; /* the PodList of its pods */
    struct doctor_list lists[DOCTOR_NLISTS];
    struct doctor_pod *pods; /* vc->npods entries, same order as vc->pods */
    /* With a token (raft_skip NULL): what list-peers and autopilot said. */
    const char *raft_skip; /* why the token checks could not run */
    char *raft_error;      /* list-peers failed: why */
    const char *raft_pod;  /* the pod asked */
    int have_peers;
    struct vault_peers peers;
    int have_autopilot;
    struct vault_autopilot autopilot;
    char *autopilot_error;
    int have_autopilot_config;
    struct doctor_autopilot_config autopilot_config;
    char *autopilot_config_error;
};

void doctor_facts_clear(struct doctor_facts *f);

/* The pod's script and how to parse what it printed (pure; for tests). The
 * script is argv[2] of `sh -c SCRIPT vault-ha-doctor MARKER CLI DATA_DIR
 * CONFIG_FILE NAMES`: it prints sections "\n<MARKER> <what> <args>\n". */
extern const char doctor_pod_script[];
int doctor_parse_pod_output(const char *out, size_t len, const char *marker,
                            const char *status_stderr, struct doctor_pod *p, struct error *err);
void doctor_pod_clear(struct doctor_pod *p);

/* busybox/bind nslookup or getent output: the first address given for the
 * name asked (after the "Name:" line, not the server's); NULL when none. */
char *doctor_dns_address(const char *tool, const char *text);
/* df -P output: size, used and capacity of the last line. */
int doctor_parse_df(const char *text, long long *kib, long long *used_kib, int *percent);
/* Autopilot's get-config JSON (empty output: the CLI hides a failed request). */
int doctor_parse_autopilot_config(const char *out, size_t len, struct doctor_autopilot_config *c,
                                  struct error *err);
/* Go duration ("10s", "1m30s", "500ms", "24h0m0s") in seconds; -1 when malformed or longer
 * than a Go duration can be (DOCTOR_DURATION_MAX_S, about 292 years). */
#define DOCTOR_DURATION_MAX_S 9223372036.854775807
double doctor_go_duration(const char *s);

/* Server config (HCL, or JSON) helpers: the value of the first `key = ...` /
 * `"key": ...` outside comments, unquoted and unescaped, or NULL. */
char *doctor_config_value(const char *config, const char *key);
/* The word appears as a key outside comments (e.g. retry_join). */
int doctor_config_has(const char *config, const char *key);

/* --- gathering ------------------------------------------------------------------------------ */

struct doctor_gather_options {
    struct cluster_query q;
    const struct secret *token; /* NULL: no token; no_token_reason says why */
    /* For OpenBao (BAO_TOKEN before VAULT_TOKEN), when it differs; NULL = token. */
    const struct secret *openbao_token;
    const char *no_token_reason;
    const char *prog;
};

/* Collects the facts. Returns 0, or -1 when the cluster cannot be examined at
 * all (API unreachable, no StatefulSet): then err says why. */
int doctor_gather(struct kube_client *kube, const struct doctor_gather_options *o,
                  struct doctor_facts *f, struct error *err);

/* --- judging -------------------------------------------------------------------------------- */

struct doctor_finding {
    const char *id; /* the check's id (static) */
    enum doctor_level level;
    char *message;
    char *fix; /* the command or manifest change that fixes it; NULL when none */
};

struct doctor_report {
    struct doctor_finding *items;
    size_t n, cap;
};

struct doctor_check {
    const char *id;    /* VHA-STS-001 ... */
    const char *title; /* what it looks at */
    void (*run)(const struct doctor_facts *f, struct doctor_report *r);
};

/* The table of checks, in order; NULL-terminated (id NULL). */
extern const struct doctor_check doctor_checks[];

/* The check called id (exact), or NULL. */
const struct doctor_check *doctor_find_check(const char *id);

/* Runs the checks selected (selected[i] for doctor_checks[i]; NULL = all). */
void doctor_judge(const struct doctor_facts *f, const int *selected, struct doctor_report *r);

/* Appends a finding (message and fix are copied; fix may be NULL). */
void doctor_add(struct doctor_report *r, const char *id, enum doctor_level level,
                const char *message, const char *fix);
void doctor_report_clear(struct doctor_report *r);

/* 0 nothing to report (ok, skipped or advice), 2 warnings only (strict: or advice), 3 at
 * least one error. */
int doctor_exit_code(const struct doctor_report *r, int strict);

#endif
