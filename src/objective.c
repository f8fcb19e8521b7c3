/* The training objective over a whole dataset, and the optimiser's state.
 *
 * dn_graph_objective evaluates what full-batch methods (L-BFGS) minimise
 * and what validation reports: the sample-weighted mean loss over all n
 * samples plus the L2 term, and its gradient, in chunks so that memory
 * stays that of one chunk. The loss node gives each chunk c its weighted
 * mean L_c = sum_{i in c} w_i l_i / W_c; the whole is
 *   L = sum_c (W_c / W) L_c,   W = sum_i w_i,
 * and so is its gradient (seed 000, section 4: backpropagation is linear in
 * the loss). The L2 term is (seed 000, section 6.1)
 *   R = l2 / (2 D) sum ||w||^2 over decayed parameters,  dR/dw = l2 w / D,
 * with D = W when reg_per_sample (scikit-learn's alpha), else 1. */
#include <math.h>
#include <stdlib.h>
#include "graph_impl.h"

static double sum_floats(const float *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    return s;
}

dn_status dn_graph_objective(dn_graph_t *g, const float *const *data, int64_t n, int64_t chunk,
                             double l2, int reg_per_sample, int nthreads, double *value,
                             float *grad)
{
    if (!g || !g->compiled) return dn_fail(DN_ERR_STATE, "compile the graph before evaluating it");
    if (g->loss_node < 0)
        return dn_fail(DN_ERR_INVALID, "the graph needs exactly one loss node (DN_OP_LOSS) to "
                       "evaluate an objective");
    if (n <= 0) return dn_fail(DN_ERR_INVALID, "the objective needs at least one sample, got %lld",
                               (long long)n);
    if (!(l2 >= 0) || !isfinite(l2))
        return dn_fail(DN_ERR_INVALID, "l2 must be a finite number >= 0, got %g", l2);
    if (!value) return dn_fail(DN_ERR_INVALID, "value is NULL; give where the objective goes");
    if (g->n_inputs > 64) return dn_fail(DN_ERR_INVALID, "the objective takes at most 64 inputs");
    if (chunk <= 0) chunk = 1024;
    chunk = DN_MIN(chunk, n);
    const int flags = grad ? DN_RUN_GRAD : 0;
    dn_status s = dn_exec_prepare(g, chunk, flags, DN_TARGET_LOSS);
    if (s) return s;
    const int nt = dn_graph_step_threads(g, chunk, nthreads);
    /* the input slot of the loss's sample weights, -1 without them */
    const dn_node *loss = &g->nodes[g->loss_node];
    const int wv = dn_loss_weight_node(loss);
    const int wk = wv >= 0 ? g->nodes[wv].input_index : -1;
    const float *wdata = wk >= 0 && data ? data[wk] : NULL;
    const double total_w = wdata ? sum_floats(wdata, n) : (double)n;
    const int64_t P = g->param_floats;
    float *ones = malloc((size_t)chunk * sizeof(float));
    double *acc = grad && P > 0 ? calloc((size_t)P, sizeof(double)) : NULL;
    if (!ones || (grad && P > 0 && !acc)) {
        free(ones);
        free(acc);
        return dn_fail(DN_ERR_NOMEM, "could not allocate the objective's buffers");
    }
    for (int64_t i = 0; i < chunk; i++) ones[i] = 1.0f;
    const float *ptrs[64];
    double total = 0.0;
    for (int64_t start = 0; start < n; start += chunk) {
        int64_t m = DN_MIN(chunk, n - start);
        for (int k = 0; k < g->n_inputs; k++) {
            int v = g->inputs[k];
            int64_t row = dn_shape_numel(&g->nodes[v].shape);
            ptrs[k] = data && data[k] ? data[k] + start * row : (k == wk ? ones : NULL);
            if (!g->plan.active[v]) { g->val[v] = NULL; continue; }
            if (!ptrs[k]) {
                free(ones);
                free(acc);
                return dn_fail(DN_ERR_INVALID, "input %d ('%s') is needed by the loss but was "
                               "not given", k, g->nodes[v].name);
            }
            g->val[v] = ptrs[k];
        }
        dn_exec_forward(g, m, flags, nt);
        double w_c = wdata ? sum_floats(wdata + start, m) : (double)m;
        double share = total_w > 0 ? w_c / total_w : 0.0;
        total += share * g->val[g->loss_node][0];
        if (!grad) continue;
        dn_exec_backward(g, NULL, nt);
        for (int k = 0; k < g->n_params; k++) {
            const dn_param_rec *r = &g->params[k];
            if (!g->nodes[r->node].params[r->index].trainable) continue;
            const float *gk = g->grad_arena + r->offset;
            double *ak = acc + r->offset;
            for (int64_t j = 0; j < r->size; j++) ak[j] += share * gk[j];
        }
    }
    free(ones);
    /* the L2 term */
    const double d = reg_per_sample ? total_w : 1.0;
    const double c = d > 0 ? l2 / d : 0.0;
    double sq = 0.0;
    for (int k = 0; k < g->n_params; k++) {
        const dn_param_rec *r = &g->params[k];
        const dn_param_decl *decl = &g->nodes[r->node].params[r->index];
        if (!decl->trainable || !decl->decay || c == 0.0) continue;
        const float *w = g->param_arena + r->offset;
        for (int64_t j = 0; j < r->size; j++) {
            sq += (double)w[j] * w[j];
            if (acc) acc[r->offset + j] += c * w[j];
        }
    }
    *value = total + 0.5 * c * sq;
    if (grad) {
        for (int64_t j = 0; j < P; j++) grad[j] = (float)acc[j];
        free(acc);
    }
    return DN_OK;
}

/* --- the optimiser's state ------------------------------------------------ */

int64_t dn_graph_param_floats(const dn_graph_t *g)
{
    return g && g->compiled ? g->param_floats : 0;
}

dn_status dn_graph_optim_state(dn_graph_t *g, float **state, int64_t *n_floats)
{
    if (!g || !g->has_optim)
        return dn_fail(DN_ERR_STATE, "set an optimiser before asking for its state");
    *state = g->optim_state;
    *n_floats = g->optim_state ? (int64_t)dn_optim_state_slots(g->optim.kind) * g->param_floats : 0;
    return DN_OK;
}

int64_t dn_graph_epoch_count(const dn_graph_t *g) { return g ? (int64_t)g->epoch : 0; }

uint64_t dn_graph_run_count(const dn_graph_t *g)
{
    return g ? g->run_counter : 0;
}

dn_status dn_graph_set_run_count(dn_graph_t *g, uint64_t runs)
{
    if (!g) return dn_fail(DN_ERR_INVALID, "no graph");
    g->run_counter = runs;
    return DN_OK;
}

dn_status dn_graph_set_counters(dn_graph_t *g, int64_t steps, int64_t epochs)
{
    if (!g || !g->has_optim)
        return dn_fail(DN_ERR_STATE, "set an optimiser before restoring its counters");
    if (steps < 0 || epochs < 0)
        return dn_fail(DN_ERR_INVALID, "steps and epochs count from 0; got %lld and %lld",
                       (long long)steps, (long long)epochs);
    g->step = steps;
    g->epoch = (uint64_t)epochs;
    return DN_OK;
}
