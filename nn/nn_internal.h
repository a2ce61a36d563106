/*
 * nn_internal.h - what op files share, not part of the public API.
 *
 * How an op is written (see conv2d.c for a complete one):
 *   1. check inputs, report problems with nn_ctx_fail and return NULL;
 *   2. allocate the output with nn_ctx_tensor and run the forward kernel;
 *   3. call nn_tape_record; if it returns a node, keep in node->saved what the
 *      backward pass needs (the inputs are already in node->in).
 * The backward function reads node->out->grad and ADDS into the gradients of
 * its inputs, obtained with nn_grad(), which allocates a zeroed gradient on
 * first use. It must skip inputs that do not need a gradient (nn_needs_grad).
 */
#ifndef NN_INTERNAL_H
#define NN_INTERNAL_H

#include "nn.h"

typedef void (*nn_backward_fn)(nn_ctx *ctx, nn_node *node);

struct nn_node {
    nn_backward_fn backward;
    const char *op;      /* op name, for error messages */
    nn_tensor *out;
    int n_in;
    nn_tensor **in;      /* n_in inputs (arena memory)  */
    void *saved;         /* op-specific, zeroed, arena memory */
};

/* Returns NULL if nothing needs recording (grad disabled, or no input needs a
 * gradient); otherwise a node with in[] filled and `saved_bytes` of zeroed
 * scratch. On allocation failure records the error in ctx and returns NULL. */
nn_node *nn_tape_record(nn_ctx *ctx, const char *op, nn_tensor *out, nn_backward_fn backward,
                        int n_in, nn_tensor *const *in, size_t saved_bytes);

/* True if t takes part in gradient flow (a requires_grad leaf or a recorded result). */
static inline bool nn_needs_grad(const nn_tensor *t) {
    return t != NULL && (t->requires_grad || t->node != NULL);
}
/* t's gradient buffer, zero-allocated in the arena on first use (NULL on OOM). */
float *nn_grad(nn_ctx *ctx, nn_tensor *t);

/* Arena scratch memory valid until nn_ctx_reset; NULL (and ctx error) on OOM. */
void *nn_ctx_scratch(nn_ctx *ctx, size_t bytes);

/* Common input check: returns false (and records an error) if any is NULL
 * (an earlier op failed) or if the ctx already holds an error. */
bool nn_check_inputs(nn_ctx *ctx, const char *op, int n, nn_tensor *const *ts);

/* Inference-only packed weights of one conv layer (see nn_model_freeze).
 * Valid while the layer's weights do not change; clear it when they do. */
typedef struct {
    float *packed;           /* kernel-specific layout, NULL when empty */
    const nn_kernels *kernels;
    nn_conv2d_shape shape;   /* the shape it was packed for (batch size aside) */
} nn_conv2d_cache;
/* nn_conv2d that packs w into *cache on first use and reuses it, when nothing
 * needs a gradient and the kernels can pack; otherwise plain nn_conv2d. */
nn_tensor *nn_conv2d_cached(nn_ctx *ctx, nn_tensor *x, nn_tensor *w, nn_tensor *b,
                            const nn_conv2d_params *p, nn_conv2d_cache *cache);
void nn_conv2d_cache_clear(nn_conv2d_cache *cache);

/* ------------------------------------------------- the kernels' workspace
 *
 * Conv kernels need temporary buffers (packed weights, a padded copy of the
 * input, per-thread tiles, Winograd's transformed input and output). Taking
 * them from malloc at every call broke "no allocation per frame" and, for the
 * large ones, cost an mmap/munmap and its page faults per call. Instead each
 * ctx owns an nn_scratch: a few slots, each a grow-only 64-byte aligned
 * buffer, reused across calls and freed with the ctx. conv2d.c passes it to
 * the kernels in nn_conv2d_shape.scratch.
 *
 * Rules: a workspace belongs to one thread at a time (as its ctx does), so two
 * contexts in two threads share nothing. Within one kernel call each slot
 * backs one buffer at a time (the slot list is in kernels_simd.h); the threads
 * of that call get slices of it. Tasks that run whole kernels side by side
 * use children: nn_scratch_reserve_children on the calling thread first, then
 * task t uses nn_scratch_child(s, t) alone.
 *
 * A NULL workspace (kernels called without a ctx: tests, benchmarks) means
 * "allocate per call": nn_scratch_get allocates and nn_scratch_release frees.
 * With a workspace, release does nothing. Callers pair get with release, so
 * the kernel code reads the same either way. */
#define NN_SCRATCH_SLOTS 8
nn_scratch *nn_scratch_create(void);  /* NULL on OOM */
void nn_scratch_destroy(nn_scratch *s);
/* A 64-byte aligned buffer of at least `bytes` for slot 0 <= slot <
 * NN_SCRATCH_SLOTS (its old contents are lost when it grows); NULL on OOM. */
void *nn_scratch_get(nn_scratch *s, int slot, size_t bytes);
void nn_scratch_release(nn_scratch *s, void *p); /* frees p only when s is NULL */
/* Makes sure s has at least `count` children; false when s is NULL or on OOM
 * (nn_scratch_child then returns NULL for the missing ones: allocate per call). */
bool nn_scratch_reserve_children(nn_scratch *s, int count);
nn_scratch *nn_scratch_child(nn_scratch *s, int index); /* NULL if none: never allocates */
size_t nn_scratch_system_allocs(const nn_scratch *s); /* allocator calls so far, children included */
size_t nn_scratch_bytes(const nn_scratch *s);         /* bytes held, children included */
/* The ctx's workspace for the kernels (NULL if it could not be created). */
nn_scratch *nn_ctx_kernel_scratch(nn_ctx *ctx);

/* Puts `prefix` in front of the recorded error message (e.g. the layer name). */
void nn_ctx_prefix_error(nn_ctx *ctx, const char *prefix);

#define NN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif /* NN_INTERNAL_H */
