/* test_rawvideo.c - raw rgb24 frames (vision/rawvideo.h): frame sizes and
 * their limits, whole frames from memory and from a pipe written in small
 * pieces, the normal end at a frame boundary vs a partial last frame, and
 * writing (including to a pipe whose reader has gone). */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "rawvideo.h"
#include "testutil.h"

START_TEST(parse_sizes) {
    nn_error err;
    int w, h;
    ck_assert_int_eq(rawvideo_parse_size("640x480", &w, &h, &err), NN_OK);
    ck_assert_int_eq(w, 640);
    ck_assert_int_eq(h, 480);
    ck_assert_int_eq(rawvideo_parse_size("1X1", &w, &h, &err), NN_OK);
    ck_assert(w == 1 && h == 1);
    ck_assert_int_eq(rawvideo_parse_size("8192x4608", &w, &h, &err), NN_OK);
    ck_assert_int_eq(rawvideo_frame_bytes(w, h), (size_t)3 * 8192 * 4608);
    ck_assert_int_eq(rawvideo_frame_bytes(7, 5), 105);

    static const char *const malformed[] = {"",     "640",      "640x",      "x480",
                                            "0x480", "640x0",   "640x480x",  "-640x480",
                                            " 640x480", "640 x480", "640x480 ", "6a0x480",
                                            "640*480", "+640x480", "640x-480"};
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        ck_assert_msg(rawvideo_parse_size(malformed[i], &w, &h, &err) == NN_ERR_ARG, "'%s'",
                      malformed[i]);
        ck_assert(w == 0 && h == 0);
    }
    ck_assert_ptr_nonnull(strstr(err.msg, "640x-480"));
    static const char *const too_big[] = {"8193x2", "2x8193", "8192x8192",
                                          "99999999999999999999999x1"};
    for (size_t i = 0; i < sizeof too_big / sizeof *too_big; i++)
        ck_assert_msg(rawvideo_parse_size(too_big[i], &w, &h, &err) == NN_ERR_LIMIT, "'%s'",
                      too_big[i]);
    ck_assert_int_eq(rawvideo_parse_size(NULL, &w, &h, &err), NN_ERR_ARG);
    ck_assert_int_eq(rawvideo_frame_bytes(0, 5), 0);
    ck_assert_int_eq(rawvideo_frame_bytes(8192, 8192), 0);
}
END_TEST

/* Three 3x2 frames (18 bytes each) whose bytes count up, plus `extra` bytes. */
static FILE *memory_stream(uint8_t *buf, size_t extra) {
    for (size_t i = 0; i < 3 * 18 + extra; i++) buf[i] = (uint8_t)(i * 7 + 1);
    FILE *f = fmemopen(buf, 3 * 18 + extra, "rb");
    ck_assert_ptr_nonnull(f);
    return f;
}

START_TEST(exact_frames_then_end) {
    uint8_t buf[64], frame[18];
    size_t got = 99;
    nn_error err;
    FILE *f = memory_stream(buf, 0);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(rawvideo_read_frame(f, frame, 18, &got, &err), RAWVIDEO_OK);
        ck_assert_int_eq(got, 18);
        ck_assert_mem_eq(frame, buf + 18 * k, 18);
    }
    ck_assert_int_eq(rawvideo_read_frame(f, frame, 18, &got, &err), RAWVIDEO_END);
    ck_assert_int_eq(got, 0);
    ck_assert_int_eq(rawvideo_read_frame(f, frame, 18, NULL, &err), RAWVIDEO_END); /* stays */
    fclose(f);
}
END_TEST

START_TEST(partial_last_frame) {
    uint8_t buf[64], frame[18];
    size_t got;
    nn_error err;
    FILE *f = memory_stream(buf, 5);
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(rawvideo_read_frame(f, frame, 18, &got, &err), RAWVIDEO_OK);
    ck_assert_int_eq(rawvideo_read_frame(f, frame, 18, &got, &err), RAWVIDEO_TRUNCATED);
    ck_assert_int_eq(got, 5);
    ck_assert_int_eq(err.code, NN_ERR_TRUNCATED);
    ck_assert_ptr_nonnull(strstr(err.msg, "5 of 18"));
    fclose(f);

    /* one byte alone is a partial frame, not an end */
    f = fmemopen(buf, 1, "rb");
    ck_assert_int_eq(rawvideo_read_frame(f, frame, 18, &got, &err), RAWVIDEO_TRUNCATED);
    ck_assert_int_eq(got, 1);
    fclose(f);
    ck_assert_int_eq(rawvideo_read_frame(NULL, frame, 18, &got, &err), RAWVIDEO_IO_ERROR);
    ck_assert_int_eq(rawvideo_read_frame(stdin, frame, 0, &got, &err), RAWVIDEO_IO_ERROR);
}
END_TEST

/* Writes `len` bytes of `data` into fd in pieces of 7 bytes, then closes it. */
typedef struct {
    int fd;
    const uint8_t *data;
    size_t len;
} slow_writer;

static void *write_in_pieces(void *arg) {
    slow_writer *w = arg;
    for (size_t at = 0; at < w->len; at += 7) {
        size_t n = w->len - at < 7 ? w->len - at : 7;
        if (write(w->fd, w->data + at, n) != (ssize_t)n) break;
        usleep(200);
    }
    close(w->fd);
    return NULL;
}

START_TEST(frames_from_a_pipe_in_pieces) {
    /* a pipe hands out what has arrived: fread returns short counts */
    enum { W = 5, H = 3, FRAME = 3 * W * H, N = 4 };
    uint8_t data[FRAME * N + 10], frame[FRAME];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i ^ 0x5a);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    slow_writer w = {fds[1], data, sizeof data};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, write_in_pieces, &w), 0);
    FILE *in = fdopen(fds[0], "rb");
    ck_assert_ptr_nonnull(in);
    setvbuf(in, NULL, _IONBF, 0); /* no stdio buffer: every fread meets the pipe */
    nn_error err;
    size_t got;
    for (int k = 0; k < N; k++) {
        ck_assert_int_eq(rawvideo_read_frame(in, frame, FRAME, &got, &err), RAWVIDEO_OK);
        ck_assert_mem_eq(frame, data + FRAME * k, FRAME);
    }
    ck_assert_int_eq(rawvideo_read_frame(in, frame, FRAME, &got, &err), RAWVIDEO_TRUNCATED);
    ck_assert_int_eq(got, 10);
    pthread_join(t, NULL);
    fclose(in);
}
END_TEST

START_TEST(write_frames) {
    uint8_t frame[12], back[24];
    for (int i = 0; i < 12; i++) frame[i] = (uint8_t)(200 + i);
    nn_error err;
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(rawvideo_write_frame(f, frame, 12, &err), RAWVIDEO_OK);
    ck_assert_int_eq(rawvideo_write_frame(f, frame, 12, &err), RAWVIDEO_OK);
    rewind(f);
    ck_assert_int_eq(fread(back, 1, sizeof back, f), 24);
    ck_assert_mem_eq(back, frame, 12);
    ck_assert_mem_eq(back + 12, frame, 12);
    fclose(f);
    ck_assert_int_eq(rawvideo_write_frame(NULL, frame, 12, &err), RAWVIDEO_IO_ERROR);

    /* the reader went away: EPIPE is reported as CLOSED (SIGPIPE ignored) */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    close(fds[0]);
    FILE *out = fdopen(fds[1], "wb");
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(rawvideo_write_frame(out, frame, 12, &err), RAWVIDEO_CLOSED);
    ck_assert_ptr_nonnull(strstr(err.msg, "closed"));
    fclose(out);
    signal(SIGPIPE, old);
}
END_TEST

Suite *rawvideo_suite(void) {
    Suite *s = suite_create("rawvideo");
    TCase *tc = tcase_create("frames");
    tcase_add_test(tc, parse_sizes);
    tcase_add_test(tc, exact_frames_then_end);
    tcase_add_test(tc, partial_last_frame);
    tcase_add_test(tc, frames_from_a_pipe_in_pieces);
    tcase_add_test(tc, write_frames);
    suite_add_tcase(s, tc);
    return s;
}
