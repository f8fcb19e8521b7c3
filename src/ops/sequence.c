/* Sequence helpers: the mask of padded steps and the embedding of tokens.
 *
 * SEQUENCE_MASK(X): per sample X is (T, ...); the mask (T,) is 1 where some
 * element of step t differs from attrs.scale (the mask value) and 0 where
 * every element equals it (Keras' Masking). It carries no gradient: X's
 * gradient comes from its other consumers.
 *
 * EMBEDDING(ids): per sample ids (T,) are token numbers stored as floats
 * (exact below 2^24); out (T, units) row t = W[ids[t]] of the table W (vocab,
 * units). An id outside [0, vocab) or not a whole number gives a row of
 * zeros and no gradient (the layers check ids before running). Backward adds
 * each output row's gradient to its table row: rows are taken in order, and
 * threads split the columns, so the sums do not depend on the thread count.
 */
#include <math.h>
#include "internal.h"

static dn_status mask_infer(dn_node *node)
{
    const dn_shape *x = &node->in_shape[0];
    if (!node->in_batched[0] || x->ndim < 1)
        return dn_fail_node(node, DN_ERR_INVALID, "a sequence mask needs batched sequences "
                            "(steps, ...) per sample");
    node->shape.ndim = 1;
    node->shape.dims[0] = x->dims[0];
    node->batched = 1;
    node->saved_per_sample = node->saved_fixed = node->ws_per_sample = node->ws_fixed = 0;
    return DN_OK;
}

static void mask_forward(const dn_ctx *c)
{
    const int64_t T = c->node->in_shape[0].dims[0];
    const int64_t per = dn_shape_numel(&c->node->in_shape[0]) / (T > 0 ? T : 1);
    const float v = c->node->attrs.scale;
    for (int64_t r = 0; r < c->n * T; r++) {
        const float *x = c->in[0] + r * per;
        int any = 0;
        for (int64_t k = 0; k < per; k++) any |= x[k] != v;
        c->out[r] = any ? 1.0f : 0.0f;
    }
}

static void no_backward(const dn_ctx *c) { (void)c; }

const dn_op_def dn_opdef_sequence_mask = {
    DN_OP_SEQUENCE_MASK, "sequence_mask", 1, 1, 0, mask_infer,
    mask_forward, no_backward, mask_forward, no_backward};

/* --- EMBEDDING ------------------------------------------------------------- */

/* Columns per block of the backward's scatter. */
#define EMB_BLOCK 64
#define EMB_PAR_MIN 65536

static dn_status embedding_infer(dn_node *node)
{
    const dn_attrs *a = &node->attrs;
    const dn_shape *x = &node->in_shape[0];
    if (!node->in_batched[0] || x->ndim != 1)
        return dn_fail_node(node, DN_ERR_INVALID, "an embedding takes batched token ids of "
                            "shape (steps,) per sample");
    if (a->units < 1 || a->vocab < 1)
        return dn_fail_node(node, DN_ERR_INVALID, "an embedding needs vocab >= 1 and units >= 1, "
                            "got %lld and %lld", (long long)a->vocab, (long long)a->units);
    node->shape.ndim = 2;
    node->shape.dims[0] = x->dims[0];
    node->shape.dims[1] = a->units;
    node->batched = 1;
    dn_shape w = {2, {a->vocab, a->units}};
    dn_node_param(node, "embeddings", &w, a->w_init, a->w_scale, 1, a->units, 1, 1, 1);
    node->saved_per_sample = node->saved_fixed = node->ws_per_sample = node->ws_fixed = 0;
    return DN_OK;
}

/* The table row of an id, or -1. */
static int64_t row_of(float id, int64_t vocab)
{
    if (!(id >= 0.0f && id < (float)vocab) || id != floorf(id)) return -1;
    return (int64_t)id;
}

static void embedding_forward(const dn_ctx *c)
{
    const int64_t U = c->node->attrs.units, V = c->node->attrs.vocab;
    const int64_t rows = c->n * c->node->in_shape[0].dims[0];
    for (int64_t r = 0; r < rows; r++) {
        int64_t k = row_of(c->in[0][r], V);
        if (k < 0)
            memset(c->out + r * U, 0, (size_t)U * sizeof(float));
        else
            memcpy(c->out + r * U, c->param[0] + k * U, (size_t)U * sizeof(float));
    }
}

static void embedding_backward_cols(const dn_ctx *c, int64_t j0, int64_t j1)
{
    const int64_t U = c->node->attrs.units, V = c->node->attrs.vocab;
    const int64_t rows = c->n * c->node->in_shape[0].dims[0];
    for (int64_t r = 0; r < rows; r++) {
        int64_t k = row_of(c->in[0][r], V);
        if (k < 0) continue;
        float *w = c->gparam[0] + k * U;
        const float *g = c->gout + r * U;
        for (int64_t j = j0; j < j1; j++) w[j] += g[j];
    }
}

static void embedding_backward(const dn_ctx *c)
{
    if (!c->gparam[0]) return;
    const int64_t U = c->node->attrs.units;
    const int64_t rows = c->n * c->node->in_shape[0].dims[0];
    const int64_t nblk = (U + EMB_BLOCK - 1) / EMB_BLOCK;
    const int nt = c->nthreads > 1 && nblk > 1 && rows * U >= EMB_PAR_MIN
                       ? (int)DN_MIN((int64_t)c->nthreads, nblk) : 1;
    (void)nt;
    #pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t b = 0; b < nblk; b++)
        embedding_backward_cols(c, b * EMB_BLOCK, DN_MIN(U, (b + 1) * EMB_BLOCK));
}

static void embedding_backward_ref(const dn_ctx *c)
{
    if (c->gparam[0]) embedding_backward_cols(c, 0, c->node->attrs.units);
}

const dn_op_def dn_opdef_embedding = {
    DN_OP_EMBEDDING, "embedding", 1, 1, DN_OPF_BWD_IN0, embedding_infer,
    embedding_forward, embedding_backward, embedding_forward, embedding_backward_ref};
