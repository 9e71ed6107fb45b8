#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "errors.h"
#include "heap.h"
#include "le.h"


struct queue {
    struct queue *hnext;      /* name hash chain */
    uint64_t hash;            /* of name */
    char *name;               /* owned, NUL-terminated */
    size_t name_len;          /* bytes */
    struct heap ready;        /* READY jobs */
    struct queue_job *live_head, *live_tail; /* not-dead jobs, push order */
    struct queue_job *dead_head, *dead_tail; /* DEAD jobs, death order */
    uint64_t njobs;           /* jobs of any state */
    uint64_t ndelayed;        /* jobs */
    uint64_t nleased;         /* jobs */
    uint64_t ndead;           /* jobs */
};

struct queue_set {
    struct queue_hooks hooks;
    uint64_t seed;             /* hash seed */
    struct queue_job **jobs;   /* id hash buckets */
    size_t njob_buckets;       /* power of two */
    size_t njobs;              /* live jobs */
    struct queue **queues;     /* name hash buckets */
    size_t nq_buckets;         /* power of two */
    size_t nqueues;            /* queues with jobs */
    struct heap delayed;       /* DELAYED jobs of every queue */
    struct heap leased;        /* LEASED jobs of every queue */
    uint64_t next_seq;         /* order of state changes */
    uint64_t next_id;          /* next generated id */
    uint64_t ready_events;     /* jobs that became READY, ever */
    int quiet;                 /* replaying: no hooks */
};

/* ---- hashing ---- */

static uint64_t hash_bytes(uint64_t seed, const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static void notify(struct queue_set *s, const struct queue_job *j,
                   enum queue_change what)
{
    if (!s->quiet && s->hooks.changed)
        s->hooks.changed(s->hooks.ctx, j, what);
}

/* ---- heap orders ---- */

/* Each job is in at most one heap (its state's) and keeps its slot in
 * heap_idx. Ties go to the earlier state change (seq). */

/* READY: higher priority first. */
static int ready_before(const void *pa, const void *pb)
{
    const struct queue_job *a = pa, *b = pb;
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return a->seq < b->seq;
}

/* DELAYED: earlier ready_at first. */
static int delayed_before(const void *pa, const void *pb)
{
    const struct queue_job *a = pa, *b = pb;
    if (a->ready_at != b->ready_at)
        return a->ready_at < b->ready_at;
    return a->seq < b->seq;
}

/* LEASED: earlier lease_deadline first. */
static int leased_before(const void *pa, const void *pb)
{
    const struct queue_job *a = pa, *b = pb;
    if (a->lease_deadline != b->lease_deadline)
        return a->lease_deadline < b->lease_deadline;
    return a->seq < b->seq;
}

#define JOB_SLOT offsetof(struct queue_job, heap_idx)

/* ---- queues by name ---- */

static struct queue *queue_lookup(const struct queue_set *s, const char *name,
                                  size_t len)
{
    uint64_t h = hash_bytes(s->seed, name, len);
    for (struct queue *q = s->queues[h & (s->nq_buckets - 1)]; q; q = q->hnext)
        if (q->hash == h && q->name_len == len && memcmp(q->name, name, len) == 0)
            return q;
    return NULL;
}

static void queue_rehash(struct queue_set *s, size_t nb)
{
    struct queue **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < s->nq_buckets; i++) {
        struct queue *q = s->queues[i];
        while (q) {
            struct queue *next = q->hnext;
            q->hnext = b[q->hash & (nb - 1)];
            b[q->hash & (nb - 1)] = q;
            q = next;
        }
    }
    free(s->queues);
    s->queues = b;
    s->nq_buckets = nb;
}

static struct queue *queue_get(struct queue_set *s, const char *name,
                               size_t len)
{
    struct queue *q = queue_lookup(s, name, len);
    if (q)
        return q;
    if (s->nqueues >= s->nq_buckets)
        queue_rehash(s, s->nq_buckets * 2);
    q = xcalloc(1, sizeof(*q));
    q->name = xmemdup(name, len);
    q->name_len = len;
    q->hash = hash_bytes(s->seed, name, len);
    heap_init(&q->ready, JOB_SLOT);
    size_t b = q->hash & (s->nq_buckets - 1);
    q->hnext = s->queues[b];
    s->queues[b] = q;
    s->nqueues++;
    return q;
}

static void queue_free_one(struct queue *q)
{
    heap_deinit(&q->ready);
    free(q->name);
    free(q);
}

/* Drops q once it has no jobs, so Q.QUEUES lists only queues with work. */
static void queue_maybe_drop(struct queue_set *s, struct queue *q)
{
    if (q->njobs)
        return;
    struct queue **pp = &s->queues[q->hash & (s->nq_buckets - 1)];
    while (*pp != q)
        pp = &(*pp)->hnext;
    *pp = q->hnext;
    s->nqueues--;
    queue_free_one(q);
}

/* ---- jobs by id ---- */

struct queue_job *queue_find(struct queue_set *s, const char *id, size_t len)
{
    uint64_t h = hash_bytes(s->seed, id, len);
    for (struct queue_job *j = s->jobs[h & (s->njob_buckets - 1)]; j;
         j = j->hnext)
        if (j->hash == h && j->id_len == len && memcmp(j->id, id, len) == 0)
            return j;
    return NULL;
}

static void job_rehash(struct queue_set *s, size_t nb)
{
    struct queue_job **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < s->njob_buckets; i++) {
        struct queue_job *j = s->jobs[i];
        while (j) {
            struct queue_job *next = j->hnext;
            j->hnext = b[j->hash & (nb - 1)];
            b[j->hash & (nb - 1)] = j;
            j = next;
        }
    }
    free(s->jobs);
    s->jobs = b;
    s->njob_buckets = nb;
}

static void list_append(struct queue_job **head, struct queue_job **tail,
                        struct queue_job *j)
{
    j->next = NULL;
    j->prev = *tail;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static void list_unlink(struct queue_job **head, struct queue_job **tail,
                        struct queue_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        *head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        *tail = j->prev;
    j->prev = j->next = NULL;
}

/* Takes j out of the structure of its current state. */
static void leave_state(struct queue_set *s, struct queue_job *j)
{
    struct queue *q = j->q;
    switch (j->state) {
    case QUEUE_READY:
        heap_remove(&q->ready, j, ready_before);
        break;
    case QUEUE_DELAYED:
        heap_remove(&s->delayed, j, delayed_before);
        q->ndelayed--;
        break;
    case QUEUE_LEASED:
        heap_remove(&s->leased, j, leased_before);
        q->nleased--;
        break;
    case QUEUE_DEAD:
        list_unlink(&q->dead_head, &q->dead_tail, j);
        q->ndead--;
        /* back among the living, at its push position is lost: append */
        list_append(&q->live_head, &q->live_tail, j);
        break;
    }
}

/* Puts j (in no structure) into state st; ready_at/lease_deadline must be set
 * for DELAYED/LEASED. */
static void enter_state(struct queue_set *s, struct queue_job *j,
                        enum queue_state st)
{
    struct queue *q = j->q;
    j->state = st;
    j->seq = s->next_seq++;
    switch (st) {
    case QUEUE_READY:
        heap_push(&q->ready, j, ready_before);
        s->ready_events++;
        break;
    case QUEUE_DELAYED:
        heap_push(&s->delayed, j, delayed_before);
        q->ndelayed++;
        break;
    case QUEUE_LEASED:
        heap_push(&s->leased, j, leased_before);
        q->nleased++;
        break;
    case QUEUE_DEAD:
        list_unlink(&q->live_head, &q->live_tail, j);
        list_append(&q->dead_head, &q->dead_tail, j);
        q->ndead++;
        break;
    }
}

static void set_reason(struct queue_job *j, const char *r, size_t n)
{
    free(j->reason);
    j->reason = NULL;
    j->reason_len = 0;
    if (!r)
        return;
    if (n > QUEUE_REASON_MAX)
        n = QUEUE_REASON_MAX;
    j->reason = xmemdup(r, n);
    j->reason_len = n;
}

/* Creates a job in no state structure yet (linked in the id table and its
 * queue's live list). */
static struct queue_job *job_new(struct queue_set *s, const char *qname,
                                 size_t qlen, const char *id, size_t id_len,
                                 const void *payload, size_t payload_len)
{
    if (s->njobs >= s->njob_buckets)
        job_rehash(s, s->njob_buckets * 2);
    struct queue_job *j = xcalloc(1, sizeof(*j));
    j->id = xmemdup(id, id_len);
    j->id_len = id_len;
    j->hash = hash_bytes(s->seed, id, id_len);
    j->payload = xmemdup(payload, payload_len);
    j->payload_len = payload_len;
    j->q = queue_get(s, qname, qlen);
    j->q->njobs++;
    list_append(&j->q->live_head, &j->q->live_tail, j);
    size_t b = j->hash & (s->njob_buckets - 1);
    j->hnext = s->jobs[b];
    s->jobs[b] = j;
    s->njobs++;
    return j;
}

/* Unlinks j from everything and frees it (and its queue if now empty). */
static void job_remove(struct queue_set *s, struct queue_job *j)
{
    struct queue *q = j->q;
    if (j->state == QUEUE_DEAD) {
        list_unlink(&q->dead_head, &q->dead_tail, j);
        q->ndead--;
    } else {
        leave_state(s, j);
        list_unlink(&q->live_head, &q->live_tail, j);
    }
    struct queue_job **pp = &s->jobs[j->hash & (s->njob_buckets - 1)];
    while (*pp != j)
        pp = &(*pp)->hnext;
    *pp = j->hnext;
    s->njobs--;
    q->njobs--;
    free(j->id);
    free(j->payload);
    free(j->reason);
    free(j);
    queue_maybe_drop(s, q);
}

/* ---- the set ---- */

struct queue_set *queue_set_new(const struct queue_hooks *hooks, uint64_t seed,
                                uint64_t id_base)
{
    struct queue_set *s = xcalloc(1, sizeof(*s));
    if (hooks)
        s->hooks = *hooks;
    s->seed = seed;
    s->njob_buckets = 64;
    s->jobs = xcalloc(s->njob_buckets, sizeof(*s->jobs));
    s->nq_buckets = 16;
    s->queues = xcalloc(s->nq_buckets, sizeof(*s->queues));
    heap_init(&s->delayed, JOB_SLOT);
    heap_init(&s->leased, JOB_SLOT);
    s->next_seq = 1;
    s->next_id = id_base ? id_base : 1;
    return s;
}

void queue_set_free(struct queue_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->njob_buckets; i++) {
        struct queue_job *j = s->jobs[i];
        while (j) {
            struct queue_job *next = j->hnext;
            free(j->id);
            free(j->payload);
            free(j->reason);
            free(j);
            j = next;
        }
    }
    for (size_t i = 0; i < s->nq_buckets; i++) {
        struct queue *q = s->queues[i];
        while (q) {
            struct queue *next = q->hnext;
            queue_free_one(q);
            q = next;
        }
    }
    free(s->jobs);
    free(s->queues);
    heap_deinit(&s->delayed);
    heap_deinit(&s->leased);
    free(s);
}

/* Ends j's current attempt (lease expiry or nack): dead if its attempts are
 * used up, else ready after delay_ms. j is in no state structure. */
static void end_attempt(struct queue_set *s, struct queue_job *j,
                        uint64_t delay_ms, uint64_t now)
{
    if (j->attempts >= j->max_attempts) {
        enter_state(s, j, QUEUE_DEAD);
    } else if (delay_ms) {
        j->ready_at = now + delay_ms;
        enter_state(s, j, QUEUE_DELAYED);
    } else {
        enter_state(s, j, QUEUE_READY);
    }
}

size_t queue_tick(struct queue_set *s, uint64_t now)
{
    uint64_t before_events = s->ready_events;
    struct queue_job *j;
    while ((j = heap_first(&s->delayed)) && j->ready_at <= now) {
        leave_state(s, j);
        enter_state(s, j, QUEUE_READY);
        notify(s, j, QUEUE_CHANGE_STATE);
    }
    while ((j = heap_first(&s->leased)) && j->lease_deadline <= now) {
        leave_state(s, j);
        static const char why[] = "lease expired";
        set_reason(j, why, sizeof(why) - 1);
        end_attempt(s, j, 0, now);
        notify(s, j, QUEUE_CHANGE_STATE);
    }
    return (size_t)(s->ready_events - before_events);
}

int queue_next_deadline(const struct queue_set *s, uint64_t *deadline)
{
    int have = 0;
    uint64_t d = UINT64_MAX;
    const struct queue_job *dj = heap_first(&s->delayed);
    const struct queue_job *lj = heap_first(&s->leased);
    if (dj) {
        d = dj->ready_at;
        have = 1;
    }
    if (lj && lj->lease_deadline < d) {
        d = lj->lease_deadline;
        have = 1;
    }
    if (have)
        *deadline = d;
    return have;
}

uint64_t queue_ready_events(const struct queue_set *s)
{
    return s->ready_events;
}

int queue_push(struct queue_set *s, const struct queue_push_args *a,
               uint64_t now, struct queue_job **out)
{
    char gen[24];
    const char *id = a->id;
    size_t id_len = a->id_len;
    if (id) {
        struct queue_job *old = queue_find(s, id, id_len);
        if (old) {
            *out = old;
            return 0;
        }
    } else {
        do {
            id_len = (size_t)snprintf(gen, sizeof(gen), "%llu",
                                      (unsigned long long)s->next_id++);
        } while (queue_find(s, gen, id_len));
        id = gen;
    }
    struct queue_job *j = job_new(s, a->queue, a->queue_len, id, id_len,
                                  a->payload, a->payload_len);
    j->priority = a->priority;
    j->max_attempts = a->max_attempts ? a->max_attempts : 1;
    j->created = now;
    if (a->delay_ms) {
        j->ready_at = now + a->delay_ms;
        enter_state(s, j, QUEUE_DELAYED);
    } else {
        enter_state(s, j, QUEUE_READY);
    }
    notify(s, j, QUEUE_CHANGE_PUSH);
    *out = j;
    return 1;
}

size_t queue_pop(struct queue_set *s, const char *const *names,
                 const size_t *lens, size_t nnames, size_t count,
                 uint64_t lease_ms, uint64_t now, struct queue_job **out)
{
    queue_tick(s, now);
    size_t got = 0;
    while (got < count) {
        struct queue_job *best = NULL;
        for (size_t i = 0; i < nnames; i++) {
            struct queue *q = queue_lookup(s, names[i], lens[i]);
            struct queue_job *cand = q ? heap_first(&q->ready) : NULL;
            if (!cand)
                continue;
            /* strictly higher: a queue named earlier wins a tie */
            if (!best || cand->priority > best->priority)
                best = cand;
        }
        if (!best)
            break;
        leave_state(s, best);
        best->attempts++;
        best->lease_ms = lease_ms;
        best->lease_deadline = now + lease_ms;
        enter_state(s, best, QUEUE_LEASED);
        notify(s, best, QUEUE_CHANGE_STATE);
        out[got++] = best;
    }
    return got;
}

int queue_ack(struct queue_set *s, const char *id, size_t len)
{
    struct queue_job *j = queue_find(s, id, len);
    if (!j)
        return ERR_NOJOB;
    notify(s, j, QUEUE_CHANGE_GONE);
    job_remove(s, j);
    return 0;
}

int queue_del(struct queue_set *s, const char *id, size_t len)
{
    return queue_ack(s, id, len);
}

int queue_nack(struct queue_set *s, const char *id, size_t len,
               uint64_t delay_ms, const char *reason, size_t reason_len,
               uint64_t now, struct queue_job **out)
{
    struct queue_job *j = queue_find(s, id, len);
    if (!j)
        return ERR_NOJOB;
    *out = j;
    if (j->state != QUEUE_LEASED)
        return ERR_INVAL;
    leave_state(s, j);
    set_reason(j, reason, reason_len);
    end_attempt(s, j, delay_ms, now);
    notify(s, j, QUEUE_CHANGE_STATE);
    return 0;
}

int queue_touch(struct queue_set *s, const char *id, size_t len,
                uint64_t lease_ms, uint64_t now, struct queue_job **out)
{
    struct queue_job *j = queue_find(s, id, len);
    if (!j)
        return ERR_NOJOB;
    *out = j;
    if (j->state != QUEUE_LEASED || j->lease_deadline <= now)
        return ERR_INVAL; /* a lease past its end is lost, timer or not */
    if (lease_ms)
        j->lease_ms = lease_ms;
    j->lease_deadline = now + j->lease_ms;
    heap_fix(&s->leased, j, leased_before);
    return 0;
}

size_t queue_peek(struct queue_set *s, const char *name, size_t len,
                  size_t count, uint64_t now, struct queue_job **out)
{
    queue_tick(s, now);
    struct queue *q = queue_lookup(s, name, len);
    if (!q || !count)
        return 0;
    /* Best-first walk of the heap: the frontier holds slots whose parents
     * were taken; the best of them is the next in pop order. */
    size_t cap = 2 * count + 1, nf = 0, got = 0;
    size_t *front = xmalloc(cap * sizeof(*front));
    if (heap_count(&q->ready))
        front[nf++] = 0;
    while (nf && got < count) {
        size_t bi = 0;
        for (size_t i = 1; i < nf; i++)
            if (ready_before(heap_at(&q->ready, front[i]),
                             heap_at(&q->ready, front[bi])))
                bi = i;
        size_t slot = front[bi];
        front[bi] = front[--nf];
        out[got++] = heap_at(&q->ready, slot);
        for (size_t c = 2 * slot + 1; c <= 2 * slot + 2; c++)
            if (c < heap_count(&q->ready))
                front[nf++] = c;
    }
    free(front);
    return got;
}

size_t queue_dead(struct queue_set *s, const char *name, size_t len,
                  size_t count, struct queue_job **out)
{
    struct queue *q = queue_lookup(s, name, len);
    size_t got = 0;
    for (struct queue_job *j = q ? q->dead_head : NULL; j && got < count;
         j = j->next)
        out[got++] = j;
    return got;
}

size_t queue_kick(struct queue_set *s, const char *name, size_t len,
                  uint64_t n, uint64_t now)
{
    (void)now;
    struct queue *q = queue_lookup(s, name, len);
    size_t moved = 0;
    while (q && q->dead_head && moved < n) {
        struct queue_job *j = q->dead_head;
        leave_state(s, j);
        j->attempts = 0;
        enter_state(s, j, QUEUE_READY);
        notify(s, j, QUEUE_CHANGE_STATE);
        moved++;
    }
    return moved;
}

static void add_info(const struct queue *q, uint64_t now, struct queue_info *o)
{
    o->ready += heap_count(&q->ready);
    o->delayed += q->ndelayed;
    o->leased += q->nleased;
    o->dead += q->ndead;
    if (q->live_head) {
        uint64_t created = q->live_head->created;
        uint64_t age = now > created ? now - created : 0;
        if (age > o->oldest_age)
            o->oldest_age = age;
    }
}

void queue_info(struct queue_set *s, const char *name, size_t len,
                uint64_t now, struct queue_info *out)
{
    queue_tick(s, now);
    memset(out, 0, sizeof(*out));
    if (name) {
        struct queue *q = queue_lookup(s, name, len);
        if (q)
            add_info(q, now, out);
        return;
    }
    for (size_t i = 0; i < s->nq_buckets; i++)
        for (struct queue *q = s->queues[i]; q; q = q->hnext)
            add_info(q, now, out);
}

uint64_t queue_ready_count(struct queue_set *s, const char *name, size_t len)
{
    struct queue *q = queue_lookup(s, name, len);
    return q ? heap_count(&q->ready) : 0;
}

static int cmp_queue_name(const void *a, const void *b)
{
    const struct queue *x = *(const struct queue *const *)a;
    const struct queue *y = *(const struct queue *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* Every queue, sorted by name unless told not to: an array the caller
 * frees. */
static struct queue **all_queues(const struct queue_set *s, int sorted,
                                 size_t *n)
{
    struct queue **all = xmalloc((s->nqueues + 1) * sizeof(*all));
    *n = 0;
    for (size_t i = 0; i < s->nq_buckets; i++)
        for (struct queue *q = s->queues[i]; q; q = q->hnext)
            all[(*n)++] = q;
    if (sorted)
        qsort(all, *n, sizeof(*all), cmp_queue_name);
    return all;
}

void queue_foreach(struct queue_set *s,
                   void (*fn)(void *ctx, const char *name, size_t len),
                   void *ctx)
{
    size_t n;
    struct queue **all = all_queues(s, 1, &n);
    for (size_t i = 0; i < n; i++)
        fn(ctx, all[i]->name, all[i]->name_len);
    free(all);
}

void queue_foreach_info(struct queue_set *s, uint64_t now, int sorted,
                        void (*fn)(void *ctx, const char *name, size_t len,
                                   const struct queue_info *info),
                        void *ctx)
{
    queue_tick(s, now);
    size_t n;
    struct queue **all = all_queues(s, sorted, &n);
    for (size_t i = 0; i < n; i++) {
        /* thousands of queues: ask for the next ones' record ahead, then
         * their name and oldest job, or each costs its misses in turn */
        if (i + 8 < n)
            for (size_t off = 0; off < sizeof(struct queue); off += 64)
                __builtin_prefetch((const char *)all[i + 8] + off);
        if (i + 4 < n) {
            __builtin_prefetch(all[i + 4]->name);
            __builtin_prefetch(all[i + 4]->live_head);
        }
        struct queue_info info = {0};
        add_info(all[i], now, &info);
        fn(ctx, all[i]->name, all[i]->name_len, &info);
    }
    free(all);
}

size_t queue_count(const struct queue_set *s)
{
    return s->nqueues;
}

size_t queue_job_count(const struct queue_set *s)
{
    return s->njobs;
}

const char *queue_name(const struct queue *q, size_t *len)
{
    *len = q->name_len;
    return q->name;
}

const char *queue_state_name(enum queue_state st)
{
    switch (st) {
    case QUEUE_READY:
        return "ready";
    case QUEUE_DELAYED:
        return "delayed";
    case QUEUE_LEASED:
        return "leased";
    case QUEUE_DEAD:
        return "dead";
    }
    return "?";
}

/* ---- journal records ---- */

static size_t put8(uint8_t *b, size_t o, uint8_t v)
{
    b[o] = v;
    return o + 1;
}

static size_t put32(uint8_t *b, size_t o, uint32_t v)
{
    le_put32(b + o, v);
    return o + 4;
}

static size_t put64(uint8_t *b, size_t o, uint64_t v)
{
    le_put64(b + o, v);
    return o + 8;
}

static size_t putstr(uint8_t *b, size_t o, const char *p, size_t n)
{
    o = put32(b, o, (uint32_t)n);
    if (n)
        memcpy(b + o, p, n);
    return o + n;
}

/* Wall-clock ms of the monotonic instant t. */
static uint64_t to_wall(uint64_t t, uint64_t now, uint64_t wall_now)
{
    if (t >= now)
        return wall_now + (t - now);
    uint64_t back = now - t;
    return wall_now > back ? wall_now - back : 0;
}

/* Monotonic ms of the wall-clock instant w. */
static uint64_t to_mono(uint64_t w, uint64_t now, uint64_t wall_now)
{
    if (w >= wall_now)
        return now + (w - wall_now);
    uint64_t back = wall_now - w;
    return now > back ? now - back : 0;
}

size_t queue_rec_size(const struct queue_job *j, enum queue_change what)
{
    switch (what) {
    case QUEUE_CHANGE_PUSH:
        return 1 + 4 + 4 + 8 + 8 + 8 + 4 * 4 + j->id_len + j->q->name_len +
               j->reason_len + j->payload_len;
    case QUEUE_CHANGE_STATE:
        return 1 + 4 + 8 + 4 * 2 + j->id_len + j->reason_len;
    case QUEUE_CHANGE_GONE:
        return 4 + j->id_len;
    }
    return 0;
}

uint8_t queue_rec_encode(uint8_t *buf, const struct queue_job *j,
                         enum queue_change what, uint64_t now,
                         uint64_t wall_now)
{
    size_t o = 0;
    uint64_t ready_wall = j->state == QUEUE_DELAYED
                              ? to_wall(j->ready_at, now, wall_now)
                              : 0;
    switch (what) {
    case QUEUE_CHANGE_PUSH:
        o = put8(buf, o, (uint8_t)j->state);
        o = put32(buf, o, j->attempts);
        o = put32(buf, o, j->max_attempts);
        o = put64(buf, o, (uint64_t)j->priority);
        o = put64(buf, o, ready_wall);
        o = put64(buf, o, to_wall(j->created, now, wall_now));
        o = putstr(buf, o, j->id, j->id_len);
        o = putstr(buf, o, j->q->name, j->q->name_len);
        o = putstr(buf, o, j->reason, j->reason_len);
        putstr(buf, o, j->payload, j->payload_len);
        return QUEUE_REC_JOB;
    case QUEUE_CHANGE_STATE:
        o = put8(buf, o, (uint8_t)j->state);
        o = put32(buf, o, j->attempts);
        o = put64(buf, o, ready_wall);
        o = putstr(buf, o, j->id, j->id_len);
        putstr(buf, o, j->reason, j->reason_len);
        return QUEUE_REC_STATE;
    case QUEUE_CHANGE_GONE:
        putstr(buf, o, j->id, j->id_len);
        return QUEUE_REC_GONE;
    }
    return 0;
}

/* Puts a replayed job into state st with attempts and (wall) ready time. */
static void replay_state(struct queue_set *s, struct queue_job *j,
                         enum queue_state st, uint64_t ready_wall,
                         uint64_t now, uint64_t wall_now)
{
    if (st == QUEUE_DELAYED) {
        j->ready_at = to_mono(ready_wall, now, wall_now);
    } else if (st == QUEUE_LEASED) {
        /* the worker is gone with the old process; replay_done ends it */
        j->lease_deadline = 0;
        j->lease_ms = 0;
    }
    enter_state(s, j, st);
}

void queue_rec_batch_header(uint8_t *hdr, uint8_t type, size_t len)
{
    put8(hdr, 0, type);
    put32(hdr, 1, (uint32_t)len);
}

int queue_replay(struct queue_set *s, uint8_t type, const uint8_t *p, size_t n,
                 uint64_t now, uint64_t wall_now, char *err, size_t errlen)
{
    struct le_reader r = {p, n, 0, 0};
    const char *what = "unknown record type";
    switch (type) {
    case QUEUE_REC_BATCH:
        /* check the whole batch's framing first: all or nothing */
        while (r.at < n) {
            uint8_t t = (uint8_t)le_read(&r, 1);
            uint64_t len = le_read(&r, 4);
            if (r.bad || t == QUEUE_REC_BATCH || r.n - r.at < len) {
                r.bad = 1;
                break;
            }
            r.at += (size_t)len;
        }
        what = "bad batch record";
        if (r.bad)
            break;
        for (r.at = 0; r.at < n;) {
            uint8_t t = (uint8_t)le_read(&r, 1);
            size_t len = (size_t)le_read(&r, 4);
            int rc = queue_replay(s, t, p + r.at, len, now, wall_now, err,
                                  errlen);
            if (rc < 0)
                return rc;
            r.at += len;
        }
        return 0;
    case QUEUE_REC_JOB: {
        uint64_t st = le_read(&r, 1);
        uint32_t attempts = (uint32_t)le_read(&r, 4);
        uint32_t max_attempts = (uint32_t)le_read(&r, 4);
        int64_t priority = (int64_t)le_read(&r, 8);
        uint64_t ready_wall = le_read(&r, 8);
        uint64_t created_wall = le_read(&r, 8);
        size_t id_len, q_len, reason_len, payload_len;
        const char *id = le_read_str(&r, 4, &id_len);
        const char *qn = le_read_str(&r, 4, &q_len);
        const char *reason = le_read_str(&r, 4, &reason_len);
        const char *payload = le_read_str(&r, 4, &payload_len);
        what = "bad job record";
        if (r.bad || r.at != n || st > QUEUE_DEAD || !q_len || !id_len ||
            !max_attempts)
            break;
        struct queue_job *old = queue_find(s, id, id_len);
        if (old)
            job_remove(s, old);
        struct queue_job *j = job_new(s, qn, q_len, id, id_len, payload,
                                      payload_len);
        j->attempts = attempts;
        j->max_attempts = max_attempts;
        j->priority = priority;
        j->created = to_mono(created_wall, now, wall_now);
        set_reason(j, reason_len ? reason : NULL, reason_len);
        replay_state(s, j, (enum queue_state)st, ready_wall, now, wall_now);
        return 0;
    }
    case QUEUE_REC_STATE: {
        uint64_t st = le_read(&r, 1);
        uint32_t attempts = (uint32_t)le_read(&r, 4);
        uint64_t ready_wall = le_read(&r, 8);
        size_t id_len, reason_len;
        const char *id = le_read_str(&r, 4, &id_len);
        const char *reason = le_read_str(&r, 4, &reason_len);
        what = "bad state record";
        if (r.bad || r.at != n || st > QUEUE_DEAD)
            break;
        struct queue_job *j = queue_find(s, id, id_len);
        if (!j)
            return 0; /* a change of a job a later checkpoint no longer has */
        leave_state(s, j);
        j->attempts = attempts;
        set_reason(j, reason_len ? reason : NULL, reason_len);
        replay_state(s, j, (enum queue_state)st, ready_wall, now, wall_now);
        return 0;
    }
    case QUEUE_REC_GONE: {
        size_t id_len;
        const char *id = le_read_str(&r, 4, &id_len);
        what = "bad gone record";
        if (r.bad || r.at != n)
            break;
        struct queue_job *j = queue_find(s, id, id_len);
        if (j)
            job_remove(s, j);
        return 0;
    }
    }
    if (err && errlen)
        snprintf(err, errlen, "queue journal: %s (type %u, %zu bytes)", what,
                 type, n);
    return ERR_CORRUPT;
}

void queue_replay_done(struct queue_set *s, uint64_t now)
{
    s->quiet = 1;
    struct queue_job *lj;
    while ((lj = heap_first(&s->leased))) {
        leave_state(s, lj);
        static const char why[] = "lease lost in a restart";
        set_reason(lj, why, sizeof(why) - 1);
        end_attempt(s, lj, 0, now);
    }
    /* generated ids continue above every numeric id seen */
    for (size_t i = 0; i < s->njob_buckets; i++)
        for (struct queue_job *j = s->jobs[i]; j; j = j->hnext) {
            if (j->id_len > 19 || j->id[0] == '0')
                continue;
            uint64_t v = 0;
            size_t k = 0;
            for (; k < j->id_len && j->id[k] >= '0' && j->id[k] <= '9'; k++)
                v = v * 10 + (uint64_t)(j->id[k] - '0');
            if (k == j->id_len && v >= s->next_id)
                s->next_id = v + 1;
        }
    s->quiet = 0;
}

static int cmp_seq(const void *a, const void *b)
{
    const struct queue_job *x = *(const struct queue_job *const *)a;
    const struct queue_job *y = *(const struct queue_job *const *)b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

int queue_checkpoint(struct queue_set *s, uint64_t now, uint64_t wall_now,
                     int (*emit)(void *ctx, uint8_t type, const uint8_t *p,
                                 size_t n),
                     void *ctx)
{
    /* In order of the last state change, so replay rebuilds FIFO order. */
    struct queue_job **all = xmalloc((s->njobs + 1) * sizeof(*all));
    size_t n = 0;
    for (size_t i = 0; i < s->njob_buckets; i++)
        for (struct queue_job *j = s->jobs[i]; j; j = j->hnext)
            all[n++] = j;
    qsort(all, n, sizeof(*all), cmp_seq);
    int rc = 0;
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t sz = queue_rec_size(all[i], QUEUE_CHANGE_PUSH);
        if (sz > cap) {
            cap = sz * 2;
            buf = xrealloc(buf, cap);
        }
        uint8_t type = queue_rec_encode(buf, all[i], QUEUE_CHANGE_PUSH, now,
                                        wall_now);
        rc = emit(ctx, type, buf, sz);
    }
    free(buf);
    free(all);
    return rc;
}
