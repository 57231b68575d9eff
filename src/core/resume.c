/* resume.c - per-task checkpoint directories and the lease file. Failure
 * semantics: everything here is an optimisation of a restart except the
 * fingerprint and layout checks; a missing or unreadable lease file only means waiting
 * for the lease to expire, a damaged checkpoint only means recomputing. */
#include "core/resume.h"

#include "base/fsutil.h"
#include "base/log.h"
#include "core/results.h"
#include "queue/task.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEASE_FILE "lease.json"
#define LEASE_MAX (MB_MSG_BODY_MAX * 2 + 4096)

static mb_status load_lease(mb_resume *r)
{
    char path[4200], *text = NULL;
    size_t len = 0;
    json_t *o;
    mb_err err;
    const char *id, *rc, *body;
    json_int_t dq = 0;

    snprintf(path, sizeof path, "%s/%s", r->dir, LEASE_FILE);
    if (mb_fs_read_small(path, LEASE_MAX, &text, &len, &err) != MB_OK)
        return MB_ENOENT;
    o = json_loadb(text, len, 0, NULL);
    free(text);
    if (!o || json_unpack(o, "{s:s, s:s, s:s, s:I}", "id", &id, "receipt", &rc, "body", &body,
                          "dequeue_count", &dq) != 0 ||
        strlen(id) >= sizeof r->lease.id || strlen(rc) >= sizeof r->lease.receipt ||
        strlen(body) > MB_MSG_BODY_MAX) {
        mb_warn("%s is damaged; ignoring it (the message comes back when its lease expires)",
                path);
        json_decref(o);
        return MB_EDATA;
    }
    snprintf(r->lease.id, sizeof r->lease.id, "%s", id);
    snprintf(r->lease.receipt, sizeof r->lease.receipt, "%s", rc);
    r->lease.body = mb_strdup(body);
    r->lease.body_len = r->lease.body ? strlen(body) : 0;
    r->lease.dequeue_count = dq;
    json_decref(o);
    return r->lease.body ? MB_OK : MB_ENOMEM;
}

static mb_status load_task(mb_resume *r, const char *name, const char *fingerprint,
                           const char *out, int fresh, mb_err *err)
{
    char sub[4200];
    mb_ckpt_loaded c, *grown;
    mb_err e2;
    mb_status st;

    snprintf(sub, sizeof sub, "%s/%s", r->dir, name);
    /* A task another job committed meanwhile will only ever be
     * acknowledged: its checkpoints (and any temporary a killed writer
     * left among them) would stay forever. */
    if (fresh || (out && mb_results_committed(out, name))) {
        if (!fresh)
            mb_info("%s: task %s is committed in %s; its checkpoints are removed", sub, name,
                    out);
        mb_resume_finish_task(r, name);
        return MB_OK;
    }
    st = mb_ckpt_load(sub, &c, &e2);
    if (st == MB_EJOB)
        /* Written with another accumulator layout: refused like another
         * job's checkpoint, since its states would be misread. */
        return mb_err_set(err, MB_EJOB, "%s; finish the task with the mpibatch that wrote "
                          "it, or run with --fresh to discard it", e2.msg);
    if (st != MB_OK) {
        mb_warn("%s: no usable checkpoint; the task starts over when it is claimed", sub);
        return MB_OK;
    }
    if (strcmp(c.meta.fingerprint, fingerprint) != 0) {
        mb_ckpt_loaded_fini(&c);
        return mb_err_set(err, MB_EJOB, "%s was made for a different job (other group "
                          "columns, aggregates or CSV dialect); run with --fresh to discard "
                          "it, or use another --checkpoint-dir", c.path);
    }
    grown = mb_realloc(r->tasks, (r->n + 1) * sizeof *r->tasks);
    if (!grown) {
        mb_ckpt_loaded_fini(&c);
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    }
    r->tasks = grown;
    r->tasks[r->n++] = c;
    mb_info("found checkpoint %s: task %s, %llu of %llu chunks done", c.path, c.meta.task_id,
            (unsigned long long)c.ndone, (unsigned long long)c.meta.nchunks);
    return MB_OK;
}

/* Task checkpoints live in subdirectories; lease.json and strays do not. */
static int is_dir(const char *dir, const char *name)
{
    char p[4200];
    struct stat sb;

    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

mb_status mb_resume_open(mb_resume *r, const char *dir, const char *fingerprint,
                         const char *out, int fresh, mb_err *err)
{
    DIR *d;
    struct dirent *e;
    mb_status st = MB_OK;

    memset(r, 0, sizeof *r);
    if (!dir)
        return MB_OK;
    if ((st = mb_fs_mkdirs(dir, err)) != MB_OK)
        return st;
    if (!(r->dir = mb_strdup(dir)))
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    (void)mb_fs_sweep_temps(dir);          /* lease.json temps of killed runs */
    if (!(d = opendir(dir)))
        return mb_err_set(err, MB_EIO, "%s: %s", dir, strerror(errno));
    while (st == MB_OK && (e = readdir(d)) != NULL)
        if (mb_task_id_valid(e->d_name) && is_dir(dir, e->d_name))
            st = load_task(r, e->d_name, fingerprint, out, fresh, err);
    closedir(d);
    if (st == MB_OK && fresh)
        mb_resume_forget_lease(r);
    else if (st == MB_OK)
        load_lease(r);
    return st;
}

void mb_resume_fini(mb_resume *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        mb_ckpt_loaded_fini(&r->tasks[i]);
    free(r->tasks);
    mb_msg_fini(&r->lease);
    free(r->dir);
    memset(r, 0, sizeof *r);
}

mb_ckpt_loaded *mb_resume_find(mb_resume *r, const char *task_id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->tasks[i].meta.task_id, task_id) == 0)
            return &r->tasks[i];
    return NULL;
}

void mb_resume_drop(mb_resume *r, const char *task_id)
{
    mb_ckpt_loaded *c = mb_resume_find(r, task_id);
    if (!c)
        return;
    mb_ckpt_loaded_fini(c);
    *c = r->tasks[--r->n];
}

mb_status mb_resume_task_dir(const mb_resume *r, const char *task_id, char *out, size_t cap,
                             mb_err *err)
{
    int n = snprintf(out, cap, "%s/%s", r->dir, task_id);
    if (n < 0 || (size_t)n >= cap)
        return mb_err_set(err, MB_EIO, "checkpoint path too long");
    return MB_OK;
}

mb_status mb_resume_save_lease(mb_resume *r, const mb_msg *m, mb_err *err)
{
    char path[4200], *text;
    json_t *o;
    mb_status st;

    if (!r->dir)
        return MB_OK;
    o = json_pack("{s:s, s:s, s:s%, s:I}", "id", m->id, "receipt", m->receipt, "body",
                  m->body ? m->body : "", m->body ? m->body_len : (size_t)0, "dequeue_count",
                  (json_int_t)m->dequeue_count);
    text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return mb_err_set(err, MB_ENOMEM, "cannot encode the lease");
    snprintf(path, sizeof path, "%s/%s", r->dir, LEASE_FILE);
    st = mb_fs_write_atomic(path, text, strlen(text), err);
    free(text);
    return st;
}

void mb_resume_forget_lease(mb_resume *r)
{
    char path[4200];

    mb_msg_fini(&r->lease);
    memset(&r->lease, 0, sizeof r->lease);
    if (!r->dir)
        return;
    snprintf(path, sizeof path, "%s/%s", r->dir, LEASE_FILE);
    if (unlink(path) == 0)
        mb_fs_sync_dir(r->dir, NULL);
}

void mb_resume_finish_task(mb_resume *r, const char *task_id)
{
    char sub[4200];
    mb_err err;
    struct stat sb;

    mb_resume_drop(r, task_id);
    if (!r->dir || mb_resume_task_dir(r, task_id, sub, sizeof sub, &err) != MB_OK ||
        stat(sub, &sb) != 0)
        return;
    if (mb_ckpt_clear(sub, &err) != MB_OK)
        mb_warn("cannot remove the checkpoints of task %s: %s", task_id, err.msg);
    rmdir(sub);
}
