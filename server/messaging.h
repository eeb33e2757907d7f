/* Messaging (PROTOCOL.md section 4, "Messaging"): send with a durable ack,
 * history. */
#ifndef PD_MESSAGING_H
#define PD_MESSAGING_H

#include <cjson/cJSON.h>

#include "request.h"
#include "store.h"

#define PD_TEXT_MAX_CHARS 4000
#define PD_HISTORY_DEFAULT 50
#define PD_HISTORY_MAX 100

/* The protocol's message object (section 3). */
cJSON *pd_message_json(const struct pd_message *m);

enum pd_err pd_handle_send(struct pd_req *r);
enum pd_err pd_handle_history(struct pd_req *r);

#endif
