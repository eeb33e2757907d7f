/* Unit tests for server/config.c (PROTOCOL.md section 9): defaults, the
 * three sources and their precedence, every kind of bad value, unknown
 * names. Prints TAP; exits 1 on any failure. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* A self-signed P-256 certificate, its key, and an unrelated key: fixed
 * test material for the tls_cert/tls_key checks. */
static const char test_cert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBgzCCASmgAwIBAgIUFNAJQ2jAQsQCbVjqSHxaFBOQoAgwCgYIKoZIzj0EAwIw\n"
    "FjEUMBIGA1UEAwwLcGFybGV5LXRlc3QwIBcNMjYxMTI2MDAyMDQ1WhgPMjEyNjEx\n"
    "MDIwMDIwNDVaMBYxFDASBgNVBAMMC3BhcmxleS10ZXN0MFkwEwYHKoZIzj0CAQYI\n"
    "KoZIzj0DAQcDQgAEc14pZ+cuxvtDb0WsaTFYmPRxVKRj/Nus1DVWtQZqgkQmqM//\n"
    "CrnYeWN2LBRwEA0SGIT2QZ9kM3CN3OAkkpovKKNTMFEwHQYDVR0OBBYEFFWwKCSw\n"
    "5ib5sjucOQDaw4l6l3YhMB8GA1UdIwQYMBaAFFWwKCSw5ib5sjucOQDaw4l6l3Yh\n"
    "MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAPdiBx/0y38t2ZvK\n"
    "W40jpXILUFsYtwnLtURDxNHGQlCPAiBFT3stERxhdkWupZ1r7sKfmH134kXzAXDG\n"
    "EG84do7XAg==\n"
    "-----END CERTIFICATE-----\n";
static const char test_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFZnF2ssVKx6F3VQU\n"
    "ghwO51AWoBc2uDQntK/NkLDnrIuhRANCAARzXiln5y7G+0NvRaxpMViY9HFUpGP8\n"
    "26zUNVa1BmqCRCaoz/8Kudh5Y3YsFHAQDRIYhPZBn2QzcI3c4CSSmi8o\n"
    "-----END PRIVATE KEY-----\n";
static const char other_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAUkktS2HA9C5Avvo\n"
    "86/Xngmihu1qA87MKTIMmtx8p6ehRANCAASHXob8SOEakS2mATYXF1ZC9WpHQW6x\n"
    "9hsupHqLvblmi9SgMYZwJDfROIC9a02Q8fv7tccMMJ7tOTtefP57Ig9c\n"
    "-----END PRIVATE KEY-----\n";

static int test_no, failures;
static char tmpdir[] = "/tmp/test_config.XXXXXX";

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(int cond, const char *fmt, ...)
{
    va_list ap;

    printf("%s %d - ", cond ? "ok" : "not ok", ++test_no);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond)
        failures++;
}

static size_t count(const char **v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* Loads with argv = {"parleyd", args...} and the given environment; usage
 * and version text (stdout) is swallowed so it cannot disturb TAP. */
static int load(struct pd_config *cfg, char *err, size_t errlen, const char **args,
                const char **env)
{
    char *argv[64], *envp[64];
    size_t na = count(args), ne = count(env);
    int saved, devnull, rc;

    argv[0] = "parleyd";
    for (size_t i = 0; i < na; i++)
        argv[i + 1] = (char *)args[i];
    argv[na + 1] = NULL;
    for (size_t i = 0; i < ne; i++)
        envp[i] = (char *)env[i];
    envp[ne] = NULL;
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDOUT_FILENO);
    rc = pd_config_load(cfg, (int)na + 1, argv, envp, err, errlen);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(devnull);
    return rc;
}

/* Writes text to a file in the test's temp dir; returns its path (static). */
static const char *write_file(const char *name, const char *text)
{
    static char path[8][256];
    static int slot;
    char *p = path[slot++ % 8];
    FILE *f;

    snprintf(p, 256, "%s/%s", tmpdir, name);
    f = fopen(p, "w");
    if (f == NULL) {
        perror(p);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    return p;
}

/* Expects load to fail with a message containing `needle`. */
static void bad(const char **args, const char **env, const char *needle, const char *what)
{
    struct pd_config cfg;
    char err[512];
    int rc = load(&cfg, err, sizeof(err), args, env);

    ok(rc == -1 && strstr(err, needle) != NULL, "%s: rejected naming '%s' (%s)", what, needle,
       rc == -1 ? err : "accepted");
    if (rc == 0)
        pd_config_free(&cfg);
}

static void test_defaults(void)
{
    struct pd_config cfg;
    char err[256];
    int rc = load(&cfg, err, sizeof(err), NULL, NULL);

    ok(rc == 0, "no arguments loads");
    ok(strcmp(cfg.listen_host, "127.0.0.1") == 0 && cfg.listen_port == 8080,
       "default listen 127.0.0.1:8080");
    ok(strcmp(cfg.db, "parley.db") == 0, "default db parley.db");
    ok(strcmp(cfg.jwt_alg, "HS256") == 0, "default jwt_alg HS256");
    ok(cfg.jwt_secret == NULL && cfg.jwt_secret_file == NULL && cfg.jwt_public_key == NULL &&
           cfg.jwt_issuer == NULL && cfg.jwt_audience == NULL && cfg.origins == NULL &&
           cfg.tls_cert == NULL && cfg.tls_key == NULL,
       "optional strings unset by default");
    ok(cfg.rate_messages.count == 100 && cfg.rate_messages.seconds == 60,
       "default rate_messages 100/60");
    ok(cfg.rate_requests.count == 20 && cfg.rate_requests.seconds == 1,
       "default rate_requests 20/1");
    ok(cfg.rate_connections.count == 5 && cfg.rate_connections.seconds == 300,
       "default rate_connections 5/300");
    ok(cfg.max_message_bytes == 65536, "default max_message_bytes 65536");
    ok(cfg.session_ttl == 120 && cfg.recover_max == 1000 && cfg.typing_timeout == 5,
       "default session_ttl 120, recover_max 1000, typing_timeout 5");
    ok(cfg.ping_interval == 25 && cfg.idle_timeout == 60, "default ping 25, idle 60");
    ok(cfg.outbound_limit == 1048576, "default outbound_limit 1048576");
    ok(cfg.log_level == PD_LOG_INFO, "default log_level info");
    ok(cfg.rooms_per_user == 1000, "default rooms_per_user 1000");
    ok(cfg.trusted_proxies == NULL && cfg.ntrusted_proxies == 0, "default trusted_proxies none");
    ok(cfg.login_rate.count == 10 && cfg.login_rate.seconds == 300, "default login_rate 10/300");
    ok(cfg.login_user_rate.count == 5 && cfg.login_user_rate.seconds == 300,
       "default login_user_rate 5/300");
    ok(cfg.max_json_depth == 32 && cfg.max_json_array == 1000,
       "default max_json_depth 32, max_json_array 1000");
    ok(cfg.fragment_timeout == 10, "default fragment_timeout 10");
    pd_config_free(&cfg);
    ok(cfg.listen_host == NULL && cfg.db == NULL && cfg.jwt_alg == NULL,
       "pd_config_free clears the struct");
}

static void test_every_setting(void)
{
    char text[2048];
    const char *crt = write_file("all.crt", test_cert), *key = write_file("all.key", test_key);
    const char *file;

    snprintf(text, sizeof(text),
                                  "# every setting, from a file\n"
                                  "\n"
                                  "listen = 0.0.0.0:9000\n"
                                  "  db=  /tmp/x.db  \n"
                                  "jwt_secret = s3cret with spaces inside\n"
                                  "jwt_alg = rs256\n"
                                  "jwt_public_key = /tmp/pub.pem\n"
                                  "jwt_issuer = https://issuer\n"
                                  "jwt_audience = parley\n"
                                  "origins = https://a.example, https://b.example:8443\n"
                                  "tls_cert = %s\n"
                                  "tls_key = %s\n"
                                  "rate_messages = 10/30\n"
                                  "rate_requests = 0\n"
                                  "rate_connections = 7/600\n"
                                  "max_message_bytes = 1024\n"
                                  "session_ttl = 30\n"
                                  "recover_max = 0\n"
                                  "typing_timeout = 9\n"
                                  "ping_interval = 10\n"
                                  "idle_timeout = 20\n"
                                  "outbound_limit = 4096\n"
                                  "rooms_per_user = 3\n"
                                  "trusted_proxies = 10.0.0.0/8, ::1\n"
                                  "login_rate = 0\n"
                                  "login_user_rate = 2/30\n"
                                  "max_json_depth = 4\n"
                                  "max_json_array = 0\n"
                                  "fragment_timeout = 0\n"
                                  "log_level = DEBUG\r\n",
             crt, key);
    file = write_file("all.conf", text);
    const char *args[] = {"--config", file, NULL};
    struct pd_config cfg;
    char err[256];
    int rc = load(&cfg, err, sizeof(err), args, NULL);

    ok(rc == 0, "file with every setting loads (%s)", rc ? err : "");
    if (rc != 0)
        return;
    ok(strcmp(cfg.listen_host, "0.0.0.0") == 0 && cfg.listen_port == 9000, "file: listen");
    ok(strcmp(cfg.db, "/tmp/x.db") == 0, "file: value trimmed");
    ok(strcmp(cfg.jwt_secret, "s3cret with spaces inside") == 0, "file: inner spaces kept");
    ok(strcmp(cfg.jwt_alg, "RS256") == 0, "file: jwt_alg case-insensitive, stored canonical");
    ok(strcmp(cfg.jwt_public_key, "/tmp/pub.pem") == 0 &&
           strcmp(cfg.jwt_issuer, "https://issuer") == 0 &&
           strcmp(cfg.jwt_audience, "parley") == 0,
       "file: jwt key, issuer, audience");
    ok(strcmp(cfg.origins, "https://a.example, https://b.example:8443") == 0, "file: origins");
    ok(strcmp(cfg.tls_cert, crt) == 0 && strcmp(cfg.tls_key, key) == 0, "file: tls paths");
    ok(cfg.rate_messages.count == 10 && cfg.rate_messages.seconds == 30, "file: rate 10/30");
    ok(cfg.rate_requests.count == 0, "file: rate 0 disables");
    ok(cfg.rate_connections.count == 7 && cfg.rate_connections.seconds == 600,
       "file: rate 7/600");
    ok(cfg.max_message_bytes == 1024 && cfg.outbound_limit == 4096, "file: sizes");
    ok(cfg.session_ttl == 30 && cfg.recover_max == 0 && cfg.typing_timeout == 9 &&
           cfg.ping_interval == 10 && cfg.idle_timeout == 20,
       "file: numbers");
    ok(cfg.log_level == PD_LOG_DEBUG, "file: log_level DEBUG, CRLF line end");
    ok(cfg.rooms_per_user == 3 && cfg.ntrusted_proxies == 2 && cfg.login_rate.count == 0 &&
           cfg.login_user_rate.count == 2 && cfg.login_user_rate.seconds == 30,
       "file: rooms_per_user, trusted_proxies, login_rate 0, login_user_rate 2/30");
    ok(cfg.max_json_depth == 4 && cfg.max_json_array == 0 && cfg.fragment_timeout == 0,
       "file: max_json_depth, max_json_array 0, fragment_timeout 0");
    pd_config_free(&cfg);
}

static void test_precedence(void)
{
    const char *file = write_file("prec.conf", "listen = 10.0.0.1:1\ndb = file.db\n"
                                               "idle_timeout = 11\n");
    const char *env[] = {"PARLEYD_LISTEN=10.0.0.2:2", "PARLEYD_IDLE_TIMEOUT=22", "HOME=/root",
                         NULL};
    const char *all[] = {"--config", file, "--listen", "10.0.0.3:3", NULL};
    const char *no_flag[] = {"--config", file, NULL};
    struct pd_config cfg;
    char err[256];

    ok(load(&cfg, err, sizeof(err), all, env) == 0 && strcmp(cfg.listen_host, "10.0.0.3") == 0 &&
           cfg.listen_port == 3,
       "flag wins over env and file");
    ok(cfg.idle_timeout == 22, "env wins over file");
    ok(strcmp(cfg.db, "file.db") == 0, "file wins over the default");
    pd_config_free(&cfg);
    ok(load(&cfg, err, sizeof(err), no_flag, env) == 0 &&
           strcmp(cfg.listen_host, "10.0.0.2") == 0 && cfg.listen_port == 2,
       "without the flag, env wins");
    pd_config_free(&cfg);
    ok(load(&cfg, err, sizeof(err), no_flag, NULL) == 0 &&
           strcmp(cfg.listen_host, "10.0.0.1") == 0,
       "without flag and env, the file");
    pd_config_free(&cfg);

    /* The later flag of two wins; --name=value and --name value alike. */
    {
        const char *args[] = {"--db=a.db", "--db", "b.db", "--max-message-bytes=2048",
                              "--max_message_bytes", "4096", NULL};
        ok(load(&cfg, err, sizeof(err), args, NULL) == 0 && strcmp(cfg.db, "b.db") == 0 &&
               cfg.max_message_bytes == 4096,
           "--name=value and --name value; dashes or underscores; last flag wins");
        pd_config_free(&cfg);
    }
    {
        const char *args[] = {"--origins=*", "--jwt-secret=a=b=c", NULL};
        ok(load(&cfg, err, sizeof(err), args, NULL) == 0 && strcmp(cfg.origins, "*") == 0 &&
               strcmp(cfg.jwt_secret, "a=b=c") == 0,
           "--name=value splits at the first '='");
        pd_config_free(&cfg);
    }
    {
        const char *cfile = write_file("envcfg.conf", "db = via-env-config.db\n");
        char var[300];
        const char *envc[] = {var, NULL};
        snprintf(var, sizeof(var), "PARLEYD_CONFIG=%s", cfile);
        ok(load(&cfg, err, sizeof(err), NULL, envc) == 0 &&
               strcmp(cfg.db, "via-env-config.db") == 0,
           "PARLEYD_CONFIG names the file too");
        pd_config_free(&cfg);
    }
}

static void test_listen(void)
{
    struct pd_config cfg;
    char err[256];
    const char *v6[] = {"--listen", "[::1]:0", NULL};
    const char *name[] = {"--listen", "localhost:65535", NULL};

    ok(load(&cfg, err, sizeof(err), v6, NULL) == 0 && strcmp(cfg.listen_host, "::1") == 0 &&
           cfg.listen_port == 0,
       "[::1]:0 parses to host ::1, port 0");
    pd_config_free(&cfg);
    ok(load(&cfg, err, sizeof(err), name, NULL) == 0 &&
           strcmp(cfg.listen_host, "localhost") == 0 && cfg.listen_port == 65535,
       "host name and port 65535");
    pd_config_free(&cfg);

    static const char *const bads[] = {"nohost", "host:", ":80", "host:65536", "host:-1",
                                       "host:8o", "::1:80", "[::1]", "[::1]80", "[zz]:80",
                                       "a b:80", "host:+80", "host: 80"};
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        const char *args[] = {"--listen", bads[i], NULL};
        char what[64];
        snprintf(what, sizeof(what), "listen '%s'", bads[i]);
        bad(args, NULL, "--listen", what);
    }
}

static void test_bad_values(void)
{
    static const struct {
        const char *flag, *value;
    } bads[] = {
        {"--rate-messages", "10"},           {"--rate-messages", "10/0"},
        {"--rate-messages", "x/5"},          {"--rate-messages", "-1/5"},
        {"--rate-messages", "5/"},           {"--rate-messages", "/5"},
        {"--rate-requests", "10/99999999"},  {"--rate-connections", "4294967296/1"},
        {"--rate-connections", "1/1/1"},     {"--max-message-bytes", "abc"},
        {"--max-message-bytes", "-1"},       {"--max-message-bytes", "12x"},
        {"--max-message-bytes", "0"},        {"--max-message-bytes", " 5"},
        {"--max-message-bytes", "+5"},       {"--max-message-bytes", "99999999999999999999999"},
        {"--max-message-bytes", "1e3"},      {"--outbound-limit", "1023"},
        {"--session-ttl", "4294967296"},     {"--session-ttl", "0"},
        {"--idle-timeout", "2147484"},       {"--ping-interval", "0x10"},
        {"--recover-max", "18446744073709551616"},
        {"--jwt-alg", "none"},               {"--jwt-alg", "HS512"},
        {"--log-level", "verbose"},          {"--db", ""},
        {"--typing-timeout", ""},
        {"--rooms-per-user", "-1"},          {"--rooms-per-user", "1000000001"},
        {"--login-rate", "5"},               {"--login-user-rate", "5/0"},
        {"--max-json-depth", "1001"},        {"--max-json-depth", "deep"},
        {"--max-json-array", "2147483648"},  {"--fragment-timeout", "2147484"},
        {"--fragment-timeout", "1.5"},       {"--trusted-proxies", "proxy.example"},
        {"--trusted-proxies", "10.0.0.1/8"}, {"--trusted-proxies", "10.0.0.0/33"},
        {"--trusted-proxies", "::/129"},     {"--trusted-proxies", "10.0.0.0/"},
        {"--trusted-proxies", "1.2.3.4,"},   {"--trusted-proxies", "[::1]"},
        {"--trusted-proxies", "1.2.3.4/-1"}, {"--trusted-proxies", "1.2.3.4/+8"},
    };

    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        const char *args[] = {bads[i].flag, bads[i].value, NULL};
        char what[96];
        snprintf(what, sizeof(what), "%s '%s'", bads[i].flag, bads[i].value);
        bad(args, NULL, bads[i].flag, what);
    }
    {
        const char *env[] = {"PARLEYD_MAX_MESSAGE_BYTES=lots", NULL};
        bad(NULL, env, "PARLEYD_MAX_MESSAGE_BYTES", "bad value in the environment");
    }
    {
        const char *f = write_file("badval.conf", "# ok\n\nping_interval = soon\n");
        const char *args[] = {"--config", f, NULL};
        bad(args, NULL, "badval.conf:3: ping_interval", "bad value in the file names file:line");
    }
    {
        const char *args[] = {"--jwt-secret", "", NULL};
        struct pd_config cfg;
        char err[256];
        int rc = load(&cfg, err, sizeof(err), args, NULL);
        ok(rc == -1 && strstr(err, "--jwt-secret") != NULL, "empty jwt_secret rejected (%s)", err);
    }
}

static void test_unknown_and_syntax(void)
{
    {
        const char *args[] = {"--nope", "1", NULL};
        bad(args, NULL, "--nope", "unknown flag");
    }
    {
        const char *args[] = {"--nope=1", NULL};
        bad(args, NULL, "--nope", "unknown --name=value flag");
    }
    {
        const char *env[] = {"PARLEYD_NOPE=1", NULL};
        bad(NULL, env, "PARLEYD_NOPE", "unknown environment variable");
    }
    {
        const char *f = write_file("unknown.conf", "db = x.db\nnope = 1\n");
        const char *args[] = {"--config", f, NULL};
        bad(args, NULL, "'nope'", "unknown setting in the file");
        bad(args, NULL, "unknown.conf:2", "unknown setting in the file names file:line");
    }
    {
        const char *f = write_file("noeq.conf", "db x.db\n");
        const char *args[] = {"--config", f, NULL};
        bad(args, NULL, "noeq.conf:1", "line without '=' rejected");
    }
    {
        const char *args[] = {"--config", "/nonexistent/parley.conf", NULL};
        bad(args, NULL, "/nonexistent/parley.conf", "missing config file");
    }
    {
        const char *args[] = {"--db", NULL};
        bad(args, NULL, "--db", "flag without a value");
    }
    {
        const char *args[] = {"stray", NULL};
        bad(args, NULL, "stray", "positional argument");
    }
    {
        const char *args[] = {"-x", NULL};
        bad(args, NULL, "-x", "single-dash option");
    }
    {
        const char *env[] = {"PARLEY_BUILD=x", "PARLEYDX=1", NULL};
        struct pd_config cfg;
        char err[256];
        ok(load(&cfg, err, sizeof(err), NULL, env) == 0, "unrelated variables are ignored");
        pd_config_free(&cfg);
    }
}

static void test_help_version(void)
{
    struct pd_config cfg;
    char err[256];
    const char *help[] = {"--help", NULL};
    const char *h[] = {"-h", NULL};
    const char *version[] = {"--version", NULL};
    const char *after_bad[] = {"--db", "x", "--help", "--nope", NULL};

    ok(load(&cfg, err, sizeof(err), help, NULL) == 1, "--help returns 1");
    ok(cfg.db == NULL, "--help leaves nothing allocated");
    ok(load(&cfg, err, sizeof(err), h, NULL) == 1, "-h returns 1");
    ok(load(&cfg, err, sizeof(err), version, NULL) == 3, "--version returns 3");
    ok(load(&cfg, err, sizeof(err), after_bad, NULL) == 1, "--help before a bad flag wins");
}

static void test_secret_file(void)
{
    struct pd_config cfg;
    char err[512];
    const char *f = write_file("secret", "0123456789abcdef0123456789abcdef\n");
    const char *crlf = write_file("secret-crlf", "abc\r\n\n");
    const char *empty = write_file("secret-empty", "\n");

    {
        const char *args[] = {"--jwt-secret-file", f, NULL};
        ok(load(&cfg, err, sizeof(err), args, NULL) == 0 && cfg.jwt_secret != NULL &&
               strcmp(cfg.jwt_secret, "0123456789abcdef0123456789abcdef") == 0,
           "jwt_secret_file read, trailing newline stripped");
        pd_config_free(&cfg);
    }
    {
        const char *args[] = {"--jwt-secret-file", crlf, NULL};
        ok(load(&cfg, err, sizeof(err), args, NULL) == 0 && strcmp(cfg.jwt_secret, "abc") == 0,
           "CRLF and blank trailing lines stripped");
        pd_config_free(&cfg);
    }
    {
        const char *args[] = {"--jwt-secret-file", empty, NULL};
        bad(args, NULL, "jwt_secret_file", "empty secret file");
    }
    {
        const char *args[] = {"--jwt-secret-file", "/nonexistent/secret", NULL};
        bad(args, NULL, "jwt_secret_file", "missing secret file");
    }
    {
        const char *args[] = {"--jwt-secret", "x", "--jwt-secret-file", f, NULL};
        bad(args, NULL, "both", "jwt_secret and jwt_secret_file from the same source");
    }
    {
        const char *env[] = {"PARLEYD_JWT_SECRET_FILE=/nonexistent/secret", NULL};
        const char *args[] = {"--jwt-secret", "from-flag", NULL};
        ok(load(&cfg, err, sizeof(err), args, env) == 0 &&
               strcmp(cfg.jwt_secret, "from-flag") == 0,
           "jwt_secret flag wins over jwt_secret_file from env (file not read)");
        pd_config_free(&cfg);
    }
    {
        const char *env[] = {"PARLEYD_JWT_SECRET=from-env", NULL};
        const char *args[] = {"--jwt-secret-file", f, NULL};
        ok(load(&cfg, err, sizeof(err), args, env) == 0 &&
               strcmp(cfg.jwt_secret, "0123456789abcdef0123456789abcdef") == 0,
           "jwt_secret_file flag wins over jwt_secret from env");
        pd_config_free(&cfg);
    }
    {
        const char *args[] = {"--jwt-secret", "do-not-print-me", "--jwt-secret", "", NULL};
        int rc = load(&cfg, err, sizeof(err), args, NULL);
        ok(rc == -1 && strstr(err, "do-not-print-me") == NULL, "secret values are not echoed");
    }
}

static void test_tls(void)
{
    const char *crt = write_file("t.crt", test_cert), *key = write_file("t.key", test_key);
    const char *other = write_file("other.key", other_key);
    const char *junk = write_file("junk.pem", "not a pem\n");
    struct pd_config cfg;
    char err[512];

    {
        const char *args[] = {"--tls-cert", crt, "--tls-key", key, NULL};
        ok(load(&cfg, err, sizeof(err), args, NULL) == 0, "a matching certificate and key load");
        pd_config_free(&cfg);
    }
    {
        const char *args[] = {"--tls-cert", crt, NULL};
        bad(args, NULL, "tls_key", "tls_cert without tls_key");
    }
    {
        const char *args[] = {"--tls-key", key, NULL};
        bad(args, NULL, "tls_cert", "tls_key without tls_cert");
    }
    {
        const char *args[] = {"--tls-cert", "/nonexistent/c.crt", "--tls-key", key, NULL};
        bad(args, NULL, "tls_cert", "missing certificate file");
    }
    {
        const char *args[] = {"--tls-cert", junk, "--tls-key", key, NULL};
        bad(args, NULL, "tls_cert", "a file with no certificate");
    }
    {
        const char *args[] = {"--tls-cert", crt, "--tls-key", junk, NULL};
        bad(args, NULL, "tls_key", "a file with no key");
    }
    {
        const char *args[] = {"--tls-cert", crt, "--tls-key", other, NULL};
        bad(args, NULL, "not the key", "a key that is not the certificate's");
    }
}

/* trusted_proxies: forms, normalisation, the last source replacing the
 * whole list, the size bound. */
static void test_trusted_proxies(void)
{
    struct pd_config cfg;
    char err[256];

    {
        const char *args[] = {"--trusted-proxies", " 127.0.0.1 ,10.0.0.0/8,fd00::/8, ::1/128,0.0.0.0/0",
                              NULL};
        ok(load(&cfg, err, sizeof(err), args, NULL) == 0 && cfg.ntrusted_proxies == 5,
           "five entries, spaces around them (%s)", err);
        ok(cfg.trusted_proxies[0].bits == 128 && cfg.trusted_proxies[0].addr[10] == 0xff &&
               cfg.trusted_proxies[0].addr[15] == 1,
           "an IPv4 address is held IPv4-mapped, /32 as /128");
        ok(cfg.trusted_proxies[1].bits == 104, "10.0.0.0/8 is ::ffff:10.0.0.0/104");
        ok(cfg.trusted_proxies[2].bits == 8 && cfg.trusted_proxies[2].addr[0] == 0xfd,
           "fd00::/8 as given");
        ok(cfg.trusted_proxies[4].bits == 96, "0.0.0.0/0 is every IPv4 address");
        pd_config_free(&cfg);
    }
    {
        const char *env[] = {"PARLEYD_TRUSTED_PROXIES=10.0.0.0/8,10.1.0.0/16", NULL};
        const char *args[] = {"--trusted-proxies", "192.168.1.1", NULL};
        ok(load(&cfg, err, sizeof(err), args, env) == 0 && cfg.ntrusted_proxies == 1 &&
               cfg.trusted_proxies[0].addr[12] == 192,
           "the flag's list replaces the environment's, not added to it");
        pd_config_free(&cfg);
    }
    {
        char list[256 * 12 + 16];
        size_t n = 0;
        for (int i = 0; i < 257; i++)
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s10.0.%d.%d", i ? "," : "",
                                  i / 256, i % 256);
        const char *ok256[] = {"--trusted-proxies", list, NULL};
        const char *args[] = {"--trusted-proxies", list, NULL};
        bad(args, NULL, "more than 256", "257 trusted proxies");
        list[strlen(list) - strlen(",10.0.1.0")] = '\0';
        ok(load(&cfg, err, sizeof(err), ok256, NULL) == 0 && cfg.ntrusted_proxies == 256,
           "256 trusted proxies load (%s)", err);
        pd_config_free(&cfg);
    }
}

static void test_failure_frees(void)
{
    struct pd_config cfg;
    char err[256];
    const char *args[] = {"--db", "x.db", "--origins", "*", "--log-level", "loud", NULL};

    ok(load(&cfg, err, sizeof(err), args, NULL) == -1 && cfg.db == NULL && cfg.origins == NULL &&
           cfg.listen_host == NULL,
       "a failed load leaves nothing allocated");
    pd_config_free(&cfg); /* and freeing it again is harmless */
    ok(1, "pd_config_free after a failed load is harmless");
}

static void cleanup(void)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* cluster and node_id: the URL forms, and a cluster needs a shared store. */
static void test_cluster(void)
{
    static const char *const good[][4] = {
        /* url, host, port, db */
        {"redis://127.0.0.1:6379", "127.0.0.1", "6379", "0"},
        {"redis://redis.internal:7000/3", "redis.internal", "7000", "3"},
        {"redis://h:1/15", "h", "1", "15"},
        {"redis://h:6379/", "h", "6379", "0"},
    };
    static const char *const bad_urls[] = {
        "http://h:6379", "redis://h", "redis://:6379", "redis://h:0", "redis://h:65536",
        "redis://h:6379/16", "redis://h:6379/x", "redis://h:6379/-1", "redis://h:63x9",
        "redis://user@h:6379", "redis://user:@h:6379", "redis://@h:6379",
        "redis://h/1:6379", "rediss://h:6379",
    };
    /* url, user ("" none), password */
    static const char *const creds[][3] = {
        {"redis://:s3cret@h:6379/1", "", "s3cret"},
        {"redis://parley:pa:ss@h:6379", "parley", "pa:ss"},
        {"redis://:p@ss@h:6379", "", "p@ss"},
    };
    const char *pg = "postgresql://parley@127.0.0.1:5432/parley";
    struct pd_config cfg;
    char err[512];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *args[] = {"--db", pg, "--cluster", good[i][0], NULL};
        char port[8], db[8];
        int rc = load(&cfg, err, sizeof(err), args, NULL);
        if (rc == 0) {
            snprintf(port, sizeof(port), "%u", cfg.redis.port);
            snprintf(db, sizeof(db), "%u", cfg.redis.db);
        }
        ok(rc == 0 && strcmp(cfg.redis.host, good[i][1]) == 0 && cfg.redis.password == NULL &&
               strcmp(port, good[i][2]) == 0 && strcmp(db, good[i][3]) == 0,
           "cluster %s: host %s port %s db %s (%s)", good[i][0], good[i][1], good[i][2],
           good[i][3], rc == 0 ? "ok" : err);
        if (rc == 0)
            pd_config_free(&cfg);
    }
    for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
        const char *args[] = {"--db", pg, "--cluster", bad_urls[i], NULL};
        bad(args, NULL, "cluster: '", bad_urls[i]);
    }
    for (size_t i = 0; i < sizeof(creds) / sizeof(creds[0]); i++) {
        const char *args[] = {"--db", pg, "--cluster", creds[i][0], NULL};
        int rc = load(&cfg, err, sizeof(err), args, NULL);
        ok(rc == 0 && strcmp(cfg.redis.host, "h") == 0 && cfg.redis.port == 6379 &&
               strcmp(cfg.redis.user ? cfg.redis.user : "", creds[i][1]) == 0 &&
               strcmp(cfg.redis.password, creds[i][2]) == 0,
           "cluster %s: user '%s', password '%s' (%s)", creds[i][0], creds[i][1], creds[i][2],
           rc == 0 ? "ok" : err);
        if (rc == 0)
            pd_config_free(&cfg);
    }
    {
        const char *args[] = {"--db", pg, "--cluster", "redis://:s3cret@h:99999", NULL};
        int rc = load(&cfg, err, sizeof(err), args, NULL);
        ok(rc == -1 && strstr(err, "s3cret") == NULL && strstr(err, "redis://***@h:99999"),
           "a bad cluster URL with a password: the message hides it (%s)", err);
        if (rc == 0)
            pd_config_free(&cfg);
    }
    {
        const char *args[] = {"--cluster", "redis://h:6379", NULL};
        bad(args, NULL, "set db to a postgresql:// URL", "cluster on a SQLite db");
    }
    {
        const char *env[] = {"PARLEYD_CLUSTER=redis://h:6379/2", "PARLEYD_NODE_ID=eu-1:8080",
                             "PARLEYD_DB=postgres://u@h:5432/d", NULL};
        int rc = load(&cfg, err, sizeof(err), NULL, env);
        ok(rc == 0 && cfg.redis.db == 2 && strcmp(cfg.node_id, "eu-1:8080") == 0,
           "cluster and node_id from the environment, postgres:// accepted (%s)",
           rc == 0 ? "ok" : err);
        if (rc == 0)
            pd_config_free(&cfg);
    }
    {
        const char *args[] = {NULL};
        int rc = load(&cfg, err, sizeof(err), args, NULL);
        ok(rc == 0 && cfg.cluster == NULL && cfg.node_id == NULL,
           "default: no cluster, node_id made at start");
        if (rc == 0)
            pd_config_free(&cfg);
    }
    {
        const char *a1[] = {"--node-id", "a b", NULL};
        const char *a2[] = {"--node-id",
                            "x234567890123456789012345678901234567890123456789012345678901234z",
                            NULL};
        const char *a3[] = {"--node-id", "n/1", NULL};
        bad(a1, NULL, "node_id: 'a b'", "node_id with a space");
        bad(a2, NULL, "node_id: ", "node_id of 66 characters");
        bad(a3, NULL, "node_id: 'n/1'", "node_id with a slash");
    }
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_defaults();
    test_every_setting();
    test_precedence();
    test_listen();
    test_bad_values();
    test_unknown_and_syntax();
    test_help_version();
    test_secret_file();
    test_tls();
    test_trusted_proxies();
    test_cluster();
    test_failure_frees();
    cleanup();
    printf("1..%d\n", test_no);
    return failures ? 1 : 0;
}
