/* test_reject.c - TAP tests of the rejects of --max-bad-rows (csv/reject.c):
 * marker keys round-trip, are told apart from real keys, cut the record and
 * the reason at their caps, refuse damage; the rejects file's exact bytes.
 * No I/O, no MPI. */
#include "csv/reject.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static void test_roundtrip(void)
{
    mb_buf k;
    mb_reject r;
    const char rec[] = "a,\"x\ny\",3\r\n";

    mb_buf_init(&k, 1 << 16);
    ok(mb_reject_key(&k, 1000, 1004, rec, sizeof rec - 1, "column 'v': bad") == MB_OK,
       "a marker key is built");
    ok(mb_reject_is(k.p, k.len), "it is a marker key");
    ok(mb_reject_decode(k.p, k.len, &r) == MB_OK && r.rec_off == 1000 && r.err_off == 1004 &&
           r.rec_len == sizeof rec - 3 && r.raw_len == sizeof rec - 3 &&
           memcmp(r.raw, rec, r.raw_len) == 0 && r.reason_len == 15 &&
           memcmp(r.reason, "column 'v': bad", 15) == 0,
       "it decodes to offsets, length, reason and the record without its CRLF");
    {
        /* a real key: fields as (u32 length, bytes); no field is 4 GiB long */
        const char real[] = "\x03\x00\x00\x00" "abc";
        ok(!mb_reject_is(real, sizeof real - 1) && !mb_reject_is("", 0) &&
               !mb_reject_is("\xff\xff\xff", 3),
           "real keys, the empty key and short keys are not marker keys");
        ok(mb_reject_decode(real, sizeof real - 1, &r) == MB_EDATA, "nor decode as one");
    }
    k.p[28] = 0x7f;   /* reason length past the key */
    ok(mb_reject_decode(k.p, k.len, &r) == MB_EDATA, "a damaged reason length is refused");
    mb_buf_fini(&k);
}

static void test_caps(void)
{
    mb_buf k;
    mb_reject r;
    size_t n = 5000;
    char *rec = malloc(n), *why = malloc(n + 1);

    memset(rec, 'z', n);
    memset(why, 'w', n);
    why[n] = '\0';
    mb_buf_init(&k, 1 << 16);
    ok(mb_reject_key(&k, 7, 9, rec, n, why) == MB_OK &&
           mb_reject_decode(k.p, k.len, &r) == MB_OK && r.rec_len == n &&
           r.raw_len == MB_REJECT_RAW_MAX && r.reason_len == MB_REJECT_REASON_MAX,
       "a long record keeps its length and its first %d bytes; a long reason is cut to %d",
       MB_REJECT_RAW_MAX, MB_REJECT_REASON_MAX);
    mb_buf_fini(&k);
    free(rec);
    free(why);
}

static void test_csv(void)
{
    mb_reject r[2];
    mb_buf out;
    const char *want = "file,line,column,reason,record_bytes,record\n"
                       "d/f.csv,12,4,column 'v': 'abc' is not a number,8,\"k1,abc,x\"\n"
                       "d/f.csv,45,7,\"expected 3 fields, found 4\",30,\"\"\"multi\nline\"\",7\"\n";

    memset(r, 0, sizeof r);
    r[1].rec_off = 500;
    r[1].line = 45;
    r[1].col = 7;
    r[1].reason = "expected 3 fields, found 4";
    r[1].reason_len = strlen(r[1].reason);
    r[1].raw = "\"multi\nline\",7";
    r[1].raw_len = strlen(r[1].raw);
    r[1].rec_len = 30;
    r[0].rec_off = 20;
    r[0].line = 12;
    r[0].col = 4;
    r[0].reason = "column 'v': 'abc' is not a number";
    r[0].reason_len = strlen(r[0].reason);
    r[0].raw = "k1,abc,x";
    r[0].raw_len = 8;
    r[0].rec_len = 8;
    qsort(r, 2, sizeof *r, mb_reject_cmp);
    ok(r[0].rec_off == 20 && r[1].rec_off == 500, "rejects sort by record offset");
    mb_buf_init(&out, 1 << 16);
    ok(mb_reject_csv(&out, "d/f.csv", r, 2) == MB_OK && mb_buf_put(&out, "", 1) == MB_OK,
       "the rejects file is written");
    is_str(out.p, want, "header, then fields quoted only where RFC 4180 needs it");
    mb_buf_fini(&out);
}

int main(void)
{
    test_roundtrip();
    test_caps();
    test_csv();
    return tap_done();
}
