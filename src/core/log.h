/* log.h - diagnostics (never the durable data: that is the store).
 *
 * One line per message: timestamp, pid, level, text. Messages go to stderr or
 * the configured file. log_ratelimited() suppresses repeats of one warning
 * site to one per interval and says how many were dropped. */
#ifndef TINCAN_LOG_H
#define TINCAN_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
int log_set_file(const char *path); /* NULL or "" = stderr; 0 or -errno */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* At most one message per interval_ms per call site (the static state lives in
 * the macro), counting what was suppressed. */
struct log_limit {
    unsigned long long last_ms; /* ms, monotonic, of the last message written */
    unsigned long suppressed;   /* messages dropped since then */
};
void log_limited(struct log_limit *lim, unsigned interval_ms,
                 enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define log_ratelimited(level, ...)                                            \
    do {                                                                       \
        static struct log_limit lim_;                                          \
        log_limited(&lim_, 5000, level, __VA_ARGS__);                          \
    } while (0)

#endif
