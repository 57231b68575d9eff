/* cli.c - option table, parser and generated --help. Knows the names,
 * types and limits of options; does not know what any option does. */
#include "cli/cli.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum opt_type {
    T_STR,       /* char *            */
    T_ENUM,      /* char *, one of op->values (stored as the table spells it) */
    T_U64,       /* uint64_t, decimal */
    T_SIZE,      /* uint64_t, with K/M/G suffix (binary) */
    T_SECONDS,   /* double >= 0, fractions allowed */
    T_FLAG,      /* int set to 1 */
    T_NOFLAG,    /* int set to 0 by the flag; a job file gives true/false */
    T_DELIM      /* char: , ; | tab (or a name: comma, semicolon, tab, pipe) */
} opt_type;

typedef struct opt {
    const char *name;
    char shortc;
    const char *metavar;
    opt_type type;
    size_t off;
    unsigned cmds;
    const char *job_key;     /* key in job files ("section.key"), or NULL */
    uint64_t min, max;       /* for T_U64 / T_SIZE / T_SECONDS */
    const char *help;
    const char *const *values;   /* T_ENUM: the allowed values, NULL-terminated */
} opt;

#define C(x) (1u << (x))
#define ALL (C(MB_CMD_NONE) | C(MB_CMD_ENQUEUE) | C(MB_CMD_RUN) | C(MB_CMD_RESULTS) | \
             C(MB_CMD_QUEUE) | C(MB_CMD_INSPECT) | C(MB_CMD_STATUS))
#define F(field) offsetof(mb_opts, field)
#define KIB 1024ull
#define MIB (1024ull * 1024ull)
#define GIB (1024ull * 1024ull * 1024ull)

/* Value sets of the T_ENUM options; the first is the default. What each
 * value means is the business of the code that reads the option (the
 * queue, the log, the printers), not of this file. */
static const char *const v_encoding[] = {"base64", "text", NULL};
static const char *const v_text_json[] = {"text", "json", NULL};
static const char *const v_csv_json[] = {"csv", "json", NULL};

static const opt options[] = {
    {"queue", 0, "URL", T_STR, F(queue), C(MB_CMD_ENQUEUE) | C(MB_CMD_RUN) | C(MB_CMD_QUEUE),
     NULL, 0, 0,
     "queue: dir:PATH or an absolute PATH (directory queue on shared storage); "
     "default $MPIBATCH_QUEUE", NULL},
    {"id", 0, "ID", T_STR, F(id), C(MB_CMD_ENQUEUE) | C(MB_CMD_QUEUE), NULL, 0, 0,
     "enqueue: task id of the message (one FILE only; default: a digest of the message "
     "body); queue redrive: the message to move back (default: all)", NULL},
    {"out", 0, "DIR", T_STR, F(out), C(MB_CMD_RUN), NULL, 0, 0,
     "result directory on shared storage (created if missing)", NULL},
    {"job", 0, "FILE", T_STR, F(job), C(MB_CMD_RUN), NULL, 0, 0,
     "job file (INI); options given on the command line win", NULL},
    {"name", 0, "NAME", T_STR, F(name), C(MB_CMD_RUN), "job.name", 0, 0,
     "job name shown in logs", NULL},
    {"group-by", 0, "COLS", T_STR, F(group_by), C(MB_CMD_RUN), "job.group_by", 0, 0,
     "comma-separated group columns (header names, or 1-based numbers with --no-header)", NULL},
    {"agg", 0, "LIST", T_STR, F(agg), C(MB_CMD_RUN), "job.aggregates", 0, 0,
     "aggregates: count(*), count(c), sum(c), mean(c)/avg(c), min(c), max(c), var(c), "
     "stddev(c); the job runs as the SQL query --explain prints", NULL},
    {"sql", 0, "QUERY", T_STR, F(sql), C(MB_CMD_RUN), "job.query", 0, 0,
     "the query of every task: SELECT ... FROM input [WHERE ...] [GROUP BY ...] [HAVING ...] "
     "[ORDER BY ...] [LIMIT n]; input is the task's CSV file (docs/sql.md); instead of "
     "--group-by/--agg", NULL},
    {"columns", 0, "LIST", T_STR, F(columns), C(MB_CMD_RUN), "job.columns", 0, 0,
     "column types instead of the sniffed ones (for --sql, and for --agg after its rule), "
     "e.g. \"when TIMESTAMP, delay BIGINT\" "
     "(job file: a [columns] section of name = TYPE lines)", NULL},
    {"explain", 0, NULL, T_FLAG, F(explain), C(MB_CMD_RUN), NULL, 0, 0,
     "print the plan (columns read, filter, keys, states, what follows the reduction) "
     "for the first queued input, or for --columns alone, and exit without running; "
     "--group-by/--agg as the SQL query they stand for", NULL},
    {"delimiter", 0, "CHAR", T_DELIM, F(delimiter), C(MB_CMD_RUN), "csv.delimiter", 0, 0,
     "field delimiter: , ; | or tab (default ,)", NULL},
    {"no-header", 0, NULL, T_NOFLAG, F(header), C(MB_CMD_RUN), "csv.header", 0, 0,
     "the files have no header row; columns are named 1..N", NULL},
    {"chunk-size", 0, "BYTES", T_SIZE, F(chunk_size), C(MB_CMD_RUN), "run.chunk_size", 1,
     GIB, "partition size, suffixes K M G (default 4M)", NULL},
    {"max-record", 0, "BYTES", T_SIZE, F(max_record), C(MB_CMD_RUN), "run.max_record", 16,
     GIB, "longest record accepted (default 16M)", NULL},
    {"max-bad-rows", 0, "N", T_U64, F(max_bad_rows), C(MB_CMD_RUN), "job.max_bad_rows", 0,
     UINT64_C(1000000000), "skip up to N records per task that do not parse or whose values do "
     "not fit their type, listing them in OUT/TASK.rejects.csv; more than N fail the task "
     "(default 0: the first one does)", NULL},
    {"max-groups-mb", 0, "MB", T_U64, F(max_groups_mb), C(MB_CMD_RUN), "run.max_groups_mb", 1,
     1u << 20, "memory cap of one rank's group table, in MiB (default 4096)", NULL},
    {"checkpoint-dir", 0, "DIR", T_STR, F(checkpoint_dir), C(MB_CMD_RUN), "run.checkpoint_dir", 0,
     0, "checkpoint the in-flight task here (shared storage); a rerun resumes from it", NULL},
    {"checkpoint-interval", 0, "SECONDS", T_SECONDS, F(checkpoint_interval), C(MB_CMD_RUN),
     "run.checkpoint_interval", 0, 31536000,
     "time between checkpoints, fractions allowed (default 60)", NULL},
    {"fresh", 0, NULL, T_FLAG, F(fresh), C(MB_CMD_RUN), NULL, 0, 0,
     "discard checkpoints in --checkpoint-dir instead of resuming from them", NULL},
    {"idle-exit", 0, "SECONDS", T_SECONDS, F(idle_exit), C(MB_CMD_RUN), "run.idle_exit", 0,
     31536000, "exit after the queue has been empty this long; 0 = at once (default 0)", NULL},
    {"visibility-timeout", 0, "SECONDS", T_U64, F(visibility_timeout), C(MB_CMD_RUN),
     "run.visibility_timeout", 1, 604800,
     "lease on a claimed message, renewed while the task runs (default 300)", NULL},
    {"max-dequeue", 0, "N", T_U64, F(max_dequeue), C(MB_CMD_RUN), "run.max_dequeue", 0, 1000,
     "failed deliveries before a message goes to the poison area (default 5; 0 = never); a "
     "delivery that made progress (a newer checkpoint, a renewed lease) or stopped on "
     "request is not a failure, and 10 x N deliveries of any kind are the ceiling", NULL},
    {"data-root", 0, "DIR", T_STR, F(data_root), C(MB_CMD_RUN), "run.data_root", 0, 0,
     "directory that relative input paths in messages are resolved against", NULL},
    {"message-encoding", 0, "ENC", T_ENUM, F(encoding),
     C(MB_CMD_ENQUEUE) | C(MB_CMD_RUN) | C(MB_CMD_QUEUE), "queue.message_encoding", 0, 0,
     "Azure queues: send message bodies as base64 (default, the Azure Functions and SDK "
     "convention) or text; both are accepted on receive", v_encoding},
    {"ca-file", 0, "FILE", T_STR, F(ca_file), C(MB_CMD_ENQUEUE) | C(MB_CMD_RUN) | C(MB_CMD_QUEUE),
     "queue.ca_file", 0, 0, "extra CA certificates (PEM) for a private TLS endpoint", NULL},
    {"retry-deadline", 0, "SECONDS", T_SECONDS, F(retry_deadline),
     C(MB_CMD_ENQUEUE) | C(MB_CMD_RUN) | C(MB_CMD_QUEUE), "queue.retry_deadline", 0, 86400,
     "how long a failing queue request is retried before giving up with exit 69 (default 120)",
     NULL},
    {"merge", 0, NULL, T_FLAG, F(merge), C(MB_CMD_RESULTS), NULL, 0, 0,
     "print the exact total over all committed tasks instead of each task", NULL},
    {"poison", 0, NULL, T_FLAG, F(poison), C(MB_CMD_QUEUE), NULL, 0, 0,
     "peek, purge: the poison area instead of the queue", NULL},
    /* one name, two value sets: the entry that applies to the command is
     * the one parsed (find_long) */
    {"format", 0, "FMT", T_ENUM, F(format), C(MB_CMD_RESULTS), NULL, 0, 0,
     "output format: csv (default) or json", v_csv_json},
    {"format", 0, "FMT", T_ENUM, F(format), C(MB_CMD_QUEUE) | C(MB_CMD_STATUS), NULL, 0, 0,
     "output format of queue stats and peek, and of status: text (default) or json",
     v_text_json},
    {"log-format", 0, "FMT", T_ENUM, F(log_format), ALL, "run.log_format", 0, 0,
     "log lines on stderr: text (default: TIME HOST mpibatch[RANK]: LEVEL: MESSAGE) or json "
     "(one object per line: time, host, rank, level, msg)", v_text_json},
    {"verbose", 'v', NULL, T_FLAG, F(verbose), ALL, NULL, 0, 0, "more messages (debug)", NULL},
    {"quiet", 'q', NULL, T_FLAG, F(quiet), ALL, NULL, 0, 0, "errors and warnings only", NULL},
    {"help", 'h', NULL, T_FLAG, F(help), ALL, NULL, 0, 0, "show this help", NULL},
    {"version", 'V', NULL, T_FLAG, F(version), C(MB_CMD_NONE), NULL, 0, 0,
     "show the version", NULL},
};

_Static_assert(MB_ARRAY_LEN(options) <= MB_OPT_MAX, "mb_opts.set has MB_OPT_MAX entries");

static const struct {
    mb_cmd cmd;
    const char *name, *synopsis, *what;
} commands[] = {
    {MB_CMD_ENQUEUE, "enqueue", "--queue URL [--id ID] FILE...",
     "Put one message per CSV file on the queue. The message body is the file's\n"
     "absolute path (JSON with --id), so enqueuing a file twice gives the same task."},
    {MB_CMD_RUN, "run", "--queue URL --out DIR (--job FILE | --sql QUERY | --group-by COLS --agg LIST)",
     "Drain the queue under mpirun: rank 0 claims a work item, every rank aggregates\n"
     "its chunks of the file, the states are reduced and the result is committed\n"
     "(OUT/TASK.csv, OUT/TASK.h5, ledger) before the message is deleted.\n"
     "Exit: 0 done, 64 usage, 65 bad data or job file (other tasks still ran),\n"
     "69 queue unreachable, 70 internal error, 74 I/O error, 75 stopped: requeue."},
    {MB_CMD_RESULTS, "results", "DIR [--merge] [--format csv|json]",
     "Print the committed per-task results in DIR, or with --merge their exact total."},
    {MB_CMD_INSPECT, "inspect", "CHECKPOINT",
     "Validate a checkpoint file and print what it holds: job fingerprint, task,\n"
     "input, chunks done of the total, sequence number, parts, validity."},
    {MB_CMD_QUEUE, "queue",
     "stats|peek|purge|redrive --queue URL [--poison] [--id ID] [--format text|json]",
     "stats: approximate message counts (visible, leased, poison) and the leases\n"
     "with their expiry where the back end can tell; peek: show the next visible\n"
     "messages without claiming them (ID, dequeue count, body; with --poison the\n"
     "poisoned ones: ID, dequeue count, reason, body); purge: delete every message\n"
     "(not the poison area; with --poison only the poison area); redrive: move\n"
     "poisoned messages (all, or --id) back into the queue as first deliveries,\n"
     "e.g. after fixing a job or a file."},
    {MB_CMD_STATUS, "status", "DIR [--format text|json]",
     "Show the jobs that wrote status files into DIR (a --checkpoint-dir, or an\n"
     "--out dir whose jobs had none: OUT/.status/): state, task, chunks, MB, rates,\n"
     "ETA, tasks done and rejected. A running or idle job whose file was not\n"
     "updated for 60 s is marked stale (killed, or hung)."},
};

void mb_opts_init(mb_opts *o)
{
    memset(o, 0, sizeof *o);
    o->idle_exit = 0;
    o->checkpoint_interval = 60;
    o->retry_deadline = 120;
    o->visibility_timeout = 300;
    o->max_dequeue = 5;
    o->chunk_size = 4 * MIB;
    o->max_record = 16 * MIB;
    o->max_groups_mb = 4096;
    o->delimiter = ',';
    o->header = 1;
}

void mb_opts_fini(mb_opts *o)
{
    char **strs[] = {&o->queue, &o->out, &o->job, &o->name, &o->group_by, &o->agg,
                     &o->checkpoint_dir, &o->data_root, &o->id, &o->format,
                     &o->encoding, &o->ca_file, &o->log_format, &o->sql, &o->columns};
    size_t i;

    if (!o)
        return;
    for (i = 0; i < MB_ARRAY_LEN(strs); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

const char *mb_cli_cmd_name(mb_cmd cmd)
{
    size_t i;
    for (i = 0; i < MB_ARRAY_LEN(commands); i++)
        if (commands[i].cmd == cmd)
            return commands[i].name;
    return "mpibatch";
}

static int parse_u64(const char *s, uint64_t *out, int suffixes)
{
    char *end;
    unsigned long long v;
    uint64_t mult = 1;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    if (suffixes && *end) {
        switch (*end) {
        case 'k': case 'K': mult = KIB; break;
        case 'm': case 'M': mult = MIB; break;
        case 'g': case 'G': mult = GIB; break;
        default: return -1;
        }
        end++;
        if (*end == 'i' || *end == 'B')
            end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    }
    if (*end != '\0' || (v != 0 && mult > UINT64_MAX / v))
        return -1;
    *out = (uint64_t)v * mult;
    return 0;
}

static int parse_seconds(const char *s, double *out)
{
    char *end;
    double v;

    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int parse_delim(const char *s, char *out)
{
    static const struct { const char *name; char c; } names[] = {
        {",", ','}, {";", ';'}, {"|", '|'}, {"\t", '\t'}, {"\\t", '\t'}, {"tab", '\t'},
        {"comma", ','}, {"semicolon", ';'}, {"pipe", '|'}, {"\",\"", ','},
        {"\";\"", ';'}, {"\"|\"", '|'}, {"\"\\t\"", '\t'}};
    size_t i;

    for (i = 0; i < MB_ARRAY_LEN(names); i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].c;
            return 0;
        }
    return -1;
}

static int parse_bool(const char *s, int *out)
{
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1") ||
        !strcasecmp(s, "on")) {
        *out = 1;
        return 0;
    }
    if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0") ||
        !strcasecmp(s, "off")) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* The allowed values of a T_ENUM option as "a, b, c" (for messages). */
static const char *values_text(const opt *op, char *buf, size_t cap)
{
    size_t used = 0, k;

    assert(op->type == T_ENUM && op->values && cap > 0);
    buf[0] = '\0';
    for (k = 0; op->values[k] && used < cap; k++) {
        int w = snprintf(buf + used, cap - used, "%s%s", k ? ", " : "", op->values[k]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

/* Replaces the string field of `op` with a copy of `val`. */
static mb_status store_str(mb_opts *o, const opt *op, const char *val, mb_err *err)
{
    char **dst = (char **)(void *)((char *)o + op->off);
    char *copy = mb_strdup(val);

    if (!copy)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    free(*dst);
    *dst = copy;
    return MB_OK;
}

/* A T_ENUM value is matched without regard to case and stored as the table
 * spells it, so that readers of the field compare with strcmp. */
static mb_status store_enum(mb_opts *o, const opt *op, const char *val, int from_job,
                            mb_err *err)
{
    char list[256];
    size_t k;

    for (k = 0; op->values[k]; k++)
        if (strcasecmp(val, op->values[k]) == 0)
            return store_str(o, op, op->values[k], err);
    return mb_err_set(err, from_job ? MB_EJOB : MB_EUSAGE, "%s%s: '%s' is not one of %s",
                      from_job ? "" : "--", op->name, val, values_text(op, list, sizeof list));
}

/* Stores `val` into the field of option `op`. from_job selects the job-file
 * reading of T_NOFLAG (a boolean value rather than a bare flag). */
static mb_status store(mb_opts *o, const opt *op, const char *val, int from_job, mb_err *err)
{
    char *base = (char *)o;
    uint64_t u;
    double d;
    int b;

    switch (op->type) {
    case T_STR:
        return store_str(o, op, val, err);
    case T_ENUM:
        return store_enum(o, op, val, from_job, err);
    case T_U64:
    case T_SIZE:
        if (parse_u64(val, &u, op->type == T_SIZE) != 0 || u < op->min || u > op->max)
            return mb_err_set(err, from_job ? MB_EJOB : MB_EUSAGE,
                              "%s: '%s' is not a whole number from %llu to %llu%s", op->name,
                              val, (unsigned long long)op->min, (unsigned long long)op->max,
                              op->type == T_SIZE ? " (suffixes K, M, G allowed)" : "");
        *(uint64_t *)(void *)(base + op->off) = u;
        return MB_OK;
    case T_SECONDS:
        if (parse_seconds(val, &d) != 0 || d > (double)op->max)
            return mb_err_set(err, from_job ? MB_EJOB : MB_EUSAGE,
                              "%s: '%s' is not a number of seconds from 0 to %llu", op->name,
                              val, (unsigned long long)op->max);
        *(double *)(void *)(base + op->off) = d;
        return MB_OK;
    case T_DELIM:
        if (parse_delim(val, (char *)(base + op->off)) != 0)
            return mb_err_set(err, from_job ? MB_EJOB : MB_EUSAGE,
                              "%s: '%s' is not one of , ; | tab%s", op->name, val,
                              *val ? "" : " (in a job file a bare ';' starts a comment: "
                                          "write semicolon)");
        return MB_OK;
    case T_FLAG:
        *(int *)(void *)(base + op->off) = 1;
        return MB_OK;
    case T_NOFLAG:
        if (!from_job) {
            *(int *)(void *)(base + op->off) = 0;
            return MB_OK;
        }
        if (parse_bool(val, &b) != 0)
            return mb_err_set(err, MB_EJOB, "%s: '%s' is not true or false", op->job_key, val);
        *(int *)(void *)(base + op->off) = b;
        return MB_OK;
    }
    return mb_err_set(err, MB_EINTERNAL, "option type");
}

/* The option named `name` (len bytes); of several with that name, the one
 * that applies to `cmd`, else the first (which parse_one then refuses). */
static const opt *find_long(const char *name, size_t len, mb_cmd cmd)
{
    const opt *first = NULL;
    size_t i;

    for (i = 0; i < MB_ARRAY_LEN(options); i++) {
        if (strlen(options[i].name) != len || memcmp(options[i].name, name, len) != 0)
            continue;
        if (options[i].cmds & C(cmd))
            return &options[i];
        if (!first)
            first = &options[i];
    }
    return first;
}

int mb_cli_given(const mb_opts *o, const char *name)
{
    const opt *op = find_long(name, strlen(name), o->cmd);
    return op && o->set[op - options];
}

static const opt *find_short(char c)
{
    size_t i;
    for (i = 0; i < MB_ARRAY_LEN(options); i++)
        if (options[i].shortc == c)
            return &options[i];
    return NULL;
}

static mb_cmd find_cmd(const char *name)
{
    size_t i;
    for (i = 0; i < MB_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].cmd;
    return MB_CMD_NONE;
}

static int takes_value(const opt *op)
{
    return op->type != T_FLAG && op->type != T_NOFLAG;
}

/* Handles argv[*i], an option; advances *i past its value. */
static mb_status parse_one(mb_opts *o, int argc, char **argv, int *i, mb_err *err)
{
    const char *a = argv[*i], *val = NULL;
    const opt *op;

    if (a[1] == '-') {
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        op = find_long(a + 2, len, o->cmd);
        if (eq)
            val = eq + 1;
    } else {
        op = a[2] == '\0' ? find_short(a[1]) : NULL;
    }
    if (!op)
        return mb_err_set(err, MB_EUSAGE, "unknown option '%s'", a);
    if (!(op->cmds & C(o->cmd)))
        return mb_err_set(err, MB_EUSAGE, "option --%s does not apply to '%s'", op->name,
                          mb_cli_cmd_name(o->cmd));
    if (takes_value(op) && !val) {
        if (*i + 1 >= argc)
            return mb_err_set(err, MB_EUSAGE, "option --%s needs a value (%s)", op->name,
                              op->metavar);
        val = argv[++*i];
    } else if (!takes_value(op) && val) {
        return mb_err_set(err, MB_EUSAGE, "option --%s takes no value", op->name);
    }
    o->set[op - options] = 1;
    return store(o, op, val ? val : "", 0, err);
}

mb_status mb_cli_parse(mb_opts *o, int argc, char **argv, mb_err *err)
{
    int i, dashdash = 0;
    mb_status st;

    o->args = mb_calloc((size_t)argc + 1, sizeof *o->args);
    if (!o->args)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = 1;
        } else if (!dashdash && a[0] == '-' && a[1] != '\0') {
            if ((st = parse_one(o, argc, argv, &i, err)) != MB_OK)
                return st;
        } else if (o->cmd == MB_CMD_NONE) {
            o->cmd = find_cmd(a);
            if (o->cmd == MB_CMD_NONE)
                return mb_err_set(err, MB_EUSAGE, "unknown command '%s' (try --help)", a);
        } else {
            o->args[o->nargs++] = argv[i];
        }
    }
    return MB_OK;
}

mb_status mb_cli_set(mb_opts *o, const char *key, const char *value, mb_err *err)
{
    size_t i;

    for (i = 0; i < MB_ARRAY_LEN(options); i++) {
        const opt *op = &options[i];
        if (!op->job_key || strcmp(op->job_key, key) != 0)
            continue;
        if (o->set[i])
            return MB_OK;    /* the command line wins */
        return store(o, op, value, 1, err);
    }
    return mb_err_set(err, MB_ENOENT, "unknown key '%s'", key);
}

static void print_wrapped(const char *text, int indent)
{
    const char *p = text;
    int col = indent;

    while (*p) {
        size_t w = strcspn(p, " ");
        if (col > indent && col + 1 + (int)w > 78) {
            printf("\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            putchar(' ');
            col++;
        }
        printf("%.*s", (int)w, p);
        col += (int)w;
        p += w;
        while (*p == ' ')
            p++;
    }
    putchar('\n');
}

void mb_cli_help(mb_cmd cmd)
{
    size_t i;

    if (cmd == MB_CMD_NONE) {
        printf("mpibatch %s - MPI batch processor for CSV work items in a queue\n\n"
               "Usage: mpibatch COMMAND [OPTIONS]\n\nCommands:\n", MB_VERSION);
        for (i = 0; i < MB_ARRAY_LEN(commands); i++)
            printf("  %-8s %s\n", commands[i].name, commands[i].synopsis);
        printf("\nRun 'mpibatch COMMAND --help' for a command's options.\n"
               "'run' is meant to start under mpirun (or srun); the others are plain\n"
               "commands. Exit codes follow sysexits(3).\n");
        return;
    }
    for (i = 0; i < MB_ARRAY_LEN(commands); i++)
        if (commands[i].cmd == cmd)
            printf("Usage: mpibatch %s %s\n\n%s\n\nOptions:\n", commands[i].name,
                   commands[i].synopsis, commands[i].what);
    for (i = 0; i < MB_ARRAY_LEN(options); i++) {
        const opt *op = &options[i];
        char head[64];
        if (!(op->cmds & C(cmd)))
            continue;
        if (op->shortc)
            snprintf(head, sizeof head, "-%c, --%s%s%s", op->shortc, op->name,
                     op->metavar ? " " : "", op->metavar ? op->metavar : "");
        else
            snprintf(head, sizeof head, "    --%s%s%s", op->name, op->metavar ? " " : "",
                     op->metavar ? op->metavar : "");
        printf("  %-30s ", head);
        print_wrapped(op->help, 33);
        if (op->type == T_ENUM) {
            char list[256];
            printf("%33s(values: %s)\n", "", values_text(op, list, sizeof list));
        }
        if (op->job_key)
            printf("%33s(job file: [%.*s] %s)\n", "", (int)strcspn(op->job_key, "."),
                   op->job_key, strchr(op->job_key, '.') + 1);
    }
}

/* ---- generated documentation: the man page and the bash completion ---- */

/* Writes s as roff text: backslashes and hyphens escaped, a line that would
 * start with a control character ('.' or '\'') protected with \&. */
static void roff_text(FILE *f, const char *s)
{
    int bol = 1;

    for (; *s; s++) {
        if (bol && (*s == '.' || *s == '\''))
            fputs("\\&", f);
        bol = *s == '\n';
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
    }
}

/* One option as a .TP paragraph: "-v, --verbose" or "--queue URL", its
 * help, and its job-file key when it has one. */
static void man_option(FILE *f, const opt *op)
{
    size_t k;

    fputs(".TP\n", f);
    if (op->shortc)
        fprintf(f, "\\fB\\-%c\\fR, ", op->shortc);
    fputs("\\fB\\-\\-", f);
    roff_text(f, op->name);
    fputs("\\fR", f);
    if (op->metavar) {
        fputs(" \\fI", f);
        roff_text(f, op->metavar);
        fputs("\\fR", f);
    }
    fputc('\n', f);
    roff_text(f, op->help);
    fputc('\n', f);
    for (k = 0; op->type == T_ENUM && op->values[k]; k++) {
        fputs(k ? ", \\fB" : ".br\nValues: \\fB", f);
        roff_text(f, op->values[k]);
        fputs("\\fR", f);
    }
    if (op->type == T_ENUM)
        fputc('\n', f);
    if (op->job_key) {
        fprintf(f, ".br\nJob file: [%.*s] ", (int)strcspn(op->job_key, "."), op->job_key);
        roff_text(f, strchr(op->job_key, '.') + 1);
        fputc('\n', f);
    }
}

static void gen_man(FILE *f)
{
    static const struct { const char *code, *what; } exits[] = {
        {"0", "success; for run: the queue was drained (see --idle-exit)"},
        {"64", "usage error: a bad command line"},
        {"65", "bad input data, job file or message, or a configured cap was hit; for "
               "run, the other tasks still ran"},
        {"66", "a named thing does not exist (a file, a message, a checkpoint)"},
        {"69", "the queue or storage could not be reached within --retry-deadline"},
        {"70", "internal error or out of memory"},
        {"74", "I/O error"},
        {"75", "stopped on request (signal, Spot eviction): the work item is requeued and "
               "a later run resumes from its checkpoint"},
    };
    static const struct { const char *name, *what; } envs[] = {
        {"MPIBATCH_QUEUE", "the queue when --queue is not given"},
        {"AZURE_STORAGE_CONNECTION_STRING", "Azure Storage credentials and endpoints, "
         "including UseDevelopmentStorage=true (Azurite); tried first"},
        {"AZURE_STORAGE_ACCOUNT", "the storage account, with AZURE_STORAGE_KEY or "
         "AZURE_STORAGE_SAS_TOKEN"},
        {"AZURE_STORAGE_KEY", "the account key (SharedKey signing); tried second"},
        {"AZURE_STORAGE_SAS_TOKEN", "a shared access signature; tried third"},
        {"AZURE_CLIENT_ID", "the client id of a user-assigned managed identity; without "
         "any of the above the VM's managed identity is used through the instance "
         "metadata service"},
    };
    size_t i, k;

    fprintf(f, ".\\\" mpibatch.1 - generated by `mpibatch --help-man` from the option "
               "table of src/cli/cli.c; do not edit.\n"
               ".TH MPIBATCH 1 \"\" \"mpibatch %s\" \"User Commands\"\n"
               ".nh\n"  /* option names are not hyphenated */
               ".SH NAME\nmpibatch \\- MPI batch processor for CSV work items in a queue\n"
               ".SH SYNOPSIS\n.nf\n\\fBmpibatch\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n",
            MB_VERSION);
    for (i = 0; i < MB_ARRAY_LEN(commands); i++) {
        fprintf(f, "\\fBmpibatch %s\\fR ", commands[i].name);
        roff_text(f, commands[i].synopsis);
        fputc('\n', f);
    }
    fputs(".fi\n.SH DESCRIPTION\n"
          "\\fBmpibatch\\fR drains a queue of work items, each one CSV file, and "
          "aggregates every file with a SQL query (or by group columns: count, sum, "
          "mean, min, max, variance, standard deviation) with exact arithmetic, so that "
          "results do "
          "not depend on how the work was split across MPI ranks. Results are "
          "committed to a directory on shared storage before a message is deleted; "
          "checkpoints let a stopped run resume.\n.PP\n"
          "\\fBrun\\fR is meant to start under \\fBmpirun\\fR(1) or \\fBsrun\\fR(1) "
          "(\\fBmpibatch\\-mpirun\\fR picks the fabric and turns SIGTERM into a "
          "graceful stop); the other commands are plain commands. Options given on "
          "the command line win over the job file.\n", f);
    for (i = 0; i < MB_ARRAY_LEN(commands); i++) {
        fprintf(f, ".SH \"COMMAND: %s\"\n.nf\n\\fBmpibatch %s\\fR ", commands[i].name,
                commands[i].name);
        roff_text(f, commands[i].synopsis);
        fputs("\n.fi\n.PP\n", f);
        roff_text(f, commands[i].what);
        fputc('\n', f);
        for (k = 0; k < MB_ARRAY_LEN(options); k++)
            if ((options[k].cmds & C(commands[i].cmd)) && options[k].cmds != ALL)
                man_option(f, &options[k]);
    }
    fputs(".SH \"COMMON OPTIONS\"\nEvery command takes these; \\-\\-version only without "
          "a command.\n", f);
    for (k = 0; k < MB_ARRAY_LEN(options); k++)
        if (options[k].cmds == ALL || options[k].cmds == C(MB_CMD_NONE))
            man_option(f, &options[k]);
    fputs(".SH \"EXIT STATUS\"\nThe codes of \\fBsysexits\\fR(3):\n", f);
    for (i = 0; i < MB_ARRAY_LEN(exits); i++) {
        fprintf(f, ".TP\n.B %s\n", exits[i].code);
        roff_text(f, exits[i].what);
        fputc('\n', f);
    }
    fputs(".SH ENVIRONMENT\n", f);
    for (i = 0; i < MB_ARRAY_LEN(envs); i++) {
        fprintf(f, ".TP\n.B %s\n", envs[i].name);
        roff_text(f, envs[i].what);
        fputc('\n', f);
    }
    fputs(".SH \"SEE ALSO\"\n\\fBmpirun\\fR(1), \\fBmpibatch\\-mpirun\\fR, "
          "\\fBhostfile\\-from\\-slurm\\fR, \\fBhostfile\\-from\\-vmss\\fR, "
          "\\fBsysexits\\fR(3)\n", f);
}

/* Writes the shell command that completes a value of `op`: compgen over
 * files, directories or its values, or no completion at all. */
static void completion_value(FILE *f, const opt *op)
{
    size_t k;

    if (op->type == T_ENUM) {
        fputs("mapfile -t COMPREPLY < <(compgen -W '", f);
        for (k = 0; op->values[k]; k++)
            fprintf(f, "%s%s", k ? " " : "", op->values[k]);
        fputs("' -- \"$cur\")", f);
    } else if (strcmp(op->metavar, "FILE") == 0 || strcmp(op->metavar, "CHECKPOINT") == 0) {
        fputs("mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")", f);
    } else if (strcmp(op->metavar, "DIR") == 0) {
        fputs("mapfile -t COMPREPLY < <(compgen -d -- \"$cur\")", f);
    } else if (op->type == T_DELIM) {
        fputs("mapfile -t COMPREPLY < <(compgen -W 'comma semicolon pipe tab' -- \"$cur\")", f);
    } else {
        fputs("COMPREPLY=()", f);
    }
}

/* Is options[k] the first entry with its name? */
static int first_of_name(size_t k)
{
    size_t j;

    for (j = 0; j < k; j++)
        if (strcmp(options[j].name, options[k].name) == 0)
            return 0;
    return 1;
}

/* The case arm for the value of option `options[k]`, the first of its
 * name: when several entries share the name (--format), which one applies
 * depends on the command, so the arm switches on $cmd. */
static void completion_arm(FILE *f, size_t k)
{
    const opt *op = &options[k];
    size_t j, i, same = 0;

    for (j = k; j < MB_ARRAY_LEN(options); j++)
        same += strcmp(options[j].name, op->name) == 0;
    fprintf(f, "    --%s) ", op->name);
    if (same == 1) {
        completion_value(f, op);
        fputs("; return ;;\n", f);
        return;
    }
    fputs("case $cmd in\n", f);
    for (j = k; j < MB_ARRAY_LEN(options); j++) {
        const char *sep = "";
        if (strcmp(options[j].name, op->name) != 0)
            continue;
        fputs("        ", f);
        for (i = 0; i < MB_ARRAY_LEN(commands); i++)
            if (options[j].cmds & C(commands[i].cmd)) {
                fprintf(f, "%s%s", sep, commands[i].name);
                sep = "|";
            }
        fputs(") ", f);
        completion_value(f, &options[j]);
        fputs(" ;;\n", f);
    }
    fputs("        *) COMPREPLY=() ;;\n        esac; return ;;\n", f);
}

/* The options of `cmd` as one space-separated list, long then short. */
static void completion_opts(FILE *f, mb_cmd cmd)
{
    const char *sep = "";
    size_t k;

    for (k = 0; k < MB_ARRAY_LEN(options); k++) {
        if (!(options[k].cmds & C(cmd)))
            continue;
        fprintf(f, "%s--%s", sep, options[k].name);
        if (options[k].shortc)
            fprintf(f, " -%c", options[k].shortc);
        sep = " ";
    }
}

static void gen_completion(FILE *f)
{
    size_t i, k;

    fputs("# bash completion for mpibatch - generated by `mpibatch --help-completion` "
          "from the\n# option table of src/cli/cli.c; do not edit.\n"
          "_mpibatch()\n{\n"
          "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
          "    local cmd='' opts i\n"
          "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
          "        case ${COMP_WORDS[i]} in\n        ", f);
    for (i = 0; i < MB_ARRAY_LEN(commands); i++)
        fprintf(f, "%s%s", i ? "|" : "", commands[i].name);
    fputs(") cmd=${COMP_WORDS[i]}; break ;;\n        esac\n    done\n"
          "    case $prev in\n", f);
    /* an option that takes a value: complete the value, or nothing */
    for (k = 0; k < MB_ARRAY_LEN(options); k++)
        if (takes_value(&options[k]) && first_of_name(k))
            completion_arm(f, k);
    fputs("    esac\n    case $cmd in\n    '') opts='", f);
    completion_opts(f, MB_CMD_NONE);
    fputs("' ;;\n", f);
    for (i = 0; i < MB_ARRAY_LEN(commands); i++) {
        fprintf(f, "    %s) opts='", commands[i].name);
        completion_opts(f, commands[i].cmd);
        fputs("' ;;\n", f);
    }
    fputs("    esac\n    if [[ $cur == -* ]]; then\n"
          "        mapfile -t COMPREPLY < <(compgen -W \"$opts\" -- \"$cur\")\n"
          "        return\n    fi\n    case $cmd in\n    '') opts='", f);
    for (i = 0; i < MB_ARRAY_LEN(commands); i++)
        fprintf(f, "%s%s", i ? " " : "", commands[i].name);
    fputs("' ;;\n", f);
    /* a command whose synopsis starts with a|b|c takes one of those words */
    for (i = 0; i < MB_ARRAY_LEN(commands); i++) {
        size_t w = strcspn(commands[i].synopsis, " ");
        if (memchr(commands[i].synopsis, '|', w) == NULL)
            continue;
        fprintf(f, "    %s) opts='", commands[i].name);
        for (k = 0; k < w; k++)
            fputc(commands[i].synopsis[k] == '|' ? ' ' : commands[i].synopsis[k], f);
        fputs("' ;;\n", f);
    }
    fputs("    *) mapfile -t COMPREPLY < <(compgen -f -- \"$cur\"); return ;;\n"
          "    esac\n"
          "    mapfile -t COMPREPLY < <(compgen -W \"$opts\" -- \"$cur\")\n}\n"
          "complete -o filenames -F _mpibatch mpibatch\n", f);
}

mb_status mb_cli_generate(const char *what, FILE *out)
{
    if (strcmp(what, "man") == 0)
        gen_man(out);
    else if (strcmp(what, "completion") == 0)
        gen_completion(out);
    else
        return MB_ENOENT;
    return fflush(out) == 0 && !ferror(out) ? MB_OK : MB_EIO;
}
