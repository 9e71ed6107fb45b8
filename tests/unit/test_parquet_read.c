/* The tincan CLI's readers of positions files: the Thrift compact decoder,
 * the RLE/bit-packed hybrid and DELTA_BINARY_PACKED decoders, the Parquet
 * column reader on files built here byte by byte (page v1 and v2, optional
 * columns and nulls, dictionaries, each codec, unknown fields), hostile
 * input (every truncation and every single-byte change of a file, absurd
 * lengths), and the CSV parser. */
#include "test.h"

#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "common.h"
#include "errors.h"
#include "parquet_decode.h"
#include "parquet_read.h"
#include "positions.h"
#include "thrift_read.h"

/* ------------------------------------------------ a tiny compact encoder */

struct w {
    uint8_t *b;
    size_t n, cap;
    int16_t last[32]; /* last field id per struct depth */
    int depth;
};

static void put(struct w *w, const void *p, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->b = xrealloc(w->b, w->cap);
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void u8(struct w *w, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(w, &b, 1);
}

static void varint(struct w *w, uint64_t v)
{
    while (v >= 0x80) {
        u8(w, (unsigned)(v & 0x7f) | 0x80);
        v >>= 7;
    }
    u8(w, (unsigned)v);
}

static void zz(struct w *w, int64_t v)
{
    varint(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void le32w(struct w *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                    (uint8_t)(v >> 24)};
    put(w, b, 4);
}

static void le64w(struct w *w, uint64_t v)
{
    le32w(w, (uint32_t)v);
    le32w(w, (uint32_t)(v >> 32));
}

static void fld(struct w *w, int16_t id, int type)
{
    int delta = id - w->last[w->depth];
    if (delta > 0 && delta <= 15) {
        u8(w, (unsigned)(delta << 4 | type));
    } else {
        u8(w, (unsigned)type);
        zz(w, id);
    }
    w->last[w->depth] = id;
}

static void fi32(struct w *w, int16_t id, int64_t v)
{
    fld(w, id, THRIFT_I32);
    zz(w, v);
}

static void fi64(struct w *w, int16_t id, int64_t v)
{
    fld(w, id, THRIFT_I64);
    zz(w, v);
}

static void fbin(struct w *w, int16_t id, const char *s)
{
    fld(w, id, THRIFT_BINARY);
    varint(w, strlen(s));
    put(w, s, strlen(s));
}

static void fbool(struct w *w, int16_t id, int v)
{
    fld(w, id, v ? THRIFT_TRUE : THRIFT_FALSE);
}

static void sbegin(struct w *w) /* a struct as a list element or at the top */
{
    w->depth++;
    w->last[w->depth] = 0;
}

static void fstruct(struct w *w, int16_t id)
{
    fld(w, id, THRIFT_STRUCT);
    sbegin(w);
}

static void send_(struct w *w)
{
    u8(w, 0);
    w->depth--;
}

static void lhead(struct w *w, int et, size_t count)
{
    if (count < 15) {
        u8(w, (unsigned)(count << 4 | (size_t)et));
    } else {
        u8(w, 0xf0u | (unsigned)et);
        varint(w, count);
    }
}

static void flist(struct w *w, int16_t id, int et, size_t count)
{
    fld(w, id, THRIFT_LIST);
    lhead(w, et, count);
}

/* An unknown field of every kind, for the skipping paths. */
static void junk_field(struct w *w, int16_t id)
{
    fstruct(w, id);
    fld(w, 1, THRIFT_DOUBLE);
    le64w(w, 0x400921fb54442d18ull);
    fbool(w, 2, 1);
    flist(w, 3, THRIFT_TRUE, 3); /* bools in a list: one byte each */
    u8(w, 1), u8(w, 2), u8(w, 1);
    fld(w, 4, THRIFT_MAP);
    varint(w, 2);
    u8(w, THRIFT_BINARY << 4 | THRIFT_I64);
    varint(w, 1), u8(w, 'k'), zz(w, 5);
    varint(w, 1), u8(w, 'l'), zz(w, -5);
    fld(w, 300, THRIFT_I8); /* long-form id */
    u8(w, 0x80);
    fld(w, 301, THRIFT_SET);
    lhead(w, THRIFT_STRUCT, 1);
    sbegin(w);
    fbin(w, 1, "nested");
    send_(w);
    fld(w, 302, THRIFT_MAP);
    varint(w, 0);
    send_(w);
}

/* ------------------------------------------------ a Parquet file builder */

enum { PT_DATA = 0, PT_DICT = 2, PT_V2 = 3 };

struct tpage {
    int type;            /* PT_* */
    const uint8_t *body; /* page bytes as stored (compressed) */
    size_t n;
    size_t usize; /* uncompressed size */
    int32_t nvalues;
    int enc;             /* value encoding */
    int32_t num_nulls;   /* v2 */
    int32_t def_len;     /* v2 */
    int uncompressed_v2; /* v2: is_compressed = false */
};

struct tfile {
    int ptype; /* 1 INT32, 2 INT64, 6 BYTE_ARRAY */
    int rep;   /* 0 required, 1 optional, 2 repeated */
    int codec;
    const char *name;
    int other_first; /* a BYTE_ARRAY column "other" before ours */
    int junk;        /* unknown fields in every struct */
    int map_first; /* a MAP<STRING,STRING> "headers" (two leaves) before ours */
    int64_t rows;
};

static void page_header(struct w *w, const struct tpage *p)
{
    sbegin(w);
    fi32(w, 1, p->type);
    fi32(w, 2, (int64_t)p->usize);
    fi32(w, 3, (int64_t)p->n);
    if (p->type == PT_DATA) {
        fstruct(w, 5);
        fi32(w, 1, p->nvalues);
        fi32(w, 2, p->enc);
        fi32(w, 3, 3); /* RLE */
        fi32(w, 4, 3);
        send_(w);
    } else if (p->type == PT_DICT) {
        fstruct(w, 7);
        fi32(w, 1, p->nvalues);
        fi32(w, 2, 0);
        send_(w);
    } else {
        fstruct(w, 8);
        fi32(w, 1, p->nvalues);
        fi32(w, 2, p->num_nulls);
        fi32(w, 3, p->nvalues);
        fi32(w, 4, p->enc);
        fi32(w, 5, p->def_len);
        fi32(w, 6, 0);
        if (p->uncompressed_v2)
            fbool(w, 7, 0);
        send_(w);
    }
    send_(w);
}

static void column_chunk(struct w *w, const struct tfile *f, int ptype,
                         const char *name, int64_t start, int64_t size,
                         int64_t nvalues)
{
    sbegin(w);
    fi64(w, 2, start);
    fstruct(w, 3);
    fi32(w, 1, ptype);
    flist(w, 2, THRIFT_I32, 2);
    zz(w, 0), zz(w, 3);
    flist(w, 3, THRIFT_BINARY, 1);
    varint(w, strlen(name));
    put(w, name, strlen(name));
    fi32(w, 4, f->codec);
    fi64(w, 5, nvalues);
    fi64(w, 6, size);
    fi64(w, 7, size);
    fi64(w, 9, start);
    if (f->junk)
        junk_field(w, 20);
    send_(w);
    send_(w);
}

/* The whole file: magic, the pages as one column chunk, the footer. */
static struct w build(const struct tfile *f, const struct tpage *pages,
                      size_t np)
{
    struct w w = {0};
    put(&w, "PAR1", 4);
    int64_t start = (int64_t)w.n;
    int64_t nvalues = 0;
    for (size_t i = 0; i < np; i++) {
        page_header(&w, &pages[i]);
        put(&w, pages[i].body, pages[i].n);
        if (pages[i].type != PT_DICT)
            nvalues += pages[i].nvalues;
    }
    int64_t size = (int64_t)w.n - start;
    size_t meta = w.n;
    sbegin(&w);
    fi32(&w, 1, 1);
    flist(&w, 2, THRIFT_STRUCT,
          (f->other_first ? 3 : 2) + (f->map_first ? 4 : 0));
    sbegin(&w);
    fbin(&w, 4, "duckdb_schema");
    fi32(&w, 5, (f->other_first ? 2 : 1) + (f->map_first ? 1 : 0));
    if (f->junk)
        junk_field(&w, 10);
    send_(&w);
    if (f->other_first) {
        sbegin(&w);
        fi32(&w, 1, 6);
        fi32(&w, 3, 1);
        fbin(&w, 4, "other");
        send_(&w);
    }
    if (f->map_first) {
        static const char *const names[4] = {"headers", "key_value", "key",
                                             "value"};
        static const int children[4] = {1, 2, 0, 0};
        for (int i = 0; i < 4; i++) {
            sbegin(&w);
            if (!children[i])
                fi32(&w, 1, 6);
            fi32(&w, 3, i == 1 ? 2 : i == 2 ? 0 : 1);
            fbin(&w, 4, names[i]);
            if (children[i])
                fi32(&w, 5, children[i]);
            send_(&w);
        }
    }
    sbegin(&w);
    fi32(&w, 1, f->ptype);
    fi32(&w, 3, f->rep);
    fbin(&w, 4, f->name ? f->name : "position");
    if (f->junk) {
        fstruct(&w, 10); /* LogicalType: INTEGER(64, signed) */
        fstruct(&w, 10);
        fld(&w, 1, THRIFT_I8);
        u8(&w, 64);
        fbool(&w, 2, 1);
        send_(&w);
        send_(&w);
    }
    send_(&w);
    fi64(&w, 3, f->rows >= 0 ? f->rows : nvalues);
    flist(&w, 4, THRIFT_STRUCT, 1);
    sbegin(&w);
    flist(&w, 1, THRIFT_STRUCT,
          (f->other_first ? 2 : 1) + (f->map_first ? 2 : 0));
    if (f->other_first)
        column_chunk(&w, f, 6, "other", start, size, nvalues);
    if (f->map_first) {
        column_chunk(&w, f, 6, "key", start, size, nvalues);
        column_chunk(&w, f, 6, "value", start, size, nvalues);
    }
    column_chunk(&w, f, f->ptype, f->name ? f->name : "position", start, size,
                 nvalues);
    fi64(&w, 2, size);
    fi64(&w, 3, nvalues);
    send_(&w);
    fbin(&w, 6, "tincan unit test");
    if (f->junk)
        junk_field(&w, 9);
    send_(&w);
    le32w(&w, (uint32_t)(w.n - meta));
    put(&w, "PAR1", 4);
    return w;
}

static const struct tfile REQ64 = {
    .ptype = 2, .rep = 0, .codec = 0, .rows = -1};
static const struct tfile OPT64 = {
    .ptype = 2, .rep = 1, .codec = 0, .rows = -1};

/* PLAIN INT64 values. */
static struct w plain64(const int64_t *v, size_t n)
{
    struct w w = {0};
    for (size_t i = 0; i < n; i++)
        le64w(&w, (uint64_t)v[i]);
    return w;
}

/* Definition levels as one RLE run of 1s (n values), length-prefixed for v1. */
static void def_all_present(struct w *w, size_t n, int prefix)
{
    struct w r = {0};
    varint(&r, (uint64_t)n << 1);
    u8(&r, 1);
    if (prefix)
        le32w(w, (uint32_t)r.n);
    put(w, r.b, r.n);
    free(r.b);
}

/* Reads the file from an exactly-sized copy, so an overread is an ASan
 * report. Returns the code; values in *res. */
static int read_copy(const uint8_t *p, size_t n, const char *col,
                     struct parquet_read_result *res, char *err, size_t errlen)
{
    uint8_t *c = xmalloc(n ? n : 1);
    memcpy(c, p, n);
    int rc = parquet_read_column_mem(c, n, col, res, err, errlen);
    free(c);
    return rc;
}

/* ------------------------------------------------------------ thrift */

TEST(thrift_varints_and_zigzag)
{
    struct w w = {0};
    zz(&w, 0), zz(&w, -1), zz(&w, 1), zz(&w, INT64_MIN), zz(&w, INT64_MAX),
        zz(&w, 300);
    struct thrift_read r;
    char err[128];
    int64_t v;
    int32_t i;
    thrift_read_init(&r, w.b, w.n);
    ASSERT_EQ_INT(0, thrift_read_i64(&r, &v, err, sizeof(err)));
    ASSERT_EQ_INT(0, v);
    ASSERT_EQ_INT(0, thrift_read_i64(&r, &v, err, sizeof(err)));
    ASSERT_EQ_INT(-1, v);
    ASSERT_EQ_INT(0, thrift_read_i32(&r, &i, err, sizeof(err)));
    ASSERT_EQ_INT(1, i);
    ASSERT_EQ_INT(0, thrift_read_i64(&r, &v, err, sizeof(err)));
    ASSERT_TRUE(v == INT64_MIN);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  thrift_read_i32(&r, &i, err, sizeof(err))); /* range */
    ASSERT_EQ_INT(0, thrift_read_i64(&r, &v, err, sizeof(err)));
    ASSERT_EQ_INT(300, v);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  thrift_read_i64(&r, &v, err, sizeof(err))); /* end */
    free(w.b);

    /* 11 continuation bytes, and a 10th byte with high bits: both corrupt */
    static const uint8_t longv[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                      0x80, 0x80, 0x80, 0x80, 0x01};
    static const uint8_t wide[10] = {0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0x7f};
    uint64_t u;
    thrift_read_init(&r, longv, sizeof(longv));
    ASSERT_EQ_INT(ERR_CORRUPT, thrift_read_varint(&r, &u, err, sizeof(err)));
    thrift_read_init(&r, wide, sizeof(wide));
    ASSERT_EQ_INT(ERR_CORRUPT, thrift_read_varint(&r, &u, err, sizeof(err)));
}

TEST(thrift_fields_deltas_long_ids_and_skipping)
{
    struct w w = {0};
    sbegin(&w);
    fi32(&w, 1, 7);
    junk_field(&w, 2);
    fi64(&w, 40, -9); /* delta > 15: long form */
    fbool(&w, 41, 1);
    fbin(&w, 42, "abc");
    send_(&w);
    struct thrift_read r;
    struct thrift_struct s = {0};
    char err[128];
    int16_t id;
    int t;
    thrift_read_init(&r, w.b, w.n);
    ASSERT_EQ_INT(0, thrift_read_field(&r, &s, &id, &t, err, sizeof(err)));
    ASSERT_EQ_INT(1, id);
    int32_t i;
    ASSERT_EQ_INT(0, thrift_read_int_field(&r, t, &i, err, sizeof(err)));
    ASSERT_EQ_INT(7, i);
    ASSERT_EQ_INT(0, thrift_read_field(&r, &s, &id, &t, err, sizeof(err)));
    ASSERT_EQ_INT(2, id);
    ASSERT_EQ_INT(THRIFT_STRUCT, t);
    ASSERT_EQ_INT(0, thrift_read_skip(&r, t, err, sizeof(err)));
    ASSERT_EQ_INT(0, thrift_read_field(&r, &s, &id, &t, err, sizeof(err)));
    ASSERT_EQ_INT(40, id);
    int64_t v;
    ASSERT_EQ_INT(0, thrift_read_long_field(&r, t, &v, err, sizeof(err)));
    ASSERT_EQ_INT(-9, v);
    ASSERT_EQ_INT(0, thrift_read_field(&r, &s, &id, &t, err, sizeof(err)));
    ASSERT_EQ_INT(41, id);
    ASSERT_EQ_INT(THRIFT_TRUE, t);
    ASSERT_EQ_INT(0, thrift_read_field(&r, &s, &id, &t, err, sizeof(err)));
    ASSERT_EQ_INT(42, id);
    const uint8_t *p;
    size_t n;
    ASSERT_EQ_INT(0, thrift_read_binary(&r, &p, &n, err, sizeof(err)));
    ASSERT_EQ_MEM("abc", 3, p, n);
    ASSERT_EQ_INT(1, thrift_read_field(&r, &s, &id, &t, err, sizeof(err)));
    ASSERT_TRUE(r.p == r.end);

    /* every truncation of the skipped struct is an error, never an overread */
    for (size_t cut = 0; cut < w.n; cut++) {
        uint8_t *c = xmalloc(cut ? cut : 1);
        memcpy(c, w.b, cut);
        thrift_read_init(&r, c, cut);
        ASSERT_EQ_INT(ERR_CORRUPT,
                      thrift_read_skip(&r, THRIFT_STRUCT, err, sizeof(err)));
        free(c);
    }
    free(w.b);
}

TEST(thrift_hostile_lengths_and_nesting)
{
    char err[128];
    struct thrift_read r;
    int et;
    size_t n;
    const uint8_t *p;
    /* a list claiming 2^40 elements in 7 bytes */
    struct w w = {0};
    lhead(&w, THRIFT_I64, (size_t)1 << 40);
    thrift_read_init(&r, w.b, w.n);
    ASSERT_EQ_INT(ERR_CORRUPT, thrift_read_list(&r, &et, &n, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "longer than the bytes left") != NULL);
    free(w.b);
    /* a binary claiming 2^62 bytes */
    w = (struct w){0};
    varint(&w, (uint64_t)1 << 62);
    thrift_read_init(&r, w.b, w.n);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  thrift_read_binary(&r, &p, &n, err, sizeof(err)));
    free(w.b);
    /* a map claiming many pairs */
    w = (struct w){0};
    varint(&w, 1000000);
    u8(&w, 0x55);
    thrift_read_init(&r, w.b, w.n);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  thrift_read_skip(&r, THRIFT_MAP, err, sizeof(err)));
    free(w.b);
    /* structs nested 10000 deep: refused at the depth limit, no deep recursion
     */
    w = (struct w){0};
    for (int i = 0; i < 10000; i++)
        u8(&w, 1 << 4 | THRIFT_STRUCT);
    thrift_read_init(&r, w.b, w.n);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  thrift_read_skip(&r, THRIFT_STRUCT, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "nested too deeply") != NULL);
    /* lists nested deep as well */
    memset(w.b, 1 << 4 | THRIFT_LIST, w.n);
    thrift_read_init(&r, w.b, w.n);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  thrift_read_skip(&r, THRIFT_LIST, err, sizeof(err)));
    free(w.b);
    /* unknown type nibbles */
    static const uint8_t bad[] = {0x1d};
    struct thrift_struct s = {0};
    int16_t id;
    int t;
    thrift_read_init(&r, bad, sizeof(bad));
    ASSERT_EQ_INT(ERR_CORRUPT,
                  thrift_read_field(&r, &s, &id, &t, err, sizeof(err)));
}

/* ------------------------------------------------------------- RLE */

TEST(rle_hybrid_runs_and_bit_packing)
{
    /* bit width 3: RLE run of 5 x 4, bit-packed 8 values 0..7, RLE 2 x 6 */
    struct w w = {0};
    varint(&w, 5 << 1);
    u8(&w, 4);
    varint(&w, 1 << 1 | 1);
    /* 0..7 at 3 bits, LSB first: 0b10001000 0b11000110 0b11111010 */
    u8(&w, 0x88), u8(&w, 0xc6), u8(&w, 0xfa);
    varint(&w, 2 << 1);
    u8(&w, 6);
    uint32_t out[15];
    size_t used;
    char err[128];
    ASSERT_EQ_INT(
        0, parquet_decode_rle(w.b, w.n, 3, out, 15, &used, err, sizeof(err)));
    static const uint32_t want[15] = {4, 4, 4, 4, 4, 0, 1, 2,
                                      3, 4, 5, 6, 7, 6, 6};
    for (int i = 0; i < 15; i++)
        ASSERT_EQ_INT(want[i], out[i]);
    ASSERT_EQ_INT(w.n, used);
    /* the scan without storing: first value that is not 4, not 6 */
    size_t at;
    ASSERT_EQ_INT(
        0, parquet_decode_rle_find(w.b, w.n, 3, 15, 4, &at, err, sizeof(err)));
    ASSERT_EQ_INT(5, at);
    ASSERT_EQ_INT(
        0, parquet_decode_rle_find(w.b, w.n, 3, 15, 6, &at, err, sizeof(err)));
    ASSERT_EQ_INT(0, at);
    ASSERT_EQ_INT(
        0, parquet_decode_rle_find(w.b, w.n, 3, 5, 4, &at, err, sizeof(err)));
    ASSERT_EQ_INT(5, at); /* all 5 asked for are 4 */
    ASSERT_EQ_INT(0, parquet_decode_rle_find(w.b + 6, w.n - 6, 3, 2, 6, &at,
                                             err, sizeof(err)));
    ASSERT_EQ_INT(2, at);
    /* fewer values than the runs hold: fine; more: an error */
    ASSERT_EQ_INT(
        0, parquet_decode_rle(w.b, w.n, 3, out, 7, NULL, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_CORRUPT, parquet_decode_rle(w.b, w.n, 3, out, 16, NULL,
                                                  err, sizeof(err)));
    /* every truncation fails cleanly (the last bytes of the bit-packed run
     * cut: the values whose bits are there still decode) */
    for (size_t cut = 0; cut < w.n; cut++) {
        uint8_t *c = xmalloc(cut ? cut : 1);
        memcpy(c, w.b, cut);
        ASSERT_EQ_INT(ERR_CORRUPT, parquet_decode_rle(c, cut, 3, out, 15, NULL,
                                                      err, sizeof(err)));
        free(c);
    }
    free(w.b);
}

TEST(rle_widths_0_to_32_round_trip)
{
    for (int bw = 0; bw <= 32; bw++) {
        uint32_t vals[40], out[40];
        uint64_t mask = bw == 32 ? 0xffffffffu : (UINT64_C(1) << bw) - 1;
        for (int i = 0; i < 40; i++)
            vals[i] = (uint32_t)(((uint64_t)i * 2654435761u) & mask);
        /* one bit-packed run of 5 groups (40 values) */
        struct w w = {0};
        varint(&w, 5 << 1 | 1);
        uint8_t bytes[5 * 32] = {0};
        for (int i = 0; i < 40; i++)
            for (int b = 0; b < bw; b++)
                if (vals[i] >> b & 1)
                    bytes[(i * bw + b) / 8] |=
                        (uint8_t)(1 << ((i * bw + b) % 8));
        put(&w, bytes, (size_t)(5 * bw));
        /* and an RLE run of the max value */
        varint(&w, 3 << 1);
        for (int k = 0; k < (bw + 7) / 8; k++)
            u8(&w, (unsigned)(mask >> (8 * k)) & 0xff);
        char err[128];
        uint32_t all[43];
        ASSERT_EQ_INT(0, parquet_decode_rle(w.b, w.n, bw, all, 43, NULL, err,
                                            sizeof(err)));
        memcpy(out, all, sizeof(out));
        for (int i = 0; i < 40; i++)
            ASSERT_EQ_U64(vals[i], out[i]);
        ASSERT_EQ_U64(mask, all[42]);
        free(w.b);
    }
    char err[128];
    uint32_t o;
    static const uint8_t wide[] = {2 << 1, 0x09}; /* 9 does not fit 3 bits */
    ASSERT_EQ_INT(ERR_CORRUPT, parquet_decode_rle(wide, 2, 3, &o, 1, NULL, err,
                                                  sizeof(err)));
    ASSERT_EQ_INT(ERR_CORRUPT, parquet_decode_rle(wide, 2, 33, &o, 1, NULL, err,
                                                  sizeof(err)));
}

/* ----------------------------------------------------------- delta */

/* DELTA_BINARY_PACKED encoder for the round trip: blocks of 128 values in 4
 * miniblocks of 32, widths computed per miniblock. */
static struct w delta_encode(const int64_t *v, size_t n)
{
    struct w w = {0};
    varint(&w, 128);
    varint(&w, 4);
    varint(&w, n);
    zz(&w, n ? v[0] : 0);
    for (size_t i = 1; i < n; i += 128) {
        size_t k = n - i < 128 ? n - i : 128;
        uint64_t d[128];
        int64_t min = INT64_MAX;
        for (size_t j = 0; j < k; j++) {
            d[j] = (uint64_t)v[i + j] - (uint64_t)v[i + j - 1];
            if ((int64_t)d[j] < min)
                min = (int64_t)d[j];
        }
        zz(&w, min);
        int widths[4] = {0};
        for (size_t j = 0; j < 128; j++) {
            uint64_t rel = j < k ? d[j] - (uint64_t)min : 0;
            int bw = 0;
            while (bw < 64 && (rel >> bw))
                bw++;
            if (bw > widths[j / 32])
                widths[j / 32] = bw;
        }
        for (int m = 0; m < 4; m++)
            u8(&w, (unsigned)widths[m]);
        for (int m = 0; m < 4 && (size_t)m * 32 < k; m++) {
            uint8_t bytes[32 * 8] = {0};
            for (size_t j = 0; j < 32; j++) {
                size_t at = (size_t)m * 32 + j;
                uint64_t rel = at < k ? d[at] - (uint64_t)min : 0;
                for (int b = 0; b < widths[m]; b++)
                    if (rel >> b & 1)
                        bytes[(j * (size_t)widths[m] + (size_t)b) / 8] |=
                            (uint8_t)(1
                                      << ((j * (size_t)widths[m] + (size_t)b) %
                                          8));
            }
            put(&w, bytes, (size_t)widths[m] * 4);
        }
    }
    return w;
}

TEST(delta_spec_example)
{
    /* Encodings.md's example 1: 1 2 3 4 5 -> min delta 1, widths 0 */
    static const uint8_t ex1[] = {0x80, 0x01, 0x04, 0x05, 0x02,
                                  0x02, 0,    0,    0,    0};
    int64_t out[8];
    char err[128];
    size_t used;
    ASSERT_EQ_INT(0, parquet_decode_delta(ex1, sizeof(ex1), 0, out, 5, &used,
                                          err, sizeof(err)));
    for (int i = 0; i < 5; i++)
        ASSERT_EQ_INT(i + 1, out[i]);
    ASSERT_EQ_INT(sizeof(ex1), used);
    /* example 2: 7 5 3 1 2 3 4 5: deltas -2 -2 -2 1 1 1 1, min -2, relative
     * 0 0 0 3 3 3 3 at 2 bits = 0xc0 0xff, padded to 8 bytes */
    static const uint8_t ex2[] = {0x80, 0x01, 0x04, 0x08, 0x0e, 0x03, 2, 0, 0,
                                  0,    0xc0, 0xff, 0,    0,    0,    0, 0, 0};
    static const int64_t want[] = {7, 5, 3, 1, 2, 3, 4, 5};
    ASSERT_EQ_INT(0, parquet_decode_delta(ex2, sizeof(ex2), 0, out, 8, &used,
                                          err, sizeof(err)));
    for (int i = 0; i < 8; i++)
        ASSERT_EQ_INT(want[i], out[i]);
    /* asking for more values than the header has */
    ASSERT_EQ_INT(ERR_CORRUPT, parquet_decode_delta(ex2, sizeof(ex2), 0, out, 9,
                                                    NULL, err, sizeof(err)));
    /* block size not a multiple of 128 */
    static const uint8_t bad[] = {0x40, 0x04, 0x01, 0x02};
    ASSERT_EQ_INT(ERR_CORRUPT, parquet_decode_delta(bad, sizeof(bad), 0, out, 1,
                                                    NULL, err, sizeof(err)));
}

TEST(delta_round_trip_wrapping_and_truncation)
{
    static int64_t v[1000], out[1000];
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 1000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v[i] = i < 300   ? (int64_t)(i * 5 + 100) /* small, sorted */
               : i < 600 ? (int64_t)x             /* any 64-bit value: wraps */
                         : (int64_t)(x % 1000);
    }
    v[700] = INT64_MIN, v[701] = INT64_MAX, v[702] = INT64_MIN;
    struct w w = delta_encode(v, 1000);
    char err[128];
    size_t used;
    ASSERT_EQ_INT(0, parquet_decode_delta(w.b, w.n, 0, out, 1000, &used, err,
                                          sizeof(err)));
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ_INT(v[i], out[i]);
    ASSERT_EQ_INT(w.n, used);
    /* every truncation: an error, except inside the padding of the last
     * miniblock (some writers leave it out), where the values are all there */
    int errors = 0;
    for (size_t cut = 0; cut < w.n; cut++) {
        uint8_t *c = xmalloc(cut ? cut : 1);
        memcpy(c, w.b, cut);
        memset(out, 0, sizeof(out));
        if (parquet_decode_delta(c, cut, 0, out, 1000, NULL, err,
                                 sizeof(err)) == 0) {
            ASSERT_TRUE(cut > w.n - 32 * 8);
            for (int i = 0; i < 1000; i++)
                ASSERT_EQ_INT(v[i], out[i]);
        } else {
            errors++;
        }
        free(c);
    }
    ASSERT_TRUE(errors > (int)w.n - 32 * 8);
    free(w.b);
    /* INT32: the writer's arithmetic wraps at 32 bits */
    int64_t v32[5] = {INT32_MAX, INT32_MIN, 0, -1, INT32_MAX};
    struct w w32 = {0};
    varint(&w32, 128), varint(&w32, 4), varint(&w32, 5), zz(&w32, INT32_MAX);
    /* deltas as the writer computes them in int32: 1 (wraps), 2^31, -1, ... */
    int32_t d[4];
    for (int i = 0; i < 4; i++)
        d[i] = (int32_t)((uint32_t)v32[i + 1] - (uint32_t)v32[i]);
    int32_t min = d[0];
    for (int i = 1; i < 4; i++)
        if (d[i] < min)
            min = d[i];
    zz(&w32, min);
    u8(&w32, 32), u8(&w32, 0), u8(&w32, 0), u8(&w32, 0);
    for (int j = 0; j < 32; j++)
        le32w(&w32, j < 4 ? (uint32_t)d[j] - (uint32_t)min : 0);
    ASSERT_EQ_INT(0, parquet_decode_delta(w32.b, w32.n, 1, out, 5, NULL, err,
                                          sizeof(err)));
    for (int i = 0; i < 5; i++)
        ASSERT_EQ_INT(v32[i], out[i]);
    free(w32.b);
}

/* --------------------------------------------------- Parquet files */

TEST(parquet_required_plain_v1)
{
    int64_t vals[] = {5, 3, 9, 1, 1};
    struct w body = plain64(vals, 5);
    struct tpage pg = {PT_DATA, body.b, body.n, body.n, 5, 0, 0, 0, 0};
    struct w f = build(&REQ64, &pg, 1);
    struct parquet_read_result res;
    char err[256];
    ASSERT_EQ_INT(0, read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    ASSERT_EQ_INT(5, res.count);
    for (int i = 0; i < 5; i++)
        ASSERT_EQ_INT(vals[i], res.values[i]);
    ASSERT_EQ_INT(1, res.row_groups);
    ASSERT_EQ_INT(1, res.pages);
    parquet_read_result_free(&res);
    /* names: any case when unique; a missing one lists the columns */
    ASSERT_EQ_INT(0, read_copy(f.b, f.n, "POSITION", &res, err, sizeof(err)));
    parquet_read_result_free(&res);
    ASSERT_EQ_INT(ERR_NOTFOUND,
                  read_copy(f.b, f.n, "pos", &res, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "no column 'pos' (columns: position)") != NULL);
    free(f.b);
    free(body.b);
}

TEST(parquet_optional_second_column_unknown_fields)
{
    int64_t vals[] = {10, 20, 30};
    struct w body = {0};
    def_all_present(&body, 3, 1);
    struct w pv = plain64(vals, 3);
    put(&body, pv.b, pv.n);
    struct tpage pg = {PT_DATA, body.b, body.n, body.n, 3, 0, 0, 0, 0};
    struct tfile tf = OPT64;
    tf.other_first = 1;
    tf.junk = 1;
    struct w f = build(&tf, &pg, 1);
    struct parquet_read_result res;
    char err[256];
    ASSERT_EQ_INT(0, read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    ASSERT_EQ_INT(3, res.count);
    ASSERT_EQ_INT(30, res.values[2]);
    parquet_read_result_free(&res);
    ASSERT_EQ_INT(ERR_INVAL,
                  read_copy(f.b, f.n, "other", &res, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "BYTE_ARRAY, not INT64 or INT32") != NULL);
    free(f.b);
    /* after a MAP column: its two leaves come first in every row group */
    tf.map_first = 1;
    f = build(&tf, &pg, 1);
    ASSERT_EQ_INT(0, read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    ASSERT_EQ_INT(3, res.count);
    ASSERT_EQ_INT(20, res.values[1]);
    parquet_read_result_free(&res);
    ASSERT_EQ_INT(ERR_INVAL,
                  read_copy(f.b, f.n, "headers", &res, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "is a group (nested)") != NULL);
    ASSERT_EQ_INT(ERR_NOTFOUND,
                  read_copy(f.b, f.n, "key", &res, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "(columns: other, headers, position)") != NULL);
    free(f.b);
    free(body.b);
    free(pv.b);
}

TEST(parquet_null_names_its_row)
{
    /* 4 rows, the third null: levels 1 1 0 1 bit-packed in one group */
    struct w body = {0}, lv = {0};
    varint(&lv, 1 << 1 | 1);
    u8(&lv, 0x0b); /* bits 1,1,0,1 */
    le32w(&body, (uint32_t)lv.n);
    put(&body, lv.b, lv.n);
    int64_t vals[] = {1, 2, 4};
    struct w pv = plain64(vals, 3);
    put(&body, pv.b, pv.n);
    struct tpage pg = {PT_DATA, body.b, body.n, body.n, 4, 0, 0, 0, 0};
    struct w f = build(&OPT64, &pg, 1);
    struct parquet_read_result res;
    char err[256];
    ASSERT_EQ_INT(ERR_INVAL,
                  read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "column 'position' is null in row 3") != NULL);
    free(f.b);
    free(body.b);
    free(lv.b);
    free(pv.b);
}

TEST(parquet_dictionary_pages)
{
    int64_t dict[] = {100, 200, 300};
    struct w d = plain64(dict, 3);
    /* indices 2 0 1 1 1 1 1 1 1 1 at bit width 2: bit-packed 8, RLE 2 x 1 */
    struct w idx = {0};
    u8(&idx, 2);
    varint(&idx, 1 << 1 | 1);
    u8(&idx, 0x52), u8(&idx, 0x55); /* 2,0,1,1 | 1,1,1,1 */
    varint(&idx, 2 << 1);
    u8(&idx, 1);
    struct w body = {0};
    def_all_present(&body, 10, 1);
    put(&body, idx.b, idx.n);
    struct tpage pg[2] = {{PT_DICT, d.b, d.n, d.n, 3, 0, 0, 0, 0},
                          {PT_DATA, body.b, body.n, body.n, 10, 8, 0, 0, 0}};
    struct w f = build(&OPT64, pg, 2);
    struct parquet_read_result res;
    char err[256];
    ASSERT_EQ_INT(0, read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    ASSERT_EQ_INT(10, res.count);
    static const int64_t want[] = {300, 100, 200, 200, 200,
                                   200, 200, 200, 200, 200};
    for (int i = 0; i < 10; i++)
        ASSERT_EQ_INT(want[i], res.values[i]);
    ASSERT_EQ_INT(1, res.dict_pages);
    parquet_read_result_free(&res);
    free(f.b);
    /* PLAIN_DICTIONARY (2), as parquet-mr's v1 writer says; an index past the
     * dictionary is an error */
    pg[1].enc = 2;
    body.b[body.n - 1] = 3;
    f = build(&OPT64, pg, 2);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "dictionary index 3 of 3") != NULL);
    free(f.b);
    /* no dictionary page at all */
    f = build(&OPT64, pg + 1, 1);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    free(f.b);
    free(d.b);
    free(idx.b);
    free(body.b);
}

TEST(parquet_dictionary_fallback_to_plain)
{
    /* parquet-mr (Spark, Hive, Athena's writers): a dictionary page, pages of
     * PLAIN_DICTIONARY indices, and when the dictionary grew too big, PLAIN
     * pages in the same column chunk */
    int64_t dict[] = {11, 22};
    struct w d = plain64(dict, 2);
    struct w p1 = {0};
    def_all_present(&p1, 4, 1);
    u8(&p1, 1);
    varint(&p1, 1 << 1 | 1);
    u8(&p1, 0x06); /* 0 1 1 0 */
    int64_t rest[] = {33, 44, 55};
    struct w pv = plain64(rest, 3);
    struct w p2 = {0};
    def_all_present(&p2, 3, 1);
    put(&p2, pv.b, pv.n);
    struct tpage pg[3] = {{PT_DICT, d.b, d.n, d.n, 2, 0, 0, 0, 0},
                          {PT_DATA, p1.b, p1.n, p1.n, 4, 2, 0, 0, 0},
                          {PT_DATA, p2.b, p2.n, p2.n, 3, 0, 0, 0, 0}};
    struct w f = build(&OPT64, pg, 3);
    struct parquet_read_result res;
    char err[256];
    ASSERT_EQ_INT(0, read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    static const int64_t want[] = {11, 22, 22, 11, 33, 44, 55};
    ASSERT_EQ_INT(7, res.count);
    for (int i = 0; i < 7; i++)
        ASSERT_EQ_INT(want[i], res.values[i]);
    ASSERT_EQ_INT(2, res.pages);
    parquet_read_result_free(&res);
    free(f.b);
    free(d.b);
    free(p1.b);
    free(p2.b);
    free(pv.b);
}

/* Compresses src with codec (1 snappy, 2 gzip, 6 zstd). */
static struct w compress_with(int codec, const uint8_t *src, size_t n)
{
    struct w w = {0};
    w.cap = n * 2 + 1024;
    w.b = xmalloc(w.cap);
    if (codec == 1) {
        size_t out = w.cap;
        ASSERT_EQ_INT(SNAPPY_OK,
                      snappy_compress((const char *)src, n, (char *)w.b, &out));
        w.n = out;
    } else if (codec == 2) {
        z_stream z;
        memset(&z, 0, sizeof(z));
        ASSERT_EQ_INT(Z_OK, deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8,
                                         Z_DEFAULT_STRATEGY));
        z.next_in = (Bytef *)(uintptr_t)src;
        z.avail_in = (uInt)n;
        z.next_out = w.b;
        z.avail_out = (uInt)w.cap;
        ASSERT_EQ_INT(Z_STREAM_END, deflate(&z, Z_FINISH));
        w.n = w.cap - z.avail_out;
        deflateEnd(&z);
    } else {
        size_t out = ZSTD_compress(w.b, w.cap, src, n, 3);
        ASSERT_TRUE(!ZSTD_isError(out));
        w.n = out;
    }
    return w;
}

TEST(parquet_codecs_v1)
{
    static int64_t vals[3000];
    for (int i = 0; i < 3000; i++)
        vals[i] = 1000000 + i * 7;
    struct w body = {0};
    def_all_present(&body, 3000, 1);
    struct w pv = plain64(vals, 3000);
    put(&body, pv.b, pv.n);
    static const int codecs[] = {1, 2, 6};
    for (size_t c = 0; c < ARRAY_LEN(codecs); c++) {
        struct w z = compress_with(codecs[c], body.b, body.n);
        struct tpage pg = {PT_DATA, z.b, z.n, body.n, 3000, 0, 0, 0, 0};
        struct tfile tf = OPT64;
        tf.codec = codecs[c];
        struct w f = build(&tf, &pg, 1);
        struct parquet_read_result res;
        char err[256];
        ASSERT_EQ_INT(0,
                      read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
        ASSERT_EQ_INT(3000, res.count);
        for (int i = 0; i < 3000; i++)
            ASSERT_EQ_INT(vals[i], res.values[i]);
        parquet_read_result_free(&res);
        /* the header claims more bytes than the page really holds */
        free(f.b);
        pg.usize = body.n + 1;
        f = build(&tf, &pg, 1);
        ASSERT_EQ_INT(ERR_CORRUPT,
                      read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
        free(f.b);
        /* or fewer */
        pg.usize = body.n - 1;
        f = build(&tf, &pg, 1);
        ASSERT_EQ_INT(ERR_CORRUPT,
                      read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
        free(f.b);
        /* or 1 GiB: refused without allocating it */
        pg.usize = (size_t)1 << 30;
        f = build(&tf, &pg, 1);
        ASSERT_EQ_INT(ERR_CORRUPT,
                      read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
        free(f.b);
        free(z.b);
    }
    /* LZ4: not supported, and said so */
    struct tpage pg = {PT_DATA, body.b, body.n, body.n, 3000, 0, 0, 0, 0};
    struct tfile tf = OPT64;
    tf.codec = 5;
    struct w f = build(&tf, &pg, 1);
    struct parquet_read_result res;
    char err[256];
    ASSERT_EQ_INT(ERR_INVAL,
                  read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "codec LZ4 is not supported") != NULL);
    free(f.b);
    free(body.b);
    free(pv.b);
}

TEST(parquet_data_page_v2_delta_zstd_and_uncompressed)
{
    static int64_t vals[500];
    for (int i = 0; i < 500; i++)
        vals[i] = 7 + (int64_t)i * 3 - (i % 5);
    struct w dv = delta_encode(vals, 500);
    struct w lv = {0};
    def_all_present(&lv, 500, 0); /* v2: no length prefix */
    for (int compressed = 0; compressed < 2; compressed++) {
        struct w z = compressed ? compress_with(6, dv.b, dv.n) : (struct w){0};
        struct w body = {0};
        put(&body, lv.b, lv.n);
        if (compressed)
            put(&body, z.b, z.n);
        else
            put(&body, dv.b, dv.n);
        struct tpage pg = {PT_V2, body.b, body.n,        lv.n + dv.n, 500,
                           5,     0,      (int32_t)lv.n, !compressed};
        struct tfile tf = OPT64;
        tf.codec =
            6; /* the chunk says ZSTD; an is_compressed=false page is not */
        struct w f = build(&tf, &pg, 1);
        struct parquet_read_result res;
        char err[256];
        ASSERT_EQ_INT(0,
                      read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
        ASSERT_EQ_INT(500, res.count);
        ASSERT_EQ_INT(1, res.pages_v2);
        for (int i = 0; i < 500; i++)
            ASSERT_EQ_INT(vals[i], res.values[i]);
        parquet_read_result_free(&res);
        free(f.b);
        /* level lengths larger than the page */
        pg.def_len = (int32_t)body.n + 1;
        f = build(&tf, &pg, 1);
        ASSERT_EQ_INT(ERR_CORRUPT,
                      read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
        free(f.b);
        free(body.b);
        free(z.b);
    }
    free(dv.b);
    free(lv.b);
}

TEST(parquet_int32_widened)
{
    struct w body = {0};
    int32_t v[] = {-5, 0, INT32_MAX, 12};
    for (int i = 0; i < 4; i++)
        le32w(&body, (uint32_t)v[i]);
    struct tpage pg = {PT_DATA, body.b, body.n, body.n, 4, 0, 0, 0, 0};
    struct tfile tf = REQ64;
    tf.ptype = 1;
    struct w f = build(&tf, &pg, 1);
    struct parquet_read_result res;
    char err[256];
    ASSERT_EQ_INT(0, read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    ASSERT_EQ_INT(4, res.count);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ_INT(v[i], res.values[i]);
    parquet_read_result_free(&res);
    free(f.b);
    free(body.b);
}

TEST(parquet_footer_hostile)
{
    int64_t vals[] = {1, 2, 3};
    struct w body = plain64(vals, 3);
    struct tpage pg = {PT_DATA, body.b, body.n, body.n, 3, 0, 0, 0, 0};
    struct w f = build(&REQ64, &pg, 1);
    struct parquet_read_result res;
    char err[256];
    /* too short, no magic, bad footer lengths */
    ASSERT_EQ_INT(ERR_CORRUPT,
                  read_copy(f.b, 4, "position", &res, err, sizeof(err)));
    uint8_t *c = xmemdup(f.b, f.n);
    memcpy(c + f.n - 8, "\xff\xff\xff\xff", 4);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  read_copy(c, f.n, "position", &res, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "footer length") != NULL);
    memcpy(c + f.n - 8, "\0\0\0\0", 4);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  read_copy(c, f.n, "position", &res, err, sizeof(err)));
    memcpy(c + f.n - 4, "PARE", 4);
    ASSERT_EQ_INT(ERR_INVAL,
                  read_copy(c, f.n, "position", &res, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "encrypted") != NULL);
    free(c);
    /* every truncation of the file: an error, never a crash or an overread */
    for (size_t cut = 0; cut < f.n; cut++)
        ASSERT_TRUE(read_copy(f.b, cut, "position", &res, err, sizeof(err)) <
                    0);
    free(f.b);
    free(body.b);
}

TEST(parquet_every_byte_changed)
{
    /* an optional dictionary column with junk fields: every single byte set to
     * a few values; each read must end (0 or an error), ASan-clean */
    int64_t dict[] = {100, 200};
    struct w d = plain64(dict, 2);
    struct w idx = {0};
    u8(&idx, 1);
    varint(&idx, 1 << 1 | 1);
    u8(&idx, 0x5a);
    struct w body = {0};
    def_all_present(&body, 8, 1);
    put(&body, idx.b, idx.n);
    struct tpage pg[2] = {{PT_DICT, d.b, d.n, d.n, 2, 0, 0, 0, 0},
                          {PT_DATA, body.b, body.n, body.n, 8, 8, 0, 0, 0}};
    struct tfile tf = OPT64;
    tf.junk = 1;
    tf.other_first = 1;
    struct w f = build(&tf, pg, 2);
    struct parquet_read_result res;
    char err[256];
    ASSERT_EQ_INT(0, read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    ASSERT_EQ_INT(8, res.count);
    parquet_read_result_free(&res);
    static const uint8_t repl[] = {0x00, 0x01, 0x7f, 0x80,
                                   0xff, 0x19, 0x1c, 0x15};
    int ok = 0, failed = 0;
    for (size_t i = 0; i < f.n; i++) {
        for (size_t k = 0; k < ARRAY_LEN(repl); k++) {
            uint8_t *c = xmemdup(f.b, f.n);
            c[i] = repl[k];
            if (read_copy(c, f.n, "position", &res, err, sizeof(err)) == 0) {
                ok++;
                parquet_read_result_free(&res);
            } else {
                failed++;
            }
            free(c);
        }
    }
    ASSERT_TRUE(ok > 0 && failed > 0);
    free(f.b);
    free(d.b);
    free(idx.b);
    free(body.b);
}

TEST(parquet_absurd_counts)
{
    /* a page claiming 2^31-1 values in 8 bytes, and a chunk claiming more
     * values than the reader takes */
    int64_t one = 1;
    struct w body = plain64(&one, 1);
    struct tpage pg = {PT_DATA, body.b, body.n, body.n, INT32_MAX, 0, 0, 0, 0};
    struct w f = build(&REQ64, &pg, 1);
    struct parquet_read_result res;
    char err[256];
    ASSERT_TRUE(read_copy(f.b, f.n, "position", &res, err, sizeof(err)) < 0);
    free(f.b);
    /* a footer row count that the row groups do not hold */
    struct tfile tf = REQ64;
    tf.rows = (int64_t)1 << 40;
    pg.nvalues = 1;
    f = build(&tf, &pg, 1);
    ASSERT_EQ_INT(ERR_CORRUPT,
                  read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "rows") != NULL);
    free(f.b);
    /* a dictionary page of one value and one RLE run of 2^29 rows: a valid
     * encoding, but past the reader's limit, refused before any allocation */
    struct w d = plain64(&one, 1);
    struct w idx = {0};
    u8(&idx, 1);
    varint(&idx, (uint64_t)1 << 30);
    u8(&idx, 0);
    struct tpage pgs[2] = {{PT_DICT, d.b, d.n, d.n, 1, 0, 0, 0, 0},
                           {PT_DATA, idx.b, idx.n, idx.n, 1 << 29, 8, 0, 0, 0}};
    f = build(&REQ64, pgs, 2);
    ASSERT_EQ_INT(ERR_LIMIT,
                  read_copy(f.b, f.n, "position", &res, err, sizeof(err)));
    free(d.b);
    free(idx.b);
    free(f.b);
    free(body.b);
}

/* ------------------------------------------------------------- CSV */

static int csv(const char *text, const char *col, uint64_t **v, size_t *n,
               char *err, size_t errlen)
{
    /* an exactly-sized copy without a NUL: the parser must not need one */
    size_t len = strlen(text);
    char *c = xmalloc(len ? len : 1);
    memcpy(c, text, len);
    int rc = positions_parse_csv(c, len, col, v, n, err, errlen);
    free(c);
    return rc;
}

TEST(csv_duckdb_header_and_other_columns)
{
    uint64_t *v;
    size_t n;
    char err[256];
    ASSERT_EQ_INT(0, csv("type,position,payload\n"
                         "order.created,17,\"a, \"\"quoted\"\"\nline\"\n"
                         "\n"
                         "order.paid,5,plain\r\n"
                         "order.paid, 9 ,\n",
                         "position", &v, &n, err, sizeof(err)));
    ASSERT_EQ_INT(3, n);
    ASSERT_EQ_INT(17, v[0]);
    ASSERT_EQ_INT(5, v[1]);
    ASSERT_EQ_INT(9, v[2]);
    free(v);
}

TEST(csv_athena_quoted_bom_crlf)
{
    uint64_t *v;
    size_t n;
    char err[256];
    ASSERT_EQ_INT(0, csv("\xef\xbb\xbf\"Position\",\"type\"\r\n\"42\","
                         "\"x\"\r\n\r\n\"7\",\"y\"\r\n",
                         "position", &v, &n, err, sizeof(err)));
    ASSERT_EQ_INT(2, n);
    ASSERT_EQ_INT(42, v[0]);
    ASSERT_EQ_INT(7, v[1]);
    free(v);
}

TEST(csv_headerless_single_column)
{
    uint64_t *v;
    size_t n;
    char err[256];
    ASSERT_EQ_INT(0,
                  csv("\n  \n3\n1\n\n2", "position", &v, &n, err, sizeof(err)));
    ASSERT_EQ_INT(3, n);
    ASSERT_EQ_INT(3, v[0]);
    ASSERT_EQ_INT(2, v[2]);
    free(v);
    ASSERT_EQ_INT(0, csv("", "position", &v, &n, err, sizeof(err)));
    ASSERT_EQ_INT(0, n);
    ASSERT_EQ_INT(0, csv("position\n", "position", &v, &n, err, sizeof(err)));
    ASSERT_EQ_INT(0, n);
}

TEST(csv_errors_name_the_line)
{
    uint64_t *v;
    size_t n;
    char err[256];
    ASSERT_EQ_INT(ERR_INVAL, csv("position\n1\n\n2x\n", "position", &v, &n, err,
                                 sizeof(err)));
    ASSERT_EQ_STR("line 4: position value '2x' is not an integer", err);
    ASSERT_EQ_INT(ERR_INVAL, csv("a,position\nx,1\ny,\n", "position", &v, &n,
                                 err, sizeof(err)));
    ASSERT_EQ_STR("line 3: position value '' is empty (a null?)", err);
    ASSERT_EQ_INT(ERR_INVAL, csv("a,position\nx,1\ny\n", "position", &v, &n,
                                 err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "line 3: no position value") != NULL);
    ASSERT_EQ_INT(ERR_INVAL,
                  csv("1\n0\n", "position", &v, &n, err, sizeof(err)));
    ASSERT_EQ_STR("line 2: position value '0' is not positive", err);
    ASSERT_EQ_INT(ERR_INVAL, csv("-4\n", "position", &v, &n, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "line 1:") != NULL);
    ASSERT_EQ_INT(ERR_INVAL, csv("position\n9223372036854775808\n", "position",
                                 &v, &n, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "too large") != NULL);
    ASSERT_EQ_INT(0, csv("position\n9223372036854775807\n", "position", &v, &n,
                         err, sizeof(err)));
    free(v);
    ASSERT_EQ_INT(ERR_INVAL, csv("position\n\"12\n", "position", &v, &n, err,
                                 sizeof(err)));
    ASSERT_EQ_STR("line 2: unterminated quote", err);
    ASSERT_EQ_INT(ERR_NOTFOUND,
                  csv("type,pos\nx,1\n", "position", &v, &n, err, sizeof(err)));
    ASSERT_EQ_STR(
        "line 1: no column 'position' in the header (columns: type, pos)", err);
    ASSERT_EQ_INT(0, csv("type,pos\nx,1\n", "pos", &v, &n, err, sizeof(err)));
    ASSERT_EQ_INT(1, n);
    free(v);
    /* the line of a record with a quoted newline before it */
    ASSERT_EQ_INT(ERR_INVAL, csv("p,position\n\"a\nb\",1\nq,z\n", "position",
                                 &v, &n, err, sizeof(err)));
    ASSERT_EQ_STR("line 4: position value 'z' is not an integer", err);
}

TEST(sort_unique)
{
    uint64_t v[] = {5, 1, 5, 3, 1, 9, 9};
    size_t n = ARRAY_LEN(v);
    positions_sort_unique(v, &n);
    ASSERT_EQ_INT(4, n);
    ASSERT_EQ_INT(1, v[0]);
    ASSERT_EQ_INT(3, v[1]);
    ASSERT_EQ_INT(5, v[2]);
    ASSERT_EQ_INT(9, v[3]);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f != NULL);
    ASSERT_EQ_INT(n, fwrite(p, 1, n, f));
    ASSERT_EQ_INT(0, fclose(f));
}

TEST(load_tells_the_type_by_content)
{
    char path[512], err[512];
    struct positions ps;
    /* a Parquet file named .csv */
    int64_t vals[] = {30, 10, 20, 10};
    struct w body = plain64(vals, 4);
    struct tpage pg = {PT_DATA, body.b, body.n, body.n, 4, 0, 0, 0, 0};
    struct w f = build(&REQ64, &pg, 1);
    snprintf(path, sizeof(path), "%s/p.csv", test_dir());
    write_file(path, f.b, f.n);
    ASSERT_EQ_INT(0, positions_load(path, NULL, &ps, err, sizeof(err)));
    ASSERT_EQ_STR("parquet", ps.format);
    ASSERT_EQ_INT(3, ps.n);
    ASSERT_EQ_INT(4, ps.rows);
    ASSERT_EQ_INT(10, ps.v[0]);
    ASSERT_EQ_INT(30, ps.v[2]);
    positions_free(&ps);
    free(f.b);
    free(body.b);
    /* a non-positive Parquet value names its row */
    int64_t bad[] = {3, 0};
    body = plain64(bad, 2);
    pg = (struct tpage){PT_DATA, body.b, body.n, body.n, 2, 0, 0, 0, 0};
    f = build(&REQ64, &pg, 1);
    write_file(path, f.b, f.n);
    ASSERT_EQ_INT(ERR_INVAL, positions_load(path, NULL, &ps, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "row 2: position value 0 is not positive") != NULL);
    free(f.b);
    free(body.b);
    /* gzip'ed CSV named .parquet */
    static const char text[] = "position\n4\n2\n4\n";
    struct w z = compress_with(2, (const uint8_t *)text, strlen(text));
    snprintf(path, sizeof(path), "%s/p.parquet", test_dir());
    write_file(path, z.b, z.n);
    ASSERT_EQ_INT(0, positions_load(path, NULL, &ps, err, sizeof(err)));
    ASSERT_EQ_STR("csv.gz", ps.format);
    ASSERT_EQ_INT(2, ps.n);
    positions_free(&ps);
    free(z.b);
    /* a missing file */
    snprintf(path, sizeof(path), "%s/none", test_dir());
    ASSERT_EQ_INT(ERR_IO, positions_load(path, NULL, &ps, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "No such file") != NULL);
}

int main(int argc, char **argv)
{
    return test_main(
        argc, argv,
        (struct test[]){T(thrift_varints_and_zigzag),
                        T(thrift_fields_deltas_long_ids_and_skipping),
                        T(thrift_hostile_lengths_and_nesting),
                        T(rle_hybrid_runs_and_bit_packing),
                        T(rle_widths_0_to_32_round_trip),
                        T(delta_spec_example),
                        T(delta_round_trip_wrapping_and_truncation),
                        T(parquet_required_plain_v1),
                        T(parquet_optional_second_column_unknown_fields),
                        T(parquet_null_names_its_row),
                        T(parquet_dictionary_pages),
                        T(parquet_dictionary_fallback_to_plain),
                        T(parquet_codecs_v1),
                        T(parquet_data_page_v2_delta_zstd_and_uncompressed),
                        T(parquet_int32_widened),
                        T(parquet_footer_hostile),
                        T(parquet_every_byte_changed),
                        T(parquet_absurd_counts),
                        T(csv_duckdb_header_and_other_columns),
                        T(csv_athena_quoted_bom_crlf),
                        T(csv_headerless_single_column),
                        T(csv_errors_name_the_line),
                        T(sort_unique),
                        T(load_tells_the_type_by_content),
                        {0}});
}
