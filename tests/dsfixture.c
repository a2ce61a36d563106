/*
 * dsfixture.c - temporary data-set folders for tests (see dsfixture.h).
 */
#define _XOPEN_SOURCE 700
#include "dsfixture.h"

#include <check.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"

void dsf_make_tempdir(char *path, size_t path_len) {
    const char *tmp = getenv("TMPDIR");
    snprintf(path, path_len, "%s/maskdet-test-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    ck_assert_msg(mkdtemp(path) != NULL, "cannot create a temp folder at %s", path);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void dsf_remove_tree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void make_parents(char *full) {
    for (char *p = full + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(full, 0777);
            *p = '/';
        }
}

void dsf_write(const char *root, const char *rel, const void *bytes, size_t len) {
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", root, rel);
    make_parents(full);
    FILE *f = fopen(full, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", full);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

void dsf_write_text(const char *root, const char *rel, const char *text) {
    dsf_write(root, rel, text, strlen(text));
}

void dsf_write_png_header(const char *root, const char *rel, int width, int height) {
    uint8_t b[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (int i = 0; i < 4; i++) {
        b[16 + i] = (uint8_t)((uint32_t)width >> (24 - 8 * i));
        b[20 + i] = (uint8_t)((uint32_t)height >> (24 - 8 * i));
    }
    b[24] = 8; /* bit depth */
    b[25] = 2; /* RGB */
    dsf_write(root, rel, b, sizeof b);
}

void dsf_write_jpeg_header(const char *root, const char *rel, int width, int height) {
    /* clang-format off */
    uint8_t b[] = {
        0xFF, 0xD8,                                                               /* SOI */
        0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, /* APP0 */
        0xFF, 0xC0, 0x00, 0x11, 8, 0, 0, 0, 0, 3,       /* SOF0: height, width filled below */
        1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
        0xFF, 0xD9};                                                              /* EOI */
    /* clang-format on */
    b[25] = (uint8_t)(height >> 8);
    b[26] = (uint8_t)height;
    b[27] = (uint8_t)(width >> 8);
    b[28] = (uint8_t)width;
    dsf_write(root, rel, b, sizeof b);
}

int dsf_exists(const char *root, const char *rel) {
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", root, rel);
    struct stat st;
    return stat(full, &st) == 0 && S_ISREG(st.st_mode);
}

void dsf_write_fake_face(const char *path, int masked, unsigned seed) {
    image img = {0};
    nn_error err = {0};
    ck_assert_int_eq(image_alloc(&img, 16, 16, 3, &err), NN_OK);
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++)
            for (int ch = 0; ch < 3; ch++) {
                seed = seed * 1103515245u + 12345u;
                int v = 60 + (int)(seed >> 16) % 60 + (masked && y >= 8 ? 120 : 0);
                img.pixels[(y * 16 + x) * 3 + ch] = (uint8_t)v;
            }
    ck_assert_msg(image_save(&img, path, 0, &err) == NN_OK, "%s", err.msg);
    image_free(&img);
}

void dsf_write_face_folders(const char *root, int n) {
    for (int cls = 0; cls < 2; cls++)
        for (int i = 0; i < n; i++) {
            char rel[128], path[4096];
            snprintf(rel, sizeof rel, "faces/%s/%02d.png", cls ? "without_mask" : "with_mask", i);
            dsf_write_text(root, rel, ""); /* creates the folders */
            snprintf(path, sizeof path, "%s/%s", root, rel);
            dsf_write_fake_face(path, cls == 0, (unsigned)(i * 2 + cls + 1));
        }
}

void dsf_write_voc_photos(const char *root) {
    nn_error err = {0};
    for (int i = 0; i < 8; i++) {
        image img = {0};
        ck_assert_int_eq(image_alloc(&img, 64, 48, 3, &err), NN_OK);
        for (int k = 0; k < 64 * 48 * 3; k++) img.pixels[k] = (uint8_t)(40 + (k * 7 + i * 13) % 50);
        int x1 = 4 + 5 * i, y1 = 6 + (i % 3) * 4, side = 12 + (i % 4) * 3;
        int x2 = x1 + side < 64 ? x1 + side : 64;
        for (int y = y1; y < y1 + side; y++)
            for (int x = x1; x < x2; x++) memset(img.pixels + (y * 64 + x) * 3, 230, 3);
        char rel[256], path[4096], xml[1024];
        snprintf(rel, sizeof rel, "data/images/p%d.png", i);
        dsf_write_text(root, rel, "");
        snprintf(path, sizeof path, "%s/%s", root, rel);
        ck_assert_int_eq(image_save(&img, path, 0, &err), NN_OK);
        image_free(&img);
        snprintf(xml, sizeof xml,
                 "<annotation><filename>p%d.png</filename>\n"
                 "<size><width>64</width><height>48</height><depth>3</depth></size>\n"
                 "<object><name>%s</name><bndbox><xmin>%d</xmin><ymin>%d</ymin>"
                 "<xmax>%d</xmax><ymax>%d</ymax></bndbox></object>\n"
                 "</annotation>\n",
                 i, i % 2 ? "with_mask" : "without_mask", x1, y1, x2, y1 + side);
        snprintf(rel, sizeof rel, "data/annotations/p%d.xml", i);
        dsf_write_text(root, rel, xml);
    }
}
