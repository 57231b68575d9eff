/* fault.c - crash and delay injection by name; reads the environment. */
#include "base/fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void mb_fault_point(const char *point)
{
    const char *spec = getenv("MPIBATCH_FAULT");
    size_t n = strlen(point);

    while (spec && *spec) {
        size_t len = strcspn(spec, ",");
        if (len == n && memcmp(spec, point, n) == 0)
            raise(SIGKILL);
        spec += len + (spec[len] == ',');
    }
}

void mb_fault_sleep(void)
{
    const char *s = getenv("MPIBATCH_FAULT_SLEEP_MS");
    char *end;
    long ms;
    struct timespec ts;

    if (!s)
        return;
    ms = strtol(s, &end, 10);
    if (*end || ms <= 0 || ms > 60000)
        return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}
