/* The FMA peak of this machine: GFLOP/s of a register-only loop of
 * independent fused multiply-adds (no memory traffic), the ceiling a GEMM's
 * GFLOP/s is quoted against. benchmarks/_peak.py compiles and runs it for
 * sweep.py and recurrent.py, in the same run as the products they compare
 * (a peak from another run or machine means little).
 *
 *   cc -O2 -march=native -fopenmp fma_peak.c -o fma_peak && ./fma_peak [threads]
 *
 * Prints one line, "<register> <GFLOP/s>": the best of 7 timings of about
 * 0.1 s with every thread running the loop at once. The loop uses the widest
 * FMA the compiler targets (zmm with AVX-512F, ymm with AVX2 + FMA, plain
 * float otherwise) on 16 independent accumulators: more than latency (4
 * cycles) times pipes (2) on current x86 cores, so no chain waits on itself.
 * Zen 4 runs a zmm FMA as two ymm halves and reaches the same figure with
 * either; Zen 5 reaches twice the ymm figure with zmm. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#if defined(__AVX512F__)
typedef __m512 vec;
#define WIDTH 16
#define NAME "zmm"
#define SET1(x) _mm512_set1_ps(x)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define SUM(a) _mm512_reduce_add_ps(a)
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vec;
#define WIDTH 8
#define NAME "ymm"
#define SET1(x) _mm256_set1_ps(x)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
static float SUM(__m256 a)
{
    float t[8];
    _mm256_storeu_ps(t, a);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#else
typedef float vec;
#define WIDTH 1
#define NAME "scalar"
#define SET1(x) (x)
#define FMA(a, b, c) ((a) * (b) + (c))
#define SUM(a) (a)
#endif

#define NACC 16

/* iters rounds of NACC independent FMAs acc = acc m + c; returns a sum of
 * the accumulators so the compiler keeps the work */
static float fma_loop(long iters, float seed)
{
    const vec m = SET1(0.9999999f), c = SET1(1e-7f);
    vec a0 = SET1(seed), a1 = SET1(seed + 1), a2 = SET1(seed + 2), a3 = SET1(seed + 3);
    vec a4 = SET1(seed + 4), a5 = SET1(seed + 5), a6 = SET1(seed + 6), a7 = SET1(seed + 7);
    vec a8 = SET1(seed + 8), a9 = SET1(seed + 9), a10 = SET1(seed + 10), a11 = SET1(seed + 11);
    vec a12 = SET1(seed + 12), a13 = SET1(seed + 13), a14 = SET1(seed + 14);
    vec a15 = SET1(seed + 15);
    for (long i = 0; i < iters; i++) {
        a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);
        a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);
        a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);
        a12 = FMA(a12, m, c); a13 = FMA(a13, m, c); a14 = FMA(a14, m, c);
        a15 = FMA(a15, m, c);
    }
    return SUM(a0) + SUM(a1) + SUM(a2) + SUM(a3) + SUM(a4) + SUM(a5) + SUM(a6) + SUM(a7) +
           SUM(a8) + SUM(a9) + SUM(a10) + SUM(a11) + SUM(a12) + SUM(a13) + SUM(a14) + SUM(a15);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* seconds for every thread to run iters rounds at once */
static double timed(int nt, long iters, volatile float *sink)
{
    const double t0 = now();
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    sink[omp_get_thread_num()] = fma_loop(iters, (float)omp_get_thread_num());
#else
    (void)nt;
    sink[0] = fma_loop(iters, 0.0f);
#endif
    return now() - t0;
}

int main(int argc, char **argv)
{
    int nt = argc > 1 ? atoi(argv[1]) : 1;
    if (nt < 1 || nt > 1024) {
        fprintf(stderr, "threads must be between 1 and 1024, got %s\n", argv[1]);
        return 2;
    }
#ifndef _OPENMP
    if (nt > 1) {
        fprintf(stderr, "built without OpenMP: only 1 thread can be measured; "
                        "compile with -fopenmp\n");
        return 2;
    }
#endif
    volatile float *sink = calloc((size_t)nt, sizeof(float));
    if (!sink) return 1;
    long iters = 1L << 16;
    while (timed(nt, iters, sink) < 0.1) iters *= 2; /* also the warm-up */
    double best = 1e300;
    for (int k = 0; k < 7; k++) {
        const double t = timed(nt, iters, sink);
        if (t < best) best = t;
    }
    const double flop = 2.0 * WIDTH * NACC * (double)iters * nt;
    printf("%s %.1f\n", NAME, flop / best / 1e9);
    free((void *)sink);
    return 0;
}
