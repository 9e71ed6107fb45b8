/* manifest.h - the events manifest as plain data, and its Mermaid map.
 *
 * A manifest says, per event type: the declared owner, the producers seen
 * publishing it, the subscriptions whose patterns match it with their
 * consumers, and the stream consumer groups reading it. cmd_types.c fills one
 * from the registry, the bus and the streams for EV.MANIFEST and EV.MAP;
 * this module only holds it and draws it.
 *
 * Pure: no I/O, no server state. Every string is owned by the manifest. */
#ifndef TINCAN_MANIFEST_H
#define TINCAN_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

struct mstr {
    char *p;  /* owned, NUL-terminated */
    size_t n; /* bytes */
};

struct manifest_producer {
    struct mstr name;
    uint64_t first_seen, last_seen; /* ms, wall clock */
    uint64_t count;                 /* events */
};

struct manifest_sub {
    struct mstr name;
    struct mstr *pats;  /* bound topic patterns */
    size_t npats;
    struct mstr *cons;  /* consumer names */
    size_t ncons;
    int durable;
};

struct manifest_group {
    struct mstr stream; /* the stream key */
    int db;
    struct mstr group;
    struct mstr *cons;  /* consumer names */
    size_t ncons;
};

struct manifest_type {
    struct mstr type;
    int registered;
    struct mstr owner;  /* p NULL if none */
    const char *kind;   /* "occurrence", "state" (static) */
    const char *schema; /* "none", "json", "protobuf" (static) */
    uint32_t version;
    struct manifest_producer *producers;
    size_t nproducers;
    size_t *subs;       /* indices into manifest.subs */
    size_t nsubs;
    struct manifest_group *groups;
    size_t ngroups;
};

struct manifest {
    struct manifest_type *types; /* sorted by type */
    size_t ntypes;
    struct manifest_sub *subs;   /* every subscription, in name order */
    size_t nsubs;
};

struct mstr mstr_dup(const void *p, size_t n);
void manifest_deinit(struct manifest *m);

/* Appends m as a Mermaid flowchart ("flowchart LR"): producer nodes ->
 * type nodes -> subscription nodes -> consumer nodes, and type -> stream
 * group -> consumer; a declared owner never seen publishing is a dotted
 * "owner" edge. Node ids are generated (p1, t1, s1, c1, g1, ...), never made
 * from names; labels are quoted with every byte outside [A-Za-z0-9 ._:/@+=-]
 * written as a Mermaid entity code (#35;), UTF-8 as its code point and bad
 * UTF-8 as #65533;, so any name renders. Subscriptions that match none of
 * the listed types are left out. */
void manifest_mermaid(const struct manifest *m, struct sbuf *out);

/* The label escaping of manifest_mermaid, for tests: appends p[0..n). */
void manifest_mermaid_label(struct sbuf *out, const char *p, size_t n);

/* The code point of the UTF-8 sequence at p[0..n) (n >= 1) into *cp: its
 * length in bytes, or 0 if it is not well-formed (overlong, surrogate, past
 * U+10FFFF, cut). Shared by the label escaping here and in mapsvg.c. */
size_t manifest_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);

#endif
