/* Elementwise ops: ADD, SUB, MUL with numpy broadcasting, SCALE, and
 * BROADCAST of one input to a per-sample shape.
 *
 * Broadcasting works on the FULL shapes, the batch dimension first when an
 * input is batched; an unbatched input broadcasts against the batch. Shapes
 * are aligned on the right, and on every axis the sizes must match or one of
 * them be 1. The output is batched if any input is.
 *
 * Broadcasting copies an element to many outputs, so its vector-Jacobian
 * product sums the output gradient over those outputs (seed 000, section 4:
 * the gradient of a value is the sum over everything that consumed it):
 *   add  gA += sum_bcast g          gB += sum_bcast g
 *   sub  gA += sum_bcast g          gB -= sum_bcast g
 *   mul  gA += sum_bcast g * B      gB += sum_bcast g * A
 * The sums run over each gradient element in a fixed order, in double, with
 * threads split over gradient elements, so results do not depend on the
 * number of threads.
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"

/* Below this many elements a loop stays on one thread. */
#define PAR_MIN_ELEMS 32768
/* Rows of the broadcast iteration are cut into pieces of this many elements
 * so that long rows are shared between threads too. */
#define PIECE 8192
/* Gradient elements reduced together (their sums kept in registers/stack). */
#define RED_CHUNK 64

enum { EW_ADD, EW_SUB, EW_MUL, EW_COPY };

static int threads_for(const dn_ctx *c, int64_t work)
{
    return (c->nthreads > 1 && work >= PAR_MIN_ELEMS) ? c->nthreads : 1;
}

static int ew_code(dn_op op)
{
    switch (op) {
    case DN_OP_ADD: return EW_ADD;
    case DN_OP_SUB: return EW_SUB;
    case DN_OP_MUL: return EW_MUL;
    default: return EW_COPY;
    }
}


static void set_no_state(dn_node *node)
{
    node->saved_per_sample = node->saved_fixed = 0;
    node->ws_per_sample = node->ws_fixed = 0;
}

/* --- broadcast plan ------------------------------------------------------- */

/* The output's full dims and, per input, its element stride along each
 * output axis (0 where the input is broadcast). */
typedef struct bcast_plan {
    int r, nin;
    int64_t numel;
    int64_t dims[DN_MAX_DIMS];
    int64_t st[2][DN_MAX_DIMS];
} bcast_plan;

/* Strides of input i aligned to the plan's rank: size-1 axes are inserted
 * after its batch axis (batched) or in front (unbatched). */
static void plan_input(bcast_plan *p, const dn_node *node, int i, int64_t n)
{
    dn_shape f = dn_node_in_full(node, i, n);
    int keep = node->in_batched[i] ? 1 : 0;
    int pad = p->r - f.ndim;
    int64_t s = 1;
    for (int k = p->r - 1; k >= 0; k--) {
        int64_t d = k < keep ? f.dims[k] : k < keep + pad ? 1 : f.dims[k - pad];
        p->st[i][k] = d == 1 ? 0 : s;
        s *= d;
    }
}

/* Drop size-1 axes, then merge neighbouring axes that every input walks
 * contiguously (equal shapes become one flat axis). */
static void plan_collapse(bcast_plan *p)
{
    int w = -1;
    for (int k = 0; k < p->r; k++) {
        if (p->dims[k] == 1) continue;
        int merge = w >= 0;
        for (int i = 0; i < p->nin && merge; i++)
            if (p->st[i][w] != p->st[i][k] * p->dims[k]) merge = 0;
        if (merge) {
            p->dims[w] *= p->dims[k];
        } else {
            w++;
            p->dims[w] = p->dims[k];
        }
        for (int i = 0; i < p->nin; i++) p->st[i][w] = p->st[i][k];
    }
    if (w < 0) {
        w = 0;
        p->dims[0] = 1;
        p->st[0][0] = p->st[1][0] = 0;
    }
    p->r = w + 1;
}

static void plan_build(bcast_plan *p, const dn_node *node, int64_t n, int collapse)
{
    dn_shape o = dn_node_out_full(node, n);
    memset(p, 0, sizeof *p);
    p->nin = node->n_in;
    p->r = o.ndim ? o.ndim : 1;
    p->numel = 1;
    for (int k = 0; k < p->r; k++) {
        p->dims[k] = o.ndim ? o.dims[k] : 1;
        p->numel *= p->dims[k];
    }
    for (int i = 0; i < p->nin; i++) plan_input(p, node, i, n);
    if (collapse && p->numel > 0) plan_collapse(p);
}

/* Offsets of the inputs at the start of row `row` (all axes but the last). */
static void row_offsets(const bcast_plan *p, int64_t row, int64_t off[2])
{
    off[0] = off[1] = 0;
    for (int k = p->r - 2; k >= 0; k--) {
        int64_t c = row % p->dims[k];
        row /= p->dims[k];
        off[0] += c * p->st[0][k];
        off[1] += c * p->st[1][k];
    }
}

/* Offsets of the inputs at output element e (every axis). */
static void elem_offsets(const bcast_plan *p, int64_t e, int64_t off[2])
{
    off[0] = off[1] = 0;
    for (int k = p->r - 1; k >= 0; k--) {
        int64_t c = e % p->dims[k];
        e /= p->dims[k];
        off[0] += c * p->st[0][k];
        off[1] += c * p->st[1][k];
    }
}

static int plan_reduces(const bcast_plan *p, int i)
{
    for (int k = 0; k < p->r; k++)
        if (p->st[i][k] == 0 && p->dims[k] != 1) return 1;
    return 0;
}

/* --- flat loops ------------------------------------------------------------ */

/* y (m) = a (m) op b (m) */
DN_TARGET_CLONES
static void ew_vv(int op, const float *a, const float *b, float *y, int64_t m)
{
    switch (op) {
    case EW_ADD: for (int64_t i = 0; i < m; i++) y[i] = a[i] + b[i]; break;
    case EW_SUB: for (int64_t i = 0; i < m; i++) y[i] = a[i] - b[i]; break;
    case EW_MUL: for (int64_t i = 0; i < m; i++) y[i] = a[i] * b[i]; break;
    default: break;
    }
}

/* y (m) = a (m) op s */
DN_TARGET_CLONES
static void ew_vs(int op, const float *a, float s, float *y, int64_t m)
{
    switch (op) {
    case EW_ADD: for (int64_t i = 0; i < m; i++) y[i] = a[i] + s; break;
    case EW_SUB: for (int64_t i = 0; i < m; i++) y[i] = a[i] - s; break;
    case EW_MUL: for (int64_t i = 0; i < m; i++) y[i] = a[i] * s; break;
    default: for (int64_t i = 0; i < m; i++) y[i] = s; break; /* EW_COPY fill */
    }
}

/* y (m) = s op b (m) */
DN_TARGET_CLONES
static void ew_sv(int op, float s, const float *b, float *y, int64_t m)
{
    switch (op) {
    case EW_ADD: for (int64_t i = 0; i < m; i++) y[i] = s + b[i]; break;
    case EW_SUB: for (int64_t i = 0; i < m; i++) y[i] = s - b[i]; break;
    case EW_MUL: for (int64_t i = 0; i < m; i++) y[i] = s * b[i]; break;
    default: break;
    }
}

/* y (m) += s * x (m) */
DN_TARGET_CLONES
static void acc_scaled(float *y, const float *x, float s, int64_t m)
{
    for (int64_t i = 0; i < m; i++) y[i] += s * x[i];
}

/* y (m) += g (m) * o (m) */
DN_TARGET_CLONES
static void acc_mul(float *y, const float *g, const float *o, int64_t m)
{
    for (int64_t i = 0; i < m; i++) y[i] += g[i] * o[i];
}

/* One piece of a row: strides along the last axis are 0 or 1 (the input's
 * innermost axis is either broadcast or walked contiguously). */
static void ew_piece(int op, const float *a, int64_t sa, const float *b,
                     int64_t sb, float *y, int64_t m)
{
    if (op == EW_COPY) {
        if (sa) memcpy(y, a, (size_t)m * sizeof(float));
        else ew_vs(op, a, a[0], y, m);
    } else if (sb == 0) {
        ew_vs(op, a, b[0], y, m);
    } else if (sa == 0) {
        ew_sv(op, a[0], b, y, m);
    } else {
        ew_vv(op, a, b, y, m);
    }
}

/* --- the broadcast kernels --------------------------------------------------- */

/* out (full out shape) = A op B (full shapes broadcast to it); B absent for
 * BROADCAST. Equal shapes collapse to one flat row: the fast path. */
static void ew_forward(const dn_ctx *c)
{
    bcast_plan p;
    plan_build(&p, c->node, c->n, 1);
    if (p.numel == 0) return;
    int op = ew_code(c->node->op);
    const float *a = c->in[0], *b = p.nin > 1 ? c->in[1] : c->in[0];
    int64_t m = p.dims[p.r - 1], rows = p.numel / m;
    int64_t pieces = (m + PIECE - 1) / PIECE, tasks = rows * pieces;
    int64_t sa = p.st[0][p.r - 1], sb = p.st[1][p.r - 1];
    int nt = threads_for(c, p.numel);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t row = t / pieces, lo = (t % pieces) * PIECE, off[2];
        row_offsets(&p, row, off);
        ew_piece(op, a + off[0] + lo * sa, sa, b + off[1] + lo * sb, sb,
                 c->out + row * m + lo, DN_MIN(PIECE, m - lo));
    }
}

/* The reduced axes of one input: their sizes and the strides of g and of
 * the other input along them. */
typedef struct red_walk {
    int nr;
    int64_t nred;
    int64_t dims[DN_MAX_DIMS], gs[DN_MAX_DIMS], os[DN_MAX_DIMS];
} red_walk;

/* acc (cnt) += sum over the reduced positions, in order, of g (times other
 * when given) for cnt gradient elements whose first outputs are at g + bo[e]
 * (other + bt[e]). Runs of neighbouring elements take contiguous loops. */
DN_TARGET_CLONES
static void reduce_chunk(const red_walk *w, const float *g, const float *other,
                         const int64_t *bo, const int64_t *bt, int64_t cnt,
                         double *acc)
{
    int64_t idx[DN_MAX_DIMS] = {0}, ro = 0, rt = 0;
    int gc = 1, tc = 1, t0 = 1;
    if (cnt <= 0) return;
    for (int64_t e = 0; e < cnt; e++) {
        gc &= bo[e] == bo[0] + e;
        tc &= bt[e] == bt[0] + e;
        t0 &= bt[e] == bt[0];
    }
    for (int64_t it = 0; it < w->nred; it++) {
        const float *gp = g + bo[0] + ro, *op = other ? other + bt[0] + rt : NULL;
        if (gc && !other) {
            for (int64_t e = 0; e < cnt; e++) acc[e] += gp[e];
        } else if (gc && tc) {
            for (int64_t e = 0; e < cnt; e++) acc[e] += (double)gp[e] * op[e];
        } else if (gc && t0) {
            double v = op[0];
            for (int64_t e = 0; e < cnt; e++) acc[e] += gp[e] * v;
        } else {
            for (int64_t e = 0; e < cnt; e++)
                acc[e] += other ? (double)g[bo[e] + ro] * other[bt[e] + rt]
                                : (double)g[bo[e] + ro];
        }
        for (int q = w->nr - 1; q >= 0; q--) { /* next reduced position */
            ro += w->gs[q];
            rt += w->os[q];
            if (++idx[q] < w->dims[q]) break;
            ro -= w->gs[q] * w->dims[q];
            rt -= w->os[q] * w->dims[q];
            idx[q] = 0;
        }
    }
}

/* gx (input i's full shape) += sum over the outputs each element reaches of
 * sign * g (times `other` when given). Threads split the elements of gx in
 * chunks; each element sums its outputs in a fixed order, in double. */
static void reduce_into(const bcast_plan *p, int i, const float *g,
                        const float *other, float sign, float *gx,
                        const dn_ctx *c)
{
    int kept[DN_MAX_DIMS], nk = 0;
    int64_t ost[DN_MAX_DIMS], nx = 1, s = 1;
    const int64_t *sot = p->st[1 - i];
    red_walk w;
    memset(&w, 0, sizeof w);
    w.nred = 1;
    for (int k = p->r - 1; k >= 0; k--) {
        ost[k] = s;
        s *= p->dims[k];
    }
    for (int k = 0; k < p->r; k++) {
        if (p->st[i][k] == 0 && p->dims[k] != 1) {
            w.dims[w.nr] = p->dims[k];
            w.gs[w.nr] = ost[k];
            w.os[w.nr++] = sot[k];
            w.nred *= p->dims[k];
        } else {
            kept[nk++] = k;
            nx *= p->dims[k];
        }
    }
    int64_t nchunks = (nx + RED_CHUNK - 1) / RED_CHUNK;
    int nt = threads_for(c, p->numel);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t ch = 0; ch < nchunks; ch++) {
        int64_t bo[RED_CHUNK], bt[RED_CHUNK];
        double acc[RED_CHUNK];
        int64_t j0 = ch * RED_CHUNK, cnt = DN_MIN(RED_CHUNK, nx - j0);
        for (int64_t e = 0; e < cnt; e++) { /* where element j0 + e starts */
            int64_t rem = j0 + e;
            bo[e] = bt[e] = 0;
            acc[e] = 0.0;
            for (int q = nk - 1; q >= 0; q--) {
                int k = kept[q];
                int64_t cc = rem % p->dims[k];
                rem /= p->dims[k];
                bo[e] += cc * ost[k];
                bt[e] += cc * sot[k];
            }
        }
        reduce_chunk(&w, g, other, bo, bt, cnt, acc);
        for (int64_t e = 0; e < cnt; e++) gx[j0 + e] += (float)(sign * acc[e]);
    }
}

/* gx (full out shape: input i is not broadcast) += sign * g, or += g * other
 * with `other` broadcast. */
static void accumulate_rows(const bcast_plan *p, int i, const float *g,
                            const float *other, float sign, float *gx,
                            const dn_ctx *c)
{
    int64_t m = p->dims[p->r - 1], rows = p->numel / m;
    int64_t pieces = (m + PIECE - 1) / PIECE, tasks = rows * pieces;
    int64_t so = p->st[1 - i][p->r - 1];
    int nt = threads_for(c, p->numel);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t row = t / pieces, lo = (t % pieces) * PIECE, off[2];
        int64_t len = DN_MIN(PIECE, m - lo), at = row * m + lo;
        if (!other) {
            acc_scaled(gx + at, g + at, sign, len);
            continue;
        }
        row_offsets(p, row, off);
        const float *o = other + off[1 - i] + lo * so;
        if (so) acc_mul(gx + at, g + at, o, len);
        else acc_scaled(gx + at, g + at, o[0], len);
    }
}

/* gA (A's full shape), gB (B's full shape) += the vector-Jacobian products
 * of out = A op B for the upstream gradient g (full out shape). */
static void ew_backward(const dn_ctx *c)
{
    bcast_plan p;
    plan_build(&p, c->node, c->n, 1);
    if (p.numel == 0) return;
    int op = ew_code(c->node->op);
    for (int i = 0; i < p.nin; i++) {
        float *gx = c->gin[i];
        if (!gx) continue;
        float sign = (op == EW_SUB && i == 1) ? -1.0f : 1.0f;
        const float *other = op == EW_MUL ? c->in[1 - i] : NULL;
        if (plan_reduces(&p, i)) reduce_into(&p, i, c->gout, other, sign, gx, c);
        else accumulate_rows(&p, i, c->gout, other, sign, gx, c);
    }
}

/* Reference: out (full out shape) = A op B, one element at a time. */
static void ew_forward_ref(const dn_ctx *c)
{
    bcast_plan p;
    plan_build(&p, c->node, c->n, 0);
    int op = ew_code(c->node->op);
    for (int64_t e = 0; e < p.numel; e++) {
        int64_t off[2];
        elem_offsets(&p, e, off);
        double a = c->in[0][off[0]], b = p.nin > 1 ? c->in[1][off[1]] : 0.0;
        double y = op == EW_ADD ? a + b : op == EW_SUB ? a - b : op == EW_MUL ? a * b : a;
        c->out[e] = (float)y;
    }
}

/* Reference: each output element adds its share into gA, gB (shapes as in
 * ew_backward). */
static void ew_backward_ref(const dn_ctx *c)
{
    bcast_plan p;
    plan_build(&p, c->node, c->n, 0);
    int op = ew_code(c->node->op);
    for (int64_t e = 0; e < p.numel; e++) {
        int64_t off[2];
        elem_offsets(&p, e, off);
        float g = c->gout[e];
        for (int i = 0; i < p.nin; i++) {
            if (!c->gin[i]) continue;
            float d = op == EW_MUL ? g * c->in[1 - i][off[1 - i]]
                      : (op == EW_SUB && i == 1) ? -g : g;
            c->gin[i][off[i]] += d;
        }
    }
}

/* --- shape inference --------------------------------------------------------- */

static dn_status check_arity(dn_node *node, int want)
{
    if (node->n_in != want)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "takes %d input%s but was given %d; connect exactly %d",
                            want, want == 1 ? "" : "s", node->n_in, want);
    return DN_OK;
}

static dn_status check_rank(dn_node *node, int i)
{
    int full = node->in_shape[i].ndim + (node->in_batched[i] ? 1 : 0);
    if (full > DN_MAX_DIMS) {
        char s[192];
        dn_format_full(&node->in_shape[i], node->in_batched[i], s, sizeof s);
        return dn_fail_node(node, DN_ERR_INVALID,
                            "input %d has shape %s, %d dimensions; dagnet tensors "
                            "have at most %d: reshape it first", i, s, full, DN_MAX_DIMS);
    }
    return DN_OK;
}

/* Size of input i along output axis k of a full rank r (1 where padded);
 * -1 on the batch axis of a batched input. */
static int64_t aligned_dim(const dn_node *node, int i, int k, int r)
{
    const dn_shape *s = &node->in_shape[i];
    int b = node->in_batched[i] ? 1 : 0, ki = k - (r - (s->ndim + b));
    if (ki < 0) return 1;
    if (b && ki == 0) return -1;
    return s->dims[ki - b];
}

/* ADD, SUB, MUL: numpy broadcasting of the full shapes. */
static dn_status binary_infer(dn_node *node)
{
    char sa[192], sb[192];
    dn_status st = check_arity(node, 2);
    for (int i = 0; i < 2 && st == DN_OK; i++) st = check_rank(node, i);
    if (st != DN_OK) return st;
    int ba = node->in_batched[0] ? 1 : 0, bb = node->in_batched[1] ? 1 : 0;
    int ra = node->in_shape[0].ndim + ba, rb = node->in_shape[1].ndim + bb;
    int r = DN_MAX(ra, rb), bo = ba || bb;
    dn_format_full(&node->in_shape[0], ba, sa, sizeof sa);
    dn_format_full(&node->in_shape[1], bb, sb, sizeof sb);
    if ((ba && ra < r) || (bb && rb < r))
        return dn_fail_node(node, DN_ERR_INVALID,
                            "cannot broadcast %s with %s: the batch axis of the "
                            "shorter one would line up with a per-sample axis of "
                            "the other; reshape the shorter one with size-1 axes "
                            "after its batch axis so both have %d dimensions",
                            sa, sb, r);
    dn_shape out;
    memset(&out, 0, sizeof out);
    out.ndim = r - bo;
    for (int k = bo; k < r; k++) {
        int64_t da = aligned_dim(node, 0, k, r), db = aligned_dim(node, 1, k, r);
        if (da != db && da != 1 && db != 1)
            return dn_fail_node(node, DN_ERR_INVALID,
                                "cannot broadcast %s with %s: axis %d has sizes "
                                "%lld and %lld; sizes must match or one be 1",
                                sa, sb, k, (long long)da, (long long)db);
        out.dims[k - bo] = da == 1 ? db : da;
    }
    for (int i = 0; i < 2 && bo; i++) {
        int64_t d = aligned_dim(node, i, 0, r);
        if (d != -1 && d != 1)
            return dn_fail_node(node, DN_ERR_INVALID,
                                "cannot broadcast %s with %s: input %d is not "
                                "batched and has size %lld where the other has its "
                                "batch axis; that size must be 1 (or drop the axis)",
                                sa, sb, i, (long long)d);
    }
    node->shape = out;
    node->batched = bo;
    set_no_state(node);
    return DN_OK;
}

/* BROADCAST: the per-sample shape broadcasts to attrs.shape. */
static dn_status broadcast_infer(dn_node *node)
{
    char si[192], so[192];
    dn_status st = check_arity(node, 1);
    if (st != DN_OK) return st;
    const dn_shape *in = &node->in_shape[0], *to = &node->attrs.shape;
    int b = node->in_batched[0] ? 1 : 0;
    dn_shape_format(in, si, sizeof si);
    if (to->ndim < 0 || to->ndim + b > DN_MAX_DIMS)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "target shape has %d dimensions%s; dagnet tensors have "
                            "at most %d", to->ndim, b ? " plus the batch" : "",
                            DN_MAX_DIMS);
    dn_shape_format(to, so, sizeof so);
    for (int k = 0; k < to->ndim; k++)
        if (to->dims[k] < 0)
            return dn_fail_node(node, DN_ERR_INVALID,
                                "target shape %s has a negative size; give sizes >= 0",
                                so);
    if (in->ndim > to->ndim)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "cannot broadcast per-sample shape %s to %s: the target "
                            "has fewer dimensions; give a target of at least %d",
                            si, so, in->ndim);
    for (int k = 0; k < in->ndim; k++) {
        int64_t d = in->dims[k], t = to->dims[k + to->ndim - in->ndim];
        if (d != t && d != 1)
            return dn_fail_node(node, DN_ERR_INVALID,
                                "cannot broadcast per-sample shape %s to %s: size "
                                "%lld must equal %lld or be 1", si, so,
                                (long long)d, (long long)t);
    }
    node->shape = *to;
    node->batched = b;
    set_no_state(node);
    return DN_OK;
}

/* --- SCALE ------------------------------------------------------------------- */

static dn_status scale_infer(dn_node *node)
{
    dn_status st = check_arity(node, 1);
    if (st != DN_OK) return st;
    if (!isfinite(node->attrs.scale))
        return dn_fail_node(node, DN_ERR_INVALID,
                            "scale is %g; give a finite factor", (double)node->attrs.scale);
    node->shape = node->in_shape[0];
    node->batched = node->in_batched[0];
    set_no_state(node);
    return DN_OK;
}

/* out (N) = scale * x (N), N the full element count */
static void scale_forward(const dn_ctx *c)
{
    int64_t m = dn_node_out_numel(c->node, c->n), pieces = (m + PIECE - 1) / PIECE;
    float s = c->node->attrs.scale;
    int nt = threads_for(c, m);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < pieces; t++)
        ew_vs(EW_MUL, c->in[0] + t * PIECE, s, c->out + t * PIECE,
              DN_MIN(PIECE, m - t * PIECE));
}

/* gx (N) += scale * g (N) */
static void scale_backward(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    int64_t m = dn_node_out_numel(c->node, c->n), pieces = (m + PIECE - 1) / PIECE;
    float s = c->node->attrs.scale;
    int nt = threads_for(c, m);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < pieces; t++)
        acc_scaled(c->gin[0] + t * PIECE, c->gout + t * PIECE, s,
                   DN_MIN(PIECE, m - t * PIECE));
}

/* Reference: out (N) = scale * x (N) */
static void scale_forward_ref(const dn_ctx *c)
{
    int64_t m = dn_node_out_numel(c->node, c->n);
    for (int64_t i = 0; i < m; i++)
        c->out[i] = (float)((double)c->node->attrs.scale * c->in[0][i]);
}

/* Reference: gx (N) += scale * g (N) */
static void scale_backward_ref(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    int64_t m = dn_node_out_numel(c->node, c->n);
    for (int64_t i = 0; i < m; i++) c->gin[0][i] += c->node->attrs.scale * c->gout[i];
}

const dn_op_def dn_opdef_add = {DN_OP_ADD, "add", 2, 2, 0, binary_infer,
                                ew_forward, ew_backward, ew_forward_ref,
                                ew_backward_ref};
const dn_op_def dn_opdef_sub = {DN_OP_SUB, "sub", 2, 2, 0, binary_infer,
                                ew_forward, ew_backward, ew_forward_ref,
                                ew_backward_ref};
const dn_op_def dn_opdef_mul = {DN_OP_MUL, "mul", 2, 2,
                                DN_OPF_BWD_IN0 | DN_OPF_BWD_IN1, binary_infer,
                                ew_forward, ew_backward, ew_forward_ref,
                                ew_backward_ref};
const dn_op_def dn_opdef_scale = {DN_OP_SCALE, "scale", 1, 1, 0, scale_infer,
                                  scale_forward, scale_backward,
                                  scale_forward_ref, scale_backward_ref};
const dn_op_def dn_opdef_broadcast = {DN_OP_BROADCAST, "broadcast", 1, 1, 0,
                                      broadcast_infer, ew_forward, ew_backward,
                                      ew_forward_ref, ew_backward_ref};
