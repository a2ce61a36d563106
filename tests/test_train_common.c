/*
 * test_train_common.c - apps/train_common: the progress line, duration
 * format, history CSV (text and round trip), the curves PNG, checkpoint round
 * trip, and that a run stopped and resumed from a checkpoint ends with
 * bit-identical weights to an uninterrupted run.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/train_common.h"
#include "dsfixture.h"
#include "image.h"
#include "transform.h"

START_TEST(duration_format) {
    char buf[32];
    train_format_duration(buf, sizeof buf, 0);
    ck_assert_str_eq(buf, "0:00");
    train_format_duration(buf, sizeof buf, 61.4);
    ck_assert_str_eq(buf, "1:01");
    train_format_duration(buf, sizeof buf, 3600 + 2 * 60 + 3);
    ck_assert_str_eq(buf, "1:02:03");
    train_format_duration(buf, sizeof buf, -1);
    ck_assert_str_eq(buf, "--:--");
    train_format_duration(buf, sizeof buf, NAN);
    ck_assert_str_eq(buf, "--:--");
}
END_TEST

START_TEST(progress_line) {
    char buf[256];
    train_metric m[2] = {{"loss", 0.25}, {"acc", 0.875}};
    /* 10 of 40 steps in 5 s: 15 s to go; 320 images in 5 s = 64 img/s */
    train_progress_format(buf, sizeof buf, "epoch 1/3", 10, 40, 5.0, 320, 2, m, 8);
    ck_assert_str_eq(buf, "epoch 1/3 [==>     ] 10/40 ETA 0:15 loss 0.2500 acc 0.8750 64.0 img/s");
    /* finished: elapsed time instead of the ETA; no bar */
    train_progress_format(buf, sizeof buf, "val", 40, 40, 125.0, 1000, 1, m, 0);
    ck_assert_str_eq(buf, "val 40/40 in 2:05 loss 0.2500 8.0 img/s");
    /* nothing done yet: unknown ETA, no rate */
    train_progress_format(buf, sizeof buf, "e", 0, 4, 0.0, 0, 0, NULL, 4);
    ck_assert_str_eq(buf, "e [>   ] 0/4 ETA --:--");
    /* a short buffer is cut, not overrun */
    char small[8];
    int n = train_progress_format(small, sizeof small, "epoch 1/3", 1, 2, 1, 1, 2, m, 8);
    ck_assert_int_gt(n, 7);
    ck_assert_str_eq(small, "epoch 1");
}
END_TEST

/* Plain lines (not a terminal): one per tenth of the epoch, and the end line. */
START_TEST(progress_plain_lines) {
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    train_progress p;
    train_progress_begin(&p, f, false, "epoch 2/5", 20);
    train_metric m = {"loss", 1.0};
    for (size_t i = 1; i <= 20; i++)
        train_progress_update(&p, i, i * 4, 1, &m);
    train_progress_end(&p, 80, 1, &m);
    rewind(f);
    char line[256];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        ck_assert_msg(strncmp(line, "epoch 2/5 ", 10) == 0, "line: %s", line);
        ck_assert_ptr_null(strchr(line, '\r'));
        lines++;
    }
    ck_assert_int_eq(lines, 10); /* tenths 1..9 and the end line */
    fclose(f);
}
END_TEST

START_TEST(history_csv_text_and_round_trip) {
    train_history h;
    nn_error err = {0};
    const char *names[] = {"train_loss", "val_acc"};
    ck_assert_int_eq(train_history_init(&h, 2, names, &err), NN_OK);
    double r1[] = {0.5, NAN}, r2[] = {0.1, 0.9375};
    ck_assert_int_eq(train_history_add(&h, r1, &err), NN_OK);
    ck_assert_int_eq(train_history_add(&h, r2, &err), NN_OK);
    char *csv;
    ck_assert_int_eq(train_history_csv(&h, &csv, &err), NN_OK);
    /* 0.1 needs 17 digits to round-trip exactly */
    ck_assert_str_eq(csv, "epoch,train_loss,val_acc\n1,0.5,\n2,0.10000000000000001,0.9375\n");
    train_history back;
    ck_assert_int_eq(train_history_parse_csv(csv, &back, &err), NN_OK);
    ck_assert_int_eq(back.n_epochs, 2);
    ck_assert_int_eq(back.n_series, 2);
    ck_assert(train_history_get(&back, 1, "train_loss") == 0.1);
    ck_assert(isnan(train_history_get(&back, 0, "val_acc")));
    ck_assert(isnan(train_history_get(&back, 0, "nope")));
    ck_assert(train_history_get(&back, 1, "val_acc") == 0.9375);
    train_history_truncate(&back, 1);
    ck_assert_int_eq(back.n_epochs, 1);
    train_history_free(&back);

    /* damaged text is an error, not a crash */
    ck_assert_int_ne(train_history_parse_csv("epoch,a\n1,2\n3,4\n", &back, &err), NN_OK);
    ck_assert_int_ne(train_history_parse_csv("epoch,a\n1,2,3\n", &back, &err), NN_OK);
    ck_assert_int_ne(train_history_parse_csv("loss\n", &back, &err), NN_OK);
    ck_assert_int_ne(train_history_parse_csv("epoch,a\n1,x\n", &back, &err), NN_OK);
    /* bad names */
    const char *bad[] = {"a b"};
    ck_assert_int_ne(train_history_init(&back, 1, bad, &err), NN_OK);
    const char *twice[] = {"a", "a"};
    ck_assert_int_ne(train_history_init(&back, 2, twice, &err), NN_OK);

    /* the file and the plot */
    char tmp[512], path[1024];
    dsf_make_tempdir(tmp, sizeof tmp);
    snprintf(path, sizeof path, "%s/log.csv", tmp);
    ck_assert_int_eq(train_history_write_csv(&h, path, &err), NN_OK);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char text[256] = {0};
    ck_assert_uint_gt(fread(text, 1, sizeof text - 1, f), 0);
    fclose(f);
    ck_assert_str_eq(text, csv);
    snprintf(path, sizeof path, "%s/curves.png", tmp);
    ck_assert_int_eq(train_history_plot_png(&h, path, "test", "train_loss;val_acc", &err), NN_OK);
    image img = {0};
    ck_assert_int_eq(image_load(path, 3, &img, &err), NN_OK);
    ck_assert_int_eq(img.height, 2 * 320); /* two panels */
    image_free(&img);
    ck_assert_int_ne(train_history_plot_png(&h, path, NULL, "train_loss,nope", &err), NN_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "nope"));
    free(csv);
    train_history_free(&h);
    dsf_remove_tree(tmp);
}
END_TEST

START_TEST(best_metric) {
    train_state st = train_state_initial(7);
    ck_assert(isnan(st.best_metric));
    ck_assert(train_state_improved(&st, 0.5, 1));
    ck_assert(!train_state_improved(&st, 0.5, 2)); /* ties keep the earlier epoch */
    ck_assert(!train_state_improved(&st, NAN, 3));
    ck_assert(train_state_improved(&st, 0.75, 4));
    ck_assert_int_eq(st.best_epoch, 4);
    ck_assert(st.best_metric == 0.75);
}
END_TEST

/* ---- a tiny training run: conv-bn-relu, dropout, linear, on synthetic blobs */

enum { SIDE = 8, BATCH = 6, STEPS_PER_EPOCH = 3 };

static nn_model *tiny_model(void) {
    nn_model *m = nn_model_create(3);
    nn_conv2d_params same = nn_conv2d_default();
    same.pad_h = same.pad_w = 1;
    int l = nn_model_conv2d(m, "conv", NN_MODEL_INPUT, 4, 3, &same, false);
    l = nn_model_batch_norm(m, "bn", l, 0.1f, 1e-5f);
    l = nn_model_relu(m, "relu", l);
    l = nn_model_global_avg_pool2d(m, "gap", l);
    l = nn_model_flatten(m, "flat", l);
    l = nn_model_dropout(m, "drop", l, 0.3f);
    l = nn_model_linear(m, "fc", l, 4, 2, true);
    ck_assert_int_ge(l, 0);
    nn_model_init(m, 11);
    return m;
}

/* Deterministic batch for (seed, epoch, step): class 1 is brighter. */
static void make_batch(uint64_t seed, int epoch, int step, nn_tensor *x, int *labels) {
    transform_rng rng;
    transform_rng_seed(&rng, seed * 1000003u + (uint64_t)epoch * 101u + (uint64_t)step);
    size_t per = x->numel / BATCH;
    for (int b = 0; b < BATCH; b++) {
        labels[b] = (int)(transform_rng_next(&rng) & 1);
        for (size_t i = 0; i < per; i++)
            x->data[b * per + i] = transform_rng_uniform(&rng, 0, 1) + 0.5f * (float)labels[b];
    }
}

/* Runs epochs [from, to) and saves a checkpoint after each when ckpt is set. */
static void run_epochs(nn_model *m, nn_optim *opt, train_state *st, train_history *h, int from,
                       int to, const char *ckpt) {
    nn_lr_schedule sched = {.kind = NN_LR_COSINE, .base_lr = 0.05f, .warmup_steps = 2,
                            .warmup_start_factor = 0.1f, .total_steps = 12, .min_lr = 0.001f};
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new4(BATCH, 3, SIDE, SIDE);
    int labels[BATCH];
    nn_error err = {0};
    for (int epoch = from; epoch < to; epoch++) {
        nn_ctx_seed(ctx, train_epoch_seed(st->seed, epoch));
        nn_ctx_set_training(ctx, true);
        double loss_sum = 0;
        for (int step = 0; step < STEPS_PER_EPOCH; step++) {
            make_batch(st->seed, epoch, step, x, labels);
            nn_ctx_reset(ctx);
            nn_model_zero_grad(m);
            nn_tensor *logits = nn_model_forward(m, ctx, x);
            nn_tensor *loss = nn_cross_entropy(ctx, logits, labels, NULL, 0, NN_REDUCE_MEAN);
            ck_assert_int_eq(nn_backward(ctx, loss), NN_OK);
            loss_sum += loss->data[0];
            nn_optim_step(opt, nn_lr_at(&sched, (int)nn_optim_steps(opt)));
        }
        st->epoch = epoch + 1;
        double row[2] = {loss_sum / STEPS_PER_EPOCH, 1.0 / (1 + epoch)};
        ck_assert_int_eq(train_history_add(h, row, &err), NN_OK);
        train_state_improved(st, -row[0], epoch + 1);
        if (ckpt) ck_assert_int_eq(train_checkpoint_save(ckpt, m, opt, st, h, NULL, &err), NN_OK);
    }
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
}

/* Every parameter (and buffer) of a and b is bit-identical. */
static void assert_same_params(const nn_model *a, const nn_model *b) {
    ck_assert_int_eq(nn_model_param_count(a), nn_model_param_count(b));
    for (int i = 0; i < nn_model_param_count(a); i++) {
        nn_param pa = nn_model_param(a, i), pb = nn_model_param(b, i);
        ck_assert_str_eq(pa.name, pb.name);
        ck_assert_msg(!memcmp(pa.tensor->data, pb.tensor->data,
                              pa.tensor->numel * sizeof(float)),
                      "parameter %s differs", pa.name);
    }
}

static void resume_case(nn_optim_type type) {
    char tmp[512], ckpt[1024];
    dsf_make_tempdir(tmp, sizeof tmp);
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt.nnw", tmp);
    nn_error err = {0};
    const char *names[] = {"loss", "other"};
    nn_optim_config cfg = nn_optim_default(type);
    cfg.momentum = type == NN_OPTIM_SGD ? 0.9f : cfg.momentum;
    cfg.weight_decay = 1e-3f;

    /* uninterrupted: 4 epochs */
    nn_model *full = tiny_model();
    nn_optim *full_opt = nn_optim_create_for_model(&cfg, full);
    train_state full_st = train_state_initial(5);
    train_history full_h;
    ck_assert_int_eq(train_history_init(&full_h, 2, names, &err), NN_OK);
    run_epochs(full, full_opt, &full_st, &full_h, 0, 4, NULL);

    /* 2 epochs, then a fresh process would load the checkpoint ... */
    nn_model *first = tiny_model();
    nn_optim *first_opt = nn_optim_create_for_model(&cfg, first);
    train_state st = train_state_initial(5);
    train_history h;
    ck_assert_int_eq(train_history_init(&h, 2, names, &err), NN_OK);
    nn_weights *config = nn_weights_create();
    ck_assert_int_eq(nn_weights_set_meta(config, "config.lr", "0.05", &err), NN_OK);
    ck_assert_int_eq(nn_weights_set_meta(config, "kind", "ignored", &err), NN_OK);
    run_epochs(first, first_opt, &st, &h, 0, 2, NULL);
    ck_assert_int_eq(train_checkpoint_save(ckpt, first, first_opt, &st, &h, config, &err), NN_OK);
    nn_weights_free(config);
    nn_optim_free(first_opt);
    nn_model_free(first);
    train_history_free(&h);

    /* ... and continue with a differently initialised model */
    nn_weights *w;
    ck_assert_int_eq(train_checkpoint_load(ckpt, &w, &err), NN_OK);
    ck_assert_str_eq(nn_weights_meta(w, "config.lr"), "0.05");
    ck_assert_str_eq(nn_weights_meta(w, "kind"), "checkpoint");
    nn_model *resumed = tiny_model();
    nn_model_init(resumed, 999);
    nn_optim *resumed_opt = nn_optim_create_for_model(&cfg, resumed);
    train_state rst;
    train_history rh;
    ck_assert_int_eq(train_checkpoint_restore(w, resumed, resumed_opt, &rst, &rh, &err), NN_OK);
    nn_weights_free(w);
    ck_assert_int_eq(rst.epoch, 2);
    ck_assert_int_eq(rst.seed, 5);
    ck_assert_int_eq(rh.n_epochs, 2);
    ck_assert_int_eq(nn_optim_steps(resumed_opt), 2 * STEPS_PER_EPOCH);
    run_epochs(resumed, resumed_opt, &rst, &rh, rst.epoch, 4, ckpt);

    assert_same_params(full, resumed);
    for (int i = 0; i < nn_optim_state_count(full_opt); i++) {
        nn_tensor *a = nn_optim_state(full_opt, i, NULL), *b = nn_optim_state(resumed_opt, i, NULL);
        ck_assert(!memcmp(a->data, b->data, a->numel * sizeof(float)));
    }
    ck_assert_int_eq(rh.n_epochs, 4);
    for (int e = 0; e < 4; e++)
        ck_assert(train_history_get(&rh, e, "loss") == train_history_get(&full_h, e, "loss"));
    ck_assert(rst.best_metric == full_st.best_metric);
    ck_assert_int_eq(rst.best_epoch, full_st.best_epoch);

    nn_optim_free(full_opt);
    nn_optim_free(resumed_opt);
    nn_model_free(full);
    nn_model_free(resumed);
    train_history_free(&full_h);
    train_history_free(&rh);
    dsf_remove_tree(tmp);
}

START_TEST(resume_is_exact_adamw) { resume_case(NN_OPTIM_ADAMW); }
END_TEST

START_TEST(resume_is_exact_sgd) { resume_case(NN_OPTIM_SGD); }
END_TEST

START_TEST(checkpoint_errors) {
    char tmp[512], path[1024];
    dsf_make_tempdir(tmp, sizeof tmp);
    snprintf(path, sizeof path, "%s/model.nnw", tmp);
    nn_error err = {0};
    nn_model *m = tiny_model();
    /* a plain weights file is not a checkpoint */
    nn_weights *w = nn_weights_create();
    ck_assert_int_eq(nn_model_to_weights(m, w, NN_DTYPE_F32, &err), NN_OK);
    ck_assert_int_eq(nn_weights_save(w, path, &err), NN_OK);
    nn_weights_free(w);
    ck_assert_int_eq(train_checkpoint_load(path, &w, &err), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a training checkpoint"));
    /* a checkpoint made with SGD (no state) cannot resume Adam */
    nn_optim_config sgd = nn_optim_default(NN_OPTIM_SGD);
    nn_optim *o = nn_optim_create_for_model(&sgd, m);
    train_state st = train_state_initial(1);
    ck_assert_int_eq(train_checkpoint_save(path, m, o, &st, NULL, NULL, &err), NN_OK);
    nn_optim_free(o);
    ck_assert_int_eq(train_checkpoint_load(path, &w, &err), NN_OK);
    nn_optim_config adam = nn_optim_default(NN_OPTIM_ADAM);
    o = nn_optim_create_for_model(&adam, m);
    ck_assert_int_eq(train_checkpoint_restore(w, m, o, &st, NULL, &err), NN_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "optim."));
    nn_optim_free(o);
    nn_weights_free(w);
    /* missing file */
    snprintf(path, sizeof path, "%s/none.nnw", tmp);
    ck_assert_int_ne(train_checkpoint_load(path, &w, &err), NN_OK);
    nn_model_free(m);
    dsf_remove_tree(tmp);
}
END_TEST

Suite *train_common_suite(void) {
    Suite *s = suite_create("train_common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, duration_format);
    tcase_add_test(tc, progress_line);
    tcase_add_test(tc, progress_plain_lines);
    tcase_add_test(tc, history_csv_text_and_round_trip);
    tcase_add_test(tc, best_metric);
    tcase_add_test(tc, resume_is_exact_adamw);
    tcase_add_test(tc, resume_is_exact_sgd);
    tcase_add_test(tc, checkpoint_errors);
    suite_add_tcase(s, tc);
    return s;
}
