/* The wire-level commands, for tests and for poking at the server: raw
 * requests, raw text frames, and waiting for pushes. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "recovery.h"
#include "session.h"

/* ---- raw frames ----------------------------------------------------------- */

/* What has arrived so far: pushes (a close counts) and acks no command
 * waited for. */
struct arrivals {
    unsigned long pushes, acks;
};

static struct arrivals arrivals_now(const struct cli *ctx)
{
    return (struct arrivals){ctx->pushes_seen, ctx->stray_acks};
}

/* Drives the connection until something arrives after `seen`, the socket
 * is gone, or the timeout. With want, only pushes count and the result is
 * 1 when one of the new pushes is named want; without, a push or an ack
 * counts and the result is 1. Else 0. */
static int wait_next(struct cli *ctx, struct arrivals seen, const char *want)
{
    long long deadline = session_now_ms() + ctx->timeout_ms;

    for (;;) {
        if (ctx->pushes_seen > seen.pushes && want)
            return session_arrived_since(ctx, seen.pushes, want);
        if (!want && (ctx->pushes_seen > seen.pushes || ctx->stray_acks > seen.acks))
            return 1;
        long long left = deadline - session_now_ms();
        if (left <= 0 || !session_alive(ctx))
            return 0;
        session_pump(ctx, left > 1000 ? 1000 : (int)left);
    }
}

/* DATA that is not a JSON object, which session_call refuses: the frame is
 * built here (it cannot be built as JSON) and sent with parley_send_text.
 *  - DATA that is not JSON: the frame carries an id, as `raw` promises; the
 *    server cannot read it from broken JSON and answers with an `error`
 *    push;
 *  - DATA that is JSON but not an object: the frame goes without an id, so
 *    the server's bad_request comes as an `error` push too (as parley(1)
 *    documents).
 * The push is printed by the push callback as it arrives. */
static int raw_as_text(struct cli *ctx, const char *event, const char *data, int with_id)
{
    cJSON *ev = cJSON_CreateString(event);
    char *evs = ev ? cJSON_PrintUnformatted(ev) : NULL, *frame = NULL;
    struct arrivals seen = arrivals_now(ctx);
    int rc, n;

    cJSON_Delete(ev);
    if (!evs)
        return cmd_nomem(ctx);
    if (with_id)
        n = asprintf(&frame, "{\"id\":%lld,\"event\":%s,\"data\":%s}",
                     (long long)parley_reserve_id(ctx->client), evs, data);
    else
        n = asprintf(&frame, "{\"event\":%s,\"data\":%s}", evs, data);
    cJSON_free(evs);
    if (n < 0)
        return cmd_nomem(ctx);
    rc = parley_send_text(ctx->client, frame, (size_t)n);
    free(frame);
    if (rc != PARLEY_OK)
        return session_report(ctx, event, rc, NULL);
    if (wait_next(ctx, seen, "error"))
        return CLI_EXIT_FAIL; /* refused; the error push is already printed */
    if (!parley_is_connected(ctx->client))
        return session_report(ctx, event, PARLEY_ERR_CLOSED, NULL);
    if (ctx->pushes_seen > seen.pushes) {
        out_errorf(ctx, "protocol", 0, "%s got no answer, only an unrelated push", event);
        return CLI_EXIT_FAIL;
    }
    out_errorf(ctx, "timeout", 0, "no answer to %s within %d ms", event, ctx->timeout_ms);
    return CLI_EXIT_FAIL;
}

int cmd_raw(struct cli *ctx, const struct command *cmd, struct words *w)
{
    const char *event = w->v[1];
    char *data = *w->rest ? words_rest_text(w->rest) : strdup("{}");
    struct cli_ack ack;
    cJSON *parsed;
    int rc, status;

    if (!data)
        return cmd_nomem(ctx);
    if ((status = session_ensure(ctx)) != CLI_EXIT_OK) {
        free(data);
        return status;
    }
    parsed = cJSON_Parse(data);
    if (!cJSON_IsObject(parsed)) {
        status = raw_as_text(ctx, event, data, parsed == NULL);
        cJSON_Delete(parsed);
        free(data);
        return status;
    }
    cJSON_Delete(parsed);
    /* A valid object: sent as typed in {"id","event","data"}, its ack
     * printed like any other. */
    rc = session_call(ctx, event, data, &ack);
    status = session_report(ctx, event, rc, &ack);
    if (status == CLI_EXIT_OK)
        out_text(ctx, "%s", ack.json ? ack.json : "{}");
    session_ack_clear(&ack);
    free(data);
    return status;
}

int cmd_send_text(struct cli *ctx, const struct command *cmd, struct words *w)
{
    char *text = words_rest_text(w->rest);
    struct arrivals seen = arrivals_now(ctx);
    int rc, status;

    if (!text)
        return cmd_nomem(ctx);
    if ((status = session_ensure(ctx)) != CLI_EXIT_OK) {
        free(text);
        return status;
    }
    rc = parley_send_text(ctx->client, text, strlen(text));
    free(text);
    if (rc != PARLEY_OK)
        return session_report(ctx, "send-text", rc, NULL);
    /* The answer, if any, is printed as it arrives: a push, or the ack of
     * a frame that carried an id. */
    wait_next(ctx, seen, NULL);
    if (!parley_is_connected(ctx->client)) {
        int code = parley_close_code(ctx->client);
        out_errorf(ctx, "closed", 0, "the server closed the connection (%d)", code);
        return CLI_EXIT_FAIL;
    }
    out_text(ctx, "ok");
    return CLI_EXIT_OK;
}

/* ---- waiting for pushes --------------------------------------------------- */

int cmd_wait(struct cli *ctx, const struct command *cmd, struct words *w)
{
    const char *event = w->v[1];
    long long timeout = ctx->timeout_ms, deadline;
    int want_close = !strcmp(event, "close");
    struct cli_push *p;
    int status;

    if (w->n == 3 && (cmd_parse_i64(w->v[2], &timeout) != 0 || timeout < 0))
        return cmd_usage(ctx, cmd, "TIMEOUT_MS must be a number of milliseconds");
    p = session_take(ctx, event);
    /* Nothing can arrive without a connection: open one, except to wait
     * for a close (which needs an open connection to mean anything). */
    if (!p && !want_close && (status = session_ensure(ctx)) != CLI_EXIT_OK)
        return status;
    deadline = session_now_ms() + timeout;
    while (!p) {
        long long left = deadline - session_now_ms();
        if (left <= 0 || !session_alive(ctx))
            break;
        session_pump(ctx, left > 1000 ? 1000 : (int)left);
        /* A lost session's catch-up may bring the push waited for. */
        recovery_idle(ctx);
        p = session_take(ctx, event);
    }
    if (p) {
        session_push_free(p);
        out_text(ctx, "ok");
        return CLI_EXIT_OK;
    }
    if (!session_alive(ctx))
        out_errorf(ctx, "closed", 0, "no '%s' push: the connection is closed", event);
    else
        out_errorf(ctx, "timeout", 0, "no '%s' push within %lld ms", event, timeout);
    return CLI_EXIT_FAIL;
}
