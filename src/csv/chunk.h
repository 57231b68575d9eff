/* chunk.h - one rank's work on one chunk: read the byte range, parse its
 * records, and fold them into the group table. Knows nothing of MPI,
 * queues or checkpoints; errors name file:line:column. */
#ifndef MB_CHUNK_H
#define MB_CHUNK_H

#include "agg/group.h"
#include "cli/job.h"
#include "sql/vec.h"

typedef struct mb_chunker {
    const mb_plan *plan;
    const char *path;
    size_t ncols;             /* fields per record */
    int fd;
    char *buf;                /* the current chunk */
    size_t cap;
    mb_cell *cells;
    uint64_t keep;            /* the fields the query reads (bit i: field i) */
    mb_buf key;               /* a record's encoded group key (the row layer) */
    mb_sql_rows *sql;         /* the query's row layer, record by record
                                 (where the batch program below gives up) */
    char *const *sqlnames;    /* and the input's column names, for messages */
    /* Batches: the plan's cells of MB_BATCH records go through the batch
     * program at once; a batch with any error goes through the row layer
     * again, record by record, which reports it. */
    size_t nb;                /* records in the batch */
    mb_sql_vec *vec;          /* NULL: record by record only */
    mb_cell *bcells;          /* MB_BATCH * plan->ncolumns cells */
    uint64_t *bat;            /* MB_BATCH record offsets in the file */
    size_t *sqlcols;          /* the plan's columns */
    size_t nsqlcols;
    size_t *brs, *bre;        /* MB_BATCH records' bytes in buf (rejects) */
    /* --max-bad-rows (set by the caller after open; 0: the first bad record
     * is an error, as always): a record that does not parse or whose value
     * does not fit is kept as a reject (csv/reject.h) in the group table
     * instead. Once this chunker has kept more than max_bad, `over` is set
     * and mb_chunker_run returns at once: the task has failed, and what it
     * kept holds the earliest rejects of its chunks, which is all that
     * naming the first one too many needs. */
    uint64_t max_bad;
    uint64_t nbad;            /* rejects this chunker kept */
    int over;
    mb_buf rej;               /* a reject's marker key */
    size_t rs, re;            /* the current record's bytes in buf */
} mb_chunker;

#define MB_BATCH 32

/* Opens `path` for reading chunks with `ncols` fields per record in p's
 * dialect; records go through the query's row layer `sql` (bound to this
 * input): WHERE, the keys and the accumulators' arguments. */
mb_status mb_chunker_open(mb_chunker *c, const mb_plan *p, mb_sql_rows *sql, const char *path,
                          size_t ncols, size_t max_record, mb_err *err);
void mb_chunker_close(mb_chunker *c);     /* NULL-safe, idempotent */

/* Aggregates the records in file bytes [a, b) into g; adds the record
 * count to *rows. The range must start at a record and end at one (the
 * chunk grid guarantees it). */
mb_status mb_chunker_run(mb_chunker *c, uint64_t a, uint64_t b, mb_groups *g, uint64_t *rows,
                         mb_err *err);

#endif
