/* pbschema_check - compiles a FileDescriptorSet and validates payload files
 * with src/contract/pbschema.c, for tests/integration/test_pbschema.py.
 *
 *   pbschema_check [-r a,b] FDS MESSAGE PAYLOAD...
 *       one line per payload: "<path>: ok" or "<path>: error: <err>"
 *   pbschema_check -c [-r a,b] [-R a,b] OLD_FDS NEW_FDS MESSAGE [NEW_MESSAGE]
 *       "compatible" or "incompatible: <err>" (-r: the old envelope, -R: the
 *       new one; defaults to -r's)
 *   pbschema_check -b N [-r a,b] FDS MESSAGE PAYLOAD
 *       validates PAYLOAD N times, prints "bytes=B n=N ns_per_validation=X"
 *
 * -r names the envelope fields (comma separated). A schema that does not
 * compile prints "compile: <err>" and exits 1; bad usage exits 2; otherwise
 * the exit status is 0 whatever the payloads' verdicts (and 0/1 for -c as
 * compatible/incompatible). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pbschema.h"

#define MAX_ENV 16

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "pbschema_check: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "pbschema_check: out of memory\n");
        exit(2);
    }
    *n = len;
    return buf;
}

/* Splits a,b,c into names (in place); returns the count. */
static size_t split(char *s, const char **names)
{
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < MAX_ENV;
         tok = strtok(NULL, ","))
        names[n++] = tok;
    return n;
}

static struct pbschema *compile(const char *path, const char *message,
                                const char *const *env, size_t nenv)
{
    size_t n;
    uint8_t *fds = slurp(path, &n);
    char err[512];
    struct pbschema *s =
        pbschema_compile(fds, n, message, env, nenv, err, sizeof(err));
    free(fds);
    if (!s) {
        printf("compile: %s\n", err);
        exit(1);
    }
    return s;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *env[MAX_ENV], *nenv_names[MAX_ENV];
    size_t nenv = 0, nnew = 0;
    int compat = 0, have_new = 0;
    long bench = 0;
    int opt;
    while ((opt = getopt(argc, argv, "cb:r:R:")) != -1) {
        switch (opt) {
        case 'c':
            compat = 1;
            break;
        case 'b':
            bench = strtol(optarg, NULL, 10);
            break;
        case 'r':
            nenv = split(optarg, env);
            break;
        case 'R':
            nnew = split(optarg, nenv_names);
            have_new = 1;
            break;
        default:
            return 2;
        }
    }
    argc -= optind;
    argv += optind;
    char err[512];
    if (compat) {
        if (argc < 3)
            return 2;
        struct pbschema *o = compile(argv[0], argv[2], env, nenv);
        struct pbschema *n =
            compile(argv[1], argc > 3 ? argv[3] : argv[2],
                    have_new ? nenv_names : env, have_new ? nnew : nenv);
        int rc = pbschema_compatible(o, n, err, sizeof(err));
        if (rc == 0)
            printf("compatible\n");
        else
            printf("incompatible: %s\n", err);
        pbschema_free(o);
        pbschema_free(n);
        return rc == 0 ? 0 : 1;
    }
    if (argc < 3)
        return 2;
    struct pbschema *s = compile(argv[0], argv[1], env, nenv);
    if (bench > 0) {
        size_t n;
        uint8_t *p = slurp(argv[2], &n);
        if (pbschema_validate(s, p, n, err, sizeof(err)) != 0) {
            printf("%s: error: %s\n", argv[2], err);
            return 1;
        }
        int bad = 0;
        double t0 = now_ns();
        for (long i = 0; i < bench; i++)
            bad |= pbschema_validate(s, p, n, err, sizeof(err));
        double dt = now_ns() - t0;
        printf("bytes=%zu n=%ld ns_per_validation=%.1f%s\n", n, bench,
               dt / (double)bench, bad ? " (failures!)" : "");
        free(p);
        pbschema_free(s);
        return bad ? 1 : 0;
    }
    for (int i = 2; i < argc; i++) {
        size_t n;
        uint8_t *p = slurp(argv[i], &n);
        if (pbschema_validate(s, p, n, err, sizeof(err)) == 0)
            printf("%s: ok\n", argv[i]);
        else
            printf("%s: error: %s\n", argv[i], err);
        free(p);
    }
    pbschema_free(s);
    return 0;
}
