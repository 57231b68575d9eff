/* test_fsutil.c - durable publication, small reads, input opening, space
 * reservation and the sweep of killed writers' temporaries. */
#include "base/fsutil.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/mbfs.XXXXXX";

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static void test_write_read(void)
{
    char p[256], q[256], *text = NULL;
    size_t len = 0;
    mb_err e;

    path_of(p, sizeof p, "a/b/c");
    ok(mb_fs_mkdirs(p, &e) == MB_OK, "mkdirs creates nested directories");
    ok(mb_fs_mkdirs(p, &e) == MB_OK, "and is happy when they exist");
    path_of(p, sizeof p, "a/b/c/x.json");
    ok(mb_fs_write_atomic(p, "{\"a\":1}", 7, &e) == MB_OK, "write_atomic");
    ok(mb_fs_read_small(p, 100, &text, &len, &e) == MB_OK && len == 7 &&
           strcmp(text, "{\"a\":1}") == 0, "read_small reads it back, NUL-terminated");
    free(text);
    ok(mb_fs_read_small(p, 6, &text, &len, &e) == MB_ELIMIT, "a file over the cap is MB_ELIMIT");
    path_of(q, sizeof q, "a/b/c/none");
    ok(mb_fs_read_small(q, 100, &text, &len, &e) == MB_ENOENT, "a missing file is MB_ENOENT");
    ok(mb_fs_write_atomic(p, "2", 1, &e) == MB_OK && mb_fs_read_small(p, 9, &text, &len, &e) ==
           MB_OK && strcmp(text, "2") == 0, "write_atomic replaces the file whole");
    free(text);
    ok(mb_fs_tmpname(p, q, sizeof q, &e) == MB_OK && strstr(q, "/.x.json.tmp.") != NULL,
       "a temporary name is a dot file beside the target: %s", q);
    ok(mb_fs_tmpname(p, q, 8, &e) != MB_OK, "a temporary name that does not fit is an error");
}

static void test_open_input(void)
{
    char p[256];
    struct stat sb;
    mb_err e;
    int fd = -1;

    path_of(p, sizeof p, "in.csv");
    ok(mb_fs_write_atomic(p, "k\n1\n", 4, &e) == MB_OK, "an input file");
    ok(mb_fs_open_input(p, &fd, &sb, &e) == MB_OK && fd >= 0 && sb.st_size == 4,
       "a regular file opens, with its fstat");
    if (fd >= 0)
        close(fd);
    path_of(p, sizeof p, "fifo");
    ok(mkfifo(p, 0600) == 0, "a FIFO without a writer");
    alarm(10);          /* a blocking open would hang here */
    ok(mb_fs_open_input(p, &fd, &sb, &e) == MB_EDATA && strstr(e.msg, "a FIFO"),
       "a FIFO is refused without blocking: %s", e.msg);
    alarm(0);
    ok(mb_fs_open_input(dir, &fd, &sb, &e) == MB_EDATA && strstr(e.msg, "a directory"),
       "a directory is refused");
    ok(mb_fs_open_input("/dev/null", &fd, &sb, &e) == MB_EDATA &&
           strstr(e.msg, "a character device"), "a device is refused");
    path_of(p, sizeof p, "gone");
    ok(mb_fs_open_input(p, &fd, &sb, &e) == MB_ENOENT && fd == -1, "a missing file is MB_ENOENT");
}

static void test_reserve(void)
{
    char p[256];
    struct stat sb;
    mb_err e;
    int outgrew = 1;
    FILE *f;

    path_of(p, sizeof p, "res");
    ok(mb_fs_write_atomic(p, "", 0, &e) == MB_OK, "an empty file");
    ok(mb_fs_reserve(p, 1 << 20, &e) == MB_OK, "reserve 1 MiB");
    ok(stat(p, &sb) == 0 && sb.st_size == 0, "the size stays 0 after the reservation");
    f = fopen(p, "a");
    fputs("0123456789", f);
    fclose(f);
    ok(mb_fs_trim_sync(p, 1 << 20, &outgrew, &e) == MB_OK && outgrew == 0,
       "trim_sync of a file within its reservation");
    ok(stat(p, &sb) == 0 && sb.st_size == 10 && sb.st_blocks * 512 < (1 << 20),
       "the unused reservation is given back (%lld blocks)", (long long)sb.st_blocks);
    ok(mb_fs_trim_sync(p, 4, &outgrew, &e) == MB_OK && outgrew == 1,
       "a file larger than its reservation is reported");
    ok(mb_fs_reserve(p, (uint64_t)1 << 62, &e) != MB_OK, "an impossible reservation fails: %s",
       e.msg);
    path_of(p, sizeof p, "none");
    ok(mb_fs_reserve(p, 10, &e) == MB_EIO, "reserving for a missing file is MB_EIO");
}

static void test_sweep(void)
{
    char target[256], tmp[256], live[256], foreign[256];
    mb_err e;
    pid_t child;
    FILE *f;

    path_of(target, sizeof target, "swept.json");
    /* a temporary named by a child that then dies: a killed writer */
    child = fork();
    if (child == 0) {
        if (mb_fs_tmpname(target, tmp, sizeof tmp, &e) == MB_OK && (f = fopen(tmp, "w")))
            fclose(f);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    ok(mb_fs_tmpname(target, live, sizeof live, &e) == MB_OK && (f = fopen(live, "w")) != NULL,
       "a temporary of this live process");
    if (f)
        fclose(f);
    path_of(foreign, sizeof foreign, ".swept.json.tmp.otherhost.1");
    f = fopen(foreign, "w");
    if (f)
        fclose(f);
    ok(mb_fs_sweep_temps(dir) == 1, "the sweep removes exactly the dead writer's temporary");
    ok(access(live, F_OK) == 0, "a live writer's temporary stays");
    ok(access(foreign, F_OK) == 0, "another host's temporary stays");
    unlink(live);
    unlink(foreign);
}

int main(void)
{
    char cmd[64];

    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_write_read();
    test_open_input();
    test_reserve();
    test_sweep();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}
