/* libyaml's syntax errors, said in the policy's terms: a tab in the indentation named on every
 * line that has one, and a hint where a problem has a usual cause. */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include <yaml.h>

#include "policy_int.h"

/* Where line S (ending at END) has a tab among its leading blanks, or NULL. */
static const char *indent_tab(const char *s, const char *end)
{
    while (s < end && *s == ' ')
        s++;
    return s < end && *s == '\t' ? s : NULL;
}

/* libyaml's message for a tab in indentation is "found character that cannot start any token".
 * When it failed on or after a line indented with a tab, name every such line instead. */
static bool report_tabs(struct ctx *c, int upto_line)
{
    const char *end = c->buf + c->len;
    bool seen = false;

    for (int pass = 0; pass < 2; pass++) {
        const char *s = c->buf;
        for (int line = 1; s < end; line++) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            const char *tab = indent_tab(s, nl ? nl : end);
            if (tab && pass == 0 && line <= upto_line)
                seen = true;
            if (tab && pass == 1)
                error_at(c, (struct loc){line, (int)(tab - s) + 1},
                         "tab character in indentation; YAML indents with spaces only: replace "
                         "the tab with spaces");
            s = nl ? nl + 1 : end;
        }
        if (!seen)
            return false;
    }
    return true;
}

/* A hint for libyaml's problems that have a usual cause. */
static const char *syntax_hint(const char *problem, char at)
{
    if (strstr(problem, "cannot start any token") && (at == '%' || at == '@' || at == '`'))
        return "; quote a value that starts with %, @ or ` (as in source: \"%u\")";
    if (strstr(problem, "did not find expected key") ||
        strstr(problem, "mapping values are not allowed"))
        return "; check the indentation of this line against the lines above, and quote "
               "values that contain \": \"";
    if (strstr(problem, "did not find expected"))
        return "; check for an unclosed bracket, brace or quote";
    return "";
}

/* The byte at line LINE, column COL (1-based, columns in characters), or 0. */
static char char_at(const struct ctx *c, int line, int col)
{
    const char *s = c->buf, *end = c->buf + c->len;

    for (int l = 1; l < line && s < end; l++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        s = nl ? nl + 1 : end;
    }
    for (int k = 1; s < end && *s != '\n'; s++) {
        if (((unsigned char)*s & 0xc0) == 0x80)
            continue;
        if (k++ == col)
            return *s;
    }
    return 0;
}

void report_syntax(struct ctx *c, const yaml_parser_t *y)
{
    struct loc at = {(int)y->problem_mark.line + 1, (int)y->problem_mark.column + 1};
    const char *problem = y->problem ? y->problem : "unknown problem";

    if (y->error == YAML_MEMORY_ERROR) {
        out_of_memory(c);
        return;
    }
    if (y->error == YAML_READER_ERROR) {
        at = loc_of_offset(c->buf, c->len, y->problem_offset);
        error_at(c, at, "not valid YAML text: %s (character U+%04X); remove it", problem,
                 (unsigned)y->problem_value);
        return;
    }
    if (report_tabs(c, at.line))
        return;
    const char *hint = syntax_hint(problem, char_at(c, at.line, at.col));
    if (y->context && (y->context_mark.line != y->problem_mark.line ||
                       y->context_mark.column != y->problem_mark.column))
        error_at(c, at, "not valid YAML: %s (%s that starts at line %d, column %d)%s", problem,
                 y->context, (int)y->context_mark.line + 1, (int)y->context_mark.column + 1, hint);
    else if (y->context)
        error_at(c, at, "not valid YAML: %s (%s)%s", problem, y->context, hint);
    else
        error_at(c, at, "not valid YAML: %s%s", problem, hint);
}
