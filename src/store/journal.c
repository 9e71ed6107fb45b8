#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "common.h"
#include "crc32c.h"
#include "errors.h"
#include "fsx.h"
#include "fsync_hist.h"
#include "le.h"
#include "log.h"
#include "sbuf.h"
#include "syncer.h"

#define HDR_LEN    16          /* bytes: magic + generation */
#define FRAME_LEN  8           /* bytes: len + crc, before the type byte */
#define CKPT_FLUSH (64 * 1024) /* bytes buffered while writing a checkpoint */

static const char MAGIC[8] = {'T', 'C', 'J', 'R', 'N', 'L', 0, 1};

struct journal {
    char *dir;              /* owned */
    char *name;             /* owned */
    uv_loop_t *loop;        /* NULL: inline syncs */
    const int *mode;        /* enum journal_fsync, or NULL = always */
    uint64_t compact_bytes; /* bytes, see journal_opts */
    struct syncer *syncer;  /* NULL without a loop */
    uv_timer_t *timer;      /* everysec; heap, freed by its close cb */
    uv_check_t *check;      /* end of a loop turn: one sync request for all
                               the turn's commits; heap, freed on close */
    int fd;                 /* current log, -1 if none */
    uint64_t gen;           /* generation of the current log */
    uint64_t log_bytes;     /* bytes, end of the current log's records */
    uint64_t file_end;      /* bytes: the log file's size; the part past
                               log_bytes is zeros written ahead (prealloc) */
    uint64_t prealloc;      /* bytes of zeros written ahead at a time */
    uint64_t ckpt_bytes;    /* bytes, the current generation's checkpoint */
    uint64_t seq;           /* records appended since open (sync seq) */
    uint64_t requested;     /* highest seq a sync was requested for */
    uint64_t truncated;     /* bytes cut from a torn tail at open */
    int err;                /* sticky ERR_IO / ERR_NOSPACE, 0 if healthy */
    struct sync_source src; /* what held replies wait on */
    char src_name[64];      /* "journal:NAME" */
    struct sbuf scratch;    /* frame being written */
};

struct journal_ckpt {
    struct journal *j;
    int fd;
    struct sbuf buf; /* framed records not yet written */
    uint64_t off;    /* bytes written to fd so far */
    uint64_t count;  /* records added */
    int err;         /* first -errno, sticky */
};

/* ---- helpers ---- */

/* Appends one framed record to b. */
static void frame(struct sbuf *b, uint8_t type, const void *p, size_t n)
{
    uint8_t h[FRAME_LEN + 1];
    le_put32(h, (uint32_t)(n + 1));
    h[FRAME_LEN] = type;
    uint32_t crc = crc32c(0, h, 4);
    crc = crc32c(crc, &type, 1);
    crc = crc32c(crc, p, n);
    le_put32(h + 4, crc);
    sbuf_add(b, h, sizeof(h));
    if (n)
        sbuf_add(b, p, n);
}

static void header(uint8_t *h, uint64_t gen)
{
    memcpy(h, MAGIC, 8);
    le_put64(h + 8, gen);
}

static char *path_of(const struct journal *j, uint64_t gen, const char *ext)
{
    struct sbuf b;
    sbuf_init(&b);
    sbuf_addf(&b, "%s/%s.%016" PRIx64 ".%s", j->dir, j->name, gen, ext);
    return b.data; /* owned by the caller */
}

static int code_of(int neg_errno)
{
    return neg_errno == -ENOSPC ? ERR_NOSPACE : ERR_IO;
}

/* The journal turns read-only: held replies are failed. */
static void fail(struct journal *j, int code)
{
    if (j->err)
        return;
    j->err = code;
    log_error("journal %s: read-only after an i/o error; restart to recover",
              j->name);
    net_sync_failed(&j->src);
}

/* ---- sync ---- */

static void on_synced(void *ctx, uint64_t seq, int err)
{
    struct journal *j = ctx;
    if (err) {
        log_error("journal %s: fdatasync failed: %s", j->name, strerror(-err));
        fail(j, code_of(err));
        return;
    }
    net_synced(&j->src, seq);
}

static void request_sync(struct journal *j)
{
    if (j->seq <= j->requested || j->err || j->fd < 0)
        return;
    j->requested = j->seq;
    if (j->syncer) {
        syncer_request(j->syncer, j->fd, j->seq);
        return;
    }
    uint64_t t0 = clock_mono_us();
    int rc = fsx_fdatasync(j->fd);
    fsync_hist_observe(clock_mono_us() - t0);
    if (rc < 0) {
        log_error("journal %s: fdatasync %s.%016" PRIx64 ".log: %s", j->name,
                  j->name, j->gen, strerror(-rc));
        fail(j, code_of(rc));
        return;
    }
    net_synced(&j->src, j->seq);
}

static void on_everysec(uv_timer_t *t)
{
    struct journal *j = t->data;
    if (j->mode && *j->mode == JOURNAL_FSYNC_EVERYSEC)
        request_sync(j);
}

static void free_timer(uv_handle_t *h)
{
    free(h);
}

/* Runs after the loop turn's callbacks: every command read in this turn has
 * appended and committed, so one request covers them all and the sync thread
 * is woken once per turn, not once per command (as the store does). */
static void on_check(uv_check_t *h)
{
    uv_check_stop(h);
    request_sync(h->data);
}

uint64_t journal_commit(struct journal *j, int force)
{
    int mode = j->mode ? *j->mode : JOURNAL_FSYNC_ALWAYS;
    if (j->err)
        return 0; /* appends already failed and said so */
    if (!force && mode != JOURNAL_FSYNC_ALWAYS)
        return 0;
    if (j->check)
        uv_check_start(j->check, on_check);
    else
        request_sync(j);
    return j->seq;
}

struct sync_source *journal_source(struct journal *j)
{
    return &j->src;
}

int journal_error(const struct journal *j)
{
    return j->err;
}

/* ---- appending ---- */

int journal_append(struct journal *j, uint8_t type, const void *p, size_t n,
                   char *err, size_t errlen)
{
    if (j->err) {
        if (err)
            snprintf(err, errlen, "journal %s is read-only after an i/o error",
                     j->name);
        return ERR_READONLY;
    }
    if (type == 0 || n > JOURNAL_MAX_RECORD) {
        if (err)
            snprintf(err, errlen, "journal %s: bad record (type %u, %zu bytes)",
                     j->name, type, n);
        return ERR_INVAL;
    }
    sbuf_clear(&j->scratch);
    frame(&j->scratch, type, p, n);
    int rc = 0;
    if (j->log_bytes + j->scratch.len > j->file_end) {
        /* write zeros ahead, so that the fdatasyncs of the next appends
         * overwrite allocated blocks and never have to write the inode */
        uint64_t end = j->log_bytes + j->scratch.len + j->prealloc;
        rc = fsx_zero_fill(j->fd, (off_t)j->file_end, end - j->file_end);
        if (rc == 0)
            j->file_end = end;
    }
    if (rc == 0)
        rc = fsx_pwrite_all(j->fd, j->scratch.data, j->scratch.len,
                            (off_t)j->log_bytes);
    if (rc < 0) {
        log_error("journal %s: write %s.%016" PRIx64 ".log at %" PRIu64 ": %s",
                  j->name, j->name, j->gen, j->log_bytes, strerror(-rc));
        if (err)
            snprintf(err, errlen, "journal %s: write failed: %s", j->name,
                     strerror(-rc));
        fail(j, code_of(rc));
        return code_of(rc);
    }
    j->log_bytes += j->scratch.len;
    j->seq++;
    return 0;
}

/* ---- reading ---- */

/* Reads a whole file; 0 with *out (owned) and *len, or -errno. */
static int slurp(int fd, uint8_t **out, size_t *len)
{
    off_t size = fsx_size(fd);
    if (size < 0)
        return (int)size;
    uint8_t *b = xmalloc((size_t)size + 1);
    int rc = size ? fsx_pread_all(fd, b, (size_t)size, 0) : 0;
    if (rc < 0) {
        free(b);
        return rc;
    }
    *out = b;
    *len = (size_t)size;
    return 0;
}

/* Parses one record at off. Returns its total size, or 0 if bytes from off
 * do not hold a whole, valid record. */
static size_t parse_record(const uint8_t *b, size_t n, size_t off,
                           uint8_t *type, const uint8_t **p, size_t *plen)
{
    if (n - off < FRAME_LEN + 1)
        return 0;
    uint32_t len = le_get32(b + off);
    if (len == 0 || len > JOURNAL_MAX_RECORD + 1 || n - off - FRAME_LEN < len)
        return 0;
    uint32_t crc = crc32c(0, b + off, 4);
    crc = crc32c(crc, b + off + FRAME_LEN, len);
    if (crc != le_get32(b + off + 4))
        return 0;
    *type = b[off + FRAME_LEN];
    *p = b + off + FRAME_LEN + 1;
    *plen = len - 1;
    return FRAME_LEN + len;
}

static int load_ckpt(struct journal *j, const struct journal_opts *o,
                     uint64_t gen, char *err, size_t errlen)
{
    char *path = path_of(j, gen, "ckpt");
    uint8_t *b = NULL;
    size_t n = 0;
    int ret = 0;
    int fd = fsx_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "journal %s: open %s: %s", j->name, path,
                 strerror(-fd));
        ret = ERR_IO;
        goto out_free;
    }
    int rc = slurp(fd, &b, &n);
    fsx_close(fd);
    if (rc < 0) {
        snprintf(err, errlen, "journal %s: read %s: %s", j->name, path,
                 strerror(-rc));
        ret = ERR_IO;
        goto out_free;
    }
    if (n < HDR_LEN || memcmp(b, MAGIC, 8) != 0 || le_get64(b + 8) != gen) {
        snprintf(err, errlen, "journal %s: %s: bad header", j->name, path);
        ret = ERR_CORRUPT;
        goto out_free;
    }
    size_t off = HDR_LEN;
    uint64_t count = 0;
    for (;;) {
        uint8_t type;
        const uint8_t *p;
        size_t plen;
        size_t used = parse_record(b, n, off, &type, &p, &plen);
        if (!used) {
            snprintf(err, errlen,
                     "journal %s: %s: bad record at offset %zu (checkpoint "
                     "corrupt; refusing to start)",
                     j->name, path, off);
            ret = ERR_CORRUPT;
            goto out_free;
        }
        off += used;
        if (type == 0) {
            if (plen != 8 || le_get64(p) != count || off != n) {
                snprintf(err, errlen,
                         "journal %s: %s: bad end record at offset %zu",
                         j->name, path, off - used);
                ret = ERR_CORRUPT;
                goto out_free;
            }
            break;
        }
        char rerr[200] = "";
        rc = o->replay(o->ctx, type, p, plen, rerr, sizeof(rerr));
        if (rc < 0) {
            snprintf(err, errlen, "journal %s: %s offset %zu: %s", j->name,
                     path, off - used, rerr);
            ret = rc;
            goto out_free;
        }
        count++;
    }
    j->ckpt_bytes = n;
out_free:
    free(b);
    free(path);
    return ret;
}

/* Creates log gen with its header, synced, and its dir entry synced. */
static int create_log(struct journal *j, uint64_t gen, char *err, size_t errlen)
{
    char *path = path_of(j, gen, "log");
    uint8_t h[HDR_LEN];
    header(h, gen);
    int rc;
    int fd = fsx_open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = fd;
        goto err_msg;
    }
    rc = fsx_pwrite_all(fd, h, sizeof(h), 0);
    if (rc == 0)
        rc = fsx_fdatasync(fd);
    if (rc == 0)
        rc = fsx_fsync_dir(j->dir);
    if (rc < 0) {
        fsx_close(fd);
        goto err_msg;
    }
    free(path);
    return fd;
err_msg:
    snprintf(err, errlen, "journal %s: create %s: %s", j->name, path,
             strerror(-rc));
    free(path);
    return rc;
}

static int open_log(struct journal *j, const struct journal_opts *o,
                    uint64_t gen, char *err, size_t errlen)
{
    char *path = path_of(j, gen, "log");
    uint8_t *b = NULL;
    size_t n = 0;
    int ret = 0, rc;
    int fd = fsx_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd == -ENOENT) {
        /* a crash between the checkpoint's rename and the log's creation */
        free(path);
        fd = create_log(j, gen, err, errlen);
        if (fd < 0)
            return code_of(fd);
        j->fd = fd;
        j->gen = gen;
        j->log_bytes = j->file_end = HDR_LEN;
        return 0;
    }
    if (fd < 0) {
        snprintf(err, errlen, "journal %s: open %s: %s", j->name, path,
                 strerror(-fd));
        ret = ERR_IO;
        goto out_free;
    }
    rc = slurp(fd, &b, &n);
    if (rc < 0) {
        snprintf(err, errlen, "journal %s: read %s: %s", j->name, path,
                 strerror(-rc));
        ret = ERR_IO;
        goto err_close;
    }
    size_t good = HDR_LEN;
    if (n < HDR_LEN) {
        /* created, header never reached the disk: nothing was in it */
        uint8_t h[HDR_LEN];
        header(h, gen);
        rc = fsx_pwrite_all(fd, h, sizeof(h), 0);
        if (rc == 0)
            rc = fsx_ftruncate(fd, HDR_LEN);
        if (rc == 0)
            rc = fsx_fdatasync(fd);
        if (rc < 0) {
            snprintf(err, errlen, "journal %s: rewrite header of %s: %s",
                     j->name, path, strerror(-rc));
            ret = ERR_IO;
            goto err_close;
        }
        n = good = HDR_LEN;
    } else if (memcmp(b, MAGIC, 8) != 0 || le_get64(b + 8) != gen) {
        snprintf(err, errlen, "journal %s: %s: bad header", j->name, path);
        ret = ERR_CORRUPT;
        goto err_close;
    }
    while (good < n) {
        uint8_t type;
        const uint8_t *p;
        size_t plen;
        size_t used = parse_record(b, n, good, &type, &p, &plen);
        if (!used || type == 0)
            break;
        char rerr[200] = "";
        rc = o->replay(o->ctx, type, p, plen, rerr, sizeof(rerr));
        if (rc < 0) {
            snprintf(err, errlen, "journal %s: %s offset %zu: %s", j->name,
                     path, good, rerr);
            ret = rc;
            goto err_close;
        }
        good += used;
    }
    /* zeros past the last record were written ahead (preallocation); only
     * other bytes are a torn write */
    size_t torn = fsx_nonzero_len(b + good, n - good);
    if (good < n) {
        rc = fsx_ftruncate(fd, (off_t)good);
        if (rc == 0)
            rc = fsx_fdatasync(fd);
        if (rc < 0) {
            snprintf(err, errlen, "journal %s: cut torn tail of %s: %s",
                     j->name, path, strerror(-rc));
            ret = ERR_IO;
            goto err_close;
        }
    }
    if (torn) {
        j->truncated = torn;
        log_warn("journal %s: %s: cut a torn tail of %zu bytes at offset %zu "
                 "(a write interrupted by a crash)",
                 j->name, path, torn, good);
    }
    j->fd = fd;
    j->gen = gen;
    j->log_bytes = j->file_end = good;
    goto out_free;
err_close:
    fsx_close(fd);
out_free:
    free(b);
    free(path);
    return ret;
}

/* Parses "NAME.<16 hex>.<ext>" into gen and ext; 0 if it is not ours. */
static int parse_name(const struct journal *j, const char *f, uint64_t *gen,
                      const char **ext)
{
    size_t nl = strlen(j->name);
    if (strncmp(f, j->name, nl) != 0 || f[nl] != '.')
        return 0;
    const char *h = f + nl + 1;
    uint64_t g = 0;
    for (int i = 0; i < 16; i++) {
        char ch = h[i];
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                         : -1;
        if (d < 0)
            return 0;
        g = g << 4 | (uint64_t)d;
    }
    if (h[16] != '.')
        return 0;
    *gen = g;
    *ext = h + 17;
    return 1;
}

/* Removes files of generations below keep (and any .tmp). */
static void remove_old(struct journal *j, uint64_t keep)
{
    DIR *d = opendir(j->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t g;
        const char *ext;
        if (!parse_name(j, e->d_name, &g, &ext))
            continue;
        int tmp = strstr(ext, ".tmp") != NULL;
        if (g >= keep && !tmp)
            continue;
        struct sbuf p;
        sbuf_init(&p);
        sbuf_addf(&p, "%s/%s", j->dir, e->d_name);
        int rc = fsx_unlink(p.data);
        if (rc < 0 && rc != -ENOENT)
            log_warn("journal %s: unlink %s: %s", j->name, p.data,
                     strerror(-rc));
        sbuf_deinit(&p);
    }
    closedir(d);
}

int journal_open(struct journal **out, const struct journal_opts *o, char *err,
                 size_t errlen)
{
    struct journal *j = xcalloc(1, sizeof(*j));
    j->dir = xstrdup(o->dir);
    j->name = xstrdup(o->name);
    j->loop = o->loop;
    j->mode = o->fsync_mode;
    j->compact_bytes = o->compact_bytes ? o->compact_bytes : 8u << 20;
    /* a quarter of a compaction's worth ahead, 4 KiB..1 MiB: disk use stays
     * bounded by the live state plus that */
    j->prealloc = j->compact_bytes / 4;
    if (j->prealloc < 4096)
        j->prealloc = 4096;
    if (j->prealloc > (1u << 20))
        j->prealloc = 1u << 20;
    j->fd = -1;
    sbuf_init(&j->scratch);
    snprintf(j->src_name, sizeof(j->src_name), "journal:%s", o->name);
    j->src.name = j->src_name;
    int ret;

    /* which generations are on disk? */
    uint64_t ckpt_gen = 0, log_gen = 0;
    DIR *d = opendir(o->dir);
    if (!d) {
        snprintf(err, errlen, "journal %s: opendir %s: %s", o->name, o->dir,
                 strerror(errno));
        ret = ERR_IO;
        goto err_free;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t g;
        const char *ext;
        if (!parse_name(j, e->d_name, &g, &ext))
            continue;
        if (strcmp(ext, "ckpt") == 0 && g > ckpt_gen)
            ckpt_gen = g;
        else if (strcmp(ext, "log") == 0 && g > log_gen)
            log_gen = g;
    }
    closedir(d);

    uint64_t gen;
    if (ckpt_gen == 0 && log_gen == 0) {
        int fd = create_log(j, 1, err, errlen);
        if (fd < 0) {
            ret = code_of(fd);
            goto err_free;
        }
        j->fd = fd;
        j->gen = 1;
        j->log_bytes = j->file_end = HDR_LEN;
        gen = 1;
    } else {
        gen = ckpt_gen > log_gen ? ckpt_gen : log_gen;
        if (ckpt_gen != gen && gen != 1) {
            snprintf(err, errlen,
                     "journal %s: log generation %" PRIu64
                     " has no checkpoint in %s (files lost?); refusing to "
                     "start",
                     o->name, gen, o->dir);
            ret = ERR_CORRUPT;
            goto err_free;
        }
        if (ckpt_gen == gen) {
            ret = load_ckpt(j, o, gen, err, errlen);
            if (ret < 0)
                goto err_free;
        }
        ret = open_log(j, o, gen, err, errlen);
        if (ret < 0)
            goto err_free;
    }
    remove_old(j, gen);

    if (j->loop) {
        j->syncer = syncer_new(j->loop, on_synced, j);
        j->timer = xcalloc(1, sizeof(*j->timer));
        uv_timer_init(j->loop, j->timer);
        j->timer->data = j;
        uv_timer_start(j->timer, on_everysec, 1000, 1000);
        uv_unref((uv_handle_t *)j->timer);
        j->check = xcalloc(1, sizeof(*j->check));
        uv_check_init(j->loop, j->check);
        j->check->data = j;
        uv_unref((uv_handle_t *)j->check);
    }
    *out = j;
    return 0;
err_free:
    if (j->fd >= 0)
        fsx_close(j->fd);
    sbuf_deinit(&j->scratch);
    free(j->dir);
    free(j->name);
    free(j);
    return ret;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    if (j->timer) {
        uv_timer_stop(j->timer);
        uv_close((uv_handle_t *)j->timer, free_timer);
    }
    if (j->check) {
        /* a commit of this turn not yet requested: request it now */
        if (uv_is_active((uv_handle_t *)j->check))
            request_sync(j);
        uv_check_stop(j->check);
        uv_close((uv_handle_t *)j->check, free_timer);
    }
    if (j->syncer) {
        syncer_wait_idle(j->syncer);
        syncer_free(j->syncer);
    }
    if (j->fd >= 0) {
        /* a clean stop leaves no zeros behind (a crash may: open drops
         * them) */
        if (!j->err && j->file_end > j->log_bytes)
            fsx_ftruncate(j->fd, (off_t)j->log_bytes);
        fsx_close(j->fd);
    }
    sbuf_deinit(&j->scratch);
    free(j->dir);
    free(j->name);
    free(j);
}

/* ---- checkpoints ---- */

static int ckpt_flush(struct journal_ckpt *w)
{
    if (w->err || w->buf.len == 0)
        return w->err;
    int rc = fsx_pwrite_all(w->fd, w->buf.data, w->buf.len, (off_t)w->off);
    if (rc < 0) {
        w->err = rc;
        return rc;
    }
    w->off += w->buf.len;
    sbuf_clear(&w->buf);
    return 0;
}

int journal_ckpt_add(struct journal_ckpt *w, uint8_t type, const void *p,
                     size_t n)
{
    if (type == 0 || n > JOURNAL_MAX_RECORD)
        return ERR_INVAL;
    if (w->err)
        return code_of(w->err);
    frame(&w->buf, type, p, n);
    w->count++;
    if (w->buf.len >= CKPT_FLUSH && ckpt_flush(w) < 0)
        return code_of(w->err);
    return 0;
}

int journal_checkpoint(struct journal *j,
                       int (*walk)(void *ctx, struct journal_ckpt *w),
                       void *ctx, char *err, size_t errlen)
{
    if (j->err) {
        snprintf(err, errlen, "journal %s is read-only after an i/o error",
                 j->name);
        return ERR_READONLY;
    }
    uint64_t gen = j->gen + 1;
    char *tmp = path_of(j, gen, "ckpt.tmp");
    char *final = path_of(j, gen, "ckpt");
    struct journal_ckpt w = {j, -1, {0}, 0, 0, 0};
    sbuf_init(&w.buf);
    int ret = 0, rc;
    const char *what = "open";

    w.fd = fsx_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w.fd < 0) {
        rc = w.fd;
        goto err_io;
    }
    uint8_t h[HDR_LEN];
    header(h, gen);
    sbuf_add(&w.buf, h, sizeof(h));
    ret = walk(ctx, &w);
    if (ret < 0 && !w.err) {
        snprintf(err, errlen, "journal %s: checkpoint walk failed: %s", j->name,
                 error_text(ret));
        goto err_unlink;
    }
    uint8_t cnt[8];
    le_put64(cnt, w.count);
    frame(&w.buf, 0, cnt, sizeof(cnt));
    what = "write";
    rc = ckpt_flush(&w);
    if (rc < 0)
        goto err_io;
    what = "fsync";
    rc = fsx_fsync(w.fd);
    if (rc < 0)
        goto err_io;
    fsx_close(w.fd);
    w.fd = -1;
    what = "rename";
    rc = fsx_rename(tmp, final);
    if (rc < 0)
        goto err_io;
    /* from here a failure leaves the disk unsure: read-only */
    what = "fsync dir";
    rc = fsx_fsync_dir(j->dir);
    if (rc < 0)
        goto err_readonly;
    int fd = create_log(j, gen, err, errlen);
    if (fd < 0) {
        rc = fd;
        ret = code_of(rc);
        fail(j, ret);
        goto out;
    }
    /* the checkpoint holds everything appended so far */
    if (j->syncer)
        syncer_wait_idle(j->syncer);
    int old_fd = j->fd;
    uint64_t old_gen = j->gen;
    j->fd = fd;
    j->gen = gen;
    j->log_bytes = j->file_end = HDR_LEN;
    j->ckpt_bytes = w.off;
    fsx_close(old_fd);
    j->requested = j->seq;
    net_synced(&j->src, j->seq);
    remove_old(j, gen);
    log_debug("journal %s: checkpoint generation %" PRIu64 " (%" PRIu64
              " records, %" PRIu64 " bytes) replaced %" PRIu64,
              j->name, gen, w.count, w.off, old_gen);
    goto out;

err_readonly:
    snprintf(err, errlen, "journal %s: %s %s: %s", j->name, what, j->dir,
             strerror(-rc));
    ret = code_of(rc);
    fail(j, ret);
    goto out;
err_io:
    if (w.err)
        rc = w.err;
    snprintf(err, errlen, "journal %s: checkpoint %s %s: %s", j->name, what,
             tmp, strerror(-rc));
    ret = code_of(rc);
    fail(j, ret); /* the disk refused: as sticky as any store write */
err_unlink:
    if (w.fd >= 0)
        fsx_close(w.fd);
    fsx_unlink(tmp);
out:
    sbuf_deinit(&w.buf);
    free(tmp);
    free(final);
    return ret;
}

int journal_should_checkpoint(const struct journal *j)
{
    uint64_t tail = j->log_bytes - HDR_LEN;
    return !j->err && tail >= j->compact_bytes && tail >= 2 * j->ckpt_bytes;
}

uint64_t journal_log_bytes(const struct journal *j)
{
    return j->log_bytes;
}

uint64_t journal_ckpt_bytes(const struct journal *j)
{
    return j->ckpt_bytes;
}

uint64_t journal_generation(const struct journal *j)
{
    return j->gen;
}

uint64_t journal_records(const struct journal *j)
{
    return j->seq;
}

uint64_t journal_truncated(const struct journal *j)
{
    return j->truncated;
}
