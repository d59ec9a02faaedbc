#include "filesink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOUNCE_SIZE (256u << 10)

void filesink_open(struct filesink *s, int fd, int try_direct)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->direct_fd = -1;
    if (!try_direct)
        return;
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY || (flags & O_APPEND) || fstat(fd, &st) < 0 ||
        !S_ISREG(st.st_mode))
        return;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOCTTY);
    if (dfd < 0) /* no /proc, no permission, or a filesystem without O_DIRECT */
        return;
    struct stat dst;
    if (fstat(dfd, &dst) < 0 || dst.st_dev != st.st_dev || dst.st_ino != st.st_ino) {
        close(dfd);
        return;
    }
    s->direct_fd = dfd;
}

static void direct_off(struct filesink *s)
{
    if (s->direct_fd >= 0)
        close(s->direct_fd);
    s->direct_fd = -1;
}

int filesink_write_all(int fd, const void *data, size_t len, struct error *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                poll(&pfd, 1, -1);
                continue;
            }
            return error_set(err, ERR_GENERIC, "%s", strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int pwrite_all(int fd, const char *p, size_t len, off_t off, struct error *err)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return error_set(err, ERR_GENERIC, "%s", strerror(errno));
        }
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The aligned middle [off, off + len): O_DIRECT, through the bounce buffer when
 * p is not aligned; plainly (pwrite on the caller's descriptor) from the first
 * refusal on. */
static int write_middle(struct filesink *s, const char *p, size_t len, off_t off, struct error *err)
{
    while (len > 0 && s->direct_fd >= 0) {
        const char *src = p;
        size_t n = len;
        if ((uintptr_t)p % FILESINK_ALIGN != 0) {
            if (s->bounce == NULL &&
                posix_memalign((void **)&s->bounce, FILESINK_ALIGN, BOUNCE_SIZE) != 0) {
                s->bounce = NULL;
                direct_off(s);
                break;
            }
            n = len < BOUNCE_SIZE ? len : BOUNCE_SIZE;
            memcpy(s->bounce, p, n);
            src = (const char *)s->bounce;
        }
        ssize_t w = pwrite(s->direct_fd, src, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EINVAL) { /* the flag was accepted, the write is not */
            direct_off(s);
            break;
        }
        if (w < 0)
            return error_set(err, ERR_GENERIC, "%s", strerror(errno));
        p += w;
        off += w;
        len -= (size_t)w;
        if (w % FILESINK_ALIGN != 0)
            direct_off(s); /* a short write: finish plainly */
    }
    return pwrite_all(s->fd, p, len, off, err);
}

int filesink_write(void *ctx, const void *data, size_t len, struct error *err)
{
    struct filesink *s = ctx;
    const char *p = data;
    if (s->direct_fd < 0 || len < FILESINK_ALIGN) {
        if (filesink_write_all(s->fd, p, len, err) < 0)
            return -1;
        s->bytes += len;
        return 0;
    }
    /* Reserve [off, off + len) by moving the shared offset, as write() would. */
    off_t end = lseek(s->fd, (off_t)len, SEEK_CUR);
    if (end < 0) {
        direct_off(s);
        return filesink_write(ctx, data, len, err);
    }
    off_t off = end - (off_t)len;
    size_t head = (size_t)((FILESINK_ALIGN - (uint64_t)off % FILESINK_ALIGN) % FILESINK_ALIGN);
    if (head > len)
        head = len;
    size_t middle = (len - head) / FILESINK_ALIGN * FILESINK_ALIGN;
    size_t tail = len - head - middle;
    if (pwrite_all(s->fd, p, head, off, err) < 0 ||
        write_middle(s, p + head, middle, off + (off_t)head, err) < 0 ||
        pwrite_all(s->fd, p + head + middle, tail, off + (off_t)(head + middle), err) < 0)
        return -1;
    s->bytes += len;
    return 0;
}

void filesink_close(struct filesink *s)
{
    direct_off(s);
    free(s->bounce);
    s->bounce = NULL;
}

int filesink_fsync_dir(const char *path, struct error *err)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return error_set(err, ERR_CONFIG, "the directory of %s: name too long", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, ERR_CONFIG, "cannot open the directory %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc < 0)
        return error_set(err, ERR_CONFIG, "fsync of the directory %s: %s", dir, strerror(e));
    return 0;
}

int filesink_temp_open(struct filesink_temp *t, const char *path, struct error *err)
{
    t->fd = -1;
    t->path[0] = '\0';
    const char *slash = strrchr(path, '/');
    int n;
    if (slash == NULL)
        n = snprintf(t->path, sizeof t->path, ".%s.vault-ha-XXXXXX", path);
    else
        n = snprintf(t->path, sizeof t->path, "%.*s/.%s.vault-ha-XXXXXX", (int)(slash - path), path,
                     slash + 1);
    if (n < 0 || (size_t)n >= sizeof t->path) {
        t->path[0] = '\0';
        return error_set(err, ERR_CONFIG, "file name too long: %s", path);
    }
    t->fd = mkostemp(t->path, O_CLOEXEC); /* O_CREAT|O_EXCL, mode 0600 */
    if (t->fd < 0) {
        int e = errno;
        t->path[0] = '\0';
        return error_set(err, ERR_CONFIG, "cannot create a temporary file beside %s: %s", path,
                         strerror(e));
    }
    fchmod(t->fd, 0600); /* whatever the umask */
    return 0;
}

int filesink_temp_commit(struct filesink_temp *t, const char *path, struct error *err)
{
    if (fsync(t->fd) < 0)
        return error_set(err, ERR_CONFIG, "fsync %s: %s", t->path, strerror(errno));
    int rc = close(t->fd);
    t->fd = -1;
    if (rc < 0)
        return error_set(err, ERR_CONFIG, "writing %s: %s", t->path, strerror(errno));
    if (rename(t->path, path) < 0)
        return error_set(err, ERR_CONFIG, "cannot rename %s to %s: %s", t->path, path,
                         strerror(errno));
    t->path[0] = '\0';
    return filesink_fsync_dir(path, err) < 0 ? 1 : 0;
}

void filesink_temp_discard(struct filesink_temp *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (t->path[0] != '\0')
        unlink(t->path);
    t->path[0] = '\0';
}
