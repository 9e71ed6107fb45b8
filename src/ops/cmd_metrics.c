/* cmd_metrics.c - GET /metrics (cmd_metrics.h). A scrape's families and
 * their buffers are sent as they are, in pieces (http_response.parts), with
 * no copy of the whole text; the listener gives them back once written.
 * They are then kept for the next scrape (metrics_clear), so a scrape of a
 * large server writes into memory it already has instead of growing
 * megabytes of buffers again. A scrape that comes while another's pieces
 * are still being written gets a set of its own; at most SCRAPES_KEPT sets
 * are kept. */
#include "cmd_metrics.h"

#include <stdlib.h>

#include "clock.h"
#include "common.h"
#include "metrics.h"
#include "module.h"
#include "sbuf.h"

#define SCRAPES_KEPT 2

struct scrape {
    struct metrics *m;
    struct sbuf heads;     /* the families' HELP/TYPE lines */
    struct iovec *parts;   /* the reply's pieces */
    size_t cap;            /* of parts */
    struct scrape *next;   /* on the free list */
};

static struct scrape *spare; /* free list (loop thread) */
static size_t nspare;

/* The listener is done with s's pieces. */
static void scrape_release(void *ctx)
{
    struct scrape *s = ctx;
    if (nspare >= SCRAPES_KEPT) {
        metrics_free(s->m);
        sbuf_deinit(&s->heads);
        free(s->parts);
        free(s);
        return;
    }
    s->next = spare;
    spare = s;
    nspare++;
}

void metrics_handle(const struct http_request *req, struct http_response *res)
{
    (void)req;
    uint64_t t0 = clock_mono_us();
    struct scrape *s = spare;
    if (s) {
        spare = s->next;
        nspare--;
    } else {
        s = xcalloc(1, sizeof(*s));
        s->m = metrics_new();
        sbuf_init(&s->heads);
    }
    metrics_clear(s->m);
    for (size_t i = 0; i < modules_count; i++)
        if (modules[i]->metrics)
            modules[i]->metrics(s->m);
    metrics_set(
        s->m, "tincan_metrics_scrape_duration_seconds", METRICS_GAUGE,
        "Time this scrape took to collect its samples (before writing).",
        (double)(clock_mono_us() - t0) / 1e6);
    res->nparts = metrics_parts(s->m, &s->heads, &s->parts, &s->cap);
    res->parts = s->parts;
    res->release_parts = scrape_release;
    res->parts_ctx = s;
    res->content_type = METRICS_CONTENT_TYPE;
}
