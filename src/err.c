#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(Err *e, int code, const char *fmt, ...)
{
    if (e == NULL)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

void err_clear(Err *e)
{
    e->code = ERR_OK;
    e->msg[0] = '\0';
}
