/* parquet_read.c - one integer column of a Parquet file (see parquet_read.h).
 *
 * The file is "PAR1", column chunks, the FileMetaData (Thrift compact), its
 * length (u32 LE) and "PAR1". Each column chunk is a run of pages, each a
 * PageHeader (Thrift compact) and its bytes: at most one dictionary page
 * first, then data pages (v1: levels and values, all compressed together;
 * v2: levels uncompressed, then the compressed values). */
#include "parquet_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common.h"
#include "errors.h"
#include "parquet_decode.h"
#include "thrift_read.h"

/* Parquet's enums, as far as this reader needs them (parquet.thrift). */
enum { T_INT32 = 1, T_INT64 = 2 };
enum { REP_REQUIRED = 0, REP_OPTIONAL = 1, REP_REPEATED = 2 };
enum {
    CODEC_UNCOMPRESSED = 0,
    CODEC_SNAPPY = 1,
    CODEC_GZIP = 2,
    CODEC_ZSTD = 6
};
enum { PAGE_DATA = 0, PAGE_INDEX = 1, PAGE_DICTIONARY = 2, PAGE_DATA_V2 = 3 };
enum {
    ENC_PLAIN = 0,
    ENC_PLAIN_DICTIONARY = 2,
    ENC_RLE = 3,
    ENC_BIT_PACKED = 4,
    ENC_DELTA_BINARY_PACKED = 5,
    ENC_RLE_DICTIONARY = 8,
};

static const char *const type_names[] = {
    "BOOLEAN", "INT32",  "INT64",      "INT96",
    "FLOAT",   "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
static const char *const codec_names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP",
                                          "LZO",          "BROTLI", "LZ4",
                                          "ZSTD",         "LZ4_RAW"};
static const char *const encoding_names[] = {"PLAIN",
                                             "GROUP_VAR_INT",
                                             "PLAIN_DICTIONARY",
                                             "RLE",
                                             "BIT_PACKED",
                                             "DELTA_BINARY_PACKED",
                                             "DELTA_LENGTH_BYTE_ARRAY",
                                             "DELTA_BYTE_ARRAY",
                                             "RLE_DICTIONARY",
                                             "BYTE_STREAM_SPLIT"};

#define NAME_OF(table, v)                                                      \
    ((v) >= 0 && (size_t)(v) < ARRAY_LEN(table) ? (table)[v] : "unknown")

struct schema_el {
    const uint8_t *name;  /* into the footer; name_len bytes, or NULL */
    size_t name_len;      /* bytes */
    int32_t type;         /* physical type, -1 for a group */
    int32_t repetition;   /* REP_*, REQUIRED when absent */
    int32_t num_children; /* 0 for a leaf */
};

/* What the reader keeps of the chosen column chunk of one row group. */
struct chunk {
    int32_t type;             /* physical type, as the schema's */
    int32_t codec;            /* CODEC_* */
    int64_t num_values;       /* values, nulls included (= rows: flat) */
    int64_t total_compressed; /* bytes of the chunk, page headers included */
    int64_t data_offset;      /* file offset of the first data page */
    int64_t dict_offset;      /* of the dictionary page; 0 = none */
    int has_file_path;        /* 1: the chunk lives in another file */
    int has_meta;             /* 1: ColumnMetaData was there */
};

/* The reader's state for one call. */
struct reader {
    const uint8_t *buf; /* the whole file */
    size_t len;         /* bytes */
    size_t data_end;    /* where the footer starts: pages end before it */
    int32_t type;       /* of the column: T_INT32 or T_INT64 */
    int max_def;        /* 1 optional, 0 required */
    const char *column; /* its name, for messages */
    int64_t *dict;      /* the current chunk's dictionary */
    size_t dict_n;      /* its entries */
    int64_t *vals;      /* output, nvals used of cap */
    size_t nvals, cap;  /* values */
    uint32_t *levels;   /* scratch: dictionary indices */
    size_t levels_cap;  /* entries of levels */
    size_t pages, pages_v2, dict_pages; /* read so far */
    char *err;                          /* the caller's message buffer */
    size_t errlen;                      /* its bytes */
};

static int fail(struct reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct reader *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* Prefixes r->err with context: "what: <old text>". */
static int context(struct reader *r, int rc, const char *what)
{
    char old[512];
    snprintf(old, sizeof(old), "%s", r->err);
    snprintf(r->err, r->errlen, "%s: %s", what, old);
    return rc;
}

int parquet_read_is_parquet(const void *p, size_t n)
{
    return n >= 4 && memcmp(p, "PAR1", 4) == 0;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* ---------------------------------------------------------------- metadata */

static int read_schema_el(struct thrift_read *t, struct schema_el *el,
                          char *err, size_t errlen)
{
    struct thrift_struct s = {0};
    int16_t id;
    int ft, rc;
    el->type = -1;
    el->repetition = REP_REQUIRED;
    if ((rc = thrift_read_enter(t, err, errlen)) != 0)
        return rc;
    while ((rc = thrift_read_field(t, &s, &id, &ft, err, errlen)) == 0) {
        if (id == 1)
            rc = thrift_read_int_field(t, ft, &el->type, err, errlen);
        else if (id == 3)
            rc = thrift_read_int_field(t, ft, &el->repetition, err, errlen);
        else if (id == 4 && ft == THRIFT_BINARY)
            rc = thrift_read_binary(t, &el->name, &el->name_len, err, errlen);
        else if (id == 5)
            rc = thrift_read_int_field(t, ft, &el->num_children, err, errlen);
        else
            rc = thrift_read_skip(t, ft, err, errlen);
        if (rc)
            return rc;
    }
    thrift_read_leave(t);
    if (rc < 0)
        return rc;
    if (el->num_children < 0) {
        snprintf(err, errlen, "negative num_children in the schema");
        return ERR_CORRUPT;
    }
    return 0;
}

static int read_column_meta(struct thrift_read *t, struct chunk *c, char *err,
                            size_t errlen)
{
    struct thrift_struct s = {0};
    int16_t id;
    int ft, rc;
    if ((rc = thrift_read_enter(t, err, errlen)) != 0)
        return rc;
    while ((rc = thrift_read_field(t, &s, &id, &ft, err, errlen)) == 0) {
        switch (id) {
        case 1:
            rc = thrift_read_int_field(t, ft, &c->type, err, errlen);
            break;
        case 4:
            rc = thrift_read_int_field(t, ft, &c->codec, err, errlen);
            break;
        case 5:
            rc = thrift_read_long_field(t, ft, &c->num_values, err, errlen);
            break;
        case 7:
            rc = thrift_read_long_field(t, ft, &c->total_compressed, err,
                                        errlen);
            break;
        case 9:
            rc = thrift_read_long_field(t, ft, &c->data_offset, err, errlen);
            break;
        case 11:
            rc = thrift_read_long_field(t, ft, &c->dict_offset, err, errlen);
            break;
        default:
            rc = thrift_read_skip(t, ft, err, errlen);
            break;
        }
        if (rc)
            return rc;
    }
    thrift_read_leave(t);
    c->has_meta = 1;
    return rc < 0 ? rc : 0;
}

static int read_column_chunk(struct thrift_read *t, struct chunk *c, char *err,
                             size_t errlen)
{
    struct thrift_struct s = {0};
    int16_t id;
    int ft, rc;
    if ((rc = thrift_read_enter(t, err, errlen)) != 0)
        return rc;
    while ((rc = thrift_read_field(t, &s, &id, &ft, err, errlen)) == 0) {
        if (id == 1 && ft == THRIFT_BINARY) {
            c->has_file_path = 1;
            rc = thrift_read_skip(t, ft, err, errlen);
        } else if (id == 3 && ft == THRIFT_STRUCT) {
            rc = read_column_meta(t, c, err, errlen);
        } else {
            rc = thrift_read_skip(t, ft, err, errlen);
        }
        if (rc)
            return rc;
    }
    thrift_read_leave(t);
    return rc < 0 ? rc : 0;
}

/* Reads one RowGroup: its num_rows and the leaf-th column chunk. */
static int read_row_group(struct thrift_read *t, size_t leaf, struct chunk *c,
                          int64_t *num_rows, char *err, size_t errlen)
{
    struct thrift_struct s = {0};
    int16_t id;
    int ft, rc, found = 0;
    *num_rows = -1;
    if ((rc = thrift_read_enter(t, err, errlen)) != 0)
        return rc;
    while ((rc = thrift_read_field(t, &s, &id, &ft, err, errlen)) == 0) {
        if (id == 1 && ft == THRIFT_LIST) {
            int et;
            size_t n;
            if ((rc = thrift_read_list(t, &et, &n, err, errlen)) != 0)
                return rc;
            if (et != THRIFT_STRUCT) {
                snprintf(err, errlen, "row group columns are not structs");
                return ERR_CORRUPT;
            }
            for (size_t i = 0; i < n; i++) {
                if (i == leaf) {
                    rc = read_column_chunk(t, c, err, errlen);
                    found = 1;
                } else {
                    rc = thrift_read_skip(t, THRIFT_STRUCT, err, errlen);
                }
                if (rc)
                    return rc;
            }
        } else if (id == 3) {
            rc = thrift_read_long_field(t, ft, num_rows, err, errlen);
        } else {
            rc = thrift_read_skip(t, ft, err, errlen);
        }
        if (rc)
            return rc;
    }
    thrift_read_leave(t);
    if (rc < 0)
        return rc;
    if (!found || !c->has_meta) {
        snprintf(err, errlen, "row group has no column chunk %zu", leaf);
        return ERR_CORRUPT;
    }
    if (*num_rows < 0) {
        snprintf(err, errlen, "row group without num_rows");
        return ERR_CORRUPT;
    }
    return 0;
}

static int name_is(const struct schema_el *el, const char *name, int nocase)
{
    size_t n = strlen(name);
    if (!el->name || el->name_len != n)
        return 0;
    return nocase ? strncasecmp((const char *)el->name, name, n) == 0
                  : memcmp(el->name, name, n) == 0;
}

/* The top-level columns of the schema: for each, its element and its leaf
 * index (the position of its first chunk in every row group; a group has as
 * many leaves as its nested columns). Returns how many, filling top[] (n
 * entries allocated by the caller). The walk stops at the root's child count
 * and never trusts a count past the elements that exist. */
struct top_col {
    const struct schema_el *el;
    size_t leaf;
};

static size_t top_columns(const struct schema_el *sc, size_t n,
                          struct top_col *top)
{
    size_t *remaining = xcalloc(n + 1, sizeof(*remaining));
    size_t leaf = 0, depth = 0, ntop = 0;
    remaining[0] = (size_t)sc[0].num_children;
    for (size_t i = 1; i < n && remaining[depth] > 0; i++) {
        const struct schema_el *el = &sc[i];
        if (depth == 0)
            top[ntop++] = (struct top_col){el, leaf};
        remaining[depth]--;
        if (el->num_children > 0 && depth + 1 < n) {
            remaining[++depth] = (size_t)el->num_children;
        } else {
            leaf += el->num_children == 0;
            while (depth > 0 && remaining[depth] == 0)
                depth--;
        }
    }
    free(remaining);
    return ntop;
}

/* Finds r->column among the top-level columns: exact name first, else the
 * one column whose name matches ignoring case. */
static int find_column(struct reader *r, const struct schema_el *sc, size_t n,
                       size_t *leaf_out, const struct schema_el **el_out)
{
    if (n == 0 || sc[0].num_children <= 0)
        return fail(r, ERR_CORRUPT, "the schema has no columns");
    struct top_col *top = xcalloc(n, sizeof(*top));
    size_t ntop = top_columns(sc, n, top), found = SIZE_MAX, ci = SIZE_MAX,
           nci = 0;
    for (size_t i = 0; i < ntop; i++) {
        if (found == SIZE_MAX && name_is(top[i].el, r->column, 0))
            found = i;
        if (name_is(top[i].el, r->column, 1)) {
            ci = ci == SIZE_MAX ? i : ci;
            nci++;
        }
    }
    if (found == SIZE_MAX && nci == 1)
        found = ci;
    int rc = 0;
    if (found != SIZE_MAX && top[found].el->num_children > 0) {
        rc = fail(r, ERR_INVAL,
                  "column '%s' is a group (nested), not an integer", r->column);
    } else if (found != SIZE_MAX) {
        *leaf_out = top[found].leaf;
        *el_out = top[found].el;
    } else if (nci > 1) {
        rc = fail(r, ERR_INVAL, "several columns are named '%s' ignoring case",
                  r->column);
    } else {
        char names[400] = "";
        size_t o = 0;
        for (size_t i = 0; i < ntop && o + 8 < sizeof(names); i++) {
            const struct schema_el *el = top[i].el;
            int w =
                snprintf(names + o, sizeof(names) - o, "%s%.*s", i ? ", " : "",
                         (int)(el->name_len > 64 ? 64 : el->name_len),
                         el->name ? (const char *)el->name : "");
            if (w < 0 || (size_t)w >= sizeof(names) - o)
                break;
            o += (size_t)w;
        }
        rc = fail(r, ERR_NOTFOUND, "no column '%s' (columns: %s)", r->column,
                  names);
    }
    free(top);
    return rc;
}

/* ------------------------------------------------------------------ pages */

/* Decompresses src[0..n) of codec into exactly want bytes. *out is src itself
 * for UNCOMPRESSED (*owned NULL) or a new buffer (*owned = it, caller frees).
 * The buffer grows with the bytes really produced, not with want. */
static int decompress(struct reader *r, int32_t codec, const uint8_t *src,
                      size_t n, size_t want, const uint8_t **out,
                      uint8_t **owned)
{
    *owned = NULL;
    if (want > PARQUET_READ_MAX_PAGE)
        return fail(r, ERR_CORRUPT, "page of %zu bytes exceeds the limit",
                    want);
    if (codec == CODEC_UNCOMPRESSED) {
        if (n != want)
            return fail(r, ERR_CORRUPT,
                        "uncompressed page of %zu bytes says it holds %zu", n,
                        want);
        *out = src;
        return 0;
    }
    if (codec == CODEC_SNAPPY) {
        size_t ulen;
        if (snappy_uncompressed_length((const char *)src, n, &ulen) !=
                SNAPPY_OK ||
            ulen != want ||
            snappy_validate_compressed_buffer((const char *)src, n) !=
                SNAPPY_OK)
            return fail(r, ERR_CORRUPT, "bad snappy page");
        uint8_t *b = xmalloc(want ? want : 1);
        size_t got = want;
        if (snappy_uncompress((const char *)src, n, (char *)b, &got) !=
                SNAPPY_OK ||
            got != want) {
            free(b);
            return fail(r, ERR_CORRUPT, "bad snappy page");
        }
        *out = *owned = b;
        return 0;
    }
    if (codec != CODEC_GZIP && codec != CODEC_ZSTD)
        return fail(
            r, ERR_INVAL,
            "codec %s is not supported (write the file with SNAPPY, ZSTD, "
            "GZIP or UNCOMPRESSED)",
            NAME_OF(codec_names, codec));
    /* Start small and double: a made-up size costs nothing until real
     * output fills the buffer. */
    size_t cap = n * 4 < 65536 ? 65536 : n * 4;
    if (cap > want)
        cap = want;
    uint8_t *b = xmalloc(cap ? cap : 1);
    size_t got = 0;
    int rc = 0;
    if (codec == CODEC_GZIP) {
        z_stream z;
        memset(&z, 0, sizeof(z));
        if (inflateInit2(&z, 15 + 32) != Z_OK) { /* gzip or zlib header */
            free(b);
            return fail(r, ERR_CORRUPT, "zlib: inflateInit2 failed");
        }
        const uint8_t *in = src;
        size_t in_left = n;
        for (;;) {
            if (got == cap && cap < want) {
                cap = cap > want / 2 ? want : cap * 2;
                b = xrealloc(b, cap);
            }
            uInt in_now = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
            size_t room = cap - got;
            uInt out_now = room > (1u << 30) ? (1u << 30) : (uInt)room;
            z.next_in = (Bytef *)(uintptr_t)in;
            z.avail_in = in_now;
            z.next_out = b + got;
            z.avail_out = out_now;
            int zr = inflate(&z, Z_NO_FLUSH);
            size_t used = in_now - z.avail_in, made = out_now - z.avail_out;
            in += used;
            in_left -= used;
            got += made;
            if (zr == Z_STREAM_END) {
                if (in_left == 0)
                    break;
                if (inflateReset(&z) != Z_OK) { /* then another gzip member */
                    rc = ERR_CORRUPT;
                    break;
                }
                continue;
            }
            if ((zr != Z_OK && zr != Z_BUF_ERROR) || (used == 0 && made == 0)) {
                rc = ERR_CORRUPT; /* bad data, truncated, or longer than want */
                break;
            }
        }
        inflateEnd(&z);
    } else {
        ZSTD_DStream *z = ZSTD_createDStream();
        if (!z) {
            free(b);
            return fail(r, ERR_CORRUPT, "zstd: cannot create a stream");
        }
        ZSTD_initDStream(z);
        ZSTD_inBuffer in = {src, n, 0};
        for (;;) {
            if (got == cap && cap < want) {
                cap = cap > want / 2 ? want : cap * 2;
                b = xrealloc(b, cap);
            }
            ZSTD_outBuffer ob = {b, cap, got};
            size_t in0 = in.pos;
            size_t zr = ZSTD_decompressStream(z, &ob, &in);
            if (ZSTD_isError(zr)) {
                rc = ERR_CORRUPT;
                break;
            }
            int progress = ob.pos != got || in.pos != in0;
            got = ob.pos;
            if (zr == 0 && in.pos == in.size)
                break; /* every frame complete */
            if (!progress) {
                rc = ERR_CORRUPT; /* truncated, or longer than want */
                break;
            }
        }
        ZSTD_freeDStream(z);
    }
    if (rc == 0 && got != want)
        rc = ERR_CORRUPT;
    if (rc) {
        free(b);
        return fail(r, rc,
                    "bad %s page (%zu bytes, %zu expected after decompression)",
                    NAME_OF(codec_names, codec), got, want);
    }
    *out = *owned = b;
    return 0;
}

static size_t width_of(const struct reader *r)
{
    return r->type == T_INT32 ? 4 : 8;
}

/* Plain values: n little-endian INT32/INT64s. */
static int plain(struct reader *r, const uint8_t *p, size_t len, size_t n,
                 int64_t *out)
{
    size_t w = width_of(r);
    if (n > len / w)
        return fail(r, ERR_CORRUPT,
                    "PLAIN: %zu values need %zu bytes, page has %zu", n, n * w,
                    len);
    for (size_t i = 0; i < n; i++, p += w) {
        if (w == 4) {
            out[i] = (int32_t)le32(p);
        } else {
            uint64_t v = (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
            out[i] = (int64_t)v;
        }
    }
    return 0;
}

/* The scratch array for n dictionary indices; NULL when out of memory. */
static uint32_t *levels(struct reader *r, size_t n)
{
    if (n > r->levels_cap) {
        uint32_t *l = realloc(r->levels, n * sizeof(*r->levels));
        if (!l)
            return NULL;
        r->levels = l;
        r->levels_cap = n;
    }
    return r->levels;
}

static int read_dictionary(struct reader *r, const uint8_t *p, size_t n,
                           int32_t count, int32_t enc)
{
    if (enc != ENC_PLAIN && enc != ENC_PLAIN_DICTIONARY)
        return fail(r, ERR_INVAL,
                    "dictionary page encoding %s is not supported",
                    NAME_OF(encoding_names, enc));
    if (count < 0 || (size_t)count > n / width_of(r))
        return fail(r, ERR_CORRUPT, "dictionary of %d values in %zu bytes",
                    count, n);
    free(r->dict);
    r->dict = xmalloc(((size_t)count ? (size_t)count : 1) * sizeof(*r->dict));
    r->dict_n = (size_t)count;
    return plain(r, p, n, (size_t)count, r->dict);
}

/* Decodes the values section of a data page: nonnull values of enc. */
static int read_values(struct reader *r, int32_t enc, const uint8_t *p,
                       size_t n, size_t nonnull, int64_t *out)
{
    char e[256] = "";
    int rc;
    switch (enc) {
    case ENC_PLAIN:
        return plain(r, p, n, nonnull, out);
    case ENC_PLAIN_DICTIONARY:
    case ENC_RLE_DICTIONARY: {
        if (!r->dict)
            return fail(r, ERR_CORRUPT,
                        "dictionary-encoded page without a dictionary");
        if (nonnull == 0)
            return 0;
        if (n < 1)
            return fail(r, ERR_CORRUPT, "dictionary page without a bit width");
        uint32_t *idx = levels(r, nonnull);
        if (!idx)
            return fail(r, ERR_LIMIT, "out of memory for %zu values", nonnull);
        rc = parquet_decode_rle(p + 1, n - 1, p[0], idx, nonnull, NULL, e,
                                sizeof(e));
        if (rc)
            return fail(r, rc, "dictionary indices: %s", e);
        for (size_t i = 0; i < nonnull; i++) {
            if (idx[i] >= r->dict_n)
                return fail(r, ERR_CORRUPT,
                            "dictionary index %u of %zu entries", idx[i],
                            r->dict_n);
            out[i] = r->dict[idx[i]];
        }
        return 0;
    }
    case ENC_DELTA_BINARY_PACKED:
        rc = parquet_decode_delta(p, n, r->type == T_INT32, out, nonnull, NULL,
                                  e, sizeof(e));
        return rc ? fail(r, rc, "%s", e) : 0;
    default:
        return fail(r, ERR_INVAL, "encoding %s is not supported",
                    NAME_OF(encoding_names, enc));
    }
}

/* Appends one data page's values: nvalues rows whose definition levels (if
 * the column is optional) are in def[0..def_len), values in p[0..n). row0 is
 * the file row of the page's first value, for the null message. */
static int add_page(struct reader *r, size_t nvalues, const uint8_t *def,
                    size_t def_len, int32_t enc, const uint8_t *p, size_t n,
                    uint64_t row0)
{
    if (nvalues > PARQUET_READ_MAX_VALUES - r->nvals)
        return fail(r, ERR_LIMIT, "more than %llu values",
                    (unsigned long long)PARQUET_READ_MAX_VALUES);
    if (r->max_def) {
        char e[256] = "";
        size_t null_at;
        int rc = parquet_decode_rle_find(def, def_len, 1, nvalues, 1, &null_at,
                                         e, sizeof(e));
        if (rc)
            return fail(r, rc, "definition levels: %s", e);
        if (null_at < nvalues)
            return fail(r, ERR_INVAL, "column '%s' is null in row %llu",
                        r->column, (unsigned long long)(row0 + null_at + 1));
    }
    if (r->nvals + nvalues > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < r->nvals + nvalues)
            cap *= 2;
        /* not xrealloc: a big column is the file's size, not a bug, and
         * deserves an error rather than an abort */
        int64_t *nv = realloc(r->vals, cap * sizeof(*r->vals));
        if (!nv)
            return fail(r, ERR_LIMIT, "out of memory for %zu values", cap);
        r->vals = nv;
        r->cap = cap;
    }
    int rc = read_values(r, enc, p, n, nvalues, r->vals + r->nvals);
    if (rc)
        return rc;
    r->nvals += nvalues;
    r->pages++;
    return 0;
}

struct page_header {
    int32_t type;         /* PAGE_* */
    int32_t uncompressed; /* bytes */
    int32_t compressed;   /* bytes */
    int32_t num_values;   /* values, nulls included (entries: dictionary) */
    int32_t encoding;     /* ENC_* of the values */
    int32_t def_encoding; /* v1: ENC_* of the definition levels */
    int32_t num_nulls;    /* v2 */
    int32_t def_len;      /* v2: bytes of definition levels */
    int32_t rep_len;      /* v2: bytes of repetition levels */
    int is_compressed;    /* v2 */
    int have_sub;         /* the header of its type was there */
};

static int read_sub_header(struct thrift_read *t, struct page_header *h,
                           char *err, size_t errlen)
{
    struct thrift_struct s = {0};
    int16_t id;
    int ft, rc;
    if ((rc = thrift_read_enter(t, err, errlen)) != 0)
        return rc;
    h->have_sub = 1;
    while ((rc = thrift_read_field(t, &s, &id, &ft, err, errlen)) == 0) {
        int32_t *dst = NULL;
        if (h->type == PAGE_DATA) {
            dst = id == 1   ? &h->num_values
                  : id == 2 ? &h->encoding
                  : id == 3 ? &h->def_encoding
                            : NULL;
        } else if (h->type == PAGE_DICTIONARY) {
            dst = id == 1 ? &h->num_values : id == 2 ? &h->encoding : NULL;
        } else if (h->type == PAGE_DATA_V2) {
            dst = id == 1   ? &h->num_values
                  : id == 2 ? &h->num_nulls
                  : id == 4 ? &h->encoding
                  : id == 5 ? &h->def_len
                  : id == 6 ? &h->rep_len
                            : NULL;
            if (id == 7 && (ft == THRIFT_TRUE || ft == THRIFT_FALSE)) {
                h->is_compressed = ft == THRIFT_TRUE;
                continue;
            }
        }
        if (dst && ft != THRIFT_TRUE && ft != THRIFT_FALSE)
            rc = thrift_read_int_field(t, ft, dst, err, errlen);
        else
            rc = thrift_read_skip(t, ft, err, errlen);
        if (rc)
            return rc;
    }
    thrift_read_leave(t);
    return rc < 0 ? rc : 0;
}

static int read_page_header(struct thrift_read *t, struct page_header *h,
                            char *err, size_t errlen)
{
    struct thrift_struct s = {0};
    int16_t id;
    int ft, rc;
    memset(h, 0, sizeof(*h));
    h->type = h->uncompressed = h->compressed = -1;
    h->is_compressed = 1;
    while ((rc = thrift_read_field(t, &s, &id, &ft, err, errlen)) == 0) {
        if (id == 1)
            rc = thrift_read_int_field(t, ft, &h->type, err, errlen);
        else if (id == 2)
            rc = thrift_read_int_field(t, ft, &h->uncompressed, err, errlen);
        else if (id == 3)
            rc = thrift_read_int_field(t, ft, &h->compressed, err, errlen);
        else if ((id == 5 || id == 7 || id == 8) && ft == THRIFT_STRUCT &&
                 h->type == (id == 5   ? PAGE_DATA
                             : id == 7 ? PAGE_DICTIONARY
                                       : PAGE_DATA_V2))
            rc = read_sub_header(t, h, err, errlen);
        else
            rc = thrift_read_skip(t, ft, err, errlen);
        if (rc)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (h->type < 0 || h->uncompressed < 0 || h->compressed < 0) {
        snprintf(err, errlen, "page header without type or sizes");
        return ERR_CORRUPT;
    }
    return 0;
}

/* Reads every page of one column chunk; row0 = file row of its first value. */
static int read_chunk(struct reader *r, const struct chunk *c, uint64_t row0)
{
    int64_t start = c->data_offset;
    if (c->dict_offset > 0 && c->dict_offset < start)
        start = c->dict_offset;
    if (start < 4 || (uint64_t)start >= r->data_end)
        return fail(r, ERR_CORRUPT, "column chunk offset %lld outside the file",
                    (long long)start);
    size_t end = r->data_end;
    if (c->total_compressed > 0 &&
        (uint64_t)c->total_compressed <= r->data_end - (uint64_t)start)
        end = (size_t)start + (size_t)c->total_compressed;
    size_t pos = (size_t)start;
    uint64_t done = 0, want = (uint64_t)c->num_values;
    free(r->dict);
    r->dict = NULL;
    r->dict_n = 0;
    while (done < want) {
        if (pos >= end)
            return fail(r, ERR_CORRUPT,
                        "column chunk ends after %llu of its %llu values",
                        (unsigned long long)done, (unsigned long long)want);
        struct thrift_read t;
        struct page_header h;
        thrift_read_init(&t, r->buf + pos, end - pos);
        int rc = read_page_header(&t, &h, r->err, r->errlen);
        if (rc)
            return context(r, rc, "page header");
        size_t body = pos + thrift_read_used(&t, r->buf + pos);
        if ((size_t)h.compressed > end - body)
            return fail(r, ERR_CORRUPT,
                        "page of %d bytes runs past its column chunk",
                        h.compressed);
        const uint8_t *p = r->buf + body;
        size_t n = (size_t)h.compressed;
        pos = body + n;
        if (h.type != PAGE_DATA && h.type != PAGE_DICTIONARY &&
            h.type != PAGE_DATA_V2)
            continue; /* index pages and future kinds: not values */
        if (!h.have_sub)
            return fail(r, ERR_CORRUPT, "page of type %d without its header",
                        h.type);
        if (h.num_values < 0)
            return fail(r, ERR_CORRUPT, "page with %d values", h.num_values);
        if (h.type != PAGE_DICTIONARY && (uint64_t)h.num_values > want - done)
            return fail(r, ERR_CORRUPT,
                        "page of %d values past its chunk's %llu", h.num_values,
                        (unsigned long long)want);
        const uint8_t *u;
        uint8_t *owned = NULL;
        if (h.type == PAGE_DICTIONARY || h.type == PAGE_DATA) {
            rc = decompress(r, c->codec, p, n, (size_t)h.uncompressed, &u,
                            &owned);
            if (rc)
                return rc;
            size_t ulen = (size_t)h.uncompressed;
            if (h.type == PAGE_DICTIONARY) {
                rc = read_dictionary(r, u, ulen, h.num_values, h.encoding);
                r->dict_pages++;
            } else {
                const uint8_t *def = NULL;
                size_t def_len = 0;
                if (r->max_def) {
                    if (h.def_encoding != ENC_RLE) {
                        free(owned);
                        return fail(
                            r, ERR_INVAL,
                            "definition level encoding %s is not supported",
                            NAME_OF(encoding_names, h.def_encoding));
                    }
                    if (ulen < 4 || le32(u) > ulen - 4) {
                        free(owned);
                        return fail(r, ERR_CORRUPT,
                                    "bad definition levels length");
                    }
                    def = u + 4;
                    def_len = le32(u);
                    u += 4 + def_len;
                    ulen -= 4 + def_len;
                }
                rc = add_page(r, (size_t)h.num_values, def, def_len, h.encoding,
                              u, ulen, row0 + done);
            }
            free(owned);
        } else { /* DATA_PAGE_V2: levels stay uncompressed */
            if (h.def_len < 0 || h.rep_len < 0 ||
                (size_t)h.def_len + (size_t)h.rep_len > n ||
                (size_t)h.def_len + (size_t)h.rep_len > (size_t)h.uncompressed)
                return fail(r, ERR_CORRUPT, "bad level lengths in a v2 page");
            if (h.rep_len > 0)
                return fail(r, ERR_INVAL, "repeated values in a flat column");
            size_t lv = (size_t)h.def_len + (size_t)h.rep_len;
            if (!r->max_def && h.num_nulls > 0)
                return fail(r, ERR_CORRUPT, "nulls in a required column");
            int32_t codec = h.is_compressed ? c->codec : CODEC_UNCOMPRESSED;
            rc = decompress(r, codec, p + lv, n - lv,
                            (size_t)h.uncompressed - lv, &u, &owned);
            if (rc)
                return rc;
            rc = add_page(r, (size_t)h.num_values, p + h.rep_len,
                          (size_t)h.def_len, h.encoding, u,
                          (size_t)h.uncompressed - lv, row0 + done);
            r->pages_v2 += rc == 0;
            free(owned);
        }
        if (rc)
            return rc;
        if (h.type != PAGE_DICTIONARY)
            done += (uint64_t)h.num_values;
    }
    return 0;
}

/* ------------------------------------------------------------------- file */

int parquet_read_column_mem(const uint8_t *buf, size_t len, const char *column,
                            struct parquet_read_result *out, char *err,
                            size_t errlen)
{
    struct reader r = {
        .buf = buf, .len = len, .column = column, .err = err, .errlen = errlen};
    struct schema_el *schema = NULL;
    size_t nschema = 0, nrg = 0;
    int64_t file_rows = -1;
    struct thrift_read rgs; /* at the row group list, read after the schema */
    int have_rgs = 0, rc;
    memset(out, 0, sizeof(*out));

    if (len < 12 || !parquet_read_is_parquet(buf, len))
        return fail(&r, ERR_CORRUPT, "not a Parquet file (no PAR1 magic)");
    if (memcmp(buf + len - 4, "PARE", 4) == 0)
        return fail(&r, ERR_INVAL, "encrypted Parquet files are not supported");
    if (memcmp(buf + len - 4, "PAR1", 4) != 0)
        return fail(&r, ERR_CORRUPT,
                    "truncated Parquet file (no PAR1 at the end)");
    uint32_t flen = le32(buf + len - 8);
    if (flen == 0 || flen > len - 12)
        return fail(&r, ERR_CORRUPT,
                    "footer length %u does not fit a %zu-byte file", flen, len);
    r.data_end = len - 8 - flen;

    struct thrift_read t;
    struct thrift_struct s = {0};
    int16_t id;
    int ft;
    thrift_read_init(&t, buf + r.data_end, flen);
    while ((rc = thrift_read_field(&t, &s, &id, &ft, err, errlen)) == 0) {
        if (id == 2 && ft == THRIFT_LIST && !schema) {
            int et;
            if ((rc = thrift_read_list(&t, &et, &nschema, err, errlen)) != 0)
                break;
            if (et != THRIFT_STRUCT) {
                rc = fail(&r, ERR_CORRUPT, "schema is not a list of structs");
                break;
            }
            schema = xcalloc(nschema ? nschema : 1, sizeof(*schema));
            for (size_t i = 0; i < nschema && rc == 0; i++)
                rc = read_schema_el(&t, &schema[i], err, errlen);
        } else if (id == 3) {
            rc = thrift_read_long_field(&t, ft, &file_rows, err, errlen);
        } else if (id == 4 && ft == THRIFT_LIST) {
            rgs = t;
            have_rgs = 1;
            rc = thrift_read_skip(&t, ft, err, errlen);
        } else {
            rc = thrift_read_skip(&t, ft, err, errlen);
        }
        if (rc)
            break;
    }
    if (rc < 0) {
        context(&r, rc, "footer");
        goto cleanup;
    }
    if (!schema || !have_rgs) {
        rc = fail(&r, ERR_CORRUPT, "footer without a schema or row groups");
        goto cleanup;
    }

    size_t leaf = 0;
    const struct schema_el *el = NULL;
    if ((rc = find_column(&r, schema, nschema, &leaf, &el)) != 0)
        goto cleanup;
    if (el->type != T_INT64 && el->type != T_INT32) {
        rc = fail(&r, ERR_INVAL,
                  "column '%s' is %s, not INT64 or INT32 (write it as BIGINT: "
                  "CAST(%s AS BIGINT))",
                  column, NAME_OF(type_names, el->type), column);
        goto cleanup;
    }
    if (el->repetition == REP_REPEATED) {
        rc = fail(&r, ERR_INVAL,
                  "column '%s' is repeated (a list), not one value a row",
                  column);
        goto cleanup;
    }
    r.type = el->type;
    r.max_def = el->repetition == REP_OPTIONAL;

    int et;
    if ((rc = thrift_read_list(&rgs, &et, &nrg, err, errlen)) != 0) {
        context(&r, rc, "footer");
        goto cleanup;
    }
    if (et != THRIFT_STRUCT) {
        rc = fail(&r, ERR_CORRUPT, "row groups are not structs");
        goto cleanup;
    }
    uint64_t rows = 0;
    for (size_t g = 0; g < nrg; g++) {
        struct chunk c = {.type = -1, .codec = -1};
        int64_t rg_rows;
        if ((rc = read_row_group(&rgs, leaf, &c, &rg_rows, err, errlen)) != 0) {
            char what[64];
            snprintf(what, sizeof(what), "footer, row group %zu", g);
            context(&r, rc, what);
            goto cleanup;
        }
        if (c.has_file_path) {
            rc = fail(&r, ERR_INVAL,
                      "row group %zu: column chunk in another file", g);
            goto cleanup;
        }
        if (c.type != r.type || c.num_values != rg_rows || c.num_values < 0) {
            rc = fail(
                &r, ERR_CORRUPT,
                "row group %zu: column chunk of type %d with %lld values for "
                "%lld rows",
                g, c.type, (long long)c.num_values, (long long)rg_rows);
            goto cleanup;
        }
        if ((uint64_t)c.num_values > PARQUET_READ_MAX_VALUES - rows) {
            rc = fail(&r, ERR_LIMIT, "more than %llu values",
                      (unsigned long long)PARQUET_READ_MAX_VALUES);
            goto cleanup;
        }
        if ((rc = read_chunk(&r, &c, rows)) != 0) {
            char what[64];
            snprintf(what, sizeof(what), "row group %zu", g);
            context(&r, rc, what);
            goto cleanup;
        }
        rows += (uint64_t)c.num_values;
    }
    if (file_rows >= 0 && (uint64_t)file_rows != rows) {
        rc =
            fail(&r, ERR_CORRUPT, "footer says %lld rows, row groups hold %llu",
                 (long long)file_rows, (unsigned long long)rows);
        goto cleanup;
    }
    out->values = r.vals;
    out->count = r.nvals;
    out->row_groups = nrg;
    out->pages = r.pages;
    out->pages_v2 = r.pages_v2;
    out->dict_pages = r.dict_pages;
    r.vals = NULL;
    rc = 0;
cleanup:
    free(r.vals);
    free(r.dict);
    free(r.levels);
    free(schema);
    return rc;
}

int parquet_read_column(const char *path, const char *column,
                        struct parquet_read_result *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return ERR_IO;
    }
    struct stat st;
    int rc;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = ERR_IO;
        goto err_close_fd;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 12) {
        snprintf(err, errlen, "%s: not a Parquet file (%s)", path,
                 S_ISREG(st.st_mode) ? "too short" : "not a regular file");
        rc = ERR_CORRUPT;
        goto err_close_fd;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
        rc = ERR_IO;
        goto err_close_fd;
    }
    char e[512] = "";
    rc = parquet_read_column_mem(m, (size_t)st.st_size, column, out, e,
                                 sizeof(e));
    if (rc)
        snprintf(err, errlen, "%s: %s", path, e);
    munmap(m, (size_t)st.st_size);
err_close_fd:
    close(fd);
    return rc;
}

void parquet_read_result_free(struct parquet_read_result *out)
{
    free(out->values);
    memset(out, 0, sizeof(*out));
}
