/* Shell-like splitting of a command line into words. Pure functions: no
 * I/O, no context, so they can be unit tested on their own. */
#ifndef PARLEY_CLI_WORDS_H
#define PARLEY_CLI_WORDS_H

#include <stddef.h>

struct words {
    size_t n;
    char **v;         /* n malloc'd words, then NULL */
    const char *rest; /* with a limit: the unsplit text after the last word */
};

/* Splits line at blanks. "double" and 'single' quotes group blanks into a
 * word and are removed; inside double quotes \" and \\ stand for " and \.
 * Words touching quotes join ("a"'b'c is one word abc).
 *
 * max < 0 splits the whole line. max >= 0 stops after max words and points
 * w->rest at the remaining text (leading blanks skipped), which is not
 * examined at all, so it may hold unbalanced quotes.
 *
 * Returns 0, or -1 with *err set when a quote is not closed; w is then
 * empty. Free with words_free. */
int words_split(const char *line, int max, struct words *w, const char **err);
void words_free(struct words *w);

/* The text argument of `raw` and `send-text`: the rest of the line as
 * typed, so JSON needs no extra quoting. When the whole rest is one quoted
 * word ('{"a":1}'), the quotes are removed as the shell would. Returns a
 * malloc'd string, NULL only when out of memory. */
char *words_rest_text(const char *rest);

/* Joins words v[0..n) with single spaces; malloc'd, NULL when out of
 * memory. */
char *words_join(char *const *v, size_t n);

#endif
