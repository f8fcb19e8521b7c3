/* What the RBM files share (src/rbm.c, src/rbm_train.c, src/rbm_logz.c):
 * row samplers with an explicit position stride, the GEMM of the current
 * mode, thread counts. Not installed. */
#ifndef DAGNET_RBM_INTERNAL_H
#define DAGNET_RBM_INTERNAL_H

#include <math.h>
#include "internal.h"
#include "dagnet/rbm.h"

/* Elements of work below which a loop stays on one thread. */
#define DN_RBM_PAR_MIN 32768

/* Random streams of the RBM component (other users take small constants). */
#define DN_RBM_STREAM_TRAIN 0x52424d5400000000ull /* "RBMT" << 32, + epoch */
#define DN_RBM_STREAM_SHUFFLE 0x52424d5300000000ull /* "RBMS" << 32, + epoch */
#define DN_RBM_STREAM_AIS 0x52424d4100000000ull   /* "RBMA" << 32 */

static inline int dn_rbm_threads(int nthreads)
{
    return nthreads > 0 ? nthreads : dn_max_threads();
}

/* The fast GEMM, or the plain one in reference mode. */
static inline dn_gemm_fn dn_rbm_gemm(void)
{
    return dn_reference_mode() ? dn_sgemm_ref_mt : dn_sgemm;
}

/* n_visible rounded up to even: the positions a Gaussian row takes. */
static inline int64_t dn_rbm_even(int64_t n) { return n + (n & 1); }

/* x[r, j] = [u < p[r, j]], u from the word at offset + r * pstride + j. */
void dn_rbm_bernoulli_rows(const float *p, int64_t rows, int64_t cols, float *x,
                           uint64_t seed, uint64_t stream, uint64_t offset,
                           uint64_t pstride, int nthreads);
/* x[r, j] = mean[r, j] + z, z from the words at offset + r * pstride + 2 (j / 2)
 * (pstride even). */
void dn_rbm_gaussian_rows(const float *mean, int64_t rows, int64_t cols, float *x,
                          uint64_t seed, uint64_t stream, uint64_t offset,
                          uint64_t pstride, int nthreads);

/* Unchecked conditionals: ph = sigmoid(v W^T + c); mv = E[v | h]. */
void dn_rbm_hprob(const dn_rbm *m, const float *v, int64_t n, float *ph, int nt);
void dn_rbm_vmean(const dn_rbm *m, const float *h, int64_t n, float *mv, int nt);

/* Stable softplus in double. */
static inline double dn_softplus_d(double x)
{
    return (x > 0 ? x : 0) + log1p(exp(-fabs(x)));
}

#endif
