/* test_train.c - end-to-end training on data the test makes itself: two
 * classes of 12x12 images (a bright blob left vs right, plus noise). The loss
 * must fall below 0.1 and held-out accuracy reach 95%, with Adam and with
 * SGD + Nesterov momentum. */
#include <math.h>

#include "testutil.h"

enum { BATCH = 16, SIDE = 12 };

static void make_batch(nn_ctx *rng, nn_tensor *x, int *labels) {
    for (int b = 0; b < BATCH; b++) {
        int cls = labels[b] = (int)(nn_ctx_rand_u64(rng) & 1);
        float cx = SIDE * ((cls ? 0.6f : 0.1f) + 0.3f * nn_ctx_rand_uniform(rng));
        float cy = SIDE * (0.1f + 0.8f * nn_ctx_rand_uniform(rng));
        for (int y = 0; y < SIDE; y++)
            for (int xx = 0; xx < SIDE; xx++) {
                float d2 = (y - cy) * (y - cy) + (xx - cx) * (xx - cx);
                x->data[(b * SIDE + y) * SIDE + xx] =
                    expf(-d2 / 6.0f) + 0.3f * (nn_ctx_rand_uniform(rng) - 0.5f);
            }
    }
}

static void train_and_check(nn_optim_type type, float lr) {
    nn_model *m = nn_model_create(1);
    nn_conv2d_params same = nn_conv2d_default();
    same.pad_h = same.pad_w = 1;
    nn_pool2d_params pool = nn_pool2d_default(2, 2);
    int l = nn_model_conv2d(m, "conv1", NN_MODEL_INPUT, 8, 3, &same, false);
    l = nn_model_batch_norm(m, "bn1", l, 0.1f, 1e-5f);
    l = nn_model_relu(m, "relu1", l);
    l = nn_model_max_pool2d(m, "pool1", l, &pool);
    l = nn_model_conv2d(m, "conv2", l, 8, 3, &same, true);
    l = nn_model_relu(m, "relu2", l);
    l = nn_model_flatten(m, "flat", l);
    l = nn_model_linear(m, "fc", l, 8 * 6 * 6, 2, true);
    ck_assert_msg(l >= 0, "%s", nn_model_error(m));
    nn_model_init(m, 5);
    nn_optim_config cfg = nn_optim_default(type);
    if (type == NN_OPTIM_SGD) {
        cfg.momentum = 0.9f;
        cfg.nesterov = true;
    }
    nn_optim *opt = nn_optim_create_for_model(&cfg, m);
    ck_assert_ptr_nonnull(opt);
    nn_ctx *ctx = nn_ctx_create(), *rng = nn_ctx_create();
    nn_ctx_seed(rng, 3);
    nn_tensor *x = nn_tensor_new4(BATCH, 1, SIDE, SIDE);
    int labels[BATCH];
    double first = 0, last = 0;
    nn_ctx_set_training(ctx, true);
    for (int step = 0; step < 120; step++) {
        make_batch(rng, x, labels);
        nn_ctx_reset(ctx);
        nn_model_zero_grad(m);
        nn_tensor *loss = nn_cross_entropy(ctx, nn_model_forward(m, ctx, x), labels, NULL, 0.0f,
                                           NN_REDUCE_MEAN);
        ck_assert_msg(nn_backward(ctx, loss) == NN_OK, "%s", nn_ctx_error(ctx));
        nn_optim_step(opt, lr);
        if (step < 10) first += loss->data[0] / 10;
        if (step >= 110) last += loss->data[0] / 10;
    }
    ck_assert_msg(last < 0.1 && last < first / 4, "loss fell from %.3f only to %.3f", first, last);

    nn_ctx_set_training(ctx, false);
    nn_ctx_set_grad_enabled(ctx, false);
    int correct = 0;
    for (int b = 0; b < 8; b++) {
        make_batch(rng, x, labels);
        nn_ctx_reset(ctx);
        nn_tensor *y = nn_model_forward(m, ctx, x);
        for (int i = 0; i < BATCH; i++) correct += (y->data[2 * i + 1] > y->data[2 * i]) == labels[i];
    }
    ck_assert_msg(correct >= 0.95 * 8 * BATCH, "accuracy %d / %d", correct, 8 * BATCH);
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
    nn_ctx_destroy(rng);
    nn_optim_free(opt);
    nn_model_free(m);
}

START_TEST(adam_learns_blobs) { train_and_check(NN_OPTIM_ADAM, 1e-2f); }
END_TEST
START_TEST(sgd_nesterov_learns_blobs) { train_and_check(NN_OPTIM_SGD, 2e-2f); }
END_TEST

Suite *train_suite(void) {
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("blobs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, adam_learns_blobs);
    tcase_add_test(tc, sgd_nesterov_learns_blobs);
    suite_add_tcase(s, tc);
    return s;
}
