/* results.h - committed results: OUT/TASK.csv (the table), OUT/TASK.h5 (the
 * typed answers and the exact mergeable states) and the ledger
 * OUT/.ledger/TASK.json, whose presence is the commit point of a task
 * (formats: docs/result-format.md).
 *
 * Every file is written under a temporary name, fsynced, renamed and its
 * directory fsynced, so a result appears whole or not at all; the ledger
 * entry is written last, so a task counts as committed only when both of
 * its result files are durable. Only this module and ckpt.c include hdf5.h. */
#ifndef MB_RESULTS_H
#define MB_RESULTS_H

#include "agg/group.h"
#include "cli/job.h"
#include "core/query.h"

#include <stdio.h>
#include <sys/stat.h>

/* The identity of an input file as fstat(2) sees it. A redelivered task is
 * the same work only if its input still has the identity recorded when it
 * was committed. */
typedef struct mb_input_id {
    uint64_t size;
    int64_t mtime_s, mtime_ns;
    uint64_t ino, dev;
} mb_input_id;

void mb_input_id_from_stat(const struct stat *sb, mb_input_id *id);

typedef struct mb_task_info {
    const char *task_id;
    const char *input;
    const char *message_id;
    const char *job_name;
    uint64_t rows, bytes, chunks;
    int ranks;
    double seconds;
    const mb_input_id *input_id;   /* NULL: not recorded */
    const mb_qtask *query;         /* the query bound to the input */
    uint64_t rejected;             /* records skipped under --max-bad-rows */
    const char *rejects;           /* the rejects file's bytes, when rejected > 0 */
    size_t rejects_len;
} mb_task_info;

/* Creates OUT, OUT/.ledger if missing, and removes the temporaries that
 * writers on this host left there when they were killed mid-commit. */
mb_status mb_results_prepare(const char *out, mb_err *err);

/* 1 if task_id has a ledger entry in OUT, else 0. */
int mb_results_committed(const char *out, const char *task_id);

/* 1 if OUT holds at least one committed task. */
int mb_results_any(const char *out);

/* What the ledger says about a task that is delivered (again). */
typedef enum mb_commit_state {
    MB_COMMIT_NONE,          /* no ledger entry: process it */
    MB_COMMIT_SAME,          /* committed by this job from this input: acknowledge */
    MB_COMMIT_OTHER_JOB,     /* committed by another job (fingerprint differs) */
    MB_COMMIT_INPUT_CHANGED, /* same job, but the input is not the committed one */
    MB_COMMIT_DAMAGED        /* the ledger entry cannot be read */
} mb_commit_state;

/* Compares the ledger entry of task_id in OUT with this job's plan
 * fingerprint and the input's identity `id` (NULL when the input cannot be
 * opened: only the fingerprint is compared then).
 *
 *   no entry                          MB_OK,    MB_COMMIT_NONE
 *   same fingerprint, same identity   MB_OK,    MB_COMMIT_SAME
 *   another fingerprint               MB_EJOB,  MB_COMMIT_OTHER_JOB: OUT
 *       belongs to another job; the job is at fault, not the file, so the
 *       caller releases the message and stops (err names the task, OUT and
 *       both fingerprints)
 *   same fingerprint, other size, mtime (with ns) or inode
 *                                     MB_EDATA, MB_COMMIT_INPUT_CHANGED: the
 *       file was rewritten since the commit; the old answer must not be
 *       given for it, so the caller poisons the message (err says to enqueue
 *       it with a new --id)
 *   unreadable entry                  MB_EDATA, MB_COMMIT_DAMAGED
 *
 * The device number is recorded but not compared: on network file systems
 * it is a per-client number, and rank 0 may run on another host next time.
 * An entry written before identities were recorded matches any identity. */
mb_status mb_results_check(const char *out, const char *task_id, const char *fingerprint,
                           const mb_input_id *id, mb_commit_state *state, mb_err *err);

/* Records durably (OUT/.poison/TASK.json, written atomically) that task_id
 * of OUT ended in the poison area, with the message id and the reason, so
 * that `results` can warn that the output is incomplete. */
mb_status mb_results_note_poison(const char *out, const char *task_id, const char *msg_id,
                                 const char *reason, mb_err *err);

/* Forgets such a record (the task was redriven or committed); no error if
 * there is none. mb_results_commit calls it after a commit. */
void mb_results_forget_poison(const char *out, const char *task_id);

/* Commits one task's result (see above): the answer of t->query over `g`,
 * which must hold final states, and the states themselves. Both
 * result files are written under temporary names and fsynced before either
 * is renamed, so a failure (a full disk) leaves neither of them visible;
 * then the ledger entry records their sizes and SHA-256, the row and group
 * counts, the job fingerprint and the input's identity. */
mb_status mb_results_commit(const char *out, const mb_plan *p, const mb_groups *g,
                            const mb_task_info *t, mb_err *err);

/* Writes the result table of `g` as CSV: header (group columns, then the
 * aggregates as written), rows sorted by key. With `task` not NULL, a first
 * column "task" holds it (and the header is printed only if `header`). */
mb_status mb_results_write_csv(FILE *f, const mb_plan *p, const mb_groups *g, const char *task,
                               int header, mb_err *err);

/* `mpibatch results`: prints the committed tasks of OUT (each, or merged)
 * as csv or json to f. Only tasks with a ledger entry are read, and each
 * only after its files match the sizes and SHA-256 in the entry; ranks,
 * dimensions, row and group counts are checked before and after every
 * read. A damaged task is an error naming the file and the task (MB_EDATA,
 * or MB_EIO when a file cannot be read), and then nothing is printed.
 * Tasks recorded in OUT/.poison are reported with a warning on stderr. */
mb_status mb_results_print(const char *out, int merge, const char *format, FILE *f,
                           mb_err *err);

#endif
