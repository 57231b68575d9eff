/* fuzz_task.c - libFuzzer harness: queue message bodies into tasks (task.c). */
/*
 * Input: a byte choosing the data root, then the message body. Properties:
 *  - mb_task_parse either fails with MB_EDATA and a message, leaving no
 *    input behind, or gives a task whose id passes mb_task_id_valid (so it
 *    is safe as a file name) and whose input is a path without NUL or
 *    newline, of bounded length, under the data root unless absolute;
 *  - a body without an explicit id gets the digest id, the same for the
 *    same bytes;
 *  - a JSON body written by jansson from the parsed input and id parses
 *    back to the same task (unless the input still starts with file://,
 *    which a second reading strips: only a body "file://file://..." does
 *    that, and mb_task_body never writes one).
 */
#include "queue/task.h"
#include "fuzz.h"

#include <jansson.h>

static const char *const ROOTS[] = {NULL, "", "/data", "/shared/in/"};

static void check_task(const mb_task *t, const char *root)
{
    size_t rl = root ? strlen(root) : 0, n;

    FZ_CHECK(mb_task_id_valid(t->id), "task id '%s' is not valid", t->id);
    FZ_CHECK(t->input != NULL, "a task without input");
    n = strlen(t->input);
    FZ_CHECK(n > 0 && !strchr(t->input, '\n'), "input '%s'", t->input);
    FZ_CHECK(n <= (size_t)MB_INPUT_MAX + rl + 1, "input of %zu bytes", n);
    FZ_CHECK(strncmp(t->input, "http://", 7) != 0 && strncmp(t->input, "https://", 8) != 0,
             "a URL taken as input: %s", t->input);
    if (rl && t->input[0] != '/')
        fz_fail("a relative input not under the root: %s", t->input);
}

static void check_round_trip(const mb_task *t, const char *root)
{
    json_t *o = json_pack("{s:s, s:s}", "input", t->input, "id", t->id);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    mb_task u;
    mb_err e;

    FZ_CHECK(body != NULL, "jansson could not write the task back");
    FZ_CHECK(mb_task_parse(body, strlen(body), root, &u, &e) == MB_OK,
             "the task written back does not parse: %s", e.msg);
    FZ_CHECK(strcmp(u.id, t->id) == 0, "id '%s' reads back as '%s'", t->id, u.id);
    FZ_CHECK(strcmp(u.input, t->input) == 0, "input '%s' reads back as '%s'", t->input,
             u.input);
    mb_task_fini(&u);
    free(body);
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    const char *root = ROOTS[fz_u8(&in) % MB_ARRAY_LEN(ROOTS)];
    const uint8_t *p;
    size_t len;
    char *body;
    mb_task t, t2;
    json_t *js;
    mb_err e;
    mb_status st;

    p = fz_bytes(&in, in.n, &len);
    body = fz_copy(p, len, 0);
    memset(&e, 0, sizeof e);
    st = mb_task_parse(body, len, root, &t, &e);
    if (st != MB_OK) {
        FZ_CHECK(st == MB_EDATA, "task parse: status %d", (int)st);
        FZ_CHECK(e.msg[0] != '\0', "an error without a message");
        FZ_CHECK(t.input == NULL, "a failed parse left an input behind");
        mb_task_fini(&t);
        free(body);
        return 0;
    }
    check_task(&t, root);
    FZ_CHECK(mb_task_parse(body, len, root, &t2, &e) == MB_OK && strcmp(t.id, t2.id) == 0 &&
                 strcmp(t.input, t2.input) == 0,
             "the same body gives another task");
    mb_task_fini(&t2);
    if (strncmp(t.input, "file://", 7) != 0 && (js = json_string(t.input)) != NULL) {
        json_decref(js); /* UTF-8, so jansson can write it */
        check_round_trip(&t, root);
    }
    mb_task_fini(&t);
    mb_task_fini(NULL);
    free(body);
    return 0;
}
