/*
 * cmd_caffe.c - `maskdet caffe-info`: parse a Caffe prototxt (and optionally
 * its caffemodel), print every layer with its input and output shapes, the
 * weights found, and the SSD prior count when the net has a DetectionOutput.
 */
#include <stdio.h>
#include <string.h>

#include "caffe.h"

static int usage(FILE *out, int code) {
    fprintf(out, "usage: maskdet caffe-info PROTOTXT [CAFFEMODEL]\n\n"
                 "Checks that a Caffe model is readable (every layer type and parameter\n"
                 "supported, weights of the right sizes) and prints its layers with shapes.\n");
    return code;
}

int cmd_caffe_info(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) return usage(stdout, 0);
    if (argc < 2 || argc > 3) return usage(stderr, 2);
    nn_error err;
    caffe_net *net;
    if (caffe_net_load(argv[1], &net, &err) || caffe_net_infer_shapes(net, &err)) {
        fprintf(stderr, "maskdet caffe-info: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (argc == 3) {
        caffe_model *model = NULL;
        nn_status st = caffe_model_load(argv[2], &model, &err);
        if (!st) st = caffe_net_attach_weights(net, model, &err);
        caffe_model_free(model);
        if (st) {
            fprintf(stderr, "maskdet caffe-info: %s\n", err.msg);
            caffe_net_free(net);
            return 1;
        }
    }
    if (caffe_net_print_summary(net, stdout, &err)) rc = 1;
    size_t values = 0;
    int blobs = 0;
    for (int i = 0; i < net->n_layers; i++)
        for (int b = 0; b < net->layers[i].n_blobs; b++) blobs++, values += net->layers[i].blobs[b].count;
    printf("%d layers; %d weight blobs, %zu values\n", net->n_layers, blobs, values);
    for (int i = 0; i < net->n_layers; i++) {
        const caffe_layer *L = &net->layers[i];
        if (L->type != CAFFE_LAYER_DETECTION_OUTPUT) continue;
        ssd_priors priors;
        ssd_priors_init(&priors);
        if (caffe_net_priors(net, L->bottoms[2], &priors, &err)) {
            fprintf(stderr, "maskdet caffe-info: %s\n", err.msg);
            rc = 1;
        } else {
            printf("%s: %d priors, %d classes\n", L->name, priors.count, L->detection.num_classes);
        }
        ssd_priors_free(&priors);
    }
    caffe_net_free(net);
    return rc;
}
