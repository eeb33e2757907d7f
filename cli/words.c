/* Shell-like word splitting for parley's command lines. */
#include "words.h"

#include <stdlib.h>
#include <string.h>

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static const char *skip_blanks(const char *p)
{
    while (*p && is_blank(*p))
        p++;
    return p;
}

/* Reads one word starting at *pp (not at a blank, not at the end) into a
 * fresh buffer; advances *pp past it. Returns NULL with *err set on an
 * unclosed quote or no memory. */
static char *read_word(const char **pp, const char **err)
{
    const char *p = *pp;
    /* A word is never longer than the text it came from. */
    char *out = malloc(strlen(p) + 1);
    size_t n = 0;

    if (!out) {
        *err = "out of memory";
        return NULL;
    }
    while (*p && !is_blank(*p)) {
        if (*p == '\'') {
            const char *end = strchr(p + 1, '\'');
            if (!end) {
                *err = "unterminated ' quote";
                free(out);
                return NULL;
            }
            memcpy(out + n, p + 1, (size_t)(end - p - 1));
            n += (size_t)(end - p - 1);
            p = end + 1;
        } else if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                /* Only \" and \\ are escapes, so JSON typed inside double
                 * quotes keeps its other backslashes (\n stays \n). */
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                out[n++] = *p++;
            }
            if (*p != '"') {
                *err = "unterminated \" quote";
                free(out);
                return NULL;
            }
            p++;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    *pp = p;
    return out;
}

void words_free(struct words *w)
{
    if (w->v) {
        for (size_t i = 0; i < w->n; i++)
            free(w->v[i]);
        free(w->v);
    }
    w->v = NULL;
    w->n = 0;
    w->rest = NULL;
}

int words_split(const char *line, int max, struct words *w, const char **err)
{
    const char *p = skip_blanks(line);
    size_t cap = 8;

    w->n = 0;
    w->rest = NULL;
    w->v = malloc(cap * sizeof *w->v);
    if (!w->v) {
        *err = "out of memory";
        return -1;
    }
    w->v[0] = NULL;
    while (*p && (max < 0 || w->n < (size_t)max)) {
        char *word = read_word(&p, err);
        if (!word) {
            words_free(w);
            return -1;
        }
        /* Keep room for the word and the terminating NULL. */
        if (w->n + 2 > cap) {
            char **nv = realloc(w->v, cap * 2 * sizeof *w->v);
            if (!nv) {
                free(word);
                words_free(w);
                *err = "out of memory";
                return -1;
            }
            w->v = nv;
            cap *= 2;
        }
        w->v[w->n++] = word;
        w->v[w->n] = NULL;
        p = skip_blanks(p);
    }
    w->rest = p;
    return 0;
}

char *words_rest_text(const char *rest)
{
    const char *p = skip_blanks(rest);
    size_t len = strlen(p);

    while (len > 0 && is_blank(p[len - 1]))
        len--;
    /* One quoted word covering the whole rest: unquote it like the shell. */
    if (len >= 2 && (p[0] == '\'' || p[0] == '"') && p[len - 1] == p[0]) {
        struct words w;
        const char *err;
        if (words_split(p, -1, &w, &err) == 0) {
            if (w.n == 1) {
                char *word = w.v[0];
                w.v[0] = NULL;
                w.n = 0;
                words_free(&w);
                return word;
            }
            words_free(&w);
        }
    }
    return strndup(p, len);
}

char *words_join(char *const *v, size_t n)
{
    size_t len = 1;
    char *out, *q;

    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    out = malloc(len);
    if (!out)
        return NULL;
    q = out;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (i > 0)
            *q++ = ' ';
        memcpy(q, v[i], l);
        q += l;
    }
    *q = '\0';
    return out;
}
