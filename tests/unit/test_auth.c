/* server/auth.c: JWT verification against every rule of PROTOCOL.md 1.1
 * and the libjwt 1.10 traps of DESIGN.md 4, key loading, token issuing and
 * password hashing. Tokens are built here with OpenSSL directly (not with
 * libjwt), so the server is checked against standard JOSE encodings and
 * we can forge the malicious ones libjwt would refuse to produce. TAP. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"

#include "tap.h"

/* ---- token forging --------------------------------------------------------- */

static char *b64url(const unsigned char *in, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n * 4 / 3 + 4);
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = al[(v >> 18) & 63];
        out[o++] = al[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = al[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = al[v & 63];
    }
    out[o] = '\0';
    return out;
}

enum sig_kind { SIG_HMAC, SIG_RSA, SIG_ECDSA, SIG_NONE };

struct signer {
    enum sig_kind kind;
    const unsigned char *secret; /* SIG_HMAC */
    size_t secret_len;
    EVP_PKEY *pkey; /* SIG_RSA, SIG_ECDSA */
};

/* ECDSA signatures are DER from OpenSSL but fixed-width r||s in JOSE. */
static size_t der_to_jose(const unsigned char *der, size_t len, unsigned char out[64])
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r, *s;

    if (sig == NULL)
        return 0;
    ECDSA_SIG_get0(sig, &r, &s);
    BN_bn2binpad(r, out, 32);
    BN_bn2binpad(s, out + 32, 32);
    ECDSA_SIG_free(sig);
    return 64;
}

static size_t sign(const struct signer *s, const char *input, unsigned char *sig)
{
    unsigned char der[512];
    size_t len = sizeof(der);
    unsigned int hlen = 0;
    EVP_MD_CTX *ctx;

    if (s->kind == SIG_NONE)
        return 0;
    if (s->kind == SIG_HMAC) {
        HMAC(EVP_sha256(), s->secret, (int)s->secret_len, (const unsigned char *)input,
             strlen(input), sig, &hlen);
        return hlen;
    }
    ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->pkey);
    EVP_DigestSign(ctx, der, &len, (const unsigned char *)input, strlen(input));
    EVP_MD_CTX_free(ctx);
    if (s->kind == SIG_ECDSA)
        return der_to_jose(der, len, sig);
    memcpy(sig, der, len);
    return len;
}

/* header and payload are JSON text; returns the compact JWT (malloc'd). */
static char *forge(const struct signer *s, const char *header, const char *payload)
{
    char *h = b64url((const unsigned char *)header, strlen(header));
    char *p = b64url((const unsigned char *)payload, strlen(payload));
    char *input, *sig64, *tok;
    unsigned char sig[512];
    size_t slen;

    if (asprintf(&input, "%s.%s", h, p) < 0)
        abort();
    slen = sign(s, input, sig);
    sig64 = b64url(sig, slen);
    if (asprintf(&tok, "%s.%s", input, sig64) < 0)
        abort();
    free(h);
    free(p);
    free(input);
    free(sig64);
    return tok;
}

static const char HS_HDR[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
static const char RS_HDR[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
static const char ES_HDR[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
static const char SECRET[] = "0123456789abcdef0123456789abcdef-test";
static const char OTHER_SECRET[] = "fedcba9876543210fedcba9876543210-test";

/* Payload with sub and exp = now + dt, plus extra JSON members. */
static char *claims(const char *sub, long long exp, const char *extra)
{
    char *out;

    if (asprintf(&out, "{\"sub\":\"%s\",\"exp\":%lld%s%s}", sub, exp, extra ? "," : "",
                 extra ? extra : "") < 0)
        abort();
    return out;
}

/* Verifies tok and expects failure; why must contain want (when not NULL). */
static int refused(struct pd_auth *a, const char *tok, int64_t now, const char *want,
                   char *why, size_t whylen)
{
    struct pd_identity id;

    if (pd_auth_verify(a, tok, now, &id, why, whylen) == 0)
        return 0;
    return want == NULL || strstr(why, want) != NULL;
}

/* ---- fixtures ---------------------------------------------------------------- */

struct fx {
    char dir[64];
    struct pd_config cfg;
    int64_t now;
};

static void cfg_reset(struct fx *f)
{
    memset(&f->cfg, 0, sizeof(f->cfg));
    f->cfg.jwt_alg = "HS256";
}

static char *path_in(const struct fx *f, const char *name)
{
    char *p;

    if (asprintf(&p, "%s/%s", f->dir, name) < 0)
        abort();
    return p;
}

static int write_pubkey(EVP_PKEY *pk, const char *path)
{
    FILE *fp = fopen(path, "w");
    int r;

    if (fp == NULL)
        return -1;
    r = PEM_write_PUBKEY(fp, pk);
    fclose(fp);
    return r == 1 ? 0 : -1;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf = calloc(1, 65536);
    size_t n;

    if (fp == NULL)
        return buf;
    n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* ---- HS256 ------------------------------------------------------------------- */

static void test_hs256(struct tap *t, struct fx *f)
{
    struct signer hs = {SIG_HMAC, (const unsigned char *)SECRET, strlen(SECRET), NULL};
    struct signer wrong = {SIG_HMAC, (const unsigned char *)OTHER_SECRET, strlen(OTHER_SECRET),
                           NULL};
    struct pd_auth *a = NULL;
    struct pd_identity id;
    char err[256], why[128];
    char *c, *tok;
    int64_t now = f->now;

    cfg_reset(f);
    f->cfg.jwt_secret = (char *)SECRET;
    ok(t, pd_auth_new(&a, &f->cfg, err, sizeof(err)) == 0, "HS256 with a 37-byte secret loads");
    if (a == NULL)
        return;
    ok(t, pd_auth_can_issue(a), "HS256 secret can issue");

    c = claims("alice", now + 60, "\"name\":\"Alice A.\",\"role\":\"admin\",\"iat\":1");
    tok = forge(&hs, HS_HDR, c);
    memset(&id, 0, sizeof(id));
    ok(t, pd_auth_verify(a, tok, now, &id, why, sizeof(why)) == 0 && strcmp(id.sub, "alice") == 0 &&
              strcmp(id.name, "Alice A.") == 0 && id.admin && id.exp == now + 60,
       "good HS256 token: sub, name, admin, exp (%s)", why);
    free(tok);
    free(c);

    c = claims("bob", now + 1, NULL);
    tok = forge(&hs, HS_HDR, c);
    ok(t, pd_auth_verify(a, tok, now, &id, why, sizeof(why)) == 0 && strcmp(id.name, "bob") == 0 &&
              !id.admin,
       "without name the display name is sub; without role no admin");
    free(tok);
    free(c);

    c = claims("bob", now, NULL);
    tok = forge(&hs, HS_HDR, c);
    ok(t, refused(a, tok, now, "token expired", why, sizeof(why)), "exp == now is expired (%s)",
       why);
    ok(t, refused(a, tok, now + 1, "token expired", why, sizeof(why)), "exp < now is expired");
    free(tok);
    free(c);

    tok = forge(&hs, HS_HDR, "{\"sub\":\"bob\"}");
    ok(t, refused(a, tok, now, "missing exp", why, sizeof(why)), "missing exp refused (%s)", why);
    free(tok);
    c = claims("bob", now + 60, NULL);
    tok = forge(&hs, HS_HDR, "{\"sub\":\"bob\",\"exp\":\"9999999999\"}");
    ok(t, refused(a, tok, now, "invalid exp", why, sizeof(why)), "string exp refused (%s)", why);
    free(tok);
    free(c);

    {
        char extra[64];
        snprintf(extra, sizeof(extra), "\"nbf\":%lld", (long long)now + 61);
        c = claims("bob", now + 600, extra);
        tok = forge(&hs, HS_HDR, c);
        ok(t, refused(a, tok, now, "not yet valid", why, sizeof(why)),
           "nbf 61 s ahead refused (%s)", why);
        free(tok);
        free(c);
        snprintf(extra, sizeof(extra), "\"nbf\":%lld", (long long)now + 60);
        c = claims("bob", now + 600, extra);
        tok = forge(&hs, HS_HDR, c);
        ok(t, pd_auth_verify(a, tok, now, &id, why, sizeof(why)) == 0,
           "nbf 60 s ahead is within the leeway");
        free(tok);
        free(c);
        snprintf(extra, sizeof(extra), "\"iat\":%lld", (long long)now + 3600);
        c = claims("bob", now + 7200, extra);
        tok = forge(&hs, HS_HDR, c);
        ok(t, refused(a, tok, now, "future", why, sizeof(why)), "iat an hour ahead refused (%s)",
           why);
        free(tok);
        free(c);
    }

    c = claims("bob", now + 60, NULL);
    tok = forge(&wrong, HS_HDR, c);
    ok(t, refused(a, tok, now, "bad signature", why, sizeof(why)), "wrong key refused (%s)", why);
    free(tok);

    {
        struct signer none = {SIG_NONE, NULL, 0, NULL};
        tok = forge(&none, "{\"alg\":\"none\",\"typ\":\"JWT\"}", c);
        ok(t, refused(a, tok, now, NULL, why, sizeof(why)), "alg none, empty signature refused (%s)",
           why);
        free(tok);
        tok = forge(&hs, "{\"alg\":\"none\",\"typ\":\"JWT\"}", c);
        ok(t, refused(a, tok, now, "algorithm not accepted", why, sizeof(why)),
           "alg none with a signature refused (%s)", why);
        free(tok);
        tok = forge(&hs, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", c);
        ok(t, refused(a, tok, now, "algorithm not accepted", why, sizeof(why)),
           "alg HS512 refused (%s)", why);
        free(tok);
        tok = forge(&hs, "{\"alg\":\"hs256\",\"typ\":\"JWT\"}", c);
        ok(t, refused(a, tok, now, "algorithm not accepted", why, sizeof(why)),
           "alg hs256 (wrong case) refused");
        free(tok);
        tok = forge(&hs, "{\"typ\":\"JWT\"}", c);
        ok(t, refused(a, tok, now, "algorithm not accepted", why, sizeof(why)),
           "header without alg refused");
        free(tok);
        tok = forge(&hs, "{\"alg\":\"HS256\",\"alg\":\"none\"}", c);
        ok(t, refused(a, tok, now, "malformed", why, sizeof(why)),
           "duplicate alg in the header refused (%s)", why);
        free(tok);
        tok = forge(&hs, "{\"alg\":\"HS256\",\"crit\":[\"x\"]}", c);
        ok(t, refused(a, tok, now, "critical", why, sizeof(why)), "crit header refused (%s)", why);
        free(tok);
    }
    free(c);

    tok = forge(&hs, HS_HDR, "{\"exp\":9999999999}");
    ok(t, refused(a, tok, now, "missing sub", why, sizeof(why)), "missing sub refused (%s)", why);
    free(tok);
    {
        static const char *const bad_subs[] = {
            "a b", "a/b", "", "\\u00e9t\\u00e9", "a\\\"b",
            "x123456789x123456789x123456789x123456789x123456789x123456789xxxxx"};
        int all = 1;
        for (size_t i = 0; i < sizeof(bad_subs) / sizeof(bad_subs[0]); i++) {
            c = claims(bad_subs[i], now + 60, NULL);
            tok = forge(&hs, HS_HDR, c);
            all &= refused(a, tok, now, "invalid sub", why, sizeof(why));
            free(tok);
            free(c);
        }
        ok(t, all, "bad sub characters and a 65-char sub refused");
        tok = forge(&hs, HS_HDR, "{\"sub\":42,\"exp\":9999999999}");
        ok(t, refused(a, tok, now, "invalid sub", why, sizeof(why)), "numeric sub refused");
        free(tok);
        c = claims("x123456789x123456789x123456789x123456789x123456789x123456789xxxx", now + 60,
                   NULL);
        tok = forge(&hs, HS_HDR, c);
        ok(t, pd_auth_verify(a, tok, now, &id, why, sizeof(why)) == 0,
           "a 64-char sub with every allowed class is accepted");
        free(tok);
        free(c);
        c = claims("a-b_c.d@e", now + 60, NULL);
        tok = forge(&hs, HS_HDR, c);
        ok(t, pd_auth_verify(a, tok, now, &id, why, sizeof(why)) == 0, "sub with -_.@ accepted");
        free(tok);
        free(c);
    }

    {
        char name[200], extra[256];
        memset(name, 'n', 129);
        name[129] = '\0';
        snprintf(extra, sizeof(extra), "\"name\":\"%s\"", name);
        c = claims("bob", now + 60, extra);
        tok = forge(&hs, HS_HDR, c);
        ok(t, refused(a, tok, now, "name", why, sizeof(why)), "129-byte name refused (%s)", why);
        free(tok);
        free(c);
        c = claims("bob", now + 60, "\"name\":17");
        tok = forge(&hs, HS_HDR, c);
        ok(t, refused(a, tok, now, "name", why, sizeof(why)), "numeric name refused");
        free(tok);
        free(c);
        c = claims("bob", now + 60, "\"name\":\"Zo\\u00eb \\u2603\"");
        tok = forge(&hs, HS_HDR, c);
        ok(t, pd_auth_verify(a, tok, now, &id, why, sizeof(why)) == 0 &&
                  strcmp(id.name, "Zo\xc3\xab \xe2\x98\x83") == 0,
           "UTF-8 display name kept");
        free(tok);
        free(c);
    }

    {
        size_t n = PD_JWT_MAX_LEN + 1;
        char *big = malloc(n + 1);
        memset(big, 'A', n);
        big[100] = '.';
        big[200] = '.';
        big[n] = '\0';
        ok(t, refused(a, big, now, "too long", why, sizeof(why)), "over-long token refused (%s)",
           why);
        free(big);
    }
    {
        static const char *const garbage[] = {"", "abc", "a.b", "a.b.c.d", "!!!.x.y", "..",
                                              "a..b", ".a.b", "a.b.", "eyJ=.eyJ.sig",
                                              "Zm9v.YmFy.YmF6", "e30.e30.e30"};
        int all = 1;
        for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
            all &= refused(a, garbage[i], now, NULL, why, sizeof(why));
        all &= refused(a, NULL, now, NULL, why, sizeof(why));
        ok(t, all, "garbage and NULL tokens refused");
    }
    pd_auth_free(a);
}

static void test_iss_aud(struct tap *t, struct fx *f)
{
    struct signer hs = {SIG_HMAC, (const unsigned char *)SECRET, strlen(SECRET), NULL};
    struct pd_auth *a = NULL;
    struct pd_identity id;
    char err[256], why[128];
    int64_t now = f->now;
    static const struct {
        const char *extra;
        int good;
        const char *desc;
    } cases[] = {
        {"\"iss\":\"parley-idp\",\"aud\":\"chat\"", 1, "matching iss and aud accepted"},
        {"\"iss\":\"parley-idp\",\"aud\":[\"web\",\"chat\"]", 1, "aud array containing ours"},
        {"\"iss\":\"evil\",\"aud\":\"chat\"", 0, "iss mismatch refused"},
        {"\"aud\":\"chat\"", 0, "missing iss refused"},
        {"\"iss\":\"parley-idp\",\"aud\":\"other\"", 0, "aud mismatch refused"},
        {"\"iss\":\"parley-idp\",\"aud\":[\"web\"]", 0, "aud array without ours refused"},
        {"\"iss\":\"parley-idp\"", 0, "missing aud refused"},
    };

    cfg_reset(f);
    f->cfg.jwt_secret = (char *)SECRET;
    f->cfg.jwt_issuer = "parley-idp";
    f->cfg.jwt_audience = "chat";
    if (pd_auth_new(&a, &f->cfg, err, sizeof(err)) != 0) {
        ok(t, 0, "auth with iss/aud: %s", err);
        return;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *c = claims("carol", now + 60, cases[i].extra);
        char *tok = forge(&hs, HS_HDR, c);
        int r = pd_auth_verify(a, tok, now, &id, why, sizeof(why));
        ok(t, cases[i].good ? r == 0 : (r != 0 && strstr(why, "mismatch") != NULL), "%s (%s)",
           cases[i].desc, why);
        free(tok);
        free(c);
    }
    {
        char *tok = NULL;
        ok(t, pd_auth_issue(a, "carol", NULL, now, 60, &tok) == 0 &&
                  pd_auth_verify(a, tok, now, &id, why, sizeof(why)) == 0,
           "issued token carries the configured iss and aud (%s)", why);
        free(tok);
    }
    pd_auth_free(a);
}

static void test_config_errors(struct tap *t, struct fx *f)
{
    struct pd_auth *a = NULL;
    char err[256];
    char *pem = path_in(f, "none.pem");

    cfg_reset(f);
    f->cfg.jwt_secret = "0123456789abcdef0123456789abcde"; /* 31 bytes */
    ok(t, pd_auth_new(&a, &f->cfg, err, sizeof(err)) != 0 && a == NULL &&
              strstr(err, "jwt_secret") != NULL,
       "31-byte secret refused, naming jwt_secret (%s)", err);
    cfg_reset(f);
    f->cfg.jwt_secret = (char *)SECRET;
    f->cfg.jwt_alg = "HS384";
    ok(t, pd_auth_new(&a, &f->cfg, err, sizeof(err)) != 0 && strstr(err, "jwt_alg") != NULL,
       "unknown jwt_alg refused (%s)", err);
    cfg_reset(f);
    f->cfg.jwt_alg = "RS256";
    ok(t, pd_auth_new(&a, &f->cfg, err, sizeof(err)) != 0 && strstr(err, "jwt_public_key"),
       "RS256 without a public key refused (%s)", err);
    f->cfg.jwt_public_key = pem;
    ok(t, pd_auth_new(&a, &f->cfg, err, sizeof(err)) != 0 && strstr(err, pem),
       "RS256 with a missing key file refused (%s)", err);
    free(pem);
}

/* ---- RS256 / ES256 ------------------------------------------------------------ */

static void test_rs256(struct tap *t, struct fx *f)
{
    EVP_PKEY *rsa = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256");
    char *pem_path = path_in(f, "rsa.pem"), *ec_path = path_in(f, "ec-for-rs.pem");
    struct pd_auth *a = NULL;
    struct pd_identity id;
    char err[256], why[128];
    char *pem, *c, *tok;
    int64_t now = f->now;

    write_pubkey(rsa, pem_path);
    write_pubkey(ec, ec_path);
    pem = slurp(pem_path);
    cfg_reset(f);
    f->cfg.jwt_alg = "RS256";
    f->cfg.jwt_public_key = pem_path;
    ok(t, pd_auth_new(&a, &f->cfg, err, sizeof(err)) == 0, "RS256 public key loads (%s)", err);
    if (a == NULL)
        goto out;
    ok(t, !pd_auth_can_issue(a), "RS256 cannot issue");
    c = claims("dave", now + 60, NULL);
    {
        struct signer rs = {SIG_RSA, NULL, 0, rsa};
        tok = forge(&rs, RS_HDR, c);
        ok(t, pd_auth_verify(a, tok, now, &id, why, sizeof(why)) == 0 &&
                  strcmp(id.sub, "dave") == 0,
           "good RS256 token (%s)", why);
        free(tok);
    }
    {
        /* The classic confusion: HMAC keyed with the public PEM, which
         * libjwt 1.10 alone would accept. */
        struct signer conf = {SIG_HMAC, (const unsigned char *)pem, strlen(pem), NULL};
        tok = forge(&conf, HS_HDR, c);
        ok(t, refused(a, tok, now, "algorithm not accepted", why, sizeof(why)),
           "HS256 signed with the RS256 public PEM refused (%s)", why);
        free(tok);
        tok = forge(&conf, RS_HDR, c);
        ok(t, refused(a, tok, now, "bad signature", why, sizeof(why)),
           "RS256 header with an HMAC-of-PEM signature refused (%s)", why);
        free(tok);
        tok = forge(&conf, "{\"alg\":\"RS256\",\"alg\":\"HS256\"}", c);
        ok(t, refused(a, tok, now, NULL, why, sizeof(why)),
           "alg RS256 then HS256 in one header refused (%s)", why);
        free(tok);
    }
    {
        struct signer es = {SIG_ECDSA, NULL, 0, ec};
        tok = forge(&es, ES_HDR, c);
        ok(t, refused(a, tok, now, "algorithm not accepted", why, sizeof(why)),
           "ES256 token against an RS256 key refused");
        free(tok);
    }
    free(c);
    pd_auth_free(a);
    a = NULL;

    f->cfg.jwt_public_key = ec_path;
    ok(t, pd_auth_new(&a, &f->cfg, err, sizeof(err)) != 0 && strstr(err, "RSA"),
       "RS256 with an EC key file refused (%s)", err);
    f->cfg.jwt_public_key = pem_path;
    f->cfg.jwt_secret = (char *)SECRET;
    ok(t, pd_auth_new(&a, &f->cfg, err, sizeof(err)) != 0 && strstr(err, "jwt_secret"),
       "RS256 together with jwt_secret refused (%s)", err);
out:
    free(pem);
    free(pem_path);
    free(ec_path);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

static void test_es256(struct tap *t, struct fx *f)
{
    EVP_PKEY *ec = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256"),
             *p384 = EVP_EC_gen("P-384");
    char *path = path_in(f, "ec.pem"), *p384_path = path_in(f, "p384.pem");
    struct pd_auth *a = NULL;
    struct pd_identity id;
    char err[256], why[128];
    char *c, *tok;
    int64_t now = f->now;

    write_pubkey(ec, path);
    write_pubkey(p384, p384_path);
    cfg_reset(f);
    f->cfg.jwt_alg = "ES256";
    f->cfg.jwt_public_key = path;
    ok(t, pd_auth_new(&a, &f->cfg, err, sizeof(err)) == 0, "ES256 P-256 key loads (%s)", err);
    if (a == NULL)
        goto out;
    c = claims("erin", now + 60, "\"name\":\"Erin\"");
    {
        struct signer es = {SIG_ECDSA, NULL, 0, ec}, bad = {SIG_ECDSA, NULL, 0, other};
        tok = forge(&es, ES_HDR, c);
        ok(t, pd_auth_verify(a, tok, now, &id, why, sizeof(why)) == 0 &&
                  strcmp(id.name, "Erin") == 0,
           "good ES256 token (JOSE r||s signature) (%s)", why);
        free(tok);
        tok = forge(&bad, ES_HDR, c);
        ok(t, refused(a, tok, now, "bad signature", why, sizeof(why)),
           "ES256 token from another key refused (%s)", why);
        free(tok);
    }
    {
        char *pem = slurp(path);
        struct signer conf = {SIG_HMAC, (const unsigned char *)pem, strlen(pem), NULL};
        tok = forge(&conf, HS_HDR, c);
        ok(t, refused(a, tok, now, "algorithm not accepted", why, sizeof(why)),
           "HS256 signed with the ES256 public PEM refused");
        free(tok);
        free(pem);
    }
    free(c);
    pd_auth_free(a);
    a = NULL;
    f->cfg.jwt_public_key = p384_path;
    ok(t, pd_auth_new(&a, &f->cfg, err, sizeof(err)) != 0 && strstr(err, "P-256"),
       "ES256 with a P-384 key refused (%s)", err);
out:
    free(path);
    free(p384_path);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(other);
    EVP_PKEY_free(p384);
}

/* ---- generated secret and issuing ---------------------------------------- */

static void test_db_secret(struct tap *t, struct fx *f)
{
    char *db = path_in(f, "chat.db"), *secret = path_in(f, "chat.db.secret");
    struct pd_auth *a = NULL, *b = NULL;
    struct pd_identity id;
    struct stat st;
    char err[256], why[128], *tok = NULL, *content;
    int64_t now = f->now;

    cfg_reset(f);
    f->cfg.db = db;
    ok(t, pd_auth_new(&a, &f->cfg, err, sizeof(err)) == 0 && pd_auth_can_issue(a),
       "no key configured: a secret is generated (%s)", err);
    ok(t, stat(secret, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600,
       "<db>.secret exists with mode 0600 (%o)", (unsigned)(st.st_mode & 0777));
    content = slurp(secret);
    ok(t, strlen(content) == 65 && strspn(content, "0123456789abcdef") == 64,
       "it holds 32 random bytes, hex-encoded");
    free(content);
    ok(t, a && pd_auth_issue(a, "frank", "Frank", now, 3600, &tok) == 0,
       "the generated secret issues tokens");
    ok(t, pd_auth_new(&b, &f->cfg, err, sizeof(err)) == 0 && tok &&
              pd_auth_verify(b, tok, now, &id, why, sizeof(why)) == 0 &&
              strcmp(id.name, "Frank") == 0 && id.exp == now + 3600,
       "a second start reuses the secret: its token verifies (%s)", why);
    ok(t, tok && b && refused(b, tok, now + 3600, "expired", why, sizeof(why)),
       "issued token expires after its ttl");
    pd_auth_free(a);
    pd_auth_free(b);
    a = NULL;
    chmod(secret, 0644);
    ok(t, pd_auth_new(&a, &f->cfg, err, sizeof(err)) != 0 && strstr(err, "chmod"),
       "a group/world-readable secret file is refused (%s)", err);
    free(tok);
    tok = NULL;
    ok(t, pd_auth_issue(NULL, "x", NULL, now, 60, &tok) != 0 && tok == NULL,
       "issue without auth fails");
    free(db);
    free(secret);
}

static void test_issue_rules(struct tap *t, struct fx *f)
{
    struct pd_auth *a = NULL;
    char err[256], *tok = NULL;

    cfg_reset(f);
    f->cfg.jwt_secret = (char *)SECRET;
    if (pd_auth_new(&a, &f->cfg, err, sizeof(err)) != 0)
        return;
    ok(t, pd_auth_issue(a, "bad sub", NULL, f->now, 60, &tok) != 0 && tok == NULL,
       "issue refuses an invalid sub");
    ok(t, pd_auth_issue(a, "ok", NULL, f->now, 0, &tok) != 0, "issue refuses ttl 0");
    pd_auth_free(a);
}

/* ---- passwords ------------------------------------------------------------- */

/* Each scrypt costs about half a second here (N=2^15, r=8, p=3): three in all. */
static void test_passwords(struct tap *t)
{
    const char *pw = "correct horse battery staple";
    char *h = NULL;
    char tampered[256];

    ok(t, pd_password_hash(pw, &h) == 0 && h != NULL, "password hashed");
    if (h == NULL)
        return;
    ok(t, strncmp(h, "$scrypt$ln=15,r=8,p=3$", 22) == 0, "hash string names its parameters: %s",
       h);
    ok(t, strstr(h, pw) == NULL && strstr(h, "horse") == NULL, "hash string holds no password");
    ok(t, pd_password_verify(pw, h) == 0, "right password verifies");
    ok(t, pd_password_verify("correct horse battery stapler", h) != 0,
       "wrong password refused");

    /* Tampered or absurd parameters are refused before any work. */
    snprintf(tampered, sizeof(tampered), "$scrypt$ln=30,r=8,p=3$%s", h + 22);
    ok(t, pd_password_verify(pw, tampered) != 0, "ln=30 refused");
    snprintf(tampered, sizeof(tampered), "$scrypt$ln=15,r=999,p=3$%s", h + 22);
    ok(t, pd_password_verify(pw, tampered) != 0, "r=999 refused");
    ok(t, pd_password_verify(pw, "") != 0 && pd_password_verify(pw, "$scrypt$") != 0 &&
              pd_password_verify(pw, "plain") != 0 && pd_password_verify(pw, NULL) != 0 &&
              pd_password_verify(pw, "$scrypt$ln=15,r=8,p=3$AAAA$AAAA") != 0,
       "garbage stored strings refused");
    free(h);
}

int main(void)
{
    struct tap t = {0, 0};
    struct fx f;
    char cmd[128];

    memset(&f, 0, sizeof(f));
    snprintf(f.dir, sizeof(f.dir), "/tmp/parley-test-auth-XXXXXX");
    if (mkdtemp(f.dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    f.now = (int64_t)time(NULL);

    test_hs256(&t, &f);
    test_iss_aud(&t, &f);
    test_config_errors(&t, &f);
    test_rs256(&t, &f);
    test_es256(&t, &f);
    test_db_secret(&t, &f);
    test_issue_rules(&t, &f);
    test_passwords(&t);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f.dir);
    /* Plan at the end (valid TAP): the count cannot drift from the code. */
    return tap_done(&t);
}
