/* utf8.h - strict UTF-8 validation, shared by the readers of group keys and
 * of queries: no overlong forms, surrogates, code points past U+10FFFF, or
 * NUL bytes (keys end up in C strings, JSON and HDF5). No I/O. */
#ifndef MB_UTF8_H
#define MB_UTF8_H

#include <stddef.h>

/* Length of the longest valid prefix of p[0..len): len when all is valid. */
size_t mb_utf8_valid_prefix(const unsigned char *p, size_t len);

#endif
