/* Writing a long stream (exec output, a snapshot) into a file descriptor.
 *
 * Into a regular file, the page-aligned middle of every piece is written with
 * O_DIRECT: from our memory to the device without a copy into the page cache,
 * which is most of the CPU a stream to a file costs (about 1.5 s per GiB on a
 * VM) and would evict everything else cached on the machine for data nobody
 * reads back. The unaligned ends of a piece go through the page cache, so any
 * piece size works and the file always holds exactly the bytes written so far.
 *
 * The caller's descriptor is never changed: O_DIRECT is set on a private open
 * file description of the same file (/proc/self/fd/N), written with pwrite at
 * offsets reserved by moving the caller's file offset first (lseek), so the
 * shell's redirect, 2>&1 and a process killed mid-stream see ordinary
 * behaviour. Pipes, terminals, files opened for appending, files without
 * /proc or without O_DIRECT support get plain write()s. */
#ifndef VH_FILESINK_H
#define VH_FILESINK_H

#include <stddef.h>

#include "error.h"

/* Alignment O_DIRECT needs for the buffer address, length and file offset. */
#define FILESINK_ALIGN 4096u

struct filesink {
    int fd;                /* the caller's descriptor (not owned) */
    int direct_fd;         /* private O_DIRECT description of the same file, or -1 */
    unsigned char *bounce; /* aligned copy space when a piece's memory is not */
    unsigned long long bytes;
};

/* Prepares fd, with O_DIRECT for the aligned parts when try_direct and the file
 * allows it. Never fails: otherwise it is written to plainly. */
void filesink_open(struct filesink *s, int fd, int try_direct);

/* A kexec_write_fn: writes all of data or sets err (ctx is the struct filesink). */
int filesink_write(void *ctx, const void *data, size_t len, struct error *err);

/* Releases what filesink_open took (not fd). */
void filesink_close(struct filesink *s);

/* Writes all of len bytes to fd (retrying short writes and EINTR, waiting when a
 * non-blocking pipe is full); err says why not. */
int filesink_write_all(int fd, const void *data, size_t len, struct error *err);

/* A file that replaces path only once it is written in full: a temporary file
 * beside it (".NAME.vault-ha-XXXXXX", O_EXCL, mode 0600), then fsync, rename
 * over path and fsync of the directory. Until the rename path stays as it was;
 * filesink_temp_discard removes the temporary file on every other path. */
struct filesink_temp {
    int fd;          /* -1 once closed */
    char path[4096]; /* the temporary file, "" when there is none */
};

/* Creates the temporary file beside path; err says why not. */
int filesink_temp_open(struct filesink_temp *t, const char *path, struct error *err);

/* fsyncs and closes the temporary file and renames it over path. Returns 0, or
 * -1 with err (the temporary file is left for filesink_temp_discard). When
 * only the directory's fsync fails it returns 1 with err saying so: the file
 * is in place, but may not survive a crash. */
int filesink_temp_commit(struct filesink_temp *t, const char *path, struct error *err);

/* Closes and removes the temporary file, if any. */
void filesink_temp_discard(struct filesink_temp *t);

/* fsyncs the directory that holds path, so that a file just created or renamed
 * there survives a crash; err names the directory. */
int filesink_fsync_dir(const char *path, struct error *err);

#endif
