/* csv.h - the reference RFC 4180 reader: records out of an in-memory buffer.
 *
 * The reader works on a buffer that holds whole records (a chunk cut by the
 * partition module, or a whole small file); it never allocates and never
 * copies: a cell is a pointer + length into the caller's buffer, valid as
 * long as that buffer is. It does not read files (mb_csv_locate_file reads
 * one only to turn an error offset into line:column), count lines on the
 * hot path, or know about columns' meaning.
 *
 * Dialect: one-byte delimiter (',' ';' '\t' '|'), '"' quotes, doubled quotes
 * inside quoted fields, LF or CRLF record ends (a CR right before the LF is
 * not part of the last field; any other CR, including one at the very end
 * of the buffer, is data), an optional UTF-8 BOM at the very start of the
 * file (measured by mb_csv_bom_len; the caller starts the reader after it).
 * Blank lines (LF or CRLF alone) are skipped, so in a one-column file an
 * empty value must be written "" to count as a record. A quote opens a
 * quoted field only as the field's first byte; anywhere else in an
 * unquoted field it is an ordinary character. Text after the closing quote
 * of a quoted field (other than delimiter, LF, CRLF or end of buffer) is an
 * error, and the rest of that field is then read as unquoted text up to
 * the next delimiter or LF - the partition snapper makes the same choice,
 * so both agree on where records start even in bad input. */
#ifndef MB_CSV_H
#define MB_CSV_H

#include "base/mb.h"

typedef struct mb_csv_dialect {
    char delim;   /* field delimiter, default ',' */
    char quote;   /* quote character, default '"' */
} mb_csv_dialect;

#define MB_CSV_DIALECT_DEFAULT {',', '"'}

/* One field. `p` excludes the enclosing quotes of a quoted field; when
 * `escaped` is set the bytes still hold doubled quotes ("") that
 * mb_csv_cell_unescape turns into single ones. */
typedef struct mb_cell {
    const char *p;
    size_t len;
    unsigned quoted : 1;
    unsigned escaped : 1;
} mb_cell;

typedef struct mb_csv {
    mb_csv_dialect d;
    const char *buf;
    size_t len;
    size_t pos;            /* offset of the next record in buf */
    uint64_t base;         /* file offset of buf[0], for error positions */
    uint64_t err_off;      /* file offset of the last error */
} mb_csv;

/* Prepares `r` to read records from buf[0..len). `base` is the file offset
 * of buf[0]; error reports carry file offsets (base + index). `d` may be NULL
 * for the default; its delimiter must differ from the quote, CR and LF. */
void mb_csv_init(mb_csv *r, const mb_csv_dialect *d, const char *buf, size_t len,
                 uint64_t base);

/* Number of bytes of UTF-8 BOM at the start of buf (0 or 3). */
size_t mb_csv_bom_len(const char *buf, size_t len);

/* Reads the next record into cells[0..*ncells). Returns MB_OK with
 * *ncells > 0, or MB_EAGAIN at the end of the buffer (no more records).
 * On a malformed record returns MB_EDATA, sets r->err_off to the file offset
 * of the offending byte and a message (without position) in `err`; the
 * reader is then positioned after that record.
 * More than `max_cells` fields is MB_ELIMIT (err_off = start of the extra
 * field). If `expect` is not 0, a record with another field count is
 * MB_EDATA ("expected N fields, found M"), err_off = start of the record.
 * Only the first error of a record is reported (a syntax error or an extra
 * field, whichever comes first; the field count is checked last). Messages:
 * "unterminated quoted field" (err_off = the opening quote, the reader then
 * ends), "unexpected text after closing quote", "too many fields". */
mb_status mb_csv_next(mb_csv *r, mb_cell *cells, size_t max_cells, size_t *ncells,
                      size_t expect, mb_err *err);

/* Index of the first byte at or after i in b[0..len) that does not start a
 * blank line (LF or CRLF alone). Both readers skip blank lines this way;
 * inline because it runs once per record on the hot path. */
static inline size_t mb_csv_skip_blank(const char *b, size_t i, size_t len)
{
    for (;;) {
        if (i < len && b[i] == '\n')
            i++;
        else if (i + 1 < len && b[i] == '\r' && b[i + 1] == '\n')
            i += 2;
        else
            return i;
    }
}

/* Copies the cell's text into out[0..cap) with doubled quotes undone (no NUL
 * is added). Returns the unescaped length, or (size_t)-1 if cap is too small.
 * The quote character is read from c->p[-1], the opening quote, so a quoted
 * cell must point into its record just after that quote, as the reader's
 * cells (and any other scanner's) do. */
size_t mb_csv_cell_unescape(const mb_cell *c, char *out, size_t cap);

/* Converts a byte offset into a 1-based line and column (in bytes) by
 * counting LFs in buf[0..off) - LFs inside quoted fields count too, as in an
 * editor; `buf` must start at file offset 0. Columns on line 1 do not count
 * a UTF-8 BOM. An offset past len is taken as len. */
void mb_csv_locate(const char *buf, size_t len, uint64_t off, unsigned long *line,
                   unsigned long *col);

/* The same for a file on disk, reading it in blocks. Returns MB_EIO when the
 * file cannot be read (line and col are then 0). */
mb_status mb_csv_locate_file(const char *path, uint64_t off, unsigned long *line,
                             unsigned long *col);

/* mb_csv_locate_file for n offsets in ascending order, in one pass over
 * the file: lines[i], cols[i] for offs[i]. MB_EINTERNAL when the offsets
 * are not ascending. */
mb_status mb_csv_locate_file_many(const char *path, const uint64_t *offs, size_t n,
                                  unsigned long *lines, unsigned long *cols);

#endif
