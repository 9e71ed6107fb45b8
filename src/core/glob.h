/* glob.h - Redis's glob patterns (KEYS, SCAN MATCH), byte for byte.
 *
 * The syntax of Redis's stringmatchlen(): '*' any run of bytes, '?' one byte,
 * "[abc]" one of a set, "[^a]" or "[^a-z]" none of it, "[a-z]" a range (ends
 * in either order), '\' makes the next byte literal (in a set too). Redis's
 * corner cases are kept: an empty subject matches only the empty pattern
 * (KEYS and SCAN treat a pattern of exactly "*" as "everything" before
 * matching), and a '[' set left open runs to the end of the pattern.
 *
 * Two deliberate differences from Redis: range ends and subject bytes compare
 * as unsigned bytes (Redis compares plain chars, signed on x86, so ranges that
 * cross 0x7f differ), and there is no limit of 1000 nested '*' (the matcher is
 * iterative: time O(pattern * subject), no recursion).
 *
 * config_glob_match (config.h) is the older matcher of CONFIG GET, COMMAND
 * LIST and the bus and lock listings; it differs from this one only in those
 * corner cases. Pure: no I/O, no allocation. */
#ifndef TINCAN_GLOB_H
#define TINCAN_GLOB_H

#include <stddef.h>

/* 1 if the plen bytes of pat match the slen bytes of s, else 0. nocase
 * compares ASCII letters without case (but, as in Redis, not an escaped
 * letter inside a set). */
int glob_match(const char *pat, size_t plen, const char *s, size_t slen,
               int nocase);

#endif
