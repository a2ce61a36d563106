/*
 * rawvideo.h - raw rgb24 video frames on a byte stream, as ffmpeg writes and
 * reads them with `-f rawvideo -pix_fmt rgb24`: no header, frame after frame,
 * each width x height pixels of 3 bytes (R, G, B), rows packed, top row first.
 *
 *   int w, h;
 *   rawvideo_parse_size("640x480", &w, &h, &err);
 *   size_t bytes = rawvideo_frame_bytes(w, h);
 *   uint8_t *frame = malloc(bytes);
 *   while (rawvideo_read_frame(stdin, frame, bytes, &got, &err) == RAWVIDEO_OK) {
 *       ... work on frame ...
 *       if (rawvideo_write_frame(stdout, frame, bytes, &err) != RAWVIDEO_OK) break;
 *   }
 *
 * The functions take any FILE, so a test or a fuzzer can read frames from
 * memory with fmemopen(buf, len, "rb"). Nothing here allocates.
 */
#ifndef VISION_RAWVIDEO_H
#define VISION_RAWVIDEO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nn.h"

/* Largest side and frame accepted by rawvideo_parse_size (8K video fits). */
#define RAWVIDEO_MAX_SIDE 8192
#define RAWVIDEO_MAX_FRAME_BYTES ((size_t)3 * 8192 * 4608)

typedef enum {
    RAWVIDEO_OK = 0,    /* a whole frame was read or written                       */
    RAWVIDEO_END,       /* read: the stream ended at a frame boundary (normal end)  */
    RAWVIDEO_TRUNCATED, /* read: the stream ended inside a frame (a partial frame)  */
    RAWVIDEO_CLOSED,    /* write: the reader went away (EPIPE)                      */
    RAWVIDEO_IO_ERROR,  /* read or write failed for another reason                  */
} rawvideo_result;

/* Parses "WxH" (decimal, 'x' or 'X', nothing else) with 1 <= W, H <= RAWVIDEO_MAX_SIDE
 * and 3 W H <= RAWVIDEO_MAX_FRAME_BYTES; NN_ERR_ARG / NN_ERR_LIMIT with a message
 * quoting the text otherwise. */
nn_status rawvideo_parse_size(const char *text, int *width, int *height, nn_error *err);

/* 3 * width * height: the bytes of one rgb24 frame (0 for sizes out of range). */
size_t rawvideo_frame_bytes(int width, int height);

/* Reads exactly frame_bytes into frame (retrying short reads and EINTR).
 * *bytes_read (may be NULL) gets how many bytes were read: frame_bytes for
 * RAWVIDEO_OK, 0 for RAWVIDEO_END, in between for RAWVIDEO_TRUNCATED. err gets
 * a message for RAWVIDEO_TRUNCATED and RAWVIDEO_IO_ERROR. */
rawvideo_result rawvideo_read_frame(FILE *in, uint8_t *frame, size_t frame_bytes,
                                    size_t *bytes_read, nn_error *err);

/* Writes the frame and flushes it, so a pipe reader gets each frame at once.
 * RAWVIDEO_CLOSED when the reader closed the pipe (the caller should ignore
 * SIGPIPE to get it rather than be killed), RAWVIDEO_IO_ERROR otherwise. */
rawvideo_result rawvideo_write_frame(FILE *out, const uint8_t *frame, size_t frame_bytes,
                                     nn_error *err);

#endif
