/* csv_scan.c - the fast CSV reader: classifies 64-byte blocks into bitmasks
 * (delimiter-or-LF, quote) with SSE2, or with a portable byte loop where
 * SSE2 is not compiled in, and walks those bits to cut cells. It keeps the
 * reference reader's grammar and error choices exactly (csv.c is the
 * specification; the differential test enforces it); it does not unescape,
 * allocate, or read past buf + len. */
#include "csv/csv_scan.h"

#include <assert.h>
#include <string.h>

#if MB_CSV_SCAN_SIMD
#include <emmintrin.h>
#endif

#define BLOCK ((size_t)MB_CSV_SCAN_BLOCK)

static inline unsigned first_bit(uint64_t m)
{
#if defined(__GNUC__)
    return (unsigned)__builtin_ctzll(m);
#else
    unsigned k = 0;

    while (!(m & 1)) {
        m >>= 1;
        k++;
    }
    return k;
#endif
}

#if MB_CSV_SCAN_SIMD
/* One compare per byte class and 16 bytes; the masks of the four vectors
 * are packed into one 64-bit word so that a field's end is one ctz away. */
static void classify(const char *p, char delim, char quote, uint64_t *ends, uint64_t *quotes,
                     uint64_t *lfs)
{
    const __m128i vd = _mm_set1_epi8(delim), vn = _mm_set1_epi8('\n'),
                  vq = _mm_set1_epi8(quote);
    uint64_t e = 0, q = 0, l = 0;
    unsigned k;

    for (k = 0; k < 4; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        __m128i n = _mm_cmpeq_epi8(v, vn);
        __m128i de = _mm_or_si128(_mm_cmpeq_epi8(v, vd), n);
        e |= (uint64_t)(unsigned)_mm_movemask_epi8(de) << (16 * k);
        q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vq)) << (16 * k);
        l |= (uint64_t)(unsigned)_mm_movemask_epi8(n) << (16 * k);
    }
    *ends = e;
    *quotes = q;
    *lfs = l;
}
#else
/* Portable fallback with the same output; slower, but still branch-light. */
static void classify(const char *p, char delim, char quote, uint64_t *ends, uint64_t *quotes,
                     uint64_t *lfs)
{
    uint64_t e = 0, q = 0, l = 0;
    size_t k;

    for (k = 0; k < BLOCK; k++) {
        e |= (uint64_t)(p[k] == delim || p[k] == '\n') << k;
        q |= (uint64_t)(p[k] == quote) << k;
        l |= (uint64_t)(p[k] == '\n') << k;
    }
    *ends = e;
    *quotes = q;
    *lfs = l;
}
#endif

void mb_csv_classify(const char *p, size_t have, char delim, char quote, uint64_t *ends,
                     uint64_t *quotes, uint64_t *lfs)
{
    char tail[MB_CSV_SCAN_BLOCK];
    uint64_t keep;

    if (have >= BLOCK) {
        classify(p, delim, quote, ends, quotes, lfs);
        return;
    }
    /* A partial block is copied: a 16-byte load there could cross into an
     * unmapped page right after the buffer. Padding bits are masked off, so
     * the pad byte's value does not matter. */
    memset(tail, 0, sizeof tail);
    memcpy(tail, p, have);
    classify(tail, delim, quote, ends, quotes, lfs);
    keep = ((uint64_t)1 << have) - 1;
    *ends &= keep;
    *quotes &= keep;
    *lfs &= keep;
}

/* Makes the block at offset `blk` (a multiple of BLOCK, below len) current. */
static void load_block(mb_csv_scan *s, size_t blk)
{
    s->blk = blk;
    mb_csv_classify(s->buf + blk, s->len - blk, s->d.delim, s->d.quote, &s->ends, &s->quotes,
                    &s->lfs);
}

/* Smallest j >= i whose byte is in the class (`quote` picks which), or len:
 * the slow half, which walks to later blocks. */
static size_t find_from(mb_csv_scan *s, size_t i, int quote)
{
    size_t blk = i - i % BLOCK;

    for (; blk < s->len; blk += BLOCK) {
        uint64_t m;

        if (blk != s->blk)
            load_block(s, blk);
        m = quote ? s->quotes : s->ends;
        if (i > blk)
            m &= ~(uint64_t)0 << (i - blk);
        if (m)
            return blk + first_bit(m);
    }
    return s->len;
}

/* The fast half: most fields end inside the current block. An offset
 * before the block (never the case while reading forward) only costs a
 * reload, since `off` then wraps to a huge value. */
static inline size_t next_end(mb_csv_scan *s, size_t i)
{
    size_t off = i - s->blk;

    if (off < BLOCK) {
        uint64_t m = s->ends >> off;
        if (m)
            return i + first_bit(m);
    }
    return find_from(s, i, 0);
}

static inline size_t next_quote(mb_csv_scan *s, size_t i)
{
    size_t off = i - s->blk;

    if (off < BLOCK) {
        uint64_t m = s->quotes >> off;
        if (m)
            return i + first_bit(m);
    }
    return find_from(s, i, 1);
}

void mb_csv_scan_init(mb_csv_scan *s, const mb_csv_dialect *d, const char *buf, size_t len,
                      uint64_t base)
{
    static const mb_csv_dialect def = MB_CSV_DIALECT_DEFAULT;

    s->d = d ? *d : def;
    /* The same ambiguous dialects the reference rejects; callers validate. */
    assert(s->d.delim != s->d.quote);
    assert(s->d.delim != '\n' && s->d.delim != '\r');
    assert(s->d.quote != '\n' && s->d.quote != '\r');
    s->buf = buf;
    s->len = len;
    s->pos = 0;
    s->base = base;
    s->err_off = base;
    s->blk = 0;
    s->ends = 0;
    s->quotes = 0;
    s->lfs = 0;
    if (len > 0)
        load_block(s, 0);
}

/* Only the first error of a record is reported, as in the reference. */
static void fail(mb_csv_scan *s, mb_status *st, mb_err *err, size_t at, mb_status code,
                 const char *msg)
{
    if (*st != MB_OK)
        return;
    s->err_off = s->base + at;
    *st = mb_err_set(err, code, "%s", msg);
}

/* Scans the quoted field opening at b[i]; returns the index of the byte that
 * ends it (delimiter, LF, or len). Quotes come from the block masks, so a
 * long quoted field costs one ctz per quote, not one test per byte. After a
 * malformed closing the rest is read as unquoted text, as the reference and
 * the partition snapper do. */
static size_t quoted_field(mb_csv_scan *s, size_t i, mb_cell *c, mb_status *st, mb_err *err)
{
    const char *b = s->buf;
    size_t len = s->len, j = i + 1, k;

    c->quoted = 1;
    c->p = b + j;
    for (;;) {
        j = next_quote(s, j);
        if (j == len) {
            c->len = len - (i + 1);
            fail(s, st, err, i, MB_EDATA, "unterminated quoted field");
            return len;
        }
        if (j + 1 < len && b[j + 1] == s->d.quote) {
            c->escaped = 1;
            j += 2;
            continue;
        }
        break;
    }
    c->len = j - (i + 1);
    k = j + 1;
    if (k == len || b[k] == s->d.delim || b[k] == '\n')
        return k;
    if (b[k] == '\r' && k + 1 < len && b[k + 1] == '\n')
        return k + 1;
    fail(s, st, err, k, MB_EDATA, "unexpected text after closing quote");
    return next_end(s, k);
}

/* Reads an unquoted field starting at i, stores it as cells[n] when there is
 * room, and returns the index of the delimiter or LF that ends it (or len).
 * The block cache is passed in locals: cell stores are size_t stores, which
 * the compiler must assume may alias s->blk, so keeping the cache in
 * registers is what makes the common case a shift, a ctz and three stores. */
static inline size_t plain_field(mb_csv_scan *s, size_t i, mb_cell *cells, size_t n,
                                 size_t max_cells, size_t *blk, uint64_t *ends)
{
    const char *b = s->buf;
    size_t off = i - *blk, end;
    uint64_t m;

    /* A quote inside an unquoted field is data, so only the delimiter/LF
     * mask matters and the field's end is the next bit in it. */
    if (off < BLOCK && (m = *ends >> off) != 0) {
        end = i + first_bit(m);
    } else {
        end = find_from(s, i, 0);
        *blk = s->blk;
        *ends = s->ends;
    }
    if (n < max_cells) {
        size_t clen = end - i;
        /* The CR of a CRLF belongs to the line ending. */
        if (clen > 0 && end < s->len && b[end] == '\n' && b[end - 1] == '\r')
            clen--;
        cells[n] = (mb_cell){b + i, clen, 0, 0};
    }
    return end;
}

mb_status mb_csv_scan_next(mb_csv_scan *s, mb_cell *cells, size_t max_cells, size_t *ncells,
                           size_t expect, mb_err *err)
{
    const char *b = s->buf;
    const char quote = s->d.quote, delim = s->d.delim;
    const size_t len = s->len;
    size_t i = mb_csv_skip_blank(b, s->pos, len), rec = i, n = 0, blk = s->blk;
    uint64_t ends = s->ends;
    mb_status st = MB_OK;

    *ncells = 0;
    if (i >= len) {
        s->pos = len;
        return MB_EAGAIN;
    }
    for (;; n++) {
        if (n == max_cells)
            fail(s, &st, err, i, MB_ELIMIT, "too many fields");
        if (i < len && b[i] == quote) {
            mb_cell c = {NULL, 0, 0, 0};
            i = quoted_field(s, i, &c, &st, err);
            blk = s->blk;
            ends = s->ends;
            if (n < max_cells)
                cells[n] = c;
        } else {
            i = plain_field(s, i, cells, n, max_cells, &blk, &ends);
        }
        if (i < len && b[i] == delim) {
            i++;
            continue;
        }
        break; /* at the LF or the end of the buffer */
    }
    n++;
    s->pos = i < len ? i + 1 : len;
    *ncells = n < max_cells ? n : max_cells;
    if (st == MB_OK && expect != 0 && n != expect) {
        s->err_off = s->base + rec;
        st = mb_err_set(err, MB_EDATA, "expected %zu fields, found %zu", expect, n);
    }
    return st;
}

mb_status mb_csv_scan_next_cols(mb_csv_scan *s, mb_cell *cells, size_t max_cells,
                                size_t *ncells, size_t expect, uint64_t keep, mb_err *err)
{
    const char *b = s->buf;
    const size_t len = s->len;
    size_t i = mb_csv_skip_blank(b, s->pos, len), f = i, j = 0, blk, lf = 0;
    uint64_t lo, e, q, l;
    int last_kept = 0;

    if (i >= len)
        return mb_csv_scan_next(s, cells, max_cells, ncells, expect, err);
    blk = i - i % BLOCK;
    if (blk != s->blk)
        load_block(s, blk);
    lo = ~(uint64_t)0 << (i - blk);
    e = s->ends & lo;
    q = s->quotes & lo;
    l = s->lfs & lo;
    for (;;) {
        /* the bits up to and including this record's LF, if it is here */
        uint64_t upto = l ? (l ^ (l - 1)) : ~(uint64_t)0, em;
        if (q & upto)
            goto general;                  /* a quote: the full grammar */
        for (em = e & upto; em; em &= em - 1) {
            size_t end = blk + first_bit(em);
            if (j >= max_cells)
                goto general;              /* "too many fields" is reported there */
            last_kept = j >= 64 || ((keep >> j) & 1);
            if (last_kept)
                cells[j] = (mb_cell){b + f, end - f, 0, 0};
            j++;
            f = end + 1;
        }
        if (l) {
            lf = blk + first_bit(l);
            break;
        }
        blk += BLOCK;
        if (blk >= len)
            goto general;                  /* no LF before the end of the buffer */
        load_block(s, blk);
        e = s->ends;
        q = s->quotes;
        l = s->lfs;
    }
    if (expect != 0 && j != expect)
        goto general;                      /* the field-count error, reported there */
    /* The CR of a CRLF belongs to the line ending, as in plain_field. */
    if (last_kept && cells[j - 1].len > 0 && b[lf - 1] == '\r')
        cells[j - 1].len--;
    s->pos = lf + 1;
    *ncells = j;
    return MB_OK;
general:
    return mb_csv_scan_next(s, cells, max_cells, ncells, expect, err);
}
