/* BATCHNORM and LAYERNORM (seed 000, section 8).
 *
 *   F = A (X - M) / sqrt(S + eps) + B,  M, S the mean and biased variance
 *   over the normalised indices alpha'.
 * Batch normalisation takes alpha' = every axis but the feature axis
 * (attrs.axis of the full tensor, the batch included; -1 is the last axis,
 * NCHW callers pass 1); layer normalisation takes the last axis of each
 * sample and position. With xhat = (X - M) / sqrt(S + eps) and m the count
 * of alpha', the seed's vector-Jacobian products are
 *   dL/dX = A / (m sqrt(S + eps)) (m g - sum g - xhat sum g xhat)
 *   dL/dA = sum g xhat,  dL/dB = sum g.
 * Seed 000 suggests eps ~ 1e-8; dagnet uses attrs.eps (1e-5 by default).
 *
 * Every sum is taken in double in an order fixed by the shape alone (whole
 * channels, rows or columns per thread), so results do not depend on the
 * number of threads.
 */
#include <math.h>
#include "internal.h"

#define NORM_PAR_MIN 32768 /* elements before threads are used */
#define NORM_CB 64         /* channels or columns per block of strided passes */

/* --- sums in double over contiguous runs, 8 lanes in a fixed pattern ---- */

/* sum x */
static double sum_run(const float *x, int64_t n)
{
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) a[l] += x[i + l];
    for (int l = 0; i < n; i++, l++) a[l] += x[i];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* sum (x - mean)^2 */
static double sumsq_dev_run(const float *x, int64_t n, double mean)
{
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            double d = x[i + l] - mean;
            a[l] += d * d;
        }
    for (int l = 0; i < n; i++, l++) {
        double d = x[i] - mean;
        a[l] += d * d;
    }
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* *sg += sum gg, *sgx += sum gg (x - mean) (times rstd later) over g, x (n),
 * gg = g, or g w when w (n) is given (layer norm's gamma). */
static void grad_sums_run(const float *g, const float *x, const float *w, int64_t n,
                          double mean, double *sg, double *sgx)
{
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    if (w) {
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) {
                double gg = (double)g[i + l] * w[i + l];
                a[l] += gg;
                b[l] += gg * (x[i + l] - mean);
            }
    } else {
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) {
                a[l] += g[i + l];
                b[l] += g[i + l] * (x[i + l] - mean);
            }
    }
    for (int l = 0; i < n; i++, l++) {
        double gg = w ? (double)g[i] * w[i] : g[i];
        a[l] += gg;
        b[l] += gg * (x[i] - mean);
    }
    *sg += ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    *sgx += ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
}

/* y (n) = (x (n) - mean) a + b */
DN_TARGET_CLONES
static void affine_run(const float *x, float *y, int64_t n, float mean, float a,
                       float b)
{
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * a + b;
}

/* gin (n) += a (g - gmean) + b (x - mean) */
DN_TARGET_CLONES
static void add_grad_run(float *gin, const float *g, const float *x, int64_t n,
                         float gmean, float mean, float a, float b)
{
    for (int64_t i = 0; i < n; i++) gin[i] += a * (g[i] - gmean) + b * (x[i] - mean);
}

/* ===================================================================== */
/* BATCHNORM                                                              */
/* ===================================================================== */

/* The full input seen as (outer, C, inner), C the feature axis. */
typedef struct bn_layout {
    int64_t outer, C, inner;
} bn_layout;

static bn_layout bn_dims(const dn_node *node, int64_t n)
{
    dn_shape f = dn_node_in_full(node, 0, n);
    int ax = dn_axis_norm(node->attrs.axis, f.ndim);
    bn_layout L = {1, f.dims[ax], 1};
    for (int d = 0; d < ax; d++) L.outer *= f.dims[d];
    for (int d = ax + 1; d < f.ndim; d++) L.inner *= f.dims[d];
    return L;
}

/* eps > 0 keeps 1 / sqrt(variance + eps) finite when a feature is constant
 * over what is normalised (both normalisations check it the same way). */
static dn_status check_eps(const dn_node *node)
{
    const float eps = node->attrs.eps;
    if (!(eps > 0.0f) || !isfinite(eps))
        return dn_fail_node(node, DN_ERR_INVALID, "eps is %g; it must be > 0 and finite, so "
                            "that a constant feature (variance 0) is not divided by 0",
                            (double)eps);
    return DN_OK;
}

static dn_status batchnorm_infer(dn_node *node)
{
    char got[96];
    const dn_attrs *a = &node->attrs;
    if (node->n_in != 1)
        return dn_fail_node(node, DN_ERR_INVALID, "batchnorm takes 1 input, got %d",
                            node->n_in);
    dn_shape_format(&node->in_shape[0], got, sizeof got);
    if (!node->in_batched[0])
        return dn_fail_node(node, DN_ERR_INVALID,
                            "batch normalisation needs a batched input (statistics "
                            "run over the batch); got an unbatched %s", got);
    int full = node->in_shape[0].ndim + 1;
    int ax = dn_axis_norm(a->axis, full);
    if (ax < 1)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "axis %d is not a feature axis of a (batch, %s...) input "
                            "of %d dimensions; give an axis in 1..%d (or -1 for the "
                            "last), not the batch axis 0", a->axis, got, full, full - 1);
    dn_status st = check_eps(node);
    if (st) return st;
    if (!(a->momentum >= 0.0f && a->momentum <= 1.0f))
        return dn_fail_node(node, DN_ERR_INVALID,
                            "momentum is %g; running statistics need a momentum in [0, 1]",
                            (double)a->momentum);
    int64_t C = node->in_shape[0].dims[ax - 1];
    dn_shape ps = {1, {C}};
    node->shape = node->in_shape[0];
    node->batched = 1;
    dn_node_param(node, "gamma", &ps, DN_INIT_CONSTANT, 1.0f, C, C, 1, 0, 0);
    dn_node_param(node, "beta", &ps, DN_INIT_ZEROS, 0.0f, C, C, 1, 0, 0);
    dn_node_param(node, "running_mean", &ps, DN_INIT_ZEROS, 0.0f, C, C, 0, 0, 0);
    dn_node_param(node, "running_var", &ps, DN_INIT_CONSTANT, 1.0f, C, C, 0, 0, 0);
    node->saved_fixed = 2 * C;
    return DN_OK;
}

/* Batch statistics of channel ch into saved (mean, rstd) and the running
 * statistics; m values per channel, var the biased variance. The running
 * variance takes the unbiased one (m / (m - 1) var, as PyTorch; with m = 1,
 * which has none, the biased one, 0). */
static void bn_store_stats(const dn_ctx *c, int64_t ch, int64_t C, double m,
                           double mean, double var)
{
    const dn_attrs *a = &c->node->attrs;
    float mom = a->momentum;
    double unbiased = m > 1 ? var * m / (m - 1) : var;
    c->saved[ch] = (float)mean;
    c->saved[C + ch] = (float)(1.0 / sqrt(var + (double)a->eps));
    c->param[2][ch] = (1.0f - mom) * c->param[2][ch] + mom * (float)mean;
    c->param[3][ch] = (1.0f - mom) * c->param[3][ch] + mom * (float)unbiased;
}

/* Mean and rstd of channel ch: the batch's (saved) in training, the
 * running ones at inference. */
static void bn_stats(const dn_ctx *c, int64_t ch, int64_t C, float *mean, float *rstd)
{
    if (c->training) {
        *mean = c->saved[ch];
        *rstd = c->saved[C + ch];
    } else {
        *mean = c->param[2][ch];
        *rstd = (float)(1.0 / sqrt((double)c->param[3][ch] + c->node->attrs.eps));
    }
}

/* Per-channel sums over a block of nc channels from c0, in the order
 * (outer, inner) for every channel:
 *   g == NULL: s1 += sum x, or with mean: s1 += sum (x - mean)^2
 *   g given:   s1 += sum g, s2 += sum g (x - mean). */
static void bn_block_sums(const float *x, const float *g, bn_layout L, int64_t c0,
                          int64_t nc, const double *mean, double *s1, double *s2)
{
    for (int64_t o = 0; o < L.outer; o++) {
        if (L.inner == 1) { /* a row of channels, contiguous */
            const float *xr = x + o * L.C + c0, *gr = g ? g + o * L.C + c0 : NULL;
            if (gr) {
                for (int64_t j = 0; j < nc; j++) {
                    s1[j] += gr[j];
                    s2[j] += (double)gr[j] * (xr[j] - mean[j]);
                }
            } else if (mean) {
                for (int64_t j = 0; j < nc; j++) {
                    double d = xr[j] - mean[j];
                    s1[j] += d * d;
                }
            } else {
                for (int64_t j = 0; j < nc; j++) s1[j] += xr[j];
            }
            continue;
        }
        for (int64_t j = 0; j < nc; j++) {
            int64_t off = (o * L.C + c0 + j) * L.inner;
            if (g)
                grad_sums_run(g + off, x + off, NULL, L.inner, mean[j], &s1[j], &s2[j]);
            else if (mean)
                s1[j] += sumsq_dev_run(x + off, L.inner, mean[j]);
            else
                s1[j] += sum_run(x + off, L.inner);
        }
    }
}

/* out (outer, C, inner), saved (2C) = mean, rstd, x (outer, C, inner);
 * params gamma, beta, running_mean, running_var (C). Channels are
 * independent: threads take whole channels (blocks of NORM_CB when inner is
 * 1, so that rows are read contiguously). */
static void batchnorm_forward(const dn_ctx *c)
{
    bn_layout L = bn_dims(c->node, c->n);
    if (L.outer * L.inner == 0) return;
    const float *x = c->in[0];
    int64_t cb = L.inner == 1 ? NORM_CB : 1, nblk = (L.C + cb - 1) / cb;
    double m = (double)(L.outer * L.inner);
#pragma omp parallel for num_threads(c->nthreads) if(L.outer * L.C * L.inner >= NORM_PAR_MIN) schedule(static)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * cb, nc = DN_MIN(cb, L.C - c0);
        double mean[NORM_CB], var[NORM_CB];
        float fm[NORM_CB], a[NORM_CB], b[NORM_CB];
        if (c->training && m > 0) {
            for (int64_t j = 0; j < nc; j++) mean[j] = var[j] = 0.0;
            bn_block_sums(x, NULL, L, c0, nc, NULL, mean, NULL);
            for (int64_t j = 0; j < nc; j++) mean[j] /= m;
            bn_block_sums(x, NULL, L, c0, nc, mean, var, NULL);
            for (int64_t j = 0; j < nc; j++)
                bn_store_stats(c, c0 + j, L.C, m, mean[j], var[j] / m);
        }
        for (int64_t j = 0; j < nc; j++) {
            float rstd;
            bn_stats(c, c0 + j, L.C, &fm[j], &rstd);
            a[j] = c->param[0][c0 + j] * rstd;
            b[j] = c->param[1][c0 + j];
        }
        for (int64_t o = 0; o < L.outer; o++) {
            if (L.inner == 1) {
                const float *xr = x + o * L.C + c0;
                float *yr = c->out + o * L.C + c0;
                for (int64_t j = 0; j < nc; j++) yr[j] = (xr[j] - fm[j]) * a[j] + b[j];
                continue;
            }
            for (int64_t j = 0; j < nc; j++) {
                int64_t off = (o * L.C + c0 + j) * L.inner;
                affine_run(x + off, c->out + off, L.inner, fm[j], a[j], b[j]);
            }
        }
    }
}

/* gin (outer, C, inner) += dL/dX; gparam gamma, beta (C) += dL/dA, dL/dB;
 * gout, x (outer, C, inner). Training: the seed's vjp with the batch
 * statistics in saved; inference: the affine map with the running ones. */
static void batchnorm_backward(const dn_ctx *c)
{
    bn_layout L = bn_dims(c->node, c->n);
    if (L.outer * L.inner == 0) return;
    const float *x = c->in[0], *g = c->gout;
    int64_t cb = L.inner == 1 ? NORM_CB : 1, nblk = (L.C + cb - 1) / cb;
    double m = (double)(L.outer * L.inner);
#pragma omp parallel for num_threads(c->nthreads) if(L.outer * L.C * L.inner >= NORM_PAR_MIN) schedule(static)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * cb, nc = DN_MIN(cb, L.C - c0);
        double sg[NORM_CB], sgx[NORM_CB], mean[NORM_CB];
        float fm[NORM_CB], rstd[NORM_CB], ka[NORM_CB], kb[NORM_CB], gm[NORM_CB];
        for (int64_t j = 0; j < nc; j++) {
            bn_stats(c, c0 + j, L.C, &fm[j], &rstd[j]);
            mean[j] = fm[j];
            sg[j] = sgx[j] = 0.0;
        }
        bn_block_sums(x, g, L, c0, nc, mean, sg, sgx);
        for (int64_t j = 0; j < nc; j++) {
            int64_t ch = c0 + j;
            double sgxhat = sgx[j] * rstd[j], ar = (double)c->param[0][ch] * rstd[j];
            if (c->gparam[0]) c->gparam[0][ch] += (float)sgxhat;
            if (c->gparam[1]) c->gparam[1][ch] += (float)sg[j];
            /* gin = A rstd (g - sum g / m - xhat sum g xhat / m), xhat =
             * (x - mean) rstd: a (g - gm) + b (x - mean); at inference A rstd g */
            int batch = c->training && m > 0;
            ka[j] = (float)ar;
            gm[j] = batch ? (float)(sg[j] / m) : 0.0f;
            kb[j] = batch ? (float)(-ar * rstd[j] * sgxhat / m) : 0.0f;
        }
        if (!c->gin[0]) continue;
        for (int64_t o = 0; o < L.outer; o++) {
            if (L.inner == 1) {
                const float *xr = x + o * L.C + c0, *gr = g + o * L.C + c0;
                float *gi = c->gin[0] + o * L.C + c0;
                for (int64_t j = 0; j < nc; j++)
                    gi[j] += ka[j] * (gr[j] - gm[j]) + kb[j] * (xr[j] - fm[j]);
                continue;
            }
            for (int64_t j = 0; j < nc; j++) {
                int64_t off = (o * L.C + c0 + j) * L.inner;
                add_grad_run(c->gin[0] + off, g + off, x + off, L.inner, gm[j], fm[j], ka[j],
                             kb[j]);
            }
        }
    }
}

/* Reference: out, x (outer, C, inner), saved (2C); statistics channel by
 * channel in the seed's form. */
static void batchnorm_forward_ref(const dn_ctx *c)
{
    bn_layout L = bn_dims(c->node, c->n);
    const float *x = c->in[0];
    double m = (double)(L.outer * L.inner);
    for (int64_t ch = 0; ch < L.C; ch++) {
        double mean, rstd;
        if (c->training && m > 0) {
            double s = 0.0, v = 0.0;
            for (int64_t o = 0; o < L.outer; o++)
                for (int64_t i = 0; i < L.inner; i++) s += x[(o * L.C + ch) * L.inner + i];
            mean = s / m;
            for (int64_t o = 0; o < L.outer; o++)
                for (int64_t i = 0; i < L.inner; i++) {
                    double d = x[(o * L.C + ch) * L.inner + i] - mean;
                    v += d * d;
                }
            bn_store_stats(c, ch, L.C, m, mean, v / m);
            rstd = 1.0 / sqrt(v / m + (double)c->node->attrs.eps);
        } else {
            mean = c->param[2][ch];
            rstd = 1.0 / sqrt((double)c->param[3][ch] + c->node->attrs.eps);
        }
        for (int64_t o = 0; o < L.outer; o++)
            for (int64_t i = 0; i < L.inner; i++) {
                int64_t k = (o * L.C + ch) * L.inner + i;
                c->out[k] = (float)(c->param[0][ch] * (x[k] - mean) * rstd + c->param[1][ch]);
            }
    }
}

/* Reference: gin, gout, x (outer, C, inner); gparam gamma, beta (C). */
static void batchnorm_backward_ref(const dn_ctx *c)
{
    bn_layout L = bn_dims(c->node, c->n);
    const float *x = c->in[0], *g = c->gout;
    double m = (double)(L.outer * L.inner);
    for (int64_t ch = 0; ch < L.C; ch++) {
        double mean, rstd, sg = 0.0, sgx = 0.0, A = c->param[0][ch];
        if (c->training) {
            mean = c->saved[ch];
            rstd = c->saved[L.C + ch];
        } else {
            mean = c->param[2][ch];
            rstd = (float)(1.0 / sqrt((double)c->param[3][ch] + c->node->attrs.eps));
        }
        for (int64_t o = 0; o < L.outer; o++)
            for (int64_t i = 0; i < L.inner; i++) {
                int64_t k = (o * L.C + ch) * L.inner + i;
                sg += g[k];
                sgx += g[k] * (x[k] - mean) * rstd;
            }
        if (c->gparam[0]) c->gparam[0][ch] += (float)sgx;
        if (c->gparam[1]) c->gparam[1][ch] += (float)sg;
        if (!c->gin[0]) continue;
        for (int64_t o = 0; o < L.outer; o++)
            for (int64_t i = 0; i < L.inner; i++) {
                int64_t k = (o * L.C + ch) * L.inner + i;
                double xhat = (x[k] - mean) * rstd, d;
                if (c->training)
                    d = A * rstd / m * (m * g[k] - sg - xhat * sgx);
                else
                    d = A * rstd * g[k];
                c->gin[0][k] += (float)d;
            }
    }
}

/* ===================================================================== */
/* LAYERNORM                                                              */
/* ===================================================================== */

static dn_status layernorm_infer(dn_node *node)
{
    char got[96];
    const dn_shape *s = &node->in_shape[0];
    if (node->n_in != 1)
        return dn_fail_node(node, DN_ERR_INVALID, "layernorm takes 1 input, got %d",
                            node->n_in);
    dn_shape_format(s, got, sizeof got);
    if (s->ndim < 1 || s->dims[s->ndim - 1] < 1)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "layer normalisation runs over the last axis of each "
                            "sample; got per-sample shape %s, give at least one axis "
                            "of size >= 1", got);
    dn_status st = check_eps(node);
    if (st) return st;
    int64_t D = s->dims[s->ndim - 1], rows = dn_shape_numel(s) / D;
    dn_shape ps = {1, {D}};
    node->shape = *s;
    node->batched = node->in_batched[0];
    dn_node_param(node, "gamma", &ps, DN_INIT_CONSTANT, 1.0f, D, D, 1, 0, 0);
    dn_node_param(node, "beta", &ps, DN_INIT_ZEROS, 0.0f, D, D, 1, 0, 0);
    if (node->batched)
        node->saved_per_sample = 2 * rows;
    else
        node->saved_fixed = 2 * rows;
    return DN_OK;
}

static int64_t ln_width(const dn_node *node)
{
    return node->in_shape[0].dims[node->in_shape[0].ndim - 1];
}

/* out (rows, D), saved (rows, 2) = mean, rstd, x (rows, D); gamma, beta (D).
 * Rows are independent: threads take whole rows. */
static void layernorm_forward(const dn_ctx *c)
{
    int64_t D = ln_width(c->node), rows = dn_node_in_numel(c->node, 0, c->n) / D;
    const float *gam = c->param[0], *bet = c->param[1];
    float eps = c->node->attrs.eps;
#pragma omp parallel for num_threads(c->nthreads) if(rows * D >= NORM_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = c->in[0] + r * D;
        float *y = c->out + r * D;
        double mean = sum_run(x, D) / (double)D;
        double var = sumsq_dev_run(x, D, mean) / (double)D;
        float rstd = (float)(1.0 / sqrt(var + eps)), fm = (float)mean;
        c->saved[2 * r] = fm;
        c->saved[2 * r + 1] = rstd;
        for (int64_t j = 0; j < D; j++) y[j] = (x[j] - fm) * rstd * gam[j] + bet[j];
    }
}

/* gin (rows, D) += dL/dX, gparam gamma, beta (D) += dL/dA, dL/dB; gout, x
 * (rows, D), saved (rows, 2). The input gradient per row (threads over
 * rows); the parameter gradients per column block over every row in order
 * (threads over column blocks). */
static void layernorm_backward(const dn_ctx *c)
{
    int64_t D = ln_width(c->node), rows = dn_node_in_numel(c->node, 0, c->n) / D;
    const float *gam = c->param[0], *X = c->in[0], *G = c->gout, *S = c->saved;
    int par = rows * D >= NORM_PAR_MIN;
    (void)par; /* unused without OpenMP */
    if (c->gin[0]) {
#pragma omp parallel for num_threads(c->nthreads) if(par) schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *x = X + r * D, *g = G + r * D;
            double mean = S[2 * r], rstd = S[2 * r + 1], sg = 0.0, sgx = 0.0;
            grad_sums_run(g, x, gam, D, mean, &sg, &sgx);
            /* gin = rstd (gg - sum gg / D - xhat sum gg xhat / D), gg = A g,
             * xhat = (x - mean) rstd */
            float *gi = c->gin[0] + r * D, rs = (float)rstd, fm = (float)mean;
            float gm = (float)(sg / (double)D);
            float kb = (float)(-rstd * rstd * rstd * sgx / (double)D);
            for (int64_t j = 0; j < D; j++)
                gi[j] += rs * (gam[j] * g[j] - gm) + kb * (x[j] - fm);
        }
    }
    if (!c->gparam[0] && !c->gparam[1]) return;
    int64_t nblk = (D + NORM_CB - 1) / NORM_CB;
#pragma omp parallel for num_threads(c->nthreads) if(par && nblk > 1) schedule(static)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t j0 = blk * NORM_CB, nj = DN_MIN((int64_t)NORM_CB, D - j0);
        double dA[NORM_CB], dB[NORM_CB];
        for (int64_t j = 0; j < nj; j++) dA[j] = dB[j] = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            const float *x = X + r * D + j0, *g = G + r * D + j0;
            float mean = S[2 * r], rstd = S[2 * r + 1];
            for (int64_t j = 0; j < nj; j++) {
                dA[j] += (double)g[j] * ((x[j] - mean) * rstd);
                dB[j] += g[j];
            }
        }
        for (int64_t j = 0; j < nj; j++) {
            if (c->gparam[0]) c->gparam[0][j0 + j] += (float)dA[j];
            if (c->gparam[1]) c->gparam[1][j0 + j] += (float)dB[j];
        }
    }
}

/* Reference: out (rows, D), saved (rows, 2), x (rows, D); in double. */
static void layernorm_forward_ref(const dn_ctx *c)
{
    int64_t D = ln_width(c->node), rows = dn_node_in_numel(c->node, 0, c->n) / D;
    for (int64_t r = 0; r < rows; r++) {
        const float *x = c->in[0] + r * D;
        double s = 0.0, v = 0.0;
        for (int64_t j = 0; j < D; j++) s += x[j];
        double mean = s / (double)D;
        for (int64_t j = 0; j < D; j++) v += (x[j] - mean) * (x[j] - mean);
        double rstd = 1.0 / sqrt(v / (double)D + c->node->attrs.eps);
        c->saved[2 * r] = (float)mean;
        c->saved[2 * r + 1] = (float)rstd;
        for (int64_t j = 0; j < D; j++)
            c->out[r * D + j] = (float)(c->param[0][j] * (x[j] - mean) * rstd + c->param[1][j]);
    }
}

/* Reference: gin, gout, x (rows, D), saved (rows, 2); gparam gamma, beta (D). */
static void layernorm_backward_ref(const dn_ctx *c)
{
    int64_t D = ln_width(c->node), rows = dn_node_in_numel(c->node, 0, c->n) / D;
    for (int64_t r = 0; r < rows; r++) {
        const float *x = c->in[0] + r * D, *g = c->gout + r * D;
        double mean = c->saved[2 * r], rstd = c->saved[2 * r + 1], sg = 0.0, sgx = 0.0;
        for (int64_t j = 0; j < D; j++) {
            double gg = (double)c->param[0][j] * g[j], xhat = (x[j] - mean) * rstd;
            sg += gg;
            sgx += gg * xhat;
            if (c->gparam[0]) c->gparam[0][j] += (float)(g[j] * xhat);
            if (c->gparam[1]) c->gparam[1][j] += g[j];
        }
        if (!c->gin[0]) continue;
        for (int64_t j = 0; j < D; j++) {
            double gg = (double)c->param[0][j] * g[j], xhat = (x[j] - mean) * rstd;
            c->gin[0][r * D + j] += (float)(rstd / D * (D * gg - sg - xhat * sgx));
        }
    }
}

const dn_op_def dn_opdef_batchnorm = {
    DN_OP_BATCHNORM, "batchnorm", 1, 1, DN_OPF_BWD_IN0,
    batchnorm_infer, batchnorm_forward, batchnorm_backward,
    batchnorm_forward_ref, batchnorm_backward_ref};

const dn_op_def dn_opdef_layernorm = {
    DN_OP_LAYERNORM, "layernorm", 1, 1, DN_OPF_BWD_IN0,
    layernorm_infer, layernorm_forward, layernorm_backward,
    layernorm_forward_ref, layernorm_backward_ref};
