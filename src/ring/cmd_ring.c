/* cmd_ring.c - the router: RING.* commands, plain GET, and the ring module's
 * timers (member expiry, TCP health checks) and state file.
 *
 * Placement is ring.c (pure); this file parses arguments, calls it, replies,
 * and owns the I/O around it: a libuv timer fires at the next member deadline
 * (nobody polls), one repeating timer per checked ring probes every member
 * with a TCP connect, and the membership is saved to <dir>/ring.state through
 * fsx (temp -> fsync -> rename -> fsync(dir)) on the thread pool. Joins,
 * leaves, weight and check changes hold their reply until a save covering them
 * is on disk (group commit); pure heartbeat refreshes and expiries are saved
 * at most once per RING_SAVE_COALESCE_MS. A probe of a host name tries its
 * addresses in turn: the member is up if any of them accepts. */
#include "cmd_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "command.h"
#include "common.h"
#include "config.h"
#include "errors.h"
#include "fsx.h"
#include "log.h"
#include "metrics.h"
#include "module.h"
#include "net.h"
#include "sbuf.h"

#define RING_DBS 16                    /* databases SELECT accepts */
#define RING_STATE_FILE "ring.state"
#define RING_SAVE_COALESCE_MS 1000     /* ms between heartbeat-only saves */
#define RING_CHECK_DEFAULT_MS 1000     /* ms, RING.CHECK default INTERVAL */
#define RING_PROBE_TIMEOUT_MAX_MS 2000 /* ms a connect may take */

/* ---- state ---- */

static struct ring_set rings;
static int started;
static char *db_ring[RING_DBS];  /* ring name bound to each db, or NULL */
static int64_t cfg_load_factor;  /* percent; 0 = off (config ring-load-factor) */
static char *cfg_ring_db;        /* "db ring [db ring ...]" (config ring-db) */

static uv_timer_t *expiry_timer; /* fires at the earliest member deadline */
static uint64_t expiry_due_ms;   /* ms, monotonic, it is armed for; 0 = idle */
static uv_timer_t *save_timer;   /* coalesced save of refreshes/expiries */
static int save_dirty;           /* memory differs from the state file */
static uint64_t last_save_ms;    /* ms, monotonic, of the last save attempt */

/* One health checker per ring with RING.CHECK TCP. */
struct checker {
    char *ring;        /* ring name, owned */
    uv_timer_t *timer; /* repeating every interval; closed on delete */
    uint64_t interval; /* ms */
};
static struct checker *checkers;
static size_t ncheckers;

/* One TCP probe of one member in flight. */
struct probe {
    struct probe *prev, *next; /* all probes, for stop */
    char *ring, *node;         /* copies: the member may leave meanwhile */
    char host[256], port[8];
    uv_timer_t timer;          /* timeout */
    uv_tcp_t tcp;
    uv_connect_t req;
    uv_getaddrinfo_t gai;
    struct addrinfo *ai;       /* resolved addresses (owned), or NULL */
    struct addrinfo *ai_cur;   /* the one being tried */
    int refs;                  /* open handles + resolve in flight */
    int tcp_open;              /* tcp is initialized and not yet closed */
    int reconnect;             /* try ai_cur once tcp is closed */
    int gai_live;              /* getaddrinfo in flight */
    int done;                  /* result reported (or dropped at stop) */
};
static struct probe *probes;

static struct {
    uint64_t saves, save_failures;  /* state file writes */
    uint64_t probes, probe_failures; /* health-check connects */
    uint64_t get_lookups;            /* plain GET */
} stats;

static void schedule_expiry(void);

/* ---- helpers ---- */

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static uv_timer_t *timer_new(void)
{
    uv_timer_t *t = xmalloc(sizeof(*t));
    uv_timer_init(net_loop(), t);
    return t;
}

static void timer_free(uv_timer_t **t)
{
    if (*t) {
        uv_timer_stop(*t);
        uv_close((uv_handle_t *)*t, free_handle);
        *t = NULL;
    }
}

static int name_arg(struct client *c, const struct arg *a)
{
    char err[256];
    if (ring_name_check(a->ptr, a->len, err, sizeof(err)) < 0) {
        reply_errorf(c, "ERR %s", err);
        return -1;
    }
    return 0;
}

/* ---- state file ----
 *
 * Saves run on libuv's thread pool so the loop never waits for an fsync. A
 * durable change (join of a new member, leave, weight or check change) takes
 * the next state_seq and holds its reply (client_hold) until a save covering
 * that seq is on disk; changes made while a save runs are covered together by
 * the next one (group commit). Every save writes the whole membership as of
 * when it was encoded; gen orders saves so an older one can never overwrite a
 * newer file. A failed save is not retried: the ring state turns read-only
 * (durable changes get -IOERR) until restart, as the store does. */

static struct sync_source ring_sync = {"ring-state", 0, 0};
static uint64_t state_seq;      /* durable changes so far */
static uint64_t save_gen;       /* saves encoded so far (loop thread) */
static uint64_t written_gen;    /* newest gen on disk; under file_lock */
static uv_mutex_t file_lock;    /* one writer of the state file at a time */
static uv_once_t file_lock_once = UV_ONCE_INIT;
static int save_inflight;       /* a save job is queued or running */
static int save_again;          /* changes arrived while it ran */
static int save_failed;         /* a save failed: read-only until restart */
static char save_failed_msg[512];

struct save_job {
    uv_work_t req;
    struct sbuf text;  /* the encoded state */
    uint64_t seq;      /* covers every durable change <= seq */
    uint64_t gen;      /* order of encoding */
    char *dir, *path;
    int rc;            /* 0 or -1 (err filled) */
    int skipped;       /* a newer save was already on disk */
    char err[512];
};

static void init_file_lock(void)
{
    uv_mutex_init(&file_lock);
}

static void state_path(char *buf, size_t cap, const char *suffix)
{
    snprintf(buf, cap, "%s/%s%s", config_dir, RING_STATE_FILE, suffix);
}

/* fsx_replace: path.tmp, fsync, rename, fsync(dir). Any thread; blocks. Skips the write
 * (returns 0, *skipped = 1) if a newer gen is already on disk. */
static int write_state_file(const char *dir, const char *path,
                            const struct sbuf *b, uint64_t gen, int *skipped,
                            char *err, size_t errlen)
{
    int ret = 0;
    uv_mutex_lock(&file_lock);
    *skipped = gen <= written_gen;
    if (!*skipped) {
        ret = fsx_replace(dir, path, b->data, b->len, err, errlen) < 0 ? -1 : 0;
        if (!ret)
            written_gen = gen;
    }
    uv_mutex_unlock(&file_lock);
    return ret;
}

static void save_failed_now(const char *err)
{
    if (!save_failed)
        log_error("ring state not saved: %s; ring membership changes are "
                  "refused until restart", err);
    save_failed = 1;
    snprintf(save_failed_msg, sizeof(save_failed_msg), "%s", err);
    stats.save_failures++;
    /* clients waiting for this save learn nothing more: as after a crash */
    net_sync_failed(&ring_sync);
}

static struct save_job *save_job_new(void)
{
    char path[1024];
    struct save_job *job = xcalloc(1, sizeof(*job));
    state_path(path, sizeof(path), "");
    sbuf_init(&job->text);
    ring_set_encode(&rings, clock_mono_ms(), clock_wall_ms(), &job->text);
    job->seq = state_seq;
    job->gen = ++save_gen;
    job->dir = xstrdup(config_dir);
    job->path = xstrdup(path);
    save_dirty = 0;
    last_save_ms = clock_mono_ms();
    return job;
}

static void save_job_free(struct save_job *job)
{
    sbuf_deinit(&job->text);
    free(job->dir);
    free(job->path);
    free(job);
}

static void save_work(uv_work_t *req)
{
    struct save_job *job = req->data;
    job->rc = write_state_file(job->dir, job->path, &job->text,
                               job->gen, &job->skipped, job->err,
                               sizeof(job->err));
}

static void kick_save(void);

static void save_done(uv_work_t *req, int status)
{
    struct save_job *job = req->data;
    save_inflight = 0;
    if (status < 0 && job->rc == 0) {
        job->rc = -1;
        snprintf(job->err, sizeof(job->err), "save cancelled: %s",
                 uv_strerror(status));
    }
    if (job->rc == 0) {
        if (!job->skipped)
            stats.saves++;
        net_synced(&ring_sync, job->seq);
    } else {
        save_failed_now(job->err);
    }
    save_job_free(job);
    if (save_again && started) {
        save_again = 0;
        kick_save();
    }
}

/* Starts a save of the current state now, or after the one running. */
static void kick_save(void)
{
    if (!started || save_failed)
        return;
    if (save_inflight) {
        save_again = 1;
        return;
    }
    struct save_job *job = save_job_new();
    job->req.data = job;
    save_inflight = 1;
    int rc = uv_queue_work(net_loop(), &job->req, save_work, save_done);
    if (rc < 0) {
        save_inflight = 0;
        save_failed_now(uv_strerror(rc));
        save_job_free(job);
    }
}

static void on_save_timer(uv_timer_t *t)
{
    (void)t;
    if (save_dirty)
        kick_save();
}

/* Marks the state changed (refresh, expiry): saved within
 * RING_SAVE_COALESCE_MS, nobody waits for it. */
static void save_soon(void)
{
    if (!started)
        return;
    save_dirty = 1;
    if (uv_is_active((uv_handle_t *)save_timer))
        return;
    uint64_t now = clock_mono_ms(), due = last_save_ms + RING_SAVE_COALESCE_MS;
    uv_timer_start(save_timer, on_save_timer, due > now ? due - now : 0, 0);
}

/* A durable change was made and its reply written: hold that reply until a
 * save covering it is on disk. */
static void save_and_hold(struct client *c)
{
    save_dirty = 1;
    client_hold(c, &ring_sync, ++state_seq);
    kick_save();
}

/* Refuses a durable change after a failed save; replies and returns -1. */
static int check_writable(struct client *c)
{
    if (!save_failed)
        return 0;
    reply_errorf(c, "IOERR ring state is read-only after a failed save (%s); "
                    "restart the server", save_failed_msg);
    return -1;
}

/* At stop: the newest state on disk before the module goes (blocks). */
static void save_final(void)
{
    char path[1024], err[512];
    struct sbuf b;
    int skipped;
    if (save_failed || (!save_dirty && !save_inflight && !save_again))
        return;
    state_path(path, sizeof(path), "");
    sbuf_init(&b);
    ring_set_encode(&rings, clock_mono_ms(), clock_wall_ms(), &b);
    if (write_state_file(config_dir, path, &b, ++save_gen, &skipped, err,
                         sizeof(err)) == 0) {
        stats.saves++;
        save_dirty = 0;
        save_again = 0;
        net_synced(&ring_sync, state_seq);
    } else {
        save_failed_now(err);
    }
    sbuf_deinit(&b);
}

static int load_state(char *err, size_t errlen)
{
    char path[1024], tmp[1024], sub[256];
    char *text = NULL;
    int fd, rc = -1;
    state_path(path, sizeof(path), "");
    state_path(tmp, sizeof(tmp), ".tmp");
    fsx_unlink(tmp); /* a save cut short; the old file is still whole */
    fd = fsx_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0) {
        snprintf(err, errlen, "open %.200s: %s", path, strerror(-fd));
        return -1;
    }
    off_t size = fsx_size(fd);
    if (size < 0) {
        snprintf(err, errlen, "stat %.200s: %s", path, strerror((int)-size));
        goto err_close;
    }
    text = xmalloc((size_t)size + 1);
    int r = fsx_pread_all(fd, text, (size_t)size, 0);
    if (r < 0) {
        snprintf(err, errlen, "read %.200s: %s", path, strerror(-r));
        goto err_close;
    }
    if (ring_set_decode(&rings, text, (size_t)size, clock_mono_ms(),
                        clock_wall_ms(), sub, sizeof(sub)) < 0) {
        snprintf(err, errlen,
                 "%.200s is corrupt (%s); move it away to start with no members",
                 path, sub);
        goto err_close;
    }
    rc = 0;
err_close:
    fsx_close(fd);
    free(text);
    return rc;
}

/* ---- expiry ---- */

static void on_expiry(uv_timer_t *t)
{
    (void)t;
    expiry_due_ms = 0;
    uint64_t now = clock_mono_ms();
    size_t removed = 0;
    for (size_t i = 0; i < rings.nrings; i++)
        removed += ring_expire(rings.rings[i], now);
    /* rings emptied here or by expire_due() go away */
    for (size_t i = rings.nrings; i-- > 0;)
        ring_set_prune(&rings, rings.rings[i]);
    if (removed)
        save_soon();
    schedule_expiry();
}

/* Arms the expiry timer at the earliest deadline of any ring. */
static void schedule_expiry(void)
{
    if (!started)
        return;
    uint64_t next = 0;
    for (size_t i = 0; i < rings.nrings; i++) {
        uint64_t e = rings.rings[i]->next_expiry_ms;
        if (e && (next == 0 || e < next))
            next = e;
    }
    if (next == 0) {
        uv_timer_stop(expiry_timer);
        expiry_due_ms = 0;
        return;
    }
    uint64_t now = clock_mono_ms();
    uv_timer_start(expiry_timer, on_expiry, next > now ? next - now : 0, 0);
    expiry_due_ms = next;
}

/* After a join on r: O(1). Only an earlier deadline needs the timer moved;
 * a deadline pushed back by a heartbeat just lets the timer fire early once,
 * and on_expiry then finds the real next deadline. */
static void schedule_expiry_for(const struct ring *r)
{
    uint64_t e = r->next_expiry_ms;
    if (!started || e == 0 || (expiry_due_ms && expiry_due_ms <= e))
        return;
    uint64_t now = clock_mono_ms();
    uv_timer_start(expiry_timer, on_expiry, e > now ? e - now : 0, 0);
    expiry_due_ms = e;
}

/* Expires what is due on one ring before a lookup answers from it. */
static void expire_due(struct ring *r)
{
    if (r->next_expiry_ms && r->next_expiry_ms <= clock_mono_ms()) {
        size_t n = ring_expire(r, clock_mono_ms());
        if (n) {
            save_soon();
            /* the timer prunes the ring if it is empty now: r stays valid
             * for the caller until this command is done */
            uv_timer_start(expiry_timer, on_expiry, 0, 0);
            expiry_due_ms = 1; /* due at once: earlier than any deadline */
        }
    }
}

/* ---- health checks ---- */

static void probe_maybe_free(struct probe *p)
{
    if (p->refs > 0)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        probes = p->next;
    if (p->next)
        p->next->prev = p->prev;
    if (p->ai)
        uv_freeaddrinfo(p->ai);
    free(p->ring);
    free(p->node);
    free(p);
}

static void probe_closed(uv_handle_t *h)
{
    struct probe *p = h->data;
    p->refs--;
    probe_maybe_free(p);
}

static void probe_connect(struct probe *p, const struct sockaddr *addr);

static void probe_tcp_closed(uv_handle_t *h)
{
    struct probe *p = h->data;
    p->refs--;
    p->tcp_open = 0;
    if (p->reconnect && !p->done) {
        p->reconnect = 0;
        probe_connect(p, p->ai_cur->ai_addr);
        return;
    }
    probe_maybe_free(p);
}

static void report_health(const char *ring_name, const char *node, int ok)
{
    struct ring *r = ring_set_find(&rings, ring_name, strlen(ring_name));
    if (!r || r->check_interval_ms == 0)
        return;
    long i = ring_find(r, node, strlen(node));
    if (i < 0)
        return;
    if (ring_set_healthy(r, (size_t)i, ok))
        log_info("ring %s: member %s is %s", ring_name, node,
                 ok ? "up again (accepts connections)"
                    : "down (no TCP connection); skipped");
}

/* Ends the probe: reports ok unless report is 0, closes what is open. */
static void probe_finish(struct probe *p, int ok, int report)
{
    if (p->done)
        return;
    p->done = 1;
    if (report) {
        if (!ok)
            stats.probe_failures++;
        report_health(p->ring, p->node, ok);
    }
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, probe_closed);
    if (p->tcp_open && !uv_is_closing((uv_handle_t *)&p->tcp))
        uv_close((uv_handle_t *)&p->tcp, probe_tcp_closed);
    if (p->gai_live)
        uv_cancel((uv_req_t *)&p->gai);
}

static void on_probe_timeout(uv_timer_t *t)
{
    probe_finish(t->data, 0, 1);
}

static void on_probe_connect(uv_connect_t *req, int status)
{
    struct probe *p = req->data;
    if (p->done)
        return;
    if (status < 0 && p->ai_cur && p->ai_cur->ai_next) {
        /* a name with several addresses: up if any accepts */
        p->ai_cur = p->ai_cur->ai_next;
        p->reconnect = 1;
        uv_close((uv_handle_t *)&p->tcp, probe_tcp_closed);
        return;
    }
    probe_finish(p, status == 0, 1);
}

static void probe_connect(struct probe *p, const struct sockaddr *addr)
{
    uv_tcp_init(net_loop(), &p->tcp);
    p->tcp.data = p;
    p->tcp_open = 1;
    p->refs++;
    p->req.data = p;
    if (uv_tcp_connect(&p->req, &p->tcp, addr, on_probe_connect) < 0)
        probe_finish(p, 0, 1);
}

static void on_probe_resolved(uv_getaddrinfo_t *req, int status,
                              struct addrinfo *res)
{
    struct probe *p = req->data;
    p->gai_live = 0;
    p->refs--;
    if (!p->done && status == 0 && res) {
        p->ai = res;
        p->ai_cur = res;
        probe_connect(p, res->ai_addr);
        return;
    }
    if (!p->done)
        probe_finish(p, 0, 1);
    if (res)
        uv_freeaddrinfo(res);
    probe_maybe_free(p);
}

static void probe_start(const struct ring *r, const char *node,
                        uint64_t timeout_ms)
{
    struct probe *p = xcalloc(1, sizeof(*p));
    const char *colon = strrchr(node, ':');
    size_t hl = (size_t)(colon - node);
    p->ring = xstrdup(r->name);
    p->node = xstrdup(node);
    if (node[0] == '[') /* [ipv6]:port */
        snprintf(p->host, sizeof(p->host), "%.*s", (int)(hl - 2), node + 1);
    else
        snprintf(p->host, sizeof(p->host), "%.*s", (int)hl, node);
    snprintf(p->port, sizeof(p->port), "%s", colon + 1);
    p->next = probes;
    if (probes)
        probes->prev = p;
    probes = p;
    stats.probes++;

    uv_timer_init(net_loop(), &p->timer);
    p->timer.data = p;
    p->refs++;
    uv_timer_start(&p->timer, on_probe_timeout, timeout_ms, 0);

    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    int port = atoi(p->port);
    if (uv_ip4_addr(p->host, port, &a4) == 0) {
        probe_connect(p, (const struct sockaddr *)&a4);
    } else if (uv_ip6_addr(p->host, port, &a6) == 0) {
        probe_connect(p, (const struct sockaddr *)&a6);
    } else {
        struct addrinfo hints;
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        p->gai.data = p;
        p->refs++;
        p->gai_live = 1;
        if (uv_getaddrinfo(net_loop(), &p->gai, on_probe_resolved, p->host,
                           p->port, &hints) < 0) {
            p->gai_live = 0;
            p->refs--;
            probe_finish(p, 0, 1);
        }
    }
}

static uint64_t probe_timeout(uint64_t interval)
{
    return interval < RING_PROBE_TIMEOUT_MAX_MS ? interval
                                                : RING_PROBE_TIMEOUT_MAX_MS;
}

static void on_check_tick(uv_timer_t *t)
{
    struct checker *ck = t->data;
    struct ring *r = ring_set_find(&rings, ck->ring, strlen(ck->ring));
    if (!r)
        return;
    for (size_t i = 0; i < r->nmembers; i++)
        probe_start(r, r->members[i].node, probe_timeout(ck->interval));
}

static struct checker *checker_find(const char *name)
{
    for (size_t i = 0; i < ncheckers; i++)
        if (!strcmp(checkers[i].ring, name))
            return &checkers[i];
    return NULL;
}

/* Starts, retimes (interval > 0) or removes (0) the checker of ring r. */
static void checker_set(struct ring *r, uint64_t interval)
{
    struct checker *ck = checker_find(r->name);
    if (interval == 0) {
        if (ck) {
            timer_free(&ck->timer);
            free(ck->ring);
            *ck = checkers[--ncheckers];
        }
    } else {
        if (!ck) {
            checkers = xrealloc(checkers, (ncheckers + 1) * sizeof(*checkers));
            ck = &checkers[ncheckers++];
            ck->ring = xstrdup(r->name);
            ck->timer = timer_new();
        }
        ck->interval = interval;
        uv_timer_start(ck->timer, on_check_tick, interval, interval);
    }
    /* checkers move on realloc and removal: re-point the timers at them */
    for (size_t i = 0; i < ncheckers; i++)
        checkers[i].timer->data = &checkers[i];
}

/* ---- config ---- */

/* Parses "db ring [db ring ...]" (separated by spaces, commas, semicolons or
 * newlines) into names; db 0 is "default" unless bound otherwise. */
static int parse_bindings(const char *text, char **out, char *err,
                          size_t errlen)
{
    char *copy = xstrdup(text ? text : ""), *save = NULL, *tok;
    char *names[RING_DBS] = {0};
    int rc = -1, expect_db = 1;
    long db = 0;
    for (tok = strtok_r(copy, " \t\r\n,;", &save); tok;
         tok = strtok_r(NULL, " \t\r\n,;", &save)) {
        if (expect_db) {
            char *end;
            errno = 0;
            db = strtol(tok, &end, 10);
            if (errno || *end || end == tok || db < 0 || db >= RING_DBS) {
                snprintf(err, errlen,
                         "ring-db: database '%.40s' must be an integer between "
                         "0 and %d",
                         tok, RING_DBS - 1);
                goto err_free;
            }
        } else {
            char why[256];
            if (ring_name_check(tok, strlen(tok), why, sizeof(why)) < 0) {
                snprintf(err, errlen, "ring-db: %s", why);
                goto err_free;
            }
            free(names[db]);
            names[db] = xstrdup(tok);
        }
        expect_db = !expect_db;
    }
    if (!expect_db) {
        snprintf(err, errlen, "ring-db: database %ld has no ring name", db);
        goto err_free;
    }
    if (!names[0])
        names[0] = xstrdup("default");
    for (int i = 0; i < RING_DBS; i++) {
        free(out[i]);
        out[i] = names[i];
        names[i] = NULL;
    }
    rc = 0;
err_free:
    for (int i = 0; i < RING_DBS; i++)
        free(names[i]);
    free(copy);
    return rc;
}

static int apply_ring_db(char *err, size_t errlen)
{
    return parse_bindings(cfg_ring_db, db_ring, err, errlen);
}

static int apply_load_factor(char *err, size_t errlen)
{
    if (cfg_load_factor != 0 && cfg_load_factor < RING_LOAD_FACTOR_MIN) {
        snprintf(err, errlen,
                 "ring-load-factor must be 0 (off) or between %d and %d",
                 RING_LOAD_FACTOR_MIN, RING_LOAD_FACTOR_MAX);
        return -1;
    }
    for (size_t i = 0; i < rings.nrings; i++)
        ring_set_load_factor(rings.rings[i], (uint32_t)cfg_load_factor);
    return 0;
}

static const struct config_spec ring_config[] = {
    {"ring-db", CONFIG_STRING, &cfg_ring_db, "", 0, 0, NULL,
     CONFIG_MUTABLE | CONFIG_APPEND, 2,
     apply_ring_db,
     "binds a database to a ring for plain GET: --ring-db <db> <ring> "
     "(several pairs allowed: \"1 sessions 2 carts\"); db 0 is bound to "
     "ring 'default' unless given"},
    {"ring-load-factor", CONFIG_INT, &cfg_load_factor, "0", 0,
     RING_LOAD_FACTOR_MAX, NULL, CONFIG_MUTABLE, 0, apply_load_factor,
     "bounded-load cap in percent of a member's fair share (e.g. 125); "
     "0 = off"},
};

/* ---- commands ---- */

/* RING.JOIN ring node [WEIGHT w] [TTL ms] */
static void cmd_ring_join(struct client *c, int argc, struct arg *argv)
{
    char err[256];
    int64_t weight = 0, ttl = -1;
    if (name_arg(c, &argv[1]) < 0)
        return;
    if (ring_node_check(argv[2].ptr, argv[2].len, err, sizeof(err)) < 0) {
        reply_errorf(c, "ERR %s", err);
        return;
    }
    for (int i = 3; i < argc; i++) {
        if (arg_is(&argv[i], "WEIGHT") && i + 1 < argc) {
            if (arg_i64(c, &argv[++i], "WEIGHT", 1, RING_WEIGHT_MAX, &weight) < 0)
                return;
        } else if (arg_is(&argv[i], "TTL") && i + 1 < argc) {
            if (arg_i64(c, &argv[++i], "TTL", 0, (int64_t)RING_TTL_MAX, &ttl) < 0)
                return;
        } else {
            reply_syntax_error(c, &argv[i]);
            return;
        }
    }
    if (save_failed) {
        /* read-only: only a pure refresh (no new member, no new weight) */
        struct ring *cur = ring_set_find(&rings, argv[1].ptr, argv[1].len);
        long i = cur ? ring_find(cur, argv[2].ptr, argv[2].len) : -1;
        if (i < 0 || (weight && (uint32_t)weight != cur->members[i].weight)) {
            check_writable(c);
            return;
        }
    }
    struct ring *r = ring_set_get(&rings, argv[1].ptr, argv[1].len);
    if (!r) {
        reply_errorf(c, "ERR too many rings (max %d)", RING_RINGS_MAX);
        return;
    }
    ring_set_load_factor(r, (uint32_t)cfg_load_factor);
    uint64_t now = clock_mono_ms();
    int rc = ring_join(r, argv[2].ptr, argv[2].len, (uint32_t)weight, ttl, now,
                       err, sizeof(err));
    if (rc < 0) {
        ring_set_prune(&rings, r);
        reply_error_code(c, rc, err);
        return;
    }
    schedule_expiry_for(r);
    if (rc == RING_ADDED && r->check_interval_ms)
        probe_start(r, argv[2].ptr, probe_timeout(r->check_interval_ms));
    reply_int(c, rc == RING_ADDED);
    if (rc == RING_REFRESHED)
        save_soon();
    else
        save_and_hold(c);
}

/* RING.LEAVE ring node */
static void cmd_ring_leave(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    if (name_arg(c, &argv[1]) < 0)
        return;
    struct ring *r = ring_set_find(&rings, argv[1].ptr, argv[1].len);
    if (!r || ring_find(r, argv[2].ptr, argv[2].len) < 0) {
        reply_int(c, 0);
        return;
    }
    if (check_writable(c) < 0)
        return;
    ring_leave(r, argv[2].ptr, argv[2].len);
    ring_set_prune(&rings, r);
    reply_int(c, 1);
    save_and_hold(c);
}

/* RING.CHECK ring TCP|OFF [INTERVAL ms] */
static void cmd_ring_check(struct client *c, int argc, struct arg *argv)
{
    int64_t interval = RING_CHECK_DEFAULT_MS;
    int on;
    if (name_arg(c, &argv[1]) < 0)
        return;
    if (arg_is(&argv[2], "TCP"))
        on = 1;
    else if (arg_is(&argv[2], "OFF"))
        on = 0;
    else {
        char q[80];
        ring_quote(q, sizeof(q), argv[2].ptr, argv[2].len);
        reply_errorf(c, "ERR check mode '%s' must be TCP or OFF", q);
        return;
    }
    for (int i = 3; i < argc; i++) {
        if (on && arg_is(&argv[i], "INTERVAL") && i + 1 < argc) {
            if (arg_i64(c, &argv[++i], "INTERVAL", RING_CHECK_MIN_MS,
                        RING_CHECK_MAX_MS, &interval) < 0)
                return;
        } else {
            reply_syntax_error(c, &argv[i]);
            return;
        }
    }
    if (check_writable(c) < 0)
        return;
    struct ring *r = on ? ring_set_get(&rings, argv[1].ptr, argv[1].len)
                        : ring_set_find(&rings, argv[1].ptr, argv[1].len);
    if (!r) {
        if (on)
            reply_errorf(c, "ERR too many rings (max %d)", RING_RINGS_MAX);
        else
            reply_ok(c);
        return;
    }
    ring_set_load_factor(r, (uint32_t)cfg_load_factor);
    r->check_interval_ms = on ? (uint64_t)interval : 0;
    checker_set(r, r->check_interval_ms);
    if (on) {
        for (size_t i = 0; i < r->nmembers; i++)
            probe_start(r, r->members[i].node,
                        probe_timeout(r->check_interval_ms));
    } else {
        /* without checks every member counts as up again */
        for (size_t i = 0; i < r->nmembers; i++)
            ring_set_healthy(r, i, 1);
        ring_set_prune(&rings, r);
    }
    reply_ok(c);
    save_and_hold(c);
}

static void reply_members(struct client *c, struct ring *r)
{
    uint64_t now = clock_mono_ms();
    if (!r) {
        reply_array(c, 0);
        return;
    }
    expire_due(r);
    reply_array(c, r->nmembers);
    for (size_t i = 0; i < r->nmembers; i++) {
        const struct ring_member *m = &r->members[i];
        reply_map(c, 4);
        reply_cstr(c, "node");
        reply_bulk(c, m->node, m->node_len);
        reply_cstr(c, "weight");
        reply_int(c, m->weight);
        reply_cstr(c, "ttl_ms");
        reply_int(c, m->expires_ms == 0 ? -1
                     : m->expires_ms > now ? (int64_t)(m->expires_ms - now)
                                           : 0);
        reply_cstr(c, "health");
        reply_cstr(c, !m->healthy ? "down"
                      : r->check_interval_ms ? "up"
                                             : "unchecked");
    }
}

/* RING.MEMBERS ring */
static void cmd_ring_members(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    if (name_arg(c, &argv[1]) < 0)
        return;
    reply_members(c, ring_set_find(&rings, argv[1].ptr, argv[1].len));
}

static size_t healthy_count(const struct ring *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nmembers; i++)
        n += r->members[i].healthy != 0;
    return n;
}

/* RING.RINGS */
static void cmd_ring_rings(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    (void)argv;
    reply_array(c, rings.nrings);
    for (size_t i = 0; i < rings.nrings; i++) {
        const struct ring *r = rings.rings[i];
        reply_map(c, 6);
        reply_cstr(c, "name");
        reply_cstr(c, r->name);
        reply_cstr(c, "members");
        reply_int(c, (int64_t)r->nmembers);
        reply_cstr(c, "healthy");
        reply_int(c, (int64_t)healthy_count(r));
        reply_cstr(c, "total_weight");
        reply_int(c, ring_total_weight(r));
        reply_cstr(c, "check");
        reply_cstr(c, r->check_interval_ms ? "tcp" : "off");
        reply_cstr(c, "check_interval_ms");
        reply_int(c, (int64_t)r->check_interval_ms);
    }
}

/* RING.GET ring key [COUNT n] */
static void cmd_ring_get(struct client *c, int argc, struct arg *argv)
{
    int64_t count = 0;
    if (name_arg(c, &argv[1]) < 0)
        return;
    for (int i = 3; i < argc; i++) {
        if (arg_is(&argv[i], "COUNT") && i + 1 < argc) {
            if (arg_i64(c, &argv[++i], "COUNT", 1, RING_MEMBERS_MAX, &count) < 0)
                return;
        } else {
            reply_syntax_error(c, &argv[i]);
            return;
        }
    }
    struct ring *r = ring_set_find(&rings, argv[1].ptr, argv[1].len);
    if (r)
        expire_due(r);
    if (count == 0) {
        const struct ring_member *m =
            r ? ring_lookup(r, argv[2].ptr, argv[2].len) : NULL;
        if (m)
            reply_bulk(c, m->node, m->node_len);
        else
            reply_null(c);
        return;
    }
    const struct ring_member *out[RING_MEMBERS_MAX];
    size_t n = r ? ring_lookup_n(r, argv[2].ptr, argv[2].len, (size_t)count, out)
                 : 0;
    if (n == 0) {
        reply_null_array(c);
        return;
    }
    reply_array(c, n);
    for (size_t i = 0; i < n; i++)
        reply_bulk(c, out[i]->node, out[i]->node_len);
}

/* GET key: the owner of key on the ring bound to the selected database. */
static void cmd_get(struct client *c, int argc, struct arg *argv)
{
    (void)argc;
    int db = client_db(c);
    const char *name = db >= 0 && db < RING_DBS ? db_ring[db] : NULL;
    if (!name) {
        reply_errorf(c, "ERR database %d is not bound to a ring "
                        "(start with --ring-db %d <ring>)", db, db);
        return;
    }
    stats.get_lookups++;
    struct ring *r = ring_set_find(&rings, name, strlen(name));
    if (!r) {
        reply_null(c);
        return;
    }
    expire_due(r);
    const struct ring_member *m = ring_lookup(r, argv[1].ptr, argv[1].len);
    if (m)
        reply_bulk(c, m->node, m->node_len);
    else
        reply_null(c);
}

static const struct command_spec ring_commands[] = {
    {"ring.join", -3, CMD_WRITE | CMD_FAST, cmd_ring_join, "ring",
     "ring node [WEIGHT w] [TTL ms]",
     "Adds node (host:port) to ring or refreshes it (heartbeat); replies 1 if "
     "it was new", 1, 1, 1},
    {"ring.leave", 3, CMD_WRITE | CMD_FAST, cmd_ring_leave, "ring", "ring node",
     "Removes node from ring; replies 1 if it was a member", 1, 1, 1},
    {"ring.check", -3, CMD_WRITE, cmd_ring_check, "ring",
     "ring TCP|OFF [INTERVAL ms]",
     "Turns TCP connect health checks of ring's members on or off", 1, 1, 1},
    {"ring.members", 2, CMD_READONLY, cmd_ring_members, "ring", "ring",
     "The members of ring: node, weight, ttl_ms, health", 1, 1, 1},
    {"ring.rings", 1, CMD_READONLY, cmd_ring_rings, "ring", "",
     "Every ring with its member counts and check settings", 0, 0, 0},
    {"ring.get", -3, CMD_READONLY | CMD_FAST, cmd_ring_get, "ring",
     "ring key [COUNT n]",
     "The node owning key on ring, or the first n distinct nodes; nil on an "
     "empty ring", 1, 1, 1},
    {"get", 2, CMD_READONLY | CMD_FAST, cmd_get, "ring", "key",
     "The node owning key on the ring bound to the selected database "
     "(--ring-db); nil on an empty ring", 1, 1, 1},
};

/* ---- lifecycle ---- */

static int ring_start(char *err, size_t errlen)
{
    if (apply_ring_db(err, errlen) < 0 || apply_load_factor(err, errlen) < 0)
        return -1;
    ring_set_init(&rings);
    if (load_state(err, errlen) < 0) {
        ring_set_deinit(&rings);
        return -1;
    }
    uv_once(&file_lock_once, init_file_lock);
    memset(&stats, 0, sizeof(stats));
    started = 1;
    expiry_timer = timer_new();
    expiry_due_ms = 0;
    save_timer = timer_new();
    last_save_ms = 0;
    save_dirty = 0;
    save_failed = 0; /* a restart (DEBUG RELOAD) retries, as the store does */
    ring_sync.failed = 0;
    size_t members = 0;
    for (size_t i = 0; i < rings.nrings; i++) {
        struct ring *r = rings.rings[i];
        members += r->nmembers;
        ring_set_load_factor(r, (uint32_t)cfg_load_factor);
        if (r->check_interval_ms)
            checker_set(r, r->check_interval_ms);
    }
    schedule_expiry();
    log_info("ring: %zu rings, %zu members loaded", rings.nrings, members);
    return 0;
}

static void ring_stop(void)
{
    if (!started)
        return;
    save_final();
    started = 0;
    timer_free(&expiry_timer);
    timer_free(&save_timer);
    while (ncheckers > 0) {
        timer_free(&checkers[ncheckers - 1].timer);
        free(checkers[ncheckers - 1].ring);
        ncheckers--;
    }
    free(checkers);
    checkers = NULL;
    for (struct probe *p = probes; p; p = p->next)
        probe_finish(p, 0, 0); /* freed by their close callbacks */
    ring_set_deinit(&rings);
    for (int i = 0; i < RING_DBS; i++) {
        free(db_ring[i]);
        db_ring[i] = NULL;
    }
}

static void ring_info(struct sbuf *out, const char *section)
{
    if (strcmp(section, "ring") != 0)
        return;
    size_t members = 0, healthy = 0;
    uint64_t lookups = 0, joins = 0, leaves = 0, expired = 0, rebuilds = 0;
    for (size_t i = 0; i < rings.nrings; i++) {
        const struct ring *r = rings.rings[i];
        members += r->nmembers;
        healthy += healthy_count(r);
        lookups += r->lookups;
        joins += r->joins;
        leaves += r->leaves;
        expired += r->expired;
        rebuilds += r->rebuilds;
    }
    sbuf_addf(out,
              "ring_rings:%zu\r\nring_members:%zu\r\nring_members_healthy:%zu\r\n"
              "ring_lookups:%" PRIu64 "\r\nring_get_lookups:%" PRIu64 "\r\n"
              "ring_joins:%" PRIu64 "\r\nring_leaves:%" PRIu64 "\r\n"
              "ring_expired:%" PRIu64 "\r\nring_rebuilds:%" PRIu64 "\r\n"
              "ring_checks:%zu\r\nring_probes:%" PRIu64 "\r\n"
              "ring_probe_failures:%" PRIu64 "\r\n"
              "ring_state_saves:%" PRIu64 "\r\nring_state_save_failures:%" PRIu64
              "\r\nring_state_dirty:%d\r\nring_load_factor:%" PRId64 "\r\n",
              rings.nrings, members, healthy, lookups, stats.get_lookups, joins,
              leaves, expired, rebuilds, ncheckers, stats.probes,
              stats.probe_failures, stats.saves, stats.save_failures,
              save_dirty, cfg_load_factor);
    sbuf_adds(out, "ring_db_bindings:");
    int first = 1;
    for (int i = 0; i < RING_DBS; i++)
        if (db_ring[i]) {
            sbuf_addf(out, "%s%d=%s", first ? "" : ",", i, db_ring[i]);
            first = 0;
        }
    sbuf_adds(out, "\r\n");
    for (size_t i = 0; i < rings.nrings && i < 100; i++) {
        const struct ring *r = rings.rings[i];
        sbuf_addf(out,
                  "ring%zu:name=%s,members=%zu,healthy=%zu,total_weight=%u,"
                  "lookups=%" PRIu64 ",check_interval_ms=%" PRIu64 "\r\n",
                  i, r->name, r->nmembers, healthy_count(r),
                  ring_total_weight(r), r->lookups, r->check_interval_ms);
    }
}

void ring_foreach_member(void (*fn)(void *ctx, const struct ring *r,
                                    const struct ring_member *m, uint64_t now),
                         void *ctx)
{
    uint64_t now = clock_mono_ms();
    for (size_t i = 0; i < rings.nrings; i++)
        for (size_t k = 0; k < rings.rings[i]->nmembers; k++)
            fn(ctx, rings.rings[i], &rings.rings[i]->members[k], now);
}

int ring_member_is_up(const struct ring_member *m, uint64_t now)
{
    return m->healthy && (m->expires_ms == 0 || m->expires_ms > now);
}

struct ring_families {
    struct metrics_family *up, *weight;
};

static void member_sample(void *ctx, const struct ring *r,
                          const struct ring_member *m, uint64_t now)
{
    const struct ring_families *f = ctx;
    struct metrics_label l[] = {{"ring", r->name, strlen(r->name)},
                                {"member", m->node, m->node_len}};
    metrics_sample(f->up, l, 2, ring_member_is_up(m, now));
    metrics_sample(f->weight, l, 2, m->weight);
}

static void ring_metrics(struct metrics *m)
{
    struct metrics_family *members = metrics_family(
        m, "tincan_ring_members", METRICS_GAUGE, "Members of the ring.");
    struct metrics_family *lookups =
        metrics_family(m, "tincan_ring_lookups_total", METRICS_COUNTER,
                       "Lookups on the ring since start.");
    for (size_t i = 0; i < rings.nrings; i++) {
        const struct ring *r = rings.rings[i];
        struct metrics_label l = {"ring", r->name, strlen(r->name)};
        metrics_sample(members, &l, 1, (double)r->nmembers);
        metrics_sample(lookups, &l, 1, (double)r->lookups);
    }
    struct ring_families f = {
        metrics_family(m, "tincan_ring_member_up", METRICS_GAUGE,
                       "1 if the member is healthy and its TTL has not run out."),
        metrics_family(m, "tincan_ring_member_weight", METRICS_GAUGE,
                       "The member's weight (its share of the ring)."),
    };
    ring_foreach_member(member_sample, &f);
}

const struct module ring_module = {
    .name = "ring",
    .commands = ring_commands,
    .ncommands = ARRAY_LEN(ring_commands),
    .config = ring_config,
    .nconfig = ARRAY_LEN(ring_config),
    .start = ring_start,
    .stop = ring_stop,
    .info = ring_info,
    .metrics = ring_metrics,
};
