/* The input line's commands: parsing, pure (no state, no I/O), so it is
 * tested on its own; running them is chat's (chatcmd.c). */
#ifndef PC_COMMANDS_H
#define PC_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

enum pc_cmd_kind {
    PC_CMD_NONE = 0, /* an empty line: nothing to do */
    PC_CMD_SAY,      /* text to send to the current room ("//x" sends "/x") */
    PC_CMD_JOIN,     /* arg: the room */
    PC_CMD_LEAVE,    /* arg: the room, NULL for the current one */
    PC_CMD_ROOMS,
    PC_CMD_SWITCH,   /* arg: a room, or number > 0: a window number */
    PC_CMD_STATUS,   /* arg: the word typed (away, busy, online, invisible);
                      * status: its wire value (invisible is "offline") */
    PC_CMD_WHO,      /* arg: the room, NULL for the current one */
    PC_CMD_DELETE,   /* number: the message id, 0 for the newest own here */
    PC_CMD_REPLY,    /* number: the message id, 0 for the newest of someone
                      * else here; arg: the text */
    PC_CMD_IDS,
    PC_CMD_HELP,
    PC_CMD_QUIT,
    PC_CMD_UNKNOWN,  /* arg: the command as typed, with its slash */
    PC_CMD_USAGE,    /* arg: the usage of the command ("/join ROOM") */
};

struct pc_cmd {
    int kind;          /* enum pc_cmd_kind */
    const char *arg;   /* into the parsed line, or a static string (USAGE) */
    const char *status;
    int64_t number;
};

/* Parses one input line (without its newline). The line is modified
 * (words are NUL-terminated in place) and cmd points into it. Commands
 * are matched without regard to case. */
void pc_cmd_parse(char *line, struct pc_cmd *cmd);

/* The lines of /help, NULL-terminated. */
const char *const *pc_cmd_help(void);

#endif
