/* The variational autoencoder's ops (seed 004, section 7.2.1; seed 003,
 * chapter 14):
 *
 * REPARAMETERIZE (mu, logvar) -> z = mu + exp(logvar / 2) * eps
 *   eps ~ N(0, I) is drawn in the core (Philox Box-Muller, rng.h): element i
 *   of the batch uses the normal at position i of a stream, so it depends
 *   neither on threads nor on chunking. In training the stream is the run's
 *   stream of the node (a new draw every run, like DROPOUT). At inference
 *   every sample uses the same fixed draw eps (J), the normals at positions
 *   0..J-1 of a stream fixed per node (its position in the order): each
 *   sample's z is still a draw from its posterior, and an inference forward
 *   is a deterministic function of each sample alone and the graph's seed,
 *   so a VAE's score_samples repeats for a fixed random_state and does not
 *   depend on the other samples of the batch or their order. Gradients reach
 *   the encoder through z (the checklist's erratum: mu and sigma are the
 *   encoder's): dz/dmu = 1, dz/dlogvar = exp(logvar / 2) eps / 2; forward
 *   saves d = exp(logvar / 2) eps for backward.
 *
 * GAUSSIAN_KL (mu, logvar) -> per sample (1,):
 *   KL(N(mu, diag exp(logvar)) || N(0, I))
 *     = 1/2 sum_j (mu_j^2 + exp(logvar_j) - logvar_j - 1)
 *   with the corrected sign of the seed 004 checklist (errata 13, 14): the
 *   notes' loss adds -KL; it is +KL, >= 0 and 0 exactly at N(0, I).
 *   Gradients: dKL/dmu = mu, dKL/dlogvar = (exp(logvar) - 1) / 2.
 *
 * VAE_LOSS (pred, target, sample_weight, penalty) -> scalar:
 *   sum_i w_i (l_i + beta penalty_i) / sum_i w_i, beta = attrs.scale, with
 *   l_i the reconstruction loss of include/dagnet/ops.h (attrs.loss MSE or
 *   BCE_LOGITS, fused with the output activation) and penalty (n, 1) the
 *   KL term: the negative ELBO, the one objective training minimises. The
 *   reconstruction and the KL are one loss node because a graph trains
 *   exactly one; the KL stays its own op so that it can be read, tested and
 *   weighted on its own. sample_weight sits in input 2 as with LOSS, so the
 *   training loop and the objective find it there. target and
 *   sample_weight get no gradient.
 *
 * Per-sample sums are taken in double in a fixed order, and batch sums add
 * the per-sample values in order, so results do not depend on threads.
 */
#include <math.h>
#include "internal.h"
#include "fastmath.h"

#define VAR_CHUNK 16384            /* elements per task of REPARAMETERIZE (even) */
#define VAR_PAR_MIN 65536          /* elements before threads are used */
#define DN_STREAM_REPARAM_EVAL 0x5245504152ull /* "REPAR" */

static int same_dims(const dn_shape *a, const dn_shape *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

/* (mu, logvar): two batched inputs of one shape. */
static dn_status check_mu_logvar(dn_node *node, const char *what)
{
    char a[96], b[96];
    if (node->n_in != 2)
        return dn_fail_node(node, DN_ERR_INVALID, "%s takes (mu, logvar), got %d inputs", what,
                            node->n_in);
    if (!node->in_batched[0] || !node->in_batched[1])
        return dn_fail_node(node, DN_ERR_INVALID, "%s needs batched mu and logvar", what);
    if (!same_dims(&node->in_shape[0], &node->in_shape[1])) {
        dn_shape_format(&node->in_shape[0], a, sizeof a);
        dn_shape_format(&node->in_shape[1], b, sizeof b);
        return dn_fail_node(node, DN_ERR_INVALID,
                            "mu has per-sample shape %s but logvar has %s; give both the "
                            "latent shape", a, b);
    }
    return DN_OK;
}

/* --- REPARAMETERIZE ---------------------------------------------------------- */

static dn_status reparam_infer(dn_node *node)
{
    dn_status s = check_mu_logvar(node, "reparameterize");
    if (s) return s;
    node->shape = node->in_shape[0];
    node->batched = 1;
    node->saved_per_sample = dn_shape_numel(&node->shape);
    return DN_OK;
}

static uint64_t reparam_stream(const dn_ctx *c)
{
    return c->training ? c->stream : DN_STREAM_REPARAM_EVAL ^ ((uint64_t)c->node->pos << 40);
}

/* d (n) = exp(lv / 2) * eps with eps (n) in d; z (n) = mu + d. */
DN_TARGET_CLONES
static void reparam_apply(const float *mu, const float *lv, float *d, float *z, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        d[i] *= exp_fast(0.5f * lv[i]);
        z[i] = mu[i] + d[i];
    }
}

/* saved (n, J) = the fixed inference draw, row after row. */
static void eval_draws(const dn_ctx *c)
{
    int64_t J = dn_shape_numel(&c->node->shape);
    dn_rng_normal(c->seed, reparam_stream(c), 0, c->saved, J);
    for (int64_t i = 1; i < c->n; i++)
        memcpy(c->saved + i * J, c->saved, (size_t)J * sizeof(float));
}

/* out z (n, ...), saved d (n, ...), in mu, logvar (n, ...). */
static void reparam_forward(const dn_ctx *c)
{
    int64_t total = dn_node_out_numel(c->node, c->n);
    uint64_t stream = reparam_stream(c);
    if (!c->training) eval_draws(c);
    int64_t nchunks = (total + VAR_CHUNK - 1) / VAR_CHUNK;
#pragma omp parallel for num_threads(c->nthreads) if(total >= VAR_PAR_MIN) schedule(static)
    for (int64_t k = 0; k < nchunks; k++) {
        int64_t b = k * VAR_CHUNK, len = DN_MIN((int64_t)VAR_CHUNK, total - b);
        /* element i uses the words at 2 (i / 2): chunks start at even i */
        if (c->training) dn_rng_normal(c->seed, stream, (uint64_t)b, c->saved + b, len);
        reparam_apply(c->in[0] + b, c->in[1] + b, c->saved + b, c->out + b, len);
    }
}

/* gmu += g; glogvar += g d / 2. */
static void reparam_backward(const dn_ctx *c)
{
    int64_t total = dn_node_out_numel(c->node, c->n);
    const float *g = c->gout, *d = c->saved;
    if (c->gin[0])
        for (int64_t i = 0; i < total; i++) c->gin[0][i] += g[i];
    if (c->gin[1])
        for (int64_t i = 0; i < total; i++) c->gin[1][i] += 0.5f * g[i] * d[i];
}

/* Reference: the same draws (one call), exp in double. */
static void reparam_forward_ref(const dn_ctx *c)
{
    int64_t total = dn_node_out_numel(c->node, c->n);
    if (c->training)
        dn_rng_normal(c->seed, reparam_stream(c), 0, c->saved, total);
    else
        eval_draws(c);
    for (int64_t i = 0; i < total; i++) {
        c->saved[i] = (float)(exp(0.5 * (double)c->in[1][i]) * c->saved[i]);
        c->out[i] = c->in[0][i] + c->saved[i];
    }
}

static void reparam_backward_ref(const dn_ctx *c)
{
    int64_t total = dn_node_out_numel(c->node, c->n);
    for (int64_t i = 0; i < total; i++) {
        if (c->gin[0]) c->gin[0][i] += c->gout[i];
        if (c->gin[1]) c->gin[1][i] += (float)(0.5 * (double)c->gout[i] * c->saved[i]);
    }
}

/* --- GAUSSIAN_KL ------------------------------------------------------------- */

static dn_status kl_infer(dn_node *node)
{
    dn_status s = check_mu_logvar(node, "gaussian_kl");
    if (s) return s;
    node->shape.ndim = 1;
    node->shape.dims[0] = 1;
    node->batched = 1;
    return DN_OK;
}

/* out (n, 1) = 1/2 sum_j (mu^2 + e^lv - lv - 1) over mu, logvar (n, J). */
static void kl_forward(const dn_ctx *c)
{
    int64_t n = c->n, J = dn_shape_numel(&c->node->in_shape[0]);
#pragma omp parallel for num_threads(c->nthreads) if(n * J >= VAR_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *mu = c->in[0] + i * J, *lv = c->in[1] + i * J;
        double s = 0.0;
        for (int64_t j = 0; j < J; j++)
            s += (double)(mu[j] * mu[j] + exp_fast(lv[j]) - lv[j] - 1.0f);
        c->out[i] = (float)(0.5 * s);
    }
}

/* gmu += g_i mu; glogvar += g_i (e^lv - 1) / 2. */
static void kl_backward(const dn_ctx *c)
{
    int64_t n = c->n, J = dn_shape_numel(&c->node->in_shape[0]);
#pragma omp parallel for num_threads(c->nthreads) if(n * J >= VAR_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *mu = c->in[0] + i * J, *lv = c->in[1] + i * J;
        float g = c->gout[i];
        if (c->gin[0])
            for (int64_t j = 0; j < J; j++) c->gin[0][i * J + j] += g * mu[j];
        if (c->gin[1])
            for (int64_t j = 0; j < J; j++)
                c->gin[1][i * J + j] += 0.5f * g * (exp_fast(lv[j]) - 1.0f);
    }
}

static void kl_forward_ref(const dn_ctx *c)
{
    int64_t n = c->n, J = dn_shape_numel(&c->node->in_shape[0]);
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < J; j++) {
            double mu = c->in[0][i * J + j], lv = c->in[1][i * J + j];
            s += mu * mu + exp(lv) - lv - 1.0;
        }
        c->out[i] = (float)(0.5 * s);
    }
}

static void kl_backward_ref(const dn_ctx *c)
{
    int64_t n = c->n, J = dn_shape_numel(&c->node->in_shape[0]);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < J; j++) {
            double g = c->gout[i], mu = c->in[0][i * J + j], lv = c->in[1][i * J + j];
            if (c->gin[0]) c->gin[0][i * J + j] += (float)(g * mu);
            if (c->gin[1]) c->gin[1][i * J + j] += (float)(0.5 * g * (exp(lv) - 1.0));
        }
}

/* --- VAE_LOSS ---------------------------------------------------------------- */

static dn_status vae_loss_infer(dn_node *node)
{
    char p[96], t[96];
    dn_loss loss = node->attrs.loss;
    if (node->n_in != 4)
        return dn_fail_node(node, DN_ERR_INVALID, "vae_loss takes (pred, target, sample_weight, "
                            "penalty), got %d inputs", node->n_in);
    if (loss != DN_LOSS_MSE && loss != DN_LOSS_BCE_LOGITS)
        return dn_fail_node(node, DN_ERR_INVALID, "vae_loss reconstructs with '%s'; use "
                            "'squared_error' (Gaussian decoder) or 'binary_cross_entropy' "
                            "(Bernoulli decoder)", dn_loss_name(loss));
    if (!(node->attrs.scale >= 0.0f) || !isfinite(node->attrs.scale))
        return dn_fail_node(node, DN_ERR_INVALID, "the penalty's weight (scale, beta) is %g; "
                            "it must be finite and >= 0", (double)node->attrs.scale);
    for (int i = 0; i < 4; i++)
        if (!node->in_batched[i])
            return dn_fail_node(node, DN_ERR_INVALID, "input %d has no batch dimension; all "
                                "four inputs must be batched", i);
    if (!same_dims(&node->in_shape[0], &node->in_shape[1])) {
        dn_shape_format(&node->in_shape[0], p, sizeof p);
        dn_shape_format(&node->in_shape[1], t, sizeof t);
        return dn_fail_node(node, DN_ERR_INVALID, "target has per-sample shape %s but pred has "
                            "%s; they must be equal", t, p);
    }
    for (int i = 2; i < 4; i++)
        if (dn_shape_numel(&node->in_shape[i]) != 1)
            return dn_fail_node(node, DN_ERR_INVALID, "%s must hold one value per sample, "
                                "shape (1,) or ()", i == 2 ? "sample_weight" : "penalty");
    memset(&node->shape, 0, sizeof node->shape);
    node->batched = 0;
    node->ws_per_sample = 1; /* the per-sample terms, added in order */
    return DN_OK;
}

/* sum_j l(z_j, t_j) over one sample's z, t (m), in double. */
static double sample_rec(dn_loss loss, const float *z, const float *t, int64_t m)
{
    double s = 0.0;
    if (loss == DN_LOSS_MSE)
        for (int64_t j = 0; j < m; j++) s += 0.5f * (z[j] - t[j]) * (z[j] - t[j]);
    else
        for (int64_t j = 0; j < m; j++) s += softplus_fast(z[j]) - t[j] * z[j];
    return s;
}

static double weight_sum(const float *w, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += w[i];
    return s;
}

/* out () = sum_i w_i (l_i + beta pen_i) / sum_i w_i over pred, target (n, m),
 * w, pen (n); the per-sample terms go to ws (n) and are added in order. */
static void vae_loss_forward(const dn_ctx *c)
{
    const dn_node *node = c->node;
    int64_t n = c->n, m = dn_shape_numel(&node->in_shape[0]);
    const float *w = c->in[2], *pen = c->in[3];
    double beta = node->attrs.scale, total = 0.0, wsum = weight_sum(w, n);
    float *per = c->ws;
#pragma omp parallel for num_threads(c->nthreads) if(n * m >= VAR_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        per[i] = (float)((double)w[i] * (sample_rec(node->attrs.loss, c->in[0] + i * m,
                                                    c->in[1] + i * m, m) + beta * pen[i]));
    for (int64_t i = 0; i < n; i++) total += per[i];
    c->out[0] = wsum > 0 ? (float)(total / wsum) : 0.0f;
}

/* gpred += g w_i / W dl/dz; gpen += g beta w_i / W. */
static void vae_loss_backward(const dn_ctx *c)
{
    const dn_node *node = c->node;
    int64_t n = c->n, m = dn_shape_numel(&node->in_shape[0]);
    const float *w = c->in[2];
    double wsum = weight_sum(w, n);
    float g = wsum > 0 ? (float)(c->gout[0] / wsum) : 0.0f, beta = node->attrs.scale;
    int bce = node->attrs.loss == DN_LOSS_BCE_LOGITS;
#pragma omp parallel for num_threads(c->nthreads) if(n * m >= VAR_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float s = g * w[i];
        const float *z = c->in[0] + i * m, *t = c->in[1] + i * m;
        float *gz = c->gin[0] ? c->gin[0] + i * m : NULL;
        if (gz && bce)
            for (int64_t j = 0; j < m; j++) gz[j] += s * (sigmoid_fast(z[j]) - t[j]);
        else if (gz)
            for (int64_t j = 0; j < m; j++) gz[j] += s * (z[j] - t[j]);
        if (c->gin[3]) c->gin[3][i] += s * beta;
    }
}

static double rec_ref(dn_loss loss, double z, double t)
{
    if (loss == DN_LOSS_MSE) return 0.5 * (z - t) * (z - t);
    return (z > 0 ? z : 0.0) + log1p(exp(-fabs(z))) - t * z;
}

static void vae_loss_forward_ref(const dn_ctx *c)
{
    const dn_node *node = c->node;
    int64_t n = c->n, m = dn_shape_numel(&node->in_shape[0]);
    double total = 0.0, wsum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double l = 0.0;
        for (int64_t j = 0; j < m; j++)
            l += rec_ref(node->attrs.loss, c->in[0][i * m + j], c->in[1][i * m + j]);
        total += (double)c->in[2][i] * (l + (double)node->attrs.scale * c->in[3][i]);
        wsum += c->in[2][i];
    }
    c->out[0] = wsum > 0 ? (float)(total / wsum) : 0.0f;
}

static void vae_loss_backward_ref(const dn_ctx *c)
{
    const dn_node *node = c->node;
    int64_t n = c->n, m = dn_shape_numel(&node->in_shape[0]);
    double wsum = 0.0;
    for (int64_t i = 0; i < n; i++) wsum += c->in[2][i];
    if (!(wsum > 0)) return;
    for (int64_t i = 0; i < n; i++) {
        double s = (double)c->gout[0] * c->in[2][i] / wsum;
        for (int64_t j = 0; c->gin[0] && j < m; j++) {
            double z = c->in[0][i * m + j], t = c->in[1][i * m + j];
            double d = node->attrs.loss == DN_LOSS_MSE ? z - t : 1.0 / (1.0 + exp(-z)) - t;
            c->gin[0][i * m + j] += (float)(s * d);
        }
        if (c->gin[3]) c->gin[3][i] += (float)(s * node->attrs.scale);
    }
}

const dn_op_def dn_opdef_reparameterize = {
    DN_OP_REPARAMETERIZE, "reparameterize", 2, 2, 0,
    reparam_infer, reparam_forward, reparam_backward,
    reparam_forward_ref, reparam_backward_ref};

const dn_op_def dn_opdef_gaussian_kl = {
    DN_OP_GAUSSIAN_KL, "gaussian_kl", 2, 2, DN_OPF_BWD_INALL,
    kl_infer, kl_forward, kl_backward, kl_forward_ref, kl_backward_ref};

const dn_op_def dn_opdef_vae_loss = {
    DN_OP_VAE_LOSS, "vae_loss", 4, 4, DN_OPF_LOSS | DN_OPF_BWD_INALL,
    vae_loss_infer, vae_loss_forward, vae_loss_backward,
    vae_loss_forward_ref, vae_loss_backward_ref};
