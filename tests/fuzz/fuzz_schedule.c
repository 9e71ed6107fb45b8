/* fuzz_schedule.c - libFuzzer target for the schedule state file decoder
 * (sched_set_decode in schedule.h).
 *
 * The input is a state file without its crc32c trailer: the target appends
 * the right one, so that mutations reach the field checks instead of all
 * stopping at the checksum. Invariants checked (abort() on violation):
 *   - decode returns 0 or ERR_CORRUPT, nothing else;
 *   - after ERR_CORRUPT the set still holds what it held before (a sentinel
 *     schedule put first is still there, unchanged);
 *   - after success, every schedule is one sched_set_put would accept (name,
 *     pattern, bounds), names are strictly increasing, and encoding gives back
 *     exactly the input: the format has one encoding per set.
 *
 * It does not test the file I/O around the decoder (cmd_entity.c). */
#include "schedule.h"

#include "common.h"
#include "crc32c.h"
#include "errors.h"
#include "le.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_valid(const struct sched_set *set)
{
    char why[256];
    for (size_t i = 0; i < sched_set_count(set); i++) {
        const struct sched *s = sched_set_at(set, i);
        struct sched_spec sp = {.name = s->name,
                                .name_len = s->name_len,
                                .kind = s->kind,
                                .pattern = s->pattern,
                                .pattern_len = s->pattern_len,
                                .state = s->state,
                                .last_ms = s->last_ms,
                                .into = s->into,
                                .into_len = s->into_len,
                                .every_ms = s->every_ms,
                                .at = s->at};
        struct sched_set one;
        sched_set_init(&one);
        if (sched_set_put(&one, &sp, 0, why, sizeof(why)) != 1)
            abort();
        sched_set_deinit(&one);
        if (i > 0 && strcmp(sched_set_at(set, i - 1)->name, s->name) >= 0)
            abort();
        if (s->next_run != 0 && s->next_run != UINT64_MAX &&
            sched_next_after(s, s->next_run - 1) != s->next_run)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = xmalloc(size + 4);
    if (size)
        memcpy(p, data, size);
    le_put32(p + size, crc32c(0, p, size));
    struct sched_set set;
    sched_set_init(&set);
    char why[256];
    struct sched_spec sentinel = {.name = "sentinel",
                                  .name_len = 8,
                                  .kind = SCHED_SNAPSHOT,
                                  .pattern = "a.#",
                                  .pattern_len = 3,
                                  .every_ms = 86400000,
                                  .at = 120};
    if (sched_set_put(&set, &sentinel, 1700000000000ull, why, sizeof(why)) != 1)
        abort();

    int rc = sched_set_decode(&set, p, size + 4, why, sizeof(why));
    if (rc != 0 && rc != ERR_CORRUPT)
        abort();
    if (rc == ERR_CORRUPT) {
        if (sched_set_count(&set) != 1 ||
            strcmp(sched_set_at(&set, 0)->name, "sentinel") != 0 ||
            sched_set_at(&set, 0)->next_run != 1700013600000ull)
            abort();
    } else {
        check_valid(&set);
        uint8_t *q;
        size_t qn;
        sched_set_encode(&set, &q, &qn);
        if (qn != size + 4 || memcmp(p, q, qn) != 0)
            abort();
        free(q);
    }
    sched_set_deinit(&set);
    free(p);
    return 0;
}
