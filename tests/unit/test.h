/* test.h - the in-tree unit test runner.
 *
 * One binary per tests/unit/test_<module>.c. Each test runs in a fresh temp dir
 * (test_dir()), typed asserts print both sides and abandon only the failing
 * test, and the binary ends with "N passed, N failed" and exits non-zero on any
 * failure. Usage:
 *
 *     TEST(parses_ping) { ASSERT_EQ_INT(1, 1); }
 *     int main(int argc, char **argv) { return test_main(argc, argv, (struct test[]){
 *         T(parses_ping), {0}}); }
 *
 * It is not a framework: no fixtures, no registration magic, no threads. */
#ifndef TINCAN_TEST_H
#define TINCAN_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct test {
    const char *name;
    void (*fn)(void);
};

#define TEST(name) static void name(void)
#define T(name) {#name, name}

static jmp_buf test_jmp_;
static int test_failed_;
static char test_dir_[256];

/* The current test's private temp dir; removed after the test passes. */
static inline const char *test_dir(void)
{
    return test_dir_;
}

static inline void test_fail_(const char *file, int line, const char *msg)
{
    fprintf(stderr, "  FAIL %s:%d: %s\n", file, line, msg);
    test_failed_ = 1;
    longjmp(test_jmp_, 1);
}

#define ASSERT_TRUE(cond)                                                      \
    do {                                                                       \
        if (!(cond))                                                           \
            test_fail_(__FILE__, __LINE__, "expected true: " #cond);           \
    } while (0)

#define ASSERT_EQ_INT(want, got)                                               \
    do {                                                                       \
        long long w_ = (long long)(want), g_ = (long long)(got);               \
        if (w_ != g_) {                                                        \
            char m_[512];                                                      \
            snprintf(m_, sizeof(m_), "%s == %s: want %lld, got %lld", #want,   \
                     #got, w_, g_);                                            \
            test_fail_(__FILE__, __LINE__, m_);                                \
        }                                                                      \
    } while (0)

#define ASSERT_EQ_U64(want, got)                                               \
    do {                                                                       \
        uint64_t w_ = (uint64_t)(want), g_ = (uint64_t)(got);                  \
        if (w_ != g_) {                                                        \
            char m_[512];                                                      \
            snprintf(m_, sizeof(m_),                                           \
                     "%s == %s: want %" PRIu64 ", got %" PRIu64, #want, #got,  \
                     w_, g_);                                                  \
            test_fail_(__FILE__, __LINE__, m_);                                \
        }                                                                      \
    } while (0)

#define ASSERT_EQ_STR(want, got)                                               \
    do {                                                                       \
        const char *w_ = (want), *g_ = (got);                                  \
        if (!w_ || !g_ || strcmp(w_, g_) != 0) {                               \
            char m_[1024];                                                     \
            snprintf(m_, sizeof(m_), "%s == %s: want \"%s\", got \"%s\"",      \
                     #want, #got, w_ ? w_ : "(null)", g_ ? g_ : "(null)");     \
            test_fail_(__FILE__, __LINE__, m_);                                \
        }                                                                      \
    } while (0)

/* Compares n bytes; prints both as escaped text (first 200 bytes). */
#define ASSERT_EQ_MEM(want, wlen, got, glen)                                   \
    test_eq_mem_(__FILE__, __LINE__, #got, (want), (wlen), (got), (glen))

static inline void test_escape_(char *dst, size_t cap, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t o = 0;
    for (size_t i = 0; i < n && i < 200 && o + 5 < cap; i++) {
        if (s[i] >= 32 && s[i] < 127 && s[i] != '\\')
            dst[o++] = (char)s[i];
        else
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", s[i]);
    }
    dst[o] = '\0';
}

static inline void test_eq_mem_(const char *file, int line, const char *what,
                                const void *w, size_t wl, const void *g,
                                size_t gl)
{
    if (wl == gl && (wl == 0 || memcmp(w, g, wl) == 0))
        return;
    char ws[1100], gs[1100], m[2400];
    test_escape_(ws, sizeof(ws), w, wl);
    test_escape_(gs, sizeof(gs), g, gl);
    snprintf(m, sizeof(m), "%s: want [%zu] \"%s\", got [%zu] \"%s\"", what, wl,
             ws, gl, gs);
    test_fail_(file, line, m);
}

static inline void test_rm_rf_(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  warning: could not remove %s\n", dir);
}

/* Runs one test; returns 1 if it failed. Kept apart from test_main so the
 * longjmp back here clobbers no loop variables. */
static inline int test_run_one_(void (*fn)(void))
{
    test_failed_ = 0;
    if (setjmp(test_jmp_) == 0)
        fn();
    return test_failed_;
}

/* Runs every test (or those named on the command line); returns the exit code. */
static inline int test_main(int argc, char **argv, const struct test *tests)
{
    int passed = 0, failed = 0;
    for (const struct test *t = tests; t->name; t++) {
        if (argc > 1) {
            int want = 0;
            for (int i = 1; i < argc; i++)
                want |= strcmp(argv[i], t->name) == 0;
            if (!want)
                continue;
        }
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(test_dir_, sizeof(test_dir_), "%s/tincan-test-XXXXXX", base);
        if (!mkdtemp(test_dir_)) {
            perror("mkdtemp");
            return 2;
        }
        if (test_run_one_(t->fn)) {
            failed++;
            fprintf(stderr, "not ok %s (files kept in %s)\n", t->name, test_dir_);
        } else {
            passed++;
            printf("ok %s\n", t->name);
            test_rm_rf_(test_dir_);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif
