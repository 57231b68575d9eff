/* status.c - writes a job's status file and reads status files back for
 * `mpibatch status`. Writing is advisory: a file that cannot be written is
 * warned about once and never fails the run. Secrets are scrubbed from the
 * text fields (an input may be a URL with a SAS token) before they are
 * written. Knows nothing of MPI or queues: the run loop fills the fields. */
#include "core/status.h"

#include "azure/azure_auth.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/timefmt.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATUS_FORMAT "mpibatch-status-1"
#define STATUS_FILE_MAX 65536
#define STATUS_FILES_MAX 4096
#define NAME_PREFIX "status."
#define NAME_SUFFIX ".json"

static const char *const state_names[] = {"running", "idle", "stopped", "done", "failed"};

/* Text fit for the file: secrets blotted, a SAS query cut off, at most
 * MB_JOBSTAT_TEXT_MAX - 1 bytes. */
static void clean_copy(char *dst, const char *src, int cut_query)
{
    snprintf(dst, MB_JOBSTAT_TEXT_MAX, "%.*s", (int)(cut_query ? strcspn(src, "?#") : strlen(src)),
             src);
    mb_az_redact(dst);
}

/* A host name as it goes into a file name: no '/', no '.', no spaces. */
static void host_part(char *out, size_t cap)
{
    const char *h = mb_log_host();
    size_t i;

    for (i = 0; h[i] && i + 1 < cap && i < 64; i++)
        out[i] = h[i] == '/' || h[i] == '.' || h[i] == ' ' ? '_' : h[i];
    out[i] = '\0';
}

mb_status mb_jobstat_init(mb_jobstat *s, const char *ckpt_dir, const char *out,
                          const char *queue, int ranks, mb_err *err)
{
    char dir[4200], host[80], path[4400];
    mb_status st;
    int n;

    memset(s, 0, sizeof *s);
    s->eta_s = -1;
    s->queue_left = s->queue_poisoned = -1;
    s->pid = (long)getpid();
    s->ranks = ranks;
    s->started = time(NULL);
    clean_copy(s->queue, queue ? queue : "", 1);
    clean_copy(s->out, out ? out : "", 0);
    if (ckpt_dir)
        n = snprintf(dir, sizeof dir, "%s", ckpt_dir);
    else
        n = snprintf(dir, sizeof dir, "%s/.status", out ? out : ".");
    if (n < 0 || (size_t)n >= sizeof dir)
        return mb_err_set(err, MB_EIO, "status directory name too long");
    if ((st = mb_fs_mkdirs(dir, err)) != MB_OK)
        return st;
    (void)mb_fs_sweep_temps(dir);
    host_part(host, sizeof host);
    snprintf(path, sizeof path, "%s/" NAME_PREFIX "%s.%ld" NAME_SUFFIX, dir, host, s->pid);
    if (!(s->path = mb_strdup(path)))
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    return MB_OK;
}

void mb_jobstat_fini(mb_jobstat *s)
{
    if (!s)
        return;
    free(s->path);
    s->path = NULL;
}

/* A JSON string, or null for "" (and for text that is not UTF-8 even after
 * its non-ASCII bytes are replaced). */
static json_t *str_or_null(const char *text)
{
    char copy[MB_ERR_MAX > MB_JOBSTAT_TEXT_MAX ? MB_ERR_MAX : MB_JOBSTAT_TEXT_MAX];
    json_t *j;
    size_t i;

    if (!text || !*text)
        return json_null();
    if ((j = json_string(text)) != NULL)
        return j;
    snprintf(copy, sizeof copy, "%s", text);
    for (i = 0; copy[i]; i++)
        if ((unsigned char)copy[i] >= 0x80)
            copy[i] = '?';
    j = json_string(copy);
    return j ? j : json_null();
}

static json_t *num_or_null(double v, int known)
{
    return known ? json_real(v) : json_null();
}

static json_t *int_or_null(int64_t v)
{
    return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

static json_t *to_json(const mb_jobstat *s)
{
    char started[MB_LOG_TIME_MAX], updated[MB_LOG_TIME_MAX], err[MB_ERR_MAX];
    char input[MB_JOBSTAT_TEXT_MAX];

    clean_copy(input, s->input, 0);
    mb_log_utc(s->started, started);
    mb_log_utc(time(NULL), updated);
    snprintf(err, sizeof err, "%s", s->error);
    mb_az_redact(err);
    return json_pack("{s:s, s:s, s:I, s:i, s:o, s:o, s:s, s:o, s:o, s:I, s:I, s:I, s:I,"
                     " s:f, s:f, s:o, s:I, s:I, s:o, s:o, s:o, s:s, s:s}",
                     "format", STATUS_FORMAT, "host", mb_log_host(), "pid", (json_int_t)s->pid,
                     "ranks", s->ranks, "queue", str_or_null(s->queue), "out",
                     str_or_null(s->out), "state", state_names[s->state], "task",
                     str_or_null(s->task), "input", str_or_null(input), "chunks_done",
                     (json_int_t)s->chunks_done, "chunks_total", (json_int_t)s->chunks_total,
                     "bytes_done", (json_int_t)s->bytes_done, "bytes_total",
                     (json_int_t)s->bytes_total, "rows_per_s", s->rows_per_s, "mb_per_s",
                     s->mb_per_s, "eta_s", num_or_null(s->eta_s, s->eta_s >= 0), "tasks_done",
                     (json_int_t)s->tasks_done, "tasks_rejected", (json_int_t)s->tasks_rejected,
                     "queue_left", int_or_null(s->queue_left), "queue_poisoned",
                     int_or_null(s->queue_poisoned), "error", str_or_null(err), "started",
                     started, "updated", updated);
}

void mb_jobstat_write(mb_jobstat *s)
{
    json_t *doc;
    char *text;
    mb_err err;

    if (!s || !s->path)
        return;
    doc = to_json(s);
    text = doc ? json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!text) {
        mb_err_set(&err, MB_ENOMEM, "cannot encode it");
    } else if (mb_fs_write_atomic(s->path, text, strlen(text), &err) == MB_OK) {
        free(text);
        return;
    }
    free(text);
    if (!s->warned)
        mb_warn("status file %s not written (%s); further failures are not reported", s->path,
                err.msg);
    s->warned = 1;
}

/* ---- mpibatch status ------------------------------------------------- */

static int is_status_name(const char *name)
{
    size_t n = strlen(name), p = strlen(NAME_PREFIX), x = strlen(NAME_SUFFIX);

    return n > p + x && strncmp(name, NAME_PREFIX, p) == 0 &&
           strcmp(name + n - x, NAME_SUFFIX) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the paths of the status files in `dir` (missing: none). */
static mb_status list_files(const char *dir, char ***v, size_t *n, mb_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4400];

    if (!d)
        return MB_OK;
    while ((e = readdir(d)) != NULL && *n < STATUS_FILES_MAX) {
        char **grown;
        if (!is_status_name(e->d_name))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!(grown = mb_realloc(*v, (*n + 1) * sizeof **v)) || !(grown[*n] = mb_strdup(path))) {
            if (grown)
                *v = grown;
            closedir(d);
            return mb_err_set(err, MB_ENOMEM, "out of memory");
        }
        *v = grown;
        ++*n;
    }
    closedir(d);
    return MB_OK;
}

/* "2026-12-02T18:37:38Z" (as mb_log_utc writes it) as seconds since the
 * epoch; -1 if it is not that. */
static time_t parse_utc(const char *s)
{
    int64_t t;

    return mb_time_parse_iso(s, &t) == MB_OK ? (time_t)t : (time_t)-1;
}

/* Reads one file; NULL (with a warning) when it is not a status file. */
static json_t *load_one(const char *path, time_t now)
{
    char *text = NULL;
    size_t len = 0;
    json_t *o, *state;
    mb_err err;
    time_t upd;
    double age;
    int live;

    if (mb_fs_read_small(path, STATUS_FILE_MAX, &text, &len, &err) != MB_OK) {
        mb_warn("%s", err.msg);
        return NULL;
    }
    o = json_loadb(text, len, 0, NULL);
    free(text);
    state = json_object_get(o, "state");
    if (!json_is_object(o) || !json_is_string(state) ||
        (upd = parse_utc(json_string_value(json_object_get(o, "updated")))) == (time_t)-1) {
        mb_warn("%s: not a status file (no state or update time); skipped", path);
        json_decref(o);
        return NULL;
    }
    age = difftime(now, upd);
    live = strcmp(json_string_value(state), "running") == 0 ||
           strcmp(json_string_value(state), "idle") == 0;
    json_object_set_new(o, "file", json_string(path));
    json_object_set_new(o, "age_s", json_real(age));
    json_object_set_new(o, "stale", json_boolean(live && age > MB_JOBSTAT_STALE_S));
    return o;
}

static const char *jstr(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

static double jnum(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

void mb_jobstat_fmt_eta(double s, char *out, size_t cap)
{
    long t;

    if (!(s >= 0) || s > 1e9) {
        snprintf(out, cap, "?");
        return;
    }
    t = (long)(s + 0.5);
    if (t < 60)
        snprintf(out, cap, "%lds", t);
    else if (t < 3600)
        snprintf(out, cap, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(out, cap, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
}

/* The ETA column: "-" when the file has none. */
static void fmt_eta(const json_t *v, char *out, size_t cap)
{
    if (!json_is_number(v))
        snprintf(out, cap, "-");
    else
        mb_jobstat_fmt_eta(json_number_value(v), out, cap);
}

static void print_row(const json_t *o, FILE *out)
{
    char chunks[48], mb[48], eta[32], pid[24];

    snprintf(pid, sizeof pid, "%.0f", jnum(o, "pid"));
    snprintf(chunks, sizeof chunks, "%.0f/%.0f", jnum(o, "chunks_done"), jnum(o, "chunks_total"));
    snprintf(mb, sizeof mb, "%.1f/%.1f", jnum(o, "bytes_done") / 1e6, jnum(o, "bytes_total") / 1e6);
    fmt_eta(json_object_get(o, "eta_s"), eta, sizeof eta);
    fprintf(out, "%-20s %8s %-8s %-32s %11s %15s %9.0f %7.1f %8s %5.0f %4.0f %s (%.0f s ago)%s\n",
            jstr(o, "host", "?"), pid, jstr(o, "state", "?"), jstr(o, "task", "-"), chunks, mb,
            jnum(o, "rows_per_s"), jnum(o, "mb_per_s"), eta, jnum(o, "tasks_done"),
            jnum(o, "tasks_rejected"), jstr(o, "updated", "?"), jnum(o, "age_s"),
            json_is_true(json_object_get(o, "stale")) ? " STALE" : "");
    if (json_is_string(json_object_get(o, "error")))
        fprintf(out, "%-20s %8s error: %s\n", "", "", jstr(o, "error", ""));
}

mb_status mb_jobstat_print(const char *dir, int json, FILE *out, mb_err *err)
{
    char sub[4200];
    char **files = NULL;
    size_t n = 0, i;
    struct stat sb;
    json_t *jobs;
    time_t now = time(NULL);
    mb_status st;

    if (stat(dir, &sb) != 0)
        return mb_err_set(err, MB_ENOENT, "status: %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return mb_err_set(err, MB_ENOENT, "status: %s: not a directory", dir);
    snprintf(sub, sizeof sub, "%s/.status", dir);
    st = list_files(dir, &files, &n, err);
    if (st == MB_OK)
        st = list_files(sub, &files, &n, err);
    if (st == MB_OK && n)
        qsort(files, n, sizeof *files, cmp_str);
    jobs = json_array();
    if (st == MB_OK && !jobs)
        st = mb_err_set(err, MB_ENOMEM, "out of memory");
    for (i = 0; st == MB_OK && i < n; i++) {
        json_t *o = load_one(files[i], now);
        if (o)
            json_array_append_new(jobs, o);
    }
    for (i = 0; i < n; i++)
        free(files[i]);
    free(files);
    if (st == MB_OK && json) {
        char when[MB_LOG_TIME_MAX], *text;
        json_t *doc;
        mb_log_utc(now, when);
        doc = json_pack("{s:s, s:s, s:i, s:O}", "dir", dir, "now", when, "stale_after_s",
                        MB_JOBSTAT_STALE_S, "jobs", jobs);
        text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(doc);
        if (text)
            fprintf(out, "%s\n", text);
        else
            st = mb_err_set(err, MB_ENOMEM, "status: cannot build the JSON output");
        free(text);
    } else if (st == MB_OK) {
        fprintf(out, "%-20s %8s %-8s %-32s %11s %15s %9s %7s %8s %5s %4s %s\n", "HOST", "PID",
                "STATE", "TASK", "CHUNKS", "MB", "ROWS/S", "MB/S", "ETA", "DONE", "REJ",
                "UPDATED");
        for (i = 0; i < json_array_size(jobs); i++)
            print_row(json_array_get(jobs, i), out);
    }
    json_decref(jobs);
    return st;
}
