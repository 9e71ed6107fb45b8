#include "glob.h"

static unsigned char fold(unsigned char ch, int nocase)
{
    return nocase && ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch + 32) : ch;
}

/* A '[' set at p (plen bytes left, p[0] == '[') against ch. Sets *elen to
 * the bytes of pattern the set takes: up to its ']', or the whole rest when
 * it is not closed (Redis then backs up one byte, so the outer step eats the
 * last one: the same thing). */
static int set_match(const unsigned char *p, size_t plen, unsigned char ch,
                     int nocase, size_t *elen)
{
    size_t i = 1;
    int neg = 0, match = 0;
    if (i < plen && p[i] == '^') {
        neg = 1;
        i++;
    }
    for (;;) {
        if (i + 1 < plen && p[i] == '\\') {
            i++;
            match |= p[i] == ch; /* Redis: exact even with nocase */
        } else if (i < plen && p[i] == ']') {
            break;
        } else if (i >= plen) {
            i--;
            break;
        } else if (plen - i >= 3 && p[i + 1] == '-') {
            unsigned char lo = p[i], hi = p[i + 2], c = ch;
            if (lo > hi) {
                unsigned char t = lo;
                lo = hi;
                hi = t;
            }
            if (nocase) {
                lo = fold(lo, 1);
                hi = fold(hi, 1);
                c = fold(c, 1);
            }
            match |= c >= lo && c <= hi;
            i += 2;
        } else {
            match |= fold(p[i], nocase) == fold(ch, nocase);
        }
        i++;
    }
    *elen = i + 1;
    return neg ? !match : match;
}

/* One element at p (not '*') against ch; *elen its length in the pattern. */
static int elem_match(const unsigned char *p, size_t plen, unsigned char ch,
                      int nocase, size_t *elen)
{
    if (*p == '?') {
        *elen = 1;
        return 1;
    }
    if (*p == '[')
        return set_match(p, plen, ch, nocase, elen);
    if (*p == '\\' && plen >= 2) {
        *elen = 2;
        return fold(p[1], nocase) == fold(ch, nocase);
    }
    *elen = 1;
    return fold(*p, nocase) == fold(ch, nocase);
}

/* Every element other than '*' takes exactly one subject byte, so on a
 * mismatch it is enough to retry from the last '*' one byte further on:
 * the same answers as Redis's recursion. */
int glob_match(const char *pat, size_t plen, const char *s, size_t slen,
               int nocase)
{
    const unsigned char *p = (const unsigned char *)pat;
    const unsigned char *str = (const unsigned char *)s;
    if (slen == 0)
        return plen == 0;
    size_t i = 0, k = 0;
    size_t star_i = (size_t)-1, star_k = 0;
    while (k < slen) {
        size_t elen;
        if (i < plen && p[i] == '*') {
            star_i = ++i;
            star_k = k;
        } else if (i < plen &&
                   elem_match(p + i, plen - i, str[k], nocase, &elen)) {
            i += elen;
            k++;
        } else if (star_i != (size_t)-1) {
            i = star_i;
            k = ++star_k;
        } else {
            return 0;
        }
    }
    while (i < plen && p[i] == '*')
        i++;
    return i == plen;
}
