/* The two scriptable modes: the -c commands in order, or one command per
 * line of a stdin that is not a terminal. */
#ifndef PARLEY_CLI_SCRIPT_H
#define PARLEY_CLI_SCRIPT_H

#include "cli.h"

/* Runs the n commands in order until one stops the run. */
void script_run_commands(struct cli *ctx, char **cmds, size_t n);

/* Runs stdin's lines until EOF, quit or a stop. Pushes that arrive while
 * no line is ready are printed as they come, not when the next line does. */
void script_run_stdin(struct cli *ctx);

#endif
