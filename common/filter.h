/* fstab_user group and user filters: "A", "A,B", "~A,B". */
#ifndef ISO_FILTER_H
#define ISO_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "policy.h"

/* Parse TEXT into F (names are copied). On a syntax error ("~" alone, an empty name, a stray
 * comma, white space inside a name) F is left empty and -1 is returned with a message. */
int filter_parse(struct filter *f, const char *text, struct err *e);

/* Add NAME (a YAML list item) to F; a leading "~" is refused here: lists cannot negate. */
int filter_add_name(struct filter *f, const char *name, struct err *e);

void filter_clear(struct filter *f);

/* True if any of NAMES is in F's list, inverted when F is negated; an absent filter matches. */
bool filter_match(const struct filter *f, const char *const *names, size_t count);

/* Write F back in its string form ("~A,B"), or "" if absent. */
void filter_format(const struct filter *f, char *buf, size_t size);

#endif
