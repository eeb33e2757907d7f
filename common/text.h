/* Validation of text that crosses the wire: UTF-8 and the name grammars of
 * PROTOCOL.md (user ids, room names). Pure functions, no allocation. */
#ifndef PD_TEXT_H
#define PD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above
 * U+10FFFF. */
bool pd_utf8_valid(const void *s, size_t len);

/* Length of the longest prefix of s (len bytes) that is valid UTF-8: where
 * text cut at a byte count (a "%.64s", a full buffer) can end without
 * splitting a character, so what is sent stays valid UTF-8. */
size_t pd_utf8_valid_prefix(const void *s, size_t len);

/* Number of code points in valid UTF-8, or -1 when it is not valid. */
long pd_utf8_chars(const void *s, size_t len);

/* Writes the UTF-8 form of cp (a Unicode scalar value, which the caller
 * checks) to out, which has room for 4 bytes; returns its length, 1 to 4. */
size_t pd_utf8_encode(uint32_t cp, char *out);

/* A JWT `sub`: 1 to 64 characters of [A-Za-z0-9_.@-]. */
bool pd_valid_user_id(const char *s);

/* A room name: 1 to 64 characters of [A-Za-z0-9_.:-]. */
bool pd_valid_room_name(const char *s);

#define PD_NAME_MAX 64

#endif
