/* Activations: the elementwise math shared by the ACTIVATION op, the fused
 * LINEAR op and the GEMM epilogue, then the ACTIVATION op itself.
 *
 *   identity  y = x                         y' = 1
 *   relu      y = max(0, x)                 y' = [y > 0]
 *   leaky     y = x > 0 ? x : a x           y' = y > 0 ? 1 : a   (a > 0)
 *   elu       y = x > 0 ? x : a (e^x - 1)   y' = y > 0 ? 1 : y + a
 *   sigmoid   y = 1 / (1 + e^-x)            y' = y (1 - y)
 *   tanh      y = tanh x                    y' = 1 - y^2
 *   softplus  y = log(1 + e^x)              y' = sigmoid(x) = 1 - e^-y
 *   gelu      y = x Phi(x) (erf form)       y' = Phi(x) + x phi(x)
 *   silu      y = x sigmoid(x)              y' = s + x s (1 - s)
 *
 * (seed 000, section 1: the activation phi of a neuron; section 4: its
 * vector-Jacobian product is g * phi'(x), elementwise.)
 */
#include <math.h>
#include "internal.h"
#include "fastmath.h"

int dn_act_fusable(dn_act act) { return act >= 0 && act < DN_ACT_GELU; }

/* One cloned loop per activation so each vectorises (fastmath.h). */
#define ACT_LOOP(fname, expr)                                                  \
    DN_TARGET_CLONES static void fname(const float *x, float *y, int64_t n,   \
                                       float alpha)                            \
    {                                                                          \
        (void)alpha;                                                           \
        for (int64_t i = 0; i < n; i++) {                                      \
            float v = x[i];                                                    \
            y[i] = (expr);                                                     \
        }                                                                      \
    }

ACT_LOOP(relu_fwd, select_f(v > 0.0f, v, 0.0f))
ACT_LOOP(leaky_fwd, select_f(v > 0.0f, v, alpha * v))
ACT_LOOP(elu_fwd, select_f(v > 0.0f, v, alpha * (exp_fast(v < 0.0f ? v : 0.0f) - 1.0f)))
ACT_LOOP(sigmoid_fwd, sigmoid_fast(v))
ACT_LOOP(tanh_fwd, tanh_fast(v))
ACT_LOOP(softplus_fwd, softplus_fast(v))
ACT_LOOP(silu_fwd, v * sigmoid_fast(v))

/* g *= act'(x) from y = act(x) */
#define ACT_BWD_LOOP(fname, expr)                                              \
    DN_TARGET_CLONES static void fname(const float *y, float *g, int64_t n,   \
                                       float alpha)                            \
    {                                                                          \
        (void)alpha;                                                           \
        for (int64_t i = 0; i < n; i++) {                                      \
            float v = y[i];                                                    \
            g[i] *= (expr);                                                    \
        }                                                                      \
    }

ACT_BWD_LOOP(relu_bwd, select_f(v > 0.0f, 1.0f, 0.0f))
ACT_BWD_LOOP(leaky_bwd, select_f(v > 0.0f, 1.0f, alpha))
ACT_BWD_LOOP(elu_bwd, select_f(v > 0.0f, 1.0f, v + alpha))
ACT_BWD_LOOP(sigmoid_bwd, v * (1.0f - v))
ACT_BWD_LOOP(tanh_bwd, 1.0f - v * v)

void dn_act_forward(dn_act act, float alpha, const float *x, float *y, int64_t n)
{
    switch (act) {
    case DN_ACT_IDENTITY:
        if (x != y) memmove(y, x, (size_t)n * sizeof(float));
        break;
    case DN_ACT_RELU: relu_fwd(x, y, n, alpha); break;
    case DN_ACT_LEAKY_RELU: leaky_fwd(x, y, n, alpha); break;
    case DN_ACT_ELU: elu_fwd(x, y, n, alpha); break;
    case DN_ACT_SIGMOID: sigmoid_fwd(x, y, n, alpha); break;
    case DN_ACT_TANH: tanh_fwd(x, y, n, alpha); break;
    case DN_ACT_SOFTPLUS: softplus_fwd(x, y, n, alpha); break;
    case DN_ACT_GELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
        break;
    case DN_ACT_SILU: silu_fwd(x, y, n, alpha); break;
    default: break;
    }
}

void dn_act_backward_from_out(dn_act act, float alpha, const float *y, float *g,
                              int64_t n)
{
    switch (act) {
    case DN_ACT_IDENTITY: break;
    case DN_ACT_RELU: relu_bwd(y, g, n, alpha); break;
    case DN_ACT_LEAKY_RELU: leaky_bwd(y, g, n, alpha); break;
    case DN_ACT_ELU: elu_bwd(y, g, n, alpha); break;
    case DN_ACT_SIGMOID: sigmoid_bwd(y, g, n, alpha); break;
    case DN_ACT_TANH: tanh_bwd(y, g, n, alpha); break;
    case DN_ACT_SOFTPLUS: /* sigmoid(x) = 1 - e^-y; expm1 keeps it exact for tiny y */
        for (int64_t i = 0; i < n; i++) g[i] *= -expm1f(-y[i]);
        break;
    default: break; /* GELU, SILU are not fusable: the op uses the input */
    }
}

/* --- the ACTIVATION op ------------------------------------------------------ */

/* Elements handled together; below PAR_MIN_ELEMS a loop stays on one thread. */
#define ACT_PIECE 8192
#define PAR_MIN_ELEMS 16384

static int threads_for(const dn_ctx *c, int64_t work)
{
    return (c->nthreads > 1 && work >= PAR_MIN_ELEMS) ? c->nthreads : 1;
}

static dn_status activation_infer(dn_node *node)
{
    const dn_attrs *a = &node->attrs;
    if (node->n_in != 1)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "takes 1 input but was given %d; connect exactly one",
                            node->n_in);
    if ((int)a->act < 0 || a->act >= DN_ACT_COUNT)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "unknown activation %d; use a dn_act value from 0 to %d",
                            (int)a->act, DN_ACT_COUNT - 1);
    if ((a->act == DN_ACT_LEAKY_RELU || a->act == DN_ACT_ELU) &&
        !(a->alpha >= 0.0f && isfinite(a->alpha)))
        return dn_fail_node(node, DN_ERR_INVALID,
                            "%s needs alpha >= 0 (its gradient is computed from the "
                            "output), got %g", dn_act_name(a->act), (double)a->alpha);
    node->shape = node->in_shape[0];
    node->batched = node->in_batched[0];
    node->saved_per_sample = node->saved_fixed = 0;
    node->ws_per_sample = node->ws_fixed = 0;
    return DN_OK;
}

/* gx (m) += g (m) * act'(x (m)) for GELU and SILU, whose derivative is not a
 * function of the output alone. */
static void act_backward_from_in(dn_act act, const float *x, const float *g,
                                 float *gx, int64_t m)
{
    if (act == DN_ACT_GELU) {
        /* Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi) */
        for (int64_t i = 0; i < m; i++) {
            float cdf = 0.5f * (1.0f + erff(x[i] * 0.70710678118654752f));
            float pdf = 0.39894228040143268f * expf(-0.5f * x[i] * x[i]);
            gx[i] += g[i] * (cdf + x[i] * pdf);
        }
    } else { /* SILU: s + x s (1 - s) = s (1 + x (1 - s)) */
        for (int64_t i = 0; i < m; i++) {
            float s = sigmoid_fast(x[i]);
            gx[i] += g[i] * s * (1.0f + x[i] * (1.0f - s));
        }
    }
}

DN_TARGET_CLONES
static void add_into(float *y, const float *x, int64_t m)
{
    for (int64_t i = 0; i < m; i++) y[i] += x[i];
}

/* out (N) = act(x (N)), N the full element count */
static void activation_forward(const dn_ctx *c)
{
    int64_t m = dn_node_out_numel(c->node, c->n), pieces = (m + ACT_PIECE - 1) / ACT_PIECE;
    dn_act act = c->node->attrs.act;
    float alpha = c->node->attrs.alpha;
    int nt = threads_for(c, m);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < pieces; t++)
        dn_act_forward(act, alpha, c->in[0] + t * ACT_PIECE, c->out + t * ACT_PIECE,
                       DN_MIN(ACT_PIECE, m - t * ACT_PIECE));
}

/* gx (N) += g (N) * act'(x): from the output y (N) for fusable activations
 * (g is overwritten), from the input x (N) for GELU and SILU. */
static void activation_backward(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    int64_t m = dn_node_out_numel(c->node, c->n), pieces = (m + ACT_PIECE - 1) / ACT_PIECE;
    dn_act act = c->node->attrs.act;
    float alpha = c->node->attrs.alpha;
    int fusable = dn_act_fusable(act);
    int nt = threads_for(c, m);
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < pieces; t++) {
        int64_t lo = t * ACT_PIECE, len = DN_MIN(ACT_PIECE, m - lo);
        if (fusable) {
            dn_act_backward_from_out(act, alpha, c->out + lo, c->gout + lo, len);
            add_into(c->gin[0] + lo, c->gout + lo, len);
        } else {
            act_backward_from_in(act, c->in[0] + lo, c->gout + lo, c->gin[0] + lo, len);
        }
    }
}

static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

/* act(x) in double, from the definitions */
static double act_value_ref(dn_act act, double alpha, double x)
{
    switch (act) {
    case DN_ACT_RELU: return x > 0 ? x : 0.0;
    case DN_ACT_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case DN_ACT_ELU: return x > 0 ? x : alpha * (exp(x) - 1.0);
    case DN_ACT_SIGMOID: return sigmoid_ref(x);
    case DN_ACT_TANH: return tanh(x);
    case DN_ACT_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    case DN_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case DN_ACT_SILU: return x * sigmoid_ref(x);
    default: return x;
    }
}

/* act'(x) in double, from the input */
static double act_slope_ref(dn_act act, double alpha, double x)
{
    const double inv_sqrt_2pi = 0.39894228040143268;
    switch (act) {
    case DN_ACT_RELU: return x > 0 ? 1.0 : 0.0;
    case DN_ACT_LEAKY_RELU: return x > 0 ? 1.0 : alpha;
    case DN_ACT_ELU: return x > 0 ? 1.0 : alpha * exp(x);
    case DN_ACT_SIGMOID: return sigmoid_ref(x) * (1.0 - sigmoid_ref(x));
    case DN_ACT_TANH: return 1.0 - tanh(x) * tanh(x);
    case DN_ACT_SOFTPLUS: return sigmoid_ref(x);
    case DN_ACT_GELU:
        return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * inv_sqrt_2pi * exp(-0.5 * x * x);
    case DN_ACT_SILU: return sigmoid_ref(x) * (1.0 + x * (1.0 - sigmoid_ref(x)));
    default: return 1.0;
    }
}

/* Reference: out (N) = act(x (N)) in double */
static void activation_forward_ref(const dn_ctx *c)
{
    int64_t m = dn_node_out_numel(c->node, c->n);
    for (int64_t i = 0; i < m; i++)
        c->out[i] = (float)act_value_ref(c->node->attrs.act, c->node->attrs.alpha,
                                         c->in[0][i]);
}

/* Reference: gx (N) += g (N) * act'(x (N)) in double, from the input */
static void activation_backward_ref(const dn_ctx *c)
{
    if (!c->gin[0]) return;
    int64_t m = dn_node_out_numel(c->node, c->n);
    for (int64_t i = 0; i < m; i++)
        c->gin[0][i] += (float)(c->gout[i] * act_slope_ref(c->node->attrs.act,
                                                            c->node->attrs.alpha,
                                                            c->in[0][i]));
}

const dn_op_def dn_opdef_activation = {
    DN_OP_ACTIVATION, "activation", 1, 1, DN_OPF_BWD_IN0 | DN_OPF_BWD_OUT,
    activation_infer, activation_forward, activation_backward,
    activation_forward_ref, activation_backward_ref};
