/* fuzz_bus_record.c - libFuzzer target for the bus journal's record decoder
 * (bus_recover in bus.h), positions replays included.
 *
 * The input is a run of records, each u8 type | u16 length (LE) | payload
 * (a length past the end is cut there), applied to a set that already holds
 * the durable subscription "x" (pattern "#"), as recovery would. Invariants
 * checked (abort() on violation):
 *   - every record gives 0 or ERR_CORRUPT, nothing else;
 *   - a checkpoint of the result recovers into a fresh set without an error
 *     and with the same subscriptions, cursors and unfinished replays;
 *   - whatever was applied can be served: a read delivers a position at
 *     most once, and ASan/UBSan see no bad access on the way.
 *
 * It does not test the journal's framing or files (journal.c, cmd_bus.c). */
#include "bus.h"

#include "common.h"
#include "errors.h"
#include "sbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW  1000u
#define WALL 1700000000000LL
#define LAST 5000u /* the fake store holds positions 1..LAST */

/* Every stored position matches; bounded work per call. */
static int src_next(void *ctx, const struct bus_pattern *pats, size_t npats,
                    uint64_t after, uint64_t until, uint64_t *pos)
{
    (void)ctx;
    (void)pats;
    (void)npats;
    if (after < LAST && after + 1 <= until) {
        *pos = after + 1;
        return 1;
    }
    *pos = until;
    return 0;
}

static uint64_t src_visible(void *ctx)
{
    (void)ctx;
    return LAST;
}

static const struct bus_source source = {NULL, src_next, src_visible};

static int emit(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
    struct sbuf *b = ctx;
    uint8_t h[5] = {type, (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
                    (uint8_t)(n >> 24)};
    sbuf_add(b, h, 5);
    sbuf_add(b, p, n);
    return 0;
}

/* "name replays cursor" of every durable subscription, to compare sets. */
static void picture(struct bus_set *s, struct sbuf *out)
{
    sbuf_clear(out);
    for (size_t i = 0; i < bus_count(s); i++) {
        struct bus_sub_info in;
        bus_sub_info(bus_at(s, i), &in);
        if (!in.ephemeral)
            sbuf_addf(out, "%.*s %llu %llu\n", (int)in.name_len, in.name,
                      (unsigned long long)in.replays,
                      (unsigned long long)in.cursor);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bus_set *s = bus_set_new(NULL, WALL);
    struct bus_pattern any = {"#", 1};
    struct bus_sub_args a = {0};
    a.name = "x";
    a.name_len = 1;
    a.pats = &any;
    a.npats = 1;
    struct bus_sub *sub;
    char err[256];
    if (bus_sub(s, &a, &sub, err, sizeof(err)) != 1)
        abort();
    size_t o = 0;
    while (size - o >= 3) {
        uint8_t type = data[o];
        size_t n = (size_t)data[o + 1] | (size_t)data[o + 2] << 8;
        o += 3;
        if (n > size - o)
            n = size - o;
        int rc = bus_recover(s, type, data + o, n, NOW, err, sizeof(err));
        if (rc != 0 && rc != ERR_CORRUPT)
            abort();
        o += n;
    }
    /* a checkpoint of what was applied recovers as it is */
    struct sbuf ck, want, got;
    sbuf_init(&ck);
    sbuf_init(&want);
    sbuf_init(&got);
    if (bus_checkpoint(s, 1 << 16, emit, &ck) != 0)
        abort();
    picture(s, &want);
    struct bus_set *r = bus_set_new(NULL, WALL);
    for (size_t k = 0; k + 5 <= ck.len;) {
        const uint8_t *h = (const uint8_t *)ck.data + k;
        size_t n =
            h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 | (size_t)h[4] << 24;
        if (bus_recover(r, h[0], h + 5, n, NOW, err, sizeof(err)) != 0)
            abort();
        k += 5 + n;
    }
    picture(r, &got);
    if (want.len != got.len || memcmp(want.data, got.data, want.len) != 0)
        abort();
    bus_set_free(r);
    /* and it can be served */
    struct bus_entry *out[64];
    for (size_t i = 0; i < bus_count(s); i++) {
        struct bus_sub *b = bus_at(s, i);
        for (int round = 0; round < 4; round++) {
            int n = bus_read(s, b, "fz", 2, 64, &source, NOW + 1, out);
            if (n < 0 || n > 64)
                abort();
            for (int k = 0; k < n; k++) {
                for (int m = 0; m < k; m++)
                    if (out[m]->pos == out[k]->pos)
                        abort();
            }
            bus_tick(s, NOW + 100000000ull);
        }
    }
    sbuf_deinit(&ck);
    sbuf_deinit(&want);
    sbuf_deinit(&got);
    bus_set_free(s);
    return 0;
}
