/* Scriptable modes: -c commands and commands from stdin. */
#include "script.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "session.h"

void script_run_commands(struct cli *ctx, char **cmds, size_t n)
{
    for (size_t i = 0; i < n && !ctx->stop; i++)
        commands_run_line(ctx, cmds[i]);
}

/* Runs every complete line in buf[0..*len) and keeps the unfinished tail. */
static void run_lines(struct cli *ctx, char *buf, size_t *len)
{
    size_t start = 0;
    char *nl;

    while (!ctx->stop && (nl = memchr(buf + start, '\n', *len - start)) != NULL) {
        *nl = '\0';
        if (nl > buf + start && nl[-1] == '\r')
            nl[-1] = '\0';
        commands_run_line(ctx, buf + start);
        start = (size_t)(nl - buf) + 1;
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
}

void script_run_stdin(struct cli *ctx)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    int eof = 0;

    if (!buf)
        return;
    /* poll() over stdin and the socket, so a push is printed when it
     * arrives even while the script feeding stdin is slow. Commands
     * themselves block in the SDK, which prints pushes meanwhile. */
    while (!ctx->stop && !eof) {
        struct pollfd pfd[2] = {{.fd = 0, .events = POLLIN}};
        int has_sock = session_pollfd(ctx, &pfd[1]);
        int r = poll(pfd, has_sock ? 2 : 1, 1000);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        session_handle(ctx, has_sock ? &pfd[1] : NULL);
        if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        if (len == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(0, buf + len, cap - len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            eof = 1;
        } else {
            len += (size_t)n;
            run_lines(ctx, buf, &len);
        }
    }
    /* A last line without a newline still counts. */
    if (eof && !ctx->stop && len > 0) {
        buf[len] = '\0';
        commands_run_line(ctx, buf);
    }
    free(buf);
}
