/* backoff.c - exponential backoff with full jitter, a per-pause cap, a
 * deadline and server-given waits. Pure arithmetic except for the random
 * bytes behind the jitter and mb_backoff_sleep; judges no statuses. */
#include "base/backoff.h"

#include <assert.h>
#include <errno.h>
#include <sys/random.h>
#include <time.h>

void mb_backoff_init(mb_backoff *b, double first_ms, double cap_ms, double deadline,
                     double margin_s)
{
    assert(b && first_ms > 0 && cap_ms >= first_ms && margin_s >= 0);
    b->first_ms = first_ms;
    b->cap_ms = cap_ms;
    b->deadline = deadline;
    b->margin_s = margin_s;
    b->pauses = 0;
    b->seed = 0;
}

void mb_backoff_seed(mb_backoff *b, uint64_t seed)
{
    b->seed = seed;
}

/* splitmix64: a full-period sequence from any seed, good enough to spread
 * retries and small enough to trust. */
static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). Falls back to the clock when getrandom fails: the
 * value only spreads retries, nothing depends on its secrecy. */
static double unit(mb_backoff *b)
{
    uint64_t x = 0, clock_seed;

    if (b->seed)
        x = splitmix(&b->seed);
    else if (getrandom(&x, sizeof x, 0) != (ssize_t)sizeof x) {
        clock_seed = (uint64_t)(mb_now_s() * 1e9);
        x = splitmix(&clock_seed);
    }
    return (double)(x >> 11) * 0x1p-53;
}

double mb_backoff_ceiling_ms(const mb_backoff *b)
{
    double c = b->first_ms;
    int i;

    for (i = 0; i < b->pauses && c < b->cap_ms; i++)
        c *= 2;
    return c < b->cap_ms ? c : b->cap_ms;
}

double mb_backoff_next(mb_backoff *b, double now, double hint_s)
{
    double left = b->deadline - now, delay;

    assert(b && b->first_ms > 0);
    delay = hint_s > 0 ? hint_s : unit(b) * mb_backoff_ceiling_ms(b) / 1000;
    if (b->pauses < 1000)   /* the ceiling stopped growing long before */
        b->pauses++;
    if (hint_s > 0)
        return hint_s < left ? hint_s : -1;
    if (delay > left - b->margin_s)
        delay = left - b->margin_s;
    return delay < 0 ? -1 : delay;
}

void mb_backoff_sleep(double s)
{
    struct timespec ts;

    if (s <= 0)
        return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
