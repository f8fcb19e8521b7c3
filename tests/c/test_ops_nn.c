/* Tests of the DROPOUT, BATCHNORM, LAYERNORM and LOSS ops: each kernel
 * (fast and _ref) against a double-precision reference written here, and
 * every gradient against central finite differences of that reference.
 * Exit status 0 when every check passes; each failure prints what was
 * expected. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#include "check.h"

/* --- helpers ---------------------------------------------------------------- */


static void fill(float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++) x[i] = frand(lo, hi);
}

static dn_shape shape_of(int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    dn_shape s;
    int64_t d[3] = {d0, d1, d2};
    memset(&s, 0, sizeof s);
    s.ndim = ndim;
    for (int i = 0; i < ndim; i++) s.dims[i] = d[i];
    return s;
}

/* A node with every buffer its kernels touch. */
typedef struct harness {
    dn_node node;
    const dn_op_def *def;
    int64_t n;
    float *in[DN_MAX_INPUTS], *gin[DN_MAX_INPUTS];
    int64_t in_numel[DN_MAX_INPUTS], out_numel, param_numel[DN_MAX_PARAMS], saved_numel;
    float *out, *gout, *param[DN_MAX_PARAMS], *gparam[DN_MAX_PARAMS], *saved, *ws;
} harness;

static float *zeros(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* Infer the node, then allocate (inputs random in [-1, 1), parameters by
 * their initialisers). Returns infer's status. */
static dn_status h_init(harness *h, const dn_op_def *def, const dn_attrs *attrs,
                        int n_in, const dn_shape *shapes, const int *batched, int64_t n)
{
    memset(h, 0, sizeof *h);
    h->def = def;
    h->n = n;
    h->node.op = def->op;
    h->node.attrs = *attrs;
    h->node.n_in = n_in;
    h->node.input_index = -1;
    snprintf(h->node.name, sizeof h->node.name, "%s_test", def->name);
    for (int i = 0; i < n_in; i++) {
        h->node.in_shape[i] = shapes[i];
        h->node.in_batched[i] = batched[i];
    }
    dn_status s = def->infer(&h->node);
    if (s) return s;
    for (int i = 0; i < n_in; i++) {
        h->in_numel[i] = dn_node_in_numel(&h->node, i, n);
        h->in[i] = zeros(h->in_numel[i]);
        h->gin[i] = zeros(h->in_numel[i]);
        fill(h->in[i], h->in_numel[i], -1, 1);
    }
    h->out_numel = dn_node_out_numel(&h->node, n);
    h->out = zeros(h->out_numel);
    h->gout = zeros(h->out_numel);
    for (int j = 0; j < h->node.n_params; j++) {
        const dn_param_decl *p = &h->node.params[j];
        h->param_numel[j] = dn_shape_numel(&p->shape);
        h->param[j] = zeros(h->param_numel[j]);
        h->gparam[j] = p->trainable ? zeros(h->param_numel[j]) : NULL;
        dn_init_fill(h->param[j], h->param_numel[j], p->init, p->init_scale, p->fan_in,
                     p->fan_out, 1, (uint64_t)j);
    }
    h->saved_numel = h->node.saved_per_sample * n + h->node.saved_fixed;
    h->saved = zeros(h->saved_numel);
    h->ws = zeros(h->node.ws_per_sample * n + h->node.ws_fixed);
    return DN_OK;
}

static void h_free(harness *h)
{
    for (int i = 0; i < DN_MAX_INPUTS; i++) free(h->in[i]), free(h->gin[i]);
    for (int j = 0; j < DN_MAX_PARAMS; j++) free(h->param[j]), free(h->gparam[j]);
    free(h->out), free(h->gout), free(h->saved), free(h->ws);
    memset(h, 0, sizeof *h);
}

static dn_ctx h_ctx(harness *h, int training, int nthreads)
{
    dn_ctx c;
    memset(&c, 0, sizeof c);
    c.node = &h->node;
    c.n = h->n;
    for (int i = 0; i < h->node.n_in; i++) {
        c.in[i] = h->in[i];
        c.gin[i] = h->gin[i];
    }
    c.out = h->out;
    c.gout = h->gout;
    for (int j = 0; j < h->node.n_params; j++) {
        c.param[j] = h->param[j];
        c.gparam[j] = h->gparam[j];
    }
    c.saved = h->saved;
    c.ws = h->ws;
    c.training = training;
    c.nthreads = nthreads;
    c.seed = 77;
    c.stream = 5;
    c.step = 1;
    return c;
}

/* max_i |a_i - b_i| / (max_i |b_i| + floor) */
static double max_err(const float *a, const double *b, int64_t n, double floor)
{
    double scale = floor, e = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (int64_t i = 0; i < n; i++) e = fmax(e, fabs(a[i] - b[i]));
    return n > 0 ? e / scale : 0.0;
}

static double max_err_ff(const float *a, const float *b, int64_t n)
{
    double scale = 1e-6, e = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (int64_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - b[i]));
    return n > 0 ? e / scale : 0.0;
}

static double *to_double(const float *x, int64_t n)
{
    double *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    for (int64_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* A scalar objective of the double reference for finite differences: the
 * reference's output dotted with r (the output gradient). */
typedef double (*objective_fn)(void *ctx);

/* Central differences of f with respect to v (n) in double, step h:
 * fd (n). */
static void finite_diff(objective_fn f, void *ctx, double *v, int64_t n, double h, double *fd)
{
    for (int64_t i = 0; i < n; i++) {
        double keep = v[i];
        v[i] = keep + h;
        double up = f(ctx);
        v[i] = keep - h;
        double down = f(ctx);
        v[i] = keep;
        fd[i] = (up - down) / (2 * h);
    }
}

/* a (n) after backward minus its value b0 (n) before: what was added. */
static float *added(const float *a, const float *b0, int64_t n)
{
    float *d = zeros(n);
    for (int64_t i = 0; i < n; i++) d[i] = a[i] - b0[i];
    return d;
}

static float *copy_of(const float *x, int64_t n)
{
    float *d = zeros(n);
    memcpy(d, x, (size_t)n * sizeof *d);
    return d;
}

/* =========================================================================== */
/* DROPOUT                                                                      */
/* =========================================================================== */

static void test_dropout(void)
{
    dn_attrs a;
    dn_attrs_default(&a);
    harness h;
    dn_shape s = shape_of(1, 13, 0, 0);
    int b = 1;
    static const float bad_rates[] = {-0.1f, 1.0f, 1.5f, NAN};
    for (int k = 0; k < 4; k++) {
        a.rate = bad_rates[k];
        CHECK(h_init(&h, &dn_opdef_dropout, &a, 1, &s, &b, 4) == DN_ERR_INVALID &&
                  strstr(dn_last_error(), "rate"),
              "rate %g accepted: %s", (double)bad_rates[k], dn_last_error());
    }

    /* training: mask, scaling, determinism, fast == reference, threads */
    a.rate = 0.3f;
    int64_t n = 10007; /* 130091 elements: several threaded chunks */
    CHECK(h_init(&h, &dn_opdef_dropout, &a, 1, &s, &b, n) == DN_OK, "dropout infer: %s",
          dn_last_error());
    CHECK(h.node.saved_per_sample == 13 && h.node.batched && h.node.shape.dims[0] == 13,
          "dropout infer: saved %lld per sample", (long long)h.node.saved_per_sample);
    int64_t N = h.out_numel;
    dn_ctx c = h_ctx(&h, 1, 1);
    h.def->forward(&c);
    float *out1 = copy_of(h.out, N), *mask1 = copy_of(h.saved, N);
    int64_t kept = 0, badmask = 0, badval = 0;
    for (int64_t i = 0; i < N; i++) {
        badmask += mask1[i] != 0.0f && mask1[i] != 1.0f;
        kept += mask1[i] == 1.0f;
        double want = mask1[i] ? h.in[0][i] / (1.0 - 0.3) : 0.0;
        badval += fabs(out1[i] - want) > 1e-6 * (1 + fabs(want));
        /* the mask follows the draw at position i of (seed, stream) */
        float u = dn_u32_to_unit(dn_rng_u32(77, 5, (uint64_t)i));
        badmask += (u >= 0.3f) != (mask1[i] == 1.0f);
    }
    double frac = (double)kept / N; /* sd of the kept fraction: 0.0013 */
    CHECK(!badmask, "dropout mask: %lld entries not 0/1 or not from the draws",
          (long long)badmask);
    CHECK(!badval, "dropout output: %lld values not x mask / (1 - rate)", (long long)badval);
    CHECK(fabs(frac - 0.7) < 0.006, "dropout kept fraction %g, want 0.7", frac);
    c = h_ctx(&h, 1, 3);
    h.def->forward(&c);
    CHECK(memcmp(out1, h.out, N * sizeof(float)) == 0 && memcmp(mask1, h.saved, N * 4) == 0,
          "dropout: 1 and 3 threads differ");
    memset(h.out, 0, N * sizeof(float));
    h.def->forward_ref(&c);
    CHECK(memcmp(out1, h.out, N * sizeof(float)) == 0, "dropout: fast and _ref differ");
    c.stream = 6;
    h.def->forward(&c);
    int64_t same = 0;
    for (int64_t i = 0; i < N; i++) same += h.saved[i] == mask1[i];
    CHECK(same < N * 0.7, "dropout: streams 5 and 6 give the same mask (%lld of %lld)",
          (long long)same, (long long)N);
    /* backward adds g mask / (1 - rate) */
    c.stream = 5;
    h.def->forward(&c);
    fill(h.gout, N, -1, 1);
    fill(h.gin[0], N, -1, 1);
    float *gin0 = copy_of(h.gin[0], N);
    h.def->backward(&c);
    float *d = added(h.gin[0], gin0, N);
    double *want = malloc(N * sizeof *want);
    for (int64_t i = 0; i < N; i++) want[i] = h.gout[i] * h.saved[i] / (1.0 - 0.3);
    CHECK(max_err(d, want, N, 1) < 1e-6, "dropout backward: error %g", max_err(d, want, N, 1));
    memcpy(h.gin[0], gin0, N * sizeof(float));
    h.def->backward_ref(&c);
    float *d2 = added(h.gin[0], gin0, N);
    CHECK(max_err(d2, want, N, 1) < 1e-6, "dropout backward_ref: error %g",
          max_err(d2, want, N, 1));
    free(d), free(d2);

    /* inference: a copy, and the gradient passes through */
    c = h_ctx(&h, 0, 2);
    h.def->forward(&c);
    CHECK(memcmp(h.out, h.in[0], N * sizeof(float)) == 0, "dropout at inference is not a copy");
    memcpy(h.gin[0], gin0, N * sizeof(float));
    h.def->backward(&c);
    for (int64_t i = 0; i < N; i++) want[i] = h.gout[i];
    d = added(h.gin[0], gin0, N);
    CHECK(max_err(d, want, N, 1) < 1e-6, "dropout backward at inference");
    free(d);
    memset(h.out, 0, N * sizeof(float));
    h.def->forward_ref(&c);
    CHECK(memcmp(h.out, h.in[0], N * sizeof(float)) == 0, "dropout _ref at inference");
    free(out1), free(mask1), free(gin0), free(want);
    h_free(&h);

    /* rate 0 in training: a copy, no saved mask; an unbatched input keeps its
     * mask in saved_fixed */
    a.rate = 0.0f;
    CHECK(h_init(&h, &dn_opdef_dropout, &a, 1, &s, &b, 3) == DN_OK, "rate 0");
    CHECK(h.saved_numel == 0, "rate 0 keeps %lld saved floats", (long long)h.saved_numel);
    c = h_ctx(&h, 1, 1);
    h.def->forward(&c);
    CHECK(memcmp(h.out, h.in[0], 39 * sizeof(float)) == 0, "rate 0 is not a copy");
    h_free(&h);
    a.rate = 0.5f;
    b = 0;
    CHECK(h_init(&h, &dn_opdef_dropout, &a, 1, &s, &b, 3) == DN_OK &&
              h.node.saved_fixed == 13 && h.node.saved_per_sample == 0 && !h.node.batched,
          "unbatched dropout");
    h_free(&h);
}

/* =========================================================================== */
/* BATCHNORM                                                                    */
/* =========================================================================== */

/* The double reference: x (outer, C, inner) -> y; training uses the batch
 * mean and biased variance, inference rm and rv. */
typedef struct bn_problem {
    int64_t outer, C, inner;
    double *x, *gamma, *beta, *rm, *rv, *r, eps;
    int training;
} bn_problem;

static void bn_ref(const bn_problem *p, double *y, double *mean_out, double *var_out)
{
    for (int64_t c = 0; c < p->C; c++) {
        double m = (double)(p->outer * p->inner), mean = 0, var = 0;
        for (int64_t o = 0; o < p->outer; o++)
            for (int64_t i = 0; i < p->inner; i++) mean += p->x[(o * p->C + c) * p->inner + i];
        mean /= m;
        for (int64_t o = 0; o < p->outer; o++)
            for (int64_t i = 0; i < p->inner; i++) {
                double dv = p->x[(o * p->C + c) * p->inner + i] - mean;
                var += dv * dv;
            }
        var /= m;
        if (mean_out) mean_out[c] = mean, var_out[c] = var;
        if (!p->training) mean = p->rm[c], var = p->rv[c];
        for (int64_t o = 0; o < p->outer; o++)
            for (int64_t i = 0; i < p->inner; i++) {
                int64_t k = (o * p->C + c) * p->inner + i;
                y[k] = p->gamma[c] * (p->x[k] - mean) / sqrt(var + p->eps) + p->beta[c];
            }
    }
}

static double bn_objective(void *ctx)
{
    bn_problem *p = ctx;
    int64_t N = p->outer * p->C * p->inner;
    double *y = malloc(N * sizeof *y), J = 0;
    bn_ref(p, y, NULL, NULL);
    for (int64_t k = 0; k < N; k++) J += p->r[k] * y[k];
    free(y);
    return J;
}

/* One batchnorm case: per-sample shape s, axis, batch n, in training and at
 * inference, fast and reference kernels. */
static void bn_case(const char *what, dn_shape s, int axis, int64_t n)
{
    dn_attrs a;
    dn_attrs_default(&a);
    a.axis = axis;
    a.eps = 1e-3f;
    int b = 1;
    harness h;
    CHECK(h_init(&h, &dn_opdef_batchnorm, &a, 1, &s, &b, n) == DN_OK, "%s infer: %s", what,
          dn_last_error());
    if (failures) return;
    int full = s.ndim + 1, ax = dn_axis_norm(axis, full);
    bn_problem p = {1, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL, 1e-3, 1};
    dn_shape f = dn_node_in_full(&h.node, 0, n);
    for (int d = 0; d < ax; d++) p.outer *= f.dims[d];
    p.C = f.dims[ax];
    for (int d = ax + 1; d < full; d++) p.inner *= f.dims[d];
    int64_t N = h.in_numel[0], C = p.C;
    CHECK(h.node.n_params == 4 && h.param_numel[0] == C && h.node.saved_fixed == 2 * C &&
              h.node.params[2].trainable == 0 && h.node.params[0].decay == 0,
          "%s: params or saved sizes", what);
    CHECK(h.param[0][0] == 1 && h.param[1][0] == 0 && h.param[2][0] == 0 && h.param[3][0] == 1,
          "%s: initial gamma, beta, running mean, running var", what);
    /* inputs off-centre, random affine parameters and running statistics */
    for (int64_t k = 0; k < N; k++) h.in[0][k] = 3.0f + frand(-1, 1);
    fill(h.param[0], C, 0.5f, 1.5f);
    fill(h.param[1], C, -0.5f, 0.5f);
    fill(h.param[2], C, 2.5f, 3.5f);
    fill(h.param[3], C, 0.2f, 0.5f);
    fill(h.gout, N, -1, 1);
    float *rm0 = copy_of(h.param[2], C), *rv0 = copy_of(h.param[3], C);
    p.x = to_double(h.in[0], N);
    p.gamma = to_double(h.param[0], C);
    p.beta = to_double(h.param[1], C);
    p.rm = to_double(rm0, C);
    p.rv = to_double(rv0, C);
    p.r = to_double(h.gout, N);
    double *y = malloc(N * sizeof *y), *mean = malloc(C * sizeof *mean),
           *var = malloc(C * sizeof *var), *want = malloc(C * sizeof *want);
    double *fdx = malloc(N * sizeof *fdx), *fdg = malloc(C * sizeof *fdg),
           *fdb = malloc(C * sizeof *fdb);
    float *gin0 = zeros(N);
    fill(gin0, N, -1, 1);

    for (int training = 1; training >= 0; training--)
        for (int use_ref = 0; use_ref < 2; use_ref++) {
            const char *kind = use_ref ? "_ref" : "fast";
            const char *mode = training ? "training" : "inference";
            p.training = training;
            memcpy(h.param[2], rm0, C * sizeof(float));
            memcpy(h.param[3], rv0, C * sizeof(float));
            dn_ctx c = h_ctx(&h, training, 2);
            (use_ref ? h.def->forward_ref : h.def->forward)(&c);
            bn_ref(&p, y, mean, var);
            CHECK(max_err(h.out, y, N, 1) < 2e-6, "%s %s %s forward: error %g", what, kind, mode,
                  max_err(h.out, y, N, 1));
            if (training) {
                /* running = 0.9 running + 0.1 batch (unbiased variance) */
                double m = (double)(p.outer * p.inner);
                for (int64_t k = 0; k < C; k++) want[k] = 0.9 * rm0[k] + 0.1 * mean[k];
                CHECK(max_err(h.param[2], want, C, 1) < 1e-6, "%s %s running mean", what, kind);
                for (int64_t k = 0; k < C; k++)
                    want[k] = 0.9 * rv0[k] + 0.1 * (m > 1 ? var[k] * m / (m - 1) : var[k]);
                CHECK(max_err(h.param[3], want, C, 1) < 1e-6, "%s %s running var", what, kind);
                for (int64_t k = 0; k < C; k++) want[k] = 1 / sqrt(var[k] + p.eps);
                CHECK(max_err(h.saved + C, want, C, 1) < 1e-6 && max_err(h.saved, mean, C, 1) < 1e-6,
                      "%s %s saved mean and rstd", what, kind);
            } else {
                CHECK(memcmp(h.param[2], rm0, C * 4) == 0 && memcmp(h.param[3], rv0, C * 4) == 0,
                      "%s %s: inference changed the running statistics", what, kind);
            }
            /* backward adds into gin, dgamma, dbeta */
            memcpy(h.gin[0], gin0, N * sizeof(float));
            for (int j = 0; j < 2; j++)
                for (int64_t k = 0; k < C; k++) h.gparam[j][k] = 0.25f;
            (use_ref ? h.def->backward_ref : h.def->backward)(&c);
            finite_diff(bn_objective, &p, p.x, N, 1e-6, fdx);
            finite_diff(bn_objective, &p, p.gamma, C, 1e-6, fdg);
            finite_diff(bn_objective, &p, p.beta, C, 1e-6, fdb);
            float *dx = added(h.gin[0], gin0, N);
            for (int64_t k = 0; k < C; k++) h.gparam[0][k] -= 0.25f, h.gparam[1][k] -= 0.25f;
            /* dx sums terms of size gamma rstd |g|: an absolute floor of
             * 1e-3 rstd where the terms cancel (a batch of one) */
            double fl = 1e-3 / sqrt(p.eps);
            CHECK(max_err(dx, fdx, N, fl) < 1e-4, "%s %s %s dx vs finite differences: %g",
                  what, kind, mode, max_err(dx, fdx, N, fl));
            CHECK(max_err(h.gparam[0], fdg, C, 1e-3) < 1e-4, "%s %s %s dgamma: %g", what, kind,
                  mode, max_err(h.gparam[0], fdg, C, 1e-3));
            CHECK(max_err(h.gparam[1], fdb, C, 1e-3) < 1e-4, "%s %s %s dbeta: %g", what, kind,
                  mode, max_err(h.gparam[1], fdb, C, 1e-3));
            free(dx);
        }
    free(y), free(mean), free(var), free(want), free(fdx), free(fdg), free(fdb), free(gin0);
    free(p.x), free(p.gamma), free(p.beta), free(p.rm), free(p.rv), free(p.r), free(rm0), free(rv0);
    h_free(&h);
}

/* Fast kernels give the same bits with 1 and 3 threads. */
static void threads_case(const char *what, const dn_op_def *def, const dn_attrs *a,
                         int n_in, const dn_shape *shapes, const int *batched, int64_t n,
                         int training)
{
    harness h;
    CHECK(h_init(&h, def, a, n_in, shapes, batched, n) == DN_OK, "%s infer: %s", what,
          dn_last_error());
    if (h.out_numel == 0) {
        h_free(&h);
        return;
    }
    float *p0[DN_MAX_PARAMS] = {0}, *out1 = NULL, *gin1 = NULL, *gp1[DN_MAX_PARAMS] = {0};
    for (int j = 0; j < h.node.n_params; j++) {
        fill(h.param[j], h.param_numel[j], 0.5f, 1.5f);
        p0[j] = copy_of(h.param[j], h.param_numel[j]);
    }
    fill(h.gout, h.out_numel, -1, 1);
    for (int t = 1; t <= 3; t += 2) {
        for (int j = 0; j < h.node.n_params; j++) {
            memcpy(h.param[j], p0[j], h.param_numel[j] * sizeof(float));
            if (h.gparam[j]) memset(h.gparam[j], 0, h.param_numel[j] * sizeof(float));
        }
        memset(h.gin[0], 0, h.in_numel[0] * sizeof(float));
        dn_ctx c = h_ctx(&h, training, t);
        h.def->forward(&c);
        h.def->backward(&c);
        if (t == 1) {
            out1 = copy_of(h.out, h.out_numel);
            gin1 = copy_of(h.gin[0], h.in_numel[0]);
            for (int j = 0; j < h.node.n_params; j++)
                gp1[j] = h.gparam[j] ? copy_of(h.gparam[j], h.param_numel[j]) : NULL;
            continue;
        }
        int same = memcmp(out1, h.out, h.out_numel * 4) == 0 &&
                   memcmp(gin1, h.gin[0], h.in_numel[0] * 4) == 0;
        for (int j = 0; j < h.node.n_params; j++)
            if (gp1[j]) same &= memcmp(gp1[j], h.gparam[j], h.param_numel[j] * 4) == 0;
        CHECK(same, "%s: 1 and 3 threads differ", what);
    }
    free(out1), free(gin1);
    for (int j = 0; j < DN_MAX_PARAMS; j++) free(p0[j]), free(gp1[j]);
    h_free(&h);
}

static void test_batchnorm(void)
{
    bn_case("bn (n, 7) axis -1", shape_of(1, 7, 0, 0), -1, 5);
    bn_case("bn (n, 7) axis 1, n = 1", shape_of(1, 7, 0, 0), 1, 1);
    bn_case("bn (n, 3, 5) axis -1", shape_of(2, 3, 5, 0), -1, 2);
    bn_case("bn NCHW (n, 4, 3, 5) axis 1", shape_of(3, 4, 3, 5), 1, 3);
    bn_case("bn (n, 1) one feature", shape_of(1, 1, 0, 0), -1, 9);

    dn_attrs a;
    dn_attrs_default(&a);
    harness h;
    dn_shape s = shape_of(1, 7, 0, 0);
    int b = 0;
    CHECK(h_init(&h, &dn_opdef_batchnorm, &a, 1, &s, &b, 3) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "batched"),
          "unbatched batchnorm: %s", dn_last_error());
    b = 1;
    a.axis = 0;
    CHECK(h_init(&h, &dn_opdef_batchnorm, &a, 1, &s, &b, 3) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "axis"),
          "batchnorm axis 0: %s", dn_last_error());
    a.axis = 2;
    CHECK(h_init(&h, &dn_opdef_batchnorm, &a, 1, &s, &b, 3) == DN_ERR_INVALID,
          "batchnorm axis 2 of a 2-D input accepted");
    a.axis = -1;
    a.momentum = 1.5f;
    CHECK(h_init(&h, &dn_opdef_batchnorm, &a, 1, &s, &b, 3) == DN_ERR_INVALID,
          "batchnorm momentum 1.5 accepted");

    dn_attrs_default(&a);
    dn_shape big2 = shape_of(1, 300, 0, 0), big4 = shape_of(3, 16, 9, 11);
    threads_case("bn (997, 300) training", &dn_opdef_batchnorm, &a, 1, &big2, &b, 997, 1);
    threads_case("bn (997, 300) inference", &dn_opdef_batchnorm, &a, 1, &big2, &b, 997, 0);
    a.axis = 1;
    threads_case("bn NCHW (61, 16, 9, 11)", &dn_opdef_batchnorm, &a, 1, &big4, &b, 61, 1);
}

/* =========================================================================== */
/* LAYERNORM                                                                    */
/* =========================================================================== */

typedef struct ln_problem {
    int64_t rows, D;
    double *x, *gamma, *beta, *r, eps;
} ln_problem;

static void ln_ref(const ln_problem *p, double *y)
{
    for (int64_t r = 0; r < p->rows; r++) {
        const double *x = p->x + r * p->D;
        double mean = 0, var = 0;
        for (int64_t j = 0; j < p->D; j++) mean += x[j];
        mean /= p->D;
        for (int64_t j = 0; j < p->D; j++) var += (x[j] - mean) * (x[j] - mean);
        var /= p->D;
        for (int64_t j = 0; j < p->D; j++)
            y[r * p->D + j] = p->gamma[j] * (x[j] - mean) / sqrt(var + p->eps) + p->beta[j];
    }
}

static double ln_objective(void *ctx)
{
    ln_problem *p = ctx;
    int64_t N = p->rows * p->D;
    double *y = malloc(N * sizeof *y), J = 0;
    ln_ref(p, y);
    for (int64_t k = 0; k < N; k++) J += p->r[k] * y[k];
    free(y);
    return J;
}

static void ln_case(const char *what, dn_shape s, int batched, int64_t n)
{
    dn_attrs a;
    dn_attrs_default(&a);
    a.eps = 1e-3f;
    harness h;
    CHECK(h_init(&h, &dn_opdef_layernorm, &a, 1, &s, &batched, n) == DN_OK, "%s infer: %s",
          what, dn_last_error());
    if (failures) return;
    int64_t N = h.in_numel[0], D = s.dims[s.ndim - 1];
    ln_problem p = {N / D, D, NULL, NULL, NULL, NULL, 1e-3};
    CHECK(h.node.n_params == 2 && h.param_numel[0] == D && h.saved_numel == 2 * p.rows &&
              h.node.batched == batched,
          "%s: params or saved sizes", what);
    for (int64_t k = 0; k < N; k++) h.in[0][k] = -2.0f + frand(-1, 1);
    fill(h.param[0], D, 0.5f, 1.5f);
    fill(h.param[1], D, -0.5f, 0.5f);
    fill(h.gout, N, -1, 1);
    p.x = to_double(h.in[0], N);
    p.gamma = to_double(h.param[0], D);
    p.beta = to_double(h.param[1], D);
    p.r = to_double(h.gout, N);
    double *y = malloc(N * sizeof *y), *fdx = malloc(N * sizeof *fdx),
           *fdg = malloc(D * sizeof *fdg), *fdb = malloc(D * sizeof *fdb);
    ln_ref(&p, y);
    finite_diff(ln_objective, &p, p.x, N, 1e-6, fdx);
    finite_diff(ln_objective, &p, p.gamma, D, 1e-6, fdg);
    finite_diff(ln_objective, &p, p.beta, D, 1e-6, fdb);
    float *gin0 = zeros(N);
    fill(gin0, N, -1, 1);
    for (int use_ref = 0; use_ref < 2; use_ref++)
        for (int training = 0; training < 2; training++) {
            const char *kind = use_ref ? "_ref" : "fast";
            dn_ctx c = h_ctx(&h, training, 2);
            memset(h.out, 0, N * sizeof(float));
            (use_ref ? h.def->forward_ref : h.def->forward)(&c);
            CHECK(max_err(h.out, y, N, 1) < 2e-6, "%s %s forward: error %g", what, kind,
                  max_err(h.out, y, N, 1));
            memcpy(h.gin[0], gin0, N * sizeof(float));
            for (int j = 0; j < 2; j++)
                for (int64_t k = 0; k < D; k++) h.gparam[j][k] = -0.5f;
            (use_ref ? h.def->backward_ref : h.def->backward)(&c);
            float *dx = added(h.gin[0], gin0, N);
            for (int64_t k = 0; k < D; k++) h.gparam[0][k] += 0.5f, h.gparam[1][k] += 0.5f;
            /* dx sums terms of size gamma rstd |g|: an absolute floor of
             * 1e-3 rstd where the terms cancel (D = 1) */
            double fl = 1e-3 / sqrt(p.eps);
            CHECK(max_err(dx, fdx, N, fl) < 1e-4, "%s %s dx vs finite differences: %g", what,
                  kind, max_err(dx, fdx, N, fl));
            CHECK(max_err(h.gparam[0], fdg, D, 1e-3) < 1e-4, "%s %s dgamma: %g", what, kind,
                  max_err(h.gparam[0], fdg, D, 1e-3));
            CHECK(max_err(h.gparam[1], fdb, D, 1e-3) < 1e-4, "%s %s dbeta: %g", what, kind,
                  max_err(h.gparam[1], fdb, D, 1e-3));
            free(dx);
        }
    free(y), free(fdx), free(fdg), free(fdb), free(gin0);
    free(p.x), free(p.gamma), free(p.beta), free(p.r);
    h_free(&h);
}

static void test_layernorm(void)
{
    ln_case("ln (n, 7)", shape_of(1, 7, 0, 0), 1, 5);
    ln_case("ln (n, 3, 9)", shape_of(2, 3, 9, 0), 1, 4);
    ln_case("ln (n, 1)", shape_of(1, 1, 0, 0), 1, 3);
    ln_case("ln (n, 2, 5) n = 1", shape_of(2, 2, 5, 0), 1, 1);
    ln_case("ln unbatched (4, 6)", shape_of(2, 4, 6, 0), 0, 7);

    dn_attrs a;
    dn_attrs_default(&a);
    harness h;
    dn_shape s0 = shape_of(0, 0, 0, 0), s = shape_of(2, 37, 129, 0);
    int b = 1;
    CHECK(h_init(&h, &dn_opdef_layernorm, &a, 1, &s0, &b, 3) == DN_ERR_INVALID,
          "layernorm of a scalar per sample accepted");
    threads_case("ln (29, 37, 129)", &dn_opdef_layernorm, &a, 1, &s, &b, 29, 1);
}

/* =========================================================================== */
/* LOSS                                                                         */
/* =========================================================================== */

typedef struct loss_problem {
    dn_loss loss;
    int64_t n, per, K, index;
    double *z, *t, *w, gout;
} loss_problem;

/* The double reference: sum_i w_i l_i / sum_i w_i, written from the
 * definitions (softmax by its quotient, log of the sigmoid). */
static double loss_ref(void *ctx)
{
    loss_problem *p = ctx;
    double num = 0, den = 0;
    int64_t tper = p->index ? p->per / p->K : p->per;
    for (int64_t i = 0; i < p->n; i++) {
        const double *z = p->z + i * p->per, *t = p->t + i * tper;
        double l = 0, w = p->w ? p->w[i] : 1;
        if (p->loss == DN_LOSS_SOFTMAX_CE) {
            for (int64_t r = 0; r < p->per / p->K; r++) {
                double s = 0;
                for (int64_t j = 0; j < p->K; j++) s += exp(z[r * p->K + j]);
                for (int64_t j = 0; j < p->K; j++) {
                    double tj = p->index ? (t[r] == (double)j) : t[r * p->K + j];
                    l -= tj * log(exp(z[r * p->K + j]) / s);
                }
            }
        } else {
            for (int64_t j = 0; j < p->per; j++) {
                double zj = z[j], tj = t[j], pi = 1 / (1 + exp(-zj));
                if (p->loss == DN_LOSS_MSE) l += 0.5 * (zj - tj) * (zj - tj);
                if (p->loss == DN_LOSS_BCE_LOGITS) l -= tj * log(pi) + (1 - tj) * log(1 - pi);
                if (p->loss == DN_LOSS_POISSON) l += exp(zj) - tj * zj;
            }
        }
        num += w * l;
        den += w;
    }
    return den != 0 ? p->gout * num / den : 0.0;
}

/* One loss case: pred per-sample shape ps, target shape ts, weights of
 * shape ws (ndim -1: none). */
static void loss_case(const char *what, dn_loss loss, dn_shape ps, dn_shape ts, int wnd,
                      int64_t n)
{
    dn_attrs a;
    dn_attrs_default(&a);
    a.loss = loss;
    dn_shape shapes[3] = {ps, ts, shape_of(wnd < 0 ? 0 : wnd, 1, 0, 0)};
    int b[3] = {1, 1, 1}, n_in = wnd < 0 ? 2 : 3;
    harness h;
    CHECK(h_init(&h, &dn_opdef_loss, &a, n_in, shapes, b, n) == DN_OK, "%s infer: %s", what,
          dn_last_error());
    if (failures) return;
    CHECK(h.node.shape.ndim == 0 && !h.node.batched && h.out_numel == 1, "%s: output shape",
          what);
    loss_problem p = {loss, n, dn_shape_numel(&ps), ps.dims[ps.ndim - 1], 0, NULL, NULL, NULL, 2.0};
    p.index = loss == DN_LOSS_SOFTMAX_CE && h.in_numel[1] != h.in_numel[0];
    int64_t N = h.in_numel[0], NT = h.in_numel[1];
    fill(h.in[0], N, -3, 3);
    if (p.index) {
        for (int64_t k = 0; k < NT; k++) h.in[1][k] = (float)(int)frand(0, (float)p.K);
    } else if (loss == DN_LOSS_SOFTMAX_CE) {
        /* probabilities in even rows; odd rows sum to anything (the exact
         * gradient softmax sum t - t, not softmax - t) */
        for (int64_t r = 0; r < N / p.K; r++) {
            float s = 0;
            for (int64_t j = 0; j < p.K; j++) s += h.in[1][r * p.K + j] = frand(0.1f, 1);
            for (int64_t j = 0; j < p.K && r % 2 == 0; j++) h.in[1][r * p.K + j] /= s;
        }
    } else if (loss == DN_LOSS_MSE) {
        fill(h.in[1], NT, -2, 2);
    } else {
        fill(h.in[1], NT, 0, loss == DN_LOSS_POISSON ? 4 : 1);
    }
    if (n_in == 3) fill(h.in[2], n, 0.1f, 2);
    p.z = to_double(h.in[0], N);
    p.t = to_double(h.in[1], NT);
    p.w = n_in == 3 ? to_double(h.in[2], n) : NULL;
    double *fd = malloc(N * sizeof *fd);
    p.gout = 1.0;
    double want = loss_ref(&p);
    p.gout = 2.0;
    finite_diff(loss_ref, &p, p.z, N, 1e-6, fd);
    float *gin0 = zeros(N);
    fill(gin0, N, -1, 1);
    for (int use_ref = 0; use_ref < 2; use_ref++) {
        const char *kind = use_ref ? "_ref" : "fast";
        dn_ctx c = h_ctx(&h, 1, 2);
        h.out[0] = -1;
        (use_ref ? h.def->forward_ref : h.def->forward)(&c);
        CHECK(fabs(h.out[0] - want) <= 2e-6 * (1 + fabs(want)), "%s %s value %.8g want %.8g",
              what, kind, (double)h.out[0], want);
        h.gout[0] = 2.0f;
        memcpy(h.gin[0], gin0, N * sizeof(float));
        (use_ref ? h.def->backward_ref : h.def->backward)(&c);
        float *d = added(h.gin[0], gin0, N);
        CHECK(max_err(d, fd, N, 1e-3) < 1e-4, "%s %s gradient vs finite differences: %g",
              what, kind, max_err(d, fd, N, 1e-3));
        free(d);
    }
    free(fd), free(gin0), free(p.z), free(p.t), free(p.w);
    h_free(&h);
}

/* Class-index targets against one-hot ones, invalid indices, zero weights,
 * extreme logits. */
static void test_loss_specials(void)
{
    dn_attrs a;
    dn_attrs_default(&a);
    a.loss = DN_LOSS_SOFTMAX_CE;
    int64_t n = 4, K = 5;
    dn_shape idx_shapes[3] = {shape_of(1, K, 0, 0), shape_of(1, 1, 0, 0), shape_of(1, 1, 0, 0)};
    dn_shape hot_shapes[3] = {shape_of(1, K, 0, 0), shape_of(1, K, 0, 0), shape_of(1, 1, 0, 0)};
    int b[3] = {1, 1, 1};
    harness hi, ho;
    CHECK(h_init(&hi, &dn_opdef_loss, &a, 3, idx_shapes, b, n) == DN_OK, "index infer");
    CHECK(h_init(&ho, &dn_opdef_loss, &a, 3, hot_shapes, b, n) == DN_OK, "one-hot infer");
    fill(hi.in[0], n * K, -2, 2);
    memcpy(ho.in[0], hi.in[0], n * K * sizeof(float));
    memset(ho.in[1], 0, n * K * sizeof(float));
    static const float labels[4] = {0, 4, 2, 2};
    static const float weights[4] = {1, 0.5f, 2, 0.25f};
    for (int64_t i = 0; i < n; i++) {
        hi.in[1][i] = labels[i];
        ho.in[1][i * K + (int)labels[i]] = 1.0f;
        hi.in[2][i] = ho.in[2][i] = weights[i];
    }
    for (int use_ref = 0; use_ref < 2; use_ref++) {
        dn_ctx ci = h_ctx(&hi, 1, 1), co = h_ctx(&ho, 1, 1);
        void (*fwd)(const dn_ctx *) = use_ref ? hi.def->forward_ref : hi.def->forward;
        void (*bwd)(const dn_ctx *) = use_ref ? hi.def->backward_ref : hi.def->backward;
        fwd(&ci);
        fwd(&co);
        CHECK(fabs(hi.out[0] - ho.out[0]) < 1e-6, "index %g vs one-hot %g",
              (double)hi.out[0], (double)ho.out[0]);
        hi.gout[0] = ho.gout[0] = 1.0f;
        memset(hi.gin[0], 0, n * K * 4);
        memset(ho.gin[0], 0, n * K * 4);
        bwd(&ci);
        bwd(&co);
        CHECK(max_err_ff(hi.gin[0], ho.gin[0], n * K) < 1e-6, "index vs one-hot gradient");
        /* invalid labels (5, -1, 1.5) add nothing, their weight still counts
         * (loss_ref matches no class for them) */
        hi.in[1][1] = 5, hi.in[1][2] = -1, hi.in[1][3] = 1.5f;
        loss_problem p = {DN_LOSS_SOFTMAX_CE, n, K, K, 1, to_double(hi.in[0], n * K),
                          to_double(hi.in[1], n), to_double(hi.in[2], n), 1.0};
        double want = loss_ref(&p), gsum = 0;
        free(p.z), free(p.t), free(p.w);
        fwd(&ci);
        CHECK(fabs(hi.out[0] - want) < 1e-6, "invalid labels: %g want %g", (double)hi.out[0],
              want);
        memset(hi.gin[0], 0, n * K * 4);
        bwd(&ci);
        for (int64_t k = K; k < n * K; k++) gsum += fabs(hi.gin[0][k]);
        CHECK(gsum == 0, "invalid labels got a gradient (%g)", gsum);
        hi.in[1][1] = 4, hi.in[1][2] = 2, hi.in[1][3] = 2;
        /* all weights zero: loss 0, gradient 0 */
        memset(hi.in[2], 0, n * sizeof(float));
        fwd(&ci);
        memset(hi.gin[0], 0, n * K * 4);
        bwd(&ci);
        gsum = 0;
        for (int64_t k = 0; k < n * K; k++) gsum += fabs(hi.gin[0][k]);
        CHECK(hi.out[0] == 0 && gsum == 0, "zero weights: loss %g, |gradient| %g",
              (double)hi.out[0], gsum);
        memcpy(hi.in[2], weights, sizeof weights);
    }
    h_free(&hi);
    h_free(&ho);

    /* extreme logits stay finite: softmax CE and BCE at +-1000 */
    for (int k = 0; k < 2; k++) {
        dn_shape s[2] = {shape_of(1, 3, 0, 0), shape_of(1, 3, 0, 0)};
        a.loss = k ? DN_LOSS_BCE_LOGITS : DN_LOSS_SOFTMAX_CE;
        harness h;
        h_init(&h, &dn_opdef_loss, &a, 2, s, b, 2);
        static const float z[6] = {1000, -1000, 0, -1000, 1000, 3};
        static const float t[6] = {0, 1, 0, 1, 0, 0};
        memcpy(h.in[0], z, sizeof z);
        memcpy(h.in[1], t, sizeof t);
        dn_ctx c = h_ctx(&h, 1, 1);
        h.def->forward(&c);
        /* softmax: rows lose 2000 and 2000 nats; BCE: 2000 + log 2 ... */
        double want = k ? (1000 + 1000 + log(2.0) + 1000 + 1000 + (3 + log1p(exp(-3.0)))) / 2
                        : (2000 + 2000 + 0) / 2.0;
        CHECK(isfinite(h.out[0]) && fabs(h.out[0] - want) < 1e-3 * want,
              "%s at +-1000: %g want %g", dn_loss_name(a.loss), (double)h.out[0], want);
        h.gout[0] = 1;
        h.def->backward(&c);
        int fin = 1;
        for (int j = 0; j < 6; j++) fin &= isfinite(h.gin[0][j]);
        CHECK(fin, "%s at +-1000: gradient not finite", dn_loss_name(a.loss));
        h_free(&h);
    }
}

/* The fast kernels' float exp, softplus and sigmoid against the double
 * reference over a sweep of logits, one sample per logit; NaN logits give a
 * NaN loss. */
static void test_loss_sweep(void)
{
    static const dn_loss losses[] = {DN_LOSS_BCE_LOGITS, DN_LOSS_POISSON, DN_LOSS_SOFTMAX_CE};
    for (int k = 0; k < 3; k++) {
        dn_attrs a;
        dn_attrs_default(&a);
        a.loss = losses[k];
        dn_shape s[2] = {shape_of(1, 2, 0, 0), shape_of(1, 2, 0, 0)};
        int b[2] = {1, 1};
        harness h;
        h_init(&h, &dn_opdef_loss, &a, 2, s, b, 1);
        double worst_v = 0, worst_g = 0;
        for (int i = 0; i <= 1600; i++) {
            float z = -80.0f + 0.1f * (float)i, res[2][3];
            h.in[0][0] = z;
            h.in[0][1] = -0.5f * z;
            h.in[1][0] = 0.25f;
            h.in[1][1] = 0.75f;
            for (int r = 0; r < 2; r++) {
                dn_ctx c = h_ctx(&h, 1, 1);
                h.gout[0] = 1;
                h.gin[0][0] = h.gin[0][1] = 0;
                (r ? h.def->forward_ref : h.def->forward)(&c);
                (r ? h.def->backward_ref : h.def->backward)(&c);
                res[r][0] = h.out[0];
                res[r][1] = h.gin[0][0];
                res[r][2] = h.gin[0][1];
            }
            worst_v = fmax(worst_v, fabs(res[0][0] - res[1][0]) / (1e-30 + fabs(res[1][0])));
            for (int j = 1; j < 3; j++)
                worst_g = fmax(worst_g, fabs(res[0][j] - res[1][j]) / (1 + fabs(res[1][j])));
        }
        /* values: relative; gradients (terms of size ~1 and e^z): absolute
         * below 1, relative above */
        CHECK(worst_v < 1e-6 && worst_g < 1e-6,
              "%s sweep over [-80, 80]: error %g in values, %g in gradients",
              dn_loss_name(a.loss), worst_v, worst_g);
        for (int r = 0; r < 2; r++) {
            dn_ctx c = h_ctx(&h, 1, 1);
            h.in[0][0] = NAN;
            (r ? h.def->forward_ref : h.def->forward)(&c);
            CHECK(isnan(h.out[0]), "%s%s: a NaN logit gives loss %g", dn_loss_name(a.loss),
                  r ? " _ref" : "", (double)h.out[0]);
        }
        h_free(&h);
    }
}

static void test_loss(void)
{
    test_loss_sweep();
    static const dn_loss losses[] = {DN_LOSS_MSE, DN_LOSS_BCE_LOGITS, DN_LOSS_SOFTMAX_CE,
                                     DN_LOSS_POISSON};
    for (int k = 0; k < 4; k++) {
        char what[96];
        dn_shape ps = shape_of(1, 3, 0, 0);
        for (int wnd = -1; wnd <= 1; wnd++) {
            snprintf(what, sizeof what, "%s (n, 3) weights %s", dn_loss_name(losses[k]),
                     wnd < 0 ? "none" : wnd ? "(1,)" : "()");
            loss_case(what, losses[k], ps, ps, wnd, 5);
        }
        snprintf(what, sizeof what, "%s (n, 2, 3) n = 1", dn_loss_name(losses[k]));
        loss_case(what, losses[k], shape_of(2, 2, 3, 0), shape_of(2, 2, 3, 0), 1, 1);
        snprintf(what, sizeof what, "%s (n, 1)", dn_loss_name(losses[k]));
        loss_case(what, losses[k], shape_of(1, 1, 0, 0), shape_of(1, 1, 0, 0), -1, 7);
    }
    loss_case("softmax_ce index (1,)", DN_LOSS_SOFTMAX_CE, shape_of(1, 4, 0, 0),
              shape_of(1, 1, 0, 0), -1, 6);
    loss_case("softmax_ce index ()", DN_LOSS_SOFTMAX_CE, shape_of(1, 4, 0, 0),
              shape_of(0, 0, 0, 0), 1, 6);
    loss_case("softmax_ce sequence (n, 3, 4) index (n, 3)", DN_LOSS_SOFTMAX_CE,
              shape_of(2, 3, 4, 0), shape_of(1, 3, 0, 0), 0, 3);
    loss_case("softmax_ce sequence index (n, 3, 1)", DN_LOSS_SOFTMAX_CE, shape_of(2, 3, 4, 0),
              shape_of(2, 3, 1, 0), -1, 3);
    test_loss_specials();

    /* shape errors */
    dn_attrs a;
    dn_attrs_default(&a);
    harness h;
    int b[3] = {1, 1, 1};
    dn_shape s1[3] = {shape_of(1, 3, 0, 0), shape_of(1, 4, 0, 0), shape_of(1, 1, 0, 0)};
    CHECK(h_init(&h, &dn_opdef_loss, &a, 2, s1, b, 2) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "(4,)") && strstr(dn_last_error(), "(3,)"),
          "mse (3,) vs (4,): %s", dn_last_error());
    dn_shape s2[2] = {shape_of(1, 3, 0, 0), shape_of(1, 1, 0, 0)};
    CHECK(h_init(&h, &dn_opdef_loss, &a, 2, s2, b, 2) == DN_ERR_INVALID,
          "mse accepted an index target");
    dn_shape s3[3] = {shape_of(1, 3, 0, 0), shape_of(1, 3, 0, 0), shape_of(1, 2, 0, 0)};
    CHECK(h_init(&h, &dn_opdef_loss, &a, 3, s3, b, 2) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "sample_weight"),
          "weights (2,) accepted: %s", dn_last_error());
    int nb[2] = {1, 0};
    CHECK(h_init(&h, &dn_opdef_loss, &a, 2, s3, nb, 2) == DN_ERR_INVALID,
          "an unbatched target accepted");
    a.loss = DN_LOSS_SOFTMAX_CE;
    dn_shape s4[2] = {shape_of(1, 3, 0, 0), shape_of(1, 2, 0, 0)};
    CHECK(h_init(&h, &dn_opdef_loss, &a, 2, s4, b, 2) == DN_ERR_INVALID,
          "softmax_ce target (2,) for pred (3,) accepted");

    /* threads: same bits with 1 and 3 threads */
    dn_shape s5[3] = {shape_of(1, 10, 0, 0), shape_of(1, 10, 0, 0), shape_of(1, 1, 0, 0)};
    for (int k = 0; k < 4; k++) {
        a.loss = losses[k];
        threads_case(dn_loss_name(a.loss), &dn_opdef_loss, &a, 3, s5, b, 20011, 1);
    }
}

int main(void)
{
    test_dropout();
    test_batchnorm();
    test_layernorm();
    test_loss();
    if (failures) {
        printf("test_ops_nn: %d checks failed\n", failures);
        return 1;
    }
    printf("test_ops_nn: all checks passed\n");
    return 0;
}
