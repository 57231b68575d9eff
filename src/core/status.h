/* status.h - the status file of a job and `mpibatch status`. Rank 0 of a
 * run keeps one small JSON document per job (named by host and pid, so that
 * jobs sharing storage never collide) beside its checkpoints, or in
 * OUT/.status/ without a checkpoint dir, rewritten atomically at start, at
 * every progress tick and at the end; the file stays after the end with the
 * outcome. Names use the prefix mb_jobstat_ because mb_status is the
 * program's status enum. */
#ifndef MB_STATUS_FILE_H
#define MB_STATUS_FILE_H

#include "base/mb.h"
#include "queue/task.h"

#include <stdio.h>
#include <time.h>

/* A running or idle job whose file is older than this is shown as stale. */
#define MB_JOBSTAT_STALE_S 60

typedef enum mb_jobstat_state {
    MB_JOBSTAT_RUNNING = 0,   /* started, or working on a task */
    MB_JOBSTAT_IDLE,          /* the queue is empty; waiting for --idle-exit */
    MB_JOBSTAT_STOPPED,       /* stopped on request (exit 75, or 74) */
    MB_JOBSTAT_DONE,          /* the queue stayed empty (exit 0, or 65 with rejected tasks) */
    MB_JOBSTAT_FAILED         /* ended by an error (see `error`) */
} mb_jobstat_state;

#define MB_JOBSTAT_TEXT_MAX 1024

/* What the file says. The caller sets the fields, then calls write. */
typedef struct mb_jobstat {
    mb_jobstat_state state;
    char task[MB_TASK_ID_MAX + 1];     /* "" when no task is in hand */
    char input[MB_JOBSTAT_TEXT_MAX];
    uint64_t chunks_done, chunks_total, bytes_done, bytes_total;
    double rows_per_s, mb_per_s;       /* of the current task, so far */
    double eta_s;                      /* < 0: unknown */
    uint64_t tasks_done, tasks_rejected;
    int64_t queue_left, queue_poisoned; /* approximate; < 0: not counted */
    char error[MB_ERR_MAX];            /* FAILED: why */
    /* set by mb_jobstat_init */
    char *path;                        /* NULL: no status file */
    long pid;
    int ranks;
    char queue[MB_JOBSTAT_TEXT_MAX], out[MB_JOBSTAT_TEXT_MAX];
    time_t started;
    int warned;                        /* a failed write was reported */
} mb_jobstat;

/* Prepares the status file of this process in `ckpt_dir`, or in
 * OUT/.status/ when ckpt_dir is NULL (creating it), and sweeps the
 * temporaries that dead writers on this host left there. On failure (the
 * directory cannot be made) s->path stays NULL, so later writes do nothing,
 * and the error says why; the run should go on. */
mb_status mb_jobstat_init(mb_jobstat *s, const char *ckpt_dir, const char *out,
                          const char *queue, int ranks, mb_err *err);

/* Rewrites the file from the fields (write, fsync, rename). A failure is
 * logged as a warning the first time only and never returned: the file is
 * for operators, not for the work. */
void mb_jobstat_write(mb_jobstat *s);

void mb_jobstat_fini(mb_jobstat *s);

/* Seconds for people: "45s", "12m05s", "3h07m"; "?" when negative (unknown). */
void mb_jobstat_fmt_eta(double s, char *out, size_t cap);

/* `mpibatch status DIR`: every status file in DIR and DIR/.status, as a
 * table or (json) one JSON document, each marked stale when a running or
 * idle job has not updated it for MB_JOBSTAT_STALE_S seconds. MB_ENOENT
 * when DIR does not exist; unreadable files are reported and skipped. */
mb_status mb_jobstat_print(const char *dir, int json, FILE *out, mb_err *err);

#endif
