/* The official JSON-Schema-Test-Suite (Debian json-schema-test-suite) run
 * against src/contract/jsonschema.c.
 *
 * Debian 12 ships version 2.0.0, whose newest draft is draft7; the files are
 * read from SUITE_DIR (or $JSCHEMA_SUITE_DIR). For every keyword file we
 * claim, every case must pass, or its schema must be refused at compile time
 * for a reason listed in `refusals` below (each with why it is outside the
 * subset; docs/contracts.md has the same list). A refusal not in the list,
 * a listed refusal that no longer happens, or any wrong answer fails.
 *
 * The other files (keywords we do not implement) are run too: there, every
 * schema that uses the keyword must be refused, and any schema that compiles
 * must answer every case right: an unsupported keyword is never ignored.
 *
 * Every case runs through both paths of jschema_validate: the DOM path
 * (jschema_validate_dom) and the one-pass path (jschema_validate_fast), which
 * must give the same verdict whenever it does not say it cannot tell; and
 * jschema_validate must answer as the DOM path, message included. */
#include "test.h"

#include "jsonschema.h"

#include <jansson.h>

#define SUITE_DIR "/usr/share/json-schema-test-suite/tests/draft7"

static const char *const claimed[] = {
    "additionalProperties.json",
    "allOf.json",
    "anyOf.json",
    "boolean_schema.json",
    "const.json",
    "default.json",
    "definitions.json",
    "enum.json",
    "exclusiveMaximum.json",
    "exclusiveMinimum.json",
    "items.json",
    "maxItems.json",
    "maxLength.json",
    "maxProperties.json",
    "maximum.json",
    "minItems.json",
    "minLength.json",
    "minProperties.json",
    "minimum.json",
    "not.json",
    "oneOf.json",
    "pattern.json",
    "properties.json",
    "ref.json",
    "required.json",
    "type.json",
    "uniqueItems.json",
    NULL,
};

/* Keyword files outside the subset (refused when the keyword is used). */
static const char *const unclaimed[] = {
    "additionalItems.json", "contains.json",   "dependencies.json",
    "if-then-else.json",    "multipleOf.json", "patternProperties.json",
    "propertyNames.json",   "refRemote.json",  NULL,
};

/* Groups of claimed files whose schema is outside the subset: file, group
 * description, a piece of the compile error. */
static const struct refusal {
    const char *file, *group, *why;
    int hit;
} refusals_init[] = {
    /* patternProperties is not in the subset */
    {"additionalProperties.json",
     "additionalProperties being false does not allow other properties",
     "unsupported keyword 'patternProperties'", 0},
    {"additionalProperties.json", "non-ASCII pattern with additionalProperties",
     "unsupported keyword 'patternProperties'", 0},
    {"properties.json",
     "properties, patternProperties, additionalProperties interaction",
     "unsupported keyword 'patternProperties'", 0},
    /* both validate against the draft-07 meta-schema by its URL */
    {"definitions.json", "valid definition",
     "$ref 'http://json-schema.org/draft-07/schema#'", 0},
    {"definitions.json", "invalid definition",
     "$ref 'http://json-schema.org/draft-07/schema#'", 0},
    {"ref.json", "remote ref, containing refs itself",
     "$ref 'http://json-schema.org/draft-07/schema#'", 0},
    /* draft-7 tuple form of items; 2020-12 spells it prefixItems */
    {"items.json", "an array of schemas for items", "the draft-7 tuple form",
     0},
    {"items.json", "items with boolean schemas", "the draft-7 tuple form", 0},
    {"ref.json", "relative pointer ref to array", "the draft-7 tuple form", 0},
    /* the $ref targets sit under made-up keywords at the root */
    {"ref.json", "escaped pointer ref", "unsupported keyword 'tilda~field'", 0},
    /* draft 7 ignores siblings of $ref, 2020-12 applies them */
    {"ref.json", "ref overrides any sibling keywords",
     "'$ref' beside 'maxItems'", 0},
    /* resolution against $id in subschemas */
    {"ref.json", "Recursive references between schemas",
     "$id below the root is not supported", 0},
    {NULL, NULL, NULL, 0},
};

static struct refusal
    refusals[sizeof(refusals_init) / sizeof(refusals_init[0])];

static struct refusal *find_refusal(const char *file, const char *group)
{
    for (struct refusal *r = refusals; r->file; r++)
        if (strcmp(r->file, file) == 0 && strcmp(r->group, group) == 0)
            return r;
    return NULL;
}

struct tally {
    int passed, failed, refused;
    int fast, unsure; /* cases the one-pass path decided / left to the DOM */
};

/* Both paths of jschema_validate on one case: the DOM path's verdict, the
 * one-pass path's (unless it cannot tell) and jschema_validate's must all
 * be the same. 1 valid, 0 invalid, -1 the paths disagree. */
static int both_paths(const struct jschema *s, const char *data,
                      struct tally *t, char *err, size_t errlen)
{
    char derr[512] = "";
    int dom =
        jschema_validate_dom(s, data, strlen(data), derr, sizeof(derr)) == 0;
    int fast = jschema_validate_fast(s, data, strlen(data));
    int got = jschema_validate(s, data, strlen(data), err, errlen) == 0;
    if (fast == JSCHEMA_FAST_UNSURE)
        t->unsure++;
    else
        t->fast++;
    if (got != dom || (!got && strcmp(err, derr) != 0) ||
        (fast != JSCHEMA_FAST_UNSURE && (fast == JSCHEMA_FAST_VALID) != dom)) {
        fprintf(stderr, "  FAIL paths disagree on %s: dom %d fast %d (%s)\n",
                data, dom, fast, derr);
        return -1;
    }
    return got;
}

/* Runs one file; claimed files may refuse only the listed groups. */
static struct tally run_file(const char *dir, const char *file, int is_claimed)
{
    struct tally t = {0, 0, 0, 0, 0};
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    json_error_t jerr;
    json_t *groups = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (!json_is_array(groups)) {
        fprintf(stderr, "  %s: cannot read: %s\n", path, jerr.text);
        t.failed = 1;
        json_decref(groups);
        return t;
    }
    for (size_t g = 0; g < json_array_size(groups); g++) {
        json_t *grp = json_array_get(groups, g);
        const char *desc =
            json_string_value(json_object_get(grp, "description"));
        json_t *tests = json_object_get(grp, "tests");
        char *schema = json_dumps(json_object_get(grp, "schema"),
                                  JSON_ENCODE_ANY | JSON_COMPACT);
        char err[512];
        struct jschema *s =
            jschema_compile(schema, strlen(schema), err, sizeof(err));
        free(schema);
        if (!s) {
            struct refusal *r = is_claimed ? find_refusal(file, desc) : NULL;
            if (is_claimed && (!r || !strstr(err, r->why))) {
                fprintf(stderr, "  FAIL %s / %s: refused unexpectedly: %s\n",
                        file, desc, err);
                t.failed += (int)json_array_size(tests);
                continue;
            }
            if (r)
                r->hit = 1;
            printf("  refused %s / %s (%zu cases): %s\n", file, desc,
                   json_array_size(tests), err);
            t.refused += (int)json_array_size(tests);
            continue;
        }
        if (is_claimed && find_refusal(file, desc))
            fprintf(stderr, "  note %s / %s: listed as refused, compiles\n",
                    file, desc);
        for (size_t i = 0; i < json_array_size(tests); i++) {
            json_t *tc = json_array_get(tests, i);
            char *data = json_dumps(json_object_get(tc, "data"),
                                    JSON_ENCODE_ANY | JSON_COMPACT);
            int want = json_is_true(json_object_get(tc, "valid"));
            int got = both_paths(s, data, &t, err, sizeof(err));
            if (got == want) {
                t.passed++;
            } else {
                t.failed++;
                fprintf(stderr, "  FAIL %s / %s / %s: want %s, got %s (%s)\n",
                        file, desc,
                        json_string_value(json_object_get(tc, "description")),
                        want ? "valid" : "invalid", got ? "valid" : "invalid",
                        got ? "-" : err);
            }
            free(data);
        }
        jschema_free(s);
    }
    json_decref(groups);
    return t;
}

static const char *suite_dir(void)
{
    const char *d = getenv("JSCHEMA_SUITE_DIR");
    return d && *d ? d : SUITE_DIR;
}

TEST(claimed_keywords_pass)
{
    memcpy(refusals, refusals_init, sizeof(refusals));
    struct tally all = {0, 0, 0, 0, 0};
    printf("  JSON-Schema-Test-Suite %s\n", suite_dir());
    for (const char *const *f = claimed; *f; f++) {
        struct tally t = run_file(suite_dir(), *f, 1);
        printf("  %-26s %3d passed, %d failed, %2d refused (outside the "
               "subset)\n",
               *f, t.passed, t.failed, t.refused);
        all.passed += t.passed;
        all.failed += t.failed;
        all.refused += t.refused;
        all.fast += t.fast;
        all.unsure += t.unsure;
    }
    printf("  claimed total: %d passed, %d failed, %d refused; one-pass "
           "path decided %d, left %d to the DOM path (both agree on all)\n",
           all.passed, all.failed, all.refused, all.fast, all.unsure);
    int stale = 0;
    for (struct refusal *r = refusals; r->file; r++)
        if (!r->hit) {
            fprintf(stderr,
                    "  FAIL listed refusal no longer refused: %s / %s\n",
                    r->file, r->group);
            stale++;
        }
    ASSERT_EQ_INT(0, all.failed);
    ASSERT_EQ_INT(0, stale);
    ASSERT_TRUE(all.passed >= 263); /* draft7 of suite 2.0.0: none lost */
}

TEST(unclaimed_keywords_are_refused_not_ignored)
{
    int failed = 0;
    for (const char *const *f = unclaimed; *f; f++) {
        struct tally t = run_file(suite_dir(), *f, 0);
        printf("  %-26s %3d passed, %d failed, %2d refused, %d one-pass\n", *f,
               t.passed, t.failed, t.refused, t.fast);
        failed += t.failed;
    }
    ASSERT_EQ_INT(0, failed);
}

int main(int argc, char **argv)
{
    return test_main(
        argc, argv,
        (struct test[]){T(claimed_keywords_pass),
                        T(unclaimed_keywords_are_refused_not_ignored),
                        {0}});
}
