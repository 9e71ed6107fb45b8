/* server.h - the server's lifecycle: modules started in order, stopped in
 * reverse, and reloaded (DEBUG RELOAD) as a restart without a new process.
 * This is not the event loop (net) nor the command table (command). */
#ifndef TINCAN_SERVER_H
#define TINCAN_SERVER_H

#include <stddef.h>

#define TINCAN_VERSION "0.1.0"

/* Registers every module's config rows; call before config_load. */
void server_register_config(void);
/* Creates the data dir and starts every module in order. 0 or -1 with err;
 * on failure the modules already started are stopped again. */
int server_start_modules(char *err, size_t errlen);
/* Stops every started module, in reverse order. */
void server_stop_modules(void);
/* Stops and restarts every module: state is rebuilt from disk as at start. */
int server_reload(char *err, size_t errlen);

#endif
