/* routes.c - the HTTP routes, one line each (http.h). Handlers live beside
 * the feature they serve; this file only lists them. */
#include "http.h"

#include "cmd_metrics.h"
#include "console.h"
#include "healthz.h"
#include "overview.h"

void http_routes_register(void)
{
    http_route("/healthz", healthz_handle);
    http_route("/metrics", metrics_handle);
    http_route("/api/overview", overview_handle);
    http_route("/", console_file_handle);
    http_route("/console.css", console_file_handle);
    http_route("/console.js", console_file_handle);
    http_route("/map.svg", console_map_handle);
}
