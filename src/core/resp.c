#include "resp.h"

#include "common.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void resp_parser_init(struct resp_parser *p, int64_t max_bulk,
                      int64_t max_multibulk)
{
    memset(p, 0, sizeof(*p));
    p->max_bulk = max_bulk;
    p->max_multibulk = max_multibulk;
    p->bulk_len = -1;
    sbuf_init(&p->inline_buf);
}

void resp_parser_deinit(struct resp_parser *p)
{
    free(p->offs);
    free(p->lens);
    free(p->argv);
    sbuf_deinit(&p->inline_buf);
    memset(p, 0, sizeof(*p));
}

static void reset(struct resp_parser *p)
{
    p->kind = 0;
    p->pos = 0;
    p->args_left = 0;
    p->bulk_len = -1;
    p->nargs = 0;
}

static long fail(struct resp_parser *p, const char *msg)
{
    snprintf(p->err, sizeof(p->err), "Protocol error: %s", msg);
    reset(p);
    return -1;
}

static void push_arg(struct resp_parser *p, size_t off, size_t len)
{
    if (p->nargs == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->offs = xrealloc(p->offs, p->cap * sizeof(*p->offs));
        p->lens = xrealloc(p->lens, p->cap * sizeof(*p->lens));
    }
    p->offs[p->nargs] = off;
    p->lens[p->nargs] = len;
    p->nargs++;
}

static void build_argv(struct resp_parser *p, const char *base)
{
    if (p->nargs > p->argv_cap) {
        p->argv_cap = p->nargs;
        p->argv = xrealloc(p->argv, p->argv_cap * sizeof(*p->argv));
    }
    for (size_t i = 0; i < p->nargs; i++) {
        p->argv[i].ptr = base + p->offs[i];
        p->argv[i].len = p->lens[i];
    }
    p->argc = (int)p->nargs;
}

/* Parses the decimal integer of a header line "<digits>\r" in [s, e): returns
 * 0 and *out, or -1. Accepts a leading '-'. */
static int header_int(const char *s, const char *e, int64_t *out)
{
    int neg = 0;
    if (s < e && *s == '-') {
        neg = 1;
        s++;
    }
    if (s == e || e - s > 19)
        return -1;
    int64_t v = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (INT64_MAX - (*s - '0')) / 10)
            return -1; /* would overflow: far beyond any limit anyway */
        v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

/* Splits an inline line into arguments the way redis-cli's users expect:
 * spaces separate, "double quotes" take \n \r \t \b \a \\ \" \xHH escapes,
 * 'single quotes' take \' only. Returns 0 or -1 on unbalanced quotes. */
static int split_inline(struct resp_parser *p, const char *s, const char *e)
{
    struct sbuf *b = &p->inline_buf;
    sbuf_clear(b);
    p->nargs = 0;
    while (1) {
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        if (s >= e)
            return 0;
        size_t start = b->len;
        int dq = 0, sq = 0, done = 0;
        while (!done) {
            if (dq) {
                if (s >= e)
                    return -1;
                if (*s == '\\' && s + 3 < e && s[1] == 'x' &&
                    strchr("0123456789abcdefABCDEF", s[2]) && s[2] &&
                    strchr("0123456789abcdefABCDEF", s[3]) && s[3]) {
                    char hex[3] = {s[2], s[3], 0};
                    sbuf_addc(b, (char)strtol(hex, NULL, 16));
                    s += 4;
                } else if (*s == '\\' && s + 1 < e) {
                    s++;
                    char ch = *s;
                    switch (ch) {
                    case 'n': ch = '\n'; break;
                    case 'r': ch = '\r'; break;
                    case 't': ch = '\t'; break;
                    case 'b': ch = '\b'; break;
                    case 'a': ch = '\a'; break;
                    default: break;
                    }
                    sbuf_addc(b, ch);
                    s++;
                } else if (*s == '"') {
                    /* a closing quote must be followed by a space or the end */
                    if (s + 1 < e && s[1] != ' ' && s[1] != '\t')
                        return -1;
                    s++;
                    done = 1;
                } else {
                    sbuf_addc(b, *s++);
                }
            } else if (sq) {
                if (s >= e)
                    return -1;
                if (*s == '\\' && s + 1 < e && s[1] == '\'') {
                    sbuf_addc(b, '\'');
                    s += 2;
                } else if (*s == '\'') {
                    if (s + 1 < e && s[1] != ' ' && s[1] != '\t')
                        return -1;
                    s++;
                    done = 1;
                } else {
                    sbuf_addc(b, *s++);
                }
            } else if (s >= e || *s == ' ' || *s == '\t') {
                done = 1;
            } else if (*s == '"' && b->len == start) {
                dq = 1;
                s++;
            } else if (*s == '\'' && b->len == start) {
                sq = 1;
                s++;
            } else {
                sbuf_addc(b, *s++);
            }
        }
        push_arg(p, start, b->len - start);
        sbuf_addc(b, '\0');
    }
}

static long parse_inline(struct resp_parser *p, char *buf, size_t len)
{
    char *nl = memchr(buf + p->pos, '\n', len - p->pos);
    if (!nl) {
        if (len > RESP_MAX_INLINE)
            return fail(p, "too big inline request");
        p->pos = len;
        return RESP_NEED_MORE;
    }
    size_t used = (size_t)(nl - buf) + 1;
    if (used > RESP_MAX_INLINE)
        return fail(p, "too big inline request");
    const char *e = nl;
    if (e > buf && e[-1] == '\r')
        e--;
    if (split_inline(p, buf, e) < 0)
        return fail(p, "unbalanced quotes in request");
    if ((int64_t)p->nargs > p->max_multibulk)
        return fail(p, "invalid multibulk length");
    build_argv(p, p->inline_buf.data);
    reset(p);
    return (long)used;
}

static long parse_multibulk(struct resp_parser *p, char *buf, size_t len)
{
    if (p->args_left == 0 && p->nargs == 0 && p->pos == 0) {
        /* the "*<count>\r\n" header */
        char *nl = memchr(buf, '\r', len);
        if (!nl) {
            if (len > RESP_MAX_INLINE)
                return fail(p, "too big mbulk count string");
            return RESP_NEED_MORE;
        }
        if ((size_t)(nl - buf) + 1 >= len)
            return RESP_NEED_MORE;
        if (nl[1] != '\n')
            return fail(p, "expected '\\r\\n' after multibulk length");
        int64_t n;
        if (header_int(buf + 1, nl, &n) < 0 || n > p->max_multibulk)
            return fail(p, "invalid multibulk length");
        p->pos = (size_t)(nl - buf) + 2;
        if (n <= 0) {
            size_t used = p->pos;
            p->argc = 0;
            reset(p);
            return (long)used;
        }
        p->args_left = n;
        p->bulk_len = -1;
    }
    while (p->args_left > 0) {
        if (p->bulk_len < 0) {
            if (p->pos >= len)
                return RESP_NEED_MORE;
            if (buf[p->pos] != '$') {
                char got[8];
                unsigned char ch = (unsigned char)buf[p->pos];
                if (ch >= 32 && ch < 127)
                    snprintf(got, sizeof(got), "%c", ch);
                else
                    snprintf(got, sizeof(got), "\\x%02x", ch);
                char msg[32];
                snprintf(msg, sizeof(msg), "expected '$', got '%s'", got);
                return fail(p, msg);
            }
            char *nl = memchr(buf + p->pos, '\r', len - p->pos);
            if (!nl) {
                if (len - p->pos > 32)
                    return fail(p, "invalid bulk length");
                return RESP_NEED_MORE;
            }
            if ((size_t)(nl - buf) + 1 >= len)
                return RESP_NEED_MORE;
            if (nl[1] != '\n')
                return fail(p, "invalid bulk length");
            int64_t n;
            if (header_int(buf + p->pos + 1, nl, &n) < 0 || n < 0 ||
                n > p->max_bulk)
                return fail(p, "invalid bulk length");
            p->bulk_len = n;
            p->pos = (size_t)(nl - buf) + 2;
        }
        size_t need = (size_t)p->bulk_len + 2;
        if (len - p->pos < need)
            return RESP_NEED_MORE;
        char *end = buf + p->pos + p->bulk_len;
        if (end[0] != '\r' || end[1] != '\n')
            return fail(p, "bulk string not terminated by '\\r\\n'");
        end[0] = '\0'; /* the argument's NUL, over the '\r' */
        push_arg(p, p->pos, (size_t)p->bulk_len);
        p->pos += need;
        p->bulk_len = -1;
        p->args_left--;
    }
    size_t used = p->pos;
    build_argv(p, buf);
    reset(p);
    return (long)used;
}

long resp_parse(struct resp_parser *p, char *buf, size_t len)
{
    p->argc = 0;
    if (len == 0)
        return RESP_NEED_MORE;
    if (p->kind == 0)
        p->kind = buf[0] == '*' ? '*' : 'i';
    return p->kind == '*' ? parse_multibulk(p, buf, len)
                          : parse_inline(p, buf, len);
}

size_t resp_parser_want(const struct resp_parser *p)
{
    if (p->kind == '*' && p->bulk_len >= 0)
        return p->pos + (size_t)p->bulk_len + 2;
    return 0;
}

/* ---- encoder ---- */

/* Writes the decimal digits of v ending just before end; returns the start.
 * Replies carry many lengths and integers: printf is the hot spot of a big
 * EV.RANGE reply, so this is done by hand. */
static char *digits(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* Appends "<type><n>\r\n" straight into b: called for every element of
 * every reply, so no temporary copy and no call per byte run. */
static void add_header(struct sbuf *b, char type, int64_t n)
{
    char tmp[24];
    char *end = tmp + sizeof(tmp);
    uint64_t mag = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    char *d = digits(end, mag);
    sbuf_reserve(b, 26);
    char *p = b->data + b->len;
    *p++ = type;
    if (n < 0)
        *p++ = '-';
    while (d < end)
        *p++ = *d++;
    *p++ = '\r';
    *p++ = '\n';
    *p = '\0';
    b->len = (size_t)(p - b->data);
}

void resp_add_simple(struct sbuf *b, const char *s)
{
    sbuf_addc(b, '+');
    sbuf_adds(b, s);
    sbuf_add(b, "\r\n", 2);
}

void resp_add_error(struct sbuf *b, const char *msg)
{
    /* an error line must not contain CR or LF */
    sbuf_addc(b, '-');
    size_t start = b->len;
    sbuf_adds(b, msg);
    for (size_t i = start; i < b->len; i++)
        if (b->data[i] == '\r' || b->data[i] == '\n')
            b->data[i] = ' ';
    sbuf_add(b, "\r\n", 2);
}

void resp_add_int(struct sbuf *b, int64_t v)
{
    add_header(b, ':', v);
}

void resp_add_bulk(struct sbuf *b, const void *p, size_t n)
{
    sbuf_reserve(b, n + 24);
    add_header(b, '$', (int64_t)n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
    b->data[b->len] = '\0';
}

void resp_add_null(struct sbuf *b, int proto)
{
    sbuf_add(b, proto == 3 ? "_\r\n" : "$-1\r\n", proto == 3 ? 3 : 5);
}

void resp_add_null_array(struct sbuf *b, int proto)
{
    sbuf_add(b, proto == 3 ? "_\r\n" : "*-1\r\n", proto == 3 ? 3 : 5);
}

void resp_add_bool(struct sbuf *b, int proto, int v)
{
    if (proto == 3)
        sbuf_add(b, v ? "#t\r\n" : "#f\r\n", 4);
    else
        resp_add_int(b, v ? 1 : 0);
}

void resp_add_double(struct sbuf *b, int proto, double v)
{
    char tmp[64];
    int n;
    if (isinf(v))
        n = snprintf(tmp, sizeof(tmp), "%s", v > 0 ? "inf" : "-inf");
    else if (isnan(v))
        n = snprintf(tmp, sizeof(tmp), "nan");
    else
        n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    if (proto == 3) {
        sbuf_addc(b, ',');
        sbuf_add(b, tmp, (size_t)n);
        sbuf_add(b, "\r\n", 2);
    } else {
        resp_add_bulk(b, tmp, (size_t)n);
    }
}

void resp_add_verbatim(struct sbuf *b, int proto, const char *p, size_t n)
{
    if (proto != 3) {
        resp_add_bulk(b, p, n);
        return;
    }
    add_header(b, '=', (int64_t)n + 4);
    sbuf_add(b, "txt:", 4);
    sbuf_add(b, p, n);
    sbuf_add(b, "\r\n", 2);
}

void resp_add_array(struct sbuf *b, size_t n)
{
    add_header(b, '*', (int64_t)n);
}

void resp_add_set(struct sbuf *b, int proto, size_t n)
{
    add_header(b, proto == 3 ? '~' : '*', (int64_t)n);
}

void resp_add_map(struct sbuf *b, int proto, size_t n)
{
    if (proto == 3)
        add_header(b, '%', (int64_t)n);
    else
        add_header(b, '*', (int64_t)n * 2);
}

void resp_add_push(struct sbuf *b, int proto, size_t n)
{
    add_header(b, proto == 3 ? '>' : '*', (int64_t)n);
}

/* "*" + 10 digits + CRLF: wide enough for any count we send. */
#define PLACEHOLDER_LEN 13

size_t resp_add_array_placeholder(struct sbuf *b)
{
    size_t at = b->len;
    sbuf_add(b, "*0000000000\r\n", PLACEHOLDER_LEN);
    return at;
}

void resp_patch_array(struct sbuf *b, size_t at, size_t n)
{
    /* Leading zeros are not valid RESP for every client, so the header is
     * rewritten exactly and the gap closed. */
    char tmp[PLACEHOLDER_LEN + 1];
    int len = snprintf(tmp, sizeof(tmp), "*%zu\r\n", n);
    size_t gap = PLACEHOLDER_LEN - (size_t)len;
    memcpy(b->data + at + gap, tmp, (size_t)len);
    memmove(b->data + at, b->data + at + gap, b->len - at - gap);
    b->len -= gap;
    b->data[b->len] = '\0';
}
