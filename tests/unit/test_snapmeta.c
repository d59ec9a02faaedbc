/* lib/snapmeta: the metadata file beside a snapshot: round trip, atomic 0600
 * write, hostile input refused field by field, file identity, version order
 * and the restore checks (downgrade, product, seal kind). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapmeta.h"

static void sample(struct snapmeta *m)
{
    memset(m, 0, sizeof *m);
    m->format = SNAPMETA_FORMAT;
    strcpy(m->product, "vault");
    strcpy(m->version, "1.21.2");
    strcpy(m->cluster_id, "d514fd8c-dfaa-43f1-87f8-1003ed166cf9");
    strcpy(m->cluster_name, "vault-cluster-1a2b3c4d");
    strcpy(m->seal_type, "shamir");
    m->shares = 5;
    m->threshold = 3;
    m->raft_index = 1234;
    m->raft_term = 7;
    strcpy(m->saved_at, "2026-12-06T10:40:00Z");
    strcpy(m->namespace_, "vault");
    strcpy(m->pod, "vault-0");
    m->bytes = 3;
    /* sha256("abc") */
    strcpy(m->sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/test_snapmeta.XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rmdir_all(char *d)
{
    DIR *dir = opendir(d);
    struct dirent *e;
    char p[512];
    while (dir != NULL && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
            continue;
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        unlink(p);
    }
    if (dir != NULL)
        closedir(dir);
    rmdir(d);
    free(d);
}

static void test_round_trip_and_atomic_write(void **state)
{
    (void)state;
    struct snapmeta m, back;
    struct error err = {0};
    sample(&m);
    char *d = tmpdir(), snap[256], path[256];
    snprintf(snap, sizeof snap, "%s/backup.snap", d);
    assert_int_equal(snapmeta_path(snap, path, sizeof path, &err), 0);
    assert_string_equal(path + strlen(path) - 17, "/backup.snap.json");
    assert_int_equal(snapmeta_read(path, &back, &err), 1); /* absent */
    assert_int_equal(snapmeta_write(path, &m, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Only the file itself is left: no temporary beside it. */
    DIR *dir = opendir(d);
    int entries = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        entries += e->d_name[0] != '.' || strlen(e->d_name) > 2;
    closedir(dir);
    assert_int_equal(entries, 1);
    assert_int_equal(snapmeta_read(path, &back, &err), 0);
    assert_memory_equal(&m, &back, sizeof m);
    /* Optional fields may be absent. */
    char *text = snapmeta_encode(&m, &err);
    assert_non_null(strstr(text, "\"clusterId\": \"d514fd8c-dfaa-43f1-87f8-1003ed166cf9\""));
    free(text);
    memset(m.cluster_name, 0, sizeof m.cluster_name);
    memset(m.namespace_, 0, sizeof m.namespace_);
    memset(m.pod, 0, sizeof m.pod);
    text = snapmeta_encode(&m, &err);
    assert_null(strstr(text, "clusterName"));
    assert_int_equal(snapmeta_parse("x", text, strlen(text), &back, &err), 0);
    assert_memory_equal(&m, &back, sizeof m);
    free(text);
    /* A field a reader would refuse (a pod's hostile version text) is not written. */
    strcpy(m.version, "1.21.2\033[2J");
    assert_int_equal(snapmeta_write(path, &m, &err), -1);
    assert_non_null(strstr(err.msg, "\"version\" holds a character not allowed there"));
    strcpy(m.version, "1.21.2");
    /* Overwrite keeps 0600 and replaces the content. */
    m.raft_index = 99;
    assert_int_equal(snapmeta_write(path, &m, &err), 0);
    assert_int_equal(snapmeta_read(path, &back, &err), 0);
    assert_int_equal(back.raft_index, 99);
    rmdir_all(d);
}

static void expect_bad(const char *text, const char *msg)
{
    struct snapmeta m;
    struct error err = {0};
    assert_int_equal(snapmeta_parse("f.json", text, strlen(text), &m, &err), -1);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("message %s lacks %s", err.msg, msg);
    assert_int_equal(m.shares, 0);
}

/* A valid document with one field's text replaced. */
static void expect_bad_field(const char *from, const char *to, const char *msg)
{
    struct snapmeta m;
    struct error err = {0};
    sample(&m);
    char *text = snapmeta_encode(&m, &err);
    char *at = strstr(text, from);
    assert_non_null(at);
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    free(text);
    expect_bad(buf, msg);
}

static void test_hostile_input_refused(void **state)
{
    (void)state;
    expect_bad("", "not valid JSON");
    expect_bad("[1]", "not a JSON object");
    expect_bad("{\"format\": 2}", "format 2 is not known");
    expect_bad("{\"format\": 1, \"format\": 1}", "not valid JSON");
    expect_bad_field("\"shares\": 5", "\"shares\": 0", "not a seal configuration");
    expect_bad_field("\"threshold\": 3", "\"threshold\": 6", "not a seal configuration");
    expect_bad_field("\"shares\": 5", "\"shares\": 256", "\"shares\" is not a whole number");
    expect_bad_field("\"raftIndex\": 1234", "\"raftIndex\": -1", "\"raftIndex\" is not");
    expect_bad_field("\"raftTerm\": 7", "\"raftTerm\": \"7\"", "\"raftTerm\" is not");
    expect_bad_field("\"product\": \"vault\"", "\"product\": \"consul\"", "neither vault");
    expect_bad_field("\"version\": \"1.21.2\"", "\"version\": \"1.21.2\\u001b[31m\"",
                     "\"version\" holds a character");
    expect_bad_field("\"sealType\": \"shamir\"", "\"sealType\": 1", "\"sealType\" is not a string");
    expect_bad_field("\"clusterId\": \"d514fd8c-dfaa-43f1-87f8-1003ed166cf9\"", "\"x\": 1",
                     "\"clusterId\" is missing");
    expect_bad_field("\"sha256\": \"ba78", "\"sha256\": \"BA78", "\"sha256\" holds a character");
    expect_bad_field("\"sha256\": \"ba78", "\"sha256\": \"78", "\"sha256\" has a bad length");
    expect_bad_field("\"pod\": \"vault-0\"", "\"pod\": \"../../etc\\npasswd\"",
                     "\"pod\" holds a character");
    expect_bad_field("\"savedAt\": \"2026-12-06T10:40:00Z\"", "\"savedAt\": \"\"",
                     "\"savedAt\" has a bad length");
    /* Bounded: a file larger than the limit is refused before it is parsed. */
    size_t big = SNAPMETA_FILE_MAX + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    struct snapmeta m;
    struct error err = {0};
    assert_int_equal(snapmeta_parse("f.json", huge, big, &m, &err), -1);
    assert_non_null(strstr(err.msg, "larger than"));
    free(huge);
}

static void test_read_refuses_non_regular_and_large_files(void **state)
{
    (void)state;
    struct snapmeta m;
    struct error err = {0};
    char *d = tmpdir();
    assert_int_equal(snapmeta_read(d, &m, &err), -1);
    assert_non_null(strstr(err.msg, "not a regular file"));
    char p[256];
    snprintf(p, sizeof p, "%s/big.json", d);
    FILE *f = fopen(p, "w");
    for (unsigned i = 0; i <= SNAPMETA_FILE_MAX; i++)
        fputc(' ', f);
    fclose(f);
    assert_int_equal(snapmeta_read(p, &m, &err), -1);
    assert_non_null(strstr(err.msg, "larger than"));
    rmdir_all(d);
}

static void test_file_identity(void **state)
{
    (void)state;
    struct snapmeta m;
    struct error err = {0};
    sample(&m);
    char *d = tmpdir(), p[256];
    snprintf(p, sizeof p, "%s/s.snap", d);
    int fd = open(p, O_RDWR | O_CREAT, 0600);
    assert_int_equal(write(fd, "abc", 3), 3);
    assert_int_equal(snapmeta_check_file(&m, fd, &err), 0);
    assert_int_equal(write(fd, "d", 1), 1);
    assert_int_equal(snapmeta_check_file(&m, fd, &err), -1);
    assert_non_null(strstr(err.msg, "not the file its metadata describes (4 bytes"));
    close(fd);
    /* Streamed hashing gives the same digest. */
    struct snapmeta_hash *h = snapmeta_hash_new(&err);
    char hex[65];
    snapmeta_hash_update(h, "a", 1);
    snapmeta_hash_update(h, "bc", 2);
    snapmeta_hash_final(h, hex);
    assert_string_equal(hex, m.sha256);
    rmdir_all(d);
}

static void test_version_order(void **state)
{
    (void)state;
    int c = 0;
    assert_int_equal(snapmeta_version_cmp("1.21.2", "1.21.10", &c), 0);
    assert_true(c < 0);
    assert_int_equal(snapmeta_version_cmp("1.21.2+ent", "1.21.2", &c), 0);
    assert_int_equal(c, 0);
    assert_int_equal(snapmeta_version_cmp("v2.6.2", "2.5.9", &c), 0);
    assert_true(c > 0);
    assert_int_equal(snapmeta_version_cmp("1.21", "1.21.0", &c), -1);
    assert_int_equal(snapmeta_version_cmp("x", "1.0.0", &c), -1);
    assert_int_equal(snapmeta_version_cmp("99999999999.0.0", "1.0.0", &c), -1);
}

static void test_restore_checks(void **state)
{
    (void)state;
    struct snapmeta m;
    struct error err = {0};
    sample(&m);
    struct snapmeta_target same = {"vault", "1.21.2", "shamir"};
    struct snapmeta_target newer = {"vault", "1.22.0", "shamir"};
    struct snapmeta_target older = {"vault", "1.20.4", "shamir"};
    struct snapmeta_target bao = {"openbao", "2.6.2", "shamir"};
    struct snapmeta_target auto_ = {"vault", "1.21.2", "awskms"};
    assert_int_equal(snapmeta_check_target(&m, &same, &err), 0);
    assert_int_equal(snapmeta_check_target(&m, &newer, &err), 0);
    assert_int_equal(snapmeta_check_target(&m, &older, &err), -1);
    assert_string_equal(err.msg,
                        "the snapshot comes from vault 1.21.2 and this cluster runs 1.20.4, an "
                        "older version: a restore cannot downgrade; upgrade this cluster to "
                        "1.21.2 or later first");
    assert_int_equal(snapmeta_check_target(&m, &bao, &err), -1);
    assert_non_null(strstr(err.msg, "across products"));
    assert_int_equal(snapmeta_check_target(&m, &auto_, &err), -1);
    assert_non_null(strstr(err.msg, "sealed with shamir and this cluster uses awskms"));
    strcpy(m.seal_type, "transit");
    assert_int_equal(snapmeta_check_target(&m, &same, &err), -1);
    assert_non_null(strstr(err.msg, "KMS or transit key"));
    assert_int_equal(snapmeta_check_target(&m, &auto_, &err), 0); /* auto to auto */
    assert_true(snapmeta_is_shamir(""));
    assert_false(snapmeta_is_shamir("transit"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_atomic_write),
        cmocka_unit_test(test_hostile_input_refused),
        cmocka_unit_test(test_read_refuses_non_regular_and_large_files),
        cmocka_unit_test(test_file_identity),
        cmocka_unit_test(test_version_order),
        cmocka_unit_test(test_restore_checks),
    };
    return cmocka_run_group_tests_name("snapmeta", tests, NULL, NULL);
}
