/* The two vector kernels of the direct convolution (src/ops/conv_direct.c),
 * written with GCC's vector extensions. conv_direct.c includes this file
 * once per instruction set, under "#pragma GCC target" for that set, with
 *   DD_VW      floats per vector: 16 (AVX-512), 8 (AVX2), 4 (SSE2);
 *   DD_NO      outputs per block of the forward kernel and
 *   DD_TB4     taps per block of the weight gradient of 4 outputs: DD_NO x 2
 *              and 4 x DD_TB4 vector accumulators, 16 of the 32 zmm
 *              registers, 8 of the 16 ymm or xmm ones;
 *   DD_TB1     at most this many taps per block of one output: 12 or 8;
 *   DD_SFX(f)  the name of f for that set;
 * it undefines them at its end.
 * Both kernels read shifted runs of flat planes, src + off[t] + i: the
 * caller lays the planes out so that every tap of the convolution is one
 * such shift (see conv_direct.c), and pads them so that the reads past a
 * run's end (up to the next multiple of DD_VW) stay inside, zero. */

typedef float DD_SFX(vec) __attribute__((vector_size(4 * DD_VW), aligned(4), may_alias));

#define DD_VEC DD_SFX(vec)
#define DD_INLINE static inline __attribute__((always_inline))

/* The sum of the lanes of v, halving: lanes l and l + DD_VW / 2, ..., then
 * (0 + 2) + (1 + 3). A fixed order for each instruction set. */
DD_INLINE float DD_SFX(hsum)(DD_VEC v)
{
    typedef float q4 __attribute__((vector_size(16)));
#if DD_VW == 16
    typedef float h8 __attribute__((vector_size(32)));
    const h8 h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                 __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    const q4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) +
                 __builtin_shufflevector(h, h, 4, 5, 6, 7);
#elif DD_VW == 8
    const q4 q = __builtin_shufflevector(v, v, 0, 1, 2, 3) +
                 __builtin_shufflevector(v, v, 4, 5, 6, 7);
#else
    const q4 q = v;
#endif
    return (q[0] + q[2]) + (q[1] + q[3]);
}

/* out[o ldo + i] = init[o] + sum_t w[t ldw + o] src[off[t] + i] for o < NO
 * and i in [i0, i1) (i1 - i0 a multiple of NV DD_VW): NO x NV accumulators
 * per block of NV vectors, the taps summed in order t = 0, 1, ... (the
 * weights of a tap side by side: one pointer for all NO broadcasts) */
DD_INLINE void DD_SFX(tapsum_blk)(const int NO, const int NV, float *out, int64_t ldo,
                                  const float *w, int64_t ldw, const float *src,
                                  const int64_t *off, int64_t T, int64_t i0, int64_t i1,
                                  const float *init)
{
    for (int64_t i = i0; i < i1; i += NV * DD_VW) {
        DD_VEC acc[8][8];
        for (int o = 0; o < NO; o++)
            for (int v = 0; v < NV; v++) acc[o][v] = (DD_VEC){0} + (init ? init[o] : 0.0f);
        for (int64_t t = 0; t < T; t++) {
            const float *s = src + off[t] + i;
            DD_VEC xv[8];
            for (int v = 0; v < NV; v++) xv[v] = *(const DD_VEC *)(s + v * DD_VW);
            for (int o = 0; o < NO; o++) {
                const float wt = w[t * ldw + o];
                for (int v = 0; v < NV; v++) acc[o][v] += wt * xv[v];
            }
        }
        for (int o = 0; o < NO; o++)
            for (int v = 0; v < NV; v++) *(DD_VEC *)(out + o * ldo + i + v * DD_VW) = acc[o][v];
    }
}

/* tapsum_blk for no outputs and i in [0, n) rounded up to DD_VW: blocks of
 * DD_NO outputs (then 4) x 2 vectors (then x 1), and single outputs over
 * runs of up to 8 vectors split into blocks of equal length (18 vectors:
 * 6, 6, 6), as a block of 1 or 2 vectors waits on its chain of dependent
 * FMAs. */
static void DD_SFX(tapsum)(float *out, int64_t ldo, int64_t no, const float *w, int64_t ldw,
                           const float *src, const int64_t *off, int64_t T, int64_t n,
                           const float *init)
{
    const int64_t nvec = (n + DD_VW - 1) / DD_VW, nv = nvec * DD_VW;
    const int64_t mid = nv / (2 * DD_VW) * (2 * DD_VW);
    int64_t o = 0;
    for (; o + DD_NO <= no; o += DD_NO) {
        const float *in = init ? init + o : NULL;
        DD_SFX(tapsum_blk)(DD_NO, 2, out + o * ldo, ldo, w + o, ldw, src, off, T, 0, mid,
                           in);
        DD_SFX(tapsum_blk)(DD_NO, 1, out + o * ldo, ldo, w + o, ldw, src, off, T, mid, nv,
                           in);
    }
    for (; o + 4 <= no; o += 4) {
        const float *in = init ? init + o : NULL;
        DD_SFX(tapsum_blk)(4, 2, out + o * ldo, ldo, w + o, ldw, src, off, T, 0, mid, in);
        DD_SFX(tapsum_blk)(4, 1, out + o * ldo, ldo, w + o, ldw, src, off, T, mid, nv, in);
    }
    const int64_t nb = (nvec + 7) / 8; /* blocks of len or len + 1 vectors */
    const int64_t len = nb ? nvec / nb : 0, longer = nb ? nvec % nb : 0;
    for (; o < no; o++) {
        const float *in = init ? init + o : NULL;
        int64_t i = 0;
        for (int64_t blk = 0; blk < nb; blk++) {
            const int nvb = (int)(len + (blk < longer)), i1 = (int)(i + nvb * DD_VW);
            float *ob = out + o * ldo;
            const float *wb = w + o;
#define DD_CASE(k) \
    case k: DD_SFX(tapsum_blk)(1, k, ob, ldo, wb, ldw, src, off, T, i, i1, in); break;
            switch (nvb) {
                DD_CASE(1) DD_CASE(2) DD_CASE(3) DD_CASE(4)
                DD_CASE(5) DD_CASE(6) DD_CASE(7) DD_CASE(8)
            }
#undef DD_CASE
            i = i1;
        }
    }
}

/* dw[o ldw + tb] = (dw[.] when add) + sum_{i < n} dz[o ldz + i] src[off[tb] + i]
 * for o < NO, tb < TB: NO x TB accumulators of DD_VW lanes over i (n rounded
 * up to DD_VW), each summed across its lanes at the end (hsum). */
DD_INLINE void DD_SFX(wgrad_blk)(const int NO, const int TB, float *dw, int64_t ldw, int add,
                                 const float *dz, int64_t ldz, const float *src,
                                 const int64_t *off, int64_t n)
{
    DD_VEC acc[4][12];
    for (int o = 0; o < NO; o++)
        for (int tb = 0; tb < TB; tb++) acc[o][tb] = (DD_VEC){0};
    for (int64_t i = 0; i < n; i += DD_VW) {
        DD_VEC d[4];
        for (int o = 0; o < NO; o++) d[o] = *(const DD_VEC *)(dz + o * ldz + i);
        for (int tb = 0; tb < TB; tb++) {
            const DD_VEC xv = *(const DD_VEC *)(src + off[tb] + i);
            for (int o = 0; o < NO; o++) acc[o][tb] += d[o] * xv;
        }
    }
    for (int o = 0; o < NO; o++)
        for (int tb = 0; tb < TB; tb++) {
            float *dst = dw + o * ldw + tb;
            *dst = (add ? *dst : 0.0f) + DD_SFX(hsum)(acc[o][tb]);
        }
}

/* wgrad_blk for no outputs and T taps: blocks of 4 outputs x DD_TB4 taps
 * and the remaining taps in one block; then single outputs over blocks of
 * at most DD_TB1 taps of equal length (9 taps in one block, 25 as 9, 8,
 * 8), as a block of few taps waits on its chains of dependent FMAs. */
static void DD_SFX(wgrad)(float *dw, int64_t ldw, int64_t no, int add, const float *dz,
                          int64_t ldz, const float *src, const int64_t *off, int64_t T,
                          int64_t n)
{
#define DD_BLK(NO, TB) DD_SFX(wgrad_blk)(NO, TB, dwo + t, ldw, add, dzo, ldz, src, off + t, n)
#define DD_CASE(k) \
    case k: DD_BLK(1, k); break;
    int64_t o = 0;
    for (; o + 4 <= no; o += 4) {
        float *dwo = dw + o * ldw;
        const float *dzo = dz + o * ldz;
        int64_t t = 0;
        for (; t + DD_TB4 <= T; t += DD_TB4) DD_BLK(4, DD_TB4);
        switch (T - t) { /* below DD_TB4 <= 4 */
        case 1: DD_BLK(4, 1); break;
        case 2: DD_BLK(4, 2); break;
        case 3: DD_BLK(4, 3); break;
        }
    }
    const int64_t nb = (T + DD_TB1 - 1) / DD_TB1; /* blocks of len or len + 1 taps */
    const int64_t len = nb ? T / nb : 0, longer = nb ? T % nb : 0;
    for (; o < no; o++) {
        float *dwo = dw + o * ldw;
        const float *dzo = dz + o * ldz;
        int64_t t = 0;
        for (int64_t blk = 0; blk < nb; blk++) {
            switch (len + (blk < longer)) {
                DD_CASE(1) DD_CASE(2) DD_CASE(3) DD_CASE(4) DD_CASE(5) DD_CASE(6)
                DD_CASE(7) DD_CASE(8)
#if DD_TB1 > 8
                DD_CASE(9) DD_CASE(10) DD_CASE(11) DD_CASE(12)
#endif
            }
            t += len + (blk < longer);
        }
    }
#undef DD_CASE
#undef DD_BLK
}

#undef DD_VEC
#undef DD_INLINE
#undef DD_VW
#undef DD_NO
#undef DD_TB4
#undef DD_TB1
#undef DD_SFX
