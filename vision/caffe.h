/*
 * caffe.h - reading Caffe models without protobuf: the text .prototxt (net
 * architecture) and the binary .caffemodel (trained blobs).
 *
 * Three layers of API:
 *   1. caffe_pt_*     a generic protobuf text-format tree (any prototxt)
 *   2. caffe_net_*    a typed NetParameter: inputs and layers with their
 *                     parameters; unknown layer types/params are errors;
 *                     shape inference; weights attached from a caffemodel
 *   3. caffe_model_*  the binary caffemodel: layer names, types and blobs
 *
 * Typical use:
 *   caffe_net *net; caffe_model *w;
 *   caffe_net_load("deploy.prototxt", &net, &err);
 *   caffe_model_load("x.caffemodel", &w, &err);
 *   caffe_net_attach_weights(net, w, &err);   // infers shapes, checks sizes
 *   caffe_model_free(w);
 *   ... net->layers[i].blobs, net->layers[i].top_shapes ...
 *   caffe_net_free(net);
 */
#ifndef VISION_CAFFE_H
#define VISION_CAFFE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "nn.h"
#include "ssd.h"

/* Limits checked before allocating. */
#define CAFFE_MAX_FILE_BYTES ((size_t)512 << 20)
#define CAFFE_MAX_DIMS 8
#define CAFFE_MAX_LAYERS 10000    /* real nets have a few hundred; checks are O(layers^2) */
#define CAFFE_MAX_BLOBS 16       /* per layer */
#define CAFFE_MAX_BOTTOMS 256    /* per layer */
#define CAFFE_MAX_INPUTS 16
#define CAFFE_MAX_DIM_SIZE (1 << 24) /* any one dimension of a blob               */
#define CAFFE_MAX_KERNEL 4096        /* kernel, stride, pad, dilation, group, ... */
#define CAFFE_PT_MAX_DEPTH 64    /* prototxt message nesting */
#define CAFFE_PT_MAX_FIELDS (1 << 20) /* fields in a whole prototxt (real ones: a few thousand) */

/* ------------------------------------------------ 1. text-format tree */

typedef enum {
    CAFFE_PT_NUMBER,  /* 12, -3.5e-2, inf          */
    CAFFE_PT_STRING,  /* "text" (escapes decoded)  */
    CAFFE_PT_IDENT,   /* MAX, true, CENTER_SIZE    */
    CAFFE_PT_MESSAGE, /* name { ... }              */
} caffe_pt_kind;

typedef struct caffe_pt_msg caffe_pt_msg;

typedef struct {
    char *name;
    caffe_pt_kind kind;
    char *text;        /* scalar: the token (string: decoded contents) */
    double number;     /* CAFFE_PT_NUMBER                               */
    caffe_pt_msg *msg; /* CAFFE_PT_MESSAGE                              */
    int line, col;     /* where the field's name starts (1-based)       */
} caffe_pt_field;

struct caffe_pt_msg {
    int count, capacity;
    caffe_pt_field *fields;
};

/* Parses text (len bytes, need not be NUL-terminated). Errors read
 * "<filename>:<line>:<col>: ...". */
nn_status caffe_pt_parse(const char *text, size_t len, const char *filename, caffe_pt_msg **out,
                         nn_error *err);
void caffe_pt_free(caffe_pt_msg *m);
int caffe_pt_count(const caffe_pt_msg *m, const char *name);
/* The index-th field called name, or NULL. */
const caffe_pt_field *caffe_pt_get(const caffe_pt_msg *m, const char *name, int index);

/* ----------------------------------------------------- 2. typed net */

typedef enum {
    CAFFE_LAYER_INPUT,
    CAFFE_LAYER_CONVOLUTION,
    CAFFE_LAYER_BATCHNORM,
    CAFFE_LAYER_SCALE,
    CAFFE_LAYER_RELU,
    CAFFE_LAYER_SIGMOID,
    CAFFE_LAYER_POOLING,
    CAFFE_LAYER_ELTWISE,
    CAFFE_LAYER_CONCAT,
    CAFFE_LAYER_PERMUTE,
    CAFFE_LAYER_FLATTEN,
    CAFFE_LAYER_RESHAPE,
    CAFFE_LAYER_SOFTMAX,
    CAFFE_LAYER_NORMALIZE,
    CAFFE_LAYER_PRIORBOX,
    CAFFE_LAYER_DETECTION_OUTPUT,
    CAFFE_LAYER_DROPOUT,
    CAFFE_LAYER_SPLIT,
    CAFFE_LAYER_TYPE_COUNT
} caffe_layer_type;

const char *caffe_layer_type_name(caffe_layer_type t); /* "Convolution", ... */

typedef struct {
    int ndim;
    int dim[CAFFE_MAX_DIMS];
} caffe_shape;

typedef struct {
    int num_output;
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
    int group;
    bool bias_term; /* default true */
} caffe_conv_param;

typedef enum { CAFFE_POOL_MAX = 0, CAFFE_POOL_AVE = 1 } caffe_pool_method;
typedef struct {
    caffe_pool_method pool;
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    bool global_pooling;
    bool ceil_mode; /* Caffe's default (round_mode CEIL); FLOOR clears it */
} caffe_pool_param;

typedef enum { CAFFE_ELTWISE_PROD = 0, CAFFE_ELTWISE_SUM = 1, CAFFE_ELTWISE_MAX = 2 } caffe_eltwise_op;
typedef struct {
    caffe_eltwise_op operation; /* default SUM */
    int n_coeffs;
    float coeffs[CAFFE_MAX_BOTTOMS];
} caffe_eltwise_param;

typedef struct {
    bool across_spatial; /* default true  */
    bool channel_shared; /* default true  */
    float eps;           /* default 1e-10 */
    float scale_value;   /* scale_filler's constant value (default 1) */
} caffe_norm_param;

typedef struct {
    int num_classes;
    bool share_location;     /* default true */
    int background_label_id; /* default 0    */
    float nms_threshold;     /* default 0.3  */
    int top_k;               /* -1: all      */
    float eta;               /* default 1    */
    ssd_code_type code_type; /* default CORNER, as Caffe */
    bool variance_encoded_in_target;
    int keep_top_k;          /* -1: all */
    float confidence_threshold;
    bool clip;               /* OpenCV's extension `clip` */
} caffe_detection_param;

typedef struct {
    char *name;
    caffe_layer_type type;
    int line; /* of the `layer {` in the prototxt */
    int n_bottoms, n_tops;
    char **bottoms, **tops;

    /* Parameters: only the member for `type` is filled. */
    caffe_conv_param conv;
    struct {
        float eps; /* default 1e-5 */
        bool use_global_stats, has_use_global_stats;
        float moving_average_fraction;
    } batchnorm;
    struct { bool bias_term; int axis, num_axes; } scale; /* only axis 1, num_axes 1 */
    struct { float negative_slope; } relu;
    caffe_pool_param pool;
    caffe_eltwise_param eltwise;
    struct { int axis; } concat;
    struct { int n_order; int order[CAFFE_MAX_DIMS]; } permute;
    struct { int axis, end_axis; } flatten;
    struct { caffe_shape shape; int axis, num_axes; } reshape;
    struct { int axis; } softmax;
    caffe_norm_param norm;
    ssd_caffe_prior_params prior;
    caffe_detection_param detection;
    struct { float ratio; } dropout;
    struct { int n_shapes; caffe_shape shapes[CAFFE_MAX_INPUTS]; } input;

    /* Filled by caffe_net_infer_shapes. */
    caffe_shape *bottom_shapes, *top_shapes;

    /* Filled by caffe_net_attach_weights (owned by the layer). */
    int n_blobs;
    struct caffe_blob *blobs;
} caffe_layer;

typedef struct {
    char *name;
    caffe_shape shape; /* ndim 0 if the prototxt gives none */
} caffe_net_input;

typedef struct {
    char *name;
    char *filename; /* for messages */
    int n_inputs;   /* net-level `input:` fields (the Input layer is a layer) */
    caffe_net_input inputs[CAFFE_MAX_INPUTS];
    int n_layers;
    caffe_layer *layers;
    bool shapes_known;
} caffe_net;

/* Parses a NetParameter prototxt. Layers excluded from the TEST phase
 * (include { phase: TRAIN }) are dropped. Unknown layer types and unknown or
 * misplaced parameters are errors "<file>:<line>:<col>: layer '<name>': ...". */
nn_status caffe_net_parse(const char *text, size_t len, const char *filename, caffe_net **out,
                          nn_error *err);
nn_status caffe_net_load(const char *path, caffe_net **out, nn_error *err);
void caffe_net_free(caffe_net *net);
int caffe_net_find_layer(const caffe_net *net, const char *name); /* -1 if absent */

/* Computes every layer's bottom and top shapes from the input shapes.
 * Idempotent. Errors name the layer and the mismatch. */
nn_status caffe_net_infer_shapes(caffe_net *net, nn_error *err);
/* Writes one line per layer: "name type [in shapes] -> [out shapes]" (shapes
 * must be inferred). For logs and the CLI; returns NN_ERR_IO on write failure. */
nn_status caffe_net_print_summary(const caffe_net *net, FILE *out, nn_error *err);
/* "1x64x150x150" into buf; returns buf. */
char *caffe_shape_str(const caffe_shape *s, char *buf, size_t len);
size_t caffe_shape_count(const caffe_shape *s);

/* ------------------------------------------------- 3. binary caffemodel */

typedef struct caffe_blob {
    caffe_shape shape; /* BlobShape dims, or legacy num/channels/height/width */
    size_t count;      /* number of values (= product of shape)               */
    float *data;       /* count floats (double_data converted)                */
} caffe_blob;

typedef struct {
    char *name;
    char *type; /* V1 layers: the enum's Caffe name, e.g. "Convolution" */
    int n_blobs;
    caffe_blob *blobs;
} caffe_model_layer;

typedef struct {
    char *name;
    int n_layers;
    caffe_model_layer *layers;
} caffe_model;

/* Parses NetParameter bytes: `layer` (field 100, LayerParameter) and legacy
 * `layers` (field 2, V1LayerParameter). Other fields are skipped. Errors give
 * the byte offset and, inside a layer, its name when already read. */
nn_status caffe_model_parse(const void *buf, size_t len, caffe_model **out, nn_error *err);
nn_status caffe_model_load(const char *path, caffe_model **out, nn_error *err);
void caffe_model_free(caffe_model *m);
const caffe_model_layer *caffe_model_find(const caffe_model *m, const char *name);

/* Copies the blobs of every net layer that needs weights from the model layer
 * of the same name. Infers shapes first. Errors: a missing layer or blob, an
 * extra blob, or a blob whose element count differs from what the layer needs
 * ("layer 'conv1' blob 0: caffemodel has 864 values (32x3x3x3), layer needs
 * 1728 (64x3x3x3)"). Model layers absent from the net are ignored, as Caffe
 * does. */
nn_status caffe_net_attach_weights(caffe_net *net, const caffe_model *model, nn_error *err);
/* Number of blobs a layer needs and their shapes (shapes must be inferred). */
int caffe_layer_blob_shapes(const caffe_layer *layer, caffe_shape *shapes /* CAFFE_MAX_BLOBS */);

/* ------------------------------------------------ SSD glue (caffe_ssd.c) */

/* Appends the priors of blob `prior_blob` (e.g. "mbox_priorbox"): the top of
 * a PriorBox layer, or a Concat (axis 2) of such tops, in concat order.
 * Shapes must be inferred (feature and image sizes come from them). */
nn_status caffe_net_priors(const caffe_net *net, const char *prior_blob, ssd_priors *out,
                           nn_error *err);
/* The ssd_detect settings of a DetectionOutput layer; boxes scaled to image_w x image_h. */
ssd_detect_params caffe_detection_params(const caffe_detection_param *d, float image_w,
                                         float image_h);

#endif
