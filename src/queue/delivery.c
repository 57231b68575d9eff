/* delivery.c - delivery records (see delivery.h): load, settle, note, save.
 * Knows nothing of queues or MPI; the drain loop decides what to do with a
 * count. */
#include "queue/delivery.h"

#include "base/digest.h"
#include "base/fsutil.h"
#include "base/log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIR_NAME ".deliveries"
#define RECORD_MAX 65536

static void reset(mb_delivery *d)
{
    d->failures = 0;
    d->ncauses = 0;
    d->open = 0;
    d->delivery = 0;
    d->progress = 0;
    d->renewed = 0;
    d->seen = 0;
}

/* Keeps the latest MB_DELIVERY_CAUSES causes, one line each. */
static void push_cause(mb_delivery *d, int64_t delivery, const char *cause)
{
    char *slot;
    size_t i;

    if (d->ncauses == MB_DELIVERY_CAUSES) {
        memmove(d->causes[0], d->causes[1], (MB_DELIVERY_CAUSES - 1) * sizeof d->causes[0]);
        d->ncauses--;
    }
    slot = d->causes[d->ncauses++];
    if (delivery > 0)
        snprintf(slot, MB_DELIVERY_CAUSE_MAX, "#%lld %s", (long long)delivery, cause);
    else
        snprintf(slot, MB_DELIVERY_CAUSE_MAX, "%s", cause);
    for (i = 0; slot[i]; i++)
        if ((unsigned char)slot[i] < 0x20)
            slot[i] = ' ';
}

static uint64_t get_u64(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static void parse(mb_delivery *d, const char *text, size_t len)
{
    json_error_t je;
    json_t *o = json_loadb(text, len, 0, &je), *causes, *open, *c;
    size_t i;

    if (!json_is_object(o)) {
        mb_warn("%s: damaged delivery record ignored (%s)", d->path, je.text);
        json_decref(o);
        return;
    }
    d->failures = get_u64(o, "failures");
    d->seen = (int64_t)get_u64(o, "seen");
    causes = json_object_get(o, "causes");
    json_array_foreach(causes, i, c)
        if (json_is_string(c))
            push_cause(d, 0, json_string_value(c));
    open = json_object_get(o, "open");
    d->delivery = (int64_t)get_u64(o, "deliveries");
    if (json_is_object(open)) {
        d->open = 1;
        d->progress = get_u64(open, "progress");
        d->renewed = json_is_true(json_object_get(open, "renewed"));
    }
    json_decref(o);
}

mb_status mb_delivery_load(mb_delivery *d, const char *out, const char *msg_id, mb_err *err)
{
    char hex[MB_SHA256_HEX], dir[4200], *text = NULL;
    size_t len = 0;
    mb_status st;
    int n;

    memset(d, 0, sizeof *d);
    /* Message ids come from the queue: a digest makes a safe file name. */
    if (mb_sha256_hex(msg_id, strlen(msg_id), hex) != MB_OK)
        return mb_err_set(err, MB_EINTERNAL, "cannot hash message id");
    n = snprintf(dir, sizeof dir, "%s/%s", out, DIR_NAME);
    if (n < 0 || (size_t)n >= sizeof dir)
        return mb_err_set(err, MB_EUSAGE, "result directory name too long: %s", out);
    if ((st = mb_fs_mkdirs(dir, err)) != MB_OK)
        return st;
    d->path = mb_malloc(strlen(dir) + 2 + 32 + 6);
    d->msg_id = mb_strdup(msg_id);
    if (!d->path || !d->msg_id) {
        mb_delivery_fini(d);
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    }
    snprintf(d->path, strlen(dir) + 2 + 32 + 6, "%s/%.32s.json", dir, hex);
    st = mb_fs_read_small(d->path, RECORD_MAX, &text, &len, err);
    if (st == MB_ENOENT)
        return MB_OK;
    if (st == MB_OK)
        parse(d, text, len);
    else
        mb_warn("%s: delivery record unreadable, ignored (%s)", d->path, err->msg);
    free(text);
    return MB_OK;
}

void mb_delivery_fini(mb_delivery *d)
{
    if (!d)
        return;
    free(d->path);
    free(d->msg_id);
    memset(d, 0, sizeof *d);
}

static mb_status save(mb_delivery *d, mb_err *err)
{
    json_t *o, *causes;
    char *text;
    mb_status st;
    size_t i;

    if (!d->path)
        return MB_OK;
    o = json_pack("{s:s, s:I, s:I, s:I}", "message", d->msg_id, "deliveries",
                  (json_int_t)d->delivery, "failures", (json_int_t)d->failures, "seen",
                  (json_int_t)d->seen);
    causes = json_array();
    for (i = 0; o && causes && i < d->ncauses; i++)
        json_array_append_new(causes, json_string(d->causes[i]));
    if (o && causes)
        json_object_set_new(o, "causes", causes);
    else
        json_decref(causes);
    if (o && d->open)
        json_object_set_new(o, "open",
                            json_pack("{s:I, s:b}", "progress", (json_int_t)d->progress,
                                      "renewed", d->renewed));
    text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return mb_err_set(err, MB_ENOMEM, "cannot encode the delivery record");
    st = mb_fs_write_atomic(d->path, text, strlen(text), err);
    free(text);
    return st;
}

int mb_delivery_settle(mb_delivery *d, int64_t dequeue_count)
{
    int failed;

    if (dequeue_count < d->seen) {
        mb_info("message %s: delivery %lld after %lld on record: redriven, failures start "
                "afresh", d->msg_id, (long long)dequeue_count, (long long)d->seen);
        reset(d);
        return 0;
    }
    if (!d->open)
        return 0;
    failed = d->progress == 0 && !d->renewed;
    if (failed) {
        d->failures++;
        push_cause(d, d->delivery, "ended without an outcome (the job crashed or was killed) "
                                   "and made no progress");
    } else {
        mb_info("message %s: delivery %lld ended without an outcome but made progress "
                "(%s); not counted as a failure", d->msg_id, (long long)d->delivery,
                d->progress ? "a newer checkpoint" : "a renewed lease");
    }
    d->open = 0;
    return failed;
}

mb_status mb_delivery_begin(mb_delivery *d, int64_t dequeue_count, mb_err *err)
{
    d->open = 1;
    d->delivery++;
    d->progress = 0;
    if (dequeue_count > d->seen)
        d->seen = dequeue_count;
    d->renewed = 0;
    return save(d, err);
}

mb_status mb_delivery_note(mb_delivery *d, uint64_t progress, int renewed, mb_err *err)
{
    int changed = 0;

    if (!d->open)
        return MB_OK;
    if (progress > d->progress) {
        d->progress = progress;
        changed = 1;
    }
    if (renewed && !d->renewed) {
        d->renewed = 1;
        changed = 1;
    }
    return changed ? save(d, err) : MB_OK;
}

mb_status mb_delivery_fail(mb_delivery *d, const char *cause, mb_err *err)
{
    d->failures++;
    push_cause(d, d->open ? d->delivery : 0, cause);
    d->open = 0;
    return save(d, err);
}

mb_status mb_delivery_end(mb_delivery *d, mb_err *err)
{
    if (!d->open)
        return MB_OK;
    d->open = 0;
    return save(d, err);
}

void mb_delivery_remove(mb_delivery *d)
{
    if (d->path && unlink(d->path) == 0)
        (void)mb_fs_sync_dir(d->path, NULL);
    reset(d);
}

void mb_delivery_sweep(const char *out)
{
    char dir[4200];
    int n = snprintf(dir, sizeof dir, "%s/%s", out, DIR_NAME);

    if (n > 0 && (size_t)n < sizeof dir)
        (void)mb_fs_sweep_temps(dir);
}

void mb_delivery_causes(const mb_delivery *d, char *buf, size_t cap)
{
    size_t at = 0, i;
    int n;

    if (cap)
        buf[0] = '\0';
    for (i = 0; i < d->ncauses && at < cap; i++) {
        n = snprintf(buf + at, cap - at, "%s%s", i ? "; " : "", d->causes[i]);
        at += n < 0 ? 0 : (size_t)n;
    }
}
