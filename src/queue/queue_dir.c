/* queue_dir.c - dir:PATH queue on shared storage, leases won by rename(2); no server, no locks. */
/*
 * Layout of the queue at PATH:
 *
 *   PATH/ready/ID.N                  a visible message; N = deliveries so far
 *   PATH/leased/ID.N.EXP.RND         a hidden message: claimed (the claim raised N)
 *                                    or released with a delay; EXP = wall-clock ms
 *                                    at which it becomes visible again
 *   PATH/poison/ID.N                 a message taken out of circulation
 *   PATH/poison/ID.N.reason          why, one line (written before the message moves)
 *   PATH/tmp/                        files being written, renamed into place whole
 *
 * Every file holds the message body, nothing else. ID is 20 decimal digits
 * of enqueue time in ns, '-', 16 random hex digits, so names sort in enqueue
 * order and claims are roughly FIFO (across hosts only as good as their
 * clocks). RND is 16 hex digits from getrandom(2), fresh on every claim,
 * renew and delayed release. The receipt handed out is "N.EXP.RND": the
 * leased name without the ID, so it names the lease exactly.
 *
 * Arbitration: every state change is one rename(2) or unlink(2) whose source
 * name embeds the current receipt, so of two processes racing for the same
 * transition exactly one succeeds and the other gets ENOENT - a claimer
 * takes that as "try the next message", a lease holder as MB_ELEASE.
 * Nothing is locked, so a process that dies anywhere leaves at most: a
 * leased file (visible again when its lease expires), a file in tmp/
 * (garbage; purge sweeps it after an hour) or a .reason file without its
 * message (ignored; overwritten if the message is poisoned again; purge
 * --poison sweeps it after an hour).
 *
 * Expiry: whoever next scans (claim, count, peek) renames leased files whose
 * EXP has passed back to ready/ID.N; that is how a dead consumer's message
 * comes back, and the next claim raises N. EXP is compared with the local
 * wall clock: hosts sharing a queue need synchronized clocks (NTP, chrony),
 * and a skew of s seconds makes leases end up to s early or late.
 *
 * Durability: put writes tmp/, fsyncs the file, renames it into ready/ and
 * fsyncs ready/, so an acknowledged put survives a crash. remove and poison
 * fsync too. claim, renew, release and expiry recovery do not: losing one of
 * those renames in a crash leaves the message leased (back at expiry) or
 * visible - a redelivery, which the at-least-once contract allows.
 *
 * On NFS a retransmitted rename can report ENOENT although the first attempt
 * succeeded (the server's duplicate-request cache normally hides this); the
 * worst outcome is a spurious MB_ELEASE, or a claimer skipping a message it
 * in fact leased, which then returns when that lease expires.
 *
 * Names that do not parse exactly (lengths, digits without leading zeros,
 * lower-case hex, field count) are foreign files and are skipped silently,
 * as are dot files and anything that is not a regular file.
 */
#include "queue/queue.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TS_DIGITS 20
#define RND_LEN 16
#define ID_LEN (TS_DIGITS + 1 + RND_LEN)
#define NAME_BUF 160
#define COUNT_MAX 1000000000LL           /* larger dequeue counts are foreign */
#define EXP_MAX 9999999999999999LL       /* 16 digits of ms: far beyond any clock */
#define CANDIDATES 32                    /* oldest names kept per claim scan */
#define CLAIM_ROUNDS 8                   /* rescans when every candidate was lost */
#define PEEK_MAX 1024
#define TMP_STALE_S 3600

enum { D_READY, D_LEASED, D_POISON, D_TMP, D_COUNT };
static const char *const subdir[D_COUNT] = {"ready", "leased", "poison", "tmp"};

typedef struct dirq {
    char *path;
    int fd[D_COUNT];
    int64_t last_ns;     /* ids made by this handle strictly increase */
} dirq;

/* A parsed file name. ready and poison names have no exp_ms/rnd. */
typedef struct entry {
    char id[ID_LEN + 1];
    int64_t n;
    int64_t exp_ms;
    char rnd[RND_LEN + 1];
} entry;

/* ---- names ------------------------------------------------------------ */

static int all_digits(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int all_hex(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Canonical decimal only ("0", "17"; not "017", "+1", " 1"), so that the
 * name rebuilt from the parsed value is the name that was read. */
static int parse_num(const char *s, size_t len, long long max, int64_t *out)
{
    char buf[24];
    char *end;
    long long v;

    if (len == 0 || len >= sizeof buf || !all_digits(s, len) || (len > 1 && s[0] == '0'))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

static int valid_id(const char *s, size_t len)
{
    return len == ID_LEN && all_digits(s, TS_DIGITS) && s[TS_DIGITS] == '-' &&
           all_hex(s + TS_DIGITS + 1, RND_LEN);
}

/* Parses "ID.N" (nfields 2) or "ID.N.EXP.RND" (nfields 4). */
static int parse_name(const char *name, int nfields, entry *e)
{
    const char *f[4];
    size_t fl[4];
    const char *p = name, *dot;
    int k = 0;

    if (strnlen(name, NAME_BUF) >= NAME_BUF)
        return -1;
    for (;;) {
        if (k == nfields)
            return -1;
        dot = strchr(p, '.');
        f[k] = p;
        fl[k++] = dot ? (size_t)(dot - p) : strlen(p);
        if (!dot)
            break;
        p = dot + 1;
    }
    if (k != nfields || !valid_id(f[0], fl[0]) || parse_num(f[1], fl[1], COUNT_MAX, &e->n))
        return -1;
    memcpy(e->id, f[0], ID_LEN);
    e->id[ID_LEN] = '\0';
    e->exp_ms = 0;
    e->rnd[0] = '\0';
    if (nfields == 2)
        return 0;
    if (parse_num(f[2], fl[2], EXP_MAX, &e->exp_ms) || fl[3] != RND_LEN || !all_hex(f[3], RND_LEN))
        return -1;
    memcpy(e->rnd, f[3], RND_LEN);
    e->rnd[RND_LEN] = '\0';
    return 0;
}

/* Every field is bounded, so these never truncate. */
static void short_name(const entry *e, char buf[NAME_BUF])
{
    snprintf(buf, NAME_BUF, "%.*s.%lld", ID_LEN, e->id, (long long)e->n);
}

static void leased_name(const entry *e, char buf[NAME_BUF])
{
    snprintf(buf, NAME_BUF, "%.*s.%lld.%lld.%.*s", ID_LEN, e->id, (long long)e->n,
             (long long)e->exp_ms, RND_LEN, e->rnd);
}

/* The lease a message claims to hold, checked as strictly as a name read
 * from the directory: a forged or foreign receipt can name no other file. */
static int lease_of(const mb_msg *m, entry *e)
{
    char buf[NAME_BUF];
    int len = snprintf(buf, sizeof buf, "%.*s.%.*s", MB_MSG_ID_MAX - 1, m->id,
                       MB_RECEIPT_MAX - 1, m->receipt);

    return len < 0 || len >= NAME_BUF ? -1 : parse_name(buf, 4, e);
}

static void fill_msg(const entry *e, mb_msg *m)
{
    char ts[TS_DIGITS + 1];
    char *end;
    long long ns;

    memcpy(m->id, e->id, ID_LEN + 1);
    snprintf(m->receipt, sizeof m->receipt, "%lld.%lld.%.*s", (long long)e->n,
             (long long)e->exp_ms, RND_LEN, e->rnd);
    m->dequeue_count = e->n;
    memcpy(ts, e->id, TS_DIGITS);
    ts[TS_DIGITS] = '\0';
    errno = 0;
    ns = strtoll(ts, &end, 10);
    m->enqueued_ms = errno == 0 && *end == '\0' ? (int64_t)(ns / 1000000) : 0;
}

/* ---- small system helpers ---------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ms(void)
{
    return now_ns() / 1000000;
}

static mb_status io_fail(mb_err *err, const dirq *d, const char *what, const char *id, int errnum)
{
    return mb_err_set(err, MB_EIO, "queue dir:%s: %s%s%s: %s", d->path, what,
                      id ? " message " : "", id ? id : "", strerror(errnum));
}

static mb_status lease_lost(mb_err *err, const dirq *d, const mb_msg *m)
{
    return mb_err_set(err, MB_ELEASE,
                      "queue dir:%s: message %.*s: lease lost (it expired and was recovered or "
                      "claimed by another consumer, or the message was removed)",
                      d->path, MB_MSG_ID_MAX - 1, m->id);
}

static mb_status random_hex(const dirq *d, char out[RND_LEN + 1], mb_err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[RND_LEN / 2];
    size_t got = 0, i;

    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r < 0 && errno != EINTR)
            return io_fail(err, d, "getrandom failed", NULL, errno);
        if (r > 0)
            got += (size_t)r;
    }
    for (i = 0; i < sizeof b; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[RND_LEN] = '\0';
    return MB_OK;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Writes tmp/NAME whole and durable; on failure removes it again. */
static mb_status write_tmp(dirq *d, const char *name, const char *data, size_t len,
                           const char *id, mb_err *err)
{
    int fd = openat(d->fd[D_TMP], name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    int e;

    if (fd < 0)
        return io_fail(err, d, "cannot create tmp file for", id, errno);
    if (write_all(fd, data, len) == 0 && fsync(fd) == 0) {
        if (close(fd) == 0)
            return MB_OK;
        fd = -1;
    }
    e = errno;
    if (fd >= 0)
        close(fd);
    unlinkat(d->fd[D_TMP], name, 0);
    return io_fail(err, d, "cannot write", id, e);
}

/* The size of an open message file, if it may be handed out. */
static mb_status body_size(dirq *d, int fd, const mb_msg *m, size_t *len, mb_err *err)
{
    struct stat sb;

    if (fstat(fd, &sb) != 0)
        return io_fail(err, d, "cannot stat", m->id, errno);
    if (!S_ISREG(sb.st_mode))
        return mb_err_set(err, MB_EDATA, "queue dir:%s: message %s: not a regular file",
                          d->path, m->id);
    if (sb.st_size > MB_MSG_BODY_MAX)
        return mb_err_set(err, MB_ELIMIT,
                          "queue dir:%s: message %s: body of %lld bytes is larger than the "
                          "limit of %d bytes",
                          d->path, m->id, (long long)sb.st_size, MB_MSG_BODY_MAX);
    *len = (size_t)sb.st_size;
    return MB_OK;
}

/* Reads up to `len` bytes (a file that shrank meanwhile gives fewer). */
static mb_status read_upto(dirq *d, int fd, size_t len, mb_msg *m, mb_err *err)
{
    size_t got = 0;

    if (!(m->body = mb_malloc(len + 1)))
        return mb_err_set(err, MB_ENOMEM, "queue dir:%s: message %s: out of memory", d->path,
                          m->id);
    while (got < len) {
        ssize_t r = read(fd, m->body + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(m->body);
            m->body = NULL;
            return io_fail(err, d, "cannot read", m->id, e);
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    m->body[got] = '\0';
    m->body_len = got;
    return MB_OK;
}

/* Reads a message file into m->body. MB_ENOENT (no message text) when the
 * file vanished, which callers treat as a lost race. */
static mb_status read_body(dirq *d, int which, const char *name, mb_msg *m, mb_err *err)
{
    int fd = openat(d->fd[which], name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    size_t len = 0;
    mb_status st;

    if (fd < 0)
        return errno == ENOENT ? MB_ENOENT : io_fail(err, d, "cannot open", m->id, errno);
    st = body_size(d, fd, m, &len, err);
    if (st == MB_OK)
        st = read_upto(d, fd, len, m, err);
    close(fd);
    return st;
}

/* ---- directory scans --------------------------------------------------- */

typedef mb_status (*scan_fn)(dirq *d, const char *name, void *ctx, mb_err *err);

/* Calls fn for every name in one subdirectory that may be a regular file.
 * Entries appearing or vanishing meanwhile may or may not be seen, which
 * every caller tolerates (counts are approximate, claims rescan). */
static mb_status scan(dirq *d, int which, scan_fn fn, void *ctx, mb_err *err)
{
    int fd = openat(d->fd[which], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *de;
    mb_status st = MB_OK;
    DIR *dir;

    if (fd < 0 || !(dir = fdopendir(fd))) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return io_fail(err, d, "cannot list", NULL, e);
    }
    for (;;) {
        errno = 0;
        if (!(de = readdir(dir))) {
            if (errno != 0)
                st = io_fail(err, d, "cannot list", NULL, errno);
            break;
        }
        if (de->d_name[0] == '.' || (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
            continue;
        if ((st = fn(d, de->d_name, ctx, err)) != MB_OK)
            break;
    }
    closedir(dir);
    return st;
}

static mb_status recover_one(dirq *d, const char *name, void *ctx, mb_err *err)
{
    const int64_t *now = ctx;
    char dst[NAME_BUF];
    entry e;

    if (parse_name(name, 4, &e) != 0 || e.exp_ms > *now)
        return MB_OK;
    short_name(&e, dst);
    /* ENOENT: the holder renewed or removed it, or another scanner won. */
    if (renameat(d->fd[D_LEASED], name, d->fd[D_READY], dst) != 0 && errno != ENOENT)
        return io_fail(err, d, "cannot recover expired lease of", e.id, errno);
    return MB_OK;
}

static mb_status recover_expired(dirq *d, mb_err *err)
{
    int64_t now = now_ms();

    return scan(d, D_LEASED, recover_one, &now, err);
}

static int entry_before(const entry *a, const entry *b)
{
    int c = strcmp(a->id, b->id);

    return c < 0 || (c == 0 && a->n < b->n);
}

/* The `cap` oldest ready messages, kept sorted by insertion: bounded memory
 * however large the directory. */
typedef struct oldest {
    entry *v;
    size_t n, cap;
} oldest;

static mb_status keep_oldest(dirq *d, const char *name, void *ctx, mb_err *err)
{
    oldest *o = ctx;
    entry e;
    size_t i;

    (void)d;
    (void)err;
    if (parse_name(name, 2, &e) != 0)
        return MB_OK;
    if (o->n == o->cap && !entry_before(&e, &o->v[o->n - 1]))
        return MB_OK;
    if (o->n < o->cap)
        o->n++;
    for (i = o->n - 1; i > 0 && entry_before(&e, &o->v[i - 1]); i--)
        o->v[i] = o->v[i - 1];
    o->v[i] = e;
    return MB_OK;
}

typedef struct tally {
    int nfields;
    int64_t n;
} tally;

static mb_status count_one(dirq *d, const char *name, void *ctx, mb_err *err)
{
    tally *t = ctx;
    entry e;

    (void)d;
    (void)err;
    if (parse_name(name, t->nfields, &e) == 0)
        t->n++;
    return MB_OK;
}

/* ---- open / close ------------------------------------------------------ */

static int dir_accepts(const char *url)
{
    return strncmp(url, "dir:", 4) == 0 || url[0] == '/';
}

static void dirq_free(dirq *d)
{
    int i;

    if (!d)
        return;
    for (i = 0; i < D_COUNT; i++)
        if (d->fd[i] >= 0)
            close(d->fd[i]);
    free(d->path);
    free(d);
}

/* mkdir -p: each missing component in turn; EEXIST is fine (another host
 * may be creating the same queue right now). */
static int make_path(char *path)
{
    char *p;

    for (p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    return mkdir(path, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

static mb_status open_root(dirq *d, int create, int *root, mb_err *err)
{
    if (create && make_path(d->path) != 0)
        return mb_err_set(err, MB_EQUEUE, "queue dir:%s: cannot create: %s", d->path,
                          strerror(errno));
    *root = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*root >= 0)
        return MB_OK;
    if (errno == ENOENT)
        return mb_err_set(err, MB_ENOENT, "queue dir:%s does not exist", d->path);
    return mb_err_set(err, MB_EQUEUE, "queue dir:%s: cannot open: %s", d->path, strerror(errno));
}

static mb_status open_subdirs(dirq *d, int create, int root, mb_err *err)
{
    int i;

    for (i = 0; i < D_COUNT; i++) {
        if (create && mkdirat(root, subdir[i], 0777) != 0 && errno != EEXIST)
            return mb_err_set(err, MB_EQUEUE, "queue dir:%s: cannot create %s/: %s", d->path,
                              subdir[i], strerror(errno));
        d->fd[i] = openat(root, subdir[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d->fd[i] < 0 && errno == ENOENT)
            return mb_err_set(err, MB_ENOENT,
                              "queue dir:%s is not a queue (no %s/ subdirectory)", d->path,
                              subdir[i]);
        if (d->fd[i] < 0)
            return mb_err_set(err, MB_EQUEUE, "queue dir:%s: cannot open %s/: %s", d->path,
                              subdir[i], strerror(errno));
    }
    return MB_OK;
}

static mb_status dir_open(mb_queue *q, const char *url, int create, mb_err *err)
{
    const char *path = strncmp(url, "dir:", 4) == 0 ? url + 4 : url;
    dirq *d;
    int root = -1, i;
    mb_status st;

    if (!*path)
        return mb_err_set(err, MB_EUSAGE, "queue URL '%s' names no directory", url);
    if (!(d = mb_calloc(1, sizeof *d)) || !(d->path = mb_strdup(path))) {
        free(d);
        return mb_err_set(err, MB_ENOMEM, "out of memory opening queue dir:%s", path);
    }
    for (i = 0; i < D_COUNT; i++)
        d->fd[i] = -1;
    st = open_root(d, create, &root, err);
    if (st == MB_OK)
        st = open_subdirs(d, create, root, err);
    if (root >= 0)
        close(root);
    if (st != MB_OK) {
        dirq_free(d);
        return st;
    }
    q->impl = d;
    return MB_OK;
}

static void dir_close(mb_queue *q)
{
    dirq_free(q->impl);
    q->impl = NULL;
}

/* ---- operations -------------------------------------------------------- */

static mb_status new_id(dirq *d, char id[ID_LEN + 1], mb_err *err)
{
    char rnd[RND_LEN + 1];
    int64_t ns = now_ns();
    mb_status st = random_hex(d, rnd, err);

    if (st != MB_OK)
        return st;
    if (ns <= d->last_ns)
        ns = d->last_ns + 1;
    d->last_ns = ns;
    snprintf(id, ID_LEN + 1, "%020lld-%s", (long long)ns, rnd);
    return MB_OK;
}

/* A crash before the rename leaves only a tmp file: the put was never
 * acknowledged, so nothing is lost. */
static mb_status dir_put(mb_queue *q, const char *body, size_t len, mb_err *err)
{
    dirq *d = q->impl;
    char tmp[NAME_BUF], dst[NAME_BUF];
    entry e = {.n = 0};
    mb_status st;

    if (len > MB_MSG_BODY_MAX)
        return mb_err_set(err, MB_ELIMIT,
                          "queue dir:%s: message body of %zu bytes is larger than the limit of "
                          "%d bytes", d->path, len, MB_MSG_BODY_MAX);
    if ((st = new_id(d, e.id, err)) != MB_OK)
        return st;
    snprintf(tmp, sizeof tmp, "%s.put", e.id);
    short_name(&e, dst);
    if ((st = write_tmp(d, tmp, body, len, e.id, err)) != MB_OK)
        return st;
    if (renameat(d->fd[D_TMP], tmp, d->fd[D_READY], dst) != 0) {
        int errnum = errno;
        unlinkat(d->fd[D_TMP], tmp, 0);
        return io_fail(err, d, "cannot enqueue", e.id, errnum);
    }
    if (fsync(d->fd[D_READY]) != 0)
        return io_fail(err, d, "cannot sync ready/ after enqueueing", e.id, errno);
    return MB_OK;
}

/* Tries to lease one ready message. MB_EAGAIN: someone else got it first. */
static mb_status take(dirq *d, const entry *r, unsigned visibility_s, mb_msg *m, mb_err *err)
{
    char src[NAME_BUF], dst[NAME_BUF];
    entry l = *r;
    mb_status st;

    if (r->n >= COUNT_MAX)
        return MB_EAGAIN;     /* a higher count would no longer parse */
    l.n = r->n + 1;
    l.exp_ms = now_ms() + (int64_t)visibility_s * 1000;
    if ((st = random_hex(d, l.rnd, err)) != MB_OK)
        return st;
    short_name(r, src);
    leased_name(&l, dst);
    if (renameat(d->fd[D_READY], src, d->fd[D_LEASED], dst) != 0)
        return errno == ENOENT ? MB_EAGAIN : io_fail(err, d, "cannot claim", r->id, errno);
    fill_msg(&l, m);
    st = read_body(d, D_LEASED, dst, m, err);
    if (st == MB_ENOENT) {          /* purged between rename and open */
        memset(m, 0, sizeof *m);
        return MB_EAGAIN;
    }
    return st;   /* MB_ELIMIT/MB_EDATA keep id and receipt: queue.c poisons */
}

static mb_status dir_claim(mb_queue *q, unsigned visibility_s, mb_msg *m, mb_err *err)
{
    dirq *d = q->impl;
    entry cand[CANDIDATES];
    oldest o = {cand, 0, CANDIDATES};
    mb_status st = recover_expired(d, err);
    size_t i;
    int round;

    for (round = 0; st == MB_OK && round < CLAIM_ROUNDS; round++) {
        o.n = 0;
        if ((st = scan(d, D_READY, keep_oldest, &o, err)) != MB_OK)
            return st;
        if (o.n == 0)
            break;
        for (i = 0; i < o.n; i++)
            if ((st = take(d, &cand[i], visibility_s, m, err)) != MB_EAGAIN)
                return st;
        st = MB_OK;
    }
    if (st != MB_OK)
        return st;
    return mb_err_set(err, MB_EAGAIN, "queue dir:%s: no visible message", d->path);
}

static mb_status dir_renew(mb_queue *q, mb_msg *m, unsigned visibility_s, mb_err *err)
{
    dirq *d = q->impl;
    char src[NAME_BUF], dst[NAME_BUF];
    entry e, ne;
    mb_status st;

    if (lease_of(m, &e) != 0)
        return lease_lost(err, d, m);
    ne = e;
    ne.exp_ms = now_ms() + (int64_t)visibility_s * 1000;
    if ((st = random_hex(d, ne.rnd, err)) != MB_OK)
        return st;
    leased_name(&e, src);
    leased_name(&ne, dst);
    if (renameat(d->fd[D_LEASED], src, d->fd[D_LEASED], dst) != 0)
        return errno == ENOENT ? lease_lost(err, d, m)
                               : io_fail(err, d, "cannot renew", m->id, errno);
    fill_msg(&ne, m);
    return MB_OK;
}

/* A delayed release is a lease nobody holds: a fresh random receipt that is
 * never handed out, so only expiry recovery can move the message again. */
static mb_status dir_release(mb_queue *q, mb_msg *m, unsigned delay_s, mb_err *err)
{
    dirq *d = q->impl;
    char src[NAME_BUF], dst[NAME_BUF];
    entry e, ne;
    int to = D_READY;
    mb_status st;

    if (lease_of(m, &e) != 0)
        return lease_lost(err, d, m);
    leased_name(&e, src);
    short_name(&e, dst);
    if (delay_s > 0) {
        ne = e;
        ne.exp_ms = now_ms() + (int64_t)delay_s * 1000;
        if ((st = random_hex(d, ne.rnd, err)) != MB_OK)
            return st;
        leased_name(&ne, dst);
        to = D_LEASED;
    }
    if (renameat(d->fd[D_LEASED], src, d->fd[to], dst) != 0)
        return errno == ENOENT ? lease_lost(err, d, m)
                               : io_fail(err, d, "cannot release", m->id, errno);
    m->receipt[0] = '\0';
    return MB_OK;
}

static mb_status dir_remove(mb_queue *q, const mb_msg *m, mb_err *err)
{
    dirq *d = q->impl;
    char name[NAME_BUF];
    entry e;

    if (lease_of(m, &e) != 0)
        return lease_lost(err, d, m);
    leased_name(&e, name);
    if (unlinkat(d->fd[D_LEASED], name, 0) != 0)
        return errno == ENOENT ? lease_lost(err, d, m)
                               : io_fail(err, d, "cannot remove", m->id, errno);
    if (fsync(d->fd[D_LEASED]) != 0)
        return io_fail(err, d, "cannot sync leased/ after removing", m->id, errno);
    return MB_OK;
}

/* The reason goes in first, so a poisoned message always has one; a crash
 * between the two renames leaves only a stray .reason file, which nothing
 * counts. */
static mb_status dir_poison(mb_queue *q, const mb_msg *m, const char *reason, mb_err *err)
{
    dirq *d = q->impl;
    char lname[NAME_BUF], pname[NAME_BUF], rname[NAME_BUF], tmp[NAME_BUF], line[1024];
    int len = snprintf(line, sizeof line, "%.1000s\n", reason);
    entry e;
    mb_status st;

    if (lease_of(m, &e) != 0)
        return lease_lost(err, d, m);
    leased_name(&e, lname);
    short_name(&e, pname);
    snprintf(rname, sizeof rname, "%.100s.reason", pname);
    snprintf(tmp, sizeof tmp, "%.100s.%.*s.reason", pname, RND_LEN, e.rnd);
    if ((st = write_tmp(d, tmp, line, (size_t)len, m->id, err)) != MB_OK)
        return st;
    if (renameat(d->fd[D_TMP], tmp, d->fd[D_POISON], rname) != 0) {
        int errnum = errno;
        unlinkat(d->fd[D_TMP], tmp, 0);
        return io_fail(err, d, "cannot store poison reason of", m->id, errnum);
    }
    if (renameat(d->fd[D_LEASED], lname, d->fd[D_POISON], pname) != 0) {
        int errnum = errno;
        unlinkat(d->fd[D_POISON], rname, 0);
        return errnum == ENOENT ? lease_lost(err, d, m)
                                : io_fail(err, d, "cannot poison", m->id, errnum);
    }
    if (fsync(d->fd[D_POISON]) != 0 || fsync(d->fd[D_LEASED]) != 0)
        return io_fail(err, d, "cannot sync after poisoning", m->id, errno);
    return MB_OK;
}

static mb_status dir_count(mb_queue *q, int64_t *visible, int64_t *leased, int64_t *poisoned,
                           mb_err *err)
{
    dirq *d = q->impl;
    tally r = {2, 0}, l = {4, 0}, p = {2, 0};
    mb_status st = recover_expired(d, err);

    if (st == MB_OK)
        st = scan(d, D_READY, count_one, &r, err);
    if (st == MB_OK)
        st = scan(d, D_LEASED, count_one, &l, err);
    if (st == MB_OK)
        st = scan(d, D_POISON, count_one, &p, err);
    *visible = r.n;
    *leased = l.n;
    *poisoned = p.n;
    return st;
}

/* The `cap` leases that end soonest, kept sorted by insertion like
 * keep_oldest. The holder is not recorded in the name: left empty. */
typedef struct soonest {
    mb_lease *v;
    size_t n, cap;
} soonest;

static mb_status keep_soonest(dirq *d, const char *name, void *ctx, mb_err *err)
{
    soonest *o = ctx;
    entry e;
    size_t i;

    (void)d;
    (void)err;
    if (parse_name(name, 4, &e) != 0)
        return MB_OK;
    if (o->n == o->cap && e.exp_ms >= o->v[o->n - 1].expires_ms)
        return MB_OK;
    if (o->n < o->cap)
        o->n++;
    for (i = o->n - 1; i > 0 && e.exp_ms < o->v[i - 1].expires_ms; i--)
        o->v[i] = o->v[i - 1];
    memset(&o->v[i], 0, sizeof o->v[i]);
    memcpy(o->v[i].id, e.id, ID_LEN + 1);
    o->v[i].dequeue_count = e.n;
    o->v[i].expires_ms = e.exp_ms;
    return MB_OK;
}

static mb_status dir_leases(mb_queue *q, mb_lease *out, size_t cap, size_t *n, mb_err *err)
{
    dirq *d = q->impl;
    soonest o = {out, 0, cap};
    mb_status st = scan(d, D_LEASED, keep_soonest, &o, err);

    *n = o.n;
    return st;
}

/* Messages claimed meanwhile are left out, and so are unreadable ones
 * (too large, not a file): the next claim moves those to poison/. */
static mb_status peek_bodies(dirq *d, const oldest *o, mb_msg *out, size_t *n, mb_err *err)
{
    char name[NAME_BUF];
    size_t i;

    for (i = 0; i < o->n; i++) {
        mb_msg *m = &out[*n];
        mb_status st;

        fill_msg(&o->v[i], m);
        m->receipt[0] = '\0';
        short_name(&o->v[i], name);
        st = read_body(d, D_READY, name, m, err);
        if (st == MB_OK)
            ++*n;
        else if (st == MB_ENOENT || st == MB_ELIMIT || st == MB_EDATA)
            memset(m, 0, sizeof *m);
        else
            return st;
    }
    return MB_OK;
}

static mb_status dir_peek(mb_queue *q, mb_msg *out, size_t cap, size_t *n, mb_err *err)
{
    dirq *d = q->impl;
    oldest o = {NULL, 0, cap < PEEK_MAX ? cap : PEEK_MAX};
    mb_status st = recover_expired(d, err);

    if (st != MB_OK)
        return st;
    if (!(o.v = mb_calloc(o.cap, sizeof *o.v)))
        return mb_err_set(err, MB_ENOMEM, "queue dir:%s: out of memory peeking", d->path);
    st = scan(d, D_READY, keep_oldest, &o, err);
    if (st == MB_OK)
        st = peek_bodies(d, &o, out, n, err);
    if (st != MB_OK)
        while (*n > 0)
            mb_msg_fini(&out[--*n]);
    free(o.v);
    if (st == MB_OK)
        mb_err_clear(err);   /* skipped messages are no error */
    return st;
}

typedef struct sweep {
    int which;
    int nfields;
    time_t stale_before;  /* tmp/ only */
} sweep;

static mb_status purge_one(dirq *d, const char *name, void *ctx, mb_err *err)
{
    const sweep *s = ctx;
    struct stat sb;
    entry e;

    if (s->which != D_TMP && parse_name(name, s->nfields, &e) != 0)
        return MB_OK;
    /* tmp/ holds only files named after an id; young ones may be another
     * process's put in progress. */
    if (s->which == D_TMP && (strnlen(name, NAME_BUF) <= ID_LEN || name[ID_LEN] != '.' ||
                              !valid_id(name, ID_LEN) ||
                              fstatat(d->fd[D_TMP], name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
                              !S_ISREG(sb.st_mode) || sb.st_mtime >= s->stale_before))
        return MB_OK;
    if (unlinkat(d->fd[s->which], name, 0) != 0 && errno != ENOENT)
        return io_fail(err, d, "cannot purge", name, errno);
    return MB_OK;
}

/* Leased messages go too: their holders get MB_ELEASE on remove, as with
 * Azure's Clear Messages. */
static mb_status dir_purge(mb_queue *q, mb_err *err)
{
    dirq *d = q->impl;
    sweep ready = {D_READY, 2, 0}, leased = {D_LEASED, 4, 0};
    sweep tmp = {D_TMP, 0, time(NULL) - TMP_STALE_S};
    mb_status st = scan(d, D_READY, purge_one, &ready, err);

    if (st == MB_OK)
        st = scan(d, D_LEASED, purge_one, &leased, err);
    if (st == MB_OK)
        st = scan(d, D_TMP, purge_one, &tmp, err);
    if (st == MB_OK && (fsync(d->fd[D_READY]) != 0 || fsync(d->fd[D_LEASED]) != 0))
        st = io_fail(err, d, "cannot sync after purging", NULL, errno);
    return st;
}

/* ---- the poison area: peek --poison, purge --poison ---------------------- */

/* The reason of poison/NAME, one line without its newline; "" when the
 * reason file is missing (a purge --poison racing the poisoning) or is not
 * a regular file (opened non-blocking: a FIFO planted there cannot hang us). */
static mb_status read_reason(dirq *d, const char *name, const char *id, char *out, size_t cap,
                             mb_err *err)
{
    char rname[NAME_BUF];
    struct stat sb;
    size_t got = 0;
    int fd, e = 0;

    assert(cap > 0);
    out[0] = '\0';
    snprintf(rname, sizeof rname, "%.100s.reason", name);
    fd = openat(d->fd[D_POISON], rname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT || errno == ELOOP
                   ? MB_OK
                   : io_fail(err, d, "cannot open the poison reason of", id, errno);
    if (fstat(fd, &sb) != 0)
        e = errno;
    while (e == 0 && S_ISREG(sb.st_mode) && got < cap - 1) {
        ssize_t r = read(fd, out + got, cap - 1 - got);
        if (r < 0 && errno != EINTR)
            e = errno;
        if (r == 0)
            break;
        if (r > 0)
            got += (size_t)r;
    }
    close(fd);
    out[got] = '\0';
    out[strcspn(out, "\n")] = '\0';
    return e ? io_fail(err, d, "cannot read the poison reason of", id, e) : MB_OK;
}

/* Messages redriven or purged meanwhile are left out; one whose body
 * cannot be handed out (too large, not a file) is listed without it, as
 * that is most likely why it was poisoned. */
static mb_status peek_poisoned(dirq *d, const oldest *o, mb_poisoned *out, size_t *n,
                               mb_err *err)
{
    char name[NAME_BUF];
    size_t i;

    for (i = 0; i < o->n; i++) {
        mb_poisoned *p = &out[*n];
        mb_status st;

        fill_msg(&o->v[i], &p->msg);
        p->msg.receipt[0] = '\0';
        short_name(&o->v[i], name);
        st = read_body(d, D_POISON, name, &p->msg, err);
        if (st == MB_ENOENT) {
            memset(p, 0, sizeof *p);
            continue;
        }
        if (st == MB_OK || st == MB_ELIMIT || st == MB_EDATA)
            st = read_reason(d, name, p->msg.id, p->reason, sizeof p->reason, err);
        if (st != MB_OK) {
            mb_poisoned_fini(p);
            return st;
        }
        ++*n;
    }
    return MB_OK;
}

/* Oldest first by id, i.e. by enqueue time (poison/ keeps no poison time). */
static mb_status dir_peek_poison(mb_queue *q, mb_poisoned *out, size_t cap, size_t *n,
                                 mb_err *err)
{
    dirq *d = q->impl;
    oldest o = {NULL, 0, cap < PEEK_MAX ? cap : PEEK_MAX};
    mb_status st;

    if (!(o.v = mb_calloc(o.cap, sizeof *o.v)))
        return mb_err_set(err, MB_ENOMEM, "queue dir:%s: out of memory peeking", d->path);
    st = scan(d, D_POISON, keep_oldest, &o, err);
    if (st == MB_OK)
        st = peek_poisoned(d, &o, out, n, err);
    if (st != MB_OK)
        while (*n > 0)
            mb_poisoned_fini(&out[--*n]);
    free(o.v);
    if (st == MB_OK)
        mb_err_clear(err);   /* bodies left out are no error */
    return st;
}

/* A .reason file whose message is gone: a crash's leftover, or a
 * poisoning in progress (its reason goes in first), so only old ones. */
static int stray_reason(dirq *d, const char *name, time_t stale_before)
{
    static const char sfx[] = ".reason";
    size_t len = strnlen(name, NAME_BUF), sl = sizeof sfx - 1;
    char mname[NAME_BUF];
    struct stat sb;
    entry e;

    if (len <= sl || len >= NAME_BUF || strcmp(name + len - sl, sfx) != 0)
        return 0;
    memcpy(mname, name, len - sl);
    mname[len - sl] = '\0';
    if (parse_name(mname, 2, &e) != 0)
        return 0;
    if (fstatat(d->fd[D_POISON], mname, &sb, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
        return 0;
    return fstatat(d->fd[D_POISON], name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISREG(sb.st_mode) && sb.st_mtime < stale_before;
}

/* The message goes before its reason: a crash between leaves a stray
 * reason, which nothing counts and a later purge --poison sweeps. */
static mb_status purge_poison_one(dirq *d, const char *name, void *ctx, mb_err *err)
{
    const time_t *stale_before = ctx;
    char rname[NAME_BUF];
    entry e;

    if (parse_name(name, 2, &e) != 0) {
        if (stray_reason(d, name, *stale_before) && unlinkat(d->fd[D_POISON], name, 0) != 0 &&
            errno != ENOENT)
            return io_fail(err, d, "cannot purge", name, errno);
        return MB_OK;
    }
    if (unlinkat(d->fd[D_POISON], name, 0) != 0 && errno != ENOENT)
        return io_fail(err, d, "cannot purge poisoned", e.id, errno);
    snprintf(rname, sizeof rname, "%.100s.reason", name);
    if (unlinkat(d->fd[D_POISON], rname, 0) != 0 && errno != ENOENT)
        return io_fail(err, d, "cannot purge the poison reason of", e.id, errno);
    return MB_OK;
}

static mb_status dir_purge_poison(mb_queue *q, mb_err *err)
{
    dirq *d = q->impl;
    time_t stale_before = time(NULL) - TMP_STALE_S;
    mb_status st = scan(d, D_POISON, purge_poison_one, &stale_before, err);

    if (st == MB_OK && fsync(d->fd[D_POISON]) != 0)
        st = io_fail(err, d, "cannot sync poison/ after purging", NULL, errno);
    return st;
}

typedef struct redrive_ctx {
    const char *id;
    uint64_t moved;
} redrive_ctx;

/* poison/ID.N becomes ready/ID.0, a first delivery again; its reason file
 * goes after the move (a crash between leaves a stray .reason, ignored). */
static mb_status redrive_one(dirq *d, const char *name, void *ctx, mb_err *err)
{
    redrive_ctx *c = ctx;
    char dst[NAME_BUF], rname[NAME_BUF];
    entry e;

    if (parse_name(name, 2, &e) != 0 || (c->id && strcmp(c->id, e.id) != 0))
        return MB_OK;
    snprintf(rname, sizeof rname, "%.100s.reason", name);
    e.n = 0;
    short_name(&e, dst);
    if (renameat(d->fd[D_POISON], name, d->fd[D_READY], dst) != 0)
        return errno == ENOENT ? MB_OK : io_fail(err, d, "cannot redrive", e.id, errno);
    (void)unlinkat(d->fd[D_POISON], rname, 0);
    c->moved++;
    return MB_OK;
}

static mb_status dir_redrive(mb_queue *q, const char *id, uint64_t *moved, mb_err *err)
{
    dirq *d = q->impl;
    redrive_ctx c = {id, 0};
    mb_status st = scan(d, D_POISON, redrive_one, &c, err);

    *moved = c.moved;
    if (st == MB_OK && c.moved &&
        (fsync(d->fd[D_READY]) != 0 || fsync(d->fd[D_POISON]) != 0))
        st = io_fail(err, d, "cannot sync after redriving", NULL, errno);
    return st;
}

const mb_queue_ops mb_queue_dir_ops = {
    .name = "dir",
    .accepts = dir_accepts,
    .open = dir_open,
    .close = dir_close,
    .put = dir_put,
    .claim = dir_claim,
    .renew = dir_renew,
    .release = dir_release,
    .remove = dir_remove,
    .poison = dir_poison,
    .count = dir_count,
    .leases = dir_leases,
    .peek = dir_peek,
    .purge = dir_purge,
    .peek_poison = dir_peek_poison,
    .purge_poison = dir_purge_poison,
    .redrive = dir_redrive,
};
