/* test_results.c - TAP tests of the results module as a plain process:
 * commit and read back a good result; refuse truncated files, files whose
 * checksum differs from the ledger entry, and files with a correct checksum
 * but a wrong rank, wrong dims or nil strings (made here with HDF5 itself,
 * a test fixture: the program's own HDF5 code stays in results.c and
 * ckpt.c); the redelivery check (mb_results_check); poison records; the
 * sweep of dead writers' temporaries. It does not run `mpibatch run`
 * (tests/mpi/86-88 do). */
#include "csv/chunk.h"
#include "base/digest.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "core/results.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TASK "task-r1"
#define PATH_BUF 4300

static char root[256];

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* A plan grouping by k with the aggregates in agg, separated by ';'. */
static void make_plan(mb_plan *p, const char *agg)
{
    char *group[] = {"k"};
    char *aggs[3], buf[256], *at = buf;
    size_t n = 0;
    mb_err err;

    snprintf(buf, sizeof buf, "%s", agg);
    while (at && n < 3) {
        char *semi = strchr(at, ';');
        aggs[n++] = at;
        if (semi)
            *semi++ = '\0';
        at = semi;
    }
    if (mb_plan_from_lists(p, group, 1, aggs, n, &err) != MB_OK)
        printf("# plan: %s\n", err.msg);
}

/* Groups a=1+2, b=10, c=-3.5 (or `long_key` as a fourth group). */
static void make_groups(const mb_plan *p, mb_groups *g, const char *long_key)
{
    const char *keys[] = {"a", "a", "b", "c", long_key, ""};
    const char *vals[] = {"1", "2", "10", "-3.5", "7", "8"};
    size_t n = long_key ? 6 : 4;
    mb_err err;

    mb_groups_init(g, p->needs, p->ncol, SIZE_MAX);
    for (size_t i = 0; i < n; i++) {
        char key[200];
        uint32_t len = (uint32_t)strlen(keys[i]);
        size_t gi;
        memcpy(key, &len, 4);
        memcpy(key + 4, keys[i], len);
        mb_groups_get(g, key, len + 4, mb_groups_hash(key, len + 4), &gi, &err);
        mb_groups_rec(g, gi)->rows++;
        for (size_t c = 0; c < p->ncol; c++)
            mb_groups_add_text(g, gi, c, vals[i], strlen(vals[i]), &err);
    }
}

static mb_status commit_to(const char *out, const char *agg, const char *long_key)
{
    mb_plan p;
    mb_groups g;
    mb_task_info t;
    mb_input_id id = {16, 1700000000, 123456789, 42, 7};
    mb_err err;
    mb_status st;

    make_plan(&p, agg);
    make_groups(&p, &g, long_key);
    memset(&t, 0, sizeof t);
    t.task_id = TASK;
    t.input = "/data/in.csv";
    t.message_id = "msg-1";
    t.rows = long_key ? 6 : 4;
    t.ranks = 1;
    t.input_id = &id;
    st = mb_results_prepare(out, &err);
    if (st == MB_OK)
        st = mb_results_commit(out, &p, &g, &t, &err);
    if (st != MB_OK)
        printf("# commit: %s\n", err.msg);
    mb_groups_fini(&g);
    mb_plan_fini(&p);
    return st;
}

/* `results OUT [--merge]` into a string; the status and message in *st and err. */
static char *print(const char *out, int merge, const char *format, mb_status *st, mb_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    mb_err_clear(err);
    *st = mb_results_print(out, merge, format, f, err);
    fclose(f);
    return buf;
}

static void copy_dir(const char *from, const char *to)
{
    char cmd[700];
    rm_rf(to);
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", from, to);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot copy %s\n", from);
}

/* Rewrites the ledger entry so that it holds the h5 file's present size and
 * SHA-256: a damaged file that its checksum cannot catch. */
static void reseal(const char *out)
{
    char path[PATH_BUF], h5[PATH_BUF], hex[MB_SHA256_HEX];
    uint64_t size = 0;
    json_t *o, *f;
    mb_err err;

    snprintf(path, sizeof path, "%s/.ledger/%s.json", out, TASK);
    snprintf(h5, sizeof h5, "%s/%s.h5", out, TASK);
    mb_sha256_file(h5, &size, hex, &err);
    o = json_load_file(path, 0, NULL);
    f = json_object_get(json_object_get(o, "files"), "h5");
    json_object_set_new(f, "size", json_integer((json_int_t)size));
    json_object_set_new(f, "sha256", json_string(hex));
    json_dump_file(o, path, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
}

/* Replaces dataset `name` of OUT/TASK.h5 by one of the given rank (all
 * dims d0), type and data, then reseals the ledger entry. */
static void replace_dset(const char *out, const char *name, hid_t type, int rank, hsize_t d0,
                         const void *data)
{
    char h5[PATH_BUF];
    hsize_t dims[32];
    hid_t f, sp, ds;

    for (int i = 0; i < 32; i++)
        dims[i] = i == 0 ? d0 : 1;
    snprintf(h5, sizeof h5, "%s/%s.h5", out, TASK);
    f = H5Fopen(h5, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, name, H5P_DEFAULT);
    sp = H5Screate_simple(rank, dims, NULL);
    ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (data)
        H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
    reseal(out);
}

static int mentions(const mb_err *e, const char *what)
{
    return strstr(e->msg, what) != NULL;
}

static void test_good(const char *out)
{
    mb_status st;
    mb_err err;
    char *s;

    ok(commit_to(out, "count(*);sum(v);max(v)", NULL) == MB_OK, "a result commits");
    s = print(out, 1, NULL, &st, &err);
    is_str(s, "k,count(*),sum(v),max(v)\na,2,3,2\nb,1,10,10\nc,1,-3.5,-3.5\n",
           "the merged table reads back");
    free(s);
    s = print(out, 0, "json", &st, &err);
    ok(st == MB_OK && strstr(s, "{\"task\":\"task-r1\",\"k\":\"c\",\"count(*)\":1,\"sum(v)\":-3.5,"
                                "\"max(v)\":-3.5}") != NULL, "per-task JSON reads back");
    free(s);
}

static void test_long_keys(const char *base)
{
    char out[PATH_BUF], longk[100];
    mb_status st;
    mb_err err;
    char *s;

    memset(longk, 'x', 80);
    longk[80] = '\0';
    snprintf(out, sizeof out, "%s/long", base);
    ok(commit_to(out, "count(*)", longk) == MB_OK, "a result with a long (variable-length) key commits");
    s = print(out, 1, NULL, &st, &err);
    ok(st == MB_OK && s && strstr(s, longk) != NULL && strncmp(s, "k,count(*)\n,1\n", 14) == 0,
       "variable-length keys read back, an empty one too (%s)", err.msg);
    free(s);
}

/* One damaged copy of the good OUT: the print must fail with `code`, name
 * the file, and print nothing. */
static void expect_damaged(const char *out, mb_status code, const char *file_part,
                           const char *what)
{
    mb_status st;
    mb_err err;
    char *s = print(out, 1, NULL, &st, &err), kept[PATH_BUF];
    static int nkept;

    if (getenv("TEST_RESULTS_KEEP")) {     /* to try an older mpibatch on them */
        snprintf(kept, sizeof kept, "%s/kept-%02d", root, ++nkept);
        copy_dir(out, kept);
    }
    ok(st == code && mentions(&err, file_part) && mentions(&err, TASK) && s && !*s,
       "%s: refused naming the file and the task (%s)", what, err.msg);
    free(s);
    s = print(out, 0, "json", &st, &err);
    ok(st == code && s && !*s, "%s: --format json fails too and prints nothing", what);
    free(s);
}

static void test_damage(const char *good, const char *base)
{
    char out[PATH_BUF], p[PATH_BUF + 64];
    const char *nil[] = {NULL};
    int64_t rows32[1] = {4};
    hid_t vs;
    FILE *f;

    snprintf(out, sizeof out, "%s/damaged", base);

    copy_dir(good, out);
    snprintf(p, sizeof p, "%s/%s.h5", out, TASK);
    if (truncate(p, 1000) != 0)
        printf("# truncate: %s\n", strerror(errno));
    expect_damaged(out, MB_EDATA, ".h5", "truncated .h5");

    copy_dir(good, out);
    if ((f = fopen(p, "r+")) != NULL) {
        fseek(f, 2000, SEEK_SET);
        fputc(0x5a, f);
        fclose(f);
    }
    expect_damaged(out, MB_EDATA, "SHA-256", "one byte changed in the .h5");

    copy_dir(good, out);
    snprintf(p, sizeof p, "%s/%s.csv", out, TASK);
    if ((f = fopen(p, "a")) != NULL) {
        fputs("d,9,9,9\n", f);
        fclose(f);
    }
    expect_damaged(out, MB_EDATA, ".csv", "a row appended to the .csv");

    copy_dir(good, out);
    unlink(p);
    expect_damaged(out, MB_EIO, ".csv", "a missing .csv");

    copy_dir(good, out);
    replace_dset(out, "rows", H5T_NATIVE_INT64, 32, 1, rows32);
    expect_damaged(out, MB_EDATA, "rows", "/rows of rank 32 with a matching checksum");

    copy_dir(good, out);
    replace_dset(out, "rows", H5T_NATIVE_INT64, 1, 5, NULL);
    expect_damaged(out, MB_EDATA, "rows", "/rows with one group more than the ledger");

    copy_dir(good, out);
    replace_dset(out, "keys", H5T_NATIVE_INT64, 2, 3, NULL);
    expect_damaged(out, MB_EDATA, "keys", "/keys of the wrong type");

    copy_dir(good, out);
    replace_dset(out, "rows", H5T_NATIVE_INT64, 1, 3, (int64_t[]){2, 0, 1});
    expect_damaged(out, MB_EDATA, "no rows", "a group with no rows");

    copy_dir(good, out);
    replace_dset(out, "rows", H5T_NATIVE_INT64, 1, 3, (int64_t[]){2, 1, 2});
    expect_damaged(out, MB_EDATA, "row count differs from its ledger entry",
                   "row counts that do not add up to the ledger's");

    copy_dir(good, out);
    replace_dset(out, "rows", H5T_NATIVE_INT64, 1, 3, (int64_t[]){2, 1, 1});
    {
        /* the keys out of order: b, a, c */
        const char *k[] = {"b", "a", "c"};
        hid_t fs = H5Tcopy(H5T_C_S1);
        H5Tset_size(fs, H5T_VARIABLE);
        replace_dset(out, "keys", fs, 2, 3, k);
        H5Tclose(fs);
    }
    expect_damaged(out, MB_EDATA, "not sorted", "keys out of order");

    vs = H5Tcopy(H5T_C_S1);
    H5Tset_size(vs, H5T_VARIABLE);
    copy_dir(good, out);
    replace_dset(out, "group_by", vs, 1, 1, nil);
    expect_damaged(out, MB_EDATA, "group_by", "a nil string in /group_by");

    copy_dir(good, out);
    replace_dset(out, "aggregates", vs, 2, 3, NULL);
    expect_damaged(out, MB_EDATA, "aggregates", "/aggregates of rank 2");
    H5Tclose(vs);

    copy_dir(good, out);
    snprintf(p, sizeof p, "%s/.ledger/%s.json", out, TASK);
    if ((f = fopen(p, "w")) != NULL) {
        fputs("{\"task\":\"task-r1\",\"rows\":4", f);
        fclose(f);
    }
    expect_damaged(out, MB_EDATA, ".ledger", "a truncated ledger entry");
}

static void test_check(const char *out)
{
    mb_input_id same = {16, 1700000000, 123456789, 42, 7}, other = same;
    mb_commit_state cs;
    mb_status st;
    char fp[MB_SHA256_HEX], stale[PATH_BUF];
    mb_plan p;
    mb_err err;

    make_plan(&p, "count(*);sum(v);max(v)");
    snprintf(fp, sizeof fp, "%s", p.fingerprint);
    mb_plan_fini(&p);
    st = mb_results_check(out, "no-such-task", fp, &same, &cs, &err);
    ok(st == MB_OK && cs == MB_COMMIT_NONE, "check: an unknown task is not committed");
    st = mb_results_check(out, TASK, fp, &same, &cs, &err);
    ok(st == MB_OK && cs == MB_COMMIT_SAME, "check: same job, same input: acknowledge");
    st = mb_results_check(out, TASK, fp, NULL, &cs, &err);
    ok(st == MB_OK && cs == MB_COMMIT_SAME, "check: an input that cannot be opened: acknowledge");
    other.dev = 99;
    st = mb_results_check(out, TASK, fp, &other, &cs, &err);
    ok(st == MB_OK && cs == MB_COMMIT_SAME, "check: another device number alone is the same input");
    other = same;
    other.size = 100;
    other.mtime_ns++;
    st = mb_results_check(out, TASK, fp, &other, &cs, &err);
    ok(st == MB_EDATA && cs == MB_COMMIT_INPUT_CHANGED && mentions(&err, "/data/in.csv") &&
           mentions(&err, "size 16 -> 100") && mentions(&err, "new --id"),
       "check: a rewritten input is a data error saying what changed (%s)", err.msg);
    other = same;
    other.ino = 43;
    st = mb_results_check(out, TASK, fp, &other, &cs, &err);
    ok(cs == MB_COMMIT_INPUT_CHANGED && mentions(&err, "inode"), "check: another inode is another input");
    make_plan(&p, "count(*)");
    st = mb_results_check(out, TASK, p.fingerprint, &same, &cs, &err);
    ok(st == MB_EJOB && cs == MB_COMMIT_OTHER_JOB && mentions(&err, TASK) &&
           mentions(&err, out) && mentions(&err, fp) && mentions(&err, p.fingerprint),
       "check: another job is a job error naming task, OUT and both fingerprints");
    mb_plan_fini(&p);
    snprintf(stale, sizeof stale, "%s/.ledger/bad.json", out);
    mb_fs_write_atomic(stale, "{\"task\":", 8, &err);
    st = mb_results_check(out, "bad", fp, &same, &cs, &err);
    ok(st == MB_EDATA && cs == MB_COMMIT_DAMAGED && mentions(&err, "bad.json"),
       "check: an unreadable entry is reported as damaged");
    unlink(stale);
}

static void test_poison(const char *out)
{
    char p[PATH_BUF];
    mb_err err;

    ok(mb_results_note_poison(out, "t-poisoned", "msg-9", "bad.csv:3:1: oops", &err) == MB_OK,
       "note_poison records a task");
    snprintf(p, sizeof p, "%s/.poison/t-poisoned.json", out);
    ok(access(p, F_OK) == 0, "under OUT/.poison/TASK.json");
    {
        char log[PATH_BUF], *s, *text = NULL;
        size_t len = 0;
        mb_status st;
        int saved = dup(2), fd;
        snprintf(log, sizeof log, "%s/stderr", root);
        fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        fflush(stderr);
        dup2(fd, 2);
        s = print(out, 1, NULL, &st, &err);
        fflush(stderr);
        dup2(saved, 2);
        close(fd);
        close(saved);
        mb_fs_read_small(log, 65536, &text, &len, &err);
        ok(st == MB_OK && text &&
               strstr(text, "1 task(s) of this output ended in the poison area: t-poisoned "
                            "(reasons below; `mpibatch queue redrive` puts them back") &&
               strstr(text, "bad.csv:3:1: oops"),
           "results warns about the poisoned task on stderr");
        free(text);
        free(s);
    }
    mb_results_forget_poison(out, "t-poisoned");
    ok(access(p, F_OK) != 0, "forget_poison removes it");
}

static void test_sweep(const char *base)
{
    char out[PATH_BUF], host[256], dead[PATH_BUF + 300], live[PATH_BUF + 300],
        other[PATH_BUF + 300], tmp[PATH_BUF + 300];
    pid_t child = fork();
    mb_err err;
    FILE *f;

    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);          /* a pid that is surely dead now */
    snprintf(out, sizeof out, "%s/sweep", base);
    mb_fs_mkdirs(out, &err);
    gethostname(host, sizeof host);
    for (char *c = host; *c; c++)
        if (*c == '.' || *c == '/')
            *c = '_';
    snprintf(dead, sizeof dead, "%s/.t.h5.tmp.%s.%ld", out, host, (long)child);
    snprintf(live, sizeof live, "%s/.t.csv.tmp.%s.%ld", out, host, (long)getppid());
    snprintf(other, sizeof other, "%s/.t.h5.tmp.otherhost.%ld", out, (long)child);
    mb_fs_tmpname("/x/t.h5", tmp, sizeof tmp, &err);
    ok(strstr(tmp, host) != NULL, "temporary names carry the host (%s)", tmp);
    const char *files[] = {dead, live, other};
    for (int i = 0; i < 3; i++)
        if ((f = fopen(files[i], "w")) != NULL)
            fclose(f);
    ok(mb_results_prepare(out, &err) == MB_OK, "prepare");
    ok(access(dead, F_OK) != 0, "a dead writer's temporary is swept");
    ok(access(live, F_OK) == 0, "a live writer's temporary stays");
    ok(access(other, F_OK) == 0, "another host's temporary stays");
}

/* Aggregates a CSV file of `len` bytes of text grouped by k with one
 * chunker, as a rank does; the status, and the message in err. */
static mb_status chunk_file(const char *text, size_t len, mb_err *err)
{
    char path[PATH_BUF], *names[] = {"k", "v"};
    mb_plan p;
    mb_binding b;
    mb_chunker c;
    mb_groups g;
    uint64_t rows = 0;
    mb_status st;

    snprintf(path, sizeof path, "%s/keys.csv", root);
    mb_fs_write_file(path, text, len, err);
    make_plan(&p, "count(*);sum(v)");
    mb_plan_bind(&p, names, 2, &b, err);
    mb_groups_init(&g, p.needs, p.ncol, SIZE_MAX);
    st = mb_chunker_open(&c, &p, &b, path, 2, 1 << 20, err);
    if (st == MB_OK)        /* the records after the header "k,v\n" */
        st = mb_chunker_run(&c, 4, len, &g, &rows, err);
    mb_chunker_close(&c);
    mb_groups_fini(&g);
    mb_binding_fini(&b);
    mb_plan_fini(&p);
    return st;
}

#define TEXT(s) s, sizeof s - 1     /* a literal that may hold NUL bytes */

static void test_keys(void)
{
    static const struct {
        const char *text;
        size_t len;
        const char *want, *what;
    } cases[] = {
        {TEXT("k,v\na,1\nb,2\nx\0y,3\n"), "keys.csv:4:2: group column 'k': a NUL byte",
         "a NUL byte in a key"},
        {TEXT("k,v\na,1\n\"q\xe9\",2\n"),
         "keys.csv:3:3: group column 'k': a group key that is not valid UTF-8",
         "Latin-1 in a quoted key"},
        {TEXT("k,v\nab\xc0\xaf,1\n"), "keys.csv:2:3:", "an overlong UTF-8 form"},
        {TEXT("k,v\n\xed\xa0\x80,1\n"), "keys.csv:2:1:", "a UTF-16 surrogate"},
        {TEXT("k,v\n\xe2\x82,1\n"), "keys.csv:2:1:", "a truncated sequence"},
        {TEXT("k,v\na,1\na,2\nb\xff,3\n"), "keys.csv:4:2:", "an invalid byte in a later new group"},
    };
    mb_err err;
    mb_status st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st = chunk_file(cases[i].text, cases[i].len, &err);
        ok(st == MB_EDATA && mentions(&err, cases[i].want),
           "%s: a data error at file:line:column (%s)", cases[i].what, err.msg);
    }
    st = chunk_file(TEXT("k,v\n\xc3\xa4,1\n\"\xe2\x82\xacx\"\"\",2\n\xf0\x9f\x98\x80,3\n"), &err);
    ok(st == MB_OK, "valid UTF-8 keys (2, 3 and 4 bytes, quoted and escaped) pass");
}

int main(void)
{
    char good[PATH_BUF];
    const char *keep = getenv("TEST_RESULTS_KEEP");

    snprintf(root, sizeof root, "/tmp/test_results.XXXXXX");
    if (!mkdtemp(root))
        return 1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    mb_log_init(-1, MB_LOG_WARN);     /* the sweep's info line is not TAP */
    snprintf(good, sizeof good, "%s/good", root);
    test_good(good);
    test_long_keys(root);
    test_check(good);
    test_damage(good, root);
    test_poison(good);
    test_sweep(root);
    test_keys();
    if (keep)
        printf("# kept %s\n", root);
    else
        rm_rf(root);
    return tap_done();
}
