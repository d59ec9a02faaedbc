/* lib/filesink: bytes always exactly the stream; O_DIRECT only for aligned
 * pieces at aligned offsets of a regular file, off for good after the first
 * piece that is not; plain writes to pipes, appending files and unaligned
 * offsets; the descriptor's flags restored; another writer of the same open
 * file (2>&1) not broken; write errors reported. Files live in the current
 * directory (the build tree), where the filesystem has O_DIRECT; where it has
 * not, the tests that need it are skipped, saying so. */
#include <errno.h>
#include <fcntl.h>
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

static void test_aligned_pieces_direct_then_the_tail_plain(void **state)
{
    (void)state;
    if (!direct_supported())
        skip();
    size_t total = 3 * PIECE + 1000;
    uint8_t *data = pattern(total, 1);
    int fd = temp_file(0);
    int before = fcntl(fd, F_GETFL);
    struct filesink s;
    filesink_open(&s, fd, 1);
    assert_true(s.direct && has_direct(fd));
    struct error err = {0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(filesink_write(&s, data + (size_t)i * PIECE, PIECE, &err), 0);
        assert_true(s.direct && has_direct(fd)); /* still direct after aligned pieces */
    }
    assert_int_equal(filesink_write(&s, data + 3 * PIECE, 1000, &err), 0);
    assert_false(s.direct || has_direct(fd)); /* the tail turned it off for good */
    assert_int_equal(filesink_write(&s, data, 0, &err), 0);
    filesink_close(&s);
    assert_int_equal(fcntl(fd, F_GETFL), before);
    assert_int_equal(s.bytes, total);
    assert_file_is(fd, data, total);
    close(fd);
    unlink(path);
    free(data);
}

static void test_unaligned_first_piece_and_address(void **state)
{
    (void)state;
    if (!direct_supported())
        skip();
    uint8_t *data = pattern(2 * PIECE, 2);
    int fd = temp_file(0);
    struct filesink s;
    struct error err = {0};
    /* a full-size piece from an unaligned address: plain from the start */
    filesink_open(&s, fd, 1);
    assert_int_equal(filesink_write(&s, data + 1, PIECE, &err), 0);
    assert_false(s.direct || has_direct(fd));
    /* then aligned pieces stay plain: the offset is no longer a concern of ours */
    assert_int_equal(filesink_write(&s, data + 1 + PIECE, PIECE - 1, &err), 0);
    filesink_close(&s);
    assert_file_is(fd, data + 1, 2 * PIECE - 1);
    close(fd);
    unlink(path);
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
    assert_false(s.direct);
    assert_int_equal(filesink_write(&s, data, 4096, &err), 0);
    uint8_t buf[4096];
    assert_int_equal(read(p[0], buf, sizeof buf), 4096);
    assert_memory_equal(buf, data, 4096);
    filesink_close(&s);
    close(p[0]);
    close(p[1]);

    /* a file opened for appending (>>) */
    int fd = temp_file(O_APPEND);
    filesink_open(&s, fd, 1);
    assert_false(s.direct || has_direct(fd));
    filesink_close(&s);
    close(fd);
    unlink(path);

    /* an unaligned offset */
    fd = temp_file(0);
    assert_int_equal(write(fd, "x", 1), 1);
    filesink_open(&s, fd, 1);
    assert_false(s.direct || has_direct(fd));
    assert_int_equal(filesink_write(&s, data, PIECE, &err), 0);
    filesink_close(&s);
    uint8_t *want = malloc(PIECE + 1);
    want[0] = 'x';
    memcpy(want + 1, data, PIECE);
    assert_file_is(fd, want, PIECE + 1);
    free(want);
    close(fd);
    unlink(path);

    /* not asked for */
    fd = temp_file(0);
    filesink_open(&s, fd, 0);
    assert_false(s.direct || has_direct(fd));
    filesink_close(&s);
    close(fd);
    unlink(path);
    free(data);
}

/* `> f 2>&1`: stdout's sink set O_DIRECT on the open file stderr shares; an
 * unaligned stderr write clears it and both streams land in the file. */
static void test_another_writer_of_the_same_open_file(void **state)
{
    (void)state;
    if (!direct_supported())
        skip();
    uint8_t *data = pattern(PIECE, 4);
    int fd = temp_file(0);
    int fd2 = dup(fd);
    struct filesink out, err_sink;
    struct error err = {0};
    filesink_open(&out, fd, 1);
    filesink_open(&err_sink, fd2, 0);
    assert_true(out.direct);
    assert_int_equal(filesink_write(&out, data, PIECE, &err), 0);
    assert_int_equal(filesink_write(&err_sink, "warning\n", 8, &err), 0);
    assert_false(has_direct(fd));
    assert_int_equal(filesink_write(&out, data, PIECE, &err), 0); /* plain now, no error */
    filesink_close(&out);
    filesink_close(&err_sink);
    assert_false(has_direct(fd));
    uint8_t *want = malloc(2 * PIECE + 8);
    memcpy(want, data, PIECE);
    memcpy(want + PIECE, "warning\n", 8);
    memcpy(want + PIECE + 8, data, PIECE);
    assert_file_is(fd, want, 2 * PIECE + 8);
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
    assert_false(s.direct);
    assert_int_equal(filesink_write(&s, "abc", 3, &err), -1);
    assert_string_equal(err.msg, strerror(ENOSPC));
    filesink_close(&s);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aligned_pieces_direct_then_the_tail_plain),
        cmocka_unit_test(test_unaligned_first_piece_and_address),
        cmocka_unit_test(test_no_direct_where_it_does_not_fit),
        cmocka_unit_test(test_another_writer_of_the_same_open_file),
        cmocka_unit_test(test_write_error_is_reported),
    };
    return cmocka_run_group_tests_name("filesink", tests, NULL, NULL);
}
