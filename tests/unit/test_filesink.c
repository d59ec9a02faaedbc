/* lib/filesink: the file always holds exactly the bytes written so far,
 * whatever the piece sizes, offsets and memory alignment; the caller's
 * descriptor never gets O_DIRECT and its offset moves as with write(); plain
 * writes to pipes and appending files; another writer of the same open file
 * (2>&1) interleaves correctly; write errors reported. Files live in the current
 * directory (the build tree), where the filesystem has O_DIRECT; where it has
 * not, the tests that need it are skipped, saying so. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "filesink.h"

#define PIECE (256u << 10)

static char path[64];

static int temp_file(int extra_flags)
{
    snprintf(path, sizeof path, "filesink-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    if (extra_flags != 0)
        assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | extra_flags), 0);
    return fd;
}

static int direct_supported(void)
{
    int fd = temp_file(0);
    int ok = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT) == 0;
    close(fd);
    unlink(path);
    return ok;
}

static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *p = NULL;
    assert_int_equal(posix_memalign((void **)&p, FILESINK_ALIGN, len + FILESINK_ALIGN), 0);
    for (size_t i = 0; i < len + FILESINK_ALIGN; i++)
        p[i] = (uint8_t)(i * 131u + seed + (i >> 12));
    return p;
}

static void assert_file_is(int fd, const uint8_t *want, size_t len)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal((size_t)st.st_size, len);
    uint8_t *got = malloc(len ? len : 1);
    assert_non_null(got);
    assert_int_equal(pread(fd, got, len, 0), (ssize_t)len);
    assert_memory_equal(got, want, len);
    free(got);
}

static int has_direct(int fd)
{
    return (fcntl(fd, F_GETFL) & O_DIRECT) != 0;
}

/* Pieces of every kind into one file: aligned, short, odd lengths that leave the
 * offset unaligned, memory that is not aligned with the offset. The file always
 * holds what was written so far, the caller's descriptor never gets O_DIRECT and
 * ends at the right offset, and the private O_DIRECT description stays in use. */
static void test_pieces_of_every_kind(void **state)
{
    (void)state;
    if (!direct_supported())
        skip();
    const size_t sizes[] = {PIECE, PIECE, 1000, PIECE, 5, 3 * 4096, PIECE - 7, 100000, PIECE};
    const size_t shifts[] = {0, 0, 0, 0, 0, 1, 0, 13, 0}; /* memory offset from alignment */
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        total += sizes[i];
    uint8_t *data = pattern(total, 1);
    uint8_t *src = pattern(PIECE + 64, 0);
    int fd = temp_file(0);
    int before = fcntl(fd, F_GETFL);
    struct filesink s;
    filesink_open(&s, fd, 1);
    assert_true(s.direct_fd >= 0 && has_direct(s.direct_fd));
    struct error err = {0};
    size_t done = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        memcpy(src + shifts[i], data + done, sizes[i]);
        assert_int_equal(filesink_write(&s, src + shifts[i], sizes[i], &err), 0);
        done += sizes[i];
        assert_false(has_direct(fd));
        assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)done);
        assert_file_is(fd, data, done);
    }
    assert_true(s.direct_fd >= 0); /* never fell back */
    assert_int_equal(s.bytes, total);
    filesink_close(&s);
    assert_int_equal(s.direct_fd, -1);
    assert_int_equal(fcntl(fd, F_GETFL), before);
    close(fd);
    unlink(path);
    free(src);
    free(data);
}

static void test_no_direct_where_it_does_not_fit(void **state)
{
    (void)state;
    uint8_t *data = pattern(PIECE, 3);
    struct error err = {0};
    struct filesink s;

    /* a pipe */
    int p[2];
    assert_int_equal(pipe(p), 0);
    filesink_open(&s, p[1], 1);
    assert_int_equal(s.direct_fd, -1);
    assert_int_equal(filesink_write(&s, data, 4096, &err), 0);
    uint8_t buf[4096];
    assert_int_equal(read(p[0], buf, sizeof buf), 4096);
    assert_memory_equal(buf, data, 4096);
    filesink_close(&s);
    close(p[0]);
    close(p[1]);

    /* a file opened for appending (>>): plain writes land at its end */
    int fd = temp_file(O_APPEND);
    assert_int_equal(write(fd, "x", 1), 1);
    filesink_open(&s, fd, 1);
    assert_int_equal(s.direct_fd, -1);
    assert_int_equal(filesink_write(&s, data, PIECE, &err), 0);
    filesink_close(&s);
    uint8_t *want = malloc(PIECE + 1);
    want[0] = 'x';
    memcpy(want + 1, data, PIECE);
    assert_file_is(fd, want, PIECE + 1);
    close(fd);
    unlink(path);

    /* not asked for */
    fd = temp_file(0);
    filesink_open(&s, fd, 0);
    assert_int_equal(s.direct_fd, -1);
    filesink_close(&s);
    close(fd);
    unlink(path);
    free(want);
    free(data);
}

/* A file that already holds a header (an unaligned start), shared with another
 * writer of the same open file (> f 2>&1) writing between our pieces. */
static void test_unaligned_start_and_a_second_writer(void **state)
{
    (void)state;
    uint8_t *data = pattern(2 * PIECE, 4);
    int fd = temp_file(0);
    assert_int_equal(write(fd, "header\n", 7), 7);
    int fd2 = dup(fd);
    struct filesink out, err_sink;
    struct error err = {0};
    filesink_open(&out, fd, 1);
    filesink_open(&err_sink, fd2, 0);
    assert_int_equal(filesink_write(&out, data, PIECE, &err), 0);
    assert_int_equal(filesink_write(&err_sink, "warning\n", 8, &err), 0);
    assert_int_equal(filesink_write(&out, data + PIECE, PIECE, &err), 0);
    filesink_close(&out);
    filesink_close(&err_sink);
    size_t total = 7 + PIECE + 8 + PIECE;
    uint8_t *want = malloc(total);
    memcpy(want, "header\n", 7);
    memcpy(want + 7, data, PIECE);
    memcpy(want + 7 + PIECE, "warning\n", 8);
    memcpy(want + 7 + PIECE + 8, data + PIECE, PIECE);
    assert_file_is(fd, want, total);
    assert_int_equal(lseek(fd2, 0, SEEK_CUR), (off_t)total);
    free(want);
    close(fd2);
    close(fd);
    unlink(path);
    free(data);
}

static void test_write_error_is_reported(void **state)
{
    (void)state;
    int fd = open("/dev/full", O_WRONLY);
    if (fd < 0)
        skip();
    struct filesink s;
    struct error err = {0};
    filesink_open(&s, fd, 1);
    assert_int_equal(s.direct_fd, -1);
    assert_int_equal(filesink_write(&s, "abc", 3, &err), -1);
    assert_string_equal(err.msg, strerror(ENOSPC));
    filesink_close(&s);
    close(fd);
}

static void test_write_all_and_fsync_dir(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct error err = {0};
    assert_int_equal(filesink_write_all(p[1], "hello, pipe", 11, &err), 0);
    char buf[16] = "";
    assert_int_equal(read(p[0], buf, sizeof buf), 11);
    assert_memory_equal(buf, "hello, pipe", 11);
    close(p[0]);
    assert_int_equal(filesink_write_all(p[1], "x", 1, &err), -1); /* EPIPE: nobody reads */
    assert_string_equal(err.msg, "Broken pipe");
    close(p[1]);
    assert_int_equal(filesink_fsync_dir("relative-name", &err), 0); /* "." */
    assert_int_equal(filesink_fsync_dir("/", &err), 0);
    assert_int_equal(filesink_fsync_dir("/etc/hostname", &err), 0);
    assert_int_equal(filesink_fsync_dir("/nonexistent-dir/keys.json", &err), -1);
    assert_string_equal(err.msg,
                        "cannot open the directory /nonexistent-dir: No such file or directory");
}

/* The temporary file beside a path: 0600 whatever the umask, the old file kept
 * until the rename, nothing left behind on either path. */
static void test_temp_file_replaces_only_when_committed(void **state)
{
    (void)state;
    const char *target = "filesink-temp-target";
    unlink(target);
    int fd = open(target, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "old", 3), 3);
    close(fd);
    mode_t old_umask = umask(0);
    struct filesink_temp t;
    struct error err = {0};
    assert_int_equal(filesink_temp_open(&t, target, &err), 0);
    umask(old_umask);
    assert_true(strncmp(t.path, ".filesink-temp-target.vault-ha-", 31) == 0);
    struct stat st;
    assert_int_equal(fstat(t.fd, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(write(t.fd, "new contents", 12), 12);
    char kept[sizeof t.path];
    snprintf(kept, sizeof kept, "%s", t.path);
    filesink_temp_discard(&t); /* a failure: the old file stays, the temporary one goes */
    assert_int_equal(access(kept, F_OK), -1);
    char buf[32] = "";
    fd = open(target, O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof buf), 3);
    close(fd);
    assert_memory_equal(buf, "old", 3);

    assert_int_equal(filesink_temp_open(&t, target, &err), 0);
    assert_int_equal(write(t.fd, "new contents", 12), 12);
    snprintf(kept, sizeof kept, "%s", t.path);
    assert_int_equal(filesink_temp_commit(&t, target, &err), 0);
    filesink_temp_discard(&t); /* after a commit: nothing to do */
    assert_int_equal(access(kept, F_OK), -1);
    fd = open(target, O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof buf), 12);
    assert_int_equal(fstat(fd, &st), 0);
    close(fd);
    assert_memory_equal(buf, "new contents", 12);
    assert_int_equal(st.st_mode & 0777, 0600);
    unlink(target);

    assert_int_equal(filesink_temp_open(&t, "/nonexistent-dir/x.snap", &err), -1);
    assert_string_equal(err.msg, "cannot create a temporary file beside /nonexistent-dir/x.snap: "
                                 "No such file or directory");
    filesink_temp_discard(&t);
    char *long_name = malloc(5000);
    assert_non_null(long_name);
    memset(long_name, 'n', 4999);
    long_name[4999] = '\0';
    assert_int_equal(filesink_temp_open(&t, long_name, &err), -1);
    assert_true(strncmp(err.msg, "file name too long: nnn", 23) == 0);
    filesink_temp_discard(&t);
    free(long_name);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_of_every_kind),
        cmocka_unit_test(test_no_direct_where_it_does_not_fit),
        cmocka_unit_test(test_unaligned_start_and_a_second_writer),
        cmocka_unit_test(test_write_error_is_reported),
        cmocka_unit_test(test_write_all_and_fsync_dir),
        cmocka_unit_test(test_temp_file_replaces_only_when_committed),
    };
    return cmocka_run_group_tests_name("filesink", tests, NULL, NULL);
}
