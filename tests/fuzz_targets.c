/*
 * fuzz_targets.c - one entry point per reader of hostile input, shared by the
 * libFuzzer harnesses (tests/fuzz/) and the regression replay
 * (tests/test_regressions.c). See fuzz_targets.h.
 *
 * Every target calls the reader as the program does, then walks the result
 * (so a bad pointer or length in it is touched under the sanitizers) and
 * checks what the reader promises: a failure comes with its code and a
 * message; what succeeds obeys the documented bounds. A broken promise calls
 * fuzz_fail, which aborts: libFuzzer then saves the input as a crash.
 *
 * The VOC, JSON and image targets need files (annot_load reads folders,
 * imgsize_read reads a path): they write the input into a scratch folder
 * made once per process and reuse it.
 */
#include "fuzz_targets.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "annot.h"
#include "caffe.h"
#include "image.h"
#include "imgsize.h"
#include "protobuf.h"
#include "rawvideo.h"
#include "ssd.h"
#include "xml.h"

void fuzz_fail(const char *target, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz target %s: ", target);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* A failed call must say what failed: the code and a non-empty message. */
static void check_error(const char *target, const char *call, nn_status st, const nn_error *err) {
    if (st == NN_OK) return;
    if (err->code != st) fuzz_fail(target, "%s returned %d but err.code is %d", call, st, err->code);
    if (err->msg[0] == '\0') fuzz_fail(target, "%s failed (%d) without a message", call, st);
}

/* Where touch_bytes leaves its result, so the compiler cannot drop the reads. */
static volatile unsigned fuzz_sink;

/* Reads every byte, so a wrong length or pointer shows under ASan. */
static void touch_bytes(const void *p, size_t n) {
    const uint8_t *b = p;
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) sum += b[i];
    fuzz_sink += sum;
}
static void touch_floats(const float *v, size_t n) { touch_bytes(v, n * sizeof *v); }

/* ----------------------------------------------------------------- weights */

/* The zlib CRC-32, bit by bit (independent of nn/weights.c's table version). */
static uint32_t crc32_bits(const uint8_t *p, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Skips a .nnw string (u32 length, bytes, NUL) at *pos; false past end. */
static bool skip_nnw_string(const uint8_t *b, size_t end, size_t *pos) {
    if (end - *pos < 4) return false;
    uint64_t n = rd32(b + *pos);
    if (n + 1 > end - *pos - 4) return false;
    *pos += 4 + (size_t)n + 1;
    return true;
}

/*
 * Rewrites the checksums of a .nnw image in place so that a mutated file gets
 * past them: random bytes almost never carry a right CRC, and without this
 * the fuzzer would only ever test the checksum check. Walks the directory
 * the way docs/weights-format.md lays it out, as far as it is readable.
 */
static void fix_nnw_checksums(uint8_t *b, size_t len) {
    if (len < 40 || memcmp(b, "NNWF", 4) != 0) return;
    uint64_t index_bytes = rd64(b + 16);
    if (index_bytes < 40 || index_bytes > len) return;
    size_t end = (size_t)index_bytes, pos = 40;
    uint32_t n_meta = rd32(b + 8), n_tensors = rd32(b + 12);
    for (uint32_t i = 0; i < n_meta; i++)
        if (!skip_nnw_string(b, end, &pos) || !skip_nnw_string(b, end, &pos)) goto index_crc;
    for (uint32_t i = 0; i < n_tensors; i++) {
        if (!skip_nnw_string(b, end, &pos) || end - pos < 8) break;
        uint32_t ndim = rd32(b + pos + 4);
        if (ndim > 64 || end - pos < 8 + 4 * (size_t)ndim + 20) break;
        pos += 8 + 4 * (size_t)ndim;
        uint64_t offset = rd64(b + pos), bytes = rd64(b + pos + 8);
        if (offset <= len && bytes <= len - offset)
            wr32(b + pos + 16, crc32_bits(b + offset, (size_t)bytes));
        pos += 20;
    }
index_crc:;
    uint32_t crc = crc32_bits(b, 36);
    /* continue the CRC over [40, index_bytes) without a second buffer */
    crc = ~crc;
    for (size_t i = 40; i < end; i++) {
        crc ^= b[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    wr32(b + 36, ~crc);
}

static nn_status load_and_walk_weights(const uint8_t *data, size_t size) {
    nn_error err = {0};
    nn_weights *w = (nn_weights *)1;
    nn_status st = nn_weights_load_memory(data, size, &w, &err);
    check_error("weights", "nn_weights_load_memory", st, &err);
    if (st != NN_OK) {
        if (w) fuzz_fail("weights", "failed load left *out set");
        return st;
    }
    for (int i = 0; i < nn_weights_meta_count(w); i++) {
        const char *key = nn_weights_meta_key(w, i), *value = nn_weights_meta(w, key);
        if (!key || !key[0] || !value) fuzz_fail("weights", "metadata entry %d unreadable", i);
    }
    for (int i = 0; i < nn_weights_count(w); i++) {
        const nn_tensor *t = nn_weights_tensor(w, i);
        const char *name = nn_weights_name(w, i);
        if (!t || !name || nn_weights_find(w, name) != t)
            fuzz_fail("weights", "tensor %d cannot be found by its name", i);
        if (t->numel != nn_shape_numel(t->ndim, t->shape))
            fuzz_fail("weights", "tensor '%s': numel %zu disagrees with its shape", name, t->numel);
        touch_floats(t->data, t->numel);
    }
    nn_weights_free(w);
    return NN_OK;
}

/* nn_weights_load_memory as the program calls it, on the bytes as given and
 * again with their checksums made right. The status is that of the latter. */
nn_status fuzz_weights(const uint8_t *data, size_t size) {
    load_and_walk_weights(data, size);
    uint8_t *fixed = malloc(size ? size : 1);
    if (!fixed) return NN_ERR_NOMEM;
    if (size) memcpy(fixed, data, size);
    fix_nnw_checksums(fixed, size);
    nn_status st = load_and_walk_weights(fixed, size);
    free(fixed);
    return st;
}

/* ------------------------------------------------------------- prototxt */

static void walk_pt(const caffe_pt_msg *m, int depth) {
    if (depth > CAFFE_PT_MAX_DEPTH + 1) fuzz_fail("prototxt", "tree deeper than the limit");
    for (int i = 0; i < m->count; i++) {
        const caffe_pt_field *f = &m->fields[i];
        if (!f->name || !f->name[0] || f->line < 1 || f->col < 1)
            fuzz_fail("prototxt", "field %d has no name or position", i);
        if (caffe_pt_get(m, f->name, 0) == NULL || caffe_pt_count(m, f->name) < 1)
            fuzz_fail("prototxt", "field '%s' cannot be looked up", f->name);
        if (f->kind == CAFFE_PT_MESSAGE) {
            if (!f->msg) fuzz_fail("prototxt", "message field '%s' without a message", f->name);
            walk_pt(f->msg, depth + 1);
        } else if (!f->text) {
            fuzz_fail("prototxt", "scalar field '%s' without text", f->name);
        }
    }
}

/* Everything the program does with a parsed net short of running it. */
static void use_net(caffe_net *net) {
    nn_error err = {0};
    nn_status st = caffe_net_infer_shapes(net, &err);
    check_error("prototxt", "caffe_net_infer_shapes", st, &err);
    if (st != NN_OK) return;
    char summary[4096];
    FILE *out = fmemopen(summary, sizeof summary, "w");
    if (out) {
        caffe_net_print_summary(net, out, &err);
        fclose(out);
    }
    for (int i = 0; i < net->n_layers; i++) {
        const caffe_layer *L = &net->layers[i];
        caffe_shape shapes[CAFFE_MAX_BLOBS];
        int n = caffe_layer_blob_shapes(L, shapes);
        if (n < 0 || n > CAFFE_MAX_BLOBS) fuzz_fail("prototxt", "layer '%s': %d blobs", L->name, n);
        char buf[128];
        for (int k = 0; k < L->n_tops; k++) caffe_shape_str(&L->top_shapes[k], buf, sizeof buf);
        if (L->type == CAFFE_LAYER_DETECTION_OUTPUT) caffe_detection_params(&L->detection, 300, 300);
        if ((L->type == CAFFE_LAYER_PRIORBOX || L->type == CAFFE_LAYER_CONCAT) && L->n_tops > 0) {
            ssd_priors priors;
            ssd_priors_init(&priors);
            st = caffe_net_priors(net, L->tops[0], &priors, &err);
            check_error("prototxt", "caffe_net_priors", st, &err);
            ssd_priors_free(&priors);
        }
    }
}

nn_status fuzz_prototxt(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    nn_error err = {0};
    caffe_pt_msg *tree = NULL;
    nn_status st = caffe_pt_parse(text, size, "fuzz.prototxt", &tree, &err);
    check_error("prototxt", "caffe_pt_parse", st, &err);
    if (st == NN_OK) {
        walk_pt(tree, 0);
        caffe_pt_free(tree);
    }
    caffe_net *net = NULL;
    st = caffe_net_parse(text, size, "fuzz.prototxt", &net, &err);
    check_error("prototxt", "caffe_net_parse", st, &err);
    if (st != NN_OK) return st;
    for (int i = 0; i < net->n_layers; i++) {
        const caffe_layer *L = &net->layers[i];
        if (caffe_net_find_layer(net, L->name) < 0)
            fuzz_fail("prototxt", "layer %d '%s' cannot be found by name", i, L->name);
        caffe_layer_type_name(L->type);
    }
    use_net(net);
    caffe_net_free(net);
    return NN_OK;
}

/* ----------------------------------------------------------- caffemodel */

/* Layers of each kind that take weights, with small shapes. */
const char fuzz_attach_net[] =
    "name: \"fuzz\"\n"
    "input: \"data\" input_shape { dim: 1 dim: 2 dim: 5 dim: 5 }\n"
    "layer { name: \"conv\" type: \"Convolution\" bottom: \"data\" top: \"conv\"\n"
    "  convolution_param { num_output: 3 kernel_size: 3 pad: 1 } }\n"
    "layer { name: \"bn\" type: \"BatchNorm\" bottom: \"conv\" top: \"conv\" }\n"
    "layer { name: \"scale\" type: \"Scale\" bottom: \"conv\" top: \"conv\"\n"
    "  scale_param { bias_term: true } }\n"
    "layer { name: \"norm\" type: \"Normalize\" bottom: \"conv\" top: \"norm\"\n"
    "  norm_param { across_spatial: false channel_shared: false } }\n"
    "layer { name: \"dw\" type: \"Convolution\" bottom: \"norm\" top: \"dw\"\n"
    "  convolution_param { num_output: 3 kernel_size: 1 group: 3 bias_term: false } }\n";

nn_status fuzz_caffemodel(const uint8_t *data, size_t size) {
    nn_error err = {0};
    caffe_model *m = NULL;
    nn_status st = caffe_model_parse(data, size, &m, &err);
    check_error("caffemodel", "caffe_model_parse", st, &err);
    if (st != NN_OK) return st;
    for (int i = 0; i < m->n_layers; i++) {
        const caffe_model_layer *L = &m->layers[i];
        if (!L->name || !L->type) fuzz_fail("caffemodel", "layer %d without name or type", i);
        if (L->n_blobs < 0 || L->n_blobs > CAFFE_MAX_BLOBS)
            fuzz_fail("caffemodel", "layer '%s' has %d blobs", L->name, L->n_blobs);
        for (int b = 0; b < L->n_blobs; b++) {
            const caffe_blob *blob = &L->blobs[b];
            if (blob->shape.ndim > 0 && caffe_shape_count(&blob->shape) != blob->count)
                fuzz_fail("caffemodel", "layer '%s' blob %d: %zu values for shape of %zu", L->name,
                          b, blob->count, caffe_shape_count(&blob->shape));
            touch_floats(blob->data, blob->count);
        }
        if (caffe_model_find(m, L->name) == NULL)
            fuzz_fail("caffemodel", "layer '%s' cannot be found by name", L->name);
    }
    caffe_net *net = NULL;
    st = caffe_net_parse(fuzz_attach_net, strlen(fuzz_attach_net), "fuzz_attach.prototxt", &net,
                         &err);
    if (st != NN_OK) fuzz_fail("caffemodel", "the fixed net does not parse: %s", err.msg);
    st = caffe_net_attach_weights(net, m, &err);
    check_error("caffemodel", "caffe_net_attach_weights", st, &err);
    if (st == NN_OK) {
        for (int i = 0; i < net->n_layers; i++) {
            const caffe_layer *L = &net->layers[i];
            caffe_shape need[CAFFE_MAX_BLOBS];
            int n = caffe_layer_blob_shapes(L, need);
            if (L->n_blobs != n)
                fuzz_fail("caffemodel", "layer '%s' got %d blobs, needs %d", L->name, L->n_blobs, n);
            for (int b = 0; b < n; b++) {
                if (L->blobs[b].count != caffe_shape_count(&need[b]))
                    fuzz_fail("caffemodel", "layer '%s' blob %d has %zu values, needs %zu",
                              L->name, b, L->blobs[b].count, caffe_shape_count(&need[b]));
                touch_floats(L->blobs[b].data, L->blobs[b].count);
            }
        }
    }
    caffe_net_free(net);
    caffe_model_free(m);
    return st;
}

/* ------------------------------------------------------------- protobuf */

/* Decodes every field every way its wire type allows and recurses into LEN
 * fields that parse as messages. Checks the reader's bookkeeping. */
static void walk_pb(pb_reader *r, const uint8_t *buf, size_t size) {
    nn_error err = {0};
    size_t last = pb_offset(r);
    while (!pb_at_end(r)) {
        pb_field f;
        nn_status st = pb_next_field(r, &f, &err);
        check_error("protobuf", "pb_next_field", st, &err);
        if (st != NN_OK) return;
        if (pb_offset(r) <= last) fuzz_fail("protobuf", "reader did not advance at %zu", last);
        last = pb_offset(r);
        if (f.number == 0) fuzz_fail("protobuf", "field number 0 accepted at %zu", f.offset);
        int64_t i64;
        int32_t i32;
        uint64_t u64;
        bool b;
        float fl;
        double d;
        switch (f.wire) {
        case PB_WIRE_VARINT:
            pb_field_int64(&f, &i64, &err);
            pb_field_int32(&f, &i32, &err);
            pb_field_uint64(&f, &u64, &err);
            pb_field_bool(&f, &b, &err);
            break;
        case PB_WIRE_FIXED32: pb_field_float(&f, &fl, &err); break;
        case PB_WIRE_FIXED64: pb_field_double(&f, &d, &err); break;
        case PB_WIRE_LEN: {
            if (f.len > 0 && (f.bytes < buf || f.len > size || f.bytes + f.len > buf + size))
                fuzz_fail("protobuf", "LEN field at %zu points outside the buffer", f.offset);
            if (f.value_offset + f.len > size)
                fuzz_fail("protobuf", "LEN field at %zu: value offset past the end", f.offset);
            size_t n4 = 0, n8 = 0, nv = 0, got = 0;
            if (pb_packed_count_fixed(&f, 4, &n4, &err) == NN_OK) {
                if (n4 * 4 != f.len) fuzz_fail("protobuf", "packed floats: count %zu, len %zu", n4, f.len);
                float *v = malloc((n4 ? n4 : 1) * sizeof *v);
                if (v && (pb_packed_floats(&f, v, n4, &got, &err) != NN_OK || got != n4))
                    fuzz_fail("protobuf", "counted %zu floats but could not read them", n4);
                if (v && n4 && pb_packed_floats(&f, v, n4 - 1, &got, &err) == NN_OK)
                    fuzz_fail("protobuf", "read %zu floats into room for %zu", n4, n4 - 1);
                free(v);
            }
            if (pb_packed_count_fixed(&f, 8, &n8, &err) == NN_OK) {
                double *v = malloc((n8 ? n8 : 1) * sizeof *v);
                if (v && (pb_packed_doubles(&f, v, n8, &got, &err) != NN_OK || got != n8))
                    fuzz_fail("protobuf", "counted %zu doubles but could not read them", n8);
                free(v);
            }
            if (pb_packed_count_varints(&f, &nv, &err) == NN_OK) {
                if (nv > f.len) fuzz_fail("protobuf", "%zu varints in %zu bytes", nv, f.len);
                int64_t *v = malloc((nv ? nv : 1) * sizeof *v);
                if (v && (pb_packed_int64s(&f, v, nv, &got, &err) != NN_OK || got != nv))
                    fuzz_fail("protobuf", "counted %zu varints but could not read them", nv);
                free(v);
            }
            pb_reader child;
            if (pb_enter(&f, &child, &err) == NN_OK) {
                if (child.depth > PB_MAX_DEPTH) fuzz_fail("protobuf", "entered depth %d", child.depth);
                walk_pb(&child, buf, size);
            }
            break;
        }
        default: fuzz_fail("protobuf", "field at %zu has wire type %d", f.offset, (int)f.wire);
        }
    }
}

nn_status fuzz_protobuf(const uint8_t *data, size_t size) {
    pb_reader r;
    pb_reader_init(&r, data, size);
    walk_pb(&r, data, size);
    /* the status is that of a plain top-level walk */
    pb_reader_init(&r, data, size);
    nn_error err = {0};
    while (!pb_at_end(&r)) {
        pb_field f;
        nn_status st = pb_next_field(&r, &f, &err);
        if (st != NN_OK) return st;
    }
    return NN_OK;
}

/* ------------------------------------------------------------------ xml */

static void walk_xml(const xml_node *n, int depth) {
    if (depth > XML_MAX_DEPTH + 1) fuzz_fail("xml", "tree deeper than the limit");
    for (; n; n = n->next_sibling) {
        if (!n->name || !n->name[0] || !n->text || n->line < 1)
            fuzz_fail("xml", "node without name, text or line");
        if (n->first_child) {
            const xml_node *c = xml_child(n, n->first_child->name);
            if (c != n->first_child) fuzz_fail("xml", "xml_child misses the first child");
            for (; c; c = xml_next_same(c))
                if (strcmp(c->name, n->first_child->name) != 0) fuzz_fail("xml", "xml_next_same");
        }
        walk_xml(n->first_child, depth + 1);
    }
}

nn_status fuzz_xml(const uint8_t *data, size_t size) {
    nn_error err = {0};
    xml_node *root = NULL;
    nn_status st = xml_parse((const char *)data, size, "fuzz.xml", &root, &err);
    check_error("xml", "xml_parse", st, &err);
    if (st != NN_OK) return st;
    if (root->next_sibling) fuzz_fail("xml", "two roots");
    walk_xml(root, 0);
    xml_free(root);
    return NN_OK;
}

/* --------------------------------------------------------- scratch files */

/* The scratch folder: <tmp>/maskdet-fuzz-XXXXXX with
 *   voc/annotations/a.xml   voc/images/a.png
 *   json/annotations/a.json json/images/{a.png,b.jpg,c.bmp}
 *   img/input
 * Made on first use; per process, so parallel fuzzers do not collide. */
static char scratch[256];

static const char *const scratch_files[] = {
    "voc/annotations/a.xml", "voc/images/a.png",   "json/annotations/a.json",
    "json/images/a.png",     "json/images/b.jpg", "json/images/c.bmp",
    "img/input",
};
static const char *const scratch_dirs[] = {"voc/annotations", "voc/images", "voc",
                                           "json/annotations", "json/images", "json", "img"};

static void scratch_path(char *out, size_t cap, const char *rel) {
    snprintf(out, cap, "%s/%s", scratch, rel);
}

static bool write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

/* A w x h 24-bit BMP (BITMAPINFOHEADER, bottom-up, rows padded to 4 bytes). */
static bool write_bmp(const char *path, int w, int h) {
    size_t row = ((size_t)w * 3 + 3) / 4 * 4, bytes = 54 + row * (size_t)h;
    uint8_t *b = calloc(bytes, 1);
    if (!b) return false;
    b[0] = 'B', b[1] = 'M';
    wr32(b + 2, (uint32_t)bytes);
    wr32(b + 10, 54);
    wr32(b + 14, 40);
    wr32(b + 18, (uint32_t)w);
    wr32(b + 22, (uint32_t)h);
    b[26] = 1;  /* planes */
    b[28] = 24; /* bits per pixel */
    wr32(b + 34, (uint32_t)(row * (size_t)h));
    for (size_t i = 54; i < bytes; i++) b[i] = (uint8_t)(i * 7);
    bool ok = write_file(path, b, bytes);
    free(b);
    return ok;
}

static bool write_image(const char *rel, int w, int h) {
    char path[512];
    scratch_path(path, sizeof path, rel);
    image img;
    nn_error err;
    if (image_alloc(&img, w, h, 3, &err) != NN_OK) return false;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) img.pixels[i] = (uint8_t)(i * 13);
    nn_status st = image_save(&img, path, 90, &err);
    image_free(&img);
    return st == NN_OK;
}

static bool scratch_ready(void) {
    if (scratch[0]) return true;
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/maskdet-fuzz-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(scratch)) {
        scratch[0] = '\0';
        return false;
    }
    /* scratch_dirs lists children before parents; make them the other way */
    for (int i = (int)(sizeof scratch_dirs / sizeof *scratch_dirs) - 1; i >= 0; i--) {
        char path[512];
        scratch_path(path, sizeof path, scratch_dirs[i]);
        if (mkdir(path, 0700) != 0 && errno != EEXIST) return false;
    }
    char bmp[512];
    scratch_path(bmp, sizeof bmp, "json/images/c.bmp");
    return write_image("voc/images/a.png", 7, 5) && write_image("json/images/a.png", 7, 5) &&
           write_image("json/images/b.jpg", 9, 4) && write_bmp(bmp, 6, 3);
}

void fuzz_targets_cleanup(void) {
    if (!scratch[0]) return;
    char path[512];
    for (size_t i = 0; i < sizeof scratch_files / sizeof *scratch_files; i++) {
        scratch_path(path, sizeof path, scratch_files[i]);
        unlink(path);
    }
    for (size_t i = 0; i < sizeof scratch_dirs / sizeof *scratch_dirs; i++) {
        scratch_path(path, sizeof path, scratch_dirs[i]);
        rmdir(path);
    }
    rmdir(scratch);
    scratch[0] = '\0';
}

/* -------------------------------------------------------- VOC and JSON */

/* What annot.h promises about a loaded set. */
static void check_set(const char *target, const annot_set *set) {
    if (set->report.n_messages > ANNOT_MAX_MESSAGES || set->report.n_messages > set->report.n_problems)
        fuzz_fail(target, "report keeps %zu messages of %zu problems", set->report.n_messages,
                  set->report.n_problems);
    for (size_t m = 0; m < set->report.n_messages; m++)
        if (!set->report.messages[m] || !set->report.messages[m][0])
            fuzz_fail(target, "report message %zu is empty", m);
    for (size_t i = 0; i < set->n_items; i++) {
        const annot_item *it = &set->items[i];
        if (!it->image_path || it->width_px < 1 || it->height_px < 1)
            fuzz_fail(target, "item %zu: no image or size %dx%d", i, it->width_px, it->height_px);
        for (int b = 0; b < it->n_boxes; b++) {
            const annot_box *box = &it->boxes[b];
            if (!(box->x1 >= 0 && box->x1 < box->x2 && box->x2 <= (float)it->width_px &&
                  box->y1 >= 0 && box->y1 < box->y2 && box->y2 <= (float)it->height_px))
                fuzz_fail(target, "item %zu box %d (%g, %g, %g, %g) is not inside the %dx%d image",
                          i, b, box->x1, box->y1, box->x2, box->y2, it->width_px, it->height_px);
            if (box->source_class < 0 || box->source_class >= set->n_source_names)
                fuzz_fail(target, "item %zu box %d: source class %d of %d", i, b,
                          box->source_class, set->n_source_names);
        }
    }
}

/* Writes the input as the one annotation file of a data set folder and loads
 * the folder twice: stopping at the first problem and with skip_bad. */
static nn_status load_one_annotation(const char *target, const char *dir, const char *file,
                                     annot_format format, const uint8_t *data, size_t size) {
    if (!scratch_ready()) fuzz_fail(target, "cannot make a scratch folder in $TMPDIR or /tmp");
    char path[512], root[512];
    scratch_path(path, sizeof path, file);
    scratch_path(root, sizeof root, dir);
    if (!write_file(path, data, size)) fuzz_fail(target, "cannot write %s", path);
    nn_status strict = NN_OK;
    for (int skip_bad = 0; skip_bad <= 1; skip_bad++) {
        annot_options opt = annot_default_options();
        opt.format = format;
        opt.skip_bad = skip_bad;
        annot_set set;
        nn_error err = {0};
        nn_status st = annot_load(root, &opt, &set, &err);
        check_error(target, "annot_load", st, &err);
        if (st == NN_OK) {
            check_set(target, &set);
            annot_set_free(&set);
        }
        if (!skip_bad) strict = st;
    }
    return strict;
}

nn_status fuzz_voc(const uint8_t *data, size_t size) {
    return load_one_annotation("voc", "voc", "voc/annotations/a.xml", ANNOT_FORMAT_VOC, data, size);
}

nn_status fuzz_json(const uint8_t *data, size_t size) {
    return load_one_annotation("json", "json", "json/annotations/a.json", ANNOT_FORMAT_JSON, data,
                               size);
}

/* ---------------------------------------------------------------- image */

/* image_load_memory as the program calls it (the size checks run before
 * decoding), with 1, 3 or 4 channels picked by the input length. Where it
 * decodes a file, the header-only imgsize_read (which the data-set readers
 * use) must read the file and give the same size. */
nn_status fuzz_image(const uint8_t *data, size_t size) {
    static const int channel_choices[3] = {3, 1, 4};
    int channels = channel_choices[size % 3];
    image img;
    nn_error err = {0};
    nn_status st = image_load_memory(data, size, channels, &img, &err);
    check_error("image", "image_load_memory", st, &err);
    if (st != NN_OK) {
        if (img.pixels) fuzz_fail("image", "failed load left pixels behind");
        return st;
    }
    if (img.width < 1 || img.height < 1 || img.width > IMAGE_MAX_SIDE ||
        img.height > IMAGE_MAX_SIDE || (size_t)img.width * img.height > IMAGE_MAX_PIXELS ||
        img.channels != channels || !img.pixels)
        fuzz_fail("image", "decoded %dx%dx%d", img.width, img.height, img.channels);
    touch_bytes(img.pixels, (size_t)img.width * img.height * img.channels);

    if (!scratch_ready()) fuzz_fail("image", "cannot make a scratch folder in $TMPDIR or /tmp");
    char path[512];
    scratch_path(path, sizeof path, "img/input");
    if (!write_file(path, data, size)) fuzz_fail("image", "cannot write %s", path);
    int w = 0, h = 0;
    nn_status hs = imgsize_read(path, &w, &h, &err);
    if (hs != NN_OK)
        fuzz_fail("image", "decodes as %dx%d but imgsize_read fails: %s", img.width, img.height,
                  err.msg);
    if (w != img.width || h != img.height)
        fuzz_fail("image", "decodes as %dx%d but imgsize_read says %dx%d", img.width, img.height, w,
                  h);
    image_free(&img);
    return NN_OK;
}

/* ---------------------------------------------------------------- table */

/* ------------------------------------------------------------ raw video */

/* Frames larger than this are not read (the size text is still parsed):
 * an input of a few KB cannot fill them, and allocating up to 113 MB per
 * input would only slow the fuzzer down. */
#define FUZZ_RAWVIDEO_MAX_FRAME_BYTES ((size_t)1 << 20)

/* The input is "WxH\n" (the size as `maskdet detect --raw WxH` takes it; at
 * most 31 bytes before the newline) and then the byte stream, read frame by
 * frame from a memory stream as detect --raw reads stdin, each frame written
 * back to a second stream as detect --raw writes stdout. Checks: the bytes
 * read add up to the stream, a stream ends on a frame boundary (END, nothing
 * read) or inside a frame (TRUNCATED, with a message), never an I/O error,
 * and what was written back is what was read. */
nn_status fuzz_rawvideo(const uint8_t *data, size_t size) {
    size_t text_len = 0;
    while (text_len < size && text_len < 31 && data[text_len] != '\n') text_len++;
    char text[32];
    memcpy(text, data, text_len);
    text[text_len] = '\0';
    bool has_stream = text_len < size && data[text_len] == '\n';
    int width, height;
    nn_error err = {0};
    nn_status st = rawvideo_parse_size(text, &width, &height, &err);
    check_error("rawvideo", "rawvideo_parse_size", st, &err);
    if (st != NN_OK) return st;
    size_t frame_bytes = rawvideo_frame_bytes(width, height);
    if (frame_bytes != (size_t)3 * width * height || frame_bytes > RAWVIDEO_MAX_FRAME_BYTES)
        fuzz_fail("rawvideo", "'%s' parses as %dx%d, frame of %zu bytes", text, width, height,
                  frame_bytes);
    if (!has_stream || frame_bytes > FUZZ_RAWVIDEO_MAX_FRAME_BYTES) return NN_OK;

    const uint8_t *stream = data + text_len + 1;
    size_t stream_len = size - text_len - 1;
    static const uint8_t nothing[1];
    /* fmemopen may refuse a zero-size buffer: an empty stream is a 1-byte
     * buffer opened and read to its end first. */
    FILE *in = fmemopen((void *)(stream_len ? stream : nothing), stream_len ? stream_len : 1, "rb");
    if (!in) fuzz_fail("rawvideo", "fmemopen: %s", strerror(errno));
    if (!stream_len) fgetc(in);
    char *echo = NULL;
    size_t echo_len = 0;
    FILE *out = open_memstream(&echo, &echo_len);
    uint8_t *frame = malloc(frame_bytes);
    if (!out || !frame) fuzz_fail("rawvideo", "out of memory for a %zu-byte frame", frame_bytes);

    size_t frames = 0, got = 0;
    rawvideo_result r;
    while ((r = rawvideo_read_frame(in, frame, frame_bytes, &got, &err)) == RAWVIDEO_OK) {
        if (got != frame_bytes) fuzz_fail("rawvideo", "OK after %zu of %zu bytes", got, frame_bytes);
        if (rawvideo_write_frame(out, frame, frame_bytes, &err) != RAWVIDEO_OK)
            fuzz_fail("rawvideo", "writing frame %zu to memory failed: %s", frames, err.msg);
        frames++;
    }
    if (r == RAWVIDEO_END && got != 0) fuzz_fail("rawvideo", "END after %zu bytes", got);
    if (r == RAWVIDEO_TRUNCATED) {
        if (got == 0 || got >= frame_bytes)
            fuzz_fail("rawvideo", "TRUNCATED after %zu of %zu bytes", got, frame_bytes);
        check_error("rawvideo", "rawvideo_read_frame", err.code, &err);
    }
    if (r != RAWVIDEO_END && r != RAWVIDEO_TRUNCATED)
        fuzz_fail("rawvideo", "reading from memory gave %d: %s", (int)r, err.msg);
    if (frames * frame_bytes + got != stream_len)
        fuzz_fail("rawvideo", "%zu frames of %zu bytes + %zu read of a %zu-byte stream", frames,
                  frame_bytes, got, stream_len);
    fclose(in);
    fclose(out);
    if (echo_len != frames * frame_bytes || (echo_len && memcmp(echo, stream, echo_len) != 0))
        fuzz_fail("rawvideo", "wrote back %zu bytes that differ from the %zu read", echo_len,
                  frames * frame_bytes);
    free(echo);
    free(frame);
    return r == RAWVIDEO_END ? NN_OK : NN_ERR_TRUNCATED;
}

const fuzz_target fuzz_targets[] = {
    {"weights", fuzz_weights, ".nnw weights files (nn_weights_load_memory)"},
    {"prototxt", fuzz_prototxt, "Caffe prototxt (caffe_pt_parse, caffe_net_parse, shapes, priors)"},
    {"caffemodel", fuzz_caffemodel, "Caffe caffemodel (caffe_model_parse, attach to a small net)"},
    {"protobuf", fuzz_protobuf, "protobuf wire format (pb_* reader)"},
    {"xml", fuzz_xml, "XML (xml_parse)"},
    {"voc", fuzz_voc, "Pascal VOC annotation (annot_load, format voc)"},
    {"json", fuzz_json, "Kaggle JSON annotation (annot_load, format json)"},
    {"image", fuzz_image, "JPEG/PNG/BMP (image_load_memory, imgsize_read)"},
    {"rawvideo", fuzz_rawvideo, "raw rgb24 frames (rawvideo_parse_size, rawvideo_read_frame)"},
};
const int fuzz_target_count = (int)(sizeof fuzz_targets / sizeof fuzz_targets[0]);

const fuzz_target *fuzz_target_find(const char *name) {
    for (int i = 0; i < fuzz_target_count; i++)
        if (strcmp(fuzz_targets[i].name, name) == 0) return &fuzz_targets[i];
    return NULL;
}
