/*
 * cmd_classify.c - `maskdet classify`: mask / no-mask for single face images
 * (each image is taken as one face crop). One line per image, or one JSON
 * object with a result per image. An image that cannot be read is reported
 * and the others still run; the exit code is then 1.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundled.h"
#include "classifier_run.h"
#include "image.h"

static void usage(FILE *out) {
    fprintf(out, "usage: maskdet classify [--model MODEL] [--json] IMAGE...\n"
                 "\n"
                 "Classifies face images (each image is one face) as mask / no_mask.\n"
                 "\n"
                 "  --model MODEL   classifier .nnw (default: the bundled models/classifier.nnw)\n"
                 "  --json          print one JSON object on stdout\n"
                 "  -h, --help      this help\n");
}

int cmd_classify(int argc, char **argv) {
    const char *model_path = NULL;
    bool json = false;
    int n_images = 0;
    char **images = calloc((size_t)argc, sizeof *images);
    if (!images) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(images);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--model") && i + 1 < argc) {
            model_path = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "maskdet classify: unknown option or missing value: '%s' "
                            "(see --help)\n", a);
            free(images);
            return 2;
        } else {
            images[n_images++] = argv[i];
        }
    }
    if (n_images == 0) {
        fprintf(stderr, "maskdet classify: no IMAGE given (see --help)\n");
        free(images);
        return 2;
    }
    char default_model[4096];
    if (!model_path) {
        bundled_model_path(BUNDLED_CLASSIFIER, default_model, sizeof default_model);
        model_path = default_model;
    }
    nn_error err = {0};
    classifier_runner *r;
    if (classifier_run_load(model_path, &r, &err)) {
        fprintf(stderr, "maskdet classify: %s\n", err.msg);
        free(images);
        return 1;
    }
    const classifier_info *info = classifier_run_info(r);
    cJSON *root = json ? cJSON_CreateObject() : NULL;
    cJSON *results = root ? cJSON_AddArrayToObject(root, "results") : NULL;
    if (root) cJSON_AddStringToObject(root, "model", model_path);
    int rc = 0;
    for (int i = 0; i < n_images; i++) {
        image face = {0};
        float probs[CLASSIFIER_MAX_CLASSES];
        if (image_load(images[i], 3, &face, &err) || classifier_run_image(r, &face, probs, &err)) {
            fprintf(stderr, "maskdet classify: %s\n", err.msg);
            if (results) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "image", images[i]);
                cJSON_AddStringToObject(e, "error", err.msg);
                cJSON_AddItemToArray(results, e);
            }
            image_free(&face);
            rc = 1;
            continue;
        }
        int best = classifier_argmax(probs, info->n_classes);
        if (results) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "image", images[i]);
            cJSON_AddStringToObject(e, "class", info->classes[best]);
            cJSON_AddNumberToObject(e, "confidence", probs[best]);
            cJSON *p = cJSON_AddObjectToObject(e, "probabilities");
            for (int k = 0; k < info->n_classes; k++)
                cJSON_AddNumberToObject(p, info->classes[k], probs[k]);
            cJSON_AddItemToArray(results, e);
        } else {
            printf("%s: %s %.4f\n", images[i], info->classes[best], probs[best]);
        }
        image_free(&face);
    }
    if (root) {
        char *text = cJSON_Print(root);
        printf("%s\n", text ? text : "{}");
        free(text);
        cJSON_Delete(root);
    }
    classifier_run_free(r);
    free(images);
    return rc;
}
