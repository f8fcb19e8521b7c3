/* Ops that move data without arithmetic: RESHAPE (flatten is a reshape to
 * (-1,)), CONCAT and SLICE (a split into k parts is k SLICE nodes).
 *
 * Their vector-Jacobian products move the upstream gradient back to where
 * each element came from and add it there (seed 000, section 4).
 *
 * CONCAT and SLICE see the full tensor as (outer, L, inner) around their
 * axis: every outer index holds one contiguous block of L * inner floats,
 * so both are block copies. Threads split blocks, never a sum.
 */
#include <stdio.h>
#include "internal.h"

/* Below this many elements a loop stays on one thread. */
#define PAR_MIN_ELEMS 65536
/* Flat copies are cut into pieces of this many elements. */
#define PIECE 16384

static int threads_for(const dn_ctx *c, int64_t work)
{
    return (c->nthreads > 1 && work >= PAR_MIN_ELEMS) ? c->nthreads : 1;
}

static void set_no_state(dn_node *node)
{
    node->saved_per_sample = node->saved_fixed = 0;
    node->ws_per_sample = node->ws_fixed = 0;
}


/* y (m) += x (m) */
DN_TARGET_CLONES
static void add_into(float *y, const float *x, int64_t m)
{
    for (int64_t i = 0; i < m; i++) y[i] += x[i];
}

/* y (m) = x (m), or y += x when add; threads split pieces of the range */
static void copy_flat(const dn_ctx *c, float *y, const float *x, int64_t m, int add)
{
    int64_t pieces = (m + PIECE - 1) / PIECE;
    int nt = threads_for(c, m);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < pieces; t++) {
        int64_t lo = t * PIECE, len = DN_MIN(PIECE, m - lo);
        if (add) add_into(y + lo, x + lo, len);
        else if (y != x) memcpy(y + lo, x + lo, (size_t)len * sizeof(float));
    }
}

/* The per-sample axis that `axis` names on input 0's full tensor, after
 * checking it exists and is not the batch axis; -1 after a failure. */
static int sample_axis(dn_node *node, dn_status *st)
{
    char s[192];
    int b = node->in_batched[0] ? 1 : 0, full = node->in_shape[0].ndim + b;
    int ax = dn_axis_norm(node->attrs.axis, full);
    dn_format_full(&node->in_shape[0], b, s, sizeof s);
    *st = DN_OK;
    if (ax < 0)
        *st = dn_fail_node(node, DN_ERR_INVALID,
                           "axis %d is out of range for input shape %s; give an "
                           "axis from %d to %d", node->attrs.axis, s, -full, full - 1);
    else if (b && ax == 0)
        *st = dn_fail_node(node, DN_ERR_INVALID,
                           "axis %d is the batch axis of input shape %s; choose a "
                           "per-sample axis (1 to %d, or negative from the end)",
                           node->attrs.axis, s, full - 1);
    return *st == DN_OK ? ax - b : -1;
}

/* The full tensor of input i as (outer, L, inner) around full axis ax. */
static void axis_layout(const dn_node *node, int i, int64_t n, int ax,
                        int64_t *outer, int64_t *len, int64_t *inner)
{
    dn_shape f = dn_node_in_full(node, i, n);
    *outer = *inner = 1;
    *len = f.dims[ax];
    for (int k = 0; k < ax; k++) *outer *= f.dims[k];
    for (int k = ax + 1; k < f.ndim; k++) *inner *= f.dims[k];
}

static int full_axis(const dn_node *node)
{
    int b = node->in_batched[0] ? 1 : 0;
    return dn_axis_norm(node->attrs.axis, node->in_shape[0].ndim + b);
}

/* --- RESHAPE ---------------------------------------------------------------- */

static dn_status reshape_infer(dn_node *node)
{
    char si[192], so[192];
    if (node->n_in != 1)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "takes 1 input but was given %d; connect exactly one",
                            node->n_in);
    const dn_shape *in = &node->in_shape[0];
    dn_shape out = node->attrs.shape;
    int b = node->in_batched[0] ? 1 : 0, free_axis = -1;
    int64_t known = 1, m = dn_shape_numel(in);
    dn_shape_format(in, si, sizeof si);
    if (out.ndim < 0 || out.ndim + b > DN_MAX_DIMS)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "target shape has %d dimensions%s; dagnet tensors have "
                            "at most %d", out.ndim, b ? " plus the batch" : "",
                            DN_MAX_DIMS);
    dn_shape_format(&out, so, sizeof so);
    for (int k = 0; k < out.ndim; k++) {
        if (out.dims[k] == -1 && free_axis < 0) {
            free_axis = k;
        } else if (out.dims[k] < 0) {
            return dn_fail_node(node, DN_ERR_INVALID,
                                "cannot reshape %s into %s: sizes must be >= 0 with "
                                "at most one -1 (inferred)", si, so);
        } else if (!dn_mul_ok(known, out.dims[k], &known)) {
            return dn_fail_node(node, DN_ERR_INVALID,
                                "cannot reshape %s into %s: too many elements", si, so);
        }
    }
    if (free_axis >= 0) {
        if (known == 0 || m % known != 0)
            return dn_fail_node(node, DN_ERR_INVALID,
                                "cannot reshape %s (%lld elements) into %s: the other "
                                "sizes (product %lld) do not divide it; fix the "
                                "target shape", si, (long long)m, so, (long long)known);
        out.dims[free_axis] = m / known;
    } else if (known != m) {
        return dn_fail_node(node, DN_ERR_INVALID,
                            "cannot reshape per-sample shape %s (%lld elements) into "
                            "%s (%lld elements); the counts must match", si,
                            (long long)m, so, (long long)known);
    }
    node->shape = out;
    node->batched = b;
    set_no_state(node);
    return DN_OK;
}

/* out (N) = x (N): the same floats, another shape */
static void reshape_forward(const dn_ctx *c)
{
    copy_flat(c, c->out, c->in[0], dn_node_out_numel(c->node, c->n), 0);
}

/* gx (N) += g (N) */
static void reshape_backward(const dn_ctx *c)
{
    if (c->gin[0]) copy_flat(c, c->gin[0], c->gout, dn_node_out_numel(c->node, c->n), 1);
}

/* Reference: out (N) = x (N), element by element */
static void reshape_forward_ref(const dn_ctx *c)
{
    int64_t m = dn_node_out_numel(c->node, c->n);
    for (int64_t i = 0; i < m; i++) c->out[i] = c->in[0][i];
}

/* Reference: gx (N) += g (N) */
static void reshape_backward_ref(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    int64_t m = dn_node_out_numel(c->node, c->n);
    for (int64_t i = 0; i < m; i++) c->gin[0][i] += c->gout[i];
}

/* --- CONCAT ----------------------------------------------------------------- */

static dn_status concat_infer(dn_node *node)
{
    char s0[192], si[192];
    if (node->n_in < 2 || node->n_in > DN_MAX_INPUTS)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "takes 2 to %d inputs but was given %d; join at least two "
                            "(and chain concats for more)", DN_MAX_INPUTS, node->n_in);
    dn_status st;
    int ax = sample_axis(node, &st);
    if (st != DN_OK) return st;
    const dn_shape *a = &node->in_shape[0];
    int b = node->in_batched[0] ? 1 : 0;
    dn_shape out = *a;
    dn_format_full(a, b, s0, sizeof s0);
    for (int i = 1; i < node->n_in; i++) {
        const dn_shape *s = &node->in_shape[i];
        int bi = node->in_batched[i] ? 1 : 0, same = s->ndim == a->ndim;
        dn_format_full(s, bi, si, sizeof si);
        if (bi != b)
            return dn_fail_node(node, DN_ERR_INVALID,
                                "input %d has shape %s and input 0 %s: all inputs "
                                "must be batched, or none; broadcast the unbatched one "
                                "first", i, si, s0);
        for (int k = 0; k < a->ndim && same; k++)
            if (k != ax && s->dims[k] != a->dims[k]) same = 0;
        if (!same)
            return dn_fail_node(node, DN_ERR_INVALID,
                                "input %d has shape %s and input 0 %s: every size but "
                                "the one on axis %d must match", i, si, s0,
                                node->attrs.axis);
        out.dims[ax] += s->dims[ax];
    }
    node->shape = out;
    node->batched = b;
    set_no_state(node);
    return DN_OK;
}

/* out (outer, sum_i L_i, inner) = the inputs (outer, L_i, inner) side by side
 * along the axis; in backward, gx_i += the matching blocks of g instead. */
static void concat_move(const dn_ctx *c, int backward)
{
    int ax = full_axis(c->node), nin = c->node->n_in;
    int64_t outer, lt = 0, inner, lens[DN_MAX_INPUTS], offs[DN_MAX_INPUTS];
    axis_layout(c->node, 0, c->n, ax, &outer, &lens[0], &inner);
    for (int i = 0; i < nin; i++) {
        lens[i] = c->node->in_shape[i].dims[ax - (c->node->in_batched[0] ? 1 : 0)];
        offs[i] = lt;
        lt += lens[i];
    }
    int64_t tasks = outer * nin;
    int nt = threads_for(c, outer * lt * inner);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / nin, m = lens[t % nin] * inner;
        int i = (int)(t % nin);
        float *y = (backward ? c->gout : c->out) + (o * lt + offs[i]) * inner;
        if (m == 0) continue;
        if (!backward) {
            memcpy(y, c->in[i] + o * m, (size_t)m * sizeof(float));
        } else if (c->gin[i]) {
            add_into(c->gin[i] + o * m, y, m);
        }
    }
}

/* out (outer, sum_i L_i, inner) from x_i (outer, L_i, inner) */
static void concat_forward(const dn_ctx *c) { concat_move(c, 0); }

/* gx_i (outer, L_i, inner) += g (outer, sum_i L_i, inner) blocks */
static void concat_backward(const dn_ctx *c) { concat_move(c, 1); }

/* Reference: element by element over the output (outer, Lt, inner); the
 * input is found by walking the axis offsets. */
static void concat_move_ref(const dn_ctx *c, int backward)
{
    int ax = full_axis(c->node), nin = c->node->n_in;
    int64_t outer, lt = 0, inner, lens[DN_MAX_INPUTS];
    for (int i = 0; i < nin; i++) {
        axis_layout(c->node, i, c->n, ax, &outer, &lens[i], &inner);
        lt += lens[i];
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < lt; j++) {
            int i = 0;
            int64_t jj = j;
            while (jj >= lens[i]) jj -= lens[i++];
            for (int64_t k = 0; k < inner; k++) {
                int64_t at = (o * lt + j) * inner + k, src = (o * lens[i] + jj) * inner + k;
                if (!backward) c->out[at] = c->in[i][src];
                else if (c->gin[i]) c->gin[i][src] += c->gout[at];
            }
        }
}

/* Reference forward: shapes as concat_forward */
static void concat_forward_ref(const dn_ctx *c) { concat_move_ref(c, 0); }

/* Reference backward: shapes as concat_backward */
static void concat_backward_ref(const dn_ctx *c) { concat_move_ref(c, 1); }

/* --- SLICE ------------------------------------------------------------------ */

/* [start, stop) of attrs clamped to [0, len] like numpy (negative values
 * count from the end). */
static void slice_bounds(const dn_attrs *a, int64_t len, int64_t *lo, int64_t *hi)
{
    int64_t s = a->start < 0 ? a->start + len : a->start;
    int64_t e = a->stop < 0 ? a->stop + len : a->stop;
    *lo = s < 0 ? 0 : s > len ? len : s;
    *hi = e < 0 ? 0 : e > len ? len : e;
}

static dn_status slice_infer(dn_node *node)
{
    char s[192];
    if (node->n_in != 1)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "takes 1 input but was given %d; connect exactly one",
                            node->n_in);
    dn_status st;
    int ax = sample_axis(node, &st);
    if (st != DN_OK) return st;
    dn_shape out = node->in_shape[0];
    int64_t lo, hi;
    slice_bounds(&node->attrs, out.dims[ax], &lo, &hi);
    dn_format_full(&node->in_shape[0], node->in_batched[0], s, sizeof s);
    if (hi <= lo)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "slice [%lld, %lld) of axis %d (size %lld) of input shape "
                            "%s is empty; give start < stop within the axis (negative "
                            "values count from the end)", (long long)node->attrs.start,
                            (long long)node->attrs.stop, node->attrs.axis,
                            (long long)out.dims[ax], s);
    out.dims[ax] = hi - lo;
    node->shape = out;
    node->batched = node->in_batched[0];
    set_no_state(node);
    return DN_OK;
}

/* out (outer, hi - lo, inner) = x (outer, L, inner)[:, lo:hi, :], or
 * gx[:, lo:hi, :] += g in backward */
static void slice_move(const dn_ctx *c, int backward)
{
    int ax = full_axis(c->node);
    int64_t outer, len, inner, lo, hi;
    axis_layout(c->node, 0, c->n, ax, &outer, &len, &inner);
    slice_bounds(&c->node->attrs, len, &lo, &hi);
    int64_t m = (hi - lo) * inner;
    if (m == 0 || (backward && !c->gin[0])) return;
    int nt = threads_for(c, outer * m);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t o = 0; o < outer; o++) {
        int64_t src = (o * len + lo) * inner;
        if (!backward) memcpy(c->out + o * m, c->in[0] + src, (size_t)m * sizeof(float));
        else add_into(c->gin[0] + src, c->gout + o * m, m);
    }
}

/* out (outer, hi - lo, inner) from x (outer, L, inner) */
static void slice_forward(const dn_ctx *c) { slice_move(c, 0); }

/* gx (outer, L, inner)[:, lo:hi, :] += g (outer, hi - lo, inner) */
static void slice_backward(const dn_ctx *c) { slice_move(c, 1); }

/* Reference: element by element over the output */
static void slice_move_ref(const dn_ctx *c, int backward)
{
    int ax = full_axis(c->node);
    int64_t outer, len, inner, lo, hi;
    axis_layout(c->node, 0, c->n, ax, &outer, &len, &inner);
    slice_bounds(&c->node->attrs, len, &lo, &hi);
    if (backward && !c->gin[0]) return;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = lo; j < hi; j++)
            for (int64_t k = 0; k < inner; k++) {
                int64_t at = (o * (hi - lo) + j - lo) * inner + k;
                int64_t src = (o * len + j) * inner + k;
                if (!backward) c->out[at] = c->in[0][src];
                else c->gin[0][src] += c->gout[at];
            }
}

/* Reference forward: shapes as slice_forward */
static void slice_forward_ref(const dn_ctx *c) { slice_move_ref(c, 0); }

/* Reference backward: shapes as slice_backward */
static void slice_backward_ref(const dn_ctx *c) { slice_move_ref(c, 1); }

const dn_op_def dn_opdef_reshape = {DN_OP_RESHAPE, "reshape", 1, 1, 0,
                                    reshape_infer, reshape_forward,
                                    reshape_backward, reshape_forward_ref,
                                    reshape_backward_ref};
const dn_op_def dn_opdef_concat = {DN_OP_CONCAT, "concat", 2, DN_MAX_INPUTS, 0,
                                   concat_infer, concat_forward, concat_backward,
                                   concat_forward_ref, concat_backward_ref};
const dn_op_def dn_opdef_slice = {DN_OP_SLICE, "slice", 1, 1, 0, slice_infer,
                                  slice_forward, slice_backward,
                                  slice_forward_ref, slice_backward_ref};
