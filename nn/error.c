/* error.c - status names and the printf-style error setter. */
#include <stdarg.h>
#include <stdio.h>

#include "nn.h"

const char *nn_status_str(nn_status code) {
    switch (code) {
    case NN_OK: return "ok";
    case NN_ERR_NOMEM: return "out of memory";
    case NN_ERR_ARG: return "bad argument";
    case NN_ERR_SHAPE: return "shape mismatch";
    case NN_ERR_IO: return "I/O error";
    case NN_ERR_FORMAT: return "bad format";
    case NN_ERR_TRUNCATED: return "truncated";
    case NN_ERR_VERSION: return "unsupported version";
    case NN_ERR_CHECKSUM: return "checksum mismatch";
    case NN_ERR_NOT_FOUND: return "not found";
    case NN_ERR_LIMIT: return "limit exceeded";
    case NN_ERR_STATE: return "wrong state";
    }
    return "unknown error";
}

nn_status nn_error_set(nn_error *err, nn_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
