/* common.h - the few definitions every module needs.
 *
 * Allocation wrappers that abort on out-of-memory (graceful failure effort goes
 * into I/O, where durability lives), and ARRAY_LEN. This is not a grab-bag:
 * anything with a concept of its own gets its own module. */
#ifndef TINCAN_COMMON_H
#define TINCAN_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Each returns memory owned by the caller (free with free()); never NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
void *xmemdup(const void *p, size_t n); /* adds a NUL after the n bytes */

#endif
