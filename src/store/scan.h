/* scan.h - reads the events of a store directory in position order, read-only.
 *
 * A scan walks the segment files of a store directory (the server's
 * <data>/events) from a position on, decoding and checksumming every record,
 * without the store: it opens nothing for writing, takes no lock and never
 * repairs, so it can run on the data of a stopped server (the CLI's export and
 * inspect) or beside a running one in another thread (the archiver), which
 * only appends to the open segment and seals it by renaming nothing: a sealed
 * segment's bytes never change, and the open one's only grow.
 *
 * Beside a running server the caller bounds the scan with a limit: records
 * after it are not returned (they may still be in flight), and reaching the
 * end of the files before the limit is simply "nothing more yet"; the next
 * call looks again (the open segment grew, or sealed and a new one started).
 *
 * A record that fails its checksum, or a frame that cannot be, is ERR_CORRUPT
 * with the segment and offset in err, when a record that decodes follows it
 * or when it is in a sealed segment (one with a later segment). Opened with
 * SCAN_SKIP_CORRUPT, the scan instead steps to the next record that decodes
 * (as the store's --repair does) and counts the bytes skipped. A zero-filled
 * tail (space the store wrote ahead) is the end of a segment, not
 * corruption; so is a bad tail of the last segment with nothing valid after
 * it (torn by a crash, or being written now).
 *
 * Not thread-safe (one scan per thread); knows nothing of indexes, types or
 * archives. Reads with plain pread, not fsx: it must not consume the fault
 * counts tests arm for the store's own calls. */
#ifndef TINCAN_SCAN_H
#define TINCAN_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "segment.h"

#define SCAN_SKIP_CORRUPT 1u /* resync after a bad record instead of failing   \
                              */

struct scan;

/* Where the last record returned lives. */
struct scan_where {
    uint64_t segment; /* base position (the file's name) */
    uint64_t offset;  /* bytes from the start of the file */
    uint64_t size;    /* framed bytes of the record */
};

/* Opens a scan of dir's events with position >= from. Lists the segments now
 * (scan_next finds later ones by itself). 0 with *out, or ERR_IO with err
 * (no such directory, unreadable). */
int scan_open(struct scan **out, const char *dir, uint64_t from, unsigned flags,
              char *err, size_t errlen);
void scan_close(struct scan *sc);

/* Returns no record with a position above limit (UINT64_MAX at open). */
void scan_set_limit(struct scan *sc, uint64_t limit);

/* The next record: 1 with *r (its pointers valid until the next call) and, if
 * where is not NULL, its place; 0 when there is nothing more now (the end of
 * the last segment, or the limit); ERR_CORRUPT or ERR_IO with err. May block
 * (reads). */
int scan_next(struct scan *sc, struct segment_record *r,
              struct scan_where *where, char *err, size_t errlen);

/* fdatasync of the segment the scan is in, so that every record it returned
 * is durable in the store whatever the server's fsync setting (sealed
 * segments were synced when they sealed). 0 or ERR_IO with err. Blocks. */
int scan_sync(struct scan *sc, char *err, size_t errlen);

/* Totals so far: bytes of records read, bytes skipped as corrupt. */
uint64_t scan_bytes_read(const struct scan *sc);
uint64_t scan_bytes_skipped(const struct scan *sc);

/* The segments of dir, ascending by base: *bases (caller frees) and *n.
 * 0 or ERR_IO with err. */
int scan_list_segments(const char *dir, uint64_t **bases, size_t *n, char *err,
                       size_t errlen);

#endif
