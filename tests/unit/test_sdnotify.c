/* sdnotify: the datagram a service manager receives on a path socket and on
 * an abstract one, nothing without $NOTIFY_SOCKET, and a clear error (never a
 * crash or a block) for an address that cannot be used. */
#include "test.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sdnotify.h"

/* Binds a datagram socket at name ("/path" or "@abstract") the way systemd
 * does; returns its fd. */
static int bind_dgram(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (bind(fd, (struct sockaddr *)&sa, salen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The one datagram waiting on fd, NUL-terminated into buf; its length or -1. */
static ssize_t recv_one(int fd, char *buf, size_t len)
{
    ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

TEST(unset_sends_nothing)
{
    char err[256] = "";
    unsetenv("NOTIFY_SOCKET");
    ASSERT_EQ_INT(0, sdnotify_send("READY=1", err, sizeof(err)));
    setenv("NOTIFY_SOCKET", "", 1);
    ASSERT_EQ_INT(0, sdnotify_send("READY=1", err, sizeof(err)));
    ASSERT_EQ_STR("", err);
}

TEST(path_socket_gets_the_state)
{
    char path[512], err[256], buf[256];
    snprintf(path, sizeof(path), "%s/notify", test_dir());
    int fd = bind_dgram(path);
    ASSERT_TRUE(fd >= 0);
    setenv("NOTIFY_SOCKET", path, 1);
    ASSERT_EQ_INT(1,
                  sdnotify_send("READY=1\nSTATUS=serving", err, sizeof(err)));
    ASSERT_EQ_INT(22, recv_one(fd, buf, sizeof(buf)));
    ASSERT_EQ_STR("READY=1\nSTATUS=serving", buf);
    ASSERT_EQ_INT(1, sdnotify_send("STOPPING=1", err, sizeof(err)));
    ASSERT_EQ_INT(10, recv_one(fd, buf, sizeof(buf)));
    ASSERT_EQ_STR("STOPPING=1", buf);
    close(fd);
}

TEST(abstract_socket_gets_the_state)
{
    char name[64], err[256], buf[256];
    snprintf(name, sizeof(name), "@tincan-test-sdnotify-%d", (int)getpid());
    int fd = bind_dgram(name);
    ASSERT_TRUE(fd >= 0);
    setenv("NOTIFY_SOCKET", name, 1);
    ASSERT_EQ_INT(1, sdnotify_send("READY=1", err, sizeof(err)));
    ASSERT_EQ_INT(7, recv_one(fd, buf, sizeof(buf)));
    ASSERT_EQ_STR("READY=1", buf);
    close(fd);
}

TEST(bad_addresses_are_errors)
{
    char err[256] = "", path[512];
    setenv("NOTIFY_SOCKET", "relative/notify", 1);
    ASSERT_EQ_INT(-1, sdnotify_send("READY=1", err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "must be an absolute path") != NULL);
    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1);
    ASSERT_EQ_INT(-1, sdnotify_send("READY=1", err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "shorter than 108 bytes") != NULL);
    snprintf(path, sizeof(path), "%s/nobody-listens", test_dir());
    setenv("NOTIFY_SOCKET", path, 1);
    ASSERT_EQ_INT(-1, sdnotify_send("READY=1", err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "No such file") != NULL);
    unsetenv("NOTIFY_SOCKET");
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(unset_sends_nothing),
                                     T(path_socket_gets_the_state),
                                     T(abstract_socket_gets_the_state),
                                     T(bad_addresses_are_errors),
                                     {0}});
}
