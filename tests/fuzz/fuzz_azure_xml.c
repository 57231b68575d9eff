/* fuzz_azure_xml.c - libFuzzer harness: the Azure Queue Storage response parsers of queue_azure.c (message lists, error bodies, retry hints). */
/*
 * queue_azure.c is included, as tests/unit/test_queue_azure.c does, so its
 * static parsers can be called; the library's copy is then never linked.
 * Input: a byte of status and limits, then a response: header lines up to
 * an empty line (when there is one), then the body. Properties:
 *  - parse_xml never overruns its fixed fields, keeps at most the number
 *    of messages asked for, and says why when it refuses;
 *  - item_to_msg gives NUL-terminated bodies or a clean error;
 *  - error reports (status_fail, attempt_text) and lease checks work on
 *    any body, empty or not, and put no control character (a line break,
 *    an escape sequence) into a message;
 *  - retry hints stay within their cap;
 *  - a message body sent (text or base64, through xml_envelope) and read
 *    back through parse_xml and item_to_msg is the receive rule applied
 *    to what was sent, and the body itself when base64 could carry it.
 */
#include "queue/queue_azure.c"

#include "fuzz.h"

static const long STATUSES[] = {400, 401, 403, 404, 408, 409, 413, 429, 500, 503};

static void check_fixed(const char *s, size_t cap, const char *what)
{
    FZ_CHECK(memchr(s, '\0', cap) != NULL, "%s is not NUL-terminated in its field", what);
}

static void check_list(const char *body, size_t len, size_t max, int need_receipt)
{
    azq a;
    xdoc d;
    mb_msg m;
    mb_err e;
    size_t i;
    mb_status st;
    int rc = parse_xml(body, len, max, &d);

    memset(&a, 0, sizeof a);
    snprintf(a.u.queue, sizeof a.u.queue, "jobs");
    FZ_CHECK(rc == 0 || d.bad != NULL, "parse_xml refused without a reason");
    FZ_CHECK(d.n <= max && d.n <= PEEK_MAX, "%zu messages kept, %zu asked for", d.n, max);
    FZ_CHECK(d.p == NULL, "the expat parser was not freed");
    check_fixed(d.code, sizeof d.code, "the error code");
    check_fixed(d.message, sizeof d.message, "the error message");
    for (i = 0; i < d.n; i++) {
        const xitem *it = &d.items[i];
        check_fixed(it->id, sizeof it->id, "a message id");
        check_fixed(it->receipt, sizeof it->receipt, "a pop receipt");
        check_fixed(it->dq, sizeof it->dq, "a dequeue count");
        check_fixed(it->inserted, sizeof it->inserted, "an insertion time");
        FZ_CHECK(it->text_len <= TEXT_MAX && (!it->text || it->text[it->text_len] == '\0'),
                 "message text of %zu bytes", it->text_len);
        if (rc != 0)
            continue;
        memset(&m, 0, sizeof m);
        st = item_to_msg(&a, it, need_receipt, &m, &e);
        FZ_CHECK(st == MB_OK || st == MB_EQUEUE || st == MB_ELIMIT, "item_to_msg: %d",
                 (int)st);
        if (st == MB_OK)
            FZ_CHECK(m.body && m.body[m.body_len] == '\0' && m.dequeue_count >= 0,
                     "item_to_msg: a body without its NUL");
        mb_msg_fini(&m);
    }
    xdoc_fini(&d);
}

/* What the server sent must not split a log line or steer a terminal. */
static void no_line_break(const char *s, const char *what)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p; p++)
        FZ_CHECK(*p >= 0x20 && *p != 0x7f, "%s holds control character 0x%02x: %s", what, *p,
                 s);
}

static void check_errors(long status, char *headers, const char *body, size_t len)
{
    reply r = {{status, (char *)body, len}, headers};
    call c = {"Get Messages", "GET", "jobs", "/messages", "", NULL, 0, 0};
    char text[MB_ERR_MAX / 2];
    mb_err e;
    mb_status st;
    double hint;

    memset(&e, 0, sizeof e);
    st = status_fail(&c, &r, &e);
    FZ_CHECK(st == MB_EQUEUE || st == MB_ENOENT || st == MB_ELIMIT, "status_fail: %d", (int)st);
    FZ_CHECK(strncmp(e.msg, "queue jobs: Get Messages: ", 26) == 0,
             "status_fail does not name queue and operation: %s", e.msg);
    no_line_break(e.msg, "status_fail's message");
    attempt_text(MB_OK, NULL, &r, text, sizeof text);
    no_line_break(text, "attempt_text");
    (void)is_lease_loss(&r);
    hint = server_hint_ms(&r);
    FZ_CHECK(hint >= 0 && hint <= HINT_CAP_MS, "retry hint %g ms", hint);
}

/* The receive rule applied to `text`, as a fresh string. */
static char *received(const char *text, size_t len, size_t *n)
{
    char *out = NULL;

    FZ_CHECK(decode_text(text, len, &out, n) == MB_OK, "decode_text failed");
    return out;
}

static void round_trip(mb_msg_encoding enc, const char *body, size_t len)
{
    static const char head[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?><QueueMessagesList>"
                               "<QueueMessage><MessageId>m1</MessageId><PopReceipt>r1"
                               "</PopReceipt><DequeueCount>1</DequeueCount>";
    static const char env_head[] = "<QueueMessage>", env_tail[] = "</QueueMessage>";
    static const char tail[] = "</QueueMessage></QueueMessagesList>";
    mb_queue_config cfg;
    azq a;
    char *text = NULL, *env, *doc, *want;
    size_t tlen = 0, elen, dlen, wlen;
    xdoc d;
    mb_msg m;
    mb_err e;
    mb_status st;

    memset(&a, 0, sizeof a);
    mb_queue_config_init(&cfg);
    a.cfg = &cfg;
    snprintf(a.u.queue, sizeof a.u.queue, "jobs");
    st = encode_text(&a, enc, body, len, &text, &tlen, &e);
    if (st != MB_OK) {
        FZ_CHECK(enc == MB_MSG_TEXT && st == MB_EDATA && !utf8_ok(body, len, 1),
                 "encode_text refused a body it can carry (%d)", (int)st);
        return;
    }
    FZ_CHECK(enc == MB_MSG_BASE64 || utf8_ok(body, len, 1), "text mode took bytes XML cannot carry");
    env = xml_envelope(text, tlen);
    FZ_CHECK(env != NULL, "xml_envelope failed");
    elen = strlen(env);
    FZ_CHECK(elen > sizeof env_head + sizeof env_tail - 2 &&
                 memcmp(env, env_head, sizeof env_head - 1) == 0,
             "envelope shape");
    dlen = sizeof head - 1 + elen - (sizeof env_head - 1) - (sizeof env_tail - 1) + sizeof tail - 1;
    doc = malloc(dlen + 1);
    FZ_CHECK(doc != NULL, "out of memory");
    snprintf(doc, dlen + 1, "%s%.*s%s", head,
             (int)(elen - (sizeof env_head - 1) - (sizeof env_tail - 1)),
             env + sizeof env_head - 1, tail);
    FZ_CHECK(parse_xml(doc, strlen(doc), 1, &d) == 0 && d.root == R_LIST && d.n == 1,
             "our own envelope does not parse back: %s", d.bad ? d.bad : "not one message");
    memset(&m, 0, sizeof m);
    FZ_CHECK(item_to_msg(&a, &d.items[0], 1, &m, &e) == MB_OK, "item_to_msg: %s", e.msg);
    want = received(text, tlen, &wlen);
    FZ_CHECK(m.body_len == wlen && memcmp(m.body, want, wlen) == 0,
             "%s body of %zu bytes comes back as %zu other bytes",
             enc == MB_MSG_TEXT ? "a text" : "a base64", len, m.body_len);
    if (enc == MB_MSG_BASE64 && utf8_ok(body, len, 0))
        FZ_CHECK(m.body_len == len && memcmp(m.body, body, len) == 0,
                 "a UTF-8 body sent as base64 does not come back as itself");
    free(want);
    mb_msg_fini(&m);
    xdoc_fini(&d);
    free(doc);
    free(env);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    uint8_t mode = fz_u8(&in);
    const uint8_t *rest;
    const char *sep;
    size_t len, hlen, blen;
    char *all, *headers = NULL, *body;

    rest = fz_bytes(&in, in.n, &len);
    all = fz_copy(rest, len, 1);
    sep = memchr(all, '\0', len) ? NULL : strstr(all, "\r\n\r\n");
    if (sep) {
        hlen = (size_t)(sep - all) + 4;
        headers = fz_copy(all, hlen, 1);
    } else {
        hlen = 0;
    }
    blen = len - hlen;
    body = fz_copy(all + hlen, blen, 0);

    check_list(body, blen, (size_t)(mode & 0x3f) % (PEEK_MAX + 1), mode >> 7);
    check_errors(STATUSES[(mode >> 4) % MB_ARRAY_LEN(STATUSES)], headers, body, blen);
    round_trip(MB_MSG_TEXT, body, blen);
    round_trip(MB_MSG_BASE64, body, blen);
    free(body);
    free(headers);
    free(all);
    return 0;
}
