/* Parsing of the server URLs parley_client_new and parley_register take.
 * Pure functions, no I/O. */
#ifndef PL_URL_H
#define PL_URL_H

#include <stddef.h>

#define PL_URL_HOST_MAX 256
#define PL_URL_PATH_MAX 1024

struct pl_url {
    char host[PL_URL_HOST_MAX]; /* without brackets for IPv6 */
    int ipv6;                   /* host is an IPv6 literal: bracket it in Host: */
    int port;
    int secure;                 /* https/wss: TLS (tls.c) */
    char path[PL_URL_PATH_MAX]; /* WebSocket request target, query included */
};

/* Parses http://, ws:// (and https://, wss://, marked secure) URLs with an
 * optional port (default 80/443) and path (default /ws; an http URL with a
 * path of "/" or none means /ws). Returns PARLEY_OK or PARLEY_ERR_INVAL. */
int pl_url_parse(const char *url, struct pl_url *out);

/* "http://host:port" ("https://" when secure) for the REST routes; returns PARLEY_ERR_INVAL when it
 * does not fit in size. */
int pl_url_http_base(const struct pl_url *u, char *buf, size_t size);

/* "host:port" or "[v6]:port" for the Host header. */
int pl_url_host_port(const struct pl_url *u, char *buf, size_t size);

#endif
