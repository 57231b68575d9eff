/* digest.c - SHA-256 digests for task ids and job fingerprints. */
#include "digest.h"

#include <openssl/evp.h>

mb_status mb_sha256_hex(const void *p, size_t len, char out[MB_SHA256_HEX])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;

    if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return MB_EINTERNAL;
    for (i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * mdlen] = '\0';
    return MB_OK;
}
