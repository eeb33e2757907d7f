/* Accounts over HTTP: POST /api/register and /api/login with libcurl,
 * over TLS for https URLs with the same CA settings as the WebSocket. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "handshake.h"
#include "parley.h"
#include "url.h"
#include "version.h"

#define HTTP_BODY_MAX (64 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct body {
    char *data;
    size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct body *b = user;
    size_t n = size * nmemb;
    char *grown;

    /* An answer this large is not ours; returning short aborts the call. */
    if (b->len + n > HTTP_BODY_MAX)
        return 0;
    grown = realloc(b->data, b->len + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, n);
    b->len += n;
    grown[b->len] = '\0';
    b->data = grown;
    return n;
}

static char *credentials_json(const char *username, const char *password)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;

    if (o && cJSON_AddStringToObject(o, "username", username) &&
        cJSON_AddStringToObject(o, "password", password))
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Reads a 2xx body: token required, expires_in when present. */
static int read_token(const struct body *b, struct parley_auth_result *res)
{
    cJSON *root = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "token");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
    int rc = PARLEY_ERR_PROTOCOL;

    if (cJSON_IsString(tok) && tok->valuestring[0]) {
        res->token = strdup(tok->valuestring);
        rc = res->token ? PARLEY_OK : PARLEY_ERR_NOMEM;
        if (cJSON_IsNumber(exp))
            res->expires_in = (long)exp->valuedouble;
    }
    cJSON_Delete(root);
    return rc;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A server_name goes into a URL and a CURLOPT_CONNECT_TO entry: a DNS
 * name or an IPv4 address, nothing else. */
static int server_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 253)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.' || *s == '_'))
            return 0;
    return 1;
}

/* TLS as the WebSocket does it (tls.c): verified against the system's CAs
 * unless ca_file/ca_path say otherwise, no verification only when asked,
 * and server_name as the name to verify (curl takes it from the URL, so
 * the URL names it and CONNECT_TO sends the connection to the real host).
 * Returns PARLEY_ERR_INVAL for a server_name that is not a host name. */
static int tls_setup(CURL *curl, const struct pl_url *u, const struct parley_tls_opts *tls,
                     const char *route, char *full, size_t full_size, struct curl_slist **hdrs,
                     struct curl_slist **connect_to)
{
    const char *name = tls && tls->server_name && *tls->server_name ? tls->server_name : NULL;
    char hp[PL_URL_HOST_MAX + 16], line[PL_URL_HOST_MAX * 2 + 64];
    struct curl_slist *l;

    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (tls && tls->insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
        if (tls && tls->ca_file && *tls->ca_file)
            curl_easy_setopt(curl, CURLOPT_CAINFO, tls->ca_file);
        if (tls && tls->ca_path && *tls->ca_path)
            curl_easy_setopt(curl, CURLOPT_CAPATH, tls->ca_path);
    }
    if (!name)
        return PARLEY_OK;
    if (!server_name_ok(name) || pl_url_host_port(u, hp, sizeof(hp)) != PARLEY_OK)
        return PARLEY_ERR_INVAL;
    /* The URL names the certificate's host; the connection goes to the
     * URL's; the Host header stays what it would have been. */
    if ((size_t)snprintf(full, full_size, "https://%s:%d%s", name, u->port, route) >= full_size)
        return PARLEY_ERR_INVAL;
    snprintf(line, sizeof(line), u->ipv6 ? "%s:%d:[%s]:%d" : "%s:%d:%s:%d", name, u->port, u->host,
             u->port);
    if (!(l = curl_slist_append(*connect_to, line)))
        return PARLEY_ERR_NOMEM;
    *connect_to = l;
    snprintf(line, sizeof(line), "Host: %s", hp);
    if (!(l = curl_slist_append(*hdrs, line)))
        return PARLEY_ERR_NOMEM;
    *hdrs = l;
    curl_easy_setopt(curl, CURLOPT_CONNECT_TO, *connect_to);
    return PARLEY_OK;
}

/* A curl failure as the library's error: TLS ones get PARLEY_ERR_TLS with
 * curl's reason in res. */
static int curl_failure(CURLcode cc, const char *errbuf, struct parley_auth_result *res)
{
    const char *code = NULL;

    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
        code = "certificate";
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        code = "tls";
        break;
    default:
        return PARLEY_ERR_HTTP;
    }
    copy_str(res->error_code, sizeof(res->error_code), code);
    copy_str(res->error_message, sizeof(res->error_message),
             errbuf[0] ? errbuf : curl_easy_strerror(cc));
    return PARLEY_ERR_TLS;
}

static int post_credentials(const char *url, const char *route, const char *username,
                            const char *password, int timeout_ms,
                            const struct parley_tls_opts *tls, struct parley_auth_result *res)
{
    struct pl_url u;
    char base[PL_URL_HOST_MAX + 32], full[PL_URL_HOST_MAX + 64];
    char errbuf[CURL_ERROR_SIZE];
    char *payload = NULL;
    struct body b = {NULL, 0};
    struct curl_slist *hdrs = NULL, *connect_to = NULL;
    CURL *curl = NULL;
    CURLcode cc;
    long status = 0;
    int rc;

    if (!res)
        return PARLEY_ERR_INVAL;
    memset(res, 0, sizeof(*res));
    if (!username || !password || pl_url_parse(url, &u) != PARLEY_OK ||
        pl_url_http_base(&u, base, sizeof(base)) != PARLEY_OK)
        return PARLEY_ERR_INVAL;
    strcpy(full, base);
    strcat(full, route);
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return PARLEY_ERR_HTTP;
    payload = credentials_json(username, password);
    curl = curl_easy_init();
    hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (!payload || !curl || !hdrs) {
        rc = PARLEY_ERR_NOMEM;
        goto out;
    }
    if (u.secure) {
        rc = tls_setup(curl, &u, tls, route, full, sizeof(full), &hdrs, &connect_to);
        if (rc != PARLEY_OK)
            goto out;
    }
    errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_URL, full);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, PL_USER_AGENT);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 30000));
    /* No signals from a library (SIGALRM for name lookups), no redirects
     * (credentials go where they were told), and only the URL's own
     * protocol: an https URL is never answered over plain HTTP. */
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, u.secure ? "https" : "http");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        rc = curl_failure(cc, errbuf, res);
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    res->http_status = (int)status;
    if (status >= 200 && status < 300) {
        rc = read_token(&b, res);
    } else {
        pl_http_error_body(b.data ? b.data : "", b.len, res->error_code, sizeof(res->error_code),
                           res->error_message, sizeof(res->error_message));
        rc = PARLEY_ERR_SERVER;
    }
    /* The body goes to the caller as it came (on_body NUL-terminated it). */
    res->body_json = b.data;
    b.data = NULL;
out:
    curl_slist_free_all(hdrs);
    curl_slist_free_all(connect_to);
    if (curl)
        curl_easy_cleanup(curl);
    free(payload);
    free(b.data);
    return rc;
}

PARLEY_API int parley_register(const char *url, const char *username, const char *password,
                               int timeout_ms, struct parley_auth_result *res)
{
    return post_credentials(url, "/api/register", username, password, timeout_ms, NULL, res);
}

PARLEY_API int parley_login(const char *url, const char *username, const char *password,
                            int timeout_ms, struct parley_auth_result *res)
{
    return post_credentials(url, "/api/login", username, password, timeout_ms, NULL, res);
}

PARLEY_API int parley_register_tls(const char *url, const char *username, const char *password,
                                   int timeout_ms, const struct parley_tls_opts *tls,
                                   struct parley_auth_result *res)
{
    return post_credentials(url, "/api/register", username, password, timeout_ms, tls, res);
}

PARLEY_API int parley_login_tls(const char *url, const char *username, const char *password,
                                int timeout_ms, const struct parley_tls_opts *tls,
                                struct parley_auth_result *res)
{
    return post_credentials(url, "/api/login", username, password, timeout_ms, tls, res);
}

PARLEY_API void parley_auth_result_clear(struct parley_auth_result *res)
{
    if (!res)
        return;
    free(res->token);
    free(res->body_json);
    res->token = NULL;
    res->body_json = NULL;
}
