/*
 * caffe_build.h - a parsed Caffe net (caffe.h, shapes inferred, weights
 * attached) turned into an nn_model for inference.
 *
 * Every Caffe blob is tracked to the nn layer that last wrote it, so outputs
 * are found by their Caffe blob name (e.g. "mbox_loc", "cls_branch_concat").
 * The model is built for the input size the net's shapes were inferred with
 * (Reshape/Flatten/global pooling use the inferred sizes); to run another
 * size, change the net's input shape, infer again and build again.
 *
 * Layer mapping:
 *   Convolution          nn conv2d (square kernels; stride/pad/dilation per axis, groups, bias)
 *   BatchNorm [+ Scale]  one nn batch_norm holding mean/f, var/f, eps and the Scale's
 *                        gamma/beta; folded into the preceding conv when it is the conv's
 *                        only reader (nn_model_fold_batch_norm), else a per-channel affine
 *   Scale (alone)        nn batch_norm with mean 0, var 1 (a per-channel affine)
 *   ReLU / Sigmoid       nn relu (leaky with negative_slope) / sigmoid
 *   Pooling              nn max/avg pool (Caffe ceil rounding, padding counted in AVE), global
 *   Eltwise SUM          nn add (coefficients must be 1)
 *   Concat, Permute, Softmax, Normalize   nn concat / permute / softmax / l2norm
 *   Flatten, Reshape     nn reshape to the inferred shape
 *   Dropout, Split       nothing (their tops name their bottom)
 *   PriorBox, DetectionOutput (and a Concat of PriorBox outputs): not built; they are
 *                        post-processing (caffe_net_priors, caffe_detection_params)
 */
#ifndef VISION_CAFFE_BUILD_H
#define VISION_CAFFE_BUILD_H

#include "caffe.h"
#include "nn.h"

/* Returned by caffe_build_find for a blob that is not a tensor of the model
 * (unknown, or produced by PriorBox / DetectionOutput). */
#define CAFFE_BUILD_NO_BLOB (-2)

typedef struct {
    nn_model *model;   /* owned; batch norms already folded where possible */
    int n_blobs;
    char **blob_names; /* every blob name seen */
    int *blob_ids;     /* nn layer id of its last writer (NN_MODEL_INPUT for the input) */
} caffe_built;

/* Builds the model. The net needs inferred shapes and attached weights
 * (caffe_net_attach_weights). Errors name the Caffe layer and its prototxt line. */
nn_status caffe_build(const caffe_net *net, caffe_built *out, nn_error *err);
/* The nn layer id holding blob `name` after the whole net ran, or CAFFE_BUILD_NO_BLOB. */
int caffe_build_find(const caffe_built *b, const char *name);
void caffe_build_free(caffe_built *b);

#endif
