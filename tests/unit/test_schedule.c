/* The schedule module: EVERY/LAST/AT parsing and their errors, names, slot
 * arithmetic with and without AT, one run after missed slots, the sorted
 * set, and the state file (round trip, corrupt and truncated input, a
 * bounded fuzz of the decoder). */
#include "test.h"

#include "common.h"
#include "crc32c.h"
#include "errors.h"
#include "le.h"
#include "schedule.h"

#define MIN_MS  60000ull
#define HOUR_MS 3600000ull
#define DAY_MS  86400000ull
/* `date -u -d '2026-12-04 00:00:00 UTC' +%s`000 */
#define DEC4 1796342400000ull

static int dur(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *ms,
               char *why)
{
    return sched_parse_dur(s, strlen(s), min_ms, max_ms, ms, why, 200);
}

static int every(const char *s, uint64_t *ms, char *why)
{
    return dur(s, SCHED_EVERY_MIN_MS, SCHED_EVERY_MAX_MS, ms, why);
}

TEST(dur_accepts_every_unit)
{
    static const struct {
        const char *in;
        uint64_t ms;
    } ok[] = {
        {"500ms", 500},    {"1ms", 1},
        {"30s", 30000},    {"15m", 900000},
        {"24h", DAY_MS},   {"7d", 7 * DAY_MS},
        {"0024h", DAY_MS}, {"3660d", SCHED_LAST_MAX_MS},
    };
    char why[200];
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        uint64_t ms = 0;
        ASSERT_EQ_INT(
            0, dur(ok[i].in, SCHED_LAST_MIN_MS, SCHED_LAST_MAX_MS, &ms, why));
        ASSERT_EQ_U64(ok[i].ms, ms);
    }
}

TEST(dur_rejects_bad_shapes_with_the_reason)
{
    static const char *const bad[] = {
        "",    "h",    "24",  "24 h", " 24h", "24H",  "24hours", "-5s",
        "+5s", "1.5h", "5sm", "ms",   "5x",   "1e3s", "0x10s",
    };
    char why[200];
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        uint64_t ms = 77;
        ASSERT_EQ_INT(ERR_INVAL, every(bad[i], &ms, why));
        ASSERT_EQ_U64(77, ms); /* untouched on error */
        ASSERT_EQ_STR("must be a positive integer with a unit ms, s, m, h or "
                      "d (e.g. 30s, 24h)",
                      why);
    }
}

TEST(dur_rejects_zero_and_out_of_range)
{
    char why[200];
    uint64_t ms = 0;
    ASSERT_EQ_INT(ERR_INVAL, every("0s", &ms, why));
    ASSERT_EQ_STR("must be positive", why);
    ASSERT_EQ_INT(ERR_INVAL, every("000ms", &ms, why));
    ASSERT_EQ_STR("must be positive", why);
    ASSERT_EQ_INT(ERR_INVAL, every("999ms", &ms, why));
    ASSERT_EQ_STR("out of range (1s..366d)", why);
    ASSERT_EQ_INT(0, every("1000ms", &ms, why));
    ASSERT_EQ_U64(1000, ms);
    ASSERT_EQ_INT(0, every("366d", &ms, why));
    ASSERT_EQ_INT(0, every("8784h", &ms, why)); /* 366d in hours */
    ASSERT_EQ_INT(ERR_INVAL, every("367d", &ms, why));
    ASSERT_EQ_STR("out of range (1s..366d)", why);
    ASSERT_EQ_INT(ERR_INVAL, every("8785h", &ms, why));
    ASSERT_EQ_INT(ERR_INVAL,
                  dur("3661d", SCHED_LAST_MIN_MS, SCHED_LAST_MAX_MS, &ms, why));
    ASSERT_EQ_STR("out of range (1ms..3660d)", why);
}

TEST(dur_overflow_is_out_of_range_not_a_wrap)
{
    char why[200];
    uint64_t ms = 5;
    /* 2^64 = 18446744073709551616: one past UINT64_MAX */
    static const char *const big[] = {
        "18446744073709551616ms", "99999999999999999999999999999d",
        "18446744073709552s", "213503982334602d", /* fits, but not once in ms */
    };
    for (size_t i = 0; i < ARRAY_LEN(big); i++) {
        ASSERT_EQ_INT(ERR_INVAL, dur(big[i], 1, UINT64_MAX, &ms, why));
        ASSERT_EQ_U64(5, ms);
    }
    ASSERT_EQ_INT(ERR_INVAL, every("213503982334602d", &ms, why));
    ASSERT_EQ_STR("out of range (1s..366d)", why);
    /* the largest value that fits is accepted when the bounds allow it */
    ASSERT_EQ_INT(0, dur("18446744073709551615ms", 1, UINT64_MAX, &ms, why));
    ASSERT_EQ_U64(UINT64_MAX, ms);
}

TEST(dur_reads_only_n_bytes)
{
    char why[200];
    uint64_t ms = 0;
    ASSERT_EQ_INT(0, sched_parse_dur("24hXX", 3, 1, DAY_MS, &ms, why, 200));
    ASSERT_EQ_U64(DAY_MS, ms);
    ASSERT_EQ_INT(ERR_INVAL,
                  sched_parse_dur("24h", 2, 1, DAY_MS, &ms, why, 200));
}

TEST(format_dur_picks_the_largest_exact_unit)
{
    static const struct {
        uint64_t ms;
        const char *out;
    } cases[] = {
        {0, "0ms"},
        {1, "1ms"},
        {1500, "1500ms"},
        {1000, "1s"},
        {90000, "90s"},
        {MIN_MS, "1m"},
        {90 * MIN_MS, "90m"},
        {DAY_MS, "1d"},
        {36 * HOUR_MS, "36h"},
        {SCHED_EVERY_MAX_MS, "366d"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char out[24];
        sched_format_dur(cases[i].ms, out, sizeof(out));
        ASSERT_EQ_STR(cases[i].out, out);
    }
}

TEST(at_accepts_hh_mm)
{
    char why[200];
    int m = -5;
    ASSERT_EQ_INT(0, sched_parse_at("02:00", 5, &m, why, sizeof(why)));
    ASSERT_EQ_INT(120, m);
    ASSERT_EQ_INT(0, sched_parse_at("00:00", 5, &m, why, sizeof(why)));
    ASSERT_EQ_INT(0, m);
    ASSERT_EQ_INT(0, sched_parse_at("23:59", 5, &m, why, sizeof(why)));
    ASSERT_EQ_INT(1439, m);
    char out[6];
    sched_format_at(1439, out);
    ASSERT_EQ_STR("23:59", out);
    sched_format_at(125, out);
    ASSERT_EQ_STR("02:05", out);
}

TEST(at_rejects_everything_else)
{
    static const char *const bad[] = {
        "24:00", "2:5",   "2:05",  "02:5",   "02:60",  "99:99",
        "",      "0200",  "02-00", "02:00 ", " 02:00", "02:00Z",
        "-1:00", "ab:cd", "02:0x", "1:000",
    };
    char why[200];
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        int m = -5;
        ASSERT_EQ_INT(ERR_INVAL,
                      sched_parse_at(bad[i], strlen(bad[i]), &m, why, 200));
        ASSERT_EQ_INT(-5, m);
        ASSERT_EQ_STR("must be hh:mm (UTC)", why);
    }
}

TEST(names_follow_the_snapshot_rules)
{
    char why[200];
    static const char *const ok[] = {
        "daily", "a", "orders.v2:eu-1_x", "-", "Dele", "de", "xDEL"};
    for (size_t i = 0; i < ARRAY_LEN(ok); i++)
        ASSERT_EQ_INT(0, sched_name_check(ok[i], strlen(ok[i]), why, 200));
    char longest[SCHED_NAME_MAX + 1];
    memset(longest, 'n', sizeof(longest));
    ASSERT_EQ_INT(0, sched_name_check(longest, SCHED_NAME_MAX, why, 200));
    ASSERT_EQ_INT(ERR_INVAL,
                  sched_name_check(longest, SCHED_NAME_MAX + 1, why, 200));
    ASSERT_EQ_STR("must be 1..200 bytes", why);
    ASSERT_EQ_INT(ERR_INVAL, sched_name_check("", 0, why, 200));
    ASSERT_EQ_INT(ERR_INVAL, sched_name_check(".hidden", 7, why, 200));
    ASSERT_EQ_STR("must not start with '.'", why);
    ASSERT_EQ_INT(ERR_INVAL, sched_name_check("a b", 3, why, 200));
    ASSERT_EQ_STR("only A-Z a-z 0-9 _ . : - are allowed", why);
    ASSERT_EQ_INT(ERR_INVAL, sched_name_check("a/b", 3, why, 200));
    ASSERT_EQ_INT(ERR_INVAL, sched_name_check("a\0b", 3, why, 200));
    static const char *const del[] = {"DEL", "del", "Del", "dEl"};
    for (size_t i = 0; i < ARRAY_LEN(del); i++) {
        ASSERT_EQ_INT(ERR_INVAL, sched_name_check(del[i], 3, why, 200));
        ASSERT_EQ_STR("DEL is reserved", why);
    }
}

static struct sched_spec snap_spec(const char *name, uint64_t every_ms, int at)
{
    return (struct sched_spec){.name = name,
                               .name_len = strlen(name),
                               .kind = SCHED_SNAPSHOT,
                               .pattern = "order.#",
                               .pattern_len = 7,
                               .every_ms = every_ms,
                               .at = at};
}

static struct sched_spec replay_spec(const char *name, uint64_t every_ms,
                                     int at)
{
    return (struct sched_spec){.name = name,
                               .name_len = strlen(name),
                               .kind = SCHED_REPLAY,
                               .pattern = "core.*",
                               .pattern_len = 6,
                               .last_ms = DAY_MS,
                               .into = "audit",
                               .into_len = 5,
                               .every_ms = every_ms,
                               .at = at};
}

static struct sched *put(struct sched_set *set, struct sched_spec sp,
                         uint64_t now)
{
    char why[200];
    int rc = sched_set_put(set, &sp, now, why, sizeof(why));
    if (rc < 0)
        fprintf(stderr, "  put %s: %s\n", sp.name, why);
    ASSERT_TRUE(rc >= 0);
    return sched_set_find(set, sp.name, sp.name_len);
}

TEST(daily_at_0200)
{
    struct sched_set set;
    sched_set_init(&set);
    uint64_t now = 1796322300000ull; /* 2026-12-03 18:25 UTC */
    struct sched *s = put(&set, snap_spec("daily", DAY_MS, 120), now);
    ASSERT_EQ_U64(2 * HOUR_MS, s->anchor_ms);
    ASSERT_EQ_U64(1796349600000ull, s->next_run); /* 2026-12-04 02:00 UTC */
    ASSERT_EQ_U64(0, s->last_run);
    ASSERT_EQ_U64(0, s->runs);
    ASSERT_TRUE(s->last_result == NULL);
    /* at 01:59:59.999 the next slot is 02:00 that day; at 02:00 exactly it
     * is the next day's */
    ASSERT_EQ_U64(DEC4 + 2 * HOUR_MS,
                  sched_next_after(s, DEC4 + 2 * HOUR_MS - 1));
    ASSERT_EQ_U64(DEC4 + DAY_MS + 2 * HOUR_MS,
                  sched_next_after(s, DEC4 + 2 * HOUR_MS));
    /* before the anchor itself: the anchor */
    ASSERT_EQ_U64(2 * HOUR_MS, sched_next_after(s, 0));
    ASSERT_EQ_U64(2 * HOUR_MS + DAY_MS, sched_next_after(s, 2 * HOUR_MS));
    sched_set_deinit(&set);
}

TEST(every_12h_at_0200_runs_at_0200_and_1400)
{
    struct sched_set set;
    sched_set_init(&set);
    uint64_t t = 1796263200000ull; /* 2026-12-03 02:00 UTC */
    struct sched *s = put(&set, replay_spec("twice", 12 * HOUR_MS, 120), t);
    ASSERT_EQ_U64(1796306400000ull, s->next_run); /* 14:00 the same day */
    ASSERT_EQ_U64(1796349600000ull, sched_next_after(s, s->next_run));
    ASSERT_EQ_U64(1796306400000ull, sched_next_after(s, t + 1));
    ASSERT_EQ_U64(t, sched_next_after(s, t - 1));
    sched_set_deinit(&set);
}

TEST(without_at_the_grid_starts_at_creation)
{
    struct sched_set set;
    sched_set_init(&set);
    uint64_t created = DEC4 + 12345;
    struct sched *s =
        put(&set, snap_spec("hourly", HOUR_MS, SCHED_AT_NONE), created);
    ASSERT_EQ_U64(created, s->anchor_ms);
    ASSERT_EQ_U64(created + HOUR_MS, s->next_run);
    ASSERT_EQ_U64(created + HOUR_MS, sched_next_after(s, created));
    ASSERT_EQ_U64(created + 2 * HOUR_MS,
                  sched_next_after(s, created + HOUR_MS));
    ASSERT_EQ_U64(created + 2 * HOUR_MS,
                  sched_next_after(s, created + 2 * HOUR_MS - 1));
    sched_set_deinit(&set);
}

TEST(next_after_saturates_instead_of_wrapping)
{
    struct sched s = {
        .every_ms = SCHED_EVERY_MAX_MS, .anchor_ms = 5, .at = SCHED_AT_NONE};
    ASSERT_EQ_U64(UINT64_MAX, sched_next_after(&s, UINT64_MAX - 1000));
    ASSERT_EQ_U64(UINT64_MAX, sched_next_after(&s, UINT64_MAX));
}

TEST(missed_slots_give_one_run)
{
    struct sched_set set;
    sched_set_init(&set);
    uint64_t t0 = DEC4 - 3 * DAY_MS; /* created three days before DEC4 */
    struct sched *s = put(&set, snap_spec("daily", DAY_MS, 120), t0);
    ASSERT_EQ_U64(t0 + 2 * HOUR_MS, s->next_run);
    /* the server was down for three and a half days: 3 slots passed */
    uint64_t now = DEC4 + 12 * HOUR_MS;
    struct sched *due[4];
    ASSERT_EQ_INT(1, sched_due(&set, now, due));
    ASSERT_TRUE(due[0] == s);
    sched_ran(s, now, NULL);
    ASSERT_EQ_U64(now, s->last_run);
    ASSERT_EQ_U64(1, s->runs);
    ASSERT_EQ_STR("ok", s->last_result);
    ASSERT_EQ_U64(DEC4 + DAY_MS + 2 * HOUR_MS, s->next_run);
    /* nothing more is due at that time, nor until the next slot */
    ASSERT_EQ_INT(0, sched_due(&set, now, due));
    ASSERT_EQ_INT(0, sched_due(&set, s->next_run - 1, due));
    ASSERT_EQ_INT(1, sched_due(&set, s->next_run, due));
    /* an error result is kept as text */
    sched_ran(s, s->next_run, "NOSUB no subscription 'audit'");
    ASSERT_EQ_U64(2, s->runs);
    ASSERT_EQ_STR("NOSUB no subscription 'audit'", s->last_result);
    ASSERT_EQ_U64(DEC4 + 2 * DAY_MS + 2 * HOUR_MS, s->next_run);
    sched_set_deinit(&set);
}

TEST(long_results_are_cut)
{
    struct sched_set set;
    sched_set_init(&set);
    struct sched *s = put(&set, snap_spec("x", DAY_MS, 0), DEC4);
    char big[SCHED_RESULT_MAX * 2 + 1];
    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sched_ran(s, DEC4 + 1, big);
    ASSERT_EQ_INT(SCHED_RESULT_MAX, strlen(s->last_result));
    sched_set_deinit(&set);
}

TEST(set_is_sorted_and_replaces_by_name)
{
    struct sched_set set;
    sched_set_init(&set);
    char why[200];
    static const char *const names[] = {"m", "b", "z", "a", "ab", "B", "a-"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        struct sched_spec sp = snap_spec(names[i], DAY_MS, 0);
        ASSERT_EQ_INT(1, sched_set_put(&set, &sp, DEC4, why, sizeof(why)));
    }
    ASSERT_EQ_INT(7, sched_set_count(&set));
    static const char *const sorted[] = {"B", "a", "a-", "ab", "b", "m", "z"};
    for (size_t i = 0; i < ARRAY_LEN(sorted); i++)
        ASSERT_EQ_STR(sorted[i], sched_set_at(&set, i)->name);
    /* replacing: a new schedule (counters reset), same place */
    struct sched *m = sched_set_find(&set, "m", 1);
    sched_ran(m, DEC4 + DAY_MS, "ok");
    struct sched_spec sp = replay_spec("m", HOUR_MS, SCHED_AT_NONE);
    ASSERT_EQ_INT(0, sched_set_put(&set, &sp, DEC4 + 5, why, sizeof(why)));
    ASSERT_EQ_INT(7, sched_set_count(&set));
    m = sched_set_find(&set, "m", 1);
    ASSERT_TRUE(m == sched_set_at(&set, 5));
    ASSERT_EQ_INT(SCHED_REPLAY, m->kind);
    ASSERT_EQ_STR("audit", m->into);
    ASSERT_EQ_STR("core.*", m->pattern);
    ASSERT_EQ_U64(0, m->runs);
    ASSERT_TRUE(m->last_result == NULL);
    ASSERT_EQ_U64(DEC4 + 5 + HOUR_MS, m->next_run);
    ASSERT_EQ_U64(DEC4 + 5 + HOUR_MS, sched_earliest(&set));
    /* find is by exact bytes */
    ASSERT_TRUE(sched_set_find(&set, "A", 1) == NULL);
    ASSERT_TRUE(sched_set_find(&set, "ab", 1) == sched_set_at(&set, 1));
    ASSERT_TRUE(sched_set_find(&set, "abc", 3) == NULL);
    /* delete */
    ASSERT_EQ_INT(1, sched_set_del(&set, "a", 1));
    ASSERT_EQ_INT(0, sched_set_del(&set, "a", 1));
    ASSERT_EQ_INT(0, sched_set_del(&set, "nope", 4));
    ASSERT_EQ_INT(6, sched_set_count(&set));
    ASSERT_EQ_STR("a-", sched_set_at(&set, 1)->name);
    ASSERT_EQ_INT(1, sched_set_del(&set, "z", 1));
    ASSERT_EQ_INT(1, sched_set_del(&set, "B", 1));
    ASSERT_EQ_INT(4, sched_set_count(&set));
    ASSERT_EQ_STR("a-", sched_set_at(&set, 0)->name);
    ASSERT_EQ_STR("m", sched_set_at(&set, 3)->name);
    sched_set_deinit(&set);
    ASSERT_EQ_INT(0, sched_set_count(&set));
    ASSERT_EQ_U64(UINT64_MAX, sched_earliest(&set));
}

TEST(due_lists_in_name_order)
{
    struct sched_set set;
    sched_set_init(&set);
    put(&set, snap_spec("c", HOUR_MS, SCHED_AT_NONE), DEC4);
    put(&set, snap_spec("a", 2 * HOUR_MS, SCHED_AT_NONE), DEC4);
    put(&set, snap_spec("b", HOUR_MS, SCHED_AT_NONE), DEC4 + 1);
    struct sched *due[3];
    ASSERT_EQ_INT(0, sched_due(&set, DEC4 + HOUR_MS - 1, due));
    ASSERT_EQ_U64(DEC4 + HOUR_MS, sched_earliest(&set));
    ASSERT_EQ_INT(1, sched_due(&set, DEC4 + HOUR_MS, due));
    ASSERT_EQ_STR("c", due[0]->name);
    ASSERT_EQ_INT(3, sched_due(&set, DEC4 + 2 * HOUR_MS, due));
    ASSERT_EQ_STR("a", due[0]->name);
    ASSERT_EQ_STR("b", due[1]->name);
    ASSERT_EQ_STR("c", due[2]->name);
    for (int i = 0; i < 3; i++)
        sched_ran(due[i], DEC4 + 2 * HOUR_MS, "ok");
    ASSERT_EQ_INT(0, sched_due(&set, DEC4 + 2 * HOUR_MS, due));
    ASSERT_EQ_U64(DEC4 + 2 * HOUR_MS + 1, sched_earliest(&set)); /* "b" */
    sched_set_deinit(&set);
}

TEST(put_rejects_bad_specs)
{
    struct sched_set set;
    sched_set_init(&set);
    char why[200];
    struct sched_spec sp = snap_spec("ok", DAY_MS, 0);
    sp.every_ms = 999;
    ASSERT_EQ_INT(ERR_INVAL, sched_set_put(&set, &sp, DEC4, why, 200));
    ASSERT_EQ_STR("EVERY out of range (1s..366d)", why);
    sp = snap_spec("ok", DAY_MS, 1440);
    ASSERT_EQ_INT(ERR_INVAL, sched_set_put(&set, &sp, DEC4, why, 200));
    sp = snap_spec("DEL", DAY_MS, 0);
    ASSERT_EQ_INT(ERR_INVAL, sched_set_put(&set, &sp, DEC4, why, 200));
    ASSERT_EQ_STR("invalid name: DEL is reserved", why);
    sp = snap_spec("ok", DAY_MS, 0);
    sp.pattern = "order..x";
    sp.pattern_len = 8;
    ASSERT_EQ_INT(ERR_INVAL, sched_set_put(&set, &sp, DEC4, why, 200));
    ASSERT_TRUE(strncmp(why, "invalid pattern: ", 17) == 0);
    sp = snap_spec("ok", DAY_MS, 0);
    sp.into = "x";
    sp.into_len = 1;
    ASSERT_EQ_INT(ERR_INVAL, sched_set_put(&set, &sp, DEC4, why, 200));
    sp = replay_spec("ok", DAY_MS, 0);
    sp.into_len = 0;
    ASSERT_EQ_INT(ERR_INVAL, sched_set_put(&set, &sp, DEC4, why, 200));
    sp = replay_spec("ok", DAY_MS, 0);
    sp.last_ms = 0;
    ASSERT_EQ_INT(ERR_INVAL, sched_set_put(&set, &sp, DEC4, why, 200));
    ASSERT_EQ_STR("LAST out of range (1ms..3660d)", why);
    sp = replay_spec("ok", DAY_MS, 0);
    sp.kind = (enum sched_kind)7;
    ASSERT_EQ_INT(ERR_INVAL, sched_set_put(&set, &sp, DEC4, why, 200));
    ASSERT_EQ_INT(0, sched_set_count(&set));
    sched_set_deinit(&set);
}

TEST(set_limit_is_enforced)
{
    struct sched_set set;
    sched_set_init(&set);
    char why[200], name[16];
    for (int i = 0; i < SCHED_MAX; i++) {
        snprintf(name, sizeof(name), "s%05d", i);
        struct sched_spec sp = snap_spec(name, DAY_MS, 0);
        ASSERT_EQ_INT(1, sched_set_put(&set, &sp, DEC4, why, 200));
    }
    struct sched_spec sp = snap_spec("one-more", DAY_MS, 0);
    ASSERT_EQ_INT(ERR_LIMIT, sched_set_put(&set, &sp, DEC4, why, 200));
    ASSERT_EQ_STR("too many schedules (at most 10000)", why);
    /* replacing one still works at the limit */
    sp = snap_spec("s00042", HOUR_MS, 0);
    ASSERT_EQ_INT(0, sched_set_put(&set, &sp, DEC4, why, 200));
    ASSERT_EQ_INT(SCHED_MAX, sched_set_count(&set));
    sched_set_deinit(&set);
}

/* A set with both kinds, AT and none, run and never run, an empty and a
 * non-empty result. */
static void sample(struct sched_set *set)
{
    sched_set_init(set);
    struct sched_spec st = snap_spec("state-snap", DAY_MS, 120);
    st.state = 1;
    put(set, st, DEC4);
    put(set, replay_spec("core-replay", 12 * HOUR_MS, SCHED_AT_NONE), DEC4 + 7);
    struct sched *s = put(set, snap_spec("a.daily", DAY_MS, 0), DEC4);
    sched_ran(s, DEC4 + DAY_MS, "ERR archive unreachable: timeout");
    s = put(set, replay_spec("z:r", 90 * MIN_MS, 1439), DEC4 + 3);
    sched_ran(s, DEC4 + 3 * DAY_MS, "");
}

static void assert_same(const struct sched_set *a, const struct sched_set *b)
{
    ASSERT_EQ_INT(sched_set_count(a), sched_set_count(b));
    for (size_t i = 0; i < sched_set_count(a); i++) {
        const struct sched *x = sched_set_at(a, i), *y = sched_set_at(b, i);
        ASSERT_EQ_MEM(x->name, x->name_len, y->name, y->name_len);
        ASSERT_EQ_INT(x->kind, y->kind);
        ASSERT_EQ_MEM(x->pattern, x->pattern_len, y->pattern, y->pattern_len);
        ASSERT_EQ_INT(x->state, y->state);
        ASSERT_EQ_U64(x->last_ms, y->last_ms);
        ASSERT_EQ_INT(x->into == NULL, y->into == NULL);
        if (x->into)
            ASSERT_EQ_MEM(x->into, x->into_len, y->into, y->into_len);
        ASSERT_EQ_U64(x->every_ms, y->every_ms);
        ASSERT_EQ_INT(x->at, y->at);
        ASSERT_EQ_U64(x->anchor_ms, y->anchor_ms);
        ASSERT_EQ_U64(x->last_run, y->last_run);
        ASSERT_EQ_U64(x->next_run, y->next_run);
        ASSERT_EQ_U64(x->runs, y->runs);
        ASSERT_EQ_INT(x->last_result == NULL, y->last_result == NULL);
        if (x->last_result)
            ASSERT_EQ_STR(x->last_result, y->last_result);
    }
}

TEST(encode_decode_round_trip)
{
    struct sched_set a, b;
    sample(&a);
    uint8_t *buf;
    size_t len;
    sched_set_encode(&a, &buf, &len);
    sched_set_init(&b);
    put(&b, snap_spec("replaced-by-decode", DAY_MS, 0), DEC4);
    char why[200];
    ASSERT_EQ_INT(0, sched_set_decode(&b, buf, len, why, sizeof(why)));
    assert_same(&a, &b);
    ASSERT_EQ_STR("", sched_set_find(&b, "z:r", 3)->last_result);
    ASSERT_EQ_INT(1, sched_set_find(&b, "state-snap", 10)->state);
    /* encoding the decoded set gives the same bytes */
    uint8_t *buf2;
    size_t len2;
    sched_set_encode(&b, &buf2, &len2);
    ASSERT_EQ_MEM(buf, len, buf2, len2);
    free(buf2);
    free(buf);
    /* the empty set too */
    sched_set_deinit(&a);
    sched_set_encode(&a, &buf, &len);
    ASSERT_EQ_INT(20, len);
    ASSERT_EQ_INT(0, sched_set_decode(&b, buf, len, why, sizeof(why)));
    ASSERT_EQ_INT(0, sched_set_count(&b));
    free(buf);
    sched_set_deinit(&b);
}

/* Decoding p must fail with ERR_CORRUPT, why containing want, and leave a
 * one-schedule set as it was. */
static void assert_rejected(const uint8_t *p, size_t n, const char *want)
{
    struct sched_set set;
    sched_set_init(&set);
    put(&set, snap_spec("keep", DAY_MS, 0), DEC4);
    char why[200] = "";
    ASSERT_EQ_INT(ERR_CORRUPT, sched_set_decode(&set, p, n, why, sizeof(why)));
    if (!strstr(why, want)) {
        fprintf(stderr, "  why: %s (want %s)\n", why, want);
        ASSERT_TRUE(strstr(why, want) != NULL);
    }
    ASSERT_EQ_INT(1, sched_set_count(&set));
    ASSERT_EQ_STR("keep", sched_set_at(&set, 0)->name);
    sched_set_deinit(&set);
}

/* Rewrites the trailing crc so that a change reaches the field checks. */
static void reseal(uint8_t *p, size_t n)
{
    le_put32(p + n - 4, crc32c(0, p, n - 4));
}

TEST(corrupt_input_is_rejected_with_the_reason)
{
    struct sched_set a;
    sample(&a);
    uint8_t *buf;
    size_t len;
    sched_set_encode(&a, &buf, &len);
    sched_set_deinit(&a);
    uint8_t *p = xmalloc(len);

    assert_rejected(buf, 0, "too short");
    assert_rejected(buf, 19, "too short");
    memcpy(p, buf, len);
    p[0] = 'X';
    assert_rejected(p, len, "bad magic");
    memcpy(p, buf, len);
    le_put32(p + 8, 2);
    reseal(p, len);
    assert_rejected(p, len, "unknown version 2");
    memcpy(p, buf, len);
    p[40] ^= 1;
    assert_rejected(p, len, "checksum mismatch");
    /* every truncation: the crc no longer matches, or the records run out */
    for (size_t n = 20; n < len; n++)
        assert_rejected(buf, n, "");
    /* a truncated file resealed: the records run out */
    memcpy(p, buf, len);
    reseal(p, len - 10);
    assert_rejected(p, len - 10, "truncated");
    /* count larger than the records */
    memcpy(p, buf, len);
    le_put32(p + 12, 5);
    reseal(p, len);
    assert_rejected(p, len, "truncated");
    le_put32(p + 12, 4000000000u);
    reseal(p, len);
    assert_rejected(p, len, "exceeds the file");
    /* count smaller: bytes left over */
    memcpy(p, buf, len);
    le_put32(p + 12, 3);
    reseal(p, len);
    assert_rejected(p, len, "bytes after the last schedule");
    /* first record (a.daily, a snapshot): bad kind, flags, AT, EVERY */
    size_t r0 = 16;
    memcpy(p, buf, len);
    p[r0] = 9;
    reseal(p, len);
    assert_rejected(p, len, "schedule 0: unknown kind");
    memcpy(p, buf, len);
    p[r0 + 1] |= 0x80;
    reseal(p, len);
    assert_rejected(p, len, "schedule 0: bad flags");
    memcpy(p, buf, len);
    le_put16(p + r0 + 2, 1440);
    reseal(p, len);
    assert_rejected(p, len, "schedule 0: bad flags, AT");
    memcpy(p, buf, len);
    le_put64(p + r0 + 24, 0);
    reseal(p, len);
    assert_rejected(p, len, "EVERY out of range");
    /* anchor that is not AT's, next run off the grid */
    memcpy(p, buf, len);
    le_put64(p + r0 + 32, 1);
    reseal(p, len);
    assert_rejected(p, len, "anchor does not match AT");
    memcpy(p, buf, len);
    le_put64(p + r0 + 48, le_get64(p + r0 + 48) + 1);
    reseal(p, len);
    assert_rejected(p, len, "next run is not a slot");
    /* a name byte that names cannot have; names out of order */
    memcpy(p, buf, len);
    p[r0 + 64] = ' ';
    reseal(p, len);
    assert_rejected(p, len, "invalid name");
    memcpy(p, buf, len);
    p[r0 + 64] = 'z'; /* "z.daily" sorts after "core-replay" */
    reseal(p, len);
    assert_rejected(p, len, "schedule 1: names out of order");
    /* name length 0 and a huge one */
    memcpy(p, buf, len);
    le_put16(p + r0 + 4, 0);
    reseal(p, len);
    assert_rejected(p, len, "schedule 0:");
    memcpy(p, buf, len);
    le_put16(p + r0 + 4, 0xffff);
    reseal(p, len);
    assert_rejected(p, len, "schedule 0: truncated");
    free(p);
    free(buf);
}

TEST(fuzz_decode_never_crashes)
{
    struct sched_set a;
    sample(&a);
    uint8_t *buf;
    size_t len;
    sched_set_encode(&a, &buf, &len);
    sched_set_deinit(&a);
    uint8_t *p = xmalloc(len);
    uint64_t x = 0x9e3779b97f4a7c15ull; /* xorshift64 */
    int accepted = 0, rejected = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(p, buf, len);
        int flips = 1 + iter % 4;
        for (int f = 0; f < flips; f++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t at = 16 + (size_t)(x % (len - 20));
            p[at] = (uint8_t)(x >> 32);
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = iter % 3 ? len : 20 + (size_t)(x % (len - 19));
        reseal(p, n);
        struct sched_set set;
        sched_set_init(&set);
        char why[200];
        int rc = sched_set_decode(&set, p, n, why, sizeof(why));
        ASSERT_TRUE(rc == 0 || rc == ERR_CORRUPT);
        if (rc == 0) {
            /* what decodes re-encodes to the same bytes */
            uint8_t *q;
            size_t qn;
            sched_set_encode(&set, &q, &qn);
            ASSERT_EQ_MEM(p, n, q, qn);
            free(q);
            accepted++;
        } else {
            ASSERT_EQ_INT(0, sched_set_count(&set));
            rejected++;
        }
        sched_set_deinit(&set);
    }
    printf("  fuzz: %d accepted, %d rejected\n", accepted, rejected);
    ASSERT_TRUE(rejected > 0);
    free(p);
    free(buf);
}

int main(int argc, char **argv)
{
    return test_main(
        argc, argv,
        (struct test[]){T(dur_accepts_every_unit),
                        T(dur_rejects_bad_shapes_with_the_reason),
                        T(dur_rejects_zero_and_out_of_range),
                        T(dur_overflow_is_out_of_range_not_a_wrap),
                        T(dur_reads_only_n_bytes),
                        T(format_dur_picks_the_largest_exact_unit),
                        T(at_accepts_hh_mm),
                        T(at_rejects_everything_else),
                        T(names_follow_the_snapshot_rules),
                        T(daily_at_0200),
                        T(every_12h_at_0200_runs_at_0200_and_1400),
                        T(without_at_the_grid_starts_at_creation),
                        T(next_after_saturates_instead_of_wrapping),
                        T(missed_slots_give_one_run),
                        T(long_results_are_cut),
                        T(set_is_sorted_and_replaces_by_name),
                        T(due_lists_in_name_order),
                        T(put_rejects_bad_specs),
                        T(set_limit_is_enforced),
                        T(encode_decode_round_trip),
                        T(corrupt_input_is_rejected_with_the_reason),
                        T(fuzz_decode_never_crashes),
                        {0}});
}
