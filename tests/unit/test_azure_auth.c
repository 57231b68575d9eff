/* test_azure_auth.c - TAP tests of Azure credentials, SharedKey signing,
 * redaction, base64 and dates; needs nothing outside this process when run
 * without arguments. Two modes serve tests/azure/10-auth.t:
 *   sign METHOD PATH QUERY CONTENT_LENGTH [HEADER...]  (QUERY "-" for none)
 *       credential from the environment; prints the string-to-sign with
 *       newlines as \n, then the signature; writes the raw string-to-sign
 *       to $MB_STS_FILE when set.
 *   token [N]   asks N times (default 1) for the managed-identity header and
 *       prints it each time; logs at debug level to stderr. */
#include "azure/azure_auth.h"
#include "base/log.h"
#include "loopback.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HDR_CAP 512
#define DEV_ENDPOINT "http://127.0.0.1:10001/devstoreaccount1"
#define DATE_HDR "x-ms-date: Mon, 01 Jan 2024 00:00:00 GMT"
#define DATE_LINE "x-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\n"

static const char *const ENV_VARS[] = {
    "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN", "AZURE_CLIENT_ID", "MPIBATCH_IMDS_ENDPOINT",
    "MPIBATCH_IMDS_RETRY_BASE_MS"};

static void clear_env(void)
{
    size_t i;

    for (i = 0; i < MB_ARRAY_LEN(ENV_VARS); i++)
        unsetenv(ENV_VARS[i]);
}

/* ---- connection strings ---------------------------------------------------- */

/* Parses cs expecting failure; the message must not contain `secret`. */
static void cs_fails(const char *cs, const char *secret, const char *mention, const char *what)
{
    mb_az_cred c;
    mb_err e = {MB_OK, "", 0};
    mb_status st = mb_az_parse_connection_string(&c, cs, &e);

    ok(st == MB_EUSAGE, "%s: rejected as a usage error", what);
    if (secret)
        ok(strstr(e.msg, secret) == NULL, "%s: the message does not show the value", what);
    if (mention && !ok(strstr(e.msg, mention) != NULL, "%s: the message names %s", what, mention))
        printf("#   message: %s\n", e.msg);
    ok(c.key_len == 0 && c.sas == NULL && c.queue_endpoint == NULL,
       "%s: nothing left in the credential", what);
}

static void test_devstore(void)
{
    mb_az_cred c;
    mb_err e;

    ok(mb_az_parse_connection_string(&c, "UseDevelopmentStorage=true", &e) == MB_OK,
       "UseDevelopmentStorage=true parses");
    ok(c.kind == MB_AZ_SHAREDKEY, "dev storage: SharedKey");
    is_str(c.account, "devstoreaccount1", "dev storage: account devstoreaccount1");
    ok(c.key_len == 64 && c.key[0] == 0x11 && c.key[63] == 0x1b,
       "dev storage: the 64-byte well-known key");
    is_str(c.queue_endpoint, DEV_ENDPOINT, "dev storage: Azurite's queue endpoint");
    mb_az_cred_fini(&c);
    ok(c.key_len == 0 && c.queue_endpoint == NULL, "fini clears the credential");
    mb_az_cred_fini(&c);
    mb_az_cred_fini(NULL);
    ok(c.key_len == 0 && c.queue_endpoint == NULL && c.account[0] == '\0',
       "fini twice leaves the credential cleared; fini(NULL) returns");

    ok(mb_az_parse_connection_string(
           &c,
           " usedevelopmentstorage = TRUE ;QUEUEENDPOINT=http://127.0.0.1:12345/devstoreaccount1/;",
           &e) == MB_OK,
       "dev storage with keys in other case and a QueueEndpoint");
    is_str(c.queue_endpoint, "http://127.0.0.1:12345/devstoreaccount1",
           "QueueEndpoint moves Azurite, trailing '/' dropped");
    mb_az_cred_fini(&c);
    cs_fails("UseDevelopmentStorage=false", NULL, "UseDevelopmentStorage",
             "UseDevelopmentStorage=false");
}

static void test_full_string(void)
{
    /* base64 of "0123456789abcdef0123456789abcdef" */
    const char *cs = "DefaultEndpointsProtocol=https;AccountName=myacct;"
                     "AccountKey=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=;"
                     "EndpointSuffix=core.chinacloudapi.cn;BlobEndpoint=https://x.example/";
    mb_az_cred c;
    mb_err e;

    ok(mb_az_parse_connection_string(&c, cs, &e) == MB_OK, "full connection string parses");
    ok(c.kind == MB_AZ_SHAREDKEY, "full string: SharedKey");
    is_str(c.account, "myacct", "full string: account");
    ok(c.key_len == 32 && memcmp(c.key, "0123456789abcdef0123456789abcdef", 32) == 0,
       "full string: key decoded (value ends in '=')");
    is_str(c.queue_endpoint, "https://myacct.queue.core.chinacloudapi.cn",
           "full string: endpoint from protocol, account and suffix");
    mb_az_cred_fini(&c);

    ok(mb_az_parse_connection_string(
           &c, "AccountName=myacct;AccountKey=Zm9vYmFy;DefaultEndpointsProtocol=http", &e) == MB_OK,
       "string with the default suffix");
    is_str(c.queue_endpoint, "http://myacct.queue.core.windows.net",
           "default suffix core.windows.net");
    mb_az_cred_fini(&c);

    ok(mb_az_parse_connection_string(
           &c, "accountname=myacct;ACCOUNTKEY=Zm9vYmFy;queueendpoint=https://q.example/base", &e) ==
           MB_OK,
       "keys are case-insensitive");
    is_str(c.queue_endpoint, "https://q.example/base", "explicit QueueEndpoint wins");
    mb_az_cred_fini(&c);
}

static void test_sas_string(void)
{
    mb_az_cred c;
    mb_err e;
    const char *cs = "QueueEndpoint=https://acct.queue.core.windows.net;"
                     "SharedAccessSignature=?sv=2020-08-04&ss=q&srt=sco&sp=rwdlacup&sig=abc%2B%3D";

    ok(mb_az_parse_connection_string(&c, cs, &e) == MB_OK, "SAS connection string parses");
    ok(c.kind == MB_AZ_SAS, "SAS string: kind SAS");
    is_str(c.sas, "sv=2020-08-04&ss=q&srt=sco&sp=rwdlacup&sig=abc%2B%3D",
           "SAS kept whole (with its '='), leading '?' dropped");
    is_str(c.queue_endpoint, "https://acct.queue.core.windows.net", "SAS string: endpoint");
    ok(c.account[0] == '\0', "SAS string without AccountName: no account yet");
    mb_az_cred_fini(&c);
}

static void test_cs_errors(void)
{
    char big[20000];

    cs_fails("AccountName=myacct", NULL, "AccountKey", "missing key");
    cs_fails("AccountName=myacct;AccountKey=SECRETxVALUE*==", "SECRETxVALUE", "AccountKey",
             "key with a character outside base64");
    cs_fails("AccountName=myacct;AccountKey=SECRETxVALU", "SECRETxVALU", "base64",
             "key with wrong length");
    cs_fails("AccountName=myacct;AccountKey=SECR=ETxVALUE=", "SECR", "base64",
             "key with '=' inside");
    cs_fails("AccountName=myacct;AccountKey=", NULL, "AccountKey", "empty key");
    cs_fails("AccountName=myacct;TOPSECRETSTUFF", "TOPSECRETSTUFF", "segment 2",
             "segment without '='");
    cs_fails("AccountName=a;AccountName=b;AccountKey=Zm9v", NULL, "twice", "duplicate key");
    cs_fails("AccountKey=Zm9vYmFy", NULL, "AccountName", "key without account");
    cs_fails("AccountName=my_acct!;AccountKey=Zm9v", NULL, "AccountName", "bad account name");
    cs_fails("AccountName=a;AccountKey=Zm9v;DefaultEndpointsProtocol=ftp", NULL, "http",
             "bad protocol");
    cs_fails("AccountName=a;AccountKey=Zm9v;QueueEndpoint=ftp://x", NULL, "QueueEndpoint",
             "bad endpoint");
    cs_fails("", NULL, "empty", "empty string");
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cs_fails(big, NULL, "longer", "overlong string");
}

/* ---- environment ------------------------------------------------------------- */

static void test_env(void)
{
    mb_az_cred c;
    mb_err e;

    clear_env();
    setenv("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true", 1);
    setenv("AZURE_STORAGE_ACCOUNT", "otheracct", 1);
    setenv("AZURE_STORAGE_KEY", "Zm9vYmFy", 1);
    setenv("AZURE_STORAGE_SAS_TOKEN", "sv=1&sig=x", 1);
    ok(mb_az_cred_from_env(&c, "devstoreaccount1", &e) == MB_OK && c.kind == MB_AZ_SHAREDKEY &&
           strcmp(c.account, "devstoreaccount1") == 0,
       "env: the connection string wins over everything");
    mb_az_cred_fini(&c);

    unsetenv("AZURE_STORAGE_CONNECTION_STRING");
    ok(mb_az_cred_from_env(&c, "urlacct", &e) == MB_OK && c.kind == MB_AZ_SHAREDKEY &&
           strcmp(c.account, "otheracct") == 0 && c.key_len == 6 && memcmp(c.key, "foobar", 6) == 0,
       "env: then AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY");
    mb_az_cred_fini(&c);

    unsetenv("AZURE_STORAGE_ACCOUNT");
    ok(mb_az_cred_from_env(&c, "urlacct", &e) == MB_OK && strcmp(c.account, "urlacct") == 0,
       "env: AZURE_STORAGE_KEY alone signs for the queue URL's account");
    mb_az_cred_fini(&c);
    ok(mb_az_cred_from_env(&c, NULL, &e) == MB_EUSAGE && strstr(e.msg, "AZURE_STORAGE_ACCOUNT"),
       "env: AZURE_STORAGE_KEY without any account is a usage error");
    setenv("AZURE_STORAGE_KEY", "HIDDENKEY*", 1);
    ok(mb_az_cred_from_env(&c, "urlacct", &e) == MB_EUSAGE && !strstr(e.msg, "HIDDENKEY") &&
           strstr(e.msg, "AZURE_STORAGE_KEY"),
       "env: a bad AZURE_STORAGE_KEY is named, not shown");

    unsetenv("AZURE_STORAGE_KEY");
    setenv("AZURE_STORAGE_SAS_TOKEN", "?sv=2020-08-04&sig=abc", 1);
    ok(mb_az_cred_from_env(&c, "urlacct", &e) == MB_OK && c.kind == MB_AZ_SAS &&
           strcmp(c.sas, "sv=2020-08-04&sig=abc") == 0 && strcmp(c.account, "urlacct") == 0,
       "env: then AZURE_STORAGE_SAS_TOKEN, '?' dropped");
    mb_az_cred_fini(&c);
    setenv("AZURE_STORAGE_SAS_TOKEN", "sv=2020-08-04&sig=abc", 1);
    ok(mb_az_cred_from_env(&c, "urlacct", &e) == MB_OK &&
           strcmp(c.sas, "sv=2020-08-04&sig=abc") == 0,
       "env: SAS without '?' kept as is");
    mb_az_cred_fini(&c);

    unsetenv("AZURE_STORAGE_SAS_TOKEN");
    ok(mb_az_cred_from_env(&c, "urlacct", &e) == MB_OK && c.kind == MB_AZ_TOKEN &&
           strcmp(c.imds_endpoint, "http://169.254.169.254") == 0 && c.client_id == NULL &&
           c.token == NULL,
       "env: last the managed identity at the default endpoint");
    mb_az_cred_fini(&c);
    setenv("MPIBATCH_IMDS_ENDPOINT", "http://127.0.0.1:9/", 1);
    setenv("AZURE_CLIENT_ID", "0b1f6c3a-1111-4222-8333-444455556666", 1);
    ok(mb_az_cred_from_env(&c, NULL, &e) == MB_OK &&
           strcmp(c.imds_endpoint, "http://127.0.0.1:9") == 0 && c.client_id &&
           strcmp(c.client_id, "0b1f6c3a-1111-4222-8333-444455556666") == 0,
       "env: MPIBATCH_IMDS_ENDPOINT and AZURE_CLIENT_ID");
    mb_az_cred_fini(&c);
    setenv("AZURE_CLIENT_ID", "x&resource=evil", 1);
    ok(mb_az_cred_from_env(&c, NULL, &e) == MB_EUSAGE,
       "env: a client id that is not a GUID is refused");

    setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=a;AccountKey=BADKEY!!", 1);
    ok(mb_az_cred_from_env(&c, NULL, &e) == MB_EUSAGE &&
           strncmp(e.msg, "AZURE_STORAGE_CONNECTION_STRING: ", 33) == 0 && !strstr(e.msg, "BADKEY"),
       "env: a bad connection string is named, its key not shown");
    clear_env();
}

/* ---- string to sign ---------------------------------------------------------- */

static mb_az_cred dev_cred(void)
{
    mb_az_cred c;
    mb_err e;

    if (mb_az_parse_connection_string(&c, "UseDevelopmentStorage=true", &e) != MB_OK)
        printf("# dev storage: %s\n", e.msg);
    return c;
}

static void sts_is(const mb_az_cred *c, const char *method, const char *path, const char *query,
                   const char *const *h, size_t clen, const char *want, const char *what)
{
    char *got = NULL;
    mb_err e = {MB_OK, "", 0};
    mb_status st = mb_az_string_to_sign(c, method, path, query, h, clen, &got, &e);

    if (!ok(st == MB_OK, "%s: string to sign built", what))
        printf("#   %s\n", e.msg);
    is_str(got, want, "%s: string to sign as documented", what);
    free(got);
}

static void sts_fails(const mb_az_cred *c, const char *path, const char *query,
                      const char *const *h, mb_status want, const char *what)
{
    char *got = (char *)"x";
    mb_err e = {MB_OK, "", 0};

    ok(mb_az_string_to_sign(c, "GET", path, query, h, 0, &got, &e) == want && got == NULL,
       "%s: refused", what);
}

static void test_sts_azurite(void)
{
    static const char *const h[] = {"x-ms-version: 2021-08-06", DATE_HDR,
                                    "x-ms-client-request-id: abc", NULL};
    mb_az_cred c = dev_cred();

    sts_is(&c, "GET", "/devstoreaccount1/q/messages", "numofmessages=32&visibilitytimeout=30", h, 0,
           "GET\n\n\n\n\n\n\n\n\n\n\n\n"
           "x-ms-client-request-id:abc\n" DATE_LINE "x-ms-version:2021-08-06\n"
           "/devstoreaccount1/devstoreaccount1/q/messages\nnumofmessages:32\nvisibilitytimeout:30",
           "Azurite path style GET messages (account twice)");
    sts_is(&c, "PUT", "/devstoreaccount1/q", NULL, h, 0,
           "PUT\n\n\n\n\n\n\n\n\n\n\n\n"
           "x-ms-client-request-id:abc\n" DATE_LINE "x-ms-version:2021-08-06\n"
           "/devstoreaccount1/devstoreaccount1/q",
           "PUT with Content-Length 0 signs an empty length");
    mb_az_cred_fini(&c);
}

static void test_sts_host(void)
{
    static const char *const h[] = {"Content-Type: application/xml",
                                    DATE_HDR,
                                    "x-ms-version:2021-08-06",
                                    "X-MS-Meta-Foo:   a \t  b  ",
                                    "x-ms-empty:",
                                    "User-Agent: mpibatch",
                                    NULL};
    static const char *const dated[] = {"Date: Tue, 02 Jan 2024 00:00:00 GMT", "If-Match: \"e1\"",
                                        "Range: bytes=0-9", NULL};
    mb_az_cred c = dev_cred();

    memcpy(c.account, "myacct", 7);
    sts_is(&c, "PUT", "/q/messages", "visibilitytimeout=0&messagettl=3600", h, 123,
           "PUT\n\n\n123\n\napplication/xml\n\n\n\n\n\n\n" DATE_LINE
           "x-ms-meta-foo:a b\nx-ms-version:2021-08-06\n"
           "/myacct/q/messages\nmessagettl:3600\nvisibilitytimeout:0",
           "host style PUT: length, type, sorted folded x-ms headers, sorted query");
    sts_is(&c, "GET", "/q", "comp=metadata&Include=b&include=a&x=%2Fp%20q+r&flag", NULL, 0,
           "GET\n\n\n\n\n\n\n\n\n\n\n\n/myacct/q\ncomp:metadata\nflag:\ninclude:a,b\nx:/p q+r",
           "query: lowercase names, decoded values, multiple values sorted, '+' kept");
    sts_is(&c, "HEAD", "", NULL, dated, 0,
           "HEAD\n\n\n\n\n\nTue, 02 Jan 2024 00:00:00 GMT\n\n\"e1\"\n\n\nbytes=0-9\n/myacct/",
           "Date, If-Match and Range in their slots; empty path is '/'");
    mb_az_cred_fini(&c);
}

static void test_sts_errors(void)
{
    static const char *const nocolon[] = {"x-ms-date Mon", NULL};
    static const char *const twice[] = {DATE_HDR, "X-MS-DATE: x", NULL};
    const char *many[70];
    mb_az_cred c = dev_cred();
    size_t i;

    sts_fails(&c, "/q", "a=%zz", NULL, MB_EUSAGE, "bad %-escape in the query");
    sts_fails(&c, "/q", "a=%00", NULL, MB_EUSAGE, "%00 in the query");
    sts_fails(&c, "/q", "a=%4", NULL, MB_EUSAGE, "truncated %-escape");
    sts_fails(&c, "/q", NULL, nocolon, MB_EINTERNAL, "header without ':'");
    sts_fails(&c, "/q", NULL, twice, MB_EINTERNAL, "x-ms-date twice");
    sts_fails(&c, "/q?a=1", NULL, NULL, MB_EINTERNAL, "query inside the path");
    for (i = 0; i < 69; i++)
        many[i] = "x-ms-foo: 1";
    many[69] = NULL;
    sts_fails(&c, "/q", NULL, many, MB_ELIMIT, "more headers than the cap");
    mb_az_cred_fini(&c);
}

static void test_sharedkey_header(void)
{
    static const char *const h[] = {"x-ms-version: 2021-08-06", DATE_HDR,
                                    "x-ms-client-request-id: abc", NULL};
    mb_az_cred c = dev_cred(), t;
    char out[HDR_CAP], small[40];
    mb_err e;

    /* Expected value computed with Python's hmac module from the same
     * string-to-sign and the published Azurite key. */
    ok(mb_az_sharedkey_header(&c, "GET", "/devstoreaccount1/q/messages",
                              "numofmessages=32&visibilitytimeout=30", h, 0, out, sizeof out,
                              &e) == MB_OK,
       "SharedKey header built");
    is_str(out,
           "Authorization: SharedKey devstoreaccount1:Ip9PQ80gy0JV7z3/RB+bCruHV9OQOQHBZaTx3d0MibY=",
           "SharedKey header: format and known-answer signature");
    ok(mb_az_sharedkey_header(&c, "GET", "/q", NULL, h, 0, small, sizeof small, &e) == MB_ELIMIT &&
           small[0] == '\0',
       "SharedKey header: too small a buffer is refused, left empty");
    memset(&t, 0, sizeof t);
    t.kind = MB_AZ_SAS;
    ok(mb_az_sharedkey_header(&t, "GET", "/q", NULL, h, 0, out, sizeof out, &e) == MB_EINTERNAL,
       "SharedKey header refused for a SAS credential");
    mb_az_cred_fini(&c);
}

/* ---- redaction ----------------------------------------------------------------- */

static void redacts(const char *in, const char *want, const char *what)
{
    char buf[512];
    size_t before;

    snprintf(buf, sizeof buf, "%s", in);
    before = strlen(buf);
    mb_az_redact(buf);
    is_str(buf, want, "redact: %s", what);
    ok(strlen(buf) <= before, "redact: %s: the text did not grow", what);
}

static void test_redact(void)
{
    redacts("GET https://a.queue.core.windows.net/q?sv=2020&sig=abcdEFGH%2B%3D&se=2030 failed",
            "GET https://a.queue.core.windows.net/q?sv=2020&sig=REDACTED&se=2030 failed",
            "sig= in a URL");
    redacts("x?SIG=abcdefghijkl", "x?SIG=REDACTED", "SIG= at the end, any case");
    redacts("sig=abc&sig=defghijklmn", "sig=***&sig=REDACTED", "two sigs, a short one as stars");
    redacts("AccountName=a;AccountKey=Zm9vYmFyYmF6cXV4==;EndpointSuffix=x",
            "AccountName=a;AccountKey=REDACTED;EndpointSuffix=x", "AccountKey= up to ';'");
    redacts("accountkey=Zm9vYmFyYmF6cXV4", "accountkey=REDACTED", "AccountKey= at the end");
    redacts("SharedAccessSignature=sv=1&ss=q&sig=zzzzzzzz;QueueEndpoint=https://x",
            "SharedAccessSignature=REDACTED;QueueEndpoint=https://x",
            "SharedAccessSignature= up to ';'");
    redacts("Authorization: SharedKey devstoreaccount1:Ip9PQ80gy0JV7z3/RB+bCruHV9OQ=",
            "Authorization: SharedKey devstoreaccount1:REDACTED",
            "SharedKey NAME:SIG keeps the name");
    redacts("Authorization: Bearer eyJ0eXAi.J9xx.yy-zz_", "Authorization: Bearer REDACTED",
            "Bearer token");
    redacts("{\"access_token\" : \"eyJh\\\"bGci\", \"expires_in\":\"3599\"}",
            "{\"access_token\" : \"REDACTED\", \"expires_in\":\"3599\"}", "access_token in JSON");
    redacts("{\"access_token\":\"abc\"}", "{\"access_token\":\"***\"}",
            "short access_token as stars");
    redacts("queue q: 403 AuthenticationFailed for message 42",
            "queue q: 403 AuthenticationFailed for message 42", "text without secrets unchanged");
    redacts("", "", "empty string");
    mb_az_redact(NULL);
    ok(1, "redact(NULL) is harmless");
}

/* Text in which a secret hides behind a repeated or decorated key: after
 * redaction the secret must be gone, whatever else is left. */
static const struct {
    const char *text, *secret, *what;
} HIDDEN[] = {
    {"Authorization: Bearer Bearer eyJ0eXAiOiJKV1Qi.c2Vj.cmV0", "eyJ0eXAi", "Bearer Bearer"},
    {"bearer BEARER Bearer eyJ0eXAiOiJKV1Qi", "eyJ0eXAi", "Bearer three times, any case"},
    {"Authorization: Bearer  eyJ0eXAiOiJKV1Qi", "eyJ0eXAi", "Bearer and two spaces"},
    {"Authorization: Bearer\teyJ0eXAiOiJKV1Qi", "eyJ0eXAi", "Bearer and a tab"},
    {"token was Bearer \"eyJ0eXAiOiJKV1Qi\"", "eyJ0eXAi", "Bearer and a quoted token"},
    {"{\"access_token\": \"access_token\": \"eyJhbGciOiJSUzI1NiJ9\"}", "eyJhbGci",
     "access_token twice"},
    {"{\"access_token\":\"Bearer eyJhbGciOiJSUzI1NiJ9\"}", "eyJhbGci",
     "access_token holding a Bearer value"},
    {"Bearer \"access_token\": \"eyJhbGciOiJSUzI1NiJ9\"", "eyJhbGci",
     "Bearer before a JSON access_token"},
    {"GET /q?sv=1&sig=sig=c2lnbmF0dXJlc2VjcmV0&se=2", "c2lnbmF0", "sig=sig="},
    {"GET /q?sv=1&sig=%20c2lnbmF0dXJlc2VjcmV0&se=2", "c2lnbmF0", "sig= and an encoded blank"},
    {"GET /q?sv=1&sig= c2lnbmF0dXJlc2VjcmV0", "c2lnbmF0", "sig= and a blank"},
    {"url=https%3A%2F%2Fa%2Fq%3Fsv%3D1%26sig%3Dc2lnbmF0dXJlc2VjcmV0", "c2lnbmF0",
     "sig%3D in an encoded URL"},
    {"AccountName=a;AccountKey=AccountKey=Zm9vYmFyYmF6cXV4;x=y", "Zm9vYmFy",
     "AccountKey=AccountKey="},
    {"AccountKey= \"Zm9vYmFyYmF6cXV4\"", "Zm9vYmFy", "AccountKey= and a quoted key"},
    {"SharedAccessSignature=SharedAccessSignature=sv=1&sig=c2lnbmF0dXJl", "c2lnbmF0",
     "SharedAccessSignature twice"},
    {"Authorization: SharedKey acct:SharedKey acct:SXA5UFE4MGd5MEpW", "SXA5UFE4",
     "SharedKey NAME: twice"},
    {"Authorization: SharedKey  acct:SXA5UFE4MGd5MEpW", "SXA5UFE4", "SharedKey and two spaces"},
    {"Authorization: Bearer SharedKey acct:SXA5UFE4MGd5MEpW", "SXA5UFE4",
     "Bearer before SharedKey"},
    {"Bearer sig=&eyJ0eXAiOiJKV1Qi", "eyJ0eXAi", "Bearer over an empty sig="},
    /* what the connection-string parser trims around '=' */
    {"AccountName=a;AccountKey = Zm9vYmFyYmF6cXV4;x=y", "Zm9vYmFy", "AccountKey = with blanks"},
    {"AccountName=a;AccountKey=\r\nZm9vYmFyYmF6cXV4", "Zm9vYmFy", "AccountKey= and a CRLF"},
    {"SharedAccessSignature\t=sv=1&sp=r&c2lnbmF0dXJl", "c2lnbmF0",
     "SharedAccessSignature and a tab before '='"},
};

static void test_redact_hidden(void)
{
    char buf[512];
    size_t i;

    for (i = 0; i < MB_ARRAY_LEN(HIDDEN); i++) {
        snprintf(buf, sizeof buf, "%s", HIDDEN[i].text);
        mb_az_redact(buf);
        if (!ok(strstr(buf, HIDDEN[i].secret) == NULL && strlen(buf) <= strlen(HIDDEN[i].text),
                "redact: %s: the secret is gone", HIDDEN[i].what))
            printf("#   got: '%s'\n", buf);
    }
    redacts("Authorization: Bearer Bearer eyJ0eXAiOiJKV1Qi",
            "Authorization: Bearer ****** REDACTED", "a repeated key is blotted too");
    {
        /* the ',' that ended the SharedKey value is blotted with the SAS
         * value: a second pass would take ";x=1" too, so the first does */
        char t[] = "SharedKey acct:567SharedAccessSignature=2ab,cd;x=1 rest";
        char u[sizeof t];
        mb_az_redact(t);
        memcpy(u, t, sizeof t);
        mb_az_redact(u);
        if (!ok(strcmp(t, u) == 0 && strstr(t, " rest"), "redact: a second pass changes nothing"))
            printf("#   once: '%s'\n#   twice: '%s'\n", t, u);
    }
    {
        /* longer than the marks kept on the stack */
        static char big[6000];
        memset(big, 'x', sizeof big - 64);
        snprintf(big + sizeof big - 64, 64, " sig=sig=c2lnbmF0dXJlc2VjcmV0&x=1");
        mb_az_redact(big);
        ok(!strstr(big, "c2lnbmF0") && strstr(big, "&x=1") && strlen(big) < sizeof big - 1,
           "redact: a text of %zu bytes is redacted too", sizeof big - 1);
    }
    redacts("{\"access_token\": \"access_token\": \"eyJhbGciOiJSUzI1NiJ9\"}",
            "{\"access_token\": \"REDACTED\": \"REDACTED\"}",
            "every value after a JSON key is blotted");
}

/* ---- base64 and dates --------------------------------------------------------------- */

static void b64_is(const char *plain, const char *want)
{
    char out[64];
    unsigned char back[64];
    size_t n = 99;

    ok(mb_b64_encode((const unsigned char *)plain, strlen(plain), out, sizeof out) == MB_OK &&
           strcmp(out, want) == 0,
       "base64 '%s' -> '%s'", plain, want);
    ok(mb_b64_decode(want, strlen(want), back, sizeof back, &n) == MB_OK && n == strlen(plain) &&
           memcmp(back, plain, n) == 0,
       "base64 '%s' decodes back to %zu bytes", want, strlen(plain));
}

static void b64_rejects(const char *s, const char *what)
{
    unsigned char out[64];
    size_t n = 99;

    ok(mb_b64_decode(s, strlen(s), out, sizeof out, &n) == MB_EDATA && n == 0, "base64 rejects %s",
       what);
}

static void test_b64(void)
{
    unsigned char raw[100], back[140];
    char enc[140];
    size_t len, n, i, good = 0;

    b64_is("", "");
    b64_is("f", "Zg==");
    b64_is("fo", "Zm8=");
    b64_is("foo", "Zm9v");
    b64_is("foobar", "Zm9vYmFy");
    b64_rejects("Zg=", "a length not a multiple of 4");
    b64_rejects("Zg=a", "'=' before the end");
    b64_rejects("Z===", "three '='");
    b64_rejects("====", "only padding");
    b64_rejects("Zm9v!A==", "a character outside the alphabet");
    b64_rejects("Zm 9", "a space");
    b64_rejects("Zm9v\n", "a newline");
    b64_rejects("Zm9-", "the URL-safe alphabet");
    ok(mb_b64_encode((const unsigned char *)"foo", 3, enc, 4) == MB_ELIMIT,
       "base64 encode: small buffer refused");
    ok(mb_b64_decode("Zm9vYmFy", 8, back, 5, &n) == MB_ELIMIT,
       "base64 decode: small buffer refused");
    srand(7);
    for (len = 0; len < sizeof raw; len++) {
        for (i = 0; i < len; i++)
            raw[i] = (unsigned char)(rand() & 0xff);
        if (mb_b64_encode(raw, len, enc, sizeof enc) == MB_OK &&
            mb_b64_decode(enc, strlen(enc), back, sizeof back, &n) == MB_OK && n == len &&
            memcmp(raw, back, len) == 0)
            good++;
    }
    ok(good == sizeof raw, "base64 round trip of random data, lengths 0..99 (%zu good)", good);
}

static void test_date(void)
{
    char d[32];

    mb_az_date(0, d);
    is_str(d, "Thu, 01 Jan 1970 00:00:00 GMT", "date: the epoch");
    mb_az_date(784111777, d);
    is_str(d, "Sun, 06 Nov 1994 08:49:37 GMT", "date: RFC 7231's example");
    mb_az_date(1700000000, d);
    is_str(d, "Tue, 14 Nov 2023 22:13:20 GMT", "date: 2023");
}

/* ---- managed identity without a server ------------------------------------------------- */

static void test_token_unreachable(void)
{
    char url[64], out[HDR_CAP];
    mb_az_cred c, sk = dev_cred();
    mb_err e = {MB_OK, "", 0};
    time_t t0;

    clear_env();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
    setenv("MPIBATCH_IMDS_ENDPOINT", url, 1);
    setenv("MPIBATCH_IMDS_RETRY_BASE_MS", "5", 1);
    ok(mb_az_cred_from_env(&c, "acct", &e) == MB_OK && c.kind == MB_AZ_TOKEN,
       "identity credential");
    t0 = time(NULL);
    ok(mb_az_token_header(&c, out, sizeof out, &e) == MB_EQUEUE && out[0] == '\0',
       "token: an unreachable metadata service is MB_EQUEUE");
    ok(time(NULL) - t0 < 10, "token: ... after a bounded number of quick retries");
    if (!ok(strstr(e.msg, "managed identity") && strstr(e.msg, "3 attempts"),
            "token: the message says what and how often"))
        printf("#   %s\n", e.msg);
    ok(mb_az_token_header(&sk, out, sizeof out, &e) == MB_EINTERNAL,
       "token: refused for a SharedKey credential");
    mb_az_cred_fini(&c);
    mb_az_cred_fini(&sk);
    clear_env();
}

/* ---- modes for the shell tests --------------------------------------------------------- */

static void print_escaped(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            fputs("\\n", stdout);
        else if (*s == '\\')
            fputs("\\\\", stdout);
        else
            putchar(*s);
    }
    putchar('\n');
}

static int write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    int rc = f && fwrite(s, 1, strlen(s), f) == strlen(s) ? 0 : 1;

    if (f && fclose(f) != 0)
        rc = 1;
    return rc;
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;

    if (!*s || strspn(s, "0123456789") != strlen(s))
        return -1;
    v = strtoull(s, &end, 10);
    *out = (size_t)v;
    return *end == '\0' && v <= (unsigned long long)SIZE_MAX ? 0 : -1;
}

static int mode_sign(int argc, char **argv)
{
    const char *query = strcmp(argv[4], "-") == 0 ? NULL : argv[4], *file = getenv("MB_STS_FILE");
    char *sts = NULL, hdr[HDR_CAP];
    mb_az_cred c;
    mb_err e;
    size_t clen;
    const char *const *h = (const char *const *)(argv + 6);

    (void)argc;
    if (parse_size(argv[5], &clen) != 0) {
        fprintf(stderr, "sign: bad CONTENT_LENGTH\n");
        return 2;
    }
    if (mb_az_cred_from_env(&c, NULL, &e) != MB_OK ||
        mb_az_string_to_sign(&c, argv[2], argv[3], query, h, clen, &sts, &e) != MB_OK ||
        mb_az_sharedkey_header(&c, argv[2], argv[3], query, h, clen, hdr, sizeof hdr, &e) !=
            MB_OK) {
        fprintf(stderr, "sign: %s\n", e.msg);
        mb_az_cred_fini(&c);
        free(sts);
        return 1;
    }
    print_escaped(sts);
    puts(strrchr(hdr, ':') + 1); /* base64 has no ':', so this is the signature */
    if (file && write_file(file, sts) != 0)
        fprintf(stderr, "sign: cannot write %s\n", file);
    free(sts);
    mb_az_cred_fini(&c);
    return 0;
}

static int mode_token(int argc, char **argv)
{
    char hdr[HDR_CAP * 40];
    size_t n = 1, i;
    mb_az_cred c;
    mb_err e;
    int rc = 0;

    if (argc > 2 && parse_size(argv[2], &n) != 0) {
        fprintf(stderr, "token: bad count\n");
        return 2;
    }
    mb_log_init(-1, MB_LOG_DEBUG);
    if (mb_az_cred_from_env(&c, "acct", &e) != MB_OK) {
        fprintf(stderr, "token: %s\n", e.msg);
        return 1;
    }
    for (i = 0; i < n && rc == 0; i++) {
        if (mb_az_token_header(&c, hdr, sizeof hdr, &e) == MB_OK) {
            puts(hdr);
        } else {
            fprintf(stderr, "token: %s\n", e.msg);
            rc = 1;
        }
    }
    mb_az_cred_fini(&c);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "sign") == 0)
        return mode_sign(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "token") == 0)
        return mode_token(argc, argv);
    if (argc > 1) {
        fprintf(stderr,
                "usage: test_azure_auth [sign METHOD PATH QUERY CLEN HEADER... | token [N]]\n");
        return 2;
    }
    mb_log_init(-1, MB_LOG_ERROR);
    test_devstore();
    test_full_string();
    test_sas_string();
    test_cs_errors();
    test_env();
    test_sts_azurite();
    test_sts_host();
    test_sts_errors();
    test_sharedkey_header();
    test_redact();
    test_redact_hidden();
    test_b64();
    test_date();
    test_token_unreachable();
    return tap_done();
}
