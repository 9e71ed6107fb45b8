/* libFuzzer target: src/contract/pbschema.c. The first byte picks the mode:
 *   even: the rest is a payload, validated against a fixed proto2 message Q
 *         (required, closed enum packed and not, a self-nested group and
 *         message, bool, fixed64, a proto3 message P with a UTF-8 string);
 *         0 == odd bit 1 also validates it as P;
 *   odd:  the rest is a FileDescriptorSet, compiled for "t.Q" with envelope
 *         "a"; a compiled one then validates the input itself.
 * Any input must be accepted or refused with an error text, never crash,
 * leak or run long. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "pbschema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fdef {
    const char *name;
    int number, label, type;
    const char *type_name;
};

static const struct fdef QF[] = {
    {"a", 1, 2, 5, NULL},     {"e", 2, 1, 14, ".t.E"}, {"g", 3, 1, 10, ".t.Q"},
    {"es", 4, 3, 14, ".t.E"}, {"q", 5, 1, 11, ".t.Q"}, {"b", 6, 1, 8, NULL},
    {"f", 7, 1, 6, NULL},     {"p", 8, 3, 11, ".t.P"}, {"s", 9, 1, 9, NULL},
};
static const struct fdef PF[] = {
    {"s", 1, 1, 9, NULL},
    {"r", 2, 3, 5, NULL},
    {"child", 3, 1, 11, ".t.P"},
    {"d", 4, 3, 1, NULL},
};

static struct pbschema *q_schema, *p_schema;

static void fill(Google__Protobuf__DescriptorProto *d, const char *name,
                 Google__Protobuf__FieldDescriptorProto *fs,
                 Google__Protobuf__FieldDescriptorProto **fp,
                 const struct fdef *f, size_t n)
{
    google__protobuf__descriptor_proto__init(d);
    d->name = (char *)name;
    for (size_t i = 0; i < n; i++) {
        google__protobuf__field_descriptor_proto__init(&fs[i]);
        fs[i].name = (char *)f[i].name;
        fs[i].has_number = fs[i].has_label = fs[i].has_type = 1;
        fs[i].number = f[i].number;
        fs[i].label = f[i].label;
        fs[i].type = f[i].type;
        fs[i].type_name = (char *)f[i].type_name;
        fp[i] = &fs[i];
    }
    d->n_field = n;
    d->field = fp;
}

static void init(void)
{
    Google__Protobuf__FieldDescriptorProto qs[9], *qp[9], ps[4], *pp[4];
    Google__Protobuf__DescriptorProto q, p, *qd = &q, *pd = &p;
    fill(&q, "Q", qs, qp, QF, 9);
    fill(&p, "P", ps, pp, PF, 4);
    Google__Protobuf__EnumValueDescriptorProto v[2], *vp[2] = {&v[0], &v[1]};
    google__protobuf__enum_value_descriptor_proto__init(&v[0]);
    google__protobuf__enum_value_descriptor_proto__init(&v[1]);
    v[0].name = "ONE", v[0].has_number = 1, v[0].number = 1;
    v[1].name = "FIVE", v[1].has_number = 1, v[1].number = 5;
    Google__Protobuf__EnumDescriptorProto e, *ep = &e;
    google__protobuf__enum_descriptor_proto__init(&e);
    e.name = "E", e.n_value = 2, e.value = vp;
    Google__Protobuf__FileDescriptorProto f2, f3, *files[2] = {&f2, &f3};
    google__protobuf__file_descriptor_proto__init(&f2);
    google__protobuf__file_descriptor_proto__init(&f3);
    f2.name = "q.proto", f2.package = "t", f2.syntax = "proto2";
    f2.n_message_type = 1, f2.message_type = &qd, f2.n_enum_type = 1,
    f2.enum_type = &ep;
    f3.name = "p.proto", f3.package = "t", f3.syntax = "proto3";
    f3.n_message_type = 1, f3.message_type = &pd;
    Google__Protobuf__FileDescriptorSet set;
    google__protobuf__file_descriptor_set__init(&set);
    set.n_file = 2, set.file = files;
    size_t n = google__protobuf__file_descriptor_set__get_packed_size(&set);
    uint8_t *buf = malloc(n);
    google__protobuf__file_descriptor_set__pack(&set, buf);
    char err[256];
    const char *env[] = {"a"};
    q_schema = pbschema_compile(buf, n, "t.Q", env, 1, err, sizeof(err));
    p_schema = pbschema_compile(buf, n, "t.P", NULL, 0, err, sizeof(err));
    free(buf);
    if (!q_schema || !p_schema) {
        fprintf(stderr, "fuzz_pbschema: %s\n", err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!q_schema)
        init();
    if (size == 0)
        return 0;
    char err[512];
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        const char *env[] = {"a"};
        struct pbschema *s =
            pbschema_compile(rest, n, "t.Q", env, 1, err, sizeof(err));
        if (!s) {
            if (!err[0])
                abort(); /* a refusal always says why */
            return 0;
        }
        pbschema_validate(s, rest, n, err, sizeof(err));
        pbschema_compatible(s, q_schema, err, sizeof(err));
        pbschema_compatible(q_schema, s, err, sizeof(err));
        pbschema_free(s);
        return 0;
    }
    err[0] = '\0';
    if (pbschema_validate(q_schema, rest, n, err, sizeof(err)) != 0 && !err[0])
        abort();
    if (data[0] & 2)
        pbschema_validate(p_schema, rest, n, err, sizeof(err));
    return 0;
}
