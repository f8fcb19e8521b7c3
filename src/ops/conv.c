/* CONV2D and CONV2D_TRANSPOSE on NCHW images (per sample (C, H, W)).
 *
 * CONV2D is a cross-correlation, as seeds 002 (section 5), 003 (chapter 7)
 * and 004 (chapter 4) compute it (seed 004's flipped definition of 4.1 is
 * an erratum, see the reading notes): for group g of G,
 *   Y[co, oy, ox] = act(b[co] + sum_{ci in g, kh, kw}
 *                   W[co, ci, kh, kw] X[ci, oy sh - pt + kh dh, ox sw - pl + kw dw])
 * with X zero outside the image (seed 002 section 5 writes
 * z_h = b_h + sum_ijk w_hijk a_ijk over the window). Sizes: seed 003 section
 * 7 and seed 004 section 4, floor((N + 2p - k) / s) + 1, here with a
 * dilated kernel and padding on each side.
 *
 * The seeds omit the backward pass (seed 002 section 5, "we omit the
 * details"); with dZ = dY act'(Y) (act'(.) from the output, as in LINEAR):
 *   dW[co, ci, kh, kw] += sum_{n, oy, ox} dZ[co, oy, ox] X[ci, iy, ix]
 *   db[co] += sum_{n, oy, ox} dZ[co, oy, ox]
 *   dX[ci, iy, ix] += sum dZ[co, oy, ox] W[co, ci, kh, kw]  (the transposed conv)
 *
 * CONV2D_TRANSPOSE is that last map as a layer (seed 004, transposed
 * convolution: each input pixel scatters input x kernel into the output at
 * stride offsets, overlaps add), W (C_in, C_out/G, KH, KW) as in PyTorch;
 * its backward is a CONV2D of dY.
 *
 * Fast paths: Winograd's F(2x2, 3x3) (conv_winograd.c) for CONV2D with a
 * 3x3 kernel, unit stride and dilation, one group and at least
 * DN_WINO_MIN_CHANNELS channels on each side; a direct convolution
 * (conv_direct.c) for CONV2D with at most DN_DIRECT_MAX_CIG input channels
 * per group (depthwise and first layers, where dn_direct_wanted measured it
 * faster), with the bias and a ReLU fused into its output; both one sample
 * at a time like the rest; otherwise im2col + dn_sgemm per sample. The
 * columns of a sample, col (C_in KH KW, Ho Wo), make Y_g = W_g col_g one
 * product per group, and the backward products dW_g += dZ_g col_g^T and
 * dcol_g = W_g^T dZ_g, dcol folded back into dX by col2im. A 1x1 kernel
 * with stride 1 and no padding uses X itself. With unit strides and "same"
 * width, a row of the columns is one contiguous run of a shifted plane:
 * im2col copies it and col2im adds it back in one piece; other strides,
 * dilations and widths go through the phases of each channel
 * (dn_direct_im2col), in which every row of the grid reads a contiguous
 * run. The activation gradient and the bias sums are taken per sample, just
 * before the products read dZ. Threads take whole samples, each with its
 * own column buffer in the workspace; the weight gradient is summed per
 * chunk of CHUNK samples (a partition fixed by the batch size alone) into
 * partial sums that are then added in chunk order, so results are
 * bit-identical for any thread count. The _ref twins are the plain loops of
 * the definitions above.
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"
#include "conv_winograd.h"
#include "conv_direct.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#define CHUNK 4           /* samples per partial weight gradient */
#define PAR_MIN_MACS (1 << 18) /* multiply-adds of a batch before threads are used */

/* One convolution seen from its column side: the image (C, H, W) that
 * im2col reads or col2im writes, and the grid (Hg, Wg) of kernel positions. */
typedef struct conv_geom {
    int64_t C, H, W;            /* image */
    int64_t Hg, Wg;             /* kernel positions */
    int64_t KH, KW, sh, sw, pt, pl, dh, dw;
    int64_t G;                  /* groups */
    int64_t M;                  /* channels on the other side of the weight */
} conv_geom;

typedef struct conv_sizes {
    conv_geom g;
    int64_t in_plane, out_plane; /* floats per sample of input and output */
    int64_t col;                 /* floats of one column buffer, rounded to 16 */
    int64_t wsize;               /* floats of the weight */
    int64_t oc, op;              /* output channels and pixels per channel */
    int64_t bpart;               /* floats of one sample's bias sums (doubles) */
    int direct;                  /* 1x1, stride 1, no padding: col = image */
    int wino;                    /* CONV2D that Winograd's F(2x2, 3x3) can run */
    dn_wino wg;                  /* its geometry */
    int64_t wpart;               /* floats of one partial weight gradient */
    int64_t ufix;                /* floats of the transformed filter (0 without wino) */
    int dd;                      /* CONV2D that the direct path runs */
    dn_direct dg;                /* its geometry */
    int unit;                    /* unit strides, "same" width: im2col row by row */
    dn_direct pg;                /* else the geometry of im2col's phases */
    int64_t colsz;               /* floats of the columns, rounded to 16 */
} conv_sizes;

static int transposed(const dn_node *nd) { return nd->op == DN_OP_CONV2D_TRANSPOSE; }

static conv_sizes conv_sizes_of(const dn_node *nd)
{
    const dn_attrs *a = &nd->attrs;
    const dn_shape *in = &nd->in_shape[0], *out = &nd->shape;
    conv_sizes s;
    int tr = transposed(nd);
    const dn_shape *img = tr ? out : in, *grid = tr ? in : out;
    s.g.C = img->dims[0], s.g.H = img->dims[1], s.g.W = img->dims[2];
    s.g.Hg = grid->dims[1], s.g.Wg = grid->dims[2];
    s.g.M = grid->dims[0];
    s.g.KH = a->kernel[0], s.g.KW = a->kernel[1];
    s.g.sh = a->stride[0] > 0 ? a->stride[0] : 1, s.g.sw = a->stride[1] > 0 ? a->stride[1] : 1;
    s.g.pt = a->pad[0], s.g.pl = a->pad[2];
    s.g.dh = a->dilation[0], s.g.dw = a->dilation[1];
    s.g.G = a->groups;
    s.in_plane = dn_shape_numel(in);
    s.out_plane = dn_shape_numel(out);
    s.colsz = s.col = (s.g.C * s.g.KH * s.g.KW * s.g.Hg * s.g.Wg + 15) / 16 * 16;
    s.unit = s.g.sh == 1 && s.g.sw == 1 && s.g.Wg == s.g.W;
    if (!s.unit) {
        s.pg = dn_direct_geom(s.g.C, s.g.H, s.g.W, s.g.M, s.g.Hg, s.g.Wg, s.g.G, s.g.KH, s.g.KW,
                              s.g.sh, s.g.sw, s.g.dh, s.g.dw, s.g.pt, s.g.pl);
        s.col += dn_direct_phase_floats(&s.pg);
    }
    s.wsize = s.g.M * s.g.C / s.g.G * s.g.KH * s.g.KW;
    s.oc = out->dims[0], s.op = out->dims[1] * out->dims[2];
    s.bpart = (2 * s.oc + 15) / 16 * 16;
    s.direct = s.g.KH == 1 && s.g.KW == 1 && s.g.sh == 1 && s.g.sw == 1 && a->pad[0] == 0 &&
               a->pad[2] == 0 && s.g.H == s.g.Hg && s.g.W == s.g.Wg;
    if (s.direct) s.col = 0;
    s.wino = !tr && s.g.KH == 3 && s.g.KW == 3 && s.g.sh == 1 && s.g.sw == 1 && s.g.dh == 1 &&
             s.g.dw == 1 && s.g.G == 1 && s.g.C >= DN_WINO_MIN_CHANNELS &&
             s.g.M >= DN_WINO_MIN_CHANNELS;
    s.wpart = (s.wsize + 15) / 16 * 16;
    s.ufix = 0;
    s.dd = !tr && dn_direct_wanted(s.g.C, s.g.M, s.g.G, s.g.Hg, s.g.Wg, s.direct);
    if (s.dd) {
        s.dg = dn_direct_geom(s.g.C, s.g.H, s.g.W, s.g.M, s.g.Hg, s.g.Wg, s.g.G, s.g.KH, s.g.KW,
                              s.g.sh, s.g.sw, s.g.dh, s.g.dw, s.g.pt, s.g.pl);
        s.col = dn_direct_scratch_floats(&s.dg);
        s.wino = 0;
    }
    if (s.wino) {
        s.wg = dn_wino_geom(s.g.C, s.g.H, s.g.W, s.g.M, s.g.Hg, s.g.Wg, s.g.pt, s.g.pl);
        s.col = DN_MAX(s.col, dn_wino_scratch_floats(&s.wg));
        s.ufix = dn_wino_filter_floats(&s.wg);
        s.wpart = DN_MAX(s.wpart, s.ufix);
    }
    return s;
}

/* --- shape inference ---------------------------------------------------- */

static dn_status conv_infer(dn_node *node)
{
    const dn_attrs *a = &node->attrs;
    const dn_shape *in = &node->in_shape[0];
    int tr = transposed(node);
    dn_status st = dn_node_expect_image(node, 0);
    if (st) return st;
    char got[96];
    dn_shape_format(in, got, sizeof got);
    if (a->units < 1 || a->groups < 1)
        return dn_fail_node(node, DN_ERR_INVALID, "needs >= 1 output channels (units) and "
                            ">= 1 groups, got %lld and %lld", (long long)a->units,
                            (long long)a->groups);
    int64_t C_in = in->dims[0], H = in->dims[1], W = in->dims[2], C_out = a->units;
    if (C_in % a->groups || C_out % a->groups)
        return dn_fail_node(node, DN_ERR_INVALID, "groups=%lld must divide the input "
                            "channels (%lld) and the output channels (%lld)",
                            (long long)a->groups, (long long)C_in, (long long)C_out);
    for (int k = 0; k < 2; k++) {
        if (a->kernel[k] < 1 || a->stride[k] < 0 || a->dilation[k] < 1)
            return dn_fail_node(node, DN_ERR_INVALID, "kernel (%lld, %lld), stride (%lld, "
                                "%lld) and dilation (%lld, %lld) must be >= 1",
                                (long long)a->kernel[0], (long long)a->kernel[1],
                                (long long)a->stride[0], (long long)a->stride[1],
                                (long long)a->dilation[0], (long long)a->dilation[1]);
        if (a->pad[2 * k] < 0 || a->pad[2 * k + 1] < 0 || a->out_pad[k] < 0)
            return dn_fail_node(node, DN_ERR_INVALID, "padding must be >= 0");
        if (a->kernel[k] > DN_MAX_WINDOW || a->stride[k] > DN_MAX_WINDOW ||
            a->dilation[k] > DN_MAX_WINDOW || a->pad[2 * k] > DN_MAX_WINDOW ||
            a->pad[2 * k + 1] > DN_MAX_WINDOW || a->out_pad[k] > DN_MAX_WINDOW)
            return dn_fail_node(node, DN_ERR_INVALID, "kernel, stride, dilation and padding "
                                "must be at most %lld", (long long)DN_MAX_WINDOW);
    }
    if (!dn_act_fusable(a->act))
        return dn_fail_node(node, DN_ERR_INVALID, "activation '%s' cannot be fused into a "
                            "convolution; add it as a separate activation node",
                            dn_act_name(a->act));
    if ((a->act == DN_ACT_LEAKY_RELU || a->act == DN_ACT_ELU) &&
        !(a->alpha >= 0.0f && isfinite(a->alpha)))
        return dn_fail_node(node, DN_ERR_INVALID, "%s needs alpha >= 0, got %g",
                            dn_act_name(a->act), (double)a->alpha);
    int64_t dims[2] = {H, W}, out[2];
    for (int k = 0; k < 2; k++) {
        int64_t s = a->stride[k] > 0 ? a->stride[k] : 1, span = a->dilation[k] * (a->kernel[k] - 1);
        int64_t p = a->pad[2 * k] + a->pad[2 * k + 1];
        if (tr) {
            if (a->out_pad[k] >= s && a->out_pad[k] >= a->dilation[k])
                return dn_fail_node(node, DN_ERR_INVALID, "output padding %lld must be smaller "
                                    "than the stride (%lld) or the dilation (%lld)",
                                    (long long)a->out_pad[k], (long long)s,
                                    (long long)a->dilation[k]);
            /* each term below 2^62: the sum cannot overflow */
            if ((double)(dims[k] - 1) * (double)s >= (double)((int64_t)1 << 62))
                return dn_fail_node(node, DN_ERR_INVALID, "stride %lld makes the output of "
                                    "input %s too large to count in 64 bits",
                                    (long long)s, got);
            out[k] = (dims[k] - 1) * s - p + span + a->out_pad[k] + 1;
        } else {
            out[k] = dims[k] + p - span - 1 < 0 ? 0 : (dims[k] + p - span - 1) / s + 1;
        }
        if (out[k] < 1)
            return dn_fail_node(node, DN_ERR_INVALID, "the output of input %s with kernel "
                                "(%lld, %lld), dilation (%lld, %lld) and padding (%lld, %lld, "
                                "%lld, %lld) would be empty; pad the input or use a smaller "
                                "kernel", got, (long long)a->kernel[0], (long long)a->kernel[1],
                                (long long)a->dilation[0], (long long)a->dilation[1],
                                (long long)a->pad[0], (long long)a->pad[1],
                                (long long)a->pad[2], (long long)a->pad[3]);
    }
    node->shape = (dn_shape){3, {C_out, out[0], out[1]}};
    node->batched = node->in_batched[0];
    int64_t G = a->groups, KK = a->kernel[0] * a->kernel[1];
    dn_shape w = tr ? (dn_shape){4, {C_in, C_out / G, a->kernel[0], a->kernel[1]}}
                    : (dn_shape){4, {C_out, C_in / G, a->kernel[0], a->kernel[1]}};
    dn_shape b = {1, {C_out}};
    /* fans of the equivalent convolution: a transposed one maps C_out to C_in */
    int64_t fi = (tr ? C_out : C_in) / G * KK, fo = (tr ? C_in : C_out) * KK / G;
    dn_node_param(node, "weight", &w, a->w_init, a->w_scale, fi, fo, 1, 1, 1);
    if (a->use_bias)
        dn_node_param(node, "bias", &b, a->b_init, a->b_scale, fi, fo, 1, 0, 0);
    conv_sizes s = conv_sizes_of(node);
    node->saved_per_sample = node->saved_fixed = 0;
    /* Winograd's transformed filter; forward: a column buffer per thread;
     * backward: those, a partial weight gradient per chunk of CHUNK samples
     * (ceil(n / CHUNK) <= n / CHUNK + 1 of them) and the bias sums of each
     * sample. Declared per sample (threads never outnumber samples); only
     * what the thread count needs is touched. */
    node->ws_per_sample = s.col + (s.wpart + CHUNK - 1) / CHUNK + s.bpart;
    node->ws_fixed = s.ufix + s.wpart;
    return DN_OK;
}

/* --- im2col and col2im -------------------------------------------------- */

/* The kernel positions ox of row ky..: [*lo, *hi) read image columns inside
 * [0, W) for offset off = kw dw - pl, ix = ox s + off. */
static void valid_range(int64_t off, int64_t s, int64_t W, int64_t Wg, int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = W - off <= 0 ? 0 : (W - off - 1) / s + 1;
    *lo = DN_MIN(a, Wg);
    *hi = DN_MAX(*lo, DN_MIN(b, Wg));
}

/* One row (c, kh, kw) of the columns when both strides are 1 and the grid
 * is as wide as the image ("same" width): the valid rows of the grid then
 * read one contiguous run of the plane, copied at once, and only the
 * columns outside the image are zeroed after. For small images one copy
 * per row of the grid costs more in calls than in bytes. */
static void im2col_row_unit(const conv_geom *g, const float *plane, int64_t kh, int64_t kw,
                            float *row)
{
    const int64_t W = g->W, offx = kw * g->dw - g->pl, offy = kh * g->dh - g->pt;
    int64_t lo, hi;
    valid_range(offx, 1, W, g->Wg, &lo, &hi);
    /* grid rows [y0, y1) read image rows y0 + offy ... */
    const int64_t y0 = DN_MIN(DN_MAX(-offy, (int64_t)0), g->Hg);
    const int64_t y1 = DN_MAX(DN_MIN(g->H - offy, g->Hg), y0);
    if (y0 == y1 || lo == hi) {
        memset(row, 0, (size_t)(g->Hg * W) * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < y0 * W; i++) row[i] = 0.0f;
    for (int64_t i = y1 * W; i < g->Hg * W; i++) row[i] = 0.0f;
    /* from (y0, lo) to (y1 - 1, hi): in between, the columns outside
     * [lo, hi) read the neighbouring image row and are zeroed below */
    const int64_t first = y0 * W + lo, last = (y1 - 1) * W + hi;
    memcpy(row + first, plane + (y0 + offy) * W + lo + offx, (size_t)(last - first) * sizeof(float));
    for (int64_t oy = y0; oy < y1; oy++) {
        float *r = row + oy * W;
        for (int64_t ox = 0; ox < lo; ox++) r[ox] = 0.0f;
        for (int64_t ox = hi; ox < W; ox++) r[ox] = 0.0f;
    }
}

/* col (C KH KW, Hg Wg) = the patches of img (C, H, W): with unit strides
 * and "same" width one run per row of the columns (im2col_row_unit);
 * otherwise through the phases of each channel (conv_direct.c), in which
 * every row of the grid reads a contiguous run, whatever the stride,
 * dilation and padding; their scratch follows the columns. */
static void im2col(const conv_sizes *s, const float *img, float *col)
{
    const conv_geom *g = &s->g;
    if (!s->unit) {
        dn_direct_im2col(&s->pg, img, col, col + s->colsz);
        return;
    }
    const int64_t HWg = g->Hg * g->Wg;
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t kh = 0; kh < g->KH; kh++)
            for (int64_t kw = 0; kw < g->KW; kw++)
                im2col_row_unit(g, img + c * g->H * g->W, kh, kw,
                                col + ((c * g->KH + kh) * g->KW + kw) * HWg);
}

/* dst (n) += src (n) */
DN_TARGET_CLONES
static void add_run(float *restrict dst, const float *restrict src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

/* plane (H, W) += the adjoint of im2col_row_unit for row (c, kh, kw): one
 * run added at once, after the columns that fall outside the image are
 * zeroed in the row (the columns are scratch), so that the run adds
 * nothing to the neighbouring image rows. */
static void col2im_row_unit(const conv_geom *g, float *row, int64_t kh, int64_t kw, float *plane)
{
    const int64_t W = g->W, offx = kw * g->dw - g->pl, offy = kh * g->dh - g->pt;
    int64_t lo, hi;
    valid_range(offx, 1, W, g->Wg, &lo, &hi);
    const int64_t y0 = DN_MIN(DN_MAX(-offy, (int64_t)0), g->Hg);
    const int64_t y1 = DN_MAX(DN_MIN(g->H - offy, g->Hg), y0);
    if (y0 == y1 || lo == hi) return;
    for (int64_t oy = y0; oy < y1; oy++) {
        float *r = row + oy * W;
        for (int64_t ox = 0; ox < lo; ox++) r[ox] = 0.0f;
        for (int64_t ox = hi; ox < W; ox++) r[ox] = 0.0f;
    }
    const int64_t first = y0 * W + lo, last = (y1 - 1) * W + hi;
    add_run(plane + (y0 + offy) * W + lo + offx, row + first, last - first);
}

/* img (C, H, W) += the adjoint of im2col applied to col (C KH KW, Hg Wg);
 * col is overwritten. Each pixel receives its terms in (kh, kw) order. */
DN_TARGET_CLONES
static void col2im(const conv_sizes *s, float *col, float *img)
{
    const conv_geom *g = &s->g;
    if (!s->unit) {
        dn_direct_col2im(&s->pg, col, img, col + s->colsz);
        return;
    }
    const int64_t HWg = g->Hg * g->Wg;
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t kh = 0; kh < g->KH; kh++)
            for (int64_t kw = 0; kw < g->KW; kw++)
                col2im_row_unit(g, col + ((c * g->KH + kh) * g->KW + kw) * HWg, kh, kw,
                                img + c * g->H * g->W);
}

/* --- bias, activation and their gradients -------------------------------- */

/* y (C, P) = act(y + b), b may be NULL */
DN_TARGET_CLONES
static void bias_act(float *y, const float *b, int64_t C, int64_t P, dn_act act, float alpha)
{
    for (int64_t c = 0; c < C; c++) {
        float *r = y + c * P;
        float bc = b ? b[c] : 0.0f;
        if (act == DN_ACT_RELU) {
            for (int64_t i = 0; i < P; i++) {
                float v = r[i] + bc;
                r[i] = v > 0.0f ? v : 0.0f;
            }
            continue;
        }
        if (b)
            for (int64_t i = 0; i < P; i++) r[i] += bc;
        if (act != DN_ACT_IDENTITY) dn_act_forward(act, alpha, r, r, P);
    }
}

/* dz (C, P) = dY act'(Y) in place for one sample, and part (C) = its bias
 * sums when part is not NULL: done per sample and channel just before the
 * products read dz, while it is in cache. */
static void grad_pre_act(const dn_attrs *a, const float *y, float *dz, double *part, int64_t C,
                         int64_t P)
{
    for (int64_t c = 0; c < C; c++) {
        if (a->act != DN_ACT_IDENTITY)
            dn_act_backward_from_out(a->act, a->alpha, y + c * P, dz + c * P, P);
        if (part) part[c] = dn_plane_sum(dz + c * P, P); /* a sample's bias sum */
    }
}

/* --- fast kernels --------------------------------------------------------- */

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Threads over samples: nt for the loop, *inner for the products inside it. */
static int sample_threads(const dn_ctx *c, int64_t units, int64_t macs_per_unit, int *inner)
{
    int nt = c->nthreads > 1 && units > 1 && units * macs_per_unit >= PAR_MIN_MACS
                 ? (int)DN_MIN((int64_t)c->nthreads, units) : 1;
    *inner = nt > 1 ? 1 : c->nthreads;
    return nt;
}

/* Winograd where the geometry allows it and dn_set_conv_winograd asks */
static int use_winograd(const conv_sizes *s)
{
    int mode = dn_conv_winograd();
    return s->wino && (mode == 2 || (mode == 1 && s->wg.T >= DN_WINO_MIN_TILES));
}

static int64_t conv_macs(const conv_sizes *s)
{
    return s->wsize * s->g.Hg * s->g.Wg;
}

// out (n, C_out, Ho, Wo), in X (n, C_in, H, W), W (C_out, C_in/G, KH, KW), b (C_out)
static void conv2d_forward(const dn_ctx *c)
{
    conv_sizes s = conv_sizes_of(c->node);
    const conv_geom *g = &s.g;
    const dn_attrs *a = &c->node->attrs;
    const int64_t P = g->Hg * g->Wg, Mg = g->M / g->G, Kg = g->C / g->G * g->KH * g->KW;
    int inner;
    int nt = sample_threads(c, c->n, conv_macs(&s), &inner);
    const int wino = use_winograd(&s);
    float *U = c->ws;
    if (wino) dn_wino_filter(&s.wg, c->param[0], U);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t i = 0; i < c->n; i++) {
        const float *x = c->in[0] + i * s.in_plane;
        float *y = c->out + i * s.out_plane;
        float *col = c->ws + s.ufix + (int64_t)thread_id() * s.col;
        if (s.dd) {
            const int relu = a->act == DN_ACT_RELU;
            dn_direct_forward(&s.dg, c->param[0], a->use_bias ? c->param[1] : NULL, x, y, relu,
                              col);
            if (!relu) bias_act(y, NULL, g->M, P, a->act, a->alpha);
            continue;
        }
        if (wino) {
            dn_wino_forward(&s.wg, U, x, y, col, inner);
            bias_act(y, a->use_bias ? c->param[1] : NULL, g->M, P, a->act, a->alpha);
            continue;
        }
        if (s.direct)
            col = (float *)x;
        else
            im2col(&s, x, col);
        for (int64_t gr = 0; gr < g->G; gr++)
            dn_sgemm(0, 0, Mg, P, Kg, 1.0f, c->param[0] + gr * Mg * Kg, Kg, col + gr * Kg * P, P,
                     0.0f, y + gr * Mg * P, P, NULL, inner);
        bias_act(y, a->use_bias ? c->param[1] : NULL, g->M, P, a->act, a->alpha);
    }
}

// out (n, C_out, Ho, Wo), in X (n, C_in, H, W), W (C_in, C_out/G, KH, KW), b (C_out)
static void conv2d_transpose_forward(const dn_ctx *c)
{
    conv_sizes s = conv_sizes_of(c->node);
    const conv_geom *g = &s.g;
    const dn_attrs *a = &c->node->attrs;
    /* image = the output (C_out, Ho, Wo), grid = the input (C_in, H, W) */
    const int64_t P = g->Hg * g->Wg, Mg = g->M / g->G, Kg = g->C / g->G * g->KH * g->KW;
    int inner;
    int nt = sample_threads(c, c->n, conv_macs(&s), &inner);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t i = 0; i < c->n; i++) {
        const float *x = c->in[0] + i * s.in_plane;
        float *y = c->out + i * s.out_plane;
        float *col = s.direct ? y : c->ws + s.ufix + (int64_t)thread_id() * s.col;
        for (int64_t gr = 0; gr < g->G; gr++)
            dn_sgemm(1, 0, Kg, P, Mg, 1.0f, c->param[0] + gr * Mg * Kg, Kg, x + gr * Mg * P, P,
                     0.0f, col + gr * Kg * P, P, NULL, inner);
        if (!s.direct) {
            memset(y, 0, (size_t)s.out_plane * sizeof(float));
            col2im(&s, col, y);
        }
        bias_act(y, a->use_bias ? c->param[1] : NULL, g->C, g->H * g->W, a->act, a->alpha);
    }
}

/* Backward of both: the column side is X for CONV2D and dY for
 * CONV2D_TRANSPOSE. Chunks of CHUNK samples run in order inside; each
 * writes its partial weight gradient, added in chunk order at the end. */
static void conv_backward_common(const dn_ctx *c)
{
    conv_sizes s = conv_sizes_of(c->node);
    const conv_geom *g = &s.g;
    const dn_attrs *a = &c->node->attrs;
    const int tr = transposed(c->node);
    const int64_t P = g->Hg * g->Wg, Mg = g->M / g->G, Kg = g->C / g->G * g->KH * g->KW;
    const int64_t n = c->n, nchunks = (n + CHUNK - 1) / CHUNK;
    const int64_t wpad = s.wpart;
    float *dz = c->gout, *gx = c->gin[0], *dw = c->gparam[0];
    float *db = a->use_bias ? c->gparam[1] : NULL;
    const int gx_fresh = c->gin_fresh & 1;
    const int wino = use_winograd(&s);
    /* workspace: Winograd's filter, the partial weight gradients, the bias
     * sums, the columns */
    float *U = c->ws;
    if (wino) dn_wino_filter(&s.wg, c->param[0], U);
    float *parts = c->ws + s.ufix;
    double *bparts = (double *)(parts + nchunks * wpad);
    float *cols = parts + nchunks * wpad + n * s.bpart;
    int inner;
    int nt = sample_threads(c, nchunks, conv_macs(&s) * CHUNK * 2, &inner);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t ch = 0; ch < nchunks; ch++) {
        float *col = cols + (int64_t)thread_id() * s.col;
        float *part = parts + ch * wpad;
        for (int64_t i = ch * CHUNK; i < DN_MIN(n, (ch + 1) * CHUNK); i++) {
            const float *x = c->in[0] + i * s.in_plane;
            float *gxi = gx ? gx + i * s.in_plane : NULL;
            float *dzi = dz + i * s.out_plane;
            float beta = i == ch * CHUNK ? 0.0f : 1.0f;
            grad_pre_act(a, c->out + i * s.out_plane, dzi, db ? bparts + i * s.oc : NULL, s.oc,
                         s.op);
            if (gxi && gx_fresh) memset(gxi, 0, (size_t)s.in_plane * sizeof(float));
            if (s.dd) {
                dn_direct_backward(&s.dg, c->param[0], x, dzi, dw ? part : NULL, beta, gxi, col);
            } else if (wino) {
                dn_wino_backward(&s.wg, U, x, dzi, dw ? part : NULL, beta, gxi, col, inner);
            } else if (!tr) {
                /* columns of X; dW_g += dZ_g col_g^T; dcol = W_g^T dZ_g; dX += col2im */
                const float *cx = x;
                if (!s.direct) {
                    im2col(&s, x, col);
                    cx = col;
                }
                for (int64_t gr = 0; gr < g->G && dw; gr++)
                    dn_sgemm(0, 1, Mg, Kg, P, 1.0f, dzi + gr * Mg * P, P, cx + gr * Kg * P, P,
                             beta, part + gr * Mg * Kg, Kg, NULL, inner);
                if (!gxi) continue;
                float *dcol = s.direct ? gxi : col;
                for (int64_t gr = 0; gr < g->G; gr++)
                    dn_sgemm(1, 0, Kg, P, Mg, 1.0f, c->param[0] + gr * Mg * Kg, Kg,
                             dzi + gr * Mg * P, P, s.direct ? 1.0f : 0.0f, dcol + gr * Kg * P,
                             P, NULL, inner);
                if (!s.direct) col2im(&s, col, gxi);
            } else {
                /* columns of dY; dW_g += X_g col_g^T; dX_g += W_g col_g */
                const float *cd = dzi;
                if (!s.direct) {
                    im2col(&s, dzi, col);
                    cd = col;
                }
                for (int64_t gr = 0; gr < g->G && dw; gr++)
                    dn_sgemm(0, 1, Mg, Kg, P, 1.0f, x + gr * Mg * P, P, cd + gr * Kg * P, P,
                             beta, part + gr * Mg * Kg, Kg, NULL, inner);
                for (int64_t gr = 0; gxi && gr < g->G; gr++)
                    dn_sgemm(0, 0, Mg, P, Kg, 1.0f, c->param[0] + gr * Mg * Kg, Kg,
                             cd + gr * Kg * P, P, 1.0f, gxi + gr * Mg * P, P, NULL, inner);
            }
        }
    }
    /* db (oc) += the sums of every sample, in sample order */
    for (int64_t k = 0; db && k < s.oc; k++) {
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += bparts[i * s.oc + k];
        db[k] = ((c->gparam_fresh >> 1) & 1 ? 0.0f : db[k]) + (float)sum;
    }
    if (!dw) return;
    const int wfresh = c->gparam_fresh & 1;
    /* Winograd: the chunks' dU are added into the first, then mapped back */
    const int64_t wn = wino ? 16 * g->M * g->C : s.wsize;
    int wnt = c->nthreads > 1 && wn * nchunks >= 65536 ? c->nthreads : 1;
    (void)wnt;
#pragma omp parallel for num_threads(wnt) if (wnt > 1) schedule(static)
    for (int64_t blk = 0; blk < (wn + 1023) / 1024; blk++) {
        int64_t lo = blk * 1024, hi = DN_MIN(wn, lo + 1024);
        for (int64_t j = lo; j < hi; j++) {
            float v = wino || wfresh ? 0.0f : dw[j];
            for (int64_t ch = 0; ch < nchunks; ch++) v += parts[ch * wpad + j];
            if (wino)
                parts[j] = v;
            else
                dw[j] = v;
        }
    }
    if (wino) dn_wino_filter_grad(&s.wg, parts, dw, !wfresh);
}

/* --- reference twins: the definitions, loop by loop ----------------------- */

/* Visit every (sample, co, oy, ox, ci, kh, kw) of the CONV2D form of the
 * node: for CONV2D X is the input and Y the output; for CONV2D_TRANSPOSE
 * the roles swap (X the output, Y the input) and W is read as
 * W[ci, co, kh, kw]. mode 0: Y += W X; 1: X += W dY; 2: dW += dY X. */
static void conv_ref_loops(const dn_ctx *c, int mode, float *xbuf, const float *ybuf_c,
                           float *ybuf, float *wbuf)
{
    const dn_node *nd = c->node;
    const dn_attrs *a = &nd->attrs;
    int tr = transposed(nd); /* W (Co, Ci/G, KH, KW) in both */
    const dn_shape *xs = tr ? &nd->shape : &nd->in_shape[0];
    const dn_shape *ys = tr ? &nd->in_shape[0] : &nd->shape;
    int64_t Ci = xs->dims[0], H = xs->dims[1], W = xs->dims[2];
    int64_t Co = ys->dims[0], Ho = ys->dims[1], Wo = ys->dims[2];
    int64_t G = a->groups, KH = a->kernel[0], KW = a->kernel[1];
    int64_t sh = a->stride[0] > 0 ? a->stride[0] : 1, sw = a->stride[1] > 0 ? a->stride[1] : 1;
    int64_t cig = Ci / G, cog = Co / G;
    for (int64_t i = 0; i < c->n; i++)
        for (int64_t co = 0; co < Co; co++)
            for (int64_t oy = 0; oy < Ho; oy++)
                for (int64_t ox = 0; ox < Wo; ox++) {
                    int64_t yo = ((i * Co + co) * Ho + oy) * Wo + ox;
                    float acc = mode == 0 ? ybuf[yo] : 0.0f;
                    for (int64_t cl = 0; cl < cig; cl++)
                        for (int64_t kh = 0; kh < KH; kh++)
                            for (int64_t kw = 0; kw < KW; kw++) {
                                int64_t ci = co / cog * cig + cl;
                                int64_t iy = oy * sh - a->pad[0] + kh * a->dilation[0];
                                int64_t ix = ox * sw - a->pad[2] + kw * a->dilation[1];
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                int64_t xo = ((i * Ci + ci) * H + iy) * W + ix;
                                int64_t wo = ((co * cig + cl) * KH + kh) * KW + kw;
                                if (mode == 0) acc += wbuf[wo] * xbuf[xo];
                                else if (mode == 1) xbuf[xo] += wbuf[wo] * ybuf_c[yo];
                                else wbuf[wo] += ybuf_c[yo] * xbuf[xo];
                            }
                    if (mode == 0) ybuf[yo] = acc;
                }
}

static void conv_forward_ref(const dn_ctx *c)
{
    const dn_node *nd = c->node;
    const dn_attrs *a = &nd->attrs;
    int64_t onum = dn_node_out_numel(nd, c->n), C = nd->shape.dims[0];
    int64_t P = nd->shape.dims[1] * nd->shape.dims[2];
    memset(c->out, 0, (size_t)onum * sizeof(float));
    if (transposed(nd))
        conv_ref_loops(c, 1, c->out, c->in[0], NULL, c->param[0]);
    else
        conv_ref_loops(c, 0, (float *)c->in[0], NULL, c->out, c->param[0]);
    for (int64_t i = 0; i < c->n; i++)
        for (int64_t ch = 0; ch < C; ch++) {
            float *r = c->out + (i * C + ch) * P;
            for (int64_t p = 0; p < P; p++) r[p] += a->use_bias ? c->param[1][ch] : 0.0f;
            dn_act_forward(a->act, a->alpha, r, r, P);
        }
}

static void conv_backward_ref(const dn_ctx *c)
{
    const dn_node *nd = c->node;
    const dn_attrs *a = &nd->attrs;
    int64_t onum = dn_node_out_numel(nd, c->n), inum = dn_node_in_numel(nd, 0, c->n);
    int64_t C = nd->shape.dims[0], P = nd->shape.dims[1] * nd->shape.dims[2];
    int64_t wn = dn_shape_numel(&nd->params[0].shape);
    dn_act_backward_from_out(a->act, a->alpha, c->out, c->gout, onum);
    if (c->gparam[0] && (c->gparam_fresh & 1))
        memset(c->gparam[0], 0, (size_t)wn * sizeof(float));
    if (a->use_bias && c->gparam[1]) {
        for (int64_t ch = 0; ch < C; ch++) {
            float s = (c->gparam_fresh & 2) ? 0.0f : c->gparam[1][ch];
            for (int64_t i = 0; i < c->n; i++)
                for (int64_t p = 0; p < P; p++) s += c->gout[(i * C + ch) * P + p];
            c->gparam[1][ch] = s;
        }
    }
    if (c->gin[0] && (c->gin_fresh & 1)) memset(c->gin[0], 0, (size_t)inum * sizeof(float));
    if (transposed(nd)) {
        /* the output plays X: dInput (Y side) = W X-side gradient ... */
        if (c->gin[0]) conv_ref_loops(c, 0, c->gout, NULL, c->gin[0], c->param[0]);
        if (c->gparam[0]) conv_ref_loops(c, 2, c->gout, c->in[0], NULL, c->gparam[0]);
    } else {
        if (c->gin[0]) conv_ref_loops(c, 1, c->gin[0], c->gout, NULL, c->param[0]);
        if (c->gparam[0]) conv_ref_loops(c, 2, (float *)c->in[0], c->gout, NULL, c->gparam[0]);
    }
}

const dn_op_def dn_opdef_conv2d = {
    DN_OP_CONV2D, "conv2d", 1, 1, DN_OPF_BWD_IN0 | DN_OPF_BWD_OUT | DN_OPF_BWD_FRESH,
    conv_infer, conv2d_forward, conv_backward_common, conv_forward_ref, conv_backward_ref};

const dn_op_def dn_opdef_conv2d_transpose = {
    DN_OP_CONV2D_TRANSPOSE, "conv2d_transpose", 1, 1,
    DN_OPF_BWD_IN0 | DN_OPF_BWD_OUT | DN_OPF_BWD_FRESH,
    conv_infer, conv2d_transpose_forward, conv_backward_common, conv_forward_ref,
    conv_backward_ref};
