/* Direct convolution for CONV2D layers with few input channels per group
 * (src/ops/conv_direct.c): depthwise layers (one input channel per group)
 * and the first layers of image networks (1 to 4 input channels), used by
 * src/ops/conv.c in place of im2col + GEMM. One sample at a time: results
 * do not depend on the batch or the thread count. */
#ifndef DAGNET_CONV_DIRECT_H
#define DAGNET_CONV_DIRECT_H

#include <stdint.h>

/* The most input channels per group the direct path takes (measured, see
 * conv_direct.c). */
#define DN_DIRECT_MAX_CIG 4

/* 1 when the direct path is faster than im2col + GEMM for a CONV2D from C
 * to M channels in G groups with an output of (Ho, Wo); unit: a 1x1 kernel
 * with unit strides and no padding, which im2col + GEMM runs on the image
 * itself (measured, see conv_direct.c). */
int dn_direct_wanted(int64_t C, int64_t M, int64_t G, int64_t Ho, int64_t Wo, int unit);

typedef struct dn_direct {
    int64_t C, H, W;           /* input image */
    int64_t M, Ho, Wo;         /* output image */
    int64_t G, cig, cog;       /* groups, input and output channels per group */
    int64_t KH, KW, sh, sw, dh, dw, pt, pl;
    int64_t PT, PL;            /* ((KH - 1) dh) / sh and ((KW - 1) dw) / sw */
    int64_t Hq, Wq;            /* a phase plane: rows, and columns = its row stride */
    int64_t nph;               /* phases, sh sw */
    int64_t ps, xs;            /* floats of a phase plane and slack; of a channel's phases */
    int64_t L, Lr;             /* flat outputs of a plane, Ho Wq, and rounded up to a block */
    int64_t Lq, Lqr;           /* flat points of a phase plane, Hq Wq, and rounded up */
    int64_t zs, z0;            /* floats of one output gradient buffer; its first value */
    int64_t ntaps;             /* taps of one output channel: cig KH KW */
} dn_direct;

/* The geometry of a convolution from (C, H, W) to (M, Ho, Wo) with G groups,
 * kernel (KH, KW), strides, dilations and top and left padding. */
dn_direct dn_direct_geom(int64_t C, int64_t H, int64_t W, int64_t M, int64_t Ho, int64_t Wo,
                         int64_t G, int64_t KH, int64_t KW, int64_t sh, int64_t sw, int64_t dh,
                         int64_t dw, int64_t pt, int64_t pl);

/* Floats of one sample's scratch, rounded to 16 (64-byte aligned). */
int64_t dn_direct_scratch_floats(const dn_direct *d);

/* y (M, Ho, Wo) = b + the cross-correlation of x (C, H, W) with w
 * (M, C / G, KH, KW), then max(., 0) when relu; b may be NULL. On the
 * calling thread (conv.c's threads take whole samples). */
void dn_direct_forward(const dn_direct *d, const float *w, const float *b, const float *x,
                       float *y, int relu, float *scratch);

/* One sample's backward from dz (M, Ho, Wo): when dw is not NULL,
 * dw (M, C / G, KH, KW) = beta dw + the weight gradient (beta 0 or 1); when
 * gx is not NULL, gx (C, H, W) += the input gradient. */
void dn_direct_backward(const dn_direct *d, const float *w, const float *x, const float *dz,
                        float *dw, float beta, float *gx, float *scratch);

/* Floats of the scratch of dn_direct_im2col and dn_direct_col2im, rounded
 * to 16. */
int64_t dn_direct_phase_floats(const dn_direct *d);

/* im2col through the phases, for any stride, dilation and padding (used by
 * conv.c's im2col + GEMM path): col (C KH KW, Ho Wo) = the patches of
 * x (C, H, W), every row of the columns a run of one phase row. */
void dn_direct_im2col(const dn_direct *d, const float *x, float *col, float *scratch);

/* Its adjoint: x (C, H, W) += the patches col (C KH KW, Ho Wo) put back,
 * each pixel receiving its terms in (kh, kw) order. */
void dn_direct_col2im(const dn_direct *d, const float *col, float *x, float *scratch);

#endif
