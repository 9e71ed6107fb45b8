/* cmd_metrics.c - GET /metrics (cmd_metrics.h). */
#include "cmd_metrics.h"

#include "clock.h"
#include "metrics.h"
#include "module.h"

void metrics_handle(const struct http_request *req, struct http_response *res)
{
    (void)req;
    uint64_t t0 = clock_mono_us();
    struct metrics *m = metrics_new();
    for (size_t i = 0; i < modules_count; i++)
        if (modules[i]->metrics)
            modules[i]->metrics(m);
    metrics_set(m, "tincan_metrics_scrape_duration_seconds", METRICS_GAUGE,
                "Time this scrape took to collect its samples (before writing).",
                (double)(clock_mono_us() - t0) / 1e6);
    metrics_write(m, &res->body);
    metrics_free(m);
    res->content_type = METRICS_CONTENT_TYPE;
}
