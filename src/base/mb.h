/* mb.h - status codes, error reports and small helpers shared by every module.
 *
 * One status enum for the whole program. Functions that can fail return an
 * mb_status and, when given an mb_err, leave a human-readable message there
 * that names the file, line and column (or queue and message id) at fault.
 * Nothing here does I/O beyond formatting into the caller's buffer. */
#ifndef MB_H
#define MB_H

#include <stddef.h>
#include <stdint.h>
#include "base/mem.h"

typedef enum mb_status {
    MB_OK = 0,
    MB_EUSAGE,    /* bad command line                         -> exit 64 */
    MB_EDATA,     /* bad input data (CSV, message body)       -> exit 65 */
    MB_EJOB,      /* bad job file                             -> exit 65 */
    MB_ERANGE,    /* a number outside the exact range         -> exit 65 */
    MB_ENOENT,    /* a named thing does not exist             -> exit 66 */
    MB_EQUEUE,    /* queue or storage unreachable             -> exit 69 */
    MB_ENOMEM,    /* allocation failed                        -> exit 70 */
    MB_ELIMIT,    /* a configured cap was hit                 -> exit 65 */
    MB_EIO,       /* I/O error                                -> exit 74 */
    MB_EAGAIN,    /* nothing available right now (empty queue)          */
    MB_ELEASE,    /* the lease on a message was lost                    */
    MB_ESTOP,     /* stop requested (signal, eviction)        -> exit 75 */
    MB_EINTERNAL  /* a bug                                    -> exit 70 */
} mb_status;

/* Short constant description of a status, never NULL. */
const char *mb_strerror(mb_status st);

/* The sysexits(3) code a process should exit with for a status. */
int mb_status_exit(mb_status st);

#define MB_ERR_MAX 1024

/* An error report: the status, a message and, for errors in a text that
 * was parsed (an aggregate list, a job-file value, a query), the column at
 * fault. Functions that take an `mb_err *` may be passed NULL when the
 * caller does not want the report.
 *
 * col is 1-based, counted in bytes from the start of the text the failing
 * function was given, and 0 when unknown or not about a position. It lets
 * a caller that knows where that text sits (a job file's line, a query's
 * offset in a file) point at the spot without parsing the message; the
 * message still names the position itself for callers that only print it. */
typedef struct mb_err {
    mb_status code;
    char msg[MB_ERR_MAX];
    long col;
} mb_err;

#if defined(__GNUC__)
#define MB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MB_PRINTF(a, b)
#endif

/* Records `code` and a formatted message in `e` (if not NULL) and returns
 * `code`, so that `return mb_err_set(err, MB_EDATA, "...")` reads well. */
mb_status mb_err_set(mb_err *e, mb_status code, const char *fmt, ...) MB_PRINTF(3, 4);

/* As mb_err_set, and records the column `col` (1-based; 0: unknown) the
 * error is about. mb_err_set clears the column. */
mb_status mb_err_set_at(mb_err *e, mb_status code, long col, const char *fmt, ...)
    MB_PRINTF(4, 5);

/* Prefixes the message already in `e` with a formatted context
 * ("file.csv: " + old message), keeping its code and column. Returns
 * e->code. */
mb_status mb_err_prefix(mb_err *e, const char *fmt, ...) MB_PRINTF(2, 3);

/* Clears an error report. */
void mb_err_clear(mb_err *e);

/* Overflow-checked size arithmetic: return 0 and store the result, or
 * return -1 on overflow leaving *out untouched. */
static inline int mb_size_add(size_t a, size_t b, size_t *out)
{
    if (a > SIZE_MAX - b)
        return -1;
    *out = a + b;
    return 0;
}

static inline int mb_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

#define MB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A hint to fetch the cache line at p. An asm statement on x86, because
 * GCC may delete a loop whose only effect is __builtin_prefetch. */
static inline void mb_prefetch(const void *p)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#elif defined(__GNUC__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
}

/* Seconds on the monotonic clock, for timeouts, intervals and figures. */
double mb_now_s(void);

#endif
