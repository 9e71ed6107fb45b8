/* archive.c - events to Hive-partitioned Parquet files (archive.h). */
#include "archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common.h"
#include "errors.h"
#include "fsx.h"
#include "parquet.h"
#include "s3.h"
#include "store.h"
#include "topic.h"

#define MS_PER_DAY 86400000ull

/* ---- targets ---- */
struct archive_target {
    char *url;
    char *root;    /* directory target: its path; NULL for S3 */
    char *staging; /* where files are written before they go in place */
    struct s3 *s3; /* S3 target */
    char *prefix;  /* S3 key prefix, "" or "a/b" */
};

/* mkdir -p that makes every directory it creates durable (fsync of its
 * parent). 0 or -errno. */
static int mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (stat(buf, &st) != 0) {
            int rc = fsx_mkdir(buf, 0755);
            if (rc < 0 && rc != -EEXIST)
                return rc;
            char *slash = strrchr(buf, '/');
            if (slash && slash != buf) {
                *slash = '\0';
                rc = fsx_fsync_dir(buf);
                *slash = '/';
                if (rc < 0)
                    return rc;
            }
        } else if (!S_ISDIR(st.st_mode)) {
            return -ENOTDIR;
        }
        buf[i] = c;
    }
    return 0;
}

static int io_code(int neg_errno)
{
    return neg_errno == -ENOSPC || neg_errno == -EDQUOT ? ERR_NOSPACE : ERR_IO;
}

int archive_target_open(struct archive_target **out,
                        const struct archive_target_config *cfg, char *err,
                        size_t errlen)
{
    struct archive_target *t = xcalloc(1, sizeof(*t));
    int rc;
    t->url = xstrdup(cfg->url ? cfg->url : "");
    if (!strncmp(t->url, "s3://", 5)) {
        char bucket[256], prefix[1024];
        if ((rc = s3_url_parse(t->url, bucket, sizeof(bucket), prefix,
                               sizeof(prefix), err, errlen)))
            goto err_free;
        struct s3_config sc = {
            .endpoint = cfg->endpoint,
            .region = cfg->region,
            .bucket = bucket,
            .access_key = cfg->access_key,
            .secret_key = cfg->secret_key,
            .cancel = cfg->cancel,
        };
        if ((rc = s3_new(&t->s3, &sc, err, errlen)))
            goto err_free;
        t->prefix = xstrdup(prefix);
        if (!cfg->staging || !*cfg->staging) {
            snprintf(err, errlen,
                     "an S3 archive target needs a staging directory");
            rc = ERR_INVAL;
            goto err_free;
        }
        t->staging = xstrdup(cfg->staging);
    } else if (t->url[0] && !strstr(t->url, "://")) {
        size_t n = strlen(t->url);
        while (n > 1 && t->url[n - 1] == '/')
            n--;
        t->root = xmemdup(t->url, n);
        const char *sub = cfg->staging_name ? cfg->staging_name : ".staging";
        size_t sl = n + strlen(sub) + 2;
        t->staging = xmalloc(sl);
        snprintf(t->staging, sl, "%s/%s", t->root, sub);
    } else {
        snprintf(err, errlen,
                 "archive target must be a directory or s3://bucket/prefix "
                 "(got '%.200s')",
                 t->url);
        rc = ERR_INVAL;
        goto err_free;
    }
    if ((rc = mkdirs(t->staging)) < 0) {
        snprintf(err, errlen, "archive staging directory %.300s: %s",
                 t->staging, strerror(-rc));
        rc = io_code(rc);
        goto err_free;
    }
    *out = t;
    return 0;
err_free:
    archive_target_free(t);
    return rc;
}

void archive_target_free(struct archive_target *t)
{
    if (!t)
        return;
    s3_free(t->s3);
    free(t->url);
    free(t->root);
    free(t->staging);
    free(t->prefix);
    free(t);
}

int archive_target_check(struct archive_target *t, char *err, size_t errlen)
{
    if (t->s3)
        return s3_check(t->s3, err, errlen);
    char path[4200];
    snprintf(path, sizeof(path), "%s/probe-%ld.tmp", t->staging,
             (long)getpid());
    int rc = mkdirs(t->root);
    if (rc < 0) {
        snprintf(err, errlen, "archive directory %.300s: %s", t->root,
                 strerror(-rc));
        return io_code(rc);
    }
    int fd = fsx_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "archive directory %.300s is not writable: %s",
                 t->root, strerror(-fd));
        return io_code(fd);
    }
    rc = fsx_write_all(fd, "tincan", 6);
    fsx_close(fd);
    fsx_unlink(path);
    if (rc < 0) {
        snprintf(err, errlen, "archive directory %.300s: write: %s", t->root,
                 strerror(-rc));
        return io_code(rc);
    }
    return 0;
}

void archive_target_clean_staging(struct archive_target *t)
{
    DIR *d = opendir(t->staging);
    if (!d)
        return;
    struct dirent *e;
    char path[4400];
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 4 && !strcmp(e->d_name + n - 4, ".tmp")) {
            snprintf(path, sizeof(path), "%s/%s", t->staging, e->d_name);
            fsx_unlink(path);
        }
    }
    closedir(d);
}

void archive_params_init(struct archive_params *p, uint64_t file_bytes)
{
    p->file_bytes = file_bytes ? file_bytes : 64ull << 20;
    p->row_group_bytes = 16ull << 20;
    p->page_bytes = 1ull << 20;
    p->buffer_bytes = 64ull << 20;
    p->zstd_level = 3;
    if (p->row_group_bytes > p->file_bytes)
        p->row_group_bytes = p->file_bytes;
    if (p->page_bytes > p->row_group_bytes)
        p->page_bytes = p->row_group_bytes;
}

/* ---- batches ---- */
/* The event columns, then version: event files have the first
 * NCOLS_EVENTS, snapshot files all NCOLS_SNAPSHOT. */
static const struct parquet_column columns[] = {
    {"position", PARQUET_INT64, 0, 1},     {"id", PARQUET_STRING, 0, 0},
    {"type", PARQUET_STRING, 0, 0},        {"kind", PARQUET_STRING, 0, 0},
    {"time", PARQUET_TIMESTAMP_MS, 0, 1},  {"key", PARQUET_STRING, 1, 0},
    {"headers", PARQUET_MAP_STRING, 0, 0}, {"payload", PARQUET_BINARY, 0, 0},
    {"version", PARQUET_INT64, 1, 1},
};
enum {
    COL_POSITION,
    COL_ID,
    COL_TYPE,
    COL_KIND,
    COL_TIME,
    COL_KEY,
    COL_HEADERS,
    COL_PAYLOAD,
    COL_VERSION,
    NCOLS_EVENTS = COL_VERSION,
    NCOLS_SNAPSHOT
};

/* A finished (or open) file of a group. */
struct afile {
    char *staged; /* path of the staged file */
    char *key;    /* path below the target; set when finished */
    uint64_t bytes;
    int committed;
};

/* One (date, type) group's open file. */
struct group {
    char type[TOPIC_MAX_LEN + 1];
    size_t type_len;
    struct parquet_writer *w; /* NULL = no open file */
    int fd;
    EVP_MD_CTX *md;
    uint64_t bytes; /* written to the staged file */
    uint64_t first_pos, last_pos;
    size_t file;     /* index into batch files */
    size_t buffered; /* parquet_buffered_bytes after the last row */
    int werr;        /* first write error (negative code) */
    char werrmsg[256];
};

struct archive_batch {
    struct archive_target *t;
    struct archive_params p;
    struct archive_filter f;
    char *pattern;        /* copy of f.pattern */
    uint64_t day;         /* UTC day (since epoch) of the open groups */
    char date[48];        /* "YYYY-MM-DD" of day */
    struct group **slots; /* open-addressed by type */
    size_t nslots, ngroups;
    struct afile *files;
    size_t nfiles, capfiles;
    uint64_t buffered; /* values held by every open writer */
    uint64_t seq;      /* staged file counter */
    struct archive_batch_stats st;
    int finished;
    char *snapshot;        /* snapshot batch: its name (NUL-terminated);
                              NULL = an event batch */
    uint64_t snapshot_pos; /* the snapshot's position P */
};

static uint64_t hash_type(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int group_write(void *ctx, const void *p, size_t n)
{
    struct group *g = ctx;
    int rc = fsx_write_all(g->fd, p, n);
    if (rc < 0) {
        g->werr = io_code(rc);
        snprintf(g->werrmsg, sizeof(g->werrmsg), "write: %s", strerror(-rc));
        return g->werr;
    }
    EVP_DigestUpdate(g->md, p, n);
    g->bytes += n;
    return 0;
}

int archive_batch_new(struct archive_batch **out, struct archive_target *t,
                      const struct archive_params *p,
                      const struct archive_filter *f, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct archive_batch *b = xcalloc(1, sizeof(*b));
    b->t = t;
    if (p)
        b->p = *p;
    else
        archive_params_init(&b->p, 0);
    if (f) {
        b->f = *f;
        if (f->pattern) {
            b->pattern = xmemdup(f->pattern, f->pattern_len);
            b->f.pattern = b->pattern;
        }
    }
    b->day = UINT64_MAX;
    b->nslots = 64;
    b->slots = xcalloc(b->nslots, sizeof(*b->slots));
    *out = b;
    return 0;
}

static struct group **slot_for(struct archive_batch *b, const char *type,
                               size_t n)
{
    size_t i = (size_t)hash_type(type, n) & (b->nslots - 1);
    while (b->slots[i] &&
           (b->slots[i]->type_len != n || memcmp(b->slots[i]->type, type, n)))
        i = (i + 1) & (b->nslots - 1);
    return &b->slots[i];
}

static void grow_slots(struct archive_batch *b)
{
    struct group **old = b->slots;
    size_t oldn = b->nslots;
    b->nslots *= 2;
    b->slots = xcalloc(b->nslots, sizeof(*b->slots));
    for (size_t i = 0; i < oldn; i++)
        if (old[i])
            *slot_for(b, old[i]->type, old[i]->type_len) = old[i];
    free(old);
}

/* Opens a new staged file for g. */
static int group_open_file(struct archive_batch *b, struct group *g, char *err,
                           size_t errlen)
{
    if (b->nfiles == b->capfiles) {
        b->capfiles = b->capfiles ? b->capfiles * 2 : 16;
        b->files = xrealloc(b->files, b->capfiles * sizeof(*b->files));
    }
    struct afile *f = &b->files[b->nfiles];
    memset(f, 0, sizeof(*f));
    char path[4400];
    snprintf(path, sizeof(path), "%s/stage-%ld-%" PRIu64 ".tmp", b->t->staging,
             (long)getpid(), ++b->seq);
    int fd = fsx_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "archive: create %.300s: %s", path,
                 strerror(-fd));
        return io_code(fd);
    }
    f->staged = xstrdup(path);
    g->file = b->nfiles++;
    g->fd = fd;
    g->bytes = 0;
    g->werr = 0;
    g->first_pos = g->last_pos = 0;
    g->md = EVP_MD_CTX_new();
    if (!g->md)
        abort();
    EVP_DigestInit_ex(g->md, EVP_sha256(), NULL);
    b->st.files++;
    struct parquet_options po = {(size_t)b->p.row_group_bytes,
                                 (size_t)b->p.page_bytes, b->p.zstd_level};
    int rc = parquet_writer_new(&g->w, columns,
                                b->snapshot ? NCOLS_SNAPSHOT : NCOLS_EVENTS,
                                &po, group_write, g, err, errlen);
    if (rc) {
        g->w = NULL;
        return rc;
    }
    g->buffered = 0;
    return 0;
}

/* Finishes g's open file: footer, fsync, close; names it. */
static int group_finish_file(struct archive_batch *b, struct group *g,
                             char *err, size_t errlen)
{
    if (!g->w)
        return 0;
    struct afile *f = &b->files[g->file];
    int rc = parquet_writer_finish(g->w, err, errlen);
    b->buffered -= g->buffered;
    g->buffered = 0;
    parquet_writer_free(g->w);
    g->w = NULL;
    if (!rc && (rc = fsx_fsync(g->fd)) < 0) {
        snprintf(err, errlen, "archive: fsync %.300s: %s", f->staged,
                 strerror(-rc));
        rc = io_code(rc);
    }
    fsx_close(g->fd);
    g->fd = -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(g->md, md, &mdlen);
    EVP_MD_CTX_free(g->md);
    g->md = NULL;
    if (rc)
        return rc;
    char hex[ARCHIVE_HASH_HEX + 1];
    for (int i = 0; i < ARCHIVE_HASH_HEX / 2; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    char key[1024];
    if (b->snapshot)
        snprintf(key, sizeof(key),
                 "snapshots/name=%s/snapshot-%020" PRIu64 "-%s.parquet",
                 b->snapshot, b->snapshot_pos, hex);
    else
        snprintf(key, sizeof(key),
                 "events/date=%s/type=%.*s/part-%020" PRIu64 "-%020" PRIu64
                 "-%s.parquet",
                 b->date, (int)g->type_len, g->type, g->first_pos, g->last_pos,
                 hex);
    f->key = xstrdup(key);
    f->bytes = g->bytes;
    b->st.staged_bytes += g->bytes;
    return 0;
}

/* Finishes every open group and forgets them (the date moved on, or the end).
 */
static int finish_groups(struct archive_batch *b, char *err, size_t errlen)
{
    int ret = 0;
    for (size_t i = 0; i < b->nslots; i++) {
        struct group *g = b->slots[i];
        if (!g)
            continue;
        int rc = group_finish_file(b, g, err, errlen);
        if (rc && !ret)
            ret = rc;
        free(g);
        b->slots[i] = NULL;
    }
    b->ngroups = 0;
    b->buffered = 0;
    return ret;
}

static void set_day(struct archive_batch *b, uint64_t day)
{
    b->day = day;
    time_t secs = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(b->date, sizeof(b->date), "%04d-%02d-%02d", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday);
}

/* Writes the row group of the open writer holding the most values: 0, 1
 * when no writer holds any, or a negative code. */
static int flush_largest(struct archive_batch *b, char *err, size_t errlen)
{
    struct group *big = NULL;
    for (size_t i = 0; i < b->nslots; i++)
        if (b->slots[i] && b->slots[i]->w &&
            (!big || b->slots[i]->buffered > big->buffered))
            big = b->slots[i];
    if (!big || !big->buffered)
        return 1;
    int rc = parquet_flush_row_group(big->w, err, errlen);
    b->buffered -= big->buffered;
    big->buffered = parquet_buffered_bytes(big->w);
    b->buffered += big->buffered;
    return rc;
}

/* The group of type (made if new). */
static struct group *group_for(struct archive_batch *b, const char *type,
                               size_t n)
{
    struct group **slot = slot_for(b, type, n);
    struct group *g = *slot;
    if (!g) {
        g = xcalloc(1, sizeof(*g));
        memcpy(g->type, type, n);
        g->type_len = n;
        g->fd = -1;
        *slot = g;
        if (++b->ngroups * 2 > b->nslots)
            grow_slots(b);
    }
    return g;
}

/* 1 when the batch's filter passes r over. */
static int filtered_out(const struct archive_batch *b,
                        const struct segment_record *r)
{
    if (b->f.pattern &&
        !topic_match(b->f.pattern, b->f.pattern_len, r->type, r->type_len))
        return 1;
    return (b->f.from_time && r->time_ms < b->f.from_time) ||
           (b->f.to_time && r->time_ms > b->f.to_time);
}

/* Puts r's values into the current row of w (version only in a snapshot's
 * file). */
static void put_event(struct parquet_writer *w, const struct segment_record *r,
                      int with_version)
{
    char gen[32];
    parquet_put_i64(w, COL_POSITION, (int64_t)r->position);
    if (r->id_len)
        parquet_put_bytes(w, COL_ID, r->id, r->id_len);
    else
        parquet_put_bytes(w, COL_ID, gen, store_generated_id(r->position, gen));
    parquet_put_bytes(w, COL_TYPE, r->type, r->type_len);
    if (r->kind == SEGMENT_KIND_COMMAND)
        parquet_put_bytes(w, COL_KIND, "command", 7);
    else
        parquet_put_bytes(w, COL_KIND, "event", 5);
    parquet_put_i64(w, COL_TIME, (int64_t)r->time_ms);
    if (r->key_len)
        parquet_put_bytes(w, COL_KEY, r->key, r->key_len);
    else
        parquet_put_null(w, COL_KEY);
    struct parquet_kv kv[STORE_HEADERS_MAX];
    size_t nkv = 0, at = 0;
    struct segment_hdr h;
    while (nkv < STORE_HEADERS_MAX &&
           segment_headers_next(r->headers, r->headers_len, &at, &h))
        kv[nkv++] =
            (struct parquet_kv){h.field, h.field_len, h.value, h.value_len};
    parquet_put_map(w, COL_HEADERS, kv, nkv);
    parquet_put_bytes(w, COL_PAYLOAD, r->payload, r->payload_len);
    if (!with_version)
        return;
    if (r->version)
        parquet_put_i64(w, COL_VERSION, (int64_t)r->version);
    else
        parquet_put_null(w, COL_VERSION);
}

int archive_batch_add(struct archive_batch *b, const struct segment_record *r,
                      char *err, size_t errlen)
{
    int rc;
    struct group *g;
    if (b->snapshot) {
        g = group_for(b, "", 0); /* one file, opened by new_snapshot */
    } else {
        if (filtered_out(b, r))
            return 0;
        uint64_t day = r->time_ms / MS_PER_DAY;
        if (day != b->day) {
            if ((rc = finish_groups(b, err, errlen)))
                return rc;
            set_day(b, day);
        }
        g = group_for(b, r->type, r->type_len);
    }
    if (!g->w && (rc = group_open_file(b, g, err, errlen)))
        return rc;

    struct parquet_writer *w = g->w;
    put_event(w, r, b->snapshot != NULL);
    rc = parquet_end_row(w, err, errlen);
    if (!rc && g->werr)
        rc = g->werr;
    if (rc) {
        if (g->werr)
            snprintf(err, errlen, "archive: %.300s: %s",
                     b->files[g->file].staged, g->werrmsg);
        return rc;
    }
    if (!g->first_pos)
        g->first_pos = r->position;
    g->last_pos = r->position;
    if (!b->st.first_pos) {
        b->st.first_pos = r->position;
        b->st.first_time = r->time_ms;
    }
    b->st.last_pos = r->position;
    b->st.events++;

    size_t now = parquet_buffered_bytes(w);
    b->buffered = b->buffered - g->buffered + now;
    g->buffered = now;
    /* Cut at file_bytes, counting buffered values at a guessed 3:1 (they are
     * not compressed yet); a function of the events alone, so a re-run cuts
     * at the same rows. A snapshot is one file, never cut. */
    if (!b->snapshot && parquet_bytes_written(w) + now / 3 >= b->p.file_bytes)
        return group_finish_file(b, g, err, errlen);
    while (b->buffered > b->p.buffer_bytes)
        if ((rc = flush_largest(b, err, errlen)))
            return rc < 0 ? rc : 0;
    return 0;
}

int archive_batch_new_snapshot(struct archive_batch **out,
                               struct archive_target *t,
                               const struct archive_params *p, const char *name,
                               size_t name_len, uint64_t position, char *err,
                               size_t errlen)
{
    struct archive_batch *b;
    int rc = archive_batch_new(&b, t, p, NULL, err, errlen);
    if (rc)
        return rc;
    b->snapshot = xmemdup(name, name_len);
    b->snapshot_pos = position;
    /* opened now, so that a snapshot of no keys is a file of no rows */
    if ((rc = group_open_file(b, group_for(b, "", 0), err, errlen))) {
        archive_batch_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int archive_batch_finish(struct archive_batch *b, char *err, size_t errlen)
{
    if (b->finished)
        return 0;
    int rc = finish_groups(b, err, errlen);
    if (!rc)
        b->finished = 1;
    return rc;
}

static int commit_dir(struct archive_batch *b, struct afile *f, char *err,
                      size_t errlen)
{
    char final[4400], dir[4400];
    snprintf(final, sizeof(final), "%s/%s", b->t->root, f->key);
    snprintf(dir, sizeof(dir), "%s", final);
    *strrchr(dir, '/') = '\0';
    int rc = mkdirs(dir);
    if (rc < 0) {
        snprintf(err, errlen, "archive: mkdir %.300s: %s", dir, strerror(-rc));
        return io_code(rc);
    }
    struct stat st;
    if (stat(final, &st) == 0 && (uint64_t)st.st_size == f->bytes) {
        fsx_unlink(f->staged); /* in place from a run before: same bytes */
        b->st.skipped_files++;
        return 0;
    }
    if ((rc = fsx_rename(f->staged, final)) < 0) {
        snprintf(err, errlen, "archive: rename to %.300s: %s", final,
                 strerror(-rc));
        return io_code(rc);
    }
    if ((rc = fsx_fsync_dir(dir)) < 0) {
        snprintf(err, errlen, "archive: fsync %.300s: %s", dir, strerror(-rc));
        return io_code(rc);
    }
    return 0;
}

static int commit_s3(struct archive_batch *b, struct afile *f, char *err,
                     size_t errlen)
{
    char key[2048];
    if (b->t->prefix[0])
        snprintf(key, sizeof(key), "%s/%s", b->t->prefix, f->key);
    else
        snprintf(key, sizeof(key), "%s", f->key);
    uint64_t size = 0;
    int rc = s3_head(b->t->s3, key, &size, NULL, 0, err, errlen);
    if (rc == 0 && size == f->bytes) {
        fsx_unlink(f->staged);
        b->st.skipped_files++;
        return 0;
    }
    if (rc && rc != ERR_NOTFOUND)
        return rc;
    int fd = open(f->staged, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "archive: open %.300s: %s", f->staged,
                 strerror(errno));
        return ERR_IO;
    }
    rc = s3_put_file(b->t->s3, key, fd, f->bytes,
                     "application/vnd.apache.parquet", err, errlen);
    close(fd);
    if (rc)
        return rc;
    fsx_unlink(f->staged);
    return 0;
}

int archive_batch_commit(struct archive_batch *b, char *err, size_t errlen)
{
    if (!b->finished) {
        snprintf(err, errlen, "archive: commit before finish");
        return ERR_INVAL;
    }
    for (size_t i = 0; i < b->nfiles; i++) {
        struct afile *f = &b->files[i];
        if (f->committed || !f->key)
            continue;
        int rc = b->t->s3 ? commit_s3(b, f, err, errlen)
                          : commit_dir(b, f, err, errlen);
        if (rc)
            return rc;
        f->committed = 1;
        b->st.committed_files++;
        b->st.committed_bytes += f->bytes;
    }
    return 0;
}

void archive_batch_stats(const struct archive_batch *b,
                         struct archive_batch_stats *out)
{
    *out = b->st;
}

void archive_batch_free(struct archive_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nslots; i++) {
        struct group *g = b->slots[i];
        if (!g)
            continue;
        parquet_writer_free(g->w);
        if (g->fd >= 0)
            fsx_close(g->fd);
        EVP_MD_CTX_free(g->md);
        free(g);
    }
    for (size_t i = 0; i < b->nfiles; i++) {
        if (!b->files[i].committed && b->files[i].staged)
            unlink(b->files[i].staged);
        free(b->files[i].staged);
        free(b->files[i].key);
    }
    free(b->files);
    free(b->slots);
    free(b->pattern);
    free(b->snapshot);
    free(b);
}
