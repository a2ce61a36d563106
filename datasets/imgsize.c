/*
 * imgsize.c - width and height from PNG / JPEG / BMP headers.
 *
 * PNG: 8-byte signature, then the IHDR chunk holds width and height as
 * big-endian u32. JPEG: a chain of markers (FF xx, then a big-endian u16
 * length) until a start-of-frame marker SOF0..SOF15 (not DHT C4, JPG C8,
 * DAC CC), whose payload is precision u8, height u16, width u16.
 * BMP: "BM", then width/height as little-endian i32 at offsets 18 and 22, or
 * as u16 at 18 and 20 in the old OS/2 header (header size 12 at offset 14).
 */
#include "imgsize.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned be16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static int32_t le32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

static nn_status jpeg_size(FILE *f, const char *path, int *w, int *h, nn_error *err) {
    /* After SOI (FF D8), walk the markers. Bound the walk so a crafted file cannot loop. */
    for (int markers = 0; markers < 10000; markers++) {
        int c = fgetc(f);
        if (c != 0xFF) break;
        while (c == 0xFF)
            c = fgetc(f); /* fill bytes */
        if (c == EOF) break;
        if (c == 0xD8 || (c >= 0xD0 && c <= 0xD7) || c == 0x01) continue; /* no payload */
        if (c == 0xD9 || c == 0xDA) break; /* end of image / start of scan before any SOF */
        uint8_t len_bytes[2];
        if (fread(len_bytes, 1, 2, f) != 2) break;
        unsigned len = be16(len_bytes);
        if (len < 2) break;
        int is_sof = c >= 0xC0 && c <= 0xCF && c != 0xC4 && c != 0xC8 && c != 0xCC;
        if (is_sof) {
            uint8_t sof[5];
            if (len < 7 || fread(sof, 1, 5, f) != 5) break;
            *h = (int)be16(sof + 1);
            *w = (int)be16(sof + 3);
            if (*w <= 0 || *h <= 0) break;
            return NN_OK;
        }
        if (fseek(f, (long)len - 2, SEEK_CUR) != 0) break;
    }
    return nn_error_set(err, NN_ERR_FORMAT, "%s: damaged JPEG header (no frame size found)", path);
}

nn_status imgsize_read(const char *path, int *width_px, int *height_px, nn_error *err) {
    if (!path || !width_px || !height_px)
        return nn_error_set(err, NN_ERR_ARG, "imgsize_read: NULL argument");
    *width_px = *height_px = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return nn_error_set(err, NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t head[26];
    size_t got = fread(head, 1, sizeof head, f);
    nn_status st;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (got >= 24 && memcmp(head, png_sig, 8) == 0 && memcmp(head + 12, "IHDR", 4) == 0) {
        uint32_t w = be32(head + 16), h = be32(head + 20);
        if (w == 0 || h == 0 || w > INT32_MAX || h > INT32_MAX)
            st = nn_error_set(err, NN_ERR_FORMAT, "%s: PNG header gives a bad size", path);
        else {
            *width_px = (int)w;
            *height_px = (int)h;
            st = NN_OK;
        }
    } else if (got >= 2 && head[0] == 0xFF && head[1] == 0xD8) {
        fseek(f, 2, SEEK_SET);
        st = jpeg_size(f, path, width_px, height_px, err);
    } else if (got >= 26 && head[0] == 'B' && head[1] == 'M') {
        int32_t w = le32(head + 18), h = le32(head + 22);
        if (le32(head + 14) == 12) { /* OS/2 BITMAPCOREHEADER: 16-bit sizes */
            w = head[18] | head[19] << 8;
            h = head[20] | head[21] << 8;
        }
        if (h < 0 && h != INT32_MIN) h = -h; /* top-down BMP */
        if (w <= 0 || h <= 0)
            st = nn_error_set(err, NN_ERR_FORMAT, "%s: BMP header gives a bad size", path);
        else {
            *width_px = w;
            *height_px = h;
            st = NN_OK;
        }
    } else {
        st = nn_error_set(err, NN_ERR_FORMAT, "%s: not a JPEG, PNG or BMP file", path);
    }
    fclose(f);
    return st;
}

int imgsize_is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    static const char *exts[] = {".jpg", ".jpeg", ".png", ".bmp"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        if (strlen(dot) != strlen(exts[i])) continue;
        size_t k = 0;
        while (dot[k] && tolower((unsigned char)dot[k]) == exts[i][k])
            k++;
        if (!dot[k]) return 1;
    }
    return 0;
}
