/* imds.h - requests to the Azure instance metadata service (IMDS): the
 * base URL ($MPIBATCH_IMDS_ENDPOINT overrides http://169.254.169.254), the
 * "Metadata: true" header, per-attempt timeouts and, when asked, retries
 * as Microsoft's IMDS guidance says (back off exponentially on 404, 429 and
 * 5xx; keep trying for 70 s on 410, while the service is being updated;
 * give up soon when nothing answers: probably not on Azure). Knows no
 * document formats: callers parse bodies and judge final statuses. */
#ifndef MB_IMDS_H
#define MB_IMDS_H

#include "azure/http.h"
#include "base/mb.h"

#define MB_IMDS_DEFAULT "http://169.254.169.254"
#define MB_IMDS_ENDPOINT_MAX 256

/* The base URL: $MPIBATCH_IMDS_ENDPOINT when set and not empty, else
 * `given` when not NULL or empty, else MB_IMDS_DEFAULT; trailing '/'
 * dropped. MB_EUSAGE (out empty) unless it is an http:// or https:// URL
 * without blanks, query or fragment that fits MB_IMDS_ENDPOINT_MAX. */
mb_status mb_imds_endpoint(const char *given, char out[MB_IMDS_ENDPOINT_MAX], mb_err *err);

typedef struct mb_imds_req {
    const char *base;            /* from mb_imds_endpoint */
    const char *method;          /* NULL: "GET" */
    const char *path;            /* with its query: "/metadata/...?api-version=..." */
    const char *body;            /* POST: a JSON document (sent as such), or NULL */
    long connect_ms, timeout_ms; /* per attempt; 0: http.c's defaults */
    size_t max_response;         /* 0: http.c's default */
    double retry_s;              /* 0: one attempt; else retry for up to this long */
    const char *what;            /* who asks, for the retry log ("managed identity") */
} mb_imds_req;

/* Sends the request; with retry_s > 0, again after a pause (full-jitter
 * backoff from $MPIBATCH_IMDS_RETRY_BASE_MS, default 1000 ms, each pause
 * at most 16 s) while the policy above allows and the deadline is not
 * reached, every attempt's timeout cut to what is left. MB_OK when a
 * final response arrived, whatever its status: one not retried, or the
 * last when retries ran out. MB_EQUEUE when nothing answered in the end
 * (err: the transport's reason, as http.c words it); other statuses as
 * mb_http_do returns them, at once. *attempts (may be NULL) counts the
 * requests sent. resp needs mb_http_resp_fini in every case. */
mb_status mb_imds_do(const mb_imds_req *q, mb_http_resp *resp, int *attempts, mb_err *err);

/* 1 when the policy retries after `status` (0: no answer at all). */
int mb_imds_retriable(long status);

#endif
