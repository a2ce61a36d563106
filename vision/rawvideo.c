/*
 * rawvideo.c - reading and writing raw rgb24 frames (rawvideo.h).
 *
 * A frame is read with an fread loop: fread may return less than asked on a
 * pipe or after a signal, so we keep reading until the frame is full, the
 * stream ends (feof) or fails (ferror; EINTR is cleared and retried).
 */
#include "rawvideo.h"

#include <errno.h>
#include <string.h>

nn_status rawvideo_parse_size(const char *text, int *width, int *height, nn_error *err) {
    *width = *height = 0;
    if (!text) return nn_error_set(err, NN_ERR_ARG, "rawvideo: no frame size given");
    long side[2] = {0, 0};
    const char *p = text;
    for (int k = 0; k < 2; k++) {
        int digits = 0;
        /* digits by hand: strtol would accept signs, spaces and overflow */
        for (; *p >= '0' && *p <= '9'; p++, digits++)
            if ((side[k] = side[k] * 10 + (*p - '0')) > RAWVIDEO_MAX_SIDE) break;
        if (side[k] > RAWVIDEO_MAX_SIDE)
            return nn_error_set(err, NN_ERR_LIMIT,
                                "rawvideo: frame size '%.40s': a side is over %d pixels", text,
                                RAWVIDEO_MAX_SIDE);
        if (digits == 0 || (k == 0 && *p != 'x' && *p != 'X') || (k == 1 && *p != '\0'))
            return nn_error_set(err, NN_ERR_ARG,
                                "rawvideo: frame size '%.40s' is not WIDTHxHEIGHT (e.g. 640x480)",
                                text);
        if (k == 0) p++;
    }
    if (side[0] < 1 || side[1] < 1)
        return nn_error_set(err, NN_ERR_ARG, "rawvideo: frame size '%.40s' has a zero side", text);
    if ((size_t)3 * (size_t)side[0] * (size_t)side[1] > RAWVIDEO_MAX_FRAME_BYTES)
        return nn_error_set(err, NN_ERR_LIMIT,
                            "rawvideo: frame size '%.40s' is over %zu bytes a frame", text,
                            RAWVIDEO_MAX_FRAME_BYTES);
    *width = (int)side[0], *height = (int)side[1];
    return NN_OK;
}

size_t rawvideo_frame_bytes(int width, int height) {
    if (width < 1 || height < 1 || width > RAWVIDEO_MAX_SIDE || height > RAWVIDEO_MAX_SIDE)
        return 0;
    size_t bytes = (size_t)3 * (size_t)width * (size_t)height;
    return bytes > RAWVIDEO_MAX_FRAME_BYTES ? 0 : bytes;
}

rawvideo_result rawvideo_read_frame(FILE *in, uint8_t *frame, size_t frame_bytes,
                                    size_t *bytes_read, nn_error *err) {
    size_t got = 0;
    if (bytes_read) *bytes_read = 0;
    if (!in || !frame || frame_bytes == 0) {
        nn_error_set(err, NN_ERR_ARG, "rawvideo: bad arguments to read a frame");
        return RAWVIDEO_IO_ERROR;
    }
    while (got < frame_bytes) {
        errno = 0;
        size_t n = fread(frame + got, 1, frame_bytes - got, in);
        got += n;
        if (n > 0) continue;
        if (ferror(in)) {
            if (errno == EINTR) {
                clearerr(in);
                continue;
            }
            if (bytes_read) *bytes_read = got;
            nn_error_set(err, NN_ERR_IO, "rawvideo: read error after %zu bytes of a frame: %s",
                         got, errno ? strerror(errno) : "unknown error");
            return RAWVIDEO_IO_ERROR;
        }
        break; /* end of stream */
    }
    if (bytes_read) *bytes_read = got;
    if (got == frame_bytes) return RAWVIDEO_OK;
    if (got == 0) return RAWVIDEO_END;
    nn_error_set(err, NN_ERR_TRUNCATED,
                 "rawvideo: the stream ends inside a frame (%zu of %zu bytes)", got, frame_bytes);
    return RAWVIDEO_TRUNCATED;
}

rawvideo_result rawvideo_write_frame(FILE *out, const uint8_t *frame, size_t frame_bytes,
                                     nn_error *err) {
    if (!out || !frame || frame_bytes == 0) {
        nn_error_set(err, NN_ERR_ARG, "rawvideo: bad arguments to write a frame");
        return RAWVIDEO_IO_ERROR;
    }
    size_t put = 0;
    while (put < frame_bytes) {
        errno = 0;
        size_t n = fwrite(frame + put, 1, frame_bytes - put, out);
        put += n;
        if (n > 0) continue;
        if (errno == EINTR) {
            clearerr(out);
            continue;
        }
        break;
    }
    if (put == frame_bytes) {
        errno = 0;
        while (fflush(out) == EOF && errno == EINTR) clearerr(out);
        if (!ferror(out)) return RAWVIDEO_OK;
    }
    int code = errno;
    if (code == EPIPE) {
        nn_error_set(err, NN_ERR_IO, "rawvideo: the output was closed (the reader went away)");
        return RAWVIDEO_CLOSED;
    }
    nn_error_set(err, NN_ERR_IO, "rawvideo: write error: %s",
                 code ? strerror(code) : "unknown error");
    return RAWVIDEO_IO_ERROR;
}
