#include "cmd_timer.h"

#include <stdlib.h>

#include "clock.h"
#include "common.h"
#include "net.h"

static void free_handle(uv_handle_t *h)
{
    free(h);
}

uv_timer_t *cmd_timer_new(void)
{
    uv_timer_t *t = xcalloc(1, sizeof(*t));
    uv_timer_init(net_loop(), t);
    uv_unref((uv_handle_t *)t);
    return t;
}

void cmd_timer_free(uv_timer_t **t)
{
    if (!*t)
        return;
    uv_timer_stop(*t);
    uv_close((uv_handle_t *)*t, free_handle);
    *t = NULL;
}

void cmd_timer_arm(uv_timer_t *t, uv_timer_cb cb, const uint64_t *deadline)
{
    if (!deadline) {
        uv_timer_stop(t);
        return;
    }
    uint64_t now = clock_mono_ms();
    uv_timer_start(t, cb, *deadline > now ? *deadline - now : 0, 0);
}
