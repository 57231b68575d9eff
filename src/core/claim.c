/* claim.c - rank 0's hold on the queue: claim, lease renewal, and the end
 * of each delivery (delete, release, poison) kept in step with the
 * delivery record and the recorded lease. Decides nothing about tasks
 * beyond the --max-dequeue rule; no MPI (see claim.h). */
#include "core/claim.h"

#include "base/log.h"
#include "core/results.h"
#include "queue/task.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

mb_status mb_claim_open(mb_claim *c, const mb_opts *o, mb_resume *res, mb_err *err)
{
    mb_queue_config cfg;
    mb_status st;

    memset(c, 0, sizeof *c);
    c->o = o;
    c->res = res;
    st = mb_cli_queue_config(o, &cfg, err);
    if (st == MB_OK)
        st = mb_queue_open(&c->q, o->queue, 0, &cfg, err);
    return st;
}

void mb_claim_fini(mb_claim *c)
{
    if (!c)
        return;
    mb_msg_fini(&c->msg);
    mb_delivery_fini(&c->dlv);
    mb_queue_free(c->q);
    c->q = NULL;
}

int mb_claim_held(const mb_claim *c)
{
    return c->msg.body != NULL;
}

/* The message is no longer held, however its last request went. */
static void let_go(mb_claim *c, const char *verb, mb_status st, const mb_err *err)
{
    if (st != MB_OK)
        mb_warn("message %s: %s failed: %s", c->msg.id, verb, err->msg);
    mb_msg_fini(&c->msg);
    mb_resume_forget_lease(c->res);
}

void mb_claim_poison(mb_claim *c, const char *task_id, const char *reason)
{
    mb_err err;

    assert(mb_claim_held(c));
    c->poisoned++;
    mb_error("message %s: %s", c->msg.id, reason);
    if (task_id) {
        mb_resume_finish_task(c->res, task_id);
        if (mb_results_note_poison(c->o->out, task_id, c->msg.id, reason, &err) != MB_OK)
            mb_warn("task %s: cannot record the poisoning in %s: %s", task_id, c->o->out,
                    err.msg);
    }
    mb_delivery_remove(&c->dlv);
    let_go(c, "moving to the poison area", mb_queue_poison(c->q, &c->msg, reason, &err), &err);
}

/* More failed deliveries than --max-dequeue allows? Then the reason, with
 * the causes on record. */
static int too_many_failures(const mb_claim *c, char *reason, size_t cap)
{
    char causes[MB_ERR_MAX];

    if (c->o->max_dequeue == 0 || c->dlv.failures <= c->o->max_dequeue)
        return 0;
    mb_delivery_causes(&c->dlv, causes, sizeof causes);
    snprintf(reason, cap, "failed %llu times, more than max-dequeue %llu: %s",
             (unsigned long long)c->dlv.failures, (unsigned long long)c->o->max_dequeue,
             causes);
    return 1;
}

void mb_claim_retry(mb_claim *c, const char *task_id, const char *why)
{
    char reason[MB_ERR_MAX];
    mb_err err;
    uint64_t n;
    unsigned delay;

    assert(mb_claim_held(c));
    if (mb_delivery_fail(&c->dlv, why, &err) != MB_OK)
        mb_warn("cannot update the delivery record: %s", err.msg);
    if (too_many_failures(c, reason, sizeof reason)) {
        mb_claim_poison(c, task_id, reason);
        return;
    }
    n = c->dlv.failures;
    delay = (unsigned)(n < 1 ? 1 : n > 60 ? 60 : n);
    mb_warn("message %s: %s; retry in %u s (failure %llu, at most %llu)", c->msg.id, why,
            delay, (unsigned long long)n, (unsigned long long)c->o->max_dequeue);
    let_go(c, "release", mb_queue_release(c->q, &c->msg, delay, &err), &err);
}

void mb_claim_give_back(mb_claim *c)
{
    mb_err err;

    assert(mb_claim_held(c));
    if (mb_delivery_end(&c->dlv, &err) != MB_OK)
        mb_warn("cannot update the delivery record: %s", err.msg);
    let_go(c, "release", mb_queue_release(c->q, &c->msg, 0, &err), &err);
}

void mb_claim_remove(mb_claim *c, const char *task_id)
{
    mb_err err;

    assert(mb_claim_held(c));
    mb_delivery_remove(&c->dlv);
    if (mb_queue_remove(c->q, &c->msg, &err) != MB_OK)
        mb_warn("message %s: delete failed (%s); the task is committed, so the redelivery "
                "will be acknowledged without reprocessing", c->msg.id, err.msg);
    let_go(c, "delete", MB_OK, &err);
    mb_resume_finish_task(c->res, task_id);
}

/* A message just claimed: settles what became of its previous delivery
 * and opens this one. 0 when the message went to the poison area
 * instead. */
static int start_delivery(mb_claim *c)
{
    char reason[MB_ERR_MAX];
    mb_err err;

    mb_delivery_fini(&c->dlv);
    if (mb_delivery_load(&c->dlv, c->o->out, c->msg.id, &err) != MB_OK)
        mb_warn("message %s: no delivery record (%s); failures are not counted", c->msg.id,
                err.msg);
    if (mb_delivery_settle(&c->dlv, c->msg.dequeue_count))
        mb_warn("message %s: the previous delivery failed: %s", c->msg.id,
                c->dlv.causes[c->dlv.ncauses - 1]);
    if (too_many_failures(c, reason, sizeof reason)) {
        mb_task task;
        int known = mb_task_parse(c->msg.body, c->msg.body_len, c->o->data_root, &task,
                                  &err) == MB_OK;
        mb_claim_poison(c, known ? task.id : NULL, reason);
        if (known)
            mb_task_fini(&task);
        return 0;
    }
    if (mb_delivery_begin(&c->dlv, c->msg.dequeue_count, &err) != MB_OK)
        mb_warn("cannot update the delivery record: %s", err.msg);
    return 1;
}

/* The next message, or MB_EAGAIN. A lease recorded by the previous run is
 * reclaimed first, with its lease handle. */
static mb_status claim(mb_claim *c, mb_err *err)
{
    unsigned vis = (unsigned)c->o->visibility_timeout;
    mb_status st;

    if (c->res->lease.body) {
        c->msg = c->res->lease;
        memset(&c->res->lease, 0, sizeof c->res->lease);
        if (mb_queue_renew(c->q, &c->msg, vis, err) == MB_OK) {
            mb_err e2;
            mb_info("message %s: reclaimed from the previous run with its lease", c->msg.id);
            /* A renewal may give the lease a new handle (a pop receipt):
             * recorded, so that a run after this one, should it die too,
             * can reclaim it in turn instead of waiting for it to lapse. */
            if (mb_resume_save_lease(c->res, &c->msg, &e2) != MB_OK)
                mb_warn("cannot record the lease: %s", e2.msg);
            return MB_OK;
        }
        mb_info("message %s: the previous run's lease is gone (%s); claiming anew", c->msg.id,
                err->msg);
        mb_msg_fini(&c->msg);
        mb_resume_forget_lease(c->res);
    }
    st = mb_queue_claim(c->q, vis, &c->msg, err);
    if (st == MB_OK && mb_resume_save_lease(c->res, &c->msg, err) != MB_OK)
        mb_warn("cannot record the lease: %s", err->msg);
    return st;
}

mb_status mb_claim_next(mb_claim *c, mb_err *err)
{
    assert(!mb_claim_held(c));
    for (;;) {
        mb_status st = claim(c, err);
        if (st != MB_OK)
            return st;
        c->lease_renewed = mb_now_s();
        c->lease_lost = 0;
        if (start_delivery(c))
            return MB_OK;
    }
}

void mb_claim_renew(mb_claim *c)
{
    mb_err err;
    double t = mb_now_s();

    if (!c->q || c->lease_lost || !mb_claim_held(c))
        return;
    if (t - c->lease_renewed < (double)c->o->visibility_timeout / 2)
        return;
    if (mb_queue_renew(c->q, &c->msg, (unsigned)c->o->visibility_timeout, &err) == MB_OK) {
        c->lease_renewed = t;
        mb_debug("message %s: lease renewed", c->msg.id);
        if (mb_resume_save_lease(c->res, &c->msg, &err) != MB_OK)
            mb_warn("cannot record the lease: %s", err.msg);
        if (mb_delivery_note(&c->dlv, 0, 1, &err) != MB_OK)
            mb_warn("cannot update the delivery record: %s", err.msg);
    } else {
        c->lease_lost = 1;
        mb_warn("message %s: lease lost (%s); the result will still count once", c->msg.id,
                err.msg);
    }
}

void mb_claim_note_progress(mb_claim *c, uint64_t chunks)
{
    mb_err err;

    if (mb_delivery_note(&c->dlv, chunks, 0, &err) != MB_OK)
        mb_warn("cannot update the delivery record: %s", err.msg);
}

uint64_t mb_claim_rejected(const mb_claim *c)
{
    return c->poisoned + (c->q ? c->q->npoisoned : 0);
}

mb_status mb_claim_count(mb_claim *c, int64_t *left, int64_t *poisoned, mb_err *err)
{
    int64_t vis = 0, leased = 0;
    mb_status st;

    if (!c->q)
        return mb_err_set(err, MB_EINTERNAL, "no queue open");
    st = mb_queue_count(c->q, &vis, &leased, poisoned, err);
    if (st == MB_OK)
        *left = vis + leased;
    return st;
}
