/* overview.h - GET /api/overview: one JSON document of the server's state
 * for the web console (and for scripts).
 *
 * server (version, uptime, clients, clock, store), types (every type stored
 * or registered, with owner, schema, counts and producers), subscriptions
 * (counts, lag and consumers), queues, held locks and ring members; lists
 * sorted by name, absent things null. The shape: docs/operations.md,
 * "Overview API". It reads state only through the modules' cmd_*.h
 * accessors and never blocks; it is not the console page. */
#ifndef TINCAN_OVERVIEW_H
#define TINCAN_OVERVIEW_H

#include "http.h"

/* The /api/overview route (http_route). */
void overview_handle(const struct http_request *req, struct http_response *res);

#endif
