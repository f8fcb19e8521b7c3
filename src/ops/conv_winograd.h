/* Winograd's minimal filtering F(2x2, 3x3) for CONV2D (src/ops/conv_winograd.c),
 * used by src/ops/conv.c for 3x3 kernels with unit stride and dilation and
 * one group. One sample at a time: results do not depend on the batch or
 * the thread count. */
#ifndef DAGNET_CONV_WINOGRAD_H
#define DAGNET_CONV_WINOGRAD_H

#include <stdint.h>

/* Channels on each side below which im2col + GEMM stays faster (the
 * products of the 16 transformed planes have K = C_in). */
#define DN_WINO_MIN_CHANNELS 16

/* Tiles of 2x2 outputs per sample below which the per-sample products are
 * too small to pay for the transforms (measured, forward and backward,
 * 16 to 64 channels: 0.85-1.06 times im2col's speed at 6x6 outputs,
 * 1.09-1.35 at 8x8, 1.31-1.60 at 16x16) */
#define DN_WINO_MIN_TILES 16

typedef struct dn_wino {
    int64_t C, H, W;   /* input image */
    int64_t M, Ho, Wo; /* output image */
    int64_t pt, pl;    /* padding before the first row and column */
    int64_t th, tw, T; /* tiles of 2x2 outputs: rows, columns, all */
    int64_t Hp;        /* rows of the padded input the tiles read, 2 th + 2 */
    int64_t vs, ms;    /* floats between the 16 planes of V (C, T) and M (M, T) */
} dn_wino;

/* The geometry of a convolution from (C, H, W) to (M, Ho, Wo). */
dn_wino dn_wino_geom(int64_t C, int64_t H, int64_t W, int64_t M, int64_t Ho, int64_t Wo,
                     int64_t pt, int64_t pl);

/* Floats of the transformed filter, U (16, M, C), rounded to 16. */
int64_t dn_wino_filter_floats(const dn_wino *w);

/* Floats of one thread's scratch for a sample, rounded to 16. */
int64_t dn_wino_scratch_floats(const dn_wino *w);

/* U (16, M, C) = G g G^T of each 3x3 kernel of wt (M, C, 3, 3). */
void dn_wino_filter(const dn_wino *w, const float *wt, float *U);

/* y (M, Ho, Wo) = the cross-correlation of x (C, H, W) with the filter
 * whose transform is U (bias and activation are the caller's). */
void dn_wino_forward(const dn_wino *w, const float *U, const float *x, float *y,
                     float *scratch, int nthreads);

/* One sample's backward from dz (M, Ho, Wo): dU (16, M, C) = beta dU + the
 * transformed-domain weight gradient, and, when gx is not NULL,
 * gx (C, H, W) += the input gradient. */
void dn_wino_backward(const dn_wino *w, const float *U, const float *x, const float *dz,
                      float *dU, float beta, float *gx, float *scratch, int nthreads);

/* dW (M, C, 3, 3) = G^T dU G (+ dW when accumulate): the adjoint of
 * dn_wino_filter. */
void dn_wino_filter_grad(const dn_wino *w, const float *dU, float *dW, int accumulate);

#endif
