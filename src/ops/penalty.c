/* Penalties of regularised autoencoders: L1_PENALTY and KL_SPARSITY on the
 * code (seed 003, section 11.2.1) and CONTRACTIVE on the encoder's Jacobian
 * (seed 003, section 11.2.3).
 *
 * Each gives one number without a batch dimension, meant as an added term
 * of the graph's LOSS node (src/ops/loss.c), so the one loss node stays the
 * whole objective. Each takes the batch's sample weights w (n, 1) as an
 * optional last input, as the loss does: means over the batch are then
 * weighted, sum_i w_i (.) / W with W = sum_i w_i (W = n without weights;
 * W = 0 gives 0 and no gradient), so a sample of weight 2 counts as the same
 * sample given twice. Over a batch of n samples H (n, k):
 *
 *   L1_PENALTY   lambda / W sum_i w_i sum_j |h_ij|   (lambda = attrs.scale)
 *                dh_ij = lambda w_i / W sign(h_ij)
 *   KL_SPARSITY  beta sum_j KL(rho || rho_hat_j)   (beta = attrs.scale,
 *                  = beta sum_j rho log(rho / rho_hat_j)         rho = attrs.rate)
 *                         + (1 - rho) log((1 - rho) / (1 - rho_hat_j)),
 *                rho_hat_j = 1/W sum_i w_i h_ij, the mean activation of unit
 *                j over the batch, clamped to [KL_EPS, 1 - KL_EPS]
 *                dh_ij = beta w_i / W (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j))
 *                (0 where the clamp holds rho_hat_j)
 *   CONTRACTIVE  lambda / W sum_i w_i ||J(x_i)||_F^2, J = dh/dx of the dense
 *                layer h = s(x W + b) (W (d, k), s elementwise): J_jl = s'(a_j)
 *                W_lj, so, exactly,
 *                  ||J(x)||_F^2 = sum_j s'(a_j)^2 c_j,   c_j = sum_l W_lj^2.
 *                s' is a function of the output h for the fusable
 *                activations (deriv_from_out below), so
 *                  dh_ij   = lambda w_i / W c_j d(s'^2)/dh (h_ij)
 *                  dW_lj  += 2 lambda / W W_lj sum_i w_i s'(a_ij)^2,
 *                and the dense layer's own backward carries dh on to W, b
 *                and x. Its inputs are (H, X [, w]): X only gives d, the weight is
 *                H's producer's (shared at compile, src/graph.c), and neither
 *                gets another gradient here. For a stack of layers each
 *                layer's CONTRACTIVE node penalises that layer's Jacobian
 *                with respect to its own input: the sum of per-layer norms,
 *                not the norm of the stack's product D_L W_L ... D_1 W_1.
 *
 * The penalties are cheap (O(n k) and O(d k)) and run on one thread; the
 * fast kernels sum in float in a fixed order, the _ref twins in double.
 */
#include <math.h>
#include "internal.h"

#define KL_EPS 1e-6

/* n_in inputs, and the sample weights after them when n_in + 1. */
static dn_status penalty_common(dn_node *node, int n_in)
{
    const char *name = dn_op_name(node->op);
    if (node->n_in == n_in + 1) {
        const dn_shape *w = &node->in_shape[n_in];
        if (!node->in_batched[n_in] || !(w->ndim == 0 || (w->ndim == 1 && w->dims[0] == 1)))
            return dn_fail_node(node, DN_ERR_INVALID, "%s: input %d must be the sample "
                                "weights, one per sample: shape (batch, 1)", name, n_in);
    }
    if (!node->in_batched[0] || node->in_shape[0].ndim != 1)
        return dn_fail_node(node, DN_ERR_INVALID, "%s needs a batch of codes of shape (batch, "
                            "k); flatten the layer it follows", name);
    if (!(node->attrs.scale >= 0.0f && isfinite(node->attrs.scale)))
        return dn_fail_node(node, DN_ERR_INVALID, "scale is %g; the weight of the %s penalty "
                            "must be finite and >= 0", (double)node->attrs.scale, name);
    memset(&node->shape, 0, sizeof node->shape);
    node->batched = 0;
    return DN_OK;
}

/* The sample weights (the input after the op's own n_in), or NULL. */
static const float *weights_of(const dn_ctx *c, int n_in)
{
    return c->node->n_in > n_in ? c->in[n_in] : NULL;
}

/* W = sum_i w_i in order (n without weights). */
static double weight_total(const float *w, int64_t n)
{
    double s = 0.0;
    if (!w) return (double)n;
    for (int64_t i = 0; i < n; i++) s += w[i];
    return s;
}

static double weight_at(const float *w, int64_t i) { return w ? w[i] : 1.0; }

/* --- L1_PENALTY ------------------------------------------------------------ */

static dn_status l1_infer(dn_node *node) { return penalty_common(node, 1); }

// out (), in H (n, k), w (n)
static void l1_forward(const dn_ctx *c)
{
    int64_t n = c->n, k = c->node->in_shape[0].dims[0];
    const float *w = weights_of(c, 1);
    double W = weight_total(w, n);
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float r = 0.0f;
        for (int64_t j = 0; j < k; j++) r += fabsf(c->in[0][i * k + j]);
        s += (float)weight_at(w, i) * r;
    }
    c->out[0] = W != 0.0 ? (float)(c->node->attrs.scale * s / W) : 0.0f;
}

// gin H (n, k) += gout () lambda w_i / W sign(H)
static void l1_backward(const dn_ctx *c)
{
    int64_t n = c->n, k = c->node->in_shape[0].dims[0];
    const float *w = weights_of(c, 1);
    double W = weight_total(w, n);
    if (!c->gin[0] || W == 0.0) return;
    for (int64_t i = 0; i < n; i++) {
        float g = (float)(c->gout[0] * c->node->attrs.scale * weight_at(w, i) / W);
        for (int64_t j = 0; j < k; j++) {
            float h = c->in[0][i * k + j];
            c->gin[0][i * k + j] += h > 0.0f ? g : (h < 0.0f ? -g : 0.0f);
        }
    }
}

static void l1_forward_ref(const dn_ctx *c)
{
    int64_t n = c->n, k = c->node->in_shape[0].dims[0];
    const float *w = weights_of(c, 1);
    double s = 0.0, W = weight_total(w, n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) s += weight_at(w, i) * fabs((double)c->in[0][i * k + j]);
    c->out[0] = W != 0.0 ? (float)(c->node->attrs.scale * s / W) : 0.0f;
}

static void l1_backward_ref(const dn_ctx *c)
{
    int64_t n = c->n, k = c->node->in_shape[0].dims[0];
    const float *w = weights_of(c, 1);
    double W = weight_total(w, n);
    if (!c->gin[0] || W == 0.0) return;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) {
            double h = c->in[0][i * k + j];
            double g = (double)c->gout[0] * c->node->attrs.scale * weight_at(w, i) / W;
            c->gin[0][i * k + j] += (float)(g * ((h > 0) - (h < 0)));
        }
}

/* --- KL_SPARSITY ----------------------------------------------------------- */

static dn_status kl_infer(dn_node *node)
{
    dn_status s = penalty_common(node, 1);
    if (s) return s;
    float rho = node->attrs.rate;
    if (!(rho > 0.0f && rho < 1.0f))
        return dn_fail_node(node, DN_ERR_INVALID, "rate is %g; the target activation rho must "
                            "be in (0, 1)", (double)rho);
    node->saved_fixed = node->in_shape[0].dims[0]; /* rho_hat (k) */
    node->ws_fixed = node->in_shape[0].dims[0];    /* the gradient of each column */
    return DN_OK;
}

static double clamp_rho(double r) { return r < KL_EPS ? KL_EPS : (r > 1 - KL_EPS ? 1 - KL_EPS : r); }

static double kl_term(double rho, double r)
{
    return rho * log(rho / r) + (1 - rho) * log((1 - rho) / (1 - r));
}

/* dKL/drho_hat at r; 0 where the clamp holds the raw mean q. */
static double kl_slope(double rho, double q)
{
    double r = clamp_rho(q);
    return r != q ? 0.0 : -rho / r + (1 - rho) / (1 - r);
}

// out (), saved rho_hat (k) (raw means), in H (n, k), w (n)
static void kl_forward(const dn_ctx *c)
{
    int64_t n = c->n, k = c->node->in_shape[0].dims[0];
    const float *h = c->in[0], *w = weights_of(c, 1);
    float *q = c->saved;
    double rho = c->node->attrs.rate, v = 0.0, W = weight_total(w, n);
    for (int64_t j = 0; j < k; j++) q[j] = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float wi = (float)weight_at(w, i);
        for (int64_t j = 0; j < k; j++) q[j] += wi * h[i * k + j];
    }
    for (int64_t j = 0; j < k; j++) {
        q[j] = W != 0.0 ? (float)(q[j] / W) : (float)rho;
        v += kl_term(rho, clamp_rho(q[j]));
    }
    c->out[0] = (float)(c->node->attrs.scale * v);
}

// gin H (n, k) += gout () beta w_i / W dKL/drho_hat_j, saved rho_hat (k)
static void kl_backward(const dn_ctx *c)
{
    int64_t n = c->n, k = c->node->in_shape[0].dims[0];
    const float *w = weights_of(c, 1);
    double rho = c->node->attrs.rate, W = weight_total(w, n);
    if (!c->gin[0] || W == 0.0) return;
    double b = (double)c->gout[0] * c->node->attrs.scale / W;
    float *g = c->ws; /* (k) */
    for (int64_t j = 0; j < k; j++) g[j] = (float)(b * kl_slope(rho, c->saved[j]));
    for (int64_t i = 0; i < n; i++) {
        float wi = (float)weight_at(w, i);
        for (int64_t j = 0; j < k; j++) c->gin[0][i * k + j] += wi * g[j];
    }
}

static void kl_forward_ref(const dn_ctx *c)
{
    int64_t n = c->n, k = c->node->in_shape[0].dims[0];
    const float *w = weights_of(c, 1);
    double rho = c->node->attrs.rate, v = 0.0, W = weight_total(w, n);
    for (int64_t j = 0; j < k; j++) {
        double q = 0.0;
        for (int64_t i = 0; i < n; i++) q += weight_at(w, i) * c->in[0][i * k + j];
        q = W != 0.0 ? q / W : rho;
        c->saved[j] = (float)q;
        v += kl_term(rho, clamp_rho(q));
    }
    c->out[0] = (float)(c->node->attrs.scale * v);
}

static void kl_backward_ref(const dn_ctx *c)
{
    int64_t n = c->n, k = c->node->in_shape[0].dims[0];
    const float *w = weights_of(c, 1);
    double rho = c->node->attrs.rate, W = weight_total(w, n);
    if (!c->gin[0] || W == 0.0) return;
    for (int64_t j = 0; j < k; j++) {
        double q = 0.0;
        for (int64_t i = 0; i < n; i++) q += weight_at(w, i) * c->in[0][i * k + j];
        double g = (double)c->gout[0] * c->node->attrs.scale / W * kl_slope(rho, q / W);
        for (int64_t i = 0; i < n; i++) c->gin[0][i * k + j] += (float)(g * weight_at(w, i));
    }
}

/* --- CONTRACTIVE ----------------------------------------------------------- */

static dn_status contractive_infer(dn_node *node)
{
    dn_status s = penalty_common(node, 2);
    if (s) return s;
    const dn_attrs *a = &node->attrs;
    if (!dn_act_fusable(a->act))
        return dn_fail_node(node, DN_ERR_INVALID, "activation '%s' has no derivative in terms "
                            "of its output; the contractive penalty needs a dense layer with "
                            "a fused activation", dn_act_name(a->act));
    if (!node->in_batched[1] || node->in_shape[1].ndim != 1)
        return dn_fail_node(node, DN_ERR_INVALID, "input 1 must be the dense layer's input, of "
                            "shape (batch, d)");
    int64_t d = node->in_shape[1].dims[0], k = node->in_shape[0].dims[0];
    dn_shape w = {2, {d, k}};
    dn_node_param_shared(node, "weight", &w, 0);
    node->ws_fixed = 2 * k; /* c_j and sum_i s'(a_ij)^2 */
    return DN_OK;
}

/* s'(a) and d(s'(a)^2)/dh as functions of h = s(a), for the fusable
 * activations (include/dagnet/ops.h). */
static void deriv_from_out(dn_act act, double alpha, double h, double *sp, double *dsp2)
{
    double d = 1.0, e = 0.0;
    switch (act) {
    case DN_ACT_RELU: d = h > 0; break;
    case DN_ACT_LEAKY_RELU: d = h > 0 ? 1.0 : alpha; break;
    case DN_ACT_ELU:
        if (h <= 0) { d = h + alpha; e = 2 * d; }
        break;
    case DN_ACT_SIGMOID: d = h * (1 - h); e = 2 * d * (1 - 2 * h); break;
    case DN_ACT_TANH: d = 1 - h * h; e = -4 * h * d; break;
    case DN_ACT_SOFTPLUS: d = -expm1(-h); e = 2 * d * exp(-h); break;
    default: break; /* identity */
    }
    *sp = d;
    *dsp2 = e;
}

/* c_j = sum_l W_lj^2 over W (d, k), rows in order. */
static void column_norms(const float *w, int64_t d, int64_t k, float *cn)
{
    for (int64_t j = 0; j < k; j++) cn[j] = 0.0f;
    for (int64_t l = 0; l < d; l++)
        for (int64_t j = 0; j < k; j++) cn[j] += w[l * k + j] * w[l * k + j];
}

// out (), in H (n, k), X (n, d), w (n), param W (d, k); ws (2k)
static void contractive_forward(const dn_ctx *c)
{
    const dn_attrs *a = &c->node->attrs;
    int64_t n = c->n, k = c->node->in_shape[0].dims[0], d = c->node->in_shape[1].dims[0];
    const float *w = weights_of(c, 2);
    double W = weight_total(w, n);
    float *cn = c->ws, s = 0.0f;
    column_norms(c->param[0], d, k, cn);
    for (int64_t i = 0; i < n; i++) {
        float r = 0.0f;
        for (int64_t j = 0; j < k; j++) {
            double sp, e;
            deriv_from_out(a->act, a->alpha, c->in[0][i * k + j], &sp, &e);
            r += (float)(sp * sp) * cn[j];
        }
        s += (float)weight_at(w, i) * r;
    }
    c->out[0] = W != 0.0 ? (float)(a->scale * s / W) : 0.0f;
}

// gin H (n, k) += gout lambda w_i / W c_j d(s'^2)/dh; gparam W (d, k) +=
// 2 gout lambda / W W_lj sum_i w_i s'(a_ij)^2
static void contractive_backward(const dn_ctx *c)
{
    const dn_attrs *a = &c->node->attrs;
    int64_t n = c->n, k = c->node->in_shape[0].dims[0], d = c->node->in_shape[1].dims[0];
    const float *w = weights_of(c, 2);
    double W = weight_total(w, n);
    if (W == 0.0) return;
    float *cn = c->ws, *ssum = c->ws + k, g = (float)(c->gout[0] * a->scale / W);
    column_norms(c->param[0], d, k, cn);
    for (int64_t j = 0; j < k; j++) ssum[j] = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float wi = (float)weight_at(w, i);
        for (int64_t j = 0; j < k; j++) {
            double sp, e;
            deriv_from_out(a->act, a->alpha, c->in[0][i * k + j], &sp, &e);
            ssum[j] += wi * (float)(sp * sp);
            if (c->gin[0]) c->gin[0][i * k + j] += g * wi * cn[j] * (float)e;
        }
    }
    if (!c->gparam[0]) return;
    for (int64_t l = 0; l < d; l++)
        for (int64_t j = 0; j < k; j++)
            c->gparam[0][l * k + j] += 2.0f * g * c->param[0][l * k + j] * ssum[j];
}

/* Reference: ||J||_F^2 from its entries s'(a_j) W_lj, sample by sample. */
static void contractive_forward_ref(const dn_ctx *c)
{
    const dn_attrs *a = &c->node->attrs;
    int64_t n = c->n, k = c->node->in_shape[0].dims[0], d = c->node->in_shape[1].dims[0];
    const float *w = weights_of(c, 2);
    double s = 0.0, W = weight_total(w, n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) {
            double sp, e;
            deriv_from_out(a->act, a->alpha, c->in[0][i * k + j], &sp, &e);
            for (int64_t l = 0; l < d; l++) {
                double jac = sp * c->param[0][l * k + j];
                s += weight_at(w, i) * jac * jac;
            }
        }
    c->out[0] = W != 0.0 ? (float)(a->scale * s / W) : 0.0f;
}

static void contractive_backward_ref(const dn_ctx *c)
{
    const dn_attrs *a = &c->node->attrs;
    int64_t n = c->n, k = c->node->in_shape[0].dims[0], d = c->node->in_shape[1].dims[0];
    const float *w = weights_of(c, 2);
    double W = weight_total(w, n);
    if (W == 0.0) return;
    double g = (double)c->gout[0] * a->scale / W;
    for (int64_t j = 0; j < k; j++) {
        double cj = 0.0, sj = 0.0;
        for (int64_t l = 0; l < d; l++) cj += (double)c->param[0][l * k + j] * c->param[0][l * k + j];
        for (int64_t i = 0; i < n; i++) {
            double sp, e;
            deriv_from_out(a->act, a->alpha, c->in[0][i * k + j], &sp, &e);
            sj += weight_at(w, i) * sp * sp;
            if (c->gin[0]) c->gin[0][i * k + j] += (float)(g * weight_at(w, i) * cj * e);
        }
        if (c->gparam[0])
            for (int64_t l = 0; l < d; l++)
                c->gparam[0][l * k + j] += (float)(2 * g * c->param[0][l * k + j] * sj);
    }
}

const dn_op_def dn_opdef_l1_penalty = {
    DN_OP_L1_PENALTY, "l1_penalty", 1, 2, DN_OPF_BWD_IN0 | DN_OPF_BWD_IN1 | DN_OPF_NO_GRAD_IN1,
    l1_infer, l1_forward, l1_backward, l1_forward_ref, l1_backward_ref};

const dn_op_def dn_opdef_kl_sparsity = {
    DN_OP_KL_SPARSITY, "kl_sparsity", 1, 2, DN_OPF_BWD_IN0 | DN_OPF_BWD_IN1 | DN_OPF_NO_GRAD_IN1,
    kl_infer, kl_forward, kl_backward, kl_forward_ref, kl_backward_ref};

const dn_op_def dn_opdef_contractive = {
    DN_OP_CONTRACTIVE, "contractive", 2, 3,
    DN_OPF_BWD_IN0 | (1u << 2) | DN_OPF_NO_GRAD_IN1, /* backward reads H and the weights */
    contractive_infer, contractive_forward, contractive_backward, contractive_forward_ref,
    contractive_backward_ref};
