/* libmicrohttpd: REST routes, the upgrade gate (origin, then JWT), and the
 * hand-over of upgraded sockets to the loop. */
#ifndef PD_HTTP_H
#define PD_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct pd_http;

/* Starts listening on cfg listen_host:listen_port; *port gets the bound
 * port. Returns 0, or -1 with err. */
int pd_http_start(struct pd_http **out, struct server *srv, uint16_t *port, char *err,
                  size_t errlen);
/* The most connections MHD accepts (from the open file limit, less a
 * reserve): the monitor's connections check compares with it. */
unsigned pd_http_conn_limit(void);
/* Stops accepting; the caller has closed every WebSocket first. */
void pd_http_stop(struct pd_http *h);

#endif
