/* cmd_types.c - EV.TYPE SET/GET/DEL, EV.MANIFEST, EV.MAP and the type
 * registry module's I/O: the "types" journal, the producer-count timer and
 * the publish check EV.PUB and XADD call.
 *
 * The registry is registry.c (pure), the manifest's data and Mermaid map
 * manifest.c (pure), the schema libraries sit behind schema.h. This file
 * parses arguments, calls them, replies, and owns what is around them:
 *   - every registration change (SET that changed something, DEL) is one
 *     record in <dir>/types.*.{ckpt,log}; its reply is held until the
 *     fdatasync covering it (group commit);
 *   - producer counts are kept in memory on every publish and written, for
 *     the types whose counts changed, by a 1 s timer (never fsynced on their
 *     own: the next held reply's sync or the checkpoint covers them), at
 *     every checkpoint and at a clean stop. After kill -9 the counts may lag
 *     by up to that second of publishes; after a power cut, by what the last
 *     sync had not covered;
 *   - EV.MANIFEST / EV.MAP read the bus's subscriptions (cmd_bus.h) and the
 *     streams' consumer groups (stream.h) at the time of the call: those are
 *     the bus's and streams' own durable state.
 * Recovery: the journal is replayed (schemas compiled again), then a
 * checkpoint compacts it. */
#include "cmd_types.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cmd_bus.h"
#include "cmd_journal.h"
#include "cmd_store.h"
#include "cmd_timer.h"
#include "command.h"
#include "common.h"
#include "config.h"
#include "errors.h"
#include "journal.h"
#include "log.h"
#include "manifest.h"
#include "metrics.h"
#include "module.h"
#include "net.h"
#include "registry.h"
#include "sbuf.h"
#include "store.h"
#include "stream.h"
#include "topic.h"

#define TYPES_JOURNAL_NAME "types"
#define TYPES_FLUSH_MS     1000 /* ms between writes of producer counts */

static struct registry *reg;
static struct cmd_journal jm = {.what = "types"}; /* journal + reply glue */
static uv_timer_t *timer;  /* writes changed producer counts */
static struct sbuf rec;    /* one record being encoded */
static int cfg_required;   /* types-required yes/no */
static int64_t cfg_compact; /* bytes of log before a checkpoint */
static struct {
    uint64_t checked;  /* publishes of registered types checked */
    uint64_t notype;   /* refused: not registered */
    uint64_t noperm;   /* refused: another producer */
    uint64_t invalid;  /* refused: did not validate */
    size_t bad_schemas; /* schemas that did not compile at recovery */
} stats;

/* ---- journal ---- */

static int walk(void *ctx, struct journal_ckpt *w);

static int walk_entry(struct journal_ckpt *w, struct type_entry *e)
{
    int rc = 0;
    if (e->registered) {
        registry_rec_set(&rec, e);
        rc = journal_ckpt_add(w, REGISTRY_REC_SET, rec.data, rec.len);
    }
    if (rc == 0 && e->nproducers) {
        registry_rec_producers(&rec, e);
        rc = journal_ckpt_add(w, REGISTRY_REC_PRODUCERS, rec.data, rec.len);
    }
    return rc;
}

struct walk_ctx {
    struct journal_ckpt *w;
    int rc;
};

static void walk_one(void *ctx, struct type_entry *e)
{
    struct walk_ctx *wc = ctx;
    if (wc->rc == 0)
        wc->rc = walk_entry(wc->w, e);
}

static int walk(void *ctx, struct journal_ckpt *w)
{
    (void)ctx;
    struct walk_ctx wc = {w, 0};
    registry_foreach(reg, walk_one, &wc);
    if (wc.rc == 0)
        registry_dirty_clear(reg); /* every count is in the checkpoint */
    return wc.rc;
}

/* Appends the producer counts that changed since they were last written. */
static void flush_counts(void)
{
    if (!jm.j || journal_error(jm.j))
        return;
    for (struct type_entry *e = registry_dirty(reg); e; e = e->dirty_next) {
        registry_rec_producers(&rec, e);
        cmd_journal_append(&jm, REGISTRY_REC_PRODUCERS, rec.data, rec.len);
    }
    registry_dirty_clear(reg);
    jm.hook_err = 0; /* no reply waits on these; the error is logged */
}

static void on_timer(uv_timer_t *t)
{
    (void)t;
    if (!registry_dirty(reg))
        return;
    flush_counts();
    cmd_journal_maybe_checkpoint(&jm);
}

/* ---- the interface for the publishing commands ---- */

int types_publish_check(struct client *c, const char *type, size_t tlen,
                        const void *payload, size_t n, int has_payload,
                        struct type_entry **entry, char *err, size_t errlen)
{
    *entry = NULL;
    if (!reg)
        return 0;
    struct type_entry *e = registry_find(reg, type, tlen);
    *entry = e;
    if (!e || !e->registered) {
        if (!cfg_required)
            return 0;
        stats.notype++;
        snprintf(err, errlen, "type '%.*s' is not registered (types-required yes)",
                 (int)tlen, type);
        return ERR_NOTYPE;
    }
    stats.checked++;
    if (e->owner) {
        const char *name = client_name(c);
        if (!name || strlen(name) != e->owner_len ||
            memcmp(name, e->owner, e->owner_len) != 0) {
            char o[300], me[300];
            arg_printable(o, sizeof(o), e->owner, e->owner_len);
            stats.noperm++;
            if (name)
                snprintf(err, errlen,
                         "type '%.*s' is owned by '%s'; this client is '%s'",
                         (int)tlen, type, o,
                         arg_printable(me, sizeof(me), name, strlen(name)));
            else
                snprintf(err, errlen,
                         "type '%.*s' is owned by '%s'; this client is none (no "
                         "CLIENT SETNAME)",
                         (int)tlen, type, o);
            return ERR_NOPERM;
        }
    }
    if (e->schema_kind == SCHEMA_NONE)
        return 0;
    char why[400];
    if (!e->schema) {
        snprintf(why, sizeof(why),
                 "its %s schema did not compile at start (%s); EV.TYPE SET it again",
                 schema_kind_name(e->schema_kind),
                 e->schema_error ? e->schema_error : "unknown");
    } else if (!has_payload) {
        snprintf(why, sizeof(why), "the entry has no 'payload' field");
    } else if (schema_validate(e->schema, payload, n, why, sizeof(why)) == 0) {
        return 0;
    }
    stats.invalid++;
    snprintf(err, errlen, "%.*s: %s", (int)tlen, type, why);
    return ERR_INVALID;
}

void types_publish_note(struct client *c, struct type_entry *entry,
                        const char *type, size_t tlen)
{
    if (!reg)
        return;
    const char *name = client_name(c);
    registry_note(reg, entry, type, tlen, name,
                  name ? strlen(name) : 0, clock_wall_ms());
}

int types_view(const char *type, size_t len, struct types_view *out)
{
    struct type_entry *e = reg ? registry_find(reg, type, len) : NULL;
    if (!e || !e->registered)
        return 0;
    out->schema = schema_kind_name(e->schema_kind);
    out->version = e->version;
    out->owner = e->owner;
    out->owner_len = e->owner_len;
    out->state = e->kind == TYPE_STATE;
    return 1;
}

struct names_ctx {
    const char *pat;
    size_t plen;
    struct types_name *v;
    size_t n, cap;
    int all; /* observed-only entries too */
};

static void collect_name(void *ctx, struct type_entry *e)
{
    struct names_ctx *nc = ctx;
    if (!e->registered && !nc->all)
        return;
    if (nc->pat && !topic_match(nc->pat, nc->plen, e->type, e->tlen))
        return;
    if (nc->n == nc->cap) {
        nc->cap = nc->cap ? nc->cap * 2 : 16;
        nc->v = xrealloc(nc->v, nc->cap * sizeof(*nc->v));
    }
    nc->v[nc->n++] = (struct types_name){e->type, e->tlen};
}

static int name_cmp(const void *a, const void *b)
{
    const struct types_name *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->p, y->p, n);
    if (r)
        return r;
    return x->len < y->len ? -1 : x->len > y->len;
}

static size_t names(const char *pat, size_t plen, int all, struct types_name **out)
{
    struct names_ctx nc = {pat, plen, NULL, 0, 0, all};
    if (reg)
        registry_foreach(reg, collect_name, &nc);
    if (nc.n > 1)
        qsort(nc.v, nc.n, sizeof(*nc.v), name_cmp);
    *out = nc.v;
    return nc.n;
}

size_t types_registered(const char *pat, size_t plen, struct types_name **out)
{
    return names(pat, plen, 0, out);
}

/* ---- EV.TYPE SET ---- */

static int ready(struct client *c)
{
    if (reg)
        return 0;
    reply_error(c, "ERR type registry not available");
    return -1;
}

static int parse_type(struct client *c, const struct arg *a)
{
    char why[200], pr[80];
    if (topic_type_check(a->ptr, a->len, why, sizeof(why)) == 0)
        return 0;
    reply_errorf(c, "ERR invalid event type '%s': %s",
                 arg_printable(pr, sizeof(pr), a->ptr, a->len), why);
    return -1;
}

static int once(struct client *c, int *seen, const char *what)
{
    if (!*seen) {
        *seen = 1;
        return 0;
    }
    reply_errorf(c, "ERR %s given twice", what);
    return -1;
}

/* "a,b,c" -> fields (NUL-terminated copies the caller frees). */
static int parse_require(struct client *c, const struct arg *v, char ***out,
                         size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *p = v->ptr, *end = v->ptr + v->len;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t len = (size_t)((comma ? comma : end) - p);
        if (len == 0 || len > 255 || *n == REGISTRY_REQUIRE_MAX) {
            char pr[80];
            reply_errorf(c,
                         "ERR invalid REQUIRE '%s': 1 to %d comma-separated field "
                         "names of 1 to 255 bytes",
                         arg_printable(pr, sizeof(pr), v->ptr, v->len),
                         REGISTRY_REQUIRE_MAX);
            for (size_t i = 0; i < *n; i++)
                free((*out)[i]);
            free(*out);
            *out = NULL;
            *n = 0;
            return -1;
        }
        *out = xrealloc(*out, (*n + 1) * sizeof(char *));
        (*out)[(*n)++] = xmemdup(p, len);
        p += len + 1;
    }
    return 0;
}

static void cmd_type_set(struct client *c, int argc, struct arg *argv)
{
    char pr[80];
    if (argc < 3) {
        reply_error(c, "ERR wrong number of arguments for 'ev.type|set' command");
        return;
    }
    const struct arg *type = &argv[2];
    if (parse_type(c, type) < 0)
        return;
    struct type_def d = {0};
    d.kind = -1;
    int s_schema = 0, s_owner = 0, s_doc = 0, s_kind = 0, s_msg = 0, s_req = 0;
    int force = 0;
    const struct arg *src = NULL, *msg = NULL;
    char **req = NULL;
    size_t nreq = 0;
    for (int i = 3; i < argc; i++) {
        const struct arg *a = &argv[i];
        int more = argc - i - 1;
        if (arg_is(a, "FORCE")) {
            force = 1;
        } else if (arg_is(a, "STATE") || arg_is(a, "OCCURRENCE")) {
            if (once(c, &s_kind, "STATE|OCCURRENCE") < 0)
                goto out;
            d.kind = arg_is(a, "STATE") ? TYPE_STATE : TYPE_OCCURRENCE;
        } else if (arg_is(a, "SCHEMA") && more >= 1 && arg_is(&a[1], "none")) {
            if (once(c, &s_schema, "SCHEMA") < 0)
                goto out;
            d.set_schema = 1;
            d.schema_kind = SCHEMA_NONE;
            i++;
        } else if (arg_is(a, "SCHEMA") && more >= 2 &&
                   (arg_is(&a[1], "json") || arg_is(&a[1], "protobuf"))) {
            if (once(c, &s_schema, "SCHEMA") < 0)
                goto out;
            d.set_schema = 1;
            d.schema_kind = arg_is(&a[1], "json") ? SCHEMA_JSON : SCHEMA_PROTOBUF;
            src = &a[2];
            i += 2;
        } else if (arg_is(a, "SCHEMA")) {
            reply_error(c, "ERR SCHEMA needs json <schema>, protobuf <descriptor "
                           "set> or none");
            goto out;
        } else if (more == 0) {
            if (arg_is(a, "MESSAGE") || arg_is(a, "REQUIRE") || arg_is(a, "OWNER") ||
                arg_is(a, "DOC"))
                reply_errorf(c, "ERR %s needs a value",
                             arg_printable(pr, sizeof(pr), a->ptr, a->len));
            else
                reply_syntax_error(c, a);
            goto out;
        } else if (arg_is(a, "MESSAGE")) {
            if (once(c, &s_msg, "MESSAGE") < 0)
                goto out;
            msg = &a[1];
            i++;
        } else if (arg_is(a, "REQUIRE")) {
            if (once(c, &s_req, "REQUIRE") < 0 ||
                parse_require(c, &a[1], &req, &nreq) < 0)
                goto out;
            i++;
        } else if (arg_is(a, "OWNER")) {
            if (once(c, &s_owner, "OWNER") < 0)
                goto out;
            if (a[1].len > REGISTRY_OWNER_MAX) {
                reply_errorf(c, "ERR OWNER must be at most %d bytes (got %zu)",
                             REGISTRY_OWNER_MAX, a[1].len);
                goto out;
            }
            d.owner = a[1].ptr;
            d.owner_len = a[1].len;
            i++;
        } else if (arg_is(a, "DOC")) {
            if (once(c, &s_doc, "DOC") < 0)
                goto out;
            if (a[1].len > REGISTRY_DOC_MAX) {
                reply_errorf(c, "ERR DOC must be at most %d bytes (got %zu)",
                             REGISTRY_DOC_MAX, a[1].len);
                goto out;
            }
            d.doc = a[1].ptr;
            d.doc_len = a[1].len;
            i++;
        } else {
            reply_syntax_error(c, a);
            goto out;
        }
    }
    if ((msg || req) && d.schema_kind != SCHEMA_PROTOBUF) {
        reply_errorf(c, "ERR %s is only for SCHEMA protobuf", msg ? "MESSAGE" : "REQUIRE");
        goto out;
    }
    if (d.schema_kind == SCHEMA_PROTOBUF && !msg) {
        reply_error(c, "ERR SCHEMA protobuf needs MESSAGE <full.message.name>");
        goto out;
    }
    if (msg && (msg->len == 0 || msg->len > REGISTRY_MESSAGE_MAX ||
                memchr(msg->ptr, '\0', msg->len))) {
        reply_errorf(c, "ERR MESSAGE must be a message name of 1 to %d bytes",
                     REGISTRY_MESSAGE_MAX);
        goto out;
    }
    if (ready(c) < 0 || cmd_journal_writable(&jm, c) < 0)
        goto out;
    struct type_entry *old = registry_find(reg, type->ptr, type->len);
    if (src) {
        size_t max = schema_max_bytes(d.schema_kind);
        if (src->len > max) {
            reply_errorf(c,
                         "ERR invalid schema for %.*s: %zu bytes is larger than the "
                         "limit of %zu bytes for a %s schema",
                         (int)type->len, type->ptr, src->len, max,
                         schema_kind_name(d.schema_kind));
            goto out;
        }
        char why[512];
        d.schema = schema_compile(d.schema_kind, (const uint8_t *)src->ptr, src->len,
                                  msg ? msg->ptr : NULL, (const char *const *)req,
                                  nreq, why, sizeof(why));
        if (!d.schema) {
            reply_errorf(c, "ERR invalid schema for %.*s: %s", (int)type->len,
                         type->ptr, why);
            goto out;
        }
        d.schema_src = (const uint8_t *)src->ptr;
        d.schema_len = src->len;
        d.message = msg ? msg->ptr : NULL;
        d.require = (const char *const *)req;
        d.nrequire = nreq;
        if (old && old->registered && old->schema && !force &&
            schema_compatible(old->schema, d.schema, why, sizeof(why)) < 0) {
            reply_errorf(c,
                         "ERR incompatible schema change for %.*s: %s (FORCE to "
                         "replace)",
                         (int)type->len, type->ptr, why);
            schema_free(d.schema);
            goto out;
        }
    }
    int changed;
    struct type_entry *e =
        registry_set(reg, type->ptr, type->len, &d, clock_wall_ms(), &changed);
    if (changed) {
        registry_rec_set(&rec, e);
        cmd_journal_append(&jm, REGISTRY_REC_SET, rec.data, rec.len);
    }
    if (cmd_journal_check(&jm, c) == 0) {
        reply_ok(c);
        cmd_journal_hold(&jm, c);
    }
    cmd_journal_maybe_checkpoint(&jm);
out:
    for (size_t i = 0; i < nreq; i++)
        free(req[i]);
    free(req);
}

/* ---- EV.TYPE GET / DEL ---- */

static void reply_opt(struct client *c, const char *p, size_t n)
{
    if (p)
        reply_bulk(c, p, n);
    else
        reply_null(c);
}

static const char *kind_name(enum type_kind k)
{
    return k == TYPE_STATE ? "state" : "occurrence";
}

static void cmd_type_get(struct client *c, int argc, struct arg *argv)
{
    if (argc != 3) {
        reply_error(c, "ERR wrong number of arguments for 'ev.type|get' command");
        return;
    }
    if (parse_type(c, &argv[2]) < 0 || ready(c) < 0)
        return;
    struct type_entry *e = registry_find(reg, argv[2].ptr, argv[2].len);
    if (!e || !e->registered) {
        reply_null(c);
        return;
    }
    reply_map(c, 13);
    reply_cstr(c, "type");
    reply_bulk(c, e->type, e->tlen);
    reply_cstr(c, "owner");
    reply_opt(c, e->owner, e->owner_len);
    reply_cstr(c, "doc");
    reply_opt(c, e->doc, e->doc_len);
    reply_cstr(c, "kind");
    reply_cstr(c, kind_name(e->kind));
    reply_cstr(c, "schema_kind");
    reply_cstr(c, schema_kind_name(e->schema_kind));
    reply_cstr(c, "schema");
    reply_opt(c, (const char *)e->schema_src, e->schema_len);
    reply_cstr(c, "message");
    reply_opt(c, e->message, e->message ? strlen(e->message) : 0);
    reply_cstr(c, "require");
    reply_array(c, e->nrequire);
    for (size_t i = 0; i < e->nrequire; i++)
        reply_cstr(c, e->require[i]);
    reply_cstr(c, "version");
    reply_uint(c, e->version);
    reply_cstr(c, "created_ms");
    reply_uint(c, e->created_ms);
    reply_cstr(c, "updated_ms");
    reply_uint(c, e->updated_ms);
    reply_cstr(c, "schema_error");
    reply_opt(c, e->schema_error, e->schema_error ? strlen(e->schema_error) : 0);
    reply_cstr(c, "producers");
    reply_uint(c, e->nproducers);
}

static void cmd_type_del(struct client *c, int argc, struct arg *argv)
{
    if (argc != 3) {
        reply_error(c, "ERR wrong number of arguments for 'ev.type|del' command");
        return;
    }
    if (parse_type(c, &argv[2]) < 0 || ready(c) < 0 ||
        cmd_journal_writable(&jm, c) < 0)
        return;
    int gone = registry_del(reg, argv[2].ptr, argv[2].len);
    if (gone) {
        registry_rec_del(&rec, argv[2].ptr, argv[2].len);
        cmd_journal_append(&jm, REGISTRY_REC_DEL, rec.data, rec.len);
    }
    if (cmd_journal_check(&jm, c) == 0) {
        reply_int(c, gone);
        cmd_journal_hold(&jm, c);
    }
    cmd_journal_maybe_checkpoint(&jm);
}

/* EV.TYPE SET|GET|DEL type ... */
static void cmd_ev_type(struct client *c, int argc, struct arg *argv)
{
    char pr[80];
    if (arg_is(&argv[1], "SET"))
        cmd_type_set(c, argc, argv);
    else if (arg_is(&argv[1], "GET"))
        cmd_type_get(c, argc, argv);
    else if (arg_is(&argv[1], "DEL"))
        cmd_type_del(c, argc, argv);
    else
        reply_errorf(c, "ERR unknown subcommand '%s'. Try EV.TYPE SET|GET|DEL.",
                     arg_printable(pr, sizeof(pr), argv[1].ptr, argv[1].len));
}

/* ---- the manifest ---- */

static struct mstr *strs_of_pats(const struct bus_pattern *p, size_t n)
{
    struct mstr *v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = mstr_dup(p[i].p, p[i].len);
    return v;
}

static void collect_sub(void *ctx, const struct bus_sub_info *in,
                        const struct bus_consumer_info *cons, size_t ncons)
{
    struct manifest *m = ctx;
    m->subs = xrealloc(m->subs, (m->nsubs + 1) * sizeof(*m->subs));
    struct manifest_sub *s = &m->subs[m->nsubs++];
    s->name = mstr_dup(in->name, in->name_len);
    s->pats = strs_of_pats(in->pats, in->npats);
    s->npats = in->npats;
    s->cons = xcalloc(ncons ? ncons : 1, sizeof(*s->cons));
    for (size_t i = 0; i < ncons; i++)
        s->cons[i] = mstr_dup(cons[i].name, cons[i].name_len);
    s->ncons = ncons;
    s->durable = !in->ephemeral;
}

static void add_groups(struct manifest_type *t)
{
    int db;
    char key[256];
    size_t klen;
    if (stream_key_of_type(t->type.p, t->type.n, &db, key, &klen) < 0)
        return;
    struct stream *s = stream_lookup(db, key, klen);
    if (!s)
        return;
    for (struct group *g = s->groups; g; g = g->next) {
        t->groups = xrealloc(t->groups, (t->ngroups + 1) * sizeof(*t->groups));
        struct manifest_group *mg = &t->groups[t->ngroups++];
        mg->stream = mstr_dup(key, klen);
        mg->db = db;
        mg->group = mstr_dup(g->name, g->len);
        mg->cons = NULL;
        mg->ncons = 0;
        for (struct consumer *cn = g->consumers; cn; cn = cn->next) {
            mg->cons = xrealloc(mg->cons, (mg->ncons + 1) * sizeof(*mg->cons));
            mg->cons[mg->ncons++] = mstr_dup(cn->name, cn->len);
        }
    }
}

static void fill_type(struct manifest *m, struct manifest_type *t, const char *name,
                      size_t len)
{
    memset(t, 0, sizeof(*t));
    t->type = mstr_dup(name, len);
    t->kind = kind_name(TYPE_OCCURRENCE);
    t->schema = schema_kind_name(SCHEMA_NONE);
    struct type_entry *e = registry_find(reg, name, len);
    if (e) {
        t->registered = e->registered;
        if (e->owner)
            t->owner = mstr_dup(e->owner, e->owner_len);
        t->kind = kind_name(e->kind);
        t->schema = schema_kind_name(e->schema_kind);
        t->version = e->version;
        t->producers = xcalloc(e->nproducers ? e->nproducers : 1,
                               sizeof(*t->producers));
        for (size_t i = 0; i < e->nproducers; i++) {
            const struct type_producer *p = &e->producers[i];
            t->producers[i] = (struct manifest_producer){
                mstr_dup(p->name, p->len), p->first_seen, p->last_seen, p->count};
        }
        t->nproducers = e->nproducers;
    }
    t->subs = xcalloc(m->nsubs ? m->nsubs : 1, sizeof(*t->subs));
    for (size_t i = 0; i < m->nsubs; i++) {
        const struct manifest_sub *s = &m->subs[i];
        for (size_t k = 0; k < s->npats; k++) {
            if (topic_match(s->pats[k].p, s->pats[k].n, name, len)) {
                t->subs[t->nsubs++] = i;
                break;
            }
        }
    }
    add_groups(t);
}

struct stored_ctx {
    struct types_name *v;
    size_t n, cap;
};

static void collect_stored(void *ctx, const struct store_type_info *ti)
{
    struct stored_ctx *sc = ctx;
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 16;
        sc->v = xrealloc(sc->v, sc->cap * sizeof(*sc->v));
    }
    sc->v[sc->n++] = (struct types_name){xmemdup(ti->name, ti->name_len), ti->name_len};
}

void types_manifest(struct manifest *m, const char *pat, size_t plen)
{
    memset(m, 0, sizeof(*m));
    if (!reg) /* the module did not start: nothing to draw */
        return;
    bus_foreach_sub(collect_sub, m);
    struct types_name *known;
    size_t nknown = names(pat, plen, 1, &known);
    struct stored_ctx sc = {0};
    if (store_default())
        store_types(store_default(), pat, plen, collect_stored, &sc);
    m->types = xcalloc(nknown + sc.n + 1, sizeof(*m->types));
    size_t i = 0, k = 0;
    while (i < nknown || k < sc.n) {
        int cmp = i == nknown ? 1 : k == sc.n ? -1 : name_cmp(&known[i], &sc.v[k]);
        const struct types_name *t = cmp <= 0 ? &known[i] : &sc.v[k];
        fill_type(m, &m->types[m->ntypes++], t->p, t->len);
        if (cmp <= 0)
            i++;
        if (cmp >= 0)
            k++;
    }
    free(known);
    for (size_t j = 0; j < sc.n; j++)
        free((char *)sc.v[j].p);
    free(sc.v);
}

static int parse_pattern(struct client *c, int argc, struct arg *argv,
                         const char **pat, size_t *plen)
{
    char why[200], pr[80];
    *pat = NULL;
    *plen = 0;
    if (argc > 2) {
        reply_syntax_error(c, &argv[2]);
        return -1;
    }
    if (argc < 2)
        return 0;
    if (topic_pattern_check(argv[1].ptr, argv[1].len, why, sizeof(why))) {
        reply_errorf(c, "ERR invalid pattern '%s': %s",
                     arg_printable(pr, sizeof(pr), argv[1].ptr, argv[1].len), why);
        return -1;
    }
    *pat = argv[1].ptr;
    *plen = argv[1].len;
    return 0;
}

static void reply_strs(struct client *c, const struct mstr *v, size_t n)
{
    reply_array(c, n);
    for (size_t i = 0; i < n; i++)
        reply_bulk(c, v[i].p, v[i].n);
}

/* EV.MANIFEST [pattern] */
static void cmd_ev_manifest(struct client *c, int argc, struct arg *argv)
{
    const char *pat;
    size_t plen;
    if (parse_pattern(c, argc, argv, &pat, &plen) < 0 || ready(c) < 0)
        return;
    struct manifest m;
    types_manifest(&m, pat, plen);
    reply_array(c, m.ntypes);
    for (size_t i = 0; i < m.ntypes; i++) {
        const struct manifest_type *t = &m.types[i];
        reply_map(c, 9);
        reply_cstr(c, "type");
        reply_bulk(c, t->type.p, t->type.n);
        reply_cstr(c, "registered");
        reply_bool(c, t->registered);
        reply_cstr(c, "owner");
        reply_opt(c, t->owner.p, t->owner.n);
        reply_cstr(c, "kind");
        reply_cstr(c, t->kind);
        reply_cstr(c, "schema");
        reply_cstr(c, t->schema);
        reply_cstr(c, "version");
        reply_uint(c, t->version);
        reply_cstr(c, "producers");
        reply_array(c, t->nproducers);
        for (size_t k = 0; k < t->nproducers; k++) {
            const struct manifest_producer *p = &t->producers[k];
            reply_map(c, 4);
            reply_cstr(c, "name");
            reply_bulk(c, p->name.p, p->name.n);
            reply_cstr(c, "first_seen");
            reply_uint(c, p->first_seen);
            reply_cstr(c, "last_seen");
            reply_uint(c, p->last_seen);
            reply_cstr(c, "count");
            reply_uint(c, p->count);
        }
        reply_cstr(c, "subscriptions");
        reply_array(c, t->nsubs);
        for (size_t k = 0; k < t->nsubs; k++) {
            const struct manifest_sub *s = &m.subs[t->subs[k]];
            reply_map(c, 4);
            reply_cstr(c, "name");
            reply_bulk(c, s->name.p, s->name.n);
            reply_cstr(c, "patterns");
            reply_strs(c, s->pats, s->npats);
            reply_cstr(c, "durable");
            reply_bool(c, s->durable);
            reply_cstr(c, "consumers");
            reply_strs(c, s->cons, s->ncons);
        }
        reply_cstr(c, "groups");
        reply_array(c, t->ngroups);
        for (size_t k = 0; k < t->ngroups; k++) {
            const struct manifest_group *g = &t->groups[k];
            reply_map(c, 4);
            reply_cstr(c, "stream");
            reply_bulk(c, g->stream.p, g->stream.n);
            reply_cstr(c, "db");
            reply_int(c, g->db);
            reply_cstr(c, "group");
            reply_bulk(c, g->group.p, g->group.n);
            reply_cstr(c, "consumers");
            reply_strs(c, g->cons, g->ncons);
        }
    }
    manifest_deinit(&m);
}

/* EV.MAP [pattern] */
static void cmd_ev_map(struct client *c, int argc, struct arg *argv)
{
    const char *pat;
    size_t plen;
    if (parse_pattern(c, argc, argv, &pat, &plen) < 0 || ready(c) < 0)
        return;
    struct manifest m;
    types_manifest(&m, pat, plen);
    struct sbuf out;
    sbuf_init(&out);
    manifest_mermaid(&m, &out);
    reply_bulk(c, out.data, out.len);
    sbuf_deinit(&out);
    manifest_deinit(&m);
}

static const struct command_spec types_commands[] = {
    {"ev.type", -3, CMD_WRITE, cmd_ev_type, "types",
     "SET type [SCHEMA json schema|protobuf descriptor-set MESSAGE name [REQUIRE "
     "f,...]|none] [OWNER producer] [DOC text] [STATE|OCCURRENCE] [FORCE] | GET "
     "type | DEL type",
     "Registers an event type's contract (schema, owner, doc), shows or removes it",
     0, 0, 0},
    {"ev.manifest", -1, CMD_READONLY, cmd_ev_manifest, "types", "[pattern]",
     "Per type: owner, producers seen, consuming subscriptions and groups, schema",
     0, 0, 0},
    {"ev.map", -1, CMD_READONLY, cmd_ev_map, "types", "[pattern]",
     "The manifest as a Mermaid flowchart (producer -> type -> subscription -> "
     "consumer)",
     0, 0, 0},
};

/* ---- config ---- */

static const struct config_spec types_config[] = {
    {"types-required", CONFIG_BOOL, &cfg_required, "no", 0, 0, NULL,
     CONFIG_MUTABLE, 0, NULL,
     "refuse EV.PUB and XADD of an event type that EV.TYPE SET did not "
     "register (-NOTYPE)"},
    {"types-compact-bytes", CONFIG_BYTES, &cfg_compact, "8mb", 4096,
     (int64_t)1 << 40, NULL, 0, 0, NULL,
     "checkpoint the type registry's journal once its log is this big (and "
     "twice the last checkpoint)"},
};

/* ---- module ---- */

static int on_replay(void *ctx, uint8_t type, const uint8_t *p, size_t n, char *err,
                     size_t errlen)
{
    (void)ctx;
    return registry_recover(reg, type, p, n, &stats.bad_schemas, err, errlen);
}

static void types_stop(void);

static int types_start(char *err, size_t errlen)
{
    memset(&stats, 0, sizeof(stats));
    reg = registry_new();
    sbuf_init(&rec);
    struct journal_opts o = {0};
    o.dir = config_dir;
    o.name = TYPES_JOURNAL_NAME;
    o.loop = net_loop();
    o.fsync_mode = &config_fsync;
    o.compact_bytes = (uint64_t)cfg_compact;
    o.replay = on_replay;
    jm.walk = walk;
    if (journal_open(&jm.j, &o, err, errlen) < 0) {
        registry_free(reg);
        reg = NULL;
        sbuf_deinit(&rec);
        return -1;
    }
    registry_dirty_clear(reg); /* what was replayed is on disk */
    if (cmd_journal_checkpoint(&jm, err, errlen) < 0) {
        types_stop();
        return -1;
    }
    timer = cmd_timer_new();
    uv_timer_start(timer, on_timer, TYPES_FLUSH_MS, TYPES_FLUSH_MS);
    if (stats.bad_schemas)
        log_warn("types: %zu schemas did not compile at start; publishes of those "
                 "types are refused until EV.TYPE SET replaces them (EV.TYPE GET "
                 "shows schema_error)",
                 stats.bad_schemas);
    log_info("types: %zu registered, %zu known after recovery",
             registry_registered(reg), registry_count(reg));
    return 0;
}

static void types_stop(void)
{
    cmd_timer_free(&timer);
    if (reg && jm.j)
        flush_counts();
    journal_close(jm.j);
    jm.j = NULL;
    registry_free(reg);
    reg = NULL;
    sbuf_deinit(&rec);
}

static void types_info_section(struct sbuf *out, const char *section)
{
    if (strcmp(section, "types") != 0 || !reg)
        return;
    sbuf_addf(out,
              "types_registered:%zu\r\ntypes_known:%zu\r\ntypes_required:%s\r\n"
              "types_checked:%" PRIu64 "\r\ntypes_refused_notype:%" PRIu64
              "\r\ntypes_refused_noperm:%" PRIu64 "\r\ntypes_refused_invalid:%" PRIu64
              "\r\ntypes_bad_schemas:%zu\r\n",
              registry_registered(reg), registry_count(reg),
              cfg_required ? "yes" : "no", stats.checked, stats.notype, stats.noperm,
              stats.invalid, stats.bad_schemas);
    if (jm.j)
        sbuf_addf(out,
                  "types_journal_generation:%" PRIu64
                  "\r\ntypes_journal_log_bytes:%" PRIu64
                  "\r\ntypes_journal_checkpoint_bytes:%" PRIu64
                  "\r\ntypes_journal_checkpoints:%" PRIu64
                  "\r\ntypes_journal_error:%d\r\n",
                  journal_generation(jm.j), journal_log_bytes(jm.j),
                  journal_ckpt_bytes(jm.j), jm.checkpoints, journal_error(jm.j) != 0);
}

static int types_compact(char *err, size_t errlen)
{
    return jm.j ? cmd_journal_checkpoint(&jm, err, errlen) : 0;
}

void types_foreach_producer(const char *type, size_t len,
                            void (*fn)(void *ctx,
                                       const struct type_producer *p),
                            void *ctx)
{
    struct type_entry *e = reg ? registry_find(reg, type, len) : NULL;
    for (size_t i = 0; e && i < e->nproducers; i++)
        fn(ctx, &e->producers[i]);
}

static void producer_samples(void *ctx, struct type_entry *e)
{
    struct metrics_family *f = ctx;
    for (size_t i = 0; i < e->nproducers; i++) {
        struct metrics_label l[] = {
            {"type", e->type, e->tlen},
            {"producer", e->producers[i].name, e->producers[i].len}};
        metrics_sample(f, l, 2, (double)e->producers[i].count);
    }
}

static void types_metrics(struct metrics *m)
{
    if (!reg)
        return;
    metrics_set(m, "tincan_types_registered", METRICS_GAUGE,
                "Types registered with EV.TYPE SET.",
                (double)registry_registered(reg));
    metrics_set(m, "tincan_types_checked_total", METRICS_COUNTER,
                "Publishes of registered types checked since start.",
                (double)stats.checked);
    struct metrics_family *refused = metrics_family(
        m, "tincan_types_refused_total", METRICS_COUNTER,
        "Publishes refused by the registry since start, by reason.");
    metrics_sample(refused, (struct metrics_label[]){{"reason", "notype", 6}},
                   1, (double)stats.notype);
    metrics_sample(refused, (struct metrics_label[]){{"reason", "noperm", 6}},
                   1, (double)stats.noperm);
    metrics_sample(refused, (struct metrics_label[]){{"reason", "invalid", 7}},
                   1, (double)stats.invalid);
    registry_foreach(
        reg, producer_samples,
        metrics_family(m, "tincan_type_producer_events_total", METRICS_COUNTER,
                       "Events of the type published by the producer "
                       "(client name) since the registry was created."));
    cmd_journal_metrics(m, &jm);
}

const struct module types_module = {
    .name = "types",
    .commands = types_commands,
    .ncommands = ARRAY_LEN(types_commands),
    .config = types_config,
    .nconfig = ARRAY_LEN(types_config),
    .start = types_start,
    .stop = types_stop,
    .info = types_info_section,
    .metrics = types_metrics,
    .compact = types_compact,
};
