/* fsutil.c - the write, fsync, rename, fsync-directory discipline in one
 * place. A crash at any point leaves either the old file or the new one,
 * plus perhaps a stray temporary that nothing reads. */
/* fallocate(2) for mb_fs_reserve. */
#define _GNU_SOURCE 1

#include "base/fsutil.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

mb_status mb_fs_mkdirs(const char *path, mb_err *err)
{
    char buf[4096];
    size_t n = strlen(path), i;

    if (n == 0 || n >= sizeof buf)
        return mb_err_set(err, MB_EIO, "%s: bad directory name", path);
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return mb_err_set(err, MB_EIO, "%s: cannot create directory: %s", buf,
                              strerror(errno));
        buf[i] = i == n ? '\0' : '/';
    }
    return MB_OK;
}

mb_status mb_fs_sync_dir(const char *dir, mb_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return mb_err_set(err, MB_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    if (fsync(fd) != 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        return mb_err_set(err, MB_EIO, "%s: fsync: %s", dir, strerror(e));
    }
    close(fd);
    return MB_OK;
}

static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

/* This host's name as it goes into temporary names: at most 64 bytes,
 * without '/' or '.', so that the name can be parsed back. */
static void host_tag(char *out, size_t cap)
{
    char h[256];
    size_t i, n = 0;

    if (gethostname(h, sizeof h) != 0)
        h[0] = '\0';
    h[sizeof h - 1] = '\0';
    for (i = 0; h[i] && n + 1 < cap && n < 64; i++)
        out[n++] = h[i] == '/' || h[i] == '.' ? '_' : h[i];
    if (n == 0 && cap > 1)
        out[n++] = '_';
    out[n] = '\0';
}

mb_status mb_fs_tmpname(const char *path, char *out, size_t cap, mb_err *err)
{
    char dir[4096], host[80];
    const char *base = strrchr(path, '/');
    int n;

    dir_of(path, dir, sizeof dir);
    host_tag(host, sizeof host);
    base = base ? base + 1 : path;
    n = snprintf(out, cap, "%s/.%s.tmp.%s.%ld", dir, base, host, (long)getpid());
    if (n < 0 || (size_t)n >= cap)
        return mb_err_set(err, MB_EIO, "%s: path too long", path);
    return MB_OK;
}

/* The writer's pid when `name` is ".BASE.tmp.HOST.PID" with this host's
 * HOST, else 0. */
static long temp_pid(const char *name, const char *host)
{
    size_t n = strlen(name), h = strlen(host), i = n;
    long pid = 0, scale = 1;

    if (name[0] != '.')
        return 0;
    while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9' && n - i < 9) {
        i--;
        pid += (name[i] - '0') * scale;
        scale *= 10;
    }
    if (i == n || i < h + 6 || name[i - 1] != '.' || strncmp(name + i - 1 - h, host, h) != 0 ||
        strncmp(name + i - 1 - h - 5, ".tmp.", 5) != 0)
        return 0;
    return pid;
}

size_t mb_fs_sweep_temps(const char *dir)
{
    char host[80], p[4400];
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t swept = 0;

    if (!d)
        return 0;
    host_tag(host, sizeof host);
    while ((e = readdir(d)) != NULL) {
        long pid = temp_pid(e->d_name, host);
        /* ESRCH: no such process here. EPERM means it lives (another user). */
        if (pid <= 0 || (pid_t)pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) == 0)
            swept++;
    }
    closedir(d);
    return swept;
}

mb_status mb_fs_publish(const char *tmp, const char *path, mb_err *err)
{
    char dir[4096];

    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return mb_err_set(err, MB_EIO, "%s: rename: %s", path, strerror(e));
    }
    dir_of(path, dir, sizeof dir);
    return mb_fs_sync_dir(dir, err);
}

mb_status mb_fs_reserve(const char *path, uint64_t bytes, mb_err *err)
{
    struct statvfs vs;
    mb_status st = MB_OK;
    int fd = open(path, O_WRONLY | O_CLOEXEC), rc, e;

    if (fd < 0)
        return mb_err_set(err, MB_EIO, "%s: %s", path, strerror(errno));
    if (bytes > (uint64_t)INT64_MAX / 2) {
        close(fd);
        return mb_err_set(err, MB_ELIMIT, "%s: a %llu-byte file", path,
                          (unsigned long long)bytes);
    }
    do
        rc = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)bytes);
    while (rc != 0 && errno == EINTR);
    e = rc == 0 ? 0 : errno;
    if (rc != 0 && (e == EOPNOTSUPP || e == ENOSYS)) {
        if (fstatvfs(fd, &vs) == 0 && vs.f_frsize > 0 &&
            vs.f_bavail < (bytes + vs.f_frsize - 1) / vs.f_frsize)
            st = mb_err_set(err, MB_EIO, "%s: %llu bytes free, %llu needed", path,
                            (unsigned long long)vs.f_bavail * vs.f_frsize,
                            (unsigned long long)bytes);
    } else if (rc != 0) {
        st = mb_err_set(err, MB_EIO, "%s: cannot reserve %llu bytes: %s", path,
                        (unsigned long long)bytes, strerror(e));
    }
    close(fd);
    return st;
}

mb_status mb_fs_trim_sync(const char *path, uint64_t reserved, int *outgrew, mb_err *err)
{
    struct stat sb;
    int fd = open(path, O_RDWR | O_CLOEXEC), e;

    *outgrew = 0;
    if (fd < 0)
        return mb_err_set(err, MB_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &sb) == 0 && sb.st_size >= 0) {
        if ((uint64_t)sb.st_size > reserved)
            *outgrew = 1;
        else
            /* A truncation to the same size frees the blocks past the end
             * (ext4, XFS, tmpfs); punching a hole there does not on ext4. */
            (void)ftruncate(fd, sb.st_size);
    }
    if (fsync(fd) != 0) {
        e = errno;
        close(fd);
        return mb_err_set(err, MB_EIO, "%s: fsync: %s", path, strerror(e));
    }
    return close(fd) != 0 ? mb_err_set(err, MB_EIO, "%s: close: %s", path, strerror(errno))
                          : MB_OK;
}

mb_status mb_fs_write_file(const char *path, const void *data, size_t len, mb_err *err)
{
    const char *p = data;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);

    if (fd < 0)
        return mb_err_set(err, MB_EIO, "%s: cannot create: %s", path, strerror(errno));
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            close(fd);
            unlink(path);
            return mb_err_set(err, MB_EIO, "%s: write: %s", path, strerror(e));
        }
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return mb_err_set(err, MB_EIO, "%s: fsync: %s", path, strerror(e));
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(path);
        return mb_err_set(err, MB_EIO, "%s: close: %s", path, strerror(e));
    }
    return MB_OK;
}

mb_status mb_fs_write_atomic(const char *path, const void *data, size_t len, mb_err *err)
{
    char tmp[4200];
    mb_status st;

    if ((st = mb_fs_tmpname(path, tmp, sizeof tmp, err)) != MB_OK)
        return st;
    if ((st = mb_fs_write_file(tmp, data, len, err)) != MB_OK)
        return st;
    return mb_fs_publish(tmp, path, err);
}

mb_status mb_fs_read_small(const char *path, size_t max, char **out, size_t *len, mb_err *err)
{
    int fd;
    struct stat sb;
    char *buf;
    size_t got = 0;
    mb_status st = mb_fs_open_input(path, &fd, &sb, err);

    if (st != MB_OK)
        return st;
    if ((uint64_t)sb.st_size > max) {
        close(fd);
        return mb_err_set(err, MB_ELIMIT, "%s: larger than %zu bytes", path, max);
    }
    buf = mb_malloc((size_t)sb.st_size + 1);
    if (!buf) {
        close(fd);
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return MB_OK;
}

static const char *file_kind(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

mb_status mb_fs_open_input(const char *path, int *fd, struct stat *sb, mb_err *err)
{
    /* O_NONBLOCK: open(2) of a FIFO without a writer would wait forever,
     * deaf to signals and leases; fstat decides before any read. */
    int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), flags;

    *fd = -1;
    if (f < 0)
        return mb_err_set(err, errno == ENOENT ? MB_ENOENT : MB_EIO, "%s: %s", path,
                          strerror(errno));
    if (fstat(f, sb) != 0) {
        int e = errno;
        close(f);
        return mb_err_set(err, MB_EIO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb->st_mode)) {
        close(f);
        return mb_err_set(err, MB_EDATA, "%s: not a regular file (%s)", path,
                          file_kind(sb->st_mode));
    }
    if ((flags = fcntl(f, F_GETFL)) < 0 || fcntl(f, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(f);
        return mb_err_set(err, MB_EIO, "%s: %s", path, strerror(e));
    }
    *fd = f;
    return MB_OK;
}
