/* test_image.c - image load/save (JPEG, PNG, BMP), bad files, resize vs OpenCV,
 * crop, flip, gamma vs the Keras pipeline's table, conversion to CHW. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image_write.h>

#include "image.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------ */

/* A fresh scratch directory under /tmp, removed by scratch_remove. */
static void scratch_make(char *dir, size_t n) {
    snprintf(dir, n, "/tmp/test_image_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int scratch_count(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void scratch_remove(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* A smooth test pattern (JPEG-friendly) with a distinct value per channel. */
static void make_pattern(image *img, int w, int h, int c) {
    nn_error err;
    ck_assert_int_eq(image_alloc(img, w, h, c, &err), NN_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                img->pixels[((size_t)y * w + x) * c + k] =
                    (uint8_t)((x * 7 + y * 3 + k * 60) % 256);
}

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_all(const char *path, const void *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* Compares an image with a fixture array (H, W, C) of byte values. */
static int max_diff_vs(const image *img, const float *ref, size_t n) {
    ck_assert_uint_eq(n, (size_t)img->width * img->height * img->channels);
    int worst = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)img->pixels[i] - (int)ref[i]);
        if (d > worst) worst = d;
    }
    return worst;
}

static double mean_diff_vs(const image *img, const float *ref, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs((double)img->pixels[i] - ref[i]);
    return s / (double)n;
}

/* ---- allocation ---------------------------------------------------------- */

START_TEST(alloc_checks_arguments) {
    nn_error err;
    image img;
    ck_assert_int_eq(image_alloc(&img, 3, 2, 3, &err), NN_OK);
    ck_assert_int_eq(img.width, 3);
    ck_assert_int_eq(img.height, 2);
    for (int i = 0; i < 18; i++) ck_assert_int_eq(img.pixels[i], 0);
    image_free(&img);
    ck_assert_ptr_null(img.pixels);
    image_free(&img); /* twice is fine on a zeroed image */

    ck_assert_int_eq(image_alloc(&img, 3, 2, 2, &err), NN_ERR_ARG);
    ck_assert_int_eq(image_alloc(&img, 0, 2, 3, &err), NN_ERR_ARG);
    ck_assert_int_eq(image_alloc(&img, 3, -1, 3, &err), NN_ERR_ARG);
    ck_assert_int_eq(image_alloc(&img, IMAGE_MAX_SIDE + 1, 1, 1, &err), NN_ERR_LIMIT);
    ck_assert_int_eq(image_alloc(&img, 10000, 10000, 1, &err), NN_ERR_LIMIT); /* 100 Mpx */
    ck_assert_ptr_null(img.pixels);
}
END_TEST

/* ---- round trips through our writer and files written by stb ---------------- */

START_TEST(png_roundtrip_all_channel_counts) {
    char dir[64], path[128];
    scratch_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a.png", dir);
    nn_error err;
    for (int c = 1; c <= 4; c++) {
        if (c == 2) continue;
        image img, back;
        make_pattern(&img, 13, 7, c);
        ck_assert_int_eq(image_save(&img, path, 0, &err), NN_OK);
        ck_assert_msg(image_load(path, c, &back, &err) == NN_OK, "%s", err.msg);
        ck_assert_int_eq(back.width, 13);
        ck_assert_int_eq(back.height, 7);
        ck_assert_int_eq(back.channels, c);
        ck_assert_mem_eq(back.pixels, img.pixels, 13 * 7 * c);
        image_free(&back);
        image_free(&img);
    }
    ck_assert_int_eq(scratch_count(dir), 1); /* no temporary file left behind */
    /* ordinary permissions (not a temp file's 0600) */
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    mode_t mask = umask(0);
    umask(mask);
    ck_assert_int_eq(sb.st_mode & 0777, 0666 & ~mask);
    scratch_remove(dir);
}
END_TEST

START_TEST(channel_conversion_on_load) {
    char dir[64], path[128];
    scratch_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/c.png", dir);
    nn_error err;
    image rgb, out;
    make_pattern(&rgb, 5, 4, 3);
    ck_assert_int_eq(image_save(&rgb, path, 0, &err), NN_OK);
    /* grey: stb's integer luma, (77 R + 150 G + 29 B) >> 8 */
    ck_assert_int_eq(image_load(path, 1, &out, &err), NN_OK);
    for (int i = 0; i < 20; i++) {
        const uint8_t *p = rgb.pixels + 3 * i;
        ck_assert_int_eq(out.pixels[i], (77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8);
    }
    image_free(&out);
    /* RGBA: opaque alpha added */
    ck_assert_int_eq(image_load(path, 4, &out, &err), NN_OK);
    for (int i = 0; i < 20; i++) {
        ck_assert_mem_eq(out.pixels + 4 * i, rgb.pixels + 3 * i, 3);
        ck_assert_int_eq(out.pixels[4 * i + 3], 255);
    }
    image_free(&out);
    ck_assert_int_eq(image_load(path, 2, &out, &err), NN_ERR_ARG);
    image_free(&rgb);
    scratch_remove(dir);
}
END_TEST

START_TEST(jpeg_roundtrip) {
    char dir[64], path[128];
    scratch_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a.JPG", dir); /* extension is case-insensitive */
    nn_error err;
    image img, back;
    make_pattern(&img, 40, 24, 3);
    ck_assert_int_eq(image_save(&img, path, 95, &err), NN_OK);
    ck_assert_msg(image_load(path, 3, &back, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(back.width, 40);
    ck_assert_int_eq(back.height, 24);
    double mean = 0;
    for (size_t i = 0; i < 40 * 24 * 3; i++) mean += abs(back.pixels[i] - img.pixels[i]);
    mean /= 40 * 24 * 3;
    ck_assert_msg(mean < 3.0, "JPEG round trip mean error %.2f", mean);
    image_free(&back);
    ck_assert_int_eq(image_save(&img, path, 0, &err), NN_ERR_ARG);
    ck_assert_int_eq(image_save(&img, path, 101, &err), NN_ERR_ARG);
    image_free(&img);
    scratch_remove(dir);
}
END_TEST

START_TEST(bmp_written_by_stb) {
    char dir[64], path[128];
    scratch_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a.bmp", dir);
    nn_error err;
    image img, back;
    make_pattern(&img, 9, 5, 3);
    ck_assert(stbi_write_bmp(path, 9, 5, 3, img.pixels));
    ck_assert_int_eq(image_load(path, 3, &back, &err), NN_OK);
    ck_assert_mem_eq(back.pixels, img.pixels, 9 * 5 * 3);
    image_free(&back);
    image_free(&img);
    scratch_remove(dir);
}
END_TEST

/* The bytes of a 31x17 pattern image saved as NAME (.bmp by stb, .jpg or
 * .png by image_save), for tests that corrupt one header field. Free them. */
static uint8_t *pattern_file_bytes(const char *name, size_t *len) {
    char dir[64], path[128];
    scratch_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    nn_error err;
    image img;
    make_pattern(&img, 31, 17, 3);
    if (strstr(name, ".bmp"))
        ck_assert(stbi_write_bmp(path, img.width, img.height, 3, img.pixels));
    else
        ck_assert_msg(image_save(&img, path, 90, &err) == NN_OK, "%s", err.msg);
    char *buf = NULL;
    ck_assert_int_eq(nn_read_file(path, 1 << 20, &buf, len, &err), NN_OK);
    image_free(&img);
    scratch_remove(dir);
    return (uint8_t *)buf;
}

/* A BMP whose compression field is not 0 or 3 is refused before decoding:
 * stb would decode a negative value as raw rows and zero-fill a 2565x4099
 * image from a 118-byte file (found by fuzz_image). */
START_TEST(bmp_unknown_compression_refused) {
    size_t len;
    uint8_t *buf = pattern_file_bytes("a.bmp", &len);
    nn_error err;
    image back;
    ck_assert_int_eq(image_load_memory(buf, len, 3, &back, &err), NN_OK); /* as written: fine */
    image_free(&back);
    const uint32_t bad[] = {0xFFFFFFFFu, 1u, 2u, 4u, 7u};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        for (int b = 0; b < 4; b++) buf[30 + b] = (uint8_t)(bad[i] >> (8 * b));
        ck_assert_int_eq(image_load_memory(buf, len, 3, &back, &err), NN_ERR_FORMAT);
        ck_assert_msg(strstr(err.msg, "compression"), "%s", err.msg);
        ck_assert_ptr_null(back.pixels);
    }
    free(buf);
}
END_TEST

/* Byte offset of the first segment with this marker in a JPEG (0: none). */
static size_t jpeg_find_marker(const uint8_t *buf, size_t len, uint8_t marker) {
    for (size_t at = 2; at + 4 <= len;) {
        if (buf[at] != 0xFF) return 0;
        if (buf[at + 1] == marker) return at;
        at += 2 + ((size_t)buf[at + 2] << 8 | buf[at + 3]);
    }
    return 0;
}

/* A scan that names a Huffman or quantisation table no segment defined is
 * refused before stb decodes it (stb reads the missing table uninitialised
 * and, through it, freed memory: found by fuzz_image). */
START_TEST(jpeg_undefined_tables_refused) {
    size_t len;
    uint8_t *buf = pattern_file_bytes("a.jpg", &len);
    nn_error err;
    image back;
    ck_assert_int_eq(image_load_memory(buf, len, 3, &back, &err), NN_OK); /* as written: fine */
    image_free(&back);
    size_t sos = jpeg_find_marker(buf, len, 0xDA), sof = jpeg_find_marker(buf, len, 0xC0);
    ck_assert(sos > 0 && sof > 0 && buf[sos + 4] == 3); /* three components */
    uint8_t saved = buf[sos + 8];                       /* component 2's DC/AC tables */
    buf[sos + 8] = 0x13;                                /* AC table 3: never defined */
    ck_assert_int_eq(image_load_memory(buf, len, 3, &back, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "Huffman table"), "%s", err.msg);
    buf[sos + 8] = 0x21; /* DC table 2 */
    ck_assert_int_eq(image_load_memory(buf, len, 3, &back, &err), NN_ERR_FORMAT);
    buf[sos + 8] = saved;
    buf[sof + 10 + 3 * 1 + 2] = 3; /* component 2 uses quantisation table 3 */
    ck_assert_int_eq(image_load_memory(buf, len, 3, &back, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "quantisation"), "%s", err.msg);
    ck_assert_ptr_null(back.pixels);
    free(buf);
}
END_TEST

/* A sequential JPEG codes each component in one scan; stb decodes the whole
 * frame again for every extra scan, so repeated scans are refused (an 8 KB
 * file with 130 of them took seconds: found by fuzz_image). */
START_TEST(jpeg_repeated_scans_refused) {
    size_t len;
    uint8_t *buf = pattern_file_bytes("a.jpg", &len);
    size_t sos = jpeg_find_marker(buf, len, 0xDA);
    ck_assert(sos > 0 && len > sos + 2 && buf[len - 2] == 0xFF && buf[len - 1] == 0xD9);
    size_t scan_len = len - 2 - sos; /* SOS segment + entropy-coded data, up to EOI */
    uint8_t *twice = malloc(len + scan_len);
    ck_assert_ptr_nonnull(twice);
    memcpy(twice, buf, len - 2);
    memcpy(twice + len - 2, buf + sos, scan_len);
    memcpy(twice + len - 2 + scan_len, buf + len - 2, 2);
    nn_error err;
    image back;
    ck_assert_int_eq(image_load_memory(twice, len + scan_len, 3, &back, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "two scans"), "%s", err.msg);
    ck_assert_ptr_null(back.pixels);
    free(twice);
    free(buf);
}
END_TEST

/* ---- fixture files written by OpenCV (tests/fixtures/gen_vision.py) ------------ */

START_TEST(fixture_files_decode) {
    tu_fixture *fx = tu_fixture_load("fixtures/vision_images.nnfx");
    ck_assert_ptr_nonnull(fx);
    size_t n_rgb, n_gray, n_alpha, n;
    const float *rgb = tu_fixture_data(fx, "rgb", &n_rgb);
    const float *gray = tu_fixture_data(fx, "gray", &n_gray);
    const float *alpha = tu_fixture_data(fx, "alpha", &n_alpha);
    nn_error err;
    image img;

    /* lossless formats: exact */
    ck_assert_msg(image_load("fixtures/images/rgb16.png", 3, &img, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(max_diff_vs(&img, rgb, n_rgb), 0); /* high byte of each 16-bit sample */
    image_free(&img);
    ck_assert_int_eq(image_load("fixtures/images/rgb24.bmp", 3, &img, &err), NN_OK);
    ck_assert_int_eq(max_diff_vs(&img, rgb, n_rgb), 0);
    image_free(&img);
    ck_assert_int_eq(image_load("fixtures/images/gray8.bmp", 1, &img, &err), NN_OK);
    ck_assert_int_eq(max_diff_vs(&img, gray, n_gray), 0);
    image_free(&img);
    ck_assert_int_eq(image_load("fixtures/images/rgba.png", 4, &img, &err), NN_OK);
    for (size_t i = 0; i < n_alpha; i++) {
        for (int k = 0; k < 3; k++) ck_assert_int_eq(img.pixels[4 * i + k], (int)rgb[3 * i + k]);
        ck_assert_int_eq(img.pixels[4 * i + 3], (int)alpha[i]);
    }
    image_free(&img);
    ck_assert_int_eq(image_load("fixtures/images/rgba.png", 3, &img, &err), NN_OK);
    ck_assert_int_eq(max_diff_vs(&img, rgb, n_rgb), 0); /* alpha dropped, not composited */
    image_free(&img);

    /* JPEG: stb's IDCT and chroma upsampling differ a little from libjpeg's */
    const char *jpegs[][2] = {{"fixtures/images/progressive.jpg", "progressive_cv2"},
                              {"fixtures/images/baseline420.jpg", "baseline420_cv2"},
                              {"fixtures/images/gray.jpg", "gray_cv2"}};
    for (int j = 0; j < 3; j++) {
        const float *ref = tu_fixture_data(fx, jpegs[j][1], &n);
        int c = j == 2 ? 1 : 3;
        ck_assert_msg(image_load(jpegs[j][0], c, &img, &err) == NN_OK, "%s", err.msg);
        ck_assert_int_eq(img.width, 24);
        ck_assert_int_eq(img.height, 16);
        int worst = max_diff_vs(&img, ref, n);
        double mean = mean_diff_vs(&img, ref, n);
        ck_assert_msg(worst <= 12 && mean < 1.5, "%s vs libjpeg: max %d mean %.2f", jpegs[j][0],
                      worst, mean);
        image_free(&img);
    }
    /* a grey JPEG asked for as RGB: the grey value in all three channels */
    ck_assert_int_eq(image_load("fixtures/images/gray.jpg", 3, &img, &err), NN_OK);
    for (int i = 0; i < 24 * 16; i++) {
        ck_assert_int_eq(img.pixels[3 * i], img.pixels[3 * i + 1]);
        ck_assert_int_eq(img.pixels[3 * i], img.pixels[3 * i + 2]);
    }
    image_free(&img);
    tu_fixture_free(fx);
}
END_TEST

/* ---- bad files -------------------------------------------------------------- */

START_TEST(missing_unreadable_not_image) {
    char dir[64], path[128];
    scratch_make(dir, sizeof dir);
    nn_error err;
    image img;
    snprintf(path, sizeof path, "%s/nope.png", dir);
    ck_assert_int_eq(image_load(path, 3, &img, &err), NN_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_null(img.pixels);

    ck_assert_int_eq(image_load(dir, 3, &img, &err), NN_ERR_IO); /* a directory */
    ck_assert_ptr_nonnull(strstr(err.msg, dir));

    snprintf(path, sizeof path, "%s/text.jpg", dir);
    write_all(path, "hello, not a picture\n", 21);
    ck_assert_int_eq(image_load(path, 3, &img, &err), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_nonnull(strstr(err.msg, "not an image"));

    snprintf(path, sizeof path, "%s/empty.png", dir);
    write_all(path, "", 0);
    ck_assert_int_ne(image_load(path, 3, &img, &err), NN_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, path));

    if (geteuid() != 0) { /* root reads anything */
        snprintf(path, sizeof path, "%s/locked.png", dir);
        write_all(path, "\x89PNG", 4);
        chmod(path, 0);
        ck_assert_int_eq(image_load(path, 3, &img, &err), NN_ERR_IO);
    }
    ck_assert_int_eq(image_load_memory(NULL, 0, 3, &img, &err), NN_ERR_TRUNCATED);
    scratch_remove(dir);
}
END_TEST

/* Every prefix of a valid file is an error (stb alone would pad a cut JPEG or
 * BMP with zeros and accept a PNG without IEND) -- never a crash or overread. */
static void check_truncations(const uint8_t *file, size_t len) {
    nn_error err;
    for (size_t cut = 0; cut < len; cut++) {
        /* an exact-size heap copy so ASan sees any read past the end */
        uint8_t *part = malloc(cut ? cut : 1);
        memcpy(part, file, cut);
        image img;
        nn_status st = image_load_memory(part, cut, 3, &img, &err);
        ck_assert_msg(st != NN_OK, "prefix of %zu/%zu bytes decoded", cut, len);
        ck_assert_ptr_null(img.pixels);
        ck_assert(strlen(err.msg) > 0);
        free(part);
    }
}

START_TEST(truncated_files_fail_cleanly) {
    char dir[64], path[128];
    scratch_make(dir, sizeof dir);
    nn_error err;
    image img;
    make_pattern(&img, 31, 17, 3);
    const char *exts[] = {"png", "jpg"};
    for (int e = 0; e < 2; e++) {
        snprintf(path, sizeof path, "%s/full.%s", dir, exts[e]);
        ck_assert_int_eq(image_save(&img, path, 90, &err), NN_OK);
        size_t len;
        uint8_t *file = read_all(path, &len);
        check_truncations(file, len);
        free(file);
    }
    image_free(&img);
    /* BMP and the OpenCV-written files too */
    const char *files[] = {"fixtures/images/rgb24.bmp", "fixtures/images/progressive.jpg",
                           "fixtures/images/rgb16.png", "fixtures/images/gray8.bmp"};
    for (int f = 0; f < 4; f++) {
        size_t len;
        uint8_t *file = read_all(files[f], &len);
        check_truncations(file, len);
        free(file);
    }
    /* the truncation is reported as such, naming the file */
    snprintf(path, sizeof path, "%s/full.png", dir);
    size_t len;
    uint8_t *file = read_all(path, &len);
    snprintf(path, sizeof path, "%s/cut.png", dir);
    write_all(path, file, len / 2);
    ck_assert_int_eq(image_load(path, 3, &img, &err), NN_ERR_TRUNCATED);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_nonnull(strstr(err.msg, "truncated"));
    free(file);
    scratch_remove(dir);
}
END_TEST

/* Flipped bytes anywhere in a PNG/JPEG: errors or images, never a crash. */
START_TEST(corrupt_bytes_never_crash) {
    char dir[64], path[128];
    scratch_make(dir, sizeof dir);
    nn_error err;
    image img;
    make_pattern(&img, 23, 19, 3);
    const char *exts[] = {"png", "jpg"};
    uint64_t seed = 12345;
    for (int e = 0; e < 2; e++) {
        snprintf(path, sizeof path, "%s/full.%s", dir, exts[e]);
        ck_assert_int_eq(image_save(&img, path, 80, &err), NN_OK);
        size_t len;
        uint8_t *file = read_all(path, &len);
        for (int trial = 0; trial < 300; trial++) {
            uint8_t *bad = malloc(len);
            memcpy(bad, file, len);
            for (int k = 0; k < 3; k++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                size_t at = (size_t)(seed >> 33) % len;
                bad[at] ^= (uint8_t)(1u << ((seed >> 20) & 7));
            }
            image out;
            if (image_load_memory(bad, len, 3, &out, &err) == NN_OK)
                ck_assert(out.width > 0 && out.height > 0);
            image_free(&out);
            free(bad);
        }
        free(file);
    }
    image_free(&img);
    scratch_remove(dir);
}
END_TEST

/* A Huffman table declaring more than 256 codes (Debian's stb would write past
 * its arrays) is refused before stb sees it; trailing bytes after EOI are fine. */
START_TEST(jpeg_structure_checks) {
    size_t len;
    uint8_t *file = read_all("fixtures/images/baseline420.jpg", &len);
    nn_error err;
    image img;
    uint8_t *longer = malloc(len + 100);
    memcpy(longer, file, len);
    memset(longer + len, 0, 100); /* padding some cameras append */
    ck_assert_msg(image_load_memory(longer, len + 100, 3, &img, &err) == NN_OK, "%s", err.msg);
    image_free(&img);
    free(longer);

    size_t dht = 0;
    for (size_t i = 2; i + 1 < len && !dht; i++)
        if (file[i] == 0xFF && file[i + 1] == 0xC4) dht = i;
    ck_assert_uint_gt(dht, 0);
    /* FF C4 len_hi len_lo class/id count[1..16]: claim 2 x 255 codes */
    file[dht + 5 + 14] = 0xFF;
    file[dht + 5 + 15] = 0xFF;
    ck_assert_int_eq(image_load_memory(file, len, 3, &img, &err), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "Huffman"));
    ck_assert_ptr_null(img.pixels);
    free(file);
}
END_TEST

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

static void put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

/* Signature + a valid IHDR (with CRC) for w x h 8-bit RGB, then a stub IDAT. */
static size_t fake_png(uint8_t *buf, uint32_t w, uint32_t h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(buf, sig, 8);
    put_be32(buf + 8, 13);
    memcpy(buf + 12, "IHDR", 4);
    put_be32(buf + 16, w);
    put_be32(buf + 20, h);
    buf[24] = 8, buf[25] = 2, buf[26] = 0, buf[27] = 0, buf[28] = 0;
    put_be32(buf + 29, crc32_png(buf + 12, 17));
    static const uint8_t idat[] = {0, 0, 0, 2, 'I', 'D', 'A', 'T', 0x78, 0x9c, 0, 0, 0, 0};
    memcpy(buf + 33, idat, sizeof idat);
    return 33 + sizeof idat;
}

/* BITMAPFILEHEADER + BITMAPINFOHEADER for w x h 24-bit, then 24 bytes of
 * pixels (a full 3x2 image; far too few for anything larger). */
static size_t fake_bmp(uint8_t *buf, uint32_t w, uint32_t h) {
    memset(buf, 0, 54);
    buf[0] = 'B', buf[1] = 'M';
    put_le32(buf + 2, 54 + 24);
    put_le32(buf + 10, 54);
    put_le32(buf + 14, 40);
    put_le32(buf + 18, w);
    put_le32(buf + 22, h);
    buf[26] = 1;  /* planes */
    buf[28] = 24; /* bits per pixel */
    memset(buf + 54, 0x7f, 24);
    return 54 + 24;
}

START_TEST(absurd_dimensions_refused) {
    uint8_t buf[128];
    nn_error err;
    image img;
    size_t n = fake_png(buf, 100000, 100000);
    ck_assert_int_eq(image_load_memory(buf, n, 3, &img, &err), NN_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(err.msg, "100000x100000"));
    ck_assert_ptr_null(img.pixels);
    n = fake_png(buf, 20000, 3); /* one side over the limit */
    ck_assert_int_eq(image_load_memory(buf, n, 3, &img, &err), NN_ERR_LIMIT);
    n = fake_png(buf, 9000, 9000); /* sides fine, 81 Mpx too many */
    ck_assert_int_eq(image_load_memory(buf, n, 3, &img, &err), NN_ERR_LIMIT);
    n = fake_png(buf, 4, 4); /* sane size, missing data: an ordinary error */
    nn_status st = image_load_memory(buf, n, 3, &img, &err);
    ck_assert(st == NN_ERR_FORMAT || st == NN_ERR_TRUNCATED);

    n = fake_bmp(buf, 100000, 100000);
    ck_assert_int_eq(image_load_memory(buf, n, 3, &img, &err), NN_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(err.msg, "100000x100000"));
    n = fake_bmp(buf, 3, 2); /* the same header with a sane size decodes */
    ck_assert_msg(image_load_memory(buf, n, 3, &img, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(img.pixels[0], 0x7f);
    image_free(&img);
}
END_TEST

START_TEST(save_errors) {
    char dir[64], path[160];
    scratch_make(dir, sizeof dir);
    nn_error err;
    image img;
    make_pattern(&img, 4, 4, 3);
    snprintf(path, sizeof path, "%s/a.gif", dir);
    ck_assert_int_eq(image_save(&img, path, 90, &err), NN_ERR_ARG);
    snprintf(path, sizeof path, "%s/no/such/dir/a.png", dir);
    ck_assert_int_eq(image_save(&img, path, 90, &err), NN_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    image empty = {0};
    snprintf(path, sizeof path, "%s/a.png", dir);
    ck_assert_int_eq(image_save(&empty, path, 90, &err), NN_ERR_ARG);
    /* overwriting replaces the file */
    ck_assert_int_eq(image_save(&img, path, 90, &err), NN_OK);
    img.pixels[0] = 200;
    ck_assert_int_eq(image_save(&img, path, 90, &err), NN_OK);
    image back;
    ck_assert_int_eq(image_load(path, 3, &back, &err), NN_OK);
    ck_assert_int_eq(back.pixels[0], 200);
    image_free(&back);
    ck_assert_int_eq(scratch_count(dir), 1);
    image_free(&img);
    scratch_remove(dir);
}
END_TEST

/* ---- resize ------------------------------------------------------------------ */

static const char *resize_cases[] = {"up3",     "down3",   "mixed1",  "half1",
                                     "width1",  "smooth3", "odd_up1", "down4_3"};
#define N_RESIZE_CASES (int)(sizeof resize_cases / sizeof resize_cases[0])

START_TEST(resize_matches_opencv) {
    tu_fixture *fx = tu_fixture_load("fixtures/vision_resize.nnfx");
    ck_assert_ptr_nonnull(fx);
    char name[64];
    snprintf(name, sizeof name, "%s_src", resize_cases[_i]);
    nn_tensor *src_t = tu_fixture_tensor(fx, name);
    snprintf(name, sizeof name, "%s_dst", resize_cases[_i]);
    nn_tensor *dst_t = tu_fixture_tensor(fx, name);
    ck_assert(src_t && dst_t);
    nn_error err;
    image src, dst;
    ck_assert_int_eq(image_alloc(&src, src_t->shape[1], src_t->shape[0], src_t->shape[2], &err),
                     NN_OK);
    for (size_t i = 0; i < src_t->numel; i++) src.pixels[i] = (uint8_t)src_t->data[i];
    ck_assert_int_eq(image_resize(&src, dst_t->shape[1], dst_t->shape[0], &dst, &err), NN_OK);
    ck_assert_int_eq(dst.channels, src.channels);
    int worst = max_diff_vs(&dst, dst_t->data, dst_t->numel);
    ck_assert_msg(worst <= 1, "%s: differs from cv2.resize by %d grey levels", resize_cases[_i],
                  worst);
    image_free(&src);
    image_free(&dst);
    nn_tensor_free(src_t);
    nn_tensor_free(dst_t);
    tu_fixture_free(fx);
}
END_TEST

START_TEST(resize_same_size_is_copy) {
    nn_error err;
    image img, out;
    make_pattern(&img, 11, 6, 3);
    ck_assert_int_eq(image_resize(&img, 11, 6, &out, &err), NN_OK);
    ck_assert_mem_eq(out.pixels, img.pixels, 11 * 6 * 3);
    image_free(&out);
    ck_assert_int_eq(image_resize(&img, 0, 6, &out, &err), NN_ERR_ARG);
    ck_assert_ptr_null(out.pixels);
    image_free(&img);
}
END_TEST

/* ---- crop / flip / gamma / to_chw --------------------------------------------- */

START_TEST(crop_inside_and_outside) {
    nn_error err;
    image img, out;
    make_pattern(&img, 8, 6, 3);
    ck_assert_int_eq(image_crop(&img, 2, 1, 3, 4, 9, &out, &err), NN_OK);
    for (int y = 0; y < 4; y++)
        ck_assert_mem_eq(out.pixels + y * 9, img.pixels + ((y + 1) * 8 + 2) * 3, 9);
    image_free(&out);

    /* hangs over the top-left corner: 2 columns and 1 row of fill */
    ck_assert_int_eq(image_crop(&img, -2, -1, 4, 3, 77, &out, &err), NN_OK);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++)
            for (int k = 0; k < 3; k++) {
                int v = out.pixels[(y * 4 + x) * 3 + k];
                if (x < 2 || y < 1) ck_assert_int_eq(v, 77);
                else ck_assert_int_eq(v, img.pixels[((y - 1) * 8 + (x - 2)) * 3 + k]);
            }
    image_free(&out);

    /* bottom-right overhang and an entirely outside crop */
    ck_assert_int_eq(image_crop(&img, 6, 4, 5, 5, 1, &out, &err), NN_OK);
    ck_assert_int_eq(out.pixels[0], img.pixels[(4 * 8 + 6) * 3]);
    ck_assert_int_eq(out.pixels[(2 * 5 + 2) * 3], 1);
    image_free(&out);
    ck_assert_int_eq(image_crop(&img, -100, 50, 3, 2, 5, &out, &err), NN_OK);
    for (int i = 0; i < 18; i++) ck_assert_int_eq(out.pixels[i], 5);
    image_free(&out);
    ck_assert_int_eq(image_crop(&img, 2147483000, 2147483000, 3, 2, 5, &out, &err), NN_OK);
    ck_assert_int_eq(out.pixels[0], 5);
    image_free(&out);
    ck_assert_int_eq(image_crop(&img, 0, 0, 0, 2, 5, &out, &err), NN_ERR_ARG);
    image_free(&img);
}
END_TEST

START_TEST(flip_horizontal) {
    image img, orig;
    nn_error err;
    for (int c = 1; c <= 4; c += (c == 1 ? 2 : 1)) {
        for (int w = 1; w <= 4; w++) {
            make_pattern(&orig, w, 3, c);
            ck_assert_int_eq(image_copy(&orig, &img, &err), NN_OK);
            ck_assert(img.pixels != orig.pixels);
            image_flip_horizontal(&img);
            for (int y = 0; y < 3; y++)
                for (int x = 0; x < w; x++)
                    ck_assert_mem_eq(img.pixels + (y * w + x) * c,
                                     orig.pixels + (y * w + (w - 1 - x)) * c, (size_t)c);
            image_flip_horizontal(&img);
            ck_assert_mem_eq(img.pixels, orig.pixels, (size_t)w * 3 * c);
            image_free(&img);
            image_free(&orig);
        }
    }
    image none = {0};
    ck_assert_int_eq(image_copy(&none, &img, &err), NN_ERR_ARG);
}
END_TEST

START_TEST(gamma_matches_keras_table) {
    tu_fixture *fx = tu_fixture_load("fixtures/vision_gamma.nnfx");
    ck_assert_ptr_nonnull(fx);
    size_t ng, nt;
    const float *gammas = tu_fixture_data(fx, "gammas", &ng);
    const float *tables = tu_fixture_data(fx, "tables", &nt);
    ck_assert_uint_eq(nt, ng * 256);
    nn_error err;
    for (size_t g = 0; g < ng; g++) {
        image img;
        ck_assert_int_eq(image_alloc(&img, 256, 1, 3, &err), NN_OK);
        for (int i = 0; i < 256 * 3; i++) img.pixels[i] = (uint8_t)(i / 3);
        image_adjust_gamma(&img, gammas[g]);
        for (int i = 0; i < 256 * 3; i++)
            ck_assert_msg(img.pixels[i] == (int)tables[g * 256 + i / 3],
                          "gamma %g, input %d: %d, python %d", gammas[g], i / 3, img.pixels[i],
                          (int)tables[g * 256 + i / 3]);
        image_free(&img);
    }
    tu_fixture_free(fx);
    /* gamma 1 is the identity (255 * (i/255) truncates back to i) */
    image img;
    make_pattern(&img, 16, 16, 1);
    image copy;
    make_pattern(&copy, 16, 16, 1);
    image_adjust_gamma(&img, 1.0f);
    ck_assert_mem_eq(img.pixels, copy.pixels, 256);
    image_free(&img);
    image_free(&copy);
}
END_TEST

START_TEST(to_chw_mean_scale_order) {
    nn_error err;
    image img;
    ck_assert_int_eq(image_alloc(&img, 2, 1, 3, &err), NN_OK);
    const uint8_t px[6] = {10, 20, 30, 40, 50, 60}; /* two RGB pixels */
    memcpy(img.pixels, px, 6);
    float out[6];
    const float mean[3] = {1, 2, 3}, scale[3] = {0.5f, 2.f, -1.f};
    image_to_chw(&img, mean, scale, false, out);
    const float rgb_ref[6] = {(10 - 1) * 0.5f, (40 - 1) * 0.5f, (20 - 2) * 2.f,
                              (50 - 2) * 2.f,  -(30 - 3.f),      -(60 - 3.f)};
    tu_assert_close(out, rgb_ref, 6, 0, 1e-6);
    image_to_chw(&img, mean, scale, true, out); /* plane 0 is blue, mean[0] goes with it */
    const float bgr_ref[6] = {(30 - 1) * 0.5f, (60 - 1) * 0.5f, (20 - 2) * 2.f,
                              (50 - 2) * 2.f,  -(10 - 3.f),      -(40 - 3.f)};
    tu_assert_close(out, bgr_ref, 6, 0, 1e-6);
    image_free(&img);
    /* a grey image feeds all three planes */
    ck_assert_int_eq(image_alloc(&img, 2, 1, 1, &err), NN_OK);
    img.pixels[0] = 7, img.pixels[1] = 9;
    image_to_chw(&img, mean, scale, false, out);
    const float grey_ref[6] = {3.f, 4.f, 10.f, 14.f, -4.f, -6.f};
    tu_assert_close(out, grey_ref, 6, 0, 1e-6);
    image_free(&img);
}
END_TEST

Suite *image_suite(void) {
    Suite *s = suite_create("image");
    TCase *io = tcase_create("io");
    tcase_set_timeout(io, 120);
    tcase_add_test(io, alloc_checks_arguments);
    tcase_add_test(io, png_roundtrip_all_channel_counts);
    tcase_add_test(io, channel_conversion_on_load);
    tcase_add_test(io, jpeg_roundtrip);
    tcase_add_test(io, bmp_written_by_stb);
    tcase_add_test(io, bmp_unknown_compression_refused);
    tcase_add_test(io, jpeg_undefined_tables_refused);
    tcase_add_test(io, jpeg_repeated_scans_refused);
    tcase_add_test(io, fixture_files_decode);
    tcase_add_test(io, missing_unreadable_not_image);
    tcase_add_test(io, truncated_files_fail_cleanly);
    tcase_add_test(io, corrupt_bytes_never_crash);
    tcase_add_test(io, absurd_dimensions_refused);
    tcase_add_test(io, jpeg_structure_checks);
    tcase_add_test(io, save_errors);
    suite_add_tcase(s, io);
    TCase *ops = tcase_create("ops");
    tcase_add_loop_test(ops, resize_matches_opencv, 0, N_RESIZE_CASES);
    tcase_add_test(ops, resize_same_size_is_copy);
    tcase_add_test(ops, crop_inside_and_outside);
    tcase_add_test(ops, flip_horizontal);
    tcase_add_test(ops, gamma_matches_keras_table);
    tcase_add_test(ops, to_chw_mean_scale_order);
    suite_add_tcase(s, ops);
    return s;
}
