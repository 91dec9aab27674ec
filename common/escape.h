/* Text that reaches a log or a terminal: control bytes (a newline in a file name, an escape
 * sequence) are written as \xNN, so one message stays one line and cannot forge another. */
#ifndef ISO_ESCAPE_H
#define ISO_ESCAPE_H

#include <stddef.h>

/* Copy SRC to DST (SIZE bytes, always terminated) with every byte below 0x20 and 0x7f written as
 * \xNN. An escape is never cut in half. Returns DST. */
char *esc_ctl(char *dst, size_t size, const char *src);

#endif
