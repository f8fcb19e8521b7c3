/* What the GEMM driver (gemm.c) and its per-ISA micro-kernels share.
 *
 * The driver packs op(B) into blocks of kc x nc, cut into NR-wide slivers
 * (sliver s holds kc rows of NR floats, zero-padded past N), or reads the
 * full slivers of a row-major op(B) in place; and it packs op(A) into MR-tall
 * slivers (element (i, p) at ap[p * MR + i]). A "sliver" function of an ISA
 * then multiplies one A sliver of m <= MR rows by every B sliver of a
 * block, tile after tile of C, and finishes each tile in registers: beta on
 * the first kc block, bias and activation on the last.
 */
#ifndef DAGNET_GEMM_INTERNAL_H
#define DAGNET_GEMM_INTERNAL_H

#include "internal.h"

/* How a tile of C is finished after its kc-long product acc is summed:
 *   first block: C = alpha acc (+ beta C when beta != 0; C is not read when 0)
 *   later block: C = C + alpha acc
 *   last block:  then C = act(C + bias)                                       */
typedef struct dn_gemm_tile {
    float alpha, beta;
    int first, last;
    const float *bias; /* at the block's first column, or NULL */
    dn_act act;
    float act_alpha;
} dn_gemm_tile;

/* C[0..m, 0..n) (leading dimension ldc) from the packed A sliver ap (m rows,
 * kc deep, row stride MR) and n columns of B, kc deep, in slivers of NR: row
 * p of sliver s at b + s * b_next + p * b_row. Packed: b_row = NR,
 * b_next = kc NR; read in place from a row-major op(B) (full slivers only):
 * b_row = ldb, b_next = NR. */
typedef void (*dn_gemm_sliver_fn)(int m, int64_t n, int64_t kc, const float *ap,
                                  const float *b, int64_t b_row, int64_t b_next,
                                  float *c, int64_t ldc, const dn_gemm_tile *t);

/* The same with the A sliver read in place, element (i, p) at a[i a_row +
 * p a_step] (op(A) = A: a_row = lda, a_step = 1; A^T: 1 and lda): for the
 * products whose packed A would serve few tiles, packing costs more than
 * the scattered reads. */
typedef void (*dn_gemm_sliver_a_fn)(int m, int64_t n, int64_t kc, const float *a,
                                    int64_t a_row, int64_t a_step, const float *b,
                                    int64_t b_row, int64_t b_next, float *c, int64_t ldc,
                                    const dn_gemm_tile *t);

/* C[0..m, 0..n) from m <= DN_GEMM_ROWS_MAX rows of op(A) read in place
 * (element (i, p) at a[i a_row + p a_step]) and kc rows of a row-major B (b,
 * ldb apart), one kc block finished as t says, with each element summed and
 * finished exactly as the sliver kernels do it: for products of a few rows,
 * which read B row by row instead of one sliver at a time down its rows. */
#define DN_GEMM_ROWS_MAX 4
typedef void (*dn_gemm_rows_fn)(int m, int64_t n, int64_t kc, const float *a, int64_t a_row,
                                int64_t a_step, const float *b, int64_t ldb, float *c,
                                int64_t ldc, const dn_gemm_tile *t);

/* ap[p * MR + i] = op(A)[i0 + i, p0 + p] for i < m <= MR, p < kc; op(A) is
 * A (row-major, lda) or, when ta, its transpose. */
typedef void (*dn_gemm_pack_a_fn)(int ta, const float *A, int64_t lda, int64_t i0,
                                  int m, int64_t p0, int64_t kc, float *ap);

/* Sliver s of bp (at bp + s NR kc) holds op(B)[p0 .. p0 + kc,
 * j0 + s NR .. + NR) as kc rows of NR floats, zero past column j0 + n. */
typedef void (*dn_gemm_pack_b_fn)(int tb, const float *B, int64_t ldb, int64_t p0,
                                  int64_t kc, int64_t j0, int64_t n, float *bp);

/* Block sizes of one ISA: mr x nr register tile; kc the depth of a block (an
 * A sliver of mr x kc stays in L1); nc the width of a packed B block
 * (kc x nc stays in L2). */
typedef struct dn_gemm_kernel {
    int mr, nr;
    int64_t kc, nc;
    dn_gemm_sliver_fn sliver;
    dn_gemm_sliver_a_fn sliver_a; /* NULL: A is always packed */
    dn_gemm_pack_a_fn pack_a;
    dn_gemm_pack_b_fn pack_b;
    dn_gemm_rows_fn rows; /* NULL: few-row products take the blocked path */
    int ragged_b; /* the slivers read a last B sliver narrower than nr in place */
} dn_gemm_kernel;

#define DN_GEMM_AVX512_MR 12
#define DN_GEMM_AVX512_NR 32
#define DN_GEMM_AVX2_MR 6
#define DN_GEMM_AVX2_NR 16
#define DN_GEMM_GENERIC_MR 4
#define DN_GEMM_GENERIC_NR 16

#define DN_GEMM_DECLARE(isa)                                                      \
    void dn_gemm_sliver_##isa(int m, int64_t n, int64_t kc, const float *ap,     \
                              const float *b, int64_t b_row, int64_t b_next,     \
                              float *c, int64_t ldc, const dn_gemm_tile *t);     \
    void dn_gemm_pack_a_##isa(int ta, const float *A, int64_t lda, int64_t i0,   \
                              int m, int64_t p0, int64_t kc, float *ap);         \
    void dn_gemm_pack_b_##isa(int tb, const float *B, int64_t ldb, int64_t p0,   \
                              int64_t kc, int64_t j0, int64_t n, float *bp);
#ifdef DAGNET_X86
DN_GEMM_DECLARE(avx512)
void dn_gemm_sliver_a_avx512(int m, int64_t n, int64_t kc, const float *a, int64_t a_row,
                             int64_t a_step, const float *b, int64_t b_row, int64_t b_next,
                             float *c, int64_t ldc, const dn_gemm_tile *t);
void dn_gemm_rows_avx512(int m, int64_t n, int64_t kc, const float *a, int64_t a_row,
                         int64_t a_step, const float *b, int64_t ldb, float *c, int64_t ldc,
                         const dn_gemm_tile *t);
DN_GEMM_DECLARE(avx2)
#endif
DN_GEMM_DECLARE(generic)

#endif
