/* test_scan.c - reading a store directory in order, beside a live store. */
#include "scan.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "errors.h"
#include "store.h"
#include "test.h"

static char dir_[300];

static const char *sdir(void)
{
    snprintf(dir_, sizeof(dir_), "%s/ev", test_dir());
    return dir_;
}

static struct store *open_store(uint64_t segsize)
{
    struct store_config cfg = {sdir(), segsize, 0, 0, STORE_PREALLOC_DEFAULT};
    struct store *s = NULL;
    char err[256] = "";
    int rc = store_open(&s, &cfg, 6000, err, sizeof(err));
    if (rc)
        fprintf(stderr, "  open: %s\n", err);
    ASSERT_EQ_INT(0, rc);
    return s;
}

static uint64_t pub(struct store *s, const char *type, const char *payload)
{
    struct store_pub p = {type, strlen(type), NULL, 0,       NULL,           0,
                          0,    NULL,         0,    payload, strlen(payload), 0, 0, 0, 0, 0};
    uint64_t pos = 0;
    int dup = 0;
    char err[256];
    int rc = store_append(s, &p, 7000, &pos, &dup, err, sizeof(err));
    if (!rc)
        rc = store_flush(s, err, sizeof(err));
    ASSERT_EQ_INT(0, rc);
    return pos;
}

static struct scan *open_scan(uint64_t from, unsigned flags)
{
    struct scan *sc = NULL;
    char err[256] = "";
    int rc = scan_open(&sc, sdir(), from, flags, err, sizeof(err));
    if (rc)
        fprintf(stderr, "  scan_open: %s\n", err);
    ASSERT_EQ_INT(0, rc);
    return sc;
}

/* Reads until "nothing more now"; returns how many, checking order and that
 * every payload is "p<position>". */
static size_t drain(struct scan *sc, uint64_t *last)
{
    struct segment_record r;
    char err[256] = "", want[32];
    size_t n = 0;
    int rc;
    while ((rc = scan_next(sc, &r, NULL, err, sizeof(err))) == 1) {
        ASSERT_TRUE(r.position > *last);
        *last = r.position;
        snprintf(want, sizeof(want), "p%" PRIu64, r.position);
        ASSERT_EQ_MEM(want, strlen(want), r.payload, r.payload_len);
        n++;
    }
    if (rc)
        fprintf(stderr, "  scan_next: %s\n", err);
    ASSERT_EQ_INT(0, rc);
    return n;
}

static void pub_n(struct store *s, size_t n)
{
    char p[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof(p), "p%" PRIu64, store_last_pos(s) + 1);
        pub(s, i % 2 ? "a.b" : "c", p);
    }
}

TEST(follows_a_live_store_across_seals)
{
    struct store *s = open_store(64 * 1024); /* seals every ~700 events */
    struct scan *sc = open_scan(1, 0);
    uint64_t last = 0;
    ASSERT_EQ_INT(0, drain(sc, &last));
    size_t total = 0;
    for (int round = 0; round < 20; round++) {
        pub_n(s, 150 + (size_t)round * 13);
        total += drain(sc, &last);
        ASSERT_EQ_U64(store_last_pos(s), last);
    }
    struct store_stats st;
    store_stats(s, &st);
    ASSERT_TRUE(st.segments > 3);
    ASSERT_EQ_U64(st.events, total);
    scan_close(sc);
    store_close(s);
}

TEST(limit_and_from)
{
    struct store *s = open_store(64 * 1024);
    pub_n(s, 3000);
    struct scan *sc = open_scan(1500, 0);
    scan_set_limit(sc, 2000);
    uint64_t last = 1499;
    ASSERT_EQ_INT(501, drain(sc, &last));
    ASSERT_EQ_U64(2000, last);
    scan_set_limit(sc, UINT64_MAX);
    ASSERT_EQ_INT(1000, drain(sc, &last));
    scan_close(sc);
    store_close(s);
}

static char seg_path_[400];
static const char *last_segment(void)
{
    uint64_t *b;
    size_t n;
    char err[200];
    ASSERT_EQ_INT(0, scan_list_segments(sdir(), &b, &n, err, sizeof(err)));
    ASSERT_TRUE(n > 0);
    snprintf(seg_path_, sizeof(seg_path_), "%s/%020" PRIu64 ".seg", sdir(),
             b[n - 1]);
    free(b);
    return seg_path_;
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    ASSERT_TRUE(fd >= 0);
    uint8_t c;
    ASSERT_EQ_INT(1, pread(fd, &c, 1, off));
    c ^= 0x55;
    ASSERT_EQ_INT(1, pwrite(fd, &c, 1, off));
    close(fd);
}

TEST(torn_tail_is_the_end_corruption_inside_is_not)
{
    struct store *s = open_store(1 << 20);
    pub_n(s, 100);
    store_close(s);
    /* a tail cut in the middle of the last record: the end, not an error */
    struct stat stt;
    const char *seg = last_segment();
    ASSERT_EQ_INT(0, stat(seg, &stt));
    struct scan *sc = open_scan(1, 0);
    struct segment_record r;
    struct scan_where w = {0};
    char err[256] = "";
    uint64_t lastoff = 0;
    int rc;
    while ((rc = scan_next(sc, &r, &w, err, sizeof(err))) == 1)
        lastoff = w.offset;
    ASSERT_EQ_INT(0, rc);
    scan_close(sc);
    ASSERT_EQ_INT(0, truncate(seg, (off_t)lastoff + 5));
    sc = open_scan(1, 0);
    uint64_t last = 0;
    ASSERT_EQ_INT(99, drain(sc, &last));
    scan_close(sc);
    /* a flipped byte in record 50 with good records after it: corruption */
    sc = open_scan(1, 0);
    uint64_t off50 = 0;
    while (scan_next(sc, &r, &w, err, sizeof(err)) == 1)
        if (r.position == 50)
            off50 = w.offset;
    scan_close(sc);
    flip_byte(seg, (off_t)off50 + 20);
    sc = open_scan(1, 0);
    last = 0;
    while ((rc = scan_next(sc, &r, NULL, err, sizeof(err))) == 1)
        last = r.position;
    ASSERT_EQ_INT(ERR_CORRUPT, rc);
    ASSERT_EQ_U64(49, last);
    ASSERT_TRUE(strstr(err, "bad record at offset") != NULL);
    scan_close(sc);
    /* with SCAN_SKIP_CORRUPT it steps over record 50 */
    sc = open_scan(1, SCAN_SKIP_CORRUPT);
    size_t n = 0;
    while ((rc = scan_next(sc, &r, NULL, err, sizeof(err))) == 1) {
        ASSERT_TRUE(r.position != 50);
        n++;
    }
    ASSERT_EQ_INT(0, rc);
    ASSERT_EQ_INT(98, n);
    ASSERT_TRUE(scan_bytes_skipped(sc) > 0);
    scan_close(sc);
}

TEST(damaged_end_of_a_sealed_segment)
{
    struct store *s = open_store(64 * 1024);
    pub_n(s, 5000); /* several segments */
    store_close(s);
    uint64_t *b;
    size_t n;
    char err[256] = "";
    ASSERT_EQ_INT(0, scan_list_segments(sdir(), &b, &n, err, sizeof(err)));
    ASSERT_TRUE(n >= 3);
    char path[400];
    snprintf(path, sizeof(path), "%s/%020" PRIu64 ".seg", sdir(), b[0]);
    free(b);
    int fd = open(path, O_WRONLY | O_APPEND);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ_INT(7, write(fd, "garbage", 7));
    close(fd);
    struct scan *sc = open_scan(1, 0);
    struct segment_record r;
    int rc;
    while ((rc = scan_next(sc, &r, NULL, err, sizeof(err))) == 1)
        ;
    ASSERT_EQ_INT(ERR_CORRUPT, rc);
    ASSERT_TRUE(strstr(err, "end is damaged") != NULL);
    scan_close(sc);
    sc = open_scan(1, SCAN_SKIP_CORRUPT);
    uint64_t last = 0;
    ASSERT_EQ_INT(5000, drain(sc, &last));
    ASSERT_EQ_U64(7, scan_bytes_skipped(sc));
    scan_close(sc);
}

TEST(missing_directory)
{
    struct scan *sc = NULL;
    char err[256] = "";
    ASSERT_EQ_INT(
        ERR_IO, scan_open(&sc, "/nonexistent/tincan", 1, 0, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "/nonexistent/tincan") != NULL);
}

int main(int argc, char **argv)
{
    return test_main(
        argc, argv,
        (struct test[]){T(follows_a_live_store_across_seals),
                        T(limit_and_from),
                        T(torn_tail_is_the_end_corruption_inside_is_not),
                        T(damaged_end_of_a_sealed_segment),
                        T(missing_directory),
                        {0}});
}
