/*
 * make_seeds.c - writes the seed corpora: small valid inputs for every fuzz
 * target, made by the project's own writers (nn_weights_save, image_save) or
 * by hand (prototxt, XML and JSON text, BMP headers) or with the test protobuf
 * writer (tests/pbwriter.h).
 *
 *   build/make_seeds [DIR]     writes DIR/<target>/<name> (default tests/fuzz/seeds)
 *
 * `make fuzz-seeds` runs it; the output is committed, and the regression test
 * insists that every seed is accepted, so a seed that stops being valid (a
 * format change) shows up in `make test`. Nothing here is copied from
 * ../shared: the real models are only a fuzz-time extra (tests/fuzz/README.md).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_targets.h"
#include "pbwriter.h"
#include "image.h"
#include "nn.h"

static const char *out_dir = "tests/fuzz/seeds";
static int n_written;

static void die(const char *what, const char *detail) {
    fprintf(stderr, "make_seeds: %s: %s\n", what, detail);
    exit(1);
}

static void seed_path(char *buf, size_t cap, const char *target, const char *name) {
    snprintf(buf, cap, "%s/%s", out_dir, target);
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) die(buf, strerror(errno));
    snprintf(buf, cap, "%s/%s/%s", out_dir, target, name);
}

static void write_seed(const char *target, const char *name, const void *data, size_t size) {
    char path[512];
    seed_path(path, sizeof path, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) die(path, "cannot write");
    n_written++;
}

static void write_text(const char *target, const char *name, const char *text) {
    write_seed(target, name, text, strlen(text));
}

/* ----------------------------------------------------------------- .nnw */

static void add_tensor(nn_weights *w, const char *name, int ndim, const int *shape, nn_dtype dtype) {
    nn_tensor *t = nn_tensor_new(ndim, shape);
    nn_error err;
    if (!t) die(name, "out of memory");
    for (size_t i = 0; i < t->numel; i++) t->data[i] = 0.125f * (float)i - 1.0f;
    if (nn_weights_add(w, name, t, dtype, &err) != NN_OK) die(name, err.msg);
    nn_tensor_free(t);
}

static void save_weights(nn_weights *w, const char *name) {
    char path[512];
    nn_error err;
    seed_path(path, sizeof path, "weights", name);
    if (nn_weights_save(w, path, &err) != NN_OK) die(path, err.msg);
    nn_weights_free(w);
    n_written++;
}

static void weights_seeds(void) {
    nn_error err;
    nn_weights *w = nn_weights_create();
    static const char *const meta[][2] = {
        {"kind", "detector"}, {"arch", "caffe"}, {"input.width", "8"}, {"input.height", "6"},
        {"input.channel_order", "bgr"}, {"input.mean", "104,177,123"}, {"input.scale", "1,1,1"},
        {"classes", "background,face"}, {"note", "caf\xc3\xa9 \xe2\x82\xac"}, {"empty", ""}};
    for (size_t i = 0; i < sizeof meta / sizeof *meta; i++)
        if (nn_weights_set_meta(w, meta[i][0], meta[i][1], &err) != NN_OK) die("meta", err.msg);
    if (nn_weights_set_meta(w, "caffe.prototxt", fuzz_attach_net, &err) != NN_OK) die("meta", err.msg);
    int s4[4] = {3, 2, 3, 3}, s1[1] = {3}, s2[2] = {2, 5};
    add_tensor(w, "conv.weight", 4, s4, NN_DTYPE_F32);
    add_tensor(w, "conv.bias", 1, s1, NN_DTYPE_F16);
    add_tensor(w, "scalar", 0, s1, NN_DTYPE_F32);
    add_tensor(w, "fc.weight", 2, s2, NN_DTYPE_F32);
    save_weights(w, "small.nnw");

    w = nn_weights_create();
    if (nn_weights_set_meta(w, "kind", "classifier", &err) != NN_OK) die("meta", err.msg);
    save_weights(w, "meta_only.nnw");

    save_weights(nn_weights_create(), "empty.nnw");

    w = nn_weights_create();
    int s6[6] = {1, 2, 1, 2, 1, 3};
    add_tensor(w, "six", 6, s6, NN_DTYPE_F16);
    add_tensor(w, "one", 1, s1, NN_DTYPE_F16);
    save_weights(w, "f16.nnw");
}

/* ------------------------------------------------------------- prototxt */

static const char SMALL_NET[] =
    "# every simple layer type, old-style inputs\n"
    "name: \"small\"\n"
    "input: \"data\"\n"
    "input_dim: 1 input_dim: 3 input_dim: 11 input_dim: 10\n"
    "layer { name: \"conv\" type: \"Convolution\" bottom: \"data\" top: \"conv\"\n"
    "  param { lr_mult: 1 decay_mult: 1 }\n"
    "  convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 1 dilation: 1\n"
    "    weight_filler { type: \"xavier\" } bias_term: true } }\n"
    "layer { name: \"relu\" type: \"ReLU\" bottom: \"conv\" top: \"conv\" relu_param { negative_slope: 0.1 } }\n"
    "layer { name: \"sig\" type: \"Sigmoid\" bottom: \"conv\" top: \"sig\" }\n"
    "layer { name: \"pool\" type: \"Pooling\" bottom: \"conv\" top: \"pool\"\n"
    "  pooling_param { pool: AVE kernel_size: 2 stride: 2 pad: 1 } }\n"
    "layer { name: \"gpool\" type: \"Pooling\" bottom: \"sig\" top: \"gpool\"\n"
    "  pooling_param { pool: MAX global_pooling: true } }\n"
    "layer { name: \"train_only\" type: \"Dropout\" bottom: \"pool\" top: \"pool\" include { phase: TRAIN } }\n"
    "layer { name: \"drop\" type: \"Dropout\" bottom: \"pool\" top: \"pool\" dropout_param { dropout_ratio: 0.2 } }\n"
    "layer { name: \"flat\" type: \"Flatten\" bottom: \"pool\" top: \"flat\" }\n"
    "layer { name: \"rs\" type: \"Reshape\" bottom: \"flat\" top: \"rs\" reshape_param { shape { dim: 0 dim: -1 dim: 2 } } }\n"
    "layer { name: \"sm\" type: \"Softmax\" bottom: \"rs\" top: \"sm\" softmax_param { axis: 2 } }\n"
    "layer { name: \"perm\" type: \"Permute\" bottom: \"pool\" top: \"perm\" permute_param { order: 0 order: 2 order: 3 order: 1 } }\n"
    "layer { name: \"split\" type: \"Split\" bottom: \"pool\" top: \"p1\" top: \"p2\" }\n"
    "layer { name: \"cat\" type: \"Concat\" bottom: \"p1\" bottom: \"p2\" top: \"cat\" concat_param { axis: 1 } }\n"
    "layer { name: \"sum\" type: \"Eltwise\" bottom: \"cat\" bottom: \"cat\" top: \"sum\"\n"
    "  eltwise_param { operation: SUM coeff: 1 coeff: -0.5 } }\n"
    "layer { name: \"max\" type: \"Eltwise\" bottom: \"cat\" bottom: \"sum\" top: \"max\" eltwise_param { operation: MAX } }\n";

static const char SSD_NET[] =
    "name: \"tiny_ssd\"\n"
    "layer { name: \"input\" type: \"Input\" top: \"data\"\n"
    "  input_param { shape { dim: 1 dim: 3 dim: 32 dim: 32 } } }\n"
    "layer { name: \"c1\" type: \"Convolution\" bottom: \"data\" top: \"c1\"\n"
    "  convolution_param { num_output: 8 kernel_h: 3 kernel_w: 3 stride_h: 2 stride_w: 2 pad_h: 1 pad_w: 1 } }\n"
    "layer { name: \"bn1\" type: \"BatchNorm\" bottom: \"c1\" top: \"c1\"\n"
    "  batch_norm_param { use_global_stats: true eps: 0.001 } }\n"
    "layer { name: \"sc1\" type: \"Scale\" bottom: \"c1\" top: \"c1\" scale_param { bias_term: true } }\n"
    "layer { name: \"r1\" type: \"ReLU\" bottom: \"c1\" top: \"c1\" }\n"
    "layer { name: \"n1\" type: \"Normalize\" bottom: \"c1\" top: \"n1\"\n"
    "  norm_param { across_spatial: false scale_filler { type: \"constant\" value: 20 } channel_shared: false } }\n"
    "layer { name: \"c2\" type: \"Convolution\" bottom: \"c1\" top: \"c2\"\n"
    "  convolution_param { num_output: 8 kernel_size: 3 stride: 2 pad: 1 group: 2 } }\n"
    "layer { name: \"loc1\" type: \"Convolution\" bottom: \"n1\" top: \"loc1\" convolution_param { num_output: 16 kernel_size: 1 } }\n"
    "layer { name: \"loc1_perm\" type: \"Permute\" bottom: \"loc1\" top: \"loc1_perm\" permute_param { order: 0 order: 2 order: 3 order: 1 } }\n"
    "layer { name: \"loc1_flat\" type: \"Flatten\" bottom: \"loc1_perm\" top: \"loc1_flat\" flatten_param { axis: 1 } }\n"
    "layer { name: \"conf1\" type: \"Convolution\" bottom: \"n1\" top: \"conf1\" convolution_param { num_output: 8 kernel_size: 1 } }\n"
    "layer { name: \"conf1_perm\" type: \"Permute\" bottom: \"conf1\" top: \"conf1_perm\" permute_param { order: 0 order: 2 order: 3 order: 1 } }\n"
    "layer { name: \"conf1_flat\" type: \"Flatten\" bottom: \"conf1_perm\" top: \"conf1_flat\" flatten_param { axis: 1 } }\n"
    "layer { name: \"prior1\" type: \"PriorBox\" bottom: \"n1\" bottom: \"data\" top: \"prior1\"\n"
    "  prior_box_param { min_size: 8 max_size: 16 aspect_ratio: 2 flip: true clip: false\n"
    "    variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 step: 2 offset: 0.5 } }\n"
    "layer { name: \"loc2\" type: \"Convolution\" bottom: \"c2\" top: \"loc2\" convolution_param { num_output: 8 kernel_size: 1 } }\n"
    "layer { name: \"loc2_perm\" type: \"Permute\" bottom: \"loc2\" top: \"loc2_perm\" permute_param { order: 0 order: 2 order: 3 order: 1 } }\n"
    "layer { name: \"loc2_flat\" type: \"Flatten\" bottom: \"loc2_perm\" top: \"loc2_flat\" }\n"
    "layer { name: \"conf2\" type: \"Convolution\" bottom: \"c2\" top: \"conf2\" convolution_param { num_output: 4 kernel_size: 1 } }\n"
    "layer { name: \"conf2_perm\" type: \"Permute\" bottom: \"conf2\" top: \"conf2_perm\" permute_param { order: 0 order: 2 order: 3 order: 1 } }\n"
    "layer { name: \"conf2_flat\" type: \"Flatten\" bottom: \"conf2_perm\" top: \"conf2_flat\" }\n"
    "layer { name: \"prior2\" type: \"PriorBox\" bottom: \"c2\" bottom: \"data\" top: \"prior2\"\n"
    "  prior_box_param { min_size: 16 aspect_ratio: 2 flip: false clip: true variance: 0.1 img_size: 32 } }\n"
    "layer { name: \"mbox_loc\" type: \"Concat\" bottom: \"loc1_flat\" bottom: \"loc2_flat\" top: \"mbox_loc\" concat_param { axis: 1 } }\n"
    "layer { name: \"mbox_conf\" type: \"Concat\" bottom: \"conf1_flat\" bottom: \"conf2_flat\" top: \"mbox_conf\" concat_param { axis: 1 } }\n"
    "layer { name: \"mbox_priorbox\" type: \"Concat\" bottom: \"prior1\" bottom: \"prior2\" top: \"mbox_priorbox\" concat_param { axis: 2 } }\n"
    "layer { name: \"conf_reshape\" type: \"Reshape\" bottom: \"mbox_conf\" top: \"conf_reshape\" reshape_param { shape { dim: 0 dim: -1 dim: 2 } } }\n"
    "layer { name: \"conf_softmax\" type: \"Softmax\" bottom: \"conf_reshape\" top: \"conf_softmax\" softmax_param { axis: 2 } }\n"
    "layer { name: \"conf_flat\" type: \"Flatten\" bottom: \"conf_softmax\" top: \"conf_flat\" }\n"
    "layer { name: \"detection_out\" type: \"DetectionOutput\" bottom: \"mbox_loc\" bottom: \"conf_flat\" bottom: \"mbox_priorbox\"\n"
    "  top: \"detection_out\" include { phase: TEST }\n"
    "  detection_output_param { num_classes: 2 share_location: true background_label_id: 0\n"
    "    nms_param { nms_threshold: 0.45 top_k: 100 } code_type: CENTER_SIZE keep_top_k: 20\n"
    "    confidence_threshold: 0.01 } }\n";

/* The text-format syntax corners: comments, ; and , separators, <> blocks,
 * [] lists, adjacent strings, escapes, colon before a block. */
static const char SYNTAX[] =
    "# comment\n"
    "name: 'q' \"uoted\"  # joined\n"
    "input: \"data\"; input_shape: { dim: [1, 1, 4, 4] }\n"
    "layer < name: \"r\\t\\\"e\\\\lu\\x41\\101\" type: \"ReLU\" bottom: \"data\" top: \"data\" >\n"
    "layer { name: \"p\", type: \"Pooling\", bottom: \"data\", top: \"p\",\n"
    "  pooling_param { pool: MAX kernel_size: 2 stride: 2 round_mode: FLOOR } }\n"
    "layer { name: \"c\" type: \"Convolution\" bottom: \"p\" top: \"c\"\n"
    "  convolution_param { num_output: 2 kernel_size: 1 bias_term: false weight_filler { type: \"gaussian\" std: 1e-2 } } }\n";

static void prototxt_seeds(void) {
    write_text("prototxt", "small.prototxt", SMALL_NET);
    write_text("prototxt", "ssd.prototxt", SSD_NET);
    write_text("prototxt", "syntax.prototxt", SYNTAX);
    write_text("prototxt", "attach.prototxt", fuzz_attach_net);
}

/* ---------------------------------------------------- protobuf bytes */

/* A BlobProto (tests/pbwriter.h) whose values are 0.5, 0.75, 1, ... */
static void w_blob(pbw *w, int field, int ndim, const int *dims, bool legacy, pbw_values_form form) {
    float values[64];
    int count = 1;
    for (int i = 0; i < ndim; i++) count *= dims[i];
    if (count > 64) die("w_blob", "more than 64 values");
    for (int i = 0; i < count; i++) values[i] = 0.5f + 0.25f * (float)i;
    pbw_blob(w, field, ndim, dims, legacy, values, count, form);
}

static void w_layer(pbw *net, const char *name, const char *type, pbw *blobs) {
    pbw layer = {0};
    pbw_str(&layer, 1, name);
    pbw_str(&layer, 2, type);
    pbw_str(&layer, 3, "bottom_is_skipped");
    if (blobs) pbw_splice(&layer, blobs);
    pbw_msg(net, 100, &layer);
}

/* Fits fuzz_attach_net: conv 3x2x3x3 + bias 3, bn (3, 3, 1), scale (3, 3),
 * norm (3), dw 3x1x1x1; plus a layer the net lacks. */
static void attach_model(pbw *net) {
    pbw_str(net, 1, "fuzz");
    pbw b = {0};
    int conv[4] = {3, 2, 3, 3}, three[1] = {3}, one[1] = {1}, dw[4] = {3, 1, 1, 1};
    w_blob(&b, 7, 4, conv, false, PBW_VALUES_PACKED);
    w_blob(&b, 7, 1, three, false, PBW_VALUES_UNPACKED);
    w_layer(net, "conv", "Convolution", &b);
    w_blob(&b, 7, 1, three, false, PBW_VALUES_PACKED);
    w_blob(&b, 7, 1, three, false, PBW_VALUES_DOUBLE);
    w_blob(&b, 7, 1, one, false, PBW_VALUES_PACKED);
    w_layer(net, "bn", "BatchNorm", &b);
    w_blob(&b, 7, 1, three, false, PBW_VALUES_PACKED);
    w_blob(&b, 7, 1, three, false, PBW_VALUES_PACKED);
    w_layer(net, "scale", "Scale", &b);
    w_blob(&b, 7, 1, three, false, PBW_VALUES_PACKED);
    w_layer(net, "norm", "Normalize", &b);
    w_blob(&b, 7, 4, dw, true, PBW_VALUES_PACKED);
    w_layer(net, "dw", "Convolution", &b);
    w_blob(&b, 7, 1, three, false, PBW_VALUES_PACKED);
    w_layer(net, "unused", "Scale", &b);
    w_layer(net, "relu", "ReLU", NULL);
}

/* The same weights as V1 layers (NetParameter field 2, V1LayerParameter:
 * name 4, type 5 as an enum, blobs 6 with legacy dimensions). */
static void attach_model_v1(pbw *net) {
    pbw_str(net, 1, "fuzz_v1");
    struct { const char *name; int type; int n; int dims[3][4]; int ndims[3]; } layers[] = {
        {"conv", 4, 2, {{3, 2, 3, 3}, {1, 1, 1, 3}}, {4, 4}},
        {"bn", 0, 3, {{3}, {3}, {1}}, {1, 1, 1}},
        {"scale", 0, 2, {{3}, {3}}, {1, 1}},
        {"norm", 0, 1, {{3}}, {1}},
        {"dw", 4, 1, {{3, 1, 1, 1}}, {4}},
    };
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++) {
        pbw layer = {0};
        pbw_str(&layer, 2, "bottom");
        pbw_str(&layer, 4, layers[i].name);
        pbw_key(&layer, 5, 0), pbw_varint(&layer, (uint64_t)layers[i].type);
        for (int k = 0; k < layers[i].n; k++)
            w_blob(&layer, 6, layers[i].ndims[k], layers[i].dims[k], layers[i].ndims[k] == 4,
                   PBW_VALUES_PACKED);
        pbw_msg(net, 2, &layer);
    }
}

/* Every wire type and the corners of varints, for the plain reader. */
static void wire_forms(pbw *w) {
    pbw_key(w, 1, 0), pbw_varint(w, 0);
    pbw_key(w, 2, 0), pbw_varint(w, 300);
    pbw_key(w, 3, 0), pbw_varint(w, (uint64_t)-1);          /* int32 -1: ten bytes */
    pbw_key(w, 4, 0), pbw_varint(w, 0x7FFFFFFF);
    pbw_key(w, 5, 1), pbw_le(w, 0x400921FB54442D18ull, 8);   /* double pi */
    pbw_key(w, 6, 5), pbw_le(w, 0x3FC00000u, 4);              /* float 1.5 */
    pbw packed = {0};
    for (int i = 0; i < 5; i++) pbw_varint(&packed, (uint64_t)i * 200);
    pbw_msg(w, 7, &packed);
    pbw inner = {0}, innermost = {0};
    pbw_str(&innermost, 1, "deep");
    pbw_msg(&inner, 2, &innermost);
    pbw_key(&inner, 536870911, 0), pbw_varint(&inner, 1); /* the largest field number */
    pbw_msg(w, 8, &inner);
    pbw_bytes(w, 9, "", 0);
}

static void write_pbw(const char *target, const char *name, pbw *w) {
    write_seed(target, name, w->data, w->len);
    pbw_free(w);
}

static void protobuf_seeds(void) {
    pbw w = {0};
    attach_model(&w);
    write_pbw("caffemodel", "attach.caffemodel", &w);
    attach_model_v1(&w);
    write_pbw("caffemodel", "attach_v1.caffemodel", &w);

    attach_model(&w);
    write_pbw("protobuf", "caffemodel.pb", &w);
    wire_forms(&w);
    write_pbw("protobuf", "wire_forms.pb", &w);
    pbw_str(&w, 1, "no layers");
    write_pbw("protobuf", "no_layers.pb", &w);
}

/* ------------------------------------------------------- XML, VOC, JSON */

/* The scratch image of the voc target is 7x5 (fuzz_targets.c). */
static const char VOC[] =
    "<annotation>\n"
    "  <folder>images</folder>\n"
    "  <filename>a.png</filename>\n"
    "  <size><width>7</width><height>5</height><depth>3</depth></size>\n"
    "  <segmented>0</segmented>\n"
    "  <object>\n"
    "    <name>with_mask</name><pose>Unspecified</pose><truncated>0</truncated>\n"
    "    <difficult>0</difficult>\n"
    "    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>4</xmax><ymax>3</ymax></bndbox>\n"
    "  </object>\n"
    "  <object>\n"
    "    <name>without_mask</name>\n"
    "    <bndbox><xmin>-2</xmin><ymin>0.5</ymin><xmax>9</xmax><ymax>5</ymax></bndbox>\n"
    "  </object>\n"
    "  <object>\n"
    "    <name>mask_weared_incorrect</name>\n"
    "    <bndbox><xmin>3</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox>\n"
    "  </object>\n"
    "</annotation>\n";

static const char XML_FORMS[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<!DOCTYPE annotation>\n"
    "<!-- a comment -->\n"
    "<annotation verified='yes' a=\"b\">\n"
    "  <name>caf&#233; &amp; &lt;tag&gt; &quot;q&quot; &apos;s&apos; &#x41;</name>\n"
    "  <text><![CDATA[raw <text> & more]]></text>\n"
    "  <empty/>\n"
    "  <empty   />\n"
    "  <mixed>one<b>two</b>three</mixed>\n"
    "  <?pi inside?>\n"
    "</annotation>\n";

static const char JSON_A[] =
    "{\n"
    "  \"FileName\": \"a.png\",\n"
    "  \"NumOfAnno\": 3,\n"
    "  \"Annotations\": [\n"
    "    {\"isProtected\": false, \"ID\": 1, \"BoundingBox\": [1, 1, 4, 3], \"classname\": \"face_with_mask\",\n"
    "     \"Confidence\": 1, \"Attributes\": {}},\n"
    "    {\"BoundingBox\": [-1.5, 0, 8, 5], \"classname\": \"face_no_mask\"},\n"
    "    {\"BoundingBox\": [2, 2, 2, 4], \"classname\": \"mask_colorful\"}\n"
    "  ]\n"
    "}\n";

static const char JSON_B[] =
    "{\"FileName\": \"b.jpg\", \"Annotations\": [{\"BoundingBox\": [0, 0, 9, 4], "
    "\"classname\": \"face_with_mask_incorrect\"}]}";

static const char JSON_C[] =
    "{\"FileName\": \"c.bmp\", \"NumOfAnno\": 0, \"Annotations\": []}";

static void text_seeds(void) {
    write_text("xml", "voc.xml", VOC);
    write_text("xml", "forms.xml", XML_FORMS);
    write_text("voc", "a.xml", VOC);
    write_text("json", "a.json", JSON_A);
    write_text("json", "b.json", JSON_B);
    write_text("json", "c.json", JSON_C);
}

/* --------------------------------------------------------------- images */

static void save_image(const char *name, int w, int h, int channels) {
    image img;
    nn_error err;
    if (image_alloc(&img, w, h, channels, &err) != NN_OK) die(name, err.msg);
    for (size_t i = 0; i < (size_t)w * h * channels; i++) img.pixels[i] = (uint8_t)(i * 37 + i / 7);
    char path[512];
    seed_path(path, sizeof path, "image", name);
    if (image_save(&img, path, 75, &err) != NN_OK) die(path, err.msg);
    image_free(&img);
    n_written++;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* An uncompressed BMP: 8-bit (grey palette), 24-bit or 32-bit; top_down
 * stores a negative height. */
static void save_bmp(const char *name, int w, int h, int bpp, bool top_down) {
    size_t palette = bpp == 8 ? 256 * 4 : 0;
    size_t row = ((size_t)w * (size_t)bpp / 8 + 3) / 4 * 4, offset = 54 + palette;
    size_t bytes = offset + row * (size_t)h;
    uint8_t *b = calloc(bytes, 1);
    if (!b) die(name, "out of memory");
    b[0] = 'B', b[1] = 'M';
    put32(b + 2, (uint32_t)bytes);
    put32(b + 10, (uint32_t)offset);
    put32(b + 14, 40);
    put32(b + 18, (uint32_t)w);
    put32(b + 22, top_down ? (uint32_t)-h : (uint32_t)h);
    b[26] = 1;
    b[28] = (uint8_t)bpp;
    put32(b + 34, (uint32_t)(row * (size_t)h));
    for (size_t i = 0; i < palette / 4; i++) b[54 + 4 * i] = b[55 + 4 * i] = b[56 + 4 * i] = (uint8_t)i;
    for (size_t i = offset; i < bytes; i++) b[i] = (uint8_t)(i * 11);
    write_seed("image", name, b, bytes);
    free(b);
}

static void image_seeds(void) {
    save_image("rgb.png", 5, 4, 3);
    save_image("grey.png", 3, 3, 1);
    save_image("rgba.png", 2, 7, 4);
    save_image("rgb.jpg", 17, 9, 3);
    save_image("grey.jpg", 8, 8, 1);
    save_bmp("rgb24.bmp", 5, 3, 24, false);
    save_bmp("rgb32_topdown.bmp", 3, 4, 32, true);
    save_bmp("grey8.bmp", 6, 2, 8, false);
}

/* ------------------------------------------------------------ raw video */

/* "WxH\n" then n_frames whole frames of a gradient (fuzz_rawvideo's format). */
static void save_rawvideo(const char *name, const char *size_text, int w, int h, int n_frames) {
    size_t head = strlen(size_text) + 1, frame = (size_t)3 * w * h;
    size_t total = head + frame * (size_t)n_frames;
    uint8_t *buf = malloc(total);
    if (!buf) die(name, "out of memory");
    memcpy(buf, size_text, head - 1);
    buf[head - 1] = '\n';
    for (size_t i = head; i < total; i++) buf[i] = (uint8_t)(i * 7);
    write_seed("rawvideo", name, buf, total);
    free(buf);
}

static void rawvideo_seeds(void) {
    save_rawvideo("1x1_three_frames.raw", "1x1", 1, 1, 3);
    save_rawvideo("4x3_two_frames.raw", "4x3", 4, 3, 2);
    save_rawvideo("16X2_one_frame.raw", "16X2", 16, 2, 1);
    save_rawvideo("2x5_empty_stream.raw", "2x5", 2, 5, 0);
    write_text("rawvideo", "8192x4608_size_only.raw", "8192x4608"); /* the largest size, no stream */
}

int main(int argc, char **argv) {
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: make_seeds [DIR]   (default %s)\n", out_dir);
        return 2;
    }
    if (argc == 2) out_dir = argv[1];
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) die(out_dir, strerror(errno));
    weights_seeds();
    prototxt_seeds();
    protobuf_seeds();
    text_seeds();
    image_seeds();
    rawvideo_seeds();
    printf("make_seeds: wrote %d files under %s\n", n_written, out_dir);
    return 0;
}
