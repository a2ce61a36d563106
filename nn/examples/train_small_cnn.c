/*
 * train_small_cnn.c - the README's example: train a small CNN with the C API.
 *
 * The data are made here: 16x16 grey images holding one Gaussian blob, in the
 * upper-left half for class 0 and the lower-right half for class 1, plus noise.
 * Prints the loss as it falls and the accuracy on fresh images; exits 0 when
 * the final training loss is below 0.1 and test accuracy at least 95%.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn.h"

enum { BATCH = 16, SIDE = 16, STEPS = 150 };

/* Fills x[BATCH,1,SIDE,SIDE] and labels with random blob images. */
static void make_batch(nn_ctx *rng, nn_tensor *x, int *labels) {
    for (int b = 0; b < BATCH; b++) {
        int cls = labels[b] = nn_ctx_rand_u64(rng) & 1;
        float lo = cls ? 0.55f : 0.1f; /* centre range, as a fraction of the side */
        float cy = SIDE * (lo + 0.35f * nn_ctx_rand_uniform(rng));
        float cx = SIDE * (lo + 0.35f * nn_ctx_rand_uniform(rng));
        for (int y = 0; y < SIDE; y++)
            for (int xx = 0; xx < SIDE; xx++) {
                float d2 = (y - cy) * (y - cy) + (xx - cx) * (xx - cx);
                float noise = 0.3f * (nn_ctx_rand_uniform(rng) - 0.5f);
                x->data[(b * SIDE + y) * SIDE + xx] = expf(-d2 / 8.0f) + noise;
            }
    }
}

int main(void) {
    /* 1. declare the network: conv-bn-relu-pool twice, global pool, linear */
    nn_model *m = nn_model_create(1);
    nn_conv2d_params same = nn_conv2d_default();
    same.pad_h = same.pad_w = 1;
    nn_pool2d_params pool = nn_pool2d_default(2, 2);
    int l = nn_model_conv2d(m, "conv1", NN_MODEL_INPUT, 8, 3, &same, false);
    l = nn_model_batch_norm(m, "bn1", l, 0.1f, 1e-5f);
    l = nn_model_relu(m, "relu1", l);
    l = nn_model_max_pool2d(m, "pool1", l, &pool);
    l = nn_model_conv2d(m, "conv2", l, 16, 3, &same, true);
    l = nn_model_relu(m, "relu2", l);
    l = nn_model_global_avg_pool2d(m, "gap", l);
    l = nn_model_flatten(m, "flat", l);
    l = nn_model_linear(m, "fc", l, 16, 2, true);
    if (l < 0) return fprintf(stderr, "model: %s\n", nn_model_error(m)), 1;
    nn_model_init(m, 42);

    /* 2. an optimizer and a context (arena + autograd tape) */
    nn_optim_config cfg = nn_optim_default(NN_OPTIM_ADAM);
    nn_optim *opt = nn_optim_create_for_model(&cfg, m);
    nn_ctx *ctx = nn_ctx_create(), *rng = nn_ctx_create();
    nn_ctx_seed(rng, 1);
    nn_tensor *x = nn_tensor_new4(BATCH, 1, SIDE, SIDE);
    int labels[BATCH];

    /* 3. the training loop: forward, loss, backward, step */
    float loss_value = 0.0f;
    nn_ctx_set_training(ctx, true);
    for (int step = 0; step < STEPS; step++) {
        make_batch(rng, x, labels);
        nn_ctx_reset(ctx);
        nn_model_zero_grad(m);
        nn_tensor *logits = nn_model_forward(m, ctx, x);
        nn_tensor *loss = nn_cross_entropy(ctx, logits, labels, NULL, 0.0f, NN_REDUCE_MEAN);
        if (nn_backward(ctx, loss) != NN_OK) return fprintf(stderr, "%s\n", nn_ctx_error(ctx)), 1;
        nn_optim_step(opt, 1e-2f);
        loss_value = 0.9f * loss_value + 0.1f * loss->data[0]; /* smoothed */
        if (step % 25 == 0 || step == STEPS - 1) printf("step %3d  loss %.4f\n", step, loss->data[0]);
    }

    /* 4. evaluate on fresh images, in inference mode */
    nn_ctx_set_training(ctx, false);
    nn_ctx_set_grad_enabled(ctx, false);
    int correct = 0, total = 0;
    for (int b = 0; b < 8; b++) {
        make_batch(rng, x, labels);
        nn_ctx_reset(ctx);
        nn_tensor *logits = nn_model_forward(m, ctx, x);
        for (int i = 0; i < BATCH; i++, total++)
            correct += (logits->data[2 * i + 1] > logits->data[2 * i]) == labels[i];
    }
    printf("smoothed final loss %.4f, test accuracy %.1f%%\n", loss_value, 100.0 * correct / total);

    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
    nn_ctx_destroy(rng);
    nn_optim_free(opt);
    nn_model_free(m);
    nn_threads_shutdown();
    return loss_value < 0.1f && correct >= 0.95 * total ? 0 : 1;
}
