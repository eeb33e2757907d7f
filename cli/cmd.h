/* Inside the command set: the command table's entry type, the helpers
 * every command uses, and the commands of cmd_chat.c and cmd_wire.c that
 * the table in commands.c lists. */
#ifndef PARLEY_CLI_CMD_H
#define PARLEY_CLI_CMD_H

#include <cjson/cJSON.h>

#include "cli.h"
#include "words.h"
struct command {
    const char *name;
    const char *args;    /* usage after the name */
    const char *summary; /* one line for help */
    int min_args;        /* words after the name */
    int max_args;        /* -1: no limit */
    /* > 0: only this many words (the name included) are split; the rest of
     * the line is handed over as typed (raw JSON needs no quoting). */
    int split_words;
    int (*run)(struct cli *ctx, const struct command *cmd, struct words *w);
};

/* Prints a usage error (naming cmd's usage when cmd is not NULL); returns
 * CLI_EXIT_USAGE. */
int cmd_usage(struct cli *ctx, const struct command *cmd, const char *why);
/* Parses a whole decimal number; 0 on success, -1 otherwise. */
int cmd_parse_i64(const char *s, long long *out);
/* Connects if needed, sends one request and prints its ack; *ack_out (if
 * not NULL) keeps the ack JSON on success (parley_free). Returns the exit
 * status. */
int cmd_request(struct cli *ctx, const char *event, cJSON *data, char **ack_out);

/* cmd_chat.c */
int cmd_account(struct cli *ctx, const struct command *cmd, struct words *w);
int cmd_join(struct cli *ctx, const struct command *cmd, struct words *w);
int cmd_leave(struct cli *ctx, const struct command *cmd, struct words *w);
int cmd_send(struct cli *ctx, const struct command *cmd, struct words *w);
int cmd_history(struct cli *ctx, const struct command *cmd, struct words *w);

/* cmd_wire.c */
int cmd_raw(struct cli *ctx, const struct command *cmd, struct words *w);
int cmd_send_text(struct cli *ctx, const struct command *cmd, struct words *w);
int cmd_wait(struct cli *ctx, const struct command *cmd, struct words *w);

#endif
