/* modules.c - the subsystems, in start order (stopped in reverse). */
#include "module.h"

extern const struct module server_module; /* cmd_server.c: PING, INFO, ... */
extern const struct module keyspace_module; /* cmd_keyspace.c: DEL, SCAN, ... */
extern const struct module multi_module;  /* multi.c: MULTI, EXEC, WATCH, ... */
extern const struct module store_module;  /* cmd_store.c: EV.PUB/GET/RANGE/... */
extern const struct module types_module;  /* cmd_types.c: EV.TYPE/MANIFEST/MAP (after the store) */
extern const struct module ring_module;   /* cmd_ring.c: RING.*, GET */
extern const struct module lock_module;   /* cmd_lock.c: LOCK.* */
extern const struct module chunk_module;  /* cmd_chunk.c: CHUNK.BUCKET/PLAN */
extern const struct module queue_module;  /* cmd_queue.c: Q.*, CHUNK.ENQUEUE */
extern const struct module bus_module;    /* cmd_bus.c: EV.SUB/READ/ACK/... (after the store) */
extern const struct module stream_module;  /* cmd_stream.c: X* (after the store) */
extern const struct module entity_module;  /* cmd_entity.c: EV.KEY/SNAPSHOT/DIGEST/SCHEDULE (after the bus) */
extern const struct module rpc_module;     /* cmd_rpc.c: RPC.* (after the queues: RPC.CAST) */
extern const struct module archive_module; /* cmd_archive.c: --archive-to, ARCHIVE.* */
extern const struct module http_module;    /* ops/http.c: --http-port, /healthz, /metrics (last) */

const struct module *const modules[] = {
    &server_module,
    &keyspace_module,
    &multi_module,
    &store_module,
    &types_module,
    &ring_module,
    &lock_module,
    &chunk_module,
    &queue_module,
    &bus_module,
    &stream_module,
    &entity_module,
    &rpc_module,
    &archive_module,
    &http_module,
};

const size_t modules_count = sizeof(modules) / sizeof(modules[0]);
