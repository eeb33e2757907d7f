/* Interactive shell on readline's alternate (callback) interface: one
 * poll() loop over the terminal, the WebSocket and SIGINT, so pushes are
 * handled while the user is typing. */
#include "shell.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "commands.h"
#include "output.h"
#include "session.h"

#define PROMPT "parley> "
#define HISTORY_FILE ".parley_history"
#define HISTORY_MAX 1000

struct shell {
    struct cli *ctx;
    int installed;  /* the readline handler is installed: a line is being edited */
    int in_command; /* a command runs: output needs no dance around the line */
    char *history_path;
    size_t gen_index; /* completion generators' position */
    /* the argument being completed, for word_generator */
    char gen_cmd[32];
    size_t gen_argi;
};

/* readline's line handler and completion functions take no user pointer,
 * so they reach the shell through this pointer. It is set only while
 * shell_run runs. */
static struct shell *current;

/* The output hook: a line printed while the user edits is put above the
 * prompt, and the prompt and the half-typed line are drawn again below it. */
static void shell_emit(void *arg, FILE *f, const char *line)
{
    struct shell *sh = arg;
    char *saved;
    int point;

    if (!sh->installed || sh->in_command) {
        out_emit_default(NULL, f, line);
        return;
    }
    point = rl_point;
    saved = rl_copy_text(0, rl_end);
    rl_save_prompt();
    rl_replace_line("", 0);
    rl_redisplay();
    fflush(rl_outstream);
    out_emit_default(NULL, f, line);
    rl_restore_prompt();
    rl_replace_line(saved ? saved : "", 0);
    rl_point = point;
    rl_redisplay();
    free(saved);
}

static void remove_handler(struct shell *sh)
{
    if (sh->installed) {
        rl_callback_handler_remove();
        sh->installed = 0;
    }
}

/* A whole line was typed (NULL: end of input). */
static void on_line(char *line)
{
    struct shell *sh = current;

    if (!line) {
        /* readline has already moved to a new line. */
        sh->ctx->stop = 1;
        remove_handler(sh);
        return;
    }
    if (*line)
        add_history(line);
    sh->in_command = 1;
    commands_run_line(sh->ctx, line);
    sh->in_command = 0;
    free(line);
    /* Removing the handler here keeps readline from printing another
     * prompt after quit. */
    if (sh->ctx->stop)
        remove_handler(sh);
}

static char *command_generator(const char *text, int state)
{
    struct shell *sh = current;
    size_t len = strlen(text);
    const char *name;

    if (state == 0)
        sh->gen_index = 0;
    while ((name = commands_name(sh->gen_index)) != NULL) {
        sh->gen_index++;
        if (!strncmp(name, text, len))
            return strdup(name);
    }
    return NULL;
}

static char *room_generator(const char *text, int state)
{
    struct shell *sh = current;
    size_t len = strlen(text);

    if (state == 0)
        sh->gen_index = 0;
    while (sh->gen_index < sh->ctx->nrooms) {
        const char *room = sh->ctx->rooms[sh->gen_index++];
        if (!strncmp(room, text, len))
            return strdup(room);
    }
    return NULL;
}

/* The fixed words an argument takes (commands_arg_word). */
static char *word_generator(const char *text, int state)
{
    struct shell *sh = current;
    size_t len = strlen(text);
    const char *word;

    if (state == 0)
        sh->gen_index = 0;
    while ((word = commands_arg_word(sh->gen_cmd, sh->gen_argi, sh->gen_index)) != NULL) {
        sh->gen_index++;
        if (!strncmp(word, text, len))
            return strdup(word);
    }
    return NULL;
}

/* How many blank-separated words of buf[0..end) start before end: the
 * index of the word being completed at end (0: the command name). */
static size_t word_index(const char *buf, int end)
{
    size_t n = 0;
    int in_word = 0;

    for (int i = 0; i < end && buf[i]; i++) {
        int blank = buf[i] == ' ' || buf[i] == '\t';
        if (!blank && !in_word)
            n++;
        in_word = !blank;
    }
    return in_word ? n - 1 : n;
}

/* Command names for the first word; room names (those this session has
 * seen) where the command's table row says an argument is a room; the
 * words of an argument that takes fixed words. Never file names. */
static char **complete(const char *text, int start, int end)
{
    const char *p = rl_line_buffer, *word;
    char cmd[32];
    size_t n, argi;

    (void)end;
    rl_attempted_completion_over = 1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (start <= p - rl_line_buffer)
        return rl_completion_matches(text, command_generator);
    word = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    n = (size_t)(p - word);
    if (n == 0 || n >= sizeof cmd)
        return NULL;
    memcpy(cmd, word, n);
    cmd[n] = '\0';
    argi = word_index(rl_line_buffer, start);
    if (commands_room_arg(cmd, argi))
        return rl_completion_matches(text, room_generator);
    if (!commands_arg_word(cmd, argi, 0))
        return NULL;
    memcpy(current->gen_cmd, cmd, n + 1);
    current->gen_argi = argi;
    return rl_completion_matches(text, word_generator);
}

/* ~/.parley_history, when HOME is set and writable; else no history file. */
static char *history_path(void)
{
    const char *home = getenv("HOME");
    char *path = NULL;

    if (!home || !*home || access(home, W_OK) != 0)
        return NULL;
    if (asprintf(&path, "%s/%s", home, HISTORY_FILE) < 0)
        return NULL;
    return path;
}

/* Ctrl-C drops the line being edited and gives a fresh prompt, as a shell
 * does, instead of killing the session. */
static void on_interrupt(struct shell *sh)
{
    if (!sh->installed)
        return;
    rl_free_line_state();
    rl_callback_sigcleanup();
    rl_replace_line("", 0);
    fputs("^C", rl_outstream);
    rl_crlf();
    rl_on_new_line();
    rl_redisplay();
}

/* SIGINT through a signalfd, so it is one more fd in the poll loop and no
 * handler runs in the middle of readline. Returns the fd, or -1 (then
 * SIGINT keeps its default action). */
static int block_sigint(sigset_t *old)
{
    sigset_t set;
    int fd;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, old) != 0)
        return -1;
    fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        sigprocmask(SIG_SETMASK, old, NULL);
    return fd;
}

void shell_run(struct cli *ctx)
{
    struct shell sh = {.ctx = ctx};
    sigset_t old_mask;
    int sigfd;

    current = &sh;
    ctx->emit = shell_emit;
    ctx->emit_arg = &sh;

    rl_readline_name = "parley";
    rl_attempted_completion_function = complete;
    rl_catch_signals = 0;
    using_history();
    stifle_history(HISTORY_MAX);
    sh.history_path = history_path();
    if (sh.history_path)
        read_history(sh.history_path);

    sigfd = block_sigint(&old_mask);
    out_text(ctx, "parley: connecting to %s on the first command; 'help' lists commands",
             ctx->url);
    rl_callback_handler_install(PROMPT, on_line);
    sh.installed = 1;

    while (!ctx->stop) {
        struct pollfd pfd[3] = {{.fd = STDIN_FILENO, .events = POLLIN}};
        int nfds = 1, sig_at = -1, sock_at = -1;

        if (sigfd >= 0) {
            sig_at = nfds;
            pfd[nfds++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
        }
        if (session_pollfd(ctx, &pfd[nfds]))
            sock_at = nfds++;
        if (poll(pfd, (nfds_t)nfds, 1000) < 0 && errno != EINTR)
            break;
        session_handle(ctx, sock_at >= 0 ? &pfd[sock_at] : NULL);
        if (sig_at >= 0 && (pfd[sig_at].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
                on_interrupt(&sh);
        }
        if (!ctx->stop && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
            rl_callback_read_char();
    }

    remove_handler(&sh);
    if (sh.history_path) {
        write_history(sh.history_path);
        free(sh.history_path);
    }
    if (sigfd >= 0) {
        close(sigfd);
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
    }
    ctx->emit = NULL;
    ctx->emit_arg = NULL;
    current = NULL;
}
