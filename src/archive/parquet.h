/* parquet.h - a streaming Apache Parquet file writer.
 *
 * Writes one Parquet file (format version 1 data pages, Thrift compact
 * metadata, ZSTD-compressed pages) through a caller's write callback, row by
 * row: the caller puts one value per column, ends the row, and the writer
 * buffers whole columns of the current row group in memory, cutting a page at
 * opt.page_bytes and writing the row group once it holds opt.row_group_bytes
 * of values (or when the caller flushes it). finish() writes the footer.
 *
 * Column types are the few tincan's exports need: INT64, TIMESTAMP(ms, UTC)
 * stored as INT64, STRING (BYTE_ARRAY, UTF8), BINARY (BYTE_ARRAY), and a
 * MAP<STRING,STRING> (the standard three-level MAP group: optional group
 * (MAP) { repeated group key_value { required key; optional value } }).
 * Each column is optional (nullable) or required. Columns with stats = 1 get
 * min/max statistics (signed order for integers and timestamps, unsigned
 * byte order for strings) in every column chunk and page header; every
 * column chunk has null_count.
 *
 * The bytes written are a function of the columns, options and values only
 * (no clock, no random, a fixed created_by), so the same rows always give the
 * same file: the archive names files by their content hash.
 *
 * Not a reader, not thread-safe (one writer per thread; writers are
 * independent), no I/O of its own: every byte goes through the callback. */
#ifndef TINCAN_PARQUET_H
#define TINCAN_PARQUET_H

#include <stddef.h>
#include <stdint.h>

enum parquet_type {
    PARQUET_INT64 = 0,        /* INT64 */
    PARQUET_TIMESTAMP_MS = 1, /* INT64, TIMESTAMP(isAdjustedToUTC, MILLIS) */
    PARQUET_STRING = 2,       /* BYTE_ARRAY, STRING (UTF8) */
    PARQUET_BINARY = 3,       /* BYTE_ARRAY, no logical type */
    PARQUET_MAP_STRING = 4,   /* MAP<STRING, STRING>, values nullable */
};

struct parquet_column {
    const char *name;        /* column name (borrowed for the writer's life) */
    enum parquet_type type;
    int optional;            /* 1 = nullable (parquet_put_null allowed) */
    int stats;               /* 1 = min/max statistics */
};

struct parquet_options {
    size_t row_group_bytes;  /* uncompressed value bytes per row group;
                                0 = 16 MiB */
    size_t page_bytes;       /* uncompressed bytes per data page; 0 = 1 MiB */
    int zstd_level;          /* 0 = ZSTD's default (3) */
};

/* One key/value pair of a map value; value NULL = null value. */
struct parquet_kv {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
};

/* Writes n bytes; returns 0, or a negative ERR_* code (the writer then fails
 * with it and the file is unusable). */
typedef int parquet_write_fn(void *ctx, const void *p, size_t n);

struct parquet_writer;

/* Starts a file: writes the leading magic "PAR1". cols (at most 64) and the
 * names they point to must outlive the writer. 0 with *out, or a negative
 * code with err filled (ERR_INVAL for a bad schema, or the callback's).
 *
 * Errors are sticky: once a call has returned a negative code, every later
 * call returns the same code and message, and only free is left. Every
 * function that writes may block as long as the callback does; nothing here
 * syncs or sleeps. */
int parquet_writer_new(struct parquet_writer **out, const struct parquet_column *cols,
                       size_t ncols, const struct parquet_options *opt,
                       parquet_write_fn *write, void *ctx, char *err, size_t errlen);

/* One value for column col of the current row; every column gets exactly one
 * value per row, in any order. The bytes are copied (STRING bytes are not
 * checked to be UTF-8). A put cannot fail on its own: a bad one (a second
 * value, a null for a required column, the wrong type, a value or map over
 * 1 GiB: ERR_LIMIT) is reported by the next parquet_end_row. */
void parquet_put_i64(struct parquet_writer *w, size_t col, int64_t v);
void parquet_put_bytes(struct parquet_writer *w, size_t col, const void *p, size_t n);
void parquet_put_null(struct parquet_writer *w, size_t col);
/* A map value of n pairs (n = 0: an empty map, not null). */
void parquet_put_map(struct parquet_writer *w, size_t col, const struct parquet_kv *kv,
                     size_t n);

/* Ends the row. Writes the row group when it is full. 0, or a negative code
 * (a column missing a value, or put twice: ERR_INVAL; the callback's). A bad
 * row is not rolled back: the writer is failed (see above). */
int parquet_end_row(struct parquet_writer *w, char *err, size_t errlen);

/* Writes the buffered rows as a row group now (nothing if none); ERR_INVAL
 * between the puts of a row. */
int parquet_flush_row_group(struct parquet_writer *w, char *err, size_t errlen);

/* Flushes and writes the footer (FileMetaData, its length, "PAR1"). The file
 * is complete when this returns 0; the writer can then only be freed. */
int parquet_writer_finish(struct parquet_writer *w, char *err, size_t errlen);

/* Frees the writer (finished or not; an unfinished file is just abandoned). */
void parquet_writer_free(struct parquet_writer *w);

uint64_t parquet_rows(const struct parquet_writer *w);           /* rows ended */
uint64_t parquet_bytes_written(const struct parquet_writer *w);  /* through the callback */
size_t parquet_buffered_bytes(const struct parquet_writer *w);   /* held in memory now */

#endif
