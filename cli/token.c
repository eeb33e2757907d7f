/* `parley token`: HS256 JWTs signed with OpenSSL's HMAC-SHA256. */
#include "token.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "b64url.h"

#define TOKEN_USAGE \
    "usage: parley token --secret S --sub ID [--name NAME] [--role ROLE] [--ttl SECONDS]"

struct token_opts {
    const char *secret, *sub, *name, *role;
    long long ttl;
};

int token_valid_user(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > 64)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '@' || c == '-'))
            return 0;
    }
    return 1;
}

static int usage_error(const char *what)
{
    fprintf(stderr, "parley token: %s\n%s\n", what, TOKEN_USAGE);
    return 2;
}

/* Accepts "--opt value" and "--opt=value". Returns 0 or an exit status. */
static int parse_opts(int argc, char **argv, struct token_opts *o)
{
    o->ttl = 3600;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL, *eq;
        size_t nlen;

        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            printf("%s\n", TOKEN_USAGE);
            exit(0);
        }
        if (strncmp(arg, "--", 2) != 0)
            return usage_error("unexpected argument");
        eq = strchr(arg, '=');
        nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return usage_error("an option is missing its value");
#define IS(opt) (nlen == strlen(opt) && !strncmp(arg, opt, nlen))
        if (IS("--secret")) {
            o->secret = val;
        } else if (IS("--sub")) {
            o->sub = val;
        } else if (IS("--name")) {
            o->name = val;
        } else if (IS("--role")) {
            o->role = val;
        } else if (IS("--ttl")) {
            char *end;
            errno = 0;
            o->ttl = strtoll(val, &end, 10);
            if (errno || end == val || *end)
                return usage_error("--ttl takes a whole number of seconds");
        } else {
            return usage_error("unknown option");
        }
#undef IS
    }
    if (!o->secret || !*o->secret)
        return usage_error("--secret is required");
    if (!o->sub)
        return usage_error("--sub is required");
    if (!token_valid_user(o->sub))
        return usage_error("--sub must be 1 to 64 characters of [A-Za-z0-9_.@-]");
    if (o->role && !*o->role)
        return usage_error("--role must not be empty");
    return 0;
}

/* b64url(json of obj); NULL when out of memory. */
static char *encode_part(cJSON *obj)
{
    char *json = obj ? cJSON_PrintUnformatted(obj) : NULL;
    char *out = json ? b64url_encode(json, strlen(json)) : NULL;

    cJSON_free(json);
    return out;
}

/* header.claims.signature, malloc'd; NULL when out of memory. */
static char *sign(const struct token_opts *o)
{
    cJSON *header = cJSON_CreateObject(), *claims = cJSON_CreateObject();
    char *h = NULL, *p = NULL, *input = NULL, *sig = NULL, *jwt = NULL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    long long now = (long long)time(NULL);

    if (!header || !claims)
        goto out;
    cJSON_AddStringToObject(header, "alg", "HS256");
    cJSON_AddStringToObject(header, "typ", "JWT");
    cJSON_AddStringToObject(claims, "sub", o->sub);
    if (o->name)
        cJSON_AddStringToObject(claims, "name", o->name);
    if (o->role)
        cJSON_AddStringToObject(claims, "role", o->role);
    cJSON_AddNumberToObject(claims, "iat", (double)now);
    cJSON_AddNumberToObject(claims, "exp", (double)(now + o->ttl));
    h = encode_part(header);
    p = encode_part(claims);
    if (!h || !p || asprintf(&input, "%s.%s", h, p) < 0) {
        input = NULL;
        goto out;
    }
    if (!HMAC(EVP_sha256(), o->secret, (int)strlen(o->secret), (const unsigned char *)input,
              strlen(input), mac, &mac_len))
        goto out;
    sig = b64url_encode(mac, mac_len);
    if (!sig || asprintf(&jwt, "%s.%s", input, sig) < 0)
        jwt = NULL;
out:
    cJSON_Delete(header);
    cJSON_Delete(claims);
    free(h);
    free(p);
    free(input);
    free(sig);
    return jwt;
}

int token_main(int argc, char **argv)
{
    struct token_opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    char *jwt;

    if (rc)
        return rc;
    jwt = sign(&o);
    if (!jwt) {
        fprintf(stderr, "parley token: out of memory\n");
        return 1;
    }
    printf("%s\n", jwt);
    fflush(stdout);
    free(jwt);
    return 0;
}

char *token_sub(const char *jwt)
{
    const char *dot1 = jwt ? strchr(jwt, '.') : NULL;
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    unsigned char *payload;
    size_t len;
    cJSON *claims;
    const cJSON *sub;
    char *out = NULL;

    if (!dot2)
        return NULL;
    payload = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &len);
    if (!payload)
        return NULL;
    claims = cJSON_Parse((const char *)payload);
    sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
    if (cJSON_IsString(sub))
        out = strdup(sub->valuestring);
    cJSON_Delete(claims);
    free(payload);
    return out;
}
