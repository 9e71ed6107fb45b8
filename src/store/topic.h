/* topic.h - event types and topic patterns (RabbitMQ topic-exchange rules).
 *
 * A type is 1..255 bytes of dot-separated words; each word is 1 or more of
 * [A-Za-z0-9_-] ("order.created"). A pattern has the same shape, but a word may
 * also be "*" (exactly one word) or "#" (zero or more words): "order.#"
 * matches "order", "order.created" and "order.a.b"; "*.created" matches
 * "order.created" but not "created".
 *
 * Pure functions: no allocation, no I/O. Not a glob matcher (config has one). */
#ifndef TINCAN_TOPIC_H
#define TINCAN_TOPIC_H

#include <stddef.h>

#define TOPIC_MAX_LEN 255 /* bytes of a type or pattern */

/* 0 if s is a valid type; else ERR_INVAL with why ("empty word", "wildcard
 * not allowed in a type", ...) written into err. */
int topic_type_check(const char *s, size_t n, char *err, size_t errlen);
/* 0 if s is a valid pattern; else ERR_INVAL with why written into err. */
int topic_pattern_check(const char *s, size_t n, char *err, size_t errlen);
/* 1 if pattern p has no '*' or '#' word (it names one type). */
int topic_is_literal(const char *p, size_t pn);
/* 1 if the valid type t matches the valid pattern p. */
int topic_match(const char *p, size_t pn, const char *t, size_t tn);

#endif
