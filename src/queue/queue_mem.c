/* queue_mem.c - mem:NAME test queue with a settable clock; not durable, shared or thread-safe. */
#include "queue/queue_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUES_MAX 64
#define NAME_LEN_MAX 64
#define MSGS_MAX 1000000

/* A message is visible when it is not poisoned and visible_at <= now; a
 * lease is just a receipt plus visible_at in the future, so an expired
 * lease needs no recovery step: the next claim simply takes the message. */
typedef struct memmsg {
    char id[MB_MSG_ID_MAX];
    char receipt[MB_RECEIPT_MAX]; /* "" when no lease can be presented */
    char *body;
    size_t len;
    int64_t count;
    int64_t visible_at;
    int64_t enqueued_ms;
    char *reason;                 /* set once poisoned */
} memmsg;

typedef struct memq {
    char name[NAME_LEN_MAX + 1];
    memmsg *v;                    /* in enqueue order, so claims are FIFO */
    size_t n, cap;
} memq;

static memq *queues[QUEUES_MAX];
static int64_t clock_ms = -1;
static unsigned long long serial;

void mb_queue_mem_set_clock(int64_t now_ms)
{
    clock_ms = now_ms;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    if (clock_ms >= 0)
        return clock_ms;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void msg_free(memmsg *x)
{
    free(x->body);
    free(x->reason);
}

static void memq_free(memq *mq)
{
    size_t i;

    if (!mq)
        return;
    for (i = 0; i < mq->n; i++)
        msg_free(&mq->v[i]);
    free(mq->v);
    free(mq);
}

void mb_queue_mem_reset(void)
{
    size_t i;

    for (i = 0; i < QUEUES_MAX; i++) {
        memq_free(queues[i]);
        queues[i] = NULL;
    }
}

static memq *find_queue(const char *name)
{
    size_t i;

    for (i = 0; i < QUEUES_MAX; i++)
        if (queues[i] && strcmp(queues[i]->name, name) == 0)
            return queues[i];
    return NULL;
}

const char *mb_queue_mem_poison_reason(const char *name, const char *id)
{
    memq *mq = find_queue(name);
    size_t i;

    for (i = 0; mq && i < mq->n; i++)
        if (mq->v[i].reason && strcmp(mq->v[i].id, id) == 0)
            return mq->v[i].reason;
    return NULL;
}

static int mem_accepts(const char *url)
{
    return strncmp(url, "mem:", 4) == 0;
}

static int valid_name(const char *s)
{
    size_t i;

    for (i = 0; s[i]; i++)
        if (i >= NAME_LEN_MAX || !(s[i] == '-' || s[i] == '_' || (s[i] >= '0' && s[i] <= '9') ||
                                   (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return 0;
    return i > 0;
}

static mb_status add_queue(const char *name, memq **out, mb_err *err)
{
    size_t i;

    for (i = 0; i < QUEUES_MAX && queues[i]; i++)
        ;
    if (i == QUEUES_MAX)
        return mb_err_set(err, MB_ELIMIT, "queue mem:%s: more than %d mem: queues", name,
                          QUEUES_MAX);
    queues[i] = mb_calloc(1, sizeof *queues[i]);
    if (!queues[i])
        return mb_err_set(err, MB_ENOMEM, "queue mem:%s: out of memory", name);
    snprintf(queues[i]->name, sizeof queues[i]->name, "%s", name);
    *out = queues[i];
    return MB_OK;
}

static mb_status mem_open(mb_queue *q, const char *url, int create, mb_err *err)
{
    const char *name = url + 4;
    memq *mq;

    if (!valid_name(name))
        return mb_err_set(err, MB_EUSAGE,
                          "queue %.80s: a mem: queue name is 1-%d letters, digits, '-' or '_'", url,
                          NAME_LEN_MAX);
    mq = find_queue(name);
    if (!mq && !create)
        return mb_err_set(err, MB_ENOENT, "queue mem:%s does not exist", name);
    if (!mq) {
        mb_status st = add_queue(name, &mq, err);
        if (st != MB_OK)
            return st;
    }
    q->impl = mq;
    return MB_OK;
}

static void mem_close(mb_queue *q)
{
    q->impl = NULL; /* the queue outlives its handles, like a real one */
}

static mb_status grow(memq *mq, mb_err *err)
{
    size_t cap = mq->cap ? mq->cap * 2 : 16;
    memmsg *v;

    if (mq->n >= MSGS_MAX)
        return mb_err_set(err, MB_ELIMIT, "queue mem:%s: more than %d messages", mq->name,
                          MSGS_MAX);
    v = mb_realloc(mq->v, cap * sizeof *v);
    if (!v)
        return mb_err_set(err, MB_ENOMEM, "queue mem:%s: out of memory", mq->name);
    mq->v = v;
    mq->cap = cap;
    return MB_OK;
}

static char *dup_body(const char *body, size_t len)
{
    char *b = mb_malloc(len + 1);

    if (b) {
        memcpy(b, body, len);
        b[len] = '\0';
    }
    return b;
}

static mb_status mem_put(mb_queue *q, const char *body, size_t len, mb_err *err)
{
    memq *mq = q->impl;
    memmsg *x;
    mb_status st;

    if (mq->n == mq->cap && (st = grow(mq, err)) != MB_OK)
        return st;
    x = &mq->v[mq->n];
    memset(x, 0, sizeof *x);
    x->body = dup_body(body, len);
    if (!x->body)
        return mb_err_set(err, MB_ENOMEM, "queue mem:%s: out of memory", mq->name);
    x->len = len;
    x->visible_at = x->enqueued_ms = now_ms();
    snprintf(x->id, sizeof x->id, "m%016llu", ++serial);
    mq->n++;
    return MB_OK;
}

static void new_receipt(memmsg *x)
{
    snprintf(x->receipt, sizeof x->receipt, "r%llu", ++serial);
}

static mb_status copy_out(const memq *mq, const memmsg *x, mb_msg *m, int with_receipt,
                          mb_err *err)
{
    m->body = dup_body(x->body, x->len);
    if (!m->body)
        return mb_err_set(err, MB_ENOMEM, "queue mem:%s: message %s: out of memory", mq->name,
                          x->id);
    m->body_len = x->len;
    memcpy(m->id, x->id, sizeof m->id);
    memcpy(m->receipt, with_receipt ? x->receipt : "", with_receipt ? sizeof m->receipt : 1);
    m->dequeue_count = x->count;
    m->enqueued_ms = x->enqueued_ms;
    return MB_OK;
}

static int is_visible(const memmsg *x, int64_t now)
{
    return !x->reason && x->visible_at <= now;
}

static mb_status mem_claim(mb_queue *q, unsigned visibility_s, mb_msg *m, mb_err *err)
{
    memq *mq = q->impl;
    int64_t now = now_ms();
    size_t i;

    for (i = 0; i < mq->n && !is_visible(&mq->v[i], now); i++)
        ;
    if (i == mq->n)
        return mb_err_set(err, MB_EAGAIN, "queue mem:%s: no visible message", mq->name);
    mq->v[i].count++;
    mq->v[i].visible_at = now + (int64_t)visibility_s * 1000;
    new_receipt(&mq->v[i]);
    return copy_out(mq, &mq->v[i], m, 1, err);
}

/* The message `m` holds a lease on, or MB_ELEASE: after expiry the lease
 * still works until someone else claims the message (Azure behaves so). */
static mb_status find_leased(memq *mq, const mb_msg *m, memmsg **out, mb_err *err)
{
    size_t i;

    for (i = 0; i < mq->n; i++) {
        memmsg *x = &mq->v[i];
        if (!x->reason && x->receipt[0] && strcmp(x->id, m->id) == 0 &&
            strcmp(x->receipt, m->receipt) == 0) {
            *out = x;
            return MB_OK;
        }
    }
    return mb_err_set(err, MB_ELEASE, "queue mem:%s: message %.*s: lease lost", mq->name,
                      MB_MSG_ID_MAX - 1, m->id);
}

static mb_status mem_renew(mb_queue *q, mb_msg *m, unsigned visibility_s, mb_err *err)
{
    memmsg *x;
    mb_status st = find_leased(q->impl, m, &x, err);

    if (st != MB_OK)
        return st;
    x->visible_at = now_ms() + (int64_t)visibility_s * 1000;
    new_receipt(x);
    memcpy(m->receipt, x->receipt, sizeof m->receipt);
    return MB_OK;
}

static mb_status mem_release(mb_queue *q, mb_msg *m, unsigned delay_s, mb_err *err)
{
    memmsg *x;
    mb_status st = find_leased(q->impl, m, &x, err);

    if (st != MB_OK)
        return st;
    x->visible_at = now_ms() + (int64_t)delay_s * 1000;
    x->receipt[0] = '\0';
    m->receipt[0] = '\0';
    return MB_OK;
}

static mb_status mem_remove(mb_queue *q, const mb_msg *m, mb_err *err)
{
    memq *mq = q->impl;
    memmsg *x;
    mb_status st = find_leased(mq, m, &x, err);
    size_t i;

    if (st != MB_OK)
        return st;
    i = (size_t)(x - mq->v);
    msg_free(x);
    memmove(&mq->v[i], &mq->v[i + 1], (mq->n - i - 1) * sizeof *x);
    mq->n--;
    return MB_OK;
}

static mb_status mem_poison(mb_queue *q, const mb_msg *m, const char *reason, mb_err *err)
{
    memq *mq = q->impl;
    memmsg *x;
    mb_status st = find_leased(mq, m, &x, err);

    if (st != MB_OK)
        return st;
    x->reason = dup_body(reason, strlen(reason));
    if (!x->reason)
        return mb_err_set(err, MB_ENOMEM, "queue mem:%s: out of memory", mq->name);
    x->receipt[0] = '\0';
    return MB_OK;
}

static mb_status mem_count(mb_queue *q, int64_t *visible, int64_t *leased, int64_t *poisoned,
                           mb_err *err)
{
    memq *mq = q->impl;
    int64_t now = now_ms();
    size_t i;

    (void)err;
    *visible = *leased = *poisoned = 0;
    for (i = 0; i < mq->n; i++) {
        if (mq->v[i].reason)
            ++*poisoned;
        else if (mq->v[i].visible_at <= now)
            ++*visible;
        else
            ++*leased;
    }
    return MB_OK;
}

/* Insertion into out[], soonest expiry first, as in the dir back end. */
static mb_status mem_leases(mb_queue *q, mb_lease *out, size_t cap, size_t *n, mb_err *err)
{
    memq *mq = q->impl;
    int64_t now = now_ms();
    size_t i, j;

    (void)err;
    for (i = 0; i < mq->n; i++) {
        const memmsg *x = &mq->v[i];
        if (x->reason || x->visible_at <= now)
            continue;
        if (*n == cap && x->visible_at >= out[*n - 1].expires_ms)
            continue;
        if (*n < cap)
            ++*n;
        for (j = *n - 1; j > 0 && x->visible_at < out[j - 1].expires_ms; j--)
            out[j] = out[j - 1];
        memset(&out[j], 0, sizeof out[j]);
        snprintf(out[j].id, sizeof out[j].id, "%s", x->id);
        out[j].dequeue_count = x->count;
        out[j].expires_ms = x->visible_at;
    }
    return MB_OK;
}

static mb_status mem_peek(mb_queue *q, mb_msg *out, size_t cap, size_t *n, mb_err *err)
{
    memq *mq = q->impl;
    int64_t now = now_ms();
    size_t i;

    for (i = 0; i < mq->n && *n < cap; i++) {
        if (!is_visible(&mq->v[i], now))
            continue;
        if (copy_out(mq, &mq->v[i], &out[*n], 0, err) != MB_OK) {
            while (*n > 0)
                mb_msg_fini(&out[--*n]);
            return MB_ENOMEM;
        }
        ++*n;
    }
    return MB_OK;
}

static mb_status mem_purge(mb_queue *q, mb_err *err)
{
    memq *mq = q->impl;
    size_t i, kept = 0;

    (void)err;
    for (i = 0; i < mq->n; i++) {
        if (mq->v[i].reason)
            mq->v[kept++] = mq->v[i];
        else
            msg_free(&mq->v[i]);
    }
    mq->n = kept;
    return MB_OK;
}

/* In enqueue order, which is the order in which messages were poisoned
 * only roughly; the mem: queue keeps no poison time. */
static mb_status mem_peek_poison(mb_queue *q, mb_poisoned *out, size_t cap, size_t *n,
                                 mb_err *err)
{
    memq *mq = q->impl;
    size_t i;

    for (i = 0; i < mq->n && *n < cap; i++) {
        const memmsg *x = &mq->v[i];
        if (!x->reason)
            continue;
        if (copy_out(mq, x, &out[*n].msg, 0, err) != MB_OK) {
            while (*n > 0)
                mb_poisoned_fini(&out[--*n]);
            return MB_ENOMEM;
        }
        snprintf(out[*n].reason, sizeof out[*n].reason, "%s", x->reason);
        ++*n;
    }
    return MB_OK;
}

static mb_status mem_purge_poison(mb_queue *q, mb_err *err)
{
    memq *mq = q->impl;
    size_t i, kept = 0;

    (void)err;
    for (i = 0; i < mq->n; i++) {
        if (mq->v[i].reason)
            msg_free(&mq->v[i]);
        else
            mq->v[kept++] = mq->v[i];
    }
    mq->n = kept;
    return MB_OK;
}

static mb_status mem_redrive(mb_queue *q, const char *id, uint64_t *moved, mb_err *err)
{
    memq *mq = q->impl;
    size_t i;

    (void)err;
    for (i = 0; i < mq->n; i++) {
        memmsg *x = &mq->v[i];
        if (!x->reason || (id && strcmp(id, x->id) != 0))
            continue;
        free(x->reason);
        x->reason = NULL;
        x->count = 0;
        x->visible_at = 0;
        x->receipt[0] = '\0';
        ++*moved;
    }
    return MB_OK;
}

const mb_queue_ops mb_queue_mem_ops = {
    .name = "mem",
    .accepts = mem_accepts,
    .open = mem_open,
    .close = mem_close,
    .put = mem_put,
    .claim = mem_claim,
    .renew = mem_renew,
    .release = mem_release,
    .remove = mem_remove,
    .poison = mem_poison,
    .count = mem_count,
    .leases = mem_leases,
    .peek = mem_peek,
    .purge = mem_purge,
    .peek_poison = mem_peek_poison,
    .purge_poison = mem_purge_poison,
    .redrive = mem_redrive,
};
