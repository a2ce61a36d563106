/*
 * ssd_vgg16.h - SSD300 with a VGG-16 backbone, the architecture of the SSD
 * paper as torchvision's ssd300_vgg16 builds it.
 */
#ifndef VISION_SSD_VGG16_H
#define VISION_SSD_VGG16_H

#include "nn.h"

#define SSD_VGG16_FEATURE_MAPS 6

typedef struct {
    nn_model *model;
    int num_classes;   /* including background (class 0) */
    int loc_id;        /* layer whose output is [N, P*4]: box offsets per prior */
    int conf_id;       /* layer whose output is [N, P*num_classes]: class logits */
    int source_id[SSD_VGG16_FEATURE_MAPS]; /* the six feature maps the heads read */
    int anchors[SSD_VGG16_FEATURE_MAPS];   /* priors per cell: 4, 6, 6, 6, 4, 4 */
} ssd_vgg16;

/* Builds the network (uninitialised weights). Layer names follow the paper:
 * conv1_1 .. conv5_3, conv4_3_norm, conv6 (3x3, dilation 6), conv7 (1x1),
 * conv8_1 .. conv11_2, and heads loc0..loc5 / conf0..conf5. */
nn_status ssd_vgg16_build(int num_classes, ssd_vgg16 *out, nn_error *err);
void ssd_vgg16_free(ssd_vgg16 *s);

#endif
