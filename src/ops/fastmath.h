/* Float math that vectorises: exp, log, log1p on [0, 1], softplus, sigmoid, tanh,
 * written without branches so gcc turns loops over them into SIMD code.
 * Shared by the activation, softmax and loss kernels. Accuracy within a few
 * ulp of libm over the ranges noted. */
#ifndef DAGNET_FASTMATH_H
#define DAGNET_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Selections below work on float bit patterns with integer masks: gcc
 * neither if-converts float comparisons nor speculates float arithmetic
 * under its default -ftrapping-math, and a branch in a loop stops it from
 * vectorising. */
static inline int32_t float_bits(float x)
{
    int32_t i;
    memcpy(&i, &x, sizeof i);
    return i;
}

static inline float bits_float(int32_t i)
{
    float x;
    memcpy(&x, &i, sizeof x);
    return x;
}

/* cond (0 or 1) ? a : b, both evaluated */
static inline float select_f(int32_t cond, float a, float b)
{
    int32_t m = -cond;
    return bits_float((float_bits(a) & m) | (float_bits(b) & ~m));
}

/* e^x: x = n ln 2 + r with |r| <= ln 2 / 2, e^r by the degree-6 polynomial
 * of Cephes' expf, 2^n through the exponent bits; within 2 ulp of expf for
 * |x| <= 87.33 (where 2^n stays a normal float), 0 below, +inf above, NaN
 * for NaN. n is rounded by adding and subtracting 1.5 * 2^23 (valid because
 * dagnet is not built with -ffast-math). */
static inline float exp_fast(float x)
{
    int32_t ix = float_bits(x), ax = ix & 0x7fffffff;
    int32_t big = ax > float_bits(87.33f); /* |x| > 87.33, inf or NaN */
    float xc = select_f(big, 0.0f, x);
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    float y = p * bits_float(((int32_t)n + 127) * (1 << 23));
    /* out of range: NaN stays, -big gives 0, +big +inf */
    int32_t edge = ax > 0x7f800000 ? ix : (~(ix >> 31) & 0x7f800000);
    return select_f(big, bits_float(edge), y);
}

/* log(1 + e) for 0 <= e <= 1 as 2 atanh(s), s = e / (2 + e) <= 1/3, by its
 * series to s^13 (relative error below 2e-8, exact for tiny e). */
static inline float log1p_unit(float e)
{
    float s = e / (2.0f + e), s2 = s * s;
    float p = 1.0f / 13;
    p = p * s2 + 1.0f / 11;
    p = p * s2 + 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}

/* log(x) for positive normal x: Cephes' logf. x = 2^e m with m in
 * [sqrt(1/2), sqrt(2)), log(m) = f - f^2/2 + f^3 P(f) for f = m - 1, plus
 * e ln 2 in two parts; within 2 ulp of logf there. Not for zero, negative,
 * subnormal, inf or NaN arguments (the callers keep those away). */
static inline float log_fast(float x)
{
    int32_t ix = float_bits(x);
    int32_t e = ((ix >> 23) & 0xff) - 126;
    float m = bits_float((ix & 0x007fffff) | 0x3f000000); /* [0.5, 1) */
    int32_t small = m < 0.707106781186547524f;
    e -= small;
    float f = select_f(small, m + m, m) - 1.0f;
    float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float fe = (float)e;
    float y = p * f * z + fe * -2.12194440e-4f - 0.5f * z;
    return (f + y) + fe * 0.693359375f;
}

/* softplus(z) = max(z, 0) + log1p(e^-|z|) */
static inline float softplus_fast(float z)
{
    return select_f(float_bits(z) > 0, z, 0.0f) + log1p_unit(exp_fast(-fabsf(z)));
}

/* sigmoid(z) from e^-|z| <= 1 */
static inline float sigmoid_fast(float z)
{
    float e = exp_fast(-fabsf(z)), inv = 1.0f / (1.0f + e);
    return select_f(float_bits(z) >= 0, inv, e * inv);
}

/* tanh: Cephes' tanhf. |x| < 0.625: the odd polynomial x + x^3 P(x^2);
 * otherwise sign(x) (1 - 2 / (e^{2|x|} + 1)); both computed, one selected. */
static inline float tanh_fast(float x)
{
    float ax = fabsf(x), z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    float big = 1.0f - 2.0f / (exp_fast(2.0f * (ax < 44.0f ? ax : 44.0f)) + 1.0f);
    big = select_f(float_bits(x) < 0, -big, big);
    return select_f(ax < 0.625f, small, big);
}

#endif
