/* libFuzzer target: the index file loader (index_decode). Any input must be
 * accepted or refused with ERR_CORRUPT; an accepted index answers lookups
 * without reading out of bounds, and re-reading its postings through the
 * bytes stays inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "errors.h"
#include "index.h"
#include "le.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size);

/* Each input is tried as is and with its trailing crc fixed up, so the fuzzer
 * reaches the parser behind the checksum. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    if (size >= 4) {
        uint8_t *fixed = malloc(size);
        if (!fixed)
            return 0;
        memcpy(fixed, data, size);
        le_put32(fixed + size - 4, crc32c(0, fixed, size - 4));
        check(fixed, size);
        free(fixed);
    }
    return 0;
}

static void check(const uint8_t *data, size_t size)
{
    struct index ix;
    uint64_t base = size >= 24 ? le_get64(data + 16) : 1;
    uint64_t seg = size >= 32 ? le_get64(data + 24) : 0;
    index_init(&ix, base);
    char err[128];
    int rc = index_decode(&ix, data, size, seg, err, sizeof(err));
    if (rc != 0 && rc != ERR_CORRUPT)
        abort();
    if (rc == 0) {
        (void)index_offset_before(&ix, base + 5);
        (void)index_pos_for_time(&ix, 12345);
        (void)index_pos_until_time(&ix, 12345);
        for (size_t i = 0; i < ix.ntypes; i++) {
            const struct index_type *t = &ix.types[i];
            if (t->file_off + t->count * 8 > size)
                abort();
        }
    }
    index_deinit(&ix);
}
