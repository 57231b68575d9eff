/* fuzz.h - what the libFuzzer harnesses in tests/fuzz share: reading the input as a stream of choices, and failing loudly. */
#ifndef MB_FUZZ_H
#define MB_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input read front to back: small choices first, the rest as a body.
 * Reading past the end gives zeros, so every input is a valid program. */
typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in;

static inline uint8_t fz_u8(fz_in *in)
{
    uint8_t v = 0;

    if (in->n) {
        v = in->p[0];
        in->p++;
        in->n--;
    }
    return v;
}

static inline uint64_t fz_u64(fz_in *in)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v |= (uint64_t)fz_u8(in) << (8 * i);
    return v;
}

/* Up to max bytes (fewer when the input runs out); *len says how many. */
static inline const uint8_t *fz_bytes(fz_in *in, size_t max, size_t *len)
{
    const uint8_t *p = in->p;

    *len = in->n < max ? in->n : max;
    in->p += *len;
    in->n -= *len;
    return p;
}

/* A property broke: say which and stop, so that libFuzzer keeps the input. */
static void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fz_fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "PROPERTY FAILED: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

#define FZ_CHECK(cond, ...)            \
    do {                               \
        if (!(cond))                   \
            fz_fail(__VA_ARGS__);      \
    } while (0)

/* A fresh heap copy of exactly len bytes (so ASan sees a read past the
 * end), plus a NUL when nul is set (not counted in len). */
static inline char *fz_copy(const void *p, size_t len, int nul)
{
    char *c = malloc(len + (nul ? 1 : 0) + (len == 0 && !nul));

    if (!c)
        abort();
    if (len)
        memcpy(c, p, len);
    if (nul)
        c[len] = '\0';
    return c;
}

#endif
