/* Typing indicators (PROTOCOL.md section 4, Messaging): in memory only,
 * one entry per user and room, pushed once per change of state, expired by
 * the server itself after typing_timeout, ended when the connection that
 * started it closes. */
#ifndef PD_TYPING_H
#define PD_TYPING_H

#include <stdbool.h>

#include "request.h"

struct server;
struct pd_conn;
struct pd_room;

int pd_typing_init(struct server *srv);
void pd_typing_free(struct server *srv);

enum pd_err pd_handle_typing(struct pd_req *r);
enum pd_err pd_handle_typing_users(struct pd_req *r);

/* Ends what c started (pushing typing: false). */
void pd_typing_conn_close(struct server *srv, struct pd_conn *c);
/* Ends user's typing in room without a push: they left it. */
void pd_typing_forget(struct server *srv, struct pd_room *room, const char *user);

/* Another node says user started or stopped typing in room: recorded
 * without a push (the caller relays the origin's). */
void pd_typing_remote(struct server *srv, struct pd_room *room, const char *user, bool typing);

#endif
