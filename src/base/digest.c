/* digest.c - SHA-256 digests for task ids, job fingerprints and the
 * checksums of committed result files. */
#include "base/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

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

mb_status mb_sha256_file(const char *path, uint64_t *size, char out[MB_SHA256_HEX], mb_err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE], buf[1 << 16];
    unsigned int mdlen = 0, i;
    EVP_MD_CTX *ctx;
    uint64_t total = 0;
    int fd = open(path, O_RDONLY), ok;
    ssize_t r = 0;

    if (fd < 0)
        return mb_err_set(err, errno == ENOENT ? MB_ENOENT : MB_EIO, "%s: %s", path,
                          strerror(errno));
    if (!(ctx = EVP_MD_CTX_new())) {
        close(fd);
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    }
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    while (ok && ((r = read(fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))) {
        if (r < 0)
            continue;
        ok = EVP_DigestUpdate(ctx, buf, (size_t)r) == 1;
        total += (uint64_t)r;
    }
    if (r < 0) {
        int e = errno;
        EVP_MD_CTX_free(ctx);
        close(fd);
        return mb_err_set(err, MB_EIO, "%s: read: %s", path, strerror(e));
    }
    close(fd);
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return mb_err_set(err, MB_EINTERNAL, "%s: SHA-256 failed in OpenSSL", path);
    for (i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * mdlen] = '\0';
    *size = total;
    return MB_OK;
}
