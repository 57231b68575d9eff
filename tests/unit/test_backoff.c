/* test_backoff.c - base/backoff: the ceiling's growth and cap, the full-
 * jitter range (and that the jitter is not constant), repeatable seeded
 * sequences, the cut at the deadline with room for a last attempt, and a
 * server's Retry-After wait taken as given or refused past the deadline. */
#include "base/backoff.h"

#include "tap.h"

#include <math.h>
#include <time.h>

#define FIRST 250.0
#define CAP 8000.0
#define FAR 1e9        /* a deadline that never matters */

static void test_growth(void)
{
    static const double want[] = {250, 500, 1000, 2000, 4000, 8000, 8000, 8000};
    mb_backoff b;
    size_t i;
    int grows = 1;

    mb_backoff_init(&b, FIRST, CAP, FAR, 0.1);
    for (i = 0; i < MB_ARRAY_LEN(want); i++) {
        if (mb_backoff_ceiling_ms(&b) != want[i])
            grows = 0;
        mb_backoff_next(&b, 0, 0);
    }
    ok(grows, "the ceiling doubles from the first pause and stops at the cap");
    ok(b.pauses == (int)MB_ARRAY_LEN(want), "every pause counts (%d)", b.pauses);
    b.pauses = 100000;
    ok(mb_backoff_ceiling_ms(&b) == CAP, "a huge exponent stays at the cap, no overflow");
    mb_backoff_init(&b, 3000, 5000, FAR, 0);
    mb_backoff_next(&b, 0, 0);
    ok(mb_backoff_ceiling_ms(&b) == 5000, "a cap that is no power of two of the first is held");
}

/* Draws n pauses at exponent k; checks range, spread and mean. */
static void test_jitter(void)
{
    mb_backoff b;
    double d, lo = 1e9, hi = -1, sum = 0;
    int i, inside = 1;
    const int n = 2000;

    mb_backoff_init(&b, FIRST, CAP, FAR, 0.1);
    mb_backoff_seed(&b, 42);
    for (i = 0; i < n; i++) {
        b.pauses = 3;                        /* ceiling 2000 ms */
        d = mb_backoff_next(&b, 0, 0) * 1000;
        if (d < 0 || d >= 2000)
            inside = 0;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        sum += d;
    }
    ok(inside, "full jitter: every pause in [0, ceiling)");
    ok(lo < 100 && hi > 1900, "full jitter: pauses spread over the range (%.0f..%.0f ms)", lo, hi);
    ok(fabs(sum / n - 1000) < 60, "full jitter: the mean is half the ceiling (%.0f ms)", sum / n);

    mb_backoff_init(&b, FIRST, CAP, FAR, 0.1);   /* unseeded: getrandom */
    for (i = 0, inside = 1; i < 200; i++) {
        double ceiling = mb_backoff_ceiling_ms(&b);
        d = mb_backoff_next(&b, 0, 0) * 1000;
        if (d < 0 || d >= ceiling)
            inside = 0;
    }
    ok(inside, "unseeded jitter stays within [0, min(cap, first * 2^n))");
}

static void test_seed(void)
{
    mb_backoff a, b, c;
    int i, same = 1, differs = 0;

    mb_backoff_init(&a, FIRST, CAP, FAR, 0.1);
    mb_backoff_init(&b, FIRST, CAP, FAR, 0.1);
    mb_backoff_init(&c, FIRST, CAP, FAR, 0.1);
    mb_backoff_seed(&a, 7);
    mb_backoff_seed(&b, 7);
    mb_backoff_seed(&c, 8);
    for (i = 0; i < 20; i++) {
        double x = mb_backoff_next(&a, 0, 0), y = mb_backoff_next(&b, 0, 0);
        double z = mb_backoff_next(&c, 0, 0);
        same &= x == y;
        differs |= x != z;
    }
    ok(same, "the same seed gives the same pauses");
    ok(differs, "another seed gives other pauses");
}

static void test_deadline(void)
{
    mb_backoff b;
    double d;
    int i, never_past = 1;

    mb_backoff_init(&b, FIRST, CAP, 10.0, 0.1);
    b.pauses = 10;                              /* ceiling 8 s */
    mb_backoff_seed(&b, 1);
    for (i = 0; i < 100; i++) {
        b.pauses = 10;
        d = mb_backoff_next(&b, 9.0, 0);        /* 1 s left */
        if (d < 0 || d > 0.9 + 1e-9)
            never_past = 0;
    }
    ok(never_past, "a pause is cut to end the margin before the deadline");
    mb_backoff_init(&b, 2000, 2000, 10.0, 0.5);
    mb_backoff_seed(&b, 3);
    for (i = 0, never_past = 0; i < 100; i++)
        never_past |= mb_backoff_next(&b, 9.0, 0) == 0.5;
    ok(never_past, "a long pause becomes exactly what is left minus the margin");
    mb_backoff_init(&b, FIRST, CAP, 10.0, 0.1);
    ok(mb_backoff_next(&b, 9.95, 0) == -1, "less than the margin left: no last attempt");
    ok(mb_backoff_next(&b, 11, 0) == -1, "past the deadline: no attempt");
    mb_backoff_init(&b, FIRST, CAP, 10.0, 0);
    d = mb_backoff_next(&b, 10.0, 0);
    ok(d == 0 || d == -1, "at the deadline with no margin: at most an immediate try (%g)", d);
}

static void test_retry_after(void)
{
    mb_backoff b;

    mb_backoff_init(&b, FIRST, CAP, 10.0, 0.1);
    ok(mb_backoff_next(&b, 0, 2.0) == 2.0, "a server wait within the deadline is taken as is");
    ok(b.pauses == 1, "... and counts as a pause");
    ok(mb_backoff_next(&b, 0, 9.0) == 9.0, "a server wait longer than the cap is still honoured");
    ok(mb_backoff_next(&b, 5, 6.0) == -1, "a server wait past the deadline: give up");
    ok(mb_backoff_next(&b, 5, 5.0) == -1, "a server wait ending at the deadline: give up");
    ok(mb_backoff_next(&b, 5, -1) >= 0, "a negative wait is no wait: our own backoff");
}

static void test_sleep(void)
{
    struct timespec a, b;
    double dt;

    clock_gettime(CLOCK_MONOTONIC, &a);
    mb_backoff_sleep(0.05);
    clock_gettime(CLOCK_MONOTONIC, &b);
    dt = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    ok(dt >= 0.05 && dt < 1.0, "sleep: 50 ms (%.3f s)", dt);
    clock_gettime(CLOCK_MONOTONIC, &a);
    mb_backoff_sleep(-1);
    mb_backoff_sleep(0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    dt = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    ok(dt < 0.01, "sleep: nothing for 0 or less (%.4f s)", dt);
}

int main(void)
{
    test_growth();
    test_jitter();
    test_seed();
    test_deadline();
    test_retry_after();
    test_sleep();
    return tap_done();
}
