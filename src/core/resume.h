/* resume.h - what a rerun picks up from --checkpoint-dir: the checkpoints
 * of in-flight tasks (one subdirectory per task, so that a task's states
 * stay keyed by task and chunk) and the lease of the message the previous
 * run held (lease.json), so that a restart can reclaim it at once with its
 * lease handle instead of waiting for the visibility timeout.
 * Rank 0 only; no MPI. */
#ifndef MB_RESUME_H
#define MB_RESUME_H

#include "core/ckpt.h"
#include "queue/queue.h"

typedef struct mb_resume {
    char *dir;                   /* --checkpoint-dir, NULL when not checkpointing */
    size_t n;
    mb_ckpt_loaded *tasks;       /* valid checkpoints found at start, one per task */
    mb_msg lease;                /* from lease.json; lease.body NULL when none */
} mb_resume;

/* Opens dir (created if missing) and loads what it holds. With `fresh`,
 * discards everything instead; the checkpoints of tasks already committed
 * in `out` (when not NULL) are discarded too. A checkpoint of another job
 * (fingerprint differs) or of another accumulator layout (mb_ckpt_load) is
 * MB_EJOB naming the file, unless `fresh`. dir NULL: nothing. */
mb_status mb_resume_open(mb_resume *r, const char *dir, const char *fingerprint,
                         const char *out, int fresh, mb_err *err);
void mb_resume_fini(mb_resume *r);

/* The loaded checkpoint of task_id, or NULL. */
mb_ckpt_loaded *mb_resume_find(mb_resume *r, const char *task_id);

/* Frees the loaded checkpoint of task_id (its files stay). */
void mb_resume_drop(mb_resume *r, const char *task_id);

/* The checkpoint directory of one task: DIR/task_id. */
mb_status mb_resume_task_dir(const mb_resume *r, const char *task_id, char *out, size_t cap,
                             mb_err *err);

/* Records the lease of the claimed message (atomically). No-op without dir. */
mb_status mb_resume_save_lease(mb_resume *r, const mb_msg *m, mb_err *err);

/* Forgets the lease (the message was deleted, released or poisoned). */
void mb_resume_forget_lease(mb_resume *r);

/* The task is finished (committed or rejected): deletes its checkpoints. */
void mb_resume_finish_task(mb_resume *r, const char *task_id);

#endif
