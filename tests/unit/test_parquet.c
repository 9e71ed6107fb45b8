/* The Parquet writer: schema checks, the byte layout (magic, footer length,
 * FileMetaData read back with a small Thrift compact reader below), the same
 * rows giving the same bytes, bad rows and failing callbacks reported with
 * their codes, and a long run cut into several row groups and pages whose
 * values, levels and offsets are decoded again here. */
#include "test.h"

#include <zstd.h>

#include "common.h"
#include "errors.h"
#include "parquet.h"

/* ---- an in-memory file, optionally failing ------------------------------ */

struct sink {
    uint8_t *p;
    size_t len, cap;
    int calls;   /* write calls so far */
    int fail_at; /* 1-based call that fails; 0 = never */
    int code;    /* what the failing call returns */
};

static int sink_write(void *ctx, const void *p, size_t n)
{
    struct sink *s = ctx;
    if (++s->calls == s->fail_at)
        return s->code;
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->p = xrealloc(s->p, s->cap);
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    return 0;
}

static void sink_free(struct sink *s)
{
    free(s->p);
    memset(s, 0, sizeof(*s));
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static int64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return (int64_t)v;
}

/* ---- a Thrift compact reader, just enough to find fields ---------------- */

struct rd {
    const uint8_t *p;
    size_t n, i;
    int bad; /* ran past the end or met an unknown type */
};

static uint64_t rd_varint(struct rd *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->i >= r->n) {
            r->bad = 1;
            return 0;
        }
        uint8_t b = r->p[r->i++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

static int64_t rd_int(struct rd *r)
{
    uint64_t v = rd_varint(r);
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static void rd_skip(struct rd *r, int type);

/* Reads a list header: returns the element count, *elem its type. */
static size_t rd_list(struct rd *r, int *elem)
{
    if (r->i >= r->n) {
        r->bad = 1;
        return 0;
    }
    uint8_t h = r->p[r->i++];
    *elem = h & 0x0f;
    size_t count = h >> 4;
    if (count == 15)
        count = (size_t)rd_varint(r);
    return count;
}

static void rd_skip_struct(struct rd *r)
{
    while (!r->bad) {
        if (r->i >= r->n) {
            r->bad = 1;
            return;
        }
        uint8_t h = r->p[r->i++];
        if (h == 0)
            return;
        if ((h >> 4) == 0)
            rd_int(r); /* long-form field id */
        rd_skip(r, h & 0x0f);
    }
}

static void rd_skip(struct rd *r, int type)
{
    switch (type) {
    case 1: /* bool true/false: in the field header */
    case 2:
        break;
    case 3:
        r->i++;
        break;
    case 4:
    case 5:
    case 6:
        rd_varint(r);
        break;
    case 7:
        r->i += 8;
        break;
    case 8:
        r->i += (size_t)rd_varint(r);
        break;
    case 9:
    case 10: {
        int elem;
        size_t count = rd_list(r, &elem);
        for (size_t k = 0; k < count && !r->bad; k++) {
            if (elem == 1 || elem == 2)
                r->i++; /* a bool element is one byte */
            else
                rd_skip(r, elem);
        }
        break;
    }
    case 12:
        rd_skip_struct(r);
        break;
    default:
        r->bad = 1;
    }
    if (r->i > r->n)
        r->bad = 1;
}

/* Finds field id in the struct whose first field header is at start. Leaves
 * r at the field's value and returns its type (bools: 1 true, 2 false), or
 * -1 if the struct has no such field. */
static int rd_find(struct rd *r, size_t start, int id)
{
    r->i = start;
    int last = 0;
    while (!r->bad && r->i < r->n) {
        uint8_t h = r->p[r->i++];
        if (h == 0)
            return -1;
        int fid = (h >> 4) ? last + (h >> 4) : (int)rd_int(r);
        if (fid == id)
            return h & 0x0f;
        rd_skip(r, h & 0x0f);
        last = fid;
    }
    r->bad = 1;
    return -1;
}

/* The integer field id of the struct at start; -1 when absent. */
static int64_t rd_int_field(struct rd *r, size_t start, int id)
{
    int t = rd_find(r, start, id);
    if (t == 4 || t == 5 || t == 6)
        return rd_int(r);
    return -1;
}

/* The binary field id of the struct at start (*len its length); NULL when
 * absent. */
static const uint8_t *rd_bin_field(struct rd *r, size_t start, int id,
                                   size_t *len)
{
    if (rd_find(r, start, id) != 8)
        return NULL;
    *len = (size_t)rd_varint(r);
    const uint8_t *p = r->p + r->i;
    r->i += *len;
    return r->i <= r->n ? p : NULL;
}

/* Positions the reader on the list field id of the struct at start: returns
 * its element count (-1 when absent); r->i is then the first element. */
static long rd_list_field(struct rd *r, size_t start, int id)
{
    if (rd_find(r, start, id) != 9)
        return -1;
    int elem;
    return (long)rd_list(r, &elem);
}

/* Start offsets of the n struct elements of the list r is positioned on. */
static void rd_elems(struct rd *r, size_t *at, long n)
{
    for (long k = 0; k < n; k++) {
        at[k] = r->i;
        rd_skip_struct(r);
    }
}

/* The footer of a complete file: checks both magics and the length word,
 * returns a reader over the whole file and the FileMetaData start. */
static size_t footer(const struct sink *s, struct rd *r)
{
    ASSERT_TRUE(s->len >= 12);
    ASSERT_EQ_MEM("PAR1", 4, s->p, 4);
    ASSERT_EQ_MEM("PAR1", 4, s->p + s->len - 4, 4);
    uint32_t meta = le32(s->p + s->len - 8);
    ASSERT_TRUE(meta > 0 && meta <= s->len - 12);
    *r = (struct rd){s->p, s->len - 8, 0, 0};
    size_t start = s->len - 8 - meta;
    /* The metadata ends exactly at the length word. */
    r->i = start;
    rd_skip_struct(r);
    ASSERT_TRUE(!r->bad);
    ASSERT_EQ_U64(s->len - 8, r->i);
    return start;
}

/* ---- the columns the tests write ---------------------------------------- */

enum { C_POS, C_NAME, C_TIME, C_KEY, C_MAP, C_BODY, NCOLS };

static const struct parquet_column COLS[NCOLS] = {
    {"pos", PARQUET_INT64, 0, 1},         {"name", PARQUET_STRING, 0, 1},
    {"time", PARQUET_TIMESTAMP_MS, 1, 1}, {"key", PARQUET_STRING, 1, 0},
    {"tags", PARQUET_MAP_STRING, 1, 0},   {"body", PARQUET_BINARY, 0, 0},
};
#define NLEAVES 7 /* the map is two */

static const char KEYS[] = "abc";

/* One row, every value a function of i. Returns end_row's code. */
static int put_row(struct parquet_writer *w, uint64_t i, char *err,
                   size_t errlen)
{
    char name[32], key[32], v[3][16];
    uint8_t body[64];
    parquet_put_i64(w, C_POS, (int64_t)(i * 13 % 1001) - 500);
    parquet_put_bytes(w, C_NAME, name,
                      (size_t)snprintf(name, sizeof(name), "n%llu",
                                       (unsigned long long)(i % 97)));
    if (i % 4 == 3)
        parquet_put_null(w, C_TIME);
    else
        parquet_put_i64(w, C_TIME, 1700000000000LL + (int64_t)i);
    if (i % 3 == 0)
        parquet_put_null(w, C_KEY);
    else
        parquet_put_bytes(
            w, C_KEY, key,
            (size_t)snprintf(key, sizeof(key), "k%llu", (unsigned long long)i));
    size_t npairs = i % 5;
    if (npairs == 4) {
        parquet_put_null(w, C_MAP);
    } else {
        struct parquet_kv kv[3];
        for (size_t j = 0; j < npairs; j++) {
            kv[j] = (struct parquet_kv){&KEYS[j], 1, v[j], 0};
            kv[j].value_len =
                (size_t)snprintf(v[j], sizeof(v[j]), "%zu", j + i);
            if ((i + j) % 3 == 0)
                kv[j].value = NULL;
        }
        parquet_put_map(w, C_MAP, kv, npairs);
    }
    size_t blen = i % 64;
    for (size_t j = 0; j < blen; j++)
        body[j] = (uint8_t)(i * 7 + j);
    parquet_put_bytes(w, C_BODY, body, blen);
    return parquet_end_row(w, err, errlen);
}

/* Writes rows rows into s with opt; asserts every step succeeds. */
static void write_file(struct sink *s, uint64_t rows,
                       const struct parquet_options *opt)
{
    char err[256] = "";
    struct parquet_writer *w = NULL;
    ASSERT_EQ_INT(0, parquet_writer_new(&w, COLS, NCOLS, opt, sink_write, s,
                                        err, sizeof(err)));
    for (uint64_t i = 0; i < rows; i++) {
        int rc = put_row(w, i, err, sizeof(err));
        if (rc != 0)
            fprintf(stderr, "  row %llu: %s\n", (unsigned long long)i, err);
        ASSERT_EQ_INT(0, rc);
    }
    ASSERT_EQ_INT(0, parquet_writer_finish(w, err, sizeof(err)));
    ASSERT_EQ_U64(rows, parquet_rows(w));
    ASSERT_EQ_U64(s->len, parquet_bytes_written(w));
    ASSERT_EQ_U64(0, parquet_buffered_bytes(w));
    parquet_writer_free(w);
}

/* ---- tests -------------------------------------------------------------- */

TEST(new_rejects_bad_schemas)
{
    struct sink s = {0};
    struct parquet_writer *w = (void *)&s;
    char err[256] = "";
    ASSERT_EQ_INT(ERR_INVAL, parquet_writer_new(&w, COLS, 0, NULL, sink_write,
                                                &s, err, sizeof(err)));
    ASSERT_TRUE(w == NULL);
    ASSERT_TRUE(strstr(err, "0 columns") != NULL);

    struct parquet_column many[65];
    char names[65][8];
    for (int i = 0; i < 65; i++) {
        snprintf(names[i], sizeof(names[i]), "c%d", i);
        many[i] = (struct parquet_column){names[i], PARQUET_INT64, 0, 0};
    }
    ASSERT_EQ_INT(ERR_INVAL, parquet_writer_new(&w, many, 65, NULL, sink_write,
                                                &s, err, sizeof(err)));
    ASSERT_EQ_INT(0, parquet_writer_new(&w, many, 64, NULL, sink_write, &s, err,
                                        sizeof(err)));
    parquet_writer_free(w);

    struct parquet_column dup[2] = {{"a", PARQUET_INT64, 0, 0},
                                    {"a", PARQUET_STRING, 0, 0}};
    ASSERT_EQ_INT(ERR_INVAL, parquet_writer_new(&w, dup, 2, NULL, sink_write,
                                                &s, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "two columns named a") != NULL);

    struct parquet_column unnamed[1] = {{"", PARQUET_INT64, 0, 0}};
    ASSERT_EQ_INT(ERR_INVAL,
                  parquet_writer_new(&w, unnamed, 1, NULL, sink_write, &s, err,
                                     sizeof(err)));
    struct parquet_options bad_level = {0, 0, 1000};
    ASSERT_EQ_INT(ERR_INVAL,
                  parquet_writer_new(&w, COLS, NCOLS, &bad_level, sink_write,
                                     &s, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "zstd level 1000") != NULL);
    ASSERT_TRUE(w == NULL);
    sink_free(&s);
}

TEST(empty_file_has_magic_schema_and_footer)
{
    struct sink s = {0};
    write_file(&s, 0, NULL);
    struct rd r;
    size_t meta = footer(&s, &r);
    ASSERT_EQ_U64(4, meta); /* no row group: the metadata follows the magic */
    ASSERT_EQ_INT(1, rd_int_field(&r, meta, 1));  /* version */
    ASSERT_EQ_INT(0, rd_int_field(&r, meta, 3));  /* num_rows */
    ASSERT_EQ_INT(0, rd_list_field(&r, meta, 4)); /* row_groups */
    size_t n;
    const uint8_t *by = rd_bin_field(&r, meta, 6, &n);
    ASSERT_EQ_MEM("tincan", 6, by, n);
    ASSERT_EQ_INT(NLEAVES, rd_list_field(&r, meta, 7)); /* column_orders */

    /* The schema: root, 5 plain columns, the map's group, key_value, key,
     * value. */
    long ns = rd_list_field(&r, meta, 2);
    ASSERT_EQ_INT(1 + 5 + 4, ns);
    size_t at[10];
    rd_elems(&r, at, ns);
    ASSERT_EQ_INT(NCOLS, rd_int_field(&r, at[0], 5)); /* num_children */
    const char *want[] = {"schema", "pos",       "name", "time",  "key",
                          "tags",   "key_value", "key",  "value", "body"};
    for (long k = 0; k < ns; k++) {
        const uint8_t *nm = rd_bin_field(&r, at[k], 4, &n);
        ASSERT_EQ_MEM(want[k], strlen(want[k]), nm, n);
    }
    ASSERT_EQ_INT(2, rd_int_field(&r, at[1], 1));  /* pos: INT64 */
    ASSERT_EQ_INT(0, rd_int_field(&r, at[1], 3));  /* REQUIRED */
    ASSERT_EQ_INT(0, rd_int_field(&r, at[2], 6));  /* name: UTF8 */
    ASSERT_EQ_INT(9, rd_int_field(&r, at[3], 6));  /* time: TIMESTAMP_MILLIS */
    ASSERT_EQ_INT(1, rd_int_field(&r, at[3], 3));  /* OPTIONAL */
    ASSERT_EQ_INT(1, rd_int_field(&r, at[5], 6));  /* tags: MAP */
    ASSERT_EQ_INT(2, rd_int_field(&r, at[6], 3));  /* key_value: REPEATED */
    ASSERT_EQ_INT(2, rd_int_field(&r, at[6], 6));  /* MAP_KEY_VALUE */
    ASSERT_EQ_INT(0, rd_int_field(&r, at[7], 3));  /* key: REQUIRED */
    ASSERT_EQ_INT(1, rd_int_field(&r, at[8], 3));  /* value: OPTIONAL */
    ASSERT_EQ_INT(-1, rd_int_field(&r, at[9], 6)); /* body: no converted type */
    /* time's LogicalType is TIMESTAMP(isAdjustedToUTC = true, MILLIS). */
    ASSERT_EQ_INT(12, rd_find(&r, at[3], 10));
    size_t lt = r.i;
    ASSERT_EQ_INT(12, rd_find(&r, lt, 8));
    size_t ts = r.i;
    ASSERT_EQ_INT(1, rd_find(&r, ts, 1));
    ASSERT_EQ_INT(12, rd_find(&r, ts, 2));
    ASSERT_EQ_INT(12, rd_find(&r, r.i, 1));
    ASSERT_TRUE(!r.bad);
    sink_free(&s);
}

TEST(same_rows_give_same_bytes)
{
    struct parquet_options opt = {64 << 10, 8 << 10, 0};
    struct sink a = {0}, b = {0}, c = {0};
    write_file(&a, 3000, &opt);
    write_file(&c, 2999, &opt);
    write_file(&b, 3000, &opt);
    ASSERT_TRUE(a.len > 0);
    ASSERT_EQ_U64(a.len, b.len);
    ASSERT_TRUE(memcmp(a.p, b.p, a.len) == 0);
    ASSERT_TRUE(c.len != a.len || memcmp(a.p, c.p, a.len) != 0);
    sink_free(&a);
    sink_free(&b);
    sink_free(&c);
}

/* Puts every column but skip (and col twice when dup); returns end_row's. */
static int bad_row(struct parquet_writer *w, int skip, int dup, char *err,
                   size_t errlen)
{
    for (int c = 0; c < NCOLS; c++) {
        if (c == skip)
            continue;
        int times = c == dup ? 2 : 1;
        for (int k = 0; k < times; k++) {
            if (c == C_POS)
                parquet_put_i64(w, c, 1);
            else if (c == C_TIME)
                parquet_put_i64(w, c, 2);
            else if (c == C_MAP)
                parquet_put_map(w, c, NULL, 0);
            else
                parquet_put_bytes(w, c, "x", 1);
        }
    }
    return parquet_end_row(w, err, errlen);
}

TEST(missing_value_is_inval_and_sticks)
{
    struct sink s = {0};
    struct parquet_writer *w = NULL;
    char err[256] = "";
    ASSERT_EQ_INT(0, parquet_writer_new(&w, COLS, NCOLS, NULL, sink_write, &s,
                                        err, sizeof(err)));
    ASSERT_EQ_INT(0, put_row(w, 0, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_INVAL, bad_row(w, C_KEY, -1, err, sizeof(err)));
    ASSERT_EQ_STR("parquet: row 1: column key has no value", err);
    /* The row is half in the buffers: the writer stays failed. */
    err[0] = '\0';
    ASSERT_EQ_INT(ERR_INVAL, put_row(w, 2, err, sizeof(err)));
    ASSERT_EQ_STR("parquet: row 1: column key has no value", err);
    ASSERT_EQ_INT(ERR_INVAL, parquet_writer_finish(w, err, sizeof(err)));
    ASSERT_EQ_U64(1, parquet_rows(w));
    parquet_writer_free(w);
    sink_free(&s);
}

TEST(doubled_value_is_inval)
{
    struct sink s = {0};
    struct parquet_writer *w = NULL;
    char err[256] = "";
    ASSERT_EQ_INT(0, parquet_writer_new(&w, COLS, NCOLS, NULL, sink_write, &s,
                                        err, sizeof(err)));
    ASSERT_EQ_INT(ERR_INVAL, bad_row(w, -1, C_MAP, err, sizeof(err)));
    ASSERT_EQ_STR("parquet: row 0: column tags got two values", err);
    parquet_writer_free(w);

    /* A null for a required column, a value of the wrong type, a bad index. */
    struct {
        int which;
        const char *msg;
    } cases[] = {
        {0, "parquet: row 0: null for required column pos"},
        {1, "parquet: row 0: put_bytes on column pos of another type"},
        {2, "parquet: row 0: put_i64 on column name of another type"},
        {3, "parquet: put_null on column 6 of 6"},
        {4, "parquet: row 0: put_bytes on column tags of another type"},
    };
    /* Over 1 GiB: ERR_LIMIT (the lengths are checked before any byte is
     * read, so no such buffer is needed here). */
    ASSERT_EQ_INT(0, parquet_writer_new(&w, COLS, NCOLS, NULL, sink_write, &s,
                                        err, sizeof(err)));
    parquet_put_bytes(w, C_BODY, "x", (size_t)1 << 31);
    ASSERT_EQ_INT(ERR_LIMIT, parquet_end_row(w, err, sizeof(err)));
    ASSERT_EQ_STR("parquet: row 0: a 2147483648-byte value for column body "
                  "(at most 1073741820)",
                  err);
    parquet_writer_free(w);
    ASSERT_EQ_INT(0, parquet_writer_new(&w, COLS, NCOLS, NULL, sink_write, &s,
                                        err, sizeof(err)));
    struct parquet_kv huge[2] = {{"a", 1, "b", 1}, {"c", 1, "d", (size_t)-1}};
    parquet_put_map(w, C_MAP, huge, 2);
    ASSERT_EQ_INT(ERR_LIMIT, parquet_end_row(w, err, sizeof(err)));
    ASSERT_EQ_STR("parquet: row 0: map for column tags over 1073741824 bytes",
                  err);
    parquet_writer_free(w);

    /* A put on a bad index claims no column; finish still reports it. */
    ASSERT_EQ_INT(0, parquet_writer_new(&w, COLS, NCOLS, NULL, sink_write, &s,
                                        err, sizeof(err)));
    parquet_put_i64(w, 99, 1);
    ASSERT_EQ_INT(ERR_INVAL, parquet_writer_finish(w, err, sizeof(err)));
    ASSERT_EQ_STR("parquet: put_i64 on column 99 of 6", err);
    parquet_writer_free(w);

    for (size_t k = 0; k < ARRAY_LEN(cases); k++) {
        ASSERT_EQ_INT(0, parquet_writer_new(&w, COLS, NCOLS, NULL, sink_write,
                                            &s, err, sizeof(err)));
        switch (cases[k].which) {
        case 0:
            parquet_put_null(w, C_POS);
            break;
        case 1:
            parquet_put_bytes(w, C_POS, "x", 1);
            break;
        case 2:
            parquet_put_i64(w, C_NAME, 1);
            break;
        case 3:
            parquet_put_null(w, NCOLS);
            break;
        case 4:
            parquet_put_bytes(w, C_MAP, "x", 1);
            break;
        }
        ASSERT_EQ_INT(ERR_INVAL, parquet_end_row(w, err, sizeof(err)));
        ASSERT_EQ_STR(cases[k].msg, err);
        parquet_writer_free(w);
    }
    sink_free(&s);
}

TEST(callback_failure_propagates)
{
    char err[256] = "";
    struct parquet_writer *w = (void *)err;
    /* The leading magic. */
    struct sink s = {.fail_at = 1, .code = ERR_NOSPACE};
    ASSERT_EQ_INT(ERR_NOSPACE,
                  parquet_writer_new(&w, COLS, NCOLS, NULL, sink_write, &s, err,
                                     sizeof(err)));
    ASSERT_TRUE(w == NULL);
    ASSERT_TRUE(strstr(err, "leading magic") != NULL);

    /* A row group written by end_row: call 2 is its first column chunk. */
    struct parquet_options small = {4096, 0, 0};
    s = (struct sink){.fail_at = 2, .code = ERR_IO};
    ASSERT_EQ_INT(0, parquet_writer_new(&w, COLS, NCOLS, &small, sink_write, &s,
                                        err, sizeof(err)));
    int rc = 0;
    uint64_t i = 0;
    while (rc == 0 && i < 10000)
        rc = put_row(w, i++, err, sizeof(err));
    ASSERT_EQ_INT(ERR_IO, rc);
    ASSERT_TRUE(strstr(err, "row group 0, column pos") != NULL);
    ASSERT_TRUE(strstr(err, "i/o error") != NULL);
    ASSERT_EQ_INT(ERR_IO, put_row(w, i, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_IO, parquet_flush_row_group(w, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_IO, parquet_writer_finish(w, err, sizeof(err)));
    parquet_writer_free(w);
    sink_free(&s);

    /* The footer, written by finish (calls: magic, 7 chunks, footer). */
    s = (struct sink){.fail_at = 1 + NLEAVES + 1, .code = ERR_NOSPACE};
    ASSERT_EQ_INT(0, parquet_writer_new(&w, COLS, NCOLS, NULL, sink_write, &s,
                                        err, sizeof(err)));
    ASSERT_EQ_INT(0, put_row(w, 0, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_NOSPACE, parquet_writer_finish(w, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "footer") != NULL);
    parquet_writer_free(w);
    sink_free(&s);
}

TEST(flush_cuts_a_row_group_where_asked)
{
    struct sink s = {0};
    struct parquet_writer *w = NULL;
    char err[256] = "";
    ASSERT_EQ_INT(0, parquet_writer_new(&w, COLS, NCOLS, NULL, sink_write, &s,
                                        err, sizeof(err)));
    for (uint64_t i = 0; i < 3; i++)
        ASSERT_EQ_INT(0, put_row(w, i, err, sizeof(err)));
    ASSERT_TRUE(parquet_buffered_bytes(w) > 0);
    ASSERT_EQ_INT(0, parquet_flush_row_group(w, err, sizeof(err)));
    ASSERT_EQ_U64(0, parquet_buffered_bytes(w));
    ASSERT_EQ_INT(0,
                  parquet_flush_row_group(w, err, sizeof(err))); /* nothing */
    for (uint64_t i = 3; i < 5; i++)
        ASSERT_EQ_INT(0, put_row(w, i, err, sizeof(err)));
    parquet_put_i64(w, C_POS, 1);
    ASSERT_EQ_INT(ERR_INVAL, parquet_flush_row_group(w, err, sizeof(err)));
    ASSERT_EQ_STR("parquet: flush in the middle of row 5", err);
    parquet_writer_free(w);
    sink_free(&s);

    s = (struct sink){0};
    ASSERT_EQ_INT(0, parquet_writer_new(&w, COLS, NCOLS, NULL, sink_write, &s,
                                        err, sizeof(err)));
    for (uint64_t i = 0; i < 5; i++) {
        ASSERT_EQ_INT(0, put_row(w, i, err, sizeof(err)));
        if (i == 2)
            ASSERT_EQ_INT(0, parquet_flush_row_group(w, err, sizeof(err)));
    }
    ASSERT_EQ_INT(0, parquet_writer_finish(w, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_INVAL, parquet_writer_finish(w, err, sizeof(err)));
    ASSERT_EQ_STR("parquet: finish after the file was finished", err);
    parquet_writer_free(w);
    struct rd r;
    size_t meta = footer(&s, &r);
    ASSERT_EQ_INT(5, rd_int_field(&r, meta, 3));
    long ng = rd_list_field(&r, meta, 4);
    ASSERT_EQ_INT(2, ng);
    size_t at[2];
    rd_elems(&r, at, ng);
    ASSERT_EQ_INT(3, rd_int_field(&r, at[0], 3));
    ASSERT_EQ_INT(2, rd_int_field(&r, at[1], 3));
    ASSERT_EQ_INT(0, rd_int_field(&r, at[0], 7)); /* ordinal */
    ASSERT_EQ_INT(1, rd_int_field(&r, at[1], 7));
    sink_free(&s);
}

/* One decoded page. */
struct page {
    int64_t num_values;
    size_t next;   /* file offset after the page */
    uint8_t *data; /* decompressed (free it) */
    size_t data_len;
    int64_t null_count;
};

static void read_page(const struct sink *s, size_t off, struct page *pg)
{
    struct rd r = {s->p, s->len, 0, 0};
    ASSERT_EQ_INT(0, rd_int_field(&r, off, 1)); /* DATA_PAGE */
    int64_t raw = rd_int_field(&r, off, 2), z = rd_int_field(&r, off, 3);
    ASSERT_EQ_INT(12, rd_find(&r, off, 5));
    size_t dph = r.i;
    pg->num_values = rd_int_field(&r, dph, 1);
    ASSERT_EQ_INT(0, rd_int_field(&r, dph, 2)); /* PLAIN */
    ASSERT_EQ_INT(3, rd_int_field(&r, dph, 3)); /* RLE */
    ASSERT_EQ_INT(12, rd_find(&r, dph, 5));     /* Statistics */
    pg->null_count = rd_int_field(&r, r.i, 3);
    r.i = off;
    rd_skip_struct(&r);
    ASSERT_TRUE(!r.bad && r.i + (size_t)z <= s->len);
    pg->data = xmalloc((size_t)raw);
    pg->data_len =
        ZSTD_decompress(pg->data, (size_t)raw, s->p + r.i, (size_t)z);
    ASSERT_EQ_U64((uint64_t)raw, pg->data_len);
    pg->next = r.i + (size_t)z;
}

/* Decodes the RLE-only level block at *p into out (n levels); moves *p. */
static void read_levels(const uint8_t **p, uint8_t *out, int64_t n)
{
    uint32_t len = le32(*p);
    struct rd r = {*p + 4, len, 0, 0};
    int64_t k = 0;
    while (r.i < r.n) {
        uint64_t h = rd_varint(&r);
        ASSERT_EQ_INT(0, h & 1); /* the writer only makes RLE runs */
        uint8_t v = r.p[r.i++];
        for (uint64_t j = 0; j < h >> 1; j++) {
            ASSERT_TRUE(k < n);
            out[k++] = v;
        }
    }
    ASSERT_EQ_INT(n, k);
    *p += 4 + len;
}

/* Walks a file of nrows put_row rows: every row group, column chunk and
 * page, decompressing the pages and checking the values and levels of pos,
 * time and the map's leaves, every offset and count, and pos's statistics.
 * Returns the number of row groups and (in *npages) of pages. */
static long walk_file(const struct sink *s, uint64_t nrows, uint64_t *npages)
{
    struct rd r;
    size_t meta = footer(s, &r);
    ASSERT_EQ_INT((int64_t)nrows, rd_int_field(&r, meta, 3));
    long ng = rd_list_field(&r, meta, 4);
    size_t *groups = xcalloc((size_t)ng, sizeof(*groups));
    rd_elems(&r, groups, ng);

    uint64_t first_row = 0, pages = 0, expect_off = 4;
    uint8_t *rep = xmalloc(nrows * 4 + 4), *def = xmalloc(nrows * 4 + 4);
    for (long g = 0; g < ng; g++) {
        int64_t rows = rd_int_field(&r, groups[g], 3);
        ASSERT_TRUE(rows > 0);
        ASSERT_EQ_INT((int64_t)expect_off, rd_int_field(&r, groups[g], 5));
        long nc = rd_list_field(&r, groups[g], 1);
        ASSERT_EQ_INT(NLEAVES, nc);
        size_t cols[NLEAVES];
        rd_elems(&r, cols, nc);
        for (long c = 0; c < nc; c++) {
            ASSERT_EQ_INT(12, rd_find(&r, cols[c], 3));
            size_t md = r.i;
            ASSERT_EQ_INT(6, rd_int_field(&r, md, 4)); /* ZSTD */
            int64_t num_values = rd_int_field(&r, md, 5);
            int64_t size = rd_int_field(&r, md, 7);
            int64_t off = rd_int_field(&r, md, 9);
            ASSERT_EQ_INT((int64_t)expect_off, off); /* chunks back to back */
            ASSERT_EQ_INT(12, rd_find(&r, md, 12));
            size_t st = r.i;
            int64_t chunk_nulls = rd_int_field(&r, st, 3);
            size_t mn_len = 0, mx_len = 0;
            const uint8_t *mn = rd_bin_field(&r, st, 6, &mn_len);
            const uint8_t *mx = rd_bin_field(&r, st, 5, &mx_len);

            /* Walk the pages of the chunk, checking values and levels. */
            int64_t seen = 0, nulls = 0, lo = INT64_MAX, hi = INT64_MIN;
            uint64_t row = first_row;
            size_t p = (size_t)off;
            while (p < (size_t)(off + size)) {
                struct page pg;
                read_page(s, p, &pg);
                pages++;
                nulls += pg.null_count;
                const uint8_t *d = pg.data;
                if (c == 4 || c == 5) /* the map's leaves */
                    read_levels(&d, rep, pg.num_values);
                if (c >= 2 && c <= 5)
                    read_levels(&d, def, pg.num_values);
                if (c == 4 || c == 5)
                    ASSERT_EQ_INT(0, rep[0]); /* a page starts a row */
                for (int64_t k = 0; k < pg.num_values; k++) {
                    if (c == 0) { /* pos: required INT64 */
                        int64_t v = le64(d);
                        d += 8;
                        ASSERT_EQ_INT((int64_t)(row * 13 % 1001) - 500, v);
                        lo = v < lo ? v : lo;
                        hi = v > hi ? v : hi;
                        row++;
                    } else if (c ==
                               2) { /* time: optional, null when row % 4 == 3 */
                        ASSERT_EQ_INT(row % 4 == 3 ? 0 : 1, def[k]);
                        if (def[k]) {
                            ASSERT_EQ_INT(1700000000000LL + (int64_t)row,
                                          le64(d));
                            d += 8;
                        }
                        row++;
                    } else if (c == 4 || c == 5) { /* map key / value */
                        if (rep[k] == 0 && k > 0)
                            row++;
                        size_t npairs = row % 5;
                        if (npairs == 4)
                            ASSERT_EQ_INT(0, def[k]);
                        else if (npairs == 0)
                            ASSERT_EQ_INT(1, def[k]);
                        else if (c == 4)
                            ASSERT_EQ_INT(2, def[k]);
                        if (def[k] == (c == 4 ? 2 : 3)) {
                            uint32_t n = le32(d);
                            d += 4 + n;
                        }
                    }
                }
                if (c == 4 || c == 5)
                    row++;
                if (c == 0 || c == 2 || c == 4 || c == 5)
                    ASSERT_EQ_U64(pg.data_len, (size_t)(d - pg.data));
                seen += pg.num_values;
                p = pg.next;
                free(pg.data);
            }
            ASSERT_EQ_U64((uint64_t)(off + size), p);
            ASSERT_EQ_INT(num_values, seen);
            ASSERT_EQ_INT(chunk_nulls, nulls);
            if (c < 4)
                ASSERT_EQ_INT(rows, num_values);
            if (c == 0 || c == 2)
                ASSERT_EQ_U64(first_row + (uint64_t)rows, row);
            if (c == 0) {
                ASSERT_TRUE(mn && mx && mn_len == 8 && mx_len == 8);
                ASSERT_EQ_INT(lo, le64(mn));
                ASSERT_EQ_INT(hi, le64(mx));
            }
            if (c == 3 || c == 4)
                ASSERT_TRUE(mn == NULL); /* no stats asked for */
            expect_off = (uint64_t)(off + size);
        }
        first_row += (uint64_t)rows;
    }
    ASSERT_EQ_U64(nrows, first_row);
    *npages = pages;
    ASSERT_EQ_U64(s->len - 8 - le32(s->p + s->len - 8), expect_off);
    free(rep);
    free(def);
    free(groups);
    return ng;
}

TEST(many_rows_make_several_row_groups_and_pages)
{
    struct parquet_options opt = {96 << 10, 6 << 10, 1};
    struct sink s = {0};
    uint64_t pages;
    write_file(&s, 20000, &opt);
    long ng = walk_file(&s, 20000, &pages);
    ASSERT_TRUE(ng >= 4);
    ASSERT_TRUE(pages > (uint64_t)ng * NLEAVES); /* several pages per chunk */
    sink_free(&s);
}

TEST(tiny_and_default_limits)
{
    /* One byte per row group: every row is a group of one-page chunks. */
    struct parquet_options tiny = {1, 1, 0};
    struct sink s = {0};
    uint64_t pages;
    write_file(&s, 50, &tiny);
    ASSERT_EQ_INT(50, walk_file(&s, 50, &pages));
    ASSERT_EQ_U64(50 * NLEAVES, pages);
    sink_free(&s);

    /* One byte per page: a page per row, in one row group. */
    struct parquet_options pages_only = {1 << 20, 1, 0};
    write_file(&s, 300, &pages_only);
    ASSERT_EQ_INT(1, walk_file(&s, 300, &pages));
    ASSERT_EQ_U64(300 * NLEAVES, pages);
    sink_free(&s);

    /* The defaults (16 MiB, 1 MiB) hold these rows in one page each. */
    write_file(&s, 5000, NULL);
    ASSERT_EQ_INT(1, walk_file(&s, 5000, &pages));
    ASSERT_EQ_U64(NLEAVES, pages);
    sink_free(&s);
}

/* The ColumnMetaData of leaf c in row group 0 of a complete file. */
static size_t chunk_meta(const struct sink *s, struct rd *r, long c)
{
    size_t meta = footer(s, r);
    long ng = rd_list_field(r, meta, 4);
    ASSERT_TRUE(ng >= 1);
    size_t g;
    rd_elems(r, &g, 1);
    long nc = rd_list_field(r, g, 1);
    ASSERT_TRUE(c < nc);
    size_t cols[NLEAVES];
    rd_elems(r, cols, c + 1);
    ASSERT_EQ_INT(12, rd_find(r, cols[c], 3));
    return r->i;
}

TEST(required_map_levels_and_stats)
{
    static const struct parquet_column cols[1] = {
        {"m", PARQUET_MAP_STRING, 0, 1}};
    struct sink s = {0};
    struct parquet_writer *w = NULL;
    char err[256] = "";
    ASSERT_EQ_INT(0, parquet_writer_new(&w, cols, 1, NULL, sink_write, &s, err,
                                        sizeof(err)));
    parquet_put_map(w, 0, NULL, 0);
    ASSERT_EQ_INT(0, parquet_end_row(w, err, sizeof(err)));
    struct parquet_kv two[2] = {{"b", 1, "1", 1}, {"a", 1, NULL, 0}};
    parquet_put_map(w, 0, two, 2);
    ASSERT_EQ_INT(0, parquet_end_row(w, err, sizeof(err)));
    struct parquet_kv one[1] = {{"c", 1, "zz", 2}};
    parquet_put_map(w, 0, one, 1);
    ASSERT_EQ_INT(0, parquet_end_row(w, err, sizeof(err)));
    parquet_put_null(w, 0);
    ASSERT_EQ_INT(ERR_INVAL, parquet_end_row(w, err, sizeof(err)));
    ASSERT_EQ_STR("parquet: row 3: null for required column m", err);
    parquet_writer_free(w);

    /* The same three rows, finished this time. */
    sink_free(&s);
    ASSERT_EQ_INT(0, parquet_writer_new(&w, cols, 1, NULL, sink_write, &s, err,
                                        sizeof(err)));
    parquet_put_map(w, 0, NULL, 0);
    ASSERT_EQ_INT(0, parquet_end_row(w, err, sizeof(err)));
    parquet_put_map(w, 0, two, 2);
    ASSERT_EQ_INT(0, parquet_end_row(w, err, sizeof(err)));
    parquet_put_map(w, 0, one, 1);
    ASSERT_EQ_INT(0, parquet_end_row(w, err, sizeof(err)));
    ASSERT_EQ_INT(0, parquet_writer_finish(w, err, sizeof(err)));
    parquet_writer_free(w);

    static const uint8_t want_rep[4] = {0, 0, 1, 0};
    static const uint8_t want_def[2][4] = {{0, 1, 1, 1}, {0, 2, 1, 2}};
    static const char *const want_values[2] = {"\1\0\0\0b\1\0\0\0a\1\0\0\0c",
                                               "\1\0\0\0"
                                               "1\2\0\0\0zz"};
    static const size_t want_len[2] = {15, 11};
    static const char *const want_min[2] = {"a", "1"}, *const want_max[2] = {
                                                           "c", "zz"};
    for (long c = 0; c < 2; c++) {
        struct rd r;
        size_t md = chunk_meta(&s, &r, c);
        ASSERT_EQ_INT(4, rd_int_field(&r, md, 5));
        size_t off = (size_t)rd_int_field(&r, md, 9), n;
        ASSERT_EQ_INT(12, rd_find(&r, md, 12));
        size_t st = r.i;
        ASSERT_EQ_INT(c + 1, rd_int_field(&r, st, 3)); /* null_count */
        const uint8_t *mn = rd_bin_field(&r, st, 6, &n);
        ASSERT_EQ_MEM(want_min[c], strlen(want_min[c]), mn, n);
        const uint8_t *mx = rd_bin_field(&r, st, 5, &n);
        ASSERT_EQ_MEM(want_max[c], strlen(want_max[c]), mx, n);
        struct page pg;
        read_page(&s, off, &pg);
        ASSERT_EQ_INT(4, pg.num_values);
        uint8_t rep[4], def[4];
        const uint8_t *d = pg.data;
        read_levels(&d, rep, 4);
        read_levels(&d, def, 4);
        ASSERT_EQ_MEM(want_rep, 4, rep, 4);
        ASSERT_EQ_MEM(want_def[c], 4, def, 4);
        ASSERT_EQ_MEM(want_values[c], want_len[c], d,
                      pg.data_len - (size_t)(d - pg.data));
        free(pg.data);
    }
    sink_free(&s);
}

TEST(big_values_get_pages_of_their_own)
{
    static const struct parquet_column cols[1] = {
        {"blob", PARQUET_BINARY, 1, 1}};
    struct parquet_options opt = {0, 64 << 10, 0};
    struct sink s = {0};
    struct parquet_writer *w = NULL;
    char err[256] = "";
    ASSERT_EQ_INT(0, parquet_writer_new(&w, cols, 1, &opt, sink_write, &s, err,
                                        sizeof(err)));
    uint8_t *big = xcalloc(1, 300 << 10);
    big[0] = 0xff; /* the max */
    for (int i = 0; i < 6; i++) {
        if (i == 3)
            parquet_put_null(w, 0);
        else
            parquet_put_bytes(w, 0, big, (size_t)(300 << 10) - (size_t)i);
        ASSERT_EQ_INT(0, parquet_end_row(w, err, sizeof(err)));
    }
    parquet_put_bytes(w, 0, "", 0); /* the min */
    ASSERT_EQ_INT(0, parquet_end_row(w, err, sizeof(err)));
    ASSERT_EQ_INT(0, parquet_writer_finish(w, err, sizeof(err)));
    parquet_writer_free(w);

    struct rd r;
    size_t meta = footer(&s, &r);
    ASSERT_EQ_INT(1, rd_list_field(&r, meta, 4));
    size_t g;
    rd_elems(&r, &g, 1);
    ASSERT_EQ_INT(1, rd_list_field(&r, g, 1));
    size_t cc;
    rd_elems(&r, &cc, 1);
    ASSERT_EQ_INT(12, rd_find(&r, cc, 3));
    size_t md = r.i;
    size_t p = (size_t)rd_int_field(&r, md, 9),
           end = p + (size_t)rd_int_field(&r, md, 7);
    ASSERT_EQ_INT(12, rd_find(&r, md, 12));
    size_t st = r.i, n;
    ASSERT_EQ_INT(1, rd_int_field(&r, st, 3));
    ASSERT_TRUE(rd_bin_field(&r, st, 6, &n) != NULL);
    ASSERT_EQ_U64(0, n);
    const uint8_t *mx = rd_bin_field(&r, st, 5, &n);
    ASSERT_EQ_U64((300 << 10), n);
    ASSERT_EQ_INT(0xff, mx[0]);
    /* One page per row: a page already past page_bytes takes no more rows,
     * not even a null or an empty value. */
    int pages = 0;
    while (p < end) {
        struct page pg;
        read_page(&s, p, &pg);
        pages++;
        p = pg.next;
        free(pg.data);
    }
    ASSERT_EQ_INT(7, pages);
    free(big);
    sink_free(&s);
}

int main(int argc, char **argv)
{
    return test_main(
        argc, argv,
        (struct test[]){T(new_rejects_bad_schemas),
                        T(empty_file_has_magic_schema_and_footer),
                        T(same_rows_give_same_bytes),
                        T(missing_value_is_inval_and_sticks),
                        T(doubled_value_is_inval),
                        T(callback_failure_propagates),
                        T(flush_cuts_a_row_group_where_asked),
                        T(many_rows_make_several_row_groups_and_pages),
                        T(tiny_and_default_limits),
                        T(required_map_levels_and_stats),
                        T(big_values_get_pages_of_their_own),
                        {0}});
}
