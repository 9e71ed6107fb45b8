/* cmd_archive.c - the continuous archiver: every event, exactly once, as
 * Parquet files in a directory or on S3 (--archive-to), and ARCHIVE.*.
 *
 * A thread of its own reads the store's segments (scan.h) behind the cursor,
 * the last position archived, and turns them into batches (archive.h). A
 * batch ends when it is --archive-max-age old or holds 4 x --archive-file-size
 * of staged files, or on ARCHIVE.FLUSH. Then, in this order:
 *   1. fdatasync of the segment it read up to (so every event in it is
 *      durable in the store, whatever --fsync says);
 *   2. the intent "cursor..last" and the params that shape the files are
 *      written to the state file (temp, fsync, rename, fsync dir);
 *   3. the files are finished and put in place, retried with backoff (up to
 *      30 s between tries) until they are;
 *   4. the state file gets cursor = last and no intent.
 * After a crash between 2 and 4, the start redoes exactly that batch from the
 * segments with the recorded params: the same events give the same bytes and
 * names, files already in place are skipped, so no event is archived twice
 * and none is skipped. Before 2, nothing is in place and the batch is simply
 * made again (maybe cut elsewhere).
 *
 * The loop thread only copies store_visible() into an atomic every 100 ms
 * and answers ARCHIVE.INFO from a snapshot under a mutex: publishing never
 * waits for the archive, and a failing target only shows in ARCHIVE.INFO,
 * INFO archive and the log.
 *
 * State file <dir>/archive/state (little-endian, crc32c of what precedes):
 *   magic "TCARCST1" | version u32 | url_len u32 | cursor u64 | intent u64 |
 *   file_bytes u64 | row_group_bytes u64 | page_bytes u64 | buffer_bytes u64 |
 *   zstd_level u32 | url | crc u32
 * A state file for another --archive-to is left alone and the cursor starts
 * at 0: a new target gets all of history. */
#include "cmd_archive.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "archive.h"
#include "archive_snapshot.h"
#include "client.h"
#include "clock.h"
#include "cmd_store.h"
#include "command.h"
#include "common.h"
#include "config.h"
#include "crc32c.h"
#include "errors.h"
#include "fsx.h"
#include "le.h"
#include "log.h"
#include "metrics.h"
#include "module.h"
#include "sbuf.h"
#include "scan.h"
#include "segment.h"

#define STATE_MAGIC    "TCARCST1"
#define STATE_VERSION  1u
#define STATE_FIXED    68u /* bytes before the url */
#define POLL_MS        100 /* how often the thread looks for new events */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
#define ARCHIVE_NICE 10 /* the thread's nice value: publishing comes first */

static char *cfg_to; /* --archive-to: "" = off */
static char *cfg_endpoint;
static char *cfg_region;
static char *cfg_access_key;
static char *cfg_secret_key;
static int64_t cfg_file_size;
static int64_t cfg_max_age; /* s */

/* What the thread tells the loop (under lock). */
struct archive_info {
    const char *state;    /* "starting", "idle", "writing", "committing",
                             "retrying", "stopped" (static strings) */
    uint64_t cursor;      /* last position archived */
    uint64_t intent;      /* last position of the batch being put in place */
    uint64_t oldest_time; /* ms, wall: first event after the cursor read */
    uint64_t files, bytes, events, batches, skipped_files;
    uint64_t errors, retries;
    uint64_t last_batch_ms;   /* how long the last batch took to commit */
    uint64_t last_error_time; /* ms, wall */
    char last_error[512];
};

static struct {
    int on;
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t cond;
    int stop;                 /* under lock */
    atomic_int cancel;        /* set with stop: uploads under way give up */
    int flush;                /* under lock: end the batch now */
    _Atomic uint64_t visible; /* store_visible(), copied by the loop */
    uv_timer_t *timer;
    struct archive_target *target;
    struct archive_info info; /* under lock */
    char state_dir[4096];
    char state_path[4200];
} A;

/* ---- the state file ---- */
struct state {
    uint64_t cursor, intent;
    struct archive_params p;
};

static int state_save(const struct state *s, char *err, size_t errlen)
{
    size_t ul = strlen(cfg_to);
    size_t n = STATE_FIXED + ul + 4;
    uint8_t *b = xmalloc(n);
    memcpy(b, STATE_MAGIC, 8);
    le_put32(b + 8, STATE_VERSION);
    le_put32(b + 12, (uint32_t)ul);
    le_put64(b + 16, s->cursor);
    le_put64(b + 24, s->intent);
    le_put64(b + 32, s->p.file_bytes);
    le_put64(b + 40, s->p.row_group_bytes);
    le_put64(b + 48, s->p.page_bytes);
    le_put64(b + 56, s->p.buffer_bytes);
    le_put32(b + 64, (uint32_t)s->p.zstd_level);
    memcpy(b + STATE_FIXED, cfg_to, ul);
    le_put32(b + STATE_FIXED + ul, crc32c(0, b, STATE_FIXED + ul));
    int rc = fsx_replace(A.state_dir, A.state_path, b, n, err, errlen);
    free(b);
    return rc;
}

/* 0 with *s; ERR_NOTFOUND when there is none (or it is another target's). */
static int state_load(struct state *s, char *err, size_t errlen)
{
    int fd = open(A.state_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return ERR_NOTFOUND;
        snprintf(err, errlen, "open %.300s: %s", A.state_path, strerror(errno));
        return ERR_IO;
    }
    uint8_t b[STATE_FIXED + 4096 + 4];
    ssize_t n = read(fd, b, sizeof(b));
    close(fd);
    if (n < (ssize_t)STATE_FIXED + 4 || memcmp(b, STATE_MAGIC, 8) ||
        le_get32(b + 8) != STATE_VERSION) {
        snprintf(err, errlen, "%.300s: not an archive state file",
                 A.state_path);
        return ERR_CORRUPT;
    }
    uint32_t ul = le_get32(b + 12);
    if ((size_t)n != STATE_FIXED + ul + 4 ||
        le_get32(b + STATE_FIXED + ul) != crc32c(0, b, STATE_FIXED + ul)) {
        snprintf(err, errlen, "%.300s: checksum mismatch", A.state_path);
        return ERR_CORRUPT;
    }
    if (ul != strlen(cfg_to) || memcmp(b + STATE_FIXED, cfg_to, ul)) {
        log_warn("archive: %s belongs to target '%.*s'; starting from position "
                 "1 for "
                 "'%s'",
                 A.state_path, (int)ul, (const char *)(b + STATE_FIXED),
                 cfg_to);
        return ERR_NOTFOUND;
    }
    s->cursor = le_get64(b + 16);
    s->intent = le_get64(b + 24);
    s->p.file_bytes = le_get64(b + 32);
    s->p.row_group_bytes = le_get64(b + 40);
    s->p.page_bytes = le_get64(b + 48);
    s->p.buffer_bytes = le_get64(b + 56);
    s->p.zstd_level = (int)le_get32(b + 64);
    return 0;
}

/* ---- the thread ---- */
static void set_state(const char *state)
{
    uv_mutex_lock(&A.lock);
    A.info.state = state;
    uv_mutex_unlock(&A.lock);
}

static void set_error(const char *what, const char *err)
{
    log_ratelimited(LOG_WARN, "archive: %s: %s", what, err);
    uv_mutex_lock(&A.lock);
    snprintf(A.info.last_error, sizeof(A.info.last_error), "%s: %s", what, err);
    A.info.last_error_time = clock_wall_ms();
    A.info.errors++;
    uv_mutex_unlock(&A.lock);
}

/* Sleeps up to ms, less if stopped or asked to flush; returns 1 if stopping. */
static int nap(uint64_t ms)
{
    uv_mutex_lock(&A.lock);
    if (!A.stop && !A.flush)
        uv_cond_timedwait(&A.cond, &A.lock, ms * 1000000ull);
    int stop = A.stop;
    uv_mutex_unlock(&A.lock);
    return stop;
}

static int stopping(void)
{
    uv_mutex_lock(&A.lock);
    int stop = A.stop;
    uv_mutex_unlock(&A.lock);
    return stop;
}

/* Takes the flush request, if any. */
static int take_flush(void)
{
    uv_mutex_lock(&A.lock);
    int f = A.flush;
    A.flush = 0;
    uv_mutex_unlock(&A.lock);
    return f;
}

/* Commits b, trying again with backoff until it is done: 0, or 1 if the
 * server stops first (the batch is redone at the next start). */
static int commit_until_done(struct archive_batch *b)
{
    char err[600];
    uint64_t backoff = BACKOFF_MIN_MS;
    set_state("committing");
    for (;;) {
        int rc = archive_batch_commit(b, err, sizeof(err));
        if (!rc)
            return 0;
        set_error("commit", err);
        uv_mutex_lock(&A.lock);
        A.info.state = "retrying";
        A.info.retries++;
        uv_mutex_unlock(&A.lock);
        if (nap(backoff))
            return 1;
        take_flush();
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}

/* Fills b with the events after cursor: up to position to when redoing an
 * intent, else as far as the batch rules allow. *end is then the last
 * position the batch covers: every event up to it was read (there may be
 * none: positions skip after a crash). 0, 1 when stopping, or a negative code
 * with err. */
static int fill_batch(struct archive_batch *b, struct scan *sc, uint64_t cursor,
                      uint64_t to, const struct archive_params *p,
                      uint64_t *end, char *err, size_t errlen)
{
    uint64_t t0 = clock_mono_ms(), age = (uint64_t)cfg_max_age * 1000;
    struct segment_record r;
    struct archive_batch_stats st;
    int n = 0;
    for (;;) {
        uint64_t limit = to ? to : atomic_load(&A.visible);
        scan_set_limit(sc, limit);
        int rc = scan_next(sc, &r, NULL, err, errlen);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if ((rc = archive_batch_add(b, &r, err, errlen)))
                return rc;
            archive_batch_stats(b, &st);
            if (st.events == 1) {
                uv_mutex_lock(&A.lock);
                A.info.oldest_time = st.first_time;
                A.info.state = "writing";
                uv_mutex_unlock(&A.lock);
            }
            if ((to && r.position >= to) ||
                (!to && st.staged_bytes >= 4 * p->file_bytes)) {
                *end = r.position;
                return 0;
            }
            if (++n % 1024 == 0 && stopping())
                return 1;
            continue;
        }
        /* every event up to limit is read */
        archive_batch_stats(b, &st);
        if (to || (!st.events && limit > cursor) ||
            (st.events && (take_flush() || clock_mono_ms() - t0 >= age))) {
            *end = limit;
            return 0;
        }
        if (!st.events)
            t0 = clock_mono_ms(); /* age counts from the first event */
        if (nap(POLL_MS))
            return 1;
    }
}

/* One batch: from the cursor (or the intent being redone) to its end, put in
 * place, the state file moved on. 0 done or nothing to do, 1 stopping,
 * negative after an error (the caller backs off). */
static int run_batch(struct state *s)
{
    char err[600];
    struct scan *sc = NULL;
    struct archive_batch *b = NULL;
    int redo = s->intent != 0;
    struct archive_params p;
    if (redo) {
        p = s->p;
    } else {
        archive_params_init(&p, (uint64_t)cfg_file_size);
    }
    uint64_t last = 0;
    int rc;
    char evdir[4200];
    snprintf(evdir, sizeof(evdir), "%s/events", config_dir);
    if ((rc = scan_open(&sc, evdir, s->cursor + 1, 0, err, sizeof(err)))) {
        set_error("scan", err);
        goto out;
    }
    if ((rc = archive_batch_new(&b, A.target, &p, NULL, err, sizeof(err)))) {
        set_error("batch", err);
        goto out;
    }
    rc = fill_batch(b, sc, s->cursor, redo ? s->intent : 0, &p, &last, err,
                    sizeof(err));
    if (rc) {
        if (rc < 0)
            set_error(redo ? "redo" : "write", err);
        goto out;
    }
    struct archive_batch_stats st;
    archive_batch_stats(b, &st);
    if (!st.events && !redo) { /* only skipped positions: move past them */
        struct state next = {last, 0, p};
        if ((rc = state_save(&next, err, sizeof(err)))) {
            set_error("state", err);
            goto out;
        }
        *s = next;
        uv_mutex_lock(&A.lock);
        A.info.cursor = s->cursor;
        uv_mutex_unlock(&A.lock);
        goto out;
    }
    if (!redo) {
        if ((rc = scan_sync(sc, err, sizeof(err)))) {
            set_error("sync", err);
            goto out;
        }
        s->intent = last;
        s->p = p;
        if ((rc = state_save(s, err, sizeof(err)))) {
            set_error("state", err);
            s->intent = 0;
            goto out;
        }
        uv_mutex_lock(&A.lock);
        A.info.intent = last;
        uv_mutex_unlock(&A.lock);
    }
    uint64_t t0 = clock_mono_ms();
    if ((rc = archive_batch_finish(b, err, sizeof(err)))) {
        set_error("finish", err);
        goto out; /* the intent stays: redone from the segments */
    }
    if ((rc = commit_until_done(b)))
        goto out;
    struct state next = {s->intent, 0, p};
    if ((rc = state_save(&next, err, sizeof(err)))) {
        set_error("state", err);
        goto out; /* redone at the next try: the files are skipped */
    }
    *s = next;
    archive_batch_stats(b, &st);
    uv_mutex_lock(&A.lock);
    A.info.cursor = s->cursor;
    A.info.intent = 0;
    A.info.oldest_time = 0;
    A.info.files += st.committed_files;
    A.info.bytes += st.committed_bytes;
    A.info.skipped_files += st.skipped_files;
    A.info.events += st.events;
    A.info.batches++;
    A.info.last_batch_ms = clock_mono_ms() - t0;
    A.info.state = "idle";
    uv_mutex_unlock(&A.lock);
    log_debug("archive: positions up to %" PRIu64 " in %" PRIu64 " files",
              s->cursor, st.committed_files);
out:
    archive_batch_free(b);
    scan_close(sc);
    return rc;
}

static void thread_main(void *arg)
{
    (void)arg;
    char err[600];
    /* Encoding and compressing cost CPU the loop and sync threads want on a
     * small machine; at a lower priority the archive takes what is idle and
     * catches up when the load drops (Linux: nice is per thread). */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), ARCHIVE_NICE) != 0)
        log_warn("archive: setpriority: %s (the thread runs at normal priority)",
                 strerror(errno));
    struct state s = {0};
    int rc = state_load(&s, err, sizeof(err));
    if (rc == ERR_NOTFOUND) {
        memset(&s, 0, sizeof(s));
    } else if (rc) {
        set_error("state", err);
        set_state("stopped");
        return;
    }
    archive_target_clean_staging(A.target);
    uv_mutex_lock(&A.lock);
    A.info.cursor = s.cursor;
    A.info.intent = s.intent;
    uv_mutex_unlock(&A.lock);
    uint64_t backoff = BACKOFF_MIN_MS;
    int checked = 0;
    while (!stopping()) {
        if (!checked) {
            if ((rc = archive_target_check(A.target, err, sizeof(err)))) {
                set_error("target", err);
                set_state("retrying");
                if (nap(backoff))
                    break;
                backoff =
                    backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            checked = 1;
            backoff = BACKOFF_MIN_MS;
        }
        if (!s.intent && atomic_load(&A.visible) <= s.cursor) {
            set_state("idle");
            take_flush();
            if (nap(POLL_MS))
                break;
            continue;
        }
        uv_mutex_lock(&A.lock);
        A.info.intent = s.intent;
        uv_mutex_unlock(&A.lock);
        rc = run_batch(&s);
        if (rc == 1)
            break;
        if (rc < 0) {
            set_state("retrying");
            if (nap(backoff))
                break;
            backoff =
                backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        } else {
            backoff = BACKOFF_MIN_MS;
        }
    }
    set_state("stopped");
}

/* ---- the loop side ---- */
int archive_config_target(struct archive_target_config *out)
{
    memset(out, 0, sizeof(*out));
    if (!cfg_to || !cfg_to[0])
        return 0;
    out->url = cfg_to;
    out->endpoint = cfg_endpoint[0] ? cfg_endpoint : NULL;
    out->region = cfg_region[0] ? cfg_region : NULL;
    out->access_key = cfg_access_key[0] ? cfg_access_key : NULL;
    out->secret_key = cfg_secret_key[0] ? cfg_secret_key : NULL;
    return 1;
}

static void on_timer(uv_timer_t *t)
{
    (void)t;
    atomic_store(&A.visible, store_visible());
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static int archive_start(char *err, size_t errlen)
{
    memset(&A.info, 0, sizeof(A.info));
    A.on = 0;
    if (!cfg_to || !cfg_to[0])
        return 0;
    snprintf(A.state_dir, sizeof(A.state_dir), "%s/archive", config_dir);
    snprintf(A.state_path, sizeof(A.state_path), "%s/state", A.state_dir);
    char staging[4200], why[600];
    snprintf(staging, sizeof(staging), "%s/staging", A.state_dir);
    int rc = fsx_mkdir(A.state_dir, 0755);
    if (rc < 0 && rc != -EEXIST) {
        snprintf(err, errlen, "archive: mkdir %s: %s", A.state_dir,
                 strerror(-rc));
        return -1;
    }
    struct archive_target_config tc;
    archive_config_target(&tc);
    tc.staging = staging;
    tc.cancel = &A.cancel;
    if (archive_target_open(&A.target, &tc, why, sizeof(why))) {
        snprintf(err, errlen, "--archive-to %s: %s", cfg_to, why);
        return -1;
    }
    /* A directory that cannot be written is a mistake to say at start; an S3
     * target may just be away for now: the thread tries until it answers. */
    if (!strstr(cfg_to, "://") &&
        archive_target_check(A.target, why, sizeof(why))) {
        snprintf(err, errlen, "--archive-to %s: %s", cfg_to, why);
        archive_target_free(A.target);
        A.target = NULL;
        return -1;
    }
    A.info.state = "starting";
    A.stop = 0;
    atomic_store(&A.cancel, 0);
    A.flush = 0;
    atomic_store(&A.visible, store_visible());
    uv_mutex_init(&A.lock);
    uv_cond_init(&A.cond);
    A.timer = xcalloc(1, sizeof(*A.timer));
    uv_timer_init(net_loop(), A.timer);
    uv_timer_start(A.timer, on_timer, POLL_MS, POLL_MS);
    uv_unref((uv_handle_t *)A.timer);
    if (uv_thread_create(&A.thread, thread_main, NULL)) {
        snprintf(err, errlen, "archive: cannot start its thread");
        return -1;
    }
    A.on = 1;
    log_info("archive: to %s (files up to %" PRId64 " bytes, at most %" PRId64
             " s old)",
             cfg_to, cfg_file_size, cfg_max_age);
    return 0;
}

static void archive_stop(void)
{
    archive_snapshot_stop();
    if (!A.on)
        return;
    uv_mutex_lock(&A.lock);
    A.stop = 1;
    atomic_store(&A.cancel, 1);
    uv_cond_signal(&A.cond);
    uv_mutex_unlock(&A.lock);
    uv_thread_join(&A.thread);
    uv_timer_stop(A.timer);
    uv_close((uv_handle_t *)A.timer, free_handle);
    A.timer = NULL;
    archive_target_free(A.target);
    A.target = NULL;
    uv_cond_destroy(&A.cond);
    uv_mutex_destroy(&A.lock);
    A.on = 0;
}

static void snapshot(struct archive_info *out)
{
    uv_mutex_lock(&A.lock);
    *out = A.info;
    uv_mutex_unlock(&A.lock);
}

static uint64_t lag_seconds(const struct archive_info *i)
{
    uint64_t now = clock_wall_ms();
    return i->oldest_time && now > i->oldest_time
               ? (now - i->oldest_time) / 1000
               : 0;
}

/* ARCHIVE.INFO */
static void cmd_archive_info(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    struct archive_info i = {0};
    uint64_t visible = store_visible();
    if (A.on)
        snapshot(&i);
    reply_map(c, 16);
    reply_cstr(c, "enabled");
    reply_bool(c, A.on);
    reply_cstr(c, "target");
    reply_cstr(c, cfg_to ? cfg_to : "");
    reply_cstr(c, "state");
    reply_cstr(c, A.on ? i.state : "off");
    reply_cstr(c, "cursor");
    reply_uint(c, i.cursor);
    reply_cstr(c, "visible_position");
    reply_uint(c, visible);
    reply_cstr(c, "lag_events");
    reply_uint(c, A.on && visible > i.cursor ? visible - i.cursor : 0);
    reply_cstr(c, "lag_seconds");
    reply_uint(c, A.on && visible > i.cursor ? lag_seconds(&i) : 0);
    reply_cstr(c, "committing_to");
    reply_uint(c, i.intent);
    reply_cstr(c, "files");
    reply_uint(c, i.files);
    reply_cstr(c, "bytes");
    reply_uint(c, i.bytes);
    reply_cstr(c, "events");
    reply_uint(c, i.events);
    reply_cstr(c, "batches");
    reply_uint(c, i.batches);
    reply_cstr(c, "errors");
    reply_uint(c, i.errors);
    reply_cstr(c, "retries");
    reply_uint(c, i.retries);
    reply_cstr(c, "last_error");
    reply_cstr(c, i.last_error);
    reply_cstr(c, "last_error_time");
    reply_uint(c, i.last_error_time);
}

/* ARCHIVE.FLUSH: ends the batch being filled now. */
static void cmd_archive_flush(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    if (!A.on) {
        reply_error(
            c, "ERR the archive is off (start the server with --archive-to)");
        return;
    }
    atomic_store(&A.visible, store_visible());
    uv_mutex_lock(&A.lock);
    A.flush = 1;
    uv_cond_signal(&A.cond);
    uv_mutex_unlock(&A.lock);
    reply_uint(c, store_visible());
}

static void archive_info_section(struct sbuf *out, const char *section)
{
    if (strcmp(section, "archive") != 0)
        return;
    struct archive_info i = {0};
    uint64_t visible = store_visible();
    if (A.on)
        snapshot(&i);
    sbuf_addf(
        out,
        "archive_enabled:%d\r\narchive_state:%s\r\narchive_cursor:%" PRIu64
        "\r\narchive_lag_events:%" PRIu64 "\r\narchive_lag_seconds:%" PRIu64
        "\r\narchive_files:%" PRIu64 "\r\narchive_bytes:%" PRIu64
        "\r\narchive_events:%" PRIu64 "\r\narchive_errors:%" PRIu64 "\r\n",
        A.on, A.on ? i.state : "off", i.cursor,
        A.on && visible > i.cursor ? visible - i.cursor : 0,
        A.on && visible > i.cursor ? lag_seconds(&i) : 0, i.files, i.bytes,
        i.events, i.errors);
}

static const struct command_spec archive_commands[] = {
    {"archive.info", 1, CMD_READONLY | CMD_FAST, cmd_archive_info, "archive",
     "", "Cursor, lag, files and bytes written, last error of the archiver", 0,
     0, 0},
    {"archive.flush", 1, CMD_ADMIN | CMD_FAST, cmd_archive_flush, "archive", "",
     "Ends the archive batch being filled now; returns the position it covers",
     0, 0, 0},
};

static const struct config_spec archive_config[] = {
    {"archive-to", CONFIG_STRING, &cfg_to, "", 0, 0, NULL, 0, 0, NULL,
     "archive every event as Parquet to a directory or s3://bucket/prefix "
     "(empty: off)"},
    {"archive-endpoint", CONFIG_STRING, &cfg_endpoint, "", 0, 0, NULL, 0, 0,
     NULL, "S3 endpoint URL for an S3-compatible server (empty: AWS)"},
    {"archive-region", CONFIG_STRING, &cfg_region, "us-east-1", 0, 0, NULL, 0,
     0, NULL, "S3 region for request signing"},
    {"archive-access-key", CONFIG_STRING, &cfg_access_key, "", 0, 0, NULL,
     CONFIG_SECRET, 0, NULL, "S3 access key (empty: $AWS_ACCESS_KEY_ID)"},
    {"archive-secret-key", CONFIG_STRING, &cfg_secret_key, "", 0, 0, NULL,
     CONFIG_SECRET, 0, NULL, "S3 secret key (empty: $AWS_SECRET_ACCESS_KEY)"},
    {"archive-file-size", CONFIG_BYTES, &cfg_file_size, "64mb", 4096,
     (int64_t)4 << 30, NULL, 0, 0, NULL,
     "an archive file is closed at about this size"},
    {"archive-max-age", CONFIG_INT, &cfg_max_age, "60", 1, 86400, NULL, 0, 0,
     NULL,
     "s: events are in archive files at most this long after they are stored"},
};

static void archive_metrics(struct metrics *m)
{
    if (!A.on)
        return;
    struct archive_info i;
    snapshot(&i);
    uint64_t visible = store_visible();
    int behind = visible > i.cursor;
    metrics_set(m, "tincan_archive_position", METRICS_GAUGE,
                "Last store position archived.", (double)i.cursor);
    metrics_set(m, "tincan_archive_lag_events", METRICS_GAUGE,
                "Store positions visible but not archived yet.",
                behind ? (double)(visible - i.cursor) : 0);
    metrics_set(m, "tincan_archive_lag_seconds", METRICS_GAUGE,
                "Age of the oldest event not archived yet (0 when caught up).",
                behind ? (double)lag_seconds(&i) : 0);
    metrics_set(m, "tincan_archive_files_total", METRICS_COUNTER,
                "Parquet files written since start.", (double)i.files);
    metrics_set(m, "tincan_archive_bytes_total", METRICS_COUNTER,
                "Bytes of Parquet files written since start.", (double)i.bytes);
    metrics_set(m, "tincan_archive_events_total", METRICS_COUNTER,
                "Events archived since start.", (double)i.events);
    metrics_set(m, "tincan_archive_errors_total", METRICS_COUNTER,
                "Failed archive batches since start.", (double)i.errors);
}

const struct module archive_module = {
    .name = "archive",
    .commands = archive_commands,
    .ncommands = ARRAY_LEN(archive_commands),
    .config = archive_config,
    .nconfig = ARRAY_LEN(archive_config),
    .start = archive_start,
    .stop = archive_stop,
    .info = archive_info_section,
    .metrics = archive_metrics,
};
