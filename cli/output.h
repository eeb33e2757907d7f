/* Everything parley prints goes through here, in one of two forms:
 *  --json: one JSON object per line on stdout and nothing else there;
 *  human:  short lines on stdout, errors on stderr.
 * Each line is flushed as it is written, so a test reading the output file
 * sees it as it happens. */
#ifndef PARLEY_CLI_OUTPUT_H
#define PARLEY_CLI_OUTPUT_H

#include "cli.h"

/* The default emitter: write the line and a newline, flush. */
void out_emit_default(void *hook_arg, FILE *f, const char *line);

/* A push from the server, printed as it arrives. mark, when not NULL,
 * says how a message:new missed while disconnected came: "replayed" (by a
 * recovery) or "missed" (reloaded from history after a lost session); it
 * prints as "[replayed] " before the message for people and as
 * "replayed":true beside event and data in --json. */
void out_push(struct cli *ctx, const char *event, const char *data_json, const char *mark);
/* The server closed the connection (code 1006 when it just dropped). */
void out_close(struct cli *ctx, int code, const char *reason);

/* An acknowledgement. --json: the ack line as the server sent it. Human
 * mode: nothing for an ok ack (the command says what happened), "error
 * CODE: MESSAGE" on stderr for a refusal. */
void out_ack(struct cli *ctx, const struct cli_ack *ack);
/* An ack no command waited for (a late one, or that of a send-text frame):
 * as out_ack, but an ok one shows its data in human mode too. */
void out_stray_ack(struct cli *ctx, const struct cli_ack *ack);

/* The result of an HTTP call: body_json is the response body on success;
 * on failure code/message come from the body. */
void out_http(struct cli *ctx, int ok, int status, const char *body_json, const char *code,
              const char *message);

/* A local problem: usage, connect, a timeout... status > 0 adds the HTTP
 * status. */
void out_error(struct cli *ctx, const char *code, const char *message, int status);
/* printf-style message for out_error. */
void out_errorf(struct cli *ctx, const char *code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A success object {"ok":true,"data":DATA} in JSON mode (data_json NULL:
 * {"ok":true}); nothing in human mode. */
void out_ok(struct cli *ctx, const char *data_json);

/* A note about the connection for people, "-- " + the text on stderr
 * (reconnects, recoveries); nothing in JSON mode. */
void out_note(struct cli *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A human-mode line on stdout; nothing in JSON mode. */
void out_text(struct cli *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A time of the protocol (ms since the epoch) in local time for people:
 * "12:03:04" today, "2026-11-24 12:03:04" another day. */
void out_clock(long long ms, char *buf, size_t size);

/* Human form of a message object (JSON text of a message), e.g.
 * "[general] #3 alice: hello". */
void out_message_human(struct cli *ctx, const char *message_json);

#endif
