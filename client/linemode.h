/* Line mode (--line, a dumb terminal, pipes): no screen, every row of
 * every open room printed as one line as it arrives, stdin read line by
 * line. */
#ifndef PC_LINEMODE_H
#define PC_LINEMODE_H

#include "chat.h"

/* Prints from now on everything that arrives (call before opening rooms,
 * so nothing shown before the loop starts is missed). */
void pc_line_attach(struct pc_chat *ch);

/* Runs until /quit, the end of stdin (once every request made so far is
 * answered) or a terminating signal read from sigfd (a signalfd). Returns
 * the exit status. */
int pc_line_run(struct pc_chat *ch, int sigfd);

#endif
