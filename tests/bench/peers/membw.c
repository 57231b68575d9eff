/* membw.c - memory read bandwidth of one core, a ceiling for the benchmark
 * table: sums a 512 MiB buffer of 64-bit words (far larger than any cache)
 * several times and prints bytes read per second. Not a peer; run.sh
 * compiles it on the fly with cc -O2. Usage: membw [PASSES] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORDS ((size_t)64 << 20) /* 512 MiB */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int passes = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 5, p;
    uint64_t *buf = malloc(WORDS * sizeof *buf), sum = 0;
    double t0, best = 0;
    size_t i;

    if (!buf || passes < 1)
        return 1;
    memset(buf, 1, WORDS * sizeof *buf); /* touch every page first */
    for (p = 0; p < passes; p++) {
        double s;
        t0 = now();
        for (i = 0; i < WORDS; i++)
            sum += buf[i];
        s = now() - t0;
        if (best == 0 || s < best)
            best = s;
    }
    printf("%.3f\n", (double)(WORDS * sizeof *buf) / best / 1e9);
    fprintf(stderr, "membw: checksum %llu\n", (unsigned long long)sum);
    free(buf);
    return 0;
}
