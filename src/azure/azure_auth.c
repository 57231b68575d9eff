/* azure_auth.c - Azure Storage credentials (environment, connection strings),
 * SharedKey signing with HMAC-SHA256 through OpenSSL 3 EVP_MAC, managed-
 * identity bearer tokens, secret redaction and strict base64. Does not build
 * or send storage requests, and never puts a key, signature or token into a
 * log line or error message; its only I/O is the token request to the
 * instance metadata service, made through imds.c. */
#include "azure/azure_auth.h"

#include "azure/imds.h"
#include "base/log.h"
#include "base/timefmt.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CS_MAX 16384            /* a whole connection string */
#define CS_NAME_MAX 64          /* the Key part of one Key=Value */
#define SAS_MAX 8192
#define ENDPOINT_MAX 512
#define CLIENT_ID_MAX 128
#define HEADERS_MAX 64
#define QUERY_PARAMS_MAX 64
#define STS_MAX 65536
#define TOKEN_MAX 16384
#define IMDS_PATH_MAX 512
#define IMDS_RESPONSE_MAX 65536
#define IMDS_CONNECT_MS 2000L
#define IMDS_TIMEOUT_MS 10000L
#define IMDS_DEADLINE_S 90.0    /* all retries (imds.c's policy) within this */
#define TOKEN_SLACK_S 300       /* refresh 5 minutes before expiry */
#define HMAC_SHA256_LEN 32
#define SIG_B64_LEN 45          /* base64 of 32 bytes, plus NUL */

static const char DEV_ACCOUNT[] = "devstoreaccount1";
/* The fixed, published Azurite / storage emulator key: not a secret. */
static const char DEV_KEY[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
static const char DEV_QUEUE_ENDPOINT[] = "http://127.0.0.1:10001/devstoreaccount1";
static const char IMDS_TOKEN_PATH[] =
    "/metadata/identity/oauth2/token?api-version=2018-02-01"
    "&resource=https%3A%2F%2Fstorage.azure.com%2F";

/* One token fetch at a time. mpibatch renews leases on rank 0's main thread
 * between chunks, so today nothing fetches concurrently; the lock keeps the
 * token cache safe for a caller that does use threads. */
static pthread_mutex_t token_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- small helpers ------------------------------------------------------ */

static int is_space(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static int is_alnum(int ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static int lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* Trims whitespace from both ends of s[0..*len), returning the new start. */
static const char *trim(const char *s, size_t *len)
{
    while (*len > 0 && is_space((unsigned char)s[0])) {
        s++;
        (*len)--;
    }
    while (*len > 0 && is_space((unsigned char)s[*len - 1]))
        (*len)--;
    return s;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = mb_malloc(n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Frees a string that may hold a secret, wiping it first. */
static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* mb_err_prefix refuses a NULL report; callers here may pass one. */
static mb_status err_prefix(mb_err *err, mb_status st, const char *what)
{
    if (err)
        mb_err_prefix(err, "%s: ", what);
    return st;
}

/* ---- base64 ------------------------------------------------------------- */

static int b64_char(int ch)
{
    return is_alnum(ch) || ch == '+' || ch == '/';
}

mb_status mb_b64_encode(const unsigned char *p, size_t len, char *out, size_t cap)
{
    size_t need;
    int n;

    if (!out || (len > 0 && !p))
        return MB_EINTERNAL;
    if (len > (size_t)(INT_MAX / 4) * 3)   /* the output length must fit an int */
        return MB_ELIMIT;
    need = (len + 2) / 3 * 4 + 1;
    if (cap < need)
        return MB_ELIMIT;
    n = EVP_EncodeBlock((unsigned char *)out, p, (int)len);
    if (n < 0 || (size_t)n + 1 != need)
        return MB_EINTERNAL;
    return MB_OK;
}

/* EVP_DecodeBlock skips surrounding whitespace and returns the padded
 * length, so the checks (alphabet, length, '=' only at the end) come first
 * and the true length is computed from the '=' count. */
mb_status mb_b64_decode(const char *p, size_t len, unsigned char *out, size_t cap,
                        size_t *outlen)
{
    size_t i, pad = 0, need;
    int n;

    if (!out || !outlen || (len > 0 && !p))
        return MB_EINTERNAL;
    *outlen = 0;
    if (len == 0)
        return MB_OK;
    if (len % 4 != 0 || len > (size_t)INT_MAX)
        return MB_EDATA;
    if (p[len - 1] == '=')
        pad = p[len - 2] == '=' ? 2 : 1;
    for (i = 0; i < len - pad; i++)
        if (!b64_char((unsigned char)p[i]))
            return MB_EDATA;
    need = len / 4 * 3;
    if (cap < need)
        return MB_ELIMIT;
    n = EVP_DecodeBlock(out, (const unsigned char *)p, (int)len);
    if (n < 0 || (size_t)n != need) {
        OPENSSL_cleanse(out, need);
        return MB_EDATA;
    }
    *outlen = need - pad;
    return MB_OK;
}

/* ---- credential fields -------------------------------------------------- */

/* Storage account names are 3-24 lowercase letters and digits on Azure;
 * emulators accept other letters, so only the alphabet and size are held. */
static int valid_account(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n >= MB_AZ_ACCOUNT_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!is_alnum((unsigned char)s[i]))
            return 0;
    return 1;
}

static mb_status set_account(mb_az_cred *c, const char *s, const char *what, mb_err *err)
{
    size_t n = strlen(s);

    if (!valid_account(s, n))
        return mb_err_set(err, MB_EUSAGE,
                          "%s is not a storage account name (1 to %d letters and digits)",
                          what, MB_AZ_ACCOUNT_MAX - 1);
    memcpy(c->account, s, n + 1);
    return MB_OK;
}

/* Decodes a base64 account key. The value is never echoed: it is a secret
 * even when malformed (a pasted key with one character wrong). */
static mb_status set_key(mb_az_cred *c, const char *b64, const char *what, mb_err *err)
{
    unsigned char buf[MB_AZ_KEY_MAX + 3];
    size_t len = strlen(b64), n = 0;
    mb_status st;

    if (len / 4 * 3 > sizeof buf)
        return mb_err_set(err, MB_EUSAGE,
                          "%s is too long for an account key (the value is not shown)", what);
    st = mb_b64_decode(b64, len, buf, sizeof buf, &n);
    if (st != MB_OK || n == 0 || n > MB_AZ_KEY_MAX) {
        OPENSSL_cleanse(buf, sizeof buf);
        return mb_err_set(err, MB_EUSAGE,
                          "%s is not a valid base64 account key (the value is not shown)", what);
    }
    memcpy(c->key, buf, n);
    c->key_len = n;
    OPENSSL_cleanse(buf, sizeof buf);
    return MB_OK;
}

static mb_status set_sas(mb_az_cred *c, const char *s, const char *what, mb_err *err)
{
    size_t n;

    if (*s == '?')
        s++;
    n = strlen(s);
    if (n == 0 || n > SAS_MAX || strpbrk(s, " \t\r\n#"))
        return mb_err_set(err, MB_EUSAGE, "%s is not a SAS token (the value is not shown)", what);
    if (!(c->sas = dup_n(s, n)))
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    c->kind = MB_AZ_SAS;
    return MB_OK;
}

/* An http(s) base URL without trailing '/'; no query or fragment (SAS
 * tokens belong in SharedAccessSignature, not in the endpoint). */
static mb_status dup_endpoint(const char *s, const char *what, char **out, mb_err *err)
{
    size_t n = strlen(s);
    int web = strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;

    while (n > 0 && s[n - 1] == '/')
        n--;
    if (n >= ENDPOINT_MAX || !web || strcspn(s, " \t\r\n?#") < n)
        return mb_err_set(err, MB_EUSAGE, "%s must be an http:// or https:// URL without query",
                          what);
    if (!(*out = dup_n(s, n)))
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    return MB_OK;
}

/* ---- connection strings ------------------------------------------------- */

enum { F_ACCOUNT, F_KEY, F_QUEUE_EP, F_PROTOCOL, F_SUFFIX, F_SAS, F_DEV, F_COUNT };

static const char *const CS_FIELDS[F_COUNT] = {
    "AccountName", "AccountKey", "QueueEndpoint", "DefaultEndpointsProtocol",
    "EndpointSuffix", "SharedAccessSignature", "UseDevelopmentStorage"};

/* Stores one "Key=Value" segment (already NUL-terminated, in a private
 * copy). Keys are case-insensitive; unknown ones (BlobEndpoint, ...) are
 * ignored because portal strings carry them. Only key names are ever
 * printed: a segment without '=' may be a pasted secret. */
static mb_status cs_segment(char *seg, size_t idx, const char *f[F_COUNT], mb_err *err)
{
    char *eq = strchr(seg, '=');
    size_t nlen, vlen, i;
    const char *name, *value;

    if (!eq)
        return mb_err_set(err, MB_EUSAGE, "segment %zu is not Key=Value", idx);
    nlen = (size_t)(eq - seg);
    name = trim(seg, &nlen);
    vlen = strlen(eq + 1);
    value = trim(eq + 1, &vlen);
    if (nlen == 0 || nlen > CS_NAME_MAX)
        return mb_err_set(err, MB_EUSAGE, "segment %zu has no key name", idx);
    ((char *)value)[vlen] = '\0';   /* value points into seg, our own copy */
    for (i = 0; i < F_COUNT; i++) {
        if (strlen(CS_FIELDS[i]) != nlen || strncasecmp(name, CS_FIELDS[i], nlen) != 0)
            continue;
        if (f[i])
            return mb_err_set(err, MB_EUSAGE, "%s appears twice", CS_FIELDS[i]);
        f[i] = value;
        return MB_OK;
    }
    return MB_OK;
}

static mb_status cs_split(char *s, const char *f[F_COUNT], mb_err *err)
{
    size_t idx = 0;
    mb_status st;

    while (s) {
        char *semi = strchr(s, ';');
        size_t n;

        if (semi)
            *semi = '\0';
        n = strlen(s);
        idx++;
        trim(s, &n);
        if (n > 0 && (st = cs_segment(s, idx, f, err)) != MB_OK)
            return st;
        s = semi ? semi + 1 : NULL;
    }
    return MB_OK;
}

/* QueueEndpoint when given, else PROTOCOL://ACCOUNT.queue.SUFFIX. */
static mb_status cs_endpoint(mb_az_cred *c, const char *f[F_COUNT], mb_err *err)
{
    const char *proto = f[F_PROTOCOL] ? f[F_PROTOCOL] : "https";
    const char *suffix = f[F_SUFFIX] ? f[F_SUFFIX] : "core.windows.net";
    char url[ENDPOINT_MAX];
    int n;

    if (f[F_QUEUE_EP])
        return dup_endpoint(f[F_QUEUE_EP], "QueueEndpoint", &c->queue_endpoint, err);
    if (!c->account[0])
        return MB_OK;   /* a SAS string without endpoint: the queue URL decides */
    if (strcasecmp(proto, "http") != 0 && strcasecmp(proto, "https") != 0)
        return mb_err_set(err, MB_EUSAGE, "DefaultEndpointsProtocol must be http or https");
    if (!suffix[0] || strpbrk(suffix, "/?#; \t"))
        return mb_err_set(err, MB_EUSAGE, "EndpointSuffix is not a host name suffix");
    n = snprintf(url, sizeof url, "%s://%s.queue.%s", proto, c->account, suffix);
    if (n < 0 || (size_t)n >= sizeof url)
        return mb_err_set(err, MB_EUSAGE, "EndpointSuffix is too long");
    return dup_endpoint(url, "the queue endpoint", &c->queue_endpoint, err);
}

static mb_status cs_devstore(mb_az_cred *c, const char *f[F_COUNT], mb_err *err)
{
    mb_status st;

    if (strcasecmp(f[F_DEV], "true") != 0)
        return mb_err_set(err, MB_EUSAGE, "UseDevelopmentStorage must be true when given");
    memcpy(c->account, DEV_ACCOUNT, sizeof DEV_ACCOUNT);
    if ((st = set_key(c, DEV_KEY, "the development storage key", err)) != MB_OK)
        return st;
    c->kind = MB_AZ_SHAREDKEY;
    /* QueueEndpoint may move Azurite to another port. */
    return dup_endpoint(f[F_QUEUE_EP] ? f[F_QUEUE_EP] : DEV_QUEUE_ENDPOINT, "QueueEndpoint",
                        &c->queue_endpoint, err);
}

static mb_status cs_apply(mb_az_cred *c, const char *f[F_COUNT], mb_err *err)
{
    mb_status st;

    if (f[F_DEV])
        return cs_devstore(c, f, err);
    if (f[F_ACCOUNT] && (st = set_account(c, f[F_ACCOUNT], "AccountName", err)) != MB_OK)
        return st;
    if (f[F_KEY] && f[F_KEY][0]) {
        if (!c->account[0])
            return mb_err_set(err, MB_EUSAGE, "AccountKey needs AccountName");
        if ((st = set_key(c, f[F_KEY], "AccountKey", err)) != MB_OK)
            return st;
        c->kind = MB_AZ_SHAREDKEY;
    } else if (f[F_SAS] && f[F_SAS][0]) {
        if ((st = set_sas(c, f[F_SAS], "SharedAccessSignature", err)) != MB_OK)
            return st;
    } else {
        return mb_err_set(err, MB_EUSAGE,
                          "neither AccountKey nor SharedAccessSignature nor UseDevelopmentStorage");
    }
    return cs_endpoint(c, f, err);
}

mb_status mb_az_parse_connection_string(mb_az_cred *c, const char *cs, mb_err *err)
{
    const char *f[F_COUNT] = {NULL};
    size_t n;
    char *copy;
    mb_status st;

    if (!c || !cs)
        return mb_err_set(err, MB_EINTERNAL, "mb_az_parse_connection_string: NULL argument");
    memset(c, 0, sizeof *c);
    n = strlen(cs);
    if (n == 0 || n > CS_MAX)
        return mb_err_set(err, MB_EUSAGE, "connection string is empty or longer than %d bytes",
                          CS_MAX);
    if (!(copy = dup_n(cs, n)))
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    st = cs_split(copy, f, err);
    if (st == MB_OK)
        st = cs_apply(c, f, err);
    OPENSSL_cleanse(copy, n);
    free(copy);
    if (st != MB_OK)
        mb_az_cred_fini(c);
    return st;
}

/* ---- credentials from the environment ----------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v && v[0] ? v : NULL;
}

/* The account for the credential: the one it names, else the queue URL's.
 * A mismatch is allowed (the request will say 403) but worth a warning. */
static mb_status pick_account(mb_az_cred *c, const char *named, const char *what,
                              const char *url_account, mb_err *err)
{
    mb_status st;

    if (named && (st = set_account(c, named, what, err)) != MB_OK)
        return st;
    if (!c->account[0] && url_account)
        return set_account(c, url_account, "the queue URL's account", err);
    if (c->account[0] && url_account && strcasecmp(c->account, url_account) != 0 &&
        valid_account(url_account, strlen(url_account)))
        mb_warn("credentials are for storage account %s, the queue URL names %s", c->account,
                url_account);
    return MB_OK;
}

static mb_status env_identity(mb_az_cred *c, const char *account, mb_err *err)
{
    const char *id = env("AZURE_CLIENT_ID");
    char ep[MB_IMDS_ENDPOINT_MAX];
    mb_status st;

    c->kind = MB_AZ_TOKEN;
    if ((st = pick_account(c, env("AZURE_STORAGE_ACCOUNT"), "AZURE_STORAGE_ACCOUNT", account,
                           err)) != MB_OK)
        return st;
    if ((st = mb_imds_endpoint(NULL, ep, err)) != MB_OK)
        return st;
    if (!(c->imds_endpoint = mb_strdup(ep)))
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    if (id) {
        if (strlen(id) > CLIENT_ID_MAX || strspn(id, "0123456789abcdefABCDEF-") != strlen(id))
            return mb_err_set(err, MB_EUSAGE, "AZURE_CLIENT_ID is not a client id (a GUID)");
        if (!(c->client_id = mb_strdup(id)))
            return mb_err_set(err, MB_ENOMEM, "out of memory");
    }
    mb_debug("Azure credentials: managed identity%s", id ? " (user-assigned)" : "");
    return MB_OK;
}

static mb_status env_pick(mb_az_cred *c, const char *account, mb_err *err)
{
    const char *cs = env("AZURE_STORAGE_CONNECTION_STRING");
    const char *key = env("AZURE_STORAGE_KEY"), *sas = env("AZURE_STORAGE_SAS_TOKEN");
    const char *named = env("AZURE_STORAGE_ACCOUNT");
    mb_status st;

    if (cs) {
        if ((st = mb_az_parse_connection_string(c, cs, err)) != MB_OK)
            return err_prefix(err, st, "AZURE_STORAGE_CONNECTION_STRING");
        mb_debug("Azure credentials: connection string (%s)",
                 c->kind == MB_AZ_SAS ? "SAS" : "SharedKey");
        return pick_account(c, NULL, NULL, account, err);
    }
    if (key) {
        if ((st = pick_account(c, named, "AZURE_STORAGE_ACCOUNT", account, err)) != MB_OK)
            return st;
        if (!c->account[0])
            return mb_err_set(err, MB_EUSAGE,
                              "AZURE_STORAGE_KEY is set but no account is named "
                              "(set AZURE_STORAGE_ACCOUNT)");
        c->kind = MB_AZ_SHAREDKEY;
        mb_debug("Azure credentials: AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY");
        return set_key(c, key, "AZURE_STORAGE_KEY", err);
    }
    if (sas) {
        if ((st = pick_account(c, named, "AZURE_STORAGE_ACCOUNT", account, err)) != MB_OK)
            return st;
        mb_debug("Azure credentials: AZURE_STORAGE_SAS_TOKEN");
        return set_sas(c, sas, "AZURE_STORAGE_SAS_TOKEN", err);
    }
    return env_identity(c, account, err);
}

mb_status mb_az_cred_from_env(mb_az_cred *c, const char *account, mb_err *err)
{
    mb_status st;

    if (!c)
        return mb_err_set(err, MB_EINTERNAL, "mb_az_cred_from_env: NULL credential");
    memset(c, 0, sizeof *c);
    st = env_pick(c, account, err);
    if (st != MB_OK)
        mb_az_cred_fini(c);
    return st;
}

void mb_az_cred_fini(mb_az_cred *c)
{
    if (!c)
        return;
    free_secret(c->sas);
    free(c->queue_endpoint);
    free(c->imds_endpoint);
    free(c->client_id);
    free_secret(c->token);
    OPENSSL_cleanse(c, sizeof *c);
    memset(c, 0, sizeof *c);
}

/* ---- bounded string builder --------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    mb_status st;      /* first failure: MB_ELIMIT or MB_ENOMEM */
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    size_t need, cap;
    char *q;

    if (b->st != MB_OK)
        return;
    if (mb_size_add(b->len, n, &need) != 0 || need >= STS_MAX) {
        b->st = MB_ELIMIT;
        return;
    }
    if (need + 1 > b->cap) {
        for (cap = b->cap ? b->cap : 512; cap < need + 1; cap *= 2)
            ;
        if (!(q = mb_realloc(b->p, cap))) {
            b->st = MB_ENOMEM;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len = need;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* ---- string to sign ------------------------------------------------------ */

typedef struct pair {
    char *name;
    char *value;
} pair;

typedef struct pairs {
    pair v[HEADERS_MAX > QUERY_PARAMS_MAX ? HEADERS_MAX : QUERY_PARAMS_MAX];
    size_t n;
} pairs;

static void pairs_fini(pairs *ps)
{
    size_t i;

    for (i = 0; i < ps->n; i++) {
        free(ps->v[i].name);
        free(ps->v[i].value);
    }
    ps->n = 0;
}

static int pair_cmp(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    int r = strcmp(x->name, y->name);

    return r ? r : strcmp(x->value, y->value);
}

/* Copies a value with runs of whitespace folded to one space, as the
 * canonicalized-headers rules ask (the value is already trimmed). */
static char *fold(const char *s, size_t n)
{
    char *out = mb_malloc(n + 1);
    size_t i, j = 0;

    if (!out)
        return NULL;
    for (i = 0; i < n; i++) {
        if (is_space((unsigned char)s[i])) {
            if (j > 0 && out[j - 1] == ' ')
                continue;
            out[j++] = ' ';
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

/* Splits "Name: value" into a lowercase name and a trimmed value (folded
 * for x-ms-* headers, whose canonical form asks for it). */
static mb_status add_header(pairs *ps, const char *line, mb_err *err)
{
    const char *colon = strchr(line, ':');
    size_t nlen, vlen, i;
    const char *name, *value;
    pair *p;

    if (!colon)
        return mb_err_set(err, MB_EINTERNAL, "request header without ':'");
    if (ps->n >= HEADERS_MAX)
        return mb_err_set(err, MB_ELIMIT, "more than %d request headers", HEADERS_MAX);
    nlen = (size_t)(colon - line);
    name = trim(line, &nlen);
    vlen = strlen(colon + 1);
    value = trim(colon + 1, &vlen);
    p = &ps->v[ps->n];
    if (!(p->name = dup_n(name, nlen)))
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    for (i = 0; i < nlen; i++)
        p->name[i] = (char)lower((unsigned char)p->name[i]);
    p->value = strncmp(p->name, "x-ms-", 5) == 0 ? fold(value, vlen) : dup_n(value, vlen);
    ps->n++;
    if (!p->value)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    return MB_OK;
}

static const char *header_value(const pairs *ps, const char *name)
{
    size_t i;

    for (i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i].name, name) == 0)
            return ps->v[i].value;
    return "";
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = lower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decodes s[0..n) into *out. '+' stays '+' (Azure decodes like
 * decodeURIComponent), so callers encode spaces as %20 and '+' as %2B.
 * A broken escape or %00 is MB_EUSAGE: the query came from a URL. */
static mb_status pct_decode(const char *s, size_t n, int to_lower, char **out)
{
    char *d = mb_malloc(n + 1);
    size_t i, j = 0;

    if (!(*out = d))
        return MB_ENOMEM;
    for (i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];

        if (ch == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;

            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(d);
                *out = NULL;
                return MB_EUSAGE;
            }
            ch = hi * 16 + lo;
            i += 2;
        }
        d[j++] = (char)(to_lower ? lower(ch) : ch);
    }
    d[j] = '\0';
    return MB_OK;
}

/* Adds one "name=value" query parameter, both URL-decoded, the name
 * lowercased as the canonicalized-resource rules ask. */
static mb_status add_param(pairs *ps, const char *s, size_t n, mb_err *err)
{
    const char *eq = memchr(s, '=', n);
    size_t nlen = eq ? (size_t)(eq - s) : n;
    pair *p = &ps->v[ps->n];
    mb_status st;

    if (ps->n >= QUERY_PARAMS_MAX)
        return mb_err_set(err, MB_ELIMIT, "more than %d query parameters", QUERY_PARAMS_MAX);
    st = pct_decode(s, nlen, 1, &p->name);
    if (st == MB_OK)
        st = eq ? pct_decode(eq + 1, n - nlen - 1, 0, &p->value)
                : ((p->value = dup_n("", 0)) ? MB_OK : MB_ENOMEM);
    if (p->name || p->value)
        ps->n++;    /* owned by the list from here on, even half made */
    if (st == MB_ENOMEM)
        return mb_err_set(err, st, "out of memory");
    if (st != MB_OK)
        return mb_err_set(err, st, "query parameter %zu has a bad %%-escape", ps->n);
    return MB_OK;
}

static mb_status parse_query(pairs *ps, const char *q, mb_err *err)
{
    mb_status st;

    while (q && *q) {
        size_t n = strcspn(q, "&");

        if (n > 0 && (st = add_param(ps, q, n, err)) != MB_OK)
            return st;
        q += n;
        if (*q == '&')
            q++;
    }
    return MB_OK;
}

/* VERB, the eleven standard headers (Content-Length empty when 0, as the
 * 2015-02-21+ rules say), each followed by a newline. */
static void sts_standard(sbuf *b, const char *method, const pairs *hs, size_t content_length)
{
    static const char *const names[] = {
        "content-encoding", "content-language", NULL /* content-length */, "content-md5",
        "content-type", "date", "if-modified-since", "if-match", "if-none-match",
        "if-unmodified-since", "range"};
    char num[32];
    size_t i;

    sb_str(b, method);
    sb_str(b, "\n");
    for (i = 0; i < MB_ARRAY_LEN(names); i++) {
        if (names[i]) {
            sb_str(b, header_value(hs, names[i]));
        } else if (content_length > 0) {
            snprintf(num, sizeof num, "%zu", content_length);
            sb_str(b, num);
        }
        sb_str(b, "\n");
    }
}

/* "name:value\n" for every x-ms-* header, sorted by name. Headers with an
 * empty value are left out: curl does not send "Name:" lines. */
static mb_status sts_xms(sbuf *b, pairs *hs, mb_err *err)
{
    pair *x[HEADERS_MAX];
    size_t i, n = 0;

    qsort(hs->v, hs->n, sizeof hs->v[0], pair_cmp);
    for (i = 0; i < hs->n; i++)
        if (strncmp(hs->v[i].name, "x-ms-", 5) == 0 && hs->v[i].value[0])
            x[n++] = &hs->v[i];
    for (i = 0; i < n; i++) {
        if (i > 0 && strcmp(x[i]->name, x[i - 1]->name) == 0)
            return mb_err_set(err, MB_EINTERNAL, "request header %s given twice", x[i]->name);
        sb_str(b, x[i]->name);
        sb_str(b, ":");
        sb_str(b, x[i]->value);
        sb_str(b, "\n");
    }
    return MB_OK;
}

/* "/" ACCOUNT PATH, then "\nname:v1,v2" per parameter, names and values
 * sorted. For Azurite's path-style URLs the path starts with the account,
 * which therefore appears twice: that is what the emulator computes. */
static void sts_resource(sbuf *b, const char *account, const char *path, pairs *qs)
{
    size_t i;

    sb_str(b, "/");
    sb_str(b, account);
    sb_str(b, path && path[0] ? path : "/");
    qsort(qs->v, qs->n, sizeof qs->v[0], pair_cmp);
    for (i = 0; i < qs->n; i++) {
        if (i > 0 && strcmp(qs->v[i].name, qs->v[i - 1].name) == 0) {
            sb_str(b, ",");
        } else {
            sb_str(b, "\n");
            sb_str(b, qs->v[i].name);
            sb_str(b, ":");
        }
        sb_str(b, qs->v[i].value);
    }
}

static int valid_method(const char *m)
{
    size_t n = m ? strlen(m) : 0;

    return n > 0 && n < 16 && strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == n;
}

mb_status mb_az_string_to_sign(const mb_az_cred *c, const char *method, const char *path,
                               const char *query, const char *const *headers,
                               size_t content_length, char **out, mb_err *err)
{
    pairs hs = {.n = 0}, qs = {.n = 0};
    sbuf b = {NULL, 0, 0, MB_OK};
    mb_status st = MB_OK;

    if (!out)
        return mb_err_set(err, MB_EINTERNAL, "mb_az_string_to_sign: NULL output");
    *out = NULL;
    if (!c || !c->account[0] || !valid_method(method) || (path && strpbrk(path, "?#\r\n")))
        return mb_err_set(err, MB_EINTERNAL, "mb_az_string_to_sign: bad account, method or path");
    for (; headers && *headers && st == MB_OK; headers++)
        st = add_header(&hs, *headers, err);
    if (st == MB_OK)
        st = parse_query(&qs, query, err);
    if (st == MB_OK) {
        sts_standard(&b, method, &hs, content_length);
        st = sts_xms(&b, &hs, err);
    }
    if (st == MB_OK)
        sts_resource(&b, c->account, path, &qs);
    if (st == MB_OK && b.st != MB_OK)
        st = mb_err_set(err, b.st, "string to sign: %s",
                        b.st == MB_ELIMIT ? "longer than 64 KiB" : "out of memory");
    pairs_fini(&hs);
    pairs_fini(&qs);
    if (st != MB_OK) {
        free(b.p);
        return st;
    }
    *out = b.p;
    return MB_OK;
}

/* ---- SharedKey ----------------------------------------------------------- */

static mb_status hmac_sha256(const unsigned char *key, size_t klen, const char *msg,
                             size_t mlen, unsigned char out[HMAC_SHA256_LEN])
{
    char digest[] = "SHA256";
    OSSL_PARAM params[2];
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    size_t outl = 0;
    int ok;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    ok = ctx && EVP_MAC_init(ctx, key, klen, params) == 1 &&
         EVP_MAC_update(ctx, (const unsigned char *)msg, mlen) == 1 &&
         EVP_MAC_final(ctx, out, &outl, HMAC_SHA256_LEN) == 1 && outl == HMAC_SHA256_LEN;
    EVP_MAC_CTX_free(ctx);   /* wipes the keyed state */
    EVP_MAC_free(mac);
    return ok ? MB_OK : MB_EINTERNAL;
}

mb_status mb_az_sharedkey_header(const mb_az_cred *c, const char *method, const char *path,
                                 const char *query, const char *const *headers,
                                 size_t content_length, char *out, size_t cap, mb_err *err)
{
    unsigned char mac[HMAC_SHA256_LEN];
    char sig[SIG_B64_LEN], *sts = NULL;
    mb_status st;
    int n;

    if (!c || c->kind != MB_AZ_SHAREDKEY || c->key_len == 0 || !out || cap == 0)
        return mb_err_set(err, MB_EINTERNAL, "SharedKey signing needs a SharedKey credential");
    out[0] = '\0';
    if ((st = mb_az_string_to_sign(c, method, path, query, headers, content_length, &sts,
                                   err)) != MB_OK)
        return st;
    st = hmac_sha256(c->key, c->key_len, sts, strlen(sts), mac);
    if (st == MB_OK)
        st = mb_b64_encode(mac, sizeof mac, sig, sizeof sig);
    free(sts);
    if (st == MB_OK) {
        n = snprintf(out, cap, "Authorization: SharedKey %s:%s", c->account, sig);
        if (n < 0 || (size_t)n >= cap) {
            OPENSSL_cleanse(out, cap);
            out[0] = '\0';
            st = mb_err_set(err, MB_ELIMIT, "Authorization header longer than %zu bytes", cap);
        }
    } else {
        mb_err_set(err, st, "HMAC-SHA256 failed (OpenSSL)");
    }
    OPENSSL_cleanse(mac, sizeof mac);
    OPENSSL_cleanse(sig, sizeof sig);
    return st;
}

/* ---- managed identity ----------------------------------------------------- */

/* Path and query of the token endpoint, with the user-assigned client id
 * if any (checked to be a GUID, so it needs no escaping). */
static mb_status token_path(const mb_az_cred *c, char *path, size_t cap, mb_err *err)
{
    int n = snprintf(path, cap, "%s%s%s", IMDS_TOKEN_PATH, c->client_id ? "&client_id=" : "",
                     c->client_id ? c->client_id : "");

    if (n < 0 || (size_t)n >= cap)
        return mb_err_set(err, MB_EUSAGE, "managed identity: endpoint URL too long");
    return MB_OK;
}

/* Seconds since the epoch from a JSON number or a string of digits. */
static int json_seconds(json_t *v, long long *out)
{
    const char *s;
    char *end;

    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return *out > 0 ? 0 : -1;
    }
    if (!(s = json_string_value(v)) || !*s || strspn(s, "0123456789") != strlen(s))
        return -1;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno == 0 && *out > 0 ? 0 : -1;
}

/* The expiry: expires_on (epoch), else now + expires_in. */
static int token_expiry(json_t *doc, time_t now, time_t *out)
{
    const long long year = 366LL * 24 * 3600;
    long long v;

    if (json_seconds(json_object_get(doc, "expires_on"), &v) == 0 && v < (long long)now + year) {
        *out = (time_t)v;
        return 0;
    }
    if (json_seconds(json_object_get(doc, "expires_in"), &v) == 0 && v < year) {
        *out = now + (time_t)v;
        return 0;
    }
    return -1;
}

/* A token is a header value: visible ASCII only, or it could smuggle a
 * second header line into a request. */
static int valid_token(const char *t, size_t n)
{
    size_t i;

    if (n == 0 || n > TOKEN_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
            return 0;
    return 1;
}

static mb_status take_token(mb_az_cred *c, const mb_http_resp *r, mb_err *err)
{
    json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *tok = json_object_get(doc, "access_token");
    const char *t = json_string_value(tok);
    size_t n = t ? json_string_length(tok) : 0;
    time_t now = time(NULL), exp = 0;
    mb_status st = MB_OK;
    char *copy = NULL;

    if (!t || !valid_token(t, n) || strlen(t) != n)
        st = mb_err_set(err, MB_EQUEUE,
                        "managed identity: the token response has no usable access_token");
    else if (token_expiry(doc, now, &exp) != 0)
        st = mb_err_set(err, MB_EQUEUE, "managed identity: the token response has no usable "
                                        "expires_on or expires_in");
    else if (!(copy = dup_n(t, n)))
        st = mb_err_set(err, MB_ENOMEM, "out of memory");
    if (st == MB_OK) {
        free_secret(c->token);
        c->token = copy;
        c->token_expires = exp;
        mb_debug("managed identity: token received, valid for %lld s", (long long)(exp - now));
    }
    json_decref(doc);   /* jansson does not wipe: the token text stays in freed memory */
    return st;
}

/* Why the metadata service said no: its "error_description" (or "error"),
 * bounded and scrubbed in case it ever quotes a secret. */
static void imds_reason(const mb_http_resp *r, char *out, size_t cap)
{
    json_t *doc = r->body_len ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    const char *d = json_string_value(json_object_get(doc, "error_description"));

    if (!d)
        d = json_string_value(json_object_get(doc, "error"));
    snprintf(out, cap, "%s%.200s", d ? ": " : "", d ? d : "");
    mb_az_redact(out);
    json_decref(doc);
}

static mb_status token_refused(const mb_az_cred *c, const mb_http_resp *r, int attempts,
                               mb_err *err)
{
    const char *ep = c->imds_endpoint ? c->imds_endpoint : MB_IMDS_DEFAULT;
    char why[256];

    imds_reason(r, why, sizeof why);
    if (r->status == 400)
        return mb_err_set(err, MB_EQUEUE,
                          "managed identity: %s answered 400%s (no managed identity on this VM%s; "
                          "or set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT + "
                          "AZURE_STORAGE_KEY, or AZURE_STORAGE_SAS_TOKEN)",
                          ep, why, c->client_id ? " with that AZURE_CLIENT_ID" : "");
    return mb_err_set(err, MB_EQUEUE, "managed identity: %s answered %ld%s after %d attempt%s", ep,
                      r->status, why, attempts, attempts == 1 ? "" : "s");
}

/* One token request, retried by imds.c as Microsoft's guidance says; a
 * final refusal or silence becomes the error. */
static mb_status token_fetch(mb_az_cred *c, mb_err *err)
{
    char path[IMDS_PATH_MAX];
    mb_imds_req q;
    mb_http_resp r;
    mb_err e = {MB_OK, "", 0};
    mb_status st;
    int attempts = 0;

    if ((st = token_path(c, path, sizeof path, err)) != MB_OK)
        return st;
    memset(&q, 0, sizeof q);
    q.base = c->imds_endpoint ? c->imds_endpoint : MB_IMDS_DEFAULT;
    q.path = path;
    q.connect_ms = IMDS_CONNECT_MS;
    q.timeout_ms = IMDS_TIMEOUT_MS;
    q.max_response = IMDS_RESPONSE_MAX;
    q.retry_s = IMDS_DEADLINE_S;
    q.what = "managed identity";
    st = mb_imds_do(&q, &r, &attempts, &e);
    if (st == MB_OK && r.status == 200)
        st = take_token(c, &r, err);
    else if (st == MB_OK)
        st = token_refused(c, &r, attempts, err);
    else if (st == MB_EQUEUE)
        st = mb_err_set(err, MB_EQUEUE, "managed identity: no token after %d attempt%s: %s",
                        attempts, attempts == 1 ? "" : "s", e.msg);
    else
        st = mb_err_set(err, st, "managed identity: %s", e.msg);
    if (r.body)
        OPENSSL_cleanse(r.body, r.body_len);   /* the response may hold the token */
    mb_http_resp_fini(&r);
    return st;
}

mb_status mb_az_token_header(mb_az_cred *c, char *out, size_t cap, mb_err *err)
{
    mb_status st = MB_OK;
    int n;

    if (!c || c->kind != MB_AZ_TOKEN || !out || cap == 0)
        return mb_err_set(err, MB_EINTERNAL, "bearer token asked of a non-identity credential");
    out[0] = '\0';
    pthread_mutex_lock(&token_lock);
    if (!c->token || time(NULL) >= c->token_expires - TOKEN_SLACK_S)
        st = token_fetch(c, err);
    if (st == MB_OK) {
        n = snprintf(out, cap, "Authorization: Bearer %s", c->token);
        if (n < 0 || (size_t)n >= cap) {
            OPENSSL_cleanse(out, cap);
            out[0] = '\0';
            st = mb_err_set(err, MB_ELIMIT, "Authorization header longer than %zu bytes", cap);
        }
    }
    pthread_mutex_unlock(&token_lock);
    return st;
}

/* ---- dates ---------------------------------------------------------------- */

/* Out of range (before 1970, after 9999) the epoch is written, as before. */
void mb_az_date(time_t t, char out[32])
{
    _Static_assert(MB_TIME_HTTP_LEN <= 32, "an HTTP date fits mb_az_date's buffer");
    (void)mb_time_format_http((int64_t)t, out);
}
