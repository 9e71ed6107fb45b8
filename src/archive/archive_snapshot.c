/* archive_snapshot.c - snapshots to the archive target, off the loop
 * (archive_snapshot.h).
 *
 * Done record <dir>/archive/snapshots/<name>.done (little-endian, crc32c of
 * what precedes), written with temp, fsync, rename, fsync dir:
 *   magic "TCSNAPX1" | position u64 | keys u64 | url_len u32 | url | crc u32
 * A record for another --archive-to is ignored: a new target gets the
 * snapshot again. */
#include "archive_snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "archive.h"
#include "cmd_archive.h"
#include "common.h"
#include "config.h"
#include "crc32c.h"
#include "errors.h"
#include "fsx.h"
#include "le.h"
#include "log.h"
#include "scan.h"

#define DONE_MAGIC     "TCSNAPX1"
#define DONE_FIXED     28u /* bytes before the url */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
#define CHECK_EVERY    4096 /* records read between looks at stop/supersede */
#define EXPORT_NICE    10 /* the thread's nice value: publishing comes first */

enum export_state { EXPORT_PENDING, EXPORT_DONE, EXPORT_FAILED };

/* One export to do: a copy of what archive_snapshot_export was given. */
struct job {
    char name[ARCHIVE_SNAPSHOT_NAME_MAX + 1];
    size_t name_len;
    uint64_t p;    /* the snapshot's position */
    uint64_t seq;  /* order of the export calls; names the latest */
    uint64_t *pos; /* owned; ascending */
    size_t n;
};

/* The latest export of one name. */
struct entry {
    char name[ARCHIVE_SNAPSHOT_NAME_MAX + 1];
    size_t name_len;
    uint64_t p;   /* of the latest export (asked for, or recorded) */
    uint64_t seq; /* of the latest export call; 0 = from a done record */
    enum export_state state;
    char why[320];      /* EXPORT_FAILED: the reason */
    struct job *queued; /* waiting for the thread (owned), or NULL */
};

static struct {
    int init;       /* lock and cond made, done records read (loop) */
    int running;    /* the thread was started (loop) */
    int target_set; /* --archive-to is set */
    uv_thread_t thread;
    uv_mutex_t lock; /* guards what follows */
    uv_cond_t cond;
    int stop;
    struct entry *entries;
    size_t nentries, cap;
    uint64_t seq;
    atomic_int cancel; /* set with stop: uploads under way give up */
    struct archive_target_config tc; /* strings owned by cmd_archive.c */
    struct archive_target *target;   /* the thread's; NULL until first use */
    char url[4096];                  /* tc.url, for the done records */
    char dir[4200];                  /* <dir>/archive/snapshots */
    char staging[4200];              /* S3: <dir>/archive/staging/snapshots */
} S;

/* ---- names and done records ---- */
static int name_ok(const char *name, size_t n)
{
    if (n == 0 || n > ARCHIVE_SNAPSHOT_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
              c == '-'))
            return 0;
    }
    return 1;
}

static void done_path(char *out, size_t outlen, const char *name, size_t n)
{
    snprintf(out, outlen, "%s/%.*s.done", S.dir, (int)n, name);
}

/* Makes <dir>/archive/snapshots durably if it is not there. */
static int make_dir(char *err, size_t errlen)
{
    struct stat st;
    if (stat(S.dir, &st) == 0)
        return 0;
    int rc = fsx_mkdir(S.dir, 0755);
    if (rc == 0 || rc == -EEXIST) {
        char parent[4200];
        snprintf(parent, sizeof(parent), "%s/archive", config_dir);
        rc = fsx_fsync_dir(parent);
    }
    if (rc < 0) {
        snprintf(err, errlen, "mkdir %.300s: %s", S.dir, strerror(-rc));
        return ERR_IO;
    }
    return 0;
}

static int done_save(const struct job *j, char *err, size_t errlen)
{
    int rc = make_dir(err, errlen);
    if (rc)
        return rc;
    size_t ul = strlen(S.url);
    size_t len = DONE_FIXED + ul + 4;
    uint8_t *b = xmalloc(len);
    memcpy(b, DONE_MAGIC, 8);
    le_put64(b + 8, j->p);
    le_put64(b + 16, j->n);
    le_put32(b + 24, (uint32_t)ul);
    memcpy(b + DONE_FIXED, S.url, ul);
    le_put32(b + DONE_FIXED + ul, crc32c(0, b, DONE_FIXED + ul));
    char path[4500];
    done_path(path, sizeof(path), j->name, j->name_len);
    rc = fsx_replace(S.dir, path, b, len, err, errlen);
    free(b);
    return rc < 0 ? ERR_IO : 0;
}

/* The position a done record at path holds for this target: 0 with *p, or
 * -1 when it is not a good record of this target. */
static int done_load(const char *path, uint64_t *p)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    uint8_t b[DONE_FIXED + sizeof(S.url) + 4];
    ssize_t n = read(fd, b, sizeof(b));
    close(fd);
    if (n < (ssize_t)DONE_FIXED + 4 || memcmp(b, DONE_MAGIC, 8))
        return -1;
    uint32_t ul = le_get32(b + 24);
    if ((size_t)n != DONE_FIXED + ul + 4 ||
        le_get32(b + DONE_FIXED + ul) != crc32c(0, b, DONE_FIXED + ul) ||
        ul != strlen(S.url) || memcmp(b + DONE_FIXED, S.url, ul))
        return -1;
    *p = le_get64(b + 8);
    return 0;
}

/* ---- the table (under lock, except before the thread runs) ---- */
static struct entry *entry_find(const char *name, size_t n)
{
    for (size_t i = 0; i < S.nentries; i++)
        if (S.entries[i].name_len == n && !memcmp(S.entries[i].name, name, n))
            return &S.entries[i];
    return NULL;
}

static struct entry *entry_get(const char *name, size_t n)
{
    struct entry *e = entry_find(name, n);
    if (e)
        return e;
    if (S.nentries == S.cap) {
        S.cap = S.cap ? S.cap * 2 : 16;
        S.entries = xrealloc(S.entries, S.cap * sizeof(*S.entries));
    }
    e = &S.entries[S.nentries++];
    memset(e, 0, sizeof(*e));
    memcpy(e->name, name, n);
    e->name_len = n;
    e->state = EXPORT_PENDING;
    return e;
}

static void job_free(struct job *j)
{
    if (!j)
        return;
    free(j->pos);
    free(j);
}

/* Reads the done records of this target into the table. */
static void load_done_records(void)
{
    DIR *d = opendir(S.dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n <= 5 || strcmp(de->d_name + n - 5, ".done") ||
            !name_ok(de->d_name, n - 5))
            continue;
        char path[4500];
        uint64_t p;
        snprintf(path, sizeof(path), "%s/%s", S.dir, de->d_name);
        if (done_load(path, &p))
            continue;
        struct entry *e = entry_get(de->d_name, n - 5);
        e->p = p;
        e->state = EXPORT_DONE;
    }
    closedir(d);
}

/* Makes the lock and reads the done records, once. 1 when a target is
 * configured. */
static int init(void)
{
    if (S.init)
        return S.target_set;
    S.init = 1;
    uv_mutex_init(&S.lock);
    uv_cond_init(&S.cond);
    S.target_set = archive_config_target(&S.tc);
    if (!S.target_set)
        return 0;
    snprintf(S.url, sizeof(S.url), "%s", S.tc.url);
    snprintf(S.dir, sizeof(S.dir), "%s/archive/snapshots", config_dir);
    snprintf(S.staging, sizeof(S.staging), "%s/archive/staging/snapshots",
             config_dir);
    S.tc.staging = S.staging;
    S.tc.staging_name = ".staging/snapshots";
    S.tc.cancel = &S.cancel;
    load_done_records();
    return 1;
}

/* ---- the thread ---- */
/* 1 once the thread should drop job j: stopping, or a newer export of its
 * name came. */
static int dropped(const struct job *j)
{
    uv_mutex_lock(&S.lock);
    struct entry *e = entry_find(j->name, j->name_len);
    int gone = S.stop || !e || e->seq != j->seq;
    uv_mutex_unlock(&S.lock);
    return gone;
}

/* Sets the state of j's name, unless a newer export took its place. */
static void set_result(const struct job *j, enum export_state st,
                       const char *why, int retrying)
{
    uv_mutex_lock(&S.lock);
    struct entry *e = entry_find(j->name, j->name_len);
    if (e && e->seq == j->seq) {
        e->state = st;
        snprintf(e->why, sizeof(e->why), "%.280s%s", why ? why : "",
                 retrying ? " (retrying)" : "");
    }
    uv_mutex_unlock(&S.lock);
}

/* Sleeps up to ms, less when stopped or when a job comes; returns 1 when j
 * is to be dropped. */
static int nap(const struct job *j, uint64_t ms)
{
    uv_mutex_lock(&S.lock);
    if (!S.stop)
        uv_cond_timedwait(&S.cond, &S.lock, ms * 1000000ull);
    uv_mutex_unlock(&S.lock);
    return dropped(j);
}

static uint64_t next_backoff(uint64_t b)
{
    return b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
}

/* The target, opened and checked on first use; retried with backoff while
 * it fails. NULL when j is dropped first. */
static struct archive_target *target_for(const struct job *j)
{
    if (S.target)
        return S.target;
    char err[600];
    for (uint64_t backoff = BACKOFF_MIN_MS;; backoff = next_backoff(backoff)) {
        struct archive_target *t;
        if (archive_target_open(&t, &S.tc, err, sizeof(err)) == 0) {
            archive_target_clean_staging(t);
            if (archive_target_check(t, err, sizeof(err)) == 0)
                return S.target = t;
            archive_target_free(t);
        }
        set_result(j, EXPORT_FAILED, err, 1);
        log_ratelimited(LOG_WARN, "archive: snapshot %s: %s", j->name, err);
        if (nap(j, backoff))
            return NULL;
    }
}

/* Adds j's events, read from the segments, to b. 0, 1 when j was dropped,
 * or a negative code with err. */
static int read_events(const struct job *j, struct archive_batch *b, char *err,
                       size_t errlen)
{
    if (!j->n)
        return 0;
    char evdir[4200];
    snprintf(evdir, sizeof(evdir), "%s/events", config_dir);
    struct scan *sc;
    int rc = scan_open(&sc, evdir, j->pos[0], 0, err, errlen);
    if (rc)
        return rc;
    scan_set_limit(sc, j->p);
    struct segment_record r;
    size_t i = 0;
    uint64_t seen = 0;
    while (i < j->n) {
        if (++seen % CHECK_EVERY == 0 && dropped(j)) {
            rc = 1;
            break;
        }
        if ((rc = scan_next(sc, &r, NULL, err, errlen)) < 0)
            break;
        if (rc == 0 || r.position > j->pos[i]) {
            snprintf(err, errlen, "position %" PRIu64 " is not in the store",
                     j->pos[i]);
            rc = ERR_NOTFOUND;
            break;
        }
        rc = 0;
        if (r.position < j->pos[i])
            continue;
        if ((rc = archive_batch_add(b, &r, err, errlen)))
            break;
        i++;
    }
    scan_close(sc);
    return rc;
}

/* Puts b's file in place, retried with backoff. 0, or 1 when j was dropped. */
static int commit(const struct job *j, struct archive_batch *b)
{
    char err[600];
    for (uint64_t backoff = BACKOFF_MIN_MS;; backoff = next_backoff(backoff)) {
        if (archive_batch_commit(b, err, sizeof(err)) == 0)
            return 0;
        set_result(j, EXPORT_FAILED, err, 1);
        log_ratelimited(LOG_WARN, "archive: snapshot %s: %s", j->name, err);
        if (nap(j, backoff))
            return 1;
    }
}

static void run_job(const struct job *j)
{
    char err[600];
    struct archive_target *t = target_for(j);
    if (!t)
        return;
    struct archive_batch *b = NULL;
    int rc = archive_batch_new_snapshot(&b, t, NULL, j->name, j->name_len, j->p,
                                        err, sizeof(err));
    if (!rc)
        rc = read_events(j, b, err, sizeof(err));
    if (!rc)
        rc = archive_batch_finish(b, err, sizeof(err));
    if (!rc)
        rc = commit(j, b);
    if (!rc)
        rc = done_save(j, err, sizeof(err));
    archive_batch_free(b);
    if (rc < 0) {
        log_warn("archive: snapshot %s at %" PRIu64 ": %s", j->name, j->p, err);
        set_result(j, EXPORT_FAILED, err, 0);
    } else if (rc == 0) {
        set_result(j, EXPORT_DONE, NULL, 0);
    }
}

/* The queued job with the lowest seq, taken off its entry; NULL if none. */
static struct job *take_job(void)
{
    struct entry *best = NULL;
    for (size_t i = 0; i < S.nentries; i++)
        if (S.entries[i].queued &&
            (!best || S.entries[i].queued->seq < best->queued->seq))
            best = &S.entries[i];
    if (!best)
        return NULL;
    struct job *j = best->queued;
    best->queued = NULL;
    return j;
}

static void thread_main(void *arg)
{
    (void)arg;
    /* as the archiver's: encoding and compressing take what is idle */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), EXPORT_NICE) != 0)
        log_warn("archive: snapshot export thread: setpriority: %s",
                 strerror(errno));
    for (;;) {
        uv_mutex_lock(&S.lock);
        struct job *j;
        while (!S.stop && !(j = take_job()))
            uv_cond_wait(&S.cond, &S.lock);
        int stop = S.stop;
        uv_mutex_unlock(&S.lock);
        if (stop)
            break;
        run_job(j);
        job_free(j);
    }
}

/* ---- the loop side ---- */
int archive_snapshot_export(const char *name, size_t name_len, uint64_t p,
                            const uint64_t *pos, size_t n)
{
    if (!init())
        return 1;
    if (!name_ok(name, name_len))
        return ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (pos[i] == 0 || pos[i] > p || (i && pos[i] <= pos[i - 1]))
            return ERR_INVAL;
    if (!S.running) {
        if (uv_thread_create(&S.thread, thread_main, NULL)) {
            log_error("archive: cannot start the snapshot export thread");
            return ERR_IO;
        }
        S.running = 1;
    }
    uv_mutex_lock(&S.lock);
    struct entry *e = entry_get(name, name_len);
    if (e->state == EXPORT_DONE && e->p == p && !e->queued) {
        uv_mutex_unlock(&S.lock); /* this target has it already */
        return 0;
    }
    struct job *j = xcalloc(1, sizeof(*j));
    memcpy(j->name, name, name_len);
    j->name_len = name_len;
    j->p = p;
    j->seq = ++S.seq;
    j->n = n;
    j->pos = xmalloc((n ? n : 1) * sizeof(*j->pos));
    memcpy(j->pos, pos, n * sizeof(*pos));
    job_free(e->queued);
    e->queued = j;
    e->seq = j->seq;
    e->p = p;
    e->state = EXPORT_PENDING;
    uv_cond_signal(&S.cond);
    uv_mutex_unlock(&S.lock);
    return 0;
}

const char *archive_snapshot_status(const char *name, size_t name_len,
                                    char *buf, size_t buflen)
{
    if (!init())
        return "none";
    uv_mutex_lock(&S.lock);
    struct entry *e = entry_find(name, name_len);
    const char *s = "pending";
    if (e && e->state == EXPORT_DONE)
        s = "done";
    if (e && e->state == EXPORT_FAILED) {
        snprintf(buf, buflen, "failed: %s", e->why);
        s = buf;
    }
    uv_mutex_unlock(&S.lock);
    return s;
}

void archive_snapshot_stop(void)
{
    if (!S.init)
        return;
    if (S.running) {
        uv_mutex_lock(&S.lock);
        S.stop = 1;
        atomic_store(&S.cancel, 1);
        uv_cond_signal(&S.cond);
        uv_mutex_unlock(&S.lock);
        uv_thread_join(&S.thread);
    }
    archive_target_free(S.target);
    for (size_t i = 0; i < S.nentries; i++)
        job_free(S.entries[i].queued);
    free(S.entries);
    uv_cond_destroy(&S.cond);
    uv_mutex_destroy(&S.lock);
    memset(&S, 0, sizeof(S));
}
