/* The training loop: one call runs a whole epoch (shuffle, batches,
 * forward, loss, backward, regulariser, update; seed 000, section 5) with
 * no allocation after the first epoch of a given batch size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "graph_impl.h"

#define DN_STREAM_SHUFFLE 0x5348554646ull /* "SHUFF" */

dn_status dn_graph_set_optimizer(dn_graph_t *g, const dn_optim_config *c)
{
    if (!g || !g->compiled) return dn_fail(DN_ERR_STATE, "compile the graph before setting an optimiser");
    if (g->loss_node == -1)
        return dn_fail(DN_ERR_INVALID, "the graph has no loss node; add one (DN_OP_LOSS) to train it");
    if (g->loss_node == -2)
        return dn_fail(DN_ERR_INVALID, "the graph has several loss nodes; training minimises exactly "
                       "one: keep one DN_OP_LOSS node");
    dn_status s = dn_optim_check(c);
    if (s) return s;
    int slots = dn_optim_state_slots(c->kind);
    dn_free(g->optim_state);
    g->optim_state = NULL;
    if (slots > 0) {
        size_t bytes = (size_t)slots * (size_t)(g->param_floats ? g->param_floats : 16) * sizeof(float);
        g->optim_state = dn_alloc(bytes);
        if (!g->optim_state)
            return dn_fail(DN_ERR_NOMEM, "could not allocate %.1f MB of optimiser state",
                           (double)bytes / 1e6);
        memset(g->optim_state, 0, bytes);
    }
    g->optim = *c;
    g->step = 0;
    s = dn_train_bind_params(g);
    g->has_optim = s == DN_OK;
    return s;
}

dn_status dn_train_bind_params(dn_graph_t *g)
{
    int slots = dn_optim_state_slots(g->optim.kind);
    if (!g->views) {
        g->views = calloc((size_t)(g->n_params ? g->n_params : 1), sizeof *g->views);
        if (!g->views) return dn_fail(DN_ERR_NOMEM, "out of memory");
    }
    g->n_views = 0;
    for (int k = 0; k < g->n_params; k++) {
        const dn_param_rec *r = &g->params[k];
        const dn_param_decl *d = &g->nodes[r->node].params[r->index];
        if (!d->trainable) continue;
        dn_param_view *pv = &g->views[g->n_views++];
        memset(pv, 0, sizeof *pv);
        pv->value = g->param_arena + r->offset;
        pv->grad_in = g->grad_arena + r->offset;
        for (int j = 0; j < slots; j++)
            pv->state[j] = g->optim_state + (int64_t)j * g->param_floats + r->offset;
        pv->size = r->size;
        pv->cols = d->shape.ndim ? d->shape.dims[d->shape.ndim - 1] : 1;
        pv->decay = d->decay;
        pv->constrain = d->constrain;
    }
    return DN_OK;
}

dn_status dn_graph_set_lr(dn_graph_t *g, float lr)
{
    if (!g || !g->has_optim) return dn_fail(DN_ERR_STATE, "set an optimiser before changing its learning rate");
    if (!(lr > 0) || !isfinite(lr))
        return dn_fail(DN_ERR_INVALID, "the learning rate must be a positive finite number, got %g", (double)lr);
    g->optim.lr = lr;
    return DN_OK;
}

int64_t dn_graph_step_count(const dn_graph_t *g) { return g ? g->step : 0; }

/* Bytes of a batch below which its rows are copied on one thread. */
#define GATHER_PAR_MIN_BYTES (256 * 1024)
/* Rows ahead whose cache lines are requested while a row is copied. */
#define GATHER_AHEAD 4

/* Copy rows perm[start .. start+m) of `src` (rows of `row` floats) into dst;
 * NULL src fills ones. The rows come from all over the data (from memory,
 * not cache), so with several threads each copies a share of them. */
static void gather(float *dst, const float *src, const int64_t *perm, int64_t start, int64_t m,
                   int64_t row, int nthreads)
{
    if (!src) {
        for (int64_t i = 0; i < m * row; i++) dst[i] = 1.0f;
        return;
    }
    const int64_t bytes = m * row * (int64_t)sizeof(float);
    const int nt = nthreads > 1 && m > 1 && bytes >= GATHER_PAR_MIN_BYTES ? nthreads : 1;
    (void)nt;
    #pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        /* the rows are scattered: ask for one GATHER_AHEAD rows on */
        if (i + GATHER_AHEAD < m) {
            const char *ahead = (const char *)(src + perm[start + i + GATHER_AHEAD] * row);
            for (int64_t b = 0; b < row * (int64_t)sizeof(float); b += 64)
                __builtin_prefetch(ahead + b);
        }
        memcpy(dst + i * row, src + perm[start + i] * row, (size_t)row * sizeof(float));
    }
}

double dn_graph_last_reg_loss(const dn_graph_t *g) { return g ? g->last_reg_loss : 0.0; }

dn_status dn_graph_train_epoch(dn_graph_t *g, const float *const *data, int64_t n_samples,
                               int64_t batch_size, int shuffle, int nthreads, double *mean_loss)
{
    if (!g || !g->compiled) return dn_fail(DN_ERR_STATE, "compile the graph before training it");
    if (!g->has_optim) return dn_fail(DN_ERR_STATE, "set an optimiser (dn_graph_set_optimizer) before training");
    if (n_samples <= 0) return dn_fail(DN_ERR_INVALID, "training needs at least one sample, got %lld", (long long)n_samples);
    if (batch_size <= 0) return dn_fail(DN_ERR_INVALID, "batch_size must be >= 1, got %lld", (long long)batch_size);
    int64_t bs = DN_MIN(batch_size, n_samples);
    int nt = dn_graph_step_threads(g, bs, nthreads);
    dn_status s = dn_exec_prepare(g, bs, DN_RUN_TRAINING | DN_RUN_GRAD, DN_TARGET_LOSS);
    if (s) return s;
    for (int k = 0; k < g->n_inputs; k++) {
        int v = g->inputs[k];
        if (g->plan.active[v]) g->val[v] = (const float *)(g->arena + g->plan.val_off[v]);
    }
    if (g->perm_cap < n_samples) {
        int64_t *p = realloc(g->perm, (size_t)n_samples * sizeof *p);
        if (!p) return dn_fail(DN_ERR_NOMEM, "could not allocate the shuffle of %lld samples", (long long)n_samples);
        g->perm = p;
        g->perm_cap = n_samples;
    }
    if (shuffle)
        dn_rng_permutation(g->seed, DN_STREAM_SHUFFLE + g->epoch, g->perm, n_samples);
    else
        for (int64_t i = 0; i < n_samples; i++) g->perm[i] = i;
    const uint64_t epoch = g->epoch++;
    /* the augmented input reads its rows through the transforms instead of
     * the gather (include/dagnet/augment.h) */
    const int aug = dn_augment_enabled(&g->augment) && data && data[g->augment_input]
                    ? g->augment_input : -1;
    /* with reg_per_sample the regulariser is divided by the batch's total
     * sample weight, the denominator of its loss (scikit-learn's alpha) */
    const dn_node *loss_nd = &g->nodes[g->loss_node];
    const int wv = dn_loss_weight_node(loss_nd);
    const int wk = wv >= 0 ? g->nodes[wv].input_index : -1; /* its slot among the inputs */
    const int weighted = wk >= 0 && data && data[wk];
    double total = 0, total_reg = 0;
    const float *loss_val = NULL;
    for (int64_t start = 0; start < n_samples; start += bs) {
        int64_t m = DN_MIN(bs, n_samples - start);
        for (int k = 0; k < g->n_inputs; k++) {
            int v = g->inputs[k];
            if (!g->plan.active[v]) continue;
            const dn_shape *sh = &g->nodes[v].shape;
            if (k == aug)
                s = dn_augment_batch(&g->augment, data[k], g->perm + start, m, sh->dims[0],
                                     sh->dims[1], sh->dims[2], g->seed, epoch,
                                     (float *)g->val[v], nt);
            else
                gather((float *)g->val[v], data ? data[k] : NULL, g->perm, start, m,
                       dn_shape_numel(sh), nt);
            if (s) return s;
        }
        /* read before the run: the weights' buffer is reused after the loss's backward */
        double wsum = (double)m;
        if (weighted) {
            wsum = 0;
            for (int64_t i = 0; i < m; i++) wsum += g->val[wv][i];
        }
        dn_exec_forward(g, m, DN_RUN_TRAINING | DN_RUN_GRAD, nt);
        loss_val = g->val[g->loss_node];
        double loss = loss_val[0];
        if (!isfinite(loss)) {
            if (mean_loss) *mean_loss = loss;
            return dn_fail(DN_ERR_NUMERIC, "the loss became %s at step %lld (samples %lld..%lld of "
                           "the epoch) and training stopped. Lower the learning rate, scale the "
                           "inputs, or clip gradients (clip_norm)",
                           isnan(loss) ? "NaN" : "infinite", (long long)g->step + 1,
                           (long long)start, (long long)(start + m - 1));
        }
        dn_exec_backward(g, NULL, nt);
        double reg = 0;
        g->step++;
        if ((s = dn_optim_step(&g->optim, g->views, g->n_views, g->step, wsum, nt, &reg))) return s;
        total += (loss + reg) * (double)m;
        total_reg += reg * (double)m;
    }
    g->last_reg_loss = total_reg / (double)n_samples;
    if (mean_loss) *mean_loss = total / (double)n_samples;
    return DN_OK;
}
