/* schedule.h - EV.SCHEDULE's schedules: parsing, run times, the state file.
 *
 * A schedule takes a snapshot (SCHED_SNAPSHOT) or replays recent history into
 * a subscription (SCHED_REPLAY) on a fixed grid of run times: with AT, the
 * slots are (AT on 1970-01-01 UTC) + k * EVERY, so "EVERY 24h AT 02:00" runs
 * daily at 02:00 UTC and "EVERY 12h AT 02:00" at 02:00 and 14:00; without AT
 * the grid starts at the schedule's creation time. A schedule that ran (or
 * was due) at `now` next runs at the first slot after `now`, so a server that
 * was down across several slots runs a schedule once, not once per slot.
 *
 * The set keeps its schedules sorted by name (EV.SCHEDULES lists them in that
 * order) and encodes as one file (below), which the caller writes atomically.
 *
 * This module is pure: no I/O, no timers, no clock reads. Times come in as
 * ms since the epoch (UTC, wall clock). It does not take snapshots or
 * replay anything, and knows nothing of RESP: cmd_entity.c runs the due
 * schedules and reports each outcome with sched_ran.
 *
 *   state file (little-endian), whole file checked by the trailing crc32c:
 *   header 16:  magic "TINCANSC" | version u32 | count u32
 *   count x:    kind u8 | flags u8 (1 = STATE, 2 = has a result) |
 *               at u16 (minute of day, 0xffff = none) |
 *               name_len u16 | pattern_len u16 | into_len u16 |
 *               result_len u16 | 0 u32 |
 *               last_ms u64 | every_ms u64 | anchor_ms u64 | last_run u64 |
 *               next_run u64 | runs u64 |
 *               name, pattern, into, result bytes
 *   trailer:    crc32c u32 of every byte before it
 *   Schedules appear in strictly increasing name order. */
#ifndef TINCAN_SCHEDULE_H
#define TINCAN_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#define SCHED_MAGIC        "TINCANSC"
#define SCHED_VERSION      1u
#define SCHED_MAX          10000 /* schedules of one set */
#define SCHED_NAME_MAX     200   /* bytes of a schedule (or snapshot) name */
#define SCHED_INTO_MAX     256 /* bytes of a subscription name (BUS_NAME_MAX) */
#define SCHED_RESULT_MAX   512 /* bytes of a kept run result (longer is cut) */
#define SCHED_EVERY_MIN_MS 1000ull /* EVERY bounds: 1s..366d */
#define SCHED_EVERY_MAX_MS (366ull * 86400000)
#define SCHED_LAST_MIN_MS  1ull /* LAST bounds: 1ms..3660d */
#define SCHED_LAST_MAX_MS  (3660ull * 86400000)
#define SCHED_AT_NONE      (-1)

enum sched_kind {
    SCHED_SNAPSHOT = 1, /* EV.SCHEDULE SNAPSHOT: takes snapshot `name` */
    SCHED_REPLAY = 2,   /* EV.SCHEDULE REPLAY: replays LAST into `into` */
};

/* What EV.SCHEDULE asks for; the strings are borrowed (not NUL-terminated). */
struct sched_spec {
    const char *name; /* valid per sched_name_check */
    size_t name_len;
    enum sched_kind kind;
    const char *pattern; /* a valid topic pattern */
    size_t pattern_len;
    int state;        /* 1: STATE (snapshot of STATE types only) */
    uint64_t last_ms; /* ms, LAST (replay); 0 for a snapshot */
    const char *into; /* replay: the subscription; snapshot: NULL */
    size_t into_len;
    uint64_t every_ms; /* ms, EVERY */
    int at;            /* minute of day (UTC) or SCHED_AT_NONE */
};

struct sched {
    char *name; /* owned, NUL-terminated */
    size_t name_len;
    enum sched_kind kind;
    char *pattern; /* owned, NUL-terminated */
    size_t pattern_len;
    int state;        /* 1: STATE */
    uint64_t last_ms; /* ms, LAST (replay); 0 for a snapshot */
    char *into;       /* owned, NUL-terminated; NULL for a snapshot */
    size_t into_len;
    uint64_t every_ms;  /* ms between two slots */
    int at;             /* minute of day (UTC) or SCHED_AT_NONE */
    uint64_t anchor_ms; /* ms since epoch: a slot (AT on 1970-01-01, or
                           the creation time) */
    uint64_t last_run;  /* ms since epoch; 0 = never ran */
    uint64_t next_run;  /* ms since epoch: the slot it runs at next */
    uint64_t runs;      /* runs so far */
    char *last_result;  /* owned: "ok" or the error text; NULL = never */
};

struct sched_set {
    struct sched **a; /* sorted by name (bytewise); owned */
    size_t n, cap;
};

/* ---- parsing (the arguments of EV.SCHEDULE) ----
 * Each returns 0, or ERR_INVAL with why (no argument name, no quote of the
 * input: the caller adds "invalid EVERY '<x>': ") written into why. */

/* A duration: a positive decimal integer and a unit ms, s, m, h or d (lower
 * case, nothing else: "500ms", "24h"), within min_ms..max_ms. *ms is set only
 * on success. Overflow is an out-of-range error, never a wrap. */
int sched_parse_dur(const char *p, size_t n, uint64_t min_ms, uint64_t max_ms,
                    uint64_t *ms, char *why, size_t whylen);
/* AT: exactly "hh:mm", 00:00..23:59 (UTC); *minute_of_day = hh * 60 + mm. */
int sched_parse_at(const char *p, size_t n, int *minute_of_day, char *why,
                   size_t whylen);
/* A schedule or snapshot name: 1..SCHED_NAME_MAX bytes of [A-Za-z0-9_.:-],
 * not starting with '.', and not "DEL" in any case. */
int sched_name_check(const char *p, size_t n, char *why, size_t whylen);
/* Writes ms as the largest unit that divides it ("24h", "1500ms", "0ms")
 * into out (24 bytes are always enough). */
void sched_format_dur(uint64_t ms, char *out, size_t outlen);
/* Writes the minute of day as "hh:mm" into out[6]. */
void sched_format_at(int minute_of_day, char out[6]);

/* ---- run times ---- */

/* The first slot of s strictly after t: anchor_ms when t < anchor_ms, else
 * anchor_ms + k * every_ms. UINT64_MAX if that does not fit. */
uint64_t sched_next_after(const struct sched *s, uint64_t t);
/* Records a run of s at now with its outcome ("ok" or the error text, cut at
 * SCHED_RESULT_MAX bytes; NULL means "ok"): last_run = now, runs + 1,
 * next_run = the first slot after now (however many slots were missed). */
void sched_ran(struct sched *s, uint64_t now, const char *result);

/* ---- the set ---- */

void sched_set_init(struct sched_set *set);
/* Frees every schedule; set is empty (and reusable) afterwards. */
void sched_set_deinit(struct sched_set *set);
/* Adds the schedule spec describes, created at now (anchor = AT on
 * 1970-01-01 or now; next_run = the first slot after now; never ran),
 * replacing one of the same name. Copies the strings. Returns 1 created,
 * 0 replaced, ERR_LIMIT (SCHED_MAX schedules already) or ERR_INVAL (a spec
 * out of bounds: bad name, pattern, EVERY, LAST, AT, or an INTO that does
 * not fit the kind) with why in why. */
int sched_set_put(struct sched_set *set, const struct sched_spec *spec,
                  uint64_t now, char *why, size_t whylen);
/* Drops the named schedule: 1, or 0 if there is none. */
int sched_set_del(struct sched_set *set, const char *name, size_t len);
/* The named schedule (owned by the set), or NULL. */
struct sched *sched_set_find(const struct sched_set *set, const char *name,
                             size_t len);
static inline size_t sched_set_count(const struct sched_set *set)
{
    return set->n;
}
/* The i-th schedule in name order, i < sched_set_count(set). Valid until
 * the set changes (put, del, decode, deinit). */
static inline struct sched *sched_set_at(const struct sched_set *set, size_t i)
{
    return set->a[i];
}
/* Writes to out (room for sched_set_count(set) pointers) the schedules with
 * next_run <= now, in name order; returns how many. A caller runs each and
 * calls sched_ran(s, now, ...), which moves it past now. */
size_t sched_due(const struct sched_set *set, uint64_t now, struct sched **out);
/* The smallest next_run of the set (when the timer must fire next), or
 * UINT64_MAX for an empty set. */
uint64_t sched_earliest(const struct sched_set *set);

/* ---- the state file ---- */

/* Encodes the whole set; *out is owned by the caller (free()). */
void sched_set_encode(const struct sched_set *set, uint8_t **out, size_t *len);
/* Replaces set's content by the schedules in p[0..n). On bad input (short,
 * bad magic, unknown version, checksum mismatch, a field out of bounds,
 * names out of order) returns ERR_CORRUPT with why in why and leaves set
 * unchanged. Never reads outside p[0..n). */
int sched_set_decode(struct sched_set *set, const uint8_t *p, size_t n,
                     char *why, size_t whylen);

#endif
