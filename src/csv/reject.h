/* reject.h - the records a task skips under --max-bad-rows: how one is
 * kept while the task runs, and how the task's rejects file is written.
 *
 * A skipped record travels as a marker group in the group table: its key
 * starts with the u32 length 0xFFFFFFFF, which no real key can start with
 * (a field that long passes every record cap), and holds the record's file
 * offset, the offset the reason points at, the reason and the first
 * MB_REJECT_RAW_MAX bytes of the record; it has no rows and empty states.
 * So the checkpoints, the reduction across ranks and a resume carry rejects
 * with nothing new, and rank 0 takes them out of the reduced table before
 * the result is written. One record gives at most one reject, so offsets
 * are unique keys. No I/O, no MPI. */
#ifndef MB_REJECT_H
#define MB_REJECT_H

#include "base/mb.h"
#include "base/pack.h"

#include <stdbool.h>

#define MB_REJECT_RAW_MAX 1024     /* bytes of a record kept in the rejects file */
#define MB_REJECT_REASON_MAX 512   /* bytes of a reason kept */

typedef struct mb_reject {
    uint64_t rec_off;          /* file offset of the record's first byte */
    uint64_t err_off;          /* file offset the reason is about */
    uint64_t rec_len;          /* the record's length in bytes, without its line end */
    const char *reason;        /* into the key it was decoded from */
    size_t reason_len;
    const char *raw;           /* the record's first min(rec_len, RAW_MAX) bytes */
    size_t raw_len;
    unsigned long line, col;   /* of err_off; set by whoever reads the file */
} mb_reject;

/* Appends the marker key of a reject to `key` (cleared first): rec[0..len)
 * is the record (its line end is dropped here), reason a C string; both
 * are cut to their caps. */
mb_status mb_reject_key(mb_buf *key, uint64_t rec_off, uint64_t err_off, const char *rec,
                        size_t len, const char *reason);

/* Whether an encoded group key is a reject's marker key. */
static inline bool mb_reject_is(const char *key, size_t len)
{
    return len >= 4 && (unsigned char)key[0] == 0xff && (unsigned char)key[1] == 0xff &&
           (unsigned char)key[2] == 0xff && (unsigned char)key[3] == 0xff;
}

/* Decodes a marker key; r points into `key`. MB_EDATA when it is not one
 * (damaged, or not a reject's). */
mb_status mb_reject_decode(const char *key, size_t len, mb_reject *r);

/* qsort order: by record offset, the file's order. */
int mb_reject_cmp(const void *a, const void *b);

/* Writes the rejects file: the header `file,line,column,reason,
 * record_bytes,record`, then one line per reject in the given order (line
 * and col as set), fields quoted as RFC 4180 wants when they hold a comma,
 * a quote, CR or LF. */
mb_status mb_reject_csv(mb_buf *out, const char *file, const mb_reject *r, size_t n);

#endif
