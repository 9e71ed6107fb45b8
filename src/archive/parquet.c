/* parquet.c - the streaming Parquet writer (see parquet.h).
 *
 * What one file looks like:
 *
 *   "PAR1"
 *   row group 0:  column chunk of leaf 0:  page page page ...
 *                 column chunk of leaf 1:  page ...
 *                 ...
 *   row group 1:  ...
 *   FileMetaData (Thrift compact)   u32 LE length of it   "PAR1"
 *
 *   page = PageHeader (Thrift compact) + one ZSTD frame of
 *          [u32 LE len][rep levels] [u32 LE len][def levels] [PLAIN values]
 *          (a level block is absent when that leaf's max level is 0)
 *
 * A leaf is one primitive column of the Parquet schema: every column is one
 * leaf, except a MAP column, which is two (key_value.key, key_value.value).
 * Each leaf keeps its open page (PLAIN values, run-length encoded levels,
 * page statistics) and the finished, compressed pages of the current row
 * group (its column chunk). A row group is written when the plain value bytes
 * of its rows reach row_group_bytes: all chunks in leaf order, then the
 * RowGroup metadata is Thrift-encoded at once into a buffer the footer takes
 * verbatim, so nothing per page is kept after its row group is written.
 *
 * Pages are cut only between rows of a leaf (before a put that would push the
 * page past page_bytes), so every page of a map leaf starts at rep level 0.
 * Levels use only the RLE half of the RLE/bit-packed hybrid: the levels of an
 * event column are long runs, and a run costs two bytes whatever its length.
 *
 * Not here: dictionary encoding, page indexes, bloom filters, v2 pages. */
#include "parquet.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common.h"
#include "errors.h"

/* Limits: one row-mask bit per column; page sizes and counts are Thrift
 * i32, so a page stays well under 2 GiB and 2^31 values. */
#define MAX_COLUMNS             64          /* columns */
#define DEFAULT_ROW_GROUP_BYTES (16u << 20) /* bytes */
#define DEFAULT_PAGE_BYTES      (1u << 20)  /* bytes */
#define PAGE_MAX_BYTES          (1u << 30)  /* bytes */
#define PAGE_MAX_ENTRIES        (1u << 20)  /* levels per page */
/* No version in created_by: the same rows must give the same bytes. */
#define CREATED_BY "tincan"

/* Values of the enums in parquet.thrift that this writer uses. */
enum { TYPE_INT64 = 2, TYPE_BYTE_ARRAY = 6 };
enum {
    CONV_UTF8 = 0,
    CONV_MAP = 1,
    CONV_MAP_KEY_VALUE = 2,
    CONV_TIMESTAMP_MILLIS = 9
};
enum {
    REPETITION_REQUIRED = 0,
    REPETITION_OPTIONAL = 1,
    REPETITION_REPEATED = 2
};
enum { ENCODING_PLAIN = 0, ENCODING_RLE = 3 };
enum { CODEC_ZSTD = 6 };
enum { PAGE_DATA = 0 };

/* Thrift compact protocol type ids. */
enum {
    TC_STOP = 0,
    TC_TRUE = 1,
    TC_FALSE = 2,
    TC_I16 = 4,
    TC_I32 = 5,
    TC_I64 = 6,
    TC_BINARY = 8,
    TC_LIST = 9,
    TC_STRUCT = 12,
};

/* ---- byte buffers -------------------------------------------------------
 * Not sbuf: these hold binary data (no trailing NUL to keep) and sit on the
 * per-value path, so the room check is inline and growth is geometric. */

struct bytes {
    uint8_t *p; /* owned; NULL until the first byte */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
};

static void bytes_grow(struct bytes *b, size_t extra)
{
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    if (need < b->len) {
        fprintf(stderr, "tincan: parquet buffer size overflow\n");
        abort();
    }
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

/* Room for extra more bytes; returns where they go (len is not moved). */
static inline uint8_t *bytes_room(struct bytes *b, size_t extra)
{
    if (b->cap - b->len < extra)
        bytes_grow(b, extra);
    return b->p + b->len;
}

static inline void bytes_add(struct bytes *b, const void *p, size_t n)
{
    if (n) {
        memcpy(bytes_room(b, n), p, n);
        b->len += n;
    }
}

static inline void bytes_byte(struct bytes *b, uint8_t v)
{
    *bytes_room(b, 1) = v;
    b->len++;
}

static inline void bytes_le32(struct bytes *b, uint32_t v)
{
    uint8_t *p = bytes_room(b, 4);
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    b->len += 4;
}

static inline void le64_store(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void bytes_set(struct bytes *b, const void *p, size_t n)
{
    b->len = 0;
    bytes_add(b, p, n);
}

static void bytes_free(struct bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Empties b, and gives its memory back when it holds more than keep bytes:
 * one huge value must not pin its buffer for the writer's whole life. */
static void bytes_reset(struct bytes *b, size_t keep)
{
    if (b->cap > keep)
        bytes_free(b);
    b->len = 0;
}

/* ULEB128, as Thrift compact varints and the RLE run headers use it. */
static inline void bytes_uvarint(struct bytes *b, uint64_t v)
{
    uint8_t *p = bytes_room(b, 10);
    size_t i = 0;
    while (v >= 0x80) {
        p[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[i++] = (uint8_t)v;
    b->len += i;
}

static inline uint64_t zigzag(int64_t v)
{
    return v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1;
}

/* ---- Thrift compact protocol (the subset Parquet metadata needs) --------
 * A struct is a run of fields, each with a header byte holding the field id
 * as a delta from the previous field of the same struct (long form when the
 * delta is not 1..15), closed by a STOP byte. Booleans live in the header's
 * type nibble. Integers are zigzag varints; binary is a varint length and the
 * bytes; a list is a header (size and element type) and bare elements. */

struct tw {
    struct bytes *b;
    int depth;        /* index into last[]; -1 outside any struct */
    int16_t last[16]; /* last field id written, per open struct */
};

static void tw_init(struct tw *t, struct bytes *b)
{
    t->b = b;
    t->depth = -1;
}

/* Opens a struct: the top-level one, a list element, or (after tw_field) a
 * struct field. */
static void tw_open(struct tw *t)
{
    if (t->depth + 1 >= (int)ARRAY_LEN(t->last)) {
        fprintf(stderr, "tincan: parquet thrift nesting too deep\n");
        abort();
    }
    t->last[++t->depth] = 0;
}

static void tw_close(struct tw *t)
{
    bytes_byte(t->b, TC_STOP);
    t->depth--;
}

static void tw_field(struct tw *t, int type, int16_t id)
{
    int delta = id - t->last[t->depth];
    if (delta > 0 && delta <= 15) {
        bytes_byte(t->b, (uint8_t)(delta << 4 | type));
    } else {
        bytes_byte(t->b, (uint8_t)type);
        bytes_uvarint(t->b, zigzag(id));
    }
    t->last[t->depth] = id;
}

static void tw_i16(struct tw *t, int16_t id, int16_t v)
{
    tw_field(t, TC_I16, id);
    bytes_uvarint(t->b, zigzag(v));
}

static void tw_i32(struct tw *t, int16_t id, int32_t v)
{
    tw_field(t, TC_I32, id);
    bytes_uvarint(t->b, zigzag(v));
}

static void tw_i64(struct tw *t, int16_t id, int64_t v)
{
    tw_field(t, TC_I64, id);
    bytes_uvarint(t->b, zigzag(v));
}

static void tw_bool(struct tw *t, int16_t id, int v)
{
    tw_field(t, v ? TC_TRUE : TC_FALSE, id);
}

static void tw_binary(struct tw *t, int16_t id, const void *p, size_t n)
{
    tw_field(t, TC_BINARY, id);
    bytes_uvarint(t->b, n);
    bytes_add(t->b, p, n);
}

static void tw_string(struct tw *t, int16_t id, const char *s)
{
    tw_binary(t, id, s, strlen(s));
}

static void tw_struct(struct tw *t, int16_t id)
{
    tw_field(t, TC_STRUCT, id);
    tw_open(t);
}

/* An empty struct field (the marker structs of LogicalType, TimeUnit,
 * ColumnOrder). */
static void tw_empty(struct tw *t, int16_t id)
{
    tw_struct(t, id);
    tw_close(t);
}

/* A list field of n elements of elem type; the caller writes the elements. */
static void tw_list(struct tw *t, int16_t id, int elem, size_t n)
{
    tw_field(t, TC_LIST, id);
    if (n < 15) {
        bytes_byte(t->b, (uint8_t)(n << 4 | (size_t)elem));
    } else {
        bytes_byte(t->b, (uint8_t)(0xf0 | elem));
        bytes_uvarint(t->b, n);
    }
}

/* ---- levels: the RLE runs of the hybrid encoding ------------------------
 * A run is a varint header (count << 1; low bit 0 = RLE) and the level in
 * ceil(bit width / 8) bytes: one byte, as no level here exceeds 3. */

struct rle {
    struct bytes out; /* finished runs */
    uint32_t value;   /* level of the open run */
    uint32_t run;     /* entries in the open run; 0 = none */
};

static void rle_flush(struct rle *r)
{
    if (r->run) {
        bytes_uvarint(&r->out, (uint64_t)r->run << 1);
        bytes_byte(&r->out, (uint8_t)r->value);
        r->run = 0;
    }
}

static inline void rle_put(struct rle *r, uint32_t level, uint32_t count)
{
    if (r->run && r->value == level) {
        r->run += count;
        return;
    }
    rle_flush(r);
    r->value = level;
    r->run = count;
}

/* Bytes the levels take so far (an open run costs at most 6). */
static inline size_t rle_size(const struct rle *r)
{
    return r->out.len + (r->run ? 6 : 0);
}

/* ---- statistics --------------------------------------------------------- */

struct stats {
    int has;            /* 1 once a non-null value was seen */
    int64_t imin, imax; /* INT64 leaves */
    struct bytes bmin;  /* BYTE_ARRAY leaves: copies of the extremes */
    struct bytes bmax;
};

/* Unsigned byte order, a shorter prefix first (Parquet's order for
 * BYTE_ARRAY and STRING). */
static int bytes_cmp(const void *a, size_t an, const void *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

static inline void stats_i64(struct stats *s, int64_t v)
{
    if (!s->has) {
        s->imin = s->imax = v;
        s->has = 1;
    } else if (v < s->imin) {
        s->imin = v;
    } else if (v > s->imax) {
        s->imax = v;
    }
}

static void stats_bytes(struct stats *s, const void *p, size_t n)
{
    if (!s->has) {
        bytes_set(&s->bmin, p, n);
        bytes_set(&s->bmax, p, n);
        s->has = 1;
    } else if (bytes_cmp(p, n, s->bmin.p, s->bmin.len) < 0) {
        bytes_set(&s->bmin, p, n);
    } else if (bytes_cmp(p, n, s->bmax.p, s->bmax.len) > 0) {
        bytes_set(&s->bmax, p, n);
    }
}

/* Folds the statistics of a page into those of its column chunk. */
static void stats_merge(struct stats *into, const struct stats *page,
                        int is_int)
{
    if (!page->has)
        return;
    if (is_int) {
        stats_i64(into, page->imin);
        stats_i64(into, page->imax);
    } else {
        stats_bytes(into, page->bmin.p, page->bmin.len);
        stats_bytes(into, page->bmax.p, page->bmax.len);
    }
}

static void stats_free(struct stats *s)
{
    bytes_free(&s->bmin);
    bytes_free(&s->bmax);
}

/* ---- the writer --------------------------------------------------------- */

struct leaf {
    const struct parquet_column *col; /* the column it belongs to */
    const char *path[3];              /* path_in_schema */
    int depth;                        /* entries in path */
    uint8_t type;                     /* TYPE_INT64 or TYPE_BYTE_ARRAY */
    uint8_t max_def;                  /* max definition level */
    uint8_t max_rep;                  /* max repetition level */
    uint8_t stats;                    /* 1 = min/max statistics */

    /* the open page */
    struct bytes values;   /* PLAIN-encoded values */
    struct rle def, rep;   /* levels */
    uint32_t page_entries; /* levels (values incl. nulls) */
    uint32_t page_nulls;   /* entries below max_def */
    struct stats page_st;  /* min/max of the page's values */

    /* the column chunk of the row group being built */
    struct bytes chunk;     /* finished pages: header + ZSTD frame */
    uint64_t chunk_entries; /* levels of those pages */
    uint64_t chunk_nulls;   /* entries below max_def in them */
    uint64_t chunk_raw;     /* bytes, uncompressed pages incl. headers */
    struct stats chunk_st;  /* min/max over those pages */
};

struct parquet_writer {
    const struct parquet_column *cols; /* borrowed */
    size_t ncols;                      /* 1 to MAX_COLUMNS */
    struct leaf *leaves;            /* owned; in schema (depth-first) order */
    size_t nleaves;                 /* ncols + one per map column */
    size_t first_leaf[MAX_COLUMNS]; /* column -> its (first) leaf */

    size_t row_group_bytes;  /* plain value bytes per row group */
    size_t page_bytes;       /* bytes per page (values + levels) */
    parquet_write_fn *write; /* where every byte goes */
    void *ctx;               /* its argument */
    ZSTD_CCtx *zc;           /* owned; reused for every page */

    struct bytes page;   /* scratch: a page with levels, uncompressed */
    struct bytes zout;   /* scratch: a compressed page */
    struct bytes groups; /* encoded RowGroup structs, for the footer */
    uint32_t ngroups;    /* row groups written */

    uint64_t offset;     /* bytes, written through the callback */
    uint64_t rows;       /* rows ended */
    uint64_t group_rows; /* rows in the row group being built */
    size_t group_bytes;  /* plain value bytes in it */
    uint64_t row_mask;   /* columns put in the current row */
    uint64_t full_mask;  /* all columns */

    int row_rc;         /* first problem of the current row (0 = none) */
    char row_err[200];  /* its message */
    int failed;         /* sticky error code (0 = none) */
    char fail_err[300]; /* its message, repeated by every later call */
    int finished;       /* footer written */
};

/* Makes the writer failed with code (keeping the first failure) and returns
 * the sticky code. */
static int fail(struct parquet_writer *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct parquet_writer *w, int code, const char *fmt, ...)
{
    if (!w->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->fail_err, sizeof(w->fail_err), fmt, ap);
        va_end(ap);
        w->failed = code;
    }
    return w->failed;
}

/* Copies the sticky failure into the caller's buffer; returns its code. */
static int report(const struct parquet_writer *w, char *err, size_t errlen)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", w->fail_err);
    return w->failed;
}

/* Records the first problem of the row; parquet_end_row reports it. */
static void row_fail(struct parquet_writer *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void row_fail(struct parquet_writer *w, int code, const char *fmt, ...)
{
    if (!w->row_rc) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->row_err, sizeof(w->row_err), fmt, ap);
        va_end(ap);
        w->row_rc = code;
    }
}

static int call_write(struct parquet_writer *w, const void *p, size_t n,
                      const char *what)
{
    if (!n)
        return 0;
    int rc = w->write(w->ctx, p, n);
    if (rc < 0)
        return fail(w, rc, "parquet: writing %s (%zu bytes at offset %llu): %s",
                    what, n, (unsigned long long)w->offset, error_text(rc));
    w->offset += n;
    return 0;
}

/* Encodes a Statistics struct as field id. */
static void stats_encode(struct tw *t, int16_t id, const struct leaf *l,
                         const struct stats *s, uint64_t nulls)
{
    tw_struct(t, id);
    int minmax = l->stats && s->has;
    if (minmax && l->type == TYPE_INT64) {
        uint8_t mn[8], mx[8];
        le64_store(mn, (uint64_t)s->imin);
        le64_store(mx, (uint64_t)s->imax);
        /* The legacy max/min (signed order) equal the new ones for INT64. */
        tw_binary(t, 1, mx, 8);
        tw_binary(t, 2, mn, 8);
        tw_i64(t, 3, (int64_t)nulls);
        tw_binary(t, 5, mx, 8);
        tw_binary(t, 6, mn, 8);
    } else if (minmax) {
        tw_i64(t, 3, (int64_t)nulls);
        tw_binary(t, 5, s->bmax.p, s->bmax.len);
        tw_binary(t, 6, s->bmin.p, s->bmin.len);
    } else {
        tw_i64(t, 3, (int64_t)nulls);
    }
    if (minmax) {
        tw_bool(t, 7, 1); /* is_max_value_exact */
        tw_bool(t, 8, 1); /* is_min_value_exact */
    }
    tw_close(t);
}

/* [u32 LE length][runs] of one level stream, into the page scratch. */
static void level_block(struct bytes *page, struct rle *r)
{
    rle_flush(r);
    bytes_le32(page, (uint32_t)r->out.len);
    bytes_add(page, r->out.p, r->out.len);
}

/* Compresses the open page of l (which has entries) into its chunk and
 * starts an empty page. 0, or a negative code (the writer is then failed). */
static int page_cut(struct parquet_writer *w, struct leaf *l)
{
    const uint8_t *src = l->values.p;
    size_t n = l->values.len;
    if (l->max_rep || l->max_def) {
        w->page.len = 0;
        if (l->max_rep)
            level_block(&w->page, &l->rep);
        if (l->max_def)
            level_block(&w->page, &l->def);
        bytes_add(&w->page, l->values.p, l->values.len);
        src = w->page.p;
        n = w->page.len;
    }
    size_t bound = ZSTD_compressBound(n);
    w->zout.len = 0;
    bytes_room(&w->zout, bound);
    size_t z = ZSTD_compress2(w->zc, w->zout.p, bound, src, n);
    if (ZSTD_isError(z))
        return fail(w, ERR_IO,
                    "parquet: zstd compression of a %zu-byte page of %s: %s", n,
                    l->col->name, ZSTD_getErrorName(z));

    size_t h0 = l->chunk.len;
    struct tw t;
    tw_init(&t, &l->chunk);
    tw_open(&t); /* PageHeader */
    tw_i32(&t, 1, PAGE_DATA);
    tw_i32(&t, 2, (int32_t)n);
    tw_i32(&t, 3, (int32_t)z);
    tw_struct(&t, 5); /* DataPageHeader */
    tw_i32(&t, 1, (int32_t)l->page_entries);
    tw_i32(&t, 2, ENCODING_PLAIN);
    tw_i32(&t, 3, ENCODING_RLE);
    tw_i32(&t, 4, ENCODING_RLE);
    stats_encode(&t, 5, l, &l->page_st, l->page_nulls);
    tw_close(&t);
    tw_close(&t);
    l->chunk_raw += l->chunk.len - h0 + n;
    bytes_add(&l->chunk, w->zout.p, z);

    l->chunk_entries += l->page_entries;
    l->chunk_nulls += l->page_nulls;
    stats_merge(&l->chunk_st, &l->page_st, l->type == TYPE_INT64);
    size_t keep = 2 * w->page_bytes; /* bytes */
    bytes_reset(&l->values, keep);
    bytes_reset(&w->page, keep);
    bytes_reset(&w->zout, ZSTD_compressBound(keep));
    bytes_reset(&l->page_st.bmin, keep);
    bytes_reset(&l->page_st.bmax, keep);
    l->def.out.len = 0;
    l->rep.out.len = 0;
    l->page_entries = 0;
    l->page_nulls = 0;
    l->page_st.has = 0;
    return 0;
}

/* Cuts the page of l first if this row's bytes and entries would take it
 * past its limits (a page of l only ever holds whole rows of l, as a row's
 * share of a leaf comes from one put). 0 or the sticky code. */
static inline int page_room(struct parquet_writer *w, struct leaf *l,
                            size_t bytes, uint32_t entries)
{
    if (l->page_entries == 0)
        return 0;
    size_t have = l->values.len + rle_size(&l->def) + rle_size(&l->rep);
    if (have + bytes <= w->page_bytes &&
        l->page_entries + entries <= PAGE_MAX_ENTRIES)
        return 0;
    return page_cut(w, l);
}

/* Encodes the ColumnChunk of l (its pages start at file offset off). */
static void chunk_encode(struct tw *t, const struct leaf *l, uint64_t off)
{
    tw_open(t);      /* ColumnChunk */
    tw_i64(t, 2, 0); /* file_offset: deprecated, 0 */
    tw_struct(t, 3); /* ColumnMetaData */
    tw_i32(t, 1, l->type);
    if (l->max_def || l->max_rep) {
        tw_list(t, 2, TC_I32, 2);
        bytes_uvarint(t->b, zigzag(ENCODING_PLAIN));
        bytes_uvarint(t->b, zigzag(ENCODING_RLE));
    } else {
        tw_list(t, 2, TC_I32, 1);
        bytes_uvarint(t->b, zigzag(ENCODING_PLAIN));
    }
    tw_list(t, 3, TC_BINARY, (size_t)l->depth);
    for (int i = 0; i < l->depth; i++) {
        size_t n = strlen(l->path[i]);
        bytes_uvarint(t->b, n);
        bytes_add(t->b, l->path[i], n);
    }
    tw_i32(t, 4, CODEC_ZSTD);
    tw_i64(t, 5, (int64_t)l->chunk_entries);
    tw_i64(t, 6, (int64_t)l->chunk_raw);
    tw_i64(t, 7, (int64_t)l->chunk.len);
    tw_i64(t, 9, (int64_t)off);
    stats_encode(t, 12, l, &l->chunk_st, l->chunk_nulls);
    tw_close(t);
    tw_close(t);
}

/* Writes the rows buffered so far as one row group. */
static int group_write(struct parquet_writer *w)
{
    if (w->failed)
        return w->failed;
    if (w->group_rows == 0)
        return 0;
    for (size_t i = 0; i < w->nleaves; i++) {
        struct leaf *l = &w->leaves[i];
        if (l->page_entries) {
            int rc = page_cut(w, l);
            if (rc < 0)
                return rc;
        }
    }

    uint64_t start = w->offset, off = start, raw = 0, compressed = 0;
    struct tw t;
    tw_init(&t, &w->groups);
    tw_open(&t); /* RowGroup */
    tw_list(&t, 1, TC_STRUCT, w->nleaves);
    for (size_t i = 0; i < w->nleaves; i++) {
        struct leaf *l = &w->leaves[i];
        chunk_encode(&t, l, off);
        off += l->chunk.len;
        raw += l->chunk_raw;
        compressed += l->chunk.len;
    }
    tw_i64(&t, 2, (int64_t)raw);
    tw_i64(&t, 3, (int64_t)w->group_rows);
    tw_i64(&t, 5, (int64_t)start);
    tw_i64(&t, 6, (int64_t)compressed);
    if (w->ngroups <= INT16_MAX)
        tw_i16(&t, 7, (int16_t)w->ngroups);
    tw_close(&t);

    for (size_t i = 0; i < w->nleaves; i++) {
        struct leaf *l = &w->leaves[i];
        char what[96];
        snprintf(what, sizeof(what), "row group %u, column %s",
                 (unsigned)w->ngroups, l->col->name);
        int rc = call_write(w, l->chunk.p, l->chunk.len, what);
        if (rc < 0)
            return rc;
        bytes_reset(&l->chunk, 2 * w->row_group_bytes);
        bytes_reset(&l->chunk_st.bmin, 2 * w->page_bytes);
        bytes_reset(&l->chunk_st.bmax, 2 * w->page_bytes);
        l->chunk_entries = l->chunk_nulls = l->chunk_raw = 0;
        l->chunk_st.has = 0;
    }
    w->ngroups++;
    w->group_rows = 0;
    w->group_bytes = 0;
    return 0;
}

/* Claims column col for the current row. Returns its first leaf, or NULL
 * (the put is dropped; a problem is recorded unless the writer is failed). */
static struct leaf *take(struct parquet_writer *w, size_t col, const char *what)
{
    if (w->failed || w->row_rc)
        return NULL;
    if (w->finished) {
        row_fail(w, ERR_INVAL, "parquet: %s after the file was finished", what);
        return NULL;
    }
    if (col >= w->ncols) {
        row_fail(w, ERR_INVAL, "parquet: %s on column %zu of %zu", what, col,
                 w->ncols);
        return NULL;
    }
    uint64_t bit = (uint64_t)1 << col;
    if (w->row_mask & bit) {
        row_fail(w, ERR_INVAL, "parquet: row %llu: column %s got two values",
                 (unsigned long long)w->rows, w->cols[col].name);
        return NULL;
    }
    w->row_mask |= bit;
    return &w->leaves[w->first_leaf[col]];
}

static void wrong_type(struct parquet_writer *w, size_t col, const char *what)
{
    row_fail(w, ERR_INVAL, "parquet: row %llu: %s on column %s of another type",
             (unsigned long long)w->rows, what, w->cols[col].name);
}

void parquet_put_i64(struct parquet_writer *w, size_t col, int64_t v)
{
    struct leaf *l = take(w, col, "put_i64");
    if (!l)
        return;
    if (l->type != TYPE_INT64) {
        wrong_type(w, col, "put_i64");
        return;
    }
    if (page_room(w, l, 8, 1) < 0)
        return;
    if (l->max_def)
        rle_put(&l->def, 1, 1);
    le64_store(bytes_room(&l->values, 8), (uint64_t)v);
    l->values.len += 8;
    if (l->stats)
        stats_i64(&l->page_st, v);
    l->page_entries++;
    w->group_bytes += 8;
}

/* Appends one PLAIN BYTE_ARRAY value (u32 LE length, bytes) to l's page. */
static inline void put_plain_bytes(struct leaf *l, const void *p, size_t n)
{
    uint8_t *d = bytes_room(&l->values, 4 + n);
    d[0] = (uint8_t)n;
    d[1] = (uint8_t)(n >> 8);
    d[2] = (uint8_t)(n >> 16);
    d[3] = (uint8_t)(n >> 24);
    if (n)
        memcpy(d + 4, p, n);
    l->values.len += 4 + n;
    if (l->stats)
        stats_bytes(&l->page_st, p, n);
}

void parquet_put_bytes(struct parquet_writer *w, size_t col, const void *p,
                       size_t n)
{
    struct leaf *l = take(w, col, "put_bytes");
    if (!l)
        return;
    if (l->type != TYPE_BYTE_ARRAY || w->cols[col].type == PARQUET_MAP_STRING) {
        wrong_type(w, col, "put_bytes");
        return;
    }
    if (n > PAGE_MAX_BYTES - 4) {
        row_fail(
            w, ERR_LIMIT,
            "parquet: row %llu: a %zu-byte value for column %s (at most %u)",
            (unsigned long long)w->rows, n, w->cols[col].name,
            PAGE_MAX_BYTES - 4);
        return;
    }
    if (page_room(w, l, 4 + n, 1) < 0)
        return;
    if (l->max_def)
        rle_put(&l->def, 1, 1);
    put_plain_bytes(l, p, n);
    l->page_entries++;
    w->group_bytes += 4 + n;
}

void parquet_put_null(struct parquet_writer *w, size_t col)
{
    struct leaf *l = take(w, col, "put_null");
    if (!l)
        return;
    if (!w->cols[col].optional) {
        row_fail(w, ERR_INVAL, "parquet: row %llu: null for required column %s",
                 (unsigned long long)w->rows, w->cols[col].name);
        return;
    }
    /* One leaf, or the two of a map: def 0 (and rep 0) in each. */
    size_t n = w->cols[col].type == PARQUET_MAP_STRING ? 2 : 1;
    for (size_t i = 0; i < n; i++) {
        if (page_room(w, &l[i], 0, 1) < 0)
            return;
        if (l[i].max_rep)
            rle_put(&l[i].rep, 0, 1);
        rle_put(&l[i].def, 0, 1);
        l[i].page_entries++;
        l[i].page_nulls++;
    }
}

void parquet_put_map(struct parquet_writer *w, size_t col,
                     const struct parquet_kv *kv, size_t n)
{
    struct leaf *lk = take(w, col, "put_map");
    if (!lk)
        return;
    if (w->cols[col].type != PARQUET_MAP_STRING) {
        wrong_type(w, col, "put_map");
        return;
    }
    struct leaf *lv = lk + 1;
    if (n > PAGE_MAX_ENTRIES) {
        row_fail(
            w, ERR_LIMIT,
            "parquet: row %llu: a map of %zu pairs for column %s (at most %u)",
            (unsigned long long)w->rows, n, w->cols[col].name,
            PAGE_MAX_ENTRIES);
        return;
    }
    /* Each length is checked before it is added, so the sums (at most
     * 2^20 terms of at most 2^30) cannot wrap. */
    size_t kbytes = 0, vbytes = 0;
    int too_big = 0;
    for (size_t i = 0; i < n && !too_big; i++) {
        too_big = kv[i].key_len > PAGE_MAX_BYTES ||
                  (kv[i].value && kv[i].value_len > PAGE_MAX_BYTES);
        kbytes += 4 + kv[i].key_len;
        if (kv[i].value)
            vbytes += 4 + kv[i].value_len;
    }
    if (too_big || kbytes > PAGE_MAX_BYTES || vbytes > PAGE_MAX_BYTES) {
        row_fail(
            w, ERR_LIMIT, "parquet: row %llu: map for column %s over %u bytes",
            (unsigned long long)w->rows, w->cols[col].name, PAGE_MAX_BYTES);
        return;
    }
    uint32_t entries = n ? (uint32_t)n : 1;
    if (page_room(w, lk, kbytes, entries) < 0 ||
        page_room(w, lv, vbytes, entries) < 0)
        return;

    /* Levels: base is the def level of an empty map (1 if the map itself
     * is optional); a key is base + 1, a present value base + 2. */
    uint32_t base = lk->max_def - 1u;
    rle_put(&lk->rep, 0, 1);
    rle_put(&lv->rep, 0, 1);
    if (n == 0) {
        rle_put(&lk->def, base, 1);
        rle_put(&lv->def, base, 1);
        lk->page_entries++;
        lk->page_nulls++;
        lv->page_entries++;
        lv->page_nulls++;
        return;
    }
    if (n > 1) {
        rle_put(&lk->rep, 1, (uint32_t)n - 1);
        rle_put(&lv->rep, 1, (uint32_t)n - 1);
    }
    rle_put(&lk->def, base + 1, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        put_plain_bytes(lk, kv[i].key, kv[i].key_len);
        if (kv[i].value) {
            rle_put(&lv->def, base + 2, 1);
            put_plain_bytes(lv, kv[i].value, kv[i].value_len);
        } else {
            rle_put(&lv->def, base + 1, 1);
            lv->page_nulls++;
        }
    }
    lk->page_entries += (uint32_t)n;
    lv->page_entries += (uint32_t)n;
    w->group_bytes += kbytes + vbytes;
}

int parquet_end_row(struct parquet_writer *w, char *err, size_t errlen)
{
    if (w->failed)
        return report(w, err, errlen);
    if (w->finished) {
        fail(w, ERR_INVAL, "parquet: end_row after the file was finished");
        return report(w, err, errlen);
    }
    if (!w->row_rc && w->row_mask != w->full_mask) {
        size_t col = 0;
        while (w->row_mask & ((uint64_t)1 << col))
            col++;
        row_fail(w, ERR_INVAL, "parquet: row %llu: column %s has no value",
                 (unsigned long long)w->rows, w->cols[col].name);
    }
    if (w->row_rc) {
        /* Part of the row is in the buffers already: the file is lost. */
        fail(w, w->row_rc, "%s", w->row_err);
        return report(w, err, errlen);
    }
    w->row_mask = 0;
    w->rows++;
    w->group_rows++;
    if (w->group_bytes >= w->row_group_bytes && group_write(w) < 0)
        return report(w, err, errlen);
    return 0;
}

/* Fails the writer unless it stands between rows of an unfinished file
 * (what = the caller, for the message). 0 or the sticky code. */
static int between_rows(struct parquet_writer *w, const char *what)
{
    if (w->failed)
        return w->failed;
    if (w->finished)
        return fail(w, ERR_INVAL, "parquet: %s after the file was finished",
                    what);
    if (w->row_rc) /* a bad put that claimed no column (a bad index) */
        return fail(w, w->row_rc, "%s", w->row_err);
    if (w->row_mask)
        return fail(w, ERR_INVAL, "parquet: %s in the middle of row %llu", what,
                    (unsigned long long)w->rows);
    return 0;
}

int parquet_flush_row_group(struct parquet_writer *w, char *err, size_t errlen)
{
    if (between_rows(w, "flush") < 0 || group_write(w) < 0)
        return report(w, err, errlen);
    return 0;
}

/* ---- schema and footer -------------------------------------------------- */

static void schema_leaf(struct tw *t, const char *name, int type,
                        int repetition, enum parquet_type kind)
{
    tw_open(t); /* SchemaElement */
    tw_i32(t, 1, type);
    tw_i32(t, 3, repetition);
    tw_string(t, 4, name);
    if (kind == PARQUET_STRING) {
        tw_i32(t, 6, CONV_UTF8);
        tw_struct(t, 10); /* LogicalType */
        tw_empty(t, 1);   /* STRING */
        tw_close(t);
    } else if (kind == PARQUET_TIMESTAMP_MS) {
        tw_i32(t, 6, CONV_TIMESTAMP_MILLIS);
        tw_struct(t, 10); /* LogicalType */
        tw_struct(t, 8);  /* TIMESTAMP */
        tw_bool(t, 1, 1); /* isAdjustedToUTC */
        tw_struct(t, 2);  /* unit */
        tw_empty(t, 1);   /* MILLIS */
        tw_close(t);
        tw_close(t);
        tw_close(t);
    }
    tw_close(t);
}

static void schema_group(struct tw *t, const char *name, int repetition,
                         int children, int converted, int logical_map)
{
    tw_open(t); /* SchemaElement */
    tw_i32(t, 3, repetition);
    tw_string(t, 4, name);
    tw_i32(t, 5, children);
    tw_i32(t, 6, converted);
    if (logical_map) {
        tw_struct(t, 10); /* LogicalType */
        tw_empty(t, 2);   /* MAP */
        tw_close(t);
    }
    tw_close(t);
}

/* FileMetaData into b. */
static void footer_encode(struct parquet_writer *w, struct bytes *b)
{
    size_t nschema = 1;
    for (size_t i = 0; i < w->ncols; i++)
        nschema += w->cols[i].type == PARQUET_MAP_STRING ? 4 : 1;

    struct tw t;
    tw_init(&t, b);
    tw_open(&t);      /* FileMetaData */
    tw_i32(&t, 1, 1); /* version */
    tw_list(&t, 2, TC_STRUCT, nschema);
    tw_open(&t); /* the root */
    tw_string(&t, 4, "schema");
    tw_i32(&t, 5, (int32_t)w->ncols);
    tw_close(&t);
    for (size_t i = 0; i < w->ncols; i++) {
        const struct parquet_column *c = &w->cols[i];
        int rep = c->optional ? REPETITION_OPTIONAL : REPETITION_REQUIRED;
        switch (c->type) {
        case PARQUET_INT64:
        case PARQUET_TIMESTAMP_MS:
            schema_leaf(&t, c->name, TYPE_INT64, rep, c->type);
            break;
        case PARQUET_STRING:
        case PARQUET_BINARY:
            schema_leaf(&t, c->name, TYPE_BYTE_ARRAY, rep, c->type);
            break;
        case PARQUET_MAP_STRING:
            schema_group(&t, c->name, rep, 1, CONV_MAP, 1);
            schema_group(&t, "key_value", REPETITION_REPEATED, 2,
                         CONV_MAP_KEY_VALUE, 0);
            schema_leaf(&t, "key", TYPE_BYTE_ARRAY, REPETITION_REQUIRED,
                        PARQUET_STRING);
            schema_leaf(&t, "value", TYPE_BYTE_ARRAY, REPETITION_OPTIONAL,
                        PARQUET_STRING);
            break;
        }
    }
    tw_i64(&t, 3, (int64_t)w->rows);
    tw_list(&t, 4, TC_STRUCT, w->ngroups);
    bytes_add(b, w->groups.p, w->groups.len);
    tw_string(&t, 6, CREATED_BY);
    tw_list(&t, 7, TC_STRUCT, w->nleaves);
    for (size_t i = 0; i < w->nleaves; i++) {
        tw_open(&t);     /* ColumnOrder */
        tw_empty(&t, 1); /* TYPE_ORDER */
        tw_close(&t);
    }
    tw_close(&t);
}

int parquet_writer_finish(struct parquet_writer *w, char *err, size_t errlen)
{
    if (between_rows(w, "finish") < 0 || group_write(w) < 0)
        return report(w, err, errlen);
    struct bytes *b = &w->page;
    b->len = 0;
    footer_encode(w, b);
    size_t meta = b->len;
    bytes_le32(b, (uint32_t)meta);
    bytes_add(b, "PAR1", 4);
    if (call_write(w, b->p, b->len, "the footer") < 0)
        return report(w, err, errlen);
    w->finished = 1;
    bytes_free(&w->page);
    bytes_free(&w->zout);
    bytes_free(&w->groups);
    return 0;
}

/* ---- life cycle and counters -------------------------------------------- */

static int schema_check(const struct parquet_column *cols, size_t ncols,
                        char *err, size_t errlen)
{
    if (ncols == 0 || ncols > MAX_COLUMNS) {
        snprintf(err, errlen, "parquet: %zu columns (1 to %d)", ncols,
                 MAX_COLUMNS);
        return ERR_INVAL;
    }
    for (size_t i = 0; i < ncols; i++) {
        const struct parquet_column *c = &cols[i];
        if (!c->name || !c->name[0]) {
            snprintf(err, errlen, "parquet: column %zu has no name", i);
            return ERR_INVAL;
        }
        if ((unsigned)c->type > PARQUET_MAP_STRING) {
            snprintf(err, errlen, "parquet: column %s has unknown type %d",
                     c->name, (int)c->type);
            return ERR_INVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cols[j].name, c->name) == 0) {
                snprintf(err, errlen, "parquet: two columns named %s", c->name);
                return ERR_INVAL;
            }
        }
    }
    return 0;
}

int parquet_writer_new(struct parquet_writer **out,
                       const struct parquet_column *cols, size_t ncols,
                       const struct parquet_options *opt,
                       parquet_write_fn *write, void *ctx, char *err,
                       size_t errlen)
{
    *out = NULL;
    int rc = schema_check(cols, ncols, err, errlen);
    if (rc < 0)
        return rc;
    int level = opt && opt->zstd_level ? opt->zstd_level : ZSTD_CLEVEL_DEFAULT;
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
        snprintf(err, errlen, "parquet: zstd level %d (%d to %d)", level,
                 ZSTD_minCLevel(), ZSTD_maxCLevel());
        return ERR_INVAL;
    }

    struct parquet_writer *w = xcalloc(1, sizeof(*w));
    w->cols = cols;
    w->ncols = ncols;
    w->write = write;
    w->ctx = ctx;
    w->row_group_bytes = opt && opt->row_group_bytes ? opt->row_group_bytes
                                                     : DEFAULT_ROW_GROUP_BYTES;
    w->page_bytes =
        opt && opt->page_bytes ? opt->page_bytes : DEFAULT_PAGE_BYTES;
    if (w->page_bytes > PAGE_MAX_BYTES)
        w->page_bytes = PAGE_MAX_BYTES;
    w->full_mask = ncols == 64 ? ~(uint64_t)0 : ((uint64_t)1 << ncols) - 1;

    for (size_t i = 0; i < ncols; i++)
        w->nleaves += cols[i].type == PARQUET_MAP_STRING ? 2 : 1;
    w->leaves = xcalloc(w->nleaves, sizeof(*w->leaves));
    size_t li = 0;
    for (size_t i = 0; i < ncols; i++) {
        const struct parquet_column *c = &cols[i];
        uint8_t opt_level = c->optional ? 1 : 0;
        struct leaf *l = &w->leaves[li];
        w->first_leaf[i] = li;
        l->col = c;
        l->stats = c->stats ? 1 : 0;
        l->path[0] = c->name;
        if (c->type != PARQUET_MAP_STRING) {
            l->depth = 1;
            l->type =
                c->type == PARQUET_INT64 || c->type == PARQUET_TIMESTAMP_MS
                    ? TYPE_INT64
                    : TYPE_BYTE_ARRAY;
            l->max_def = opt_level;
            li++;
            continue;
        }
        for (int k = 0; k < 2; k++, l++, li++) {
            l->col = c;
            l->stats = c->stats ? 1 : 0;
            l->path[0] = c->name;
            l->path[1] = "key_value";
            l->path[2] = k == 0 ? "key" : "value";
            l->depth = 3;
            l->type = TYPE_BYTE_ARRAY;
            l->max_rep = 1;
            l->max_def = (uint8_t)(opt_level + 1 + k);
        }
    }

    w->zc = ZSTD_createCCtx();
    if (!w->zc) {
        snprintf(err, errlen, "parquet: out of memory for a zstd context");
        rc = ERR_IO;
        goto err_free;
    }
    size_t zr = ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, level);
    if (ZSTD_isError(zr)) {
        snprintf(err, errlen, "parquet: zstd level %d: %s", level,
                 ZSTD_getErrorName(zr));
        rc = ERR_INVAL;
        goto err_free;
    }
    rc = call_write(w, "PAR1", 4, "the leading magic");
    if (rc < 0) {
        report(w, err, errlen);
        goto err_free;
    }
    *out = w;
    return 0;

err_free:
    parquet_writer_free(w);
    return rc;
}

void parquet_writer_free(struct parquet_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nleaves; i++) {
        struct leaf *l = &w->leaves[i];
        bytes_free(&l->values);
        bytes_free(&l->def.out);
        bytes_free(&l->rep.out);
        bytes_free(&l->chunk);
        stats_free(&l->page_st);
        stats_free(&l->chunk_st);
    }
    free(w->leaves);
    bytes_free(&w->page);
    bytes_free(&w->zout);
    bytes_free(&w->groups);
    ZSTD_freeCCtx(w->zc);
    free(w);
}

uint64_t parquet_rows(const struct parquet_writer *w)
{
    return w->rows;
}

uint64_t parquet_bytes_written(const struct parquet_writer *w)
{
    return w->offset;
}

size_t parquet_buffered_bytes(const struct parquet_writer *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nleaves; i++) {
        const struct leaf *l = &w->leaves[i];
        n += l->values.len + l->def.out.len + l->rep.out.len + l->chunk.len;
    }
    return n;
}
