/* cmd_journal.h - the command side of a journaled subsystem.
 *
 * Locks, queues and subscriptions keep their state in a journal (journal.h)
 * and share the same duties between a handler and that journal: append a
 * record and remember a failure for the reply, hold a reply until the fsync
 * covering it, refuse writes once the journal failed, and checkpoint when the
 * log has grown. One struct cmd_journal per subsystem carries that state.
 *
 * This is not the journal (no file I/O here) and knows nothing of what the
 * records mean. */
#ifndef TINCAN_CMD_JOURNAL_H
#define TINCAN_CMD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"

struct client;
struct metrics;

struct cmd_journal {
    struct journal *j; /* the subsystem's journal; NULL when stopped */
    const char *what;  /* "lock", "queue", "bus": names it in messages */
    /* writes the subsystem's live state into a checkpoint (cmd_journal_emit
     * adds each record) */
    int (*walk)(void *ctx, struct journal_ckpt *w);
    int hook_err;         /* ERR_* of an append that failed since the last
                             cmd_journal_check, 0 if none */
    uint64_t checkpoints; /* checkpoints written */
};

/* Appends one record; on failure remembers the error for the reply and logs
 * (rate-limited). Never blocks on an fsync. */
void cmd_journal_append(struct cmd_journal *m, uint8_t type, const void *p,
                        size_t n);
/* Holds c's reply until everything appended so far is durable (per the
 * fsync setting; nothing is held under everysec/no). */
void cmd_journal_hold(struct cmd_journal *m, struct client *c);
/* Before a write: 0, or replies the journal's error and returns -1. */
int cmd_journal_writable(struct cmd_journal *m, struct client *c);
/* After a write: 0, or replies the error of a record that could not be
 * appended (and clears it) and returns -1. */
int cmd_journal_check(struct cmd_journal *m, struct client *c);
/* Replies "-IOERR <what> journal is read-only ..." (or NOSPACE). */
void cmd_journal_reply_error(struct cmd_journal *m, struct client *c);
/* Writes a checkpoint through m->walk: 0 or a negative ERR_* with err. */
int cmd_journal_checkpoint(struct cmd_journal *m, char *err, size_t errlen);
/* Checkpoints if the journal asks for it; failures are logged. */
void cmd_journal_maybe_checkpoint(struct cmd_journal *m);
/* A walk's emit callback: ctx is the struct journal_ckpt. */
int cmd_journal_emit(void *ctx, uint8_t type, const uint8_t *p, size_t n);

/* Adds jm's journal to the tincan_journal_* families of a /metrics scrape,
 * labelled journal=<what>. Nothing when the journal is not open. */
void cmd_journal_metrics(struct metrics *m, const struct cmd_journal *jm);

#endif
