/* state.h - the stable types of mpibatch's exact
 * aggregate states, as stored in result files (OUT/TASK.h5, dataset
 * "states/C", docs/result-format.md) and exchanged between ranks.
 *
 * A state describes one (group, column): n non-NULL values and exact
 * integers at a decimal scale. The value of sum is sum / 10^scale, of min and
 * max likewise, of the sum of squares sumsq / 10^(2*scale). Integers are
 * two's complement in little-endian 64-bit limbs. Two states merge exactly by
 * bringing both to the larger scale and adding, which is why results do not
 * depend on how work was split. */
#ifndef MPIBATCH_STATE_H
#define MPIBATCH_STATE_H

#include <stdint.h>

#define MPIBATCH_RESULT_FORMAT "mpibatch-result-3"

/* Signed two's-complement integers, little-endian 64-bit limbs. */
typedef struct mb_i256 { uint64_t w[4]; } mb_i256;
typedef struct mb_i512 { uint64_t w[8]; } mb_i512;

/* The exact state of one (group, column). Plain old data with fixed-width
 * fields: it can be copied between ranks and stored in HDF5 as it is. */
typedef struct mb_numstate {
    int64_t n;           /* non-NULL values */
    int32_t scale;       /* decimal scale of sum, min, max (sumsq: 2*scale) */
    uint32_t nonint;     /* some value had a fraction or an exponent */
    mb_i256 sum;         /* sum of x * 10^scale */
    mb_i512 sumsq;       /* sum of (x * 10^scale)^2 */
    mb_i256 min, max;    /* x * 10^scale, valid when n > 0 */
} mb_numstate;

#endif
