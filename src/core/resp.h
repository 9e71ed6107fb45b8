/* resp.h - the Redis protocol: request parser and reply encoder.
 *
 * The parser turns bytes from a client into commands (arrays of bulk strings,
 * or inline lines as typed in telnet). It is incremental: feed it the whole
 * unconsumed query buffer each time more bytes arrive; it remembers how far it
 * got, so a 500 MiB bulk arriving in 64 KiB reads is scanned once, not again per
 * read. Limits are enforced while parsing, before anything is allocated for the
 * declared sizes.
 *
 * The encoder appends replies to an sbuf in RESP2 or RESP3 (3 adds maps, sets,
 * null, booleans, doubles, verbatim strings; 2 gets the documented fallbacks).
 *
 * This module does no I/O and knows nothing about clients or commands. */
#ifndef TINCAN_RESP_H
#define TINCAN_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "command.h"
#include "sbuf.h"

#define RESP_MAX_INLINE (64 * 1024) /* bytes of one inline command line */
#define RESP_ERR_LEN 160

struct resp_parser {
    int64_t max_bulk;      /* bytes of one bulk string */
    int64_t max_multibulk; /* elements of one command */
    /* progress inside the current command; offsets from the buffer start */
    int kind;              /* 0 not started, '*' multibulk, 'i' inline */
    size_t pos;            /* next byte to look at */
    int64_t args_left;     /* bulks still expected ('*') */
    int64_t bulk_len;      /* length of the bulk being read, -1 if in header */
    size_t *offs;          /* start offset of each bulk read so far */
    size_t *lens;          /* length of each bulk read so far */
    size_t nargs, cap;
    struct sbuf inline_buf; /* unescaped inline arguments, NUL-separated */
    /* the result of the last complete command */
    struct arg *argv;
    int argc;
    size_t argv_cap;
    char err[RESP_ERR_LEN]; /* the protocol error text, after a -1 */
};

enum {
    RESP_NEED_MORE = 0,
};

void resp_parser_init(struct resp_parser *p, int64_t max_bulk,
                      int64_t max_multibulk);
void resp_parser_deinit(struct resp_parser *p);

/* Parses one command from buf[0..len). Returns the number of bytes the command
 * used (> 0): p->argc/p->argv are then valid until buf is changed, each argument
 * NUL-terminated (the parser writes NULs into buf over the CRLF after each
 * bulk). An empty command (blank line, *0) has argc 0. Returns RESP_NEED_MORE
 * when buf holds no complete command yet (progress is remembered; call again
 * with the same bytes plus more, the buffer may have moved). Returns -1 on a
 * protocol error with the text in p->err ("Protocol error: ..."); the
 * connection should then be closed. After a complete command the caller drops
 * the used bytes and the parser is ready for the next command. */
long resp_parse(struct resp_parser *p, char *buf, size_t len);

/* Bytes the parser still needs before it can finish the current command, if
 * known (a bulk in progress), else 0. The reader may use it to size reads. */
size_t resp_parser_want(const struct resp_parser *p);

/* ---- encoder: proto is 2 or 3 ---- */
void resp_add_simple(struct sbuf *b, const char *s);
void resp_add_error(struct sbuf *b, const char *msg); /* msg without '-' */
void resp_add_int(struct sbuf *b, int64_t v);
void resp_add_bulk(struct sbuf *b, const void *p, size_t n);
void resp_add_null(struct sbuf *b, int proto);
void resp_add_null_array(struct sbuf *b, int proto);
void resp_add_bool(struct sbuf *b, int proto, int v);
void resp_add_double(struct sbuf *b, int proto, double v);
void resp_add_verbatim(struct sbuf *b, int proto, const char *p, size_t n);
void resp_add_array(struct sbuf *b, size_t n);
void resp_add_set(struct sbuf *b, int proto, size_t n);
void resp_add_map(struct sbuf *b, int proto, size_t n);
void resp_add_push(struct sbuf *b, int proto, size_t n);
/* Reserves a fixed-width array header to be filled by resp_patch_array(). */
size_t resp_add_array_placeholder(struct sbuf *b);
void resp_patch_array(struct sbuf *b, size_t at, size_t n);

#endif
