/*
 * classifier.h - the face mask / no-mask classifier networks.
 *
 *   "seed"    the original pipeline's Keras CNN, as far as it is known:
 *             Conv3x3 32 + ReLU, Conv3x3 64 + ReLU (both 'valid'), MaxPool 2,
 *             Dropout 0.25, Flatten, Dense 50 + ReLU, Dropout 0.5, Dense 2.
 *             Input 124x124. About 11.5 M parameters, nearly all in Dense 50.
 *   "compact" our default: four stages of 3x3 conv + batch norm + ReLU with
 *             max pooling, global average pooling, dropout, linear. About
 *             0.27 M parameters; any input side that is a multiple of 8.
 * Both output logits [N, classes]; softmax is applied by the loss / caller.
 */
#ifndef VISION_CLASSIFIER_H
#define VISION_CLASSIFIER_H

#include "nn.h"

/* Builds an uninitialised network; input_size 0 picks the arch's default
 * (124 for seed, 64 for compact). */
nn_status classifier_build(const char *arch, int input_size, int num_classes, nn_model **out,
                           nn_error *err);
int classifier_default_input(const char *arch); /* 0 for an unknown arch */
/* Names of the known architectures, NULL-terminated. */
const char *const *classifier_arch_names(void);

#endif
