/* sdnotify.c - one datagram to $NOTIFY_SOCKET (see sdnotify.h). */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sdnotify_send(const char *state, char *err, size_t errlen)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
        /* the reason first: a long path may not fit in err */
        snprintf(err, errlen,
                 "NOTIFY_SOCKET must be an absolute path or @abstract name "
                 "shorter than %zu bytes: '%s'",
                 sizeof(sa.sun_path), path);
        return -1;
    }
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract: no trailing NUL in the length */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s", strerror(errno));
        return -1;
    }
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
                       (const struct sockaddr *)&sa, salen);
    int saved = errno;
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "NOTIFY_SOCKET '%s': %s", path, strerror(saved));
        return -1;
    }
    return 1;
}
