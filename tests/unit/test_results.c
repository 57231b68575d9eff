/* test_results.c - TAP tests of the results module as a plain process,
 * over result files of the --group-by/--agg layout that mpibatch wrote up
 * to 172b1a9 (tests/unit/data/results-agg; no mpibatch writes them now,
 * `results` still reads them): read back a good result; refuse truncated
 * files, files whose checksum differs from the ledger entry, and files
 * with a correct checksum but a wrong rank, wrong dims or nil strings (made
 * here with HDF5 itself, a test fixture: the program's own HDF5 code stays
 * in results.c and ckpt.c); the redelivery check (mb_results_check);
 * poison records; the sweep of dead writers' temporaries. It does not run
 * `mpibatch run` (tests/mpi/86-88 do); run from the top of the tree. */
#include "base/digest.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "core/results.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <jansson.h>
#include <math.h>
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

/* The stored results (written by 172b1a9's mb_results_commit). */
#define FIXTURES "tests/unit/data/results-agg"

/* Copies task `task` of fixture directory `fixture` (its .h5, .csv and
 * ledger entry) into OUT, as a commit of it would have left them. */
static mb_status install(const char *fixture, const char *task, const char *out)
{
    char cmd[4 * PATH_BUF];
    mb_err err;
    mb_status st = mb_results_prepare(out, &err);

    if (st != MB_OK) {
        printf("# prepare: %s\n", err.msg);
        return st;
    }
    snprintf(cmd, sizeof cmd, "cp '%s/%s/%s.h5' '%s/%s/%s.csv' '%s/' && "
             "cp '%s/%s/.ledger/%s.json' '%s/.ledger/'", FIXTURES, fixture, task, FIXTURES,
             fixture, task, out, FIXTURES, fixture, task, out);
    if (system(cmd) != 0) {
        printf("# cannot copy %s/%s/%s (run from the top of the tree)\n", FIXTURES, fixture,
               task);
        return MB_EIO;
    }
    return MB_OK;
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

    ok(install("good", TASK, out) == MB_OK, "a stored result of count(*), sum(v), max(v)");
    s = print(out, 1, NULL, &st, &err);
    is_str(s, "k,count(*),sum(v),max(v)\na,2,3.0,2.0\nb,1,10.0,10.0\nc,1,-3.5,-3.5\n",
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
    ok(install("long", TASK, out) == MB_OK, "a stored result with a long (variable-length) key");
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

/* ---- the values table and the per-column states --------------------- */

#define VTASK "task-v1"
#define VAGG_N 8

/* One row of /values, read by member name as a user of the HDF5 API would. */
typedef struct vrow {
    char k[2];
    int64_t count_star, count_i;
    double sum_i;
    int64_t min_n;
    double mean_f, var_f;
    char *max_big;
    double sum_i2;
} vrow;

static hid_t vrow_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(vrow)), k = H5Tcopy(H5T_C_S1);
    hid_t v = H5Tcopy(H5T_C_S1);

    H5Tset_size(k, 2);
    H5Tset_cset(k, H5T_CSET_UTF8);
    H5Tset_size(v, H5T_VARIABLE);
    H5Tset_cset(v, H5T_CSET_UTF8);
    H5Tinsert(t, "k", HOFFSET(vrow, k), k);
    H5Tinsert(t, "count(*)", HOFFSET(vrow, count_star), H5T_NATIVE_INT64);
    H5Tinsert(t, "count(i)", HOFFSET(vrow, count_i), H5T_NATIVE_INT64);
    H5Tinsert(t, "sum(i)", HOFFSET(vrow, sum_i), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "min(n)", HOFFSET(vrow, min_n), H5T_NATIVE_INT64);
    H5Tinsert(t, "mean(f)", HOFFSET(vrow, mean_f), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "var(f)", HOFFSET(vrow, var_f), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "max(big)", HOFFSET(vrow, max_big), v);
    H5Tinsert(t, "sum(i) #2", HOFFSET(vrow, sum_i2), H5T_NATIVE_DOUBLE);
    H5Tclose(k);
    H5Tclose(v);
    return t;
}

/* The class and size of member `name` of the stored type t. */
static int member_is(hid_t t, const char *name, H5T_class_t cls, int vlen)
{
    int i = H5Tget_member_index(t, name);
    hid_t m = i >= 0 ? H5Tget_member_type(t, (unsigned)i) : -1;
    int same = m >= 0 && H5Tget_class(m) == cls &&
               (cls != H5T_STRING || (H5Tis_variable_str(m) > 0) == vlen) &&
               (cls == H5T_STRING || H5Tget_size(m) == 8);

    if (m >= 0)
        H5Tclose(m);
    return same;
}

/* A double field against its CSV cell: NaN for an empty cell, else the
 * double the cell reads as (an exact integer cell, "3", is the double 3). */
static int same_double(double d, const char *cell)
{
    char *end;
    if (!*cell)
        return isnan(d);
    return !isnan(d) && strtod(cell, &end) == d && *end == '\0';
}

static int same_i64(int64_t v, const char *cell)
{
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)v);
    return strcmp(t, cell) == 0;
}

/* Splits a CSV line without quotes into at most n cells (in place). */
static size_t split_csv(char *line, char **cell, size_t n)
{
    size_t i = 0;
    cell[i++] = line;
    for (char *p = line; *p && i < n; p++)
        if (*p == ',') {
            *p = '\0';
            cell[i++] = p + 1;
        }
    return i;
}

static void check_values(hid_t f, const char *csv)
{
    char *text = NULL, *line, *next, *cell[16];
    hsize_t d[1] = {0};
    hid_t ds = H5Dopen2(f, "values", H5P_DEFAULT), ft = ds >= 0 ? H5Dget_type(ds) : -1;
    hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1, mt = vrow_type();
    vrow v[3];
    size_t len = 0, r = 0, bad = 0;
    FILE *in = fopen(csv, "r");

    ok(ft >= 0 && H5Tget_class(ft) == H5T_COMPOUND && H5Tget_nmembers(ft) == 1 + VAGG_N &&
           H5Sget_simple_extent_dims(sp, d, NULL) == 1 && d[0] == 3,
       "/values is a compound table of one row per group, one field per column of the CSV");
    ok(ft >= 0 && member_is(ft, "k", H5T_STRING, 0) &&
           member_is(ft, "count(*)", H5T_INTEGER, 0) &&
           member_is(ft, "count(i)", H5T_INTEGER, 0) && member_is(ft, "min(n)", H5T_INTEGER, 0) &&
           member_is(ft, "sum(i)", H5T_FLOAT, 0) && member_is(ft, "mean(f)", H5T_FLOAT, 0) &&
           member_is(ft, "var(f)", H5T_FLOAT, 0) && member_is(ft, "max(big)", H5T_STRING, 1) &&
           member_is(ft, "sum(i) #2", H5T_FLOAT, 0),
       "typed: int64 counts and integers, float64 for means, variances and integers with "
       "NULLs, strings for keys and integers beyond int64; a repeated name gets ' #2'");
    memset(v, 0, sizeof v);
    ok(ds >= 0 && d[0] == 3 && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0,
       "/values reads by member name");
    if (in) {
        text = malloc(4096);
        len = text ? fread(text, 1, 4095, in) : 0;
        fclose(in);
    }
    if (text)
        text[len] = '\0';
    /* the header, then one line per group in the same order */
    line = text ? strchr(text, '\n') : NULL;
    for (; line && line[1] && r < 3; line = next) {
        vrow *x = &v[r++];
        line++;
        if ((next = strchr(line, '\n')) != NULL)
            *next = '\0';
        if (split_csv(line, cell, 16) != 1 + VAGG_N || strcmp(x->k, cell[0]) != 0 ||
            !same_i64(x->count_star, cell[1]) || !same_i64(x->count_i, cell[2]) ||
            !same_double(x->sum_i, cell[3]) || !same_i64(x->min_n, cell[4]) ||
            !same_double(x->mean_f, cell[5]) || !same_double(x->var_f, cell[6]) ||
            !x->max_big || strcmp(x->max_big, cell[7]) != 0 || !same_double(x->sum_i2, cell[8]))
            bad++;
    }
    ok(r == 3 && bad == 0, "every value equals its cell in the CSV result (%zu of %zu rows "
                           "differ)", bad, r);
    ok(strcmp(v[1].max_big, "3") == 0 && isnan(v[1].sum_i) && v[1].count_i == 0 &&
           v[0].min_n == 4 && v[0].mean_f == 1.875 && v[2].count_star == 1 &&
           strcmp(v[0].max_big, "1000000000000000000000000000000") == 0 && isnan(v[2].var_f),
       "spot checks: NULL is NaN, the exact integer is its digits");
    if (ds >= 0 && d[0] == 3)
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
    free(text);
    H5Tclose(mt);
    if (ft >= 0)
        H5Tclose(ft);
    if (sp >= 0)
        H5Sclose(sp);
    if (ds >= 0)
        H5Dclose(ds);
}

/* Which of sum, sumsq, min, max /states/C holds, as "s q m M" letters. */
static void state_members(hid_t f, int c, char *out)
{
    char name[32];
    hid_t ds, t;
    size_t n = 0;

    snprintf(name, sizeof name, "states/%d", c);
    ds = H5Dopen2(f, name, H5P_DEFAULT);
    t = ds >= 0 ? H5Dget_type(ds) : -1;
    if (t >= 0 && H5Tget_member_index(t, "n") >= 0 && H5Tget_member_index(t, "scale") >= 0)
        out[n++] = 'h';
    if (t >= 0 && H5Tget_member_index(t, "sum") >= 0)
        out[n++] = 's';
    if (t >= 0 && H5Tget_member_index(t, "sumsq") >= 0)
        out[n++] = 'q';
    if (t >= 0 && H5Tget_member_index(t, "min") >= 0)
        out[n++] = 'm';
    if (t >= 0 && H5Tget_member_index(t, "max") >= 0)
        out[n++] = 'M';
    out[n] = '\0';
    if (t >= 0)
        H5Tclose(t);
    if (ds >= 0)
        H5Dclose(ds);
}

/* Rewrites OUT/VTASK.h5 as format 2 wrote it: one [G][ncol] /states of
 * every member any column uses, no /values; then reseals the ledger. */
static void make_format2(const char *out)
{
    char h5[PATH_BUF], path[PATH_BUF], hex[MB_SHA256_HEX], name[32];
    hsize_t d2[2] = {3, 4}, d1 = 3, a4 = 4, a8 = 8, start[2] = {0, 0}, count[2] = {3, 1};
    mb_numstate st[3][4];
    hid_t f, full, arr4, arr8, ds, sp, ms, a, vs = H5Tcopy(H5T_C_S1), sc = H5Screate(H5S_SCALAR);
    const char *fmt = "mpibatch-result-2";
    uint64_t size = 0;
    json_t *o, *fo;
    mb_err err;

    memset(st, 0, sizeof st);
    snprintf(h5, sizeof h5, "%s/%s.h5", out, VTASK);
    f = H5Fopen(h5, H5F_ACC_RDWR, H5P_DEFAULT);
    arr4 = H5Tarray_create2(H5T_NATIVE_UINT64, 1, &a4);
    arr8 = H5Tarray_create2(H5T_NATIVE_UINT64, 1, &a8);
    full = H5Tcreate(H5T_COMPOUND, sizeof(mb_numstate));
    H5Tinsert(full, "n", HOFFSET(mb_numstate, n), H5T_NATIVE_INT64);
    H5Tinsert(full, "scale", HOFFSET(mb_numstate, scale), H5T_NATIVE_INT32);
    H5Tinsert(full, "nonint", HOFFSET(mb_numstate, nonint), H5T_NATIVE_UINT32);
    H5Tinsert(full, "sum", HOFFSET(mb_numstate, sum), arr4);
    H5Tinsert(full, "sumsq", HOFFSET(mb_numstate, sumsq), arr8);
    H5Tinsert(full, "min", HOFFSET(mb_numstate, min), arr4);
    H5Tinsert(full, "max", HOFFSET(mb_numstate, max), arr4);
    for (int c = 0; c < 4; c++) {
        /* the stored members only, at their places in mb_numstate */
        hid_t ft, mt = H5Tcreate(H5T_COMPOUND, sizeof(mb_numstate));
        snprintf(name, sizeof name, "states/%d", c);
        ds = H5Dopen2(f, name, H5P_DEFAULT);
        ft = H5Dget_type(ds);
        for (int m = 0; m < H5Tget_nmembers(full); m++) {
            char *mn = H5Tget_member_name(full, (unsigned)m);
            hid_t mty = H5Tget_member_type(full, (unsigned)m);
            if (H5Tget_member_index(ft, mn) >= 0)
                H5Tinsert(mt, mn, H5Tget_member_offset(full, (unsigned)m), mty);
            H5Tclose(mty);
            H5free_memory(mn);
        }
        start[1] = (hsize_t)c;
        ms = H5Screate_simple(2, d2, NULL);
        H5Sselect_hyperslab(ms, H5S_SELECT_SET, start, NULL, count, NULL);
        H5Dread(ds, mt, ms, H5S_ALL, H5P_DEFAULT, st);
        H5Sclose(ms);
        H5Tclose(ft);
        H5Tclose(mt);
        H5Dclose(ds);
    }
    (void)d1;
    H5Ldelete(f, "states", H5P_DEFAULT);
    H5Ldelete(f, "values", H5P_DEFAULT);
    sp = H5Screate_simple(2, d2, NULL);
    ds = H5Dcreate2(f, "states", full, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, full, H5S_ALL, H5S_ALL, H5P_DEFAULT, st);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Tset_size(vs, H5T_VARIABLE);
    H5Tset_cset(vs, H5T_CSET_UTF8);
    H5Adelete(f, "format");
    a = H5Acreate2(f, "format", vs, sc, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, vs, &fmt);
    H5Aclose(a);
    H5Tclose(full);
    H5Tclose(arr4);
    H5Tclose(arr8);
    H5Tclose(vs);
    H5Sclose(sc);
    H5Fclose(f);
    snprintf(path, sizeof path, "%s/.ledger/%s.json", out, VTASK);
    mb_sha256_file(h5, &size, hex, &err);
    o = json_load_file(path, 0, NULL);
    fo = json_object_get(json_object_get(o, "files"), "h5");
    json_object_set_new(fo, "size", json_integer((json_int_t)size));
    json_object_set_new(fo, "sha256", json_string(hex));
    json_dump_file(o, path, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
}

static void test_values(const char *base)
{
    static const char *one =
        "k,count(*),count(i),sum(i),min(n),mean(f),var(f),max(big),sum(i)\n"
        "a,2,2,3,4,1.875,0.28125,1000000000000000000000000000000,3\n"
        "b,1,0,,-6,,,3,\n"
        "c,1,1,7,8,-1000.0,,,7\n";
    static const char *two =
        "k,count(*),count(i),sum(i),min(n),mean(f),var(f),max(big),sum(i)\n"
        "a,4,4,6,4,1.875,0.1875,1000000000000000000000000000000,6\n"
        "b,2,0,,-6,,,3,\n"
        "c,2,2,14,8,-1000.0,0.0,,14\n";
    char out[PATH_BUF], h5[PATH_BUF], csv[PATH_BUF], m[4][8], *s;
    mb_status st;
    mb_err err;
    hid_t f;

    snprintf(out, sizeof out, "%s/values", base);
    snprintf(h5, sizeof h5, "%s/%s.h5", out, VTASK);
    snprintf(csv, sizeof csv, "%s/%s.csv", out, VTASK);
    ok(install("values", VTASK, out) == MB_OK, "a stored result over integer, decimal and huge "
                                               "columns");
    s = print(out, 1, NULL, &st, &err);
    is_str(s, one, "it reads back");
    free(s);
    f = H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT);
    ok(f >= 0, "the result file opens with the HDF5 API");
    if (f < 0)
        return;
    check_values(f, csv);
    for (int c = 0; c < 4; c++)
        state_members(f, c, m[c]);
    H5Fclose(f);
    /* i: count(i), sum(i); n: min(n); f: mean, var; big: max */
    ok(strcmp(m[0], "hs") == 0 && strcmp(m[1], "hmM") == 0 && strcmp(m[2], "hsq") == 0 &&
           strcmp(m[3], "hmM") == 0,
       "each column's states hold only the members its aggregates use (%s %s %s %s)", m[0],
       m[1], m[2], m[3]);

    ok(install("values", "task-v2", out) == MB_OK, "the same result as a second task");
    s = print(out, 1, NULL, &st, &err);
    is_str(s, two, "results --merge adds them up from the requested members alone");
    free(s);

    make_format2(out);
    s = print(out, 0, NULL, &st, &err);
    ok(st == MB_OK && s && strstr(s, "task-v1,b,1,0,,-6,,,3,\n"),
       "a file of format mpibatch-result-2 (no /values, one /states) is still read (%s)",
       st == MB_OK ? "ok" : err.msg);
    free(s);
    s = print(out, 1, NULL, &st, &err);
    is_str(s, two, "and merges with one of format 3");
    free(s);
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
    test_values(root);
    if (keep)
        printf("# kept %s\n", root);
    else
        rm_rf(root);
    return tap_done();
}
