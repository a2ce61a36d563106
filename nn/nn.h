/*
 * nn.h - the whole public API of the nn library, in one header.
 *
 * Read this file top to bottom to learn the library:
 *   1. errors        status codes + a message buffer; the library never exits
 *   2. tensors       float32, up to 6-D, contiguous, 64-byte aligned
 *   3. arena + ctx   where activations live; the autograd tape; grad/training modes
 *   4. ops           functional, autograd-aware: conv2d, pooling, activations, ...
 *   5. kernels       the table the fast SIMD kernels plug into (reference by default)
 *   6. threads       a small global thread pool
 *   7. models        layers declared by name into a graph, with named parameters
 *   8. optimizers    SGD / Adam / AdamW and learning-rate schedules
 *   9. weights       the .nnw file format (docs/weights-format.md)
 *
 * Conventions: image tensors are NCHW. Every op takes an nn_ctx, allocates its
 * output from the ctx's arena and, when gradients are enabled and an input
 * needs them, records itself on the ctx's tape. An op that fails returns NULL
 * and leaves the reason in the ctx (nn_ctx_status / nn_ctx_error); later ops
 * given a NULL input return NULL too, so a forward pass can be checked once at
 * the end.
 */
#ifndef NN_H
#define NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ errors */

typedef enum {
    NN_OK = 0,
    NN_ERR_NOMEM,     /* allocation failed                              */
    NN_ERR_ARG,       /* bad argument (NULL, negative size, bad option)  */
    NN_ERR_SHAPE,     /* shapes do not fit together                      */
    NN_ERR_IO,        /* open/read/write/rename failed                   */
    NN_ERR_FORMAT,    /* not our format / malformed content              */
    NN_ERR_TRUNCATED, /* file or buffer ends early                       */
    NN_ERR_VERSION,   /* format version we do not read                   */
    NN_ERR_CHECKSUM,  /* stored checksum does not match the data         */
    NN_ERR_NOT_FOUND, /* a named thing (tensor, layer, key) is missing   */
    NN_ERR_LIMIT,     /* input asks for more than we allow (sizes, ...)  */
    NN_ERR_STATE,     /* call made in the wrong state (e.g. no tape)     */
} nn_status;

#define NN_ERROR_MSG_LEN 512

/* An error report: the code and a human-readable message saying what and where. */
typedef struct {
    nn_status code;
    char msg[NN_ERROR_MSG_LEN];
} nn_error;

const char *nn_status_str(nn_status code);
/* Fills *err (if non-NULL) printf-style and returns code, so callers can write
 * `return nn_error_set(err, NN_ERR_IO, "cannot open %s", path);`. */
nn_status nn_error_set(nn_error *err, nn_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Files. nn_read_file reads a whole regular file of at most max_bytes into a
 * malloc'd, NUL-terminated buffer (NN_ERR_NOT_FOUND when it does not exist,
 * NN_ERR_LIMIT when too large). nn_write_file_atomic replaces path with what
 * write_fn writes (returning false on failure), through a temp file beside it
 * and a rename, so readers never see half a file; durable adds fsyncs of the
 * file and its directory. */
nn_status nn_read_file(const char *path, size_t max_bytes, char **data, size_t *len,
                       nn_error *err);
nn_status nn_write_file_atomic(const char *path, bool (*write_fn)(FILE *f, void *arg), void *arg,
                               bool durable, nn_error *err);

/* Hard limits checked before allocating anything an input asks for. */
#define NN_MAX_DIMS 6
#define NN_MAX_TENSOR_ELEMS ((size_t)1 << 31) /* 8 GiB of float32 */

/* ----------------------------------------------------------------- tensors */

typedef struct nn_node nn_node;

typedef struct nn_tensor {
    float *data;         /* numel floats, 64-byte aligned                    */
    float *grad;         /* same shape as data; NULL until a gradient exists */
    int ndim;
    int shape[NN_MAX_DIMS];
    size_t numel;
    bool requires_grad;  /* leaves: accumulate a gradient in backward        */
    bool on_heap;        /* true: nn_tensor_new owns it; false: arena memory */
    nn_node *node;       /* the tape entry that produced it, NULL for leaves */
} nn_tensor;

size_t nn_shape_numel(int ndim, const int *shape);
/* Heap tensor (parameters, inputs you own), zero-filled. NULL on bad shape/OOM. */
nn_tensor *nn_tensor_new(int ndim, const int *shape);
nn_tensor *nn_tensor_new4(int n, int c, int h, int w);
nn_tensor *nn_tensor_new2(int rows, int cols);
nn_tensor *nn_tensor_new1(int n);
void nn_tensor_free(nn_tensor *t);
/* Marks a heap tensor as a trainable leaf and allocates its zeroed gradient. */
nn_status nn_tensor_set_requires_grad(nn_tensor *t, bool requires_grad);
void nn_tensor_zero_grad(nn_tensor *t);
bool nn_tensor_same_shape(const nn_tensor *a, const nn_tensor *b);
void nn_tensor_fill(nn_tensor *t, float value);
/* Writes "[2, 3, 4]" into buf; returns buf. For error messages. */
char *nn_shape_str(const nn_tensor *t, char *buf, size_t len);

void *nn_aligned_alloc(size_t bytes); /* 64-byte aligned, NULL on failure */
void nn_aligned_free(void *p);

/* ------------------------------------------------------------ arena + ctx */

/* A bump allocator. Reset keeps the memory: after the first pass through a
 * model, the arena holds one block of the high-water size and later passes
 * allocate nothing from the system. */
typedef struct nn_arena nn_arena;
nn_arena *nn_arena_create(size_t initial_bytes);
void nn_arena_destroy(nn_arena *a);
void *nn_arena_alloc(nn_arena *a, size_t bytes); /* 64-byte aligned, NULL on OOM */
void nn_arena_reset(nn_arena *a);
size_t nn_arena_used_bytes(const nn_arena *a);
size_t nn_arena_peak_bytes(const nn_arena *a);
size_t nn_arena_system_allocs(const nn_arena *a); /* count of malloc calls so far */

/* The execution context: arena for activations, the autograd tape, modes,
 * a random generator (dropout, ...), and the first error of the pass. */
typedef struct nn_ctx nn_ctx;
nn_ctx *nn_ctx_create(void);
void nn_ctx_destroy(nn_ctx *ctx);
/* Forgets the tape and all activations; call before each forward pass. */
void nn_ctx_reset(nn_ctx *ctx);
void nn_ctx_set_grad_enabled(nn_ctx *ctx, bool enabled); /* false: inference, records nothing */
bool nn_ctx_grad_enabled(const nn_ctx *ctx);
void nn_ctx_set_training(nn_ctx *ctx, bool training); /* dropout on, batch-norm batch stats */
bool nn_ctx_training(const nn_ctx *ctx);
void nn_ctx_seed(nn_ctx *ctx, uint64_t seed);
uint64_t nn_ctx_rand_u64(nn_ctx *ctx);  /* xoshiro256** */
float nn_ctx_rand_uniform(nn_ctx *ctx); /* [0, 1) */
nn_status nn_ctx_status(const nn_ctx *ctx);
const char *nn_ctx_error(const nn_ctx *ctx);
/* Records the first error of a pass (later ones are dropped); returns code. */
nn_status nn_ctx_fail(nn_ctx *ctx, nn_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
nn_arena *nn_ctx_arena(nn_ctx *ctx);
/* Activation tensor from the arena: uninitialised / zeroed. */
nn_tensor *nn_ctx_tensor(nn_ctx *ctx, int ndim, const int *shape);
nn_tensor *nn_ctx_zeros(nn_ctx *ctx, int ndim, const int *shape);

/* Reverse-mode autograd: loss must be a one-element tensor produced on this
 * ctx's tape. Seeds d(loss)/d(loss) = 1, runs the tape backwards and ADDS
 * gradients into every requires_grad leaf (so several backward calls
 * accumulate; zero them with nn_tensor_zero_grad / nn_model_zero_grad). */
nn_status nn_backward(nn_ctx *ctx, nn_tensor *loss);

/* --------------------------------------------------------------------- ops */

typedef struct {
    int stride_h, stride_w;
    int pad_h, pad_w;
    int dilation_h, dilation_w;
    int groups;
    bool relu; /* fuse a ReLU after the bias (forward and backward) */
} nn_conv2d_params;
/* Default: stride 1, pad 0, dilation 1, groups 1, no relu. */
nn_conv2d_params nn_conv2d_default(void);

/* x [N, Cin, H, W], w [Cout, Cin/groups, Kh, Kw], b [Cout] or NULL -> [N, Cout, Ho, Wo] */
nn_tensor *nn_conv2d(nn_ctx *ctx, nn_tensor *x, nn_tensor *w, nn_tensor *b,
                     const nn_conv2d_params *p);

typedef struct {
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_h, pad_w;
    bool ceil_mode;          /* output size rounds up, as Caffe and PyTorch ceil_mode */
    bool count_include_pad;  /* average pooling: divide by the full window (Caffe, PyTorch default) */
} nn_pool2d_params;
nn_pool2d_params nn_pool2d_default(int kernel, int stride); /* pad 0, floor, include pad */

nn_tensor *nn_max_pool2d(nn_ctx *ctx, nn_tensor *x, const nn_pool2d_params *p);
/* max_pool2d(relu(x)) in one op, computed as relu(max_pool2d(x)) (the same
 * values and gradients, max being monotonic): the ReLU runs on the pooled
 * output only. nn_model_forward uses it for a ReLU read only by a max pool. */
nn_tensor *nn_max_pool2d_relu(nn_ctx *ctx, nn_tensor *x, const nn_pool2d_params *p);
nn_tensor *nn_avg_pool2d(nn_ctx *ctx, nn_tensor *x, const nn_pool2d_params *p);
nn_tensor *nn_global_avg_pool2d(nn_ctx *ctx, nn_tensor *x); /* -> [N, C, 1, 1] */

nn_tensor *nn_relu(nn_ctx *ctx, nn_tensor *x);
nn_tensor *nn_leaky_relu(nn_ctx *ctx, nn_tensor *x, float negative_slope);
nn_tensor *nn_sigmoid(nn_ctx *ctx, nn_tensor *x);

/* Batch norm over N,H,W per channel of x [N, C, H, W] (or [N, C]).
 * Training mode (nn_ctx_set_training): normalises with the batch statistics
 * and updates running_mean/var in place (running = (1-m)*running + m*batch,
 * unbiased variance, as PyTorch). Otherwise uses the running statistics. */
nn_tensor *nn_batch_norm(nn_ctx *ctx, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                         nn_tensor *running_mean, nn_tensor *running_var,
                         float momentum, float eps);
/* Inference: folds y = gamma*(conv(x)-mean)/sqrt(var+eps)+beta into the conv's
 * weights and bias. conv_b must exist ([Cout]); w is [Cout, ...]. */
nn_status nn_batch_norm_fold(nn_tensor *conv_w, nn_tensor *conv_b, const nn_tensor *gamma,
                             const nn_tensor *beta, const nn_tensor *mean,
                             const nn_tensor *var, float eps);

/* x [N, In], w [Out, In], b [Out] or NULL -> [N, Out] */
nn_tensor *nn_linear(nn_ctx *ctx, nn_tensor *x, nn_tensor *w, nn_tensor *b);
/* Inverted dropout: in training, zero with probability p and scale by 1/(1-p). */
nn_tensor *nn_dropout(nn_ctx *ctx, nn_tensor *x, float p);

/* Shape ops. reshape accepts one -1. flatten keeps dim 0: [N, rest]. */
nn_tensor *nn_reshape(nn_ctx *ctx, nn_tensor *x, int ndim, const int *shape);
nn_tensor *nn_flatten(nn_ctx *ctx, nn_tensor *x);
nn_tensor *nn_permute(nn_ctx *ctx, nn_tensor *x, const int *perm); /* perm has x->ndim entries */
nn_tensor *nn_concat(nn_ctx *ctx, int n, nn_tensor *const *xs, int axis);
nn_tensor *nn_slice(nn_ctx *ctx, nn_tensor *x, int axis, int start, int end); /* [start, end) */

/* Element-wise, same shapes. */
nn_tensor *nn_add(nn_ctx *ctx, nn_tensor *a, nn_tensor *b);
nn_tensor *nn_mul(nn_ctx *ctx, nn_tensor *a, nn_tensor *b);
nn_tensor *nn_scale(nn_ctx *ctx, nn_tensor *x, float s);
/* Reductions to a one-element tensor. */
nn_tensor *nn_sum(nn_ctx *ctx, nn_tensor *x);
nn_tensor *nn_mean(nn_ctx *ctx, nn_tensor *x);

nn_tensor *nn_softmax(nn_ctx *ctx, nn_tensor *x, int axis);
nn_tensor *nn_log_softmax(nn_ctx *ctx, nn_tensor *x, int axis);

typedef enum { NN_REDUCE_MEAN = 0, NN_REDUCE_SUM } nn_reduction;
/* logits [N, C]; targets[N] in [0, C) or < 0 to ignore; class_weights [C] or
 * NULL; label_smoothing in [0, 1). Mean reduction divides by the sum of the
 * weights of the non-ignored targets, as PyTorch. -> one element. */
nn_tensor *nn_cross_entropy(nn_ctx *ctx, nn_tensor *logits, const int *targets,
                            const float *class_weights, float label_smoothing,
                            nn_reduction reduction);
/* Smooth-L1 (Huber with beta): pred and target same shape; target is data,
 * not differentiated. mask (numel entries, 0/1) or NULL selects elements.
 * Mean divides by the number of selected elements. */
nn_tensor *nn_smooth_l1(nn_ctx *ctx, nn_tensor *pred, const float *target,
                        const float *mask, float beta, nn_reduction reduction);
/* Nearest-neighbour upsampling by 2 to like's height and width (which must
 * halve, rounded up, to x's): y[n,c,oy,ox] = x[n,c,oy/2,ox/2]. like gives
 * only the size. */
nn_tensor *nn_upsample2x(nn_ctx *ctx, nn_tensor *x, const nn_tensor *like);
/* SSD's Normalize layer: y[n,c,h,w] = scale[c] * x[n,c,h,w] / sqrt(sum_c x^2 + eps). */
nn_tensor *nn_l2norm(nn_ctx *ctx, nn_tensor *x, nn_tensor *scale, float eps);

/* ----------------------------------------------------------------- kernels */

/* The kernels' grow-only workspace, owned by a ctx (nn_internal.h). */
typedef struct nn_scratch nn_scratch;

/* Everything a convolution kernel needs to know about its shapes. */
typedef struct {
    int n, cin, h, w;          /* input                      */
    int cout, kh, kw;          /* weights [cout, cin/groups, kh, kw] */
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
    int hout, wout;            /* output                     */
    bool relu;                 /* forward: y = max(0, conv + b) */
    bool direct_only;          /* forward and backward weights: no Winograd even where it
                                  applies (benchmarks and tests compare the paths);
                                  packing follows it */
    int winograd_tile;         /* forward, unless direct_only: 0 picks by the measured
                                  rule; 2 or 4 forces F(2x2) or F(4x4) wherever Winograd
                                  can run (3x3, stride 1; tests and benchmarks); packing
                                  follows it. Backward weights: 4 forces its Winograd
                                  wherever it can run (3x3, stride 1, padding <= 1) */
    nn_scratch *scratch;       /* temporary buffers; NULL: allocated per call */
} nn_conv2d_shape;

/* The hot loops, behind function pointers so SIMD versions plug in without
 * touching op code. Backward kernels ACCUMULATE into dx / dw / db. */
typedef struct {
    const char *name; /* "reference", "avx2", "avx512" */
    void (*conv2d_forward)(const nn_conv2d_shape *s, const float *x, const float *w,
                           const float *b, float *y);
    void (*conv2d_backward_data)(const nn_conv2d_shape *s, const float *dy, const float *w,
                                 float *dx);
    void (*conv2d_backward_weights)(const nn_conv2d_shape *s, const float *x, const float *dy,
                                    float *dw, float *db /* NULL when no bias */);
    /* Optional (NULL in the reference table): inference with the weights
     * re-laid-out (or transformed) once instead of at every call. `packed` is
     * 64-byte aligned memory of conv2d_packed_floats(s) floats, filled by
     * conv2d_pack_weights from w; it stays valid while w is unchanged, for the
     * same table and the same s except the batch size s->n.
     * conv2d_forward_packed then computes what conv2d_forward does. */
    size_t (*conv2d_packed_floats)(const nn_conv2d_shape *s);
    void (*conv2d_pack_weights)(const nn_conv2d_shape *s, const float *w, float *packed);
    void (*conv2d_forward_packed)(const nn_conv2d_shape *s, const float *x, const float *packed,
                                  const float *b, float *y);
} nn_kernels;

typedef enum { NN_ISA_REFERENCE = 0, NN_ISA_AVX2 = 1, NN_ISA_AVX512 = 2 } nn_isa;
/* Kernels in use: the best the CPU has, capped by NN_ISA=reference|avx2|avx512
 * in the environment or by nn_set_isa. */
const nn_kernels *nn_kernels_get(void);
const nn_kernels *nn_kernels_for(nn_isa isa); /* NULL if this CPU/binary lacks it */
nn_isa nn_cpu_best_isa(void);
nn_status nn_set_isa(nn_isa isa);
const char *nn_isa_name(nn_isa isa);

/* The plain-C reference kernels (nn/kernels_ref.c). */
extern const nn_kernels nn_kernels_reference;

/* ----------------------------------------------------------------- threads */

/* A global pool of worker threads. Thread count: nn_threads_set, else the
 * NN_THREADS environment variable, else the number of cores. */
/* Waits for a running job first; never call it (or shutdown) from a task. */
void nn_threads_set(int n);
int nn_threads_get(void);
/* Runs fn(arg, i) for i in [0, n) over the pool and waits for all. Nested
 * calls from inside a task run serially. */
void nn_parallel_for(int n, void (*fn)(void *arg, int i), void *arg);
void nn_threads_shutdown(void); /* optional, at exit (keeps valgrind quiet) */

/* ------------------------------------------------------------------ models */

/* A model is a list of layers in execution order. Each layer reads the
 * outputs of earlier layers by id (NN_MODEL_INPUT is the model's input), so
 * sequential stacks, residual blocks and SSD's multi-head outputs are all
 * declared the same way. Each builder returns the new layer's id (>= 0), or -1
 * with the reason in nn_model_error(). Parameters are named "<layer>.<param>"
 * (e.g. "conv1.weight", "bn1.running_mean"). */
#define NN_MODEL_INPUT (-1)
typedef struct nn_model nn_model;

nn_model *nn_model_create(int in_channels);
void nn_model_free(nn_model *m);
const char *nn_model_error(const nn_model *m);
int nn_model_last(const nn_model *m); /* id of the most recently added layer */
int nn_model_layer_count(const nn_model *m);
int nn_model_find_layer(const nn_model *m, const char *name); /* -1 if absent */
int nn_model_channels(const nn_model *m, int id);          /* output channels of a layer */

int nn_model_conv2d(nn_model *m, const char *name, int in, int cout, int kernel,
                    const nn_conv2d_params *p, bool bias);
int nn_model_batch_norm(nn_model *m, const char *name, int in, float momentum, float eps);
int nn_model_relu(nn_model *m, const char *name, int in);
int nn_model_leaky_relu(nn_model *m, const char *name, int in, float slope);
int nn_model_sigmoid(nn_model *m, const char *name, int in);
int nn_model_max_pool2d(nn_model *m, const char *name, int in, const nn_pool2d_params *p);
int nn_model_avg_pool2d(nn_model *m, const char *name, int in, const nn_pool2d_params *p);
int nn_model_global_avg_pool2d(nn_model *m, const char *name, int in);
int nn_model_flatten(nn_model *m, const char *name, int in);
int nn_model_linear(nn_model *m, const char *name, int in, int in_features, int out_features,
                    bool bias);
int nn_model_dropout(nn_model *m, const char *name, int in, float p);
int nn_model_add(nn_model *m, const char *name, int a, int b);
int nn_model_concat(nn_model *m, const char *name, int n, const int *ins, int axis);
int nn_model_permute(nn_model *m, const char *name, int in, int ndim, const int *perm);
int nn_model_reshape(nn_model *m, const char *name, int in, int ndim, const int *shape);
int nn_model_softmax(nn_model *m, const char *name, int in, int axis);
int nn_model_l2norm(nn_model *m, const char *name, int in, float initial_scale, float eps);
/* nn_upsample2x of layer in's output to the size of layer like's output. */
int nn_model_upsample2x(nn_model *m, const char *name, int in, int like);

/* Runs every layer; returns the last layer's output (NULL on error, see ctx).
 * Any layer's output stays readable through nn_model_output until nn_ctx_reset,
 * except a ReLU layer whose only reader is a max-pool layer: the pool applies
 * it (nn_max_pool2d_relu, same result, a quarter of the work) and the ReLU
 * layer's output is NULL. */
nn_tensor *nn_model_forward(nn_model *m, nn_ctx *ctx, nn_tensor *input);
nn_tensor *nn_model_output(const nn_model *m, int id);

/* Named parameters. Trainable ones have requires_grad; buffers (batch-norm
 * running statistics) do not but are saved with the weights. */
typedef struct {
    const char *name;
    nn_tensor *tensor;
    bool trainable;
} nn_param;
int nn_model_param_count(const nn_model *m);
nn_param nn_model_param(const nn_model *m, int i);
nn_tensor *nn_model_find_param(const nn_model *m, const char *name);
size_t nn_model_trainable_numel(const nn_model *m);
void nn_model_zero_grad(nn_model *m);
/* He (Kaiming) uniform weights for ReLU nets, bound sqrt(6 / fan_in); zero
 * biases; batch norm gamma 1, beta 0, running var 1. Deterministic in seed. */
void nn_model_init(nn_model *m, uint64_t seed);
/* Inference: a promise that the weights no longer change, so each conv layer
 * keeps its weights pre-packed for the SIMD kernels (packed on the first
 * forward without gradients, reused after). nn_model_unfreeze (called by
 * nn_model_init, nn_model_load_weights and nn_model_fold_batch_norm) drops
 * the packed copies; call it yourself before changing weights another way. */
void nn_model_freeze(nn_model *m);
void nn_model_unfreeze(nn_model *m);
/* Inference: replaces each conv+batch-norm pair by a conv with a folded bias,
 * and lets each conv followed only by a ReLU apply the ReLU itself. */
nn_status nn_model_fold_batch_norm(nn_model *m, nn_error *err);

/* -------------------------------------------------------------- optimizers */

typedef enum { NN_OPTIM_SGD = 0, NN_OPTIM_ADAM, NN_OPTIM_ADAMW } nn_optim_type;

typedef struct {
    nn_optim_type type;
    float lr;
    float momentum;      /* SGD */
    float dampening;     /* SGD, as PyTorch */
    bool nesterov;       /* SGD */
    float weight_decay;  /* SGD/Adam: L2 added to the gradient; AdamW: decoupled */
    float beta1, beta2;  /* Adam/AdamW */
    float eps;           /* Adam/AdamW */
} nn_optim_config;
nn_optim_config nn_optim_default(nn_optim_type type); /* PyTorch's defaults */

typedef struct nn_optim nn_optim;
/* Optimises the given tensors (their ->grad is read at each step). */
nn_optim *nn_optim_create(const nn_optim_config *cfg, int n, nn_tensor *const *params);
nn_optim *nn_optim_create_for_model(const nn_optim_config *cfg, nn_model *m);
void nn_optim_free(nn_optim *o);
/* One update with learning rate lr (the schedule lives outside). */
void nn_optim_step(nn_optim *o, float lr);
/* State for checkpoints: the step count and the per-parameter state tensors
 * (momentum buffer; Adam's m and v), named "optim.<i>.<what>". */
int64_t nn_optim_steps(const nn_optim *o);
void nn_optim_set_steps(nn_optim *o, int64_t steps);
int nn_optim_state_count(const nn_optim *o);
nn_tensor *nn_optim_state(const nn_optim *o, int i, const char **name);

typedef enum { NN_LR_CONSTANT = 0, NN_LR_STEP, NN_LR_COSINE } nn_lr_kind;
typedef struct {
    nn_lr_kind kind;
    float base_lr;
    int warmup_steps;   /* linear from base_lr*warmup_start_factor to base_lr */
    float warmup_start_factor;
    int step_size;      /* NN_LR_STEP: multiply by gamma every step_size steps */
    float gamma;
    int total_steps;    /* NN_LR_COSINE: anneal to min_lr over total_steps */
    float min_lr;
} nn_lr_schedule;
float nn_lr_at(const nn_lr_schedule *s, int step);

/* ----------------------------------------------------------------- weights */

/* An in-memory .nnw file: named tensors plus string metadata (architecture,
 * input size, class names, preprocessing, ...). See docs/weights-format.md. */
typedef enum { NN_DTYPE_F32 = 0, NN_DTYPE_F16 = 1 } nn_dtype;
typedef struct nn_weights nn_weights;

nn_weights *nn_weights_create(void);
void nn_weights_free(nn_weights *w);
/* Copies t's data; dtype says how it is stored on disk. */
nn_status nn_weights_add(nn_weights *w, const char *name, const nn_tensor *t, nn_dtype dtype,
                         nn_error *err);
nn_status nn_weights_set_meta(nn_weights *w, const char *key, const char *value, nn_error *err);
const char *nn_weights_meta(const nn_weights *w, const char *key); /* NULL if absent */
int nn_weights_meta_count(const nn_weights *w);
const char *nn_weights_meta_key(const nn_weights *w, int i);
int nn_weights_count(const nn_weights *w);
const char *nn_weights_name(const nn_weights *w, int i);
const nn_tensor *nn_weights_tensor(const nn_weights *w, int i);
const nn_tensor *nn_weights_find(const nn_weights *w, const char *name);

/* Atomic: writes path.tmp.<pid>, fsyncs, renames over path. */
nn_status nn_weights_save(const nn_weights *w, const char *path, nn_error *err);
nn_status nn_weights_load(const char *path, nn_weights **out, nn_error *err);
nn_status nn_weights_load_memory(const void *buf, size_t len, nn_weights **out, nn_error *err);

/* Model <-> weights: every parameter by name; a missing tensor or a shape
 * mismatch is an error naming the parameter and both shapes. */
nn_status nn_model_to_weights(const nn_model *m, nn_weights *w, nn_dtype dtype, nn_error *err);
nn_status nn_model_load_weights(nn_model *m, const nn_weights *w, nn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* NN_H */
