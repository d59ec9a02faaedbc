#include "filesink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void filesink_open(struct filesink *s, int fd, int try_direct)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->restore = -1;
    if (!try_direct)
        return;
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (flags & O_APPEND) ||
        (flags & O_DIRECT))
        return;
    off_t pos = lseek(fd, 0, SEEK_CUR);
    if (pos < 0 || pos % FILESINK_ALIGN != 0)
        return;
    if (fcntl(fd, F_SETFL, flags | O_DIRECT) < 0) /* EINVAL: the filesystem has none */
        return;
    s->direct = 1;
    s->restore = flags;
}

static void direct_off(struct filesink *s)
{
    if (s->direct) {
        fcntl(s->fd, F_SETFL, s->restore);
        s->direct = 0;
    }
}

int filesink_write(void *ctx, const void *data, size_t len, struct error *err)
{
    struct filesink *s = ctx;
    if (s->direct && (len % FILESINK_ALIGN != 0 || (uintptr_t)data % FILESINK_ALIGN != 0))
        direct_off(s);
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(s->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EINVAL && s->direct) {
                /* Some filesystems accept the flag but not the write: plain from here on. */
                direct_off(s);
                continue;
            }
            int fl;
            if (errno == EINVAL && (fl = fcntl(s->fd, F_GETFL)) >= 0 && (fl & O_DIRECT)) {
                /* Another sink on the same open file (2>&1) set O_DIRECT: clear it
                 * for both; that one writes plainly from then on. */
                if (fcntl(s->fd, F_SETFL, fl & ~O_DIRECT) == 0)
                    continue;
            }
            if (errno == EAGAIN) {
                struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};
                poll(&pfd, 1, -1);
                continue;
            }
            return error_set(err, ERR_GENERIC, "%s", strerror(errno));
        }
        p += n;
        len -= (size_t)n;
        s->bytes += (unsigned long long)n;
        if (s->direct && n % FILESINK_ALIGN != 0)
            direct_off(s); /* a short write left the offset unaligned */
    }
    return 0;
}

void filesink_close(struct filesink *s)
{
    direct_off(s);
    s->restore = -1;
}
