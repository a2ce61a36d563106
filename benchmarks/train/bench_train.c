/*
 * bench_train.c - training-step speed of two small CNNs, per layer, against PyTorch.
 *
 * Networks (batch 32 by default, input 3x124x124, two classes, softmax
 * cross-entropy, SGD with momentum 0.9 as PyTorch's torch.optim.SGD):
 *
 *   small   3 stages of [conv3x3 pad 1 (+bias), ReLU, max pool 2x2]
 *           with 32, 64, 128 channels (124 -> 62 -> 31 -> 15), then global
 *           average pooling to [N, 128], flatten, linear 128 -> 2.
 *   seed    the original pipeline's classifier (vision/classifier.c):
 *           conv3x3 32 'valid', ReLU, conv3x3 64 'valid', ReLU, max pool 2x2,
 *           dropout 0.25, flatten (64*60*60 = 230400), linear 230400 -> 50,
 *           ReLU, dropout 0.5, linear 50 -> 2.
 *
 * A ReLU followed by a max pool runs inside the pool (nn_max_pool2d_relu,
 * the same values and gradients: the rewrite nn_model_forward makes), shown
 * as one layer "reluN+poolN"; --separate-relu runs them as two ops instead.
 * --fuse-relu lets each conv apply the ReLU that follows it (the conv op's
 * relu flag, as nn_model_fold_batch_norm does for inference) instead.
 *
 * The input batch is fixed random data; the labels are drawn anew for every
 * step (see draw_labels) so the loss stays in a realistic range.
 *
 * One step = reset the ctx, zero the gradients, forward, loss, backward, SGD
 * update. The layers are called op by op (not through nn_model) so each one
 * can be timed; backward walks the recorded nodes from the loss down exactly
 * as nn_backward does (one node per layer, in reverse order), timing each.
 *
 * For each thread count: a warm-up step, then steps until --steps are done or
 * --seconds have passed (at least 3). Reported: images/s at the slowest and the
 * median step, the median process CPU time per step (the machine is shared:
 * CPU time shows the cost of a step even when other work delays it), median
 * milliseconds per layer and pass, the time outside the convolutions, and the
 * process's peak RSS. With --passes, each conv layer's three kernels (forward,
 * backward data, backward weights) are then also timed alone on the layer's
 * real input, min wall and min process-CPU milliseconds of 5 calls, with
 * GFLOP/s by each (2*Cout*Ho*Wo*Cin*Kh*Kw per image); the first layer's
 * backward data is not part of a step (its input needs no gradient). Unless
 * --no-peers is given, runs
 * benchmarks/train/torch_train_step.py with /usr/bin/python3 (when torch is
 * installed) on the same network, batch and thread count and prints the ratio.
 *
 *   build/bench_train [--json] [--no-peers] [--fuse-relu|--separate-relu] [--net small|seed|all]
 *                     [--threads 1,2] [--steps N] [--seconds S] [--batch N] [--passes]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "nn.h"
#include "nn_internal.h" /* nn_node, to run and time each layer's backward */
#include "../timing.h"

enum { MAX_LAYERS = 16, MAX_STEPS = 1000, MAX_THREAD_COUNTS = 8, PASS_REPEATS = 5 };

typedef enum {
    L_CONV, L_RELU, L_MAXPOOL, L_MAXPOOL_RELU, L_GAP, L_FLATTEN, L_LINEAR, L_DROPOUT
} layer_kind;

typedef struct {
    const char *name;
    layer_kind kind;
    nn_tensor *w, *b;         /* conv / linear parameters          */
    nn_tensor *w_mom, *b_mom; /* SGD momentum buffers              */
    nn_conv2d_params conv;
    float dropout_p;
} layer;

typedef struct {
    const char *name;
    int side;
    layer layers[MAX_LAYERS];
    int n_layers;
} network;

/* median milliseconds of one layer over the measured steps */
typedef struct {
    double forward_ms, backward_ms;
    double forward_cpu_ms, backward_cpu_ms; /* process CPU time, all threads */
    /* --passes, conv layers: min ms of each kernel alone (fwd, bwd data, bwd weights) */
    double pass_ms[3], pass_cpu_ms[3], gflop;
} layer_time;

typedef struct {
    int threads;
    double step_ms_median, step_ms_max;
    double step_cpu_ms_median; /* process CPU time per step, all threads */
    double images_per_s_median, images_per_s_min;
    double loss_ms, sgd_ms, conv_ms, nonconv_ms; /* medians; conv = all conv layers, both passes */
    double conv_cpu_ms, nonconv_cpu_ms;         /* the same in process CPU time */
    layer_time layers[MAX_LAYERS];
    int steps;
    double torch_images_per_s; /* 0 when the peer did not run */
    double torch_cpu_ms;       /* its median process CPU ms per step */
    float last_loss;           /* sanity: a finite loss means the step computed something real */
} run_result;

typedef struct {
    bool json, peers, fuse_relu, separate_relu, passes;
    const char *net; /* "small", "seed" or "all" */
    int thread_counts[MAX_THREAD_COUNTS], n_thread_counts;
    int steps;
    double seconds;
    int batch;
    char peer_script[1024];
} options;

/* ------------------------------------------------------------- networks */

static nn_tensor *param_uniform(nn_ctx *rng, int ndim, const int *shape, float bound) {
    nn_tensor *t = nn_tensor_new(ndim, shape);
    if (!t) return NULL;
    for (size_t i = 0; i < t->numel; i++) t->data[i] = bound * (2.0f * nn_ctx_rand_uniform(rng) - 1.0f);
    nn_tensor_set_requires_grad(t, true);
    return t;
}

/* He-uniform weights, zero bias, zero momentum. */
static void add_weighted(network *net, nn_ctx *rng, const char *name, layer_kind kind, int ndim,
                         const int *wshape, int fan_in, const nn_conv2d_params *p) {
    layer *l = &net->layers[net->n_layers++];
    *l = (layer){.name = name, .kind = kind};
    if (p) l->conv = *p;
    l->w = param_uniform(rng, ndim, wshape, sqrtf(6.0f / (float)fan_in));
    l->b = param_uniform(rng, 1, wshape, 0.0f);
    l->w_mom = nn_tensor_new(ndim, wshape);
    l->b_mom = nn_tensor_new(1, wshape);
}

static void add_plain(network *net, const char *name, layer_kind kind, float dropout_p) {
    net->layers[net->n_layers++] = (layer){.name = name, .kind = kind, .dropout_p = dropout_p};
}

/* How a ReLU that a max pool follows is run (see the file comment). */
typedef enum { RELU_IN_POOL, RELU_SEPARATE, RELU_IN_CONV } relu_mode;

static void build_small(network *net, nn_ctx *rng, relu_mode relu_at) {
    *net = (network){.name = "small", .side = 124};
    nn_conv2d_params same = nn_conv2d_default();
    same.pad_h = same.pad_w = 1;
    same.relu = relu_at == RELU_IN_CONV;
    static const char *conv[3] = {"conv1", "conv2", "conv3"}, *relu[3] = {"relu1", "relu2", "relu3"},
                      *pool[3] = {"pool1", "pool2", "pool3"},
                      *relu_pool[3] = {"relu1+pool1", "relu2+pool2", "relu3+pool3"};
    int cin = 3;
    for (int s = 0; s < 3; s++) {
        int cout = 32 << s;
        int ws[4] = {cout, cin, 3, 3};
        add_weighted(net, rng, conv[s], L_CONV, 4, ws, cin * 9, &same);
        if (relu_at == RELU_SEPARATE) add_plain(net, relu[s], L_RELU, 0);
        if (relu_at == RELU_IN_POOL)
            add_plain(net, relu_pool[s], L_MAXPOOL_RELU, 0);
        else
            add_plain(net, pool[s], L_MAXPOOL, 0);
        cin = cout;
    }
    add_plain(net, "gap", L_GAP, 0);
    add_plain(net, "flatten", L_FLATTEN, 0);
    int fs[2] = {2, 128};
    add_weighted(net, rng, "fc", L_LINEAR, 2, fs, 128, NULL);
}

static void build_seed(network *net, nn_ctx *rng, relu_mode relu_at) {
    *net = (network){.name = "seed", .side = 124};
    nn_conv2d_params valid = nn_conv2d_default();
    valid.relu = relu_at == RELU_IN_CONV;
    int w1[4] = {32, 3, 3, 3}, w2[4] = {64, 32, 3, 3};
    add_weighted(net, rng, "conv1", L_CONV, 4, w1, 27, &valid);
    if (relu_at != RELU_IN_CONV) add_plain(net, "relu1", L_RELU, 0);
    add_weighted(net, rng, "conv2", L_CONV, 4, w2, 288, &valid);
    if (relu_at == RELU_SEPARATE) add_plain(net, "relu2", L_RELU, 0);
    if (relu_at == RELU_IN_POOL)
        add_plain(net, "relu2+pool", L_MAXPOOL_RELU, 0);
    else
        add_plain(net, "pool", L_MAXPOOL, 0);
    add_plain(net, "drop1", L_DROPOUT, 0.25f);
    add_plain(net, "flatten", L_FLATTEN, 0);
    int pooled = (net->side - 4) / 2;
    int f1[2] = {50, 64 * pooled * pooled}, f2[2] = {2, 50};
    add_weighted(net, rng, "fc1", L_LINEAR, 2, f1, f1[1], NULL);
    add_plain(net, "relu3", L_RELU, 0);
    add_plain(net, "drop2", L_DROPOUT, 0.5f);
    add_weighted(net, rng, "fc2", L_LINEAR, 2, f2, 50, NULL);
}

static void free_network(network *net) {
    for (int i = 0; i < net->n_layers; i++) {
        nn_tensor_free(net->layers[i].w);
        nn_tensor_free(net->layers[i].b);
        nn_tensor_free(net->layers[i].w_mom);
        nn_tensor_free(net->layers[i].b_mom);
    }
}

static nn_tensor *layer_forward(nn_ctx *ctx, const layer *l, nn_tensor *x) {
    nn_pool2d_params pool = nn_pool2d_default(2, 2);
    switch (l->kind) {
    case L_CONV: return nn_conv2d(ctx, x, l->w, l->b, &l->conv);
    case L_RELU: return nn_relu(ctx, x);
    case L_MAXPOOL: return nn_max_pool2d(ctx, x, &pool);
    case L_MAXPOOL_RELU: return nn_max_pool2d_relu(ctx, x, &pool);
    case L_GAP: return nn_global_avg_pool2d(ctx, x);
    case L_FLATTEN: return nn_flatten(ctx, x);
    case L_LINEAR: return nn_linear(ctx, x, l->w, l->b);
    case L_DROPOUT: return nn_dropout(ctx, x, l->dropout_p);
    }
    return NULL;
}

/* torch.optim.SGD with momentum m, no dampening: buf = m*buf + g; p -= lr*buf */
static void sgd_update(nn_tensor *p, nn_tensor *buf, float lr, float momentum) {
    float *restrict pd = p->data, *restrict bd = buf->data;
    const float *restrict g = p->grad;
    for (size_t i = 0; i < p->numel; i++) {
        bd[i] = momentum * bd[i] + g[i];
        pd[i] -= lr * bd[i];
    }
}

/* One training step; fills per-layer times (ms) and returns the step's ms. */
static double train_step(network *net, nn_ctx *ctx, nn_tensor *x, const int *labels,
                         double *fwd_ms, double *bwd_ms, double *fwd_cpu, double *bwd_cpu,
                         double *loss_ms, double *sgd_ms,
                         float *loss_value) {
    double t_start = timing_wall_ms();
    nn_ctx_reset(ctx);
    for (int i = 0; i < net->n_layers; i++) {
        layer *l = &net->layers[i];
        if (l->w) {
            nn_tensor_zero_grad(l->w);
            nn_tensor_zero_grad(l->b);
        }
    }
    nn_tensor *outs[MAX_LAYERS], *h = x;
    for (int i = 0; i < net->n_layers; i++) {
        double t0 = timing_wall_ms(), c0 = timing_cpu_ms();
        h = outs[i] = layer_forward(ctx, &net->layers[i], h);
        fwd_ms[i] = timing_wall_ms() - t0;
        fwd_cpu[i] = timing_cpu_ms() - c0;
    }
    double t0 = timing_wall_ms();
    nn_tensor *loss = nn_cross_entropy(ctx, h, labels, NULL, 0.0f, NN_REDUCE_MEAN);
    if (!loss || nn_ctx_status(ctx) != NN_OK) {
        fprintf(stderr, "bench_train: %s forward failed: %s\n", net->name, nn_ctx_error(ctx));
        exit(1);
    }
    /* backward, as nn_backward: seed dL/dL = 1, then each node in reverse */
    float *g = nn_grad(ctx, loss);
    if (!g) exit(1);
    g[0] = 1.0f;
    *loss_value = loss->data[0];
    loss->node->backward(ctx, loss->node);
    *loss_ms = timing_wall_ms() - t0;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        double t1 = timing_wall_ms(), c1 = timing_cpu_ms();
        nn_node *node = outs[i]->node;
        if (node && outs[i]->grad) node->backward(ctx, node);
        bwd_ms[i] = timing_wall_ms() - t1;
        bwd_cpu[i] = timing_cpu_ms() - c1;
    }
    if (nn_ctx_status(ctx) != NN_OK) {
        fprintf(stderr, "bench_train: %s backward failed: %s\n", net->name, nn_ctx_error(ctx));
        exit(1);
    }
    t0 = timing_wall_ms();
    for (int i = 0; i < net->n_layers; i++) {
        layer *l = &net->layers[i];
        if (!l->w) continue;
        sgd_update(l->w, l->w_mom, 0.01f, 0.9f);
        sgd_update(l->b, l->b_mom, 0.01f, 0.9f);
    }
    *sgd_ms = timing_wall_ms() - t0;
    return timing_wall_ms() - t_start;
}

/* ------------------------------------------------------- kernel passes */

/* Times each conv layer's forward, backward-data and backward-weights
 * kernels alone on the layer's input from one forward pass of x. */
static void time_passes(network *net, nn_ctx *ctx, nn_tensor *x, layer_time *lt) {
    const nn_kernels *k = nn_kernels_get();
    nn_ctx_reset(ctx);
    nn_tensor *h = x;
    for (int i = 0; i < net->n_layers; i++) {
        layer *l = &net->layers[i];
        nn_tensor *in = h;
        h = layer_forward(ctx, l, h);
        if (!h) exit(1);
        if (l->kind != L_CONV) continue;
        const nn_conv2d_params *p = &l->conv;
        nn_conv2d_shape s = {
            .n = in->shape[0], .cin = in->shape[1], .h = in->shape[2], .w = in->shape[3],
            .cout = l->w->shape[0], .kh = l->w->shape[2], .kw = l->w->shape[3],
            .stride_h = p->stride_h, .stride_w = p->stride_w, .pad_h = p->pad_h, .pad_w = p->pad_w,
            .dil_h = p->dilation_h, .dil_w = p->dilation_w, .groups = p->groups, .relu = p->relu,
            .hout = h->shape[2], .wout = h->shape[3]};
        size_t ny = (size_t)s.n * s.cout * s.hout * s.wout;
        float *y = nn_aligned_alloc(ny * sizeof(float)), *dy = nn_aligned_alloc(ny * sizeof(float));
        float *dx = nn_aligned_alloc(in->numel * sizeof(float));
        float *dw = nn_aligned_alloc(l->w->numel * sizeof(float));
        float *db = nn_aligned_alloc((size_t)s.cout * sizeof(float));
        if (!y || !dy || !dx || !dw || !db) exit(1);
        for (size_t j = 0; j < ny; j++) dy[j] = h->data[j] * 1e-3f; /* a gradient-sized signal */
        memset(dx, 0, in->numel * sizeof(float));
        memset(dw, 0, l->w->numel * sizeof(float));
        memset(db, 0, (size_t)s.cout * sizeof(float));
        lt[i].gflop = 2.0 * s.n * s.cout * s.hout * s.wout * (s.cin / s.groups) * s.kh * s.kw / 1e9;
        for (int pass = 0; pass < 3; pass++) {
            lt[i].pass_ms[pass] = lt[i].pass_cpu_ms[pass] = 1e30;
            for (int r = 0; r < PASS_REPEATS; r++) {
                double t0 = timing_wall_ms(), c0 = timing_cpu_ms();
                if (pass == 0) k->conv2d_forward(&s, in->data, l->w->data, l->b->data, y);
                else if (pass == 1) k->conv2d_backward_data(&s, dy, l->w->data, dx);
                else k->conv2d_backward_weights(&s, in->data, dy, dw, db);
                double t = timing_wall_ms() - t0, c = timing_cpu_ms() - c0;
                if (t < lt[i].pass_ms[pass]) lt[i].pass_ms[pass] = t;
                if (c < lt[i].pass_cpu_ms[pass]) lt[i].pass_cpu_ms[pass] = c;
            }
        }
        nn_aligned_free(y), nn_aligned_free(dy), nn_aligned_free(dx);
        nn_aligned_free(dw), nn_aligned_free(db);
    }
    nn_ctx_reset(ctx);
}

/* --------------------------------------------------------------- peer */

/* Runs the PyTorch script for one configuration; returns its median images/s
 * (0 if it did not run) and its median CPU ms per step in *cpu_ms. */
static double run_torch_peer(const options *o, const char *net_name, int threads, double *cpu_ms) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s' --net %s --threads %d --batch %d --steps %d --seconds %g 2>/dev/null",
             o->peer_script, net_name, threads, o->batch, o->steps, o->seconds);
    FILE *f = popen(cmd, "r");
    if (!f) return 0.0;
    char line[1024];
    double ips = 0.0;
    while (fgets(line, sizeof line, f)) {
        const char *key = strstr(line, "\"images_per_s_median\":");
        if (key) ips = atof(key + strlen("\"images_per_s_median\":"));
        const char *cpu = strstr(line, "\"step_cpu_ms_median\":");
        if (cpu) *cpu_ms = atof(cpu + strlen("\"step_cpu_ms_median\":"));
    }
    int rc = pclose(f);
    return rc == 0 ? ips : 0.0;
}

/* ---------------------------------------------------------------- main */

/* New random labels for every step: with fixed ones the network memorises
 * the one batch within a few steps, the loss and every gradient fall towards
 * zero, and the backward pass then runs on denormal numbers, which are many
 * times slower on x86 and would measure nothing a real run does. */
static void draw_labels(nn_ctx *rng, int *labels, int batch) {
    for (int i = 0; i < batch; i++) labels[i] = (int)(nn_ctx_rand_u64(rng) & 1);
}

static void run_network(const options *o, network *net, run_result *res, int n_res) {
    nn_ctx *ctx = nn_ctx_create(), *rng = nn_ctx_create();
    nn_ctx_seed(rng, 7);
    nn_ctx_set_training(ctx, true);
    nn_tensor *x = nn_tensor_new4(o->batch, 3, net->side, net->side);
    int *labels = malloc((size_t)o->batch * sizeof *labels);
    if (!ctx || !rng || !x || !labels) {
        fprintf(stderr, "bench_train: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < x->numel; i++) x->data[i] = nn_ctx_rand_uniform(rng);

    static double fwd[MAX_STEPS][MAX_LAYERS], bwd[MAX_STEPS][MAX_LAYERS];
    static double fwd_cpu[MAX_STEPS][MAX_LAYERS], bwd_cpu[MAX_STEPS][MAX_LAYERS];
    static double step_ms[MAX_STEPS], loss_ms[MAX_STEPS], sgd_ms[MAX_STEPS], conv_ms[MAX_STEPS];
    static double step_cpu_ms[MAX_STEPS], conv_cpu_ms[MAX_STEPS];
    for (int r = 0; r < n_res; r++) {
        run_result *rr = &res[r];
        nn_threads_set(rr->threads);
        double dummy_f[MAX_LAYERS], dummy_b[MAX_LAYERS], dummy_fc[MAX_LAYERS], dummy_bc[MAX_LAYERS];
        double dl, ds;
        float first_loss;
        draw_labels(rng, labels, o->batch);
        train_step(net, ctx, x, labels, dummy_f, dummy_b, dummy_fc, dummy_bc, &dl, &ds,
                   &first_loss); /* warm-up */
        double t_begin = timing_wall_ms();
        int n = 0;
        while (n < o->steps && n < MAX_STEPS && (n < 3 || timing_wall_ms() - t_begin < o->seconds * 1e3)) {
            draw_labels(rng, labels, o->batch);
            double cpu0 = timing_cpu_ms();
            step_ms[n] = train_step(net, ctx, x, labels, fwd[n], bwd[n], fwd_cpu[n], bwd_cpu[n],
                                    &loss_ms[n], &sgd_ms[n], &rr->last_loss);
            step_cpu_ms[n] = timing_cpu_ms() - cpu0;
            conv_ms[n] = conv_cpu_ms[n] = 0.0;
            for (int i = 0; i < net->n_layers; i++) {
                if (net->layers[i].kind != L_CONV) continue;
                conv_ms[n] += fwd[n][i] + bwd[n][i];
                conv_cpu_ms[n] += fwd_cpu[n][i] + bwd_cpu[n][i];
            }
            n++;
        }
        rr->steps = n;
        double col[MAX_STEPS], nonconv[MAX_STEPS];
        for (int i = 0; i < net->n_layers; i++) {
            for (int s = 0; s < n; s++) col[s] = fwd[s][i];
            rr->layers[i].forward_ms = timing_median(col, n);
            for (int s = 0; s < n; s++) col[s] = bwd[s][i];
            rr->layers[i].backward_ms = timing_median(col, n);
            for (int s = 0; s < n; s++) col[s] = fwd_cpu[s][i];
            rr->layers[i].forward_cpu_ms = timing_median(col, n);
            for (int s = 0; s < n; s++) col[s] = bwd_cpu[s][i];
            rr->layers[i].backward_cpu_ms = timing_median(col, n);
        }
        for (int s = 0; s < n; s++) nonconv[s] = step_ms[s] - conv_ms[s];
        rr->nonconv_ms = timing_median(nonconv, n);
        for (int s = 0; s < n; s++) nonconv[s] = step_cpu_ms[s] - conv_cpu_ms[s];
        rr->nonconv_cpu_ms = timing_median(nonconv, n);
        rr->conv_cpu_ms = timing_median(conv_cpu_ms, n);
        rr->conv_ms = timing_median(conv_ms, n);
        rr->loss_ms = timing_median(loss_ms, n);
        rr->sgd_ms = timing_median(sgd_ms, n);
        rr->step_cpu_ms_median = timing_median(step_cpu_ms, n);
        rr->step_ms_median = timing_median(step_ms, n); /* sorts step_ms */
        rr->step_ms_max = step_ms[n - 1];
        rr->images_per_s_median = o->batch * 1e3 / rr->step_ms_median;
        rr->images_per_s_min = o->batch * 1e3 / rr->step_ms_max;
        if (o->passes) time_passes(net, ctx, x, rr->layers);
        if (o->peers)
            rr->torch_images_per_s = run_torch_peer(o, net->name, rr->threads, &rr->torch_cpu_ms);
    }
    free(labels);
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
    nn_ctx_destroy(rng);
}

static void print_text(const options *o, const network *net, const run_result *res, int n_res) {
    printf("== %s: batch %d, input 3x%dx%d, conv kernels: %s%s\n", net->name, o->batch, net->side,
           net->side, nn_kernels_get()->name,
           o->fuse_relu       ? ", ReLU fused into the convs"
           : o->separate_relu ? ", ReLU and max pool separate"
                              : ", ReLU run by the max pool");
    for (int r = 0; r < n_res; r++) {
        const run_result *rr = &res[r];
        printf("threads %d: %.1f images/s median, %.1f min (step %.1f ms median, CPU %.1f ms; "
               "%d steps, last loss %.4g)",
               rr->threads, rr->images_per_s_median, rr->images_per_s_min, rr->step_ms_median,
               rr->step_cpu_ms_median, rr->steps, (double)rr->last_loss);
        if (rr->torch_images_per_s > 0)
            printf("\n  PyTorch %.1f images/s (CPU %.1f ms per step): ours/theirs %.2fx by wall "
                   "time, %.2fx by CPU time",
                   rr->torch_images_per_s, rr->torch_cpu_ms,
                   rr->images_per_s_median / rr->torch_images_per_s,
                   rr->torch_cpu_ms / rr->step_cpu_ms_median);
        printf("\n  %-10s %10s %10s %12s %12s\n", "layer", "fwd ms", "bwd ms", "fwd CPU ms",
               "bwd CPU ms");
        for (int i = 0; i < net->n_layers; i++)
            printf("  %-10s %10.2f %10.2f %12.2f %12.2f\n", net->layers[i].name,
                   rr->layers[i].forward_ms, rr->layers[i].backward_ms,
                   rr->layers[i].forward_cpu_ms, rr->layers[i].backward_cpu_ms);
        printf("  %-10s %10.2f (forward + backward)\n  %-10s %10.2f (update)\n", "loss",
               rr->loss_ms, "sgd", rr->sgd_ms);
        printf("  conv layers %.1f ms (CPU %.1f), everything else %.1f ms (CPU %.1f) per step\n",
               rr->conv_ms, rr->conv_cpu_ms, rr->nonconv_ms, rr->nonconv_cpu_ms);
        if (!o->passes) continue;
        static const char *pass_names[3] = {"fwd", "bwd_data", "bwd_weights"};
        printf("  conv kernels alone (min of %d calls)\n  %-10s %-11s %9s %9s %9s %12s\n",
               PASS_REPEATS, "layer", "pass", "ms", "CPU ms", "GFLOP/s", "GFLOP/s CPU");
        for (int i = 0; i < net->n_layers; i++) {
            if (net->layers[i].kind != L_CONV) continue;
            const layer_time *lt = &rr->layers[i];
            for (int p = 0; p < 3; p++)
                printf("  %-10s %-11s %9.2f %9.2f %9.1f %12.1f\n", net->layers[i].name,
                       pass_names[p], lt->pass_ms[p], lt->pass_cpu_ms[p],
                       lt->gflop / lt->pass_ms[p] * 1e3, lt->gflop / lt->pass_cpu_ms[p] * 1e3);
        }
    }
}

static void print_json_network(const options *o, const network *net, const run_result *res,
                               int n_res, bool last) {
    printf("{\"net\":\"%s\",\"batch\":%d,\"input\":[3,%d,%d],\"conv_kernels\":\"%s\","
           "\"fused_relu\":%s,\"relu_in_pool\":%s,\"runs\":[",
           net->name, o->batch, net->side, net->side, nn_kernels_get()->name,
           o->fuse_relu ? "true" : "false", !o->fuse_relu && !o->separate_relu ? "true" : "false");
    for (int r = 0; r < n_res; r++) {
        const run_result *rr = &res[r];
        printf("%s{\"threads\":%d,\"steps\":%d,\"images_per_s_median\":%.2f,"
               "\"images_per_s_min\":%.2f,\"step_ms_median\":%.3f,\"step_cpu_ms_median\":%.3f,"
               "\"conv_cpu_ms\":%.3f,\"nonconv_cpu_ms\":%.3f,\"conv_ms\":%.3f,"
               "\"nonconv_ms\":%.3f,\"loss_ms\":%.3f,\"sgd_ms\":%.3f,\"last_loss\":%.6g,",
               r ? "," : "", rr->threads, rr->steps, rr->images_per_s_median,
               rr->images_per_s_min, rr->step_ms_median, rr->step_cpu_ms_median, rr->conv_cpu_ms,
               rr->nonconv_cpu_ms, rr->conv_ms,
               rr->nonconv_ms, rr->loss_ms,
               rr->sgd_ms, isfinite(rr->last_loss) ? (double)rr->last_loss : -1.0);
        if (rr->torch_images_per_s > 0)
            printf("\"torch_images_per_s_median\":%.2f,\"torch_step_cpu_ms_median\":%.3f,"
                   "\"ratio\":%.3f,\"cpu_ratio\":%.3f,",
                   rr->torch_images_per_s, rr->torch_cpu_ms,
                   rr->images_per_s_median / rr->torch_images_per_s,
                   rr->torch_cpu_ms / rr->step_cpu_ms_median);
        printf("\"layers\":[");
        for (int i = 0; i < net->n_layers; i++) {
            const layer_time *lt = &rr->layers[i];
            printf("%s{\"name\":\"%s\",\"forward_ms\":%.3f,\"backward_ms\":%.3f,"
                   "\"forward_cpu_ms\":%.3f,\"backward_cpu_ms\":%.3f",
                   i ? "," : "", net->layers[i].name, lt->forward_ms, lt->backward_ms,
                   lt->forward_cpu_ms, lt->backward_cpu_ms);
            if (o->passes && net->layers[i].kind == L_CONV)
                printf(",\"gflop\":%.4f,\"pass_ms\":[%.3f,%.3f,%.3f],\"pass_cpu_ms\":[%.3f,%.3f,%.3f]",
                       lt->gflop, lt->pass_ms[0], lt->pass_ms[1], lt->pass_ms[2],
                       lt->pass_cpu_ms[0], lt->pass_cpu_ms[1], lt->pass_cpu_ms[2]);
            printf("}");
        }
        printf("]}");
    }
    printf("]}%s", last ? "" : ",");
}

static int usage(void) {
    fprintf(stderr, "usage: bench_train [--json] [--no-peers] [--fuse-relu|--separate-relu] "
                    "[--net small|seed|all] "
                    "[--threads 1,2] [--steps N] [--seconds S] [--batch N] [--passes]\n");
    return 2;
}

/* The peer script sits in benchmarks/train/ of the tree whose build/ holds us. */
static void find_peer_script(options *o, const char *argv0) {
    const char *slash = strrchr(argv0, '/');
    int dir_len = slash ? (int)(slash - argv0) : 0;
    snprintf(o->peer_script, sizeof o->peer_script, "%.*s%s../benchmarks/train/torch_train_step.py",
             dir_len, argv0, slash ? "/" : "");
}

int main(int argc, char **argv) {
    options o = {.peers = true, .net = "all", .thread_counts = {1, 2}, .n_thread_counts = 2,
                 .steps = 10, .seconds = 20.0, .batch = 32};
    find_peer_script(&o, argv[0]);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) o.json = true;
        else if (!strcmp(a, "--no-peers")) o.peers = false;
        else if (!strcmp(a, "--fuse-relu")) o.fuse_relu = true;
        else if (!strcmp(a, "--separate-relu")) o.separate_relu = true;
        else if (!strcmp(a, "--passes")) o.passes = true;
        else if (!strcmp(a, "--net") && v) o.net = argv[++i];
        else if (!strcmp(a, "--steps") && v) o.steps = atoi(argv[++i]);
        else if (!strcmp(a, "--seconds") && v) o.seconds = atof(argv[++i]);
        else if (!strcmp(a, "--batch") && v) o.batch = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && v) {
            o.n_thread_counts = 0;
            for (char *s = argv[++i]; *s && o.n_thread_counts < MAX_THREAD_COUNTS;) {
                o.thread_counts[o.n_thread_counts++] = (int)strtol(s, &s, 10);
                if (*s == ',') s++;
                else if (*s) return usage();
            }
        } else return usage();
    }
    if (o.fuse_relu && o.separate_relu) return usage();
    if (o.steps < 1 || o.batch < 1 || o.batch > 4096 || o.n_thread_counts < 1) return usage();
    for (int t = 0; t < o.n_thread_counts; t++)
        if (o.thread_counts[t] < 1) return usage();
    bool want_small = !strcmp(o.net, "small") || !strcmp(o.net, "all");
    bool want_seed = !strcmp(o.net, "seed") || !strcmp(o.net, "all");
    if (!want_small && !want_seed) return usage();

    nn_ctx *rng = nn_ctx_create();
    nn_ctx_seed(rng, 1);
    network nets[2];
    int n_nets = 0;
    relu_mode relu_at = o.fuse_relu ? RELU_IN_CONV : o.separate_relu ? RELU_SEPARATE : RELU_IN_POOL;
    if (want_small) build_small(&nets[n_nets++], rng, relu_at);
    if (want_seed) build_seed(&nets[n_nets++], rng, relu_at);
    nn_ctx_destroy(rng);

    if (o.json) printf("{\"benchmark\":\"train_step\",\"networks\":[");
    for (int k = 0; k < n_nets; k++) {
        run_result res[MAX_THREAD_COUNTS] = {{0}};
        for (int r = 0; r < o.n_thread_counts; r++) res[r].threads = o.thread_counts[r];
        run_network(&o, &nets[k], res, o.n_thread_counts);
        if (o.json) print_json_network(&o, &nets[k], res, o.n_thread_counts, k == n_nets - 1);
        else print_text(&o, &nets[k], res, o.n_thread_counts);
        fflush(stdout);
        free_network(&nets[k]);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = ru.ru_maxrss / 1024.0;
    if (o.json) printf("],\"peak_rss_mb\":%.1f}\n", rss_mb);
    else printf("peak RSS %.1f MB\n", rss_mb);
    nn_threads_shutdown();
    return 0;
}
