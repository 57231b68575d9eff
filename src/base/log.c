/* log.c - formats one line per message and writes it to stderr with a
 * single write(2), so lines from several ranks do not interleave. A line is
 * text ("TIME HOST mpibatch[RANK]: LEVEL: MSG") or one JSON object built
 * with jansson. Every message passes through the secret scrubber as a last
 * line of defence (modules already keep keys, signatures and tokens out of
 * their messages), before it is encoded, so that JSON escaping cannot hide
 * a secret from it. */
#include "base/log.h"
#include "base/timefmt.h"

#include "base/redact.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOST_MAX 256

static int log_rank = -1;
static mb_log_level log_max = MB_LOG_INFO;
static mb_log_format log_fmt = MB_LOG_TEXT;
static char log_host[HOST_MAX];

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* Spaces or control characters would make the text format ambiguous. */
static void set_host(void)
{
    size_t i;

    if (gethostname(log_host, sizeof log_host) != 0)
        log_host[0] = '\0';
    log_host[sizeof log_host - 1] = '\0';
    for (i = 0; log_host[i]; i++)
        if ((unsigned char)log_host[i] <= ' ' || log_host[i] == 0x7f)
            log_host[i] = '_';
    if (!log_host[0])
        snprintf(log_host, sizeof log_host, "localhost");
}

void mb_log_init(int rank, mb_log_level max_level)
{
    if (!log_host[0])
        set_host();
    log_rank = rank;
    log_max = max_level;
}

void mb_log_set_format(mb_log_format fmt)
{
    log_fmt = fmt;
}

mb_status mb_log_format_parse(const char *name, mb_log_format *fmt, mb_err *err)
{
    if (!name || strcmp(name, "text") == 0)
        *fmt = MB_LOG_TEXT;
    else if (strcmp(name, "json") == 0)
        *fmt = MB_LOG_JSON;
    else
        return mb_err_set(err, MB_EUSAGE, "--log-format: '%s' is not text or json", name);
    return MB_OK;
}

const char *mb_log_host(void)
{
    if (!log_host[0])
        set_host();
    return log_host;
}

void mb_log_utc(time_t t, char out[MB_LOG_TIME_MAX])
{
    char iso[MB_TIME_ISO_LEN];

    /* a time outside 1970..9999 is written as the epoch */
    (void)mb_time_format_iso((int64_t)t, iso);
    snprintf(out, MB_LOG_TIME_MAX, "%s", iso);
}

/* The JSON line: NULL when it cannot be built. A message that is not valid
 * UTF-8 (a file name in another encoding) has its non-ASCII bytes replaced,
 * since JSON text must be UTF-8. */
static char *json_line(const struct timespec *now, mb_log_level lvl, char *msg)
{
    char when[MB_LOG_TIME_MAX + 8];
    struct tm tm;
    json_t *s, *o;
    char *text;
    size_t i;

    if (!gmtime_r(&now->tv_sec, &tm))
        memset(&tm, 0, sizeof tm);
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(now->tv_nsec / 1000000));
    if (!(s = json_string(msg))) {
        for (i = 0; msg[i]; i++)
            if ((unsigned char)msg[i] >= 0x80)
                msg[i] = '?';
        s = json_string(msg);
    }
    o = json_pack("{s:s, s:s, s:o, s:s, s:o}", "time", when, "host", mb_log_host(), "rank",
                  log_rank >= 0 ? json_integer(log_rank) : json_null(), "level",
                  level_names[lvl], "msg", s ? s : json_string(""));
    text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

/* Writes all of `text` (which ends in '\n') with one write(2). */
static void emit(const char *text, size_t len)
{
    if (write(STDERR_FILENO, text, len) < 0)
        return;   /* nowhere left to report it */
}

static void text_line(const struct timespec *now, mb_log_level lvl, const char *msg)
{
    char out[2048 + HOST_MAX + 96], when[MB_LOG_TIME_MAX];
    int n;
    size_t len;

    mb_log_utc(now->tv_sec, when);
    if (log_rank >= 0)
        n = snprintf(out, sizeof out, "%s %s mpibatch[%d]: %s: %s", when, mb_log_host(),
                     log_rank, level_names[lvl], msg);
    else
        n = snprintf(out, sizeof out, "%s %s mpibatch: %s: %s", when, mb_log_host(),
                     level_names[lvl], msg);
    if (n < 0)
        return;
    len = (size_t)n < sizeof out - 1 ? (size_t)n : sizeof out - 2;
    out[len++] = '\n';
    emit(out, len);
}

void mb_log(mb_log_level lvl, const char *fmt, ...)
{
    char msg[2048];
    struct timespec now;
    char *js;
    size_t len;
    va_list ap;

    if (lvl > log_max)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    va_start(ap, fmt);
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
        msg[0] = '\0';
    va_end(ap);
    mb_redact(msg);
    if (log_fmt == MB_LOG_JSON && (js = json_line(&now, lvl, msg)) != NULL) {
        len = strlen(js);
        js[len] = '\n';      /* over the NUL: the line is written by length */
        emit(js, len + 1);
        free(js);
        return;
    }
    text_line(&now, lvl, msg);
}
