/* Shared by the typed calls (calls.c, rooms.c, messaging.c): building event
 * data and running a request from it. */
#ifndef PL_CALLS_H
#define PL_CALLS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "events.h"
#include "parley.h"

/* {"room": room}; NULL with *rc PARLEY_ERR_INVAL when room is not a valid
 * name, PARLEY_ERR_NOMEM without memory. */
cJSON *pl_room_data(const char *room, int *rc);
/* {"message_id": id}; NULL with *rc PARLEY_ERR_INVAL unless 1 <= id <=
 * 2^53-1, PARLEY_ERR_NOMEM without memory. */
cJSON *pl_message_id_data(int64_t message_id, int *rc);
/* {key: [rooms...]} for 1..100 UTF-8 strings (names are the server's to
 * judge, per room). */
cJSON *pl_rooms_data(const char *key, const char *const *rooms, size_t n, int *rc);

/* Runs event ev with data d, unless building d failed (rc not PARLEY_OK)
 * or c is NULL: then d is freed and the error returned. For events
 * without data, pass d NULL and rc PARLEY_OK. */
int pl_call_sync(parley_client *c, enum pd_event ev, cJSON *d, int rc, int timeout_ms,
                 char **ack);
int pl_call_async(parley_client *c, enum pd_event ev, cJSON *d, int rc, parley_ack_cb cb,
                  void *arg);

#endif
