/*
 * detector.h - one API for every SSD-style face (and face-mask) detector:
 * load a .nnw model file, preprocess an image the way the model expects,
 * run the network, decode the boxes and suppress duplicates.
 *
 * The model file's metadata says everything (docs/model-files.md): the
 * architecture ("caffe": a Caffe prototxt stored in the file plus its blobs,
 * or "ssd_vgg16": our native SSD300), the input size, channel order, mean and
 * scale, the class names, how priors are made and the post-processing rules.
 *
 *   detector *det;
 *   detector_load("res10.nnw", &det, &err);
 *   detector_params p = detector_params_default();
 *   ssd_detection dets[200]; int n;
 *   detector_detect(det, &rgb_image, &p, dets, 200, &n, &err);  // boxes in image pixels
 *   detector_free(det);
 *
 * A detector owns one nn_ctx: after the first call at a given input size,
 * further calls allocate nothing from the system for the network (its arena
 * is reused). A detector is not thread-safe; use one per thread.
 */
#ifndef VISION_DETECTOR_H
#define VISION_DETECTOR_H

#include "image.h"
#include "nn.h"
#include "ssd.h"

typedef struct detector detector;

typedef struct {
    float threshold;      /* keep score > threshold; < 0: the model's ssd.threshold (else 0.5) */
    float nms_iou;        /* < 0: the model's ssd.nms                                         */
    int top_k;            /* candidates per class before NMS; 0: the model's, < 0: all         */
    int keep_top_k;       /* most detections kept; 0: the model's, < 0: all                    */
    int box_vote;         /* box voting at the NMS IoU (ssd_detect): < 0: the model's default
                             (our face_ssd: on; Caffe and torchvision SSDs: off, as they
                             were trained and published); 0: off; > 0: on (not AIZOO)        */
    int input_w, input_h; /* 0: the model's input size; else run the network at this size,
                             with priors regenerated for it (see docs/model-files.md)         */
} detector_params;

detector_params detector_params_default(void);

/* Milliseconds spent in the last detector_detect call. */
typedef struct {
    double preprocess_ms, forward_ms, postprocess_ms;
} detector_timing;

/* Loads a .nnw model file with kind "detector". A classifier file, an
 * unknown arch or missing/bad metadata give an error naming the file and key. */
nn_status detector_load(const char *path, detector **out, nn_error *err);
/* Takes ownership of w on success (the caller keeps it on failure). */
nn_status detector_from_weights(nn_weights *w, detector **out, nn_error *err);
/* Converts a Caffe model (prototxt + caffemodel) into model-file contents:
 * arch "caffe", the prototxt in "caffe.prototxt", blob k of layer L as tensor
 * "L.k", and metadata defaults: from the DetectionOutput layer when there is
 * one, else from the models we know (AIZOO face-mask SSD, UltraFace RFB-320);
 * an SSD net we cannot decode is an error. Set or override keys with
 * nn_weights_set_meta before detector_from_weights / nn_weights_save. */
nn_status detector_import_caffe(const char *prototxt, const char *caffemodel, nn_weights **out,
                                nn_error *err);
/* detector_import_caffe + detector_from_weights. */
nn_status detector_from_caffe(const char *prototxt, const char *caffemodel, detector **out,
                              nn_error *err);
/* Writes the model file (atomically, nn_weights_save). */
nn_status detector_save(const detector *det, const char *path, nn_error *err);
void detector_free(detector *det);

/* Detects in an RGB (or grey) image. out has room for max_out detections
 * (more is an NN_ERR_LIMIT error). Sorted by score, best first; boxes in the
 * image's pixels (corners, x right, y down); label indexes the class names. */
nn_status detector_detect(detector *det, const image *img, const detector_params *p,
                          ssd_detection *out, int max_out, int *n_out, nn_error *err);
/* The same on an already preprocessed input [1, 3, H, W] (H, W: the params'
 * input size or the model's), boxes scaled to image_w x image_h. */
nn_status detector_detect_tensor(detector *det, const nn_tensor *input, float image_w,
                                 float image_h, const detector_params *p, ssd_detection *out,
                                 int max_out, int *n_out, nn_error *err);

int detector_num_classes(const detector *det);
const char *detector_class_name(const detector *det, int label);        /* "?" when out of range */
void detector_input_size(const detector *det, int *width, int *height); /* the model's */
/* The score threshold the model file gives (ssd.threshold, else 0.5). */
float detector_default_threshold(const detector *det);
/* Metadata of the model file (NULL if absent), e.g. "name", "arch". */
const char *detector_meta(const detector *det, const char *key);
detector_timing detector_last_timing(const detector *det);
/* The context the network runs in (to check its arena's allocations). */
nn_ctx *detector_ctx(detector *det);

#endif
