/* client/commands.c: parsing the input line's commands. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "tap.h"

/* Parses a copy of line into *cmd; the copy is returned for the caller to
 * free (cmd points into it). */
static char *parse(const char *line, struct pc_cmd *cmd)
{
    char *copy = strdup(line);

    if (!copy)
        abort();
    pc_cmd_parse(copy, cmd);
    return copy;
}

static int arg_is(const struct pc_cmd *cmd, const char *want)
{
    if (!want)
        return cmd->arg == NULL;
    return cmd->arg && !strcmp(cmd->arg, want);
}

/* One case: line parses to kind with arg and number. */
static void expect(struct tap *t, const char *line, int kind, const char *arg, int64_t number)
{
    struct pc_cmd cmd;
    char *copy = parse(line, &cmd);

    ok(t, cmd.kind == kind && arg_is(&cmd, arg) && cmd.number == number,
       "'%s': kind %d arg '%s' number %lld (got %d '%s' %lld)", line, kind, arg ? arg : "(null)",
       (long long)number, cmd.kind, cmd.arg ? cmd.arg : "(null)", (long long)cmd.number);
    free(copy);
}

int main(void)
{
    struct tap t = {0};
    struct pc_cmd cmd;
    char *copy;
    const char *const *help;
    int n;

    /* plain text and the doubled slash */
    expect(&t, "", PC_CMD_NONE, NULL, 0);
    expect(&t, "hello there", PC_CMD_SAY, "hello there", 0);
    expect(&t, "  spaces kept  ", PC_CMD_SAY, "  spaces kept  ", 0);
    expect(&t, "//etc/passwd", PC_CMD_SAY, "/etc/passwd", 0);
    expect(&t, "//", PC_CMD_SAY, "/", 0);

    /* rooms */
    expect(&t, "/join lobby", PC_CMD_JOIN, "lobby", 0);
    expect(&t, "/join   dev  ", PC_CMD_JOIN, "dev", 0);
    expect(&t, "/JOIN Dev", PC_CMD_JOIN, "Dev", 0);
    expect(&t, "/join", PC_CMD_USAGE, "/join ROOM", 0);
    expect(&t, "/join a b", PC_CMD_USAGE, "/join ROOM", 0);
    expect(&t, "/leave", PC_CMD_LEAVE, NULL, 0);
    expect(&t, "/leave dev", PC_CMD_LEAVE, "dev", 0);
    expect(&t, "/leave a b", PC_CMD_USAGE, "/leave [ROOM]", 0);
    expect(&t, "/rooms", PC_CMD_ROOMS, NULL, 0);
    expect(&t, "/rooms x", PC_CMD_USAGE, "/rooms", 0);
    expect(&t, "/switch 2", PC_CMD_SWITCH, "2", 2);
    expect(&t, "/switch dev", PC_CMD_SWITCH, "dev", 0);
    expect(&t, "/switch", PC_CMD_USAGE, "/switch ROOM|N", 0);
    expect(&t, "/who", PC_CMD_WHO, NULL, 0);
    expect(&t, "/who lobby", PC_CMD_WHO, "lobby", 0);

    /* status */
    copy = parse("/away", &cmd);
    ok(&t, cmd.kind == PC_CMD_STATUS && !strcmp(cmd.status, "away") && arg_is(&cmd, "away"),
       "/away: status away");
    free(copy);
    copy = parse("/invisible", &cmd);
    ok(&t, cmd.kind == PC_CMD_STATUS && !strcmp(cmd.status, "offline") &&
               arg_is(&cmd, "invisible"),
       "/invisible: status offline, word invisible");
    free(copy);
    copy = parse("/Online", &cmd);
    ok(&t, cmd.kind == PC_CMD_STATUS && !strcmp(cmd.status, "online"), "/Online: status online");
    free(copy);
    expect(&t, "/busy now", PC_CMD_USAGE, "/busy", 0);

    /* messages */
    expect(&t, "/delete", PC_CMD_DELETE, NULL, 0);
    expect(&t, "/delete 42", PC_CMD_DELETE, NULL, 42);
    expect(&t, "/delete x", PC_CMD_USAGE, "/delete [ID]", 0);
    expect(&t, "/delete 4 2", PC_CMD_USAGE, "/delete [ID]", 0);
    expect(&t, "/delete 99999999999999999999", PC_CMD_USAGE, "/delete [ID]", 0);
    expect(&t, "/reply 42 sure thing", PC_CMD_REPLY, "sure thing", 42);
    expect(&t, "/reply sure   thing", PC_CMD_REPLY, "sure   thing", 0);
    expect(&t, "/reply thanks", PC_CMD_REPLY, "thanks", 0);
    expect(&t, "/reply 42", PC_CMD_USAGE, "/reply [ID] TEXT", 0);
    expect(&t, "/reply", PC_CMD_USAGE, "/reply [ID] TEXT", 0);
    expect(&t, "/reply 3rd time", PC_CMD_REPLY, "3rd time", 0);

    /* the rest */
    expect(&t, "/ids", PC_CMD_IDS, NULL, 0);
    expect(&t, "/help", PC_CMD_HELP, NULL, 0);
    expect(&t, "/quit", PC_CMD_QUIT, NULL, 0);
    expect(&t, "/foo", PC_CMD_UNKNOWN, "/foo", 0);
    expect(&t, "/foo bar baz", PC_CMD_UNKNOWN, "/foo", 0);
    expect(&t, "/", PC_CMD_UNKNOWN, "/", 0);
    expect(&t, "/joinx lobby", PC_CMD_UNKNOWN, "/joinx", 0);

    help = pc_cmd_help();
    for (n = 0; help[n]; n++)
        ;
    ok(&t, n > 10 && strstr(help[1], "/join ROOM"), "/help lists the commands (%d lines)", n);
    return tap_done(&t);
}
