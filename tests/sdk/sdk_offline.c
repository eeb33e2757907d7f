/* sdk_offline: what libparley does without a server, the way an
 * application sees it: versions and error strings, URL checks, message
 * parsing, argument checks, and the errors of calls with nothing to talk to.
 *
 *   sdk_offline
 *
 * Prints TAP; exits 1 when a check fails. Needs no network beyond
 * connecting to a closed port on 127.0.0.1. */
#include <stdio.h>
#include <string.h>

#include "parley.h"

static int test_no, failed;

static void ok(int cond, const char *what)
{
    test_no++;
    printf("%sok %d - %s\n", cond ? "" : "not ", test_no, what);
    if (!cond)
        failed++;
}

/* A port nothing listens on: bind-and-close is racy, port 1 needs root to
 * listen and nothing here does. */
#define CLOSED_URL "http://127.0.0.1:1"

int main(void)
{
    int major = -1, minor = -1, patch = -1, rc;
    parley_client *c;
    struct parley_message *m = NULL, *out = NULL;
    struct parley_auth_result res;
    size_t n = 7;
    int has_more = 7;

    rc = parley_lib_version(&major, &minor, &patch);
    ok(major == PARLEY_VERSION_MAJOR && minor == PARLEY_VERSION_MINOR &&
           patch == PARLEY_VERSION_PATCH && rc == major * 10000 + minor * 100 + patch,
       "run-time version matches the header");
    ok(strcmp(parley_strerror(PARLEY_OK), "success") == 0 &&
           strlen(parley_strerror(PARLEY_ERR_SERVER)) > 0 && parley_strerror(12345) != NULL,
       "every error has a description");

    ok(parley_client_new("ftp://h:1", NULL) == NULL && parley_client_new("ws://", NULL) == NULL &&
           parley_client_new("ws://h:0", NULL) == NULL &&
           parley_client_new("ws://h:70000", NULL) == NULL &&
           parley_client_new("ws://h:1/a b", NULL) == NULL &&
           parley_client_new("ws://[::1:1", NULL) == NULL && parley_client_new(NULL, NULL) == NULL,
       "bad URLs are refused");
    ok(parley_client_new("https://h:1", NULL) == NULL && parley_client_new("wss://h:1", NULL) == NULL,
       "https and wss are refused until TLS support");
    {
        const char *good[] = {"http://h:1", "ws://h:1", "ws://h:1/ws", "ws://[::1]:8080/ws",
                              "HTTP://127.0.0.1:8080/", "ws://h:1/ws?token=abc"};
        int all = 1;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            parley_client *g = parley_client_new(good[i], NULL);
            all = all && g;
            parley_client_destroy(g);
        }
        ok(all, "good URLs are accepted");
    }

    rc = parley_message_parse("{\"message\":{\"id\":7,\"room\":\"r\",\"seq\":3,\"user\":\"u\","
                              "\"name\":\"U\",\"text\":\"hi \\u00e9\",\"ts\":1700000000000,"
                              "\"client_msg_id\":null,\"reply_to\":5,\"deleted\":false}}",
                              &m);
    ok(rc == PARLEY_OK && m && m->id == 7 && m->seq == 3 && strcmp(m->room, "r") == 0 &&
           strcmp(m->name, "U") == 0 && strcmp(m->text, "hi \xc3\xa9") == 0 &&
           m->ts == 1700000000000LL && m->client_msg_id == NULL && m->reply_to == 5 &&
           !m->deleted,
       "a message:new data object parses");
    parley_message_free(m);
    rc = parley_message_parse("{\"id\":1,\"room\":\"r\",\"seq\":1,\"user\":\"u\",\"text\":\"\","
                              "\"client_msg_id\":\"k\",\"deleted\":true}",
                              &m);
    ok(rc == PARLEY_OK && m && strcmp(m->name, "u") == 0 && m->client_msg_id &&
           strcmp(m->client_msg_id, "k") == 0 && m->deleted && m->reply_to == 0,
       "a bare message object parses; name falls back to the user");
    parley_message_free(m);
    rc = parley_message_parse("{\"id\":9007199254740991,\"room\":\"r\",\"seq\":9007199254740990}", &m);
    ok(rc == PARLEY_OK && m && m->id == 9007199254740991LL && m->seq == 9007199254740990LL &&
           strcmp(m->text, "") == 0 && strcmp(m->user, "") == 0,
       "ids up to 2^53-1 are exact; missing strings are empty");
    parley_message_free(m);
    m = (struct parley_message *)&rc;
    ok(parley_message_parse("{\"id\":\"x\",\"room\":\"r\",\"seq\":1}", &m) == PARLEY_ERR_PROTOCOL &&
           m == NULL && parley_message_parse("nope", &m) == PARLEY_ERR_PROTOCOL &&
           parley_message_parse("{\"room\":\"r\",\"seq\":1}", &m) == PARLEY_ERR_PROTOCOL &&
           parley_message_parse(NULL, &m) == PARLEY_ERR_INVAL,
       "malformed messages are refused");
    parley_message_free(NULL);
    parley_messages_free(NULL, 0);

    c = parley_client_new(CLOSED_URL, NULL);
    ok(c != NULL, "a client is created without connecting");
    ok(!parley_is_connected(c) && parley_socket(c) == -1 && !parley_want_write(c) &&
           parley_http_status(c) == 0 && parley_close_code(c) == 0 &&
           strcmp(parley_close_reason(c), "") == 0 && strcmp(parley_error_code(c), "") == 0,
       "a new client is idle");
    ok(parley_set_token(c, "abc.def.ghi") == PARLEY_OK &&
           parley_set_token(c, "abc\r\nX-Evil: 1") == PARLEY_ERR_INVAL &&
           parley_set_token(c, NULL) == PARLEY_OK,
       "tokens that could break the header are refused");

    ok(parley_join(c, "bad room!", 0, 100) == PARLEY_ERR_INVAL &&
           parley_send(c, "r", "", NULL, 100, &out) == PARLEY_ERR_INVAL && out == NULL &&
           parley_send(c, "r", "\xff", NULL, 100, NULL) == PARLEY_ERR_INVAL &&
           parley_history(c, "r", -1, 0, 100, &out, &n, &has_more) == PARLEY_ERR_INVAL &&
           parley_history(c, "r", 0, 101, 100, &out, &n, &has_more) == PARLEY_ERR_INVAL &&
           parley_request(c, "", NULL, 100, NULL) == PARLEY_ERR_INVAL &&
           parley_request(c, "x", "[1]", 100, NULL) == PARLEY_ERR_INVAL,
       "bad arguments are refused before anything is sent");
    ok(n == 0 && has_more == 0 && out == NULL, "out-parameters are cleared on failure");
    ok(parley_join(c, "r", 0, 100) == PARLEY_ERR_NOT_CONNECTED &&
           parley_send_async(c, "r", "x", NULL, NULL, NULL) == PARLEY_ERR_NOT_CONNECTED &&
           parley_send_text(c, "{}", 2) == PARLEY_ERR_NOT_CONNECTED &&
           parley_loop(c, 0) == PARLEY_ERR_NOT_CONNECTED &&
           parley_loop_read(c) == PARLEY_ERR_NOT_CONNECTED,
       "calls that need a connection say so");
    rc = parley_connect(c, 2000);
    ok(rc == PARLEY_ERR_CONNECT, "connecting to a closed port fails with PARLEY_ERR_CONNECT");
    ok(parley_loop_start(c) == PARLEY_OK && parley_loop_start(c) == PARLEY_ERR_INVAL &&
           parley_loop(c, 0) == PARLEY_ERR_INVAL && parley_loop_stop(c) == PARLEY_OK &&
           parley_loop_stop(c) == PARLEY_ERR_INVAL,
       "the loop thread starts and stops once");
    parley_disconnect(c);
    parley_client_destroy(c);
    parley_client_destroy(NULL);

    memset(&res, 0x55, sizeof(res));
    rc = parley_login(CLOSED_URL, "user", "password", 2000, &res);
    ok(rc == PARLEY_ERR_HTTP && res.token == NULL && res.http_status == 0,
       "login to a closed port fails with PARLEY_ERR_HTTP");
    ok(parley_register("https://127.0.0.1:1", "u", "p", 100, &res) == PARLEY_ERR_INVAL &&
           parley_register(CLOSED_URL, NULL, "p", 100, &res) == PARLEY_ERR_INVAL,
       "register refuses bad arguments");

    printf("1..%d\n", test_no);
    return failed ? 1 : 0;
}
