/*
 * maskdet.c - the command-line program: entry point and sub-command dispatch.
 * To add a command: write apps/cmd_NAME.c with `int cmd_NAME(int, char **)`,
 * declare it below and add a row to the table.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "nn.h"

static int cmd_version(int argc, char **argv) {
    printf("maskdet 0.1 (kernels: %s, threads: %d)\n", nn_kernels_get()->name, nn_threads_get());
    return 0;
}

int cmd_data(int argc, char **argv);
int cmd_caffe_info(int argc, char **argv);
int cmd_train_detector(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_import_caffe(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_train_classifier(int argc, char **argv);
int cmd_eval_classifier(int argc, char **argv);
int cmd_classify(int argc, char **argv);

static const maskdet_command commands[] = {
    {"version", "print the version and the SIMD kernels in use", cmd_version},
    {"data", "data-set statistics and face crops (data stats|crop PATH)", cmd_data},
    {"caffe-info", "list a Caffe model's layers, shapes, weights and priors", cmd_caffe_info},
    {"train-detector", "train the face SSD detector on a VOC/JSON folder", cmd_train_detector},
    {"eval", "score the pipeline: mask / no_mask AP and mAP, face AP by size", cmd_eval},
    {"import-caffe", "convert a Caffe SSD detector into a .nnw model file", cmd_import_caffe},
    {"detect", "find faces (and masks) in images with a detector model", cmd_detect},
    {"train-classifier", "train the mask / no-mask face classifier", cmd_train_classifier},
    {"eval-classifier", "score a classifier: accuracy, per class, by face size", cmd_eval_classifier},
    {"classify", "mask / no-mask for face images", cmd_classify},
};

static void usage(FILE *out) {
    fprintf(out, "usage: maskdet COMMAND [options]\n\n"
                 "Face-mask detection built on a from-scratch C neural-network framework.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-18s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'maskdet COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "maskdet: unknown command '%s' (see 'maskdet --help')\n", argv[1]);
    return 2;
}
