#include "clock.h"

#include <time.h>

static const uint64_t *fake_mono; /* ms, or NULL for the real clock */
static const uint64_t *fake_wall; /* ms since epoch, or NULL */

static uint64_t read_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t clock_mono_ms(void)
{
    return fake_mono ? *fake_mono : read_ns(CLOCK_MONOTONIC) / 1000000u;
}

uint64_t clock_mono_us(void)
{
    return fake_mono ? *fake_mono * 1000u : read_ns(CLOCK_MONOTONIC) / 1000u;
}

uint64_t clock_wall_ms(void)
{
    return fake_wall ? *fake_wall : read_ns(CLOCK_REALTIME) / 1000000u;
}

uint64_t clock_mono_to_wall(uint64_t mono, uint64_t now_mono,
                            uint64_t now_wall)
{
    return mono >= now_mono ? now_wall + (mono - now_mono)
                            : now_wall - (now_mono - mono);
}

void clock_set_fake(const uint64_t *mono_ms, const uint64_t *wall_ms)
{
    fake_mono = mono_ms;
    fake_wall = wall_ms;
}
