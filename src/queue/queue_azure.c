/* queue_azure.c - Azure Queue Storage back end over REST; no curl, signing or poison rules. */
/*
 * URLs: https://ACCOUNT.queue.core.windows.net/QUEUE (host style: the
 * account is the first host label) and http(s)://HOST:PORT/ACCOUNT/QUEUE
 * (path style, Azurite). A URL with a query string is refused, so that a SAS
 * never travels in --queue (which ends up in logs): SAS tokens come from the
 * environment through mb_az_cred_from_env. The poison queue is QUEUE-poison
 * (the Azure Functions convention), so QUEUE has at most 56 characters.
 *
 * Version: every request carries x-ms-version API_VERSION. 2023-11-03 is
 * generally available on Azure, accepted by Azurite 3.37 without
 * --skipApiVersionCheck, and newer than 2017-11-09, the first version that
 * accepts OAuth bearer tokens; messagettl=-1 needs 2017-07-29.
 *
 * Message text on the wire: cfg.encoding picks what put sends (base64, the
 * SDK and Functions convention, or XML-escaped text). On receive both are
 * accepted by one rule: text that is canonical base64 (length a multiple of
 * 4, alphabet A-Z a-z 0-9 + /, '=' only as final padding) and decodes to
 * valid UTF-8 without NUL bytes is decoded; anything else is taken as the
 * text itself. A text body that happens to be such base64 (e.g. "Zm9v") is
 * therefore decoded; JSON bodies and paths with '.' never are. The 64 KiB
 * limit applies to the text as sent (after base64), and is checked before
 * sending.
 *
 * Poison: a copy goes to QUEUE-poison (created on first use) as JSON
 * {"message_id", "queue", "dequeue_count", "reason", "body"} in the
 * configured encoding, then the original is deleted; "body" is null when the
 * body could not be read, and cut (with "body_truncated": true) when the
 * copy would pass 64 KiB. A crash between the two steps leaves the message
 * both in the poison queue and (after its lease) in the queue: it may be
 * poisoned twice, never lost.
 * `queue peek --poison` reads the copies back (without
 * claiming them), `queue purge --poison` clears QUEUE-poison.
 *
 * Failures: 408, 429, 500, 502, 503, 504 and connection errors or timeouts
 * are retried with exponential backoff and full jitter, or after the delay
 * the server asks for (Retry-After, x-ms-retry-after-ms), with one
 * x-ms-client-request-id for all attempts of a request, until
 * cfg.retry_deadline: then MB_EQUEUE (exit 69). Other statuses are never
 * retried; errors name the operation, the queue, the status and Azure's
 * error code. A retried update or delete whose first attempt did reach the
 * server fails with 404/PopReceiptMismatch: for delete that is success (the
 * message is gone); for renew and release it is reported as a lost lease,
 * which the run loop survives (the ledger keeps the result counted once).
 *
 * Secrets: URLs are logged and reported without their query string, every
 * error text passes through mb_az_redact, Azure's error details (which may
 * echo a signature's string-to-sign) are not copied, and buffers that held
 * an Authorization header or a SAS URL are wiped after use.
 */
#include "queue/queue.h"

#include "azure/azure_auth.h"
#include "azure/http.h"
#include "base/backoff.h"
#include "base/log.h"
#include "base/timefmt.h"

#include <errno.h>
#include <expat.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define API_VERSION "2023-11-03"
#define POISON_SUFFIX "-poison"
#define QNAME_MIN 3
#define QNAME_MAX 63
#define QBASE_MAX (QNAME_MAX - (sizeof POISON_SUFFIX - 1))
#define ACCOUNT_MIN 3
#define ACCOUNT_MAX 24
#define HOST_MAX 255
#define BASE_MAX (sizeof "https://" + HOST_MAX)
#define PATH_MAX_LEN 512          /* our own paths: prefix, queue, message id */
#define QUERY_MAX 1024            /* our own query strings, before the SAS */
#define AUTH_MAX 8192             /* bearer tokens run to a few KiB */
#define TEXT_MAX MB_MSG_BODY_MAX  /* message text as stored by Azure */
#define PEEK_MAX 32               /* Azure returns at most 32 per call */
#define RESP_SMALL ((size_t)64 << 10)
#define RESP_ONE ((size_t)1 << 20)   /* one message: 64 KiB text, escaped */
#define RESP_MANY ((size_t)16 << 20) /* 32 of them */
#define CONNECT_MS 5000L
#define ATTEMPT_MS 30000L
#define ATTEMPT_MIN_MS 1000L
#define BACKOFF_FIRST_MS 250.0
#define BACKOFF_CAP_MS 8000.0
#define HINT_CAP_MS 60000.0
#define LAST_MARGIN_S 0.1         /* no last attempt with less time than this */
#define XML_DEPTH_MAX 8
#define CODE_MAX 64
#define DETAIL_MAX 200
#define DQ_MAX 1000000000LL

/* ---- state ---------------------------------------------------------------- */

typedef struct azurl {
    char base[BASE_MAX];                 /* scheme://host[:port] */
    char prefix[ACCOUNT_MAX + 2];        /* "/ACCOUNT" in path style, else "" */
    char account[ACCOUNT_MAX + 1];
    char queue[QNAME_MAX + 1];
} azurl;

typedef struct azq {
    azurl u;
    char poison[QNAME_MAX + 1];
    int poison_ready;                    /* the poison queue exists */
    mb_az_cred cred;
    const mb_queue_config *cfg;
} azq;

/* A response with its header lines (pop receipts, counts and retry hints
 * travel in headers). */
typedef struct reply {
    mb_http_resp http;
    char *headers;
} reply;

/* One REST call: what the retry loop needs to (re)send it. */
typedef struct call {
    const char *op;                      /* "Put Message": for errors */
    const char *method;
    const char *queue;                   /* queue name */
    const char *tail;                    /* "", "/messages", "/messages/ID" */
    const char *query;                   /* percent-encoded, without '?' */
    const char *body;
    size_t body_len;
    size_t max_response;
} call;

/* ---- small helpers ---------------------------------------------------------- */

static void reply_fini(reply *r)
{
    mb_http_resp_fini(&r->http);
    free(r->headers);
    r->headers = NULL;
}

/* Falls back to the clock when getrandom fails: the bytes only name
 * requests, nothing depends on their secrecy. */
static void random_bytes(unsigned char *p, size_t n)
{
    size_t got = 0;
    ssize_t r;

    while (got < n) {
        r = getrandom(p + got, n - got, 0);
        if (r <= 0 && errno != EINTR)
            break;
        if (r > 0)
            got += (size_t)r;
    }
    for (; got < n; got++)
        p[got] = (unsigned char)(mb_now_s() * 1e9 + (double)got);
}

static void new_uuid(char out[37])
{
    unsigned char b[16];

    random_bytes(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

/* Formats an error, then scrubs it: whatever a caller passes in (a server
 * message, a curl error), no secret leaves this file. */
static mb_status fail(mb_err *err, mb_status st, const char *fmt, ...) MB_PRINTF(3, 4);

static mb_status fail(mb_err *err, mb_status st, const char *fmt, ...)
{
    char buf[MB_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    mb_az_redact(buf);
    return mb_err_set(err, st, "%s", buf);
}

/* RFC 3986 unreserved characters pass; everything else is %XX. -1 when
 * the result does not fit in cap bytes. */
static int pct_encode(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *in; in++) {
        unsigned char c = (unsigned char)*in;
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        if (o + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

/* Checked decimal in [0, max]; the whole string must be digits. */
static int parse_count(const char *s, long long max, int64_t *out)
{
    char *end;
    long long v;

    if (!*s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

/* ---- URL and names ---------------------------------------------------------- */

/* Azure's rule: 3-63 characters, lowercase letters, digits and single
 * hyphens, starting and ending with a letter or digit. */
static int valid_queue_name(const char *s, size_t len)
{
    size_t i;

    if (len < QNAME_MIN || len > QNAME_MAX)
        return 0;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c == '-') {
            if (i == 0 || i == len - 1 || s[i - 1] == '-')
                return 0;
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            return 0;
        }
    }
    return 1;
}

static int valid_account(const char *s, size_t len)
{
    size_t i;

    if (len < ACCOUNT_MIN || len > ACCOUNT_MAX)
        return 0;
    for (i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

static int valid_host(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > HOST_MAX)
        return 0;
    for (i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || strchr(".-:[]", s[i])))
            return 0;
    return 1;
}

static const char *url_scheme_end(const char *url)
{
    if (strncmp(url, "https://", 8) == 0)
        return url + 8;
    if (strncmp(url, "http://", 7) == 0)
        return url + 7;
    return NULL;
}

static mb_status url_account(azurl *u, const char *s, size_t len, const char *shown,
                             mb_err *err)
{
    if (!valid_account(s, len))
        return mb_err_set(err, MB_EUSAGE,
                          "queue URL %s: '%.*s' is not a storage account name (3-24 lowercase "
                          "letters and digits)",
                          shown, (int)(len < 64 ? len : 64), s);
    memcpy(u->account, s, len);
    u->account[len] = '\0';
    return MB_OK;
}

static mb_status url_queue(azurl *u, const char *s, size_t len, const char *shown, mb_err *err)
{
    if (!valid_queue_name(s, len))
        return mb_err_set(err, MB_EUSAGE,
                          "queue URL %s: '%.*s' is not a queue name (3-63 lowercase letters, "
                          "digits and single hyphens, starting and ending with a letter or digit)",
                          shown, (int)(len < 80 ? len : 80), s);
    if (len > QBASE_MAX)
        return mb_err_set(err, MB_EUSAGE,
                          "queue URL %s: queue name longer than %zu characters leaves no room "
                          "for its poison queue '%.*s" POISON_SUFFIX "'",
                          shown, QBASE_MAX, (int)len, s);
    memcpy(u->queue, s, len);
    u->queue[len] = '\0';
    return MB_OK;
}

/* Splits the path after the host into one segment (host style) or two
 * (path style); a single trailing '/' is tolerated. */
static mb_status url_path(azurl *u, const char *host, size_t host_len, const char *path,
                          const char *shown, mb_err *err)
{
    size_t len = strlen(path), first;
    const char *slash;
    mb_status st;

    if (len > 0 && path[len - 1] == '/')
        len--;
    slash = memchr(path, '/', len);
    if (!slash) {
        first = strcspn(host, ".");
        if (first >= host_len)
            return mb_err_set(err, MB_EUSAGE,
                              "queue URL %s: give the account in the host "
                              "(https://ACCOUNT.queue.core.windows.net/QUEUE) or the path "
                              "(http://HOST:PORT/ACCOUNT/QUEUE)",
                              shown);
        st = url_account(u, host, first, shown, err);
        u->prefix[0] = '\0';
        return st == MB_OK ? url_queue(u, path, len, shown, err) : st;
    }
    if (memchr(slash + 1, '/', len - (size_t)(slash + 1 - path)))
        return mb_err_set(err, MB_EUSAGE, "queue URL %s: too many path segments", shown);
    st = url_account(u, path, (size_t)(slash - path), shown, err);
    if (st == MB_OK)
        snprintf(u->prefix, sizeof u->prefix, "/%s", u->account);
    return st == MB_OK ? url_queue(u, slash + 1, len - (size_t)(slash + 1 - path), shown, err)
                       : st;
}

/* Pure string work: fills *u from an Azure queue URL or says why not. */
static mb_status parse_url(const char *url, azurl *u, mb_err *err)
{
    const char *host = url_scheme_end(url), *path;
    char shown[160];
    size_t host_len;

    memset(u, 0, sizeof *u);
    snprintf(shown, sizeof shown, "'%.*s'", (int)strcspn(url, "?#"), url);
    if (!host)
        return mb_err_set(err, MB_EUSAGE, "queue URL %s: expected http:// or https://", shown);
    if (strpbrk(url, "?#"))
        return mb_err_set(err, MB_EUSAGE,
                          "queue URL %s...: a query string is not accepted (a SAS token belongs "
                          "in AZURE_STORAGE_SAS_TOKEN or the connection string, never in a URL "
                          "that is logged)",
                          shown);
    host_len = strcspn(host, "/");
    if (!valid_host(host, host_len) || memchr(host, '@', host_len))
        return mb_err_set(err, MB_EUSAGE, "queue URL %s: bad host", shown);
    if (host[host_len] != '/' || !host[host_len + 1])
        return mb_err_set(err, MB_EUSAGE, "queue URL %s: names no queue", shown);
    path = host + host_len + 1;
    snprintf(u->base, sizeof u->base, "%.*s", (int)(path - 1 - url), url);
    return url_path(u, host, host_len, path, shown, err);
}

static int azure_accepts(const char *url)
{
    return url_scheme_end(url) != NULL;
}

/* ---- message text ------------------------------------------------------------- */

/* Length of the UTF-8 sequence at p (at most n bytes), or 0 when it is not
 * valid UTF-8 (overlong forms, surrogates, beyond U+10FFFF), and *cp. */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len, i;
    uint32_t c = p[0];

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? (c < 0xf0 ? 3 : 0) : c >= 0xc2 ? 2 : 0;
    if (len == 0 || len > n)
        return 0;
    c &= 0x7fu >> len;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3fu);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* xml_chars: also refuse what XML 1.0 cannot carry (controls but tab, LF,
 * CR; U+FFFE, U+FFFF). Without it: valid UTF-8 and no NUL. */
static int utf8_ok(const char *s, size_t len, int xml_chars)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, k;
    uint32_t c = 0;

    while (i < len) {
        if (!(k = utf8_seq(p + i, len - i, &c)) || c == 0)
            return 0;
        if (xml_chars && ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0xfffe ||
                          c == 0xffff))
            return 0;
        i += k;
    }
    return 1;
}

static int canonical_base64(const char *s, size_t len)
{
    size_t i, pad = 0;

    if (len == 0 || len % 4 != 0)
        return 0;
    if (s[len - 1] == '=')
        pad = s[len - 2] == '=' ? 2 : 1;
    for (i = 0; i < len - pad; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return 0;
    }
    return 1;
}

/* The receive rule (see the top of the file): *out is a fresh NUL-
 * terminated body. MB_ENOMEM is the only failure. */
static mb_status decode_text(const char *text, size_t len, char **out, size_t *out_len)
{
    size_t cap = 3 * (len / 4) + 3, n = 0;
    char *buf = mb_malloc(cap + 1 > len + 1 ? cap + 1 : len + 1);

    if (!buf)
        return MB_ENOMEM;
    if (canonical_base64(text, len) &&
        mb_b64_decode(text, len, (unsigned char *)buf, cap, &n) == MB_OK && n <= cap &&
        utf8_ok(buf, n, 0)) {
        buf[n] = '\0';
    } else {
        memcpy(buf, text, len);
        buf[len] = '\0';
        n = len;
    }
    *out = buf;
    *out_len = n;
    return MB_OK;
}

/* The MessageText to send for a body, per the configured encoding; MB_ELIMIT
 * when it would pass Azure's 64 KiB, MB_EDATA when text mode cannot carry
 * the bytes. */
static mb_status encode_text(const azq *a, mb_msg_encoding enc, const char *body, size_t len,
                             char **out, size_t *out_len, mb_err *err)
{
    size_t need = 4 * ((len + 2) / 3);

    if (enc == MB_MSG_TEXT) {
        if (!utf8_ok(body, len, 1))
            return mb_err_set(err, MB_EDATA,
                              "queue %s: the message body is not UTF-8 text that XML can carry "
                              "(control characters or invalid bytes); use --message-encoding "
                              "base64",
                              a->u.queue);
        need = len;
    }
    if (need > TEXT_MAX)
        return mb_err_set(err, MB_ELIMIT,
                          "queue %s: message body of %zu bytes is %zu bytes as %s, over Azure "
                          "Queue Storage's limit of %d bytes; nothing was sent",
                          a->u.queue, len, need, enc == MB_MSG_TEXT ? "text" : "base64",
                          TEXT_MAX);
    if (!(*out = mb_malloc(need + 1)))
        return mb_err_set(err, MB_ENOMEM, "queue %s: out of memory", a->u.queue);
    if (enc == MB_MSG_TEXT)
        memcpy(*out, body, len);
    else if (mb_b64_encode((const unsigned char *)body, len, *out, need + 1) != MB_OK) {
        free(*out);
        return mb_err_set(err, MB_EINTERNAL, "queue %s: base64 encoding failed", a->u.queue);
    }
    (*out)[need] = '\0';
    *out_len = need;
    return MB_OK;
}

/* <QueueMessage><MessageText>escaped</MessageText></QueueMessage>. CR is
 * sent as a character reference, which XML parsers keep (a raw CR would be
 * normalized away). */
static char *xml_envelope(const char *text, size_t len)
{
    static const char head[] = "<QueueMessage><MessageText>";
    static const char tail[] = "</MessageText></QueueMessage>";
    size_t cap = sizeof head + sizeof tail + 5 * len, o = sizeof head - 1, i;
    char *x;

    if (len > TEXT_MAX || !(x = mb_malloc(cap)))
        return NULL;
    memcpy(x, head, o);
    for (i = 0; i < len; i++) {
        const char *rep = text[i] == '&' ? "&amp;" : text[i] == '<' ? "&lt;"
                        : text[i] == '>' ? "&gt;" : text[i] == '\r' ? "&#13;" : NULL;
        size_t k = rep ? strlen(rep) : 1;
        memcpy(x + o, rep ? rep : text + i, k);
        o += k;
    }
    memcpy(x + o, tail, sizeof tail);
    return x;
}

/* ---- XML responses ------------------------------------------------------------ */

enum field { F_NONE, F_ID, F_RECEIPT, F_DQ, F_INSERTED, F_TEXT, F_CODE, F_MESSAGE };
enum root { R_NONE, R_LIST, R_ERROR, R_OTHER };

typedef struct xitem {
    char id[MB_MSG_ID_MAX];
    char receipt[MB_RECEIPT_MAX];
    char dq[24];
    char inserted[48];
    char *text;
    size_t text_len;
    int text_over;                   /* longer than TEXT_MAX: not handed out */
} xitem;

typedef struct xdoc {
    XML_Parser p;
    enum root root;
    int depth;
    enum field field;
    xitem *items;
    size_t n, max;
    char code[CODE_MAX];
    char message[DETAIL_MAX];
    const char *bad;                 /* why the document was refused */
} xdoc;

static void xdoc_fini(xdoc *d)
{
    size_t i;

    if (!d)
        return;
    for (i = 0; d->items && i < d->n; i++)
        free(d->items[i].text);
    free(d->items);
    memset(d, 0, sizeof *d);
}

static void xml_refuse(xdoc *d, const char *why)
{
    if (!d->bad)
        d->bad = why;
    XML_StopParser(d->p, XML_FALSE);
}

static enum field item_field(const char *name)
{
    static const struct { const char *name; enum field f; } map[] = {
        {"MessageId", F_ID},        {"PopReceipt", F_RECEIPT},  {"DequeueCount", F_DQ},
        {"InsertionTime", F_INSERTED}, {"MessageText", F_TEXT},
    };
    size_t i;

    for (i = 0; i < MB_ARRAY_LEN(map); i++)
        if (strcmp(name, map[i].name) == 0)
            return map[i].f;
    return F_NONE;
}

static void on_root(xdoc *d, const char *name)
{
    d->root = strcmp(name, "QueueMessagesList") == 0 ? R_LIST
            : strcmp(name, "Error") == 0              ? R_ERROR : R_OTHER;
}

static void XMLCALL on_start(void *ctx, const XML_Char *name, const XML_Char **attrs)
{
    xdoc *d = ctx;

    (void)attrs;
    d->field = F_NONE;
    if (++d->depth > XML_DEPTH_MAX) {
        xml_refuse(d, "nested too deeply");
        return;
    }
    if (d->depth == 1) {
        on_root(d, name);
        return;
    }
    if (d->root == R_ERROR && d->depth == 2)
        d->field = strcmp(name, "Code") == 0 ? F_CODE
                 : strcmp(name, "Message") == 0 ? F_MESSAGE : F_NONE;
    if (d->root != R_LIST)
        return;
    if (d->depth == 2 && strcmp(name, "QueueMessage") == 0) {
        if (d->n == d->max) {
            xml_refuse(d, "more messages than were asked for");
            return;
        }
        memset(&d->items[d->n++], 0, sizeof *d->items);
    } else if (d->depth == 3 && d->n > 0) {
        d->field = item_field(name);
    }
}

static void XMLCALL on_end(void *ctx, const XML_Char *name)
{
    xdoc *d = ctx;

    (void)name;
    d->depth--;
    d->field = F_NONE;
}

/* Appends to a fixed field; a value that does not fit spoils the document
 * (ids and receipts must never be silently cut). */
static void append_fixed(xdoc *d, char *dst, size_t cap, const char *s, size_t len)
{
    size_t have = strlen(dst);

    if (len >= cap - have) {
        xml_refuse(d, "a field is longer than expected");
        return;
    }
    memcpy(dst + have, s, len);
    dst[have + len] = '\0';
}

/* Message text grows up to TEXT_MAX; beyond that the item is only marked,
 * so the message can still be poisoned by id and receipt. */
static void append_text(xdoc *d, xitem *it, const char *s, size_t len)
{
    char *p;

    if (it->text_over || len > TEXT_MAX - it->text_len) {
        it->text_over = 1;
        return;
    }
    if (!(p = mb_realloc(it->text, it->text_len + len + 1))) {
        xml_refuse(d, "out of memory");
        return;
    }
    memcpy(p + it->text_len, s, len);
    it->text = p;
    it->text_len += len;
    p[it->text_len] = '\0';
}

/* Keeps the first line of Azure's message only: later lines hold request
 * ids and, for authentication errors, details that echo what was signed. */
static void append_message(xdoc *d, const char *s, size_t len)
{
    size_t have = strlen(d->message), room = sizeof d->message - 1 - have;
    const char *nl = memchr(s, '\n', len);

    if (d->message[0] && have && memchr(d->message, '\n', have))
        return;
    if (nl)
        len = (size_t)(nl - s) + 1;
    if (len > room)
        len = room;
    memcpy(d->message + have, s, len);
    d->message[have + len] = '\0';
}

static void XMLCALL on_text(void *ctx, const XML_Char *s, int len)
{
    xdoc *d = ctx;
    xitem *it = d->n ? &d->items[d->n - 1] : NULL;
    size_t n = len > 0 ? (size_t)len : 0;

    switch (d->field) {
    case F_ID: append_fixed(d, it->id, sizeof it->id, s, n); break;
    case F_RECEIPT: append_fixed(d, it->receipt, sizeof it->receipt, s, n); break;
    case F_DQ: append_fixed(d, it->dq, sizeof it->dq, s, n); break;
    case F_INSERTED: append_fixed(d, it->inserted, sizeof it->inserted, s, n); break;
    case F_TEXT: append_text(d, it, s, n); break;
    case F_CODE: append_fixed(d, d->code, sizeof d->code, s, n); break;
    case F_MESSAGE: append_message(d, s, n); break;
    case F_NONE: break;
    }
}

/* A DTD could declare entities; no Azure response has one. */
static void XMLCALL on_doctype(void *ctx, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal;
    xml_refuse(ctx, "a document type declaration is not accepted");
}

/* Parses an Azure response body: a message list (up to max_items) or an
 * error. 0, or -1 with d->bad saying why. */
static int parse_xml(const char *buf, size_t len, size_t max_items, xdoc *d)
{
    int ok;

    memset(d, 0, sizeof *d);
    if (len > INT_MAX || max_items > PEEK_MAX) {
        d->bad = "too large";
        return -1;
    }
    d->max = max_items;
    if ((max_items && !(d->items = mb_calloc(max_items, sizeof *d->items))) ||
        !(d->p = XML_ParserCreate("UTF-8"))) {
        d->bad = "out of memory";
        return -1;
    }
    XML_SetUserData(d->p, d);
    XML_SetElementHandler(d->p, on_start, on_end);
    XML_SetCharacterDataHandler(d->p, on_text);
    XML_SetStartDoctypeDeclHandler(d->p, on_doctype);
    ok = XML_Parse(d->p, buf, (int)len, XML_TRUE) == XML_STATUS_OK;
    if (!ok && !d->bad)
        d->bad = XML_ErrorString(XML_GetErrorCode(d->p));
    XML_ParserFree(d->p);
    d->p = NULL;
    if (ok && d->root == R_NONE)
        d->bad = "empty document";
    return d->bad ? -1 : 0;
}

/* Copies one parsed item into *m. With a receipt required (claim), a
 * message without one is a malformed response. MB_ELIMIT (id and receipt
 * set, no body) when its text is over the limit. */
static mb_status item_to_msg(const azq *a, const xitem *it, int need_receipt, mb_msg *m,
                             mb_err *err)
{
    int64_t dq = 0, inserted;

    if (!it->id[0] || (need_receipt && !it->receipt[0]) || parse_count(it->dq, DQ_MAX, &dq))
        return mb_err_set(err, MB_EQUEUE,
                          "queue %s: malformed message in the response (no id, pop receipt or "
                          "dequeue count)",
                          a->u.queue);
    memcpy(m->id, it->id, sizeof m->id);
    memcpy(m->receipt, it->receipt, sizeof m->receipt);
    m->dequeue_count = dq;
    /* The insertion time is informational: 0 when it does not parse. */
    m->enqueued_ms = mb_time_parse_http(it->inserted, &inserted) == MB_OK ? inserted * 1000 : 0;
    if (it->text_over)
        return mb_err_set(err, MB_ELIMIT,
                          "queue %s: message %s: text longer than %d bytes, more than Azure "
                          "Queue Storage allows",
                          a->u.queue, m->id, TEXT_MAX);
    if (decode_text(it->text ? it->text : "", it->text_len, &m->body, &m->body_len) != MB_OK)
        return mb_err_set(err, MB_ENOMEM, "queue %s: message %s: out of memory", a->u.queue,
                          m->id);
    return MB_OK;
}

/* ---- requests ------------------------------------------------------------------ */

static int retryable(long status)
{
    return status == 408 || status == 429 || status == 500 || status == 502 ||
           status == 503 || status == 504;
}

/* Builds path, full URL (SAS appended) and headers for one attempt. */
static mb_status build_url(const azq *a, const call *c, char *path, size_t path_cap,
                           char **url, mb_err *err)
{
    const char *sas = a->cred.kind == MB_AZ_SAS && a->cred.sas ? a->cred.sas : "";
    size_t need;
    int n = snprintf(path, path_cap, "%s/%s%s", a->u.prefix, c->queue, c->tail);

    if (n < 0 || (size_t)n >= path_cap)
        return mb_err_set(err, MB_EINTERNAL, "queue %s: %s: path too long", a->u.queue, c->op);
    need = strlen(a->u.base) + (size_t)n + strlen(c->query) + strlen(sas) + 3;
    if (!(*url = mb_malloc(need)))
        return mb_err_set(err, MB_ENOMEM, "queue %s: out of memory", a->u.queue);
    snprintf(*url, need, "%s%s%s%s%s%s", a->u.base, path, c->query[0] || sas[0] ? "?" : "",
             c->query, c->query[0] && sas[0] ? "&" : "", sas);
    return MB_OK;
}

static mb_status auth_header(azq *a, const call *c, const char *path, const char *const *hdrs,
                             char *out, size_t cap, mb_err *err)
{
    mb_status st = MB_OK;

    out[0] = '\0';
    if (a->cred.kind == MB_AZ_SHAREDKEY)
        st = mb_az_sharedkey_header(&a->cred, c->method, path, c->query, hdrs, c->body_len, out,
                                    cap, err);
    else if (a->cred.kind == MB_AZ_TOKEN)
        st = mb_az_token_header(&a->cred, out, cap, err);
    if (st != MB_OK)
        mb_az_redact(err ? err->msg : out);
    return st;
}

/* One attempt. MB_OK when any response arrived; MB_EQUEUE with *sent set
 * when the server could not be reached in time. A failure before sending
 * (credentials: the managed identity retries on its own) leaves *sent 0
 * and is final. */
static mb_status send_once(azq *a, const call *c, const char *reqid, long timeout_ms,
                           reply *resp, int *sent, mb_err *err)
{
    char path[PATH_MAX_LEN], date[32], date_h[48], id_h[80], auth[AUTH_MAX];
    const char *hdrs[6] = {"x-ms-version: " API_VERSION, date_h, id_h, NULL, NULL, NULL};
    mb_http_req req;
    char *url = NULL;
    mb_status st;

    memset(resp, 0, sizeof *resp);
    *sent = 0;
    mb_az_date(time(NULL), date);
    snprintf(date_h, sizeof date_h, "x-ms-date: %s", date);
    snprintf(id_h, sizeof id_h, "x-ms-client-request-id: %s", reqid);
    st = build_url(a, c, path, sizeof path, &url, err);
    if (st == MB_OK)
        st = auth_header(a, c, path, hdrs, auth, sizeof auth, err);
    if (st == MB_OK) {
        hdrs[3] = auth[0] ? auth : NULL;
        memset(&req, 0, sizeof req);
        req.method = c->method;
        req.url = url;
        req.headers = hdrs;
        req.body = c->body;
        req.body_len = c->body_len;
        req.connect_timeout_ms = timeout_ms < CONNECT_MS ? timeout_ms : CONNECT_MS;
        req.timeout_ms = timeout_ms;
        req.max_response = c->max_response ? c->max_response : RESP_SMALL;
        req.ca_file = a->cfg->ca_file;
        req.resp_headers = &resp->headers;
        *sent = 1;
        st = mb_http_do(&req, &resp->http, err);
        if (st != MB_OK && err)
            mb_az_redact(err->msg);
    }
    explicit_bzero(auth, sizeof auth);
    if (url)
        explicit_bzero(url, strlen(url));
    free(url);
    return st;
}

/* The wait the server asked for, in ms (0: none): the larger of
 * x-ms-retry-after-ms and Retry-After in seconds. Retry-After as an HTTP
 * date is ignored (our backoff applies): it would be measured against this
 * host's clock, and a few minutes of skew would make it give up at once. */
static double server_hint_ms(const reply *r)
{
    char v[32];
    int64_t n;
    double ms = 0;

    if (mb_http_header(r->headers, "x-ms-retry-after-ms", v, sizeof v) &&
        parse_count(v, (long long)HINT_CAP_MS, &n) == 0)
        ms = (double)n;
    if (mb_http_header(r->headers, "Retry-After", v, sizeof v) &&
        parse_count(v, (long long)(HINT_CAP_MS / 1000), &n) == 0 && (double)n * 1000 > ms)
        ms = (double)n * 1000;
    return ms;
}

/* Azure's error codes are words such as "PopReceiptMismatch"; anything
 * else a server (or a proxy) sends in their place is not shown. */
static int plausible_code(const char *s)
{
    size_t i;

    for (i = 0; s[i]; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return i > 0;
}

/* Azure's error code: from the XML body, else the x-ms-error-code header;
 * the first line of its message, with any other control character (a tab,
 * from the body) made a blank, so that neither can split or steer a log
 * line. d is cleared first: an empty body (common with 5xx from proxies
 * and load balancers) skips the parse, and xdoc_fini must not see garbage. */
static void error_code(const reply *r, char *code, size_t cap, char *detail,
                       size_t dcap)
{
    xdoc d;
    size_t i;

    memset(&d, 0, sizeof d);
    code[0] = detail[0] = '\0';
    if (r->http.body && r->http.body_len &&
        parse_xml(r->http.body, r->http.body_len, 0, &d) == 0 && d.root == R_ERROR) {
        if (plausible_code(d.code))
            snprintf(code, cap, "%s", d.code);
        snprintf(detail, dcap, "%.*s", (int)strcspn(d.message, "\r\n"), d.message);
        for (i = 0; detail[i]; i++)
            if ((unsigned char)detail[i] < 0x20 || detail[i] == 0x7f)
                detail[i] = ' ';
    }
    xdoc_fini(&d);
    if (!code[0] &&
        (!mb_http_header(r->headers, "x-ms-error-code", code, cap) || !plausible_code(code)))
        code[0] = '\0';
}

static const char *code_hint(long status, const char *code)
{
    static const struct { const char *code; const char *hint; } hints[] = {
        {"AuthenticationFailed", "the account key or SAS is wrong"},
        {"AuthorizationFailure",
         "the credentials may not do this (SAS permissions, network rules)"},
        {"AuthorizationPermissionMismatch",
         "the identity lacks a role such as Storage Queue Data Contributor"},
        {"QueueNotFound", "the queue does not exist (enqueue creates it)"},
        {"InvalidHeaderValue", "the server does not accept x-ms-version " API_VERSION},
        {"MessageTooLarge", "the message is larger than 64 KiB"},
        {"RequestBodyTooLarge", "the message is larger than 64 KiB"},
    };
    size_t i;

    for (i = 0; i < MB_ARRAY_LEN(hints); i++)
        if (strcmp(code, hints[i].code) == 0)
            return hints[i].hint;
    return status == 401 || status == 403 ? "the credentials were refused" : "";
}

/* The error for a response nobody expected: names operation, queue,
 * status, Azure's code and, when we know one, what it usually means. */
static mb_status status_fail(const call *c, const reply *r, mb_err *err)
{
    char code[CODE_MAX], detail[DETAIL_MAX];
    const char *hint;
    mb_status st = MB_EQUEUE;

    error_code(r, code, sizeof code, detail, sizeof detail);
    hint = code_hint(r->http.status, code);
    if (r->http.status == 404 && strcmp(code, "QueueNotFound") == 0)
        st = MB_ENOENT;
    else if (r->http.status == 413 || strcmp(code, "MessageTooLarge") == 0 ||
             strcmp(code, "RequestBodyTooLarge") == 0)
        st = MB_ELIMIT;
    return fail(err, st, "queue %s: %s: %ld %s%s%s%s%s%s", c->queue, c->op, r->http.status,
                code[0] ? code : "(no error code)", hint[0] ? ": " : "", hint,
                detail[0] ? " (server: " : "", detail, detail[0] ? ")" : "");
}

/* Describes a failed attempt for the retry log and the final error. */
static void attempt_text(mb_status st, const mb_err *e, const reply *r, char *out,
                         size_t cap)
{
    char code[CODE_MAX], detail[DETAIL_MAX];

    if (st != MB_OK) {
        snprintf(out, cap, "%s", e->msg);
        return;
    }
    error_code(r, code, sizeof code, detail, sizeof detail);
    snprintf(out, cap, "%ld %s", r->http.status, code[0] ? code : "(no error code)");
}

/* Each attempt gets what is left of the deadline, between 1 s and 30 s. */
static long attempt_ms(double left_s)
{
    double ms = left_s * 1000;

    return ms < ATTEMPT_MIN_MS ? ATTEMPT_MIN_MS : ms > ATTEMPT_MS ? ATTEMPT_MS : (long)ms;
}

/* Sends c until a response that is not retryable arrives (MB_OK, the
 * caller judges the status) or the retry deadline passes (MB_EQUEUE).
 * *attempts says how many requests went out. */
static mb_status execute(azq *a, const call *c, reply *resp, int *attempts, mb_err *err)
{
    char reqid[37], last[MB_ERR_MAX / 2];
    double start = mb_now_s(), deadline = start + a->cfg->retry_deadline, delay;
    mb_backoff b;
    mb_status st;
    mb_err e;
    int n, sent;

    new_uuid(reqid);
    /* Full-jitter backoff from 250 ms up to 8 s, or the server's wait;
     * every attempt starts before the retry deadline. */
    mb_backoff_init(&b, BACKOFF_FIRST_MS, BACKOFF_CAP_MS, deadline, LAST_MARGIN_S);
    for (n = 1;; n++) {
        mb_err_clear(&e);
        st = send_once(a, c, reqid, attempt_ms(deadline - mb_now_s()), resp, &sent, &e);
        *attempts = n;
        if (st == MB_OK && !retryable(resp->http.status))
            return MB_OK;
        if (st != MB_OK && (st != MB_EQUEUE || !sent)) {
            if (err)
                *err = e;
            return st;
        }
        attempt_text(st, &e, resp, last, sizeof last);
        delay = mb_backoff_next(&b, mb_now_s(), st == MB_OK ? server_hint_ms(resp) / 1000 : 0);
        reply_fini(resp);
        if (delay < 0)
            return fail(err, MB_EQUEUE,
                        "queue %s: %s: gave up after %d attempt%s in %.1f s (retry deadline "
                        "%.0f s): %s",
                        c->queue, c->op, n, n == 1 ? "" : "s", mb_now_s() - start,
                        a->cfg->retry_deadline, last);
        mb_warn("queue %s: %s: %s; retry %d in %.2f s (request id %s)", c->queue, c->op, last,
                n, delay, reqid);
        mb_backoff_sleep(delay);
    }
}

/* ---- operations ------------------------------------------------------------------ */

static mb_status create_queue(azq *a, const char *name, mb_err *err)
{
    call c = {"Create Queue", "PUT", name, "", "", NULL, 0, 0};
    reply r;
    int n;
    mb_status st = execute(a, &c, &r, &n, err);

    if (st == MB_OK && r.http.status != 201 && r.http.status != 204 && r.http.status != 409)
        st = status_fail(&c, &r, err);
    reply_fini(&r);
    return st;
}

static mb_status put_text(azq *a, const char *queue, const char *body, size_t len, mb_err *err)
{
    call c = {"Put Message", "POST", queue, "/messages", "visibilitytimeout=0&messagettl=-1",
              NULL, 0, 0};
    reply r;
    char *text = NULL, *xml = NULL;
    size_t text_len = 0;
    int n;
    mb_status st = encode_text(a, a->cfg->encoding, body, len, &text, &text_len, err);

    if (st != MB_OK)
        return st;
    if (!(xml = xml_envelope(text, text_len))) {
        free(text);
        return mb_err_set(err, MB_ENOMEM, "queue %s: out of memory", queue);
    }
    c.body = xml;
    c.body_len = strlen(xml);
    st = execute(a, &c, &r, &n, err);
    if (st == MB_OK && r.http.status != 201)
        st = status_fail(&c, &r, err);
    reply_fini(&r);
    free(xml);
    free(text);
    return st;
}

static mb_status az_put(mb_queue *q, const char *body, size_t len, mb_err *err)
{
    azq *a = q->impl;

    return put_text(a, a->u.queue, body, len, err);
}

static mb_status parse_list(const azq *a, const call *c, const reply *r, size_t max,
                            xdoc *d, mb_err *err)
{
    if (parse_xml(r->http.body, r->http.body_len, max, d) == 0 && d->root == R_LIST)
        return MB_OK;
    return mb_err_set(err, MB_EQUEUE, "queue %s: %s: malformed response: %s", a->u.queue, c->op,
                      d->bad ? d->bad : "not a message list");
}

static mb_status az_claim(mb_queue *q, unsigned visibility_s, mb_msg *m, mb_err *err)
{
    azq *a = q->impl;
    char query[64];
    call c = {"Get Messages", "GET", a->u.queue, "/messages", query, NULL, 0, RESP_ONE};
    reply r;
    xdoc d;
    int n;
    mb_status st;

    snprintf(query, sizeof query, "numofmessages=1&visibilitytimeout=%u", visibility_s);
    memset(&d, 0, sizeof d);
    st = execute(a, &c, &r, &n, err);
    if (st == MB_OK && r.http.status != 200)
        st = status_fail(&c, &r, err);
    if (st == MB_OK)
        st = parse_list(a, &c, &r, 1, &d, err);
    if (st == MB_OK && d.n == 0)
        st = mb_err_set(err, MB_EAGAIN, "queue %s: no visible message", a->u.queue);
    else if (st == MB_OK)
        st = item_to_msg(a, &d.items[0], 1, m, err);
    xdoc_fini(&d);
    reply_fini(&r);
    return st;
}

static mb_status lease_lost(const azq *a, const call *c, const mb_msg *m, long status,
                            mb_err *err)
{
    return mb_err_set(err, MB_ELEASE,
                      "queue %s: %s: message %s: lease lost (%ld: it expired and was claimed "
                      "again, or the message was deleted)",
                      a->u.queue, c->op, m->id, status);
}

/* Did the server say the message or the receipt is no longer ours? */
static int is_lease_loss(const reply *r)
{
    char code[CODE_MAX], detail[DETAIL_MAX];

    if (r->http.status == 404)
        return 1;
    if (r->http.status != 400)
        return 0;
    error_code(r, code, sizeof code, detail, sizeof detail);
    return strcmp(code, "PopReceiptMismatch") == 0;
}

/* "/messages/ID" and "popreceipt=R" (plus extra), percent-encoded. */
static mb_status message_target(const azq *a, const mb_msg *m, const char *extra, char *tail,
                                size_t tcap, char *query, size_t qcap, mb_err *err)
{
    char id[3 * MB_MSG_ID_MAX], rc[3 * MB_RECEIPT_MAX];
    int n1, n2;

    if (pct_encode(m->id, id, sizeof id) || pct_encode(m->receipt, rc, sizeof rc))
        return mb_err_set(err, MB_EINTERNAL, "queue %s: message id or receipt too long",
                          a->u.queue);
    n1 = snprintf(tail, tcap, "/messages/%s", id);
    n2 = snprintf(query, qcap, "popreceipt=%s%s", rc, extra);
    if (n1 < 0 || (size_t)n1 >= tcap || n2 < 0 || (size_t)n2 >= qcap)
        return mb_err_set(err, MB_EINTERNAL, "queue %s: message id or receipt too long",
                          a->u.queue);
    return MB_OK;
}

/* Update Message: the lease now ends visibility_s from now, under the new
 * pop receipt the server returns. */
static mb_status update(azq *a, const char *queue, mb_msg *m, unsigned visibility_s,
                        const char *op, mb_err *err)
{
    char tail[PATH_MAX_LEN], query[QUERY_MAX], extra[48], receipt[MB_RECEIPT_MAX];
    call c = {op, "PUT", queue, tail, query, NULL, 0, 0};
    reply r;
    int n;
    mb_status st;

    snprintf(extra, sizeof extra, "&visibilitytimeout=%u", visibility_s);
    st = message_target(a, m, extra, tail, sizeof tail, query, sizeof query, err);
    if (st != MB_OK)
        return st;
    st = execute(a, &c, &r, &n, err);
    if (st == MB_OK && r.http.status != 204)
        st = is_lease_loss(&r) ? lease_lost(a, &c, m, r.http.status, err)
                               : status_fail(&c, &r, err);
    if (st == MB_OK && !mb_http_header(r.headers, "x-ms-popreceipt", receipt, sizeof receipt))
        st = mb_err_set(err, MB_EQUEUE, "queue %s: %s: message %s: no usable x-ms-popreceipt "
                        "in the response", a->u.queue, op, m->id);
    if (st == MB_OK)
        memcpy(m->receipt, receipt, sizeof m->receipt);
    reply_fini(&r);
    return st;
}

static mb_status az_renew(mb_queue *q, mb_msg *m, unsigned visibility_s, mb_err *err)
{
    azq *a = q->impl;

    return update(a, a->u.queue, m, visibility_s, "Update Message (renew)", err);
}

static mb_status az_release(mb_queue *q, mb_msg *m, unsigned delay_s, mb_err *err)
{
    azq *a = q->impl;
    mb_status st = update(a, a->u.queue, m, delay_s, "Update Message (release)", err);

    if (st == MB_OK)
        m->receipt[0] = '\0';
    return st;
}

/* A 404 after a retried attempt most likely answers our own earlier
 * delete, whose response was lost: the message is gone either way. */
static mb_status delete_msg(azq *a, const char *queue, const mb_msg *m, mb_err *err)
{
    char tail[PATH_MAX_LEN], query[QUERY_MAX];
    call c = {"Delete Message", "DELETE", queue, tail, query, NULL, 0, 0};
    reply r;
    int n = 0;
    mb_status st = message_target(a, m, "", tail, sizeof tail, query, sizeof query, err);

    if (st != MB_OK)
        return st;
    st = execute(a, &c, &r, &n, err);
    if (st == MB_OK && r.http.status != 204 && !(r.http.status == 404 && n > 1))
        st = is_lease_loss(&r) ? lease_lost(a, &c, m, r.http.status, err)
                               : status_fail(&c, &r, err);
    reply_fini(&r);
    return st;
}

static mb_status az_remove(mb_queue *q, const mb_msg *m, mb_err *err)
{
    azq *a = q->impl;

    return delete_msg(a, a->u.queue, m, err);
}

/* The JSON copy for the poison queue, or NULL when out of memory. keep is
 * how many body bytes to include (cut at a UTF-8 boundary by the caller). */
static char *poison_json(const azq *a, const mb_msg *m, const char *reason, size_t keep)
{
    json_t *o = json_object(), *body = NULL;
    char *s = NULL;

    if (m->body)
        body = json_stringn(m->body, keep);
    if (o && !json_object_set_new(o, "message_id", json_string(m->id)) &&
        !json_object_set_new(o, "queue", json_string(a->u.queue)) &&
        !json_object_set_new(o, "dequeue_count", json_integer((json_int_t)m->dequeue_count)) &&
        !json_object_set_new(o, "reason", json_string(reason)) &&
        !json_object_set_new(o, "body", body ? body : json_null()) &&
        (keep == m->body_len || !json_object_set_new(o, "body_truncated", json_true())))
        s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* Largest prefix of at most want bytes that ends on a UTF-8 boundary. */
static size_t utf8_cut(const char *s, size_t want)
{
    while (want > 0 && ((unsigned char)s[want] & 0xc0) == 0x80)
        want--;
    return want;
}

/* Puts the JSON copy, shrinking the body until the encoded copy fits. */
static mb_status put_poison_copy(azq *a, const mb_msg *m, const char *reason, mb_err *err)
{
    size_t keep = m->body ? m->body_len : 0;
    mb_status st = MB_ELIMIT;
    char *json;
    int tries;

    for (tries = 0; tries < 16 && st == MB_ELIMIT; tries++) {
        if (!(json = poison_json(a, m, reason, keep)))
            return mb_err_set(err, MB_ENOMEM, "queue %s: out of memory", a->u.queue);
        st = put_text(a, a->poison, json, strlen(json), err);
        free(json);
        keep = m->body ? utf8_cut(m->body, keep / 2) : 0;
    }
    return st;
}

static mb_status az_poison(mb_queue *q, const mb_msg *m, const char *reason, mb_err *err)
{
    azq *a = q->impl;
    mb_status st = MB_OK;

    if (!a->poison_ready && (st = create_queue(a, a->poison, err)) == MB_OK)
        a->poison_ready = 1;
    if (st == MB_OK)
        st = put_poison_copy(a, m, reason, err);
    if (st == MB_OK)
        st = az_remove(q, m, err);
    return st;
}

/* The original body of a poison copy (see poison_json), or NULL when the
 * copy is not one of ours or its body was cut to fit. */
static char *poison_body(const mb_msg *m, char *orig_id, size_t cap, size_t *len)
{
    json_t *o = json_loadb(m->body ? m->body : "", m->body_len, 0, NULL);
    json_t *b = json_object_get(o, "body"), *id = json_object_get(o, "message_id");
    char *out = NULL;

    orig_id[0] = '\0';
    if (json_is_string(id))
        snprintf(orig_id, cap, "%s", json_string_value(id));
    if (json_is_string(b) && !json_is_true(json_object_get(o, "body_truncated")) &&
        (out = mb_malloc(json_string_length(b) + 1)) != NULL) {
        memcpy(out, json_string_value(b), json_string_length(b) + 1);
        *len = json_string_length(b);
    }
    json_decref(o);
    return out;
}

/* One poison copy: put back into the queue and deleted (1), or not ours
 * to move (0: it stays leased until the redrive ends). */
static int redrive_one(azq *a, const mb_msg *m, const char *id, mb_err *err)
{
    char orig[MB_MSG_ID_MAX];
    size_t len = 0;
    char *body = poison_body(m, orig, sizeof orig, &len);
    mb_status st = MB_OK;
    int moved = 0;

    if (body && (!id || strcmp(id, m->id) == 0 || strcmp(id, orig) == 0)) {
        st = put_text(a, a->u.queue, body, len, err);
        if (st == MB_OK && (st = delete_msg(a, a->poison, m, err)) == MB_OK)
            moved = 1;
    }
    free(body);
    return st == MB_OK ? moved : -1;
}

/* Leased copies that were not moved become visible again at once. */
static void redrive_leave(azq *a, mb_msg *left, size_t n)
{
    mb_err e;
    size_t i;

    for (i = 0; i < n; i++) {
        (void)update(a, a->poison, &left[i], 0, "Update Message (redrive: leave)", &e);
        mb_msg_fini(&left[i]);
    }
}

/* Takes the copies in QUEUE-poison 32 at a time under a short lease, moves
 * those that match (all without an id) and makes the others visible again
 * when done, so a filtered redrive leaves the rest as it was. At most
 * REDRIVE_MAX copies are looked at in one call. */
#define REDRIVE_MAX 4096
static mb_status az_redrive(mb_queue *q, const char *id, uint64_t *moved, mb_err *err)
{
    azq *a = q->impl;
    char query[96];
    call c = {"Get Messages (poison)", "GET", a->poison, "/messages", query, NULL, 0, RESP_MANY};
    mb_msg *left = mb_calloc(REDRIVE_MAX, sizeof *left);
    size_t nleft = 0, seen = 0, i;
    mb_status st = left ? MB_OK : mb_err_set(err, MB_ENOMEM, "out of memory");
    int n, done = 0;

    *moved = 0;
    snprintf(query, sizeof query, "numofmessages=%d&visibilitytimeout=120", PEEK_MAX);
    while (st == MB_OK && !done && seen + PEEK_MAX <= REDRIVE_MAX) {
        reply r;
        xdoc d;
        memset(&d, 0, sizeof d);
        st = execute(a, &c, &r, &n, err);
        if (st == MB_OK && r.http.status == 404)
            done = 1;                      /* no poison queue: nothing poisoned */
        else if (st == MB_OK && r.http.status != 200)
            st = status_fail(&c, &r, err);
        else if (st == MB_OK)
            st = parse_list(a, &c, &r, PEEK_MAX, &d, err);
        done = done || d.n == 0;
        for (i = 0; st == MB_OK && i < d.n; i++) {
            mb_msg m;
            int k;
            memset(&m, 0, sizeof m);
            seen++;
            if (item_to_msg(a, &d.items[i], 1, &m, err) != MB_OK) {
                mb_msg_fini(&m);
                continue;
            }
            if ((k = redrive_one(a, &m, id, err)) < 0)
                st = err ? err->code : MB_EQUEUE;
            *moved += k > 0 ? 1u : 0u;
            if (k == 0)
                left[nleft++] = m;         /* keeps its lease until the end */
            else
                mb_msg_fini(&m);
        }
        xdoc_fini(&d);
        reply_fini(&r);
    }
    if (left)
        redrive_leave(a, left, nleft);
    free(left);
    return st;
}

/* x-ms-approximate-messages-count of one queue; a missing queue counts 0
 * when missing_ok (the poison queue before its first use). */
static mb_status queue_count(azq *a, const char *queue, int missing_ok, int64_t *out,
                             mb_err *err)
{
    call c = {"Get Queue Metadata", "GET", queue, "", "comp=metadata", NULL, 0, 0};
    reply r;
    char v[32];
    int n;
    mb_status st = execute(a, &c, &r, &n, err);

    *out = 0;
    if (st == MB_OK && r.http.status == 404 && missing_ok)
        st = MB_OK;
    else if (st == MB_OK && r.http.status != 200)
        st = status_fail(&c, &r, err);
    else if (st == MB_OK && (!mb_http_header(r.headers, "x-ms-approximate-messages-count", v,
                                                  sizeof v) ||
                             parse_count(v, INT64_MAX, out) != 0))
        st = mb_err_set(err, MB_EQUEUE, "queue %s: %s: no usable message count in the response",
                        queue, c.op);
    reply_fini(&r);
    return st;
}

/* Azure counts hidden messages too and cannot tell them apart: all of
 * them are reported as visible, leased as 0. */
static mb_status az_count(mb_queue *q, int64_t *visible, int64_t *leased, int64_t *poisoned,
                          mb_err *err)
{
    azq *a = q->impl;
    mb_status st = queue_count(a, a->u.queue, 0, visible, err);

    *leased = 0;
    if (st == MB_OK)
        st = queue_count(a, a->poison, 1, poisoned, err);
    return st;
}

/* Peek Messages on `queue` into *d, up to `want` items; a missing queue is
 * an empty list when missing_ok (the poison queue before its first use). */
static mb_status peek_list(azq *a, const char *queue, int missing_ok, size_t want, xdoc *d,
                           mb_err *err)
{
    char query[64];
    call c = {"Peek Messages", "GET", queue, "/messages", query, NULL, 0, RESP_MANY};
    reply r;
    int tries;
    mb_status st;

    snprintf(query, sizeof query, "peekonly=true&numofmessages=%zu", want);
    memset(d, 0, sizeof *d);
    st = execute(a, &c, &r, &tries, err);
    if (st == MB_OK && r.http.status == 404 && missing_ok)
        st = MB_OK;
    else if (st == MB_OK && r.http.status != 200)
        st = status_fail(&c, &r, err);
    else if (st == MB_OK)
        st = parse_list(a, &c, &r, want, d, err);
    reply_fini(&r);
    return st;
}

static mb_status az_peek(mb_queue *q, mb_msg *out, size_t cap, size_t *n, mb_err *err)
{
    azq *a = q->impl;
    size_t want = cap < PEEK_MAX ? cap : PEEK_MAX, i;
    xdoc d;
    mb_status st = peek_list(a, a->u.queue, 0, want, &d, err);

    for (i = 0; st == MB_OK && i < d.n; i++) {
        mb_status one = item_to_msg(a, &d.items[i], 0, &out[*n], err);
        if (one == MB_OK)
            (*n)++;
        else if (one != MB_ELIMIT)
            st = one;
        if (one != MB_OK)
            mb_msg_fini(&out[*n]);
    }
    mb_err_clear(st == MB_OK ? err : NULL);
    xdoc_fini(&d);
    return st;
}

/* A poison copy as `peek --poison` shows it: the original's id, dequeue
 * count, reason and body from our JSON (see poison_json). A copy that is
 * not ours (other software, e.g. Azure Functions, moves the bare body) is
 * shown as it is, without a reason. Takes over copy's body either way. */
static mb_status poisoned_from_copy(const azq *a, mb_msg *copy, mb_poisoned *p, mb_err *err)
{
    json_t *o = json_loadb(copy->body ? copy->body : "", copy->body_len, 0, NULL);
    json_t *id = json_object_get(o, "message_id"), *reason = json_object_get(o, "reason");
    json_t *body = json_object_get(o, "body"), *dq = json_object_get(o, "dequeue_count");
    mb_status st = MB_OK;

    if (!json_is_string(id) || !json_is_string(reason) || !json_is_integer(dq) ||
        !(json_is_string(body) || json_is_null(body))) {
        p->msg = *copy;
        memset(copy, 0, sizeof *copy);
        json_decref(o);
        return MB_OK;
    }
    snprintf(p->msg.id, sizeof p->msg.id, "%s", json_string_value(id));
    snprintf(p->reason, sizeof p->reason, "%s", json_string_value(reason));
    p->msg.dequeue_count = (int64_t)json_integer_value(dq);
    p->body_cut = json_is_true(json_object_get(o, "body_truncated"));
    if (json_is_string(body)) {
        size_t len = json_string_length(body);
        if ((p->msg.body = mb_malloc(len + 1)) != NULL) {
            memcpy(p->msg.body, json_string_value(body), len + 1);
            p->msg.body_len = len;
        } else {
            st = mb_err_set(err, MB_ENOMEM, "queue %s: out of memory", a->poison);
        }
    }
    json_decref(o);
    mb_msg_fini(copy);
    return st;
}

/* Peeks QUEUE-poison (at most 32, as any Azure peek); no poison queue yet
 * is an empty poison area. A copy too long to hand out is listed without
 * its body, as the dir back end lists an unreadable poisoned file. */
static mb_status az_peek_poison(mb_queue *q, mb_poisoned *out, size_t cap, size_t *n,
                                mb_err *err)
{
    azq *a = q->impl;
    size_t want = cap < PEEK_MAX ? cap : PEEK_MAX, i;
    xdoc d;
    mb_status st = peek_list(a, a->poison, 1, want, &d, err);

    for (i = 0; st == MB_OK && i < d.n; i++) {
        mb_msg copy;
        mb_status one;

        memset(&copy, 0, sizeof copy);
        one = item_to_msg(a, &d.items[i], 0, &copy, err);
        if (one == MB_OK)
            one = poisoned_from_copy(a, &copy, &out[*n], err);
        else if (one == MB_ELIMIT) {
            out[*n].msg = copy;
            memset(&copy, 0, sizeof copy);
            one = MB_OK;
        }
        mb_msg_fini(&copy);
        if (one == MB_OK)
            (*n)++;
        else
            st = one;
    }
    if (st != MB_OK)
        while (*n > 0)
            mb_poisoned_fini(&out[--*n]);
    mb_err_clear(st == MB_OK ? err : NULL);
    xdoc_fini(&d);
    return st;
}

/* Clear Messages on `queue`; a missing queue is already clear when
 * missing_ok (the poison queue before its first use). */
static mb_status clear_queue(azq *a, const char *queue, int missing_ok, mb_err *err)
{
    call c = {"Clear Messages", "DELETE", queue, "/messages", "", NULL, 0, 0};
    reply r;
    int n;
    mb_status st = execute(a, &c, &r, &n, err);

    if (st == MB_OK && r.http.status != 204 && !(missing_ok && r.http.status == 404))
        st = status_fail(&c, &r, err);
    reply_fini(&r);
    return st;
}

static mb_status az_purge(mb_queue *q, mb_err *err)
{
    azq *a = q->impl;

    return clear_queue(a, a->u.queue, 0, err);
}

static mb_status az_purge_poison(mb_queue *q, mb_err *err)
{
    azq *a = q->impl;

    return clear_queue(a, a->poison, 1, err);
}

/* ---- open / close ------------------------------------------------------------------ */

static void azq_free(azq *a)
{
    if (!a)
        return;
    mb_az_cred_fini(&a->cred);
    free(a);
}

/* SharedKey signs with the account in the credentials: a different
 * account in the URL would only ever give 403s. */
static mb_status check_account(const azq *a, mb_err *err)
{
    if (a->cred.kind != MB_AZ_SHAREDKEY || strcmp(a->cred.account, a->u.account) == 0)
        return MB_OK;
    return mb_err_set(err, MB_EUSAGE,
                      "queue %s: the storage key is for account '%s' but the URL names account "
                      "'%s'",
                      a->u.queue, a->cred.account, a->u.account);
}

static mb_status az_open(mb_queue *q, const char *url, int create, mb_err *err)
{
    azq *a = mb_calloc(1, sizeof *a);
    mb_status st;

    if (!a)
        return mb_err_set(err, MB_ENOMEM, "out of memory opening an Azure queue");
    a->cfg = &q->cfg;
    st = parse_url(url, &a->u, err);
    if (st == MB_OK) {
        snprintf(a->poison, sizeof a->poison, "%s" POISON_SUFFIX, a->u.queue);
        st = mb_az_cred_from_env(&a->cred, a->u.account, err);
        if (st != MB_OK && err)
            mb_az_redact(err->msg);
    }
    if (st == MB_OK)
        st = check_account(a, err);
    if (st == MB_OK && create)
        st = create_queue(a, a->u.queue, err);
    if (st != MB_OK) {
        azq_free(a);
        return st;
    }
    q->impl = a;
    return MB_OK;
}

static void az_close(mb_queue *q)
{
    azq_free(q->impl);
    q->impl = NULL;
}

const mb_queue_ops mb_queue_azure_ops = {
    .name = "azure",
    .accepts = azure_accepts,
    .open = az_open,
    .close = az_close,
    .put = az_put,
    .claim = az_claim,
    .renew = az_renew,
    .release = az_release,
    .remove = az_remove,
    .poison = az_poison,
    .count = az_count,
    .peek = az_peek,
    .purge = az_purge,
    .peek_poison = az_peek_poison,
    .purge_poison = az_purge_poison,
    .redrive = az_redrive,
};
