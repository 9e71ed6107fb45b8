/* routes.c - the HTTP routes, one line each (http.h). Handlers live beside
 * the feature they serve; this file only lists them. */
#include "http.h"

#include "healthz.h"

void http_routes_register(void)
{
    http_route("/healthz", healthz_handle);
}
