/* delivery.h - the delivery record of a message: which of its deliveries
 * failed and why, so that the poison rule counts failures, not deliveries.
 *
 * A delivery that makes progress (a newer checkpoint, a renewed lease) or
 * ends in an orderly stop is not a failure, however often the job around it
 * is killed; a delivery that ends with a transient error, or that ends
 * without any outcome and without progress (the job crashed or was killed
 * at the same spot again), is. Records live in OUT/.deliveries/, one small
 * JSON file per message, written by rank 0 with write-fsync-rename; two
 * consumers that race on one record (a lease taken over after expiry) may
 * lose an update, which only ever counts a failure less or more, never
 * loses the message. Rank 0 only; no MPI. */
#ifndef MB_DELIVERY_H
#define MB_DELIVERY_H

#include "base/mb.h"

#define MB_DELIVERY_CAUSES 6      /* causes kept: the latest ones */
#define MB_DELIVERY_CAUSE_MAX 300 /* bytes of one cause, NUL included */

typedef struct mb_delivery {
    char *path;                   /* the record; NULL: not loaded */
    char *msg_id;
    uint64_t failures;            /* failed deliveries so far */
    char causes[MB_DELIVERY_CAUSES][MB_DELIVERY_CAUSE_MAX];
    size_t ncauses;               /* latest last */
    int open;                     /* a delivery began and has not ended */
    int64_t delivery;             /* its number on record: 1, 2, ... (a
                                     reclaimed lease is a delivery too) */
    uint64_t progress;            /* chunks it added to the checkpoint */
    int renewed;                  /* it renewed its lease */
    int64_t seen;                 /* highest delivery number on record */
} mb_delivery;

/* Loads the record of message msg_id under OUT (an empty one if there is
 * none). A damaged record is reported as a warning and treated as empty:
 * it only ever counts failures. */
mb_status mb_delivery_load(mb_delivery *d, const char *out, const char *msg_id, mb_err *err);
void mb_delivery_fini(mb_delivery *d);    /* NULL-safe */

/* Before delivery number `dequeue_count` begins: a delivery still open in
 * the record ended without an outcome (its job died, or its lease was lost
 * and the message taken over). It counts as a failure unless it made
 * progress; returns 1 when it was counted (its cause is then the latest in
 * the record). A number below one on record means the message was redriven
 * from the poison area: the record starts afresh. */
int mb_delivery_settle(mb_delivery *d, int64_t dequeue_count);

/* Opens the next delivery; `dequeue_count` is the queue's count (which a
 * reclaimed lease does not raise). */
mb_status mb_delivery_begin(mb_delivery *d, int64_t dequeue_count, mb_err *err);

/* The open delivery has added `progress` chunks to the task's checkpoint
 * (a count that only grows), or renewed its lease. */
mb_status mb_delivery_note(mb_delivery *d, uint64_t progress, int renewed, mb_err *err);

/* The open delivery failed with `cause` (one line): counted. */
mb_status mb_delivery_fail(mb_delivery *d, const char *cause, mb_err *err);

/* The open delivery ended without failing (a stop on request, a job error
 * that released the message). */
mb_status mb_delivery_end(mb_delivery *d, mb_err *err);

/* The message is gone (committed, acknowledged or poisoned): the record
 * is deleted. */
void mb_delivery_remove(mb_delivery *d);

/* Removes the temporaries that killed writers on this host left among the
 * records under OUT. */
void mb_delivery_sweep(const char *out);

/* The latest causes, "#3 cause; #4 cause", into buf (cut to cap). */
void mb_delivery_causes(const mb_delivery *d, char *buf, size_t cap);

#endif
