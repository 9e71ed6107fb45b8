/* rpc.h - request/reply between services: the pure state of calls and servers.
 *
 * A call is a request a caller made to a service; it waits in its service's
 * FIFO until a server takes it, then is held by that server until an answer
 * (reply or failure), its deadline, or its caller leaving ends it. A server
 * is a client connection that asked for a service's calls at least once
 * (rpc_server_get); it stays one until it goes away (rpc_server_gone), and
 * then every call it held goes back to the front of its service's FIFO, to be
 * offered to a server that has not had it yet (each server at most once).
 * Servers that wait for calls are parked in each of their services' waiting
 * lists, oldest first; a new call goes to the oldest parked server that may
 * take it, so calls spread over every server.
 *
 * Callers and servers are the owner's opaque handles (`ctx`, e.g. a client)
 * and ids (unique per connection). Hand-offs to parked servers are reported
 * through hooks.handoff; everything else is returned. Deadlines are enforced
 * by the owner (a timer per caller calls rpc_call_end); this module only
 * refuses to hand out a call whose deadline has passed.
 *
 * Also here: per service counters and call-to-answer latency (a histogram of
 * the last one to two minutes for p50/p99, one since the service appeared
 * for Prometheus), and the fate of recently ended calls, so a late answer
 * learns why its call is gone.
 *
 * Nothing is durable: no I/O, no clock reads (every call takes `now`), no
 * RESP, no sockets. */
#ifndef TINCAN_RPC_H
#define TINCAN_RPC_H

#include <stddef.h>
#include <stdint.h>

#define RPC_SERVICE_MAX    256    /* bytes of a service name */
#define RPC_HEADERS_MAX    64     /* header pairs of one call */
#define RPC_ID_MAX         32     /* bytes of a call id, with the NUL */
#define RPC_SERVICES_MAX   100000 /* service entries at once */
#define RPC_IDLE_KEEP_MS   600000 /* ms an idle service keeps its counters */
#define RPC_RECENT         16384  /* ended calls whose fate is remembered */
#define RPC_HIST_BOUNDS    17     /* Prometheus buckets; one more above */

struct rpc;
struct rpc_service;
struct rpc_server;

/* One header of a call: field or value bytes (not NUL-terminated). */
struct rpc_bytes {
    const char *p;
    size_t n;
};

struct rpc_call {
    uint64_t seq;              /* from 1, in arrival order */
    uint32_t tag;              /* random part of the id */
    struct rpc_service *svc;
    void *caller;              /* owner's handle of the caller */
    const char *payload;       /* owned (one allocation with the headers) */
    size_t payload_len;        /* bytes */
    struct rpc_bytes *hdrs;    /* 2 * nhdr: field, value, field, ... */
    size_t nhdr;               /* pairs */
    uint64_t start_us;         /* us, monotonic: accepted at */
    uint64_t deadline;         /* ms, monotonic: the caller gives up at */
    uint64_t timeout;          /* ms the caller gave (for its error) */
    uint32_t delivery;         /* times handed to a server */
    uint64_t *tried;           /* ids of the servers that had it (owned) */
    size_t ntried, tried_cap;
    struct rpc_server *holder; /* server holding it, NULL while queued */
    struct rpc_call *prev, *next; /* in svc's FIFO or holder's held list */
    struct rpc_call *chain;    /* next in the id hash bucket */
};

/* How a call ended, as remembered for late answers. */
enum rpc_end {
    RPC_END_NONE = 0,    /* not remembered (never existed or too long ago) */
    RPC_END_ANSWERED,    /* a reply or failure reached the caller */
    RPC_END_TIMEOUT,     /* its deadline passed */
    RPC_END_CALLER_LEFT, /* the caller disconnected */
    RPC_END_STOPPED,     /* the server is stopping */
};

struct rpc_hooks {
    void *ctx;
    /* The parked server whose handle is server_ctx just took call (it is
     * unparked; the owner replies to it and ends its wait). */
    void (*handoff)(void *ctx, void *server_ctx, struct rpc_call *call,
                    uint64_t now);
};

/* Counters and gauges of one service (rpc_service_info). */
struct rpc_service_info {
    const char *name;
    size_t name_len;
    size_t servers;          /* registered servers */
    size_t waiting_servers;  /* parked */
    size_t waiting_calls;    /* queued */
    size_t in_flight;        /* held by servers */
    uint64_t calls, replies, failures, timeouts, callers_left, redeliveries,
        noserver;
    uint64_t p50_us, p99_us; /* us, the last one to two minutes; 0 if none */
    const uint64_t *hist;    /* RPC_HIST_BOUNDS + 1 counts since made */
    uint64_t hist_sum_us;    /* us, sum of every answered call's latency */
};

/* One server of a service (rpc_service_servers). */
struct rpc_server_info {
    uint64_t id;        /* the owner's id of the server */
    void *ctx;          /* its handle */
    size_t in_flight;   /* calls it holds */
    uint64_t served;    /* calls handed to it */
};

/* Upper bounds of the Prometheus buckets, in us, ascending. */
extern const uint64_t rpc_hist_bounds_us[RPC_HIST_BOUNDS];

/* A new, empty registry; seed makes the ids' random parts. Free with
 * rpc_free (ends nothing: the owner first ends what it must answer). */
struct rpc *rpc_new(const struct rpc_hooks *hooks, uint64_t seed);
void rpc_free(struct rpc *r);

/* The service called name, or NULL. */
struct rpc_service *rpc_service_find(struct rpc *r, const char *name,
                                     size_t len);
/* Servers registered for svc. */
size_t rpc_service_servers(const struct rpc_service *svc);

/* Accepts a call to svc (which must have a server) from caller, copying
 * payload and the nhdr header pairs (hdrs: 2 * nhdr, field then value).
 * Hands it to a parked server at once if one may take it (hooks.handoff),
 * else queues it. Returns the call, owned by r until rpc_call_end. */
struct rpc_call *rpc_call_new(struct rpc *r, struct rpc_service *svc,
                              void *caller, const char *payload,
                              size_t payload_len, const struct rpc_bytes *hdrs,
                              size_t nhdr, uint64_t deadline, uint64_t now,
                              uint64_t now_us);
/* Counts a call refused because the service called name has no server (if
 * the service has an entry). */
void rpc_note_noserver(struct rpc *r, const char *name, size_t len);

/* The name of call's service (not NUL-terminated; *len bytes). */
const char *rpc_call_service(const struct rpc_call *call, size_t *len);
/* Writes call's id ("<seq>-<tag hex>", NUL-terminated) into buf[RPC_ID_MAX];
 * returns its length. */
size_t rpc_call_id(const struct rpc_call *call, char *buf);
/* The live call with that id, or NULL; then *why says what became of it
 * (RPC_END_NONE: unknown, malformed or forgotten). */
struct rpc_call *rpc_call_find(struct rpc *r, const char *id, size_t len,
                               enum rpc_end *why);
/* Ends call: answered (a reply or failure, `failed` says which; the latency
 * is counted at now_us), timed out or its caller left. Frees it; its fate is
 * remembered for rpc_call_find. */
void rpc_call_end(struct rpc *r, struct rpc_call *call, enum rpc_end how,
                  int failed, uint64_t now, uint64_t now_us);

/* The server with this id, registered for the services in names (made if
 * new, and services made too). NULL, with nothing changed, when that would
 * make more than RPC_SERVICES_MAX services. */
struct rpc_server *rpc_server_get(struct rpc *r, uint64_t id, void *ctx,
                                  const char *const *names, const size_t *lens,
                                  size_t n, uint64_t now);
/* Takes up to max calls queued for the server's services in names (oldest
 * first, skipping calls it had before or whose deadline passed); they are
 * held by srv. Returns how many were written to out. */
size_t rpc_serve(struct rpc *r, struct rpc_server *srv,
                 const char *const *names, const size_t *lens, size_t n,
                 size_t max, uint64_t now, struct rpc_call **out);
/* Parks srv on the services in names until a call comes (hooks.handoff) or
 * rpc_unpark. */
void rpc_park(struct rpc *r, struct rpc_server *srv, const char *const *names,
              const size_t *lens, size_t n);
void rpc_unpark(struct rpc *r, struct rpc_server *srv);
/* The server with client id `id` went away: it is forgotten and each call it
 * held goes back to the front of its service's FIFO. Returns how many went
 * back; rpc_dispatch then offers them to parked servers. */
size_t rpc_server_gone(struct rpc *r, uint64_t id);
/* Hands queued calls to parked servers that may take them (after
 * rpc_server_gone). */
void rpc_dispatch(struct rpc *r, uint64_t now);

/* The owner's id of srv. */
uint64_t rpc_server_id(const struct rpc_server *srv);

/* Fills *out for svc as of now (the latency window turns with now). The
 * pointers in it are valid until the registry next changes. */
void rpc_service_info(struct rpc *r, struct rpc_service *svc, uint64_t now,
                      struct rpc_service_info *out);
/* Calls fn for each server of svc, in registration order. */
void rpc_service_servers_foreach(const struct rpc_service *svc,
                                 void (*fn)(void *ctx,
                                            const struct rpc_server_info *),
                                 void *ctx);
/* Every service, sorted by name when sorted is 1; services idle for more
 * than RPC_IDLE_KEEP_MS are dropped first. Returns how many were written to
 * *out (owned by the caller: free()). */
size_t rpc_services(struct rpc *r, uint64_t now, int sorted,
                    struct rpc_service ***out);

/* Ends every live call with RPC_END_STOPPED, calling fn(ctx, call) first for
 * each (the owner answers its caller). */
void rpc_end_all(struct rpc *r, void (*fn)(void *ctx, struct rpc_call *call),
                 void *ctx, uint64_t now);

struct rpc_totals {
    size_t services, servers, waiting_calls, in_flight, live_calls;
    uint64_t calls, replies, failures, timeouts, callers_left, redeliveries,
        noserver;
};
void rpc_totals(const struct rpc *r, struct rpc_totals *out);

#endif
