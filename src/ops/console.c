/* console.c - the web console's routes (console.h). */
#include "console.h"

#include <string.h>

#include "cmd_types.h"
#include "manifest.h"
#include "mapsvg.h"
#include "topic.h"
#include "webassets.h"

#define PATTERN_MAX 1024 /* bytes of a ?pattern= value */

static const struct {
    const char *suffix, *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
};

static const char *content_type(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]);
         i++) {
        size_t k = strlen(content_types[i].suffix);
        if (n >= k && strcmp(name + n - k, content_types[i].suffix) == 0)
            return content_types[i].type;
    }
    return "application/octet-stream";
}

void console_file_handle(const struct http_request *req,
                         struct http_response *res)
{
    const char *name =
        strcmp(req->path, "/") == 0 ? "console.html" : req->path + 1;
    for (size_t i = 0; i < web_nassets; i++) {
        if (strcmp(web_assets[i].name, name) != 0)
            continue;
        res->content_type = content_type(name);
        /* revalidated each load, so a new build's page is never stale */
        res->cache_control = "no-cache";
        sbuf_add(&res->body, web_assets[i].data, web_assets[i].len);
        return;
    }
    res->status = 404; /* a route registered without its file: a build bug */
    sbuf_adds(&res->body, "not found\n");
}

/* Does the raw query string name parameter name (with or without a value)? */
static int has_param(const char *q, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = q; *p; p += strcspn(p, "&"), p += *p == '&') {
        size_t k = strcspn(p, "=&");
        if (k == n && memcmp(p, name, n) == 0)
            return 1;
    }
    return 0;
}

void console_map_handle(const struct http_request *req,
                        struct http_response *res)
{
    char pat[PATTERN_MAX + 1], why[200];
    const char *p = http_query_param(req, "pattern", pat, sizeof(pat));
    size_t plen = p ? strlen(p) : 0;
    if (!p && has_param(req->query, "pattern")) {
        res->status = 400;
        sbuf_addf(&res->body, "pattern: longer than %d bytes\n", PATTERN_MAX);
        return;
    }
    if (p && topic_pattern_check(p, plen, why, sizeof(why)) != 0) {
        res->status = 400;
        sbuf_addf(&res->body, "pattern: %s\n", why);
        return;
    }
    struct manifest m;
    types_manifest(&m, p, plen);
    res->content_type = "image/svg+xml";
    mapsvg_render(&m, &res->body);
    manifest_deinit(&m);
}
