/* Connection recovery (PROTOCOL.md section 4): sessions that remember a
 * connection's subscriptions and, per room, the last seq written to it;
 * kept session_ttl seconds after the connection drops, in the store so a
 * restart keeps them; single-use tokens swapped for a successor on
 * recovery, followed by an exact replay of what was missed. */
#ifndef PD_RECOVERY_H
#define PD_RECOVERY_H

#include <stddef.h>

#include "request.h"

struct server;
struct pd_conn;

int pd_recovery_init(struct server *srv, char *err, size_t errlen);
void pd_recovery_free(struct server *srv);

enum pd_err pd_handle_create_session(struct pd_req *r);
enum pd_err pd_handle_recover(struct pd_req *r);
enum pd_err pd_handle_session_info(struct pd_req *r);
enum pd_err pd_handle_connection_stats(struct pd_req *r);

/* Sessions known (held or waiting to be recovered), for monitoring. */
size_t pd_recovery_count(const struct server *srv);

/* The connection's subscriptions changed: its session is saved again soon. */
void pd_session_touch(struct pd_conn *c);
/* Another node recovered (consumed) the session of that token hash: it
 * is forgotten here too. */
void pd_recovery_forget(struct server *srv, const char *token_hash);
/* The connection closed: its session starts its TTL. */
void pd_recovery_conn_close(struct server *srv, struct pd_conn *c);

#endif
