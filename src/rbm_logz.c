/* The RBM partition function Z = sum_{v,h} e^-E(v,h) (seed 000, 9.2;
 * seed 002, section 8, "compute Z exactly on tiny models"): exactly by
 * enumeration of the smaller layer, or by annealed importance sampling. */
#include <math.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "rbm_internal.h"
#include "ops/fastmath.h"

/* --- exact: enumeration in Gray-code order ----------------------------------
 *
 * Summing out the larger layer leaves one term per state s of the smaller:
 *   over h (Bernoulli):  c.h + sum_i softplus(b_i + (h W)_i)
 *   over v (Bernoulli):  b.v + sum_j softplus(c_j + W_j.v)      (= -F(v))
 *   over h (Gaussian):   c.h + a.b + |a|^2 / 2 + (n_visible / 2) log 2 pi,
 *                        a = h W (the Gaussian integral of e^-E over v)
 * Consecutive Gray codes differ in one unit, so the pre-activations move by
 * one row of D (W for h, W^T for v) per state: n_big operations instead of
 * n_small * n_big. States are cut into chunks that start from a directly
 * computed state (no drift) and are reduced by log-sum-exp in chunk order. */

#define CHUNK_BITS 12
#define LOG_2PI 1.8378770664093454836
#define MAX_ENUM_BITS 30

/* index of the lowest set bit of x > 0 */
static inline int low_bit(uint64_t x)
{
#if defined(__GNUC__)
    return __builtin_ctzll(x);
#else
    int u = 0;
    while (!(x & 1)) {
        x >>= 1;
        u++;
    }
    return u;
#endif
}

typedef struct enum_task {
    int ns;                /* units enumerated */
    int64_t nb;            /* units summed out */
    const double *D;       /* (ns, nb) rows added when a unit turns on */
    const double *lin;     /* (ns) linear coefficients of the enumerated units */
    const double *base;    /* (nb) pre-activation of the all-zero state */
    const double *gb;      /* Gaussian: b (nb); NULL for softplus terms */
} enum_task;

static double state_value(const enum_task *t, const double *pre, double lin)
{
    double s = lin;
    if (t->gb)
        for (int64_t i = 0; i < t->nb; i++) s += pre[i] * (t->gb[i] + 0.5 * pre[i]);
    else
        for (int64_t i = 0; i < t->nb; i++) s += dn_softplus_d(pre[i]);
    return s;
}

/* (max, sum of e^(value - max)) over Gray states [i0, i1) */
static void enum_chunk(const enum_task *t, uint64_t i0, uint64_t i1, double *pre, double *mx,
                       double *sum)
{
    uint64_t g = i0 ^ (i0 >> 1);
    double lin = 0;
    memcpy(pre, t->base, (size_t)t->nb * sizeof(double));
    for (int u = 0; u < t->ns; u++)
        if (g >> u & 1) {
            lin += t->lin[u];
            for (int64_t i = 0; i < t->nb; i++) pre[i] += t->D[u * t->nb + i];
        }
    double m = state_value(t, pre, lin), s = 1.0;
    for (uint64_t idx = i0 + 1; idx < i1; idx++) {
        const int u = low_bit(idx);
        const double sign = ((idx ^ (idx >> 1)) >> u & 1) ? 1.0 : -1.0;
        const double *d = t->D + u * t->nb;
        lin += sign * t->lin[u];
        for (int64_t i = 0; i < t->nb; i++) pre[i] += sign * d[i];
        const double val = state_value(t, pre, lin);
        if (val > m) {
            s = s * exp(m - val) + 1.0;
            m = val;
        } else {
            s += exp(val - m);
        }
    }
    *mx = m;
    *sum = s;
}

dn_status dn_rbm_log_z_exact(const dn_rbm *m, int nthreads, double *log_z)
{
    dn_status st = dn_rbm_check(m);
    if (st) return st;
    if (!log_z) return dn_fail(DN_ERR_INVALID, "exact log Z: the output pointer is NULL");
    const int gauss = m->visible == DN_RBM_GAUSSIAN;
    const int64_t nv = m->n_visible, nh = m->n_hidden;
    const int over_h = gauss || nh <= nv;
    const int64_t ns = over_h ? nh : nv, nb = over_h ? nv : nh;
    if (ns > MAX_ENUM_BITS)
        return dn_fail(DN_ERR_INVALID, "exact log Z enumerates 2^%lld states of the %s layer, more "
                       "than 2^%d; estimate it by annealed importance sampling "
                       "(dn_rbm_log_z_ais)%s", (long long)ns, over_h ? "hidden" : "visible",
                       MAX_ENUM_BITS, gauss ? " (Gaussian visible units are always summed out, "
                       "so the hidden layer is enumerated)" : "");
    const int nt = dn_rbm_threads(nthreads);
    const uint64_t total = 1ull << ns;
    const uint64_t chunk = DN_MIN(total, 1ull << CHUNK_BITS);
    const int64_t nchunks = (int64_t)(total / chunk);
    double *D = malloc((size_t)(ns * nb + ns + 2 * nb) * sizeof(double));
    double *res = malloc((size_t)(2 * nchunks) * sizeof(double));
    double *pre = malloc((size_t)(nt * nb) * sizeof(double));
    if (!D || !res || !pre) {
        free(D);
        free(res);
        free(pre);
        return dn_fail(DN_ERR_NOMEM, "exact log Z: out of memory");
    }
    double *lin = D + ns * nb, *base = lin + ns, *gb = base + nb;
    for (int64_t u = 0; u < ns; u++)
        for (int64_t i = 0; i < nb; i++)
            D[u * nb + i] = over_h ? m->W[u * nv + i] : m->W[i * nv + u];
    for (int64_t u = 0; u < ns; u++) lin[u] = over_h ? m->c[u] : m->b[u];
    for (int64_t i = 0; i < nb; i++) {
        base[i] = gauss ? 0.0 : (over_h ? m->b[i] : m->c[i]);
        gb[i] = gauss ? m->b[i] : 0.0;
    }
    enum_task task = {(int)ns, nb, D, lin, base, gauss ? gb : NULL};
    const int pt = (double)total * (double)nb >= DN_RBM_PAR_MIN && nchunks > 1 ? nt : 1;
    (void)pt;
    #pragma omp parallel for num_threads(pt) if (pt > 1) schedule(dynamic, 1)
    for (int64_t q = 0; q < nchunks; q++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        enum_chunk(&task, (uint64_t)q * chunk, (uint64_t)(q + 1) * chunk, pre + tid * nb,
                   &res[2 * q], &res[2 * q + 1]);
    }
    double mx = -INFINITY;
    for (int64_t q = 0; q < nchunks; q++) mx = DN_MAX(mx, res[2 * q]);
    double s = 0;
    for (int64_t q = 0; q < nchunks; q++) s += res[2 * q + 1] * exp(res[2 * q] - mx);
    *log_z = mx + log(s) + (gauss ? 0.5 * (double)nv * LOG_2PI : 0.0);
    free(D);
    free(res);
    free(pre);
    if (!isfinite(*log_z))
        return dn_fail(DN_ERR_NUMERIC, "exact log Z is not finite (%g); the parameters hold "
                       "NaN or infinite values", *log_z);
    return DN_OK;
}

/* --- annealed importance sampling -------------------------------------------
 * Neal (2001); Salakhutdinov and Murray, "On the quantitative analysis of
 * deep belief networks" (ICML 2008), section 4.2: base model A with W = 0,
 * c = 0 and visible bias base_b, so Z_A = prod_i (1 + e^{base_b_i}) 2^nh
 * (Bernoulli) or (2 pi)^{nv/2} 2^nh (Gaussian), and exact samples from it.
 * Run: v_1 ~ p_A; for k = 1 .. K-1:
 *   log w += log p*_{beta_k}(v_k) - log p*_{beta_{k-1}}(v_k);
 *   v_{k+1} ~ T_k(v_k): h ~ sigmoid(beta_k (W v + c)), v ~ p(v | b_beta + beta_k h W)
 * and log Z_B ~= log Z_A + log mean(w). */

void dn_rbm_ais_default(dn_rbm_ais_config *c)
{
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->n_runs = 100;
    c->n_betas = 10000;
}

dn_status dn_rbm_ais_betas(int64_t n, double *betas)
{
    if (n < 2 || !betas)
        return dn_fail(DN_ERR_INVALID, "an AIS schedule needs at least 2 betas (0 and 1), got %lld%s",
                       (long long)n, betas ? "" : " and no output array");
    /* 500 : 4000 : 10000 of Salakhutdinov and Murray's schedule, scaled */
    int64_t n1 = (int64_t)(0.04 * (double)n), n2 = (int64_t)(0.28 * (double)n);
    int64_t n3 = n - n1 - n2;
    for (int64_t i = 0; i < n1; i++) betas[i] = 0.5 * (double)i / (double)n1;
    for (int64_t i = 0; i < n2; i++) betas[n1 + i] = 0.5 + 0.4 * (double)i / (double)n2;
    /* the last segment includes both ends when it is the only one */
    const double lo = n1 + n2 > 0 ? 0.9 : 0.0;
    const int64_t steps = n1 + n2 > 0 ? n3 : n3 - 1;
    for (int64_t i = 0; i < n3; i++)
        betas[n1 + n2 + i] = n1 + n2 > 0 ? lo + (1.0 - lo) * (double)(i + 1) / (double)steps
                                         : (double)i / (double)steps;
    betas[0] = 0.0;
    betas[n - 1] = 1.0;
    return DN_OK;
}

/* Runs per chunk: chunks run in parallel, each with its own GEMMs. */
#define AIS_ROWS 16

/* sum_j [softplus(b1 x_j) - softplus(b0 x_j)], b1 >= b0 >= 0, each term as
 * (b1 - b0) max(x_j, 0) + log1p(e^-b1|x_j|) - log1p(e^-b0|x_j|) so no large
 * values are subtracted in float; summed in double. */
DN_TARGET_CLONES
static void softplus_diff(const float *x, float b0, float b1, float *d, int64_t n)
{
    const float db = b1 - b0;
    for (int64_t j = 0; j < n; j++) {
        float ax = fabsf(x[j]);
        d[j] = db * select_f(float_bits(x[j]) > 0, x[j], 0.0f) + log1p_unit(exp_fast(-b1 * ax)) -
               log1p_unit(exp_fast(-b0 * ax));
    }
}

typedef struct ais_ctx {
    const dn_rbm *m;
    const double *betas;
    int64_t K, M;
    const float *bA;   /* base visible bias */
    double dd;         /* |b - bA|^2 (Gaussian) */
    uint64_t seed;
} ais_ctx;

/* Runs [r0, r0 + rows): log weights into lw. ws: rows * (nv + 2 nh) + 2 nv floats. */
static void ais_chunk(const ais_ctx *a, int64_t r0, int64_t rows, float *ws, double *lw)
{
    const dn_rbm *m = a->m;
    const int64_t nv = m->n_visible, nh = m->n_hidden, nv2 = dn_rbm_even(nv);
    const int gauss = m->visible == DN_RBM_GAUSSIAN;
    float *V = ws, *X = V + rows * nv, *H = X + rows * nh, *bias = H + rows * nh, *d = bias + nv;
    const uint64_t S = (uint64_t)(nh + nv2), stream = DN_RBM_STREAM_AIS;
    /* positions of run r at step k: ((k M + r) S): hidden first, then visible */
#define POS(k) (((uint64_t)(k) * (uint64_t)a->M + (uint64_t)r0) * S)
    /* v_1 ~ p_A */
    if (gauss) {
        for (int64_t r = 0; r < rows; r++) memcpy(V + r * nv, a->bA, (size_t)nv * sizeof(float));
        dn_rbm_gaussian_rows(V, rows, nv, V, a->seed, stream, POS(0) + (uint64_t)nh, S, 1);
    } else {
        for (int64_t i = 0; i < nv; i++) bias[i] = sigmoid_fast(a->bA[i]);
        for (int64_t r = 0; r < rows; r++) memcpy(V + r * nv, bias, (size_t)nv * sizeof(float));
        dn_rbm_bernoulli_rows(V, rows, nv, V, a->seed, stream, POS(0) + (uint64_t)nh, S, 1);
    }
    for (int64_t r = 0; r < rows; r++) lw[r] = 0;
    const dn_gemm_fn gemm = dn_rbm_gemm();
    dn_gemm_epilogue epx = {m->c, DN_ACT_IDENTITY, 0.0f};
    for (int64_t k = 1; k < a->K; k++) {
        const double b0 = a->betas[k - 1], b1 = a->betas[k], db = b1 - b0;
        /* X = V W^T + c */
        gemm(0, 1, rows, nh, nv, 1.0f, V, nv, m->W, nv, 0.0f, X, nh, &epx, 1);
        for (int64_t r = 0; r < rows; r++) {
            const float *v = V + r * nv;
            double t = 0;
            if (gauss) {
                /* -|u - b1 d|^2/2 + |u - b0 d|^2/2, u = v - bA, d = b - bA */
                double ud = 0;
                for (int64_t i = 0; i < nv; i++)
                    ud += ((double)v[i] - a->bA[i]) * ((double)m->b[i] - a->bA[i]);
                t = db * ud - 0.5 * (b1 * b1 - b0 * b0) * a->dd;
            } else {
                for (int64_t i = 0; i < nv; i++) t += ((double)m->b[i] - a->bA[i]) * v[i];
                t *= db;
            }
            softplus_diff(X + r * nh, (float)b0, (float)b1, d, nh);
            for (int64_t j = 0; j < nh; j++) t += d[j];
            lw[r] += t;
        }
        if (k == a->K - 1) break;
        /* transition T_k, which leaves p_{beta_k} invariant: h ~ sigmoid(beta X) */
        const float bf = (float)b1;
        for (int64_t i = 0; i < rows * nh; i++) H[i] = sigmoid_fast(bf * X[i]);
        dn_rbm_bernoulli_rows(H, rows, nh, H, a->seed, stream, POS(k), S, 1);
        /* v ~ p(v | (1 - beta) bA + beta (b + h W)) */
        for (int64_t i = 0; i < nv; i++) bias[i] = (float)((1.0 - b1) * a->bA[i] + b1 * m->b[i]);
        dn_gemm_epilogue epv = {bias, gauss ? DN_ACT_IDENTITY : DN_ACT_SIGMOID, 0.0f};
        gemm(0, 0, rows, nv, nh, bf, H, nh, m->W, nv, 0.0f, V, nv, &epv, 1);
        if (gauss)
            dn_rbm_gaussian_rows(V, rows, nv, V, a->seed, stream, POS(k) + (uint64_t)nh, S, 1);
        else
            dn_rbm_bernoulli_rows(V, rows, nv, V, a->seed, stream, POS(k) + (uint64_t)nh, S, 1);
    }
#undef POS
}

dn_status dn_rbm_log_z_ais(const dn_rbm *m, const dn_rbm_ais_config *c, int nthreads,
                           dn_rbm_ais_result *out, double *log_w)
{
    dn_status st = dn_rbm_check(m);
    if (st) return st;
    if (!c || !out) return dn_fail(DN_ERR_INVALID, "AIS: the configuration or the result is NULL");
    if (c->n_runs < 2) return dn_fail(DN_ERR_INVALID, "AIS needs n_runs >= 2 (for a spread), got %lld",
                                      (long long)c->n_runs);
    if (c->n_betas < 2) return dn_fail(DN_ERR_INVALID, "AIS needs n_betas >= 2 (0 and 1), got %lld",
                                       (long long)c->n_betas);
    const int64_t K = c->n_betas, M = c->n_runs, nv = m->n_visible, nh = m->n_hidden;
    if (c->betas) {
        if (c->betas[0] != 0.0 || c->betas[K - 1] != 1.0)
            return dn_fail(DN_ERR_INVALID, "an AIS schedule must start at beta = 0 and end at 1, got "
                           "%g and %g", c->betas[0], c->betas[K - 1]);
        for (int64_t k = 1; k < K; k++)
            if (!(c->betas[k] >= c->betas[k - 1]))
                return dn_fail(DN_ERR_INVALID, "an AIS schedule must not decrease: betas[%lld] = %g "
                               "after %g", (long long)k, c->betas[k], c->betas[k - 1]);
    }
    const int nt = dn_rbm_threads(nthreads);
    const int64_t nchunks = (M + AIS_ROWS - 1) / AIS_ROWS;
    const int pt = (int)DN_MIN((int64_t)nt, nchunks);
    const int64_t per = AIS_ROWS * (nv + 2 * nh) + 2 * nv + nh;
    double *betas = c->betas ? NULL : malloc((size_t)K * sizeof(double));
    double *lw = malloc((size_t)M * sizeof(double));
    float *ws = dn_alloc((size_t)(pt * per + nv) * sizeof(float));
    if ((!c->betas && !betas) || !lw || !ws) {
        free(betas);
        free(lw);
        dn_free(ws);
        return dn_fail(DN_ERR_NOMEM, "AIS: out of memory");
    }
    if (betas) dn_rbm_ais_betas(K, betas);
    float *bA = ws + pt * per;
    for (int64_t i = 0; i < nv; i++) bA[i] = c->base_b ? c->base_b[i] : 0.0f;
    double dd = 0, log_za = (double)nh * log(2.0);
    for (int64_t i = 0; i < nv; i++) {
        double d = (double)m->b[i] - bA[i];
        dd += d * d;
        log_za += m->visible == DN_RBM_GAUSSIAN ? 0.5 * LOG_2PI : dn_softplus_d(bA[i]);
    }
    ais_ctx a = {m, c->betas ? c->betas : betas, K, M, bA, dd, c->seed};
    (void)pt;
    #pragma omp parallel for num_threads(pt) if (pt > 1) schedule(dynamic, 1)
    for (int64_t q = 0; q < nchunks; q++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        const int64_t r0 = q * AIS_ROWS, rows = DN_MIN((int64_t)AIS_ROWS, M - r0);
        ais_chunk(&a, r0, rows, ws + tid * per, lw + r0);
    }
    /* log mean w and the spread, relative to the largest weight */
    double mx = -INFINITY;
    for (int64_t r = 0; r < M; r++) mx = DN_MAX(mx, lw[r]);
    double mean = 0, var = 0;
    for (int64_t r = 0; r < M; r++) mean += exp(lw[r] - mx);
    mean /= (double)M;
    for (int64_t r = 0; r < M; r++) {
        double e = exp(lw[r] - mx) - mean;
        var += e * e;
    }
    var /= (double)(M - 1);
    const double se = sqrt(var / (double)M);
    out->log_z_base = log_za;
    out->log_z = log_za + mx + log(mean);
    out->log_se = log_za + mx + log(se);
    out->rel_se = se / mean;
    if (log_w) memcpy(log_w, lw, (size_t)M * sizeof(double));
    free(betas);
    free(lw);
    dn_free(ws);
    if (!isfinite(out->log_z))
        return dn_fail(DN_ERR_NUMERIC, "AIS gave a non-finite log Z (%g); the parameters hold NaN or "
                       "infinite values, or the weights overflowed: use more betas", out->log_z);
    return DN_OK;
}
