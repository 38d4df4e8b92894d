/* Error codes shared by the engine and the daemon: 0 is success, negative is failure.
 * The reason text travels beside the code in a caller-provided buffer. */
#ifndef BRN_ERRORS_H
#define BRN_ERRORS_H

enum {
    BRN_OK = 0,
    BRN_STOPPED = 1,      /* not an error: stopped on request at a batch boundary, checkpoint written */
    BRN_EINVAL = -1,      /* a bad setting (message names the field) */
    BRN_ENOMEM = -2,      /* out of host or device memory */
    BRN_EDATA = -3,       /* dataset missing, truncated, corrupt */
    BRN_EIO = -4,         /* file system: checkpoint read/write */
    BRN_ENAN = -5,        /* the loss became NaN or infinite */
    BRN_EDEVICE = -6,     /* the requested device is not available */
    BRN_ECHECKPOINT = -7, /* a checkpoint does not match the job (shapes, names, version) */
};

#include <stddef.h>

/* Formats a message into err (when err is not NULL) and returns code: `return brn_errorf(...)`. */
int brn_errorf(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A short stable name for a code ("nan_loss", "out_of_memory", ...), used in FAILED reasons. */
const char *brn_error_name(int code);

#endif
