/* backoff.h - when to try again: exponential backoff with full jitter, a
 * cap on each pause, an overall deadline, and the wait a server asked for
 * (Retry-After) taken as given. Decides pauses only: it neither sleeps
 * (see mb_backoff_sleep) nor knows what a retryable failure is; callers
 * count their own attempts and judge statuses.
 *
 * Full jitter (as in AWS's "Exponential Backoff and Jitter"): pause n (from
 * 0) is uniform in [0, min(cap, first * 2^n)), so that many clients that
 * failed together do not come back together. */
#ifndef MB_BACKOFF_H
#define MB_BACKOFF_H

#include "base/mb.h"

#include <stdint.h>

typedef struct mb_backoff {
    double first_ms;      /* ceiling of the first pause */
    double cap_ms;        /* no ceiling above this */
    double deadline;      /* mb_now_s() time by which the last attempt starts */
    double margin_s;      /* a last attempt needs at least this much time */
    int pauses;           /* pauses handed out so far: the exponent */
    uint64_t seed;        /* 0: jitter from getrandom; else a fixed sequence */
} mb_backoff;

/* Sets up a policy for one operation whose retries must start before
 * `deadline` (an mb_now_s() time) with at least `margin_s` of it left.
 * first_ms > 0 and cap_ms >= first_ms are asserted. */
void mb_backoff_init(mb_backoff *b, double first_ms, double cap_ms, double deadline,
                     double margin_s);

/* For tests: the jitter comes from a fixed pseudo-random sequence given by
 * `seed` (not 0) instead of the system's random bytes, so that a run can
 * be repeated. */
void mb_backoff_seed(mb_backoff *b, uint64_t seed);

/* The ceiling of the next pause without jitter, min(cap, first * 2^n), in
 * ms: what the growth and the cap are. */
double mb_backoff_ceiling_ms(const mb_backoff *b);

/* Seconds to wait before the next attempt, `now` being mb_now_s(), or -1
 * when the deadline allows none. A server wait (hint_s > 0, e.g. from
 * Retry-After) is returned as it is when it ends before the deadline and
 * is -1 otherwise: a server that wants more time than is left will not be
 * ready sooner. The jittered pause is cut to end `margin_s` before the
 * deadline, so that one last attempt still fits. Either way the exponent
 * grows by one. */
double mb_backoff_next(mb_backoff *b, double now, double hint_s);

/* Sleeps s seconds (nothing for s <= 0), resuming after signals. */
void mb_backoff_sleep(double s);

#endif
