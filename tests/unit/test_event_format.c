/* The line formats of `tincan tail` (cli/event_format.c): text escapes,
 * JSON strings and objects, base64 for payloads that are not UTF-8, the
 * UTF-8 check (overlongs, surrogates, truncated sequences), and records
 * that are no events. The event records are built by hand as hiredis
 * would parse an EV.READ reply. */
#include "test.h"

#include "event_format.h"

#define STR(s)                                                                 \
    {                                                                          \
        .type = REDIS_REPLY_STRING, .str = (char *)(s), .len = sizeof(s) - 1   \
    }
#define INT(v)                                                                 \
    {                                                                          \
        .type = REDIS_REPLY_INTEGER, .integer = (v)                            \
    }
#define NIL                                                                    \
    {                                                                          \
        .type = REDIS_REPLY_NIL                                                \
    }

struct fake_event {
    redisReply f[20];   /* field, value, ... */
    redisReply hdr[2];  /* one header pair */
    redisReply headers; /* array of hdr */
    redisReply *fp[20], *hp[2];
    redisReply ev;
};

/* An event record at position 42 of type a.b with `payload` (n bytes),
 * key nil and one header trace=x"y. */
static redisReply *fake_event(struct fake_event *e, const char *payload,
                              size_t n)
{
    redisReply f[20] = {STR("position"),   INT(42),
                        STR("id"),         STR("tc-42"),
                        STR("entry_id"),   STR("1764770000123-0"),
                        STR("type"),       STR("a.b"),
                        STR("kind"),       STR("event"),
                        STR("time"),       INT(1764770000123),
                        STR("key"),        NIL,
                        STR("headers"),    {.type = REDIS_REPLY_ARRAY},
                        STR("payload"),    {.type = REDIS_REPLY_STRING},
                        STR("deliveries"), INT(1)};
    memcpy(e->f, f, sizeof(f));
    e->f[17].str = (char *)payload;
    e->f[17].len = n;
    e->hdr[0] = (redisReply)STR("trace");
    e->hdr[1] = (redisReply)STR("x\"y");
    e->hp[0] = &e->hdr[0];
    e->hp[1] = &e->hdr[1];
    e->f[15].elements = 2;
    e->f[15].element = e->hp;
    for (int i = 0; i < 20; i++)
        e->fp[i] = &e->f[i];
    e->ev = (redisReply){
        .type = REDIS_REPLY_ARRAY, .elements = 20, .element = e->fp};
    return &e->ev;
}

static void check_line(enum event_format f, const char *payload, size_t n,
                       const char *want)
{
    struct fake_event e;
    struct sbuf out;
    sbuf_init(&out);
    ASSERT_EQ_INT(0, event_format_line(f, fake_event(&e, payload, n), &out));
    ASSERT_EQ_STR(want, out.data);
    sbuf_deinit(&out);
}

TEST(text_line_has_time_position_type_payload)
{
    check_line(EVENT_FORMAT_TEXT, "{\"a\":1}", 7,
               "2025-12-03T13:53:20.123Z @42 a.b {\"a\":1}\n");
}

TEST(text_escapes_control_and_invalid_bytes_keeps_utf8)
{
    check_line(
        EVENT_FORMAT_TEXT, "a\nb\\c\t\x01\xff\xc3\xa9", 10,
        "2025-12-03T13:53:20.123Z @42 a.b a\\nb\\\\c\\t\\x01\\xff\xc3\xa9\n");
}

TEST(json_line_with_utf8_payload)
{
    check_line(
        EVENT_FORMAT_JSON, "h\xc3\xa9\"", 4,
        "{\"position\":42,\"id\":\"tc-42\",\"entry_id\":\"1764770000123-0\","
        "\"type\":\"a.b\",\"kind\":\"event\",\"time\":1764770000123,"
        "\"key\":null,\"headers\":{\"trace\":\"x\\\"y\"},\"deliveries\":1,"
        "\"payload\":\"h\xc3\xa9\\\"\"}\n");
}

TEST(json_line_base64_when_payload_not_utf8)
{
    check_line(
        EVENT_FORMAT_JSON, "\x00\xff\x10\x80", 4,
        "{\"position\":42,\"id\":\"tc-42\",\"entry_id\":\"1764770000123-0\","
        "\"type\":\"a.b\",\"kind\":\"event\",\"time\":1764770000123,"
        "\"key\":null,\"headers\":{\"trace\":\"x\\\"y\"},\"deliveries\":1,"
        "\"payload_base64\":\"AP8QgA==\"}\n");
}

TEST(raw_line_is_payload_bytes)
{
    struct fake_event e;
    struct sbuf out;
    sbuf_init(&out);
    ASSERT_EQ_INT(0, event_format_line(EVENT_FORMAT_RAW,
                                       fake_event(&e, "a\0b", 3), &out));
    ASSERT_EQ_MEM("a\0b\n", (size_t)4, out.data, out.len);
    sbuf_deinit(&out);
}

TEST(base64_padding_each_length)
{
    struct fake_event e;
    struct sbuf out;
    const char *want[] = {"\"payload_base64\":\"/w==\"}",
                          "\"payload_base64\":\"//8=\"}",
                          "\"payload_base64\":\"////\"}"};
    for (size_t n = 1; n <= 3; n++) {
        sbuf_init(&out);
        ASSERT_EQ_INT(0, event_format_line(EVENT_FORMAT_JSON,
                                           fake_event(&e, "\xff\xff\xff", n),
                                           &out));
        ASSERT_TRUE(strstr(out.data, want[n - 1]) != NULL);
        sbuf_deinit(&out);
    }
}

TEST(utf8_check_refuses_overlong_surrogate_truncated)
{
    ASSERT_EQ_INT(1, event_format_is_utf8("", 0));
    ASSERT_EQ_INT(1, event_format_is_utf8("\xf0\x9f\x98\x80 ok", 7));
    ASSERT_EQ_INT(0, event_format_is_utf8("\xc0\xaf", 2));     /* overlong */
    ASSERT_EQ_INT(0, event_format_is_utf8("\xe0\x80\xaf", 3)); /* overlong */
    ASSERT_EQ_INT(0, event_format_is_utf8("\xed\xa0\x80", 3)); /* surrogate */
    ASSERT_EQ_INT(0,
                  event_format_is_utf8("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    ASSERT_EQ_INT(0, event_format_is_utf8("\xe2\x82", 2));      /* cut */
    ASSERT_EQ_INT(0, event_format_is_utf8("\x80", 1));
}

TEST(json_string_escapes_invalid_bytes_as_u00nn)
{
    struct sbuf out;
    sbuf_init(&out);
    event_format_json_string(&out, "\x7f\x1f\xfe", 3);
    ASSERT_EQ_STR("\"\\u007f\\u001f\\u00fe\"", out.data);
    sbuf_deinit(&out);
}

TEST(record_without_payload_is_refused)
{
    struct fake_event e;
    redisReply *ev = fake_event(&e, "x", 1);
    ev->elements = 16; /* cut before payload */
    struct sbuf out;
    sbuf_init(&out);
    ASSERT_EQ_INT(-1, event_format_line(EVENT_FORMAT_TEXT, ev, &out));
    redisReply not_array = {.type = REDIS_REPLY_NIL};
    ASSERT_EQ_INT(-1, event_format_line(EVENT_FORMAT_JSON, &not_array, &out));
    ASSERT_EQ_INT(0, (long long)out.len);
    sbuf_deinit(&out);
}

TEST(format_names)
{
    enum event_format f;
    ASSERT_EQ_INT(0, event_format_parse("json", &f));
    ASSERT_EQ_INT(EVENT_FORMAT_JSON, f);
    ASSERT_EQ_INT(0, event_format_parse("raw", &f));
    ASSERT_EQ_INT(EVENT_FORMAT_RAW, f);
    ASSERT_EQ_INT(-1, event_format_parse("JSON", &f));
    ASSERT_EQ_INT(-1, event_format_parse("", &f));
}

int main(int argc, char **argv)
{
    return test_main(
        argc, argv,
        (struct test[]){T(text_line_has_time_position_type_payload),
                        T(text_escapes_control_and_invalid_bytes_keeps_utf8),
                        T(json_line_with_utf8_payload),
                        T(json_line_base64_when_payload_not_utf8),
                        T(raw_line_is_payload_bytes),
                        T(base64_padding_each_length),
                        T(utf8_check_refuses_overlong_surrogate_truncated),
                        T(json_string_escapes_invalid_bytes_as_u00nn),
                        T(record_without_payload_is_refused),
                        T(format_names),
                        {0}});
}
