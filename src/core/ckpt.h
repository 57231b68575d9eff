/* ckpt.h - collective checkpoints of an in-flight task to one HDF5 file on
 * shared storage; the only module that writes checkpoints.
 *
 * Every rank contributes its part: the packed group states it holds and the
 * indices of the chunks those states cover (parts are disjoint). Parts are
 * written collectively with parallel HDF5 (MPI-IO driver, collective
 * transfers) into one file; rank 0 adds the metadata. A checkpoint counts
 * only when every rank reported success (the collective valid flag) and it
 * has been published atomically (temporary name, fsync, rename, directory
 * fsync); the last two are kept. Loading verifies structure and checksums
 * and falls back to the previous checkpoint, with a warning, when the newest
 * is damaged. States are keyed by chunk, not by rank, so a checkpoint made
 * by N ranks can be resumed by M. */
#ifndef MB_CKPT_H
#define MB_CKPT_H

#include "agg/agg.h"
#include "core/dist.h"

#include <stdio.h>

#define MB_CKPT_KEEP 2

typedef struct mb_ckpt_meta {
    char fingerprint[65];        /* job plan fingerprint (mb_plan.fingerprint) */
    char task_id[101];
    char input[4096];            /* input path of the task */
    char msg_id[128];            /* queue message id and lease handle */
    char receipt[256];
    uint64_t file_size;          /* size of the input when the grid was built */
    uint64_t chunk_size;         /* nominal chunk size of the grid */
    uint64_t nchunks;            /* chunks in the grid */
    char grid_digest[65];        /* SHA-256 of the grid bounds */
    uint64_t seq;                /* sequence number, grows with each checkpoint */
    uint64_t nstate;             /* states per group (plan columns) */
    /* The accumulator layout of the packed states (agg.h, mb_acc_layout):
     * set by mb_ckpt_write to this binary's, whatever the caller put here;
     * mb_ckpt_load refuses a checkpoint whose layout is not this binary's. */
    uint64_t layout_version;
    char layout[MB_ACC_LAYOUT_CAP];
} mb_ckpt_meta;

typedef struct mb_ckpt_part {
    const void *states;          /* packed groups (group.h: mb_groups_pack format) */
    size_t states_len;
    const uint64_t *chunks;      /* chunk indices these states cover */
    size_t nchunks;
} mb_ckpt_part;

/* Collective over all ranks of `d`: writes DIR/ckpt-<seq>.h5 (seq from
 * rank 0's meta), publishes it atomically only when every rank succeeded,
 * then deletes all but the newest MB_CKPT_KEEP. Every rank returns the same
 * status. A write that fails (a full disk or quota, an unwritable or
 * vanished directory) is abandoned on every rank without hanging: its
 * temporary is removed and older checkpoints stay as they were. Disk space
 * for the whole file is reserved before HDF5 writes to it. `seconds` (if not
 * NULL) gets the wall time of the whole write on rank 0. */
mb_status mb_ckpt_write(mb_dist *d, const char *dir, const mb_ckpt_meta *meta,
                        const mb_ckpt_part *part, double *seconds, mb_err *err);

/* A loaded checkpoint: the metadata, the states of all parts concatenated
 * (still packed), and the union of covered chunks as a bitmap. */
typedef struct mb_ckpt_loaded {
    mb_ckpt_meta meta;
    char path[4200];
    char *states;
    size_t states_len;
    unsigned char *done;         /* meta.nchunks bytes, 1 = chunk covered */
    uint64_t ndone;
} mb_ckpt_loaded;

/* Not collective (rank 0, or a plain process): finds the newest valid
 * checkpoint in dir. A damaged one is skipped with a warning (mb_warn) naming
 * the file and the reason. MB_ENOENT when there is none (or none valid).
 * MB_EJOB, naming the file and saying what differs, when the newest
 * undamaged one was written with another accumulator layout than this
 * binary's, or by an mpibatch that did not record its layout (format
 * mpibatch-checkpoint-2): its states would be misread, and an older
 * checkpoint of the same directory is not used instead. */
mb_status mb_ckpt_load(const char *dir, mb_ckpt_loaded *out, mb_err *err);
void mb_ckpt_loaded_fini(mb_ckpt_loaded *c);

/* Validates one checkpoint file and prints what it holds (job fingerprint,
 * task, input, message, chunks done/total, sequence, parts, validity). */
mb_status mb_ckpt_inspect(const char *path, FILE *out, mb_err *err);

/* Deletes every checkpoint in dir (after the task was committed, or for a
 * fresh start). Not collective. */
mb_status mb_ckpt_clear(const char *dir, mb_err *err);

/* Highest sequence number present in dir (valid or not), 0 if none. */
uint64_t mb_ckpt_last_seq(const char *dir);

#endif
