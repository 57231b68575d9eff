/* fault.h - named fault-injection points for the crash tests.
 *
 * MPIBATCH_FAULT=point[,point...] makes mb_fault_point(point) kill the
 * process with SIGKILL when it is reached, as a power cut would. Unset in
 * production: then every call is a cheap no-op. */
#ifndef MB_FAULT_H
#define MB_FAULT_H

void mb_fault_point(const char *point);

#endif
