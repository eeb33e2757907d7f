#include "commands.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What each command takes. */
enum shape {
    NO_ARG,       /* /rooms */
    ROOM,         /* /join ROOM: one word */
    OPT_ROOM,     /* /leave [ROOM] */
    ROOM_OR_N,    /* /switch ROOM|N */
    OPT_ID,       /* /delete [ID] */
    OPT_ID_TEXT,  /* /reply [ID] TEXT */
};

static const struct {
    const char *name;
    int kind;
    enum shape shape;
    const char *usage;
    const char *status; /* PC_CMD_STATUS: the wire value */
} table[] = {
    {"join", PC_CMD_JOIN, ROOM, "/join ROOM", NULL},
    {"leave", PC_CMD_LEAVE, OPT_ROOM, "/leave [ROOM]", NULL},
    {"rooms", PC_CMD_ROOMS, NO_ARG, "/rooms", NULL},
    {"switch", PC_CMD_SWITCH, ROOM_OR_N, "/switch ROOM|N", NULL},
    {"away", PC_CMD_STATUS, NO_ARG, "/away", "away"},
    {"busy", PC_CMD_STATUS, NO_ARG, "/busy", "busy"},
    {"online", PC_CMD_STATUS, NO_ARG, "/online", "online"},
    {"invisible", PC_CMD_STATUS, NO_ARG, "/invisible", "offline"},
    {"who", PC_CMD_WHO, OPT_ROOM, "/who [ROOM]", NULL},
    {"delete", PC_CMD_DELETE, OPT_ID, "/delete [ID]", NULL},
    {"reply", PC_CMD_REPLY, OPT_ID_TEXT, "/reply [ID] TEXT", NULL},
    {"ids", PC_CMD_IDS, NO_ARG, "/ids", NULL},
    {"help", PC_CMD_HELP, NO_ARG, "/help", NULL},
    {"quit", PC_CMD_QUIT, NO_ARG, "/quit", NULL},
};

static const char *const help_lines[] = {
    "commands:",
    "/join ROOM        join ROOM (created when new) and switch to it",
    "/leave [ROOM]     leave ROOM (default: this one) and close its window",
    "/rooms            the open windows and the other rooms you are in",
    "/switch ROOM|N    show the window of ROOM or number N (also Alt+N)",
    "/away /busy /online /invisible   set your status",
    "/who [ROOM]       the members of ROOM and their status",
    "/delete [ID]      delete message ID, or your newest message here",
    "/reply [ID] TEXT  answer message ID, or the newest of someone else here",
    "/ids              show or hide message ids",
    "/help             this list",
    "/quit             close the connection and exit",
    "//TEXT            send a line starting with /",
    NULL,
};

const char *const *pc_cmd_help(void)
{
    return help_lines;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static char *skip_spaces(char *s)
{
    while (is_space(*s))
        s++;
    return s;
}

/* Cuts the first word off *s: returns it NUL-terminated (NULL when there is
 * none) and leaves *s at what follows, spaces skipped. */
static char *next_word(char **s)
{
    char *w = skip_spaces(*s), *end = w;

    if (!*w) {
        *s = w;
        return NULL;
    }
    while (*end && !is_space(*end))
        end++;
    if (*end)
        *end++ = '\0';
    *s = skip_spaces(end);
    return w;
}

/* A positive decimal number that fits an int64, else 0. */
static int64_t number_of(const char *w)
{
    char *end;
    long long v;

    if (!w || *w < '0' || *w > '9')
        return 0;
    errno = 0;
    v = strtoll(w, &end, 10);
    if (errno || *end || v <= 0)
        return 0;
    return (int64_t)v;
}

static void usage(struct pc_cmd *cmd, const char *text)
{
    cmd->kind = PC_CMD_USAGE;
    cmd->arg = text;
    cmd->status = NULL;
    cmd->number = 0;
}

/* Fills cmd from the arguments after the command word, by its shape. */
static void take_args(struct pc_cmd *cmd, enum shape shape, const char *use, char *rest)
{
    char *w;

    switch (shape) {
    case NO_ARG:
        if (*rest)
            usage(cmd, use);
        return;
    case ROOM:
    case OPT_ROOM:
    case ROOM_OR_N:
        w = next_word(&rest);
        if ((!w && shape != OPT_ROOM) || *rest) {
            usage(cmd, use);
            return;
        }
        cmd->arg = w;
        if (shape == ROOM_OR_N)
            cmd->number = number_of(w);
        return;
    case OPT_ID:
        w = next_word(&rest);
        if (*rest || (w && !(cmd->number = number_of(w))))
            usage(cmd, use);
        return;
    case OPT_ID_TEXT: {
        char *save = rest;
        w = next_word(&rest);
        if (w && (cmd->number = number_of(w)) > 0) {
            cmd->arg = rest;
        } else {
            /* The first word is text: put the line back together. */
            if (w && *rest)
                w[strlen(w)] = ' ';
            cmd->number = 0;
            cmd->arg = skip_spaces(save);
        }
        if (!*cmd->arg)
            usage(cmd, use);
        return;
    }
    }
}

void pc_cmd_parse(char *line, struct pc_cmd *cmd)
{
    char *rest, *word;

    memset(cmd, 0, sizeof *cmd);
    if (!*line)
        return;
    if (line[0] != '/' || line[1] == '/') {
        cmd->kind = PC_CMD_SAY;
        cmd->arg = line[0] == '/' ? line + 1 : line;
        return;
    }
    rest = line + 1;
    word = rest;
    while (*rest && !is_space(*rest))
        rest++;
    if (*rest)
        *rest++ = '\0';
    rest = skip_spaces(rest);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcasecmp(word, table[i].name))
            continue;
        cmd->kind = table[i].kind;
        cmd->status = table[i].status;
        if (table[i].status)
            cmd->arg = table[i].name;
        take_args(cmd, table[i].shape, table[i].usage, rest);
        return;
    }
    cmd->kind = PC_CMD_UNKNOWN;
    cmd->arg = line;
}
