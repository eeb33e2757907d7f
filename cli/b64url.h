/* base64url (RFC 4648 section 5) without padding, as JWTs use it. Pure
 * functions. */
#ifndef PARLEY_CLI_B64URL_H
#define PARLEY_CLI_B64URL_H

#include <stddef.h>

/* Encodes len bytes; malloc'd NUL-terminated text, NULL when out of memory. */
char *b64url_encode(const void *data, size_t len);

/* Decodes len characters (padding '=' tolerated at the end); malloc'd,
 * NUL-terminated (not counted in *out_len) so JSON can be parsed in place.
 * NULL on a character outside the alphabet, an impossible length or no
 * memory. */
unsigned char *b64url_decode(const char *s, size_t len, size_t *out_len);

#endif
