/* archive.h - exports events as Hive-partitioned Parquet files, to a directory
 * or to S3.
 *
 * A target is where files go: a local directory, or s3://bucket/prefix (s3.h).
 * Each file holds the events of one type on one UTC date, in position order,
 * and is named by what it holds and by its bytes:
 *
 *   <target>/events/date=YYYY-MM-DD/type=<type>/
 *       part-<first position>-<last position>-<content hash>.parquet
 *
 * (positions as 20 digits, so names sort in position order; the hash is the
 * first 16 hex digits of the SHA-256 of the file). Engines (DuckDB, Spark,
 * Athena) prune by date and type from the path alone.
 *
 * A batch turns a run of events into such files. Events are added in position
 * order; each (date, type) group streams into a staged file of its own, which
 * is cut (finished, a new part started) when it reaches params.file_bytes, and
 * finished when the date moves on. The bytes of every file are a function of
 * the events added and the params only, so the same run of events always
 * gives the same files under the same names: committing a batch again (after a
 * crash, or a retry) writes nothing new and never a second copy of an event.
 * Commit puts the staged files in place (directory: fsync, rename, fsync the
 * directories; S3: upload unless an object of that name and size is there)
 * and can be called again after it failed: it goes on with what is left.
 *
 * A snapshot batch (archive_batch_new_snapshot) instead writes every event
 * added into one file, never cut, named by the snapshot's name and position
 * P and by its bytes:
 *
 *   <target>/snapshots/name=<name>/snapshot-<P>-<content hash>.parquet
 *
 * with one column more, version INT64 (the event's version within its key;
 * null when it has none).
 *
 * Column values: position INT64, id STRING (server-generated ids as
 * "tc-<position>"), type STRING, kind STRING ("event"/"command"), time
 * TIMESTAMP(ms, UTC), key STRING (null when absent), headers MAP<STRING,
 * STRING> (an empty map when the event has none), payload BINARY.
 *
 * Blocking (file writes, uploads): for the archiver's own thread and the CLI,
 * never the loop. Not thread-safe: a batch and its target belong to one
 * thread. Knows nothing of where events come from (the caller scans) or of
 * cursors (cmd_archive.c keeps the server's). */
#ifndef TINCAN_ARCHIVE_H
#define TINCAN_ARCHIVE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "segment.h"

#define ARCHIVE_HASH_HEX 16 /* hex digits of the content hash in a name */

struct archive_target_config {
    const char *url;          /* "DIR" or "s3://bucket/prefix" */
    const char *endpoint;     /* S3 endpoint URL; NULL = AWS */
    const char *region;       /* NULL = us-east-1 */
    const char *access_key;   /* NULL = $AWS_ACCESS_KEY_ID */
    const char *secret_key;   /* NULL = $AWS_SECRET_ACCESS_KEY */
    const char *staging;      /* directory for files before upload (S3 only;
                                 created); a directory target stages inside
                                 itself, in DIR/<staging_name>, so renames
                                 stay on one filesystem */
    const atomic_int *cancel; /* S3: uploads stop once it is non-zero */
    const char *staging_name; /* directory target: its staging directory
                                 below DIR; NULL = ".staging" (one per
                                 thread writing to the target) */
};

/* What shapes the bytes of the files (so the same for a batch and its
 * re-run). */
struct archive_params {
    uint64_t file_bytes;      /* a group's file is cut at this size */
    uint64_t row_group_bytes; /* uncompressed values per row group */
    uint64_t page_bytes;      /* uncompressed values per page */
    uint64_t buffer_bytes;    /* values held in memory across all groups;
                                 past it the largest row group is written */
    int zstd_level;
};
/* The defaults for files of about file_bytes: 16 MiB row groups and 1 MiB
 * pages (smaller when the files are), 64 MiB of buffered values, zstd level
 * 3. file_bytes 0 = 64 MiB. */
void archive_params_init(struct archive_params *p, uint64_t file_bytes);

/* Which events a batch takes (the CLI's --type, --from, --to); others are
 * passed over by archive_batch_add. */
struct archive_filter {
    const char *pattern; /* topic pattern; NULL = every type */
    size_t pattern_len;
    uint64_t from_time; /* ms, inclusive; 0 = no bound */
    uint64_t to_time;   /* ms, inclusive; 0 = no bound */
};

struct archive_target;

/* Parses cfg->url and makes the target (no I/O beyond creating the staging
 * directory). 0 with *out, or ERR_INVAL ("archive target must be a directory
 * or s3://bucket/prefix ..."), ERR_IO with err. */
int archive_target_open(struct archive_target **out,
                        const struct archive_target_config *cfg, char *err,
                        size_t errlen);
void archive_target_free(struct archive_target *t);
/* Checks that files can be put there now: a directory is created if needed
 * and a probe file written and removed; a bucket is asked for (HEAD). 0, or
 * ERR_IO (retryable), ERR_NOTFOUND (no bucket), ERR_INVAL (refused) with
 * err. Blocks. */
int archive_target_check(struct archive_target *t, char *err, size_t errlen);
/* Removes staged files a crashed run left (none is in place yet; a re-run
 * stages them again). */
void archive_target_clean_staging(struct archive_target *t);

struct archive_batch;

/* Statistics of a batch. */
struct archive_batch_stats {
    uint64_t events;              /* added and not filtered out */
    uint64_t first_pos, last_pos; /* of those; 0 when none */
    uint64_t first_time;          /* ms, of the first; 0 when none */
    uint64_t files;               /* staged (finished or open) */
    uint64_t staged_bytes;        /* bytes written into staged files */
    uint64_t committed_files;     /* put in place by commit (or found there) */
    uint64_t committed_bytes;
    uint64_t skipped_files; /* of those, already in place from a run before */
};

int archive_batch_new(struct archive_batch **out, struct archive_target *t,
                      const struct archive_params *p,
                      const struct archive_filter *f, char *err, size_t errlen);
/* A snapshot batch: every event added goes, in the order added, into one
 * file snapshots/name=<name>/snapshot-<position as 20 digits>-<hash>.parquet
 * (the filter and params.file_bytes do not apply). The file is started here,
 * so a batch with no events gives a file of no rows. name is copied. 0 with
 * *out, or a negative code with err (the staged file could not be made). */
int archive_batch_new_snapshot(struct archive_batch **out,
                               struct archive_target *t,
                               const struct archive_params *p, const char *name,
                               size_t name_len, uint64_t position, char *err,
                               size_t errlen);
/* Adds one event (position above every one added before). 0, or a negative
 * code with err (the staged file could not be written: ERR_IO, ERR_NOSPACE).
 * Blocks (writes). */
int archive_batch_add(struct archive_batch *b, const struct segment_record *r,
                      char *err, size_t errlen);
/* Finishes every file (footers). Call once, after the last add. */
int archive_batch_finish(struct archive_batch *b, char *err, size_t errlen);
/* Puts every finished file in place; again after a failure, the rest. 0 when
 * all are. Blocks (fsyncs, uploads). */
int archive_batch_commit(struct archive_batch *b, char *err, size_t errlen);
void archive_batch_stats(const struct archive_batch *b,
                         struct archive_batch_stats *out);
/* Frees the batch and removes its staged files that are not in place. */
void archive_batch_free(struct archive_batch *b);

#endif
