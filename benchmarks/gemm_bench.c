/* Timing of dn_sgemm on square and minibatch-training shapes.
 *
 *   gemm_bench [threads [isa [M N K ta tb]]]   (isa: 0 generic, 1 avx2, 2 avx512)
 *
 * Prints, per shape, GFLOP/s as the median of 7 repeats after a warm-up
 * (min and max beside it). A bare GFLOP/s figure means little on a shared
 * machine: time the reference (e.g. numpy.matmul on float32 with the same
 * thread count) in the same session and quote the ratio. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "dagnet/cpu.h"
#include "dagnet/gemm.h"

typedef struct shape {
    int64_t M, N, K;
    int ta, tb;
    const char *what;
} shape;

static const shape shapes[] = {
    {128, 128, 128, 0, 0, "square"},
    {256, 256, 256, 0, 0, "square"},
    {512, 512, 512, 0, 0, "square"},
    {1024, 1024, 1024, 0, 0, "square"},
    {2048, 2048, 2048, 0, 0, "square"},
    {128, 512, 784, 0, 0, "X W (784->512)"},
    {128, 256, 512, 0, 0, "X W (512->256)"},
    {784, 512, 128, 1, 0, "X^T dY (dW)"},
    {128, 256, 512, 0, 1, "dY W^T (dX)"},
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const int nt = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2) dn_cpu_set_isa((dn_isa)atoi(argv[2]));
    shape custom = {0, 0, 0, 0, 0, "given"};
    const int one = argc > 7;
    if (one) {
        custom.M = atoll(argv[3]);
        custom.N = atoll(argv[4]);
        custom.K = atoll(argv[5]);
        custom.ta = atoi(argv[6]);
        custom.tb = atoi(argv[7]);
        if (custom.M < 1 || custom.N < 1 || custom.K < 1) {
            fprintf(stderr, "M, N and K must be positive\n");
            return 2;
        }
    }
    printf("isa %s, %d thread(s)\n", dn_isa_name(dn_cpu_isa()), nt);
    const size_t nshapes = one ? 1 : sizeof shapes / sizeof shapes[0];
    for (size_t s = 0; s < nshapes; s++) {
        const shape *sh = one ? &custom : &shapes[s];
        const int64_t M = sh->M, N = sh->N, K = sh->K;
        float *A = malloc((size_t)(M * K) * sizeof(float));
        float *B = malloc((size_t)(K * N) * sizeof(float));
        float *C = malloc((size_t)(M * N) * sizeof(float));
        if (!A || !B || !C) return 1;
        srand(1);
        for (int64_t i = 0; i < M * K; i++) A[i] = (float)rand() / RAND_MAX - 0.5f;
        for (int64_t i = 0; i < K * N; i++) B[i] = (float)rand() / RAND_MAX - 0.5f;
        const int64_t lda = sh->ta ? M : K, ldb = sh->tb ? K : N;
        const double flop = 2.0 * (double)M * (double)N * (double)K;
        int reps = (int)(1e9 / flop);
        if (reps < 3) reps = 3;
        double t[7];
        for (int w = 0; w < 2; w++)
            for (int r = 0; r < reps; r++)
                dn_sgemm(sh->ta, sh->tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N, NULL, nt);
        for (int k = 0; k < 7; k++) {
            const double t0 = now();
            for (int r = 0; r < reps; r++)
                dn_sgemm(sh->ta, sh->tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N, NULL, nt);
            t[k] = (now() - t0) / reps;
        }
        qsort(t, 7, sizeof t[0], cmp);
        printf("%5lld x %5lld x %5lld ta=%d tb=%d %-16s %7.1f GFLOP/s (min %.1f max %.1f)\n",
               (long long)M, (long long)N, (long long)K, sh->ta, sh->tb, sh->what,
               flop / t[3] / 1e9, flop / t[6] / 1e9, flop / t[0] / 1e9);
        free(A);
        free(B);
        free(C);
    }
    return 0;
}
