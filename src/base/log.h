/* log.h - messages to stderr: one line each, with time (UTC), host, program,
 * rank and severity, as text or as one JSON object per line for log
 * shippers. Deliberately not a logging framework: no files, no rotation;
 * the batch system (Slurm, mpirun) captures stderr. */
#ifndef MB_LOG_H
#define MB_LOG_H

#include "base/mb.h"

#include <time.h>

typedef enum mb_log_level {
    MB_LOG_ERROR = 0,
    MB_LOG_WARN = 1,
    MB_LOG_INFO = 2,
    MB_LOG_DEBUG = 3
} mb_log_level;

typedef enum mb_log_format {
    MB_LOG_TEXT = 0,   /* 2026-12-02T18:37:38Z node-3 mpibatch[0]: info: ... */
    MB_LOG_JSON        /* {"time":...,"host":...,"rank":0,"level":"info","msg":...} */
} mb_log_format;

/* Sets the rank shown in every line (-1: none, for plain commands) and the
 * most verbose level printed (default MB_LOG_INFO). The first call also
 * records the host name; call it before any thread logs. */
void mb_log_init(int rank, mb_log_level max_level);

/* Chooses the line format (default MB_LOG_TEXT). */
void mb_log_set_format(mb_log_format fmt);

/* "text" or "json" (NULL: text) into *fmt; MB_EUSAGE naming --log-format
 * otherwise. */
mb_status mb_log_format_parse(const char *name, mb_log_format *fmt, mb_err *err);

/* This host's name as it appears in log lines (never NULL, never empty). */
const char *mb_log_host(void);

#define MB_LOG_TIME_MAX 32

/* `t` as ISO 8601 UTC with seconds: "2026-12-02T18:37:38Z". */
void mb_log_utc(time_t t, char out[MB_LOG_TIME_MAX]);

void mb_log(mb_log_level lvl, const char *fmt, ...) MB_PRINTF(2, 3);

#define mb_error(...) mb_log(MB_LOG_ERROR, __VA_ARGS__)
#define mb_warn(...) mb_log(MB_LOG_WARN, __VA_ARGS__)
#define mb_info(...) mb_log(MB_LOG_INFO, __VA_ARGS__)
#define mb_debug(...) mb_log(MB_LOG_DEBUG, __VA_ARGS__)

#endif
