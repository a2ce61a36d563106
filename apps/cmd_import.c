/*
 * cmd_import.c - `maskdet import-caffe`: convert a Caffe SSD detector
 * (prototxt + caffemodel) into one .nnw model file that `maskdet detect`
 * runs with no further options. Defaults come from the prototxt (its
 * DetectionOutput) or from what we know of the AIZOO and UltraFace models;
 * options override them. The converted model is run once on a blank input
 * before it is written, so a file that would not work is never written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detector.h"

static int usage(FILE *out, int code) {
    fprintf(out,
            "usage: maskdet import-caffe PROTOTXT CAFFEMODEL -o MODEL.nnw [options]\n\n"
            "Converts a Caffe SSD detector into a .nnw model file (docs/model-files.md).\n\n"
            "options:\n"
            "  -o, --output PATH      the model file to write (required)\n"
            "  --name NAME            a name stored in the file\n"
            "  --classes A,B,...      class names in output order (with background if the model has it)\n"
            "  --mean M or M1,M2,M3   subtracted from pixel values, in the model's channel order\n"
            "  --scale S or S1,S2,S3  multiplies after the mean\n"
            "  --bgr | --rgb          channel order the network expects\n"
            "  --input WxH            input size the network runs at\n"
            "  --threshold T          default confidence threshold\n");
    return code;
}

static bool parse_size(const char *s, int *w, int *h) {
    char tail;
    return sscanf(s, "%dx%d%c", w, h, &tail) == 2 && *w > 0 && *h > 0 && *w <= 4096 && *h <= 4096;
}

int cmd_import_caffe(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL}, *output = NULL;
    const char *keys[16], *values[16];
    char size_w[16], size_h[16];
    int n_meta = 0, n_paths = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout, 0);
        if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has_value) {
            output = argv[++i];
        } else if (!strcmp(a, "--name") && has_value) {
            keys[n_meta] = "name", values[n_meta++] = argv[++i];
        } else if (!strcmp(a, "--classes") && has_value) {
            keys[n_meta] = "classes", values[n_meta++] = argv[++i];
        } else if (!strcmp(a, "--mean") && has_value) {
            keys[n_meta] = "input.mean", values[n_meta++] = argv[++i];
        } else if (!strcmp(a, "--scale") && has_value) {
            keys[n_meta] = "input.scale", values[n_meta++] = argv[++i];
        } else if (!strcmp(a, "--threshold") && has_value) {
            keys[n_meta] = "ssd.threshold", values[n_meta++] = argv[++i];
        } else if (!strcmp(a, "--bgr") || !strcmp(a, "--rgb")) {
            keys[n_meta] = "input.channel_order", values[n_meta++] = a + 2;
        } else if (!strcmp(a, "--input") && has_value) {
            int w, h;
            if (!parse_size(argv[++i], &w, &h)) {
                fprintf(stderr, "maskdet import-caffe: --input wants WxH, got '%s'\n", argv[i]);
                return 2;
            }
            snprintf(size_w, sizeof size_w, "%d", w);
            snprintf(size_h, sizeof size_h, "%d", h);
            keys[n_meta] = "input.width", values[n_meta++] = size_w;
            keys[n_meta] = "input.height", values[n_meta++] = size_h;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "maskdet import-caffe: unknown option or missing value: %s\n", a);
            return usage(stderr, 2);
        } else if (n_paths < 2) {
            paths[n_paths++] = a;
        } else {
            return usage(stderr, 2);
        }
        if (n_meta > 14) return usage(stderr, 2);
    }
    if (n_paths != 2 || !output) return usage(stderr, 2);

    nn_error err;
    nn_weights *w;
    if (detector_import_caffe(paths[0], paths[1], &w, &err)) {
        fprintf(stderr, "maskdet import-caffe: %s\n", err.msg);
        return 1;
    }
    for (int k = 0; k < n_meta; k++)
        if (nn_weights_set_meta(w, keys[k], values[k], &err)) {
            fprintf(stderr, "maskdet import-caffe: %s\n", err.msg);
            nn_weights_free(w);
            return 1;
        }
    detector *det;
    if (detector_from_weights(w, &det, &err)) {
        fprintf(stderr, "maskdet import-caffe: the converted model does not load: %s\n", err.msg);
        nn_weights_free(w);
        return 1;
    }
    /* one run on a blank input: the outputs must fit the priors */
    int iw, ih;
    detector_input_size(det, &iw, &ih);
    nn_tensor *blank = nn_tensor_new4(1, 3, ih, iw);
    ssd_detection *found = malloc(sizeof *found * 4096);
    int n;
    nn_status st = blank && found ? NN_OK : nn_error_set(&err, NN_ERR_NOMEM, "out of memory");
    if (!st) st = detector_detect_tensor(det, blank, (float)iw, (float)ih, NULL, found, 4096, &n, &err);
    if (!st) st = detector_save(det, output, &err);
    if (st) fprintf(stderr, "maskdet import-caffe: %s\n", err.msg);
    else
        fprintf(stderr, "wrote %s: %s, %d classes (%s ... %s), input %dx%d\n", output,
                detector_meta(det, "name") ? detector_meta(det, "name") : "caffe model", detector_num_classes(det),
                detector_class_name(det, 0), detector_class_name(det, detector_num_classes(det) - 1), iw, ih);
    nn_tensor_free(blank);
    free(found);
    detector_free(det);
    return st ? 1 : 0;
}
