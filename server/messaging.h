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

struct server;
struct pd_conn;
struct pd_room;
struct pd_member;

/* The message named by the request's `message_id`, when the caller may see
 * it: PD_OK with *m (the caller clears it with pd_message_clear), *room and
 * *member. bad_request for a bad id; not_found when no such message exists
 * or the caller is not a member of its room (the same answer, so ids cannot
 * be probed). */
enum pd_err pd_req_message(struct pd_req *r, struct pd_message *m, struct pd_room **room,
                           struct pd_member **member);

/* Calls fn with each stored message of room with seq in (from, upto],
 * oldest first, as its message:new push. 0, or -1 when the store failed. */
int pd_messages_range(struct server *srv, const char *room, int64_t from, int64_t upto,
                      void (*fn)(void *arg, int64_t seq, const char *json, size_t len),
                      void *arg);
/* Pushes what the room's subscribers here have not had up to seq upto,
 * read from the store, and moves the room's last seq there. */
void pd_room_catch_up(struct server *srv, struct pd_room *room, int64_t upto);
/* A message:new (json, seq) from another node: gap first, then it. */
void pd_room_deliver(struct server *srv, struct pd_room *room, int64_t seq, const char *json,
                     size_t len, const struct pd_conn *except);

enum pd_err pd_handle_send(struct pd_req *r);
enum pd_err pd_handle_history(struct pd_req *r);
enum pd_err pd_handle_delete(struct pd_req *r);

#endif
