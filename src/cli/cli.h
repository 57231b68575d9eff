/* cli.h - the command line: one option table, parsed into struct mb_opts;
 * every --help text is generated from that table. Job files set options
 * through the same table (mb_cli_set), so a job-file key and a command-line
 * option can never disagree about names, types or limits. */
#ifndef MB_CLI_H
#define MB_CLI_H

#include "base/mb.h"

#include <stdio.h>

typedef enum mb_cmd {
    MB_CMD_NONE = 0,
    MB_CMD_ENQUEUE,
    MB_CMD_RUN,
    MB_CMD_RESULTS,
    MB_CMD_QUEUE,
    MB_CMD_INSPECT,
    MB_CMD_STATUS
} mb_cmd;

#define MB_OPT_MAX 40

typedef struct mb_opts {
    mb_cmd cmd;
    /* strings are owned (mb_opts_fini); format, encoding and log_format are
     * NULL or one of their option's values, spelled as in cli.c's table */
    char *queue, *out, *job, *name, *group_by, *agg, *checkpoint_dir, *data_root;
    char *id, *format, *encoding, *ca_file, *log_format, *sql, *columns;
    double checkpoint_interval, idle_exit, retry_deadline;
    uint64_t visibility_timeout, max_dequeue, chunk_size, max_record, max_groups_mb;
    uint64_t max_bad_rows;
    char delimiter;
    int header, merge, fresh, poison, explain, verbose, quiet, help, version;
    char **args;          /* positional arguments (borrowed from argv) */
    size_t nargs;
    unsigned char set[MB_OPT_MAX];   /* option i given on the command line */
} mb_opts;

/* Fills `o` with the defaults. */
void mb_opts_init(mb_opts *o);
void mb_opts_fini(mb_opts *o);

/* Parses argv (argv[0] is the program). MB_EUSAGE with a message naming the
 * option on error. --help/--version only set o->help / o->version. */
mb_status mb_cli_parse(mb_opts *o, int argc, char **argv, mb_err *err);

/* Sets option `key` ("chunk_size" or "chunk-size") from text, as a job file
 * would, unless it was given on the command line. MB_ENOENT if no option
 * has that key in job files, MB_EJOB if the value is not valid (message
 * without position: the caller adds file:line:column). */
mb_status mb_cli_set(mb_opts *o, const char *key, const char *value, mb_err *err);

/* Whether option --name was given on the command line. */
int mb_cli_given(const mb_opts *o, const char *name);

/* Prints the help of `cmd` (MB_CMD_NONE: the overview) to stdout. */
void mb_cli_help(mb_cmd cmd);

const char *mb_cli_cmd_name(mb_cmd cmd);

/* The queue settings the options ask for (--max-dequeue, --ca-file,
 * --retry-deadline, --message-encoding). Defined in cli_queue.c, the one
 * file of cli/ that knows the queue; declared here with the struct left
 * incomplete, so that this header does not pull in queue/queue.h. */
struct mb_queue_config;
mb_status mb_cli_queue_config(const mb_opts *o, struct mb_queue_config *c, mb_err *err);

/* Writes the documentation generated from the option table to `out`:
 * what = "man" for the man page (roff), "completion" for the bash
 * completion script. MB_ENOENT for another `what`, MB_EIO when `out`
 * fails. Reached through `mpibatch --help-man` / `--help-completion`,
 * which --help does not list (make builds the installed files with them). */
mb_status mb_cli_generate(const char *what, FILE *out);

#endif
