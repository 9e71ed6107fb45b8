/* queue.h - work queues with leases: the pure in-memory state machine.
 *
 * A queue set holds named queues of jobs. A job has a payload, a priority, a
 * ready time (delay), an attempt count and a maximum, and is in exactly one
 * state:
 *
 *   READY    waiting in its queue's ready heap, ordered by priority (higher
 *            first), then FIFO (the order it last became ready)
 *   DELAYED  waiting for its ready time (set-wide heap by time)
 *   LEASED   handed to a worker until its lease deadline (set-wide heap)
 *   DEAD     failed max_attempts times; in its queue's dead list, oldest first
 *
 * Each pop is an attempt (attempt 1 is the first delivery). A lease that runs
 * out or a nack ends the attempt: the job goes back to READY (or DELAYED for a
 * nack with a delay), or to DEAD once attempts >= max_attempts. Job ids are
 * unique across the whole set (ACK/NACK name only the id); a push with the id
 * of a live job is idempotent and returns that job.
 *
 * Every change is reported through hooks.changed() so the owner can journal
 * it; the journal records (encode, replay, checkpoint) are defined here as
 * plain byte arrays. Times inside are ms on the monotonic clock (`now`
 * parameters); records carry wall-clock ms so delays survive a reboot.
 *
 * This module does no I/O, reads no clock, and knows nothing of clients, RESP
 * or blocking poppers (the command layer keeps those). */
#ifndef TINCAN_QUEUE_H
#define TINCAN_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#define QUEUE_MAX_ATTEMPTS_DEFAULT 10
#define QUEUE_NAME_MAX 256  /* bytes of a queue name */
#define QUEUE_ID_MAX 256    /* bytes of a job id */
#define QUEUE_REASON_MAX 1024 /* bytes of a failure reason (longer is cut) */

enum queue_state {
    QUEUE_READY = 0,
    QUEUE_DELAYED = 1,
    QUEUE_LEASED = 2,
    QUEUE_DEAD = 3,
};

struct queue;
struct queue_set;

/* One job. Read-only outside queue.c; valid until the next call that changes
 * the set (a job that is acked or deleted is freed). */
struct queue_job {
    struct queue_job *hnext;   /* id hash chain */
    uint64_t hash;             /* of id */
    char *id;                  /* owned, NUL-terminated */
    size_t id_len;             /* bytes */
    struct queue *q;           /* the queue it belongs to */
    char *payload;             /* owned, NUL after the bytes */
    size_t payload_len;        /* bytes */
    int64_t priority;          /* higher pops first */
    uint32_t attempts;         /* deliveries so far (pops) */
    uint32_t max_attempts;     /* dead when an attempt ends at this count */
    enum queue_state state;
    uint64_t ready_at;         /* ms, monotonic: when DELAYED ends */
    uint64_t lease_deadline;   /* ms, monotonic: when LEASED ends */
    uint64_t lease_ms;         /* ms, length of the current/last lease */
    uint64_t created;          /* ms, monotonic: when pushed (for ages) */
    uint64_t seq;              /* set-wide order of the last state change */
    char *reason;              /* owned, last failure reason, or NULL */
    size_t reason_len;         /* bytes */
    size_t heap_idx;           /* slot in the heap of its state */
    struct queue_job *prev, *next; /* queue's live list (push order) or dead
                                      list (death order) */
};

/* Counters of one queue (or of the whole set). */
struct queue_info {
    uint64_t ready;      /* jobs */
    uint64_t delayed;    /* jobs */
    uint64_t leased;     /* jobs */
    uint64_t dead;       /* jobs */
    uint64_t oldest_age; /* ms since the oldest job that is not dead was
                            pushed; 0 if there is none */
};

enum queue_change {
    QUEUE_CHANGE_PUSH = 1,  /* a new job (whole job) */
    QUEUE_CHANGE_STATE = 2, /* state/attempts/ready time/reason changed */
    QUEUE_CHANGE_GONE = 3,  /* acked or deleted (called before it is freed) */
};

struct queue_hooks {
    void *ctx;
    /* Called after every change (before for GONE), also for changes made by
     * queue_tick(). May be NULL. */
    void (*changed)(void *ctx, const struct queue_job *j,
                    enum queue_change what);
};

/* A new, empty set (free with queue_set_free). seed varies the hashes;
 * id_base is the first number for generated ids (see queue_push). */
struct queue_set *queue_set_new(const struct queue_hooks *hooks, uint64_t seed,
                                uint64_t id_base);
void queue_set_free(struct queue_set *s); /* frees every job; no hooks */

struct queue_push_args {
    const char *queue;      /* name, 1..QUEUE_NAME_MAX bytes */
    size_t queue_len;
    const char *id;         /* NULL = generate */
    size_t id_len;
    const void *payload;
    size_t payload_len;
    int64_t priority;
    uint64_t delay_ms;      /* 0 = ready now */
    uint32_t max_attempts;  /* >= 1 */
};

/* ---- operations (pure; `now` is ms on the monotonic clock) ---- */

/* Adds a job. Returns 1 with *out = the new job, or 0 with *out = the live
 * job that already has a->id (nothing changed, whatever the other fields).
 * Generated ids are decimal numbers counting up from id_base. */
int queue_push(struct queue_set *s, const struct queue_push_args *a,
               uint64_t now, struct queue_job **out);

/* Leases up to count ready jobs from the named queues for lease_ms each:
 * highest priority first, FIFO within a priority, and a queue named earlier
 * wins a tie. Settles due delays and leases first (queue_tick). Returns how
 * many jobs were written to out (room for count). */
size_t queue_pop(struct queue_set *s, const char *const *names,
                 const size_t *lens, size_t nnames, size_t count,
                 uint64_t lease_ms, uint64_t now, struct queue_job **out);

/* The live job with this id, or NULL. */
struct queue_job *queue_find(struct queue_set *s, const char *id, size_t len);

/* Done: removes the job whatever its state. 0 or ERR_NOJOB. */
int queue_ack(struct queue_set *s, const char *id, size_t len);
/* Removes the job whatever its state. 0 or ERR_NOJOB. */
int queue_del(struct queue_set *s, const char *id, size_t len);
/* Failed attempt of a LEASED job: back to READY (delay 0) or DELAYED, or DEAD
 * if its attempts are used up; reason (may be NULL) is kept. Returns 0 with
 * *out, ERR_NOJOB, or ERR_INVAL if the job is not leased (*out still set). */
int queue_nack(struct queue_set *s, const char *id, size_t len,
               uint64_t delay_ms, const char *reason, size_t reason_len,
               uint64_t now, struct queue_job **out);
/* Heartbeat of a LEASED job: lease ends at now + lease_ms (0 = the length of
 * its current lease). 0 with *out, ERR_NOJOB, or ERR_INVAL if not leased. */
int queue_touch(struct queue_set *s, const char *id, size_t len,
                uint64_t lease_ms, uint64_t now, struct queue_job **out);

/* Up to count READY jobs of the queue in pop order (nothing changes).
 * Returns how many were written to out. */
size_t queue_peek(struct queue_set *s, const char *name, size_t len,
                  size_t count, uint64_t now, struct queue_job **out);
/* Up to count DEAD jobs of the queue, oldest death first. */
size_t queue_dead(struct queue_set *s, const char *name, size_t len,
                  size_t count, struct queue_job **out);
/* Moves up to n dead jobs (oldest first) back to READY with attempts reset
 * to 0 (their last reason is kept). Returns how many moved. */
size_t queue_kick(struct queue_set *s, const char *name, size_t len,
                  uint64_t n, uint64_t now);

/* Counters of one queue (all zero for an unknown one), or of the whole set
 * when name is NULL. Settles due delays and leases first. */
void queue_info(struct queue_set *s, const char *name, size_t len,
                uint64_t now, struct queue_info *out);
/* Ready jobs of one queue (0 if unknown); no settling. */
uint64_t queue_ready_count(struct queue_set *s, const char *name, size_t len);

/* Calls fn for every queue that has jobs, in name order. */
void queue_foreach(struct queue_set *s,
                   void (*fn)(void *ctx, const char *name, size_t len),
                   void *ctx);
/* Calls fn with the counters of every queue that has jobs (oldest_age as in
 * queue_info), in name order if sorted, else in the set's own order (no
 * sort: for /metrics, where order does not matter). Settles due delays and
 * leases first. Do not change the set from fn. */
void queue_foreach_info(struct queue_set *s, uint64_t now, int sorted,
                        void (*fn)(void *ctx, const char *name, size_t len,
                                   const struct queue_info *info),
                        void *ctx);
size_t queue_count(const struct queue_set *s);      /* queues with jobs */
size_t queue_job_count(const struct queue_set *s);  /* live jobs */
const char *queue_name(const struct queue *q, size_t *len);
const char *queue_state_name(enum queue_state st); /* "ready", ... */

/* Makes due delayed jobs ready and ends leases that ran out (as failed
 * attempts, with reason "lease expired"). Returns how many jobs became READY
 * (the owner may then serve blocked poppers). */
size_t queue_tick(struct queue_set *s, uint64_t now);
/* The earliest delay or lease end (ms, monotonic) in *deadline; returns 1, or
 * 0 if there is none. */
int queue_next_deadline(const struct queue_set *s, uint64_t *deadline);
/* Total jobs that became READY since the set was made (a cheap "anything new
 * for blocked poppers?" check). */
uint64_t queue_ready_events(const struct queue_set *s);

/* ---- journal records ----
 *
 * Record types (the journal's type byte) and little-endian payloads:
 *
 *   QUEUE_REC_JOB    u8 state, u32 attempts, u32 max_attempts, i64 priority,
 *                    u64 ready_at (ms, wall), u64 created (ms, wall),
 *                    u32 len + id, u32 len + queue, u32 len + reason,
 *                    u32 len + payload
 *                    the whole job; replaces any job with that id
 *   QUEUE_REC_STATE  u8 state, u32 attempts, u64 ready_at (ms, wall),
 *                    u32 len + id, u32 len + reason
 *                    the job's state changed
 *   QUEUE_REC_GONE   u32 len + id         acked or deleted
 *   QUEUE_REC_BATCH  { u8 type, u32 len, payload[len] } repeated: records of
 *                    the three types above, applied together (one journal
 *                    record is all or nothing after a crash)
 *
 * A LEASED state is recorded as such; replay turns it into an ended attempt
 * (queue_replay_done), so after a restart leased jobs are ready again (or
 * dead) with their attempts kept. */
enum queue_rec_type {
    QUEUE_REC_JOB = 1,
    QUEUE_REC_STATE = 2,
    QUEUE_REC_GONE = 3,
    QUEUE_REC_BATCH = 4,
};

#define QUEUE_BATCH_HDR 5 /* bytes before each record inside a batch */

/* Writes the header of one record (type, len bytes) inside a batch. */
void queue_rec_batch_header(uint8_t *hdr, uint8_t type, size_t len);

/* Size of the record describing change `what` of j. */
size_t queue_rec_size(const struct queue_job *j, enum queue_change what);
/* Writes it into buf (queue_rec_size bytes) and returns its type. wall_now and
 * now convert monotonic times to wall-clock. */
uint8_t queue_rec_encode(uint8_t *buf, const struct queue_job *j,
                         enum queue_change what, uint64_t now,
                         uint64_t wall_now);
/* Applies one record during recovery (no hooks run). Returns 0 or
 * ERR_CORRUPT with detail in err. */
int queue_replay(struct queue_set *s, uint8_t type, const uint8_t *p, size_t n,
                 uint64_t now, uint64_t wall_now, char *err, size_t errlen);
/* After replay: leased jobs end their attempt (ready or dead); generated ids
 * continue above every numeric id seen. No hooks run. */
void queue_replay_done(struct queue_set *s, uint64_t now);
/* Writes one QUEUE_REC_JOB per live job through emit (in an order that keeps
 * FIFO order on replay). emit returns 0 or a negative code, which stops the
 * walk and is returned. */
int queue_checkpoint(struct queue_set *s, uint64_t now, uint64_t wall_now,
                     int (*emit)(void *ctx, uint8_t type, const uint8_t *p,
                                 size_t n),
                     void *ctx);

#endif
