/* reject.c - marker keys of skipped records and the rejects file
 * (reject.h). */
#include "csv/reject.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* key: ff ff ff ff | u64 rec_off | u64 err_off | u64 rec_len |
 *      u32 reason length | reason | raw record; integers little-endian */
#define HEAD (4 + 8 + 8 + 8 + 4)

static void put_le(unsigned char *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

mb_status mb_reject_key(mb_buf *key, uint64_t rec_off, uint64_t err_off, const char *rec,
                        size_t len, const char *reason)
{
    unsigned char h[HEAD];
    size_t rl = strlen(reason), raw;
    mb_status st;

    if (len && rec[len - 1] == '\n')
        len--;
    if (len && rec[len - 1] == '\r')
        len--;
    raw = len < MB_REJECT_RAW_MAX ? len : MB_REJECT_RAW_MAX;
    rl = rl < MB_REJECT_REASON_MAX ? rl : MB_REJECT_REASON_MAX;
    memset(h, 0xff, 4);
    put_le(h + 4, rec_off, 8);
    put_le(h + 12, err_off, 8);
    put_le(h + 20, len, 8);
    put_le(h + 28, rl, 4);
    key->len = 0;
    if ((st = mb_buf_put(key, h, sizeof h)) != MB_OK ||
        (st = mb_buf_put(key, reason, rl)) != MB_OK || (st = mb_buf_put(key, rec, raw)) != MB_OK)
        return st;
    return MB_OK;
}

mb_status mb_reject_decode(const char *key, size_t len, mb_reject *r)
{
    const unsigned char *p = (const unsigned char *)key;

    memset(r, 0, sizeof *r);
    if (len < HEAD || !mb_reject_is(key, len))
        return MB_EDATA;
    r->rec_off = get_le(p + 4, 8);
    r->err_off = get_le(p + 12, 8);
    r->rec_len = get_le(p + 20, 8);
    r->reason_len = (size_t)get_le(p + 28, 4);
    if (r->reason_len > MB_REJECT_REASON_MAX || r->reason_len > len - HEAD)
        return MB_EDATA;
    r->reason = key + HEAD;
    r->raw = r->reason + r->reason_len;
    r->raw_len = len - HEAD - r->reason_len;
    if (r->raw_len > MB_REJECT_RAW_MAX || r->raw_len > r->rec_len ||
        (r->raw_len < r->rec_len && r->raw_len != MB_REJECT_RAW_MAX) ||
        r->err_off < r->rec_off)
        return MB_EDATA;
    return MB_OK;
}

int mb_reject_cmp(const void *a, const void *b)
{
    const mb_reject *x = a, *y = b;
    return (x->rec_off > y->rec_off) - (x->rec_off < y->rec_off);
}

static mb_status field(mb_buf *b, const char *p, size_t n, char end)
{
    mb_status st = MB_OK;
    bool q = false;

    for (size_t i = 0; i < n && !q; i++)
        q = p[i] == ',' || p[i] == '"' || p[i] == '\r' || p[i] == '\n';
    if (!q) {
        if (n)
            st = mb_buf_put(b, p, n);
    } else {
        size_t i = 0, j;
        st = mb_buf_put(b, "\"", 1);
        while (st == MB_OK && i < n) {
            const char *qq = memchr(p + i, '"', n - i);
            j = qq ? (size_t)(qq - p) + 1 : n;
            st = mb_buf_put(b, p + i, j - i);
            if (st == MB_OK && qq)
                st = mb_buf_put(b, "\"", 1);      /* doubled */
            i = j;
        }
        if (st == MB_OK)
            st = mb_buf_put(b, "\"", 1);
    }
    return st == MB_OK ? mb_buf_put(b, &end, 1) : st;
}

mb_status mb_reject_csv(mb_buf *out, const char *file, const mb_reject *r, size_t n)
{
    static const char header[] = "file,line,column,reason,record_bytes,record\n";
    mb_status st = mb_buf_put(out, header, sizeof header - 1);

    for (size_t i = 0; i < n && st == MB_OK; i++) {
        char num[3][32];
        snprintf(num[0], sizeof num[0], "%lu", r[i].line);
        snprintf(num[1], sizeof num[1], "%lu", r[i].col);
        snprintf(num[2], sizeof num[2], "%llu", (unsigned long long)r[i].rec_len);
        st = field(out, file, strlen(file), ',');
        for (size_t k = 0; k < 2 && st == MB_OK; k++)
            st = field(out, num[k], strlen(num[k]), ',');
        if (st == MB_OK)
            st = field(out, r[i].reason, r[i].reason_len, ',');
        if (st == MB_OK)
            st = field(out, num[2], strlen(num[2]), ',');
        if (st == MB_OK)
            st = field(out, r[i].raw, r[i].raw_len, '\n');
    }
    return st;
}
