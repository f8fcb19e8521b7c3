/* Tests of dn_sgemm and dn_sgemm_ref against a double-precision reference.
 *
 * For every instruction set the machine has (dn_cpu_set_isa over GENERIC,
 * AVX2, AVX512): the four transposition cases, alpha and beta values (beta 0
 * with C filled with NaN), with and without bias, identity / relu / sigmoid
 * / tanh / leaky relu epilogues, leading dimensions larger than the
 * matrices, edge shapes (1, primes, just around the register tile and block
 * sizes, more than one block), and results bit-identical for 1, 2 and 3
 * threads. Elements of C outside the M x N window must not change. On
 * Linux, matrices that end at an inaccessible page check that edge tiles
 * never read past the end.
 *
 * Tolerance for element (i, j): (|alpha| sum_p |a_ip b_pj| + |beta c_ij| +
 * |bias_j|) (K + 4) FLT_EPSILON + 2 FLT_EPSILON. */
#define _DEFAULT_SOURCE /* mmap, for the guard-page test */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

static int failures = 0;
static int checks = 0;

/* --- data ----------------------------------------------------------------- */

static uint64_t lcg_state = 0x9e3779b97f4a7c15ull;

static float uniform(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((lcg_state >> 40) & 0xffffff) / 8388608.0f - 1.0f; /* [-1, 1) */
}

static float *new_floats(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) {
        printf("FAIL: out of memory allocating %lld floats\n", (long long)n);
        exit(2);
    }
    for (int64_t i = 0; i < n; i++) p[i] = uniform();
    return p;
}

static double act_d(dn_act act, double alpha, double x)
{
    switch (act) {
    case DN_ACT_RELU: return x > 0 ? x : 0;
    case DN_ACT_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case DN_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case DN_ACT_TANH: return tanh(x);
    default: return x;
    }
}

/* --- one case ------------------------------------------------------------- */

typedef struct gemm_case {
    int ta, tb;
    int64_t M, N, K;
    int64_t pad;       /* extra leading-dimension elements of A, B and C */
    float alpha, beta;
    int bias;
    dn_act act;
    float act_alpha;
} gemm_case;

static void describe(const gemm_case *c, char *buf, size_t n)
{
    snprintf(buf, n, "M=%lld N=%lld K=%lld ta=%d tb=%d pad=%lld alpha=%g beta=%g bias=%d act=%d isa=%s",
             (long long)c->M, (long long)c->N, (long long)c->K, c->ta, c->tb,
             (long long)c->pad, c->alpha, c->beta, c->bias, (int)c->act,
             dn_isa_name(dn_cpu_isa()));
}

/* Run one case with dn_sgemm at 1, 2 and 3 threads and with dn_sgemm_ref;
 * check each against the double reference, the threads against each other
 * and the C elements outside the window. */
static void run_case(const gemm_case *c, int check_ref)
{
    const int64_t M = c->M, N = c->N, K = c->K;
    const int64_t arows = c->ta ? K : M, acols = c->ta ? M : K;
    const int64_t brows = c->tb ? N : K, bcols = c->tb ? K : N;
    const int64_t lda = acols + c->pad, ldb = bcols + c->pad, ldc = N + c->pad;
    float *A = new_floats(arows * lda), *B = new_floats(brows * ldb);
    float *C0 = new_floats(M * ldc), *bias = new_floats(N);
    float *C = new_floats(M * ldc), *C1 = new_floats(M * ldc);
    char what[256];
    describe(c, what, sizeof what);
    if (c->beta == 0.0f) /* beta == 0 must not read C */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C0[i * ldc + j] = NAN;
    const dn_gemm_epilogue ep = {c->bias ? bias : NULL, c->act, c->act_alpha};

    /* the double reference and the error bound */
    double *ref = malloc((size_t)(M * N > 0 ? M * N : 1) * sizeof(double));
    double *tol = malloc((size_t)(M * N > 0 ? M * N : 1) * sizeof(double));
    if (!ref || !tol) exit(2);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0, sa = 0.0;
            for (int64_t p = 0; p < K; p++) {
                const double a = c->ta ? A[p * lda + i] : A[i * lda + p];
                const double b = c->tb ? B[j * ldb + p] : B[p * ldb + j];
                s += a * b;
                sa += fabs(a * b);
            }
            double x = (double)c->alpha * s, mag = fabs((double)c->alpha) * sa;
            if (c->beta != 0.0f) {
                x += (double)c->beta * C0[i * ldc + j];
                mag += fabs((double)c->beta * C0[i * ldc + j]);
            }
            if (c->bias) {
                x += bias[j];
                mag += fabs(bias[j]);
            }
            ref[i * N + j] = act_d(c->act, c->act_alpha, x);
            tol[i * N + j] = mag * (double)(K + 4) * FLT_EPSILON + 2.0 * FLT_EPSILON;
        }

    const int nts[3] = {1, 2, 3};
    for (int r = 0; r < 4; r++) {
        const int is_ref = r == 3;
        if (is_ref && !check_ref) break;
        memcpy(C, C0, (size_t)(M * ldc) * sizeof(float));
        if (is_ref)
            dn_sgemm_ref(c->ta, c->tb, M, N, K, c->alpha, A, lda, B, ldb, c->beta, C, ldc, &ep);
        else
            dn_sgemm(c->ta, c->tb, M, N, K, c->alpha, A, lda, B, ldb, c->beta, C, ldc,
                     (c->bias || c->act != DN_ACT_IDENTITY) ? &ep : NULL, nts[r]);
        const char *who = is_ref ? "dn_sgemm_ref" : "dn_sgemm";
        int bad = 0;
        for (int64_t i = 0; i < M && bad < 3; i++)
            for (int64_t j = 0; j < ldc && bad < 3; j++) {
                const float got = C[i * ldc + j];
                checks++;
                if (j >= N) { /* outside the window: untouched */
                    if (memcmp(&got, &C0[i * ldc + j], sizeof got) != 0) {
                        printf("FAIL %s (%s): C[%lld][%lld] outside the %lldx%lld window changed\n",
                               who, what, (long long)i, (long long)j, (long long)M, (long long)N);
                        bad++;
                    }
                    continue;
                }
                const double want = ref[i * N + j], err = fabs((double)got - want);
                if (!(err <= tol[i * N + j])) {
                    printf("FAIL %s (%s) threads=%d: C[%lld][%lld] = %.9g, want %.9g (err %.3g > tol %.3g)\n",
                           who, what, is_ref ? 1 : nts[r], (long long)i, (long long)j,
                           got, want, err, tol[i * N + j]);
                    bad++;
                }
            }
        failures += bad;
        if (!is_ref && r == 0) memcpy(C1, C, (size_t)(M * ldc) * sizeof(float));
        if (!is_ref && r > 0 && memcmp(C1, C, (size_t)(M * ldc) * sizeof(float)) != 0) {
            printf("FAIL dn_sgemm (%s): %d threads differ from 1 thread (not bit-identical)\n",
                   what, nts[r]);
            failures++;
        }
    }
    free(A); free(B); free(C0); free(bias); free(C); free(C1); free(ref); free(tol);
}

/* --- the cases ------------------------------------------------------------ */

typedef struct mnk { int64_t M, N, K; } mnk;

/* Edge and block shapes: 1, primes, around MR (12, 6, 4), NR (32, 16), kc
 * (512, 256), nc (512, 256), the 256 rows up to which B is read in place,
 * and more than one block in every direction. */
static const mnk shapes[] = {
    {1, 1, 1}, {1, 7, 13}, {7, 1, 13}, {13, 7, 1}, {2, 3, 5}, {64, 64, 1},
    {7, 13, 31}, {31, 97, 13}, {97, 31, 7}, {13, 13, 13},
    {11, 31, 17}, {12, 32, 16}, {13, 33, 15}, {5, 15, 9}, {6, 16, 8}, {7, 17, 7},
    {3, 17, 4}, {4, 16, 3}, {25, 65, 19}, {24, 64, 33},
    {29, 47, 255}, {23, 41, 256}, {19, 37, 257}, {17, 40, 511}, {9, 50, 512},
    {14, 45, 513}, {10, 33, 1100},
    {37, 255, 29}, {26, 257, 31}, {14, 511, 23}, {15, 513, 27}, {8, 1100, 9},
    {256, 70, 40}, {257, 70, 40}, {130, 520, 800}, {97, 1031, 131},
    {389, 61, 769}, {1000, 40, 300},
    {1, 777, 300}, {1, 3000, 20}, {300, 1, 500}, {2100, 1, 30},
};

typedef struct params { float alpha, beta; int bias; dn_act act; float act_alpha; } params;

static const params variants[] = {
    {1.0f, 0.0f, 0, DN_ACT_IDENTITY, 0.0f},  /* C filled with NaN, not read */
    {0.5f, 1.0f, 1, DN_ACT_RELU, 0.0f},
    {-1.5f, 0.25f, 1, DN_ACT_SIGMOID, 0.0f},
    {1.0f, -1.0f, 0, DN_ACT_TANH, 0.0f},
    {2.0f, 0.0f, 1, DN_ACT_RELU, 0.0f},
    {0.75f, 0.5f, 1, DN_ACT_LEAKY_RELU, 0.1f},
};

static void run_isa(int check_ref)
{
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    const int nvar = (int)(sizeof variants / sizeof variants[0]);
    for (int s = 0; s < nshapes; s++)
        for (int t = 0; t < 4; t++) {
            /* every shape and transposition meets two of the variants */
            for (int k = 0; k < 2; k++) {
                const params *v = &variants[(s + t + 3 * k) % nvar];
                gemm_case c = {t >> 1, t & 1, shapes[s].M, shapes[s].N, shapes[s].K,
                               (s + k) % 3 == 0 ? 0 : 5 + s % 4,
                               v->alpha, v->beta, v->bias, v->act, v->act_alpha};
                run_case(&c, check_ref && k == 0);
            }
        }
    /* K = 0 and alpha = 0: C = act(beta C + bias) */
    for (int t = 0; t < 4; t++) {
        gemm_case k0 = {t >> 1, t & 1, 9, 21, 0, 3, 1.0f, 0.5f, 1, DN_ACT_RELU, 0.0f};
        run_case(&k0, check_ref);
        gemm_case a0 = {t >> 1, t & 1, 40, 70, 50, 0, 0.0f, 2.0f, 1, DN_ACT_IDENTITY, 0.0f};
        run_case(&a0, check_ref);
        gemm_case b0 = {t >> 1, t & 1, 17, 19, 0, 1, 1.0f, 0.0f, 0, DN_ACT_SIGMOID, 0.0f};
        run_case(&b0, check_ref);
    }
}

#ifdef __linux__
/* n floats that end where an inaccessible page begins; *map and *len give
 * the mapping to unmap. */
static float *guarded_floats(int64_t n, void **map, size_t *len)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = (size_t)n * sizeof(float);
    *len = (bytes + page - 1) / page * page + page;
    char *p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p + *len - page, page, PROT_NONE) != 0) {
        printf("FAIL: could not map a guarded buffer\n");
        exit(2);
    }
    *map = p;
    float *x = (float *)(p + *len - page - bytes);
    for (int64_t i = 0; i < n; i++) x[i] = uniform();
    return x;
}

/* Edge shapes with A, B and C packed tight against an inaccessible page: a
 * read past the end of any of them ends the test with a fault. */
static void test_guard_pages(void)
{
    static const mnk edge[] = {{13, 33, 15}, {1, 7, 13}, {7, 1, 13}, {25, 65, 19},
                               {12, 17, 21}, {3, 5, 700}, {30, 31, 1}, {257, 45, 9}};
    for (size_t s = 0; s < sizeof edge / sizeof edge[0]; s++)
        for (int t = 0; t < 4; t++) {
            const int ta = t >> 1, tb = t & 1;
            const int64_t M = edge[s].M, N = edge[s].N, K = edge[s].K;
            void *ma, *mb, *mc, *mbias;
            size_t la, lb, lc, lbias;
            float *A = guarded_floats(M * K, &ma, &la), *B = guarded_floats(K * N, &mb, &lb);
            float *C = guarded_floats(M * N, &mc, &lc), *bias = guarded_floats(N, &mbias, &lbias);
            const dn_gemm_epilogue ep = {bias, DN_ACT_RELU, 0.0f};
            dn_sgemm(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.5f, C, N, &ep, 2);
            checks++;
            munmap(ma, la); munmap(mb, lb); munmap(mc, lc); munmap(mbias, lbias);
        }
}
#endif

/* M or N of 0 leaves C alone. */
static void test_empty(void)
{
    float c[4] = {1, 2, 3, 4}, a[4] = {1, 1, 1, 1};
    dn_sgemm(0, 0, 0, 2, 2, 1.0f, a, 2, a, 2, 0.0f, c, 2, NULL, 1);
    dn_sgemm(0, 0, 2, 0, 2, 1.0f, a, 2, a, 2, 0.0f, c, 2, NULL, 1);
    dn_sgemm_ref(0, 0, 0, 2, 2, 1.0f, a, 2, a, 2, 0.0f, c, 2, NULL);
    checks++;
    if (c[0] != 1 || c[1] != 2 || c[2] != 3 || c[3] != 4) {
        printf("FAIL: an empty product (M or N of 0) changed C\n");
        failures++;
    }
}

/* A hand-worked example: [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50], then
 * relu(C - [20 20]) = [0 2; 23 30]. */
static void test_hand_worked(void)
{
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, bias[2] = {-20, -20};
    const float want[4] = {0, 2, 23, 30};
    const dn_gemm_epilogue ep = {bias, DN_ACT_RELU, 0.0f};
    float c[4];
    dn_sgemm(0, 0, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2, &ep, 1);
    checks++;
    if (memcmp(c, want, sizeof c) != 0) {
        printf("FAIL: hand-worked 2x2 gave [%g %g; %g %g], want [0 2; 23 30]\n",
               c[0], c[1], c[2], c[3]);
        failures++;
    }
}

int main(void)
{
    const dn_isa best = dn_cpu_detect();
    test_empty();
    test_hand_worked();
    for (int isa = DN_ISA_GENERIC; isa <= (int)best; isa++) {
        dn_cpu_set_isa((dn_isa)isa);
        run_isa(isa == DN_ISA_GENERIC);
#ifdef __linux__
        test_guard_pages();
#endif
        printf("isa %-7s done, %d failure(s) so far\n", dn_isa_name(dn_cpu_isa()), failures);
    }
    dn_cpu_set_isa(best);
    printf("%s: %d checks, %d failure(s); openmp %s, max threads %d\n",
           failures ? "FAILED" : "passed", checks, failures,
           dn_have_openmp() ? "on" : "off", dn_max_threads());
    return failures != 0;
}
