#include "config.h"

#include <stdio.h>

#include "util/util.h"

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

char *esc_ctl(char *dst, size_t size, const char *src)
{
    size_t o = 0;

    if (!size)
        return dst;
    for (; src && *src; src++) {
        unsigned char c = (unsigned char)*src;
        size_t need = is_ctl(c) ? 4 : 1;
        if (o + need >= size)
            break;
        if (is_ctl(c))
            o += snprintf(dst + o, size - o, "\\x%02x", c);
        else
            dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return dst;
}
