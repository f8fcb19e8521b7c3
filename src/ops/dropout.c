/* The ops that corrupt their input during training only and are the
 * identity at inference: DROPOUT, and the corruptions of a denoising
 * autoencoder (seed 003, section 11.2.2), MASKING_NOISE and GAUSSIAN_NOISE.
 *
 * DROPOUT: inverted dropout.
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
 *
 * MASKING_NOISE is the same draw and mask without the rescaling: the
 * corruption C(x~ | x) of seed 003 section 11.2.2 that sets a random
 * fraction `rate` of the inputs to 0 and leaves the others as they are.
 *
 * GAUSSIAN_NOISE adds scale z, z standard normal drawn at element i of
 * (ctx->seed, ctx->stream) (rng.h's dn_rng_normal), the isotropic Gaussian
 * corruption of seed 003 section 11.2.2; its gradient is the identity.
 */
#include <math.h>
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
        return dn_fail_node(node, DN_ERR_INVALID, "%s takes 1 input, got %d",
                            dn_op_name(node->op), node->n_in);
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

/* Of kept units: DROPOUT 1 / (1 - rate), MASKING_NOISE 1; the same in the
 * fast and reference kernels. */
static float keep_scale(const dn_node *node)
{
    if (node->op == DN_OP_MASKING_NOISE) return 1.0f;
    return (float)(1.0 / (1.0 - (double)node->attrs.rate));
}

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
    float rate = node->attrs.rate, scale = keep_scale(node);
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
    float scale = keep_scale(node);
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
    float rate = node->attrs.rate, scale = keep_scale(node);
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
    float scale = keep_scale(node);
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

const dn_op_def dn_opdef_masking_noise = {
    DN_OP_MASKING_NOISE, "masking_noise", 1, 1, 0,
    dropout_infer, dropout_forward, dropout_backward,
    dropout_forward_ref, dropout_backward_ref};

/* --- GAUSSIAN_NOISE -------------------------------------------------------- */

static dn_status gaussian_noise_infer(dn_node *node)
{
    float std = node->attrs.scale;
    if (node->n_in != 1)
        return dn_fail_node(node, DN_ERR_INVALID, "gaussian_noise takes 1 input, got %d",
                            node->n_in);
    if (!(std >= 0.0f && std < INFINITY))
        return dn_fail_node(node, DN_ERR_INVALID, "scale is %g; the standard deviation of "
                            "the noise must be finite and >= 0", (double)std);
    node->shape = node->in_shape[0];
    node->batched = node->in_batched[0];
    return DN_OK;
}

/* out (n) = x (n) + std * out (n), out holding standard normal draws. */
DN_TARGET_CLONES
static void add_scaled(const float *x, float *out, int64_t n, float std)
{
    for (int64_t i = 0; i < n; i++) out[i] = x[i] + std * out[i];
}

/* out (n, ...) = x (n, ...) + scale z; chunks of even length, so that the
 * pairs of Box-Muller words are those of one call over the whole tensor. */
static void gaussian_noise_forward(const dn_ctx *c)
{
    const dn_node *node = c->node;
    int64_t total = dn_node_out_numel(node, c->n);
    float std = node->attrs.scale;
    if (!c->training || std == 0.0f) {
        if (c->out != c->in[0]) memmove(c->out, c->in[0], (size_t)total * sizeof(float));
        return;
    }
    int64_t nchunks = (total + DROP_CHUNK - 1) / DROP_CHUNK;
#pragma omp parallel for num_threads(c->nthreads) if(total >= DROP_PAR_MIN) schedule(static)
    for (int64_t k = 0; k < nchunks; k++) {
        int64_t b = k * DROP_CHUNK, len = DN_MIN((int64_t)DROP_CHUNK, total - b);
        dn_rng_normal(c->seed, c->stream, (uint64_t)b, c->out + b, len);
        add_scaled(c->in[0] + b, c->out + b, len, std);
    }
}

/* gin (n, ...) += gout (n, ...): the noise does not depend on the input. */
static void gaussian_noise_backward(const dn_ctx *c)
{
    int64_t total = dn_node_out_numel(c->node, c->n);
    if (!c->gin[0]) return;
    for (int64_t i = 0; i < total; i++) c->gin[0][i] += c->gout[i];
}

/* Reference: the draws of one call over the whole tensor, added in double. */
static void gaussian_noise_forward_ref(const dn_ctx *c)
{
    int64_t total = dn_node_out_numel(c->node, c->n);
    double std = c->node->attrs.scale;
    if (c->training && std != 0.0)
        dn_rng_normal(c->seed, c->stream, 0, c->out, total);
    for (int64_t i = 0; i < total; i++)
        c->out[i] = c->training && std != 0.0 ? (float)((double)c->in[0][i] + std * c->out[i])
                                              : c->in[0][i];
}

const dn_op_def dn_opdef_gaussian_noise = {
    DN_OP_GAUSSIAN_NOISE, "gaussian_noise", 1, 1, 0,
    gaussian_noise_infer, gaussian_noise_forward, gaussian_noise_backward,
    gaussian_noise_forward_ref, gaussian_noise_backward};
