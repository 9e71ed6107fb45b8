/* archive_snapshot.h - exports entity snapshots to the archive target as
 * Parquet files, one file per snapshot (archive.h names them:
 * <target>/snapshots/name=<name>/snapshot-<P>-<hash>.parquet).
 *
 * The loop queues a snapshot (its name, position P and the positions of its
 * events) and goes on; a thread of its own, with a target of its own (so
 * with its own staging directory), reads those events from the store's
 * segment files with its own fds (scan.h: sealed segments never change and
 * the open one only grows, so reading beside the running store is safe and
 * the loop never waits on it), writes the file, puts it in place (retried
 * with backoff while the target fails) and then records that it is done in
 * <dir>/archive/snapshots/<name>.done (the target, P, the file's key). That
 * record makes a later export of the same (name, P) to the same target
 * answer done at once, so the caller can simply queue every snapshot again
 * at start: the ones the server crashed before exporting are exported then.
 *
 * The read costs O(events from the snapshot's first position to P): the
 * thread walks the segments in position order and keeps the wanted records.
 *
 * Not a snapshot store (the caller keeps snapshots and their positions), not
 * a reader of the exported files. The functions are for the loop thread. */
#ifndef TINCAN_ARCHIVE_SNAPSHOT_H
#define TINCAN_ARCHIVE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#define ARCHIVE_SNAPSHOT_NAME_MAX 200 /* bytes of a snapshot name */

/* Queues snapshot (name, position P, the n positions, ascending, all <= P
 * and durable; copied) for export. 0 = queued (or already done: the same P
 * was exported to this target before), 1 = no archive target configured
 * (nothing to do), ERR_INVAL for a name over ARCHIVE_SNAPSHOT_NAME_MAX or
 * positions not ascending. A newer export of the same name supersedes an
 * older queued one, and one being written or retried is abandoned. Copies
 * 8 bytes per position; never blocks (the first call reads the done records,
 * a few small files). */
int archive_snapshot_export(const char *name, size_t name_len, uint64_t p,
                            const uint64_t *pos, size_t n);

/* The state of the latest export of name, as a NUL-terminated string in buf
 * (or a static string), returned: "none" (no archive target), "pending"
 * (queued, being written, or never queued since start), "done", or
 * "failed: <why>" (the events could not be read or written: final until the
 * next export; or the target refused the file: "... (retrying)"). */
const char *archive_snapshot_status(const char *name, size_t name_len,
                                    char *buf, size_t buflen);

/* Stops the thread (an export under way is abandoned; it is redone when the
 * caller queues the snapshot again after start) and frees every job. Called
 * by the archive module's stop. */
void archive_snapshot_stop(void);

#endif
