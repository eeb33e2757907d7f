/* parley(1): options and environment, then one of three modes: the -c
 * commands, one command per stdin line, or the interactive shell. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "output.h"
#include "recovery.h"
#include "script.h"
#include "session.h"
#include "shell.h"
#include "token.h"

#define DEFAULT_URL "http://127.0.0.1:8080"
#define DEFAULT_TIMEOUT_MS 5000

static const char usage_text[] =
    "usage: parley [--url URL] [--token JWT | --user NAME --password PW [--register]]\n"
    "              [--cafile FILE] [--capath DIR] [--insecure]\n"
    "              [--json] [--timeout MS] [--reconnect] [-c CMD]...\n"
    "       parley token --secret S --sub ID [--name NAME] [--role admin] [--ttl SECONDS]\n"
    "Without -c, reads one command per line from stdin, or runs a shell on a terminal.\n"
    "Type 'help' (or parley -c help) for the commands.\n";

void cli_fail(struct cli *ctx, int status)
{
    if (status > ctx->status)
        ctx->status = status;
}

/* What the command line asked for, before anything is connected. */
struct options {
    const char *token, *user, *password;
    int do_register;
    int reconnect; /* --reconnect: scripts reconnect and recover too */
    char **cmds; /* the -c arguments, pointing into argv */
    size_t ncmds;
    int token_at; /* > 0: argv index of a `token` subcommand after the options */
    /* --cafile, --capath, --insecure and their environment */
    struct parley_tls_opts tls;
    int tls_set;
};

static int usage_error(struct cli *ctx, const char *fmt, const char *arg)
{
    char *msg = NULL;

    if (asprintf(&msg, fmt, arg) < 0)
        msg = NULL;
    out_error(ctx, "usage", msg ? msg : fmt, 0);
    if (!ctx->json)
        fputs(usage_text, stderr);
    free(msg);
    return CLI_EXIT_USAGE;
}

/* Empty environment variables count as unset. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Chooses between a token and a user/password. Flags win over the
 * environment: a --token flag over PARLEY_USER, a --user flag over
 * PARLEY_TOKEN. --token with --user is a usage error (they exclude each
 * other). Returns 0, or -1 after printing the usage error. */
static int resolve_auth(struct cli *ctx, struct options *o, const char *user,
                        const char *password)
{
    if (o->token && (user || password)) {
        usage_error(ctx, "%s", "--token and --user/--password exclude each other");
        return -1;
    }
    if (o->token)
        return 0;
    if (!user && !password && env("PARLEY_TOKEN")) {
        o->token = env("PARLEY_TOKEN");
        return 0;
    }
    if (!user)
        user = env("PARLEY_USER");
    if (!password)
        password = env("PARLEY_PASSWORD");
    if (!user && !password)
        return 0;
    if (!user || !password) {
        usage_error(ctx, "%s", "--user and --password go together");
        return -1;
    }
    o->user = user;
    o->password = password;
    return 0;
}

/* Parses argv into ctx and o. Returns -1 to go on, else an exit status
 * (0 after --help). */
static int parse_args(struct cli *ctx, struct options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},      {"token", required_argument, NULL, 't'},
        {"user", required_argument, NULL, 'U'},     {"password", required_argument, NULL, 'P'},
        {"register", no_argument, NULL, 'R'},       {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 'T'},  {"command", required_argument, NULL, 'c'},
        {"reconnect", no_argument, NULL, 'r'},      {"help", no_argument, NULL, 'h'},
        {"cafile", required_argument, NULL, 'C'},   {"capath", required_argument, NULL, 'D'},
        {"insecure", no_argument, NULL, 'k'},       {NULL, 0, NULL, 0},
    };
    const char *user = NULL, *password = NULL;
    int opt;

    /* --json decides how even an error about an earlier flag is printed. */
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--json"))
            ctx->json = 1;
    o->cmds = calloc((size_t)argc, sizeof *o->cmds);
    if (!o->cmds)
        return CLI_EXIT_FAIL;
    opterr = 0;
    /* '+': stop at the first word that is not an option (`token`). */
    while ((opt = getopt_long(argc, argv, "+:c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            ctx->url = optarg;
            break;
        case 't':
            o->token = optarg;
            break;
        case 'U':
            user = optarg;
            break;
        case 'P':
            password = optarg;
            break;
        case 'R':
            o->do_register = 1;
            break;
        case 'j':
            ctx->json = 1;
            break;
        case 'r':
            o->reconnect = 1;
            break;
        case 'T': {
            char *end;
            long v;
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v <= 0 || v > 86400000)
                return usage_error(ctx, "--timeout takes milliseconds, not '%s'", optarg);
            ctx->timeout_ms = (int)v;
            break;
        }
        case 'c':
            o->cmds[o->ncmds++] = optarg;
            break;
        case 'C':
            if (!*optarg)
                return usage_error(ctx, "%s", "--cafile needs a file");
            o->tls.ca_file = optarg;
            break;
        case 'D':
            if (!*optarg)
                return usage_error(ctx, "%s", "--capath needs a directory");
            o->tls.ca_path = optarg;
            break;
        case 'k':
            o->tls.insecure = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return CLI_EXIT_OK;
        case ':':
            return usage_error(ctx, "%s needs a value", argv[optind - 1]);
        default:
            return usage_error(ctx, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc && !strcmp(argv[optind], "token")) {
        o->token_at = optind;
        return -1;
    }
    if (optind < argc)
        return usage_error(ctx, "unexpected argument '%s'", argv[optind]);

    if (resolve_auth(ctx, o, user, password) != 0)
        return CLI_EXIT_USAGE;
    if (o->do_register && !o->user)
        return usage_error(ctx, "%s", "--register needs --user and --password");
    if (!ctx->url || !*ctx->url) {
        ctx->url = getenv("PARLEY_URL");
        if (!ctx->url || !*ctx->url)
            ctx->url = DEFAULT_URL;
    }
    /* The environment names CAs only when no flag does (a --capath flag
     * alone does not pick up PARLEY_CAFILE: the flag says where to look). */
    if (!o->tls.ca_file && !o->tls.ca_path) {
        o->tls.ca_file = env("PARLEY_CAFILE");
        o->tls.ca_path = env("PARLEY_CAPATH");
    }
    o->tls_set = o->tls.ca_file || o->tls.ca_path || o->tls.insecure;
    return -1;
}

/* Runs the session the options describe; returns the exit status. */
static int run(struct cli *ctx, struct options *o)
{
    int shell = o->ncmds == 0 && isatty(STDIN_FILENO);

    if (session_init(ctx) != 0) {
        out_errorf(ctx, "usage", 0, "not a server URL: '%s'", ctx->url);
        return CLI_EXIT_USAGE;
    }
    if (o->tls_set) {
        /* A CA file that cannot be read is a bad argument, found before
         * anything is sent. Nothing of it matters to an http URL. */
        if (parley_set_tls(ctx->client, &o->tls) != PARLEY_OK) {
            out_errorf(ctx, "usage", 0, "%s", parley_error_message(ctx->client));
            return CLI_EXIT_USAGE;
        }
        ctx->tls = &o->tls;
    }
    ctx->login_user = o->user;
    ctx->login_password = o->password;
    /* A person at the shell keeps the session across drops; a script
     * asks for it (its pushes then include state changes). */
    if ((shell || o->reconnect) && recovery_enable(ctx) != 0) {
        out_error(ctx, "reconnect", "the library refused automatic reconnect", 0);
        return CLI_EXIT_FAIL;
    }
    if (o->user) {
        /* Logging in is part of connecting: if it fails, nothing after it
         * could be authenticated. */
        if (commands_account(ctx, o->user, o->password, o->do_register, 1) != CLI_EXIT_OK)
            return CLI_EXIT_CONNECT;
    }
    if (o->ncmds > 0) {
        script_run_commands(ctx, o->cmds, o->ncmds);
    } else if (!shell) {
        script_run_stdin(ctx);
    } else {
        ctx->interactive = 1;
        shell_run(ctx);
        /* A person ended the shell: its typos are not the exit status. */
        return CLI_EXIT_OK;
    }
    return ctx->status;
}

int main(int argc, char **argv)
{
    struct cli ctx;
    struct options o;
    int status;

    memset(&ctx, 0, sizeof ctx);
    memset(&o, 0, sizeof o);
    ctx.timeout_ms = DEFAULT_TIMEOUT_MS;
    /* A server that goes away must not kill us in the middle of a write. */
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (argc > 1 && !strcmp(argv[1], "token"))
        return token_main(argc - 1, argv + 1);
    status = parse_args(&ctx, &o, argc, argv);
    if (status < 0 && o.token_at > 0) {
        status = token_main(argc - o.token_at, argv + o.token_at);
    } else if (status < 0) {
        if (o.token) {
            ctx.token = strdup(o.token);
            if (!ctx.token)
                status = CLI_EXIT_FAIL;
        }
        if (status < 0)
            status = run(&ctx, &o);
    }
    session_close(&ctx);
    free(ctx.token);
    free(o.cmds);
    return status;
}
