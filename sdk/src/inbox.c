/* The inbox: what the connection produced for the application (pushes,
 * async completions, the disconnect), queued under the lock and delivered
 * in arrival order by one thread at a time with the lock released, so a
 * callback may call back into the library. */
#include <stdlib.h>
#include <string.h>

#include "client.h"

void pl_inbox_push_locked(parley_client *c, struct pl_event *ev)
{
    ev->next = NULL;
    if (c->inbox_tail)
        c->inbox_tail->next = ev;
    else
        c->inbox_head = ev;
    c->inbox_tail = ev;
}

int pl_inbox_add_locked(parley_client *c, enum pl_event_type type, char *name, char *json,
                        parley_ack_cb cb, void *arg, int rc)
{
    struct pl_event *ev = calloc(1, sizeof(*ev));

    if (!ev) {
        free(name);
        free(json);
        return PARLEY_ERR_NOMEM;
    }
    ev->type = type;
    ev->name = name;
    ev->json = json;
    ev->cb = cb;
    ev->arg = arg;
    ev->rc = rc;
    pl_inbox_push_locked(c, ev);
    return PARLEY_OK;
}

static void event_free(struct pl_event *ev)
{
    free(ev->name);
    free(ev->json);
    free(ev->raw);
    free(ev);
}

void pl_inbox_clear_locked(parley_client *c)
{
    struct pl_event *ev = c->inbox_head, *next;

    for (; ev; ev = next) {
        next = ev->next;
        event_free(ev);
    }
    c->inbox_head = c->inbox_tail = NULL;
}

static void run_event(parley_client *c, const struct pl_cbs *cb, struct pl_event *ev)
{
    switch (ev->type) {
    case PL_EV_PUSH:
        /* The raw callback first, then the typed one (parley.h). */
        if (cb->push) {
            struct parley_push push = {ev->name, ev->json};
            cb->push(c, cb->userdata, &push);
        }
        if (cb->message && strcmp(ev->name, "message:new") == 0) {
            struct parley_message *m = NULL;
            /* A message:new the library cannot read still reached the push
             * callback; the typed callback only gets well-formed ones. */
            if (parley_message_parse(ev->json, &m) == PARLEY_OK) {
                m->replayed = ev->replayed;
                cb->message(c, cb->userdata, m);
                parley_message_free(m);
            }
        } else {
            pl_push_typed(c, cb, ev->name, ev->json);
        }
        break;
    case PL_EV_UNMATCHED:
        if (cb->unmatched_ack) {
            struct parley_ack ack = {ev->id, ev->rc, ev->json ? ev->json : "{}", ev->name,
                                     ev->raw ? ev->raw : ""};
            cb->unmatched_ack(c, cb->userdata, &ack);
        }
        break;
    case PL_EV_ACK:
        if (ev->cb)
            ev->cb(c, cb->userdata, ev->arg, ev->rc, ev->json);
        break;
    case PL_EV_DISCONNECT:
        if (cb->disconnect)
            cb->disconnect(c, cb->userdata, ev->rc, ev->json ? ev->json : "");
        break;
    case PL_EV_STATE:
        if (cb->state) {
            struct parley_state_event st = {ev->rc, ev->count, ev->code, ev->retry};
            cb->state(c, cb->userdata, &st);
        }
        break;
    }
}

void pl_dispatch(parley_client *c)
{
    struct pl_event *ev;
    pthread_t self = pthread_self();

    pl_lock(c);
    /* One dispatcher at a time keeps the order; with a loop thread running,
     * callbacks run on it and nowhere else. */
    if (c->dispatching || (c->loop_running && !pthread_equal(c->loop_tid, self))) {
        pl_unlock(c);
        return;
    }
    c->dispatching = 1;
    c->dispatch_tid = self;
    while ((ev = c->inbox_head) != NULL) {
        struct pl_cbs cb = {c->on_push,     c->on_message,  c->on_disconnect,
                            c->on_typing,   c->on_receipt,  c->on_deleted,
                            c->on_member,   c->on_error,    c->on_unmatched_ack,
                            c->on_presence, c->on_state,    c->userdata};
        c->inbox_head = ev->next;
        if (!c->inbox_head)
            c->inbox_tail = NULL;
        pl_unlock(c);
        run_event(c, &cb, ev);
        event_free(ev);
        pl_lock(c);
    }
    c->dispatching = 0;
    pl_unlock(c);
}
