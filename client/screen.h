/* The full-screen terminal interface (ncursesw): the conversation of the
 * current room, the status line and the input line, redrawn once per
 * wake-up of the UI thread, which also decodes the keys. */
#ifndef PC_SCREEN_H
#define PC_SCREEN_H

#include "chat.h"
#include "input.h"

/* Runs until /quit, Ctrl+C or Ctrl+D on an empty line, or a terminating
 * signal read from sigfd (a signalfd; SIGWINCH there means a resize).
 * Starts and always ends ncurses itself. Returns the exit status; on a
 * terminal it cannot use, 1 after saying why on stderr. */
int pc_screen_run(struct pc_chat *ch, pc_input *in, int sigfd);

#endif
