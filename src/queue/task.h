/* task.h - work items: the message body <-> (task id, input path).
 *
 * A body is either a bare path of one CSV file or a JSON object
 * {"input": "...", "id": "..."}; other JSON members are ignored. The task
 * id defaults to a digest of the body, so the same work item enqueued twice
 * is one task. Task ids are used as file names, hence the strict alphabet. */
#ifndef MB_TASK_H
#define MB_TASK_H

#include "base/mb.h"

#define MB_TASK_ID_MAX 100
#define MB_INPUT_MAX 4096

typedef struct mb_task {
    char id[MB_TASK_ID_MAX + 1];
    char *input;          /* path, resolved against the data root */
} mb_task;

/* 1 if id is 1..100 of [A-Za-z0-9._-] and does not start with '.'. */
int mb_task_id_valid(const char *id);

/* Parses a message body. MB_EDATA with a clear message when it is not a
 * path or a JSON object with a string "input" (and valid "id"). */
mb_status mb_task_parse(const char *body, size_t len, const char *data_root, mb_task *t,
                        mb_err *err);
void mb_task_fini(mb_task *t);

/* The message body for enqueuing `path` (made absolute) with an optional
 * explicit id. Caller frees *body. */
mb_status mb_task_body(const char *path, const char *id, char **body, mb_err *err);

#endif
