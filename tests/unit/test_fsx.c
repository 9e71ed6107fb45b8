/* fsx (fault injection, short writes, power-loss simulation) and syncer (the
 * group-commit thread). */
#include "test.h"

#include "fsx.h"
#include "syncer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

static char path_[300];
static const char *tpath(const char *name)
{
    snprintf(path_, sizeof(path_), "%s/%s", test_dir(), name);
    return path_;
}

static size_t read_file(const char *p, char *buf, size_t cap)
{
    int fd = open(p, O_RDONLY);
    ASSERT_TRUE(fd >= 0);
    ssize_t n = read(fd, buf, cap);
    close(fd);
    ASSERT_TRUE(n >= 0);
    return (size_t)n;
}

TEST(nth_call_faults)
{
    int fd = fsx_open(tpath("f"), O_RDWR | O_CREAT, 0644);
    ASSERT_TRUE(fd >= 0);
    fsx_fault_fail(FSX_WRITE, 2, EIO, 1);
    ASSERT_EQ_INT(3, (int)fsx_write(fd, "abc", 3));
    ASSERT_EQ_INT(-EIO, (int)fsx_write(fd, "def", 3));
    ASSERT_EQ_INT(EIO, errno);
    ASSERT_EQ_INT(3, (int)fsx_write(fd, "ghi", 3)); /* count 1: only one failed */
    /* only the chosen op is affected */
    fsx_fault_fail(FSX_SYNC, 1, ENOSPC, 0);
    ASSERT_EQ_INT(3, (int)fsx_pwrite(fd, "xyz", 3, 0));
    ASSERT_EQ_INT(-ENOSPC, fsx_fdatasync(fd));
    ASSERT_EQ_INT(-ENOSPC, fsx_fsync(fd)); /* count 0: every call from then on */
    fsx_fault_clear();
    ASSERT_EQ_INT(0, fsx_fdatasync(fd));
    /* FSX_ANY counts every op */
    uint64_t before = fsx_calls(FSX_ANY);
    fsx_fault_fail(FSX_ANY, 2, EIO, 1);
    ASSERT_EQ_INT(0, fsx_fdatasync(fd));
    ASSERT_EQ_INT(-EIO, fsx_ftruncate(fd, 0));
    fsx_fault_clear();
    ASSERT_EQ_U64(before + 2, fsx_calls(FSX_ANY));
    /* short write, and the _all helper finishing it */
    fsx_fault_short_write(1, 2);
    ASSERT_EQ_INT(2, (int)fsx_pwrite(fd, "hello", 5, 0));
    fsx_fault_short_write(1, 2);
    ASSERT_EQ_INT(0, fsx_pwrite_all(fd, "hello", 5, 0));
    char buf[16];
    ASSERT_EQ_INT(0, fsx_pread_all(fd, buf, 5, 0));
    ASSERT_EQ_MEM("hello", 5, buf, 5);
    ASSERT_EQ_INT(-ENODATA, fsx_pread_all(fd, buf, 16, 0));
    ASSERT_EQ_INT(0, fsx_close(fd));
    ASSERT_EQ_STR("fdatasync", fsx_op_name(FSX_SYNC));
}

/* drop: back to the synced state; half: the first half of each write stays;
 * zero: unsynced bytes become zeros, size kept. Renames carry the record. */
TEST(power_loss_modes)
{
    for (int mode = FSX_LOSS_DROP; mode <= FSX_LOSS_ZERO; mode++) {
        fsx_powerloss_track(1);
        int fd = fsx_open(tpath("p"), O_RDWR | O_CREAT | O_TRUNC, 0644);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ_INT(0, fsx_pwrite_all(fd, "AAAA", 4, 0));
        ASSERT_EQ_INT(0, fsx_fdatasync(fd));
        ASSERT_EQ_INT(0, fsx_pwrite_all(fd, "BB", 2, 2));     /* overwrite */
        ASSERT_EQ_INT(0, fsx_pwrite_all(fd, "CCCC", 4, 4));   /* extend */
        ASSERT_EQ_U64(6, fsx_powerloss_pending());
        ASSERT_EQ_INT(0, fsx_close(fd));
        ASSERT_TRUE(fsx_powerloss_apply((enum fsx_loss)mode) > 0);
        fsx_powerloss_track(0);
        char buf[16];
        size_t n = read_file(tpath("p"), buf, sizeof(buf));
        if (mode == FSX_LOSS_DROP)
            ASSERT_EQ_MEM("AAAA", 4, buf, n);
        else if (mode == FSX_LOSS_HALF)
            ASSERT_EQ_MEM("AABACC", 6, buf, n);
        else
            ASSERT_EQ_MEM("AA\0\0\0\0\0\0", 8, buf, n);
    }
    /* a synced-then-renamed temp file survives whole */
    fsx_powerloss_track(1);
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s", tpath("t.tmp"));
    int fd = fsx_open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_EQ_INT(0, fsx_write_all(fd, "meta", 4));
    ASSERT_EQ_INT(0, fsx_fsync(fd));
    ASSERT_EQ_INT(0, fsx_close(fd));
    ASSERT_EQ_INT(0, fsx_rename(tmp, tpath("t")));
    ASSERT_EQ_U64(0, fsx_powerloss_pending());
    fsx_powerloss_apply(FSX_LOSS_DROP);
    fsx_powerloss_track(0);
    char buf[16];
    ASSERT_EQ_MEM("meta", 4, buf, read_file(tpath("t"), buf, sizeof(buf)));
}

struct done_log {
    uint64_t seq;
    int err;
    int calls;
};

static void on_done(void *ctx, uint64_t seq, int err)
{
    struct done_log *d = ctx;
    d->seq = seq;
    d->err = err;
    d->calls++;
}

static void run_until(uv_loop_t *loop, struct done_log *d, uint64_t seq)
{
    for (int i = 0; i < 2000 && (d->seq < seq && !d->err); i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

TEST(syncer_group_commit_and_failure)
{
    uv_loop_t loop;
    ASSERT_EQ_INT(0, uv_loop_init(&loop));
    struct done_log d = {0, 0, 0};
    struct syncer *s = syncer_new(&loop, on_done, &d);
    int fd = fsx_open(tpath("s"), O_RDWR | O_CREAT, 0644);
    uint64_t rounds0 = syncer_rounds(s);
    uint64_t syncs0 = fsx_calls(FSX_SYNC);
    for (uint64_t i = 1; i <= 100; i++) {
        ASSERT_EQ_INT(0, fsx_write_all(fd, "x", 1));
        syncer_request(s, fd, i);
    }
    ASSERT_EQ_INT(0, syncer_wait_idle(s));
    run_until(&loop, &d, 100);
    ASSERT_EQ_U64(100, d.seq);
    ASSERT_EQ_INT(0, d.err);
    ASSERT_EQ_U64(100, syncer_synced(s));
    /* far fewer fsyncs than writes: they were shared */
    ASSERT_TRUE(syncer_rounds(s) - rounds0 < 100);
    ASSERT_EQ_U64(syncer_rounds(s) - rounds0, fsx_calls(FSX_SYNC) - syncs0);
    /* a failure is reported once and never retried */
    fsx_fault_fail(FSX_SYNC, 1, EIO, 1);
    syncer_request(s, fd, 101);
    ASSERT_EQ_INT(-EIO, syncer_wait_idle(s));
    run_until(&loop, &d, 101);
    ASSERT_EQ_INT(-EIO, d.err);
    fsx_fault_clear();
    uint64_t syncs1 = fsx_calls(FSX_SYNC);
    d.err = 0;
    syncer_request(s, fd, 102);
    run_until(&loop, &d, 102);
    ASSERT_EQ_INT(-EIO, d.err);            /* answered with the same error */
    ASSERT_EQ_U64(syncs1, fsx_calls(FSX_SYNC)); /* without trying again */
    ASSERT_EQ_U64(100, syncer_synced(s));
    syncer_free(s);
    uv_run(&loop, UV_RUN_DEFAULT); /* runs the close callback */
    ASSERT_EQ_INT(0, uv_loop_close(&loop));
    fsx_close(fd);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(nth_call_faults), T(power_loss_modes),
                                     T(syncer_group_commit_and_failure), {0}});
}
