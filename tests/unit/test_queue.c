/* test_queue.c - TAP tests of the queue layer on the dir: and mem: back ends; no Azure. */
#include "queue/queue.h"
#include "queue/queue_mem.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PATH_BUF 512
#define ROOT_MAX 200   /* leaves room for the names tests append */

typedef struct backend {
    const char *name;
    int is_dir;
} backend;

static const backend DIR_BE = {"dir", 1};
static const backend MEM_BE = {"mem", 0};

static char root[ROOT_MAX];
static int64_t mem_now = 1700000000000;

/* ---- helpers ------------------------------------------------------------- */

static void queue_url(const backend *b, const char *test, char *url, size_t cap)
{
    if (b->is_dir)
        snprintf(url, cap, "dir:%s/%s", root, test);
    else
        snprintf(url, cap, "mem:%s", test);
}

static mb_queue *open_new(const backend *b, const char *test)
{
    char url[PATH_BUF];
    mb_queue *q = NULL;
    mb_err err;

    queue_url(b, test, url, sizeof url);
    if (mb_queue_open(&q, url, 1, NULL, &err) != MB_OK) {
        printf("Bail out! cannot open %s: %s\n", url, err.msg);
        exit(1);
    }
    return q;
}

/* Lets leases run out: the mem: clock jumps, the dir: back end must sleep. */
static void pass_time(const backend *b, int64_t ms)
{
    if (b->is_dir) {
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    } else {
        mem_now += ms;
        mb_queue_mem_set_clock(mem_now);
    }
}

static mb_status put_str(mb_queue *q, const char *s)
{
    mb_err err;
    mb_status st = mb_queue_put(q, s, strlen(s), &err);

    if (st != MB_OK)
        printf("# put '%s': %s\n", s, err.msg);
    return st;
}

static mb_status claim(mb_queue *q, unsigned vis, mb_msg *m)
{
    mb_err err;
    mb_status st = mb_queue_claim(q, vis, m, &err);

    if (st != MB_OK && st != MB_EAGAIN)
        printf("# claim: %s\n", err.msg);
    return st;
}

static int body_is(const mb_msg *m, const char *want)
{
    return m->body && m->body_len == strlen(want) && strcmp(m->body, want) == 0;
}

static void expect_counts(mb_queue *q, int64_t v, int64_t l, int64_t p, const char *what)
{
    int64_t gv = -1, gl = -1, gp = -1;
    mb_err err;
    mb_status st = mb_queue_count(q, &gv, &gl, &gp, &err);

    if (!ok(st == MB_OK && gv == v && gl == l && gp == p,
            "%s: %lld visible, %lld leased, %lld poisoned", what, (long long)v, (long long)l,
            (long long)p))
        printf("#   got %lld/%lld/%lld (%s)\n", (long long)gv, (long long)gl, (long long)gp,
               st == MB_OK ? "ok" : err.msg);
}

static int read_text(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

static int write_text(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc;

    if (fd < 0)
        return -1;
    rc = write(fd, data, len) == (ssize_t)len ? 0 : -1;
    close(fd);
    return rc;
}

/* The poison reason of message `id` after `n` deliveries, newline cut. */
static const char *poison_reason(const backend *b, const char *test, const char *id, int n,
                                 char *buf, size_t cap)
{
    char path[PATH_BUF];
    const char *r;

    if (!b->is_dir) {
        r = mb_queue_mem_poison_reason(test, id);
        snprintf(buf, cap, "%s", r ? r : "(none)");
        return buf;
    }
    snprintf(path, sizeof path, "%s/%s/poison/%s.%d.reason", root, test, id, n);
    if (read_text(path, buf, cap) != 0)
        snprintf(buf, cap, "(cannot read the reason file)");
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

static void remove_tree(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (!d) {
        if (fd >= 0)
            close(fd);
        unlinkat(parent, name, 0);
        return;
    }
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            remove_tree(dirfd(d), de->d_name);
    closedir(d);
    unlinkat(parent, name, AT_REMOVEDIR);
}

/* ---- tests on both back ends ------------------------------------------------ */

static void t_open_missing(const backend *b)
{
    char url[PATH_BUF];
    mb_queue *q = (mb_queue *)&q;
    mb_err err;
    mb_status st;

    queue_url(b, "missing", url, sizeof url);
    st = mb_queue_open(&q, url, 0, NULL, &err);
    ok(st == MB_ENOENT && q == NULL, "%s: open of a missing queue without create is MB_ENOENT",
       b->name);
    ok(strstr(err.msg, b->is_dir ? root : "missing") != NULL,
       "%s: the error names the queue (%s)", b->name, err.msg);
}

static void t_put_claim_remove(const backend *b)
{
    mb_queue *q = open_new(b, "basic");
    mb_msg m;
    mb_err err;

    ok(q->max_deliveries == 50, "%s: max_deliveries defaults to 50", b->name);
    ok(claim(q, 30, &m) == MB_EAGAIN, "%s: claim on an empty queue is MB_EAGAIN", b->name);
    ok(put_str(q, "hello") == MB_OK, "%s: put", b->name);
    expect_counts(q, 1, 0, 0, "after put");
    ok(claim(q, 30, &m) == MB_OK && body_is(&m, "hello"), "%s: claim returns the body", b->name);
    ok(m.dequeue_count == 1, "%s: first delivery has dequeue count 1", b->name);
    ok(m.id[0] && m.receipt[0] && m.enqueued_ms > 0, "%s: id, receipt and enqueue time are set",
       b->name);
    expect_counts(q, 0, 1, 0, "while leased");
    ok(mb_queue_remove(q, &m, &err) == MB_OK, "%s: remove with the receipt", b->name);
    ok(mb_queue_remove(q, &m, &err) == MB_ELEASE, "%s: a second remove is MB_ELEASE", b->name);
    expect_counts(q, 0, 0, 0, "after remove");
    mb_msg_fini(&m);
    mb_msg_fini(&m);
    mb_msg_fini(NULL);
    ok(m.body == NULL, "%s: mb_msg_fini frees and is idempotent", b->name);
    mb_queue_free(q);
    mb_queue_free(NULL);
}

static void t_fifo(const backend *b)
{
    static const char *const want[] = {"m0", "m1", "m2", "m3", "m4"};
    mb_queue *q = open_new(b, "fifo");
    int i, in_order = 1;
    mb_msg m;
    mb_err err;

    for (i = 0; i < 5; i++)
        put_str(q, want[i]);
    for (i = 0; i < 5; i++) {
        if (claim(q, 30, &m) != MB_OK || !body_is(&m, want[i]))
            in_order = 0;
        mb_queue_remove(q, &m, &err);
        mb_msg_fini(&m);
    }
    ok(in_order, "%s: messages are claimed in enqueue order", b->name);
    mb_queue_free(q);
}

static void t_renew(const backend *b)
{
    mb_queue *q = open_new(b, "renew");
    mb_msg m, old;
    mb_err err;

    put_str(q, "r");
    claim(q, 30, &m);
    old = m;
    old.body = NULL;
    ok(mb_queue_renew(q, &m, 60, &err) == MB_OK, "%s: renew", b->name);
    ok(strcmp(m.receipt, old.receipt) != 0, "%s: renew changes the receipt", b->name);
    ok(mb_queue_remove(q, &old, &err) == MB_ELEASE, "%s: remove with the old receipt is MB_ELEASE",
       b->name);
    ok(strstr(err.msg, m.id) != NULL, "%s: the lease error names the message (%s)", b->name,
       err.msg);
    ok(mb_queue_renew(q, &old, 60, &err) == MB_ELEASE,
       "%s: renew with the old receipt is MB_ELEASE", b->name);
    ok(mb_queue_remove(q, &m, &err) == MB_OK, "%s: remove with the new receipt", b->name);
    mb_msg_fini(&m);
    mb_queue_free(q);
}

static void t_release_now(const backend *b)
{
    mb_queue *q = open_new(b, "release");
    mb_msg m, held;
    mb_err err;

    put_str(q, "x");
    claim(q, 30, &m);
    held = m;
    held.body = NULL;
    ok(mb_queue_release(q, &m, 0, &err) == MB_OK && m.receipt[0] == '\0',
       "%s: release(0) succeeds and clears the receipt", b->name);
    ok(mb_queue_remove(q, &held, &err) == MB_ELEASE,
       "%s: the released receipt no longer removes", b->name);
    mb_msg_fini(&m);
    ok(claim(q, 30, &m) == MB_OK && body_is(&m, "x"), "%s: release(0) is visible at once", b->name);
    ok(m.dequeue_count == 2, "%s: only the new claim raised the count (got %lld)", b->name,
       (long long)m.dequeue_count);
    mb_queue_remove(q, &m, &err);
    mb_msg_fini(&m);
    mb_queue_free(q);
}

static void t_poison(const backend *b)
{
    mb_queue *q = open_new(b, "poison");
    char id[MB_MSG_ID_MAX], reason[256];
    mb_msg m;
    mb_err err;
    int i;

    q->max_deliveries = 2;
    put_str(q, "p");
    put_str(q, "q");
    for (i = 0; i < 2; i++) {
        claim(q, 30, &m);
        memcpy(id, m.id, sizeof id);
        mb_queue_release(q, &m, 0, &err);
        mb_msg_fini(&m);
    }
    ok(claim(q, 30, &m) == MB_OK && body_is(&m, "q") && m.dequeue_count == 1,
       "%s: a message over the delivery ceiling is skipped, the next one is handed out", b->name);
    expect_counts(q, 0, 1, 1, "after poisoning");
    is_str(poison_reason(b, "poison", id, 3, reason, sizeof reason),
           "delivered 3 times, more than the ceiling of 2 deliveries", "%s: the poison reason states the count",
           b->name);
    ok(mb_queue_poison(q, &m, "bad\ninput", &err) == MB_OK, "%s: explicit poison", b->name);
    is_str(poison_reason(b, "poison", m.id, 1, reason, sizeof reason), "bad input",
           "%s: a poison reason is kept on one line", b->name);
    expect_counts(q, 0, 0, 2, "after explicit poison");
    ok(mb_queue_remove(q, &m, &err) == MB_ELEASE, "%s: a poisoned message cannot be removed",
       b->name);
    mb_msg_fini(&m);
    mb_queue_free(q);
}

static void t_peek(const backend *b)
{
    mb_queue *q = open_new(b, "peek");
    mb_msg out[4], m;
    size_t n = 99;
    mb_err err;

    put_str(q, "a");
    put_str(q, "b");
    put_str(q, "c");
    ok(mb_queue_peek(q, out, 2, &n, &err) == MB_OK && n == 2, "%s: peek returns up to cap",
       b->name);
    ok(n == 2 && body_is(&out[0], "a") && body_is(&out[1], "b") && !out[0].receipt[0],
       "%s: peek shows the oldest bodies, without a receipt", b->name);
    ok(n == 2 && mb_queue_remove(q, &out[0], &err) == MB_ELEASE,
       "%s: a peeked message cannot be removed", b->name);
    expect_counts(q, 3, 0, 0, "peek claims nothing");
    ok(claim(q, 30, &m) == MB_OK && m.dequeue_count == 1 && strcmp(m.id, out[0].id) == 0,
       "%s: peek did not raise the dequeue count", b->name);
    mb_queue_remove(q, &m, &err);
    mb_msg_fini(&m);
    mb_msg_fini(&out[0]);
    mb_msg_fini(&out[1]);
    ok(mb_queue_peek(q, out, 4, &n, &err) == MB_OK && n == 2, "%s: peek skips leased messages",
       b->name);
    while (n > 0)
        mb_msg_fini(&out[--n]);
    mb_queue_free(q);
}

static void t_purge(const backend *b)
{
    mb_queue *q = open_new(b, "purge");
    mb_msg m, bad;
    mb_poisoned pz;
    size_t n = 0;
    mb_err err;

    put_str(q, "bad");
    put_str(q, "a");
    put_str(q, "b");
    claim(q, 30, &bad);
    mb_queue_poison(q, &bad, "test", &err);
    mb_msg_fini(&bad);
    claim(q, 30, &m);
    ok(mb_queue_purge(q, &err) == MB_OK, "%s: purge", b->name);
    expect_counts(q, 0, 0, 1, "purge empties ready and leased, keeps poison");
    ok(mb_queue_peek_poison(q, &pz, 1, &n, &err) == MB_OK && n == 1 && body_is(&pz.msg, "bad") &&
           strcmp(pz.reason, "test") == 0,
       "%s: peek --poison still shows the poisoned message after purge", b->name);
    mb_poisoned_fini(&pz);
    ok(mb_queue_remove(q, &m, &err) == MB_ELEASE, "%s: a purged lease is lost", b->name);
    mb_msg_fini(&m);
    ok(claim(q, 30, &m) == MB_EAGAIN, "%s: nothing to claim after purge", b->name);
    mb_queue_free(q);
}

/* peek --poison and purge --poison: the poison area as peek and purge see
 * the queue, each leaving the other side alone. */
static void t_poison_area(const backend *b)
{
    mb_queue *q = open_new(b, "parea");
    char id_a[MB_MSG_ID_MAX], id_b[MB_MSG_ID_MAX];
    mb_poisoned p[4];
    mb_msg m, keep, vis[4];
    size_t n = 99;
    uint64_t moved = 99;
    mb_err err;

    put_str(q, "pa");
    put_str(q, "pb");
    put_str(q, "ok");
    ok(mb_queue_peek_poison(q, p, 4, &n, &err) == MB_OK && n == 0,
       "%s: an empty poison area peeks as nothing", b->name);
    claim(q, 30, &m);
    memcpy(id_a, m.id, sizeof id_a);
    mb_queue_poison(q, &m, "bad\tdata at 1:2", &err);
    mb_msg_fini(&m);
    claim(q, 30, &m);
    mb_queue_release(q, &m, 0, &err);
    mb_msg_fini(&m);
    claim(q, 30, &m);
    memcpy(id_b, m.id, sizeof id_b);
    ok(m.dequeue_count == 2 && body_is(&m, "pb"), "%s: pb claimed a second time", b->name);
    mb_queue_poison(q, &m, "twice", &err);
    mb_msg_fini(&m);

    ok(mb_queue_peek_poison(q, p, 4, &n, &err) == MB_OK && n == 2,
       "%s: peek --poison lists both poisoned messages", b->name);
    ok(n == 2 && strcmp(p[0].msg.id, id_a) == 0 && body_is(&p[0].msg, "pa") &&
           p[0].msg.dequeue_count == 1 && !p[0].msg.receipt[0] && !p[0].body_cut,
       "%s: the first with its id, body and dequeue count, no receipt", b->name);
    is_str(n == 2 ? p[0].reason : NULL, "bad data at 1:2", "%s: and its reason, on one line",
           b->name);
    ok(n == 2 && strcmp(p[1].msg.id, id_b) == 0 && body_is(&p[1].msg, "pb") &&
           p[1].msg.dequeue_count == 2 && strcmp(p[1].reason, "twice") == 0,
       "%s: the second with its count of 2 and its reason", b->name);
    ok(n == 2 && mb_queue_remove(q, &p[0].msg, &err) == MB_ELEASE,
       "%s: a peeked poisoned message cannot be removed", b->name);
    while (n > 0)
        mb_poisoned_fini(&p[--n]);
    mb_poisoned_fini(NULL);
    ok(mb_queue_peek_poison(q, p, 1, &n, &err) == MB_OK && n == 1 && strcmp(p[0].msg.id, id_a) == 0,
       "%s: peek --poison returns up to cap, oldest first", b->name);
    mb_poisoned_fini(&p[0]);
    ok(mb_queue_peek(q, vis, 4, &n, &err) == MB_OK && n == 1 && body_is(&vis[0], "ok"),
       "%s: plain peek shows only the queue", b->name);
    while (n > 0)
        mb_msg_fini(&vis[--n]);
    expect_counts(q, 1, 0, 2, "peek --poison claims nothing");

    claim(q, 30, &keep);
    ok(mb_queue_purge_poison(q, &err) == MB_OK, "%s: purge --poison", b->name);
    expect_counts(q, 0, 1, 0, "purge --poison empties the poison area only");
    ok(mb_queue_remove(q, &keep, &err) == MB_OK, "%s: a lease survives purge --poison", b->name);
    mb_msg_fini(&keep);
    ok(mb_queue_peek_poison(q, p, 4, &n, &err) == MB_OK && n == 0,
       "%s: nothing to peek in the poison area after purge --poison", b->name);
    ok(mb_queue_redrive(q, NULL, &moved, &err) == MB_OK && moved == 0,
       "%s: and nothing to redrive", b->name);
    ok(mb_queue_purge_poison(q, &err) == MB_OK, "%s: purge --poison of an empty area", b->name);
    mb_queue_free(q);
}

static void t_sizes(const backend *b)
{
    mb_queue *q = open_new(b, "sizes");
    char *big = malloc(MB_MSG_BODY_MAX + 1);
    mb_msg m;
    mb_err err;
    mb_status st;

    memset(big, 'z', MB_MSG_BODY_MAX + 1);
    st = mb_queue_put(q, big, MB_MSG_BODY_MAX + 1, &err);
    ok(st == MB_ELIMIT && strstr(err.msg, "65536") != NULL,
       "%s: a body over the limit is refused on put (%s)", b->name, err.msg);
    ok(mb_queue_put(q, big, MB_MSG_BODY_MAX, &err) == MB_OK, "%s: a body at the limit is taken",
       b->name);
    ok(mb_queue_put(q, "a\0b", 3, &err) == MB_OK, "%s: a body may hold NUL bytes", b->name);
    ok(claim(q, 30, &m) == MB_OK && m.body_len == MB_MSG_BODY_MAX &&
           memcmp(m.body, big, MB_MSG_BODY_MAX) == 0 && m.body[MB_MSG_BODY_MAX] == '\0',
       "%s: a body at the limit comes back whole and NUL-terminated", b->name);
    mb_queue_remove(q, &m, &err);
    mb_msg_fini(&m);
    ok(claim(q, 30, &m) == MB_OK && m.body_len == 3 && memcmp(m.body, "a\0b", 3) == 0,
       "%s: binary body round-trips", b->name);
    mb_queue_remove(q, &m, &err);
    mb_msg_fini(&m);
    free(big);
    mb_queue_free(q);
}

static void t_arguments(const backend *b)
{
    mb_queue *q = open_new(b, "args");
    mb_msg m;
    mb_err err;

    memset(&m, 0, sizeof m);
    ok(mb_queue_claim(q, 0, &m, &err) == MB_EUSAGE, "%s: a zero visibility timeout is refused",
       b->name);
    ok(mb_queue_release(q, &m, 700000, &err) == MB_EUSAGE,
       "%s: a release delay over 7 days is refused", b->name);
    ok(mb_queue_remove(q, &m, &err) == MB_ELEASE,
       "%s: remove of a never-claimed message is MB_ELEASE", b->name);
    put_str(q, "x");
    claim(q, 30, &m);
    snprintf(m.receipt, sizeof m.receipt, "1.0.../../../etc/passwd");
    ok(mb_queue_remove(q, &m, &err) == MB_ELEASE, "%s: a forged receipt is MB_ELEASE", b->name);
    mb_msg_fini(&m);
    mb_queue_free(q);
}

/* Several lease timings checked across one pause, to keep the dir: run short. */
static void t_timed(const backend *b)
{
    mb_queue *q = open_new(b, "timed");
    mb_msg a, bb, c, a2, m;
    mb_err err;
    int64_t leased = b->is_dir ? 4 : 3;

    put_str(q, "a");
    put_str(q, "b");
    put_str(q, "c");
    claim(q, 1, &a);
    claim(q, 1, &bb);
    ok(mb_queue_renew(q, &bb, 10, &err) == MB_OK, "%s: renew to 10 s", b->name);
    claim(q, 10, &c);
    ok(mb_queue_release(q, &c, 1, &err) == MB_OK, "%s: release with a 1 s delay", b->name);
    mb_msg_fini(&c);
    if (b->is_dir) {
        /* A consumer that claims and dies without a word. */
        pid_t pid;
        int status = -1;
        put_str(q, "d");
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            mb_queue *cq = open_new(b, "timed");
            _exit(claim(cq, 1, &m) == MB_OK && body_is(&m, "d") ? 0 : 1);
        }
        waitpid(pid, &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "dir: a consumer claimed and crashed");
    }
    ok(claim(q, 30, &m) == MB_EAGAIN, "%s: leased and delayed messages are hidden", b->name);
    expect_counts(q, 0, leased, 0, "all hidden");

    pass_time(b, 1300);
    ok(claim(q, 30, &a2) == MB_OK && body_is(&a2, "a") && a2.dequeue_count == 2,
       "%s: an expired lease makes the message visible again, dequeue count 2", b->name);
    ok(mb_queue_remove(q, &a, &err) == MB_ELEASE,
       "%s: remove after the lease expired and another claim is MB_ELEASE", b->name);
    ok(mb_queue_renew(q, &a, 30, &err) == MB_ELEASE, "%s: so is renew", b->name);
    ok(claim(q, 30, &c) == MB_OK && body_is(&c, "c") && c.dequeue_count == 2,
       "%s: a delayed release is visible after the delay, count raised by the claim only", b->name);
    mb_queue_remove(q, &c, &err);
    mb_msg_fini(&c);
    if (b->is_dir) {
        ok(claim(q, 30, &m) == MB_OK && body_is(&m, "d") && m.dequeue_count == 2,
           "dir: the crashed consumer's message comes back after its lease expired");
        ok(mb_queue_remove(q, &m, &err) == MB_OK, "dir: and can be removed");
        mb_msg_fini(&m);
    }
    ok(claim(q, 30, &m) == MB_EAGAIN, "%s: a renewed lease stays hidden past the first expiry",
       b->name);
    ok(mb_queue_remove(q, &bb, &err) == MB_OK, "%s: remove with the renewed receipt", b->name);
    ok(mb_queue_remove(q, &a2, &err) == MB_OK, "%s: the new holder removes", b->name);
    expect_counts(q, 0, 0, 0, "timed queue drained");
    mb_msg_fini(&a);
    mb_msg_fini(&a2);
    mb_msg_fini(&bb);
    mb_queue_free(q);
}

/* ---- dir: only --------------------------------------------------------------- */

static void t_dir_layout(void)
{
    char path[PATH_BUF], url[PATH_BUF];
    mb_queue *q = open_new(&DIR_BE, "layout"), *q2 = NULL;
    mb_err err;
    int64_t v = 0;

    put_str(q, "x");
    snprintf(url, sizeof url, "%s/layout", root);
    ok(mb_queue_open(&q2, url, 0, NULL, &err) == MB_OK, "dir: a bare absolute path opens a dir: queue");
    ok(q2 && mb_queue_count(q2, &v, NULL, NULL, &err) == MB_OK && v == 1,
       "dir: and sees the same messages");
    mb_queue_free(q2);
    snprintf(path, sizeof path, "%s/notaqueue", root);
    mkdir(path, 0755);
    snprintf(url, sizeof url, "dir:%s/notaqueue", root);
    q2 = NULL;
    ok(mb_queue_open(&q2, url, 0, NULL, &err) == MB_ENOENT && strstr(err.msg, "not a queue"),
       "dir: a directory without the queue layout is MB_ENOENT (%s)", err.msg);
    ok(mb_queue_open(&q2, "dir:", 1, NULL, &err) == MB_EUSAGE, "dir: an empty path is a usage error");
    mb_queue_free(q);
}

static const char *const garbage[] = {
    "ready/garbage",
    "ready/.hidden",
    "ready/00000000000000000001-0123456789abcdef",
    "ready/00000000000000000001-0123456789abcdef.01",
    "ready/00000000000000000001-0123456789ABCDEF.1",
    "ready/00000000000000000001-0123456789abcdef.99999999999999999999999",
    "ready/00000000000000000001-0123456789abcdef.-1",
    "ready/00000000000000000001-0123456789abcdef.+1",
    "ready/00000000000000000001-0123456789abcdef.1.x",
    "ready/0000000000000000001-0123456789abcdef.1",
    "leased/garbage",
    "leased/00000000000000000001-0123456789abcdef.1.0",
    "leased/00000000000000000001-0123456789abcdef.1.0.zzzzzzzzzzzzzzzz",
    "leased/00000000000000000001-0123456789abcdef.1.0.0123456789abcdef.x",
    "poison/junk",
    "tmp/junk",
};

/* An interrupted put: a tmp/ file `age_s` seconds old. */
static int plant_tmp(char *path, size_t cap, const char *name, time_t age_s)
{
    struct timespec times[2];

    snprintf(path, cap, "%s/garbage/tmp/%s", root, name);
    times[0].tv_sec = times[1].tv_sec = time(NULL) - age_s;
    times[0].tv_nsec = times[1].tv_nsec = 0;
    return write_text(path, "partial", 7) == 0 && utimensat(AT_FDCWD, path, times, 0) == 0;
}

static void t_dir_garbage(void)
{
    mb_queue *q = open_new(&DIR_BE, "garbage");
    char path[PATH_BUF], stale[PATH_BUF], young[PATH_BUF];
    size_t i;
    int planted = 1, intact = 1;
    mb_msg m;
    mb_err err;

    for (i = 0; i < MB_ARRAY_LEN(garbage); i++) {
        snprintf(path, sizeof path, "%s/garbage/%s", root, garbage[i]);
        planted &= write_text(path, "junk", 4) == 0;
    }
    snprintf(path, sizeof path, "%s/garbage/ready/00000000000000000002-0123456789abcdef.0", root);
    planted &= mkdir(path, 0755) == 0;
    planted &= plant_tmp(stale, sizeof stale, "00000000000000000003-0123456789abcdef.put", 7200);
    planted &= plant_tmp(young, sizeof young, "00000000000000000004-0123456789abcdef.put", 60);
    ok(planted, "dir: planted foreign files");
    expect_counts(q, 0, 0, 0, "foreign files are not counted");
    ok(claim(q, 30, &m) == MB_EAGAIN, "dir: foreign files are never claimed");
    ok(mb_queue_purge(q, &err) == MB_OK, "dir: purge with foreign files present");
    for (i = 0; i < MB_ARRAY_LEN(garbage); i++) {
        snprintf(path, sizeof path, "%s/garbage/%s", root, garbage[i]);
        intact &= access(path, F_OK) == 0;
    }
    ok(intact, "dir: foreign files are left alone");
    ok(access(stale, F_OK) != 0 && access(young, F_OK) == 0,
       "dir: purge sweeps tmp files older than an hour, keeps young ones");
    put_str(q, "real");
    ok(claim(q, 30, &m) == MB_OK && body_is(&m, "real"), "dir: real messages still flow");
    mb_queue_remove(q, &m, &err);
    mb_msg_fini(&m);
    mb_queue_free(q);
}

/* Planted poison/ files: a message whose reason file is missing peeks with
 * no reason; purge --poison sweeps stray reason files older than an hour,
 * keeps young ones (a poisoning in progress writes its reason first) and
 * foreign files. */
static void t_dir_poison_files(void)
{
    static const char no_reason[] = "00000000000000000001-00000000000000bb.4";
    static const char stale[] = "00000000000000000002-00000000000000bb.1.reason";
    static const char young[] = "00000000000000000003-00000000000000bb.1.reason";
    static const char *const foreign[] = {"junk", "junk.reason", "0001-bb.1.reason"};
    mb_queue *q = open_new(&DIR_BE, "pfiles");
    char path[PATH_BUF], spath[PATH_BUF], ypath[PATH_BUF];
    struct timespec times[2];
    int planted = 1, intact = 1;
    mb_poisoned p;
    size_t n = 0, i;
    mb_err err;

    snprintf(path, sizeof path, "%s/pfiles/poison/%s", root, no_reason);
    planted &= write_text(path, "body", 4) == 0;
    snprintf(spath, sizeof spath, "%s/pfiles/poison/%s", root, stale);
    snprintf(ypath, sizeof ypath, "%s/pfiles/poison/%s", root, young);
    planted &= write_text(spath, "old\n", 4) == 0 && write_text(ypath, "new\n", 4) == 0;
    times[0].tv_sec = times[1].tv_sec = time(NULL) - 7200;
    times[0].tv_nsec = times[1].tv_nsec = 0;
    planted &= utimensat(AT_FDCWD, spath, times, 0) == 0;
    for (i = 0; i < MB_ARRAY_LEN(foreign); i++) {
        snprintf(path, sizeof path, "%s/pfiles/poison/%s", root, foreign[i]);
        planted &= write_text(path, "junk", 4) == 0;
        utimensat(AT_FDCWD, path, times, 0);
    }
    ok(planted, "dir: planted poison/ files");
    expect_counts(q, 0, 0, 1, "only the message is counted in poison/");
    ok(mb_queue_peek_poison(q, &p, 1, &n, &err) == MB_OK && n == 1 && body_is(&p.msg, "body") &&
           p.msg.dequeue_count == 4 && p.reason[0] == '\0',
       "dir: a poisoned message without a reason file peeks with an empty reason");
    mb_poisoned_fini(&p);
    ok(mb_queue_purge_poison(q, &err) == MB_OK, "dir: purge --poison with planted files");
    expect_counts(q, 0, 0, 0, "the poisoned message is gone");
    ok(access(spath, F_OK) != 0 && access(ypath, F_OK) == 0,
       "dir: purge --poison sweeps stray reasons older than an hour, keeps young ones");
    for (i = 0; i < MB_ARRAY_LEN(foreign); i++) {
        snprintf(path, sizeof path, "%s/pfiles/poison/%s", root, foreign[i]);
        intact &= access(path, F_OK) == 0;
    }
    ok(intact, "dir: purge --poison leaves foreign files alone");
    mb_queue_free(q);
}

/* A file that grew past the limit behind our back is refused on read and
 * poisoned with the reason, and does not block the messages after it. */
static void t_dir_oversize_read(void)
{
    static const char id[] = "00000000000000000001-00000000000000aa";
    mb_queue *q = open_new(&DIR_BE, "bigread");
    char path[PATH_BUF], reason[256];
    char *big = malloc(MB_MSG_BODY_MAX + 1);
    mb_poisoned p;
    size_t n = 0;
    mb_msg m;
    mb_err err;

    memset(big, 'y', MB_MSG_BODY_MAX + 1);
    snprintf(path, sizeof path, "%s/bigread/ready/%s.0", root, id);
    write_text(path, big, MB_MSG_BODY_MAX + 1);
    free(big);
    put_str(q, "fine");
    ok(claim(q, 30, &m) == MB_OK && body_is(&m, "fine"),
       "dir: an oversized stored body is skipped, the next message is handed out");
    expect_counts(q, 0, 1, 1, "the oversized message is in the poison area");
    poison_reason(&DIR_BE, "bigread", id, 1, reason, sizeof reason);
    ok(strstr(reason, "larger than the limit") && strstr(reason, id),
       "dir: its reason names the limit and the message (%s)", reason);
    ok(mb_queue_peek_poison(q, &p, 1, &n, &err) == MB_OK && n == 1 && strcmp(p.msg.id, id) == 0 &&
           p.msg.body == NULL && p.msg.dequeue_count == 1 && strcmp(p.reason, reason) == 0,
       "dir: peek --poison lists the oversized message with its reason, without its body");
    mb_poisoned_fini(&p);
    mb_queue_remove(q, &m, &err);
    mb_msg_fini(&m);
    mb_queue_free(q);
}

#define CONC_MSGS 200
#define CONC_KIDS 4

static void conc_child(int wfd)
{
    mb_queue *q = NULL;
    mb_err err;
    mb_msg m;
    char url[PATH_BUF], line[64];
    mb_status st;

    queue_url(&DIR_BE, "conc", url, sizeof url);
    if (mb_queue_open(&q, url, 0, NULL, &err) != MB_OK)
        _exit(2);
    while ((st = mb_queue_claim(q, 30, &m, &err)) == MB_OK) {
        int len = snprintf(line, sizeof line, "%.40s\n", m.body);
        if (mb_queue_remove(q, &m, &err) != MB_OK || write(wfd, line, (size_t)len) != len)
            _exit(3);
        mb_msg_fini(&m);
    }
    mb_queue_free(q);
    _exit(st == MB_EAGAIN ? 0 : 4);
}

static size_t read_all_fd(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    ssize_t r;

    while (got < cap - 1 && (r = read(fd, buf + got, cap - 1 - got)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    return got;
}

static void t_dir_concurrent(void)
{
    mb_queue *q = open_new(&DIR_BE, "conc");
    static char out[CONC_MSGS * 16];
    int seen[CONC_MSGS] = {0}, fds[2], i, kids_ok = 1, once = 1, lines = 0;
    char body[32], *p, *end;

    for (i = 0; i < CONC_MSGS; i++) {
        snprintf(body, sizeof body, "%d", i);
        put_str(q, body);
    }
    if (pipe(fds) != 0)
        return;
    fflush(stdout);
    for (i = 0; i < CONC_KIDS; i++)
        if (fork() == 0) {
            close(fds[0]);
            conc_child(fds[1]);
        }
    close(fds[1]);
    read_all_fd(fds[0], out, sizeof out);
    close(fds[0]);
    for (i = 0; i < CONC_KIDS; i++) {
        int status = -1;
        kids_ok &= wait(&status) > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    for (p = out; *p; p = end + 1) {
        long v = strtol(p, &end, 10);
        if (end == p || *end != '\n' || v < 0 || v >= CONC_MSGS)
            break;
        seen[v]++;
        lines++;
    }
    for (i = 0; i < CONC_MSGS; i++)
        once &= seen[i] == 1;
    ok(kids_ok, "dir: %d concurrent consumers ran to an empty queue", CONC_KIDS);
    ok(once && lines == CONC_MSGS, "dir: each of %d messages consumed exactly once (%d lines)",
       CONC_MSGS, lines);
    expect_counts(q, 0, 0, 0, "concurrent consumers drained the queue");
    mb_queue_free(q);
}

/* ---- generic layer --------------------------------------------------------- */

static void t_registry(void)
{
    mb_queue *q = NULL;
    mb_err err;
    mb_status st;

    ok(mb_queue_backends[0] && strcmp(mb_queue_backends[0]->name, "dir") == 0,
       "registry lists dir first");
    ok(mb_queue_backends[1] && strcmp(mb_queue_backends[1]->name, "azure") == 0,
       "registry lists azure second");
    ok(mb_queue_backends[2] && strcmp(mb_queue_backends[2]->name, "mem") == 0,
       "registry lists mem third");
    st = mb_queue_open(&q, "ftp://example.org/q?sv=2020&sig=SECRET", 0, NULL, &err);
    ok(st == MB_EUSAGE && q == NULL, "an unknown URL scheme is a usage error");
    ok(strstr(err.msg, "SECRET") == NULL && strstr(err.msg, "ftp://example.org/q") != NULL,
       "the error shows the URL without its query string (%s)", err.msg);
    ok(mb_queue_open(&q, "mem:bad/name", 1, NULL, &err) == MB_EUSAGE, "mem: names are checked");
}

int main(void)
{
    static const backend *const both[] = {&DIR_BE, &MEM_BE};
    const char *tmpdir = getenv("TMPDIR");
    size_t i;

    snprintf(root, sizeof root, "%s/mbq.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(root)) {
        printf("Bail out! mkdtemp %s: %s\n", root, strerror(errno));
        return 1;
    }
    mb_queue_mem_set_clock(mem_now);
    t_registry();
    for (i = 0; i < MB_ARRAY_LEN(both); i++) {
        printf("# back end %s\n", both[i]->name);
        t_open_missing(both[i]);
        t_put_claim_remove(both[i]);
        t_fifo(both[i]);
        t_renew(both[i]);
        t_release_now(both[i]);
        t_poison(both[i]);
        t_peek(both[i]);
        t_purge(both[i]);
        t_poison_area(both[i]);
        t_sizes(both[i]);
        t_arguments(both[i]);
        t_timed(both[i]);
    }
    t_dir_layout();
    t_dir_garbage();
    t_dir_oversize_read();
    t_dir_poison_files();
    t_dir_concurrent();
    mb_queue_mem_reset();
    remove_tree(AT_FDCWD, root);
    return tap_done();
}
