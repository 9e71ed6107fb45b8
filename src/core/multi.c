#include "multi.h"

#include "client.h"
#include "command.h"
#include "common.h"
#include "config.h"
#include "keyspace.h"
#include "module.h"
#include "net.h"

#include <stdlib.h>
#include <string.h>

/* One queued command: argv points into the same allocation, after it. */
struct queued {
    const struct command_spec *spec;
    int argc;
    struct arg *argv;
};

#define MULTI_QUEUED_OVERHEAD 64 /* bytes counted per queued command */

struct watched;

struct multi_state {
    struct client *c;
    uint64_t client_id;
    int in_multi;          /* between MULTI and EXEC/DISCARD */
    int dirty_exec;        /* a queue-time error: EXEC aborts */
    int dirty_cas;         /* a watched key changed: EXEC replies nil */
    struct queued *q;      /* the queue, nq of qcap */
    size_t nq, qcap;
    size_t qbytes;         /* bytes counted against the limit */
    struct watched **w;    /* keys this client watches, nw of wcap */
    size_t nw, wcap;
    struct multi_state *prev, *next; /* every state */
};

/* One (db, key) somebody watches, in a chained hash table. */
struct watched {
    struct watched *next;          /* chain */
    uint64_t hash;                 /* keyspace_hash(key) */
    int db;
    struct multi_state **by;       /* watchers, nby of bycap */
    size_t nby, bycap;
    size_t n;                      /* key bytes */
    char key[];
};

static struct multi_state *states;
static struct watched **table;
static size_t nbuckets, nwatched; /* nwatched: entries in table */
static int hook_live;

int multi_watching(void)
{
    return nwatched > 0;
}

/* ---- state ---- */

static void on_client_closed(void *ctx, uint64_t id);

static struct multi_state *state_of(struct client *c)
{
    if (c->multi)
        return c->multi;
    if (!hook_live) {
        net_on_close(on_client_closed, NULL);
        hook_live = 1;
    }
    struct multi_state *s = xcalloc(1, sizeof(*s));
    s->c = c;
    s->client_id = c->id;
    s->next = states;
    if (states)
        states->prev = s;
    states = s;
    c->multi = s;
    return s;
}

static void queue_free(struct multi_state *s)
{
    for (size_t i = 0; i < s->nq; i++)
        free(s->q[i].argv);
    free(s->q);
    s->q = NULL;
    s->nq = s->qcap = 0;
    s->qbytes = 0;
}

static void unwatch_all(struct multi_state *s)
{
    for (size_t i = 0; i < s->nw; i++) {
        struct watched *w = s->w[i];
        for (size_t j = 0; j < w->nby; j++)
            if (w->by[j] == s) {
                w->by[j] = w->by[--w->nby];
                break;
            }
        if (w->nby)
            continue;
        struct watched **pp = &table[w->hash & (nbuckets - 1)];
        while (*pp != w)
            pp = &(*pp)->next;
        *pp = w->next;
        nwatched--;
        free(w->by);
        free(w);
    }
    free(s->w);
    s->w = NULL;
    s->nw = s->wcap = 0;
    s->dirty_cas = 0;
}

/* Frees s once it holds nothing (no MULTI, no WATCH). */
static void maybe_free(struct multi_state *s)
{
    if (s->in_multi || s->nw)
        return;
    queue_free(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        states = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->c->multi = NULL;
    free(s->w);
    free(s);
}

static void discard(struct multi_state *s)
{
    queue_free(s);
    s->in_multi = 0;
    s->dirty_exec = 0;
    unwatch_all(s);
    maybe_free(s);
}

static void on_client_closed(void *ctx, uint64_t id)
{
    (void)ctx;
    /* the client still exists here; only clients that used MULTI or WATCH
     * have a state, so this list is short */
    for (struct multi_state *s = states; s; s = s->next)
        if (s->client_id == id) {
            discard(s);
            return;
        }
}

int multi_is_queuing(const struct client *c)
{
    return c->multi && c->multi->in_multi;
}

void multi_flag_error(struct client *c)
{
    if (multi_is_queuing(c))
        c->multi->dirty_exec = 1;
}

void multi_reset(struct client *c)
{
    if (c->multi)
        discard(c->multi);
}

void multi_queue(struct client *c, const struct command_spec *spec, int argc,
                 const struct arg *argv)
{
    struct multi_state *s = c->multi;
    if (s->dirty_exec || s->dirty_cas) {
        /* EXEC will not run them: keep nothing (as Redis) */
        reply_simple(c, "QUEUED");
        return;
    }
    size_t data = 0;
    for (int i = 0; i < argc; i++)
        data += argv[i].len + 1;
    size_t bytes = MULTI_QUEUED_OVERHEAD + (size_t)argc * sizeof(struct arg) +
                   data;
    if (s->nq >= MULTI_MAX_QUEUED) {
        queue_free(s);
        s->dirty_exec = 1;
        reply_errorf(c, "ERR transaction discarded: more than %u queued "
                        "commands", MULTI_MAX_QUEUED);
        return;
    }
    if (config_client_query_buffer_limit > 0 && /* 0: no limit, as net.c */
        s->qbytes + bytes > (size_t)config_client_query_buffer_limit) {
        queue_free(s);
        s->dirty_exec = 1;
        reply_errorf(c, "ERR transaction discarded: queued commands over "
                        "client-query-buffer-limit (%lld bytes)",
                     (long long)config_client_query_buffer_limit);
        return;
    }
    if (s->nq == s->qcap) {
        s->qcap = s->qcap ? s->qcap * 2 : 8;
        s->q = xrealloc(s->q, s->qcap * sizeof(*s->q));
    }
    struct arg *copy = xmalloc((size_t)argc * sizeof(*copy) + data);
    char *p = (char *)(copy + argc);
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i].ptr, argv[i].len);
        p[argv[i].len] = '\0';
        copy[i] = (struct arg){p, argv[i].len};
        p += argv[i].len + 1;
    }
    s->q[s->nq++] = (struct queued){spec, argc, copy};
    s->qbytes += bytes;
    reply_simple(c, "QUEUED");
}

/* ---- watched keys ---- */

static struct watched *find(int db, uint64_t h, const char *key, size_t n)
{
    if (!nbuckets)
        return NULL;
    for (struct watched *w = table[h & (nbuckets - 1)]; w; w = w->next)
        if (w->hash == h && w->db == db && w->n == n &&
            memcmp(w->key, key, n) == 0)
            return w;
    return NULL;
}

static void grow(void)
{
    size_t nb = nbuckets ? nbuckets * 2 : 64;
    struct watched **t = xcalloc(nb, sizeof(*t));
    for (size_t i = 0; i < nbuckets; i++) {
        struct watched *next;
        for (struct watched *w = table[i]; w; w = next) {
            next = w->next;
            w->next = t[w->hash & (nb - 1)];
            t[w->hash & (nb - 1)] = w;
        }
    }
    free(table);
    table = t;
    nbuckets = nb;
}

static void watch(struct multi_state *s, int db, const char *key, size_t n)
{
    uint64_t h = keyspace_hash(key, n);
    struct watched *w = find(db, h, key, n);
    if (w) {
        for (size_t i = 0; i < w->nby; i++)
            if (w->by[i] == s)
                return; /* already watched by this client */
    } else {
        if (nwatched >= nbuckets)
            grow();
        w = xcalloc(1, sizeof(*w) + n + 1);
        w->hash = h;
        w->db = db;
        w->n = n;
        memcpy(w->key, key, n);
        w->next = table[h & (nbuckets - 1)];
        table[h & (nbuckets - 1)] = w;
        nwatched++;
    }
    if (w->nby == w->bycap) {
        w->bycap = w->bycap ? w->bycap * 2 : 2;
        w->by = xrealloc(w->by, w->bycap * sizeof(*w->by));
    }
    w->by[w->nby++] = s;
    if (s->nw == s->wcap) {
        s->wcap = s->wcap ? s->wcap * 2 : 4;
        s->w = xrealloc(s->w, s->wcap * sizeof(*s->w));
    }
    s->w[s->nw++] = w;
}

static void dirty(struct watched *w)
{
    for (size_t i = 0; i < w->nby; i++)
        w->by[i]->dirty_cas = 1;
}

void multi_touch_key(int db, const char *key, size_t n)
{
    struct watched *w = find(db, keyspace_hash(key, n), key, n);
    if (w)
        dirty(w);
}

void multi_touch_db(int db)
{
    for (size_t i = 0; i < nbuckets; i++)
        for (struct watched *w = table[i]; w; w = w->next)
            if (db < 0 || w->db == db)
                dirty(w);
}

void multi_touch_flush(int db)
{
    for (size_t i = 0; i < nbuckets; i++)
        for (struct watched *w = table[i]; w; w = w->next)
            if ((db < 0 || w->db == db) && keyspace_lookup(w->db, w->key, w->n))
                dirty(w);
}

/* ---- commands ---- */

static void cmd_multi(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    if (multi_is_queuing(c)) {
        /* as Redis 7.0: an error, but the transaction stays good */
        reply_error(c, "ERR MULTI calls can not be nested");
        return;
    }
    state_of(c)->in_multi = 1;
    reply_ok(c);
}

static void cmd_exec(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    struct multi_state *s = c->multi;
    if (!s || !s->in_multi) {
        reply_error(c, "ERR EXEC without MULTI");
        return;
    }
    if (s->dirty_exec) {
        discard(s);
        reply_error(c, "EXECABORT Transaction discarded because of previous "
                       "errors.");
        return;
    }
    if (s->dirty_cas) {
        discard(s);
        reply_null_array(c);
        return;
    }
    /* The queue leaves the state first: a queued command may close the
     * client (CLIENT KILL), whose close hook then frees the state. */
    struct queued *q = s->q;
    size_t nq = s->nq;
    s->q = NULL;
    s->nq = s->qcap = 0;
    discard(s); /* leaves MULTI and unwatches, as Redis before it runs */
    c->flags |= CLIENT_IN_EXEC;
    reply_array(c, nq);
    for (size_t i = 0; i < nq; i++) {
        command_call(c, q[i].spec, q[i].argc, q[i].argv);
        free(q[i].argv);
    }
    c->flags &= ~CLIENT_IN_EXEC;
    free(q);
}

static void cmd_discard(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    if (!multi_is_queuing(c)) {
        reply_error(c, "ERR DISCARD without MULTI");
        return;
    }
    discard(c->multi);
    reply_ok(c);
}

static void cmd_watch(struct client *c, int argc, struct arg *argv)
{
    if (multi_is_queuing(c)) {
        reply_error(c, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    struct multi_state *s = state_of(c);
    for (int i = 1; i < argc; i++)
        watch(s, c->db, argv[i].ptr, argv[i].len);
    reply_ok(c);
}

static void cmd_unwatch(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    if (c->multi) {
        unwatch_all(c->multi);
        maybe_free(c->multi);
    }
    reply_ok(c);
}

static const struct command_spec multi_commands[] = {
    {"multi", 1, CMD_TX | CMD_FAST | CMD_LOADING | CMD_STALE, cmd_multi,
     "transactions", "", "Starts a transaction: later commands are queued",
     0, 0, 0},
    {"exec", 1, CMD_TX | CMD_LOADING | CMD_STALE, cmd_exec, "transactions",
     "", "Runs the queued commands and replies each one's reply in an array",
     0, 0, 0},
    {"discard", 1, CMD_TX | CMD_FAST | CMD_LOADING | CMD_STALE, cmd_discard,
     "transactions", "", "Drops the queued commands and leaves the "
     "transaction", 0, 0, 0},
    {"watch", -2, CMD_TX | CMD_FAST | CMD_LOADING | CMD_STALE, cmd_watch,
     "transactions", "key [key ...]",
     "EXEC replies nil if a key changes before it", 1, -1, 1},
    {"unwatch", 1, CMD_FAST | CMD_LOADING | CMD_STALE, cmd_unwatch,
     "transactions", "", "Forgets every WATCHed key", 0, 0, 0},
};

const struct module multi_module = {
    .name = "multi",
    .commands = multi_commands,
    .ncommands = ARRAY_LEN(multi_commands),
};
