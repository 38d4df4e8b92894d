/* Stable short names for the codes in errors.h: they end up in FAILED reasons and
 * JSON output, so they must never change once released. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

const char *brn_error_name(int code)
{
    switch (code) {
    case BRN_OK: return "ok";
    case BRN_STOPPED: return "stopped";
    case BRN_EINVAL: return "invalid_argument";
    case BRN_ENOMEM: return "out_of_memory";
    case BRN_EDATA: return "bad_data";
    case BRN_EIO: return "io_error";
    case BRN_ENAN: return "nan_loss";
    case BRN_EDEVICE: return "device_unavailable";
    case BRN_ECHECKPOINT: return "checkpoint_mismatch";
    }
    return "unknown_error";
}

int brn_errorf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
