/* AVX-512 micro-kernel of the GEMM: a 12 x 32 tile of C in 24 zmm
 * accumulators; per k step two zmm loads of packed B and twelve broadcasts of
 * packed A (or of A read in place, for products too narrow to repay packing
 * it: dn_gemm_sliver_a_avx512). Compiled with -mavx512f -mavx512dq
 * -mavx512vl -mavx2 -mfma and called only when dn_cpu_isa() says AVX-512.
 * Edge tiles use instances with fewer rows (m < 12), one vector column
 * (n <= 16) or one ymm column (n <= 8) and masked loads and stores of C, so
 * no temporary tile is needed; B is loaded masked to the tile's columns, so
 * a ragged last sliver of a B read in place needs no packing either. The packing routines of this layout are here
 * too: they transpose 16 x 16 blocks in registers. */
#include "gemm/gemm_internal.h"

#ifdef DAGNET_X86
#include <immintrin.h>

#define MR DN_GEMM_AVX512_MR
#define NR DN_GEMM_AVX512_NR

static inline __mmask16 first_lanes(int64_t count)
{
    return count >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << count) - 1);
}

/* How a tile is finished (dn_gemm_tile), resolved once per tile. */
typedef struct finish {
    __m512 alpha, beta;
    int scale, read_c, add_bias, relu, other_act;
} finish;

static inline finish finish_of(const dn_gemm_tile *t)
{
    finish f;
    f.alpha = _mm512_set1_ps(t->alpha);
    f.beta = _mm512_set1_ps(t->beta);
    f.scale = t->alpha != 1.0f;
    f.read_c = !t->first || t->beta != 0.0f;
    f.add_bias = t->last && t->bias != NULL;
    f.relu = t->last && t->act == DN_ACT_RELU;
    f.other_act = t->last && t->act != DN_ACT_RELU && t->act != DN_ACT_IDENTITY;
    return f;
}

/* The columns mk of c: alpha acc, plus beta c on the first kc block or c on
 * the others, plus bias and ReLU on the last. */
static inline __attribute__((always_inline)) void
finish_zmm(const finish *f, const dn_gemm_tile *t, __m512 x, __m512 bias, float *c,
           __mmask16 mk)
{
    if (f->scale) x = _mm512_mul_ps(x, f->alpha);
    if (f->read_c) {
        const __m512 old = _mm512_maskz_loadu_ps(mk, c);
        x = t->first ? _mm512_fmadd_ps(f->beta, old, x) : _mm512_add_ps(old, x);
    }
    if (f->add_bias) x = _mm512_add_ps(x, bias);
    if (f->relu) x = _mm512_max_ps(x, _mm512_setzero_ps());
    _mm512_mask_storeu_ps(c, mk, x);
}

/* C tile (m x n, ldc) from a (m x kc: element (i, p) at a[i a_row + p
 * a_step]; packed: a_row = 1, a_step = MR) and b (kc rows of NR floats,
 * b_row apart); m and nv (1 or 2 vectors of 16 columns) are constants in
 * each instance, and so are a_row and a_step for packed A. */
static inline __attribute__((always_inline)) void
tile(const int m, const int nv, int n, int64_t kc, const float *a, int64_t a_row,
     int64_t a_step, const float *b, int64_t b_row, float *c, int64_t ldc,
     const dn_gemm_tile *t)
{
    __m512 acc[MR][2];
    /* B's columns past n are not loaded: a ragged last sliver can be read in
     * place (masked lanes do not fault) and adds zeros like a packed one */
    const int nb = n - 16 * (nv - 1);
    const __mmask16 bmask = nb >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nb) - 1);
#pragma GCC unroll 12
    for (int i = 0; i < m; i++) {
        acc[i][0] = _mm512_setzero_ps();
        acc[i][1] = _mm512_setzero_ps();
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        if (nv > 1) _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
    }
    /* the product, with plain loads of B for a full width (the common
     * case: a masked load in this loop costs a few percent) */
#define TILE_KLOOP(LOAD0, LOAD1)                                              \
    _Pragma("GCC unroll 4")                                                   \
    for (int64_t p = 0; p < kc; p++) {                                        \
        const __m512 b0 = LOAD0;                                              \
        const __m512 b1 = nv > 1 ? LOAD1 : b0;                                \
        _Pragma("GCC unroll 12")                                              \
        for (int i = 0; i < m; i++) {                                         \
            const __m512 ai = _mm512_set1_ps(a[i * a_row]);                   \
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);                   \
            if (nv > 1) acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);       \
        }                                                                     \
        a += a_step;                                                          \
        b += b_row;                                                           \
    }
    if (bmask == (__mmask16)0xffff) {
        TILE_KLOOP(_mm512_loadu_ps(b), _mm512_loadu_ps(b + 16))
    } else if (nv > 1) {
        TILE_KLOOP(_mm512_loadu_ps(b), _mm512_maskz_loadu_ps(bmask, b + 16))
    } else {
        TILE_KLOOP(_mm512_maskz_loadu_ps(bmask, b), b0)
    }
#undef TILE_KLOOP

    /* finish the tile: alpha, beta or accumulate, bias, activation */
    const int rest = n - 16 * (nv - 1);
    const __mmask16 last_mask = rest >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << rest) - 1);
    const finish f = finish_of(t);
    __m512 bias[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    if (f.add_bias) {
        for (int v = 0; v < nv; v++)
            bias[v] = _mm512_maskz_loadu_ps(v == nv - 1 ? last_mask : 0xffff, t->bias + 16 * v);
    }
#pragma GCC unroll 12
    for (int i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (int v = 0; v < nv; v++)
            finish_zmm(&f, t, acc[i][v], bias[v], ci + 16 * v,
                       v == nv - 1 ? last_mask : (__mmask16)0xffff);
        if (f.other_act) dn_act_forward(t->act, t->act_alpha, ci, ci, n);
    }
}

/* The same for n <= 8 columns in one ymm vector per row: a narrow edge
 * costs half the multiply-add throughput of a masked zmm one. */
static inline __attribute__((always_inline)) void
tile8(const int m, int n, int64_t kc, const float *a, int64_t a_row, int64_t a_step,
      const float *b, int64_t b_row, float *c, int64_t ldc, const dn_gemm_tile *t)
{
    __m256 acc[MR];
#pragma GCC unroll 12
    for (int i = 0; i < m; i++) {
        acc[i] = _mm256_setzero_ps();
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    }
    const __mmask8 bmask = (__mmask8)((1u << n) - 1); /* B past n not loaded, as in tile */
#define TILE8_KLOOP(LOAD)                                                     \
    _Pragma("GCC unroll 4")                                                   \
    for (int64_t p = 0; p < kc; p++) {                                        \
        const __m256 b0 = LOAD;                                               \
        _Pragma("GCC unroll 12")                                              \
        for (int i = 0; i < m; i++)                                           \
            acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(a[i * a_row]), b0, acc[i]); \
        a += a_step;                                                          \
        b += b_row;                                                           \
    }
    if (n == 8) {
        TILE8_KLOOP(_mm256_loadu_ps(b))
    } else {
        TILE8_KLOOP(_mm256_maskz_loadu_ps(bmask, b))
    }
#undef TILE8_KLOOP
    const __mmask8 mk = (__mmask8)((1u << n) - 1);
    const __m256 valpha = _mm256_set1_ps(t->alpha), vbeta = _mm256_set1_ps(t->beta);
    const int scale = t->alpha != 1.0f, read_c = !t->first || t->beta != 0.0f;
    const int add_bias = t->last && t->bias != NULL;
    const int relu = t->last && t->act == DN_ACT_RELU;
    const int other_act = t->last && t->act != DN_ACT_RELU && t->act != DN_ACT_IDENTITY;
    const __m256 bias = add_bias ? _mm256_maskz_loadu_ps(mk, t->bias) : _mm256_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        __m256 x = acc[i];
        if (scale) x = _mm256_mul_ps(x, valpha);
        if (read_c) {
            const __m256 old = _mm256_maskz_loadu_ps(mk, ci);
            x = t->first ? _mm256_fmadd_ps(vbeta, old, x) : _mm256_add_ps(old, x);
        }
        if (add_bias) x = _mm256_add_ps(x, bias);
        if (relu) x = _mm256_max_ps(x, _mm256_setzero_ps());
        _mm256_mask_storeu_ps(ci, mk, x);
        if (other_act) dn_act_forward(t->act, t->act_alpha, ci, ci, n);
    }
}

typedef void (*tile_fn)(int n, int64_t kc, const float *a, int64_t a_row, int64_t a_step,
                        const float *b, int64_t b_row, float *c, int64_t ldc,
                        const dn_gemm_tile *t);

/* tile_<m>x<nv>: packed A; tile_a_<m>x<nv>: A read in place; nv = 0: the
 * narrow tile8 */
#define TILE_INSTANCE(M, NV)                                                            \
    static void tile_##M##x##NV(int n, int64_t kc, const float *a, int64_t a_row,       \
                                int64_t a_step, const float *b, int64_t b_row, float *c, \
                                int64_t ldc, const dn_gemm_tile *t)                     \
    { (void)a_row, (void)a_step; tile(M, NV, n, kc, a, 1, MR, b, b_row, c, ldc, t); }    \
    static void tile_a_##M##x##NV(int n, int64_t kc, const float *a, int64_t a_row,     \
                                  int64_t a_step, const float *b, int64_t b_row,        \
                                  float *c, int64_t ldc, const dn_gemm_tile *t)         \
    { tile(M, NV, n, kc, a, a_row, a_step, b, b_row, c, ldc, t); }
#define TILE8_INSTANCE(M)                                                               \
    static void tile_##M##x0(int n, int64_t kc, const float *a, int64_t a_row,          \
                             int64_t a_step, const float *b, int64_t b_row, float *c,    \
                             int64_t ldc, const dn_gemm_tile *t)                        \
    { (void)a_row, (void)a_step; tile8(M, n, kc, a, 1, MR, b, b_row, c, ldc, t); }       \
    static void tile_a_##M##x0(int n, int64_t kc, const float *a, int64_t a_row,        \
                               int64_t a_step, const float *b, int64_t b_row, float *c,  \
                               int64_t ldc, const dn_gemm_tile *t)                      \
    { tile8(M, n, kc, a, a_row, a_step, b, b_row, c, ldc, t); }
#define TILE_INSTANCES(M) TILE8_INSTANCE(M) TILE_INSTANCE(M, 1) TILE_INSTANCE(M, 2)
TILE_INSTANCES(1)
TILE_INSTANCES(2)
TILE_INSTANCES(3)
TILE_INSTANCES(4)
TILE_INSTANCES(5)
TILE_INSTANCES(6)
TILE_INSTANCES(7)
TILE_INSTANCES(8)
TILE_INSTANCES(9)
TILE_INSTANCES(10)
TILE_INSTANCES(11)
TILE_INSTANCES(12)

/* [m - 1][vectors: 0 for n <= 8, 1 for n <= 16, else 2] */
static const tile_fn tiles[MR][3] = {
    {tile_1x0, tile_1x1, tile_1x2},    {tile_2x0, tile_2x1, tile_2x2},
    {tile_3x0, tile_3x1, tile_3x2},    {tile_4x0, tile_4x1, tile_4x2},
    {tile_5x0, tile_5x1, tile_5x2},    {tile_6x0, tile_6x1, tile_6x2},
    {tile_7x0, tile_7x1, tile_7x2},    {tile_8x0, tile_8x1, tile_8x2},
    {tile_9x0, tile_9x1, tile_9x2},    {tile_10x0, tile_10x1, tile_10x2},
    {tile_11x0, tile_11x1, tile_11x2}, {tile_12x0, tile_12x1, tile_12x2}};
static const tile_fn tiles_a[MR][3] = {
    {tile_a_1x0, tile_a_1x1, tile_a_1x2},    {tile_a_2x0, tile_a_2x1, tile_a_2x2},
    {tile_a_3x0, tile_a_3x1, tile_a_3x2},    {tile_a_4x0, tile_a_4x1, tile_a_4x2},
    {tile_a_5x0, tile_a_5x1, tile_a_5x2},    {tile_a_6x0, tile_a_6x1, tile_a_6x2},
    {tile_a_7x0, tile_a_7x1, tile_a_7x2},    {tile_a_8x0, tile_a_8x1, tile_a_8x2},
    {tile_a_9x0, tile_a_9x1, tile_a_9x2},    {tile_a_10x0, tile_a_10x1, tile_a_10x2},
    {tile_a_11x0, tile_a_11x1, tile_a_11x2}, {tile_a_12x0, tile_a_12x1, tile_a_12x2}};

static inline int vectors(int nj) { return nj <= 8 ? 0 : nj <= 16 ? 1 : 2; }

/* C (m x n) from a packed A sliver (m x kc) and B (kc x n): see
 * dn_gemm_sliver_fn. */
void dn_gemm_sliver_avx512(int m, int64_t n, int64_t kc, const float *ap,
                           const float *b, int64_t b_row, int64_t b_next,
                           float *c, int64_t ldc, const dn_gemm_tile *t)
{
    dn_gemm_tile tt = *t;
    for (int64_t j = 0; j < n; j += NR) {
        const int nj = (int)DN_MIN((int64_t)NR, n - j);
        tt.bias = t->bias ? t->bias + j : NULL;
        tiles[m - 1][vectors(nj)](nj, kc, ap, 1, MR, b + j / NR * b_next, b_row, c + j, ldc,
                                  &tt);
    }
}

/* The same with A read in place: see dn_gemm_sliver_a_fn. */
void dn_gemm_sliver_a_avx512(int m, int64_t n, int64_t kc, const float *a, int64_t a_row,
                             int64_t a_step, const float *b, int64_t b_row, int64_t b_next,
                             float *c, int64_t ldc, const dn_gemm_tile *t)
{
    dn_gemm_tile tt = *t;
    for (int64_t j = 0; j < n; j += NR) {
        const int nj = (int)DN_MIN((int64_t)NR, n - j);
        tt.bias = t->bias ? t->bias + j : NULL;
        tiles_a[m - 1][vectors(nj)](nj, kc, a, a_row, a_step, b + j / NR * b_next, b_row,
                                    c + j, ldc, &tt);
    }
}

/* --- few rows against a row-major B ---------------------------------------- */

/* C (m x 16 nv, the last vector masked to `last` lanes) from a (element (i,
 * p) at a[i a_row + p a_step]) and row-major b (kc rows, ldb apart): each
 * step of p reads nv contiguous vectors of one row of B. Every element gets
 * the arithmetic of tile(): its own accumulator from zero, one fused
 * multiply-add per p in order, then finish_zmm, so a row of C has the same
 * bits whichever kernel computed it. */
static inline __attribute__((always_inline)) void
rows_tile(const int m, const int nv, __mmask16 last, int64_t kc, const float *a, int64_t a_row,
          int64_t a_step, const float *b, int64_t ldb, float *c, int64_t ldc,
          const dn_gemm_tile *t)
{
    __m512 acc[4][16];
#pragma GCC unroll 16
    for (int v = 0; v < nv; v++)
        for (int i = 0; i < m; i++) acc[i][v] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        __m512 ai[4];
        for (int i = 0; i < m; i++) ai[i] = _mm512_set1_ps(a[i * a_row + p * a_step]);
        const float *bp = b + p * ldb;
#pragma GCC unroll 16
        for (int v = 0; v < nv; v++) {
            const __m512 bv = v == nv - 1 ? _mm512_maskz_loadu_ps(last, bp + 16 * v)
                                          : _mm512_loadu_ps(bp + 16 * v);
            for (int i = 0; i < m; i++) acc[i][v] = _mm512_fmadd_ps(ai[i], bv, acc[i][v]);
        }
    }
    const finish f = finish_of(t);
    for (int i = 0; i < m; i++) {
        float *ci = c + i * ldc;
#pragma GCC unroll 16
        for (int v = 0; v < nv; v++) {
            const __mmask16 mk = v == nv - 1 ? last : (__mmask16)0xffff;
            const __m512 bias = f.add_bias ? _mm512_maskz_loadu_ps(mk, t->bias + 16 * v)
                                           : _mm512_setzero_ps();
            finish_zmm(&f, t, acc[i][v], bias, ci + 16 * v, mk);
        }
        if (f.other_act) dn_act_forward(t->act, t->act_alpha, ci, ci, 16 * (int64_t)(nv - 1)
                                        + __builtin_popcount(last));
    }
}

typedef void (*rows_fn)(__mmask16 last, int64_t kc, const float *a, int64_t a_row,
                        int64_t a_step, const float *b, int64_t ldb, float *c, int64_t ldc,
                        const dn_gemm_tile *t);

/* rows_<m>x<nv>; ROWS_WIDE[m - 1] vectors per step: as many accumulators as
 * the 32 zmm registers hold beside the broadcasts of A */
#define ROWS_INSTANCE(M, NV)                                                              \
    static void rows_##M##x##NV(__mmask16 last, int64_t kc, const float *a, int64_t a_row, \
                                int64_t a_step, const float *b, int64_t ldb, float *c,    \
                                int64_t ldc, const dn_gemm_tile *t)                       \
    { rows_tile(M, NV, last, kc, a, a_row, a_step, b, ldb, c, ldc, t); }
ROWS_INSTANCE(1, 16)
ROWS_INSTANCE(2, 12)
ROWS_INSTANCE(3, 8)
ROWS_INSTANCE(4, 6)
ROWS_INSTANCE(1, 1)
ROWS_INSTANCE(2, 1)
ROWS_INSTANCE(3, 1)
ROWS_INSTANCE(4, 1)
static const int ROWS_WIDE[4] = {16, 12, 8, 6};
static const rows_fn rows_wide[4] = {rows_1x16, rows_2x12, rows_3x8, rows_4x6};
static const rows_fn rows_one[4] = {rows_1x1, rows_2x1, rows_3x1, rows_4x1};

/* C (m x n, ldc; m <= DN_GEMM_ROWS_MAX) from a and row-major b, one kc
 * block: see dn_gemm_rows_fn. */
void dn_gemm_rows_avx512(int m, int64_t n, int64_t kc, const float *a, int64_t a_row,
                         int64_t a_step, const float *b, int64_t ldb, float *c, int64_t ldc,
                         const dn_gemm_tile *t)
{
    dn_gemm_tile tt = *t;
    const int64_t wide = 16 * (int64_t)ROWS_WIDE[m - 1];
    int64_t j = 0;
    for (; j + wide <= n; j += wide) {
        tt.bias = t->bias ? t->bias + j : NULL;
        rows_wide[m - 1]((__mmask16)0xffff, kc, a, a_row, a_step, b + j, ldb, c + j, ldc, &tt);
    }
    for (; j < n; j += 16) {
        tt.bias = t->bias ? t->bias + j : NULL;
        rows_one[m - 1](first_lanes(n - j), kc, a, a_row, a_step, b + j, ldb, c + j, ldc, &tt);
    }
}

/* --- packing --------------------------------------------------------------- */

/* r[0..16) rows in, columns out: r[q] lane l = old r[l] lane q. */
static inline void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* r[4 i + e], 128-bit lane L: rows 4 i .. 4 i + 3 of column 4 L + e */
    for (int e = 0; e < 4; e++) {
        t[e] = _mm512_shuffle_f32x4(r[e], r[4 + e], 0x88);
        t[4 + e] = _mm512_shuffle_f32x4(r[e], r[4 + e], 0xdd);
        t[8 + e] = _mm512_shuffle_f32x4(r[8 + e], r[12 + e], 0x88);
        t[12 + e] = _mm512_shuffle_f32x4(r[8 + e], r[12 + e], 0xdd);
    }
    for (int e = 0; e < 4; e++) {
        r[e] = _mm512_shuffle_f32x4(t[e], t[8 + e], 0x88);
        r[8 + e] = _mm512_shuffle_f32x4(t[e], t[8 + e], 0xdd);
        r[4 + e] = _mm512_shuffle_f32x4(t[4 + e], t[12 + e], 0x88);
        r[12 + e] = _mm512_shuffle_f32x4(t[4 + e], t[12 + e], 0xdd);
    }
}

/* ap[p * 12 + i] = op(A)[i0 + i, p0 + p] (see dn_gemm_pack_a_fn). */
void dn_gemm_pack_a_avx512(int ta, const float *A, int64_t lda, int64_t i0,
                           int m, int64_t p0, int64_t kc, float *ap)
{
    const __mmask16 row = (__mmask16)((1u << MR) - 1);
    if (ta) { /* rows of op(A)^T are contiguous: copy m floats per p */
        const __mmask16 mm = first_lanes(m);
        for (int64_t p = 0; p < kc; p++)
            _mm512_mask_storeu_ps(ap + p * MR, row,
                                  _mm512_maskz_loadu_ps(mm, A + (p0 + p) * lda + i0));
        return;
    }
    for (int64_t q = 0; q < kc; q += 16) {
        const __mmask16 mk = first_lanes(kc - q);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < m ? _mm512_maskz_loadu_ps(mk, A + (i0 + i) * lda + p0 + q)
                         : _mm512_setzero_ps();
        transpose16(r);
        const int np = (int)DN_MIN((int64_t)16, kc - q);
        for (int p = 0; p < np; p++) _mm512_mask_storeu_ps(ap + (q + p) * MR, row, r[p]);
    }
}

/* Slivers of 32 columns of op(B), zero-padded (see dn_gemm_pack_b_fn). */
void dn_gemm_pack_b_avx512(int tb, const float *B, int64_t ldb, int64_t p0,
                           int64_t kc, int64_t j0, int64_t n, float *bp)
{
    if (!tb) { /* rows of op(B) are contiguous: walk them in order */
        for (int64_t p = 0; p < kc; p++) {
            const float *src = B + (p0 + p) * ldb + j0;
            for (int64_t s = 0; s < n; s += NR) {
                float *dst = bp + s * kc + p * NR;
                const int64_t w = n - s;
                _mm512_store_ps(dst, _mm512_maskz_loadu_ps(first_lanes(w), src + s));
                _mm512_store_ps(dst + 16,
                                _mm512_maskz_loadu_ps(first_lanes(w > 16 ? w - 16 : 0), src + s + 16));
            }
        }
        return;
    }
    /* op(B) = B^T: each sliver is two 16-column halves, 16 rows of B at a time */
    for (int64_t s = 0; s < n; s += NR) {
        float *dst = bp + s * kc;
        for (int half = 0; half < 2; half++) {
            const int64_t jh = s + 16 * half, w = DN_MIN((int64_t)16, n - jh);
            for (int64_t q = 0; q < kc; q += 16) {
                const __mmask16 mk = first_lanes(kc - q);
                __m512 r[16];
                for (int j = 0; j < 16; j++)
                    r[j] = j < w ? _mm512_maskz_loadu_ps(mk, B + (j0 + jh + j) * ldb + p0 + q)
                                 : _mm512_setzero_ps();
                transpose16(r);
                const int np = (int)DN_MIN((int64_t)16, kc - q);
                for (int p = 0; p < np; p++) _mm512_store_ps(dst + (q + p) * NR + 16 * half, r[p]);
            }
        }
    }
}

#endif /* DAGNET_X86 */
