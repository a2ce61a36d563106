/*
 * test_regressions.c - replays the fuzzing corpora through the same entry
 * points the libFuzzer harnesses use (tests/fuzz_targets.c):
 *   fuzz/seeds/<target>/        small valid inputs (tests/fuzz/make_seeds.c):
 *                               each must be accepted;
 *   fuzz/regressions/<target>/  inputs that once crashed, hung, leaked or
 *                               over-allocated: each must now be handled
 *                               (accepted or refused, the target's checks hold).
 * A target aborts on a broken invariant and the sanitizers catch the rest, so
 * `make test SANITIZE=1` is the strict run.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_targets.h"
#include "image.h"
#include "testutil.h"

#define MAX_INPUT_BYTES ((size_t)16 << 20)

static uint8_t *read_input(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    struct stat st;
    ck_assert_int_eq(fstat(fileno(f), &st), 0);
    ck_assert_msg((size_t)st.st_size <= MAX_INPUT_BYTES, "%s is too large for a corpus", path);
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, n, f), n);
    fclose(f);
    *size = n;
    return buf;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every file in dir through the target; returns how many there were.
 * must_accept: each must return NN_OK (the seeds). A missing folder is empty. */
static int replay_dir(const fuzz_target *t, const char *kind, bool must_accept) {
    char dir[256];
    snprintf(dir, sizeof dir, "fuzz/%s/%s", kind, t->name);
    DIR *d = opendir(dir);
    if (!d) return 0;
    char **names = NULL;
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, (count + 1) * sizeof *names);
        ck_assert_ptr_nonnull(names);
        names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof *names, compare_names); /* same order every run */
    for (size_t i = 0; i < count; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t size;
        uint8_t *data = read_input(path, &size);
        nn_status st = t->run(data, size);
        free(data);
        if (must_accept) ck_assert_msg(st == NN_OK, "%s: seed refused (status %d)", path, st);
        free(names[i]);
    }
    free(names);
    return (int)count;
}

START_TEST(replay_target) {
    const fuzz_target *t = &fuzz_targets[_i];
    int seeds = replay_dir(t, "seeds", true);
    replay_dir(t, "regressions", false);
    fuzz_targets_cleanup();
    ck_assert_msg(seeds > 0, "no seed inputs in fuzz/seeds/%s (run make fuzz-seeds)", t->name);
}
END_TEST

/* The seeds must reach past the checksum in the weights target, and a byte
 * flipped in a seed must be refused, not crash: a quick sanity check of the
 * harness itself, since a harness that refuses everything tests nothing. */
START_TEST(weights_checksum_fixup) {
    size_t size;
    uint8_t *data = read_input("fuzz/seeds/weights/small.nnw", &size);
    ck_assert_int_eq(fuzz_weights(data, size), NN_OK);
    data[size - 1] ^= 0x40; /* in the last tensor's data: the fixed-up CRC still holds */
    ck_assert_int_eq(fuzz_weights(data, size), NN_OK);
    data[4] = 2; /* version */
    ck_assert_int_eq(fuzz_weights(data, size), NN_ERR_VERSION);
    free(data);
}
END_TEST

/* The raw-video target tells the ends of a stream apart: whole frames are
 * accepted, a partial last frame is refused as truncated, bad sizes by the
 * size parser (so a fuzzer mutating the size text reaches all three). */
START_TEST(rawvideo_harness) {
    uint8_t input[64] = "2x2\n";
    for (int i = 4; i < 64; i++) input[i] = (uint8_t)i;
    ck_assert_int_eq(fuzz_rawvideo(input, 4 + 2 * 12), NN_OK);      /* two frames */
    ck_assert_int_eq(fuzz_rawvideo(input, 4), NN_OK);               /* no frames  */
    ck_assert_int_eq(fuzz_rawvideo(input, 4 + 12 + 5), NN_ERR_TRUNCATED);
    const char *bad[] = {"0x5\n", "9000x1\n", "8192x8192\n", "3x\n", "-3x2\n", "3x2 \n"};
    const nn_status want[] = {NN_ERR_ARG, NN_ERR_LIMIT, NN_ERR_LIMIT, NN_ERR_ARG, NN_ERR_ARG,
                              NN_ERR_ARG};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(fuzz_rawvideo((const uint8_t *)bad[i], strlen(bad[i])) == want[i],
                      "'%s' should be refused", bad[i]);
}
END_TEST

/* A 24-bit w x h BMP whose stored rows are row_bytes(y) for y = 0.. in file
 * order; top_down stores the height negated (rows then run top to bottom). */
static size_t make_bmp(uint8_t *b, int w, int h, bool top_down) {
    size_t row = ((size_t)w * 3 + 3) / 4 * 4, bytes = 54 + row * (size_t)h;
    memset(b, 0, bytes);
    uint32_t fields[][2] = {{2, (uint32_t)bytes}, {10, 54}, {14, 40}, {18, (uint32_t)w},
                            {22, top_down ? (uint32_t)-h : (uint32_t)h}, {34, (uint32_t)(row * h)}};
    b[0] = 'B', b[1] = 'M', b[26] = 1, b[28] = 24;
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        for (int k = 0; k < 4; k++) b[fields[i][0] + k] = (uint8_t)(fields[i][1] >> (8 * k));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < 3 * w; x++) b[54 + (size_t)y * row + x] = (uint8_t)(40 * y + x);
    return bytes;
}

/* Found by the image target's seeds: stb's info call returns a top-down BMP's
 * height negated, and image_load_memory refused every top-down BMP as "over
 * the limit". Now both orders load, and are each other's vertical flip. */
START_TEST(top_down_bmp) {
    uint8_t up[256], down[256];
    size_t n_up = make_bmp(up, 3, 4, false), n_down = make_bmp(down, 3, 4, true);
    image a, b;
    nn_error err;
    ck_assert_msg(image_load_memory(up, n_up, 3, &a, &err) == NN_OK, "%s", err.msg);
    ck_assert_msg(image_load_memory(down, n_down, 3, &b, &err) == NN_OK, "%s", err.msg);
    ck_assert(a.width == 3 && a.height == 4 && b.width == 3 && b.height == 4);
    for (int y = 0; y < 4; y++)
        ck_assert(memcmp(a.pixels + y * 9, b.pixels + (3 - y) * 9, 9) == 0);
    /* file row 0 is the bottom of a bottom-up BMP: its first pixel, BGR 0,1,2, is RGB 2,1,0 */
    ck_assert(a.pixels[3 * 9] == 2 && a.pixels[3 * 9 + 1] == 1 && a.pixels[3 * 9 + 2] == 0);
    image_free(&a);
    image_free(&b);
}
END_TEST

Suite *regressions_suite(void) {
    Suite *s = suite_create("regressions");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, replay_target, 0, fuzz_target_count);
    tcase_add_test(tc, weights_checksum_fixup);
    tcase_add_test(tc, top_down_bmp);
    tcase_add_test(tc, rawvideo_harness);
    suite_add_tcase(s, tc);
    return s;
}
