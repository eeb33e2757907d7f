/* libFuzzer target: the settings parser (server/config.c, PROTOCOL.md 9):
 * the --config file, PARLEYD_* environment and --flags, with every value
 * parser, the precedence rules, jwt_secret_file and the TLS pair checks.
 *
 * Input: chunks separated by NUL bytes. Chunk 0 is the content of a config
 * file, passed as --config FILE when it is not empty; each later chunk
 * starting with "PARLEYD_" is an environment entry, any other one a
 * command-line argument. "@D@" in a chunk names a directory of fixtures:
 * @D@/secret (a good secret), @D@/short, @D@/empty, @D@/nul (holds a NUL
 * byte), @D@/big (over 64 KiB), @D@/cert.pem and @D@/key.pem (a matching
 * TLS pair), @D@/rsa.pem (a key that matches no certificate here).
 *
 * Settings name files to read, and the fuzzer must not wander the file
 * system (a FIFO or /dev/stdin would block): inputs holding a '/' that is
 * followed by something other than a digit ("100/60" is a rate) are
 * skipped, unless it follows @D@. Relative paths stay under the directory
 * the fuzzer runs in. Standard output (--help, --version) goes to
 * /dev/null.
 *
 * Oracles besides the sanitizers: an accepted configuration has a listen
 * host, a database, a known algorithm and a message size of at least 1; a
 * refused one has a message; loading is deterministic. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define MAX_CHUNKS 32

static const char tls_cert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBfjCCASWgAwIBAgIUMaD+HedOOM+feCeEBZoZ909/u/UwCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNjAxMzExMloYDzIxMjYxMTAy\n"
    "MDEzMTEyWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAARqyDICgcooNo3I2RhIpAf4goZ/5IR3ZWOrORMTgl/CDkAFgh49P2ao\n"
    "Xx90P72Rmf6xTdrOxfWDS14Ue18ty7FWo1MwUTAdBgNVHQ4EFgQU70gCA2UCGEUw\n"
    "U+s+QPAy98PeAJswHwYDVR0jBBgwFoAU70gCA2UCGEUwU+s+QPAy98PeAJswDwYD\n"
    "VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiArO0bubGK3gnyjnpe03NNE\n"
    "2relMeTaQnJJQh5WkLbw5AIgYFKtlvbGPrjFHgkzH8vbOpYB9if0q1/VYRmYPZHz\n"
    "RK4=\n"
    "-----END CERTIFICATE-----\n";

static const char tls_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgz8U19i7dAS/OCnnh\n"
    "b/mUHNHEMasExe9Me+Z9/bzBOqmhRANCAARqyDICgcooNo3I2RhIpAf4goZ/5IR3\n"
    "ZWOrORMTgl/CDkAFgh49P2aoXx90P72Rmf6xTdrOxfWDS14Ue18ty7FW\n"
    "-----END PRIVATE KEY-----\n";

static char dir[] = "/tmp/parley-fuzz-config-XXXXXX";
static char conf_path[64];

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz config: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void put(const char *name, const void *data, size_t len)
{
    char path[96];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die("cannot write", path);
}

static void remove_fixtures(void)
{
    static const char *const names[] = {"secret", "short", "empty", "nul", "big",
                                        "cert.pem", "key.pem", "rsa.pem", "parleyd.conf"};
    char path[96];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char big[70000];
    int devnull;

    if (mkdtemp(dir) == NULL)
        die("mkdtemp", NULL);
    atexit(remove_fixtures);
    put("secret", "0123456789abcdef0123456789abcdef0123\n", 37);
    put("short", "tooshort", 8);
    put("empty", "", 0);
    put("nul", "0123456789abcdef\0" "0123456789abcdef0123", 37);
    memset(big, 'x', sizeof(big));
    put("big", big, sizeof(big));
    put("cert.pem", tls_cert, strlen(tls_cert));
    put("key.pem", tls_key, strlen(tls_key));
    put("rsa.pem", tls_cert, strlen(tls_cert)); /* a certificate, not a key */
    snprintf(conf_path, sizeof(conf_path), "%s/parleyd.conf", dir);
    devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
        dup2(devnull, STDOUT_FILENO);
        close(devnull);
    }
    return 0;
}

/* False when the input could make the parser open a file outside the
 * fixtures or the working directory. */
static bool paths_safe(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '/')
            continue;
        if (i >= 3 && memcmp(data + i - 3, "@D@", 3) == 0)
            continue;
        if (i + 1 < size && data[i + 1] >= '0' && data[i + 1] <= '9')
            continue;
        return false;
    }
    return true;
}

/* A copy of s (len bytes) with every "@D@" replaced by the fixtures' dir. */
static char *expand(const uint8_t *s, size_t len)
{
    size_t dlen = strlen(dir), n = 0;
    char *out = malloc(len * (dlen + 1) / 3 + len + 1);

    if (out == NULL)
        die("out of memory", NULL);
    for (size_t i = 0; i < len; i++) {
        if (i + 3 <= len && memcmp(s + i, "@D@", 3) == 0) {
            memcpy(out + n, dir, dlen);
            n += dlen;
            i += 2;
        } else {
            out[n++] = (char)s[i];
        }
    }
    out[n] = '\0';
    return out;
}

static void check_config(const struct pd_config *c)
{
    if (c->listen_host == NULL || c->listen_host[0] == '\0')
        die("accepted without a listen host", NULL);
    if (c->db == NULL || c->db[0] == '\0')
        die("accepted without a database", NULL);
    if (c->jwt_alg == NULL || (strcmp(c->jwt_alg, "HS256") != 0 &&
                               strcmp(c->jwt_alg, "RS256") != 0 &&
                               strcmp(c->jwt_alg, "ES256") != 0))
        die("accepted an unknown algorithm", c->jwt_alg);
    if (c->max_message_bytes < 1)
        die("accepted max_message_bytes 0", NULL);
    if ((c->tls_cert == NULL) != (c->tls_key == NULL))
        die("accepted half a TLS pair", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[2 * MAX_CHUNKS + 4], *envp[MAX_CHUNKS + 1], *owned[MAX_CHUNKS];
    int argc = 0, nenv = 0, nowned = 0, rc, rc2;
    size_t off = 0;
    struct pd_config cfg, cfg2;
    char err[512], err2[512];

    if (!paths_safe(data, size))
        return 0;
    argv[argc++] = "fuzz-config";
    for (int k = 0; off <= size && k < MAX_CHUNKS; k++) {
        const uint8_t *p = data + off, *z = memchr(p, '\0', size - off);
        size_t len = z ? (size_t)(z - p) : size - off;

        if (k == 0) {
            if (len > 0) {
                put("parleyd.conf", p, len);
                argv[argc++] = "--config";
                argv[argc++] = conf_path;
            }
        } else {
            char *s = owned[nowned++] = expand(p, len);
            if (strncmp(s, "PARLEYD_", 8) == 0)
                envp[nenv++] = s;
            else
                argv[argc++] = s;
        }
        off += len + 1;
    }
    argv[argc] = NULL;
    envp[nenv] = NULL;

    rc = pd_config_load(&cfg, argc, argv, envp, err, sizeof(err));
    rc2 = pd_config_load(&cfg2, argc, argv, envp, err2, sizeof(err2));
    if (rc != rc2 || (rc < 0 && strcmp(err, err2) != 0))
        die("loading the same settings twice gave different results", NULL);
    if (rc == 0) {
        check_config(&cfg);
        pd_config_free(&cfg);
        pd_config_free(&cfg2);
    } else if (rc < 0 && err[0] == '\0') {
        die("refused without a message", NULL);
    }
    for (int i = 0; i < nowned; i++)
        free(owned[i]);
    return 0;
}
