/* test_ckpt.c - TAP tests of the checkpoint module: collective write on every
 * rank, load and fall-back past damaged files, inspect, clear. Runs as a
 * plain process (prove) or under mpirun; only rank 0 prints TAP. Extra modes
 * for tests/mpi/70-ckpt.t and measurements, not run by default:
 *   test_ckpt write DIR SEQ          collective write of synthetic parts
 *   test_ckpt read DIR SEQ NPARTS    load DIR and compare with what NPARTS
 *                                    ranks wrote at SEQ (exit status only)
 *   test_ckpt bench DIR MIB [N]      N timed writes of MIB MiB of states
 *   test_ckpt flipall FILE WORKDIR   flip each byte of FILE in turn: every
 *                                    load refuses it or gives the original
 * It does not test the run loop's use of checkpoints (tests/mpi, fault). */
#include "core/ckpt.h"
#include "base/digest.h"
#include "core/resume.h"
#include "tap.h"

#include <hdf5.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_BUF 4300
#define NCHUNKS 64
#define RECEIPT "receipt-Zq81-never-printed"

static mb_dist d;

/* ---- synthetic checkpoints ----------------------------------------------- */

static void make_meta(mb_ckpt_meta *m, uint64_t seq)
{
    memset(m, 0, sizeof *m);
    mb_sha256_hex("job", 3, m->fingerprint);
    snprintf(m->task_id, sizeof m->task_id, "task-ckpt-0042");
    snprintf(m->input, sizeof m->input, "/data/flights.csv");
    snprintf(m->msg_id, sizeof m->msg_id, "msg-0007");
    snprintf(m->receipt, sizeof m->receipt, RECEIPT);
    m->file_size = NCHUNKS * 1000;
    m->chunk_size = 1000;
    m->nchunks = NCHUNKS;
    mb_sha256_hex("grid", 4, m->grid_digest);
    m->seq = seq;
    m->nstate = 3;
    /* What a load gives back: mb_ckpt_write records this binary's layout. */
    m->layout_version = MB_ACC_LAYOUT_VERSION;
    mb_acc_layout(m->layout, sizeof m->layout);
}

/* Chunks done at seq: the first 8 * (seq % 9), dealt round-robin to the
 * ranks; so some checkpoints cover nothing and some everything. */
static uint64_t done_upto(uint64_t seq)
{
    return seq % 9 * 8;
}

/* The states rank r of n holds at seq: a findable header, then bytes
 * derived from (r, seq). Every third seq the last rank holds nothing, so
 * empty parts (and, on one rank, an empty /states) are exercised. */
static size_t make_states(int r, int n, uint64_t seq, char *out, size_t cap)
{
    size_t len = r == n - 1 && seq % 3 == 0 ? 0 : 200 + 31 * (size_t)r + 7 * seq;
    uint32_t x = 2463534242u ^ (uint32_t)(r * 7919) ^ (uint32_t)seq;
    int h;

    if (len == 0 || len > cap)
        return 0;
    h = snprintf(out, cap, "STATE r=%d s=%llu|", r, (unsigned long long)seq);
    for (size_t i = (size_t)h; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (char)(x & 0xff);
    }
    return len;
}

static size_t make_chunks(int r, int n, uint64_t seq, uint64_t *out)
{
    size_t k = 0;
    for (uint64_t i = (uint64_t)r; i < done_upto(seq); i += (uint64_t)n)
        out[k++] = i;
    return k;
}

/* Collective: this rank's synthetic part of seq. `dup` repeats a chunk on
 * rank 0; `broken` gives the last rank a part with no data pointer. */
static mb_status write_seq(const char *dir, uint64_t seq, int dup, int broken)
{
    char states[1024];
    uint64_t chunks[NCHUNKS + 1];
    mb_ckpt_meta m;
    mb_ckpt_part p;
    mb_err err;

    make_meta(&m, seq);
    p.states = states;
    p.states_len = make_states(d.rank, d.size, seq, states, sizeof states);
    p.chunks = chunks;
    p.nchunks = make_chunks(d.rank, d.size, seq, chunks);
    if (dup && d.rank == 0 && p.nchunks > 0)
        chunks[p.nchunks++] = chunks[0];
    if (broken && d.rank == d.size - 1) {
        p.states = NULL;
        p.states_len = 10;
    }
    return mb_ckpt_write(&d, dir, &m, &p, NULL, &err);
}

/* Whether c holds exactly what n ranks wrote at seq. */
static int matches(const mb_ckpt_loaded *c, uint64_t seq, int n, char *why, size_t cap)
{
    char want[1024];
    mb_ckpt_meta m;
    size_t off = 0;

    make_meta(&m, seq);
    if (memcmp(&c->meta, &m, sizeof m) != 0)
        return snprintf(why, cap, "metadata differs"), 0;
    for (int r = 0; r < n; r++) {
        size_t len = make_states(r, n, seq, want, sizeof want);
        if (off + len > c->states_len || memcmp(c->states + off, want, len) != 0)
            return snprintf(why, cap, "states of part %d differ", r), 0;
        off += len;
    }
    if (off != c->states_len)
        return snprintf(why, cap, "%zu state bytes, want %zu", c->states_len, off), 0;
    for (uint64_t i = 0; i < NCHUNKS; i++)
        if (c->done[i] != (i < done_upto(seq)))
            return snprintf(why, cap, "chunk %llu done=%d", (unsigned long long)i, c->done[i]), 0;
    if (c->ndone != done_upto(seq))
        return snprintf(why, cap, "ndone %llu", (unsigned long long)c->ndone), 0;
    return 1;
}

/* ---- files --------------------------------------------------------------- */

static void ckpt_file(char *out, size_t cap, const char *dir, uint64_t seq)
{
    snprintf(out, cap, "%s/ckpt-%020llu.h5", dir, (unsigned long long)seq);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    long n;

    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (p = malloc((size_t)n + 1)) != NULL) {
        *len = fread(p, 1, (size_t)n, f);
        p[*len] = '\0';
    }
    if (f)
        fclose(f);
    return p;
}

static int spit(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    int rc = f && fwrite(p, 1, len, f) == len ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    return rc;
}

/* Offset of the first occurrence of needle in the file, or -1. */
static long find_in(const char *path, const char *needle)
{
    size_t len = 0, n = strlen(needle);
    char *p = slurp(path, &len);
    long at = -1;

    for (size_t i = 0; p && i + n <= len && at < 0; i++)
        if (memcmp(p + i, needle, n) == 0)
            at = (long)i;
    free(p);
    return at;
}

static int poke(const char *path, long off, unsigned char xor_with, int set_zero)
{
    int fd = open(path, O_RDWR), rc = -1;
    unsigned char b;

    if (fd >= 0 && off >= 0 && pread(fd, &b, 1, off) == 1) {
        b = set_zero ? 0 : (unsigned char)(b ^ xor_with);
        rc = pwrite(fd, &b, 1, off) == 1 ? 0 : -1;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

static off_t size_of(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* File offset of dataset /valid, from `h5dump -p`; -1 when h5dump is not
 * installed (the test is then skipped). */
static long valid_offset(const char *path)
{
    char cmd[PATH_BUF + 64], line[256];
    long off = -1;
    FILE *p;

    snprintf(cmd, sizeof cmd, "h5dump -p -H -d /valid '%s' 2>/dev/null", path);
    if (!(p = popen(cmd, "r")))
        return -1;
    while (fgets(line, sizeof line, p)) {
        char *s = strstr(line, "OFFSET "), *end;
        if (s) {
            errno = 0;
            off = strtol(s + 7, &end, 10);
            if (errno || end == s + 7)
                off = -1;
        }
    }
    pclose(p);
    return off;
}

static int count_files(const char *dir, const char *prefix)
{
    char cmd[PATH_BUF + 64];
    int n = -1;
    FILE *p;

    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '^%s'", dir, prefix);
    if ((p = popen(cmd, "r")) != NULL) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

/* ---- stderr capture: mb_warn writes there -------------------------------- */

static int saved_fd = -1;
static char cap_path[PATH_BUF];

static void capture_begin(const char *dir)
{
    int fd;
    snprintf(cap_path, sizeof cap_path, "%s/stderr.txt", dir);
    fd = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    saved_fd = dup(2);
    if (fd >= 0) {
        dup2(fd, 2);
        close(fd);
    }
}

/* Ends the capture; returns what was written (caller frees). */
static char *capture_end(void)
{
    size_t len = 0;
    if (saved_fd >= 0) {
        dup2(saved_fd, 2);
        close(saved_fd);
        saved_fd = -1;
    }
    return slurp(cap_path, &len);
}

/* Shows captured warnings as TAP diagnostics. */
static void diag_log(const char *log)
{
    for (const char *p = log; p && *p;) {
        size_t n = strcspn(p, "\n");
        printf("#   %.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

/* Loads dir (rank 0) and checks it yields seq with one warning about
 * `bad` (a file name) containing `reason`. */
static void expect_fallback(const char *dir, uint64_t seq, const char *bad, const char *reason,
                            const char *what)
{
    mb_ckpt_loaded c;
    mb_err err;
    char why[128] = "", *log;
    mb_status st;

    capture_begin(dir);
    st = mb_ckpt_load(dir, &c, &err);
    log = capture_end();
    ok(st == MB_OK && c.meta.seq == seq && matches(&c, seq, d.size, why, sizeof why),
       "%s: load falls back to seq %llu (%s)", what, (unsigned long long)seq,
       st == MB_OK ? why : err.msg);
    ok(log && strstr(log, "is damaged") && strstr(log, bad) && strstr(log, reason) &&
           strstr(log, "using the previous one"),
       "%s: warning names the file and says '%s'", what, reason);
    diag_log(log);
    free(log);
    mb_ckpt_loaded_fini(&c);
}

/* ---- the tests ------------------------------------------------------------ */

static void test_write_load(const char *dir)
{
    mb_ckpt_loaded c;
    mb_err err;
    mb_status st = MB_OK;
    char why[128] = "";

    for (uint64_t s = 1; s <= 3; s++)
        if (write_seq(dir, s, 0, 0) != MB_OK)
            st = MB_EIO;
    if (d.rank != 0)
        return;
    ok(st == MB_OK, "%d ranks write checkpoints 1, 2, 3", d.size);
    ok(count_files(dir, "ckpt-") == 2, "only the last two are kept");
    ok(count_files(dir, "\\.ckpt-") == 0, "no temporary file is left");
    ok(mb_ckpt_last_seq(dir) == 3, "last sequence is 3");
    st = mb_ckpt_load(dir, &c, &err);
    ok(st == MB_OK && matches(&c, 3, d.size, why, sizeof why),
       "load gives seq 3: metadata, states in rank order, chunk union (%s)",
       st == MB_OK ? why : err.msg);
    mb_ckpt_loaded_fini(&c);
}

/* A checkpoint whose metadata strings are all at their longest fits in
 * the disk space reserved for it before the write (ckpt.c warns when a
 * file outgrows it), and the part of the reservation it did not use is
 * given back. */
static void test_reservation(const char *dir)
{
    char sub[PATH_BUF], path[PATH_BUF], states[1024], *log = NULL;
    uint64_t chunks[NCHUNKS];
    mb_ckpt_meta m;
    mb_ckpt_part p;
    mb_ckpt_loaded c;
    struct stat sb;
    mb_err err;
    mb_status st;
    int fits;

    snprintf(sub, sizeof sub, "%s/long", dir);
    make_meta(&m, 8);
    memset(m.task_id, 't', sizeof m.task_id - 1);
    memset(m.input, 'i', sizeof m.input - 1);
    memset(m.msg_id, 'm', sizeof m.msg_id - 1);
    memset(m.receipt, 'r', sizeof m.receipt - 1);
    p.states = states;
    p.states_len = make_states(d.rank, d.size, 8, states, sizeof states);
    p.chunks = chunks;
    p.nchunks = make_chunks(d.rank, d.size, 8, chunks);
    if (d.rank == 0)
        capture_begin(dir);
    st = mb_ckpt_write(&d, sub, &m, &p, NULL, &err);
    if (d.rank != 0)
        return;
    log = capture_end();
    ok(st == MB_OK && log && !strstr(log, "reservation"),
       "the longest metadata fits in the space reserved for the file (%s)",
       st == MB_OK ? "no warning" : err.msg);
    diag_log(log);
    free(log);
    st = mb_ckpt_load(sub, &c, &err);
    ok(st == MB_OK && memcmp(&c.meta, &m, sizeof m) == 0, "and it loads with that metadata");
    mb_ckpt_loaded_fini(&c);
    ckpt_file(path, sizeof path, sub, 8);
    fits = stat(path, &sb) == 0 && (uint64_t)sb.st_blocks * 512 <= (uint64_t)sb.st_size + 16384;
    ok(fits, "the unused reservation is given back (%lld bytes, %lld allocated)",
       (long long)sb.st_size, (long long)sb.st_blocks * 512);
    mb_ckpt_clear(sub, &err);
    rmdir(sub);
}

static void test_inspect_valid(const char *dir)
{
    char path[PATH_BUF], *text = NULL;
    size_t len = 0;
    mb_err err;
    mb_status st;
    FILE *f;

    ckpt_file(path, sizeof path, dir, 3);
    f = open_memstream(&text, &len);
    st = f ? mb_ckpt_inspect(path, f, &err) : MB_ENOMEM;
    if (f)
        fclose(f);
    ok(st == MB_OK && text && strstr(text, "VALID") && !strstr(text, "DAMAGED"),
       "inspect says VALID");
    ok(text && strstr(text, "task-ckpt-0042") && strstr(text, "24 / 64 done") &&
           strstr(text, "sequence    3"),
       "inspect shows task, chunks done and sequence");
    ok(text && strstr(text, "(present)") && !strstr(text, RECEIPT),
       "inspect never prints the receipt");
    if (text && (st != MB_OK || !strstr(text, "24 / 64")))
        printf("# %s", text);
    free(text);
}

/* A rank with a bad part fails the write on every rank and leaves no
 * trace: same status everywhere, older checkpoints untouched. */
static void test_failure_agreed(const char *dir)
{
    mb_status st = write_seq(dir, 4, 0, 1);
    uint64_t failed = 0;

    mb_dist_sum_u64(&d, st != MB_OK ? 1u : 0u, &failed);
    if (d.rank != 0)
        return;
    ok(failed == (uint64_t)d.size, "a bad part on the last rank fails the write on all %d ranks",
       d.size);
    ok(mb_ckpt_last_seq(dir) == 3 && count_files(dir, "ckpt-") == 2 &&
           count_files(dir, "\\.ckpt-") == 0,
       "a failed write leaves no file and keeps the previous checkpoints");
}

typedef enum damage { TRUNCATE, FLIP_STATES, FLIP_META, ZERO_VALID, DUP_CHUNK } damage;

/* Writes seq and seq + 1, damages seq + 1 on rank 0, and expects the
 * load to fall back to seq. */
static void test_damage(const char *dir, uint64_t seq, damage how)
{
    static const char *const what[] = {"truncated", "bit-flipped states", "bit-flipped metadata",
                                       "half-written (valid flags 0)", "chunk covered twice"};
    static const char *const reason[] = {"truncated", "states checksum", "metadata",
                                         "not marked valid", "covered twice"};
    char path[PATH_BUF], needle[64];
    mb_status st = write_seq(dir, seq, 0, 0);
    int rc = -1;
    long off;

    if (st == MB_OK)
        st = write_seq(dir, seq + 1, how == DUP_CHUNK, 0);
    if (d.rank != 0)
        return;
    ckpt_file(path, sizeof path, dir, seq + 1);
    if (how == TRUNCATE) {
        rc = truncate(path, size_of(path) / 2);
    } else if (how == FLIP_STATES) {
        snprintf(needle, sizeof needle, "STATE r=0 s=%llu|", (unsigned long long)(seq + 1));
        off = find_in(path, needle);
        rc = poke(path, off < 0 ? -1 : off + (long)strlen(needle) + 3, 0x10, 0);
    } else if (how == FLIP_META) {
        off = find_in(path, "task-ckpt-0042");
        rc = poke(path, off < 0 ? -1 : off + 5, 0x01, 0);
    } else if (how == ZERO_VALID) {
        if ((off = valid_offset(path)) < 0) {
            ok(1, "# SKIP h5dump not available to locate /valid");
            ok(1, "# SKIP h5dump not available to locate /valid");
            return;
        }
        rc = poke(path, off, 0, 1);
    } else {
        rc = 0;
    }
    ok(st == MB_OK && rc == 0, "%s: checkpoints %llu and %llu written, the newer damaged",
       what[how], (unsigned long long)seq, (unsigned long long)seq + 1);
    expect_fallback(dir, seq, path, reason[how], what[how]);
}

/* Files that are not checkpoints at all, under a checkpoint's name. */
static void test_junk(const char *dir, uint64_t seq)
{
    char path[PATH_BUF], empty[PATH_BUF];
    static const char text[] = "this is not an HDF5 file\n";

    if (write_seq(dir, seq, 0, 0) != MB_OK && d.rank == 0)
        ok(0, "write %llu", (unsigned long long)seq);
    if (d.rank != 0)
        return;
    ckpt_file(path, sizeof path, dir, seq + 1);
    ok(spit(path, text, sizeof text - 1) == 0, "a text file named like checkpoint %llu",
       (unsigned long long)seq + 1);
    expect_fallback(dir, seq, path, "not an HDF5 file", "non-HDF5 file");
    unlink(path);
    ckpt_file(empty, sizeof empty, dir, seq + 1);
    ok(spit(empty, "", 0) == 0, "a zero-length checkpoint file");
    expect_fallback(dir, seq, empty, "empty file", "zero-length file");
    unlink(empty);
}

/* A directory holding only damaged files: MB_ENOENT and one warning each. */
static void test_all_damaged(const char *dir, uint64_t seq)
{
    char sub[PATH_BUF], src[PATH_BUF], dst[PATH_BUF], *img, *log;
    size_t len = 0;
    mb_ckpt_loaded c;
    mb_err err;
    mb_status st;

    snprintf(sub, sizeof sub, "%s/bad", dir);
    mkdir(sub, 0755);
    ckpt_file(src, sizeof src, dir, seq);
    img = slurp(src, &len);
    ckpt_file(dst, sizeof dst, sub, 1);
    spit(dst, img ? img : "", img ? len / 3 : 0);
    ckpt_file(dst, sizeof dst, sub, 2);
    spit(dst, "junk", 4);
    ckpt_file(dst, sizeof dst, sub, 3);
    spit(dst, "", 0);
    free(img);
    capture_begin(dir);
    st = mb_ckpt_load(sub, &c, &err);
    log = capture_end();
    ok(st == MB_ENOENT, "only damaged checkpoints: MB_ENOENT (%s)", mb_strerror(st));
    diag_log(log);
    ok(log && strstr(log, "00001.h5 is damaged") && strstr(log, "00002.h5 is damaged") &&
           strstr(log, "00003.h5 is damaged") && strstr(log, "no older checkpoint left"),
       "each damaged file is reported");
    free(log);
    mb_ckpt_loaded_fini(&c);
    ckpt_file(dst, sizeof dst, sub, 1);
    {
        char *text = NULL;
        size_t tl = 0;
        FILE *f = open_memstream(&text, &tl);
        st = f ? mb_ckpt_inspect(dst, f, &err) : MB_ENOMEM;
        if (f)
            fclose(f);
        ok(st == MB_EDATA && text && strstr(text, "DAMAGED ("), "inspect says DAMAGED (reason)");
        free(text);
    }
    ok(mb_ckpt_load(dir, &c, &err) == MB_OK, "subdirectories do not disturb loading");
    mb_ckpt_loaded_fini(&c);
    ok(mb_ckpt_clear(sub, &err) == MB_OK && rmdir(sub) == 0, "clear empties a directory");
}

static void test_tmp_and_clear(const char *dir)
{
    char tmp[PATH_BUF];
    uint64_t last = mb_ckpt_last_seq(dir);
    mb_ckpt_loaded c;
    mb_err err;

    snprintf(tmp, sizeof tmp, "%s/.ckpt-%020llu.h5.tmp", dir, (unsigned long long)last + 10);
    spit(tmp, "partial", 7);
    ok(mb_ckpt_last_seq(dir) == last, "a stale temporary does not count as a checkpoint");
    ok(mb_ckpt_load(dir, &c, &err) == MB_OK && c.meta.seq <= last, "load ignores temporaries");
    mb_ckpt_loaded_fini(&c);
    ok(mb_ckpt_clear(dir, &err) == MB_OK && count_files(dir, "ckpt-") == 0 &&
           count_files(dir, "\\.ckpt-") == 0,
       "clear deletes checkpoints and stale temporaries");
    ok(mb_ckpt_load(dir, &c, &err) == MB_ENOENT && mb_ckpt_last_seq(dir) == 0,
       "after clear: nothing to load, last seq 0");
    mb_ckpt_loaded_fini(&c);
}

/* ---- modes ---------------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    unsigned long long x;

    errno = 0;
    x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *v = x;
    return 0;
}

/* rank 0 picks the directory (argv or mkdtemp); everyone gets its name. */
static int share_dir(const char *given, char *dir, size_t cap)
{
    mb_buf b;
    mb_err err;
    int rc = 0;

    mb_buf_init(&b, cap);
    if (d.rank == 0) {
        if (given)
            snprintf(dir, cap, "%s", given);
        else if (snprintf(dir, cap, "/tmp/mbckpt.XXXXXX") < 0 || !mkdtemp(dir))
            dir[0] = '\0';
        mb_buf_put(&b, dir, strlen(dir) + 1);
    }
    if (mb_dist_bcast(&d, &b, &err) != MB_OK || b.len == 0 || b.len > cap)
        rc = -1;
    else
        memcpy(dir, b.p, b.len);
    mb_buf_fini(&b);
    return rc == 0 && dir[0] ? 0 : -1;
}

static int mode_read(const char *dir, uint64_t seq, uint64_t n)
{
    mb_ckpt_loaded c;
    mb_err err;
    char why[128] = "";
    int good;

    if (mb_ckpt_load(dir, &c, &err) != MB_OK) {
        fprintf(stderr, "test_ckpt read: %s\n", err.msg);
        return 1;
    }
    good = c.meta.seq == seq && n > 0 && n < 1000 && matches(&c, seq, (int)n, why, sizeof why);
    if (!good)
        fprintf(stderr, "test_ckpt read: got seq %llu: %s\n", (unsigned long long)c.meta.seq,
                why);
    mb_ckpt_loaded_fini(&c);
    return good ? 0 : 1;
}

static int same_loaded(const mb_ckpt_loaded *a, const mb_ckpt_loaded *b)
{
    return memcmp(&a->meta, &b->meta, sizeof a->meta) == 0 && a->states_len == b->states_len &&
           memcmp(a->states, b->states, a->states_len) == 0 && a->ndone == b->ndone &&
           memcmp(a->done, b->done, (size_t)a->meta.nchunks) == 0;
}

/* Flips each byte of checkpoint src in turn (in a copy in work/) and loads
 * it: every load must either refuse the file or give exactly the original
 * content, and none may crash or hang. Warnings go to /dev/null. */
static int mode_flipall(const char *src, const char *work)
{
    char dst[PATH_BUF];
    const char *base = strrchr(src, '/');
    size_t len = 0, refused = 0, same = 0, wrong = 0;
    char *img = slurp(src, &len);
    mb_ckpt_loaded orig, c;
    mb_err err;
    int null = open("/dev/null", O_WRONLY);

    snprintf(dst, sizeof dst, "%s/%s", work, base ? base + 1 : src);
    if (!img || null < 0 || spit(dst, img, len) != 0 || mb_ckpt_load(work, &orig, &err) != MB_OK)
        return fprintf(stderr, "flipall: cannot set up %s\n", dst), 1;
    dup2(null, 2);
    for (size_t i = 0; i < len; i++) {
        img[i] ^= 0x5a;
        spit(dst, img, len);
        img[i] ^= 0x5a;
        mb_status st = mb_ckpt_load(work, &c, &err);
        if (st == MB_OK && same_loaded(&orig, &c)) {
            if (getenv("FLIPALL_SHOW"))
                printf("harmless %zu\n", i);
            same++;
        }
        else if (st == MB_ENOENT)
            refused++;
        else
            wrong++, printf("flipall: byte %zu: load gave %s\n", i, mb_strerror(st));
        mb_ckpt_loaded_fini(&c);
    }
    printf("flipall: %zu bytes: %zu refused, %zu harmless, %zu wrong\n", len, refused, same, wrong);
    mb_ckpt_loaded_fini(&orig);
    free(img);
    close(null);
    unlink(dst);
    return wrong ? 1 : 0;
}

/* Timed writes of `mib` MiB of states split over the ranks. */
static int mode_bench(const char *dir, uint64_t mib, uint64_t times)
{
    size_t len = (size_t)(mib << 20) / (size_t)d.size;
    char *states = malloc(len ? len : 1), path[PATH_BUF];
    uint64_t chunk = (uint64_t)d.rank;
    mb_ckpt_part p = {states, len, &chunk, 1};
    mb_ckpt_meta m;
    mb_err err;
    double sec, best = 1e9, sum = 0;

    if (!states)
        return 1;
    for (size_t i = 0; i < len; i++)
        states[i] = (char)(i * 2654435761u >> 13);
    for (uint64_t t = 1; t <= times; t++) {
        make_meta(&m, t);
        if (mb_ckpt_write(&d, dir, &m, &p, &sec, &err) != MB_OK) {
            fprintf(stderr, "bench: %s\n", err.msg);
            free(states);
            return 1;
        }
        best = sec < best ? sec : best;
        sum += sec;
    }
    ckpt_file(path, sizeof path, dir, times);
    if (d.rank == 0)
        printf("ranks %d states %llu MiB writes %llu mean %.4f s best %.4f s file %lld bytes\n",
               d.size, (unsigned long long)mib, (unsigned long long)times, sum / (double)times,
               best, (long long)size_of(path));
    free(states);
    return 0;
}

/* ---- the accumulator layout --------------------------------------------- */

/* Scalar attribute `name` of f as text: a string as it is, a uint64 in
 * decimal (the form meta_sha256 hashes). */
static int attr_text(hid_t f, const char *name, char *out, size_t cap)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT), t = a >= 0 ? H5Aget_type(a) : -1;
    int rc = -1;

    if (t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tget_size(t) <= cap) {
        rc = H5Aread(a, t, out) < 0 ? -1 : 0;
        out[H5Tget_size(t) - 1] = '\0';
    } else if (t >= 0 && H5Tget_class(t) == H5T_INTEGER) {
        uint64_t v = 0;
        rc = H5Aread(a, H5T_NATIVE_UINT64, &v) < 0 ? -1 : 0;
        snprintf(out, cap, "%llu", (unsigned long long)v);
    }
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return rc;
}

static void set_str_attr(hid_t f, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR), a;

    H5Tset_size(t, strlen(value) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    H5Tset_cset(t, H5T_CSET_UTF8);
    if (H5Aexists(f, name) > 0)
        H5Adelete(f, name);
    a = H5Acreate2(f, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, value);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

/* Rewrites the metadata of checkpoint `path` as another writer would have
 * made it: layout version `version` with description `layout`, or (version
 * 0) format mpibatch-checkpoint-2 without layout attributes; then seals it
 * again with meta_sha256 computed as docs/result-format.md says, so that
 * only the layout tells it apart. */
static int forge_layout(const char *path, uint64_t version, const char *layout)
{
    static const char *const names[] = {"format", "fingerprint", "task_id", "input", "msg_id",
                                        "receipt", "file_size", "chunk_size", "nchunks",
                                        "grid_digest", "seq", "nstate", "layout_version",
                                        "layout", "nparts"};
    char *buf = malloc(1 << 16), val[4200], sha[65];
    size_t n = 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    int rc = f < 0 || !buf ? -1 : 0;

    if (rc == 0 && version) {
        hid_t s = H5Screate(H5S_SCALAR), a;
        H5Adelete(f, "layout_version");
        a = H5Acreate2(f, "layout_version", H5T_STD_U64LE, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_UINT64, &version);
        H5Aclose(a);
        H5Sclose(s);
        set_str_attr(f, "layout", layout);
    } else if (rc == 0) {
        set_str_attr(f, "format", "mpibatch-checkpoint-2");
        H5Adelete(f, "layout_version");
        H5Adelete(f, "layout");
    }
    for (size_t i = 0; rc == 0 && i < sizeof names / sizeof *names; i++) {
        if (!version && (i == 12 || i == 13))
            continue;
        rc = attr_text(f, names[i], val, sizeof val);
        n += (size_t)snprintf(buf + n, (1 << 16) - n, "%s=%zu:%s\n", names[i], strlen(val), val);
    }
    if (rc == 0 && mb_sha256_hex(buf, n, sha) == MB_OK)
        set_str_attr(f, "meta_sha256", sha);
    if (f >= 0 && H5Fclose(f) < 0)
        rc = -1;
    free(buf);
    return rc;
}

/* The layout is recorded whatever the caller passes; a checkpoint of
 * another layout, or of the format that did not record one, is refused by
 * load and by resume (not misread, and not replaced by an older one), and
 * --fresh discards it. */
static void test_layout(const char *dir)
{
    char sub[PATH_BUF], task[PATH_BUF], path[PATH_BUF], mine[MB_ACC_LAYOUT_CAP], *text = NULL;
    mb_ckpt_meta m;
    mb_ckpt_part p = {"states", 6, NULL, 0};
    mb_ckpt_loaded c;
    mb_resume r;
    mb_err err;
    mb_status st;
    size_t len = 0;
    FILE *f;

    /* A flip that turns "-3" into "-2" is damage, not an older writer: the
     * checksum tells them apart, and the previous checkpoint is used. */
    snprintf(task, sizeof task, "%s/flip", dir);
    make_meta(&m, 1);
    st = mb_ckpt_write(&d, task, &m, &p, NULL, &err);
    make_meta(&m, 2);
    if (st == MB_OK)
        st = mb_ckpt_write(&d, task, &m, &p, NULL, &err);
    if (d.rank == 0) {
        hid_t h;
        ckpt_file(path, sizeof path, task, 2);
        if ((h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT)) >= 0) {
            set_str_attr(h, "format", "mpibatch-checkpoint-2");
            H5Fclose(h);
        }
        st = st == MB_OK ? mb_ckpt_load(task, &c, &err) : st;
        ok(st == MB_OK && c.meta.seq == 1,
           "a format attribute damaged into 'mpibatch-checkpoint-2' is skipped as damaged (%s)",
           st == MB_OK ? "seq 1 loaded" : err.msg);
        mb_ckpt_loaded_fini(&c);
        mb_ckpt_clear(task, &err);
        rmdir(task);
    }

    snprintf(sub, sizeof sub, "%s/layout", dir);
    snprintf(task, sizeof task, "%s/task-ckpt-0042", sub);
    make_meta(&m, 1);
    snprintf(m.layout, sizeof m.layout, "bogus");
    m.layout_version = 77;
    st = mb_ckpt_write(&d, task, &m, &p, NULL, &err);
    make_meta(&m, 2);
    if (st == MB_OK)
        st = mb_ckpt_write(&d, task, &m, &p, NULL, &err);
    if (d.rank != 0)
        return;
    ok(mb_acc_layout(mine, sizeof mine) == MB_OK && strlen(mine) > 100 &&
           strstr(mine, "sumsq 8") && strstr(mine, "var=sum+sumsq"),
       "the layout names members, limb counts and needs (%zu bytes)", strlen(mine));
    st = st == MB_OK ? mb_ckpt_load(task, &c, &err) : st;
    ok(st == MB_OK && c.meta.layout_version == MB_ACC_LAYOUT_VERSION &&
           strcmp(c.meta.layout, mine) == 0,
       "a checkpoint records this binary's layout, not the caller's (%s)",
       st == MB_OK ? c.meta.layout : err.msg);
    mb_ckpt_loaded_fini(&c);

    ckpt_file(path, sizeof path, task, 2);
    ok(strstr(mine, "str (min/max of VARCHAR)") && strstr(mine, "dbl (DOUBLE") &&
           MB_ACC_LAYOUT_VERSION == 3,
       "layout 3 describes the string min/max and DOUBLE states");
    /* Layout 1 is what mpibatch wrote before string min/max states: its
     * checkpoints are refused cleanly, not misread. */
    ok(forge_layout(path, 1, "v1; acc 16: other") == 0, "checkpoint 2 rewritten as layout 1");
    st = mb_ckpt_load(task, &c, &err);
    ok(st == MB_EJOB && strstr(err.msg, path) && strstr(err.msg, "layout 1") &&
           strstr(err.msg, "layout 3"),
       "load refuses it, naming the file and both layouts, without falling back to 1 (%s)",
       err.msg);
    mb_ckpt_loaded_fini(&c);
    st = mb_resume_open(&r, sub, m.fingerprint, NULL, 0, &err);
    ok(st == MB_EJOB && strstr(err.msg, "--fresh") && r.n == 0,
       "resume refuses it like another job's checkpoint (%s)", err.msg);
    mb_resume_fini(&r);
    f = open_memstream(&text, &len);
    st = mb_ckpt_inspect(path, f, &err);
    fclose(f);
    ok(st == MB_OK && text && strstr(text, "VALID") && strstr(text, "warning") &&
           strstr(text, "layout      1"),
       "inspect says it is valid, of layout 1, and warns");
    if (text && !strstr(text, "warning"))
        printf("# %s", text);
    free(text);

    ok(forge_layout(path, 0, NULL) == 0, "checkpoint 2 rewritten as format 2 (no layout)");
    st = mb_ckpt_load(task, &c, &err);
    ok(st == MB_EJOB && strstr(err.msg, path) && strstr(err.msg, "older mpibatch"),
       "load refuses a checkpoint without a recorded layout (%s)", err.msg);
    mb_ckpt_loaded_fini(&c);
    st = mb_resume_open(&r, sub, m.fingerprint, NULL, 1, &err);
    ok(st == MB_OK && mb_ckpt_last_seq(task) == 0, "--fresh discards it");
    mb_resume_fini(&r);
    rmdir(task);
    remove(sub);
}

static int self_test(const char *given)
{
    char dir[PATH_BUF];

    if (share_dir(given, dir, sizeof dir) != 0) {
        if (d.rank == 0)
            printf("Bail out! no test directory\n");
        return 1;
    }
    test_write_load(dir);
    test_reservation(dir);
    if (d.rank == 0)
        test_inspect_valid(dir);
    test_failure_agreed(dir);
    test_damage(dir, 10, TRUNCATE);
    test_damage(dir, 22, FLIP_STATES);
    test_damage(dir, 30, FLIP_META);
    test_damage(dir, 40, ZERO_VALID);
    test_damage(dir, 50, DUP_CHUNK);
    test_junk(dir, 60);
    test_layout(dir);
    if (d.rank != 0)
        return 0;
    test_all_damaged(dir, 60);
    test_tmp_and_clear(dir);
    remove(cap_path);
    if (!given)
        rmdir(dir);
    return tap_done();
}

int main(int argc, char **argv)
{
    mb_err err;
    uint64_t a = 0, b = 1;
    int rc = 1;

    if (mb_dist_init(&d, &argc, &argv, &err) != MB_OK) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    if (argc >= 4 && strcmp(argv[1], "write") == 0 && parse_u64(argv[3], &a) == 0)
        rc = write_seq(argv[2], a, 0, 0) == MB_OK ? 0 : 1;
    else if (argc == 5 && strcmp(argv[1], "read") == 0 && parse_u64(argv[3], &a) == 0 &&
             parse_u64(argv[4], &b) == 0)
        rc = d.rank == 0 ? mode_read(argv[2], a, b) : 0;
    else if (argc >= 4 && strcmp(argv[1], "bench") == 0 && parse_u64(argv[3], &a) == 0 &&
             a > 0 && a < 65536 && (argc < 5 || (parse_u64(argv[4], &b) == 0 && b > 0)))
        rc = mode_bench(argv[2], a, b);
    else if (argc == 4 && strcmp(argv[1], "flipall") == 0)
        rc = d.rank == 0 ? mode_flipall(argv[2], argv[3]) : 0;
    else if (argc <= 2)
        rc = self_test(argc == 2 ? argv[1] : getenv("MB_CKPT_TESTDIR"));
    else if (d.rank == 0)
        fprintf(stderr, "usage: test_ckpt [DIR] | write DIR SEQ | read DIR SEQ NPARTS | "
                        "bench DIR MIB [TIMES] | flipall FILE WORKDIR\n");
    mb_dist_fini(&d);
    return rc;
}
