/* JSON Schema contracts (src/contract): error messages and their paths,
 * limits on hostile schemas and payloads, and jschema_compatible's rules
 * (each with a compatible and an incompatible change). The keyword
 * semantics are held to the official suite in test_jsonschema_suite.c. */
#include "test.h"

#include "jsonschema.h"

#include <pthread.h>
#include <time.h>

static char err[512];

static struct jschema *compile_ok(const char *text)
{
    struct jschema *s = jschema_compile(text, strlen(text), err, sizeof(err));
    if (!s)
        fprintf(stderr, "  compile failed: %s\n  schema: %s\n", err, text);
    ASSERT_TRUE(s != NULL);
    return s;
}

/* The compile error of text (which must be refused). */
static const char *refused(const char *text)
{
    struct jschema *s = jschema_compile(text, strlen(text), err, sizeof(err));
    if (s) {
        jschema_free(s);
        fprintf(stderr, "  compiled, should not: %s\n", text);
    }
    ASSERT_TRUE(s == NULL);
    return err;
}

/* 0 valid, -1 invalid (message in err). */
static int check(const struct jschema *s, const char *json)
{
    err[0] = '\0';
    return jschema_validate(s, json, strlen(json), err, sizeof(err));
}

static int compatible(const char *old_text, const char *new_text)
{
    struct jschema *o = compile_ok(old_text), *n = compile_ok(new_text);
    err[0] = '\0';
    int r = jschema_compatible(o, n, err, sizeof(err));
    jschema_free(o);
    jschema_free(n);
    return r;
}

TEST(error_paths_name_the_field)
{
    struct jschema *s = compile_ok(
        "{\"type\":\"object\",\"required\":[\"items\"],\"properties\":{"
        "\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
        "\"properties\":{\"price\":{\"type\":\"number\",\"minimum\":0},"
        "\"sku\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}-[0-9]+$\"}},"
        "\"required\":[\"sku\"],\"additionalProperties\":false}}}}");
    ASSERT_EQ_INT(0, check(s, "{\"items\":[{\"sku\":\"ABC-1\",\"price\":2}]}"));
    ASSERT_EQ_INT(-1,
                  check(s, "{\"items\":[{\"sku\":\"ABC-1\"},{\"sku\":"
                           "\"ABC-2\"},{\"sku\":\"XYZ-1\",\"price\":-1}]}"));
    ASSERT_EQ_STR("at /items/2/price: -1 is less than minimum 0", err);
    ASSERT_EQ_INT(-1, check(s, "{\"items\":[{\"sku\":\"abc\"}]}"));
    ASSERT_EQ_STR("at /items/0/sku: string does not match pattern "
                  "'^[A-Z]{3}-[0-9]+$'",
                  err);
    ASSERT_EQ_INT(-1, check(s, "{\"items\":[{\"sku\":\"ABC-1\",\"x\":1}]}"));
    ASSERT_EQ_STR("at /items/0: property 'x' is not allowed "
                  "(additionalProperties is false)",
                  err);
    ASSERT_EQ_INT(-1, check(s, "{}"));
    ASSERT_EQ_STR("at (root): required property 'items' is missing", err);
    ASSERT_EQ_INT(-1, check(s, "{\"items\":[{\"sku\":7}]}"));
    ASSERT_EQ_STR("at /items/0/sku: expected string, got integer", err);
    ASSERT_EQ_INT(-1, check(s, "[]"));
    ASSERT_EQ_STR("at (root): expected object, got array", err);
    ASSERT_EQ_INT(-1, check(s, "{\"items\": [1,]}"));
    ASSERT_TRUE(strncmp(err, "not JSON: line 1 column ", 24) == 0);
    jschema_free(s);

    /* pointer escaping of keys in instance paths */
    s = compile_ok("{\"properties\":{\"a/b\":{\"properties\":{\"c~d\":"
                   "{\"maxLength\":1}}}}}");
    ASSERT_EQ_INT(-1, check(s, "{\"a/b\":{\"c~d\":\"xy\"}}"));
    ASSERT_EQ_STR("at /a~1b/c~0d: string of 2 characters is longer than "
                  "maxLength 1",
                  err);
    jschema_free(s);
}

TEST(compile_errors_name_keyword_and_path)
{
    ASSERT_EQ_STR("unsupported keyword 'format' at /properties/a",
                  refused("{\"properties\":{\"a\":{\"type\":\"string\","
                          "\"format\":\"email\"}}}"));
    ASSERT_EQ_STR("unsupported keyword 'patternProperties' at (root)",
                  refused("{\"patternProperties\":{\"^a\":true}}"));
    ASSERT_EQ_STR("unsupported keyword 'if' at /allOf/1",
                  refused("{\"allOf\":[true,{\"if\":true}]}"));
    ASSERT_EQ_STR("unsupported keyword 'multipleOf' at /$defs/x~1y",
                  refused("{\"$defs\":{\"x/y\":{\"multipleOf\":2}}}"));
    ASSERT_TRUE(strncmp(refused("{\"pattern\":\"(\"}"),
                        "invalid regex at /pattern: missing closing "
                        "parenthesis at offset 1",
                        60) == 0);
    ASSERT_EQ_STR("unknown type 'int' at /items/type",
                  refused("{\"items\":{\"type\":\"int\"}}"));
    ASSERT_EQ_STR("'minLength' at (root) must be a non-negative integer",
                  refused("{\"minLength\":-1}"));
    ASSERT_EQ_STR("'minimum' at (root) must be a number",
                  refused("{\"minimum\":\"0\"}"));
    ASSERT_EQ_STR("'required' at (root) must be an array of strings",
                  refused("{\"required\":[1]}"));
    ASSERT_EQ_STR("schema at /properties/a must be an object or a boolean",
                  refused("{\"properties\":{\"a\":1}}"));
    ASSERT_EQ_STR("$ref '#/$defs/nope' at /properties/a does not resolve "
                  "within the document",
                  refused("{\"properties\":{\"a\":{\"$ref\":\"#/$defs/"
                          "nope\"}}}"));
    ASSERT_TRUE(strstr(refused("{\"$ref\":\"other.json#/a\"}"),
                       "only references within the document") != NULL);
    ASSERT_TRUE(strstr(refused("{\"$ref\":\"#anchor\"}"),
                       "only references within the document") != NULL);
    ASSERT_TRUE(strstr(refused("{\"items\":{\"$id\":\"x\"}}"),
                       "$id below the root") != NULL);
    ASSERT_TRUE(strstr(refused("{\"$ref\":\"#\",\"type\":\"string\"}"),
                       "'$ref' beside 'type' at (root)") != NULL);
    ASSERT_TRUE(strncmp(refused("{\"a\":1,\"a\":2}"), "not JSON: line 1", 16) ==
                0);
    ASSERT_TRUE(strncmp(refused("{\n\"type\":\n}"), "not JSON: line 3", 16) ==
                0);
    ASSERT_EQ_STR("schema at (root) must be an object or a boolean",
                  refused("[]"));
    /* a key with a NUL is never taken for the keyword it starts with
     * (libjansson refuses such keys; compile would refuse them too) */
    ASSERT_TRUE(strstr(refused("{\"type\\u0000x\":\"string\"}"),
                       "NUL byte in object key") != NULL);
    /* annotations are accepted and ignored */
    struct jschema *s = compile_ok(
        "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
        "\"$id\":\"https://example.com/order\",\"title\":\"t\","
        "\"description\":\"d\",\"default\":{},\"examples\":[1],"
        "\"$comment\":\"c\",\"deprecated\":false,\"readOnly\":true,"
        "\"writeOnly\":false}");
    ASSERT_EQ_INT(0, check(s, "[1,\"x\",null]"));
    jschema_free(s);
}

TEST(numbers_strings_and_values)
{
    struct jschema *s = compile_ok("{\"type\":\"integer\",\"maximum\":10}");
    ASSERT_EQ_INT(0, check(s, "1.0")); /* 2020-12: 1.0 is an integer */
    ASSERT_EQ_INT(0, check(s, "-9223372036854775808"));
    ASSERT_EQ_INT(-1, check(s, "1.5"));
    ASSERT_EQ_STR("at (root): expected integer, got number", err);
    ASSERT_EQ_INT(-1, check(s, "10.5"));
    ASSERT_EQ_INT(-1, check(s, "11"));
    ASSERT_EQ_STR("at (root): 11 is greater than maximum 10", err);
    ASSERT_EQ_INT(-1, check(s, "99999999999999999999")); /* > int64 */
    ASSERT_TRUE(strncmp(err, "not JSON", 8) == 0);
    jschema_free(s);

    /* exact 64-bit comparisons (no rounding through double) */
    s = compile_ok("{\"exclusiveMaximum\":9007199254740993}");
    ASSERT_EQ_INT(0, check(s, "9007199254740992"));
    ASSERT_EQ_INT(-1, check(s, "9007199254740993"));
    ASSERT_EQ_INT(0, check(s, "9007199254740992.0"));
    jschema_free(s);

    s = compile_ok("{\"minLength\":2,\"maxLength\":3}");
    ASSERT_EQ_INT(0, check(s, "\"\\u00e9\\u00e9\""));  /* 4 bytes, 2 chars */
    ASSERT_EQ_INT(-1, check(s, "\"\\ud83d\\ude00\"")); /* 1 char, 4 bytes */
    ASSERT_EQ_STR("at (root): string of 1 characters is shorter than "
                  "minLength 2",
                  err);
    ASSERT_EQ_INT(0, check(s, "\"a\\u0000b\"")); /* NUL is a character */
    ASSERT_EQ_INT(0, check(s, "7"));             /* not a string: ignored */
    jschema_free(s);

    s = compile_ok("{\"pattern\":\"^.$\"}"); /* UTF mode: . is a char */
    ASSERT_EQ_INT(0, check(s, "\"\\u00e9\""));
    jschema_free(s);
    s = compile_ok("{\"pattern\":\"b+\"}"); /* unanchored */
    ASSERT_EQ_INT(0, check(s, "\"abbc\""));
    ASSERT_EQ_INT(-1, check(s, "\"ac\""));
    jschema_free(s);

    s = compile_ok("{\"enum\":[1,\"a\",{\"x\":[1.0,null]}]}");
    ASSERT_EQ_INT(0, check(s, "1.0"));
    ASSERT_EQ_INT(0, check(s, "{\"x\":[1,null]}"));
    ASSERT_EQ_INT(-1, check(s, "{\"x\":[1,null],\"y\":1}"));
    ASSERT_EQ_STR("at (root): value is not one of the 3 enum values", err);
    ASSERT_EQ_INT(-1, check(s, "true"));
    jschema_free(s);

    s = compile_ok("{\"prefixItems\":[{\"type\":\"string\"},"
                   "{\"type\":\"integer\"}],\"items\":false}");
    ASSERT_EQ_INT(0, check(s, "[\"a\",1]"));
    ASSERT_EQ_INT(0, check(s, "[\"a\"]"));
    ASSERT_EQ_INT(-1, check(s, "[\"a\",\"b\"]"));
    ASSERT_EQ_STR("at /1: expected integer, got string", err);
    ASSERT_EQ_INT(-1, check(s, "[\"a\",1,2]"));
    ASSERT_EQ_STR("at (root): array of 3 items: no items allowed after the "
                  "first 2",
                  err);
    jschema_free(s);
    s = compile_ok("{\"prefixItems\":[true],\"items\":{\"type\":\"null\"}}");
    ASSERT_EQ_INT(0, check(s, "[5,null,null]"));
    ASSERT_EQ_INT(-1, check(s, "[5,null,1]"));
    ASSERT_EQ_STR("at /2: expected null, got integer", err);
    jschema_free(s);

    s = compile_ok("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}");
    ASSERT_EQ_INT(0, check(s, "1"));
    ASSERT_EQ_INT(-1, check(s, "3"));
    ASSERT_EQ_STR("at (root): value matches oneOf schemas 0 and 1, exactly "
                  "one is allowed",
                  err);
    jschema_free(s);
}

TEST(refs_pointers_and_cycles)
{
    /* ~0 ~1 and %-escapes in pointers, $defs and definitions, "#" */
    struct jschema *s = compile_ok(
        "{\"$defs\":{\"a~b\":{\"type\":\"integer\"},\"c/d\":"
        "{\"type\":\"string\"},\"e%f\":{\"type\":\"null\"},\"g h\":"
        "{\"const\":1}},\"definitions\":{\"old\":{\"type\":\"boolean\"}},"
        "\"properties\":{\"t\":{\"$ref\":\"#/$defs/a~0b\"},"
        "\"s\":{\"$ref\":\"#/$defs/c~1d\"},\"p\":{\"$ref\":\"#/$defs/e%25f\"},"
        "\"q\":{\"$ref\":\"#/$defs/g%20h\"},"
        "\"o\":{\"$ref\":\"#/definitions/old\"},"
        "\"self\":{\"$ref\":\"#\"},\"same\":{\"$ref\":\"#/properties/t\"}}}");
    ASSERT_EQ_INT(0, check(s, "{\"t\":1,\"s\":\"x\",\"p\":null,\"q\":1,"
                              "\"o\":true,\"self\":{\"t\":2},\"same\":3}"));
    ASSERT_EQ_INT(-1, check(s, "{\"self\":{\"self\":{\"s\":1}}}"));
    ASSERT_EQ_STR("at /self/self/s: expected string, got integer", err);
    ASSERT_EQ_INT(-1, check(s, "{\"p\":0}"));
    ASSERT_EQ_INT(-1, check(s, "{\"same\":\"x\"}"));
    ASSERT_EQ_INT(-1, check(s, "{\"q\":2}"));
    jschema_free(s);

    /* loops that never descend into the value are refused */
    ASSERT_TRUE(strstr(refused("{\"$ref\":\"#\"}"), "$ref cycle") != NULL);
    ASSERT_TRUE(strstr(refused("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},"
                               "\"b\":{\"$ref\":\"#/$defs/a\"}},"
                               "\"properties\":{\"x\":{\"$ref\":"
                               "\"#/$defs/a\"}}}"),
                       "$ref cycle") != NULL);
    ASSERT_TRUE(strstr(refused("{\"anyOf\":[{\"type\":\"string\"},"
                               "{\"$ref\":\"#\"}]}"),
                       "$ref cycle at") != NULL);
    ASSERT_TRUE(strstr(refused("{\"not\":{\"allOf\":[{\"$ref\":\"#\"}]}}"),
                       "$ref cycle") != NULL);
    /* ... those through properties/items are fine (a tree) */
    s = compile_ok("{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":"
                   "\"array\",\"items\":{\"$ref\":\"#\"}}}}");
    ASSERT_EQ_INT(0, check(s, "{\"kids\":[{\"kids\":[]},{}]}"));
    ASSERT_EQ_INT(-1, check(s, "{\"kids\":[{\"kids\":[1]}]}"));
    ASSERT_EQ_STR("at /kids/0/kids/0: expected object, got integer", err);
    jschema_free(s);
}

static char *nested(const char *open, const char *mid, const char *close,
                    int depth)
{
    size_t ol = strlen(open), ml = strlen(mid), cl = strlen(close);
    char *b = malloc((size_t)depth * (ol + cl) + ml + 1), *p = b;
    for (int i = 0; i < depth; i++, p += ol)
        memcpy(p, open, ol);
    memcpy(p, mid, ml);
    p += ml;
    for (int i = 0; i < depth; i++, p += cl)
        memcpy(p, close, cl);
    *p = '\0';
    return b;
}

TEST(deep_nesting_is_bounded)
{
    char *t = nested("{\"items\":", "true", "}", 60);
    struct jschema *s = compile_ok(t);
    jschema_free(s);
    free(t);
    t = nested("{\"items\":", "true", "}", JSCHEMA_MAX_DEPTH + 5);
    ASSERT_TRUE(
        strncmp(refused(t), "schema nested deeper than 128 levels", 36) == 0);
    free(t);
    t = nested("{\"not\":", "false", "}", 3000); /* beyond jansson's 2048 */
    ASSERT_TRUE(strncmp(refused(t), "not JSON", 8) == 0);
    free(t);
    /* a long chain of $refs, each to the next */
    char *big = malloc(200000), *p = big;
    p += sprintf(p, "{\"$ref\":\"#/$defs/d0\",\"$defs\":{");
    for (int i = 0; i < 300; i++)
        p += sprintf(p, "%s\"d%d\":{\"$ref\":\"#/$defs/d%d\"}", i ? "," : "", i,
                     i + 1);
    p += sprintf(p, ",\"d300\":true}}");
    ASSERT_TRUE(strstr(refused(big), "longer than 128") != NULL);
    free(big);

    /* payload: recursive schema, value nested past the validator's limit */
    s = compile_ok("{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}");
    t = nested("[", "", "]", 250); /* 2 schema steps a level: items, $ref */
    ASSERT_EQ_INT(0, check(s, t));
    free(t);
    t = nested("[", "", "]", 1000);
    ASSERT_EQ_INT(-1, check(s, t));
    ASSERT_TRUE(strncmp(err, "at /0/0/0/0/", 12) == 0);
    ASSERT_TRUE(strstr(err, ": more than 512 schema levels deep") != NULL);
    free(t);
    t = nested("[", "", "]", 5000); /* jansson refuses past 2048 */
    ASSERT_EQ_INT(-1, check(s, t));
    ASSERT_TRUE(strncmp(err, "not JSON", 8) == 0);
    free(t);
    /* a payload deeper than the schema looks: not walked, fine */
    jschema_free(s);
    s = compile_ok("{\"type\":\"array\"}");
    t = nested("[", "", "]", 2000);
    ASSERT_EQ_INT(0, check(s, t));
    free(t);
    jschema_free(s);
    /* deep equality on deep values */
    s = compile_ok("{\"const\":[[[[[[[[[[1]]]]]]]]]]}");
    t = nested("[", "1", "]", 2000);
    ASSERT_EQ_INT(-1, check(s, t));
    free(t);
    ASSERT_EQ_INT(0, check(s, "[[[[[[[[[[1.0]]]]]]]]]]"));
    jschema_free(s);
}

TEST(huge_and_invalid_inputs)
{
    size_t n = JSCHEMA_MAX_BYTES + 1;
    char *b = malloc(n + 1);
    memset(b, ' ', n);
    b[0] = '{';
    b[n - 1] = '}';
    b[n] = '\0';
    struct jschema *s = jschema_compile(b, n, err, sizeof(err));
    ASSERT_TRUE(s == NULL);
    ASSERT_EQ_STR("schema of 1048577 bytes is larger than 1048576", err);
    free(b);

    s = compile_ok("{\"type\":\"object\",\"properties\":{\"a\":"
                   "{\"type\":\"string\",\"maxLength\":5}}}");
    ASSERT_EQ_INT(-1, jschema_validate(s, "", 0, err, sizeof(err)));
    ASSERT_TRUE(strncmp(err, "not JSON", 8) == 0);
    ASSERT_EQ_INT(-1, check(s, "{\"a\":\"\xff\xfe\"}")); /* bad UTF-8 */
    ASSERT_TRUE(strncmp(err, "not JSON", 8) == 0);
    ASSERT_EQ_INT(-1, check(s, "{\"a\":1,\"a\":2}")); /* duplicate key */
    ASSERT_TRUE(strncmp(err, "not JSON", 8) == 0);
    ASSERT_EQ_INT(-1, check(s, "{} {}"));
    ASSERT_EQ_INT(-1, jschema_validate(s, "{}\0", 3, err, sizeof(err)));
    ASSERT_EQ_INT(0, jschema_validate(s, "{}xyz", 2, err, sizeof(err)));
    /* random bytes: no crash, an answer */
    unsigned seed = 12345;
    char junk[64];
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(rand_r(&seed) % (int)sizeof(junk));
        for (size_t i = 0; i < len; i++)
            junk[i] = "{}[]\":,ab1.-e \\u0"[rand_r(&seed) % 17];
        int r = jschema_validate(s, junk, len, err, sizeof(err));
        ASSERT_TRUE(r == 0 || r == -1);
        struct jschema *t = jschema_compile(junk, len, err, sizeof(err));
        jschema_free(t);
    }
    /* a tiny error buffer is truncated, not overrun */
    char tiny[8];
    ASSERT_EQ_INT(
        -1, jschema_validate(s, "{\"a\":\"toolong\"}", 15, tiny, sizeof(tiny)));
    ASSERT_EQ_STR("at /a: ", tiny);
    ASSERT_EQ_INT(-1, jschema_validate(s, "[", 1, tiny, sizeof(tiny)));
    ASSERT_EQ_INT(-1, jschema_validate(s, "[", 1, NULL, 0));
    ASSERT_TRUE(jschema_compile("{\"x\":1}", 7, NULL, 0) == NULL);
    /* a 1 MiB string payload */
    n = 1 << 20;
    b = malloc(n + 16);
    memcpy(b, "{\"b\":\"", 6);
    memset(b + 6, 'x', n);
    memcpy(b + 6 + n, "\"}", 3);
    ASSERT_EQ_INT(0, check(s, b));
    free(b);
    jschema_free(s);

    /* uniqueItems on a large array: sorted by hash, not pairwise */
    s = compile_ok("{\"uniqueItems\":true}");
    b = malloc(2000000);
    char *p = b;
    *p++ = '[';
    for (int i = 0; i < 100000; i++)
        p += sprintf(p, "%s{\"k\":%d}", i ? "," : "", i);
    strcpy(p, "]");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ASSERT_EQ_INT(0, check(s, b));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ASSERT_TRUE(t1.tv_sec - t0.tv_sec < 5);
    strcpy(p, ",{\"k\":5.0}]");
    ASSERT_EQ_INT(-1, check(s, b));
    ASSERT_EQ_STR("at (root): items 5 and 100000 are equal (uniqueItems)", err);
    free(b);
    jschema_free(s);

    /* catastrophic backtracking ends (match limit), with an answer */
    s = compile_ok("{\"pattern\":\"^(a+)+$\"}");
    b = malloc(20000);
    memset(b, 'a', 19990);
    b[0] = '"';
    memcpy(b + 19990, "b\"", 3);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ASSERT_EQ_INT(-1, check(s, b));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ASSERT_TRUE(t1.tv_sec - t0.tv_sec < 5);
    free(b);
    jschema_free(s);
}

struct worker {
    const struct jschema *s;
    int bad;
};

static void *validate_many(void *arg)
{
    struct worker *w = arg;
    char e[256];
    for (int i = 0; i < 2000; i++) {
        w->bad +=
            jschema_validate(w->s, "{\"a\":\"abc\"}", 11, e, sizeof(e)) != 0;
        w->bad +=
            jschema_validate(w->s, "{\"a\":\"xyz\"}", 11, e, sizeof(e)) != -1;
    }
    return NULL;
}

TEST(threads_share_a_schema)
{
    struct jschema *s = compile_ok("{\"properties\":{\"a\":{\"pattern\":"
                                   "\"^a\"}}}");
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i].s = s;
        w[i].bad = 0;
        ASSERT_EQ_INT(0, pthread_create(&th[i], NULL, validate_many, &w[i]));
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ASSERT_EQ_INT(0, w[i].bad);
    }
    jschema_free(s);
}

/* The one-pass path tries each member name in the schema's order first
 * (members usually come in that order): names in another order, repeated,
 * spelled with escapes, longer than a word, or prefixes of a declared name
 * must be judged exactly as the DOM path judges them. */
TEST(fast_path_member_order)
{
    struct jschema *s = compile_ok(
        "{\"type\":\"object\",\"additionalProperties\":false,"
        "\"required\":[\"id\",\"timestamp\"],\"properties\":{"
        "\"id\":{\"type\":\"string\"},\"timestamp\":{\"type\":\"integer\"},"
        "\"a\\\"q\":{\"type\":\"integer\"},\"\":{\"type\":\"null\"},"
        "\"customer_reference\":{\"type\":\"string\"}}}");
    static const struct {
        const char *doc;
        int fast; /* JSCHEMA_FAST_* */
    } cases[] = {
        {"{\"id\":\"x\",\"timestamp\":1,\"customer_reference\":\"c\"}", 0},
        {"{\"timestamp\":1,\"id\":\"x\"}", 0},                /* other order */
        {"{\"id\":\"x\",\"id\":\"y\",\"timestamp\":1}", 1},   /* repeated */
        {"{\"id\":\"x\",\"timestamp\":1,\"timestamp\":2}", 1},
        {"{\"\\u0069d\":\"x\",\"timestamp\":1}", 0},          /* escaped */
        {"{\"i\":\"x\",\"timestamp\":1}", 1},                  /* a prefix */
        {"{\"id\":\"x\",\"timestam\":1}", 1},
        {"{\"id\":\"x\",\"timestamps\":1}", 1},                /* longer */
        {"{\"id\":\"x\",\"timestamp\":1,\"a\\\"q\":2}", 0},     /* escaped key */
        {"{\"id\":\"x\",\"timestamp\":1,\"\":null}", 0},       /* empty key */
        {"{\"id\":\"x\",\"timestamp\":1,\"\":1}", 1},
        {"{\"id\":\"x\",\"timestamp\":1,\"customer_referencf\":\"c\"}", 1},
        {"{\"id\":\"x\",\"timestamp\":1,\"customer_reference\":1}", 1},
        {"{\"id\":\"x\",\"timestamp\"", 1},                    /* cut short */
        {"{\"id\":\"x\",\"timestamp", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *d = cases[i].doc;
        int fast = jschema_validate_fast(s, d, strlen(d));
        int dom = jschema_validate_dom(s, d, strlen(d), err, sizeof(err));
        if (fast != cases[i].fast || (dom == 0) != (cases[i].fast == 0))
            fprintf(stderr, "  case %zu %s: fast %d dom %d\n", i, d, fast, dom);
        ASSERT_EQ_INT(cases[i].fast, fast);
        ASSERT_EQ_INT(cases[i].fast == 0, dom == 0);
    }
    jschema_free(s);
}

/* ------------------------------------------------------ compatibility */

#define OBJ(props, req)                                                        \
    "{\"type\":\"object\",\"properties\":{" props "},\"required\":[" req "]}"

TEST(compat_required)
{
    ASSERT_EQ_INT(0, compatible(OBJ("\"sku\":{\"type\":\"string\"}", "\"sku\""),
                                OBJ("\"sku\":{\"type\":\"string\"}", "")));
    ASSERT_EQ_INT(-1,
                  compatible(OBJ("\"sku\":{\"type\":\"string\"}", ""),
                             OBJ("\"sku\":{\"type\":\"string\"}", "\"sku\"")));
    ASSERT_EQ_STR("/properties/sku: made required", err);
    ASSERT_EQ_INT(-1, compatible("{\"properties\":{\"a\":{\"properties\":{}}}}",
                                 "{\"properties\":{\"a\":{\"required\":"
                                 "[\"b\"]}}}"));
    ASSERT_EQ_STR("/properties/a/properties/b: made required", err);
}

TEST(compat_type)
{
    ASSERT_EQ_INT(
        0, compatible("{\"type\":\"integer\"}", "{\"type\":\"number\"}"));
    ASSERT_EQ_INT(0, compatible("{\"type\":\"string\"}",
                                "{\"type\":[\"string\",\"null\"]}"));
    ASSERT_EQ_INT(
        -1, compatible("{\"type\":\"number\"}", "{\"type\":\"integer\"}"));
    ASSERT_EQ_STR("(root): type narrowed: number no longer allowed", err);
    ASSERT_EQ_INT(-1,
                  compatible(OBJ("\"a\":{\"type\":[\"string\",\"null\"]}", ""),
                             OBJ("\"a\":{\"type\":\"string\"}", "")));
    ASSERT_EQ_STR("/properties/a: type narrowed: null no longer allowed", err);
    ASSERT_EQ_INT(-1, compatible("{}", "{\"type\":\"object\"}"));
}

TEST(compat_enum_and_const)
{
    ASSERT_EQ_INT(0, compatible("{\"enum\":[\"a\",\"b\"]}",
                                "{\"enum\":[\"b\",\"a\",\"c\"]}"));
    ASSERT_EQ_INT(-1,
                  compatible("{\"enum\":[\"a\",\"b\"]}", "{\"enum\":[\"a\"]}"));
    ASSERT_EQ_STR("(root): enum value \"b\" removed", err);
    ASSERT_EQ_INT(-1, compatible("{}", "{\"enum\":[1]}"));
    ASSERT_EQ_STR("(root): enum added", err);
    ASSERT_EQ_INT(0, compatible("{\"const\":1}", "{\"enum\":[1.0,2]}"));
    ASSERT_EQ_INT(0, compatible("{\"enum\":[1]}", "{\"const\":1}"));
    ASSERT_EQ_INT(-1, compatible("{\"const\":1}", "{\"const\":2}"));
    ASSERT_EQ_STR("(root): const changed", err);
}

TEST(compat_additional_properties)
{
    ASSERT_EQ_INT(0, compatible("{\"additionalProperties\":false}",
                                "{\"additionalProperties\":true}"));
    ASSERT_EQ_INT(-1, compatible("{\"properties\":{\"a\":true}}",
                                 "{\"properties\":{\"a\":true},"
                                 "\"additionalProperties\":false}"));
    ASSERT_EQ_STR("(root): additionalProperties closed", err);
    ASSERT_EQ_INT(-1, compatible("{\"additionalProperties\":{\"type\":"
                                 "[\"string\",\"integer\"]}}",
                                 "{\"additionalProperties\":{\"type\":"
                                 "\"string\"}}"));
    ASSERT_EQ_STR("/additionalProperties: type narrowed: integer no longer "
                  "allowed",
                  err);
    /* a new property: fine where old was open (the leniency), checked
     * against old's additionalProperties where that was a schema */
    ASSERT_EQ_INT(0, compatible("{\"properties\":{\"a\":true}}",
                                "{\"properties\":{\"a\":true,\"b\":"
                                "{\"type\":\"string\"}}}"));
    ASSERT_EQ_INT(0, compatible("{\"additionalProperties\":false}",
                                "{\"properties\":{\"b\":{\"type\":"
                                "\"string\"}},\"additionalProperties\":"
                                "false}"));
    ASSERT_EQ_INT(-1, compatible("{\"additionalProperties\":{\"type\":"
                                 "\"integer\"}}",
                                 "{\"properties\":{\"b\":{\"type\":"
                                 "\"string\"}},\"additionalProperties\":"
                                 "{\"type\":\"integer\"}}"));
    ASSERT_EQ_STR("/properties/b: type narrowed: integer no longer allowed",
                  err);
    /* a property removed where no others may appear */
    ASSERT_EQ_INT(-1, compatible("{\"properties\":{\"a\":true},"
                                 "\"additionalProperties\":false}",
                                 "{\"additionalProperties\":false}"));
    ASSERT_EQ_STR("(root): property 'a' removed while additionalProperties "
                  "is false",
                  err);
    ASSERT_EQ_INT(0, compatible("{\"properties\":{\"a\":true}}", "{}"));
}

TEST(compat_bounds)
{
    ASSERT_EQ_INT(0, compatible("{\"minimum\":5,\"maximum\":10}",
                                "{\"minimum\":0,\"maximum\":10.5}"));
    ASSERT_EQ_INT(0, compatible("{\"exclusiveMinimum\":5}", "{\"minimum\":5}"));
    ASSERT_EQ_INT(-1,
                  compatible("{\"minimum\":5}", "{\"exclusiveMinimum\":5}"));
    ASSERT_EQ_STR("(root): exclusiveMinimum added (5)", err);
    ASSERT_EQ_INT(-1, compatible("{\"minimum\":0}", "{\"minimum\":1}"));
    ASSERT_EQ_STR("(root): minimum tightened (0 -> 1)", err);
    ASSERT_EQ_INT(-1, compatible("{\"maximum\":10}", "{\"maximum\":9.5}"));
    ASSERT_EQ_STR("(root): maximum tightened (10 -> 9.5)", err);
    ASSERT_EQ_INT(-1, compatible("{}", "{\"maximum\":1}"));
    ASSERT_EQ_STR("(root): maximum added (1)", err);
    ASSERT_EQ_INT(0, compatible("{\"minLength\":2,\"maxLength\":5}",
                                "{\"minLength\":1,\"maxLength\":6}"));
    ASSERT_EQ_INT(-1, compatible("{\"maxLength\":5}", "{\"maxLength\":4}"));
    ASSERT_EQ_STR("(root): maxLength tightened (5 -> 4)", err);
    ASSERT_EQ_INT(-1, compatible("{}", "{\"minItems\":1}"));
    ASSERT_EQ_STR("(root): minItems added (1)", err);
    ASSERT_EQ_INT(0, compatible("{}", "{\"minItems\":0}"));
    ASSERT_EQ_INT(-1,
                  compatible("{\"maxProperties\":3}", "{\"maxProperties\":2}"));
    ASSERT_EQ_INT(0,
                  compatible("{\"pattern\":\"^a\"}", "{\"pattern\":\"^a\"}"));
    ASSERT_EQ_INT(-1,
                  compatible("{\"pattern\":\"^a\"}", "{\"pattern\":\"^b\"}"));
    ASSERT_EQ_STR("(root): pattern changed", err);
    ASSERT_EQ_INT(-1, compatible("{}", "{\"uniqueItems\":true}"));
    ASSERT_EQ_STR("(root): uniqueItems added", err);
    ASSERT_EQ_INT(0, compatible("{\"uniqueItems\":true}", "{}"));
}

TEST(compat_items_refs_and_logic)
{
    ASSERT_EQ_INT(0, compatible("{\"items\":{\"type\":\"integer\"}}",
                                "{\"items\":{\"type\":\"number\"}}"));
    ASSERT_EQ_INT(-1, compatible("{\"items\":{\"type\":\"number\"}}",
                                 "{\"items\":{\"type\":\"integer\"}}"));
    ASSERT_EQ_STR("/items: type narrowed: number no longer allowed", err);
    ASSERT_EQ_INT(-1, compatible("{\"prefixItems\":[true]}",
                                 "{\"prefixItems\":[{\"type\":\"string\"}]}"));
    ASSERT_EQ_STR("/prefixItems/0: type narrowed: null no longer allowed", err);
    /* through $ref, also recursive ones (terminates) */
    const char *tree_old = "{\"$defs\":{\"n\":{\"type\":\"object\","
                           "\"properties\":{\"v\":{\"type\":\"integer\"},"
                           "\"kids\":{\"items\":{\"$ref\":\"#/$defs/n\"}}}}},"
                           "\"$ref\":\"#/$defs/n\"}";
    const char *tree_wide = "{\"type\":\"object\",\"properties\":{\"v\":"
                            "{\"type\":\"number\"},\"kids\":{\"items\":"
                            "{\"$ref\":\"#\"}}}}";
    const char *tree_req = "{\"type\":\"object\",\"properties\":{\"v\":"
                           "{\"type\":\"number\"},\"kids\":{\"items\":"
                           "{\"$ref\":\"#\"}}},\"required\":[\"v\"]}";
    ASSERT_EQ_INT(0, compatible(tree_old, tree_wide));
    ASSERT_EQ_INT(-1, compatible(tree_old, tree_req));
    ASSERT_EQ_STR("/properties/v: made required", err);
    ASSERT_EQ_INT(0, compatible(tree_wide, tree_wide));

    ASSERT_EQ_INT(0, compatible("{\"anyOf\":[{\"type\":\"string\"}]}",
                                "{\"anyOf\":[{\"type\":\"string\"},"
                                "{\"type\":\"null\"}]}"));
    ASSERT_EQ_INT(-1, compatible("{\"anyOf\":[{\"type\":\"string\"},"
                                 "{\"type\":\"null\"}]}",
                                 "{\"anyOf\":[{\"type\":\"string\"}]}"));
    ASSERT_EQ_STR("(root): anyOf alternative removed", err);
    ASSERT_EQ_INT(0, compatible("{\"allOf\":[{\"minimum\":1}]}", "{}"));
    ASSERT_EQ_INT(-1, compatible("{}", "{\"allOf\":[{\"minimum\":1}]}"));
    ASSERT_EQ_STR("(root): allOf added", err);
    ASSERT_EQ_INT(0, compatible("{\"oneOf\":[{\"type\":\"string\"}]}",
                                "{\"oneOf\":[{\"type\":\"string\"}]}"));
    ASSERT_EQ_INT(-1, compatible("{\"oneOf\":[{\"type\":\"string\"}]}",
                                 "{\"oneOf\":[{\"type\":[\"string\","
                                 "\"null\"]}]}"));
    ASSERT_EQ_STR("/oneOf/0: oneOf branch changed", err);
    ASSERT_EQ_INT(0, compatible("{\"not\":{\"type\":[\"string\",\"null\"]}}",
                                "{\"not\":{\"type\":\"string\"}}"));
    ASSERT_EQ_INT(-1, compatible("{\"not\":{\"type\":\"string\"}}",
                                 "{\"not\":{\"type\":[\"string\","
                                 "\"null\"]}}"));
    ASSERT_EQ_STR("/not: schema under 'not' widened", err);
    ASSERT_EQ_INT(0, compatible("false", "{\"type\":\"string\"}"));
    ASSERT_EQ_INT(-1, compatible("{\"type\":\"string\"}", "false"));
    ASSERT_EQ_STR("(root): schema is now false (nothing is valid)", err);
    ASSERT_EQ_INT(0, compatible("{\"type\":\"string\"}", "true"));
    /* each boolean schema has its own location (libjansson shares the
     * value) */
    ASSERT_EQ_INT(-1, compatible("{\"properties\":{\"a\":false,\"b\":true}}",
                                 "{\"properties\":{\"a\":false,\"b\":false}}"));
    ASSERT_EQ_STR("/properties/b: schema is now false (nothing is valid)", err);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(error_paths_name_the_field),
                                     T(compile_errors_name_keyword_and_path),
                                     T(numbers_strings_and_values),
                                     T(refs_pointers_and_cycles),
                                     T(deep_nesting_is_bounded),
                                     T(huge_and_invalid_inputs),
                                     T(threads_share_a_schema),
                                     T(fast_path_member_order),
                                     T(compat_required),
                                     T(compat_type),
                                     T(compat_enum_and_const),
                                     T(compat_additional_properties),
                                     T(compat_bounds),
                                     T(compat_items_refs_and_logic),
                                     {0}});
}
