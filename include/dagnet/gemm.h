/* dagnet/gemm.h: single-precision matrix multiply, the heart of the core.
 *
 *   C = act(alpha * op(A) op(B) + beta * C + bias)
 *
 * op(A) is M x K, op(B) is K x N, C is M x N, all row-major with leading
 * dimensions lda, ldb, ldc (in elements). bias (length N, may be NULL) is
 * added to every row. beta == 0 means C is not read (it may hold NaN).
 *
 * The fast path packs A and B into cache-sized panels and runs an AVX-512,
 * AVX2 or portable micro-kernel chosen at run time; small shapes skip the
 * packing and the parallel region when they cannot earn them back. Each
 * element of C is summed over K in the same order whatever the thread count,
 * so results do not depend on it.
 */
#ifndef DAGNET_GEMM_H
#define DAGNET_GEMM_H

#include <stdint.h>
#include "dagnet/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dn_gemm_epilogue {
    const float *bias; /* length N, or NULL */
    dn_act act;        /* applied last; DN_ACT_IDENTITY for none */
    float act_alpha;   /* LEAKY_RELU slope, ELU alpha */
} dn_gemm_epilogue;

/* trans_a / trans_b: 0 for op(X) = X, 1 for op(X) = X^T. ep may be NULL.
 * nthreads <= 0 means dn_max_threads(). */
void dn_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
              float alpha, const float *A, int64_t lda, const float *B,
              int64_t ldb, float beta, float *C, int64_t ldc,
              const dn_gemm_epilogue *ep, int nthreads);

/* The plain triple loop (float accumulation in k order): the reference twin
 * and the fallback for odd shapes. */
void dn_sgemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                  float alpha, const float *A, int64_t lda, const float *B,
                  int64_t ldb, float beta, float *C, int64_t ldc,
                  const dn_gemm_epilogue *ep);

#ifdef __cplusplus
}
#endif
#endif
