/*
 * caffe_model.c - the binary .caffemodel (a serialized NetParameter) and
 * attaching its blobs to a parsed net.
 *
 * The fields we read (caffe.proto numbers):
 *   NetParameter       1 name, 2 layers (V1LayerParameter), 100 layer (LayerParameter)
 *   LayerParameter     1 name, 2 type, 7 blobs
 *   V1LayerParameter   4 name, 5 type (enum), 6 blobs
 *   BlobProto          1 num, 2 channels, 3 height, 4 width (legacy 4-D shape),
 *                      5 data (float, packed or not), 7 shape, 8 double_data
 *   BlobShape          1 dim (int64, packed or not)
 * Everything else (diffs, params, layer settings) is skipped. Each blob is
 * read in two passes: count the values (bounded by the bytes present, so an
 * allocation is never larger than the file), then copy them.
 */
#include "caffe.h"
#include "protobuf.h"

#include <stdlib.h>
#include <string.h>

/* Error prefix naming where we are. */
typedef struct {
    nn_error *err;
    const char *layer; /* NULL until the name is known */
    int blob;          /* -1 outside a blob */
} mctx;

static nn_status wrap(const mctx *c, nn_status st) {
    if (!st || !c->err) return st;
    char inner[NN_ERROR_MSG_LEN];
    snprintf(inner, sizeof inner, "%s", c->err->msg);
    if (c->layer && c->blob >= 0)
        return nn_error_set(c->err, st, "caffemodel: layer '%s' blob %d: %s", c->layer, c->blob, inner);
    if (c->layer) return nn_error_set(c->err, st, "caffemodel: layer '%s': %s", c->layer, inner);
    return nn_error_set(c->err, st, "caffemodel: %s", inner);
}

static char *dup_bytes(const pb_field *f) {
    char *s = malloc(f->len + 1);
    if (s) {
        memcpy(s, f->bytes, f->len);
        s[f->len] = 0;
    }
    return s;
}

static nn_status read_string(const pb_field *f, char **out, nn_error *err) {
    if (f->wire != PB_WIRE_LEN)
        return nn_error_set(err, NN_ERR_FORMAT, "field %u at byte %zu should be a string", f->number,
                            f->offset);
    free(*out);
    if (!(*out = dup_bytes(f))) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    return NN_OK;
}

/* BlobShape: dims, packed or one per field. */
static nn_status read_blob_shape(const pb_field *sf, caffe_shape *s, nn_error *err) {
    pb_reader r;
    nn_status st = pb_enter(sf, &r, err);
    s->ndim = 0;
    while (!st && !pb_at_end(&r)) {
        pb_field f;
        if ((st = pb_next_field(&r, &f, err))) break;
        if (f.number != 1) continue;
        int64_t dims[CAFFE_MAX_DIMS];
        size_t n = 0;
        if (f.wire == PB_WIRE_LEN) {
            st = pb_packed_int64s(&f, dims, CAFFE_MAX_DIMS - (size_t)s->ndim, &n, err);
        } else {
            st = pb_field_int64(&f, &dims[0], err);
            n = 1;
            if (!st && s->ndim >= CAFFE_MAX_DIMS)
                st = nn_error_set(err, NN_ERR_LIMIT, "blob shape at byte %zu has more than %d dims",
                                  sf->offset, CAFFE_MAX_DIMS);
        }
        for (size_t i = 0; !st && i < n; i++) {
            if (dims[i] < 0 || dims[i] > INT32_MAX)
                st = nn_error_set(err, NN_ERR_FORMAT, "blob dim %lld at byte %zu is out of range",
                                  (long long)dims[i], f.offset);
            else
                s->dim[s->ndim++] = (int)dims[i];
        }
    }
    return st;
}

/* Counts the float and double values of a blob (data NULL), or copies them
 * into data[cap] (doubles converted to float). */
static nn_status blob_values(const pb_field *bf, float *data, size_t cap, size_t *n_float,
                             size_t *n_double, nn_error *err) {
    pb_reader r;
    nn_status st = pb_enter(bf, &r, err);
    size_t nf = 0, nd = 0;
    while (!st && !pb_at_end(&r)) {
        pb_field f;
        if ((st = pb_next_field(&r, &f, err))) break;
        if (f.number != 5 && f.number != 8) continue;
        size_t elem = f.number == 5 ? 4 : 8, n = 1;
        if (f.wire == PB_WIRE_LEN) {
            if ((st = pb_packed_count_fixed(&f, elem, &n, err))) break;
        } else if (f.wire != (elem == 4 ? PB_WIRE_FIXED32 : PB_WIRE_FIXED64)) {
            st = nn_error_set(err, NN_ERR_FORMAT, "field %u at byte %zu has wire type %d, expected %s",
                              f.number, f.offset, (int)f.wire, elem == 4 ? "float" : "double");
            break;
        }
        size_t at = nf + nd;
        if (data && n > cap - at) {
            st = nn_error_set(err, NN_ERR_FORMAT, "more values than counted at byte %zu", f.offset);
            break;
        }
        for (size_t i = 0; data && i < n; i++) {
            /* little-endian bytes, one value at a time (no second buffer) */
            const uint8_t *src = f.wire == PB_WIRE_LEN ? f.bytes + i * elem : NULL;
            uint64_t bits = 0;
            if (src)
                for (size_t b = 0; b < elem; b++) bits |= (uint64_t)src[b] << (8 * b);
            else
                bits = f.bits;
            if (elem == 4) {
                uint32_t b32 = (uint32_t)bits;
                memcpy(&data[at + i], &b32, 4);
            } else {
                double d;
                memcpy(&d, &bits, 8);
                data[at + i] = (float)d;
            }
        }
        if (elem == 4) nf += n;
        else nd += n;
    }
    if (!st) *n_float = nf, *n_double = nd;
    return st;
}

static nn_status read_blob(const mctx *c, const pb_field *bf, caffe_blob *blob) {
    nn_error *err = c->err;
    pb_reader r;
    nn_status st = pb_enter(bf, &r, err);
    int legacy[4] = {0, 0, 0, 0};
    bool has_shape = false, has_legacy = false;
    memset(blob, 0, sizeof *blob);
    while (!st && !pb_at_end(&r)) {
        pb_field f;
        if ((st = pb_next_field(&r, &f, err))) break;
        if (f.number >= 1 && f.number <= 4) {
            int32_t v;
            if ((st = pb_field_int32(&f, &v, err))) break;
            if (v < 0) {
                st = nn_error_set(err, NN_ERR_FORMAT, "negative legacy dim %d at byte %zu", v, f.offset);
                break;
            }
            legacy[f.number - 1] = v;
            has_legacy = true;
        } else if (f.number == 7) {
            if (has_shape) {
                st = nn_error_set(err, NN_ERR_FORMAT, "two shapes at byte %zu", f.offset);
                break;
            }
            st = read_blob_shape(&f, &blob->shape, err);
            has_shape = true;
        }
    }
    size_t nf = 0, nd = 0;
    if (!st) st = blob_values(bf, NULL, 0, &nf, &nd, err);
    if (st) return st;
    if (nf && nd)
        return nn_error_set(err, NN_ERR_FORMAT, "blob at byte %zu has both float and double data",
                            bf->offset);
    size_t count = nf + nd;
    if (!has_shape && has_legacy) {
        blob->shape.ndim = 4;
        memcpy(blob->shape.dim, legacy, sizeof legacy);
    } else if (!has_shape) {
        blob->shape.ndim = 1;
        blob->shape.dim[0] = count > INT32_MAX ? INT32_MAX : (int)count;
    }
    /* The shape's product, checked for overflow, must equal the values present. */
    size_t want = 1;
    for (int d = 0; d < blob->shape.ndim; d++) {
        if (blob->shape.dim[d] && want > NN_MAX_TENSOR_ELEMS / (size_t)blob->shape.dim[d])
            return nn_error_set(err, NN_ERR_LIMIT, "blob at byte %zu is larger than %zu values",
                                bf->offset, (size_t)NN_MAX_TENSOR_ELEMS);
        want *= (size_t)blob->shape.dim[d];
    }
    if (want != count) {
        char s[96];
        return nn_error_set(err, NN_ERR_FORMAT, "blob at byte %zu: shape %s needs %zu values, has %zu",
                            bf->offset, caffe_shape_str(&blob->shape, s, sizeof s), want, count);
    }
    blob->count = count;
    if (!count) return NN_OK;
    if (!(blob->data = malloc(count * sizeof(float))))
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory for %zu values", count);
    return blob_values(bf, blob->data, count, &nf, &nd, err);
}

/* Caffe's V1LayerParameter.LayerType names (indices are the enum values). */
static const char *const V1_TYPES[] = {
    "None", "Accuracy", "BNLL", "Concat", "Convolution", "Data", "Dropout", "EuclideanLoss",
    "Flatten", "HDF5Data", "HDF5Output", "Im2col", "ImageData", "InfogainLoss", "InnerProduct",
    "LRN", "MultinomialLogisticLoss", "Pooling", "ReLU", "Sigmoid", "Softmax", "SoftmaxWithLoss",
    "Split", "TanH", "WindowData", "Eltwise", "Power", "SigmoidCrossEntropyLoss", "HingeLoss",
    "MemoryData", "ArgMax", "Threshold", "DummyData", "Slice", "MVN", "AbsVal", "Silence",
    "ContrastiveLoss", "Exp", "Deconvolution"};

static void free_model_layer(caffe_model_layer *L) {
    free(L->name);
    free(L->type);
    for (int i = 0; i < L->n_blobs; i++) free(L->blobs[i].data);
    free(L->blobs);
}

/* One LayerParameter (v1 false) or V1LayerParameter (v1 true). */
static nn_status read_layer(const pb_field *lf, bool v1, caffe_model_layer *L, nn_error *err) {
    mctx c = {.err = err, .blob = -1};
    pb_reader r;
    nn_status st = pb_enter(lf, &r, err);
    const uint32_t f_name = v1 ? 4 : 1, f_type = v1 ? 5 : 2, f_blobs = v1 ? 6 : 7;
    int n_blobs = 0;
    /* Pass 1: name, type and how many blobs. */
    while (!st && !pb_at_end(&r)) {
        pb_field f;
        if ((st = pb_next_field(&r, &f, err))) break;
        if (f.number == f_name) {
            st = read_string(&f, &L->name, err);
            c.layer = L->name;
        } else if (f.number == f_type && !v1) {
            st = read_string(&f, &L->type, err);
        } else if (f.number == f_type && v1) {
            uint64_t t;
            if (!(st = pb_field_uint64(&f, &t, err))) {
                char buf[32];
                snprintf(buf, sizeof buf, "V1:%llu", (unsigned long long)t);
                const char *name = t < sizeof V1_TYPES / sizeof *V1_TYPES ? V1_TYPES[t] : buf;
                free(L->type);
                L->type = malloc(strlen(name) + 1);
                if (!L->type) st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
                else strcpy(L->type, name);
            }
        } else if (f.number == f_blobs) {
            if (++n_blobs > CAFFE_MAX_BLOBS)
                st = nn_error_set(err, NN_ERR_LIMIT, "more than %d blobs at byte %zu", CAFFE_MAX_BLOBS,
                                  f.offset);
        }
    }
    if (!st && !L->name) st = nn_error_set(err, NN_ERR_FORMAT, "layer at byte %zu has no name", lf->offset);
    if (st) return wrap(&c, st);
    if (!L->type && !(L->type = calloc(1, 1))) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    if (n_blobs && !(L->blobs = calloc((size_t)n_blobs, sizeof *L->blobs)))
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    /* Pass 2: the blobs. */
    pb_enter(lf, &r, err);
    while (!st && !pb_at_end(&r)) {
        pb_field f;
        if ((st = pb_next_field(&r, &f, err))) break;
        if (f.number != f_blobs) continue;
        c.blob = L->n_blobs;
        st = read_blob(&c, &f, &L->blobs[L->n_blobs]);
        if (!st) L->n_blobs++;
    }
    return wrap(&c, st);
}

nn_status caffe_model_parse(const void *buf, size_t len, caffe_model **out, nn_error *err) {
    *out = NULL;
    if (!buf && len) return nn_error_set(err, NN_ERR_ARG, "caffe_model_parse: NULL buffer");
    if (len > CAFFE_MAX_FILE_BYTES)
        return nn_error_set(err, NN_ERR_LIMIT, "caffemodel: %zu bytes is over the limit", len);
    mctx c = {.err = err, .blob = -1};
    pb_reader r;
    pb_reader_init(&r, buf, len);
    /* Pass 1: validate the top level and count layers. */
    int n_layers = 0;
    bool any_v1 = false, any_v2 = false;
    nn_status st = NN_OK;
    while (!st && !pb_at_end(&r)) {
        pb_field f;
        if ((st = pb_next_field(&r, &f, err))) break;
        if (f.number == 100 || f.number == 2) {
            if (f.wire != PB_WIRE_LEN)
                st = nn_error_set(err, NN_ERR_FORMAT, "layer field at byte %zu is not a message", f.offset);
            else if (++n_layers > CAFFE_MAX_LAYERS)
                st = nn_error_set(err, NN_ERR_LIMIT, "more than %d layers", CAFFE_MAX_LAYERS);
            any_v1 |= f.number == 2, any_v2 |= f.number == 100;
        }
    }
    if (!st && any_v1 && any_v2)
        st = nn_error_set(err, NN_ERR_FORMAT, "file mixes V1 'layers' and V2 'layer' fields");
    if (st) return wrap(&c, st);

    caffe_model *m = calloc(1, sizeof *m);
    if (!m || (n_layers && !(m->layers = calloc((size_t)n_layers, sizeof *m->layers)))) {
        free(m);
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    }
    pb_reader_init(&r, buf, len);
    while (!st && !pb_at_end(&r)) {
        pb_field f;
        if ((st = pb_next_field(&r, &f, err))) break;
        if (f.number == 1 && f.wire == PB_WIRE_LEN) {
            st = read_string(&f, &m->name, err);
        } else if (f.number == 100 || f.number == 2) {
            caffe_model_layer *L = &m->layers[m->n_layers++];
            st = read_layer(&f, f.number == 2, L, err);
        }
    }
    if (st) {
        caffe_model_free(m);
        return st;
    }
    *out = m;
    return NN_OK;
}

nn_status caffe_model_load(const char *path, caffe_model **out, nn_error *err) {
    char *data;
    size_t len;
    *out = NULL;
    nn_status st = nn_read_file(path, CAFFE_MAX_FILE_BYTES, &data, &len, err);
    if (st) return st;
    st = caffe_model_parse(data, len, out, err);
    free(data);
    if (st && err) {
        char inner[NN_ERROR_MSG_LEN];
        snprintf(inner, sizeof inner, "%s", err->msg);
        nn_error_set(err, st, "%s: %s", path, inner);
    }
    return st;
}

void caffe_model_free(caffe_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_layers; i++) free_model_layer(&m->layers[i]);
    free(m->layers);
    free(m->name);
    free(m);
}

const caffe_model_layer *caffe_model_find(const caffe_model *m, const char *name) {
    for (int i = 0; i < m->n_layers; i++)
        if (!strcmp(m->layers[i].name, name)) return &m->layers[i];
    return NULL;
}

nn_status caffe_net_attach_weights(caffe_net *net, const caffe_model *model, nn_error *err) {
    nn_status st = caffe_net_infer_shapes(net, err);
    if (st) return st;
    char a[96], b[96];
    for (int i = 0; i < net->n_layers; i++) {
        caffe_layer *L = &net->layers[i];
        caffe_shape need[CAFFE_MAX_BLOBS];
        int n_need = caffe_layer_blob_shapes(L, need);
        const caffe_model_layer *ml = caffe_model_find(model, L->name);
        int n_have = ml ? ml->n_blobs : 0;
        if (n_need == 0 && n_have == 0) continue;
        if (!ml)
            return nn_error_set(err, NN_ERR_NOT_FOUND,
                                "layer '%s' (%s) needs %d blobs; the caffemodel has no such layer",
                                L->name, caffe_layer_type_name(L->type), n_need);
        if (n_have != n_need)
            return nn_error_set(err, NN_ERR_SHAPE, "layer '%s' (%s): caffemodel has %d blobs, layer needs %d",
                                L->name, caffe_layer_type_name(L->type), n_have, n_need);
        for (int k = 0; k < n_need; k++) {
            const caffe_blob *bl = &ml->blobs[k];
            size_t want = caffe_shape_count(&need[k]);
            if (bl->count != want)
                return nn_error_set(err, NN_ERR_SHAPE,
                                    "layer '%s' blob %d: caffemodel has %zu values (%s), layer needs %zu (%s)",
                                    L->name, k, bl->count, caffe_shape_str(&bl->shape, a, sizeof a),
                                    want, caffe_shape_str(&need[k], b, sizeof b));
        }
        /* Copy: the net owns its blobs, the model can be freed. */
        if (n_need < 1 || n_need > CAFFE_MAX_BLOBS) continue;
        caffe_blob *copy = calloc((size_t)n_need, sizeof *copy);
        if (!copy) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        for (int k = 0; k < n_need; k++) {
            copy[k].shape = need[k];
            copy[k].count = ml->blobs[k].count;
            copy[k].data = malloc(copy[k].count * sizeof(float) + 1);
            if (!copy[k].data) {
                for (int j = 0; j < k; j++) free(copy[j].data);
                free(copy);
                return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
            }
            memcpy(copy[k].data, ml->blobs[k].data, copy[k].count * sizeof(float));
        }
        for (int k = 0; k < L->n_blobs; k++) free(L->blobs[k].data);
        free(L->blobs);
        L->blobs = copy;
        L->n_blobs = n_need;
    }
    return NN_OK;
}
