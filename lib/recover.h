/* Lost-quorum recovery with peers.json (docs/vault-cli.md §10.9 "Lost-quorum
 * recovery"): when most voters of the raft configuration are gone, raft cannot
 * elect a leader, whatever is unsealed. Vault then recovers at raft start (the
 * next unseal) from <storage path>/raft/peers.json: the configuration becomes
 * exactly that list and the file is deleted.
 *
 * Where the last configuration comes from, without a leader: every way that
 * asks Vault (list-peers, autopilot state, sys/storage/raft/configuration) is
 * served by the active node, and vault status shows only the indexes. The
 * truth is in the raft log (raft.db, BoltDB, locked by the running server)
 * and Vault's FSM (vault.db, GetConfigurationOffline, for `operator diagnose`
 * on a stopped server). What a running pod shows is its server log: the raft
 * library prints the whole configuration when raft starts at unseal
 * (`storage.raft: initial configuration: index=N servers="[{Suffrage:Voter
 * ID:x Address:y} ...]"`), the leader prints it at each change (`updating
 * configuration: command=AddVoter ... servers="[...]"`), and a recovery prints
 * `raft recovery found new config: config="{[{Voter x y}]}"`. The newest such
 * line of any pod is the last configuration that pod saw. It is exact for a
 * pod whose raft started (unsealed) after the last membership change, or that
 * was the leader then; a follower that never restarted since it joined
 * printed only `servers=[]`. Without such a line the pods of the StatefulSet
 * are shown (at <pod>.<service>:8201, the chart's cluster address), but the
 * judgement refuses: those addresses cannot be confirmed.
 *
 * Each survivor's node id is its VAULT_RAFT_NODE_ID (BAO_RAFT_NODE_ID) when
 * set (the chart's setNodeId), else its <storage path>/node-id file, the order
 * Vault reads them; each survivor's last raft index is vault status's
 * raft_committed_index (unsealed pods only: a sealed pod has not started raft).
 *
 * Gathering (recover_gather) is the I/O; judging (recover_judge) is pure; the
 * apply steps (write peers.json, restart, check it is gone) exec in pods. */
#ifndef VH_RECOVER_H
#define VH_RECOVER_H

#include <stddef.h>

#include "cluster.h"
#include "error.h"
#include "kube.h"
#include "vault.h"

#define RECOVER_ID_MAX      129
#define RECOVER_ADDR_MAX    300
#define RECOVER_SERVERS_MAX 64

/* One server of a raft configuration. */
struct raft_server {
    char id[RECOVER_ID_MAX];
    char address[RECOVER_ADDR_MAX];
    int voter;
};

struct raft_config {
    struct raft_server servers[RECOVER_SERVERS_MAX];
    size_t n;
    char stamp[40]; /* the log line's timestamp, "" when unknown */
};

/* The newest configuration in one pod's Vault server log (hclog text lines).
 * Returns 1 with cfg filled, 0 when no line shows a non-empty configuration.
 * Malformed lines are skipped; ids and addresses with unexpected bytes too. */
int recover_config_from_log(const char *log, size_t len, struct raft_config *cfg);

/* A node id as Vault accepts one from a file or the environment, checked
 * before it is shown or written: printable ASCII without quotes, backslashes
 * or spaces, 1..128 bytes. Leading and trailing whitespace is trimmed into out. */
int recover_valid_id(const char *text, size_t len, char *out, size_t cap);

/* What was read from one pod (index = the cluster's pod index). */
struct recover_facts {
    int asked;                    /* the pod runs: its files were read */
    char env_id[RECOVER_ID_MAX];  /* VAULT_RAFT_NODE_ID / BAO_RAFT_NODE_ID, "" when unset */
    char file_id[RECOVER_ID_MAX]; /* <data>/node-id, "" when there is none */
    char id_error[256];           /* why neither could be read (no tools, bad bytes), "" */
    int peers_json;               /* <data>/raft/peers.json: 1 present, 0 absent, -1 unknown */
    char *peers_text;             /* its content when present (bounded), malloc'd */
    int have_log_config;          /* the pod's log shows a configuration */
    struct raft_config log_config;
    char log_error[256]; /* why the log was not read (RBAC), "" */
    char pvc_phase[32];  /* data-<pod>: Bound, Pending, Lost, "missing" (404), "" unknown */
    int restarted;       /* this run deleted the pod after writing its peers.json */
};

/* Reads the server config (vc->config_path) in the running pods and takes
 * the raft storage folder from it (cluster_use_server_config); without it,
 * vc->data_dir stays the data volume's mount. Returns 1 when the config named
 * the folder, else 0. */
int recover_read_server_config(struct kube_client *kube, struct vault_cluster *vc);

/* Reads, for every pod (files under vc->data_dir): its node id (environment
 * and node-id file) and any
 * peers.json (one exec per running pod and file, all at once), its server log
 * (pods/log) and its data PVC. facts has vc->npods entries. Fails only when
 * nothing could be asked at all. */
int recover_gather(struct kube_client *kube, const struct vault_cluster *vc,
                   struct recover_facts *facts, struct error *err);
void recover_facts_clear(struct recover_facts *facts, size_t n);

enum recover_verdict {
    RECOVER_GO,          /* quorum is lost and survivors hold data: the plan can run */
    RECOVER_ACTIVE,      /* a node is active: quorum is not lost */
    RECOVER_QUORUM,      /* a quorum of voters runs with its data: unseal, do not recover */
    RECOVER_NO_SURVIVOR, /* no pod holds raft data */
    RECOVER_UNKNOWN,     /* a pod could not be read: cannot tell */
    RECOVER_UNCONFIRMED, /* no log shows the configuration: addresses not confirmed */
};

/* One server of the last configuration, and what became of it. */
struct recover_member {
    struct raft_server server; /* from the configuration (id "" when not known) */
    char name[254];            /* its pod's name, "" when the address names no pod */
    int pod;                   /* index into vc->pods, -1 when the address names no pod */
    int same_pod_as; /* another member names the same pod (and owns it): its index, else -1 */
    int survivor;    /* its pod runs with raft data: it goes into peers.json */
    int unsealed;    /* survivor whose raft runs: must restart to read peers.json */
    long long index; /* last raft index (unsealed survivors), -1 unknown */
    char local_id[RECOVER_ID_MAX]; /* survivors: the id the pod uses (env, else node-id) */
    int peers_state; /* survivors: 2 peers.json holds the plan, 1 other content, 0 none */
    char state[320]; /* "survivor: unsealed standby", "lost: Pending (Unschedulable)" */
};

struct recover_plan {
    enum recover_verdict verdict;
    char why[1024];            /* the refusal, when verdict != RECOVER_GO */
    char source[200];          /* where the configuration came from */
    int assumed;               /* taken from the StatefulSet (no log showed it) */
    struct raft_config config; /* the configuration judged by (from_pod's log), n 0 when assumed */
    char from_pod[254];
    struct recover_member members[RECOVER_SERVERS_MAX];
    size_t n;
    int voters, quorum; /* of the last configuration */
    int survivors;      /* members that go into peers.json */
    int best;           /* member index of the most up-to-date survivor, -1 unknown */
    char *peers_json;   /* the file's content (malloc'd), NULL unless RECOVER_GO */
    char extra[512];    /* running pods with raft data that are not in the configuration */
};

/* Judges the facts (pure): the last configuration, who survived, whether
 * quorum is lost, and the peers.json of the survivors. prog names the tool in
 * the refusal's advice. */
void recover_judge(const struct vault_cluster *vc, const struct pod_view *views,
                   const struct recover_facts *facts, const char *prog, struct recover_plan *plan);
void recover_plan_clear(struct recover_plan *plan);

/* Marks the pods called names[0..n-1], which this run deleted after writing
 * their peers.json, so that judging again counts each as the survivor it was
 * in plan `was` (with its node id), whether or not it runs again yet; the one
 * whose log showed was's configuration still counts as showing it (a new
 * container starts a new log). */
void recover_mark_restarted(const struct vault_cluster *vc, struct recover_facts *facts,
                            const struct recover_plan *was, const char *const *names, size_t n);

/* Is `now`, a judgement made again, still the plan `was` that the user
 * confirmed? Unchanged means: the verdict is RECOVER_GO, the survivors are the
 * same pods with the same node ids, each one that was not restarted in
 * between is still sealed or unsealed as it was, and peers.json is the same
 * text. Returns 0 when unchanged, else 1 with what changed in what. */
int recover_plan_changed(const struct recover_plan *was, const struct recover_plan *now, char *what,
                         size_t cap);

/* The peers.json of the given members (id, address, non_voter false), as
 * Vault's documentation writes it. malloc'd. */
char *recover_peers_json(const struct raft_server *servers, size_t n);

/* --- apply steps (exec in pods) ------------------------------------------------------------ */

/* What one pod's step did. */
struct recover_step {
    const char *pod;
    int ok;
    char detail[512]; /* the failure, from the pod's stderr or the API */
};

/* Writes content to <data>/raft/peers.json in each pod at once: through exec
 * stdin (no data in argv), into a temp file in the same folder, owned like the
 * raft folder (the vault user) when the exec runs as root, then renamed over
 * peers.json, then read back and compared. */
void recover_write_peers(struct kube_client *kube, const struct vault_cluster *vc,
                         const char *content, struct recover_step *steps, size_t n);

/* Removes <data>/raft/peers.json in each pod (undoing a write). */
void recover_remove_peers(struct kube_client *kube, const struct vault_cluster *vc,
                          struct recover_step *steps, size_t n);

/* Is peers.json gone from each pod? ok = gone (Vault consumed it). */
void recover_check_gone(struct kube_client *kube, const struct vault_cluster *vc,
                        struct recover_step *steps, size_t n);

/* Deletes each pod (the StatefulSet recreates it on the same volume). */
void recover_delete_pods(struct kube_client *kube, const struct vault_cluster *vc,
                         struct recover_step *steps, size_t n);

#endif
