/* parquet_read.h - reads one integer column of an Apache Parquet file.
 *
 * Made for files other engines write from a query (DuckDB, Spark, Athena,
 * Trino) and for tincan's own archive files: a flat, top-level INT64 column
 * (INT32 is widened), required or optional, in any number of row groups, with
 * data pages v1 or v2, PLAIN, PLAIN_DICTIONARY / RLE_DICTIONARY or
 * DELTA_BINARY_PACKED values, and UNCOMPRESSED, SNAPPY, GZIP or ZSTD pages.
 * A null value is an error that names its row: a caller that wants every row
 * to hold a value (a position to replay) must not get a silent gap.
 *
 * Every length and count in the file is checked against the file's size
 * before it is used, and buffers grow with the bytes and values actually
 * decoded, never with a size a header claims, so a hostile or truncated file
 * gives an error, never a crash or a huge allocation from a made-up header.
 * The one legitimate expansion, a dictionary or delta page whose runs decode
 * to many values, is bounded by PARQUET_READ_MAX_VALUES (8 bytes each, plus
 * 4 per value of the largest dictionary-encoded page as scratch), and running
 * out of memory for it is an error (ERR_LIMIT), not an abort.
 *
 * Not a general reader: no nested/repeated columns, no other types, no
 * LZ4/BROTLI/LZO, no encryption, no page indexes, no column chunks in other
 * files. It reads the whole column into memory. */
#ifndef TINCAN_PARQUET_READ_H
#define TINCAN_PARQUET_READ_H

#include <stddef.h>
#include <stdint.h>

#define PARQUET_READ_MAX_VALUES                                                \
    (UINT64_C(1) << 27) /* values of one column (1 GiB) */
#define PARQUET_READ_MAX_PAGE (UINT64_C(1) << 30) /* bytes of one page */

struct parquet_read_result {
    int64_t *values;   /* count values in file order (caller frees) */
    size_t count;      /* values read = rows of the file */
    size_t row_groups; /* row groups read */
    size_t pages;      /* data pages read (v1 and v2) */
    size_t pages_v2;   /* of which DATA_PAGE_V2 */
    size_t dict_pages; /* dictionary pages read */
};

/* 1 if p[0..n) starts with the Parquet magic "PAR1". */
int parquet_read_is_parquet(const void *p, size_t n);

/* Reads column (a top-level column name; exact match first, else the one
 * whose name matches ignoring case) of the whole Parquet file in buf[0..len).
 * 0 with *out filled, or a negative code with err filled: ERR_CORRUPT (not
 * Parquet, truncated, a bad header or length), ERR_NOTFOUND (no such column;
 * err lists the columns), ERR_INVAL (a null value: err names the row; a type,
 * encoding or codec this reader does not support), ERR_LIMIT (more than
 * PARQUET_READ_MAX_VALUES values). buf is only read. */
int parquet_read_column_mem(const uint8_t *buf, size_t len, const char *column,
                            struct parquet_read_result *out, char *err,
                            size_t errlen);

/* The same for the file at path (mapped read-only while it is read); ERR_IO
 * when it cannot be opened or read. Blocks on the file's I/O. */
int parquet_read_column(const char *path, const char *column,
                        struct parquet_read_result *out, char *err,
                        size_t errlen);

/* Frees out->values and zeroes *out. */
void parquet_read_result_free(struct parquet_read_result *out);

#endif
