/* fsutil.h - durable file publication on shared storage: create parent
 * directories, write-fsync-rename, fsync a directory. POSIX only. */
#ifndef MB_FSUTIL_H
#define MB_FSUTIL_H

#include "base/mb.h"

#include <sys/stat.h>

/* mkdir -p; MB_EIO with the path and reason on failure. */
mb_status mb_fs_mkdirs(const char *path, mb_err *err);

/* fsync of the directory that holds `path` (or of `path` if it is one). */
mb_status mb_fs_sync_dir(const char *dir, mb_err *err);

/* Reserves `bytes` of disk for the existing file `path` past its end
 * (fallocate, FALLOC_FL_KEEP_SIZE: the size stays, so later writes up to
 * that many bytes cannot fail for want of space, and a full disk or quota
 * shows here, before a library that cannot survive a failed write starts
 * writing). Where fallocate is not supported (some NFS and FUSE file
 * systems) the free space is checked instead, which another writer can
 * still beat. MB_EIO naming the path when the space is not there. */
mb_status mb_fs_reserve(const char *path, uint64_t bytes, mb_err *err);

/* After writing into a reservation: frees what the file did not use and
 * fsyncs it. Returns 1 in *outgrew when the file grew past `reserved`. */
mb_status mb_fs_trim_sync(const char *path, uint64_t reserved, int *outgrew, mb_err *err);

/* Writes data to `path` (created or truncated), fsyncs and closes it; on
 * any failure the file is removed and MB_EIO names it. */
mb_status mb_fs_write_file(const char *path, const void *data, size_t len, mb_err *err);

/* Writes data to `path` atomically: a temporary file beside it, fsync,
 * rename over `path`, fsync of the directory. */
mb_status mb_fs_write_atomic(const char *path, const void *data, size_t len, mb_err *err);

/* Renames tmp to path and fsyncs the directory of path (tmp must already
 * be fsynced). */
mb_status mb_fs_publish(const char *tmp, const char *path, mb_err *err);

/* A temporary name beside `path`: "<dir>/.<base>.tmp.<host>.<pid>". The
 * host is in the name because `dir` may be shared storage: only a host can
 * tell whether one of its processes is still alive. */
mb_status mb_fs_tmpname(const char *path, char *out, size_t cap, mb_err *err);

/* Removes the temporaries in `dir` (named by mb_fs_tmpname) of writers on
 * this host that are no longer alive; those of other hosts, of live
 * processes and names of any other form are left alone. Returns how many
 * were removed. */
size_t mb_fs_sweep_temps(const char *dir);

/* Reads a whole small file (at most `max` bytes) into a new NUL-terminated
 * buffer. MB_ENOENT if missing, MB_ELIMIT if larger than max. */
mb_status mb_fs_read_small(const char *path, size_t max, char **out, size_t *len, mb_err *err);

/* Opens an input file for reading without ever blocking in open(2): a FIFO,
 * directory or device is refused with MB_EDATA ("not a regular file")
 * before anything is read; a missing file is MB_ENOENT, an unreadable one
 * MB_EIO, with the path in the message. On MB_OK *fd is a blocking descriptor and *sb
 * its fstat. */
mb_status mb_fs_open_input(const char *path, int *fd, struct stat *sb, mb_err *err);

#endif
