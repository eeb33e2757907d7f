/* sdk_offline_recovery: the presence, connection-recovery and reconnect
 * parts of libparley that need no server: the parse functions on good and
 * bad shapes, argument checks, the errors of the calls with nothing to talk
 * to, the state names, the counters, and what a refused first connect does
 * (nothing automatic).
 *
 *   sdk_offline_recovery
 *
 * Prints TAP; exits 1 when a check fails. Needs no network beyond
 * connecting to a closed port on 127.0.0.1. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "parley.h"
#include "sdk_tap.h"

#define CLOSED_URL "http://127.0.0.1:1"

static void check_parsers(void)
{
    struct parley_user_status *us = NULL;
    struct parley_presence *p = NULL;
    struct parley_session *s = NULL;
    struct parley_recover_result *r = NULL;
    struct parley_session_info *si = NULL;
    struct parley_presence_stats ps;
    struct parley_connection_stats cs;
    struct parley_message *m = NULL;

    ok(parley_user_status_parse("{\"user\":\"ann\",\"status\":\"away\",\"last_seen\":null,"
                                "\"connections\":2}",
                                &us) == PARLEY_OK &&
           us && strcmp(us->user, "ann") == 0 && strcmp(us->status, "away") == 0 &&
           us->last_seen == -1 && us->connections == 2,
       "user_status_parse: last_seen null is -1", NULL);
    parley_user_status_free(us);
    us = NULL;
    ok(parley_user_status_parse("{\"user\":\"ann\",\"status\":\"offline\",\"last_seen\":"
                                "1700000000123,\"connections\":0}",
                                &us) == PARLEY_OK &&
           us->last_seen == 1700000000123LL && us->connections == 0,
       "user_status_parse: last_seen in ms", NULL);
    parley_user_status_free(us);
    us = (struct parley_user_status *)&test_no;
    ok(parley_user_status_parse("{\"status\":\"online\"}", &us) == PARLEY_ERR_PROTOCOL &&
           us == NULL &&
           parley_user_status_parse("{\"user\":\"ann\"}", &us) == PARLEY_ERR_PROTOCOL &&
           parley_user_status_parse("{\"user\":\"a\",\"status\":\"x\",\"last_seen\":\"y\"}",
                                    &us) == PARLEY_ERR_PROTOCOL &&
           parley_user_status_parse("[]", &us) == PARLEY_ERR_PROTOCOL &&
           parley_user_status_parse(NULL, &us) == PARLEY_ERR_INVAL &&
           parley_user_status_parse("{}", NULL) == PARLEY_ERR_INVAL,
       "user_status_parse refuses what is not a user status", NULL);

    ok(parley_presence_parse("{\"user\":\"bob\",\"status\":\"busy\",\"last_seen\":null}", &p) ==
               PARLEY_OK &&
           strcmp(p->name, "bob") == 0 && strcmp(p->status, "busy") == 0 && p->last_seen == -1,
       "presence_parse: the name falls back to the user, last_seen null is -1", NULL);
    parley_presence_free(p);
    ok(parley_presence_parse("{\"user\":\"bob\",\"name\":\"Bob\",\"status\":\"offline\","
                             "\"last_seen\":5}",
                             &p) == PARLEY_OK &&
           strcmp(p->name, "Bob") == 0 && p->last_seen == 5,
       "presence_parse: name and last_seen", NULL);
    parley_presence_free(p);
    ok(parley_presence_parse("{\"user\":\"bob\"}", &p) == PARLEY_ERR_PROTOCOL && p == NULL,
       "presence_parse refuses a push without status", NULL);

    ok(parley_session_parse("{\"session_token\":\"abc\",\"expires_in\":120}", &s) == PARLEY_OK &&
           strcmp(s->session_token, "abc") == 0 && s->expires_in == 120,
       "session_parse", NULL);
    parley_session_free(s);
    ok(parley_session_parse("{\"expires_in\":120}", &s) == PARLEY_ERR_PROTOCOL &&
           parley_session_parse("{\"session_token\":7}", &s) == PARLEY_ERR_PROTOCOL && s == NULL,
       "session_parse refuses a missing or non-string token", NULL);

    ok(parley_recover_result_parse("{\"recovered\":true,\"session_token\":\"n\",\"rooms\":"
                                   "[\"a\",\"b\"],\"missed\":3}",
                                   &r) == PARLEY_OK &&
           r->recovered && strcmp(r->session_token, "n") == 0 && r->n_rooms == 2 &&
           strcmp(r->rooms[1], "b") == 0 && r->missed == 3,
       "recover_result_parse: recovered, successor, rooms, missed", NULL);
    parley_recover_result_free(r);
    ok(parley_recover_result_parse("{\"recovered\":false,\"session_token\":\"n\",\"rooms\":[],"
                                   "\"missed\":1001}",
                                   &r) == PARLEY_OK &&
           !r->recovered && r->n_rooms == 0 && r->rooms == NULL && r->missed == 1001,
       "recover_result_parse: recovered false, no rooms", NULL);
    parley_recover_result_free(r);
    ok(parley_recover_result_parse("{\"recovered\":1,\"rooms\":[]}", &r) ==
               PARLEY_ERR_PROTOCOL &&
           parley_recover_result_parse("{\"recovered\":true,\"rooms\":[1]}", &r) ==
               PARLEY_ERR_PROTOCOL &&
           r == NULL,
       "recover_result_parse refuses a non-bool recovered and non-string rooms", NULL);

    ok(parley_session_info_parse("{\"session_id\":\"s1\",\"rooms\":[\"x\"],\"created_at\":10,"
                                 "\"expires_at\":null,\"state\":\"active\"}",
                                 &si) == PARLEY_OK &&
           strcmp(si->session_id, "s1") == 0 && si->n_rooms == 1 && si->created_at == 10 &&
           si->expires_at == -1 && strcmp(si->state, "active") == 0,
       "session_info_parse: expires_at null is -1", NULL);
    parley_session_info_free(si);
    ok(parley_session_info_parse("{\"session_id\":42,\"rooms\":[],\"created_at\":1,"
                                 "\"expires_at\":99,\"state\":\"detached\"}",
                                 &si) == PARLEY_OK &&
           strcmp(si->session_id, "42") == 0 && si->expires_at == 99,
       "session_info_parse: an integer id is read as its decimal text", NULL);
    parley_session_info_free(si);
    ok(parley_session_info_parse("{\"rooms\":[]}", &si) == PARLEY_ERR_PROTOCOL && si == NULL,
       "session_info_parse refuses a missing id", NULL);

    ok(parley_presence_stats_parse("{\"online\":1,\"away\":2,\"busy\":3,\"users\":7,"
                                   "\"connections\":9}",
                                   &ps) == PARLEY_OK &&
           ps.online == 1 && ps.away == 2 && ps.busy == 3 && ps.users == 7 &&
           ps.connections == 9,
       "presence_stats_parse", NULL);
    ok(parley_presence_stats_parse("{\"online\":1}", &ps) == PARLEY_ERR_PROTOCOL &&
           ps.online == 0 && parley_presence_stats_parse("{}", NULL) == PARLEY_ERR_INVAL,
       "presence_stats_parse refuses a partial object and clears the output", NULL);
    ok(parley_connection_stats_parse("{\"active_sessions\":1,\"recovered\":2,\"failed\":3,"
                                     "\"expired\":4,\"queued\":5}",
                                     &cs) == PARLEY_OK &&
           cs.active_sessions == 1 && cs.recovered == 2 && cs.failed == 3 && cs.expired == 4 &&
           cs.queued == 5,
       "connection_stats_parse", NULL);
    ok(parley_connection_stats_parse("{\"active_sessions\":1.5,\"recovered\":2,\"failed\":3,"
                                     "\"expired\":4,\"queued\":5}",
                                     &cs) == PARLEY_ERR_PROTOCOL &&
           parley_connection_stats_parse(NULL, &cs) == PARLEY_ERR_INVAL,
       "connection_stats_parse refuses a non-integer", NULL);

    ok(parley_message_parse("{\"id\":1,\"room\":\"r\",\"seq\":1}", &m) == PARLEY_OK &&
           m->replayed == 0,
       "a parsed message is not replayed", NULL);
    parley_message_free(m);

    parley_user_status_free(NULL);
    parley_session_free(NULL);
    parley_recover_result_free(NULL);
    parley_session_info_free(NULL);
    parley_presence_free(NULL);
    ok(1, "the free functions take NULL", NULL);
}

static void check_names(void)
{
    ok(strcmp(parley_state_name(PARLEY_STATE_CONNECTING), "connecting") == 0 &&
           strcmp(parley_state_name(PARLEY_STATE_CONNECTED), "connected") == 0 &&
           strcmp(parley_state_name(PARLEY_STATE_RECOVERING), "recovering") == 0 &&
           strcmp(parley_state_name(PARLEY_STATE_RECOVERED), "recovered") == 0 &&
           strcmp(parley_state_name(PARLEY_STATE_SESSION_LOST), "session_lost") == 0 &&
           strcmp(parley_state_name(PARLEY_STATE_DISCONNECTED), "disconnected") == 0 &&
           strcmp(parley_state_name(0), "unknown") == 0 &&
           strcmp(parley_state_name(99), "unknown") == 0,
       "parley_state_name names every state", NULL);
}

static int states_seen;

static void on_state(parley_client *c, void *ud, const struct parley_state_event *s)
{
    states_seen++;
}

static void check_calls(void)
{
    parley_client *c = parley_client_new(CLOSED_URL, NULL);
    struct parley_client_stats st;
    struct parley_member *users = (struct parley_member *)&test_no;
    struct parley_user_status *us = (struct parley_user_status *)&test_no;
    struct parley_session *s = (struct parley_session *)&test_no;
    struct parley_recover_result *r = (struct parley_recover_result *)&test_no;
    struct parley_session_info *si = (struct parley_session_info *)&test_no;
    struct parley_presence_stats ps;
    struct parley_connection_stats cs;
    struct parley_last_seq ls[2] = {{"general", 3}, {"bad name!", 1}};
    size_t n = 9;
    struct timespec pause = {0, 300 * 1000000L};

    ok(c != NULL, "client for a closed port", NULL);
    if (!c)
        return;
    ok(parley_stats(c, &st) == PARLEY_OK && st.drops == 0 && st.reconnects == 0 &&
           st.recovered == 0 && st.sessions_lost == 0 && st.replayed == 0 &&
           st.duplicates_dropped == 0 && st.retried == 0 && st.sessions == 0,
       "parley_stats of a new client: all zero", NULL);
    ok(parley_stats(NULL, &st) == PARLEY_ERR_INVAL && parley_stats(c, NULL) == PARLEY_ERR_INVAL,
       "parley_stats checks its arguments", NULL);
    ok(parley_set_reconnect(NULL, 1, 0, 0) == PARLEY_ERR_INVAL &&
           parley_set_reconnect(c, 1, 500, 100) == PARLEY_ERR_INVAL &&
           parley_set_reconnect(c, 1, 0, 50) == PARLEY_ERR_INVAL &&
           parley_set_reconnect(c, 1, 20, 40) == PARLEY_OK,
       "set_reconnect: max below min (the 1 s default min too) is INVAL", NULL);
    ok(parley_set_offline_policy(NULL, PARLEY_OFFLINE_WAIT) == PARLEY_ERR_INVAL &&
           parley_set_offline_policy(c, -1) == PARLEY_ERR_INVAL &&
           parley_set_offline_policy(c, PARLEY_OFFLINE_WAIT) == PARLEY_OK,
       "set_offline_policy checks its arguments", NULL);
    parley_on_state(c, on_state);
    parley_on_token(c, NULL);
    parley_on_presence(c, NULL);
    parley_on_state(NULL, on_state);
    parley_on_token(NULL, NULL);
    parley_on_presence(NULL, NULL);

    /* Argument checks come first, then the missing connection. WAIT does
     * not queue: no connection is coming. */
    ok(parley_update_status(c, "gone", 100) == PARLEY_ERR_INVAL &&
           parley_update_status(c, "busy", 100) == PARLEY_ERR_NOT_CONNECTED &&
           parley_update_status_async(c, "away", NULL, NULL) == PARLEY_ERR_NOT_CONNECTED,
       "update_status: INVAL for a bad status, NOT_CONNECTED offline", NULL);
    ok(parley_online_users(c, "bad name!", 100, &users, &n) == PARLEY_ERR_INVAL &&
           users == NULL && n == 0 &&
           parley_online_users(c, NULL, 100, &users, &n) == PARLEY_ERR_NOT_CONNECTED &&
           parley_online_users_async(c, "general", NULL, NULL) == PARLEY_ERR_NOT_CONNECTED,
       "online_users: INVAL for a bad room, NOT_CONNECTED offline", NULL);
    ok(parley_user_status(c, "", 100, &us) == PARLEY_ERR_INVAL && us == NULL &&
           parley_user_status(c, "ann", 100, &us) == PARLEY_ERR_NOT_CONNECTED &&
           parley_user_status_async(c, NULL, NULL, NULL) == PARLEY_ERR_INVAL,
       "user_status: INVAL for no user, NOT_CONNECTED offline", NULL);
    ok(parley_presence_stats(c, 100, &ps) == PARLEY_ERR_NOT_CONNECTED &&
           parley_presence_stats(NULL, 100, &ps) == PARLEY_ERR_INVAL &&
           parley_presence_stats_async(c, NULL, NULL) == PARLEY_ERR_NOT_CONNECTED,
       "presence_stats offline", NULL);
    ok(parley_create_session(c, 100, &s) == PARLEY_ERR_NOT_CONNECTED && s == NULL &&
           parley_create_session_async(c, NULL, NULL) == PARLEY_ERR_NOT_CONNECTED,
       "create_session offline", NULL);
    ok(parley_recover(c, "tok", ls, 2, 100, &r) == PARLEY_ERR_INVAL && r == NULL &&
           parley_recover(c, "tok", ls, 1, 100, &r) == PARLEY_ERR_NOT_CONNECTED &&
           parley_recover(c, "tok", NULL, 0, 100, &r) == PARLEY_ERR_NOT_CONNECTED &&
           parley_recover(NULL, "tok", NULL, 0, 100, &r) == PARLEY_ERR_INVAL &&
           parley_recover_async(c, "", NULL, 0, NULL, NULL) == PARLEY_ERR_INVAL &&
           parley_recover_async(c, "tok", ls, 1, NULL, NULL) == PARLEY_ERR_NOT_CONNECTED,
       "recover: INVAL for a bad room or an empty token, NOT_CONNECTED offline", NULL);
    ok(parley_session_info(c, 100, &si) == PARLEY_ERR_NOT_CONNECTED && si == NULL &&
           parley_session_info_async(c, NULL, NULL) == PARLEY_ERR_NOT_CONNECTED &&
           parley_connection_stats(c, 100, &cs) == PARLEY_ERR_NOT_CONNECTED &&
           parley_connection_stats_async(c, NULL, NULL) == PARLEY_ERR_NOT_CONNECTED,
       "session_info and connection_stats offline", NULL);

    /* A first connect that fails is the application's to retry: nothing
     * automatic follows it. */
    ok(parley_loop_start(c) == PARLEY_OK, "loop thread starts", NULL);
    ok(parley_connect(c, 2000) == PARLEY_ERR_CONNECT, "connect to a closed port fails", NULL);
    nanosleep(&pause, NULL);
    parley_stats(c, &st);
    ok(states_seen == 0 && st.drops == 0 && st.reconnects == 0 && !parley_is_connected(c),
       "no reconnect attempt after a refused first connect", NULL);
    parley_disconnect(c);
    ok(parley_set_reconnect(c, 0, 0, 0) == PARLEY_OK, "reconnect off again", NULL);
    parley_client_destroy(c);
    ok(1, "destroy with the loop thread running", NULL);
}

int main(void)
{
    check_parsers();
    check_names();
    check_calls();
    printf("1..%d\n", test_no);
    return failed ? 1 : 0;
}
