/* JWT verification, token issuing and password hashing.
 *
 * libjwt 1.10 trusts the token's own `alg` (alg none, or HS256 keyed with
 * an RS256 public PEM, both verify) and checks no claim (DESIGN.md 4). So
 * the algorithm is pinned at start, checked in the header before libjwt
 * sees the token and again after it decoded it, and every claim is checked
 * here from the verified grants. */
#include "auth.h"
#include "store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <jwt.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* HS256 secrets shorter than this are brute-forceable offline from one token. */
#define SECRET_MIN 32
/* Generous caps on files we read, so a wrong path cannot make us slurp a disk. */
#define SECRET_FILE_MAX 4096
#define PEM_FILE_MAX 65536
/* Clock skew allowed for nbf and iat (PROTOCOL.md 1.1); exp gets none. */
#define CLOCK_LEEWAY_S 60
/* exp beyond year 9999 is clamped so later arithmetic (exp * 1000) cannot overflow. */
#define EXP_MAX 253402300799LL

/* scrypt: N = 2^15, r = 8, p = 3 (about 32 MiB and 100-300 ms per hash). */
#define SCRYPT_LN 15
#define SCRYPT_R 8
#define SCRYPT_P 3
#define SCRYPT_SALT_LEN 16
#define SCRYPT_HASH_LEN 32
/* Bounds for parameters read back from a stored hash: refuse weak or
 * memory-exhausting ones instead of obeying whatever the database says. */
#define SCRYPT_LN_MIN 10
#define SCRYPT_LN_MAX 20
#define SCRYPT_R_MAX 32
#define SCRYPT_P_MAX 16
#define SCRYPT_MEM_MAX (256ULL * 1024 * 1024)

struct pd_auth {
    jwt_alg_t alg;
    const char *alg_name;   /* "HS256", "RS256" or "ES256": the only one accepted */
    unsigned char *key;     /* HS256 secret, or the public key PEM text */
    size_t keylen;
    bool can_issue;
    char *issuer, *audience; /* NULL when not checked */
};

/* ------------------------------------------------------------------------ */
/* small helpers                                                             */

static void set_msg(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_msg(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (buf == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static const char B64_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64 in the given alphabet; out needs 4*ceil(n/3)+1 bytes. */
static void b64_encode(const char *alpha, const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t left = n - i;
        if (left > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (left > 2)
            v |= in[i + 2];
        out[o++] = alpha[(v >> 18) & 63];
        out[o++] = alpha[(v >> 12) & 63];
        if (left > 1)
            out[o++] = alpha[(v >> 6) & 63];
        if (left > 2)
            out[o++] = alpha[v & 63];
    }
    out[o] = '\0';
}

static int b64_value(const char *alpha, char c)
{
    const char *p = c ? strchr(alpha, c) : NULL;
    return p ? (int)(p - alpha) : -1;
}

/* Decodes unpadded base64 (no '=', no whitespace). out needs 3*n/4 bytes.
 * Returns the decoded length, or -1 on a character outside the alphabet or
 * an impossible length. */
static long b64_decode(const char *alpha, const char *in, size_t n, unsigned char *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(alpha, in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

/* Reads at most max bytes of a regular file into a NUL-terminated malloc'd
 * buffer. Returns 0, or -1 with errno (EFBIG when larger than max). */
static int read_small_file(const char *path, size_t max, char **out, size_t *outlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int saved;

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0)
        goto fail;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto fail;
    }
    if ((size_t)st.st_size > max) {
        errno = EFBIG;
        goto fail;
    }
    buf = malloc(max + 1);
    if (buf == NULL)
        goto fail;
    for (;;) {
        ssize_t r = read(fd, buf + len, max - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto fail;
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == max)
            break;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
fail:
    saved = errno;
    free(buf);
    close(fd);
    errno = saved;
    return -1;
}

static void free_secret(unsigned char *p, size_t len)
{
    if (p != NULL)
        OPENSSL_cleanse(p, len);
    free(p);
}

/* ------------------------------------------------------------------------ */
/* key material                                                              */

/* HS256 from the configured secret (jwt_secret or the contents of
 * jwt_secret_file, which config already read into jwt_secret). */
static int use_secret(struct pd_auth *a, const char *secret, char *err, size_t errlen)
{
    size_t len = strlen(secret);

    if (len < SECRET_MIN) {
        set_msg(err, errlen, "jwt_secret must be at least %d bytes (it has %zu)", SECRET_MIN,
                len);
        return -1;
    }
    if (len > SECRET_FILE_MAX) {
        set_msg(err, errlen, "jwt_secret is longer than %d bytes", SECRET_FILE_MAX);
        return -1;
    }
    a->key = (unsigned char *)strdup(secret);
    if (a->key == NULL) {
        set_msg(err, errlen, "out of memory");
        return -1;
    }
    a->keylen = len;
    a->can_issue = true;
    return 0;
}

/* Reads an existing <db>.secret. Returns 0, 1 when it does not exist, -1
 * on error. Trailing whitespace (an editor's newline) is not part of it. */
static int read_secret_file(struct pd_auth *a, const char *path, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    struct stat st;

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 1;
        set_msg(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    /* The file holds the key that signs every login token: like ssh with
     * its keys, refuse one that other users can read. */
    if (S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
        set_msg(err, errlen, "%s: mode %03o lets other users read the secret (chmod 600 it)",
                path, (unsigned)(st.st_mode & 0777));
        return -1;
    }
    if (read_small_file(path, SECRET_FILE_MAX, &buf, &len) != 0) {
        set_msg(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (len > 0 && strchr(" \t\r\n", buf[len - 1]) != NULL)
        buf[--len] = '\0';
    if (len < SECRET_MIN) {
        set_msg(err, errlen, "%s: secret shorter than %d bytes", path, SECRET_MIN);
        free_secret((unsigned char *)buf, len);
        return -1;
    }
    a->key = (unsigned char *)buf;
    a->keylen = len;
    a->can_issue = true;
    return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync the directory holding path, so the new name survives a crash. */
static void sync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    int fd;

    if (copy == NULL)
        return;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

/* Creates <db>.secret with 32 random bytes, hex-encoded, mode 0600.
 * Written to a temporary file (mkostemp: O_CREAT|O_EXCL, 0600) and then
 * link()ed into place, so the name never refers to a half-written secret
 * and two servers starting at once agree on one secret (link fails with
 * EEXIST for the loser, who then reads the winner's). Returns 0, 1 when the
 * file appeared meanwhile, -1 on error. */
static int create_secret_file(const char *path, char *err, size_t errlen)
{
    unsigned char raw[32];
    char hex[sizeof(raw) * 2 + 2];
    char *tmp = NULL;
    int fd = -1, rc = -1;

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        set_msg(err, errlen, "cannot generate a random secret");
        return -1;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof(raw));
    hex[sizeof(raw) * 2] = '\n';
    hex[sizeof(raw) * 2 + 1] = '\0';

    if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0) {
        tmp = NULL;
        set_msg(err, errlen, "out of memory");
        goto out;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        set_msg(err, errlen, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    /* mkostemp already uses 0600; fchmod makes it independent of libc. */
    if (fchmod(fd, 0600) != 0 || write_all(fd, hex, strlen(hex)) != 0 || fsync(fd) != 0) {
        set_msg(err, errlen, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    if (link(tmp, path) != 0) {
        if (errno == EEXIST) {
            rc = 1;
            goto out;
        }
        set_msg(err, errlen, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    sync_parent_dir(path);
    rc = 0;
out:
    OPENSSL_cleanse(hex, sizeof(hex));
    if (fd >= 0)
        close(fd);
    if (tmp != NULL && fd >= 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* With no key configured: the secret kept next to the database. */
static int use_db_secret(struct pd_auth *a, const char *db, char *err, size_t errlen)
{
    char *path = NULL;
    int rc = -1;

    if (asprintf(&path, "%s.secret", db ? db : "parley.db") < 0) {
        set_msg(err, errlen, "out of memory");
        return -1;
    }
    /* Two rounds: read, else create; if another process created it between
     * the two, read theirs. */
    for (int round = 0; round < 2 && rc < 0; round++) {
        int r = read_secret_file(a, path, err, errlen);
        if (r <= 0) {
            rc = r;
            break;
        }
        r = create_secret_file(path, err, errlen);
        if (r < 0)
            break;
        /* 0: created, read it back like any other start; 1: lost the race. */
    }
    if (rc != 0 && a->key == NULL && err != NULL && err[0] == '\0')
        set_msg(err, errlen, "%s: cannot create or read the secret", path);
    free(path);
    return rc;
}

/* Checks that the PEM holds the public key type the algorithm needs:
 * an RSA key of at least 2048 bits for RS256, an EC P-256 key for ES256. */
static int check_public_key(jwt_alg_t alg, const char *pem, size_t len, const char *path,
                            char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    char group[64] = "";
    int rc = -1;

    if (pk == NULL) {
        set_msg(err, errlen, "jwt_public_key %s: no PEM public key (BEGIN PUBLIC KEY) in it",
                path);
    } else if (alg == JWT_ALG_RS256) {
        if (!EVP_PKEY_is_a(pk, "RSA"))
            set_msg(err, errlen, "jwt_public_key %s: RS256 needs an RSA key", path);
        else if (EVP_PKEY_get_bits(pk) < 2048)
            set_msg(err, errlen, "jwt_public_key %s: RSA key of %d bits, at least 2048 needed",
                    path, EVP_PKEY_get_bits(pk));
        else
            rc = 0;
    } else {
        if (!EVP_PKEY_is_a(pk, "EC") ||
            EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1 ||
            (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0))
            set_msg(err, errlen, "jwt_public_key %s: ES256 needs an EC P-256 key", path);
        else
            rc = 0;
    }
    EVP_PKEY_free(pk);
    BIO_free(bio);
    return rc;
}

/* RS256/ES256: libjwt takes the PEM text as the key; it is kept as read. */
static int use_public_key(struct pd_auth *a, const char *path, char *err, size_t errlen)
{
    char *pem;
    size_t len;

    if (path == NULL || path[0] == '\0') {
        set_msg(err, errlen, "jwt_alg %s needs jwt_public_key (a PEM file)", a->alg_name);
        return -1;
    }
    if (read_small_file(path, PEM_FILE_MAX, &pem, &len) != 0) {
        set_msg(err, errlen, "jwt_public_key %s: %s", path, strerror(errno));
        return -1;
    }
    if (check_public_key(a->alg, pem, len, path, err, errlen) != 0) {
        free(pem);
        return -1;
    }
    a->key = (unsigned char *)pem;
    a->keylen = len;
    a->can_issue = false;
    return 0;
}

static int parse_alg(struct pd_auth *a, const char *name, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        jwt_alg_t alg;
    } algs[] = {{"HS256", JWT_ALG_HS256}, {"RS256", JWT_ALG_RS256}, {"ES256", JWT_ALG_ES256}};

    if (name == NULL)
        name = "HS256";
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        if (strcmp(name, algs[i].name) == 0) {
            a->alg = algs[i].alg;
            a->alg_name = algs[i].name;
            return 0;
        }
    }
    set_msg(err, errlen, "jwt_alg: '%s' is not one of HS256, RS256, ES256", name);
    return -1;
}

static int copy_opt(char **dst, const char *src)
{
    if (src == NULL || src[0] == '\0')
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

/* Picks the key source. A secret with RS256/ES256, or a public key with
 * HS256, is a contradiction in the config: refused rather than guessed. */
static int load_keys(struct pd_auth *a, const struct pd_config *cfg, char *err, size_t errlen)
{
    bool has_pub = cfg->jwt_public_key && cfg->jwt_public_key[0];

    if (a->alg == JWT_ALG_HS256) {
        if (has_pub) {
            set_msg(err, errlen, "jwt_public_key is set but jwt_alg is HS256 "
                                 "(set jwt_alg to RS256 or ES256)");
            return -1;
        }
        if (cfg->jwt_secret != NULL)
            return use_secret(a, cfg->jwt_secret, err, errlen);
        /* The generated secret lives next to a database file; a database
         * server has no such place, and every node must share one secret. */
        if (pd_db_is_url(cfg->db)) {
            set_msg(err, errlen, "jwt_secret_file (or jwt_secret) must be set when db is a "
                                 "postgresql:// URL: every node needs the same secret");
            return -1;
        }
        return use_db_secret(a, cfg->db, err, errlen);
    }
    if (cfg->jwt_secret != NULL) {
        set_msg(err, errlen, "jwt_secret is set but jwt_alg is %s (use jwt_public_key, "
                             "or jwt_alg HS256)", a->alg_name);
        return -1;
    }
    return use_public_key(a, cfg->jwt_public_key, err, errlen);
}

int pd_auth_new(struct pd_auth **out, const struct pd_config *cfg, char *err, size_t errlen)
{
    struct pd_auth *a = calloc(1, sizeof(*a));

    set_msg(err, errlen, "%s", "");
    *out = NULL;
    if (a == NULL) {
        set_msg(err, errlen, "out of memory");
        return -1;
    }
    if (parse_alg(a, cfg->jwt_alg, err, errlen) != 0 || load_keys(a, cfg, err, errlen) != 0)
        goto fail;
    if (copy_opt(&a->issuer, cfg->jwt_issuer) != 0 ||
        copy_opt(&a->audience, cfg->jwt_audience) != 0) {
        set_msg(err, errlen, "out of memory");
        goto fail;
    }
    *out = a;
    return 0;
fail:
    pd_auth_free(a);
    return -1;
}

void pd_auth_free(struct pd_auth *a)
{
    if (a == NULL)
        return;
    free_secret(a->key, a->keylen);
    free(a->issuer);
    free(a->audience);
    free(a);
}

bool pd_auth_can_issue(const struct pd_auth *a)
{
    return a != NULL && a->can_issue;
}

/* ------------------------------------------------------------------------ */
/* verification                                                              */

static bool is_b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* header.payload.signature, each part non-empty base64url without padding.
 * The signature must be there: we never accept unsigned tokens. */
static bool jwt_shape_ok(const char *t, size_t len, size_t *hdr_len)
{
    size_t part_len = 0;
    int dots = 0;

    for (size_t i = 0; i < len; i++) {
        if (t[i] == '.') {
            if (part_len == 0 || ++dots > 2)
                return false;
            if (dots == 1)
                *hdr_len = i;
            part_len = 0;
        } else if (is_b64url_char(t[i])) {
            part_len++;
        } else {
            return false;
        }
    }
    return dots == 2 && part_len > 0;
}

/* A JSON object with a key twice is read differently by different parsers
 * (cJSON keeps the first, jansson inside libjwt the last): refuse it. */
static bool has_duplicate_keys(const cJSON *obj)
{
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && strcmp(a->string, b->string) == 0)
                return true;
    return false;
}

/* Decodes the header ourselves and pins the algorithm before libjwt, which
 * would otherwise choose the verification from the token's own alg. */
static int check_header(const struct pd_auth *a, const char *token, size_t hdr_len, char *why,
                        size_t whylen)
{
    unsigned char *raw = malloc(hdr_len + 1);
    cJSON *hdr = NULL;
    const cJSON *alg;
    long n;
    int rc = -1;

    if (raw == NULL) {
        set_msg(why, whylen, "out of memory");
        return -1;
    }
    n = b64_decode(B64_URL, token, hdr_len, raw);
    if (n > 0)
        hdr = cJSON_ParseWithLength((const char *)raw, (size_t)n);
    if (!cJSON_IsObject(hdr) || has_duplicate_keys(hdr)) {
        set_msg(why, whylen, "malformed token header");
        goto out;
    }
    alg = cJSON_GetObjectItemCaseSensitive(hdr, "alg");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, a->alg_name) != 0) {
        set_msg(why, whylen, "algorithm not accepted");
        goto out;
    }
    /* crit names extensions the verifier must understand; we know none. */
    if (cJSON_GetObjectItemCaseSensitive(hdr, "crit") != NULL) {
        set_msg(why, whylen, "unsupported critical header");
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(hdr);
    free(raw);
    return rc;
}

/* An optional numeric claim: 0 absent, 1 present (*v set), -1 wrong type. */
static int num_claim(const cJSON *claims, const char *name, double *v)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(claims, name);

    if (c == NULL)
        return 0;
    if (!cJSON_IsNumber(c))
        return -1;
    *v = c->valuedouble;
    return 1;
}

/* exp required and strictly after now; nbf and iat within the leeway. */
static int check_times(const cJSON *claims, int64_t now_s, int64_t *exp_out, char *why,
                       size_t whylen)
{
    double exp = 0, nbf = 0, iat = 0;
    int r = num_claim(claims, "exp", &exp);

    if (r == 0) {
        set_msg(why, whylen, "missing exp");
        return -1;
    }
    if (r < 0) {
        set_msg(why, whylen, "invalid exp");
        return -1;
    }
    /* No leeway: at the instant exp a live connection is closed (4001),
     * so the same instant must not open one. */
    if (!((double)now_s < exp)) {
        set_msg(why, whylen, "token expired");
        return -1;
    }
    r = num_claim(claims, "nbf", &nbf);
    if (r < 0 || (r > 0 && nbf > (double)(now_s + CLOCK_LEEWAY_S))) {
        set_msg(why, whylen, r < 0 ? "invalid nbf" : "token not yet valid");
        return -1;
    }
    r = num_claim(claims, "iat", &iat);
    if (r < 0 || (r > 0 && iat > (double)(now_s + CLOCK_LEEWAY_S))) {
        set_msg(why, whylen, r < 0 ? "invalid iat" : "token issued in the future");
        return -1;
    }
    /* A fractional exp expires at the first whole second not before it. */
    if (exp >= (double)EXP_MAX) {
        *exp_out = EXP_MAX;
    } else if (exp <= 0) {
        *exp_out = 0;
    } else {
        *exp_out = (int64_t)exp; /* truncation of a positive value: floor */
        if ((double)*exp_out < exp)
            (*exp_out)++;
    }
    return 0;
}

static bool string_claim_is(const cJSON *c, const char *want)
{
    return cJSON_IsString(c) && strcmp(c->valuestring, want) == 0;
}

/* aud is a string or an array of strings (RFC 7519 4.1.3). */
static bool audience_ok(const cJSON *aud, const char *want)
{
    const cJSON *item;

    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, want) == 0;
    if (!cJSON_IsArray(aud))
        return false;
    cJSON_ArrayForEach(item, aud)
    {
        if (string_claim_is(item, want))
            return true;
    }
    return false;
}

static int check_iss_aud(const struct pd_auth *a, const cJSON *claims, char *why, size_t whylen)
{
    if (a->issuer != NULL &&
        !string_claim_is(cJSON_GetObjectItemCaseSensitive(claims, "iss"), a->issuer)) {
        set_msg(why, whylen, "issuer mismatch");
        return -1;
    }
    if (a->audience != NULL &&
        !audience_ok(cJSON_GetObjectItemCaseSensitive(claims, "aud"), a->audience)) {
        set_msg(why, whylen, "audience mismatch");
        return -1;
    }
    return 0;
}

/* sub (required), name (optional display name) and role into id. */
static int check_subject(const cJSON *claims, struct pd_identity *id, char *why, size_t whylen)
{
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(claims, "name");
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(claims, "role");
    const char *display;

    if (sub == NULL) {
        set_msg(why, whylen, "missing sub");
        return -1;
    }
    if (!cJSON_IsString(sub) || !pd_valid_user_id(sub->valuestring)) {
        set_msg(why, whylen, "invalid sub");
        return -1;
    }
    display = sub->valuestring;
    /* A bad name is refused, not silently replaced: the issuer has a bug
     * worth hearing about, and others would see a name the user never chose. */
    if (name != NULL && !cJSON_IsNull(name)) {
        if (!cJSON_IsString(name) || strlen(name->valuestring) > PD_DISPLAY_NAME_MAX ||
            !pd_utf8_valid(name->valuestring, strlen(name->valuestring))) {
            set_msg(why, whylen, "invalid name claim");
            return -1;
        }
        if (name->valuestring[0] != '\0')
            display = name->valuestring;
    }
    snprintf(id->sub, sizeof(id->sub), "%s", sub->valuestring);
    snprintf(id->name, sizeof(id->name), "%s", display);
    id->admin = string_claim_is(role, "admin");
    return 0;
}

/* Every claim rule of PROTOCOL.md 1.1, from the verified grants. */
static int check_claims(const struct pd_auth *a, const char *json, int64_t now_s,
                        struct pd_identity *id, char *why, size_t whylen)
{
    cJSON *claims = cJSON_Parse(json);
    struct pd_identity tmp;
    int rc = -1;

    memset(&tmp, 0, sizeof(tmp));
    if (!cJSON_IsObject(claims))
        set_msg(why, whylen, "malformed claims");
    else if (check_times(claims, now_s, &tmp.exp, why, whylen) == 0 &&
             check_iss_aud(a, claims, why, whylen) == 0 &&
             check_subject(claims, &tmp, why, whylen) == 0)
        rc = 0;
    cJSON_Delete(claims);
    if (rc == 0)
        *id = tmp;
    return rc;
}

/* Signature check by libjwt with the pinned key, then the alg it actually
 * used compared again; returns the verified grants as JSON (malloc'd). The
 * jwt_t and everything jwt_get_grant() returned die here. */
static char *verified_grants(const struct pd_auth *a, const char *token, char *why,
                             size_t whylen)
{
    jwt_t *jwt = NULL;
    char *grants = NULL;

    if (jwt_decode(&jwt, token, a->key, (int)a->keylen) != 0 || jwt == NULL) {
        set_msg(why, whylen, "bad signature");
        return NULL;
    }
    if (jwt_get_alg(jwt) != a->alg)
        set_msg(why, whylen, "algorithm not accepted");
    else if ((grants = jwt_get_grants_json(jwt, NULL)) == NULL)
        set_msg(why, whylen, "malformed claims");
    jwt_free(jwt);
    return grants;
}

int pd_auth_verify(const struct pd_auth *a, const char *token, int64_t now_s,
                   struct pd_identity *id, char *why, size_t whylen)
{
    size_t len, hdr_len = 0;
    char *grants;
    int rc;

    set_msg(why, whylen, "%s", "");
    if (a == NULL || token == NULL || token[0] == '\0') {
        set_msg(why, whylen, "missing token");
        return -1;
    }
    len = strnlen(token, PD_JWT_MAX_LEN + 1);
    if (len > PD_JWT_MAX_LEN) {
        set_msg(why, whylen, "token too long");
        return -1;
    }
    if (!jwt_shape_ok(token, len, &hdr_len)) {
        set_msg(why, whylen, "malformed token");
        return -1;
    }
    if (check_header(a, token, hdr_len, why, whylen) != 0)
        return -1;
    grants = verified_grants(a, token, why, whylen);
    if (grants == NULL)
        return -1;
    rc = check_claims(a, grants, now_s, id, why, whylen);
    free(grants);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* issuing                                                                   */

int pd_auth_issue(const struct pd_auth *a, const char *sub, const char *name, int64_t now_s,
                  int ttl_s, char **out)
{
    jwt_t *jwt = NULL;
    char *tok = NULL;

    *out = NULL;
    if (!pd_auth_can_issue(a) || !pd_valid_user_id(sub) || ttl_s <= 0)
        return -1;
    if (name != NULL &&
        (strlen(name) > PD_DISPLAY_NAME_MAX || !pd_utf8_valid(name, strlen(name))))
        return -1;
    if (jwt_new(&jwt) != 0)
        return -1;
    if (jwt_add_grant(jwt, "sub", sub) == 0 &&
        (name == NULL || jwt_add_grant(jwt, "name", name) == 0) &&
        jwt_add_grant_int(jwt, "iat", (long)now_s) == 0 &&
        jwt_add_grant_int(jwt, "exp", (long)(now_s + ttl_s)) == 0 &&
        /* Our own tokens must pass our own iss/aud checks. */
        (a->issuer == NULL || jwt_add_grant(jwt, "iss", a->issuer) == 0) &&
        (a->audience == NULL || jwt_add_grant(jwt, "aud", a->audience) == 0) &&
        jwt_set_alg(jwt, JWT_ALG_HS256, a->key, (int)a->keylen) == 0)
        tok = jwt_encode_str(jwt);
    jwt_free(jwt);
    if (tok == NULL)
        return -1;
    *out = tok;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* passwords                                                                 */

/* 128 * r * (N + p + 2) is what EVP_PBE_scrypt needs for its B and V arrays;
 * a little more for rounding. */
static uint64_t scrypt_mem(unsigned ln, unsigned r, unsigned p)
{
    return 128ULL * r * ((1ULL << ln) + p + 2) + 1024 * 1024;
}

static int scrypt_raw(const char *pw, const unsigned char *salt, size_t saltlen, unsigned ln,
                      unsigned r, unsigned p, unsigned char *key, size_t keylen)
{
    return EVP_PBE_scrypt(pw, strlen(pw), salt, saltlen, 1ULL << ln, r, p,
                          scrypt_mem(ln, r, p), key, keylen) == 1
               ? 0
               : -1;
}

int pd_password_hash(const char *password, char **out)
{
    unsigned char salt[SCRYPT_SALT_LEN], hash[SCRYPT_HASH_LEN];
    char salt64[SCRYPT_SALT_LEN * 2], hash64[SCRYPT_HASH_LEN * 2];
    int rc = -1;

    *out = NULL;
    if (password == NULL || RAND_bytes(salt, sizeof(salt)) != 1)
        return -1;
    if (scrypt_raw(password, salt, sizeof(salt), SCRYPT_LN, SCRYPT_R, SCRYPT_P, hash,
                   sizeof(hash)) == 0) {
        b64_encode(B64_STD, salt, sizeof(salt), salt64);
        b64_encode(B64_STD, hash, sizeof(hash), hash64);
        if (asprintf(out, "$scrypt$ln=%d,r=%d,p=%d$%s$%s", SCRYPT_LN, SCRYPT_R, SCRYPT_P,
                     salt64, hash64) >= 0)
            rc = 0;
        else
            *out = NULL;
    }
    OPENSSL_cleanse(hash, sizeof(hash));
    return rc;
}

/* Reads up to 3 decimal digits at *p (no sign, no spaces) and advances. */
static int parse_small_uint(const char **p, unsigned *v)
{
    const char *s = *p;
    unsigned n = 0;
    int digits = 0;

    while (*s >= '0' && *s <= '9' && digits < 3) {
        n = n * 10 + (unsigned)(*s - '0');
        s++;
        digits++;
    }
    if (digits == 0 || (*s >= '0' && *s <= '9'))
        return -1;
    *v = n;
    *p = s;
    return 0;
}

static int expect(const char **p, const char *lit)
{
    size_t n = strlen(lit);

    if (strncmp(*p, lit, n) != 0)
        return -1;
    *p += n;
    return 0;
}

struct scrypt_params {
    unsigned ln, r, p;
    unsigned char salt[64], hash[64];
    size_t saltlen, hashlen;
};

/* Decodes one base64 field of the stored string, ended by `end`. */
static int parse_b64_field(const char **p, char end, unsigned char *out, size_t cap,
                           size_t minlen, size_t *outlen)
{
    const char *s = *p;
    const char *e = end ? strchr(s, end) : s + strlen(s);
    long n;

    /* n characters decode to floor(3n/4) bytes */
    if (e == NULL || (size_t)(e - s) * 3 / 4 > cap)
        return -1;
    n = b64_decode(B64_STD, s, (size_t)(e - s), out);
    if (n < (long)minlen)
        return -1;
    *outlen = (size_t)n;
    *p = end ? e + 1 : e;
    return 0;
}

/* "$scrypt$ln=15,r=8,p=3$<salt>$<hash>", with parameters bounded so a
 * tampered row cannot make us allocate gigabytes or accept a weak hash. */
static int parse_stored(const char *s, struct scrypt_params *sp)
{
    if (expect(&s, "$scrypt$ln=") || parse_small_uint(&s, &sp->ln) || expect(&s, ",r=") ||
        parse_small_uint(&s, &sp->r) || expect(&s, ",p=") || parse_small_uint(&s, &sp->p) ||
        expect(&s, "$"))
        return -1;
    if (sp->ln < SCRYPT_LN_MIN || sp->ln > SCRYPT_LN_MAX || sp->r < 1 || sp->r > SCRYPT_R_MAX ||
        sp->p < 1 || sp->p > SCRYPT_P_MAX || scrypt_mem(sp->ln, sp->r, sp->p) > SCRYPT_MEM_MAX)
        return -1;
    if (parse_b64_field(&s, '$', sp->salt, sizeof(sp->salt), 8, &sp->saltlen) ||
        parse_b64_field(&s, '\0', sp->hash, sizeof(sp->hash), 16, &sp->hashlen))
        return -1;
    return 0;
}

int pd_password_verify(const char *password, const char *stored)
{
    struct scrypt_params sp;
    unsigned char calc[64];
    int rc = -1;

    if (password == NULL || stored == NULL || parse_stored(stored, &sp) != 0)
        return -1;
    if (scrypt_raw(password, sp.salt, sp.saltlen, sp.ln, sp.r, sp.p, calc, sp.hashlen) == 0 &&
        CRYPTO_memcmp(calc, sp.hash, sp.hashlen) == 0)
        rc = 0;
    OPENSSL_cleanse(calc, sizeof(calc));
    OPENSSL_cleanse(&sp, sizeof(sp));
    return rc;
}
