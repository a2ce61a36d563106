/*
 * embed_detect.c - the smallest program that embeds maskdet: open the
 * bundled models, find the faces in one RGB image and say who wears a mask.
 * It uses only apps/lib/maskdet.h (and stb_image to read a photo); build it
 * as any program that embeds the library would:
 *
 *   cc -Iapps/lib -I/usr/include/stb embed_detect.c build/libmaskdet.a \
 *      -lcjson -lstb -lm -pthread -o embed_detect
 *   ./embed_detect photo.jpg      # or no argument: a synthetic frame
 *
 * The bundled models are found in $MASKDET_MODELS, ./models or models/ beside
 * the program's folder (run it from the repository root).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#include "maskdet.h"

/* A stand-in camera frame: a grey background with a lighter disc, padded to
 * a stride of whole 64-byte lines as video buffers often are. */
static unsigned char *synthetic_frame(int width, int height, int *stride) {
    *stride = (width * 3 + 63) / 64 * 64;
    unsigned char *rgb = malloc((size_t)*stride * height);
    if (!rgb) return NULL;
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            int dx = x - width / 2, dy = y - height / 2;
            unsigned char v = dx * dx + dy * dy < 80 * 80 ? 200 : 90;
            memset(rgb + (size_t)y * *stride + x * 3, v, 3);
        }
    return rgb;
}

int main(int argc, char **argv) {
    /* 1. A frame: the caller owns its pixels (RGB, 3 bytes a pixel). */
    int width = 640, height = 480, stride;
    unsigned char *rgb;
    if (argc > 1) {
        int channels;
        rgb = stbi_load(argv[1], &width, &height, &channels, 3);
        if (!rgb) {
            fprintf(stderr, "embed_detect: cannot read %s: %s\n", argv[1], stbi_failure_reason());
            return 1;
        }
        stride = width * 3; /* stb packs its rows */
    } else {
        rgb = synthetic_frame(width, height, &stride);
        if (!rgb) return 1;
    }

    /* 2. Load the models once (defaults: the bundled detector and classifier). */
    maskdet_options opt = maskdet_options_default();
    maskdet *md;
    maskdet_error err;
    if (maskdet_open(&opt, &md, &err) != 0) {
        fprintf(stderr, "embed_detect: %s\n", err.msg);
        free(rgb);
        return 1;
    }

    /* 3. One call per frame. The result array is ours; the return value is the
     * number of faces found, which may exceed the room we gave (as snprintf). */
    maskdet_face faces[32];
    int n = maskdet_detect(md, rgb, width, height, stride, faces, 32, &err);
    if (n < 0) {
        fprintf(stderr, "embed_detect: %s\n", err.msg);
        maskdet_close(md);
        free(rgb);
        return 1;
    }
    printf("%s: %d face%s\n", argc > 1 ? argv[1] : "synthetic frame", n, n == 1 ? "" : "s");
    for (int i = 0; i < n && i < 32; i++)
        printf("  %-7s %.2f  (face %.2f)  box %.0f,%.0f - %.0f,%.0f\n", faces[i].label_name,
               faces[i].score, faces[i].face_score, faces[i].x1, faces[i].y1, faces[i].x2,
               faces[i].y2);
    maskdet_timing t = maskdet_last_timing(md);
    printf("  %.1f ms (detect %.1f, classify %.1f)\n", t.total_ms, t.detect_ms, t.classify_ms);

    /* 4. Release the models; the frame was always the caller's. */
    maskdet_close(md);
    if (argc > 1) stbi_image_free(rgb);
    else free(rgb);
    return 0;
}
