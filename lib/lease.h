/* The lock that keeps destructive runs (upgrade, recover, and later seal
 * migration and restore) of one StatefulSet apart: a coordination.k8s.io/v1
 * Lease named "<statefulset>-vault-ha-lock" in its namespace. Taken with a
 * create (or an update carrying the resourceVersion read, so that of two
 * runs racing only one wins: the other gets 409 Conflict), renewed by a
 * thread while the run lasts, deleted at its end (with the resourceVersion as
 * precondition, so that a lock someone took over is left alone).
 *
 * A lock whose holder stopped renewing it (renewTime + leaseDurationSeconds
 * in the past) is stale: it is taken over only when asked (--force-unlock); a
 * live one never. Nothing is printed here: refusals come back as errors that
 * name the holder and since when. */
#ifndef VH_LEASE_H
#define VH_LEASE_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "error.h"
#include "kube.h"

/* How long a lock lives without renewal; renewed every third of it. */
#define LEASE_DURATION_S 30

struct lease_lock;

struct lease_options {
    const char *command; /* "upgrade": named in holderIdentity */
    int force_unlock;    /* take over a stale lock */
    int duration_s;      /* <= 0: LEASE_DURATION_S */
};

/* Takes the lock of StatefulSet ns/sts and starts renewing it. A lock held by
 * another run: ERR_REMOTE naming the holder, since when and what to do
 * (err->http_status 409). RBAC: the 403 names the verb on "leases". */
int lease_acquire(struct kube_client *kube, const char *ns, const char *sts,
                  const struct lease_options *opts, struct lease_lock **out, struct error *err);

/* 0 while the lock is ours; -1 with err once it is lost (taken over, or not
 * renewed within its duration). Call right before each destructive act. */
int lease_check(struct lease_lock *l, struct error *err);

/* "upgrade by alice@laptop pid 4242", the holderIdentity written. */
const char *lease_holder(const struct lease_lock *l);

/* The holder of the stale lock this run took over (--force-unlock), or "". */
const char *lease_taken_from(const struct lease_lock *l);

/* The Lease's name and namespace, "vault/vault-vault-ha-lock". */
const char *lease_name(const struct lease_lock *l);

/* Stops the renewal and deletes the Lease if it is still ours; frees l (NULL:
 * nothing). Returns 0, or -1 with err when the delete failed (the lock then
 * expires by itself after its duration). */
int lease_release(struct lease_lock *l, struct error *err);

/* --- pure parts (unit-tested) ------------------------------------------------------------- */

/* A Lease as read. */
struct lease_record {
    char holder[256];          /* sanitized; "" = nobody */
    char acquire_text[64];     /* acquireTime as written, sanitized */
    time_t acquire, renew;     /* 0 = absent or unreadable */
    long duration_s;           /* 0 = absent */
    long transitions;          /* leaseTransitions */
    char resource_version[64]; /* metadata.resourceVersion */
};

/* Reads a Lease object (bounded, hostile-safe). Returns 0, or -1 when it is
 * not a Lease (no metadata.resourceVersion). */
int lease_parse(const json_t *obj, struct lease_record *rec);

enum lease_verdict {
    LEASE_FREE,  /* nobody holds it (holderIdentity empty) */
    LEASE_LIVE,  /* held and renewed within its duration */
    LEASE_STALE, /* held, but not renewed within its duration */
};
enum lease_verdict lease_judge(const struct lease_record *rec, time_t now);

/* Why a run cannot take the lock, naming the holder and since when, and what
 * to do: wait, or --force-unlock for a stale one. */
void lease_refusal(const struct lease_record *rec, const char *ns, const char *name, time_t now,
                   int force_unlock, char *buf, size_t cap);

/* "upgrade by alice@laptop pid 4242" (user or host unknown: "?"). */
void lease_identity(const char *command, const char *user, const char *host, long pid, char *buf,
                    size_t cap);

/* A Lease's MicroTime, "2026-05-01T10:00:00.000000Z". */
void lease_microtime(time_t t, long usec, char *buf, size_t cap);

/* The Lease object to create or update (resource_version NULL: a create). */
json_t *lease_object(const char *ns, const char *name, const char *holder, long duration_s,
                     const char *acquire, const char *renew, long transitions,
                     const char *resource_version);

#endif
