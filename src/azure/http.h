/* http.h - one HTTP request with libcurl: explicit connect and total
 * timeouts, bounded response size, TLS verification always on. The only
 * module that includes curl/curl.h. Retry policy lives with the callers. */
#ifndef MB_HTTP_H
#define MB_HTTP_H

#include "base/mb.h"

typedef struct mb_http_req {
    const char *method;          /* "GET", "POST", ... */
    const char *url;
    const char *const *headers;  /* NULL-terminated "Name: value" lines, or NULL */
    const char *body;            /* request body or NULL */
    size_t body_len;
    long connect_timeout_ms;     /* 0: 5000 */
    long timeout_ms;             /* whole transfer; 0: 30000 */
    size_t max_response;         /* cap on the response body; 0: 1 MiB */
    const char *ca_file;         /* extra CA bundle, or NULL */
    char **resp_headers;         /* if not NULL: receives the final response's
                                    header lines ("Name: value\r\n"...), NUL-
                                    terminated, at most 64 KiB, owned by the
                                    caller; NULL when no response arrived */
} mb_http_req;

typedef struct mb_http_resp {
    long status;                 /* HTTP status, 0 when no response */
    char *body;                  /* NUL-terminated, owned */
    size_t body_len;
} mb_http_resp;

/* Global libcurl set-up; call once before threads start. */
mb_status mb_http_global_init(void);

/* Performs the request. MB_OK when a response arrived (any status);
 * MB_EQUEUE when the server could not be reached or timed out (message in
 * err, with the URL's query string removed); MB_ELIMIT when the response is
 * larger than max_response. */
mb_status mb_http_do(const mb_http_req *req, mb_http_resp *resp, mb_err *err);
void mb_http_resp_fini(mb_http_resp *r);

/* Copies the value of the first header called `name` (case-insensitive) in
 * a header block from resp_headers, without surrounding blanks, into out.
 * Returns 1 when present and the value fits in cap - 1 bytes, else 0. */
int mb_http_header(const char *headers, const char *name, char *out, size_t cap);

#endif
