/* Raft snapshot verification: gzip (zlib) -> tar state machine -> SHA-256 per
 * member (libcrypto EVP), all streaming in fixed buffers. */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "text.h"

#define OUT_CHUNK    (64u << 10)
#define TAR_BLOCK    512u
#define PAX_MAX      8192u /* a PAX extended header we keep (path, size); larger is refused */
#define LONGNAME_MAX 1024u /* a GNU long name we keep */

static const char *const member_names[SNAPSHOT_NMEMBERS] = {"meta.json", "state.bin", "SHA256SUMS",
                                                            "SHA256SUMS.sealed"};

#define MEMBER_LIST "meta.json, state.bin, SHA256SUMS and SHA256SUMS.sealed, in that order"

const char *snapshot_member_name(enum snapshot_member m)
{
    return (unsigned)m < SNAPSHOT_NMEMBERS ? member_names[m] : "?";
}

enum tar_state {
    T_HEADER, /* collecting a 512-byte header */
    T_DATA,   /* a member's content */
    T_EXTRA,  /* content of a PAX ('x'), GNU long name ('L') or skipped header */
    T_PAD,    /* padding to the next 512-byte boundary */
    T_END,    /* after the end-of-archive block: only zeros may follow */
};

enum extra_kind { EXTRA_PAX, EXTRA_LONGNAME, EXTRA_SKIP };

struct snapshot_verifier {
    z_stream zs;
    int z_ready; /* inflateInit2 done */
    int z_done;  /* Z_STREAM_END seen */
    int failed;  /* sticky */
    struct error failure;
    unsigned char magic[2];
    size_t magic_len;

    /* tar */
    enum tar_state ts;
    unsigned char hdr[TAR_BLOCK];
    size_t hdr_len;
    unsigned long long hdr_offset; /* decompressed offset of the current header */
    int member;                    /* enum snapshot_member being read, -1 = none */
    unsigned long long remaining;  /* of the member's or extra content */
    unsigned long long pad;
    int next; /* the member expected next (SNAPSHOT_NMEMBERS = all seen) */
    /* extended headers for the next member */
    enum extra_kind extra;
    unsigned long long extra_offset; /* of the extended header, for messages */
    char extra_buf[PAX_MAX + 1];
    size_t extra_len;
    char pax_path[LONGNAME_MAX + 1];
    int have_pax_path;
    unsigned long long pax_size;
    int have_pax_size;
    char longname[LONGNAME_MAX + 1];
    int have_longname;

    /* members */
    EVP_MD_CTX *md[2];
    char sums[SNAPSHOT_SMALL_MAX + 1];
    size_t sums_len;
    struct snapshot_info info;

    unsigned char out[OUT_CHUNK];
};

/* Records the first failure (sticky) and returns -1. */
static int fail(struct snapshot_verifier *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct snapshot_verifier *v, const char *fmt, ...)
{
    if (!v->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->failure.msg, sizeof v->failure.msg, fmt, ap);
        va_end(ap);
        v->failure.kind = ERR_PROTOCOL;
        v->failed = 1;
    }
    return -1;
}

struct snapshot_verifier *snapshot_verifier_new(struct error *err)
{
    struct snapshot_verifier *v = calloc(1, sizeof *v);
    if (v == NULL) {
        error_set(err, ERR_GENERIC, "out of memory for the snapshot verifier");
        return NULL;
    }
    v->member = -1;
    /* 16 + 15: a gzip wrapper only (zlib checks the header, CRC-32 and ISIZE). */
    if (inflateInit2(&v->zs, 16 + MAX_WBITS) != Z_OK) {
        free(v);
        error_set(err, ERR_GENERIC, "cannot start zlib's inflate");
        return NULL;
    }
    v->z_ready = 1;
    for (int i = 0; i < 2; i++) {
        v->md[i] = EVP_MD_CTX_new();
        if (v->md[i] == NULL || EVP_DigestInit_ex(v->md[i], EVP_sha256(), NULL) != 1) {
            snapshot_verifier_free(v);
            error_set(err, ERR_GENERIC, "cannot start SHA-256 (libcrypto)");
            return NULL;
        }
    }
    return v;
}

void snapshot_verifier_free(struct snapshot_verifier *v)
{
    if (v == NULL)
        return;
    if (v->z_ready)
        inflateEnd(&v->zs);
    for (int i = 0; i < 2; i++)
        EVP_MD_CTX_free(v->md[i]);
    free(v);
}

/* --- tar headers ------------------------------------------------------------------------- */

/* An octal field (NUL/space terminated, leading spaces allowed) or GNU base-256. */
static int parse_numeric(const unsigned char *f, size_t n, unsigned long long *out)
{
    unsigned long long x = 0;
    if (f[0] & 0x80) {
        if (f[0] != 0x80)
            return -1; /* negative or too large */
        for (size_t i = 1; i < n; i++) {
            if (x >> 55)
                return -1;
            x = (x << 8) | f[i];
        }
        *out = x;
        return 0;
    }
    size_t i = 0;
    while (i < n && f[i] == ' ')
        i++;
    size_t digits = 0;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (x >> 60)
            return -1;
        x = (x << 3) | (unsigned)(f[i] - '0');
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    *out = x;
    return 0;
}

static int is_zero_block(const unsigned char *b)
{
    for (size_t i = 0; i < TAR_BLOCK; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

static int header_checksum_ok(const unsigned char *h)
{
    unsigned long long stored;
    if (parse_numeric(h + 148, 8, &stored) < 0)
        return 0;
    unsigned long long usum = 0;
    long long ssum = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++) {
        unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
        usum += c;
        ssum += (signed char)c;
    }
    return stored == usum || (long long)stored == ssum;
}

/* Copies a NUL-padded field into dst. */
static void field_str(char *dst, size_t cap, const unsigned char *f, size_t n)
{
    size_t l = strnlen((const char *)f, n);
    if (l >= cap)
        l = cap - 1;
    memcpy(dst, f, l);
    dst[l] = '\0';
}

/* Copies a string, cut to fit. */
static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t l = strlen(src);
    if (l >= cap)
        l = cap - 1;
    memcpy(dst, src, l);
    dst[l] = '\0';
}

/* Parses PAX records for path and size, strictly: each record is a decimal
 * length (counting the whole record), a space, key=value and a newline, all
 * inside the header's content (no whitespace skipped, no sign, nothing read
 * past extra_len: bytes beyond it are stale, left by an earlier header). */
static int parse_pax(struct snapshot_verifier *v)
{
    const char *p = v->extra_buf, *end = v->extra_buf + v->extra_len;
    while (p < end) {
        const char *q = p;
        size_t len = 0;
        while (q < end && *q >= '0' && *q <= '9' && q - p < 8) /* PAX_MAX has 4 digits */
            len = len * 10 + (size_t)(*q++ - '0');
        /* digits, then ' ', then at least "k=" and '\n' inside the record */
        if (q == p || q >= end || *q != ' ' || len > (size_t)(end - p) ||
            len < (size_t)(q - p) + 4 || p[len - 1] != '\n')
            return fail(v, "bad PAX extended header in the tar archive at offset %llu",
                        v->extra_offset);
        const char *kv = q + 1, *rec_end = p + len - 1;
        const char *eq = memchr(kv, '=', (size_t)(rec_end - kv));
        if (eq == NULL || eq == kv)
            return fail(v, "bad PAX extended header in the tar archive at offset %llu",
                        v->extra_offset);
        size_t klen = (size_t)(eq - kv), vlen = (size_t)(rec_end - eq - 1);
        if (klen == 4 && memcmp(kv, "path", 4) == 0) {
            if (vlen > LONGNAME_MAX)
                vlen = LONGNAME_MAX;
            memcpy(v->pax_path, eq + 1, vlen);
            v->pax_path[vlen] = '\0';
            v->have_pax_path = 1;
        } else if (klen == 4 && memcmp(kv, "size", 4) == 0) {
            unsigned long long n = 0;
            size_t i = 0;
            for (; i < vlen && eq[1 + i] >= '0' && eq[1 + i] <= '9' && i < 19; i++)
                n = n * 10 + (unsigned)(eq[1 + i] - '0');
            if (vlen == 0 || i != vlen)
                return fail(v, "bad PAX size in the tar archive at offset %llu", v->extra_offset);
            v->pax_size = n;
            v->have_pax_size = 1;
        }
        p += len;
    }
    return 0;
}

static int member_end(struct snapshot_verifier *v);

/* A member header: decides what its content is. */
static int start_member(struct snapshot_verifier *v, const char *name, char type,
                        unsigned long long size)
{
    int idx = -1;
    for (int i = 0; i < SNAPSHOT_NMEMBERS; i++)
        if (strcmp(name, member_names[i]) == 0)
            idx = i;
    char shown[LONGNAME_MAX + 1];
    text_sanitize(shown, sizeof shown, name, strlen(name));
    if (idx < 0)
        return fail(v, "unexpected file \"%s\" in snapshot (a snapshot holds " MEMBER_LIST ")",
                    shown);
    if (type != '0' && type != '\0' && type != '7')
        return fail(v, "\"%s\" in the snapshot is not a regular file (tar type '%c')", shown, type);
    if (idx < v->next)
        return fail(v, "duplicate member \"%s\" in snapshot", shown);
    if (idx > v->next)
        return fail(
            v,
            "missing member \"%s\": \"%s\" comes in its place (a snapshot holds " MEMBER_LIST ")",
            member_names[v->next], shown);
    if (idx != SNAPSHOT_STATE && size > SNAPSHOT_SMALL_MAX)
        return fail(
            v,
            "%s is %llu bytes, over Vault's limit of 8 KiB (%u bytes) for meta.json and the "
            "hash files",
            shown, size, SNAPSHOT_SMALL_MAX);
    v->info.present[idx] = 1;
    v->info.member_size[idx] = size;
    v->member = idx;
    v->remaining = size;
    v->pad = (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK;
    v->next = idx + 1;
    if (size == 0) {
        if (member_end(v) < 0)
            return -1;
        v->ts = T_HEADER; /* no content, no padding */
        return 0;
    }
    v->ts = T_DATA;
    return 0;
}

static int handle_header(struct snapshot_verifier *v)
{
    const unsigned char *h = v->hdr;
    if (is_zero_block(h)) {
        v->ts = T_END;
        return 0;
    }
    if (!header_checksum_ok(h)) {
        if (v->hdr_offset == 0)
            return fail(v, "the gzip data is not a tar archive (bad tar header checksum): not a "
                           "Raft snapshot");
        return fail(v,
                    "corrupt tar header at offset %llu of the decompressed data (bad checksum)%s%s",
                    v->hdr_offset, v->next > 0 ? " after " : "",
                    v->next > 0 ? member_names[v->next - 1] : "");
    }
    unsigned long long size;
    if (parse_numeric(h + 124, 12, &size) < 0)
        return fail(v, "corrupt tar header at offset %llu (bad size field)", v->hdr_offset);
    char type = (char)h[156];
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
        if (type == 'x' && size > PAX_MAX)
            return fail(v,
                        "PAX extended header of %llu bytes at offset %llu: too large for a "
                        "snapshot member",
                        size, v->hdr_offset);
        v->extra = type == 'x' ? EXTRA_PAX : type == 'L' ? EXTRA_LONGNAME : EXTRA_SKIP;
        v->extra_offset = v->hdr_offset;
        v->extra_len = 0;
        v->remaining = size;
        v->pad = (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK;
        v->member = -1;
        v->ts = size > 0 ? T_EXTRA : (v->pad ? T_PAD : T_HEADER);
        if (size == 0 && type == 'x')
            return parse_pax(v);
        return 0;
    }
    char name[LONGNAME_MAX + 1 + 156];
    if (v->have_pax_path) {
        copy_cut(name, sizeof name, v->pax_path);
    } else if (v->have_longname) {
        copy_cut(name, sizeof name, v->longname);
    } else {
        char base[101], prefix[156];
        field_str(base, sizeof base, h, 100);
        prefix[0] = '\0';
        if (memcmp(h + 257, "ustar\0", 6) == 0)
            field_str(prefix, sizeof prefix, h + 345, 155);
        if (prefix[0] != '\0')
            snprintf(name, sizeof name, "%s/%s", prefix, base);
        else
            snprintf(name, sizeof name, "%s", base);
    }
    if (v->have_pax_size)
        size = v->pax_size;
    v->have_pax_path = v->have_longname = v->have_pax_size = 0;
    return start_member(v, name, type, size);
}

/* --- members ----------------------------------------------------------------------------- */

static void hex(char *dst, const unsigned char *d, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[d[i] >> 4];
        dst[2 * i + 1] = digits[d[i] & 15];
    }
    dst[2 * n] = '\0';
}

static int get_uint(struct snapshot_verifier *v, json_t *meta, const char *key,
                    unsigned long long *out)
{
    json_t *x = json_object_get(meta, key);
    if (x == NULL)
        return fail(v, "meta.json has no \"%s\"", key);
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return fail(v, "meta.json: \"%s\" is not a whole number", key);
    *out = (unsigned long long)json_integer_value(x);
    return 0;
}

static int parse_meta(struct snapshot_verifier *v)
{
    struct snapshot_info *in = &v->info;
    json_error_t jerr;
    json_t *meta = json_loadb(in->meta_json, in->meta_json_len, 0, &jerr);
    if (meta == NULL)
        return fail(v, "meta.json is not valid JSON: %s (line %d)", jerr.text, jerr.line);
    int rc = -1;
    unsigned long long version;
    json_t *id = json_object_get(meta, "ID");
    if (!json_is_object(meta)) {
        fail(v, "meta.json is not a JSON object");
        goto out;
    }
    if (id == NULL) {
        fail(v, "meta.json has no \"ID\"");
        goto out;
    }
    if (!json_is_string(id)) {
        fail(v, "meta.json: \"ID\" is not a string");
        goto out;
    }
    if (get_uint(v, meta, "Index", &in->index) < 0 || get_uint(v, meta, "Term", &in->term) < 0 ||
        get_uint(v, meta, "Version", &version) < 0 || get_uint(v, meta, "Size", &in->size) < 0)
        goto out;
    text_sanitize(in->id, sizeof in->id, json_string_value(id), json_string_length(id));
    in->version = (long long)version;
    in->have_meta = 1;
    rc = 0;
out:
    json_decref(meta);
    return rc;
}

/* SHA256SUMS: "<64 hex>  <name>" lines; each of meta.json and state.bin listed
 * with its hash, nothing else listed. */
static int check_sums(struct snapshot_verifier *v)
{
    int seen[2] = {0, 0};
    const char *p = v->sums, *end = v->sums + v->sums_len;
    for (int lineno = 1; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (le > p && le[-1] == '\r')
            le--;
        if (le == p) { /* blank line */
            p = next;
            continue;
        }
        const char *q = p;
        size_t nhex = 0;
        while (q < le && text_hex_digit((unsigned char)*q) >= 0) {
            q++;
            nhex++;
        }
        const char *sp = q;
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        if (q < le && *q == '*') /* sha256sum's binary-mode marker */
            q++;
        const char *name = q;
        while (q < le && *q != ' ' && *q != '\t')
            q++;
        size_t nlen = (size_t)(q - name);
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        if (nhex != 64 || sp == name || nlen == 0 || q != le)
            return fail(v, "SHA256SUMS line %d is not \"<sha256 hex>  <file name>\"", lineno);
        int idx = -1;
        for (int i = 0; i < 2; i++)
            if (nlen == strlen(member_names[i]) && memcmp(name, member_names[i], nlen) == 0)
                idx = i;
        if (idx < 0) {
            char shown[128];
            text_sanitize(shown, sizeof shown, name, nlen < 100 ? nlen : 100);
            return fail(v,
                        "SHA256SUMS lists \"%s\", which is not in the snapshot (only meta.json and "
                        "state.bin are hashed)",
                        shown);
        }
        char listed[65];
        for (size_t i = 0; i < 64; i++)
            listed[i] = (char)(p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 'a' : p[i]);
        listed[64] = '\0';
        if (strcmp(listed, v->info.sha256[idx]) != 0)
            return fail(v,
                        "checksum mismatch for \"%s\": SHA256SUMS says %s, its content hashes to "
                        "%s (the snapshot is corrupt)",
                        member_names[idx], listed, v->info.sha256[idx]);
        seen[idx] = 1;
        p = next;
    }
    for (int i = 0; i < 2; i++)
        if (!seen[i])
            return fail(v, "SHA256SUMS has no checksum for \"%s\"", member_names[i]);
    return 0;
}

static int member_end(struct snapshot_verifier *v)
{
    int m = v->member;
    v->member = -1;
    switch (m) {
    case SNAPSHOT_META:
    case SNAPSHOT_STATE: {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int dl = 0;
        if (EVP_DigestFinal_ex(v->md[m], d, &dl) != 1 || dl != 32)
            return fail(v, "SHA-256 failed (libcrypto)");
        hex(v->info.sha256[m], d, 32);
        if (m == SNAPSHOT_META) {
            v->info.meta_json[v->info.meta_json_len] = '\0';
            return parse_meta(v);
        }
        return 0;
    }
    case SNAPSHOT_SUMS:
        v->sums[v->sums_len] = '\0';
        return check_sums(v);
    case SNAPSHOT_SEALED:
        if (v->info.member_size[SNAPSHOT_SEALED] == 0)
            return fail(v, "SHA256SUMS.sealed is empty: the snapshot is incomplete (Vault "
                           "refuses it: unable to read SHA256SUMS.sealed file)");
        return 0;
    default:
        return 0;
    }
}

static int member_data(struct snapshot_verifier *v, const unsigned char *d, size_t n)
{
    struct snapshot_info *in = &v->info;
    switch (v->member) {
    case SNAPSHOT_META:
        memcpy(in->meta_json + in->meta_json_len, d, n); /* size checked <= 8 KiB */
        in->meta_json_len += n;
        /* fall through */
    case SNAPSHOT_STATE:
        if (EVP_DigestUpdate(v->md[v->member], d, n) != 1)
            return fail(v, "SHA-256 failed (libcrypto)");
        return 0;
    case SNAPSHOT_SUMS:
        memcpy(v->sums + v->sums_len, d, n);
        v->sums_len += n;
        return 0;
    default:
        return 0; /* SHA256SUMS.sealed: only its size matters here */
    }
}

/* Runs the tar state machine over decompressed bytes. */
static int tar_feed(struct snapshot_verifier *v, const unsigned char *d, size_t n)
{
    while (n > 0) {
        size_t take;
        switch (v->ts) {
        case T_HEADER:
            take = TAR_BLOCK - v->hdr_len;
            if (take > n)
                take = n;
            memcpy(v->hdr + v->hdr_len, d, take);
            v->hdr_len += take;
            if (v->hdr_len == TAR_BLOCK) {
                v->hdr_len = 0;
                if (handle_header(v) < 0)
                    return -1;
                v->hdr_offset += TAR_BLOCK;
            }
            break;
        case T_DATA:
            take = v->remaining < n ? (size_t)v->remaining : n;
            if (member_data(v, d, take) < 0)
                return -1;
            v->remaining -= take;
            if (v->remaining == 0) {
                if (member_end(v) < 0)
                    return -1;
                v->ts = v->pad ? T_PAD : T_HEADER;
            }
            v->hdr_offset += take;
            break;
        case T_EXTRA:
            take = v->remaining < n ? (size_t)v->remaining : n;
            if (v->extra == EXTRA_PAX || v->extra == EXTRA_LONGNAME) {
                size_t room = (v->extra == EXTRA_PAX ? PAX_MAX : LONGNAME_MAX) - v->extra_len;
                size_t keep = take < room ? take : room;
                memcpy(v->extra_buf + v->extra_len, d, keep);
                v->extra_len += keep;
            }
            v->remaining -= take;
            if (v->remaining == 0) {
                if (v->extra == EXTRA_PAX) {
                    if (parse_pax(v) < 0)
                        return -1;
                } else if (v->extra == EXTRA_LONGNAME) {
                    v->extra_buf[v->extra_len] = '\0';
                    copy_cut(v->longname, sizeof v->longname, v->extra_buf);
                    v->have_longname = 1;
                }
                v->ts = v->pad ? T_PAD : T_HEADER;
            }
            v->hdr_offset += take;
            break;
        case T_PAD:
            take = v->pad < n ? (size_t)v->pad : n;
            v->pad -= take;
            if (v->pad == 0)
                v->ts = T_HEADER;
            v->hdr_offset += take;
            break;
        case T_END:
            for (size_t i = 0; i < n; i++)
                if (d[i] != 0)
                    return fail(v,
                                "data after the tar archive's end marker (at decompressed "
                                "offset %llu)",
                                v->hdr_offset + i);
            take = n;
            v->hdr_offset += take;
            break;
        default:
            take = n;
        }
        d += take;
        n -= take;
    }
    return 0;
}

/* --- gzip ---------------------------------------------------------------------------------- */

static int gzip_error(struct snapshot_verifier *v, int zr)
{
    const char *m = v->zs.msg ? v->zs.msg : "";
    if (zr == Z_MEM_ERROR)
        return fail(v, "out of memory decompressing the snapshot");
    if (strcmp(m, "incorrect data check") == 0)
        return fail(v, "bad gzip: CRC-32 mismatch in the gzip trailer (the data is corrupt)");
    if (strcmp(m, "incorrect length check") == 0)
        return fail(v, "bad gzip: length mismatch in the gzip trailer (the data is corrupt)");
    if (strstr(m, "header") != NULL || strstr(m, "compression method") != NULL)
        return fail(v, "bad gzip header: %s", m);
    return fail(v, "bad gzip: corrupt compressed data near byte %lu (%s)", v->zs.total_in,
                m[0] ? m : "zlib error");
}

int snapshot_verifier_feed(struct snapshot_verifier *v, const void *data, size_t len,
                           struct error *err)
{
    const unsigned char *d = data;
    if (v->failed)
        goto failed;
    if (len == 0)
        return 0;
    v->info.compressed_bytes += len;
    for (size_t i = 0; i < len && v->magic_len < 2; i++)
        v->magic[v->magic_len++] = d[i];
    if ((v->magic_len >= 1 && v->magic[0] != 0x1f) || (v->magic_len == 2 && v->magic[1] != 0x8b)) {
        if (v->magic_len == 2)
            fail(
                v,
                "bad gzip: not gzip data (it starts with %02x %02x, not 1f 8b); a Raft snapshot is "
                "a gzip-compressed tar archive",
                v->magic[0], v->magic[1]);
        else
            fail(v,
                 "bad gzip: not gzip data (it starts with %02x, not 1f 8b); a Raft snapshot is a "
                 "gzip-compressed tar archive",
                 v->magic[0]);
        goto failed;
    }
    if (v->z_done) {
        fail(v, "%zu bytes of trailing data after the end of the gzip stream", len);
        goto failed;
    }
    v->zs.next_in = (unsigned char *)(uintptr_t)d;
    v->zs.avail_in = 0;
    size_t left = len;
    while (!v->z_done && (left > 0 || v->zs.avail_in > 0 || v->zs.avail_out == 0)) {
        if (v->zs.avail_in == 0 && left > 0) {
            uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
            v->zs.avail_in = chunk;
            left -= chunk;
        }
        v->zs.next_out = v->out;
        v->zs.avail_out = sizeof v->out;
        int zr = inflate(&v->zs, Z_NO_FLUSH);
        size_t produced = sizeof v->out - v->zs.avail_out;
        v->info.tar_bytes += produced;
        if (produced > 0 && tar_feed(v, v->out, produced) < 0)
            goto failed;
        if (zr == Z_STREAM_END) {
            v->z_done = 1;
        } else if (zr == Z_BUF_ERROR) {
            if (v->zs.avail_in == 0 && left == 0)
                break; /* all input consumed; needs more */
        } else if (zr != Z_OK) {
            gzip_error(v, zr);
            goto failed;
        }
    }
    if (v->z_done && (v->zs.avail_in > 0 || left > 0)) {
        fail(v, "%llu bytes of trailing data after the end of the gzip stream",
             (unsigned long long)v->zs.avail_in + left);
        goto failed;
    }
    return 0;
failed:
    if (err != NULL)
        *err = v->failure;
    return -1;
}

/* Where the stream stopped, for truncation messages. */
static void position(const struct snapshot_verifier *v, char *buf, size_t cap)
{
    if (v->ts == T_DATA && v->member >= 0)
        snprintf(buf, cap, "inside %s, %llu of %llu bytes read", member_names[v->member],
                 v->info.member_size[v->member] - v->remaining, v->info.member_size[v->member]);
    else if (v->next > 0 && v->next < SNAPSHOT_NMEMBERS)
        snprintf(buf, cap, "after %s, before %s", member_names[v->next - 1], member_names[v->next]);
    else if (v->next == 0)
        snprintf(buf, cap, "before meta.json");
    else
        snprintf(buf, cap, "after the last member");
}

int snapshot_verifier_finish(struct snapshot_verifier *v, struct snapshot_info *info,
                             struct error *err)
{
    char where[160];
    if (v->failed)
        goto done;
    if (v->info.compressed_bytes == 0) {
        fail(v, "empty snapshot: no data (a Raft snapshot is a gzip-compressed tar archive)");
        goto done;
    }
    if (!v->z_done) {
        position(v, where, sizeof where);
        fail(v, "truncated snapshot: the gzip stream ends after %llu bytes, before its end (%s)",
             v->info.compressed_bytes, where);
        goto done;
    }
    if (v->ts == T_DATA || v->ts == T_EXTRA || v->ts == T_PAD ||
        (v->ts == T_HEADER && v->hdr_len > 0)) {
        position(v, where, sizeof where);
        fail(v, "truncated tar archive inside a complete gzip stream (%s)", where);
        goto done;
    }
    if (v->next < SNAPSHOT_NMEMBERS) {
        if (v->next == 0)
            fail(v,
                 "missing member \"meta.json\": the archive is empty (a snapshot holds " MEMBER_LIST
                 ")");
        else
            fail(v,
                 "missing member \"%s\": the archive ends after \"%s\" (a snapshot "
                 "holds " MEMBER_LIST ")",
                 member_names[v->next], member_names[v->next - 1]);
        goto done;
    }
done:
    if (info != NULL)
        *info = v->info;
    if (v->failed) {
        if (err != NULL)
            *err = v->failure;
        return -1;
    }
    return 0;
}

/* --- files ----------------------------------------------------------------------------------- */

int snapshot_verify_fd(int fd, snapshot_progress_fn progress, void *progress_ctx,
                       struct snapshot_info *info, struct error *err)
{
    struct snapshot_verifier *v = snapshot_verifier_new(err);
    if (v == NULL)
        return -1;
    unsigned long long total = 0, done = 0;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        total = (unsigned long long)st.st_size;
    static const size_t cap = 128u << 10;
    unsigned char *buf = malloc(cap);
    int rc = -1;
    if (buf == NULL) {
        error_set(err, ERR_GENERIC, "out of memory reading the snapshot");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            error_set(err, ERR_CONFIG, "read: %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        done += (unsigned long long)n;
        if (snapshot_verifier_feed(v, buf, (size_t)n, err) < 0) {
            snapshot_verifier_finish(v, info, NULL);
            goto out;
        }
        if (progress != NULL)
            progress(progress_ctx, done, total);
    }
    rc = snapshot_verifier_finish(v, info, err);
out:
    free(buf);
    snapshot_verifier_free(v);
    return rc;
}

int snapshot_verify_file(const char *path, struct snapshot_info *info, struct error *err)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, ERR_CONFIG, "cannot open %s: %s", path, strerror(errno));
    int rc = snapshot_verify_fd(fd, NULL, NULL, info, err);
    if (fd != STDIN_FILENO)
        close(fd);
    if (rc < 0)
        error_wrap(err, "%s", strcmp(path, "-") == 0 ? "stdin" : path);
    return rc;
}
