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

/* op(B) (K x N) packed once for many products with it (the recurrent
 * kernel of every step of a sequence): dn_sgemm_pack_b writes it into
 * `packed`, dn_sgemm_packed_floats(K, N) floats, for the kernel of the
 * current instruction set; dn_sgemm_packed then computes
 * C = act(alpha A packed + beta C + bias) with A (M x K, lda), each element
 * summed in the same order for any thread count, reading each packed sliver
 * once per call. Pack and multiply under the same instruction set
 * (dn_set_cpu_isa between the two is not allowed). */
int64_t dn_sgemm_packed_floats(int64_t K, int64_t N);
void dn_sgemm_pack_b(int trans_b, int64_t K, int64_t N, const float *B, int64_t ldb,
                     float *packed);
void dn_sgemm_packed(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                     const float *packed, float beta, float *C, int64_t ldc,
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
