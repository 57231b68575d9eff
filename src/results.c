/* results.c - result tables (CSV), mergeable states (HDF5), the ledger and
 * the `results` command. Reads and writes files only from rank 0 or plain
 * processes; knows nothing of MPI or queues.
 *
 * HDF5 layout of OUT/TASK.h5 (format "mpibatch-result-2"):
 *   attributes on /: format, task_id, input, fingerprint
 *   /group_by    string[ngroup]       group column names
 *   /aggregates  string[nagg]         aggregates as written in the job
 *   /columns     string[ncol]         aggregated columns, states' order
 *   /keys        string[G][ngroup]    group key values, rows sorted by key
 *   /rows        int64[G]             count(*) per group
 *   /states      compound[G][ncol]    mb_numstate: n, scale, nonint, and
 *                                     those of the exact integers sum,
 *                                     sumsq, min, max that the aggregates
 *                                     use (sum for sum/mean, sum and sumsq
 *                                     for var/stddev, min and max for
 *                                     min/max), as little-endian uint64
 *                                     limbs (two's complement; value =
 *                                     integer / 10^scale, sumsq /
 *                                     10^(2*scale)). Absent members read
 *                                     as zero.
 * Tables are written in blocks of H5_BLOCK rows, so memory stays bounded
 * whatever the number of groups. */
#include "results.h"

#include "fsutil.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LEDGER ".ledger"
#define PATH_CAP 4096
#define CELL_CAP 512

mb_status mb_results_prepare(const char *out, mb_err *err)
{
    char p[PATH_CAP];
    snprintf(p, sizeof p, "%s/%s", out, LEDGER);
    return mb_fs_mkdirs(p, err);
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

/* ---- CSV ------------------------------------------------------------ */

static void put_field(FILE *f, const char *p, size_t len)
{
    if (len && (memchr(p, ',', len) || memchr(p, '"', len) || memchr(p, '\n', len) ||
                memchr(p, '\r', len))) {
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
    int *ic = calloc(p->ncol ? p->ncol : 1, sizeof *ic);
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

/* The members of the states' compound type: the state's header, then the
 * exact integers some column's aggregates use (`need`, the union of the
 * columns' needs; all of them for reading). */
static hid_t state_type(unsigned need)
{
    hsize_t d4 = 4, d8 = 8;
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
    if (H5Tget_member_index(t, "sum") >= 0)
        need |= MB_NEED_SUM;
    if (H5Tget_member_index(t, "sumsq") >= 0)
        need |= MB_NEED_SUMSQ;
    if (H5Tget_member_index(t, "min") >= 0 && H5Tget_member_index(t, "max") >= 0)
        need |= MB_NEED_MINMAX;
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

typedef struct key_split {
    char **out;       /* ngroup slots for this row (variable-length strings) */
    char *fixed;      /* or ngroup fields of `width` bytes, zero-padded */
    size_t width;
    int bad;
} key_split;

static void key_field_dup(void *ctx, size_t i, const char *p, size_t len)
{
    key_split *k = ctx;
    if (memchr(p, '\0', len))
        k->bad = 1;
    else if (k->fixed)
        memcpy(k->fixed + i * k->width, p, len);
    else if (!(k->out[i] = strndup(p, len)))
        k->bad = 1;
}

static void key_field_max(void *ctx, size_t i, const char *p, size_t len)
{
    size_t *m = ctx;
    (void)i;
    (void)p;
    if (len > *m)
        *m = len;
}

/* Keys whose fields are all this short are stored fixed-length. */
#define KEY_FIXED_MAX 64

static hid_t fixed_str_type(size_t width)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, width);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
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

/* The keys, rows and states of g in sorted order, block by block. */
static mb_status h5_write_tables(hid_t f, const mb_plan *p, const mb_groups *g,
                                 const size_t *idx, mb_err *err)
{
    size_t G = g->n, b0, i, nk = 0, ns = 0, kmax = 0;
    unsigned need = 0;
    char *kfix = NULL;
    char **keys = calloc(H5_BLOCK * (p->ngroup ? p->ngroup : 1), sizeof *keys);
    int64_t *rows = malloc(H5_BLOCK * sizeof *rows);
    mb_numstate *st = calloc(H5_BLOCK * (p->ncol ? p->ncol : 1), sizeof *st);
    hid_t ts = str_type(), tn, tf, dk, dr, dst;
    mb_status rc = MB_OK;

    for (i = 0; i < p->ncol; i++)
        need |= p->needs[i];
    tn = state_type(need);
    tf = state_file_type(need);
    /* Short keys are stored as fixed-length strings: no heap object per
     * key, which is most of the cost of writing a million of them. */
    for (i = 0; i < G; i++)
        mb_groups_key_fields(mb_groups_key(g, i), mb_groups_klen(g, i), key_field_max, &kmax);
    if (kmax == 0)
        kmax = 1;                   /* HDF5 strings have at least one byte */
    if (kmax <= KEY_FIXED_MAX) {
        H5Tclose(ts);
        ts = fixed_str_type(kmax);
        kfix = calloc(H5_BLOCK * (p->ngroup ? p->ngroup : 1), kmax);
        if (!kfix)
            rc = mb_err_set(err, MB_ENOMEM, "out of memory writing results");
    }
    dk = make_data(f, "keys", ts, 2, G, p->ngroup);
    dr = make_data(f, "rows", H5T_NATIVE_INT64, 1, G, 0);
    dst = make_data(f, "states", tf, 2, G, p->ncol);
    if (mb_size_mul(G, p->ngroup, &nk) != 0 || mb_size_mul(G, p->ncol, &ns) != 0)
        rc = mb_err_set(err, MB_ELIMIT, "result too large");
    if (rc == MB_OK && (!idx || !keys || !rows || !st))
        rc = mb_err_set(err, MB_ENOMEM, "out of memory writing results");
    if (rc == MB_OK && (dk < 0 || dr < 0 || dst < 0))
        rc = mb_err_set(err, MB_EIO, "HDF5: cannot create the result tables");
    for (b0 = 0; rc == MB_OK && b0 < G; b0 += H5_BLOCK) {
        size_t nb = G - b0 < H5_BLOCK ? G - b0 : H5_BLOCK;
        for (i = 0; rc == MB_OK && i < nb; i++) {
            size_t gi = idx[b0 + i];
            if (b0 + i + 8 < G)
                mb_prefetch(mb_groups_rec(g, idx[b0 + i + 8]));
            key_split k = {keys + i * p->ngroup, kfix ? kfix + i * p->ngroup * kmax : NULL,
                           kmax, 0};
            mb_groups_key_fields(mb_groups_key(g, gi), mb_groups_klen(g, gi), key_field_dup,
                                 &k);
            if (k.bad)
                rc = mb_err_set(err, MB_EDATA, "a group key holds a NUL byte");
            rows[i] = mb_groups_rec(g, gi)->rows;
            for (size_t c = 0; c < p->ncol; c++)
                mb_groups_state(g, gi, c, st + i * p->ncol + c);
        }
        if (rc == MB_OK &&
            ((p->ngroup && put_rows(dk, ts, b0, nb, p->ngroup, kfix ? (void *)kfix
                                                                     : (void *)keys) < 0) ||
             put_rows(dr, H5T_NATIVE_INT64, b0, nb, 0, rows) < 0 ||
             (p->ncol && put_rows(dst, tn, b0, nb, p->ncol, st) < 0)))
            rc = mb_err_set(err, MB_EIO, "HDF5 write of the result tables failed");
        for (i = 0; i < nb * p->ngroup; i++) {
            free(keys[i]);
            keys[i] = NULL;
        }
        if (kfix)
            memset(kfix, 0, nb * p->ngroup * kmax);
    }
    if (dk >= 0)
        H5Dclose(dk);
    if (dr >= 0)
        H5Dclose(dr);
    if (dst >= 0)
        H5Dclose(dst);
    free(keys);
    free(kfix);
    free(rows);
    free(st);
    H5Tclose(ts);
    H5Tclose(tn);
    H5Tclose(tf);
    return rc;
}

static mb_status h5_write(const char *path, const mb_plan *p, const mb_groups *g,
                          const size_t *idx, const mb_task_info *t, mb_err *err)
{
    hid_t f, ts;
    mb_status rc = MB_OK;
    const char **texts = malloc((p->nagg ? p->nagg : 1) * sizeof *texts);

    if (!texts)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        free(texts);
        return mb_err_set(err, MB_EIO, "%s: cannot create HDF5 file", path);
    }
    for (size_t a = 0; a < p->nagg; a++)
        texts[a] = p->aggs[a].text;
    ts = str_type();
    if (put_attr(f, "format", MPIBATCH_RESULT_FORMAT) < 0 ||
        put_attr(f, "task_id", t->task_id) < 0 || put_attr(f, "input", t->input) < 0 ||
        put_attr(f, "fingerprint", p->fingerprint) < 0 ||
        put_data(f, "group_by", ts, 1, p->ngroup, 0, p->group) < 0 ||
        put_data(f, "aggregates", ts, 1, p->nagg, 0, texts) < 0 ||
        put_data(f, "columns", ts, 1, p->ncol, 0, p->cols) < 0)
        rc = mb_err_set(err, MB_EIO, "%s: HDF5 write failed", path);
    if (rc == MB_OK)
        rc = h5_write_tables(f, p, g, idx, err);
    H5Tclose(ts);
    free(texts);
    if (H5Fclose(f) < 0 && rc == MB_OK)
        rc = mb_err_set(err, MB_EIO, "%s: HDF5 close failed", path);
    return rc;
}

static mb_status sync_path(const char *path, mb_err *err)
{
    FILE *f = fopen(path, "r+");
    int bad;
    if (!f)
        return mb_err_set(err, MB_EIO, "%s: %s", path, strerror(errno));
    bad = fsync(fileno(f)) != 0;
    fclose(f);
    return bad ? mb_err_set(err, MB_EIO, "%s: fsync: %s", path, strerror(errno)) : MB_OK;
}

static mb_status write_csv_file(const char *path, const mb_plan *p, const mb_groups *g,
                                const size_t *idx, mb_err *err)
{
    char tmp[PATH_CAP + 64];
    mb_status st;
    FILE *f;

    if ((st = mb_fs_tmpname(path, tmp, sizeof tmp, err)) != MB_OK)
        return st;
    if (!(f = fopen(tmp, "w")))
        return mb_err_set(err, MB_EIO, "%s: %s", tmp, strerror(errno));
    setvbuf(f, NULL, _IOFBF, (size_t)1 << 20);
    st = write_csv_sorted(f, p, g, idx, NULL, 1, err);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        st = st != MB_OK ? st : mb_err_set(err, MB_EIO, "%s: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && st == MB_OK)
        st = mb_err_set(err, MB_EIO, "%s: %s", tmp, strerror(errno));
    if (st != MB_OK) {
        unlink(tmp);
        return st;
    }
    return mb_fs_publish(tmp, path, err);
}

static mb_status write_ledger(const char *out, const mb_plan *p, const mb_groups *g,
                              const mb_task_info *t, mb_err *err)
{
    char path[PATH_CAP], when[32], *body;
    time_t now = time(NULL);
    struct tm tm;
    json_t *o;
    mb_status st;

    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:i, s:f, s:s, s:s}", "task", t->task_id,
                  "input", t->input, "message_id", t->message_id ? t->message_id : "", "rows",
                  (json_int_t)t->rows, "groups", (json_int_t)g->n, "bytes", (json_int_t)t->bytes,
                  "chunks", (json_int_t)t->chunks, "ranks", t->ranks, "seconds", t->seconds,
                  "fingerprint", p->fingerprint, "committed", when);
    body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!body)
        return mb_err_set(err, MB_ENOMEM, "cannot build the ledger entry");
    snprintf(path, sizeof path, "%s/%s/%s.json", out, LEDGER, t->task_id);
    {
        size_t n = strlen(body);
        char *line = malloc(n + 2);
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

mb_status mb_results_commit(const char *out, const mb_plan *p, const mb_groups *g,
                            const mb_task_info *t, mb_err *err)
{
    char path[PATH_CAP], tmp[PATH_CAP + 64];
    double t0 = mb_now_s(), t1, t2;
    size_t *idx = mb_groups_sorted(g);   /* one sort for both files */
    mb_status st;

    if (!idx)
        return mb_err_set(err, MB_ENOMEM, "out of memory sorting the result");
    t1 = mb_now_s();
    snprintf(path, sizeof path, "%s/%s.h5", out, t->task_id);
    st = mb_fs_tmpname(path, tmp, sizeof tmp, err);
    if (st == MB_OK)
        st = h5_write(tmp, p, g, idx, t, err);
    if (st == MB_OK)
        st = sync_path(tmp, err);
    if (st != MB_OK)
        unlink(tmp);
    if (st == MB_OK)
        st = mb_fs_publish(tmp, path, err);
    t2 = mb_now_s();
    snprintf(path, sizeof path, "%s/%s.csv", out, t->task_id);
    if (st == MB_OK)
        st = write_csv_file(path, p, g, idx, err);
    free(idx);
    mb_debug("task %s: commit of %zu groups: sort %.3f s, HDF5 %.3f s, CSV %.3f s", t->task_id,
             g->n, t1 - t0, t2 - t1, mb_now_s() - t2);
    return st == MB_OK ? write_ledger(out, p, g, t, err) : st;
}

/* ---- reading results back ------------------------------------------ */

static char **read_strings(hid_t f, const char *name, size_t *n)
{
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT), sp, t;
    hssize_t cnt;
    char **v = NULL;

    if (ds < 0)
        return NULL;
    sp = H5Dget_space(ds);
    cnt = H5Sget_simple_extent_npoints(sp);
    t = str_type();
    if (cnt >= 0 && cnt < 1000000 && (v = calloc((size_t)cnt + 1, sizeof *v)) != NULL) {
        if (cnt > 0 && H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
            free(v);
            v = NULL;
        } else {
            *n = (size_t)cnt;
        }
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(ds);
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

typedef struct loaded {
    mb_plan plan;
    size_t G;
    char **keys;          /* G * ngroup: HDF5-allocated, or into kbuf */
    char *kbuf;           /* fixed-length keys, NUL-terminated */
    int64_t *rows;
    mb_numstate *st;
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
    mb_plan_fini(&l->plan);
}

static mb_status read_block(hid_t f, const char *name, hid_t t, void *buf, size_t count)
{
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT), sp;
    hssize_t n;
    herr_t rc = -1;

    if (ds < 0)
        return MB_EDATA;
    sp = H5Dget_space(ds);
    n = H5Sget_simple_extent_npoints(sp);
    if (n >= 0 && (size_t)n == count)
        rc = count == 0 ? 0 : H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Sclose(sp);
    H5Dclose(ds);
    return rc < 0 ? MB_EDATA : MB_OK;
}

/* The nk keys: variable-length strings, or fixed-length ones read as
 * NUL-terminated strings of one byte more into l->kbuf. */
static mb_status read_keys(hid_t f, loaded *l, size_t nk)
{
    hid_t ds = H5Dopen2(f, "keys", H5P_DEFAULT), ft = ds >= 0 ? H5Dget_type(ds) : -1, mt;
    size_t w = 0, i;
    mb_status st = MB_OK;

    if (ft < 0 || H5Tget_class(ft) != H5T_STRING) {
        st = MB_EDATA;
    } else if (H5Tis_variable_str(ft) > 0) {
        mt = str_type();
        st = read_block(f, "keys", mt, l->keys, nk);
        H5Tclose(mt);
    } else if ((w = H5Tget_size(ft)) == 0 || w > 65536) {
        st = MB_EDATA;
    } else if (!(l->kbuf = calloc(nk ? nk : 1, w + 1))) {
        st = MB_ENOMEM;
    } else {
        mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, w + 1);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        H5Tset_cset(mt, H5Tget_cset(ft));
        st = read_block(f, "keys", mt, l->kbuf, nk);
        H5Tclose(mt);
        for (i = 0; i < nk; i++)
            l->keys[i] = l->kbuf + i * (w + 1);
    }
    if (ft >= 0)
        H5Tclose(ft);
    if (ds >= 0)
        H5Dclose(ds);
    return st;
}

/* The exact integers the stored states hold (absent ones read as zero). */
static unsigned stored_needs(hid_t f)
{
    hid_t ds = H5Dopen2(f, "states", H5P_DEFAULT), t = ds >= 0 ? H5Dget_type(ds) : -1;
    unsigned need = t >= 0 ? state_type_needs(t) : 0;

    if (t >= 0)
        H5Tclose(t);
    if (ds >= 0)
        H5Dclose(ds);
    return need;
}

static mb_status load_h5(const char *path, loaded *l, mb_err *err)
{
    size_t ng = 0, na = 0, G = 0, nk = 0;
    char **group = NULL, **aggs = NULL;
    hid_t f, tn;
    mb_status st = MB_OK;
    hsize_t dims[2];

    memset(l, 0, sizeof *l);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return mb_err_set(err, MB_EDATA, "%s: not a readable HDF5 result file", path);
    group = read_strings(f, "group_by", &ng);
    aggs = read_strings(f, "aggregates", &na);
    if (!group || !aggs)
        st = mb_err_set(err, MB_EDATA, "%s: no group_by/aggregates datasets", path);
    if (st == MB_OK)
        st = mb_plan_from_lists(&l->plan, group, ng, aggs, na, err);
    if (st == MB_OK) {
        hid_t ds = H5Dopen2(f, "rows", H5P_DEFAULT), sp = ds >= 0 ? H5Dget_space(ds) : -1;
        if (sp < 0 || H5Sget_simple_extent_dims(sp, dims, NULL) != 1)
            st = mb_err_set(err, MB_EDATA, "%s: bad /rows dataset", path);
        G = st == MB_OK ? (size_t)dims[0] : 0;
        if (sp >= 0)
            H5Sclose(sp);
        if (ds >= 0)
            H5Dclose(ds);
    }
    if (st == MB_OK && (mb_size_mul(G, l->plan.ngroup, &nk) != 0 || G > (SIZE_MAX >> 10)))
        st = mb_err_set(err, MB_EDATA, "%s: too many groups", path);
    if (st == MB_OK) {
        l->G = G;
        l->keys = calloc(nk ? nk : 1, sizeof *l->keys);
        l->rows = malloc((G ? G : 1) * sizeof *l->rows);
        l->st = calloc(G * l->plan.ncol + 1, sizeof *l->st);
        if (!l->keys || !l->rows || !l->st)
            st = mb_err_set(err, MB_ENOMEM, "out of memory");
    }
    tn = state_type(stored_needs(f));
    if (st == MB_OK && read_keys(f, l, nk) != MB_OK)
        st = mb_err_set(err, MB_EDATA, "%s: keys do not match", path);
    if (st == MB_OK && (read_block(f, "rows", H5T_NATIVE_INT64, l->rows, G) != MB_OK ||
                        read_block(f, "states", tn, l->st, G * l->plan.ncol) != MB_OK))
        st = mb_err_set(err, MB_EDATA, "%s: rows/states do not match the keys", path);
    H5Tclose(tn);
    free_h5_strings(group, ng);
    free_h5_strings(aggs, na);
    H5Fclose(f);
    if (st != MB_OK)
        loaded_fini(l);
    return st;
}

/* Merges a loaded result into g (plan must match). */
static mb_status merge_loaded(mb_groups *g, const loaded *l, mb_err *err)
{
    mb_buf key;
    mb_status st = MB_OK;
    size_t i, k;

    mb_buf_init(&key, (size_t)1 << 30);
    for (i = 0; i < l->G && st == MB_OK; i++) {
        key.len = 0;
        for (k = 0; k < l->plan.ngroup && st == MB_OK; k++) {
            const char *s = l->keys[i * l->plan.ngroup + k];
            uint32_t len = s ? (uint32_t)strlen(s) : 0;
            st = mb_buf_put(&key, &len, sizeof len);
            if (st == MB_OK)
                st = mb_buf_put(&key, s, len);
        }
        if (st == MB_OK)
            st = mb_groups_merge_one(g, key.p, key.len, l->rows[i], l->st + i * l->plan.ncol,
                                     err);
    }
    mb_buf_fini(&key);
    return st;
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

/* Task ids with a ledger entry, sorted. */
static mb_status list_tasks(const char *out, char ***ids, size_t *n, mb_err *err)
{
    char p[PATH_CAP];
    DIR *d;
    struct dirent *e;
    size_t cap = 16;

    snprintf(p, sizeof p, "%s/%s", out, LEDGER);
    if (!(d = opendir(p)))
        return mb_err_set(err, MB_ENOENT, "%s: no result directory (no ledger): %s", out,
                          strerror(errno));
    *n = 0;
    *ids = malloc(cap * sizeof **ids);
    while (*ids && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (*n == cap) {
            char **v = realloc(*ids, (cap *= 2) * sizeof **ids);
            if (!v)
                break;
            *ids = v;
        }
        if (!((*ids)[*n] = strndup(e->d_name, len - 5)))
            break;
        (*n)++;
    }
    closedir(d);
    if (!*ids)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    qsort(*ids, *n, sizeof **ids, cmp_str);
    return MB_OK;
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
    json_str(c->f, s, len);
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

static mb_status print_one(FILE *f, const loaded *l, const char *task, int json, int *first,
                           mb_err *err)
{
    mb_groups g;
    mb_status st;

    if (mb_groups_init(&g, l->plan.needs, l->plan.ncol, SIZE_MAX) != MB_OK)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    st = merge_loaded(&g, l, err);
    if (st == MB_OK)
        st = json ? write_json(f, &l->plan, &g, task, first, err)
                  : mb_results_write_csv(f, &l->plan, &g, task, *first, err);
    *first = 0;
    mb_groups_fini(&g);
    return st;
}

mb_status mb_results_print(const char *out, int merge, const char *format, FILE *f,
                           mb_err *err)
{
    char **ids = NULL, path[PATH_CAP];
    size_t n = 0, i;
    int json, first = 1;
    mb_status st;
    mb_groups total;
    loaded l, ref;
    int have_ref = 0;

    if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
        return mb_err_set(err, MB_EUSAGE, "--format: '%s' is not csv or json", format);
    json = format && strcmp(format, "json") == 0;
    if ((st = list_tasks(out, &ids, &n, err)) != MB_OK)
        return st;
    memset(&total, 0, sizeof total);
    if (json)
        fputc('[', f);
    for (i = 0; i < n && st == MB_OK; i++) {
        snprintf(path, sizeof path, "%s/%s.h5", out, ids[i]);
        if ((st = load_h5(path, &l, err)) != MB_OK)
            break;
        if (!merge) {
            st = print_one(f, &l, ids[i], json, &first, err);
            loaded_fini(&l);
            continue;
        }
        if (!have_ref) {
            ref = l;
            have_ref = 1;
            if (mb_groups_init(&total, ref.plan.needs, ref.plan.ncol, SIZE_MAX) != MB_OK)
                st = mb_err_set(err, MB_ENOMEM, "out of memory");
        } else if (!same_plan(&ref.plan, &l.plan)) {
            st = mb_err_set(err, MB_EDATA, "%s: task %s has other group columns or aggregates "
                            "than task %s; merge needs one job", out, ids[i], ids[0]);
        }
        if (st == MB_OK)
            st = merge_loaded(&total, &l, err);
        if (have_ref && ref.keys != l.keys)
            loaded_fini(&l);
    }
    if (st == MB_OK && merge && have_ref)
        st = json ? write_json(f, &ref.plan, &total, NULL, &first, err)
                  : mb_results_write_csv(f, &ref.plan, &total, NULL, 1, err);
    if (json)
        fputs(first ? "]\n" : "\n]\n", f);
    if (have_ref)
        loaded_fini(&ref);
    mb_groups_fini(&total);
    for (i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return st;
}
