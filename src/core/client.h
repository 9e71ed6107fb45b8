/* client.h - one connection's state, shared by the server core only.
 *
 * net.c owns the lifecycle (accept, read, write, close); command.c dispatches
 * and encodes replies into `out`; cmd_server.c reads and changes the
 * connection-level fields (name, resp, db, auth). Subsystems never include
 * this: to them a client is the opaque handle of net.h. */
#ifndef TINCAN_CLIENT_H
#define TINCAN_CLIENT_H

#include <stdint.h>

#include <uv.h>

#include "net.h"
#include "resp.h"
#include "sbuf.h"

struct hold_mark {
    size_t off;               /* offset in out where the held reply starts */
    struct sync_source *src;  /* whose sync releases it */
    uint64_t seq;             /* released once src->synced >= seq */
};

enum client_flag {
    CLIENT_CLOSE_AFTER_REPLY = 1u << 0, /* QUIT, protocol error, KILL self */
    CLIENT_CLOSING = 1u << 1,           /* uv_close issued */
    CLIENT_UNIX = 1u << 2,              /* connected over the unix socket */
    CLIENT_PENDING_WRITE = 1u << 3,     /* on the pending-write list */
    CLIENT_IN_COMMAND = 1u << 4,        /* inside a handler: defer the close */
    CLIENT_IN_EXEC = 1u << 5,           /* EXEC is running its queue */
};

struct multi_state;

struct client {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uint64_t id;              /* unique, from 1 */
    unsigned flags;           /* CLIENT_* */
    int resp;                 /* 2 or 3 */
    int db;                   /* SELECTed database, 0..15 */
    int authenticated;        /* AUTH passed, or no password configured */
    char *name;               /* CLIENT SETNAME, or NULL */
    char *lib_name;           /* CLIENT SETINFO LIB-NAME, or NULL */
    char *lib_ver;            /* CLIENT SETINFO LIB-VER, or NULL */
    struct multi_state *multi; /* MULTI queue and WATCHed keys (multi.c), or
                                  NULL when it has neither */
    char addr[64];            /* peer "ip:port" or socket path */
    char laddr[64];           /* local "ip:port" */
    int fd;                   /* for CLIENT LIST */
    uint64_t ctime_ms;        /* ms, monotonic: connected at */
    uint64_t last_ms;         /* ms, monotonic: last command at */
    uint64_t commands;        /* commands run */
    uint64_t errors;          /* error replies written to it */
    const char *last_cmd;     /* name of the last command, static storage */

    struct sbuf query;        /* bytes read, not yet run; from qpos */
    size_t qpos;              /* bytes of query already consumed */
    struct resp_parser parser;

    struct sbuf out;          /* replies not yet handed to the kernel */
    struct sbuf wbuf;         /* bytes of the uv_write in flight */
    uv_write_t wreq;
    int writing;              /* a uv_write is in flight */
    size_t cmd_start;         /* out.len when the running command began */
    struct hold_mark *marks;  /* held replies in out, in order */
    size_t nmarks, marks_cap;

    /* blocking (client_block) */
    int blocked;
    uv_timer_t block_timer;   /* armed when the block has a timeout */
    int timer_live;           /* block_timer initialised (needs uv_close) */
    client_block_fn *on_timeout;
    client_block_fn *on_disconnect;
    void *block_ctx;

    struct client *prev, *next;           /* all clients */
    struct client *held_prev, *held_next; /* clients with held replies */
    int on_held;                          /* on that list */
    struct client *pw_next;               /* pending-write list */
    struct client *ub_next;               /* unblocked, to resume */
    int on_unblocked;
};

/* Closes c after its pending replies are written (QUIT, KILL). */
void client_close_after_reply(struct client *c);
/* Closes c now, dropping pending output. Safe inside a handler. */
void client_close(struct client *c, const char *why);
/* Marks c as having output to flush before the loop sleeps. */
void client_want_write(struct client *c);
/* Iterates every client; fn may not close clients other than its argument. */
void client_foreach(void (*fn)(struct client *c, void *ctx), void *ctx);
struct client *client_by_id(uint64_t id);

/* Server-wide counters for INFO stats. */
struct net_stats {
    uint64_t connections_received;
    uint64_t rejected_connections;
    uint64_t commands_processed;
    uint64_t net_input_bytes;
    uint64_t net_output_bytes;
    uint64_t output_limit_disconnects;
    uint64_t query_limit_disconnects;
    uint64_t protocol_errors;
    uint64_t blocked_clients;
    uint64_t start_ms;        /* ms, monotonic: server start */
};
extern struct net_stats net_stats;

#endif
