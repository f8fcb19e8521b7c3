/* Instruction sets and threads: CPU detection (cpuid + xgetbv), the
 * process-wide choice of kernels, the OpenMP thread count and the reference
 * mode switch. */
#include <stdatomic.h>
#include "internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(DAGNET_X86) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#define DN_CPU_X86 1
#endif

#ifdef DN_CPU_X86
/* XCR0: the register states the operating system saves on a context switch. */
static unsigned long long read_xcr0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static dn_isa detect_x86(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return DN_ISA_GENERIC;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return DN_ISA_GENERIC;
    const unsigned long long xcr0 = read_xcr0();
    const int ymm_os = (xcr0 & 0x6) == 0x6;      /* XMM and YMM state */
    const int zmm_os = (xcr0 & 0xe6) == 0xe6;    /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (__get_cpuid_max(0, NULL) < 7) return DN_ISA_GENERIC;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1;
    /* The AVX-512 kernels are compiled with F, DQ and VL. */
    const int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 31) & 1);
    if (!avx2 || !fma || !ymm_os) return DN_ISA_GENERIC;
    if (avx512 && zmm_os) return DN_ISA_AVX512;
    return DN_ISA_AVX2;
}
#endif

dn_isa dn_cpu_detect(void)
{
    static _Atomic int detected = -1;
    int v = atomic_load_explicit(&detected, memory_order_relaxed);
    if (v < 0) {
#ifdef DN_CPU_X86
        v = (int)detect_x86();
#else
        v = (int)DN_ISA_GENERIC;
#endif
        atomic_store_explicit(&detected, v, memory_order_relaxed);
    }
    return (dn_isa)v;
}

/* -1 until the first query or setting: then the detected ISA. */
static _Atomic int isa_in_force = -1;

dn_isa dn_cpu_isa(void)
{
    int v = atomic_load_explicit(&isa_in_force, memory_order_relaxed);
    if (v < 0) {
        v = (int)dn_cpu_detect();
        atomic_store_explicit(&isa_in_force, v, memory_order_relaxed);
    }
    return (dn_isa)v;
}

dn_isa dn_cpu_set_isa(dn_isa isa)
{
    int want = (int)isa, best = (int)dn_cpu_detect();
    if (want < (int)DN_ISA_GENERIC) want = (int)DN_ISA_GENERIC;
    if (want > best) want = best;
    atomic_store_explicit(&isa_in_force, want, memory_order_relaxed);
    return (dn_isa)want;
}

const char *dn_isa_name(dn_isa isa)
{
    switch (isa) {
    case DN_ISA_GENERIC: return "generic";
    case DN_ISA_AVX2: return "avx2";
    case DN_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

int dn_max_threads(void)
{
#ifdef _OPENMP
    int n = omp_get_max_threads();
    return n > 0 ? n : 1;
#else
    return 1;
#endif
}

int dn_have_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

static _Atomic int thread_trim = 1;

int dn_set_thread_trim(int on)
{
    return atomic_exchange(&thread_trim, on ? 1 : 0);
}

int dn_thread_trim(void)
{
    return atomic_load_explicit(&thread_trim, memory_order_relaxed);
}

static _Atomic int conv_winograd = 1;

int dn_set_conv_winograd(int mode)
{
    return atomic_exchange(&conv_winograd, mode < 0 ? 0 : mode > 2 ? 2 : mode);
}

int dn_conv_winograd(void)
{
    return atomic_load_explicit(&conv_winograd, memory_order_relaxed);
}

static _Atomic int reference_mode = 0;

int dn_set_reference_mode(int on)
{
    return atomic_exchange(&reference_mode, on ? 1 : 0);
}

int dn_reference_mode(void)
{
    return atomic_load_explicit(&reference_mode, memory_order_relaxed);
}
