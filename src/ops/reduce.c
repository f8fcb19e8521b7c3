/* SUM and MEAN over one axis of the full tensor, or over every per-sample
 * axis (attrs.axis == DN_AXIS_ALL).
 *
 *   axis of a per-sample dimension: that dimension goes (or stays as 1 with
 *     attrs.keepdims); the output is batched like the input;
 *   axis 0 of a batched input: the sum over the batch, an unbatched output of
 *     the per-sample shape (with a leading 1 when keepdims);
 *   DN_AXIS_ALL: one value per sample, per-sample shape () (all ones when
 *     keepdims); an unbatched input gives a single value.
 *
 * The full tensor is seen as (outer, L, inner) with L the reduced length
 * (for DN_AXIS_ALL: outer the batch, L the per-sample size, inner 1):
 *   y[o, i] = s * sum_j x[o, j, i]     s = 1 (sum) or 1 / L (mean)
 *   gx[o, j, i] += s * g[o, i]         (seed 000, section 4)
 * Each output sums its L terms in a fixed order, in double; threads split
 * the outputs, so results do not depend on the number of threads. The mean
 * over zero elements is NaN, as numpy gives.
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"

/* Below this many elements a loop stays on one thread. */
#define PAR_MIN_ELEMS 32768
/* Outputs summed together when inner > 1 (neighbouring columns). */
#define COLS 64

static int threads_for(const dn_ctx *c, int64_t work)
{
    return (c->nthreads > 1 && work >= PAR_MIN_ELEMS) ? c->nthreads : 1;
}

static dn_status reduce_infer(dn_node *node)
{
    char s[192];
    if (node->n_in != 1)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "takes 1 input but was given %d; connect exactly one",
                            node->n_in);
    const dn_shape *in = &node->in_shape[0];
    int b = node->in_batched[0] ? 1 : 0, full = in->ndim + b;
    int keep = node->attrs.keepdims != 0;
    dn_shape out;
    memset(&out, 0, sizeof out);
    dn_shape_format(in, s, sizeof s);
    if (node->attrs.axis == DN_AXIS_ALL) {
        out.ndim = keep ? in->ndim : 0;
        for (int k = 0; k < out.ndim; k++) out.dims[k] = 1;
        node->batched = b;
    } else {
        int ax = dn_axis_norm(node->attrs.axis, full);
        if (ax < 0 || full > DN_MAX_DIMS)
            return dn_fail_node(node, DN_ERR_INVALID,
                                "axis %d is out of range for a %s input of per-sample "
                                "shape %s (%d axes in all); give an axis from %d to %d, "
                                "or DN_AXIS_ALL for every per-sample axis",
                                node->attrs.axis, b ? "batched" : "unbatched", s,
                                full, -full, full - 1);
        /* the full output shape, then the batch axis split off when kept */
        for (int k = 0; k < full; k++) {
            int64_t d = (b && k == 0) ? 0 : in->dims[k - b];
            if (k == ax && !keep) continue;
            out.dims[out.ndim++] = k == ax ? 1 : d;
        }
        node->batched = b && ax != 0;
        if (node->batched) {
            memmove(out.dims, out.dims + 1, (size_t)(out.ndim - 1) * sizeof(int64_t));
            out.dims[--out.ndim] = 0;
        }
    }
    node->shape = out;
    node->saved_per_sample = node->saved_fixed = 0;
    node->ws_per_sample = node->ws_fixed = 0;
    return DN_OK;
}

/* The input as (outer, L, inner) around the reduced axis. */
static void reduce_layout(const dn_node *node, int64_t n, int64_t *outer,
                          int64_t *len, int64_t *inner)
{
    dn_shape f = dn_node_in_full(node, 0, n);
    *outer = *len = *inner = 1;
    if (node->attrs.axis == DN_AXIS_ALL) {
        int b = node->in_batched[0] ? 1 : 0;
        *outer = b ? n : 1;
        *len = dn_shape_numel(&node->in_shape[0]);
        return;
    }
    int ax = dn_axis_norm(node->attrs.axis, f.ndim);
    *len = f.dims[ax];
    for (int k = 0; k < ax; k++) *outer *= f.dims[k];
    for (int k = ax + 1; k < f.ndim; k++) *inner *= f.dims[k];
}

/* 1 for SUM, 1 / L for MEAN (NaN when L == 0: the mean of nothing). */
static double reduce_factor(const dn_node *node, int64_t len)
{
    if (node->op != DN_OP_MEAN) return 1.0;
    return len > 0 ? 1.0 / (double)len : NAN;
}

/* sum_j x[j] (m) in double, in 8 interleaved partial sums combined in a
 * fixed order: the result depends on m alone. */
DN_TARGET_CLONES
static double sum_row(const float *x, int64_t m)
{
    double lane[8] = {0}, s = 0.0;
    int64_t j = 0;
    for (; j + 8 <= m; j += 8)
        for (int q = 0; q < 8; q++) lane[q] += x[j + q];
    for (; j < m; j++) s += x[j];
    for (int q = 0; q < 8; q++) s += lane[q];
    return s;
}

/* acc (w) += the w neighbouring columns of x (len, inner) */
DN_TARGET_CLONES
static void sum_cols(const float *x, int64_t len, int64_t inner, int64_t w, double *acc)
{
    for (int64_t j = 0; j < len; j++)
        for (int64_t k = 0; k < w; k++) acc[k] += x[j * inner + k];
}

/* y (outer, inner) = s * sum over L of x (outer, L, inner) */
static void reduce_forward(const dn_ctx *c)
{
    int64_t outer, len, inner;
    reduce_layout(c->node, c->n, &outer, &len, &inner);
    double s = reduce_factor(c->node, len);
    int64_t blocks = (inner + COLS - 1) / COLS, tasks = outer * blocks;
    int nt = threads_for(c, outer * len * inner);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / blocks, k0 = (t % blocks) * COLS, w = DN_MIN(COLS, inner - k0);
        const float *x = c->in[0] + o * len * inner + k0;
        if (inner == 1) {
            c->out[o] = (float)(sum_row(x, len) * s);
            continue;
        }
        double acc[COLS] = {0};
        sum_cols(x, len, inner, w, acc);
        for (int64_t k = 0; k < w; k++) c->out[o * inner + k0 + k] = (float)(acc[k] * s);
    }
}

/* gx (outer, L, inner) += s * g (outer, inner): threads split the rows
 * (o, j) of inner elements, or the outer index when inner == 1. */
static void reduce_backward(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    int64_t outer, len, inner;
    reduce_layout(c->node, c->n, &outer, &len, &inner);
    float s = (float)reduce_factor(c->node, len);
    int64_t rows = inner == 1 ? outer : outer * len, per = inner == 1 ? len : inner;
    int nt = threads_for(c, outer * len * inner);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < rows; t++) {
        float *gx = c->gin[0] + t * per;
        if (inner == 1) {
            float v = s * c->gout[t];
            for (int64_t j = 0; j < per; j++) gx[j] += v;
        } else {
            const float *g = c->gout + (t / len) * inner;
            for (int64_t k = 0; k < per; k++) gx[k] += s * g[k];
        }
    }
}

/* Reference: y (outer, inner) = s * sum over L of x (outer, L, inner), one
 * output at a time */
static void reduce_forward_ref(const dn_ctx *c)
{
    int64_t outer, len, inner;
    reduce_layout(c->node, c->n, &outer, &len, &inner);
    double s = reduce_factor(c->node, len);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double acc = 0.0;
            for (int64_t j = 0; j < len; j++) acc += c->in[0][(o * len + j) * inner + i];
            c->out[o * inner + i] = (float)(acc * s);
        }
}

/* Reference: gx (outer, L, inner) += s * g (outer, inner) */
static void reduce_backward_ref(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    int64_t outer, len, inner;
    reduce_layout(c->node, c->n, &outer, &len, &inner);
    double s = reduce_factor(c->node, len);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < len; j++)
            for (int64_t i = 0; i < inner; i++)
                c->gin[0][(o * len + j) * inner + i] +=
                    (float)(s * c->gout[o * inner + i]);
}

const dn_op_def dn_opdef_sum = {DN_OP_SUM, "sum", 1, 1, 0, reduce_infer,
                                reduce_forward, reduce_backward,
                                reduce_forward_ref, reduce_backward_ref};
const dn_op_def dn_opdef_mean = {DN_OP_MEAN, "mean", 1, 1, 0, reduce_infer,
                                 reduce_forward, reduce_backward,
                                 reduce_forward_ref, reduce_backward_ref};
