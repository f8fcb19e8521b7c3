/* LINEAR: Y = act(X W + b), the dense layer in the row-vector form of
 * seed 000 section 9.1 (W of shape (n_in, units), scikit-learn's coefs_
 * layout). X may have any leading dimensions: rows = numel(X) / n_in.
 *
 * LINEAR_TIED(X, E): Y = act(X W_E^T + b), the decoder layer of an
 * autoencoder with tied weights (seed 002, section 9): W_E (units, n_in) is
 * the weight of the dense layer E, the same floats (compile shares them,
 * src/graph.c), and its gradient is the sum of both layers' terms; b is the
 * tied layer's own. E's output is an input only to name E and order it
 * first: it is not read and gets no gradient.
 *
 * Backward (seed 000, section 4), with dZ = dY * act'(Y):
 *   dW += X^T dZ,  db += sum_rows dZ,  dX += dZ W^T
 * where each += is an = for a gradient the executor marks fresh (the op
 * has DN_OPF_BWD_FRESH): in a chain of dense layers no gradient buffer is
 * zeroed before it is written. dZ and db come from one pass over dY.
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"
#include "fastmath.h"

/* The attributes every dense layer checks: units and a fusable activation. */
dn_status dn_dense_attrs_check(dn_node *node)
{
    const dn_attrs *a = &node->attrs;
    if (a->units < 1)
        return dn_fail_node(node, DN_ERR_INVALID, "units must be >= 1, got %lld",
                            (long long)a->units);
    if (!dn_act_fusable(a->act))
        return dn_fail_node(node, DN_ERR_INVALID, "activation '%s' cannot be fused into a dense "
                            "layer; add it as a separate activation node", dn_act_name(a->act));
    if ((a->act == DN_ACT_LEAKY_RELU || a->act == DN_ACT_ELU) &&
        !(a->alpha >= 0.0f && isfinite(a->alpha)))
        return dn_fail_node(node, DN_ERR_INVALID, "%s needs alpha >= 0 (its gradient is computed "
                            "from the output), got %g", dn_act_name(a->act), (double)a->alpha);
    return DN_OK;
}

/* Checks and output shape common to LINEAR and LINEAR_TIED; *n_in out. */
static dn_status dense_infer(dn_node *node, int64_t *n_in_out)
{
    const dn_attrs *a = &node->attrs;
    const dn_shape *in = &node->in_shape[0];
    if (in->ndim < 1)
        return dn_fail_node(node, DN_ERR_INVALID, "a dense layer needs inputs with a feature "
                            "dimension; flatten or reshape scalar samples to (1,) first");
    dn_status s = dn_dense_attrs_check(node);
    if (s) return s;
    int64_t n_in = in->dims[in->ndim - 1];
    if (n_in < 1)
        return dn_fail_node(node, DN_ERR_INVALID, "the input has 0 features");
    node->shape = *in;
    node->shape.dims[in->ndim - 1] = a->units;
    node->batched = node->in_batched[0];
    *n_in_out = n_in;
    return DN_OK;
}

static dn_status linear_infer(dn_node *node)
{
    const dn_attrs *a = &node->attrs;
    int64_t n_in = 0;
    dn_status s = dense_infer(node, &n_in);
    if (s) return s;
    dn_shape w = {2, {n_in, a->units}};
    dn_shape b = {1, {a->units}};
    dn_node_param(node, "weight", &w, a->w_init, a->w_scale, n_in, a->units, 1, 1, 1);
    if (a->use_bias)
        dn_node_param(node, "bias", &b, a->b_init, a->b_scale, n_in, a->units, 1, 0, 0);
    return DN_OK;
}

/* W_E has the transposed shape (units, n_in); its bias is declared after
 * it, at index 1, as LINEAR's. */
static dn_status linear_tied_infer(dn_node *node)
{
    const dn_attrs *a = &node->attrs;
    int64_t n_in = 0;
    if (node->n_in != 2)
        return dn_fail_node(node, DN_ERR_INVALID, "a tied dense layer takes (X, the dense layer "
                            "whose weight it uses), got %d inputs", node->n_in);
    dn_status s = dense_infer(node, &n_in);
    if (s) return s;
    dn_shape w = {2, {a->units, n_in}};
    dn_shape b = {1, {a->units}};
    dn_node_param_shared(node, "weight", &w, 1);
    if (a->use_bias)
        dn_node_param(node, "bias", &b, a->b_init, a->b_scale, n_in, a->units, 1, 0, 0);
    return DN_OK;
}

/* Sizes: rows of X, n_in, units. */
static void linear_sizes(const dn_ctx *c, int64_t *rows, int64_t *n_in, int64_t *units)
{
    const dn_node *nd = c->node;
    *n_in = nd->in_shape[0].dims[nd->in_shape[0].ndim - 1];
    *units = nd->attrs.units;
    *rows = dn_node_in_numel(nd, 0, c->n) / *n_in;
}


static int is_tied(const dn_ctx *c) { return c->node->op == DN_OP_LINEAR_TIED; }

// out (rows, units), in X (rows, n_in), param W (n_in, units) or, tied,
// (units, n_in), b (units)
static void linear_forward_with(const dn_ctx *c, dn_gemm_fn gemm)
{
    int64_t rows, n_in, units;
    linear_sizes(c, &rows, &n_in, &units);
    dn_gemm_epilogue ep = {c->node->attrs.use_bias ? c->param[1] : NULL, c->node->attrs.act,
                           c->node->attrs.alpha};
    int t = is_tied(c);
    gemm(0, t, rows, units, n_in, 1.0f, c->in[0], n_in, c->param[0], t ? n_in : units, 0.0f,
         c->out, units, &ep, c->nthreads);
}

/* Columns per block of the pass over dZ, and the elements of dZ below
 * which it stays on one thread. */
#define DZ_BLOCK 128
#define DZ_PAR_MIN 65536

/* db (len) += x (len) */
DN_TARGET_CLONES
static void add_row(float *restrict db, const float *restrict x, int64_t len)
{
    for (int64_t j = 0; j < len; j++) db[j] += x[j];
}

/* ReLU over one column block: g = g [y > 0] (the product, as
 * dn_act_backward_from_out computes it) and db (len) += g, row after row;
 * y and g have rows of ld floats. */
DN_TARGET_CLONES
static void relu_block(const float *restrict y, float *restrict g, float *restrict db,
                       int64_t rows, int64_t ld, int64_t len)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * ld;
        float *gr = g + r * ld;
        for (int64_t j = 0; j < len; j++) {
            float v = gr[j] * select_f(yr[j] > 0.0f, 1.0f, 0.0f);
            gr[j] = v;
            db[j] += v;
        }
    }
}

/* One pass over dY (rows, units), overwritten by dZ = dY act'(Y) from the
 * output Y (rows, units); with db, db (units) += column sums of dZ (db = the
 * sums when fresh), rows added in order. A block of columns is finished
 * row after row while its rows of dZ sit in L1; threads take whole blocks,
 * so every sum has the same order for any thread count. */
static void dz_and_bias_grad(dn_act act, float alpha, const float *y, float *dz, float *db,
                             int fresh, int64_t rows, int64_t units, int nthreads)
{
    if (!db) {
        dn_act_backward_from_out(act, alpha, y, dz, rows * units);
        return;
    }
    const int64_t nblk = (units + DZ_BLOCK - 1) / DZ_BLOCK;
    const int nt = nthreads > 1 && nblk > 1 && rows * units >= DZ_PAR_MIN
                       ? (int)DN_MIN((int64_t)nthreads, nblk) : 1;
    (void)nt;
    #pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t jb = 0; jb < nblk; jb++) {
        const int64_t j0 = jb * DZ_BLOCK, len = DN_MIN((int64_t)DZ_BLOCK, units - j0);
        if (fresh) memset(db + j0, 0, (size_t)len * sizeof(float));
        if (act == DN_ACT_RELU) {
            relu_block(y + j0, dz + j0, db + j0, rows, units, len);
            continue;
        }
        for (int64_t r = 0; r < rows; r++) {
            float *row = dz + r * units + j0;
            dn_act_backward_from_out(act, alpha, y + r * units + j0, row, len);
            add_row(db + j0, row, len);
        }
    }
}

/* The same from the definitions, column by column. */
static void dz_and_bias_grad_ref(dn_act act, float alpha, const float *y, float *dz,
                                 float *db, int fresh, int64_t rows, int64_t units)
{
    dn_act_backward_from_out(act, alpha, y, dz, rows * units);
    if (!db) return;
    for (int64_t j = 0; j < units; j++) {
        float s = fresh ? 0.0f : db[j];
        for (int64_t r = 0; r < rows; r++) s += dz[r * units + j];
        db[j] = s;
    }
}

/* gout (rows, units) overwritten by dZ; gin X (rows, n_in); gparam dW
 * (n_in, units), db (units). Adds into the gradients, or writes those the
 * executor marks fresh (DN_OPF_BWD_FRESH). Tied: dW (units, n_in) += dZ^T X
 * and dX += dZ W. */
static void linear_backward_with(const dn_ctx *c, dn_gemm_fn gemm, int ref)
{
    int64_t rows, n_in, units;
    linear_sizes(c, &rows, &n_in, &units);
    float *dz = c->gout;
    const dn_attrs *a = &c->node->attrs;
    float *db = a->use_bias ? c->gparam[1] : NULL;
    int db_fresh = (c->gparam_fresh >> 1) & 1;
    if (ref)
        dz_and_bias_grad_ref(a->act, a->alpha, c->out, dz, db, db_fresh, rows, units);
    else
        dz_and_bias_grad(a->act, a->alpha, c->out, dz, db, db_fresh, rows, units, c->nthreads);
    float wbeta = (c->gparam_fresh & 1) ? 0.0f : 1.0f, xbeta = (c->gin_fresh & 1) ? 0.0f : 1.0f;
    if (is_tied(c)) {
        if (c->gparam[0])
            gemm(1, 0, units, n_in, rows, 1.0f, dz, units, c->in[0], n_in, wbeta, c->gparam[0],
                 n_in, NULL, c->nthreads);
        if (c->gin[0])
            gemm(0, 0, rows, n_in, units, 1.0f, dz, units, c->param[0], n_in, xbeta, c->gin[0],
                 n_in, NULL, c->nthreads);
        return;
    }
    if (c->gparam[0])
        gemm(1, 0, n_in, units, rows, 1.0f, c->in[0], n_in, dz, units, wbeta, c->gparam[0],
             units, NULL, c->nthreads);
    if (c->gin[0])
        gemm(0, 1, rows, n_in, units, 1.0f, dz, units, c->param[0], units, xbeta, c->gin[0],
             n_in, NULL, c->nthreads);
}

static void linear_forward(const dn_ctx *c) { linear_forward_with(c, dn_sgemm_run); }
static void linear_backward(const dn_ctx *c) { linear_backward_with(c, dn_sgemm_run, 0); }
static void linear_forward_ref(const dn_ctx *c) { linear_forward_with(c, dn_sgemm_ref_mt); }
static void linear_backward_ref(const dn_ctx *c) { linear_backward_with(c, dn_sgemm_ref_mt, 1); }

const dn_op_def dn_opdef_linear = {
    DN_OP_LINEAR, "linear", 1, 1, DN_OPF_BWD_IN0 | DN_OPF_BWD_OUT | DN_OPF_BWD_FRESH, linear_infer,
    linear_forward, linear_backward, linear_forward_ref, linear_backward_ref};

const dn_op_def dn_opdef_linear_tied = {
    DN_OP_LINEAR_TIED, "linear_tied", 2, 2,
    DN_OPF_BWD_IN0 | DN_OPF_BWD_OUT | DN_OPF_BWD_FRESH | DN_OPF_NO_GRAD_IN1, linear_tied_infer,
    linear_forward, linear_backward, linear_forward_ref, linear_backward_ref};
