/* ckpt.c - collective HDF5 checkpoints of an in-flight task: the collective
 * write (all ranks, MPI-IO driver), and validation, loading, inspection and
 * clean-up (one process, POSIX driver). It does not decide when to
 * checkpoint nor what the states mean: the run loop packs and unpacks them
 * (group.h). Every MPI call except those inside HDF5 goes through dist.c.
 *
 * Files: DIR/ckpt-<seq>.h5 with seq as 20 zero-padded digits, so that names
 * sort by sequence; written as DIR/.ckpt-<seq>.h5.tmp, whose disk space is
 * reserved before HDF5 writes to it, and renamed once every rank has written
 * its part. The layout (format "mpibatch-checkpoint-3": metadata attributes
 * with the accumulator layout and meta_sha256, /states, /chunks, /parts,
 * /valid) and what makes a checkpoint valid are documented in
 * docs/result-format.md; keep it in step with this file. The concatenated
 * states are independent of the number of ranks that wrote them, so a
 * checkpoint of N ranks resumes on M. */
#include "core/ckpt.h"

#include "base/digest.h"
#include "base/fault.h"
#include "base/fsutil.h"
#include "base/log.h"

#include <assert.h>
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT "mpibatch-checkpoint-3"
/* The format before the accumulator layout was recorded: refused, since
 * its states cannot be told apart from those of another layout. */
#define FORMAT_NO_LAYOUT "mpibatch-checkpoint-2"
#define PATH_CAP 4096
#define NAME_CAP 64
#define MAX_PARTS ((uint64_t)1 << 24)     /* ranks; far above any real job */
#define MAX_CHUNKS ((uint64_t)1 << 40)
#define MAX_NSTATE ((uint64_t)1 << 20)
#define MAX_LISTED ((size_t)1 << 20)      /* checkpoint files looked at */
#define SHA_HEX MB_SHA256_HEX
/* Bytes a checkpoint file takes beyond its datasets' elements: superblock,
 * object headers with the attributes (strings bounded by mb_ckpt_meta, 5 kB
 * at most) and HDF5's 2 KiB allocation blocks for metadata and small data;
 * under 10 kB when measured, so 32 KiB is a safe bound for the space
 * reservation. */
#define FILE_SLACK ((uint64_t)32 << 10)

/* One row of /parts; its memory layout is also the file type, so the
 * collective write needs no type conversion. */
typedef struct part_rec {
    uint64_t states_offset, states_len;
    uint64_t chunks_offset, chunks_count;
    char states_sha256[SHA_HEX];
    char chunks_sha256[SHA_HEX];
} part_rec;

/* ---- names ------------------------------------------------------------- */

/* Parses "ckpt-<digits>.h5" (1 to 20 digits, fitting uint64). */
static int parse_name(const char *name, uint64_t *seq)
{
    const char *p = name + 5;
    uint64_t v = 0;
    size_t nd = 0;

    if (strncmp(name, "ckpt-", 5) != 0)
        return 0;
    for (; *p >= '0' && *p <= '9'; p++, nd++) {
        uint64_t dgt = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            return 0;
        v = v * 10 + dgt;
    }
    if (nd == 0 || nd > 20 || strcmp(p, ".h5") != 0)
        return 0;
    *seq = v;
    return 1;
}

/* A temporary of an unfinished write: ".ckpt-<digits>.h5.tmp". */
static int is_tmp_name(const char *name)
{
    char base[NAME_CAP];
    size_t n = strlen(name);
    uint64_t seq;

    if (name[0] != '.' || n < 6 || n - 5 >= sizeof base || strcmp(name + n - 4, ".tmp") != 0)
        return 0;
    memcpy(base, name + 1, n - 5);
    base[n - 5] = '\0';
    return parse_name(base, &seq);
}

static int ckpt_path(char *out, size_t cap, const char *dir, const char *prefix, uint64_t seq,
                     const char *suffix)
{
    int n = snprintf(out, cap, "%s/%sckpt-%020llu.h5%s", dir, prefix, (unsigned long long)seq,
                     suffix);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

typedef struct entry {
    uint64_t seq;
    char name[NAME_CAP];
} entry;

static int cmp_newest_first(const void *a, const void *b)
{
    uint64_t x = ((const entry *)a)->seq, y = ((const entry *)b)->seq;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The checkpoint files of dir, newest first. MB_ENOENT if dir is missing. */
static mb_status list_ckpts(const char *dir, entry **out, size_t *n, mb_err *err)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    size_t cap = 8;
    entry *v;

    *out = NULL;
    *n = 0;
    if (!dh)
        return mb_err_set(err, errno == ENOENT ? MB_ENOENT : MB_EIO, "%s: %s", dir,
                          strerror(errno));
    v = mb_malloc(cap * sizeof *v);
    while (v && (e = readdir(dh)) != NULL && *n < MAX_LISTED) {
        uint64_t seq;
        if (!parse_name(e->d_name, &seq))
            continue;
        if (*n == cap) {
            entry *w = mb_realloc(v, (cap *= 2) * sizeof *v);
            if (!w) {
                free(v);
                v = NULL;
                break;
            }
            v = w;
        }
        v[*n].seq = seq;
        snprintf(v[*n].name, sizeof v[*n].name, "%s", e->d_name);
        (*n)++;
    }
    closedir(dh);
    if (!v)
        return mb_err_set(err, MB_ENOMEM, "out of memory listing %s", dir);
    qsort(v, *n, sizeof *v, cmp_newest_first);
    *out = v;
    return MB_OK;
}

/* ---- checksums --------------------------------------------------------- */

/* The chunk list as little-endian bytes, so the checksum does not depend
 * on the byte order of the host that wrote or reads it. */
static mb_status chunks_sha(const uint64_t *c, size_t n, char out[SHA_HEX])
{
    size_t bytes, i;
    unsigned char *b;
    mb_status st;

    if (mb_size_mul(n, 8, &bytes) != 0)
        return MB_ELIMIT;
    if (!(b = mb_malloc(bytes ? bytes : 1)))
        return MB_ENOMEM;
    for (i = 0; i < n; i++)
        for (int k = 0; k < 8; k++)
            b[8 * i + (size_t)k] = (unsigned char)(c[i] >> (8 * k));
    st = mb_sha256_hex(b, bytes, out);
    free(b);
    return st;
}

static mb_status put_kv(mb_buf *b, const char *name, const char *value)
{
    char head[128];
    size_t n = strlen(value);
    int k = snprintf(head, sizeof head, "%s=%zu:", name, n);
    mb_status st = k < 0 ? MB_EINTERNAL : mb_buf_put(b, head, (size_t)k);

    if (st == MB_OK)
        st = mb_buf_put(b, value, n);
    return st == MB_OK ? mb_buf_put(b, "\n", 1) : st;
}

static mb_status put_kv_u64(mb_buf *b, const char *name, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    return put_kv(b, name, num);
}

/* meta_sha256: see docs/result-format.md. With `v2`, as format
 * mpibatch-checkpoint-2 computed it (no layout lines), to tell such a file
 * from a damaged one. */
static mb_status meta_sha(const mb_ckpt_meta *m, uint64_t nparts, int v2, char out[SHA_HEX])
{
    mb_buf b;
    mb_status st;

    mb_buf_init(&b, (size_t)1 << 16);
    st = put_kv(&b, "format", v2 ? FORMAT_NO_LAYOUT : FORMAT);
    if (st == MB_OK) st = put_kv(&b, "fingerprint", m->fingerprint);
    if (st == MB_OK) st = put_kv(&b, "task_id", m->task_id);
    if (st == MB_OK) st = put_kv(&b, "input", m->input);
    if (st == MB_OK) st = put_kv(&b, "msg_id", m->msg_id);
    if (st == MB_OK) st = put_kv(&b, "receipt", m->receipt);
    if (st == MB_OK) st = put_kv_u64(&b, "file_size", m->file_size);
    if (st == MB_OK) st = put_kv_u64(&b, "chunk_size", m->chunk_size);
    if (st == MB_OK) st = put_kv_u64(&b, "nchunks", m->nchunks);
    if (st == MB_OK) st = put_kv(&b, "grid_digest", m->grid_digest);
    if (st == MB_OK) st = put_kv_u64(&b, "seq", m->seq);
    if (st == MB_OK) st = put_kv_u64(&b, "nstate", m->nstate);
    if (st == MB_OK && !v2) st = put_kv_u64(&b, "layout_version", m->layout_version);
    if (st == MB_OK && !v2) st = put_kv(&b, "layout", m->layout);
    if (st == MB_OK) st = put_kv_u64(&b, "nparts", nparts);
    if (st == MB_OK) st = mb_sha256_hex(b.p, b.len, out);
    mb_buf_fini(&b);
    return st;
}

/* ---- HDF5 types and small helpers -------------------------------------- */

static hid_t fixed_str(size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, size) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
                   H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        t = -1;
    }
    return t;
}

static hid_t part_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(part_rec)), s = fixed_str(SHA_HEX);
    int bad = t < 0 || s < 0;

    if (!bad)
        bad = H5Tinsert(t, "states_offset", HOFFSET(part_rec, states_offset),
                        H5T_NATIVE_UINT64) < 0 ||
              H5Tinsert(t, "states_len", HOFFSET(part_rec, states_len), H5T_NATIVE_UINT64) < 0 ||
              H5Tinsert(t, "chunks_offset", HOFFSET(part_rec, chunks_offset),
                        H5T_NATIVE_UINT64) < 0 ||
              H5Tinsert(t, "chunks_count", HOFFSET(part_rec, chunks_count),
                        H5T_NATIVE_UINT64) < 0 ||
              H5Tinsert(t, "states_sha256", HOFFSET(part_rec, states_sha256), s) < 0 ||
              H5Tinsert(t, "chunks_sha256", HOFFSET(part_rec, chunks_sha256), s) < 0;
    if (s >= 0)
        H5Tclose(s);
    if (bad && t >= 0) {
        H5Tclose(t);
        t = -1;
    }
    return t;
}

static void close_type(hid_t t)
{
    if (t >= 0)
        H5Tclose(t);
}

static void close_space(hid_t s)
{
    if (s >= 0)
        H5Sclose(s);
}

static void close_plist(hid_t p)
{
    if (p >= 0)
        H5Pclose(p);
}

static void close_dset(hid_t d)
{
    if (d >= 0)
        H5Dclose(d);
}

/* ---- writing (collective) ---------------------------------------------- */

/* What rank 0 decides and every rank then uses: one copy of the metadata
 * and the names, so that all ranks pass HDF5 identical values. */
typedef struct shared {
    mb_ckpt_meta meta;
    char dir[PATH_CAP];
    char tmp[PATH_CAP];
    char path[PATH_CAP];
} shared;

enum { D_STATES, D_CHUNKS, D_PARTS, D_VALID, ND };

typedef struct writer {
    mb_dist *d;
    shared s;
    const mb_ckpt_part *part;
    part_rec rec;                /* this rank's row of /parts */
    uint64_t total[2];           /* bytes of /states, entries of /chunks */
    uint64_t nparts;
    char meta_sha[SHA_HEX];
    hid_t f, ds[ND], ptype;
    int created;                 /* rank 0: the temporary may exist */
    uint64_t reserved;           /* rank 0: bytes of disk reserved for it, or 0 */
} writer;

static int meta_terminated(const mb_ckpt_meta *m)
{
    return memchr(m->fingerprint, 0, sizeof m->fingerprint) &&
           memchr(m->task_id, 0, sizeof m->task_id) && memchr(m->input, 0, sizeof m->input) &&
           memchr(m->msg_id, 0, sizeof m->msg_id) && memchr(m->receipt, 0, sizeof m->receipt) &&
           memchr(m->grid_digest, 0, sizeof m->grid_digest);   /* layout: set here */
}

static void meta_terminate(mb_ckpt_meta *m)
{
    m->fingerprint[sizeof m->fingerprint - 1] = '\0';
    m->task_id[sizeof m->task_id - 1] = '\0';
    m->input[sizeof m->input - 1] = '\0';
    m->msg_id[sizeof m->msg_id - 1] = '\0';
    m->receipt[sizeof m->receipt - 1] = '\0';
    m->grid_digest[sizeof m->grid_digest - 1] = '\0';
    m->layout[sizeof m->layout - 1] = '\0';
}

/* Rank 0: checks the metadata, makes the directory and names the files. */
static mb_status root_prepare(writer *w, const char *dir, const mb_ckpt_meta *meta, mb_err *err)
{
    if (!dir || !*dir || !meta)
        return mb_err_set(err, MB_EINTERNAL, "checkpoint write without directory or metadata");
    if (!meta_terminated(meta))
        return mb_err_set(err, MB_EINTERNAL, "checkpoint metadata holds an unterminated string");
    /* The loader refuses the same, so refusing here keeps a run from
     * writing checkpoints it could never use. Chunks are at least one
     * byte, hence nchunks <= file_size. */
    if (meta->nchunks >= MAX_CHUNKS || meta->nchunks > meta->file_size ||
        meta->nstate > MAX_NSTATE)
        return mb_err_set(err, MB_ELIMIT,
                          "checkpoint of %llu chunks of a %llu-byte file, %llu states per group",
                          (unsigned long long)meta->nchunks, (unsigned long long)meta->file_size,
                          (unsigned long long)meta->nstate);
    w->s.meta = *meta;
    /* The states are packed by this binary, so its layout is theirs. */
    w->s.meta.layout_version = MB_ACC_LAYOUT_VERSION;
    if (mb_acc_layout(w->s.meta.layout, sizeof w->s.meta.layout) != MB_OK)
        return mb_err_set(err, MB_EINTERNAL, "the accumulator layout does not fit its buffer");
    if (snprintf(w->s.dir, sizeof w->s.dir, "%s", dir) >= (int)sizeof w->s.dir ||
        ckpt_path(w->s.tmp, sizeof w->s.tmp, dir, ".", meta->seq, ".tmp") != 0 ||
        ckpt_path(w->s.path, sizeof w->s.path, dir, "", meta->seq, "") != 0)
        return mb_err_set(err, MB_ELIMIT, "%s: checkpoint directory name too long", dir);
    if (mb_fs_mkdirs(dir, err) != MB_OK)
        return err ? err->code : MB_EIO;
    /* A killed earlier run may have left this very temporary behind. */
    if (unlink(w->s.tmp) != 0 && errno != ENOENT)
        return mb_err_set(err, MB_EIO, "%s: %s", w->s.tmp, strerror(errno));
    w->created = 1;
    return MB_OK;
}

/* Copies rank 0's shared block to every rank. */
static mb_status share(writer *w, mb_err *err)
{
    mb_buf b;
    mb_status st = MB_OK;

    mb_buf_init(&b, sizeof w->s);
    /* Rank 0 broadcasts even when it could not fill the buffer (an empty
     * one then), since the others are already waiting for it. */
    if (w->d->rank == 0 && mb_buf_put(&b, &w->s, sizeof w->s) != MB_OK)
        b.len = 0;
    st = mb_dist_bcast(w->d, &b, err);
    if (st == MB_OK && b.len != sizeof w->s)
        st = mb_err_set(err, MB_EINTERNAL, "checkpoint metadata broadcast of %zu bytes", b.len);
    if (st == MB_OK && w->d->rank != 0)
        memcpy(&w->s, b.p, sizeof w->s);
    mb_buf_fini(&b);
    meta_terminate(&w->s.meta);
    w->s.dir[sizeof w->s.dir - 1] = w->s.tmp[sizeof w->s.tmp - 1] = '\0';
    w->s.path[sizeof w->s.path - 1] = '\0';
    return st;
}

/* This rank: checks its part and computes its checksums. A NULL part is an
 * empty one (a rank that processed no chunk yet). */
static mb_status part_prepare(writer *w, const mb_ckpt_part *p, mb_err *err)
{
    static const mb_ckpt_part none = {NULL, 0, NULL, 0};
    mb_status st;

    w->part = p ? p : &none;
    p = w->part;
    if ((p->states_len && !p->states) || (p->nchunks && !p->chunks))
        return mb_err_set(err, MB_EINTERNAL, "rank %d: checkpoint part without data", w->d->rank);
    for (size_t i = 0; i < p->nchunks; i++)
        if (p->chunks[i] >= w->s.meta.nchunks)
            return mb_err_set(err, MB_EINTERNAL, "rank %d: checkpoint of chunk %llu of %llu",
                              w->d->rank, (unsigned long long)p->chunks[i],
                              (unsigned long long)w->s.meta.nchunks);
    w->rec.states_len = p->states_len;
    w->rec.chunks_count = p->nchunks;
    st = mb_sha256_hex(p->states_len ? p->states : "", p->states_len, w->rec.states_sha256);
    if (st == MB_OK)
        st = chunks_sha(p->chunks, p->nchunks, w->rec.chunks_sha256);
    if (st == MB_OK)
        st = meta_sha(&w->s.meta, w->nparts, 0, w->meta_sha);
    return st == MB_OK ? MB_OK : mb_err_set(err, st, "cannot checksum the checkpoint part");
}

/* Every rank learns where its part goes and how large the datasets are. */
static mb_status place_parts(writer *w, mb_err *err)
{
    uint64_t local[2] = {w->rec.states_len, w->rec.chunks_count}, before[2];
    mb_status st = mb_dist_scan_u64(w->d, local, before, w->total, 2, err);

    if (st != MB_OK)
        return st;
    w->rec.states_offset = before[0];
    w->rec.chunks_offset = before[1];
    /* The exclusive scan makes the parts tile /states and /chunks in rank
     * order: part r starts where part r-1 ends, the first at 0, the last
     * ends at the total. The loader refuses a file where they do not
     * (read_parts); here it would be a bug in the scan. */
    assert(w->d->rank != 0 || (before[0] == 0 && before[1] == 0));
    assert(before[0] <= w->total[0] && w->rec.states_len <= w->total[0] - before[0]);
    assert(before[1] <= w->total[1] && w->rec.chunks_count <= w->total[1] - before[1]);
    assert(w->d->rank != w->d->size - 1 || (before[0] + w->rec.states_len == w->total[0] &&
                                            before[1] + w->rec.chunks_count == w->total[1]));
    if (w->total[1] > w->s.meta.nchunks)
        return mb_err_set(err, MB_EINTERNAL, "checkpoint parts cover %llu of %llu chunks",
                          (unsigned long long)w->total[1],
                          (unsigned long long)w->s.meta.nchunks);
    return MB_OK;
}

static int put_str_attr(hid_t loc, const char *name, const char *value)
{
    hid_t t = fixed_str(strlen(value) + 1), s = H5Screate(H5S_SCALAR), a = -1;
    int rc = -1;

    if (t >= 0 && s >= 0)
        a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        rc = H5Awrite(a, t, value) < 0 ? -1 : 0;
        H5Aclose(a);
    }
    close_space(s);
    close_type(t);
    return rc;
}

static int put_u64_attr(hid_t loc, const char *name, uint64_t v)
{
    hid_t s = H5Screate(H5S_SCALAR), a = -1;
    int rc = -1;

    if (s >= 0)
        a = H5Acreate2(loc, name, H5T_STD_U64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        rc = H5Awrite(a, H5T_NATIVE_UINT64, &v) < 0 ? -1 : 0;
        H5Aclose(a);
    }
    close_space(s);
    return rc;
}

/* Attribute writes are collective in parallel HDF5: every rank passes the
 * same (broadcast) values. */
static int put_meta(hid_t f, const mb_ckpt_meta *m, uint64_t nparts, const char *sha)
{
    return put_str_attr(f, "format", FORMAT) | put_str_attr(f, "fingerprint", m->fingerprint) |
           put_str_attr(f, "task_id", m->task_id) | put_str_attr(f, "input", m->input) |
           put_str_attr(f, "msg_id", m->msg_id) | put_str_attr(f, "receipt", m->receipt) |
           put_u64_attr(f, "file_size", m->file_size) |
           put_u64_attr(f, "chunk_size", m->chunk_size) |
           put_u64_attr(f, "nchunks", m->nchunks) |
           put_str_attr(f, "grid_digest", m->grid_digest) | put_u64_attr(f, "seq", m->seq) |
           put_u64_attr(f, "nstate", m->nstate) |
           put_u64_attr(f, "layout_version", m->layout_version) |
           put_str_attr(f, "layout", m->layout) | put_u64_attr(f, "nparts", nparts) |
           put_str_attr(f, "meta_sha256", sha);
}

/* A 1-D dataset of n elements. Data sets skip fill values (every byte gets
 * written); /valid is zero-filled when space is allocated, which is what
 * makes a file cut short recognisable. */
static hid_t make_dset(hid_t f, const char *name, hid_t type, uint64_t n, int zero_fill)
{
    hsize_t dim = n;
    hid_t s = H5Screate_simple(1, &dim, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE), ds = -1;
    unsigned char zero = 0;
    int bad = s < 0 || dcpl < 0;

    /* No object timestamps: nothing in the file depends on the clock. */
    if (!bad)
        bad = H5Pset_obj_track_times(dcpl, 0) < 0 ||
              H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
              (zero_fill ? H5Pset_fill_value(dcpl, H5T_NATIVE_UCHAR, &zero) < 0 ||
                               H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC) < 0
                         : H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0);
    if (!bad)
        ds = H5Dcreate2(f, name, type, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    close_plist(dcpl);
    close_space(s);
    return ds;
}

static mb_status create_objects(writer *w, mb_err *err)
{
    if (put_meta(w->f, &w->s.meta, w->nparts, w->meta_sha) != 0)
        return mb_err_set(err, MB_EIO, "%s: cannot write the checkpoint metadata", w->s.tmp);
    w->ptype = part_type();
    w->ds[D_STATES] = make_dset(w->f, "states", H5T_STD_U8LE, w->total[0], 0);
    w->ds[D_CHUNKS] = make_dset(w->f, "chunks", H5T_STD_U64LE, w->total[1], 0);
    w->ds[D_PARTS] = w->ptype < 0 ? -1 : make_dset(w->f, "parts", w->ptype, w->nparts, 0);
    w->ds[D_VALID] = make_dset(w->f, "valid", H5T_STD_U8LE, w->nparts, 1);
    for (int i = 0; i < ND; i++)
        if (w->ds[i] < 0)
            return mb_err_set(err, MB_EIO, "%s: cannot create the checkpoint datasets", w->s.tmp);
    return MB_OK;
}

/* Collective write of elements [off, off + n) of dataset ds from buf. A
 * rank with nothing to write selects nothing but still takes part, and a
 * rank whose selection fails still enters the collective (with an empty
 * selection) so that the others do not wait for it. */
static int write_slab(hid_t ds, hid_t memtype, uint64_t off, uint64_t n, const void *buf)
{
    static const unsigned char dummy[8];
    hsize_t start = off, count = n, one = 1;
    hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, n ? &count : &one, NULL);
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    int bad = fs < 0 || ms < 0 || dxpl < 0 ||
              H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0;

    if (!bad && n)
        bad = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0;
    if (bad || !n) {
        if (fs >= 0)
            H5Sselect_none(fs);
        if (ms >= 0)
            H5Sselect_none(ms);
    }
    if (fs < 0 || ms < 0 || dxpl < 0 ||
        H5Dwrite(ds, memtype, ms, fs, dxpl, n && !bad ? buf : dummy) < 0)
        bad = 1;
    close_plist(dxpl);
    close_space(ms);
    close_space(fs);
    return bad ? -1 : 0;
}

/* The data of this rank. Agreed on before the flush that follows: a flush
 * is collective inside HDF5, and entering it with a write failed on some
 * ranks only is what must never happen (see reserve_space). */
static mb_status write_data(writer *w, mb_err *err)
{
    const mb_ckpt_part *p = w->part;
    int bad = 0;

    if (w->total[0])
        bad |= write_slab(w->ds[D_STATES], H5T_NATIVE_UCHAR, w->rec.states_offset,
                          p->states_len, p->states);
    if (w->total[1])
        bad |= write_slab(w->ds[D_CHUNKS], H5T_NATIVE_UINT64, w->rec.chunks_offset,
                          p->nchunks, p->chunks);
    bad |= write_slab(w->ds[D_PARTS], w->ptype, (uint64_t)w->d->rank, 1, &w->rec);
    return bad ? mb_err_set(err, MB_EIO, "%s: rank %d cannot write its checkpoint part",
                            w->s.tmp, w->d->rank)
               : MB_OK;
}

static mb_status write_valid(writer *w, mb_err *err)
{
    static const unsigned char one = 1;

    if (write_slab(w->ds[D_VALID], H5T_NATIVE_UCHAR, (uint64_t)w->d->rank, 1, &one) != 0)
        return mb_err_set(err, MB_EIO, "%s: rank %d cannot set its valid flag", w->s.tmp,
                          w->d->rank);
    return MB_OK;
}

/* A sync of the whole file (MPI_File_sync through H5Fflush), so that no
 * valid flag can reach the disk before the data it vouches for. */
static mb_status flush_file(writer *w, const char *what, mb_err *err)
{
    if (H5Fflush(w->f, H5F_SCOPE_GLOBAL) < 0)
        return mb_err_set(err, MB_EIO, "%s: rank %d cannot flush the checkpoint %s", w->s.tmp,
                          w->d->rank, what);
    return MB_OK;
}

static hid_t parallel_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);

    /* The 1.8 file format checksums the superblock and object headers,
     * which lets a reader notice damage in the metadata too. */
    if (fapl >= 0 && (H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL) < 0 ||
                      H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0)) {
        H5Pclose(fapl);
        fapl = -1;
    }
    return fapl;
}

static hid_t compact_fcpl(void)
{
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);

    /* All attributes in the root object header (one checksummed block)
     * rather than in a separate dense-storage heap; no root group times. */
    if (fcpl >= 0 && (H5Pset_attr_phase_change(fcpl, 32, 24) < 0 ||
                      H5Pset_obj_track_times(fcpl, 0) < 0)) {
        H5Pclose(fcpl);
        fcpl = -1;
    }
    return fcpl;
}

static mb_status create_file(writer *w, mb_err *err)
{
    hid_t fapl = parallel_fapl(), fcpl = compact_fcpl();

    w->f = fapl >= 0 && fcpl >= 0 ? H5Fcreate(w->s.tmp, H5F_ACC_TRUNC, fcpl, fapl) : -1;
    close_plist(fapl);
    close_plist(fcpl);
    return w->f < 0 ? mb_err_set(err, MB_EIO, "%s: cannot create the checkpoint file", w->s.tmp)
                    : MB_OK;
}

/* Bytes the whole file may take: its datasets' elements and FILE_SLACK. */
static mb_status file_bound(const writer *w, uint64_t *need, mb_err *err)
{
    uint64_t small = w->nparts * (sizeof(part_rec) + 1);

    /* Parts are bounded by MAX_PARTS-sized jobs and the data by memory, so
     * this only guards against a wrap. */
    if (w->total[1] > UINT64_MAX / 16 || w->total[0] > UINT64_MAX / 4 ||
        w->nparts > MAX_PARTS)
        return mb_err_set(err, MB_ELIMIT, "checkpoint of %llu bytes is too large",
                          (unsigned long long)w->total[0]);
    *need = w->total[0] + 8 * w->total[1] + small + FILE_SLACK;
    return MB_OK;
}

/* Rank 0: creates the temporary, empty, and reserves disk space for all of
 * it before HDF5 writes a byte. Parallel HDF5 does not survive a write
 * that fails on some ranks only: they leave its internal collectives at
 * different points (a full disk hung a flush with one rank in MPI_Barrier
 * and the other in MPI_Bcast), and a file whose H5Fclose failed stays in
 * the library half-destroyed and crashes MPI_Finalize. So a full disk or a
 * full quota must show here, where the ranks can still agree and walk
 * away. The space lies past the end of the file (FALLOC_FL_KEEP_SIZE): the
 * file stays empty, so H5Fcreate, which truncates only a non-empty file,
 * keeps the reservation. Where fallocate is not supported (some NFS and
 * FUSE file systems) a free-space check stands in for it, which another
 * writer can still beat. */
static mb_status reserve_space(writer *w, mb_err *err)
{
    uint64_t need = 0;
    mb_status st = file_bound(w, &need, err);
    int fd;

    if (st != MB_OK)
        return st;
    fd = open(w->s.tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || close(fd) != 0)
        return mb_err_set(err, MB_EIO, "%s: cannot create: %s", w->s.tmp, strerror(errno));
    if ((st = mb_fs_reserve(w->s.tmp, need, err)) == MB_OK)
        w->reserved = need;
    return st;
}

/* Every rank: the temporary can be opened here as H5Fcreate will open it
 * (MPI_MODE_CREATE), so that H5Fcreate, which is collective and does not
 * survive an open that fails on some ranks only, does not meet a rank that
 * cannot (the directory missing on its node, a read-only mount there). */
static mb_status check_open(writer *w, mb_err *err)
{
    int fd = open(w->s.tmp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

    if (fd < 0)
        return mb_err_set(err, MB_EIO, "%s: rank %d cannot open it: %s", w->s.tmp,
                          w->d->rank, strerror(errno));
    close(fd);
    return MB_OK;
}

/* Closes every handle of the file; collective (H5Fclose flushes). A close
 * that fails leaves HDF5 with a broken handle that nothing can release,
 * which is why the space is reserved first. */
static mb_status close_file(writer *w, mb_err *err)
{
    mb_status st = MB_OK;

    for (int i = 0; i < ND; i++) {
        close_dset(w->ds[i]);
        w->ds[i] = -1;
    }
    close_type(w->ptype);
    w->ptype = -1;
    if (w->f >= 0 && H5Fclose(w->f) < 0)
        st = mb_err_set(err, MB_EIO, "%s: rank %d cannot close the checkpoint file", w->s.tmp,
                        w->d->rank);
    w->f = -1;
    return st;
}

/* Creates, fills and closes the temporary file; every step that can fail
 * on one rank is agreed on before the next collective one, and the file is
 * closed whatever happened once it is open on every rank. */
static mb_status write_file(writer *w, mb_err *err)
{
    mb_err cerr;
    mb_status cst, st = mb_dist_agree(w->d, w->d->rank == 0 ? reserve_space(w, err) : MB_OK,
                                      err);

    if (st == MB_OK)
        st = mb_dist_agree(w->d, check_open(w, err), err);
    if (st == MB_OK)
        st = mb_dist_agree(w->d, create_file(w, err), err);
    if (st != MB_OK) {
        /* H5Fcreate failed on every rank (nothing to close), or on some
         * only: then the handle of the others cannot be closed either,
         * since H5Fclose is collective. check_open makes that unlikely. */
        return st;
    }
    st = mb_dist_agree(w->d, create_objects(w, err), err);
    if (st == MB_OK)
        st = mb_dist_agree(w->d, write_data(w, err), err);
    if (st == MB_OK)
        st = mb_dist_agree(w->d, flush_file(w, "data", err), err);
    if (st == MB_OK) {
        mb_fault_point("ckpt-before-valid");
        st = mb_dist_agree(w->d, write_valid(w, err), err);
    }
    if (st == MB_OK)
        st = mb_dist_agree(w->d, flush_file(w, "valid flags", err), err);
    /* After a failure the close is still taken, on every rank; its own
     * error would only hide the first one. */
    cst = close_file(w, st == MB_OK ? err : &cerr);
    return mb_dist_agree(w->d, st != MB_OK ? st : cst, err);
}

/* Rank 0: gives back the reserved space the file did not use, and makes
 * the file durable. */
static mb_status sync_file(const writer *w, mb_err *err)
{
    int outgrew = 0;
    mb_status st = mb_fs_trim_sync(w->s.tmp, w->reserved, &outgrew, err);

    if (outgrew)
        /* FILE_SLACK is too small: the reservation did not cover every
         * write, which a full disk could have turned into a hang. */
        mb_warn("%s: checkpoint outgrew its %llu-byte space reservation", w->s.tmp,
                (unsigned long long)w->reserved);
    return st;
}

/* Rank 0: deletes all but the newest MB_CKPT_KEEP, never the one just
 * published. A failure here costs disk space, not correctness: warn. */
static void prune(const char *dir, uint64_t keep_seq)
{
    entry *v;
    size_t n, i;
    char p[PATH_CAP];

    if (list_ckpts(dir, &v, &n, NULL) != MB_OK)
        return;
    for (i = MB_CKPT_KEEP; i < n; i++) {
        if (v[i].seq == keep_seq)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, v[i].name);
        if (unlink(p) != 0 && errno != ENOENT)
            mb_warn("cannot delete old checkpoint %s: %s", p, strerror(errno));
    }
    free(v);
}

/* Rank 0 makes the file durable and gives it its name; all agree. */
static mb_status publish(writer *w, mb_err *err)
{
    mb_status st = MB_OK;

    if (w->d->rank == 0) {
        mb_fault_point("ckpt-before-publish");
        st = sync_file(w, err);
        if (st == MB_OK)
            st = mb_fs_publish(w->s.tmp, w->s.path, err);
    }
    st = mb_dist_agree(w->d, st, err);
    if (st == MB_OK && w->d->rank == 0)
        prune(w->s.dir, w->s.meta.seq);
    return st;
}

mb_status mb_ckpt_write(mb_dist *d, const char *dir, const mb_ckpt_meta *meta,
                        const mb_ckpt_part *part, double *seconds, mb_err *err)
{
    double t0 = mb_dist_wtime();
    writer *w = mb_calloc(1, sizeof *w);
    mb_status st = w ? MB_OK : mb_err_set(err, MB_ENOMEM, "out of memory");

    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (w) {
        w->d = d;
        w->nparts = (uint64_t)d->size;
        w->f = w->ptype = -1;
        for (int i = 0; i < ND; i++)
            w->ds[i] = -1;
        if (d->rank == 0)
            st = root_prepare(w, dir, meta, err);
    }
    /* From here on every rank takes every step: a rank that failed
     * locally reports it in the next agreement instead of dropping out. */
    st = mb_dist_agree(d, st, err);
    if (st == MB_OK)
        st = mb_dist_agree(d, share(w, err), err);
    if (st == MB_OK)
        st = mb_dist_agree(d, part_prepare(w, part, err), err);
    if (st == MB_OK)
        st = mb_dist_agree(d, place_parts(w, err), err);
    if (st == MB_OK)
        st = write_file(w, err);
    if (st == MB_OK)
        st = publish(w, err);
    if (st != MB_OK && w && w->created)
        unlink(w->s.tmp);
    free(w);
    if (seconds)
        *seconds = mb_dist_wtime() - t0;
    return st;
}

/* ---- reading and validation (one process) ------------------------------ */

/* What validation found, for load and inspect; `err` holds the reason a
 * file is damaged. */
typedef struct reader {
    const char *path;
    uint64_t fsize;              /* bytes of the file: bounds every dataset */
    hid_t f;
    int have_meta, have_parts;
    int v2;                      /* format mpibatch-checkpoint-2 */
    uint64_t nparts, nstates, nentries;
    part_rec *parts;
    uint64_t *chunks;
    mb_ckpt_loaded *out;
} reader;

static mb_status damaged(mb_err *err, const char *fmt, ...) MB_PRINTF(2, 3);

static mb_status damaged(mb_err *err, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        err->code = MB_EDATA;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return MB_EDATA;
}

/* Why attribute `name` could not be read as `want`: a root object header
 * that fails HDF5's own checksum reads as "cannot tell" here. */
static mb_status attr_problem(hid_t f, const char *name, const char *want, mb_err *err)
{
    htri_t e = H5Aexists(f, name);

    if (e < 0)
        return damaged(err, "metadata unreadable (HDF5 checksum or structure error)");
    if (e == 0)
        return damaged(err, "attribute %s is missing", name);
    return damaged(err, "attribute %s is not %s", name, want);
}

static mb_status get_str_attr(hid_t f, const char *name, char *out, size_t cap, mb_err *err)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT), t = -1, s = -1, mt = -1;
    size_t size = 0;
    int ok = 0;

    if (a >= 0) {
        t = H5Aget_type(a);
        s = H5Aget_space(a);
    }
    if (t >= 0 && s >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) == 0 &&
        H5Sget_simple_extent_type(s) == H5S_SCALAR) {
        size = H5Tget_size(t);
        if (size > 0 && size <= cap && (mt = fixed_str(size)) >= 0)
            ok = H5Aread(a, mt, out) >= 0;
    }
    close_type(mt);
    close_space(s);
    close_type(t);
    if (a >= 0)
        H5Aclose(a);
    if (!ok)
        return attr_problem(f, name, "a string that fits", err);
    out[size - 1] = '\0';   /* NULLTERM reads end in NUL already; belt and braces */
    return MB_OK;
}

static mb_status get_u64_attr(hid_t f, const char *name, uint64_t *v, mb_err *err)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT), t = -1, s = -1;
    int ok = 0;

    if (a >= 0) {
        t = H5Aget_type(a);
        s = H5Aget_space(a);
    }
    if (t >= 0 && s >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 8 &&
        H5Tget_sign(t) == H5T_SGN_NONE && H5Sget_simple_extent_type(s) == H5S_SCALAR)
        ok = H5Aread(a, H5T_NATIVE_UINT64, v) >= 0;
    close_space(s);
    close_type(t);
    if (a >= 0)
        H5Aclose(a);
    return ok ? MB_OK : attr_problem(f, name, "a uint64", err);
}

/* The metadata attributes into r->out->meta, r->nparts and sha. */
static mb_status read_attrs(reader *r, char sha[SHA_HEX], mb_err *err)
{
    mb_ckpt_meta *m = &r->out->meta;
    hid_t f = r->f;
    char format[64];
    mb_status st = get_str_attr(f, "format", format, sizeof format, err);

    r->v2 = st == MB_OK && strcmp(format, FORMAT_NO_LAYOUT) == 0;
    if (st == MB_OK && !r->v2 && strcmp(format, FORMAT) != 0)
        return damaged(err, "format is '%s', not '%s'", format, FORMAT);
#define STR(name, field) \
    if (st == MB_OK) st = get_str_attr(f, name, field, sizeof field, err)
#define U64(name, field) \
    if (st == MB_OK) st = get_u64_attr(f, name, field, err)
    STR("fingerprint", m->fingerprint);
    STR("task_id", m->task_id);
    STR("input", m->input);
    STR("msg_id", m->msg_id);
    STR("receipt", m->receipt);
    U64("file_size", &m->file_size);
    U64("chunk_size", &m->chunk_size);
    U64("nchunks", &m->nchunks);
    STR("grid_digest", m->grid_digest);
    U64("seq", &m->seq);
    U64("nstate", &m->nstate);
    if (!r->v2) {
        U64("layout_version", &m->layout_version);
        STR("layout", m->layout);
    }
    U64("nparts", &r->nparts);
#undef STR
#undef U64
    return st == MB_OK ? get_str_attr(f, "meta_sha256", sha, SHA_HEX, err) : st;
}

static mb_status read_meta(reader *r, mb_err *err)
{
    mb_ckpt_meta *m = &r->out->meta;
    char sha[SHA_HEX], want[SHA_HEX];
    mb_status st = read_attrs(r, sha, err);

    if (st != MB_OK)
        return st;
    if (meta_sha(m, r->nparts, r->v2, want) != MB_OK)
        return mb_err_set(err, MB_ENOMEM, "cannot checksum the checkpoint metadata");
    if (strcmp(sha, want) != 0)
        return damaged(err, "metadata checksum does not match");
    /* Whole, but its states may be laid out otherwise: refused, not
     * skipped like a damaged file (the checksum tells the two apart). */
    if (r->v2)
        return mb_err_set(err, MB_EJOB, "written by an older mpibatch (format %s), which did "
                          "not record the layout of its states", FORMAT_NO_LAYOUT);
    r->have_meta = 1;
    /* Sane bounds, checked after the checksum so that they judge what the
     * writer meant rather than a random flip. */
    if (r->nparts == 0 || r->nparts > MAX_PARTS)
        return damaged(err, "%llu parts", (unsigned long long)r->nparts);
    if (m->nchunks >= MAX_CHUNKS || m->nchunks > m->file_size || m->nstate > MAX_NSTATE)
        return damaged(err, "%llu chunks of a %llu-byte input, %llu states per group",
                       (unsigned long long)m->nchunks, (unsigned long long)m->file_size,
                       (unsigned long long)m->nstate);
    return MB_OK;
}

/* The length of 1-D dataset `name` with elements of class cls (and of
 * size esize, unless 0). */
static mb_status dset_len(hid_t f, const char *name, H5T_class_t cls, size_t esize,
                          uint64_t *n, mb_err *err)
{
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT), t = -1, s = -1;
    hsize_t dim = 0;
    int ok = 0;

    if (ds >= 0) {
        t = H5Dget_type(ds);
        s = H5Dget_space(ds);
    }
    if (t >= 0 && s >= 0 && H5Tget_class(t) == cls && (esize == 0 || H5Tget_size(t) == esize) &&
        H5Sget_simple_extent_ndims(s) == 1 && H5Sget_simple_extent_dims(s, &dim, NULL) == 1)
        ok = 1;
    close_space(s);
    close_type(t);
    close_dset(ds);
    if (!ok)
        return damaged(err, "dataset /%s is missing or malformed", name);
    *n = dim;
    return MB_OK;
}

static mb_status read_dset(hid_t f, const char *name, hid_t memtype, void *buf, uint64_t n,
                           mb_err *err)
{
    hid_t ds;
    herr_t rc;

    if (n == 0)
        return MB_OK;
    ds = H5Dopen2(f, name, H5P_DEFAULT);
    rc = ds >= 0 ? H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : -1;
    close_dset(ds);
    return rc < 0 ? damaged(err, "dataset /%s cannot be read", name) : MB_OK;
}

/* Sizes of every dataset, each bounded by the file size (contiguous,
 * uncompressed data cannot hold more bytes than the file) before anything
 * is allocated. */
static mb_status check_sizes(reader *r, mb_err *err)
{
    uint64_t np = 0, nv = 0;
    mb_status st = dset_len(r->f, "states", H5T_INTEGER, 1, &r->nstates, err);

    if (st == MB_OK) st = dset_len(r->f, "chunks", H5T_INTEGER, 8, &r->nentries, err);
    if (st == MB_OK) st = dset_len(r->f, "parts", H5T_COMPOUND, 0, &np, err);
    if (st == MB_OK) st = dset_len(r->f, "valid", H5T_INTEGER, 1, &nv, err);
    if (st != MB_OK)
        return st;
    if (np != r->nparts || nv != r->nparts)
        return damaged(err, "%llu parts and %llu valid flags for %llu parts",
                       (unsigned long long)np, (unsigned long long)nv,
                       (unsigned long long)r->nparts);
    if (r->nstates > r->fsize || r->nentries > r->fsize / 8 ||
        r->nparts > r->fsize / 16)
        return damaged(err, "datasets larger than the file");
    if (r->nentries > r->out->meta.nchunks)
        return damaged(err, "%llu chunk entries for %llu chunks",
                       (unsigned long long)r->nentries,
                       (unsigned long long)r->out->meta.nchunks);
    return MB_OK;
}

/* Every rank set its flag: the file is not the remains of a write that
 * stopped half-way. */
static mb_status check_valid(reader *r, mb_err *err)
{
    unsigned char *v = mb_malloc((size_t)r->nparts);
    mb_status st = v ? read_dset(r->f, "valid", H5T_NATIVE_UCHAR, v, r->nparts, err)
                     : mb_err_set(err, MB_ENOMEM, "out of memory");

    for (uint64_t i = 0; st == MB_OK && i < r->nparts; i++)
        if (v[i] != 1)
            st = damaged(err, "part %llu of %llu is not marked valid (half-written)",
                         (unsigned long long)i, (unsigned long long)r->nparts);
    free(v);
    return st;
}

/* The parts tile /states and /chunks in rank order, without gaps or
 * overlaps. */
static mb_status read_parts(reader *r, mb_err *err)
{
    hid_t t = part_type();
    uint64_t so = 0, co = 0;
    mb_status st;

    r->parts = mb_calloc((size_t)r->nparts, sizeof *r->parts);
    if (!r->parts || t < 0) {
        close_type(t);
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    }
    st = read_dset(r->f, "parts", t, r->parts, r->nparts, err);
    close_type(t);
    for (uint64_t i = 0; st == MB_OK && i < r->nparts; i++) {
        const part_rec *p = &r->parts[i];
        if (p->states_offset != so || p->states_len > r->nstates - so ||
            p->chunks_offset != co || p->chunks_count > r->nentries - co)
            return damaged(err, "part %llu lies outside its place in /states or /chunks",
                           (unsigned long long)i);
        so += p->states_len;
        co += p->chunks_count;
    }
    if (st == MB_OK && (so != r->nstates || co != r->nentries))
        return damaged(err, "parts cover %llu of %llu state bytes, %llu of %llu chunk entries",
                       (unsigned long long)so, (unsigned long long)r->nstates,
                       (unsigned long long)co, (unsigned long long)r->nentries);
    if (st == MB_OK)
        r->have_parts = 1;
    return st;
}

static mb_status read_payload(reader *r, mb_err *err)
{
    mb_ckpt_loaded *o = r->out;
    mb_status st;

    o->states = mb_malloc(r->nstates ? (size_t)r->nstates : 1);
    r->chunks = mb_malloc(r->nentries ? (size_t)r->nentries * 8 : 1);
    if (!o->states || !r->chunks)
        return mb_err_set(err, MB_ENOMEM, "out of memory for a %llu-byte checkpoint",
                          (unsigned long long)r->nstates);
    o->states_len = (size_t)r->nstates;
    st = read_dset(r->f, "states", H5T_NATIVE_UCHAR, o->states, r->nstates, err);
    if (st == MB_OK)
        st = read_dset(r->f, "chunks", H5T_NATIVE_UINT64, r->chunks, r->nentries, err);
    return st;
}

static mb_status check_sums(reader *r, mb_err *err)
{
    char sha[SHA_HEX];

    for (uint64_t i = 0; i < r->nparts; i++) {
        const part_rec *p = &r->parts[i];
        if (mb_sha256_hex(r->out->states + p->states_offset, (size_t)p->states_len, sha) !=
            MB_OK)
            return mb_err_set(err, MB_EINTERNAL, "SHA-256 failed");
        if (memcmp(sha, p->states_sha256, SHA_HEX) != 0)
            return damaged(err, "states checksum of part %llu does not match",
                           (unsigned long long)i);
        if (chunks_sha(r->chunks + p->chunks_offset, (size_t)p->chunks_count, sha) != MB_OK)
            return mb_err_set(err, MB_ENOMEM, "out of memory");
        if (memcmp(sha, p->chunks_sha256, SHA_HEX) != 0)
            return damaged(err, "chunks checksum of part %llu does not match",
                           (unsigned long long)i);
    }
    return MB_OK;
}

static mb_status build_done(reader *r, mb_err *err)
{
    mb_ckpt_loaded *o = r->out;
    uint64_t n = o->meta.nchunks;

    if (!(o->done = mb_calloc(n ? (size_t)n : 1, 1)))
        return mb_err_set(err, MB_ENOMEM, "out of memory for a %llu-chunk bitmap",
                          (unsigned long long)n);
    for (uint64_t i = 0; i < r->nentries; i++) {
        uint64_t c = r->chunks[i];
        if (c >= n)
            return damaged(err, "chunk index %llu of %llu chunks", (unsigned long long)c,
                           (unsigned long long)n);
        if (o->done[c])
            return damaged(err, "chunk %llu is covered twice", (unsigned long long)c);
        o->done[c] = 1;
        o->ndone++;
    }
    return MB_OK;
}

static mb_status open_file(reader *r, mb_err *err)
{
    struct stat sb;

    if (stat(r->path, &sb) != 0)
        return damaged(err, "%s", strerror(errno));
    if (!S_ISREG(sb.st_mode) || sb.st_size <= 0)
        return damaged(err, sb.st_size == 0 ? "empty file" : "not a regular file");
    r->fsize = (uint64_t)sb.st_size;
    if (H5Fis_hdf5(r->path) <= 0)
        return damaged(err, "not an HDF5 file");
    r->f = H5Fopen(r->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    return r->f < 0 ? damaged(err, "HDF5 cannot open it (truncated or corrupt)") : MB_OK;
}

/* Validates the checkpoint at path into out (zeroed first). MB_EDATA with
 * the reason in err when damaged; other statuses are real errors (memory). */
static mb_status validate(reader *r, const char *path, mb_ckpt_loaded *out, mb_err *err)
{
    mb_status st;

    memset(r, 0, sizeof *r);
    memset(out, 0, sizeof *out);
    r->path = path;
    r->out = out;
    r->f = -1;
    snprintf(out->path, sizeof out->path, "%s", path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    st = open_file(r, err);
    if (st == MB_OK) st = read_meta(r, err);
    if (st == MB_OK) st = check_sizes(r, err);
    if (st == MB_OK) st = check_valid(r, err);
    if (st == MB_OK) st = read_parts(r, err);
    if (st == MB_OK) st = read_payload(r, err);
    if (st == MB_OK) st = check_sums(r, err);
    if (st == MB_OK) st = build_done(r, err);
    if (r->f >= 0)
        H5Fclose(r->f);
    free(r->parts);
    free(r->chunks);
    r->parts = NULL;
    r->chunks = NULL;
    return st;
}

void mb_ckpt_loaded_fini(mb_ckpt_loaded *c)
{
    if (!c)
        return;
    free(c->states);
    free(c->done);
    memset(c, 0, sizeof *c);
}

/* MB_EJOB when the checkpoint's states were packed with another
 * accumulator layout than this binary's (they would be misread), naming
 * both versions and where the descriptions part. */
static mb_status check_layout(const mb_ckpt_meta *m, mb_err *err)
{
    char mine[MB_ACC_LAYOUT_CAP];
    size_t at = 0;

    if (mb_acc_layout(mine, sizeof mine) != MB_OK)
        return mb_err_set(err, MB_EINTERNAL, "the accumulator layout does not fit its buffer");
    if (m->layout_version == MB_ACC_LAYOUT_VERSION && strcmp(m->layout, mine) == 0)
        return MB_OK;
    while (m->layout[at] && m->layout[at] == mine[at])
        at++;
    while (at > 0 && m->layout[at - 1] != ' ')   /* from the word that differs */
        at--;
    return mb_err_set(err, MB_EJOB, "its states were packed with accumulator layout %llu "
                      "(\"...%.60s\"), this mpibatch's is layout %d (\"...%.60s\"): another "
                      "build wrote it", (unsigned long long)m->layout_version, m->layout + at,
                      MB_ACC_LAYOUT_VERSION, mine + at);
}

mb_status mb_ckpt_load(const char *dir, mb_ckpt_loaded *out, mb_err *err)
{
    entry *v;
    size_t n, i;
    char path[PATH_CAP];
    mb_err why;
    reader r;
    mb_status st = list_ckpts(dir, &v, &n, err);

    memset(out, 0, sizeof *out);
    if (st != MB_OK)
        return st;
    for (i = 0; i < n; i++) {
        mb_err_clear(&why);
        snprintf(path, sizeof path, "%s/%s", dir, v[i].name);
        st = validate(&r, path, out, &why);
        if (st == MB_OK && out->meta.seq != v[i].seq)
            st = damaged(&why, "it holds sequence %llu", (unsigned long long)out->meta.seq);
        if (st == MB_OK)
            st = check_layout(&out->meta, &why);
        if (st == MB_OK)
            break;
        mb_ckpt_loaded_fini(out);
        if (st != MB_EDATA) {
            free(v);
            return mb_err_set(err, st, "%s: %s", path, why.msg);
        }
        mb_warn("checkpoint %s is damaged (%s); %s", path, why.msg,
                i + 1 < n ? "using the previous one" : "no older checkpoint left");
    }
    free(v);
    if (i == n)
        return mb_err_set(err, MB_ENOENT, "%s: no valid checkpoint (%zu damaged)", dir, n);
    return MB_OK;
}

/* Prints s with control bytes shown as '?', so a hostile path cannot fake
 * lines of the summary. */
static void put_line(FILE *f, const char *label, const char *s)
{
    fprintf(f, "%-12s", label);
    for (; *s; s++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
    fputc('\n', f);
}

static void print_meta(FILE *f, const mb_ckpt_meta *m)
{
    put_line(f, "format", FORMAT);
    put_line(f, "job", m->fingerprint);
    put_line(f, "task", m->task_id);
    put_line(f, "input", m->input);
    put_line(f, "message", m->msg_id);
    /* A lease handle: a secret for later back ends, so never shown. */
    put_line(f, "receipt", m->receipt[0] ? "(present)" : "(none)");
    fprintf(f, "%-12s%llu\n", "sequence", (unsigned long long)m->seq);
    fprintf(f, "%-12s%llu\n", "layout", (unsigned long long)m->layout_version);
}

mb_status mb_ckpt_inspect(const char *path, FILE *out, mb_err *err)
{
    mb_ckpt_loaded c;
    mb_err why;
    reader r;
    mb_status st;

    mb_err_clear(&why);
    st = validate(&r, path, &c, &why);
    put_line(out, "checkpoint", path);
    if (r.have_meta)
        print_meta(out, &c.meta);
    if (st == MB_OK)
        fprintf(out, "%-12s%llu / %llu done\n", "chunks", (unsigned long long)c.ndone,
                (unsigned long long)c.meta.nchunks);
    if (r.have_parts) {
        fprintf(out, "%-12s%llu\n", "parts", (unsigned long long)r.nparts);
        fprintf(out, "%-12s%llu bytes\n", "states", (unsigned long long)r.nstates);
    }
    if (st == MB_OK)
        fprintf(out, "%-12sVALID\n", "status");
    else if (st == MB_EJOB)
        fprintf(out, "%-12sUNUSABLE (%s)\n", "status", why.msg);
    else
        fprintf(out, "%-12sDAMAGED (%s)\n", "status", why.msg);
    /* Valid, but not resumable by this binary: said, not refused. */
    if (st == MB_OK && check_layout(&c.meta, &why) != MB_OK)
        fprintf(out, "%-12s%s\n", "warning", why.msg);
    mb_ckpt_loaded_fini(&c);
    if (st == MB_EDATA)
        return mb_err_set(err, MB_EDATA, "%s: damaged checkpoint (%s)", path, why.msg);
    return st == MB_OK ? MB_OK : mb_err_set(err, st, "%s: %s", path, why.msg);
}

mb_status mb_ckpt_clear(const char *dir, mb_err *err)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    char p[PATH_CAP];
    uint64_t seq;
    mb_status st = MB_OK;

    if (!dh)
        return errno == ENOENT ? MB_OK : mb_err_set(err, MB_EIO, "%s: %s", dir, strerror(errno));
    while ((e = readdir(dh)) != NULL) {
        if (!parse_name(e->d_name, &seq) && !is_tmp_name(e->d_name))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0 && errno != ENOENT && st == MB_OK)
            st = mb_err_set(err, MB_EIO, "%s: cannot delete: %s", p, strerror(errno));
    }
    closedir(dh);
    return st == MB_OK ? mb_fs_sync_dir(dir, err) : st;
}

uint64_t mb_ckpt_last_seq(const char *dir)
{
    entry *v;
    size_t n;
    uint64_t seq = 0;

    if (list_ckpts(dir, &v, &n, NULL) != MB_OK)
        return 0;
    if (n)
        seq = v[0].seq;
    free(v);
    return seq;
}
