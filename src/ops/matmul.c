/* MATMUL: per-sample C = op(A) op(B) over matching leading dimensions
 * (attention scores, attention-weighted values). A is batched, (n, ..., m, k)
 * (or (n, ..., k, m) with trans_a); B is batched with the same leading
 * dimensions, or unbatched (k, n) shared by every matrix of A.
 *
 * With op(X) = X or X^T, backward (seed 000, section 4):
 *   trans_a = 0: dA += dC op(B)^T       trans_a = 1: dA += op(B) dC^T
 *   trans_b = 0: dB += op(A)^T dC       trans_b = 1: dB += dC^T op(A)
 */
#include <stdio.h>
#include "internal.h"

typedef struct mm_dims {
    int64_t count;      /* matrices */
    int64_t m, k, n;    /* op(A) m x k, op(B) k x n */
    int64_t a_rows, a_cols, b_rows, b_cols;
    int b_shared;
} mm_dims;

static void mm_get(const dn_node *nd, int64_t batch, mm_dims *d)
{
    dn_shape a = dn_node_in_full(nd, 0, batch), b = dn_node_in_full(nd, 1, batch);
    d->a_rows = a.dims[a.ndim - 2];
    d->a_cols = a.dims[a.ndim - 1];
    d->b_rows = b.dims[b.ndim - 2];
    d->b_cols = b.dims[b.ndim - 1];
    d->m = nd->attrs.trans_a ? d->a_cols : d->a_rows;
    d->k = nd->attrs.trans_a ? d->a_rows : d->a_cols;
    d->n = nd->attrs.trans_b ? d->b_rows : d->b_cols;
    d->count = 1;
    for (int i = 0; i < a.ndim - 2; i++) d->count *= a.dims[i];
    d->b_shared = !nd->in_batched[1];
}

static dn_status matmul_infer(dn_node *node)
{
    char sa[96], sb[96];
    dn_shape_format(&node->in_shape[0], sa, sizeof sa);
    dn_shape_format(&node->in_shape[1], sb, sizeof sb);
    if (!node->in_batched[0] || node->in_shape[0].ndim < 2)
        return dn_fail_node(node, DN_ERR_INVALID, "input A must be batched with per-sample shape "
                            "(..., m, k), got %s", sa);
    const dn_shape *A = &node->in_shape[0], *B = &node->in_shape[1];
    if (node->in_batched[1]) {
        if (B->ndim != A->ndim)
            return dn_fail_node(node, DN_ERR_INVALID, "A %s and B %s need the same number of "
                                "dimensions", sa, sb);
        for (int i = 0; i < A->ndim - 2; i++)
            if (A->dims[i] != B->dims[i])
                return dn_fail_node(node, DN_ERR_INVALID, "the leading dimensions of A %s and "
                                    "B %s differ", sa, sb);
    } else if (B->ndim != 2) {
        return dn_fail_node(node, DN_ERR_INVALID, "an unbatched B must be a matrix (k, n), got %s", sb);
    }
    int64_t ka = node->attrs.trans_a ? A->dims[A->ndim - 2] : A->dims[A->ndim - 1];
    int64_t m = node->attrs.trans_a ? A->dims[A->ndim - 1] : A->dims[A->ndim - 2];
    int64_t kb = node->attrs.trans_b ? B->dims[B->ndim - 1] : B->dims[B->ndim - 2];
    int64_t n = node->attrs.trans_b ? B->dims[B->ndim - 2] : B->dims[B->ndim - 1];
    if (ka != kb)
        return dn_fail_node(node, DN_ERR_INVALID, "inner dimensions differ: op(A) from %s has %lld "
                            "columns, op(B) from %s has %lld rows", sa, (long long)ka, sb,
                            (long long)kb);
    node->shape = *A;
    node->shape.dims[A->ndim - 2] = m;
    node->shape.dims[A->ndim - 1] = n;
    node->batched = 1;
    return DN_OK;
}


// out C (count, m, n), in A (count, a_rows, a_cols), B (count or 1, b_rows, b_cols)
static void matmul_forward_with(const dn_ctx *c, dn_gemm_fn gemm)
{
    mm_dims d;
    mm_get(c->node, c->n, &d);
    int ta = c->node->attrs.trans_a, tb = c->node->attrs.trans_b;
    for (int64_t i = 0; i < d.count; i++) {
        const float *A = c->in[0] + i * d.a_rows * d.a_cols;
        const float *B = c->in[1] + (d.b_shared ? 0 : i * d.b_rows * d.b_cols);
        gemm(ta, tb, d.m, d.n, d.k, 1.0f, A, d.a_cols, B, d.b_cols, 0.0f,
             c->out + i * d.m * d.n, d.n, NULL, c->nthreads);
    }
}

static void matmul_backward_with(const dn_ctx *c, dn_gemm_fn gemm)
{
    mm_dims d;
    mm_get(c->node, c->n, &d);
    int ta = c->node->attrs.trans_a, tb = c->node->attrs.trans_b;
    for (int64_t i = 0; i < d.count; i++) {
        const float *A = c->in[0] + i * d.a_rows * d.a_cols;
        const float *B = c->in[1] + (d.b_shared ? 0 : i * d.b_rows * d.b_cols);
        const float *dC = c->gout + i * d.m * d.n;
        if (c->gin[0]) {
            float *dA = c->gin[0] + i * d.a_rows * d.a_cols;
            if (!ta) gemm(0, !tb, d.m, d.k, d.n, 1.0f, dC, d.n, B, d.b_cols, 1.0f, dA, d.a_cols, NULL, c->nthreads);
            else gemm(tb, 1, d.k, d.m, d.n, 1.0f, B, d.b_cols, dC, d.n, 1.0f, dA, d.a_cols, NULL, c->nthreads);
        }
        if (c->gin[1]) {
            float *dB = c->gin[1] + (d.b_shared ? 0 : i * d.b_rows * d.b_cols);
            if (!tb) gemm(!ta, 0, d.k, d.n, d.m, 1.0f, A, d.a_cols, dC, d.n, 1.0f, dB, d.b_cols, NULL, c->nthreads);
            else gemm(1, ta, d.n, d.k, d.m, 1.0f, dC, d.n, A, d.a_cols, 1.0f, dB, d.b_cols, NULL, c->nthreads);
        }
    }
}

static void matmul_forward(const dn_ctx *c) { matmul_forward_with(c, dn_sgemm); }
static void matmul_backward(const dn_ctx *c) { matmul_backward_with(c, dn_sgemm); }
static void matmul_forward_ref(const dn_ctx *c) { matmul_forward_with(c, dn_sgemm_ref_mt); }
static void matmul_backward_ref(const dn_ctx *c) { matmul_backward_with(c, dn_sgemm_ref_mt); }

const dn_op_def dn_opdef_matmul = {
    DN_OP_MATMUL, "matmul", 2, 2, DN_OPF_BWD_IN0 | DN_OPF_BWD_IN1, matmul_infer,
    matmul_forward, matmul_backward, matmul_forward_ref, matmul_backward_ref};
