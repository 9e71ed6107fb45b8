/* cmd_metrics.c - GET /metrics (cmd_metrics.h). The families and their
 * buffers are kept from one scrape to the next (metrics_clear), so a scrape
 * of a large server writes into memory it already has instead of growing
 * megabytes of buffers again; they live until the process ends. So does
 * the memory of the last reply sent (given back through res->release). */
#include "cmd_metrics.h"

#include "clock.h"
#include "metrics.h"
#include "module.h"

static struct metrics *scrape; /* reused by every scrape (loop thread) */
static struct sbuf spare;       /* a sent reply's memory, for the next one */

/* The listener is done with a reply: keep its memory unless one is kept. */
static void body_keep(struct sbuf *body)
{
    if (!spare.data)
        spare = *body;
    else
        sbuf_deinit(body);
}

void metrics_handle(const struct http_request *req, struct http_response *res)
{
    (void)req;
    uint64_t t0 = clock_mono_us();
    if (!scrape)
        scrape = metrics_new();
    metrics_clear(scrape);
    for (size_t i = 0; i < modules_count; i++)
        if (modules[i]->metrics)
            modules[i]->metrics(scrape);
    metrics_set(
        scrape, "tincan_metrics_scrape_duration_seconds", METRICS_GAUGE,
        "Time this scrape took to collect its samples (before writing).",
        (double)(clock_mono_us() - t0) / 1e6);
    if (spare.data) { /* write into memory already faulted in */
        sbuf_deinit(&res->body);
        res->body = spare;
        sbuf_clear(&res->body);
        spare = (struct sbuf){0};
    }
    metrics_write(scrape, &res->body);
    res->release = body_keep;
    res->content_type = METRICS_CONTENT_TYPE;
}
