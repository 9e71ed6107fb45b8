/* fuzz_http_query.c - libFuzzer target for the HTTP query-string decoder
 * (http_query_param in http.h).
 *
 * The input is "name\nquery" (no newline: the whole input is the query and
 * the name is "q"). Invariants checked (abort() on violation):
 *   - the result is NULL or the caller's buffer, NUL-terminated within it,
 *     with no NUL byte before its end (a %00 is refused);
 *   - a buffer one byte bigger never turns a found value into an absent one,
 *     and gives the same value.
 *
 * It does not test the connection code around it (http.c's parser callbacks
 * run only under a socket; tests/integration/test_http.py covers them). */
#include "http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    if (strlen(text) !=
        size) { /* NULs cannot reach a query: parsed as C text */
        free(text);
        return 0;
    }
    const char *name = "q", *query = text;
    char *nl = strchr(text, '\n');
    if (nl) {
        *nl = '\0';
        name = text;
        query = nl + 1;
    }
    struct http_request req = {"GET", "/", query};
    char small[16], big[17];
    const char *a = http_query_param(&req, name, small, sizeof(small));
    const char *b = http_query_param(&req, name, big, sizeof(big));
    if (a && a != small)
        abort();
    if (b && b != big)
        abort();
    if (a &&
        (memchr(small, '\0', sizeof(small)) == NULL || !b || strcmp(a, b) != 0))
        abort();
    free(text);
    return 0;
}
