/* AVX2 + FMA micro-kernel of the GEMM: a 6 x 16 tile of C in 12 ymm
 * accumulators; per k step two ymm loads of packed B and six broadcasts of
 * packed A. Compiled with -mavx2 -mfma and called only when dn_cpu_isa()
 * says AVX2 or better. Edge tiles use instances with fewer rows (m < 6) or
 * one vector column (n <= 8) and masked loads and stores of C. The packing
 * routines of this layout are here too: they transpose 8 x 8 blocks in
 * registers. */
#include "gemm/gemm_internal.h"

#ifdef DAGNET_X86
#include <immintrin.h>

#define MR DN_GEMM_AVX2_MR
#define NR DN_GEMM_AVX2_NR

/* lanes [0, r) of a ymm mask (0 <= r <= 8) */
static inline __m256i lane_mask(int r)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), idx);
}

/* C tile (m x n, ldc) from a (kc x MR, packed) and b (kc rows of NR floats,
 * b_row apart); m and nv (1 or 2 vectors of 8 columns) are constants in
 * each instance. */
static inline __attribute__((always_inline)) void
tile(const int m, const int nv, int n, int64_t kc, const float *a,
     const float *b, int64_t b_row, float *c, int64_t ldc, const dn_gemm_tile *t)
{
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < m; i++) {
        acc[i][0] = _mm256_setzero_ps();
        acc[i][1] = _mm256_setzero_ps();
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    }
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_loadu_ps(b);
        const __m256 b1 = nv > 1 ? _mm256_loadu_ps(b + 8) : b0;
#pragma GCC unroll 6
        for (int i = 0; i < m; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            if (nv > 1) acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += MR;
        b += b_row;
    }

    /* finish the tile: alpha, beta or accumulate, bias, activation */
    const int full = n == 8 * nv;
    const __m256i last_mask = lane_mask(n - 8 * (nv - 1));
    const __m256i all = _mm256_set1_epi32(-1);
    const __m256 valpha = _mm256_set1_ps(t->alpha), vbeta = _mm256_set1_ps(t->beta);
    const int scale = t->alpha != 1.0f, read_c = !t->first || t->beta != 0.0f;
    const int add_bias = t->last && t->bias != NULL;
    const int relu = t->last && t->act == DN_ACT_RELU;
    const int other_act = t->last && t->act != DN_ACT_RELU && t->act != DN_ACT_IDENTITY;
    __m256 bias[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    if (add_bias) {
        for (int v = 0; v < nv; v++)
            bias[v] = _mm256_maskload_ps(t->bias + 8 * v, v == nv - 1 ? last_mask : all);
    }
#pragma GCC unroll 6
    for (int i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (int v = 0; v < nv; v++) {
            const int masked = v == nv - 1 && !full;
            __m256 x = acc[i][v];
            if (scale) x = _mm256_mul_ps(x, valpha);
            if (read_c) {
                const __m256 old = masked ? _mm256_maskload_ps(ci + 8 * v, last_mask)
                                          : _mm256_loadu_ps(ci + 8 * v);
                x = t->first ? _mm256_fmadd_ps(vbeta, old, x) : _mm256_add_ps(old, x);
            }
            if (add_bias) x = _mm256_add_ps(x, bias[v]);
            if (relu) x = _mm256_max_ps(x, _mm256_setzero_ps());
            if (masked)
                _mm256_maskstore_ps(ci + 8 * v, last_mask, x);
            else
                _mm256_storeu_ps(ci + 8 * v, x);
        }
        if (other_act) dn_act_forward(t->act, t->act_alpha, ci, ci, n);
    }
}

typedef void (*tile_fn)(int n, int64_t kc, const float *a, const float *b,
                        int64_t b_row, float *c, int64_t ldc, const dn_gemm_tile *t);

#define TILE_INSTANCES(M)                                                       \
    static void tile_##M##x1(int n, int64_t kc, const float *a, const float *b, \
                             int64_t b_row, float *c, int64_t ldc,              \
                             const dn_gemm_tile *t)                             \
    { tile(M, 1, n, kc, a, b, b_row, c, ldc, t); }                              \
    static void tile_##M##x2(int n, int64_t kc, const float *a, const float *b, \
                             int64_t b_row, float *c, int64_t ldc,              \
                             const dn_gemm_tile *t)                             \
    { tile(M, 2, n, kc, a, b, b_row, c, ldc, t); }
TILE_INSTANCES(1)
TILE_INSTANCES(2)
TILE_INSTANCES(3)
TILE_INSTANCES(4)
TILE_INSTANCES(5)
TILE_INSTANCES(6)

/* [m - 1][vectors - 1] */
static const tile_fn tiles[MR][2] = {
    {tile_1x1, tile_1x2}, {tile_2x1, tile_2x2}, {tile_3x1, tile_3x2},
    {tile_4x1, tile_4x2}, {tile_5x1, tile_5x2}, {tile_6x1, tile_6x2}};

/* C (m x n) from a packed A sliver (m x kc) and B (kc x n): see
 * dn_gemm_sliver_fn. */
void dn_gemm_sliver_avx2(int m, int64_t n, int64_t kc, const float *ap,
                         const float *b, int64_t b_row, int64_t b_next,
                         float *c, int64_t ldc, const dn_gemm_tile *t)
{
    dn_gemm_tile tt = *t;
    for (int64_t j = 0; j < n; j += NR) {
        const int nj = (int)DN_MIN((int64_t)NR, n - j);
        tt.bias = t->bias ? t->bias + j : NULL;
        tiles[m - 1][nj > 8](nj, kc, ap, b + j / NR * b_next, b_row, c + j, ldc, &tt);
    }
}

/* --- packing --------------------------------------------------------------- */

/* r[0..8) rows in, columns out: r[q] lane l = old r[l] lane q. */
static inline void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) { /* rows 4 h .. 4 h + 3; 128-bit lane L: column 4 L + e */
        u[4 * h] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xee);
        u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xee);
    }
    for (int e = 0; e < 4; e++) {
        r[e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x20);
        r[4 + e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x31);
    }
}

static inline __m256 load_first(const float *src, int64_t count)
{
    if (count >= 8) return _mm256_loadu_ps(src);
    if (count <= 0) return _mm256_setzero_ps();
    return _mm256_maskload_ps(src, lane_mask((int)count));
}

/* ap[p * 6 + i] = op(A)[i0 + i, p0 + p] (see dn_gemm_pack_a_fn). */
void dn_gemm_pack_a_avx2(int ta, const float *A, int64_t lda, int64_t i0,
                         int m, int64_t p0, int64_t kc, float *ap)
{
    const __m256i row = lane_mask(MR);
    if (ta) { /* rows of op(A)^T are contiguous: copy m floats per p */
        for (int64_t p = 0; p < kc; p++)
            _mm256_maskstore_ps(ap + p * MR, row, load_first(A + (p0 + p) * lda + i0, m));
        return;
    }
    for (int64_t q = 0; q < kc; q += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; i++)
            r[i] = i < m ? load_first(A + (i0 + i) * lda + p0 + q, kc - q) : _mm256_setzero_ps();
        transpose8(r);
        const int np = (int)DN_MIN((int64_t)8, kc - q);
        for (int p = 0; p < np; p++) _mm256_maskstore_ps(ap + (q + p) * MR, row, r[p]);
    }
}

/* Slivers of 16 columns of op(B), zero-padded (see dn_gemm_pack_b_fn). */
void dn_gemm_pack_b_avx2(int tb, const float *B, int64_t ldb, int64_t p0,
                         int64_t kc, int64_t j0, int64_t n, float *bp)
{
    if (!tb) { /* rows of op(B) are contiguous: walk them in order */
        for (int64_t p = 0; p < kc; p++) {
            const float *src = B + (p0 + p) * ldb + j0;
            for (int64_t s = 0; s < n; s += NR) {
                float *dst = bp + s * kc + p * NR;
                _mm256_store_ps(dst, load_first(src + s, n - s));
                _mm256_store_ps(dst + 8, load_first(src + s + 8, n - s - 8));
            }
        }
        return;
    }
    /* op(B) = B^T: each sliver is two 8-column halves, 8 rows of B at a time */
    for (int64_t s = 0; s < n; s += NR) {
        float *dst = bp + s * kc;
        for (int half = 0; half < 2; half++) {
            const int64_t jh = s + 8 * half, w = DN_MIN((int64_t)8, n - jh);
            for (int64_t q = 0; q < kc; q += 8) {
                __m256 r[8];
                for (int j = 0; j < 8; j++)
                    r[j] = j < w ? load_first(B + (j0 + jh + j) * ldb + p0 + q, kc - q)
                                 : _mm256_setzero_ps();
                transpose8(r);
                const int np = (int)DN_MIN((int64_t)8, kc - q);
                for (int p = 0; p < np; p++) _mm256_store_ps(dst + (q + p) * NR + 8 * half, r[p]);
            }
        }
    }
}

#endif /* DAGNET_X86 */
