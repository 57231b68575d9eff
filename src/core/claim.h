/* claim.h - rank 0's hold on the queue: claiming a message (first the one
 * whose lease the previous run recorded), keeping its lease alive, and
 * ending its delivery by deleting, releasing or poisoning it, with the
 * delivery record (delivery.h) and the recorded lease (resume.h) kept in
 * step. The --max-dequeue rule is applied here: a message past it is
 * poisoned with the causes on record instead of being handed out or
 * released again.
 *
 * What becomes of a message is the drain loop's decision (run.c): this
 * module carries it out. It holds at most one message at a time. Rank 0
 * only; no MPI, no task processing. */
#ifndef MB_CLAIM_H
#define MB_CLAIM_H

#include "cli/cli.h"
#include "core/resume.h"
#include "queue/delivery.h"
#include "queue/queue.h"

typedef struct mb_claim {
    const mb_opts *o;             /* borrowed: queue, out, data root, timeouts */
    mb_resume *res;               /* borrowed: the recorded lease, task checkpoints */
    mb_queue *q;
    mb_msg msg;                   /* the message held; msg.body NULL when none */
    mb_delivery dlv;              /* its delivery record */
    double lease_renewed;         /* mb_now_s() of the claim or the last renewal */
    int lease_lost;               /* a renewal failed: no more are tried */
    uint64_t poisoned;            /* messages poisoned through this module */
} mb_claim;

/* Opens the queue of `o` for rank 0. o and res must outlive c. On error c
 * holds nothing, and mb_claim_fini may still be called. */
mb_status mb_claim_open(mb_claim *c, const mb_opts *o, mb_resume *res, mb_err *err);

/* Closes the queue. A message still held is let go without a word: its
 * lease runs out, and a rerun may reclaim it from the recorded lease.
 * NULL-safe, and safe on a zeroed mb_claim. */
void mb_claim_fini(mb_claim *c);

/* 1 while a message is held. */
int mb_claim_held(const mb_claim *c);

/* Claims the next message and opens its delivery in the record, settling
 * first what became of the previous delivery. Messages past --max-dequeue
 * are poisoned on the way and the next one is claimed. MB_OK with c->msg
 * held, MB_EAGAIN when the queue is empty for now, or the queue's error.
 * Nothing may be held when it is called. */
mb_status mb_claim_next(mb_claim *c, mb_err *err);

/* Renews the lease of the message held once half the visibility timeout
 * has passed since the last renewal; cheap otherwise, so it may be called
 * often. A failed renewal is logged and not tried again: the result still
 * counts once, as the ledger acknowledges a redelivery. */
void mb_claim_renew(mb_claim *c);

/* The task of the message held added chunks to its checkpoint: `chunks`
 * in all since its delivery began (a count that only grows). */
void mb_claim_note_progress(mb_claim *c, uint64_t chunks);

/* The task `task_id` of the message held is committed (by this run or an
 * earlier one): its delivery record, the message and the task's
 * checkpoints are deleted. A failed delete is only a warning: the ledger
 * acknowledges the redelivery without reprocessing. */
void mb_claim_remove(mb_claim *c, const char *task_id);

/* The message held is bad for good: to the poison area with `reason`. With
 * a task_id (NULL: the body did not parse), the task's checkpoints are
 * deleted and the poisoning is noted in --out. */
void mb_claim_poison(mb_claim *c, const char *task_id, const char *reason);

/* The delivery failed with a transient cause `why`: counted, then the
 * message is released with a delay that grows with its failures (1..60 s),
 * or poisoned once it failed more than --max-dequeue times. */
void mb_claim_retry(mb_claim *c, const char *task_id, const char *why);

/* The delivery ended without failing (a stop on request, a job at fault):
 * the message is visible again at once, and the failure count unchanged. */
void mb_claim_give_back(mb_claim *c);

/* Messages this run rejected: poisoned here, or by the queue's ceiling on
 * deliveries inside claims. */
uint64_t mb_claim_rejected(const mb_claim *c);

/* An approximate count of the queue: messages left (visible or leased)
 * and poisoned. */
mb_status mb_claim_count(mb_claim *c, int64_t *left, int64_t *poisoned, mb_err *err);

#endif
