/*
 * pbwriter.c - the test protobuf writer (see pbwriter.h).
 */
#include "pbwriter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pbw_free(pbw *w) {
    free(w->data);
    memset(w, 0, sizeof *w);
}

void pbw_byte(pbw *w, uint8_t b) {
    if (w->len == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 256;
        uint8_t *grown = realloc(w->data, cap);
        if (!grown) {
            fprintf(stderr, "pbwriter: out of memory\n");
            abort();
        }
        w->data = grown;
        w->cap = cap;
    }
    w->data[w->len++] = b;
}

void pbw_varint(pbw *w, uint64_t v) {
    do {
        pbw_byte(w, (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
        v >>= 7;
    } while (v);
}

void pbw_key(pbw *w, int field, int wire) {
    pbw_varint(w, (uint64_t)field << 3 | (uint64_t)wire);
}

void pbw_le(pbw *w, uint64_t bits, int n_bytes) {
    for (int i = 0; i < n_bytes; i++) pbw_byte(w, (uint8_t)(bits >> (8 * i)));
}

void pbw_float_le(pbw *w, float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    pbw_le(w, bits, 4);
}

void pbw_double_le(pbw *w, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    pbw_le(w, bits, 8);
}

void pbw_bytes(pbw *w, int field, const void *p, size_t n) {
    pbw_key(w, field, PBW_LEN);
    pbw_varint(w, n);
    for (size_t i = 0; i < n; i++) pbw_byte(w, ((const uint8_t *)p)[i]);
}

void pbw_str(pbw *w, int field, const char *s) { pbw_bytes(w, field, s, strlen(s)); }

void pbw_msg(pbw *w, int field, pbw *inner) {
    pbw_bytes(w, field, inner->data, inner->len);
    pbw_free(inner);
}

void pbw_splice(pbw *w, pbw *other) {
    for (size_t i = 0; i < other->len; i++) pbw_byte(w, other->data[i]);
    pbw_free(other);
}

void pbw_blob(pbw *w, int field, int ndim, const int *dims, bool legacy_dims,
              const float *values, int n, pbw_values_form form) {
    pbw blob = {0}, shape = {0}, packed = {0};
    if (legacy_dims) {
        for (int i = 0; i < ndim; i++) {
            pbw_key(&blob, 1 + i + (4 - ndim), PBW_VARINT);
            pbw_varint(&blob, (uint64_t)dims[i]);
        }
    } else {
        for (int i = 0; i < ndim; i++) {
            pbw_key(&shape, 1, PBW_VARINT);
            pbw_varint(&shape, (uint64_t)dims[i]);
        }
        pbw_msg(&blob, 7, &shape);
    }
    for (int i = 0; i < n; i++) {
        if (form == PBW_VALUES_PACKED) pbw_float_le(&packed, values[i]);
        else if (form == PBW_VALUES_UNPACKED) pbw_key(&blob, 5, PBW_I32), pbw_float_le(&blob, values[i]);
        else pbw_double_le(&packed, values[i]);
    }
    if (form == PBW_VALUES_PACKED) pbw_msg(&blob, 5, &packed);
    if (form == PBW_VALUES_DOUBLE) pbw_msg(&blob, 8, &packed);
    pbw_free(&packed);
    pbw_msg(w, field, &blob);
}
