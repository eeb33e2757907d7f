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
#include "sdk_tap.h"

/* A port nothing listens on: bind-and-close is racy, port 1 needs root to
 * listen and nothing here does. */
#define CLOSED_URL "http://127.0.0.1:1"

/* The parse functions of the room and messaging results, on the shapes of
 * parley-protocol(7) and on what is not. */
static void check_parsers(void)
{
    struct parley_room *r = NULL, *rs = NULL;
    struct parley_member *ms = NULL;
    struct parley_strings *ss = NULL;
    struct parley_subscribe_result *sr = NULL;
    struct parley_subscription *subs = NULL;
    struct parley_delivery_status *ds = NULL;
    struct parley_message_stats st;
    size_t n = 9;
    int rc, member = 7, subscribed = 7;
    int64_t seq = 7;

    rc = parley_room_parse(
        "{\"room\":\"general\",\"private\":true,\"created_by\":\"ann\",\"created_at\":1700000000000,"
        "\"member_count\":2,\"online_count\":1,\"last_seq\":9007199254740991,\"role\":\"owner\","
        "\"members\":[{\"user\":\"ann\",\"name\":\"Ann\",\"role\":\"owner\",\"status\":\"online\"},"
        "{\"user\":\"bob\",\"role\":\"member\",\"status\":\"offline\"}]}",
        &r);
    ok(rc == PARLEY_OK && r && strcmp(r->name, "general") == 0 && r->is_private &&
           strcmp(r->created_by, "ann") == 0 && r->created_at == 1700000000000LL &&
           r->member_count == 2 && r->online_count == 1 && r->last_seq == 9007199254740991LL &&
           r->unread == -1 && r->role && strcmp(r->role, "owner") == 0 && r->n_members == 2 &&
           strcmp(r->members[0].name, "Ann") == 0 && strcmp(r->members[1].name, "bob") == 0 &&
           strcmp(r->members[1].status, "offline") == 0,
       "parley_room_parse: a room with members (name falls back to the user)", NULL);
    parley_room_free(r);
    r = (struct parley_room *)&rc;
    ok(parley_room_parse("{\"private\":true}", &r) == PARLEY_ERR_PROTOCOL && r == NULL &&
           parley_room_parse("{\"room\":\"x\",\"members\":{}}", &r) == PARLEY_ERR_PROTOCOL &&
           parley_room_parse("{\"room\":\"x\",\"last_seq\":1.5}", &r) == PARLEY_ERR_PROTOCOL &&
           parley_room_parse("{\"room\":\"x\",\"members\":[{\"name\":\"no user\"}]}", &r) ==
               PARLEY_ERR_PROTOCOL &&
           parley_room_parse("[", &r) == PARLEY_ERR_PROTOCOL &&
           parley_room_parse(NULL, &r) == PARLEY_ERR_INVAL &&
           parley_room_parse("{}", NULL) == PARLEY_ERR_INVAL,
       "parley_room_parse refuses what is not a room", NULL);

    rc = parley_rooms_parse("{\"rooms\":[{\"room\":\"a\",\"unread\":3},{\"room\":\"b\",\"private\":false,"
                            "\"unread\":0}]}",
                            &rs, &n);
    ok(rc == PARLEY_OK && n == 2 && strcmp(rs[0].name, "a") == 0 && rs[0].unread == 3 &&
           rs[1].unread == 0 && !rs[1].is_private && rs[0].members == NULL && rs[0].role == NULL,
       "parley_rooms_parse: room:list's data", NULL);
    parley_rooms_free(rs, n);
    rc = parley_rooms_parse("{\"rooms\":[]}", &rs, &n);
    ok(rc == PARLEY_OK && rs == NULL && n == 0, "parley_rooms_parse: no rooms is NULL and 0", NULL);
    ok(parley_rooms_parse("{\"rooms\":[{\"room\":1}]}", &rs, &n) == PARLEY_ERR_PROTOCOL &&
           parley_rooms_parse("{\"x\":[]}", &rs, &n) == PARLEY_ERR_PROTOCOL && rs == NULL,
       "parley_rooms_parse refuses bad shapes", NULL);

    n = 9;
    rc = parley_members_parse("{\"room\":\"r\",\"users\":[{\"user\":\"u\",\"name\":\"U\","
                              "\"role\":\"member\",\"status\":\"away\"}]}",
                              &ms, &n);
    ok(rc == PARLEY_OK && n == 1 && strcmp(ms[0].user, "u") == 0 &&
           strcmp(ms[0].status, "away") == 0,
       "parley_members_parse: room:online's data", NULL);
    parley_members_free(ms, n);

    rc = parley_strings_parse("{\"room\":\"r\",\"users\":[\"a\",\"b\\u00e9\"]}", "users", &ss);
    ok(rc == PARLEY_OK && ss && ss->n == 2 && strcmp(ss->items[1], "b\xc3\xa9") == 0,
       "parley_strings_parse: by key", NULL);
    parley_strings_free(ss);
    rc = parley_strings_parse("[]", NULL, &ss);
    ok(rc == PARLEY_OK && ss && ss->n == 0, "parley_strings_parse: an empty bare array", NULL);
    parley_strings_free(ss);
    ok(parley_strings_parse("{\"users\":[1]}", "users", &ss) == PARLEY_ERR_PROTOCOL &&
           parley_strings_parse("{\"users\":[]}", "other", &ss) == PARLEY_ERR_PROTOCOL &&
           parley_strings_parse("[\"a\"]", "users", &ss) == PARLEY_ERR_PROTOCOL && ss == NULL,
       "parley_strings_parse refuses bad shapes", NULL);

    rc = parley_subscribe_result_parse(
        "{\"subscribed\":[\"a\"],\"failed\":[{\"room\":\"b\",\"code\":\"forbidden\"},"
        "{\"room\":\"bad room\",\"code\":\"bad_request\"}]}",
        &sr);
    ok(rc == PARLEY_OK && sr && sr->n_subscribed == 1 && strcmp(sr->subscribed[0], "a") == 0 &&
           sr->n_failed == 2 && strcmp(sr->failed[1].code, "bad_request") == 0 &&
           strcmp(sr->failed[1].room, "bad room") == 0,
       "parley_subscribe_result_parse", NULL);
    parley_subscribe_result_free(sr);

    ok(parley_subscription_status_parse("{\"room\":\"r\",\"member\":true,\"subscribed\":false}",
                                        &member, &subscribed) == PARLEY_OK &&
           member == 1 && subscribed == 0 &&
           parley_subscription_status_parse("{\"member\":true}", &member, &subscribed) ==
               PARLEY_ERR_PROTOCOL,
       "parley_subscription_status_parse", NULL);

    rc = parley_subscriptions_parse("{\"subscriptions\":[{\"room\":\"r\",\"subscribed_at\":5,"
                                    "\"last_seq\":10,\"last_read_seq\":4,\"unread\":6}]}",
                                    &subs, &n);
    ok(rc == PARLEY_OK && n == 1 && subs[0].subscribed_at == 5 && subs[0].last_seq == 10 &&
           subs[0].last_read_seq == 4 && subs[0].unread == 6,
       "parley_subscriptions_parse", NULL);
    parley_subscriptions_free(subs, n);

    rc = parley_delivery_status_parse(
        "{\"message_id\":42,\"delivered_to\":[{\"user\":\"a\",\"ts\":1},{\"user\":\"b\",\"ts\":2}],"
        "\"read_by\":[{\"user\":\"a\",\"ts\":3}],\"pending\":[\"c\"]}",
        &ds);
    ok(rc == PARLEY_OK && ds && ds->message_id == 42 && ds->n_delivered == 2 &&
           strcmp(ds->delivered_to[1].user, "b") == 0 && ds->delivered_to[1].ts == 2 &&
           ds->n_read == 1 && ds->read_by[0].ts == 3 && ds->n_pending == 1 &&
           strcmp(ds->pending[0], "c") == 0,
       "parley_delivery_status_parse", NULL);
    parley_delivery_status_free(ds);
    ok(parley_delivery_status_parse("{\"delivered_to\":[]}", &ds) == PARLEY_ERR_PROTOCOL &&
           parley_delivery_status_parse("{\"message_id\":1,\"read_by\":[{\"ts\":1}]}", &ds) ==
               PARLEY_ERR_PROTOCOL &&
           ds == NULL,
       "parley_delivery_status_parse refuses bad shapes", NULL);

    ok(parley_read_parse("{\"message_id\":3,\"room\":\"r\",\"last_read_seq\":17}", &seq) ==
               PARLEY_OK &&
           seq == 17 && parley_read_parse("{}", &seq) == PARLEY_ERR_PROTOCOL && seq == 0,
       "parley_read_parse", NULL);
    ok(parley_message_stats_parse("{\"sent\":4,\"delivered\":3,\"read\":2,\"deleted\":1}", &st) ==
               PARLEY_OK &&
           st.sent == 4 && st.delivered == 3 && st.read == 2 && st.deleted == 1 &&
           parley_message_stats_parse("{\"sent\":4}", &st) == PARLEY_ERR_PROTOCOL && st.sent == 0,
       "parley_message_stats_parse", NULL);

    parley_room_free(NULL);
    parley_rooms_free(NULL, 0);
    parley_members_free(NULL, 0);
    parley_strings_free(NULL);
    parley_subscribe_result_free(NULL);
    parley_subscriptions_free(NULL, 0);
    parley_delivery_status_free(NULL);
}

/* The room and messaging calls on a client that is not connected: bad
 * arguments are PARLEY_ERR_INVAL before anything else, good ones
 * PARLEY_ERR_NOT_CONNECTED; out-parameters are cleared. */
static void check_room_calls_offline(parley_client *c)
{
    const char *two[] = {"a", "b"};
    const char *bad_utf8[] = {"a", "\xff"};
    struct parley_room *r = (struct parley_room *)c;
    struct parley_strings *ss = (struct parley_strings *)c;
    struct parley_message_stats st = {1, 1, 1, 1};
    int64_t seq = 5, id = 5;
    int member = 5, subscribed = 5;

    ok(parley_room_info(c, "bad room", 100, &r) == PARLEY_ERR_INVAL && r == NULL &&
           parley_room_online(NULL, "r", 100, NULL, NULL) == PARLEY_ERR_INVAL &&
           parley_subscribe(c, two, 0, 100, NULL) == PARLEY_ERR_INVAL &&
           parley_subscribe(c, two, 101, 100, NULL) == PARLEY_ERR_INVAL &&
           parley_subscribe(c, bad_utf8, 2, 100, NULL) == PARLEY_ERR_INVAL &&
           parley_unsubscribe(c, NULL, 1, 100, &ss) == PARLEY_ERR_INVAL && ss == NULL &&
           parley_invite(c, "r", "", 100) == PARLEY_ERR_INVAL &&
           parley_invite_async(c, "r", "a b", NULL, NULL) == PARLEY_ERR_INVAL &&
           parley_typing(c, NULL, 1, 100) == PARLEY_ERR_INVAL &&
           parley_delivered(c, 0, 100) == PARLEY_ERR_INVAL &&
           parley_read(c, -1, 100, &seq) == PARLEY_ERR_INVAL && seq == 0 &&
           parley_delivery_status(c, 9007199254740992LL, 100, NULL) == PARLEY_ERR_INVAL &&
           parley_delete_async(c, 0, NULL, NULL) == PARLEY_ERR_INVAL &&
           parley_message_stats(c, "bad room", 100, &st) == PARLEY_ERR_INVAL && st.sent == 0,
       "room and messaging calls refuse bad arguments before sending", NULL);
    ok(parley_room_info(c, "r", 100, NULL) == PARLEY_ERR_NOT_CONNECTED &&
           parley_room_list(c, 100, NULL, NULL) == PARLEY_ERR_NOT_CONNECTED &&
           parley_subscribe(c, two, 2, 100, NULL) == PARLEY_ERR_NOT_CONNECTED &&
           parley_subscribe(c, (const char *const[]){"bad room!"}, 1, 100, NULL) ==
               PARLEY_ERR_NOT_CONNECTED &&
           parley_subscription_status(c, "r", 100, &member, &subscribed) ==
               PARLEY_ERR_NOT_CONNECTED &&
           member == 0 && subscribed == 0 &&
           parley_subscription_details_async(c, NULL, NULL) == PARLEY_ERR_NOT_CONNECTED &&
           parley_typing_users_async(c, "r", NULL, NULL) == PARLEY_ERR_NOT_CONNECTED &&
           parley_message_stats(c, NULL, 100, NULL) == PARLEY_ERR_NOT_CONNECTED &&
           parley_delete(c, 1, 100) == PARLEY_ERR_NOT_CONNECTED &&
           parley_request_async_id(c, "room:list", NULL, NULL, NULL, &id) ==
               PARLEY_ERR_NOT_CONNECTED,
       "room and messaging calls need a connection (room names left to the server)", NULL);
    id = parley_reserve_id(c);
    seq = parley_reserve_id(c);
    ok(id > 0 && seq > id && parley_reserve_id(NULL) == 0,
       "parley_reserve_id hands out increasing ids", NULL);
    parley_on_typing(NULL, NULL);
    parley_on_unmatched_ack(NULL, NULL);
}

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
       "run-time version matches the header", NULL);
    ok(strcmp(parley_strerror(PARLEY_OK), "success") == 0 &&
           strlen(parley_strerror(PARLEY_ERR_SERVER)) > 0 && parley_strerror(12345) != NULL,
       "every error has a description", NULL);

    ok(parley_client_new("ftp://h:1", NULL) == NULL && parley_client_new("ws://", NULL) == NULL &&
           parley_client_new("ws://h:0", NULL) == NULL &&
           parley_client_new("ws://h:70000", NULL) == NULL &&
           parley_client_new("ws://h:1/a b", NULL) == NULL &&
           parley_client_new("ws://[::1:1", NULL) == NULL && parley_client_new(NULL, NULL) == NULL,
       "bad URLs are refused", NULL);
    {
        /* TLS: the URLs are taken; the settings are checked when given. */
        parley_client *s = parley_client_new("https://h:1", NULL);
        parley_client *w = parley_client_new("wss://h:1/ws", NULL);
        parley_client *p = parley_client_new("ws://h:1", NULL);
        struct parley_tls_opts o = {0};
        int bad, plain;
        o.ca_file = "/nonexistent/ca.pem";
        bad = parley_set_tls(s, &o);
        plain = parley_set_tls(p, &o); /* a plain client never reads it */
        ok(s && w && bad == PARLEY_ERR_TLS && strstr(parley_error_message(s), "/nonexistent/ca.pem") &&
               !strcmp(parley_error_code(s), "tls") && plain == PARLEY_OK &&
               parley_set_tls(w, NULL) == PARLEY_OK && parley_set_tls(NULL, NULL) == PARLEY_ERR_INVAL &&
               strstr(parley_strerror(PARLEY_ERR_TLS), "TLS"),
           "https and wss clients are created; parley_set_tls checks its CA file", NULL);
        parley_client_destroy(s);
        parley_client_destroy(w);
        parley_client_destroy(p);
    }
    {
        const char *good[] = {"http://h:1", "ws://h:1", "ws://h:1/ws", "ws://[::1]:8080/ws",
                              "HTTP://127.0.0.1:8080/", "ws://h:1/ws?token=abc"};
        int all = 1;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            parley_client *g = parley_client_new(good[i], NULL);
            all = all && g;
            parley_client_destroy(g);
        }
        ok(all, "good URLs are accepted", NULL);
    }

    rc = parley_message_parse("{\"message\":{\"id\":7,\"room\":\"r\",\"seq\":3,\"user\":\"u\","
                              "\"name\":\"U\",\"text\":\"hi \\u00e9\",\"ts\":1700000000000,"
                              "\"client_msg_id\":null,\"reply_to\":5,\"deleted\":false}}",
                              &m);
    ok(rc == PARLEY_OK && m && m->id == 7 && m->seq == 3 && strcmp(m->room, "r") == 0 &&
           strcmp(m->name, "U") == 0 && strcmp(m->text, "hi \xc3\xa9") == 0 &&
           m->ts == 1700000000000LL && m->client_msg_id == NULL && m->reply_to == 5 &&
           !m->deleted,
       "a message:new data object parses", NULL);
    parley_message_free(m);
    rc = parley_message_parse("{\"id\":1,\"room\":\"r\",\"seq\":1,\"user\":\"u\",\"text\":\"\","
                              "\"client_msg_id\":\"k\",\"deleted\":true}",
                              &m);
    ok(rc == PARLEY_OK && m && strcmp(m->name, "u") == 0 && m->client_msg_id &&
           strcmp(m->client_msg_id, "k") == 0 && m->deleted && m->reply_to == 0,
       "a bare message object parses; name falls back to the user", NULL);
    parley_message_free(m);
    rc = parley_message_parse("{\"id\":9007199254740991,\"room\":\"r\",\"seq\":9007199254740990}", &m);
    ok(rc == PARLEY_OK && m && m->id == 9007199254740991LL && m->seq == 9007199254740990LL &&
           strcmp(m->text, "") == 0 && strcmp(m->user, "") == 0,
       "ids up to 2^53-1 are exact; missing strings are empty", NULL);
    parley_message_free(m);
    m = (struct parley_message *)&rc;
    ok(parley_message_parse("{\"id\":\"x\",\"room\":\"r\",\"seq\":1}", &m) == PARLEY_ERR_PROTOCOL &&
           m == NULL && parley_message_parse("nope", &m) == PARLEY_ERR_PROTOCOL &&
           parley_message_parse("{\"room\":\"r\",\"seq\":1}", &m) == PARLEY_ERR_PROTOCOL &&
           parley_message_parse(NULL, &m) == PARLEY_ERR_INVAL,
       "malformed messages are refused", NULL);
    parley_message_free(NULL);
    parley_messages_free(NULL, 0);

    check_parsers();

    c = parley_client_new(CLOSED_URL, NULL);
    ok(c != NULL, "a client is created without connecting", NULL);
    ok(!parley_is_connected(c) && parley_socket(c) == -1 && !parley_want_write(c) &&
           parley_http_status(c) == 0 && parley_close_code(c) == 0 &&
           strcmp(parley_close_reason(c), "") == 0 && strcmp(parley_error_code(c), "") == 0,
       "a new client is idle", NULL);
    ok(parley_set_token(c, "abc.def.ghi") == PARLEY_OK &&
           parley_set_token(c, "abc\r\nX-Evil: 1") == PARLEY_ERR_INVAL &&
           parley_set_token(c, NULL) == PARLEY_OK,
       "tokens that could break the header are refused", NULL);

    ok(parley_join(c, "bad room!", 0, 100) == PARLEY_ERR_INVAL &&
           parley_send(c, "r", "", NULL, 100, &out) == PARLEY_ERR_INVAL && out == NULL &&
           parley_send(c, "r", "\xff", NULL, 100, NULL) == PARLEY_ERR_INVAL &&
           parley_history(c, "r", -1, 0, 100, &out, &n, &has_more) == PARLEY_ERR_INVAL &&
           parley_history(c, "r", 0, 101, 100, &out, &n, &has_more) == PARLEY_ERR_INVAL &&
           parley_request(c, "", NULL, 100, NULL) == PARLEY_ERR_INVAL &&
           parley_request(c, "x", "[1]", 100, NULL) == PARLEY_ERR_INVAL,
       "bad arguments are refused before anything is sent", NULL);
    ok(n == 0 && has_more == 0 && out == NULL, "out-parameters are cleared on failure", NULL);
    ok(parley_join(c, "r", 0, 100) == PARLEY_ERR_NOT_CONNECTED &&
           parley_send_async(c, "r", "x", NULL, NULL, NULL) == PARLEY_ERR_NOT_CONNECTED &&
           parley_send_text(c, "{}", 2) == PARLEY_ERR_NOT_CONNECTED &&
           parley_loop(c, 0) == PARLEY_ERR_NOT_CONNECTED &&
           parley_loop_read(c) == PARLEY_ERR_NOT_CONNECTED,
       "calls that need a connection say so", NULL);
    check_room_calls_offline(c);
    rc = parley_connect(c, 2000);
    ok(rc == PARLEY_ERR_CONNECT, "connecting to a closed port fails with PARLEY_ERR_CONNECT", NULL);
    ok(parley_loop_start(c) == PARLEY_OK && parley_loop_start(c) == PARLEY_ERR_INVAL &&
           parley_loop(c, 0) == PARLEY_ERR_INVAL && parley_loop_stop(c) == PARLEY_OK &&
           parley_loop_stop(c) == PARLEY_ERR_INVAL,
       "the loop thread starts and stops once", NULL);
    parley_disconnect(c);
    parley_client_destroy(c);
    parley_client_destroy(NULL);

    memset(&res, 0x55, sizeof(res));
    rc = parley_login(CLOSED_URL, "user", "password", 2000, &res);
    ok(rc == PARLEY_ERR_HTTP && res.token == NULL && res.http_status == 0 &&
           res.body_json == NULL,
       "login to a closed port fails with PARLEY_ERR_HTTP", NULL);
    parley_auth_result_clear(&res);
    parley_auth_result_clear(NULL);
    ok(parley_register("ftp://127.0.0.1:1", "u", "p", 100, &res) == PARLEY_ERR_INVAL &&
           parley_register(CLOSED_URL, NULL, "p", 100, &res) == PARLEY_ERR_INVAL,
       "register refuses bad arguments", NULL);
    /* Nothing listens: a connect failure, not a TLS one. */
    ok(parley_login_tls("https://127.0.0.1:1", "u", "p", 2000, NULL, &res) == PARLEY_ERR_HTTP,
       "login over https to a closed port fails with PARLEY_ERR_HTTP", NULL);
    parley_auth_result_clear(&res);

    printf("1..%d\n", test_no);
    return failed ? 1 : 0;
}
