/* jsonschema_fast.c - one-pass validation of a payload against the compiled
 * schema tree, without building a DOM and without allocating.
 *
 * A small strict JSON tokenizer (RFC 8259 as libjansson reads it with
 * JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL) drives the
 * schema walk directly. It only answers "valid", "invalid" or "cannot tell";
 * jschema_validate trusts "valid" alone and runs the DOM path
 * (jsonschema.c) for the other two, so every error message comes from the DOM
 * path and the fast path must only never call valid what the DOM path
 * refuses. "Cannot tell" covers what does not fit the fixed-size state: a
 * schema keyword that needs the value held whole or tried several ways
 * (allOf/anyOf/oneOf/not, uniqueItems, enum/const with an object or array
 * value: such nodes are marked slow at compile time), nesting deeper than
 * FAST_MAX_DEPTH, more than FAST_MAX_KEYS member names on the open objects,
 * a string checked by value that decodes to more than FAST_STR_BUF bytes, a
 * member name longer than FAST_KEY_BUF, a number longer than FAST_NUM_BUF,
 * and a payload it would refuse that holds a NUL byte (libjansson skips one
 * that follows a number or a literal). */
#include "jsonschema_tree.h"

#include "common.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FAST_MAX_DEPTH 64   /* JSON nesting levels */
#define FAST_MAX_STEPS 256  /* schema steps ($ref, nesting); DOM allows 512 */
#define FAST_MAX_KEYS  512  /* member names held for the duplicate check */
#define FAST_STR_BUF   1024 /* bytes of a decoded string checked by value */
#define FAST_KEY_BUF   256  /* bytes of a decoded member name */
#define FAST_NUM_BUF   64   /* characters of a real number */

enum {
    OK = JSCHEMA_FAST_VALID,
    BAD = JSCHEMA_FAST_INVALID,
    UNSURE = JSCHEMA_FAST_UNSURE
};

struct fx {
    const unsigned char *p, *end; /* the unread payload */
    const struct jschema *s;
    int depth;                    /* open objects and arrays */
    size_t nkeys;                 /* used entries of keys[] */
    uint64_t keys[FAST_MAX_KEYS]; /* hashes of the open objects' names */
    char kbuf[FAST_KEY_BUF];      /* the member name being looked up */
    char sbuf[FAST_STR_BUF];      /* the string value being checked */
};

/* A scalar token, as the checks need it. */
struct tok {
    unsigned t;      /* JT_STRING, JT_NUMBER, JT_BOOLEAN or JT_NULL */
    bool b;          /* JT_BOOLEAN: its value */
    struct jnum num; /* JT_NUMBER */
    const char *s;   /* JT_STRING: decoded bytes, NULL if not kept */
    size_t len;      /* bytes of s */
    size_t cps;      /* code points of the string */
    bool nul;        /* the string holds U+0000 */
};

/* ------------------------------------------------------------ prepare */

static bool scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

/* The first 8 bytes of a name, zero-padded, as one word. */
static uint64_t kword(const char *k, size_t kl)
{
    uint64_t w = 0;
    memcpy(&w, k, kl < 8 ? kl : 8);
    return w;
}

/* A slot of n->ptab from the name's length and first word. */
static size_t name_slot(uint64_t kw, size_t kl, size_t mask)
{
    uint64_t h = (kw ^ (uint64_t)kl << 56) * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 40) & mask;
}

/* The property named k: the length and the first word decide for names up
 * to 8 bytes, so most lookups compare no bytes. */
static const struct jprop *find_prop(const struct jnode *n, const char *k,
                                     size_t kl, uint64_t kw)
{
    if (!n->ptab)
        return NULL;
    for (size_t i = name_slot(kw, kl, n->pmask); n->ptab[i];
         i = (i + 1) & n->pmask) {
        const struct jprop *p = &n->props[n->ptab[i] - 1];
        if (p->klen == kl && p->kword == kw &&
            (kl <= 8 || memcmp(p->key + 8, k + 8, kl - 8) == 0))
            return p;
    }
    return NULL;
}

static struct jlit lit_of(const json_t *v)
{
    struct jlit l = {0};
    switch (json_typeof(v)) {
    case JSON_STRING:
        l.t = JT_STRING;
        l.s = json_string_value(v);
        l.len = json_string_length(v);
        break;
    case JSON_INTEGER:
        l.t = JT_NUMBER;
        l.num.is_int = true;
        l.num.i = json_integer_value(v);
        break;
    case JSON_REAL:
        l.t = JT_NUMBER;
        l.num.d = json_real_value(v);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        l.t = JT_BOOLEAN;
        l.b = json_is_true(v);
        break;
    default:
        l.t = JT_NULL;
        break;
    }
    return l;
}

/* A key the payload can only spell as its own bytes: no byte that JSON
 * escapes, and ASCII (so no other UTF-8 spelling either). */
static bool key_is_plain(const char *k, size_t kl)
{
    for (size_t i = 0; i < kl; i++) {
        unsigned char c = (unsigned char)k[i];
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* n->first and each property's next: the document order, which is the
 * order most payloads write their members in (object() tries it first). */
static void prepare_order(struct jnode *n)
{
    uint32_t *by_doc = xcalloc(n->nprops, sizeof(*by_doc));
    for (size_t k = 0; k < n->nprops; k++) {
        struct jprop *pr = &n->props[k];
        by_doc[pr->doc] = (uint32_t)k;
        pr->plain_key = key_is_plain(pr->key, pr->klen);
    }
    n->first = by_doc[0] + 1;
    for (size_t d = 0; d + 1 < n->nprops; d++)
        n->props[by_doc[d]].next = by_doc[d + 1] + 1;
    free(by_doc);
}

/* n->lits: the const, then the enum values (scalar nodes only). */
static void prepare_lits(struct jnode *n)
{
    size_t ne = n->enum_v ? json_array_size(n->enum_v) : 0;
    if (n->slow || (!n->const_v && !n->enum_v))
        return;
    n->lits = xcalloc(ne + 1, sizeof(*n->lits));
    if (n->const_v)
        n->lits[n->nlits++] = lit_of(n->const_v);
    for (size_t e = 0; e < ne; e++)
        n->lits[n->nlits++] = lit_of(json_array_get(n->enum_v, e));
}

void jschema_fast_prepare(struct jschema *s)
{
    for (size_t i = 0; i < s->nnodes; i++) {
        struct jnode *n = s->nodes[i];
        if (n->nprops) { /* at most half full */
            size_t cap = 8;
            while (cap < 2 * n->nprops)
                cap *= 2;
            n->ptab = xcalloc(cap, sizeof(*n->ptab));
            n->pmask = cap - 1;
            for (size_t k = 0; k < n->nprops; k++) {
                struct jprop *pr = &n->props[k];
                pr->kword = kword(pr->key, pr->klen);
                size_t j = name_slot(pr->kword, pr->klen, n->pmask);
                while (n->ptab[j])
                    j = (j + 1) & n->pmask;
                n->ptab[j] = (uint32_t)k + 1;
            }
            prepare_order(n);
        }
        n->slow = n->nall || n->nany || n->none || n->not_ || n->unique ||
                  n->nreq > 64 || (n->const_v && !scalar(n->const_v));
        for (size_t e = 0; n->enum_v && e < json_array_size(n->enum_v); e++)
            n->slow |= !scalar(json_array_get(n->enum_v, e));
        prepare_lits(n);
        if (n->nreq > 64)
            continue;
        n->reqall = n->nreq == 64 ? ~0ULL : (1ULL << n->nreq) - 1;
        for (size_t r = 0; r < n->nreq; r++) {
            const char *k = n->req[r].key;
            size_t kl = n->req[r].klen;
            struct jprop *p =
                (struct jprop *)find_prop(n, k, kl, kword(k, kl));
            if (p)
                p->reqbits |= 1ULL << r;
            else
                n->req_undeclared = true;
        }
    }
}

/* ------------------------------------------------------------- tokens */

static void ws(struct fx *x)
{
    const unsigned char *p = x->p, *e = x->end;
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    x->p = p;
}

/* Bytes of the well-formed UTF-8 sequence at p (lead byte >= 0x80), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *e)
{
    unsigned c = p[0];
    size_t n = (size_t)(e - p);
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
            (c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
            (p[3] & 0xC0) != 0x80 || (c == 0xF0 && p[1] < 0x90) ||
            (c == 0xF4 && p[1] > 0x8F))
            return 0;
        return 4;
    }
    return 0;
}

static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        int d = c >= '0' && c <= '9'   ? (int)c - '0'
                : c >= 'a' && c <= 'f' ? (int)c - 'a' + 10
                : c >= 'A' && c <= 'F' ? (int)c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Appends k bytes to buf[0..cap) at *w, or marks it overflowed. */
static void put(char *buf, size_t cap, size_t *w, bool *over, const void *b,
                size_t k)
{
    if (!k) /* buf may be NULL */
        return;
    if (*over || *w + k > cap) {
        *over = true;
        return;
    }
    memcpy(buf + *w, b, k);
    *w += k;
}

/* Bytes that stand for themselves in a string: printable ASCII but the
 * quote and the backslash. */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* The first byte at or after p that is not plain (or e): eight bytes at a
 * time while they last. In each word, a byte is flagged when it is a quote
 * or a backslash (a zero after the xor), below 0x20 or at least 0x80; a
 * borrow can flag a byte only above one really flagged, so the lowest flag
 * is exact. */
static const unsigned char *plain_run(const unsigned char *p,
                                      const unsigned char *e)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = ones * 0x80;
    while (e - p >= 8) {
        uint64_t v, q, b;
        memcpy(&v, p, 8);
        q = v ^ (ones * '"');
        b = v ^ (ones * '\\');
        uint64_t f = ((q - ones) & ~q) | ((b - ones) & ~b) |
                     ((v - ones * 0x20) & ~v) | v;
        f &= highs;
        if (f)
            return p + (__builtin_ctzll(f) >> 3);
        p += 8;
    }
#endif
    while (p < e && plain[*p])
        p++;
    return p;
}

/* The string after its opening quote. t->s is the input itself when the
 * string has no escape, else the decoded bytes in buf (NULL when they do
 * not fit in cap). */
static int scan_str(struct fx *x, struct tok *t, char *buf, size_t cap)
{
    const unsigned char *p = x->p, *e = x->end, *start = p;
    size_t w = 0, cps = 0;
    bool esc = false, over = false, nul = false;
    for (;;) {
        const unsigned char *run = p;
        p = plain_run(p, e);
        cps += (size_t)(p - run);
        if (esc)
            put(buf, cap, &w, &over, run, (size_t)(p - run));
        if (p >= e)
            return BAD;
        unsigned c = *p;
        if (c == '"')
            break;
        if (c < 0x20)
            return BAD;
        if (c >= 0x80) {
            size_t k = utf8_seq(p, e);
            if (!k)
                return BAD;
            if (esc)
                put(buf, cap, &w, &over, p, k);
            p += k;
            cps++;
            continue;
        }
        /* a backslash */
        if (!esc) {
            esc = true;
            put(buf, cap, &w, &over, start, (size_t)(p - start));
        }
        if (e - p < 2)
            return BAD;
        unsigned char out[4];
        size_t k = 1;
        switch (p[1]) {
        case '"':
        case '\\':
        case '/':
            out[0] = p[1];
            break;
        case 'b':
            out[0] = '\b';
            break;
        case 'f':
            out[0] = '\f';
            break;
        case 'n':
            out[0] = '\n';
            break;
        case 'r':
            out[0] = '\r';
            break;
        case 't':
            out[0] = '\t';
            break;
        case 'u': {
            int u = e - p >= 6 ? hex4(p + 2) : -1;
            if (u < 0)
                return BAD;
            uint32_t cp = (uint32_t)u;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return BAD; /* a lone low surrogate */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo = e - p >= 12 && p[6] == '\\' && p[7] == 'u'
                             ? hex4(p + 8)
                             : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return BAD;
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                p += 6;
            }
            nul |= cp == 0;
            if (cp < 0x80) {
                out[0] = (unsigned char)cp;
            } else if (cp < 0x800) {
                out[0] = (unsigned char)(0xC0 | cp >> 6);
                out[1] = (unsigned char)(0x80 | (cp & 0x3F));
                k = 2;
            } else if (cp < 0x10000) {
                out[0] = (unsigned char)(0xE0 | cp >> 12);
                out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                out[2] = (unsigned char)(0x80 | (cp & 0x3F));
                k = 3;
            } else {
                out[0] = (unsigned char)(0xF0 | cp >> 18);
                out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
                out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                out[3] = (unsigned char)(0x80 | (cp & 0x3F));
                k = 4;
            }
            p += 4;
            break;
        }
        default:
            return BAD;
        }
        p += 2;
        put(buf, cap, &w, &over, out, k);
        cps++;
    }
    t->t = JT_STRING;
    t->s = !esc ? (const char *)start : over ? NULL : buf;
    t->len = esc ? w : (size_t)(p - start);
    t->cps = cps;
    t->nul = nul;
    x->p = p + 1;
    return OK;
}

static bool digit(const unsigned char *p, const unsigned char *e)
{
    return p < e && *p >= '0' && *p <= '9';
}

/* A number per the grammar; integers exact in 64 bits, reals as strtod
 * reads them. Out of range is BAD: libjansson refuses those documents. */
static int scan_num(struct fx *x, struct tok *t)
{
    /* powers of ten a double holds exactly */
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const unsigned char *p = x->p, *e = x->end, *s = p;
    bool neg = false, real = false, exbig = false;
    uint64_t m = 0; /* the first 19 digits, the point ignored */
    int nd = 0, frac = 0, ex = 0;
    if (p < e && *p == '-') {
        neg = true;
        p++;
    }
    if (!digit(p, e))
        return BAD;
    const unsigned char *d0 = p;
    if (*p == '0') {
        p++;
        nd = 1;
    } else {
        for (; digit(p, e); p++, nd++)
            if (nd < 19)
                m = m * 10 + (unsigned)(*p - '0');
    }
    const unsigned char *d1 = p;
    int ind = nd; /* digits before the point */
    if (p < e && *p == '.') {
        real = true;
        p++;
        if (!digit(p, e))
            return BAD;
        for (; digit(p, e); p++, nd++, frac++)
            if (nd < 19)
                m = m * 10 + (unsigned)(*p - '0');
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        bool eneg = p < e && *p == '-';
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (!digit(p, e))
            return BAD;
        for (; digit(p, e); p++) {
            if (ex >= 100000)
                exbig = true;
            else
                ex = ex * 10 + (*p - '0');
        }
        if (eneg)
            ex = -ex;
    }
    t->t = JT_NUMBER;
    if (!real) {
        uint64_t mag = m, lim = neg ? 1ULL << 63 : (1ULL << 63) - 1;
        if (ind > 18) { /* may not fit: exactly as strtoll decides */
            mag = 0;
            for (const unsigned char *q = d0; q < d1; q++) {
                unsigned dg = *q - '0';
                if (mag > (lim - dg) / 10)
                    return BAD; /* "too big integer" */
                mag = mag * 10 + dg;
            }
        }
        t->num.is_int = true;
        t->num.i = !neg  ? (json_int_t)mag
                   : mag ? -(json_int_t)(mag - 1) - 1
                         : 0;
        x->p = p;
        return OK;
    }
    t->num.is_int = false;
    int pw = ex - frac;
    if (nd <= 15 && !exbig && pw >= -22 && pw <= 22) {
        /* m and 10^|pw| are exact doubles, so one correctly rounded
         * operation gives what strtod gives (Clinger's fast path) */
        double d = pw < 0 ? (double)m / p10[-pw] : (double)m * p10[pw];
        t->num.d = neg ? -d : d;
        x->p = p;
        return OK;
    }
    char buf[FAST_NUM_BUF];
    size_t len = (size_t)(p - s);
    if (len >= sizeof(buf))
        return UNSURE;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    double d = strtod(buf, &end);
    if (end != buf + len) /* a locale whose decimal point is not '.' */
        return UNSURE;
    if (isinf(d))
        return BAD; /* "real number overflow" */
    t->num.d = d;
    x->p = p;
    return OK;
}

/* ------------------------------------------------------------- checks */

/* jschema_num_cmp, inlined, with exact shortcuts: two doubles, or a
 * double and an integer a double holds exactly (|i| <= 2^53). */
static int num_cmp(struct jnum a, struct jnum b)
{
    if (a.is_int && b.is_int)
        return (a.i > b.i) - (a.i < b.i);
    const json_int_t lim = (json_int_t)1 << 53;
    if ((!a.is_int || (a.i >= -lim && a.i <= lim)) &&
        (!b.is_int || (b.i >= -lim && b.i <= lim))) {
        double x = a.is_int ? (double)a.i : a.d;
        double y = b.is_int ? (double)b.i : b.d;
        return (x > y) - (x < y);
    }
    return jschema_num_cmp(a, b);
}

/* A schema literal equal to the token (numbers by value). */
static bool lit_eq(const struct jlit *l, const struct tok *t)
{
    if (l->t != t->t)
        return false;
    switch (l->t) {
    case JT_STRING:
        return l->len == t->len && memcmp(l->s, t->s, t->len) == 0;
    case JT_NUMBER:
        return num_cmp(l->num, t->num) == 0;
    case JT_BOOLEAN:
        return l->b == t->b;
    default:
        return true;
    }
}

static bool integral(const struct tok *t)
{
    return t->num.is_int || t->num.d == trunc(t->num.d);
}

static bool type_ok(const struct jnode *n, unsigned t, const struct tok *tk)
{
    return !n->types || (n->types & t) ||
           (t == JT_NUMBER && (n->types & JT_INTEGER) && integral(tk));
}

/* const and enum against a token; a container token (t == NULL) matches
 * no scalar (nodes with container values are slow). */
static bool value_ok(const struct jnode *n, const struct tok *t)
{
    if (!n->const_v && !n->enum_v)
        return true;
    if (!t)
        return false;
    size_t i = 0;
    if (n->const_v && !lit_eq(&n->lits[i++], t))
        return false;
    if (!n->enum_v)
        return true;
    for (; i < n->nlits; i++)
        if (lit_eq(&n->lits[i], t))
            return true;
    return false;
}

static bool bounds_ok(const struct jnode *n, struct jnum x)
{
    for (unsigned m = n->has_bound; m; m &= m - 1) {
        int b = __builtin_ctz(m);
        int c = num_cmp(x, n->bound[b]);
        if (b == JB_MIN    ? c < 0
            : b == JB_MAX  ? c > 0
            : b == JB_XMIN ? c <= 0
                           : c >= 0)
            return false;
    }
    return true;
}

static int string_ok(const struct fx *x, const struct jnode *n,
                     const struct tok *t)
{
    if ((n->has_lim & (1u << JL_MINLEN)) && t->cps < n->lim[JL_MINLEN])
        return BAD;
    if ((n->has_lim & (1u << JL_MAXLEN)) && t->cps > n->lim[JL_MAXLEN])
        return BAD;
    if (n->re) {
        pcre2_match_data *md = jschema_thread_md();
        if (!md)
            return BAD;
        int rc = pcre2_match(n->re, (PCRE2_SPTR)t->s, t->len, 0,
                             PCRE2_NO_UTF_CHECK, md, x->s->mctx);
        if (rc < 0)
            return BAD;
    }
    return OK;
}

/* -------------------------------------------------------------- walk */

static int value(struct fx *x, const struct jnode *n, int steps);

static uint64_t name_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* kword() of a member name; one load when the name is in the payload with
 * 8 bytes after its start (the bytes past the name are masked off). */
static uint64_t kword_at(const struct fx *x, const char *k, size_t kl)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (k != x->kbuf && (const unsigned char *)k + 8 <= x->end) {
        uint64_t w;
        memcpy(&w, k, 8);
        return kl >= 8 ? w : w & ((1ULL << (kl * 8)) - 1);
    }
#endif
    return kword(k, kl);
}

/* 1 if the payload at x->p is exactly pr's key and its closing quote. */
static bool spelled_at(const struct fx *x, const struct jprop *pr)
{
    size_t kl = pr->klen;
    if (!pr->plain_key || (size_t)(x->end - x->p) <= kl || x->p[kl] != '"')
        return false;
    if (kl > 8)
        return memcmp(x->p, pr->key, kl) == 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (x->end - x->p >= 8) {
        uint64_t w;
        memcpy(&w, x->p, 8);
        return (kl == 8 ? w : w & ((1ULL << (kl * 8)) - 1)) == pr->kword;
    }
#endif
    return memcmp(x->p, pr->key, kl) == 0;
}

static uint64_t req_scan(const struct jnode *n, const char *k, size_t kl)
{
    uint64_t bits = 0;
    for (size_t i = 0; i < n->nreq; i++)
        if (n->req[i].klen == kl && memcmp(n->req[i].key, k, kl) == 0)
            bits |= 1ULL << i;
    return bits;
}

static int object(struct fx *x, const struct jnode *n, int steps)
{
    size_t base = x->nkeys, count = 0;
    uint64_t req = 0, seen = 0; /* bits of reqall; of n->props */
    x->p++;                     /* '{' */
    ws(x);
    if (x->p < x->end && *x->p == '}') {
        x->p++;
        goto done;
    }
    /* the member expected next: the one after the last in document order */
    const struct jprop *expect = n && n->first ? &n->props[n->first - 1] : NULL;
    for (;;) {
        ws(x);
        if (x->p >= x->end || *x->p != '"')
            return BAD;
        x->p++;
        struct tok k;
        const struct jprop *pr = NULL;
        int r;
        if (expect && spelled_at(x, expect)) {
            pr = expect; /* no scan, no lookup */
            k.s = pr->key;
            k.len = pr->klen;
            x->p += pr->klen + 1;
        } else {
            if ((r = scan_str(x, &k, x->kbuf, sizeof(x->kbuf))))
                return r;
            if (!k.s)
                return UNSURE;
            if (k.nul)
                return BAD; /* libjansson refuses NUL in member names */
            if (n)
                pr = find_prop(n, k.s, k.len, kword_at(x, k.s, k.len));
        }
        expect = pr && pr->next ? &n->props[pr->next - 1] : NULL;
        count++;
        const struct jnode *child = NULL;
        if (pr && n->nprops <= 64) {
            /* a declared name: a bit per property finds it twice */
            uint64_t bit = 1ULL << (pr - n->props);
            if (seen & bit)
                return BAD;
            seen |= bit;
        } else {
            /* equal names, equal hashes: a duplicate (a 64-bit collision of
             * two different names only sends the payload to the DOM path) */
            uint64_t h = name_hash(k.s, k.len);
            for (size_t i = base; i < x->nkeys; i++)
                if (x->keys[i] == h)
                    return BAD;
            if (x->nkeys == FAST_MAX_KEYS)
                return UNSURE;
            x->keys[x->nkeys++] = h;
        }
        if (pr) {
            child = pr->node;
            req |= pr->reqbits;
        } else if (n) {
            if (n->req_undeclared)
                req |= req_scan(n, k.s, k.len);
            child = n->additional;
        }
        ws(x);
        if (x->p >= x->end || *x->p != ':')
            return BAD;
        x->p++;
        if ((r = value(x, child, steps)))
            return r;
        ws(x);
        if (x->p < x->end && *x->p == ',') {
            x->p++;
            continue;
        }
        if (x->p < x->end && *x->p == '}') {
            x->p++;
            break;
        }
        return BAD;
    }
done:
    x->nkeys = base;
    if (!n)
        return OK;
    if ((n->has_lim & (1u << JL_MINPROPS)) && count < n->lim[JL_MINPROPS])
        return BAD;
    if ((n->has_lim & (1u << JL_MAXPROPS)) && count > n->lim[JL_MAXPROPS])
        return BAD;
    return req == n->reqall ? OK : BAD;
}

static int array(struct fx *x, const struct jnode *n, int steps)
{
    size_t count = 0;
    x->p++; /* '[' */
    ws(x);
    if (x->p < x->end && *x->p == ']') {
        x->p++;
        goto done;
    }
    for (;;) {
        const struct jnode *child = NULL;
        if (n)
            child = count < n->nprefix ? n->prefix[count] : n->items;
        int r = value(x, child, steps);
        if (r)
            return r;
        count++;
        ws(x);
        if (x->p < x->end && *x->p == ',') {
            x->p++;
            continue;
        }
        if (x->p < x->end && *x->p == ']') {
            x->p++;
            break;
        }
        return BAD;
    }
done:
    if (!n)
        return OK;
    if ((n->has_lim & (1u << JL_MINITEMS)) && count < n->lim[JL_MINITEMS])
        return BAD;
    if ((n->has_lim & (1u << JL_MAXITEMS)) && count > n->lim[JL_MAXITEMS])
        return BAD;
    return OK;
}

static int literal(struct fx *x, const char *word, size_t len)
{
    if ((size_t)(x->end - x->p) < len || memcmp(x->p, word, len) != 0)
        return BAD;
    x->p += len;
    return OK;
}

/* One value against n (NULL: anything; the value is still read whole, its
 * syntax and duplicate names checked). */
static int value(struct fx *x, const struct jnode *n, int steps)
{
    if (++steps > FAST_MAX_STEPS)
        return UNSURE;
    while (n && n->ref) {
        if (++steps > FAST_MAX_STEPS)
            return UNSURE;
        n = n->ref;
    }
    if (n && n->trivial)
        n = NULL;
    if (n && n->never)
        return BAD;
    if (n && n->slow)
        return UNSURE;
    ws(x);
    if (x->p >= x->end)
        return BAD;
    struct tok t;
    int r;
    switch (*x->p) {
    case '{':
    case '[': {
        bool obj = *x->p == '{';
        if (n && (!type_ok(n, obj ? JT_OBJECT : JT_ARRAY, NULL) ||
                  !value_ok(n, NULL)))
            return BAD;
        if (x->depth >= FAST_MAX_DEPTH)
            return UNSURE;
        x->depth++;
        r = obj ? object(x, n, steps) : array(x, n, steps);
        x->depth--;
        return r;
    }
    case '"': {
        x->p++;
        bool keep = n && (n->re || n->enum_v || n->const_v);
        if ((r = scan_str(x, &t, keep ? x->sbuf : NULL,
                          keep ? sizeof(x->sbuf) : 0)))
            return r;
        if (!n)
            return OK;
        if (keep && !t.s)
            return UNSURE;
        if (!type_ok(n, JT_STRING, &t) || !value_ok(n, &t))
            return BAD;
        return string_ok(x, n, &t);
    }
    case 't':
    case 'f':
        t.t = JT_BOOLEAN;
        t.b = *x->p == 't';
        if ((r = t.b ? literal(x, "true", 4) : literal(x, "false", 5)))
            return r;
        break;
    case 'n':
        t.t = JT_NULL;
        if ((r = literal(x, "null", 4)))
            return r;
        break;
    default:
        if ((r = scan_num(x, &t)))
            return r;
        if (n && n->has_bound && !bounds_ok(n, t.num))
            return BAD;
        break;
    }
    if (n && (!type_ok(n, t.t, &t) || !value_ok(n, &t)))
        return BAD;
    return OK;
}

int jschema_validate_fast(const struct jschema *s, const char *json, size_t n)
{
    struct fx x; /* not zeroed: each buffer is written before it is read */
    x.p = (const unsigned char *)json;
    x.end = x.p + n;
    x.s = s;
    x.depth = 0;
    x.nkeys = 0;
    int r = value(&x, s->nodes[0], 0);
    if (!r) {
        ws(&x);
        r = x.p == x.end ? OK : BAD;
    }
    /* libjansson reads a NUL byte right after a number or a literal as
     * nothing at all ("[1\0]" is [1]): leave such payloads to it */
    if (r == BAD && memchr(json, '\0', n))
        return UNSURE;
    return r;
}
