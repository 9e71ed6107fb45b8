/* journal.h - a durable state journal: append-only records plus checkpoints.
 *
 * A subsystem that keeps its working state in memory (locks, queue jobs,
 * subscription cursors) makes each change durable as one record: a type byte
 * (1..255, the owner's) and opaque bytes. Records are appended to the current
 * log file; a checkpoint writes the owner's whole live state as records into a
 * new file and starts a new, empty log, so disk use follows the live state,
 * not the history. Recovery loads the newest checkpoint, then replays the log
 * that follows it through the owner's callback.
 *
 * Files in dir, for a journal called NAME and generation G (16 hex digits):
 *
 *   NAME.G.ckpt   the state at the start of generation G (absent for G = 1)
 *   NAME.G.log    the changes since
 *
 *   file   := header record*
 *   header := magic "TCJRNL\0\1" (8) | u64 generation (LE)
 *   record := u32 len | u32 crc | u8 type | payload[len - 1]
 *             len counts type + payload; crc = CRC32C over (len bytes (LE),
 *             type, payload); type 0 is the journal's own: in a checkpoint the
 *             last record is type 0 with a u64 count of the records before it.
 *
 * A checkpoint is written to NAME.G.ckpt.tmp, fsynced, renamed, and the
 * directory fsynced; only then is NAME.G.log created (fsynced, dir fsynced)
 * and the previous generation's files deleted. So a log never exists without
 * the checkpoint it follows (except generation 1), and a crash at any step
 * leaves one complete generation. A checkpoint that fails its checksums is
 * corruption: the journal refuses to open. A log's torn tail (a crash in the
 * middle of an append) is cut at the last good record, fsynced and logged.
 *
 * The log is written ahead with zeros (journal.c: prealloc), so that appends
 * overwrite allocated blocks and an fdatasync never has to write the inode; a
 * clean close trims them, and open drops a zero tail silently (it is not a
 * torn write).
 *
 * Durability: every append is written to the file at once (so it survives
 * kill -9). journal_commit() asks the sync thread (syncer) for an fdatasync
 * covering everything appended so far and returns the seq the caller holds
 * its reply on (client_hold with journal_source()). Under fsync everysec a
 * timer requests one sync a second and commit returns 0 (nothing to hold)
 * unless forced; under "no" only forced commits and checkpoints sync.
 * I/O errors are sticky: the journal turns read-only until restart.
 *
 * All file syscalls go through fsx, checksums through crc32c. This module
 * knows nothing of what the records mean, of clients or of commands. */
#ifndef TINCAN_JOURNAL_H
#define TINCAN_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "net.h"

#define JOURNAL_MAX_RECORD (16u << 20) /* bytes of one record's payload */

enum journal_fsync {
    JOURNAL_FSYNC_ALWAYS = 0,   /* hold replies until the covering fdatasync */
    JOURNAL_FSYNC_EVERYSEC = 1, /* one fdatasync a second, replies not held */
    JOURNAL_FSYNC_NO = 2,       /* the kernel decides when */
};

/* Recovery: called for every record (checkpoint first, then log), in order.
 * Returns 0 or a negative code with err filled, which aborts the open. */
typedef int journal_replay_fn(void *ctx, uint8_t type, const uint8_t *p,
                              size_t n, char *err, size_t errlen);

struct journal_opts {
    const char *dir;           /* existing directory for the files */
    const char *name;          /* file prefix, e.g. "locks"; [a-z0-9_-] */
    uv_loop_t *loop;           /* for the sync thread and the everysec timer;
                                  NULL = fdatasync inline (tests, tools) */
    const int *fsync_mode;     /* enum journal_fsync, read at every commit;
                                  NULL = always */
    uint64_t compact_bytes;    /* bytes: journal_should_checkpoint() once the
                                  log is this big and 2x the last checkpoint;
                                  0 = 8 MiB */
    journal_replay_fn *replay; /* required */
    void *ctx;                 /* passed to replay */
};

struct journal;

/* Opens (creating dir's files if new) and recovers: replay runs for every
 * stored record before this returns. Returns 0 with *out, or ERR_IO /
 * ERR_CORRUPT / the replay's code with err filled ("journal locks: ..."). May
 * block on disk. */
int journal_open(struct journal **out, const struct journal_opts *o, char *err,
                 size_t errlen);
/* Waits for pending syncs, closes the files, stops the thread. NULL is ok. */
void journal_close(struct journal *j);

/* Appends one record (type 1..255) and writes it to the file (not yet
 * synced). Returns 0, ERR_INVAL (type 0 / too big), or ERR_READONLY / ERR_IO
 * once an I/O error happened (detail in err if given). */
int journal_append(struct journal *j, uint8_t type, const void *p, size_t n,
                   char *err, size_t errlen);
/* Requests durability for everything appended so far. Returns the seq to
 * hold replies on (client_hold(c, journal_source(j), seq)), or 0 when nothing
 * need be waited for (fsync everysec/no and !force, or nothing new). With no
 * loop the fdatasync happens inline. Never blocks with a loop. */
uint64_t journal_commit(struct journal *j, int force);
struct sync_source *journal_source(struct journal *j);
/* 0, or the sticky error (ERR_IO / ERR_NOSPACE) after a failed write/sync. */
int journal_error(const struct journal *j);

/* Writes one record of a checkpoint (only inside a journal_checkpoint walk). */
struct journal_ckpt;
int journal_ckpt_add(struct journal_ckpt *w, uint8_t type, const void *p,
                     size_t n);
/* Replaces the journal by a checkpoint of the live state: walk(ctx, w) must
 * journal_ckpt_add every record that rebuilds the current state. Everything
 * appended so far becomes durable (holds on it are released). Blocks on
 * several fsyncs; call when journal_should_checkpoint() says so or at start.
 * Returns 0 or an error code with err filled (the journal is then read-only
 * if the failure left it unsure, else unchanged). */
int journal_checkpoint(struct journal *j,
                       int (*walk)(void *ctx, struct journal_ckpt *w),
                       void *ctx, char *err, size_t errlen);
int journal_should_checkpoint(const struct journal *j);

/* Statistics. */
uint64_t journal_log_bytes(const struct journal *j);  /* current log size */
uint64_t journal_ckpt_bytes(const struct journal *j); /* last checkpoint */
uint64_t journal_generation(const struct journal *j);
uint64_t journal_records(const struct journal *j);   /* appended since start */
uint64_t journal_truncated(const struct journal *j); /* bytes cut at open */

#endif
