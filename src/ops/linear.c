/* LINEAR: Y = act(X W + b), the dense layer in the row-vector form of
 * seed 000 section 9.1 (W of shape (n_in, units), scikit-learn's coefs_
 * layout). X may have any leading dimensions: rows = numel(X) / n_in.
 *
 * Backward (seed 000, section 4), with dZ = dY * act'(Y):
 *   dW += X^T dZ,  db += sum_rows dZ,  dX += dZ W^T
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"

static dn_status linear_infer(dn_node *node)
{
    const dn_attrs *a = &node->attrs;
    const dn_shape *in = &node->in_shape[0];
    if (in->ndim < 1)
        return dn_fail_node(node, DN_ERR_INVALID, "a dense layer needs inputs with a feature "
                            "dimension; flatten or reshape scalar samples to (1,) first");
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
    int64_t n_in = in->dims[in->ndim - 1];
    if (n_in < 1)
        return dn_fail_node(node, DN_ERR_INVALID, "the input has 0 features");
    node->shape = *in;
    node->shape.dims[in->ndim - 1] = a->units;
    node->batched = node->in_batched[0];
    dn_shape w = {2, {n_in, a->units}};
    dn_shape b = {1, {a->units}};
    dn_node_param(node, "weight", &w, a->w_init, a->w_scale, n_in, a->units, 1, 1, 1);
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


// out (rows, units), in X (rows, n_in), param W (n_in, units), b (units)
static void linear_forward_with(const dn_ctx *c, dn_gemm_fn gemm)
{
    int64_t rows, n_in, units;
    linear_sizes(c, &rows, &n_in, &units);
    dn_gemm_epilogue ep = {c->node->attrs.use_bias ? c->param[1] : NULL, c->node->attrs.act,
                           c->node->attrs.alpha};
    gemm(0, 0, rows, units, n_in, 1.0f, c->in[0], n_in, c->param[0], units, 0.0f, c->out, units,
         &ep, c->nthreads);
}

/* db += column sums of dZ (rows, units), rows summed in order for every
 * thread count; threads split the columns. */
static void bias_grad(const float *dz, float *db, int64_t rows, int64_t units, int nthreads)
{
    int64_t block = 256;
    int64_t nblk = (units + block - 1) / block;
    #pragma omp parallel for num_threads(nthreads) if (nthreads > 1 && nblk > 1 && rows * units > 65536)
    for (int64_t jb = 0; jb < nblk; jb++) {
        int64_t j0 = jb * block, j1 = DN_MIN(units, j0 + block);
        for (int64_t r = 0; r < rows; r++) {
            const float *row = dz + r * units;
            for (int64_t j = j0; j < j1; j++) db[j] += row[j];
        }
    }
}

// gout (rows, units) overwritten by dZ; gin X (rows, n_in); gparam dW (n_in, units), db (units)
static void linear_backward_with(const dn_ctx *c, dn_gemm_fn gemm)
{
    int64_t rows, n_in, units;
    linear_sizes(c, &rows, &n_in, &units);
    float *dz = c->gout;
    dn_act_backward_from_out(c->node->attrs.act, c->node->attrs.alpha, c->out, dz, rows * units);
    if (c->gparam[0])
        gemm(1, 0, n_in, units, rows, 1.0f, c->in[0], n_in, dz, units, 1.0f, c->gparam[0], units,
             NULL, c->nthreads);
    if (c->node->attrs.use_bias && c->gparam[1])
        bias_grad(dz, c->gparam[1], rows, units, c->nthreads);
    if (c->gin[0])
        gemm(0, 1, rows, n_in, units, 1.0f, dz, units, c->param[0], units, 1.0f, c->gin[0], n_in,
             NULL, c->nthreads);
}

static void linear_forward(const dn_ctx *c) { linear_forward_with(c, dn_sgemm); }
static void linear_backward(const dn_ctx *c) { linear_backward_with(c, dn_sgemm); }
static void linear_forward_ref(const dn_ctx *c) { linear_forward_with(c, dn_sgemm_ref_mt); }
static void linear_backward_ref(const dn_ctx *c) { linear_backward_with(c, dn_sgemm_ref_mt); }

const dn_op_def dn_opdef_linear = {
    DN_OP_LINEAR, "linear", 1, 1, DN_OPF_BWD_IN0 | DN_OPF_BWD_OUT, linear_infer,
    linear_forward, linear_backward, linear_forward_ref, linear_backward_ref};
