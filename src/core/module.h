/* module.h - the list of subsystems the server is made of.
 *
 * Each module (server basics, store, bus, queue, lock, ring, chunk) describes
 * itself with one struct module: its commands, its config rows, how it starts
 * and stops, and what it adds to INFO and to /metrics. modules.c lists them
 * in start order; adding a module is one line there. Nothing here runs commands. */
#ifndef TINCAN_MODULE_H
#define TINCAN_MODULE_H

#include <stddef.h>

struct command_spec;
struct config_spec;
struct metrics;
struct sbuf;

struct module {
    const char *name;                    /* "store", "ring", ... */
    const struct command_spec *commands; /* may be NULL */
    size_t ncommands;
    const struct config_spec *config;    /* may be NULL */
    size_t nconfig;
    /* After config is loaded, before listening; data dir exists. 0 or -1 with
     * err filled (the server then refuses to start). May be NULL. */
    int (*start)(char *err, size_t errlen);
    /* At shutdown, in reverse order, after clients are closed. May be NULL. */
    void (*stop)(void);
    /* Adds "key:value\r\n" lines to INFO section `section` (lower case, e.g.
     * "persistence"); a module may also own a section of its own name. */
    void (*info)(struct sbuf *out, const char *section);
    /* Rewrites the module's journal as a checkpoint of its live state
     * (BGREWRITEAOF). 0 or -1 with err filled. May be NULL (nothing to
     * compact). Blocks on the checkpoint's fsyncs. */
    int (*compact)(char *err, size_t errlen);
    /* Adds the module's families and samples to a /metrics scrape
     * (src/ops/metrics.h). Reads state only, on the loop thread; must not
     * block. May be NULL. */
    void (*metrics)(struct metrics *m);
};

extern const struct module *const modules[];
extern const size_t modules_count;

#endif
