/* remote.h - what tail, pub and top share to talk to a running server over
 * RESP through hiredis: the connection options (-h -p -a --name), the
 * connect that also authenticates and names the client, and readers of the
 * flat `field value ...` records (RESP2) the server replies.
 *
 * Not a client library: no reconnection, no retries, no RESP of its own
 * (hiredis parses every reply). A failure is reported on stderr with the
 * subcommand's name and the caller exits 1. */
#ifndef TINCAN_CLI_REMOTE_H
#define TINCAN_CLI_REMOTE_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#define REMOTE_DEFAULT_PORT 6380 /* tincan-server's default --port */

struct remote_opts {
    const char *prog;     /* "tincan tail": prefix of every message */
    const char *host;     /* default 127.0.0.1 */
    int port;             /* default REMOTE_DEFAULT_PORT */
    const char *password; /* -a, else $TINCAN_PASSWORD, else $REDISCLI_AUTH */
    const char *name;     /* CLIENT SETNAME value, or NULL */
};

/* The options text every subcommand's --help includes. */
extern const char remote_usage[];

/* Fills the defaults (host, port, password from the environment). */
void remote_opts_init(struct remote_opts *o, const char *prog);

/* Takes argv[*i] if it is a connection option (-h, -p, -a, --name, also
 * --host, --port, --password, and the --opt=value forms), advancing *i past
 * its value. Returns 1 taken, 0 not a connection option, -1 bad value or
 * missing value (message printed). */
int remote_opt(struct remote_opts *o, int argc, char **argv, int *i);

/* Connects (5 s connect timeout), sends AUTH when a password is set and
 * CLIENT SETNAME when a name is, then PING to learn that the server accepts
 * commands (NOAUTH shows here). Every later reply is waited for at most
 * read_timeout_s seconds (0: no limit, for EV.READ ... BLOCK 0); past it the
 * context fails as a lost connection. NULL on failure, message printed. The
 * caller frees the context with redisFree. Blocks. */
redisContext *remote_connect(const struct remote_opts *o, int read_timeout_s);

/* Runs one command (argv form) and returns its reply, or NULL after
 * printing the connection error; an error reply is returned as is. */
redisReply *remote_command(redisContext *c, const struct remote_opts *o,
                           int argc, const char **argv);

/* The value of field `name` in a record reply (flat field/value array),
 * or NULL. */
const redisReply *remote_field(const redisReply *rec, const char *name);

/* Field `name` as an integer (an integer reply, or a string that is one),
 * or `dflt` when absent or not a number. */
long long remote_int(const redisReply *rec, const char *name, long long dflt);

/* Field `name` as a NUL-terminated string (bulk or status), or NULL. */
const char *remote_str(const redisReply *rec, const char *name);

#endif
