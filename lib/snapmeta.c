/* Snapshot metadata (FILE.json): see snapmeta.h. */
#include "snapmeta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "filesink.h"

int snapmeta_path(const char *snapshot, char *buf, size_t cap, struct error *err)
{
    int n = snprintf(buf, cap, "%s.json", snapshot);
    if (n < 0 || (size_t)n >= cap)
        return error_set(err, ERR_USAGE, "file name too long: %s", snapshot);
    return 0;
}

/* --- encoding ------------------------------------------------------------------------------ */

char *snapmeta_encode(const struct snapmeta *m, struct error *err)
{
    json_t *doc = json_pack(
        "{s:i, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:s, s:I, s:s}", "format", m->format,
        "product", m->product, "version", m->version, "clusterId", m->cluster_id, "sealType",
        m->seal_type, "shares", m->shares, "threshold", m->threshold, "raftIndex",
        (json_int_t)m->raft_index, "raftTerm", (json_int_t)m->raft_term, "savedAt", m->saved_at,
        "bytes", (json_int_t)m->bytes, "sha256", m->sha256);
    if (doc == NULL) {
        error_set(err, ERR_GENERIC, "snapshot metadata: out of memory");
        return NULL;
    }
    if (m->cluster_name[0])
        json_object_set_new(doc, "clusterName", json_string(m->cluster_name));
    if (m->namespace_[0])
        json_object_set_new(doc, "namespace", json_string(m->namespace_));
    if (m->pod[0])
        json_object_set_new(doc, "pod", json_string(m->pod));
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (s == NULL) {
        error_set(err, ERR_GENERIC, "snapshot metadata: out of memory");
        return NULL;
    }
    size_t n = strlen(s);
    char *out = realloc(s, n + 2);
    if (out == NULL) {
        free(s);
        error_set(err, ERR_GENERIC, "snapshot metadata: out of memory");
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    return out;
}

/* --- parsing ------------------------------------------------------------------------------- */

enum charset { CS_ID, CS_VERSION, CS_SEAL, CS_TIME, CS_HEX, CS_NAME };

static int allowed(enum charset cs, unsigned char c)
{
    int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    switch (cs) {
    case CS_ID:
        return alnum || c == '-';
    case CS_VERSION:
        return alnum || c == '.' || c == '-' || c == '+';
    case CS_SEAL:
        return alnum || c == '-' || c == '_';
    case CS_TIME:
        return (c >= '0' && c <= '9') || c == 'T' || c == 'Z' || c == ':' || c == '.' || c == '-' ||
               c == '+';
    case CS_HEX:
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    case CS_NAME:
        return alnum || c == '-' || c == '.' || c == '_';
    }
    return 0;
}

/* A string field into buf (cap includes the NUL): present unless optional,
 * 1..cap-1 characters from cs (exact_len > 0: exactly that many). */
static int get_string(const char *name, json_t *doc, const char *key, enum charset cs, int optional,
                      size_t exact_len, char *buf, size_t cap, struct error *err)
{
    json_t *v = json_object_get(doc, key);
    buf[0] = '\0';
    if (v == NULL) {
        if (optional)
            return 0;
        return error_set(err, ERR_CONFIG, "%s: \"%s\" is missing", name, key);
    }
    if (!json_is_string(v))
        return error_set(err, ERR_CONFIG, "%s: \"%s\" is not a string", name, key);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 || len >= cap || (exact_len > 0 && len != exact_len))
        return error_set(err, ERR_CONFIG, "%s: \"%s\" has a bad length (%zu)", name, key, len);
    for (size_t i = 0; i < len; i++)
        if (!allowed(cs, (unsigned char)s[i]))
            return error_set(err, ERR_CONFIG, "%s: \"%s\" holds a character not allowed there",
                             name, key);
    memcpy(buf, s, len + 1);
    return 0;
}

static int get_uint(const char *name, json_t *doc, const char *key, unsigned long long max,
                    unsigned long long *out, struct error *err)
{
    json_t *v = json_object_get(doc, key);
    if (v == NULL)
        return error_set(err, ERR_CONFIG, "%s: \"%s\" is missing", name, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (unsigned long long)json_integer_value(v) > max)
        return error_set(err, ERR_CONFIG, "%s: \"%s\" is not a whole number from 0 to %llu", name,
                         key, max);
    *out = (unsigned long long)json_integer_value(v);
    return 0;
}

static int parse_doc(const char *name, json_t *doc, struct snapmeta *m, struct error *err)
{
    unsigned long long format, shares, threshold;
    if (!json_is_object(doc))
        return error_set(err, ERR_CONFIG, "%s: not a JSON object", name);
    if (get_uint(name, doc, "format", 1000, &format, err) < 0)
        return -1;
    if (format != SNAPMETA_FORMAT)
        return error_set(err, ERR_CONFIG,
                         "%s: format %llu is not known to this version of the plugin (it reads "
                         "format %d): use a newer plugin",
                         name, format, SNAPMETA_FORMAT);
    m->format = (int)format;
    if (get_string(name, doc, "product", CS_NAME, 0, 0, m->product, sizeof m->product, err) < 0)
        return -1;
    if (strcmp(m->product, "vault") != 0 && strcmp(m->product, "openbao") != 0)
        return error_set(err, ERR_CONFIG, "%s: \"product\" is neither vault nor openbao", name);
    if (get_string(name, doc, "version", CS_VERSION, 0, 0, m->version, sizeof m->version, err) <
            0 ||
        get_string(name, doc, "clusterId", CS_ID, 0, 0, m->cluster_id, sizeof m->cluster_id, err) <
            0 ||
        get_string(name, doc, "clusterName", CS_NAME, 1, 0, m->cluster_name, sizeof m->cluster_name,
                   err) < 0 ||
        get_string(name, doc, "sealType", CS_SEAL, 0, 0, m->seal_type, sizeof m->seal_type, err) <
            0 ||
        get_string(name, doc, "savedAt", CS_TIME, 0, 0, m->saved_at, sizeof m->saved_at, err) < 0 ||
        get_string(name, doc, "namespace", CS_NAME, 1, 0, m->namespace_, sizeof m->namespace_,
                   err) < 0 ||
        get_string(name, doc, "pod", CS_NAME, 1, 0, m->pod, sizeof m->pod, err) < 0 ||
        get_string(name, doc, "sha256", CS_HEX, 0, 64, m->sha256, sizeof m->sha256, err) < 0)
        return -1;
    if (get_uint(name, doc, "shares", 255, &shares, err) < 0 ||
        get_uint(name, doc, "threshold", 255, &threshold, err) < 0 ||
        get_uint(name, doc, "raftIndex", (unsigned long long)INT64_MAX, &m->raft_index, err) < 0 ||
        get_uint(name, doc, "raftTerm", (unsigned long long)INT64_MAX, &m->raft_term, err) < 0 ||
        get_uint(name, doc, "bytes", (unsigned long long)INT64_MAX, &m->bytes, err) < 0)
        return -1;
    if (shares < 1 || threshold < 1 || threshold > shares)
        return error_set(err, ERR_CONFIG,
                         "%s: shares %llu and threshold %llu are not a seal configuration", name,
                         shares, threshold);
    m->shares = (int)shares;
    m->threshold = (int)threshold;
    return 0;
}

int snapmeta_parse(const char *name, const char *text, size_t len, struct snapmeta *m,
                   struct error *err)
{
    memset(m, 0, sizeof *m);
    if (len > SNAPMETA_FILE_MAX)
        return error_set(err, ERR_CONFIG, "%s: larger than %u bytes: not snapshot metadata", name,
                         SNAPMETA_FILE_MAX);
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return error_set(err, ERR_CONFIG, "%s: not valid JSON (line %d: %.200s)", name, jerr.line,
                         jerr.text);
    int rc = parse_doc(name, doc, m, err);
    json_decref(doc);
    if (rc < 0)
        memset(m, 0, sizeof *m);
    return rc;
}

/* --- files --------------------------------------------------------------------------------- */

int snapmeta_write(const char *path, const struct snapmeta *m, struct error *err)
{
    char tmp[4096];
    const char *slash = strrchr(path, '/');
    int n = slash == NULL ? snprintf(tmp, sizeof tmp, ".%s.vault-ha-XXXXXX", path)
                          : snprintf(tmp, sizeof tmp, "%.*s/.%s.vault-ha-XXXXXX",
                                     (int)(slash - path), path, slash + 1);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return error_set(err, ERR_USAGE, "file name too long: %s", path);
    char *text = snapmeta_encode(m, err);
    if (text == NULL)
        return -1;
    /* What the pod reported is hostile too: write only what a reader accepts. */
    struct snapmeta check;
    if (snapmeta_parse(path, text, strlen(text), &check, err) < 0) {
        free(text);
        return -1;
    }
    int fd = mkostemp(tmp, O_CLOEXEC); /* O_EXCL, 0600 */
    if (fd < 0) {
        error_set(err, ERR_CONFIG, "cannot create a temporary file beside %s: %s", path,
                  strerror(errno));
        free(text);
        return -1;
    }
    int rc = -1;
    if (fchmod(fd, 0600) < 0 || filesink_write_all(fd, text, strlen(text), err) < 0) {
        if (err->msg[0] == '\0')
            error_set(err, ERR_CONFIG, "writing %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (fsync(fd) < 0) {
        error_set(err, ERR_CONFIG, "fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
    int c = close(fd);
    fd = -1;
    if (c < 0) {
        error_set(err, ERR_CONFIG, "writing %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) < 0) {
        error_set(err, ERR_CONFIG, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    rc = filesink_fsync_dir(path, err);
out:
    if (fd >= 0)
        close(fd);
    if (tmp[0])
        unlink(tmp);
    free(text);
    return rc;
}

int snapmeta_read(const char *path, struct snapmeta *m, struct error *err)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        return error_set(err, ERR_CONFIG, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return error_set(err, ERR_CONFIG, "%s is not a regular file", path);
    }
    char *buf = malloc(SNAPMETA_FILE_MAX + 1);
    if (buf == NULL) {
        close(fd);
        return error_set(err, ERR_GENERIC, "%s: out of memory", path);
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, SNAPMETA_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            error_set(err, ERR_CONFIG, "reading %s: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > SNAPMETA_FILE_MAX)
            break;
    }
    close(fd);
    int rc = snapmeta_parse(path, buf, len, m, err);
    free(buf);
    return rc;
}

/* --- hashing ------------------------------------------------------------------------------- */

struct snapmeta_hash {
    EVP_MD_CTX *ctx;
};

struct snapmeta_hash *snapmeta_hash_new(struct error *err)
{
    struct snapmeta_hash *h = calloc(1, sizeof *h);
    if (h == NULL || (h->ctx = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        snapmeta_hash_free(h);
        error_set(err, ERR_GENERIC, "SHA-256: cannot initialise");
        return NULL;
    }
    return h;
}

void snapmeta_hash_update(struct snapmeta_hash *h, const void *data, size_t len)
{
    if (len > 0)
        EVP_DigestUpdate(h->ctx, data, len);
}

void snapmeta_hash_final(struct snapmeta_hash *h, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    out[0] = '\0';
    if (EVP_DigestFinal_ex(h->ctx, md, &n) == 1 && n == sizeof md)
        for (unsigned int i = 0; i < n; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    snapmeta_hash_free(h);
}

void snapmeta_hash_free(struct snapmeta_hash *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

int snapmeta_hash_fd(int fd, char out[65], unsigned long long *bytes, struct error *err)
{
    struct snapmeta_hash *h = snapmeta_hash_new(err);
    if (h == NULL)
        return -1;
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (buf == NULL) {
        snapmeta_hash_free(h);
        return error_set(err, ERR_GENERIC, "SHA-256: out of memory");
    }
    unsigned long long total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            snapmeta_hash_free(h);
            return error_set(err, ERR_CONFIG, "reading the snapshot: %s", strerror(e));
        }
        if (r == 0)
            break;
        snapmeta_hash_update(h, buf, (size_t)r);
        total += (unsigned long long)r;
    }
    free(buf);
    snapmeta_hash_final(h, out);
    if (bytes != NULL)
        *bytes = total;
    return 0;
}

int snapmeta_check_file(const struct snapmeta *m, int fd, struct error *err)
{
    char hex[65];
    unsigned long long bytes = 0;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return error_set(err, ERR_CONFIG, "the snapshot: cannot seek: %s", strerror(errno));
    if (snapmeta_hash_fd(fd, hex, &bytes, err) < 0)
        return -1;
    if (bytes != m->bytes || strcmp(hex, m->sha256) != 0)
        return error_set(err, ERR_CONFIG,
                         "the snapshot is not the file its metadata describes (%llu bytes, "
                         "sha256 %s; the metadata says %llu bytes, sha256 %s): the file was "
                         "changed or the .json belongs to another snapshot",
                         bytes, hex, m->bytes, m->sha256);
    return 0;
}

/* --- restore checks ------------------------------------------------------------------------ */

static int parse_triple(const char *v, unsigned long out[3])
{
    const char *p = v;
    if (*p == 'v')
        p++;
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned long n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > 1000000)
                return -1;
            n = n * 10 + (unsigned long)(*p++ - '0');
        }
        out[i] = n;
        if (i < 2 && *p++ != '.')
            return -1;
    }
    return 0;
}

int snapmeta_version_cmp(const char *a, const char *b, int *cmp)
{
    unsigned long x[3], y[3];
    if (a == NULL || b == NULL || parse_triple(a, x) < 0 || parse_triple(b, y) < 0)
        return -1;
    *cmp = 0;
    for (int i = 0; i < 3 && *cmp == 0; i++)
        *cmp = x[i] < y[i] ? -1 : x[i] > y[i] ? 1 : 0;
    return 0;
}

int snapmeta_is_shamir(const char *seal_type)
{
    return seal_type == NULL || seal_type[0] == '\0' || strcmp(seal_type, "shamir") == 0;
}

int snapmeta_check_target(const struct snapmeta *m, const struct snapmeta_target *t,
                          struct error *err)
{
    if (t->product != NULL && strcmp(t->product, m->product) != 0)
        return error_set(err, ERR_USAGE,
                         "the snapshot comes from %s %s, this cluster runs %s %s: a restore across "
                         "products is not supported by this plugin",
                         m->product, m->version, t->product, t->version ? t->version : "?");
    int cmp = 0;
    if (t->version != NULL && snapmeta_version_cmp(t->version, m->version, &cmp) == 0 && cmp < 0)
        return error_set(err, ERR_USAGE,
                         "the snapshot comes from %s %s and this cluster runs %s, an older "
                         "version: a restore cannot downgrade; upgrade this cluster to %s or "
                         "later first",
                         m->product, m->version, t->version, m->version);
    int src_shamir = snapmeta_is_shamir(m->seal_type);
    if (t->seal_type != NULL && src_shamir != snapmeta_is_shamir(t->seal_type))
        return error_set(
            err, ERR_USAGE,
            "the snapshot comes from a cluster sealed with %s and this cluster uses %s: its "
            "pods could not unseal the restored data (%s); install this cluster with the "
            "source's seal type, restore, then migrate the seal (vault operator unseal "
            "-migrate) as a separate, planned step",
            m->seal_type, t->seal_type,
            src_shamir ? "they would need the source's Shamir keys through a seal migration"
                       : "they would need the source's KMS or transit key");
    return 0;
}
