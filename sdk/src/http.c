/* Accounts over HTTP: POST /api/register and /api/login with libcurl. */
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

static int post_credentials(const char *url, const char *route, const char *username,
                            const char *password, int timeout_ms,
                            struct parley_auth_result *res)
{
    struct pl_url u;
    char base[PL_URL_HOST_MAX + 32], full[PL_URL_HOST_MAX + 64];
    char *payload = NULL;
    struct body b = {NULL, 0};
    struct curl_slist *hdrs = NULL;
    CURL *curl = NULL;
    long status = 0;
    int rc;

    if (!res)
        return PARLEY_ERR_INVAL;
    memset(res, 0, sizeof(*res));
    /* TLS comes with the TLS transport; until then https is refused the
     * same way everywhere. */
    if (!username || !password || pl_url_parse(url, &u) != PARLEY_OK || u.secure ||
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
    curl_easy_setopt(curl, CURLOPT_URL, full);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, PL_USER_AGENT);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 30000));
    /* No signals from a library (SIGALRM for name lookups), no redirects
     * (credentials go where they were told), only plain HTTP for now. */
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(curl) != CURLE_OK) {
        rc = PARLEY_ERR_HTTP;
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
    if (curl)
        curl_easy_cleanup(curl);
    free(payload);
    free(b.data);
    return rc;
}

PARLEY_API int parley_register(const char *url, const char *username, const char *password,
                               int timeout_ms, struct parley_auth_result *res)
{
    return post_credentials(url, "/api/register", username, password, timeout_ms, res);
}

PARLEY_API int parley_login(const char *url, const char *username, const char *password,
                            int timeout_ms, struct parley_auth_result *res)
{
    return post_credentials(url, "/api/login", username, password, timeout_ms, res);
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
