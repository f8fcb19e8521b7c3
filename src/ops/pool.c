/* Pooling on NCHW images: MAXPOOL2D, AVGPOOL2D and GLOBAL_AVGPOOL2D.
 *
 * Max pooling per channel, o(j, k) = max over the window W_jk of f (seed 002
 * section 5; seed 004 chapter 4: the argmax is kept for backward); the
 * gradient goes to the argmax, the first maximum in row-major window order
 * on ties (seed 002 leaves the tie rule open). Padding never wins: a
 * window always holds a real pixel (padding < window).
 * Average pooling divides by the whole window, padding included, as
 * PyTorch's default (count_include_pad=True); count_pad = 0 divides by the
 * real pixels of the window. Its gradient spreads g / divisor over the
 * window. Sizes: floor((H + pt + pb - KH) / sh) + 1 (seed 003 section 7,
 * stride k shrinks by k; seed 004 chapter 4, 2x2 stride 2 halves H and W).
 * GLOBAL_AVGPOOL2D: (C, H, W) -> (C), the mean of each channel.
 *
 * Planes (sample, channel) are independent: threads take whole planes, so
 * results do not depend on the thread count. Max pooling saves the argmax
 * of each output (an int32 index into its plane) for backward; its _ref
 * twin finds it again from the input.
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"

#define PAR_MIN_ELEMS 32768

static int plane_threads(const dn_ctx *c, int64_t elems)
{
    return c->nthreads > 1 && elems >= PAR_MIN_ELEMS ? c->nthreads : 1;
}

typedef struct pool_geom {
    int64_t planes, H, W, Ho, Wo, KH, KW, sh, sw, pt, pl;
} pool_geom;

static pool_geom pool_geom_of(const dn_node *nd, int64_t n)
{
    const dn_attrs *a = &nd->attrs;
    pool_geom g;
    g.planes = n * nd->in_shape[0].dims[0];
    g.H = nd->in_shape[0].dims[1], g.W = nd->in_shape[0].dims[2];
    g.Ho = nd->shape.dims[1], g.Wo = nd->shape.dims[2];
    g.KH = a->kernel[0], g.KW = a->kernel[1];
    g.sh = a->stride[0] > 0 ? a->stride[0] : g.KH;
    g.sw = a->stride[1] > 0 ? a->stride[1] : g.KW;
    g.pt = a->pad[0], g.pl = a->pad[2];
    return g;
}

static dn_status pool_infer(dn_node *node)
{
    const dn_attrs *a = &node->attrs;
    const dn_shape *in = &node->in_shape[0];
    dn_status st = dn_node_expect_image(node, 0);
    if (st) return st;
    char got[96];
    dn_shape_format(in, got, sizeof got);
    int64_t out[2];
    for (int k = 0; k < 2; k++) {
        int64_t K = a->kernel[k], s = a->stride[k] > 0 ? a->stride[k] : K;
        int64_t p0 = a->pad[2 * k], p1 = a->pad[2 * k + 1];
        if (K < 1 || a->stride[k] < 0 || K > DN_MAX_WINDOW || a->stride[k] > DN_MAX_WINDOW)
            return dn_fail_node(node, DN_ERR_INVALID, "window (%lld, %lld) must be in [1, %lld] "
                                "and stride (%lld, %lld) in [1, %lld] (0 for the window)",
                                (long long)a->kernel[0], (long long)a->kernel[1],
                                (long long)DN_MAX_WINDOW, (long long)a->stride[0],
                                (long long)a->stride[1], (long long)DN_MAX_WINDOW);
        if (p0 < 0 || p1 < 0 || p0 >= K || p1 >= K)
            return dn_fail_node(node, DN_ERR_INVALID, "padding (%lld, %lld, %lld, %lld) must be "
                                ">= 0 and smaller than the window (%lld, %lld)",
                                (long long)a->pad[0], (long long)a->pad[1], (long long)a->pad[2],
                                (long long)a->pad[3], (long long)a->kernel[0],
                                (long long)a->kernel[1]);
        int64_t span = in->dims[1 + k] + p0 + p1 - K;
        if (span < 0)
            return dn_fail_node(node, DN_ERR_INVALID, "window (%lld, %lld) is larger than the "
                                "padded input %s; use a smaller window or pad the input",
                                (long long)a->kernel[0], (long long)a->kernel[1], got);
        out[k] = span / s + 1;
    }
    node->shape = (dn_shape){3, {in->dims[0], out[0], out[1]}};
    node->batched = node->in_batched[0];
    node->saved_per_sample = node->op == DN_OP_MAXPOOL2D ? dn_shape_numel(&node->shape) : 0;
    node->saved_fixed = node->ws_per_sample = node->ws_fixed = 0;
    return DN_OK;
}

/* Window rows [*y0, *y1) of output row oy, clipped to the image. */
static void clip(int64_t o, int64_t s, int64_t p, int64_t K, int64_t H, int64_t *a, int64_t *b)
{
    int64_t lo = o * s - p;
    *a = DN_MAX(lo, (int64_t)0);
    *b = DN_MIN(lo + K, H);
}

/* --- MAXPOOL2D ------------------------------------------------------------ */

/* One output row of the 2x2, stride 2 window: out (Wo), idx (Wo) from
 * image rows r0, r1 (row r0 starts at index base of the plane). Branch-free
 * selects, so that the loop vectorises; ties keep the first maximum. */
DN_TARGET_CLONES
static void maxpool_row_2x2(const float *restrict r0, const float *restrict r1, float *restrict out,
                            int32_t *restrict idx, int64_t Wo, int32_t base, int32_t W)
{
    for (int64_t ox = 0; ox < Wo; ox++) {
        float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
        int32_t k = 0;
        float m = a;
        k = b > m ? 1 : k;
        m = b > m ? b : m;
        k = c > m ? W : k;
        m = c > m ? c : m;
        k = d > m ? W + 1 : k;
        m = d > m ? d : m;
        out[ox] = m;
        idx[ox] = base + 2 * (int32_t)ox + k;
    }
}

/* The same rows, 8 outputs a step, for rows of 8 outputs or more: the
 * compiler leaves the stride-2 gathers of maxpool_row_2x2 scalar, and rows
 * of 7-14 outputs (a pooled 28x28 image) never reached a vector loop
 * (the first pool of a 5x5 conv block on 28x28 digits: 107 against 240 us).
 * Two vector loads per image row are split into even and odd columns; the
 * last step moves back to end at Wo, overlapping the one before it, which
 * writes the same values again. Same selects, same ties, same bits. */
typedef float pv8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef int32_t pi8 __attribute__((vector_size(32), aligned(4), may_alias));
/* a where the lanes of s are set, else b (a macro: a vector-returning
 * function compiled for the default target would change the ABI) */
#define PSEL(s, a, b) ((pv8)(((s) & (pi8)(a)) | (~(s) & (pi8)(b))))
DN_TARGET_CLONES
static void maxpool_row_2x2_v(const float *restrict r0, const float *restrict r1, float *restrict out,
                              int32_t *restrict idx, int64_t Wo, int32_t base, int32_t W)
{
    for (int64_t i = 0;; i += 8) {
        i = i < Wo - 8 ? i : Wo - 8;
        pv8 x0 = *(const pv8 *)(r0 + 2 * i), x1 = *(const pv8 *)(r0 + 2 * i + 8);
        pv8 y0 = *(const pv8 *)(r1 + 2 * i), y1 = *(const pv8 *)(r1 + 2 * i + 8);
        pv8 a = __builtin_shufflevector(x0, x1, 0, 2, 4, 6, 8, 10, 12, 14);
        pv8 b = __builtin_shufflevector(x0, x1, 1, 3, 5, 7, 9, 11, 13, 15);
        pv8 c = __builtin_shufflevector(y0, y1, 0, 2, 4, 6, 8, 10, 12, 14);
        pv8 d = __builtin_shufflevector(y0, y1, 1, 3, 5, 7, 9, 11, 13, 15);
        pi8 k = {0}, s;
        pv8 m = a;
        s = b > m; k = (s & 1) | (~s & k); m = PSEL(s, b, m);
        s = c > m; k = (s & W) | (~s & k); m = PSEL(s, c, m);
        s = d > m; k = (s & (W + 1)) | (~s & k); m = PSEL(s, d, m);
        const pi8 lane = {0, 2, 4, 6, 8, 10, 12, 14};
        *(pv8 *)(out + i) = m;
        *(pi8 *)(idx + i) = k + lane + (base + 2 * (int32_t)i);
        if (i == Wo - 8) break;
    }
}
DN_TARGET_CLONES
static void maxpool_bwd_row_2x2_v(float *restrict g0, float *restrict g1, const float *restrict go,
                                  const int32_t *restrict idx, int64_t Wo, int32_t base, int32_t W)
{
    const pi8 lane = {0, 2, 4, 6, 8, 10, 12, 14};
    for (int64_t i = 0;; i += 8) {
        i = i < Wo - 8 ? i : Wo - 8;
        pi8 k = *(const pi8 *)(idx + i) - lane - (base + 2 * (int32_t)i);
        pi8 v = *(const pi8 *)(go + i);
        pi8 a = (k == 0) & v, b = (k == 1) & v, c = (k == W) & v, d = (k == W + 1) & v;
        *(pi8 *)(g0 + 2 * i) = __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11);
        *(pi8 *)(g0 + 2 * i + 8) = __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15);
        *(pi8 *)(g1 + 2 * i) = __builtin_shufflevector(c, d, 0, 8, 1, 9, 2, 10, 3, 11);
        *(pi8 *)(g1 + 2 * i + 8) = __builtin_shufflevector(c, d, 4, 12, 5, 13, 6, 14, 7, 15);
        if (i == Wo - 8) break;
    }
}
/* out (Ho, Wo), idx (Ho, Wo) = max and argmax over windows of x (H, W) */
static void maxpool_plane(const pool_geom *g, const float *x, float *out, int32_t *idx)
{
    if (g->KH == 2 && g->KW == 2 && g->sh == 2 && g->sw == 2 && g->pt == 0 && g->pl == 0) {
        for (int64_t oy = 0; oy < g->Ho; oy++)
            (g->Wo >= 8 ? maxpool_row_2x2_v : maxpool_row_2x2)(
                x + 2 * oy * g->W, x + (2 * oy + 1) * g->W, out + oy * g->Wo, idx + oy * g->Wo,
                g->Wo, (int32_t)(2 * oy * g->W), (int32_t)g->W);
        return;
    }
    for (int64_t oy = 0; oy < g->Ho; oy++) {
        int64_t y0, y1;
        clip(oy, g->sh, g->pt, g->KH, g->H, &y0, &y1);
        for (int64_t ox = 0; ox < g->Wo; ox++) {
            int64_t x0, x1;
            clip(ox, g->sw, g->pl, g->KW, g->W, &x0, &x1);
            float m = x[y0 * g->W + x0];
            int64_t k = y0 * g->W + x0;
            for (int64_t iy = y0; iy < y1; iy++)
                for (int64_t ix = x0; ix < x1; ix++)
                    if (x[iy * g->W + ix] > m) m = x[iy * g->W + ix], k = iy * g->W + ix;
            out[oy * g->Wo + ox] = m;
            idx[oy * g->Wo + ox] = (int32_t)k;
        }
    }
}

// out (n, C, Ho, Wo), saved argmax (n, C, Ho, Wo) as int32, in X (n, C, H, W)
static void maxpool_forward(const dn_ctx *c)
{
    pool_geom g = pool_geom_of(c->node, c->n);
    int nt = plane_threads(c, g.planes * g.H * g.W);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t p = 0; p < g.planes; p++)
        maxpool_plane(&g, c->in[0] + p * g.H * g.W, c->out + p * g.Ho * g.Wo,
                      (int32_t *)c->saved + p * g.Ho * g.Wo);
}

/* The fresh gradient of image rows 2 oy, 2 oy + 1 under one output row of
 * the 2x2, stride-2 window: every pixel of the windows written once, go at
 * the saved argmax and 0 elsewhere (a memset and a scatter would write the
 * rows twice). Branch-free selects, so that the loop vectorises. */
DN_TARGET_CLONES
static void maxpool_bwd_row_2x2(float *restrict g0, float *restrict g1, const float *restrict go,
                                const int32_t *restrict idx, int64_t Wo, int32_t base, int32_t W)
{
    for (int64_t ox = 0; ox < Wo; ox++) {
        int32_t k = idx[ox] - base - 2 * (int32_t)ox;
        float v = go[ox];
        g0[2 * ox] = k == 0 ? v : 0.0f;
        g0[2 * ox + 1] = k == 1 ? v : 0.0f;
        g1[2 * ox] = k == W ? v : 0.0f;
        g1[2 * ox + 1] = k == W + 1 ? v : 0.0f;
    }
}

/* gx (H, W) = the gradient of one plane under the 2x2, stride-2 window;
 * the pixels no window covers (the last row or column of an odd size)
 * are zeroed. */
static void maxpool_bwd_plane_2x2(const pool_geom *g, float *gx, const float *go,
                                  const int32_t *idx)
{
    const int64_t W = g->W;
    for (int64_t oy = 0; oy < g->Ho; oy++) {
        float *g0 = gx + 2 * oy * W, *g1 = g0 + W;
        (g->Wo >= 8 ? maxpool_bwd_row_2x2_v : maxpool_bwd_row_2x2)(
            g0, g1, go + oy * g->Wo, idx + oy * g->Wo, g->Wo, (int32_t)(2 * oy * W), (int32_t)W);
        for (int64_t x = 2 * g->Wo; x < W; x++) g0[x] = g1[x] = 0.0f;
    }
    for (int64_t i = 2 * g->Ho * W; i < g->H * W; i++) gx[i] = 0.0f;
}

// gin X (n, C, H, W) += gout scattered to the saved argmax
static void maxpool_backward(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    pool_geom g = pool_geom_of(c->node, c->n);
    int fresh = c->gin_fresh & 1;
    const int tiles = g.KH == 2 && g.KW == 2 && g.sh == 2 && g.sw == 2 && g.pt == 0 && g.pl == 0;
    int nt = plane_threads(c, g.planes * g.H * g.W);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t p = 0; p < g.planes; p++) {
        float *gx = c->gin[0] + p * g.H * g.W;
        const float *go = c->gout + p * g.Ho * g.Wo;
        const int32_t *idx = (const int32_t *)c->saved + p * g.Ho * g.Wo;
        if (fresh && tiles) {
            maxpool_bwd_plane_2x2(&g, gx, go, idx);
            continue;
        }
        if (fresh) memset(gx, 0, (size_t)(g.H * g.W) * sizeof(float));
        for (int64_t o = 0; o < g.Ho * g.Wo; o++) gx[idx[o]] += go[o];
    }
}

/* The argmax of output (p, oy, ox) by the definition. */
static int64_t maxpool_argmax_ref(const pool_geom *g, const float *x, int64_t oy, int64_t ox)
{
    int64_t best = -1;
    for (int64_t ky = 0; ky < g->KH; ky++)
        for (int64_t kx = 0; kx < g->KW; kx++) {
            int64_t iy = oy * g->sh - g->pt + ky, ix = ox * g->sw - g->pl + kx;
            if (iy < 0 || iy >= g->H || ix < 0 || ix >= g->W) continue;
            if (best < 0 || x[iy * g->W + ix] > x[best]) best = iy * g->W + ix;
        }
    return best;
}

static void maxpool_forward_ref(const dn_ctx *c)
{
    pool_geom g = pool_geom_of(c->node, c->n);
    for (int64_t p = 0; p < g.planes; p++)
        for (int64_t oy = 0; oy < g.Ho; oy++)
            for (int64_t ox = 0; ox < g.Wo; ox++) {
                const float *x = c->in[0] + p * g.H * g.W;
                int64_t k = maxpool_argmax_ref(&g, x, oy, ox);
                c->out[(p * g.Ho + oy) * g.Wo + ox] = x[k];
            }
}

static void maxpool_backward_ref(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    pool_geom g = pool_geom_of(c->node, c->n);
    if (c->gin_fresh & 1)
        memset(c->gin[0], 0, (size_t)(g.planes * g.H * g.W) * sizeof(float));
    for (int64_t p = 0; p < g.planes; p++)
        for (int64_t oy = 0; oy < g.Ho; oy++)
            for (int64_t ox = 0; ox < g.Wo; ox++) {
                const float *x = c->in[0] + p * g.H * g.W;
                int64_t k = maxpool_argmax_ref(&g, x, oy, ox);
                c->gin[0][p * g.H * g.W + k] += c->gout[(p * g.Ho + oy) * g.Wo + ox];
            }
}

/* --- AVGPOOL2D -------------------------------------------------------------- */

/* The divisor of output (oy, ox). */
static float avg_div(const pool_geom *g, int count_pad, int64_t oy, int64_t ox)
{
    if (count_pad) return (float)(g->KH * g->KW);
    int64_t y0, y1, x0, x1;
    clip(oy, g->sh, g->pt, g->KH, g->H, &y0, &y1);
    clip(ox, g->sw, g->pl, g->KW, g->W, &x0, &x1);
    return (float)((y1 - y0) * (x1 - x0));
}

// out (n, C, Ho, Wo) = window means of X (n, C, H, W); the sum runs in
// row-major window order (the _ref twin is the same loop)
static void avgpool_run(const dn_ctx *c, int nt)
{
    pool_geom g = pool_geom_of(c->node, c->n);
    int cp = c->node->attrs.count_pad;
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t p = 0; p < g.planes; p++) {
        const float *x = c->in[0] + p * g.H * g.W;
        float *out = c->out + p * g.Ho * g.Wo;
        for (int64_t oy = 0; oy < g.Ho; oy++) {
            int64_t y0, y1;
            clip(oy, g.sh, g.pt, g.KH, g.H, &y0, &y1);
            for (int64_t ox = 0; ox < g.Wo; ox++) {
                int64_t x0, x1;
                clip(ox, g.sw, g.pl, g.KW, g.W, &x0, &x1);
                float s = 0.0f;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) s += x[iy * g.W + ix];
                out[oy * g.Wo + ox] = s / avg_div(&g, cp, oy, ox);
            }
        }
    }
}

// gin X (n, C, H, W) += gout / divisor over each window, outputs in order
static void avgpool_back_run(const dn_ctx *c, int nt)
{
    if (!c->gin[0]) return;
    pool_geom g = pool_geom_of(c->node, c->n);
    int cp = c->node->attrs.count_pad, fresh = c->gin_fresh & 1;
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t p = 0; p < g.planes; p++) {
        float *gx = c->gin[0] + p * g.H * g.W;
        const float *go = c->gout + p * g.Ho * g.Wo;
        if (fresh) memset(gx, 0, (size_t)(g.H * g.W) * sizeof(float));
        for (int64_t oy = 0; oy < g.Ho; oy++) {
            int64_t y0, y1;
            clip(oy, g.sh, g.pt, g.KH, g.H, &y0, &y1);
            for (int64_t ox = 0; ox < g.Wo; ox++) {
                int64_t x0, x1;
                clip(ox, g.sw, g.pl, g.KW, g.W, &x0, &x1);
                float v = go[oy * g.Wo + ox] / avg_div(&g, cp, oy, ox);
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) gx[iy * g.W + ix] += v;
            }
        }
    }
}

static void avgpool_forward(const dn_ctx *c)
{
    pool_geom g = pool_geom_of(c->node, c->n);
    avgpool_run(c, plane_threads(c, g.planes * g.H * g.W));
}
static void avgpool_backward(const dn_ctx *c)
{
    pool_geom g = pool_geom_of(c->node, c->n);
    avgpool_back_run(c, plane_threads(c, g.planes * g.H * g.W));
}
static void avgpool_forward_ref(const dn_ctx *c) { avgpool_run(c, 1); }
static void avgpool_backward_ref(const dn_ctx *c) { avgpool_back_run(c, 1); }

/* --- GLOBAL_AVGPOOL2D ---------------------------------------------------- */

static dn_status gap_infer(dn_node *node)
{
    const dn_shape *in = &node->in_shape[0];
    char got[96];
    dn_shape_format(in, got, sizeof got);
    if (in->ndim != 3 || in->dims[1] * in->dims[2] < 1)
        return dn_fail_node(node, DN_ERR_INVALID, "expected images of per-sample shape "
                            "(channels, height, width) with at least one pixel, got %s", got);
    node->shape = (dn_shape){1, {in->dims[0]}};
    node->batched = node->in_batched[0];
    node->saved_per_sample = node->saved_fixed = node->ws_per_sample = node->ws_fixed = 0;
    return DN_OK;
}

/* The sum of x (P) in double: 16 lanes (independent chains, so that the
 * adds overlap) combined in a fixed tree. Used for the sums of a plane
 * here and of a bias gradient's plane in conv.c. */
DN_TARGET_CLONES
double dn_plane_sum(const float *x, int64_t P)
{
    double a[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= P; i += 16)
        for (int l = 0; l < 16; l++) a[l] += x[i + l];
    for (; i < P; i++) a[i & 15] += x[i];
    for (int w = 8; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) a[l] += a[l + w];
    return a[0];
}

// out (n, C) = means of X (n, C, H, W) over H and W
static void gap_forward(const dn_ctx *c)
{
    const dn_shape *in = &c->node->in_shape[0];
    int64_t planes = c->n * in->dims[0], P = in->dims[1] * in->dims[2];
    int nt = plane_threads(c, planes * P);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t p = 0; p < planes; p++)
        c->out[p] = (float)(dn_plane_sum(c->in[0] + p * P, P) / (double)P);
}

// gin X (n, C, H, W) += gout (n, C) / (H W)
static void gap_backward(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    const dn_shape *in = &c->node->in_shape[0];
    int64_t planes = c->n * in->dims[0], P = in->dims[1] * in->dims[2];
    int fresh = c->gin_fresh & 1;
    int nt = plane_threads(c, planes * P);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float v = c->gout[p] / (float)P, *gx = c->gin[0] + p * P;
        if (fresh)
            for (int64_t i = 0; i < P; i++) gx[i] = v;
        else
            for (int64_t i = 0; i < P; i++) gx[i] += v;
    }
}

static void gap_forward_ref(const dn_ctx *c)
{
    const dn_shape *in = &c->node->in_shape[0];
    int64_t planes = c->n * in->dims[0], P = in->dims[1] * in->dims[2];
    for (int64_t p = 0; p < planes; p++) {
        double s = 0.0;
        for (int64_t i = 0; i < P; i++) s += c->in[0][p * P + i];
        c->out[p] = (float)(s / (double)P);
    }
}

static void gap_backward_ref(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    const dn_shape *in = &c->node->in_shape[0];
    int64_t planes = c->n * in->dims[0], P = in->dims[1] * in->dims[2];
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < P; i++)
            c->gin[0][p * P + i] = ((c->gin_fresh & 1) ? 0.0f : c->gin[0][p * P + i]) +
                                   c->gout[p] / (float)P;
}

const dn_op_def dn_opdef_maxpool2d = {
    DN_OP_MAXPOOL2D, "maxpool2d", 1, 1, DN_OPF_BWD_IN0 | DN_OPF_BWD_FRESH, pool_infer,
    maxpool_forward, maxpool_backward, maxpool_forward_ref, maxpool_backward_ref};

const dn_op_def dn_opdef_avgpool2d = {
    DN_OP_AVGPOOL2D, "avgpool2d", 1, 1, DN_OPF_BWD_FRESH, pool_infer,
    avgpool_forward, avgpool_backward, avgpool_forward_ref, avgpool_backward_ref};

const dn_op_def dn_opdef_global_avgpool2d = {
    DN_OP_GLOBAL_AVGPOOL2D, "global_avgpool2d", 1, 1, DN_OPF_BWD_FRESH, gap_infer,
    gap_forward, gap_backward, gap_forward_ref, gap_backward_ref};
