/* test_protobuf.c - the wire-format reader on hand-made byte strings:
 * varints (64-bit, negative int32, overlong), fixed32/64, strings, nesting,
 * packed values, unknown fields, every truncation of a small message. */
#include <stdlib.h>
#include <string.h>

#include "protobuf.h"
#include "testutil.h"

/* A copy in a buffer of exactly len bytes, so ASan flags any over-read. */
static uint8_t *exact_copy(const uint8_t *src, size_t len) {
    uint8_t *p = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(p);
    if (len) memcpy(p, src, len);
    return p;
}

static nn_status read_one_varint(const uint8_t *bytes, size_t len, uint64_t *v, nn_error *err) {
    uint8_t *buf = exact_copy(bytes, len);
    pb_reader r;
    pb_reader_init(&r, buf, len);
    nn_status st = pb_read_varint(&r, v, err);
    free(buf);
    return st;
}

START_TEST(varint_values) {
    nn_error err;
    uint64_t v;
    const uint8_t one[] = {0x05}, b300[] = {0xac, 0x02};
    const uint8_t max64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t big[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}; /* 2^63 */
    ck_assert_int_eq(read_one_varint(one, 1, &v, &err), NN_OK);
    ck_assert_uint_eq(v, 5);
    ck_assert_int_eq(read_one_varint(b300, 2, &v, &err), NN_OK);
    ck_assert_uint_eq(v, 300);
    ck_assert_int_eq(read_one_varint(max64, 10, &v, &err), NN_OK);
    ck_assert(v == UINT64_MAX);
    ck_assert_int_eq(read_one_varint(big, 10, &v, &err), NN_OK);
    ck_assert(v == (uint64_t)1 << 63);
    /* a non-minimal encoding of 1 is still valid protobuf */
    const uint8_t padded[] = {0x81, 0x80, 0x00};
    ck_assert_int_eq(read_one_varint(padded, 3, &v, &err), NN_OK);
    ck_assert_uint_eq(v, 1);
}
END_TEST

START_TEST(varint_overlong_and_truncated) {
    nn_error err;
    uint64_t v;
    const uint8_t too_big[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    const uint8_t cut[] = {0x80, 0x80};
    ck_assert_int_eq(read_one_varint(too_big, 10, &v, &err), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "64 bits"));
    ck_assert_int_eq(read_one_varint(eleven, 11, &v, &err), NN_ERR_FORMAT);
    ck_assert_int_eq(read_one_varint(cut, 2, &v, &err), NN_ERR_TRUNCATED);
    ck_assert_msg(strstr(err.msg, "byte 0") != NULL, "%s", err.msg);
    ck_assert_int_eq(read_one_varint(cut, 0, &v, &err), NN_ERR_TRUNCATED);
}
END_TEST

/* Field 1 as a varint, decoded as int32. */
static nn_status int32_of(const uint8_t *bytes, size_t len, int32_t *out, nn_error *err) {
    uint8_t *buf = exact_copy(bytes, len);
    pb_reader r;
    pb_field f;
    pb_reader_init(&r, buf, len);
    nn_status st = pb_next_field(&r, &f, err);
    if (!st) st = pb_field_int32(&f, out, err);
    free(buf);
    return st;
}

START_TEST(negative_int32) {
    nn_error err;
    int32_t v;
    /* protobuf sends negative int32 as the 10-byte two's complement int64 */
    const uint8_t minus1[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t minint[] = {0x08, 0x80, 0x80, 0x80, 0x80, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t too_big[] = {0x08, 0x80, 0x80, 0x80, 0x80, 0x10}; /* 2^32 */
    ck_assert_int_eq(int32_of(minus1, sizeof minus1, &v, &err), NN_OK);
    ck_assert_int_eq(v, -1);
    ck_assert_int_eq(int32_of(minint, sizeof minint, &v, &err), NN_OK);
    ck_assert_int_eq(v, INT32_MIN);
    ck_assert_int_eq(int32_of(too_big, sizeof too_big, &v, &err), NN_ERR_FORMAT);
}
END_TEST

/*
 * The sample message:
 *   1: varint 150                      08 96 01
 *   2: string "hi"                     12 02 68 69
 *   3: float 1.5                       1d 00 00 c0 3f
 *   4: double -2.25                    21 00 00 00 00 00 00 02 c0
 *   5: packed floats [1, -0.5]         2a 08 00 00 80 3f 00 00 00 bf
 *   6: nested { 1: 7 }                 32 02 08 07
 *   7: packed varints [3, 270, -1]     3a 0d 03 8e 02 ff*9 01
 *   99: unknown varint 1               98 06 01
 */
static const uint8_t SAMPLE[] = {
    0x08, 0x96, 0x01, 0x12, 0x02, 0x68, 0x69, 0x1d, 0x00, 0x00, 0xc0, 0x3f, 0x21, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc0, 0x2a, 0x08, 0x00, 0x00, 0x80, 0x3f, 0x00,
    0x00, 0x00, 0xbf, 0x32, 0x02, 0x08, 0x07, 0x3a, 0x0d, 0x03, 0x8e, 0x02, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x98, 0x06, 0x01};
/* Offsets where a field ends (the complete prefixes). */
static const size_t SAMPLE_BOUNDARIES[] = {0, 3, 7, 12, 21, 31, 35, 50, 53};

typedef struct {
    int64_t f1;
    char f2[8];
    float f3;
    double f4;
    float f5[4];
    size_t n5;
    int64_t f6_inner;
    int64_t f7[4];
    size_t n7;
    int fields;
} sample_values;

/* Walks the sample (and its nested / packed parts) the way a real reader would. */
static nn_status walk_sample(const uint8_t *buf, size_t len, sample_values *out, nn_error *err) {
    pb_reader r;
    pb_reader_init(&r, buf, len);
    memset(out, 0, sizeof *out);
    while (!pb_at_end(&r)) {
        pb_field f;
        nn_status st = pb_next_field(&r, &f, err);
        if (st) return st;
        out->fields++;
        switch (f.number) {
        case 1: st = pb_field_int64(&f, &out->f1, err); break;
        case 2:
            ck_assert_uint_lt(f.len, sizeof out->f2);
            memcpy(out->f2, f.bytes, f.len);
            break;
        case 3: st = pb_field_float(&f, &out->f3, err); break;
        case 4: st = pb_field_double(&f, &out->f4, err); break;
        case 5: st = pb_packed_floats(&f, out->f5, 4, &out->n5, err); break;
        case 6: {
            pb_reader inner;
            pb_field g;
            if ((st = pb_enter(&f, &inner, err))) break;
            while (!st && !pb_at_end(&inner))
                if (!(st = pb_next_field(&inner, &g, err)) && g.number == 1)
                    st = pb_field_int64(&g, &out->f6_inner, err);
            break;
        }
        case 7: st = pb_packed_int64s(&f, out->f7, 4, &out->n7, err); break;
        default: break; /* unknown: skipped */
        }
        if (st) return st;
    }
    return NN_OK;
}

START_TEST(sample_message) {
    nn_error err;
    sample_values v;
    uint8_t *buf = exact_copy(SAMPLE, sizeof SAMPLE);
    ck_assert_int_eq(walk_sample(buf, sizeof SAMPLE, &v, &err), NN_OK);
    free(buf);
    ck_assert_int_eq(v.fields, 8);
    ck_assert_int_eq(v.f1, 150);
    ck_assert_str_eq(v.f2, "hi");
    ck_assert(v.f3 == 1.5f);
    ck_assert(v.f4 == -2.25);
    ck_assert_uint_eq(v.n5, 2);
    ck_assert(v.f5[0] == 1.0f && v.f5[1] == -0.5f);
    ck_assert_int_eq(v.f6_inner, 7);
    ck_assert_uint_eq(v.n7, 3);
    ck_assert_int_eq(v.f7[0], 3);
    ck_assert_int_eq(v.f7[1], 270);
    ck_assert_int_eq(v.f7[2], -1);
}
END_TEST

START_TEST(every_truncation_fails_cleanly) {
    for (size_t len = 0; len <= sizeof SAMPLE; len++) {
        nn_error err = {0};
        sample_values v;
        uint8_t *buf = exact_copy(SAMPLE, len);
        nn_status st = walk_sample(buf, len, &v, &err);
        free(buf);
        bool boundary = false;
        for (size_t i = 0; i < sizeof SAMPLE_BOUNDARIES / sizeof *SAMPLE_BOUNDARIES; i++)
            boundary |= SAMPLE_BOUNDARIES[i] == len;
        if (boundary) {
            ck_assert_msg(st == NN_OK, "prefix %zu: %s", len, err.msg);
        } else {
            ck_assert_msg(st == NN_ERR_TRUNCATED, "prefix %zu gave %d (%s)", len, st, err.msg);
            ck_assert_msg(strstr(err.msg, "byte") != NULL, "no offset in '%s'", err.msg);
        }
    }
}
END_TEST

START_TEST(length_past_end_and_huge_length) {
    nn_error err;
    pb_reader r;
    pb_field f;
    /* field 2, length 5, but only 2 bytes follow */
    const uint8_t short_len[] = {0x12, 0x05, 0x61, 0x62};
    uint8_t *buf = exact_copy(short_len, sizeof short_len);
    pb_reader_init(&r, buf, sizeof short_len);
    ck_assert_int_eq(pb_next_field(&r, &f, &err), NN_ERR_TRUNCATED);
    ck_assert_msg(strstr(err.msg, "only 2 remain") != NULL, "%s", err.msg);
    free(buf);
    /* a length near 2^64 must not wrap the position */
    const uint8_t huge[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00};
    buf = exact_copy(huge, sizeof huge);
    pb_reader_init(&r, buf, sizeof huge);
    ck_assert_int_eq(pb_next_field(&r, &f, &err), NN_ERR_TRUNCATED);
    free(buf);
}
END_TEST

START_TEST(bad_keys) {
    nn_error err;
    pb_reader r;
    pb_field f;
    const uint8_t group[] = {0x0b, 0x0c};     /* field 1, wire 3 (start group) */
    const uint8_t zero_field[] = {0x00, 0x01}; /* field number 0 */
    const uint8_t wire7[] = {0x0f};
    pb_reader_init(&r, group, sizeof group);
    ck_assert_int_eq(pb_next_field(&r, &f, &err), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "wire type 3"));
    pb_reader_init(&r, zero_field, sizeof zero_field);
    ck_assert_int_eq(pb_next_field(&r, &f, &err), NN_ERR_FORMAT);
    pb_reader_init(&r, wire7, sizeof wire7);
    ck_assert_int_eq(pb_next_field(&r, &f, &err), NN_ERR_FORMAT);
}
END_TEST

START_TEST(wrong_wire_type_and_packed_errors) {
    nn_error err;
    pb_reader r;
    pb_field f;
    float x;
    const uint8_t varint_field[] = {0x08, 0x01};
    pb_reader_init(&r, varint_field, sizeof varint_field);
    ck_assert_int_eq(pb_next_field(&r, &f, &err), NN_OK);
    ck_assert_int_eq(pb_field_float(&f, &x, &err), NN_ERR_FORMAT);
    /* packed floats whose byte count is not a multiple of 4 */
    const uint8_t odd[] = {0x2a, 0x03, 0x00, 0x00, 0x80};
    pb_reader_init(&r, odd, sizeof odd);
    ck_assert_int_eq(pb_next_field(&r, &f, &err), NN_OK);
    size_t n;
    float out[4];
    ck_assert_int_eq(pb_packed_floats(&f, out, 4, &n, &err), NN_ERR_FORMAT);
    /* more values than room */
    const uint8_t three[] = {0x2a, 0x0c, 0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f};
    pb_reader_init(&r, three, sizeof three);
    ck_assert_int_eq(pb_next_field(&r, &f, &err), NN_OK);
    ck_assert_int_eq(pb_packed_floats(&f, out, 2, &n, &err), NN_ERR_LIMIT);
    ck_assert_int_eq(pb_packed_floats(&f, out, 4, &n, &err), NN_OK);
    ck_assert_uint_eq(n, 3);
    /* a packed varint list cut inside its last varint */
    const uint8_t cut[] = {0x3a, 0x02, 0x01, 0x80};
    pb_reader_init(&r, cut, sizeof cut);
    ck_assert_int_eq(pb_next_field(&r, &f, &err), NN_OK);
    ck_assert_int_eq(pb_packed_count_varints(&f, &n, &err), NN_ERR_TRUNCATED);
    ck_assert_msg(strstr(err.msg, "byte 3") != NULL, "%s", err.msg);
}
END_TEST

/* Recurses into field 1 until the bytes end or an error. */
static nn_status descend(const pb_reader *r0, int *depth, nn_error *err) {
    pb_reader r = *r0;
    while (!pb_at_end(&r)) {
        pb_field f;
        nn_status st = pb_next_field(&r, &f, err);
        if (st) return st;
        if (f.number != 1 || f.wire != PB_WIRE_LEN) continue;
        pb_reader child;
        if ((st = pb_enter(&f, &child, err))) return st;
        if (child.depth > *depth) *depth = child.depth;
        if ((st = descend(&child, depth, err))) return st;
    }
    return NN_OK;
}

START_TEST(nesting_depth_limit) {
    /* {1: {1: {1: ... {}}}} nested `levels` deep: built inside out */
    for (int levels = PB_MAX_DEPTH - 1; levels <= PB_MAX_DEPTH + 2; levels++) {
        uint8_t buf[256];
        size_t len = 0;
        for (int i = 0; i < levels; i++) {
            memmove(buf + 2, buf, len);
            buf[0] = 0x0a; /* field 1, LEN */
            buf[1] = (uint8_t)len;
            len += 2;
        }
        nn_error err = {0};
        pb_reader r;
        pb_reader_init(&r, buf, len);
        int depth = 0;
        nn_status st = descend(&r, &depth, &err);
        if (levels <= PB_MAX_DEPTH) {
            ck_assert_msg(st == NN_OK, "%d levels: %s", levels, err.msg);
            ck_assert_int_eq(depth, levels);
        } else {
            ck_assert_int_eq(st, NN_ERR_LIMIT);
            ck_assert_ptr_nonnull(strstr(err.msg, "nested"));
        }
    }
}
END_TEST

START_TEST(nested_error_offsets_are_absolute) {
    /* field 2 (3 bytes of padding), then field 6 holding a truncated varint */
    const uint8_t msg[] = {0x12, 0x01, 0x00, 0x32, 0x02, 0x08, 0x80};
    nn_error err;
    pb_reader r, child;
    pb_field f;
    pb_reader_init(&r, msg, sizeof msg);
    ck_assert_int_eq(pb_next_field(&r, &f, &err), NN_OK);
    ck_assert_int_eq(pb_next_field(&r, &f, &err), NN_OK);
    ck_assert_uint_eq(f.offset, 3);
    ck_assert_int_eq(pb_enter(&f, &child, &err), NN_OK);
    ck_assert_uint_eq(pb_offset(&child), 5);
    ck_assert_int_eq(pb_next_field(&child, &f, &err), NN_ERR_TRUNCATED);
    ck_assert_msg(strstr(err.msg, "byte 6") != NULL, "%s", err.msg);
}
END_TEST

Suite *protobuf_suite(void) {
    Suite *s = suite_create("protobuf");
    TCase *tc = tcase_create("wire");
    tcase_add_test(tc, varint_values);
    tcase_add_test(tc, varint_overlong_and_truncated);
    tcase_add_test(tc, negative_int32);
    tcase_add_test(tc, sample_message);
    tcase_add_test(tc, every_truncation_fails_cleanly);
    tcase_add_test(tc, length_past_end_and_huge_length);
    tcase_add_test(tc, bad_keys);
    tcase_add_test(tc, wrong_wire_type_and_packed_errors);
    tcase_add_test(tc, nesting_depth_limit);
    tcase_add_test(tc, nested_error_offsets_are_absolute);
    suite_add_tcase(s, tc);
    return s;
}
