/* main.c - the mpibatch command: dispatches subcommands and maps statuses
 * to exit codes. The only file allowed to call MPI_Abort. */
#include "ckpt.h"
#include "cli.h"
#include "dist.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "queue.h"
#include "results.h"
#include "run.h"
#include "task.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mb_status need_queue(mb_opts *o, mb_err *err)
{
    const char *env = getenv("MPIBATCH_QUEUE");

    if (o->queue)
        return MB_OK;
    if (env && *env && (o->queue = strdup(env)) != NULL)
        return MB_OK;
    return mb_err_set(err, MB_EUSAGE, "%s: --queue URL is required (or set MPIBATCH_QUEUE)",
                      mb_cli_cmd_name(o->cmd));
}

static mb_status open_queue(const mb_opts *o, mb_queue **q, int create, mb_err *err)
{
    mb_queue_config cfg;
    mb_status st = mb_cli_queue_config(o, &cfg, err);

    return st != MB_OK ? st : mb_queue_open(q, o->queue, create, &cfg, err);
}

static mb_status cmd_enqueue(mb_opts *o, mb_err *err)
{
    mb_queue *q = NULL;
    mb_status st = need_queue(o, err);
    size_t i;

    if (st != MB_OK)
        return st;
    if (o->nargs == 0)
        return mb_err_set(err, MB_EUSAGE, "enqueue: name at least one FILE");
    if (o->id && o->nargs != 1)
        return mb_err_set(err, MB_EUSAGE, "enqueue: --id goes with exactly one FILE");
    if ((st = open_queue(o, &q, 1, err)) != MB_OK)
        return st;
    for (i = 0; i < o->nargs && st == MB_OK; i++) {
        char *body = NULL;
        mb_task t;
        st = mb_task_body(o->args[i], o->id, &body, err);
        if (st == MB_OK)
            st = mb_queue_put(q, body, strlen(body), err);
        if (st == MB_OK && mb_task_parse(body, strlen(body), NULL, &t, err) == MB_OK) {
            printf("%s\t%s\n", t.id, t.input);
            mb_task_fini(&t);
        }
        free(body);
    }
    mb_queue_free(q);
    return st;
}

static mb_status cmd_queue(mb_opts *o, mb_err *err)
{
    mb_queue *q = NULL;
    mb_status st = need_queue(o, err);
    const char *action = o->nargs ? o->args[0] : "";

    if (st != MB_OK)
        return st;
    if (o->nargs != 1 || (strcmp(action, "stats") && strcmp(action, "peek") &&
                          strcmp(action, "purge") && strcmp(action, "redrive")))
        return mb_err_set(err, MB_EUSAGE, "queue: say stats, peek, purge or redrive");
    if (o->id && strcmp(action, "redrive") != 0)
        return mb_err_set(err, MB_EUSAGE, "queue %s: --id goes with redrive only", action);
    if ((st = open_queue(o, &q, 0, err)) != MB_OK)
        return st;
    if (strcmp(action, "stats") == 0) {
        int64_t vis = 0, leased = 0, poisoned = 0;
        if ((st = mb_queue_count(q, &vis, &leased, &poisoned, err)) == MB_OK)
            printf("approximate_messages %lld\nvisible %lld\nleased %lld\npoison %lld\n",
                   (long long)(vis + leased), (long long)vis, (long long)leased,
                   (long long)poisoned);
    } else if (strcmp(action, "peek") == 0) {
        mb_msg m[32];
        size_t n = 0, i;
        memset(m, 0, sizeof m);
        if ((st = mb_queue_peek(q, m, MB_ARRAY_LEN(m), &n, err)) == MB_OK)
            for (i = 0; i < n; i++)
                printf("%s\t%lld\t%s\n", m[i].id, (long long)m[i].dequeue_count,
                       m[i].body ? m[i].body : "");
        for (i = 0; i < n; i++)
            mb_msg_fini(&m[i]);
    } else if (strcmp(action, "redrive") == 0) {
        uint64_t moved = 0;
        st = mb_queue_redrive(q, o->id, &moved, err);
        if (st == MB_OK)
            printf("redriven %llu\n", (unsigned long long)moved);
        if (st == MB_OK && o->id && moved == 0)
            st = mb_err_set(err, MB_ENOENT, "queue redrive: no poisoned message %s", o->id);
    } else {
        st = mb_queue_purge(q, err);
    }
    mb_queue_free(q);
    return st;
}

static mb_status cmd_run(mb_opts *o, int *argc, char ***argv, mb_err *err)
{
    mb_dist d;
    mb_status st;

    if ((st = mb_dist_init(&d, argc, argv, err)) != MB_OK)
        return st;
    mb_log_init(d.rank, o->quiet ? MB_LOG_WARN : o->verbose ? MB_LOG_DEBUG : MB_LOG_INFO);
    st = need_queue(o, err);
    if (st == MB_OK && !o->out)
        st = mb_err_set(err, MB_EUSAGE, "run: --out DIR is required");
    if (st == MB_OK && o->nargs)
        st = mb_err_set(err, MB_EUSAGE, "run: unexpected argument '%s'", o->args[0]);
    if (st == MB_OK)
        st = mb_job_load(o, err);
    if (st == MB_OK)
        st = mb_run(o, &d, err);
    if (st == MB_ESTOP && d.rank == 0)
        mb_warn("%s", err->msg);
    else if (st != MB_OK && st != MB_ESTOP && (d.rank == 0 || st == MB_EINTERNAL))
        mb_error("%s", err->msg);
    if (st == MB_EINTERNAL && d.size > 1)
        MPI_Abort(MPI_COMM_WORLD, mb_status_exit(st));
    mb_dist_fini(&d);
    return st;
}

int main(int argc, char **argv)
{
    mb_opts o;
    mb_err err;
    mb_status st;
    int code;

    /* Hidden: the man page and the bash completion, for make. */
    if (argc == 2 && strncmp(argv[1], "--help-", 7) == 0 &&
        (st = mb_cli_generate(argv[1] + 7, stdout)) != MB_ENOENT) {
        if (st != MB_OK)
            mb_error("%s: cannot write to stdout", argv[1]);
        return mb_status_exit(st);
    }
    mb_err_clear(&err);
    mb_opts_init(&o);
    mb_log_init(-1, MB_LOG_INFO);
    st = mb_cli_parse(&o, argc, argv, &err);
    if (st != MB_OK) {
        mb_error("%s", err.msg);
        mb_opts_fini(&o);
        free(o.args);
        return mb_status_exit(st);
    }
    mb_log_init(-1, o.quiet ? MB_LOG_WARN : o.verbose ? MB_LOG_DEBUG : MB_LOG_INFO);
    if (mb_http_global_init() != MB_OK) {
        mb_error("cannot initialise libcurl");
        return mb_status_exit(MB_EINTERNAL);
    }
    if (o.version) {
        printf("mpibatch %s\n", MB_VERSION);
        st = MB_OK;
    } else if (o.help || o.cmd == MB_CMD_NONE) {
        mb_cli_help(o.cmd);
        st = o.help ? MB_OK : MB_EUSAGE;
    } else if (o.cmd == MB_CMD_RUN) {
        st = cmd_run(&o, &argc, &argv, &err);
        err.msg[0] = '\0';    /* already reported by every rank that should */
    } else if (o.cmd == MB_CMD_ENQUEUE) {
        st = cmd_enqueue(&o, &err);
    } else if (o.cmd == MB_CMD_QUEUE) {
        st = cmd_queue(&o, &err);
    } else if (o.cmd == MB_CMD_INSPECT) {
        st = o.nargs == 1 ? mb_ckpt_inspect(o.args[0], stdout, &err)
                          : mb_err_set(&err, MB_EUSAGE, "inspect: name one CHECKPOINT file");
    } else if (o.cmd == MB_CMD_RESULTS) {
        st = o.nargs == 1 ? mb_results_print(o.args[0], o.merge, o.format, stdout, &err)
                          : mb_err_set(&err, MB_EUSAGE, "results: name one result DIR");
    }
    if (st != MB_OK && err.msg[0])
        mb_error("%s", err.msg);
    code = mb_status_exit(st);
    mb_opts_fini(&o);
    free(o.args);
    fflush(stdout);
    return code;
}
