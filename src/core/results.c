/* results.c - result tables (CSV), the answers and mergeable states
 * (HDF5), the ledger and the `results` command. Reads and writes files only
 * from rank 0 or plain processes; knows nothing of MPI or queues.
 *
 * The formats (OUT/TASK.h5 "mpibatch-result-3", OUT/TASK.csv, the ledger
 * "mpibatch-ledger-2", OUT/.poison) are documented in
 * docs/result-format.md; keep it in step with this file. A commit writes a
 * query's layout (kind "sql"); the --group-by/--agg layout (/group_by,
 * /values, /states/C), which mpibatch wrote until --agg ran as a query, is
 * only read. Tables are written in blocks of H5_BLOCK rows, into disk space
 * reserved beforehand (see h5_write_sql). The checksums in the ledger are
 * verified before a result file is opened, the counts after it is read. */
#include "core/results.h"

#include "base/digest.h"
#include "base/fsutil.h"
#include "base/log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LEDGER ".ledger"
#define POISON ".poison"
#define LEDGER_FORMAT "mpibatch-ledger-2"
/* The result format before /values, whose /states held zeros for members
 * a column did not use: still read. */
#define RESULT_FORMAT_2 "mpibatch-result-2"
#define LEDGER_MAX (256 * 1024)
#define PATH_CAP 4096
#define CELL_CAP 512

mb_status mb_results_prepare(const char *out, mb_err *err)
{
    char p[PATH_CAP];
    size_t n;
    mb_status st;

    snprintf(p, sizeof p, "%s/%s", out, LEDGER);
    if ((st = mb_fs_mkdirs(p, err)) != MB_OK)
        return st;
    /* A writer killed mid-commit leaves its temporaries; nothing reads
     * them, but on shared storage they would pile up forever. */
    n = mb_fs_sweep_temps(out) + mb_fs_sweep_temps(p);
    snprintf(p, sizeof p, "%s/%s", out, POISON);
    n += mb_fs_sweep_temps(p);
    if (n)
        mb_info("%s: removed %zu temporary file(s) left by killed writers on this host", out, n);
    return MB_OK;
}

int mb_results_committed(const char *out, const char *task_id)
{
    char p[PATH_CAP];
    snprintf(p, sizeof p, "%s/%s/%s.json", out, LEDGER, task_id);
    return access(p, F_OK) == 0;
}

int mb_results_any(const char *out)
{
    char p[PATH_CAP];
    struct dirent *de;
    DIR *d;
    int any = 0;

    snprintf(p, sizeof p, "%s/%s", out, LEDGER);
    if (!(d = opendir(p)))
        return 0;
    while (!any && (de = readdir(d)) != NULL)
        any = de->d_name[0] != '.' && strstr(de->d_name, ".json") != NULL;
    closedir(d);
    return any;
}

void mb_input_id_from_stat(const struct stat *sb, mb_input_id *id)
{
    memset(id, 0, sizeof *id);
    id->size = (uint64_t)sb->st_size;
    id->mtime_s = (int64_t)sb->st_mtim.tv_sec;
    id->mtime_ns = (int64_t)sb->st_mtim.tv_nsec;
    id->ino = (uint64_t)sb->st_ino;
    id->dev = (uint64_t)sb->st_dev;
}

/* ---- the ledger ----------------------------------------------------- */

typedef struct file_sum {
    uint64_t size;
    char sha256[MB_SHA256_HEX];
} file_sum;

/* A ledger entry as read back: what `results` and the redelivery check
 * rely on. */
typedef struct ledger {
    char path[PATH_CAP];
    char fingerprint[MB_SHA256_HEX];
    char input[PATH_CAP];
    uint64_t rows, groups;
    int have_id, have_files, have_rejects;
    mb_input_id id;
    file_sum h5, csv, rejects;
} ledger;

static int is_hex64(const char *s)
{
    size_t i;
    for (i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[64] == '\0';
}

/* A non-negative integer member of o, or -1. */
static json_int_t json_count(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
}

static int read_sum(const json_t *files, const char *key, file_sum *s)
{
    const json_t *o = json_object_get(files, key), *h;
    json_int_t size;

    if (!json_is_object(o) || (size = json_count(o, "size")) < 0)
        return -1;
    h = json_object_get(o, "sha256");
    if (!json_is_string(h) || !is_hex64(json_string_value(h)))
        return -1;
    s->size = (uint64_t)size;
    memcpy(s->sha256, json_string_value(h), MB_SHA256_HEX);
    return 0;
}

static int read_id(const json_t *o, mb_input_id *id)
{
    const char *k[] = {"size", "mtime_s", "mtime_ns", "ino", "dev"};
    json_int_t v[5];

    if (!json_is_object(o))
        return -1;
    for (size_t i = 0; i < 5; i++) {
        const json_t *x = json_object_get(o, k[i]);
        if (!json_is_integer(x))
            return -1;
        v[i] = json_integer_value(x);
    }
    /* ino and dev are stored as the signed image of the unsigned value */
    id->size = (uint64_t)v[0];
    id->mtime_s = v[1];
    id->mtime_ns = v[2];
    id->ino = (uint64_t)v[3];
    id->dev = (uint64_t)v[4];
    return 0;
}

/* Reads and checks the ledger entry of task_id. MB_ENOENT if there is
 * none; MB_EDATA naming the entry if it is not one this program wrote. */
static mb_status ledger_read(const char *out, const char *task_id, ledger *l, mb_err *err)
{
    char *text = NULL;
    size_t len = 0;
    json_t *o, *v;
    json_error_t je;
    json_int_t rows, groups;
    mb_status st;
    const char *why = NULL;

    memset(l, 0, sizeof *l);
    snprintf(l->path, sizeof l->path, "%s/%s/%s.json", out, LEDGER, task_id);
    st = mb_fs_read_small(l->path, LEDGER_MAX, &text, &len, err);
    if (st == MB_ELIMIT)
        return mb_err_set(err, MB_EDATA, "%s: damaged ledger entry of task %s: larger than "
                          "%d bytes", l->path, task_id, LEDGER_MAX);
    if (st != MB_OK)
        return st;
    o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!o)
        return mb_err_set(err, MB_EDATA, "%s: damaged ledger entry of task %s: %s (byte %d)",
                          l->path, task_id, je.text, je.position);
    v = json_object_get(o, "task");
    if (!json_is_object(o) || !json_is_string(v) || strcmp(json_string_value(v), task_id) != 0)
        why = "it names another task";
    v = json_object_get(o, "fingerprint");
    if (!why && (!json_is_string(v) || !is_hex64(json_string_value(v))))
        why = "no valid job fingerprint";
    else if (!why)
        memcpy(l->fingerprint, json_string_value(v), MB_SHA256_HEX);
    v = json_object_get(o, "input");
    if (!why && !json_is_string(v))
        why = "no input";
    else if (!why)
        snprintf(l->input, sizeof l->input, "%s", json_string_value(v));
    rows = json_count(o, "rows");
    groups = json_count(o, "groups");
    if (!why && (rows < 0 || groups < 0))
        why = "no valid row and group counts";
    l->rows = (uint64_t)rows;
    l->groups = (uint64_t)groups;
    if (!why && (v = json_object_get(o, "input_id")) != NULL) {
        if (read_id(v, &l->id) != 0)
            why = "a malformed input identity";
        l->have_id = 1;
    }
    if (!why && (v = json_object_get(o, "files")) != NULL) {
        if (read_sum(v, "h5", &l->h5) != 0 || read_sum(v, "csv", &l->csv) != 0)
            why = "malformed file checksums";
        l->have_files = 1;
        if (!why && json_object_get(v, "rejects") != NULL) {
            if (read_sum(v, "rejects", &l->rejects) != 0)
                why = "a malformed checksum of the rejects file";
            l->have_rejects = 1;
        }
    }
    v = json_object_get(o, "format");
    if (!why && l->have_files && (!json_is_string(v) ||
                                  strcmp(json_string_value(v), LEDGER_FORMAT) != 0))
        why = "an unknown format";
    json_decref(o);
    if (why)
        return mb_err_set(err, MB_EDATA, "%s: damaged ledger entry of task %s: %s", l->path,
                          task_id, why);
    return MB_OK;
}

/* What differs between two identities, for a message ("" if nothing). */
static void id_diff(const mb_input_id *was, const mb_input_id *now, char *out, size_t cap)
{
    int n = 0;

    out[0] = '\0';
    if (was->size != now->size)
        n += snprintf(out + n, cap - (size_t)n, "size %llu -> %llu",
                      (unsigned long long)was->size, (unsigned long long)now->size);
    if ((was->mtime_s != now->mtime_s || was->mtime_ns != now->mtime_ns) && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, "%smtime %lld.%09lld -> %lld.%09lld",
                      n ? ", " : "", (long long)was->mtime_s, (long long)was->mtime_ns,
                      (long long)now->mtime_s, (long long)now->mtime_ns);
    if (was->ino != now->ino && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, "%sinode %llu -> %llu", n ? ", " : "",
                 (unsigned long long)was->ino, (unsigned long long)now->ino);
}

mb_status mb_results_check(const char *out, const char *task_id, const char *fingerprint,
                           const mb_input_id *id, mb_commit_state *state, mb_err *err)
{
    ledger *l = mb_malloc(sizeof *l);
    char diff[512];
    mb_status st;

    *state = MB_COMMIT_NONE;
    if (!l)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    st = ledger_read(out, task_id, l, err);
    if (st == MB_ENOENT) {
        free(l);
        return MB_OK;
    }
    if (st != MB_OK) {
        *state = MB_COMMIT_DAMAGED;
    } else if (strcmp(l->fingerprint, fingerprint) != 0) {
        *state = MB_COMMIT_OTHER_JOB;
        st = mb_err_set(err, MB_EJOB, "task %s: %s belongs to another job: its ledger entry "
                        "%s was written by the job with fingerprint %s, this job's is %s; give "
                        "this job its own --out", task_id, out, l->path, l->fingerprint,
                        fingerprint);
    } else if (id && l->have_id &&
               (id_diff(&l->id, id, diff, sizeof diff), diff[0] != '\0')) {
        *state = MB_COMMIT_INPUT_CHANGED;
        st = mb_err_set(err, MB_EDATA, "input %s changed since task %s was committed (%s); "
                        "enqueue it with a new --id to process the new version", l->input,
                        task_id, diff);
    } else {
        *state = MB_COMMIT_SAME;
    }
    free(l);
    return st;
}

/* ---- the poison record ---------------------------------------------- */

mb_status mb_results_note_poison(const char *out, const char *task_id, const char *msg_id,
                                 const char *reason, mb_err *err)
{
    char p[PATH_CAP], when[MB_LOG_TIME_MAX], *body;
    time_t now = time(NULL);
    json_t *o;
    mb_status st;

    snprintf(p, sizeof p, "%s/%s", out, POISON);
    if ((st = mb_fs_mkdirs(p, err)) != MB_OK)
        return st;
    mb_log_utc(now, when);
    o = json_pack("{s:s, s:s, s:s, s:s}", "task", task_id, "message_id", msg_id ? msg_id : "",
                  "reason", reason ? reason : "", "poisoned", when);
    body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!body)
        return mb_err_set(err, MB_ENOMEM, "task %s: cannot build the poison record", task_id);
    snprintf(p, sizeof p, "%s/%s/%s.json", out, POISON, task_id);
    st = mb_fs_write_atomic(p, body, strlen(body), err);
    free(body);
    return st;
}

void mb_results_forget_poison(const char *out, const char *task_id)
{
    char p[PATH_CAP];
    mb_err e;

    snprintf(p, sizeof p, "%s/%s/%s.json", out, POISON, task_id);
    if (unlink(p) == 0) {
        snprintf(p, sizeof p, "%s/%s", out, POISON);
        (void)mb_fs_sync_dir(p, &e);
    }
}

/* ---- CSV ------------------------------------------------------------ */

/* A field as DuckDB writes it (and a --sql answer, sql/finish.c): quoted
 * when it holds a comma, a quote, CR or LF, or begins or ends with a
 * space. The empty field stays empty: an empty key is --agg's NULL. */
static void put_field(FILE *f, const char *p, size_t len)
{
    if (len && (p[0] == ' ' || p[len - 1] == ' ' || memchr(p, ',', len) ||
                memchr(p, '"', len) || memchr(p, '\n', len) || memchr(p, '\r', len))) {
        putc_unlocked('"', f);
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '"')
                putc_unlocked('"', f);
            putc_unlocked(p[i], f);
        }
        putc_unlocked('"', f);
    } else {
        fwrite(p, 1, len, f);
    }
}

static void key_field_csv(void *ctx, size_t i, const char *p, size_t len)
{
    FILE *f = ctx;
    if (i)
        putc_unlocked(',', f);
    put_field(f, p, len);
}

/* A column prints as integers only if no value in the whole table had a
 * fraction or exponent: decided over all groups, so every row agrees. */
static int *int_columns(const mb_plan *p, const mb_groups *g)
{
    int *ic = mb_calloc(p->ncol ? p->ncol : 1, sizeof *ic);
    if (!ic)
        return NULL;
    for (size_t c = 0; c < p->ncol; c++) {
        ic[c] = 1;
        for (size_t i = 0; i < g->n && ic[c]; i++)
            if (mb_groups_nonint(g, i, c))
                ic[c] = 0;
    }
    return ic;
}

/* Formats aggregate a of group gi into out. */
static mb_status agg_cell(const mb_plan *p, const mb_groups *g, size_t gi, size_t a,
                          const int *ic, char *out, size_t cap)
{
    size_t c = p->agg_col[a];
    mb_numstate s;

    if (c == SIZE_MAX)
        return mb_format_i64(mb_groups_rec(g, gi)->rows, out, cap);
    mb_groups_state(g, gi, c, &s);
    return mb_num_format(&s, p->aggs[a].kind, ic[c], out, cap);
}

/* The table of g in the order idx (sorted by key). */
static mb_status write_csv_sorted(FILE *f, const mb_plan *p, const mb_groups *g,
                                  const size_t *idx, const char *task, int header, mb_err *err)
{
    size_t i, a;
    int *ic = int_columns(p, g);
    char cell[CELL_CAP];
    mb_status st = MB_OK;

    if (!ic)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    if (header) {
        if (task)
            fputs("task,", f);
        for (i = 0; i < p->ngroup; i++) {
            if (i)
                fputc(',', f);
            put_field(f, p->group[i], strlen(p->group[i]));
        }
        for (a = 0; a < p->nagg; a++) {
            fputc(',', f);
            put_field(f, p->aggs[a].text, strlen(p->aggs[a].text));
        }
        fputc('\n', f);
    }
    for (i = 0; i < g->n && st == MB_OK; i++) {
        size_t gi = idx[i];
        if (i + 8 < g->n)       /* sorted order visits records at random */
            mb_prefetch(mb_groups_rec(g, idx[i + 8]));
        if (task) {
            put_field(f, task, strlen(task));
            putc_unlocked(',', f);
        }
        mb_groups_key_fields(mb_groups_key(g, gi), mb_groups_klen(g, gi), key_field_csv, f);
        for (a = 0; a < p->nagg && st == MB_OK; a++) {
            st = agg_cell(p, g, gi, a, ic, cell, sizeof cell);
            putc_unlocked(',', f);
            fwrite(cell, 1, strlen(cell), f);
        }
        putc_unlocked('\n', f);
    }
    free(ic);
    if (st != MB_OK)
        return mb_err_set(err, st, "cannot format a result value");
    return ferror(f) ? mb_err_set(err, MB_EIO, "write error: %s", strerror(errno)) : MB_OK;
}

mb_status mb_results_write_csv(FILE *f, const mb_plan *p, const mb_groups *g, const char *task,
                               int header, mb_err *err)
{
    size_t *idx = mb_groups_sorted(g);
    mb_status st;

    if (!idx)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    st = write_csv_sorted(f, p, g, idx, task, header, err);
    free(idx);
    return st;
}

/* ---- HDF5 ----------------------------------------------------------- */

static hid_t str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/* A row of a string min/max state (MB_NEED_STR) in memory: the header of
 * every state, then the two strings as variable-length bytes. */
typedef struct strrow {
    int64_t n;
    int32_t scale;
    uint32_t nonint;
    hvl_t min, max;
} strrow;

static hid_t str_state_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(strrow)), v = H5Tvlen_create(H5T_NATIVE_UINT8);

    H5Tinsert(t, "n", HOFFSET(strrow, n), H5T_NATIVE_INT64);
    H5Tinsert(t, "scale", HOFFSET(strrow, scale), H5T_NATIVE_INT32);
    H5Tinsert(t, "nonint", HOFFSET(strrow, nonint), H5T_NATIVE_UINT32);
    H5Tinsert(t, "min", HOFFSET(strrow, min), v);
    H5Tinsert(t, "max", HOFFSET(strrow, max), v);
    H5Tclose(v);
    return t;
}

/* A row of a DOUBLE state (MB_NEED_DBL) in memory: the header of every
 * state, then the state's canonical byte form (group.h, mb_dstate_pack:
 * the exact sum, min, max and, for the variances, the exact sum of
 * squares) as variable-length bytes, empty when n is 0. */
typedef struct dblrow {
    int64_t n;
    int32_t scale;
    uint32_t nonint;
    hvl_t fsum;
} dblrow;

static hid_t dbl_state_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(dblrow)), v = H5Tvlen_create(H5T_NATIVE_UINT8);

    H5Tinsert(t, "n", HOFFSET(dblrow, n), H5T_NATIVE_INT64);
    H5Tinsert(t, "scale", HOFFSET(dblrow, scale), H5T_NATIVE_INT32);
    H5Tinsert(t, "nonint", HOFFSET(dblrow, nonint), H5T_NATIVE_UINT32);
    H5Tinsert(t, "fsum", HOFFSET(dblrow, fsum), v);
    H5Tclose(v);
    return t;
}

/* The members of the states' compound type: the state's header, then the
 * exact integers some column's aggregates use (`need`, the union of the
 * columns' needs; all of them for reading). A string min/max state is a
 * strrow. */
static hid_t state_type(unsigned need)
{
    hsize_t d4 = 4, d8 = 8;
    if (need & MB_NEED_STR)
        return str_state_type();
    if (need & MB_NEED_DBL)
        return dbl_state_type();
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(mb_numstate));
    hid_t a4 = H5Tarray_create2(H5T_NATIVE_UINT64, 1, &d4);
    hid_t a8 = H5Tarray_create2(H5T_NATIVE_UINT64, 1, &d8);

    H5Tinsert(t, "n", HOFFSET(mb_numstate, n), H5T_NATIVE_INT64);
    H5Tinsert(t, "scale", HOFFSET(mb_numstate, scale), H5T_NATIVE_INT32);
    H5Tinsert(t, "nonint", HOFFSET(mb_numstate, nonint), H5T_NATIVE_UINT32);
    if (need & (MB_NEED_SUM | MB_NEED_SUMSQ))
        H5Tinsert(t, "sum", HOFFSET(mb_numstate, sum), a4);
    if (need & MB_NEED_SUMSQ)
        H5Tinsert(t, "sumsq", HOFFSET(mb_numstate, sumsq), a8);
    if (need & MB_NEED_MINMAX) {
        H5Tinsert(t, "min", HOFFSET(mb_numstate, min), a4);
        H5Tinsert(t, "max", HOFFSET(mb_numstate, max), a4);
    }
    H5Tclose(a4);
    H5Tclose(a8);
    return t;
}

/* The file type: the same members packed without padding. */
static hid_t state_file_type(unsigned need)
{
    hid_t m = state_type(need), f = H5Tcopy(m);
    H5Tpack(f);
    H5Tclose(m);
    return f;
}

/* What a stored state type holds, as MB_NEED_* bits. */
static unsigned state_type_needs(hid_t t)
{
    unsigned need = 0;
    if (H5Tget_member_index(t, "fsum") >= 0)
        return MB_NEED_DBL | MB_NEED_SUMSQ;   /* squares: checked per state */
    if (H5Tget_member_index(t, "sum") >= 0)
        need |= MB_NEED_SUM;
    if (H5Tget_member_index(t, "sumsq") >= 0)
        need |= MB_NEED_SUMSQ;
    if (H5Tget_member_index(t, "min") >= 0 && H5Tget_member_index(t, "max") >= 0) {
        int i = H5Tget_member_index(t, "min");
        need |= i >= 0 && H5Tget_member_class(t, (unsigned)i) == H5T_VLEN ? MB_NEED_STR
                                                                           : MB_NEED_MINMAX;
    }
    return need;
}

static int put_attr(hid_t loc, const char *name, const char *value)
{
    hid_t t = str_type(), s = H5Screate(H5S_SCALAR), a;
    int rc = -1;

    a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        rc = H5Awrite(a, t, &value) < 0 ? -1 : 0;
        H5Aclose(a);
    }
    H5Sclose(s);
    H5Tclose(t);
    return rc;
}

static int put_u64_attr(hid_t loc, const char *name, uint64_t value)
{
    hid_t s = H5Screate(H5S_SCALAR), a;
    int rc = -1;

    a = H5Acreate2(loc, name, H5T_STD_U64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        rc = H5Awrite(a, H5T_NATIVE_UINT64, &value) < 0 ? -1 : 0;
        H5Aclose(a);
    }
    H5Sclose(s);
    return rc;
}

/* A dataset of dims (d0[, d1]) of file type ft. No object timestamps: the
 * same states must give the same bytes. */
static hid_t make_data(hid_t loc, const char *name, hid_t ft, int rank, hsize_t d0, hsize_t d1)
{
    hsize_t dims[2] = {d0, d1};
    hid_t sp = H5Screate_simple(rank, dims, NULL), ds, dcpl;

    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0);
    ds = H5Dcreate2(loc, name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return ds;
}

/* Writes a dataset of dims (d0[, d1]) from buf of type t. */
static int put_data(hid_t loc, const char *name, hid_t t, int rank, hsize_t d0, hsize_t d1,
                    const void *buf)
{
    hid_t ds = make_data(loc, name, t, rank, d0, d1);
    int rc = -1;

    if (ds >= 0) {
        rc = (d0 * (rank > 1 ? d1 : 1)) == 0 ||
                     H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0
                 ? 0
                 : -1;
        H5Dclose(ds);
    }
    return rc;
}

/* Writes rows [r0, r0 + nr) of a dataset of `cols` columns (0: rank 1). */
static int put_rows(hid_t ds, hid_t mt, hsize_t r0, hsize_t nr, hsize_t cols, const void *buf)
{
    hsize_t start[2] = {r0, 0}, count[2] = {nr, cols};
    int rank = cols ? 2 : 1;
    hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(rank, count, NULL);
    int rc;

    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    rc = H5Dwrite(ds, mt, ms, fs, H5P_DEFAULT, buf) < 0 ? -1 : 0;
    H5Sclose(ms);
    H5Sclose(fs);
    return rc;
}

/* Rows per block: results of any size are written with bounded memory. */
#define H5_BLOCK 65536

/* Writes column c of an [nb][ncol] block of states into rows [r0, r0 + nb)
 * of that column's 1-D dataset. */
static int put_col(hid_t ds, hid_t mt, hsize_t r0, hsize_t nb, size_t c, size_t ncol,
                   const mb_numstate *st)
{
    hsize_t fstart = r0, dims[2] = {nb, ncol}, mstart[2] = {0, c}, mcount[2] = {nb, 1};
    hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(2, dims, NULL);
    int rc;

    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &fstart, NULL, &nb, NULL);
    H5Sselect_hyperslab(ms, H5S_SELECT_SET, mstart, NULL, mcount, NULL);
    rc = H5Dwrite(ds, mt, ms, fs, H5P_DEFAULT, st) < 0 ? -1 : 0;
    H5Sclose(ms);
    H5Sclose(fs);
    return rc;
}

/* Writes rows b0..b0+nb of string state dataset ds: accumulator c of the
 * groups idx[b0..b0+nb), through the scratch rows sr[0..nb). */
static int put_str_col(hid_t ds, hid_t mt, const mb_groups *g, const size_t *idx, hsize_t b0,
                       hsize_t nb, size_t c, strrow *sr)
{
    for (hsize_t i = 0; i < nb; i++) {
        size_t gi = idx[b0 + i];
        const mb_strmm *s = mb_groups_str(g, gi, c);
        memset(&sr[i], 0, sizeof sr[i]);
        sr[i].n = mb_groups_acc(g, gi, c)->n;
        if (s) {
            sr[i].min.len = s->minlen;
            sr[i].min.p = s->min;
            sr[i].max.len = s->maxlen;
            sr[i].max.p = s->max;
        }
    }
    return put_rows(ds, mt, b0, nb, 0, sr);
}

/* Writes rows b0..b0+nb of DOUBLE state dataset ds: accumulator c of the
 * groups idx[b0..b0+nb), their byte forms packed into buf first, through
 * the scratch rows dr[0..nb). 0, -1 when HDF5 fails, -2 out of memory. */
static int put_dbl_col(hid_t ds, hid_t mt, const mb_groups *g, const size_t *idx, hsize_t b0,
                       hsize_t nb, size_t c, dblrow *dr, mb_buf *buf)
{
    size_t *at = mb_calloc(nb + 1, sizeof *at);
    int rc = at ? 0 : -2;

    buf->len = 0;
    for (hsize_t i = 0; rc == 0 && i < nb; i++) {
        const mb_dstate *d = mb_groups_dbl(g, idx[b0 + i], c);
        at[i] = buf->len;
        if (d && mb_dstate_pack(d, mb_groups_dbl_sq(g, d), buf) != MB_OK)
            rc = -2;                /* the only failure of a pack into a buffer */
    }
    for (hsize_t i = 0; rc == 0 && i < nb; i++) {
        size_t end = i + 1 < nb ? at[i + 1] : buf->len;
        memset(&dr[i], 0, sizeof dr[i]);
        dr[i].n = mb_groups_acc(g, idx[b0 + i], c)->n;
        dr[i].fsum.len = end - at[i];
        dr[i].fsum.p = end > at[i] ? buf->p + at[i] : NULL;
    }
    free(at);
    return rc == 0 ? put_rows(ds, mt, b0, nb, 0, dr) : rc;
}

static void state_dset_name(char *out, size_t cap, size_t c)
{
    snprintf(out, cap, "states/%zu", c);
}

/* The states tables: group /states with one 1-D dataset per column, each
 * of only the members that column's aggregates use. No object timestamps:
 * the same states must give the same bytes. */
static mb_status make_state_dsets(hid_t f, const mb_plan *p, size_t G, hid_t *tn, hid_t *ds,
                                  mb_err *err)
{
    char name[64];
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE), gr;
    mb_status rc = MB_OK;

    H5Pset_obj_track_times(gcpl, 0);
    gr = H5Gcreate2(f, "states", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    if (gr < 0)
        return mb_err_set(err, MB_EIO, "HDF5: cannot create the states group");
    H5Gclose(gr);
    for (size_t c = 0; c < p->ncol; c++) {
        hid_t ft = state_file_type(p->needs[c]);
        tn[c] = state_type(p->needs[c]);
        state_dset_name(name, sizeof name, c);
        ds[c] = make_data(f, name, ft, 1, G, 0);
        H5Tclose(ft);
        if (ds[c] < 0 && rc == MB_OK)
            rc = mb_err_set(err, MB_EIO, "HDF5: cannot create the states of column %zu", c);
    }
    return rc;
}

/* ---- query results ---------------------------------------------------
 *
 * A task's OUT/TASK.h5 (docs/result-format.md) holds, besides the
 * attributes of every result, kind "sql", the query, the input's columns
 * with their types and the bound plan's normal form; /keys, the encoded
 * group key of each group as bytes (vlen uint8: per key expression a u32
 * length in host order and the value's text; a NULL key is the one byte
 * 0x00); /rows; /states/K, one per accumulator of the plan as in the
 * --agg layout; and /answer with /answer_columns, the query's answer over
 * the task as text (NULL as an empty string; OUT/TASK.csv holds the same
 * answer).
 *
 * The file is written to path (a temporary) into disk space reserved
 * first: HDF5 1.10 does not survive a write that fails for want of space
 * (a file whose flush failed stays half-closed in the library and crashes
 * H5close at exit), so a full disk or quota must show before it writes.
 * H5Fcreate truncates, which frees a reservation, so the file is created
 * and closed first (a few hundred bytes, after a reservation of the whole
 * has shown the space is there), then reserved and reopened. */

static mb_status h5_write_sql(const char *path, const mb_plan *p, const mb_groups *g,
                              const size_t *idx, const mb_task_info *t,
                              const mb_sql_result *ans, mb_err *err)
{
    const mb_qtask *q = t->query;
    size_t G = g->n, nacc = q->rows.nacc, b0, i;
    mb_plan sp;                  /* the states' shape, for the shared writers */
    hid_t f = -1, ts, kt = -1, dk = -1, dr = -1;
    hid_t *tn = mb_calloc(nacc + 1, sizeof *tn), *dst = mb_calloc(nacc + 1, sizeof *dst);
    hvl_t *kv = mb_calloc(H5_BLOCK, sizeof *kv);
    int64_t *rows = mb_malloc(H5_BLOCK * sizeof *rows);
    mb_numstate *st = mb_calloc(H5_BLOCK * (nacc ? nacc : 1), sizeof *st);
    strrow *srow = mb_calloc(H5_BLOCK, sizeof *srow);
    dblrow *drow = mb_calloc(H5_BLOCK, sizeof *drow);
    mb_buf dbuf;
    const char **cells = NULL;
    char *cols = mb_qtask_columns_text(q);
    uint64_t need = ((uint64_t)1 << 18) + (uint64_t)G * 64;
    mb_status rc = MB_OK;
    int fd, outgrew = 0;

    memset(&sp, 0, sizeof sp);
    sp.ncol = nacc;
    sp.needs = q->rows.needs;
    /* the rows of the states tables: exact states at most a whole
     * mb_numstate, DOUBLE and string ones a count and references */
    for (i = 0; i < nacc; i++)
        need += (uint64_t)G * ((q->rows.needs[i] & (MB_NEED_DBL | MB_NEED_STR))
                                   ? 48 : sizeof(mb_numstate));
    for (i = 0; i < G; i++)
        need += mb_groups_klen(g, i) + 48;
    for (i = 0; i < g->nstrs; i++)
        need += (uint64_t)g->strs[i].minlen + g->strs[i].maxlen + 64;
    /* DOUBLE states by their byte forms' sizes (the bound is several
     * times the usual size) */
    for (i = 0; i < g->ndbls; i++) {
        unsigned char tmp[MB_FSUM_PACK_MAX];
        need += (uint64_t)mb_fsum_pack(&g->dbls[i].s, tmp, sizeof tmp) + 64;
    }
    for (i = 0; i < g->nsqs; i++) {
        unsigned char tmp[MB_FSUMSQ_PACK_MAX];
        need += (uint64_t)mb_fsumsq_pack(&g->sqs[i], tmp, sizeof tmp) + 16;
    }
    mb_buf_init(&dbuf, (size_t)1 << 30);
    for (i = 0; i < ans->nrows * ans->ncols; i++)
        need += (ans->cells[i] ? strlen(ans->cells[i]) : 0) + 48;
    size_t ncell = ans->nrows * ans->ncols;
    if (ncell > 0)
        cells = mb_calloc(ncell, sizeof *cells);
    if (!tn || !dst || !kv || !rows || !st || !srow || !drow || !cols ||
        (ncell > 0 && !cells)) {
        rc = mb_err_set(err, MB_ENOMEM, "out of memory writing results");
        goto out;
    }
    for (i = 0; i < ans->nrows * ans->ncols; i++)
        cells[i] = ans->cells[i] ? ans->cells[i] : "";
    for (i = 0; i < nacc; i++)
        tn[i] = dst[i] = -1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 || close(fd) != 0)
        rc = mb_err_set(err, MB_EIO, "%s: cannot create: %s", path, strerror(errno));
    if (rc == MB_OK)
        rc = mb_fs_reserve(path, need, err);
    if (rc == MB_OK) {
        f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (f < 0 || H5Fclose(f) < 0)
            rc = mb_err_set(err, MB_EIO, "%s: cannot create HDF5 file", path);
        f = -1;
    }
    if (rc == MB_OK)
        rc = mb_fs_reserve(path, need, err);
    f = rc == MB_OK ? H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT) : -1;
    if (rc == MB_OK && f < 0)
        rc = mb_err_set(err, MB_EIO, "%s: cannot open HDF5 file", path);
    if (rc != MB_OK)
        goto out;
    ts = str_type();
    if (put_attr(f, "format", MPIBATCH_RESULT_FORMAT) < 0 || put_attr(f, "kind", "sql") < 0 ||
        put_attr(f, "task_id", t->task_id) < 0 || put_attr(f, "input", t->input) < 0 ||
        put_attr(f, "fingerprint", p->fingerprint) < 0 || put_attr(f, "query", p->sql) < 0 ||
        put_u64_attr(f, "rejected_rows", t->rejected) < 0 ||
        put_attr(f, "columns", cols) < 0 || put_attr(f, "plan", q->plan->normal) < 0 ||
        put_data(f, "answer_columns", ts, 1, ans->ncols, 0, ans->names) < 0 ||
        put_data(f, "answer", ts, 2, ans->nrows, ans->ncols, cells) < 0)
        rc = mb_err_set(err, MB_EIO, "%s: HDF5 write failed", path);
    H5Tclose(ts);
    kt = H5Tvlen_create(H5T_NATIVE_UINT8);
    if (rc == MB_OK) {
        dk = make_data(f, "keys", kt, 1, G, 0);
        dr = make_data(f, "rows", H5T_NATIVE_INT64, 1, G, 0);
        if (dk < 0 || dr < 0)
            rc = mb_err_set(err, MB_EIO, "HDF5: cannot create the result tables");
    }
    if (rc == MB_OK)
        rc = make_state_dsets(f, &sp, G, tn, dst, err);
    for (b0 = 0; rc == MB_OK && b0 < G; b0 += H5_BLOCK) {
        size_t nb = G - b0 < H5_BLOCK ? G - b0 : H5_BLOCK;
        for (i = 0; i < nb; i++) {
            size_t gi = idx[b0 + i];
            kv[i].len = mb_groups_klen(g, gi);
            kv[i].p = (void *)mb_groups_key(g, gi);
            rows[i] = mb_groups_rec(g, gi)->rows;
            for (size_t c = 0; c < nacc; c++)
                mb_groups_state(g, gi, c, st + i * nacc + c);
        }
        if (put_rows(dk, kt, b0, nb, 0, kv) < 0 || put_rows(dr, H5T_NATIVE_INT64, b0, nb, 0, rows) < 0)
            rc = mb_err_set(err, MB_EIO, "HDF5 write of the result tables failed");
        for (size_t c = 0; rc == MB_OK && c < nacc; c++) {
            int w = (q->rows.needs[c] & MB_NEED_STR)
                        ? put_str_col(dst[c], tn[c], g, idx, b0, nb, c, srow)
                        : (q->rows.needs[c] & MB_NEED_DBL)
                        ? put_dbl_col(dst[c], tn[c], g, idx, b0, nb, c, drow, &dbuf)
                        : put_col(dst[c], tn[c], b0, nb, c, nacc, st);
            if (w == -2)
                rc = mb_err_set(err, MB_ENOMEM, "out of memory writing the states of "
                                "accumulator %zu", c);
            else if (w < 0)
                rc = mb_err_set(err, MB_EIO, "HDF5 write of the states of accumulator %zu "
                                "failed", c);
        }
    }
out:
    if (dk >= 0)
        H5Dclose(dk);
    if (dr >= 0)
        H5Dclose(dr);
    if (kt >= 0)
        H5Tclose(kt);
    for (i = 0; tn && dst && i < nacc; i++) {
        if (dst[i] >= 0)
            H5Dclose(dst[i]);
        if (tn[i] >= 0)
            H5Tclose(tn[i]);
    }
    if (f >= 0 && H5Fclose(f) < 0 && rc == MB_OK)
        rc = mb_err_set(err, MB_EIO, "%s: HDF5 close failed", path);
    if (rc == MB_OK)
        rc = mb_fs_trim_sync(path, need, &outgrew, err);
    if (outgrew)
        mb_warn("%s: result file outgrew its %llu-byte space reservation", path,
                (unsigned long long)need);
    if (rc != MB_OK)
        unlink(path);
    free(tn);
    free(dst);
    free(kv);
    free(rows);
    free(st);
    free(srow);
    free(drow);
    mb_buf_fini(&dbuf);
    free(cells);
    free(cols);
    return rc;
}

/* The SQL answer as CSV into tmp, fsynced; not yet published. */
static mb_status write_sql_csv_tmp(const char *tmp, const mb_sql_result *ans, mb_err *err)
{
    mb_status st = MB_OK;
    FILE *f = fopen(tmp, "w");

    if (!f)
        return mb_err_set(err, MB_EIO, "%s: %s", tmp, strerror(errno));
    setvbuf(f, NULL, _IOFBF, (size_t)1 << 20);
    if (mb_sql_result_write_csv(ans, f) != MB_OK)
        st = mb_err_set(err, MB_EIO, "%s: %s", tmp, strerror(errno));
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        st = st != MB_OK ? st : mb_err_set(err, MB_EIO, "%s: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && st == MB_OK)
        st = mb_err_set(err, MB_EIO, "%s: %s", tmp, strerror(errno));
    return st;
}

static mb_status write_ledger(const char *out, const mb_plan *p, const mb_groups *g,
                              const mb_task_info *t, const file_sum *h5, const file_sum *csv,
                              const file_sum *rej, mb_err *err)
{
    char path[PATH_CAP], when[MB_LOG_TIME_MAX], *body;
    time_t now = time(NULL);
    json_t *o, *files, *id = NULL;
    mb_status st;

    mb_log_utc(now, when);
    files = json_pack("{s:{s:I, s:s}, s:{s:I, s:s}}", "h5", "size", (json_int_t)h5->size,
                      "sha256", h5->sha256, "csv", "size", (json_int_t)csv->size, "sha256",
                      csv->sha256);
    if (t->input_id)
        id = json_pack("{s:I, s:I, s:I, s:I, s:I}", "size", (json_int_t)t->input_id->size,
                       "mtime_s", (json_int_t)t->input_id->mtime_s, "mtime_ns",
                       (json_int_t)t->input_id->mtime_ns, "ino", (json_int_t)t->input_id->ino,
                       "dev", (json_int_t)t->input_id->dev);
    if (files && rej)
        json_object_set_new(files, "rejects", json_pack("{s:I, s:s}", "size",
                                                        (json_int_t)rej->size, "sha256",
                                                        rej->sha256));
    o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:i, s:f, s:s, s:o*, s:o, s:s}",
                  "format", LEDGER_FORMAT, "task", t->task_id, "input", t->input, "message_id",
                  t->message_id ? t->message_id : "", "rows", (json_int_t)t->rows, "groups",
                  (json_int_t)g->n, "rejected", (json_int_t)t->rejected, "bytes",
                  (json_int_t)t->bytes, "chunks",
                  (json_int_t)t->chunks, "ranks", t->ranks, "seconds", t->seconds,
                  "fingerprint", p->fingerprint, "input_id", id, "files", files, "committed",
                  when);
    body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!body)
        return mb_err_set(err, MB_ENOMEM, "task %s: cannot build the ledger entry", t->task_id);
    snprintf(path, sizeof path, "%s/%s/%s.json", out, LEDGER, t->task_id);
    {
        size_t n = strlen(body);
        char *line = mb_malloc(n + 2);
        if (!line) {
            free(body);
            return mb_err_set(err, MB_ENOMEM, "out of memory");
        }
        memcpy(line, body, n);
        line[n] = '\n';
        st = mb_fs_write_atomic(path, line, n + 1, err);
        free(line);
    }
    free(body);
    return st;
}

/* Publishes both result files: both temporaries are complete and fsynced,
 * so only the renames remain, and if the second fails the first is undone;
 * a failure leaves neither new file visible. */
static mb_status publish_pair(const char *out, char tmp[2][PATH_CAP + 128],
                              char path[2][PATH_CAP], mb_err *err)
{
    mb_err e2;

    if (rename(tmp[0], path[0]) != 0)
        return mb_err_set(err, MB_EIO, "%s: rename: %s", path[0], strerror(errno));
    if (rename(tmp[1], path[1]) != 0) {
        int e = errno;
        unlink(path[0]);
        (void)mb_fs_sync_dir(out, &e2);
        return mb_err_set(err, MB_EIO, "%s: rename: %s", path[1], strerror(e));
    }
    return mb_fs_sync_dir(out, err);
}

mb_status mb_results_commit(const char *out, const mb_plan *p, const mb_groups *g,
                            const mb_task_info *t, mb_err *err)
{
    char path[2][PATH_CAP], tmp[2][PATH_CAP + 128], rpath[PATH_CAP + 16];
    double t0 = mb_now_s(), t1, t2;
    size_t *idx = mb_groups_sorted(g);   /* one sort for both files */
    file_sum sum[2], rsum;
    mb_sql_result ans;
    mb_status st = MB_OK;
    mb_err e2;
    int i;

    assert(t->query);
    if (!idx)
        return mb_err_set(err, MB_ENOMEM, "task %s: out of memory sorting the result",
                          t->task_id);
    t1 = mb_now_s();
    snprintf(path[0], sizeof path[0], "%s/%s.h5", out, t->task_id);
    snprintf(path[1], sizeof path[1], "%s/%s.csv", out, t->task_id);
    for (i = 0; i < 2 && st == MB_OK; i++)
        st = mb_fs_tmpname(path[i], tmp[i], sizeof tmp[i], err);
    if (st != MB_OK) {
        free(idx);
        return st;
    }
    /* the answer is computed once, for both files */
    memset(&ans, 0, sizeof ans);
    st = mb_sql_finish(t->query->plan, &t->query->rows, g, &ans, err);
    if (st == MB_OK)
        st = h5_write_sql(tmp[0], p, g, idx, t, &ans, err);
    t2 = mb_now_s();
    if (st == MB_OK)
        st = write_sql_csv_tmp(tmp[1], &ans, err);
    mb_sql_result_fini(&ans);
    free(idx);
    /* Read back from storage, so the checksums are of what was written. */
    for (i = 0; i < 2 && st == MB_OK; i++)
        st = mb_sha256_file(tmp[i], &sum[i].size, sum[i].sha256, err);
    /* The rejects file goes first and is durable before the pair: the
     * ledger entry commits all three. Without rejects, one an earlier
     * attempt left is removed, so that no stale one is ever committed. */
    snprintf(rpath, sizeof rpath, "%s/%s.rejects.csv", out, t->task_id);
    if (st == MB_OK && t->rejected) {
        st = mb_fs_write_atomic(rpath, t->rejects, t->rejects_len, err);
        if (st == MB_OK)
            st = mb_sha256_file(rpath, &rsum.size, rsum.sha256, err);
    } else if (st == MB_OK && unlink(rpath) != 0 && errno != ENOENT) {
        st = mb_err_set(err, MB_EIO, "%s: cannot remove it: %s", rpath, strerror(errno));
    }
    if (st == MB_OK)
        st = publish_pair(out, tmp, path, err);
    if (st != MB_OK) {
        unlink(tmp[0]);
        unlink(tmp[1]);
        if (t->rejected && !mb_results_committed(out, t->task_id))
            unlink(rpath);
        return mb_err_prefix(err, "task %s: ", t->task_id);
    }
    mb_debug("task %s: commit of %zu groups: sort %.3f s, HDF5 %.3f s, CSV %.3f s", t->task_id,
             g->n, t1 - t0, t2 - t1, mb_now_s() - t2);
    st = write_ledger(out, p, g, t, &sum[0], &sum[1], t->rejected ? &rsum : NULL, err);
    if (st != MB_OK) {
        /* Not committed: take the files back unless another writer has
         * committed the task meanwhile (then the files are its). */
        if (!mb_results_committed(out, t->task_id)) {
            unlink(path[0]);
            unlink(path[1]);
            unlink(rpath);
            (void)mb_fs_sync_dir(out, &e2);
        }
        return mb_err_prefix(err, "task %s: ", t->task_id);
    }
    mb_results_forget_poison(out, t->task_id);
    return MB_OK;
}

/* ---- reading results back ------------------------------------------ */

/* Caps on what a result file may declare before anything is allocated. */
#define NAMES_MAX 4096
#define KEY_WIDTH_MAX 65536

static mb_status damaged(mb_err *err, const char *path, const char *task, const char *what)
{
    return mb_err_set(err, MB_EDATA, "%s: damaged result file of task %s: %s", path, task,
                      what);
}

/* Dataset `name` if it is simple, of type class cls and of rank `rank`
 * (1 or 2), with its dims in d; -1 otherwise. Checked before any read, so
 * that no declared rank or size is trusted. */
static hid_t open_dset(hid_t f, const char *name, H5T_class_t cls, int rank, hsize_t d[2])
{
    hid_t ds = H5Lexists(f, name, H5P_DEFAULT) > 0 ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
    hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1, t = ds >= 0 ? H5Dget_type(ds) : -1;
    int ok = sp >= 0 && t >= 0 && H5Tget_class(t) == cls &&
             H5Sget_simple_extent_type(sp) == H5S_SIMPLE &&
             H5Sget_simple_extent_ndims(sp) == rank && rank >= 1 && rank <= 2;

    d[0] = d[1] = 0;
    if (ok)
        ok = H5Sget_simple_extent_dims(sp, d, NULL) == rank;
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    if (!ok && ds >= 0) {
        H5Dclose(ds);
        ds = -1;
    }
    return ds;
}

static int is_vlen_str(hid_t ds)
{
    hid_t t = H5Dget_type(ds);
    int v = t >= 0 && H5Tis_variable_str(t) > 0;
    if (t >= 0)
        H5Tclose(t);
    return v;
}

static void free_h5_strings(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        H5free_memory(v[i]);
    free(v);
}

/* A 1-D dataset of variable-length strings, none of them nil. */
static char **read_strings(hid_t f, const char *name, size_t *n)
{
    hsize_t d[2];
    hid_t ds = open_dset(f, name, H5T_STRING, 1, d), t;
    char **v = NULL;
    size_t i;

    if (ds < 0)
        return NULL;
    if (!is_vlen_str(ds) || d[0] > NAMES_MAX || !(v = mb_calloc((size_t)d[0] + 1, sizeof *v))) {
        H5Dclose(ds);
        return NULL;
    }
    t = str_type();
    if (d[0] > 0 && H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        free(v);
        v = NULL;
    }
    for (i = 0; v && i < d[0]; i++)
        if (!v[i]) {
            free_h5_strings(v, (size_t)d[0]);
            v = NULL;
        }
    if (v)
        *n = (size_t)d[0];
    H5Tclose(t);
    H5Dclose(ds);
    return v;
}

/* A scalar variable-length string attribute of the root, as a new string. */
static char *read_attr(hid_t f, const char *name)
{
    hid_t a = H5Aexists(f, name) > 0 ? H5Aopen(f, name, H5P_DEFAULT) : -1;
    hid_t t = a >= 0 ? H5Aget_type(a) : -1, sp = a >= 0 ? H5Aget_space(a) : -1, mt;
    char *v = NULL, *copy = NULL;

    if (t >= 0 && sp >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0 &&
        H5Sget_simple_extent_type(sp) == H5S_SCALAR) {
        mt = str_type();
        if (H5Aread(a, mt, &v) >= 0 && v)
            copy = mb_strdup(v);
        H5free_memory(v);
        H5Tclose(mt);
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return copy;
}

static int attr_is(hid_t f, const char *name, const char *want)
{
    char *v = read_attr(f, name);
    int same = v && strcmp(v, want) == 0;
    free(v);
    return same;
}

typedef struct loaded {
    mb_plan plan;             /* a --sql task: ncol and needs of its accumulators */
    int sql;                  /* a --sql task: */
    mb_query q;               /* its query, parsed, with its stored columns */
    mb_qtask qt;              /* bound to them */
    char *kraw;               /* its G encoded keys back to back */
    size_t *koff;             /* G + 1 offsets into kraw */
    size_t G;
    char **keys;          /* G * ngroup: HDF5-allocated, or into kbuf */
    char *kbuf;           /* fixed-length keys, NUL-terminated */
    int64_t *rows;
    mb_numstate *st;
    mb_strmm *ss;             /* G * ncol, beside st: the strings of string
                                 min/max states (MB_NEED_STR); NULL if none */
    mb_dbytes *db;            /* G * ncol, beside st: the byte forms of DOUBLE
                                 states (MB_NEED_DBL), owned; NULL if none */
} loaded;

static void loaded_fini(loaded *l)
{
    if (l->kbuf) {
        free(l->kbuf);
        free(l->keys);
    } else {
        free_h5_strings(l->keys, l->G * l->plan.ngroup);
    }
    free(l->rows);
    free(l->st);
    for (size_t i = 0; l->ss && i < l->G * l->plan.ncol; i++)
        mb_strmm_fini(&l->ss[i]);
    free(l->ss);
    for (size_t i = 0; l->db && i < l->G * l->plan.ncol; i++)
        free((void *)(uintptr_t)l->db[i].p);
    free(l->db);
    free(l->kraw);
    free(l->koff);
    mb_qtask_fini(&l->qt);
    mb_query_fini(&l->q);
    mb_plan_fini(&l->plan);
    memset(l, 0, sizeof *l);
}

/* Reads all of dataset ds (already checked) as type t into buf. */
static int read_all(hid_t ds, hid_t t, void *buf, size_t count)
{
    return count == 0 || H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0 ? 0 : -1;
}

/* The keys, a [G][ngroup] string dataset: variable-length strings (none
 * nil), or fixed-length ones read as NUL-terminated strings of one byte
 * more into l->kbuf. */
static int read_keys(hid_t f, loaded *l, size_t nk)
{
    hsize_t d[2];
    hid_t ds = open_dset(f, "keys", H5T_STRING, 2, d), ft, mt;
    size_t w = 0, i;
    int rc = -1;

    if (ds < 0 || d[0] != l->G || d[1] != l->plan.ngroup) {
        if (ds >= 0)
            H5Dclose(ds);
        return -1;
    }
    ft = H5Dget_type(ds);
    if (is_vlen_str(ds)) {
        mt = str_type();
        rc = read_all(ds, mt, l->keys, nk);
        H5Tclose(mt);
        for (i = 0; rc == 0 && i < nk; i++)
            if (!l->keys[i])
                rc = -1;
    } else if (ft >= 0 && (w = H5Tget_size(ft)) > 0 && w <= KEY_WIDTH_MAX &&
               (l->kbuf = mb_calloc(nk ? nk : 1, w + 1)) != NULL) {
        mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, w + 1);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        H5Tset_cset(mt, H5T_CSET_UTF8);
        rc = read_all(ds, mt, l->kbuf, nk);
        H5Tclose(mt);
        for (i = 0; i < nk; i++)
            l->keys[i] = l->kbuf + i * (w + 1);
    }
    if (ft >= 0)
        H5Tclose(ft);
    H5Dclose(ds);
    return rc;
}

/* Row i's key fields come strictly after row i-1's (sorted, no duplicate
 * groups, which a merge would silently add up). */
static int keys_ascending(const loaded *l)
{
    size_t ng = l->plan.ngroup, i, k;

    for (i = 1; i < l->G; i++) {
        int c = 0;
        for (k = 0; k < ng && c == 0; k++)
            c = strcmp(l->keys[(i - 1) * ng + k], l->keys[i * ng + k]);
        if (c >= 0)
            return 0;
    }
    return 1;
}

/* Every state is one the aggregation could have produced. */
static const char *bad_states(const loaded *l, uint64_t *rows_total)
{
    size_t nc = l->plan.ncol, i, c;
    uint64_t total = 0;

    for (i = 0; i < l->G; i++) {
        if (l->rows[i] < 1)
            return "a group with no rows";
        if ((uint64_t)l->rows[i] > UINT64_MAX - total)
            return "row counts overflow";
        total += (uint64_t)l->rows[i];
        for (c = 0; c < nc; c++) {
            const mb_numstate *s = &l->st[i * nc + c];
            if (s->n < 0 || s->n > l->rows[i] || s->scale < 0 || s->scale > MB_DEC_MAX_SCALE ||
                s->nonint > 1 || (s->sumsq.w[7] >> 63))
                return "an aggregate state out of range";
            if ((l->plan.needs[c] & MB_NEED_STR) &&
                (s->scale != 0 || s->nonint != 0 || (s->n > 0) != (l->ss && mb_strmm_has(&l->ss[i * nc + c]))))
                return "a string state out of range";
            if ((l->plan.needs[c] & MB_NEED_DBL) &&
                (s->scale != 0 || s->nonint != 0 || (s->n > 0) != (l->db && l->db[i * nc + c].len > 0)))
                return "a DOUBLE state out of range";
        }
    }
    *rows_total = total;
    return NULL;
}

/* The exact integers the stored states hold (absent ones read as zero). */
static unsigned dset_needs(hid_t ds)
{
    hid_t t = H5Dget_type(ds);
    unsigned need = t >= 0 ? state_type_needs(t) : 0;

    if (t >= 0)
        H5Tclose(t);
    return need;
}

/* Format 2 (written before the values table): the states of all columns in
 * one [G][ncol] dataset of the members any column used. Read as before. */
static const char *read_states_2d(hid_t f, loaded *l, size_t ns)
{
    hsize_t d[2];
    hid_t ds = open_dset(f, "states", H5T_COMPOUND, 2, d), tn;
    const char *why = NULL;
    unsigned need;

    if (ds < 0 || d[0] != l->G || d[1] != l->plan.ncol) {
        if (ds >= 0)
            H5Dclose(ds);
        return "the states dataset is malformed or does not match the rows";
    }
    need = dset_needs(ds);
    for (size_t c = 0; c < l->plan.ncol; c++)
        if (l->plan.needs[c] & ~need)
            why = "the states lack values the aggregates need";
    if (!why) {
        tn = state_type(need);
        if (read_all(ds, tn, l->st, ns) != 0)
            why = "the states dataset cannot be read";
        H5Tclose(tn);
    }
    H5Dclose(ds);
    return why;
}

/* A string min/max state dataset (already checked to be [G] with the
 * members) into column c of l->st (n, scale, nonint) and l->ss (copies of
 * the strings, checked to be UTF-8 as they were when they were added). */
static const char *read_str_states(hid_t ds, loaded *l, size_t c)
{
    size_t nc = l->plan.ncol;
    hid_t tn = str_state_type(), sp;
    strrow *r;
    const char *why = NULL;
    mb_err e2;

    if (!l->ss && !(l->ss = mb_calloc(l->G * nc + 1, sizeof *l->ss)))
        why = "out of memory";
    if (!why && !(r = mb_calloc(l->G + 1, sizeof *r)))
        why = "out of memory";
    if (why) {
        H5Tclose(tn);
        return why;
    }
    if (l->G > 0 && H5Dread(ds, tn, H5S_ALL, H5S_ALL, H5P_DEFAULT, r) < 0)
        why = "a states dataset cannot be read";
    for (size_t i = 0; !why && i < l->G; i++) {
        mb_numstate *s = &l->st[i * nc + c];
        mb_strmm v = {r[i].min.p ? r[i].min.p : (char *)(uintptr_t)"",
                      r[i].max.p ? r[i].max.p : (char *)(uintptr_t)"",
                      (uint32_t)r[i].min.len, (uint32_t)r[i].max.len, 0, 0};
        s->n = r[i].n;
        s->scale = r[i].scale;
        s->nonint = r[i].nonint;
        if (r[i].n == 0 && (r[i].min.len || r[i].max.len))
            why = "a string state without values holds strings";
        else if (r[i].n > 0 && (r[i].min.len > MB_STRMM_MAX || r[i].max.len > MB_STRMM_MAX ||
                                mb_strmm_cmp(v.min, v.minlen, v.max, v.maxlen) > 0 ||
                                mb_strmm_merge(&l->ss[i * nc + c], &v, NULL, &e2) != MB_OK))
            why = "a string state is malformed (too long, min above max, or not UTF-8)";
    }
    if (l->G > 0) {
        sp = H5Dget_space(ds);
        H5Dvlen_reclaim(tn, sp, H5P_DEFAULT, r);
        H5Sclose(sp);
    }
    free(r);
    H5Tclose(tn);
    return why;
}

/* A DOUBLE state dataset (already checked to be [G] with the member) into
 * column c of l->st (n, scale, nonint) and l->db (copies of the byte
 * forms; their content is checked when they are merged). */
static const char *read_dbl_states(hid_t ds, loaded *l, size_t c)
{
    size_t nc = l->plan.ncol;
    hid_t tn = dbl_state_type(), sp;
    dblrow *r;
    const char *why = NULL;

    if (!l->db && !(l->db = mb_calloc(l->G * nc + 1, sizeof *l->db)))
        why = "out of memory";
    if (!why && !(r = mb_calloc(l->G + 1, sizeof *r)))
        why = "out of memory";
    if (why) {
        H5Tclose(tn);
        return why;
    }
    if (l->G > 0 && H5Dread(ds, tn, H5S_ALL, H5S_ALL, H5P_DEFAULT, r) < 0)
        why = "a states dataset cannot be read";
    for (size_t i = 0; !why && i < l->G; i++) {
        mb_numstate *s = &l->st[i * nc + c];
        void *copy;
        s->n = r[i].n;
        s->scale = r[i].scale;
        s->nonint = r[i].nonint;
        if (r[i].fsum.len > MB_FSUM_PACK_MAX + MB_FSUMSQ_PACK_MAX + 16)
            why = "a DOUBLE state is malformed (too long)";
        else if (r[i].fsum.len > 0 && !(copy = mb_malloc(r[i].fsum.len)))
            why = "out of memory";
        else if (r[i].fsum.len > 0) {
            memcpy(copy, r[i].fsum.p, r[i].fsum.len);
            l->db[i * nc + c].p = copy;
            l->db[i * nc + c].len = r[i].fsum.len;
        }
    }
    if (l->G > 0) {
        sp = H5Dget_space(ds);
        H5Dvlen_reclaim(tn, sp, H5P_DEFAULT, r);
        H5Sclose(sp);
    }
    free(r);
    H5Tclose(tn);
    return why;
}

/* Format 3: /states/C for each column C, a [G] dataset holding the members
 * of that column's aggregates only; read into column C of l->st (members
 * the column does not use stay zero, and merging does not look at them). */
static const char *read_states(hid_t f, loaded *l)
{
    char name[64];
    size_t nc = l->plan.ncol;

    if (H5Lexists(f, "states", H5P_DEFAULT) <= 0)
        return "the states group is missing";
    for (size_t c = 0; c < nc; c++) {
        hsize_t d[2], dims[2] = {l->G, nc}, start[2] = {0, c}, count[2] = {l->G, 1};
        hid_t ds, tn, ms;
        int rc;

        state_dset_name(name, sizeof name, c);
        if ((ds = open_dset(f, name, H5T_COMPOUND, 1, d)) < 0 || d[0] != l->G) {
            if (ds >= 0)
                H5Dclose(ds);
            return "a states dataset is missing, malformed or does not match the rows";
        }
        if (l->plan.needs[c] & ~dset_needs(ds)) {
            H5Dclose(ds);
            return "the states lack values the aggregates need";
        }
        if (l->plan.needs[c] & (MB_NEED_STR | MB_NEED_DBL)) {
            const char *why = (l->plan.needs[c] & MB_NEED_STR) ? read_str_states(ds, l, c)
                                                                : read_dbl_states(ds, l, c);
            H5Dclose(ds);
            if (why)
                return why;
            continue;
        }
        tn = state_type(l->plan.needs[c]);
        ms = H5Screate_simple(2, dims, NULL);
        H5Sselect_hyperslab(ms, H5S_SELECT_SET, start, NULL, count, NULL);
        rc = l->G == 0 || H5Dread(ds, tn, ms, H5S_ALL, H5P_DEFAULT, l->st) >= 0 ? 0 : -1;
        H5Sclose(ms);
        H5Tclose(tn);
        H5Dclose(ds);
        if (rc != 0)
            return "a states dataset cannot be read";
    }
    return NULL;
}

/* The plan from /group_by and /aggregates, checked against /columns. */
static const char *load_plan(hid_t f, loaded *l, mb_err *err)
{
    size_t ng = 0, na = 0, nc = 0, i;
    char **group = read_strings(f, "group_by", &ng), **aggs = read_strings(f, "aggregates", &na);
    char **cols = read_strings(f, "columns", &nc);
    const char *why = NULL;
    mb_err e2;

    if (!group || !aggs || !cols)
        why = "the group_by, aggregates or columns dataset is missing or malformed";
    else if (ng == 0 || na == 0)
        why = "no group columns or no aggregates";
    else if (mb_plan_from_lists(&l->plan, group, ng, aggs, na, &e2) != MB_OK)
        why = "the stored aggregates do not parse";
    else if (l->plan.ncol != nc)
        why = "the columns do not match the aggregates";
    for (i = 0; !why && i < nc; i++)
        if (strcmp(cols[i], l->plan.cols[i]) != 0)
            why = "the columns do not match the aggregates";
    free_h5_strings(group, ng);
    free_h5_strings(aggs, na);
    free_h5_strings(cols, nc);
    (void)err;
    return why;
}

/* ", where column x is BIGINT there and DOUBLE here" for the first column
 * of the same name typed differently by two tasks, or "". */
static void type_difference(const mb_qtask *a, const mb_qtask *b, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < a->ncols; i++)
        for (size_t j = 0; j < b->ncols; j++) {
            char ta[64], tb[64];
            if (strcmp(a->cols[i].name, b->cols[j].name) != 0 ||
                mb_sql_dtype_name(a->cols[i].type, ta, sizeof ta) != MB_OK ||
                mb_sql_dtype_name(b->cols[j].type, tb, sizeof tb) != MB_OK || !strcmp(ta, tb))
                continue;
            snprintf(out, cap, " (column '%s' is %s there, %s here: --columns \"%s %s\" "
                     "would type both alike)", a->cols[i].name, ta, tb, a->cols[i].name,
                     strcmp(ta, "BIGINT") == 0 || strcmp(tb, "BIGINT") == 0 ? "DOUBLE" : tb);
            return;
        }
}

/* A --sql task's query and columns, parsed and bound again, must give the
 * plan the file records: then its states mean what they meant. */
static const char *load_sql_plan(hid_t f, loaded *l)
{
    char *query = read_attr(f, "query"), *cols = read_attr(f, "columns");
    char *normal = read_attr(f, "plan");
    const char *why = NULL;
    mb_plan p;
    mb_err e2;

    memset(&p, 0, sizeof p);
    p.sql = query;
    p.columns = cols;
    p.sql_source = (char *)"the stored query";
    if (!query || !cols || !normal)
        why = "the query, columns or plan attribute is missing";
    else if (mb_query_open(&l->q, &p, &e2) != MB_OK)
        why = "the stored query or columns do not parse";
    if (!why) {
        char **names = mb_calloc(l->q.nover + 1, sizeof *names);
        mb_sql_dtype *types = mb_calloc(l->q.nover + 1, sizeof *types);
        for (size_t i = 0; names && types && i < l->q.nover; i++) {
            names[i] = (char *)l->q.over[i].name;
            types[i] = l->q.over[i].type;
        }
        if (!names || !types || mb_query_bind(&l->q, names, types, l->q.nover, &l->qt, &e2) !=
                                    MB_OK)
            why = "the stored query does not bind to the stored columns";
        else if (strcmp(l->qt.plan->normal, normal) != 0)
            why = "the stored query gives another plan than the one recorded (another version "
                  "of mpibatch?)";
        free(names);
        free(types);
    }
    if (!why) {
        l->plan.ncol = l->qt.rows.nacc;
        l->plan.needs = mb_calloc(l->plan.ncol + 1, sizeof *l->plan.needs);
        if (!l->plan.needs)
            why = "out of memory";
        for (size_t i = 0; !why && i < l->plan.ncol; i++)
            l->plan.needs[i] = l->qt.rows.needs[i];
    }
    free(query);
    free(cols);
    free(normal);
    return why;
}

/* A --sql task's /keys: G encoded keys (vlen uint8), strictly ascending in
 * the table's order and each of the plan's number of fields. */
static const char *read_sql_keys(hid_t f, loaded *l)
{
    hsize_t d[2];
    hid_t ds = open_dset(f, "keys", H5T_VLEN, 1, d), mt = H5Tvlen_create(H5T_NATIVE_UINT8);
    hvl_t *v = NULL;
    const char *why = NULL;
    size_t total = 0, i;

    if (ds < 0 || d[0] != l->G)
        why = "the keys dataset is malformed or does not match the rows";
    else if (!(v = mb_calloc(l->G + 1, sizeof *v)) ||
             !(l->koff = mb_calloc(l->G + 1, sizeof *l->koff)))
        why = "out of memory";
    else if (l->G && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        why = "the keys dataset cannot be read";
    for (i = 0; !why && i < l->G; i++) {
        if (v[i].len > KEY_WIDTH_MAX * 16 || (v[i].len && !v[i].p))
            why = "a key is too long";
        total += v[i].len;
    }
    if (!why && !(l->kraw = mb_malloc(total + 1)))
        why = "out of memory";
    for (i = 0; !why && i < l->G; i++) {
        size_t at = l->koff[i], nf = 0, k = 0;
        if (v[i].len)
            memcpy(l->kraw + at, v[i].p, v[i].len);
        l->koff[i + 1] = at + v[i].len;
        while (k + 4 <= v[i].len) {      /* the fields tile the key */
            uint32_t fl;
            memcpy(&fl, l->kraw + at + k, 4);
            if (fl > v[i].len - k - 4)
                break;
            k += 4 + fl;
            nf++;
        }
        if (k != v[i].len || nf != l->qt.plan->nkeys)
            why = "a key is not of the query's key fields";
        else if (i > 0 && mb_groups_key_cmp(l->kraw + l->koff[i - 1], l->koff[i] - l->koff[i - 1],
                                            l->kraw + at, v[i].len) >= 0)
            why = "its keys are not sorted and distinct";
    }
    if (v && l->G && ds >= 0) {
        hid_t sp = H5Dget_space(ds);
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
        H5Sclose(sp);
    }
    free(v);
    H5Tclose(mt);
    if (ds >= 0)
        H5Dclose(ds);
    return why;
}

/* Reads OUT/TASK.h5 (its checksum already verified against the ledger
 * entry l): every dataset's rank and dims are checked before it is read,
 * and the counts against the ledger after. */
static mb_status load_h5(const char *path, const char *task, const ledger *lg, loaded *l,
                         mb_err *err)
{
    size_t G = 0, nk = 0, ns = 0;
    hid_t f, ds = -1;
    hsize_t d[2];
    const char *why = NULL;
    uint64_t rows_total = 0;
    int v2 = 0;

    memset(l, 0, sizeof *l);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return damaged(err, path, task, "not a readable HDF5 file");
    v2 = attr_is(f, "format", RESULT_FORMAT_2);
    if (!v2 && !attr_is(f, "format", MPIBATCH_RESULT_FORMAT))
        why = "not of format " MPIBATCH_RESULT_FORMAT " (nor " RESULT_FORMAT_2 ")";
    else if (!attr_is(f, "task_id", task))
        why = "its task_id attribute names another task";
    else if (!attr_is(f, "fingerprint", lg->fingerprint))
        why = "its job fingerprint differs from its ledger entry";
    if (!why && (l->sql = attr_is(f, "kind", "sql")) != 0)
        why = load_sql_plan(f, l);
    else if (!why)
        why = load_plan(f, l, err);
    if (!why && ((ds = open_dset(f, "rows", H5T_INTEGER, 1, d)) < 0 || d[0] != lg->groups))
        why = "the rows dataset is malformed or its group count differs from its ledger entry";
    if (!why && (d[0] > (SIZE_MAX >> 12) || mb_size_mul((size_t)d[0], l->plan.ngroup, &nk) ||
                 mb_size_mul((size_t)d[0], l->plan.ncol, &ns)))
        why = "too many groups";
    if (!why) {
        G = l->G = (size_t)d[0];
        l->keys = mb_calloc(nk ? nk : 1, sizeof *l->keys);
        l->rows = mb_malloc((G ? G : 1) * sizeof *l->rows);
        l->st = mb_calloc(ns ? ns : 1, sizeof *l->st);
        if (!l->keys || !l->rows || !l->st) {
            H5Dclose(ds);
            H5Fclose(f);
            loaded_fini(l);
            return mb_err_set(err, MB_ENOMEM, "%s: task %s: out of memory", path, task);
        }
        if (read_all(ds, H5T_NATIVE_INT64, l->rows, G) != 0)
            why = "the rows dataset cannot be read";
    }
    if (ds >= 0)
        H5Dclose(ds);
    ds = -1;
    if (!why && l->sql)
        why = read_sql_keys(f, l);
    else if (!why && read_keys(f, l, nk) != 0)
        why = "the keys dataset is malformed or does not match the rows";
    if (!why)
        why = v2 ? read_states_2d(f, l, ns) : read_states(f, l);
    if (!why && !l->sql && !keys_ascending(l))
        why = "its keys are not sorted and distinct";
    if (!why)
        why = bad_states(l, &rows_total);
    if (!why && rows_total != lg->rows)
        why = "its row count differs from its ledger entry";
    if (H5Fclose(f) < 0 && !why)
        why = "HDF5 close failed";
    if (why) {
        loaded_fini(l);
        if (strstr(why, "ledger entry"))
            return mb_err_set(err, MB_EDATA, "%s: damaged result file of task %s: %s %s", path,
                              task, why, lg->path);
        return damaged(err, path, task, why);
    }
    return MB_OK;
}

/* The file matches the size and SHA-256 its ledger entry recorded. */
static mb_status verify_file(const char *path, const char *task, const ledger *lg,
                             const file_sum *want, mb_err *err)
{
    char got[MB_SHA256_HEX];
    uint64_t size = 0;
    mb_status st = mb_sha256_file(path, &size, got, err);

    if (st == MB_ENOENT)
        return mb_err_set(err, MB_EIO, "%s: result file of task %s is missing (its ledger "
                          "entry %s says it was committed)", path, task, lg->path);
    if (st != MB_OK)
        return mb_err_prefix(err, "task %s: ", task);
    if (size != want->size)
        return mb_err_set(err, MB_EDATA, "%s: damaged result file of task %s: %llu bytes, its "
                          "ledger entry %s says %llu", path, task, (unsigned long long)size,
                          lg->path, (unsigned long long)want->size);
    if (strcmp(got, want->sha256) != 0)
        return mb_err_set(err, MB_EDATA, "%s: damaged result file of task %s: its SHA-256 "
                          "differs from the one in its ledger entry %s", path, task, lg->path);
    return MB_OK;
}

/* One committed task, verified: ledger entry, the result files' checksums
 * (the rejects file's too, when the task has one), then the states (HDF5
 * opens the file only after its checksum matched). */
static mb_status load_task(const char *out, const char *task, loaded *l, mb_err *err)
{
    char path[PATH_CAP];
    ledger *lg = mb_malloc(sizeof *lg);
    mb_status st;

    memset(l, 0, sizeof *l);
    if (!lg)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    st = ledger_read(out, task, lg, err);
    if (st == MB_ENOENT)
        st = mb_err_set(err, MB_EIO, "%s: the ledger entry of task %s vanished", lg->path, task);
    if (st == MB_OK && !lg->have_files)
        st = mb_err_set(err, MB_EDATA, "%s: the ledger entry of task %s has no checksums of its "
                        "result files (an older mpibatch wrote it); process the task again",
                        lg->path, task);
    snprintf(path, sizeof path, "%s/%s.csv", out, task);
    if (st == MB_OK)
        st = verify_file(path, task, lg, &lg->csv, err);
    snprintf(path, sizeof path, "%s/%s.rejects.csv", out, task);
    if (st == MB_OK && lg->have_rejects)
        st = verify_file(path, task, lg, &lg->rejects, err);
    snprintf(path, sizeof path, "%s/%s.h5", out, task);
    if (st == MB_OK)
        st = verify_file(path, task, lg, &lg->h5, err);
    if (st == MB_OK)
        st = load_h5(path, task, lg, l, err);
    free(lg);
    return st;
}

/* Merges a loaded result into g (plan must match). */
static mb_status merge_loaded(mb_groups *g, const loaded *l, const char *task, mb_err *err)
{
    mb_buf key;
    mb_status st = MB_OK;
    size_t i, k;

    mb_buf_init(&key, (size_t)1 << 30);
    for (i = 0; l->sql && i < l->G && st == MB_OK; i++)
        st = mb_groups_merge_one(g, l->kraw + l->koff[i], l->koff[i + 1] - l->koff[i], l->rows[i],
                                 l->st + i * l->plan.ncol, l->ss ? l->ss + i * l->plan.ncol : NULL,
                                 l->db ? l->db + i * l->plan.ncol : NULL, err);
    for (i = 0; !l->sql && i < l->G && st == MB_OK; i++) {
        key.len = 0;
        for (k = 0; k < l->plan.ngroup && st == MB_OK; k++) {
            const char *s = l->keys[i * l->plan.ngroup + k];
            uint32_t len = (uint32_t)strlen(s);
            st = mb_buf_put(&key, &len, sizeof len);
            if (st == MB_OK)
                st = mb_buf_put(&key, s, len);
        }
        if (st == MB_OK)
            st = mb_groups_merge_one(g, key.p, key.len, l->rows[i], l->st + i * l->plan.ncol,
                                     NULL, NULL, err);
    }
    mb_buf_fini(&key);
    return st == MB_OK ? MB_OK : mb_err_prefix(err, "task %s: ", task);
}

static int same_plan(const mb_plan *a, const mb_plan *b)
{
    size_t i;
    if (a->ngroup != b->ngroup || a->nagg != b->nagg)
        return 0;
    for (i = 0; i < a->ngroup; i++)
        if (strcmp(a->group[i], b->group[i]) != 0)
            return 0;
    for (i = 0; i < a->nagg; i++)
        if (strcmp(a->aggs[i].text, b->aggs[i].text) != 0)
            return 0;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}

/* The names X of the files X.json in OUT/sub, sorted. MB_ENOENT when the
 * directory is missing. */
static mb_status list_json(const char *out, const char *sub, char ***ids, size_t *n,
                           mb_err *err)
{
    char p[PATH_CAP];
    DIR *d;
    struct dirent *e;
    size_t cap = 16;
    int nomem = 0;

    snprintf(p, sizeof p, "%s/%s", out, sub);
    *n = 0;
    *ids = NULL;
    if (!(d = opendir(p)))
        return mb_err_set(err, errno == ENOENT ? MB_ENOENT : MB_EIO, "%s: %s", p,
                          strerror(errno));
    *ids = mb_malloc(cap * sizeof **ids);
    while (*ids && !nomem && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (*n == cap) {
            char **v = mb_realloc(*ids, (cap *= 2) * sizeof **ids);
            if (!v) {
                nomem = 1;
                break;
            }
            *ids = v;
        }
        if (!((*ids)[*n] = mb_strndup(e->d_name, len - 5)))
            nomem = 1;
        else
            (*n)++;
    }
    closedir(d);
    if (!*ids || nomem) {
        free_ids(*ids, *n);
        *ids = NULL;
        return mb_err_set(err, MB_ENOMEM, "out of memory listing %s", p);
    }
    qsort(*ids, *n, sizeof **ids, cmp_str);
    return MB_OK;
}

/* Task ids with a ledger entry, sorted: the only tasks `results` reads. */
static mb_status list_tasks(const char *out, char ***ids, size_t *n, mb_err *err)
{
    mb_status st = list_json(out, LEDGER, ids, n, err);

    if (st == MB_ENOENT)
        return mb_err_set(err, MB_ENOENT, "%s: no result directory (no ledger)", out);
    return st;
}

/* Warns about the tasks of OUT recorded as poisoned and not committed. */
static void warn_poisoned(const char *out)
{
    char **ids = NULL, list[768], *text, p[PATH_CAP];
    size_t n = 0, i, bad = 0, len;
    int at = 0;
    mb_err e;

    if (list_json(out, POISON, &ids, &n, &e) != MB_OK)
        return;
    list[0] = '\0';
    for (i = 0; i < n; i++) {
        if (mb_results_committed(out, ids[i]))
            continue;
        if (++bad <= 10 && at >= 0 && (size_t)at < sizeof list)
            at += snprintf(list + at, sizeof list - (size_t)at, "%s%s", bad > 1 ? ", " : "",
                           ids[i]);
    }
    if (bad > 10 && at >= 0 && (size_t)at < sizeof list)
        snprintf(list + at, sizeof list - (size_t)at, ", ...");
    if (bad)
        mb_warn("%zu task(s) of this output ended in the poison area: %s (reasons below; "
                "`mpibatch queue redrive` puts them back in the queue)", bad, list);
    for (i = 0; i < n && bad; i++) {
        json_t *o;
        snprintf(p, sizeof p, "%s/%s/%s.json", out, POISON, ids[i]);
        if (mb_results_committed(out, ids[i]) ||
            mb_fs_read_small(p, LEDGER_MAX, &text, &len, &e) != MB_OK)
            continue;
        o = json_loadb(text, len, 0, NULL);
        free(text);
        if (json_is_string(json_object_get(o, "reason")))
            mb_warn("task %s: %s", ids[i], json_string_value(json_object_get(o, "reason")));
        json_decref(o);
    }
    free_ids(ids, n);
}

static void json_str(FILE *f, const char *p, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

typedef struct json_key_ctx {
    FILE *f;
    const mb_plan *p;
} json_key_ctx;

static void key_field_json(void *ctx, size_t i, const char *s, size_t len)
{
    json_key_ctx *c = ctx;
    if (i)
        fputc(',', c->f);
    json_str(c->f, c->p->group[i], strlen(c->p->group[i]));
    fputc(':', c->f);
    if (len)
        json_str(c->f, s, len);
    else
        fputs("null", c->f);    /* an empty key field is NULL, as in --sql answers */
}

static mb_status write_json(FILE *f, const mb_plan *p, const mb_groups *g, const char *task,
                            int *first, mb_err *err)
{
    size_t *idx = mb_groups_sorted(g), i, a;
    int *ic = int_columns(p, g);
    char cell[CELL_CAP];
    mb_status st = MB_OK;
    json_key_ctx kc = {f, p};

    if (!idx || !ic) {
        free(idx);
        free(ic);
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    }
    for (i = 0; i < g->n && st == MB_OK; i++) {
        fputs(*first ? "\n  {" : ",\n  {", f);
        *first = 0;
        if (task) {
            fputs("\"task\":", f);
            json_str(f, task, strlen(task));
            fputc(',', f);
        }
        mb_groups_key_fields(mb_groups_key(g, idx[i]), mb_groups_klen(g, idx[i]), key_field_json, &kc);
        for (a = 0; a < p->nagg && st == MB_OK; a++) {
            st = agg_cell(p, g, idx[i], a, ic, cell, sizeof cell);
            if (st != MB_OK) {
                mb_err_set(err, st, "cannot format %s of a group", p->aggs[a].text);
                break;
            }
            fputc(',', f);
            json_str(f, p->aggs[a].text, strlen(p->aggs[a].text));
            fprintf(f, ":%s", cell[0] ? cell : "null");
        }
        fputc('}', f);
    }
    free(idx);
    free(ic);
    return st;
}

/* The answer of a --sql task's query over g (the task's groups, or the
 * merged total of several tasks): HAVING, ORDER BY and LIMIT apply to the
 * whole of g. */
static mb_status write_sql(FILE *f, const loaded *l, const mb_groups *g, const char *task,
                           int json, int *first, mb_err *err)
{
    mb_sql_result ans;
    mb_status st = mb_sql_finish(l->qt.plan, &l->qt.rows, g, &ans, err);

    if (st != MB_OK)
        return st;
    st = json ? mb_sql_result_write_json(&ans, f, task, first)
              : mb_sql_result_write_csv_task(&ans, f, task, *first);
    *first = 0;
    mb_sql_result_fini(&ans);
    return st == MB_OK ? MB_OK : mb_err_set(err, st, "cannot write the answer");
}

static mb_status print_one(FILE *f, const loaded *l, const char *task, int json, int *first,
                           mb_err *err)
{
    mb_groups g;
    mb_status st;

    if (mb_groups_init(&g, l->plan.needs, l->plan.ncol, SIZE_MAX) != MB_OK)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    st = merge_loaded(&g, l, task, err);
    if (st == MB_OK && g.n != l->G)
        st = mb_err_set(err, MB_EDATA, "task %s: duplicate groups", task);
    if (st == MB_OK) {
        st = l->sql ? write_sql(f, l, &g, task, json, first, err)
             : json ? write_json(f, &l->plan, &g, task, first, err)
                    : mb_results_write_csv(f, &l->plan, &g, task, *first, err);
        if (st != MB_OK)
            mb_err_prefix(err, "task %s: ", task);
    }
    *first = 0;
    mb_groups_fini(&g);
    return st;
}

/* The tasks of OUT, printed to f (a memory stream: nothing reaches the
 * real output unless every task was read whole). */
static mb_status print_tasks(const char *out, char **ids, size_t n, int merge, int json,
                             FILE *f, mb_err *err)
{
    mb_status st = MB_OK;
    mb_groups total;
    loaded l, ref;
    int have_ref = 0, first = 1;
    size_t i;

    memset(&total, 0, sizeof total);
    memset(&ref, 0, sizeof ref);
    if (json)
        fputc('[', f);
    for (i = 0; i < n && st == MB_OK; i++) {
        if ((st = load_task(out, ids[i], &l, err)) != MB_OK)
            break;
        if (!merge) {
            st = print_one(f, &l, ids[i], json, &first, err);
            loaded_fini(&l);
            continue;
        }
        if (!have_ref) {
            if (mb_groups_init(&total, l.plan.needs, l.plan.ncol, SIZE_MAX) != MB_OK)
                st = mb_err_set(err, MB_ENOMEM, "out of memory");
        } else if (ref.sql != l.sql || (l.sql && strcmp(ref.qt.plan->normal,
                                                          l.qt.plan->normal) != 0)) {
            char why[512];
            type_difference(&ref.qt, &l.qt, why, sizeof why);
            st = mb_err_set(err, MB_EDATA, "%s: task %s was computed by another query or under "
                            "other column types than task %s%s; merge needs one plan (give the "
                            "job --columns to type every file alike)", out, ids[i], ids[0], why);
        } else if (!l.sql && !same_plan(&ref.plan, &l.plan)) {
            st = mb_err_set(err, MB_EDATA, "%s: task %s has other group columns or aggregates "
                            "than task %s; merge needs one job", out, ids[i], ids[0]);
        }
        if (st == MB_OK)
            st = merge_loaded(&total, &l, ids[i], err);
        if (!have_ref) {
            ref = l;            /* its plan prints the total */
            have_ref = 1;
        } else {
            loaded_fini(&l);
        }
    }
    if (st == MB_OK && merge && have_ref) {
        st = ref.sql ? write_sql(f, &ref, &total, NULL, json, &first, err)
             : json ? write_json(f, &ref.plan, &total, NULL, &first, err)
                  : mb_results_write_csv(f, &ref.plan, &total, NULL, 1, err);
        if (st != MB_OK)
            mb_err_prefix(err, "%s: the merged total: ", out);
    }
    if (json)
        fputs(first ? "]\n" : "\n]\n", f);
    if (have_ref)
        loaded_fini(&ref);
    mb_groups_fini(&total);
    return st;
}

mb_status mb_results_print(const char *out, int merge, const char *format, FILE *f,
                           mb_err *err)
{
    char **ids = NULL, *buf = NULL;
    size_t n = 0, len = 0;
    int json;
    mb_status st;
    FILE *mem;

    if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
        return mb_err_set(err, MB_EUSAGE, "--format: '%s' is not csv or json", format);
    json = format && strcmp(format, "json") == 0;
    if ((st = list_tasks(out, &ids, &n, err)) != MB_OK)
        return st;
    warn_poisoned(out);
    if (!(mem = open_memstream(&buf, &len))) {
        free_ids(ids, n);
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    }
    st = print_tasks(out, ids, n, merge, json, mem, err);
    if (fclose(mem) != 0 && st == MB_OK)
        st = mb_err_set(err, MB_ENOMEM, "out of memory formatting the results of %s", out);
    if (st == MB_OK && (fwrite(buf, 1, len, f) != len || fflush(f) != 0))
        st = mb_err_set(err, MB_EIO, "writing the results of %s: %s", out, strerror(errno));
    free(buf);
    free_ids(ids, n);
    return st;
}
