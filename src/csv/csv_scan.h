/* csv_scan.h - the fast CSV reader: the same records, cells and errors as the
 * reference reader (csv.h), found with SIMD bitmasks instead of a byte loop.
 *
 * The contract is mb_csv_next's, word for word: zero-copy cells into the
 * caller's buffer (a quoted cell points just past its opening quote, so
 * mb_csv_cell_unescape works on it), blank lines skipped, CRLF, stray quotes
 * literal in unquoted fields, the same status codes, error offsets and
 * messages. tests/unit/test_csv_scan.c holds the two readers to that on
 * random and adversarial input. It does not read files, allocate, or look
 * at a byte past buf + len (the last partial block is copied, not loaded).
 * Which code finds the bitmasks (SSE2 or portable C) is fixed at compile
 * time; nothing is detected at run time. */
#ifndef MB_CSV_SCAN_H
#define MB_CSV_SCAN_H

#include "csv/csv.h"

/* 1 when the SSE2 path is compiled in, 0 for the portable byte loop; the
 * one switch csv_scan.c tests. It follows __SSE2__ unless set on the command
 * line (-DMB_CSV_SCAN_SIMD=0 builds the portable path on x86 too). The
 * portable path gives the same results but is slower than the reference
 * reader, so a caller may prefer mb_csv_next when this is 0. */
#ifndef MB_CSV_SCAN_SIMD
#if defined(__SSE2__)
#define MB_CSV_SCAN_SIMD 1
#else
#define MB_CSV_SCAN_SIMD 0
#endif
#endif
#if MB_CSV_SCAN_SIMD && !defined(__SSE2__)
#error "MB_CSV_SCAN_SIMD=1 needs SSE2 (__SSE2__ is not defined)"
#endif

/* Bytes classified per step: four 16-byte SSE2 vectors. */
#define MB_CSV_SCAN_BLOCK 64

typedef struct mb_csv_scan {
    mb_csv_dialect d;
    const char *buf;
    size_t len;
    size_t pos;            /* offset of the next record in buf */
    uint64_t base;         /* file offset of buf[0], for error positions */
    uint64_t err_off;      /* file offset of the last error */
    /* The block cache: bit k of `ends` is set when buf[blk + k] is the
     * delimiter or LF, bit k of `quotes` when it is the quote. Offsets only
     * grow while reading, so one block at a time is enough. */
    size_t blk;
    uint64_t ends;
    uint64_t quotes;
    uint64_t lfs;          /* bit k: buf[blk + k] is LF */
} mb_csv_scan;

/* Bit k of *ends: p[k] is the delimiter or LF; of *quotes: the quote; of
 * *lfs: LF; for the min(have, MB_CSV_SCAN_BLOCK) bytes at p (bits past
 * `have` are 0). Never reads past p + have. Shared with the grid snapper. */
void mb_csv_classify(const char *p, size_t have, char delim, char quote, uint64_t *ends,
                     uint64_t *quotes, uint64_t *lfs);

/* Prepares `s` to read records from buf[0..len), exactly as mb_csv_init
 * does for the reference reader (same dialect rules, `d` may be NULL). */
void mb_csv_scan_init(mb_csv_scan *s, const mb_csv_dialect *d, const char *buf, size_t len,
                      uint64_t base);

/* Reads the next record into cells[0..*ncells); same results as mb_csv_next
 * (see csv.h): MB_OK, MB_EAGAIN at the end of the buffer, MB_EDATA or
 * MB_ELIMIT with s->err_off and the message in `err` (may be NULL), the
 * reader then positioned after the bad record. */
mb_status mb_csv_scan_next(mb_csv_scan *s, mb_cell *cells, size_t max_cells, size_t *ncells,
                           size_t expect, mb_err *err);

/* As mb_csv_scan_next, but fills only the cells whose index i has bit i of
 * `keep` set (indices from 64 on count as kept); the others are left
 * untouched. Status, *ncells, positions and errors are mb_csv_scan_next's.
 * A record without quotes that ends in LF is cut with bit tricks alone, no
 * byte loads and no stores for cells nobody reads; anything else takes
 * mb_csv_scan_next. */
mb_status mb_csv_scan_next_cols(mb_csv_scan *s, mb_cell *cells, size_t max_cells,
                                size_t *ncells, size_t expect, uint64_t keep, mb_err *err);

#endif
