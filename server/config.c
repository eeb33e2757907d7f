/* parleyd settings (PROTOCOL.md section 9). One table names every setting
 * once; the three sources (the --config file, PARLEYD_* environment, --flags)
 * all go through the same parser, applied in that order so later sources win.
 * Every value is checked in full here, so a bad one stops the server at start
 * with a message naming it, never later. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#ifndef PD_VERSION
#define PD_VERSION "0.1.0"
#endif

/* Seconds settings stay below this so `seconds * 1000` fits an int. */
#define SECONDS_MAX 2147483u
/* jwt_secret_file is a secret, not a document. */
#define SECRET_FILE_MAX 65536
/* trusted_proxies: entries at most (a proxy tier, not a firewall). */
#define PROXIES_MAX 256

enum kind {
    K_STR,    /* char *, non-empty */
    K_LISTEN, /* HOST:PORT into listen_host and listen_port */
    K_RATE,   /* struct pd_rate */
    K_SIZE,   /* size_t within [min, max] */
    K_UINT,   /* unsigned within [min, max] */
    K_ALG,    /* char *: HS256, RS256 or ES256 */
    K_LEVEL,  /* enum pd_log_level */
    K_CIDRS,  /* trusted_proxies: comma-separated IPs or CIDRs */
};

struct setting {
    const char *name;
    enum kind kind;
    size_t off;
    uint64_t min, max;
    const char *help;
};

#define OFF(field) offsetof(struct pd_config, field)

static const struct setting settings[] = {
    {"listen", K_LISTEN, 0, 0, 0, "HOST:PORT to listen on ([::1]:PORT for IPv6; port 0 picks one)"},
    {"db", K_STR, OFF(db), 0, 0, "SQLite database file, or postgresql://USER[:PASSWORD]@HOST:PORT/DBNAME"},
    {"jwt_secret", K_STR, OFF(jwt_secret), 0, 0, "HS256 secret, at least 32 bytes"},
    {"jwt_secret_file", K_STR, OFF(jwt_secret_file), 0, 0, "file holding the HS256 secret"},
    {"jwt_alg", K_ALG, OFF(jwt_alg), 0, 0, "the one accepted algorithm: HS256, RS256 or ES256"},
    {"jwt_public_key", K_STR, OFF(jwt_public_key), 0, 0, "PEM public key file for RS256/ES256"},
    {"jwt_issuer", K_STR, OFF(jwt_issuer), 0, 0, "required `iss` claim"},
    {"jwt_audience", K_STR, OFF(jwt_audience), 0, 0, "required `aud` claim"},
    {"origins", K_STR, OFF(origins), 0, 0, "comma-separated allowed origins, * for any"},
    {"tls_cert", K_STR, OFF(tls_cert), 0, 0, "PEM certificate file (serve HTTPS/WSS)"},
    {"tls_key", K_STR, OFF(tls_key), 0, 0, "PEM private key file"},
    {"rate_messages", K_RATE, OFF(rate_messages), 0, 0, "message:send per user, COUNT/SECONDS or 0"},
    {"rate_requests", K_RATE, OFF(rate_requests), 0, 0, "other requests per connection, COUNT/SECONDS or 0"},
    {"rate_connections", K_RATE, OFF(rate_connections), 0, 0, "upgrade attempts per IP, COUNT/SECONDS or 0"},
    {"login_rate", K_RATE, OFF(login_rate), 0, 0, "/api/login and /api/register per IP, COUNT/SECONDS or 0"},
    {"login_user_rate", K_RATE, OFF(login_user_rate), 0, 0, "/api/login and /api/register per username, COUNT/SECONDS or 0"},
    {"trusted_proxies", K_CIDRS, 0, 0, 0, "comma-separated IPs or CIDRs whose X-Forwarded-For is believed"},
    {"max_message_bytes", K_SIZE, OFF(max_message_bytes), 1, INT32_MAX, "largest message a client may send"},
    {"max_json_depth", K_UINT, OFF(max_json_depth), 0, 1000, "deepest nesting of a request (levels), 0 for no limit"},
    {"max_json_array", K_UINT, OFF(max_json_array), 0, INT32_MAX, "longest array in a request, 0 for no limit"},
    {"fragment_timeout", K_UINT, OFF(fragment_timeout), 0, SECONDS_MAX, "seconds to complete a fragmented message, 0 for none"},
    {"rooms_per_user", K_UINT, OFF(rooms_per_user), 0, 1000000000, "rooms one user may be a member of, 0 for no limit"},
    {"session_ttl", K_UINT, OFF(session_ttl), 1, SECONDS_MAX, "seconds a dropped connection's session is kept"},
    {"recover_max", K_UINT, OFF(recover_max), 0, 1000000, "messages one recovery replays at most"},
    {"typing_timeout", K_UINT, OFF(typing_timeout), 1, SECONDS_MAX, "seconds before typing expires"},
    {"ping_interval", K_UINT, OFF(ping_interval), 1, SECONDS_MAX, "seconds between pings"},
    {"idle_timeout", K_UINT, OFF(idle_timeout), 1, SECONDS_MAX, "seconds of silence before close 1001"},
    {"outbound_limit", K_SIZE, OFF(outbound_limit), 1024, 1u << 30, "bytes queued per connection before close 1008"},
    {"max_connections", K_UINT, OFF(max_connections), 0, 1000000, "WebSockets held at once (more: 503), 0 for what the open file limit allows"},
    {"cluster", K_STR, OFF(cluster), 0, 0, "redis://HOST:PORT[/DB]: join the nodes on that Redis (needs a postgresql:// db)"},
    {"node_id", K_STR, OFF(node_id), 0, 0, "this node's name in the cluster (default HOSTNAME:PORT)"},
    {"log_level", K_LEVEL, OFF(log_level), 0, 0, "error, warn, info or debug"},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* Where a value came from; a later source overrides an earlier one. */
enum source { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG };

struct loader {
    struct pd_config *cfg;
    enum source src[NSETTINGS];
    char *err;
    size_t errlen;
};

static int fail(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct loader *ld, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ld->err, ld->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static size_t setting_index(const char *name)
{
    size_t i = 0;

    while (i < NSETTINGS - 1 && strcmp(settings[i].name, name) != 0)
        i++;
    return i;
}

/* Names are compared with '-' and '_' as the same character, so a flag
 * (--max-message-bytes) and a file or env name (max_message_bytes) meet. */
static const struct setting *find_setting(const char *name, size_t len)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const char *s = settings[i].name;
        size_t j = 0;

        for (; j < len && s[j]; j++) {
            char a = name[j] == '-' ? '_' : name[j];
            if (a != s[j])
                break;
        }
        if (j == len && s[j] == '\0')
            return &settings[i];
    }
    return NULL;
}

/* ---- value parsers: NULL on success, else what was expected ----------------- */

/* Decimal digits only: no sign, no space, no suffix, no overflow. */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    char buf[32];
    char *end;
    unsigned long long v;

    if (len == 0 || len >= sizeof(buf))
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i]))
            return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtoull(buf, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static const char *parse_rate(const char *v, struct pd_rate *r)
{
    static const char expect[] = "expected COUNT/SECONDS (e.g. 100/60) or 0 to disable";
    const char *slash = strchr(v, '/');
    uint64_t count, secs;

    if (strcmp(v, "0") == 0) {
        /* Disabled; seconds stays non-zero so no reader ever divides by 0. */
        *r = (struct pd_rate){0, 1};
        return NULL;
    }
    if (slash == NULL || parse_u64(v, (size_t)(slash - v), &count) != 0 ||
        parse_u64(slash + 1, strlen(slash + 1), &secs) != 0)
        return expect;
    if (count > UINT_MAX)
        return "COUNT is too large";
    if (secs < 1 || secs > SECONDS_MAX)
        return "SECONDS must be from 1 to 2147483";
    *r = (struct pd_rate){(unsigned)count, (unsigned)secs};
    return NULL;
}

static bool valid_hostname(const char *h)
{
    for (; *h; h++)
        if (!isalnum((unsigned char)*h) && *h != '.' && *h != '-')
            return false;
    return true;
}

/* "HOST:PORT" or "[IPv6]:PORT"; host kept without brackets. */
static const char *parse_listen(const char *v, char **host, uint16_t *port)
{
    static const char expect[] = "expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080";
    const char *colon;
    size_t hlen;
    uint64_t p;
    char *h;
    bool bracketed = v[0] == '[';

    if (bracketed) {
        const char *close = strchr(v, ']');
        if (close == NULL || close[1] != ':')
            return expect;
        colon = close + 1;
        hlen = (size_t)(close - v - 1);
        v++;
    } else {
        colon = strrchr(v, ':');
        if (colon == NULL)
            return expect;
        hlen = (size_t)(colon - v);
        if (memchr(v, ':', hlen) != NULL)
            return "an IPv6 address needs brackets: [::1]:8080";
    }
    if (hlen == 0)
        return expect;
    if (parse_u64(colon + 1, strlen(colon + 1), &p) != 0 || p > 65535)
        return "the port must be a number from 0 to 65535";
    h = strndup(v, hlen);
    if (h == NULL)
        return "out of memory";
    if (bracketed) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, h, &a6) != 1) {
            free(h);
            return "not an IPv6 address inside the brackets";
        }
    } else if (!valid_hostname(h)) {
        free(h);
        return "not a host name or IPv4 address";
    }
    free(*host);
    *host = h;
    *port = (uint16_t)p;
    return NULL;
}

static const char *parse_alg(const char *v, char **out)
{
    static const char *const algs[] = {"HS256", "RS256", "ES256"};

    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(v, algs[i]) == 0) {
            char *s = strdup(algs[i]);
            if (s == NULL)
                return "out of memory";
            free(*out);
            *out = s;
            return NULL;
        }
    }
    return "expected HS256, RS256 or ES256";
}

static const char *parse_level(const char *v, enum pd_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, names[i]) == 0) {
            *out = (enum pd_log_level)i;
            return NULL;
        }
    }
    return "expected error, warn, info or debug";
}

int pd_ip_parse(const char *s, size_t len, uint8_t out[16])
{
    char buf[INET6_ADDRSTRLEN];
    struct in_addr a4;

    if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

bool pd_cidr_match(const struct pd_cidr *list, size_t n, const uint8_t addr[16])
{
    for (size_t i = 0; i < n; i++) {
        unsigned whole = list[i].bits / 8, rest = list[i].bits % 8;

        if (memcmp(list[i].addr, addr, whole) != 0)
            continue;
        if (rest == 0 || ((list[i].addr[whole] ^ addr[whole]) & (uint8_t)(0xff00u >> rest)) == 0)
            return true;
    }
    return false;
}

/* One entry: ADDRESS or ADDRESS/BITS. A prefix with host bits set is
 * refused rather than masked: "10.0.0.1/8" is more likely a typo for /32
 * than a wish to trust 16 million addresses. */
static const char *parse_cidr(const char *s, size_t len, struct pd_cidr *c, char *why,
                              size_t whylen)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    bool v4 = memchr(s, ':', alen) == NULL;
    unsigned max = v4 ? 32 : 128;
    uint64_t bits = max;

    snprintf(why, whylen, "'%.*s' is not an IP address or CIDR (e.g. 10.0.0.0/8, ::1)",
             (int)(len > 64 ? 64 : len), s);
    if (pd_ip_parse(s, alen, c->addr) != 0)
        return why;
    if (slash != NULL && (parse_u64(slash + 1, len - alen - 1, &bits) != 0 || bits > max)) {
        snprintf(why, whylen, "'%.*s': the prefix length must be from 0 to %u",
                 (int)(len > 64 ? 64 : len), s, max);
        return why;
    }
    c->bits = (unsigned)bits + (v4 ? 96 : 0);
    for (unsigned b = c->bits; b < 128; b++) {
        if (c->addr[b / 8] & (0x80u >> (b % 8))) {
            snprintf(why, whylen, "'%.*s' has bits set past the /%u prefix",
                     (int)(len > 64 ? 64 : len), s, (unsigned)bits);
            return why;
        }
    }
    return NULL;
}

/* The whole list replaces any earlier value. */
static const char *parse_cidrs(const char *v, struct pd_config *cfg, char *why, size_t whylen)
{
    struct pd_cidr *list = calloc(PROXIES_MAX, sizeof(*list));
    size_t n = 0;
    const char *p = v;

    if (list == NULL)
        return "out of memory";
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len;
        const char *err;

        if (end == NULL)
            end = p + strlen(p);
        while (p < end && isspace((unsigned char)*p))
            p++;
        len = (size_t)(end - p);
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
        if (len == 0)
            err = "an empty entry in the list";
        else if (n == PROXIES_MAX)
            err = "more than 256 entries";
        else
            err = parse_cidr(p, len, &list[n++], why, whylen);
        if (err != NULL) {
            free(list);
            return err;
        }
        if (*end == '\0')
            break;
        p = end + 1;
    }
    free(cfg->trusted_proxies);
    cfg->trusted_proxies = list;
    cfg->ntrusted_proxies = n;
    return NULL;
}

/* why gets the expected range; it is returned on failure. */
static const char *parse_number(const struct setting *s, const char *v, uint64_t *out,
                                char *why, size_t whylen)
{
    uint64_t n;

    if (parse_u64(v, strlen(v), &n) != 0 || n < s->min || n > s->max) {
        snprintf(why, whylen, "expected a whole number from %llu to %llu",
                 (unsigned long long)s->min, (unsigned long long)s->max);
        return why;
    }
    *out = n;
    return NULL;
}

/* Parses v into the field of s. NULL on success, else why it is bad (a
 * static string, or scratch). */
static const char *parse_value(struct pd_config *cfg, const struct setting *s, const char *v,
                               char *scratch, size_t scratchlen)
{
    char *base = (char *)cfg;
    uint64_t n;
    const char *why;

    if (v[0] == '\0')
        return "the value is empty";
    switch (s->kind) {
    case K_STR: {
        char **dst = (char **)(base + s->off);
        char *copy = strdup(v);
        if (copy == NULL)
            return "out of memory";
        free(*dst);
        *dst = copy;
        return NULL;
    }
    case K_LISTEN:
        return parse_listen(v, &cfg->listen_host, &cfg->listen_port);
    case K_RATE:
        return parse_rate(v, (struct pd_rate *)(base + s->off));
    case K_SIZE:
        if ((why = parse_number(s, v, &n, scratch, scratchlen)) == NULL)
            *(size_t *)(base + s->off) = (size_t)n;
        return why;
    case K_UINT:
        if ((why = parse_number(s, v, &n, scratch, scratchlen)) == NULL)
            *(unsigned *)(base + s->off) = (unsigned)n;
        return why;
    case K_ALG:
        return parse_alg(v, (char **)(base + s->off));
    case K_LEVEL:
        return parse_level(v, (enum pd_log_level *)(base + s->off));
    case K_CIDRS:
        return parse_cidrs(v, cfg, scratch, scratchlen);
    }
    return "unsupported setting";
}

/* Applies one value; `where` names it the way the user wrote it. Values of
 * secrets are never echoed back. */
static int apply(struct loader *ld, const struct setting *s, const char *value, enum source src,
                 const char *where)
{
    char scratch[160];
    const char *why = parse_value(ld->cfg, s, value, scratch, sizeof(scratch));

    if (why != NULL) {
        if (strcmp(s->name, "jwt_secret") == 0)
            return fail(ld, "%s: bad value: %s", where, why);
        return fail(ld, "%s: bad value '%.200s': %s", where, value, why);
    }
    ld->src[s - settings] = src;
    return 0;
}

/* ---- defaults ------------------------------------------------------------- */

static int set_defaults(struct pd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen_host = strdup("127.0.0.1");
    cfg->listen_port = 8080;
    cfg->db = strdup("parley.db");
    cfg->jwt_alg = strdup("HS256");
    cfg->rate_messages = (struct pd_rate){100, 60};
    cfg->rate_requests = (struct pd_rate){20, 1};
    cfg->rate_connections = (struct pd_rate){5, 300};
    cfg->max_message_bytes = 65536;
    cfg->session_ttl = 120;
    cfg->recover_max = 1000;
    cfg->typing_timeout = 5;
    cfg->ping_interval = 25;
    cfg->idle_timeout = 60;
    cfg->outbound_limit = 1048576;
    cfg->log_level = PD_LOG_INFO;
    cfg->rooms_per_user = 1000;
    cfg->login_rate = (struct pd_rate){10, 300};
    cfg->login_user_rate = (struct pd_rate){5, 300};
    cfg->max_json_depth = 32;
    cfg->max_json_array = 1000;
    cfg->fragment_timeout = 10;
    return cfg->listen_host && cfg->db && cfg->jwt_alg ? 0 : -1;
}

/* ---- sources -------------------------------------------------------------- */

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    return s;
}

static int load_file_line(struct loader *ld, const char *path, unsigned lineno, char *line)
{
    char where[256];
    char *eq, *name, *value;
    const struct setting *s;

    line = trim(line);
    if (line[0] == '\0' || line[0] == '#')
        return 0;
    eq = strchr(line, '=');
    if (eq == NULL)
        return fail(ld, "%s:%u: expected `name = value`", path, lineno);
    *eq = '\0';
    name = trim(line);
    value = trim(eq + 1);
    s = find_setting(name, strlen(name));
    if (s == NULL)
        return fail(ld, "%s:%u: unknown setting '%.64s'", path, lineno, name);
    snprintf(where, sizeof(where), "%s:%u: %s", path, lineno, s->name);
    return apply(ld, s, value, SRC_FILE, where);
}

static int load_file(struct loader *ld, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    int rc = 0;

    if (f == NULL)
        return fail(ld, "--config: cannot read '%s': %s", path, strerror(errno));
    while (rc == 0 && getline(&line, &cap, f) >= 0)
        rc = load_file_line(ld, path, ++lineno, line);
    if (rc == 0 && ferror(f))
        rc = fail(ld, "--config: error reading '%s'", path);
    free(line);
    fclose(f);
    return rc;
}

static int load_env(struct loader *ld, char **envp)
{
    static const char prefix[] = "PARLEYD_";

    for (; envp && *envp; envp++) {
        const char *e = *envp, *eq, *name;
        const struct setting *s;
        char lower[64], where[96];
        size_t len;

        if (strncmp(e, prefix, sizeof(prefix) - 1) != 0 || (eq = strchr(e, '=')) == NULL)
            continue;
        name = e + sizeof(prefix) - 1;
        len = (size_t)(eq - name);
        if (len == 6 && strncmp(name, "CONFIG", 6) == 0)
            continue; /* handled before the file is read */
        if (len >= sizeof(lower))
            return fail(ld, "unknown setting in the environment: %.*s", 64, e);
        for (size_t i = 0; i < len; i++)
            lower[i] = (char)tolower((unsigned char)name[i]);
        s = find_setting(lower, len);
        if (s == NULL)
            return fail(ld, "unknown setting in the environment: %s%.*s", prefix, (int)len, name);
        snprintf(where, sizeof(where), "%s%.*s", prefix, (int)len, name);
        if (apply(ld, s, eq + 1, SRC_ENV, where) != 0)
            return -1;
    }
    return 0;
}

/* One parsed command-line flag. */
struct flag {
    const struct setting *s; /* NULL for --config */
    const char *value;
    char where[80];
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: parleyd [--config FILE] [--NAME VALUE | --NAME=VALUE]...\n"
            "\n"
            "Parley chat server. Every setting can also be given as `NAME = VALUE` in\n"
            "the --config file or as the environment variable PARLEYD_NAME; flags win\n"
            "over the environment, which wins over the file.\n"
            "\n"
            "Settings:\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        char flag[40];
        size_t j;

        for (j = 0; settings[i].name[j] && j < sizeof(flag) - 1; j++)
            flag[j] = settings[i].name[j] == '_' ? '-' : settings[i].name[j];
        flag[j] = '\0';
        fprintf(out, "  --%-22s %s\n", flag, settings[i].help);
    }
    fprintf(out,
            "\n"
            "  --config FILE            read settings from FILE\n"
            "  --help                   print this help and exit\n"
            "  --version                print the version and exit\n"
            "\n"
            "Defaults: listen 127.0.0.1:8080, db parley.db, jwt_alg HS256,\n"
            "rate_messages 100/60, rate_requests 20/1 (burst 5 x COUNT: 100),\n"
            "rate_connections 5/300, login_rate 10/300, login_user_rate 5/300,\n"
            "trusted_proxies none, max_message_bytes 65536, max_json_depth 32,\n"
            "max_json_array 1000, fragment_timeout 10, rooms_per_user 1000,\n"
            "session_ttl 120, recover_max 1000, typing_timeout 5, ping_interval 25,\n"
            "idle_timeout 60, outbound_limit 1048576, max_connections 0 (from the\n"
            "open file limit), cluster none (one node), node_id HOSTNAME:PORT,\n"
            "log_level info.\n");
}

/* Splits argv into flags without applying them (they are applied last, to
 * win over file and environment). Returns 0, 1 for --help, 3 for
 * --version, -1 on error. */
static int parse_argv(struct loader *ld, int argc, char **argv, struct flag *flags, int *nflags,
                      const char **config_path)
{
    *nflags = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *name, *eq, *value;
        size_t len;
        struct flag *f;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("parleyd %s\n", PD_VERSION);
            return 3;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return fail(ld, "unexpected argument '%.64s' (try --help)", a);
        name = a + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        f = &flags[*nflags];
        f->s = find_setting(name, len);
        if (f->s == NULL && !(len == 6 && strncmp(name, "config", 6) == 0))
            return fail(ld, "unknown option '--%.*s' (try --help)", (int)(len > 64 ? 64 : len),
                        name);
        snprintf(f->where, sizeof(f->where), "--%.*s", (int)len, name);
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return fail(ld, "%s: missing value", f->where);
        }
        f->value = value;
        if (f->s == NULL)
            *config_path = value;
        else
            (*nflags)++;
    }
    return 0;
}

/* Reads jwt_secret_file into jwt_secret, unless jwt_secret came from a
 * source that wins over it. */
static int read_secret_file(struct loader *ld)
{
    struct pd_config *cfg = ld->cfg;
    enum source s_secret = ld->src[setting_index("jwt_secret")];
    enum source s_file = ld->src[setting_index("jwt_secret_file")];
    char *buf;
    ssize_t n = 0;
    size_t len = 0;
    int fd;

    if (cfg->jwt_secret_file == NULL)
        return 0;
    if (cfg->jwt_secret != NULL && s_secret == s_file)
        return fail(ld, "jwt_secret and jwt_secret_file are both set: give only one");
    if (cfg->jwt_secret != NULL && s_secret > s_file)
        return 0;
    fd = open(cfg->jwt_secret_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(ld, "jwt_secret_file: cannot read '%s': %s", cfg->jwt_secret_file,
                    strerror(errno));
    buf = malloc(SECRET_FILE_MAX + 1);
    if (buf == NULL) {
        close(fd);
        return fail(ld, "jwt_secret_file: out of memory");
    }
    /* One byte more than allowed is read to tell "too large" apart. */
    while (len <= SECRET_FILE_MAX) {
        n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (n < 0 || len > SECRET_FILE_MAX) {
        free(buf);
        return fail(ld, "jwt_secret_file: '%s' %s", cfg->jwt_secret_file,
                    n < 0 ? "could not be read" : "is larger than 64 KiB");
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len] = '\0';
    if (len == 0 || memchr(buf, '\0', len) != NULL) {
        explicit_bzero(buf, len);
        free(buf);
        return fail(ld, "jwt_secret_file: '%s' %s", cfg->jwt_secret_file,
                    len == 0 ? "is empty" : "contains a NUL byte");
    }
    if (cfg->jwt_secret != NULL) {
        explicit_bzero(cfg->jwt_secret, strlen(cfg->jwt_secret));
        free(cfg->jwt_secret);
    }
    cfg->jwt_secret = buf;
    return 0;
}

/* A PEM pass phrase is never prompted for: an encrypted key is refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

/* Reads one PEM object (a private key, or a certificate) from path; NULL
 * with errno set (EINVAL: the file holds none). */
static void *read_pem(const char *path, bool key)
{
    FILE *f = fopen(path, "r");
    void *obj;

    if (f == NULL)
        return NULL;
    obj = key ? (void *)PEM_read_PrivateKey(f, NULL, no_passphrase, NULL)
              : (void *)PEM_read_X509(f, NULL, no_passphrase, NULL);
    fclose(f);
    ERR_clear_error();
    if (obj == NULL)
        errno = EINVAL;
    return obj;
}

/* tls_cert and tls_key: both or neither, each a readable PEM, the key the
 * certificate's. Checked here so an unusable pair is a bad setting (exit 2)
 * rather than a failure deep inside libmicrohttpd at start. */
static int check_tls(struct loader *ld)
{
    const struct pd_config *cfg = ld->cfg;
    X509 *cert;
    EVP_PKEY *key;
    int match;

    if (cfg->tls_cert == NULL && cfg->tls_key == NULL)
        return 0;
    if (cfg->tls_cert == NULL || cfg->tls_key == NULL)
        return fail(ld, "%s is set without %s: give both", cfg->tls_cert ? "tls_cert" : "tls_key",
                    cfg->tls_cert ? "tls_key" : "tls_cert");
    cert = read_pem(cfg->tls_cert, false);
    if (cert == NULL)
        return errno == EINVAL
                   ? fail(ld, "tls_cert: '%s' holds no PEM certificate", cfg->tls_cert)
                   : fail(ld, "tls_cert: cannot read '%s': %s", cfg->tls_cert, strerror(errno));
    key = read_pem(cfg->tls_key, true);
    if (key == NULL) {
        int e = errno;
        X509_free(cert);
        errno = e;
        return errno == EINVAL
                   ? fail(ld, "tls_key: '%s' holds no unencrypted PEM private key", cfg->tls_key)
                   : fail(ld, "tls_key: cannot read '%s': %s", cfg->tls_key, strerror(errno));
    }
    match = X509_check_private_key(cert, key);
    ERR_clear_error();
    X509_free(cert);
    EVP_PKEY_free(key);
    if (match != 1)
        return fail(ld, "tls_key: '%s' is not the key of tls_cert '%s'", cfg->tls_key,
                    cfg->tls_cert);
    return 0;
}

static const char *env_config(char **envp)
{
    static const char key[] = "PARLEYD_CONFIG=";

    for (; envp && *envp; envp++)
        if (strncmp(*envp, key, sizeof(key) - 1) == 0)
            return *envp + sizeof(key) - 1;
    return NULL;
}

int pd_redis_url_parse(const char *url, struct pd_redis_url *out)
{
    const char *p, *at, *colon, *slash, *sep;
    char *end;
    unsigned long v;

    memset(out, 0, sizeof(*out));
    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    p = url + 8;
    /* [[USER]:PASSWORD@]: the last '@' ends it, so a password may hold one. */
    at = strrchr(p, '@');
    if (at != NULL) {
        sep = memchr(p, ':', (size_t)(at - p));
        if (sep == NULL || sep + 1 == at)
            return -1; /* a password is required, after a ':' */
        if (sep > p && (out->user = strndup(p, (size_t)(sep - p))) == NULL)
            return -1;
        if ((out->password = strndup(sep + 1, (size_t)(at - sep - 1))) == NULL)
            goto fail;
        p = at + 1;
    }
    colon = strrchr(p, ':');
    slash = strchr(p, '/');
    if (colon == NULL || colon == p || (slash != NULL && slash < colon))
        goto fail;
    errno = 0;
    v = strtoul(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || v == 0 || v > 65535 || (*end != '\0' && *end != '/'))
        goto fail;
    out->port = (uint16_t)v;
    if (*end == '/' && end[1] != '\0') {
        const char *d = end + 1;
        errno = 0;
        v = strtoul(d, &end, 10);
        if (errno != 0 || end == d || *end != '\0' || v > 15 || *d == '-' || *d == '+')
            goto fail;
        out->db = (unsigned)v;
    }
    if ((out->host = strndup(p, (size_t)(colon - p))) != NULL)
        return 0;
fail:
    pd_redis_url_clear(out);
    return -1;
}

void pd_redis_url_clear(struct pd_redis_url *u)
{
    if (u->password != NULL)
        explicit_bzero(u->password, strlen(u->password));
    free(u->host);
    free(u->user);
    free(u->password);
    memset(u, 0, sizeof(*u));
}

static bool valid_node_id(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && strchr("_.:@-", *s) == NULL)
            return false;
    return true;
}

/* cluster needs a store every node shares; node_id names this node. */
static int check_cluster(struct loader *ld)
{
    struct pd_config *cfg = ld->cfg;

    if (cfg->node_id != NULL && !valid_node_id(cfg->node_id))
        return fail(ld, "node_id: '%.64s' must be 1 to 64 characters of [A-Za-z0-9_.:@-]",
                    cfg->node_id);
    if (cfg->cluster == NULL)
        return 0;
    if (pd_redis_url_parse(cfg->cluster, &cfg->redis) != 0) {
        /* The URL may hold a password: not in the message. */
        const char *at = strrchr(cfg->cluster, '@');
        return fail(ld, "cluster: '%s%.128s' is not redis://[[USER]:PASSWORD@]HOST:PORT[/DB] "
                        "(DB 0 to 15)", at ? "redis://***@" : "", at ? at + 1 : cfg->cluster);
    }
    if (strncmp(cfg->db, "postgresql://", 13) != 0 && strncmp(cfg->db, "postgres://", 11) != 0)
        return fail(ld, "cluster: the nodes of a cluster share one store: set db to a "
                        "postgresql:// URL (db is '%.128s')", cfg->db);
    return 0;
}

static int load_all(struct loader *ld, int argc, char **argv, char **envp)
{
    struct flag *flags;
    const char *config_path = NULL;
    int nflags = 0, rc;

    if (set_defaults(ld->cfg) != 0)
        return fail(ld, "out of memory");
    flags = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*flags));
    if (flags == NULL)
        return fail(ld, "out of memory");
    rc = parse_argv(ld, argc, argv, flags, &nflags, &config_path);
    if (rc == 0 && config_path == NULL)
        config_path = env_config(envp);
    if (rc == 0 && config_path != NULL) {
        if (config_path[0] == '\0')
            rc = fail(ld, "--config: the value is empty");
        else
            rc = load_file(ld, config_path);
    }
    if (rc == 0)
        rc = load_env(ld, envp);
    for (int i = 0; rc == 0 && i < nflags; i++)
        rc = apply(ld, flags[i].s, flags[i].value, SRC_FLAG, flags[i].where);
    if (rc == 0)
        rc = read_secret_file(ld);
    if (rc == 0)
        rc = check_tls(ld);
    if (rc == 0)
        rc = check_cluster(ld);
    free(flags);
    return rc;
}

int pd_config_load(struct pd_config *cfg, int argc, char **argv, char **envp, char *err,
                   size_t errlen)
{
    struct loader ld = {.cfg = cfg, .err = err, .errlen = errlen};
    int rc;

    if (errlen > 0)
        err[0] = '\0';
    rc = load_all(&ld, argc, argv, envp);
    if (rc != 0)
        pd_config_free(cfg);
    return rc;
}

void pd_config_free(struct pd_config *cfg)
{
    if (cfg->jwt_secret != NULL)
        explicit_bzero(cfg->jwt_secret, strlen(cfg->jwt_secret));
    free(cfg->listen_host);
    free(cfg->db);
    free(cfg->jwt_secret);
    free(cfg->jwt_secret_file);
    free(cfg->jwt_alg);
    free(cfg->jwt_public_key);
    free(cfg->jwt_issuer);
    free(cfg->jwt_audience);
    free(cfg->origins);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->trusted_proxies);
    if (cfg->cluster != NULL)
        explicit_bzero(cfg->cluster, strlen(cfg->cluster)); /* it may hold a password */
    free(cfg->cluster);
    pd_redis_url_clear(&cfg->redis);
    free(cfg->node_id);
    memset(cfg, 0, sizeof(*cfg));
}
