/*
 * upsample.c - nearest-neighbour upsampling by 2, to the size of another map:
 * the top-down path of a feature pyramid, which brings a coarse map's
 * features (stride 2s) onto a finer one (stride s) so the two can be added.
 *
 *   x [N, C, H, W], like [N', C', Ho, Wo] with ceil(Ho / 2) = H and
 *   ceil(Wo / 2) = W (Ho is 2H, or 2H - 1 when the fine map is odd: a map of
 *   stride s over an input of width Win is ceil(Win / s) wide)
 *   y[n,c,oy,ox] = x[n, c, oy / 2, ox / 2]                  y [N, C, Ho, Wo]
 *
 * Backward: each input cell receives the gradients of the (up to) 2 x 2
 * output cells that copied it,
 *   dx[n,c,iy,ix] = sum of dy[n,c,oy,ox] over oy / 2 = iy, ox / 2 = ix.
 * `like` only gives the size: it gets no gradient.
 */
#include <stdio.h>

#include "nn_internal.h"

static void upsample2x_backward(nn_ctx *ctx, nn_node *node) {
    nn_tensor *x = node->in[0];
    float *dx = nn_grad(ctx, x);
    if (!dx) return;
    const float *dy = node->out->grad;
    int h = x->shape[2], w = x->shape[3], ho = node->out->shape[2], wo = node->out->shape[3];
    size_t planes = (size_t)x->shape[0] * x->shape[1];
    for (size_t p = 0; p < planes; p++) {
        float *dxp = dx + p * h * w;
        const float *dyp = dy + p * ho * wo;
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) dxp[(oy / 2) * w + ox / 2] += dyp[oy * wo + ox];
    }
}

nn_tensor *nn_upsample2x(nn_ctx *ctx, nn_tensor *x, const nn_tensor *like) {
    if (!nn_check_inputs(ctx, "upsample2x", 1, &x)) return NULL;
    char xs[64], ls[64];
    if (!like || x->ndim != 4 || like->ndim != 4 || (like->shape[2] + 1) / 2 != x->shape[2] ||
        (like->shape[3] + 1) / 2 != x->shape[3]) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE,
                    "upsample2x: x %s must be 4-D and half the height and width of %s "
                    "(rounded up)",
                    nn_shape_str(x, xs, sizeof xs),
                    like ? nn_shape_str(like, ls, sizeof ls) : "NULL");
        return NULL;
    }
    int h = x->shape[2], w = x->shape[3], ho = like->shape[2], wo = like->shape[3];
    int yshape[4] = {x->shape[0], x->shape[1], ho, wo};
    nn_tensor *y = nn_ctx_tensor(ctx, 4, yshape);
    if (!y) return NULL;
    size_t planes = (size_t)x->shape[0] * x->shape[1];
    for (size_t p = 0; p < planes; p++) {
        const float *xp = x->data + p * h * w;
        float *yp = y->data + p * ho * wo;
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) yp[oy * wo + ox] = xp[(oy / 2) * w + ox / 2];
    }
    nn_tape_record(ctx, "upsample2x", y, upsample2x_backward, 1, &x, 0);
    return y;
}
