/* main.c - the mpibatch command: dispatches subcommands and maps statuses
 * to exit codes. The only file allowed to call MPI_Abort. */
#include "core/ckpt.h"
#include "cli/cli.h"
#include "core/dist.h"
#include "core/explain.h"
#include "azure/http.h"
#include "cli/job.h"
#include "base/log.h"
#include "queue/queue.h"
#include "core/results.h"
#include "core/run.h"
#include "core/status.h"
#include "queue/task.h"

#include <jansson.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static mb_status need_queue(mb_opts *o, mb_err *err)
{
    const char *env = getenv("MPIBATCH_QUEUE");

    if (o->queue)
        return MB_OK;
    if (env && *env && (o->queue = mb_strdup(env)) != NULL)
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

#define LEASES_SHOWN 100

/* Prints a JSON document on stdout; MB_ENOMEM when it cannot be built. */
static mb_status print_json(json_t *doc, mb_err *err)
{
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

    json_decref(doc);
    if (!text)
        return mb_err_set(err, MB_ENOMEM, "cannot build the JSON output");
    printf("%s\n", text);
    free(text);
    return MB_OK;
}

/* A message body as JSON: null when it is not UTF-8 (JSON text must be). */
static json_t *body_json(const mb_msg *m)
{
    json_t *s = m->body ? json_stringn(m->body, m->body_len) : NULL;

    return s ? s : json_null();
}

static json_t *lease_json(const mb_lease *l, int64_t now_ms)
{
    char when[MB_LOG_TIME_MAX];

    mb_log_utc((time_t)(l->expires_ms / 1000), when);
    return json_pack("{s:s, s:I, s:s, s:f, s:o}", "id", l->id, "dequeue_count",
                     (json_int_t)l->dequeue_count, "expires", when, "expires_in_s",
                     (double)(l->expires_ms - now_ms) / 1000.0, "holder",
                     l->holder[0] ? json_string(l->holder) : json_null());
}

/* queue stats: the counts, then the leases that end soonest where the back
 * end can list them. The first four text lines are what scripts read. */
static mb_status queue_stats(mb_queue *q, int json, mb_err *err)
{
    static mb_lease leases[LEASES_SHOWN];
    int64_t vis = 0, leased = 0, poisoned = 0, now_ms = (int64_t)time(NULL) * 1000;
    size_t n = 0, i;
    int listed = 0;
    mb_status st = mb_queue_count(q, &vis, &leased, &poisoned, err);
    json_t *doc, *arr = NULL;

    if (st == MB_OK)
        st = mb_queue_leases(q, leases, MB_ARRAY_LEN(leases), &n, &listed, err);
    if (st != MB_OK)
        return st;
    if (!json) {
        printf("approximate_messages %lld\nvisible %lld\nleased %lld\npoison %lld\n",
               (long long)(vis + leased), (long long)vis, (long long)leased,
               (long long)poisoned);
        if (!listed)
            printf("leases not available (%s queues do not list invisible messages)\n",
                   q->ops->name);
        for (i = 0; i < n; i++) {
            char when[MB_LOG_TIME_MAX];
            mb_log_utc((time_t)(leases[i].expires_ms / 1000), when);
            printf("lease %s dequeue_count %lld expires %s in %.0f s holder %s\n",
                   leases[i].id, (long long)leases[i].dequeue_count, when,
                   (double)(leases[i].expires_ms - now_ms) / 1000.0,
                   leases[i].holder[0] ? leases[i].holder : "unknown");
        }
        if (listed && (int64_t)n < leased)
            printf("leases shown %zu of %lld\n", n, (long long)leased);
        return MB_OK;
    }
    if (listed && (arr = json_array()) != NULL)
        for (i = 0; i < n; i++)
            json_array_append_new(arr, lease_json(&leases[i], now_ms));
    doc = json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:s*}", "backend", q->ops->name,
                    "approximate_messages", (json_int_t)(vis + leased), "visible",
                    (json_int_t)vis, "leased", (json_int_t)leased, "poison",
                    (json_int_t)poisoned, "leases", arr ? arr : json_null(), "leases_note",
                    listed ? NULL : "not available: the back end does not list invisible "
                                    "messages");
    return print_json(doc, err);
}

/* queue peek: the oldest visible messages, not claimed. */
static mb_status queue_peek(mb_queue *q, int json, mb_err *err)
{
    mb_msg m[32];
    size_t n = 0, i;
    int64_t vis = 0, leased = 0, poisoned = 0;
    mb_status st;
    json_t *arr;

    memset(m, 0, sizeof m);
    st = mb_queue_peek(q, m, MB_ARRAY_LEN(m), &n, err);
    if (st == MB_OK && json)
        st = mb_queue_count(q, &vis, &leased, &poisoned, err);
    if (st == MB_OK && !json)
        for (i = 0; i < n; i++)
            printf("%s\t%lld\t%s\n", m[i].id, (long long)m[i].dequeue_count,
                   m[i].body ? m[i].body : "");
    if (st == MB_OK && json) {
        arr = json_array();
        for (i = 0; arr && i < n; i++)
            json_array_append_new(arr, json_pack("{s:s, s:I, s:o}", "id", m[i].id,
                                                 "dequeue_count",
                                                 (json_int_t)m[i].dequeue_count, "body",
                                                 body_json(&m[i])));
        st = print_json(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "backend",
                                  q->ops->name, "area", "queue", "peeked", (json_int_t)n,
                                  "visible", (json_int_t)vis,
                                  "leased", (json_int_t)leased, "poison",
                                  (json_int_t)poisoned, "messages", arr ? arr : json_null()),
                        err);
    }
    for (i = 0; i < n; i++)
        mb_msg_fini(&m[i]);
    return st;
}

static json_t *poisoned_json(const mb_poisoned *p)
{
    return json_pack("{s:s, s:I, s:o, s:o, s:b}", "id", p->msg.id, "dequeue_count",
                     (json_int_t)p->msg.dequeue_count, "reason",
                     p->reason[0] ? json_string(p->reason) : json_null(), "body",
                     body_json(&p->msg), "body_truncated", p->body_cut);
}

/* queue peek --poison: the poisoned messages, with their reasons. Text:
 * ID, dequeue count, reason ("-" when not recorded), body, tab-separated
 * (a reason is one line without control characters). */
static mb_status queue_peek_poison(mb_queue *q, int json, mb_err *err)
{
    mb_poisoned p[32];
    size_t n = 0, i;
    int64_t vis = 0, leased = 0, poisoned = 0;
    mb_status st;
    json_t *arr;

    memset(p, 0, sizeof p);
    st = mb_queue_peek_poison(q, p, MB_ARRAY_LEN(p), &n, err);
    if (st == MB_OK && json)
        st = mb_queue_count(q, &vis, &leased, &poisoned, err);
    if (st == MB_OK && !json)
        for (i = 0; i < n; i++)
            printf("%s\t%lld\t%s\t%s\n", p[i].msg.id, (long long)p[i].msg.dequeue_count,
                   p[i].reason[0] ? p[i].reason : "-", p[i].msg.body ? p[i].msg.body : "");
    if (st == MB_OK && json) {
        arr = json_array();
        for (i = 0; arr && i < n; i++)
            json_array_append_new(arr, poisoned_json(&p[i]));
        st = print_json(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "backend",
                                  q->ops->name, "area", "poison", "peeked", (json_int_t)n,
                                  "visible", (json_int_t)vis, "leased", (json_int_t)leased,
                                  "poison", (json_int_t)poisoned, "messages",
                                  arr ? arr : json_null()),
                        err);
    }
    for (i = 0; i < n; i++)
        mb_poisoned_fini(&p[i]);
    return st;
}

/* --format for queue and status (cli.c let only text or json through). */
static int want_json(const mb_opts *o)
{
    return o->format && strcmp(o->format, "json") == 0;
}

static mb_status cmd_queue(mb_opts *o, mb_err *err)
{
    mb_queue *q = NULL;
    mb_status st = need_queue(o, err);
    const char *action = o->nargs ? o->args[0] : "";
    int json = want_json(o);

    if (st != MB_OK)
        return st;
    if (o->nargs != 1 || (strcmp(action, "stats") && strcmp(action, "peek") &&
                          strcmp(action, "purge") && strcmp(action, "redrive")))
        return mb_err_set(err, MB_EUSAGE, "queue: say stats, peek, purge or redrive");
    if (o->id && strcmp(action, "redrive") != 0)
        return mb_err_set(err, MB_EUSAGE, "queue %s: --id goes with redrive only", action);
    if (o->poison && strcmp(action, "peek") && strcmp(action, "purge"))
        return mb_err_set(err, MB_EUSAGE, "queue %s: --poison goes with peek and purge only",
                          action);
    if (json && strcmp(action, "stats") && strcmp(action, "peek"))
        return mb_err_set(err, MB_EUSAGE, "queue %s: --format goes with stats and peek only",
                          action);
    if ((st = open_queue(o, &q, 0, err)) != MB_OK)
        return st;
    if (strcmp(action, "stats") == 0) {
        st = queue_stats(q, json, err);
    } else if (strcmp(action, "peek") == 0) {
        st = o->poison ? queue_peek_poison(q, json, err) : queue_peek(q, json, err);
    } else if (strcmp(action, "redrive") == 0) {
        uint64_t moved = 0;
        st = mb_queue_redrive(q, o->id, &moved, err);
        if (st == MB_OK)
            printf("redriven %llu\n", (unsigned long long)moved);
        if (st == MB_OK && o->id && moved == 0)
            st = mb_err_set(err, MB_ENOENT, "queue redrive: no poisoned message %s", o->id);
    } else {
        st = o->poison ? mb_queue_purge_poison(q, err) : mb_queue_purge(q, err);
    }
    mb_queue_free(q);
    return st;
}

static mb_status cmd_status(const mb_opts *o, mb_err *err)
{
    int json = want_json(o);

    if (o->nargs != 1)
        return mb_err_set(err, MB_EUSAGE, "status: name one DIR (a --checkpoint-dir or --out)");
    return mb_jobstat_print(o->args[0], json, stdout, err);
}

static mb_status cmd_run(mb_opts *o, int *argc, char ***argv, mb_err *err)
{
    mb_dist d;
    mb_status st;
    mb_log_format lf;

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
    if (st == MB_OK && mb_log_format_parse(o->log_format, &lf, err) != MB_OK)
        st = mb_err_set(err, MB_EJOB, "%s: [run] log_format: '%s' is not text or json",
                        o->job ? o->job : "job file", o->log_format);   /* the CLI was checked */
    if (st == MB_OK)
        mb_log_set_format(lf);
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
    mb_log_format lf;
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
    if (mb_log_format_parse(o.log_format, &lf, &err) != MB_OK) {
        mb_error("%s", err.msg);
        mb_opts_fini(&o);
        free(o.args);
        return mb_status_exit(MB_EUSAGE);
    }
    mb_log_set_format(lf);
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
    } else if (o.cmd == MB_CMD_RUN && o.explain) {
        st = mb_explain_run(&o, stdout, &err);     /* no MPI: before mb_dist_init */
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
    } else if (o.cmd == MB_CMD_STATUS) {
        st = cmd_status(&o, &err);
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
