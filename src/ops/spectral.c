/* SPECTRAL_LINEAR: Y = act(X W_sn + b), W_sn = W / sigma(W), the dense layer
 * (src/ops/linear.c's layout: W (n_in, units)) with spectral normalisation
 * (Miyato et al., 2018), a way to keep a WGAN critic near 1-Lipschitz
 * (seed 004 checklist, 8.17 [STD]: the notes name no method).
 *
 * sigma(W), the largest singular value, is estimated by one step of power
 * iteration per forward from a persistent vector u (units), a
 * non-trainable parameter "u" (initialised N(0, 1); any non-zero start
 * works):
 *   v = W u / ||W u||,  s = W^T v,  u' = s / ||s||,  sigma = v^T W u' = ||s||
 * In training the forward stores u' in place of u, so the estimate improves
 * run after run; at inference u is only read. Backward treats u and v as
 * constants (Miyato et al., appendix), where d sigma / dW = v u'^T:
 *   dW_sn = X^T dZ,  dW += (dW_sn - <dW_sn, W_sn> v u'^T) / sigma,
 *   dX += dZ W_sn^T, db += sum_rows dZ, with dZ = dY * act'(Y)
 * which is the exact gradient of the forward once u is the top singular
 * vector. The power iteration sums in double, serially (it costs one pass
 * over W, small next to the batch's GEMM), so results do not depend on
 * threads. The forward keeps W_sn, v, u' and sigma for backward (saved).
 */
#include <math.h>
#include "internal.h"

static dn_status spectral_infer(dn_node *node)
{
    const dn_attrs *a = &node->attrs;
    const dn_shape *in = &node->in_shape[0];
    if (in->ndim != 1 || !node->in_batched[0])
        return dn_fail_node(node, DN_ERR_INVALID, "a spectrally normalised dense layer needs "
                            "batched samples of shape (n_in,); flatten them first");
    dn_status s = dn_dense_attrs_check(node);
    if (s) return s;
    int64_t n_in = in->dims[0], units = a->units;
    if (n_in < 1) return dn_fail_node(node, DN_ERR_INVALID, "the input has 0 features");
    node->shape.ndim = 1;
    node->shape.dims[0] = units;
    node->batched = 1;
    dn_shape w = {2, {n_in, units}}, b = {1, {units}};
    dn_node_param(node, "weight", &w, a->w_init, a->w_scale, n_in, units, 1, 1, 0);
    dn_node_param(node, "u", &b, DN_INIT_NORMAL, 1.0f, n_in, units, 0, 0, 0);
    if (a->use_bias)
        dn_node_param(node, "bias", &b, a->b_init, a->b_scale, n_in, units, 1, 0, 0);
    /* saved: W_sn (n_in units), v (n_in), u' (units), sigma */
    node->saved_fixed = n_in * units + n_in + units + 1;
    node->ws_fixed = n_in * units;
    return DN_OK;
}

/* One power-iteration step from u (units) on W (n_in, units): v (n_in),
 * u2 (units); returns sigma = ||W^T v||. */
static double power_step(const float *W, const float *u, float *v, float *u2, int64_t n_in,
                         int64_t units)
{
    double nu = 0.0, nv = 0.0, ns = 0.0;
    for (int64_t j = 0; j < units; j++) nu += (double)u[j] * u[j];
    nu = sqrt(nu) + 1e-12;
    for (int64_t i = 0; i < n_in; i++) {
        double t = 0.0;
        for (int64_t j = 0; j < units; j++) t += (double)W[i * units + j] * (u[j] / nu);
        v[i] = (float)t;
        nv += t * t;
    }
    nv = sqrt(nv) + 1e-12;
    for (int64_t i = 0; i < n_in; i++) v[i] = (float)(v[i] / nv);
    for (int64_t j = 0; j < units; j++) {
        double s = 0.0;
        for (int64_t i = 0; i < n_in; i++) s += (double)W[i * units + j] * v[i];
        u2[j] = (float)s;
        ns += s * s;
    }
    ns = sqrt(ns);
    for (int64_t j = 0; j < units; j++) u2[j] = (float)(u2[j] / (ns + 1e-12));
    return ns;
}

typedef struct sn_saved {
    float *wsn, *v, *u, *sigma;
} sn_saved;

static sn_saved saved_parts(const dn_ctx *c, int64_t n_in, int64_t units)
{
    sn_saved s;
    s.wsn = c->saved;
    s.v = s.wsn + n_in * units;
    s.u = s.v + n_in;
    s.sigma = s.u + units;
    return s;
}

// out (n, units), saved, in X (n, n_in), params W (n_in, units), u (units), b (units)
static void spectral_forward_with(const dn_ctx *c, dn_gemm_fn gemm)
{
    const dn_node *nd = c->node;
    int64_t n_in = nd->in_shape[0].dims[0], units = nd->attrs.units;
    sn_saved s = saved_parts(c, n_in, units);
    double sigma = power_step(c->param[0], c->param[1], s.v, s.u, n_in, units);
    if (c->training) memcpy(c->param[1], s.u, (size_t)units * sizeof(float));
    *s.sigma = (float)sigma;
    float inv = sigma > 0 ? (float)(1.0 / sigma) : 0.0f;
    for (int64_t k = 0; k < n_in * units; k++) s.wsn[k] = c->param[0][k] * inv;
    dn_gemm_epilogue ep = {nd->attrs.use_bias ? c->param[2] : NULL, nd->attrs.act,
                           nd->attrs.alpha};
    gemm(0, 0, c->n, units, n_in, 1.0f, c->in[0], n_in, s.wsn, units, 0.0f, c->out, units, &ep,
         c->nthreads);
}

static void spectral_backward_with(const dn_ctx *c, dn_gemm_fn gemm)
{
    const dn_node *nd = c->node;
    int64_t n = c->n, n_in = nd->in_shape[0].dims[0], units = nd->attrs.units;
    sn_saved s = saved_parts(c, n_in, units);
    float *dz = c->gout;
    dn_act_backward_from_out(nd->attrs.act, nd->attrs.alpha, c->out, dz, n * units);
    if (nd->attrs.use_bias && c->gparam[2])
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < units; j++) c->gparam[2][j] += dz[r * units + j];
    if (c->gin[0])
        gemm(0, 1, n, n_in, units, 1.0f, dz, units, s.wsn, units, 1.0f, c->gin[0], n_in, NULL,
             c->nthreads);
    if (!c->gparam[0] || !(*s.sigma > 0)) return;
    float *gsn = c->ws;
    gemm(1, 0, n_in, units, n, 1.0f, c->in[0], n_in, dz, units, 0.0f, gsn, units, NULL,
         c->nthreads);
    double dot = 0.0;
    for (int64_t k = 0; k < n_in * units; k++) dot += (double)gsn[k] * s.wsn[k];
    double inv = 1.0 / *s.sigma;
    for (int64_t i = 0; i < n_in; i++)
        for (int64_t j = 0; j < units; j++) {
            int64_t k = i * units + j;
            c->gparam[0][k] += (float)((gsn[k] - dot * s.v[i] * s.u[j]) * inv);
        }
}

static void spectral_forward(const dn_ctx *c) { spectral_forward_with(c, dn_sgemm); }
static void spectral_backward(const dn_ctx *c) { spectral_backward_with(c, dn_sgemm); }
static void spectral_forward_ref(const dn_ctx *c) { spectral_forward_with(c, dn_sgemm_ref_mt); }
static void spectral_backward_ref(const dn_ctx *c) { spectral_backward_with(c, dn_sgemm_ref_mt); }

const dn_op_def dn_opdef_spectral_linear = {
    DN_OP_SPECTRAL_LINEAR, "spectral_linear", 1, 1, DN_OPF_BWD_IN0 | DN_OPF_BWD_OUT,
    spectral_infer, spectral_forward, spectral_backward, spectral_forward_ref,
    spectral_backward_ref};
