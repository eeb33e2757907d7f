/* The CLI's side of connection recovery (parley-protocol(7) section 4):
 *  - what this connection has seen: its subscriptions and, per room, the
 *    highest seq shown (always kept; it is small);
 *  - the replay of a recovery, manual (`recover`) or automatic: the
 *    message:new pushes that follow its ack are marked replayed;
 *  - the SDK's automatic reconnect (the interactive shell, or --reconnect):
 *    its state changes printed as lines, and when the session is lost the
 *    rooms subscribed again and what was missed reloaded from history. */
#ifndef PARLEY_CLI_RECOVERY_H
#define PARLEY_CLI_RECOVERY_H

#include "cli.h"

/* Turns the SDK's automatic reconnect on for ctx->client and listens to
 * its state changes. Returns 0, or -1 when the SDK refused. */
int recovery_enable(struct cli *ctx);

/* Every push, before it is printed: records what it shows. Returns the
 * mark to print it with: "replayed" for a recovery's replay, else NULL. */
const char *recovery_push(struct cli *ctx, const char *event, const char *data_json);

/* The ok ack of a request this connection made (event is its event):
 * records the subscriptions and seqs it shows; the ack of a recover also
 * announces its replay. */
void recovery_ack(struct cli *ctx, const char *event, const char *data_json);

/* A new connection that recovered nothing: it has no subscriptions. */
void recovery_new_connection(struct cli *ctx);

/* The connection closed: 1 when the close need not be printed as usual
 * (a reconnect follows, and its state line says so). */
int recovery_on_close(struct cli *ctx, int code, const char *reason);

/* 1 while an automatic reconnect is pending. */
int recovery_pending(const struct cli *ctx);

/* A command needs the connection while a reconnect is pending: drives the
 * SDK for up to ctx->timeout_ms. Returns 0 once connected, else -1 after
 * printing why (exit status 1: the run goes on). */
int recovery_wait(struct cli *ctx);

/* Between commands, never inside a request: prints a failed reconnect
 * attempt, and after a lost session subscribes this connection again and
 * prints what it missed from message:history. */
void recovery_idle(struct cli *ctx);

/* Frees what recovery keeps in ctx. */
void recovery_free(struct cli *ctx);

#endif
