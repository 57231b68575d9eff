/* cli_queue.c - the queue settings the options ask for (mb_cli_queue_config,
 * declared in cli.h): the one file of cli/ that knows the queue, so that the
 * option table and its parser (cli.c) stay free of it. */
#include "cli/cli.h"
#include "queue/queue.h"

mb_status mb_cli_queue_config(const mb_opts *o, mb_queue_config *c, mb_err *err)
{
    mb_queue_config_init(c);
    c->max_deliveries = (unsigned)(o->max_dequeue * 10);
    c->ca_file = o->ca_file;
    c->retry_deadline = o->retry_deadline;
    /* o->encoding is NULL or a value cli.c let through; the queue owns the
     * names and their meaning */
    return o->encoding ? mb_queue_encoding_parse(o->encoding, &c->encoding, err) : MB_OK;
}
