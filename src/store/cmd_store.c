/* cmd_store.c - EV.PUB/GET/RANGE/REVRANGE/TYPES/INFO and the store module's
 * sync policy.
 *
 * The engine is store.c (no RESP, no sync policy). This file parses arguments,
 * calls it, replies, and decides when bytes become durable:
 *   - every loop turn ends (uv_check) with one store_flush: one pwrite for
 *     all the turn's publishes. No EV.PUB reply leaves before it (replies are
 *     held on the "store:written" source), so a kill -9 never loses an
 *     acknowledged event;
 *   - fsync always: then the sync thread (syncer.c) is asked to fdatasync;
 *     the EV.PUB reply is held (client_hold) until the fdatasync covering its
 *     position completed, so many publishers share one fsync;
 *   - everysec: a 1 s timer asks for an fdatasync;
 *   - no: never fsync explicitly (the kernel writes back when it likes).
 * A failed fdatasync turns the store read-only and disconnects the clients
 * waiting on it (their outcome is unknown, as after a crash). */
#include "cmd_store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cmd_types.h"
#include "command.h"
#include "common.h"
#include "config.h"
#include "errors.h"
#include "fsx.h"
#include "fsync_hist.h"
#include "log.h"
#include "metrics.h"
#include "module.h"
#include "net.h"
#include "sbuf.h"
#include "segment.h"
#include "store.h"
#include "syncer.h"
#include "topic.h"

#define RANGE_COUNT_DEFAULT 100
#define RANGE_COUNT_MAX 10000
#define HDR_VALUE_MAX 65535 /* bytes of one header value */

static int64_t cfg_segment_size;  /* bytes */
static int64_t cfg_max_payload;   /* bytes */
static int64_t cfg_dedup_window;  /* s */
static int cfg_repair;            /* yes/no */
static int64_t cfg_prealloc;      /* bytes */

static struct store *st;
static struct syncer *syncer;
static struct sync_source src = {"store", 0, 0};         /* fdatasync'ed */
static struct sync_source wsrc = {"store:written", 0, 0}; /* in the file */
static uv_timer_t *timer;         /* everysec */
static uv_check_t *check;         /* end of each loop turn: one sync request */
static uint64_t requested;        /* highest position handed to the syncer */
static uint64_t to_request;       /* highest position written this loop turn */
#define VISIBLE_HOOKS 4
static struct {
    void (*fn)(void *ctx, uint64_t visible);
    void *ctx;
} visible_hooks[VISIBLE_HOOKS];
static uint64_t last_visible;
static uint8_t *rbuf;             /* read buffer for replies */
static size_t rcap;
static struct {
    uint64_t published;  /* events stored by EV.PUB */
    uint64_t duplicates; /* EV.PUB answered from the dedup window */
} stats;

static const char *const fsync_names[] = {"always", "everysec", "no", NULL};

/* ---- the interface for other modules ---- */
struct store *store_default(void)
{
    return st;
}

uint64_t store_visible(void)
{
    if (!st)
        return 0;
    uint64_t last = store_written_pos(st);
    if (config_fsync == CONFIG_FSYNC_ALWAYS && src.synced < last)
        return src.synced;
    return last;
}

void store_on_visible(void (*fn)(void *ctx, uint64_t visible), void *ctx)
{
    size_t free_slot = VISIBLE_HOOKS;
    for (size_t i = 0; i < VISIBLE_HOOKS; i++) {
        if (visible_hooks[i].ctx == ctx && visible_hooks[i].fn) {
            visible_hooks[i].fn = fn; /* replaced, or removed when NULL */
            return;
        }
        if (!visible_hooks[i].fn && free_slot == VISIBLE_HOOKS)
            free_slot = i;
    }
    if (fn && free_slot < VISIBLE_HOOKS) {
        visible_hooks[free_slot].fn = fn;
        visible_hooks[free_slot].ctx = ctx;
    } else if (fn) {
        log_error("store: more than %d visibility hooks", VISIBLE_HOOKS);
        abort();
    }
}

void store_hold(struct client *c, uint64_t pos)
{
    if (config_fsync == CONFIG_FSYNC_ALWAYS) {
        if (pos > to_request)
            to_request = pos; /* this loop turn's sync request covers it */
        if (pos > src.synced)
            client_hold(c, &src, pos);
    } else if (pos > wsrc.synced) {
        client_hold(c, &wsrc, pos); /* until this turn's store_flush */
    }
}

static void notify_visible(void)
{
    uint64_t v = store_visible();
    if (v > last_visible) {
        last_visible = v;
        for (size_t i = 0; i < VISIBLE_HOOKS; i++)
            if (visible_hooks[i].fn)
                visible_hooks[i].fn(visible_hooks[i].ctx, v);
    }
}

static void on_synced(void *ctx, uint64_t seq, int err)
{
    (void)ctx;
    if (err) {
        if (st)
            store_sync_failed(st, err);
        net_sync_failed(&src);
        return;
    }
    net_synced(&src, seq);
    notify_visible();
}

/* Writes what this loop turn appended; on failure the store is read-only and
 * every reply waiting on it is failed (never sent as a success). */
static int flush(void)
{
    char err[200];
    if (wsrc.failed)
        return -1; /* read-only since: nothing more is written */
    if (store_flush(st, err, sizeof(err))) {
        log_ratelimited(LOG_ERROR, "store: %s", err);
        net_sync_failed(&wsrc);
        net_sync_failed(&src);
        return -1;
    }
    net_synced(&wsrc, store_written_pos(st));
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    (void)t;
    if (!st || config_fsync != CONFIG_FSYNC_EVERYSEC || flush() < 0)
        return;
    uint64_t last = store_written_pos(st);
    if (last > requested) {
        requested = last;
        syncer_request(syncer, store_fd(st), last);
    }
}

/* After the loop turn's callbacks ran (every publish read from every client
 * in this turn is written), one request covers them all, like Redis's
 * before-sleep AOF flush: the sync thread is woken once per turn, not once per
 * publish, so the batches it syncs are as large as the load allows. */
static void on_check(uv_check_t *h)
{
    (void)h;
    if (!st || flush() < 0)
        return;
    notify_visible();
    if (syncer && to_request > requested) {
        requested = to_request;
        syncer_request(syncer, store_fd(st), requested);
    }
}

/* ---- replies ---- */
static void reply_hdrs(struct client *c, const struct segment_record *r)
{
    reply_map(c, r->nheaders);
    size_t at = 0;
    struct segment_hdr h;
    while (segment_headers_next(r->headers, r->headers_len, &at, &h)) {
        reply_bulk(c, h.field, h.field_len);
        reply_bulk(c, h.value, h.value_len);
    }
}

/* Decimal text of v into out (20 bytes at most, no NUL); returns its length.
 * EV.RANGE replies write two of these per event: no printf on that path. */
static size_t u64_text(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* The fields of an event, in reply order; a mask bit each. */
enum field { F_POSITION, F_ID, F_ENTRY_ID, F_TYPE, F_KIND, F_TIME, F_KEY, F_HEADERS,
             F_PAYLOAD, F_VERSION, NFIELDS };
static const char *const field_names[NFIELDS] = {
    "position", "id", "entry_id", "type", "kind", "time", "key", "headers", "payload",
    "version"};
#define ALL_FIELDS ((1u << NFIELDS) - 1)

/* Replies r as a map (RESP2: a flat array) of the fields in mask, then
 * leaves room for extra pairs the caller adds. */
static void reply_record(struct client *c, const struct segment_record *r,
                         unsigned mask, size_t extra)
{
    char id[32];
    reply_map(c, (size_t)__builtin_popcount(mask) + extra);
    for (enum field f = 0; f < NFIELDS; f++) {
        if (!(mask & (1u << f)))
            continue;
        reply_cstr(c, field_names[f]);
        switch (f) {
        case F_POSITION:
            reply_uint(c, r->position);
            break;
        case F_ID:
            if (r->id_len)
                reply_bulk(c, r->id, r->id_len);
            else
                reply_bulk(c, id, store_generated_id(r->position, id));
            break;
        case F_ENTRY_ID: {
            char eid[48];
            size_t n = u64_text(eid, r->entry_ms);
            eid[n++] = '-';
            n += u64_text(eid + n, r->entry_seq);
            reply_bulk(c, eid, n);
            break;
        }
        case F_TYPE:
            reply_bulk(c, r->type, r->type_len);
            break;
        case F_KIND:
            reply_cstr(c, r->kind == SEGMENT_KIND_COMMAND ? "command" : "event");
            break;
        case F_TIME:
            reply_uint(c, r->time_ms);
            break;
        case F_KEY:
            if (r->key_len)
                reply_bulk(c, r->key, r->key_len);
            else
                reply_null(c);
            break;
        case F_HEADERS:
            reply_hdrs(c, r);
            break;
        case F_PAYLOAD:
            reply_bulk(c, r->payload, r->payload_len);
            break;
        case F_VERSION:
        case NFIELDS:
            if (r->version)
                reply_uint(c, r->version);
            else
                reply_null(c);
            break;
        }
    }
}

/* "position,payload" -> mask; replies the error and returns -1 if a name
 * is not a field. */
static int parse_fields(struct client *c, const struct arg *v, unsigned *mask)
{
    char pr[80];
    *mask = 0;
    const char *p = v->ptr, *end = v->ptr + v->len;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const struct arg name = {p, (size_t)((comma ? comma : end) - p)};
        unsigned f;
        for (f = 0; f < NFIELDS && !arg_is(&name, field_names[f]); f++)
            ;
        if (f == NFIELDS) {
            reply_errorf(c,
                         "ERR invalid FIELDS '%s': fields are position, id, "
                         "entry_id, type, kind, time, key, headers, payload, "
                         "version (comma-separated)",
                         arg_printable(pr, sizeof(pr), v->ptr, v->len));
            return -1;
        }
        *mask |= 1u << f;
        p = name.ptr + name.len + 1;
    }
    return 0;
}

int store_reply_event(struct client *c, uint64_t pos, size_t extra)
{
    if (!st)
        return ERR_NOTFOUND;
    struct segment_record r;
    int rc = store_get(st, pos, &r, &rbuf, &rcap);
    if (rc)
        return rc;
    reply_record(c, &r, ALL_FIELDS, extra);
    return 0;
}

static int store_ready(struct client *c)
{
    if (st)
        return 0;
    reply_error(c, "ERR event store not available");
    return -1;
}

/* ---- EV.PUB type payload [ID id] [KEY key] [KIND event|command]
 *             [EXPECT version] [HDR field value ...] ---- */
static void cmd_ev_pub(struct client *c, int argc, struct arg *argv)
{
    char err[300], pr[80];
    if (store_ready(c) < 0)
        return;
    const struct arg *type = &argv[1], *payload = &argv[2];
    if (topic_type_check(type->ptr, type->len, err, sizeof(err))) {
        reply_errorf(c, "ERR invalid event type '%s': %s",
                     arg_printable(pr, sizeof(pr), type->ptr, type->len), err);
        return;
    }
    if ((int64_t)payload->len > cfg_max_payload) {
        reply_errorf(c, "ERR payload of %zu bytes exceeds max-payload %" PRId64,
                     payload->len, cfg_max_payload);
        return;
    }
    struct store_pub p = {.type = type->ptr,
                          .type_len = type->len,
                          .kind = SEGMENT_KIND_EVENT,
                          .payload = payload->ptr,
                          .payload_len = payload->len};
    struct segment_hdr hdrs[STORE_HEADERS_MAX];
    for (int i = 3; i < argc; i++) {
        const struct arg *a = &argv[i];
        if (arg_is(a, "HDR")) {
            int left = argc - i - 1;
            if (left == 0 || left % 2) {
                reply_error(c, "ERR HDR needs field value pairs (HDR comes last)");
                return;
            }
            if (left / 2 > STORE_HEADERS_MAX) {
                reply_errorf(c, "ERR too many headers: %d (at most %d)", left / 2,
                             STORE_HEADERS_MAX);
                return;
            }
            for (int k = i + 1; k < argc; k += 2) {
                const struct arg *f = &argv[k], *v = &argv[k + 1];
                if (f->len == 0 || f->len > STORE_HDR_FIELD_MAX) {
                    reply_errorf(c,
                                 "ERR invalid header field '%s': must be 1 to %d "
                                 "bytes",
                                 arg_printable(pr, sizeof(pr), f->ptr, f->len),
                                 STORE_HDR_FIELD_MAX);
                    return;
                }
                if (v->len > HDR_VALUE_MAX) {
                    reply_errorf(c,
                                 "ERR header '%s' value of %zu bytes exceeds %d",
                                 arg_printable(pr, sizeof(pr), f->ptr, f->len),
                                 v->len, HDR_VALUE_MAX);
                    return;
                }
                hdrs[p.nhdrs++] = (struct segment_hdr){f->ptr, f->len, v->ptr, v->len};
            }
            p.hdrs = hdrs;
            break;
        }
        if (i + 1 >= argc) {
            reply_syntax_error(c, a);
            return;
        }
        const struct arg *v = &argv[++i];
        if (arg_is(a, "ID")) {
            if (v->len == 0 || v->len > STORE_ID_MAX) {
                reply_errorf(c, "ERR invalid ID '%s': must be 1 to %d bytes",
                             arg_printable(pr, sizeof(pr), v->ptr, v->len),
                             STORE_ID_MAX);
                return;
            }
            p.id = v->ptr;
            p.id_len = v->len;
        } else if (arg_is(a, "KEY")) {
            if (v->len == 0 || v->len > STORE_KEY_MAX) {
                reply_errorf(c, "ERR invalid KEY '%s': must be 1 to %d bytes",
                             arg_printable(pr, sizeof(pr), v->ptr, v->len),
                             STORE_KEY_MAX);
                return;
            }
            p.key = v->ptr;
            p.key_len = v->len;
            store_key_prefetch(st, v->ptr, v->len);
        } else if (arg_is(a, "EXPECT")) {
            int64_t n;
            if (arg_parse_i64(v->ptr, v->len, &n) || n < 0) {
                reply_errorf(c, "ERR EXPECT must be an integer >= 0 (got '%s')",
                             arg_printable(pr, sizeof(pr), v->ptr, v->len));
                return;
            }
            p.expect_set = 1;
            p.expect = (uint64_t)n;
        } else if (arg_is(a, "KIND")) {
            if (arg_is(v, "event"))
                p.kind = SEGMENT_KIND_EVENT;
            else if (arg_is(v, "command"))
                p.kind = SEGMENT_KIND_COMMAND;
            else {
                reply_errorf(c, "ERR invalid KIND '%s': must be event or command",
                             arg_printable(pr, sizeof(pr), v->ptr, v->len));
                return;
            }
        } else {
            reply_syntax_error(c, a);
            return;
        }
    }
    if (p.expect_set && !p.key_len) {
        reply_error(c, "ERR EXPECT needs KEY (versions are per key)");
        return;
    }
    /* the type's contract (registry, owner, schema): nothing is stored
     * unless it holds */
    struct type_entry *contract;
    int rc = types_publish_check(c, type->ptr, type->len, payload->ptr, payload->len,
                                 1, &contract, err, sizeof(err));
    if (rc) {
        reply_error_code(c, rc, err);
        return;
    }
    uint64_t pos = 0;
    int dup = 0;
    rc = store_append(st, &p, clock_wall_ms(), &pos, &dup, err, sizeof(err));
    if (rc) {
        reply_error_code(c, rc, err);
        return;
    }
    if (dup) {
        stats.duplicates++;
    } else {
        stats.published++;
        types_publish_note(c, contract, type->ptr, type->len);
    }
    reply_uint(c, pos);
    store_hold(c, pos); /* a duplicate's original may not be durable yet either */
}

/* ---- EV.GET position ---- */
static void cmd_ev_get(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    uint64_t pos;
    if (store_ready(c) < 0 || arg_u64(c, &argv[1], "position", &pos) < 0)
        return;
    if (pos > store_visible()) { /* not durable yet: a crash could take it back */
        reply_null(c);
        return;
    }
    int rc = store_reply_event(c, pos, 0);
    if (rc == ERR_NOTFOUND)
        reply_null(c);
    else if (rc)
        reply_error_code(c, rc, "event could not be read");
}

/* ---- EV.RANGE / EV.REVRANGE pattern [FROM t|@pos] [TO t|@pos] [COUNT n]
 *      [KEY key] [FIELDS f,f,...] ---- */
struct range_ctx {
    struct client *c;
    size_t n;      /* events written */
    unsigned mask; /* fields */
};

static int range_visit(void *ctx, const struct segment_record *r)
{
    struct range_ctx *rc = ctx;
    reply_record(rc->c, r, rc->mask, 0);
    rc->n++;
    return 0;
}

/* "@123" -> position bound; "123" -> time bound (ms). */
static int parse_bound(struct client *c, const struct arg *a, const char *what,
                       int *is_pos, uint64_t *v)
{
    const char *p = a->ptr;
    size_t n = a->len;
    *is_pos = n && p[0] == '@';
    if (*is_pos) {
        p++;
        n--;
    }
    int64_t x;
    if (arg_parse_i64(p, n, &x) < 0 || x < 0) {
        char pr[80];
        reply_errorf(c,
                     "ERR invalid %s '%s': must be a time in ms or @position",
                     what, arg_printable(pr, sizeof(pr), a->ptr, a->len));
        return -1;
    }
    *v = (uint64_t)x;
    return 0;
}

static void range_cmd(struct client *c, int argc, struct arg *argv, int reverse)
{
    char err[200], pr[80];
    if (store_ready(c) < 0)
        return;
    struct store_query q = {argv[1].ptr, argv[1].len, 0, UINT64_MAX, 0, UINT64_MAX,
                            NULL, 0, RANGE_COUNT_DEFAULT, reverse};
    unsigned mask = ALL_FIELDS;
    if (topic_pattern_check(q.pattern, q.pattern_len, err, sizeof(err))) {
        reply_errorf(c, "ERR invalid pattern '%s': %s",
                     arg_printable(pr, sizeof(pr), argv[1].ptr, argv[1].len), err);
        return;
    }
    for (int i = 2; i < argc; i++) {
        const struct arg *a = &argv[i];
        if (i + 1 >= argc) {
            reply_syntax_error(c, a);
            return;
        }
        const struct arg *v = &argv[++i];
        int is_pos;
        uint64_t x;
        if (arg_is(a, "FROM")) {
            if (parse_bound(c, v, "FROM", &is_pos, &x) < 0)
                return;
            if (is_pos)
                q.from_pos = x;
            else
                q.from_time = x;
        } else if (arg_is(a, "TO")) {
            if (parse_bound(c, v, "TO", &is_pos, &x) < 0)
                return;
            if (is_pos)
                q.to_pos = x;
            else
                q.to_time = x;
        } else if (arg_is(a, "COUNT")) {
            int64_t n;
            if (arg_i64(c, v, "COUNT", 1, RANGE_COUNT_MAX, &n) < 0)
                return;
            q.count = (size_t)n;
        } else if (arg_is(a, "KEY")) {
            q.key = v->ptr;
            q.key_len = v->len;
        } else if (arg_is(a, "FIELDS")) {
            if (parse_fields(c, v, &mask) < 0)
                return;
        } else {
            reply_syntax_error(c, a);
            return;
        }
    }
    /* never show what a crash could still take back */
    uint64_t vis = store_visible();
    if (q.to_pos > vis)
        q.to_pos = vis;
    struct range_ctx rc = {c, 0, mask};
    size_t h = reply_array_begin(c);
    int r = store_range(st, &q, range_visit, &rc);
    reply_array_end(c, h, rc.n);
    if (r)
        log_ratelimited(LOG_ERROR, "store: range read failed: %s", error_text(r));
}

static void cmd_ev_range(struct client *c, int argc, struct arg *argv)
{
    range_cmd(c, argc, argv, 0);
}

static void cmd_ev_revrange(struct client *c, int argc, struct arg *argv)
{
    range_cmd(c, argc, argv, 1);
}

/* ---- EV.TYPES [pattern] ----
 * The store's types (sorted) merged with the registered types that have no
 * stored event yet (count 0), each with its registration next to its counts. */
struct types_ctx {
    struct client *c;
    size_t n;
    struct types_name *reg; /* registered types, sorted */
    size_t nreg, at;        /* next registered type to merge */
};

static void type_record(struct client *c, const char *name, size_t len,
                        const struct store_type_info *t)
{
    struct types_view v;
    int registered = types_view(name, len, &v);
    reply_map(c, 10);
    reply_cstr(c, "type");
    reply_bulk(c, name, len);
    reply_cstr(c, "count");
    reply_uint(c, t ? t->count : 0);
    reply_cstr(c, "first_position");
    reply_uint(c, t ? t->first_pos : 0);
    reply_cstr(c, "last_position");
    reply_uint(c, t ? t->last_pos : 0);
    reply_cstr(c, "first_time");
    reply_uint(c, t ? t->first_time : 0);
    reply_cstr(c, "last_time");
    reply_uint(c, t ? t->last_time : 0);
    reply_cstr(c, "registered");
    reply_bool(c, registered);
    reply_cstr(c, "schema");
    reply_cstr(c, registered ? v.schema : "none");
    reply_cstr(c, "version");
    reply_uint(c, registered ? v.version : 0);
    reply_cstr(c, "owner");
    if (registered && v.owner)
        reply_bulk(c, v.owner, v.owner_len);
    else
        reply_null(c);
}

static int name_before(const struct types_name *a, const char *p, size_t n)
{
    size_t k = a->len < n ? a->len : n;
    int r = memcmp(a->p, p, k);
    return r < 0 || (r == 0 && a->len < n);
}

static void types_visit(void *ctx, const struct store_type_info *t)
{
    struct types_ctx *tc = ctx;
    while (tc->at < tc->nreg && name_before(&tc->reg[tc->at], t->name, t->name_len)) {
        type_record(tc->c, tc->reg[tc->at].p, tc->reg[tc->at].len, NULL);
        tc->at++;
        tc->n++;
    }
    if (tc->at < tc->nreg && tc->reg[tc->at].len == t->name_len &&
        memcmp(tc->reg[tc->at].p, t->name, t->name_len) == 0)
        tc->at++; /* shown with its counts */
    type_record(tc->c, t->name, t->name_len, t);
    tc->n++;
}

static void cmd_ev_types(struct client *c, int argc, struct arg *argv)
{
    char err[200], pr[80];
    if (store_ready(c) < 0)
        return;
    const char *pat = NULL;
    size_t plen = 0;
    if (argc > 2) {
        reply_syntax_error(c, &argv[2]);
        return;
    }
    if (argc == 2) {
        pat = argv[1].ptr;
        plen = argv[1].len;
        if (topic_pattern_check(pat, plen, err, sizeof(err))) {
            reply_errorf(c, "ERR invalid pattern '%s': %s",
                         arg_printable(pr, sizeof(pr), pat, plen), err);
            return;
        }
    }
    struct types_ctx tc = {c, 0, NULL, 0, 0};
    tc.nreg = types_registered(pat, plen, &tc.reg);
    size_t h = reply_array_begin(c);
    store_types(st, pat, plen, types_visit, &tc);
    for (; tc.at < tc.nreg; tc.at++, tc.n++)
        type_record(c, tc.reg[tc.at].p, tc.reg[tc.at].len, NULL);
    reply_array_end(c, h, tc.n);
    free(tc.reg);
}

/* ---- EV.INFO ---- */
static void cmd_ev_info(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    if (store_ready(c) < 0)
        return;
    struct store_stats s;
    store_stats(st, &s);
    char ro[200] = "";
    store_readonly(st, ro, sizeof(ro));
    reply_map(c, 19);
    reply_cstr(c, "first_position");
    reply_uint(c, s.first_pos);
    reply_cstr(c, "last_position");
    reply_uint(c, s.last_pos);
    reply_cstr(c, "next_position");
    reply_uint(c, s.next_pos);
    reply_cstr(c, "synced_position");
    reply_uint(c, src.synced);
    reply_cstr(c, "events");
    reply_uint(c, s.events);
    reply_cstr(c, "bytes");
    reply_uint(c, s.bytes);
    reply_cstr(c, "segments");
    reply_uint(c, s.segments);
    reply_cstr(c, "types");
    reply_uint(c, s.types);
    reply_cstr(c, "fsync");
    reply_cstr(c, fsync_names[config_fsync]);
    reply_cstr(c, "segment_size");
    reply_int(c, cfg_segment_size);
    reply_cstr(c, "last_sync_latency_us");
    reply_uint(c, syncer ? syncer_last_latency_us(syncer) : 0);
    reply_cstr(c, "sync_rounds");
    reply_uint(c, syncer ? syncer_rounds(syncer) : 0);
    reply_cstr(c, "dedup_ids");
    reply_uint(c, s.dedup_ids);
    reply_cstr(c, "read_only");
    reply_cstr(c, ro[0] ? ro : "no");
    reply_cstr(c, "nospace_errors");
    reply_uint(c, s.nospace_errors);
    reply_cstr(c, "recovered_cut_bytes");
    reply_uint(c, s.recovered_cut_bytes);
    reply_cstr(c, "rebuilt_indexes");
    reply_uint(c, s.rebuilt_indexes);
    reply_cstr(c, "quarantined_bytes");
    reply_uint(c, s.quarantined_bytes);
    reply_cstr(c, "open_ms");
    reply_uint(c, s.open_ms);
}

/* ---- EV.FAULT op nth errno [count] | EV.FAULT CLEAR (debug only) ----
 * Arms an fsx fault in the running server, for crash/fault tests through the
 * protocol: op is any|open|write|read|sync|rename|truncate|close|unlink|
 * mkdir|syncdir, errno EIO or ENOSPC, count 0 = until EV.FAULT CLEAR. */
static void cmd_ev_fault(struct client *c, int argc, struct arg *argv)
{
    static const char *const ops[] = {"any",   "open",     "write", "read",
                                      "sync",  "rename",   "truncate", "close",
                                      "unlink", "mkdir",   "syncdir"};
    if (!config_enable_debug_command) {
        reply_error(c, "ERR EV.FAULT not allowed. Start the server with "
                       "--enable-debug-command yes to use it.");
        return;
    }
    if (argc == 2 && arg_is(&argv[1], "CLEAR")) {
        fsx_fault_clear();
        reply_ok(c);
        return;
    }
    if (argc < 4 || argc > 5) {
        reply_error(c, "ERR usage: EV.FAULT op nth EIO|ENOSPC [count] | EV.FAULT CLEAR");
        return;
    }
    size_t op;
    for (op = 0; op < ARRAY_LEN(ops) && !arg_is(&argv[1], ops[op]); op++)
        ;
    if (op == ARRAY_LEN(ops)) {
        reply_syntax_error(c, &argv[1]);
        return;
    }
    int64_t nth, count = 1;
    if (arg_i64(c, &argv[2], "nth", 1, INT64_MAX, &nth) < 0 ||
        (argc == 5 && arg_i64(c, &argv[4], "count", 0, INT64_MAX, &count) < 0))
        return;
    int e;
    if (arg_is(&argv[3], "EIO"))
        e = EIO;
    else if (arg_is(&argv[3], "ENOSPC"))
        e = ENOSPC;
    else {
        reply_syntax_error(c, &argv[3]);
        return;
    }
    fsx_fault_fail((enum fsx_op)op, (uint64_t)nth, e, (uint64_t)count);
    reply_ok(c);
}

static const struct command_spec store_commands[] = {
    {"ev.pub", -3, CMD_WRITE | CMD_FAST, cmd_ev_pub, "store",
     "type payload [ID id] [KEY key] [KIND event|command] [EXPECT version] "
     "[HDR field value ...]",
     "Stores an event durably; returns its position", 0, 0, 0},
    {"ev.get", 2, CMD_READONLY | CMD_FAST, cmd_ev_get, "store", "position",
     "The event at a position, or nil", 0, 0, 0},
    {"ev.range", -2, CMD_READONLY, cmd_ev_range, "store",
     "pattern [FROM ms|@position] [TO ms|@position] [COUNT n] [KEY key]",
     "Stored events whose type matches the pattern, oldest first", 0, 0, 0},
    {"ev.revrange", -2, CMD_READONLY, cmd_ev_revrange, "store",
     "pattern [FROM ms|@position] [TO ms|@position] [COUNT n] [KEY key]",
     "Stored events whose type matches the pattern, newest first", 0, 0, 0},
    {"ev.types", -1, CMD_READONLY, cmd_ev_types, "store", "[pattern]",
     "Every stored or registered type: count, first/last position and time, "
     "schema, version, owner", 0, 0, 0},
    {"ev.info", 1, CMD_READONLY | CMD_FAST, cmd_ev_info, "store", "",
     "Positions, counts, bytes, segments, fsync setting, sync latency", 0, 0, 0},
    {"ev.fault", -2, CMD_ADMIN, cmd_ev_fault, "store",
     "op nth EIO|ENOSPC [count] | CLEAR",
     "Debug only: fail the nth file syscall of op in the server (tests)", 0, 0, 0},
};

static const struct config_spec store_config[] = {
    {"segment-size", CONFIG_BYTES, &cfg_segment_size, "256mb", 65536,
     (int64_t)1 << 30, NULL, 0, 0, NULL,
     "bytes at which the open event segment is sealed and a new one started"},
    {"max-payload", CONFIG_BYTES, &cfg_max_payload, "1mb", 0, (int64_t)64 << 20,
     NULL, CONFIG_MUTABLE, 0, NULL, "largest EV.PUB payload accepted, in bytes"},
    {"dedup-window", CONFIG_INT, &cfg_dedup_window, "600", 0, 86400 * 7, NULL, 0, 0,
     NULL,
     "seconds an EV.PUB ID is remembered (a re-publish returns the original "
     "position); survives restarts; 0 = off"},
    {"store-prealloc", CONFIG_BYTES, &cfg_prealloc, "1mb", 0, (int64_t)64 << 20,
     NULL, 0, 0, NULL,
     "bytes of zeros written ahead of the open segment's end, so that syncs "
     "never write the inode and disk full shows before a publish is accepted; "
     "0 = none"},
    {"repair", CONFIG_BOOL, &cfg_repair, "no", 0, 0, NULL, 0, 0, NULL,
     "start even if a segment has bad records: quarantine the bad bytes into "
     "<segment>.bad-<offset> files and skip them"},
};

/* ---- module ---- */
static void free_handle(uv_handle_t *h)
{
    free(h);
}

static int store_start(char *err, size_t errlen)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/events", config_dir);
    struct store_config cfg = {dir, (uint64_t)cfg_segment_size,
                               (uint64_t)cfg_dedup_window * 1000, cfg_repair,
                               (uint64_t)cfg_prealloc};
    uint64_t t0 = clock_mono_ms();
    char why[400];
    int rc = store_open(&st, &cfg, clock_wall_ms(), why, sizeof(why));
    if (rc) {
        snprintf(err, errlen, "event store %s: %s", dir, why);
        st = NULL;
        return -1;
    }
    memset(&stats, 0, sizeof(stats));
    src.synced = store_last_pos(st); /* store_open fdatasync'ed it all */
    src.failed = 0;
    wsrc.synced = src.synced;
    wsrc.failed = 0;
    requested = src.synced;
    to_request = src.synced;
    last_visible = src.synced;
    syncer = syncer_new(net_loop(), on_synced, NULL);
    timer = xcalloc(1, sizeof(*timer));
    uv_timer_init(net_loop(), timer);
    uv_timer_start(timer, on_timer, 1000, 1000);
    uv_unref((uv_handle_t *)timer);
    check = xcalloc(1, sizeof(*check));
    uv_check_init(net_loop(), check);
    uv_check_start(check, on_check);
    uv_unref((uv_handle_t *)check);
    struct store_stats s;
    store_stats(st, &s);
    log_info("store: %" PRIu64 " events in %" PRIu64 " segments, next position %"
             PRIu64 ", opened in %" PRIu64 " ms (fsync %s)",
             s.events, s.segments, s.next_pos, clock_mono_ms() - t0,
             fsync_names[config_fsync]);
    return 0;
}

static void store_stop(void)
{
    if (timer) {
        uv_timer_stop(timer);
        uv_close((uv_handle_t *)timer, free_handle);
        timer = NULL;
    }
    if (check) {
        uv_check_stop(check);
        uv_close((uv_handle_t *)check, free_handle);
        check = NULL;
    }
    if (syncer) {
        syncer_free(syncer);
        syncer = NULL;
    }
    if (st) {
        char err[200];
        if (store_sync(st, err, sizeof(err)) && !store_readonly(st, err, sizeof(err)))
            log_error("store: final sync failed: %s", err);
        store_close(st);
        st = NULL;
    }
    free(rbuf);
    rbuf = NULL;
    rcap = 0;
}

static void store_info(struct sbuf *out, const char *section)
{
    if (strcmp(section, "persistence") != 0 || !st)
        return;
    struct store_stats s;
    store_stats(st, &s);
    sbuf_addf(out,
              "store_events:%" PRIu64 "\r\nstore_last_position:%" PRIu64
              "\r\nstore_synced_position:%" PRIu64 "\r\nstore_bytes:%" PRIu64
              "\r\nstore_segments:%" PRIu64 "\r\nstore_fsync:%s\r\n"
              "store_last_sync_latency_us:%" PRIu64 "\r\nstore_sync_rounds:%" PRIu64
              "\r\nstore_read_only:%d\r\nstore_nospace_errors:%" PRIu64
              "\r\nstore_published:%" PRIu64 "\r\nstore_duplicates:%" PRIu64 "\r\n",
              s.events, s.last_pos, src.synced, s.bytes, s.segments,
              fsync_names[config_fsync], syncer ? syncer_last_latency_us(syncer) : 0,
              syncer ? syncer_rounds(syncer) : 0, s.readonly, s.nospace_errors,
              stats.published, stats.duplicates);
}

struct type_families {
    struct metrics_family *count, *bytes;
};

static void type_metrics(void *ctx, const struct store_type_info *t)
{
    struct type_families *f = ctx;
    struct metrics_label l = {"type", t->name, t->name_len};
    metrics_sample(f->count, &l, 1, (double)t->count);
    metrics_sample(f->bytes, &l, 1, (double)t->payload_bytes);
}

static void fsync_metrics(struct metrics *m)
{
    struct fsync_hist h;
    fsync_hist_snapshot(&h);
    double bounds[FSYNC_HIST_BUCKETS];
    for (int i = 0; i < FSYNC_HIST_BUCKETS; i++)
        bounds[i] = (double)fsync_hist_bounds_us[i] / 1e6;
    metrics_histogram(
        metrics_family(m, "tincan_store_fsync_duration_seconds",
                       METRICS_HISTOGRAM,
                       "Duration of each fdatasync of the event store and the "
                       "journals (group commit rounds count one per file)."),
        NULL, 0, bounds, h.counts, FSYNC_HIST_BUCKETS, (double)h.sum_us / 1e6);
}

static void store_metrics(struct metrics *m)
{
    fsync_metrics(m);
    if (!st)
        return;
    struct store_stats s;
    store_stats(st, &s);
    metrics_set(m, "tincan_store_events", METRICS_GAUGE, "Events in the store.",
                (double)s.events);
    metrics_set(m, "tincan_store_bytes", METRICS_GAUGE,
                "Bytes of all segment files.", (double)s.bytes);
    metrics_set(m, "tincan_store_segments", METRICS_GAUGE, "Segment files.",
                (double)s.segments);
    metrics_set(m, "tincan_store_head_position", METRICS_GAUGE,
                "Position of the last stored event (0 when empty).",
                (double)s.last_pos);
    metrics_set(m, "tincan_store_visible_position", METRICS_GAUGE,
                "Highest position readers see (under fsync always: synced).",
                (double)store_visible());
    metrics_set(m, "tincan_store_read_only", METRICS_GAUGE,
                "1 after a failed write or fsync (until restart).", s.readonly);
    metrics_set(m, "tincan_store_nospace_errors_total", METRICS_COUNTER,
                "Publishes refused for lack of disk space since start.",
                (double)s.nospace_errors);
    metrics_set(m, "tincan_store_duplicates_total", METRICS_COUNTER,
                "EV.PUB answered from the dedup window since start.",
                (double)stats.duplicates);
    metrics_set(m, "tincan_store_sync_rounds_total", METRICS_COUNTER,
                "Group commit rounds of the store's sync thread since start.",
                syncer ? (double)syncer_rounds(syncer) : 0);
    struct type_families f = {
        metrics_family(
            m, "tincan_events_published_total", METRICS_COUNTER,
            "Events of the type in the store (since it was created)."),
        metrics_family(
            m, "tincan_events_published_bytes_total", METRICS_COUNTER,
            "Payload bytes of the type's events published since this "
            "server started (not kept across restarts)."),
    };
    store_types(st, NULL, 0, type_metrics, &f);
}

const struct module store_module = {
    .name = "store",
    .commands = store_commands,
    .ncommands = ARRAY_LEN(store_commands),
    .config = store_config,
    .nconfig = ARRAY_LEN(store_config),
    .start = store_start,
    .stop = store_stop,
    .info = store_info,
    .metrics = store_metrics,
};
