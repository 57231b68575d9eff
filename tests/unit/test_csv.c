/* test_csv.c - TAP tests of the reference CSV reader (csv.c): records, cells,
 * dialects, every error with its exact line:column and message, and the
 * offset -> line:column lookup in memory and on disk (one offset, or many in
 * one pass). No MPI. */
#include "csv/csv.h"
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>

#define MAX_OUT 4096

/* Appends to a bounded output string; tests print what they got on failure. */
typedef struct out {
    char s[MAX_OUT];
    size_t n;
} out;

static void put(out *o, const char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        const char *esc = p[i] == '\n' ? "\\n" : p[i] == '\r' ? "\\r" : p[i] == '\t' ? "\\t" : NULL;
        size_t k = esc ? 2 : 1;
        if (o->n + k >= MAX_OUT)
            return;
        memcpy(o->s + o->n, esc ? esc : p + i, k);
        o->n += k;
        o->s[o->n] = '\0';
    }
}

static void putf(out *o, const char *fmt, unsigned long a, unsigned long b, const char *c)
{
    int k = snprintf(o->s + o->n, MAX_OUT - o->n, fmt, a, b, c);
    if (k > 0 && o->n + (size_t)k < MAX_OUT)
        o->n += (size_t)k;
}

static void put_cell(out *o, const mb_cell *c)
{
    char text[256];
    size_t n = mb_csv_cell_unescape(c, text, sizeof text);

    put(o, c->quoted ? "{" : "[", 1);
    put(o, text, n == (size_t)-1 ? 0 : n);
    put(o, c->quoted ? "}" : "]", 1);
}

/* Reads all of `in` the way a file reader would (BOM skipped) and renders
 * each record as [plain]{quoted} cells per line, each error as
 * "!line:col CODE message" - the reader then goes on after the record. */
static void render(const char *in, size_t len, char delim, size_t max, size_t expect,
                   out *o)
{
    mb_csv_dialect d = {delim, '"'};
    size_t bom = mb_csv_bom_len(in, len), n, i;
    mb_cell cells[16];
    mb_csv r;
    mb_err e;
    mb_status st;

    o->n = 0;
    o->s[0] = '\0';
    mb_csv_init(&r, &d, in + bom, len - bom, bom);
    while ((st = mb_csv_next(&r, cells, max, &n, expect, &e)) != MB_EAGAIN) {
        if (st != MB_OK) {
            unsigned long line, col;
            mb_csv_locate(in, len, r.err_off, &line, &col);
            putf(o, "!%lu:%lu %s ", line, col, st == MB_EDATA ? "EDATA" : "ELIMIT");
            put(o, e.msg, strlen(e.msg));
        }
        for (i = 0; st == MB_OK && i < n; i++)
            put_cell(o, &cells[i]);
        put(o, "|", 1);
    }
}

typedef struct tcase {
    const char *name;
    const char *in;
    char delim;
    size_t max, expect;
    const char *want;
} tcase;

/* Records are separated by '|' in `want`. */
static const tcase cases[] = {
    {"simple LF records", "a,b\nc,d\n", ',', 16, 0, "[a][b]|[c][d]|"},
    {"CRLF records, CR not in last field", "a,b\r\nc,d\r\n", ',', 16, 0, "[a][b]|[c][d]|"},
    {"no trailing newline", "a,b\nc,d", ',', 16, 0, "[a][b]|[c][d]|"},
    {"no trailing newline after CRLF", "a\r\nb", ',', 16, 0, "[a]|[b]|"},
    {"blank LF and CRLF lines skipped", "\n\r\na\n\n\r\n\nb\n\n", ',', 16, 0, "[a]|[b]|"},
    {"only blank lines give no record", "\n\r\n\n", ',', 16, 0, ""},
    {"empty buffer gives no record", "", ',', 16, 0, ""},
    {"empty fields", ",,\n", ',', 16, 0, "[][][]|"},
    {"trailing delimiter is an empty last field", "a,\nb,\r\nc,", ',', 16, 0,
     "[a][]|[b][]|[c][]|"},
    {"leading delimiter", ",a\n", ',', 16, 0, "[][a]|"},
    {"quoted field holds the delimiter", "\"a,b\",c\n", ',', 16, 0, "{a,b}[c]|"},
    {"doubled quotes are one quote", "\"say \"\"hi\"\"\",x\n", ',', 16, 0,
     "{say \"hi\"}[x]|"},
    {"only doubled quotes", "\"\"\"\"\"\"\n", ',', 16, 0, "{\"\"}|"},
    {"quoted LF stays in the field", "\"a\nb\",c\nd\n", ',', 16, 0, "{a\\nb}[c]|[d]|"},
    {"quoted CRLF stays in the field", "\"a\r\nb\"\r\nc\r\n", ',', 16, 0,
     "{a\\r\\nb}|[c]|"},
    {"quoted blank lines stay in the field", "\"\n\n\",x\n", ',', 16, 0, "{\\n\\n}[x]|"},
    {"empty quoted fields", "\"\",\"\"\n", ',', 16, 0, "{}{}|"},
    {"quoted field at end of buffer", "a,\"b\"", ',', 16, 0, "[a]{b}|"},
    {"quoted field before CRLF at end", "\"b\"\r\n", ',', 16, 0, "{b}|"},
    {"quote inside unquoted field is literal", "ab\"c,d\"\n", ',', 16, 0,
     "[ab\"c][d\"]|"},
    {"stray quote does not protect the delimiter", "a\"b,c\"d\n", ',', 16, 0,
     "[a\"b][c\"d]|"},
    {"space before quote makes the field unquoted", " \"a,b\"\n", ',', 16, 0,
     "[ \"a][b\"]|"},
    {"CR not before LF is data", "a\rb,c\r\n", ',', 16, 0, "[a\\rb][c]|"},
    {"CR at end of buffer is data", "a\r", ',', 16, 0, "[a\\r]|"},
    {"CR CR LF keeps the first CR", "a\r\r\n", ',', 16, 0, "[a\\r]|"},
    {"lone CR line is a record", "\r\na\n\r", ',', 16, 0, "[a]|[\\r]|"},
    {"semicolon delimiter", "a;b,c\n\"x;y\";z\n", ';', 16, 0, "[a][b,c]|{x;y}[z]|"},
    {"tab delimiter", "a\tb c\n\"x\ty\"\t\n", '\t', 16, 0, "[a][b c]|{x\\ty}[]|"},
    {"pipe delimiter", "a|\"b|c\"\n", '|', 16, 0, "[a]{b|c}|"},
    {"comma is data with another delimiter", "a,b|c\n", '|', 16, 0, "[a,b][c]|"},
    {"BOM skipped", "\xEF\xBB\xBF" "a,b\n", ',', 16, 0, "[a][b]|"},
    {"partial BOM is data", "\xEF\xBB" "a\n", ',', 16, 0, "[\xEF\xBB" "a]|"},
    {"exact field count accepted", "a,b\nc,d\n", ',', 16, 2, "[a][b]|[c][d]|"},
    {"max cells reached exactly", "a,b\n", ',', 2, 0, "[a][b]|"},

    {"unterminated quote at end, error at the opening quote", "a,b\n1,\"x\ny\n", ',', 16,
     0, "[a][b]|!2:3 EDATA unterminated quoted field|"},
    {"unterminated quote at buffer start", "\"abc", ',', 16, 0,
     "!1:1 EDATA unterminated quoted field|"},
    {"unterminated after doubled quote", "x\n\"a\"\"", ',', 16, 0,
     "[x]|!2:1 EDATA unterminated quoted field|"},
    {"unterminated quote after BOM, column excludes BOM", "\xEF\xBB\xBF\"a", ',', 16, 0,
     "!1:1 EDATA unterminated quoted field|"},
    {"text after closing quote", "a,b\n\"x\"y,z\nc,d\n", ',', 16, 0,
     "[a][b]|!2:4 EDATA unexpected text after closing quote|[c][d]|"},
    {"space after closing quote", "\"a\" ,b\n", ',', 16, 0,
     "!1:4 EDATA unexpected text after closing quote|"},
    {"quote after closing quote starts no new field", "x,\"a\"b\"\n,z\nq\n", ',', 16, 0,
     "!1:6 EDATA unexpected text after closing quote|[][z]|[q]|"},
    {"CR after closing quote without LF", "\"a\"\rb\nc\n", ',', 16, 0,
     "!1:4 EDATA unexpected text after closing quote|[c]|"},
    {"CR after closing quote at end of buffer", "\"a\"\r", ',', 16, 0,
     "!1:4 EDATA unexpected text after closing quote|"},
    {"error after quoted newline counts lines", "h\n\"a\nb\"x\nc\n", ',', 16, 0,
     "[h]|!3:3 EDATA unexpected text after closing quote|[c]|"},
    {"error in tab dialect", "a\t\"b\"c\n", '\t', 16, 0,
     "!1:6 EDATA unexpected text after closing quote|"},
    {"too few fields", "a,b\nc\nd,e\n", ',', 16, 2,
     "[a][b]|!2:1 EDATA expected 2 fields, found 1|[d][e]|"},
    {"too many fields for expect", "a,b\n\n  d,e,f\n", ',', 16, 2,
     "[a][b]|!3:1 EDATA expected 2 fields, found 3|"},
    {"more fields than cells", "a,b,c,d\ne\n", ',', 2, 0,
     "!1:5 ELIMIT too many fields|[e]|"},
    {"first error of a record wins (limit)", "a,\"b\"x\n", ',', 1, 0,
     "!1:3 ELIMIT too many fields|"},
    {"first error of a record wins (syntax)", "\"a\"x,b,\"c\n", ',', 2, 3,
     "!1:4 EDATA unexpected text after closing quote|"},
    {"syntax error beats field count", "\"a\"x,b\n", ',', 16, 3,
     "!1:4 EDATA unexpected text after closing quote|"},
};

static void test_table(void)
{
    size_t i;
    out o;

    for (i = 0; i < MB_ARRAY_LEN(cases); i++) {
        const tcase *c = &cases[i];
        render(c->in, strlen(c->in), c->delim, c->max, c->expect, &o);
        is_str(o.s, c->want, "%s", c->name);
    }
}

static void test_zero_copy(void)
{
    const char buf[] = "ab,\"c\"\"d\"\n";
    mb_csv_dialect d = MB_CSV_DIALECT_DEFAULT;
    mb_cell c[4];
    mb_csv r;
    size_t n;
    char small[3], big[8];

    mb_csv_init(&r, &d, buf, sizeof buf - 1, 0);
    ok(mb_csv_next(&r, c, 4, &n, 0, NULL) == MB_OK && n == 2, "two cells, NULL err accepted");
    ok(c[0].p == buf && c[0].len == 2 && !c[0].quoted, "plain cell points into the buffer");
    ok(c[1].p == buf + 4 && c[1].len == 4 && c[1].quoted && c[1].escaped,
       "quoted cell excludes quotes and keeps doubled quotes");
    ok(mb_csv_cell_unescape(&c[1], big, sizeof big) == 3 && memcmp(big, "c\"d", 3) == 0,
       "unescape undoes doubled quotes");
    ok(mb_csv_cell_unescape(&c[1], small, 2) == (size_t)-1, "unescape reports a short buffer");
    ok(mb_csv_cell_unescape(&c[1], small, 3) == 3, "unescape fits exactly");
    ok(mb_csv_cell_unescape(&c[0], small, 1) == (size_t)-1, "plain unescape short buffer");
    ok(r.pos == sizeof buf - 1, "reader positioned after the record");
    ok(mb_csv_next(&r, c, 4, &n, 0, NULL) == MB_EAGAIN && n == 0, "end of buffer");
    ok(mb_csv_next(&r, c, 4, &n, 0, NULL) == MB_EAGAIN, "end of buffer is sticky");
    mb_csv_init(&r, NULL, buf, sizeof buf - 1, 0);
    ok(r.d.delim == ',' && r.d.quote == '"', "NULL dialect is the default");
}

static void test_other_quote(void)
{
    const char buf[] = "'it''s',\"x\"\n";
    mb_csv_dialect d = {',', '\''};
    mb_cell c[2];
    mb_csv r;
    size_t n;
    char text[8];

    mb_csv_init(&r, &d, buf, sizeof buf - 1, 0);
    ok(mb_csv_next(&r, c, 2, &n, 0, NULL) == MB_OK && n == 2 && c[0].quoted &&
           !c[1].quoted && c[1].len == 3,
       "single-quote dialect: double quote is ordinary");
    ok(mb_csv_cell_unescape(&c[0], text, sizeof text) == 4 && memcmp(text, "it's", 4) == 0,
       "unescape uses the cell's own quote character");
}

static void test_base_offset(void)
{
    const char buf[] = "a\n\"x\"y\n";
    mb_csv r;
    mb_cell c[2];
    mb_err e;
    size_t n;
    mb_status st;

    mb_csv_init(&r, NULL, buf, sizeof buf - 1, 1000);
    ok(mb_csv_next(&r, c, 2, &n, 0, &e) == MB_OK, "first record");
    st = mb_csv_next(&r, c, 2, &n, 0, &e);
    ok(st == MB_EDATA && r.err_off == 1005, "err_off is a file offset (base + index)");
    is_str(e.msg, "unexpected text after closing quote", "message carries no position");
    ok(e.code == MB_EDATA, "err code set");
}

static void test_bom(void)
{
    ok(mb_csv_bom_len("\xEF\xBB\xBF", 3) == 3, "BOM alone");
    ok(mb_csv_bom_len("\xEF\xBB\xBFx", 4) == 3, "BOM before data");
    ok(mb_csv_bom_len("\xEF\xBB", 2) == 0, "short buffer has no BOM");
    ok(mb_csv_bom_len("\xEF\xBB\xBE", 3) == 0, "wrong third byte");
    ok(mb_csv_bom_len("abc", 3) == 0, "no BOM");
}

static void check_locate(const char *buf, size_t len, uint64_t off, unsigned long wl,
                         unsigned long wc)
{
    unsigned long l, c;

    mb_csv_locate(buf, len, off, &l, &c);
    ok(l == wl && c == wc, "locate offset %llu -> %lu:%lu (got %lu:%lu)",
       (unsigned long long)off, wl, wc, l, c);
}

static void test_locate(void)
{
    const char a[] = "ab\ncd\r\n\"x\ny\"\n", b[] = "\xEF\xBB\xBF" "ab\nc";

    check_locate(a, sizeof a - 1, 0, 1, 1);
    check_locate(a, sizeof a - 1, 2, 1, 3);
    check_locate(a, sizeof a - 1, 3, 2, 1);
    check_locate(a, sizeof a - 1, 5, 2, 3);
    check_locate(a, sizeof a - 1, 7, 3, 1);
    check_locate(a, sizeof a - 1, 10, 4, 1);
    check_locate(a, sizeof a - 1, 13, 5, 1);
    check_locate(a, sizeof a - 1, 999, 5, 1);
    check_locate(b, sizeof b - 1, 3, 1, 1);
    check_locate(b, sizeof b - 1, 4, 1, 2);
    check_locate(b, sizeof b - 1, 6, 2, 1);
    check_locate(b, sizeof b - 1, 1, 1, 2);
}

/* A file larger than the lookup's read block, lines of varied length. */
static size_t make_text(char *buf, size_t len, int bom)
{
    size_t i, k = 0;

    if (bom) {
        memcpy(buf, "\xEF\xBB\xBF", 3);
        k = 3;
    }
    for (i = 0; k < len; i++, k++)
        buf[k] = (i * 7919) % 97 == 0 ? '\n' : (char)('a' + i % 26);
    return k;
}

static void test_locate_file(void)
{
    static char buf[200000];
    static const uint64_t offs[] = {0, 1, 2, 3, 4, 65535, 65536, 65537, 131072, 199999,
                                    200000, 250000};
    char path[] = "/tmp/mb_test_csvXXXXXX";
    unsigned long l1, c1, l2, c2;
    int bom, fd;
    size_t i, bad;

    for (bom = 0; bom <= 1; bom++) {
        size_t len = make_text(buf, sizeof buf, bom);
        fd = mkstemp(path);
        ok(fd >= 0 && write(fd, buf, len) == (ssize_t)len, "temp file written");
        close(fd);
        for (i = 0, bad = 0; i < MB_ARRAY_LEN(offs); i++) {
            mb_csv_locate(buf, len, offs[i], &l1, &c1);
            if (mb_csv_locate_file(path, offs[i], &l2, &c2) != MB_OK || l1 != l2 || c1 != c2) {
                printf("# offset %llu: memory %lu:%lu file %lu:%lu\n",
                       (unsigned long long)offs[i], l1, c1, l2, c2);
                bad++;
            }
        }
        ok(bad == 0, "locate_file agrees with locate across read blocks (BOM %d)", bom);
        {
            unsigned long lines[MB_ARRAY_LEN(offs)], cols[MB_ARRAY_LEN(offs)];
            mb_status st = mb_csv_locate_file_many(path, offs, MB_ARRAY_LEN(offs), lines, cols);
            for (i = 0, bad = 0; i < MB_ARRAY_LEN(offs); i++) {
                mb_csv_locate(buf, len, offs[i], &l1, &c1);
                bad += st != MB_OK || lines[i] != l1 || cols[i] != c1;
            }
            ok(bad == 0, "locate_file_many agrees with locate for every offset in one pass "
                         "(BOM %d)", bom);
            st = mb_csv_locate_file_many(path, offs + 5, 2, lines, cols);
            ok(st == MB_OK && lines[0] == lines[1] - (buf[65535] == '\n') &&
                   mb_csv_locate_file_many(path, (const uint64_t[]){5, 4}, 2, lines, cols) ==
                       MB_EINTERNAL,
               "locate_file_many: a later start works, offsets out of order are refused");
        }
        unlink(path);
        memcpy(path + strlen(path) - 6, "XXXXXX", 6);
    }
    ok(mb_csv_locate_file("/nonexistent/mb.csv", 5, &l1, &c1) == MB_EIO && l1 == 0 &&
           c1 == 0,
       "missing file is MB_EIO with 0:0");
}

int main(void)
{
    test_table();
    test_zero_copy();
    test_other_quote();
    test_base_offset();
    test_bom();
    test_locate();
    test_locate_file();
    return tap_done();
}
