/* Writing a long stream (exec output, a snapshot) into a file descriptor.
 *
 * On a regular file, large page-aligned pieces are written with O_DIRECT: they
 * go from our buffer to the device without a copy into the page cache, which
 * is most of the CPU a stream to a file costs (about 1.5 s per GiB on a VM)
 * and would evict the cache of everything else on the machine for data that
 * nobody reads back. The first piece that is not aligned (a short one, the
 * tail) turns O_DIRECT off for good and goes through the page cache, so the
 * bytes are always exactly the stream. Pipes, terminals, files opened for
 * appending, unaligned file offsets and filesystems without O_DIRECT get plain
 * writes. The descriptor's flags are restored by filesink_close. */
#ifndef VH_FILESINK_H
#define VH_FILESINK_H

#include <stddef.h>

#include "error.h"

/* Alignment O_DIRECT needs for the buffer address, length and file offset. */
#define FILESINK_ALIGN 4096u

struct filesink {
    int fd;
    int direct;  /* O_DIRECT is set on fd by us, for the pieces to come */
    int restore; /* flags to put back (direct was set), else -1 */
    unsigned long long bytes;
};

/* Prepares fd (not closed, not owned), with O_DIRECT when try_direct and the
 * descriptor allows it. Never fails: otherwise it is written to plainly. While
 * O_DIRECT is set, other writers of the same open file (2>&1) must not write
 * unaligned pieces: their writes fail with EINVAL (filesink_write itself then
 * clears the flag and carries on). */
void filesink_open(struct filesink *s, int fd, int try_direct);

/* A kexec_write_fn: writes all of data or sets err (ctx is the struct filesink). */
int filesink_write(void *ctx, const void *data, size_t len, struct error *err);

/* Puts the descriptor's flags back as they were. */
void filesink_close(struct filesink *s);

#endif
