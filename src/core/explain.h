/* explain.h - `mpibatch run --sql QUERY --explain`: the job's query bound
 * to the columns of the first queued input, or to --columns alone, and
 * its plan printed; nothing is claimed, run or written.
 *
 * It needs no MPI and does not initialise it: under a launcher
 * (mpirun -n N) rank 0 explains and the other ranks print nothing. */
#ifndef MB_EXPLAIN_H
#define MB_EXPLAIN_H

#include "cli/cli.h"

#include <stdio.h>

/* Loads o->job (if any), builds the plan and parses the query, then types
 * its input: the input of the queue's first visible message (peeked, not
 * claimed: its lease and dequeue count are untouched), its columns sniffed
 * from the head of the file and overridden by --columns; or, with no queue
 * (no --queue, no MPIBATCH_QUEUE) or an empty one, exactly the columns
 * --columns lists. Writes to `out` a first line naming that input, a line
 * of the input's typed columns, then mb_sql_plan_explain's lines.
 *
 * Errors: the query's own (MB_EUSAGE for --sql, MB_EJOB for a job file,
 * naming the position, e.g. "--sql:1:23: syntax error at or near ..."),
 * prefixed with the input's path when the query does not fit that input;
 * MB_EJOB, as in a run, when --columns names a column the input lacks;
 * MB_EUSAGE when the job has no query or there is no input and no
 * --columns; the queue's, the message body's (MB_EDATA) and the file's
 * (MB_ENOENT, MB_EIO, ...) as they come. Ranks other than 0 return MB_OK
 * at once. */
mb_status mb_explain_run(mb_opts *o, FILE *out, mb_err *err);

#endif
