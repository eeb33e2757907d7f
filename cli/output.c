/* JSON-lines and human output. */
#include "output.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "jfield.h"

void out_emit_default(void *hook_arg, FILE *f, const char *line)
{
    (void)hook_arg;
    fputs(line, f);
    fputc('\n', f);
    fflush(f);
}

static void emit(struct cli *ctx, FILE *f, const char *line)
{
    if (ctx->emit)
        ctx->emit(ctx->emit_arg, f, line);
    else
        out_emit_default(NULL, f, line);
}

/* Emits a JSON object and frees it. Out of memory loses the line rather
 * than printing half of one. */
static void emit_json(struct cli *ctx, cJSON *obj)
{
    char *s;

    if (!obj)
        return;
    s = cJSON_PrintUnformatted(obj);
    if (s) {
        emit(ctx, stdout, s);
        cJSON_free(s);
    }
    cJSON_Delete(obj);
}

/* Adds `json` under name: parsed when it is JSON, as a string otherwise,
 * so a line never carries broken JSON. */
static void add_json(cJSON *obj, const char *name, const char *json)
{
    cJSON *v = json ? cJSON_Parse(json) : NULL;

    if (!v)
        v = json ? cJSON_CreateString(json) : cJSON_CreateObject();
    cJSON_AddItemToObject(obj, name, v);
}

/* Writes `{"key":` + json + `}`-style lines without reparsing when the SDK
 * already handed compact JSON: this keeps the server's text (number
 * formatting, field order) as it was sent. Falls back to cJSON when the
 * text spans lines or is not JSON at all. */
static int json_is_compact(const char *json)
{
    cJSON *v;

    if (!json || strpbrk(json, "\r\n"))
        return 0;
    v = cJSON_Parse(json);
    if (!v)
        return 0;
    cJSON_Delete(v);
    return 1;
}

static void human_error(struct cli *ctx, const char *code, const char *message)
{
    char *line = NULL;

    if (asprintf(&line, "error %s: %s", code ? code : "error", message ? message : "") < 0)
        return;
    emit(ctx, stderr, line);
    free(line);
}

void out_clock(long long ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000), now = time(NULL);
    struct tm tm, today;

    if (!localtime_r(&t, &tm) || !localtime_r(&now, &today)) {
        snprintf(buf, size, "%lld", ms);
        return;
    }
    if (tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday)
        strftime(buf, size, "%H:%M:%S", &tm);
    else
        strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

/* The human form of the message object m; mark, when not NULL, goes
 * before it ("[replayed] "). */
static void human_message(struct cli *ctx, const cJSON *m, const char *mark)
{
    const cJSON *del = cJSON_GetObjectItemCaseSensitive(m, "deleted");
    const char *name = jf_str(m, "name", jf_str(m, "user", "?"));
    char *line = NULL;
    int n;

    if (!mark)
        mark = "";
    if (cJSON_IsTrue(del))
        n = asprintf(&line, "%s[%s] #%lld %s: (deleted)", mark, jf_str(m, "room", "?"),
                     jf_int(m, "seq"), name);
    else
        n = asprintf(&line, "%s[%s] #%lld %s: %s", mark, jf_str(m, "room", "?"),
                     jf_int(m, "seq"), name, jf_str(m, "text", ""));
    if (n >= 0) {
        emit(ctx, stdout, line);
        free(line);
    }
}

void out_message_human(struct cli *ctx, const char *message_json)
{
    cJSON *m;

    if (ctx->json)
        return;
    m = cJSON_Parse(message_json);
    if (m)
        human_message(ctx, m, NULL);
    cJSON_Delete(m);
}

/* Emits one printf-formatted line on stdout. */
static void emit_linef(struct cli *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit_linef(struct cli *ctx, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&line, fmt, ap) < 0)
        line = NULL;
    va_end(ap);
    if (line) {
        emit(ctx, stdout, line);
        free(line);
    }
}

/* ---- pushes for people: one function per event of parley-protocol(7)
 * section 5, d being the push's data object (fields may be missing). */

static void push_message_new(struct cli *ctx, const cJSON *d)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, "message");

    if (cJSON_IsObject(m))
        human_message(ctx, m, NULL);
    else
        emit_linef(ctx, "message:new (no message)");
}

static void push_user_joined(struct cli *ctx, const cJSON *d)
{
    emit_linef(ctx, "%s joined %s", jf_str(d, "name", jf_str(d, "user", "?")),
               jf_str(d, "room", "?"));
}

static void push_user_left(struct cli *ctx, const cJSON *d)
{
    emit_linef(ctx, "%s left %s", jf_str(d, "user", "?"), jf_str(d, "room", "?"));
}

static void push_typing(struct cli *ctx, const cJSON *d)
{
    emit_linef(ctx, "%s %s in %s", jf_str(d, "user", "?"),
               jf_true(d, "typing") ? "is typing" : "stopped typing", jf_str(d, "room", "?"));
}

static void push_delivered(struct cli *ctx, const cJSON *d)
{
    emit_linef(ctx, "\u2713 delivered #%lld to %s", jf_int(d, "message_id"),
               jf_str(d, "user", "?"));
}

static void push_read(struct cli *ctx, const cJSON *d)
{
    emit_linef(ctx, "\u2713\u2713 read by %s up to #%lld", jf_str(d, "user", "?"),
               jf_int(d, "message_id"));
}

static void push_deleted(struct cli *ctx, const cJSON *d)
{
    emit_linef(ctx, "message #%lld deleted in %s", jf_int(d, "message_id"),
               jf_str(d, "room", "?"));
}

/* presence:update: what others now see of a user. Offline (gone, or
 * invisible) says since when. */
static void push_presence(struct cli *ctx, const cJSON *d)
{
    const char *who = jf_str(d, "name", jf_str(d, "user", "?"));
    const char *status = jf_str(d, "status", "?");
    const cJSON *seen = cJSON_GetObjectItemCaseSensitive(d, "last_seen");
    char when[32];

    if (strcmp(status, "offline") != 0) {
        emit_linef(ctx, "%s is %s", who, status);
    } else if (cJSON_IsNumber(seen)) {
        out_clock((long long)seen->valuedouble, when, sizeof when);
        emit_linef(ctx, "%s went offline (last seen %s)", who, when);
    } else {
        emit_linef(ctx, "%s went offline", who);
    }
}

static void push_error(struct cli *ctx, const cJSON *d)
{
    human_error(ctx, jf_str(d, "code", "error"), jf_str(d, "message", ""));
}

static const struct {
    const char *event;
    void (*print)(struct cli *ctx, const cJSON *d);
} push_forms[] = {
    {"message:new", push_message_new},
    {"room:user-joined", push_user_joined},
    {"room:user-left", push_user_left},
    {"message:typing", push_typing},
    {"message:delivered", push_delivered},
    {"message:read", push_read},
    {"message:deleted", push_deleted},
    {"presence:update", push_presence},
    {"error", push_error},
};

/* A push of another event (or data that is not JSON) prints as
 * "EVENT DATA". A marked message (see out_push) says so first. */
static void human_push(struct cli *ctx, const char *event, const char *data_json,
                       const char *mark)
{
    cJSON *d = cJSON_Parse(data_json ? data_json : "{}");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, "message");
    char *prefix = NULL;

    if (mark && cJSON_IsObject(m) && asprintf(&prefix, "[%s] ", mark) >= 0) {
        human_message(ctx, m, prefix);
        free(prefix);
        cJSON_Delete(d);
        return;
    }
    for (size_t i = 0; d && i < sizeof push_forms / sizeof push_forms[0]; i++) {
        if (!strcmp(event, push_forms[i].event)) {
            push_forms[i].print(ctx, d);
            cJSON_Delete(d);
            return;
        }
    }
    cJSON_Delete(d);
    emit_linef(ctx, "%s%s%s%s %s", mark ? "[" : "", mark ? mark : "", mark ? "] " : "", event,
               data_json ? data_json : "{}");
}

void out_push(struct cli *ctx, const char *event, const char *data_json, const char *mark)
{
    if (!ctx->json) {
        human_push(ctx, event, data_json, mark);
        return;
    }
    if (json_is_compact(data_json)) {
        cJSON *ev = cJSON_CreateString(event);
        char *evs = ev ? cJSON_PrintUnformatted(ev) : NULL;
        char *line = NULL;
        if (evs && asprintf(&line, "{\"event\":%s,\"data\":%s%s%s%s}", evs, data_json,
                            mark ? ",\"" : "", mark ? mark : "", mark ? "\":true" : "") >= 0) {
            emit(ctx, stdout, line);
            free(line);
        }
        cJSON_free(evs);
        cJSON_Delete(ev);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", event);
    add_json(o, "data", data_json);
    if (mark)
        cJSON_AddTrueToObject(o, mark);
    emit_json(ctx, o);
}

void out_close(struct cli *ctx, int code, const char *reason)
{
    if (!ctx->json) {
        char *line = NULL;
        if (asprintf(&line, "connection closed by server: %d%s%s", code,
                     reason && *reason ? " " : "", reason ? reason : "") >= 0) {
            emit(ctx, stderr, line);
            free(line);
        }
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *d;
    cJSON_AddStringToObject(o, "event", "close");
    d = cJSON_AddObjectToObject(o, "data");
    cJSON_AddNumberToObject(d, "code", code);
    cJSON_AddStringToObject(d, "reason", reason ? reason : "");
    emit_json(ctx, o);
}

/* An ack line for --json: the frame as the server sent it when it is one
 * compact line (it always is from parleyd), else rebuilt from its parts. */
static void json_ack(struct cli *ctx, const struct cli_ack *a)
{
    cJSON *o;

    if (a->frame && json_is_compact(a->frame)) {
        emit(ctx, stdout, a->frame);
        return;
    }
    o = cJSON_CreateObject();
    if (a->id > 0) {
        char digits[24];
        snprintf(digits, sizeof digits, "%lld", a->id);
        cJSON_AddRawToObject(o, "id", digits);
    }
    cJSON_AddBoolToObject(o, "ok", a->ok == 1);
    add_json(o, a->ok == 1 ? "data" : "error", a->json);
    emit_json(ctx, o);
}

void out_ack(struct cli *ctx, const struct cli_ack *a)
{
    if (ctx->json) {
        json_ack(ctx, a);
    } else if (a->ok != 1) {
        cJSON *e = cJSON_Parse(a->json ? a->json : "{}");
        human_error(ctx, jf_str(e, "code", "error"), jf_str(e, "message", ""));
        cJSON_Delete(e);
    }
}

void out_stray_ack(struct cli *ctx, const struct cli_ack *a)
{
    if (ctx->json || a->ok != 1) {
        out_ack(ctx, a);
        return;
    }
    emit_linef(ctx, "ack of request %lld: %s", a->id, a->json ? a->json : "{}");
}

void out_http(struct cli *ctx, int ok, int status, const char *body_json, const char *code,
              const char *message)
{
    if (!ctx->json) {
        if (!ok) {
            char *m = NULL;
            if (asprintf(&m, "%s (HTTP %d)", message && *message ? message : "request failed",
                         status) >= 0) {
                human_error(ctx, code && *code ? code : "http", m);
                free(m);
            }
        }
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", ok);
    cJSON_AddNumberToObject(o, "status", status);
    if (ok) {
        add_json(o, "data", body_json);
    } else {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "code", code && *code ? code : "http");
        cJSON_AddStringToObject(e, "message", message ? message : "");
    }
    emit_json(ctx, o);
}

void out_error(struct cli *ctx, const char *code, const char *message, int status)
{
    if (!ctx->json) {
        human_error(ctx, code, message);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *e;
    cJSON_AddBoolToObject(o, "ok", 0);
    e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message ? message : "");
    if (status > 0)
        cJSON_AddNumberToObject(e, "status", status);
    emit_json(ctx, o);
}

void out_errorf(struct cli *ctx, const char *code, int status, const char *fmt, ...)
{
    char *m = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    va_end(ap);
    out_error(ctx, code, m ? m : fmt, status);
    free(m);
}

void out_ok(struct cli *ctx, const char *data_json)
{
    if (!ctx->json)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 1);
    if (data_json)
        add_json(o, "data", data_json);
    emit_json(ctx, o);
}

void out_note(struct cli *ctx, const char *fmt, ...)
{
    char *text = NULL, *line = NULL;
    va_list ap;

    if (ctx->json)
        return;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    if (text && asprintf(&line, "-- %s", text) >= 0) {
        emit(ctx, stderr, line);
        free(line);
    }
    free(text);
}

void out_text(struct cli *ctx, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;

    if (ctx->json)
        return;
    va_start(ap, fmt);
    if (vasprintf(&line, fmt, ap) < 0)
        line = NULL;
    va_end(ap);
    if (line) {
        emit(ctx, stdout, line);
        free(line);
    }
}
