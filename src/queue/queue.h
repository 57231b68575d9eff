/* queue.h - the work-item queue: one interface, back ends chosen by URL.
 *
 * Semantics follow Azure Queue Storage: claiming a message takes a lease
 * (visibility timeout) and raises its dequeue count; the lease can be
 * renewed, which changes the lease handle (pop receipt); a message whose
 * lease expires becomes visible again; removing or renewing with a stale
 * receipt fails with MB_ELEASE. The generic layer (queue.c) adds what every
 * back end shares: URL dispatch, a ceiling on deliveries (a message
 * delivered more than max_deliveries times goes to the poison area instead
 * of being handed out, whatever became of those deliveries) and argument
 * checks. Back ends do no poison decisions of their own; the finer rule,
 * which counts failed deliveries rather than deliveries, is the drain
 * loop's (delivery.h). */
#ifndef MB_QUEUE_H
#define MB_QUEUE_H

#include "base/mb.h"

#define MB_MSG_ID_MAX 128
#define MB_RECEIPT_MAX 256
#define MB_MSG_BODY_MAX 65536   /* the Azure Queue Storage limit */
#define MB_POISON_REASON_MAX 512 /* poison reasons are one line shorter than this */

typedef struct mb_msg {
    char id[MB_MSG_ID_MAX];          /* stable message id */
    char receipt[MB_RECEIPT_MAX];    /* current lease handle */
    char *body;                      /* NUL-terminated, owned (mb_msg_fini) */
    size_t body_len;
    int64_t dequeue_count;           /* 1 on the first delivery */
    int64_t enqueued_ms;             /* wall-clock ms, 0 if unknown */
} mb_msg;

void mb_msg_fini(mb_msg *m);          /* frees body, zeroes *m; NULL-safe */

typedef struct mb_queue mb_queue;

/* Settings a back end may use; mb_queue_config_init gives the defaults. */
typedef enum mb_msg_encoding {
    MB_MSG_BASE64 = 0,               /* body sent base64-encoded (default: the
                                        Azure Functions and SDK convention) */
    MB_MSG_TEXT                      /* body sent as XML-escaped text */
} mb_msg_encoding;

typedef struct mb_queue_config {
    unsigned max_deliveries;         /* ceiling on deliveries, default 50;
                                        0: none */
    mb_msg_encoding encoding;        /* how network back ends send bodies;
                                        on receive they accept both */
    const char *ca_file;             /* extra CA bundle for TLS, or NULL */
    double retry_deadline;           /* seconds a request may be retried, default 120 */
} mb_queue_config;

void mb_queue_config_init(mb_queue_config *c);

/* The encoding named `name` ("base64" or "text", as --message-encoding
 * spells them); MB_EUSAGE naming the option for any other name. */
mb_status mb_queue_encoding_parse(const char *name, mb_msg_encoding *enc, mb_err *err);

/* An invisible message as `queue stats` shows it. */
typedef struct mb_lease {
    char id[MB_MSG_ID_MAX];
    int64_t dequeue_count;
    int64_t expires_ms;              /* wall-clock ms at which it is visible again */
    char holder[64];                 /* who holds it; "" when not recorded */
} mb_lease;

/* A message in the poison area as `queue peek --poison` shows it. */
typedef struct mb_poisoned {
    mb_msg msg;                      /* no receipt; id: the message's id in the
                                        queue (Azure: as its copy records it);
                                        dequeue_count: its deliveries when it
                                        was poisoned; body NULL when the back
                                        end kept none or it cannot be read */
    char reason[MB_POISON_REASON_MAX];   /* "" when not recorded */
    int body_cut;                    /* the body kept is a prefix (Azure cuts
                                        copies to fit 64 KiB) */
} mb_poisoned;

void mb_poisoned_fini(mb_poisoned *p);   /* frees the body, zeroes *p; NULL-safe */

typedef struct mb_queue_ops {
    const char *name;                 /* "dir", "mem", ... */
    /* Does this back end serve `url`? (pure string test) */
    int (*accepts)(const char *url);
    /* Opens `url`, creating the queue if `create` is set. Stores its state
     * in q->impl. */
    mb_status (*open)(mb_queue *q, const char *url, int create, mb_err *err);
    void (*close)(mb_queue *q);
    mb_status (*put)(mb_queue *q, const char *body, size_t len, mb_err *err);
    /* Claims one visible message with a lease of `visibility_s` seconds
     * and raises its dequeue count: MB_OK and *m filled, or MB_EAGAIN when
     * none is visible. *m arrives zeroed. A message that was claimed but
     * whose body cannot be handed out (too large, unreadable) is reported
     * as MB_ELIMIT or MB_EDATA with m->id and m->receipt filled and
     * m->body NULL, so that the generic layer can poison it. */
    mb_status (*claim)(mb_queue *q, unsigned visibility_s, mb_msg *m, mb_err *err);
    /* Extends the lease to now + visibility_s; m->receipt is replaced by
     * the new handle. MB_ELEASE if the lease was lost. A lease past its
     * expiry still works until the message is taken back (by a claim, or
     * in dir: by any scan), as in Azure: renew well before expiry. */
    mb_status (*renew)(mb_queue *q, mb_msg *m, unsigned visibility_s, mb_err *err);
    /* Gives the message back: visible again after `delay_s` seconds (0 =
     * at once). The dequeue count is not raised by this (the next claim
     * raises it). Clears m->receipt. MB_ELEASE if lost. */
    mb_status (*release)(mb_queue *q, mb_msg *m, unsigned delay_s, mb_err *err);
    /* Deletes a claimed message. MB_ELEASE if the lease was lost. */
    mb_status (*remove)(mb_queue *q, const mb_msg *m, mb_err *err);
    /* Moves a claimed message to the poison area with `reason` (one line). */
    mb_status (*poison)(mb_queue *q, const mb_msg *m, const char *reason, mb_err *err);
    /* Approximate numbers of messages: visible, invisible (leased or
     * released with a delay) and poisoned. */
    mb_status (*count)(mb_queue *q, int64_t *visible, int64_t *leased, int64_t *poisoned,
                       mb_err *err);
    /* Optional (NULL: the back end cannot tell, as Azure): up to `cap`
     * invisible messages (leased, or released with a delay), those that
     * become visible soonest first. */
    mb_status (*leases)(mb_queue *q, mb_lease *out, size_t cap, size_t *n, mb_err *err);
    /* Up to `cap` visible messages without claiming them (no receipt). */
    mb_status (*peek)(mb_queue *q, mb_msg *out, size_t cap, size_t *n, mb_err *err);
    /* Deletes every message, visible or leased (not the poison area). */
    mb_status (*purge)(mb_queue *q, mb_err *err);
    /* The poison area, as peek and purge see the queue. Optional as a pair
     * (NULL: the back end cannot reach its poison area; every back end here
     * can): up to `cap` poisoned messages, oldest first where the back end
     * can tell, *out arriving zeroed; and the deletion of every poisoned
     * message, the queue itself left alone. */
    mb_status (*peek_poison)(mb_queue *q, mb_poisoned *out, size_t cap, size_t *n, mb_err *err);
    mb_status (*purge_poison)(mb_queue *q, mb_err *err);
    /* Moves poisoned messages back into the queue as new deliveries
     * (dequeue count 0): all of them, or the one whose id is `id` (NULL:
     * all). *moved counts them. */
    mb_status (*redrive)(mb_queue *q, const char *id, uint64_t *moved, mb_err *err);
} mb_queue_ops;

struct mb_queue {
    const mb_queue_ops *ops;
    void *impl;
    char *url;
    unsigned max_deliveries;          /* default 50; 0 turns the ceiling off
                                         (copied from the config) */
    uint64_t npoisoned;               /* messages this handle moved to the
                                         poison area inside claims */
    mb_queue_config cfg;              /* as given to mb_queue_open; ca_file is
                                         borrowed from the caller */
};

/* NULL-terminated registry of back ends, in the order they are tried. */
extern const mb_queue_ops *const mb_queue_backends[];

/* Opens the queue named by `url` ("dir:PATH", an absolute path, ...) with
 * settings `cfg` (NULL: the defaults). MB_EUSAGE when no back end accepts
 * the URL. */
mb_status mb_queue_open(mb_queue **out, const char *url, int create,
                        const mb_queue_config *cfg, mb_err *err);
void mb_queue_free(mb_queue *q);      /* closes; NULL-safe */

/* Enqueues one message; a body over MB_MSG_BODY_MAX bytes is MB_ELIMIT. */
mb_status mb_queue_put(mb_queue *q, const char *body, size_t len, mb_err *err);

/* Claims the next message that may still be worked on. Messages whose
 * dequeue count exceeds q->max_deliveries are moved to the poison area
 * (reason: the count) and skipped, and so are messages whose body cannot be read
 * (reason: the error). MB_EAGAIN when nothing is visible. *m is overwritten
 * without being freed: mb_msg_fini a previous message first. `visibility_s`
 * is 1 s .. 7 days (MB_EUSAGE otherwise), as in Azure. */
mb_status mb_queue_claim(mb_queue *q, unsigned visibility_s, mb_msg *m, mb_err *err);

/* renew, release, remove and poison need a lease: a message from peek, or
 * one already released, gets MB_ELEASE. Release delays are 0 s .. 7 days.
 * Poison reasons are cut to one line of at most 511 bytes. */
mb_status mb_queue_renew(mb_queue *q, mb_msg *m, unsigned visibility_s, mb_err *err);
mb_status mb_queue_release(mb_queue *q, mb_msg *m, unsigned delay_s, mb_err *err);
mb_status mb_queue_remove(mb_queue *q, const mb_msg *m, mb_err *err);
mb_status mb_queue_poison(mb_queue *q, const mb_msg *m, const char *reason, mb_err *err);
/* Any of the three counters may be NULL. */
mb_status mb_queue_count(mb_queue *q, int64_t *visible, int64_t *leased, int64_t *poisoned,
                         mb_err *err);
/* Fills out[0 .. *n) with the oldest visible messages (no receipt); the
 * caller mb_msg_fini's each. Unreadable messages are skipped. */
mb_status mb_queue_peek(mb_queue *q, mb_msg *out, size_t cap, size_t *n, mb_err *err);
/* Fills out[0 .. *n) with invisible messages (see mb_queue_ops.leases).
 * *listed is 0 when the back end cannot list them (then *n is 0). */
mb_status mb_queue_leases(mb_queue *q, mb_lease *out, size_t cap, size_t *n, int *listed,
                          mb_err *err);
mb_status mb_queue_purge(mb_queue *q, mb_err *err);
/* `mpibatch queue peek --poison`: fills out[0 .. *n) with poisoned messages
 * (see mb_queue_ops.peek_poison); the caller mb_poisoned_fini's each. */
mb_status mb_queue_peek_poison(mb_queue *q, mb_poisoned *out, size_t cap, size_t *n,
                               mb_err *err);
/* `mpibatch queue purge --poison`: deletes every poisoned message and
 * nothing else. */
mb_status mb_queue_purge_poison(mb_queue *q, mb_err *err);
/* `mpibatch queue redrive`: see mb_queue_ops.redrive. */
mb_status mb_queue_redrive(mb_queue *q, const char *id, uint64_t *moved, mb_err *err);

#endif
