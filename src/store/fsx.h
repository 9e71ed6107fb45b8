/* fsx.h - the one seam every durable file syscall goes through.
 *
 * The store, the journal and the ring's state file call fsx_* instead of
 * open/pwrite/fdatasync/rename/... directly, so tests can:
 *
 *   - fail the Nth call (of one op, or of any op) with a chosen errno (EIO,
 *     ENOSPC, ...), once or for a run of calls ("disk stays full");
 *   - make the Nth write short (only some bytes reach the file);
 *   - simulate power loss: with fsx_powerloss_track(1) every write remembers
 *     the bytes it replaced until the file is next fdatasync'ed/fsync'ed;
 *     fsx_powerloss_apply() then undoes (drops), half-applies or zero-fills
 *     everything not yet synced, exactly as a machine losing power could.
 *
 * Conventions: every function returns >= 0 on success (a fd, a byte count or
 * 0) and -errno on failure, and also leaves errno set. The *_all helpers loop
 * over short writes/reads; a short write that then fails returns -errno.
 * Thread-safe: the sync thread calls fsx_fdatasync while the loop writes.
 *
 * This module is not a buffered I/O library, has no notion of records or
 * files' contents, and does not log: callers add path and context to errors. */
#ifndef TINCAN_FSX_H
#define TINCAN_FSX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- syscalls (each counts as one call of its op for fault injection) ---- */
int fsx_open(const char *path, int flags, mode_t mode); /* fd or -errno */
/* openat(dirfd, name, ...); the path used for power-loss bookkeeping is
 * name (use absolute/dir-relative names consistently). */
int fsx_openat(int dirfd, const char *name, int flags, mode_t mode);
ssize_t fsx_write(int fd, const void *p, size_t n);            /* FSX_WRITE */
ssize_t fsx_pwrite(int fd, const void *p, size_t n, off_t off); /* FSX_WRITE */
ssize_t fsx_read(int fd, void *p, size_t n);                    /* FSX_READ */
ssize_t fsx_pread(int fd, void *p, size_t n, off_t off);        /* FSX_READ */
int fsx_fdatasync(int fd);                                      /* FSX_SYNC */
int fsx_fsync(int fd);                                          /* FSX_SYNC */
int fsx_rename(const char *from, const char *to);               /* FSX_RENAME */
int fsx_ftruncate(int fd, off_t len);                           /* FSX_TRUNCATE */
int fsx_close(int fd);                                          /* FSX_CLOSE */
int fsx_unlink(const char *path);                               /* FSX_UNLINK */
int fsx_mkdir(const char *path, mode_t mode); /* FSX_MKDIR; EEXIST is an error */
/* Opens the directory, fsyncs it, closes it: makes creates/renames/unlinks in
 * it durable. One FSX_SYNC_DIR call. May block. */
int fsx_fsync_dir(const char *path);
/* fstat size in bytes, or -errno. Not fault-injected (never fails in tests). */
off_t fsx_size(int fd);

/* Loops until all n bytes are written (or read); 0 on success, -errno on the
 * first failure. Reads: -ENODATA if the file ends first. */
int fsx_write_all(int fd, const void *p, size_t n);
int fsx_pwrite_all(int fd, const void *p, size_t n, off_t off);
/* Writes n zero bytes at off (pwrite, through the seam): preallocation.
 * A log that appends into blocks already written (not into a growing file or
 * fallocated, unwritten extents) needs no inode update at fdatasync, one
 * device write of three fewer. 0 or -errno. */
int fsx_zero_fill(int fd, off_t off, size_t n);
/* The length of buf without its trailing zero bytes. */
size_t fsx_nonzero_len(const uint8_t *buf, size_t n);
int fsx_pread_all(int fd, void *p, size_t n, off_t off);
/* Replaces path (in directory dir) with the n bytes at p, durably: writes
 * path.tmp, fsyncs it, renames it over path, fsyncs dir. 0, or -errno with
 * the failed step and path in err. Any thread; blocks. */
int fsx_replace(const char *dir, const char *path, const void *p, size_t n, char *err,
                size_t errlen);

/* ---- fault injection (tests only; all off by default) ---- */
enum fsx_op {
    FSX_ANY = 0, /* matches every op below */
    FSX_OPEN,
    FSX_WRITE,    /* write, pwrite */
    FSX_READ,     /* read, pread */
    FSX_SYNC,     /* fdatasync, fsync */
    FSX_RENAME,
    FSX_TRUNCATE,
    FSX_CLOSE,
    FSX_UNLINK,
    FSX_MKDIR,
    FSX_SYNC_DIR,
    FSX_OP_COUNT
};

/* Arms a fault: the nth call (1 = the next one) of op from now fails with
 * -err, and so do the following count-1 calls of op (count 0 = every call
 * from then on, until fsx_fault_clear). A failed close still closes the fd. */
void fsx_fault_fail(enum fsx_op op, uint64_t nth, int err, uint64_t count);
/* Arms a short write: the nth write from now writes only max_bytes bytes
 * (then returns that count, as the kernel may). */
void fsx_fault_short_write(uint64_t nth, size_t max_bytes);
void fsx_fault_clear(void);   /* disarms every fault */
uint64_t fsx_calls(enum fsx_op op); /* calls of op since start (FSX_ANY: all) */
const char *fsx_op_name(enum fsx_op op); /* "write", "fdatasync", ... */

/* ---- power-loss simulation (tests only) ---- */
enum fsx_loss {
    FSX_LOSS_DROP, /* every unsynced write is undone (file as at last sync) */
    FSX_LOSS_HALF, /* the first half of each unsynced write survives */
    FSX_LOSS_ZERO, /* unsynced bytes read back as zeros, sizes survive */
};
/* Starts (1) or stops (0) recording unsynced writes; stopping forgets them. */
void fsx_powerloss_track(int on);
/* Applies the loss to every file with unsynced writes (also files already
 * closed), newest write first, then forgets them. Returns the number of bytes
 * changed or dropped, or -errno. Call only when no other thread uses fsx.
 * Directory entries (create/rename/unlink) are treated as durable at once. */
long fsx_powerloss_apply(enum fsx_loss mode);
/* Bytes written but not yet synced (tracking on), across all files. */
uint64_t fsx_powerloss_pending(void);

#endif
