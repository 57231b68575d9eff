/* log.h - messages to stderr: one line each, prefixed with program, host
 * rank and severity. Deliberately not a logging framework: no files, no
 * rotation; the batch system (Slurm, mpirun) captures stderr. */
#ifndef MB_LOG_H
#define MB_LOG_H

#include "mb.h"

typedef enum mb_log_level {
    MB_LOG_ERROR = 0,
    MB_LOG_WARN = 1,
    MB_LOG_INFO = 2,
    MB_LOG_DEBUG = 3
} mb_log_level;

/* Sets the rank shown in every line (-1: none, for plain commands) and the
 * most verbose level printed (default MB_LOG_INFO). */
void mb_log_init(int rank, mb_log_level max_level);

int mb_log_enabled(mb_log_level lvl);

void mb_log(mb_log_level lvl, const char *fmt, ...) MB_PRINTF(2, 3);

#define mb_error(...) mb_log(MB_LOG_ERROR, __VA_ARGS__)
#define mb_warn(...) mb_log(MB_LOG_WARN, __VA_ARGS__)
#define mb_info(...) mb_log(MB_LOG_INFO, __VA_ARGS__)
#define mb_debug(...) mb_log(MB_LOG_DEBUG, __VA_ARGS__)

#endif
