/* The command table of parley(1) and the one entry point that runs a
 * command line, shared by -c, stdin and the interactive shell. */
#ifndef PARLEY_CLI_COMMANDS_H
#define PARLEY_CLI_COMMANDS_H

#include "cli.h"

/* Runs one command line: blank lines and lines starting with # do nothing.
 * Prints the outcome, records its exit status in ctx (cli_fail) and
 * returns it. `quit` sets ctx->stop. */
int commands_run_line(struct cli *ctx, const char *line);

/* The i-th command name (for completion), NULL past the end. */
const char *commands_name(size_t i);

/* 1 when argument argi (1 for the first word after the name) of the
 * command `name` is a room name (for completion). */
int commands_room_arg(const char *name, size_t argi);

/* The i-th word argument argi of the command `name` can be, for the
 * arguments that take one of a few fixed words (status STATUS, typing ROOM
 * on|off, join ROOM private); NULL past the end or for other arguments. */
const char *commands_arg_word(const char *name, size_t argi, size_t i);

/* `register` and `login`: one HTTP call, result printed, token adopted.
 * Also used by main for --user/--password (quiet on success). */
int commands_account(struct cli *ctx, const char *user, const char *password, int do_register,
                     int quiet_on_success);

#endif
