/* ring.h - consistent-hash rings: membership and placement.
 *
 * A ring is a named set of members ("host:port", weight, optional TTL expiry,
 * health). Keys are placed on a 64-bit hash circle with virtual nodes:
 * member m with weight w owns RING_VNODES x w points, the first outputs of
 * SplitMix64 seeded with FNV-1a-64(node); a key belongs to the first point at
 * or after ring_hash(key), clockwise. Points depend only on (node, weight), so
 * the same membership gives the same answers on every server whatever the join
 * order, and a member joining or leaving moves only its own keys. An optional
 * bounded-load factor caps every member's share of the circle at factor x its
 * fair (weighted) share. docs/router.md specifies the hash to the bit.
 *
 * The state file encoding (ring_set_encode/decode) lives here too, as pure
 * text in and out.
 *
 * This module is pure: no I/O, no timers, no clock reads. Time comes in as
 * `now` (ms, monotonic). It does not run health checks (cmd_ring.c does, and
 * reports the result with ring_set_healthy) and it knows nothing of RESP. */
#ifndef TINCAN_RING_H
#define TINCAN_RING_H

#include <stddef.h>
#include <stdint.h>

struct sbuf;

#define RING_VNODES 1000            /* points per unit of weight */
#define RING_WEIGHT_MAX 100         /* weight of one member, 1..this */
#define RING_TOTAL_WEIGHT_MAX 2000  /* sum of weights in one ring */
#define RING_MEMBERS_MAX 1000       /* members of one ring */
#define RING_NAME_MAX 128           /* bytes of a ring name */
#define RING_NODE_MAX 255           /* bytes of a node "host:port" */
#define RING_TTL_MAX 31536000000ull /* ms (365 days) */
#define RING_RINGS_MAX 10000        /* rings of one ring set */
#define RING_LOAD_FACTOR_MIN 100    /* percent; 0 means off */
#define RING_LOAD_FACTOR_MAX 1000   /* percent */
#define RING_CHECK_MIN_MS 100       /* health check interval bounds, ms */
#define RING_CHECK_MAX_MS 3600000

struct ring_member {
    char *node;          /* "host:port", NUL-terminated, owned */
    size_t node_len;     /* bytes of node */
    uint32_t weight;     /* 1..RING_WEIGHT_MAX */
    uint64_t expires_ms; /* ms, monotonic; 0 = never expires */
    uint64_t seed;       /* FNV-1a-64 of node: seeds the point sequence */
    int healthy;         /* 0 while the health check finds it down */
    uint64_t joined_ms;  /* ms, monotonic, of the first join */
};

struct ring {
    char *name;                  /* NUL-terminated, owned */
    struct ring_member *members; /* sorted by node (memcmp, then length) */
    size_t nmembers, cap;
    uint32_t load_factor;        /* percent, 0 = no bounded load */
    uint64_t check_interval_ms;  /* TCP health check period; 0 = off */
    uint64_t next_expiry_ms;     /* ms, monotonic; earliest expires_ms, 0 = none */
    /* the built circle, rebuilt lazily after membership or health changes */
    int dirty;                   /* circle out of date */
    uint64_t *points;            /* npoints hashes, ascending */
    uint32_t *owners;            /* member index owning each point's arc */
    uint32_t *seen;              /* per member: stamp for distinct walks */
    uint32_t seen_stamp;         /* current stamp of seen */
    size_t npoints;
    uint32_t *slots;             /* (1 << slot_bits) + 1 first-point indexes */
    unsigned slot_bits;          /* top bits of a hash that pick a slot */
    size_t nhealthy;             /* healthy members on the circle */
    /* statistics since start */
    uint64_t lookups;            /* ring_lookup/ring_lookup_n calls */
    uint64_t joins, leaves, expired; /* members added, left, timed out */
    uint64_t rebuilds;           /* circle rebuilds */
};

/* ---- hashing (docs/router.md) ---- */
/* FNV-1a-64 of the bytes, then the SplitMix64 finalizer. */
uint64_t ring_hash(const void *p, size_t n);
uint64_t ring_fnv1a64(const void *p, size_t n);
uint64_t ring_mix64(uint64_t z); /* SplitMix64 finalizer */
/* Point j (0-based) of a member whose seed is FNV-1a-64(node). */
uint64_t ring_point(uint64_t seed, uint64_t j);

/* ---- validation: 0, or -1 with a message naming the problem in err ---- */
/* "host:port": host 1..253 bytes of [A-Za-z0-9._-] or "[ipv6]", port 1..65535
 * in plain decimal. */
int ring_node_check(const char *node, size_t len, char *err, size_t errlen);
/* 1..RING_NAME_MAX bytes of [A-Za-z0-9._:-]. */
int ring_name_check(const char *name, size_t len, char *err, size_t errlen);
/* Writes a printable, NUL-terminated copy of p[0..n) into dst for error
 * texts: at most 64 bytes shown, other bytes as '?', "..." if cut. */
void ring_quote(char *dst, size_t cap, const void *p, size_t n);

/* ---- one ring ---- */
void ring_init(struct ring *r, const char *name, size_t len);
void ring_deinit(struct ring *r);

/* Index of the member named node, or -1. */
long ring_find(const struct ring *r, const char *node, size_t len);

/* Joins or refreshes node. weight 0 keeps the current weight (1 for a new
 * member); ttl_ms < 0 keeps the current expiry (none for a new member),
 * ttl_ms == 0 removes it, ttl_ms > 0 sets expiry to now + ttl_ms. Returns
 * RING_ADDED, RING_CHANGED (weight changed) or RING_REFRESHED (only the expiry
 * moved, or nothing), or ERR_LIMIT with err filled (too many members, total
 * weight too high). The node must already be valid (ring_node_check). */
enum { RING_REFRESHED = 0, RING_ADDED = 1, RING_CHANGED = 2 };
int ring_join(struct ring *r, const char *node, size_t len, uint32_t weight,
              int64_t ttl_ms, uint64_t now, char *err, size_t errlen);
/* Restores a member with an absolute expiry (0 = none), as when loading the
 * state file. Same returns as ring_join. */
int ring_restore(struct ring *r, const char *node, size_t len, uint32_t weight,
                 uint64_t expires_ms, uint64_t now, char *err, size_t errlen);
/* 0, or ERR_NOTFOUND if node is not a member. */
int ring_leave(struct ring *r, const char *node, size_t len);
/* Marks member i up or down; returns 1 if that changed its state, else 0. */
int ring_set_healthy(struct ring *r, size_t i, int healthy);
/* Removes every member whose expiry is <= now; returns how many. O(1) when
 * nothing is due. */
size_t ring_expire(struct ring *r, uint64_t now);
/* Percent (0 = off, else RING_LOAD_FACTOR_MIN..MAX). */
void ring_set_load_factor(struct ring *r, uint32_t percent);
uint32_t ring_total_weight(const struct ring *r);

/* The owner of key among healthy members, or NULL if there is none. The
 * returned member lives until the ring changes. Rebuilds the circle first if
 * it is out of date (the only costly case). */
const struct ring_member *ring_lookup(struct ring *r, const void *key,
                                      size_t len);
/* The first n distinct healthy owners clockwise from key's position (the
 * owner first); writes up to n pointers to out and returns how many. */
size_t ring_lookup_n(struct ring *r, const void *key, size_t len, size_t n,
                     const struct ring_member **out);
/* Brings the circle up to date now (lookups do it lazily). */
void ring_build(struct ring *r);

/* ---- a set of rings by name ---- */
struct ring_set {
    struct ring **rings; /* sorted by name */
    size_t nrings, cap;
};
void ring_set_init(struct ring_set *s);
void ring_set_deinit(struct ring_set *s);
struct ring *ring_set_find(const struct ring_set *s, const char *name,
                           size_t len);
/* Finds or creates (empty) the ring; NULL if RING_RINGS_MAX is reached. */
struct ring *ring_set_get(struct ring_set *s, const char *name, size_t len);
/* Drops the ring if it has no members and no health check. */
void ring_set_prune(struct ring_set *s, struct ring *r);

/* ---- state file (docs/router.md) ----
 * Text, one record a line; expiries are stored as wall-clock deadlines so the
 * time a server was down counts against the TTL. encode appends the whole
 * file to out. decode replaces s's content; members already past their
 * deadline are dropped. Returns 0, or ERR_CORRUPT with err naming the line. */
void ring_set_encode(const struct ring_set *s, uint64_t now_mono,
                     uint64_t now_wall, struct sbuf *out);
int ring_set_decode(struct ring_set *s, const char *text, size_t len,
                    uint64_t now_mono, uint64_t now_wall, char *err,
                    size_t errlen);

#endif
