/* multi.h - transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH (Redis 7.0).
 *
 * After MULTI a client's commands are checked (name, arity, AUTH) and queued
 * instead of run: command_execute() asks multi_is_queuing() and hands them to
 * multi_queue(), which copies the arguments (the query buffer moves on) and
 * replies +QUEUED. EXEC runs the queue in one go, nothing else in between, and
 * replies one array holding each command's reply; while it runs,
 * client_in_exec() (net.h) is true, and commands that could block (BLOCK,
 * WAIT options) must answer at once, as if their wait had timed out. A
 * queue-time error makes EXEC reply -EXECABORT; a WATCHed key that changed
 * (keyspace_touch) makes it reply a null array.
 *
 * EXEC's whole reply is one command's reply as far as durable replies go:
 * the queued commands run with c->cmd_start left at EXEC's start, so a hold
 * any of them takes (client_hold) keeps the array header and every element
 * back until the write is durable, never a part of the array.
 *
 * The queue is bounded: at most MULTI_MAX_QUEUED commands and
 * client-query-buffer-limit bytes of arguments (plus a small overhead per
 * command). Passing either replies an error and dooms the transaction (its
 * queue is freed, later commands reply +QUEUED without being kept, EXEC
 * replies -EXECABORT), so a pipelined transaction never half runs.
 *
 * The state is the connection's, like its db: it survives DEBUG RELOAD and
 * dies with the connection (a net close hook). This module owns no keys: the
 * key space is keyspace.h's, which calls the multi_touch_* functions. */
#ifndef TINCAN_MULTI_H
#define TINCAN_MULTI_H

#include <stddef.h>

struct arg;
struct client;
struct command_spec;

#define MULTI_MAX_QUEUED (1u << 20) /* commands in one transaction */

/* ---- for command_execute ---- */
/* 1 between MULTI and EXEC/DISCARD: commands without CMD_TX are queued. */
int multi_is_queuing(const struct client *c);
/* A command was refused at queue time (unknown, arity, AUTH): EXEC will
 * reply -EXECABORT. No-op outside MULTI. */
void multi_flag_error(struct client *c);
/* Queues spec with a copy of argv[0..argc) and replies +QUEUED, or an error
 * when the queue would pass its bounds (see above). */
void multi_queue(struct client *c, const struct command_spec *spec, int argc,
                 const struct arg *argv);
/* RESET: leaves MULTI (dropping the queue) and ends every WATCH of c. */
void multi_reset(struct client *c);

/* ---- for keyspace.c ---- */
int multi_watching(void); /* 1 if any client watches any key: O(1) */
/* Ends the watches on key in db (EXEC will reply nil). */
void multi_touch_key(int db, const char *key, size_t n);
/* Ends every watch on db, or on every db when db is -1. */
void multi_touch_db(int db);
/* Ends the watches on the keys of db (-1: every db) that exist now
 * (keyspace_lookup): what a flush about to run does to them. */
void multi_touch_flush(int db);

#endif
