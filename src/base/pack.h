/* pack.h - a growable byte buffer with a size cap, and a bounds-checked
 * reader over one. Used to serialize task descriptors and group states for
 * MPI messages. Values are written in host byte order: every rank of one job
 * runs the same binary on the same architecture. */
#ifndef MB_PACK_H
#define MB_PACK_H

#include "base/mb.h"

typedef struct mb_buf {
    char *p;
    size_t len, cap, max;   /* max: the cap this buffer may never exceed */
} mb_buf;

void mb_buf_init(mb_buf *b, size_t max);
void mb_buf_fini(mb_buf *b);
/* Makes room for `more` bytes. MB_ELIMIT past b->max, MB_ENOMEM. */
mb_status mb_buf_reserve(mb_buf *b, size_t more);
mb_status mb_buf_put(mb_buf *b, const void *p, size_t len);
mb_status mb_buf_put_u64(mb_buf *b, uint64_t v);
mb_status mb_buf_put_str(mb_buf *b, const char *s);   /* u64 length + bytes */
/* v as a LEB128 varint in its shortest form (1 to 10 bytes), the same on
 * every host: for byte forms that are stored. */
mb_status mb_buf_put_varint(mb_buf *b, uint64_t v);

typedef struct mb_rd {
    const char *p;
    size_t len, pos;
    int bad;                /* set by the first read past the end */
    int nomem;              /* set with bad when mb_rd_str could not allocate */
} mb_rd;

void mb_rd_init(mb_rd *r, const void *p, size_t len);
/* Each reader returns 0 (and sets r->bad) when the data is short. */
int mb_rd_get(mb_rd *r, void *out, size_t len);
uint64_t mb_rd_u64(mb_rd *r);
/* A varint of mb_buf_put_varint; 0 with r->bad set when it is truncated,
 * passes 64 bits or is not in its shortest form (so that a canonical byte
 * form has one reading). */
uint64_t mb_rd_varint(mb_rd *r);
/* A newly allocated NUL-terminated copy of a packed string of at most
 * `max` bytes, or NULL (r->bad set) when malformed or out of memory
 * (r->nomem set too). */
char *mb_rd_str(mb_rd *r, size_t max);
/* Pointer to the next `len` bytes without copying, or NULL. */
const char *mb_rd_ptr(mb_rd *r, size_t len);

#endif
