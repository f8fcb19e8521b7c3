/* Tests of the random numbers (Philox4x32-10), the initialisers and the
 * optimiser step. Exit status 0 when every check passes; each failure
 * prints what was expected. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#include "check.h"

static int close_to(double a, double b, double rtol, double atol)
{
    return fabs(a - b) <= atol + rtol * fabs(b);
}

/* --- Philox ------------------------------------------------------------- */

static void test_philox_known_answers(void)
{
    /* Random123 known-answer vectors for philox4x32_10 */
    static const uint32_t ctr[3][4] = {
        {0, 0, 0, 0},
        {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
        {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
    static const uint64_t key[3] = {0, 0xffffffffffffffffull,
                                    0xa4093822ull | (0x299f31d0ull << 32)};
    static const uint32_t want[3][4] = {
        {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
        {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
        {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        dn_philox4x32(ctr[k], key[k], out);
        for (int j = 0; j < 4; j++)
            CHECK(out[j] == want[k][j], "philox kat %d word %d: got %08x want %08x", k,
                  j, out[j], want[k][j]);
    }
    /* position p of stream s: block (p / 4, s), word p % 4 */
    uint64_t seed = 0x0123456789abcdefull, stream = 0xfedcba9876543210ull;
    uint64_t p = (5ull << 32) * 4 + 7;
    uint32_t c[4] = {(uint32_t)(p / 4), (uint32_t)((p / 4) >> 32), (uint32_t)stream,
                     (uint32_t)(stream >> 32)}, out[4];
    dn_philox4x32(c, seed, out);
    CHECK(dn_rng_u32(seed, stream, p) == out[p % 4], "dn_rng_u32 counter layout");
}

static void test_fill_matches_single(void)
{
    static const uint64_t offsets[] = {0, 1, 2, 3, 4, 5, 31, 1021, 1ull << 40};
    static const int64_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 31, 32, 33, 1023, 1024, 1025, 5003};
    uint32_t *buf = malloc(6000 * sizeof *buf);
    float *uf = malloc(6000 * sizeof *uf);
    for (size_t a = 0; a < sizeof offsets / sizeof *offsets; a++)
        for (size_t b = 0; b < sizeof sizes / sizeof *sizes; b++) {
            int64_t n = sizes[b];
            int bad = 0, badf = 0;
            dn_rng_fill_u32(42, 7, offsets[a], buf, n);
            dn_rng_uniform(42, 7, offsets[a], uf, n);
            for (int64_t i = 0; i < n; i++) {
                uint32_t w = dn_rng_u32(42, 7, offsets[a] + (uint64_t)i);
                bad += buf[i] != w;
                badf += uf[i] != dn_u32_to_unit(w);
            }
            CHECK(!bad, "fill_u32 offset %llu n %lld: %d words differ from dn_rng_u32",
                  (unsigned long long)offsets[a], (long long)n, bad);
            CHECK(!badf, "uniform offset %llu n %lld: %d values differ",
                  (unsigned long long)offsets[a], (long long)n, badf);
        }
    /* different streams and seeds give different words */
    CHECK(dn_rng_u32(1, 2, 0) != dn_rng_u32(1, 3, 0), "streams 2 and 3 agree");
    CHECK(dn_rng_u32(1, 2, 0) != dn_rng_u32(2, 2, 0), "seeds 1 and 2 agree");
    free(buf);
    free(uf);
}

static void test_uniform_moments(void)
{
    int64_t n = 1000000;
    float *u = malloc((size_t)n * sizeof *u);
    dn_rng_uniform(2024, 11, 0, u, n);
    double s = 0, s2 = 0, lo = 1, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        s += u[i];
        s2 += (double)u[i] * u[i];
        lo = fmin(lo, u[i]);
        hi = fmax(hi, u[i]);
    }
    double mean = s / n, var = s2 / n - mean * mean;
    /* standard errors: 2.9e-4 for the mean, 7.5e-5 for the variance */
    CHECK(fabs(mean - 0.5) < 0.0015, "uniform mean %g, want 0.5", mean);
    CHECK(fabs(var - 1.0 / 12) < 0.0005, "uniform variance %g, want %g", var, 1.0 / 12);
    CHECK(lo >= 0.0 && hi < 1.0, "uniform range [%g, %g] outside [0, 1)", lo, hi);
    free(u);
}

static void test_normal(void)
{
    int64_t n = 1000000;
    float *z = malloc((size_t)n * sizeof *z);
    dn_rng_normal(99, 3, 0, z, n);
    double s = 0, s2 = 0, s4 = 0;
    int64_t tail = 0, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = z[i];
        bad += !isfinite(v);
        s += v;
        s2 += v * v;
        s4 += v * v * v * v;
        tail += fabs(v) > 3.0;
    }
    double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n;
    CHECK(!bad, "%lld normal draws are not finite", (long long)bad);
    CHECK(fabs(mean) < 0.005, "normal mean %g, want 0", mean);
    CHECK(fabs(var - 1.0) < 0.005, "normal variance %g, want 1", var);
    CHECK(fabs(kurt - 3.0) < 0.05, "normal fourth moment %g, want 3", kurt);
    /* P(|z| > 3) = 0.0027: 2700 expected, sd 52 */
    CHECK(tail > 2400 && tail < 3000, "normal tail count %lld, want about 2700",
          (long long)tail);
    /* element i uses words offset + 2 (i / 2) and +1: shifting the offset
     * by an even number of words shifts the elements by as many */
    float a[3000], b[3010];
    dn_rng_normal(5, 6, 10, a, 2999);
    dn_rng_normal(5, 6, 0, b, 3009);
    int diff = 0;
    for (int i = 0; i < 2999; i++) diff += a[i] != b[i + 10];
    CHECK(!diff, "normal with offset 10 differs from offset 0 shifted (%d)", diff);
    /* an odd count ends with the first half of a pair */
    dn_rng_normal(5, 6, 0, a, 7);
    CHECK(a[6] == b[6], "odd-length normal fill differs");
    free(z);
}

static void test_permutation(void)
{
    static const int64_t sizes[] = {0, 1, 2, 3, 7, 1000, 4097};
    int64_t *p = malloc(4097 * sizeof *p), *q = malloc(4097 * sizeof *q);
    char *seen = malloc(4097);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int64_t n = sizes[k];
        dn_rng_permutation(17, 4, p, n);
        dn_rng_permutation(17, 4, q, n);
        memset(seen, 0, 4097);
        int bad = 0, same = 1;
        for (int64_t i = 0; i < n; i++) {
            if (p[i] < 0 || p[i] >= n || seen[p[i]]) bad++;
            else seen[p[i]] = 1;
            same &= p[i] == q[i];
        }
        CHECK(!bad, "permutation of %lld is not a permutation", (long long)n);
        CHECK(same, "permutation of %lld differs between identical calls", (long long)n);
    }
    dn_rng_permutation(17, 5, q, 1000);
    dn_rng_permutation(17, 4, p, 1000);
    int moved = 0;
    for (int i = 0; i < 1000; i++) moved += p[i] != q[i];
    CHECK(moved > 900, "permutations of two streams agree at %d of 1000 places", 1000 - moved);
    /* all 6 orders of 3 elements equally likely: 60000 streams, 10000 each
     * expected (sd 91) */
    int count[6] = {0};
    for (uint64_t s = 0; s < 60000; s++) {
        int64_t r[3];
        dn_rng_permutation(8, s, r, 3);
        int code = (int)(r[0] * 2 + (r[1] > r[2] ? 1 : 0));
        count[code]++;
    }
    for (int k = 0; k < 6; k++)
        CHECK(abs(count[k] - 10000) < 500, "order %d of 3 drawn %d times in 60000", k,
              count[k]);
    /* Fisher-Yates from the end with Lemire's bounded draws, by hand for n = 2:
     * i = 1 swaps perm[1] with perm[j], j = (w0 * 2) >> 32 with w0 the
     * stream's first word (no rejection: 2^32 % 2 == 0), so the two elements
     * trade places when j = 0, that is w0 < 2^31 */
    for (uint64_t s = 120; s < 130; s++) {
        uint32_t w0 = dn_rng_u32(8, s, 0);
        int64_t r2[2];
        dn_rng_permutation(8, s, r2, 2);
        CHECK(r2[0] == (w0 < 0x80000000u ? 1 : 0), "permutation of 2 by hand, stream %llu",
              (unsigned long long)s);
    }
    free(p);
    free(q);
    free(seen);
}

/* --- initialisers --------------------------------------------------------- */

/* max |x|, mean and standard deviation of x (n). */
static void stats(const float *x, int64_t n, double *amax, double *mean, double *sd)
{
    double s = 0, s2 = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
        m = fmax(m, fabs(x[i]));
    }
    *amax = m;
    *mean = s / n;
    *sd = sqrt(s2 / n - *mean * *mean);
}

static void test_initialisers(void)
{
    enum { N = 200000 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    const int64_t fi = 30, fo = 20;
    struct {
        dn_init init;
        float scale;
        int uniform;
        double bound_or_sd;
    } cases[] = {
        {DN_INIT_UNIFORM, 0.05f, 1, 0.05},
        {DN_INIT_NORMAL, 0.1f, 0, 0.1},
        {DN_INIT_LECUN_UNIFORM, 1, 1, sqrt(3.0 / 30)},
        {DN_INIT_LECUN_NORMAL, 1, 0, sqrt(1.0 / 30)},
        {DN_INIT_GLOROT_UNIFORM, 1, 1, sqrt(6.0 / 50)},
        {DN_INIT_GLOROT_NORMAL, 1, 0, sqrt(2.0 / 50)},
        {DN_INIT_HE_NORMAL, 1, 0, sqrt(2.0 / 30)},
        {DN_INIT_HE_UNIFORM, 1, 1, sqrt(6.0 / 30)},
        {DN_INIT_SKLEARN, 6, 1, sqrt(6.0 / 50)},
        {DN_INIT_SKLEARN, 2, 1, sqrt(2.0 / 50)},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const char *name = dn_init_name(cases[k].init);
        dn_status s = dn_init_fill(x, N, cases[k].init, cases[k].scale, fi, fo, 1, 9);
        CHECK(s == DN_OK, "%s failed: %s", name, dn_last_error());
        double amax, mean, sd, b = cases[k].bound_or_sd;
        stats(x, N, &amax, &mean, &sd);
        if (cases[k].uniform) {
            /* U(-b, b): sd b / sqrt(3), |x| <= b and close to b */
            CHECK(amax <= b * (1 + 1e-6) && amax > 0.999 * b, "%s: max |x| %g, bound %g",
                  name, amax, b);
            CHECK(close_to(sd, b / sqrt(3.0), 0.01, 0), "%s: sd %g, want %g", name, sd,
                  b / sqrt(3.0));
        } else {
            CHECK(close_to(sd, b, 0.01, 0), "%s: sd %g, want %g", name, sd, b);
        }
        CHECK(fabs(mean) < 0.01 * b, "%s: mean %g", name, mean);
        /* a function of (seed, stream, i) only */
        dn_init_fill(y, 1000, cases[k].init, cases[k].scale, fi, fo, 1, 9);
        CHECK(memcmp(x, y, 1000 * sizeof *x) == 0, "%s: a shorter fill differs", name);
        dn_init_fill(y, 1000, cases[k].init, cases[k].scale, fi, fo, 1, 10);
        CHECK(memcmp(x, y, 1000 * sizeof *x) != 0, "%s: streams 9 and 10 agree", name);
    }
    CHECK(dn_init_fill(x, 5, DN_INIT_ZEROS, 0, 0, 0, 1, 1) == DN_OK && x[0] == 0 && x[4] == 0,
          "zeros");
    CHECK(dn_init_fill(x, 5, DN_INIT_CONSTANT, 1.5f, 0, 0, 1, 1) == DN_OK && x[0] == 1.5f &&
              x[4] == 1.5f,
          "constant");
    /* fans <= 0 where a rule needs them */
    static const dn_init need_in[] = {DN_INIT_LECUN_UNIFORM, DN_INIT_LECUN_NORMAL,
                                      DN_INIT_HE_NORMAL, DN_INIT_HE_UNIFORM};
    for (size_t k = 0; k < 4; k++) {
        CHECK(dn_init_fill(x, 5, need_in[k], 1, 0, 3, 1, 1) == DN_ERR_INVALID,
              "%s accepted fan_in 0", dn_init_name(need_in[k]));
        CHECK(strstr(dn_last_error(), "fan_in") != NULL, "message names fan_in: %s",
              dn_last_error());
        CHECK(dn_init_fill(x, 5, need_in[k], 1, 3, 0, 1, 1) == DN_OK,
              "%s needs no fan_out", dn_init_name(need_in[k]));
    }
    static const dn_init need_both[] = {DN_INIT_GLOROT_UNIFORM, DN_INIT_GLOROT_NORMAL,
                                        DN_INIT_SKLEARN};
    for (size_t k = 0; k < 3; k++) {
        CHECK(dn_init_fill(x, 5, need_both[k], 6, 3, -1, 1, 1) == DN_ERR_INVALID,
              "%s accepted fan_out -1", dn_init_name(need_both[k]));
        CHECK(dn_init_fill(x, 5, need_both[k], 6, 0, 3, 1, 1) == DN_ERR_INVALID,
              "%s accepted fan_in 0", dn_init_name(need_both[k]));
    }
    CHECK(dn_init_fill(x, 5, DN_INIT_UNIFORM, -1, 1, 1, 1, 1) == DN_ERR_INVALID,
          "uniform accepted a negative range");
    CHECK(dn_init_fill(x, 5, DN_INIT_SKLEARN, 0, 1, 1, 1, 1) == DN_ERR_INVALID,
          "sklearn accepted factor 0");
    CHECK(dn_init_fill(x, 5, DN_INIT_COUNT, 1, 1, 1, 1, 1) == DN_ERR_INVALID,
          "an unknown initialiser was accepted");
    CHECK(dn_init_fill(x, -1, DN_INIT_ZEROS, 0, 1, 1, 1, 1) == DN_ERR_INVALID,
          "n = -1 was accepted");
    free(x);
    free(y);
}

/* --- optimisers ----------------------------------------------------------- */

static void test_optim_config(void)
{
    dn_optim_config c;
    dn_optim_default(&c, DN_OPTIM_ADAM);
    CHECK(c.kind == DN_OPTIM_ADAM && c.lr == 0.001f && c.momentum == 0.9f &&
              c.beta1 == 0.9f && c.beta2 == 0.999f && c.eps == 1e-8f && c.rho == 0.99f &&
              c.weight_decay == 0.01f && c.l1 == 0 && c.l2 == 0 && c.max_norm == 0 &&
              c.clip_norm == 0 && c.reg_per_sample == 0,
          "dn_optim_default values");
    CHECK(dn_optim_check(&c) == DN_OK, "defaults rejected: %s", dn_last_error());
    static const char *names[] = {"sgd", "momentum", "nesterov", "adagrad",
                                  "rmsprop", "adam", "adamw"};
    static const int slots[] = {0, 1, 1, 1, 1, 2, 2};
    for (int k = 0; k < DN_OPTIM_COUNT; k++) {
        dn_optim_kind kind;
        CHECK(strcmp(dn_optim_name((dn_optim_kind)k), names[k]) == 0, "name of %d", k);
        CHECK(dn_optim_from_name(names[k], &kind) == DN_OK && kind == (dn_optim_kind)k,
              "from_name %s", names[k]);
        CHECK(dn_optim_state_slots((dn_optim_kind)k) == slots[k], "slots of %s", names[k]);
    }
    dn_optim_kind kind;
    CHECK(dn_optim_from_name("lbfgs", &kind) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "'adam'") != NULL,
          "unknown name: %s", dn_last_error());
    struct {
        const char *field;
        float *where;
        float bad;
    } bad[] = {
        {"lr", &c.lr, 0.0f},          {"lr", &c.lr, INFINITY},
        {"momentum", &c.momentum, 1.0f}, {"momentum", &c.momentum, -0.1f},
        {"beta1", &c.beta1, 1.0f},    {"beta2", &c.beta2, -0.5f},
        {"eps", &c.eps, 0.0f},        {"rho", &c.rho, 0.0f},
        {"rho", &c.rho, 1.0f},        {"weight_decay", &c.weight_decay, -1e-3f},
        {"l2", &c.l2, -1.0f},         {"l1", &c.l1, NAN},
        {"max_norm", &c.max_norm, -2.0f}, {"clip_norm", &c.clip_norm, -0.5f},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        float keep = *bad[k].where;
        *bad[k].where = bad[k].bad;
        CHECK(dn_optim_check(&c) == DN_ERR_INVALID && strstr(dn_last_error(), bad[k].field),
              "%s = %g: got '%s'", bad[k].field, (double)bad[k].bad, dn_last_error());
        *bad[k].where = keep;
    }
    CHECK(dn_optim_check(&c) == DN_OK, "restored config rejected");
}

/* One step of the rules of include/dagnet/optim.h in double: w, v, s (n),
 * columns of a (rows, cols) layout; returns the loss term. */
typedef struct ref_param {
    double w[64], s0[64], s1[64];
    int64_t size, cols;
    int decay, constrain;
} ref_param;

static double ref_step(const dn_optim_config *c, ref_param *p, int np,
                       double (*g)[64], int64_t t, int64_t batch)
{
    double sq = 0, div = c->reg_per_sample ? (double)batch : 1.0, reg = 0;
    double clip = 1.0;
    if (c->clip_norm > 0) {
        for (int k = 0; k < np; k++)
            for (int64_t i = 0; i < p[k].size; i++) sq += g[k][i] * g[k][i];
        clip = c->clip_norm / fmax(c->clip_norm, sqrt(sq));
    }
    double l2 = c->l2 / div, l1 = c->l1 / div;
    for (int k = 0; k < np; k++) {
        ref_param *q = &p[k];
        for (int64_t i = 0; i < q->size; i++) {
            double w = q->w[i], gi = g[k][i] * clip;
            if (q->decay) {
                reg += 0.5 * l2 * w * w + l1 * fabs(w);
                gi += l2 * w + l1 * (w > 0 ? 1 : w < 0 ? -1 : 0);
            }
            double lr = c->lr, mu = c->momentum;
            switch (c->kind) {
            case DN_OPTIM_SGD: w -= lr * gi; break;
            case DN_OPTIM_MOMENTUM:
                q->s0[i] = mu * q->s0[i] - lr * gi;
                w += q->s0[i];
                break;
            case DN_OPTIM_NESTEROV:
                q->s0[i] = mu * q->s0[i] - lr * gi;
                w += mu * q->s0[i] - lr * gi;
                break;
            case DN_OPTIM_ADAGRAD:
                q->s0[i] += gi * gi;
                w -= lr * gi / (sqrt(q->s0[i]) + c->eps);
                break;
            case DN_OPTIM_RMSPROP:
                q->s0[i] = c->rho * q->s0[i] + (1 - c->rho) * gi * gi;
                w -= lr * gi / (sqrt(q->s0[i]) + c->eps);
                break;
            case DN_OPTIM_ADAM:
            case DN_OPTIM_ADAMW:
                if (c->kind == DN_OPTIM_ADAMW && q->decay) w -= lr * c->weight_decay * w;
                q->s0[i] = c->beta1 * q->s0[i] + (1 - c->beta1) * gi;
                q->s1[i] = c->beta2 * q->s1[i] + (1 - c->beta2) * gi * gi;
                w -= lr * (q->s0[i] / (1 - pow(c->beta1, (double)t))) /
                     (sqrt(q->s1[i] / (1 - pow(c->beta2, (double)t))) + c->eps);
                break;
            default: break;
            }
            q->w[i] = w;
        }
        if (c->max_norm > 0 && q->constrain) {
            int64_t rows = q->size / q->cols;
            for (int64_t j = 0; j < q->cols; j++) {
                double nrm = 0;
                for (int64_t r = 0; r < rows; r++) nrm += q->w[r * q->cols + j] * q->w[r * q->cols + j];
                nrm = sqrt(nrm);
                if (nrm > c->max_norm)
                    for (int64_t r = 0; r < rows; r++) q->w[r * q->cols + j] *= c->max_norm / nrm;
            }
        }
    }
    return reg;
}

/* Three steps on a weight W (3, 5) (decay, constrained) and a bias (5) with
 * changing gradients, against ref_step in double. */
static void run_optim_case(const char *what, const dn_optim_config *c, int64_t batch)
{
    enum { NP = 2 };
    static const int64_t sizes[NP] = {15, 5}, cols[NP] = {5, 5};
    float w[NP][64], g[NP][64], g_copy[NP][64], st[NP][2][64];
    double gd[NP][64];
    ref_param ref[NP];
    dn_param_view views[NP];
    uint32_t seed = 12345;
    memset(st, 0, sizeof st);
    memset(ref, 0, sizeof ref);
    for (int k = 0; k < NP; k++) {
        ref[k].size = sizes[k];
        ref[k].cols = cols[k];
        ref[k].decay = ref[k].constrain = k == 0;
        for (int64_t i = 0; i < sizes[k]; i++) {
            seed = seed * 1664525u + 1013904223u;
            w[k][i] = (float)((seed >> 8) * (1.0 / 16777216.0) * 2 - 1);
            ref[k].w[i] = w[k][i];
        }
        views[k] = (dn_param_view){w[k], g[k], {st[k][0], st[k][1]}, sizes[k], cols[k],
                                   k == 0, k == 0};
    }
    for (int64_t t = 1; t <= 3; t++) {
        for (int k = 0; k < NP; k++)
            for (int64_t i = 0; i < sizes[k]; i++) {
                seed = seed * 1664525u + 1013904223u;
                g[k][i] = (float)(((seed >> 8) * (1.0 / 16777216.0) - 0.5) * t);
                g_copy[k][i] = g[k][i];
                gd[k][i] = g[k][i];
            }
        double reg = -1, want = ref_step(c, ref, NP, gd, t, batch);
        dn_status s = dn_optim_step(c, views, NP, t, batch, 1, &reg);
        CHECK(s == DN_OK, "%s step %lld: %s", what, (long long)t, dn_last_error());
        CHECK(close_to(reg, want, 1e-5, 1e-9), "%s step %lld: reg loss %g, want %g", what,
              (long long)t, reg, want);
        int worst = -1;
        double err = 0;
        for (int k = 0; k < NP; k++)
            for (int64_t i = 0; i < sizes[k]; i++) {
                /* float rounding of steps of size ~lr: absolute floor 1e-2 */
                double e = fabs(w[k][i] - ref[k].w[i]) / (1e-2 + fabs(ref[k].w[i]));
                if (e > err) err = e, worst = k * 100 + (int)i;
                CHECK(g[k][i] == g_copy[k][i], "%s: grad_in was modified", what);
            }
        CHECK(err < 2e-5, "%s step %lld: relative error %g at %d", what, (long long)t, err,
              worst);
    }
}

static void test_optim_steps(void)
{
    for (int k = 0; k < DN_OPTIM_COUNT; k++) {
        dn_optim_config c;
        char what[128];
        dn_optim_default(&c, (dn_optim_kind)k);
        c.lr = 0.05f;
        snprintf(what, sizeof what, "%s plain", dn_optim_name(c.kind));
        run_optim_case(what, &c, 7);
        c.clip_norm = 0.3f; /* below the gradient norm: clipping acts */
        snprintf(what, sizeof what, "%s clip", dn_optim_name(c.kind));
        run_optim_case(what, &c, 7);
        c.clip_norm = 0;
        c.l2 = 0.3f;
        c.l1 = 0.02f;
        snprintf(what, sizeof what, "%s l1+l2", dn_optim_name(c.kind));
        run_optim_case(what, &c, 7);
        c.reg_per_sample = 1;
        snprintf(what, sizeof what, "%s l1+l2 per sample", dn_optim_name(c.kind));
        run_optim_case(what, &c, 7);
        c.max_norm = 0.6f; /* below some column norms: the constraint acts */
        c.clip_norm = 0.5f;
        snprintf(what, sizeof what, "%s all", dn_optim_name(c.kind));
        run_optim_case(what, &c, 7);
    }
}

/* Two steps with w = 1, g = 0.5, lr = 0.1 worked by hand. */
static void test_optim_by_hand(void)
{
    struct {
        dn_optim_kind kind;
        double w1, w2;
    } cases[] = {
        /* w -= 0.05 twice */
        {DN_OPTIM_SGD, 0.95, 0.90},
        /* v1 = -0.05, w1 = 0.95; v2 = 0.9 v1 - 0.05 = -0.095, w2 = 0.855 */
        {DN_OPTIM_MOMENTUM, 0.95, 0.855},
        /* w1 = 1 + 0.9 (-0.05) - 0.05 = 0.905; w2 = 0.905 + 0.9 (-0.095) - 0.05 */
        {DN_OPTIM_NESTEROV, 0.905, 0.7695},
        /* s1 = 0.25, w1 = 1 - 0.05 / 0.5 = 0.9; s2 = 0.5, w2 = 0.9 - 0.05 / sqrt(0.5) */
        {DN_OPTIM_ADAGRAD, 0.9, 0.9 - 0.05 / sqrt(0.5)},
        /* s1 = 0.0025, w1 = 1 - 0.05 / 0.05 = 0; s2 = 0.004975 */
        {DN_OPTIM_RMSPROP, 0.0, -0.05 / sqrt(0.004975)},
        /* bias-corrected m = 0.5, v = 0.25 at both steps: w -= 0.1 each */
        {DN_OPTIM_ADAM, 0.9, 0.8},
        /* w1 = 1 (1 - 0.1 * 0.01) - 0.1 = 0.899; w2 = 0.899 * 0.999 - 0.1 */
        {DN_OPTIM_ADAMW, 0.899, 0.899 * 0.999 - 0.1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        dn_optim_config c;
        float w = 1.0f, g = 0.5f, s0 = 0, s1 = 0;
        dn_param_view v = {&w, &g, {&s0, &s1}, 1, 1, 1, 0};
        dn_optim_default(&c, cases[k].kind);
        c.lr = 0.1f;
        dn_optim_step(&c, &v, 1, 1, 1, 1, NULL);
        CHECK(close_to(w, cases[k].w1, 1e-5, 1e-6), "%s by hand step 1: %.7f want %.7f",
              dn_optim_name(c.kind), (double)w, cases[k].w1);
        dn_optim_step(&c, &v, 1, 2, 1, 1, NULL);
        CHECK(close_to(w, cases[k].w2, 1e-5, 1e-6), "%s by hand step 2: %.7f want %.7f",
              dn_optim_name(c.kind), (double)w, cases[k].w2);
    }
    /* clipping by hand: g = (3, 4), norm 5, clip 1: SGD lr 1 moves by (0.6, 0.8);
     * l2 = 0.5 with reg_per_sample, batch 2: g += 0.25 w; loss term
     * 0.5 * 0.25 * (1 + 4) = 0.625 */
    dn_optim_config c;
    float w[2] = {1, 2}, g[2] = {3, 4};
    dn_param_view v = {w, g, {NULL, NULL}, 2, 2, 1, 0};
    double reg = 0;
    dn_optim_default(&c, DN_OPTIM_SGD);
    c.lr = 1;
    c.clip_norm = 1;
    c.l2 = 0.5f;
    c.reg_per_sample = 1;
    dn_optim_step(&c, &v, 1, 1, 2, 1, &reg);
    CHECK(close_to(w[0], 1 - 0.6 - 0.25, 1e-6, 0) && close_to(w[1], 2 - 0.8 - 0.5, 1e-6, 0),
          "clip + l2 by hand: (%g, %g)", (double)w[0], (double)w[1]);
    CHECK(close_to(reg, 0.625, 1e-7, 0), "reg loss by hand %g want 0.625", reg);
    /* max-norm by hand: W (2, 2) = [[3, 0], [4, 0.5]]; column 0 has norm 5 and is
     * scaled to norm 1 (0.6, 0.8); column 1 (norm 0.5) stays */
    float W[4] = {3, 0, 4, 0.5f}, G[4] = {0, 0, 0, 0};
    dn_param_view vw = {W, G, {NULL, NULL}, 4, 2, 0, 1};
    dn_optim_default(&c, DN_OPTIM_SGD);
    c.max_norm = 1;
    dn_optim_step(&c, &vw, 1, 1, 1, 1, NULL);
    CHECK(close_to(W[0], 0.6, 1e-6, 0) && close_to(W[2], 0.8, 1e-6, 0) && W[1] == 0 &&
              W[3] == 0.5f,
          "max-norm by hand: [[%g, %g], [%g, %g]]", (double)W[0], (double)W[1], (double)W[2],
          (double)W[3]);
}

static void test_optim_errors_and_threads(void)
{
    dn_optim_config c;
    float w[4] = {1, 2, 3, 4}, g[4] = {1, NAN, 0, 0}, s[4] = {0};
    dn_param_view v = {w, g, {s, NULL}, 4, 2, 1, 1};
    dn_optim_default(&c, DN_OPTIM_ADAM);
    CHECK(dn_optim_step(&c, &v, 1, 1, 1, 1, NULL) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "state"),
          "missing adam state: %s", dn_last_error());
    dn_optim_default(&c, DN_OPTIM_MOMENTUM);
    CHECK(dn_optim_step(&c, &v, 1, 0, 1, 1, NULL) == DN_ERR_INVALID, "t = 0 accepted");
    c.l2 = 1;
    c.reg_per_sample = 1;
    CHECK(dn_optim_step(&c, &v, 1, 1, -1, 1, NULL) == DN_ERR_INVALID, "batch -1 accepted");
    CHECK(dn_optim_step(&c, &v, 1, 1, NAN, 1, NULL) == DN_ERR_INVALID, "batch NaN accepted");
    {
        /* the batch is its total sample weight: 0.5 doubles the decay, 0 drops it */
        dn_optim_config sgd;
        dn_optim_default(&sgd, DN_OPTIM_SGD);
        sgd.lr = 0.5f;
        sgd.l2 = 1;
        sgd.reg_per_sample = 1;
        float w1 = 2, g1 = 0;
        dn_param_view p1 = {&w1, &g1, {NULL, NULL}, 1, 1, 1, 0};
        double r = -1;
        CHECK(dn_optim_step(&sgd, &p1, 1, 1, 0.5, 1, &r) == DN_OK && w1 == 0 && r == 4,
              "weight sum 0.5: w %g reg %g", (double)w1, r);
        w1 = 2;
        CHECK(dn_optim_step(&sgd, &p1, 1, 1, 0.0, 1, &r) == DN_OK && w1 == 2 && r == 0,
              "weight sum 0: w %g reg %g", (double)w1, r);
    }
    c.l2 = 0;
    c.max_norm = 1;
    v.cols = 3;
    CHECK(dn_optim_step(&c, &v, 1, 1, 1, 1, NULL) == DN_ERR_INVALID, "cols 3 of 4 accepted");
    v.cols = 2;
    c.max_norm = 0;
    c.clip_norm = 1;
    CHECK(dn_optim_step(&c, &v, 1, 1, 1, 1, NULL) == DN_ERR_NUMERIC && w[0] == 1 && s[0] == 0,
          "a NaN gradient with clipping: %s", dn_last_error());

    double reg = -1;
    CHECK(dn_optim_step(&c, NULL, 0, 1, 1, 1, &reg) == DN_OK && reg == 0,
          "no parameters: %s", dn_last_error());
    float none = 5;
    dn_param_view empty = {&none, NULL, {NULL, NULL}, 0, 1, 1, 1};
    CHECK(dn_optim_step(&c, &empty, 1, 1, 1, 1, NULL) == DN_OK && none == 5,
          "a parameter of size 0: %s", dn_last_error());

    /* thread count: identical bits with 1 and 3 threads on a large parameter */
    int64_t n = 997 * 301, cols = 301; /* 997 rows of 301 columns */
    float *w1 = malloc(n * sizeof *w1), *w3 = malloc(n * sizeof *w3);
    float *gg = malloc(n * sizeof *gg), *m1 = calloc(n, 4), *m3 = calloc(n, 4);
    float *v1 = calloc(n, 4), *v3 = calloc(n, 4);
    dn_rng_normal(1, 1, 0, w1, n);
    dn_rng_normal(1, 2, 0, gg, n);
    memcpy(w3, w1, n * sizeof *w1);
    dn_optim_default(&c, DN_OPTIM_ADAMW);
    c.l2 = 0.01f;
    c.l1 = 0.001f;
    c.clip_norm = 10;
    c.max_norm = 2;
    dn_param_view a = {w1, gg, {m1, v1}, n, cols, 1, 1}, b = {w3, gg, {m3, v3}, n, cols, 1, 1};
    double r1 = 0, r3 = 0;
    for (int t = 1; t <= 2; t++) {
        CHECK(dn_optim_step(&c, &a, 1, t, 32, 1, &r1) == DN_OK, "large step 1 thread");
        CHECK(dn_optim_step(&c, &b, 1, t, 32, 3, &r3) == DN_OK, "large step 3 threads");
    }
    CHECK(memcmp(w1, w3, n * sizeof *w1) == 0 && memcmp(m1, m3, n * 4) == 0 && r1 == r3,
          "1 and 3 threads differ (reg %.17g vs %.17g)", r1, r3);
    free(w1), free(w3), free(gg), free(m1), free(m3), free(v1), free(v3);
}

int main(void)
{
    test_philox_known_answers();
    test_fill_matches_single();
    test_uniform_moments();
    test_normal();
    test_permutation();
    test_initialisers();
    test_optim_config();
    test_optim_steps();
    test_optim_by_hand();
    test_optim_errors_and_threads();
    if (failures) {
        printf("test_rng_init_optim: %d checks failed\n", failures);
        return 1;
    }
    printf("test_rng_init_optim: all checks passed\n");
    return 0;
}
