/* fuzz_ring_state.c - libFuzzer target for the ring state file decoder
 * (ring_set_decode in ring.h).
 *
 * The input is a state file. Invariants checked (abort() on violation):
 *   - decode returns 0 or ERR_CORRUPT, nothing else;
 *   - after ERR_CORRUPT the set still holds what it held before (a sentinel
 *     ring decoded first is still there, unchanged);
 *   - after success, every ring and member is valid (names, nodes, weights,
 *     limits), and encoding then decoding again gives the same text: the
 *     format round-trips.
 *
 * It does not test the file I/O around the decoder (cmd_ring.c). */
#include "ring.h"

#include "errors.h"
#include "sbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MONO 1000u
#define NOW_WALL 1700000000000ull

static void check_valid(const struct ring_set *s)
{
    char err[256];
    if (s->nrings > RING_RINGS_MAX)
        abort();
    for (size_t i = 0; i < s->nrings; i++) {
        const struct ring *r = s->rings[i];
        if (ring_name_check(r->name, strlen(r->name), err, sizeof(err)) < 0)
            abort();
        if (i > 0 && strcmp(s->rings[i - 1]->name, r->name) >= 0)
            abort();
        if (r->check_interval_ms != 0 &&
            (r->check_interval_ms < RING_CHECK_MIN_MS ||
             r->check_interval_ms > RING_CHECK_MAX_MS))
            abort();
        if (r->nmembers > RING_MEMBERS_MAX ||
            ring_total_weight(r) > RING_TOTAL_WEIGHT_MAX)
            abort();
        for (size_t j = 0; j < r->nmembers; j++) {
            const struct ring_member *m = &r->members[j];
            if (ring_node_check(m->node, m->node_len, err, sizeof(err)) < 0 ||
                m->weight < 1 || m->weight > RING_WEIGHT_MAX)
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ring_set s;
    struct sbuf a, b, seed;
    char err[256];
    ring_set_init(&s);
    sbuf_init(&a);
    sbuf_init(&b);
    sbuf_init(&seed);

    /* a valid sentinel state (with its checksum line) */
    {
        struct ring_set t;
        ring_set_init(&t);
        struct ring *r = ring_set_get(&t, "sentinel", 8);
        ring_join(r, "s:1", 3, 1, -1, NOW_MONO, err, sizeof(err));
        ring_set_encode(&t, NOW_MONO, NOW_WALL, &seed);
        ring_set_deinit(&t);
    }
    if (ring_set_decode(&s, seed.data, seed.len, NOW_MONO, NOW_WALL, err,
                        sizeof(err)) != 0)
        abort();

    int rc = ring_set_decode(&s, (const char *)data, size, NOW_MONO, NOW_WALL,
                             err, sizeof(err));
    if (rc != 0 && rc != ERR_CORRUPT)
        abort();
    if (rc == ERR_CORRUPT) {
        if (s.nrings != 1 || strcmp(s.rings[0]->name, "sentinel") != 0 ||
            s.rings[0]->nmembers != 1)
            abort();
    } else {
        check_valid(&s);
        ring_set_encode(&s, NOW_MONO, NOW_WALL, &a);
        if (ring_set_decode(&s, a.data, a.len, NOW_MONO, NOW_WALL, err,
                            sizeof(err)) != 0)
            abort();
        ring_set_encode(&s, NOW_MONO, NOW_WALL, &b);
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            abort();
    }
    sbuf_deinit(&a);
    sbuf_deinit(&b);
    sbuf_deinit(&seed);
    ring_set_deinit(&s);
    return 0;
}
