/* test_caffe.c - prototxt parsing (tree, typed net, errors with line numbers),
 * shape inference, hand-made caffemodels (V2 and V1, truncated, corrupted,
 * size mismatches), and the three real models in /work/shared/models. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caffe.h"
#include "pbwriter.h"
#include "testutil.h"

/* ------------------------------------------------------ prototxt tree */

START_TEST(tree_forms) {
    const char *text = "# a comment\n"
                       "name: \"net\"  # trailing comment\n"
                       "layer {\n"
                       "  name: 'a' 'b'\n"          /* adjacent strings join */
                       "  value: -1.5e-2, flag: true; mode: MAX\n"
                       "  nested: { x: 1 } other < y: \"q\\\"\\n\" >\n"
                       "  list: [1, 2, 3]\n"
                       "}\n";
    nn_error err;
    caffe_pt_msg *m;
    ck_assert_msg(caffe_pt_parse(text, strlen(text), "t.prototxt", &m, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(m->count, 2);
    const caffe_pt_field *name = caffe_pt_get(m, "name", 0);
    ck_assert_int_eq(name->kind, CAFFE_PT_STRING);
    ck_assert_str_eq(name->text, "net");
    ck_assert_int_eq(name->line, 2);
    ck_assert_int_eq(name->col, 1);
    const caffe_pt_field *layer = caffe_pt_get(m, "layer", 0);
    ck_assert_int_eq(layer->kind, CAFFE_PT_MESSAGE);
    ck_assert_int_eq(layer->line, 3);
    const caffe_pt_msg *l = layer->msg;
    ck_assert_str_eq(caffe_pt_get(l, "name", 0)->text, "ab");
    const caffe_pt_field *v = caffe_pt_get(l, "value", 0);
    ck_assert_int_eq(v->kind, CAFFE_PT_NUMBER);
    ck_assert(fabs(v->number + 0.015) < 1e-12);
    ck_assert_int_eq(v->line, 5);
    ck_assert_int_eq(v->col, 3);
    ck_assert_int_eq(caffe_pt_get(l, "flag", 0)->kind, CAFFE_PT_IDENT);
    ck_assert_str_eq(caffe_pt_get(l, "mode", 0)->text, "MAX");
    ck_assert_int_eq(caffe_pt_get(l, "nested", 0)->kind, CAFFE_PT_MESSAGE);
    ck_assert(caffe_pt_get(caffe_pt_get(l, "nested", 0)->msg, "x", 0)->number == 1);
    ck_assert_str_eq(caffe_pt_get(caffe_pt_get(l, "other", 0)->msg, "y", 0)->text, "q\"\n");
    ck_assert_int_eq(caffe_pt_count(l, "list"), 3);
    ck_assert(caffe_pt_get(l, "list", 2)->number == 3);
    ck_assert_ptr_null(caffe_pt_get(l, "list", 3));
    caffe_pt_free(m);
}
END_TEST

/* Parses text and expects failure with `where` (e.g. ":3:5:") and `what` in the message. */
static void expect_syntax_error(const char *text, const char *where, const char *what) {
    nn_error err = {0};
    caffe_pt_msg *m = NULL;
    ck_assert_int_eq(caffe_pt_parse(text, strlen(text), "bad.prototxt", &m, &err), NN_ERR_FORMAT);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, where) && strstr(err.msg, what), "message '%s' lacks '%s' / '%s'",
                  err.msg, where, what);
    ck_assert_msg(strncmp(err.msg, "bad.prototxt:", 13) == 0, "no file name in '%s'", err.msg);
}

START_TEST(syntax_errors_with_line_numbers) {
    expect_syntax_error("a: 1\nlayer {\n  b: 2\n", ":4:1:", "missing '}'");
    expect_syntax_error("a: 1\nb \"x\"\n", ":2:3:", "expected ':' or '{' after 'b'");
    expect_syntax_error("a: 1\n\n  s: \"open\n", ":3:6:", "unterminated string");
    expect_syntax_error("x: 1.2.3\n", ":1:4:", "bad number");
    expect_syntax_error("x: 1e999\n", ":1:4:", "out of range");
    expect_syntax_error("x: 1\n @\n", ":2:2:", "unexpected character '@'");
    expect_syntax_error("x {\n y: }\n", ":2:5:", "expected a value");
    expect_syntax_error("}\n", ":1:1:", "expected a field name");
    expect_syntax_error("x: [1, 2\n", ":2:1:", "expected ',' or ']'");
    expect_syntax_error("s: \"a\\qb\"\n", ":1:4:", "unknown escape");
    expect_syntax_error("x:", ":1:3:", "end of file");
    expect_syntax_error("x: 1\n\x01", ":2:1:", "unexpected byte 0x01");
    /* an embedded NUL is an error, not the end of the text */
    nn_error err;
    caffe_pt_msg *m;
    ck_assert_int_eq(caffe_pt_parse("a: 1\0b: 2", 10, "nul", &m, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "nul:1:5: NUL") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(nesting_limit) {
    char text[4 * CAFFE_PT_MAX_DEPTH + 16];
    size_t n = 0;
    for (int i = 0; i <= CAFFE_PT_MAX_DEPTH; i++) text[n++] = 'a', text[n++] = '{';
    text[n] = 0;
    nn_error err;
    caffe_pt_msg *m;
    ck_assert_int_eq(caffe_pt_parse(text, n, "deep", &m, &err), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "nested too deeply"));
}
END_TEST

/* ---------------------------------------------------------- typed net */

static const char *SMALL_NET =
    "name: \"small\"\n"
    "input: \"data\"\n"
    "input_dim: 1 input_dim: 3 input_dim: 11 input_dim: 10\n"
    "layer { name: \"conv\" type: \"Convolution\" bottom: \"data\" top: \"conv\"\n"
    "  param { lr_mult: 1 decay_mult: 1 }\n"
    "  convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 1 dilation: 1\n"
    "    weight_filler { type: \"xavier\" } bias_term: true } }\n"
    "layer { name: \"relu\" type: \"ReLU\" bottom: \"conv\" top: \"conv\" relu_param { negative_slope: 0.1 } }\n"
    "layer { name: \"pool\" type: \"Pooling\" bottom: \"conv\" top: \"pool\"\n"
    "  pooling_param { pool: AVE kernel_size: 2 stride: 2 pad: 1 } }\n"
    "layer { name: \"train_only\" type: \"Dropout\" bottom: \"pool\" top: \"pool\" include { phase: TRAIN } }\n"
    "layer { name: \"flat\" type: \"Flatten\" bottom: \"pool\" top: \"flat\" }\n"
    "layer { name: \"rs\" type: \"Reshape\" bottom: \"flat\" top: \"rs\" reshape_param { shape { dim: 0 dim: -1 dim: 2 } } }\n"
    "layer { name: \"sm\" type: \"Softmax\" bottom: \"rs\" top: \"sm\" softmax_param { axis: 2 } }\n"
    "layer { name: \"perm\" type: \"Permute\" bottom: \"pool\" top: \"perm\" permute_param { order: 0 order: 2 } }\n"
    "layer { name: \"cat\" type: \"Concat\" bottom: \"pool\" bottom: \"pool\" top: \"cat\" concat_param { axis: 1 } }\n"
    "layer { name: \"sum\" type: \"Eltwise\" bottom: \"cat\" bottom: \"cat\" top: \"sum\" eltwise_param { operation: MAX } }\n";

static caffe_net *parse_ok(const char *text) {
    nn_error err;
    caffe_net *net = NULL;
    ck_assert_msg(caffe_net_parse(text, strlen(text), "net.prototxt", &net, &err) == NN_OK, "%s",
                  err.msg);
    return net;
}

static const caffe_layer *layer_named(const caffe_net *net, const char *name) {
    int i = caffe_net_find_layer(net, name);
    ck_assert_msg(i >= 0, "no layer %s", name);
    return &net->layers[i];
}

static void assert_shape(const caffe_shape *s, int ndim, int d0, int d1, int d2, int d3) {
    char buf[96];
    int want[4] = {d0, d1, d2, d3};
    bool ok = s->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = s->dim[i] == want[i];
    ck_assert_msg(ok, "shape %s, expected %d dims %d,%d,%d,%d", caffe_shape_str(s, buf, sizeof buf),
                  ndim, d0, d1, d2, d3);
}

START_TEST(typed_params_and_shapes) {
    caffe_net *net = parse_ok(SMALL_NET);
    nn_error err;
    ck_assert_str_eq(net->name, "small");
    ck_assert_int_eq(net->n_inputs, 1);
    assert_shape(&net->inputs[0].shape, 4, 1, 3, 11, 10);
    ck_assert_int_eq(net->n_layers, 9); /* the TRAIN-only Dropout is dropped */
    ck_assert_int_lt(caffe_net_find_layer(net, "train_only"), 0);
    const caffe_layer *conv = layer_named(net, "conv");
    ck_assert_int_eq(conv->type, CAFFE_LAYER_CONVOLUTION);
    ck_assert_int_eq(conv->conv.num_output, 4);
    ck_assert_int_eq(conv->conv.kernel_h, 3);
    ck_assert_int_eq(conv->conv.stride_w, 2);
    ck_assert_int_eq(conv->conv.pad_h, 1);
    ck_assert(conv->conv.bias_term);
    ck_assert_int_eq(conv->line, 4);
    ck_assert(fabsf(layer_named(net, "relu")->relu.negative_slope - 0.1f) < 1e-7f);
    const caffe_layer *pool = layer_named(net, "pool");
    ck_assert_int_eq(pool->pool.pool, CAFFE_POOL_AVE);
    ck_assert(pool->pool.ceil_mode);
    ck_assert_int_eq(layer_named(net, "sum")->eltwise.operation, CAFFE_ELTWISE_MAX);

    ck_assert_msg(caffe_net_infer_shapes(net, &err) == NN_OK, "%s", err.msg);
    /* conv: (11+2-3)/2+1 = 6, (10+2-3)/2+1 = 5 */
    assert_shape(&conv->top_shapes[0], 4, 1, 4, 6, 5);
    /* pool k2 s2 p1, ceil: h ceil((6+2-2)/2)+1 = 4, (4-1)*2 = 6 < 6+1 keeps 4;
     * w ceil((5+2-2)/2)+1 = 4, (4-1)*2 = 6 >= 5+1 so 3 */
    assert_shape(&pool->top_shapes[0], 4, 1, 4, 4, 3);
    caffe_shape flat = layer_named(net, "flat")->top_shapes[0];
    ck_assert_int_eq(flat.ndim, 2);
    ck_assert_int_eq(flat.dim[1], 48);
    assert_shape(&layer_named(net, "rs")->top_shapes[0], 3, 1, 24, 2, 0);
    assert_shape(&layer_named(net, "perm")->top_shapes[0], 4, 1, 4, 4, 3); /* 0,2 then 1,3 */
    assert_shape(&layer_named(net, "cat")->top_shapes[0], 4, 1, 8, 4, 3);
    assert_shape(&layer_named(net, "sum")->top_shapes[0], 4, 1, 8, 4, 3);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(caffe_net_print_summary(net, f, &err), NN_OK);
    fclose(f);
    ck_assert_msg(strstr(buf, "1x3x11x10 -> 1x4x6x5") != NULL, "%s", buf);
    free(buf);
    caffe_net_free(net);
}
END_TEST

START_TEST(pool_floor_and_global) {
    caffe_net *net = parse_ok(
        "input: \"d\" input_shape { dim: 2 dim: 5 dim: 7 dim: 9 }\n"
        "layer { name: \"p1\" type: \"Pooling\" bottom: \"d\" top: \"p1\" pooling_param { kernel_size: 2 stride: 2 } }\n"
        "layer { name: \"p2\" type: \"Pooling\" bottom: \"d\" top: \"p2\" pooling_param { kernel_size: 2 stride: 2 round_mode: FLOOR } }\n"
        "layer { name: \"p3\" type: \"Pooling\" bottom: \"d\" top: \"p3\" pooling_param { global_pooling: true pool: AVE } }\n"
        "layer { name: \"c\" type: \"Convolution\" bottom: \"d\" top: \"c\"\n"
        "  convolution_param { num_output: 5 group: 5 kernel_h: 3 kernel_w: 1 pad_h: 2 dilation: 2 bias_term: false } }\n");
    nn_error err;
    ck_assert_msg(caffe_net_infer_shapes(net, &err) == NN_OK, "%s", err.msg);
    assert_shape(&layer_named(net, "p1")->top_shapes[0], 4, 2, 5, 4, 5); /* ceil(5/2)+1, ceil(7/2)+1 */
    assert_shape(&layer_named(net, "p2")->top_shapes[0], 4, 2, 5, 3, 4);
    assert_shape(&layer_named(net, "p3")->top_shapes[0], 4, 2, 5, 1, 1);
    /* h: (7 + 4 - 5)/1 + 1 = 7, w: 9 */
    const caffe_layer *c = layer_named(net, "c");
    assert_shape(&c->top_shapes[0], 4, 2, 5, 7, 9);
    caffe_shape blobs[CAFFE_MAX_BLOBS];
    ck_assert_int_eq(caffe_layer_blob_shapes(c, blobs), 1); /* no bias */
    assert_shape(&blobs[0], 4, 5, 1, 3, 1);
    caffe_net_free(net);
}
END_TEST

/* Expects caffe_net_parse (and, if parse_ok_then_shapes, shape inference) to
 * fail with every needle in the message. */
static void expect_net_error(const char *text, bool at_shapes, const char *n1, const char *n2,
                             const char *n3) {
    nn_error err = {0};
    caffe_net *net = NULL;
    nn_status st = caffe_net_parse(text, strlen(text), "net.prototxt", &net, &err);
    if (at_shapes) {
        ck_assert_msg(st == NN_OK, "%s", err.msg);
        st = caffe_net_infer_shapes(net, &err);
        caffe_net_free(net);
    } else {
        ck_assert_ptr_null(net);
    }
    ck_assert_int_ne(st, NN_OK);
    const char *needles[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        ck_assert_msg(!needles[i] || strstr(err.msg, needles[i]), "message '%s' lacks '%s'", err.msg,
                      needles[i]);
}

START_TEST(unknown_layers_and_params) {
    const char *head = "input: \"d\"\ninput_dim: 1 input_dim: 2 input_dim: 8 input_dim: 8\n";
    char text[1024];
    snprintf(text, sizeof text, "%slayer {\n name: \"odd\"\n type: \"Foo\"\n}\n", head);
    expect_net_error(text, false, "net.prototxt:5:", "layer 'odd'", "unknown layer type 'Foo'");
    snprintf(text, sizeof text,
             "%slayer { name: \"c1\" type: \"Convolution\" bottom: \"d\" top: \"c1\"\n"
             "  convolution_param {\n    num_output: 2\n    kernal_size: 3\n  }\n}\n", head);
    expect_net_error(text, false, "net.prototxt:6:5:", "layer 'c1'", "unknown parameter 'kernal_size'");
    snprintf(text, sizeof text,
             "%slayer { name: \"r\" type: \"ReLU\" bottom: \"d\" top: \"r\"\n  pooling_param { pool: MAX } }\n", head);
    expect_net_error(text, false, ":4:3:", "layer 'r'", "unknown parameter 'pooling_param' for a ReLU");
    snprintf(text, sizeof text,
             "%slayer { name: \"p\" type: \"Pooling\" bottom: \"d\" top: \"p\"\n  pooling_param { pool: STOCHASTIC kernel_size: 2 } }\n", head);
    expect_net_error(text, false, "layer 'p'", "STOCHASTIC", NULL);
    snprintf(text, sizeof text,
             "%slayer { name: \"c\" type: \"Convolution\" bottom: \"d\" top: \"c\"\n"
             "  convolution_param { num_output: 2 num_output: 3 kernel_size: 1 } }\n", head);
    expect_net_error(text, false, "layer 'c'", "more than once", NULL);
    snprintf(text, sizeof text,
             "%slayer { name: \"c\" type: \"Convolution\" bottom: \"d\" top: \"c\"\n"
             "  convolution_param { num_output: 2.5 kernel_size: 1 } }\n", head);
    expect_net_error(text, false, "layer 'c'", "integer", NULL);
    snprintf(text, sizeof text, "%slayer { name: \"x\" type: \"ReLU\" bogus: 1 }\n", head);
    expect_net_error(text, false, ":3:", "unknown parameter 'bogus'", NULL);
    expect_net_error("layers { name: \"x\" }\n", false, ":1:1:", "V1", NULL);
    expect_net_error("wat: 1\n", false, ":1:1:", "unknown parameter 'wat'", NULL);
    /* errors found by shape inference name the layer and its line */
    snprintf(text, sizeof text,
             "%slayer { name: \"c\" type: \"Convolution\" bottom: \"d\" top: \"c\"\n"
             "  convolution_param { num_output: 4 group: 4 kernel_size: 1 } }\n", head);
    expect_net_error(text, true, "net.prototxt:3:", "layer 'c'", "group 4 does not divide 2");
    snprintf(text, sizeof text, "%slayer { name: \"r\" type: \"ReLU\" bottom: \"nothing\" top: \"r\" }\n", head);
    expect_net_error(text, true, "layer 'r'", "'nothing' is not produced", NULL);
    snprintf(text, sizeof text,
             "%slayer { name: \"p\" type: \"Pooling\" bottom: \"d\" top: \"p\" pooling_param { kernel_size: 2 stride: 2 } }\n"
             "layer { name: \"cat\" type: \"Concat\" bottom: \"d\" bottom: \"p\" top: \"cat\" }\n", head);
    expect_net_error(text, true, "layer 'cat'", "1x2x4x4", "1x2x8x8");
    /* huge numbers are refused, not overflowed */
    snprintf(text, sizeof text,
             "%slayer { name: \"c\" type: \"Convolution\" bottom: \"d\" top: \"c\"\n"
             "  convolution_param { num_output: 4 kernel_size: 3 pad: 2000000000 } }\n", head);
    expect_net_error(text, false, "layer 'c'", "over the limit", NULL);
    snprintf(text, sizeof text,
             "%slayer { name: \"c\" type: \"Convolution\" bottom: \"d\" top: \"c\"\n"
             "  convolution_param { num_output: 4 kernel_size: 3 dilation: 4000 } }\n", head);
    expect_net_error(text, true, "layer 'c'", "smaller than the kernel", NULL);
    expect_net_error("input: \"d\" input_shape { dim: 1 dim: 3 dim: 2000000000 dim: 2000000000 }\n", true,
                     "input 'd'", "too large", NULL);
    expect_net_error("input: \"d\" input_shape { dim: 1 dim: 0 dim: 2 }\n", true, "input 'd'", "empty", NULL);
    snprintf(text, sizeof text,
             "%slayer { name: \"rs\" type: \"Reshape\" bottom: \"d\" top: \"rs\" reshape_param { shape { dim: 2000000000 dim: 2000000000 dim: 2000000000 } } }\n", head);
    expect_net_error(text, true, "layer 'rs'", "cannot reshape", NULL);
    snprintf(text, sizeof text,
             "%slayer { name: \"rs\" type: \"Reshape\" bottom: \"d\" top: \"rs\" reshape_param { shape { dim: 5 dim: -1 } } }\n", head);
    expect_net_error(text, true, "layer 'rs'", "cannot reshape", NULL);
}
END_TEST

/* --------------------------------------------------- hand-made caffemodels */

/* NetParameter: conv (2x1x3x3 weights packed, 2 biases unpacked), relu, and an
 * extra layer with blobs that the net does not have. */
static void tiny_model(pbw *w, float *weights, float *bias) {
    *w = (pbw){0};
    for (int i = 0; i < 18; i++) weights[i] = 0.25f * (float)i - 2.0f;
    bias[0] = 0.5f, bias[1] = -1.5f;
    pbw_str(w, 1, "tiny");
    pbw conv = {0}, relu = {0}, extra = {0};
    pbw_str(&conv, 1, "conv");
    pbw_str(&conv, 2, "Convolution");
    pbw_str(&conv, 3, "data"); /* bottom: skipped by the reader */
    int wd[4] = {2, 1, 3, 3}, bd[1] = {2};
    pbw_blob(&conv, 7, 4, wd, false, weights, 18, PBW_VALUES_PACKED);
    pbw_blob(&conv, 7, 1, bd, false, bias, 2, PBW_VALUES_UNPACKED);
    pbw_msg(w, 100, &conv);
    pbw_str(&relu, 1, "relu");
    pbw_str(&relu, 2, "ReLU");
    pbw_msg(w, 100, &relu);
    pbw_str(&extra, 1, "unused");
    pbw_str(&extra, 2, "Scale");
    pbw_blob(&extra, 7, 1, bd, false, bias, 2, PBW_VALUES_PACKED);
    pbw_msg(w, 100, &extra);
}

static const char *TINY_NET =
    "input: \"data\" input_shape { dim: 1 dim: 1 dim: 5 dim: 5 }\n"
    "layer { name: \"conv\" type: \"Convolution\" bottom: \"data\" top: \"conv\"\n"
    "  convolution_param { num_output: %d kernel_size: 3 } }\n"
    "layer { name: \"relu\" type: \"ReLU\" bottom: \"conv\" top: \"conv\" }\n";

static char *write_temp(const void *data, size_t len) {
    char *path = strdup("/tmp/test_caffe_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

START_TEST(tiny_caffemodel_roundtrip) {
    pbw w;
    float weights[18], bias[2];
    tiny_model(&w, weights, bias);
    char *path = write_temp(w.data, w.len);
    pbw_free(&w);
    nn_error err;
    caffe_model *m;
    ck_assert_msg(caffe_model_load(path, &m, &err) == NN_OK, "%s", err.msg);
    unlink(path);
    free(path);
    ck_assert_str_eq(m->name, "tiny");
    ck_assert_int_eq(m->n_layers, 3);
    const caffe_model_layer *conv = caffe_model_find(m, "conv");
    ck_assert_ptr_nonnull(conv);
    ck_assert_str_eq(conv->type, "Convolution");
    ck_assert_int_eq(conv->n_blobs, 2);
    assert_shape(&conv->blobs[0].shape, 4, 2, 1, 3, 3);
    ck_assert_uint_eq(conv->blobs[0].count, 18);
    ck_assert(memcmp(conv->blobs[0].data, weights, sizeof weights) == 0);
    ck_assert(memcmp(conv->blobs[1].data, bias, sizeof bias) == 0);
    ck_assert_int_eq(caffe_model_find(m, "relu")->n_blobs, 0);

    char text[512];
    snprintf(text, sizeof text, TINY_NET, 2);
    caffe_net *net = parse_ok(text);
    ck_assert_msg(caffe_net_attach_weights(net, m, &err) == NN_OK, "%s", err.msg);
    caffe_model_free(m); /* the net keeps its own copies */
    const caffe_layer *L = layer_named(net, "conv");
    ck_assert_int_eq(L->n_blobs, 2);
    ck_assert(L->blobs[0].data[17] == weights[17]);
    ck_assert(L->blobs[1].data[1] == -1.5f);
    assert_shape(&L->top_shapes[0], 4, 1, 2, 3, 3);
    caffe_net_free(net);
}
END_TEST

START_TEST(blob_size_mismatch) {
    pbw w;
    float weights[18], bias[2];
    tiny_model(&w, weights, bias);
    nn_error err;
    caffe_model *m;
    ck_assert_int_eq(caffe_model_parse(w.data, w.len, &m, &err), NN_OK);
    pbw_free(&w);
    char text[512];
    snprintf(text, sizeof text, TINY_NET, 4); /* needs 4x1x3x3 = 36 weights */
    caffe_net *net = parse_ok(text);
    ck_assert_int_eq(caffe_net_attach_weights(net, m, &err), NN_ERR_SHAPE);
    ck_assert_msg(strstr(err.msg, "layer 'conv' blob 0") && strstr(err.msg, "18") &&
                      strstr(err.msg, "36") && strstr(err.msg, "4x1x3x3"),
                  "%s", err.msg);
    caffe_net_free(net);
    /* a layer whose weights are missing from the model */
    net = parse_ok("input: \"data\" input_shape { dim: 1 dim: 1 dim: 5 dim: 5 }\n"
                   "layer { name: \"other\" type: \"Convolution\" bottom: \"data\" top: \"o\"\n"
                   "  convolution_param { num_output: 2 kernel_size: 3 } }\n");
    ck_assert_int_eq(caffe_net_attach_weights(net, m, &err), NN_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "'other'"));
    caffe_net_free(net);
    /* too few blobs: bias_term true but the model has a Scale with 1 blob only */
    net = parse_ok("input: \"data\" input_shape { dim: 1 dim: 2 dim: 5 dim: 5 }\n"
                   "layer { name: \"unused\" type: \"Scale\" bottom: \"data\" top: \"s\" scale_param { bias_term: true } }\n");
    ck_assert_int_eq(caffe_net_attach_weights(net, m, &err), NN_ERR_SHAPE);
    ck_assert_msg(strstr(err.msg, "has 1 blobs, layer needs 2") != NULL, "%s", err.msg);
    caffe_net_free(net);
    caffe_model_free(m);
}
END_TEST

START_TEST(v1_layers_legacy_shape_and_doubles) {
    pbw w = {0}, layer = {0};
    pbw_str(&layer, 4, "fc");                                     /* V1: name is field 4 */
    pbw_key(&layer, 5, PBW_VARINT), pbw_varint(&layer, 14);       /* type INNER_PRODUCT */
    int dims[4] = {1, 1, 2, 3};                                   /* num, channels, height, width */
    float vals[6] = {1.5f, -2, 0.125f, 4, 5, -6.75f};
    pbw_blob(&layer, 6, 4, dims, true, vals, 6, PBW_VALUES_DOUBLE); /* packed double_data */
    pbw_msg(&w, 2, &layer);
    nn_error err;
    caffe_model *m;
    ck_assert_msg(caffe_model_parse(w.data, w.len, &m, &err) == NN_OK, "%s", err.msg);
    pbw_free(&w);
    ck_assert_int_eq(m->n_layers, 1);
    ck_assert_str_eq(m->layers[0].type, "InnerProduct");
    assert_shape(&m->layers[0].blobs[0].shape, 4, 1, 1, 2, 3);
    for (int i = 0; i < 6; i++) ck_assert(m->layers[0].blobs[0].data[i] == vals[i]);
    caffe_model_free(m);
}
END_TEST

START_TEST(blob_shape_and_data_disagree) {
    pbw w = {0}, layer = {0};
    int dims[2] = {3, 3};
    float v[8] = {0};
    pbw_str(&layer, 1, "conv");
    pbw_str(&layer, 2, "Convolution");
    pbw_blob(&layer, 7, 2, dims, false, v, 8, PBW_VALUES_PACKED); /* shape says 9, data has 8 */
    pbw_msg(&w, 100, &layer);
    nn_error err;
    caffe_model *m;
    ck_assert_int_eq(caffe_model_parse(w.data, w.len, &m, &err), NN_ERR_FORMAT);
    pbw_free(&w);
    ck_assert_msg(strstr(err.msg, "layer 'conv' blob 0") && strstr(err.msg, "needs 9 values, has 8"),
                  "%s", err.msg);
}
END_TEST

START_TEST(truncated_caffemodel) {
    pbw w;
    float weights[18], bias[2];
    tiny_model(&w, weights, bias);
    /* Every prefix either parses (it ends between top-level fields) or fails
     * with an error; none may read past the end (ASan checks that). */
    int ok = 0;
    for (size_t len = 0; len < w.len; len++) {
        uint8_t *buf = malloc(len ? len : 1);
        memcpy(buf, w.data, len);
        nn_error err = {0};
        caffe_model *m = NULL;
        nn_status st = caffe_model_parse(buf, len, &m, &err);
        free(buf);
        if (st == NN_OK) {
            ok++;
            caffe_model_free(m);
        } else {
            ck_assert_ptr_null(m);
            ck_assert_msg(strstr(err.msg, "caffemodel") != NULL, "%s", err.msg);
        }
    }
    /* the only clean cut points: empty, after the name, after each layer */
    ck_assert_int_eq(ok, 4);
    /* the file loader reports the path */
    char *path = write_temp(w.data, w.len - 3);
    nn_error err;
    caffe_model *m;
    ck_assert_int_eq(caffe_model_load(path, &m, &err), NN_ERR_TRUNCATED);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "remain"), "%s", err.msg);
    unlink(path);
    free(path);
    pbw_free(&w);
}
END_TEST

START_TEST(corrupted_caffemodel) {
    pbw w;
    float weights[18], bias[2];
    tiny_model(&w, weights, bias);
    /* Each byte set to a few hostile values: never a crash, leak or over-read. */
    const uint8_t values[] = {0x00, 0x7f, 0x80, 0xff, 0x0b};
    int failures = 0;
    for (size_t pos = 0; pos < w.len; pos++)
        for (size_t k = 0; k < sizeof values; k++) {
            uint8_t *buf = malloc(w.len);
            memcpy(buf, w.data, w.len);
            buf[pos] = values[k];
            nn_error err = {0};
            caffe_model *m = NULL;
            if (caffe_model_parse(buf, w.len, &m, &err) == NN_OK) caffe_model_free(m);
            else failures++;
            free(buf);
        }
    pbw_free(&w);
    ck_assert_int_gt(failures, 0);
}
END_TEST

START_TEST(missing_file) {
    nn_error err;
    caffe_net *net;
    caffe_model *m;
    ck_assert_int_eq(caffe_net_load("/nonexistent/x.prototxt", &net, &err), NN_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.prototxt"));
    ck_assert_int_eq(caffe_model_load("/nonexistent/x.caffemodel", &m, &err), NN_ERR_NOT_FOUND);
}
END_TEST

/* --------------------------------------------------------- real models */

typedef struct {
    const char *dir, *prototxt, *caffemodel;
    int net_layers, model_layers, blobs;
} model_case;

static const model_case MODELS[] = {
    {"opencv_res10_ssd", "deploy.prototxt", "res10_300x300_ssd_from_uint8.caffemodel", 112, 53, 104},
    {"aizoo_face_mask_ssd", "face_mask_detection.prototxt", "face_mask_detection.caffemodel", 79, 85, 56},
    {"ultraface_rfb320", "RFB-320.prototxt", "RFB-320.caffemodel", 111, 116, 104},
};

/* Loads model i with weights; NULL (test skipped) when /work/shared is absent. */
static caffe_net *load_model(int i) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        fprintf(stderr, "test_caffe: shared data not found; skipping real-model check %s\n", MODELS[i].dir);
        return NULL;
    }
    char proto[1024], weights[1024];
    snprintf(proto, sizeof proto, "%s/models/%s/%s", shared, MODELS[i].dir, MODELS[i].prototxt);
    snprintf(weights, sizeof weights, "%s/models/%s/%s", shared, MODELS[i].dir, MODELS[i].caffemodel);
    if (access(proto, R_OK) || access(weights, R_OK)) {
        fprintf(stderr, "test_caffe: %s not found; skipping\n", MODELS[i].dir);
        return NULL;
    }
    nn_error err;
    caffe_net *net;
    caffe_model *m;
    ck_assert_msg(caffe_net_load(proto, &net, &err) == NN_OK, "%s", err.msg);
    ck_assert_msg(caffe_model_load(weights, &m, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(net->n_layers, MODELS[i].net_layers);
    ck_assert_int_eq(m->n_layers, MODELS[i].model_layers);
    ck_assert_msg(caffe_net_attach_weights(net, m, &err) == NN_OK, "%s", err.msg);
    caffe_model_free(m);
    int blobs = 0;
    for (int l = 0; l < net->n_layers; l++) blobs += net->layers[l].n_blobs;
    ck_assert_int_eq(blobs, MODELS[i].blobs);
    return net;
}

static const caffe_layer *blobs_of(const caffe_net *net, const char *name, int n_blobs) {
    const caffe_layer *L = layer_named(net, name);
    ck_assert_int_eq(L->n_blobs, n_blobs);
    return L;
}

/* Sum of a blob in double, for comparison with tests/fixtures/caffe_blob_sums.py. */
static double blob_sum(const caffe_blob *b) {
    double s = 0;
    for (size_t i = 0; i < b->count; i++) s += b->data[i];
    return s;
}

START_TEST(real_res10) {
    caffe_net *net = load_model(0);
    if (!net) return;
    /* the README: conv1_h 7x7 s2 p3 32 channels; 300 -> 150 -> 75 (ceil pool) */
    const caffe_layer *c1 = blobs_of(net, "conv1_h", 2);
    assert_shape(&c1->blobs[0].shape, 4, 32, 3, 7, 7);
    assert_shape(&c1->top_shapes[0], 4, 1, 32, 150, 150);
    assert_shape(&layer_named(net, "conv1_pool")->top_shapes[0], 4, 1, 32, 75, 75);
    assert_shape(&layer_named(net, "layer_128_1_conv1_h")->top_shapes[0], 4, 1, 128, 38, 38);
    assert_shape(&layer_named(net, "layer_512_1_conv2_h")->top_shapes[0], 4, 1, 256, 19, 19);
    ck_assert_int_eq(layer_named(net, "layer_512_1_conv2_h")->conv.dilation_h, 2);
    assert_shape(&layer_named(net, "conv6_2_h")->top_shapes[0], 4, 1, 256, 10, 10);
    assert_shape(&layer_named(net, "conv7_2_h")->top_shapes[0], 4, 1, 128, 5, 5);
    assert_shape(&layer_named(net, "conv8_2_h")->top_shapes[0], 4, 1, 128, 5, 5);
    assert_shape(&layer_named(net, "conv9_2_h")->top_shapes[0], 4, 1, 128, 5, 5);
    /* the resnet convs have no bias; BN has mean, var, factor; Normalize 128 scales */
    blobs_of(net, "layer_64_1_conv1_h", 1);
    const caffe_layer *bn = blobs_of(net, "data_bn", 3);
    assert_shape(&bn->blobs[2].shape, 1, 1, 0, 0, 0);
    const caffe_layer *norm = blobs_of(net, "conv4_3_norm", 1);
    ck_assert(!norm->norm.across_spatial && !norm->norm.channel_shared);
    ck_assert(norm->norm.scale_value == 20.0f);
    ck_assert_uint_eq(norm->blobs[0].count, 128);
    /* heads: 4 and 6 priors per location -> 8892 priors in all */
    const caffe_layer *pb = layer_named(net, "fc7_mbox_priorbox");
    ck_assert_int_eq(pb->prior.n_aspect_ratios, 2);
    ck_assert(pb->prior.step_w == 16.0f && pb->prior.max_sizes[0] == 111.0f);
    assert_shape(&layer_named(net, "mbox_priorbox")->top_shapes[0], 3, 1, 2, 8892 * 4, 0);
    assert_shape(&layer_named(net, "mbox_conf_softmax")->top_shapes[0], 3, 1, 8892, 2, 0);
    const caffe_layer *det = layer_named(net, "detection_out");
    ck_assert_int_eq(det->detection.num_classes, 2);
    ck_assert_int_eq(det->detection.code_type, SSD_CODE_CENTER_SIZE);
    ck_assert(fabsf(det->detection.nms_threshold - 0.45f) < 1e-7f);
    ck_assert_int_eq(det->detection.top_k, 400);
    ck_assert_int_eq(det->detection.keep_top_k, 200);
    ck_assert(fabsf(det->detection.confidence_threshold - 0.2f) < 1e-7f);
    ck_assert(det->detection.clip && det->detection.share_location);
    assert_shape(&det->top_shapes[0], 4, 1, 1, 200, 7);
    /* values against an independent Python decoder (tests/fixtures/caffe_blob_sums.py) */
    ck_assert(fabs(blob_sum(&c1->blobs[0]) - (-10.78852321)) < 1e-4);
    ck_assert(fabs(blob_sum(&norm->blobs[0]) - 77.74987814) < 1e-4);
    caffe_net_free(net);
}
END_TEST

START_TEST(real_aizoo) {
    caffe_net *net = load_model(1);
    if (!net) return;
    /* 260 -> 130 -> 65 -> 33 -> 17 -> 9 -> 5 -> 3 with ceil pooling */
    assert_shape(&layer_named(net, "maxpool2d_2")->top_shapes[0], 4, 1, 64, 33, 33);
    assert_shape(&layer_named(net, "maxpool2d_5")->top_shapes[0], 4, 1, 128, 5, 5);
    assert_shape(&layer_named(net, "conv2d_7")->top_shapes[0], 4, 1, 64, 3, 3);
    assert_shape(&blobs_of(net, "cls_1_insert_conv2d", 2)->blobs[0].shape, 4, 64, 128, 3, 3);
    assert_shape(&blobs_of(net, "loc_4_conv", 2)->blobs[0].shape, 4, 16, 64, 3, 3);
    assert_shape(&layer_named(net, "loc_branch_concat")->top_shapes[0], 3, 1, 5972, 4, 0);
    assert_shape(&layer_named(net, "cls_branch_concat")->top_shapes[0], 3, 1, 5972, 2, 0);
    ck_assert_int_eq(layer_named(net, "cls_0_activation")->type, CAFFE_LAYER_SIGMOID);
    ck_assert(fabs(blob_sum(&layer_named(net, "conv2d_0")->blobs[1]) - (-6.39852844)) < 1e-4);
    caffe_net_free(net);
}
END_TEST

START_TEST(real_ultraface) {
    caffe_net *net = load_model(2);
    if (!net) return;
    const caffe_layer *in = layer_named(net, "input");
    ck_assert_int_eq(in->type, CAFFE_LAYER_INPUT);
    assert_shape(&in->top_shapes[0], 4, 1, 3, 240, 320);
    const caffe_layer *dw = blobs_of(net, "248", 2); /* depthwise: group 16 */
    ck_assert_int_eq(dw->conv.group, 16);
    assert_shape(&dw->blobs[0].shape, 4, 16, 1, 3, 3);
    /* RFB branches: dilations 2, 3, 5 */
    ck_assert_int_eq(layer_named(net, "289")->conv.dilation_h, 2);
    ck_assert_int_eq(layer_named(net, "313")->eltwise.operation, CAFFE_ELTWISE_SUM);
    assert_shape(&layer_named(net, "boxes")->top_shapes[0], 3, 1, 4420, 4, 0);
    assert_shape(&layer_named(net, "scores")->top_shapes[0], 3, 1, 4420, 2, 0);
    /* the four heads: 40x30, 20x15, 10x8, 5x4 */
    assert_shape(&layer_named(net, "317")->top_shapes[0], 4, 1, 6, 30, 40);
    assert_shape(&layer_named(net, "363")->top_shapes[0], 4, 1, 4, 15, 20);
    assert_shape(&layer_named(net, "403")->top_shapes[0], 4, 1, 4, 8, 10);
    assert_shape(&layer_named(net, "435")->top_shapes[0], 4, 1, 6, 4, 5);
    ck_assert(fabs(blob_sum(&layer_named(net, "245")->blobs[0]) - (-0.08113475)) < 1e-4);
    caffe_net_free(net);
}
END_TEST

Suite *caffe_suite(void) {
    Suite *s = suite_create("caffe");
    TCase *tc = tcase_create("prototxt");
    tcase_add_test(tc, tree_forms);
    tcase_add_test(tc, syntax_errors_with_line_numbers);
    tcase_add_test(tc, nesting_limit);
    tcase_add_test(tc, typed_params_and_shapes);
    tcase_add_test(tc, pool_floor_and_global);
    tcase_add_test(tc, unknown_layers_and_params);
    suite_add_tcase(s, tc);
    tc = tcase_create("caffemodel");
    tcase_add_test(tc, tiny_caffemodel_roundtrip);
    tcase_add_test(tc, blob_size_mismatch);
    tcase_add_test(tc, v1_layers_legacy_shape_and_doubles);
    tcase_add_test(tc, blob_shape_and_data_disagree);
    tcase_add_test(tc, truncated_caffemodel);
    tcase_add_test(tc, corrupted_caffemodel);
    tcase_add_test(tc, missing_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("real_models");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, real_res10);
    tcase_add_test(tc, real_aizoo);
    tcase_add_test(tc, real_ultraface);
    suite_add_tcase(s, tc);
    return s;
}
