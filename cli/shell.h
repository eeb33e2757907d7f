/* The interactive shell: a readline prompt `parley> ` with history and tab
 * completion, in which pushes print while the user types without breaking
 * the line being edited. */
#ifndef PARLEY_CLI_SHELL_H
#define PARLEY_CLI_SHELL_H

#include "cli.h"

/* Runs until quit, end of input (Ctrl-D) or a stop. */
void shell_run(struct cli *ctx);

#endif
