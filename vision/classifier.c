/*
 * classifier.c - the mask / no-mask classifier architectures (see classifier.h).
 */
#include <stdio.h>
#include <string.h>

#include "classifier.h"

static const char *const arch_names[] = {"seed", "compact", NULL};

const char *const *classifier_arch_names(void) { return arch_names; }

int classifier_default_input(const char *arch) {
    if (!strcmp(arch, "seed")) return 124;
    if (!strcmp(arch, "compact")) return 64;
    return 0;
}

/* The original's network; Keras 'valid' convs: side -> side-2 -> side-4 -> /2 */
static int build_seed(nn_model *m, int side, int classes) {
    int x = nn_model_conv2d(m, "conv1", NN_MODEL_INPUT, 32, 3, NULL, true);
    x = nn_model_relu(m, "relu1", x);
    x = nn_model_conv2d(m, "conv2", x, 64, 3, NULL, true);
    x = nn_model_relu(m, "relu2", x);
    nn_pool2d_params pool = nn_pool2d_default(2, 2);
    x = nn_model_max_pool2d(m, "pool", x, &pool);
    x = nn_model_dropout(m, "drop1", x, 0.25f);
    x = nn_model_flatten(m, "flatten", x);
    int pooled = (side - 4) / 2;
    x = nn_model_linear(m, "fc1", x, 64 * pooled * pooled, 50, true);
    x = nn_model_relu(m, "relu3", x);
    x = nn_model_dropout(m, "drop2", x, 0.5f);
    return nn_model_linear(m, "fc2", x, 50, classes, true);
}

/* conv3x3 (no bias: batch norm follows) + batch norm + ReLU */
static int conv_bn_relu(nn_model *m, const char *name, int in, int cout) {
    char n[64];
    nn_conv2d_params same = nn_conv2d_default();
    same.pad_h = same.pad_w = 1;
    snprintf(n, sizeof n, "%s", name);
    int x = nn_model_conv2d(m, n, in, cout, 3, &same, false);
    snprintf(n, sizeof n, "%s_bn", name);
    x = x < 0 ? x : nn_model_batch_norm(m, n, x, 0.1f, 1e-5f);
    snprintf(n, sizeof n, "%s_relu", name);
    return x < 0 ? x : nn_model_relu(m, n, x);
}

static int build_compact(nn_model *m, int classes) {
    nn_pool2d_params pool = nn_pool2d_default(2, 2);
    int x = conv_bn_relu(m, "conv1a", NN_MODEL_INPUT, 24);
    x = conv_bn_relu(m, "conv1b", x, 24);
    x = nn_model_max_pool2d(m, "pool1", x, &pool);
    x = conv_bn_relu(m, "conv2a", x, 48);
    x = conv_bn_relu(m, "conv2b", x, 48);
    x = nn_model_max_pool2d(m, "pool2", x, &pool);
    x = conv_bn_relu(m, "conv3a", x, 96);
    x = conv_bn_relu(m, "conv3b", x, 96);
    x = nn_model_max_pool2d(m, "pool3", x, &pool);
    x = conv_bn_relu(m, "conv4", x, 128);
    x = nn_model_global_avg_pool2d(m, "gap", x);
    x = nn_model_flatten(m, "flatten", x);
    x = nn_model_dropout(m, "drop", x, 0.2f);
    return nn_model_linear(m, "fc", x, 128, classes, true);
}

nn_status classifier_build(const char *arch, int input_size, int num_classes, nn_model **out,
                           nn_error *err) {
    *out = NULL;
    int def = classifier_default_input(arch);
    if (!def) return nn_error_set(err, NN_ERR_ARG, "unknown classifier architecture '%s' (known: seed, compact)", arch);
    int side = input_size ? input_size : def;
    if (num_classes < 2) return nn_error_set(err, NN_ERR_ARG, "need at least 2 classes");
    if (side < 8 || side > 1024) return nn_error_set(err, NN_ERR_ARG, "input size %d out of range 8..1024", side);
    if (!strcmp(arch, "compact") && side % 8)
        return nn_error_set(err, NN_ERR_ARG, "compact: input size %d is not a multiple of 8", side);
    nn_model *m = nn_model_create(3);
    if (!m) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    int last = !strcmp(arch, "seed") ? build_seed(m, side, num_classes) : build_compact(m, num_classes);
    if (last < 0) {
        nn_status st = nn_error_set(err, NN_ERR_STATE, "%s: %s", arch, nn_model_error(m));
        nn_model_free(m);
        return st;
    }
    *out = m;
    return NN_OK;
}
