/* log.c - formats one line per message and writes it to stderr with a
 * single write(2), so lines from several ranks do not interleave. Every line
 * passes through the secret scrubber as a last line of defence: modules
 * already keep keys, signatures and tokens out of their messages. */
#include "log.h"

#include "azure_auth.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_rank = -1;
static mb_log_level log_max = MB_LOG_INFO;

void mb_log_init(int rank, mb_log_level max_level)
{
    log_rank = rank;
    log_max = max_level;
}

int mb_log_enabled(mb_log_level lvl)
{
    return lvl <= log_max;
}

void mb_log(mb_log_level lvl, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char line[2048];
    int n;
    size_t len;
    va_list ap;

    if (lvl > log_max)
        return;
    if (log_rank >= 0)
        n = snprintf(line, sizeof line, "mpibatch[%d]: %s: ", log_rank, names[lvl]);
    else
        n = snprintf(line, sizeof line, "mpibatch: %s: ", names[lvl]);
    if (n < 0)
        return;
    len = (size_t)n;
    va_start(ap, fmt);
    n = vsnprintf(line + len, sizeof line - len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    len += (size_t)n;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len] = '\0';
    mb_az_redact(line);
    len = strlen(line);
    line[len++] = '\n';
    if (write(STDERR_FILENO, line, len) < 0)
        return;   /* nowhere left to report it */
}
