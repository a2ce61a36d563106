/* test_detect_cmd_raw.c - `maskdet detect --raw WxH -` end to end: raw rgb24
 * frames are piped through the program (bundled models) and come out as
 * many, as large, unchanged except for the boxes, labels and summary line
 * drawn on them; frames with faces get boxes of their label's colour; the
 * per-frame JSON matches; a partial last frame and a reader that goes away
 * both end the run cleanly. The face frames are a shared sample photo scaled
 * into the frame: skipped with a message when ../shared is absent. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "testutil.h"

enum { W = 320, H = 240, FRAME = W * H * 3, N_FRAMES = 3 };

/* The folder of the maskdet program built beside this test program. */
static void program_dir(char *dir, size_t len) {
    ssize_t n = readlink("/proc/self/exe", dir, len - 1);
    ck_assert(n > 0);
    dir[n] = '\0';
    *strrchr(dir, '/') = '\0';
}

/* Runs a shell command line; returns the exit status. */
static int run_shell(const char *cmd) {
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    uint8_t *buf = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    buf[size] = 0;
    *len = (size_t)size;
    return buf;
}

/* Frame 0 and 2: sample1.jpg (three unmasked faces) scaled to the frame's
 * width on a grey background; frame 1: a smooth gradient with no face. */
static void make_frames(const char *shared, uint8_t *frames) {
    char path[4096];
    snprintf(path, sizeof path, "%s/samples/sample1.jpg", shared);
    image photo, small;
    nn_error err;
    ck_assert_msg(image_load(path, 3, &photo, &err) == NN_OK, "%s", err.msg);
    int h = photo.height * W / photo.width;
    ck_assert_int_eq(image_resize(&photo, W, h, &small, &err), NN_OK);
    ck_assert_int_le(h, H);
    for (int f = 0; f < N_FRAMES; f += 2) {
        memset(frames + (size_t)f * FRAME, 128, FRAME);
        memcpy(frames + (size_t)f * FRAME + (size_t)(H - h) / 2 * W * 3, small.pixels,
               (size_t)h * W * 3);
    }
    uint8_t *g = frames + FRAME;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) g[((size_t)y * W + x) * 3 + c] = (uint8_t)(x / 2 + c * 20);
    image_free(&photo);
    image_free(&small);
}

/* True when (x, y) is where the program may draw for these detections: a
 * box and its label (above or below its top edge, kept inside the frame), or
 * the summary line in the top-left corner. Generous margins: the test is
 * that nothing else changes. */
static bool may_draw(const cJSON *dets, int x, int y) {
    if (x < 200 && y < 20) return true; /* summary: "faces N  mask N  no mask N" */
    const cJSON *d;
    cJSON_ArrayForEach(d, dets) {
        const cJSON *box = cJSON_GetObjectItem(d, "box");
        double x1 = cJSON_GetArrayItem(box, 0)->valuedouble;
        double y1 = cJSON_GetArrayItem(box, 1)->valuedouble;
        double x2 = cJSON_GetArrayItem(box, 2)->valuedouble;
        double y2 = cJSON_GetArrayItem(box, 3)->valuedouble;
        double label_left = x1 < W - 100 ? x1 : W - 100;
        if (x >= label_left - 3 && x <= (x2 > x1 + 100 ? x2 : x1 + 100) + 3 && y >= y1 - 20 &&
            y <= y2 + 20)
            return true;
    }
    return false;
}

START_TEST(frames_round_trip) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        fprintf(stderr, "test_detect_cmd_raw: ../shared not found; skipping\n");
        return;
    }
    char dir[] = "/tmp/test_detect_raw_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    uint8_t *frames = malloc((size_t)N_FRAMES * FRAME + 100);
    ck_assert_ptr_nonnull(frames);
    make_frames(shared, frames);
    memset(frames + (size_t)N_FRAMES * FRAME, 7, 100); /* a partial fourth frame */
    char in_path[4200], cmd[16384], prog[4096];
    snprintf(in_path, sizeof in_path, "%s/in.raw", dir);
    FILE *f = fopen(in_path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(frames, 1, (size_t)N_FRAMES * FRAME + 100, f),
                     (size_t)N_FRAMES * FRAME + 100);
    fclose(f);
    program_dir(prog, sizeof prog);

    snprintf(cmd, sizeof cmd,
             "cat '%s' | '%s/maskdet' detect --raw %dx%d --json-out '%s/frames.json' - "
             "> '%s/out.raw' 2> '%s/err.txt'",
             in_path, prog, W, H, dir, dir, dir);
    int rc = run_shell(cmd);
    char path[4300];
    size_t len;
    snprintf(path, sizeof path, "%s/err.txt", dir);
    char *err_text = (char *)read_all(path, &len);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err_text);
    ck_assert_msg(strstr(err_text, "partial frame"), "%s", err_text);
    ck_assert_msg(strstr(err_text, "3 frames"), "%s", err_text);
    free(err_text);

    /* exactly the whole frames come back */
    snprintf(path, sizeof path, "%s/out.raw", dir);
    uint8_t *out = read_all(path, &len);
    ck_assert_int_eq(len, (size_t)N_FRAMES * FRAME);
    snprintf(path, sizeof path, "%s/frames.json", dir);
    char *json = (char *)read_all(path, &len);
    char *line = json;
    for (int k = 0; k < N_FRAMES; k++) {
        char *end = strchr(line, '\n');
        ck_assert_msg(end != NULL, "JSON line %d missing", k);
        *end = '\0';
        cJSON *o = cJSON_Parse(line);
        ck_assert_msg(o != NULL, "not JSON: %s", line);
        ck_assert_int_eq(cJSON_GetObjectItem(o, "frame")->valueint, k);
        ck_assert_int_eq(cJSON_GetObjectItem(o, "width")->valueint, W);
        ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "time_ms"), "total"));
        const cJSON *dets = cJSON_GetObjectItem(o, "detections");
        const uint8_t *before = frames + (size_t)k * FRAME, *after = out + (size_t)k * FRAME;
        if (k != 1) ck_assert_msg(cJSON_GetArraySize(dets) >= 1, "no face in frame %d", k);
        /* unannotated pixels are unchanged, and something was drawn */
        int changed = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                size_t at = ((size_t)y * W + x) * 3;
                if (!memcmp(before + at, after + at, 3)) continue;
                changed++;
                ck_assert_msg(may_draw(dets, x, y), "frame %d: pixel %d,%d changed", k, x, y);
            }
        ck_assert_int_gt(changed, 0);
        /* each box's left edge has its label's colour: red no_mask, green mask */
        const cJSON *d;
        cJSON_ArrayForEach(d, dets) {
            const cJSON *box = cJSON_GetObjectItem(d, "box");
            int x = (int)(cJSON_GetArrayItem(box, 0)->valuedouble + 0.5);
            int y = (int)((cJSON_GetArrayItem(box, 1)->valuedouble +
                           cJSON_GetArrayItem(box, 3)->valuedouble) / 2);
            if (x < 0 || x >= W || y < 0 || y >= H) continue;
            const uint8_t *p = after + ((size_t)y * W + x) * 3;
            const char *label = cJSON_GetObjectItem(d, "label")->valuestring;
            if (!strcmp(label, "no_mask")) ck_assert(p[0] == 220 && p[1] == 30 && p[2] == 30);
            else ck_assert(p[0] == 30 && p[1] == 200 && p[2] == 30);
        }
        cJSON_Delete(o);
        line = end + 1;
    }
    ck_assert_str_eq(line, "");
    /* the same input gives the same frames (no state leaks between frames) */
    ck_assert_mem_eq(out, out + 2 * (size_t)FRAME, FRAME);
    free(json);
    free(out);

    /* a reader that goes away after a few bytes: a clean end, exit 0 */
    snprintf(cmd, sizeof cmd,
             "('%s/maskdet' detect --raw %dx%d - < '%s' 2> '%s/err2.txt'; echo $? > '%s/rc') "
             "| head -c 1000 > /dev/null",
             prog, W, H, in_path, dir, dir);
    ck_assert_int_eq(run_shell(cmd), 0);
    snprintf(path, sizeof path, "%s/rc", dir);
    char *rc_text = (char *)read_all(path, &len);
    snprintf(path, sizeof path, "%s/err2.txt", dir);
    err_text = (char *)read_all(path, &len);
    ck_assert_msg(atoi(rc_text) == 0, "exit %s: %s", rc_text, err_text);
    ck_assert_msg(strstr(err_text, "closed"), "%s", err_text);
    free(rc_text);
    free(err_text);

    /* an empty stream: no frames, a normal end */
    snprintf(cmd, sizeof cmd, "'%s/maskdet' detect --raw %dx%d - < /dev/null > '%s/none.raw' 2>&1",
             prog, W, H, dir);
    ck_assert_int_eq(run_shell(cmd), 0);
    free(frames);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *detect_cmd_raw_suite(void) {
    Suite *s = suite_create("detect_cmd_raw");
    TCase *tc = tcase_create("raw video");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, frames_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
