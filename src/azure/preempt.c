/* preempt.c - stop requests: signal handlers that only set a flag, and a
 * watcher thread for Azure Scheduled Events. Does not stop anything
 * itself: the run loop reads the flag at a safe point, checkpoints, and
 * then calls mb_preempt_approve(). */
#include "azure/preempt.h"

#include "azure/imds.h"
#include "base/log.h"
#include "base/timefmt.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NAME_PATH "/metadata/instance/compute/name?api-version=2021-02-01&format=text"
#define EVENTS_PATH "/metadata/scheduledevents?api-version=2020-07-01"
#define VM_NAME_MAX 128
#define ID_MAX 128
#define TYPE_MAX 32
#define NOT_BEFORE_MAX 64
#define EVENTS_MAX_BYTES ((size_t)256 * 1024)
#define SEEN_MAX 32
#define WARN_MAX 256
#define WARNED_MAX 8
#define TIME_UNKNOWN 1e9

/* The stop flag. C11 allows a signal handler to touch a lock-free atomic
 * object; being atomic (not just volatile) makes "first request wins" a
 * compare-and-swap that is also correct between the watcher thread and a
 * handler running in another thread. */
#if ATOMIC_INT_LOCK_FREE != 2
#error "the stop flag needs a lock-free atomic int"
#endif
_Static_assert(sizeof(sig_atomic_t) == sizeof(int), "sig_atomic_t is an int");
static _Atomic sig_atomic_t stop_why;

static const int STOP_SIGNALS[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2};
static struct sigaction saved_actions[MB_ARRAY_LEN(STOP_SIGNALS)];
static int handlers_installed;

/* The event that asked this VM to stop; written by the watcher thread,
 * read by the run loop, so guarded by `lock`. */
typedef struct event {
    int known;
    int approved;
    char id[ID_MAX];
    char type[TYPE_MAX];
    char not_before[NOT_BEFORE_MAX];
    double not_before_epoch;      /* 0 when NotBefore is empty or unparsable */
} event;

/* Watcher state. `stopping` and `ev` are shared and guarded by `lock`;
 * endpoint and poll_interval are set before the thread starts and then
 * only read; vm_name, seen and warned belong to the watcher thread. */
typedef struct watcher {
    pthread_mutex_t lock;
    pthread_cond_t wake;          /* signalled by fini to end the sleep */
    pthread_t thread;
    int running;                  /* a thread was started and not yet joined */
    int stopping;                 /* guarded by lock */
    event ev;                     /* guarded by lock */
    char endpoint[MB_IMDS_ENDPOINT_MAX];
    double poll_interval;
    char vm_name[VM_NAME_MAX];
    char seen[SEEN_MAX][ID_MAX];  /* ignored EventIds already logged */
    size_t seen_next;
    char warned[WARNED_MAX][WARN_MAX]; /* recent distinct warnings */
    size_t warned_next;
} watcher;

static watcher w = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- signals -------------------------------------------------------------- */

static void request_stop(int why)
{
    sig_atomic_t expected = 0;

    atomic_compare_exchange_strong(&stop_why, &expected, (sig_atomic_t)why);
}

static void on_signal(int sig)
{
    int saved = errno;

    request_stop(sig);
    errno = saved;
}

static mb_status install_handlers(mb_err *err)
{
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    /* SA_RESTART: MPI, HDF5 and curl need not see EINTR; the run loop
     * polls the flag anyway. The mask stops handlers nesting. */
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < MB_ARRAY_LEN(STOP_SIGNALS); i++)
        sigaddset(&sa.sa_mask, STOP_SIGNALS[i]);
    for (i = 0; i < MB_ARRAY_LEN(STOP_SIGNALS); i++) {
        if (sigaction(STOP_SIGNALS[i], &sa, &saved_actions[i]) != 0) {
            int e = errno;
            while (i-- > 0)
                sigaction(STOP_SIGNALS[i], &saved_actions[i], NULL);
            return mb_err_set(err, MB_EINTERNAL, "sigaction: %s", strerror(e));
        }
    }
    handlers_installed = 1;
    return MB_OK;
}

static void restore_handlers(void)
{
    size_t i;

    if (!handlers_installed)
        return;
    for (i = 0; i < MB_ARRAY_LEN(STOP_SIGNALS); i++)
        sigaction(STOP_SIGNALS[i], &saved_actions[i], NULL);
    handlers_installed = 0;
}

int mb_preempt_requested(void)
{
    return (int)atomic_load(&stop_why);
}

void mb_preempt_request(int why)
{
    request_stop(why);
}

/* ---- small helpers -------------------------------------------------------- */

/* Copies a string if it fits; returns -1 (dst untouched) if not. */
static int copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static double wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Warns once per distinct problem (among the last few), so a broken
 * metadata service polled every second does not flood the log. */
static void warn_once(const char *fmt, const char *detail)
{
    char msg[WARN_MAX];
    size_t i;

    snprintf(msg, sizeof msg, fmt, detail);
    for (i = 0; i < WARNED_MAX; i++)
        if (strcmp(msg, w.warned[i]) == 0)
            return;
    copy_str(w.warned[w.warned_next], WARN_MAX, msg);
    w.warned_next = (w.warned_next + 1) % WARNED_MAX;
    mb_warn("%s", msg);
}

/* ---- talking to the metadata service -------------------------------------- */

/* One GET, not retried: the watcher polls again a second later anyway. */
static mb_status imds_get(const char *path, long conn_ms, long total_ms, size_t max,
                          mb_http_resp *resp, mb_err *err)
{
    mb_imds_req q;
    mb_status st;

    memset(&q, 0, sizeof q);
    q.base = w.endpoint;
    q.path = path;
    q.connect_ms = conn_ms;
    q.timeout_ms = total_ms;
    q.max_response = max;
    st = mb_imds_do(&q, resp, NULL, err);
    if (st == MB_OK && resp->status != 200) {
        st = mb_err_set(err, MB_EQUEUE, "GET %s%.*s: HTTP status %ld", w.endpoint,
                        (int)strcspn(path, "?"), path, resp->status);
        mb_http_resp_fini(resp);
    }
    return st;
}

/* One short probe: off Azure nothing answers at 169.254.169.254, and we
 * must not delay start-up or log noise there. */
static int probe_vm_name(void)
{
    mb_http_resp resp;
    mb_err err;
    size_t n;

    if (imds_get(NAME_PATH, 300, 1000, VM_NAME_MAX, &resp, &err) != MB_OK) {
        mb_debug("no instance metadata service (%s); not watching for Scheduled Events",
                 err.msg);
        return -1;
    }
    n = resp.body_len;
    while (n > 0 && (resp.body[n - 1] == '\n' || resp.body[n - 1] == '\r' ||
                     resp.body[n - 1] == ' '))
        n--;
    if (n == 0 || n >= sizeof w.vm_name || memchr(resp.body, '\0', n)) {
        mb_warn("instance metadata returned an unusable VM name; not watching for Scheduled Events");
        mb_http_resp_fini(&resp);
        return -1;
    }
    memcpy(w.vm_name, resp.body, n);
    w.vm_name[n] = '\0';
    mb_http_resp_fini(&resp);
    return 0;
}

/* ---- reading the events document ------------------------------------------ */

static int names_this_vm(json_t *resources)
{
    size_t i;
    json_t *r;

    if (!json_is_array(resources))
        return 0;
    json_array_foreach(resources, i, r) {
        /* Azure writes the VM name (instance name like "vmss_1" in a scale
         * set); compare without case as Azure resource names are. */
        if (json_is_string(r) && strcasecmp(json_string_value(r), w.vm_name) == 0)
            return 1;
    }
    return 0;
}

static int is_stop_type(const char *type)
{
    return strcmp(type, "Preempt") == 0 || strcmp(type, "Terminate") == 0;
}

/* Logs an event we ignore once per EventId (the document repeats it at
 * every poll until it is over). */
static void note_ignored(const char *id, const char *type, const char *why)
{
    size_t i;

    for (i = 0; i < SEEN_MAX; i++)
        if (strcmp(w.seen[i], id) == 0)
            return;
    copy_str(w.seen[w.seen_next], ID_MAX, id);
    w.seen_next = (w.seen_next + 1) % SEEN_MAX;
    mb_debug("ignoring Azure Scheduled Event %s %s (%s)", type, id, why);
}

/* Remembers the first stop event and follows later updates of it (Azure
 * may move NotBefore); a second stop event changes nothing, as we are
 * stopping already and approve the first one. */
static void record_stop(const char *id, const char *type, const char *not_before)
{
    int64_t epoch = 0;
    int first = 0, same = 0;

    if (not_before[0] && mb_time_parse_http(not_before, &epoch) != MB_OK) {
        warn_once("cannot parse Scheduled Event NotBefore '%s'; assuming no deadline",
                  not_before);
        epoch = 0;
    }
    pthread_mutex_lock(&w.lock);
    first = !w.ev.known;
    same = !first && strcmp(w.ev.id, id) == 0;
    if (first || same) {
        w.ev.known = 1;
        copy_str(w.ev.id, sizeof w.ev.id, id);
        copy_str(w.ev.type, sizeof w.ev.type, type);
        copy_str(w.ev.not_before, sizeof w.ev.not_before, not_before);
        w.ev.not_before_epoch = (double)epoch;
    }
    pthread_mutex_unlock(&w.lock);
    request_stop(MB_PREEMPT_EVENT);
    if (first)
        mb_info("Azure Scheduled Event %s %s for %s, not before %s: stopping", type, id,
                w.vm_name, not_before[0] ? not_before : "(unspecified)");
    else if (!same)
        note_ignored(id, type, "already stopping for an earlier event");
}

/* Returns the field's string, "" when absent or not a string, NULL when
 * too long for its buffer. */
static const char *field(json_t *ev, const char *key, size_t cap)
{
    const char *s = json_string_value(json_object_get(ev, key));

    if (!s)
        return "";
    return strlen(s) < cap ? s : NULL;
}

static void handle_event(json_t *ev)
{
    const char *id = field(ev, "EventId", ID_MAX);
    const char *type = field(ev, "EventType", TYPE_MAX);
    const char *nb = field(ev, "NotBefore", NOT_BEFORE_MAX);
    int for_us;

    if (!json_is_object(ev) || !id || !type || !nb || !id[0] || !type[0]) {
        warn_once("%s", "Scheduled Event without a usable EventId or EventType; ignored");
        return;
    }
    for_us = names_this_vm(json_object_get(ev, "Resources"));
    if (for_us && is_stop_type(type))
        record_stop(id, type, nb);
    else
        note_ignored(id, type, for_us ? "not a stop" : "for another VM");
}

static void handle_document(const char *body, size_t len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *events, *ev;
    size_t i;

    if (!doc) {
        warn_once("malformed Scheduled Events document: %s", jerr.text);
        return;
    }
    events = json_object_get(doc, "Events");
    if (!json_is_array(events)) {
        warn_once("%s", "Scheduled Events document without an Events array; ignored");
        json_decref(doc);
        return;
    }
    json_array_foreach(events, i, ev)
        handle_event(ev);
    json_decref(doc);
}

static void poll_once(void)
{
    mb_http_resp resp;
    mb_err err;

    /* Short timeouts keep mb_preempt_fini() prompt: it has to wait for a
     * request in flight. */
    if (imds_get(EVENTS_PATH, 500, 1000, EVENTS_MAX_BYTES, &resp, &err) != MB_OK) {
        warn_once("cannot poll Scheduled Events: %s", err.msg);
        return;
    }
    handle_document(resp.body, resp.body_len);
    mb_http_resp_fini(&resp);
}

/* ---- the watcher thread ----------------------------------------------------- */

/* Sleeps until the next poll or until fini asks us to end; returns 1 to
 * go on. */
static int sleep_or_stop(double seconds)
{
    struct timespec until;
    int go_on;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)seconds;
    until.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w.lock);
    while (!w.stopping)
        if (pthread_cond_timedwait(&w.wake, &w.lock, &until) != 0)
            break;
    go_on = !w.stopping;
    pthread_mutex_unlock(&w.lock);
    return go_on;
}

static void *watch(void *unused)
{
    (void)unused;
    if (probe_vm_name() != 0)
        return NULL;
    mb_debug("watching Azure Scheduled Events for VM %s every %.3g s", w.vm_name,
             w.poll_interval);
    do
        poll_once();
    while (sleep_or_stop(w.poll_interval));
    return NULL;
}

static mb_status start_watcher(const mb_preempt_opts *o, mb_err *err)
{
    pthread_condattr_t ca;
    sigset_t block, old;
    mb_status st;
    int rc;

    if ((st = mb_imds_endpoint(o->endpoint, w.endpoint, err)) != MB_OK)
        return st;
    w.poll_interval = o->poll_interval > 0 ? o->poll_interval : 1.0;
    if (w.poll_interval > 3600)
        w.poll_interval = 3600;
    if (mb_http_global_init() != MB_OK)
        return mb_err_set(err, MB_EINTERNAL, "libcurl global initialisation failed");
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&w.wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return mb_err_set(err, MB_EINTERNAL, "pthread_cond_init: %s", strerror(rc));
    /* The thread inherits a mask blocking the stop signals, so their
     * handler always runs in one of the application's own threads. */
    sigemptyset(&block);
    for (size_t i = 0; i < MB_ARRAY_LEN(STOP_SIGNALS); i++)
        sigaddset(&block, STOP_SIGNALS[i]);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    rc = pthread_create(&w.thread, NULL, watch, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&w.wake);
        return mb_err_set(err, MB_EINTERNAL, "cannot start the Scheduled Events watcher: %s",
                          strerror(rc));
    }
    w.running = 1;
    return MB_OK;
}

static void reset_state(void)
{
    atomic_store(&stop_why, 0);
    pthread_mutex_lock(&w.lock);
    w.stopping = 0;
    memset(&w.ev, 0, sizeof w.ev);
    pthread_mutex_unlock(&w.lock);
    memset(w.seen, 0, sizeof w.seen);
    w.seen_next = 0;
    memset(w.warned, 0, sizeof w.warned);
    w.warned_next = 0;
    w.vm_name[0] = '\0';
}

mb_status mb_preempt_init(const mb_preempt_opts *o, mb_err *err)
{
    static const mb_preempt_opts none = {0, NULL, 0};
    mb_status st;

    if (handlers_installed || w.running)
        return mb_err_set(err, MB_EINTERNAL, "mb_preempt_init called twice");
    if (!o)
        o = &none;
    reset_state();
    if ((st = install_handlers(err)) != MB_OK)
        return st;
    if (o->watch_events && (st = start_watcher(o, err)) != MB_OK) {
        restore_handlers();
        return st;
    }
    return MB_OK;
}

void mb_preempt_fini(void)
{
    if (w.running) {
        pthread_mutex_lock(&w.lock);
        w.stopping = 1;
        pthread_cond_signal(&w.wake);
        pthread_mutex_unlock(&w.lock);
        pthread_join(w.thread, NULL);
        pthread_cond_destroy(&w.wake);
        w.running = 0;
    }
    restore_handlers();
}

/* ---- what the run loop asks --------------------------------------------------- */

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    }
    return NULL;
}

const char *mb_preempt_reason(char *buf, size_t cap)
{
    int why = mb_preempt_requested();
    const char *name = signal_name(why);

    if (!buf || cap == 0)
        return "";
    if (why == 0)
        snprintf(buf, cap, "no stop requested");
    else if (name)
        snprintf(buf, cap, "%s", name);
    else if (why != MB_PREEMPT_EVENT)
        snprintf(buf, cap, "signal %d", why);
    else {
        pthread_mutex_lock(&w.lock);
        if (w.ev.known)
            snprintf(buf, cap, "Azure Scheduled Event %s %s not before %s", w.ev.type,
                     w.ev.id, w.ev.not_before[0] ? w.ev.not_before : "(unspecified)");
        else
            snprintf(buf, cap, "Azure Scheduled Event");
        pthread_mutex_unlock(&w.lock);
    }
    return buf;
}

/* Uses the recorded event even when a signal came first: the eviction
 * deadline is real whatever asked us to stop first. */
double mb_preempt_time_left(void)
{
    double epoch;

    pthread_mutex_lock(&w.lock);
    epoch = w.ev.known ? w.ev.not_before_epoch : 0;
    pthread_mutex_unlock(&w.lock);
    return epoch > 0 ? epoch - wall_now() : TIME_UNKNOWN;
}

/* Builds {"StartRequests":[{"EventId":"..."}]}; NULL when out of memory. */
static char *approval_body(const char *id)
{
    json_t *doc = json_pack("{s:[{s:s}]}", "StartRequests", "EventId", id);
    char *s;

    if (!doc)
        return NULL;
    s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

/* One POST, not retried: Azure proceeds at NotBefore without it. */
static void post_approval(const char *id)
{
    char *body = approval_body(id);
    mb_imds_req q;
    mb_http_resp resp;
    mb_err err;

    if (!body) {
        mb_warn("cannot approve Scheduled Event %s: out of memory", id);
        return;
    }
    memset(&q, 0, sizeof q);
    q.base = w.endpoint;
    q.method = "POST";
    q.path = EVENTS_PATH;
    q.body = body;
    q.connect_ms = 1000;
    q.timeout_ms = 5000;
    q.max_response = 64 * 1024;
    if (mb_imds_do(&q, &resp, NULL, &err) != MB_OK)
        mb_warn("cannot approve Scheduled Event %s: %s", id, err.msg);
    else if (resp.status != 200)
        mb_warn("approving Scheduled Event %s: HTTP status %ld", id, resp.status);
    else
        mb_info("approved Scheduled Event %s: Azure may proceed", id);
    mb_http_resp_fini(&resp);
    free(body);
}

/* Approves at most once; a no-op on processes that saw no event, so the
 * run loop may call it on every rank after the checkpoint. */
void mb_preempt_approve(void)
{
    char id[ID_MAX] = "";

    pthread_mutex_lock(&w.lock);
    if (w.ev.known && !w.ev.approved) {
        w.ev.approved = 1;
        copy_str(id, sizeof id, w.ev.id);
    }
    pthread_mutex_unlock(&w.lock);
    if (id[0])
        post_approval(id);
}
