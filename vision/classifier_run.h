/*
 * classifier_run.h - running a trained mask / no-mask classifier on face crops.
 *
 * A classifier .nnw (kind = "classifier") says how to run it: "arch" and
 * "input.width/height" rebuild the network (classifier.h), "input.mean",
 * "input.scale" and "input.channel_order" give the preprocessing, "classes"
 * the output order, "crop.margin" how faces were cropped for training. Batch
 * norm is folded into the convolutions at load. One context is reused, so
 * after the first call of a given batch size nothing is allocated.
 *
 *   classifier_runner *r; classifier_run_load("models/classifier.nnw", &r, &err);
 *   float probs[2]; classifier_run_image(r, &face_rgb, probs, &err);
 *   classifier_run_free(r);
 */
#ifndef VISION_CLASSIFIER_RUN_H
#define VISION_CLASSIFIER_RUN_H

#include <stdbool.h>

#include "image.h"
#include "nn.h"

#define CLASSIFIER_MAX_CLASSES 8
#define CLASSIFIER_CLASS_NAME_LEN 32

typedef struct classifier_runner classifier_runner;

/* What the model file says (valid for the runner's lifetime). */
typedef struct {
    char arch[32];
    int input_w, input_h;
    float mean[3], scale[3];
    bool bgr;
    int n_classes;
    char classes[CLASSIFIER_MAX_CLASSES][CLASSIFIER_CLASS_NAME_LEN];
    float crop_margin; /* 0 when the file does not say */
} classifier_info;

nn_status classifier_run_load(const char *path, classifier_runner **out, nn_error *err);
/* From weights already in memory (w is not kept). */
nn_status classifier_run_from_weights(const nn_weights *w, classifier_runner **out,
                                      nn_error *err);
void classifier_run_free(classifier_runner *r);
const classifier_info *classifier_run_info(const classifier_runner *r);

/* Class probabilities (softmax) of one RGB (or grey) face crop of any size:
 * resized to the input size and preprocessed as the file says. probs has
 * n_classes entries. */
nn_status classifier_run_image(classifier_runner *r, const image *face, float *probs,
                               nn_error *err);
/* n crops at once; probs is n x n_classes. */
nn_status classifier_run_batch(classifier_runner *r, int n, const image *faces, float *probs,
                               nn_error *err);
/* The faces of one image at once: boxes holds n boxes (x1, y1, x2, y2 in
 * image pixels), each cropped as classifier_crop_face does, without keeping
 * the crops; probs is n x n_classes. Allocates nothing once the runner has
 * seen a batch of n (or classifier_run_reserve(n)) and crops as large. */
nn_status classifier_run_faces(classifier_runner *r, const image *img, int n, const float *boxes,
                               float *probs, nn_error *err);
/* classifier_run_faces with test-time augmentation: each crop also goes
 * through the network mirrored left to right (as training's flips showed it
 * faces), and probs is the mean of the two softmax outputs. A mask is as
 * much a mask in the mirror, and the two views' errors are partly
 * independent, so the mean is the better guess (models/README.md). Runs a
 * batch of 2n (reserve for that). */
nn_status classifier_run_faces_mirrored(classifier_runner *r, const image *img, int n,
                                        const float *boxes, float *probs, nn_error *err);
/* Grows the input and the network's memory for batches of up to n crops (one
 * pass over a blank batch) and, when frame_w, frame_h > 0, the crop buffer
 * for faces as large as such a frame, so that later classifier_run_faces
 * calls of at most n faces of such frames allocate nothing. */
nn_status classifier_run_reserve(classifier_runner *r, int n, int frame_w, int frame_h,
                                 nn_error *err);
/* Already preprocessed input: chw is n x 3 x input_h x input_w floats. */
nn_status classifier_run_tensor(classifier_runner *r, int n, const float *chw, float *probs,
                                nn_error *err);

/* The crop a face box gets: the box widened by the model's margin on every
 * side, as training cropped it (pixels outside the image are filled with 0). */
nn_status classifier_crop_face(const classifier_runner *r, const image *img, float x1, float y1,
                               float x2, float y2, image *out, nn_error *err);

int classifier_argmax(const float *probs, int n);

#endif
