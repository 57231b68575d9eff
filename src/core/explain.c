/* explain.c - run --sql --explain (explain.h): finds an input without
 * claiming it, types the query's columns and binds it as rank 0 of a run
 * does for a task, and prints the plan. A --group-by/--agg job is
 * explained as the SQL query it stands for (mb_plan_agg_query). It does not look at --out, the
 * ledger or checkpoints, and evaluates no record. */
#include "core/explain.h"

#include "base/fsutil.h"
#include "base/log.h"
#include "base/redact.h"
#include "cli/job.h"
#include "core/query.h"
#include "csv/partition.h"
#include "queue/queue.h"
#include "queue/task.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLAN_TEXT_MAX ((size_t)64 << 20)
#define FIRST_LINE_MAX 8192

/* The rank the launcher gave this process, 0 for a plain command. Read
 * from the environment because --explain never initialises MPI. */
static long long launcher_rank(void)
{
    const char *names[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};

    for (size_t i = 0; i < MB_ARRAY_LEN(names); i++) {
        const char *s = getenv(names[i]);
        char *end;
        long long v;
        if (!s || !*s)
            continue;
        v = strtoll(s, &end, 10);
        if (*end == '\0' && v >= 0)
            return v;
    }
    return 0;
}

/* The queue to look in: --queue, else MPIBATCH_QUEUE; NULL for none. */
static const char *queue_url(const mb_opts *o)
{
    const char *env = getenv("MPIBATCH_QUEUE");

    if (o->queue)
        return o->queue;
    return env && *env ? env : NULL;
}

/* The queue's first visible message, peeked: no lease is taken and the
 * dequeue count stays as it was. *found is 0 when the queue has none. */
static mb_status peek_first(const mb_opts *o, const char *url, mb_msg *m, int *found,
                            mb_err *err)
{
    mb_queue_config cfg;
    mb_queue *q = NULL;
    size_t n = 0;
    mb_status st = mb_cli_queue_config(o, &cfg, err);

    if (st == MB_OK)
        st = mb_queue_open(&q, url, 0, &cfg, err);
    if (st == MB_OK)
        st = mb_queue_peek(q, m, 1, &n, err);
    mb_queue_free(q);
    *found = st == MB_OK && n == 1;
    return st;
}

/* Types the columns of the file at path as a run types a task's (the
 * sniff of its head, then --columns) and binds the query to them. A query
 * that does not fit the file keeps its status, its message prefixed with
 * the path. */
static mb_status bind_file(const mb_opts *o, const mb_plan *p, const mb_query *jq,
                           const char *path, mb_qtask *t, mb_err *err)
{
    mb_grid g;
    struct stat sb;
    mb_sql_dtype *types = NULL;
    int fd = -1;
    mb_status st;

    memset(&g, 0, sizeof g);
    st = mb_fs_open_input(path, &fd, &sb, err);
    if (st == MB_OK)
        st = mb_grid_head(&g, path, fd, (uint64_t)sb.st_size, &p->dialect, p->header,
                          (size_t)o->max_record, err);
    if (st == MB_OK && !(types = mb_calloc(g.ncols ? g.ncols : 1, sizeof *types)))
        st = mb_err_set(err, MB_ENOMEM, "out of memory");
    if (st == MB_OK && !p->header && mb_query_noheader_names(g.names, g.ncols) != MB_OK)
        st = mb_err_set(err, MB_ENOMEM, "out of memory");
    if (st == MB_OK) {
        st = mb_query_types(jq, p, fd, path, &g, types, err);
        if (st == MB_OK)
            st = mb_query_bind(jq, g.names, types, g.ncols, t, err);
        if (st == MB_EUSAGE || st == MB_EJOB || st == MB_ENOENT)
            mb_err_prefix(err, "%s: ", path);
        if (st == MB_ENOENT && err)
            err->code = MB_EJOB;  /* --columns names a column the file lacks: a run's code */
        if (st == MB_ENOENT)
            st = MB_EJOB;
    }
    free(types);
    mb_grid_fini(&g);
    if (fd >= 0)
        close(fd);
    return st;
}

/* Binds the query to exactly the columns --columns lists, in its order. */
static mb_status bind_columns(const mb_query *jq, mb_qtask *t, mb_err *err)
{
    char **names = mb_calloc(jq->nover, sizeof *names);
    mb_sql_dtype *types = mb_calloc(jq->nover, sizeof *types);
    mb_status st = names && types ? MB_OK : mb_err_set(err, MB_ENOMEM, "out of memory");

    for (size_t i = 0; st == MB_OK && i < jq->nover; i++) {
        types[i] = jq->over[i].type;
        if (!(names[i] = mb_strdup(jq->over[i].name)))
            st = mb_err_set(err, MB_ENOMEM, "out of memory");
    }
    if (st == MB_OK)
        st = mb_query_bind(jq, names, types, jq->nover, t, err);
    for (size_t i = 0; names && i < jq->nover; i++)
        free(names[i]);
    free(names);
    free(types);
    return st;
}

/* Writes the first line, the input's typed columns and the plan. */
static mb_status print_plan(FILE *out, const char *first, const mb_qtask *t, mb_err *err)
{
    char *cols = mb_qtask_columns_text(t), *text = NULL;
    mb_status st = MB_ELIMIT;

    /* the plan's size is not known before it is written: grow until it fits */
    for (size_t cap = 65536; cols && st == MB_ELIMIT && cap <= PLAN_TEXT_MAX; cap *= 4) {
        free(text);
        if (!(text = mb_malloc(cap)))
            break;
        st = mb_sql_plan_explain(t->plan, t->cols, text, cap);
    }
    if (!cols || !text)
        st = mb_err_set(err, MB_ENOMEM, "out of memory");
    else if (st != MB_OK)
        st = mb_err_set(err, MB_ELIMIT, "--explain: the plan is longer than %zu bytes",
                        PLAN_TEXT_MAX);
    if (st == MB_OK && (fprintf(out, "%s\ninput columns: %s\n%s", first, cols, text) < 0 ||
                        fflush(out) != 0))
        st = mb_err_set(err, MB_EIO, "--explain: cannot write the plan");
    free(cols);
    free(text);
    return st;
}

/* Finds the input, binds and prints; jq is open. */
static mb_status explain(const mb_opts *o, const mb_plan *p, const mb_query *jq, FILE *out,
                         mb_err *err)
{
    const char *url = queue_url(o);
    char first[FIRST_LINE_MAX], where[1024];
    mb_msg m;
    mb_task task;
    mb_qtask t;
    int found = 0;
    mb_status st = MB_OK;

    memset(&m, 0, sizeof m);
    memset(&t, 0, sizeof t);
    memset(&task, 0, sizeof task);
    /* first, so that an error's position can be read against it */
    if (jq->agg && (fprintf(out, "query (the --group-by/--agg job as SQL): %s\n",
                            jq->agg_sql) < 0 || fflush(out) != 0))
        return mb_err_set(err, MB_EIO, "--explain: cannot write the plan");
    snprintf(where, sizeof where, "%s", url ? url : "");
    mb_redact(where);             /* a SAS token in the URL stays off the output */
    if (url && (st = peek_first(o, url, &m, &found, err)) != MB_OK)
        return st;
    if (found) {
        st = mb_task_parse(m.body, m.body_len, o->data_root, &task, err);
        if (st != MB_OK) {
            mb_err_prefix(err, "queue %s, message %s: ", where, m.id);
            mb_msg_fini(&m);
            return st;
        }
        st = bind_file(o, p, jq, task.input, &t, err);
        snprintf(first, sizeof first, "input: %s (task %s, message %s, the first visible "
                 "message of %s, peeked, not claimed); types sniffed from its head%s%s",
                 task.input, task.id, m.id, where,
                 jq->agg ? ", then --agg's (keys and counted columns VARCHAR, aggregated "
                           "columns BIGINT if sniffed BIGINT or BOOLEAN, else DOUBLE)" : "",
                 jq->nover ? ", then --columns" : "");
        mb_task_fini(&task);
        mb_msg_fini(&m);
    } else if (jq->agg) {
        return mb_err_set(err, MB_EUSAGE, "--explain: no input to type the columns of the "
                          "job's query from: %s%s%s; enqueue a file", url ? "the queue " :
                          "no --queue (or MPIBATCH_QUEUE) is given", where,
                          url ? " has no visible message" : "");
    } else if (jq->nover) {
        st = bind_columns(jq, &t, err);
        snprintf(first, sizeof first, "input: none (%s%s%s); the columns and their types are "
                 "exactly --columns", url ? "the queue " : "no queue: no --queue, no "
                 "MPIBATCH_QUEUE", where, url ? " has no visible message" : "");
    } else {
        return mb_err_set(err, MB_EUSAGE, "--explain: no input to type the query's columns "
                          "from: %s%s%s; enqueue a file, or give the columns and their types "
                          "with --columns", url ? "the queue " : "no --queue (or "
                          "MPIBATCH_QUEUE) is given", where,
                          url ? " has no visible message" : "");
    }
    if (st == MB_OK)
        st = print_plan(out, first, &t, err);
    mb_qtask_fini(&t);
    return st;
}

mb_status mb_explain_run(mb_opts *o, FILE *out, mb_err *err)
{
    mb_plan p;
    mb_query jq;
    mb_log_format lf;
    mb_status st;

    if (launcher_rank() != 0)
        return MB_OK;             /* rank 0 speaks for all */
    if (o->nargs)
        return mb_err_set(err, MB_EUSAGE, "run: unexpected argument '%s'", o->args[0]);
    if ((st = mb_job_load(o, err)) != MB_OK)
        return st;
    if (mb_log_format_parse(o->log_format, &lf, err) != MB_OK)  /* the CLI was checked */
        return mb_err_set(err, MB_EJOB, "%s: [run] log_format: '%s' is not text or json",
                          o->job ? o->job : "job file", o->log_format);
    mb_log_set_format(lf);
    memset(&p, 0, sizeof p);
    if ((st = mb_plan_build(&p, o, err)) != MB_OK) {
        mb_plan_fini(&p);
        return st;
    }
    st = mb_query_open(&jq, &p, err);
    if (st == MB_OK)
        st = explain(o, &p, &jq, out, err);
    mb_query_fini(&jq);
    mb_plan_fini(&p);
    return st;
}
