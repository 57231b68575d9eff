/* fault.h - named fault-injection points for the crash tests.
 *
 * MPIBATCH_FAULT=point[,point...] makes mb_fault_point(point) kill the
 * process with SIGKILL when it is reached, as a power cut would.
 * MPIBATCH_FAULT_SLEEP_MS=N makes mb_fault_sleep() pause N ms, so that a
 * test can land a kill or a signal in the middle of a task. Unset in
 * production: then every call is a cheap no-op. The same variable also
 * carries alloc:N, the allocation failure point of mem.h. */
#ifndef MB_FAULT_H
#define MB_FAULT_H

void mb_fault_point(const char *point);
void mb_fault_sleep(void);

#endif
