/*
 * protobuf.c - bounded protobuf wire-format reader (see protobuf.h).
 *
 * Every byte read is preceded by a check against r->len, and lengths are
 * compared with the bytes left rather than added to the position, so a huge
 * length cannot overflow size_t arithmetic.
 */
#include "protobuf.h"

#include <string.h>

void pb_reader_init(pb_reader *r, const void *data, size_t len) {
    r->data = data;
    r->len = data ? len : 0;
    r->pos = 0;
    r->base_offset = 0;
    r->depth = 0;
}

bool pb_at_end(const pb_reader *r) { return r->pos >= r->len; }

size_t pb_offset(const pb_reader *r) { return r->base_offset + r->pos; }

nn_status pb_read_varint(pb_reader *r, uint64_t *out, nn_error *err) {
    size_t start = pb_offset(r);
    uint64_t value = 0;
    for (int i = 0; i < 10; i++) {
        if (r->pos >= r->len)
            return nn_error_set(err, NN_ERR_TRUNCATED,
                                "protobuf: varint at byte %zu runs past the end (byte %zu)", start,
                                pb_offset(r));
        uint8_t byte = r->data[r->pos++];
        /* The 10th byte holds only bit 63: anything more overflows 64 bits. */
        if (i == 9 && (byte & 0xfe))
            return nn_error_set(err, NN_ERR_FORMAT,
                                "protobuf: varint at byte %zu is longer than 64 bits", start);
        value |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *out = value;
            return NN_OK;
        }
    }
    /* Ten bytes all with the continuation bit set: caught by the i == 9 test. */
    return nn_error_set(err, NN_ERR_FORMAT, "protobuf: varint at byte %zu is too long", start);
}

static nn_status read_fixed(pb_reader *r, size_t nbytes, uint64_t *out, nn_error *err) {
    if (r->len - r->pos < nbytes)
        return nn_error_set(err, NN_ERR_TRUNCATED,
                            "protobuf: %zu-byte value at byte %zu runs past the end (%zu bytes left)",
                            nbytes, pb_offset(r), r->len - r->pos);
    uint64_t v = 0;
    for (size_t i = 0; i < nbytes; i++) v |= (uint64_t)r->data[r->pos + i] << (8 * i);
    r->pos += nbytes;
    *out = v;
    return NN_OK;
}

nn_status pb_next_field(pb_reader *r, pb_field *f, nn_error *err) {
    memset(f, 0, sizeof *f);
    f->offset = pb_offset(r);
    f->depth = r->depth;
    uint64_t key;
    nn_status st = pb_read_varint(r, &key, err);
    if (st) return st;
    uint64_t number = key >> 3;
    unsigned wire = (unsigned)(key & 7);
    if (number == 0 || number > 536870911u) /* field numbers are 1 .. 2^29-1 */
        return nn_error_set(err, NN_ERR_FORMAT, "protobuf: bad field number %llu at byte %zu",
                            (unsigned long long)number, f->offset);
    f->number = (uint32_t)number;
    f->value_offset = pb_offset(r);
    switch (wire) {
    case PB_WIRE_VARINT:
        f->wire = PB_WIRE_VARINT;
        return pb_read_varint(r, &f->bits, err);
    case PB_WIRE_FIXED64:
        f->wire = PB_WIRE_FIXED64;
        return read_fixed(r, 8, &f->bits, err);
    case PB_WIRE_FIXED32:
        f->wire = PB_WIRE_FIXED32;
        return read_fixed(r, 4, &f->bits, err);
    case PB_WIRE_LEN: {
        f->wire = PB_WIRE_LEN;
        uint64_t n;
        if ((st = pb_read_varint(r, &n, err))) return st;
        f->value_offset = pb_offset(r);
        if (n > r->len - r->pos)
            return nn_error_set(err, NN_ERR_TRUNCATED,
                                "protobuf: field %u at byte %zu says %llu bytes but only %zu remain",
                                f->number, f->offset, (unsigned long long)n, r->len - r->pos);
        f->bytes = r->data + r->pos;
        f->len = (size_t)n;
        r->pos += (size_t)n;
        return NN_OK;
    }
    default:
        return nn_error_set(err, NN_ERR_FORMAT,
                            "protobuf: field %u at byte %zu has wire type %u (groups and unknown "
                            "types are not supported)",
                            f->number, f->offset, wire);
    }
}

nn_status pb_enter(const pb_field *f, pb_reader *child, nn_error *err) {
    if (f->wire != PB_WIRE_LEN)
        return nn_error_set(err, NN_ERR_FORMAT,
                            "protobuf: field %u at byte %zu should be a message (wire type 2)",
                            f->number, f->offset);
    if (f->depth + 1 > PB_MAX_DEPTH)
        return nn_error_set(err, NN_ERR_LIMIT,
                            "protobuf: messages nested deeper than %d at byte %zu", PB_MAX_DEPTH,
                            f->offset);
    child->data = f->bytes;
    child->len = f->len;
    child->pos = 0;
    child->base_offset = f->value_offset;
    child->depth = f->depth + 1;
    return NN_OK;
}

static nn_status want_wire(const pb_field *f, pb_wire_type wire, const char *what,
                           nn_error *err) {
    if (f->wire == wire) return NN_OK;
    return nn_error_set(err, NN_ERR_FORMAT,
                        "protobuf: field %u at byte %zu has wire type %d, expected %d for %s",
                        f->number, f->offset, (int)f->wire, (int)wire, what);
}

nn_status pb_field_uint64(const pb_field *f, uint64_t *out, nn_error *err) {
    nn_status st = want_wire(f, PB_WIRE_VARINT, "an integer", err);
    if (!st) *out = f->bits;
    return st;
}

nn_status pb_field_int64(const pb_field *f, int64_t *out, nn_error *err) {
    nn_status st = want_wire(f, PB_WIRE_VARINT, "an integer", err);
    if (!st) *out = (int64_t)f->bits; /* two's complement, as protobuf sends it */
    return st;
}

nn_status pb_field_int32(const pb_field *f, int32_t *out, nn_error *err) {
    int64_t v;
    nn_status st = pb_field_int64(f, &v, err);
    if (st) return st;
    if (v < INT32_MIN || v > INT32_MAX)
        return nn_error_set(err, NN_ERR_FORMAT,
                            "protobuf: field %u at byte %zu: %lld does not fit in int32", f->number,
                            f->offset, (long long)v);
    *out = (int32_t)v;
    return NN_OK;
}

nn_status pb_field_bool(const pb_field *f, bool *out, nn_error *err) {
    nn_status st = want_wire(f, PB_WIRE_VARINT, "a bool", err);
    if (!st) *out = f->bits != 0;
    return st;
}

nn_status pb_field_float(const pb_field *f, float *out, nn_error *err) {
    nn_status st = want_wire(f, PB_WIRE_FIXED32, "a float", err);
    if (st) return st;
    uint32_t bits = (uint32_t)f->bits;
    memcpy(out, &bits, sizeof *out);
    return NN_OK;
}

nn_status pb_field_double(const pb_field *f, double *out, nn_error *err) {
    nn_status st = want_wire(f, PB_WIRE_FIXED64, "a double", err);
    if (!st) memcpy(out, &f->bits, sizeof *out);
    return st;
}

nn_status pb_packed_count_fixed(const pb_field *f, size_t elem_bytes, size_t *count,
                                nn_error *err) {
    nn_status st = want_wire(f, PB_WIRE_LEN, "packed values", err);
    if (st) return st;
    if (f->len % elem_bytes)
        return nn_error_set(err, NN_ERR_FORMAT,
                            "protobuf: packed field %u at byte %zu has %zu bytes, not a multiple "
                            "of %zu",
                            f->number, f->offset, f->len, elem_bytes);
    *count = f->len / elem_bytes;
    return NN_OK;
}

static nn_status packed_fixed(const pb_field *f, size_t elem_bytes, void *out, size_t cap,
                              size_t *n, nn_error *err) {
    size_t count;
    nn_status st = pb_packed_count_fixed(f, elem_bytes, &count, err);
    if (st) return st;
    if (count > cap)
        return nn_error_set(err, NN_ERR_LIMIT,
                            "protobuf: packed field %u at byte %zu has %zu values, room for %zu",
                            f->number, f->offset, count, cap);
    /* Little-endian on disk; decode byte by byte so the host order never matters. */
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = f->bytes + i * elem_bytes;
        uint64_t bits = 0;
        for (size_t b = 0; b < elem_bytes; b++) bits |= (uint64_t)p[b] << (8 * b);
        if (elem_bytes == 4) {
            uint32_t b32 = (uint32_t)bits;
            memcpy((float *)out + i, &b32, 4);
        } else {
            memcpy((double *)out + i, &bits, 8);
        }
    }
    *n = count;
    return NN_OK;
}

nn_status pb_packed_floats(const pb_field *f, float *out, size_t cap, size_t *n, nn_error *err) {
    return packed_fixed(f, 4, out, cap, n, err);
}

nn_status pb_packed_doubles(const pb_field *f, double *out, size_t cap, size_t *n,
                            nn_error *err) {
    return packed_fixed(f, 8, out, cap, n, err);
}

/* Walks the varints of a packed field; writes them to out when out != NULL. */
static nn_status packed_varints(const pb_field *f, int64_t *out, size_t cap, size_t *n,
                                nn_error *err) {
    nn_status st = want_wire(f, PB_WIRE_LEN, "packed integers", err);
    if (st) return st;
    pb_reader r = {.data = f->bytes, .len = f->len, .base_offset = f->value_offset};
    size_t count = 0;
    while (!pb_at_end(&r)) {
        uint64_t v;
        if ((st = pb_read_varint(&r, &v, err))) return st;
        if (out) {
            if (count >= cap)
                return nn_error_set(err, NN_ERR_LIMIT,
                                    "protobuf: packed field %u at byte %zu has more than %zu values",
                                    f->number, f->offset, cap);
            out[count] = (int64_t)v;
        }
        count++;
    }
    *n = count;
    return NN_OK;
}

nn_status pb_packed_count_varints(const pb_field *f, size_t *count, nn_error *err) {
    return packed_varints(f, NULL, 0, count, err);
}

nn_status pb_packed_int64s(const pb_field *f, int64_t *out, size_t cap, size_t *n,
                           nn_error *err) {
    return packed_varints(f, out, cap, n, err);
}
