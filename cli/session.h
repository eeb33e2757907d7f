/* The CLI's use of one parley_client: created at start, connected lazily by
 * the first command that needs it, pushes printed and queued as they
 * arrive, requests reported as acks. */
#ifndef PARLEY_CLI_SESSION_H
#define PARLEY_CLI_SESSION_H

#include <poll.h>

#include "cli.h"

/* Creates the client for ctx->url (not connected). Returns -1 on a bad URL. */
int session_init(struct cli *ctx);
/* Closes quietly (our own close is not printed) and frees everything. */
void session_close(struct cli *ctx);

/* Connects unless connected; returns the exit status. While the SDK
 * reconnects after a drop (the shell, --reconnect), waits for it up to
 * the timeout, and fails with status 1. Else, on failure, prints the
 * problem, records exit status 3 and, outside the interactive shell,
 * stops the run. */
int session_ensure(struct cli *ctx);

/* Adopts a new JWT: used at the next connect, at once if connected (the
 * connection is reopened with it). Returns 0, or -1 when reconnecting
 * failed (reported as by session_ensure). */
int session_adopt_token(struct cli *ctx, const char *token);

/* One request on the open connection, without printing. data_json is the
 * text of a JSON object (NULL for {}), sent as it is. Returns PARLEY_OK
 * (an ok ack), PARLEY_ERR_SERVER (refused), PARLEY_ERR_PROTOCOL (an ack
 * that is neither), PARLEY_ERR_TIMEOUT (none within ctx->timeout_ms),
 * PARLEY_ERR_CLOSED, PARLEY_ERR_NOT_CONNECTED, PARLEY_ERR_INVAL (data_json
 * not an object) or another transport error. *ack gets the ack when one
 * came (its id whenever the request was sent); clear it with
 * session_ack_clear. */
int session_call(struct cli *ctx, const char *event, const char *data_json,
                 struct cli_ack *ack);
void session_ack_clear(struct cli_ack *ack);
/* Prints the outcome of session_call and returns the exit status it means
 * (0, or 1 for a refusal, timeout or closed connection). what names the
 * request in messages; ack may be NULL when none came. */
int session_report(struct cli *ctx, const char *what, int rc, const struct cli_ack *ack);

/* 1 while there is a socket to drive: open, or being closed (its close
 * not yet reported), or an automatic reconnect pending. */
int session_alive(struct cli *ctx);

/* Drives the connection for up to timeout_ms (pushes are printed and
 * queued meanwhile). Returns at the first thing that arrives, or at once
 * when not connected. */
void session_pump(struct cli *ctx, int timeout_ms);

/* Embedded mode for the stdin and shell loops: fills *pfd with the socket
 * to poll and returns 1, or returns 0 when not connected. */
int session_pollfd(struct cli *ctx, struct pollfd *pfd);
/* After poll(): reads and writes as the revents say, runs the SDK's
 * timers (and a due reconnect) about once a second, then recovery_idle.
 * pfd may be NULL (timers only). */
void session_handle(struct cli *ctx, const struct pollfd *pfd);

/* Counts a push (or a close, or a state change) and queues it for
 * `wait`. */
void session_queue(struct cli *ctx, const char *event, const char *data_json);

/* Removes and returns the oldest queued push named event (NULL if none);
 * free with session_push_free. */
struct cli_push *session_take(struct cli *ctx, const char *event);
void session_push_free(struct cli_push *p);
/* 1 when a push named event, still queued, arrived after the first `seen`
 * pushes of the run. */
int session_arrived_since(const struct cli *ctx, unsigned long seen, const char *event);

/* Rooms joined in this session, for completion. */
void session_room_add(struct cli *ctx, const char *room);
void session_room_remove(struct cli *ctx, const char *room);

/* Milliseconds of a monotonic clock. */
long long session_now_ms(void);

/* A stable code for a transport error of the SDK ("timeout", "closed"...). */
const char *session_rc_code(int rc);

#endif
