/* test_claim.c - TAP tests of rank 0's hold on the queue (core/claim.c) on
 * the mem: back end: claims, the --max-dequeue rule over failed deliveries,
 * give-back, remove, renewal, and the reclaim of a recorded lease. */
#include "core/claim.h"
#include "base/mem.h"
#include "core/results.h"
#include "queue/queue_mem.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];
static int64_t clock_ms = 1700000000000;

static void pass_ms(int64_t ms)
{
    clock_ms += ms;
    mb_queue_mem_set_clock(clock_ms);
}

static void bail(const char *what, const mb_err *err)
{
    printf("Bail out! %s: %s\n", what, err->msg);
    exit(1);
}

/* Options for queue mem:NAME with results in ROOT/NAME. */
static void opts_for(mb_opts *o, const char *name, uint64_t max_dequeue)
{
    char buf[512];
    mb_err err;

    mb_opts_init(o);
    snprintf(buf, sizeof buf, "mem:%s", name);
    o->queue = mb_strdup(buf);
    snprintf(buf, sizeof buf, "%s/%s", root, name);
    o->out = mb_strdup(buf);
    o->visibility_timeout = 30;
    o->max_dequeue = max_dequeue;
    if (!o->queue || !o->out || mb_results_prepare(o->out, &err) != MB_OK)
        bail("cannot prepare the output", &err);
}

/* A new mem: queue holding one message per body. */
static void fill(const char *name, const char *const *bodies, size_t n)
{
    char url[128];
    mb_queue *q = NULL;
    mb_err err;

    snprintf(url, sizeof url, "mem:%s", name);
    if (mb_queue_open(&q, url, 1, NULL, &err) != MB_OK)
        bail("cannot create the queue", &err);
    for (size_t i = 0; i < n; i++)
        if (mb_queue_put(q, bodies[i], strlen(bodies[i]), &err) != MB_OK)
            bail("cannot enqueue", &err);
    mb_queue_free(q);
}

static void open_claim(mb_claim *c, const mb_opts *o, mb_resume *res)
{
    mb_err err;

    if (mb_claim_open(c, o, res, &err) != MB_OK)
        bail("mb_claim_open", &err);
}

static int64_t left(mb_claim *c)
{
    int64_t n = -1, poisoned = -1;
    mb_err err;

    return mb_claim_count(c, &n, &poisoned, &err) == MB_OK ? n : -1;
}

static void test_empty(void)
{
    mb_opts o;
    mb_resume res;
    mb_claim c;
    mb_err err;

    fill("empty", NULL, 0);
    opts_for(&o, "empty", 2);
    memset(&res, 0, sizeof res);
    open_claim(&c, &o, &res);
    ok(mb_claim_next(&c, &err) == MB_EAGAIN, "an empty queue: MB_EAGAIN");
    ok(!mb_claim_held(&c), "... and nothing is held");
    ok(mb_claim_rejected(&c) == 0, "... and nothing rejected");
    mb_claim_fini(&c);
    mb_claim_fini(&c);
    ok(1, "mb_claim_fini twice is harmless");
    mb_opts_fini(&o);
}

/* Failures are counted per delivery: a message is released with a delay
 * while it has failed at most --max-dequeue times, poisoned with every cause
 * past that. */
static void test_retry_then_poison(void)
{
    static const char *const bodies[] = {"/data/missing.csv"};
    mb_opts o;
    mb_resume res;
    mb_claim c;
    mb_err err;
    char id[MB_MSG_ID_MAX];
    const char *reason;

    fill("retry", bodies, 1);
    opts_for(&o, "retry", 2);
    memset(&res, 0, sizeof res);
    open_claim(&c, &o, &res);
    ok(mb_claim_next(&c, &err) == MB_OK && mb_claim_held(&c), "a message is claimed");
    ok(c.msg.dequeue_count == 1, "... on its first delivery");
    snprintf(id, sizeof id, "%s", c.msg.id);
    mb_claim_retry(&c, "t1", "input missing");
    ok(!mb_claim_held(&c), "a retry lets the message go");
    ok(mb_claim_next(&c, &err) == MB_EAGAIN, "... and it stays invisible for the delay");
    pass_ms(1500);
    ok(mb_claim_next(&c, &err) == MB_OK && c.dlv.failures == 1,
       "after 1 s it comes back, with one failure on record");
    mb_claim_retry(&c, "t1", "input missing again");
    ok(mb_claim_next(&c, &err) == MB_EAGAIN, "the second failure: released for 2 s");
    pass_ms(2500);
    ok(mb_claim_next(&c, &err) == MB_OK && c.dlv.failures == 2,
       "back again, two failures: not more than --max-dequeue 2");
    mb_claim_retry(&c, "t1", "input still missing");
    ok(!mb_claim_held(&c), "the third failure lets it go too");
    reason = mb_queue_mem_poison_reason("retry", id);
    ok(reason && strstr(reason, "failed 3 times, more than max-dequeue 2") &&
           strstr(reason, "input still missing"),
       "... to the poison area, the reason naming the count and the causes");
    ok(mb_claim_rejected(&c) == 1, "one message rejected");
    pass_ms(100000);
    ok(mb_claim_next(&c, &err) == MB_EAGAIN, "the queue is empty");
    mb_claim_fini(&c);
    mb_opts_fini(&o);
}

/* A give-back ends a delivery without failing it; a remove deletes the
 * message and its delivery record. */
static void test_give_back_and_remove(void)
{
    static const char *const bodies[] = {"/data/a.csv"};
    mb_opts o;
    mb_resume res;
    mb_claim c;
    mb_err err;
    char path[600];
    struct stat sb;

    fill("back", bodies, 1);
    opts_for(&o, "back", 1);
    memset(&res, 0, sizeof res);
    open_claim(&c, &o, &res);
    ok(mb_claim_next(&c, &err) == MB_OK, "claimed");
    mb_claim_give_back(&c);
    ok(!mb_claim_held(&c), "a give-back lets the message go");
    ok(mb_claim_next(&c, &err) == MB_OK && c.msg.dequeue_count == 2,
       "... visible again at once");
    ok(c.dlv.failures == 0, "... and the delivery given back is no failure");
    snprintf(path, sizeof path, "%s", c.dlv.path ? c.dlv.path : "");
    ok(path[0] && stat(path, &sb) == 0, "the delivery record exists while it is held");
    mb_claim_remove(&c, "t-a");
    ok(!mb_claim_held(&c), "a remove lets the message go");
    ok(left(&c) == 0, "... the message is deleted");
    ok(stat(path, &sb) != 0, "... and so is its delivery record");
    ok(mb_claim_rejected(&c) == 0, "nothing rejected");
    mb_claim_fini(&c);
    mb_opts_fini(&o);
}

/* A delivery that ended without any outcome (the job died) and made no
 * progress counts as a failure on the next claim; one that renewed its
 * lease does not. */
static void test_crash_settles(void)
{
    static const char *const bodies[] = {"/data/b.csv"};
    mb_opts o;
    mb_resume res;
    mb_claim c;
    mb_err err;
    char receipt[MB_RECEIPT_MAX];

    fill("crash", bodies, 1);
    opts_for(&o, "crash", 5);
    memset(&res, 0, sizeof res);
    open_claim(&c, &o, &res);
    ok(mb_claim_next(&c, &err) == MB_OK, "claimed");
    mb_claim_fini(&c);                      /* the job dies holding it */
    pass_ms(31000);
    open_claim(&c, &o, &res);
    ok(mb_claim_next(&c, &err) == MB_OK && c.dlv.failures == 1,
       "a delivery that died without progress is a failure");
    snprintf(receipt, sizeof receipt, "%s", c.msg.receipt);
    mb_claim_renew(&c);
    is_str(c.msg.receipt, receipt, "no renewal before half the visibility timeout");
    c.lease_renewed -= 16;                  /* as if 16 s had passed */
    mb_claim_renew(&c);
    ok(strcmp(c.msg.receipt, receipt) != 0 && !c.lease_lost, "a renewal after 15 s");
    mb_claim_fini(&c);                      /* dies again, but it renewed */
    pass_ms(31000);
    open_claim(&c, &o, &res);
    ok(mb_claim_next(&c, &err) == MB_OK && c.dlv.failures == 1,
       "a delivery that renewed its lease is no failure");
    mb_claim_fini(&c);
    mb_opts_fini(&o);
}

/* With a checkpoint directory, a restart reclaims the message the previous
 * run held, with its lease: the queue does not count a new delivery. */
static void test_reclaim(void)
{
    static const char *const bodies[] = {"/data/c.csv", "/data/d.csv"};
    mb_opts o;
    mb_resume res;
    mb_claim c;
    mb_err err;
    char dir[600], id[MB_MSG_ID_MAX];

    fill("reclaim", bodies, 2);
    opts_for(&o, "reclaim", 5);
    snprintf(dir, sizeof dir, "%s/ck", root);
    if (mb_resume_open(&res, dir, "fp", o.out, 0, &err) != MB_OK)
        bail("mb_resume_open", &err);
    open_claim(&c, &o, &res);
    ok(mb_claim_next(&c, &err) == MB_OK, "claimed");
    snprintf(id, sizeof id, "%s", c.msg.id);
    mb_claim_fini(&c);                      /* stopped holding it */
    mb_resume_fini(&res);
    if (mb_resume_open(&res, dir, "fp", o.out, 0, &err) != MB_OK)
        bail("mb_resume_open", &err);
    ok(res.lease.body != NULL, "the lease was recorded");
    open_claim(&c, &o, &res);
    ok(mb_claim_next(&c, &err) == MB_OK, "the restart claims a message");
    is_str(c.msg.id, id, "... the one the previous run held");
    ok(c.msg.dequeue_count == 1, "... on the same delivery");
    ok(res.lease.body == NULL, "the recorded lease is taken over");
    mb_claim_poison(&c, NULL, "bad body");
    ok(!mb_claim_held(&c) && mb_claim_rejected(&c) == 1, "a poisoned message is let go");
    ok(left(&c) == 1, "one message left");
    mb_claim_fini(&c);
    mb_resume_fini(&res);
    mb_opts_fini(&o);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_claim.XXXXXX");
    if (!mkdtemp(root)) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    mb_queue_mem_set_clock(clock_ms);
    test_empty();
    test_retry_then_poison();
    test_give_back_and_remove();
    test_crash_settles();
    test_reclaim();
    mb_queue_mem_reset();
    {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd) != 0)
            printf("# cannot remove %s\n", root);
    }
    return tap_done();
}
