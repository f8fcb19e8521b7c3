/* Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror and
 * Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the
 * Random123 constants).
 *
 * A draw is a pure function of (seed, stream, position): the 64-bit key is
 * the seed (k0 = low 32 bits, k1 = high 32 bits) and word `position` of
 * stream s is word position % 4 of the block with counter
 *   {lo32(position / 4), hi32(position / 4), lo32(s), hi32(s)}.
 * Nothing is kept between calls, so every function here may be called from
 * several threads at once, on disjoint ranges of one stream or on different
 * streams, and the values never depend on how the work was split.
 */
#include <math.h>
#include "internal.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u
#define PHILOX_ROUNDS 10

/* Words generated per inner step of the fill functions (a multiple of 4). */
#define FILL_CHUNK 1024
/* Blocks computed side by side so the compiler can vectorise the rounds. */
#define LANES 8

/* One round: two 32x32 -> 64-bit products, then the Philox permutation. */
static inline void philox_round(uint32_t c[4], uint32_t k0, uint32_t k1)
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
    c[1] = (uint32_t)p1;
    c[3] = (uint32_t)p0;
    c[0] = n0;
    c[2] = n2;
}

void dn_philox4x32(const uint32_t ctr[4], uint64_t key, uint32_t out[4])
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        philox_round(c, k0, k1);
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c[0];
    out[1] = c[1];
    out[2] = c[2];
    out[3] = c[3];
}

/* The four words of block `block` of stream `stream`. */
static inline void philox_block(uint64_t seed, uint64_t stream, uint64_t block,
                                uint32_t out[4])
{
    const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32),
                             (uint32_t)stream, (uint32_t)(stream >> 32)};
    dn_philox4x32(ctr, seed, out);
}

uint32_t dn_rng_u32(uint64_t seed, uint64_t stream, uint64_t position)
{
    uint32_t w[4];
    philox_block(seed, stream, position / 4, w);
    return w[position % 4];
}

/* Whole blocks block0 .. block0+nblocks-1 into out (4 words each), LANES
 * blocks at a time with the rounds written lane-wise (the same arithmetic
 * as dn_philox4x32, vectorised by the compiler). */
DN_TARGET_CLONES
static void philox_blocks_portable(uint64_t seed, uint64_t stream, uint64_t block0,
                          uint32_t *out, int64_t nblocks)
{
    const uint32_t s0 = (uint32_t)stream, s1 = (uint32_t)(stream >> 32);
    int64_t b = 0;
    for (; b + LANES <= nblocks; b += LANES) {
        uint32_t c0[LANES], c1[LANES], c2[LANES], c3[LANES];
        uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
        for (int l = 0; l < LANES; l++) {
            uint64_t blk = block0 + (uint64_t)b + (uint64_t)l;
            c0[l] = (uint32_t)blk;
            c1[l] = (uint32_t)(blk >> 32);
            c2[l] = s0;
            c3[l] = s1;
        }
        for (int r = 0; r < PHILOX_ROUNDS; r++) {
            for (int l = 0; l < LANES; l++) {
                uint64_t p0 = (uint64_t)PHILOX_M0 * c0[l];
                uint64_t p1 = (uint64_t)PHILOX_M1 * c2[l];
                uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
                uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
                c1[l] = (uint32_t)p1;
                c3[l] = (uint32_t)p0;
                c0[l] = n0;
                c2[l] = n2;
            }
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        for (int l = 0; l < LANES; l++) {
            uint32_t *o = out + 4 * (b + l);
            o[0] = c0[l];
            o[1] = c1[l];
            o[2] = c2[l];
            o[3] = c3[l];
        }
    }
    for (; b < nblocks; b++)
        philox_block(seed, stream, block0 + (uint64_t)b, out + 4 * b);
}

#if defined(DAGNET_X86) && defined(__GNUC__)
#include <immintrin.h>

/* hi and lo 32-bit halves of the products a[l] * m for 16 lanes: vpmuludq
 * multiplies the even lanes, so the odd lanes go through a shifted copy. */
__attribute__((target("avx512f")))
static inline void mul_hilo16(__m512i a, __m512i m, __m512i *hi, __m512i *lo)
{
    __m512i pe = _mm512_mul_epu32(a, m);
    __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 32), po);
    *lo = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
}

/* 16 blocks at a time in AVX-512 registers; the same words as
 * philox_blocks_portable. */
__attribute__((target("avx512f")))
static int64_t philox_blocks_avx512(uint64_t seed, uint64_t stream, uint64_t block0,
                                    uint32_t *out, int64_t nblocks)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i m0 = _mm512_set1_epi64(PHILOX_M0), m1 = _mm512_set1_epi64(PHILOX_M1);
    int64_t b = 0;
    for (; b + 16 <= nblocks; b += 16) {
        uint64_t first = block0 + (uint64_t)b;
        __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32((int)(uint32_t)first), lane);
        /* the high word steps where the low word wrapped */
        __mmask16 wrapped = _mm512_cmplt_epu32_mask(c0, _mm512_set1_epi32((int)(uint32_t)first));
        __m512i c1 = _mm512_mask_add_epi32(_mm512_set1_epi32((int)(uint32_t)(first >> 32)), wrapped,
                                           _mm512_set1_epi32((int)(uint32_t)(first >> 32)),
                                           _mm512_set1_epi32(1));
        __m512i c2 = _mm512_set1_epi32((int)(uint32_t)stream);
        __m512i c3 = _mm512_set1_epi32((int)(uint32_t)(stream >> 32));
        uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
        for (int r = 0; r < PHILOX_ROUNDS; r++) {
            __m512i hi0, lo0, hi1, lo1;
            mul_hilo16(c0, m0, &hi0, &lo0);
            mul_hilo16(c2, m1, &hi1, &lo1);
            c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32((int)k0));
            c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32((int)k1));
            c1 = lo1;
            c3 = lo0;
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        /* transpose to block-major: u_j holds blocks j, j+4, j+8, j+12 */
        __m512i t0 = _mm512_unpacklo_epi32(c0, c1), t1 = _mm512_unpackhi_epi32(c0, c1);
        __m512i t2 = _mm512_unpacklo_epi32(c2, c3), t3 = _mm512_unpackhi_epi32(c2, c3);
        __m512i u[4] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2),
                        _mm512_unpacklo_epi64(t1, t3), _mm512_unpackhi_epi64(t1, t3)};
        __m128i *o128 = (__m128i *)(out + 4 * b);
        _mm_storeu_si128(o128 + 0, _mm512_extracti32x4_epi32(u[0], 0));
        _mm_storeu_si128(o128 + 1, _mm512_extracti32x4_epi32(u[1], 0));
        _mm_storeu_si128(o128 + 2, _mm512_extracti32x4_epi32(u[2], 0));
        _mm_storeu_si128(o128 + 3, _mm512_extracti32x4_epi32(u[3], 0));
        _mm_storeu_si128(o128 + 4, _mm512_extracti32x4_epi32(u[0], 1));
        _mm_storeu_si128(o128 + 5, _mm512_extracti32x4_epi32(u[1], 1));
        _mm_storeu_si128(o128 + 6, _mm512_extracti32x4_epi32(u[2], 1));
        _mm_storeu_si128(o128 + 7, _mm512_extracti32x4_epi32(u[3], 1));
        _mm_storeu_si128(o128 + 8, _mm512_extracti32x4_epi32(u[0], 2));
        _mm_storeu_si128(o128 + 9, _mm512_extracti32x4_epi32(u[1], 2));
        _mm_storeu_si128(o128 + 10, _mm512_extracti32x4_epi32(u[2], 2));
        _mm_storeu_si128(o128 + 11, _mm512_extracti32x4_epi32(u[3], 2));
        _mm_storeu_si128(o128 + 12, _mm512_extracti32x4_epi32(u[0], 3));
        _mm_storeu_si128(o128 + 13, _mm512_extracti32x4_epi32(u[1], 3));
        _mm_storeu_si128(o128 + 14, _mm512_extracti32x4_epi32(u[2], 3));
        _mm_storeu_si128(o128 + 15, _mm512_extracti32x4_epi32(u[3], 3));
    }
    return b;
}
#endif

/* Whole blocks block0 .. block0+nblocks-1 into out: AVX-512 where the
 * machine (and dn_cpu_isa) has it, then the portable loop for the rest. */
static void philox_blocks(uint64_t seed, uint64_t stream, uint64_t block0,
                          uint32_t *out, int64_t nblocks)
{
    int64_t done = 0;
#if defined(DAGNET_X86) && defined(__GNUC__)
    if (nblocks >= 16 && dn_cpu_isa() == DN_ISA_AVX512)
        done = philox_blocks_avx512(seed, stream, block0, out, nblocks);
#endif
    if (done < nblocks)
        philox_blocks_portable(seed, stream, block0 + (uint64_t)done, out + 4 * done, nblocks - done);
}

void dn_rng_fill_u32(uint64_t seed, uint64_t stream, uint64_t offset,
                     uint32_t *out, int64_t n)
{
    uint32_t w[4];
    int64_t done = 0;
    if (n <= 0) return;
    /* a leading partial block up to a multiple of 4 */
    if (offset % 4 != 0) {
        philox_block(seed, stream, offset / 4, w);
        for (uint64_t j = offset % 4; j < 4 && done < n; j++) out[done++] = w[j];
    }
    /* whole blocks straight into out */
    int64_t nblocks = (n - done) / 4;
    if (nblocks > 0) {
        philox_blocks(seed, stream, (offset + (uint64_t)done) / 4, out + done,
                      nblocks);
        done += 4 * nblocks;
    }
    /* a trailing partial block */
    if (done < n) {
        philox_block(seed, stream, (offset + (uint64_t)done) / 4, w);
        for (int j = 0; done < n; j++) out[done++] = w[j];
    }
}

void dn_rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset,
                    float *out, int64_t n)
{
    uint32_t buf[FILL_CHUNK];
    for (int64_t i0 = 0; i0 < n; i0 += FILL_CHUNK) {
        int64_t m = DN_MIN((int64_t)FILL_CHUNK, n - i0);
        dn_rng_fill_u32(seed, stream, offset + (uint64_t)i0, buf, m);
        for (int64_t i = 0; i < m; i++) out[i0 + i] = dn_u32_to_unit(buf[i]);
    }
}

/* Box-Muller on a pair of words (a, b): r = sqrt(-2 log u1) with
 * u1 = (a + 1/2) / 2^32 in (0, 1] (so the log is finite; tails reach 6.7
 * standard deviations), angle 2 pi u2 with u2 = b / 2^32 on 24 bits.
 * Element 2k takes r cos, element 2k+1 takes r sin. */
static inline void box_muller(uint32_t a, uint32_t b, float *z0, float *z1)
{
    const float two_pi = 6.28318530717958648f;
    float u1 = ((float)a + 0.5f) * (1.0f / 4294967296.0f);
    float r = sqrtf(-2.0f * logf(u1));
    float theta = two_pi * dn_u32_to_unit(b);
    *z0 = r * cosf(theta);
    *z1 = r * sinf(theta);
}

void dn_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset,
                   float *out, int64_t n)
{
    uint32_t buf[FILL_CHUNK];
    /* chunks start at even elements, so element i of the call uses words
     * offset + 2 * (i / 2) and + 1 whatever the chunking */
    for (int64_t i0 = 0; i0 < n; i0 += FILL_CHUNK) {
        int64_t m = DN_MIN((int64_t)FILL_CHUNK, n - i0);
        int64_t pairs = (m + 1) / 2;
        dn_rng_fill_u32(seed, stream, offset + (uint64_t)i0, buf, 2 * pairs);
        for (int64_t k = 0; k < pairs; k++) {
            float z0, z1;
            box_muller(buf[2 * k], buf[2 * k + 1], &z0, &z1);
            out[i0 + 2 * k] = z0;
            if (2 * k + 1 < m) out[i0 + 2 * k + 1] = z1;
        }
    }
}

/* Words of one stream read in order, from position 0. */
typedef struct word_reader {
    uint64_t seed, stream, pos;
    uint32_t block[4];
} word_reader;

static uint32_t next_word(word_reader *r)
{
    if (r->pos % 4 == 0) philox_block(r->seed, r->stream, r->pos / 4, r->block);
    return r->block[r->pos++ % 4];
}

/* High and low 64 bits of a * b, portably. */
static void mul_64x64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
    uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    *hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    *lo = (mid << 32) | (uint32_t)p00;
}

/* A uniform integer in [0, range) by Lemire's multiply-and-reject method
 * ("Fast random integer generation in an interval", 2019): unbiased. Ranges
 * that fit 32 bits take one word per try; larger ones two (low word first). */
static uint64_t bounded(word_reader *r, uint64_t range)
{
    if (range <= 0xffffffffu) {
        uint32_t s = (uint32_t)range;
        uint64_t m = (uint64_t)next_word(r) * s;
        uint32_t low = (uint32_t)m;
        if (low < s) {
            uint32_t threshold = (uint32_t)(-s) % s;
            while (low < threshold) {
                m = (uint64_t)next_word(r) * s;
                low = (uint32_t)m;
            }
        }
        return m >> 32;
    }
    uint64_t hi, lo, x = next_word(r);
    x |= (uint64_t)next_word(r) << 32;
    mul_64x64(x, range, &hi, &lo);
    if (lo < range) {
        uint64_t threshold = (0 - range) % range;
        while (lo < threshold) {
            x = next_word(r);
            x |= (uint64_t)next_word(r) << 32;
            mul_64x64(x, range, &hi, &lo);
        }
    }
    return hi;
}

/* Fisher-Yates (Durstenfeld's form): from the identity, for i = n-1 down to
 * 1 swap perm[i] with perm[j], j uniform in [0, i], the draws taken from the
 * stream's words in order. */
void dn_rng_permutation(uint64_t seed, uint64_t stream, int64_t *perm,
                        int64_t n)
{
    word_reader r = {seed, stream, 0, {0, 0, 0, 0}};
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)bounded(&r, (uint64_t)i + 1);
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}
