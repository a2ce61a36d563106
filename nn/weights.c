/*
 * weights.c - the .nnw weights file: named float tensors (stored as f32 or
 * IEEE f16) plus UTF-8 key/value metadata. The byte layout is specified in
 * docs/weights-format.md; in short, all little-endian:
 *
 *   header    40 bytes: "NNWF", version, counts, index size, file size,
 *             flags, CRC-32 of the index
 *   metadata  per entry: u32 key_len, key, NUL, u32 value_len, value, NUL
 *   directory per tensor: u32 name_len, name, NUL, u32 dtype, u32 ndim,
 *             u32 shape[ndim], u64 data_offset, u64 data_bytes, u32 data_crc
 *   data      each tensor at the next 64-byte boundary, zero padding between
 *
 * The header, metadata and directory together are "the index"; one CRC-32
 * covers it. Loading checks every field before trusting it, checks size
 * limits before allocating, and names the byte offset (and the tensor) of
 * the first problem. Saving writes PATH.tmp.<pid>, fsyncs it and renames it
 * over PATH, so a crash or a full disk never leaves a half-written file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "weights.c copies tensor data as little-endian bytes; add byte swapping for this host"
#endif

#define NNW_MAGIC "NNWF"
#define NNW_VERSION 1u
#define NNW_HEADER_BYTES 40u
#define NNW_ALIGN 64u

/* Limits, checked before anything an input asks for is allocated. */
#define NNW_MAX_TENSORS (1u << 20)
#define NNW_MAX_META (1u << 16)
#define NNW_MAX_NAME_BYTES 1024u             /* tensor names and metadata keys */
#define NNW_MAX_VALUE_BYTES (16u << 20)      /* one metadata value */
#define NNW_MAX_INDEX_BYTES ((uint64_t)1 << 30)

/* Smallest possible entries (empty strings, 0-d tensor): used to reject counts
 * that cannot fit in the declared index before allocating for them. */
#define NNW_MIN_META_ENTRY (4u + 1u + 4u + 1u)
#define NNW_MIN_TENSOR_ENTRY (4u + 1u + 4u + 4u + 8u + 8u + 4u)

/* ----------------------------------------------------------- in memory */

typedef struct {
    char *name;
    nn_tensor *tensor;
    nn_dtype dtype; /* how it is stored on disk */
} weights_tensor;

typedef struct {
    char *key;
    char *value;
} weights_meta;

struct nn_weights {
    weights_tensor *tensors;
    int n_tensors, cap_tensors;
    weights_meta *meta;
    int n_meta, cap_meta;
};

nn_weights *nn_weights_create(void) { return calloc(1, sizeof(nn_weights)); }

void nn_weights_free(nn_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        nn_tensor_free(w->tensors[i].tensor);
    }
    for (int i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->tensors);
    free(w->meta);
    free(w);
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (len > n - i) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

/* A usable name or key: non-empty, not too long, valid UTF-8. */
static nn_status check_name(const char *name, const char *what, nn_error *err) {
    if (!name || !*name) return nn_error_set(err, NN_ERR_ARG, "%s is empty", what);
    size_t n = strlen(name);
    if (n > NNW_MAX_NAME_BYTES)
        return nn_error_set(err, NN_ERR_LIMIT, "%s is %zu bytes, at most %u allowed", what, n,
                            NNW_MAX_NAME_BYTES);
    if (!utf8_valid((const unsigned char *)name, n))
        return nn_error_set(err, NN_ERR_ARG, "%s is not valid UTF-8", what);
    return NN_OK;
}

static int find_tensor(const nn_weights *w, const char *name) {
    for (int i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0) return i;
    return -1;
}

static int find_meta(const nn_weights *w, const char *key) {
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) return i;
    return -1;
}

/* Takes ownership of name and t (freed on failure). */
static nn_status push_tensor(nn_weights *w, char *name, nn_tensor *t, nn_dtype dtype,
                             nn_error *err) {
    if (w->n_tensors == w->cap_tensors) {
        int cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
        weights_tensor *grown = realloc(w->tensors, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(name);
            nn_tensor_free(t);
            return nn_error_set(err, NN_ERR_NOMEM, "out of memory adding a tensor");
        }
        w->tensors = grown;
        w->cap_tensors = cap;
    }
    w->tensors[w->n_tensors++] = (weights_tensor){name, t, dtype};
    return NN_OK;
}

nn_status nn_weights_add(nn_weights *w, const char *name, const nn_tensor *t, nn_dtype dtype,
                         nn_error *err) {
    if (!w || !t || !t->data) return nn_error_set(err, NN_ERR_ARG, "nn_weights_add: NULL argument");
    nn_status st = check_name(name, "tensor name", err);
    if (st != NN_OK) return st;
    if (dtype != NN_DTYPE_F32 && dtype != NN_DTYPE_F16)
        return nn_error_set(err, NN_ERR_ARG, "tensor '%s': unknown dtype %d", name, (int)dtype);
    if (t->ndim < 0 || t->ndim > NN_MAX_DIMS || nn_shape_numel(t->ndim, t->shape) != t->numel)
        return nn_error_set(err, NN_ERR_ARG, "tensor '%s': bad shape", name);
    if (find_tensor(w, name) >= 0)
        return nn_error_set(err, NN_ERR_ARG, "tensor '%s' is already in the weights", name);
    if ((unsigned)w->n_tensors >= NNW_MAX_TENSORS)
        return nn_error_set(err, NN_ERR_LIMIT, "more than %u tensors", NNW_MAX_TENSORS);
    nn_tensor *copy = nn_tensor_new(t->ndim, t->shape);
    char *name_copy = strdup(name);
    if (!copy || !name_copy) {
        nn_tensor_free(copy);
        free(name_copy);
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory copying tensor '%s'", name);
    }
    memcpy(copy->data, t->data, t->numel * sizeof(float));
    return push_tensor(w, name_copy, copy, dtype, err);
}

nn_status nn_weights_set_meta(nn_weights *w, const char *key, const char *value, nn_error *err) {
    if (!w || !value) return nn_error_set(err, NN_ERR_ARG, "nn_weights_set_meta: NULL argument");
    nn_status st = check_name(key, "metadata key", err);
    if (st != NN_OK) return st;
    size_t len = strlen(value);
    if (len > NNW_MAX_VALUE_BYTES)
        return nn_error_set(err, NN_ERR_LIMIT, "metadata '%s': value is %zu bytes, at most %u",
                            key, len, NNW_MAX_VALUE_BYTES);
    if (!utf8_valid((const unsigned char *)value, len))
        return nn_error_set(err, NN_ERR_ARG, "metadata '%s': value is not valid UTF-8", key);
    char *value_copy = strdup(value);
    if (!value_copy) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    int i = find_meta(w, key);
    if (i >= 0) { /* a key set twice keeps the last value */
        free(w->meta[i].value);
        w->meta[i].value = value_copy;
        return NN_OK;
    }
    if ((unsigned)w->n_meta >= NNW_MAX_META) {
        free(value_copy);
        return nn_error_set(err, NN_ERR_LIMIT, "more than %u metadata entries", NNW_MAX_META);
    }
    if (w->n_meta == w->cap_meta) {
        int cap = w->cap_meta ? 2 * w->cap_meta : 8;
        weights_meta *grown = realloc(w->meta, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(value_copy);
            return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        }
        w->meta = grown;
        w->cap_meta = cap;
    }
    char *key_copy = strdup(key);
    if (!key_copy) {
        free(value_copy);
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    }
    w->meta[w->n_meta++] = (weights_meta){key_copy, value_copy};
    return NN_OK;
}

const char *nn_weights_meta(const nn_weights *w, const char *key) {
    if (!w || !key) return NULL;
    int i = find_meta(w, key);
    return i >= 0 ? w->meta[i].value : NULL;
}
int nn_weights_meta_count(const nn_weights *w) { return w ? w->n_meta : 0; }
const char *nn_weights_meta_key(const nn_weights *w, int i) {
    return w && i >= 0 && i < w->n_meta ? w->meta[i].key : NULL;
}
int nn_weights_count(const nn_weights *w) { return w ? w->n_tensors : 0; }
const char *nn_weights_name(const nn_weights *w, int i) {
    return w && i >= 0 && i < w->n_tensors ? w->tensors[i].name : NULL;
}
const nn_tensor *nn_weights_tensor(const nn_weights *w, int i) {
    return w && i >= 0 && i < w->n_tensors ? w->tensors[i].tensor : NULL;
}
const nn_tensor *nn_weights_find(const nn_weights *w, const char *name) {
    if (!w || !name) return NULL;
    int i = find_tensor(w, name);
    return i >= 0 ? w->tensors[i].tensor : NULL;
}

/* ------------------------------------------------------------- f16 <-> f32 */

/* IEEE binary16, round to nearest, ties to even. Too large -> inf, too small
 * -> (signed) zero, NaN stays NaN (quiet, sign and top payload bits kept). */
static uint16_t f32_to_f16(float value) {
    uint32_t x;
    memcpy(&x, &value, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u;
    int exp = (int)((x >> 23) & 0xFFu);
    uint32_t mant = x & 0x7FFFFFu;
    if (exp == 0xFF) return (uint16_t)(sign | 0x7C00u | (mant ? 0x200u | (mant >> 13) : 0));
    int half_exp = exp - 127 + 15;
    if (half_exp >= 31) return (uint16_t)(sign | 0x7C00u);
    if (half_exp <= 0) {
        /* subnormal half: value / 2^-24, from the 24-bit significand */
        if (half_exp < -10) return (uint16_t)sign; /* below half the smallest subnormal */
        mant |= 0x800000u;
        int shift = 14 - half_exp; /* 14..24 */
        uint32_t half = mant >> shift;
        uint32_t rest = mant & ((1u << shift) - 1u), halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (half & 1u))) half++; /* may become normal: fine */
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)half_exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++; /* carry may reach inf: right */
    return (uint16_t)(sign | half);
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu, x;
    if (exp == 0x1F) {
        x = sign | 0x7F800000u | (mant << 13);
    } else if (exp != 0) {
        x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    } else if (mant == 0) {
        x = sign;
    } else { /* subnormal: normalise */
        int e = -1;
        do {
            mant <<= 1;
            e++;
        } while (!(mant & 0x400u));
        x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* ------------------------------------------------------------------ CRC-32 */

/* CRC-32 as zlib/PNG (reflected polynomial 0xEDB88320). The only constant
 * table is the 16-entry one for a nibble; a call builds the byte-at-a-time
 * tables it needs on the stack (a few microseconds) instead of keeping
 * global state, then runs "slicing by 4": four table lookups per 32-bit
 * word, about 5x faster than a nibble at a time on large tensors. */
static const uint32_t crc_nibble[16] = {
    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
    0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
    0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

/* Continues a CRC: crc_update(0, ...) starts one. */
static uint32_t crc_update(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = data;
    crc = ~crc;
    if (n < 256) { /* short strings: not worth building tables */
        for (size_t i = 0; i < n; i++) {
            crc ^= p[i];
            crc = (crc >> 4) ^ crc_nibble[crc & 15];
            crc = (crc >> 4) ^ crc_nibble[crc & 15];
        }
        return ~crc;
    }
    /* table[0][b]: CRC step of byte b; table[k][b]: of b followed by k zero bytes */
    uint32_t table[4][256];
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        c = (c >> 4) ^ crc_nibble[c & 15];
        table[0][b] = (c >> 4) ^ crc_nibble[c & 15];
    }
    for (int k = 1; k < 4; k++)
        for (int b = 0; b < 256; b++)
            table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xFF];
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        crc ^= (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
               (uint32_t)p[i + 3] << 24;
        crc = table[3][crc & 0xFF] ^ table[2][(crc >> 8) & 0xFF] ^ table[1][(crc >> 16) & 0xFF] ^
              table[0][crc >> 24];
    }
    for (; i < n; i++) crc = (crc >> 8) ^ table[0][(crc ^ p[i]) & 0xFF];
    return ~crc;
}

/* The index CRC skips its own field (header bytes 36..39). */
static uint32_t index_crc(const uint8_t *buf, size_t index_bytes) {
    uint32_t crc = crc_update(0, buf, 36);
    return crc_update(crc, buf + NNW_HEADER_BYTES, index_bytes - NNW_HEADER_BYTES);
}

/* --------------------------------------------------------- little endian */

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t align_up(uint64_t x) { return (x + NNW_ALIGN - 1) & ~(uint64_t)(NNW_ALIGN - 1); }
static size_t dtype_bytes(nn_dtype d) { return d == NN_DTYPE_F16 ? 2 : 4; }

/* ------------------------------------------------------------------ saving */

static size_t meta_entry_bytes(const weights_meta *m) {
    return 4 + strlen(m->key) + 1 + 4 + strlen(m->value) + 1;
}
static size_t tensor_entry_bytes(const weights_tensor *t) {
    return 4 + strlen(t->name) + 1 + 4 + 4 + 4 * (size_t)t->tensor->ndim + 8 + 8 + 4;
}

static uint8_t *put_string(uint8_t *p, const char *s) {
    size_t n = strlen(s);
    put_u32(p, (uint32_t)n);
    memcpy(p + 4, s, n);
    p[4 + n] = 0;
    return p + 4 + n + 1;
}

/* Stores t's data at dst in its on-disk dtype. */
static void encode_data(uint8_t *dst, const weights_tensor *t) {
    const float *src = t->tensor->data;
    size_t n = t->tensor->numel;
    if (t->dtype == NN_DTYPE_F32) {
        memcpy(dst, src, n * sizeof(float));
    } else {
        for (size_t i = 0; i < n; i++) {
            uint16_t h = f32_to_f16(src[i]);
            dst[2 * i] = (uint8_t)h;
            dst[2 * i + 1] = (uint8_t)(h >> 8);
        }
    }
}

/* The whole file in one zero-filled buffer (so padding is zero). */
static nn_status serialize(const nn_weights *w, uint8_t **out, size_t *out_len, nn_error *err) {
    uint64_t index_bytes = NNW_HEADER_BYTES;
    for (int i = 0; i < w->n_meta; i++) index_bytes += meta_entry_bytes(&w->meta[i]);
    for (int i = 0; i < w->n_tensors; i++) index_bytes += tensor_entry_bytes(&w->tensors[i]);
    uint64_t file_bytes = index_bytes;
    for (int i = 0; i < w->n_tensors; i++)
        file_bytes = align_up(file_bytes) +
                     (uint64_t)w->tensors[i].tensor->numel * dtype_bytes(w->tensors[i].dtype);
    if (index_bytes > NNW_MAX_INDEX_BYTES)
        return nn_error_set(err, NN_ERR_LIMIT, "index of %llu bytes exceeds the %llu-byte limit",
                            (unsigned long long)index_bytes,
                            (unsigned long long)NNW_MAX_INDEX_BYTES);
    if (file_bytes > SIZE_MAX)
        return nn_error_set(err, NN_ERR_LIMIT, "file of %llu bytes is too large",
                            (unsigned long long)file_bytes);
    uint8_t *buf = calloc(1, (size_t)file_bytes);
    if (!buf)
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory (%llu bytes) writing weights",
                            (unsigned long long)file_bytes);

    memcpy(buf, NNW_MAGIC, 4);
    put_u32(buf + 4, NNW_VERSION);
    put_u32(buf + 8, (uint32_t)w->n_meta);
    put_u32(buf + 12, (uint32_t)w->n_tensors);
    put_u64(buf + 16, index_bytes);
    put_u64(buf + 24, file_bytes);
    put_u32(buf + 32, 0); /* flags */
    uint8_t *p = buf + NNW_HEADER_BYTES;
    for (int i = 0; i < w->n_meta; i++) {
        p = put_string(p, w->meta[i].key);
        p = put_string(p, w->meta[i].value);
    }
    uint64_t data_at = index_bytes;
    for (int i = 0; i < w->n_tensors; i++) {
        const weights_tensor *t = &w->tensors[i];
        uint64_t bytes = (uint64_t)t->tensor->numel * dtype_bytes(t->dtype);
        data_at = align_up(data_at);
        encode_data(buf + data_at, t);
        p = put_string(p, t->name);
        put_u32(p, (uint32_t)t->dtype);
        put_u32(p + 4, (uint32_t)t->tensor->ndim);
        p += 8;
        for (int d = 0; d < t->tensor->ndim; d++, p += 4) put_u32(p, (uint32_t)t->tensor->shape[d]);
        put_u64(p, data_at);
        put_u64(p + 8, bytes);
        put_u32(p + 16, crc_update(0, buf + data_at, (size_t)bytes));
        p += 20;
        data_at += bytes;
    }
    put_u32(buf + 36, index_crc(buf, (size_t)index_bytes));
    *out = buf;
    *out_len = (size_t)file_bytes;
    return NN_OK;
}

typedef struct {
    const uint8_t *buf;
    size_t len;
} byte_span;

static bool write_span(FILE *f, void *arg) {
    byte_span *b = arg;
    return fwrite(b->buf, 1, b->len, f) == b->len;
}

nn_status nn_weights_save(const nn_weights *w, const char *path, nn_error *err) {
    if (!w || !path || !*path) return nn_error_set(err, NN_ERR_ARG, "nn_weights_save: no path");
    byte_span span = {0};
    uint8_t *buf = NULL;
    nn_status st = serialize(w, &buf, &span.len, err);
    if (st != NN_OK) return st;
    span.buf = buf;
    st = nn_write_file_atomic(path, write_span, &span, true, err);
    free(buf);
    return st;
}

/* ----------------------------------------------------------------- loading */

/* What a file that is not ours probably is, for the error message. */
static const char *guess_format(const uint8_t *b, size_t n) {
    if (n >= 4 && memcmp(b, "\x89PNG", 4) == 0) return "a PNG image";
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "a JPEG image";
    if (n >= 4 && memcmp(b, "\x89HDF", 4) == 0) return "an HDF5 file (Keras .h5?)";
    if (n >= 4 && memcmp(b, "PK\x03\x04", 4) == 0) return "a ZIP archive (a PyTorch .pt/.pth?)";
    if (n >= 2 && b[0] == 0x1F && b[1] == 0x8B) return "gzip-compressed data";
    if (n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5) return "a Python pickle (old PyTorch .pt?)";
    if (n >= 6 && memcmp(b, "\x93NUMPY", 6) == 0) return "a NumPy .npy array";
    if (n >= 4 && memcmp(b, "NNFX", 4) == 0) return "a test fixture (.nnfx)";
    size_t printable = 0, look = n < 64 ? n : 64;
    for (size_t i = 0; i < look; i++)
        if ((b[i] >= 0x20 && b[i] < 0x7F) || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')
            printable++;
    if (look > 0 && printable == look) return "text (a .prototxt or JSON?)";
    if (n >= 2 && (b[0] == 0x0A || b[0] == 0x12 || (b[0] == 0xA2 && b[1] == 0x06)))
        return "a protobuf message (a Caffe .caffemodel?)";
    if (n >= 1 && b[0] == 0x08) return "a protobuf message (an ONNX model?)";
    return NULL;
}

/* Reads walk the index [pos, end); every read checks it stays inside. */
typedef struct {
    const uint8_t *buf;
    size_t pos, end;
    const char *src; /* file name for messages, or "<memory>" */
    nn_error *err;
} reader;

static nn_status need(reader *r, uint64_t n, const char *what) {
    if (n > r->end - r->pos)
        return nn_error_set(r->err, NN_ERR_FORMAT,
                            "%s: byte %zu: %s (%llu bytes) runs past the end of the index at "
                            "byte %zu",
                            r->src, r->pos, what, (unsigned long long)n, r->end);
    return NN_OK;
}

static nn_status read_u32(reader *r, uint32_t *v, const char *what) {
    nn_status st = need(r, 4, what);
    if (st != NN_OK) return st;
    *v = get_u32(r->buf + r->pos);
    r->pos += 4;
    return NN_OK;
}

static nn_status read_u64(reader *r, uint64_t *v, const char *what) {
    nn_status st = need(r, 8, what);
    if (st != NN_OK) return st;
    *v = get_u64(r->buf + r->pos);
    r->pos += 8;
    return NN_OK;
}

/* A length-prefixed, NUL-terminated UTF-8 string; *s points into the buffer. */
static nn_status read_string(reader *r, const char **s, uint32_t max, bool empty_ok,
                             const char *what) {
    size_t at = r->pos;
    uint32_t n;
    nn_status st = read_u32(r, &n, what);
    if (st != NN_OK) return st;
    if (n > max)
        return nn_error_set(r->err, NN_ERR_LIMIT, "%s: byte %zu: %s is %u bytes, at most %u allowed",
                            r->src, at, what, n, max);
    if (n == 0 && !empty_ok)
        return nn_error_set(r->err, NN_ERR_FORMAT, "%s: byte %zu: %s is empty", r->src, at, what);
    st = need(r, (uint64_t)n + 1, what);
    if (st != NN_OK) return st;
    const uint8_t *p = r->buf + r->pos;
    if (p[n] != 0)
        return nn_error_set(r->err, NN_ERR_FORMAT, "%s: byte %zu: %s is not NUL-terminated",
                            r->src, r->pos + n, what);
    if (memchr(p, 0, n))
        return nn_error_set(r->err, NN_ERR_FORMAT, "%s: byte %zu: %s contains a NUL byte", r->src,
                            r->pos, what);
    if (!utf8_valid(p, n))
        return nn_error_set(r->err, NN_ERR_FORMAT, "%s: byte %zu: %s is not valid UTF-8", r->src,
                            r->pos, what);
    *s = (const char *)p;
    r->pos += (size_t)n + 1;
    return NN_OK;
}

/* One directory entry, pointing into the caller's buffer. */
typedef struct {
    const char *name;
    size_t entry_at;
    nn_dtype dtype;
    int ndim;
    int shape[NN_MAX_DIMS];
    size_t numel;
    uint64_t offset, bytes;
    uint32_t crc;
} tensor_desc;

typedef struct {
    const char *key, *value;
} meta_desc;

/* For the duplicate check: names sorted with where they were found. */
typedef struct {
    const char *name;
    size_t at;
} name_ref;

static int name_ref_cmp(const void *a, const void *b) {
    const name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->at < y->at ? -1 : x->at > y->at);
}

/* Index of a repeated name in refs (sorted in place), or -1. */
static long find_duplicate(name_ref *refs, size_t n) {
    if (n < 2) return -1;
    qsort(refs, n, sizeof *refs, name_ref_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(refs[i - 1].name, refs[i].name) == 0) return (long)i;
    return -1;
}

static nn_status read_tensor_entry(reader *r, tensor_desc *t, uint64_t expected_offset,
                                   uint64_t file_bytes) {
    t->entry_at = r->pos;
    nn_status st = read_string(r, &t->name, NNW_MAX_NAME_BYTES, false, "tensor name");
    if (st != NN_OK) return st;
    uint32_t dtype, ndim;
    size_t at = r->pos;
    if ((st = read_u32(r, &dtype, "dtype")) != NN_OK) return st;
    if (dtype != NN_DTYPE_F32 && dtype != NN_DTYPE_F16)
        return nn_error_set(r->err, NN_ERR_FORMAT,
                            "%s: byte %zu: tensor '%s': unknown dtype %u (0 = f32, 1 = f16)",
                            r->src, at, t->name, dtype);
    t->dtype = (nn_dtype)dtype;
    at = r->pos;
    if ((st = read_u32(r, &ndim, "ndim")) != NN_OK) return st;
    if (ndim > NN_MAX_DIMS)
        return nn_error_set(r->err, NN_ERR_LIMIT, "%s: byte %zu: tensor '%s' has %u dimensions, "
                            "at most %d allowed", r->src, at, t->name, ndim, NN_MAX_DIMS);
    t->ndim = (int)ndim;
    t->numel = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        uint32_t dim;
        at = r->pos;
        if ((st = read_u32(r, &dim, "shape")) != NN_OK) return st;
        if (dim == 0)
            return nn_error_set(r->err, NN_ERR_FORMAT, "%s: byte %zu: tensor '%s': dimension %u "
                                "is 0", r->src, at, t->name, d);
        if (dim > INT_MAX || t->numel > NN_MAX_TENSOR_ELEMS / dim)
            return nn_error_set(r->err, NN_ERR_LIMIT, "%s: byte %zu: tensor '%s': dimension %u "
                                "(%u) takes it past %zu elements", r->src, at, t->name, d, dim,
                                NN_MAX_TENSOR_ELEMS);
        t->shape[d] = (int)dim;
        t->numel *= dim;
    }
    at = r->pos;
    if ((st = read_u64(r, &t->offset, "data offset")) != NN_OK) return st;
    if (t->offset != expected_offset)
        return nn_error_set(r->err, NN_ERR_FORMAT, "%s: byte %zu: tensor '%s': data offset %llu, "
                            "expected %llu", r->src, at, t->name,
                            (unsigned long long)t->offset, (unsigned long long)expected_offset);
    at = r->pos;
    if ((st = read_u64(r, &t->bytes, "data length")) != NN_OK) return st;
    uint64_t want = (uint64_t)t->numel * dtype_bytes(t->dtype);
    if (t->bytes != want)
        return nn_error_set(r->err, NN_ERR_FORMAT, "%s: byte %zu: tensor '%s': data length %llu, "
                            "but %zu %s elements take %llu", r->src, at, t->name,
                            (unsigned long long)t->bytes, t->numel,
                            t->dtype == NN_DTYPE_F16 ? "f16" : "f32", (unsigned long long)want);
    if (t->offset + t->bytes > file_bytes)
        return nn_error_set(r->err, NN_ERR_FORMAT, "%s: byte %zu: tensor '%s': data [%llu, %llu) "
                            "ends past the end of the file (%llu bytes)", r->src, at, t->name,
                            (unsigned long long)t->offset,
                            (unsigned long long)(t->offset + t->bytes),
                            (unsigned long long)file_bytes);
    return read_u32(r, &t->crc, "data checksum");
}

/* Checks the header fields; fills the counts and sizes. */
static nn_status check_header(const uint8_t *b, size_t len, const char *src, uint32_t *n_meta,
                              uint32_t *n_tensors, uint64_t *index_bytes, nn_error *err) {
    if (len == 0) return nn_error_set(err, NN_ERR_TRUNCATED, "%s: empty file", src);
    size_t magic_len = len < 4 ? len : 4;
    if (memcmp(b, NNW_MAGIC, magic_len) != 0) {
        const char *guess = guess_format(b, len);
        if (guess)
            return nn_error_set(err, NN_ERR_FORMAT, "%s: not a .nnw weights file; it looks like %s",
                                src, guess);
        return nn_error_set(err, NN_ERR_FORMAT, "%s: not a .nnw weights file (starts with bytes "
                            "%02x %02x %02x %02x, expected \"NNWF\")", src, b[0],
                            len > 1 ? b[1] : 0, len > 2 ? b[2] : 0, len > 3 ? b[3] : 0);
    }
    if (len < NNW_HEADER_BYTES)
        return nn_error_set(err, NN_ERR_TRUNCATED, "%s: truncated: %zu bytes, the header alone "
                            "takes %u", src, len, NNW_HEADER_BYTES);
    uint32_t version = get_u32(b + 4);
    if (version != NNW_VERSION)
        return nn_error_set(err, NN_ERR_VERSION, "%s: byte 4: format version %u, this build reads "
                            "version %u", src, version, NNW_VERSION);
    *n_meta = get_u32(b + 8);
    *n_tensors = get_u32(b + 12);
    *index_bytes = get_u64(b + 16);
    uint64_t file_bytes = get_u64(b + 24);
    uint32_t flags = get_u32(b + 32);
    if (*index_bytes < NNW_HEADER_BYTES)
        return nn_error_set(err, NN_ERR_FORMAT, "%s: byte 16: index size %llu is smaller than the "
                            "%u-byte header", src, (unsigned long long)*index_bytes,
                            NNW_HEADER_BYTES);
    if (*index_bytes > NNW_MAX_INDEX_BYTES)
        return nn_error_set(err, NN_ERR_LIMIT, "%s: byte 16: index of %llu bytes exceeds the "
                            "%llu-byte limit", src, (unsigned long long)*index_bytes,
                            (unsigned long long)NNW_MAX_INDEX_BYTES);
    if (*index_bytes > len)
        return nn_error_set(err, NN_ERR_TRUNCATED, "%s: truncated: %zu bytes, but the header says "
                            "the index alone takes %llu", src, len,
                            (unsigned long long)*index_bytes);
    /* The checksum first: the fields below are only trusted once it holds. */
    uint32_t stored = get_u32(b + 36), computed = index_crc(b, (size_t)*index_bytes);
    if (stored != computed)
        return nn_error_set(err, NN_ERR_CHECKSUM, "%s: bytes 0-%llu: index (header, metadata, "
                            "tensor directory) checksum %08x, stored %08x", src,
                            (unsigned long long)*index_bytes - 1, computed, stored);
    if (flags != 0)
        return nn_error_set(err, NN_ERR_VERSION, "%s: byte 32: unknown flags %08x", src, flags);
    if (file_bytes > len)
        return nn_error_set(err, NN_ERR_TRUNCATED, "%s: truncated: %zu bytes, the header says "
                            "%llu", src, len, (unsigned long long)file_bytes);
    if (file_bytes < len)
        return nn_error_set(err, NN_ERR_FORMAT, "%s: byte %llu: %llu unexpected bytes after the "
                            "end of the data", src, (unsigned long long)file_bytes,
                            (unsigned long long)(len - file_bytes));
    if (*index_bytes > file_bytes)
        return nn_error_set(err, NN_ERR_FORMAT, "%s: byte 16: index size %llu exceeds the file "
                            "size %llu", src, (unsigned long long)*index_bytes,
                            (unsigned long long)file_bytes);
    uint64_t room = *index_bytes - NNW_HEADER_BYTES;
    if (*n_meta > NNW_MAX_META)
        return nn_error_set(err, NN_ERR_LIMIT, "%s: byte 8: %u metadata entries, at most %u "
                            "allowed", src, *n_meta, NNW_MAX_META);
    if (*n_tensors > NNW_MAX_TENSORS)
        return nn_error_set(err, NN_ERR_LIMIT, "%s: byte 12: %u tensors, at most %u allowed", src,
                            *n_tensors, NNW_MAX_TENSORS);
    if ((uint64_t)*n_meta * NNW_MIN_META_ENTRY + (uint64_t)*n_tensors * NNW_MIN_TENSOR_ENTRY > room)
        return nn_error_set(err, NN_ERR_LIMIT, "%s: bytes 8-15: %u metadata entries and %u "
                            "tensors cannot fit in a %llu-byte index", src, *n_meta, *n_tensors,
                            (unsigned long long)*index_bytes);
    return NN_OK;
}

/* Zero padding between data blocks; anything else means a corrupt file. */
static nn_status check_padding(const uint8_t *b, uint64_t from, uint64_t to, const char *src,
                               nn_error *err) {
    for (uint64_t i = from; i < to; i++)
        if (b[i] != 0)
            return nn_error_set(err, NN_ERR_FORMAT, "%s: byte %llu: padding is not zero", src,
                                (unsigned long long)i);
    return NN_OK;
}

static void decode_data(float *dst, const uint8_t *src, size_t numel, nn_dtype dtype) {
    if (dtype == NN_DTYPE_F32) {
        memcpy(dst, src, numel * sizeof(float));
    } else {
        for (size_t i = 0; i < numel; i++)
            dst[i] = f16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
    }
}

static nn_status parse(const uint8_t *b, size_t len, const char *src, nn_weights **out,
                       nn_error *err) {
    uint32_t n_meta = 0, n_tensors = 0;
    uint64_t index_bytes = 0;
    nn_status st = check_header(b, len, src, &n_meta, &n_tensors, &index_bytes, err);
    if (st != NN_OK) return st;

    /* counts are bounded by the index size now, so these allocations are too */
    meta_desc *meta = calloc((size_t)n_meta + 1, sizeof *meta);
    tensor_desc *tensors = calloc((size_t)n_tensors + 1, sizeof *tensors);
    name_ref *refs = calloc((size_t)(n_meta > n_tensors ? n_meta : n_tensors) + 1, sizeof *refs);
    nn_weights *w = NULL;
    if (!meta || !tensors || !refs) {
        st = nn_error_set(err, NN_ERR_NOMEM, "%s: out of memory", src);
        goto fail;
    }
    reader r = {.buf = b, .pos = NNW_HEADER_BYTES, .end = (size_t)index_bytes, .src = src,
                .err = err};
    for (uint32_t i = 0; i < n_meta; i++) {
        refs[i].at = r.pos;
        if ((st = read_string(&r, &meta[i].key, NNW_MAX_NAME_BYTES, false, "metadata key")) ||
            (st = read_string(&r, &meta[i].value, NNW_MAX_VALUE_BYTES, true, "metadata value")))
            goto fail;
        refs[i].name = meta[i].key;
    }
    long dup = find_duplicate(refs, n_meta);
    if (dup >= 0) {
        st = nn_error_set(err, NN_ERR_FORMAT, "%s: byte %zu: metadata key '%s' appears twice", src,
                          refs[dup].at, refs[dup].name);
        goto fail;
    }
    uint64_t data_end = index_bytes, file_bytes = len;
    for (uint32_t i = 0; i < n_tensors; i++) {
        if ((st = read_tensor_entry(&r, &tensors[i], align_up(data_end), file_bytes)) != NN_OK)
            goto fail;
        data_end = tensors[i].offset + tensors[i].bytes;
        refs[i] = (name_ref){tensors[i].name, tensors[i].entry_at};
    }
    if (r.pos != r.end) {
        st = nn_error_set(err, NN_ERR_FORMAT, "%s: byte %zu: %zu bytes left over at the end of "
                          "the index", src, r.pos, r.end - r.pos);
        goto fail;
    }
    if (data_end != file_bytes) {
        st = nn_error_set(err, NN_ERR_FORMAT, "%s: byte %llu: the file goes on past the last "
                          "tensor's data", src, (unsigned long long)data_end);
        goto fail;
    }
    dup = find_duplicate(refs, n_tensors);
    if (dup >= 0) {
        st = nn_error_set(err, NN_ERR_FORMAT, "%s: byte %zu: tensor name '%s' appears twice", src,
                          refs[dup].at, refs[dup].name);
        goto fail;
    }

    /* The data: padding, checksums, then copy out. */
    uint64_t prev_end = index_bytes;
    for (uint32_t i = 0; i < n_tensors; i++) {
        const tensor_desc *t = &tensors[i];
        if ((st = check_padding(b, prev_end, t->offset, src, err)) != NN_OK) goto fail;
        uint32_t crc = crc_update(0, b + t->offset, (size_t)t->bytes);
        if (crc != t->crc) {
            st = nn_error_set(err, NN_ERR_CHECKSUM, "%s: bytes %llu-%llu: data of tensor '%s' "
                              "fails its checksum (%08x, stored %08x)", src,
                              (unsigned long long)t->offset,
                              (unsigned long long)(t->offset + t->bytes - 1), t->name, crc, t->crc);
            goto fail;
        }
        prev_end = t->offset + t->bytes;
    }
    w = nn_weights_create();
    if (!w) {
        st = nn_error_set(err, NN_ERR_NOMEM, "%s: out of memory", src);
        goto fail;
    }
    for (uint32_t i = 0; i < n_meta; i++)
        if ((st = nn_weights_set_meta(w, meta[i].key, meta[i].value, err)) != NN_OK) goto fail;
    for (uint32_t i = 0; i < n_tensors; i++) {
        const tensor_desc *t = &tensors[i];
        nn_tensor *tensor = nn_tensor_new(t->ndim, t->shape);
        char *name = strdup(t->name);
        if (!tensor || !name) {
            nn_tensor_free(tensor);
            free(name);
            st = nn_error_set(err, NN_ERR_NOMEM, "%s: out of memory for tensor '%s' (%zu elements)",
                              src, t->name, t->numel);
            goto fail;
        }
        decode_data(tensor->data, b + t->offset, t->numel, t->dtype);
        if ((st = push_tensor(w, name, tensor, t->dtype, err)) != NN_OK) goto fail;
    }
    free(meta);
    free(tensors);
    free(refs);
    *out = w;
    return NN_OK;

fail:
    nn_weights_free(w);
    free(meta);
    free(tensors);
    free(refs);
    return st;
}

nn_status nn_weights_load_memory(const void *buf, size_t len, nn_weights **out, nn_error *err) {
    if (!out || (!buf && len > 0))
        return nn_error_set(err, NN_ERR_ARG, "nn_weights_load_memory: NULL argument");
    *out = NULL;
    static const uint8_t empty[1] = {0};
    return parse(buf ? buf : empty, len, "<memory>", out, err);
}

nn_status nn_weights_load(const char *path, nn_weights **out, nn_error *err) {
    if (!path || !out) return nn_error_set(err, NN_ERR_ARG, "nn_weights_load: NULL argument");
    *out = NULL;
    char *buf;
    size_t len;
    nn_status st = nn_read_file(path, SIZE_MAX / 2, &buf, &len, err);
    if (st != NN_OK) return st;
    st = parse((const uint8_t *)buf, len, path, out, err);
    free(buf);
    return st;
}
