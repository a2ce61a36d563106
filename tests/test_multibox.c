/* test_multibox.c - prior matching, target encoding, hard negative mining and
 * the MultiBox loss, against hand-computed cases and finite differences. */
#include <math.h>
#include <stdlib.h>

#include "multibox.h"
#include "testutil.h"

/* Five priors (variances 0.1, 0.1, 0.2, 0.2) used by the hand-made cases:
 *   P0 [0, 0, .5, .5]   P1 [.5, 0, 1, .5]   P2 [0, .5, .5, 1]
 *   P3 [.1, .1, .6, .6] P4 [0, 0, .5, .55]                           */
static void five_priors(ssd_priors *p) {
    static const float boxes[5][4] = {
        {0, 0, .5f, .5f}, {.5f, 0, 1, .5f}, {0, .5f, .5f, 1}, {.1f, .1f, .6f, .6f}, {0, 0, .5f, .55f}};
    ssd_priors_init(p);
    p->boxes = malloc(sizeof boxes);
    p->variances = malloc(sizeof boxes);
    ck_assert_ptr_nonnull(p->boxes);
    ck_assert_ptr_nonnull(p->variances);
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 4; k++) {
            p->boxes[i * 4 + k] = boxes[i][k];
            p->variances[i * 4 + k] = k < 2 ? 0.1f : 0.2f;
        }
    p->count = p->capacity = 5;
}

/* GT0 = [0,0,.5,.5], GT1 = [.02,.02,.52,.52]. IoUs by hand:
 *   GT0: P0 1, P3 .16/.34 = .4706, P4 .25/.275 = .9091
 *   GT1: P0 .2304/.2696 = .8546, P3 .1764/.3236 = .5451, P4 .24/.285 = .8421
 * Bipartite: GT0-P0 (1.0) first; GT1's best free prior is then P4 (.8421).
 * Per prediction: P3 takes GT1 (.5451 >= .5; GT0 only .4706); P1, P2 nothing. */
START_TEST(match_hand_case) {
    ssd_priors pr;
    five_priors(&pr);
    multibox_gt gt[2] = {{{0, 0, .5f, .5f}, 1, false}, {{.02f, .02f, .52f, .52f}, 1, false}};
    int match[5];
    nn_error err = {0};
    ck_assert_int_eq(multibox_match(&pr, gt, 2, 0.5f, match, &err), NN_OK);
    const int want[5] = {0, -1, -1, 1, 1};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(match[i], want[i]);

    /* A third box inside P1 (IoU .2/.25 = .8) takes P1 and changes nothing else. */
    multibox_gt gt3[3] = {gt[0], gt[1], {{.6f, 0, 1, .5f}, 1, false}};
    ck_assert_int_eq(multibox_match(&pr, gt3, 3, 0.5f, match, &err), NN_OK);
    ck_assert_int_eq(match[1], 2);
    ck_assert_int_eq(match[0], 0);

    /* no boxes: nothing matched */
    ck_assert_int_eq(multibox_match(&pr, NULL, 0, 0.5f, match, &err), NN_OK);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(match[i], -1);
    ssd_priors_free(&pr);
}
END_TEST

/* A small box T = [.4, .4, .55, .55] (area .0225). IoUs by hand:
 *   P0 .01/.2625 = .0381   P1 .005/.2675 = .0187   P2 .0187
 *   P3 .0225/.25 = .09 (holds T)   P4 .015/.2825 = .0531
 * Matching gives T only P3; compensation up to 3 adds the best free priors
 * above the floor: P4, then P0. */
START_TEST(match_compensation_hand_case) {
    ssd_priors pr;
    five_priors(&pr);
    multibox_gt t = {{.4f, .4f, .55f, .55f}, 1, false};
    int match[5];
    nn_error err = {0};
    ck_assert_int_eq(multibox_match(&pr, &t, 1, 0.35f, match, &err), NN_OK);
    const int only_p3[5] = {-1, -1, -1, 0, -1};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(match[i], only_p3[i]);
    ck_assert_int_eq(multibox_match_compensate(&pr, &t, 1, 3, 0.03f, match, &err), NN_OK);
    const int three[5] = {0, -1, -1, 0, 0};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(match[i], three[i]);

    /* a higher floor leaves P0 out; one match wanted adds nothing */
    multibox_match(&pr, &t, 1, 0.35f, match, &err);
    multibox_match_compensate(&pr, &t, 1, 3, 0.05f, match, &err);
    ck_assert(match[4] == 0 && match[0] == -1);
    multibox_match(&pr, &t, 1, 0.35f, match, &err);
    multibox_match_compensate(&pr, &t, 1, 1, 0.01f, match, &err);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(match[i], only_p3[i]);
    /* an ignored box takes none */
    multibox_gt ignored = t;
    ignored.ignore = true;
    multibox_match(&pr, &ignored, 1, 0.35f, match, &err);
    multibox_match_compensate(&pr, &ignored, 1, 3, 0.01f, match, &err);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(match[i], only_p3[i]);

    /* Beside GT0 = [0, 0, .5, .5]: GT0 holds P0 and P4 (IoU .91), T holds P3.
     * Wanting 2, T takes one of P1, P2 (equal IoU: the lower index, P1);
     * GT0 overlaps no free prior, so it stays at its 2. */
    multibox_gt two[2] = {{{0, 0, .5f, .5f}, 1, false}, t};
    ck_assert_int_eq(multibox_match(&pr, two, 2, 0.5f, match, &err), NN_OK);
    const int before[5] = {0, -1, -1, 1, 0};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(match[i], before[i]);
    ck_assert_int_eq(multibox_match_compensate(&pr, two, 2, 2, 0.01f, match, &err), NN_OK);
    const int after2[5] = {0, 1, -1, 1, 0};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(match[i], after2[i]);
    /* bad arguments */
    ck_assert_int_eq(multibox_match_compensate(&pr, two, 2, -1, 0.1f, match, &err), NN_ERR_ARG);
    ssd_priors_free(&pr);
}
END_TEST

START_TEST(match_ignored_box_priors_are_neither) {
    ssd_priors pr;
    five_priors(&pr);
    multibox_gt gt[2] = {{{0, 0, .5f, .5f}, 1, false}, {{.02f, .02f, .52f, .52f}, 1, true}};
    int match[5], labels[5];
    float loc[20];
    nn_error err = {0};
    ck_assert_int_eq(multibox_match(&pr, gt, 2, 0.5f, match, &err), NN_OK);
    ck_assert_int_eq(multibox_encode(&pr, gt, match, labels, loc), 1);
    const int want[5] = {1, 0, 0, -1, -1};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(labels[i], want[i]);
    ssd_priors_free(&pr);
}
END_TEST

/* prior P0 (centre .25,.25, size .5) and box [0, 0, 1, .5] (centre .5, .25,
 * size 1 x .5): dx = (.25/.5)/.1 = 5, dy = 0, dw = log(2)/.2, dh = log(1)/.2 = 0. */
START_TEST(encode_hand_case) {
    ssd_priors pr;
    five_priors(&pr);
    multibox_gt gt = {{0, 0, 1, .5f}, 2, false};
    int match[5] = {0, -1, -1, -1, -1}, labels[5];
    float loc[20];
    ck_assert_int_eq(multibox_encode(&pr, &gt, match, labels, loc), 1);
    ck_assert_int_eq(labels[0], 2);
    const float want[4] = {5.0f, 0.0f, (float)(log(2.0) / 0.2), 0.0f};
    tu_assert_close(loc, want, 4, 1e-5, 1e-5);
    for (int i = 4; i < 20; i++) ck_assert(loc[i] == 0.0f);
    ssd_priors_free(&pr);
}
END_TEST

START_TEST(decode_inverts_encode) {
    nn_ctx *rng = nn_ctx_create();
    nn_ctx_seed(rng, 11);
    const float var[4] = {0.1f, 0.1f, 0.2f, 0.2f};
    for (int t = 0; t < 200; t++) {
        float prior[4], box[4], loc[4], back[4];
        float px = nn_ctx_rand_uniform(rng), py = nn_ctx_rand_uniform(rng);
        float pw = 0.01f + nn_ctx_rand_uniform(rng) * 0.5f, ph = 0.01f + nn_ctx_rand_uniform(rng) * 0.5f;
        prior[0] = px, prior[1] = py, prior[2] = px + pw, prior[3] = py + ph;
        float bx = nn_ctx_rand_uniform(rng), by = nn_ctx_rand_uniform(rng);
        box[0] = bx, box[1] = by;
        box[2] = bx + 0.01f + nn_ctx_rand_uniform(rng) * 0.5f;
        box[3] = by + 0.01f + nn_ctx_rand_uniform(rng) * 0.5f;
        ssd_encode_box(prior, var, box, SSD_CODE_CENTER_SIZE, false, loc);
        ssd_decode_box(prior, var, loc, SSD_CODE_CENTER_SIZE, false, back);
        tu_assert_close(back, box, 4, 1e-5, 1e-4);
    }
    nn_ctx_destroy(rng);
}
END_TEST

/* 10 priors, 2 classes: background loss = log(1 + exp(z1 - z0)) grows with
 * z1 - z0, so the negatives kept are those with the largest z1 - z0. */
START_TEST(mining_keeps_hardest_three_per_positive) {
    const float margin[10] = {0.5f, -1.0f, 2.0f, 0.1f, 3.0f, -2.0f, 1.5f, 0.0f, 9.0f, 1.0f};
    float conf[20];
    for (int p = 0; p < 10; p++) conf[p * 2] = 0.3f, conf[p * 2 + 1] = 0.3f + margin[p];
    int labels[10] = {0, 0, 0, 0, 0, 0, 0, 0, 1, -1};
    nn_error err = {0};
    int kept = multibox_mine_negatives(conf, 10, 2, labels, 1, 3.0f, &err);
    ck_assert_int_eq(kept, 3);
    /* candidates 0..7 have margins .5 -1 2 .1 3 -2 1.5 0: the top three are 4, 2, 6 */
    const int want[10] = {-1, -1, 0, -1, 0, -1, 0, -1, 1, -1};
    for (int p = 0; p < 10; p++) ck_assert_int_eq(labels[p], want[p]);

    /* more room than candidates: all kept; no positives: none kept */
    int labels2[10] = {0, 0, 1, 1, 1, -1, -1, -1, -1, -1};
    ck_assert_int_eq(multibox_mine_negatives(conf, 10, 2, labels2, 3, 3.0f, &err), 2);
    ck_assert_int_eq(labels2[0], 0);
    ck_assert_int_eq(labels2[1], 0);
    int labels3[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(multibox_mine_negatives(conf, 10, 2, labels3, 0, 3.0f, &err), 0);
    for (int p = 0; p < 10; p++) ck_assert_int_eq(labels3[p], -1);
}
END_TEST

/* ---- the loss: value by hand and gradient by finite differences */

typedef struct {
    ssd_priors *priors;
    multibox_image images[2];
    multibox_config cfg;
} loss_case;

static nn_tensor *loss_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    loss_case *c = arg;
    return multibox_loss(ctx, in[0], in[1], c->priors, c->images, &c->cfg, NULL);
}

static double smooth_l1(double d) { return fabs(d) < 1 ? 0.5 * d * d : fabs(d) - 0.5; }

START_TEST(loss_value_and_gradient) {
    ssd_priors pr;
    five_priors(&pr);
    /* image 0: GT0 label 1 and GT1 label 2 -> positives P0 (1), P4 (2), P3 (2)
     * image 1: a box on P2 only (label 1), IoU 1 -> one positive */
    multibox_gt g0[2] = {{{0, 0, .5f, .5f}, 1, false}, {{.02f, .02f, .52f, .52f}, 2, false}};
    multibox_gt g1[1] = {{{0, .5f, .5f, 1}, 1, false}};
    loss_case c = {.priors = &pr, .cfg = multibox_default_config(3)};
    c.images[0] = (multibox_image){g0, 2};
    c.images[1] = (multibox_image){g1, 1};
    c.cfg.neg_pos_ratio = 1.0f; /* image 0: 3 positives, 2 candidates; image 1: 1 negative of 4 */

    int loc_shape[2] = {2, 20}, conf_shape[2] = {2, 15};
    nn_tensor *loc = nn_tensor_new(2, loc_shape), *conf = nn_tensor_new(2, conf_shape);
    nn_ctx *rng = nn_ctx_create();
    nn_ctx_seed(rng, 5);
    for (size_t i = 0; i < loc->numel; i++) loc->data[i] = nn_ctx_rand_uniform(rng) * 1.2f - 0.6f;
    /* background margins well apart, so finite differences never reorder the mining */
    for (int b = 0; b < 2; b++)
        for (int p = 0; p < 5; p++) {
            float *z = conf->data + (b * 5 + p) * 3;
            z[0] = 0.2f * p - 0.4f * b;
            z[1] = nn_ctx_rand_uniform(rng) - 0.5f;
            z[2] = 0.7f * p - 0.3f * b;
        }
    nn_tensor_set_requires_grad(loc, true);
    nn_tensor_set_requires_grad(conf, true);

    /* by hand: targets from the (tested) matching and encoding */
    double want = 0.0;
    int n_pos = 0;
    for (int b = 0; b < 2; b++) {
        int match[5], labels[5];
        float tloc[20];
        nn_error err = {0};
        multibox_match(&pr, c.images[b].gt, c.images[b].n_gt, 0.5f, match, &err);
        int pos = multibox_encode(&pr, c.images[b].gt, match, labels, tloc);
        n_pos += pos;
        /* negatives: the `pos` (ratio 1) candidates of largest background loss */
        double bg[5];
        for (int p = 0; p < 5; p++) {
            const float *z = conf->data + (b * 5 + p) * 3;
            double lse = log(exp(z[0]) + exp(z[1]) + exp(z[2]));
            bg[p] = lse - z[0];
            if (labels[p] > 0) {
                want += lse - z[labels[p]];
                for (int k = 0; k < 4; k++) want += smooth_l1(loc->data[b * 20 + p * 4 + k] - tloc[p * 4 + k]);
            }
        }
        for (int kept = 0; kept < pos; kept++) {
            int best = -1;
            for (int p = 0; p < 5; p++)
                if (labels[p] == 0 && (best < 0 || bg[p] > bg[best])) best = p;
            if (best < 0) break;
            want += bg[best];
            labels[best] = -2;
        }
    }
    ck_assert_int_eq(n_pos, 4);
    want /= n_pos;

    nn_ctx *ctx = nn_ctx_create();
    multibox_stats st;
    nn_tensor *l = multibox_loss(ctx, loc, conf, &pr, c.images, &c.cfg, &st);
    ck_assert_msg(l != NULL, "%s", nn_ctx_error(ctx));
    ck_assert_int_eq(st.n_pos, 4);
    ck_assert_int_eq(st.n_neg, 3); /* image 0: 2 candidates; image 1: 1 */
    ck_assert_msg(fabs(l->data[0] - want) < 1e-4 * fmax(1.0, fabs(want)), "loss %g, by hand %g",
                  l->data[0], want);
    nn_ctx_destroy(ctx);

    nn_tensor *inputs[2] = {loc, conf};
    tu_assert_gradcheck(loss_fn, &c, 2, inputs);
    nn_tensor_free(loc);
    nn_tensor_free(conf);
    nn_ctx_destroy(rng);
    ssd_priors_free(&pr);
}
END_TEST

START_TEST(loss_rejects_bad_shapes_and_labels) {
    ssd_priors pr;
    five_priors(&pr);
    multibox_gt g = {{0, 0, .5f, .5f}, 5, false};
    multibox_image im = {&g, 1};
    multibox_config cfg = multibox_default_config(2);
    int ls[2] = {1, 20}, cs[2] = {1, 10}, bad[2] = {1, 12};
    nn_tensor *loc = nn_tensor_new(2, ls), *conf = nn_tensor_new(2, cs), *cbad = nn_tensor_new(2, bad);
    nn_ctx *ctx = nn_ctx_create();
    ck_assert_ptr_null(multibox_loss(ctx, loc, cbad, &pr, &im, &cfg, NULL));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    nn_ctx_reset(ctx);
    nn_ctx_destroy(ctx);
    ctx = nn_ctx_create();
    ck_assert_ptr_null(multibox_loss(ctx, loc, conf, &pr, &im, &cfg, NULL)); /* label 5 of 2 classes */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);
    nn_ctx_destroy(ctx);
    nn_tensor_free(loc);
    nn_tensor_free(conf);
    nn_tensor_free(cbad);
    ssd_priors_free(&pr);
}
END_TEST

Suite *multibox_suite(void) {
    Suite *s = suite_create("multibox");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, match_hand_case);
    tcase_add_test(tc, match_compensation_hand_case);
    tcase_add_test(tc, match_ignored_box_priors_are_neither);
    tcase_add_test(tc, encode_hand_case);
    tcase_add_test(tc, decode_inverts_encode);
    tcase_add_test(tc, mining_keeps_hardest_three_per_positive);
    tcase_add_test(tc, loss_value_and_gradient);
    tcase_add_test(tc, loss_rejects_bad_shapes_and_labels);
    suite_add_tcase(s, tc);
    return s;
}
