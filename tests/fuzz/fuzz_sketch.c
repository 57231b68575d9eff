/* fuzz_sketch.c - libFuzzer harness: the byte forms of the sketch and map states (hll.c, ddsk.c, vmap.c), which arrive from other ranks, checkpoints and result files. */
/*
 * Input: a byte choosing the state, then its byte form. Properties:
 *  - unpack either refuses the bytes with MB_EDATA or MB_ELIMIT and a
 *    message, leaving the state it was given as it was, or accepts them;
 *  - accepted bytes are canonical: packing the state gives them back, byte
 *    for byte (so equal states always have equal bytes);
 *  - an accepted state answers without a fault: its estimate is finite and
 *    not negative, its quantiles lie in order, its ranks and mode are in
 *    range; merged with itself it keeps its registers (HyperLogLog) or
 *    doubles its count (quantile sketch, value map).
 */
#include "agg/ddsk.h"
#include "agg/hll.h"
#include "agg/vmap.h"
#include "fuzz.h"

#include <math.h>

static void hll(const uint8_t *p, size_t n)
{
    static unsigned char out[MB_HLL_PACK_MAX];
    mb_hll h, twice;
    mb_err e = {0};
    mb_status st;

    mb_hll_init(&h);
    mb_hll_add(&h, 42);
    st = mb_hll_unpack(&h, p, n, &e);
    if (st != MB_OK) {
        FZ_CHECK(st == MB_EDATA && e.msg[0], "HyperLogLog unpack: status %d", (int)st);
        FZ_CHECK(h.nsparse == 1 && !h.dense, "a refused form changed the state");
        mb_hll_fini(&h);
        return;
    }
    FZ_CHECK(mb_hll_pack(&h, out, sizeof out) == n && memcmp(out, p, n) == 0,
             "an accepted HyperLogLog form is not canonical");
    double est = mb_hll_estimate(&h);
    FZ_CHECK(isfinite(est) && est >= 0.0, "estimate %g", est);
    mb_hll_init(&twice);
    FZ_CHECK(mb_hll_merge(&twice, &h) == MB_OK && mb_hll_merge(&twice, &h) == MB_OK &&
                 mb_hll_estimate(&twice) == est,
             "merging a sketch twice changed its estimate");
    mb_hll_fini(&twice);
    mb_hll_fini(&h);
}

static void ddsk(const uint8_t *p, size_t n)
{
    mb_ddsk d, twice;
    mb_buf b;
    mb_err e = {0};
    mb_status st;

    mb_ddsk_init(&d);
    mb_ddsk_add(&d, 1.5);
    st = mb_ddsk_unpack(&d, p, n, &e);
    if (st != MB_OK) {
        FZ_CHECK((st == MB_EDATA || st == MB_ENOMEM) && e.msg[0], "quantile sketch unpack: "
                 "status %d", (int)st);
        FZ_CHECK(mb_ddsk_count(&d) == 1, "a refused form changed the state");
        mb_ddsk_fini(&d);
        return;
    }
    mb_buf_init(&b, (size_t)1 << 24);
    FZ_CHECK(mb_ddsk_pack(&d, &b) == MB_OK && b.len == n && memcmp(b.p, p, n) == 0,
             "an accepted quantile sketch form is not canonical");
    mb_buf_fini(&b);
    if (mb_ddsk_count(&d) > 0 && mb_ddsk_count(&d) < UINT64_MAX / 2) {
        double prev = -INFINITY;
        for (int k = 0; k <= 10; k++) {
            double q = mb_ddsk_quantile(&d, k / 10.0);
            FZ_CHECK(!isnan(q) && q >= prev, "quantile %d/10: %g after %g", k, q, prev);
            prev = q;
        }
        mb_ddsk_init(&twice);
        FZ_CHECK(mb_ddsk_merge(&twice, &d) == MB_OK && mb_ddsk_merge(&twice, &d) == MB_OK &&
                     mb_ddsk_count(&twice) == 2 * mb_ddsk_count(&d),
                 "merging a sketch twice did not double its count");
        mb_ddsk_fini(&twice);
    }
    mb_ddsk_fini(&d);
}

static void vmap(const uint8_t *p, size_t n)
{
    mb_vmap m, twice;
    mb_buf b;
    mb_err e = {0};
    mb_status st;

    mb_vmap_init(&m);
    mb_vmap_add(&m, "x", 1, 3);
    st = mb_vmap_unpack(&m, p, n, &e);
    if (st != MB_OK) {
        FZ_CHECK((st == MB_EDATA || st == MB_ELIMIT || st == MB_ENOMEM) && e.msg[0],
                 "value map unpack: status %d", (int)st);
        FZ_CHECK(mb_vmap_total(&m) == 3 && mb_vmap_distinct(&m) == 1,
                 "a refused form changed the map");
        mb_vmap_fini(&m);
        return;
    }
    mb_buf_init(&b, (size_t)1 << 24);
    FZ_CHECK(mb_vmap_pack(&m, &b) == MB_OK && b.len == n && memcmp(b.p, p, n) == 0,
             "an accepted value map form is not canonical");
    mb_buf_fini(&b);
    if (mb_vmap_distinct(&m)) {
        FZ_CHECK(mb_vmap_mode(&m) < mb_vmap_distinct(&m), "mode out of range");
        FZ_CHECK(mb_vmap_rank(&m, 0) == 0 &&
                     mb_vmap_rank(&m, mb_vmap_total(&m) - 1) == mb_vmap_distinct(&m) - 1,
                 "the first and last ranks are not the first and last values");
        if (mb_vmap_total(&m) < UINT64_MAX / 2) {
            mb_vmap_init(&twice);
            FZ_CHECK(mb_vmap_merge(&twice, &m) == MB_OK && mb_vmap_merge(&twice, &m) == MB_OK &&
                         mb_vmap_total(&twice) == 2 * mb_vmap_total(&m) &&
                         mb_vmap_distinct(&twice) == mb_vmap_distinct(&m),
                     "merging a map twice did not double its counts");
            mb_vmap_fini(&twice);
        }
    }
    mb_vmap_fini(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0: hll(data + 1, size - 1); break;
    case 1: ddsk(data + 1, size - 1); break;
    default: vmap(data + 1, size - 1); break;
    }
    return 0;
}
