/* Parameter initialisation (seed 000, section 7).
 *
 * With n_i = fan_in and n_{i+1} = fan_out of the layer:
 *   LeCun   U(+-sqrt(3 / n_i))             or N(0, 1 / n_i)
 *   Glorot  U(+-sqrt(6 / (n_i + n_{i+1}))) or N(0, 2 / (n_i + n_{i+1}))
 *   He      N(0, 2 / n_i)                  or U(+-sqrt(6 / n_i))
 * Seed 000 writes He as N(0, sqrt(2 / n_i)) with the standard deviation in
 * the second place; the variance is 2 / n_i, as in He et al. (2015).
 * SKLEARN is scikit-learn's MLP rule: weights and biases both from
 * U(+-sqrt(factor / (fan_in + fan_out))), factor 6, or 2 for a logistic
 * output layer; `scale` carries the factor.
 *
 * Uniform draws come from dn_rng_uniform and normal ones from dn_rng_normal
 * on (seed, stream) from position 0, so element i depends on (seed, stream,
 * i) only.
 */
#include <math.h>
#include "internal.h"

/* out[i] = limit * (2 u_i - 1), u_i uniform in [0, 1). */
static void fill_uniform(float *out, int64_t n, float limit, uint64_t seed,
                         uint64_t stream)
{
    dn_rng_uniform(seed, stream, 0, out, n);
    for (int64_t i = 0; i < n; i++) out[i] = limit * (2.0f * out[i] - 1.0f);
}

/* out[i] = std * z_i, z_i standard normal. */
static void fill_normal(float *out, int64_t n, float std, uint64_t seed,
                        uint64_t stream)
{
    dn_rng_normal(seed, stream, 0, out, n);
    for (int64_t i = 0; i < n; i++) out[i] *= std;
}

/* DN_OK when the fans a rule needs are positive. */
static dn_status check_fans(dn_init init, int64_t fan_in, int64_t fan_out,
                            int need_out)
{
    if (fan_in <= 0 || (need_out && fan_out <= 0))
        return dn_fail(DN_ERR_INVALID,
                       "initialiser '%s' needs fan_in%s > 0, got fan_in=%lld, "
                       "fan_out=%lld; give the layer's input%s size",
                       dn_init_name(init), need_out ? " and fan_out" : "",
                       (long long)fan_in, (long long)fan_out,
                       need_out ? " and output" : "");
    return DN_OK;
}

dn_status dn_init_fill(float *out, int64_t n, dn_init init, float scale,
                       int64_t fan_in, int64_t fan_out, uint64_t seed,
                       uint64_t stream)
{
    dn_status s;
    if (n < 0)
        return dn_fail(DN_ERR_INVALID,
                       "dn_init_fill: n is %lld; give the number of values (>= 0)",
                       (long long)n);
    if (n > 0 && !out)
        return dn_fail(DN_ERR_INVALID, "dn_init_fill: out is NULL for %lld values",
                       (long long)n);
    if (!isfinite(scale))
        return dn_fail(DN_ERR_INVALID,
                       "initialiser '%s' got a non-finite scale; give a finite value",
                       dn_init_name(init));
    switch (init) {
    case DN_INIT_ZEROS:
        for (int64_t i = 0; i < n; i++) out[i] = 0.0f;
        return DN_OK;
    case DN_INIT_CONSTANT:
        for (int64_t i = 0; i < n; i++) out[i] = scale;
        return DN_OK;
    case DN_INIT_UNIFORM:
    case DN_INIT_NORMAL:
        if (scale < 0.0f)
            return dn_fail(DN_ERR_INVALID,
                           "initialiser '%s' got scale %g; the %s must be >= 0",
                           dn_init_name(init), (double)scale,
                           init == DN_INIT_UNIFORM ? "range" : "standard deviation");
        if (init == DN_INIT_UNIFORM)
            fill_uniform(out, n, scale, seed, stream);
        else
            fill_normal(out, n, scale, seed, stream);
        return DN_OK;
    case DN_INIT_LECUN_UNIFORM:
        if ((s = check_fans(init, fan_in, fan_out, 0))) return s;
        fill_uniform(out, n, (float)sqrt(3.0 / (double)fan_in), seed, stream);
        return DN_OK;
    case DN_INIT_LECUN_NORMAL:
        if ((s = check_fans(init, fan_in, fan_out, 0))) return s;
        fill_normal(out, n, (float)sqrt(1.0 / (double)fan_in), seed, stream);
        return DN_OK;
    case DN_INIT_GLOROT_UNIFORM:
        if ((s = check_fans(init, fan_in, fan_out, 1))) return s;
        fill_uniform(out, n, (float)sqrt(6.0 / (double)(fan_in + fan_out)), seed,
                     stream);
        return DN_OK;
    case DN_INIT_GLOROT_NORMAL:
        if ((s = check_fans(init, fan_in, fan_out, 1))) return s;
        fill_normal(out, n, (float)sqrt(2.0 / (double)(fan_in + fan_out)), seed,
                    stream);
        return DN_OK;
    case DN_INIT_HE_NORMAL:
        if ((s = check_fans(init, fan_in, fan_out, 0))) return s;
        fill_normal(out, n, (float)sqrt(2.0 / (double)fan_in), seed, stream);
        return DN_OK;
    case DN_INIT_HE_UNIFORM:
        if ((s = check_fans(init, fan_in, fan_out, 0))) return s;
        fill_uniform(out, n, (float)sqrt(6.0 / (double)fan_in), seed, stream);
        return DN_OK;
    case DN_INIT_SKLEARN:
        if ((s = check_fans(init, fan_in, fan_out, 1))) return s;
        if (scale <= 0.0f)
            return dn_fail(DN_ERR_INVALID,
                           "initialiser 'sklearn' got factor %g; use 6 (or 2 for a "
                           "logistic output layer)", (double)scale);
        fill_uniform(out, n, (float)sqrt((double)scale / (double)(fan_in + fan_out)),
                     seed, stream);
        return DN_OK;
    default:
        return dn_fail(DN_ERR_INVALID,
                       "unknown initialiser %d; use a dn_init value below %d",
                       (int)init, (int)DN_INIT_COUNT);
    }
}
