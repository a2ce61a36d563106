/*
 * pbwriter.h - a tiny protobuf writer for tests: hand-made caffemodels in
 * tests/test_caffe.c and the fuzz seeds of tests/fuzz/make_seeds.c. It is
 * written from the wire-format description (varint keys, field << 3 | wire
 * type; LEN fields as a varint length and bytes; fixed32 / fixed64 little
 * endian), independent of the reader under test (vision/protobuf.h).
 *
 * A pbw is a growing byte buffer; start it as `pbw w = {0}` and release it
 * with pbw_free. Running out of memory aborts: this is test code.
 */
#ifndef TESTS_PBWRITER_H
#define TESTS_PBWRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *data;
    size_t len, cap;
} pbw;

/* Wire types. */
enum { PBW_VARINT = 0, PBW_I64 = 1, PBW_LEN = 2, PBW_I32 = 5 };

void pbw_free(pbw *w);
void pbw_byte(pbw *w, uint8_t b);
void pbw_varint(pbw *w, uint64_t v);
void pbw_key(pbw *w, int field, int wire);
/* The low n_bytes bytes of bits, little-endian (fixed32 / fixed64 payloads). */
void pbw_le(pbw *w, uint64_t bits, int n_bytes);
void pbw_float_le(pbw *w, float f);
void pbw_double_le(pbw *w, double d);
/* A LEN field holding n bytes of p. */
void pbw_bytes(pbw *w, int field, const void *p, size_t n);
void pbw_str(pbw *w, int field, const char *s);
/* inner as a LEN field (a nested message or packed values); inner is then
 * freed and empty, ready for the next message. */
void pbw_msg(pbw *w, int field, pbw *inner);
/* other's bytes appended as they are (fields written elsewhere); other is
 * then freed and empty. */
void pbw_splice(pbw *w, pbw *other);

/* How a BlobProto carries its values. */
typedef enum {
    PBW_VALUES_PACKED,   /* data (5): packed floats */
    PBW_VALUES_UNPACKED, /* data (5): one float per field */
    PBW_VALUES_DOUBLE    /* double_data (8): packed doubles */
} pbw_values_form;

/* A Caffe BlobProto as field `field` of w: its dimensions as a BlobShape (7)
 * or, with legacy_dims, as num / channels / height / width (fields 1-4,
 * right-aligned: a 1-D blob sets width only), then the n values. n need not
 * match the dimensions (tests of that mismatch). */
void pbw_blob(pbw *w, int field, int ndim, const int *dims, bool legacy_dims,
              const float *values, int n, pbw_values_form form);

#endif
