/*
 * fuzz_targets.h - the entry points shared by the libFuzzer harnesses
 * (tests/fuzz/harness.c, `make fuzz`) and the regression replay in
 * tests/test_regressions.c (`make test`).
 *
 * Each target feeds one byte string to one of the readers of hostile input,
 * the way the program does, and then walks what came back. A target returns
 * the status of its main parse (so the replay can insist that the seed files
 * are valid) and aborts (via fuzz_fail) when an invariant breaks: a failure
 * without a message, a box outside its image, two readers disagreeing about
 * an image's size. Crashes and leaks are the sanitizers' to find.
 */
#ifndef FUZZ_TARGETS_H
#define FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

#include "nn.h"

typedef nn_status (*fuzz_entry)(const uint8_t *data, size_t size);

typedef struct {
    const char *name; /* also the folder name of its corpora */
    fuzz_entry run;
    const char *what; /* one line for listings */
} fuzz_target;

extern const fuzz_target fuzz_targets[];
extern const int fuzz_target_count;
const fuzz_target *fuzz_target_find(const char *name); /* NULL if unknown */

nn_status fuzz_weights(const uint8_t *data, size_t size);    /* nn_weights_load_memory         */
nn_status fuzz_prototxt(const uint8_t *data, size_t size);   /* caffe_pt_parse, caffe_net_parse */
nn_status fuzz_caffemodel(const uint8_t *data, size_t size); /* caffe_model_parse + attach      */
nn_status fuzz_protobuf(const uint8_t *data, size_t size);   /* the pb_* wire reader            */
nn_status fuzz_xml(const uint8_t *data, size_t size);        /* xml_parse                       */
nn_status fuzz_voc(const uint8_t *data, size_t size);        /* annot_load of one VOC .xml      */
nn_status fuzz_json(const uint8_t *data, size_t size);       /* annot_load of one Kaggle .json  */
nn_status fuzz_image(const uint8_t *data, size_t size);      /* image_load_memory + imgsize     */
nn_status fuzz_rawvideo(const uint8_t *data, size_t size);   /* "WxH\n" + frames from a stream */

/* The net the caffemodel target attaches weights to; make_seeds writes a
 * caffemodel that fits it. */
extern const char fuzz_attach_net[];

/* The VOC, JSON and image targets go through files in a scratch folder made
 * on first use (under $TMPDIR or /tmp); this removes it. Safe to call twice. */
void fuzz_targets_cleanup(void);

/* Reports a broken invariant on stderr and aborts. */
void fuzz_fail(const char *target, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#endif
