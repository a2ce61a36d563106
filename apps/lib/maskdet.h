/*
 * maskdet.h - the face-mask detector as a C library: the whole public API.
 *
 * Load the models once, then one call finds the faces in an RGB buffer and
 * says for each whether it wears a mask. This header needs nothing else from
 * the project; link with build/libmaskdet.a (it contains nn/, vision/ and
 * the pipeline) and -lcjson -lstb -lm -pthread.
 *
 *   maskdet_options opt = maskdet_options_default();   // bundled models
 *   maskdet *md;
 *   maskdet_error err;
 *   if (maskdet_open(&opt, &md, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
 *   maskdet_face faces[64];
 *   int n = maskdet_detect(md, rgb, width, height, stride_bytes, faces, 64, &err);
 *   for (int i = 0; i < n && i < 64; i++)
 *       printf("%s %.2f at %.0f,%.0f\n", faces[i].label_name, faces[i].score,
 *              faces[i].x1, faces[i].y1);
 *   maskdet_close(md);
 *
 * The pipeline: a face detector (an SSD, by default the bundled
 * models/face_detector.nnw), then a mask / no-mask classifier on each face
 * crop (by default the mean of two, models/classifier.nnw and
 * models/classifier_b.nnw, each also shown the crop mirrored), cropped with
 * the margin and preprocessing it was trained with. A one-stage detector whose classes are
 * already mask / no_mask skips the classifier. A classifier trained with a
 * background class (the bundled one) also checks each box the detector
 * found and drops those it finds are not faces.
 *
 * Threads: a maskdet handle owns its models and its scratch memory and is
 * not thread-safe; use one handle per thread (each loads its own copy of the
 * model files). The work inside one call is spread over the process-wide
 * worker pool (maskdet_options.threads). After the first call at a given
 * frame size, the pipeline allocates no memory (the optimised convolution
 * kernels still take scratch memory per layer: benchmarks/app/README.md).
 *
 * Errors: functions return 0 (or a count) on success and a negative value on
 * failure, with a message naming the file or argument in err (err may be NULL).
 */
#ifndef MASKDET_H
#define MASKDET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct maskdet maskdet;

typedef struct {
    char msg[512];
} maskdet_error;

typedef struct {
    const char *detector_path;   /* NULL: the bundled face detector                     */
    const char *classifier_path; /* NULL: the bundled classifiers (face-only detectors);
                                    one file, or up to MASKDET_MAX_CLASSIFIERS files
                                    separated by commas: an ensemble, their
                                    probabilities averaged (same classes needed)     */
    const char *models_dir;      /* where bundled models are; NULL: $MASKDET_MODELS,
                                    then ./models, then models/ beside the program     */
    int detector_only;           /* 1: report faces, do not classify them               */
    int no_face_check;           /* 1: a classifier with a background class labels the
                                    faces but does not check them (see maskdet_face)  */
    float face_check_weight;     /* how much that check counts, w in (0, 1]: a face
                                    score becomes the detector's x (1 - w + w P(face));
                                    0: MASKDET_FACE_CHECK_WEIGHT                     */
    int no_tta;                  /* 1: each classifier sees a face crop once, not also
                                    mirrored (faster; slightly less accurate)         */
    int no_box_vote;             /* 1: a face_ssd detector keeps its best box as it is,
                                    without averaging it with the boxes it suppressed
                                    (box voting, vision/face_ssd.h)                   */
    float face_threshold;        /* keep faces scoring above this; < 0: the model's
                                    (MASKDET_CHECKED_FACE_THRESHOLD when the
                                    classifier checks faces)                          */
    float mask_threshold;        /* "mask" when P(mask) >= this, else "no_mask" (0.5)  */
    int min_face_px;             /* smallest face (in frame pixels) to find; the input
                                    scale is chosen for it (see below). 0: the model's
                                    own input size                                    */
    int input_width, input_height; /* run the detector network at this size instead
                                    (0: the model's; not with min_face_px)           */
    int input_long_side;         /* face_ssd detectors: run with the frame's longer side
                                    resized to this many pixels; 0: as min_face_px or
                                    the model file says                               */
    float input_scale;           /* face_ssd detectors: run at the frame's size x this
                                    (wins over input_long_side); 0: not used          */
    int threads;                 /* worker threads for the pool; 0: leave as it is      */
} maskdet_options;

/*
 * min_face_px: an SSD finds faces down to about its smallest prior box, p
 * pixels of the network input: our face_ssd its face_ssd.sizes[0][0] (8 px
 * for the bundled model), a Caffe SSD its smallest PriorBox min_size (30 px
 * for res10 300x300), UltraFace its smallest min_box. Our face_ssd finds
 * faces reliably only from about 2 p (measured: 12-16 input px), so the
 * target is t = 2 p for face_ssd and t = p for the others. The frame is
 * scaled by s = t / min_face_px, which makes a face of min_face_px frame
 * pixels t input pixels: face_ssd runs with its longer side max(W, H) * s,
 * a Caffe net at W * s x H * s. A smaller min_face_px means a larger input
 * and a slower detector (time grows with s squared); larger means faster.
 * Limits: s <= MASKDET_MAX_UPSCALE, the input's longer side at most
 * MASKDET_MAX_INPUT_SIDE (so on big frames the smallest face found is about
 * t * max(W, H) / 2048 pixels) and at least 64 (Caffe nets: at least the
 * longer side of their own input size). Detectors whose priors are fractions
 * of the image (AIZOO anchors, ssd_vgg16) cannot be steered this way:
 * maskdet_open refuses min_face_px for them.
 */
#define MASKDET_MAX_UPSCALE 4
/* The classifier's check is trusted in part: its P(face) is near 0 for some
 * real faces (small, blurred, half hidden), and the plain product (w = 1)
 * loses more of those than it removes false faces (models/README.md). */
#define MASKDET_FACE_CHECK_WEIGHT 0.7f
/* The default face threshold when the classifier checks faces (the detector
 * file's own threshold is for its scores alone). On the held-out photos the
 * checked scores at 0.5 have the precision and recall of the detector alone
 * at 0.7, or better (models/README.md). */
#define MASKDET_CHECKED_FACE_THRESHOLD 0.5f
#define MASKDET_MAX_INPUT_SIDE 2048
#define MASKDET_MAX_CLASSIFIERS 4

maskdet_options maskdet_options_default(void);

typedef enum {
    MASKDET_FACE = 0,    /* a face, not classified (detector_only)          */
    MASKDET_MASK = 1,    /* wears a mask                                     */
    MASKDET_NO_MASK = 2, /* no mask (or worn incorrectly)                    */
} maskdet_label;

typedef struct {
    float x1, y1, x2, y2;   /* box corners in frame pixels (x right, y down)    */
    maskdet_label label;
    const char *label_name; /* "face", "mask" or "no_mask" (static storage)    */
    float score;            /* probability of the label (the face score for FACE) */
    float face_score;       /* the confidence that this is a face: the detector's
                               score; when the classifier's classes include
                               "background", times 1 - w + w P(face), with
                               P(face) = 1 - P(background) and w the options'
                               face_check_weight (faces that then fall under
                               the threshold are dropped)                      */
} maskdet_face;

/* Milliseconds spent in the last maskdet_detect call, per stage. */
typedef struct {
    double preprocess_ms, detect_ms, postprocess_ms, classify_ms, total_ms;
} maskdet_timing;

/* Loads the models. 0 on success; < 0 with err filled (missing file, a model
 * of the wrong kind, a corrupt file, bad options). */
int maskdet_open(const maskdet_options *opt, maskdet **out, maskdet_error *err);
void maskdet_close(maskdet *md); /* NULL is fine */

/* Finds and labels the faces of one RGB frame: width x height pixels, 3 bytes
 * per pixel (R, G, B), rows stride_bytes apart (>= 3 * width). Writes up to
 * max_faces results, best face score first, and returns how many faces were
 * found (which may exceed max_faces, as snprintf does), or < 0 on error. */
int maskdet_detect(maskdet *md, const uint8_t *rgb, int width, int height, int stride_bytes,
                   maskdet_face *faces, int max_faces, maskdet_error *err);

maskdet_timing maskdet_last_timing(const maskdet *md);
/* The face threshold used when the options give none: the detector file's,
 * or MASKDET_CHECKED_FACE_THRESHOLD when the classifier checks faces. */
float maskdet_default_face_threshold(const maskdet *md);
/* Metadata of the loaded models, e.g. maskdet_model_info(md, "detector", "name"):
 * which is "detector" or "classifier"; NULL when absent. */
const char *maskdet_model_info(const maskdet *md, const char *which, const char *key);

#ifdef __cplusplus
}
#endif

#endif
