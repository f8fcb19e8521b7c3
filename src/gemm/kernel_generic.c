/* Portable micro-kernel of the GEMM: a 4 x 16 tile of C, written as plain
 * loops over a 16-wide row so the compiler vectorises them for whatever the
 * baseline is. The row loops are unrolled by pragma: left alone, gcc
 * vectorises across k with shuffles instead, four times slower. Used when
 * neither AVX2 nor AVX-512 is available or chosen. */
#include "gemm/gemm_internal.h"

#define MR DN_GEMM_GENERIC_MR
#define NR DN_GEMM_GENERIC_NR

/* C tile (m x n, ldc) from a (kc x MR, packed) and b (kc rows of NR floats,
 * b_row apart); m is a constant in each instance. */
static inline __attribute__((always_inline)) void
tile(const int m, int n, int64_t kc, const float *a, const float *b,
     int64_t b_row, float *c, int64_t ldc, const dn_gemm_tile *t)
{
    float acc[MR][NR];
#pragma GCC unroll 4
    for (int i = 0; i < m; i++)
#pragma GCC unroll 16
        for (int j = 0; j < NR; j++) acc[i][j] = 0.0f;
    for (int64_t p = 0; p < kc; p++) {
#pragma GCC unroll 4
        for (int i = 0; i < m; i++) {
            const float ai = a[i];
#pragma GCC unroll 16
            for (int j = 0; j < NR; j++) acc[i][j] += ai * b[j];
        }
        a += MR;
        b += b_row;
    }

    /* finish the tile: alpha, beta or accumulate, bias, activation */
    const int read_c = !t->first || t->beta != 0.0f;
    const int add_bias = t->last && t->bias != NULL;
    const int relu = t->last && t->act == DN_ACT_RELU;
    const int other_act = t->last && t->act != DN_ACT_RELU && t->act != DN_ACT_IDENTITY;
    for (int i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (int j = 0; j < n; j++) {
            float x = t->alpha * acc[i][j];
            if (read_c) x = t->first ? t->beta * ci[j] + x : ci[j] + x;
            if (add_bias) x += t->bias[j];
            if (relu) x = x > 0.0f ? x : 0.0f;
            ci[j] = x;
        }
        if (other_act) dn_act_forward(t->act, t->act_alpha, ci, ci, n);
    }
}

typedef void (*tile_fn)(int n, int64_t kc, const float *a, const float *b,
                        int64_t b_row, float *c, int64_t ldc, const dn_gemm_tile *t);

#define TILE_INSTANCE(M)                                                       \
    static void tile_##M(int n, int64_t kc, const float *a, const float *b,     \
                         int64_t b_row, float *c, int64_t ldc,                  \
                         const dn_gemm_tile *t)                                 \
    { tile(M, n, kc, a, b, b_row, c, ldc, t); }
TILE_INSTANCE(1)
TILE_INSTANCE(2)
TILE_INSTANCE(3)
TILE_INSTANCE(4)

static const tile_fn tiles[MR] = {tile_1, tile_2, tile_3, tile_4};

/* ap[p * 4 + i] = op(A)[i0 + i, p0 + p] (see dn_gemm_pack_a_fn). */
void dn_gemm_pack_a_generic(int ta, const float *A, int64_t lda, int64_t i0,
                            int m, int64_t p0, int64_t kc, float *ap)
{
    for (int64_t p = 0; p < kc; p++)
        for (int i = 0; i < m; i++)
            ap[p * MR + i] = ta ? A[(p0 + p) * lda + i0 + i] : A[(i0 + i) * lda + p0 + p];
}

/* Slivers of 16 columns of op(B), zero-padded (see dn_gemm_pack_b_fn). */
void dn_gemm_pack_b_generic(int tb, const float *B, int64_t ldb, int64_t p0,
                            int64_t kc, int64_t j0, int64_t n, float *bp)
{
    for (int64_t p = 0; p < kc; p++)
        for (int64_t s = 0; s < n; s += NR) {
            float *dst = bp + s * kc + p * NR;
            const int w = (int)DN_MIN((int64_t)NR, n - s);
            if (!tb) {
                const float *src = B + (p0 + p) * ldb + j0 + s;
                for (int j = 0; j < w; j++) dst[j] = src[j];
            } else {
                const float *src = B + (j0 + s) * ldb + p0 + p;
                for (int j = 0; j < w; j++) dst[j] = src[j * ldb];
            }
            for (int j = w; j < NR; j++) dst[j] = 0.0f;
        }
}

/* C (m x n) from a packed A sliver (m x kc) and B (kc x n): see
 * dn_gemm_sliver_fn. */
void dn_gemm_sliver_generic(int m, int64_t n, int64_t kc, const float *ap,
                            const float *b, int64_t b_row, int64_t b_next,
                            float *c, int64_t ldc, const dn_gemm_tile *t)
{
    dn_gemm_tile tt = *t;
    for (int64_t j = 0; j < n; j += NR) {
        const int nj = (int)DN_MIN((int64_t)NR, n - j);
        tt.bias = t->bias ? t->bias + j : NULL;
        tiles[m - 1](nj, kc, ap, b + j / NR * b_next, b_row, c + j, ldc, &tt);
    }
}
