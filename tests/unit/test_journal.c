/* test_journal.c - the state journal: framing, recovery, torn tails,
 * checkpoints, sticky I/O errors and simulated power loss (through fsx). */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "clock.h"
#include "errors.h"
#include "fsx.h"
#include "test.h"

/* What replay saw. */
struct seen {
    uint8_t type[4096];
    uint32_t val[4096]; /* each test payload is a u32 value + filler */
    size_t n;
    int fail_at; /* replay returns ERR_CORRUPT at this record (1-based) */
};

static struct seen seen;

static int on_replay(void *ctx, uint8_t type, const uint8_t *p, size_t n,
                     char *err, size_t errlen)
{
    (void)ctx;
    if (seen.fail_at && (size_t)seen.fail_at == seen.n + 1) {
        snprintf(err, errlen, "refused record %zu", seen.n + 1);
        return ERR_CORRUPT;
    }
    if (n < 4 || seen.n >= 4096)
        return ERR_CORRUPT;
    seen.type[seen.n] = type;
    memcpy(&seen.val[seen.n], p, 4);
    seen.n++;
    return 0;
}

static struct journal *jopen(int *rc)
{
    memset(&seen.type, 0, sizeof(seen.type));
    seen.n = 0;
    struct journal_opts o = {0};
    o.dir = test_dir();
    o.name = "t";
    o.replay = on_replay;
    o.compact_bytes = 4096;
    char err[256] = "";
    struct journal *j = NULL;
    *rc = journal_open(&j, &o, err, sizeof(err));
    if (*rc < 0)
        fprintf(stderr, "  (journal_open: %s)\n", err);
    return j;
}

static struct journal *must_open(void)
{
    int rc;
    struct journal *j = jopen(&rc);
    ASSERT_EQ_INT(0, rc);
    return j;
}

static void add(struct journal *j, uint8_t type, uint32_t v, size_t extra)
{
    uint8_t buf[512];
    /* not zeros: a half-written record must differ from the zeros the log
     * is written ahead with */
    memset(buf, 0xa5, sizeof(buf));
    memcpy(buf, &v, 4);
    ASSERT_TRUE(extra + 4 <= sizeof(buf));
    ASSERT_EQ_INT(0, journal_append(j, type, buf, 4 + extra, NULL, 0));
}

static int count_files(void)
{
    DIR *d = opendir(test_dir());
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static off_t file_size(const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", test_dir(), name);
    struct stat st;
    return stat(p, &st) == 0 ? st.st_size : -1;
}

static void append_raw(const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", test_dir(), name);
    FILE *f = fopen(path, "ab");
    ASSERT_TRUE(f != NULL);
    ASSERT_EQ_INT(n, fwrite(p, 1, n, f));
    fclose(f);
}

#define LOG1 "t.0000000000000001.log"

TEST(append_close_reopen_replays_in_order)
{
    struct journal *j = must_open();
    ASSERT_EQ_INT(0, (int)seen.n);
    for (uint32_t i = 1; i <= 100; i++)
        add(j, (uint8_t)(1 + i % 3), i, i % 50);
    ASSERT_EQ_U64(100, journal_commit(j, 0));
    journal_close(j);
    j = must_open();
    ASSERT_EQ_INT(100, (int)seen.n);
    for (uint32_t i = 1; i <= 100; i++) {
        ASSERT_EQ_INT(i, seen.val[i - 1]);
        ASSERT_EQ_INT(1 + i % 3, seen.type[i - 1]);
    }
    ASSERT_EQ_INT(ERR_INVAL, journal_append(j, 0, "xxxx", 4, NULL, 0));
    journal_close(j);
}

/* The log is written ahead with zeros: while open its file is longer than
 * its records, a kill -9 leaves that tail, and open drops it without calling
 * it torn; a clean close trims it. */
TEST(zero_tail_written_ahead_is_not_torn)
{
    struct journal *j = must_open();
    for (uint32_t i = 1; i <= 10; i++)
        add(j, 1, i, 20);
    ASSERT_EQ_U64(10, journal_commit(j, 1));
    off_t written = file_size(LOG1);
    ASSERT_TRUE(written > (off_t)journal_log_bytes(j));
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "cp %s/%s %s/crashed", test_dir(), LOG1, test_dir());
    ASSERT_EQ_INT(0, system(cmd));
    uint64_t bytes = journal_log_bytes(j);
    journal_close(j);
    ASSERT_EQ_INT((int)bytes, (int)file_size(LOG1));
    snprintf(cmd, sizeof(cmd), "cp %s/crashed %s/%s && rm %s/crashed", test_dir(),
             test_dir(), LOG1, test_dir());
    ASSERT_EQ_INT(0, system(cmd));
    j = must_open();
    ASSERT_EQ_INT(10, (int)seen.n);
    ASSERT_EQ_U64(0, journal_truncated(j));
    add(j, 1, 11, 0);
    journal_close(j);
    j = must_open();
    ASSERT_EQ_INT(11, (int)seen.n);
    ASSERT_EQ_INT(11, seen.val[10]);
    journal_close(j);
}

TEST(torn_tail_is_cut_and_appends_continue)
{
    struct journal *j = must_open();
    for (uint32_t i = 1; i <= 10; i++)
        add(j, 1, i, 20);
    journal_close(j);
    off_t good = file_size(LOG1);
    /* half a frame: a crash in the middle of a write */
    uint8_t junk[13] = {40, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9, 9, 9};
    append_raw(LOG1, junk, sizeof(junk));
    j = must_open();
    ASSERT_EQ_INT(10, (int)seen.n);
    ASSERT_EQ_U64(sizeof(junk), journal_truncated(j));
    ASSERT_EQ_INT(good, file_size(LOG1));
    add(j, 2, 11, 0);
    journal_close(j);
    /* a whole frame with a bad checksum is cut too */
    uint8_t bad[13] = {5, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 7, 0, 0, 0};
    append_raw(LOG1, bad, sizeof(bad));
    j = must_open();
    ASSERT_EQ_INT(11, (int)seen.n);
    ASSERT_EQ_INT(11, seen.val[10]);
    /* counted up to its last byte that is not zero: zeros past a record
     * may be the log's preallocation */
    ASSERT_EQ_U64(sizeof(bad) - 3, journal_truncated(j));
    journal_close(j);
}

struct walk_ctx {
    uint32_t from, to;
};

static int walk(void *ctx, struct journal_ckpt *w)
{
    struct walk_ctx *c = ctx;
    for (uint32_t v = c->from; v <= c->to; v++) {
        uint8_t buf[4];
        memcpy(buf, &v, 4);
        int rc = journal_ckpt_add(w, 9, buf, 4);
        if (rc < 0)
            return rc;
    }
    return 0;
}

TEST(checkpoint_bounds_disk_by_live_state)
{
    struct journal *j = must_open();
    for (uint32_t i = 1; i <= 2000; i++)
        add(j, 1, i, 100);
    ASSERT_TRUE(journal_should_checkpoint(j));
    uint64_t before = journal_log_bytes(j);
    struct walk_ctx c = {1998, 2000}; /* the live state: 3 records */
    char err[256];
    ASSERT_EQ_INT(0, journal_checkpoint(j, walk, &c, err, sizeof(err)));
    ASSERT_EQ_U64(2, journal_generation(j));
    ASSERT_TRUE(journal_ckpt_bytes(j) < 100);
    ASSERT_TRUE(journal_log_bytes(j) < before);
    ASSERT_TRUE(!journal_should_checkpoint(j));
    ASSERT_EQ_INT(2, count_files()); /* old generation deleted */
    add(j, 1, 5000, 0);
    journal_close(j);
    j = must_open();
    ASSERT_EQ_INT(4, (int)seen.n);
    ASSERT_EQ_INT(9, seen.type[0]);
    ASSERT_EQ_INT(1998, seen.val[0]);
    ASSERT_EQ_INT(2000, seen.val[2]);
    ASSERT_EQ_INT(5000, seen.val[3]);
    /* and again: generation 3 */
    c.from = c.to = 7;
    ASSERT_EQ_INT(0, journal_checkpoint(j, walk, &c, err, sizeof(err)));
    journal_close(j);
    j = must_open();
    ASSERT_EQ_INT(1, (int)seen.n);
    ASSERT_EQ_INT(7, seen.val[0]);
    ASSERT_EQ_U64(3, journal_generation(j));
    journal_close(j);
}

TEST(corrupt_checkpoint_refuses_to_open)
{
    struct journal *j = must_open();
    struct walk_ctx c = {1, 50};
    char err[256];
    ASSERT_EQ_INT(0, journal_checkpoint(j, walk, &c, err, sizeof(err)));
    journal_close(j);
    char path[512];
    snprintf(path, sizeof(path), "%s/t.0000000000000002.ckpt", test_dir());
    int fd = open(path, O_RDWR);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ_INT(1, pwrite(fd, "X", 1, 100));
    close(fd);
    int rc;
    j = jopen(&rc);
    ASSERT_EQ_INT(ERR_CORRUPT, rc);
    ASSERT_TRUE(j == NULL);
    /* a missing checkpoint under a later log is refused too */
    ASSERT_EQ_INT(0, unlink(path));
    j = jopen(&rc);
    ASSERT_EQ_INT(ERR_CORRUPT, rc);
}

TEST(replay_error_aborts_open)
{
    struct journal *j = must_open();
    for (uint32_t i = 1; i <= 5; i++)
        add(j, 1, i, 0);
    journal_close(j);
    seen.fail_at = 3;
    int rc;
    j = jopen(&rc);
    seen.fail_at = 0;
    ASSERT_EQ_INT(ERR_CORRUPT, rc);
    ASSERT_TRUE(j == NULL);
}

TEST(io_errors_are_sticky)
{
    struct journal *j = must_open();
    add(j, 1, 1, 0);
    fsx_fault_fail(FSX_WRITE, 1, EIO, 1);
    char err[256] = "";
    ASSERT_EQ_INT(ERR_IO, journal_append(j, 1, "abcd", 4, err, sizeof(err)));
    fsx_fault_clear();
    ASSERT_EQ_INT(ERR_IO, journal_error(j));
    ASSERT_EQ_INT(ERR_READONLY,
                  journal_append(j, 1, "abcd", 4, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "read-only") != NULL);
    ASSERT_EQ_INT(1, journal_source(j)->failed);
    journal_close(j);
    /* fdatasync failure: also read-only, never retried */
    j = must_open();
    ASSERT_EQ_INT(1, (int)seen.n);
    add(j, 1, 2, 0);
    fsx_fault_fail(FSX_SYNC, 1, EIO, 1);
    journal_commit(j, 0);
    fsx_fault_clear();
    ASSERT_EQ_INT(ERR_IO, journal_error(j));
    journal_close(j);
}

TEST(checkpoint_failure_keeps_old_state)
{
    struct journal *j = must_open();
    for (uint32_t i = 1; i <= 20; i++)
        add(j, 1, i, 0);
    struct walk_ctx c = {100, 101};
    char err[256];
    fsx_fault_fail(FSX_RENAME, 1, EIO, 1);
    ASSERT_TRUE(journal_checkpoint(j, walk, &c, err, sizeof(err)) < 0);
    fsx_fault_clear();
    ASSERT_TRUE(strstr(err, "rename") != NULL);
    journal_close(j);
    j = must_open(); /* as after a crash at that step */
    ASSERT_EQ_INT(20, (int)seen.n);
    ASSERT_EQ_INT(1, count_files()); /* the .tmp is gone */
    journal_close(j);
}

static void power_loss(enum fsx_loss mode)
{
    fsx_powerloss_track(1);
    struct journal *j = must_open();
    for (uint32_t i = 1; i <= 5; i++)
        add(j, 1, i, 30);
    ASSERT_EQ_U64(5, journal_commit(j, 1));
    ASSERT_EQ_U64(5, journal_source(j)->synced);
    for (uint32_t i = 6; i <= 9; i++)
        add(j, 1, i, 30);
    journal_close(j); /* close is no sync: 6..9 are at risk */
    ASSERT_TRUE(fsx_powerloss_apply(mode) > 0);
    fsx_powerloss_track(0);
    j = must_open();
    ASSERT_EQ_INT(5, (int)seen.n); /* exactly the synced ones survive */
    ASSERT_EQ_INT(5, seen.val[4]);
    journal_close(j);
}

TEST(power_loss_drop_keeps_synced_records)
{
    power_loss(FSX_LOSS_DROP);
}

TEST(power_loss_half_and_zero_cut_at_last_good)
{
    power_loss(FSX_LOSS_HALF);
    test_rm_rf_(test_dir());
    ASSERT_EQ_INT(0, mkdir(test_dir(), 0700));
    power_loss(FSX_LOSS_ZERO);
}

TEST(fsync_modes_decide_what_commit_waits_for)
{
    int mode = JOURNAL_FSYNC_EVERYSEC;
    struct journal_opts o = {0};
    o.dir = test_dir();
    o.name = "m";
    o.replay = on_replay;
    o.fsync_mode = &mode;
    char err[256];
    struct journal *j = NULL;
    ASSERT_EQ_INT(0, journal_open(&j, &o, err, sizeof(err)));
    add(j, 1, 1, 0);
    ASSERT_EQ_U64(0, journal_commit(j, 0)); /* not held */
    ASSERT_EQ_U64(0, journal_source(j)->synced);
    ASSERT_EQ_U64(1, journal_commit(j, 1)); /* forced: synced inline */
    ASSERT_EQ_U64(1, journal_source(j)->synced);
    mode = JOURNAL_FSYNC_ALWAYS;
    add(j, 1, 2, 0);
    ASSERT_EQ_U64(2, journal_commit(j, 0));
    ASSERT_EQ_U64(2, journal_source(j)->synced);
    journal_close(j);
}

static void run_until(uv_loop_t *loop, const uint64_t *v, uint64_t want)
{
    for (int i = 0; i < 5000 && *v < want; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

TEST(group_commit_through_the_sync_thread)
{
    uv_loop_t loop;
    ASSERT_EQ_INT(0, uv_loop_init(&loop));
    int mode = JOURNAL_FSYNC_ALWAYS;
    struct journal_opts o = {0};
    o.dir = test_dir();
    o.name = "g";
    o.loop = &loop;
    o.fsync_mode = &mode;
    o.replay = on_replay;
    char err[256];
    struct journal *j = NULL;
    ASSERT_EQ_INT(0, journal_open(&j, &o, err, sizeof(err)));
    uint64_t seq = 0;
    for (uint32_t i = 1; i <= 50; i++) {
        add(j, 1, i, 10);
        seq = journal_commit(j, 0); /* never blocks */
    }
    ASSERT_EQ_U64(50, seq);
    const struct sync_source *src = journal_source(j);
    run_until(&loop, &src->synced, 50);
    ASSERT_EQ_U64(50, src->synced);
    /* everysec: nothing held, the timer syncs within about a second */
    mode = JOURNAL_FSYNC_EVERYSEC;
    add(j, 1, 51, 0);
    ASSERT_EQ_U64(0, journal_commit(j, 0));
    uint64_t t0 = clock_mono_ms();
    run_until(&loop, &src->synced, 51);
    ASSERT_EQ_U64(51, src->synced);
    ASSERT_TRUE(clock_mono_ms() - t0 < 3000);
    /* a checkpoint while syncs may be in flight */
    add(j, 1, 52, 0);
    journal_commit(j, 1);
    struct walk_ctx c = {1, 3};
    ASSERT_EQ_INT(0, journal_checkpoint(j, walk, &c, err, sizeof(err)));
    ASSERT_EQ_U64(52, src->synced);
    journal_close(j);
    uv_run(&loop, UV_RUN_DEFAULT); /* lets the handles close */
    ASSERT_EQ_INT(0, uv_loop_close(&loop));
    o.loop = NULL;
    seen.n = 0;
    ASSERT_EQ_INT(0, journal_open(&j, &o, err, sizeof(err)));
    ASSERT_EQ_INT(3, (int)seen.n);
    journal_close(j);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){
                         T(append_close_reopen_replays_in_order),
                         T(zero_tail_written_ahead_is_not_torn),
                         T(torn_tail_is_cut_and_appends_continue),
                         T(checkpoint_bounds_disk_by_live_state),
                         T(corrupt_checkpoint_refuses_to_open),
                         T(replay_error_aborts_open),
                         T(io_errors_are_sticky),
                         T(checkpoint_failure_keeps_old_state),
                         T(power_loss_drop_keeps_synced_records),
                         T(power_loss_half_and_zero_cut_at_last_good),
                         T(fsync_modes_decide_what_commit_waits_for),
                         T(group_commit_through_the_sync_thread),
                         {0},
                     });
}
