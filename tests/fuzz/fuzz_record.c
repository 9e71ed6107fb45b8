/* libFuzzer target: the segment record decoder and header iterator.
 * Any input must decode to 0 (then every field lies inside the input and the
 * headers block walks exactly nheaders pairs), SEGMENT_NEED_MORE or
 * ERR_CORRUPT; a decoded record re-encodes to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t base;
    (void)segment_header_decode(data, size, &base);
    struct segment_record r;
    size_t used;
    int rc = segment_record_decode(data, size, &r, &used);
    if (rc == SEGMENT_NEED_MORE || rc == ERR_CORRUPT)
        return 0;
    if (rc != 0 || used > size)
        abort();
    size_t at = 0, n = 0;
    struct segment_hdr h;
    while (segment_headers_next(r.headers, r.headers_len, &at, &h))
        n++;
    if (n != r.nheaders)
        abort();
    uint8_t *out = malloc(used);
    if (!out)
        return 0;
    segment_record_encode(&r, out);
    if (segment_record_size(&r) != used || memcmp(out, data, used) != 0)
        abort();
    free(out);
    return 0;
}
