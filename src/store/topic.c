#include "topic.h"

#include "errors.h"

#include <stdio.h>
#include <string.h>

static int word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int check(const char *s, size_t n, int pattern, char *err, size_t errlen)
{
    if (n == 0) {
        snprintf(err, errlen, "empty");
        return ERR_INVAL;
    }
    if (n > TOPIC_MAX_LEN) {
        snprintf(err, errlen, "longer than %d bytes", TOPIC_MAX_LEN);
        return ERR_INVAL;
    }
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        size_t wl = i - start;
        const char *w = s + start;
        if (wl == 0) {
            snprintf(err, errlen, "empty word");
            return ERR_INVAL;
        }
        if (wl == 1 && (w[0] == '*' || w[0] == '#')) {
            if (!pattern) {
                snprintf(err, errlen, "wildcard '%c' not allowed in a type", w[0]);
                return ERR_INVAL;
            }
        } else {
            for (size_t k = 0; k < wl; k++) {
                if (!word_char((unsigned char)w[k])) {
                    if (w[k] == '*' || w[k] == '#')
                        snprintf(err, errlen, "'%c' must be a whole word", w[k]);
                    else
                        snprintf(err, errlen,
                                 "bad character at byte %zu (allowed: "
                                 "A-Z a-z 0-9 _ - and '.' between words)",
                                 start + k);
                    return ERR_INVAL;
                }
            }
        }
        start = i + 1;
    }
    return 0;
}

int topic_type_check(const char *s, size_t n, char *err, size_t errlen)
{
    return check(s, n, 0, err, errlen);
}

int topic_pattern_check(const char *s, size_t n, char *err, size_t errlen)
{
    return check(s, n, 1, err, errlen);
}

int topic_is_literal(const char *p, size_t pn)
{
    size_t start = 0;
    for (size_t i = 0; i <= pn; i++) {
        if (i < pn && p[i] != '.')
            continue;
        if (i - start == 1 && (p[start] == '*' || p[start] == '#'))
            return 0;
        start = i + 1;
    }
    return 1;
}

/* Length of the word starting at s (up to '.' or end). */
static size_t wlen(const char *s, size_t n)
{
    const char *d = memchr(s, '.', n);
    return d ? (size_t)(d - s) : n;
}

/* Words are consumed from the front; pn/tn == 0 means no words left (a valid
 * type/pattern never has an empty word, so "" is the empty word list). The
 * '#' case recurses once per type word it could swallow: O(words^2) at worst
 * with several '#', fine for 255-byte inputs. */
static int match(const char *p, size_t pn, const char *t, size_t tn)
{
    while (pn) {
        size_t pw = wlen(p, pn);
        const char *pnext = p + pw + (pw < pn);
        size_t pnn = pn - pw - (pw < pn);
        if (pw == 1 && p[0] == '#') {
            if (pnn == 0)
                return 1; /* trailing '#' eats the rest */
            /* '#' eats 0, 1, 2, ... words of t */
            for (;;) {
                if (match(pnext, pnn, t, tn))
                    return 1;
                if (tn == 0)
                    return 0;
                size_t tw = wlen(t, tn);
                t += tw + (tw < tn);
                tn -= tw + (tw < tn);
            }
        }
        if (tn == 0)
            return 0;
        size_t tw = wlen(t, tn);
        if (!(pw == 1 && p[0] == '*') && (pw != tw || memcmp(p, t, tw) != 0))
            return 0;
        p = pnext;
        pn = pnn;
        t += tw + (tw < tn);
        tn -= tw + (tw < tn);
    }
    return tn == 0;
}

int topic_match(const char *p, size_t pn, const char *t, size_t tn)
{
    return match(p, pn, t, tn);
}
