/* test_mapsvg.c - the events map's SVG: well-formed XML whatever the names,
 * the nodes and edges a manifest implies, crossing reduction, the column
 * cap, deterministic bytes. Pure: manifests are built by hand. */
#include "mapsvg.h"

#include <stdint.h>
#include <string.h>

#include "common.h"
#include "manifest.h"
#include "test.h"

/* ---- building manifests ---- */

static struct mstr ms(const char *s)
{
    return mstr_dup(s, strlen(s));
}

static struct mstr *strs(size_t n, const char *const *v)
{
    struct mstr *out = xcalloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = ms(v[i]);
    return out;
}

static struct manifest_type *add_type(struct manifest *m, const char *name,
                                      const char *owner)
{
    m->types = xrealloc(m->types, (m->ntypes + 1) * sizeof(*m->types));
    struct manifest_type *t = &m->types[m->ntypes++];
    memset(t, 0, sizeof(*t));
    t->type = ms(name);
    if (owner)
        t->owner = ms(owner);
    t->kind = "occurrence";
    t->schema = "none";
    t->subs = xcalloc(64, sizeof(size_t));
    return t;
}

static void add_producer(struct manifest_type *t, const char *name,
                         uint64_t count)
{
    t->producers =
        xrealloc(t->producers, (t->nproducers + 1) * sizeof(*t->producers));
    t->producers[t->nproducers++] =
        (struct manifest_producer){ms(name), 1, 2, count};
}

static size_t add_sub(struct manifest *m, const char *name, size_t ncons,
                      const char *const *cons)
{
    m->subs = xrealloc(m->subs, (m->nsubs + 1) * sizeof(*m->subs));
    struct manifest_sub *s = &m->subs[m->nsubs];
    const char *pat[] = {"#"};
    *s = (struct manifest_sub){ms(name),          strs(1, pat), 1,
                               strs(ncons, cons), ncons,        1};
    return m->nsubs++;
}

static void add_group(struct manifest_type *t, const char *group, size_t ncons,
                      const char *const *cons)
{
    t->groups = xrealloc(t->groups, (t->ngroups + 1) * sizeof(*t->groups));
    t->groups[t->ngroups++] = (struct manifest_group){
        ms("stream:x"), 0, ms(group), strs(ncons, cons), ncons};
}

static void render(const struct manifest *m, struct sbuf *out)
{
    sbuf_init(out);
    mapsvg_render(m, out);
}

/* ---- a small XML well-formedness check ---- */

static const char *entity_end(const char *p, const char *end)
{
    static const char *const named[] = {"amp;", "lt;", "gt;", "quot;", "apos;"};
    for (size_t i = 0; i < ARRAY_LEN(named); i++) {
        size_t n = strlen(named[i]);
        if ((size_t)(end - p) >= n && memcmp(p, named[i], n) == 0)
            return p + n;
    }
    if (p < end && *p == '#') {
        const char *q = p + 1;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
        if (q > p + 1 && q < end && *q == ';')
            return q + 1;
    }
    return NULL;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == ':';
}

/* The characters: well-formed UTF-8 and none that XML 1.0 forbids. */
static const char *chars_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp = p[i];
        size_t len = 1;
        if (p[i] >= 0x80 && !(len = manifest_utf8_decode(p + i, n - i, &cp)))
            return "bad UTF-8";
        if ((cp < 0x20 && cp != '\n' && cp != '\t' && cp != '\r') ||
            cp == 0xfffe || cp == 0xffff)
            return "a character XML forbids";
        i += len;
    }
    return NULL;
}

/* NULL if s[0..n) is one well-formed XML element (tags nest and match,
 * attributes are quoted, '&' starts an entity, no '<' in text or values),
 * else what is wrong. Enough for what mapsvg writes: no comments, CDATA or
 * processing instructions. */
static const char *xml_wellformed(const char *s, size_t n)
{
    const char *why = chars_ok(s, n);
    if (why)
        return why;
    const char *p = s, *end = s + n;
    const char *stack[32];
    size_t lens[32], depth = 0;
    int roots = 0;
    while (p < end) {
        if (*p == '&') {
            if (!(p = entity_end(p + 1, end)))
                return "'&' not starting an entity in text";
            continue;
        }
        if (*p != '<') {
            if (!depth && *p != '\n')
                return "text outside the root element";
            p++;
            continue;
        }
        if (++p < end && *p == '/') {
            const char *nm = ++p;
            while (p < end && name_char(*p))
                p++;
            if (!depth || (size_t)(p - nm) != lens[depth - 1] ||
                memcmp(nm, stack[depth - 1], lens[depth - 1]) != 0)
                return "a closing tag that does not match";
            if (p >= end || *p++ != '>')
                return "closing tag not ended by '>'";
            depth--;
            continue;
        }
        const char *nm = p;
        while (p < end && name_char(*p))
            p++;
        if (p == nm)
            return "'<' not starting a tag";
        size_t nlen = (size_t)(p - nm);
        for (;;) {
            while (p < end && *p == ' ')
                p++;
            if (p < end && *p == '>') {
                if (depth == ARRAY_LEN(stack))
                    return "nested too deep";
                if (!depth)
                    roots++;
                stack[depth] = nm;
                lens[depth++] = nlen;
                p++;
                break;
            }
            if (end - p >= 2 && p[0] == '/' && p[1] == '>') {
                if (!depth)
                    roots++;
                p += 2;
                break;
            }
            const char *an = p;
            while (p < end && name_char(*p))
                p++;
            if (p == an || end - p < 2 || p[0] != '=' || p[1] != '"')
                return "an attribute without name=\"value\"";
            for (p += 2; p < end && *p != '"';) {
                if (*p == '<')
                    return "'<' in an attribute value";
                if (*p == '&') {
                    if (!(p = entity_end(p + 1, end)))
                        return "'&' not starting an entity in a value";
                } else {
                    p++;
                }
            }
            if (p++ >= end)
                return "an attribute value not closed";
        }
    }
    if (depth)
        return "an element not closed";
    return roots == 1 ? NULL : "not exactly one root element";
}

static size_t count(const struct sbuf *b, const char *needle)
{
    size_t k = 0, n = strlen(needle);
    for (const char *p = b->data; (p = strstr(p, needle)) != NULL; p += n)
        k++;
    return k;
}

/* The y of the <rect> of the node whose title is exactly name, or -1. */
static long node_y(const struct sbuf *b, const char *name)
{
    char needle[256];
    snprintf(needle, sizeof(needle), "<title>%s</title><rect x=\"", name);
    const char *p = strstr(b->data, needle);
    if (!p || !(p = strstr(p, "y=\"")))
        return -1;
    return strtol(p + 3, NULL, 10);
}

#define ASSERT_WELLFORMED(b)                                                   \
    do {                                                                       \
        const char *why_ = xml_wellformed((b)->data, (b)->len);                \
        if (why_) {                                                            \
            fprintf(stderr, "%s\n", (b)->data);                                \
            test_fail_(__FILE__, __LINE__, why_);                              \
        }                                                                      \
    } while (0)

/* ---- tests ---- */

#define WF(s) xml_wellformed(s, strlen(s))

TEST(xml_checker_rejects_broken_xml)
{
    ASSERT_TRUE(WF("<a><b x=\"1\"/>t&amp;&#38;</a>") == NULL);
    ASSERT_TRUE(WF("<a><b></a>") != NULL);
    ASSERT_TRUE(WF("<a>x & y</a>") != NULL);
    ASSERT_TRUE(WF("<a x=\"<\"/>") != NULL);
    ASSERT_TRUE(WF("<a>\xff</a>") != NULL);
    ASSERT_TRUE(WF("<a>\x01</a>") != NULL);
    ASSERT_TRUE(WF("<a/><b/>") != NULL);
    ASSERT_TRUE(WF("<a x=1/>") != NULL);
}

TEST(escape_replaces_markup_bad_utf8_and_controls)
{
    struct sbuf b;
    sbuf_init(&b);
    ASSERT_EQ_INT(7, mapsvg_escape(&b, "a<b&\"'>", 7, 0));
    ASSERT_EQ_STR("a&lt;b&amp;&quot;&#39;&gt;", b.data);
    sbuf_clear(&b);
    /* é stays, a lone 0xff, a cut 3-byte sequence, NUL and ESC become U+FFFD */
    ASSERT_EQ_INT(6, mapsvg_escape(&b,
                                   "\xc3\xa9\xff\xe2\x82"
                                   "\x00\x1b",
                                   7, 0));
    ASSERT_EQ_STR(
        "\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
        b.data);
    sbuf_clear(&b);
    ASSERT_EQ_INT(4, mapsvg_escape(&b, "abcdef", 6, 4));
    ASSERT_EQ_STR("abc\xe2\x80\xa6", b.data);
    sbuf_clear(&b);
    ASSERT_EQ_INT(4, mapsvg_escape(&b, "abcd", 4, 4)); /* fits: not cut */
    ASSERT_EQ_STR("abcd", b.data);
    sbuf_deinit(&b);
}

TEST(nodes_and_edges_of_a_manifest)
{
    struct manifest m = {0};
    const char *bill[] = {"billing-1", "billing-2"};
    const char *ship[] = {"shipper"};
    const char *gc[] = {"reader-1"};
    size_t billing = add_sub(&m, "billing", 2, bill);
    size_t shipping = add_sub(&m, "shipping", 1, ship);
    add_sub(&m, "unmatched", 0, NULL);
    struct manifest_type *t = add_type(&m, "order.created", "orders");
    add_producer(t, "orders", 10);
    add_producer(t, "legacy", 2);
    t->subs[t->nsubs++] = billing;
    t->subs[t->nsubs++] = shipping;
    add_group(t, "audit", 1, gc);
    t = add_type(&m, "order.paid",
                 "payments"); /* owner never seen publishing */
    add_producer(t, "orders", 1);
    t->subs[t->nsubs++] = billing;
    struct sbuf b;
    render(&m, &b);
    ASSERT_WELLFORMED(&b);
    ASSERT_EQ_INT(3, count(&b, "class=\"node producer\""));
    ASSERT_EQ_INT(2, count(&b, "class=\"node type\""));
    ASSERT_EQ_INT(2,
                  count(&b, "class=\"node sub\"")); /* "unmatched" left out */
    ASSERT_EQ_INT(0, count(&b, "unmatched"));
    ASSERT_EQ_INT(1, count(&b, "class=\"node group\""));
    ASSERT_EQ_INT(4, count(&b, "class=\"node consumer\""));
    ASSERT_TRUE(strstr(b.data, "<title>group audit</title>") != NULL);
    /* producer edges 2 + 1, owner 1, type->sub 3, type->group 1,
     * sub->consumer 3, group->consumer 1 */
    ASSERT_EQ_INT(12, count(&b, "<path class=\"edge"));
    ASSERT_EQ_INT(1, count(&b, "class=\"edge owner\""));
    for (const char *const *n =
             (const char *const[]){"orders", "legacy", "payments",
                                   "order.created", "order.paid", "billing",
                                   "shipping", "billing-1", "billing-2",
                                   "shipper", "reader-1", NULL};
         *n; n++) {
        char title[64];
        snprintf(title, sizeof(title), "<title>%s</title>", *n);
        ASSERT_EQ_INT(1, count(&b, title));
    }
    sbuf_deinit(&b);
    manifest_deinit(&m);
}

TEST(hostile_names_give_wellformed_xml)
{
    static const char *const names[] = {"<script>alert(1)</script>",
                                        "a&b;&amp;",
                                        "\"quoted\" 'single'",
                                        "]]>",
                                        "\xff\xfe\xfd",
                                        "\xc3",
                                        "\xed\xa0\x80",
                                        "tab\there\nnl\r",
                                        "\x01\x02\x7f",
                                        "\xef\xbf\xbe",
                                        "&#0;",
                                        "</svg>"};
    struct manifest m = {0};
    const char *cons[ARRAY_LEN(names)];
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        cons[i] = names[i];
    size_t s = add_sub(&m, "<sub name=\"x\">", ARRAY_LEN(names), cons);
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        char tname[64];
        snprintf(tname, sizeof(tname), "%s.%zu", names[i],
                 i); /* sorted or not: fine */
        struct manifest_type *t = add_type(&m, tname, names[i]);
        add_producer(t, names[(i + 1) % ARRAY_LEN(names)], 1);
        t->subs[t->nsubs++] = s;
        add_group(t, names[i], 1, cons);
    }
    /* a name with a NUL inside and a very long one */
    struct manifest_type *t = add_type(&m, "x", NULL);
    free(t->type.p);
    t->type = mstr_dup("nul\0inside", 10);
    char longname[600];
    memset(longname, 'w', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    t = add_type(&m, longname, NULL);
    struct sbuf b;
    render(&m, &b);
    ASSERT_WELLFORMED(&b);
    ASSERT_EQ_INT(0, count(&b, "<script"));
    ASSERT_TRUE(strstr(b.data, "&lt;script&gt;alert(1)&lt;/script&gt;") !=
                NULL);
    ASSERT_TRUE(strstr(b.data, "nul\xef\xbf\xbdinside") != NULL);
    /* the long name: whole in its title, cut in its box */
    ASSERT_EQ_INT(1, count(&b, longname));
    char cut[64];
    memset(cut, 'w', MAPSVG_LABEL_MAX - 1);
    strcpy(cut + MAPSVG_LABEL_MAX - 1, "\xe2\x80\xa6</text>");
    ASSERT_EQ_INT(1, count(&b, cut));
    sbuf_deinit(&b);
    manifest_deinit(&m);
}

TEST(order_reduces_crossings)
{
    /* p1 publishes a and c, p2 publishes b: in name order the edge p2->b
     * crosses p1->c; the barycenter order draws c above b. Likewise the
     * subscriptions follow their types. */
    struct manifest m = {0};
    const char *ca[] = {"ca"}, *cc[] = {"cc"}, *cb[] = {"cb"};
    size_t sa = add_sub(&m, "s-a", 1, ca);
    size_t sb = add_sub(&m, "s-b", 1, cb);
    size_t sc = add_sub(&m, "s-c", 1, cc);
    struct manifest_type *t = add_type(&m, "a", NULL);
    add_producer(t, "p1", 1);
    t->subs[t->nsubs++] = sa;
    t = add_type(&m, "b", NULL);
    add_producer(t, "p2", 1);
    t->subs[t->nsubs++] = sb;
    t = add_type(&m, "c", NULL);
    add_producer(t, "p1", 1);
    t->subs[t->nsubs++] = sc;
    struct sbuf b;
    render(&m, &b);
    ASSERT_WELLFORMED(&b);
    long ya = node_y(&b, "a"), yb = node_y(&b, "b"), yc = node_y(&b, "c");
    ASSERT_TRUE(ya >= 0 && yb >= 0 && yc >= 0);
    ASSERT_TRUE(ya < yc && yc < yb);
    ASSERT_TRUE(node_y(&b, "s-c") < node_y(&b, "s-b"));
    ASSERT_TRUE(node_y(&b, "cc") < node_y(&b, "cb"));
    ASSERT_TRUE(node_y(&b, "p1") < node_y(&b, "p2"));
    sbuf_deinit(&b);
    manifest_deinit(&m);
}

TEST(deterministic_bytes)
{
    struct sbuf first, again;
    for (int round = 0; round < 2; round++) {
        struct manifest m = {0};
        const char *cons[] = {"c1", "c2", "c3"};
        size_t s1 = add_sub(&m, "s1", 3, cons), s2 = add_sub(&m, "s2", 1, cons);
        for (int i = 0; i < 20; i++) {
            char name[16], prod[16];
            snprintf(name, sizeof(name), "t.%02d", i);
            snprintf(prod, sizeof(prod), "p%d", (i * 7) % 5);
            struct manifest_type *t =
                add_type(&m, name, i % 3 ? NULL : "owner");
            add_producer(t, prod, (uint64_t)i);
            t->subs[t->nsubs++] = i % 2 ? s1 : s2;
        }
        render(&m, round ? &again : &first);
        manifest_deinit(&m);
    }
    ASSERT_WELLFORMED(&first);
    ASSERT_EQ_MEM(first.data, first.len, again.data, again.len);
    sbuf_deinit(&first);
    sbuf_deinit(&again);
}

TEST(column_cap_draws_a_more_box)
{
    struct manifest m = {0};
    for (int i = 0; i < MAPSVG_COLUMN_MAX + 50; i++) {
        char name[16];
        snprintf(name, sizeof(name), "t.%04d", i);
        add_type(&m, name, NULL);
    }
    struct sbuf b;
    render(&m, &b);
    ASSERT_WELLFORMED(&b);
    ASSERT_EQ_INT(MAPSVG_COLUMN_MAX, count(&b, "class=\"node type\""));
    ASSERT_EQ_INT(1, count(&b, "class=\"node more\""));
    ASSERT_TRUE(strstr(b.data, ">+50 more</text>") != NULL);
    sbuf_deinit(&b);
    manifest_deinit(&m);
}

TEST(empty_manifest)
{
    struct manifest m = {0};
    struct sbuf b;
    render(&m, &b);
    ASSERT_WELLFORMED(&b);
    ASSERT_TRUE(strstr(b.data, "no event types yet") != NULL);
    ASSERT_EQ_INT(0, count(&b, "class=\"node "));
    sbuf_deinit(&b);
}

int main(int argc, char **argv)
{
    return test_main(
        argc, argv,
        (struct test[]){T(xml_checker_rejects_broken_xml),
                        T(escape_replaces_markup_bad_utf8_and_controls),
                        T(nodes_and_edges_of_a_manifest),
                        T(hostile_names_give_wellformed_xml),
                        T(order_reduces_crossings),
                        T(deterministic_bytes),
                        T(column_cap_draws_a_more_box),
                        T(empty_manifest),
                        {0}});
}
