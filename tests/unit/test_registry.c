/* test_registry.c - the type registry (records round trip, producer counts,
 * corrupt records) and the manifest's Mermaid label escaping. Pure. */
#include "registry.h"

#include <string.h>

#include "common.h"
#include "errors.h"
#include "manifest.h"
#include "test.h"

#define S(x) x, strlen(x)

static struct type_entry *set_json(struct registry *r, const char *t, const char *src,
                                   uint64_t now)
{
    char err[256];
    struct type_def d = {0};
    d.kind = TYPE_STATE;
    d.owner = "shop";
    d.owner_len = 4;
    d.set_schema = 1;
    d.schema_kind = SCHEMA_JSON;
    d.schema_src = (const uint8_t *)src;
    d.schema_len = strlen(src);
    d.schema = schema_compile(SCHEMA_JSON, d.schema_src, d.schema_len, NULL, NULL, 0,
                              err, sizeof(err));
    ASSERT_TRUE(d.schema != NULL);
    int changed;
    struct type_entry *e = registry_set(r, S(t), &d, now, &changed);
    ASSERT_EQ_INT(1, changed);
    return e;
}

TEST(set_versions_and_del)
{
    struct registry *r = registry_new();
    struct type_entry *e = set_json(r, "a.b", "{}", 10);
    ASSERT_EQ_U64(1, e->version);
    ASSERT_EQ_U64(10, e->created_ms);
    struct type_def same = {0};
    same.kind = -1;
    int changed;
    registry_set(r, S("a.b"), &same, 20, &changed); /* nothing given */
    ASSERT_EQ_INT(0, changed);
    e = set_json(r, "a.b", "{\"type\":\"object\"}", 30);
    ASSERT_EQ_U64(2, e->version);
    ASSERT_EQ_U64(10, e->created_ms);
    ASSERT_EQ_U64(30, e->updated_ms);
    ASSERT_EQ_U64(1, registry_registered(r));
    registry_note(r, NULL, S("a.b"), S("svc"), 40);
    ASSERT_EQ_INT(1, registry_del(r, S("a.b")));
    ASSERT_EQ_INT(0, registry_del(r, S("a.b")));
    /* the producer stats keep the entry */
    e = registry_find(r, S("a.b"));
    ASSERT_TRUE(e != NULL && !e->registered && e->nproducers == 1);
    ASSERT_EQ_U64(0, registry_registered(r));
    registry_free(r);
}

TEST(producers_cap_and_unnamed)
{
    struct registry *r = registry_new();
    char name[16];
    for (int i = 0; i < REGISTRY_PRODUCERS_MAX + 5; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        registry_note(r, NULL, S("t.x"), S(name), (uint64_t)i + 1);
    }
    registry_note(r, NULL, S("t.x"), NULL, 0, 100);
    registry_note(r, NULL, S("t.x"), S("p0"), 200);
    struct type_entry *e = registry_find(r, S("t.x"));
    ASSERT_EQ_U64(REGISTRY_PRODUCERS_MAX + 1, e->nproducers);
    ASSERT_EQ_STR("p0", e->producers[0].name);
    ASSERT_EQ_U64(2, e->producers[0].count);
    ASSERT_EQ_U64(1, e->producers[0].first_seen);
    ASSERT_EQ_U64(200, e->producers[0].last_seen);
    ASSERT_EQ_STR(REGISTRY_OTHER, e->producers[REGISTRY_PRODUCERS_MAX].name);
    ASSERT_EQ_U64(6, e->producers[REGISTRY_PRODUCERS_MAX].count); /* 5 + unnamed */
    ASSERT_TRUE(registry_dirty(r) == e && e->dirty_next == NULL);
    registry_dirty_clear(r);
    ASSERT_TRUE(registry_dirty(r) == NULL);
    registry_free(r);
}

struct copy {
    struct registry *to;
    struct sbuf b;
    size_t bad;
};

static void copy_one(void *ctx, struct type_entry *e)
{
    struct copy *c = ctx;
    char err[200];
    if (e->registered) {
        registry_rec_set(&c->b, e);
        ASSERT_EQ_INT(0, registry_recover(c->to, REGISTRY_REC_SET,
                                          (const uint8_t *)c->b.data, c->b.len,
                                          &c->bad, err, sizeof(err)));
    }
    if (e->nproducers) {
        registry_rec_producers(&c->b, e);
        ASSERT_EQ_INT(0, registry_recover(c->to, REGISTRY_REC_PRODUCERS,
                                          (const uint8_t *)c->b.data, c->b.len,
                                          &c->bad, err, sizeof(err)));
    }
}

TEST(records_round_trip)
{
    struct registry *r = registry_new();
    set_json(r, "o.c", "{\"required\":[\"id\"]}", 5);
    registry_note(r, NULL, S("o.c"), S("shop"), 7);
    registry_note(r, NULL, S("plain"), NULL, 0, 8);
    struct copy c = {registry_new(), {0}, 0};
    sbuf_init(&c.b);
    registry_foreach(r, copy_one, &c);
    ASSERT_EQ_U64(0, c.bad);
    struct type_entry *e = registry_find(c.to, S("o.c"));
    ASSERT_TRUE(e && e->registered && e->schema != NULL);
    ASSERT_EQ_STR("shop", e->owner);
    ASSERT_EQ_INT(TYPE_STATE, e->kind);
    ASSERT_EQ_MEM("{\"required\":[\"id\"]}", 19, e->schema_src, e->schema_len);
    ASSERT_EQ_U64(1, e->producers[0].count);
    char err[200];
    ASSERT_EQ_INT(-1, schema_validate(e->schema, (const uint8_t *)"{}", 2, err, sizeof(err)));
    e = registry_find(c.to, S("plain"));
    ASSERT_TRUE(e && !e->registered);
    ASSERT_EQ_STR(REGISTRY_UNNAMED, e->producers[0].name);
    /* DEL, then every cut of a SET record is corrupt, never a crash */
    registry_rec_del(&c.b, S("o.c"));
    ASSERT_EQ_INT(0, registry_recover(c.to, REGISTRY_REC_DEL, (const uint8_t *)c.b.data,
                                      c.b.len, &c.bad, err, sizeof(err)));
    ASSERT_TRUE(!registry_find(c.to, S("o.c"))->registered);
    registry_rec_set(&c.b, registry_find(r, S("o.c")));
    for (size_t n = 0; n < c.b.len; n++)
        ASSERT_EQ_INT(ERR_CORRUPT, registry_recover(c.to, REGISTRY_REC_SET,
                                                    (const uint8_t *)c.b.data, n, &c.bad,
                                                    err, sizeof(err)));
    ASSERT_EQ_INT(ERR_CORRUPT, registry_recover(c.to, 9, NULL, 0, &c.bad, err, sizeof(err)));
    sbuf_deinit(&c.b);
    registry_free(c.to);
    registry_free(r);
}

TEST(bad_schema_at_recovery_is_kept_and_counted)
{
    struct registry *r = registry_new();
    set_json(r, "o.c", "{}", 5);
    struct type_entry *e = registry_find(r, S("o.c"));
    /* as if a newer server refused what an older one stored */
    free(e->schema_src);
    e->schema_src = (uint8_t *)xstrdup("{nope");
    e->schema_len = 5;
    struct sbuf b;
    sbuf_init(&b);
    registry_rec_set(&b, e);
    struct registry *to = registry_new();
    size_t bad = 0;
    char err[200];
    ASSERT_EQ_INT(0, registry_recover(to, REGISTRY_REC_SET, (const uint8_t *)b.data, b.len,
                                      &bad, err, sizeof(err)));
    ASSERT_EQ_U64(1, bad);
    e = registry_find(to, S("o.c"));
    ASSERT_TRUE(e->schema == NULL && e->schema_error != NULL);
    ASSERT_EQ_INT(SCHEMA_JSON, e->schema_kind);
    sbuf_deinit(&b);
    registry_free(to);
    registry_free(r);
}

TEST(mermaid_labels)
{
    struct sbuf b;
    sbuf_init(&b);
    manifest_mermaid_label(&b, S("order.created"));
    ASSERT_EQ_STR("\"order.created\"", b.data);
    sbuf_clear(&b);
    manifest_mermaid_label(&b, S(" a\"b]#<\n"));
    ASSERT_EQ_STR("\"#32;a#34;b#93;#35;#60;#10;\"", b.data);
    sbuf_clear(&b);
    manifest_mermaid_label(&b, S("z\xc3\xa9 \xff\xe2\x82"));
    ASSERT_EQ_STR("\"z#233; #65533;#65533;#65533;\"", b.data);
    sbuf_clear(&b);
    manifest_mermaid_label(&b, "a\0b", 3);
    ASSERT_EQ_STR("\"a#0;b\"", b.data);
    sbuf_deinit(&b);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){
                         T(set_versions_and_del),
                         T(producers_cap_and_unnamed),
                         T(records_round_trip),
                         T(bad_schema_at_recovery_is_kept_and_counted),
                         T(mermaid_labels),
                         {0},
                     });
}
