/* fuzz_resp.c - libFuzzer target for the RESP request parser (resp.h).
 *
 * The input is a client byte stream, prefixed by two control bytes that pick
 * the parser limits (so the limit paths are reached too). The stream is parsed
 * the way net.c does it: bytes are appended to a query buffer, resp_parse() is
 * called on the unconsumed part until it needs more, consumed bytes are
 * dropped now and then (which moves the bytes of a command in progress), and a
 * protocol error ends the "connection". It is parsed three times:
 *
 *   1. the whole stream in one piece;
 *   2. in chunks of random sizes (the generator is seeded from the input, so a
 *      crash input replays exactly), with the buffer moved to a fresh
 *      allocation often, so ASan catches any pointer kept across calls;
 *   3. byte by byte (for streams up to 2 KiB).
 *
 * Invariants checked (abort() on violation, which libFuzzer reports):
 *   - the three runs give the same commands, byte for byte; if two runs both
 *     end in a protocol error it is the same text (one run may still need
 *     more bytes at the end of the stream where another already rejected an
 *     invalid prefix);
 *   - a complete command reports 0 < used <= available bytes, argc within
 *     max_multibulk, every argument within max_bulk and NUL-terminated;
 *   - a multibulk command's arguments appear, in order, in the bytes it used;
 *   - an error text starts with "Protocol error: ";
 *   - when more is needed, resp_parser_want() is 0 or more than is buffered;
 *   - every command, re-encoded with the reply encoder as an array of bulks
 *     and parsed again by a fresh parser, comes back identical, using all
 *     the encoded bytes.
 *
 * It does not test net.c itself or any command. */
#include "resp.h"

#include "sbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
    struct sbuf cmds;  /* every command: argc, then (len, bytes) per argument */
    int error;         /* 1 if the stream ended in a protocol error */
    char err[RESP_ERR_LEN];
    size_t ncmds;
};

static const int64_t bulk_limits[] = {8, 100, 4096, 512LL * 1024 * 1024};
static const int64_t mbulk_limits[] = {1, 3, 64, 1024 * 1024};

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_resp: invariant broken: %s\n", what);
        abort();
    }
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: any non-zero seed */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void put_u64(struct sbuf *b, uint64_t v)
{
    sbuf_add(b, &v, sizeof(v));
}

/* A query buffer as net.c keeps it; data moves when it grows or on demand. */
struct qbuf {
    char *data;
    size_t len, cap, qpos;
};

static void qbuf_move(struct qbuf *q, size_t newcap)
{
    char *n = malloc(newcap + 1);
    check(n != NULL, "malloc");
    if (q->len)
        memcpy(n, q->data, q->len);
    free(q->data);
    q->data = n;
    q->cap = newcap;
}

static void qbuf_append(struct qbuf *q, const uint8_t *p, size_t n, int move)
{
    if (q->len + n > q->cap)
        qbuf_move(q, (q->len + n) * 2);
    else if (move)
        qbuf_move(q, q->cap);
    memcpy(q->data + q->len, p, n);
    q->len += n;
}

static void check_command(const struct resp_parser *p, const char *cmd,
                          long used, size_t avail)
{
    check(used > 0 && (size_t)used <= avail, "used within the available bytes");
    check(p->argc >= 0 && p->argc <= p->max_multibulk, "argc within limit");
    size_t at = 0;
    for (int i = 0; i < p->argc; i++) {
        const struct arg *a = &p->argv[i];
        check((int64_t)a->len <= p->max_bulk || cmd[0] != '*',
              "bulk within limit");
        check(a->ptr != NULL && a->ptr[a->len] == '\0', "argument NUL-terminated");
        if (cmd[0] == '*') {
            /* the argument's bytes lie inside the command, in order */
            check((size_t)(a->ptr - cmd) >= at &&
                      (size_t)(a->ptr - cmd) + a->len <= (size_t)used,
                  "multibulk argument inside its command, in order");
            at = (size_t)(a->ptr - cmd) + a->len;
        }
    }
}

/* Encodes the command with the reply encoder and parses it back. */
static void check_roundtrip(const struct resp_parser *orig)
{
    if (orig->argc == 0)
        return;
    struct sbuf enc;
    sbuf_init(&enc);
    resp_add_array(&enc, (size_t)orig->argc);
    for (int i = 0; i < orig->argc; i++)
        resp_add_bulk(&enc, orig->argv[i].ptr, orig->argv[i].len);
    struct resp_parser p;
    resp_parser_init(&p, 512LL * 1024 * 1024,
                     orig->max_multibulk);
    long used = resp_parse(&p, enc.data, enc.len);
    check(used == (long)enc.len, "re-encoded command parses whole");
    check(p.argc == orig->argc, "re-encoded command has the same argc");
    for (int i = 0; i < p.argc; i++)
        check(p.argv[i].len == orig->argv[i].len &&
                  memcmp(p.argv[i].ptr, orig->argv[i].ptr, p.argv[i].len) == 0,
              "re-encoded argument comes back the same");
    resp_parser_deinit(&p);
    sbuf_deinit(&enc);
}

/* Parses what is buffered; returns 0 to go on, 1 after a protocol error. */
static int drain(struct resp_parser *p, struct qbuf *q, struct outcome *o,
                 uint64_t *rng, int roundtrip)
{
    while (q->qpos < q->len) {
        char *cmd = q->data + q->qpos;
        size_t avail = q->len - q->qpos;
        long used = resp_parse(p, cmd, avail);
        if (used == RESP_NEED_MORE) {
            size_t want = resp_parser_want(p);
            check(want == 0 || want > avail,
                  "resp_parser_want() asks for more than is buffered");
            break;
        }
        if (used < 0) {
            check(strncmp(p->err, "Protocol error: ", 16) == 0,
                  "error text starts with 'Protocol error: '");
            o->error = 1;
            memcpy(o->err, p->err, sizeof(o->err));
            return 1;
        }
        check_command(p, cmd, used, avail);
        put_u64(&o->cmds, (uint64_t)p->argc);
        for (int i = 0; i < p->argc; i++) {
            put_u64(&o->cmds, p->argv[i].len);
            sbuf_add(&o->cmds, p->argv[i].ptr, p->argv[i].len);
        }
        if (roundtrip)
            check_roundtrip(p);
        o->ncmds++;
        q->qpos += (size_t)used;
    }
    /* net.c drops consumed bytes once per read; do it sometimes, mid-command
     * too, so the unconsumed bytes move under the parser */
    if (q->qpos && (rng == NULL || rng_next(rng) % 3 == 0)) {
        memmove(q->data, q->data + q->qpos, q->len - q->qpos);
        q->len -= q->qpos;
        q->qpos = 0;
    }
    return 0;
}

/* mode 0: whole; 1: random chunks; 2: byte by byte. */
static void run(const uint8_t *s, size_t n, int64_t max_bulk, int64_t max_mb,
                int mode, uint64_t seed, struct outcome *o)
{
    struct resp_parser p;
    struct qbuf q = {0};
    uint64_t rng = seed | 1;
    resp_parser_init(&p, max_bulk, max_mb);
    sbuf_init(&o->cmds);
    o->error = 0;
    o->err[0] = '\0';
    o->ncmds = 0;
    size_t off = 0;
    while (off < n) {
        size_t chunk = n - off;
        if (mode == 1) {
            uint64_t r = rng_next(&rng);
            size_t lim = (r & 1) ? 8 : 512;
            chunk = 1 + (size_t)(r >> 8) % lim;
            if (chunk > n - off)
                chunk = n - off;
        } else if (mode == 2) {
            chunk = 1;
        }
        int move = mode == 1 && rng_next(&rng) % 4 == 0;
        qbuf_append(&q, s + off, chunk, move);
        off += chunk;
        if (drain(&p, &q, o, mode == 0 ? NULL : &rng, mode == 0))
            break;
    }
    resp_parser_deinit(&p);
    free(q.data);
}

static void same(const struct outcome *a, const struct outcome *b, const char *how)
{
    char what[96];
    snprintf(what, sizeof(what), "%s gives the same commands as whole", how);
    check(a->ncmds == b->ncmds && a->cmds.len == b->cmds.len &&
              memcmp(a->cmds.data, b->cmds.data, a->cmds.len) == 0,
          what);
    /* A parser may reject a prefix that is certainly invalid early (a bulk
     * header too long to be a number) or wait for the byte that proves it: at
     * the end of the stream one run may still need more where another already
     * failed. When both failed, the text must be the same. */
    snprintf(what, sizeof(what), "%s ends like whole (error '%s' vs '%s')", how,
             b->err, a->err);
    check(a->error != b->error || strcmp(a->err, b->err) == 0, what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int64_t max_bulk = bulk_limits[data[0] & 3];
    int64_t max_mb = mbulk_limits[(data[1]) & 3];
    const uint8_t *s = data + 2;
    size_t n = size - 2;

    uint64_t seed = 1469598103934665603ULL; /* FNV-1a of the input */
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 1099511628211ULL;

    struct outcome whole, chunked, bytes;
    run(s, n, max_bulk, max_mb, 0, seed, &whole);
    run(s, n, max_bulk, max_mb, 1, seed, &chunked);
    same(&whole, &chunked, "random chunks");
    if (n <= 2048) {
        run(s, n, max_bulk, max_mb, 2, seed, &bytes);
        same(&whole, &bytes, "byte by byte");
        sbuf_deinit(&bytes.cmds);
    }
    sbuf_deinit(&whole.cmds);
    sbuf_deinit(&chunked.cmds);
    return 0;
}
