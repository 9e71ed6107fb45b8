/* sbuf.h - a growable byte buffer.
 *
 * Used for reply buffers, INFO text and encoding records. Always keeps a NUL
 * after the data so the text can be used as a C string. Not thread-safe; not a
 * string library. */
#ifndef TINCAN_SBUF_H
#define TINCAN_SBUF_H

#include <stdarg.h>
#include <stddef.h>

struct sbuf {
    char *data;  /* NUL-terminated, owned */
    size_t len;  /* bytes used, excluding the NUL */
    size_t cap;  /* bytes allocated */
};

void sbuf_init(struct sbuf *b);
void sbuf_deinit(struct sbuf *b);
void sbuf_reserve(struct sbuf *b, size_t extra); /* room for extra more bytes */
void sbuf_add(struct sbuf *b, const void *p, size_t n);
void sbuf_addc(struct sbuf *b, char ch);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_addf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sbuf_vaddf(struct sbuf *b, const char *fmt, va_list ap);
void sbuf_clear(struct sbuf *b);            /* len = 0, keeps memory */
void sbuf_consume(struct sbuf *b, size_t n); /* drops the first n bytes */

#endif
