/* test_queue_azure.c - TAP tests of queue_azure.c's helpers; with an argument, a live driver. */
/*
 * The back end's helpers are static, so this file includes the source
 * itself; the library copy of queue_azure.o is then never linked (nothing
 * else here refers to it first).
 *
 * Without arguments: offline unit tests, no network.
 * `test_queue_azure lease|renew|limit`: drive the queue named by
 * $MB_AZ_QUEUE_URL (Azurite in tests/azure/20-queue.t) and print TAP;
 * credentials come from the environment as for mpibatch.
 */
#include "queue/queue_azure.c"

#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- offline -------------------------------------------------------------- */

static void test_urls(void)
{
    azurl u;
    mb_err e;

    ok(parse_url("https://acct1.queue.core.windows.net/jobs", &u, &e) == MB_OK &&
           strcmp(u.account, "acct1") == 0 && strcmp(u.queue, "jobs") == 0 &&
           strcmp(u.base, "https://acct1.queue.core.windows.net") == 0 && u.prefix[0] == '\0',
       "host-style URL: account from the host, queue from the path");
    ok(parse_url("http://127.0.0.1:10001/devstoreaccount1/jobs-2/", &u, &e) == MB_OK &&
           strcmp(u.account, "devstoreaccount1") == 0 && strcmp(u.queue, "jobs-2") == 0 &&
           strcmp(u.prefix, "/devstoreaccount1") == 0 &&
           strcmp(u.base, "http://127.0.0.1:10001") == 0,
       "path-style URL (Azurite), trailing slash tolerated");
    ok(parse_url("https://a1b.queue.core.windows.net/jobs?sv=1&sig=SECRET", &u, &e) ==
               MB_EUSAGE &&
           !strstr(e.msg, "SECRET") && strstr(e.msg, "AZURE_STORAGE_SAS_TOKEN"),
       "a query string is refused without echoing it: %s", e.msg);
    ok(parse_url("https://acc.queue.core.windows.net/Jobs", &u, &e) == MB_EUSAGE &&
           strstr(e.msg, "not a queue name"),
       "upper case queue name refused");
    ok(parse_url("https://acc.queue.core.windows.net/a--b", &u, &e) == MB_EUSAGE,
       "double hyphen refused");
    ok(parse_url("https://acc.queue.core.windows.net/-ab", &u, &e) == MB_EUSAGE,
       "leading hyphen refused");
    ok(parse_url("https://acc.queue.core.windows.net/ab", &u, &e) == MB_EUSAGE,
       "two-character name refused");
    ok(parse_url("https://acc.queue.core.windows.net/"
                 "a23456789012345678901234567890123456789012345678901234567",
                 &u, &e) == MB_EUSAGE &&
           strstr(e.msg, "poison"),
       "57-character name refused: no room for -poison");
    ok(parse_url("https://acc.queue.core.windows.net/"
                 "a2345678901234567890123456789012345678901234567890123456",
                 &u, &e) == MB_OK,
       "56-character name accepted");
    ok(parse_url("http://h:1/acct/q1/x", &u, &e) == MB_EUSAGE, "three path segments refused");
    ok(parse_url("http://localhost:1/", &u, &e) == MB_EUSAGE, "no queue refused");
    ok(parse_url("http://user@h.x/acct/jobs", &u, &e) == MB_EUSAGE, "user info refused");
    ok(parse_url("http://10.0.0.1:1/abc", &u, &e) == MB_EUSAGE ||
           strcmp(u.account, "10") != 0,
       "an IP host without an account in the path is not taken as account '10'");
    ok(azure_accepts("https://x/y") && azure_accepts("http://x/y") && !azure_accepts("dir:/x") &&
           !azure_accepts("/abs/path"),
       "accepts http(s) URLs only");
}

static void test_names_and_encoding(void)
{
    char out[64];

    ok(pct_encode("AgAAAA+/=xyz", out, sizeof out) == 0 &&
           strcmp(out, "AgAAAA%2B%2F%3Dxyz") == 0,
       "pop receipt percent-encoded: %s", out);
    ok(pct_encode("0123456789", out, 10) == -1, "percent-encoding refuses to overflow");
    ok(valid_queue_name("a-b-c", 5) && !valid_queue_name("abc-", 4) &&
           !valid_queue_name("ab_c", 4),
       "queue name rule");
}

static void check_decode(const char *text, const char *want, const char *what)
{
    char *b = NULL;
    size_t n = 0;

    mb_status st = decode_text(text, strlen(text), &b, &n);

    ok(st == MB_OK && b && n == strlen(want) && memcmp(b, want, n) == 0,
       "receive rule: %s ('%s' -> '%s')", what, text, b ? b : "(null)");
    free(b);
}

static void test_receive_rule(void)
{
    check_decode("Zm9v", "foo", "base64 of UTF-8 text is decoded");
    check_decode("L2RhdGEveC5jc3Y=", "/data/x.csv", "padded base64 is decoded");
    check_decode("/data/x.csv", "/data/x.csv", "a path is text");
    check_decode("{\"input\":\"a.csv\"}", "{\"input\":\"a.csv\"}", "JSON is text");
    check_decode("AAAA", "AAAA", "base64 of NUL bytes stays text");
    check_decode("/w==", "/w==", "base64 of invalid UTF-8 stays text");
    check_decode("Zm9v\n", "Zm9v\n", "base64 with a newline is text");
    check_decode("", "", "empty text is empty");
}

static void test_send_rule(void)
{
    azq a;
    mb_queue_config cfg;
    char *body = malloc(TEXT_MAX + 2), *out = NULL;
    size_t n = 0;
    mb_err e;

    memset(&a, 0, sizeof a);
    mb_queue_config_init(&cfg);
    a.cfg = &cfg;
    snprintf(a.u.queue, sizeof a.u.queue, "jobs");
    memset(body, 'x', TEXT_MAX + 1);
    ok(encode_text(&a, MB_MSG_BASE64, body, 49152, &out, &n, &e) == MB_OK && n == TEXT_MAX,
       "48 KiB body fits as base64 (64 KiB)");
    free(out);
    out = NULL;
    ok(encode_text(&a, MB_MSG_BASE64, body, 49153, &out, &n, &e) == MB_ELIMIT &&
           strstr(e.msg, "nothing was sent") && !out,
       "48 KiB + 1 refused as base64: %s", e.msg);
    ok(encode_text(&a, MB_MSG_TEXT, body, TEXT_MAX, &out, &n, &e) == MB_OK && n == TEXT_MAX,
       "64 KiB body fits as text");
    free(out);
    out = NULL;
    ok(encode_text(&a, MB_MSG_TEXT, "a\001b", 3, &out, &n, &e) == MB_EDATA,
       "control characters refused as text: %s", e.msg);
    ok(encode_text(&a, MB_MSG_TEXT, "a\xff", 2, &out, &n, &e) == MB_EDATA,
       "invalid UTF-8 refused as text");
    free(body);
}

static const char LIST2[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><QueueMessagesList>"
    "<QueueMessage><MessageId>id-1</MessageId>"
    "<InsertionTime>Sat, 28 Nov 2026 12:57:45 GMT</InsertionTime>"
    "<ExpirationTime>Fri, 31 Dec 9999 23:59:59 GMT</ExpirationTime>"
    "<PopReceipt>AgAAAA+/=</PopReceipt><TimeNextVisible>x</TimeNextVisible>"
    "<DequeueCount>3</DequeueCount><MessageText>a &amp; b &lt;c&gt;&#13;\nd</MessageText>"
    "<Future><Nested>ignored</Nested></Future></QueueMessage>"
    "<QueueMessage><MessageId>id-2</MessageId><DequeueCount>1</DequeueCount>"
    "<MessageText>Zm9v</MessageText></QueueMessage></QueueMessagesList>";

static void test_xml_list(void)
{
    azq a;
    xdoc d;
    mb_msg m;
    mb_err e;
    int i;

    memset(&a, 0, sizeof a);
    memset(&m, 0, sizeof m);
    ok(parse_xml(LIST2, strlen(LIST2), 2, &d) == 0 && d.root == R_LIST && d.n == 2,
       "message list with two messages parses");
    ok(d.n == 2 && strcmp(d.items[0].receipt, "AgAAAA+/=") == 0 &&
           strcmp(d.items[0].dq, "3") == 0,
       "pop receipt and dequeue count read");
    ok(d.n == 2 && item_to_msg(&a, &d.items[0], 1, &m, &e) == MB_OK &&
           strcmp(m.body, "a & b <c>\r\nd") == 0 && m.dequeue_count == 3 &&
           m.enqueued_ms == 1795870665000LL,
       "entities and the CR reference decoded, insertion time parsed");
    mb_msg_fini(&m);
    ok(d.n == 2 && item_to_msg(&a, &d.items[1], 1, &m, &e) == MB_EQUEUE,
       "a claimed message without a pop receipt is malformed");
    mb_msg_fini(&m);
    ok(d.n == 2 && item_to_msg(&a, &d.items[1], 0, &m, &e) == MB_OK &&
           strcmp(m.body, "foo") == 0,
       "peeked message without receipt is fine; base64 decoded");
    mb_msg_fini(&m);
    xdoc_fini(&d);
    ok(parse_xml(LIST2, strlen(LIST2), 1, &d) == -1, "more messages than asked for: refused");
    xdoc_fini(&d);
    i = parse_xml(LIST2, strlen(LIST2) - 20, 2, &d);
    ok(i == -1 && d.bad, "truncated XML refused (%s)", d.bad ? d.bad : "?");
    xdoc_fini(&d);
}

static void test_xml_hostile(void)
{
    static const char doctype[] =
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><QueueMessagesList/>";
    static const char empty[] = "<QueueMessagesList></QueueMessagesList>";
    char longid[600];
    xdoc d;
    char *big;
    size_t i, n;

    ok(parse_xml(doctype, strlen(doctype), 1, &d) == -1, "a DOCTYPE is refused");
    xdoc_fini(&d);
    ok(parse_xml(empty, strlen(empty), 1, &d) == 0 && d.n == 0, "an empty list parses");
    xdoc_fini(&d);
    ok(parse_xml("", 0, 1, &d) == -1, "an empty body is refused");
    xdoc_fini(&d);
    n = (size_t)snprintf(longid, sizeof longid, "<QueueMessagesList><QueueMessage><MessageId>");
    for (i = 0; i < 200; i++)
        longid[n++] = 'x';
    snprintf(longid + n, sizeof longid - n, "</MessageId></QueueMessage></QueueMessagesList>");
    ok(parse_xml(longid, strlen(longid), 1, &d) == -1, "an over-long message id is refused");
    xdoc_fini(&d);
    big = malloc(TEXT_MAX + 200);
    n = (size_t)snprintf(big, 200, "<QueueMessagesList><QueueMessage><MessageText>");
    memset(big + n, 'x', TEXT_MAX + 1);
    snprintf(big + n + TEXT_MAX + 1, 100, "</MessageText></QueueMessage></QueueMessagesList>");
    ok(parse_xml(big, strlen(big), 1, &d) == 0 && d.n == 1 && d.items[0].text_over,
       "text over 64 KiB is flagged, not kept");
    xdoc_fini(&d);
    free(big);
}

static void test_xml_error(void)
{
    static const char body[] =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code>"
        "<Message>Server failed to authenticate the request.\nRequestId:abc</Message>"
        "<AuthenticationErrorDetail>The MAC signature found in the HTTP request 'SIGSIG' is "
        "not the same</AuthenticationErrorDetail></Error>";
    reply r = {{403, (char *)body, sizeof body - 1}, NULL};
    call c = {"Get Messages", "GET", "jobs", "/messages", "", NULL, 0, 0};
    mb_err e;

    ok(status_fail(&c, &r, &e) == MB_EQUEUE &&
           strstr(e.msg, "queue jobs: Get Messages: 403 AuthenticationFailed: the account key "
                         "or SAS is wrong") &&
           !strstr(e.msg, "SIGSIG") && !strstr(e.msg, "RequestId"),
       "403 names operation, queue and code, not the signature details: %s", e.msg);
}

/* Fills the stack below the caller with a pattern, so that a local the
 * next call forgets to initialise holds garbage pointers, not zeros. */
static void paint_stack(void)
{
    unsigned char junk[64 << 10];

    memset(junk, 0xa5, sizeof junk);
    __asm__ volatile("" : : "r"(junk) : "memory");
}

enum empty_path { EMPTY_STATUS, EMPTY_ATTEMPT, EMPTY_LEASE };

/* Runs one error path on a reply with an empty body in a child process
 * (a crash there is a failed test, not the end of this one). Returns 1
 * when the child exited cleanly and the path gave the expected answer. */
static int empty_body_ok(enum empty_path path, long status, char *headers)
{
    reply r = {{status, NULL, 0}, headers};
    call c = {"Get Messages", "GET", "jobs", "/messages", "", NULL, 0, 0};
    char text[256];
    mb_err e;
    int ws = 0, good = 0;
    pid_t pid = fork();

    if (pid < 0)
        return 0;
    if (pid == 0) {
        paint_stack();
        if (path == EMPTY_STATUS)
            good = status_fail(&c, &r, &e) == MB_EQUEUE &&
                   strstr(e.msg, headers ? "503 ServerBusy" : "503 (no error code)");
        else if (path == EMPTY_ATTEMPT) {
            attempt_text(MB_OK, NULL, &r, text, sizeof text);
            good = strcmp(text, headers ? "500 InternalError" : "500 (no error code)") == 0;
        } else
            good = is_lease_loss(&r) == (headers != NULL);
        _exit(good ? 0 : 1);
    }
    if (waitpid(pid, &ws, 0) != pid)
        return 0;
    if (WIFSIGNALED(ws))
        printf("#   the child died of signal %d\n", WTERMSIG(ws));
    return WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
}

static void test_xml_error_empty(void)
{
    char busy[] = "HTTP/1.1 503 x\r\nx-ms-error-code: ServerBusy\r\n\r\n";
    char internal[] = "HTTP/1.1 500 x\r\nx-ms-error-code: InternalError\r\n\r\n";
    char mismatch[] = "HTTP/1.1 400 x\r\nx-ms-error-code: PopReceiptMismatch\r\n\r\n";

    ok(empty_body_ok(EMPTY_STATUS, 503, NULL),
       "an unexpected status with an empty body: reported without an error code, no crash");
    ok(empty_body_ok(EMPTY_STATUS, 503, busy),
       "an empty body: the code comes from x-ms-error-code");
    ok(empty_body_ok(EMPTY_ATTEMPT, 500, NULL),
       "a retried 5xx with an empty body: described for the retry log, no crash");
    ok(empty_body_ok(EMPTY_ATTEMPT, 500, internal),
       "a retried 5xx with an empty body: the header's code in the retry log");
    ok(empty_body_ok(EMPTY_LEASE, 400, NULL),
       "a 400 with an empty body to an update: not a lease loss, no crash");
    ok(empty_body_ok(EMPTY_LEASE, 400, mismatch),
       "a 400 with an empty body and PopReceiptMismatch in the header: a lease loss");
}

/* Text a server puts in an error body or header must not split or steer
 * the log line it ends up in. */
static void test_xml_error_controls(void)
{
    static const char code_nl[] =
        "<Error><Code>Bad\nInjected: line</Code><Message>m</Message></Error>";
    static const char msg_tab[] =
        "<Error><Code>QueueNotFound</Code><Message>a\tb&#9;c&#x7f;d</Message></Error>";
    char hdr_tab[] = "HTTP/1.1 400 x\r\nx-ms-error-code: Pop\tReceipt\r\n\r\n";
    reply r = {{400, (char *)code_nl, sizeof code_nl - 1}, NULL};
    call c = {"Get Messages", "GET", "jobs", "/messages", "", NULL, 0, 0};
    mb_err e;

    status_fail(&c, &r, &e);
    ok(!strchr(e.msg, '\n') && strstr(e.msg, "400 (no error code)"),
       "an error code with a line break is not shown: %s", e.msg);
    r.http.body = (char *)msg_tab;
    r.http.body_len = sizeof msg_tab - 1;
    r.http.status = 404;
    status_fail(&c, &r, &e);
    ok(strstr(e.msg, "404 QueueNotFound") && strstr(e.msg, "(server: a b c d)"),
       "tabs and DEL in the server's message become blanks: %s", e.msg);
    r.http.body = NULL;
    r.http.body_len = 0;
    r.headers = hdr_tab;
    status_fail(&c, &r, &e);
    ok(!strchr(e.msg, '\t') && strstr(e.msg, "(no error code)"),
       "an x-ms-error-code that is not a word is not shown: %s", e.msg);
}

static void test_retry_policy(void)
{
    char hdrs[] = "HTTP/1.1 503 x\r\nRetry-After: 2\r\nx-ms-retry-after-ms: 300\r\n\r\n";
    char hdrs2[] = "HTTP/1.1 500 x\r\nx-ms-retry-after-ms: 200\r\n\r\n";
    char hdrs3[] = "HTTP/1.1 429 x\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n";
    reply r = {{503, NULL, 0}, hdrs};
    mb_backoff b;
    int i, in_range = 1;
    double d;

    ok(server_hint_ms(&r) == 2000, "Retry-After 2 s wins over 300 ms");
    r.headers = hdrs2;
    ok(server_hint_ms(&r) == 200, "x-ms-retry-after-ms honoured");
    r.headers = hdrs3;
    ok(server_hint_ms(&r) == 0, "an HTTP-date Retry-After falls back to backoff");
    /* The policy execute() sets up, with a deadline 100 s from t = 0. */
    mb_backoff_init(&b, BACKOFF_FIRST_MS, BACKOFF_CAP_MS, 100, LAST_MARGIN_S);
    for (i = 0; i < 200; i++) {
        double ceiling = BACKOFF_FIRST_MS * (double)(1 << (i < 10 ? i : 10));
        d = mb_backoff_next(&b, 0, 0) * 1000;
        if (d < 0 || d > BACKOFF_CAP_MS || d > ceiling)
            in_range = 0;
    }
    ok(in_range, "full-jitter delays stay within [0, min(cap, first * 2^n)]");
    r.headers = hdrs;
    mb_backoff_init(&b, BACKOFF_FIRST_MS, BACKOFF_CAP_MS, 1.5, LAST_MARGIN_S);
    ok(mb_backoff_next(&b, 0, server_hint_ms(&r) / 1000) == -1,
       "a server wait (2 s) beyond the deadline: give up");
    mb_backoff_init(&b, BACKOFF_FIRST_MS, BACKOFF_CAP_MS, 5, LAST_MARGIN_S);
    ok(mb_backoff_next(&b, 0, server_hint_ms(&r) / 1000) == 2,
       "a server wait within the deadline is taken as is");
    mb_backoff_init(&b, BACKOFF_FIRST_MS, BACKOFF_CAP_MS, 0.5, LAST_MARGIN_S);
    b.pauses = 5;
    d = mb_backoff_next(&b, 0, 0);
    ok(d >= 0 && d <= 0.5 - LAST_MARGIN_S + 1e-9, "backoff cut to end at the deadline (%.3f)", d);
    mb_backoff_init(&b, BACKOFF_FIRST_MS, BACKOFF_CAP_MS, 0.05, LAST_MARGIN_S);
    ok(mb_backoff_next(&b, 0, 0) == -1, "no last attempt with less than the margin left");
    ok(attempt_ms(0.2) == ATTEMPT_MIN_MS && attempt_ms(100) == ATTEMPT_MS &&
           attempt_ms(3) == 3000,
       "attempt timeouts: what is left of the deadline, within 1..30 s");
    ok(retryable(503) && retryable(429) && retryable(408) && !retryable(400) &&
           !retryable(403) && !retryable(404) && !retryable(409),
       "retryable statuses");
}

/* ---- live driver ---------------------------------------------------------------- */

static mb_queue *live_open(const char *url)
{
    mb_queue *q = NULL;
    mb_err e;

    if (mb_queue_open(&q, url, 1, NULL, &e) != MB_OK)
        printf("# open: %s\n", e.msg);
    return q;
}

/* Claim with a 1 s lease, let it expire, claim again: the same message,
 * dequeue count 2, and the first receipt no longer works. */
static int live_lease(const char *url)
{
    mb_queue *q = live_open(url);
    mb_msg m1, m2;
    mb_err e;
    mb_status st;

    if (!q)
        return 1;
    memset(&m1, 0, sizeof m1);
    memset(&m2, 0, sizeof m2);
    ok(mb_queue_purge(q, &e) == MB_OK && mb_queue_put(q, "lease-test", 10, &e) == MB_OK,
       "purged and enqueued one message");
    ok(mb_queue_claim(q, 1, &m1, &e) == MB_OK && m1.dequeue_count == 1 &&
           strcmp(m1.body, "lease-test") == 0,
       "claimed with a 1 s lease, dequeue count 1");
    ok(mb_queue_claim(q, 1, &m2, &e) == MB_EAGAIN, "hidden while leased");
    sleep(2);
    st = mb_queue_claim(q, 5, &m2, &e);
    ok(st == MB_OK && strcmp(m2.id, m1.id) == 0 && m2.dequeue_count == 2,
       "after expiry: redelivered, same id, dequeue count %lld", (long long)m2.dequeue_count);
    ok(mb_queue_remove(q, &m1, &e) == MB_ELEASE, "the stale receipt is refused: %s", e.msg);
    ok(mb_queue_release(q, &m2, 0, &e) == MB_OK && m2.receipt[0] == '\0',
       "released at once");
    mb_msg_fini(&m2);
    ok(mb_queue_claim(q, 5, &m2, &e) == MB_OK && m2.dequeue_count == 3, "claimed again: 3");
    ok(mb_queue_remove(q, &m2, &e) == MB_OK, "removed with the current receipt");
    mb_msg_fini(&m1);
    mb_msg_fini(&m2);
    mb_queue_free(q);
    return tap_done();
}

/* Renewing every second a 2 s lease keeps the message from a second
 * consumer for 6 s (three lease lengths). */
static int live_renew(const char *url)
{
    mb_queue *q = live_open(url), *q2 = live_open(url);
    mb_msg m, other;
    mb_err e;
    int i, hidden = 1, renewed = 1;

    if (!q || !q2)
        return 1;
    memset(&m, 0, sizeof m);
    memset(&other, 0, sizeof other);
    ok(mb_queue_purge(q, &e) == MB_OK && mb_queue_put(q, "renew-test", 10, &e) == MB_OK,
       "purged and enqueued one message");
    ok(mb_queue_claim(q, 2, &m, &e) == MB_OK, "claimed with a 2 s lease");
    for (i = 0; i < 6; i++) {
        sleep(1);
        if (mb_queue_renew(q, &m, 2, &e) != MB_OK) {
            printf("# renew: %s\n", e.msg);
            renewed = 0;
        }
        if (mb_queue_claim(q2, 1, &other, &e) != MB_EAGAIN)
            hidden = 0;
        mb_msg_fini(&other);
    }
    ok(renewed, "six renewals succeeded, each with the receipt of the one before");
    ok(hidden, "a second consumer never saw the message in 6 s");
    ok(mb_queue_remove(q, &m, &e) == MB_OK, "removed with the latest receipt");
    mb_msg_fini(&m);
    mb_queue_free(q);
    mb_queue_free(q2);
    return tap_done();
}

/* Bodies over the limit are refused before anything is sent (the test
 * runs this through the fault proxy and checks its log for POSTs). */
static int live_limit(const char *url)
{
    mb_queue_config cfg;
    mb_queue *q = NULL;
    char *big = malloc(MB_MSG_BODY_MAX + 2);
    mb_err e;

    mb_queue_config_init(&cfg);
    if (!big || mb_queue_open(&q, url, 1, &cfg, &e) != MB_OK) {
        printf("# open: %s\n", big ? e.msg : "out of memory");
        free(big);
        return 1;
    }
    memset(big, 'a', MB_MSG_BODY_MAX + 1);
    big[MB_MSG_BODY_MAX + 1] = '\0';
    ok(mb_queue_put(q, big, 49153, &e) == MB_ELIMIT && strstr(e.msg, "65536"),
       "base64: 49153 bytes (65540 encoded) refused: %s", e.msg);
    ok(mb_queue_put(q, big, 49152, &e) == MB_OK, "base64: 49152 bytes (65536 encoded) sent");
    q->cfg.encoding = MB_MSG_TEXT;
    ok(mb_queue_put(q, big, MB_MSG_BODY_MAX + 1, &e) == MB_ELIMIT,
       "text: 65537 bytes refused: %s", e.msg);
    ok(mb_queue_put(q, big, MB_MSG_BODY_MAX, &e) == MB_OK, "text: 65536 bytes sent");
    mb_queue_free(q);
    free(big);
    return tap_done();
}

int main(int argc, char **argv)
{
    const char *url = getenv("MB_AZ_QUEUE_URL");

    if (argc > 1) {
        if (!url) {
            printf("1..0 # SKIP MB_AZ_QUEUE_URL is not set\n");
            return 0;
        }
        if (strcmp(argv[1], "limit") == 0)
            return live_limit(url);
        return strcmp(argv[1], "renew") == 0 ? live_renew(url) : live_lease(url);
    }
    test_urls();
    test_names_and_encoding();
    test_receive_rule();
    test_send_rule();
    test_xml_list();
    test_xml_hostile();
    test_xml_error();
    test_xml_error_empty();
    test_xml_error_controls();
    test_retry_policy();
    return tap_done();
}
