/* task.c - message bodies into tasks and back. Untrusted input: lengths
 * are bounded, JSON is parsed by jansson with duplicate keys refused, and
 * nothing in a body can choose a file name outside the id alphabet. */
#include "queue/task.h"

#include "base/digest.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int mb_task_id_valid(const char *id)
{
    size_t n = strlen(id), i;

    if (n == 0 || n > MB_TASK_ID_MAX || id[0] == '.')
        return 0;
    for (i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void mb_task_fini(mb_task *t)
{
    if (t) {
        free(t->input);
        t->input = NULL;
    }
}

static mb_status set_input(mb_task *t, const char *p, size_t len, const char *root,
                           mb_err *err)
{
    size_t rl = root ? strlen(root) : 0;

    if (len >= 7 && memcmp(p, "file://", 7) == 0) {
        p += 7;
        len -= 7;
    }
    if (len == 0 || len > MB_INPUT_MAX || memchr(p, '\0', len) || memchr(p, '\n', len))
        return mb_err_set(err, MB_EDATA, "input path is empty, longer than %d bytes, or holds "
                          "a newline or NUL", MB_INPUT_MAX);
    if ((len >= 8 && memcmp(p, "https://", 8) == 0) ||
        (len >= 7 && memcmp(p, "http://", 7) == 0))
        return mb_err_set(err, MB_EDATA, "input '%.*s' is a URL; inputs must be paths on "
                          "shared storage", (int)(len > 200 ? 200 : len), p);
    if (p[0] == '/' || rl == 0) {
        t->input = mb_strndup(p, len);
    } else {
        t->input = mb_malloc(rl + 1 + len + 1);
        if (t->input)
            snprintf(t->input, rl + len + 2, "%s/%.*s", root, (int)len, p);
    }
    return t->input ? MB_OK : mb_err_set(err, MB_ENOMEM, "out of memory");
}

static mb_status parse_json(const char *body, size_t len, const char *root, mb_task *t,
                            mb_err *err)
{
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je), *in, *id;
    mb_status st = MB_OK;

    if (!o)
        return mb_err_set(err, MB_EDATA, "message body: JSON error at line %d column %d: %s",
                          je.line, je.column, je.text);
    in = json_object_get(o, "input");
    id = json_object_get(o, "id");
    if (!json_is_object(o) || !json_is_string(in))
        st = mb_err_set(err, MB_EDATA, "message body: a JSON message needs a string \"input\"");
    else if (id && !json_is_null(id) &&
             (!json_is_string(id) || !mb_task_id_valid(json_string_value(id))))
        st = mb_err_set(err, MB_EDATA, "message body: \"id\" must be 1-%d characters of "
                        "A-Z a-z 0-9 . _ - not starting with '.'", MB_TASK_ID_MAX);
    if (st == MB_OK && json_is_string(id))
        snprintf(t->id, sizeof t->id, "%s", json_string_value(id));
    if (st == MB_OK)
        st = set_input(t, json_string_value(in), json_string_length(in), root, err);
    json_decref(o);
    return st;
}

mb_status mb_task_parse(const char *body, size_t len, const char *data_root, mb_task *t,
                        mb_err *err)
{
    char hex[MB_SHA256_HEX];
    size_t a = 0, b = len;
    mb_status st;

    memset(t, 0, sizeof *t);
    while (a < b && (body[a] == ' ' || body[a] == '\t' || body[a] == '\r' || body[a] == '\n'))
        a++;
    while (b > a && (body[b - 1] == ' ' || body[b - 1] == '\t' || body[b - 1] == '\r' ||
                     body[b - 1] == '\n'))
        b--;
    if (a < b && body[a] == '{')
        st = parse_json(body + a, b - a, data_root, t, err);
    else
        st = set_input(t, body + a, b - a, data_root, err);
    if (st != MB_OK)
        return st;
    if (!t->id[0]) {
        if (mb_sha256_hex(body, len, hex) != MB_OK) {
            mb_task_fini(t);
            return mb_err_set(err, MB_EINTERNAL, "digest failed");
        }
        snprintf(t->id, sizeof t->id, "%.32s", hex);
    }
    return MB_OK;
}

mb_status mb_task_body(const char *path, const char *id, char **body, mb_err *err)
{
    char abs[PATH_MAX];
    struct stat sb;

    if (!realpath(path, abs))
        return mb_err_set(err, errno == ENOENT ? MB_ENOENT : MB_EIO, "%s: %s", path,
                          strerror(errno));
    if (stat(abs, &sb) != 0 || !S_ISREG(sb.st_mode))
        return mb_err_set(err, MB_ENOENT, "%s: not a regular file", path);
    if (strchr(abs, '\n'))
        return mb_err_set(err, MB_EDATA, "%s: path holds a newline", path);
    if (!id) {
        *body = mb_strdup(abs);
    } else {
        json_t *o;
        if (!mb_task_id_valid(id))
            return mb_err_set(err, MB_EUSAGE, "--id '%s': use 1-%d characters of A-Z a-z 0-9 "
                              ". _ - not starting with '.'", id, MB_TASK_ID_MAX);
        o = json_pack("{s:s, s:s}", "input", abs, "id", id);
        *body = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(o);
    }
    return *body ? MB_OK : mb_err_set(err, MB_ENOMEM, "out of memory");
}
