/* run.h - `mpibatch run`: the drain loop every rank executes under mpirun. */
#ifndef MB_RUN_H
#define MB_RUN_H

#include "cli/cli.h"
#include "core/dist.h"

/* Drains the queue named in `o` until it stays empty (--idle-exit), a stop
 * request or a fatal error. Returns MB_OK; MB_EDATA when some task was
 * rejected (bad data, or too many failed deliveries; the others still
 * ran); MB_ESTOP when stopped on request after the stop checkpoint (MB_EIO
 * when that checkpoint was abandoned); or the fatal status. Must be called
 * by every rank of the job. */
mb_status mb_run(mb_opts *o, mb_dist *d, mb_err *err);

#endif
