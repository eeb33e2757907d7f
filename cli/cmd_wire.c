/* The wire-level commands, for tests and for poking at the server: raw
 * requests, raw text frames, and waiting for pushes. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "session.h"

/* ---- raw frames ----------------------------------------------------------- */

/* Id of frames `raw` builds itself: far above what the SDK hands out, so a
 * late ack can never be taken for one of the SDK's requests. */
#define RAW_TEXT_ID 2000000000L

/* Drives the connection until more than `seen` pushes (a close counts)
 * arrived, the socket is gone, or the timeout. Returns 1 when one of the
 * new pushes is named want (any push when want is NULL), else 0. */
static int wait_next_push(struct cli *ctx, unsigned long seen, const char *want)
{
    long long deadline = session_now_ms() + ctx->timeout_ms;

    for (;;) {
        if (ctx->pushes_seen > seen)
            return want ? session_arrived_since(ctx, seen, want) : 1;
        long long left = deadline - session_now_ms();
        if (left <= 0 || !session_alive(ctx))
            return 0;
        session_pump(ctx, left > 1000 ? 1000 : (int)left);
    }
}

/* DATA that is not a JSON object, which parley_request refuses: the frame
 * is built here and sent with parley_send_text. The server's answer must
 * be something parley.h shows, and an ack to an id the SDK did not send is
 * dropped by the SDK. So:
 *  - DATA that is not JSON: the frame carries an id, as `raw` promises; the
 *    server cannot read it from broken JSON and answers with an `error`
 *    push;
 *  - DATA that is JSON but not an object: the frame goes without an id, so
 *    the server's bad_request comes as an `error` push too (with an id it
 *    would be an ack nobody could print).
 * The push is printed by the push callback as it arrives. */
static int raw_as_text(struct cli *ctx, const char *event, const char *data, int with_id)
{
    cJSON *ev = cJSON_CreateString(event);
    char *evs = ev ? cJSON_PrintUnformatted(ev) : NULL, *frame = NULL;
    unsigned long seen = ctx->pushes_seen;
    int rc, n;

    cJSON_Delete(ev);
    if (!evs) {
        out_error(ctx, "nomem", "out of memory", 0);
        return CLI_EXIT_FAIL;
    }
    if (with_id)
        n = asprintf(&frame, "{\"id\":%ld,\"event\":%s,\"data\":%s}", RAW_TEXT_ID, evs, data);
    else
        n = asprintf(&frame, "{\"event\":%s,\"data\":%s}", evs, data);
    cJSON_free(evs);
    if (n < 0) {
        out_error(ctx, "nomem", "out of memory", 0);
        return CLI_EXIT_FAIL;
    }
    rc = parley_send_text(ctx->client, frame, (size_t)n);
    free(frame);
    if (rc != PARLEY_OK)
        return session_report(ctx, event, rc, 0, NULL);
    if (wait_next_push(ctx, seen, "error"))
        return CLI_EXIT_FAIL; /* refused; the error push is already printed */
    if (!parley_is_connected(ctx->client))
        return session_report(ctx, event, PARLEY_ERR_CLOSED, 0, NULL);
    if (ctx->pushes_seen > seen) {
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
    char *ack = NULL;
    cJSON *parsed;
    long id = 0;
    int rc, status;

    if (!data) {
        out_error(ctx, "nomem", "out of memory", 0);
        return CLI_EXIT_FAIL;
    }
    if (session_ensure(ctx) != 0) {
        free(data);
        return CLI_EXIT_CONNECT;
    }
    parsed = cJSON_Parse(data);
    if (!cJSON_IsObject(parsed)) {
        status = raw_as_text(ctx, event, data, parsed == NULL);
        cJSON_Delete(parsed);
        free(data);
        return status;
    }
    cJSON_Delete(parsed);
    /* A valid object: the SDK sends {"id","event","data"} and matches the
     * ack, which is then printed like any other. */
    rc = session_call(ctx, event, data, &ack, &id);
    status = session_report(ctx, event, rc, id, ack);
    if (status == CLI_EXIT_OK)
        out_text(ctx, "%s", ack ? ack : "{}");
    parley_free(ack);
    free(data);
    return status;
}

int cmd_send_text(struct cli *ctx, const struct command *cmd, struct words *w)
{
    char *text = words_rest_text(w->rest);
    unsigned long seen = ctx->pushes_seen;
    int rc;

    if (!text) {
        out_error(ctx, "nomem", "out of memory", 0);
        return CLI_EXIT_FAIL;
    }
    if (session_ensure(ctx) != 0) {
        free(text);
        return CLI_EXIT_CONNECT;
    }
    rc = parley_send_text(ctx->client, text, strlen(text));
    free(text);
    if (rc != PARLEY_OK)
        return session_report(ctx, "send-text", rc, 0, NULL);
    wait_next_push(ctx, seen, NULL);
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

    if (w->n == 3 && (cmd_parse_i64(w->v[2], &timeout) != 0 || timeout < 0))
        return cmd_usage(ctx, cmd, "TIMEOUT_MS must be a number of milliseconds");
    p = session_take(ctx, event);
    /* Nothing can arrive without a connection: open one, except to wait
     * for a close (which needs an open connection to mean anything). */
    if (!p && !want_close && session_ensure(ctx) != 0)
        return CLI_EXIT_CONNECT;
    deadline = session_now_ms() + timeout;
    while (!p) {
        long long left = deadline - session_now_ms();
        if (left <= 0 || !session_alive(ctx))
            break;
        session_pump(ctx, left > 1000 ? 1000 : (int)left);
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
