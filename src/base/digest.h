/* digest.h - SHA-256 as lowercase hex, through OpenSSL's EVP interface. */
#ifndef MB_DIGEST_H
#define MB_DIGEST_H

#include "base/mb.h"

#define MB_SHA256_HEX 65   /* 64 hex digits + NUL */

/* out receives 64 hex digits and a NUL. MB_EINTERNAL if OpenSSL fails. */
mb_status mb_sha256_hex(const void *p, size_t len, char out[MB_SHA256_HEX]);

/* The SHA-256 of a whole file, read in blocks, and its length in bytes.
 * MB_ENOENT if missing, MB_EIO on a read error (err names the file). */
mb_status mb_sha256_file(const char *path, uint64_t *size, char out[MB_SHA256_HEX],
                         mb_err *err);

#endif
