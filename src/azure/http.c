/* http.c - one HTTP request with libcurl, bounded in time and size, TLS
 * verification always on. Does not retry, sign, parse or log: callers own
 * the retry policy and decide what a status code means. */
#include "azure/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CONNECT_MS 5000L
#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_MAX_RESPONSE ((size_t)1 << 20)
#define MAX_HEADERS ((size_t)64 << 10)
#define SAFE_URL_MAX 512

/* Metadata and emulator endpoints must never go through a proxy: a proxy
 * would answer for the wrong machine (IMDS) or not at all (loopback). */
static const char NO_PROXY_HOSTS[] = "169.254.169.254,127.0.0.1,localhost,::1";

_Static_assert(sizeof(curl_off_t) == sizeof(int64_t), "curl_off_t holds an int64_t");

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init_once(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

mb_status mb_http_global_init(void)
{
    pthread_once(&global_once, global_init_once);
    return global_rc == CURLE_OK ? MB_OK : MB_EINTERNAL;
}

/* ---- response body ------------------------------------------------------ */

typedef struct sink {
    char *buf;
    size_t len, cap, max;
    int over;      /* the cap was hit: report MB_ELIMIT, not a network error */
    int nomem;
} sink;

/* Grows the buffer to hold `need` bytes plus the NUL, doubling but never
 * beyond max + 1, so the cap also bounds memory. */
static int sink_reserve(sink *s, size_t need)
{
    size_t want, cap;
    char *p;

    if (mb_size_add(need, 1, &want) != 0)
        return -1;
    if (want <= s->cap)
        return 0;
    cap = s->cap ? s->cap : 4096;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    if (s->max < SIZE_MAX && cap > s->max + 1)
        cap = s->max + 1;
    p = mb_realloc(s->buf, cap);
    if (!p)
        return -1;
    s->buf = p;
    s->cap = cap;
    return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ctx)
{
    sink *s = ctx;
    size_t n, end;

    if (mb_size_mul(size, nmemb, &n) != 0 || mb_size_add(s->len, n, &end) != 0 ||
        end > s->max) {
        s->over = 1;
        return 0;  /* a short count makes curl abort with CURLE_WRITE_ERROR */
    }
    if (sink_reserve(s, end) != 0) {
        s->nomem = 1;
        return 0;
    }
    memcpy(s->buf + s->len, data, n);
    s->len = end;
    s->buf[s->len] = '\0';
    return n;
}

/* Header lines go to their own sink. A status line starts a new response
 * (after "100 Continue", say), so only the final response's headers stay. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    sink *s = ctx;
    size_t n;

    if (mb_size_mul(size, nmemb, &n) == 0 && n >= 5 && memcmp(data, "HTTP/", 5) == 0)
        s->len = 0;
    return on_write(data, size, nmemb, ctx);
}

/* ---- error text ----------------------------------------------------------- */

/* Copies the URL without user info, query string and fragment: a SAS
 * signature or password would live there and must not reach a log. */
static void safe_url(const char *url, char *out, size_t cap)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    size_t host_len = strcspn(host, "/?#");
    const char *at = memchr(host, '@', host_len);
    size_t head = (size_t)(host - url);
    size_t rest;

    if (at)
        host = at + 1;
    rest = strcspn(host, "?#");
    snprintf(out, cap, "%.*s%.*s", (int)(head < 64 ? head : 64), url,
             (int)(rest < cap ? rest : cap), host);
}

static mb_status curl_fail(mb_err *err, const mb_http_req *req, CURLcode rc,
                           const char *detail, const sink *s, const sink *hs)
{
    char where[SAFE_URL_MAX];
    const char *text = detail[0] ? detail : curl_easy_strerror(rc);
    mb_status st = MB_EQUEUE;

    safe_url(req->url, where, sizeof where);
    if (s->over)
        return mb_err_set(err, MB_ELIMIT, "%s %s: response larger than %zu bytes",
                          req->method, where, s->max);
    if (hs->over)
        return mb_err_set(err, MB_ELIMIT, "%s %s: response headers larger than %zu bytes",
                          req->method, where, hs->max);
    if (s->nomem || hs->nomem || rc == CURLE_OUT_OF_MEMORY)
        st = MB_ENOMEM;
    else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
        st = MB_EUSAGE;
    return mb_err_set(err, st, "%s %s: %s", req->method, where, text);
}

/* ---- request set-up ------------------------------------------------------- */

static int has_header(const char *const *h, const char *name)
{
    size_t n = strlen(name);

    for (; h && *h; h++)
        if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':')
            return 1;
    return 0;
}

/* The caller's headers, plus two suppressions: curl's default
 * Content-Type for bodies (it would break request signing) and
 * "Expect: 100-continue" (an extra round trip, and not all emulators
 * answer it). Returns NULL only when out of memory. */
static struct curl_slist *build_headers(const mb_http_req *req, int *nomem)
{
    struct curl_slist *list = NULL, *next;
    const char *const *h;

    *nomem = 0;
    for (h = req->headers; h && *h; h++) {
        if (!(next = curl_slist_append(list, *h)))
            goto oom;
        list = next;
    }
    if (!has_header(req->headers, "Content-Type")) {
        if (!(next = curl_slist_append(list, "Content-Type:")))
            goto oom;
        list = next;
    }
    if (!(next = curl_slist_append(list, "Expect:")))
        goto oom;
    return next;
oom:
    curl_slist_free_all(list);
    *nomem = 1;
    return NULL;
}

/* Our no-proxy hosts plus any the environment names; curl would otherwise
 * ignore $no_proxy once CURLOPT_NOPROXY is set. */
static char *no_proxy_list(void)
{
    const char *env = getenv("NO_PROXY");
    size_t len;
    char *s;

    if (!env || !*env)
        env = getenv("no_proxy");
    if (env && strcmp(env, "*") == 0)
        return mb_strdup("*");
    if (!env || !*env)
        return mb_strdup(NO_PROXY_HOSTS);
    if (mb_size_add(sizeof NO_PROXY_HOSTS, strlen(env) + 1, &len) != 0)
        return NULL;
    if (!(s = mb_malloc(len)))
        return NULL;
    snprintf(s, len, "%s,%s", NO_PROXY_HOSTS, env);
    return s;
}

static CURLcode set_method(CURL *c, const mb_http_req *req)
{
    CURLcode rc;

    if (strcmp(req->method, "GET") == 0)
        return curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    if (strcmp(req->method, "HEAD") == 0)
        return curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    /* Any other method sends its body (or an explicit empty one, so that
     * Content-Length: 0 goes out, as Azure requires for PUT and POST). */
    rc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    if (rc == CURLE_OK && strcmp(req->method, "POST") != 0)
        rc = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    return rc;
}

static CURLcode set_limits(CURL *c, const mb_http_req *req, const char *no_proxy)
{
    long conn = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : DEFAULT_CONNECT_MS;
    long total = req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    CURLcode rc = CURLE_OK;

    /* NOSIGNAL: we run in threads, and curl's SIGALRM-based DNS timeout
     * is not thread-safe. */
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, conn);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_NOPROXY, no_proxy);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (rc == CURLE_OK && req->ca_file)
        rc = curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
    return rc;
}

static CURLcode set_all(CURL *c, const mb_http_req *req, struct curl_slist *hdrs,
                        const char *no_proxy, sink *s, sink *hs, char *errbuf)
{
    CURLcode rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_URL, req->url);
    if (rc == CURLE_OK) rc = set_limits(c, req, no_proxy);
    if (rc == CURLE_OK) rc = set_method(c, req);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    if (rc == CURLE_OK && req->resp_headers)
        rc = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    if (rc == CURLE_OK && req->resp_headers)
        rc = curl_easy_setopt(c, CURLOPT_HEADERDATA, hs);
    return rc;
}

/* ---- the request ---------------------------------------------------------- */

static mb_status perform(CURL *c, const mb_http_req *req, mb_http_resp *resp, mb_err *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    char *no_proxy = NULL;
    sink s = {NULL, 0, 0, req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE, 0, 0};
    sink hs = {NULL, 0, 0, MAX_HEADERS, 0, 0};
    mb_status st = MB_OK;
    CURLcode rc;
    int nomem = 0;

    hdrs = build_headers(req, &nomem);
    no_proxy = no_proxy_list();
    if (nomem || !no_proxy || sink_reserve(&s, 0) != 0 || sink_reserve(&hs, 0) != 0) {
        st = mb_err_set(err, MB_ENOMEM, "%s: out of memory", req->method);
        goto out;
    }
    s.buf[0] = '\0';
    hs.buf[0] = '\0';
    rc = set_all(c, req, hdrs, no_proxy, &s, &hs, errbuf);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        st = curl_fail(err, req, rc, errbuf, &s, &hs);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = s.buf;
    resp->body_len = s.len;
    s.buf = NULL;
    if (req->resp_headers) {
        *req->resp_headers = hs.buf;
        hs.buf = NULL;
    }
out:
    free(s.buf);
    free(hs.buf);
    free(no_proxy);
    curl_slist_free_all(hdrs);
    return st;
}

mb_status mb_http_do(const mb_http_req *req, mb_http_resp *resp, mb_err *err)
{
    CURL *c;
    mb_status st;

    if (!req || !req->url || !req->method || !resp)
        return mb_err_set(err, MB_EINTERNAL, "mb_http_do: missing request or response");
    memset(resp, 0, sizeof *resp);
    if (req->resp_headers)
        *req->resp_headers = NULL;
    if ((req->body_len > 0 && !req->body) || (uint64_t)req->body_len > (uint64_t)INT64_MAX)
        return mb_err_set(err, MB_EINTERNAL, "mb_http_do: bad request body");
    if (mb_http_global_init() != MB_OK)
        return mb_err_set(err, MB_EINTERNAL, "libcurl global initialisation failed");
    if (!(c = curl_easy_init()))
        return mb_err_set(err, MB_ENOMEM, "%s: cannot create a curl handle", req->method);
    st = perform(c, req, resp, err);
    curl_easy_cleanup(c);
    return st;
}

void mb_http_resp_fini(mb_http_resp *r)
{
    if (!r)
        return;
    free(r->body);
    memset(r, 0, sizeof *r);
}

int mb_http_header(const char *headers, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name), len;
    const char *p = headers, *next, *v, *end;

    for (; p && *p; p = next) {
        next = p + strcspn(p, "\n");
        if (*next)
            next++;
        if (strncasecmp(p, name, n) != 0 || p[n] != ':')
            continue;
        v = p + n + 1;
        v += strspn(v, " \t");
        end = v + strcspn(v, "\r\n");
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        len = (size_t)(end - v);
        if (len >= cap)
            return 0;
        memcpy(out, v, len);
        out[len] = '\0';
        return 1;
    }
    return 0;
}
