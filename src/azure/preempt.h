/* preempt.h - requests to stop: signals and Azure Scheduled Events.
 *
 * SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 only set a flag (the handler is
 * async-signal-safe and saves errno); the run loop reads the flag at its
 * next safe point, agrees with the other ranks, checkpoints, releases the
 * lease and exits 75. On one process per node (the caller decides which),
 * a watcher thread polls the Azure instance metadata service for Scheduled
 * Events about once a second; a Preempt or Terminate event naming this VM
 * sets the same flag and remembers the event so that it can be approved
 * once the checkpoint is committed. When no metadata service answers (not
 * on Azure), the watcher gives up quietly after one short probe. */
#ifndef MB_PREEMPT_H
#define MB_PREEMPT_H

#include "base/mb.h"

typedef struct mb_preempt_opts {
    int watch_events;            /* start the Scheduled Events watcher here */
    const char *endpoint;        /* base URL, default http://169.254.169.254;
                                    $MPIBATCH_IMDS_ENDPOINT overrides */
    double poll_interval;        /* seconds, default 1 */
} mb_preempt_opts;

/* Installs the signal handlers and, if asked, starts the watcher. */
mb_status mb_preempt_init(const mb_preempt_opts *o, mb_err *err);

/* Stops the watcher thread and restores the default signal actions. */
void mb_preempt_fini(void);

/* 0, or the signal number / MB_PREEMPT_EVENT when a stop was requested.
 * Cheap: reads one sig_atomic_t. */
#define MB_PREEMPT_EVENT 1000
int mb_preempt_requested(void);

/* A short description of the request ("SIGTERM", "Azure Scheduled Event
 * Preempt 1234-... not before Mon, 19 Sep 2016 18:29:47 GMT"). */
const char *mb_preempt_reason(char *buf, size_t cap);

/* Seconds until the event's NotBefore (negative if passed), or a large
 * number when the stop came from a signal or the event has no NotBefore. */
double mb_preempt_time_left(void);

/* After the checkpoint: approves the event that caused the stop (POST
 * {"StartRequests":[{"EventId":...}]}), if any. Logs a warning on failure. */
void mb_preempt_approve(void);

/* For tests: request a stop as a signal would. */
void mb_preempt_request(int why);

#endif
