/* cmd_metrics.h - GET /metrics: the server's state in the Prometheus text
 * format.
 *
 * The handler asks every module (module.h, in start order) to add its
 * families to one struct metrics (metrics.h) and sends the text. Families and
 * their meaning: docs/operations.md, "Metrics". It reads state only and never
 * blocks; it is not the HTTP listener (http.h) nor the text writer. */
#ifndef TINCAN_CMD_METRICS_H
#define TINCAN_CMD_METRICS_H

#include "http.h"

/* Content type of the exposition format, version 0.0.4. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The /metrics route (http_route). */
void metrics_handle(const struct http_request *req, struct http_response *res);

#endif
