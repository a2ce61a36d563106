/* test_ssd_vgg16.c - SSD300-VGG16 against torchvision's ssd300_vgg16 on
 * formula weights (see tests/fixtures/gen_ssd_vgg16.py for the formula). */
#include <math.h>
#include <string.h>

#include "ssd_vgg16.h"
#include "testutil.h"

START_TEST(matches_torchvision) {
    tu_fixture *fx = tu_fixture_load("fixtures/ssd_vgg16.nnfx");
    ck_assert_ptr_nonnull(fx);
    ssd_vgg16 net;
    nn_error err;
    ck_assert_msg(ssd_vgg16_build(3, &net, &err) == NN_OK, "%s", err.msg);
    tu_ssd_formula_weights(net.model);

    nn_tensor *x = nn_tensor_new4(1, 3, 300, 300);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 300; y++)
            for (int xx = 0; xx < 300; xx++)
                x->data[(c * 300 + y) * 300 + xx] = (float)sin(0.05 * xx + 0.07 * y + c);

    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_grad_enabled(ctx, false);
    ck_assert_msg(nn_model_forward(net.model, ctx, x) != NULL, "%s", nn_ctx_error(ctx));
    nn_tensor *loc = nn_model_output(net.model, net.loc_id);
    nn_tensor *conf = nn_model_output(net.model, net.conf_id);
    ck_assert_uint_eq(loc->numel, 8732 * 4);
    ck_assert_uint_eq(conf->numel, 8732 * 3);

    /* feature map sizes 38, 19, 10, 5, 3, 1 */
    size_t n;
    const float *sizes = tu_fixture_data(fx, "feature_sizes", &n);
    for (int i = 0; i < SSD_VGG16_FEATURE_MAPS; i++)
        ck_assert_int_eq(nn_model_output(net.model, net.source_id[i])->shape[3], (int)sizes[i]);

    /* every 97th prior, relative to the outputs' scale */
    const float *loc_sub = tu_fixture_data(fx, "loc_sub", &n);
    float scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmaxf(scale, fabsf(loc_sub[i]));
    for (size_t i = 0; i < n / 4; i++)
        tu_assert_close(loc->data + i * 97 * 4, loc_sub + i * 4, 4, 1e-3 * scale, 0);
    const float *conf_sub = tu_fixture_data(fx, "conf_sub", &n);
    scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmaxf(scale, fabsf(conf_sub[i]));
    for (size_t i = 0; i < n / 3; i++)
        tu_assert_close(conf->data + i * 97 * 3, conf_sub + i * 3, 3, 1e-3 * scale, 0);
    /* and the sums over all priors */
    const float *loc_sum = tu_fixture_data(fx, "loc_sum", &n);
    for (int k = 0; k < 4; k++) {
        double s = 0;
        for (int p = 0; p < 8732; p++) s += loc->data[p * 4 + k];
        ck_assert_msg(fabs(s - loc_sum[k]) <= 1e-3 * 8732 * scale, "loc sum %d: %g vs %g", k, s,
                      loc_sum[k]);
    }

    /* the same through pre-packed weights (Winograd / packed GEMM paths) */
    float loc_plain[64];
    memcpy(loc_plain, loc->data, sizeof loc_plain);
    nn_model_freeze(net.model);
    nn_ctx_reset(ctx);
    ck_assert_msg(nn_model_forward(net.model, ctx, x) != NULL, "%s", nn_ctx_error(ctx));
    loc = nn_model_output(net.model, net.loc_id);
    tu_assert_close(loc->data, loc_plain, 64, 1e-4 * scale, 1e-4);

    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    ssd_vgg16_free(&net);
    tu_fixture_free(fx);
}
END_TEST

Suite *ssd_vgg16_suite(void) {
    Suite *s = suite_create("ssd_vgg16");
    TCase *tc = tcase_create("torchvision");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, matches_torchvision);
    suite_add_tcase(s, tc);
    return s;
}
