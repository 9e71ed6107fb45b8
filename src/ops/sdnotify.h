/* sdnotify.h - tells a service manager (systemd Type=notify) how the server is.
 *
 * When $NOTIFY_SOCKET names a unix datagram socket (a path, or "@name" for
 * the abstract namespace), sdnotify_send() sends one datagram of
 * newline-separated assignments ("READY=1\nSTATUS=...") to it, as
 * sd_notify(3) does. Without $NOTIFY_SOCKET it does nothing, so the server
 * behaves the same outside systemd.
 *
 * It is not libsystemd: no watchdog, no fd store, no credentials passing,
 * and it never blocks (the datagram is sent with MSG_DONTWAIT). */
#ifndef TINCAN_SDNOTIFY_H
#define TINCAN_SDNOTIFY_H

#include <stddef.h>

/* Sends state (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET. Returns 1
 * if it was sent, 0 if $NOTIFY_SOCKET is unset or empty, or -1 with err
 * filled (bad address, socket or send error). Never blocks. */
int sdnotify_send(const char *state, char *err, size_t errlen);

#endif
