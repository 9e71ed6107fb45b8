/* The two paths of jschema_validate (src/contract): the one-pass path
 * (jsonschema_fast.c) against the DOM path (libjansson + the tree walk), on
 * random schemas of the supported keywords and random payloads, valid and
 * mutated (bad UTF-8, escapes, lone surrogates, truncations, numbers out of
 * range, deep nesting, duplicate names, spelled plainly or escaped). Fixed
 * seed, bounded count: the same cases every run. Every case must get the same
 * verdict from both paths (unless the one-pass path says it cannot tell), and
 * jschema_validate must answer exactly as the DOM path, message included. */
#include "test.h"

#include "jsonschema.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

#define PICK(a) (a)[rnd(sizeof(a) / sizeof((a)[0]))]

/* ------------------------------------------------------------ schemas */

static const char *const names[] = {"a",        "b",  "c",  "d",
                                    "\xc3\xa9", "~1", "a/b"};
static const char *const types[] = {"null",   "boolean", "object", "array",
                                    "number", "string",  "integer"};
static const char *const patterns[] = {"^a",     "b+", "^[0-9]+$", "\xc3\xa9",
                                       "^.{2}$", "^$", "\\n"};

static json_t *num_value(void)
{
    switch (rnd(6)) {
    case 0:
        return json_integer((json_int_t)rnd(7) - 3);
    case 1:
        return json_real((double)rnd(9) / 4 - 1);
    case 2:
        return json_integer(rnd(2) ? INT64_MAX : INT64_MIN);
    case 3:
        return json_real(9223372036854775808.0);
    case 4:
        return json_integer(100);
    default:
        return json_real(2.0);
    }
}

static json_t *scalar_value(void)
{
    switch (rnd(6)) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(rnd(2));
    case 2:
    case 3:
        return num_value();
    default: {
        static const char *const strs[] = {
            "a", "b", "ab", "", "\xc3\xa9", "0", "~", "\xf0\x9f\x98\x80"};
        return json_string(PICK(strs));
    }
    }
}

static json_t *gen_schema(int d, bool defs);

static json_t *schema_array(int d, bool defs, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, gen_schema(d + 1, defs));
    return a;
}

static json_t *gen_schema(int d, bool defs)
{
    if (rnd(12) == 0)
        return json_boolean(rnd(3) != 0);
    if (d > 0 && rnd(14) == 0) {
        json_t *r = json_object();
        json_object_set_new(r, "$ref",
                            json_string(defs && rnd(2) ? "#/$defs/p" : "#"));
        return r;
    }
    json_t *o = json_object();
    int nk = 1 + (int)rnd(4);
    for (int k = 0; k < nk; k++) {
        switch (rnd(23)) {
        case 0:
        case 1:
            if (rnd(3)) {
                json_object_set_new(o, "type", json_string(PICK(types)));
            } else {
                json_t *a = json_array();
                json_array_append_new(a, json_string(PICK(types)));
                json_array_append_new(a, json_string(PICK(types)));
                json_object_set_new(o, "type", a);
            }
            break;
        case 2:
        case 3:
            if (d < 3) {
                json_t *p = json_object();
                for (unsigned i = 0, n = 1 + rnd(3); i < n; i++)
                    json_object_set_new(p, PICK(names),
                                        gen_schema(d + 1, defs));
                json_object_set_new(o, "properties", p);
            }
            break;
        case 4: {
            json_t *a = json_array();
            for (unsigned i = 0, n = 1 + rnd(3); i < n; i++)
                json_array_append_new(a, json_string(PICK(names)));
            json_object_set_new(o, "required", a);
            break;
        }
        case 5:
            json_object_set_new(o, "additionalProperties",
                                d < 3 && rnd(2) ? gen_schema(d + 1, defs)
                                                : json_boolean(rnd(2)));
            break;
        case 6:
            if (d < 3)
                json_object_set_new(o, "items", gen_schema(d + 1, defs));
            break;
        case 7:
            if (d < 3)
                json_object_set_new(o, "prefixItems",
                                    schema_array(d, defs, 1 + (int)rnd(2)));
            break;
        case 8: {
            json_t *a = json_array();
            for (unsigned i = 0, n = 1 + rnd(3); i < n; i++)
                json_array_append_new(a, rnd(10) ? scalar_value()
                                                 : json_pack("[i]", 1));
            json_object_set_new(o, "enum", a);
            break;
        }
        case 9:
            json_object_set_new(o, "const",
                                rnd(10) ? scalar_value() : json_object());
            break;
        case 10:
            json_object_set_new(o, "minimum", num_value());
            break;
        case 11:
            json_object_set_new(o, "maximum", num_value());
            break;
        case 12:
            json_object_set_new(o, "exclusiveMinimum", num_value());
            break;
        case 13:
            json_object_set_new(o, "exclusiveMaximum", num_value());
            break;
        case 14:
            json_object_set_new(o, "minLength", json_integer(rnd(4)));
            break;
        case 15:
            json_object_set_new(o, "maxLength", json_integer(rnd(4)));
            break;
        case 16:
            json_object_set_new(o, "pattern", json_string(PICK(patterns)));
            break;
        case 17:
            json_object_set_new(o, "minItems", json_integer(rnd(3)));
            break;
        case 18:
            json_object_set_new(o, "maxItems", json_integer(rnd(3)));
            break;
        case 19:
            json_object_set_new(o, "minProperties", json_integer(rnd(3)));
            break;
        case 20:
            json_object_set_new(o, "maxProperties", json_integer(rnd(3)));
            break;
        case 21: /* keywords only the DOM path checks */
            if (d < 3) {
                static const char *const slow[] = {"anyOf", "allOf", "oneOf"};
                switch (rnd(4)) {
                case 0:
                    json_object_set_new(o, "not", gen_schema(d + 1, defs));
                    break;
                case 1:
                    json_object_set_new(o, "uniqueItems", json_true());
                    break;
                default:
                    json_object_set_new(o, PICK(slow),
                                        schema_array(d, defs, 2));
                }
            }
            break;
        default:
            break;
        }
    }
    return o;
}

/* ------------------------------------------------------------ payloads */

struct buf {
    char b[16384];
    size_t n;
};

static void add(struct buf *b, const char *s, size_t n)
{
    if (b->n + n < sizeof(b->b)) {
        memcpy(b->b + b->n, s, n);
        b->n += n;
    }
}

static void adds(struct buf *b, const char *s)
{
    add(b, s, strlen(s));
}

static void space(struct buf *b)
{
    static const char *const ws[] = {"", "", "", " ", "\n", "\t \r"};
    adds(b, PICK(ws));
}

static void gen_string(struct buf *b)
{
    static const char *const pieces[] = {"a",        "b",
                                         "\xc3\xa9", "\xf0\x9f\x98\x80",
                                         "\\u00e9",  "\\ud83d\\ude00",
                                         "\\n",      "\\\"",
                                         "\\/",      "\\u0000",
                                         "0",        "1",
                                         "~",        "/",
                                         "\\u0061",  "\\\\",
                                         "\\t",      "\\b\\f\\r"};
    adds(b, "\"");
    for (unsigned i = 0, n = rnd(5); i < n; i++)
        adds(b, PICK(pieces));
    adds(b, "\"");
}

static void gen_value(struct buf *b, int d)
{
    static const char *const nums[] = {"0",
                                       "1",
                                       "-1",
                                       "2",
                                       "3",
                                       "100",
                                       "-100",
                                       "1.5",
                                       "-0",
                                       "2.0",
                                       "1e2",
                                       "1E+2",
                                       "0.25",
                                       "-0.0",
                                       "3.25e-1",
                                       "9223372036854775807",
                                       "-9223372036854775808",
                                       "9223372036854775808",
                                       "1e-400",
                                       "10.0"};
    static const char *const keys[] = {
        "\"a\"",  "\"b\"",       "\"c\"",        "\"d\"",
        "\"x\"",  "\"\\u0061\"", "\"\xc3\xa9\"", "\"\\u00e9\"",
        "\"~1\"", "\"a/b\"",     "\"a\\/b\""};
    unsigned k = rnd(d > 3 ? 6 : 9);
    space(b);
    switch (k) {
    case 0:
        adds(b, "null");
        break;
    case 1:
        adds(b, rnd(2) ? "true" : "false");
        break;
    case 2:
    case 3:
        adds(b, PICK(nums));
        break;
    case 4:
    case 5:
        gen_string(b);
        break;
    case 6:
        adds(b, "[");
        for (unsigned i = 0, n = rnd(4); i < n; i++) {
            if (i)
                adds(b, ",");
            gen_value(b, d + 1);
        }
        space(b);
        adds(b, "]");
        break;
    default:
        adds(b, "{");
        for (unsigned i = 0, n = rnd(5); i < n; i++) {
            if (i)
                adds(b, ",");
            space(b);
            adds(b, PICK(keys));
            space(b);
            adds(b, ":");
            gen_value(b, d + 1);
        }
        space(b);
        adds(b, "}");
    }
    space(b);
}

static void mutate(struct buf *b)
{
    static const char *const bytes[] = {"\x80", "\xc0", "\xff", "\"",  "\\",
                                        ",",    "}",    "]",    "0",   "\x01",
                                        "\xed", " ",    ":",    "\x00"};
    static const char *const snippets[] = {"\xc3\x28",
                                           "\xed\xa0\x80",
                                           "\xf4\x90\x80\x80",
                                           "\xe0\x80\xaf",
                                           "\xc0\xaf",
                                           "\\ud800",
                                           "\\udc00x",
                                           "\\ud800\\u0041",
                                           "\\u12",
                                           "\\x",
                                           "99999999999999999999",
                                           "-9223372036854775809",
                                           "1e999",
                                           "-",
                                           "01",
                                           "1.",
                                           "\"",
                                           "[",
                                           "{",
                                           "\xf0\x9f\x98",
                                           "\\uDBFF\\uDFFF",
                                           "\t",
                                           "1e",
                                           "tru"};
    size_t at = b->n ? rnd((unsigned)b->n + 1) : 0;
    switch (rnd(4)) {
    case 0:
        b->n = at;
        break;
    case 1:
        if (at < b->n)
            b->b[at] = PICK(bytes)[0];
        break;
    case 2: {
        const char *s = PICK(snippets);
        size_t n = strlen(s);
        if (b->n + n < sizeof(b->b)) {
            memmove(b->b + at + n, b->b + at, b->n - at);
            memcpy(b->b + at, s, n);
            b->n += n;
        }
        break;
    }
    default: {
        static const unsigned levels[] = {62, 63, 64, 65, 70, 130, 600};
        unsigned n = PICK(levels);
        bool obj = rnd(2);
        if (b->n + n * 6 >= sizeof(b->b))
            break;
        struct buf *w = malloc(sizeof(*w));
        w->n = 0;
        for (unsigned i = 0; i < n; i++)
            adds(w, obj ? "{\"a\":" : "[");
        add(w, b->b, b->n);
        for (unsigned i = 0; i < n; i++)
            adds(w, obj ? "}" : "]");
        memcpy(b, w, sizeof(*w));
        free(w);
    }
    }
}

/* ------------------------------------------------------------- checks */

struct counts {
    long cases, valid, fast, unsure, disagree;
};

static void one_case(const struct jschema *s, const char *schema,
                     const char *doc, size_t n, struct counts *c)
{
    char derr[512] = "", verr[512] = "";
    int dom = jschema_validate_dom(s, doc, n, derr, sizeof(derr));
    int fast = jschema_validate_fast(s, doc, n);
    int v = jschema_validate(s, doc, n, verr, sizeof(verr));
    c->cases++;
    c->valid += dom == 0;
    if (fast == JSCHEMA_FAST_UNSURE)
        c->unsure++;
    else
        c->fast++;
    bool bad = (v == 0) != (dom == 0) || strcmp(verr, derr) != 0 ||
               (fast != JSCHEMA_FAST_UNSURE &&
                (fast == JSCHEMA_FAST_VALID) != (dom == 0));
    if (bad && c->disagree++ < 10)
        fprintf(stderr,
                "  DISAGREE schema %s\n  payload (%zu bytes) %.*s\n  dom %d "
                "(%s) fast %d validate %d (%s)\n",
                schema, n, (int)(n < 400 ? n : 400), doc, dom, derr, fast, v,
                verr);
    if (bad && c->disagree <= 10) {
        for (size_t i = 0; i < n && i < 80; i++)
            fprintf(stderr, "%02x ", (unsigned char)doc[i]);
        fprintf(stderr, "\n");
    }
}

TEST(fast_and_dom_paths_agree_on_random_cases)
{
    struct counts c = {0};
    long schemas = 0, refused = 0;
    struct buf *b = malloc(sizeof(*b));
    for (int si = 0; si < 3000; si++) {
        bool defs = rnd(3) == 0;
        json_t *root = gen_schema(0, defs);
        if (defs && json_is_object(root)) {
            json_t *d = json_object();
            json_object_set_new(d, "p", gen_schema(1, defs));
            json_object_set_new(root, "$defs", d);
        }
        char *text = json_dumps(root, JSON_ENCODE_ANY | JSON_COMPACT);
        json_decref(root);
        char err[512];
        struct jschema *s =
            jschema_compile(text, strlen(text), err, sizeof(err));
        if (!s) {
            refused++;
            free(text);
            continue;
        }
        schemas++;
        for (int di = 0; di < 60; di++) {
            b->n = 0;
            gen_value(b, 0);
            if (rnd(3) == 0)
                mutate(b);
            if (rnd(8) == 0)
                mutate(b);
            one_case(s, text, b->b, b->n, &c);
        }
        jschema_free(s);
        free(text);
    }
    free(b);
    printf("  %ld schemas (%ld refused at compile), %ld cases: %ld valid, "
           "%ld decided by the one-pass path, %ld left to the DOM path, %ld "
           "disagreements\n",
           schemas, refused, c.cases, c.valid, c.fast, c.unsure, c.disagree);
    ASSERT_EQ_INT(0, (int)c.disagree);
    ASSERT_TRUE(c.fast > c.cases / 2);
    ASSERT_TRUE(c.valid > c.cases / 20);
}

/* Hand-picked edges of the tokenizer, each against a schema that accepts
 * any value (so the verdict is the syntax alone) and one that checks. */
TEST(fast_and_dom_paths_agree_on_syntax_edges)
{
    static const char *const docs[] = {
        "",
        " ",
        "0",
        "-0",
        "01",
        "1.",
        ".5",
        "-",
        "1e5",
        "1E-5",
        "1e+",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "1e308",
        "1e309",
        "-1e309",
        "1e-400",
        "123456789012345678901234567890123456789012345678901234567890.5",
        "\"\\ud83d\\ude00\"",
        "\"\\ud83d\"",
        "\"\\ude00\"",
        "\"\\ud83d\\u0041\"",
        "\"\\u00\"",
        "\"\\q\"",
        "\"\xc3\"",
        "\"\xc3\xa9\"",
        "\"\xed\xa0\x80\"",
        "\"\xef\xbf\xbf\"",
        "\"\xf4\x8f\xbf\xbf\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xe0\x9f\xbf\"",
        "\"\xf0\x8f\xbf\xbf\"",
        "\"\x7f\"",
        "\"\x1f\"",
        "\"a\" x",
        "[1,]",
        "[,1]",
        "{\"a\":1,}",
        "{\"a\"}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"\\u0061\":2}",
        "{\"\\u0000\":1}",
        "{\"a\\u0000b\":1}",
        "\"a\\u0000b\"",
        "{\"a\":{\"b\":1,\"b\":1}}",
        "true",
        "tru",
        "truex",
        "nul",
        "null ",
        " \t\r\nnull\n",
        "[]",
        "{}",
        "[[]]",
        "{\"a\":[{}]}",
        "\"\\/\\b\\f\\n\\r\\t\\\\\\\"\"",
    };
    static const char *const schemas[] = {
        "true",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
        "\"additionalProperties\":{\"type\":\"number\"}}",
        "{\"type\":[\"string\",\"number\",\"null\",\"boolean\",\"array\"],"
        "\"maxLength\":1,\"maximum\":1e308,\"items\":false}",
        "{\"enum\":[\"\xf0\x9f\x98\x80\",\"a\\u0000b\",-0.0,"
        "9223372036854775807,"
        "true,null]}",
    };
    struct counts c = {0};
    for (size_t si = 0; si < sizeof(schemas) / sizeof(schemas[0]); si++) {
        char err[512];
        struct jschema *s =
            jschema_compile(schemas[si], strlen(schemas[si]), err, sizeof(err));
        if (!s)
            fprintf(stderr, "  %s: %s\n", schemas[si], err);
        ASSERT_TRUE(s != NULL);
        for (size_t di = 0; di < sizeof(docs) / sizeof(docs[0]); di++) {
            one_case(s, schemas[si], docs[di], strlen(docs[di]), &c);
        }
        one_case(s, schemas[si], "\"a\"\0", 4, &c);  /* a NUL after */
        one_case(s, schemas[si], "\"a\0b\"", 5, &c); /* a raw NUL */
        jschema_free(s);
    }
    printf("  %ld cases: %ld valid, %ld decided by the one-pass path, %ld "
           "disagreements\n",
           c.cases, c.valid, c.fast, c.disagree);
    ASSERT_EQ_INT(0, (int)c.disagree);
}

/* Numbers: the one-pass path reads reals as strtod does (to the last bit:
 * a const of the double strtod makes of the text must match the text), and
 * integers exactly up to the 64-bit limits. */
TEST(fast_path_reads_numbers_as_the_dom_path)
{
    struct counts c = {0};
    char text[64], schema[128], err[256];
    for (int i = 0; i < 20000; i++) {
        int o = 0;
        if (rnd(2))
            text[o++] = '-';
        unsigned ni = 1 + rnd(19), nf = rnd(3) ? rnd(18) : 0;
        text[o++] = (char)('0' + (ni > 1 ? 1 + rnd(9) : rnd(10)));
        for (unsigned k = 1; k < ni; k++)
            text[o++] = (char)('0' + rnd(10));
        if (nf) {
            text[o++] = '.';
            for (unsigned k = 0; k < nf; k++)
                text[o++] = (char)('0' + rnd(10));
        }
        if (rnd(3) == 0)
            o += snprintf(text + o, sizeof(text) - (size_t)o, "e%d",
                          (int)rnd(80) - 40);
        text[o] = '\0';
        bool is_int = !strpbrk(text, ".e");
        json_t *v = is_int ? NULL : json_real(strtod(text, NULL));
        char *vs = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
        snprintf(schema, sizeof(schema), "{\"const\":%s}", vs ? vs : text);
        free(vs);
        json_decref(v);
        struct jschema *s =
            jschema_compile(schema, strlen(schema), err, sizeof(err));
        if (!s) /* an integer past 64 bits: refused in the schema too */
            continue;
        one_case(s, schema, text, strlen(text), &c);
        jschema_free(s);
    }
    printf("  %ld cases: %ld valid, %ld decided by the one-pass path, %ld "
           "disagreements\n",
           c.cases, c.valid, c.fast, c.disagree);
    ASSERT_EQ_INT(0, (int)c.disagree);
    ASSERT_TRUE(c.valid > c.cases * 9 / 10);
}

int main(int argc, char **argv)
{
    return test_main(
        argc, argv,
        (struct test[]){T(fast_and_dom_paths_agree_on_random_cases),
                        T(fast_and_dom_paths_agree_on_syntax_edges),
                        T(fast_path_reads_numbers_as_the_dom_path),
                        {0}});
}
