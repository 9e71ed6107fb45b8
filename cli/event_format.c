/* event_format.c - the text, JSON and raw lines of `tincan tail`
 * (event_format.h). */
#include "event_format.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "remote.h"

int event_format_parse(const char *s, enum event_format *f)
{
    if (!strcmp(s, "text"))
        *f = EVENT_FORMAT_TEXT;
    else if (!strcmp(s, "json"))
        *f = EVENT_FORMAT_JSON;
    else if (!strcmp(s, "raw"))
        *f = EVENT_FORMAT_RAW;
    else
        return -1;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int event_format_is_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(p + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

void event_format_escape_text(struct sbuf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t k = utf8_len(p + i, n - i);
        if (k > 1) {
            sbuf_add(out, p + i, k);
            i += k;
            continue;
        }
        i++;
        if (c == '\\')
            sbuf_adds(out, "\\\\");
        else if (c == '\n')
            sbuf_adds(out, "\\n");
        else if (c == '\r')
            sbuf_adds(out, "\\r");
        else if (c == '\t')
            sbuf_adds(out, "\\t");
        else if (c < 0x20 || c >= 0x7f)
            sbuf_addf(out, "\\x%02x", c);
        else
            sbuf_addc(out, (char)c);
    }
}

void event_format_json_string(struct sbuf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    sbuf_addc(out, '"');
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t k = utf8_len(p + i, n - i);
        if (k > 1) {
            sbuf_add(out, p + i, k);
            i += k;
            continue;
        }
        i++;
        if (c == '"' || c == '\\')
            sbuf_addf(out, "\\%c", c);
        else if (c == '\n')
            sbuf_adds(out, "\\n");
        else if (c == '\r')
            sbuf_adds(out, "\\r");
        else if (c == '\t')
            sbuf_adds(out, "\\t");
        else if (c < 0x20 || c >= 0x7f)
            sbuf_addf(out, "\\u%04x", c);
        else
            sbuf_addc(out, (char)c);
    }
    sbuf_addc(out, '"');
}

static void base64(struct sbuf *out, const unsigned char *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        sbuf_addc(out, tab[v >> 18 & 63]);
        sbuf_addc(out, tab[v >> 12 & 63]);
        sbuf_addc(out, i + 1 < n ? tab[v >> 6 & 63] : '=');
        sbuf_addc(out, i + 2 < n ? tab[v & 63] : '=');
    }
}

static void iso_time(struct sbuf *out, long long ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];
    gmtime_r(&secs, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    sbuf_addf(out, "%s.%03lldZ", buf, ms % 1000);
}

/* A bulk field as a JSON string, or null. */
static void json_field(struct sbuf *out, const redisReply *ev, const char *name)
{
    const redisReply *v = remote_field(ev, name);
    sbuf_addf(out, ",\"%s\":", name);
    if (v && (v->type == REDIS_REPLY_STRING || v->type == REDIS_REPLY_STATUS))
        event_format_json_string(out, v->str, v->len);
    else
        sbuf_adds(out, "null");
}

static void json_headers(struct sbuf *out, const redisReply *h)
{
    int n = 0;
    sbuf_adds(out, ",\"headers\":{");
    for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements;
         i += 2) {
        const redisReply *k = h->element[i], *v = h->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (n++)
            sbuf_addc(out, ',');
        event_format_json_string(out, k->str, k->len);
        sbuf_addc(out, ':');
        event_format_json_string(out, v->str, v->len);
    }
    sbuf_addc(out, '}');
}

static void json_line(struct sbuf *out, const redisReply *ev,
                      const redisReply *payload)
{
    sbuf_addf(out, "{\"position\":%lld", remote_int(ev, "position", 0));
    json_field(out, ev, "id");
    json_field(out, ev, "entry_id");
    json_field(out, ev, "type");
    json_field(out, ev, "kind");
    sbuf_addf(out, ",\"time\":%lld", remote_int(ev, "time", 0));
    json_field(out, ev, "key");
    json_headers(out, remote_field(ev, "headers"));
    sbuf_addf(out, ",\"deliveries\":%lld", remote_int(ev, "deliveries", 1));
    if (event_format_is_utf8(payload->str, payload->len)) {
        sbuf_adds(out, ",\"payload\":");
        event_format_json_string(out, payload->str, payload->len);
    } else {
        sbuf_adds(out, ",\"payload_base64\":\"");
        base64(out, (const unsigned char *)payload->str, payload->len);
        sbuf_addc(out, '"');
    }
    sbuf_adds(out, "}\n");
}

int event_format_line(enum event_format f, const redisReply *ev,
                      struct sbuf *out)
{
    const redisReply *pos = remote_field(ev, "position");
    const redisReply *payload = remote_field(ev, "payload");
    if (!pos || pos->type != REDIS_REPLY_INTEGER || !payload ||
        payload->type != REDIS_REPLY_STRING)
        return -1;
    switch (f) {
    case EVENT_FORMAT_TEXT: {
        const char *type = remote_str(ev, "type");
        iso_time(out, remote_int(ev, "time", 0));
        sbuf_addf(out, " @%lld %s ", pos->integer, type ? type : "?");
        event_format_escape_text(out, payload->str, payload->len);
        sbuf_addc(out, '\n');
        break;
    }
    case EVENT_FORMAT_JSON:
        json_line(out, ev, payload);
        break;
    case EVENT_FORMAT_RAW:
        sbuf_add(out, payload->str, payload->len);
        sbuf_addc(out, '\n');
        break;
    }
    return 0;
}
