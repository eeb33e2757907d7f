/* The request path: parse the envelope once, look the event up in the
 * table, run the one gate (shape, permission), call the handler, send the
 * ack. Also the hooks the transport calls as connections come and go. */
#ifndef PD_DISPATCH_H
#define PD_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct server;
struct pd_conn;
struct cJSON;

/* Creates the services' state (rooms and memberships loaded from the
 * store). After store and loop exist, before HTTP starts. 0 or -1 + err. */
int pd_services_init(struct server *srv, char *err, size_t errlen);
void pd_services_free(struct server *srv);

/* One complete text message from c (valid UTF-8, within the size limit). */
void pd_dispatch(struct server *srv, struct pd_conn *c, const char *msg, size_t len);

/* After the upgrade, before any message of c is dispatched. */
void pd_services_conn_open(struct server *srv, struct pd_conn *c);
/* Once, when c has closed, before it is freed: drop its subscriptions. */
void pd_services_conn_close(struct server *srv, struct pd_conn *c);

/* Acks for handlers that answer later (after a store commit): req_id 0
 * means the request had no id (errors then go out as an `error` push). */
/* pd_ack_ok takes ownership of data (NULL sends {}). */
void pd_ack_ok(struct pd_conn *c, int64_t req_id, struct cJSON *data);
void pd_ack_err(struct pd_conn *c, int64_t req_id, const char *event, enum pd_err code,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
