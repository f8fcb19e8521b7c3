/* Direct convolution for CONV2D with few input channels per group: the
 * depthwise layers (one input channel per group, any multiplier), grouped
 * layers with up to DN_DIRECT_MAX_CIG channels per group, and the first
 * layers of image networks (1 to 4 input channels, one group). conv.c
 * takes this path in place of im2col + GEMM where dn_direct_wanted says so.
 *
 * The formulas are conv.c's (the cross-correlation of seeds 002 section 5,
 * 003 chapter 7 and 004 chapter 4, and the backward pass the seeds omit):
 *   Y[co, oy, ox] = b[co] + sum_{ci in g, kh, kw} W[co, ci, kh, kw] Xp[ci, R, Cc]
 *   dW[co, ci, kh, kw] += sum_{oy, ox} dZ[co, oy, ox] Xp[ci, R, Cc]
 *   dXp[ci, R, Cc] += sum_{co in g, oy, ox, kh, kw} dZ[co, oy, ox] W[co, ci, kh, kw]
 * at R = oy sh + kh dh and Cc = ox sw + kw dw,
 * Xp the image padded by (pt, pl) and zero outside, dX its interior.
 *
 * Layout: the phases. Each padded input plane is split into sh sw phase
 * planes, phase (a, q) holding the points (r sh + a, c sw + q), in rows of
 * Wq = Wo + ((KW - 1) dw) / sw columns (fill_phases). Tap (kh, kw) then
 * reads phase ((kh dh) % sh, (kw dw) % sw) at (oy + (kh dh) / sh,
 * ox + (kw dw) / sw): with the outputs also in rows of Wq (the last
 * columns of each row computed and dropped), every tap is one shift of a
 * flat index i = oy Wq + ox, whatever the stride, dilation or padding:
 *   out[co][i] = b[co] + sum_t W[co, t] src[off[t] + i]          (tapsum)
 *   dW[co, t]  = sum_i dz[co][i] src[off[t] + i]                  (wgrad)
 * the output gradient laid out in the same rows, zero in the dropped
 * columns (fill_grad). The input gradient is the same tap sum read the
 * other way (gather, not scatter): each phase of dXp sums, over the taps
 * (co, kh, kw) that land in it, dz of co shifted back by
 * ((kh dh) / sh) Wq + (kw dw) / sw (backward_taps), then folds into dX
 * (fold_phases).
 *
 * Loops: one sample at a time (conv.c's threads over samples and its fixed
 * chunks of weight gradients keep results bit-identical for any thread
 * count). tapsum keeps blocks of outputs in registers: 8 output channels x
 * 2 vectors (AVX-512; 4 x 2 for AVX2 and SSE2) when a group has several,
 * else one channel over up to 8 vectors, every tap a broadcast weight times
 * a shifted load; wgrad keeps 4 output channels x 4 taps (x 2 for AVX2 and
 * SSE2), or one channel x up to 12 taps (8), as vector accumulators over i,
 * summed across lanes at the end. The kernels are written once with GCC's
 * vector extensions (conv_direct_kern.h) and compiled for AVX-512, AVX2 and
 * SSE2; dn_cpu_isa picks them, so the tests run each. The reference twin is
 * conv.c's conv_ref_loops.
 *
 * Dispatch (dn_direct_wanted), measured on Zen 5, one thread, forward and
 * backward of the op, against im2col (through the phases) + GEMM:
 * depthwise 3x3 to 7x7 on 7x7 to 32x32 images 3.1-6.2 times faster with the
 * input gradient (stride 2: 1.8-2.3), 4 channels per group 2.7-3.0 times,
 * 1x1 depthwise with unit stride 0.65 (im2col reads the image itself: not
 * taken). One group over 1-4 channels, without the input gradient: with 16
 * output channels 1.13 (16x16 outputs, 3x3) to 1.56 (28x28, 5x5), 8x8
 * outputs 0.7-1.0; with 32 or 64 output channels 1.02-1.16 from 24x24
 * outputs, 0.87-1.02 at 16x16, where the GEMM's rows fill its tiles. */
#include <string.h>
#include "internal.h"
#include "conv_direct.h"

/* floats a kernel may read or write past the end of a run: a run is
 * rounded up to whole vectors of at most 16 */
#define SLACK 16

/* One group: output pixels from which the direct path beats im2col +
 * GEMM, and from which it does for at most DIRECT_NARROW output channels
 * (the GEMM's rows); see the header */
#define DIRECT_MIN_PIXELS 576
#define DIRECT_MIN_PIXELS_NARROW 256
#define DIRECT_NARROW 16

static int64_t up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

/* ceil(a / b) for b > 0, 0 when a <= 0 */
static int64_t cdiv0(int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }

/* --- the kernels, once per instruction set ------------------------------- */

typedef void (*tapsum_fn)(float *, int64_t, int64_t, const float *, int64_t, const float *,
                          const int64_t *, int64_t, int64_t, const float *);
typedef void (*wgrad_fn)(float *, int64_t, int64_t, int, const float *, int64_t,
                         const float *, const int64_t *, int64_t, int64_t);

#if defined(DAGNET_X86) && defined(__GNUC__) && !defined(__clang__)
#define DD_ISAS 1
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
#define DD_VW 16
#define DD_NO 8
#define DD_TB4 4
#define DD_TB1 12
#define DD_SFX(f) f##_avx512
#include "conv_direct_kern.h"
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define DD_VW 8
#define DD_NO 4
#define DD_TB4 2
#define DD_TB1 8
#define DD_SFX(f) f##_avx2
#include "conv_direct_kern.h"
#pragma GCC pop_options
#endif
#define DD_VW 4
#define DD_NO 4
#define DD_TB4 2
#define DD_TB1 8
#define DD_SFX(f) f##_generic
#include "conv_direct_kern.h"

typedef struct dd_kernels {
    tapsum_fn tapsum;
    wgrad_fn wgrad;
} dd_kernels;

/* the kernels of the instruction set in force (dn_cpu_set_isa) */
static dd_kernels kernels(void)
{
#ifdef DD_ISAS
    switch (dn_cpu_isa()) {
    case DN_ISA_AVX512: return (dd_kernels){tapsum_avx512, wgrad_avx512};
    case DN_ISA_AVX2: return (dd_kernels){tapsum_avx2, wgrad_avx2};
    default: break;
    }
#endif
    return (dd_kernels){tapsum_generic, wgrad_generic};
}

/* --- dispatch ----------------------------------------------------------------- */

int dn_direct_wanted(int64_t C, int64_t M, int64_t G, int64_t Ho, int64_t Wo, int unit)
{
    if (C / G > DN_DIRECT_MAX_CIG || unit) return 0;
    if (G > 1) return 1;
    return Ho * Wo >= (M <= DIRECT_NARROW ? DIRECT_MIN_PIXELS_NARROW : DIRECT_MIN_PIXELS);
}

/* --- geometry --------------------------------------------------------------- */

dn_direct dn_direct_geom(int64_t C, int64_t H, int64_t W, int64_t M, int64_t Ho, int64_t Wo,
                         int64_t G, int64_t KH, int64_t KW, int64_t sh, int64_t sw, int64_t dh,
                         int64_t dw, int64_t pt, int64_t pl)
{
    dn_direct d;
    d.C = C, d.H = H, d.W = W, d.M = M, d.Ho = Ho, d.Wo = Wo;
    d.G = G, d.cig = C / G, d.cog = M / G;
    d.KH = KH, d.KW = KW, d.sh = sh, d.sw = sw, d.dh = dh, d.dw = dw, d.pt = pt, d.pl = pl;
    d.PT = (KH - 1) * dh / sh, d.PL = (KW - 1) * dw / sw;
    d.Hq = Ho + d.PT, d.Wq = Wo + d.PL;
    d.nph = sh * sw;
    d.L = Ho * d.Wq, d.Lr = up(d.L, SLACK);
    d.Lq = d.Hq * d.Wq, d.Lqr = up(d.Lq, SLACK);
    d.ps = up(d.Lq + d.Wq + SLACK, 16);
    d.xs = d.nph * d.ps;
    d.z0 = up(d.PT * d.Wq + d.PL, 16); /* aligned: the weight gradient reads from it */
    d.zs = up(d.z0 + d.Lq + SLACK, 16);
    d.ntaps = d.cig * KH * KW;
    return d;
}

/* scratch: the phases of the input (C xs) | the outputs (M Lr) or the
 * phases of the input gradient (C nph Lqr) | the output gradient (M zs) |
 * the shifts of the forward taps (ntaps) | the shifts, weight indexes
 * (cog KH KW each) and counts (nph) of the input gradient's taps | the
 * weights tap by tap (M ntaps) */
typedef struct dd_scratch {
    float *X, *R, *Z, *wt;
    int64_t *off, *boff, *widx, *cnt;
} dd_scratch;

static dd_scratch scratch_of(const dn_direct *d, float *s)
{
    const int64_t KK = d->KH * d->KW;
    dd_scratch p;
    p.X = s;
    p.R = p.X + d->C * d->xs;
    p.Z = p.R + up(DN_MAX(d->M * d->Lr, d->C * d->nph * d->Lqr), 16);
    p.off = (int64_t *)(p.Z + d->M * d->zs);
    p.boff = p.off + up(d->ntaps, 8);
    p.widx = p.boff + up(d->cog * KK, 8);
    p.cnt = p.widx + up(d->cog * KK, 8);
    p.wt = (float *)(p.cnt + up(d->nph, 8));
    return p;
}

int64_t dn_direct_scratch_floats(const dn_direct *d)
{
    const int64_t KK = d->KH * d->KW;
    return d->C * d->xs + up(DN_MAX(d->M * d->Lr, d->C * d->nph * d->Lqr), 16) +
           d->M * d->zs + 2 * (up(d->ntaps, 8) + 2 * up(d->cog * KK, 8) + up(d->nph, 8)) +
           up(d->M * d->ntaps, 16);
}

/* --- layouts ------------------------------------------------------------------ */

/* Rows are short (tens of floats): calls to memcpy (which the compiler
 * makes of plain copy loops) cost more than the copies. These move whole
 * vectors of 16 (one to four registers, by instruction set), a copy's last
 * vector overlapping the one before. */
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));
typedef float v4 __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t v16i __attribute__((vector_size(64), aligned(4), may_alias));

static inline void copy_run(float *restrict dst, const float *restrict src, int64_t n)
{
    if (n >= 16) {
        for (int64_t i = 0; i + 16 < n; i += 16) *(v16 *)(dst + i) = *(const v16 *)(src + i);
        *(v16 *)(dst + n - 16) = *(const v16 *)(src + n - 16);
    } else if (n >= 4) {
        for (int64_t i = 0; i + 4 < n; i += 4) *(v4 *)(dst + i) = *(const v4 *)(src + i);
        *(v4 *)(dst + n - 4) = *(const v4 *)(src + n - 4);
    } else {
        for (int64_t i = 0; i < n; i++) dst[i] = src[i];
    }
}

/* dst[0..n) = src[0], src[2], ..., src[2 n - 2]: whole vectors from two
 * loads that read exactly src[2 i .. 2 i + 30] (or 2 i + 6), the last one
 * overlapping the one before */
static inline void copy_even(float *restrict dst, const float *restrict src, int64_t n)
{
    if (n >= 16) {
        for (int64_t i = 0;; i += 16) {
            i = DN_MIN(i, n - 16);
            const v16 a = *(const v16 *)(src + 2 * i), b = *(const v16 *)(src + 2 * i + 15);
            *(v16 *)(dst + i) = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 17, 19,
                                                        21, 23, 25, 27, 29, 31);
            if (i == n - 16) break;
        }
    } else if (n >= 4) {
        for (int64_t i = 0;; i += 4) {
            i = DN_MIN(i, n - 4);
            const v4 a = *(const v4 *)(src + 2 * i), b = *(const v4 *)(src + 2 * i + 3);
            *(v4 *)(dst + i) = __builtin_shufflevector(a, b, 0, 2, 5, 7);
            if (i == n - 4) break;
        }
    } else {
        for (int64_t i = 0; i < n; i++) dst[i] = src[2 * i];
    }
}

/* dst[0..n) = max(src, 0) (0 for NaN, as bias_act in conv.c) */
static inline void relu_run(float *restrict dst, const float *restrict src, int64_t n)
{
    int64_t i = 0;
    if (n >= 16) {
        for (; i + 16 < n; i += 16) {
            const v16 v = *(const v16 *)(src + i);
            *(v16 *)(dst + i) = (v16)((v16i)v & (v > 0.0f));
        }
        const v16 v = *(const v16 *)(src + n - 16);
        *(v16 *)(dst + n - 16) = (v16)((v16i)v & (v > 0.0f));
        return;
    }
    for (; i < n; i++) dst[i] = src[i] > 0.0f ? src[i] : 0.0f;
}

/* dst[0..n) += src[0..n) */
static inline void add_run(float *restrict dst, const float *restrict src, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) *(v16 *)(dst + i) += *(const v16 *)(src + i);
    for (; i < n; i++) dst[i] += src[i];
}

/* P (nph planes of ps) = the phases of the padded plane x (H, W): phase
 * (a, q) holds the padded points (r sh + a, c sw + q), point (R, Cc) being
 * x[R - pt][Cc - pl] and 0 outside the image, at r Wq + c for r < Hq and
 * c < Wq; zero after. Tap (kh, kw) then reads phase
 * ((kh dh) % sh, (kw dw) % sw) shifted by ((kh dh) / sh) Wq + (kw dw) / sw
 * from the flat output index oy Wq + ox. Zeroed whole first: one call,
 * where zeroing the margins of each row would be several. */
DN_TARGET_CLONES
static void fill_phases(const dn_direct *d, const float *x, float *P)
{
    const int64_t Wq = d->Wq, W = d->W, sh = d->sh, sw = d->sw, pt = d->pt, ps = d->ps;
    memset(P, 0, (size_t)d->xs * sizeof(float));
    for (int64_t q = 0; q < sw; q++) {
        /* columns c whose image column c sw + q - pl lies in [0, W) */
        const int64_t c0 = DN_MIN(cdiv0(d->pl - q, sw), Wq);
        const int64_t n = DN_MAX(c0, DN_MIN(cdiv0(W + d->pl - q, sw), Wq)) - c0;
        const float *xq = x + c0 * sw + q - d->pl;
        for (int64_t a = 0; a < sh; a++) {
            /* rows r whose image row r sh + a - pt lies in [0, H) */
            const int64_t r0 = DN_MIN(cdiv0(pt - a, sh), d->Hq);
            const int64_t r1 = DN_MAX(r0, DN_MIN(cdiv0(d->H + pt - a, sh), d->Hq));
            float *ph = P + (a * sw + q) * ps + c0;
            for (int64_t r = r0; r < r1; r++) {
                const float *src = xq + (r * sh + a - pt) * W;
                if (sw == 1)
                    copy_run(ph + r * Wq, src, n);
                else if (sw == 2)
                    copy_even(ph + r * Wq, src, n);
                else
                    for (int64_t c = 0; c < n; c++) ph[r * Wq + c] = src[c * sw];
            }
        }
    }
}

/* Z (zs) = the output gradient dz (Ho, Wo) in rows of Wq = Wo + PL, zero
 * elsewhere: dz[oy][ox] at z0 + oy Wq + ox, and 0 at z0 + oy Wq + ox for
 * ox in [Wo, Wq) (the next row's leading zeros), so that the flat output
 * index of the forward pass reads it; z0 >= PT Wq + PL leaves the zeros
 * that the taps of the input gradient read before the first row. */
DN_TARGET_CLONES
static void fill_grad(const dn_direct *d, const float *dz, float *Z)
{
    memset(Z, 0, (size_t)d->zs * sizeof(float));
    for (int64_t oy = 0; oy < d->Ho; oy++)
        copy_run(Z + d->z0 + oy * d->Wq, dz + oy * d->Wo, d->Wo);
}

/* y (Ho, Wo) = the flat outputs R (Ho rows of Wq), max(., 0) when relu */
DN_TARGET_CLONES
static void copy_out(const dn_direct *d, const float *R, float *y, int relu)
{
    for (int64_t oy = 0; oy < d->Ho; oy++) {
        const float *src = R + oy * d->Wq;
        float *dst = y + oy * d->Wo;
        if (relu)
            relu_run(dst, src, d->Wo);
        else
            copy_run(dst, src, d->Wo);
    }
}

/* gx (H, W) += the input gradient held by its phases T (nph planes of
 * Lqr), laid out as fill_phases lays out the input; the points past the
 * last phase row or column get nothing (no output reads them). */
DN_TARGET_CLONES
static void fold_phases(const dn_direct *d, const float *T, float *gx)
{
    const int64_t W = d->W, sw = d->sw;
    for (int64_t q = 0; q < sw; q++) {
        /* image columns ix = c sw + q - pl for c in [c0, c1) */
        const int64_t c0 = DN_MIN(cdiv0(d->pl - q, sw), d->Wq);
        const int64_t c1 = DN_MAX(c0, DN_MIN(cdiv0(W + d->pl - q, sw), d->Wq));
        /* image row iy is padded row iy + pt = r sh + a */
        int64_t r = d->pt / d->sh, a = d->pt % d->sh;
        for (int64_t iy = 0; iy < d->H && r < d->Hq; iy++) {
            const float *src = T + (a * sw + q) * d->Lqr + r * d->Wq;
            float *dst = gx + iy * W + q - d->pl;
            if (sw == 1)
                add_run(dst + c0, src + c0, c1 - c0);
            else
                for (int64_t c = c0; c < c1; c++) dst[c * sw] += src[c];
            if (++a == d->sh) a = 0, r++;
        }
    }
}

/* the first point of tap (kh, kw) in the phases of one channel, phase
 * planes `stride` apart */
static int64_t tap_start(const dn_direct *d, int64_t kh, int64_t kw, int64_t stride)
{
    const int64_t ph = (kh * d->dh % d->sh) * d->sw + kw * d->dw % d->sw;
    return ph * stride + kh * d->dh / d->sh * d->Wq + kw * d->dw / d->sw;
}

/* off (ntaps) = the shift of each tap (cl, kh, kw), in the order of the
 * weight, from the flat output index into the phases of a group's first
 * input channel */
static void forward_taps(const dn_direct *d, int64_t *off)
{
    for (int64_t cl = 0; cl < d->cig; cl++)
        for (int64_t kh = 0; kh < d->KH; kh++)
            for (int64_t kw = 0; kw < d->KW; kw++)
                off[(cl * d->KH + kh) * d->KW + kw] = cl * d->xs + tap_start(d, kh, kw, d->ps);
}

/* The taps of the input gradient, phase by phase: for phase (a, q), the
 * (co, kh, kw) of a group with (kh dh) % sh = a and (kw dw) % sw = q,
 * each reading the output gradient buffer of co shifted back by
 * ((kh dh) / sh) Wq + (kw dw) / sw. off (cog KH KW) holds the shifts from
 * the group's first buffer, phase after phase, widx the index of each
 * tap's weight from the group's first weight (input channel 0), cnt (nph)
 * the taps of each phase. */
static void backward_taps(const dn_direct *d, int64_t *off, int64_t *widx, int64_t *cnt)
{
    int64_t t = 0;
    for (int64_t a = 0; a < d->sh; a++)
        for (int64_t q = 0; q < d->sw; q++) {
            const int64_t t0 = t;
            for (int64_t col = 0; col < d->cog; col++)
                for (int64_t kh = 0; kh < d->KH; kh++)
                    for (int64_t kw = 0; kw < d->KW; kw++) {
                        if (kh * d->dh % d->sh != a || kw * d->dw % d->sw != q) continue;
                        off[t] = col * d->zs + d->z0 - kh * d->dh / d->sh * d->Wq -
                                 kw * d->dw / d->sw;
                        widx[t++] = (col * d->cig * d->KH + kh) * d->KW + kw;
                    }
            cnt[a * d->sw + q] = t - t0;
        }
}

/* --- one sample ------------------------------------------------------------- */

void dn_direct_forward(const dn_direct *d, const float *w, const float *b, const float *x,
                       float *y, int relu, float *scratch)
{
    const dd_kernels k = kernels();
    const dd_scratch p = scratch_of(d, scratch);
    const int64_t HW = d->H * d->W, P = d->Ho * d->Wo;
    forward_taps(d, p.off);
    /* wt (ntaps, M): the weights tap by tap */
    for (int64_t co = 0; co < d->M; co++)
        for (int64_t t = 0; t < d->ntaps; t++) p.wt[t * d->M + co] = w[co * d->ntaps + t];
    /* group by group, so that a depthwise plane stays in cache from its
     * phases to its output */
    for (int64_t gr = 0; gr < d->G; gr++) {
        const int64_t ci = gr * d->cig, co = gr * d->cog;
        float *X = p.X + ci * d->xs, *R = p.R + co * d->Lr;
        for (int64_t cl = 0; cl < d->cig; cl++) fill_phases(d, x + (ci + cl) * HW, X + cl * d->xs);
        k.tapsum(R, d->Lr, d->cog, p.wt + co, d->M, X, p.off, d->ntaps, d->L, b ? b + co : NULL);
        for (int64_t o = 0; o < d->cog; o++) copy_out(d, R + o * d->Lr, y + (co + o) * P, relu);
    }
}

void dn_direct_backward(const dn_direct *d, const float *w, const float *x, const float *dz,
                        float *dw, float beta, float *gx, float *scratch)
{
    const dd_kernels k = kernels();
    const dd_scratch p = scratch_of(d, scratch);
    const int64_t HW = d->H * d->W, P = d->Ho * d->Wo, KK = d->KH * d->KW;
    forward_taps(d, p.off);
    if (gx) backward_taps(d, p.boff, p.widx, p.cnt);
    for (int64_t gr = 0; gr < d->G; gr++) {
        const int64_t ci = gr * d->cig, co = gr * d->cog;
        float *X = p.X + ci * d->xs, *Z = p.Z + co * d->zs;
        for (int64_t o = 0; o < d->cog; o++) fill_grad(d, dz + (co + o) * P, Z + o * d->zs);
        if (dw) {
            /* dw[co][t] = sum_i dz_co[i] X[off[t] + i] over the flat outputs */
            for (int64_t cl = 0; cl < d->cig; cl++)
                fill_phases(d, x + (ci + cl) * HW, X + cl * d->xs);
            for (int64_t o = 0; o < d->cog; o += 4)
                k.wgrad(dw + (co + o) * d->ntaps, d->ntaps, DN_MIN((int64_t)4, d->cog - o),
                        beta != 0.0f, Z + o * d->zs + d->z0, d->zs, X, p.off, d->ntaps, d->L);
        }
        if (!gx) continue;
        /* each phase of the group's input gradient: its taps over the
         * output gradient buffers, then folded into gx */
        const float *wg = w + co * d->ntaps;
        float *T = p.R + ci * d->nph * d->Lqr;
        const int64_t *off = p.boff, *widx = p.widx;
        for (int64_t ph = 0; ph < d->nph; ph++) {
            const int64_t nT = p.cnt[ph];
            for (int64_t cl = 0; cl < d->cig; cl++)
                for (int64_t t = 0; t < nT; t++) p.wt[t * d->cig + cl] = wg[widx[t] + cl * KK];
            k.tapsum(T + ph * d->Lqr, d->nph * d->Lqr, d->cig, p.wt, d->cig, Z, off, nT, d->Lq,
                     NULL);
            off += nT, widx += nT;
        }
        for (int64_t cl = 0; cl < d->cig; cl++)
            fold_phases(d, T + cl * d->nph * d->Lqr, gx + (ci + cl) * HW);
    }
}

/* --- im2col and col2im through the phases ------------------------------------ */

int64_t dn_direct_phase_floats(const dn_direct *d)
{
    return up(DN_MAX(d->xs, d->nph * d->Lqr), 16);
}

DN_TARGET_CLONES
void dn_direct_im2col(const dn_direct *d, const float *x, float *col, float *P)
{
    const int64_t HW = d->H * d->W, Ho = d->Ho, Wo = d->Wo, Wq = d->Wq;
    for (int64_t c = 0; c < d->C; c++) {
        fill_phases(d, x + c * HW, P);
        for (int64_t kh = 0; kh < d->KH; kh++)
            for (int64_t kw = 0; kw < d->KW; kw++) {
                const float *src = P + tap_start(d, kh, kw, d->ps);
                float *row = col + ((c * d->KH + kh) * d->KW + kw) * Ho * Wo;
                for (int64_t oy = 0; oy < Ho; oy++) copy_run(row + oy * Wo, src + oy * Wq, Wo);
            }
    }
}

DN_TARGET_CLONES
void dn_direct_col2im(const dn_direct *d, const float *col, float *x, float *P)
{
    const int64_t HW = d->H * d->W, Pout = d->Ho * d->Wo;
    for (int64_t c = 0; c < d->C; c++) {
        memset(P, 0, (size_t)(d->nph * d->Lqr) * sizeof(float));
        for (int64_t kh = 0; kh < d->KH; kh++)
            for (int64_t kw = 0; kw < d->KW; kw++) {
                float *dst = P + tap_start(d, kh, kw, d->Lqr);
                const float *row = col + ((c * d->KH + kh) * d->KW + kw) * Pout;
                for (int64_t oy = 0; oy < d->Ho; oy++)
                    add_run(dst + oy * d->Wq, row + oy * d->Wo, d->Wo);
            }
        fold_phases(d, P, x + c * HW);
    }
}
