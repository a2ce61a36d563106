/* test_winograd_batch.c - forward Winograd over a batch on two threads,
 * where each task runs whole images (kernels_simd.h, fwd_wg_task): the
 * SIMD kernels, plain and with packed weights, against the reference
 * kernel on an odd batch (uneven chunks), bias and fused ReLU. */
#include <stdlib.h>

#include "testutil.h"

static void check_isa(nn_isa isa, int batch, bool relu) {
    const nn_kernels *k = nn_kernels_for(isa);
    if (!k) return; /* this CPU lacks it */
    nn_conv2d_shape s = {.n = batch, .cin = 64, .h = 33, .w = 31, .cout = 72, .kh = 3, .kw = 3,
                         .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1,
                         .dil_w = 1, .groups = 1, .hout = 33, .wout = 31, .relu = relu};
    nn_tensor *x = nn_tensor_new4(s.n, s.cin, s.h, s.w);
    nn_tensor *w = nn_tensor_new4(s.cout, s.cin, 3, 3);
    nn_tensor *b = nn_tensor_new1(s.cout);
    nn_tensor *want = nn_tensor_new4(s.n, s.cout, s.hout, s.wout);
    nn_tensor *got = nn_tensor_new4(s.n, s.cout, s.hout, s.wout);
    tu_fill_uniform(x, -1, 1, 1);
    tu_fill_uniform(w, -0.1f, 0.1f, 2);
    tu_fill_uniform(b, -0.5f, 0.5f, 3);
    nn_kernels_reference.conv2d_forward(&s, x->data, w->data, b->data, want->data);

    k->conv2d_forward(&s, x->data, w->data, b->data, got->data);
    tu_assert_close(got->data, want->data, want->numel, 1e-4, 1e-4);

    float *packed = nn_aligned_alloc(k->conv2d_packed_floats(&s) * sizeof(float));
    ck_assert_ptr_nonnull(packed);
    k->conv2d_pack_weights(&s, w->data, packed);
    nn_tensor_fill(got, 0.0f);
    k->conv2d_forward_packed(&s, x->data, packed, b->data, got->data);
    tu_assert_close(got->data, want->data, want->numel, 1e-4, 1e-4);
    nn_aligned_free(packed);

    nn_tensor_free(x);
    nn_tensor_free(w);
    nn_tensor_free(b);
    nn_tensor_free(want);
    nn_tensor_free(got);
}

START_TEST(two_threads_whole_images) {
    int saved = nn_threads_get();
    nn_threads_set(2);
    for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512; isa++) {
        check_isa((nn_isa)isa, 5, false); /* chunks of 1 image, 5 over 2 tasks */
        check_isa((nn_isa)isa, 9, true);  /* chunks of 2 and a last of 1 */
        check_isa((nn_isa)isa, 3, false); /* fewer than 2 per thread: the banded path */
    }
    nn_threads_set(saved);
}
END_TEST

Suite *winograd_batch_suite(void) {
    Suite *s = suite_create("winograd_batch");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, two_threads_whole_images);
    suite_add_tcase(s, tc);
    return s;
}
