/*
 * activation.c - element-wise activations, any shape:
 *
 *   relu        y = max(0, x)                      dx = dy * (x > 0)
 *   leaky_relu  y = x > 0 ? x : slope * x          dx = dy * (x > 0 ? 1 : slope)
 *   sigmoid     y = 1 / (1 + exp(-x))              dx = dy * y * (1 - y)
 *
 * At x == 0 the (leaky) ReLU gradient is taken from the left side, as PyTorch.
 * ReLU and leaky ReLU are vectorized and threaded (vec.h); sigmoid is rare here.
 */
#include <math.h>

#include "nn_internal.h"
#include "vec.h"

/* ---- relu and leaky_relu share one pair of loops; relu is slope 0.
 * The loops run over chunks of the tensor on the thread pool (vec.h). */
typedef struct {
    float negative_slope;
} leaky_saved;

typedef struct {
    const float *x, *dy;
    float *y, *dx;
    float slope;
} leaky_job;

/* relu picks 0 rather than computing 0 * x, which would turn -inf into NaN;
 * like PyTorch it lets a NaN through */
NN_VEC_CLONES
static void relu_forward_range(const float *restrict x, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

NN_VEC_CLONES
static void leaky_forward_range(const float *restrict x, float *restrict y, size_t n, float slope) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

NN_VEC_CLONES
static void leaky_backward_range(const float *restrict x, const float *restrict dy,
                                 float *restrict dx, size_t n, float slope) {
    for (size_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : slope * dy[i];
}

static void leaky_forward_task(void *arg, size_t begin, size_t end) {
    const leaky_job *j = arg;
    if (j->slope == 0.0f)
        relu_forward_range(j->x + begin, j->y + begin, end - begin);
    else
        leaky_forward_range(j->x + begin, j->y + begin, end - begin, j->slope);
}

static void leaky_backward_task(void *arg, size_t begin, size_t end) {
    const leaky_job *j = arg;
    leaky_backward_range(j->x + begin, j->dy + begin, j->dx + begin, end - begin, j->slope);
}

static void leaky_relu_backward(nn_ctx *ctx, nn_node *node) {
    nn_tensor *x = node->in[0];
    leaky_job j = {.x = x->data, .dy = node->out->grad, .dx = nn_grad(ctx, x),
                   .slope = ((leaky_saved *)node->saved)->negative_slope};
    if (!j.dx) return;
    nn_vec_for(x->numel, NN_VEC_GRAIN, leaky_backward_task, &j);
}

static nn_tensor *leaky_relu(nn_ctx *ctx, nn_tensor *x, float slope, const char *op) {
    if (!nn_check_inputs(ctx, op, 1, &x)) return NULL;
    if (!isfinite(slope)) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "%s: negative slope %g is not finite", op, (double)slope);
        return NULL;
    }
    nn_tensor *y = nn_ctx_tensor(ctx, x->ndim, x->shape);
    if (!y) return NULL;
    leaky_job j = {.x = x->data, .y = y->data, .slope = slope};
    nn_vec_for(x->numel, NN_VEC_GRAIN, leaky_forward_task, &j);
    nn_node *node = nn_tape_record(ctx, op, y, leaky_relu_backward, 1, &x, sizeof(leaky_saved));
    if (node) ((leaky_saved *)node->saved)->negative_slope = slope;
    return y;
}

nn_tensor *nn_relu(nn_ctx *ctx, nn_tensor *x) { return leaky_relu(ctx, x, 0.0f, "relu"); }

nn_tensor *nn_leaky_relu(nn_ctx *ctx, nn_tensor *x, float negative_slope) {
    return leaky_relu(ctx, x, negative_slope, "leaky_relu");
}

/* ---- sigmoid: the backward pass needs only the output. */
static void sigmoid_backward(nn_ctx *ctx, nn_node *node) {
    float *dx = nn_grad(ctx, node->in[0]);
    if (!dx) return;
    const float *y = node->out->data, *dy = node->out->grad;
    for (size_t i = 0; i < node->out->numel; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}

nn_tensor *nn_sigmoid(nn_ctx *ctx, nn_tensor *x) {
    if (!nn_check_inputs(ctx, "sigmoid", 1, &x)) return NULL;
    nn_tensor *y = nn_ctx_tensor(ctx, x->ndim, x->shape);
    if (!y) return NULL;
    for (size_t i = 0; i < x->numel; i++) {
        /* exp of a negative number only, so large |x| neither overflows nor
         * loses the small side to 1 - 1 */
        float v = x->data[i];
        if (v >= 0.0f) {
            y->data[i] = 1.0f / (1.0f + expf(-v));
        } else {
            float e = expf(v);
            y->data[i] = e / (1.0f + e);
        }
    }
    nn_tape_record(ctx, "sigmoid", y, sigmoid_backward, 1, &x, 0);
    return y;
}
