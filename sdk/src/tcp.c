/* Plain TCP transport: name resolution, non-blocking connect with a
 * deadline, and the read/write operations the WebSocket layer uses. */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "parley.h"

int pl_ms_until(int64_t deadline, int cap)
{
    int64_t left;

    if (deadline < 0)
        return cap;
    left = deadline - pd_mono_ms();
    if (left < 0)
        left = 0;
    if (cap >= 0 && left > cap)
        left = cap;
    return (int)left;
}

int pl_poll_fd(int fd, short events, int64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};

    for (;;) {
        int r = poll(&pfd, 1, pl_ms_until(deadline, -1));
        if (r > 0)
            return pfd.revents;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static ssize_t tcp_read(struct pl_transport *t, void *buf, size_t len)
{
    ssize_t n;

    do
        n = recv(t->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    return n;
}

static ssize_t tcp_write(struct pl_transport *t, const void *buf, size_t len, int more)
{
    ssize_t n;

    do
        n = send(t->fd, buf, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    while (n < 0 && errno == EINTR);
    return n;
}

static void tcp_close(struct pl_transport *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

static const struct pl_transport_ops tcp_ops = {
    .read = tcp_read,
    .write = tcp_write,
    .close = tcp_close,
};

/* One address: PARLEY_OK with *fdp set, PARLEY_ERR_TIMEOUT when the deadline
 * passed, PARLEY_ERR_CONNECT otherwise. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *fdp)
{
    int fd, err = 0, one = 1, rev;
    socklen_t elen = sizeof(err);

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return PARLEY_ERR_CONNECT;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            close(fd);
            return PARLEY_ERR_CONNECT;
        }
        rev = pl_poll_fd(fd, POLLOUT, deadline);
        if (rev == 0) {
            close(fd);
            return PARLEY_ERR_TIMEOUT;
        }
        if (rev < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
            close(fd);
            return PARLEY_ERR_CONNECT;
        }
    }
    /* Chat frames are small and latency matters more than packet count. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *fdp = fd;
    return PARLEY_OK;
}

int pl_tcp_connect(const char *host, int port, int64_t deadline, struct pl_transport *t)
{
    struct addrinfo hints, *res = NULL;
    char service[8];
    int rc = PARLEY_ERR_CONNECT, fd = -1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    snprintf(service, sizeof(service), "%d", port);
    /* getaddrinfo cannot be bounded by our deadline; numeric hosts resolve
     * at once and names usually come from /etc/hosts or a local cache. */
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res) {
        /* AI_ADDRCONFIG hides ::1 on hosts with no global IPv6; retry. */
        hints.ai_flags = AI_NUMERICSERV;
        if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
            return PARLEY_ERR_CONNECT;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        rc = connect_one(ai, deadline, &fd);
        if (rc == PARLEY_OK || rc == PARLEY_ERR_TIMEOUT)
            break;
    }
    freeaddrinfo(res);
    if (rc != PARLEY_OK)
        return rc;
    t->ops = &tcp_ops;
    t->fd = fd;
    t->need_events = 0;
    t->impl = NULL;
    return PARLEY_OK;
}
