/* positions.h - the list of event positions a query wrote to a file.
 *
 * Loads a positions file for `tincan replay` (or every file under a
 * directory, as Spark, Athena's UNLOAD and DuckDB's PER_THREAD_OUTPUT or
 * PARTITION_BY write them): a Parquet file (told by its
 * PAR1 magic, whatever its name) read through parquet_read, or CSV text
 * (optionally gzip-compressed, told by its magic too): a header line naming
 * the column (`position`, or the caller's name; quoted or not, as DuckDB's
 * COPY ... (HEADER) and Athena's results write it), or no header and a single
 * column of numbers. Blank lines are ignored. A position is an integer
 * 1..2^63-1; anything else is an error that names its line (CSV) or row
 * (Parquet). The list comes back sorted and without duplicates.
 *
 * Not a general CSV library: the delimiter is a comma, quoting is RFC 4180
 * (double quotes, "" inside), and only the one column is kept. */
#ifndef TINCAN_POSITIONS_H
#define TINCAN_POSITIONS_H

#include <stddef.h>
#include <stdint.h>

struct positions {
    uint64_t *v; /* n positions, ascending, distinct (caller frees) */
    size_t n;
    size_t rows;        /* values read, duplicates included */
    size_t files;       /* files read (1, or those of a directory) */
    const char *format; /* "parquet", "csv", "csv.gz" or "parquet+csv"
                           (static) */
    char detail[160];   /* how it was stored, for messages: "3 row groups,
                           3 data pages (0 v2), 0 dictionary pages"; or "" */
};

/* Parses CSV text buf[0..len) (need not be NUL-terminated). On 0, *out (caller
 * frees; NULL when *n is 0) holds the *n positions in file order. Errors, with
 * err filled: ERR_NOTFOUND (a header without the column; err lists the
 * header), ERR_INVAL ("line 7: ..." for a bad, empty or non-positive value,
 * a missing field, an unterminated quote), ERR_LIMIT (too many values). */
int positions_parse_csv(const char *buf, size_t len, const char *column,
                        uint64_t **out, size_t *n, char *err, size_t errlen);

/* Sorts v[0..*n) ascending and drops duplicates; *n becomes the new count. */
void positions_sort_unique(uint64_t *v, size_t *n);

/* Loads the file at path (column: the column's name, "position" if NULL),
 * sorted and deduplicated. "-" is the standard input (read whole; Parquet
 * or CSV). A directory: every regular file under it (name
 * order, subdirectories too), names starting with '.' or '_' skipped (Spark's
 * _SUCCESS, .crc files). 0, or a negative code with err filled, naming the
 * file (ERR_IO for a file that cannot be read, ERR_NOTFOUND for an empty
 * directory, and parquet_read's or positions_parse_csv's codes). Reads whole
 * files; blocks on their I/O. */
int positions_load(const char *path, const char *column, struct positions *out,
                   char *err, size_t errlen);

void positions_free(struct positions *p);

#endif
