#include "linemode.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "width.h"

#define LINE_MAX_BYTES 65536 /* a longer line is taken as it is (the server refuses it) */
#define PREFIX_BUF 512

struct line {
    struct pc_chat *ch;
    char *buf; /* stdin not yet split into lines */
    size_t len, cap;
    int eof;
};

/* Writes s made safe for a terminal: no control characters, newlines
 * become spaces (one row, one line). */
static void put_safe(const char *s)
{
    char *safe = pc_sanitize(s, strlen(s), 0);

    fputs(safe ? safe : "?", stdout);
    free(safe);
}

static void put_room(const struct pc_window *w)
{
    if (!w->room)
        return;
    putchar('[');
    put_safe(w->room);
    fputs("] ", stdout);
}

static void on_message(void *ctx, const struct pc_chat *ch, const struct pc_window *w,
                       const struct pc_entry *e)
{
    char prefix[PREFIX_BUF];
    char *body = pc_scroll_body(w->sb, e, &(size_t){0}, &(size_t){0});

    (void)ctx;
    /* wide enough for the time and any name: a line is never wrapped */
    pc_scroll_prefix(e, 1000, prefix, sizeof prefix);
    put_room(w);
    fputs(prefix, stdout); /* built from sanitized entry fields */
    if (ch->show_ids)
        printf("#%lld ", (long long)e->id);
    put_safe(body ? body : e->text);
    putchar('\n');
    free(body);
}

static void on_notice(void *ctx, const struct pc_window *w, int64_t ts, const char *text)
{
    struct pc_entry e = {.kind = PC_ENTRY_NOTICE, .ts = ts};
    char prefix[PREFIX_BUF];

    (void)ctx;
    pc_scroll_prefix(&e, 1000, prefix, sizeof prefix);
    put_room(w);
    fputs(prefix, stdout);
    put_safe(text);
    putchar('\n');
}

static void on_mark(void *ctx, const struct pc_window *w, const char *what, int64_t id,
                    const char *user)
{
    (void)ctx;
    put_room(w);
    printf("-!- %s: %lld", what, (long long)id);
    if (user) {
        fputs(" by ", stdout);
        put_safe(user);
    }
    putchar('\n');
}

/* Runs every complete line of the buffer (and the rest at the end of
 * input). */
static void run_lines(struct line *l)
{
    size_t start = 0;

    for (size_t i = 0; i < l->len && !l->ch->quit; i++) {
        if (l->buf[i] != '\n')
            continue;
        l->buf[i] = '\0';
        if (i > start && l->buf[i - 1] == '\r')
            l->buf[i - 1] = '\0';
        pc_chat_line(l->ch, l->buf + start);
        start = i + 1;
    }
    if (start < l->len && !l->ch->quit && (l->eof || l->len - start >= LINE_MAX_BYTES)) {
        l->buf[l->len] = '\0';
        pc_chat_line(l->ch, l->buf + start);
        start = l->len;
    }
    memmove(l->buf, l->buf + start, l->len - start);
    l->len -= start;
}

/* Reads what stdin has; at its end (or on an error) eof is set. */
static void read_stdin(struct line *l)
{
    ssize_t n;

    if (l->cap - l->len < 4097) {
        size_t cap = l->cap ? l->cap * 2 : 8192;
        char *grown = realloc(l->buf, cap);
        if (!grown) {
            pc_chat_notice(l->ch, NULL, "error: out of memory");
            l->eof = 1;
            return;
        }
        l->buf = grown;
        l->cap = cap;
    }
    n = read(STDIN_FILENO, l->buf + l->len, 4096);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0)
        l->eof = 1;
    else
        l->len += (size_t)n;
    run_lines(l);
}

/* 1 when a signal asks to stop. */
static int read_signal(int sigfd)
{
    struct signalfd_siginfo si;

    if (read(sigfd, &si, sizeof si) != (ssize_t)sizeof si)
        return 0;
    return si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP;
}

void pc_line_attach(struct pc_chat *ch)
{
    ch->sink = (struct pc_sink){on_message, on_notice, on_mark, NULL};
}

int pc_line_run(struct pc_chat *ch, int sigfd)
{
    struct line l = {.ch = ch};
    int stop = 0;

    while (!stop) {
        struct pollfd fds[3] = {
            {pc_bridge_fd(ch->bridge), POLLIN, 0},
            {sigfd, POLLIN, 0},
            {l.eof || ch->quit ? -1 : STDIN_FILENO, POLLIN, 0},
        };
        /* /quit and the end of input both wait for what was typed to be
         * answered, so a script's last message is not lost. */
        if ((l.eof || ch->quit) && !ch->outstanding)
            break;
        if (poll(fds, 3, pc_chat_timeout(ch, pc_now_ms())) < 0 && errno != EINTR)
            break;
        if ((fds[1].revents & POLLIN) && read_signal(sigfd))
            stop = 1;
        if (fds[2].revents & (POLLIN | POLLHUP | POLLERR))
            read_stdin(&l);
        if (fds[0].revents & POLLIN)
            pc_chat_drain(ch);
        pc_chat_tick(ch, pc_now_ms());
        pc_chat_flush(ch);
        if (fflush(stdout) != 0 || ferror(stdout))
            stop = 1; /* the reader went away */
    }
    free(l.buf);
    return 0;
}
