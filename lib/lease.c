#include "lease.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "text.h"

struct lease_lock {
    struct kube_client *kube;
    char ns[128];
    char name[320];
    char qualified[460]; /* "ns/name", for messages */
    char path[1024];     /* the Lease's URL path */
    char holder[256];
    char acquire[64]; /* acquireTime as we wrote it */
    char taken_from[256];
    long duration_s;
    long transitions;

    pthread_mutex_t mu;
    pthread_cond_t wake;
    int stop;
    int thread_started;
    pthread_t thread;
    char resource_version[64];
    long long renewed_ms; /* monotonic time of the last renewal that the server took */
    char lost[ERROR_MSG_MAX];
};

/* --- pure parts ----------------------------------------------------------------------------- */

void lease_identity(const char *command, const char *user, const char *host, long pid, char *buf,
                    size_t cap)
{
    snprintf(buf, cap, "%s by %.64s@%.64s pid %ld", command, user && *user ? user : "?",
             host && *host ? host : "?", pid);
}

void lease_microtime(time_t t, long usec, char *buf, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%06ldZ", day, usec);
}

static void copy_text(char *dst, size_t cap, const json_t *v)
{
    const char *s = json_string_value(v);
    dst[0] = '\0';
    if (s != NULL)
        text_sanitize(dst, cap, s, json_string_length(v));
}

static time_t parse_time(const json_t *v)
{
    time_t t = 0;
    const char *s = json_string_value(v);
    if (s == NULL || json_string_length(v) > 64 || clock_parse_rfc3339(s, &t) < 0)
        return 0;
    return t;
}

int lease_parse(const json_t *obj, struct lease_record *rec)
{
    memset(rec, 0, sizeof *rec);
    const json_t *meta = json_object_get(obj, "metadata");
    const json_t *rv = json_object_get(meta, "resourceVersion");
    if (!json_is_string(rv) || json_string_length(rv) == 0 ||
        json_string_length(rv) >= sizeof rec->resource_version)
        return -1;
    snprintf(rec->resource_version, sizeof rec->resource_version, "%s", json_string_value(rv));
    const json_t *spec = json_object_get(obj, "spec");
    copy_text(rec->holder, sizeof rec->holder, json_object_get(spec, "holderIdentity"));
    copy_text(rec->acquire_text, sizeof rec->acquire_text, json_object_get(spec, "acquireTime"));
    rec->acquire = parse_time(json_object_get(spec, "acquireTime"));
    rec->renew = parse_time(json_object_get(spec, "renewTime"));
    json_int_t d = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    rec->duration_s = d > 0 && d < 86400 * 365 ? (long)d : 0;
    json_int_t n = json_integer_value(json_object_get(spec, "leaseTransitions"));
    rec->transitions = n > 0 && n < 1000000000 ? (long)n : 0;
    return 0;
}

enum lease_verdict lease_judge(const struct lease_record *rec, time_t now)
{
    if (rec->holder[0] == '\0')
        return LEASE_FREE;
    /* Without a renewal time or a duration nothing says it ended: a live lock, as
     * client-go's leader election reads such a record. */
    time_t last = rec->renew ? rec->renew : rec->acquire;
    if (last == 0 || rec->duration_s == 0)
        return LEASE_LIVE;
    return now > last + rec->duration_s ? LEASE_STALE : LEASE_LIVE;
}

static void ago(long s, char *buf, size_t cap)
{
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(buf, cap, "%ld s", s);
    else if (s < 7200)
        snprintf(buf, cap, "%ld min", s / 60);
    else if (s < 2 * 86400)
        snprintf(buf, cap, "%ld h", s / 3600);
    else
        snprintf(buf, cap, "%ld days", s / 86400);
}

void lease_refusal(const struct lease_record *rec, const char *ns, const char *name, time_t now,
                   int force_unlock, char *buf, size_t cap)
{
    char since[128] = "an unknown time";
    if (rec->acquire != 0) {
        char a[32];
        ago((long)(now - rec->acquire), a, sizeof a);
        snprintf(since, sizeof since, "%s (%s ago)", rec->acquire_text, a);
    }
    time_t last = rec->renew ? rec->renew : rec->acquire;
    char renewed[64] = "never renewed";
    if (last != 0) {
        char a[32];
        ago((long)(now - last), a, sizeof a);
        snprintf(renewed, sizeof renewed, "last renewed %s ago", a);
    }
    size_t len = 0;
    buf[0] = '\0';
    text_appendf(buf, cap, &len,
                 "locked by another run: \"%s\" holds the lock (Lease %s/%s) since %s, %s",
                 rec->holder, ns, name, since, renewed);
    if (lease_judge(rec, now) == LEASE_STALE) {
        text_appendf(buf, cap, &len,
                     ", past its %ld s: its run has probably ended without releasing it. Make "
                     "sure that run is gone, then add --force-unlock to take the lock over",
                     rec->duration_s);
        return;
    }
    if (force_unlock)
        text_appendf(buf, cap, &len,
                     "; --force-unlock takes over only a lock that has not been renewed for its "
                     "%ld s, and this one is alive",
                     rec->duration_s ? rec->duration_s : (long)LEASE_DURATION_S);
    else
        text_appendf(buf, cap, &len, "; wait until it ends, then run again");
}

json_t *lease_object(const char *ns, const char *name, const char *holder, long duration_s,
                     const char *acquire, const char *renew, long transitions,
                     const char *resource_version)
{
    json_t *meta = json_pack("{s:s, s:s, s:{s:s}}", "name", name, "namespace", ns, "labels",
                             "app.kubernetes.io/managed-by", "kubectl-vault_ha");
    if (meta != NULL && resource_version != NULL &&
        json_object_set_new(meta, "resourceVersion", json_string(resource_version)) < 0) {
        json_decref(meta);
        meta = NULL;
    }
    if (meta == NULL)
        return NULL;
    return json_pack("{s:s, s:s, s:o, s:{s:s, s:I, s:s, s:s, s:I}}", "apiVersion",
                     "coordination.k8s.io/v1", "kind", "Lease", "metadata", meta, "spec",
                     "holderIdentity", holder, "leaseDurationSeconds", (json_int_t)duration_s,
                     "acquireTime", acquire, "renewTime", renew, "leaseTransitions",
                     (json_int_t)transitions);
}

/* --- talking to the API server --------------------------------------------------------------- */

static void now_microtime(char *buf, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lease_microtime(ts.tv_sec, ts.tv_nsec / 1000, buf, cap);
}

/* PUT (resource_version set) or POST the Lease; *rv gets the new resourceVersion. */
static int write_lease(struct lease_lock *l, const char *resource_version, char *rv, size_t rv_cap,
                       struct error *err)
{
    char renew[64];
    now_microtime(renew, sizeof renew);
    json_t *obj = lease_object(l->ns, l->name, l->holder, l->duration_s, l->acquire, renew,
                               l->transitions, resource_version);
    char *body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (body == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    char collection[1024];
    snprintf(collection, sizeof collection, "%.*s", (int)(strrchr(l->path, '/') - l->path),
             l->path);
    json_t *answer = NULL;
    int rc = resource_version ? kube_send(l->kube, "PUT", l->path, body, &answer, err)
                              : kube_send(l->kube, "POST", collection, body, &answer, err);
    free(body);
    if (rc < 0)
        return -1;
    struct lease_record rec;
    if (lease_parse(answer, &rec) < 0) {
        json_decref(answer);
        return error_set(err, ERR_PROTOCOL, "the API server's answer for Lease %s is no Lease",
                         l->qualified);
    }
    json_decref(answer);
    snprintf(rv, rv_cap, "%s", rec.resource_version);
    return 0;
}

/* GET the Lease: 1 with rec, 0 when there is none, -1. */
static int read_lease(struct lease_lock *l, struct lease_record *rec, struct error *err)
{
    json_t *obj = NULL;
    if (kube_get(l->kube, l->path, &obj, err) < 0)
        return err->kind == ERR_NOT_FOUND ? 0 : -1;
    int rc = lease_parse(obj, rec);
    json_decref(obj);
    if (rc < 0)
        return error_set(err, ERR_PROTOCOL, "Lease %s as read is no Lease", l->qualified);
    return 1;
}

static void *renew_loop(void *arg)
{
    struct lease_lock *l = arg;
    long interval_ms = l->duration_s * 1000 / 3;
    pthread_mutex_lock(&l->mu);
    while (!l->stop && l->lost[0] == '\0') {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += interval_ms / 1000;
        until.tv_nsec += (interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!l->stop && pthread_cond_timedwait(&l->wake, &l->mu, &until) != ETIMEDOUT)
            ;
        if (l->stop)
            break;
        char rv[64], now_rv[64];
        snprintf(rv, sizeof rv, "%s", l->resource_version);
        pthread_mutex_unlock(&l->mu);

        struct error err = {0};
        int rc = write_lease(l, rv, now_rv, sizeof now_rv, &err);
        char lost[ERROR_MSG_MAX] = "";
        if (rc < 0 && err.http_status == 409) {
            /* Someone wrote it: taken over (--force-unlock after we stalled), or an
             * edit by hand; renew on top of the latter, give up on the former. */
            struct lease_record rec;
            struct error e2 = {0};
            int got = read_lease(l, &rec, &e2);
            if (got == 1 && strcmp(rec.holder, l->holder) == 0) {
                snprintf(now_rv, sizeof now_rv, "%s", rec.resource_version);
                rc = 1; /* renewed next time, on this resourceVersion */
            } else if (got == 1) {
                snprintf(lost, sizeof lost, "\"%s\" took it over", rec.holder);
            } else if (got == 0) {
                snprintf(lost, sizeof lost, "someone deleted it");
            }
        }
        pthread_mutex_lock(&l->mu);
        if (rc >= 0)
            snprintf(l->resource_version, sizeof l->resource_version, "%s", now_rv);
        if (rc == 0)
            l->renewed_ms = clock_now_ms();
        if (lost[0] != '\0')
            snprintf(l->lost, sizeof l->lost, "%s", lost);
        else if (rc < 0 && clock_now_ms() - l->renewed_ms > l->duration_s * 1000)
            snprintf(l->lost, sizeof l->lost, "not renewed for %ld s: %.1500s", l->duration_s,
                     err.msg);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void lock_free(struct lease_lock *l)
{
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->wake);
    free(l);
}

int lease_acquire(struct kube_client *kube, const char *ns, const char *sts,
                  const struct lease_options *opts, struct lease_lock **out, struct error *err)
{
    *out = NULL;
    struct lease_lock *l = calloc(1, sizeof *l);
    if (l == NULL)
        return error_set(err, ERR_GENERIC, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &ca);
    pthread_condattr_destroy(&ca);
    l->kube = kube;
    l->duration_s = opts->duration_s > 0 ? opts->duration_s : LEASE_DURATION_S;
    snprintf(l->ns, sizeof l->ns, "%s", ns);
    snprintf(l->name, sizeof l->name, "%s-vault-ha-lock", sts);
    snprintf(l->qualified, sizeof l->qualified, "%s/%s", l->ns, l->name);
    char *ens = kube_urlencode(ns), *ename = kube_urlencode(l->name);
    if (ens == NULL || ename == NULL) {
        free(ens);
        free(ename);
        lock_free(l);
        return error_set(err, ERR_GENERIC, "out of memory");
    }
    snprintf(l->path, sizeof l->path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ens,
             ename);
    free(ens);
    free(ename);
    char host[256] = "";
    if (gethostname(host, sizeof host) < 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    const char *user = getenv("USER");
    struct passwd *pw = (user == NULL || *user == '\0') ? getpwuid(getuid()) : NULL;
    if (pw != NULL)
        user = pw->pw_name;
    char identity[256];
    lease_identity(opts->command, user, host, (long)getpid(), identity, sizeof identity);
    /* As a reader sees it (lease_parse sanitizes): renewals compare the two. */
    text_sanitize(l->holder, sizeof l->holder, identity, strlen(identity));
    now_microtime(l->acquire, sizeof l->acquire);

    /* Read, then create or update on what was read: of two runs, one wins. */
    for (int attempt = 0; attempt < 3; attempt++) {
        struct lease_record rec;
        int got = read_lease(l, &rec, err);
        if (got < 0) {
            error_wrap(err, "reading the lock (Lease %s)", l->qualified);
            lock_free(l);
            return -1;
        }
        const char *rv = NULL;
        if (got == 1) {
            time_t now = time(NULL);
            enum lease_verdict v = lease_judge(&rec, now);
            if (v == LEASE_LIVE || (v == LEASE_STALE && !opts->force_unlock)) {
                char why[ERROR_MSG_MAX];
                lease_refusal(&rec, l->ns, l->name, now, opts->force_unlock, why, sizeof why);
                error_set(err, ERR_REMOTE, "%s", why);
                err->http_status = 409;
                lock_free(l);
                return -1;
            }
            l->transitions = rec.transitions + 1;
            rv = rec.resource_version;
            snprintf(l->taken_from, sizeof l->taken_from, "%s", v == LEASE_STALE ? rec.holder : "");
        }
        if (write_lease(l, rv, l->resource_version, sizeof l->resource_version, err) == 0) {
            l->renewed_ms = clock_now_ms();
            /* The renewer takes no signal: Ctrl-C must reach the main thread, whose
             * prompt and waits watch for it (a signal a thread does not block may be
             * delivered to it instead). */
            sigset_t all, old;
            sigfillset(&all);
            pthread_sigmask(SIG_BLOCK, &all, &old);
            int started = pthread_create(&l->thread, NULL, renew_loop, l) == 0;
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            if (!started) {
                struct error e2 = {0};
                lease_release(l, &e2);
                return error_set(err, ERR_GENERIC, "cannot start the thread that renews the lock");
            }
            l->thread_started = 1;
            *out = l;
            return 0;
        }
        if (err->http_status != 409) {
            error_wrap(err, "taking the lock (Lease %s)", l->qualified);
            lock_free(l);
            return -1;
        }
        /* 409: another run created or updated it first; read who holds it now. */
    }
    error_set(err, ERR_REMOTE,
              "the lock (Lease %s) kept changing hands while it was being taken: run again",
              l->qualified);
    lock_free(l);
    return -1;
}

int lease_check(struct lease_lock *l, struct error *err)
{
    if (l == NULL)
        return 0;
    pthread_mutex_lock(&l->mu);
    if (l->lost[0] == '\0' && clock_now_ms() - l->renewed_ms > l->duration_s * 1000)
        snprintf(l->lost, sizeof l->lost, "not renewed for %ld s", l->duration_s);
    int rc = 0;
    if (l->lost[0] != '\0')
        rc = error_set(err, ERR_REMOTE,
                       "this run lost its lock (Lease %s): %s; stopping before the next change, "
                       "since another run may be changing the cluster",
                       l->qualified, l->lost);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

const char *lease_holder(const struct lease_lock *l)
{
    return l->holder;
}

const char *lease_taken_from(const struct lease_lock *l)
{
    return l->taken_from;
}

const char *lease_name(const struct lease_lock *l)
{
    return l->qualified;
}

int lease_release(struct lease_lock *l, struct error *err)
{
    if (l == NULL)
        return 0;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mu);
    if (l->thread_started)
        pthread_join(l->thread, NULL);
    int rc = 0;
    if (l->lost[0] == '\0' && l->resource_version[0] != '\0') {
        /* Only our version of it: a lock taken over meanwhile stays (409). */
        json_t *opts = json_pack("{s:s, s:s, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                                 "preconditions", "resourceVersion", l->resource_version);
        char *body = opts ? json_dumps(opts, JSON_COMPACT) : NULL;
        json_decref(opts);
        if (body == NULL) {
            rc = error_set(err, ERR_GENERIC, "out of memory");
        } else if (kube_send(l->kube, "DELETE", l->path, body, NULL, err) < 0 &&
                   err->http_status != 404 && err->http_status != 409) {
            rc = error_wrap(err,
                            "releasing the lock (Lease %s; it expires by itself %ld s after its "
                            "last renewal)",
                            l->qualified, l->duration_s);
        }
        free(body);
    }
    lock_free(l);
    return rc;
}
