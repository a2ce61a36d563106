/*
 * ssd_vgg16.c - SSD300-VGG16 declared with the nn model API.
 *
 *   300x300x3 -> VGG-16 conv1..conv4_3 (pool3 in ceil mode: 75 -> 38)
 *     conv4_3 (38x38x512) -> L2Norm (scale 20) ...................... source 0
 *   pool4, conv5_1..5_3, pool5 (3x3 s1 p1), conv6 (3x3, dilation 6),
 *     conv7 (1x1) (19x19x1024) ........................................ source 1
 *   conv8_1 1x1 256, conv8_2 3x3 s2 512 (10x10) ........................ source 2
 *   conv9_1 1x1 128, conv9_2 3x3 s2 256 (5x5) .......................... source 3
 *   conv10_1 1x1 128, conv10_2 3x3 256 (3x3) ........................... source 4
 *   conv11_1 1x1 128, conv11_2 3x3 256 (1x1) ........................... source 5
 * Each source feeds a 3x3 loc conv (4 per prior) and conf conv (classes per
 * prior). Head outputs are permuted to NHWC and flattened, so prior p of the
 * concatenation is (map, y, x, anchor) in that order, as torchvision and
 * Caffe SSD both lay them out: 8732 priors in all.
 */
#include <stdio.h>

#include "ssd_vgg16.h"

typedef struct {
    nn_model *m;
    int last;
    bool ok;
} builder;

static void conv_relu(builder *b, const char *name, int cout, int k, int stride, int pad, int dil) {
    if (!b->ok) return;
    nn_conv2d_params p = nn_conv2d_default();
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = pad;
    p.dilation_h = p.dilation_w = dil;
    int c = nn_model_conv2d(b->m, name, b->last, cout, k, &p, true);
    char relu_name[64];
    snprintf(relu_name, sizeof relu_name, "%s_relu", name);
    b->last = c < 0 ? -1 : nn_model_relu(b->m, relu_name, c);
    b->ok = b->last >= 0;
}

static void max_pool(builder *b, const char *name, int k, int stride, int pad, bool ceil_mode) {
    if (!b->ok) return;
    nn_pool2d_params p = nn_pool2d_default(k, stride);
    p.pad_h = p.pad_w = pad;
    p.ceil_mode = ceil_mode;
    b->last = nn_model_max_pool2d(b->m, name, b->last, &p);
    b->ok = b->last >= 0;
}

/* A 3x3 head conv on `src`, then NCHW -> NHWC -> [N, H*W*A*K]. */
static int head(builder *b, const char *name, int src, int cout) {
    if (!b->ok) return -1;
    nn_conv2d_params p = nn_conv2d_default();
    p.pad_h = p.pad_w = 1;
    char n1[64], n2[64];
    int c = nn_model_conv2d(b->m, name, src, cout, 3, &p, true);
    int perm[4] = {0, 2, 3, 1};
    snprintf(n1, sizeof n1, "%s_perm", name);
    snprintf(n2, sizeof n2, "%s_flat", name);
    int id = c < 0 ? -1 : nn_model_permute(b->m, n1, c, 4, perm);
    id = id < 0 ? -1 : nn_model_flatten(b->m, n2, id);
    b->ok = id >= 0;
    return id;
}

nn_status ssd_vgg16_build(int num_classes, ssd_vgg16 *out, nn_error *err) {
    static const int anchors[SSD_VGG16_FEATURE_MAPS] = {4, 6, 6, 6, 4, 4};
    *out = (ssd_vgg16){.num_classes = num_classes};
    if (num_classes < 2)
        return nn_error_set(err, NN_ERR_ARG, "ssd_vgg16: need at least 2 classes (with background)");
    builder b = {.m = nn_model_create(3), .last = NN_MODEL_INPUT, .ok = true};
    if (!b.m) return nn_error_set(err, NN_ERR_NOMEM, "ssd_vgg16: out of memory");

    conv_relu(&b, "conv1_1", 64, 3, 1, 1, 1);
    conv_relu(&b, "conv1_2", 64, 3, 1, 1, 1);
    max_pool(&b, "pool1", 2, 2, 0, false);
    conv_relu(&b, "conv2_1", 128, 3, 1, 1, 1);
    conv_relu(&b, "conv2_2", 128, 3, 1, 1, 1);
    max_pool(&b, "pool2", 2, 2, 0, false);
    conv_relu(&b, "conv3_1", 256, 3, 1, 1, 1);
    conv_relu(&b, "conv3_2", 256, 3, 1, 1, 1);
    conv_relu(&b, "conv3_3", 256, 3, 1, 1, 1);
    max_pool(&b, "pool3", 2, 2, 0, true); /* 75 -> 38, as the paper */
    conv_relu(&b, "conv4_1", 512, 3, 1, 1, 1);
    conv_relu(&b, "conv4_2", 512, 3, 1, 1, 1);
    conv_relu(&b, "conv4_3", 512, 3, 1, 1, 1);
    int conv4_3 = b.last;
    int src[SSD_VGG16_FEATURE_MAPS];
    src[0] = b.ok ? nn_model_l2norm(b.m, "conv4_3_norm", conv4_3, 20.0f, 1e-10f) : -1;
    b.ok = src[0] >= 0;
    max_pool(&b, "pool4", 2, 2, 0, false);
    conv_relu(&b, "conv5_1", 512, 3, 1, 1, 1);
    conv_relu(&b, "conv5_2", 512, 3, 1, 1, 1);
    conv_relu(&b, "conv5_3", 512, 3, 1, 1, 1);
    max_pool(&b, "pool5", 3, 1, 1, false);
    conv_relu(&b, "conv6", 1024, 3, 1, 6, 6);
    conv_relu(&b, "conv7", 1024, 1, 1, 0, 1);
    src[1] = b.last;
    conv_relu(&b, "conv8_1", 256, 1, 1, 0, 1);
    conv_relu(&b, "conv8_2", 512, 3, 2, 1, 1);
    src[2] = b.last;
    conv_relu(&b, "conv9_1", 128, 1, 1, 0, 1);
    conv_relu(&b, "conv9_2", 256, 3, 2, 1, 1);
    src[3] = b.last;
    conv_relu(&b, "conv10_1", 128, 1, 1, 0, 1);
    conv_relu(&b, "conv10_2", 256, 3, 1, 0, 1);
    src[4] = b.last;
    conv_relu(&b, "conv11_1", 128, 1, 1, 0, 1);
    conv_relu(&b, "conv11_2", 256, 3, 1, 0, 1);
    src[5] = b.last;

    int loc[SSD_VGG16_FEATURE_MAPS], conf[SSD_VGG16_FEATURE_MAPS];
    for (int i = 0; i < SSD_VGG16_FEATURE_MAPS; i++) {
        char name[16];
        snprintf(name, sizeof name, "loc%d", i);
        loc[i] = head(&b, name, src[i], anchors[i] * 4);
        snprintf(name, sizeof name, "conf%d", i);
        conf[i] = head(&b, name, src[i], anchors[i] * num_classes);
    }
    if (b.ok) out->loc_id = nn_model_concat(b.m, "loc", SSD_VGG16_FEATURE_MAPS, loc, 1);
    if (b.ok) out->conf_id = nn_model_concat(b.m, "conf", SSD_VGG16_FEATURE_MAPS, conf, 1);
    if (!b.ok || out->loc_id < 0 || out->conf_id < 0) {
        nn_status st = nn_error_set(err, NN_ERR_STATE, "ssd_vgg16: %s", nn_model_error(b.m));
        nn_model_free(b.m);
        return st;
    }
    out->model = b.m;
    for (int i = 0; i < SSD_VGG16_FEATURE_MAPS; i++) {
        out->source_id[i] = src[i];
        out->anchors[i] = anchors[i];
    }
    return NN_OK;
}

void ssd_vgg16_free(ssd_vgg16 *s) {
    if (!s) return;
    nn_model_free(s->model);
    s->model = NULL;
}
