/* pool.c - bump allocation for queries and plans (pool.h). */
#include "sql/pool.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

struct mb_sql_pool {
    struct mb_sql_pool *next;
    size_t used, cap;
    _Alignas(16) unsigned char mem[];
};

void *mb_sql_pool_alloc(mb_sql_pool **pool, size_t n)
{
    mb_sql_pool *b = *pool;
    size_t need = (n + 15) & ~(size_t)15;
    void *p;
    if (need < n)
        return NULL;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > 16384 ? need : 16384;
        if (cap > (size_t)-1 - sizeof *b || !(b = mb_malloc(sizeof *b + cap)))
            return NULL;
        b->next = *pool;
        b->used = 0;
        b->cap = cap;
        *pool = b;
    }
    p = b->mem + b->used;
    b->used += need;
    memset(p, 0, n);
    return p;
}

char *mb_sql_pool_strndup(mb_sql_pool **pool, const char *s, size_t n)
{
    char *p = n + 1 ? mb_sql_pool_alloc(pool, n + 1) : NULL;
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void mb_sql_pool_free(mb_sql_pool *pool)
{
    while (pool) {
        mb_sql_pool *next = pool->next;
        free(pool);
        pool = next;
    }
}
