/* main.c - starts and stops tincan-server; nothing else. */
#include "client.h"
#include "clock.h"
#include "command.h"
#include "config.h"
#include "log.h"
#include "net.h"
#include "sdnotify.h"
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

/* Tells systemd (Type=notify) the state, if it asked; a failure is only
 * logged: the server serves the same without a service manager. */
static void notify(const char *state)
{
    char err[256];
    if (sdnotify_send(state, err, sizeof(err)) < 0)
        log_warn("sd_notify: %s", err);
}

int main(int argc, char **argv)
{
    char err[1024];
    signal(SIGPIPE, SIG_IGN);
    server_register_config();
    int rc = config_load(argc, argv, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "tincan-server: %s\n", err);
        return 1;
    }
    net_stats.start_ms = clock_mono_ms();
    command_table_init();
    net_loop();
    if (server_start_modules(err, sizeof(err)) < 0) {
        log_error("cannot start: %s", err);
        return 1;
    }
    if (net_listen(err, sizeof(err)) < 0) {
        log_error("cannot start: %s", err);
        server_stop_modules();
        return 1;
    }
    log_info("tincan %s ready on %s:%d, data in %s", TINCAN_VERSION,
             config_bind, net_port(), config_dir);
    printf("tincan ready port=%d pid=%d\n", net_port(), (int)getpid());
    fflush(stdout);
    char state[256];
    snprintf(state, sizeof(state), "READY=1\nSTATUS=serving on %s:%d",
             config_bind, net_port());
    notify(state);
    net_run();
    log_info("shutting down");
    notify("STOPPING=1\nSTATUS=flushing and stopping");
    net_close_clients();
    server_stop_modules();
    net_close();
    command_table_free();
    log_info("bye");
    return 0;
}
