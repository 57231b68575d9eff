/* queue.c - queue URL dispatch, the delivery ceiling and argument checks; no I/O and no
 * queue state of its own. */
#include "queue/queue.h"
#include "queue/queue_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each back end exports exactly one const table; see queue_dir.c. */
extern const mb_queue_ops mb_queue_dir_ops;
extern const mb_queue_ops mb_queue_azure_ops;

/* Tried in order: the first back end whose accepts() says yes serves the
 * URL. To add a back end, declare its table above and list it here. */
const mb_queue_ops *const mb_queue_backends[] = {
    &mb_queue_dir_ops,
    &mb_queue_azure_ops,
    &mb_queue_mem_ops,
    NULL,
};

#define VISIBILITY_MAX_S 604800u  /* 7 days, the Azure Queue Storage limit */
#define REASON_MAX MB_POISON_REASON_MAX
#define POISON_PER_CLAIM_MAX 1000 /* bounds one claim call; see mb_queue_claim */
#define URL_SHOWN_MAX 256

void mb_msg_fini(mb_msg *m)
{
    if (!m)
        return;
    free(m->body);
    memset(m, 0, sizeof *m);
}

/* A URL fit for an error message: the query string (a SAS token carries its
 * signature there) and fragment are cut off, so secrets never reach a log. */
static const char *shown_url(const char *url, char *buf, size_t cap)
{
    size_t n = strcspn(url, "?#");
    int keep = n > 200 ? 200 : (int)n;

    snprintf(buf, cap, "%.*s%s", keep, url, url[n] || (size_t)keep < n ? "..." : "");
    return buf;
}

void mb_queue_config_init(mb_queue_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_deliveries = 50;
    c->encoding = MB_MSG_BASE64;
    c->retry_deadline = 120;
}

mb_status mb_queue_encoding_parse(const char *name, mb_msg_encoding *enc, mb_err *err)
{
    if (strcmp(name, "base64") == 0)
        *enc = MB_MSG_BASE64;
    else if (strcmp(name, "text") == 0)
        *enc = MB_MSG_TEXT;
    else
        return mb_err_set(err, MB_EUSAGE, "--message-encoding: '%s' is not one of base64, text",
                          name);
    return MB_OK;
}

void mb_poisoned_fini(mb_poisoned *p)
{
    if (!p)
        return;
    mb_msg_fini(&p->msg);
    memset(p, 0, sizeof *p);
}

mb_status mb_queue_open(mb_queue **out, const char *url, int create,
                        const mb_queue_config *cfg, mb_err *err)
{
    char shown[URL_SHOWN_MAX];
    mb_queue *q;
    size_t i;
    mb_status st;

    if (!out || !url)
        return mb_err_set(err, MB_EINTERNAL, "mb_queue_open: NULL argument");
    *out = NULL;
    for (i = 0; mb_queue_backends[i] && !mb_queue_backends[i]->accepts(url); i++)
        ;
    if (!mb_queue_backends[i])
        return mb_err_set(err, MB_EUSAGE,
                          "no queue back end accepts '%s' (expected dir:PATH, an absolute path, "
                          "or an Azure queue URL)",
                          shown_url(url, shown, sizeof shown));
    q = mb_calloc(1, sizeof *q);
    if (!q || !(q->url = mb_strdup(url))) {
        free(q);
        return mb_err_set(err, MB_ENOMEM, "out of memory opening a queue");
    }
    q->ops = mb_queue_backends[i];
    if (cfg)
        q->cfg = *cfg;
    else
        mb_queue_config_init(&q->cfg);
    q->max_deliveries = q->cfg.max_deliveries;
    st = q->ops->open(q, url, create, err);
    if (st != MB_OK) {
        free(q->url);
        free(q);
        return st;
    }
    *out = q;
    return MB_OK;
}

void mb_queue_free(mb_queue *q)
{
    if (!q)
        return;
    q->ops->close(q);
    free(q->url);
    free(q);
}

static mb_status null_arg(mb_err *err, const char *fn)
{
    return mb_err_set(err, MB_EINTERNAL, "%s: NULL argument", fn);
}

static mb_status bad_seconds(mb_queue *q, mb_err *err, const char *what, unsigned s)
{
    char shown[URL_SHOWN_MAX];

    return mb_err_set(err, MB_EUSAGE, "queue %s: %s of %u s is outside 1..%u s",
                      shown_url(q->url, shown, sizeof shown), what, s, VISIBILITY_MAX_S);
}

/* A message the caller does not hold a lease on (never claimed, peeked,
 * already released) cannot be renewed, released, removed or poisoned. */
static mb_status not_leased(mb_queue *q, const mb_msg *m, mb_err *err)
{
    char shown[URL_SHOWN_MAX];

    return mb_err_set(err, MB_ELEASE, "queue %s: message %.*s: no lease is held on it",
                      shown_url(q->url, shown, sizeof shown), MB_MSG_ID_MAX - 1, m->id);
}

static int holds_lease(const mb_msg *m)
{
    return m->receipt[0] != '\0' && memchr(m->receipt, '\0', sizeof m->receipt) &&
           memchr(m->id, '\0', sizeof m->id);
}

mb_status mb_queue_put(mb_queue *q, const char *body, size_t len, mb_err *err)
{
    char shown[URL_SHOWN_MAX];

    if (!q || (!body && len))
        return null_arg(err, "mb_queue_put");
    if (len > MB_MSG_BODY_MAX)
        return mb_err_set(err, MB_ELIMIT,
                          "queue %s: message body of %zu bytes is larger than the limit of "
                          "%d bytes",
                          shown_url(q->url, shown, sizeof shown), len, MB_MSG_BODY_MAX);
    return q->ops->put(q, body ? body : "", len, err);
}

/* One line, no control characters, bounded: back ends store it verbatim. */
static void clean_reason(const char *in, char out[REASON_MAX])
{
    size_t i;

    for (i = 0; in[i] && i < REASON_MAX - 1; i++)
        out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? ' ' : in[i];
    out[i] = '\0';
}

/* Poisons a message this layer has just claimed and drops it. A lost lease
 * (MB_ELEASE) is not an error here: someone else now owns the message and
 * will apply the same rule. */
static mb_status poison_claimed(mb_queue *q, mb_msg *m, const char *reason, mb_err *err)
{
    char clean[REASON_MAX];
    mb_status st;

    clean_reason(reason, clean);
    st = q->ops->poison(q, m, clean, err);
    mb_msg_fini(m);
    if (st == MB_OK)
        q->npoisoned++;
    return st == MB_ELEASE ? MB_OK : st;
}

/* Did the back end claim a message whose body it could not hand out? It
 * then fills id and receipt but no body, so the message can be poisoned
 * rather than block every consumer in turn. */
static int claimed_unusable(mb_status st, const mb_msg *m)
{
    return (st == MB_ELIMIT || st == MB_EDATA) && m->body == NULL && holds_lease(m);
}

/* The loop is bounded so a queue full of poison cannot keep one caller
 * here forever; after the bound it reports MB_EAGAIN and the caller polls
 * again as it would for an empty queue. */
mb_status mb_queue_claim(mb_queue *q, unsigned visibility_s, mb_msg *m, mb_err *err)
{
    char reason[REASON_MAX];
    mb_err e;
    mb_status st;
    int i;

    if (!q || !m)
        return null_arg(err, "mb_queue_claim");
    if (visibility_s < 1 || visibility_s > VISIBILITY_MAX_S)
        return bad_seconds(q, err, "visibility timeout", visibility_s);
    for (i = 0; i < POISON_PER_CLAIM_MAX; i++) {
        memset(m, 0, sizeof *m);
        mb_err_clear(&e);
        st = q->ops->claim(q, visibility_s, m, &e);
        if (st == MB_OK &&
            (q->max_deliveries == 0 || m->dequeue_count <= (int64_t)q->max_deliveries))
            return MB_OK;
        if (st == MB_OK)
            snprintf(reason, sizeof reason, "delivered %lld times, more than the ceiling of "
                     "%u deliveries", (long long)m->dequeue_count, q->max_deliveries);
        else if (claimed_unusable(st, m))
            snprintf(reason, sizeof reason, "%.*s", REASON_MAX - 1, e.msg);
        else {
            mb_msg_fini(m);
            if (err)
                *err = e;
            return st;
        }
        st = poison_claimed(q, m, reason, err);
        if (st != MB_OK)
            return st;
    }
    return mb_err_set(err, MB_EAGAIN, "queue: moved %d messages to the poison area in one claim",
                      POISON_PER_CLAIM_MAX);
}

mb_status mb_queue_renew(mb_queue *q, mb_msg *m, unsigned visibility_s, mb_err *err)
{
    if (!q || !m)
        return null_arg(err, "mb_queue_renew");
    if (visibility_s < 1 || visibility_s > VISIBILITY_MAX_S)
        return bad_seconds(q, err, "visibility timeout", visibility_s);
    if (!holds_lease(m))
        return not_leased(q, m, err);
    return q->ops->renew(q, m, visibility_s, err);
}

mb_status mb_queue_release(mb_queue *q, mb_msg *m, unsigned delay_s, mb_err *err)
{
    if (!q || !m)
        return null_arg(err, "mb_queue_release");
    if (delay_s > VISIBILITY_MAX_S)
        return bad_seconds(q, err, "release delay", delay_s);
    if (!holds_lease(m))
        return not_leased(q, m, err);
    return q->ops->release(q, m, delay_s, err);
}

mb_status mb_queue_remove(mb_queue *q, const mb_msg *m, mb_err *err)
{
    if (!q || !m)
        return null_arg(err, "mb_queue_remove");
    if (!holds_lease(m))
        return not_leased(q, m, err);
    return q->ops->remove(q, m, err);
}

mb_status mb_queue_poison(mb_queue *q, const mb_msg *m, const char *reason, mb_err *err)
{
    char clean[REASON_MAX];

    if (!q || !m || !reason)
        return null_arg(err, "mb_queue_poison");
    if (!holds_lease(m))
        return not_leased(q, m, err);
    clean_reason(reason, clean);
    return q->ops->poison(q, m, clean, err);
}

mb_status mb_queue_count(mb_queue *q, int64_t *visible, int64_t *leased, int64_t *poisoned,
                         mb_err *err)
{
    int64_t v = 0, l = 0, p = 0;
    mb_status st;

    if (!q)
        return null_arg(err, "mb_queue_count");
    st = q->ops->count(q, &v, &l, &p, err);
    if (visible)
        *visible = v;
    if (leased)
        *leased = l;
    if (poisoned)
        *poisoned = p;
    return st;
}

mb_status mb_queue_peek(mb_queue *q, mb_msg *out, size_t cap, size_t *n, mb_err *err)
{
    size_t bytes;

    if (!q || !n || (!out && cap))
        return null_arg(err, "mb_queue_peek");
    *n = 0;
    if (cap == 0)
        return MB_OK;
    if (mb_size_mul(cap, sizeof *out, &bytes) != 0)
        return mb_err_set(err, MB_EUSAGE, "mb_queue_peek: capacity %zu is too large", cap);
    memset(out, 0, bytes);
    return q->ops->peek(q, out, cap, n, err);
}

mb_status mb_queue_leases(mb_queue *q, mb_lease *out, size_t cap, size_t *n, int *listed,
                          mb_err *err)
{
    if (!q || !n || !listed || (!out && cap))
        return null_arg(err, "mb_queue_leases");
    *n = 0;
    *listed = q->ops->leases != NULL;
    if (!*listed || cap == 0)
        return MB_OK;
    return q->ops->leases(q, out, cap, n, err);
}

mb_status mb_queue_purge(mb_queue *q, mb_err *err)
{
    if (!q)
        return null_arg(err, "mb_queue_purge");
    return q->ops->purge(q, err);
}

/* A back end without a poison area it can reach says so, rather than
 * pretending the area is empty. */
static mb_status no_poison_area(mb_queue *q, mb_err *err)
{
    char shown[URL_SHOWN_MAX];

    return mb_err_set(err, MB_EUSAGE, "queue %s: the %s back end cannot reach its poison area",
                      shown_url(q->url, shown, sizeof shown), q->ops->name);
}

mb_status mb_queue_peek_poison(mb_queue *q, mb_poisoned *out, size_t cap, size_t *n,
                               mb_err *err)
{
    size_t bytes;

    if (!q || !n || (!out && cap))
        return null_arg(err, "mb_queue_peek_poison");
    *n = 0;
    if (!q->ops->peek_poison)
        return no_poison_area(q, err);
    if (cap == 0)
        return MB_OK;
    if (mb_size_mul(cap, sizeof *out, &bytes) != 0)
        return mb_err_set(err, MB_EUSAGE, "mb_queue_peek_poison: capacity %zu is too large", cap);
    memset(out, 0, bytes);
    return q->ops->peek_poison(q, out, cap, n, err);
}

mb_status mb_queue_purge_poison(mb_queue *q, mb_err *err)
{
    if (!q)
        return null_arg(err, "mb_queue_purge_poison");
    return q->ops->purge_poison ? q->ops->purge_poison(q, err) : no_poison_area(q, err);
}

mb_status mb_queue_redrive(mb_queue *q, const char *id, uint64_t *moved, mb_err *err)
{
    if (!q || !moved)
        return null_arg(err, "mb_queue_redrive");
    *moved = 0;
    if (id && (!*id || strlen(id) >= MB_MSG_ID_MAX))
        return mb_err_set(err, MB_EUSAGE, "queue redrive: --id '%.40s' is not a message id", id);
    return q->ops->redrive(q, id, moved, err);
}
