#include "ph_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *ph_strerror(int err)
{
    switch (err) {
    case PH_OK:
        return "success";
    case PH_EINVAL:
        return "invalid argument or input";
    case PH_ENOMEM:
        return "out of memory";
    case PH_EIO:
        return "input/output error";
    case PH_ENOENT:
        return "not found";
    case PH_ERANGE:
        return "out of range";
    case PH_EKAFKA:
        return "kafka error";
    case PH_EAVRO:
        return "avro error";
    case PH_EQUEUEFULL:
        return "queue full";
    case PH_ETIMEDOUT:
        return "timed out";
    case PH_EFATAL:
        return "fatal error";
    case PH_EHTTP:
        return "http error";
    case PH_EEXIST:
        return "already exists";
    case PH_ESTATE:
        return "invalid state";
    default:
        return "unknown error";
    }
}

int ph_err(char *errstr, size_t errstr_size, int err, const char *fmt, ...)
{
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
