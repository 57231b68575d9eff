/* imds.c - the instance metadata service client: endpoint, header,
 * timeouts and Microsoft's retry policy over base/backoff. Does not parse
 * what the service returns and logs only its retries, at debug level. */
#include "azure/imds.h"

#include "base/backoff.h"
#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URL_MAX (MB_IMDS_ENDPOINT_MAX + 1024)
#define MAX_RETRIES 5            /* for 404, 429, 5xx */
#define CONN_RETRIES 2           /* nothing answered: probably not on Azure */
#define GONE_WINDOW_S 70.0       /* 410: the service is being updated */
#define BASE_MS 1000L
#define DELAY_MAX_MS 16000.0
#define ATTEMPT_MIN_MS 100.0     /* never 0: http.c would take its 30 s default */
#define LAST_MARGIN_S 0.1        /* no last attempt with less time than this */

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v && v[0] ? v : NULL;
}

mb_status mb_imds_endpoint(const char *given, char out[MB_IMDS_ENDPOINT_MAX], mb_err *err)
{
    const char *ep = env("MPIBATCH_IMDS_ENDPOINT");
    const char *what = ep ? "MPIBATCH_IMDS_ENDPOINT" : "the metadata endpoint";
    size_t n;
    int web;

    out[0] = '\0';
    if (!ep)
        ep = given && given[0] ? given : MB_IMDS_DEFAULT;
    n = strlen(ep);
    web = strncasecmp(ep, "http://", 7) == 0 || strncasecmp(ep, "https://", 8) == 0;
    while (n > 0 && ep[n - 1] == '/')
        n--;
    if (n >= MB_IMDS_ENDPOINT_MAX || !web || strcspn(ep, " \t\r\n?#") < n)
        return mb_err_set(err, MB_EUSAGE,
                          "%s must be an http:// or https:// URL without query, shorter than "
                          "%d bytes",
                          what, MB_IMDS_ENDPOINT_MAX);
    memcpy(out, ep, n);
    out[n] = '\0';
    return MB_OK;
}

int mb_imds_retriable(long status)
{
    return status == 0 || status == 404 || status == 410 || status == 429 || status >= 500;
}

/* $MPIBATCH_IMDS_RETRY_BASE_MS (tests make it small), else the default. */
static long retry_base_ms(void)
{
    const char *s = env("MPIBATCH_IMDS_RETRY_BASE_MS");
    char *end;
    long v;

    if (!s)
        return BASE_MS;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 60000) {
        mb_warn("MPIBATCH_IMDS_RETRY_BASE_MS must be 1..60000; using %ld", BASE_MS);
        return BASE_MS;
    }
    return v;
}

/* What the retry policy has spent so far. */
typedef struct policy {
    mb_backoff b;
    double start;
    int retries;          /* on 404, 429, 5xx */
    int conn_retries;     /* on no answer at all */
} policy;

static void policy_init(policy *p, double retry_s)
{
    double base = (double)retry_base_ms();

    p->start = mb_now_s();
    p->retries = p->conn_retries = 0;
    /* A base above the usual cap (tests, a patient operator) is taken as
     * the cap: the first pause is never shorter than asked. */
    mb_backoff_init(&p->b, base, base > DELAY_MAX_MS ? base : DELAY_MAX_MS, p->start + retry_s,
                    LAST_MARGIN_S);
}

/* Seconds to pause after an attempt that ended in `status` (0: no
 * answer), or -1 when the policy gives up: out of retries of that kind,
 * past the 410 window, or past the deadline. */
static double policy_next(policy *p, long status)
{
    double now = mb_now_s();

    if (!mb_imds_retriable(status))
        return -1;
    if (status == 410 ? now - p->start >= GONE_WINDOW_S
        : status == 0 ? ++p->conn_retries > CONN_RETRIES
                      : ++p->retries > MAX_RETRIES)
        return -1;
    return mb_backoff_next(&p->b, now, 0);
}

/* One attempt; its timeout cut to the deadline when retrying. */
static mb_status attempt(const mb_imds_req *q, const char *url, const policy *p,
                         mb_http_resp *resp, mb_err *err)
{
    static const char *const get_headers[] = {"Metadata: true", NULL};
    static const char *const post_headers[] = {"Metadata: true",
                                               "Content-Type: application/json", NULL};
    double left_ms = p ? (p->b.deadline - mb_now_s()) * 1000.0 : 0;
    mb_http_req req;

    memset(&req, 0, sizeof req);
    req.method = q->method ? q->method : "GET";
    req.url = url;
    req.headers = q->body ? post_headers : get_headers;
    req.body = q->body;
    req.body_len = q->body ? strlen(q->body) : 0;
    req.connect_timeout_ms = q->connect_ms;
    req.timeout_ms = q->timeout_ms;
    if (p) {
        if (left_ms < ATTEMPT_MIN_MS)
            left_ms = ATTEMPT_MIN_MS;
        if (req.timeout_ms == 0 || left_ms < (double)req.timeout_ms)
            req.timeout_ms = (long)left_ms;
    }
    req.max_response = q->max_response;
    return mb_http_do(&req, resp, err);
}

static void log_retry(const mb_imds_req *q, int n, mb_status st, const mb_err *e,
                      const mb_http_resp *r, double delay)
{
    const char *what = q->what ? q->what : "metadata service";
    long ms = (long)(delay * 1000.0 + 0.5);

    if (st == MB_OK)
        mb_debug("%s: attempt %d answered %ld; retrying in %ld ms", what, n, r->status, ms);
    else
        mb_debug("%s: attempt %d failed (%s); retrying in %ld ms", what, n, e->msg, ms);
}

mb_status mb_imds_do(const mb_imds_req *q, mb_http_resp *resp, int *attempts, mb_err *err)
{
    char url[URL_MAX];
    policy p;
    mb_err e;
    mb_status st;
    double delay;
    int n, len;

    memset(resp, 0, sizeof *resp);
    if (attempts)
        *attempts = 0;
    if (!q || !q->base || !q->path)
        return mb_err_set(err, MB_EINTERNAL, "mb_imds_do: NULL argument");
    len = snprintf(url, sizeof url, "%s%s", q->base, q->path);
    if (len < 0 || (size_t)len >= sizeof url)
        return mb_err_set(err, MB_EUSAGE, "metadata service URL longer than %zu bytes",
                          sizeof url - 1);
    if (q->retry_s > 0)
        policy_init(&p, q->retry_s);
    for (n = 1;; n++) {
        mb_err_clear(&e);
        st = attempt(q, url, q->retry_s > 0 ? &p : NULL, resp, &e);
        if (attempts)
            *attempts = n;
        if ((st != MB_OK && st != MB_EQUEUE) || q->retry_s <= 0 ||
            (delay = policy_next(&p, st == MB_OK ? resp->status : 0)) < 0) {
            if (err && st != MB_OK)
                *err = e;
            return st;
        }
        log_retry(q, n, st, &e, resp, delay);
        mb_http_resp_fini(resp);
        mb_backoff_sleep(delay);
    }
}
