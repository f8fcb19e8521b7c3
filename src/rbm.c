/* Restricted Boltzmann machines: conditionals, samplers, block Gibbs,
 * free energy and pseudo-likelihood (include/dagnet/rbm.h). Training is in
 * rbm_train.c, the partition function in rbm_logz.c. */
#include <math.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "rbm_internal.h"
#include "ops/fastmath.h"

dn_status dn_rbm_check(const dn_rbm *m)
{
    if (!m) return dn_fail(DN_ERR_INVALID, "no RBM given (NULL)");
    if (m->n_visible <= 0 || m->n_hidden <= 0)
        return dn_fail(DN_ERR_INVALID, "an RBM needs n_visible >= 1 and n_hidden >= 1, got %lld and %lld",
                       (long long)m->n_visible, (long long)m->n_hidden);
    if (m->visible != DN_RBM_BERNOULLI && m->visible != DN_RBM_GAUSSIAN)
        return dn_fail(DN_ERR_INVALID, "unknown visible unit type %d; use DN_RBM_BERNOULLI or "
                       "DN_RBM_GAUSSIAN", (int)m->visible);
    if (!m->W || !m->b || !m->c)
        return dn_fail(DN_ERR_INVALID, "the RBM's W, b and c must all be given (one is NULL)");
    int64_t t;
    if (!dn_mul_ok(m->n_visible, m->n_hidden, &t))
        return dn_fail(DN_ERR_INVALID, "n_visible * n_hidden overflows");
    return DN_OK;
}

static dn_status check_rows(const char *what, int64_t n, const void *a, const void *b)
{
    if (n < 0) return dn_fail(DN_ERR_INVALID, "%s: the number of rows must be >= 0, got %lld", what, (long long)n);
    if (n > 0 && (!a || !b)) return dn_fail(DN_ERR_INVALID, "%s: an input or output array is NULL", what);
    return DN_OK;
}

/* --- conditionals (seed 000, 9.2; seed 002, section 8) -------------------- */

/* ph (n, nh) = sigmoid(v W^T + c): p(h_j = 1 | v) = sigmoid(c_j + W_j.v) */
void dn_rbm_hprob(const dn_rbm *m, const float *v, int64_t n, float *ph, int nt)
{
    dn_gemm_epilogue ep = {m->c, DN_ACT_SIGMOID, 0.0f};
    dn_rbm_gemm()(0, 1, n, m->n_hidden, m->n_visible, 1.0f, v, m->n_visible, m->W,
                  m->n_visible, 0.0f, ph, m->n_hidden, &ep, nt);
}

/* mv (n, nv) = sigmoid(h W + b) (Bernoulli) or h W + b (Gaussian mean) */
void dn_rbm_vmean(const dn_rbm *m, const float *h, int64_t n, float *mv, int nt)
{
    dn_gemm_epilogue ep = {m->b, m->visible == DN_RBM_GAUSSIAN ? DN_ACT_IDENTITY : DN_ACT_SIGMOID,
                           0.0f};
    dn_rbm_gemm()(0, 0, n, m->n_visible, m->n_hidden, 1.0f, h, m->n_hidden, m->W,
                  m->n_visible, 0.0f, mv, m->n_visible, &ep, nt);
}

dn_status dn_rbm_hidden_probs(const dn_rbm *m, const float *v, int64_t n, float *ph, int nthreads)
{
    dn_status s = dn_rbm_check(m);
    if (s || (s = check_rows("hidden probabilities", n, v, ph))) return s;
    if (n) dn_rbm_hprob(m, v, n, ph, dn_rbm_threads(nthreads));
    return DN_OK;
}

dn_status dn_rbm_visible_means(const dn_rbm *m, const float *h, int64_t n, float *mv, int nthreads)
{
    dn_status s = dn_rbm_check(m);
    if (s || (s = check_rows("visible means", n, h, mv))) return s;
    if (n) dn_rbm_vmean(m, h, n, mv, dn_rbm_threads(nthreads));
    return DN_OK;
}

/* --- samplers --------------------------------------------------------------- */

#define WORDS 512

/* x = [u < p] (seed 002, section 1: a stochastic binary unit) */
DN_TARGET_CLONES
static void bernoulli_compare(const float *p, const uint32_t *w, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = select_f(dn_u32_to_unit(w[i]) < p[i], 1.0f, 0.0f);
}

static void bernoulli_row(const float *p, int64_t cols, float *x, uint64_t seed, uint64_t stream,
                          uint64_t pos)
{
    uint32_t w[WORDS];
    for (int64_t j0 = 0; j0 < cols; j0 += WORDS) {
        int64_t len = DN_MIN((int64_t)WORDS, cols - j0);
        dn_rng_fill_u32(seed, stream, pos + (uint64_t)j0, w, len);
        bernoulli_compare(p + j0, w, x + j0, len);
    }
}

void dn_rbm_bernoulli_rows(const float *p, int64_t rows, int64_t cols, float *x, uint64_t seed,
                           uint64_t stream, uint64_t offset, uint64_t pstride, int nthreads)
{
    const int nt = rows * cols >= DN_RBM_PAR_MIN ? nthreads : 1;
    (void)nt;
    #pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        bernoulli_row(p + r * cols, cols, x + r * cols, seed, stream, offset + (uint64_t)r * pstride);
}

void dn_rbm_gaussian_rows(const float *mean, int64_t rows, int64_t cols, float *x, uint64_t seed,
                          uint64_t stream, uint64_t offset, uint64_t pstride, int nthreads)
{
    const int nt = rows * cols >= DN_RBM_PAR_MIN / 4 ? nthreads : 1;
    (void)nt;
    #pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float z[WORDS];
        const float *mr = mean + r * cols;
        float *xr = x + r * cols;
        for (int64_t j0 = 0; j0 < cols; j0 += WORDS) {
            int64_t len = DN_MIN((int64_t)WORDS, cols - j0);
            /* WORDS is even, so element j keeps the pair at 2 (j / 2) */
            dn_rng_normal(seed, stream, offset + (uint64_t)r * pstride + (uint64_t)j0, z, len);
            for (int64_t j = 0; j < len; j++) xr[j0 + j] = mr[j0 + j] + z[j];
        }
    }
}

dn_status dn_rbm_sample_bernoulli(const float *p, int64_t rows, int64_t cols, float *x,
                                  uint64_t seed, uint64_t stream, uint64_t offset, int nthreads)
{
    if (rows < 0 || cols < 0)
        return dn_fail(DN_ERR_INVALID, "Bernoulli draws: rows and cols must be >= 0, got %lld, %lld",
                       (long long)rows, (long long)cols);
    if (rows * cols > 0 && (!p || !x))
        return dn_fail(DN_ERR_INVALID, "Bernoulli draws: the probabilities or the output is NULL");
    if (rows * cols > 0)
        dn_rbm_bernoulli_rows(p, rows, cols, x, seed, stream, offset, (uint64_t)cols,
                              dn_rbm_threads(nthreads));
    return DN_OK;
}

dn_status dn_rbm_sample_gaussian(const float *mean, int64_t rows, int64_t cols, float *x,
                                 uint64_t seed, uint64_t stream, uint64_t offset, int nthreads)
{
    if (rows < 0 || cols < 0)
        return dn_fail(DN_ERR_INVALID, "Gaussian draws: rows and cols must be >= 0, got %lld, %lld",
                       (long long)rows, (long long)cols);
    if (rows * cols > 0 && (!mean || !x))
        return dn_fail(DN_ERR_INVALID, "Gaussian draws: the means or the output is NULL");
    if (rows * cols > 0)
        dn_rbm_gaussian_rows(mean, rows, cols, x, seed, stream, offset,
                             (uint64_t)dn_rbm_even(cols), dn_rbm_threads(nthreads));
    return DN_OK;
}

/* --- block Gibbs (seed 002, Algorithm 1: hidden first, then visible) ------- */

uint64_t dn_rbm_gibbs_positions(const dn_rbm *m, int64_t n, int k)
{
    if (!m || n <= 0 || k <= 0) return 0;
    return (uint64_t)k * (uint64_t)n * (uint64_t)(m->n_hidden + dn_rbm_even(m->n_visible));
}

/* v ~ p(v | mean) for either unit type, rows drawn at `pos` with stride nv2 */
static void draw_visible(const dn_rbm *m, const float *mean, int64_t n, float *v, uint64_t seed,
                         uint64_t stream, uint64_t pos, int nt)
{
    const uint64_t nv2 = (uint64_t)dn_rbm_even(m->n_visible);
    if (m->visible == DN_RBM_GAUSSIAN)
        dn_rbm_gaussian_rows(mean, n, m->n_visible, v, seed, stream, pos, nv2, nt);
    else
        dn_rbm_bernoulli_rows(mean, n, m->n_visible, v, seed, stream, pos, nv2, nt);
}

dn_status dn_rbm_gibbs(const dn_rbm *m, int64_t n, int k, int from_hidden, float *v, float *h,
                       float *v_mean, float *h_prob, uint64_t seed, uint64_t stream,
                       uint64_t offset, int nthreads)
{
    dn_status s = dn_rbm_check(m);
    if (s || (s = check_rows("Gibbs sampling", n, v, h))) return s;
    if (k < 1) return dn_fail(DN_ERR_INVALID, "Gibbs sampling needs k >= 1 steps, got %d", k);
    if (n == 0) return DN_OK;
    const int nt = dn_rbm_threads(nthreads);
    const int64_t nh = m->n_hidden, nv2 = dn_rbm_even(m->n_visible);
    const uint64_t step = (uint64_t)n * (uint64_t)(nh + nv2);
    float *vm = v_mean ? v_mean : v;
    for (int t = 0; t < k; t++) {
        const uint64_t hpos = offset + (uint64_t)t * step, vpos = hpos + (uint64_t)(n * nh);
        if (!from_hidden) {
            dn_rbm_hprob(m, v, n, h, nt);
            dn_rbm_bernoulli_rows(h, n, nh, h, seed, stream, hpos, (uint64_t)nh, nt);
            dn_rbm_vmean(m, h, n, vm, nt);
            draw_visible(m, vm, n, v, seed, stream, vpos, nt);
        } else {
            float *hp = h_prob ? h_prob : h;
            dn_rbm_vmean(m, h, n, vm, nt);
            draw_visible(m, vm, n, v, seed, stream, vpos, nt);
            dn_rbm_hprob(m, v, n, hp, nt);
            dn_rbm_bernoulli_rows(hp, n, nh, h, seed, stream, hpos, (uint64_t)nh, nt);
        }
    }
    if (!from_hidden && h_prob) dn_rbm_hprob(m, v, n, h_prob, nt);
    return DN_OK;
}

/* --- free energy ---------------------------------------------------------------
 * F(v) = -b.v - sum_j softplus(c_j + W_j.v) (Bernoulli) or
 * |v - b|^2/2 - sum_j softplus(...) (Gaussian): log sum_h e^-E(v,h) summed
 * over each h_j in {0, 1} (seed 003, ch. 13 checklist: free energy). */

/* Rows computed per product, bounding the scratch. */
#define FE_ROWS 256

static double visible_term(const dn_rbm *m, const float *v)
{
    double t = 0;
    if (m->visible == DN_RBM_GAUSSIAN)
        for (int64_t i = 0; i < m->n_visible; i++) {
            double d = (double)v[i] - m->b[i];
            t += 0.5 * d * d;
        }
    else
        for (int64_t i = 0; i < m->n_visible; i++) t -= (double)m->b[i] * v[i];
    return t;
}

/* reference: every pre-activation as a double dot product */
static double free_energy_one_ref(const dn_rbm *m, const float *v)
{
    double f = visible_term(m, v);
    for (int64_t j = 0; j < m->n_hidden; j++) {
        const float *w = m->W + j * m->n_visible;
        double x = m->c[j];
        for (int64_t i = 0; i < m->n_visible; i++) x += (double)w[i] * v[i];
        f -= dn_softplus_d(x);
    }
    return f;
}

dn_status dn_rbm_free_energy(const dn_rbm *m, const float *v, int64_t n, double *F, int nthreads)
{
    dn_status s = dn_rbm_check(m);
    if (s || (s = check_rows("free energy", n, v, F))) return s;
    if (n == 0) return DN_OK;
    const int nt = dn_rbm_threads(nthreads);
    const int64_t nv = m->n_visible, nh = m->n_hidden;
    if (dn_reference_mode()) {
        for (int64_t r = 0; r < n; r++) F[r] = free_energy_one_ref(m, v + r * nv);
        return DN_OK;
    }
    const int64_t rows = DN_MIN(n, (int64_t)FE_ROWS);
    float *x = dn_alloc((size_t)(rows * nh) * sizeof(float));
    if (!x) return dn_fail(DN_ERR_NOMEM, "free energy: could not allocate %lld floats of scratch",
                           (long long)(rows * nh));
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
        const int64_t len = DN_MIN(rows, n - r0);
        const float *vr = v + r0 * nv;
        dn_gemm_epilogue ep = {m->c, DN_ACT_IDENTITY, 0.0f};
        dn_sgemm(0, 1, len, nh, nv, 1.0f, vr, nv, m->W, nv, 0.0f, x, nh, &ep, nt);
        const int pt = len * nh >= DN_RBM_PAR_MIN / 8 ? nt : 1;
        (void)pt;
        #pragma omp parallel for num_threads(pt) if (pt > 1) schedule(static)
        for (int64_t r = 0; r < len; r++) {
            double f = visible_term(m, vr + r * nv);
            const float *xr = x + r * nh;
            for (int64_t j = 0; j < nh; j++) f -= dn_softplus_d(xr[j]);
            F[r0 + r] = f;
        }
    }
    dn_free(x);
    return DN_OK;
}

/* --- pseudo-likelihood ------------------------------------------------------
 * log PL(v) = sum_i log p(v_i | v_-i) = sum_i log sigmoid(F(v~i) - F(v)),
 * v~i = v with bit i flipped (Besag 1975; scikit-learn's score_samples
 * samples one i and scales by n_visible). */

/* log sigmoid(d) = -softplus(-d) */
static inline double log_sigmoid(double d) { return -dn_softplus_d(-d); }

/* reference: both free energies recomputed from scratch for every i */
static double pl_one_ref(const dn_rbm *m, const float *v, float *tmp, int64_t only)
{
    const int64_t nv = m->n_visible;
    const double f0 = free_energy_one_ref(m, v);
    double pl = 0;
    for (int64_t i = (only >= 0 ? only : 0); i < (only >= 0 ? only + 1 : nv); i++) {
        memcpy(tmp, v, (size_t)nv * sizeof(float));
        tmp[i] = 1.0f - tmp[i];
        pl += log_sigmoid(free_energy_one_ref(m, tmp) - f0);
    }
    return only >= 0 ? (double)nv * pl : pl;
}

/* d[j] = softplus(x[j] + s w[j]) - softplus(x[j]) with sp0 = softplus(x) */
DN_TARGET_CLONES
static void softplus_shift(const float *x, const float *sp0, const float *w, float s, float *d,
                           int64_t n)
{
    for (int64_t j = 0; j < n; j++) d[j] = softplus_fast(x[j] + s * w[j]) - sp0[j];
}

DN_TARGET_CLONES
static void softplus_row(const float *x, float *y, int64_t n)
{
    for (int64_t j = 0; j < n; j++) y[j] = softplus_fast(x[j]);
}

/* One row: x = W v + c (nh), WT (nv, nh) = W^T, scratch sp0, d (nh each). */
static double pl_one(const dn_rbm *m, const float *v, const float *x, const float *WT, float *sp0,
                     float *d, int64_t only)
{
    const int64_t nv = m->n_visible, nh = m->n_hidden;
    softplus_row(x, sp0, nh);
    double pl = 0;
    for (int64_t i = (only >= 0 ? only : 0); i < (only >= 0 ? only + 1 : nv); i++) {
        /* flipping v_i to 1 - v_i adds s W_ji to every pre-activation x_j,
         * s = 1 - 2 v_i (+-1 for binary v; scikit-learn flips values in
         * [0, 1] the same way) */
        const float s = 1.0f - 2.0f * v[i];
        softplus_shift(x, sp0, WT + i * nh, s, d, nh);
        double dsp = 0;
        for (int64_t j = 0; j < nh; j++) dsp += d[j];
        /* F(v~i) - F(v) = -b_i s - sum_j [softplus(x_j + s W_ji) - softplus(x_j)] */
        pl += log_sigmoid(-(double)m->b[i] * s - dsp);
    }
    return only >= 0 ? (double)nv * pl : pl;
}

dn_status dn_rbm_pseudo_likelihood(const dn_rbm *m, const float *v, int64_t n,
                                   const int64_t *feature, double *pl, int nthreads)
{
    dn_status s = dn_rbm_check(m);
    if (s || (s = check_rows("pseudo-likelihood", n, v, pl))) return s;
    if (m->visible != DN_RBM_BERNOULLI)
        return dn_fail(DN_ERR_INVALID, "the pseudo-likelihood is defined here for binary (Bernoulli) "
                       "visible units only; score a Gaussian RBM by its free energy or by log "
                       "p(v) = -F(v) - log Z");
    const int64_t nv = m->n_visible, nh = m->n_hidden;
    if (feature)
        for (int64_t r = 0; r < n; r++)
            if (feature[r] < 0 || feature[r] >= nv)
                return dn_fail(DN_ERR_INVALID, "pseudo-likelihood: feature[%lld] = %lld is not a "
                               "visible unit index in [0, %lld)", (long long)r,
                               (long long)feature[r], (long long)nv);
    if (n == 0) return DN_OK;
    const int nt = dn_rbm_threads(nthreads);
    if (dn_reference_mode()) {
        float *tmp = dn_alloc((size_t)nv * sizeof(float));
        if (!tmp) return dn_fail(DN_ERR_NOMEM, "pseudo-likelihood: out of memory");
        for (int64_t r = 0; r < n; r++) pl[r] = pl_one_ref(m, v + r * nv, tmp, feature ? feature[r] : -1);
        dn_free(tmp);
        return DN_OK;
    }
    const int64_t rows = DN_MIN(n, (int64_t)FE_ROWS);
    const int pt = (double)n * (double)nh * (feature ? 1.0 : (double)nv) >= DN_RBM_PAR_MIN ? nt : 1;
    float *x = dn_alloc((size_t)(rows * nh + nv * nh + (int64_t)pt * 2 * nh) * sizeof(float));
    if (!x) return dn_fail(DN_ERR_NOMEM, "pseudo-likelihood: could not allocate the scratch");
    float *WT = x + rows * nh, *scratch = WT + nv * nh;
    for (int64_t j = 0; j < nh; j++)
        for (int64_t i = 0; i < nv; i++) WT[i * nh + j] = m->W[j * nv + i];
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
        const int64_t len = DN_MIN(rows, n - r0);
        const float *vr = v + r0 * nv;
        dn_gemm_epilogue ep = {m->c, DN_ACT_IDENTITY, 0.0f};
        dn_sgemm(0, 1, len, nh, nv, 1.0f, vr, nv, m->W, nv, 0.0f, x, nh, &ep, nt);
        #pragma omp parallel num_threads(pt) if (pt > 1)
        {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            float *sp0 = scratch + (int64_t)tid * 2 * nh, *d = sp0 + nh;
            #pragma omp for schedule(static)
            for (int64_t r = 0; r < len; r++)
                pl[r0 + r] = pl_one(m, vr + r * nv, x + r * nh, WT, sp0, d,
                                    feature ? feature[r0 + r] : -1);
        }
    }
    dn_free(x);
    return DN_OK;
}
