/* azure_auth.h - Azure Storage credentials and request signing: pure code,
 * no I/O except the managed-identity token request (through imds.c).
 *
 * Credentials come from the standard environment variables, in this order:
 * AZURE_STORAGE_CONNECTION_STRING (including UseDevelopmentStorage=true),
 * AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, and
 * last a managed identity through the instance metadata service. SharedKey
 * signatures use HMAC-SHA256 through OpenSSL 3's EVP_MAC, canonicalized as
 * Microsoft documents for the 2009-09-19+ versions (including Azurite's
 * path-style URLs, where the account name appears twice in the canonical
 * resource). Secrets never leave this module except inside the header or
 * query string that must carry them; mb_az_redact scrubs them from text. */
#ifndef MB_AZURE_AUTH_H
#define MB_AZURE_AUTH_H

#include "base/redact.h"
#include "base/mb.h"

#include <time.h>

typedef enum mb_az_kind {
    MB_AZ_SHAREDKEY = 1,
    MB_AZ_SAS,
    MB_AZ_TOKEN                      /* managed identity bearer token */
} mb_az_kind;

#define MB_AZ_ACCOUNT_MAX 64
#define MB_AZ_KEY_MAX 128

typedef struct mb_az_cred {
    mb_az_kind kind;
    char account[MB_AZ_ACCOUNT_MAX];
    unsigned char key[MB_AZ_KEY_MAX]; /* decoded account key */
    size_t key_len;
    char *sas;                       /* SAS query string, without '?' */
    char *queue_endpoint;            /* from a connection string, e.g.
                                        http://127.0.0.1:10001/devstoreaccount1 */
    /* managed identity */
    char *imds_endpoint;             /* default http://169.254.169.254;
                                        $MPIBATCH_IMDS_ENDPOINT overrides */
    char *client_id;                 /* $AZURE_CLIENT_ID, user-assigned identity */
    char *token;                     /* cached bearer token */
    time_t token_expires;            /* epoch seconds */
} mb_az_cred;

/* Reads the environment (see above). `account` is the account named by the
 * queue URL (used with AZURE_STORAGE_KEY / SAS / managed identity when the
 * environment names none); MB_EUSAGE with a clear message when the
 * connection string is malformed. Never fails for lack of credentials:
 * the managed identity is the last resort. */
mb_status mb_az_cred_from_env(mb_az_cred *c, const char *account, mb_err *err);

/* Parses a connection string (AccountName=...;AccountKey=...;
 * QueueEndpoint=...;DefaultEndpointsProtocol=...;EndpointSuffix=...;
 * SharedAccessSignature=...; or UseDevelopmentStorage=true). */
mb_status mb_az_parse_connection_string(mb_az_cred *c, const char *cs, mb_err *err);

void mb_az_cred_fini(mb_az_cred *c);     /* wipes the key and token; NULL-safe */

/* The SharedKey string-to-sign of a request (exposed for known-answer
 * tests). `path` is the URL path as sent (percent-encoded, leading '/'),
 * `query` the raw query string without '?' (or NULL); `headers` are the
 * request's "Name: value" lines (NULL-terminated). Content-Length 0 is
 * signed as the empty string, as the 2015-02-21+ rules say. */
mb_status mb_az_string_to_sign(const mb_az_cred *c, const char *method, const char *path,
                               const char *query, const char *const *headers,
                               size_t content_length, char **out, mb_err *err);

/* The Authorization header line "Authorization: SharedKey ACCOUNT:SIG". */
mb_status mb_az_sharedkey_header(const mb_az_cred *c, const char *method, const char *path,
                                 const char *query, const char *const *headers,
                                 size_t content_length, char *out, size_t cap, mb_err *err);

/* A bearer token for https://storage.azure.com/ from the managed identity
 * endpoint (GET /metadata/identity/oauth2/token?api-version=2018-02-01&
 * resource=...), cached until 5 minutes before it expires; retried on
 * 404, 410, 429, 5xx and silence by imds.c, with full-jitter exponential
 * backoff as Microsoft documents, for at most 90 s.
 * Writes "Authorization: Bearer TOKEN" into out. MB_EQUEUE when no token
 * could be had within the deadline. */
mb_status mb_az_token_header(mb_az_cred *c, char *out, size_t cap, mb_err *err);

/* The scrubber lives in base/redact.c (log.c needs it without azure/);
 * this name is kept for the callers in queue/ and core/. */
static inline void mb_az_redact(char *s) { mb_redact(s); }

/* RFC 1123 date for x-ms-date ("Sun, 06 Nov 1994 08:49:37 GMT"), written
 * by base/timefmt; the epoch for a time outside 1970..9999. */
void mb_az_date(time_t t, char out[32]);

/* Base64 helpers (OpenSSL EVP_Encode/DecodeBlock underneath). decode
 * returns MB_EDATA for text that is not base64. out must hold
 * 4*ceil(len/3)+1 (encode) or 3*len/4+3 (decode) bytes. */
mb_status mb_b64_encode(const unsigned char *p, size_t len, char *out, size_t cap);
mb_status mb_b64_decode(const char *p, size_t len, unsigned char *out, size_t cap,
                        size_t *outlen);

#endif
