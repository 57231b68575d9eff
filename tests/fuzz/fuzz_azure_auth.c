/* fuzz_azure_auth.c - libFuzzer harness: connection strings, SharedKey headers and secret redaction (azure_auth.c). */
/*
 * The first byte picks the mode.
 *  even: the input is a program that writes a text of noise and of keys
 *    (sig=, sig%3D, AccountKey=, SharedAccessSignature=, Bearer, SharedKey
 *    NAME:, "access_token":) in any case, in every form the redaction
 *    promises to recognise (whitespace around '=', blanks after a word,
 *    a quote, repeated and nested keys),
 *    each followed by a secret of digits other than 3. Noise holds no
 *    digit, keys no digit but the 3 of sig%3D, nor does the word REDACTED:
 *    after mb_az_redact no digit but 3 may be left. The text never grows,
 *    and redacting twice changes nothing more.
 *  odd: the rest is a connection string. Parsing it either works (a sane
 *    credential) or fails leaving nothing behind and without quoting an
 *    AccountKey or SharedAccessSignature value; redacting the string
 *    hides those values; a SharedKey header from a parsed key, once
 *    redacted, keeps no signature.
 */
#include "azure/azure_auth.h"
#include "fuzz.h"

#include <strings.h>

#define TEXT_CAP 8192

typedef struct text {
    char s[TEXT_CAP];
    size_t n;
} text;

static void put(text *t, const char *p, size_t n)
{
    if (n > TEXT_CAP - 1 - t->n)
        n = TEXT_CAP - 1 - t->n;
    memcpy(t->s + t->n, p, n);
    t->n += n;
    t->s[t->n] = '\0';
}

static void putc1(text *t, char c)
{
    put(t, &c, 1);
}

/* Blanks (with `any`, also CR and LF). */
static void blanks(text *t, fz_in *in, int at_least_one, int any)
{
    uint8_t b = fz_u8(in);
    int k = (b & 3) + (at_least_one ? 1 : 0);

    while (k-- > 0)
        putc1(t, " \t\r\n"[(b >> (2 + 2 * (k & 1))) & (any ? 3 : 1)]);
}

/* The key in the case the input asks for. */
static void key(text *t, const char *k, uint8_t casebits)
{
    size_t i, n = strlen(k);

    for (i = 0; i < n; i++) {
        char c = k[i];
        if (((casebits >> (i % 8)) & 1) && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (((casebits >> (i % 8)) & 1) && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        putc1(t, c);
    }
}

/* Whitespace, at most one quote, whitespace: what may stand between a
 * key and its value. */
static void fill(text *t, fz_in *in)
{
    uint8_t b = fz_u8(in);

    blanks(t, in, 0, 1);
    if (b & 1)
        putc1(t, (b & 2) ? '\'' : '"');
    blanks(t, in, 0, 1);
}

static void secret(text *t, fz_in *in)
{
    size_t n = fz_u8(in) % 33, i;

    for (i = 0; i < n; i++)
        putc1(t, "012456789"[fz_u8(in) % 9]); /* not 3: sig%3D holds one */
}

/* Noise: any bytes but digits and NUL (digits become letters). */
static void noise(text *t, fz_in *in)
{
    size_t n = fz_u8(in) % 24, i;

    for (i = 0; i < n; i++) {
        uint8_t c = fz_u8(in);
        if (c >= '0' && c <= '9')
            c = (uint8_t)('g' + (c - '0'));
        putc1(t, c ? (char)c : ' ');
    }
}

static void key_and_secret(text *t, fz_in *in)
{
    static const char *const assign[] = {"sig", "AccountKey", "SharedAccessSignature"};
    uint8_t which = fz_u8(in) % 7, casebits = fz_u8(in), b;
    size_t i, n;

    if (which < 3) {
        key(t, assign[which], casebits);
        blanks(t, in, 0, 1);
        putc1(t, '=');
        fill(t, in);
    } else if (which == 3) {
        key(t, "sig%3D", casebits);
        fill(t, in);
    } else if (which == 4) {
        key(t, "Bearer", casebits);
        blanks(t, in, 1, 0);
        fill(t, in);
    } else if (which == 5) {
        key(t, "SharedKey", casebits);
        blanks(t, in, 1, 0);
        n = 1 + fz_u8(in) % 8;
        for (i = 0; i < n; i++)
            putc1(t, (char)('a' + fz_u8(in) % 26));
        putc1(t, ':');
        fill(t, in);
    } else {
        key(t, "\"access_token\"", casebits);
        b = fz_u8(in);
        for (i = 0; i < (size_t)(b & 3); i++)
            putc1(t, " \t\r\n"[(b >> 2) & 3]);
        putc1(t, ':');
        for (i = 0; i < (size_t)((b >> 4) & 3); i++)
            putc1(t, " \t\r\n"[(b >> 6) & 3]);
        putc1(t, '"');
    }
    secret(t, in); /* empty now and then: the next key is then nested in this one */
}

static void redaction_property(fz_in *in)
{
    static text t;
    static char once[TEXT_CAP], orig[TEXT_CAP];
    size_t i, before;

    t.n = 0;
    t.s[0] = '\0';
    while (in->n && t.n < TEXT_CAP - 256) {
        if (fz_u8(in) % 3 == 0)
            noise(&t, in);
        else
            key_and_secret(&t, in);
    }
    before = strlen(t.s);
    memcpy(orig, t.s, before + 1);
    mb_az_redact(t.s);
    for (i = 0; t.s[i]; i++)
        FZ_CHECK(t.s[i] < '0' || t.s[i] > '9' || t.s[i] == '3',
                 "a secret digit survived at %zu: '%s' -> '%s'", i, orig, t.s);
    FZ_CHECK(strlen(t.s) <= before, "the text grew");
    memcpy(once, t.s, strlen(t.s) + 1);
    mb_az_redact(t.s);
    FZ_CHECK(strcmp(once, t.s) == 0, "redacting twice changed more: '%s' -> '%s' -> '%s'",
             orig, once, t.s);
}

static int cs_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The values of NAME = VALUE segments of a connection string that must
 * not leak, as the parser reads them (whitespace trimmed, up to ';'):
 * long enough to be told apart and found once only in the whole string.
 * Never values with blanks inside or made of letters only (such a value
 * could be part of the messages' own text); with `core`, only values that
 * could be a real key or SAS (no quotes or separators inside either),
 * which is what redaction promises. */
static int each_secret(const char *cs, const char *name, int core, char *out, size_t cap,
                       size_t *pos)
{
    size_t nl = strlen(name), i, j, a, n;

    for (i = *pos; cs[i]; i++) {
        if ((i > 0 && cs[i - 1] != ';' && !cs_space(cs[i - 1])) ||
            strncasecmp(cs + i, name, nl) != 0)
            continue;
        for (j = i + nl; cs_space(cs[j]); j++)
            ;
        if (cs[j] != '=')
            continue;
        for (a = j + 1; cs_space(cs[a]); a++)
            ;
        n = strcspn(cs + a, ";");
        *pos = a + n;
        while (n > 0 && cs_space(cs[a + n - 1]))
            n--;
        if (n < 12 || n >= cap || strcspn(cs + a, core ? ",; \t\r\n\"'" : " \t\r\n") < n)
            continue;
        memcpy(out, cs + a, n);
        out[n] = '\0';
        /* a plain word could be part of the messages' own text */
        if (strspn(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == n)
            continue;
        if (strstr(strstr(cs, out) + 1, out) == NULL)
            return 1;
    }
    return 0;
}

static void check_hidden(const char *cs, const char *where, int core, const char *what)
{
    static const char *const names[] = {"AccountKey", "SharedAccessSignature"};
    char v[512];
    size_t k, pos;

    for (k = 0; k < MB_ARRAY_LEN(names); k++)
        for (pos = 0; each_secret(cs, names[k], core, v, sizeof v, &pos);)
            FZ_CHECK(strstr(where, v) == NULL, "%s shows the %s value: %s", what, names[k],
                     where);
}

static void check_header(const mb_az_cred *c)
{
    static const char *const hdrs[] = {"x-ms-date: Mon, 01 Jan 2024 00:00:00 GMT",
                                       "x-ms-version: 2023-11-03", NULL};
    char h[512];
    mb_err e;
    const char *colon;

    if (mb_az_sharedkey_header(c, "GET", "/q/messages", "numofmessages=1", hdrs, 0, h, sizeof h,
                               &e) != MB_OK)
        return;
    mb_az_redact(h);
    colon = strrchr(h, ':');
    FZ_CHECK(colon && strcmp(colon + 1, "REDACTED") == 0, "a redacted header: %s", h);
}

static void connection_string(fz_in *in)
{
    const uint8_t *p;
    size_t len;
    char *cs, *red;
    mb_az_cred c;
    mb_err e;
    mb_status st;

    p = fz_bytes(in, in->n, &len);
    cs = fz_copy(p, len, 1); /* read up to its first NUL, as from the environment */
    memset(&e, 0, sizeof e);
    st = mb_az_parse_connection_string(&c, cs, &e);
    if (st != MB_OK) {
        FZ_CHECK(st == MB_EUSAGE || st == MB_ELIMIT, "parse: status %d", (int)st);
        FZ_CHECK(c.key_len == 0 && c.sas == NULL && c.queue_endpoint == NULL,
                 "a failed parse left something in the credential");
        check_hidden(cs, e.msg, 0, "the error");
    } else {
        FZ_CHECK(c.kind == MB_AZ_SHAREDKEY || c.kind == MB_AZ_SAS, "kind %d", (int)c.kind);
        FZ_CHECK(c.key_len <= MB_AZ_KEY_MAX, "key of %zu bytes", c.key_len);
        FZ_CHECK(memchr(c.account, '\0', sizeof c.account) != NULL, "account not terminated");
        FZ_CHECK(c.kind != MB_AZ_SAS || c.sas != NULL, "a SAS credential without its SAS");
        if (c.kind == MB_AZ_SHAREDKEY && c.account[0] && c.key_len)
            check_header(&c);
    }
    mb_az_cred_fini(&c);
    FZ_CHECK(c.key_len == 0 && c.sas == NULL && c.token == NULL, "fini left secrets behind");
    red = fz_copy(cs, strlen(cs), 1);
    mb_az_redact(red);
    check_hidden(cs, red, 1, "the redacted string");
    free(red);
    free(cs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};

    if (fz_u8(&in) & 1)
        connection_string(&in);
    else
        redaction_property(&in);
    return 0;
}
