/* Diagnostics about a policy file, printed as FILE:LINE:COL: [warning: ]message. */
#ifndef ISO_DIAG_H
#define ISO_DIAG_H

#include <stddef.h>
#include <stdio.h>

enum diag_severity { DIAG_ERROR, DIAG_WARNING };

struct diag {
    enum diag_severity severity;
    int line; /* 1-based; 0 when the problem is the file as a whole */
    int col;  /* 1-based; 0 when unknown */
    char *msg;
};

struct diag_list {
    char *file; /* the name printed in front of each diagnostic */
    struct diag *v;
    size_t count;
    size_t errors;
    size_t warnings;
};

void diag_list_init(struct diag_list *d, const char *file);
void diag_list_free(struct diag_list *d);

void diag_add(struct diag_list *d, enum diag_severity sev, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Sort by position (stable) and print every diagnostic, one per line. */
void diag_print(struct diag_list *d, FILE *out);

/* Format diagnostic I into BUF as it would be printed (without the newline). */
void diag_format(const struct diag_list *d, size_t i, char *buf, size_t size);

#endif
