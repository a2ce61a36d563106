/*
 * ctx.c - the execution context and reverse-mode autograd.
 *
 * The tape is the list of nodes recorded by ops during the forward pass, in
 * execution order. That order is already a topological order of the graph, so
 * backward is one walk of the tape from the end: each node whose output has a
 * gradient pushes it to its inputs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

struct nn_ctx {
    nn_arena *arena;
    nn_scratch *kernel_scratch; /* the conv kernels' temporary buffers */
    nn_node **tape;
    int tape_len, tape_cap;
    bool grad_enabled;
    bool training;
    uint64_t rng[4];
    nn_status status;
    char error[NN_ERROR_MSG_LEN];
};

nn_ctx *nn_ctx_create(void) {
    nn_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->arena = nn_arena_create((size_t)1 << 20);
    ctx->kernel_scratch = nn_scratch_create();
    if (!ctx->arena || !ctx->kernel_scratch) {
        nn_arena_destroy(ctx->arena);
        nn_scratch_destroy(ctx->kernel_scratch);
        free(ctx);
        return NULL;
    }
    ctx->grad_enabled = true;
    nn_ctx_seed(ctx, 0x5eed);
    return ctx;
}

void nn_ctx_destroy(nn_ctx *ctx) {
    if (!ctx) return;
    nn_arena_destroy(ctx->arena);
    nn_scratch_destroy(ctx->kernel_scratch);
    free(ctx->tape);
    free(ctx);
}

void nn_ctx_reset(nn_ctx *ctx) {
    nn_arena_reset(ctx->arena);
    ctx->tape_len = 0;
    ctx->status = NN_OK;
    ctx->error[0] = '\0';
}

void nn_ctx_set_grad_enabled(nn_ctx *ctx, bool enabled) { ctx->grad_enabled = enabled; }
bool nn_ctx_grad_enabled(const nn_ctx *ctx) { return ctx->grad_enabled; }
void nn_ctx_set_training(nn_ctx *ctx, bool training) { ctx->training = training; }
bool nn_ctx_training(const nn_ctx *ctx) { return ctx->training; }
nn_arena *nn_ctx_arena(nn_ctx *ctx) { return ctx->arena; }
nn_scratch *nn_ctx_kernel_scratch(nn_ctx *ctx) { return ctx->kernel_scratch; }
nn_status nn_ctx_status(const nn_ctx *ctx) { return ctx->status; }
const char *nn_ctx_error(const nn_ctx *ctx) { return ctx->error; }

/* splitmix64 expands the seed into xoshiro256** state */
void nn_ctx_seed(nn_ctx *ctx, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        ctx->rng[i] = z ^ (z >> 31);
    }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nn_ctx_rand_u64(nn_ctx *ctx) {
    uint64_t *s = ctx->rng;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float nn_ctx_rand_uniform(nn_ctx *ctx) {
    return (float)(nn_ctx_rand_u64(ctx) >> 40) * (1.0f / 16777216.0f);
}

nn_status nn_ctx_fail(nn_ctx *ctx, nn_status code, const char *fmt, ...) {
    if (ctx->status == NN_OK) {
        ctx->status = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
        va_end(ap);
    }
    return code;
}

void nn_ctx_prefix_error(nn_ctx *ctx, const char *prefix) {
    if (ctx->status == NN_OK) ctx->status = NN_ERR_STATE;
    char old[NN_ERROR_MSG_LEN];
    snprintf(old, sizeof old, "%s", ctx->error);
    snprintf(ctx->error, sizeof ctx->error, "%s%s", prefix, old);
}

void *nn_ctx_scratch(nn_ctx *ctx, size_t bytes) {
    void *p = nn_arena_alloc(ctx->arena, bytes);
    if (!p) nn_ctx_fail(ctx, NN_ERR_NOMEM, "out of memory allocating %zu bytes of activations", bytes);
    return p;
}

nn_tensor *nn_ctx_tensor(nn_ctx *ctx, int ndim, const int *shape) {
    size_t numel = nn_shape_numel(ndim, shape);
    if (numel == 0) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "bad tensor shape (ndim %d, empty or too large)", ndim);
        return NULL;
    }
    nn_tensor *t = nn_ctx_scratch(ctx, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->data = nn_ctx_scratch(ctx, numel * sizeof(float));
    if (!t->data) return NULL;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    t->numel = numel;
    return t;
}

nn_tensor *nn_ctx_zeros(nn_ctx *ctx, int ndim, const int *shape) {
    nn_tensor *t = nn_ctx_tensor(ctx, ndim, shape);
    if (t) memset(t->data, 0, t->numel * sizeof(float));
    return t;
}

bool nn_check_inputs(nn_ctx *ctx, const char *op, int n, nn_tensor *const *ts) {
    if (ctx->status != NN_OK) return false;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) {
            nn_ctx_fail(ctx, NN_ERR_ARG, "%s: input %d is NULL", op, i);
            return false;
        }
    }
    return true;
}

nn_node *nn_tape_record(nn_ctx *ctx, const char *op, nn_tensor *out, nn_backward_fn backward,
                        int n_in, nn_tensor *const *in, size_t saved_bytes) {
    if (!ctx->grad_enabled) return NULL;
    bool any = false;
    for (int i = 0; i < n_in; i++) any |= nn_needs_grad(in[i]);
    if (!any) return NULL;

    if (ctx->tape_len == ctx->tape_cap) {
        int cap = ctx->tape_cap ? ctx->tape_cap * 2 : 256;
        nn_node **tape = realloc(ctx->tape, (size_t)cap * sizeof *tape);
        if (!tape) {
            nn_ctx_fail(ctx, NN_ERR_NOMEM, "%s: out of memory growing the tape", op);
            return NULL;
        }
        ctx->tape = tape;
        ctx->tape_cap = cap;
    }
    nn_node *node = nn_ctx_scratch(ctx, sizeof *node);
    nn_tensor **ins = nn_ctx_scratch(ctx, (size_t)n_in * sizeof *ins);
    void *saved = saved_bytes ? nn_ctx_scratch(ctx, saved_bytes) : NULL;
    if (!node || !ins || (saved_bytes && !saved)) return NULL;
    memcpy(ins, in, (size_t)n_in * sizeof *ins);
    if (saved) memset(saved, 0, saved_bytes);
    *node = (nn_node){.backward = backward, .op = op, .out = out, .n_in = n_in, .in = ins, .saved = saved};
    out->node = node;
    ctx->tape[ctx->tape_len++] = node;
    return node;
}

float *nn_grad(nn_ctx *ctx, nn_tensor *t) {
    if (!t->grad) {
        t->grad = nn_ctx_scratch(ctx, t->numel * sizeof(float));
        if (t->grad) memset(t->grad, 0, t->numel * sizeof(float));
    }
    return t->grad;
}

nn_status nn_backward(nn_ctx *ctx, nn_tensor *loss) {
    if (ctx->status != NN_OK) return ctx->status;
    if (!loss) return nn_ctx_fail(ctx, NN_ERR_ARG, "backward: loss is NULL");
    if (loss->numel != 1)
        return nn_ctx_fail(ctx, NN_ERR_SHAPE, "backward: loss must have one element, has %zu",
                           loss->numel);
    if (!loss->node)
        return nn_ctx_fail(ctx, NN_ERR_STATE,
                           "backward: loss was not recorded (gradients disabled, or no input requires grad)");
    float *g = nn_grad(ctx, loss);
    if (!g) return ctx->status;
    g[0] += 1.0f;
    for (int i = ctx->tape_len - 1; i >= 0; i--) {
        nn_node *node = ctx->tape[i];
        if (!node->out->grad) continue; /* nothing flowed into this node */
        node->backward(ctx, node);
        if (ctx->status != NN_OK) return ctx->status;
    }
    /* The tape is spent: a second backward would double-count. */
    ctx->tape_len = 0;
    return NN_OK;
}
