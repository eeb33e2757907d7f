/* `parley token`: mints an HS256 JWT for operators and tests. */
#ifndef PARLEY_CLI_TOKEN_H
#define PARLEY_CLI_TOKEN_H

/* Runs `parley token ...` (argv[0] is "token"); returns the exit status:
 * 0, or 2 on a usage error or an invalid sub. */
int token_main(int argc, char **argv);

/* 1 when s is a user id of parley-protocol(7) (a JWT `sub`): 1 to 64
 * characters of [A-Za-z0-9_.@-]. */
int token_valid_user(const char *s);

/* The `sub` claim of a JWT, read without checking the signature (the
 * server checks it): the user id the token is for. malloc'd; NULL when
 * the token cannot be read. */
char *token_sub(const char *jwt);

#endif
