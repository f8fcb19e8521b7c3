/* Single-precision GEMM: C = act(alpha op(A) op(B) + beta C + bias).
 *
 * Four paths, chosen by shape:
 *   - K == 0 or alpha == 0: C = act(beta C + bias), A and B not read.
 *   - M or N of 1: plain loops over rows of C (gemm_simple), no packing.
 *   - everything else: the packed, cache-blocked GEMM (gemm_blocked) in the
 *     manner of BLIS. C is cut into one rectangle per thread; in each,
 *       for jc over columns, nc at a time:
 *         for pc over K, kc at a time:      pack op(B)[pc, jc] into NR slivers
 *           for ic over rows, MR at a time:  pack op(A)[ic, pc] (one sliver)
 *             for jr over the B slivers:     MR x NR micro-kernel
 *     The A sliver (MR x kc) stays in L1 and the B block (kc x nc) in L2
 *     (BLIS's other order, a B sliver in L1 and A slivers from L2, measured
 *     the same on a Zen 4 core: the 12 x 32 kernel on packed operands ran
 *     108-111 GFLOP/s either way, beside a register-only FMA peak of
 *     115-117 in the same session). The
 *     micro-kernel applies beta on the first kc block and bias + activation
 *     on the last, while the tile is in registers. The transpositions are
 *     absorbed by the packing routines. For the few-row products of
 *     minibatch training (up to DIRECT_B_MAX_ROWS rows per thread) a
 *     row-major B is read in place instead: packing it would cost more than
 *     it saves. Likewise A, when the kernel can, for narrow products whose
 *     A sliver would serve few tiles (up to DIRECT_A_MAX_TILES). Packing
 *     space is kept per thread from call to call.
 *   - A^T B with few columns (gemm_narrow): the transposed product B^T A,
 *     whose rows fill the tiles, into a scratch, then C from its columns.
 * K is never split across threads and the kc blocks depend only on K, so
 * each element of C is summed in the same order for any thread count.
 */
#include <stdatomic.h>
#include "gemm/gemm_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* Block sizes per ISA (see dn_gemm_kernel): kc and nc, measured on a Zen 4
 * class core (32 KiB L1, 1 MiB L2); results vary by a few percent around
 * them. */
#define GENERIC_KC 256
#define GENERIC_NC 256
#define AVX2_KC 256
#define AVX2_NC 512
#define AVX512_KC 512
#define AVX512_NC 512

static const dn_gemm_kernel kernel_generic = {
    DN_GEMM_GENERIC_MR, DN_GEMM_GENERIC_NR, GENERIC_KC, GENERIC_NC,
    dn_gemm_sliver_generic, NULL, dn_gemm_pack_a_generic, dn_gemm_pack_b_generic, NULL, 0};
#ifdef DAGNET_X86
static const dn_gemm_kernel kernel_avx2 = {
    DN_GEMM_AVX2_MR, DN_GEMM_AVX2_NR, AVX2_KC, AVX2_NC,
    dn_gemm_sliver_avx2, NULL, dn_gemm_pack_a_avx2, dn_gemm_pack_b_avx2, NULL, 0};
static const dn_gemm_kernel kernel_avx512 = {
    DN_GEMM_AVX512_MR, DN_GEMM_AVX512_NR, AVX512_KC, AVX512_NC,
    dn_gemm_sliver_avx512, dn_gemm_sliver_a_avx512, dn_gemm_pack_a_avx512,
    dn_gemm_pack_b_avx512, dn_gemm_rows_avx512, 1};
#endif

/* Per-thread packing space, large enough for every kernel above: a B block
 * of WS_KC x WS_NC, then an A sliver of WS_MR x WS_KC (floats). */
#define WS_KC 512
#define WS_NC 512
#define WS_MR 12
#define WS_FLOATS ((int64_t)WS_KC * WS_NC + (int64_t)WS_MR * WS_KC)
_Static_assert(GENERIC_KC <= WS_KC && AVX2_KC <= WS_KC && AVX512_KC <= WS_KC, "kc > WS_KC");
_Static_assert(GENERIC_NC <= WS_NC && AVX2_NC <= WS_NC && AVX512_NC <= WS_NC, "nc > WS_NC");
_Static_assert(GENERIC_NC % DN_GEMM_GENERIC_NR == 0 && AVX2_NC % DN_GEMM_AVX2_NR == 0 &&
               AVX512_NC % DN_GEMM_AVX512_NR == 0, "nc must be a multiple of NR");
_Static_assert(DN_GEMM_GENERIC_MR <= WS_MR && DN_GEMM_AVX2_MR <= WS_MR &&
               DN_GEMM_AVX512_MR <= WS_MR, "MR > WS_MR");

/* op(B) = B is read in place, not packed, when a thread's part of C has at
 * most this many rows; of a product A^T B (a weight gradient over many rows
 * of a batch or a sequence, deep in K), at most DIRECT_B_MAX_ROWS_TA: there
 * the in-place block of B spans kc rows ldb apart, each on its own page,
 * and is read by every A sliver (the recurrent gradient H^T dA of 256 x
 * 1024 over 1600 rows: 113 GFLOP/s in place, 161 packed, numpy 164). */
#define DIRECT_B_MAX_ROWS 256
#define DIRECT_B_MAX_ROWS_TA 128
/* op(A) is read in place, not packed, when the kernel can and an A sliver
 * would serve at most this many tiles, kc deep at most DIRECT_A_MAX_KC (its
 * rows stay in L1 from tile to tile). */
#define DIRECT_A_MAX_TILES 4
#define DIRECT_A_MAX_KC 256

typedef struct gemm_args {
    int ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    int64_t lda, ldb;
    float *C;
    int64_t ldc;
    const float *bias;
    dn_act act;
    float act_alpha;
} gemm_args;

/* --- the reference ------------------------------------------------------- */

/* C (M x N, ldc) = act(alpha op(A) op(B) + beta C + bias); op(A) M x K,
 * op(B) K x N. */
void dn_sgemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                  float alpha, const float *A, int64_t lda, const float *B,
                  int64_t ldb, float beta, float *C, int64_t ldc,
                  const dn_gemm_epilogue *ep)
{
    if (M <= 0 || N <= 0) return;
    for (int64_t i = 0; i < M; i++) {
        float *ci = C + i * ldc;
        for (int64_t j = 0; j < N; j++) {
            float s = 0.0f;
            for (int64_t p = 0; p < K; p++) {
                const float a = trans_a ? A[p * lda + i] : A[i * lda + p];
                const float b = trans_b ? B[j * ldb + p] : B[p * ldb + j];
                s += a * b;
            }
            float x = alpha * s;
            if (beta != 0.0f) x += beta * ci[j];
            if (ep && ep->bias) x += ep->bias[j];
            ci[j] = x;
        }
        if (ep && ep->act != DN_ACT_IDENTITY) dn_act_forward(ep->act, ep->act_alpha, ci, ci, N);
    }
}

/* --- finishing rows of C outside the micro-kernels ------------------------ */

/* c (n) = alpha acc + beta c (+ bias); acc NULL reads as zero; c is not read
 * when beta == 0. */
DN_TARGET_CLONES
static void combine(float *c, const float *acc, float alpha, float beta,
                    const float *bias, int64_t n)
{
    if (!acc) {
        if (beta == 0.0f)
            for (int64_t j = 0; j < n; j++) c[j] = 0.0f;
        else
            for (int64_t j = 0; j < n; j++) c[j] *= beta;
    } else if (beta == 0.0f) {
        for (int64_t j = 0; j < n; j++) c[j] = alpha * acc[j];
    } else {
        for (int64_t j = 0; j < n; j++) c[j] = alpha * acc[j] + beta * c[j];
    }
    if (bias)
        for (int64_t j = 0; j < n; j++) c[j] += bias[j];
}

/* c (n) = act(alpha acc + beta c + bias) */
static void finish_row(const gemm_args *g, float *c, const float *acc,
                       const float *bias, int64_t n)
{
    combine(c, acc, g->alpha, g->beta, bias, n);
    if (g->act != DN_ACT_IDENTITY) dn_act_forward(g->act, g->act_alpha, c, c, n);
}

/* K == 0 or alpha == 0: C = act(beta C + bias) without reading A and B. */
static void gemm_scale(const gemm_args *g)
{
    for (int64_t i = 0; i < g->M; i++) finish_row(g, g->C + i * g->ldc, NULL, g->bias, g->N);
}

/* --- the simple path: plain loops for M or N of 1 ------------------------ */

#define ROW_CHUNK 2048

/* acc (n) += a * b (n) */
DN_TARGET_CLONES
static void axpy(float *acc, float a, const float *b, int64_t n)
{
    for (int64_t j = 0; j < n; j++) acc[j] += a * b[j];
}

/* acc (n) += a[0] b0 + a[1] b1 + a[2] b2 + a[3] b3, added in that order */
DN_TARGET_CLONES
static void axpy4(float *acc, const float a[4], const float *b0, const float *b1,
                  const float *b2, const float *b3, int64_t n)
{
    const float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    for (int64_t j = 0; j < n; j++) {
        float x = acc[j];
        x += a0 * b0[j];
        x += a1 * b1[j];
        x += a2 * b2[j];
        x += a3 * b3[j];
        acc[j] = x;
    }
}

/* sum over p < n of x[p incx] y[p incy], in 16 interleaved partial sums
 * added in a fixed order */
DN_TARGET_CLONES
static float dot(const float *x, int64_t incx, const float *y, int64_t incy, int64_t n)
{
    float part[16] = {0};
    int64_t p = 0;
    if (incx == 1 && incy == 1) {
        for (; p + 16 <= n; p += 16)
            for (int l = 0; l < 16; l++) part[l] += x[p + l] * y[p + l];
    }
    for (; p < n; p++) part[p & 15] += x[p * incx] * y[p * incy];
    float s = 0.0f;
    for (int l = 0; l < 16; l++) s += part[l];
    return s;
}

/* Rows [i0, i1) of C: by rows of op(B) when they are contiguous and wide,
 * else by dot products. op(A)[i, p] = A[i a_row + p a_k], op(B)[p, j] =
 * B[p b_k + j b_col]. */
static void gemm_simple_rows(const gemm_args *g, int64_t i0, int64_t i1)
{
    const int64_t a_row = g->ta ? 1 : g->lda, a_k = g->ta ? g->lda : 1;
    const int64_t b_k = g->tb ? 1 : g->ldb, b_col = g->tb ? g->ldb : 1;
    const int by_rows = b_col == 1 && g->N >= 16;
    float acc[ROW_CHUNK];
    for (int64_t i = i0; i < i1; i++) {
        const float *ai = g->A + i * a_row;
        float *ci = g->C + i * g->ldc;
        for (int64_t j0 = 0; j0 < g->N; j0 += ROW_CHUNK) {
            const int64_t n = DN_MIN((int64_t)ROW_CHUNK, g->N - j0);
            if (by_rows) {
                const float *b = g->B + j0;
                int64_t p = 0;
                memset(acc, 0, (size_t)n * sizeof(float));
                for (; p + 4 <= g->K; p += 4) {
                    const float a4[4] = {ai[p * a_k], ai[(p + 1) * a_k], ai[(p + 2) * a_k],
                                         ai[(p + 3) * a_k]};
                    axpy4(acc, a4, b + p * b_k, b + (p + 1) * b_k, b + (p + 2) * b_k,
                          b + (p + 3) * b_k, n);
                }
                for (; p < g->K; p++) axpy(acc, ai[p * a_k], b + p * b_k, n);
            } else {
                for (int64_t j = 0; j < n; j++)
                    acc[j] = dot(ai, a_k, g->B + (j0 + j) * b_col, b_k, g->K);
            }
            finish_row(g, ci + j0, acc, g->bias ? g->bias + j0 : NULL, n);
        }
    }
}

/* N == 1 with op(A) = A^T: C[i0..i1) = sum over p of b_p A[p, i0..i1), by
 * rows of A. */
static void gemm_simple_column(const gemm_args *g, int64_t i0, int64_t i1)
{
    const int64_t b_k = g->tb ? 1 : g->ldb;
    float acc[ROW_CHUNK];
    for (int64_t r0 = i0; r0 < i1; r0 += ROW_CHUNK) {
        const int64_t m = DN_MIN((int64_t)ROW_CHUNK, i1 - r0);
        memset(acc, 0, (size_t)m * sizeof(float));
        for (int64_t p = 0; p < g->K; p++) axpy(acc, g->B[p * b_k], g->A + p * g->lda + r0, m);
        for (int64_t i = 0; i < m; i++) finish_row(g, g->C + (r0 + i) * g->ldc, acc + i, g->bias, 1);
    }
}

/* Rows [i0, i1) of C by the simple loops. */
static void gemm_simple_part(const gemm_args *g, int64_t i0, int64_t i1)
{
    if (g->N == 1 && g->ta)
        gemm_simple_column(g, i0, i1);
    else
        gemm_simple_rows(g, i0, i1);
}

/* M or N of 1. Rows are independent, so threads take rows (or, for one
 * row, column ranges) without changing any sum. */
static void gemm_simple(const gemm_args *g, int nt)
{
    if (nt <= 1) {
        gemm_simple_part(g, 0, g->M);
        return;
    }
    if (g->M == 1) {
        const int64_t per = (g->N + nt - 1) / nt;
        #pragma omp parallel for num_threads(nt) if(nt > 1) schedule(static)
        for (int t = 0; t < nt; t++) {
            gemm_args s = *g;
            const int64_t j0 = t * per;
            if (j0 >= g->N) continue;
            s.N = DN_MIN(per, g->N - j0);
            s.B = g->tb ? g->B + j0 * g->ldb : g->B + j0;
            s.C = g->C + j0;
            s.bias = g->bias ? g->bias + j0 : NULL;
            gemm_simple_part(&s, 0, 1);
        }
        return;
    }
    const int64_t rows_per = (g->M + nt - 1) / nt;
    #pragma omp parallel for num_threads(nt) if(nt > 1) schedule(static)
    for (int t = 0; t < nt; t++) {
        const int64_t i0 = t * rows_per, i1 = DN_MIN(g->M, i0 + rows_per);
        if (i0 < i1) gemm_simple_part(g, i0, i1);
    }
}

/* --- per-thread packing space --------------------------------------------- */

/* A pool of workspaces, each owned by one thread while a call runs and kept
 * for the life of the process: no allocation per call after the first. */
#define POOL_SLOTS 256
static _Atomic int slot_busy[POOL_SLOTS];
static float *slot_mem[POOL_SLOTS];

static int ws_acquire(int hint, float **mem)
{
    for (int k = 0; k < POOL_SLOTS; k++) {
        const int s = (hint + k) % POOL_SLOTS;
        if (atomic_load_explicit(&slot_busy[s], memory_order_relaxed)) continue;
        if (atomic_exchange_explicit(&slot_busy[s], 1, memory_order_acquire)) continue;
        if (!slot_mem[s]) slot_mem[s] = dn_alloc((size_t)WS_FLOATS * sizeof(float));
        if (!slot_mem[s]) {
            atomic_store_explicit(&slot_busy[s], 0, memory_order_release);
            return -1;
        }
        *mem = slot_mem[s];
        return s;
    }
    return -1;
}

static void ws_release(int s)
{
    atomic_store_explicit(&slot_busy[s], 0, memory_order_release);
}

/* --- the blocked path ------------------------------------------------------ */

/* C[i0..i1, j0..j1) with the packed kernel; ws holds the packing space.
 * When direct_b, full slivers of op(B) = B are read in place and only the
 * ragged last sliver of each block is packed (also read in place when the
 * kernel can). */
static void gemm_block(const dn_gemm_kernel *kn, const gemm_args *g, int64_t i0,
                       int64_t i1, int64_t j0, int64_t j1, int direct_b, float *ws)
{
    const int64_t K = g->K, nr = kn->nr;
    /* kc blocks of (nearly) equal depth: a function of K alone */
    const int64_t kblocks = (K + kn->kc - 1) / kn->kc;
    const int64_t kcb = (K + kblocks - 1) / kblocks;
    /* nc blocks of (nearly) equal width in whole slivers */
    const int64_t n = j1 - j0, nblocks = (n + kn->nc - 1) / kn->nc;
    const int64_t ncb = ((n + nblocks - 1) / nblocks + nr - 1) / nr * nr;
    float *bp = ws, *ap = ws + (int64_t)WS_KC * WS_NC;
    dn_gemm_tile t, edge;
    t.alpha = g->alpha;
    t.beta = g->beta;
    t.act = g->act;
    t.act_alpha = g->act_alpha;
    /* A read in place: element (i, p) of op(A) at A[i a_row + p a_step] */
    const int64_t a_row = g->ta ? 1 : g->lda, a_step = g->ta ? g->lda : 1;
    for (int64_t jc = j0; jc < j1; jc += ncb) {
        const int64_t nc = DN_MIN(ncb, j1 - jc);
        /* read in place: the full slivers, and the ragged last one when the
         * kernel can */
        const int64_t nfull = !direct_b ? 0 : kn->ragged_b ? nc : nc / nr * nr;
        t.bias = g->bias ? g->bias + jc : NULL;
        for (int64_t pc = 0; pc < K; pc += kcb) {
            const int64_t kc = DN_MIN(kcb, K - pc);
            const int direct_a = kn->sliver_a && (nc + nr - 1) / nr <= DIRECT_A_MAX_TILES &&
                                 kc <= DIRECT_A_MAX_KC;
            if (nc > nfull) kn->pack_b(g->tb, g->B, g->ldb, pc, kc, jc + nfull, nc - nfull, bp);
            t.first = pc == 0;
            t.last = pc + kc == K;
            edge = t;
            edge.bias = g->bias ? g->bias + jc + nfull : NULL;
            for (int64_t ic = i0; ic < i1; ic += kn->mr) {
                const int m = (int)DN_MIN((int64_t)kn->mr, i1 - ic);
                float *c = g->C + ic * g->ldc + jc;
                const float *a = g->A + ic * a_row + pc * a_step;
                const float *b_in_place = g->B + pc * g->ldb + jc;
                if (direct_a) {
                    if (nfull > 0)
                        kn->sliver_a(m, nfull, kc, a, a_row, a_step, b_in_place, g->ldb, nr, c,
                                     g->ldc, &t);
                    if (nc > nfull)
                        kn->sliver_a(m, nc - nfull, kc, a, a_row, a_step, bp, nr, kc * nr,
                                     c + nfull, g->ldc, &edge);
                    continue;
                }
                kn->pack_a(g->ta, g->A, g->lda, ic, m, pc, kc, ap);
                if (nfull > 0)
                    kn->sliver(m, nfull, kc, ap, b_in_place, g->ldb, nr, c, g->ldc, &t);
                if (nc > nfull)
                    kn->sliver(m, nc - nfull, kc, ap, bp, nr, kc * nr, c + nfull, g->ldc, &edge);
            }
        }
    }
}

/* The same rectangle by the reference loops (when no workspace could be had). */
static void gemm_block_ref(const gemm_args *g, int64_t i0, int64_t i1,
                           int64_t j0, int64_t j1)
{
    const dn_gemm_epilogue ep = {g->bias ? g->bias + j0 : NULL, g->act, g->act_alpha};
    const float *a = g->ta ? g->A + i0 : g->A + i0 * g->lda;
    const float *b = g->tb ? g->B + j0 * g->ldb : g->B + j0;
    dn_sgemm_ref(g->ta, g->tb, i1 - i0, j1 - j0, g->K, g->alpha, a, g->lda, b,
                 g->ldb, g->beta, g->C + i0 * g->ldc + j0, g->ldc, &ep);
}

/* op(B) = B is read in place when C is cut into pm row parts: it is
 * row-major and each block of it meets few A slivers, so packing it would
 * not pay. */
static int reads_b_in_place(const gemm_args *g, int pm)
{
    return !g->tb && (g->M + pm - 1) / pm <= (g->ta ? DIRECT_B_MAX_ROWS_TA : DIRECT_B_MAX_ROWS);
}

/* Split C into pm x pn rectangles for nt threads (pm pn == nt): the split
 * with the least work for the busiest thread, counting the tiles it computes,
 * the elements it packs (B only when it is not read in place) and, for
 * column splits, the cache lines of C that two threads would write: when
 * rows of C do not start on a cache line, a column boundary falls inside a
 * line in every row, and that line moves between the cores row after row
 * (FALSE_SHARING_COST multiply-adds each). */
#define FALSE_SHARING_COST 4096.0
static void choose_split(const dn_gemm_kernel *kn, const gemm_args *g, int nt,
                         int *pm_out, int *pn_out)
{
    const int64_t tm = (g->M + kn->mr - 1) / kn->mr, tn = (g->N + kn->nr - 1) / kn->nr;
    const int64_t line = DN_ALIGN / (int64_t)sizeof(float);
    const int rows_aligned = g->ldc % line == 0 && (uintptr_t)g->C % DN_ALIGN == 0;
    double best = -1.0;
    for (int pn = nt; pn >= 1; pn--) {
        if (nt % pn) continue;
        const int pm = nt / pn;
        const double rows = (double)((tm + pm - 1) / pm * kn->mr);
        const double cols = (double)((tn + pn - 1) / pn * kn->nr);
        const double jblocks = (double)(((int64_t)cols + kn->nc - 1) / kn->nc);
        const double fma = rows * cols * (double)g->K;
        const double packed = ((reads_b_in_place(g, pm) ? 0.0 : cols) + rows * jblocks) *
                              (double)g->K;
        const double shared = pn > 1 && !rows_aligned ? rows * FALSE_SHARING_COST : 0.0;
        const double cost = fma + 8.0 * packed + shared;
        if (best < 0 || cost < best) {
            best = cost;
            *pm_out = pm;
            *pn_out = pn;
        }
    }
}

/* How C is cut for the threads of one call. */
typedef struct gemm_plan {
    const dn_gemm_kernel *kn;
    const gemm_args *g;
    int64_t tm, tn; /* tiles of MR rows and NR columns */
    int pm, pn;     /* row and column parts */
    int direct_b;   /* read full slivers of B in place */
} gemm_plan;

/* The parts r = tid, tid + team, ... of C (rectangle r: row part r / pn,
 * column part r % pn, cut along whole tiles). */
static void gemm_parts(const gemm_plan *pl, int tid, int team)
{
    const dn_gemm_kernel *kn = pl->kn;
    const gemm_args *g = pl->g;
    float *ws = NULL;
    const int slot = ws_acquire(tid, &ws);
    for (int r = tid; r < pl->pm * pl->pn; r += team) {
        const int rm = r / pl->pn, rn = r % pl->pn;
        const int64_t i0 = DN_MIN(g->M, pl->tm * rm / pl->pm * kn->mr);
        const int64_t i1 = DN_MIN(g->M, pl->tm * (rm + 1) / pl->pm * kn->mr);
        const int64_t j0 = DN_MIN(g->N, pl->tn * rn / pl->pn * kn->nr);
        const int64_t j1 = DN_MIN(g->N, pl->tn * (rn + 1) / pl->pn * kn->nr);
        if (i0 >= i1 || j0 >= j1) continue;
        if (slot >= 0)
            gemm_block(kn, g, i0, i1, j0, j1, pl->direct_b, ws);
        else
            gemm_block_ref(g, i0, i1, j0, j1);
    }
    if (slot >= 0) ws_release(slot);
}

static void gemm_blocked(const dn_gemm_kernel *kn, const gemm_args *g, int nt)
{
    gemm_plan pl;
    pl.kn = kn;
    pl.g = g;
    pl.tm = (g->M + kn->mr - 1) / kn->mr;
    pl.tn = (g->N + kn->nr - 1) / kn->nr;
    if (nt > pl.tm * pl.tn) nt = (int)(pl.tm * pl.tn);
    pl.pm = pl.pn = 1;
    if (nt > 1) choose_split(kn, g, nt, &pl.pm, &pl.pn);
    pl.direct_b = reads_b_in_place(g, pl.pm);
    const int parts = pl.pm * pl.pn;
    if (parts == 1) {
        gemm_parts(&pl, 0, 1);
        return;
    }
    #pragma omp parallel num_threads(parts) if(parts > 1)
    {
        int tid = 0, team = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        team = omp_get_num_threads();
#endif
        gemm_parts(&pl, tid, team);
    }
}

/* --- few rows: B read row by row -------------------------------------------- */

/* A product of a few rows (a sample predicted alone, a recurrent step of a
 * small batch) against a row-major B: the sliver kernels walk B one
 * 32-column sliver at a time down its kc rows, each row on another page
 * when B is wide, and a 1 x 1024 x 256 product ran at a fifth of numpy's
 * speed. The row kernel reads each row of B in runs of up to 256 columns;
 * the kc blocks are those of gemm_block and each element is summed and
 * finished as there, so a row of C has the same bits alone or in a batch.
 * Threads take column ranges of whole vectors. */
static int rows_pay(const dn_gemm_kernel *kn, const gemm_args *g)
{
    /* 3 or 4 rows against a narrow B (4 x 256 x 64: 0.5-0.7x numpy against
     * 0.8-1.0x) fill the sliver kernels' tiles well enough */
    return kn->rows && !g->tb && g->M <= DN_GEMM_ROWS_MAX && g->N >= 16 &&
           (g->M <= 2 || g->N >= 512);
}

static void gemm_rows_part(const dn_gemm_kernel *kn, const gemm_args *g, int64_t j0, int64_t j1)
{
    const int64_t K = g->K, kblocks = (K + kn->kc - 1) / kn->kc;
    const int64_t kcb = (K + kblocks - 1) / kblocks; /* as gemm_block */
    const int64_t a_row = g->ta ? 1 : g->lda, a_step = g->ta ? g->lda : 1;
    dn_gemm_tile t;
    t.alpha = g->alpha;
    t.beta = g->beta;
    t.act = g->act;
    t.act_alpha = g->act_alpha;
    t.bias = g->bias ? g->bias + j0 : NULL;
    for (int64_t pc = 0; pc < K; pc += kcb) {
        const int64_t kc = DN_MIN(kcb, K - pc);
        t.first = pc == 0;
        t.last = pc + kc == K;
        kn->rows((int)g->M, j1 - j0, kc, g->A + pc * a_step, a_row, a_step,
                 g->B + pc * g->ldb + j0, g->ldb, g->C + j0, g->ldc, &t);
    }
}

static void gemm_rows(const dn_gemm_kernel *kn, const gemm_args *g, int nt)
{
    const int64_t vecs = (g->N + 15) / 16;
    if (nt > vecs) nt = (int)vecs;
    if (nt <= 1) {
        gemm_rows_part(kn, g, 0, g->N);
        return;
    }
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        const int64_t j0 = DN_MIN(g->N, vecs * t / nt * 16);
        const int64_t j1 = DN_MIN(g->N, vecs * (t + 1) / nt * 16);
        if (j0 < j1) gemm_rows_part(kn, g, j0, j1);
    }
}

/* --- few columns: the transposed product ----------------------------------- */

/* A product with few columns wastes most lanes of the 32-wide AVX-512 tile
 * (N = 10: 10 of 16 in a masked vector, one multiply-add per row of C and
 * step of K). For op(A) = A^T and op(B) = B (the weight gradient X^T dZ of
 * a layer with few units) the transposed product C^T = B^T A is as cheap
 * to set up, since both operands are then read as they lie, and it runs N
 * rows of full 32-wide tiles: N M / 16 multiply-adds per step of K instead
 * of M (M / 2 for N <= 8, in ymm). It goes to a scratch T (N x M) and each
 * row of C is finished from a column of T (alpha, beta, bias, activation
 * as everywhere else). The sums over K are the same, in the same order. */
#define NARROW_N_MAX 12
#define NARROW_M_MIN 48

static int narrow_pays(const dn_gemm_kernel *kn, const gemm_args *g)
{
    if (kn->nr != 32 || !g->ta || g->tb || g->N < 2 || g->N > NARROW_N_MAX ||
        g->M < NARROW_M_MIN || g->M * g->N > WS_FLOATS)
        return 0;
    /* multiply-adds per step of K and row of C: N / 16 transposed against
     * 1 (N > 8) or 1/2 (N <= 8), with a quarter more for the transposition */
    const double direct = g->N > 8 ? 1.0 : 0.5;
    return 1.25 * (double)g->N / 16.0 < direct;
}

/* C = act(alpha op(A) op(B) + beta C + bias) by the transposed product;
 * returns 0 (nothing done) when no scratch could be had. */
static int gemm_narrow(const dn_gemm_kernel *kn, const gemm_args *g, int nt)
{
    float *T = NULL, acc[NARROW_N_MAX];
    const int slot = ws_acquire(POOL_SLOTS / 2, &T);
    if (slot < 0) return 0;
    gemm_args s;
    memset(&s, 0, sizeof s);
    s.ta = 1; /* op(A') = op(B)^T = B^T, element (j, p) at B[p ldb + j] */
    s.tb = 0; /* op(B') = op(A)^T = A, element (p, i) at A[p lda + i] */
    s.M = g->N;
    s.N = g->M;
    s.K = g->K;
    s.alpha = 1.0f;
    s.beta = 0.0f;
    s.A = g->B;
    s.lda = g->ldb;
    s.B = g->A;
    s.ldb = g->lda;
    s.C = T;
    s.ldc = g->M;
    s.act = DN_ACT_IDENTITY;
    gemm_blocked(kn, &s, nt);
    const int plain = g->beta == 0.0f && !g->bias && g->act == DN_ACT_IDENTITY;
    for (int64_t i = 0; i < g->M; i++) {
        float *ci = g->C + i * g->ldc;
        if (plain) { /* a weight gradient: alpha T^T, as combine writes it */
            for (int64_t j = 0; j < g->N; j++) ci[j] = g->alpha * T[j * g->M + i];
            continue;
        }
        for (int64_t j = 0; j < g->N; j++) acc[j] = T[j * g->M + i];
        finish_row(g, ci, acc, g->bias, g->N);
    }
    ws_release(slot);
    return 1;
}

static const dn_gemm_kernel *kernel_for(dn_isa isa)
{
#ifdef DAGNET_X86
    if (isa == DN_ISA_AVX512) return &kernel_avx512;
    if (isa == DN_ISA_AVX2) return &kernel_avx2;
#else
    (void)isa;
#endif
    return &kernel_generic;
}

/* The arguments of one call (K < 0 read as 0). */
static gemm_args args_of(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                         float *C, int64_t ldc, const dn_gemm_epilogue *ep)
{
    gemm_args g;
    g.ta = trans_a != 0;
    g.tb = trans_b != 0;
    g.M = M;
    g.N = N;
    g.K = K > 0 ? K : 0;
    g.alpha = alpha;
    g.beta = beta;
    g.A = A;
    g.B = B;
    g.lda = lda;
    g.ldb = ldb;
    g.C = C;
    g.ldc = ldc;
    g.bias = ep ? ep->bias : NULL;
    g.act = ep ? ep->act : DN_ACT_IDENTITY;
    g.act_alpha = ep ? ep->act_alpha : 0.0f;
    return g;
}

/* --- op(B) packed once for many products ------------------------------------ */

/* The widest sliver of any kernel: the packed size is K rows of N rounded up
 * to it, whichever kernel packs. */
#define PACKED_NR_MAX 32
_Static_assert(DN_GEMM_AVX512_NR <= PACKED_NR_MAX && DN_GEMM_AVX2_NR <= PACKED_NR_MAX &&
               DN_GEMM_GENERIC_NR <= PACKED_NR_MAX, "a kernel's NR > PACKED_NR_MAX");

int64_t dn_sgemm_packed_floats(int64_t K, int64_t N)
{
    return K * ((N + PACKED_NR_MAX - 1) / PACKED_NR_MAX * PACKED_NR_MAX);
}

/* kc blocks of (nearly) equal depth, as gemm_block cuts K */
static int64_t packed_kc(const dn_gemm_kernel *kn, int64_t K)
{
    const int64_t kblocks = (K + kn->kc - 1) / kn->kc;
    return (K + kblocks - 1) / kblocks;
}

/* Block pc (kc rows) of the packed op(B) sits at floats pc Npad, its
 * slivers kc NR apart (the layout pack_b writes, zero past column N). */
void dn_sgemm_pack_b(int trans_b, int64_t K, int64_t N, const float *B, int64_t ldb,
                     float *packed)
{
    if (K <= 0 || N <= 0) return;
    const dn_gemm_kernel *kn = kernel_for(dn_cpu_isa());
    const int64_t kcb = packed_kc(kn, K), npad = (N + kn->nr - 1) / kn->nr * kn->nr;
    for (int64_t pc = 0; pc < K; pc += kcb)
        kn->pack_b(trans_b != 0, B, ldb, pc, DN_MIN(kcb, K - pc), 0, N, packed + pc * npad);
}

/* Slivers [s0, s1) of C for rows [0, M): for each kc block, the A slivers of
 * a chunk of rows are packed once, then each B sliver (kc x NR, read once
 * from wherever it is) meets every A sliver while it sits in L1. */
static void packed_part(const dn_gemm_kernel *kn, const gemm_args *g, const float *packed,
                        int64_t s0, int64_t s1, float *ws, int64_t ws_floats)
{
    const int64_t K = g->K, nr = kn->nr, mr = kn->mr;
    const int64_t kcb = packed_kc(kn, K), npad = (g->N + nr - 1) / nr * nr;
    /* rows whose A slivers fit the packing space at once */
    const int64_t chunk = DN_MAX(mr, ws_floats / kcb / mr * mr);
    dn_gemm_tile t;
    t.alpha = g->alpha;
    t.beta = g->beta;
    t.act = g->act;
    t.act_alpha = g->act_alpha;
    for (int64_t r0 = 0; r0 < g->M; r0 += chunk) {
        const int64_t r1 = DN_MIN(g->M, r0 + chunk);
        for (int64_t pc = 0; pc < K; pc += kcb) {
            const int64_t kc = DN_MIN(kcb, K - pc);
            t.first = pc == 0;
            t.last = pc + kc == K;
            for (int64_t ic = r0; ic < r1; ic += mr)
                kn->pack_a(0, g->A, g->lda, ic, (int)DN_MIN(mr, r1 - ic), pc, kc,
                           ws + (ic - r0) * kc);
            for (int64_t sl = s0; sl < s1; sl++) {
                const int64_t j = sl * nr, n = DN_MIN(nr, g->N - j);
                const float *bp = packed + pc * npad + sl * nr * kc;
                t.bias = g->bias ? g->bias + j : NULL;
                for (int64_t ic = r0; ic < r1; ic += mr)
                    kn->sliver((int)DN_MIN(mr, r1 - ic), n, kc, ws + (ic - r0) * kc, bp, nr,
                               kc * nr, g->C + ic * g->ldc + j, g->ldc, &t);
            }
        }
    }
}

void dn_sgemm_packed(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                     const float *packed, float beta, float *C, int64_t ldc,
                     const dn_gemm_epilogue *ep, int nthreads)
{
    if (M <= 0 || N <= 0) return;
    const gemm_args g = args_of(0, 0, M, N, K, alpha, A, lda, NULL, 0, beta, C, ldc, ep);
    if (g.K == 0 || alpha == 0.0f) {
        gemm_scale(&g);
        return;
    }
    const dn_gemm_kernel *kn = kernel_for(dn_cpu_isa());
    const int64_t slivers = (N + kn->nr - 1) / kn->nr;
    int nt = nthreads > 0 ? nthreads : dn_max_threads();
    const double fma = (double)M * (double)N * (double)g.K;
    if (fma < (double)nt * DN_RUN_MIN_FMA_PER_THREAD) nt = (int)(fma / DN_RUN_MIN_FMA_PER_THREAD);
    nt = (int)DN_MAX(1, DN_MIN((int64_t)nt, slivers));
    /* nt parts of whole slivers; a team smaller than nt (a build without
     * OpenMP runs one thread) takes them in turn */
    #pragma omp parallel num_threads(nt) if(nt > 1)
    {
        int tid = 0, team = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        team = omp_get_num_threads();
#endif
        float *ws = NULL;
        const int slot = ws_acquire(tid, &ws);
        _Alignas(DN_ALIGN) float one[WS_MR * WS_KC]; /* without pooled space: one A sliver */
        for (int k = tid; k < nt; k += team) {
            const int64_t s0 = slivers * k / nt, s1 = slivers * (k + 1) / nt;
            if (slot >= 0)
                packed_part(kn, &g, packed, s0, s1, ws, WS_FLOATS);
            else
                packed_part(kn, &g, packed, s0, s1, one, WS_MR * WS_KC);
        }
        if (slot >= 0) ws_release(slot);
    }
}

/* C (M x N, ldc) = act(alpha op(A) op(B) + beta C + bias); op(A) M x K,
 * op(B) K x N; each thread gets at least min_fma multiply-adds. */
static void sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc, const dn_gemm_epilogue *ep, int nthreads,
                  double min_fma)
{
    if (M <= 0 || N <= 0) return;
    const gemm_args g = args_of(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                                ep);
    if (g.K == 0 || alpha == 0.0f) {
        gemm_scale(&g);
        return;
    }
    /* threads: only as many as have min_fma of work each */
    int nt = nthreads > 0 ? nthreads : dn_max_threads();
    const double fma = (double)M * (double)N * (double)g.K;
    if (fma < (double)nt * min_fma) nt = (int)(fma / min_fma);
    if (nt < 1) nt = 1;
    /* N == 1 takes the plain loops; so does M == 1 only when N == 1 too: a
     * row of C must not depend on how many rows come with it (predicting
     * one sample gives the bits it gets in a batch) */
    if (N == 1) {
        gemm_simple(&g, nt);
        return;
    }
    const dn_gemm_kernel *kn = kernel_for(dn_cpu_isa());
    if (rows_pay(kn, &g)) {
        gemm_rows(kn, &g, nt);
        return;
    }
    if (narrow_pays(kn, &g) && gemm_narrow(kn, &g, nt)) return;
    gemm_blocked(kn, &g, nt);
}

void dn_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
              float alpha, const float *A, int64_t lda, const float *B,
              int64_t ldb, float beta, float *C, int64_t ldc,
              const dn_gemm_epilogue *ep, int nthreads)
{
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep, nthreads,
          DN_MIN_FMA_PER_THREAD);
}

void dn_sgemm_run(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc, const dn_gemm_epilogue *ep, int nthreads)
{
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep, nthreads,
          DN_RUN_MIN_FMA_PER_THREAD);
}
