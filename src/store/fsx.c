#include "fsx.h"

#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Guards the counters, the fault arms and the power-loss records. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t calls[FSX_OP_COUNT]; /* per op; [FSX_ANY] counts all;
                                        atomic */
/* 1 while a fault is armed or power loss is tracked (atomic; written under
 * mu): only then do calls take mu. Otherwise a call costs two atomic adds. */
static int armed;

struct fail_arm {
    int armed;
    enum fsx_op op;
    uint64_t seen;  /* matching calls since arming */
    uint64_t nth;   /* first failing call, 1-based */
    uint64_t count; /* calls that fail; 0 = all from nth on */
    int err;        /* positive errno */
};
static struct fail_arm fail_arm;

struct short_arm {
    int armed;
    uint64_t seen;    /* writes since arming */
    uint64_t nth;     /* the write to cut short, 1-based */
    size_t max_bytes; /* bytes it writes */
};
static struct short_arm short_arm;

/* ---- power-loss bookkeeping ---- */
struct pending {
    char *path;          /* owned */
    off_t off;           /* where the write started */
    size_t len;          /* bytes written */
    unsigned char *old;  /* owned: previous content of [off, off+old_len) */
    size_t old_len;      /* bytes of the range that existed before */
    off_t old_size;      /* file size before the write */
    uint64_t seq;        /* order of the write among all tracked writes */
};
static int tracking;
static struct pending *pend;
static size_t npend, cappend;
static uint64_t pend_seq; /* seq of the last tracked write */
static char **fd_paths; /* fd -> path it was opened with (tracking only) */
static size_t nfd_paths;

static const char *const op_names[FSX_OP_COUNT] = {
    "any",    "open",   "write",  "read",  "fdatasync", "rename",
    "ftruncate", "close", "unlink", "mkdir", "fsync(dir)"};

const char *fsx_op_name(enum fsx_op op)
{
    return (unsigned)op < FSX_OP_COUNT ? op_names[op] : "?";
}

/* Under mu: armed follows what is armed. */
static void rearm(void)
{
    __atomic_store_n(&armed, fail_arm.armed || short_arm.armed || tracking,
                     __ATOMIC_RELEASE);
}

/* Counts one call of op; returns a positive errno if it must fail. */
static int enter(enum fsx_op op)
{
    int err = 0;
    __atomic_fetch_add(&calls[op], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&calls[FSX_ANY], 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&armed, __ATOMIC_ACQUIRE))
        return 0;
    pthread_mutex_lock(&mu);
    if (fail_arm.armed && (fail_arm.op == FSX_ANY || fail_arm.op == op)) {
        fail_arm.seen++;
        if (fail_arm.seen >= fail_arm.nth &&
            (fail_arm.count == 0 ||
             fail_arm.seen < fail_arm.nth + fail_arm.count))
            err = fail_arm.err;
    }
    pthread_mutex_unlock(&mu);
    return err;
}

/* For writes: the byte count to really write (short-write fault). */
static size_t write_len(size_t n)
{
    size_t out = n;
    if (!__atomic_load_n(&armed, __ATOMIC_ACQUIRE))
        return n;
    pthread_mutex_lock(&mu);
    if (short_arm.armed) {
        short_arm.seen++;
        if (short_arm.seen == short_arm.nth) {
            if (short_arm.max_bytes < n)
                out = short_arm.max_bytes;
            short_arm.armed = 0;
        }
    }
    pthread_mutex_unlock(&mu);
    return out;
}

void fsx_fault_fail(enum fsx_op op, uint64_t nth, int err, uint64_t count)
{
    pthread_mutex_lock(&mu);
    fail_arm = (struct fail_arm){1, op, 0, nth ? nth : 1, count, err};
    rearm();
    pthread_mutex_unlock(&mu);
}

void fsx_fault_short_write(uint64_t nth, size_t max_bytes)
{
    pthread_mutex_lock(&mu);
    short_arm = (struct short_arm){1, 0, nth ? nth : 1, max_bytes};
    rearm();
    pthread_mutex_unlock(&mu);
}

void fsx_fault_clear(void)
{
    pthread_mutex_lock(&mu);
    memset(&fail_arm, 0, sizeof(fail_arm));
    memset(&short_arm, 0, sizeof(short_arm));
    rearm();
    pthread_mutex_unlock(&mu);
}

uint64_t fsx_calls(enum fsx_op op)
{
    return (unsigned)op < FSX_OP_COUNT ? __atomic_load_n(&calls[op], __ATOMIC_RELAXED)
                                       : 0;
}

static int fail(int err)
{
    errno = err;
    return -err;
}

/* ---- power loss: callers hold mu ---- */
static void remember_path(int fd, const char *path)
{
    if (fd < 0)
        return;
    if ((size_t)fd >= nfd_paths) {
        size_t n = (size_t)fd + 16;
        fd_paths = xrealloc(fd_paths, n * sizeof(*fd_paths));
        memset(fd_paths + nfd_paths, 0, (n - nfd_paths) * sizeof(*fd_paths));
        nfd_paths = n;
    }
    free(fd_paths[fd]);
    fd_paths[fd] = xstrdup(path);
}

static const char *path_of(int fd)
{
    return fd >= 0 && (size_t)fd < nfd_paths ? fd_paths[fd] : NULL;
}

/* Saves what a write of n bytes at off (off < 0: current position / append)
 * is about to overwrite. */
static void record_write(int fd, off_t off, size_t n)
{
    const char *path = path_of(fd);
    if (!path || n == 0)
        return;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return;
    if (off < 0) {
        int fl = fcntl(fd, F_GETFL);
        off = (fl >= 0 && (fl & O_APPEND)) ? st.st_size : lseek(fd, 0, SEEK_CUR);
        if (off < 0)
            return;
    }
    struct pending p = {.path = xstrdup(path), .off = off, .len = n, .old_size = st.st_size};
    if (off < st.st_size) {
        p.old_len = (size_t)(st.st_size - off) < n ? (size_t)(st.st_size - off) : n;
        p.old = xmalloc(p.old_len);
        ssize_t r = pread(fd, p.old, p.old_len, off);
        if (r < 0)
            r = 0;
        p.old_len = (size_t)r;
    }
    if (npend == cappend) {
        cappend = cappend ? cappend * 2 : 64;
        pend = xrealloc(pend, cappend * sizeof(*pend));
    }
    p.seq = ++pend_seq;
    pend[npend++] = p;
}

/* The actual write may have been short: shrink the last record. */
static void record_written(size_t got)
{
    if (npend && pend[npend - 1].len > got) {
        pend[npend - 1].len = got;
        if (pend[npend - 1].old_len > got)
            pend[npend - 1].old_len = got;
    }
}

/* A sync of path made the writes up to seq upto durable (not the later ones:
 * syncs run on other threads while the loop writes). */
static void forget_path(const char *path, uint64_t upto)
{
    size_t j = 0;
    for (size_t i = 0; i < npend; i++) {
        if (pend[i].seq <= upto && strcmp(pend[i].path, path) == 0) {
            free(pend[i].path);
            free(pend[i].old);
        } else {
            pend[j++] = pend[i];
        }
    }
    npend = j;
}

/* ---- syscalls ---- */
int fsx_open(const char *path, int flags, mode_t mode)
{
    int err = enter(FSX_OPEN);
    if (err)
        return fail(err);
    int fd = open(path, flags | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    pthread_mutex_lock(&mu);
    if (tracking)
        remember_path(fd, path);
    pthread_mutex_unlock(&mu);
    return fd;
}

int fsx_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    int err = enter(FSX_OPEN);
    if (err)
        return fail(err);
    int fd = openat(dirfd, name, flags | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    pthread_mutex_lock(&mu);
    if (tracking)
        remember_path(fd, name);
    pthread_mutex_unlock(&mu);
    return fd;
}

static ssize_t do_write(int fd, const void *p, size_t n, off_t off)
{
    int err = enter(FSX_WRITE);
    if (err)
        return fail(err);
    size_t len = write_len(n);
    /* While tracking, mu is held across the write so the saved old bytes and
     * the write stay one step; otherwise writes never wait on the lock. */
    int track = 0;
    if (__atomic_load_n(&armed, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&mu);
        track = tracking;
        if (track)
            record_write(fd, off, len);
        else
            pthread_mutex_unlock(&mu);
    }
    ssize_t r = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, off);
    int saved = errno;
    if (track) {
        record_written(r > 0 ? (size_t)r : 0);
        pthread_mutex_unlock(&mu);
    }
    if (r < 0)
        return fail(saved);
    return r;
}

ssize_t fsx_write(int fd, const void *p, size_t n)
{
    return do_write(fd, p, n, -1);
}

ssize_t fsx_pwrite(int fd, const void *p, size_t n, off_t off)
{
    if (off < 0)
        return fail(EINVAL);
    return do_write(fd, p, n, off);
}

ssize_t fsx_read(int fd, void *p, size_t n)
{
    int err = enter(FSX_READ);
    if (err)
        return fail(err);
    ssize_t r = read(fd, p, n);
    return r < 0 ? -errno : r;
}

ssize_t fsx_pread(int fd, void *p, size_t n, off_t off)
{
    int err = enter(FSX_READ);
    if (err)
        return fail(err);
    ssize_t r = pread(fd, p, n, off);
    return r < 0 ? -errno : r;
}

static int do_sync(int fd, int data_only)
{
    int err = enter(FSX_SYNC);
    if (err)
        return fail(err);
    uint64_t upto = 0;
    int track = __atomic_load_n(&armed, __ATOMIC_ACQUIRE);
    if (track) {
        pthread_mutex_lock(&mu);
        upto = pend_seq;
        pthread_mutex_unlock(&mu);
    }
    int r = data_only ? fdatasync(fd) : fsync(fd);
    if (r != 0)
        return -errno;
    if (track) {
        pthread_mutex_lock(&mu);
        if (tracking && path_of(fd))
            forget_path(path_of(fd), upto);
        pthread_mutex_unlock(&mu);
    }
    return 0;
}

int fsx_fdatasync(int fd)
{
    return do_sync(fd, 1);
}

int fsx_fsync(int fd)
{
    return do_sync(fd, 0);
}

int fsx_rename(const char *from, const char *to)
{
    int err = enter(FSX_RENAME);
    if (err)
        return fail(err);
    if (rename(from, to) != 0)
        return -errno;
    pthread_mutex_lock(&mu);
    if (tracking) {
        forget_path(to, UINT64_MAX);
        for (size_t i = 0; i < npend; i++)
            if (strcmp(pend[i].path, from) == 0) {
                free(pend[i].path);
                pend[i].path = xstrdup(to);
            }
        for (size_t i = 0; i < nfd_paths; i++)
            if (fd_paths[i] && strcmp(fd_paths[i], from) == 0) {
                free(fd_paths[i]);
                fd_paths[i] = xstrdup(to);
            }
    }
    pthread_mutex_unlock(&mu);
    return 0;
}

int fsx_ftruncate(int fd, off_t len)
{
    int err = enter(FSX_TRUNCATE);
    if (err)
        return fail(err);
    return ftruncate(fd, len) != 0 ? -errno : 0;
}

int fsx_close(int fd)
{
    int err = enter(FSX_CLOSE);
    int r = close(fd);
    int saved = errno;
    pthread_mutex_lock(&mu);
    if (fd >= 0 && (size_t)fd < nfd_paths) {
        free(fd_paths[fd]);
        fd_paths[fd] = NULL;
    }
    pthread_mutex_unlock(&mu);
    if (err)
        return fail(err);
    return r != 0 ? fail(saved) : 0;
}

int fsx_unlink(const char *path)
{
    int err = enter(FSX_UNLINK);
    if (err)
        return fail(err);
    if (unlink(path) != 0)
        return -errno;
    pthread_mutex_lock(&mu);
    if (tracking)
        forget_path(path, UINT64_MAX);
    pthread_mutex_unlock(&mu);
    return 0;
}

int fsx_mkdir(const char *path, mode_t mode)
{
    int err = enter(FSX_MKDIR);
    if (err)
        return fail(err);
    return mkdir(path, mode) != 0 ? -errno : 0;
}

int fsx_fsync_dir(const char *path)
{
    int err = enter(FSX_SYNC_DIR);
    if (err)
        return fail(err);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) != 0 ? -errno : 0;
    close(fd);
    if (r)
        errno = -r;
    return r;
}

off_t fsx_size(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    return st.st_size;
}

int fsx_write_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t r = fsx_write(fd, s, n);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return (int)r;
        if (r == 0)
            return fail(EIO);
        s += r;
        n -= (size_t)r;
    }
    return 0;
}

int fsx_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
    const char *s = p;
    while (n) {
        ssize_t r = fsx_pwrite(fd, s, n, off);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return (int)r;
        if (r == 0)
            return fail(EIO);
        s += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

int fsx_zero_fill(int fd, off_t off, size_t n)
{
    static const char zeros[64 * 1024];
    while (n) {
        size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
        int rc = fsx_pwrite_all(fd, zeros, k, off);
        if (rc)
            return rc;
        off += (off_t)k;
        n -= k;
    }
    return 0;
}

size_t fsx_nonzero_len(const uint8_t *buf, size_t n)
{
    while (n && buf[n - 1] == 0)
        n--;
    return n;
}

int fsx_pread_all(int fd, void *p, size_t n, off_t off)
{
    char *s = p;
    while (n) {
        ssize_t r = fsx_pread(fd, s, n, off);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return (int)r;
        if (r == 0)
            return fail(ENODATA);
        s += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

int fsx_replace(const char *dir, const char *path, const void *p, size_t n, char *err,
                size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = fsx_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "open %.200s: %s", tmp, strerror(-fd));
        return fd;
    }
    const char *step = "write";
    int rc = fsx_write_all(fd, p, n);
    if (rc >= 0 && (step = "fsync", rc = fsx_fsync(fd)) >= 0) {
        step = "close";
        rc = fsx_close(fd);
    } else {
        fsx_close(fd);
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s %.200s: %s", step, tmp, strerror(-rc));
        return rc;
    }
    if ((rc = fsx_rename(tmp, path)) < 0) {
        snprintf(err, errlen, "rename %.200s to %.200s: %s", tmp, path, strerror(-rc));
        return rc;
    }
    if ((rc = fsx_fsync_dir(dir)) < 0) {
        snprintf(err, errlen, "fsync dir %.200s: %s", dir, strerror(-rc));
        return rc;
    }
    return 0;
}

/* ---- power loss ---- */
void fsx_powerloss_track(int on)
{
    pthread_mutex_lock(&mu);
    tracking = on;
    rearm();
    if (!on) {
        for (size_t i = 0; i < npend; i++) {
            free(pend[i].path);
            free(pend[i].old);
        }
        npend = 0;
        for (size_t i = 0; i < nfd_paths; i++) {
            free(fd_paths[i]);
            fd_paths[i] = NULL;
        }
    }
    pthread_mutex_unlock(&mu);
}

uint64_t fsx_powerloss_pending(void)
{
    uint64_t n = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < npend; i++)
        n += pend[i].len;
    pthread_mutex_unlock(&mu);
    return n;
}

/* Undoes bytes [from, end) of write p: old content back where the file had
 * some, the file cut where the write had extended it. */
static long undo_range(int fd, const struct pending *p, off_t from)
{
    off_t end = p->off + (off_t)p->len;
    long changed = (long)(end - from);
    off_t old_end = p->off + (off_t)p->old_len;
    if (from < old_end) {
        size_t skip = (size_t)(from - p->off);
        if (pwrite(fd, p->old + skip, (size_t)(old_end - from), from) < 0)
            return -errno;
    }
    if (end > p->old_size) {
        off_t cut = from > p->old_size ? from : p->old_size;
        if (ftruncate(fd, cut) != 0)
            return -errno;
    }
    return changed;
}

long fsx_powerloss_apply(enum fsx_loss mode)
{
    long total = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = npend; i-- > 0;) {
        const struct pending *p = &pend[i];
        int fd = open(p->path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* unlinked since: nothing to lose */
        long r = 0;
        if (mode == FSX_LOSS_DROP) {
            r = undo_range(fd, p, p->off);
        } else if (mode == FSX_LOSS_HALF) {
            r = undo_range(fd, p, p->off + (off_t)(p->len / 2));
        } else {
            unsigned char *z = xcalloc(1, p->len);
            r = pwrite(fd, z, p->len, p->off) < 0 ? -errno : (long)p->len;
            free(z);
        }
        close(fd);
        if (r < 0) {
            total = r;
            break;
        }
        total += r;
    }
    for (size_t i = 0; i < npend; i++) {
        free(pend[i].path);
        free(pend[i].old);
    }
    npend = 0;
    pthread_mutex_unlock(&mu);
    return total;
}
