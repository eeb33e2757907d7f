/* A deadline for reading each HTTP request, against slowloris.
 * MHD_OPTION_CONNECTION_TIMEOUT is an idle timeout: a client that sends one
 * header byte every second or so is never idle and would hold its
 * connection (and MHD's memory for it) for as long as it likes. Here every
 * request must be read completely, headers and body, within timeout_s of
 * the connection's start or of the end of the previous request on it;
 * past that, a timer on the loop shuts the socket down and MHD closes the
 * connection. Upgraded connections (WebSockets) have no such deadline. */
#ifndef PD_REQDEADLINE_H
#define PD_REQDEADLINE_H

#include <stdint.h>

#include <microhttpd.h>

struct pd_reqdl;

/* 0, or -1 without memory. */
int pd_reqdl_new(struct pd_reqdl **out, unsigned timeout_s);
/* After MHD_stop_daemon (every connection has been notified closed). */
void pd_reqdl_free(struct pd_reqdl *d);

/* MHD_OPTION_NOTIFY_CONNECTION's callback; cls is the pd_reqdl. */
void pd_reqdl_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe);
/* The request on conn has been read completely (the last call of the
 * access handler): no deadline while it is answered. */
void pd_reqdl_read(struct MHD_Connection *conn);
/* The request on conn is over (MHD's completed callback): the next one on
 * the same connection has timeout_s from now. */
void pd_reqdl_next(struct pd_reqdl *d, struct MHD_Connection *conn);
/* conn became a WebSocket: never again a deadline. */
void pd_reqdl_upgraded(struct MHD_Connection *conn);

/* pd_tick_fn for the loop (every second): ends the connections whose
 * request is late. Returns nothing; arg is the pd_reqdl. */
void pd_reqdl_tick(void *arg, int64_t now_mono_ms);

#endif
