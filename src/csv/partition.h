/* partition.h - the chunk grid: fixed-size byte chunks of one CSV file, each
 * boundary snapped forward to the start of a record.
 *
 * The grid is a pure function of (file bytes, chunk size, dialect, header
 * flag): any process that builds it for the same file gets the same chunks,
 * which is what lets checkpoints and results be keyed by chunk index rather
 * than by rank. Snapping runs the same state machine as the reader in
 * csv.c, so a boundary never falls inside a quoted field (even one holding
 * newlines) and a record is never split or read twice. The builder reads
 * the file once, streaming, in blocks of bounded size; it does not parse
 * fields or aggregate anything. */
#ifndef MB_PARTITION_H
#define MB_PARTITION_H

#include "csv/csv.h"

typedef struct mb_grid {
    uint64_t file_size;
    uint64_t data_start;   /* first byte after BOM and header record */
    size_t ncols;          /* fields in the header (or first) record */
    char **names;          /* ncols column names (unescaped, NUL-terminated);
                              "1".."N" when the file has no header */
    size_t nchunks;        /* may be 0 for a file with no data records */
    uint64_t *bounds;      /* nchunks + 1 strictly increasing offsets:
                              bounds[0] = data_start, bounds[nchunks] = file_size;
                              chunk i is [bounds[i], bounds[i+1]) */
    size_t max_chunk;      /* largest bounds[i+1] - bounds[i] */
} mb_grid;

/* Pure core: the snap state machine, fed block by block. Its transitions
 * are the reader's (csv.c): a quote opens a quoted field only at the start
 * of a field, "" inside quotes is a literal quote, and after a malformed
 * closing quote the field continues as unquoted text, so snapper and reader
 * agree on record starts even for bad input. A record start is the byte after
 * an LF outside quotes (blank lines are records the reader skips). */
typedef struct mb_snap {
    mb_csv_dialect d;
    int state;             /* reader state at the end of the bytes fed so far */
    uint64_t off;          /* file offset of the next byte to feed */
    uint64_t rec_start;    /* file offset where the current record began */
    uint64_t max_record;   /* longest record in bytes, line ending included;
                              0 = no cap */
    uint64_t want;         /* next nominal boundary */
    uint64_t step;         /* distance between nominal boundaries, >= 1 */
} mb_snap;

/* Starts a snapper at file offset `off`, at the start of a record, looking
 * for record starts at or after `want`, then every `step` bytes. */
void mb_snap_init(mb_snap *s, const mb_csv_dialect *d, uint64_t off, uint64_t want,
                  uint64_t step, uint64_t max_record);

/* Feeds buf[0..len) (the bytes at file offset s->off). Each record start r
 * with r >= s->want is appended to out (out[*nout] = r, ++*nout); s->want then
 * moves on by whole steps until it exceeds r, so that nominal boundaries
 * snapping to the same record start give it once. Stops right after the
 * record start that makes *nout == cap. Returns MB_OK with *used = bytes
 * consumed (len unless out filled up), or MB_ELIMIT when a record grows past
 * max_record (s->rec_start is then its start). */
mb_status mb_snap_feed(mb_snap *s, const char *buf, size_t len, size_t *used,
                       uint64_t *out, size_t *nout, size_t cap);

/* Builds the grid of file `path` (already open as `fd`, size `size`; read
 * with pread, so the descriptor's offset is left alone). `chunk_size` >= 1.
 * `max_record` caps the size of one record in bytes, line ending and the
 * header record included (0 = no cap): a longer one is MB_ELIMIT naming the
 * file, line and column where that record starts. Blank lines before the
 * header are skipped. With header = 0, data_start is the end of the BOM and
 * the first record only gives ncols. An empty file, a file of blank lines,
 * or a file with only a header gives nchunks = 0 (data_start = file_size);
 * blank lines after the header still form a chunk (one without records).
 * Errors name the file, line and column; on error `g` holds nothing. */
mb_status mb_grid_build(mb_grid *g, const char *path, int fd, uint64_t size,
                        uint64_t chunk_size, const mb_csv_dialect *d, int header,
                        size_t max_record, mb_err *err);

void mb_grid_fini(mb_grid *g);

/* ---- the same grid built in parts, one per rank ----
 *
 * The data bytes are split in nparts at guesses: part k starts just after
 * the first LF at or past its share of the bytes (part 0 at data_start)
 * and snaps, from a record start, up to where part k+1 starts. A guess is
 * right when the previous part ends exactly there at a record start, which
 * is all that can go wrong (an LF inside a quoted field); mb_grid_join
 * checks it, and then the joined bounds are mb_grid_build's. */
typedef struct mb_grid_part {
    uint64_t start, end;   /* the part snapped [start, end) */
    int ok;                /* no error, and `end` is a record start */
    uint64_t *v;           /* record starts at nominal boundaries, in [start, end] */
    size_t n;
} mb_grid_part;

/* mb_grid_build without the bounds: data_start, ncols and names. */
mb_status mb_grid_head(mb_grid *g, const char *path, int fd, uint64_t size,
                       const mb_csv_dialect *d, int header, size_t max_record, mb_err *err);

/* Part k of nparts of the grid whose head is g (read through fd). A record
 * over max_record is not an error here: the part is just not ok, and the
 * serial build reports it. Errors are I/O and memory only. */
mb_status mb_grid_part_scan(const mb_grid *g, const char *path, int fd, uint64_t chunk_size,
                            const mb_csv_dialect *d, size_t max_record, size_t k,
                            size_t nparts, mb_grid_part *out, mb_err *err);
void mb_grid_part_fini(mb_grid_part *p);

/* Sets g's bounds from parts 0..nparts-1 and returns 1; returns 0 (g
 * unchanged) when a part is not ok or they do not follow one another, and
 * the grid must be built serially. */
int mb_grid_join(mb_grid *g, const mb_grid_part *parts, size_t nparts);

#endif
