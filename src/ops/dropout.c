/* DROPOUT: inverted dropout.
 *
 * Seed 000 (sections 6.4 and 9.1) multiplies by a 0-1 mask B during
 * training and by the keep probability at inference. dagnet scales the kept
 * units by 1 / (1 - rate) during training and is the identity at
 * inference: since E[B] = 1 - rate, both give the same expected output in
 * training and the same network at inference, and the inverted form leaves
 * inference untouched.
 *
 * The keep mask is element i kept when u_i >= rate, u_i the uniform draw at
 * position i of (ctx->seed, ctx->stream) (the stream is new in every run),
 * so it depends neither on threads nor on chunking. The mask (0 or 1) is
 * kept in ctx->saved for backward (seed 000, 9.1: dL/dX = dL/dD * B, with
 * the 1 / (1 - rate) scale here). Without training, or with rate 0, the op
 * copies its input and backward passes the gradient through. Backward must
 * run with the same ctx->training as the forward it follows.
 */
#include "internal.h"
#include "fastmath.h"

/* Elements per chunk of the threaded loops; smaller outputs stay on one
 * thread. */
#define DROP_CHUNK 16384
#define DROP_PAR_MIN 65536

static dn_status dropout_infer(dn_node *node)
{
    float rate = node->attrs.rate;
    if (node->n_in != 1)
        return dn_fail_node(node, DN_ERR_INVALID, "dropout takes 1 input, got %d",
                            node->n_in);
    if (!(rate >= 0.0f && rate < 1.0f))
        return dn_fail_node(node, DN_ERR_INVALID,
                            "rate is %g; the probability of dropping a unit must be "
                            "in [0, 1)", (double)rate);
    node->shape = node->in_shape[0];
    node->batched = node->in_batched[0];
    int64_t m = rate > 0.0f ? dn_shape_numel(&node->shape) : 0;
    if (node->batched)
        node->saved_per_sample = m;
    else
        node->saved_fixed = m;
    return DN_OK;
}

static int dropout_active(const dn_ctx *c)
{
    return c->training && c->node->attrs.rate > 0.0f;
}

/* 1 / (1 - rate), the same in the fast and reference kernels. */
static float keep_scale(float rate) { return (float)(1.0 / (1.0 - (double)rate)); }

/* The kernels compare and select on float bits (fastmath.h): for
 * non-negative floats the integer order is the float order. */

/* mask (n): uniform draws in [0, 1) in, 0 or 1 out (kept when u >= rate);
 * out (n) = x (n) * scale where kept, else 0. */
DN_TARGET_CLONES
static void apply_mask(const float *x, float *mask, float *out, int64_t n,
                       float rate, float scale)
{
    const int32_t rate_bits = float_bits(rate);
    for (int64_t i = 0; i < n; i++) {
        int32_t keep = float_bits(mask[i]) >= rate_bits;
        float y = x[i] * scale;
        mask[i] = (float)keep;
        out[i] = bits_float(float_bits(y) & -keep);
    }
}

/* gin (n) += g (n) * scale where mask (n) is 1. */
DN_TARGET_CLONES
static void add_masked(float *gin, const float *g, const float *mask, int64_t n,
                       float scale)
{
    for (int64_t i = 0; i < n; i++) {
        float y = g[i] * scale;
        gin[i] += bits_float(float_bits(y) & -(float_bits(mask[i]) != 0));
    }
}

/* out (n, ...) = x (n, ...) * mask * scale; saved mask (n, ...). */
static void dropout_forward(const dn_ctx *c)
{
    const dn_node *node = c->node;
    int64_t total = dn_node_out_numel(node, c->n);
    if (!dropout_active(c)) {
        if (c->out != c->in[0]) memmove(c->out, c->in[0], (size_t)total * sizeof(float));
        return;
    }
    float rate = node->attrs.rate, scale = keep_scale(rate);
    int64_t nchunks = (total + DROP_CHUNK - 1) / DROP_CHUNK;
#pragma omp parallel for num_threads(c->nthreads) if(total >= DROP_PAR_MIN) schedule(static)
    for (int64_t k = 0; k < nchunks; k++) {
        int64_t b = k * DROP_CHUNK, len = DN_MIN((int64_t)DROP_CHUNK, total - b);
        dn_rng_uniform(c->seed, c->stream, (uint64_t)b, c->saved + b, len);
        apply_mask(c->in[0] + b, c->saved + b, c->out + b, len, rate, scale);
    }
}

/* gin (n, ...) += gout (n, ...) * mask * scale. */
static void dropout_backward(const dn_ctx *c)
{
    const dn_node *node = c->node;
    int64_t total = dn_node_out_numel(node, c->n);
    if (!c->gin[0]) return;
    if (!dropout_active(c)) {
        for (int64_t i = 0; i < total; i++) c->gin[0][i] += c->gout[i];
        return;
    }
    float scale = keep_scale(node->attrs.rate);
    int64_t nchunks = (total + DROP_CHUNK - 1) / DROP_CHUNK;
#pragma omp parallel for num_threads(c->nthreads) if(total >= DROP_PAR_MIN) schedule(static)
    for (int64_t k = 0; k < nchunks; k++) {
        int64_t b = k * DROP_CHUNK, len = DN_MIN((int64_t)DROP_CHUNK, total - b);
        add_masked(c->gin[0] + b, c->gout + b, c->saved + b, len, scale);
    }
}

/* Reference: out (n, ...), saved mask (n, ...), x (n, ...); one draw per
 * element with dn_rng_u32. */
static void dropout_forward_ref(const dn_ctx *c)
{
    const dn_node *node = c->node;
    int64_t total = dn_node_out_numel(node, c->n);
    int active = dropout_active(c);
    float rate = node->attrs.rate, scale = keep_scale(rate);
    for (int64_t i = 0; i < total; i++) {
        float x = c->in[0][i];
        if (!active) {
            c->out[i] = x;
            continue;
        }
        float u = dn_u32_to_unit(dn_rng_u32(c->seed, c->stream, (uint64_t)i));
        c->saved[i] = u >= rate ? 1.0f : 0.0f;
        c->out[i] = c->saved[i] != 0.0f ? x * scale : 0.0f;
    }
}

/* Reference: gin (n, ...) += gout (n, ...) * mask * scale. */
static void dropout_backward_ref(const dn_ctx *c)
{
    const dn_node *node = c->node;
    int64_t total = dn_node_out_numel(node, c->n);
    int active = dropout_active(c);
    float scale = keep_scale(node->attrs.rate);
    if (!c->gin[0]) return;
    for (int64_t i = 0; i < total; i++) {
        if (!active)
            c->gin[0][i] += c->gout[i];
        else
            c->gin[0][i] += c->saved[i] != 0.0f ? c->gout[i] * scale : 0.0f;
    }
}

const dn_op_def dn_opdef_dropout = {
    DN_OP_DROPOUT, "dropout", 1, 1, 0,
    dropout_infer, dropout_forward, dropout_backward,
    dropout_forward_ref, dropout_backward_ref};
