/*
 * test_input_limits.c - the size limits the readers of hostile input check
 * before allocating, and the inputs that used to be slow for their size
 * (quadratic loops over layers, fields or blob names). Each over-limit input
 * must be refused with a message that names the limit; each input at the
 * limit must still be read.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caffe.h"
#include "fuzz_targets.h"
#include "image.h"
#include "testutil.h"
#include "xml.h"

/* A growable text buffer for generated inputs. */
typedef struct {
    char *data;
    size_t len, cap;
} text_buf;

static void tb_printf(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(text_buf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(n, 0);
        if (b->data && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->data = realloc(b->data, b->cap);
        ck_assert_ptr_nonnull(b->data);
    }
}

/* A net of n ReLU layers all reading "data", each writing its own top. */
static text_buf relu_net(int n_layers) {
    text_buf b = {0};
    tb_printf(&b, "input: \"data\" input_shape { dim: 1 dim: 2 dim: 3 dim: 4 }\n");
    for (int i = 0; i < n_layers; i++)
        tb_printf(&b, "layer { name: \"l%d\" type: \"ReLU\" bottom: \"data\" top: \"t%d\" }\n", i, i);
    return b;
}

START_TEST(prototxt_layer_limit) {
    text_buf b = relu_net(CAFFE_MAX_LAYERS + 1);
    caffe_net *net = NULL;
    nn_error err;
    ck_assert_int_ne(caffe_net_parse(b.data, b.len, "big.prototxt", &net, &err), NN_OK);
    ck_assert_ptr_null(net);
    ck_assert_msg(strstr(err.msg, "big.prototxt") && strstr(err.msg, "layers"), "%s", err.msg);
    free(b.data);
}
END_TEST

/* At the limit the net is read, and shape inference (a hash table of blob
 * names since the fuzzing work) gives every top the input's shape. Quadratic
 * code here took minutes; the test's timeout would catch it. */
START_TEST(prototxt_many_layers_read) {
    text_buf b = relu_net(CAFFE_MAX_LAYERS);
    caffe_net *net = NULL;
    nn_error err;
    ck_assert_msg(caffe_net_parse(b.data, b.len, "many.prototxt", &net, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(net->n_layers, CAFFE_MAX_LAYERS);
    ck_assert_msg(caffe_net_infer_shapes(net, &err) == NN_OK, "%s", err.msg);
    for (int i = 0; i < net->n_layers; i += 997) {
        const caffe_shape *s = &net->layers[i].top_shapes[0];
        ck_assert_int_eq(s->ndim, 4);
        ck_assert(s->dim[0] == 1 && s->dim[1] == 2 && s->dim[2] == 3 && s->dim[3] == 4);
    }
    caffe_net_free(net);
    free(b.data);
}
END_TEST

/* Blob names rebound by in-place layers, and names that collide in a small
 * hash table, resolve to the right shapes. */
START_TEST(prototxt_blob_names_resolve) {
    text_buf b = {0};
    tb_printf(&b, "input: \"data\" input_shape { dim: 1 dim: 8 dim: 9 dim: 9 }\n");
    for (int i = 0; i < 300; i++) /* conv i halves nothing; its channels are i % 7 + 1 */
        tb_printf(&b, "layer { name: \"c%d\" type: \"Convolution\" bottom: \"data\" top: \"b%d\"\n"
                      "  convolution_param { num_output: %d kernel_size: 1 } }\n",
                  i, i, i % 7 + 1);
    tb_printf(&b, "layer { name: \"p\" type: \"Pooling\" bottom: \"b123\" top: \"b123\"\n"
                  "  pooling_param { pool: MAX kernel_size: 3 stride: 3 } }\n");
    tb_printf(&b, "layer { name: \"r\" type: \"ReLU\" bottom: \"b123\" top: \"last\" }\n");
    caffe_net *net = NULL;
    nn_error err;
    ck_assert_msg(caffe_net_parse(b.data, b.len, "names.prototxt", &net, &err) == NN_OK, "%s", err.msg);
    ck_assert_msg(caffe_net_infer_shapes(net, &err) == NN_OK, "%s", err.msg);
    for (int i = 0; i < 300; i++) ck_assert_int_eq(net->layers[i].top_shapes[0].dim[1], i % 7 + 1);
    const caffe_shape *last = &net->layers[301].top_shapes[0];
    /* b123 rebound by the pooling: 123 % 7 + 1 = 5 channels, 9 / 3 = 3 pixels */
    ck_assert(last->dim[1] == 5 && last->dim[2] == 3 && last->dim[3] == 3);
    caffe_net_free(net);
    free(b.data);
}
END_TEST

START_TEST(prototxt_field_limit) {
    text_buf b = {0};
    for (int i = 0; i <= CAFFE_PT_MAX_FIELDS; i++) tb_printf(&b, "a:1\n");
    caffe_pt_msg *m = NULL;
    nn_error err;
    ck_assert_int_eq(caffe_pt_parse(b.data, b.len, "fields.prototxt", &m, &err), NN_ERR_LIMIT);
    ck_assert_ptr_null(m);
    char where[64];
    snprintf(where, sizeof where, "fields.prototxt:%d:1:", CAFFE_PT_MAX_FIELDS + 1);
    ck_assert_msg(strstr(err.msg, where) && strstr(err.msg, "fields"), "%s", err.msg);
    /* one fewer is fine */
    ck_assert_msg(caffe_pt_parse(b.data, b.len - 4, "fields.prototxt", &m, &err) == NN_OK, "%s",
                  err.msg);
    ck_assert_int_eq(m->count, CAFFE_PT_MAX_FIELDS);
    caffe_pt_free(m);
    free(b.data);
}
END_TEST

/* Without the limit (and a one-pass loop over the layers), a net with many
 * unrelated top-level fields made the layer loop quadratic. */
START_TEST(prototxt_many_top_level_fields) {
    text_buf b = relu_net(2000);
    for (int i = 0; i < 200000; i++) tb_printf(&b, "debug_info: false\n");
    caffe_net *net = NULL;
    nn_error err;
    ck_assert_msg(caffe_net_parse(b.data, b.len, "wide.prototxt", &net, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(net->n_layers, 2000);
    caffe_net_free(net);
    free(b.data);
}
END_TEST

START_TEST(xml_node_limit) {
    text_buf b = {0};
    tb_printf(&b, "<annotation>\n");
    for (int i = 0; i < XML_MAX_NODES; i++) tb_printf(&b, "<o/>");
    tb_printf(&b, "\n</annotation>\n");
    xml_node *root = NULL;
    nn_error err;
    /* the root plus XML_MAX_NODES children is one too many */
    ck_assert_int_eq(xml_parse(b.data, b.len, "nodes.xml", &root, &err), NN_ERR_LIMIT);
    ck_assert_ptr_null(root);
    ck_assert_msg(strstr(err.msg, "nodes.xml:2:") && strstr(err.msg, "elements"), "%s", err.msg);
    free(b.data);
    b = (text_buf){0};
    tb_printf(&b, "<annotation>");
    for (int i = 0; i < XML_MAX_NODES - 1; i++) tb_printf(&b, "<o/>");
    tb_printf(&b, "</annotation>");
    ck_assert_msg(xml_parse(b.data, b.len, "nodes.xml", &root, &err) == NN_OK, "%s", err.msg);
    xml_free(root);
    free(b.data);
}
END_TEST

START_TEST(xml_depth_limit) {
    text_buf b = {0};
    for (int i = 0; i < XML_MAX_DEPTH + 1; i++) tb_printf(&b, "<a>");
    for (int i = 0; i < XML_MAX_DEPTH + 1; i++) tb_printf(&b, "</a>");
    xml_node *root = NULL;
    nn_error err;
    ck_assert_int_eq(xml_parse(b.data, b.len, "deep.xml", &root, &err), NN_ERR_LIMIT);
    ck_assert_msg(strstr(err.msg, "nested too deeply"), "%s", err.msg);
    ck_assert_msg(xml_parse(b.data + 3, b.len - 7, "deep.xml", &root, &err) == NN_OK, "%s", err.msg);
    xml_free(root);
    free(b.data);
}
END_TEST

/* A JSON annotation nested far deeper than any real one is refused as
 * malformed (cJSON's nesting limit), not a stack overflow. */
START_TEST(json_nesting) {
    text_buf b = {0};
    tb_printf(&b, "{\"FileName\": \"a.png\", \"Annotations\": ");
    for (int i = 0; i < 200000; i++) tb_printf(&b, "[");
    for (int i = 0; i < 200000; i++) tb_printf(&b, "]");
    tb_printf(&b, "}");
    ck_assert_int_eq(fuzz_json((const uint8_t *)b.data, b.len), NN_ERR_FORMAT);
    fuzz_targets_cleanup();
    free(b.data);
}
END_TEST

/* Image sizes are checked from the header, before stb allocates. */
static size_t png_header(uint8_t *p, uint32_t w, uint32_t h) {
    static const uint8_t head[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                   'I', 'H', 'D', 'R'};
    memcpy(p, head, sizeof head);
    for (int i = 0; i < 4; i++) p[16 + i] = (uint8_t)(w >> (24 - 8 * i)), p[20 + i] = (uint8_t)(h >> (24 - 8 * i));
    p[24] = 8, p[25] = 2, p[26] = p[27] = p[28] = 0; /* 8-bit RGB */
    memset(p + 29, 0, 4);                            /* CRC (stb does not check it) */
    static const uint8_t iend[] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    memcpy(p + 33, iend, sizeof iend);
    return 33 + sizeof iend;
}

START_TEST(image_size_limits) {
    uint8_t png[64];
    image img;
    nn_error err;
    size_t n = png_header(png, IMAGE_MAX_SIDE + 1, 1);
    ck_assert_int_eq(image_load_memory(png, n, 3, &img, &err), NN_ERR_LIMIT);
    ck_assert_msg(strstr(err.msg, "over the limit"), "%s", err.msg);
    n = png_header(png, 16384, 16384); /* each side allowed, the product is not */
    ck_assert_int_eq(image_load_memory(png, n, 3, &img, &err), NN_ERR_LIMIT);
    n = png_header(png, 0x7FFFFFFF, 0x7FFFFFFF);
    ck_assert_int_eq(image_load_memory(png, n, 1, &img, &err), NN_ERR_LIMIT);
}
END_TEST

/* A small JPEG whose frame header declares 4135x10241 pixels is refused as
 * truncated before stb decodes 42 Mpx of zeros (each 8x8 block takes at least
 * one bit). The fuzzer's file of 1152 bytes that first showed it (a timeout)
 * also repeats its scans, which is now refused before the size is looked at.
 * The seed JPEG, sized honestly, still loads. */
START_TEST(jpeg_pixels_per_byte) {
    FILE *f = fopen("fuzz/regressions/image/jpeg_1kb_declares_42mpx_timeout.jpg", "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    image img;
    nn_error err;
    ck_assert_int_eq(image_load_memory(buf, n, 3, &img, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "two scans"), "%s", err.msg);
    f = fopen("fuzz/seeds/image/rgb.jpg", "rb");
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_msg(image_load_memory(buf, n, 3, &img, &err) == NN_OK, "%s", err.msg);
    ck_assert(img.width == 17 && img.height == 9);
    image_free(&img);
    /* the same file declaring 4135x10241 in its frame header (SOF0) */
    size_t sof = 2;
    while (sof + 4 < n && buf[sof + 1] != 0xC0) sof += 2 + ((size_t)buf[sof + 2] << 8 | buf[sof + 3]);
    ck_assert(sof + 9 < n && buf[sof] == 0xFF && buf[sof + 1] == 0xC0);
    buf[sof + 5] = 10241 >> 8, buf[sof + 6] = 10241 & 255; /* height */
    buf[sof + 7] = 4135 >> 8, buf[sof + 8] = 4135 & 255;   /* width */
    ck_assert_int_eq(image_load_memory(buf, n, 3, &img, &err), NN_ERR_TRUNCATED);
    ck_assert_msg(strstr(err.msg, "4135x10241"), "%s", err.msg);
}
END_TEST

Suite *input_limits_suite(void) {
    Suite *s = suite_create("input_limits");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, prototxt_layer_limit);
    tcase_add_test(tc, prototxt_many_layers_read);
    tcase_add_test(tc, prototxt_blob_names_resolve);
    tcase_add_test(tc, prototxt_field_limit);
    tcase_add_test(tc, prototxt_many_top_level_fields);
    tcase_add_test(tc, xml_node_limit);
    tcase_add_test(tc, xml_depth_limit);
    tcase_add_test(tc, json_nesting);
    tcase_add_test(tc, image_size_limits);
    tcase_add_test(tc, jpeg_pixels_per_byte);
    suite_add_tcase(s, tc);
    return s;
}
