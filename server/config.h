/* parleyd settings, PROTOCOL.md section 9: one name each, read from the file
 * given by --config, then PARLEYD_* environment, then --flags (each later
 * source wins). */
#ifndef PD_CONFIG_H
#define PD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* count per `seconds`; count 0 disables the limit. */
struct pd_rate {
    unsigned count;
    unsigned seconds;
};

/* One entry of trusted_proxies: an address and a prefix length, IPv4 held
 * as IPv4-mapped IPv6 (::ffff:a.b.c.d, prefix + 96) so one compare serves
 * both families. Host bits past the prefix are zero. */
struct pd_cidr {
    uint8_t addr[16];
    unsigned bits; /* 0..128 */
};

enum pd_log_level { PD_LOG_ERROR, PD_LOG_WARN, PD_LOG_INFO, PD_LOG_DEBUG };

/* redis://[[USER]:PASSWORD@]HOST:PORT[/DB], taken apart (strings malloc'd;
 * user and password NULL when absent). */
struct pd_redis_url {
    char *host;
    uint16_t port;
    unsigned db; /* 0..15 */
    char *user, *password;
};

struct pd_config {
    char *listen_host;         /* "127.0.0.1" */
    uint16_t listen_port;      /* 8080; 0 picks a free port */
    char *db;                  /* "parley.db" */
    char *jwt_secret;          /* NULL unless set (from jwt_secret or jwt_secret_file) */
    char *jwt_secret_file;
    char *jwt_alg;             /* "HS256", "RS256" or "ES256" */
    char *jwt_public_key;      /* PEM file path */
    char *jwt_issuer, *jwt_audience;
    char *origins;             /* comma-separated allowlist, "*" for any, NULL for same-host */
    char *tls_cert, *tls_key;
    struct pd_rate rate_messages;    /* 100/60 */
    struct pd_rate rate_requests;    /* 20/1 */
    struct pd_rate rate_connections; /* 5/300 */
    size_t max_message_bytes;  /* 65536 */
    unsigned session_ttl;      /* 120 s */
    unsigned recover_max;      /* 1000 */
    unsigned typing_timeout;   /* 5 s */
    unsigned ping_interval;    /* 25 s */
    unsigned idle_timeout;     /* 60 s */
    size_t outbound_limit;     /* 1048576 */
    unsigned max_connections;  /* 0: from the open file limit (http.c); else at most that */
    enum pd_log_level log_level;
    unsigned rooms_per_user;         /* 1000; 0: no limit */
    struct pd_cidr *trusted_proxies; /* NULL: none, X-Forwarded-For ignored */
    size_t ntrusted_proxies;
    struct pd_rate login_rate;       /* 10/300: /api/login + /api/register per IP */
    struct pd_rate login_user_rate;  /* 5/300: the same, per username */
    unsigned max_json_depth;   /* 32 levels, the envelope object being 1; 0: none */
    unsigned max_json_array;   /* 1000 elements in any one array; 0: none */
    unsigned fragment_timeout; /* 10 s to complete a fragmented message; 0: none */
    char *cluster;             /* redis://[[USER]:PASSWORD@]HOST:PORT[/DB], NULL: alone */
    struct pd_redis_url redis; /* parsed from cluster */
    char *node_id;             /* NULL: HOSTNAME:PORT, made at start (cluster.c) */
};

/* Fills cfg from defaults, the --config file, envp (PARLEYD_*) and argv.
 * Returns 0; or 1 after printing usage for --help, 3 for --version; or -1
 * with a one-line message in err naming the bad setting (exit 2). */
int pd_config_load(struct pd_config *cfg, int argc, char **argv, char **envp, char *err,
                   size_t errlen);
void pd_config_free(struct pd_config *cfg);

/* Takes redis://[[USER]:PASSWORD@]HOST:PORT[/DB] apart (DB 0..15, default
 * 0). 0, or -1 (out zeroed) when url is not one. */
int pd_redis_url_parse(const char *url, struct pd_redis_url *out);
/* Frees (the password wiped first) and zeroes u. */
void pd_redis_url_clear(struct pd_redis_url *u);

/* Parses a textual IPv4 or IPv6 address (len bytes, no brackets, no zone)
 * into 16 bytes, IPv4 as IPv4-mapped. 0, or -1 when it is not one. */
int pd_ip_parse(const char *s, size_t len, uint8_t out[16]);
/* True when the address (as from pd_ip_parse) is inside one of the n
 * entries of list. */
bool pd_cidr_match(const struct pd_cidr *list, size_t n, const uint8_t addr[16]);

#endif
