/* libFuzzer target: JWT verification at the upgrade (server/auth.c,
 * PROTOCOL.md 1.1, DESIGN.md 4): our own header decoding and algorithm pin,
 * libjwt's signature check under the pinned key, and every claim rule.
 *
 * Input: byte 0 picks the verifier (bits 0-1: 0 HS256, 1 HS256 with
 * jwt_issuer "parley-iss" and jwt_audience "parley-aud", 2 RS256, 3 ES256,
 * each with the keys below) and the mode (bit 2); byte 1 moves the clock
 * (now = 1700000000 + (int8)byte1 * 37 s). The rest is:
 *   - raw mode: the token, as the client would send it;
 *   - sign mode: "HEADER\nPAYLOAD" (or just PAYLOAD, with the header
 *     {"alg":"HS256","typ":"JWT"}), which this harness encodes and signs
 *     with HS256: with the shared secret for verifiers 0 and 1, so the
 *     fuzzer reaches the claim checks past the signature; with the public
 *     key's PEM text as the HMAC secret for verifiers 2 and 3 (the classic
 *     algorithm confusion, which must always be refused).
 *
 * Oracles besides the sanitizers: an accepted token has a valid sub, an
 * exp after now, a display name of at most 128 bytes of UTF-8; verifiers 2
 * and 3 never accept an HS256 token; a token this server issues for a sub
 * is accepted back with that sub. The seeds in corpus/jwt were signed with
 * the private keys matching the public keys below (not kept). With
 * FUZZ_VERBOSE=1 in the environment each verdict is printed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "config.h"
#include "log.h"
#include "text.h"

#define SECRET "fuzzing-secret-fuzzing-secret-fuzzing-secret"
#define NOW_BASE INT64_C(1700000000)

static const char rsa_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArwWQoyXEQ8AYZYg8o66c\n"
    "t8d6Mq3reS/V677oMH1iHU4/ESwO/GPWP5F4GqZbZBc3kwPbXEAaglooZL3Jd164\n"
    "hJn2Au7PvmwMb0/VDsCfSN7h80fe+m2Drj0s/yCHb2fEF0LIUd05VeU+WPHTjByg\n"
    "ZZ/1I1OOD3s1s1Ao3Rzs4DUdzNfdKZZeEYBV5JQ3/lPqs0WRK9V3ZWSyuOMjC3oS\n"
    "ol8Rb0qu2C63g7iNkUlteEPW/yJPaOsolY12YEqw7lwhcbYZQilhU9kLj81n9X0n\n"
    "I+xpnvLrgKAp+yTo9yZmuU+ILtRjl7kL1wyHMN13zqZ0cVnumNpBDFd1mPVCfsqc\n"
    "4QIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

static const char ec_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZL4Gw3j+nWOvV2yfFqA2FNbcWcjH\n"
    "dLFuD84NpkrnwNL9g6g0cFuAATuekRiXeoVnHCAbHdnMyP7dSxzq0B8yNg==\n"
    "-----END PUBLIC KEY-----\n";

static struct pd_auth *verifier[4];

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz jwt: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0)
        die("cannot write", path);
}

/* A verifier configured through the real settings parser. */
static struct pd_auth *make_verifier(char **envp)
{
    char *argv[] = {"fuzz-jwt", NULL};
    struct pd_config cfg;
    struct pd_auth *a;
    char err[512];

    if (pd_config_load(&cfg, 1, argv, envp, err, sizeof(err)) != 0)
        die("settings", err);
    if (pd_auth_new(&a, &cfg, err, sizeof(err)) != 0)
        die("auth", err);
    pd_config_free(&cfg);
    return a;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char dir[] = "/tmp/parley-fuzz-jwt-XXXXXX";
    char rsa_path[64], ec_path[64], rsa_env[96], ec_env[96];
    char *hs[] = {"PARLEYD_JWT_SECRET=" SECRET, "PARLEYD_LOG_LEVEL=error", NULL};
    char *hs_iss[] = {"PARLEYD_JWT_SECRET=" SECRET, "PARLEYD_JWT_ISSUER=parley-iss",
                      "PARLEYD_JWT_AUDIENCE=parley-aud", "PARLEYD_LOG_LEVEL=error", NULL};
    char *rs[] = {"PARLEYD_JWT_ALG=RS256", rsa_env, "PARLEYD_LOG_LEVEL=error", NULL};
    char *es[] = {"PARLEYD_JWT_ALG=ES256", ec_env, "PARLEYD_LOG_LEVEL=error", NULL};

    if (mkdtemp(dir) == NULL)
        die("mkdtemp", NULL);
    snprintf(rsa_path, sizeof(rsa_path), "%s/rsa.pub", dir);
    snprintf(ec_path, sizeof(ec_path), "%s/ec.pub", dir);
    write_file(rsa_path, rsa_pub);
    write_file(ec_path, ec_pub);
    snprintf(rsa_env, sizeof(rsa_env), "PARLEYD_JWT_PUBLIC_KEY=%s", rsa_path);
    snprintf(ec_env, sizeof(ec_env), "PARLEYD_JWT_PUBLIC_KEY=%s", ec_path);
    pd_log_set_level(PD_LOG_ERROR);
    verifier[0] = make_verifier(hs);
    verifier[1] = make_verifier(hs_iss);
    verifier[2] = make_verifier(rs);
    verifier[3] = make_verifier(es);
    /* The keys are read at start: the files can go. */
    unlink(rsa_path);
    unlink(ec_path);
    rmdir(dir);
    return 0;
}

static size_t b64url(const uint8_t *in, size_t len, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

/* HEADER.PAYLOAD.SIG, HS256 with key; malloc'd. */
static char *sign_hs256(const uint8_t *hdr, size_t hlen, const uint8_t *pl, size_t plen,
                        const void *key, size_t keylen)
{
    char *tok = malloc((hlen + plen + 64) * 4 / 3 + 16);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    size_t n;

    if (tok == NULL)
        die("out of memory", NULL);
    n = b64url(hdr, hlen, tok);
    tok[n++] = '.';
    n += b64url(pl, plen, tok + n);
    if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)tok, n, mac, &maclen) ==
        NULL)
        die("HMAC", NULL);
    tok[n++] = '.';
    b64url(mac, maclen, tok + n);
    return tok;
}

static void check_identity(const struct pd_identity *id, int64_t now)
{
    if (!pd_valid_user_id(id->sub))
        die("accepted a token with an invalid sub", id->sub);
    if (id->exp <= now)
        die("accepted a token that is expired", NULL);
    if (strlen(id->name) > PD_DISPLAY_NAME_MAX || !pd_utf8_valid(id->name, strlen(id->name)))
        die("accepted a token with a bad display name", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char def_hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    struct pd_identity id;
    char why[128], *token, *issued = NULL;
    unsigned which;
    bool sign;
    int64_t now;
    int rc;

    if (size < 2)
        return 0;
    which = data[0] & 3;
    sign = (data[0] & 4) != 0;
    now = NOW_BASE + (int64_t)(int8_t)data[1] * 37;
    data += 2;
    size -= 2;

    if (sign) {
        const uint8_t *nl = memchr(data, '\n', size);
        const uint8_t *hdr = (const uint8_t *)def_hdr, *pl = data;
        size_t hlen = sizeof(def_hdr) - 1, plen = size;
        const char *key = SECRET;
        size_t keylen = sizeof(SECRET) - 1;

        if (nl != NULL) {
            hdr = data;
            hlen = (size_t)(nl - data);
            pl = nl + 1;
            plen = size - hlen - 1;
        }
        if (which == 2) {
            key = rsa_pub;
            keylen = strlen(rsa_pub);
        } else if (which == 3) {
            key = ec_pub;
            keylen = strlen(ec_pub);
        }
        token = sign_hs256(hdr, hlen, pl, plen, key, keylen);
    } else {
        token = malloc(size + 1);
        if (token == NULL)
            die("out of memory", NULL);
        memcpy(token, data, size);
        token[size] = '\0';
    }

    memset(&id, 0, sizeof(id));
    rc = pd_auth_verify(verifier[which], token, now, &id, why, sizeof(why));
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "verifier %u: %s\n", which, rc == 0 ? id.sub : why);
    if (rc == 0) {
        check_identity(&id, now);
        if (sign && which >= 2)
            die("algorithm confusion: an HS256 token signed with the public key was accepted",
                NULL);
        /* Issue one for the same sub: it must verify to the same identity. */
        if (which <= 1) {
            struct pd_identity back;
            if (pd_auth_issue(verifier[which], id.sub, NULL, now, 60, &issued) != 0)
                die("cannot issue a token for an accepted sub", id.sub);
            if (pd_auth_verify(verifier[which], issued, now, &back, why, sizeof(why)) != 0 ||
                strcmp(back.sub, id.sub) != 0)
                die("an issued token does not verify", why);
        }
    } else if (why[0] == '\0') {
        die("refused without a reason", NULL);
    }
    free(issued);
    free(token);
    return 0;
}
