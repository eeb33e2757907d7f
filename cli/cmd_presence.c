/* The presence and connection-recovery commands that are one request
 * each: the builders of their data objects and the human renderings of
 * their acks (parley-protocol(7) section 4, Presence and Connection
 * recovery). Which command uses which is the table in commands.c. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "jfield.h"
#include "output.h"
#include "session.h"
#include "token.h"

static const char *plural(long long n)
{
    return n == 1 ? "" : "s";
}

/* ---- statuses ----------------------------------------------------------- */

/* The words a status is typed as, and what goes on the wire: invisible is
 * the protocol's offline while connected. */
static const struct {
    const char *word, *wire;
} status_words[] = {
    {"online", "online"}, {"away", "away"},           {"busy", "busy"},
    {"offline", "offline"}, {"invisible", "offline"},
};

const char *presence_status_wire(const char *word)
{
    for (size_t i = 0; i < sizeof status_words / sizeof status_words[0]; i++)
        if (!strcmp(word, status_words[i].word))
            return status_words[i].wire;
    return NULL;
}

const char *presence_status_word(size_t i)
{
    return i < sizeof status_words / sizeof status_words[0] ? status_words[i].word : NULL;
}

/* ---- builders: words -> data object ---------------------------------------
 * As in cmd_events.c: 0, or -1 with *why set (usage error) or NULL (out of
 * memory). */

/* status STATUS, or an alias row (away, busy, online, invisible) whose
 * name is the status. */
int build_status(const struct words *w, cJSON *data, const char **why)
{
    const char *wire = presence_status_wire(w->n > 1 ? w->v[1] : w->v[0]);

    if (!wire) {
        *why = "STATUS is online, away, busy, offline or invisible";
        return -1;
    }
    return cJSON_AddStringToObject(data, "status", wire) ? 0 : -1;
}

/* USER: a user id, checked here as the server would (bad_request). */
int build_user(const struct words *w, cJSON *data, const char **why)
{
    if (!token_valid_user(w->v[1])) {
        *why = "USER is a user id: 1 to 64 characters of [A-Za-z0-9_.@-]";
        return -1;
    }
    return cJSON_AddStringToObject(data, "user", w->v[1]) ? 0 : -1;
}

/* TOKEN [ROOM=SEQ...]: the session token, and the last seq received per
 * room as the object last_seq (only when some are given). */
int build_recover(const struct words *w, cJSON *data, const char **why)
{
    cJSON *last = NULL;

    if (!*w->v[1]) {
        *why = "TOKEN is the session token the session command printed";
        return -1;
    }
    if (!cJSON_AddStringToObject(data, "session_token", w->v[1]))
        return -1;
    for (size_t i = 2; i < w->n; i++) {
        const char *eq = strchr(w->v[i], '=');
        char *room;
        long long seq;
        int bad;

        if (!eq || eq == w->v[i] || cmd_parse_i64(eq + 1, &seq) != 0 || seq < 0 ||
            seq > CMD_ID_MAX) {
            *why = "each entry after TOKEN is ROOM=SEQ, SEQ a whole number from 0 to 2^53-1";
            return -1;
        }
        if (!last && !(last = cJSON_AddObjectToObject(data, "last_seq")))
            return -1;
        room = strndup(w->v[i], (size_t)(eq - w->v[i]));
        if (!room)
            return -1;
        bad = cJSON_GetObjectItemCaseSensitive(last, room) != NULL;
        if (!bad && cmd_add_int(last, room, seq) != 0) {
            free(room);
            return -1;
        }
        free(room);
        if (bad) {
            *why = "a room appears twice among the ROOM=SEQ entries";
            return -1;
        }
    }
    return 0;
}

/* ---- renderings of the acks for people ------------------------------------ */

/* presence:update-status: {status} */
void show_status_set(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const char *status = jf_str(ack, "status", "?");

    if (!strcmp(status, "offline"))
        out_text(ctx, "you are invisible: others see you offline");
    else
        out_text(ctx, "you are %s", status);
}

/* presence:online-users: {users: [{user, name, status}]} */
void show_who(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const cJSON *users = jf_array(ack, "users"), *u;
    const char *room = w->n > 1 ? w->v[1] : NULL;

    if (cJSON_GetArraySize(users) == 0) {
        out_text(ctx, "nobody is online%s%s", room ? " in " : "", room ? room : "");
        return;
    }
    out_text(ctx, "online%s%s:", room ? " in " : "", room ? room : "");
    cJSON_ArrayForEach(u, users)
    {
        const char *user = jf_str(u, "user", "?"), *name = jf_str(u, "name", user);
        if (strcmp(name, user) != 0)
            out_text(ctx, "  %-24s %-7s %s", user, jf_str(u, "status", "?"), name);
        else
            out_text(ctx, "  %-24s %s", user, jf_str(u, "status", "?"));
    }
}

/* presence:user-status: {user, status, last_seen, connections}. Offline
 * with connections is the user themselves, invisible. */
void show_whois(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const char *user = jf_str(ack, "user", w->v[1]);
    const char *status = jf_str(ack, "status", "?");
    const cJSON *seen = cJSON_GetObjectItemCaseSensitive(ack, "last_seen");
    long long conns = jf_int(ack, "connections");
    char when[32];

    if (strcmp(status, "offline") != 0) {
        out_text(ctx, "%s is %s (%lld connection%s)", user, status, conns, plural(conns));
        return;
    }
    if (conns > 0) {
        out_text(ctx, "%s is invisible: others see offline (%lld connection%s)", user, conns,
                 plural(conns));
        return;
    }
    if (!cJSON_IsNumber(seen)) {
        out_text(ctx, "%s is offline, never seen", user);
        return;
    }
    out_clock((long long)seen->valuedouble, when, sizeof when);
    out_text(ctx, "%s is offline, last seen %s", user, when);
}

/* presence:stats: {online, away, busy, users, connections} */
void show_presence_stats(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    long long users = jf_int(ack, "users"), conns = jf_int(ack, "connections");

    out_text(ctx, "%lld online, %lld away, %lld busy; %lld user%s connected over %lld "
                  "connection%s",
             jf_int(ack, "online"), jf_int(ack, "away"), jf_int(ack, "busy"), users,
             plural(users), conns, plural(conns));
}

/* connection:create-session: {session_token, expires_in} */
void show_session(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    long long ttl = jf_int(ack, "expires_in");

    out_text(ctx, "session token: %s", jf_str(ack, "session_token", "?"));
    out_text(ctx, "(recover it within %lld s of this connection dropping, once)", ttl);
}

/* connection:recover: {recovered, session_token, rooms, missed}. The
 * replay itself was announced (and marked) as it arrived: see session.c. */
void show_recover(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const cJSON *rooms = jf_array(ack, "rooms"), *r;
    char *list = jf_join(rooms, NULL, "no room");

    cJSON_ArrayForEach(r, rooms)
        if (cJSON_IsString(r))
            session_room_add(ctx, r->valuestring);
    out_text(ctx, "resubscribed to %s", list ? list : "?");
    out_text(ctx, "new session token: %s", jf_str(ack, "session_token", "?"));
    free(list);
}

/* connection:session-info: {session_id, rooms, created_at, expires_at,
 * state} */
void show_session_info(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(ack, "created_at");
    const cJSON *expires = cJSON_GetObjectItemCaseSensitive(ack, "expires_at");
    char *list = jf_join(jf_array(ack, "rooms"), NULL, "no room");
    char when[32] = "?", until[32];

    if (cJSON_IsNumber(created))
        out_clock((long long)created->valuedouble, when, sizeof when);
    out_text(ctx, "session %s: %s, created %s, rooms: %s", jf_str(ack, "session_id", "?"),
             jf_str(ack, "state", "?"), when, list ? list : "?");
    if (cJSON_IsNumber(expires)) {
        out_clock((long long)expires->valuedouble, until, sizeof until);
        out_text(ctx, "expires %s", until);
    }
    free(list);
}

/* connection:stats: {active_sessions, recovered, failed, expired, queued} */
void show_recovery_stats(struct cli *ctx, const struct words *w, const cJSON *ack)
{
    long long active = jf_int(ack, "active_sessions"), queued = jf_int(ack, "queued");

    out_text(ctx, "%lld active session%s; %lld recovered, %lld refused, %lld expired; %lld "
                  "message%s queued for detached sessions",
             active, plural(active), jf_int(ack, "recovered"), jf_int(ack, "failed"),
             jf_int(ack, "expired"), queued, plural(queued));
}
