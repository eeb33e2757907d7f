/* Reading the JSON of acks that libparley has no parse function for:
 * message:history's data (the async form hands over raw JSON) and an
 * error object. */
#ifndef PC_ACKJSON_H
#define PC_ACKJSON_H

#include <stddef.h>

#include "scrollback.h"

/* Calls fn for each message of message:history's ack data, in the order
 * given (ascending seq), with strings borrowed for the call; *has_more gets
 * the ack's has_more. Returns 0, or -1 when json is not of that shape (or
 * out of memory); fn returning non-zero stops the walk and is returned. */
int pc_history_each(const char *json, int (*fn)(void *ctx, const struct pc_msg *m), void *ctx,
                    int *has_more);

/* The code and message of an ack's error object ({"code": ..., "message":
 * ...}) into the buffers ("" for what is missing). */
void pc_error_fields(const char *json, char *code, size_t code_size, char *msg,
                     size_t msg_size);

/* The `sub` claim of a JWT (its payload is not verified: the server does
 * that), malloc'd into *sub. 0, or -1 when the token has none. */
int pc_jwt_subject(const char *jwt, char **sub);

#endif
