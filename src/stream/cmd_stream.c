/* cmd_stream.c - the Redis stream commands (X*) with Redis 7.0's arguments,
 * replies and error texts, on the model of stream.h, and the stream key
 * class of the key space.
 *
 * Durability: an XADD reply is held like an EV.PUB reply (store_hold); a
 * command that changed stream state (groups, pending entries, deletions)
 * holds its reply on the streams journal too; a read that returns entries
 * not yet durable holds its reply until they are. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cmd_journal.h"
#include "cmd_store.h"
#include "cmd_types.h"
#include "command.h"
#include "common.h"
#include "config.h"
#include "errors.h"
#include "journal.h"
#include "keyspace.h"
#include "log.h"
#include "metrics.h"
#include "module.h"
#include "net.h"
#include "sbuf.h"
#include "store.h"
#include "stream.h"

#define XREAD_BLOCKED_DEFAULT_COUNT 1000
#define MAX_FIELDS 65535 /* pairs an entry can hold (headers of an event) */

static int64_t cfg_node_entries; /* stream-node-max-entries */
static int64_t cfg_node_bytes;   /* stream-node-max-bytes (accepted, unused) */
static int started;
static struct {
    uint64_t added;
    uint64_t delivered;
    uint64_t acked;
} stats;

static const struct sid SID_MIN = {0, 0};
static const struct sid SID_MAX = {UINT64_MAX, UINT64_MAX};

uint64_t stream_node_entries(void)
{
    return (uint64_t)cfg_node_entries;
}

static const char *const BAD_ID =
    "ERR Invalid stream ID specified as stream command argument";

/* ---- helpers ---- */
static void touch(struct stream *s)
{
    keyspace_touch(s->db, s->key, s->klen);
}

/* After a command's changes are journaled (the registry is consistent
 * again): holds the reply on them, and checkpoints once the log has grown, as
 * the other journals do at the end of a change; else the log would only ever
 * be compacted at start. */
static void hold_journal(struct client *c)
{
    cmd_journal_hold(stream_journal(), c);
    cmd_journal_maybe_checkpoint(stream_journal());
}

static int ready(struct client *c)
{
    if (!started || !stream_store()) {
        reply_error(c, "LOADING streams are not started");
        return -1;
    }
    return 0;
}

static int writable(struct client *c)
{
    return cmd_journal_writable(stream_journal(), c);
}

static void reply_id(struct client *c, struct sid id)
{
    char b[48];
    reply_bulk(c, b, sid_fmt(id, b));
}

static int parse_u64(const char *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Redis's stream ID grammar: "ms-seq", "ms" (seq = missing_seq), "-" and "+"
 * unless strict, and "ms-*" when seq_given is not NULL (then *seq_given = 0).
 * 0 or -1 (no reply written). */
static int parse_id(const struct arg *a, uint64_t missing_seq, int strict,
                    struct sid *id, int *seq_given)
{
    if (seq_given)
        *seq_given = 1;
    if (a->len > 127)
        return -1;
    if (!strict && a->len == 1 && a->ptr[0] == '-') {
        *id = SID_MIN;
        return 0;
    }
    if (!strict && a->len == 1 && a->ptr[0] == '+') {
        *id = SID_MAX;
        return 0;
    }
    const char *dot = memchr(a->ptr, '-', a->len);
    if (!dot) {
        if (parse_u64(a->ptr, a->len, &id->ms))
            return -1;
        id->seq = missing_seq;
        return 0;
    }
    size_t ml = (size_t)(dot - a->ptr), sl = a->len - ml - 1;
    if (parse_u64(a->ptr, ml, &id->ms))
        return -1;
    if (seq_given && sl == 1 && dot[1] == '*') {
        id->seq = 0;
        *seq_given = 0;
        return 0;
    }
    if (parse_u64(dot + 1, sl, &id->seq))
        return -1;
    return 0;
}

static int id_or_reply(struct client *c, const struct arg *a, uint64_t missing,
                       int strict, struct sid *id, int *seq_given)
{
    if (parse_id(a, missing, strict, id, seq_given) < 0) {
        reply_error(c, BAD_ID);
        return -1;
    }
    return 0;
}

/* The strict IDs argv[from..argc) (XDEL, XACK), or NULL after the error
 * reply; the caller frees them. */
static struct sid *ids_or_reply(struct client *c, int argc, const struct arg *argv,
                                int from)
{
    struct sid *ids = xmalloc((size_t)(argc - from + 1) * sizeof(*ids));
    for (int j = from; j < argc; j++)
        if (id_or_reply(c, &argv[j], 0, 1, &ids[j - from], NULL) < 0) {
            free(ids);
            return NULL;
        }
    return ids;
}

/* XRANGE bounds: like parse_id plus "(" for exclusive. */
static int interval_id(struct client *c, const struct arg *a, uint64_t missing,
                       struct sid *id, int *exclusive)
{
    *exclusive = 0;
    if (a->len > 1 && a->ptr[0] == '(') {
        struct arg b = {a->ptr + 1, a->len - 1};
        *exclusive = 1;
        return id_or_reply(c, &b, missing, 1, id, NULL);
    }
    return id_or_reply(c, a, missing, 0, id, NULL);
}

static int incr_id(struct sid *id)
{
    if (id->seq == UINT64_MAX) {
        if (id->ms == UINT64_MAX)
            return -1;
        id->ms++;
        id->seq = 0;
    } else {
        id->seq++;
    }
    return 0;
}

static int decr_id(struct sid *id)
{
    if (id->seq == 0) {
        if (id->ms == 0)
            return -1;
        id->ms--;
        id->seq = UINT64_MAX;
    } else {
        id->seq--;
    }
    return 0;
}

static int64_t ll_or_reply(struct client *c, const struct arg *a, const char *msg,
                           int64_t *out)
{
    if (arg_parse_i64(a->ptr, a->len, out) < 0) {
        reply_error(c, msg ? msg : "ERR value is not an integer or out of range");
        return -1;
    }
    return 0;
}

/* The stream at key for a command: 1 with *s, 0 when absent. */
static struct stream *lookup(struct client *c, const struct arg *key)
{
    return stream_lookup(client_db(c), key->ptr, key->len);
}

/* Entry reply: [id, [f v ...]]. */
static void reply_entry(struct client *c, const struct stream_entry *e)
{
    reply_array(c, 2);
    reply_id(c, e->id);
    stream_reply_fields(c, e->r);
}

struct collect {
    struct client *c;
    size_t n;
    /* for XREADGROUP '>' */
    struct stream *s;
    struct group *g;
    struct consumer *cn;
    int noack;
    struct pel **ps;
    size_t nps, capps;
    uint64_t now;
};

static int visit_reply(void *ctx, const struct stream_entry *e)
{
    struct collect *x = ctx;
    reply_entry(x->c, e);
    x->n++;
    if (x->g) {
        stream_group_read_advance(x->s, x->g, e->id);
        x->g->next_rank = e->rank + 1;
        if (!x->noack) {
            struct pel *p = stream_pel_deliver(x->s, x->g, x->cn, e->id, e->pos,
                                               x->now, 1);
            if (x->nps == x->capps) {
                x->capps = x->capps ? x->capps * 2 : 16;
                x->ps = xrealloc(x->ps, x->capps * sizeof(*x->ps));
            }
            x->ps[x->nps++] = p;
        }
        stats.delivered++;
    }
    return 0;
}

/* Replies the entries of s in [start, end] (count 0 = all) as an array. */
static int reply_range(struct client *c, struct stream *s, struct sid start,
                       struct sid end, size_t count, int rev)
{
    struct collect x = {c, 0, NULL, NULL, NULL, 0, NULL, 0, 0, 0};
    size_t h = reply_array_begin(c);
    uint64_t maxpos = 0;
    int64_t n = stream_range(s, start, end, count, rev, visit_reply, &x, &maxpos);
    reply_array_end(c, h, x.n);
    if (n < 0)
        log_ratelimited(LOG_ERROR, "stream %s: read failed (%d)", s->type, (int)n);
    if (maxpos)
        store_hold(c, maxpos);
    return 0;
}

/* ---- XADD ---- */
enum trim_kind { TRIM_NONE, TRIM_MAXLEN, TRIM_MINID };
struct trim_args {
    enum trim_kind kind;
    int approx;
    int64_t maxlen;
    struct sid minid;
    int64_t limit;
    int limit_given;
    int nomkstream;
    int id_given, seq_given;
    struct sid id;
};

/* Parses XADD/XTRIM options from argv[2]; returns the index of the ID (XADD)
 * or argc, or -1 with the error replied. */
static int parse_trim(struct client *c, int argc, struct arg *argv, int xadd,
                      struct trim_args *t)
{
    memset(t, 0, sizeof(*t));
    int i = 2;
    for (; i < argc; i++) {
        int more = argc - 1 - i;
        const struct arg *o = &argv[i];
        if (xadd && o->len == 1 && o->ptr[0] == '*')
            break;
        if ((arg_is(o, "MAXLEN") || arg_is(o, "MINID")) && more) {
            if (t->kind != TRIM_NONE) {
                reply_error(c, "ERR syntax error, MAXLEN and MINID options at the "
                               "same time are not compatible");
                return -1;
            }
            int maxlen = arg_is(o, "MAXLEN");
            const struct arg *nx = &argv[i + 1];
            t->approx = 0;
            if (more >= 2 && nx->len == 1 && (nx->ptr[0] == '~' || nx->ptr[0] == '=')) {
                t->approx = nx->ptr[0] == '~';
                i++;
            }
            if (maxlen) {
                if (ll_or_reply(c, &argv[i + 1], NULL, &t->maxlen) < 0)
                    return -1;
                if (t->maxlen < 0) {
                    reply_error(c, "ERR The MAXLEN argument must be >= 0.");
                    return -1;
                }
            } else if (id_or_reply(c, &argv[i + 1], 0, 1, &t->minid, NULL) < 0) {
                return -1;
            }
            i++;
            t->kind = maxlen ? TRIM_MAXLEN : TRIM_MINID;
        } else if (arg_is(o, "LIMIT") && more) {
            if (ll_or_reply(c, &argv[i + 1], NULL, &t->limit) < 0)
                return -1;
            if (t->limit < 0) {
                reply_error(c, "ERR The LIMIT argument must be >= 0.");
                return -1;
            }
            t->limit_given = 1;
            i++;
        } else if (xadd && arg_is(o, "NOMKSTREAM")) {
            t->nomkstream = 1;
        } else if (xadd) {
            if (id_or_reply(c, o, 0, 1, &t->id, &t->seq_given) < 0)
                return -1;
            t->id_given = 1;
            break;
        } else {
            reply_error(c, "ERR syntax error");
            return -1;
        }
    }
    if (t->limit && t->kind == TRIM_NONE) {
        reply_error(c, "ERR syntax error, LIMIT cannot be used without specifying "
                       "a trimming strategy");
        return -1;
    }
    if (!xadd && t->kind == TRIM_NONE) {
        reply_error(c, "ERR syntax error, XTRIM must be called with a trimming "
                       "strategy");
        return -1;
    }
    if (t->approx) {
        if (!t->limit_given) {
            t->limit = 100 * cfg_node_entries;
            if (t->limit <= 0 || t->limit > 1000000)
                t->limit = 10000;
        }
    } else if (t->limit_given) {
        reply_error(c, "ERR syntax error, LIMIT cannot be used without the special "
                       "~ option");
        return -1;
    }
    if (!t->approx)
        t->limit = 0;
    return i;
}

static int64_t do_trim(struct stream *s, const struct trim_args *t)
{
    if (t->kind == TRIM_NONE)
        return 0;
    return stream_trim(s, (uint64_t)t->maxlen, t->kind == TRIM_MINID ? &t->minid : NULL,
                       t->approx, t->limit);
}

static void cmd_xadd(struct client *c, int argc, struct arg *argv)
{
    if (ready(c) < 0)
        return;
    struct trim_args t;
    int idpos = parse_trim(c, argc, argv, 1, &t);
    if (idpos < 0)
        return;
    int nf = argc - idpos - 1;
    if (nf <= 0 || nf % 2) {
        reply_error(c, "ERR wrong number of arguments for 'xadd' command");
        return;
    }
    if (nf / 2 > MAX_FIELDS) {
        reply_errorf(c, "ERR an entry holds at most %d fields", MAX_FIELDS);
        return;
    }
    if (t.id_given && t.seq_given && t.id.ms == 0 && t.id.seq == 0) {
        reply_error(c, "ERR The ID specified in XADD must be greater than 0-0");
        return;
    }
    struct stream *s = lookup(c, &argv[1]);
    if (!s && t.nomkstream) {
        reply_null(c);
        return;
    }
    if (writable(c) < 0)
        return;
    /* The stream's type's contract, before anything is made: a typed entry
     * carries its payload in a field named "payload" (the first one). */
    char type[256], cerr[600];
    struct type_entry *contract = NULL;
    size_t tlen;
    if (s) {
        memcpy(type, s->type, s->tlen);
        tlen = s->tlen;
    } else if (stream_type_of(client_db(c), argv[1].ptr, argv[1].len, type, &tlen) < 0) {
        tlen = 0; /* too long: stream_get_or_new says so */
    }
    if (tlen) {
        const struct arg *pl = NULL;
        for (int k = idpos + 1; k + 1 < argc && !pl; k += 2)
            if (argv[k].len == 7 && memcmp(argv[k].ptr, "payload", 7) == 0)
                pl = &argv[k + 1];
        int rc = types_publish_check(c, type, tlen, pl ? pl->ptr : NULL,
                                     pl ? pl->len : 0, pl != NULL, &contract, cerr,
                                     sizeof(cerr));
        if (rc) {
            reply_error_code(c, rc, cerr);
            return;
        }
    }
    const char *why = NULL;
    if (!s)
        s = stream_get_or_new(client_db(c), argv[1].ptr, argv[1].len, &why);
    if (!s) {
        reply_error(c, why);
        return;
    }
    /* the new ID */
    struct sid last = stream_last_id(s), id;
    if (last.ms == UINT64_MAX && last.seq == UINT64_MAX) {
        /* Redis 7.0 answers this for any ID, explicit ones too */
        reply_error(c, "ERR The stream has exhausted the last possible ID, unable "
                       "to add more items");
        return;
    }
    static const char *const smaller = "ERR The ID specified in XADD is equal or "
                                       "smaller than the target stream top item";
    if (!t.id_given || !t.seq_given) { /* "*" or "ms-*": the seq is ours */
        uint64_t ms = t.id_given ? t.id.ms : clock_wall_ms();
        if (!t.id_given && ms < last.ms)
            ms = last.ms; /* the clock went back, or a future ID is the top */
        if (ms < last.ms) {
            reply_error(c, smaller);
            return;
        } else if (ms > last.ms) {
            id = (struct sid){ms, 0};
        } else if (last.seq < UINT64_MAX) {
            id = (struct sid){ms, last.seq + 1}; /* "0-*" on 0-0 is 0-1 */
        } else if (!t.id_given) {
            id = (struct sid){ms + 1, 0}; /* ms < UINT64_MAX: checked above */
        } else {
            reply_error(c, smaller);
            return;
        }
    } else {
        id = t.id;
        if (sid_cmp(id, last) <= 0) {
            reply_error(c, smaller);
            return;
        }
    }
    struct segment_hdr *hdrs = xmalloc((size_t)(nf / 2) * sizeof(*hdrs));
    for (int k = 0; k < nf / 2; k++) {
        const struct arg *f = &argv[idpos + 1 + 2 * k], *v = f + 1;
        if (f->len > 65535) {
            free(hdrs);
            reply_error(c, "ERR Elements are too large to be stored");
            return;
        }
        hdrs[k] = (struct segment_hdr){f->ptr, f->len, v->ptr, v->len};
    }
    struct store_pub p = {0};
    p.type = s->type;
    p.type_len = s->tlen;
    p.kind = SEGMENT_KIND_EVENT;
    p.hdrs = hdrs;
    p.nhdrs = (size_t)(nf / 2);
    p.payload = "";
    p.entry_id_set = 1;
    p.entry_ms = id.ms;
    p.entry_seq = id.seq;
    uint64_t pos;
    int dup;
    char err[200];
    int rc = store_append(stream_store(), &p, clock_wall_ms(), &pos, &dup, err,
                          sizeof(err));
    free(hdrs);
    if (rc) {
        reply_error_code(c, rc, err);
        return;
    }
    stats.added++;
    types_publish_note(c, contract, s->type, s->tlen);
    /* A stream with entries exists anyway: its `created` flag needs a record
     * only when it has state of its own (a DEL before it, groups) or a trim
     * may leave it empty. The common XADD writes the event and nothing else. */
    int journal = !s->created && (s->inc_start || s->rank0 || s->groups ||
                                  t.kind != TRIM_NONE);
    s->created = 1;
    if (journal)
        stream_journal_meta(s);
    reply_id(c, id);
    store_hold(c, pos);
    do_trim(s, &t);
    if (journal || t.kind != TRIM_NONE)
        hold_journal(c);
    touch(s);
    stream_signal(s);
}

/* ---- XRANGE / XREVRANGE ---- */
static void range_generic(struct client *c, int argc, struct arg *argv, int rev)
{
    if (ready(c) < 0)
        return;
    const struct arg *a_start = &argv[rev ? 3 : 2], *a_end = &argv[rev ? 2 : 3];
    struct sid start, end;
    int sx, ex;
    if (interval_id(c, a_start, 0, &start, &sx) < 0 ||
        interval_id(c, a_end, UINT64_MAX, &end, &ex) < 0)
        return;
    if (sx && incr_id(&start) < 0) {
        reply_error(c, "ERR invalid start ID for the interval");
        return;
    }
    if (ex && decr_id(&end) < 0) {
        reply_error(c, "ERR invalid end ID for the interval");
        return;
    }
    int64_t count = -1;
    for (int j = 4; j < argc; j++) {
        int more = argc - j - 1;
        if (arg_is(&argv[j], "COUNT") && more >= 1) {
            if (ll_or_reply(c, &argv[j + 1], NULL, &count) < 0)
                return;
            if (count < 0)
                count = 0;
            j++;
        } else {
            reply_error(c, "ERR syntax error");
            return;
        }
    }
    struct stream *s = lookup(c, &argv[1]);
    if (!s) {
        reply_array(c, 0);
        return;
    }
    if (count == 0) { /* Redis 7.0: COUNT 0 (or negative) on a stream is nil */
        reply_null_array(c);
        return;
    }
    reply_range(c, s, start, end, count < 0 ? 0 : (size_t)count, rev);
}

static void cmd_xrange(struct client *c, int argc, struct arg *argv)
{
    range_generic(c, argc, argv, 0);
}

static void cmd_xrevrange(struct client *c, int argc, struct arg *argv)
{
    range_generic(c, argc, argv, 1);
}

static void cmd_xlen(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    if (ready(c) < 0)
        return;
    struct stream *s = lookup(c, &argv[1]);
    reply_int(c, s ? (int64_t)stream_len(s) : 0);
}

/* ---- XDEL / XTRIM ---- */
static void cmd_xdel(struct client *c, int argc, struct arg *argv)
{
    if (ready(c) < 0)
        return;
    struct sid *ids = ids_or_reply(c, argc, argv, 2);
    if (!ids)
        return;
    struct stream *s = lookup(c, &argv[1]);
    if (!s || writable(c) < 0) {
        if (!s)
            reply_int(c, 0);
        free(ids);
        return;
    }
    int64_t deleted = 0;
    for (int j = 0; j < argc - 2; j++) {
        struct stream_entry e;
        if (stream_find(s, ids[j], &e) == 1)
            deleted += stream_xdel(s, e.pos, ids[j]);
    }
    free(ids);
    if (deleted) {
        stream_journal_meta(s);
        hold_journal(c);
        touch(s);
    }
    reply_int(c, deleted);
}

static void cmd_xtrim(struct client *c, int argc, struct arg *argv)
{
    if (ready(c) < 0)
        return;
    struct trim_args t;
    int i = parse_trim(c, argc, argv, 0, &t);
    if (i < 0)
        return;
    struct stream *s = lookup(c, &argv[1]);
    if (!s) {
        reply_int(c, 0);
        return;
    }
    if (writable(c) < 0)
        return;
    int64_t n = do_trim(s, &t);
    if (n > 0) {
        hold_journal(c);
        touch(s);
    }
    reply_int(c, n < 0 ? 0 : n);
}

/* ---- XREAD / XREADGROUP ---- */
struct read_req {
    int group_mode;
    struct arg group, consumer;
    int noack;
    size_t count;
    int64_t timeout; /* -1 = no BLOCK */
    int nkeys;
    char **keys;
    size_t *klens;
    struct sid *ids;
    int *new_only; /* XREADGROUP '>' */
    int db;
};

struct stream_waiter {
    struct client *c;
    struct read_req rq;
    struct stream_waiter *next, *prev;
};

static struct stream_waiter *waiters;

static void req_free(struct read_req *rq)
{
    for (int i = 0; i < rq->nkeys; i++)
        free(rq->keys[i]);
    free(rq->keys);
    free(rq->klens);
    free(rq->ids);
    free(rq->new_only);
    if (rq->group_mode) {
        free((char *)rq->group.ptr);
        free((char *)rq->consumer.ptr);
    }
    memset(rq, 0, sizeof(*rq));
}

/* Serves a read: 1 when a reply was written, 0 when nothing is there yet
 * (block, or reply nil), -1 on an error replied. final: reply even if
 * nothing (never blocks). */
/* 1 if stream i of rq has something to reply now. */
static int has_data(struct read_req *rq, int i)
{
    struct stream *s = stream_lookup(rq->db, rq->keys[i], rq->klens[i]);
    if (!s)
        return 0;
    if (rq->group_mode) {
        struct group *g = stream_group(s, rq->group.ptr, rq->group.len);
        if (!g)
            return 0;
        if (!rq->new_only[i])
            return 1; /* history reads always answer */
        return stream_has_from(s, g->next_rank); /* after the last delivered */
    }
    struct stream_entry e;
    return stream_len(s) && sid_cmp(stream_last_id(s), rq->ids[i]) > 0 &&
           stream_last(s, &e) == 1 && sid_cmp(e.id, rq->ids[i]) > 0;
}

static int serve_read(struct client *c, struct read_req *rq, int final)
{
    uint64_t now = clock_wall_ms();
    int *has = xcalloc((size_t)rq->nkeys, sizeof(int));
    size_t nres = 0;
    for (int i = 0; i < rq->nkeys; i++)
        nres += (size_t)(has[i] = has_data(rq, i));
    if (!nres) {
        free(has);
        if (!final)
            return 0;
        reply_null_array(c);
        return 1;
    }
    /* the reply: RESP3 map key -> entries, RESP2 array of [key, entries] */
    int resp3 = client_resp(c) == 3;
    size_t h = 0;
    if (resp3)
        reply_map(c, nres);
    else
        h = reply_array_begin(c);
    size_t written = 0;
    for (int i = 0; i < rq->nkeys; i++) {
        if (!has[i])
            continue;
        struct stream *s = stream_lookup(rq->db, rq->keys[i], rq->klens[i]);
        if (!resp3)
            reply_array(c, 2);
        reply_bulk(c, rq->keys[i], rq->klens[i]);
        written++;
        if (!rq->group_mode) {
            struct sid from = rq->ids[i];
            incr_id(&from);
            reply_range(c, s, from, SID_MAX, rq->count, 0);
            continue;
        }
        struct group *g = stream_group(s, rq->group.ptr, rq->group.len);
        struct consumer *cn = stream_consumer(g, rq->consumer.ptr, rq->consumer.len);
        if (!cn)
            cn = stream_consumer_create(s, g, rq->consumer.ptr, rq->consumer.len, 1);
        cn->seen_ms = now;
        if (!rq->new_only[i]) {
            /* the consumer's own pending entries from the ID on */
            struct sid after = rq->ids[i];
            size_t at = incr_id(&after) < 0 ? cn->pel.n : idvec_lower(&cn->pel, after);
            size_t hh = reply_array_begin(c), n = 0;
            struct pel **ps = NULL;
            size_t nps = 0;
            uint64_t maxpos = 0;
            for (; at < cn->pel.n && (!rq->count || n < rq->count); at++) {
                struct pel *p = cn->pel.vals[at];
                if (!p)
                    continue;
                struct stream_entry e;
                if (stream_find(s, p->id, &e) == 1) {
                    reply_entry(c, &e);
                    if (e.pos > maxpos)
                        maxpos = e.pos;
                } else {
                    reply_array(c, 2); /* deleted: ID and a nil */
                    reply_id(c, p->id);
                    reply_null_array(c);
                }
                p->delivery_ms = now;
                p->count++;
                ps = xrealloc(ps, (nps + 1) * sizeof(*ps));
                ps[nps++] = p;
                n++;
            }
            reply_array_end(c, hh, n);
            if (nps)
                stream_pel_journal(s, g, cn, ps, nps);
            free(ps);
            if (maxpos)
                store_hold(c, maxpos);
            cn->active_ms = now;
            continue;
        }
        struct collect x = {c, 0, s, g, cn, rq->noack, NULL, 0, 0, now};
        size_t hh = reply_array_begin(c);
        uint64_t maxpos = 0;
        stream_range_from(s, g->next_rank, SID_MAX, rq->count, visit_reply, &x,
                          &maxpos);
        reply_array_end(c, hh, x.n);
        if (x.n) {
            cn->active_ms = now;
            if (x.nps)
                stream_pel_journal(s, g, cn, x.ps, x.nps);
            else
                stream_group_journal(s, g);
        }
        free(x.ps);
        if (maxpos)
            store_hold(c, maxpos);
    }
    free(has);
    if (!resp3)
        reply_array_end(c, h, written);
    /* Deliveries are written to the journal at once (they survive kill -9)
     * but, like the bus's, wait for no fsync of their own: one lost with the
     * power comes again through '>' (at least once), and the XACK that
     * follows syncs it with itself. So a consume costs one fsync wait (the
     * ack's), not two. */
    if (rq->group_mode)
        cmd_journal_maybe_checkpoint(stream_journal());
    return 1;
}

static void waiter_unlink(struct stream_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
}

static void on_block_timeout(struct client *c, void *ctx)
{
    struct stream_waiter *w = ctx;
    waiter_unlink(w);
    reply_null_array(c);
    req_free(&w->rq);
    free(w);
}

static void on_block_gone(struct client *c, void *ctx)
{
    (void)c;
    struct stream_waiter *w = ctx;
    waiter_unlink(w);
    req_free(&w->rq);
    free(w);
}

/* Tries every blocked reader (few: one per blocked client). */
static void wake_all(void)
{
    struct stream_waiter *w = waiters, *next;
    for (; w; w = next) {
        next = w->next;
        struct client *c = w->c;
        /* XREADGROUP: the key or the group went away */
        if (w->rq.group_mode) {
            int gone = 0;
            for (int i = 0; i < w->rq.nkeys; i++) {
                struct stream *s =
                    stream_lookup(w->rq.db, w->rq.keys[i], w->rq.klens[i]);
                if (!s)
                    gone = 1;
                else if (!stream_group(s, w->rq.group.ptr, w->rq.group.len) && !gone)
                    gone = 2;
            }
            if (gone) {
                waiter_unlink(w);
                reply_error(c, gone == 1 ? "UNBLOCKED the stream key no longer exists"
                                         : "NOGROUP the consumer group this client "
                                           "was blocked on no longer exists");
                command_note_failed("xreadgroup");
                req_free(&w->rq);
                free(w);
                client_unblock(c);
                continue;
            }
        }
        if (serve_read(c, &w->rq, 0) == 1) {
            waiter_unlink(w);
            req_free(&w->rq);
            free(w);
            client_unblock(c);
        }
    }
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static uv_timer_t *wake_timer; /* wakes readers after the running command */
static int wake_pending;

static void on_wake(uv_timer_t *t)
{
    (void)t;
    wake_pending = 0;
    if (waiters)
        wake_all();
}

/* Readers are woken after the command (or the whole MULTI) that changed the
 * stream, never inside it: an XADD then DEL in one transaction wakes nobody. */
void stream_signal(struct stream *s)
{
    (void)s;
    if (waiters && !wake_pending && wake_timer) {
        wake_pending = 1;
        uv_timer_start(wake_timer, on_wake, 0, 0);
    }
}

static void on_visible(void *ctx, uint64_t visible)
{
    (void)ctx;
    (void)visible;
    if (waiters)
        wake_all();
}

static char *dup_bytes(const char *p, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static void read_generic(struct client *c, int argc, struct arg *argv, int xreadgroup)
{
    if (ready(c) < 0)
        return;
    struct read_req rq = {0};
    rq.timeout = -1;
    rq.db = client_db(c);
    int streams_arg = 0;
    int64_t count = 0;
    int i;
    for (i = 1; i < argc; i++) {
        int more = argc - i - 1;
        const struct arg *o = &argv[i];
        if (arg_is(o, "BLOCK") && more) {
            i++;
            int64_t t;
            if (arg_parse_i64(argv[i].ptr, argv[i].len, &t) < 0) {
                reply_error(c, "ERR timeout is not an integer or out of range");
                return;
            }
            if (t < 0) {
                reply_error(c, "ERR timeout is negative");
                return;
            }
            rq.timeout = t;
        } else if (arg_is(o, "COUNT") && more) {
            i++;
            if (ll_or_reply(c, &argv[i], NULL, &count) < 0)
                return;
            if (count < 0)
                count = 0;
        } else if (arg_is(o, "STREAMS") && more) {
            streams_arg = i + 1;
            int n = argc - streams_arg;
            if (n % 2) {
                /* Redis 7.0's text, for XREADGROUP too */
                reply_error(c, "ERR Unbalanced XREAD list of streams: for each "
                               "stream key an ID or '$' must be specified.");
                return;
            }
            rq.nkeys = n / 2;
            break;
        } else if (arg_is(o, "GROUP") && more >= 2) {
            if (!xreadgroup) {
                reply_error(c, "ERR The GROUP option is only supported by "
                               "XREADGROUP. You called XREAD instead.");
                return;
            }
            rq.group = argv[i + 1];
            rq.consumer = argv[i + 2];
            rq.group_mode = 1;
            i += 2;
        } else if (arg_is(o, "NOACK")) {
            if (!xreadgroup) {
                reply_error(c, "ERR The NOACK option is only supported by "
                               "XREADGROUP. You called XREAD instead.");
                return;
            }
            rq.noack = 1;
        } else {
            reply_error(c, "ERR syntax error");
            return;
        }
    }
    if (!streams_arg) {
        reply_error(c, "ERR syntax error");
        return;
    }
    if (xreadgroup && !rq.group_mode) {
        reply_error(c, "ERR Missing GROUP option for XREADGROUP");
        return;
    }
    rq.count = (size_t)count;
    int n = rq.nkeys;
    rq.keys = xcalloc((size_t)n, sizeof(*rq.keys));
    rq.klens = xcalloc((size_t)n, sizeof(*rq.klens));
    rq.ids = xcalloc((size_t)n, sizeof(*rq.ids));
    rq.new_only = xcalloc((size_t)n, sizeof(*rq.new_only));
    struct arg gname = rq.group, cname = rq.consumer;
    rq.group_mode = 0; /* req_free must not free borrowed names yet */
    for (int k = 0; k < n; k++) {
        const struct arg *key = &argv[streams_arg + k];
        const struct arg *ida = &argv[streams_arg + n + k];
        rq.keys[k] = dup_bytes(key->ptr, key->len);
        rq.klens[k] = key->len;
        struct stream *s = stream_lookup(rq.db, key->ptr, key->len);
        if (xreadgroup) {
            if (!s || !stream_group(s, gname.ptr, gname.len)) {
                char kp[128], gp[128];
                reply_errorf(c,
                             "NOGROUP No such key '%s' or consumer group '%s' in "
                             "XREADGROUP with GROUP option",
                             arg_printable(kp, sizeof(kp), key->ptr, key->len),
                             arg_printable(gp, sizeof(gp), gname.ptr, gname.len));
                req_free(&rq);
                return;
            }
        }
        if (ida->len == 1 && ida->ptr[0] == '$') {
            if (xreadgroup) {
                reply_error(c, "ERR The $ ID is meaningless in the context of "
                               "XREADGROUP: you want to read the history of this "
                               "consumer by specifying a proper ID, or use the > "
                               "ID to get new messages. The $ ID would just return "
                               "an empty result set.");
                req_free(&rq);
                return;
            }
            rq.ids[k] = s ? stream_last_id(s) : SID_MIN;
            continue;
        }
        if (ida->len == 1 && ida->ptr[0] == '>') {
            if (!xreadgroup) {
                reply_error(c, "ERR The > ID can be specified only when calling "
                               "XREADGROUP using the GROUP <group> <consumer> "
                               "option.");
                req_free(&rq);
                return;
            }
            rq.new_only[k] = 1;
            continue;
        }
        if (id_or_reply(c, ida, 0, 1, &rq.ids[k], NULL) < 0) {
            req_free(&rq);
            return;
        }
    }
    if (xreadgroup) {
        if (writable(c) < 0) {
            req_free(&rq);
            return;
        }
        rq.group_mode = 1;
        rq.group = (struct arg){dup_bytes(gname.ptr, gname.len), gname.len};
        rq.consumer = (struct arg){dup_bytes(cname.ptr, cname.len), cname.len};
    }
    int can_block = rq.timeout >= 0 && !client_in_exec(c);
    int done = serve_read(c, &rq, !can_block);
    if (done) {
        req_free(&rq);
        return;
    }
    /* block (a blocked consumer is created when data comes, as in Redis 7.0) */
    if (!rq.count)
        rq.count = XREAD_BLOCKED_DEFAULT_COUNT;
    struct stream_waiter *w = xcalloc(1, sizeof(*w));
    w->c = c;
    w->rq = rq;
    w->next = waiters;
    if (waiters)
        waiters->prev = w;
    waiters = w;
    client_block(c, (uint64_t)rq.timeout, on_block_timeout, on_block_gone, w);
}

static void cmd_xread(struct client *c, int argc, struct arg *argv)
{
    read_generic(c, argc, argv, 0);
}

static void cmd_xreadgroup(struct client *c, int argc, struct arg *argv)
{
    read_generic(c, argc, argv, 1);
}

/* ---- XACK ---- */
static void cmd_xack(struct client *c, int argc, struct arg *argv)
{
    if (ready(c) < 0)
        return;
    struct stream *s = lookup(c, &argv[1]);
    struct group *g = s ? stream_group(s, argv[2].ptr, argv[2].len) : NULL;
    struct sid *ids = ids_or_reply(c, argc, argv, 3);
    if (!ids)
        return;
    if (!g || writable(c) < 0) {
        if (!g)
            reply_int(c, 0);
        free(ids);
        return;
    }
    size_t k = 0;
    for (int j = 0; j < argc - 3; j++)
        if (stream_pel_ack(g, ids[j]))
            ids[k++] = ids[j];
    if (k) {
        stream_ack_journal(s, g, ids, k);
        hold_journal(c);
        stats.acked += k;
    }
    free(ids);
    reply_int(c, (int64_t)k);
}

/* ---- XGROUP ---- */
static void reply_nogroup_key(struct client *c, const struct arg *key,
                              const struct arg *group)
{
    char kp[128], gp[128];
    reply_errorf(c, "NOGROUP No such consumer group '%s' for key name '%s'",
                 arg_printable(gp, sizeof(gp), group->ptr, group->len),
                 arg_printable(kp, sizeof(kp), key->ptr, key->len));
}

static const char *const xgroup_help[] = {
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Print this help.",
    NULL};

static const char *const xinfo_help[] = {
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
    NULL};

static void reply_help(struct client *c, const char *const *lines)
{
    size_t n = 0;
    while (lines[n])
        n++;
    reply_array(c, n);
    for (size_t i = 0; i < n; i++)
        reply_simple(c, lines[i]);
}

/* Redis 7.0's error for a known subcommand whose options are wrong (the
 * arity is checked by command_check_subcommand before the handler). */
static void reply_subcommand_error(struct client *c, const char *parent,
                                   const struct arg *sub)
{
    char sp[128];
    reply_errorf(c,
                 "ERR unknown subcommand or wrong number of arguments for '%s'. "
                 "Try %s HELP.",
                 arg_printable(sp, sizeof(sp), sub->ptr, sub->len), parent);
}

/* XGROUP's and XINFO's subcommands and their arities. */
static const struct subcommand xgroup_subs[] = {
    {"create", -5},         {"setid", -5},       {"destroy", 4},
    {"createconsumer", 5},  {"delconsumer", 5},  {"help", 2},
};

static const struct subcommand xinfo_subs[] = {
    {"consumers", 4}, {"groups", 3}, {"stream", -3}, {"help", 2},
};

static void cmd_xgroup(struct client *c, int argc, struct arg *argv)
{
    if (ready(c) < 0)
        return;
    const struct arg *sub = &argv[1];
    if (command_check_subcommand(c, argc, argv, "xgroup", xgroup_subs,
                                 ARRAY_LEN(xgroup_subs)) < 0)
        return;
    if (arg_is(sub, "HELP")) {
        reply_help(c, xgroup_help);
        return;
    }
    int create = arg_is(sub, "CREATE"), setid = arg_is(sub, "SETID");
    int mkstream = 0;
    int64_t entries_read = -1;
    if ((create && argc > 8) || (setid && argc > 7)) {
        reply_subcommand_error(c, "XGROUP", sub);
        return;
    }
    if (create || setid) {
        for (int i = 5; i < argc; i++) {
            if (create && arg_is(&argv[i], "MKSTREAM")) {
                mkstream = 1;
            } else if (arg_is(&argv[i], "ENTRIESREAD") && i + 1 < argc) {
                if (ll_or_reply(c, &argv[i + 1], NULL, &entries_read) < 0)
                    return;
                if (entries_read < 0 && entries_read != -1) {
                    reply_error(c, "ERR value for ENTRIESREAD must be positive or -1");
                    return;
                }
                i++;
            } else {
                reply_subcommand_error(c, "XGROUP", sub);
                return;
            }
        }
    }
    const struct arg *key = &argv[2], *gname = &argv[3];
    struct stream *s = lookup(c, key);
    if (!s && !(create && mkstream)) {
        reply_error(c, "ERR The XGROUP subcommand requires the key to exist. Note "
                       "that for CREATE you may want to use the MKSTREAM option to "
                       "create an empty stream automatically.");
        return;
    }
    struct group *g = s ? stream_group(s, gname->ptr, gname->len) : NULL;
    if (!g && !create && !arg_is(sub, "DESTROY")) {
        reply_nogroup_key(c, key, gname);
        return;
    }
    if (writable(c) < 0)
        return;
    if (create || setid) {
        const struct arg *ida = &argv[4];
        struct sid id;
        if (ida->len == 1 && ida->ptr[0] == '$') {
            id = s ? stream_last_id(s) : SID_MIN;
        } else if (id_or_reply(c, ida, 0, 0, &id, NULL) < 0) {
            return;
        }
        if (create) {
            if (g) {
                reply_error(c, "BUSYGROUP Consumer Group name already exists");
                return;
            }
            if (!s) {
                const char *why = NULL;
                s = stream_get_or_new(client_db(c), key->ptr, key->len, &why);
                if (!s) {
                    reply_error(c, why);
                    return;
                }
                s->created = 1;
                stream_journal_meta(s);
            }
            stream_group_create(s, gname->ptr, gname->len, id, entries_read);
        } else {
            stream_group_setid(s, g, id, entries_read);
        }
        hold_journal(c);
        touch(s);
        reply_ok(c);
        return;
    }
    if (arg_is(sub, "DESTROY")) {
        if (!g) {
            reply_int(c, 0);
            return;
        }
        stream_group_destroy(s, g);
        hold_journal(c);
        touch(s);
        reply_int(c, 1);
        return;
    }
    const struct arg *cname = &argv[4];
    struct consumer *cn = stream_consumer(g, cname->ptr, cname->len);
    if (arg_is(sub, "CREATECONSUMER")) {
        if (cn) {
            reply_int(c, 0);
            return;
        }
        stream_consumer_create(s, g, cname->ptr, cname->len, 1);
        hold_journal(c);
        reply_int(c, 1);
        return;
    }
    /* DELCONSUMER */
    if (!cn) {
        reply_int(c, 0);
        return;
    }
    uint64_t had = stream_consumer_delete(s, g, cn);
    hold_journal(c);
    reply_int(c, (int64_t)had);
}

/* ---- XSETID ---- */
static void cmd_xsetid(struct client *c, int argc, struct arg *argv)
{
    if (ready(c) < 0)
        return;
    struct sid id, max_xdel = SID_MIN;
    int64_t added = -1;
    if (id_or_reply(c, &argv[2], 0, 1, &id, NULL) < 0)
        return;
    int i = 3;
    for (; i < argc; i++) {
        int more = argc - i - 1;
        if (arg_is(&argv[i], "ENTRIESADDED") && more) {
            if (ll_or_reply(c, &argv[i + 1], NULL, &added) < 0)
                return;
            if (added < 0) {
                reply_error(c, "ERR entries_added must be positive");
                return;
            }
            i++;
        } else if (arg_is(&argv[i], "MAXDELETEDID") && more) {
            if (id_or_reply(c, &argv[i + 1], 0, 1, &max_xdel, NULL) < 0)
                return;
            if (sid_cmp(id, max_xdel) < 0) {
                reply_error(c, "ERR The ID specified in XSETID is smaller than the "
                               "provided max_deleted_entry_id");
                return;
            }
            i++;
        } else {
            reply_error(c, "ERR syntax error");
            return;
        }
    }
    struct stream *s = lookup(c, &argv[1]);
    if (!s) {
        reply_error(c, "ERR no such key");
        return;
    }
    if (stream_len(s)) {
        struct stream_entry e;
        if (stream_last(s, &e) == 1 && sid_cmp(id, e.id) < 0) {
            reply_error(c, "ERR The ID specified in XSETID is smaller than the "
                           "target stream top item");
            return;
        }
        if (added != -1 && (uint64_t)added < stream_len(s)) {
            reply_error(c, "ERR The entries_added specified in XSETID is smaller "
                           "than the target stream length");
            return;
        }
    }
    if (writable(c) < 0)
        return;
    const char *why = NULL;
    if (stream_setid(s, id, &why) < 0) {
        reply_error(c, why);
        return;
    }
    if (added != -1) {
        uint64_t total = stream_total(s);
        s->added_base = (uint64_t)added - total; /* wraps back when added */
    }
    if (max_xdel.ms || max_xdel.seq)
        s->max_deleted = max_xdel;
    s->created = 1;
    stream_journal_meta(s);
    hold_journal(c);
    touch(s);
    reply_ok(c);
}

/* ---- XPENDING ---- */
static void cmd_xpending(struct client *c, int argc, struct arg *argv)
{
    if (ready(c) < 0)
        return;
    int justinfo = argc == 3;
    if (argc != 3 && (argc < 6 || argc > 9)) {
        reply_error(c, "ERR syntax error");
        return;
    }
    int64_t minidle = 0, count = 0;
    struct sid start = SID_MIN, end = SID_MAX;
    const struct arg *cname = NULL;
    if (!justinfo) {
        int at = 3;
        if (arg_is(&argv[3], "IDLE")) {
            if (argc < 8) {
                reply_error(c, "ERR syntax error");
                return;
            }
            if (ll_or_reply(c, &argv[4], NULL, &minidle) < 0)
                return;
            at = 5;
        }
        if (argc - at < 3 || argc - at > 4) {
            reply_error(c, "ERR syntax error");
            return;
        }
        int sx, ex;
        if (interval_id(c, &argv[at], 0, &start, &sx) < 0)
            return;
        if (sx && incr_id(&start) < 0) {
            reply_error(c, "ERR invalid start ID for the interval");
            return;
        }
        if (interval_id(c, &argv[at + 1], UINT64_MAX, &end, &ex) < 0)
            return;
        if (ex && decr_id(&end) < 0) {
            reply_error(c, "ERR invalid end ID for the interval");
            return;
        }
        if (ll_or_reply(c, &argv[at + 2], NULL, &count) < 0)
            return;
        if (count < 0)
            count = 0;
        if (argc - at == 4)
            cname = &argv[at + 3];
    }
    struct stream *s = lookup(c, &argv[1]);
    struct group *g = s ? stream_group(s, argv[2].ptr, argv[2].len) : NULL;
    if (!g) {
        char kp[128], gp[128];
        reply_errorf(c, "NOGROUP No such key '%s' or consumer group '%s'",
                     arg_printable(kp, sizeof(kp), argv[1].ptr, argv[1].len),
                     arg_printable(gp, sizeof(gp), argv[2].ptr, argv[2].len));
        return;
    }
    if (justinfo) {
        reply_array(c, 4);
        reply_int(c, (int64_t)g->pel.live);
        if (!g->pel.live) {
            reply_null(c);
            reply_null(c);
            reply_null_array(c);
            return;
        }
        struct sid lo = SID_MIN, hi = SID_MIN;
        int first = 1;
        for (size_t i = 0; i < g->pel.n; i++)
            if (g->pel.vals[i]) {
                if (first)
                    lo = g->pel.keys[i];
                first = 0;
                hi = g->pel.keys[i];
            }
        reply_id(c, lo);
        reply_id(c, hi);
        size_t nc = 0;
        for (struct consumer *cn = g->consumers; cn; cn = cn->next)
            if (cn->pel.live)
                nc++;
        reply_array(c, nc);
        for (struct consumer *cn = g->consumers; cn; cn = cn->next) {
            if (!cn->pel.live)
                continue;
            reply_array(c, 2);
            reply_bulk(c, cn->name, cn->len);
            reply_bulkf(c, "%zu", cn->pel.live);
        }
        return;
    }
    const struct idvec *v = &g->pel;
    if (cname) {
        struct consumer *cn = stream_consumer(g, cname->ptr, cname->len);
        if (!cn) {
            reply_array(c, 0);
            return;
        }
        v = &cn->pel;
    }
    uint64_t now = clock_wall_ms();
    size_t h = reply_array_begin(c), n = 0;
    for (size_t i = idvec_lower(v, start); i < v->n && (int64_t)n < count; i++) {
        struct pel *p = v->vals[i];
        if (!p)
            continue;
        if (sid_cmp(p->id, end) > 0)
            break;
        uint64_t idle = now > p->delivery_ms ? now - p->delivery_ms : 0;
        if (minidle && (int64_t)idle < minidle)
            continue;
        reply_array(c, 4);
        reply_id(c, p->id);
        reply_bulk(c, p->owner->name, p->owner->len);
        reply_int(c, (int64_t)idle);
        reply_int(c, (int64_t)p->count);
        n++;
    }
    reply_array_end(c, h, n);
}

/* ---- XCLAIM / XAUTOCLAIM ---- */
static struct consumer *claimer(struct stream *s, struct group *g,
                                const struct arg *name)
{
    struct consumer *cn = stream_consumer(g, name->ptr, name->len);
    if (!cn)
        cn = stream_consumer_create(s, g, name->ptr, name->len, 1);
    return cn;
}

static void cmd_xclaim(struct client *c, int argc, struct arg *argv)
{
    if (ready(c) < 0)
        return;
    struct stream *s = lookup(c, &argv[1]);
    struct group *g = s ? stream_group(s, argv[2].ptr, argv[2].len) : NULL;
    if (!g) {
        char kp[128], gp[128];
        reply_errorf(c, "NOGROUP No such key '%s' or consumer group '%s'",
                     arg_printable(kp, sizeof(kp), argv[1].ptr, argv[1].len),
                     arg_printable(gp, sizeof(gp), argv[2].ptr, argv[2].len));
        return;
    }
    int64_t minidle;
    if (ll_or_reply(c, &argv[4], "ERR Invalid min-idle-time argument for XCLAIM",
                    &minidle) < 0)
        return;
    if (minidle < 0)
        minidle = 0;
    int nids = 0;
    struct sid *ids = xmalloc((size_t)argc * sizeof(*ids));
    int j;
    for (j = 5; j < argc; j++) {
        if (parse_id(&argv[j], 0, 1, &ids[nids], NULL) < 0)
            break;
        nids++;
    }
    uint64_t now = clock_wall_ms();
    int64_t deliverytime = -1, retrycount = -1;
    int force = 0, justid = 0;
    struct sid last_id = SID_MIN;
    for (; j < argc; j++) {
        int more = argc - 1 - j;
        const struct arg *o = &argv[j];
        if (arg_is(o, "FORCE")) {
            force = 1;
        } else if (arg_is(o, "JUSTID")) {
            justid = 1;
        } else if (arg_is(o, "IDLE") && more) {
            j++;
            if (ll_or_reply(c, &argv[j], "ERR Invalid IDLE option argument for XCLAIM",
                            &deliverytime) < 0)
                goto out;
            deliverytime = (int64_t)now - deliverytime;
        } else if (arg_is(o, "TIME") && more) {
            j++;
            if (ll_or_reply(c, &argv[j], "ERR Invalid TIME option argument for XCLAIM",
                            &deliverytime) < 0)
                goto out;
        } else if (arg_is(o, "RETRYCOUNT") && more) {
            j++;
            if (ll_or_reply(c, &argv[j],
                            "ERR Invalid RETRYCOUNT option argument for XCLAIM",
                            &retrycount) < 0)
                goto out;
        } else if (arg_is(o, "LASTID") && more) {
            j++;
            if (id_or_reply(c, &argv[j], 0, 1, &last_id, NULL) < 0)
                goto out;
        } else {
            char op[128];
            reply_errorf(c, "ERR Unrecognized XCLAIM option '%s'",
                         arg_printable(op, sizeof(op), o->ptr, o->len));
            goto out;
        }
    }
    if (writable(c) < 0)
        goto out;
    int changed = 0;
    if (sid_cmp(last_id, g->last_id) > 0) {
        stream_group_raise(s, g, last_id);
        changed = 1;
    }
    if (deliverytime != -1) {
        if (deliverytime < 0 || (uint64_t)deliverytime > now)
            deliverytime = (int64_t)now;
    } else {
        deliverytime = (int64_t)now;
    }
    struct consumer *cn = NULL;
    struct pel **ps = NULL;
    size_t nps = 0;
    struct sid *gone = NULL;
    size_t ngone = 0;
    uint64_t maxpos = 0;
    size_t h = reply_array_begin(c), n = 0;
    for (int k = 0; k < nids; k++) {
        struct sid id = ids[k];
        struct pel *p = idvec_get(&g->pel, id);
        struct stream_entry e;
        if (stream_find(s, id, &e) != 1) {
            if (p) {
                stream_pel_ack(g, id);
                gone = xrealloc(gone, (ngone + 1) * sizeof(*gone));
                gone[ngone++] = id;
            }
            continue;
        }
        if (!p && !force)
            continue;
        if (p && minidle) {
            uint64_t idle = now > p->delivery_ms ? now - p->delivery_ms : 0;
            if ((int64_t)idle < minidle)
                continue;
        }
        if (!cn)
            cn = claimer(s, g, &argv[3]);
        uint64_t cnt = p ? p->count : 0;
        if (retrycount >= 0)
            cnt = (uint64_t)retrycount;
        else if (!justid)
            cnt++;
        p = stream_pel_deliver(s, g, cn, id, e.pos, (uint64_t)deliverytime, cnt);
        ps = xrealloc(ps, (nps + 1) * sizeof(*ps));
        ps[nps++] = p;
        if (justid) {
            reply_id(c, id);
        } else {
            reply_entry(c, &e);
            if (e.pos > maxpos)
                maxpos = e.pos;
        }
        n++;
    }
    reply_array_end(c, h, n);
    if (nps) {
        cn->active_ms = now;
        stream_pel_journal(s, g, cn, ps, nps);
    } else if (changed) {
        stream_group_journal(s, g);
    }
    if (ngone)
        stream_ack_journal(s, g, gone, ngone);
    if (nps || changed || ngone)
        hold_journal(c);
    if (maxpos)
        store_hold(c, maxpos);
    free(ps);
    free(gone);
out:
    free(ids);
}

static void cmd_xautoclaim(struct client *c, int argc, struct arg *argv)
{
    if (ready(c) < 0)
        return;
    struct stream *s = lookup(c, &argv[1]);
    struct group *g = s ? stream_group(s, argv[2].ptr, argv[2].len) : NULL;
    int64_t minidle, count = 100;
    if (ll_or_reply(c, &argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM",
                    &minidle) < 0)
        return;
    if (minidle < 0)
        minidle = 0;
    struct sid start;
    int sx;
    if (interval_id(c, &argv[5], 0, &start, &sx) < 0)
        return;
    if (sx && incr_id(&start) < 0) {
        reply_error(c, "ERR invalid start ID for the interval");
        return;
    }
    int justid = 0;
    for (int j = 6; j < argc; j++) {
        int more = argc - 1 - j;
        if (arg_is(&argv[j], "COUNT") && more) {
            int64_t v;
            if (arg_parse_i64(argv[j + 1].ptr, argv[j + 1].len, &v) < 0 || v < 1 ||
                v > INT64_MAX / 10) {
                reply_error(c, "ERR COUNT must be > 0");
                return;
            }
            count = v;
            j++;
        } else if (arg_is(&argv[j], "JUSTID")) {
            justid = 1;
        } else {
            reply_error(c, "ERR syntax error");
            return;
        }
    }
    if (!g) {
        char kp[128], gp[128];
        reply_errorf(c, "NOGROUP No such key '%s' or consumer group '%s'",
                     arg_printable(kp, sizeof(kp), argv[1].ptr, argv[1].len),
                     arg_printable(gp, sizeof(gp), argv[2].ptr, argv[2].len));
        return;
    }
    if (writable(c) < 0)
        return;
    uint64_t now = clock_wall_ms();
    int64_t attempts = count * 10;
    struct consumer *cn = NULL;
    struct pel **ps = NULL;
    size_t nps = 0;
    struct sid *gone = NULL;
    size_t ngone = 0;
    uint64_t maxpos = 0;
    reply_array(c, 3);
    /* the cursor comes first: buffer the entries' reply positions */
    size_t i = idvec_lower(&g->pel, start);
    struct sid *claimed = NULL;
    size_t nclaimed = 0;
    while (attempts-- > 0 && count > 0 && i < g->pel.n) {
        struct pel *p = g->pel.vals[i];
        if (!p) {
            i++;
            attempts++;
            continue;
        }
        struct sid id = p->id;
        struct stream_entry e;
        if (stream_find(s, id, &e) != 1) {
            stream_pel_ack(g, id);
            gone = xrealloc(gone, (ngone + 1) * sizeof(*gone));
            gone[ngone++] = id;
            count--;
            i = idvec_lower(&g->pel, id);
            continue;
        }
        i++;
        if (minidle) {
            uint64_t idle = now > p->delivery_ms ? now - p->delivery_ms : 0;
            if ((int64_t)idle < minidle)
                continue;
        }
        if (!cn)
            cn = claimer(s, g, &argv[3]);
        p = stream_pel_deliver(s, g, cn, id, e.pos, now,
                               justid ? p->count : p->count + 1);
        ps = xrealloc(ps, (nps + 1) * sizeof(*ps));
        ps[nps++] = p;
        claimed = xrealloc(claimed, (nclaimed + 1) * sizeof(*claimed));
        claimed[nclaimed++] = id;
        count--;
    }
    /* next cursor */
    struct sid next = SID_MIN;
    while (i < g->pel.n && !g->pel.vals[i])
        i++;
    if (i < g->pel.n)
        next = g->pel.keys[i];
    reply_id(c, next);
    reply_array(c, nclaimed);
    for (size_t k = 0; k < nclaimed; k++) {
        if (justid) {
            reply_id(c, claimed[k]);
            continue;
        }
        struct stream_entry e;
        if (stream_find(s, claimed[k], &e) == 1) {
            reply_entry(c, &e);
            if (e.pos > maxpos)
                maxpos = e.pos;
        } else {
            reply_null_array(c);
        }
    }
    reply_array(c, ngone);
    for (size_t k = 0; k < ngone; k++)
        reply_id(c, gone[k]);
    if (nps) {
        cn->active_ms = now;
        stream_pel_journal(s, g, cn, ps, nps);
    }
    if (ngone)
        stream_ack_journal(s, g, gone, ngone);
    if (nps || ngone)
        hold_journal(c);
    if (maxpos)
        store_hold(c, maxpos);
    free(ps);
    free(gone);
    free(claimed);
}

/* ---- XINFO ---- */
static size_t group_count(const struct stream *s)
{
    size_t n = 0;
    for (const struct group *g = s->groups; g; g = g->next)
        n++;
    return n;
}

static size_t consumer_count(const struct group *g)
{
    size_t n = 0;
    for (const struct consumer *cn = g->consumers; cn; cn = cn->next)
        n++;
    return n;
}
static void reply_edge(struct client *c, struct stream *s, int last)
{
    struct stream_entry e;
    int rc = last ? stream_last(s, &e) : stream_first(s, &e);
    if (rc == 1) {
        reply_entry(c, &e);
        store_hold(c, e.pos);
    } else {
        reply_null(c);
    }
}

static void reply_lag(struct client *c, struct stream *s, struct group *g)
{
    uint64_t lag;
    if (stream_group_lag(s, g, &lag))
        reply_int(c, (int64_t)lag);
    else
        reply_null(c);
}

static void reply_entries_read(struct client *c, struct group *g)
{
    if (g->entries_read >= 0)
        reply_int(c, g->entries_read);
    else
        reply_null(c);
}

static uint64_t nodes_of(struct stream *s)
{
    uint64_t node = stream_node_entries() ? stream_node_entries() : 1;
    uint64_t total = stream_total(s);
    uint64_t head = s->trimmed;
    if (total <= head)
        return 0;
    return (total + node - 1) / node - head / node;
}

static void xinfo_stream(struct client *c, struct stream *s, int full, int64_t count)
{
    struct stream_entry e;
    struct sid first = SID_MIN;
    if (stream_first(s, &e) == 1)
        first = e.id;
    reply_map(c, full ? 9 : 10);
    reply_cstr(c, "length");
    reply_int(c, (int64_t)stream_len(s));
    reply_cstr(c, "radix-tree-keys");
    reply_int(c, (int64_t)nodes_of(s));
    reply_cstr(c, "radix-tree-nodes");
    reply_int(c, (int64_t)nodes_of(s) + 1);
    reply_cstr(c, "last-generated-id");
    reply_id(c, stream_last_id(s));
    reply_cstr(c, "max-deleted-entry-id");
    reply_id(c, s->max_deleted);
    reply_cstr(c, "entries-added");
    reply_int(c, (int64_t)stream_entries_added(s));
    reply_cstr(c, "recorded-first-entry-id");
    reply_id(c, first);
    if (!full) {
        size_t ng = group_count(s);
        reply_cstr(c, "groups");
        reply_int(c, (int64_t)ng);
        reply_cstr(c, "first-entry");
        reply_edge(c, s, 0);
        reply_cstr(c, "last-entry");
        reply_edge(c, s, 1);
        return;
    }
    reply_cstr(c, "entries");
    reply_range(c, s, SID_MIN, SID_MAX, (size_t)count, 0);
    reply_cstr(c, "groups");
    size_t ng = group_count(s);
    reply_array(c, ng);
    for (struct group *g = s->groups; g; g = g->next) {
        reply_map(c, 7);
        reply_cstr(c, "name");
        reply_bulk(c, g->name, g->len);
        reply_cstr(c, "last-delivered-id");
        reply_id(c, g->last_id);
        reply_cstr(c, "entries-read");
        reply_entries_read(c, g);
        reply_cstr(c, "lag");
        reply_lag(c, s, g);
        reply_cstr(c, "pel-count");
        reply_int(c, (int64_t)g->pel.live);
        reply_cstr(c, "pending");
        size_t h = reply_array_begin(c), n = 0;
        for (size_t i = 0; i < g->pel.n && (!count || (int64_t)n < count); i++) {
            struct pel *p = g->pel.vals[i];
            if (!p)
                continue;
            reply_array(c, 4);
            reply_id(c, p->id);
            reply_bulk(c, p->owner->name, p->owner->len);
            reply_int(c, (int64_t)p->delivery_ms);
            reply_int(c, (int64_t)p->count);
            n++;
        }
        reply_array_end(c, h, n);
        reply_cstr(c, "consumers");
        size_t nc = consumer_count(g);
        reply_array(c, nc);
        for (struct consumer *cn = g->consumers; cn; cn = cn->next) {
            reply_map(c, 4);
            reply_cstr(c, "name");
            reply_bulk(c, cn->name, cn->len);
            reply_cstr(c, "seen-time");
            reply_int(c, (int64_t)cn->seen_ms);
            reply_cstr(c, "pel-count");
            reply_int(c, (int64_t)cn->pel.live);
            reply_cstr(c, "pending");
            size_t hh = reply_array_begin(c), m = 0;
            for (size_t i = 0; i < cn->pel.n && (!count || (int64_t)m < count); i++) {
                struct pel *p = cn->pel.vals[i];
                if (!p)
                    continue;
                reply_array(c, 3);
                reply_id(c, p->id);
                reply_int(c, (int64_t)p->delivery_ms);
                reply_int(c, (int64_t)p->count);
                m++;
            }
            reply_array_end(c, hh, m);
        }
    }
}

static void cmd_xinfo(struct client *c, int argc, struct arg *argv)
{
    if (ready(c) < 0)
        return;
    const struct arg *sub = &argv[1];
    if (command_check_subcommand(c, argc, argv, "xinfo", xinfo_subs,
                                 ARRAY_LEN(xinfo_subs)) < 0)
        return;
    if (arg_is(sub, "HELP")) {
        reply_help(c, xinfo_help);
        return;
    }
    int full = 0;
    int64_t count = 10;
    if (arg_is(sub, "STREAM") && argc > 3) {
        if (!arg_is(&argv[3], "FULL") || argc == 5 || argc > 6) {
            reply_subcommand_error(c, "XINFO", sub);
            return;
        }
        full = 1;
        if (argc == 6) {
            if (!arg_is(&argv[4], "COUNT")) {
                reply_subcommand_error(c, "XINFO", sub);
                return;
            }
            if (ll_or_reply(c, &argv[5], NULL, &count) < 0)
                return;
            if (count < 0)
                count = 10;
        }
    }
    struct stream *s = lookup(c, &argv[2]);
    if (!s) {
        reply_error(c, "ERR no such key");
        return;
    }
    if (arg_is(sub, "STREAM")) {
        xinfo_stream(c, s, full, count);
        return;
    }
    if (arg_is(sub, "GROUPS")) {
        size_t ng = group_count(s);
        reply_array(c, ng);
        for (struct group *g = s->groups; g; g = g->next) {
            size_t nc = consumer_count(g);
            reply_map(c, 6);
            reply_cstr(c, "name");
            reply_bulk(c, g->name, g->len);
            reply_cstr(c, "consumers");
            reply_int(c, (int64_t)nc);
            reply_cstr(c, "pending");
            reply_int(c, (int64_t)g->pel.live);
            reply_cstr(c, "last-delivered-id");
            reply_id(c, g->last_id);
            reply_cstr(c, "entries-read");
            reply_entries_read(c, g);
            reply_cstr(c, "lag");
            reply_lag(c, s, g);
        }
        return;
    }
    struct group *g = stream_group(s, argv[3].ptr, argv[3].len);
    if (!g) {
        reply_nogroup_key(c, &argv[2], &argv[3]);
        return;
    }
    uint64_t now = clock_wall_ms();
    size_t nc = consumer_count(g);
    reply_array(c, nc);
    for (struct consumer *cn = g->consumers; cn; cn = cn->next) {
        reply_map(c, 3);
        reply_cstr(c, "name");
        reply_bulk(c, cn->name, cn->len);
        reply_cstr(c, "pending");
        reply_int(c, (int64_t)cn->pel.live);
        reply_cstr(c, "idle");
        reply_int(c, (int64_t)(now > cn->seen_ms ? now - cn->seen_ms : 0));
    }
}

/* ---- the key space ---- */
static int ks_exists(int db, const char *key, size_t n)
{
    return started && stream_lookup(db, key, n) != NULL;
}

static int ks_del(struct client *c, int db, const char *key, size_t n)
{
    struct stream *s = started ? stream_lookup(db, key, n) : NULL;
    if (!s)
        return 0;
    stream_delete_key(s);
    if (c)
        hold_journal(c);
    return 1;
}

static void ks_foreach(int db, keyspace_key_fn *fn, void *ctx)
{
    if (started)
        stream_keys(db, fn, ctx);
}

static void count_one(void *ctx, const char *key, size_t n)
{
    (void)key;
    (void)n;
    (*(uint64_t *)ctx)++;
}

static uint64_t ks_count(int db)
{
    uint64_t n = 0;
    ks_foreach(db, count_one, &n);
    return n;
}

static void ks_flush(struct client *c, int db)
{
    if (!started)
        return;
    stream_flush_db(db);
    if (c)
        hold_journal(c);
}

static const struct keyspace_class stream_class = {
    "stream", ks_exists, ks_del, ks_foreach, ks_count, ks_flush,
};

/* ---- module ---- */
static int stream_start(char *err, size_t errlen)
{
    memset(&stats, 0, sizeof(stats));
    if (!store_default()) {
        snprintf(err, errlen, "streams: the event store is not open");
        return -1;
    }
    if (stream_registry_start(err, errlen) < 0)
        return -1;
    started = 1;
    wake_timer = xcalloc(1, sizeof(*wake_timer));
    uv_timer_init(net_loop(), wake_timer);
    wake_pending = 0;
    store_on_visible(on_visible, (void *)&stream_class);
    keyspace_register(&stream_class);
    return 0;
}

static void stream_stop(void)
{
    if (!started)
        return;
    keyspace_unregister(&stream_class);
    store_on_visible(NULL, (void *)&stream_class);
    while (waiters) {
        struct stream_waiter *w = waiters;
        waiters = w->next;
        req_free(&w->rq);
        free(w);
    }
    stream_registry_stop();
    uv_close((uv_handle_t *)wake_timer, free_handle);
    wake_timer = NULL;
    started = 0;
}

struct census {
    uint64_t streams, groups, consumers, pending, deleted;
};

static void count_stream(void *ctx, struct stream *s)
{
    struct census *k = ctx;
    if (!s->created && !s->groups && !s->ndels && !s->trimmed)
        return; /* a type no stream command changed: counted by EV.INFO */
    k->streams++;
    k->deleted += s->ndels;
    for (struct group *g = s->groups; g; g = g->next) {
        k->groups++;
        k->pending += g->pel.live;
        for (struct consumer *cn = g->consumers; cn; cn = cn->next)
            k->consumers++;
    }
}

static void stream_info(struct sbuf *out, const char *section)
{
    if (strcmp(section, "stream") != 0 && strcmp(section, "stats") != 0)
        return;
    if (strcmp(section, "stream") == 0 && started) {
        struct census k = {0};
        stream_foreach(count_stream, &k);
        struct cmd_journal *j = stream_journal();
        sbuf_addf(out,
                  "stream_keys_with_state:%" PRIu64 "\r\nstream_groups:%" PRIu64
                  "\r\nstream_consumers:%" PRIu64 "\r\nstream_pending:%" PRIu64
                  "\r\nstream_deleted_entries:%" PRIu64
                  "\r\nstream_journal_log_bytes:%" PRIu64
                  "\r\nstream_journal_checkpoints:%" PRIu64 "\r\n",
                  k.streams, k.groups, k.consumers, k.pending, k.deleted,
                  journal_log_bytes(j->j), j->checkpoints);
    }
    if (strcmp(section, "stats") == 0) {
        sbuf_addf(out, "stream_entries_added:%" PRIu64 "\r\n", stats.added);
        sbuf_addf(out, "stream_entries_delivered:%" PRIu64 "\r\n", stats.delivered);
        sbuf_addf(out, "stream_entries_acked:%" PRIu64 "\r\n", stats.acked);
    }
}

static const struct config_spec stream_config[] = {
    {"stream-node-max-entries", CONFIG_INT, &cfg_node_entries, "100", 0,
     999999999, NULL, CONFIG_MUTABLE, 0, NULL,
     "entries per trimming unit of a stream: MAXLEN/MINID ~ only trims whole "
     "units of this many entries, as Redis trims whole nodes"},
    {"stream-node-max-bytes", CONFIG_BYTES, &cfg_node_bytes, "4096", 0,
     INT64_MAX, NULL, CONFIG_MUTABLE, 0, NULL,
     "accepted for Redis compatibility; tincan's trimming units count entries "
     "only"},
};

#define W CMD_WRITE
#define R CMD_READONLY
#define F CMD_FAST
static const struct command_spec stream_commands[] = {
    {"xadd", -5, W | F, cmd_xadd, "stream",
     "key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field "
     "value [field value ...]",
     "Appends an entry (an event of the key's type) to a stream", 1, 1, 1},
    {"xrange", -4, R, cmd_xrange, "stream", "key start end [COUNT count]",
     "Entries of a stream within an ID range", 1, 1, 1},
    {"xrevrange", -4, R, cmd_xrevrange, "stream", "key end start [COUNT count]",
     "Entries of a stream within an ID range, newest first", 1, 1, 1},
    {"xlen", 2, R | F, cmd_xlen, "stream", "key", "Number of entries of a stream",
     1, 1, 1},
    {"xdel", -3, W | F, cmd_xdel, "stream", "key id [id ...]",
     "Hides entries from a stream (the events stay in the store)", 1, 1, 1},
    {"xtrim", -4, W, cmd_xtrim, "stream",
     "key MAXLEN|MINID [=|~] threshold [LIMIT count]",
     "Hides the oldest entries of a stream", 1, 1, 1},
    {"xread", -4, R | CMD_BLOCKING, cmd_xread, "stream",
     "[COUNT count] [BLOCK ms] STREAMS key [key ...] id [id ...]",
     "Entries after IDs from one or more streams, optionally waiting", 0, 0, 0},
    {"xreadgroup", -7, W | CMD_BLOCKING, cmd_xreadgroup, "stream",
     "GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key [key ...] "
     "id [id ...]",
     "Entries for a consumer of a group", 0, 0, 0},
    {"xack", -4, W | F, cmd_xack, "stream", "key group id [id ...]",
     "Acknowledges pending entries of a group", 1, 1, 1},
    {"xgroup", -2, W, cmd_xgroup, "stream",
     "CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP ...",
     "Manages consumer groups", 2, 2, 1},
    {"xsetid", -3, W, cmd_xsetid, "stream",
     "key last-id [ENTRIESADDED n] [MAXDELETEDID id]",
     "Sets a stream's last ID", 1, 1, 1},
    {"xpending", -3, R, cmd_xpending, "stream",
     "key group [[IDLE min-idle] start end count [consumer]]",
     "Pending entries of a group", 1, 1, 1},
    {"xclaim", -6, W, cmd_xclaim, "stream",
     "key group consumer min-idle id [id ...] [IDLE ms] [TIME ms] [RETRYCOUNT n] "
     "[FORCE] [JUSTID] [LASTID id]",
     "Changes the owner of pending entries", 1, 1, 1},
    {"xautoclaim", -6, W, cmd_xautoclaim, "stream",
     "key group consumer min-idle start [COUNT count] [JUSTID]",
     "Claims idle pending entries", 1, 1, 1},
    {"xinfo", -2, R, cmd_xinfo, "stream",
     "STREAM key [FULL [COUNT n]] | GROUPS key | CONSUMERS key group | HELP",
     "Information on streams, groups and consumers", 2, 2, 1},
};

static int stream_compact(char *err, size_t errlen)
{
    return started ? cmd_journal_checkpoint(stream_journal(), err, errlen) : 0;
}

static void group_pending(void *ctx, struct stream *s)
{
    struct metrics_family *f = ctx;
    for (struct group *g = s->groups; g; g = g->next) {
        struct metrics_label l[] = {{"stream", s->key, s->klen},
                                    {"group", g->name, g->len}};
        metrics_sample(f, l, 2, (double)g->pel.live);
    }
}

static void stream_metrics(struct metrics *m)
{
    if (!started)
        return;
    metrics_set(m, "tincan_stream_entries_added_total", METRICS_COUNTER,
                "XADD entries since start.", (double)stats.added);
    metrics_set(m, "tincan_stream_entries_delivered_total", METRICS_COUNTER,
                "Entries delivered to stream groups since start.",
                (double)stats.delivered);
    metrics_set(m, "tincan_stream_entries_acked_total", METRICS_COUNTER,
                "XACKed entries since start.", (double)stats.acked);
    stream_foreach(group_pending,
                   metrics_family(m, "tincan_stream_group_pending", METRICS_GAUGE,
                                  "Entries of the group's pending list (PEL)."));
}

const struct module stream_module = {
    .name = "stream",
    .commands = stream_commands,
    .ncommands = sizeof(stream_commands) / sizeof(stream_commands[0]),
    .config = stream_config,
    .nconfig = sizeof(stream_config) / sizeof(stream_config[0]),
    .start = stream_start,
    .stop = stream_stop,
    .info = stream_info,
    .metrics = stream_metrics,
    .compact = stream_compact,
};
