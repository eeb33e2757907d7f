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
struct pd_config;

/* The most WebSockets held at once (max_connections, else from the open
 * file limit; at most 19000): upgrades past it are refused with 503, and
 * the monitor's connections check compares with it. */
unsigned pd_http_conn_limit(const struct pd_config *cfg);
/* Stops accepting; the caller has closed every WebSocket first. */
void pd_http_stop(struct pd_http *h);

#endif
