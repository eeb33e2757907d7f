/* `parley token`: mints an HS256 JWT for operators and tests, and reads
 * the claims of a JWT the server issued. */
#ifndef PARLEY_CLI_TOKEN_H
#define PARLEY_CLI_TOKEN_H

#include <cjson/cJSON.h>

/* Runs `parley token ...` (argv[0] is "token"); returns the exit status:
 * 0, or 2 on a usage error or an invalid sub. */
int token_main(int argc, char **argv);

/* The claims object of a JWT, decoded but NOT verified (the CLI only reads
 * what the server told it about itself). NULL when it is not a JWT. Free
 * with cJSON_Delete. */
cJSON *token_claims(const char *jwt);

#endif
