/*
 * protobuf.h - a small, bounded reader for the protobuf binary wire format.
 *
 * Enough to read Caffe's .caffemodel without a protobuf library. A message is
 * a sequence of fields; each field is a key varint (field_number << 3 | wire
 * type) followed by a value:
 *   wire 0 VARINT    base-128 varint (int32/int64/uint/bool/enum)
 *   wire 1 FIXED64   8 little-endian bytes (double, fixed64)
 *   wire 2 LEN       varint length + that many bytes (string, bytes,
 *                    nested message, packed repeated scalars)
 *   wire 5 FIXED32   4 little-endian bytes (float, fixed32)
 * Groups (wire 3/4) are refused. Every read is checked against the end of the
 * enclosing message; errors give the absolute byte offset in the original
 * buffer. The reader never allocates.
 *
 * Typical loop:
 *   pb_reader r; pb_reader_init(&r, buf, len);
 *   pb_field f;
 *   while (!pb_at_end(&r)) {
 *       if (pb_next_field(&r, &f, err)) return err->code;
 *       switch (f.number) { ... }   // unknown numbers: just ignore f
 *   }
 */
#ifndef VISION_PROTOBUF_H
#define VISION_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn.h"

/* Nested messages deeper than this are refused (hostile inputs recurse). */
#define PB_MAX_DEPTH 32

typedef enum {
    PB_WIRE_VARINT = 0,
    PB_WIRE_FIXED64 = 1,
    PB_WIRE_LEN = 2,
    PB_WIRE_FIXED32 = 5,
} pb_wire_type;

/* A view of one message's bytes. base_offset is where data[0] sits in the
 * outermost buffer (for error messages); depth counts nesting. */
typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
    size_t base_offset;
    int depth;
} pb_reader;

/* One decoded field. For VARINT/FIXED32/FIXED64 `bits` holds the raw value
 * (use the pb_field_as_* helpers); for LEN, bytes/len point into the buffer. */
typedef struct {
    uint32_t number;
    pb_wire_type wire;
    uint64_t bits;
    const uint8_t *bytes;
    size_t len;
    size_t offset;       /* absolute offset of the field's key            */
    size_t value_offset; /* absolute offset of the value (LEN: the bytes) */
    int depth;           /* depth of the message holding this field        */
} pb_field;

void pb_reader_init(pb_reader *r, const void *data, size_t len);
bool pb_at_end(const pb_reader *r);
size_t pb_offset(const pb_reader *r); /* absolute offset of the next byte */

/* Reads one varint (at most 10 bytes; the 10th may only carry bit 63). */
nn_status pb_read_varint(pb_reader *r, uint64_t *out, nn_error *err);
/* Reads the next field's key and its whole value. */
nn_status pb_next_field(pb_reader *r, pb_field *f, nn_error *err);
/* A reader over a LEN field's bytes, as a nested message (checks depth). */
nn_status pb_enter(const pb_field *f, pb_reader *child, nn_error *err);

/* Value conversions; each checks the wire type. */
nn_status pb_field_int64(const pb_field *f, int64_t *out, nn_error *err);
/* int32: a negative int32 is sent as a 10-byte varint; values that do not fit
 * in 32 bits are refused. */
nn_status pb_field_int32(const pb_field *f, int32_t *out, nn_error *err);
nn_status pb_field_uint64(const pb_field *f, uint64_t *out, nn_error *err);
nn_status pb_field_bool(const pb_field *f, bool *out, nn_error *err);
nn_status pb_field_float(const pb_field *f, float *out, nn_error *err);   /* FIXED32 */
nn_status pb_field_double(const pb_field *f, double *out, nn_error *err); /* FIXED64 */

/* Packed repeated values inside a LEN field. The count functions validate the
 * whole payload (so callers can size an array before copying); the read
 * functions write at most cap values and fail if more are present. */
nn_status pb_packed_count_fixed(const pb_field *f, size_t elem_bytes, size_t *count,
                                nn_error *err);
nn_status pb_packed_floats(const pb_field *f, float *out, size_t cap, size_t *n, nn_error *err);
nn_status pb_packed_doubles(const pb_field *f, double *out, size_t cap, size_t *n,
                            nn_error *err);
nn_status pb_packed_count_varints(const pb_field *f, size_t *count, nn_error *err);
nn_status pb_packed_int64s(const pb_field *f, int64_t *out, size_t cap, size_t *n,
                           nn_error *err);

#endif
