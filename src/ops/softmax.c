/* SOFTMAX and LOG_SOFTMAX along one axis (attrs.axis of the full tensor,
 * never the batch axis; default -1, the last).
 *
 * seed 000, section 2.3: pi_j = exp(z_j) / sum_k exp(z_k), computed with the
 * maximum subtracted first so that exp never overflows. The vector-Jacobian
 * products use the output only (d pi_i / d z_j = pi_i (delta_ij - pi_j)):
 *   softmax      g_z = y * (g - sum_j g_j y_j)
 *   log_softmax  g_z = g - exp(y) * sum_j g_j
 *
 * The full tensor is seen as (outer, L, inner): L the size of the axis, and
 * each of the outer * inner vectors of L elements (stride inner) is
 * independent. Threads split the vectors; sums run in double in a fixed
 * order.
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"
#include "fastmath.h"

/* Below this many elements a loop stays on one thread. */
#define PAR_MIN_ELEMS 16384
/* Vectors walked together when inner > 1 (neighbouring columns). */
#define COLS 64

static int threads_for(const dn_ctx *c, int64_t work)
{
    return (c->nthreads > 1 && work >= PAR_MIN_ELEMS) ? c->nthreads : 1;
}

/* The full tensor as (outer, L, inner) around the node's axis. */
static void axis_layout(const dn_node *node, int64_t n, int64_t *outer,
                        int64_t *len, int64_t *inner)
{
    dn_shape f = dn_node_in_full(node, 0, n);
    int ax = dn_axis_norm(node->attrs.axis, f.ndim);
    *outer = *inner = 1;
    *len = f.dims[ax];
    for (int k = 0; k < ax; k++) *outer *= f.dims[k];
    for (int k = ax + 1; k < f.ndim; k++) *inner *= f.dims[k];
}

static dn_status softmax_infer(dn_node *node)
{
    char s[192];
    if (node->n_in != 1)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "takes 1 input but was given %d; connect exactly one",
                            node->n_in);
    const dn_shape *in = &node->in_shape[0];
    int b = node->in_batched[0] ? 1 : 0, full = in->ndim + b;
    int ax = dn_axis_norm(node->attrs.axis, full);
    dn_shape_format(in, s, sizeof s);
    if (ax < 0)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "axis %d is out of range for a %s input of per-sample "
                            "shape %s (%d axes in all); give an axis from %d to %d",
                            node->attrs.axis, b ? "batched" : "unbatched", s, full,
                            -full, full - 1);
    if (b && ax == 0)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "axis %d is the batch axis of per-sample shape %s; "
                            "normalise over a per-sample axis (1 to %d, or -1)",
                            node->attrs.axis, s, full - 1);
    node->shape = *in;
    node->batched = b;
    node->saved_per_sample = node->saved_fixed = 0;
    node->ws_per_sample = node->ws_fixed = 0;
    return DN_OK;
}

/* Largest of x (m >= 1); 16 running maxima combined at the end (max is
 * exact, so the order does not change the result). */
static inline float max_f32(const float *x, int64_t m)
{
    float lane[16], mx = x[0];
    int64_t j = 0;
    for (int q = 0; q < 16; q++) lane[q] = x[0];
    for (; j + 16 <= m; j += 16)
        for (int q = 0; q < 16; q++) lane[q] = x[j + q] > lane[q] ? x[j + q] : lane[q];
    for (; j < m; j++) mx = x[j] > mx ? x[j] : mx;
    for (int q = 0; q < 16; q++) mx = lane[q] > mx ? lane[q] : mx;
    return mx;
}

/* sum_j a[j] (times b[j] when b is given) in double, in 8 interleaved
 * partial sums combined in a fixed order: the result depends on m alone. */
static inline double sum_f64(const float *a, const float *b, int64_t m)
{
    double lane[8] = {0}, s = 0.0;
    int64_t j = 0;
    if (b)
        for (; j + 8 <= m; j += 8)
            for (int q = 0; q < 8; q++) lane[q] += (double)a[j + q] * b[j + q];
    else
        for (; j + 8 <= m; j += 8)
            for (int q = 0; q < 8; q++) lane[q] += a[j + q];
    for (; j < m; j++) s += b ? (double)a[j] * b[j] : (double)a[j];
    for (int q = 0; q < 8; q++) s += lane[q];
    return s;
}

/* y (L) = softmax or log_softmax of x (L), one contiguous vector */
DN_TARGET_CLONES
static void forward_row(const float *x, float *y, int64_t len, int logsm)
{
    float mx = max_f32(x, len);
    for (int64_t j = 0; j < len; j++) y[j] = exp_fast(x[j] - mx);
    double s = sum_f64(y, NULL, len);
    if (logsm) {
        float ls = (float)log(s);
        for (int64_t j = 0; j < len; j++) y[j] = (x[j] - mx) - ls;
    } else {
        float inv = (float)(1.0 / s);
        for (int64_t j = 0; j < len; j++) y[j] *= inv;
    }
}

/* y, x: w (<= COLS) neighbouring vectors of L elements, stride inner */
DN_TARGET_CLONES
static void forward_cols(const float *x, float *y, int64_t len, int64_t inner,
                         int64_t w, int logsm)
{
    float mx[COLS], ls[COLS];
    double s[COLS];
    for (int64_t k = 0; k < w; k++) {
        mx[k] = x[k];
        s[k] = 0.0;
    }
    for (int64_t j = 1; j < len; j++)
        for (int64_t k = 0; k < w; k++) {
            float v = x[j * inner + k];
            mx[k] = v > mx[k] ? v : mx[k];
        }
    for (int64_t j = 0; j < len; j++)
        for (int64_t k = 0; k < w; k++) y[j * inner + k] = exp_fast(x[j * inner + k] - mx[k]);
    for (int64_t j = 0; j < len; j++)
        for (int64_t k = 0; k < w; k++) s[k] += y[j * inner + k];
    for (int64_t k = 0; k < w; k++) ls[k] = logsm ? (float)log(s[k]) : (float)(1.0 / s[k]);
    for (int64_t j = 0; j < len; j++)
        for (int64_t k = 0; k < w; k++) {
            int64_t at = j * inner + k;
            y[at] = logsm ? (x[at] - mx[k]) - ls[k] : y[at] * ls[k];
        }
}

/* gx (L) += vjp for the output y (L) and upstream g (L), one vector */
DN_TARGET_CLONES
static void backward_row(const float *y, const float *g, float *gx, int64_t len,
                         int logsm)
{
    if (logsm) {
        float sf = (float)sum_f64(g, NULL, len);
        for (int64_t j = 0; j < len; j++) gx[j] += g[j] - exp_fast(y[j]) * sf;
    } else {
        float sf = (float)sum_f64(g, y, len);
        for (int64_t j = 0; j < len; j++) gx[j] += y[j] * (g[j] - sf);
    }
}

/* as backward_row for w (<= COLS) neighbouring vectors, stride inner */
DN_TARGET_CLONES
static void backward_cols(const float *y, const float *g, float *gx, int64_t len,
                          int64_t inner, int64_t w, int logsm)
{
    double s[COLS];
    float sf[COLS];
    for (int64_t k = 0; k < w; k++) s[k] = 0.0;
    for (int64_t j = 0; j < len; j++)
        for (int64_t k = 0; k < w; k++) {
            int64_t at = j * inner + k;
            s[k] += logsm ? (double)g[at] : (double)g[at] * y[at];
        }
    for (int64_t k = 0; k < w; k++) sf[k] = (float)s[k];
    for (int64_t j = 0; j < len; j++)
        for (int64_t k = 0; k < w; k++) {
            int64_t at = j * inner + k;
            gx[at] += logsm ? g[at] - exp_fast(y[at]) * sf[k] : y[at] * (g[at] - sf[k]);
        }
}

/* out (outer, L, inner) = softmax or log_softmax of x (outer, L, inner)
 * along L */
static void softmax_forward(const dn_ctx *c)
{
    int64_t outer, len, inner;
    axis_layout(c->node, c->n, &outer, &len, &inner);
    if (outer * len * inner == 0) return;
    int logsm = c->node->op == DN_OP_LOG_SOFTMAX;
    int64_t blocks = (inner + COLS - 1) / COLS, tasks = outer * blocks;
    int nt = threads_for(c, outer * len * inner);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / blocks, k0 = (t % blocks) * COLS;
        int64_t at = o * len * inner + k0;
        if (inner == 1) forward_row(c->in[0] + at, c->out + at, len, logsm);
        else forward_cols(c->in[0] + at, c->out + at, len, inner,
                          DN_MIN(COLS, inner - k0), logsm);
    }
}

/* gx (outer, L, inner) += vjp from the output y and upstream g (same shape) */
static void softmax_backward(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    int64_t outer, len, inner;
    axis_layout(c->node, c->n, &outer, &len, &inner);
    if (outer * len * inner == 0) return;
    int logsm = c->node->op == DN_OP_LOG_SOFTMAX;
    int64_t blocks = (inner + COLS - 1) / COLS, tasks = outer * blocks;
    int nt = threads_for(c, outer * len * inner);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / blocks, k0 = (t % blocks) * COLS;
        int64_t at = o * len * inner + k0;
        if (inner == 1)
            backward_row(c->out + at, c->gout + at, c->gin[0] + at, len, logsm);
        else
            backward_cols(c->out + at, c->gout + at, c->gin[0] + at, len, inner,
                          DN_MIN(COLS, inner - k0), logsm);
    }
}

/* Reference: out (outer, L, inner) from x (outer, L, inner), one vector at a
 * time, in double */
static void softmax_forward_ref(const dn_ctx *c)
{
    int64_t outer, len, inner;
    axis_layout(c->node, c->n, &outer, &len, &inner);
    int logsm = c->node->op == DN_OP_LOG_SOFTMAX;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *x = c->in[0] + o * len * inner + i;
            float *y = c->out + o * len * inner + i;
            double mx = -INFINITY, s = 0.0;
            for (int64_t j = 0; j < len; j++) mx = fmax(mx, x[j * inner]);
            for (int64_t j = 0; j < len; j++) s += exp(x[j * inner] - mx);
            for (int64_t j = 0; j < len; j++)
                y[j * inner] = (float)(logsm ? x[j * inner] - mx - log(s)
                                             : exp(x[j * inner] - mx) / s);
        }
}

/* Reference: gx (outer, L, inner) += vjp from y and g, in double */
static void softmax_backward_ref(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    int64_t outer, len, inner;
    axis_layout(c->node, c->n, &outer, &len, &inner);
    int logsm = c->node->op == DN_OP_LOG_SOFTMAX;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * len * inner + i;
            const float *y = c->out + base, *g = c->gout + base;
            float *gx = c->gin[0] + base;
            double s = 0.0;
            for (int64_t j = 0; j < len; j++)
                s += logsm ? (double)g[j * inner] : (double)g[j * inner] * y[j * inner];
            for (int64_t j = 0; j < len; j++) {
                double gj = g[j * inner], yj = y[j * inner];
                gx[j * inner] += (float)(logsm ? gj - exp(yj) * s : yj * (gj - s));
            }
        }
}

const dn_op_def dn_opdef_softmax = {
    DN_OP_SOFTMAX, "softmax", 1, 1, DN_OPF_BWD_OUT, softmax_infer,
    softmax_forward, softmax_backward, softmax_forward_ref, softmax_backward_ref};
const dn_op_def dn_opdef_log_softmax = {
    DN_OP_LOG_SOFTMAX, "log_softmax", 1, 1, DN_OPF_BWD_OUT, softmax_infer,
    softmax_forward, softmax_backward, softmax_forward_ref, softmax_backward_ref};
