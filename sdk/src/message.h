/* Protocol message objects (parley-protocol(7) section 3) to and from
 * struct parley_message. Each result is one allocation: the struct (or the
 * array of structs) followed by its strings, so one free() releases it. */
#ifndef PL_MESSAGE_H
#define PL_MESSAGE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "parley.h"

/* PARLEY_OK, PARLEY_ERR_PROTOCOL when obj is not a message, or
 * PARLEY_ERR_NOMEM. */
int pl_message_from_json(const cJSON *obj, struct parley_message **out);
/* An array of message objects; *out is NULL when it is empty. */
int pl_messages_from_json(const cJSON *arr, struct parley_message **out, size_t *n);

#endif
