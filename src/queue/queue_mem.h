/* queue_mem.h - the mem:NAME test queue back end and its test controls; not for production. */
#ifndef MB_QUEUE_MEM_H
#define MB_QUEUE_MEM_H

#include "queue/queue.h"

/* The back-end table listed in mb_queue_backends[]. */
extern const mb_queue_ops mb_queue_mem_ops;

/* Sets the clock every mem: queue uses for leases, in wall-clock-like
 * milliseconds; a negative value goes back to the real clock (the default).
 * Lets tests expire leases without sleeping. */
void mb_queue_mem_set_clock(int64_t now_ms);

/* Drops every mem: queue and its messages. Only call it with no mem: queue
 * open: handles still open would point at freed memory. */
void mb_queue_mem_reset(void);

/* The reason recorded when message `id` of queue `name` (without "mem:")
 * was poisoned, or NULL if it is not in the poison area. Valid until the
 * queue is next changed. For tests. */
const char *mb_queue_mem_poison_reason(const char *name, const char *id);

#endif
