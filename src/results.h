/* results.h - committed results: OUT/TASK.csv (the table), OUT/TASK.h5 (the
 * exact mergeable states) and the ledger OUT/.ledger/TASK.json, whose
 * presence is the commit point of a task.
 *
 * Every file is written under a temporary name, fsynced, renamed and its
 * directory fsynced, so a result appears whole or not at all; the ledger
 * entry is written last, so a task counts as committed only when both of
 * its result files are durable. Only this module and ckpt.c include hdf5.h. */
#ifndef MB_RESULTS_H
#define MB_RESULTS_H

#include "group.h"
#include "job.h"

#include <stdio.h>

typedef struct mb_task_info {
    const char *task_id;
    const char *input;
    const char *message_id;
    const char *job_name;
    uint64_t rows, bytes, chunks;
    int ranks;
    double seconds;
} mb_task_info;

/* Creates OUT and OUT/.ledger if missing. */
mb_status mb_results_prepare(const char *out, mb_err *err);

/* 1 if task_id has a ledger entry in OUT, else 0. */
int mb_results_committed(const char *out, const char *task_id);

/* 1 if OUT holds at least one committed task. */
int mb_results_any(const char *out);

/* Commits one task's result (see above). `g` must hold final states. */
mb_status mb_results_commit(const char *out, const mb_plan *p, const mb_groups *g,
                            const mb_task_info *t, mb_err *err);

/* Writes the result table of `g` as CSV: header (group columns, then the
 * aggregates as written), rows sorted by key. With `task` not NULL, a first
 * column "task" holds it (and the header is printed only if `header`). */
mb_status mb_results_write_csv(FILE *f, const mb_plan *p, const mb_groups *g, const char *task,
                               int header, mb_err *err);

/* `mpibatch results`: prints the committed tasks of OUT (each, or merged)
 * as csv or json to f. */
mb_status mb_results_print(const char *out, int merge, const char *format, FILE *f,
                           mb_err *err);

#endif
