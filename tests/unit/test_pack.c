/* test_pack.c - the bounded byte buffer and its checked reader. */
#include "base/pack.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_round_trip(void)
{
    mb_buf b;
    mb_rd r;
    char *s;
    char raw[3];

    mb_buf_init(&b, 1 << 16);
    ok(mb_buf_put_u64(&b, 0) == MB_OK && mb_buf_put_u64(&b, UINT64_MAX) == MB_OK &&
           mb_buf_put_str(&b, "chunk grid") == MB_OK && mb_buf_put_str(&b, "") == MB_OK &&
           mb_buf_put(&b, "xyz", 3) == MB_OK,
       "u64s, strings and raw bytes go in");
    ok(b.len == 8 + 8 + 8 + 10 + 8 + 3, "lengths as documented (u64 length + bytes)");
    mb_rd_init(&r, b.p, b.len);
    ok(mb_rd_u64(&r) == 0 && mb_rd_u64(&r) == UINT64_MAX, "u64s come back");
    s = mb_rd_str(&r, 100);
    is_str(s, "chunk grid", "a string comes back");
    free(s);
    s = mb_rd_str(&r, 100);
    is_str(s, "", "an empty string comes back");
    free(s);
    ok(mb_rd_get(&r, raw, 3) == 1 && memcmp(raw, "xyz", 3) == 0, "raw bytes come back");
    ok(!r.bad && r.pos == r.len, "everything read, nothing bad");
    ok(mb_rd_u64(&r) == 0 && r.bad, "a read past the end is flagged");
    mb_buf_fini(&b);
    ok(b.p == NULL && b.len == 0, "mb_buf_fini clears the buffer");
}

static void test_bounds(void)
{
    mb_buf b;
    mb_rd r;
    unsigned char evil[16];
    uint64_t big = (uint64_t)1 << 40;

    mb_buf_init(&b, 16);
    ok(mb_buf_put_u64(&b, 1) == MB_OK && mb_buf_put_u64(&b, 2) == MB_OK,
       "16 bytes fit a cap of 16");
    ok(mb_buf_put_u64(&b, 3) != MB_OK && b.len == 16, "the 17th byte is refused, nothing written");
    ok(mb_buf_put(&b, "x", SIZE_MAX) != MB_OK, "a length that would overflow is refused");
    mb_buf_fini(&b);

    /* a string whose length field claims more than there is */
    memcpy(evil, &big, 8);
    memcpy(evil + 8, "abcdefgh", 8);
    mb_rd_init(&r, evil, sizeof evil);
    ok(mb_rd_str(&r, SIZE_MAX) == NULL && r.bad, "a string longer than the data is refused");
    mb_rd_init(&r, evil, sizeof evil);
    ok(mb_rd_str(&r, 4) == NULL && r.bad, "a string longer than the caller's max is refused");
    mb_rd_init(&r, evil, 8);
    ok(mb_rd_ptr(&r, 9) == NULL && r.bad, "a pointer past the end is refused");
    mb_rd_init(&r, evil, 3);
    ok(mb_rd_u64(&r) == 0 && r.bad, "a u64 from 3 bytes is refused");
}

/* Varints: round trips at the byte-length edges; truncated, overlong
 * (past 64 bits) and non-shortest forms refused. */
static void test_varint(void)
{
    static const uint64_t vs[] = {0, 1, 127, 128, 16383, 16384, UINT64_C(1) << 35,
                                  UINT64_MAX - 1, UINT64_MAX};
    static const unsigned char bad[][11] = {
        {0x80},                                                        /* truncated */
        {0x80, 0x00},                                                  /* not shortest */
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},  /* past 64 bits */
    };
    static const size_t badlen[] = {1, 2, 10};
    mb_buf b;
    mb_rd r;
    int good = 1;

    mb_buf_init(&b, 1024);
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        good &= mb_buf_put_varint(&b, vs[i]) == MB_OK;
    ok(good && b.len == 1 + 1 + 1 + 2 + 2 + 3 + 6 + 10 + 10, "varints take their shortest length");
    mb_rd_init(&r, b.p, b.len);
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        good &= mb_rd_varint(&r) == vs[i];
    ok(good && !r.bad && r.pos == r.len, "varints read back");
    for (size_t i = 0; i < sizeof badlen / sizeof badlen[0]; i++) {
        mb_rd_init(&r, bad[i], badlen[i]);
        ok(mb_rd_varint(&r) == 0 && r.bad, "malformed varint %zu is refused", i);
    }
    mb_buf_fini(&b);
}

int main(void)
{
    test_round_trip();
    test_bounds();
    test_varint();
    return tap_done();
}
