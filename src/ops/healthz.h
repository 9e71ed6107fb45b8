/* healthz.h - GET /healthz: "ok\n" with 200 while the server runs.
 *
 * For load balancers and Docker's HEALTHCHECK; it needs no password and says
 * nothing about the server's state beyond "the loop answers". Not metrics. */
#ifndef TINCAN_HEALTHZ_H
#define TINCAN_HEALTHZ_H

#include "http.h"

void healthz_handle(const struct http_request *req, struct http_response *res);

#endif
