/* dagnet/cpu.h: instruction sets and threads.
 *
 * SIMD paths are chosen at run time from CPU detection; a default build has
 * no -march=native. dn_cpu_set_isa() narrows the choice (tests use it to
 * run every path the machine has).
 */
#ifndef DAGNET_CPU_H
#define DAGNET_CPU_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dn_isa {
    DN_ISA_GENERIC = 0, /* portable C */
    DN_ISA_AVX2 = 1,    /* AVX2 + FMA */
    DN_ISA_AVX512 = 2   /* AVX-512 F */
} dn_isa;

/* The best instruction set this CPU and this build support. */
dn_isa dn_cpu_detect(void);

/* The instruction set kernels use now (the detected one unless narrowed). */
dn_isa dn_cpu_isa(void);

/* Use at most `isa` (clamped to what the CPU supports); returns the one in
 * force. */
dn_isa dn_cpu_set_isa(dn_isa isa);

const char *dn_isa_name(dn_isa isa);

/* Threads OpenMP offers (1 when built without OpenMP). */
int dn_max_threads(void);

/* 1 when built with OpenMP. */
int dn_have_openmp(void);

/* 1 (the default): a graph run whose largest product is too small to give
 * each thread about a million multiply-adds runs on one thread (see
 * dn_graph_step_threads); 0: runs use the threads they are given. Results
 * do not depend on it. Returns the previous setting; tests turn it off so
 * that small graphs still go through the parallel paths. */
int dn_set_thread_trim(int on);
int dn_thread_trim(void);

/* Winograd's F(2x2, 3x3) (src/ops/conv_winograd.c) can run CONV2D with a
 * 3x3 kernel, unit stride and dilation, one group and at least 16 channels
 * on each side. 1 (the default): it does where it is faster than im2col +
 * GEMM, for outputs of at least 16 tiles of 2x2 (8x8 pixels); 2: wherever
 * it can (for tests); 0: never. The paths agree to float32 rounding, not
 * bit for bit; each is deterministic for any thread count. Returns the
 * previous setting. */
int dn_set_conv_winograd(int mode);
int dn_conv_winograd(void);

/* Run every op with its plain reference twin instead of the fast kernel
 * (0 or 1); returns the previous setting. For tests. */
int dn_set_reference_mode(int on);
int dn_reference_mode(void);

#ifdef __cplusplus
}
#endif
#endif
