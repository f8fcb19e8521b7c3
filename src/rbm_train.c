/* RBM training: one epoch of CD-k or PCD-k per call (include/dagnet/rbm.h;
 * seed 000, 9.2.1 contrastive divergence and 9.2.2 persistent chains;
 * seed 002, section 8, CD-k and PCD-k with the gradient from hidden
 * probabilities; seed 003, ch. 13: gradient ascent, both terms as means).
 *
 * Memory is allocated once per call; the batch loop allocates nothing. The
 * weight update is one GEMM over the stacked statistics
 *     [H+; H-]^T [V / m; -V- / r]   ((m + r) rows, so M = n_hidden, N = n_visible)
 * accumulated straight into W (beta = 1 - lr l2) or into its velocity
 * (beta = momentum). */
#include <math.h>
#include <stdlib.h>
#include "rbm_internal.h"

void dn_rbm_train_default(dn_rbm_train_config *c)
{
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->method = DN_RBM_CD;
    c->k = 1;
    c->batch_size = 10;
    c->lr = 0.1f;
}

void dn_rbm_train_sklearn(dn_rbm_train_config *c, float lr, int64_t batch_size, uint64_t seed)
{
    if (!c) return;
    dn_rbm_train_default(c);
    c->method = DN_RBM_PCD;
    c->k = 1;
    c->lr = lr;
    c->batch_size = batch_size;
    c->neg_per_batch = 1;
    c->seed = seed;
}

static dn_status check_config(const dn_rbm *m, const dn_rbm_train_config *c,
                              const dn_rbm_train_state *st, const float *X, int64_t n)
{
    dn_status s = dn_rbm_check(m);
    if (s) return s;
    if (!c) return dn_fail(DN_ERR_INVALID, "no training configuration given (NULL); fill one with "
                           "dn_rbm_train_default");
    if (!st) return dn_fail(DN_ERR_INVALID, "no training state given (NULL): pass a "
                            "dn_rbm_train_state, even an empty one for CD without momentum");
    if (n <= 0 || !X)
        return dn_fail(DN_ERR_INVALID, "training needs at least one sample, got %lld%s",
                       (long long)n, X ? "" : " (X is NULL)");
    if (c->method != DN_RBM_CD && c->method != DN_RBM_PCD)
        return dn_fail(DN_ERR_INVALID, "unknown training method %d; use DN_RBM_CD or DN_RBM_PCD",
                       (int)c->method);
    if (c->k < 1) return dn_fail(DN_ERR_INVALID, "k (Gibbs steps per update) must be >= 1, got %d", c->k);
    if (c->batch_size < 1)
        return dn_fail(DN_ERR_INVALID, "batch_size must be >= 1, got %lld", (long long)c->batch_size);
    if (!(c->lr > 0) || !isfinite(c->lr))
        return dn_fail(DN_ERR_INVALID, "the learning rate must be a positive finite number, got %g",
                       (double)c->lr);
    if (!(c->momentum >= 0 && c->momentum < 1))
        return dn_fail(DN_ERR_INVALID, "momentum must be in [0, 1), got %g", (double)c->momentum);
    if (!(c->l2 >= 0) || !isfinite(c->l2))
        return dn_fail(DN_ERR_INVALID, "the weight decay l2 must be >= 0 and finite, got %g", (double)c->l2);
    if (c->method == DN_RBM_PCD && (!st->chains || st->n_chains < 1))
        return dn_fail(DN_ERR_INVALID, "PCD needs the persistent chains: st->chains of shape (n_chains, "
                       "n_hidden) with n_chains >= 1 (zeros to start), got n_chains = %lld%s",
                       (long long)st->n_chains, st->chains ? "" : " and chains = NULL");
    if (c->momentum > 0 && (!st->vel_W || !st->vel_b || !st->vel_c))
        return dn_fail(DN_ERR_INVALID, "momentum > 0 needs the velocities st->vel_W, vel_b and vel_c "
                       "(shapes of W, b and c, zeros to start); one is NULL");
    if (c->sample_weight)
        for (int64_t i = 0; i < n; i++)
            if (!(c->sample_weight[i] >= 0) || !isfinite(c->sample_weight[i]))
                return dn_fail(DN_ERR_INVALID, "sample_weight[%lld] is %g; weights must be finite "
                               "and >= 0", (long long)i, (double)c->sample_weight[i]);
    return DN_OK;
}

/* Column sums of a (rows, cols) block into acc (double, rows in order),
 * each row times w[r] when w is given. */
static void col_sums(const float *a, const float *w, int64_t rows, int64_t cols, double *acc)
{
    for (int64_t j = 0; j < cols; j++) acc[j] = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *ar = a + r * cols;
        const double wr = w ? (double)w[r] : 1.0;
        for (int64_t j = 0; j < cols; j++) acc[j] += wr * ar[j];
    }
}

/* theta += lr d (no momentum), or vel = mu vel + lr d; theta += vel */
static void bias_update(float *theta, float *vel, const double *d, int64_t n, float lr, float mu)
{
    for (int64_t i = 0; i < n; i++) {
        float step = lr * (float)d[i];
        if (vel) {
            vel[i] = mu * vel[i] + step;
            step = vel[i];
        }
        theta[i] += step;
    }
}

DN_TARGET_CLONES
static void weight_step(float *W, float *vel, int64_t n, float decay)
{
    for (int64_t i = 0; i < n; i++) {
        vel[i] -= decay * W[i];
        W[i] += vel[i];
    }
}

DN_TARGET_CLONES
static void scale_row(float *x, int64_t n, float s)
{
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}

/* Row r of a (rows, cols) block times s w[r] (w NULL: all ones). */
static void scale_rows(float *a, const float *w, int64_t rows, int64_t cols, double s)
{
    if (!w) {
        scale_row(a, rows * cols, (float)s);
        return;
    }
    for (int64_t r = 0; r < rows; r++) scale_row(a + r * cols, cols, (float)(s * (double)w[r]));
}

dn_status dn_rbm_train_epoch(dn_rbm *m, const dn_rbm_train_config *c, dn_rbm_train_state *st,
                             const float *X, int64_t n, int nthreads, double *monitor)
{
    if (monitor) *monitor = 0;
    dn_status s = check_config(m, c, st, X, n);
    if (s) return s;
    const int nt = dn_rbm_threads(nthreads);
    const dn_gemm_fn gemm = dn_rbm_gemm();
    const int pcd = c->method == DN_RBM_PCD;
    const int64_t nv = m->n_visible, nh = m->n_hidden, nv2 = dn_rbm_even(nv);
    const int64_t bs = DN_MIN(c->batch_size, n);
    const int64_t rmax = pcd ? st->n_chains : bs; /* negative rows */
    const int64_t rows = DN_MAX(bs, rmax);
    const float lr = c->lr, mu = c->momentum;

    /* scratch: hcat, vcat (bs + rmax rows: the batch, then the chains),
     * vmean (rmax), CD chain state (bs), reconstruction (monitor) */
    const int64_t f_hcat = (bs + rmax) * nh, f_vcat = (bs + rmax) * nv, f_vmean = rmax * nv;
    const int64_t f_hs = pcd ? 0 : bs * nh, f_rec = c->monitor ? bs * nv : 0;
    const int64_t f_w = c->sample_weight ? bs : 0;
    const int64_t floats = f_hcat + f_vcat + f_vmean + f_hs + f_rec + f_w;
    float *ws = dn_alloc((size_t)floats * sizeof(float));
    double *sums = malloc((size_t)(2 * (nv + nh)) * sizeof(double));
    int64_t *perm = c->shuffle ? malloc((size_t)n * sizeof(int64_t)) : NULL;
    if (!ws || !sums || (c->shuffle && !perm)) {
        dn_free(ws);
        free(sums);
        free(perm);
        return dn_fail(DN_ERR_NOMEM, "RBM training: could not allocate %.1f MB of scratch",
                       (double)floats * 4e-6);
    }
    float *hcat = ws, *vcat = hcat + f_hcat, *vmean = vcat + f_vcat, *hs_cd = vmean + f_vmean;
    float *rec = hs_cd + f_hs, *wpos = c->sample_weight ? rec + f_rec : NULL;
    double *pos_v = sums, *pos_h = pos_v + nv, *neg_v = pos_h + nh, *neg_h = neg_v + nv;

    const uint64_t epoch = (uint64_t)st->epoch;
    const uint64_t stream = DN_RBM_STREAM_TRAIN + epoch;
    if (c->shuffle) dn_rng_permutation(c->seed, DN_RBM_STREAM_SHUFFLE + epoch, perm, n);
    /* draws of batch q: k + 1 phases of rows (n_hidden + nv2) positions each */
    const uint64_t phase = (uint64_t)rows * (uint64_t)(nh + nv2);
    const uint64_t per_batch = (uint64_t)(c->k + 1) * phase;
    double rec_err = 0;

    int64_t q = 0;
    for (int64_t start = 0; start < n; start += bs, q++) {
        const int64_t mb = DN_MIN(bs, n - start);
        /* the batch V goes to the first mb rows of vcat, the chains' V- after it */
        float *vpos = vcat;
        for (int64_t i = 0; i < mb; i++) {
            const int64_t row = c->shuffle ? perm[start + i] : start + i;
            memcpy(vpos + i * nv, X + row * nv, (size_t)nv * sizeof(float));
            if (wpos) wpos[i] = c->sample_weight[row];
        }
        const int64_t r = pcd ? st->n_chains : mb;
        float *hpos = hcat, *hneg = hcat + mb * nh, *vneg = vcat + mb * nv;
        float *hs = pcd ? st->chains : hs_cd;
        const uint64_t pos0 = (uint64_t)q * per_batch;

        /* positive phase: H+ = p(h | V), probabilities (seed 000, 9.2). PCD's
         * chains do not depend on it, so there it is computed below together
         * with H- in one product over the stacked rows [V; V-]. */
        if (!pcd) dn_rbm_hprob(m, vpos, mb, hpos, nt);
        /* CD: chains start at h ~ p(h | V) (seed 000, 9.2.1); PCD: at the
         * kept hidden samples (seed 000, 9.2.2) */
        if (!pcd) dn_rbm_bernoulli_rows(hpos, mb, nh, hs, c->seed, stream, pos0, (uint64_t)nh, nt);
        for (int t = 0; t < c->k; t++) {
            const uint64_t ph = pos0 + (uint64_t)(t + 1) * phase, pv = ph + (uint64_t)(rows * nh);
            dn_rbm_vmean(m, hs, r, vmean, nt);
            if (m->visible == DN_RBM_GAUSSIAN)
                dn_rbm_gaussian_rows(vmean, r, nv, vneg, c->seed, stream, pv, (uint64_t)nv2, nt);
            else
                dn_rbm_bernoulli_rows(vmean, r, nv, vneg, c->seed, stream, pv, (uint64_t)nv2, nt);
            if (pcd && t + 1 == c->k)
                dn_rbm_hprob(m, vcat, mb + r, hcat, nt); /* [H+; H-] at once */
            else
                dn_rbm_hprob(m, vneg, r, hneg, nt);
            if (pcd || t + 1 < c->k)
                dn_rbm_bernoulli_rows(hneg, r, nh, hs, c->seed, stream, ph, (uint64_t)nh, nt);
        }
        if (c->monitor) {
            dn_rbm_vmean(m, hpos, mb, rec, nt);
            for (int64_t i = 0; i < mb * nv; i++) {
                double d = (double)vpos[i] - rec[i];
                rec_err += d * d;
            }
        }

        /* gradient (seed 002, section 8, batched form): means over the batch
         * and over the chains, or both over the batch (scikit-learn) */
        /* With sample weights, the batch's terms are weighted means (divided
         * by the batch's total weight, which stands for its rows, also in
         * neg_per_batch's divisor), CD's negative rows weighted like the rows
         * they started from; a batch of zero weight changes nothing. */
        double mw = (double)mb;
        if (wpos) {
            mw = 0;
            for (int64_t i = 0; i < mb; i++) mw += wpos[i];
            if (!(mw > 0)) continue;
        }
        const float *wneg = pcd ? NULL : wpos;
        const double rn = pcd && !c->neg_per_batch ? (double)r : mw;
        col_sums(vpos, wpos, mb, nv, pos_v);
        col_sums(hpos, wpos, mb, nh, pos_h);
        col_sums(vneg, wneg, r, nv, neg_v);
        col_sums(hneg, wneg, r, nh, neg_h);
        int finite = 1;
        for (int64_t i = 0; i < nv; i++) {
            pos_v[i] = pos_v[i] / mw - neg_v[i] / rn;
            finite &= isfinite(pos_v[i]);
        }
        for (int64_t j = 0; j < nh; j++) {
            pos_h[j] = pos_h[j] / mw - neg_h[j] / rn;
            finite &= isfinite(pos_h[j]);
        }
        if (!finite) {
            dn_free(ws);
            free(sums);
            free(perm);
            return dn_fail(DN_ERR_NUMERIC, "RBM training diverged at batch %lld of epoch %lld (the "
                           "statistics are no longer finite); lower the learning rate or, for "
                           "Gaussian visible units, standardise the data",
                           (long long)q, (long long)epoch);
        }
        scale_rows(vpos, wpos, mb, nv, 1.0 / mw);
        scale_rows(vneg, wneg, r, nv, -1.0 / rn);
        if (mu > 0) {
            gemm(1, 0, nh, nv, mb + r, lr, hcat, nh, vcat, nv, mu, st->vel_W, nv, NULL, nt);
            weight_step(m->W, st->vel_W, nh * nv, lr * c->l2);
        } else {
            gemm(1, 0, nh, nv, mb + r, lr, hcat, nh, vcat, nv, 1.0f - lr * c->l2, m->W, nv, NULL, nt);
        }
        bias_update(m->b, mu > 0 ? st->vel_b : NULL, pos_v, nv, lr, mu);
        bias_update(m->c, mu > 0 ? st->vel_c : NULL, pos_h, nh, lr, mu);
    }
    st->epoch++;
    dn_free(ws);
    free(sums);
    free(perm);
    for (int64_t i = 0; i < nh * nv; i++)
        if (!isfinite(m->W[i]))
            return dn_fail(DN_ERR_NUMERIC, "RBM training diverged in epoch %lld (W is no longer "
                           "finite); lower the learning rate", (long long)epoch);
    if (monitor && c->monitor) *monitor = rec_err / (double)n;
    return DN_OK;
}
