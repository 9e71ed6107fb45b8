/* The event store: framing round trips, recovery after truncation at every
 * byte, zero tails, damaged records, index rebuilds, faults through fsx. */
#include "test.h"

#include "crc32c.h"
#include "errors.h"
#include "fsx.h"
#include "index.h"
#include "segment.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

static char dir_[300];

static const char *sdir(void)
{
    snprintf(dir_, sizeof(dir_), "%s/ev", test_dir());
    return dir_;
}

static struct store *open_store_pre(uint64_t segsize, int repair, uint64_t prealloc)
{
    struct store_config cfg = {sdir(), segsize, 600000, repair, prealloc};
    struct store *s = NULL;
    char err[256] = "";
    int rc = store_open(&s, &cfg, 6000, err, sizeof(err));
    if (rc)
        fprintf(stderr, "  open: %s\n", err);
    ASSERT_EQ_INT(0, rc);
    return s;
}

static struct store *open_store(uint64_t segsize, int repair)
{
    return open_store_pre(segsize, repair, STORE_PREALLOC_DEFAULT);
}

static int open_rc(uint64_t segsize, int repair, char *err, size_t errlen)
{
    struct store_config cfg = {sdir(), segsize, 600000, repair, STORE_PREALLOC_DEFAULT};
    struct store *s = NULL;
    int rc = store_open(&s, &cfg, 6000, err, errlen);
    store_close(s);
    return rc;
}

static uint64_t pub(struct store *s, const char *type, const char *id,
                    const char *payload, uint64_t now)
{
    struct segment_hdr h = {"h", 1, "v", 1};
    struct store_pub p = {type, strlen(type), id, id ? strlen(id) : 0, "k", 1, 0,
                          &h, 1, payload, strlen(payload), 0, 0, 0, 0, 0};
    uint64_t pos = 0;
    int dup = 0;
    char err[256];
    int rc = store_append(s, &p, now, &pos, &dup, err, sizeof(err));
    if (!rc)
        rc = store_flush(s, err, sizeof(err)); /* as the loop turn's end does */
    if (rc)
        fprintf(stderr, "  append: %s\n", err);
    ASSERT_EQ_INT(0, rc);
    return pos;
}

static void expect_payload(struct store *s, uint64_t pos, const char *payload)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct segment_record r;
    int rc = store_get(s, pos, &r, &buf, &cap);
    if (rc)
        free(buf);
    ASSERT_EQ_INT(0, rc);
    ASSERT_EQ_U64(pos, r.position);
    ASSERT_EQ_MEM(payload, strlen(payload), r.payload, r.payload_len);
    free(buf);
}

static char seg1_[400];
static const char *seg1(void)
{
    snprintf(seg1_, sizeof(seg1_), "%s/00000000000000000001.seg", sdir());
    return seg1_;
}

static off_t file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? st.st_size : -1;
}

/* Where the records of a store with one segment end: the file goes on with
 * zeros written ahead until the store is closed. */
static off_t data_end(struct store *s)
{
    struct store_stats st;
    store_stats(s, &st);
    return (off_t)st.bytes;
}

static void copy_file(const char *from, const char *to)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
    ASSERT_EQ_INT(0, system(cmd));
}

TEST(crc32c_known_values)
{
    ASSERT_EQ_U64(0xe3069283u, crc32c(0, "123456789", 9));
    ASSERT_EQ_U64(0xe3069283u, crc32c_sw(0, "123456789", 9));
    char big[1000];
    for (int i = 0; i < 1000; i++)
        big[i] = (char)(i * 7);
    for (size_t n = 0; n < 990; n += 37)
        ASSERT_EQ_U64(crc32c_sw(0, big + 3, n), crc32c(0, big + 3, n));
    ASSERT_EQ_U64(crc32c(0, big, 1000), crc32c(crc32c(0, big, 400), big + 400, 600));
}

TEST(record_round_trip)
{
    struct segment_hdr hs[2] = {{"a", 1, "1", 1}, {"bb", 2, "", 0}};
    uint8_t hb[64];
    segment_headers_encode(hs, 2, hb);
    struct segment_record r = {.position = 42, .time_ms = 1700000000000ull,
                               .entry_ms = 1700000000000ull, .entry_seq = 3, .kind = 1, .type = "a.b",
                               .type_len = 3, .id = "id1", .id_len = 3,
                               .key = "", .key_len = 0, .headers = (char *)hb,
                               .headers_len = segment_headers_size(hs, 2),
                               .nheaders = 2, .payload = "\0x\r\n", .payload_len = 4};
    size_t n = segment_record_size(&r);
    uint8_t buf[256];
    segment_record_encode(&r, buf);
    struct segment_record d;
    size_t used;
    ASSERT_EQ_INT(0, segment_record_decode(buf, n, &d, &used));
    ASSERT_EQ_U64(n, used);
    ASSERT_EQ_U64(42, d.position);
    ASSERT_EQ_U64(1700000000000ull, d.time_ms);
    ASSERT_EQ_U64(3, d.entry_seq);
    ASSERT_EQ_INT(1, d.kind);
    ASSERT_EQ_MEM("a.b", 3, d.type, d.type_len);
    ASSERT_EQ_MEM("id1", 3, d.id, d.id_len);
    ASSERT_EQ_MEM("\0x\r\n", 4, d.payload, d.payload_len);
    size_t at = 0;
    struct segment_hdr h;
    ASSERT_TRUE(segment_headers_next(d.headers, d.headers_len, &at, &h));
    ASSERT_EQ_MEM("a", 1, h.field, h.field_len);
    ASSERT_TRUE(segment_headers_next(d.headers, d.headers_len, &at, &h));
    ASSERT_EQ_MEM("bb", 2, h.field, h.field_len);
    ASSERT_EQ_INT(0, (int)h.value_len);
    ASSERT_TRUE(!segment_headers_next(d.headers, d.headers_len, &at, &h));
    /* every prefix asks for more, every single flipped byte is caught */
    for (size_t k = 0; k < n; k++)
        ASSERT_EQ_INT(SEGMENT_NEED_MORE, segment_record_decode(buf, k, &d, &used));
    for (size_t k = 0; k < n; k++) {
        buf[k] ^= 0x10;
        ASSERT_TRUE(segment_record_decode(buf, n, &d, &used) != 0);
        buf[k] ^= 0x10;
    }
    uint8_t z[64] = {0};
    ASSERT_EQ_INT(ERR_CORRUPT, segment_record_decode(z, sizeof(z), &d, &used));
    uint8_t hdr[SEGMENT_HEADER_SIZE];
    uint64_t base = 0;
    segment_header_encode(hdr, 77);
    ASSERT_EQ_INT(0, segment_header_decode(hdr, sizeof(hdr), &base));
    ASSERT_EQ_U64(77, base);
}

TEST(publish_get_reopen)
{
    struct store *s = open_store(1 << 20, 0);
    ASSERT_EQ_U64(1, pub(s, "order.created", "a", "p1", 5000));
    ASSERT_EQ_U64(2, pub(s, "order.paid", NULL, "p2", 5000));
    ASSERT_EQ_U64(3, pub(s, "order.created", NULL, "p3", 4000)); /* clock back */
    /* a known id returns the original position and writes nothing */
    struct store_pub p = {"x", 1, "a", 1, NULL, 0, 0, NULL, 0, "zz", 2, 0, 0, 0, 0, 0};
    uint64_t pos;
    int dup;
    char err[200];
    ASSERT_EQ_INT(0, store_append(s, &p, 6000, &pos, &dup, err, sizeof(err)));
    ASSERT_EQ_INT(1, dup);
    ASSERT_EQ_U64(1, pos);
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct segment_record r;
    ASSERT_EQ_INT(0, store_get(s, 3, &r, &buf, &cap));
    ASSERT_EQ_U64(5000, r.time_ms); /* times never go back */
    ASSERT_EQ_U64(1, r.entry_seq);  /* second order.created at 5000 */
    free(buf);
    buf = NULL;
    cap = 0;
    ASSERT_EQ_INT(ERR_NOTFOUND, store_get(s, 4, &r, &buf, &cap));
    free(buf);
    /* store_has from the index of a segment without gaps */
    ASSERT_EQ_INT(0, store_has(s, 0));
    ASSERT_EQ_INT(1, store_has(s, 1));
    ASSERT_EQ_INT(1, store_has(s, 3));
    ASSERT_EQ_INT(0, store_has(s, 4));
    ASSERT_EQ_INT(0, store_has(s, UINT64_MAX));
    store_close(s);
    s = open_store(1 << 20, 0);
    expect_payload(s, 1, "p1");
    expect_payload(s, 2, "p2");
    expect_payload(s, 3, "p3");
    ASSERT_EQ_U64(4, pub(s, "order.created", NULL, "p4", 5000));
    /* dedup survives restart */
    ASSERT_EQ_INT(0, store_append(s, &p, 6000, &pos, &dup, err, sizeof(err)));
    ASSERT_EQ_INT(1, dup);
    ASSERT_EQ_U64(1, pos);
    /* but not past its window */
    ASSERT_EQ_INT(0, store_append(s, &p, 5000 + 600001, &pos, &dup, err, sizeof(err)));
    ASSERT_EQ_INT(0, dup);
    ASSERT_EQ_U64(5, pos);
    store_close(s);
}

struct collect {
    uint64_t pos[4096];
    size_t n;
};

static int collect_fn(void *ctx, const struct segment_record *r)
{
    struct collect *c = ctx;
    c->pos[c->n++] = r->position;
    return 0;
}

static size_t range(struct store *s, const char *pat, uint64_t from, uint64_t to,
                    size_t count, int rev, struct collect *c)
{
    struct store_query q = {pat, strlen(pat), from, to, 0, UINT64_MAX, NULL, 0,
                            count, rev};
    c->n = 0;
    ASSERT_EQ_INT(0, store_range(s, &q, collect_fn, c));
    return c->n;
}

/* many small segments: ranges across sealed (file-backed) and open indexes */
TEST(ranges_across_segments)
{
    struct store *s = open_store(4096, 0);
    char payload[64];
    for (int i = 1; i <= 600; i++) {
        snprintf(payload, sizeof(payload), "event-%d", i);
        pub(s, i % 3 == 0 ? "a.x" : (i % 3 == 1 ? "a.y.z" : "b"), NULL, payload,
            10000 + (uint64_t)i);
    }
    struct store_stats st;
    store_stats(s, &st);
    ASSERT_TRUE(st.segments > 10);
    ASSERT_EQ_U64(600, st.events);
    struct collect *c = calloc(1, sizeof(*c));
    ASSERT_EQ_U64(200, range(s, "a.*", 0, UINT64_MAX, 10000, 0, c));
    for (size_t i = 0; i < c->n; i++)
        ASSERT_EQ_U64((i + 1) * 3, c->pos[i]);
    ASSERT_EQ_U64(400, range(s, "a.#", 0, UINT64_MAX, 10000, 0, c));
    ASSERT_EQ_U64(600, range(s, "#", 0, UINT64_MAX, 10000, 0, c));
    for (size_t i = 0; i < c->n; i++)
        ASSERT_EQ_U64(i + 1, c->pos[i]);
    ASSERT_EQ_U64(10, range(s, "b", 100, UINT64_MAX, 10, 0, c));
    ASSERT_EQ_U64(101, c->pos[0]);
    ASSERT_EQ_U64(5, range(s, "#", 0, 300, 5, 1, c));
    ASSERT_EQ_U64(300, c->pos[0]);
    ASSERT_EQ_U64(296, c->pos[4]);
    /* time bounds */
    struct store_query q = {"#", 1, 0, UINT64_MAX, 10100, 10109, NULL, 0, 1000, 0};
    c->n = 0;
    ASSERT_EQ_INT(0, store_range(s, &q, collect_fn, c));
    ASSERT_EQ_U64(10, c->n);
    ASSERT_EQ_U64(100, c->pos[0]);
    for (uint64_t p = 1; p <= 600; p += 37) {
        snprintf(payload, sizeof(payload), "event-%d", (int)p);
        expect_payload(s, p, payload);
    }
    uint64_t next;
    const char *pats[] = {"b"};
    size_t lens[] = {1};
    ASSERT_EQ_INT(1, store_next_match(s, pats, lens, 1, 300, 600, &next));
    ASSERT_EQ_U64(302, next);
    store_close(s);
    /* same answers after restart, and after every index file is removed or
     * damaged */
    for (int round = 0; round < 3; round++) {
        if (round >= 1) {
            char cmd[600];
            if (round == 1)
                snprintf(cmd, sizeof(cmd), "rm -f %s/*.idx", sdir());
            else
                snprintf(cmd, sizeof(cmd),
                         "for f in %s/*.idx; do printf 'XX' | dd of=$f bs=1 "
                         "seek=70 conv=notrunc 2>/dev/null; done",
                         sdir());
            ASSERT_EQ_INT(0, system(cmd));
        }
        s = open_store(4096, 0);
        store_stats(s, &st);
        ASSERT_EQ_U64(600 + (uint64_t)round, st.events);
        if (round >= 1)
            ASSERT_TRUE(st.rebuilt_indexes >= 9);
        ASSERT_EQ_U64(200, range(s, "a.*", 0, UINT64_MAX, 10000, 0, c));
        ASSERT_EQ_U64(3, c->pos[0]);
        ASSERT_EQ_U64(600, c->pos[199]);
        ASSERT_EQ_U64(10, range(s, "b", 100, UINT64_MAX, 10, 0, c));
        ASSERT_EQ_U64(101, c->pos[0]);
        expect_payload(s, 599, "event-599");
        ASSERT_EQ_U64(601 + (uint64_t)round, pub(s, "b", NULL, "after", 20000));
        store_close(s);
        /* remove the extra event again by reopening: positions keep going */
        s = open_store(4096, 0);
        store_stats(s, &st);
        ASSERT_EQ_U64(601 + (uint64_t)round, st.events);
        store_close(s);
    }
    free(c);
}

/* Truncating the open segment at every byte of its last record (and of its
 * header) loses exactly that record, and later appends still work. */
TEST(truncate_every_byte)
{
    struct store *s = open_store(1 << 20, 0);
    pub(s, "t", NULL, "first", 1000);
    pub(s, "t", NULL, "second", 1000);
    off_t before_last = data_end(s);
    pub(s, "t", "id3", "third-event", 1000);
    off_t full = data_end(s);
    store_close(s);
    char saved[400];
    snprintf(saved, sizeof(saved), "%s/saved", test_dir());
    copy_file(seg1(), saved);
    for (off_t cut = 0; cut < full; cut++) {
        copy_file(saved, seg1());
        ASSERT_EQ_INT(0, truncate(seg1(), cut));
        s = open_store(1 << 20, 0);
        struct store_stats st;
        store_stats(s, &st);
        uint64_t want = cut < before_last ? (cut < (off_t)SEGMENT_HEADER_SIZE ? 0 : 2) : 2;
        if (cut >= (off_t)SEGMENT_HEADER_SIZE && cut < before_last) {
            /* inside record 1 or 2 */
            want = st.events; /* checked below by content */
        }
        if (cut >= before_last)
            ASSERT_EQ_U64(want, st.events);
        if (cut < (off_t)SEGMENT_HEADER_SIZE)
            ASSERT_EQ_U64(0, st.events);
        if (st.events >= 1)
            expect_payload(s, 1, "first");
        if (st.events >= 2)
            expect_payload(s, 2, "second");
        uint64_t p = pub(s, "t", NULL, "new", 2000);
        ASSERT_TRUE(p > st.last_pos);
        expect_payload(s, p, "new");
        store_close(s);
        ASSERT_TRUE(file_size(seg1()) >= (off_t)SEGMENT_HEADER_SIZE);
    }
}

/* A zero tail is what writing ahead leaves after a crash: dropped at open
 * without counting as torn. Garbage before the zeros is torn, and only it is
 * counted. */
TEST(zero_filled_tail)
{
    struct store *s = open_store(1 << 20, 0);
    pub(s, "t", NULL, "one", 1000);
    pub(s, "t", NULL, "two", 1000);
    off_t sz = data_end(s);
    ASSERT_TRUE(file_size(seg1()) > sz); /* zeros written ahead while open */
    char crashed[400];
    snprintf(crashed, sizeof(crashed), "%s/crashed", test_dir());
    copy_file(seg1(), crashed); /* the file as a kill -9 leaves it */
    store_close(s);
    ASSERT_EQ_INT((int)sz, (int)file_size(seg1())); /* a clean close trims */
    copy_file(crashed, seg1());
    s = open_store(1 << 20, 0);
    struct store_stats st;
    store_stats(s, &st);
    ASSERT_EQ_U64(2, st.events);
    ASSERT_EQ_U64(0, st.recovered_cut_bytes);
    /* positions that the zeros could have held are skipped (a power loss
     * may have taken acknowledged --fsync everysec events there) */
    uint64_t p3 = pub(s, "t", NULL, "three", 1000);
    ASSERT_TRUE(p3 > 2 + (uint64_t)(file_size(crashed) - sz) / SEGMENT_MIN_RECORD);
    expect_payload(s, p3, "three");
    /* the skipped positions are a gap: store_has reads the records */
    ASSERT_EQ_INT(1, store_has(s, 2));
    ASSERT_EQ_INT(0, store_has(s, 3));
    ASSERT_EQ_INT(0, store_has(s, p3 - 1));
    ASSERT_EQ_INT(1, store_has(s, p3));
    ASSERT_EQ_INT(0, store_has(s, p3 + 1));
    store_close(s);

    /* 7 torn bytes, then zeros */
    sz = file_size(seg1());
    int fd = open(seg1(), O_WRONLY);
    char z[5000] = {0};
    memset(z, 0x5a, 7);
    ASSERT_EQ_INT((int)sizeof(z), (int)pwrite(fd, z, sizeof(z), sz));
    close(fd);
    s = open_store(1 << 20, 0);
    store_stats(s, &st);
    ASSERT_EQ_U64(3, st.events);
    ASSERT_EQ_U64(7, st.recovered_cut_bytes);
    ASSERT_EQ_INT((int)sz, (int)file_size(seg1()));
    expect_payload(s, p3, "three");
    store_close(s);
}

/* store_get keeps its window in the caller's buffer between calls: runs of
 * positions, backwards, random jumps, across a seal and while appending must
 * all read the right records. */
TEST(reads_reuse_the_window)
{
    struct store *s = open_store(4096, 0);
    char payload[64];
    for (int i = 1; i <= 600; i++) {
        snprintf(payload, sizeof(payload), "ev-%d-%.*s", i, i % 40, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        ASSERT_EQ_U64((uint64_t)i, pub(s, "t", NULL, payload, 1000));
    }
    struct store_stats st;
    store_stats(s, &st);
    ASSERT_TRUE(st.segments >= 2); /* the reads cross segments */
    uint8_t *buf = NULL;
    size_t cap = 0;
    uint64_t order[3 * 600];
    size_t n = 0;
    for (uint64_t p = 1; p <= 600; p++)
        order[n++] = p;
    for (uint64_t p = 600; p >= 1; p--)
        order[n++] = p;
    uint64_t x = 12345;
    for (int i = 0; i < 600; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        order[n++] = 1 + (x >> 33) % 600;
    }
    for (size_t k = 0; k < n; k++) {
        struct segment_record r;
        ASSERT_EQ_INT(0, store_get(s, order[k], &r, &buf, &cap));
        ASSERT_EQ_U64(order[k], r.position);
        int i = (int)order[k];
        snprintf(payload, sizeof(payload), "ev-%d-%.*s", i, i % 40, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        ASSERT_EQ_INT((int)strlen(payload), (int)r.payload_len);
        ASSERT_TRUE(memcmp(payload, r.payload, r.payload_len) == 0);
        if (k % 97 == 0) /* appends between reads */
            pub(s, "u", NULL, "more", 1000);
    }
    free(buf);
    store_close(s);
}

TEST(flipped_crc_mid_file_refuses_then_repairs)
{
    struct store *s = open_store(1 << 20, 0);
    pub(s, "t", NULL, "one", 1000);
    off_t second = data_end(s);
    pub(s, "t", NULL, "two", 1000);
    pub(s, "t", NULL, "three", 1000);
    store_close(s);
    int fd = open(seg1(), O_RDWR);
    char b;
    ASSERT_EQ_INT(1, (int)pread(fd, &b, 1, second + 20));
    b ^= 1;
    ASSERT_EQ_INT(1, (int)pwrite(fd, &b, 1, second + 20));
    close(fd);
    char err[300];
    ASSERT_EQ_INT(ERR_CORRUPT, open_rc(1 << 20, 0, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "--repair") != NULL);
    s = open_store(1 << 20, 1);
    struct store_stats st;
    store_stats(s, &st);
    ASSERT_EQ_U64(2, st.events);
    ASSERT_TRUE(st.quarantined_bytes > 0);
    expect_payload(s, 1, "one");
    expect_payload(s, 3, "three");
    {
        uint8_t *buf = NULL;
        size_t cap = 0;
        struct segment_record r;
        ASSERT_EQ_INT(ERR_NOTFOUND, store_get(s, 2, &r, &buf, &cap));
        free(buf);
    }
    ASSERT_EQ_INT(1, store_has(s, 1));
    ASSERT_EQ_INT(0, store_has(s, 2)); /* quarantined */
    ASSERT_EQ_INT(1, store_has(s, 3));
    store_close(s);
}

TEST(sealed_segment_damage_refuses)
{
    struct store *s = open_store(4096, 0);
    for (int i = 0; i < 200; i++)
        pub(s, "t", NULL, "some payload bytes here", 1000);
    store_close(s);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -f %s/*.idx", sdir());
    ASSERT_EQ_INT(0, system(cmd));
    int fd = open(seg1(), O_RDWR);
    char b;
    ASSERT_EQ_INT(1, (int)pread(fd, &b, 1, 300));
    b ^= 0x40;
    ASSERT_EQ_INT(1, (int)pwrite(fd, &b, 1, 300));
    close(fd);
    char err[300];
    ASSERT_EQ_INT(ERR_CORRUPT, open_rc(4096, 0, err, sizeof(err)));
    s = open_store(4096, 1);
    struct store_stats st;
    store_stats(s, &st);
    ASSERT_EQ_U64(199, st.events);
    store_close(s);
}

TEST(write_failure_is_sticky_readonly)
{
    struct store *s = open_store(1 << 20, 0);
    pub(s, "t", NULL, "one", 1000);
    fsx_fault_fail(FSX_WRITE, 1, EIO, 1);
    struct store_pub p = {"t", 1, NULL, 0, NULL, 0, 0, NULL, 0, "x", 1, 0, 0, 0, 0, 0};
    uint64_t pos;
    int dup;
    char err[200];
    ASSERT_EQ_INT(0, store_append(s, &p, 1000, &pos, &dup, err, sizeof(err)));
    ASSERT_EQ_U64(1, store_written_pos(s));
    ASSERT_EQ_INT(ERR_READONLY, store_flush(s, err, sizeof(err))); /* the pwrite */
    ASSERT_EQ_STR("store is read-only after write failed: Input/output error", err);
    ASSERT_EQ_U64(1, store_written_pos(s)); /* position 2 was never written */
    fsx_fault_clear();
    ASSERT_EQ_INT(ERR_READONLY, store_append(s, &p, 1000, &pos, &dup, err, sizeof(err)));
    expect_payload(s, 1, "one"); /* reads keep working */
    store_close(s);
    s = open_store(1 << 20, 0);
    ASSERT_EQ_U64(2, pub(s, "t", NULL, "two", 1000));
    store_close(s);
}

/* Disk full while writing the zeros ahead: that publish gets NOSPACE and
 * nothing is stored for it; what was appended before stays pending and is
 * written once space is back. */
TEST(disk_full_resumes)
{
    struct store *s = open_store_pre(1 << 20, 0, 256);
    pub(s, "t", NULL, "one", 1000);
    fsx_fault_short_write(1, 10);            /* 10 bytes of zeros get in */
    fsx_fault_fail(FSX_WRITE, 2, ENOSPC, 0); /* then every write fails */
    struct store_pub p = {"t", 1, NULL, 0, NULL, 0, 0, NULL, 0, "x", 1, 0, 0, 0, 0, 0};
    uint64_t pos;
    int dup, rc = 0;
    uint64_t ok = 0;
    char err[200];
    for (int i = 0; i < 100 && rc == 0; i++) {
        rc = store_append(s, &p, 1000, &pos, &dup, err, sizeof(err));
        if (rc == 0)
            ok++; /* fits in the zeros already written: pending */
    }
    ASSERT_EQ_INT(ERR_NOSPACE, rc);
    ASSERT_EQ_INT(ERR_NOSPACE, store_append(s, &p, 1000, &pos, &dup, err, sizeof(err)));
    fsx_fault_clear();
    ASSERT_EQ_U64(2 + ok, pub(s, "t", NULL, "two", 1000));
    store_close(s);
    s = open_store(1 << 20, 0);
    struct store_stats st;
    store_stats(s, &st);
    ASSERT_EQ_U64(2 + ok, st.events);
    ASSERT_EQ_U64(0, st.recovered_cut_bytes);
    expect_payload(s, 2, "x");
    expect_payload(s, 2 + ok, "two");
    store_close(s);
}

/* A seal that cannot create the next segment (disk full) leaves the open one
 * usable, and publishing resumes once space is back. */
TEST(disk_full_at_seal)
{
    struct store *s = open_store(4096, 0);
    char payload[64];
    uint64_t p = 0;
    for (int i = 0; i < 40; i++)
        p = pub(s, "t", NULL, "fill fill fill fill", 1000);
    struct store_stats st;
    store_stats(s, &st);
    uint64_t segs = st.segments;
    /* append until the next one would seal, with every open failing */
    fsx_fault_fail(FSX_OPEN, 1, ENOSPC, 0);
    struct store_pub sp = {"t", 1, NULL, 0, NULL, 0, 0, NULL, 0, "x", 1, 0, 0, 0, 0, 0};
    uint64_t pos;
    int dup, nospace = 0;
    char err[200];
    for (int i = 0; i < 200 && !nospace; i++)
        nospace = store_append(s, &sp, 1000, &pos, &dup, err, sizeof(err)) ==
                  ERR_NOSPACE;
    ASSERT_TRUE(nospace);
    ASSERT_EQ_INT(ERR_NOSPACE, store_append(s, &sp, 1000, &pos, &dup, err, sizeof(err)));
    fsx_fault_clear();
    snprintf(payload, sizeof(payload), "after");
    uint64_t q = pub(s, "t", NULL, payload, 1000);
    ASSERT_TRUE(q > p);
    store_stats(s, &st);
    ASSERT_EQ_U64(segs + 1, st.segments);
    expect_payload(s, q, "after");
    expect_payload(s, p, "fill fill fill fill");
    store_close(s);
    s = open_store(4096, 0);
    expect_payload(s, q, "after");
    store_close(s);
}

/* Power loss with fsync always: whatever was synced survives, in every mode. */
TEST(power_loss_keeps_synced)
{
    for (int mode = FSX_LOSS_DROP; mode <= FSX_LOSS_ZERO; mode++) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", sdir());
        ASSERT_EQ_INT(0, system(cmd));
        fsx_powerloss_track(1);
        struct store *s = open_store(2048, 0);
        char err[200], payload[64];
        uint64_t acked = 0;
        for (int i = 1; i <= 120; i++) {
            snprintf(payload, sizeof(payload), "ev-%d", i);
            uint64_t p = pub(s, "t", NULL, payload, 1000);
            if (i % 7 == 0) {
                ASSERT_EQ_INT(0, store_sync(s, err, sizeof(err)));
                acked = p;
            }
        }
        ASSERT_TRUE(fsx_powerloss_pending() > 0);
        ASSERT_TRUE(fsx_powerloss_apply((enum fsx_loss)mode) > 0);
        fsx_powerloss_track(0);
        /* the process "died": drop the handles without syncing */
        store_close(s);
        s = open_store(2048, 0);
        struct store_stats st;
        store_stats(s, &st);
        ASSERT_TRUE(st.last_pos >= acked);
        for (uint64_t p = 1; p <= acked; p++) {
            snprintf(payload, sizeof(payload), "ev-%d", (int)p);
            expect_payload(s, p, payload);
        }
        uint64_t np = pub(s, "t", NULL, "after", 1000);
        ASSERT_TRUE(np > st.last_pos);
        store_close(s);
    }
}

/* Fail the Nth I/O call of a workload for N = 1..K: the store either works or
 * refuses clearly, and reopens with every acknowledged event. */
TEST(fault_sweep)
{
    for (uint64_t n = 1; n <= 60; n++) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", sdir());
        ASSERT_EQ_INT(0, system(cmd));
        struct store *s = open_store(2048, 0);
        fsx_fault_fail(FSX_ANY, n, n % 2 ? EIO : ENOSPC, 1);
        uint64_t acked = 0;
        char err[200], payload[64];
        for (int i = 1; i <= 40; i++) {
            snprintf(payload, sizeof(payload), "ev-%d", i);
            struct store_pub p = {"t", 1, NULL, 0, NULL, 0, 0, NULL, 0, payload,
                                  strlen(payload), 0, 0, 0, 0, 0};
            uint64_t pos;
            int dup;
            int rc = store_append(s, &p, 1000, &pos, &dup, err, sizeof(err));
            if (rc) {
                ASSERT_TRUE(rc == ERR_READONLY || rc == ERR_NOSPACE || rc == ERR_IO);
                continue;
            }
            if (store_sync(s, err, sizeof(err)) == 0)
                acked = pos;
        }
        fsx_fault_clear();
        store_close(s);
        s = open_store(2048, 0);
        struct store_stats st;
        store_stats(s, &st);
        ASSERT_TRUE(st.last_pos >= acked);
        uint8_t *buf = NULL;
        size_t cap = 0;
        for (uint64_t p = 1; p <= acked; p++) {
            struct segment_record r;
            int rc = store_get(s, p, &r, &buf, &cap);
            ASSERT_TRUE(rc == 0 || rc == ERR_NOTFOUND);
        }
        free(buf);
        store_close(s);
    }
}

TEST(index_decode_rejects_garbage)
{
    struct index ix;
    index_init(&ix, 1);
    uint8_t junk[200];
    memset(junk, 0xab, sizeof(junk));
    char err[100];
    ASSERT_EQ_INT(ERR_CORRUPT, index_decode(&ix, junk, sizeof(junk), 1000, err,
                                            sizeof(err)));
    index_deinit(&ix);
}

/* A sealed index's postings, read back through its block cache: every
 * lower bound (random rels, walks forward one event at a time like the bus,
 * three interleaved types sharing the cache) equals a linear search of the
 * postings, and a walk reads the file once per block of 256, not a binary
 * search of preads per step. */
TEST(sealed_postings_lookups)
{
    struct index ix;
    index_init(&ix, 1);
    const char *types[] = {"a.x", "b.y", "c.z"};
    enum { N = 5000 };
    static struct index_posting want[3][N];
    size_t nwant[3] = {0};
    uint32_t off = SEGMENT_HEADER_SIZE;
    for (uint64_t i = 0; i < N; i++) {
        /* uneven mix: type 0 dense, type 2 rare */
        size_t t = i % 7 == 0 ? 2 : i % 3 == 0 ? 1 : 0;
        struct segment_record r = {.position = 1 + i, .time_ms = 1000 + i,
                                   .type = types[t], .type_len = 3};
        index_add(&ix, &r, off, 40);
        want[t][nwant[t]++] = (struct index_posting){(uint32_t)i, off};
        off += 40;
    }
    char name[] = "seg.idx", path[400], err[200];
    ASSERT_EQ_INT(0, index_save(&ix, test_dir(), name));
    index_deinit(&ix);
    snprintf(path, sizeof(path), "%s/%s", test_dir(), name);
    index_init(&ix, 1);
    ASSERT_EQ_INT(0, index_load(&ix, path, off, err, sizeof(err)));
    const struct index_type *ts[3];
    for (int t = 0; t < 3; t++) {
        ts[t] = index_type_find(&ix, types[t], 3);
        ASSERT_TRUE(ts[t] != NULL);
        ASSERT_TRUE(ts[t]->post == NULL); /* from the file */
        ASSERT_EQ_U64(nwant[t], ts[t]->count);
    }
    uint64_t seed = 42;
    for (int round = 0; round < 3000; round++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        int t = (int)(seed >> 62) % 3;
        uint32_t rel = (uint32_t)((seed >> 20) % (N + 10));
        uint64_t got, lin = 0;
        while (lin < nwant[t] && want[t][lin].rel < rel)
            lin++;
        ASSERT_EQ_INT(0, index_postings_lower(&ix, ts[t], rel, &got));
        ASSERT_EQ_U64(lin, got);
        if (lin < nwant[t]) {
            struct index_posting p;
            ASSERT_EQ_INT(0, index_postings(&ix, ts[t], lin, 1, &p));
            ASSERT_EQ_U64(want[t][lin].rel, p.rel);
            ASSERT_EQ_U64(want[t][lin].offset, p.offset);
        }
    }
    /* the bus's walk: next match after each delivered one, all three types */
    uint64_t reads0 = fsx_calls(FSX_READ), seen = 0;
    uint32_t after = 0;
    for (;;) {
        uint64_t best = UINT64_MAX;
        for (int t = 0; t < 3; t++) {
            uint64_t i;
            ASSERT_EQ_INT(0, index_postings_lower(&ix, ts[t], after, &i));
            if (i < ts[t]->count) {
                struct index_posting p;
                ASSERT_EQ_INT(0, index_postings(&ix, ts[t], i, 1, &p));
                if (p.rel < best)
                    best = p.rel;
            }
        }
        if (best == UINT64_MAX)
            break;
        ASSERT_EQ_U64(seen, best);
        seen++;
        after = (uint32_t)best + 1;
    }
    ASSERT_EQ_U64((uint64_t)N, seen);
    uint64_t reads = fsx_calls(FSX_READ) - reads0;
    /* 21 blocks and a search of ~12 preads per type at the start. Without
     * the blocks every one of the 15000 lookups was a binary search of the
     * file (~12 preads each). */
    ASSERT_TRUE(reads <= 21 + 3 * 14);
    /* one type alone, walked again from its start: one search (the blocks
     * held are the last ones), then a read per block (12) */
    reads0 = fsx_calls(FSX_READ);
    for (uint64_t i = 0, k; i < nwant[0]; i++) {
        ASSERT_EQ_INT(0, index_postings_lower(&ix, ts[0], want[0][i].rel, &k));
        ASSERT_EQ_U64(i, k);
        ASSERT_EQ_INT(0, index_postings_lower(&ix, ts[0], want[0][i].rel + 1, &k));
        ASSERT_EQ_U64(i + 1, k);
    }
    ASSERT_TRUE(fsx_calls(FSX_READ) - reads0 <= nwant[0] / 256 + 2 + 14);
    index_deinit(&ix);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(crc32c_known_values), T(record_round_trip),
                                     T(publish_get_reopen),
                                     T(ranges_across_segments),
                                     T(truncate_every_byte), T(zero_filled_tail),
                                     T(flipped_crc_mid_file_refuses_then_repairs),
                                     T(sealed_segment_damage_refuses),
                                     T(write_failure_is_sticky_readonly),
                                     T(disk_full_resumes), T(disk_full_at_seal),
                                     T(power_loss_keeps_synced),
                                     T(fault_sweep), T(index_decode_rejects_garbage),
                                     T(reads_reuse_the_window),
                                     T(sealed_postings_lookups),
                                     {0}});
}
