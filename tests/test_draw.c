/* test_draw.c - rectangles, lines, text and labels land on the expected
 * pixels, stay inside the image for any coordinates; the font table is sane. */
#include <limits.h>
#include <string.h>

#include "draw.h"
#include "font.h"
#include "testutil.h"

static const draw_color RED = {255, 0, 0};

static void blank(image *img, int w, int h, int c) {
    nn_error err;
    ck_assert_int_eq(image_alloc(img, w, h, c, &err), NN_OK); /* zeroed: black */
}

static bool is_red(const image *img, int x, int y) {
    const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * img->channels;
    return p[0] == 255 && p[1] == 0 && p[2] == 0;
}

static bool is_black(const image *img, int x, int y) {
    const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * img->channels;
    for (int k = 0; k < img->channels; k++)
        if (p[k]) return false;
    return true;
}

static int count_colored(const image *img) {
    int n = 0;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) n += !is_black(img, x, y);
    return n;
}

START_TEST(fill_rect_and_clipping) {
    image img;
    blank(&img, 10, 8, 3);
    draw_fill_rect(&img, 2, 3, 4, 2, RED);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 10; x++) {
            bool inside = x >= 2 && x < 6 && y >= 3 && y < 5;
            ck_assert_msg(inside ? is_red(&img, x, y) : is_black(&img, x, y), "pixel %d,%d", x,
                          y);
        }
    memset(img.pixels, 0, 240);
    draw_fill_rect(&img, -3, -2, 5, 4, RED); /* covers x 0..1, y 0..1 */
    ck_assert_int_eq(count_colored(&img), 4);
    ck_assert(is_red(&img, 1, 1));
    memset(img.pixels, 0, 240);
    draw_fill_rect(&img, 8, 6, 100, 100, RED);
    ck_assert_int_eq(count_colored(&img), 4);
    /* extreme coordinates: nothing or everything, never outside the buffer */
    draw_fill_rect(&img, INT_MAX, INT_MAX, INT_MAX, INT_MAX, RED);
    draw_fill_rect(&img, INT_MIN, INT_MIN, 5, 5, RED);
    ck_assert_int_eq(count_colored(&img), 4);
    draw_fill_rect(&img, INT_MIN, INT_MIN, INT_MAX, INT_MAX, RED); /* ends at -1: nothing */
    ck_assert_int_eq(count_colored(&img), 4);
    draw_fill_rect(&img, -5, -5, INT_MAX, INT_MAX, RED);
    ck_assert_int_eq(count_colored(&img), 80);
    draw_pixel(&img, -1, 0, RED);
    draw_pixel(&img, 10, 0, RED);
    image_free(&img);
}
END_TEST

START_TEST(rect_outline_thickness) {
    image img;
    blank(&img, 20, 16, 3);
    draw_rect(&img, 2, 3, 10, 8, 1, RED); /* x 2..11, y 3..10 */
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 20; x++) {
            bool in_box = x >= 2 && x <= 11 && y >= 3 && y <= 10;
            bool border = in_box && (x == 2 || x == 11 || y == 3 || y == 10);
            ck_assert_msg(border ? is_red(&img, x, y) : is_black(&img, x, y), "pixel %d,%d", x,
                          y);
        }
    ck_assert_int_eq(count_colored(&img), 2 * 10 + 2 * 6);
    memset(img.pixels, 0, 20 * 16 * 3);
    draw_rect(&img, 2, 3, 10, 8, 3, RED); /* inner hole x 5..8, y 6..7 */
    ck_assert_int_eq(count_colored(&img), 10 * 8 - 4 * 2);
    ck_assert(is_red(&img, 4, 7));
    ck_assert(is_black(&img, 5, 7));
    ck_assert(is_red(&img, 9, 7));
    ck_assert(is_black(&img, 8, 6));
    memset(img.pixels, 0, 20 * 16 * 3);
    draw_rect(&img, 0, 0, 6, 6, 3, RED); /* thickness >= half: solid */
    ck_assert_int_eq(count_colored(&img), 36);
    memset(img.pixels, 0, 20 * 16 * 3);
    draw_rect(&img, 15, -4, 10, 10, 2, RED); /* clipped: left edge and bottom edge show */
    ck_assert(is_red(&img, 15, 0));
    ck_assert(is_red(&img, 16, 5));
    ck_assert(is_red(&img, 19, 4));
    ck_assert(is_black(&img, 18, 2));
    draw_rect(&img, 1, 1, 5, 5, 0, RED); /* thickness 0 draws nothing */
    ck_assert(is_black(&img, 1, 1));
    image_free(&img);
}
END_TEST

START_TEST(lines) {
    image img;
    blank(&img, 12, 10, 3);
    draw_line(&img, 1, 2, 8, 2, 1, RED);
    ck_assert_int_eq(count_colored(&img), 8);
    for (int x = 1; x <= 8; x++) ck_assert(is_red(&img, x, 2));
    memset(img.pixels, 0, 12 * 10 * 3);
    draw_line(&img, 7, 7, 0, 0, 1, RED); /* diagonal, either direction */
    ck_assert_int_eq(count_colored(&img), 8);
    for (int i = 0; i < 8; i++) ck_assert(is_red(&img, i, i));
    memset(img.pixels, 0, 12 * 10 * 3);
    draw_line(&img, 5, 1, 5, 8, 3, RED); /* thickness 3: columns 4..6 */
    ck_assert_int_eq(count_colored(&img), 3 * 10);
    ck_assert(is_red(&img, 4, 0) && is_red(&img, 6, 9));
    ck_assert(is_black(&img, 3, 5) && is_black(&img, 7, 5));
    memset(img.pixels, 0, 12 * 10 * 3);
    /* far-away end points: clipped, the visible part still drawn */
    draw_line(&img, -1000000000, 4, 1000000000, 4, 1, RED);
    ck_assert_int_eq(count_colored(&img), 12);
    draw_line(&img, INT_MIN, INT_MIN, INT_MAX, INT_MAX, 1, RED);
    draw_line(&img, INT_MIN, 3, INT_MIN, 5, 1, RED); /* entirely outside */
    draw_line(&img, 3, 3, 3, 3, INT_MAX, RED);       /* huge brush: whole image */
    ck_assert_int_eq(count_colored(&img), 120);
    image_free(&img);
}
END_TEST

/* 'T' is "#####" then "..#.." for six rows: check it by hand at scale 1 and 3. */
START_TEST(text_pixels) {
    image img;
    blank(&img, 30, 30, 3);
    draw_text(&img, 4, 5, "T", 1, RED);
    for (int col = 0; col < 5; col++) ck_assert(is_red(&img, 4 + col, 5));
    for (int row = 1; row < 7; row++) {
        ck_assert(is_red(&img, 6, 5 + row));
        ck_assert(is_black(&img, 5, 5 + row));
        ck_assert(is_black(&img, 7, 5 + row));
    }
    ck_assert_int_eq(count_colored(&img), 5 + 6);
    memset(img.pixels, 0, 30 * 30 * 3);
    draw_text(&img, 1, 2, "T", 3, RED);
    ck_assert_int_eq(count_colored(&img), (5 + 6) * 9);
    ck_assert(is_red(&img, 1, 2) && is_red(&img, 15, 4)); /* top bar: x 1..15, y 2..4 */
    ck_assert(is_black(&img, 16, 2));
    ck_assert(is_red(&img, 7, 22) && is_red(&img, 9, 22)); /* stem: x 7..9 down to y 22 */
    ck_assert(is_black(&img, 7, 23) && is_black(&img, 6, 10));

    /* second character starts one cell (6 px) later; '\n' returns to x */
    memset(img.pixels, 0, 30 * 30 * 3);
    draw_text(&img, 0, 0, " T\nT", 1, RED);
    ck_assert(is_red(&img, 6, 0) && is_red(&img, 8, 6));
    ck_assert(is_red(&img, 0, 10) && is_red(&img, 2, 16));
    ck_assert_int_eq(count_colored(&img), 22);
    /* text running off the image is clipped */
    draw_text(&img, 25, 25, "TTTT", 2, RED);
    draw_text(&img, INT_MAX - 3, INT_MIN, "TT", 5, RED);
    image_free(&img);
}
END_TEST

START_TEST(font_table_sane) {
    /* every printable character but space has ink, all glyphs differ */
    bool seen_ink[95] = {false};
    uint64_t sig[95][1];
    for (int ch = 33; ch < 127; ch++) {
        uint64_t bits = 0;
        for (int r = 0; r < FONT_GLYPH_H; r++)
            for (int c = 0; c < FONT_GLYPH_W; c++)
                if (font_pixel((char)ch, c, r)) bits |= 1ULL << (r * FONT_GLYPH_W + c);
        seen_ink[ch - 32] = bits != 0;
        sig[ch - 32][0] = bits;
        ck_assert_msg(seen_ink[ch - 32], "glyph '%c' is empty", ch);
        for (int other = 33; other < ch; other++)
            ck_assert_msg(sig[other - 32][0] != bits, "'%c' and '%c' look the same", other, ch);
    }
    for (int r = 0; r < FONT_GLYPH_H; r++)
        for (int c = 0; c < FONT_GLYPH_W; c++) ck_assert(!font_pixel(' ', c, r));
    /* descenders use the bottom rows, capitals do not */
    ck_assert(font_pixel('g', 1, 8) || font_pixel('g', 2, 8));
    for (int c = 0; c < FONT_GLYPH_W; c++) ck_assert(!font_pixel('E', c, 7));
    /* outside the box and non-ASCII */
    ck_assert(!font_pixel('A', -1, 0) && !font_pixel('A', 5, 0) && !font_pixel('A', 0, 9));
    for (int r = 0; r < FONT_GLYPH_H; r++)
        for (int c = 0; c < FONT_GLYPH_W; c++) {
            ck_assert_int_eq(font_pixel('\x01', c, r), font_pixel('?', c, r));
            ck_assert_int_eq(font_pixel((char)200, c, r), font_pixel('?', c, r));
        }
    int w, h;
    font_text_size("ab", 1, &w, &h);
    ck_assert_int_eq(w, 11);
    ck_assert_int_eq(h, 9);
    font_text_size("ab\ncde", 2, &w, &h);
    ck_assert_int_eq(w, 34);
    ck_assert_int_eq(h, 38);
    font_text_size("", 1, &w, &h);
    ck_assert_int_eq(w, 0);
}
END_TEST

START_TEST(label_box) {
    image img;
    blank(&img, 60, 40, 3);
    const draw_color bg = {0, 0, 255}, fg = {255, 255, 255};
    draw_label(&img, 5, 30, "Hi", 1, bg, fg); /* box 11+4 x 9+4, bottom at y 29 */
    int tw, th;
    font_text_size("Hi", 1, &tw, &th);
    int bw = tw + 4, bh = th + 4;
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 60; x++) {
            const uint8_t *p = img.pixels + (y * 60 + x) * 3;
            bool in_box = x >= 5 && x < 5 + bw && y >= 30 - bh && y < 30;
            if (!in_box) ck_assert(is_black(&img, x, y));
            else ck_assert(p[2] == 255 && (p[0] == 0 || p[0] == 255)); /* bg or fg */
        }
    /* 'H' stem at the text origin (box corner + 2 px padding) is foreground */
    ck_assert_int_eq(img.pixels[((30 - bh + 2) * 60 + 7) * 3], 255);
    /* no room above: hangs below y; too far right: moved left */
    memset(img.pixels, 0, 60 * 40 * 3);
    draw_label(&img, 55, 3, "Hi", 1, bg, fg);
    ck_assert(!is_black(&img, 59, 3) && !is_black(&img, 60 - bw, 3 + bh - 1));
    ck_assert(is_black(&img, 59, 2) && is_black(&img, 60 - bw - 1, 5));
    image_free(&img);
}
END_TEST

START_TEST(class_colors_and_channel_counts) {
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < i; j++) {
            draw_color a = draw_class_color(i), b = draw_class_color(j);
            ck_assert(a.r != b.r || a.g != b.g || a.b != b.b);
        }
    draw_color c10 = draw_class_color(10), c0 = draw_class_color(0);
    ck_assert(c10.r == c0.r && c10.g == c0.g && c10.b == c0.b);
    ck_assert(c0.g > c0.r); /* with_mask green */
    draw_color c1 = draw_class_color(1);
    ck_assert(c1.r > c1.g); /* without_mask red */
    draw_color grey = draw_class_color(-1);
    ck_assert(grey.r == grey.g && grey.g == grey.b);

    image g, rgba;
    blank(&g, 4, 4, 1);
    draw_fill_rect(&g, 0, 0, 2, 2, (draw_color){100, 200, 50}); /* 29.9 + 117.4 + 5.7 = 153 */
    ck_assert_int_eq(g.pixels[0], 153);
    ck_assert_int_eq(g.pixels[2], 0);
    image_free(&g);
    blank(&rgba, 4, 4, 4);
    draw_pixel(&rgba, 1, 1, RED);
    const uint8_t want[4] = {255, 0, 0, 255};
    ck_assert_mem_eq(rgba.pixels + 5 * 4, want, 4);
    image_free(&rgba);
    /* a zeroed image is ignored */
    image none = {0};
    draw_fill_rect(&none, 0, 0, 3, 3, RED);
    draw_text(&none, 0, 0, "x", 1, RED);
}
END_TEST

Suite *draw_suite(void) {
    Suite *s = suite_create("draw");
    TCase *tc = tcase_create("draw");
    tcase_add_test(tc, fill_rect_and_clipping);
    tcase_add_test(tc, rect_outline_thickness);
    tcase_add_test(tc, lines);
    tcase_add_test(tc, text_pixels);
    tcase_add_test(tc, font_table_sane);
    tcase_add_test(tc, label_box);
    tcase_add_test(tc, class_colors_and_channel_counts);
    suite_add_tcase(s, tc);
    return s;
}
