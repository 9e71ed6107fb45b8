/* console.h - the web console's routes: the page and its files (GET /,
 * /console.css, /console.js) and the events map (GET /map.svg).
 *
 * The page's files are web/ files, compiled in (webassets.h); the map is drawn
 * by mapsvg.c from types_manifest(). The page's data, /api/overview, is served
 * by the metrics side, not here. Loop thread only; nothing here blocks. */
#ifndef TINCAN_CONSOLE_H
#define TINCAN_CONSOLE_H

#include "http.h"

/* GET / (console.html), /console.css, /console.js: the embedded file whose
 * name the path gives, with its content type, Cache-Control "no-cache". */
void console_file_handle(const struct http_request *req,
                         struct http_response *res);

/* GET /map.svg[?pattern=P]: the events map of the types matching topic
 * pattern P (default: all) as image/svg+xml; 400 with the reason if P is not
 * a valid pattern. */
void console_map_handle(const struct http_request *req,
                        struct http_response *res);

#endif
