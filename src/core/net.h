/* net.h - the event loop, listeners and client connections.
 *
 * One libuv loop thread runs every command. net reads bytes, feeds them to the
 * RESP parser, dispatches complete commands through the command table and
 * writes the replies with as few syscalls as possible (one writev per loop turn
 * per client). It enforces the connection limits (max clients, query buffer,
 * output buffer) and owns two mechanisms subsystems use without touching
 * sockets:
 *
 *   - blocking: client_block() parks a client (BLOCK/WAIT options) until the
 *     subsystem answers and calls client_unblock(), the timeout fires, or the
 *     client disconnects;
 *   - durable replies: client_hold() marks the reply just written as not to be
 *     sent before the store's sync sequence reaches seq (group commit).
 *
 * net knows nothing of disk or of any subsystem. */
#ifndef TINCAN_NET_H
#define TINCAN_NET_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct client;

/* ---- loop ---- */
uv_loop_t *net_loop(void);
/* Opens the TCP listener (and the unix socket if configured); prints nothing.
 * Returns 0 or -1 with a message in err. */
int net_listen(char *err, size_t errlen);
int net_port(void); /* the TCP port actually bound (for --port 0) */
void net_run(void);  /* runs until net_stop() */
void net_stop(void); /* asks the loop to finish (graceful shutdown) */
/* Shutdown, in this order: net_close_clients() flushes what can be sent and
 * closes every client (modules then stop with no client left to answer),
 * net_close() closes the listeners and every remaining handle and frees the
 * loop. */
void net_close_clients(void);
void net_close(void);

/* ---- clients ---- */
uint64_t client_id(const struct client *c);
int client_resp(const struct client *c); /* 2 or 3 */
int client_db(const struct client *c);   /* SELECTed database, 0..15 */
/* The CLIENT SETNAME / HELLO SETNAME name (NUL-terminated, owned by the
 * client, valid until it changes), or NULL if it has none. */
const char *client_name(const struct client *c);
/* The peer's "ip:port" (or the unix socket path), owned by the client. */
const char *client_addr(const struct client *c);
/* 1 while EXEC runs c's queued commands (multi.h). Nothing may block then:
 * a command with a BLOCK/WAIT option that would park the client must answer
 * at once instead, with the reply its wait's timeout would give (as Redis
 * does for blocking commands inside MULTI). */
int client_in_exec(const struct client *c);
size_t client_count(void);

/* Calls fn(ctx, id) whenever a client connection closes, for any reason
 * (after its block, if any, was ended). fn runs inside the close: it should
 * only note the id and defer real work to the loop. At most NET_CLOSE_HOOKS
 * hooks; registering the same fn/ctx twice is a no-op. */
#define NET_CLOSE_HOOKS 8
typedef void net_close_fn(void *ctx, uint64_t client_id);
void net_on_close(net_close_fn *fn, void *ctx);
void net_on_close_remove(net_close_fn *fn, void *ctx);

/* ---- blocking ----
 * on_timeout runs when timeout_ms (>0) passes: it must write the client's reply
 * (usually a nil); the client is then unblocked. on_disconnect runs if the
 * client goes away while blocked: the subsystem drops its waiter and writes
 * nothing. After the subsystem writes the reply itself it calls
 * client_unblock(). A blocked client reads no further commands meanwhile. */
typedef void client_block_fn(struct client *c, void *ctx);
void client_block(struct client *c, uint64_t timeout_ms,
                  client_block_fn *on_timeout, client_block_fn *on_disconnect,
                  void *ctx);
void client_unblock(struct client *c);
/* Ends every block (as if each client had gone away, so subsystems drop their
 * waiters) and replies "-<err>" to each instead. Used before the subsystems
 * are stopped under live clients (DEBUG RELOAD). */
void net_abort_blocked(const char *err);
int client_is_blocked(const struct client *c);

/* ---- durable replies ----
 * A sync source is one durable writer (the event store, a journal) with its own
 * sequence of writes. client_hold() keeps the reply of the command being run
 * from leaving until src->synced >= seq; later replies queue behind it, so
 * order is kept. The writer calls net_synced() on the loop thread when an fsync
 * covering seq completed, or net_sync_failed() when it failed: clients waiting
 * for that source are then disconnected (their write's outcome is unknown, as
 * after a crash; they may re-send with an idempotency ID). */
struct sync_source {
    const char *name; /* "store", "journal:locks", ... for logs */
    uint64_t synced;  /* highest seq known durable */
    int failed;       /* a sync failed: nothing more will be released */
};
void client_hold(struct client *c, struct sync_source *src, uint64_t seq);
void net_synced(struct sync_source *src, uint64_t seq);
void net_sync_failed(struct sync_source *src);

#endif
