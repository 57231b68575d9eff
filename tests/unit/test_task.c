/* test_task.c - message bodies into tasks: bare paths, JSON, ids, bounds. */
#include "queue/task.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static mb_status parse(const char *body, const char *root, mb_task *t, mb_err *e)
{
    memset(t, 0, sizeof *t);
    return mb_task_parse(body, strlen(body), root, t, e);
}

static void test_ids(void)
{
    char longid[MB_TASK_ID_MAX + 2];

    ok(mb_task_id_valid("flights-2024_01.a"), "letters, digits, - _ . make an id");
    ok(!mb_task_id_valid(""), "an empty id is refused");
    ok(!mb_task_id_valid(".hidden"), "an id starting with '.' is refused");
    ok(!mb_task_id_valid("a/b") && !mb_task_id_valid("a b") && !mb_task_id_valid("a\nb"),
       "slashes, blanks and newlines are refused");
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    ok(!mb_task_id_valid(longid), "an id of %d characters is refused", MB_TASK_ID_MAX + 1);
    longid[MB_TASK_ID_MAX] = '\0';
    ok(mb_task_id_valid(longid), "an id of %d characters is taken", MB_TASK_ID_MAX);
}

static void test_bodies(void)
{
    mb_task t, u;
    mb_err e;

    ok(parse("/data/a.csv", NULL, &t, &e) == MB_OK, "a bare absolute path");
    is_str(t.input, "/data/a.csv", "the path is the input");
    ok(mb_task_id_valid(t.id) && strlen(t.id) == 32, "the id is a 32-digit digest");
    ok(parse("/data/a.csv", NULL, &u, &e) == MB_OK && strcmp(t.id, u.id) == 0,
       "the same body gives the same task id");
    mb_task_fini(&u);
    ok(parse("/data/b.csv", NULL, &u, &e) == MB_OK && strcmp(t.id, u.id) != 0,
       "another body gives another task id");
    mb_task_fini(&u);
    mb_task_fini(&t);
    ok(t.input == NULL, "mb_task_fini clears the input");

    ok(parse("a.csv", "/root", &t, &e) == MB_OK, "a relative path");
    is_str(t.input, "/root/a.csv", "relative paths are resolved against the data root");
    mb_task_fini(&t);
    ok(parse("file:///x/y.csv", NULL, &t, &e) == MB_OK, "a file:// URL");
    is_str(t.input, "/x/y.csv", "file:// is stripped");
    mb_task_fini(&t);

    ok(parse("{\"input\": \"/d/c.csv\", \"id\": \"my-task\", \"other\": 1}", NULL, &t, &e) ==
           MB_OK, "a JSON body with input and id; other members are ignored");
    is_str(t.id, "my-task", "the JSON id is the task id");
    is_str(t.input, "/d/c.csv", "the JSON input is the input");
    mb_task_fini(&t);

    ok(parse("http://x", NULL, &t, &e) == MB_EDATA, "a short http URL is refused");
    ok(strstr(e.msg, "is a URL") != NULL, "... as a URL: %s", e.msg);
    ok(parse("https://acct.blob.core.windows.net/c/x.csv", NULL, &t, &e) == MB_EDATA,
       "an https URL is refused (not a path on shared storage)");
    ok(parse("", NULL, &t, &e) == MB_EDATA, "an empty body is refused");
    ok(parse("/a\nb", NULL, &t, &e) == MB_EDATA, "a path with a newline is refused");
    ok(parse("{\"input\": 7}", NULL, &t, &e) == MB_EDATA, "a JSON input that is no string");
    ok(parse("{\"id\": \"x\"}", NULL, &t, &e) == MB_EDATA, "JSON without input");
    ok(parse("{\"input\": \"/a\", \"id\": \"../etc\"}", NULL, &t, &e) == MB_EDATA,
       "a JSON id outside the alphabet is refused");
    ok(parse("{\"input\": \"/a\", \"input\": \"/b\"}", NULL, &t, &e) == MB_EDATA,
       "duplicate JSON keys are refused");
    ok(parse("{\"input\": \"/a\"", NULL, &t, &e) == MB_EDATA, "truncated JSON is refused");
}

static void test_body_of(void)
{
    char dir[] = "/tmp/mbtask.XXXXXX", path[64], *body = NULL;
    mb_task t;
    mb_err e;
    FILE *f;

    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/f.csv", dir);
    f = fopen(path, "w");
    fputs("k,v\n", f);
    fclose(f);
    ok(mb_task_body(path, NULL, &body, &e) == MB_OK, "the body of an existing file");
    is_str(body, path, "is its absolute path");
    free(body);
    body = NULL;
    ok(mb_task_body(path, "t1", &body, &e) == MB_OK && strstr(body, "\"id\":\"t1\"") &&
           strstr(body, "\"input\":"), "with --id: JSON with input and id");
    ok(body && parse(body, NULL, &t, &e) == MB_OK && strcmp(t.id, "t1") == 0,
       "and it parses back to that id");
    mb_task_fini(&t);
    free(body);
    body = NULL;
    ok(mb_task_body(path, "bad/id", &body, &e) == MB_EUSAGE, "an invalid --id is a usage error");
    ok(mb_task_body(dir, NULL, &body, &e) == MB_ENOENT, "a directory is not an input (66)");
    snprintf(path, sizeof path, "%s/missing.csv", dir);
    ok(mb_task_body(path, NULL, &body, &e) == MB_ENOENT, "a missing file is MB_ENOENT");
    snprintf(path, sizeof path, "%s/f.csv", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_ids();
    test_bodies();
    test_body_of();
    return tap_done();
}
