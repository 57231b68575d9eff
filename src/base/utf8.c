/* utf8.c - strict UTF-8 validation (utf8.h). */
#include "base/utf8.h"

#include <stdint.h>

size_t mb_utf8_valid_prefix(const unsigned char *p, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char b = p[i];
        size_t n, k;
        uint32_t cp;
        if (b >= 0x01 && b < 0x80) {
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf)
            n = 1, cp = b & 0x1fu;
        else if (b >= 0xe0 && b <= 0xef)
            n = 2, cp = b & 0x0fu;
        else if (b >= 0xf0 && b <= 0xf4)
            n = 3, cp = b & 0x07u;
        else
            return i;                   /* NUL, continuation byte, 0xc0/0xc1, > 0xf4 */
        if (len - i <= n)
            return i;
        for (k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return i;
            cp = cp << 6 | (p[i + k] & 0x3fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return i;
        i += n + 1;
    }
    return i;
}
