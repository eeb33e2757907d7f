/* parley-chat(1): options and environment, the password prompt, logging
 * in and connecting (the only blocking network calls, made before the
 * interface starts), then the full screen or line mode, and the exit. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "ackjson.h"
#include "bridge.h"
#include "chat.h"
#include "input.h"
#include "linemode.h"
#include "parley.h"
#include "screen.h"
#include "width.h"

#define DEFAULT_URL "http://127.0.0.1:8080"
#define NET_TIMEOUT_MS 10000
#define INPUT_MAX_BYTES 16000 /* 4000 characters, the protocol's limit, of up to 4 bytes */
#define INPUT_HISTORY 200

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
    "usage: parley-chat [--url URL] (--token JWT | --user NAME [--password PW]) [--register]\n"
    "                   [--cafile FILE] [--insecure] [--line] [ROOM...]\n"
    "       parley-chat --help | --version\n"
    "Joins each ROOM (default: the rooms you are a member of). Type /help inside.\n";

struct options {
    const char *url, *token, *user, *password;
    int do_register, line;
    struct parley_tls_opts tls;
    int tls_set;
    char **rooms;
    int n_rooms;
};

/* Empty environment variables count as unset. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "parley-chat: %s%s%s\n%s", what, arg ? " " : "", arg ? arg : "", usage_text);
    return EXIT_USAGE;
}

/* Returns -1 to go on, else an exit status. */
static int parse_args(struct options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},    {"token", required_argument, NULL, 't'},
        {"user", required_argument, NULL, 'U'},   {"password", required_argument, NULL, 'P'},
        {"register", no_argument, NULL, 'R'},     {"cafile", required_argument, NULL, 'C'},
        {"insecure", no_argument, NULL, 'k'},     {"line", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt, major, minor, patch;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u': o->url = optarg; break;
        case 't': o->token = optarg; break;
        case 'U': o->user = optarg; break;
        case 'P': o->password = optarg; break;
        case 'R': o->do_register = 1; break;
        case 'C':
            if (!*optarg)
                return usage_error("--cafile needs a file", NULL);
            o->tls.ca_file = optarg;
            o->tls_set = 1;
            break;
        case 'k':
            o->tls.insecure = 1;
            o->tls_set = 1;
            break;
        case 'l': o->line = 1; break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        case 'V':
            parley_lib_version(&major, &minor, &patch);
            printf("parley-chat %d.%d.%d\n", major, minor, patch);
            return EXIT_OK;
        case ':':
            return usage_error("a value is missing after", argv[optind - 1]);
        default:
            return usage_error("unknown option", argv[optind - 1]);
        }
    }
    o->rooms = argv + optind;
    o->n_rooms = argc - optind;
    for (int i = 0; i < o->n_rooms; i++)
        if (!*o->rooms[i] || o->rooms[i][0] == '-')
            return usage_error("not a room name:", o->rooms[i]);

    /* Flags win over the environment: --token over PARLEY_USER, --user
     * over PARLEY_TOKEN; between the two variables the token wins. */
    if (o->token && o->user)
        return usage_error("--token and --user exclude each other", NULL);
    if (!o->token && !o->user) {
        o->token = env("PARLEY_TOKEN");
        if (!o->token)
            o->user = env("PARLEY_USER");
    }
    if (o->user && !o->password)
        o->password = env("PARLEY_PASSWORD");
    if (o->token && o->password && !o->user)
        return usage_error("--password goes with --user", NULL);
    if (!o->token && !o->user)
        return usage_error("neither a token nor a user: --token JWT or --user NAME", NULL);
    if (o->do_register && !o->user)
        return usage_error("--register needs --user", NULL);
    if (!o->url)
        o->url = env("PARLEY_URL") ? env("PARLEY_URL") : DEFAULT_URL;
    return -1;
}

/* ---- the password ------------------------------------------------------------ */

/* Asks "Password: " on the terminal without echo, like ssh. The signals
 * are blocked (sigfd reads them): Ctrl+C gives up with the terminal
 * restored. Returns a malloc'd password or NULL after saying why. */
static char *ask_password(int sigfd)
{
    struct termios old, quiet;
    char buf[1024];
    size_t len = 0;
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), done = 0, echo_off;
    char *pw = NULL;

    if (fd < 0) {
        fprintf(stderr, "parley-chat: no terminal to ask the password on: use --password "
                        "or PARLEY_PASSWORD\n");
        return NULL;
    }
    echo_off = tcgetattr(fd, &old) == 0;
    if (echo_off) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    if (write(fd, "Password: ", 10) < 0)
        done = -1;
    while (!done) {
        struct pollfd fds[2] = {{fd, POLLIN, 0}, {sigfd, POLLIN, 0}};
        ssize_t n;
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            done = -1;
        } else if (fds[1].revents & POLLIN) {
            done = -1; /* interrupted */
        } else if ((n = read(fd, buf + len, sizeof buf - 1 - len)) <= 0) {
            done = n < 0 && errno == EINTR ? 0 : len ? 1 : -1;
        } else {
            len += (size_t)n;
            if (memchr(buf, '\n', len) || len == sizeof buf - 1)
                done = 1;
        }
    }
    if (echo_off)
        tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0)
        done = -1;
    close(fd);
    if (done > 0) {
        buf[len] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        pw = strdup(buf);
    }
    explicit_bzero(buf, sizeof buf);
    if (!pw)
        fprintf(stderr, "parley-chat: no password\n");
    return pw;
}

/* ---- the server --------------------------------------------------------------- */

/* What the server said, made safe for the terminal (malloc'd; NULL when
 * out of memory, which callers print as "?"). */
static char *safe(const char *s)
{
    return pc_sanitize(s, strlen(s), 0);
}

/* Logs in (or registers) for a token: malloc'd into *token. */
static int get_token(const struct options *o, const char *password, char **token)
{
    struct parley_auth_result res;
    const struct parley_tls_opts *tls = o->tls_set ? &o->tls : NULL;
    int rc;

    memset(&res, 0, sizeof res);
    if (o->do_register)
        rc = parley_register_tls(o->url, o->user, password, NET_TIMEOUT_MS, tls, &res);
    else
        rc = parley_login_tls(o->url, o->user, password, NET_TIMEOUT_MS, tls, &res);
    if (rc == PARLEY_OK && res.token) {
        *token = strdup(res.token);
        parley_auth_result_clear(&res);
        return *token ? 0 : -1;
    }
    if (rc == PARLEY_ERR_SERVER || rc == PARLEY_ERR_TLS) {
        char *code = safe(res.error_code), *msg = safe(res.error_message);
        fprintf(stderr, "parley-chat: %s refused: %s%s%s (HTTP %d)\n",
                o->do_register ? "registration" : "login", code ? code : "?",
                *res.error_message ? ": " : "", msg ? msg : "?", res.http_status);
        free(code);
        free(msg);
    } else
        fprintf(stderr, "parley-chat: %s failed at %s: %s\n",
                o->do_register ? "registration" : "login", o->url, parley_strerror(rc));
    parley_auth_result_clear(&res);
    return -1;
}

static void connect_error(parley_client *c, const char *url, int rc)
{
    char *code = safe(parley_error_code(c)), *msg = safe(parley_error_message(c));

    if (rc == PARLEY_ERR_HANDSHAKE)
        fprintf(stderr, "parley-chat: the server at %s refused the connection (HTTP %d%s%s)\n",
                url, parley_http_status(c), code && *code ? ": " : "", code ? code : "");
    else if (rc == PARLEY_ERR_TLS)
        fprintf(stderr, "parley-chat: TLS with %s failed: %s: %s\n", url, code ? code : "?",
                msg ? msg : "?");
    else
        fprintf(stderr, "parley-chat: cannot connect to %s: %s\n", url, parley_strerror(rc));
    free(code);
    free(msg);
}

/* Opens the rooms named, or those of room:list (asked before the loop
 * starts, so it may block), or says there is none. */
static int open_rooms(struct pc_chat *ch, const struct options *o)
{
    struct parley_room *rooms = NULL;
    size_t n = 0;
    int rc;

    if (o->n_rooms) {
        for (int i = 0; i < o->n_rooms; i++)
            pc_chat_open(ch, o->rooms[i], i == 0);
        return 0;
    }
    rc = parley_room_list(ch->c, NET_TIMEOUT_MS, &rooms, &n);
    if (rc != PARLEY_OK) {
        char *msg = safe(rc == PARLEY_ERR_SERVER ? parley_error_message(ch->c) : "");
        fprintf(stderr, "parley-chat: room:list failed: %s%s%s\n", parley_strerror(rc),
                msg && *msg ? ": " : "", msg ? msg : "");
        free(msg);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        pc_chat_open(ch, rooms[i].name, i == 0);
    parley_rooms_free(rooms, n);
    if (!ch->n_win)
        pc_chat_notice(ch, NULL, "no room: /join ROOM");
    return 0;
}

static int use_line_mode(const struct options *o)
{
    const char *term = getenv("TERM");

    return o->line || !term || !*term || !strcmp(term, "dumb") || !isatty(STDIN_FILENO) ||
           !isatty(STDOUT_FILENO);
}

/* Everything after the token: the client, the connection, the interface.
 * Returns the exit status. */
static int run(const struct options *o, const char *token, const char *password, int sigfd)
{
    struct pc_bridge_login login = {o->url, o->user, password, o->tls_set ? &o->tls : NULL};
    struct pc_bridge *bridge = NULL;
    parley_client *c = NULL;
    struct pc_chat *ch = NULL;
    pc_input *in = NULL;
    char *self = NULL;
    int line = use_line_mode(o), status = EXIT_REFUSED, rc;

    if (pc_jwt_subject(token, &self) != 0) {
        fprintf(stderr, "parley-chat: the token names no user (no sub claim)\n");
        return EXIT_REFUSED;
    }
    if (pc_bridge_new(o->user ? &login : NULL, pc_req_free, &bridge) != 0 ||
        !(c = parley_client_new(o->url, bridge)) ||
        pc_chat_new(c, bridge, self, line, &ch) != 0 ||
        (!line && !(in = pc_input_new(INPUT_MAX_BYTES, INPUT_HISTORY)))) {
        fprintf(stderr, "parley-chat: %s\n",
                bridge && !c ? "bad URL (http://HOST:PORT)" : "out of memory");
        status = bridge && !c ? EXIT_USAGE : EXIT_REFUSED;
        goto out;
    }
    pc_bridge_attach(bridge, c);
    if (o->tls_set && (rc = parley_set_tls(c, &o->tls)) != PARLEY_OK) {
        connect_error(c, o->url, rc);
        goto out;
    }
    parley_set_token(c, token);
    parley_set_reconnect(c, 1, 500, 8000);
    parley_set_offline_policy(c, PARLEY_OFFLINE_WAIT);
    if ((rc = parley_connect(c, NET_TIMEOUT_MS)) != PARLEY_OK) {
        connect_error(c, o->url, rc);
        goto out;
    }
    if (line)
        pc_line_attach(ch);
    if (open_rooms(ch, o) != 0)
        goto out;
    if (parley_loop_start(c) != PARLEY_OK) {
        fprintf(stderr, "parley-chat: cannot start the connection's thread\n");
        goto out;
    }
    status = line ? pc_line_run(ch, sigfd) : pc_screen_run(ch, in, sigfd);
    parley_disconnect(c);
out:
    /* the client first: no callback may run once the bridge is gone */
    parley_client_destroy(c);
    pc_chat_free(ch);
    pc_bridge_free(bridge);
    pc_input_free(in);
    free(self);
    return status;
}

/* Every signal the program handles comes through a signalfd: blocked here,
 * before any thread starts, so every thread inherits the mask. */
static int signals(void)
{
    sigset_t set;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGWINCH);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int main(int argc, char **argv)
{
    struct options o;
    char *asked = NULL, *token = NULL;
    const char *password;
    int status, sigfd;

    setlocale(LC_ALL, "");
    memset(&o, 0, sizeof o);
    status = parse_args(&o, argc, argv);
    if (status >= 0)
        return status;
    sigfd = signals();
    if (sigfd < 0) {
        fprintf(stderr, "parley-chat: cannot set up signals: %s\n", strerror(errno));
        return EXIT_REFUSED;
    }
    password = o.password;
    if (o.user && !password && !(password = asked = ask_password(sigfd))) {
        close(sigfd);
        return EXIT_REFUSED;
    }
    if (o.user && get_token(&o, password, &token) != 0) {
        status = EXIT_REFUSED;
    } else {
        status = run(&o, o.user ? token : o.token, password, sigfd);
    }
    if (asked) {
        explicit_bzero(asked, strlen(asked));
        free(asked);
    }
    free(token);
    close(sigfd);
    return status;
}
