#include "log.h"

#include "clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static FILE *out; /* NULL means stderr */

void log_set_level(enum log_level level)
{
    min_level = level;
}

int log_set_file(const char *path)
{
    if (!path || !*path) {
        if (out)
            fclose(out);
        out = NULL;
        return 0;
    }
    FILE *f = fopen(path, "a");
    if (!f)
        return -errno;
    setvbuf(f, NULL, _IOLBF, 0);
    if (out)
        fclose(out);
    out = f;
    return 0;
}

static void vlog(enum log_level level, const char *fmt, va_list ap)
{
    static const char marks[] = {'.', '-', '#', '!'};
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%d %02d %s %d %02d:%02d:%02d.%03ld %c ",
                     (int)getpid(), tm.tm_mday,
                     (const char *[]){"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov",
                                      "Dec"}[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, marks[level]);
    if (n < 0)
        return;
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    FILE *f = out ? out : stderr;
    fprintf(f, "%s\n", line);
    fflush(f);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void log_limited(struct log_limit *lim, unsigned interval_ms,
                 enum log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    unsigned long long now = clock_mono_ms();
    if (lim->last_ms && now - lim->last_ms < interval_ms) {
        lim->suppressed++;
        return;
    }
    if (lim->suppressed)
        log_msg(level, "(%lu similar messages suppressed)", lim->suppressed);
    lim->suppressed = 0;
    lim->last_ms = now ? now : 1;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}
