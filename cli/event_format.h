/* event_format.h - how `tincan tail` writes one event: the text, JSON and
 * raw line formats, from the event record the server replied (EV.READ).
 *
 * Pure formatting into a caller's buffer: no I/O, no server. Not a general
 * JSON writer: it writes exactly the fields of an event record.
 *
 * Formats (docs/cli.md):
 *   text  `2026-12-03T13:35:24.123Z @42 order.created <payload>`: the payload's
 *         valid UTF-8 kept, control bytes as \n \r \t \\ or \xNN, bytes that
 *         are not UTF-8 as \xNN.
 *   json  one object: position, id, entry_id, type, kind, time, key (null if
 *         none), headers (object), deliveries, and payload (a JSON string) when
 *         the payload is valid UTF-8, else payload_base64 (standard base64).
 *         In the other strings a byte that is not UTF-8 becomes \u00NN.
 *   raw   the payload bytes unchanged.
 * Each line ends with "\n". */
#ifndef TINCAN_CLI_EVENT_FORMAT_H
#define TINCAN_CLI_EVENT_FORMAT_H

#include <hiredis/hiredis.h>

#include "sbuf.h"

enum event_format { EVENT_FORMAT_TEXT, EVENT_FORMAT_JSON, EVENT_FORMAT_RAW };

/* Parses "text", "json" or "raw"; 0, or -1 for anything else. */
int event_format_parse(const char *s, enum event_format *f);

/* Appends the line of event record `ev` to out. Returns 0, or -1 when `ev`
 * is not an event record (no integer position or no payload). */
int event_format_line(enum event_format f, const redisReply *ev,
                      struct sbuf *out);

/* Appends s[0..n) with text-format escapes (exported for the unit test). */
void event_format_escape_text(struct sbuf *out, const char *s, size_t n);

/* Appends s[0..n) as a quoted JSON string, bytes that are not UTF-8 as
 * \u00NN. */
void event_format_json_string(struct sbuf *out, const char *s, size_t n);

/* 1 when s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
int event_format_is_utf8(const char *s, size_t n);

#endif
