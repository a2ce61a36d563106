/*
 * test_optim.c - SGD/Adam/AdamW trajectories and learning-rate schedules
 * against PyTorch (fixtures from tests/fixtures/gen_optim.py), state for
 * checkpoints, and argument checks.
 */
#include <math.h>
#include <string.h>

#include "testutil.h"

static const char *const optim_cases[] = {
    "sgd",  "sgd_momentum", "sgd_nesterov", "sgd_wd",   "sgd_dampening",
    "adam", "adam_wd",      "adamw",        "adamw_wd",
};
#define N_OPTIM_CASES ((int)(sizeof optim_cases / sizeof optim_cases[0]))

/* Parameters after each step must match PyTorch to ~1e-6 relative. */
#define ATOL 1e-7
#define RTOL 1e-6

typedef struct {
    tu_fixture *fx;
    nn_optim_config cfg;
    const float *lrs;
    int steps;
    nn_tensor *a, *b; /* the two parameters, at their initial values */
} optim_case;

static void case_load(optim_case *c, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "fixtures/optim_%s.nnfx", name);
    c->fx = tu_fixture_load(path);
    ck_assert_msg(c->fx != NULL, "missing fixture %s", path);
    size_t n;
    const float *k = tu_fixture_data(c->fx, "config", &n);
    ck_assert_uint_eq(n, 8);
    c->cfg = nn_optim_default((nn_optim_type)(int)k[0]);
    c->cfg.momentum = k[1];
    c->cfg.dampening = k[2];
    c->cfg.nesterov = k[3] != 0.0f;
    c->cfg.weight_decay = k[4];
    if (c->cfg.type != NN_OPTIM_SGD) {
        c->cfg.beta1 = k[5];
        c->cfg.beta2 = k[6];
        c->cfg.eps = k[7];
    }
    size_t steps;
    c->lrs = tu_fixture_data(c->fx, "lrs", &steps);
    c->steps = (int)steps;
    c->a = tu_fixture_tensor(c->fx, "a");
    c->b = tu_fixture_tensor(c->fx, "b");
    ck_assert_ptr_nonnull(c->a);
    ck_assert_ptr_nonnull(c->b);
    ck_assert_int_eq(nn_tensor_set_requires_grad(c->a, true), NN_OK);
    ck_assert_int_eq(nn_tensor_set_requires_grad(c->b, true), NN_OK);
}

static void case_free(optim_case *c) {
    nn_tensor_free(c->a);
    nn_tensor_free(c->b);
    tu_fixture_free(c->fx);
}

/* Loads step s's gradients into the parameters' ->grad. */
static void set_grads(const optim_case *c, int s) {
    size_t n;
    const float *ga = tu_fixture_data(c->fx, "ga", &n);
    const float *gb = tu_fixture_data(c->fx, "gb", &n);
    memcpy(c->a->grad, ga + (size_t)s * c->a->numel, c->a->numel * sizeof(float));
    memcpy(c->b->grad, gb + (size_t)s * c->b->numel, c->b->numel * sizeof(float));
}

static void check_params_after(const optim_case *c, int s, const char *name) {
    size_t n;
    const float *ra = tu_fixture_data(c->fx, "a_after", &n);
    const float *rb = tu_fixture_data(c->fx, "b_after", &n);
    double ea = tu_max_rel_err(c->a->data, ra + (size_t)s * c->a->numel, c->a->numel, ATOL, RTOL);
    double eb = tu_max_rel_err(c->b->data, rb + (size_t)s * c->b->numel, c->b->numel, ATOL, RTOL);
    ck_assert_msg(ea <= 1.0 && eb <= 1.0, "%s: step %d differs from PyTorch (%.3g, %.3g)", name,
                  s + 1, ea, eb);
}

/* Runs steps [from, to) of the fixture's trajectory, checking after each. */
static void run_steps(optim_case *c, nn_optim *o, int from, int to, const char *name) {
    for (int s = from; s < to; s++) {
        set_grads(c, s);
        nn_optim_step(o, c->lrs[s]);
        check_params_after(c, s, name);
    }
}

/* The state PyTorch holds after the last step equals ours, by name. */
static void check_final_state(const optim_case *c, const nn_optim *o, const char *name) {
    const char *torch_key[] = {"momentum_buffer", "exp_avg", "exp_avg_sq"};
    const char *our_key[] = {"momentum", "exp_avg", "exp_avg_sq"};
    int found = 0;
    for (int p = 0; p < 2; p++) {
        for (int k = 0; k < 3; k++) {
            char fx_name[64], want[64];
            snprintf(fx_name, sizeof fx_name, "%s_%s", p == 0 ? "a" : "b", torch_key[k]);
            size_t n;
            const float *ref = tu_fixture_data(c->fx, fx_name, &n);
            if (!ref) continue;
            snprintf(want, sizeof want, "optim.%d.%s", p, our_key[k]);
            nn_tensor *st = NULL;
            for (int i = 0; i < nn_optim_state_count(o); i++) {
                const char *nm;
                nn_tensor *t = nn_optim_state(o, i, &nm);
                if (strcmp(nm, want) == 0) st = t;
            }
            ck_assert_msg(st != NULL, "%s: no state named %s", name, want);
            ck_assert_uint_eq(st->numel, n);
            double e = tu_max_rel_err(st->data, ref, n, 1e-7, 1e-5);
            ck_assert_msg(e <= 1.0, "%s: state %s differs from PyTorch (%.3g)", name, want, e);
            found++;
        }
    }
    ck_assert_int_eq(found, nn_optim_state_count(o));
}

START_TEST(torch_trajectory) {
    const char *name = optim_cases[_i];
    optim_case c;
    case_load(&c, name);
    nn_tensor *params[2] = {c.a, c.b};
    nn_optim *o = nn_optim_create(&c.cfg, 2, params);
    ck_assert_ptr_nonnull(o);
    run_steps(&c, o, 0, c.steps, name);
    ck_assert_int_eq(nn_optim_steps(o), c.steps);
    check_final_state(&c, o, name);
    nn_optim_free(o);
    case_free(&c);
}
END_TEST

/* Checkpoint round trip: after 2 steps, copy parameters, state tensors and
 * the step count into a fresh optimizer; the remaining steps must still
 * follow PyTorch's uninterrupted trajectory. */
START_TEST(resume_from_state) {
    const char *name = optim_cases[_i];
    optim_case c;
    case_load(&c, name);
    nn_tensor *params[2] = {c.a, c.b};
    nn_optim *first = nn_optim_create(&c.cfg, 2, params);
    ck_assert_ptr_nonnull(first);
    run_steps(&c, first, 0, 2, name);

    nn_optim *second = nn_optim_create(&c.cfg, 2, params);
    ck_assert_ptr_nonnull(second);
    ck_assert_int_eq(nn_optim_state_count(second), nn_optim_state_count(first));
    for (int i = 0; i < nn_optim_state_count(first); i++) {
        const char *n1, *n2;
        nn_tensor *s1 = nn_optim_state(first, i, &n1), *s2 = nn_optim_state(second, i, &n2);
        ck_assert_str_eq(n1, n2);
        memcpy(s2->data, s1->data, s1->numel * sizeof(float));
    }
    nn_optim_set_steps(second, nn_optim_steps(first));
    nn_optim_free(first);
    run_steps(&c, second, 2, c.steps, name);
    nn_optim_free(second);
    case_free(&c);
}
END_TEST

START_TEST(defaults_are_pytorch) {
    nn_optim_config s = nn_optim_default(NN_OPTIM_SGD);
    ck_assert_int_eq(s.type, NN_OPTIM_SGD);
    ck_assert(s.momentum == 0.0f && s.dampening == 0.0f && !s.nesterov && s.weight_decay == 0.0f);
    nn_optim_config a = nn_optim_default(NN_OPTIM_ADAM);
    ck_assert(a.lr == 1e-3f && a.beta1 == 0.9f && a.beta2 == 0.999f && a.eps == 1e-8f);
    ck_assert(a.weight_decay == 0.0f);
    nn_optim_config w = nn_optim_default(NN_OPTIM_ADAMW);
    ck_assert(w.lr == 1e-3f && w.beta1 == 0.9f && w.beta2 == 0.999f && w.eps == 1e-8f);
    ck_assert(w.weight_decay == 1e-2f);
}
END_TEST

START_TEST(state_names_and_counts) {
    nn_tensor *p[3] = {tu_param(1, (int[]){4}, -1, 1, 1), tu_param(2, (int[]){2, 3}, -1, 1, 2),
                       tu_param(1, (int[]){1}, -1, 1, 3)};
    nn_optim_config cfg = nn_optim_default(NN_OPTIM_SGD);
    nn_optim *o = nn_optim_create(&cfg, 3, p);
    ck_assert_int_eq(nn_optim_state_count(o), 0); /* plain SGD keeps nothing */
    nn_optim_free(o);

    cfg.momentum = 0.9f;
    o = nn_optim_create(&cfg, 3, p);
    ck_assert_int_eq(nn_optim_state_count(o), 3);
    const char *name;
    nn_tensor *t = nn_optim_state(o, 1, &name);
    ck_assert_str_eq(name, "optim.1.momentum");
    ck_assert(nn_tensor_same_shape(t, p[1]));
    ck_assert_ptr_null(nn_optim_state(o, 3, &name));
    ck_assert_ptr_null(name);
    ck_assert_ptr_null(nn_optim_state(o, -1, NULL));
    nn_optim_free(o);

    cfg = nn_optim_default(NN_OPTIM_ADAMW);
    o = nn_optim_create(&cfg, 3, p);
    ck_assert_int_eq(nn_optim_state_count(o), 6);
    nn_optim_state(o, 4, &name);
    ck_assert_str_eq(name, "optim.2.exp_avg");
    t = nn_optim_state(o, 5, &name);
    ck_assert_str_eq(name, "optim.2.exp_avg_sq");
    ck_assert(nn_tensor_same_shape(t, p[2]));
    ck_assert_int_eq(nn_optim_steps(o), 0);
    nn_optim_step(o, 1e-3f);
    nn_optim_step(o, 1e-3f);
    ck_assert_int_eq(nn_optim_steps(o), 2);
    nn_optim_set_steps(o, 100);
    ck_assert_int_eq(nn_optim_steps(o), 100);
    nn_optim_free(o);
    for (int i = 0; i < 3; i++) nn_tensor_free(p[i]);
}
END_TEST

/* A parameter without a gradient buffer is left alone (PyTorch skips
 * params whose .grad is None); the others still move. */
START_TEST(skips_params_without_grad) {
    nn_tensor *with = tu_param(1, (int[]){3}, -1, 1, 4);
    nn_tensor *without = nn_tensor_new1(3);
    nn_tensor_fill(without, 2.0f);
    nn_tensor_fill(with, 1.0f);
    for (int i = 0; i < 3; i++) with->grad[i] = 0.5f;
    nn_tensor *p[2] = {with, without};
    nn_optim_config cfg = nn_optim_default(NN_OPTIM_SGD);
    nn_optim *o = nn_optim_create(&cfg, 2, p);
    nn_optim_step(o, 0.1f);
    for (int i = 0; i < 3; i++) {
        ck_assert_float_eq(without->data[i], 2.0f);
        ck_assert_float_eq_tol(with->data[i], 1.0f - 0.1f * 0.5f, 1e-7f);
    }
    nn_optim_free(o);
    nn_tensor_free(with);
    nn_tensor_free(without);
}
END_TEST

/* Hand-computed first Adam step: with bias correction the first update is
 * lr * g / (|g| + eps*...) ~= lr * sign(g), whatever the gradient's scale. */
START_TEST(adam_first_step_by_hand) {
    nn_tensor *p = tu_param(1, (int[]){3}, 0, 1, 5);
    float g[3] = {1e-3f, -5.0f, 200.0f};
    float before[3];
    memcpy(before, p->data, sizeof before);
    memcpy(p->grad, g, sizeof g);
    nn_optim_config cfg = nn_optim_default(NN_OPTIM_ADAM);
    nn_optim *o = nn_optim_create(&cfg, 1, &p);
    nn_optim_step(o, 0.01f);
    for (int i = 0; i < 3; i++) {
        double expect = before[i] - 0.01 * g[i] / (fabs(g[i]) + 1e-8);
        ck_assert_double_eq_tol(p->data[i], expect, 1e-6);
    }
    nn_optim_free(o);
    nn_tensor_free(p);
}
END_TEST

START_TEST(rejects_bad_config) {
    nn_tensor *p = tu_param(1, (int[]){2}, -1, 1, 6);
    nn_optim_config c = nn_optim_default(NN_OPTIM_SGD);
    c.nesterov = true; /* PyTorch: Nesterov needs momentum > 0 and no dampening */
    ck_assert_ptr_null(nn_optim_create(&c, 1, &p));
    c.momentum = 0.9f;
    c.dampening = 0.1f;
    ck_assert_ptr_null(nn_optim_create(&c, 1, &p));
    c = nn_optim_default(NN_OPTIM_SGD);
    c.lr = -1.0f;
    ck_assert_ptr_null(nn_optim_create(&c, 1, &p));
    c = nn_optim_default(NN_OPTIM_ADAM);
    c.beta1 = 1.0f;
    ck_assert_ptr_null(nn_optim_create(&c, 1, &p));
    c = nn_optim_default(NN_OPTIM_ADAMW);
    c.eps = -1e-8f;
    ck_assert_ptr_null(nn_optim_create(&c, 1, &p));
    c = nn_optim_default(NN_OPTIM_ADAM);
    ck_assert_ptr_null(nn_optim_create(NULL, 1, &p));
    ck_assert_ptr_null(nn_optim_create(&c, 1, NULL));
    nn_tensor *null_param = NULL;
    ck_assert_ptr_null(nn_optim_create(&c, 1, &null_param));
    ck_assert_ptr_null(nn_optim_create(&c, -1, &p));
    nn_optim *empty = nn_optim_create(&c, 0, NULL); /* nothing to train is not an error */
    ck_assert_ptr_nonnull(empty);
    nn_optim_step(empty, 0.1f);
    nn_optim_free(empty);
    nn_optim_free(NULL);
    nn_tensor_free(p);
}
END_TEST

/* ---------------------------------------------------------------- schedules */

static void check_schedule(const char *key, const nn_lr_schedule *s) {
    tu_fixture *fx = tu_fixture_load("fixtures/lr_schedules.nnfx");
    ck_assert_ptr_nonnull(fx);
    size_t n;
    const float *ref = tu_fixture_data(fx, key, &n);
    ck_assert_msg(ref != NULL, "no schedule %s in fixture", key);
    for (size_t i = 0; i < n; i++) {
        float lr = nn_lr_at(s, (int)i);
        ck_assert_msg(fabs(lr - ref[i]) <= 1e-6 * fabs(ref[i]) + 1e-9,
                      "%s: step %zu: lr %.9g, PyTorch %.9g", key, i, lr, ref[i]);
    }
    tu_fixture_free(fx);
}

START_TEST(schedule_step) {
    nn_lr_schedule s = {.kind = NN_LR_STEP, .base_lr = 0.1f, .step_size = 3, .gamma = 0.5f};
    check_schedule("step", &s);
}
END_TEST

START_TEST(schedule_cosine) {
    nn_lr_schedule s = {
        .kind = NN_LR_COSINE, .base_lr = 0.1f, .total_steps = 10, .min_lr = 0.001f};
    check_schedule("cosine", &s);
    /* past the end it stays at the minimum (PyTorch would climb back up) */
    ck_assert_float_eq(nn_lr_at(&s, 11), 0.001f);
    ck_assert_float_eq(nn_lr_at(&s, 1000), 0.001f);
}
END_TEST

START_TEST(schedule_warmup_constant) {
    nn_lr_schedule s = {.kind = NN_LR_CONSTANT, .base_lr = 0.1f, .warmup_steps = 4,
                        .warmup_start_factor = 0.1f};
    check_schedule("warmup_constant", &s);
}
END_TEST

START_TEST(schedule_warmup_cosine) {
    nn_lr_schedule s = {.kind = NN_LR_COSINE, .base_lr = 0.1f, .warmup_steps = 3,
                        .warmup_start_factor = 0.25f, .total_steps = 10, .min_lr = 0.001f};
    check_schedule("warmup_cosine", &s);
}
END_TEST

START_TEST(schedule_warmup_step) {
    nn_lr_schedule s = {.kind = NN_LR_STEP, .base_lr = 0.1f, .warmup_steps = 2,
                        .warmup_start_factor = 0.5f, .step_size = 2, .gamma = 0.3f};
    check_schedule("warmup_step", &s);
}
END_TEST

START_TEST(schedule_constant_by_hand) {
    nn_lr_schedule s = {.kind = NN_LR_CONSTANT, .base_lr = 0.25f};
    ck_assert_float_eq(nn_lr_at(&s, 0), 0.25f);
    ck_assert_float_eq(nn_lr_at(&s, 123456), 0.25f);
    ck_assert_float_eq(nn_lr_at(NULL, 3), 0.0f);
}
END_TEST

Suite *optim_suite(void) {
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("torch");
    tcase_add_loop_test(tc, torch_trajectory, 0, N_OPTIM_CASES);
    tcase_add_loop_test(tc, resume_from_state, 0, N_OPTIM_CASES);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_test(tc, defaults_are_pytorch);
    tcase_add_test(tc, state_names_and_counts);
    tcase_add_test(tc, skips_params_without_grad);
    tcase_add_test(tc, adam_first_step_by_hand);
    tcase_add_test(tc, rejects_bad_config);
    suite_add_tcase(s, tc);

    tc = tcase_create("schedule");
    tcase_add_test(tc, schedule_step);
    tcase_add_test(tc, schedule_cosine);
    tcase_add_test(tc, schedule_warmup_constant);
    tcase_add_test(tc, schedule_warmup_cosine);
    tcase_add_test(tc, schedule_warmup_step);
    tcase_add_test(tc, schedule_constant_by_hand);
    suite_add_tcase(s, tc);
    return s;
}
