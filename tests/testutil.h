/*
 * testutil.h - helpers shared by the test suites:
 *   - deterministic random tensors,
 *   - a finite-difference gradient checker for any op,
 *   - the loader for PyTorch reference fixtures (tests/fixtures/NAME.nnfx).
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>

#include "nn.h"

/* Fills t with uniform values in [lo, hi) from a small LCG seeded by seed. */
void tu_fill_uniform(nn_tensor *t, float lo, float hi, uint64_t seed);
/* n floats uniform in [-1, 1) from seed (as tu_fill_uniform), and a copy of
 * n floats; both malloc'd (free them), failing the test when out of memory. */
float *tu_rand_floats(size_t n, uint64_t seed);
float *tu_copy_floats(const float *src, size_t n);
/* A heap tensor of the given shape, uniform in [lo, hi), requires_grad set. */
nn_tensor *tu_param(int ndim, const int *shape, float lo, float hi, uint64_t seed);

/* Largest |a-b| / (atol + rtol*|b|) over n elements; <= 1 means "close". */
double tu_max_rel_err(const float *a, const float *b, size_t n, double atol, double rtol);
#define tu_assert_close(a, b, n, atol, rtol)                                                   \
    do {                                                                                       \
        double e_ = tu_max_rel_err((a), (b), (n), (atol), (rtol));                             \
        ck_assert_msg(e_ <= 1.0, "arrays differ: worst |a-b| is %.3g x (atol + rtol*|b|)", e_); \
    } while (0)

/*
 * Gradient check. fn builds the op under test from the inputs (heap tensors
 * with requires_grad) and returns its output. The checker forms
 * L = sum(out * R) for a fixed random R, gets dL/d(input) by nn_backward, and
 * compares each element with the central difference (L(x+eps) - L(x-eps)) / 2eps
 * computed in double. Returns the worst error ratio (<= 1 passes) and writes a
 * description of the worst element into why.
 */
typedef nn_tensor *(*tu_forward_fn)(nn_ctx *ctx, nn_tensor **inputs, void *arg);
double tu_gradcheck(tu_forward_fn fn, void *arg, int n_inputs, nn_tensor **inputs, float eps,
                    double atol, double rtol, char *why, size_t why_len);
#define tu_assert_gradcheck(fn, arg, n, inputs)                                          \
    do {                                                                                 \
        char why_[256];                                                                  \
        double e_ = tu_gradcheck((fn), (arg), (n), (inputs), 1e-2f, 2e-3, 2e-2, why_,    \
                                 sizeof why_);                                           \
        ck_assert_msg(e_ <= 1.0, "gradient check failed (%.3g): %s", e_, why_);          \
    } while (0)

/*
 * Fixtures: a .nnfx file holds named float32 tensors written by
 * tests/fixtures/nnfx.py. Format (little-endian): "NNFX" u32 version=1,
 * u32 count, then per tensor: u32 name_len, name bytes, u32 ndim,
 * i32 shape[ndim], f32 data[numel].
 */
typedef struct tu_fixture tu_fixture;
tu_fixture *tu_fixture_load(const char *path); /* NULL (with a message on stderr) if absent/bad */
void tu_fixture_free(tu_fixture *f);
/* The named tensor as a new heap tensor (NULL if absent). */
nn_tensor *tu_fixture_tensor(const tu_fixture *f, const char *name);
/* Raw access: data pointer and element count (NULL if absent). */
const float *tu_fixture_data(const tu_fixture *f, const char *name, size_t *numel);

/* Sets every parameter of m to tests/fixtures/gen_ssd_vgg16.py's formula
 * (tensor N, element i, h = djb2(N) mod 1000: weights sqrt(3/fan_in) *
 * sin(0.731 i + 0.017 h), biases 0.1 * sin(...)); L2Norm scales ("_norm.")
 * keep their value. Both sides compute it, so no 100 MB fixture is needed. */
void tu_ssd_formula_weights(nn_model *m);

/* Runs the maskdet built beside the test program with `args` (shell words)
 * and this process's environment, capturing stdout and stderr into malloc'd
 * strings (out / err may be NULL to discard); returns the exit code. */
int tu_run_maskdet(const char *args, char **out, char **err);

/* Path to ../shared relative to tests/ (or $MASKDET_SHARED), NULL if absent. */
const char *tu_shared_dir(void);

#endif
