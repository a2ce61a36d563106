/*
 * test_weights.c - the .nnw format (docs/weights-format.md): round trips,
 * f16 against NumPy, a file built by hand from the spec, and every way a
 * file can be broken (truncation at every length, bit flips, wrong magic or
 * version, absurd sizes, duplicates, bad strings), plus the atomic save.
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* ------------------------------------------------ helpers written from the spec */

/* Bitwise CRC-32 (zlib polynomial), independent of weights.c's table version. */
static uint32_t crc32_bitwise(const uint8_t *p, size_t n, uint32_t crc) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

typedef struct {
    uint8_t *b;
    size_t len, cap;
} bytes;

static void put(bytes *o, const void *p, size_t n) {
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2 + 64;
        o->b = realloc(o->b, o->cap);
        ck_assert_ptr_nonnull(o->b);
    }
    if (n) memcpy(o->b + o->len, p, n);
    o->len += n;
}
static void put_u32(bytes *o, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(o, b, 4);
}
static void put_u64(bytes *o, uint64_t v) {
    put_u32(o, (uint32_t)v);
    put_u32(o, (uint32_t)(v >> 32));
}
static void put_str(bytes *o, const char *s) {
    put_u32(o, (uint32_t)strlen(s));
    put(o, s, strlen(s) + 1);
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void set_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void set_u64(uint8_t *p, uint64_t v) {
    set_u32(p, (uint32_t)v);
    set_u32(p + 4, (uint32_t)(v >> 32));
}

/* Recomputes the index CRC after a test edited the index on purpose. */
static void fix_index_crc(uint8_t *file) {
    size_t index_bytes = (size_t)get_u32(file + 16); /* small test files */
    uint32_t crc = crc32_bitwise(file, 36, 0);
    crc = crc32_bitwise(file + 40, index_bytes - 40, crc);
    set_u32(file + 36, crc);
}

/* A whole file from a hand-made index body (metadata + directory) and data
 * area (which must start at align64(40 + body) and include its padding). */
static bytes make_file(const bytes *body, uint32_t n_meta, uint32_t n_tensors,
                       const bytes *data) {
    bytes f = {0};
    uint64_t index_bytes = 40 + body->len;
    put(&f, "NNWF", 4);
    put_u32(&f, 1);
    put_u32(&f, n_meta);
    put_u32(&f, n_tensors);
    put_u64(&f, index_bytes);
    put_u64(&f, index_bytes + (data ? data->len : 0));
    put_u32(&f, 0);
    put_u32(&f, 0);
    put(&f, body->b, body->len);
    if (data) put(&f, data->b, data->len);
    fix_index_crc(f.b);
    return f;
}

static nn_status load_bytes(const uint8_t *b, size_t len, nn_weights **w, nn_error *err) {
    /* an exact-size copy, so ASan sees any read past the end */
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, b, len);
    nn_status st = nn_weights_load_memory(copy, len, w, err);
    free(copy);
    return st;
}

/* A temporary directory per test case, made and removed by the parent
 * process (an unchecked fixture), so failing tests leave nothing behind. */
static char tmp_dir[64];
static void make_tmp_dir(void) {
    strcpy(tmp_dir, "/tmp/nnw_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}
static void remove_tmp_dir(void) {
    DIR *d = opendir(tmp_dir);
    if (!d) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", tmp_dir, e->d_name);
        if (rmdir(path) != 0) unlink(path);
    }
    closedir(d);
    rmdir(tmp_dir);
}
/* Number of entries in tmp_dir whose name contains ".tmp." */
static int count_temp_files(void) {
    DIR *d = opendir(tmp_dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static uint8_t *read_whole(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len + 1);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

/* A small weights object: 2 metadata entries, an f32 [2,3,4], an f16 [5]
 * and an f32 scalar. */
static nn_weights *small_weights(void) {
    nn_weights *w = nn_weights_create();
    nn_error err;
    ck_assert_int_eq(nn_weights_set_meta(w, "arch", "ssd300-mobilenet", &err), NN_OK);
    ck_assert_int_eq(nn_weights_set_meta(w, "classes", "mask,no_mask", &err), NN_OK);
    nn_tensor *a = tu_param(3, (int[]){2, 3, 4}, -2, 2, 11);
    nn_tensor *b = tu_param(1, (int[]){5}, -1, 1, 12);
    int no_dims[1] = {0};
    nn_tensor *c = nn_tensor_new(0, no_dims);
    c->data[0] = 42.5f;
    ck_assert_int_eq(nn_weights_add(w, "conv1.weight", a, NN_DTYPE_F32, &err), NN_OK);
    ck_assert_int_eq(nn_weights_add(w, "conv1.bias", b, NN_DTYPE_F16, &err), NN_OK);
    ck_assert_int_eq(nn_weights_add(w, "scale", c, NN_DTYPE_F32, &err), NN_OK);
    nn_tensor_free(a);
    nn_tensor_free(b);
    nn_tensor_free(c);
    return w;
}

/* small_weights() as file bytes. */
static uint8_t *small_file(size_t *len) {
    nn_weights *w = small_weights();
    char path[128];
    snprintf(path, sizeof path, "%s/small.nnw", tmp_dir);
    nn_error err;
    ck_assert_msg(nn_weights_save(w, path, &err) == NN_OK, "%s", err.msg);
    nn_weights_free(w);
    return read_whole(path, len);
}

/* ---------------------------------------------------------------- round trips */

START_TEST(round_trip_f32_and_meta) {
    nn_weights *w = nn_weights_create();
    nn_error err;
    nn_tensor *t1 = tu_param(4, (int[]){3, 2, 5, 7}, -100, 100, 1);
    nn_tensor *t2 = tu_param(2, (int[]){1, 1}, -1, 1, 2);
    t1->data[0] = -0.0f;
    t1->data[1] = INFINITY;
    t1->data[2] = 1e-40f; /* float32 subnormal survives f32 storage */
    ck_assert_int_eq(nn_weights_add(w, "backbone.conv1.weight", t1, NN_DTYPE_F32, &err), NN_OK);
    ck_assert_int_eq(nn_weights_add(w, "héad/ünïcode", t2, NN_DTYPE_F32, &err), NN_OK);
    ck_assert_int_eq(nn_weights_set_meta(w, "input_size", "300x300", &err), NN_OK);
    ck_assert_int_eq(nn_weights_set_meta(w, "empty", "", &err), NN_OK);
    ck_assert_int_eq(nn_weights_set_meta(w, "classes", "ünïcode ✓ 😷", &err), NN_OK);
    ck_assert_int_eq(nn_weights_set_meta(w, "input_size", "320x320", &err), NN_OK); /* replaces */
    ck_assert_int_eq(nn_weights_meta_count(w), 3);

    char path[128];
    snprintf(path, sizeof path, "%s/rt.nnw", tmp_dir);
    ck_assert_msg(nn_weights_save(w, path, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(count_temp_files(), 0);

    nn_weights *r = NULL;
    ck_assert_msg(nn_weights_load(path, &r, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(nn_weights_count(r), 2);
    ck_assert_str_eq(nn_weights_name(r, 0), "backbone.conv1.weight");
    ck_assert_str_eq(nn_weights_name(r, 1), "héad/ünïcode");
    const nn_tensor *l1 = nn_weights_find(r, "backbone.conv1.weight");
    ck_assert_ptr_nonnull(l1);
    ck_assert(nn_tensor_same_shape(l1, t1));
    ck_assert_int_eq(memcmp(l1->data, t1->data, t1->numel * sizeof(float)), 0); /* bit exact */
    ck_assert_ptr_eq(nn_weights_tensor(r, 1), nn_weights_find(r, "héad/ünïcode"));
    ck_assert_float_eq(nn_weights_tensor(r, 1)->data[0], t2->data[0]);
    ck_assert_ptr_null(nn_weights_find(r, "missing"));
    ck_assert_ptr_null(nn_weights_tensor(r, 2));
    ck_assert_ptr_null(nn_weights_name(r, -1));

    ck_assert_int_eq(nn_weights_meta_count(r), 3);
    ck_assert_str_eq(nn_weights_meta(r, "input_size"), "320x320");
    ck_assert_str_eq(nn_weights_meta(r, "empty"), "");
    ck_assert_str_eq(nn_weights_meta(r, "classes"), "ünïcode ✓ 😷");
    ck_assert_ptr_null(nn_weights_meta(r, "nope"));
    ck_assert_str_eq(nn_weights_meta_key(r, 0), "input_size");
    ck_assert_ptr_null(nn_weights_meta_key(r, 3));

    nn_weights_free(r);
    nn_weights_free(w);
    nn_tensor_free(t1);
    nn_tensor_free(t2);
}
END_TEST

/* The writer's bytes equal a file assembled by hand from the spec. */
START_TEST(writer_matches_spec) {
    size_t len;
    uint8_t *file = small_file(&len);
    nn_weights *w = small_weights();

    bytes body = {0}, data = {0};
    put_str(&body, "arch");
    put_str(&body, "ssd300-mobilenet");
    put_str(&body, "classes");
    put_str(&body, "mask,no_mask");
    /* directory: offsets follow from the index size, so compute it first */
    size_t index_bytes = 40 + body.len + (4 + 12 + 1 + 8 + 12 + 20) + (4 + 10 + 1 + 8 + 4 + 20) +
                         (4 + 5 + 1 + 8 + 0 + 20);
    const char *names[3] = {"conv1.weight", "conv1.bias", "scale"};
    uint32_t dtypes[3] = {0, 1, 0};
    size_t end = index_bytes;
    for (int i = 0; i < 3; i++) {
        const nn_tensor *t = nn_weights_find(w, names[i]);
        size_t start = (end + 63) / 64 * 64;
        while (data.len + index_bytes < start) put(&data, "", 1); /* zero padding */
        size_t data_at = data.len;
        for (size_t k = 0; k < t->numel; k++) {
            if (dtypes[i] == 0) {
                uint32_t bits;
                memcpy(&bits, &t->data[k], 4);
                put_u32(&data, bits);
            } else { /* f16 bits from the file; their values are checked in f16_matches_numpy */
                uint16_t h = (uint16_t)(file[start + 2 * k] | file[start + 2 * k + 1] << 8);
                uint8_t b2[2] = {(uint8_t)h, (uint8_t)(h >> 8)};
                put(&data, b2, 2);
            }
        }
        put_str(&body, names[i]);
        put_u32(&body, dtypes[i]);
        put_u32(&body, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) put_u32(&body, (uint32_t)t->shape[d]);
        put_u64(&body, start);
        put_u64(&body, data.len - data_at);
        put_u32(&body, crc32_bitwise(data.b + data_at, data.len - data_at, 0));
        end = start + (data.len - data_at);
    }
    ck_assert_uint_eq(40 + body.len, index_bytes);
    bytes expect = make_file(&body, 2, 3, &data);
    ck_assert_uint_eq(len, expect.len);
    for (size_t i = 0; i < len; i++)
        ck_assert_msg(file[i] == expect.b[i], "byte %zu: writer %02x, spec %02x", i, file[i],
                      expect.b[i]);
    /* and the CRC implementation agrees with the standard check value */
    ck_assert_uint_eq(crc32_bitwise((const uint8_t *)"123456789", 9, 0), 0xCBF43926u);
    free(body.b);
    free(data.b);
    free(expect.b);
    free(file);
    nn_weights_free(w);
}
END_TEST

/* Large tensors (the fast CRC path) carry the standard CRC-32 too; odd sizes
 * exercise the tail of the word loop. */
START_TEST(large_tensor_crc_matches_spec) {
    const int counts[] = {1001, 4096 + 3, 70001};
    for (int c = 0; c < 3; c++) {
        for (int dtype = 0; dtype < 2; dtype++) {
            nn_weights *w = nn_weights_create();
            nn_tensor *t = tu_param(1, (int[]){counts[c]}, -3, 3, (uint64_t)c + 20);
            nn_error err;
            ck_assert_int_eq(nn_weights_add(w, "t", t, (nn_dtype)dtype, &err), NN_OK);
            char path[128];
            snprintf(path, sizeof path, "%s/large.nnw", tmp_dir);
            ck_assert_msg(nn_weights_save(w, path, &err) == NN_OK, "%s", err.msg);
            size_t len;
            uint8_t *file = read_whole(path, &len);
            /* single entry after the 40-byte header: u32 1, "t\0", dtype, ndim, shape, offset, bytes, crc */
            const uint8_t *e = file + 40 + 4 + 2 + 4 + 4 + 4;
            uint64_t offset = get_u32(e), nbytes = get_u32(e + 8);
            ck_assert_uint_eq(nbytes, (uint64_t)counts[c] * (dtype ? 2 : 4));
            ck_assert_uint_eq(offset + nbytes, len);
            ck_assert_uint_eq(get_u32(e + 16), crc32_bitwise(file + offset, nbytes, 0));
            file[offset + nbytes / 2 + 1] ^= 0x40;
            nn_weights *r = NULL;
            ck_assert_int_eq(load_bytes(file, len, &r, &err), NN_ERR_CHECKSUM);
            free(file);
            nn_tensor_free(t);
            nn_weights_free(w);
        }
    }
}
END_TEST

/* f16 storage equals NumPy's float32 -> float16 -> float32. */
START_TEST(f16_matches_numpy) {
    tu_fixture *fx = tu_fixture_load("fixtures/f16_values.nnfx");
    ck_assert_ptr_nonnull(fx);
    nn_tensor *x = tu_fixture_tensor(fx, "x");
    size_t n;
    const float *y = tu_fixture_data(fx, "y", &n);
    nn_weights *w = nn_weights_create();
    nn_error err;
    ck_assert_int_eq(nn_weights_add(w, "x", x, NN_DTYPE_F16, &err), NN_OK);
    char path[128];
    snprintf(path, sizeof path, "%s/f16.nnw", tmp_dir);
    ck_assert_msg(nn_weights_save(w, path, &err) == NN_OK, "%s", err.msg);
    nn_weights *r = NULL;
    ck_assert_msg(nn_weights_load(path, &r, &err) == NN_OK, "%s", err.msg);
    const nn_tensor *got = nn_weights_find(r, "x");
    ck_assert_uint_eq(got->numel, n);
    for (size_t i = 0; i < n; i++) {
        /* bit-exact, including the sign of zero and infinities */
        ck_assert_msg(memcmp(&got->data[i], &y[i], 4) == 0, "x=%.9g: f16 gives %.9g, NumPy %.9g",
                      x->data[i], got->data[i], y[i]);
        /* and within half an f16 ulp for the normal range */
        float a = fabsf(x->data[i]);
        if (a >= 6.103515625e-05f && a <= 65504.0f)
            ck_assert(fabsf(got->data[i] - x->data[i]) <= a * (1.0f / 2048.0f));
    }
    nn_weights_free(r);
    nn_weights_free(w);
    nn_tensor_free(x);
    tu_fixture_free(fx);
}
END_TEST

/* Specific values by hand, NaN included. */
START_TEST(f16_special_values) {
    float in[] = {65504.0f, 65520.0f, 6e-8f, -0.0f, INFINITY, -INFINITY, NAN, -NAN,
                  1.0f + 1.0f / 2048.0f, 2.5e-8f};
    nn_tensor *t = nn_tensor_new1((int)(sizeof in / sizeof in[0]));
    memcpy(t->data, in, sizeof in);
    nn_weights *w = nn_weights_create();
    nn_error err;
    ck_assert_int_eq(nn_weights_add(w, "v", t, NN_DTYPE_F16, &err), NN_OK);
    char path[128];
    snprintf(path, sizeof path, "%s/special.nnw", tmp_dir);
    ck_assert_msg(nn_weights_save(w, path, &err) == NN_OK, "%s", err.msg);
    nn_weights *r = NULL;
    ck_assert_msg(nn_weights_load(path, &r, &err) == NN_OK, "%s", err.msg);
    const float *v = nn_weights_find(r, "v")->data;
    ck_assert(v[0] == 65504.0f);                    /* largest f16 */
    ck_assert(isinf(v[1]) && v[1] > 0);             /* halfway past it rounds to inf */
    ck_assert(v[2] == 5.9604644775390625e-08f);     /* 2^-24, smallest subnormal */
    ck_assert(v[3] == 0.0f && signbit(v[3]));       /* -0 keeps its sign */
    ck_assert(isinf(v[4]) && v[4] > 0);
    ck_assert(isinf(v[5]) && v[5] < 0);
    ck_assert(isnan(v[6]));
    ck_assert(isnan(v[7]) && signbit(v[7]));
    ck_assert(v[8] == 1.0f);                        /* tie goes to even */
    ck_assert(v[9] == 0.0f && !signbit(v[9]));      /* below 2^-25: zero */
    nn_weights_free(r);
    nn_weights_free(w);
    nn_tensor_free(t);
}
END_TEST

/* ------------------------------------------------------------ broken files */

START_TEST(every_truncation_is_reported) {
    size_t len;
    uint8_t *file = small_file(&len);
    nn_weights *w = NULL;
    nn_error err;
    ck_assert_msg(load_bytes(file, len, &w, &err) == NN_OK, "%s", err.msg);
    nn_weights_free(w);
    for (size_t cut = 0; cut < len; cut++) {
        w = (nn_weights *)1;
        nn_status st = load_bytes(file, cut, &w, &err);
        ck_assert_msg(st == NN_ERR_TRUNCATED, "cut at %zu: %s (%s)", cut, nn_status_str(st),
                      err.msg);
        ck_assert_ptr_null(w);
    }
    /* and one byte too many */
    uint8_t *longer = calloc(1, len + 1);
    memcpy(longer, file, len);
    ck_assert_int_eq(load_bytes(longer, len + 1, &w, &err), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "byte"));
    free(longer);
    free(file);
}
END_TEST

/* One flipped bit anywhere is caught; in tensor data the message names the
 * tensor. */
START_TEST(every_bit_flip_is_caught) {
    size_t len;
    uint8_t *file = small_file(&len);
    size_t index_bytes = get_u32(file + 16);
    const char *names[3] = {"conv1.weight", "conv1.bias", "scale"};
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            file[i] ^= (uint8_t)(1u << bit);
            nn_weights *w = NULL;
            nn_error err;
            nn_status st = load_bytes(file, len, &w, &err);
            file[i] ^= (uint8_t)(1u << bit);
            ck_assert_msg(st != NN_OK, "flip of bit %d at byte %zu went unnoticed", bit, i);
            ck_assert_ptr_null(w);
            if (i < 4) ck_assert_int_eq(st, NN_ERR_FORMAT);
            else if (i < 8) ck_assert_int_eq(st, NN_ERR_VERSION);
            else if (i >= index_bytes) {
                /* data or padding: which tensor's bytes are these? */
                ck_assert_msg(st == NN_ERR_CHECKSUM || st == NN_ERR_FORMAT, "byte %zu: %s", i,
                              err.msg);
                if (st == NN_ERR_CHECKSUM) {
                    bool named = false;
                    for (int k = 0; k < 3; k++) {
                        char quoted[64];
                        snprintf(quoted, sizeof quoted, "'%s'", names[k]);
                        if (strstr(err.msg, quoted)) named = true;
                    }
                    ck_assert_msg(named, "byte %zu: message names no tensor: %s", i, err.msg);
                } else {
                    ck_assert_ptr_nonnull(strstr(err.msg, "padding"));
                }
            }
        }
    }
    free(file);
}
END_TEST

/* Flipping data of a known tensor names exactly that tensor. */
START_TEST(checksum_names_the_tensor) {
    size_t len;
    uint8_t *file = small_file(&len);
    file[len - 1] ^= 0x01; /* last byte: the scalar "scale" */
    nn_weights *w = NULL;
    nn_error err;
    ck_assert_int_eq(load_bytes(file, len, &w, &err), NN_ERR_CHECKSUM);
    ck_assert_msg(strstr(err.msg, "'scale'") != NULL, "%s", err.msg);
    ck_assert_int_eq(err.code, NN_ERR_CHECKSUM);
    free(file);
}
END_TEST

START_TEST(wrong_magic_says_what_it_is) {
    nn_weights *w = NULL;
    nn_error err;
    const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
    ck_assert_int_eq(load_bytes(png, sizeof png, &w, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "PNG") != NULL, "%s", err.msg);
    const uint8_t caffe[] = {0x0a, 0x05, 'V', 'G', 'G', '1', '6', 0xa2, 0x06, 0x30};
    ck_assert_int_eq(load_bytes(caffe, sizeof caffe, &w, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "caffemodel") != NULL, "%s", err.msg);
    const char *text = "name: \"VGG_ILSVRC_16_layers\"\nlayer {\n";
    ck_assert_int_eq(load_bytes((const uint8_t *)text, strlen(text), &w, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "text") != NULL, "%s", err.msg);
    const uint8_t zip[] = {'P', 'K', 3, 4, 20, 0, 0, 0};
    ck_assert_int_eq(load_bytes(zip, sizeof zip, &w, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "ZIP") != NULL, "%s", err.msg);
    const uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef, 0, 1, 2};
    ck_assert_int_eq(load_bytes(junk, sizeof junk, &w, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "de ad be ef") != NULL, "%s", err.msg);
    ck_assert_int_eq(load_bytes(junk, 0, &w, &err), NN_ERR_TRUNCATED);
    ck_assert_ptr_null(w);
}
END_TEST

START_TEST(wrong_version) {
    size_t len;
    uint8_t *file = small_file(&len);
    set_u32(file + 4, 2);
    fix_index_crc(file); /* a genuine version-2 file, not a corrupt one */
    nn_weights *w = NULL;
    nn_error err;
    ck_assert_int_eq(load_bytes(file, len, &w, &err), NN_ERR_VERSION);
    ck_assert_msg(strstr(err.msg, "version 2") != NULL, "%s", err.msg);
    set_u32(file + 4, 1);
    set_u32(file + 32, 1); /* unknown flag */
    fix_index_crc(file);
    ck_assert_int_eq(load_bytes(file, len, &w, &err), NN_ERR_VERSION);
    free(file);
}
END_TEST

/* One hand-made tensor entry with the given fields (no data). */
static void put_tensor_entry(bytes *body, const char *name, uint32_t dtype, uint32_t ndim,
                             const uint32_t *shape, uint64_t offset, uint64_t nbytes) {
    put_str(body, name);
    put_u32(body, dtype);
    put_u32(body, ndim);
    for (uint32_t d = 0; d < ndim; d++) put_u32(body, shape[d]);
    put_u64(body, offset);
    put_u64(body, nbytes);
    put_u32(body, 0);
}

static nn_status load_built(const bytes *body, uint32_t n_meta, uint32_t n_tensors,
                            const bytes *data, nn_error *err) {
    bytes f = make_file(body, n_meta, n_tensors, data);
    nn_weights *w = NULL;
    nn_status st = load_bytes(f.b, f.len, &w, err);
    nn_weights_free(w);
    free(f.b);
    return st;
}

/* Sizes no real file has are refused with NN_ERR_LIMIT, before any
 * allocation of that size (the files here are all tiny and CRC-valid). */
START_TEST(absurd_sizes_hit_limits) {
    nn_error err;
    bytes body = {0};
    /* a count far beyond the limit */
    ck_assert_int_eq(load_built(&body, 0, 0xFFFFFFFFu, NULL, &err), NN_ERR_LIMIT);
    ck_assert_int_eq(load_built(&body, 0xFFFFFFFFu, 0, NULL, &err), NN_ERR_LIMIT);
    /* a plausible count that cannot fit in the index */
    put_u64(&body, 0);
    ck_assert_int_eq(load_built(&body, 0, 1000, NULL, &err), NN_ERR_LIMIT);
    free(body.b);

    /* 65536 x 65536 x 4 elements */
    body = (bytes){0};
    uint32_t huge[3] = {65536, 65536, 4};
    put_tensor_entry(&body, "huge", 0, 3, huge, 128, (uint64_t)1 << 36);
    ck_assert_int_eq(load_built(&body, 0, 1, NULL, &err), NN_ERR_LIMIT);
    ck_assert_msg(strstr(err.msg, "'huge'") != NULL, "%s", err.msg);
    free(body.b);

    /* 7 dimensions */
    body = (bytes){0};
    uint32_t seven[7] = {1, 1, 1, 1, 1, 1, 1};
    put_tensor_entry(&body, "t", 0, 7, seven, 128, 4);
    ck_assert_int_eq(load_built(&body, 0, 1, NULL, &err), NN_ERR_LIMIT);
    free(body.b);

    /* a 4 GiB name length */
    body = (bytes){0};
    put_u32(&body, 0xFFFFFFF0u);
    put(&body, "name", 5);
    put_u32(&body, 0);
    put_u32(&body, 0);
    put_u64(&body, 0);
    put_u64(&body, 0);
    put_u32(&body, 0);
    put(&body, "pad-pad-pad-pad", 16);
    ck_assert_int_eq(load_built(&body, 0, 1, NULL, &err), NN_ERR_LIMIT);
    free(body.b);

    /* a 100 MB metadata value */
    body = (bytes){0};
    put_str(&body, "key");
    put_u32(&body, 100u << 20);
    put(&body, "v", 2);
    ck_assert_int_eq(load_built(&body, 1, 0, NULL, &err), NN_ERR_LIMIT);
    free(body.b);

    /* an index claiming a terabyte */
    body = (bytes){0};
    bytes f = make_file(&body, 0, 0, NULL);
    set_u64(f.b + 16, (uint64_t)1 << 40);
    set_u64(f.b + 24, (uint64_t)1 << 41);
    nn_weights *w = NULL;
    ck_assert_int_eq(load_bytes(f.b, f.len, &w, &err), NN_ERR_LIMIT);
    free(f.b);
}
END_TEST

START_TEST(bad_entries_are_format_errors) {
    nn_error err;
    bytes body = {0}, data = {0};
    uint32_t shape1[1] = {2};
    float two[2] = {1.0f, 2.0f};

    /* the minimal valid file: no metadata, no tensors */
    ck_assert_int_eq(load_built(&body, 0, 0, NULL, &err), NN_OK);

    /* duplicate tensor names (each entry otherwise valid) */
    for (int i = 0; i < 2; i++) put_tensor_entry(&body, "w", 0, 1, shape1, 0, 8);
    size_t index_bytes = 40 + body.len, first = (index_bytes + 63) / 64 * 64;
    while (data.len < first - index_bytes) put(&data, "", 1);
    put(&data, two, 8);
    while (data.len < first + 64 - index_bytes) put(&data, "", 1);
    put(&data, two, 8);
    /* patch offsets and CRCs in place: entry = 4+2 name, 4 dtype, 4 ndim, 4 shape, 8, 8, 4 */
    size_t entry = 4 + 2 + 4 + 4 + 4 + 8 + 8 + 4;
    for (int i = 0; i < 2; i++) {
        uint8_t *e = body.b + (size_t)i * entry;
        set_u64(e + 18, first + (size_t)i * 64);
        set_u32(e + 34, crc32_bitwise((const uint8_t *)two, 8, 0));
    }
    ck_assert_int_eq(load_built(&body, 0, 2, &data, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "'w' appears twice") != NULL, "%s", err.msg);
    /* the same file with distinct names loads */
    body.b[4] = 'v';
    ck_assert_msg(load_built(&body, 0, 2, &data, &err) == NN_OK, "%s", err.msg);
    /* nonzero padding */
    data.b[0] = 1;
    ck_assert_int_eq(load_built(&body, 0, 2, &data, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "padding") != NULL, "%s", err.msg);
    data.b[0] = 0;
    /* misplaced offset */
    set_u64(body.b + 18, first + 64);
    ck_assert_int_eq(load_built(&body, 0, 2, &data, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "offset") != NULL, "%s", err.msg);
    set_u64(body.b + 18, first);
    /* wrong byte length for the shape */
    set_u64(body.b + 26, 6);
    ck_assert_int_eq(load_built(&body, 0, 2, &data, &err), NN_ERR_FORMAT);
    set_u64(body.b + 26, 8);
    /* unknown dtype */
    set_u32(body.b + 6, 7);
    ck_assert_int_eq(load_built(&body, 0, 2, &data, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "dtype") != NULL, "%s", err.msg);
    set_u32(body.b + 6, 0);
    /* zero dimension */
    set_u32(body.b + 14, 0);
    ck_assert_int_eq(load_built(&body, 0, 2, &data, &err), NN_ERR_FORMAT);
    set_u32(body.b + 14, 2);
    /* name not NUL-terminated */
    body.b[5] = 'x';
    ck_assert_int_eq(load_built(&body, 0, 2, &data, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "NUL-terminated") != NULL, "%s", err.msg);
    body.b[5] = 0;
    /* one tensor fewer than the directory holds: leftover index bytes */
    ck_assert_int_eq(load_built(&body, 0, 1, &data, &err), NN_ERR_FORMAT);
    free(body.b);
    free(data.b);

    /* metadata: duplicate keys, embedded NUL, invalid UTF-8, empty key */
    body = (bytes){0};
    put_str(&body, "k");
    put_str(&body, "one");
    put_str(&body, "k");
    put_str(&body, "two");
    ck_assert_int_eq(load_built(&body, 2, 0, NULL, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "'k' appears twice") != NULL, "%s", err.msg);
    ck_assert_msg(load_built(&body, 1, 0, NULL, &err) == NN_ERR_FORMAT, "leftover not caught");
    body.b[body.len - 3] = 0; /* "two" -> "t\0o" */
    body.b[4 + 2 + 4 + 4 + 4] = 'j'; /* second key 'k' -> 'j' */
    ck_assert_int_eq(load_built(&body, 2, 0, NULL, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "NUL byte") != NULL, "%s", err.msg);
    body.b[body.len - 3] = 0xC0; /* overlong encoding start */
    ck_assert_int_eq(load_built(&body, 2, 0, NULL, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "UTF-8") != NULL, "%s", err.msg);
    free(body.b);
    body = (bytes){0};
    put_str(&body, "");
    put_str(&body, "v");
    ck_assert_int_eq(load_built(&body, 1, 0, NULL, &err), NN_ERR_FORMAT);
    free(body.b);
}
END_TEST

/* Random corruption with a recomputed index CRC reaches the deep checks;
 * whatever happens, no crash, no leak (ASan), and a clean error or success. */
START_TEST(random_index_corruption_never_crashes) {
    size_t len;
    uint8_t *file = small_file(&len);
    size_t index_bytes = get_u32(file + 16);
    uint8_t *work = malloc(len);
    uint64_t s = 99;
    int failures = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(work, file, len);
        int n_edits = 1 + round % 4;
        for (int e = 0; e < n_edits; e++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t at = 8 + (size_t)(s >> 33) % (index_bytes - 8);
            if (at >= 16 && at < 24) continue; /* keep index_bytes sane for fix_index_crc */
            if (at >= 36 && at < 40) continue;
            work[at] = (uint8_t)(s >> 20);
        }
        fix_index_crc(work);
        nn_weights *w = NULL;
        nn_error err = {0};
        nn_status st = load_bytes(work, len, &w, &err);
        if (st != NN_OK) {
            failures++;
            ck_assert_ptr_null(w);
            ck_assert_int_eq(err.code, st);
            ck_assert(err.msg[0] != '\0');
        }
        nn_weights_free(w);
    }
    ck_assert_int_gt(failures, 1000);
    free(work);
    free(file);
}
END_TEST

/* ------------------------------------------------------------- saving, API */

START_TEST(atomic_save_failures_leave_no_trace) {
    nn_weights *w = small_weights();
    nn_error err;
    char path[160];

    /* a directory that does not exist */
    snprintf(path, sizeof path, "%s/no/such/dir/w.nnw", tmp_dir);
    ck_assert_int_eq(nn_weights_save(w, path, &err), NN_ERR_IO);
    ck_assert_msg(strstr(err.msg, "no/such/dir") != NULL, "%s", err.msg);

    /* the target is a directory: the rename fails, the temp file goes away */
    snprintf(path, sizeof path, "%s/adir", tmp_dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ck_assert_int_eq(nn_weights_save(w, path, &err), NN_ERR_IO);
    ck_assert_int_eq(count_temp_files(), 0);
    struct stat sb;
    ck_assert(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));

    /* a write that fails half-way (file size limit): the old file survives */
    snprintf(path, sizeof path, "%s/model.nnw", tmp_dir);
    ck_assert_int_eq(nn_weights_save(w, path, &err), NN_OK);
    size_t old_len;
    uint8_t *old = read_whole(path, &old_len);

    nn_weights *big = nn_weights_create();
    nn_tensor *t = tu_param(1, (int[]){64 * 1024}, -1, 1, 5);
    ck_assert_int_eq(nn_weights_add(big, "big", t, NN_DTYPE_F32, &err), NN_OK);
    struct rlimit saved, small;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 4096;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN); /* get EFBIG, not a signal */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    nn_status st = nn_weights_save(big, path, &err);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, old_handler);
    ck_assert_int_eq(st, NN_ERR_IO);
    ck_assert_int_eq(count_temp_files(), 0);
    size_t now_len;
    uint8_t *now = read_whole(path, &now_len);
    ck_assert_uint_eq(now_len, old_len);
    ck_assert_int_eq(memcmp(now, old, old_len), 0);

    /* a successful save replaces the file and leaves no temp file */
    ck_assert_int_eq(nn_weights_save(big, path, &err), NN_OK);
    ck_assert_int_eq(count_temp_files(), 0);
    nn_weights *r = NULL;
    ck_assert_int_eq(nn_weights_load(path, &r, &err), NN_OK);
    ck_assert_ptr_nonnull(nn_weights_find(r, "big"));
    ck_assert_ptr_null(nn_weights_find(r, "conv1.weight"));

    nn_weights_free(r);
    free(now);
    free(old);
    nn_tensor_free(t);
    nn_weights_free(big);
    nn_weights_free(w);
}
END_TEST

START_TEST(load_errors_from_paths) {
    nn_weights *w = (nn_weights *)1;
    nn_error err;
    char path[160];
    snprintf(path, sizeof path, "%s/absent.nnw", tmp_dir);
    ck_assert_int_eq(nn_weights_load(path, &w, &err), NN_ERR_NOT_FOUND);
    ck_assert_ptr_null(w);
    ck_assert_msg(strstr(err.msg, "absent.nnw") != NULL, "%s", err.msg);
    ck_assert_int_eq(nn_weights_load(tmp_dir, &w, &err), NN_ERR_IO); /* a directory */

    /* a truncated file on disk names the file */
    size_t len;
    uint8_t *file = small_file(&len);
    snprintf(path, sizeof path, "%s/cut.nnw", tmp_dir);
    FILE *f = fopen(path, "wb");
    fwrite(file, 1, len / 2, f);
    fclose(f);
    ck_assert_int_eq(nn_weights_load(path, &w, &err), NN_ERR_TRUNCATED);
    ck_assert_msg(strstr(err.msg, "cut.nnw") != NULL, "%s", err.msg);
    free(file);
}
END_TEST

START_TEST(api_argument_checks) {
    nn_weights *w = nn_weights_create();
    nn_error err;
    nn_tensor *t = nn_tensor_new1(3);
    ck_assert_int_eq(nn_weights_add(w, "a", t, NN_DTYPE_F32, &err), NN_OK);
    ck_assert_int_eq(nn_weights_add(w, "a", t, NN_DTYPE_F16, &err), NN_ERR_ARG); /* duplicate */
    ck_assert_msg(strstr(err.msg, "'a'") != NULL, "%s", err.msg);
    ck_assert_int_eq(nn_weights_add(w, "", t, NN_DTYPE_F32, &err), NN_ERR_ARG);
    ck_assert_int_eq(nn_weights_add(w, NULL, t, NN_DTYPE_F32, &err), NN_ERR_ARG);
    ck_assert_int_eq(nn_weights_add(w, "b", NULL, NN_DTYPE_F32, &err), NN_ERR_ARG);
    ck_assert_int_eq(nn_weights_add(w, "b", t, (nn_dtype)5, &err), NN_ERR_ARG);
    ck_assert_int_eq(nn_weights_add(w, "\xff\xfe", t, NN_DTYPE_F32, &err), NN_ERR_ARG);
    char long_name[1100];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    ck_assert_int_eq(nn_weights_add(w, long_name, t, NN_DTYPE_F32, &err), NN_ERR_LIMIT);
    ck_assert_int_eq(nn_weights_set_meta(w, "", "v", &err), NN_ERR_ARG);
    ck_assert_int_eq(nn_weights_set_meta(w, "k", NULL, &err), NN_ERR_ARG);
    ck_assert_int_eq(nn_weights_set_meta(w, "k", "\xc0\xaf", &err), NN_ERR_ARG); /* overlong */
    ck_assert_int_eq(nn_weights_count(w), 1);
    ck_assert_int_eq(nn_weights_meta_count(w), 0);
    /* the copy is independent of the source tensor */
    t->data[0] = 5.0f;
    ck_assert_float_eq(nn_weights_find(w, "a")->data[0], 0.0f);
    ck_assert_int_eq(nn_weights_save(w, "", &err), NN_ERR_ARG);
    ck_assert_int_eq(nn_weights_load_memory(NULL, 0, NULL, &err), NN_ERR_ARG);
    ck_assert_int_eq(nn_weights_count(NULL), 0);
    ck_assert_ptr_null(nn_weights_find(NULL, "a"));
    nn_weights_free(NULL);
    nn_tensor_free(t);
    nn_weights_free(w);
}
END_TEST

Suite *weights_suite(void) {
    Suite *s = suite_create("weights");
    TCase *tc = tcase_create("round_trip");
    tcase_add_unchecked_fixture(tc, make_tmp_dir, remove_tmp_dir);
    tcase_add_test(tc, round_trip_f32_and_meta);
    tcase_add_test(tc, writer_matches_spec);
    tcase_add_test(tc, large_tensor_crc_matches_spec);
    tcase_add_test(tc, f16_matches_numpy);
    tcase_add_test(tc, f16_special_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("broken");
    tcase_add_unchecked_fixture(tc, make_tmp_dir, remove_tmp_dir);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_truncation_is_reported);
    tcase_add_test(tc, every_bit_flip_is_caught);
    tcase_add_test(tc, checksum_names_the_tensor);
    tcase_add_test(tc, wrong_magic_says_what_it_is);
    tcase_add_test(tc, wrong_version);
    tcase_add_test(tc, absurd_sizes_hit_limits);
    tcase_add_test(tc, bad_entries_are_format_errors);
    tcase_add_test(tc, random_index_corruption_never_crashes);
    suite_add_tcase(s, tc);

    tc = tcase_create("save");
    tcase_add_unchecked_fixture(tc, make_tmp_dir, remove_tmp_dir);
    tcase_add_test(tc, atomic_save_failures_leave_no_trace);
    tcase_add_test(tc, load_errors_from_paths);
    tcase_add_test(tc, api_argument_checks);
    suite_add_tcase(s, tc);
    return s;
}
