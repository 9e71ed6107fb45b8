/* export.c - `tincan export`: a data directory's events as Parquet files.
 *
 * Reads the segments of DATA/events (scan.h: read-only, so the server may be
 * running or stopped) and writes them through archive.h into a directory or
 * to S3, in the archive's layout. The same data with the same options gives
 * the same files under the same names, so an export cut short is simply run
 * again: files already in place are skipped. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "cli.h"
#include "clock.h"
#include "config.h"
#include "errors.h"
#include "scan.h"
#include "topic.h"

static const char usage[] =
    "usage: tincan export --dir DATA --to DIR|s3://bucket/prefix [options]\n"
    "  --dir DATA          the server's data directory (its --dir)\n"
    "  --to DIR|s3://...   where the Parquet files go\n"
    "  --from T            only events at or after T\n"
    "  --to T / --until T  only events at or before T (a --to whose value is "
    "a\n"
    "                      time is this bound)\n"
    "                      T: ms since the epoch, or UTC "
    "YYYY-MM-DD[THH:MM[:SS]][Z]\n"
    "  --type PATTERN      only types matching the topic pattern (order.*, #)\n"
    "  --endpoint URL      S3-compatible endpoint (default: AWS)\n"
    "  --region R          S3 region (default us-east-1)\n"
    "  --staging DIR       where files wait for upload (S3; default $TMPDIR)\n"
    "  --file-size BYTES   files close at about this size (default 64mb)\n"
    "  --quiet             no progress line, no summary\n"
    "Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
    "(AWS_SESSION_TOKEN).\n";

/* Parses ms since the epoch or a UTC date/time; 0 with *ms, or -1. */
static int parse_time(const char *s, uint64_t *ms)
{
    char *end;
    if (*s >= '0' && *s <= '9' && strspn(s, "0123456789") == strlen(s)) {
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end)
            return -1;
        *ms = v;
        return 0;
    }
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
        return -1;
    const char *p = s + n;
    if (*p == 'T' || *p == ' ') {
        int m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &m) != 2)
            return -1;
        p += 1 + m;
        if (*p == ':') {
            if (sscanf(p + 1, "%2d%n", &sec, &m) != 1)
                return -1;
            p += 1 + m;
        }
    }
    if (*p == 'Z')
        p++;
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t < 0)
        return -1;
    *ms = (uint64_t)t * 1000;
    return 0;
}

/* Bytes of the segments a scan from the start reads (for the progress bar). */
static uint64_t segments_bytes(const char *dir)
{
    uint64_t *bases, total = 0;
    size_t n;
    char err[300], path[4300];
    if (scan_list_segments(dir, &bases, &n, err, sizeof(err)))
        return 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        snprintf(path, sizeof(path), "%.4000s/%020" PRIu64 ".seg", dir,
                 bases[i]);
        if (stat(path, &st) == 0)
            total += (uint64_t)st.st_size;
    }
    free(bases);
    return total;
}

struct progress {
    int on;            /* stderr is a terminal */
    uint64_t total;    /* bytes to read */
    uint64_t t0, last; /* ms, monotonic */
};

static void progress_show(struct progress *pg, uint64_t done, uint64_t events,
                          int end)
{
    if (!pg->on)
        return;
    uint64_t now = clock_mono_ms();
    if (!end && now - pg->last < 100)
        return;
    pg->last = now;
    double secs = (double)(now - pg->t0) / 1000.0;
    double frac = pg->total ? (double)done / (double)pg->total : 1.0;
    if (frac > 1.0)
        frac = 1.0;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    double mbs = secs > 0 ? (double)done / 1e6 / secs : 0;
    double eta = frac > 0 && frac < 1 ? secs / frac - secs : 0;
    fprintf(stderr,
            "\r[%s] %3d%%  %" PRIu64 " events  %.0f MB/s  eta %.0fs   %s", bar,
            (int)(frac * 100), events, mbs, eta, end ? "\n" : "");
    fflush(stderr);
}

/* Finishes and commits b; prints the failure. 0 or 1. */
static int flush_batch(struct archive_batch *b, struct archive_batch_stats *sum)
{
    char err[600];
    if (archive_batch_finish(b, err, sizeof(err)) ||
        archive_batch_commit(b, err, sizeof(err))) {
        fprintf(stderr, "tincan export: %s\n", err);
        return 1;
    }
    struct archive_batch_stats st;
    archive_batch_stats(b, &st);
    sum->events += st.events;
    sum->committed_files += st.committed_files;
    sum->committed_bytes += st.committed_bytes;
    sum->skipped_files += st.skipped_files;
    return 0;
}

int cli_export(int argc, char **argv)
{
    const char *data = NULL, *to = NULL, *pattern = NULL, *endpoint = NULL;
    const char *region = NULL, *staging = NULL;
    uint64_t from_time = 0, to_time = 0;
    int quiet = 0;
    struct archive_params params;
    archive_params_init(&params, 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "tincan export: %s needs a value\n%s", a, usage);
            return 2;
        }
        const char *v = argv[++i];
        uint64_t t;
        if (!strcmp(a, "--dir")) {
            data = v;
        } else if (!strcmp(a, "--to") && parse_time(v, &t) != 0) {
            if (to) {
                fprintf(stderr,
                        "tincan export: --to %s: not a time, and the target is "
                        "already %s\n",
                        v, to);
                return 2;
            }
            to = v;
        } else if (!strcmp(a, "--to") || !strcmp(a, "--until") ||
                   !strcmp(a, "--from")) {
            if (parse_time(v, &t)) {
                fprintf(stderr,
                        "tincan export: %s %s: not a time (ms since the epoch "
                        "or YYYY-MM-DD[THH:MM[:SS]][Z])\n",
                        a, v);
                return 2;
            }
            if (!strcmp(a, "--from"))
                from_time = t ? t : 1;
            else
                to_time = t;
        } else if (!strcmp(a, "--type")) {
            char why[200];
            if (topic_pattern_check(v, strlen(v), why, sizeof(why))) {
                fprintf(stderr, "tincan export: --type %s: %s\n", v, why);
                return 2;
            }
            pattern = v;
        } else if (!strcmp(a, "--endpoint")) {
            endpoint = v;
        } else if (!strcmp(a, "--region")) {
            region = v;
        } else if (!strcmp(a, "--staging")) {
            staging = v;
        } else if (!strcmp(a, "--file-size")) {
            int64_t n;
            if (config_parse_bytes(v, &n) || n < 4096) {
                fprintf(stderr,
                        "tincan export: --file-size %s: bytes >= 4096 "
                        "(k, m, g suffixes)\n",
                        v);
                return 2;
            }
            archive_params_init(&params, (uint64_t)n);
        } else {
            fprintf(stderr, "tincan export: unknown option %s\n%s", a, usage);
            return 2;
        }
    }
    if (!data || !to) {
        fprintf(stderr, "tincan export: --dir and --to are required\n%s",
                usage);
        return 2;
    }
    if (from_time && to_time && from_time > to_time) {
        fprintf(stderr, "tincan export: --from is after --to\n");
        return 2;
    }

    char evdir[4200], tmpstage[4200] = "", err[600];
    snprintf(evdir, sizeof(evdir), "%s/events", data);
    struct stat st;
    if (stat(evdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(
            stderr,
            "tincan export: %s is not a tincan data directory (no events/)\n",
            data);
        return 1;
    }
    if (!strncmp(to, "s3://", 5) && !staging) {
        const char *tmp = getenv("TMPDIR");
        snprintf(tmpstage, sizeof(tmpstage), "%s/tincan-export-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(tmpstage)) {
            fprintf(stderr, "tincan export: mkdtemp %s: %s\n", tmpstage,
                    strerror(errno));
            return 1;
        }
        staging = tmpstage;
    }
    struct archive_target_config tc = {to,   endpoint, region, NULL,
                                       NULL, staging,  NULL,   NULL};
    struct archive_target *t = NULL;
    struct scan *sc = NULL;
    struct archive_batch *b = NULL;
    int ret = 1;
    if (archive_target_open(&t, &tc, err, sizeof(err)) ||
        archive_target_check(t, err, sizeof(err))) {
        fprintf(stderr, "tincan export: %s\n", err);
        goto out;
    }
    if (scan_open(&sc, evdir, 1, 0, err, sizeof(err))) {
        fprintf(stderr, "tincan export: %s\n", err);
        goto out;
    }
    struct archive_filter f = {pattern, pattern ? strlen(pattern) : 0,
                               from_time, to_time};
    struct progress pg = {!quiet && isatty(2), 0, clock_mono_ms(), 0};
    if (pg.on)
        pg.total = segments_bytes(evdir);
    struct archive_batch_stats sum = {0}, bst;
    struct segment_record r;
    uint64_t seen = 0;
    int rc;
    archive_batch_new(&b, t, &params, &f, err, sizeof(err));
    while ((rc = scan_next(sc, &r, NULL, err, sizeof(err))) == 1) {
        if (to_time && r.time_ms > to_time)
            break; /* times never go back */
        if ((rc = archive_batch_add(b, &r, err, sizeof(err)))) {
            fprintf(stderr, "tincan export: %s\n", err);
            goto out;
        }
        seen++;
        if ((seen & 4095) == 0) {
            archive_batch_stats(b, &bst);
            progress_show(&pg, scan_bytes_read(sc), sum.events + bst.events, 0);
            if (bst.staged_bytes >= 4 * params.file_bytes) {
                if (flush_batch(b, &sum))
                    goto out;
                archive_batch_free(b);
                archive_batch_new(&b, t, &params, &f, err, sizeof(err));
            }
        }
    }
    if (rc < 0) {
        fprintf(stderr, "tincan export: %s\n", err);
        goto out;
    }
    if (flush_batch(b, &sum))
        goto out;
    progress_show(&pg, pg.total, sum.events, 1);
    double secs = (double)(clock_mono_ms() - pg.t0) / 1000.0;
    if (secs <= 0)
        secs = 0.001;
    if (!quiet)
        printf("exported %" PRIu64 " events (%" PRIu64
               " bytes of segments read) into %" PRIu64 " files, %" PRIu64
               " bytes (%" PRIu64 " already there) in %.2f s: "
               "%.0f events/s, %.1f MB/s\n",
               sum.events, scan_bytes_read(sc), sum.committed_files,
               sum.committed_bytes, sum.skipped_files, secs,
               (double)sum.events / secs,
               (double)scan_bytes_read(sc) / 1e6 / secs);
    ret = 0;
out:
    archive_batch_free(b);
    scan_close(sc);
    archive_target_free(t);
    if (tmpstage[0])
        rmdir(tmpstage);
    return ret;
}
