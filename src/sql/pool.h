/* pool.h - the memory of one query or plan: a bump allocator over a list
 * of blocks, freed all at once. Allocations are zeroed and 16-byte
 * aligned. No cap of its own: what goes in is bounded by the query's
 * length, which the parser caps. */
#ifndef MB_SQL_POOL_H
#define MB_SQL_POOL_H

#include <stddef.h>

typedef struct mb_sql_pool mb_sql_pool;

/* n zeroed bytes from *pool (a NULL pool starts one), or NULL when out of
 * memory. */
void *mb_sql_pool_alloc(mb_sql_pool **pool, size_t n);

/* A NUL-terminated copy of s[0..n), or NULL when out of memory. */
char *mb_sql_pool_strndup(mb_sql_pool **pool, const char *s, size_t n);

void mb_sql_pool_free(mb_sql_pool *pool);    /* NULL-safe */

#endif
