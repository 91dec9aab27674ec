/* An error message carried from where a failure happens to the front end that shows it. */
#ifndef ISO_ERR_H
#define ISO_ERR_H

struct err {
    char text[1024];
};

/* Fill E (if not NULL) and return -1, so a failing function can `return errprintf(...)`. */
int errprintf(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like errprintf, with ": strerror(errnum)" appended. errno is preserved. */
int errprintf_errno(struct err *e, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
