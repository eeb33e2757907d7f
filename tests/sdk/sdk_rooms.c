/* sdk_rooms: every room and messaging event of libparley through a real
 * parleyd, with only parley.h, the way an application uses it.
 *
 *   sdk_rooms URL TOKEN_OWNER TOKEN_MEMBER TOKEN_OTHER
 *
 * Room names are made new per run; the users may be reused.
 * OWNER runs in managed mode (a loop thread: its callbacks run there), MEMBER
 * and OTHER in blocking mode (their calls, or parley_loop, drive the
 * socket). The three tokens must be of three different users, none of them
 * an admin. OWNER creates a private room, invites MEMBER, and OTHER stays
 * out; they use room info/list/online, subscriptions, typing, receipts,
 * delivery status, stats and delete through the typed calls (blocking and
 * async, the async results read with the parse functions), and every typed
 * push callback. Prints TAP; exits 1 when a check fails, 2 on bad usage. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "parley.h"
#include "sdk_tap.h"

#define WAIT_MS 5000
#define T_MS 5000

/* rc and the server's error, for a failing check's detail. */
/* A refusal by the server with the given code. */
static int refused(parley_client *c, int rc, const char *code)
{
    return rc == PARLEY_ERR_SERVER && strcmp(parley_error_code(c), code) == 0;
}

/* ---- one client and what its callbacks saw ---------------------------------- */

struct slot { /* one async completion */
    int done, rc;
    char *json;
};

struct who {
    const char *label;
    parley_client *c;
    int managed;
    char user[80];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* push order: the raw callback must run just before the typed one */
    unsigned tick, raw_tick;
    char raw_event[64];
    int order_bad, order_checked;
    /* typed pushes */
    int typing_n, typing_last;
    char typing_user[80], typing_room[80];
    int receipt_delivered, receipt_read;
    int64_t receipt_msg;
    char receipt_user[80];
    int deleted_n;
    int64_t deleted_msg;
    char deleted_room[80];
    int joined_n, left_n;
    char joined_user[80], left_user[80];
    int error_n;
    char error_code[32], error_event[64];
    int error_event_null;
    int unmatched_n;
    int64_t unmatched_id;
    int unmatched_ok;
    char unmatched_code[32], unmatched_data[512];
};

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* Called first in every typed callback (lock held). */
static void typed_seen(struct who *w, const char *event)
{
    unsigned t = ++w->tick;
    w->order_checked++;
    if (w->raw_tick != t - 1 || strcmp(w->raw_event, event) != 0)
        w->order_bad++;
}

static void on_push(parley_client *c, void *ud, const struct parley_push *p)
{
    struct who *w = ud;
    pthread_mutex_lock(&w->mu);
    w->raw_tick = ++w->tick;
    copy(w->raw_event, sizeof(w->raw_event), p->event);
    pthread_mutex_unlock(&w->mu);
}

static void on_typing(parley_client *c, void *ud, const struct parley_typing *t)
{
    struct who *w = ud;
    pthread_mutex_lock(&w->mu);
    typed_seen(w, "message:typing");
    w->typing_n++;
    w->typing_last = t->typing;
    copy(w->typing_user, sizeof(w->typing_user), t->user);
    copy(w->typing_room, sizeof(w->typing_room), t->room);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void on_receipt(parley_client *c, void *ud, const struct parley_receipt *r)
{
    struct who *w = ud;
    pthread_mutex_lock(&w->mu);
    typed_seen(w, r->kind == PARLEY_RECEIPT_READ ? "message:read" : "message:delivered");
    if (r->kind == PARLEY_RECEIPT_READ)
        w->receipt_read++;
    else
        w->receipt_delivered++;
    w->receipt_msg = r->message_id;
    copy(w->receipt_user, sizeof(w->receipt_user), r->user);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void on_deleted(parley_client *c, void *ud, const struct parley_deleted *d)
{
    struct who *w = ud;
    pthread_mutex_lock(&w->mu);
    typed_seen(w, "message:deleted");
    w->deleted_n++;
    w->deleted_msg = d->message_id;
    copy(w->deleted_room, sizeof(w->deleted_room), d->room);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void on_member(parley_client *c, void *ud, const struct parley_member_event *e)
{
    struct who *w = ud;
    pthread_mutex_lock(&w->mu);
    typed_seen(w, e->joined ? "room:user-joined" : "room:user-left");
    if (e->joined) {
        w->joined_n++;
        copy(w->joined_user, sizeof(w->joined_user), e->user);
    } else {
        w->left_n++;
        copy(w->left_user, sizeof(w->left_user), e->user);
    }
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void on_error(parley_client *c, void *ud, const struct parley_error_push *e)
{
    struct who *w = ud;
    pthread_mutex_lock(&w->mu);
    typed_seen(w, "error");
    w->error_n++;
    copy(w->error_code, sizeof(w->error_code), e->code);
    copy(w->error_event, sizeof(w->error_event), e->event);
    w->error_event_null = e->event == NULL;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void on_unmatched(parley_client *c, void *ud, const struct parley_ack *a)
{
    struct who *w = ud;
    pthread_mutex_lock(&w->mu);
    w->unmatched_n++;
    w->unmatched_id = a->id;
    w->unmatched_ok = a->ok;
    copy(w->unmatched_code, sizeof(w->unmatched_code), a->error_code);
    copy(w->unmatched_data, sizeof(w->unmatched_data), a->data_json);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void on_ack(parley_client *c, void *ud, void *arg, int rc, const char *json)
{
    struct who *w = ud;
    struct slot *s = arg;
    pthread_mutex_lock(&w->mu);
    s->rc = rc;
    s->json = json ? strdup(json) : NULL;
    s->done = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits up to ms for *counter to reach at least want: a managed client's
 * loop thread does the I/O, a blocking one is driven here. */
static int wait_count(struct who *w, const int *counter, int want, int ms)
{
    struct timespec now, end;
    int r;

    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += ms / 1000;
    end.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (end.tv_nsec >= 1000000000L)
        end.tv_sec++, end.tv_nsec -= 1000000000L;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        if (w->managed)
            while (*counter < want && pthread_cond_timedwait(&w->cv, &w->mu, &end) == 0)
                ;
        r = *counter >= want;
        pthread_mutex_unlock(&w->mu);
        if (r || w->managed)
            return r;
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            return 0;
        if (parley_loop(w->c, 50) != PARLEY_OK)
            return 0;
    }
}

/* Starts nothing: waits for an async call (started with rc) to complete,
 * then returns its rc; *json (the caller's to free) gets its data. */
static int wait_slot(struct who *w, int rc, struct slot *s)
{
    if (rc != PARLEY_OK)
        return rc;
    if (!wait_count(w, &s->done, 1, WAIT_MS))
        return PARLEY_ERR_TIMEOUT;
    return s->rc;
}

static void slot_reset(struct slot *s)
{
    free(s->json);
    memset(s, 0, sizeof(*s));
}

static int who_init(struct who *w, const char *label, const char *url, const char *token,
                    int managed)
{
    memset(w, 0, sizeof(*w));
    w->label = label;
    w->managed = managed;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->c = parley_client_new(url, w);
    if (!w->c)
        return PARLEY_ERR_INVAL;
    parley_on_push(w->c, on_push);
    parley_on_typing(w->c, on_typing);
    parley_on_receipt(w->c, on_receipt);
    parley_on_deleted(w->c, on_deleted);
    parley_on_member(w->c, on_member);
    parley_on_error(w->c, on_error);
    parley_on_unmatched_ack(w->c, on_unmatched);
    parley_set_token(w->c, token);
    if (managed && parley_loop_start(w->c) != PARLEY_OK)
        return PARLEY_ERR_INVAL;
    return parley_connect(w->c, T_MS);
}

/* Learns a client's user id: alone in a fresh public room it is the only
 * member room:info lists, and the room's owner and creator. */
static void whoami(struct who *w, const char *room)
{
    struct parley_room *r = NULL;
    char what[160];
    int rc = parley_join(w->c, room, 0, T_MS);

    if (rc == PARLEY_OK)
        rc = parley_room_info(w->c, room, T_MS, &r);
    snprintf(what, sizeof(what), "%s: room_info of its own new room lists it as the owner",
             w->label);
    ok(rc == PARLEY_OK && r && r->n_members == 1 && strcmp(r->members[0].role, "owner") == 0 &&
           strcmp(r->members[0].user, r->created_by) == 0 && !r->is_private &&
           r->member_count == 1 && r->unread == -1,
       what, rcs(w->c, rc));
    if (r && r->n_members == 1)
        copy(w->user, sizeof(w->user), r->members[0].user);
    parley_room_free(r);
}

static int has_str(const char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

static const struct parley_member *find_member(const struct parley_member *m, size_t n,
                                               const char *user)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].user, user) == 0)
            return &m[i];
    return NULL;
}

static const struct parley_room *find_room(const struct parley_room *r, size_t n,
                                           const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].name, name) == 0)
            return &r[i];
    return NULL;
}

static int entry_has(const struct parley_receipt_entry *e, size_t n, const char *user)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].user, user) == 0 && e[i].ts > 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct who A, B, C;
    char room[64], scratch[3][64], nope[64], detail[600], frame[512], cmd[64];
    int rc, member = -1, subscribed = -1;
    /* Room names new on the server, whatever ran before. */
    long pid = (long)getpid() * 100000L + (long)(time(NULL) % 100000);
    struct parley_room *info = NULL, *rooms = NULL;
    struct parley_member *users = NULL;
    struct parley_strings *strs = NULL;
    struct parley_subscribe_result *sr = NULL;
    struct parley_subscription *subs = NULL;
    struct parley_delivery_status *ds = NULL;
    struct parley_message *m1 = NULL, *m2 = NULL, *hist = NULL;
    struct parley_message_stats st;
    struct parley_auth_result ar;
    struct slot s = {0, 0, NULL};
    size_t n = 0;
    int64_t seq = 0, id = 0;
    int has_more = 0;

    if (argc != 5) {
        fprintf(stderr, "usage: sdk_rooms URL TOKEN_OWNER TOKEN_MEMBER TOKEN_OTHER\n");
        return 2;
    }
    snprintf(room, sizeof(room), "sdkr-%ld-priv", pid);
    snprintf(nope, sizeof(nope), "sdkr-%ld-nope", pid);
    for (int i = 0; i < 3; i++)
        snprintf(scratch[i], sizeof(scratch[i]), "sdkr-%ld-me%d", pid, i);

    rc = who_init(&A, "owner", argv[1], argv[2], 1);
    ok(rc == PARLEY_OK, "owner connects (managed mode)", rcs(A.c, rc));
    rc = who_init(&B, "member", argv[1], argv[3], 0);
    ok(rc == PARLEY_OK, "member connects (blocking mode)", rcs(B.c, rc));
    rc = who_init(&C, "other", argv[1], argv[4], 0);
    ok(rc == PARLEY_OK, "other connects (blocking mode)", rcs(C.c, rc));
    if (failed) {
        printf("Bail out! cannot connect to %s\n", argv[1]);
        return 1;
    }
    whoami(&A, scratch[0]);
    whoami(&B, scratch[1]);
    whoami(&C, scratch[2]);
    ok(A.user[0] && B.user[0] && C.user[0] && strcmp(A.user, B.user) != 0 &&
           strcmp(B.user, C.user) != 0 && strcmp(A.user, C.user) != 0,
       "the three tokens are three users", NULL);

    /* ---- a private room, invitations --------------------------------------- */
    rc = parley_join(A.c, room, 1, T_MS);
    ok(rc == PARLEY_OK, "owner creates a private room", rcs(A.c, rc));
    rc = parley_join(B.c, room, 0, T_MS);
    ok(refused(B.c, rc, "forbidden"), "member cannot join before the invitation", rcs(B.c, rc));
    rc = parley_invite(B.c, room, C.user, T_MS);
    ok(refused(B.c, rc, "forbidden"), "a non-member cannot invite", rcs(B.c, rc));
    ok(parley_invite(A.c, room, "bad user!", T_MS) == PARLEY_ERR_INVAL &&
           parley_invite(A.c, NULL, B.user, T_MS) == PARLEY_ERR_INVAL,
       "invite refuses a bad user id or room before sending", NULL);
    rc = parley_invite(A.c, room, B.user, T_MS);
    ok(rc == PARLEY_OK, "owner invites member", rcs(A.c, rc));
    rc = parley_join(B.c, room, 0, T_MS);
    ok(rc == PARLEY_OK, "the invited member joins", rcs(B.c, rc));
    ok(wait_count(&A, &A.joined_n, 1, WAIT_MS) && strcmp(A.joined_user, B.user) == 0,
       "owner's on_member hears room:user-joined", A.joined_user);
    rc = parley_join(C.c, room, 0, T_MS);
    ok(refused(C.c, rc, "forbidden"), "other (not invited) is refused: forbidden", rcs(C.c, rc));
    rc = parley_invite(B.c, room, C.user, T_MS);
    ok(refused(B.c, rc, "forbidden"), "a member who is not the owner cannot invite",
       rcs(B.c, rc));

    /* ---- room:info, room:list, room:online ---------------------------------- */
    rc = parley_room_info(B.c, room, T_MS, &info);
    ok(rc == PARLEY_OK && info, "member gets room_info", rcs(B.c, rc));
    if (info) {
        const struct parley_member *ma = find_member(info->members, info->n_members, A.user);
        const struct parley_member *mb = find_member(info->members, info->n_members, B.user);
        snprintf(detail, sizeof(detail), "name %s private %d by %s members %" PRId64 "/%zu online %" PRId64,
                 info->name, info->is_private, info->created_by, info->member_count,
                 info->n_members, info->online_count);
        ok(strcmp(info->name, room) == 0 && info->is_private &&
               strcmp(info->created_by, A.user) == 0 && info->member_count == 2 &&
               info->n_members == 2 && info->online_count == 2 && info->last_seq == 0 &&
               info->created_at > 0,
           "room_info: name, private, creator, counts", detail);
        ok(ma && mb && strcmp(ma->role, "owner") == 0 && strcmp(mb->role, "member") == 0 &&
               strcmp(mb->status, "online") == 0 && mb->name[0],
           "room_info members: roles and status", NULL);
    }
    parley_room_free(info);
    info = NULL;
    rc = parley_room_info(C.c, room, T_MS, &info);
    ok(refused(C.c, rc, "forbidden") && info == NULL, "room_info of a non-member: forbidden",
       rcs(C.c, rc));

    rc = parley_room_list(B.c, T_MS, &rooms, &n);
    {
        const struct parley_room *r = rooms ? find_room(rooms, n, room) : NULL;
        const struct parley_room *r1 = rooms ? find_room(rooms, n, scratch[1]) : NULL;
        /* Users may come from earlier runs, with rooms of their own. */
        ok(rc == PARLEY_OK && n >= 2 && r && r1 && r->is_private && r->unread == 0 &&
               r1->unread == 0 && r->members == NULL,
           "room_list: the member's rooms with unread counts", rcs(B.c, rc));
    }
    parley_rooms_free(rooms, n);
    rooms = NULL;

    rc = parley_room_online(A.c, room, T_MS, &users, &n);
    ok(rc == PARLEY_OK && n == 2 && find_member(users, n, A.user) &&
           find_member(users, n, B.user),
       "room_online lists both connected members", rcs(A.c, rc));
    parley_members_free(users, n);
    users = NULL;

    /* ---- subscriptions ----------------------------------------------------- */
    rc = parley_subscription_status(B.c, room, T_MS, &member, &subscribed);
    ok(rc == PARLEY_OK && member == 1 && subscribed == 1,
       "subscription_status: joining subscribed", rcs(B.c, rc));
    {
        const char *list[] = {room, nope};
        rc = parley_unsubscribe(B.c, list, 2, T_MS, &strs);
        ok(rc == PARLEY_OK && strs && strs->n == 1 && has_str(strs->items, strs->n, room),
           "unsubscribe reports only what was subscribed", rcs(B.c, rc));
        parley_strings_free(strs);
        strs = NULL;
    }
    rc = parley_subscription_status(B.c, room, T_MS, &member, &subscribed);
    ok(rc == PARLEY_OK && member == 1 && subscribed == 0, "subscription_status: unsubscribed",
       rcs(B.c, rc));
    {
        const char *list[] = {room, scratch[0], "bad room!", room};
        rc = parley_subscribe(B.c, list, 4, T_MS, &sr);
        ok(rc == PARLEY_OK && sr && sr->n_subscribed == 1 &&
               has_str(sr->subscribed, sr->n_subscribed, room) && sr->n_failed == 2,
           "subscribe: one subscribed (duplicate once), two failed", rcs(B.c, rc));
        if (sr && sr->n_failed == 2) {
            int forb = 0, bad = 0;
            for (size_t i = 0; i < 2; i++) {
                forb += strcmp(sr->failed[i].room, scratch[0]) == 0 &&
                        strcmp(sr->failed[i].code, "forbidden") == 0;
                bad += strcmp(sr->failed[i].room, "bad room!") == 0 &&
                       strcmp(sr->failed[i].code, "bad_request") == 0;
            }
            ok(forb == 1 && bad == 1, "failed: forbidden (not a member), bad_request (bad name)",
               NULL);
        }
        parley_subscribe_result_free(sr);
        sr = NULL;
    }
    ok(parley_subscribe(B.c, NULL, 1, T_MS, &sr) == PARLEY_ERR_INVAL && sr == NULL &&
           parley_subscribe(B.c, (const char *const[]){room}, 0, T_MS, &sr) ==
               PARLEY_ERR_INVAL,
       "subscribe refuses no rooms before sending", NULL);
    rc = parley_subscription_details(B.c, T_MS, &subs, &n);
    {
        int found = 0;
        for (size_t i = 0; subs && i < n; i++)
            found += strcmp(subs[i].room, room) == 0 && subs[i].subscribed_at > 0 &&
                     subs[i].unread == 0;
        ok(rc == PARLEY_OK && found == 1 && n == 2,
           "subscription_details: the private room and the scratch room", rcs(B.c, rc));
    }
    parley_subscriptions_free(subs, n);
    subs = NULL;
    rc = parley_subscription_status(C.c, room, T_MS, &member, &subscribed);
    ok(refused(C.c, rc, "forbidden") && member == 0 && subscribed == 0,
       "subscription_status of a non-member: forbidden", rcs(C.c, rc));

    /* ---- typing ------------------------------------------------------------- */
    rc = parley_typing(B.c, room, 1, T_MS);
    ok(rc == PARLEY_OK, "member starts typing", rcs(B.c, rc));
    ok(wait_count(&A, &A.typing_n, 1, WAIT_MS) && A.typing_last == 1 &&
           strcmp(A.typing_user, B.user) == 0 && strcmp(A.typing_room, room) == 0,
       "owner's on_typing: member typing", A.typing_user);
    rc = parley_typing_users(A.c, room, T_MS, &strs);
    ok(rc == PARLEY_OK && strs && strs->n == 1 && strcmp(strs->items[0], B.user) == 0,
       "typing_users lists the member", rcs(A.c, rc));
    parley_strings_free(strs);
    strs = NULL;
    rc = parley_typing(B.c, room, 0, T_MS);
    ok(rc == PARLEY_OK && wait_count(&A, &A.typing_n, 2, WAIT_MS) && A.typing_last == 0,
       "member stops typing: owner's on_typing says so", rcs(B.c, rc));
    rc = parley_typing_users(A.c, room, T_MS, &strs);
    ok(rc == PARLEY_OK && strs && strs->n == 0, "typing_users is empty again", rcs(A.c, rc));
    parley_strings_free(strs);
    strs = NULL;
    rc = parley_typing(C.c, room, 1, T_MS);
    ok(refused(C.c, rc, "forbidden"), "a non-member cannot type", rcs(C.c, rc));

    /* ---- receipts ------------------------------------------------------------ */
    rc = parley_send(A.c, room, "first", NULL, T_MS, &m1);
    ok(rc == PARLEY_OK && m1, "owner sends the first message", rcs(A.c, rc));
    rc = parley_send(A.c, room, "second", NULL, T_MS, &m2);
    ok(rc == PARLEY_OK && m2, "owner sends the second message", rcs(A.c, rc));
    if (!m1 || !m2) {
        printf("Bail out! no messages to work with\n");
        return 1;
    }
    rc = parley_room_list(B.c, T_MS, &rooms, &n);
    {
        const struct parley_room *r = rooms ? find_room(rooms, n, room) : NULL;
        ok(rc == PARLEY_OK && r && r->unread == 2 && r->last_seq == 2,
           "room_list: two unread for the member", rcs(B.c, rc));
    }
    parley_rooms_free(rooms, n);
    rooms = NULL;
    rc = parley_delivery_status(A.c, m2->id, T_MS, &ds);
    ok(rc == PARLEY_OK && ds && ds->message_id == m2->id && ds->n_delivered == 0 &&
           ds->n_read == 0 && ds->n_pending == 1 && strcmp(ds->pending[0], B.user) == 0,
       "delivery_status: pending for the member", rcs(A.c, rc));
    parley_delivery_status_free(ds);
    ds = NULL;

    rc = parley_delivered(B.c, m1->id, T_MS);
    ok(rc == PARLEY_OK, "member marks the first message delivered", rcs(B.c, rc));
    ok(wait_count(&A, &A.receipt_delivered, 1, WAIT_MS) && A.receipt_msg == m1->id &&
           strcmp(A.receipt_user, B.user) == 0,
       "author's on_receipt: delivered", A.receipt_user);
    rc = parley_delivery_status(A.c, m1->id, T_MS, &ds);
    ok(rc == PARLEY_OK && ds && ds->n_delivered == 1 &&
           entry_has(ds->delivered_to, ds->n_delivered, B.user) && ds->n_read == 0 &&
           ds->n_pending == 0,
       "delivery_status: delivered to the member", rcs(A.c, rc));
    parley_delivery_status_free(ds);
    ds = NULL;
    rc = parley_delivery_status(A.c, m2->id, T_MS, &ds);
    ok(rc == PARLEY_OK && ds && ds->n_delivered == 0 && ds->n_pending == 1,
       "delivery_status: the later message is still pending", rcs(A.c, rc));
    parley_delivery_status_free(ds);
    ds = NULL;

    rc = parley_read(B.c, m2->id, T_MS, &seq);
    ok(rc == PARLEY_OK && seq == m2->seq, "member reads up to the second: last_read_seq",
       rcs(B.c, rc));
    ok(wait_count(&A, &A.receipt_read, 1, WAIT_MS) && A.receipt_msg == m2->id &&
           strcmp(A.receipt_user, B.user) == 0,
       "author's on_receipt: read", A.receipt_user);
    rc = parley_delivery_status(A.c, m1->id, T_MS, &ds);
    ok(rc == PARLEY_OK && ds && entry_has(ds->read_by, ds->n_read, B.user) &&
           entry_has(ds->delivered_to, ds->n_delivered, B.user) && ds->n_pending == 0,
       "delivery_status: read (cumulative) and delivered", rcs(A.c, rc));
    parley_delivery_status_free(ds);
    ds = NULL;
    rc = parley_delivery_status(C.c, m1->id, T_MS, &ds);
    ok(refused(C.c, rc, "not_found") && ds == NULL,
       "delivery_status for a non-member: not_found", rcs(C.c, rc));
    ok(parley_delivered(B.c, 0, T_MS) == PARLEY_ERR_INVAL &&
           parley_read(B.c, -5, T_MS, &seq) == PARLEY_ERR_INVAL && seq == 0,
       "message ids below 1 are refused before sending", NULL);

    rc = parley_message_stats(A.c, room, T_MS, &st);
    snprintf(detail, sizeof(detail), "%s; sent %" PRId64 " delivered %" PRId64 " read %" PRId64 " deleted %" PRId64,
             rcs(A.c, rc), st.sent, st.delivered, st.read, st.deleted);
    /* read: the member's pointer (2) plus the author's own (sending advances
     * it: 2). delivered likewise: reading implies delivery, one's own
     * messages included. */
    ok(rc == PARLEY_OK && st.sent == 2 && st.deleted == 0 && st.read == 4 &&
           st.delivered == 4,
       "message_stats of the room", detail);
    rc = parley_message_stats(C.c, NULL, T_MS, &st);
    ok(rc == PARLEY_OK && st.sent >= 2, "message_stats over every room (any user)",
       rcs(C.c, rc));
    rc = parley_message_stats(C.c, room, T_MS, &st);
    ok(refused(C.c, rc, "forbidden"), "message_stats of a room by a non-member: forbidden",
       rcs(C.c, rc));

    /* ---- delete ------------------------------------------------------------- */
    rc = parley_delete(B.c, m1->id, T_MS);
    ok(refused(B.c, rc, "forbidden"), "a member who is neither author nor owner cannot delete",
       rcs(B.c, rc));
    rc = parley_delete(C.c, m1->id, T_MS);
    ok(refused(C.c, rc, "not_found"), "a non-member's delete: not_found", rcs(C.c, rc));
    rc = parley_delete(A.c, m1->id, T_MS);
    ok(rc == PARLEY_OK, "the author deletes the first message", rcs(A.c, rc));
    ok(wait_count(&B, &B.deleted_n, 1, WAIT_MS) && B.deleted_msg == m1->id &&
           strcmp(B.deleted_room, room) == 0,
       "member's on_deleted hears it", NULL);
    rc = parley_history(B.c, room, 0, 10, T_MS, &hist, &n, &has_more);
    ok(rc == PARLEY_OK && n == 2 && hist[0].id == m1->id && hist[0].deleted &&
           hist[0].text[0] == '\0' && !hist[1].deleted,
       "history keeps the deleted message, empty", rcs(B.c, rc));
    parley_messages_free(hist, n);
    hist = NULL;
    rc = parley_delete(A.c, m1->id, T_MS);
    ok(rc == PARLEY_OK, "deleting it again is ok", rcs(A.c, rc));
    rc = parley_message_stats(A.c, room, T_MS, &st);
    ok(rc == PARLEY_OK && st.deleted == 1 && st.sent == 2, "message_stats counts the delete",
       rcs(A.c, rc));

    /* ---- async forms, read with the parse functions -------------------------- */
    rc = wait_slot(&B, parley_room_info_async(B.c, room, on_ack, &s), &s);
    rc = rc == PARLEY_OK ? parley_room_parse(s.json, &info) : rc;
    ok(rc == PARLEY_OK && info && strcmp(info->name, room) == 0 && info->n_members == 2 &&
           info->last_seq == 2,
       "room_info_async + parley_room_parse", rcs(B.c, rc));
    parley_room_free(info);
    info = NULL;
    slot_reset(&s);
    rc = wait_slot(&A, parley_room_list_async(A.c, on_ack, &s), &s);
    rc = rc == PARLEY_OK ? parley_rooms_parse(s.json, &rooms, &n) : rc;
    ok(rc == PARLEY_OK && find_room(rooms, n, room) && find_room(rooms, n, room)->unread == 0,
       "room_list_async + parley_rooms_parse (the author has nothing unread)", rcs(A.c, rc));
    parley_rooms_free(rooms, n);
    rooms = NULL;
    slot_reset(&s);
    rc = wait_slot(&B, parley_room_online_async(B.c, room, on_ack, &s), &s);
    rc = rc == PARLEY_OK ? parley_members_parse(s.json, &users, &n) : rc;
    ok(rc == PARLEY_OK && n == 2, "room_online_async + parley_members_parse", rcs(B.c, rc));
    parley_members_free(users, n);
    users = NULL;
    slot_reset(&s);
    {
        const char *list[] = {room};
        rc = wait_slot(&B, parley_unsubscribe_async(B.c, list, 1, on_ack, &s), &s);
        rc = rc == PARLEY_OK ? parley_strings_parse(s.json, "unsubscribed", &strs) : rc;
        ok(rc == PARLEY_OK && strs && strs->n == 1, "unsubscribe_async + parley_strings_parse",
           rcs(B.c, rc));
        parley_strings_free(strs);
        strs = NULL;
        slot_reset(&s);
        rc = wait_slot(&B, parley_subscribe_async(B.c, list, 1, on_ack, &s), &s);
        rc = rc == PARLEY_OK ? parley_subscribe_result_parse(s.json, &sr) : rc;
        ok(rc == PARLEY_OK && sr && sr->n_subscribed == 1 && sr->n_failed == 0,
           "subscribe_async + parley_subscribe_result_parse", rcs(B.c, rc));
        parley_subscribe_result_free(sr);
        sr = NULL;
        slot_reset(&s);
    }
    rc = wait_slot(&B, parley_subscription_status_async(B.c, room, on_ack, &s), &s);
    rc = rc == PARLEY_OK ? parley_subscription_status_parse(s.json, &member, &subscribed) : rc;
    ok(rc == PARLEY_OK && member == 1 && subscribed == 1,
       "subscription_status_async + parse", rcs(B.c, rc));
    slot_reset(&s);
    rc = wait_slot(&B, parley_subscription_details_async(B.c, on_ack, &s), &s);
    rc = rc == PARLEY_OK ? parley_subscriptions_parse(s.json, &subs, &n) : rc;
    ok(rc == PARLEY_OK && n == 2, "subscription_details_async + parley_subscriptions_parse",
       rcs(B.c, rc));
    parley_subscriptions_free(subs, n);
    subs = NULL;
    slot_reset(&s);
    rc = wait_slot(&B, parley_typing_async(B.c, room, 1, on_ack, &s), &s);
    ok(rc == PARLEY_OK && wait_count(&A, &A.typing_n, 3, WAIT_MS) && A.typing_last == 1,
       "typing_async reaches the owner", rcs(B.c, rc));
    slot_reset(&s);
    rc = wait_slot(&A, parley_typing_users_async(A.c, room, on_ack, &s), &s);
    rc = rc == PARLEY_OK ? parley_strings_parse(s.json, "users", &strs) : rc;
    ok(rc == PARLEY_OK && strs && strs->n == 1, "typing_users_async + parley_strings_parse",
       rcs(A.c, rc));
    parley_strings_free(strs);
    strs = NULL;
    slot_reset(&s);
    rc = wait_slot(&B, parley_typing_async(B.c, room, 0, on_ack, &s), &s);
    ok(rc == PARLEY_OK, "typing_async stops typing", rcs(B.c, rc));
    slot_reset(&s);

    parley_message_free(m1);
    m1 = NULL;
    rc = parley_send(A.c, room, "third", NULL, T_MS, &m1);
    ok(rc == PARLEY_OK && m1, "owner sends a third message", rcs(A.c, rc));
    if (m1) {
        rc = wait_slot(&B, parley_delivered_async(B.c, m1->id, on_ack, &s), &s);
        ok(rc == PARLEY_OK && wait_count(&A, &A.receipt_delivered, 2, WAIT_MS),
           "delivered_async: the author hears it", rcs(B.c, rc));
        slot_reset(&s);
        rc = wait_slot(&B, parley_read_async(B.c, m1->id, on_ack, &s), &s);
        rc = rc == PARLEY_OK ? parley_read_parse(s.json, &seq) : rc;
        ok(rc == PARLEY_OK && seq == m1->seq && wait_count(&A, &A.receipt_read, 2, WAIT_MS),
           "read_async + parley_read_parse; the author hears it", rcs(B.c, rc));
        slot_reset(&s);
        rc = wait_slot(&A, parley_delivery_status_async(A.c, m1->id, on_ack, &s), &s);
        rc = rc == PARLEY_OK ? parley_delivery_status_parse(s.json, &ds) : rc;
        ok(rc == PARLEY_OK && ds && ds->message_id == m1->id && ds->n_read == 1 &&
               ds->n_pending == 0,
           "delivery_status_async + parley_delivery_status_parse", rcs(A.c, rc));
        parley_delivery_status_free(ds);
        ds = NULL;
        slot_reset(&s);
        rc = wait_slot(&A, parley_message_stats_async(A.c, room, on_ack, &s), &s);
        rc = rc == PARLEY_OK ? parley_message_stats_parse(s.json, &st) : rc;
        ok(rc == PARLEY_OK && st.sent == 3 && st.deleted == 1,
           "message_stats_async + parley_message_stats_parse", rcs(A.c, rc));
        slot_reset(&s);
        rc = wait_slot(&A, parley_delete_async(A.c, m1->id, on_ack, &s), &s);
        ok(rc == PARLEY_OK && wait_count(&B, &B.deleted_n, 2, WAIT_MS) &&
               B.deleted_msg == m1->id,
           "delete_async: the member hears it", rcs(A.c, rc));
        slot_reset(&s);
    }
    rc = wait_slot(&C, parley_invite_async(C.c, room, C.user, on_ack, &s), &s);
    ok(rc == PARLEY_ERR_SERVER && s.json && strstr(s.json, "forbidden"),
       "invite_async by a non-member completes with the error object", s.json);
    slot_reset(&s);

    /* ---- request ids, unmatched acks, error pushes ---------------------------- */
    id = parley_reserve_id(B.c);
    snprintf(frame, sizeof(frame),
             "{\"id\":%" PRId64 ",\"event\":\"room:subscription-status\",\"data\":{\"room\":\"%s\"}}",
             id, room);
    rc = parley_send_text(B.c, frame, strlen(frame));
    ok(rc == PARLEY_OK && id > 0 && wait_count(&B, &B.unmatched_n, 1, WAIT_MS) &&
           B.unmatched_id == id && B.unmatched_ok == 1 && strstr(B.unmatched_data, "\"subscribed\""),
       "a raw frame with a reserved id: its ack reaches on_unmatched_ack", B.unmatched_data);
    id = parley_reserve_id(B.c) + 1000;
    snprintf(frame, sizeof(frame),
             "{\"id\":%" PRId64 ",\"event\":\"room:info\",\"data\":{\"room\":\"%s\"}}", id, nope);
    rc = parley_send_text(B.c, frame, strlen(frame));
    ok(rc == PARLEY_OK && wait_count(&B, &B.unmatched_n, 2, WAIT_MS) && B.unmatched_id == id &&
           B.unmatched_ok == 0 && strcmp(B.unmatched_code, "forbidden") == 0,
       "an application's own id: the refusal reaches on_unmatched_ack", B.unmatched_code);
    {
        int64_t rid = 0;
        rc = parley_request_async_id(B.c, "room:info", NULL, on_ack, &s, &rid);
        rc = wait_slot(&B, rc, &s);
        ok(rid > id && rc == PARLEY_ERR_SERVER,
           "parley_request_async_id: the id, past the application's", NULL);
        slot_reset(&s);
    }
    snprintf(frame, sizeof(frame), "{\"event\":\"room:info\",\"data\":{\"room\":\"%s\"}}", nope);
    rc = parley_send_text(B.c, frame, strlen(frame));
    ok(rc == PARLEY_OK && wait_count(&B, &B.error_n, 1, WAIT_MS) &&
           strcmp(B.error_code, "forbidden") == 0 && strcmp(B.error_event, "room:info") == 0,
       "a request without id fails as an error push: on_error", B.error_code);

    /* ---- leaving ------------------------------------------------------------- */
    rc = parley_leave(B.c, room, T_MS);
    ok(rc == PARLEY_OK && wait_count(&A, &A.left_n, 1, WAIT_MS) &&
           strcmp(A.left_user, B.user) == 0,
       "member leaves: owner's on_member hears room:user-left", rcs(B.c, rc));

    pthread_mutex_lock(&A.mu);
    snprintf(detail, sizeof(detail), "owner %d/%d, member %d/%d out of order", A.order_bad,
             A.order_checked, B.order_bad, B.order_checked);
    ok(A.order_bad == 0 && B.order_bad == 0 && A.order_checked >= 8 && B.order_checked >= 3,
       "each typed callback ran right after the raw push callback", detail);
    pthread_mutex_unlock(&A.mu);

    /* ---- accounts: the response body ------------------------------------------ */
    snprintf(cmd, sizeof(cmd), "sdkrooms%ld", pid);
    rc = parley_register(argv[1], cmd, "sdk-rooms-password", T_MS, &ar);
    ok(rc == PARLEY_OK && ar.token && ar.body_json && strstr(ar.body_json, "\"token\""),
       "register: body_json holds the response", ar.body_json);
    parley_auth_result_clear(&ar);
    ok(ar.token == NULL && ar.body_json == NULL, "parley_auth_result_clear frees and clears",
       NULL);
    rc = parley_register(argv[1], cmd, "sdk-rooms-password", T_MS, &ar);
    ok(rc == PARLEY_ERR_SERVER && ar.http_status == 409 && ar.body_json &&
           strstr(ar.body_json, "\"conflict\"") && strcmp(ar.error_code, "conflict") == 0,
       "register again: 409, the error body in body_json", ar.body_json);
    parley_auth_result_clear(&ar);
    parley_auth_result_clear(&ar);

    parley_message_free(m1);
    parley_message_free(m2);
    parley_client_destroy(A.c);
    parley_client_destroy(B.c);
    parley_client_destroy(C.c);
    printf("1..%d\n", test_no);
    return failed ? 1 : 0;
}
