/* pbschema: varint edges, table lookups, depth limits, compile errors and the
 * evolution rules, on descriptor sets built here with protobuf-c's generated
 * descriptor.proto code (the real-protoc proof is tests/integration/
 * test_pbschema.py). */
#include "test.h"

#include "google/protobuf/descriptor.pb-c.h"
#include "pbschema.h"

/* One field of a test message: type 11/10/14 take type_name. */
struct fdef {
    const char *name;
    int number, label, type;
    const char *type_name;
};

enum { OPT = 1, REQ = 2, REP = 3 };
enum {
    T_DOUBLE = 1,
    T_FLOAT = 2,
    T_INT64 = 3,
    T_INT32 = 5,
    T_FIXED32 = 7,
    T_BOOL = 8,
    T_STRING = 9,
    T_GROUP = 10,
    T_MSG = 11,
    T_BYTES = 12,
    T_ENUM = 14,
    T_SFIXED32 = 15,
    T_SINT32 = 17,
};

#define MAXF 300

static Google__Protobuf__FieldDescriptorProto fstore[2][MAXF];
static Google__Protobuf__FieldDescriptorProto *fptrs[2][MAXF];

static void fill(int slot, Google__Protobuf__DescriptorProto *d,
                 const char *name, const struct fdef *f, size_t n)
{
    google__protobuf__descriptor_proto__init(d);
    d->name = (char *)name;
    for (size_t i = 0; i < n; i++) {
        Google__Protobuf__FieldDescriptorProto *x = &fstore[slot][i];
        google__protobuf__field_descriptor_proto__init(x);
        x->name = (char *)f[i].name;
        x->has_number = 1;
        x->number = f[i].number;
        x->has_label = 1;
        x->label = f[i].label;
        x->has_type = f[i].type != 0;
        x->type = f[i].type;
        x->type_name = (char *)f[i].type_name;
        fptrs[slot][i] = x;
    }
    d->n_field = n;
    d->field = fptrs[slot];
}

/* Packs package "t": message M (fields mf) with nested message Sub (fields
 * sf) and enum E (values ev), in a file of the given syntax. */
static size_t pack(uint8_t **out, const char *syntax, const struct fdef *mf,
                   size_t nmf, const struct fdef *sf, size_t nsf,
                   const int32_t *ev, size_t nev)
{
    Google__Protobuf__DescriptorProto m, sub, *subp = &sub, *mp = &m;
    fill(0, &m, "M", mf, nmf);
    fill(1, &sub, "Sub", sf, nsf);
    m.n_nested_type = 1;
    m.nested_type = &subp;
    Google__Protobuf__EnumValueDescriptorProto vals[8], *vp[8];
    char names[8][8];
    Google__Protobuf__EnumDescriptorProto e, *ep = &e;
    google__protobuf__enum_descriptor_proto__init(&e);
    e.name = "E";
    for (size_t i = 0; i < nev; i++) {
        google__protobuf__enum_value_descriptor_proto__init(&vals[i]);
        snprintf(names[i], sizeof(names[i]), "V%zu", i);
        vals[i].name = names[i];
        vals[i].has_number = 1;
        vals[i].number = ev[i];
        vp[i] = &vals[i];
    }
    e.n_value = nev;
    e.value = vp;
    m.n_enum_type = 1;
    m.enum_type = &ep;
    Google__Protobuf__FileDescriptorProto file, *filep = &file;
    google__protobuf__file_descriptor_proto__init(&file);
    file.name = "t.proto";
    file.package = "t";
    file.syntax = (char *)syntax;
    file.n_message_type = 1;
    file.message_type = &mp;
    Google__Protobuf__FileDescriptorSet set;
    google__protobuf__file_descriptor_set__init(&set);
    set.n_file = 1;
    set.file = &filep;
    size_t n = google__protobuf__file_descriptor_set__get_packed_size(&set);
    *out = malloc(n ? n : 1);
    google__protobuf__file_descriptor_set__pack(&set, *out);
    return n;
}

static char err[1024];

static struct pbschema *mk(const char *syntax, const struct fdef *mf,
                           size_t nmf, const struct fdef *sf, size_t nsf,
                           const int32_t *ev, size_t nev,
                           const char *const *env, size_t nenv)
{
    uint8_t *buf;
    size_t n = pack(&buf, syntax, mf, nmf, sf, nsf, ev, nev);
    err[0] = '\0';
    struct pbschema *s =
        pbschema_compile(buf, n, "t.M", env, nenv, err, sizeof(err));
    free(buf);
    return s;
}

#define MK(syntax, mf, sf)                                                     \
    mk(syntax, mf, ARRAY_N(mf), sf, ARRAY_N(sf), NULL, 0, NULL, 0)
#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))

static int val(const struct pbschema *s, const char *bytes, size_t n)
{
    err[0] = '\0';
    return pbschema_validate(s, (const uint8_t *)bytes, n, err, sizeof(err));
}
#define VAL(s, lit) val(s, lit, sizeof(lit) - 1)

TEST(varint_edges)
{
    uint64_t v = 99;
    ASSERT_EQ_INT(1, pbschema_varint((const uint8_t *)"\x00", 1, &v));
    ASSERT_EQ_U64(0, v);
    ASSERT_EQ_INT(1, pbschema_varint((const uint8_t *)"\x7f", 1, &v));
    ASSERT_EQ_U64(127, v);
    ASSERT_EQ_INT(2, pbschema_varint((const uint8_t *)"\x80\x01", 2, &v));
    ASSERT_EQ_U64(128, v);
    /* non-minimal encodings are valid (parsers accept them) */
    ASSERT_EQ_INT(3, pbschema_varint((const uint8_t *)"\x80\x80\x00", 3, &v));
    ASSERT_EQ_U64(0, v);
    const uint8_t max[] = {0xff, 0xff, 0xff, 0xff, 0xff,
                           0xff, 0xff, 0xff, 0xff, 0x01};
    ASSERT_EQ_INT(10, pbschema_varint(max, 10, &v));
    ASSERT_EQ_U64(UINT64_MAX, v);
    uint8_t over[11];
    memcpy(over, max, 10);
    over[9] = 0x02; /* bit 64 */
    ASSERT_EQ_INT(-1, pbschema_varint(over, 10, &v));
    over[9] = 0x81; /* an 11th byte would follow */
    over[10] = 0x00;
    ASSERT_EQ_INT(-1, pbschema_varint(over, 11, &v));
    ASSERT_EQ_INT(0, pbschema_varint(max, 9, &v)); /* truncated */
    ASSERT_EQ_INT(0, pbschema_varint(max, 0, &v));
    ASSERT_EQ_INT(0, pbschema_varint((const uint8_t *)"\x80", 1, &v));
}

TEST(sparse_numbers_use_binary_search)
{
    const struct fdef mf[] = {
        {"a", 1, OPT, T_INT32, NULL},
        {"big", 536870911, OPT, T_FIXED32, NULL},
        {"mid", 100000, OPT, T_STRING, NULL},
    };
    const struct fdef sf[] = {{"x", 1, OPT, T_INT32, NULL}};
    struct pbschema *s = MK("proto3", mf, sf);
    ASSERT_TRUE(s != NULL);
    ASSERT_EQ_STR("t.M", pbschema_message(s));
    /* 536870911 << 3 | 5 = 0xfffffffd: tag f5 ff ff ff 0f */
    ASSERT_EQ_INT(0, VAL(s, "\x08\x01\xfd\xff\xff\xff\x0f\x01\x02\x03\x04"
                            "\x82\xb5\x18\x02hi"));
    ASSERT_EQ_INT(-1, VAL(s, "\xf8\xff\xff\xff\x0f\x01"));
    ASSERT_EQ_STR("field 536870911 (big): wire type 0 (varint) at byte 0, "
                  "declared fixed32 "
                  "wants 5 (32-bit)",
                  err);
    /* an unknown number between the known ones is skipped */
    ASSERT_EQ_INT(0, VAL(s, "\x80\x01\x05"));
    pbschema_free(s);
}

TEST(depth_limit_messages_and_groups)
{
    const struct fdef mf[] = {
        {"next", 1, OPT, T_MSG, ".t.M"},
        {"g", 2, OPT, T_GROUP, ".t.M"}, /* a group of its own type */
    };
    const struct fdef sf[] = {{"x", 1, OPT, T_INT32, NULL}};
    struct pbschema *s = MK("proto2", mf, sf);
    ASSERT_TRUE(s != NULL);
    /* groups: 64 levels are fine, 65 are not */
    uint8_t buf[400];
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        buf[n++] = 0x13; /* field 2, start group */
    for (int i = 0; i < 64; i++)
        buf[n++] = 0x14;
    ASSERT_EQ_INT(0, val(s, (const char *)buf, n));
    n = 0;
    for (int i = 0; i < 65; i++)
        buf[n++] = 0x13;
    for (int i = 0; i < 65; i++)
        buf[n++] = 0x14;
    ASSERT_EQ_INT(-1, val(s, (const char *)buf, n));
    ASSERT_TRUE(strstr(err, "): nested deeper than 64 messages at byte 65") !=
                NULL);
    ASSERT_TRUE(strncmp(err, "field 2 (g.g.g.", 15) == 0);
    /* an end tag of another group inside a group */
    ASSERT_EQ_INT(-1, VAL(s, "\x13\x0c"));
    ASSERT_EQ_STR(
        "field 1 (in g): end group tag at byte 1 with no open group 1", err);
    /* messages: 70 levels of "next", each length exact */
    static uint8_t deep[1024];
    size_t dn = 0;
    for (int i = 0; i < 70; i++) {
        uint8_t hdr[4];
        size_t h = 0;
        hdr[h++] = 0x0a;
        for (uint32_t l = (uint32_t)dn;; l >>= 7) {
            hdr[h++] = (uint8_t)(l >= 0x80 ? (l | 0x80) : l);
            if (l < 0x80)
                break;
        }
        memmove(deep + h, deep, dn);
        memcpy(deep, hdr, h);
        dn += h;
    }
    ASSERT_EQ_INT(-1, val(s, (const char *)deep, dn));
    ASSERT_TRUE(strstr(err, "): nested deeper than 64 messages at byte ") !=
                NULL);
    ASSERT_TRUE(strncmp(err, "field 1 (next.next.next.", 24) == 0);
    pbschema_free(s);
}

TEST(required_bits_and_envelope)
{
    struct fdef mf[MAXF];
    char names[MAXF][8];
    for (int i = 0; i < 257; i++) {
        snprintf(names[i], sizeof(names[i]), "r%d", i + 1);
        mf[i] = (struct fdef){names[i], i + 1, REQ, T_BOOL, NULL};
    }
    const struct fdef sf[] = {{"x", 1, OPT, T_INT32, NULL}};
    struct pbschema *s = mk("proto2", mf, 257, sf, 1, NULL, 0, NULL, 0);
    ASSERT_TRUE(s == NULL);
    ASSERT_EQ_STR("t.M has more than 256 required fields", err);
    /* 130 required: bits past the first word work */
    s = mk("proto2", mf, 130, sf, 1, NULL, 0, NULL, 0);
    ASSERT_TRUE(s != NULL);
    uint8_t buf[600];
    size_t n = 0;
    for (int i = 1; i <= 130; i++) {
        if (i == 129)
            continue;
        uint32_t tag = (uint32_t)i << 3;
        while (tag >= 0x80) {
            buf[n++] = (uint8_t)(tag | 0x80);
            tag >>= 7;
        }
        buf[n++] = (uint8_t)tag;
        buf[n++] = 1;
    }
    ASSERT_EQ_INT(-1, val(s, (const char *)buf, n));
    ASSERT_EQ_STR("field 'r129' (129) is required and missing", err);
    pbschema_free(s);
    /* envelope on proto3 */
    const struct fdef pf[] = {{"id", 1, OPT, T_STRING, NULL},
                              {"ts", 2, OPT, T_INT64, NULL}};
    const char *env[] = {"ts", "id"};
    s = mk("proto3", pf, 2, sf, 1, NULL, 0, env, 2);
    ASSERT_TRUE(s != NULL);
    ASSERT_EQ_INT(-1, val(s, NULL, 0));
    ASSERT_EQ_STR("field 'id' (1) is required and missing", err);
    ASSERT_EQ_INT(-1, VAL(s, "\x0a\x00"));
    ASSERT_EQ_STR("field 'ts' (2) is required and missing", err);
    ASSERT_EQ_INT(0,
                  VAL(s, "\x10\x00\x0a\x00")); /* present (even at a default) */
    /* a tiny error buffer is cut, not overrun; NULL is fine */
    char small[8];
    ASSERT_EQ_INT(-1, pbschema_validate(s, NULL, 0, small, sizeof(small)));
    ASSERT_EQ_STR("field '", small);
    ASSERT_EQ_INT(-1, pbschema_validate(s, NULL, 0, NULL, 0));
    pbschema_free(s);
}

TEST(compile_errors)
{
    const struct fdef sf[] = {{"x", 1, OPT, T_INT32, NULL}};
    const struct fdef dup[] = {{"a", 3, OPT, T_INT32, NULL},
                               {"b", 3, OPT, T_STRING, NULL}};
    ASSERT_TRUE(MK("proto3", dup, sf) == NULL);
    ASSERT_EQ_STR("fields 'a' and 'b' of t.M share number 3", err);
    const struct fdef zero[] = {{"a", 0, OPT, T_INT32, NULL}};
    ASSERT_TRUE(MK("proto3", zero, sf) == NULL);
    ASSERT_EQ_STR("field 'a' in t.M has number 0 (wants 1..536870911)", err);
    const struct fdef missing[] = {{"a", 1, OPT, T_MSG, ".t.Nope"}};
    ASSERT_TRUE(MK("proto3", missing, sf) == NULL);
    ASSERT_EQ_STR("type '.t.Nope' of field 'a' in t.M is not in the set", err);
    const struct fdef wrongkind[] = {{"a", 1, OPT, T_MSG, ".t.M.E"}};
    ASSERT_TRUE(MK("proto3", wrongkind, sf) == NULL);
    ASSERT_EQ_STR(
        "type '.t.M.E' of field 'a' in t.M is an enum, declared message", err);
    const struct fdef badtype[] = {{"a", 1, OPT, 19, NULL}};
    ASSERT_TRUE(MK("proto3", badtype, sf) == NULL);
    ASSERT_EQ_STR("field 'a' in t.M has unknown type 19", err);
    ASSERT_TRUE(MK("editions", sf, sf) == NULL);
    ASSERT_EQ_STR(
        "file 't.proto' has syntax 'editions' (only proto2 and proto3)", err);
    /* relative names resolve by scope; no type means "whatever the name is" */
    const struct fdef rel[] = {
        {"a", 1, OPT, T_MSG, "Sub"}, /* t.M.Sub from inside t.M */
        {"b", 2, OPT, 0, "M.E"},     /* t.M.E through the package scope */
        {"c", 3, OPT, 0, "t.M.Sub"}, /* from the root */
    };
    const struct fdef sub_rel[] = {
        {"back", 1, OPT, 0, "M"}}; /* t.M from t.M.Sub */
    int32_t ev[] = {0, 1};
    struct pbschema *s = mk("proto2", rel, 3, sub_rel, 1, ev, 2, NULL, 0);
    ASSERT_TRUE(s != NULL);
    ASSERT_EQ_INT(0, VAL(s, "\x0a\x02\x0a\x00\x10\x01\x1a\x00"));
    ASSERT_EQ_INT(-1, VAL(s, "\x10\x02"));
    ASSERT_EQ_STR("field 2 (b): value 2 at byte 1 is not in closed enum t.M.E",
                  err);
    pbschema_free(s);
    /* sets that are not sets */
    uint8_t junk[] = {0x0a, 0x05, 0x01};
    ASSERT_TRUE(pbschema_compile(junk, sizeof(junk), "t.M", NULL, 0, err,
                                 sizeof(err)) == NULL);
    ASSERT_EQ_STR("not a FileDescriptorSet: bad wire format at byte 0", err);
    ASSERT_TRUE(pbschema_compile(NULL, 0, "t.M", NULL, 0, err, sizeof(err)) ==
                NULL);
    ASSERT_EQ_STR("message 't.M' not in the set", err);
    ASSERT_TRUE(pbschema_compile(junk, PBSCHEMA_MAX_BYTES + 1, "t.M", NULL, 0,
                                 err, sizeof(err)) == NULL);
    ASSERT_EQ_STR(
        "FileDescriptorSet of 4194305 bytes is over the limit of 4194304 bytes",
        err);
    /* 200 levels of nested message types: refused before protobuf-c recurses */
    static uint8_t deep[4096];
    size_t n = 0;
    for (int i = 0; i < 200;
         i++) { /* DescriptorProto.nested_type (3), innermost first */
        size_t len = n;
        uint8_t hdr[4];
        size_t h = 0;
        hdr[h++] =
            i == 199
                ? 0x22
                : 0x1a; /* the outermost is FileDescriptorProto.message_type */
        uint32_t l = (uint32_t)len;
        while (l >= 0x80) {
            hdr[h++] = (uint8_t)(l | 0x80);
            l >>= 7;
        }
        hdr[h++] = (uint8_t)l;
        memmove(deep + h, deep, n);
        memcpy(deep, hdr, h);
        n += h;
    }
    uint8_t set[4200];
    size_t sn = 0;
    set[sn++] = 0x0a;
    uint32_t l = (uint32_t)n;
    while (l >= 0x80) {
        set[sn++] = (uint8_t)(l | 0x80);
        l >>= 7;
    }
    set[sn++] = (uint8_t)l;
    memcpy(set + sn, deep, n);
    sn += n;
    ASSERT_TRUE(pbschema_compile(set, sn, "t.M", NULL, 0, err, sizeof(err)) ==
                NULL);
    ASSERT_TRUE(strncmp(err,
                        "not a FileDescriptorSet: nested too deep at byte ",
                        49) == 0);
}

/* old -> new of field 1 (and Sub.x for nested cases); want NULL = compatible.
 */
struct crow {
    struct fdef o, n;
    const char *osyntax, *nsyntax;
    const char *want;
};

TEST(compatibility_rules)
{
    static const struct crow rows[] = {
        {{"a", 1, OPT, T_INT32, 0},
         {"a", 1, OPT, T_INT64, 0},
         "proto3",
         "proto3",
         NULL},
        {{"a", 1, OPT, T_INT32, 0},
         {"b", 1, OPT, T_INT32, 0},
         "proto3",
         "proto3",
         NULL},
        {{"a", 1, OPT, T_INT32, 0},
         {"a", 1, OPT, T_SINT32, 0},
         "proto3",
         "proto3",
         "field 1 'a': int32 -> sint32"},
        {{"a", 1, OPT, T_INT32, 0},
         {"a", 1, OPT, T_STRING, 0},
         "proto3",
         "proto3",
         "field 1 'a': int32 -> string"},
        {{"a", 1, OPT, T_FIXED32, 0},
         {"a", 1, OPT, T_SFIXED32, 0},
         "proto3",
         "proto3",
         NULL},
        {{"a", 1, OPT, T_FLOAT, 0},
         {"a", 1, OPT, T_FIXED32, 0},
         "proto3",
         "proto3",
         "field 1 'a': float -> fixed32"},
        {{"a", 1, OPT, T_DOUBLE, 0},
         {"a", 1, OPT, T_FLOAT, 0},
         "proto3",
         "proto3",
         "field 1 'a': double -> float"},
        {{"a", 1, OPT, T_STRING, 0},
         {"a", 1, OPT, T_BYTES, 0},
         "proto3",
         "proto3",
         NULL},
        {{"a", 1, OPT, T_BYTES, 0},
         {"a", 1, OPT, T_STRING, 0},
         "proto3",
         "proto3",
         "field 1 'a': bytes -> string"},
        {{"a", 1, OPT, T_BYTES, 0},
         {"a", 1, OPT, T_STRING, 0},
         "proto2",
         "proto2",
         NULL},
        {{"a", 1, OPT, T_STRING, 0},
         {"a", 1, OPT, T_STRING, 0},
         "proto2",
         "proto3",
         "field 1 'a': string -> string (UTF-8 is now checked (proto2 -> "
         "proto3))"},
        {{"a", 1, OPT, T_MSG, ".t.M.Sub"},
         {"a", 1, OPT, T_BYTES, 0},
         "proto3",
         "proto3",
         NULL},
        {{"a", 1, OPT, T_BYTES, 0},
         {"a", 1, OPT, T_MSG, ".t.M.Sub"},
         "proto3",
         "proto3",
         "field 1 'a': bytes -> message t.M.Sub"},
        {{"a", 1, OPT, T_INT32, 0},
         {"a", 1, REQ, T_INT32, 0},
         "proto2",
         "proto2",
         "field 1 'a': optional -> required"},
        {{"a", 1, REQ, T_INT32, 0},
         {"a", 1, OPT, T_INT32, 0},
         "proto2",
         "proto2",
         "field 1 'a': required -> optional"},
        {{"a", 1, REP, T_INT32, 0},
         {"a", 1, OPT, T_INT32, 0},
         "proto3",
         "proto3",
         "field 1 'a': repeated -> optional"},
        {{"a", 1, REQ, T_INT32, 0},
         {"z", 9, OPT, T_INT32, 0},
         "proto2",
         "proto2",
         "field 1 'a' was required and is removed"},
        {{"a", 1, OPT, T_INT32, 0},
         {"z", 9, REQ, T_INT32, 0},
         "proto2",
         "proto2",
         "field 9 'z' is added as required"},
        {{"a", 1, OPT, T_INT32, 0},
         {"z", 9, OPT, T_INT32, 0},
         "proto2",
         "proto2",
         NULL},
        {{"a", 1, OPT, T_INT32, 0},
         {"a", 1, OPT, T_ENUM, ".t.M.E"},
         "proto3",
         "proto3",
         NULL},
        {{"a", 1, OPT, T_INT32, 0},
         {"a", 1, OPT, T_ENUM, ".t.M.E"},
         "proto2",
         "proto2",
         "field 1 'a': int32 -> enum t.M.E (values outside the closed enum "
         "become errors)"},
        {{"a", 1, OPT, T_ENUM, ".t.M.E"},
         {"a", 1, OPT, T_INT64, 0},
         "proto2",
         "proto2",
         NULL},
        {{"a", 1, OPT, T_MSG, ".t.M.Sub"},
         {"a", 1, OPT, T_GROUP, ".t.M.Sub"},
         "proto2",
         "proto2",
         "field 1 'a': message t.M.Sub -> group t.M.Sub"},
    };
    const struct fdef sf[] = {{"x", 1, OPT, T_INT32, NULL}};
    int32_t ev[] = {0, 1, 2};
    for (size_t i = 0; i < ARRAY_N(rows); i++) {
        struct pbschema *o =
            mk(rows[i].osyntax, &rows[i].o, 1, sf, 1, ev, 3, NULL, 0);
        struct pbschema *n =
            mk(rows[i].nsyntax, &rows[i].n, 1, sf, 1, ev, 3, NULL, 0);
        ASSERT_TRUE(o && n);
        int rc = pbschema_compatible(o, n, err, sizeof(err));
        if ((rc == 0) != (rows[i].want == NULL) ||
            (rc && strcmp(err, rows[i].want))) {
            fprintf(stderr, "  row %zu: rc %d err '%s'\n", i, rc,
                    rc ? err : "");
            ASSERT_EQ_STR(rows[i].want ? rows[i].want : "(compatible)",
                          rc ? err : "(compatible)");
        }
        pbschema_free(o);
        pbschema_free(n);
    }
}

TEST(compatibility_nested_enums_envelope)
{
    const struct fdef mf[] = {{"sub", 1, REP, T_MSG, ".t.M.Sub"},
                              {"e", 2, OPT, T_ENUM, ".t.M.E"},
                              {"id", 3, OPT, T_STRING, NULL}};
    const struct fdef sf_old[] = {{"x", 1, OPT, T_INT32, NULL}};
    const struct fdef sf_new[] = {{"x", 1, OPT, T_BOOL, NULL}};
    int32_t ev_old[] = {0, 1, 2}, ev_new[] = {0, 2, 3};
    const char *env[] = {"id"};
    struct pbschema *o = mk("proto2", mf, 3, sf_old, 1, ev_old, 3, env, 1);
    struct pbschema *n = mk("proto2", mf, 3, sf_new, 1, ev_old, 3, env, 1);
    ASSERT_TRUE(o && n);
    ASSERT_EQ_INT(-1, pbschema_compatible(o, n, err, sizeof(err)));
    ASSERT_EQ_STR("t.M.Sub field 1 'x': int32 -> bool", err);
    pbschema_free(n);
    n = mk("proto2", mf, 3, sf_old, 1, ev_new, 3, env, 1);
    ASSERT_EQ_INT(-1, pbschema_compatible(o, n, err, sizeof(err)));
    ASSERT_EQ_STR("field 2 'e': enum value 1 of t.M.E is not in t.M.E", err);
    /* values added to a closed enum are fine */
    ASSERT_EQ_INT(0, pbschema_compatible(n, n, err, sizeof(err)));
    int32_t ev_more[] = {0, 1, 2, 3};
    pbschema_free(n);
    n = mk("proto2", mf, 3, sf_old, 1, ev_more, 4, env, 1);
    ASSERT_EQ_INT(0, pbschema_compatible(o, n, err, sizeof(err)));
    pbschema_free(n);
    /* the envelope */
    n = mk("proto2", mf, 3, sf_old, 1, ev_old, 3, NULL, 0);
    ASSERT_EQ_INT(-1, pbschema_compatible(o, n, err, sizeof(err)));
    ASSERT_EQ_STR("envelope field 'id' removed", err);
    const struct fdef moved[] = {{"sub", 1, REP, T_MSG, ".t.M.Sub"},
                                 {"e", 2, OPT, T_ENUM, ".t.M.E"},
                                 {"id", 4, OPT, T_STRING, NULL}};
    pbschema_free(n);
    n = mk("proto2", moved, 3, sf_old, 1, ev_old, 3, env, 1);
    ASSERT_EQ_INT(-1, pbschema_compatible(o, n, err, sizeof(err)));
    ASSERT_EQ_STR("envelope field 'id': number 3 -> 4", err);
    pbschema_free(n);
    pbschema_free(o);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(varint_edges),
                                     T(sparse_numbers_use_binary_search),
                                     T(depth_limit_messages_and_groups),
                                     T(required_bits_and_envelope),
                                     T(compile_errors),
                                     T(compatibility_rules),
                                     T(compatibility_nested_enums_envelope),
                                     {0}});
}
