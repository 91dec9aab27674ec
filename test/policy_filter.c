/* fstab_user filters: parsing the string and list forms, matching, negation, errors. */
#include "config.h"

#include <string.h>

#include "policy/policy.h"
#include "tap.h"

static bool match(const char *text, const char *const *groups, size_t n)
{
    struct filter f = {0};
    struct err e;
    bool m;

    if (filter_parse(&f, text, &e) < 0) {
        diag("%s: %s", text, e.text);
        return false;
    }
    m = filter_match(&f, groups, n);
    filter_clear(&f);
    return m;
}

static void refused(const char *text, const char *want)
{
    struct filter f = {0};
    struct err e = {""};

    ok(filter_parse(&f, text, &e) < 0 && !f.present && f.count == 0,
       "\"%s\" is refused and leaves the filter empty", text);
    ok(strstr(e.text, want) != NULL, "...saying %s", want);
    if (!strstr(e.text, want))
        diag("got: %s", e.text);
}

int main(void)
{
    const char *a[] = {"alice", "A"};
    const char *ab[] = {"carol", "B", "A"};
    const char *none[] = {"dave"};
    struct filter f = {0};
    struct err e;
    char buf[64];

    ok(match("A", a, 2) && !match("A", none, 1), "a single group matches its members only");
    ok(match("A,B", ab, 3) && match("B,A", a, 2), "a list matches a member of any");
    ok(!match("~A", a, 2) && match("~A", none, 1), "~ negates");
    ok(!match("~A,B", ab, 3) && !match("~A,B", a, 2) && match("~A,B", none, 1),
       "~ negates the whole list: members of neither match");
    ok(filter_match(&f, a, 2), "an absent filter matches everyone");

    refused("~", "\"~\" must be followed by group names");
    refused("", "empty filter");
    refused("A,,B", "empty name");
    refused("A,", "empty name");
    refused(",A", "empty name");
    refused("A, B", "bad name \" B\"");
    refused("A,~B", "only the first may carry");

    ok(filter_parse(&f, "~A,B", &e) == 0, "parse ~A,B");
    filter_format(&f, buf, sizeof(buf));
    is_str(buf, "~A,B", "the string form round-trips");
    filter_clear(&f);
    ok(filter_add_name(&f, "A", &e) == 0 && filter_add_name(&f, "B", &e) == 0 && f.count == 2 &&
           !f.negate,
       "the list form adds plain names");
    ok(filter_add_name(&f, "~C", &e) < 0 && strstr(e.text, "string form"),
       "a list item cannot negate");
    filter_clear(&f);
    return done_testing();
}
