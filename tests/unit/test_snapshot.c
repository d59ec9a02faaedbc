/* lib/snapshot: the streaming verifier on archives built here (a tiny tar
 * writer + zlib), fed whole, byte by byte and in odd chunks; every corruption
 * is named exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "snapshot.h"

/* --- building archives --------------------------------------------------------------------- */

struct buf {
    unsigned char *d;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->d = realloc(b->d, cap);
        assert_non_null(b->d);
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->d + b->len, d, n);
    b->len += n;
}

static void buf_free(struct buf *b)
{
    free(b->d);
    memset(b, 0, sizeof *b);
}

/* One ustar header; the size in octal, or in GNU base-256 when base256. */
static void tar_header(struct buf *tar, const char *name, char type, unsigned long long size,
                       int base256)
{
    unsigned char h[512];
    memset(h, 0, sizeof h);
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000600", 8);
    memcpy(h + 108, "0001750", 8);
    memcpy(h + 116, "0001750", 8);
    if (base256) {
        h[124] = 0x80;
        for (int i = 0; i < 8; i++)
            h[135 - i] = (unsigned char)(size >> (8 * i));
    } else {
        char sz[13];
        snprintf(sz, sizeof sz, "%011llo", size);
        memcpy(h + 124, sz, 12);
    }
    memcpy(h + 136, "14770000000", 12);
    h[156] = (unsigned char)type;
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    char ck[8];
    snprintf(ck, sizeof ck, "%06o", sum);
    memcpy(h + 148, ck, 7);
    h[155] = ' ';
    buf_add(tar, h, sizeof h);
}

static void tar_member(struct buf *tar, const char *name, const void *data, size_t n)
{
    tar_header(tar, name, '0', n, 0);
    buf_add(tar, data, n);
    static const unsigned char zeros[512];
    buf_add(tar, zeros, (512 - n % 512) % 512);
}

static void tar_end(struct buf *tar)
{
    static const unsigned char zeros[1024];
    buf_add(tar, zeros, sizeof zeros);
}

static struct buf gzip_of(const struct buf *tar, int level)
{
    struct buf out = {0};
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = tar->d;
    zs.avail_in = (uInt)tar->len;
    unsigned char chunk[16384];
    int zr;
    do {
        zs.next_out = chunk;
        zs.avail_out = sizeof chunk;
        zr = deflate(&zs, Z_FINISH);
        assert_true(zr == Z_OK || zr == Z_STREAM_END || zr == Z_BUF_ERROR);
        buf_add(&out, chunk, sizeof chunk - zs.avail_out);
    } while (zr != Z_STREAM_END);
    deflateEnd(&zs);
    return out;
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int l = 0;
    assert_int_equal(EVP_Digest(d, n, md, &l, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static const char META[] = "{\"Version\":1,\"ID\":\"3-42-1764000000000\",\"Index\":42,\"Term\":3,"
                           "\"Peers\":\"kA==\",\"Configuration\":{\"Servers\":[]},"
                           "\"ConfigurationIndex\":1,\"Size\":%zu}";

/* The pieces of one archive; the builder writes them in order. */
struct part {
    const char *name;
    const void *data;
    size_t len;
};

/* Deterministic state.bin bytes (not very compressible). */
static unsigned char *make_state(size_t n)
{
    unsigned char *s = malloc(n ? n : 1);
    uint32_t x = 0x12345678;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        s[i] = (unsigned char)(x >> 16);
    }
    return s;
}

struct archive {
    char meta[512];
    unsigned char *state;
    size_t state_len;
    char sums[256];
    unsigned char sealed[40];
    char meta_sha[65], state_sha[65];
};

static void archive_init(struct archive *a, size_t state_len)
{
    memset(a, 0, sizeof *a);
    snprintf(a->meta, sizeof a->meta, META, state_len);
    a->state = make_state(state_len);
    a->state_len = state_len;
    sha256_hex(a->meta, strlen(a->meta), a->meta_sha);
    sha256_hex(a->state, state_len, a->state_sha);
    snprintf(a->sums, sizeof a->sums, "%s  meta.json\n%s  state.bin\n", a->meta_sha, a->state_sha);
    memset(a->sealed, 0xa5, sizeof a->sealed);
}

/* The four members in order, as Vault writes them. */
static size_t standard_parts(struct archive *a, struct part *p)
{
    p[0] = (struct part){"meta.json", a->meta, strlen(a->meta)};
    p[1] = (struct part){"state.bin", a->state, a->state_len};
    p[2] = (struct part){"SHA256SUMS", a->sums, strlen(a->sums)};
    p[3] = (struct part){"SHA256SUMS.sealed", a->sealed, sizeof a->sealed};
    return 4;
}

static struct buf build(const struct part *p, size_t n, int level)
{
    struct buf tar = {0};
    for (size_t i = 0; i < n; i++)
        tar_member(&tar, p[i].name, p[i].data, p[i].len);
    tar_end(&tar);
    struct buf gz = gzip_of(&tar, level);
    buf_free(&tar);
    return gz;
}

/* Feeds d in chunks of `chunk` bytes (0 = all at once); returns finish's result. */
static int verify_chunks(const unsigned char *d, size_t n, size_t chunk, struct snapshot_info *info,
                         struct error *err)
{
    struct error e0 = {0};
    struct snapshot_verifier *v = snapshot_verifier_new(&e0);
    assert_non_null(v);
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0;) {
        size_t take = chunk == 0 || chunk > n - off ? n - off : chunk;
        rc = snapshot_verifier_feed(v, d + off, take, err);
        off += take;
    }
    int frc = snapshot_verifier_finish(v, info, rc == 0 ? err : NULL);
    snapshot_verifier_free(v);
    return rc < 0 ? rc : frc;
}

static struct snapshot_info *info_new(void)
{
    struct snapshot_info *i = calloc(1, sizeof *i);
    assert_non_null(i);
    return i;
}

/* Verifies d and expects failure with exactly msg. */
static void expect_error(const struct buf *gz, size_t chunk, const char *msg)
{
    struct snapshot_info *info = info_new();
    struct error err = {0};
    assert_int_equal(verify_chunks(gz->d, gz->len, chunk, info, &err), -1);
    assert_string_equal(err.msg, msg);
    assert_int_equal(err.kind, ERR_PROTOCOL);
    free(info);
}

#define HOLDS                                                                                      \
    "(a snapshot holds meta.json, state.bin, SHA256SUMS and SHA256SUMS.sealed, in that order)"

/* --- tests ------------------------------------------------------------------------------------ */

static void check_valid_info(const struct snapshot_info *info, const struct archive *a,
                             const struct buf *gz)
{
    assert_string_equal(info->id, "3-42-1764000000000");
    assert_int_equal(info->index, 42);
    assert_int_equal(info->term, 3);
    assert_int_equal(info->version, 1);
    assert_int_equal(info->size, a->state_len);
    assert_int_equal(info->have_meta, 1);
    assert_string_equal(info->meta_json, a->meta);
    assert_int_equal(info->meta_json_len, strlen(a->meta));
    for (int i = 0; i < SNAPSHOT_NMEMBERS; i++)
        assert_int_equal(info->present[i], 1);
    assert_int_equal(info->member_size[SNAPSHOT_META], strlen(a->meta));
    assert_int_equal(info->member_size[SNAPSHOT_STATE], a->state_len);
    assert_int_equal(info->member_size[SNAPSHOT_SUMS], strlen(a->sums));
    assert_int_equal(info->member_size[SNAPSHOT_SEALED], sizeof a->sealed);
    assert_string_equal(info->sha256[SNAPSHOT_META], a->meta_sha);
    assert_string_equal(info->sha256[SNAPSHOT_STATE], a->state_sha);
    assert_int_equal(info->compressed_bytes, gz->len);
    size_t tar = 0;
    size_t sizes[] = {strlen(a->meta), a->state_len, strlen(a->sums), sizeof a->sealed};
    for (int i = 0; i < 4; i++)
        tar += 512 + (sizes[i] + 511) / 512 * 512;
    assert_int_equal(info->tar_bytes, tar + 1024);
}

static void test_valid_whole_bytewise_and_odd_chunks(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 100000);
    struct part p[4];
    size_t n = standard_parts(&a, p);
    struct buf gz = build(p, n, 6);
    static const size_t chunks[] = {0, 1, 2, 7, 511, 512, 513, 4099, 65537};
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        struct snapshot_info *info = info_new();
        struct error err = {0};
        int rc = verify_chunks(gz.d, gz.len, chunks[c], info, &err);
        if (rc != 0)
            fail_msg("chunk %zu: %s", chunks[c], err.msg);
        check_valid_info(info, &a, &gz);
        free(info);
    }
    buf_free(&gz);
    free(a.state);
}

static void test_valid_stored_and_empty_state(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 0);
    struct part p[4];
    size_t n = standard_parts(&a, p);
    struct buf gz = build(p, n, 0);
    struct snapshot_info *info = info_new();
    struct error err = {0};
    assert_int_equal(verify_chunks(gz.d, gz.len, 3, info, &err), 0);
    check_valid_info(info, &a, &gz);
    free(info);
    buf_free(&gz);
    free(a.state);
}

static void test_sums_any_order_crlf_uppercase(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 1000);
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(a.state_sha[i] >= 'a' && a.state_sha[i] <= 'f' ? a.state_sha[i] - 32
                                                                         : a.state_sha[i]);
    snprintf(a.sums, sizeof a.sums, "%s  state.bin\r\n\n%s  meta.json", upper, a.meta_sha);
    struct part p[4];
    size_t n = standard_parts(&a, p);
    struct buf gz = build(p, n, 6);
    struct snapshot_info *info = info_new();
    struct error err = {0};
    assert_int_equal(verify_chunks(gz.d, gz.len, 0, info, &err), 0);
    assert_string_equal(info->sha256[SNAPSHOT_STATE], a.state_sha);
    free(info);
    buf_free(&gz);
    free(a.state);
}

static void test_pax_and_gnu_headers(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 3000);
    struct buf tar = {0};
    tar_member(&tar, "meta.json", a.meta, strlen(a.meta));
    /* state.bin named by a PAX record, its size in GNU base-256 */
    static const char pax[] = "18 path=state.bin\n";
    tar_header(&tar, "PaxHeaders/x", 'x', strlen(pax), 0);
    buf_add(&tar, pax, strlen(pax));
    static const unsigned char zeros[512];
    buf_add(&tar, zeros, 512 - strlen(pax));
    tar_header(&tar, "ignored-name", '0', a.state_len, 1);
    buf_add(&tar, a.state, a.state_len);
    buf_add(&tar, zeros, (512 - a.state_len % 512) % 512);
    /* SHA256SUMS named by a GNU long name */
    tar_header(&tar, "././@LongLink", 'L', 11, 0);
    buf_add(&tar, "SHA256SUMS", 11);
    buf_add(&tar, zeros, 512 - 11);
    tar_header(&tar, "SHA256SUM", '0', strlen(a.sums), 0);
    buf_add(&tar, a.sums, strlen(a.sums));
    buf_add(&tar, zeros, (512 - strlen(a.sums) % 512) % 512);
    tar_member(&tar, "SHA256SUMS.sealed", a.sealed, sizeof a.sealed);
    tar_end(&tar);
    struct buf gz = gzip_of(&tar, 6);
    struct snapshot_info *info = info_new();
    struct error err = {0};
    int rc = verify_chunks(gz.d, gz.len, 100, info, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(info->member_size[SNAPSHOT_STATE], 3000);
    assert_string_equal(info->sha256[SNAPSHOT_STATE], a.state_sha);
    free(info);
    buf_free(&gz);
    buf_free(&tar);
    free(a.state);
}

/* An archive whose state.bin is preceded by a PAX header holding pax (len bytes). */
static struct buf with_pax_before_state(struct archive *a, const char *pax, size_t len)
{
    struct buf tar = {0};
    static const unsigned char zeros[512];
    /* meta.json named by a PAX header whose comment holds stale-looking text. */
    static const char first[] = "33 comment=xxxxx1 path=meta.json\n18 path=meta.json\n";
    tar_header(&tar, "PaxHeaders/m", 'x', strlen(first), 0);
    buf_add(&tar, first, strlen(first));
    buf_add(&tar, zeros, 512 - strlen(first));
    tar_header(&tar, "ignored", '0', strlen(a->meta), 0);
    buf_add(&tar, a->meta, strlen(a->meta));
    buf_add(&tar, zeros, (512 - strlen(a->meta) % 512) % 512);
    tar_header(&tar, "PaxHeaders/s", 'x', len, 0);
    buf_add(&tar, pax, len);
    buf_add(&tar, zeros, (512 - len % 512) % 512);
    tar_member(&tar, "state.bin", a->state, a->state_len);
    tar_member(&tar, "SHA256SUMS", a->sums, strlen(a->sums));
    tar_member(&tar, "SHA256SUMS.sealed", a->sealed, sizeof a->sealed);
    tar_end(&tar);
    struct buf gz = gzip_of(&tar, 6);
    buf_free(&tar);
    return gz;
}

static void test_pax_records_parsed_strictly(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 700);
    /* The same layout with a good PAX header verifies. */
    struct buf gz = with_pax_before_state(&a, "18 path=state.bin\n", 18);
    struct snapshot_info *info = info_new();
    struct error err = {0};
    if (verify_chunks(gz.d, gz.len, 0, info, &err) != 0)
        fail_msg("%s", err.msg);
    free(info);
    buf_free(&gz);
    /* "\n1 ": strtoul skipped the newline, and a negative length reached memchr
     * (found by fuzzing). Only whitespace: strtoul ran into the first header's
     * stale bytes and took "path=meta.json" from there. Then: no space after the
     * length, no '=', a record running past the header, a length that is not
     * decimal, a sign, a record that is not newline-terminated. */
    static const char *const bad[] = {
        "\n1 ",
        "\n               ",
        "18path=state.bin\n",
        "8 pathst\n",
        "99 path=state.bin\n",
        "0x12 path=state.bin\n",
        "+18 path=state.bin\n",
        " 19 path=state.bin\n",
        "18 path=state.bin ",
        "4 =\n",
        "3 \n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gz = with_pax_before_state(&a, bad[i], strlen(bad[i]));
        /* the second PAX header, after 3 headers and meta.json's block */
        char msg[128];
        snprintf(msg, sizeof msg, "bad PAX extended header in the tar archive at offset %d",
                 512 * 4);
        expect_error(&gz, 0, msg);
        expect_error(&gz, 1, msg);
        buf_free(&gz);
    }
    free(a.state);
}

static void test_bad_gzip(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 5000);
    struct part p[4];
    size_t n = standard_parts(&a, p);
    struct buf gz = build(p, n, 6);

    struct buf zip = {0};
    buf_add(&zip, "PK\003\004 not a snapshot", 19);
    expect_error(&zip, 0,
                 "bad gzip: not gzip data (it starts with 50 4b, not 1f 8b); a Raft "
                 "snapshot is a gzip-compressed tar archive");
    expect_error(&zip, 1,
                 "bad gzip: not gzip data (it starts with 50, not 1f 8b); a Raft "
                 "snapshot is a gzip-compressed tar archive");
    buf_free(&zip);

    struct buf c = {0};
    buf_add(&c, gz.d, gz.len);
    c.d[2] = 7; /* compression method */
    expect_error(&c, 0, "bad gzip header: unknown compression method");
    memcpy(c.d, gz.d, gz.len);
    c.d[c.len - 8] ^= 0x01; /* CRC-32 */
    expect_error(&c, 0, "bad gzip: CRC-32 mismatch in the gzip trailer (the data is corrupt)");
    expect_error(&c, 1, "bad gzip: CRC-32 mismatch in the gzip trailer (the data is corrupt)");
    memcpy(c.d, gz.d, gz.len);
    c.d[c.len - 1] ^= 0x01; /* ISIZE */
    expect_error(&c, 0, "bad gzip: length mismatch in the gzip trailer (the data is corrupt)");
    memcpy(c.d, gz.d, gz.len);
    c.d[10] = 0xff; /* first deflate block header: reserved block type 3 */
    expect_error(&c, 0, "bad gzip: corrupt compressed data near byte 11 (invalid block type)");
    buf_free(&c);

    /* trailing garbage after the gzip stream */
    struct buf t = {0};
    buf_add(&t, gz.d, gz.len);
    buf_add(&t, "junk", 4);
    expect_error(&t, 0, "4 bytes of trailing data after the end of the gzip stream");
    expect_error(&t, 1, "1 bytes of trailing data after the end of the gzip stream");
    buf_free(&t);

    /* gzip around something that is not a tar */
    struct buf notar = {0}, text = {0};
    for (int i = 0; i < 100; i++)
        buf_add(&text, "hello, this is not a tar archive\n", 33);
    notar = gzip_of(&text, 6);
    expect_error(&notar, 0,
                 "the gzip data is not a tar archive (bad tar header checksum): not a "
                 "Raft snapshot");
    buf_free(&notar);
    buf_free(&text);
    buf_free(&gz);
    free(a.state);
}

static void test_truncated_at_several_offsets(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 200000);
    struct part p[4];
    size_t n = standard_parts(&a, p);
    struct buf gz = build(p, n, 0); /* stored: decompressed position follows the input */

    struct buf empty = {0};
    expect_error(&empty, 0,
                 "empty snapshot: no data (a Raft snapshot is a gzip-compressed tar archive)");

    size_t cuts[] = {1, 10, 600, gz.len / 2, gz.len - 9, gz.len - 8, gz.len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        struct buf cut = {0};
        buf_add(&cut, gz.d, cuts[i]);
        struct snapshot_info *info = info_new();
        struct error err = {0};
        assert_int_equal(verify_chunks(cut.d, cut.len, 4096, info, &err), -1);
        char want[256];
        snprintf(want, sizeof want,
                 "truncated snapshot: the gzip stream ends after %zu bytes, before its end (",
                 cuts[i]);
        if (strncmp(err.msg, want, strlen(want)) != 0)
            fail_msg("cut at %zu: %s", cuts[i], err.msg);
        assert_int_equal(info->compressed_bytes, cuts[i]);
        free(info);
        buf_free(&cut);
    }
    /* where it stopped */
    struct buf cut = {0};
    buf_add(&cut, gz.d, 10);
    expect_error(&cut, 0,
                 "truncated snapshot: the gzip stream ends after 10 bytes, before its end (before "
                 "meta.json)");
    buf_free(&cut);
    buf_add(&cut, gz.d, gz.len - 1);
    char want_end[256];
    snprintf(want_end, sizeof want_end,
             "truncated snapshot: the gzip stream ends after %zu bytes, before its end (after the "
             "last member)",
             gz.len - 1);
    expect_error(&cut, 0, want_end);
    buf_free(&cut);
    buf_add(&cut, gz.d, gz.len / 2);
    struct snapshot_info *info = info_new();
    struct error err = {0};
    assert_int_equal(verify_chunks(cut.d, cut.len, 0, info, &err), -1);
    assert_non_null(strstr(err.msg, "(inside state.bin, "));
    assert_non_null(strstr(err.msg, " of 200000 bytes read)"));
    assert_int_equal(info->have_meta, 1); /* what was learnt before the cut */
    assert_int_equal(info->index, 42);
    free(info);
    buf_free(&cut);
    buf_free(&gz);
    free(a.state);
}

static void test_truncated_tar_in_complete_gzip(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 2000);
    struct buf tar = {0};
    tar_member(&tar, "meta.json", a.meta, strlen(a.meta));
    tar_header(&tar, "state.bin", '0', a.state_len, 0);
    buf_add(&tar, a.state, 1000); /* half of state.bin, then the gzip stream ends properly */
    struct buf gz = gzip_of(&tar, 6);
    expect_error(&gz, 0,
                 "truncated tar archive inside a complete gzip stream (inside state.bin, 1000 of "
                 "2000 bytes read)");
    buf_free(&gz);
    buf_free(&tar);
    free(a.state);
}

static void test_missing_members(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 1000);
    struct part p[4];
    standard_parts(&a, p);

    struct part no_state[] = {p[0], p[2], p[3]};
    struct buf gz = build(no_state, 3, 6);
    expect_error(&gz, 0, "missing member \"state.bin\": \"SHA256SUMS\" comes in its place " HOLDS);
    buf_free(&gz);

    gz = build(p, 3, 6); /* no SHA256SUMS.sealed */
    expect_error(
        &gz, 0,
        "missing member \"SHA256SUMS.sealed\": the archive ends after \"SHA256SUMS\" " HOLDS);
    buf_free(&gz);

    gz = build(p, 0, 6); /* an empty tar */
    expect_error(&gz, 0, "missing member \"meta.json\": the archive is empty " HOLDS);
    buf_free(&gz);

    struct part swapped[] = {p[1], p[0], p[2], p[3]};
    gz = build(swapped, 4, 6);
    expect_error(&gz, 0, "missing member \"meta.json\": \"state.bin\" comes in its place " HOLDS);
    buf_free(&gz);

    struct part dup[] = {p[0], p[0], p[1], p[2], p[3]};
    gz = build(dup, 5, 6);
    expect_error(&gz, 0, "duplicate member \"meta.json\" in snapshot");
    buf_free(&gz);
    free(a.state);
}

static void test_wrong_checksums(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 1000);
    const char *bad = "0000000000000000000000000000000000000000000000000000000000000000";
    snprintf(a.sums, sizeof a.sums, "%s  meta.json\n%s  state.bin\n", a.meta_sha, bad);
    struct part p[4];
    standard_parts(&a, p);
    struct buf gz = build(p, 4, 6);
    char want[512];
    snprintf(want, sizeof want,
             "checksum mismatch for \"state.bin\": SHA256SUMS says %s, its content hashes to %s "
             "(the snapshot is corrupt)",
             bad, a.state_sha);
    expect_error(&gz, 0, want);
    expect_error(&gz, 1, want);
    buf_free(&gz);

    /* state.bin changed after the sums were made */
    struct archive b;
    archive_init(&b, 1000);
    char orig[65];
    snprintf(orig, sizeof orig, "%s", b.state_sha);
    b.state[500] ^= 1;
    char now[65];
    sha256_hex(b.state, b.state_len, now);
    standard_parts(&b, p);
    gz = build(p, 4, 6);
    snprintf(want, sizeof want,
             "checksum mismatch for \"state.bin\": SHA256SUMS says %s, its content hashes to %s "
             "(the snapshot is corrupt)",
             orig, now);
    expect_error(&gz, 0, want);
    buf_free(&gz);

    snprintf(b.sums, sizeof b.sums, "%s  state.bin\n", now);
    standard_parts(&b, p);
    gz = build(p, 4, 6);
    expect_error(&gz, 0, "SHA256SUMS has no checksum for \"meta.json\"");
    buf_free(&gz);

    snprintf(b.sums, sizeof b.sums, "%s  meta.json\n%s  state.bin\n%s  other.bin\n", b.meta_sha,
             now, now);
    standard_parts(&b, p);
    gz = build(p, 4, 6);
    expect_error(&gz, 0,
                 "SHA256SUMS lists \"other.bin\", which is not in the snapshot (only meta.json and "
                 "state.bin are hashed)");
    buf_free(&gz);

    snprintf(b.sums, sizeof b.sums, "%s  meta.json\n%.60s  state.bin\n", b.meta_sha, now);
    standard_parts(&b, p);
    gz = build(p, 4, 6);
    expect_error(&gz, 0, "SHA256SUMS line 2 is not \"<sha256 hex>  <file name>\"");
    buf_free(&gz);
    free(a.state);
    free(b.state);
}

static void test_unexpected_member(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 1000);
    struct part p[4];
    standard_parts(&a, p);
    struct part extra = {"extra.txt", "hello", 5};
    struct part with_extra[] = {p[0], p[1], extra, p[2], p[3]};
    struct buf gz = build(with_extra, 5, 6);
    expect_error(&gz, 0, "unexpected file \"extra.txt\" in snapshot " HOLDS);
    expect_error(&gz, 1, "unexpected file \"extra.txt\" in snapshot " HOLDS);
    buf_free(&gz);

    struct part at_end[] = {p[0], p[1], p[2], p[3], extra};
    gz = build(at_end, 5, 6);
    expect_error(&gz, 0, "unexpected file \"extra.txt\" in snapshot " HOLDS);
    buf_free(&gz);

    struct part dir_name[] = {{"snap/meta.json", a.meta, strlen(a.meta)}};
    gz = build(dir_name, 1, 6);
    expect_error(&gz, 0, "unexpected file \"snap/meta.json\" in snapshot " HOLDS);
    buf_free(&gz);

    /* A name carrying terminal escapes is shown with them made visible (lib/text). */
    struct part hostile[] = {{"\x1b]52;c;ZXZpbA==\x07\x1b[2J\xc2\x9b", "x", 1}};
    gz = build(hostile, 1, 6);
    expect_error(&gz, 0,
                 "unexpected file \"\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\u009b\" in snapshot " HOLDS);
    buf_free(&gz);

    struct buf tar = {0};
    tar_header(&tar, "meta.json", '5', 0, 0);
    tar_end(&tar);
    gz = gzip_of(&tar, 6);
    expect_error(&gz, 0, "\"meta.json\" in the snapshot is not a regular file (tar type '5')");
    buf_free(&gz);
    buf_free(&tar);
    free(a.state);
}

static void test_oversize_meta_and_sums(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 10);
    struct part p[4];
    standard_parts(&a, p);
    char *big = malloc(9000);
    memset(big, ' ', 9000);
    memcpy(big, a.meta, strlen(a.meta));
    p[0].data = big;
    p[0].len = 9000;
    struct buf gz = build(p, 4, 6);
    expect_error(&gz, 0,
                 "meta.json is 9000 bytes, over Vault's limit of 8 KiB (8192 bytes) for meta.json "
                 "and the hash files");
    buf_free(&gz);
    /* exactly 8 KiB is fine (JSON with trailing spaces) */
    p[0].len = 8192;
    char sha[65];
    sha256_hex(big, 8192, sha);
    snprintf(a.sums, sizeof a.sums, "%s  meta.json\n%s  state.bin\n", sha, a.state_sha);
    p[2].len = strlen(a.sums);
    gz = build(p, 4, 6);
    struct snapshot_info *info = info_new();
    struct error err = {0};
    assert_int_equal(verify_chunks(gz.d, gz.len, 0, info, &err), 0);
    assert_int_equal(info->meta_json_len, 8192);
    free(info);
    buf_free(&gz);

    snprintf(a.sums, sizeof a.sums, "%s  meta.json\n%s  state.bin\n", a.meta_sha, a.state_sha);
    standard_parts(&a, p);
    p[3].data = big;
    p[3].len = 8193;
    gz = build(p, 4, 6);
    expect_error(&gz, 0,
                 "SHA256SUMS.sealed is 8193 bytes, over Vault's limit of 8 KiB (8192 bytes) for "
                 "meta.json and the hash files");
    buf_free(&gz);
    free(big);
    free(a.state);
}

static void test_empty_sealed(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 100);
    struct part p[4];
    standard_parts(&a, p);
    p[3].len = 0;
    struct buf gz = build(p, 4, 6);
    expect_error(&gz, 0,
                 "SHA256SUMS.sealed is empty: the snapshot is incomplete (Vault refuses it: unable "
                 "to read SHA256SUMS.sealed file)");
    buf_free(&gz);
    free(a.state);
}

static void test_bad_meta(void **state)
{
    (void)state;
    static const struct {
        const char *meta, *msg;
    } cases[] = {
        {"{\"ID\":\"x\",\"Index\":1", "meta.json is not valid JSON: "},
        {"[1,2]", "meta.json is not a JSON object"},
        {"{\"Index\":1,\"Term\":1,\"Version\":1,\"Size\":0}", "meta.json has no \"ID\""},
        {"{\"ID\":7,\"Index\":1,\"Term\":1,\"Version\":1,\"Size\":0}",
         "meta.json: \"ID\" is not a string"},
        {"{\"ID\":\"x\",\"Term\":1,\"Version\":1,\"Size\":0}", "meta.json has no \"Index\""},
        {"{\"ID\":\"x\",\"Index\":\"1\",\"Term\":1,\"Version\":1,\"Size\":0}",
         "meta.json: \"Index\" is not a whole number"},
        {"{\"ID\":\"x\",\"Index\":1,\"Term\":-1,\"Version\":1,\"Size\":0}",
         "meta.json: \"Term\" is not a whole number"},
        {"{\"ID\":\"x\",\"Index\":1,\"Term\":1,\"Size\":0}", "meta.json has no \"Version\""},
        {"{\"ID\":\"x\",\"Index\":1,\"Term\":1,\"Version\":1}", "meta.json has no \"Size\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct archive a;
        archive_init(&a, 10);
        snprintf(a.meta, sizeof a.meta, "%s", cases[i].meta);
        struct part p[4];
        standard_parts(&a, p);
        struct buf gz = build(p, 4, 6);
        struct snapshot_info *info = info_new();
        struct error err = {0};
        assert_int_equal(verify_chunks(gz.d, gz.len, 0, info, &err), -1);
        if (strncmp(err.msg, cases[i].msg, strlen(cases[i].msg)) != 0 ||
            (cases[i].msg[strlen(cases[i].msg) - 1] != ' ' && strcmp(err.msg, cases[i].msg) != 0))
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, cases[i].msg);
        assert_int_equal(info->have_meta, 0);
        free(info);
        buf_free(&gz);
        free(a.state);
    }
}

static void test_bad_tar_header_and_data_after_end(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 1000);
    struct buf tar = {0};
    tar_member(&tar, "meta.json", a.meta, strlen(a.meta));
    size_t off = tar.len;
    tar_member(&tar, "state.bin", a.state, a.state_len);
    tar.d[off + 10] ^= 0x40; /* inside the name: checksum no longer matches */
    tar_end(&tar);
    struct buf gz = gzip_of(&tar, 6);
    expect_error(&gz, 0,
                 "corrupt tar header at offset 1024 of the decompressed data (bad checksum) after "
                 "meta.json");
    buf_free(&gz);
    buf_free(&tar);

    struct part p[4];
    standard_parts(&a, p);
    for (size_t i = 0; i < 4; i++)
        tar_member(&tar, p[i].name, p[i].data, p[i].len);
    tar_end(&tar);
    buf_add(&tar, "x", 1);
    gz = gzip_of(&tar, 6);
    expect_error(&gz, 0, "data after the tar archive's end marker (at decompressed offset 5632)");
    buf_free(&gz);
    buf_free(&tar);

    /* no end-of-archive blocks at all is accepted (Go's archive/tar does too) */
    for (size_t i = 0; i < 4; i++)
        tar_member(&tar, p[i].name, p[i].data, p[i].len);
    gz = gzip_of(&tar, 6);
    struct snapshot_info *info = info_new();
    struct error err = {0};
    assert_int_equal(verify_chunks(gz.d, gz.len, 0, info, &err), 0);
    free(info);
    buf_free(&gz);
    buf_free(&tar);
    free(a.state);
}

static void test_failure_is_sticky(void **state)
{
    (void)state;
    struct error err = {0};
    struct snapshot_verifier *v = snapshot_verifier_new(&err);
    assert_non_null(v);
    assert_int_equal(snapshot_verifier_feed(v, "xy", 2, &err), -1);
    char first[ERROR_MSG_MAX];
    snprintf(first, sizeof first, "%s", err.msg);
    error_clear(&err);
    assert_int_equal(snapshot_verifier_feed(v, "\x1f\x8b", 2, &err), -1);
    assert_string_equal(err.msg, first);
    error_clear(&err);
    assert_int_equal(snapshot_verifier_finish(v, NULL, &err), -1);
    assert_string_equal(err.msg, first);
    snapshot_verifier_free(v);
}

static void test_verify_file(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 300000);
    struct part p[4];
    standard_parts(&a, p);
    struct buf gz = build(p, 4, 1);
    char path[] = "/tmp/test_snapshot_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, gz.d, gz.len), (ssize_t)gz.len);
    close(fd);
    struct snapshot_info *info = info_new();
    struct error err = {0};
    int rc = snapshot_verify_file(path, info, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    check_valid_info(info, &a, &gz);

    /* cut the file: the error names the file */
    assert_int_equal(truncate(path, 1000), 0);
    assert_int_equal(snapshot_verify_file(path, info, &err), -1);
    char want[256];
    snprintf(want, sizeof want, "%s: truncated snapshot: the gzip stream ends after 1000 bytes",
             path);
    assert_memory_equal(err.msg, want, strlen(want));
    unlink(path);
    assert_int_equal(snapshot_verify_file(path, info, &err), -1);
    snprintf(want, sizeof want, "cannot open %s: No such file or directory", path);
    assert_string_equal(err.msg, want);
    assert_int_equal(err.kind, ERR_CONFIG);
    free(info);
    buf_free(&gz);
    free(a.state);
}

struct progress_seen {
    unsigned long long last, total;
    int calls;
};

static void on_progress(void *ctx, unsigned long long done, unsigned long long total)
{
    struct progress_seen *s = ctx;
    assert_true(done > s->last);
    s->last = done;
    s->total = total;
    s->calls++;
}

static void test_verify_fd_progress(void **state)
{
    (void)state;
    struct archive a;
    archive_init(&a, 1 << 20);
    struct part p[4];
    standard_parts(&a, p);
    struct buf gz = build(p, 4, 0);
    char path[] = "/tmp/test_snapshot_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, gz.d, gz.len), (ssize_t)gz.len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    struct snapshot_info *info = info_new();
    struct error err = {0};
    struct progress_seen seen = {0};
    assert_int_equal(snapshot_verify_fd(fd, on_progress, &seen, info, &err), 0);
    assert_int_equal(seen.last, gz.len);
    assert_int_equal(seen.total, gz.len);
    assert_true(seen.calls > 1);
    close(fd);
    unlink(path);
    free(info);
    buf_free(&gz);
    free(a.state);
}

static void test_member_names(void **state)
{
    (void)state;
    assert_string_equal(snapshot_member_name(SNAPSHOT_META), "meta.json");
    assert_string_equal(snapshot_member_name(SNAPSHOT_STATE), "state.bin");
    assert_string_equal(snapshot_member_name(SNAPSHOT_SUMS), "SHA256SUMS");
    assert_string_equal(snapshot_member_name(SNAPSHOT_SEALED), "SHA256SUMS.sealed");
    assert_string_equal(snapshot_member_name((enum snapshot_member)9), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_whole_bytewise_and_odd_chunks),
        cmocka_unit_test(test_valid_stored_and_empty_state),
        cmocka_unit_test(test_sums_any_order_crlf_uppercase),
        cmocka_unit_test(test_pax_and_gnu_headers),
        cmocka_unit_test(test_bad_gzip),
        cmocka_unit_test(test_truncated_at_several_offsets),
        cmocka_unit_test(test_truncated_tar_in_complete_gzip),
        cmocka_unit_test(test_missing_members),
        cmocka_unit_test(test_wrong_checksums),
        cmocka_unit_test(test_unexpected_member),
        cmocka_unit_test(test_pax_records_parsed_strictly),
        cmocka_unit_test(test_oversize_meta_and_sums),
        cmocka_unit_test(test_empty_sealed),
        cmocka_unit_test(test_bad_meta),
        cmocka_unit_test(test_bad_tar_header_and_data_after_end),
        cmocka_unit_test(test_failure_is_sticky),
        cmocka_unit_test(test_verify_file),
        cmocka_unit_test(test_verify_fd_progress),
        cmocka_unit_test(test_member_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
