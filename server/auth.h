/* JWT verification at the upgrade (PROTOCOL.md 1.1), token issuing for
 * /api/login, and password hashing. libjwt 1.10 trusts the token's own alg
 * and checks no claim, so both are pinned and checked here (DESIGN.md 4). */
#ifndef PD_AUTH_H
#define PD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "text.h"

/* Tokens longer than this are refused before any decoding. */
#define PD_JWT_MAX_LEN 8192
#define PD_DISPLAY_NAME_MAX 128

struct pd_identity {
    char sub[PD_NAME_MAX + 1];
    char name[PD_DISPLAY_NAME_MAX + 1]; /* the `name` claim, else sub */
    bool admin;                         /* `role: "admin"` */
    int64_t exp;                        /* seconds since the epoch */
};

struct pd_auth;

/* Loads the key material the config names: jwt_secret (>= 32 bytes),
 * jwt_secret_file, jwt_public_key; or, with none, creates/reads <db>.secret
 * (mode 0600). Returns 0, or -1 with a message in err. */
int pd_auth_new(struct pd_auth **out, const struct pd_config *cfg, char *err, size_t errlen);
void pd_auth_free(struct pd_auth *a);

/* Verifies a compact JWT at time now_s. Returns 0 and fills id, or -1 with a
 * short reason in why ("token expired", "algorithm not accepted", ...). */
int pd_auth_verify(const struct pd_auth *a, const char *token, int64_t now_s,
                   struct pd_identity *id, char *why, size_t whylen);

/* True when this server can sign tokens (an HS256 secret is configured or
 * generated); with RS256/ES256 tokens come from an outside issuer. */
bool pd_auth_can_issue(const struct pd_auth *a);

/* Signs an HS256 token for sub (name may be NULL) valid ttl_s seconds.
 * *out is malloc'd. Returns 0 or -1. */
int pd_auth_issue(const struct pd_auth *a, const char *sub, const char *name, int64_t now_s,
                  int ttl_s, char **out);

/* Password hashing with scrypt (OpenSSL EVP_KDF), parameters stored in the
 * result: "$scrypt$ln=15,r=8,p=3$<salt b64>$<hash b64>". *out is malloc'd. */
int pd_password_hash(const char *password, char **out);
/* 0 when password matches stored (constant-time compare), -1 otherwise. */
int pd_password_verify(const char *password, const char *stored);

#endif
