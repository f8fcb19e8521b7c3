/* Tests of the elementwise, activation, softmax, reduction and shape ops.
 *
 * For every case: shape inference, the fast forward against a double
 * precision reference written here, the fast backward (which adds into
 * gradients that already hold values) against central finite differences
 * of that reference on loss = sum(g * y) for a random upstream g, the fast
 * kernels against their _ref twins, and 1 against 2 threads bit for bit.
 * Then infer must reject bad arity, shapes and axes with messages naming
 * the shapes.
 *
 * Hand-worked example (the first broadcast case below): A of shape (n, 3, 1)
 * plus B of shape (n, 1, 4) gives (n, 3, 4) with y[s, i, j] = A[s, i] +
 * B[s, j]; dL/dA[s, i] = sum_j g[s, i, j] and dL/dB[s, j] = sum_i g[s, i, j].
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static int failures = 0, checks = 0;

#define CHECK(cond, ...)                                          \
    do {                                                          \
        checks++;                                                 \
        if (!(cond)) {                                            \
            failures++;                                           \
            printf("FAIL (line %d) ", __LINE__);                  \
            printf(__VA_ARGS__);                                  \
            printf("\n");                                         \
        }                                                         \
    } while (0)

/* --- helpers ---------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double urand(double lo, double hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

static dn_shape sh(int ndim, ...)
{
    dn_shape s;
    va_list ap;
    memset(&s, 0, sizeof s);
    s.ndim = ndim;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) s.dims[i] = va_arg(ap, int);
    va_end(ap);
    return s;
}

static dn_attrs attrs(void)
{
    dn_attrs a;
    dn_attrs_default(&a);
    return a;
}

/* A node with inputs of per-sample shapes s[i], batched b[i]. */
static dn_node make_node(dn_op op, dn_attrs a, int nin, const dn_shape *s, const int *b)
{
    dn_node nd;
    memset(&nd, 0, sizeof nd);
    nd.op = op;
    nd.attrs = a;
    nd.n_in = nin;
    snprintf(nd.name, sizeof nd.name, "%s_t", dn_op_name(op));
    for (int i = 0; i < nin; i++) {
        nd.in_shape[i] = s[i];
        nd.in_batched[i] = b[i];
    }
    return nd;
}

static dn_node node1(dn_op op, dn_attrs a, dn_shape s0, int b0)
{
    return make_node(op, a, 1, &s0, &b0);
}

static dn_node node2(dn_op op, dn_attrs a, dn_shape s0, int b0, dn_shape s1, int b1)
{
    dn_shape s[2] = {s0, s1};
    int b[2] = {b0, b1};
    return make_node(op, a, 2, s, b);
}

static const dn_op_def *opdef(dn_op op)
{
    switch (op) {
    case DN_OP_ADD: return &dn_opdef_add;
    case DN_OP_SUB: return &dn_opdef_sub;
    case DN_OP_MUL: return &dn_opdef_mul;
    case DN_OP_SCALE: return &dn_opdef_scale;
    case DN_OP_BROADCAST: return &dn_opdef_broadcast;
    case DN_OP_ACTIVATION: return &dn_opdef_activation;
    case DN_OP_SOFTMAX: return &dn_opdef_softmax;
    case DN_OP_LOG_SOFTMAX: return &dn_opdef_log_softmax;
    case DN_OP_SUM: return &dn_opdef_sum;
    case DN_OP_MEAN: return &dn_opdef_mean;
    case DN_OP_RESHAPE: return &dn_opdef_reshape;
    case DN_OP_CONCAT: return &dn_opdef_concat;
    case DN_OP_SLICE: return &dn_opdef_slice;
    default: return NULL;
    }
}

/* The full tensor f as (outer, L, inner) around axis ax. */
static void split3(const dn_shape *f, int ax, int64_t *outer, int64_t *len, int64_t *inner)
{
    *outer = *inner = 1;
    *len = f->dims[ax];
    for (int k = 0; k < ax; k++) *outer *= f->dims[k];
    for (int k = ax + 1; k < f->ndim; k++) *inner *= f->dims[k];
}

static int full_axis(const dn_node *nd, int axis)
{
    int r = nd->in_shape[0].ndim + nd->in_batched[0];
    return axis < 0 ? axis + r : axis;
}

/* --- double-precision references ------------------------------------------- */

typedef void (*ref_fn)(const dn_node *nd, int64_t n, double *const *x, double *y);

/* ADD, SUB, MUL, BROADCAST: every output element reads each input at the
 * coordinates it has, 0 on axes where the input has size 1. */
static void ref_elementwise(const dn_node *nd, int64_t n, double *const *x, double *y)
{
    dn_shape o = dn_node_out_full(nd, n);
    int64_t st[2][DN_MAX_DIMS], numel = dn_shape_numel(&o);
    for (int i = 0; i < nd->n_in; i++) {
        dn_shape f = dn_node_in_full(nd, i, n);
        int pad = o.ndim - f.ndim, b = nd->in_batched[i];
        int64_t s = 1;
        for (int k = o.ndim - 1; k >= 0; k--) {
            int64_t d = (b && k == 0) ? f.dims[0] : k < b + pad ? 1 : f.dims[k - pad];
            st[i][k] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    for (int64_t e = 0; e < numel; e++) {
        int64_t off[2] = {0, 0}, rem = e;
        for (int k = o.ndim - 1; k >= 0; k--) {
            int64_t c = rem % o.dims[k];
            rem /= o.dims[k];
            for (int i = 0; i < nd->n_in; i++) off[i] += c * st[i][k];
        }
        double a = x[0][off[0]], b = nd->n_in > 1 ? x[1][off[1]] : 0.0;
        switch (nd->op) {
        case DN_OP_ADD: y[e] = a + b; break;
        case DN_OP_SUB: y[e] = a - b; break;
        case DN_OP_MUL: y[e] = a * b; break;
        default: y[e] = a; break;
        }
    }
}

static void ref_scale(const dn_node *nd, int64_t n, double *const *x, double *y)
{
    int64_t m = dn_node_out_numel(nd, n);
    for (int64_t i = 0; i < m; i++) y[i] = nd->attrs.scale * x[0][i];
}

static void ref_act(const dn_node *nd, int64_t n, double *const *x, double *y)
{
    int64_t m = dn_node_out_numel(nd, n);
    double al = nd->attrs.alpha;
    for (int64_t i = 0; i < m; i++) {
        double v = x[0][i], s = 1.0 / (1.0 + exp(-v));
        switch (nd->attrs.act) {
        case DN_ACT_RELU: y[i] = v > 0 ? v : 0; break;
        case DN_ACT_LEAKY_RELU: y[i] = v > 0 ? v : al * v; break;
        case DN_ACT_ELU: y[i] = v > 0 ? v : al * expm1(v); break;
        case DN_ACT_SIGMOID: y[i] = s; break;
        case DN_ACT_TANH: y[i] = tanh(v); break;
        case DN_ACT_SOFTPLUS: y[i] = log(1.0 + exp(v)); break;
        case DN_ACT_GELU: y[i] = v * 0.5 * erfc(-v / sqrt(2.0)); break;
        case DN_ACT_SILU: y[i] = v * s; break;
        default: y[i] = v; break;
        }
    }
}

static void ref_softmax(const dn_node *nd, int64_t n, double *const *x, double *y)
{
    dn_shape f = dn_node_in_full(nd, 0, n);
    int64_t outer, len, inner;
    split3(&f, full_axis(nd, nd->attrs.axis), &outer, &len, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double s = 0.0;
            for (int64_t j = 0; j < len; j++) s += exp(x[0][(o * len + j) * inner + i]);
            for (int64_t j = 0; j < len; j++) {
                int64_t at = (o * len + j) * inner + i;
                y[at] = nd->op == DN_OP_SOFTMAX ? exp(x[0][at]) / s : x[0][at] - log(s);
            }
        }
}

static void ref_reduce(const dn_node *nd, int64_t n, double *const *x, double *y)
{
    dn_shape f = dn_node_in_full(nd, 0, n);
    int64_t outer, len, inner;
    if (nd->attrs.axis == DN_AXIS_ALL) {
        outer = nd->in_batched[0] ? n : 1;
        len = dn_shape_numel(&nd->in_shape[0]);
        inner = 1;
    } else {
        split3(&f, full_axis(nd, nd->attrs.axis), &outer, &len, &inner);
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double s = 0.0;
            for (int64_t j = 0; j < len; j++) s += x[0][(o * len + j) * inner + i];
            y[o * inner + i] = nd->op == DN_OP_MEAN ? s / (double)len : s;
        }
}

static void ref_copy(const dn_node *nd, int64_t n, double *const *x, double *y)
{
    int64_t m = dn_node_out_numel(nd, n);
    for (int64_t i = 0; i < m; i++) y[i] = x[0][i];
}

static void ref_concat(const dn_node *nd, int64_t n, double *const *x, double *y)
{
    int ax = full_axis(nd, nd->attrs.axis);
    int64_t at = 0, outer, len, inner;
    dn_shape f = dn_node_in_full(nd, 0, n);
    split3(&f, ax, &outer, &len, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < nd->n_in; i++) {
            dn_shape fi = dn_node_in_full(nd, i, n);
            int64_t m = fi.dims[ax] * inner;
            for (int64_t k = 0; k < m; k++) y[at++] = x[i][o * m + k];
        }
}

static void ref_slice(const dn_node *nd, int64_t n, double *const *x, double *y)
{
    dn_shape f = dn_node_in_full(nd, 0, n);
    int64_t outer, len, inner, at = 0;
    split3(&f, full_axis(nd, nd->attrs.axis), &outer, &len, &inner);
    int64_t lo = nd->attrs.start, hi = nd->attrs.stop;
    if (lo < 0) lo = lo + len < 0 ? 0 : lo + len;
    if (hi < 0) hi = hi + len < 0 ? 0 : hi + len;
    if (lo > len) lo = len;
    if (hi > len) hi = len;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = lo; j < hi; j++)
            for (int64_t k = 0; k < inner; k++) y[at++] = x[0][(o * len + j) * inner + k];
}

/* --- the checker ------------------------------------------------------------- */

static int close_to(double got, double want, double atol, double rtol)
{
    if (isnan(got) && isnan(want)) return 1;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

static float *falloc(int64_t m)
{
    float *p = malloc((size_t)(m > 0 ? m : 1) * sizeof(float));
    if (!p) {
        printf("out of memory in the test\n");
        exit(2);
    }
    return p;
}

/* Run a kernel of def on node nd. */
static void run(dn_kernel_fn fn, const dn_node *nd, int64_t n, int nt, float **x,
                float *y, float *g, float **gin, float *saved, float *ws)
{
    dn_ctx c;
    memset(&c, 0, sizeof c);
    c.node = nd;
    c.n = n;
    c.nthreads = nt;
    for (int i = 0; i < nd->n_in; i++) {
        c.in[i] = x[i];
        c.gin[i] = gin ? gin[i] : NULL;
    }
    c.out = y;
    c.gout = g;
    c.saved = saved;
    c.ws = ws;
    c.seed = 42;
    c.stream = 7;
    fn(&c);
}

/* Check one op on one node: infer, forward, backward, fast vs ref, threads,
 * finite differences when fd. Inputs are uniform in [lo, hi]. */
static void check_op(const char *label, dn_node nd, int64_t n, ref_fn ref, int fd,
                     double lo, double hi)
{
    const dn_op_def *def = opdef(nd.op);
    dn_status st = def->infer(&nd);
    CHECK(st == DN_OK, "%s: infer failed: %s", label, dn_last_error());
    if (st != DN_OK) return;
    int nin = nd.n_in;
    int64_t nx[DN_MAX_INPUTS], ny = dn_node_out_numel(&nd, n);
    int64_t nsaved = nd.saved_per_sample * n + nd.saved_fixed;
    int64_t nws = nd.ws_per_sample * n + nd.ws_fixed;
    float *x[DN_MAX_INPUTS], *base[DN_MAX_INPUTS], *gin[3][DN_MAX_INPUTS];
    double *xd[DN_MAX_INPUTS];
    for (int i = 0; i < nin; i++) {
        nx[i] = dn_node_in_numel(&nd, i, n);
        x[i] = falloc(nx[i]);
        base[i] = falloc(nx[i]);
        xd[i] = malloc((size_t)(nx[i] > 0 ? nx[i] : 1) * sizeof(double));
        for (int64_t k = 0; k < nx[i]; k++) {
            x[i][k] = (float)urand(lo, hi);
            xd[i][k] = x[i][k];
            base[i][k] = (float)urand(-1, 1);
        }
        for (int v = 0; v < 3; v++) {
            gin[v][i] = falloc(nx[i]);
            memcpy(gin[v][i], base[i], (size_t)nx[i] * sizeof(float));
        }
    }
    float *y[3], *g = falloc(ny), *gw = falloc(ny);
    float *saved = falloc(nsaved), *ws = falloc(nws);
    double *yd = malloc((size_t)(ny > 0 ? ny : 1) * sizeof(double));
    for (int v = 0; v < 3; v++) y[v] = falloc(ny);
    for (int64_t k = 0; k < ny; k++) g[k] = (float)urand(-1, 1);

    /* forward: 1 thread, 2 threads, reference; then the double reference */
    run(def->forward, &nd, n, 1, x, y[0], NULL, NULL, saved, ws);
    run(def->forward, &nd, n, 2, x, y[1], NULL, NULL, saved, ws);
    run(def->forward_ref, &nd, n, 1, x, y[2], NULL, NULL, saved, ws);
    ref(&nd, n, xd, yd);
    int bad = 0;
    for (int64_t k = 0; k < ny && bad < 3; k++) {
        if (memcmp(&y[0][k], &y[1][k], sizeof(float)) != 0) bad++;
        CHECK(memcmp(&y[0][k], &y[1][k], sizeof(float)) == 0,
              "%s: forward differs between 1 and 2 threads at %lld", label, (long long)k);
        if (!close_to(y[0][k], yd[k], 1e-5, 1e-5) || !close_to(y[2][k], yd[k], 1e-5, 1e-5))
            bad++;
        CHECK(close_to(y[0][k], yd[k], 1e-5, 1e-5), "%s: forward[%lld] = %.8g, want %.8g",
              label, (long long)k, y[0][k], yd[k]);
        CHECK(close_to(y[2][k], yd[k], 1e-5, 1e-5), "%s: forward_ref[%lld] = %.8g, want %.8g",
              label, (long long)k, y[2][k], yd[k]);
    }

    /* backward into gradients holding base values; g is copied each time
     * since an op may overwrite it */
    dn_kernel_fn bw[3] = {def->backward, def->backward, def->backward_ref};
    int nts[3] = {1, 2, 1};
    for (int v = 0; v < 3; v++) {
        memcpy(gw, g, (size_t)ny * sizeof(float));
        run(bw[v], &nd, n, nts[v], x, y[0], gw, gin[v], saved, ws);
    }
    double h = 1e-6;
    for (int i = 0; i < nin; i++)
        for (int64_t k = 0; k < nx[i] && bad < 6; k++) {
            double d1 = (double)gin[0][i][k] - base[i][k], dr = (double)gin[2][i][k] - base[i][k];
            int same = memcmp(&gin[0][i][k], &gin[1][i][k], sizeof(float)) == 0;
            CHECK(same, "%s: gradient of input %d differs between 1 and 2 threads at %lld",
                  label, i, (long long)k);
            CHECK(close_to(d1, dr, 2e-5, 1e-4), "%s: d input %d [%lld]: fast %.8g, ref %.8g",
                  label, i, (long long)k, d1, dr);
            bad += !same || !close_to(d1, dr, 2e-5, 1e-4);
            if (!fd) continue;
            double keep = xd[i][k], lp = 0, lm = 0;
            xd[i][k] = keep + h;
            ref(&nd, n, xd, yd);
            for (int64_t j = 0; j < ny; j++) lp += g[j] * yd[j];
            xd[i][k] = keep - h;
            ref(&nd, n, xd, yd);
            for (int64_t j = 0; j < ny; j++) lm += g[j] * yd[j];
            xd[i][k] = keep;
            double num = (lp - lm) / (2 * h);
            CHECK(close_to(d1, num, 1e-4, 1e-4),
                  "%s: d input %d [%lld] = %.8g, finite differences %.8g", label, i,
                  (long long)k, d1, num);
            bad += !close_to(d1, num, 1e-4, 1e-4);
        }

    /* an input that needs no gradient is skipped */
    float *nog[DN_MAX_INPUTS] = {NULL};
    memcpy(gw, g, (size_t)ny * sizeof(float));
    run(def->backward, &nd, n, 2, x, y[0], gw, nog, saved, ws);
    run(def->backward_ref, &nd, n, 1, x, y[0], gw, nog, saved, ws);

    for (int i = 0; i < nin; i++) {
        free(x[i]);
        free(base[i]);
        free(xd[i]);
        for (int v = 0; v < 3; v++) free(gin[v][i]);
    }
    for (int v = 0; v < 3; v++) free(y[v]);
    free(g);
    free(gw);
    free(saved);
    free(ws);
    free(yd);
}

/* infer must give `want_batched` and per-sample shape `want`. */
static void check_shape(const char *label, dn_node nd, int want_batched, dn_shape want)
{
    dn_status st = opdef(nd.op)->infer(&nd);
    char got[128], exp_[128];
    dn_shape_format(&nd.shape, got, sizeof got);
    dn_shape_format(&want, exp_, sizeof exp_);
    CHECK(st == DN_OK, "%s: infer failed: %s", label, dn_last_error());
    CHECK(st != DN_OK || (nd.batched == want_batched && !strcmp(got, exp_)),
          "%s: shape %s batched %d, want %s batched %d", label, got, nd.batched, exp_,
          want_batched);
}

/* infer must fail with a message containing each of the given pieces. */
static void check_rejects(const char *label, dn_node nd, const char *p1, const char *p2)
{
    dn_status st = opdef(nd.op)->infer(&nd);
    const char *msg = dn_last_error();
    CHECK(st == DN_ERR_INVALID, "%s: infer should fail (status %d)", label, (int)st);
    CHECK(st == DN_OK || (strstr(msg, p1) && (!p2 || strstr(msg, p2))),
          "%s: message '%s' should name '%s'%s%s", label, msg, p1, p2 ? " and " : "",
          p2 ? p2 : "");
}

/* --- cases -------------------------------------------------------------------- */

static void test_binary(void)
{
    dn_op ops[3] = {DN_OP_ADD, DN_OP_SUB, DN_OP_MUL};
    dn_attrs a = attrs();
    for (int o = 0; o < 3; o++) {
        dn_op op = ops[o];
        char l[64];
#define LBL(s) (snprintf(l, sizeof l, "%s %s", dn_op_name(op), s), l)
        check_op(LBL("same (n,4,5)"), node2(op, a, sh(2, 4, 5), 1, sh(2, 4, 5), 1), 3,
                 ref_elementwise, 1, -2, 2);
        check_op(LBL("(n,5)+(5,)"), node2(op, a, sh(1, 5), 1, sh(1, 5), 0), 3,
                 ref_elementwise, 1, -2, 2);
        check_op(LBL("(5,)+(n,5)"), node2(op, a, sh(1, 5), 0, sh(1, 5), 1), 3,
                 ref_elementwise, 1, -2, 2);
        check_op(LBL("(n,3,1)+(n,1,4)"), node2(op, a, sh(2, 3, 1), 1, sh(2, 1, 4), 1), 2,
                 ref_elementwise, 1, -2, 2);
        check_op(LBL("(2,3)+(n,1,3)"), node2(op, a, sh(2, 2, 3), 0, sh(2, 1, 3), 1), 3,
                 ref_elementwise, 1, -2, 2);
        check_op(LBL("(1,4)+(n,4)"), node2(op, a, sh(2, 1, 4), 0, sh(1, 4), 1), 3,
                 ref_elementwise, 1, -2, 2);
        check_op(LBL("unbatched (3,1)+(1,4)"), node2(op, a, sh(2, 3, 1), 0, sh(2, 1, 4), 0),
                 5, ref_elementwise, 1, -2, 2);
        check_op(LBL("()+(n,3,2)"), node2(op, a, sh(0), 0, sh(2, 3, 2), 1), 2,
                 ref_elementwise, 1, -2, 2);
        check_op(LBL("n=1 (1,)+(1,)"), node2(op, a, sh(1, 1), 1, sh(1, 1), 1), 1,
                 ref_elementwise, 1, -2, 2);
        check_op(LBL("(n,1,5,1)+(n,3,1,2)"), node2(op, a, sh(3, 1, 5, 1), 1, sh(3, 3, 1, 2), 1),
                 2, ref_elementwise, 1, -2, 2);
        check_op(LBL("big same"), node2(op, a, sh(2, 33, 17), 1, sh(2, 33, 17), 1), 64,
                 ref_elementwise, 0, -2, 2);
        check_op(LBL("big (n,33,17)+(33,1)"), node2(op, a, sh(2, 33, 17), 1, sh(2, 33, 1), 0),
                 64, ref_elementwise, 0, -2, 2);
        check_op(LBL("big (n,37)+(37,)"), node2(op, a, sh(1, 37), 1, sh(1, 37), 0), 1000,
                 ref_elementwise, 0, -2, 2);
        check_op(LBL("big (n,1)+(n,9000)"), node2(op, a, sh(1, 1), 1, sh(1, 9000), 1), 5,
                 ref_elementwise, 0, -2, 2);
        check_op(LBL("n=0"), node2(op, a, sh(1, 5), 1, sh(1, 5), 0), 0, ref_elementwise, 1,
                 -2, 2);
        check_op(LBL("(n,0)+(1,)"), node2(op, a, sh(1, 0), 1, sh(1, 1), 0), 3,
                 ref_elementwise, 1, -2, 2);
#undef LBL
    }
    check_shape("add (n,3,1)+(n,1,4)", node2(DN_OP_ADD, a, sh(2, 3, 1), 1, sh(2, 1, 4), 1),
                1, sh(2, 3, 4));
    check_shape("add (2,3)+(n,1,3)", node2(DN_OP_ADD, a, sh(2, 2, 3), 0, sh(2, 1, 3), 1), 1,
                sh(2, 2, 3));
    check_shape("add unbatched", node2(DN_OP_ADD, a, sh(2, 3, 1), 0, sh(1, 4), 0), 0,
                sh(2, 3, 4));
    check_shape("add (n,0)+(1,)", node2(DN_OP_ADD, a, sh(1, 0), 1, sh(1, 1), 0), 1, sh(1, 0));
    check_rejects("add arity", node1(DN_OP_ADD, a, sh(1, 3), 1), "takes 2 inputs", "given 1");
    check_rejects("add (n,3,4)+(5,)", node2(DN_OP_ADD, a, sh(2, 3, 4), 1, sh(1, 5), 0),
                  "cannot broadcast (batch, 3, 4) with (5,)", "4 and 5");
    check_rejects("add (2,5)+(n,5)", node2(DN_OP_ADD, a, sh(2, 2, 5), 0, sh(1, 5), 1),
                  "(2, 5) with (batch, 5)", "must be 1");
    check_rejects("mul (n,5)+(n,3,5)", node2(DN_OP_MUL, a, sh(1, 5), 1, sh(2, 3, 5), 1),
                  "(batch, 5) with (batch, 3, 5)", "batch axis");
    check_rejects("sub (n,0)+(3,)", node2(DN_OP_SUB, a, sh(1, 0), 1, sh(1, 3), 0),
                  "(batch, 0) with (3,)", NULL);
    CHECK(dn_opdef_mul.flags == (DN_OPF_BWD_IN0 | DN_OPF_BWD_IN1), "mul flags");
    CHECK(dn_opdef_add.flags == 0 && dn_opdef_sub.flags == 0, "add/sub flags");
}

static void test_scale_broadcast(void)
{
    dn_attrs a = attrs();
    a.scale = -1.75f;
    check_op("scale (n,3,5)", node1(DN_OP_SCALE, a, sh(2, 3, 5), 1), 3, ref_scale, 1, -2, 2);
    check_op("scale unbatched ()", node1(DN_OP_SCALE, a, sh(0), 0), 4, ref_scale, 1, -2, 2);
    check_op("scale big", node1(DN_OP_SCALE, a, sh(1, 700), 1), 64, ref_scale, 0, -2, 2);
    check_op("scale n=0", node1(DN_OP_SCALE, a, sh(1, 7), 1), 0, ref_scale, 1, -2, 2);
    a.scale = NAN;
    check_rejects("scale NaN", node1(DN_OP_SCALE, a, sh(1, 3), 1), "finite", NULL);

    a = attrs();
    a.shape = sh(3, 2, 3, 4);
    check_op("broadcast (n,3,1)->(2,3,4)", node1(DN_OP_BROADCAST, a, sh(2, 3, 1), 1), 2,
             ref_elementwise, 1, -2, 2);
    check_shape("broadcast shape", node1(DN_OP_BROADCAST, a, sh(2, 3, 1), 1), 1,
                sh(3, 2, 3, 4));
    check_op("broadcast unbatched (4,)->(2,3,4)", node1(DN_OP_BROADCAST, a, sh(1, 4), 0), 3,
             ref_elementwise, 1, -2, 2);
    check_op("broadcast (n,)->(2,3,4)", node1(DN_OP_BROADCAST, a, sh(0), 1), 3,
             ref_elementwise, 1, -2, 2);
    check_op("broadcast identity", node1(DN_OP_BROADCAST, a, sh(3, 2, 3, 4), 1), 2,
             ref_elementwise, 1, -2, 2);
    a.shape = sh(2, 300, 40);
    check_op("broadcast big (n,1,40)", node1(DN_OP_BROADCAST, a, sh(2, 1, 40), 1), 8,
             ref_elementwise, 0, -2, 2);
    check_op("broadcast big (n,300,1)", node1(DN_OP_BROADCAST, a, sh(2, 300, 1), 1), 8,
             ref_elementwise, 0, -2, 2);
    a.shape = sh(1, 4);
    check_rejects("broadcast (3,)->(4,)", node1(DN_OP_BROADCAST, a, sh(1, 3), 1),
                  "cannot broadcast per-sample shape (3,) to (4,)", NULL);
    check_rejects("broadcast (2,4)->(4,)", node1(DN_OP_BROADCAST, a, sh(2, 2, 4), 1),
                  "(2, 4) to (4,)", "fewer");
}

static void test_activation(void)
{
    for (int act = 0; act < DN_ACT_COUNT; act++) {
        dn_attrs a = attrs();
        char l[64];
        a.act = (dn_act)act;
        a.alpha = act == DN_ACT_ELU ? 1.0f : 0.2f;
        snprintf(l, sizeof l, "activation %s", dn_act_name(a.act));
        check_op(l, node1(DN_OP_ACTIVATION, a, sh(2, 7, 3), 1), 4, ref_act, 1, -3, 3);
        snprintf(l, sizeof l, "activation %s big", dn_act_name(a.act));
        check_op(l, node1(DN_OP_ACTIVATION, a, sh(1, 600), 1), 64, ref_act, 0, -6, 6);
        snprintf(l, sizeof l, "activation %s n=0", dn_act_name(a.act));
        check_op(l, node1(DN_OP_ACTIVATION, a, sh(1, 3), 1), 0, ref_act, 1, -3, 3);
    }
    dn_attrs a = attrs();
    a.act = DN_ACT_ELU;
    a.alpha = 0.5f;
    check_op("activation elu alpha 0.5 unbatched", node1(DN_OP_ACTIVATION, a, sh(1, 9), 0), 2,
             ref_act, 1, -3, 3);
    a.act = DN_ACT_COUNT;
    check_rejects("activation unknown", node1(DN_OP_ACTIVATION, a, sh(1, 3), 1),
                  "unknown activation", NULL);
    a.act = DN_ACT_LEAKY_RELU;
    a.alpha = -1.0f;
    check_rejects("leaky alpha", node1(DN_OP_ACTIVATION, a, sh(1, 3), 1), "alpha", NULL);
    CHECK(dn_opdef_activation.flags == (DN_OPF_BWD_IN0 | DN_OPF_BWD_OUT), "activation flags");
}

static void test_softmax(void)
{
    dn_op ops[2] = {DN_OP_SOFTMAX, DN_OP_LOG_SOFTMAX};
    for (int o = 0; o < 2; o++) {
        dn_op op = ops[o];
        dn_attrs a = attrs();
        char l[64];
#define LBL(s) (snprintf(l, sizeof l, "%s %s", dn_op_name(op), s), l)
        check_op(LBL("(n,3,7) axis -1"), node1(op, a, sh(2, 3, 7), 1), 3, ref_softmax, 1, -3, 3);
        check_op(LBL("(n,1) axis -1"), node1(op, a, sh(1, 1), 1), 3, ref_softmax, 1, -3, 3);
        check_op(LBL("big (n,300)"), node1(op, a, sh(1, 300), 1), 200, ref_softmax, 0, -5, 5);
        check_op(LBL("large values"), node1(op, a, sh(1, 6), 1), 3, ref_softmax, 0, 80, 120);
        check_op(LBL("n=0"), node1(op, a, sh(1, 6), 1), 0, ref_softmax, 1, -3, 3);
        a.axis = 1;
        check_op(LBL("(n,5,3) axis 1"), node1(op, a, sh(2, 5, 3), 1), 2, ref_softmax, 1, -3, 3);
        check_op(LBL("big (n,100,90) axis 1"), node1(op, a, sh(2, 100, 90), 1), 8,
                 ref_softmax, 0, -5, 5);
        check_shape(LBL("shape"), node1(op, a, sh(2, 5, 3), 1), 1, sh(2, 5, 3));
        a.axis = 2;
        check_op(LBL("(n,2,3,4) axis 2"), node1(op, a, sh(3, 2, 3, 4), 1), 2, ref_softmax, 1,
                 -3, 3);
        a.axis = 0;
        check_op(LBL("unbatched (4,3) axis 0"), node1(op, a, sh(2, 4, 3), 0), 2, ref_softmax,
                 1, -3, 3);
        check_rejects(LBL("batch axis"), node1(op, a, sh(2, 4, 3), 1), "batch axis", "(4, 3)");
        a.axis = 3;
        check_rejects(LBL("axis 3"), node1(op, a, sh(2, 4, 3), 1), "out of range", "(4, 3)");
        a.axis = -1;
        check_rejects(LBL("scalar"), node1(op, a, sh(0), 0), "out of range", "()");
        CHECK(opdef(op)->flags == DN_OPF_BWD_OUT, "%s flags", dn_op_name(op));
#undef LBL
    }
}

static void test_reduce(void)
{
    dn_op ops[2] = {DN_OP_SUM, DN_OP_MEAN};
    for (int o = 0; o < 2; o++) {
        dn_op op = ops[o];
        dn_attrs a = attrs();
        char l[64];
#define LBL(s) (snprintf(l, sizeof l, "%s %s", dn_op_name(op), s), l)
        check_op(LBL("(n,3,5) axis -1"), node1(op, a, sh(2, 3, 5), 1), 3, ref_reduce, 1, -2, 2);
        check_shape(LBL("axis -1 shape"), node1(op, a, sh(2, 3, 5), 1), 1, sh(1, 3));
        a.keepdims = 1;
        check_shape(LBL("axis -1 keepdims shape"), node1(op, a, sh(2, 3, 5), 1), 1,
                    sh(2, 3, 1));
        check_op(LBL("(n,3,5) axis -1 keepdims"), node1(op, a, sh(2, 3, 5), 1), 3, ref_reduce,
                 1, -2, 2);
        a.keepdims = 0;
        a.axis = 1;
        check_op(LBL("(n,3,5) axis 1"), node1(op, a, sh(2, 3, 5), 1), 3, ref_reduce, 1, -2, 2);
        check_op(LBL("big (n,40,70) axis 1"), node1(op, a, sh(2, 40, 70), 1), 30, ref_reduce,
                 0, -2, 2);
        a.axis = 0;
        check_op(LBL("(n,4,2) axis 0"), node1(op, a, sh(2, 4, 2), 1), 5, ref_reduce, 1, -2, 2);
        check_shape(LBL("axis 0 shape"), node1(op, a, sh(2, 4, 2), 1), 0, sh(2, 4, 2));
        check_op(LBL("big (n,200) axis 0"), node1(op, a, sh(1, 200), 1), 300, ref_reduce, 0,
                 -2, 2);
        check_op(LBL("unbatched (4,3) axis 0"), node1(op, a, sh(2, 4, 3), 0), 2, ref_reduce, 1,
                 -2, 2);
        a.keepdims = 1;
        check_shape(LBL("axis 0 keepdims shape"), node1(op, a, sh(2, 4, 2), 1), 0,
                    sh(3, 1, 4, 2));
        check_op(LBL("(n,4,2) axis 0 keepdims"), node1(op, a, sh(2, 4, 2), 1), 5, ref_reduce,
                 1, -2, 2);
        a.axis = DN_AXIS_ALL;
        check_shape(LBL("all keepdims shape"), node1(op, a, sh(2, 4, 2), 1), 1, sh(2, 1, 1));
        check_op(LBL("(n,4,2) all keepdims"), node1(op, a, sh(2, 4, 2), 1), 3, ref_reduce, 1,
                 -2, 2);
        a.keepdims = 0;
        check_shape(LBL("all shape"), node1(op, a, sh(2, 4, 2), 1), 1, sh(0));
        check_op(LBL("(n,4,2) all"), node1(op, a, sh(2, 4, 2), 1), 3, ref_reduce, 1, -2, 2);
        check_op(LBL("unbatched (3,5) all"), node1(op, a, sh(2, 3, 5), 0), 3, ref_reduce, 1,
                 -2, 2);
        check_shape(LBL("unbatched all shape"), node1(op, a, sh(2, 3, 5), 0), 0, sh(0));
        check_op(LBL("big (n,50,60) all"), node1(op, a, sh(2, 50, 60), 1), 16, ref_reduce, 0,
                 -2, 2);
        check_op(LBL("n=0 all"), node1(op, a, sh(1, 4), 1), 0, ref_reduce, 1, -2, 2);
        check_op(LBL("(n,0) all"), node1(op, a, sh(1, 0), 1), 3, ref_reduce, 0, -2, 2);
        a.axis = 0;
        check_op(LBL("n=0 axis 0"), node1(op, a, sh(1, 4), 1), 0, ref_reduce, 0, -2, 2);
        a.axis = 3;
        check_rejects(LBL("axis 3"), node1(op, a, sh(2, 4, 2), 1), "out of range", "(4, 2)");
#undef LBL
    }
}

static void test_shape_ops(void)
{
    dn_attrs a = attrs();
    a.shape = sh(2, 4, -1);
    check_op("reshape (n,3,4)->(4,-1)", node1(DN_OP_RESHAPE, a, sh(2, 3, 4), 1), 3, ref_copy,
             1, -2, 2);
    check_shape("reshape (4,-1) shape", node1(DN_OP_RESHAPE, a, sh(2, 3, 4), 1), 1,
                sh(2, 4, 3));
    a.shape = sh(1, -1);
    check_shape("flatten shape", node1(DN_OP_RESHAPE, a, sh(3, 2, 3, 4), 1), 1, sh(1, 24));
    check_op("flatten big", node1(DN_OP_RESHAPE, a, sh(3, 20, 30, 40), 1), 4, ref_copy, 0,
             -2, 2);
    a.shape = sh(0);
    check_op("reshape (1,)->()", node1(DN_OP_RESHAPE, a, sh(1, 1), 1), 3, ref_copy, 1, -2, 2);
    a.shape = sh(2, 2, 3);
    check_op("reshape unbatched (6,)->(2,3)", node1(DN_OP_RESHAPE, a, sh(1, 6), 0), 3,
             ref_copy, 1, -2, 2);
    a.shape = sh(2, 0, -1);
    check_rejects("reshape -1 with 0", node1(DN_OP_RESHAPE, a, sh(1, 0), 1), "(0,)", "(0, -1)");
    a.shape = sh(2, 5, -1);
    check_rejects("reshape (3,4)->(5,-1)", node1(DN_OP_RESHAPE, a, sh(2, 3, 4), 1),
                  "cannot reshape (3, 4)", "(5, -1)");
    a.shape = sh(2, 5, 2);
    check_rejects("reshape (3,4)->(5,2)", node1(DN_OP_RESHAPE, a, sh(2, 3, 4), 1),
                  "(3, 4) (12 elements) into (5, 2) (10 elements)", NULL);
    a.shape = sh(2, -1, -1);
    check_rejects("reshape two -1", node1(DN_OP_RESHAPE, a, sh(2, 3, 4), 1), "at most one -1",
                  NULL);

    /* concat */
    dn_shape s3[3] = {sh(2, 2, 3), sh(2, 4, 3), sh(2, 1, 3)};
    int b3[3] = {1, 1, 1}, u3[3] = {0, 0, 0};
    a = attrs();
    a.axis = 1;
    check_op("concat 3 along axis 1", make_node(DN_OP_CONCAT, a, 3, s3, b3), 3, ref_concat, 1,
             -2, 2);
    check_shape("concat shape", make_node(DN_OP_CONCAT, a, 3, s3, b3), 1, sh(2, 7, 3));
    a.axis = 0;
    check_op("concat unbatched axis 0", make_node(DN_OP_CONCAT, a, 3, s3, u3), 3, ref_concat,
             1, -2, 2);
    check_rejects("concat batch axis", make_node(DN_OP_CONCAT, a, 3, s3, b3), "batch axis",
                  "(batch, 2, 3)");
    a.axis = -1;
    check_op("concat axis -1", node2(DN_OP_CONCAT, a, sh(2, 3, 2), 1, sh(2, 3, 5), 1), 3,
             ref_concat, 1, -2, 2);
    check_op("concat big axis -1", node2(DN_OP_CONCAT, a, sh(2, 30, 200), 1,
             sh(2, 30, 300), 1), 8, ref_concat, 0, -2, 2);
    check_op("concat size-0 part", node2(DN_OP_CONCAT, a, sh(2, 3, 0), 1, sh(2, 3, 2), 1), 2,
             ref_concat, 1, -2, 2);
    a.axis = 1;
    check_rejects("concat mismatch", node2(DN_OP_CONCAT, a, sh(2, 2, 4), 1, sh(2, 3, 5), 1),
                  "input 1 has shape (batch, 3, 5) and input 0 (batch, 2, 4)", NULL);
    check_rejects("concat mixed batching", node2(DN_OP_CONCAT, a, sh(2, 2, 4), 1,
                  sh(2, 3, 4), 0), "input 1 has shape (3, 4)", "batched");
    check_rejects("concat one input", node1(DN_OP_CONCAT, a, sh(2, 2, 4), 1), "2 to 8 inputs",
                  NULL);

    /* slice */
    a = attrs();
    a.axis = 1;
    a.start = 2;
    a.stop = 5;
    check_op("slice (n,7,3) [2,5) axis 1", node1(DN_OP_SLICE, a, sh(2, 7, 3), 1), 3, ref_slice,
             1, -2, 2);
    check_shape("slice shape", node1(DN_OP_SLICE, a, sh(2, 7, 3), 1), 1, sh(2, 3, 3));
    a.start = -3;
    a.stop = INT64_MAX;
    check_op("slice [-3,end)", node1(DN_OP_SLICE, a, sh(2, 7, 3), 1), 3, ref_slice, 1, -2, 2);
    check_shape("slice [-3,end) shape", node1(DN_OP_SLICE, a, sh(2, 7, 3), 1), 1, sh(2, 3, 3));
    a.axis = -1;
    a.start = -100;
    a.stop = -1;
    check_op("slice axis -1 [-100,-1)", node1(DN_OP_SLICE, a, sh(2, 4, 5), 1), 2, ref_slice, 1,
             -2, 2);
    check_shape("slice clamp shape", node1(DN_OP_SLICE, a, sh(2, 4, 5), 1), 1, sh(2, 4, 4));
    a.axis = 0;
    a.start = 1;
    a.stop = 2;
    check_op("slice unbatched axis 0", node1(DN_OP_SLICE, a, sh(2, 3, 4), 0), 2, ref_slice, 1,
             -2, 2);
    a.axis = 1;
    a.start = 100;
    a.stop = 9000;
    check_op("slice big", node1(DN_OP_SLICE, a, sh(2, 10000, 3), 1), 4, ref_slice, 0, -2, 2);
    check_op("slice n=0", node1(DN_OP_SLICE, a, sh(2, 10000, 3), 1), 0, ref_slice, 1, -2, 2);
    a.start = 3;
    a.stop = 3;
    check_rejects("slice empty", node1(DN_OP_SLICE, a, sh(2, 7, 3), 1), "[3, 3)",
                  "(batch, 7, 3) is empty");
    a.axis = 0;
    a.start = 0;
    a.stop = 1;
    check_rejects("slice batch axis", node1(DN_OP_SLICE, a, sh(2, 7, 3), 1), "batch axis",
                  NULL);
}

int main(void)
{
    test_binary();
    test_scale_broadcast();
    test_activation();
    test_softmax();
    test_reduce();
    test_shape_ops();
    printf("test_ops_basic: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
