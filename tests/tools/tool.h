/* tool.h - what the test drivers in tests/tools share: a whole file in
 * memory and a column list ("a BIGINT, b DECIMAL(10,2)") into names and
 * types. Drivers are test programs: errors end them. */
#ifndef MB_TOOL_H
#define MB_TOOL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/plan.h"

#define TOOL_MAX_COLS 64

/* The file's bytes (NUL-terminated, *len without it), or NULL. */
static inline char *tool_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
        !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        if (f)
            fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* Splits `spec` in place into at most TOOL_MAX_COLS columns; 0 or -1. */
static inline int tool_columns(char *spec, mb_sql_column *cols, size_t *n)
{
    char *at = spec;
    *n = 0;
    while (*at && *n < TOOL_MAX_COLS) {
        char *end = at, *item, *sp;
        int depth = 0;
        mb_err e;
        while (*end && (*end != ',' || depth)) {
            depth += *end == '(' ? 1 : *end == ')' ? -1 : 0;
            end++;
        }
        item = at;
        at = *end ? end + 1 : end;
        *end = '\0';
        while (*item == ' ')
            item++;
        if (!(sp = strchr(item, ' ')))
            return -1;
        *sp = '\0';
        cols[*n].name = item;
        if (mb_sql_dtype_parse(sp + 1, strlen(sp + 1), &cols[*n].type, &e) != MB_OK) {
            fprintf(stderr, "%s\n", e.msg);
            return -1;
        }
        (*n)++;
    }
    return 0;
}

#endif
