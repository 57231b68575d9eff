/* test_redact.c - base/redact: every kind of secret at the start, middle
 * and end of a text, text cut short inside a key or a value, idempotence,
 * and that the text never grows. Uses no Azure and no logging. */
#include "base/redact.h"

#include "tap.h"

#include <stdio.h>
#include <string.h>

static void redacts(const char *in, const char *want, const char *what)
{
    char buf[512];
    size_t before;

    snprintf(buf, sizeof buf, "%s", in);
    before = strlen(buf);
    mb_redact(buf);
    is_str(buf, want, "%s", what);
    ok(strlen(buf) <= before, "%s: the text did not grow", what);
    mb_redact(buf);
    is_str(buf, want, "%s: redacting again changes nothing", what);
}

/* The secret must not survive anywhere in the text, whatever else is left. */
static void hides(const char *in, const char *secret, const char *what)
{
    char buf[512];

    snprintf(buf, sizeof buf, "%s", in);
    mb_redact(buf);
    ok(strstr(buf, secret) == NULL, "%s: '%s' gone (got '%s')", what, secret, buf);
}

int main(void)
{
    /* SAS sig= at the start, in the middle, at the end */
    redacts("sig=abcdEFGH1234&sv=2020", "sig=REDACTED&sv=2020", "sig= at the start");
    redacts("GET /q?sv=2020&sig=abcdEFGH%2B%3D&se=2030 failed",
            "GET /q?sv=2020&sig=REDACTED&se=2030 failed", "sig= in the middle");
    redacts("x?SIG=abcdefghijkl", "x?SIG=REDACTED", "SIG= at the end, any case");
    redacts("x?sig%3Dabcdefghijkl", "x?sig%3DREDACTED", "sig%3D (URL-encoded)");
    /* AccountKey= and connection strings */
    redacts("AccountKey=Zm9vYmFyYmF6cXV4==;AccountName=a", "AccountKey=REDACTED;AccountName=a",
            "AccountKey= at the start");
    redacts("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Zm9vYmFyYmF6cXV4==;"
            "EndpointSuffix=core.windows.net",
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=REDACTED;"
            "EndpointSuffix=core.windows.net",
            "connection string, AccountKey in the middle");
    redacts("conn: AccountKey=Zm9vYmFyYmF6cXV4", "conn: AccountKey=REDACTED", "AccountKey= at the end");
    hides("AccountKey = Zm9vYmFyYmF6cXV4", "Zm9vYmFyYmF6cXV4", "blanks around '='");
    hides("AccountKey=\"Zm9vYmFyYmF6cXV4\"", "Zm9vYmFyYmF6cXV4", "quoted key");
    redacts("SharedAccessSignature=sv=1&ss=q&sig=zzzzzzzz;QueueEndpoint=https://x",
            "SharedAccessSignature=REDACTED;QueueEndpoint=https://x", "SharedAccessSignature=");
    /* Authorization headers */
    redacts("Authorization: SharedKey devstoreaccount1:Ip9PQ80gy0JV7z3/RB+bCruHV9OQ=",
            "Authorization: SharedKey devstoreaccount1:REDACTED", "SharedKey header");
    redacts("Authorization: Bearer eyJ0eXAi.J9xx.yy-zz_", "Authorization: Bearer REDACTED",
            "Bearer token at the end");
    redacts("Bearer eyJ0eXAi.J9xx.yy-zz_ was refused", "Bearer REDACTED was refused",
            "Bearer token at the start");
    hides("Bearer Bearer eyJ0eXAiJ9xxyy", "eyJ0eXAiJ9xxyy", "repeated key");
    redacts("{\"access_token\":\"eyJhbGciOiJ\",\"expires_in\":\"3599\"}",
            "{\"access_token\":\"REDACTED\",\"expires_in\":\"3599\"}", "access_token in JSON");
    /* short values become stars; text without secrets is untouched */
    redacts("sig=abc&x=1", "sig=***&x=1", "short value as stars");
    redacts("queue q: 403 AuthenticationFailed for message 42",
            "queue q: 403 AuthenticationFailed for message 42", "no secrets: unchanged");
    /* truncated input: cut inside the key, right after it, inside the value */
    redacts("AccountKe", "AccountKe", "truncated inside the key");
    redacts("AccountKey=", "AccountKey=", "truncated after '='");
    redacts("x&sig=", "x&sig=", "sig= with nothing behind it");
    redacts("Authorization: SharedKey acct:", "Authorization: SharedKey acct:",
            "SharedKey without a signature");
    hides("AccountKey=Zm9vYmFy", "Zm9vYmFy", "truncated inside the value");
    hides("Authorization: Bearer ey", "ey", "truncated bearer token");
    redacts("", "", "empty string");
    mb_redact(NULL);
    ok(1, "NULL is harmless");
    return tap_done();
}
