/*
 * kernels_ref.c - plain-C reference kernels. Correct first, simple always:
 * every SIMD kernel is tested against these on odd shapes.
 *
 * Layouts: x [N, Cin, H, W], w [Cout, Cin/G, Kh, Kw], y [N, Cout, Ho, Wo],
 * all contiguous float32. Group g owns input channels [g*Cin/G, (g+1)*Cin/G)
 * and output channels [g*Cout/G, (g+1)*Cout/G).
 */
#include <stddef.h>

#include "nn.h"

/* y = conv(x, w) + b, then max(0, .) when s->relu. */
static void conv2d_forward_ref(const nn_conv2d_shape *s, const float *x, const float *w,
                               const float *b, float *y) {
    int cin_g = s->cin / s->groups, cout_g = s->cout / s->groups;
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->cout; co++) {
            int g = co / cout_g;
            float *yc = y + ((size_t)n * s->cout + co) * s->hout * s->wout;
            for (int oy = 0; oy < s->hout; oy++)
                for (int ox = 0; ox < s->wout; ox++) {
                    float acc = b ? b[co] : 0.0f;
                    for (int ci = 0; ci < cin_g; ci++) {
                        const float *xc = x + ((size_t)n * s->cin + g * cin_g + ci) * s->h * s->w;
                        const float *wc = w + ((size_t)co * cin_g + ci) * s->kh * s->kw;
                        for (int ky = 0; ky < s->kh; ky++) {
                            int iy = oy * s->stride_h - s->pad_h + ky * s->dil_h;
                            if (iy < 0 || iy >= s->h) continue;
                            for (int kx = 0; kx < s->kw; kx++) {
                                int ix = ox * s->stride_w - s->pad_w + kx * s->dil_w;
                                if (ix < 0 || ix >= s->w) continue;
                                acc += wc[ky * s->kw + kx] * xc[(size_t)iy * s->w + ix];
                            }
                        }
                    }
                    if (s->relu && acc < 0.0f) acc = 0.0f;
                    yc[(size_t)oy * s->wout + ox] = acc;
                }
        }
}

/* dx += conv_transpose(dy, w): each output gradient flows back to the inputs it read. */
static void conv2d_backward_data_ref(const nn_conv2d_shape *s, const float *dy, const float *w,
                                     float *dx) {
    int cin_g = s->cin / s->groups, cout_g = s->cout / s->groups;
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->cout; co++) {
            int g = co / cout_g;
            const float *dyc = dy + ((size_t)n * s->cout + co) * s->hout * s->wout;
            for (int ci = 0; ci < cin_g; ci++) {
                float *dxc = dx + ((size_t)n * s->cin + g * cin_g + ci) * s->h * s->w;
                const float *wc = w + ((size_t)co * cin_g + ci) * s->kh * s->kw;
                for (int oy = 0; oy < s->hout; oy++)
                    for (int ox = 0; ox < s->wout; ox++) {
                        float d = dyc[(size_t)oy * s->wout + ox];
                        for (int ky = 0; ky < s->kh; ky++) {
                            int iy = oy * s->stride_h - s->pad_h + ky * s->dil_h;
                            if (iy < 0 || iy >= s->h) continue;
                            for (int kx = 0; kx < s->kw; kx++) {
                                int ix = ox * s->stride_w - s->pad_w + kx * s->dil_w;
                                if (ix < 0 || ix >= s->w) continue;
                                dxc[(size_t)iy * s->w + ix] += d * wc[ky * s->kw + kx];
                            }
                        }
                    }
            }
        }
}

/* dw += sum over n, oy, ox of dy * x at the tap; db += sum of dy. */
static void conv2d_backward_weights_ref(const nn_conv2d_shape *s, const float *x, const float *dy,
                                        float *dw, float *db) {
    int cin_g = s->cin / s->groups, cout_g = s->cout / s->groups;
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->cout; co++) {
            int g = co / cout_g;
            const float *dyc = dy + ((size_t)n * s->cout + co) * s->hout * s->wout;
            if (db)
                for (int i = 0; i < s->hout * s->wout; i++) db[co] += dyc[i];
            for (int ci = 0; ci < cin_g; ci++) {
                const float *xc = x + ((size_t)n * s->cin + g * cin_g + ci) * s->h * s->w;
                float *dwc = dw + ((size_t)co * cin_g + ci) * s->kh * s->kw;
                for (int ky = 0; ky < s->kh; ky++)
                    for (int kx = 0; kx < s->kw; kx++) {
                        float acc = 0.0f;
                        for (int oy = 0; oy < s->hout; oy++) {
                            int iy = oy * s->stride_h - s->pad_h + ky * s->dil_h;
                            if (iy < 0 || iy >= s->h) continue;
                            for (int ox = 0; ox < s->wout; ox++) {
                                int ix = ox * s->stride_w - s->pad_w + kx * s->dil_w;
                                if (ix < 0 || ix >= s->w) continue;
                                acc += dyc[(size_t)oy * s->wout + ox] * xc[(size_t)iy * s->w + ix];
                            }
                        }
                        dwc[ky * s->kw + kx] += acc;
                    }
            }
        }
}

const nn_kernels nn_kernels_reference = {
    .name = "reference",
    .conv2d_forward = conv2d_forward_ref,
    .conv2d_backward_data = conv2d_backward_data_ref,
    .conv2d_backward_weights = conv2d_backward_weights_ref,
};
