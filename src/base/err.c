/* err.c - status names, sysexits mapping, error-report formatting and the
 * other small helpers of mb.h. Deliberately knows nothing about logging or
 * where messages go. */
#include "base/mb.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *mb_strerror(mb_status st)
{
    switch (st) {
    case MB_OK: return "success";
    case MB_EUSAGE: return "usage error";
    case MB_EDATA: return "bad input data";
    case MB_EJOB: return "bad job file";
    case MB_ERANGE: return "number out of range";
    case MB_ENOENT: return "not found";
    case MB_EQUEUE: return "queue unreachable";
    case MB_ENOMEM: return "out of memory";
    case MB_ELIMIT: return "limit exceeded";
    case MB_EIO: return "I/O error";
    case MB_EAGAIN: return "nothing available";
    case MB_ELEASE: return "lease lost";
    case MB_ESTOP: return "stopped on request";
    case MB_EINTERNAL: return "internal error";
    }
    return "unknown status";
}

int mb_status_exit(mb_status st)
{
    switch (st) {
    case MB_OK: return 0;
    case MB_EUSAGE: return 64;            /* EX_USAGE */
    case MB_EDATA:
    case MB_EJOB:
    case MB_ERANGE:
    case MB_ELIMIT: return 65;            /* EX_DATAERR */
    case MB_ENOENT: return 66;            /* EX_NOINPUT */
    case MB_EQUEUE: return 69;            /* EX_UNAVAILABLE */
    case MB_EIO: return 74;               /* EX_IOERR */
    case MB_ESTOP: return 75;             /* EX_TEMPFAIL */
    case MB_EAGAIN:
    case MB_ELEASE:
    case MB_ENOMEM:
    case MB_EINTERNAL: return 70;         /* EX_SOFTWARE */
    }
    return 70;
}

mb_status mb_err_set(mb_err *e, mb_status code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        e->code = code;
        e->col = 0;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

mb_status mb_err_set_at(mb_err *e, mb_status code, long col, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        e->code = code;
        e->col = col > 0 ? col : 0;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

mb_status mb_err_prefix(mb_err *e, const char *fmt, ...)
{
    char head[MB_ERR_MAX], old[MB_ERR_MAX];
    va_list ap;

    if (!e)
        return MB_EINTERNAL;   /* no report to prefix: callers always pass one */
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s%s", head, old);
    return e->code;
}

void mb_err_clear(mb_err *e)
{
    if (e) {
        e->code = MB_OK;
        e->msg[0] = '\0';
        e->col = 0;
    }
}

double mb_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
