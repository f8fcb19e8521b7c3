/* Tests of the fused paths of the dense training step:
 *   - LINEAR backward writing the gradients the executor marks fresh
 *     (gin_fresh, gparam_fresh) instead of adding to zeroed buffers, with dZ
 *     and db computed in one pass over dY: fast and _ref kernels against a
 *     double-precision reference, fresh buffers filled with NaN first (every
 *     element must be written), fresh results equal to adding into zeros,
 *     non-fresh results adding to what was there, 1 and 2 threads identical;
 *   - the LOSS's saved softmax (softmax cross-entropy) in its two factors,
 *     which backward reads instead of recomputing them, also for rows far
 *     apart in scale.
 * Exit status 0 when every check passes; each failure prints what was
 * expected. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#include "check.h"


static float *alloc_fill(int64_t n, float lo, float hi)
{
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = frand(lo, hi);
    return x;
}

static float *alloc_value(int64_t n, float v)
{
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = v;
    return x;
}

static float *copy_of(const float *x, int64_t n)
{
    float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    memcpy(y, x, (size_t)n * sizeof(float));
    return y;
}

/* max |a - b| / (atol + rtol |b|) */
static double rel_err(const float *a, const double *b, int64_t n, double rtol, double atol)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]) / (atol + rtol * fabs(b[i]));
        if (!(e <= worst)) worst = e; /* NaN counts as the worst */
    }
    return worst;
}

static int same_values(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!(a[i] == b[i])) return 0;
    return 1;
}

/* --- LINEAR ---------------------------------------------------------------- */

/* act'(x) from y = act(x) in double, for the activations tested here */
static double slope_from_out(dn_act act, double y)
{
    if (act == DN_ACT_RELU) return y > 0 ? 1.0 : 0.0;
    if (act == DN_ACT_TANH) return 1.0 - y * y;
    return 1.0;
}

/* The gradients of one dense layer in double: dZ = G act'(Y), dW = X^T dZ,
 * db = column sums of dZ, dX = dZ W^T. */
static void dense_grads_ref(dn_act act, const float *X, const float *W, const float *Y,
                            const float *G, int64_t rows, int64_t n_in, int64_t units,
                            double *dW, double *db, double *dX)
{
    double *dZ = malloc((size_t)(rows * units) * sizeof *dZ);
    for (int64_t i = 0; i < rows * units; i++) dZ[i] = G[i] * slope_from_out(act, Y[i]);
    for (int64_t k = 0; k < n_in; k++)
        for (int64_t j = 0; j < units; j++) {
            double s = 0;
            for (int64_t r = 0; r < rows; r++) s += (double)X[r * n_in + k] * dZ[r * units + j];
            dW[k * units + j] = s;
        }
    for (int64_t j = 0; j < units; j++) {
        double s = 0;
        for (int64_t r = 0; r < rows; r++) s += dZ[r * units + j];
        db[j] = s;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < n_in; k++) {
            double s = 0;
            for (int64_t j = 0; j < units; j++) s += dZ[r * units + j] * (double)W[k * units + j];
            dX[r * n_in + k] = s;
        }
    free(dZ);
}

/* Buffers of one backward call. */
typedef struct dense_grads {
    float *dY, *dX, *dW, *db;
} dense_grads;

/* Run backward (fast or _ref) on a copy of G with gradient buffers starting
 * at `start` (NULL: NaN, marked fresh; else the given values, added to). */
static dense_grads run_backward(const dn_node *nd, int ref, int nthreads, const float *X,
                                float *W, float *b, const float *Y, const float *G,
                                int64_t rows, int64_t n_in, int64_t units,
                                const dense_grads *start)
{
    const dn_op_def *def = &dn_opdef_linear;
    dense_grads o;
    o.dY = copy_of(G, rows * units);
    o.dX = start ? copy_of(start->dX, rows * n_in) : alloc_value(rows * n_in, NAN);
    o.dW = start ? copy_of(start->dW, n_in * units) : alloc_value(n_in * units, NAN);
    o.db = start ? copy_of(start->db, units) : alloc_value(units, NAN);
    dn_ctx c;
    memset(&c, 0, sizeof c);
    c.node = nd;
    c.n = rows;
    c.nthreads = nthreads;
    c.in[0] = X;
    c.gin[0] = o.dX;
    c.out = (float *)Y;
    c.gout = o.dY;
    c.param[0] = W;
    c.gparam[0] = o.dW;
    c.param[1] = b;
    c.gparam[1] = nd->attrs.use_bias ? o.db : NULL;
    if (!start) {
        c.gin_fresh = 1u;
        c.gparam_fresh = nd->attrs.use_bias ? 3u : 1u;
    }
    (ref ? def->backward_ref : def->backward)(&c);
    return o;
}

static void free_grads(dense_grads *g)
{
    free(g->dY), free(g->dX), free(g->dW), free(g->db);
}

static void test_linear_fresh(dn_act act, int use_bias, int64_t rows, int64_t n_in,
                              int64_t units)
{
    char what[96];
    snprintf(what, sizeof what, "linear %s bias %d (%lld, %lld) -> %lld", dn_act_name(act),
             use_bias, (long long)rows, (long long)n_in, (long long)units);
    dn_node nd;
    memset(&nd, 0, sizeof nd);
    nd.op = DN_OP_LINEAR;
    dn_attrs_default(&nd.attrs);
    nd.attrs.units = units;
    nd.attrs.act = act;
    nd.attrs.use_bias = use_bias;
    nd.n_in = 1;
    nd.in_shape[0].ndim = 1;
    nd.in_shape[0].dims[0] = n_in;
    nd.in_batched[0] = 1;
    nd.input_index = -1;
    snprintf(nd.name, sizeof nd.name, "dense");
    CHECK(dn_opdef_linear.infer(&nd) == DN_OK, "%s: infer: %s", what, dn_last_error());
    CHECK(dn_opdef_linear.flags & DN_OPF_BWD_FRESH, "%s: LINEAR must honour fresh gradients",
          what);

    float *X = alloc_fill(rows * n_in, -1, 1), *W = alloc_fill(n_in * units, -0.5f, 0.5f);
    float *b = alloc_fill(units, -0.2f, 0.2f), *Y = alloc_value(rows * units, 0);
    float *G = alloc_fill(rows * units, -1, 1);
    dn_ctx f;
    memset(&f, 0, sizeof f);
    f.node = &nd;
    f.n = rows;
    f.nthreads = 1;
    f.in[0] = X;
    f.out = Y;
    f.param[0] = W;
    f.param[1] = b;
    dn_opdef_linear.forward(&f);

    double *dW = malloc((size_t)(n_in * units) * sizeof *dW);
    double *db = malloc((size_t)units * sizeof *db);
    double *dX = malloc((size_t)(rows * n_in) * sizeof *dX);
    dense_grads_ref(act, X, W, Y, G, rows, n_in, units, dW, db, dX);

    /* fresh (NaN-filled) buffers, fast and _ref, 1 and 2 threads */
    dense_grads fast1 = run_backward(&nd, 0, 1, X, W, b, Y, G, rows, n_in, units, NULL);
    dense_grads fast2 = run_backward(&nd, 0, 2, X, W, b, Y, G, rows, n_in, units, NULL);
    dense_grads ref = run_backward(&nd, 1, 1, X, W, b, Y, G, rows, n_in, units, NULL);
    const dense_grads *runs[2] = {&fast1, &ref};
    for (int k = 0; k < 2; k++) {
        const char *kind = k ? "_ref" : "fast";
        CHECK(rel_err(runs[k]->dW, dW, n_in * units, 1e-4, 1e-5) <= 1, "%s %s fresh dW: %g",
              what, kind, rel_err(runs[k]->dW, dW, n_in * units, 1e-4, 1e-5));
        CHECK(rel_err(runs[k]->dX, dX, rows * n_in, 1e-4, 1e-5) <= 1, "%s %s fresh dX: %g",
              what, kind, rel_err(runs[k]->dX, dX, rows * n_in, 1e-4, 1e-5));
        if (use_bias)
            CHECK(rel_err(runs[k]->db, db, units, 1e-4, 1e-5) <= 1, "%s %s fresh db: %g",
                  what, kind, rel_err(runs[k]->db, db, units, 1e-4, 1e-5));
    }
    CHECK(same_values(fast1.dW, fast2.dW, n_in * units) &&
              same_values(fast1.dX, fast2.dX, rows * n_in) &&
              (!use_bias || same_values(fast1.db, fast2.db, units)) &&
              same_values(fast1.dY, fast2.dY, rows * units),
          "%s: fresh gradients differ between 1 and 2 threads", what);

    /* adding into zeros gives the fresh values exactly */
    dense_grads zero = {NULL, alloc_value(rows * n_in, 0), alloc_value(n_in * units, 0),
                        alloc_value(units, 0)};
    dense_grads added0 = run_backward(&nd, 0, 1, X, W, b, Y, G, rows, n_in, units, &zero);
    CHECK(same_values(added0.dW, fast1.dW, n_in * units) &&
              same_values(added0.dX, fast1.dX, rows * n_in) &&
              (!use_bias || same_values(added0.db, fast1.db, units)),
          "%s: fresh gradients differ from gradients added to zeros", what);

    /* not fresh: the gradients add to what the buffers held */
    dense_grads prior = {NULL, alloc_fill(rows * n_in, -3, 3), alloc_fill(n_in * units, -3, 3),
                         alloc_fill(units, -3, 3)};
    for (int k = 0; k < 2; k++) {
        dense_grads sum = run_backward(&nd, k, 2, X, W, b, Y, G, rows, n_in, units, &prior);
        double *want = malloc((size_t)(rows * n_in + n_in * units + units) * sizeof *want);
        for (int64_t i = 0; i < n_in * units; i++) want[i] = prior.dW[i] + dW[i];
        CHECK(rel_err(sum.dW, want, n_in * units, 1e-4, 1e-5) <= 1, "%s %s: dW does not add",
              what, k ? "_ref" : "fast");
        for (int64_t i = 0; i < rows * n_in; i++) want[i] = prior.dX[i] + dX[i];
        CHECK(rel_err(sum.dX, want, rows * n_in, 1e-4, 1e-5) <= 1, "%s %s: dX does not add",
              what, k ? "_ref" : "fast");
        for (int64_t i = 0; i < units; i++) want[i] = use_bias ? prior.db[i] + db[i] : prior.db[i];
        CHECK(rel_err(sum.db, want, units, 1e-4, 1e-5) <= 1, "%s %s: db does not add",
              what, k ? "_ref" : "fast");
        free(want);
        free_grads(&sum);
    }
    free_grads(&fast1), free_grads(&fast2), free_grads(&ref), free_grads(&added0);
    free_grads(&zero), free_grads(&prior);
    free(X), free(W), free(b), free(Y), free(G), free(dW), free(db), free(dX);
}

/* --- LOSS ------------------------------------------------------------------ */

/* Softmax cross-entropy with class indices: forward (fast and _ref) keeps
 * e^(z - shift) of every row (n, K), then 1 / its sum (n); their product is
 * the softmax, whatever the shift. The fast backward reads them, writing a
 * fresh gradient whole (filled with NaN first) or adding to one. With
 * spread > 0, every third row is shifted by +-spread: rows whose maximum lies
 * far below the block's take the path with their own maximum. */
static void test_loss_saved(int64_t n, int64_t K, float spread)
{
    dn_node nd;
    memset(&nd, 0, sizeof nd);
    nd.op = DN_OP_LOSS;
    dn_attrs_default(&nd.attrs);
    nd.attrs.loss = DN_LOSS_SOFTMAX_CE;
    nd.n_in = 2;
    nd.in_shape[0].ndim = 1;
    nd.in_shape[0].dims[0] = K;
    nd.in_shape[1].ndim = 1;
    nd.in_shape[1].dims[0] = 1;
    nd.in_batched[0] = nd.in_batched[1] = 1;
    nd.input_index = -1;
    snprintf(nd.name, sizeof nd.name, "loss");
    CHECK(dn_opdef_loss.infer(&nd) == DN_OK, "loss infer: %s", dn_last_error());
    CHECK(nd.saved_per_sample == K + 1 && nd.saved_fixed == 0,
          "softmax cross-entropy keeps %lld floats per sample, want %lld",
          (long long)nd.saved_per_sample, (long long)(K + 1));
    float *z = alloc_fill(n * K, -4, 4), *t = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        t[i] = (float)(i % K);
        const float shift = i % 3 == 1 ? spread : i % 3 == 2 ? -spread : 0.0f;
        for (int64_t j = 0; j < K; j++) z[i * K + j] += shift;
    }
    double *soft = malloc((size_t)(n * K) * sizeof *soft), loss = 0;
    for (int64_t i = 0; i < n; i++) {
        double mx = z[i * K], s = 0;
        for (int64_t j = 1; j < K; j++) mx = fmax(mx, z[i * K + j]);
        for (int64_t j = 0; j < K; j++) s += exp(z[i * K + j] - mx);
        for (int64_t j = 0; j < K; j++) soft[i * K + j] = exp(z[i * K + j] - mx) / s;
        loss += mx + log(s) - z[i * K + i % K];
    }
    loss /= (double)n;
    for (int ref = 0; ref < 2; ref++)
        for (int fresh = 0; fresh < 2; fresh++) {
            float *saved = alloc_value(n * (K + 1), NAN), out = 0, gout = 1.0f;
            float *gin = alloc_value(n * K, fresh ? NAN : 0.5f);
            dn_ctx c;
            memset(&c, 0, sizeof c);
            c.node = &nd;
            c.n = n;
            c.nthreads = 1;
            c.in[0] = z;
            c.in[1] = t;
            c.out = &out;
            c.saved = saved;
            (ref ? dn_opdef_loss.forward_ref : dn_opdef_loss.forward)(&c);
            CHECK(fabs(out - loss) <= 1e-5 * (1 + fabs(loss)), "loss %s value %g, want %g",
                  ref ? "_ref" : "fast", (double)out, loss);
            double worst = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < K; j++)
                    worst = fmax(worst, fabs(saved[i * K + j] * saved[n * K + i] -
                                             soft[i * K + j]));
            CHECK(worst < 1e-6, "loss %s saved softmax: error %g", ref ? "_ref" : "fast", worst);
            /* the fast backward from the saved values: softmax - onehot, over n */
            c.gin[0] = gin;
            c.gout = &gout;
            c.gin_fresh = (unsigned)fresh;
            dn_opdef_loss.backward(&c);
            worst = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < K; j++) {
                    double want = (soft[i * K + j] - (j == i % K)) / (double)n + (fresh ? 0 : 0.5);
                    worst = fmax(worst, fabs(gin[i * K + j] - want));
                }
            CHECK(worst < 1e-6, "loss gradient (%s) from %s forward's saved values: error %g",
                  fresh ? "fresh" : "added", ref ? "_ref" : "fast", worst);
            free(saved), free(gin);
        }
    free(z), free(t), free(soft);
}

int main(void)
{
    static const dn_act acts[3] = {DN_ACT_RELU, DN_ACT_TANH, DN_ACT_IDENTITY};
    static const int64_t sizes[4][3] = {{1, 1, 1}, {3, 5, 7}, {7, 33, 129}, {301, 17, 257}};
    for (int a = 0; a < 3; a++)
        for (int bias = 0; bias < 2; bias++)
            for (int s = 0; s < 4; s++)
                test_linear_fresh(acts[a], bias, sizes[s][0], sizes[s][1], sizes[s][2]);
    static const int64_t loss_sizes[6][2] = {{1, 1}, {7, 10}, {130, 3}, {200, 10},
                                             {67, 17}, {3, 1000}};
    for (int s = 0; s < 6; s++)
        for (int spread = 0; spread < 3; spread++)
            test_loss_saved(loss_sizes[s][0], loss_sizes[s][1], spread * 40.0f);
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("dense step: all checks passed\n");
    return 0;
}
