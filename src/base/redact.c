/* redact.c - scrubs secrets (SAS signatures, account keys, SharedKey
 * headers, bearer and access tokens) out of text in place. Pure string code
 * with no logging and no Azure dependency, so that log.c and azure/ can both
 * use it without a cycle between them. */
#include "base/redact.h"

#include "base/mem.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Locale-free classes: the text is protocol text, not the user's language. */
static int is_space(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static int is_alnum(int ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

#define REDACT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- redaction ------------------------------------------------------------ */

/*
 * Every place where a rule's key is followed by a value is found in the
 * text as given, and the union of all those values is blotted in one pass
 * at the end. Matches are taken from the unchanged text, so blotting one
 * value cannot hide the key of the next, and a key repeated before the
 * secret ("Bearer Bearer x", "sig=sig=x", a JSON key given twice) only
 * adds one more value to blot: the secret behind it is a value too. What
 * the connection-string parser accepts around '=' (whitespace, CR and LF
 * included) and blanks and an opening quote after a key are skipped, so
 * that "AccountKey = x", "Bearer  x" or AccountKey="x" do not end the
 * value before it begins.
 */

enum { R_ASSIGN, R_ENCODED, R_WORD, R_SHAREDKEY, R_JSON };

typedef struct rule {
    const char *key;     /* matched case-insensitively */
    const char *stop;    /* characters that end the secret */
    int kind;
} rule;

static const rule RULES[] = {
    {"sig", "&;, \t\r\n\"'<>", R_ASSIGN},
    {"sig%3D", "&;, \t\r\n\"'<>", R_ENCODED},  /* a SAS URL inside a URL */
    {"AccountKey", ";, \t\r\n\"'", R_ASSIGN},
    {"SharedAccessSignature", "; \t\r\n\"'", R_ASSIGN},
    {"SharedKey", ", \t\r\n\"'", R_SHAREDKEY},
    {"Bearer", ",; \t\r\n\"'", R_WORD},
    {"\"access_token\"", "\"", R_JSON},
};

#define NO_MATCH ((size_t)-1)

static int is_blank(int ch)
{
    return ch == ' ' || ch == '\t';
}

static size_t skip_space(const char *s, size_t j)
{
    while (is_space((unsigned char)s[j]))
        j++;
    return j;
}

/* Skips whitespace, then one opening quote, then whitespace. */
static size_t skip_fill(const char *s, size_t j)
{
    j = skip_space(s, j);
    if (s[j] == '"' || s[j] == '\'')
        j++;
    return skip_space(s, j);
}

/* Where the secret starts after the key at s[i..], or NO_MATCH when the
 * text there is not of the rule's form. */
static size_t secret_start(const char *s, size_t i, const rule *r)
{
    size_t j = i + strlen(r->key), name;

    switch (r->kind) {
    case R_ASSIGN:
        j = skip_space(s, j);
        return s[j] == '=' ? skip_fill(s, j + 1) : NO_MATCH;
    case R_ENCODED:
        return skip_fill(s, j);
    case R_WORD:
        return is_blank((unsigned char)s[j]) ? skip_fill(s, j) : NO_MATCH;
    case R_SHAREDKEY:
        if (!is_blank((unsigned char)s[j]))
            return NO_MATCH;
        while (is_blank((unsigned char)s[j]))
            j++;
        for (name = j; is_alnum((unsigned char)s[j]); j++)
            ;
        return s[j] == ':' && j > name ? skip_fill(s, j + 1) : NO_MATCH;
    default:
        j = skip_space(s, j);
        if (s[j++] != ':')
            return NO_MATCH;
        j = skip_space(s, j);
        return s[j] == '"' ? j + 1 : NO_MATCH;
    }
}

static size_t secret_end(const char *s, size_t j, const rule *r)
{
    while (s[j] && !strchr(r->stop, s[j])) {
        if (r->kind == R_JSON && s[j] == '\\' && s[j + 1])
            j++;
        j++;
    }
    return j;
}

/* Marks in mark[] every byte of s (n bytes) that is part of a value.
 * starts[k]..ends[k] is rule k's last value: one that starts inside it
 * ends where it did (the same stop characters), which keeps a text full
 * of repeated keys linear. */
static void mark_secrets(const char *s, size_t n, unsigned char *mark)
{
    size_t starts[REDACT_ARRAY_LEN(RULES)] = {0}, ends[REDACT_ARRAY_LEN(RULES)] = {0}, i, k, a, b;

    for (i = 0; i < n; i++)
        for (k = 0; k < REDACT_ARRAY_LEN(RULES); k++) {
            const rule *r = &RULES[k];

            if (strncasecmp(s + i, r->key, strlen(r->key)) != 0 ||
                (a = secret_start(s, i, r)) == NO_MATCH)
                continue;
            b = a >= starts[k] && a < ends[k] ? ends[k] : secret_end(s, a, r);
            starts[k] = a;
            ends[k] = b;
            if (b > a)
                memset(mark + a, 1, b - a);
        }
}

/* Writes a blot for a run of len secret bytes at out: "REDACTED" when it
 * fits, else '*' of the same length. Returns the bytes written (<= len). */
static size_t blot(char *out, size_t len)
{
    static const char word[] = "REDACTED";
    const size_t wl = sizeof word - 1;

    if (len < wl) {
        memset(out, '*', len);
        return len;
    }
    memcpy(out, word, wl);
    return wl;
}

/* Whether s[0..len) already reads as its own blot. */
static int is_blot(const char *s, size_t len)
{
    size_t i;

    if (len >= 8)
        return len == 8 && memcmp(s, "REDACTED", 8) == 0;
    for (i = 0; i < len && s[i] == '*'; i++)
        ;
    return i == len;
}

/* Replaces each run of marked bytes with its blot, in place; the output
 * is never longer than the input, so writing never overtakes reading.
 * Returns 1 when the text changed. */
static int blot_marked(char *s, size_t n, const unsigned char *mark)
{
    size_t i = 0, o = 0, j;
    int changed = 0;

    while (i < n) {
        if (!mark[i]) {
            s[o++] = s[i++];
            continue;
        }
        for (j = i; j < n && mark[j]; j++)
            ;
        changed |= o != i || !is_blot(s + i, j - i);
        o += blot(s + o, j - i);
        i = j;
    }
    s[o] = '\0';
    return changed || o != n;
}

/* Passes until nothing changes: a blot that swallows the character that
 * ended another value (a ',' in "SharedKey a:x,y;...") would otherwise let
 * a second redaction of the same text take more, and text redacted twice
 * (an error, then the log line that shows it) should read the same. The
 * first pass already removes every secret; the cap only bounds the work. */
#define REDACT_PASSES 8

static void redact_marks(char *s, unsigned char *mark)
{
    size_t n = strlen(s);
    int pass;

    for (pass = 0; pass < REDACT_PASSES && n > 0; pass++) {
        memset(mark, 0, n);
        mark_secrets(s, n, mark);
        if (!blot_marked(s, n, mark))
            return;
        n = strlen(s);
    }
}

/* Marks for a log line or an error fit on the stack; a longer text gets
 * them from the heap, and without memory for them nothing of the text is
 * worth the risk. */
void mb_redact(char *s)
{
    unsigned char small[2048], *mark = small;
    size_t n;

    if (!s || !(n = strlen(s)))
        return;
    if (n > sizeof small && !(mark = mb_malloc(n))) {
        s[blot(s, n)] = '\0';
        return;
    }
    redact_marks(s, mark);
    if (mark != small)
        free(mark);
}

