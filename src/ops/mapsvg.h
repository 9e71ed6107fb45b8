/* mapsvg.h - the events map as an SVG picture, drawn from a manifest.
 *
 * A left-to-right layered graph in four columns: producers, event types,
 * subscriptions and stream consumer groups, consumers. Edges are curves
 * producer -> type -> subscription (or group) -> consumer; a declared owner
 * never seen publishing its type is a dashed edge. Within a column the nodes
 * are ordered to reduce crossings (barycenter of their neighbours, a few
 * sweeps down and up), boxes are sized from their label's length, and the
 * same manifest always gives the same bytes.
 *
 * Pure: no I/O, no server state; the console's GET /map.svg feeds it
 * types_manifest(). It is not a general graph layout library and draws no
 * numbers (the console's tables have those). */
#ifndef TINCAN_MAPSVG_H
#define TINCAN_MAPSVG_H

#include <stddef.h>

#include "manifest.h"
#include "sbuf.h"

/* Nodes drawn per column at most; the rest become one "+N more" box. */
#define MAPSVG_COLUMN_MAX 150
/* Code points of a label drawn at most; a longer one is cut with an ellipsis
 * (its <title> keeps the whole name). */
#define MAPSVG_LABEL_MAX 40

/* Appends the map of m to out as a standalone SVG document (UTF-8). Every
 * name is XML-escaped; bad UTF-8 and characters XML cannot carry are drawn
 * as U+FFFD. Subscriptions that match none of m's types are left out. Each
 * node is a <g class="node KIND" id="nK"> (KIND: producer, type, sub or
 * "sub ephemeral", group, consumer, more) holding a <title> with the full
 * name, a <rect> and a <text>; each edge a <path class="edge[ owner]"
 * data-from="nA" data-to="nB">. The root's class is "tmap" and every style
 * rule is scoped under it, so the SVG can be put inline in a page. Never
 * fails. */
void mapsvg_render(const struct manifest *m, struct sbuf *out);

/* The XML escaping of names, for tests: appends p[0..n) as XML text (at most
 * max code points, then an ellipsis; max 0: no limit). Returns the number
 * of characters appended (code points, the ellipsis included). */
size_t mapsvg_escape(struct sbuf *out, const char *p, size_t n, size_t max);

#endif
