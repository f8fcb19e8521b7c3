/* Tests of the image ops (CONV2D, CONV2D_TRANSPOSE, MAXPOOL2D, AVGPOOL2D,
 * GLOBAL_AVGPOOL2D, UPSAMPLE2D): the seeds' worked examples, each kernel
 * (fast and _ref) against a double-precision convolution written here,
 * gradients against central finite differences of it, one thread against
 * three (bit-identical), the direct path of CONV2D (conv_direct.c) with the
 * kernels of every instruction set and its dispatch rule, and the errors of
 * bad settings. Exit status 0 when
 * every check passes; each failure prints what was expected. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "ops/conv_direct.h"

#include "check.h"

/* A node with every buffer its kernels touch (inputs random in [-1, 1),
 * parameters random in [-0.5, 0.5)). */
typedef struct harness {
    dn_node node;
    const dn_op_def *def;
    int64_t n, in_numel, out_numel, pn[2];
    float *in, *gin, *out, *gout, *param[2], *gparam[2], *saved, *ws;
} harness;

static float *zeros(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static dn_status h_init(harness *h, const dn_op_def *def, const dn_attrs *a, dn_shape in,
                        int64_t n)
{
    memset(h, 0, sizeof *h);
    h->def = def;
    h->n = n;
    h->node.op = def->op;
    h->node.attrs = *a;
    h->node.n_in = 1;
    h->node.input_index = -1;
    h->node.in_shape[0] = in;
    h->node.in_batched[0] = 1;
    snprintf(h->node.name, sizeof h->node.name, "%s_test", def->name);
    dn_status s = def->infer(&h->node);
    if (s) return s;
    h->in_numel = dn_node_in_numel(&h->node, 0, n);
    h->out_numel = dn_node_out_numel(&h->node, n);
    h->in = zeros(h->in_numel), h->gin = zeros(h->in_numel);
    h->out = zeros(h->out_numel), h->gout = zeros(h->out_numel);
    for (int64_t i = 0; i < h->in_numel; i++) h->in[i] = frand(-1, 1);
    for (int j = 0; j < h->node.n_params; j++) {
        h->pn[j] = dn_shape_numel(&h->node.params[j].shape);
        h->param[j] = zeros(h->pn[j]), h->gparam[j] = zeros(h->pn[j]);
        for (int64_t i = 0; i < h->pn[j]; i++) h->param[j][i] = frand(-0.5f, 0.5f);
    }
    h->saved = zeros(h->node.saved_per_sample * n + h->node.saved_fixed);
    h->ws = zeros(h->node.ws_per_sample * n + h->node.ws_fixed);
    return DN_OK;
}

static void h_free(harness *h)
{
    free(h->in), free(h->gin), free(h->out), free(h->gout), free(h->saved), free(h->ws);
    for (int j = 0; j < 2; j++) free(h->param[j]), free(h->gparam[j]);
}

/* Forward, then backward of the upstream gradient r (out_numel) into
 * zeroed gradients, fast or _ref, on nthreads. */
static void h_run(harness *h, const float *r, int ref, int nthreads)
{
    dn_ctx c;
    memset(&c, 0, sizeof c);
    c.node = &h->node;
    c.n = h->n;
    c.in[0] = h->in, c.gin[0] = h->gin, c.out = h->out, c.gout = h->gout;
    for (int j = 0; j < h->node.n_params; j++) c.param[j] = h->param[j], c.gparam[j] = h->gparam[j];
    c.saved = h->saved, c.ws = h->ws, c.training = 1, c.nthreads = nthreads;
    (ref ? h->def->forward_ref : h->def->forward)(&c);
    memcpy(h->gout, r, (size_t)h->out_numel * sizeof(float));
    memset(h->gin, 0, (size_t)h->in_numel * sizeof(float));
    for (int j = 0; j < h->node.n_params; j++)
        memset(h->gparam[j], 0, (size_t)h->pn[j] * sizeof(float));
    (ref ? h->def->backward_ref : h->def->backward)(&c);
}

/* --- the double reference: CONV2D by its definition ----------------------- */

typedef struct conv_case {
    int64_t n, Ci, H, W, Co, KH, KW, sh, sw, pt, pl, dh, dw, G, Ho, Wo;
    const double *x, *w, *b;
} conv_case;

/* y = W * x + b (no activation) */
static void conv_ref64(const conv_case *k, double *y)
{
    int64_t cig = k->Ci / k->G, cog = k->Co / k->G;
    for (int64_t i = 0; i < k->n; i++)
        for (int64_t co = 0; co < k->Co; co++)
            for (int64_t oy = 0; oy < k->Ho; oy++)
                for (int64_t ox = 0; ox < k->Wo; ox++) {
                    double s = k->b ? k->b[co] : 0.0;
                    for (int64_t cl = 0; cl < cig; cl++)
                        for (int64_t kh = 0; kh < k->KH; kh++)
                            for (int64_t kw = 0; kw < k->KW; kw++) {
                                int64_t iy = oy * k->sh - k->pt + kh * k->dh;
                                int64_t ix = ox * k->sw - k->pl + kw * k->dw;
                                if (iy < 0 || iy >= k->H || ix < 0 || ix >= k->W) continue;
                                int64_t ci = co / cog * cig + cl;
                                s += k->w[((co * cig + cl) * k->KH + kh) * k->KW + kw] *
                                     k->x[((i * k->Ci + ci) * k->H + iy) * k->W + ix];
                            }
                    y[((i * k->Co + co) * k->Ho + oy) * k->Wo + ox] = s;
                }
}

/* sum r . conv(x, w, b) */
static double conv_obj(const conv_case *k, const float *r, double *y, int64_t ny)
{
    conv_ref64(k, y);
    double s = 0;
    for (int64_t i = 0; i < ny; i++) s += r[i] * y[i];
    return s;
}

static double *to_double(const float *x, int64_t n)
{
    double *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    for (int64_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* max |a - b| / (max |b| + 1e-3) */
static double rel_err(const float *a, const double *b, int64_t n)
{
    double s = 1e-3, e = 0;
    for (int64_t i = 0; i < n; i++) s = fmax(s, fabs(b[i])), e = fmax(e, fabs(a[i] - b[i]));
    return e / s;
}

/* Gradient of sum r . conv w.r.t. v (n) by central differences. */
static void fd(conv_case *k, const float *r, double *y, int64_t ny, double *v, int64_t n,
               double *out)
{
    for (int64_t i = 0; i < n; i++) {
        double keep = v[i];
        v[i] = keep + 1e-5;
        double up = conv_obj(k, r, y, ny);
        v[i] = keep - 1e-5;
        double down = conv_obj(k, r, y, ny);
        v[i] = keep;
        out[i] = (up - down) / 2e-5;
    }
}

/* fast and _ref against the double reference (gradients by finite
 * differences when with_fd; else fast against _ref), then 1 vs 3 threads */
static void test_conv2d_case(int64_t n, int64_t Ci, int64_t H, int64_t W, int64_t Co,
                             int64_t K, int64_t s, int64_t p, int64_t d, int64_t G, int with_fd)
{
    dn_attrs a;
    dn_attrs_default(&a);
    a.units = Co, a.kernel[0] = a.kernel[1] = K, a.stride[0] = s, a.stride[1] = 1;
    a.pad[0] = p, a.pad[1] = 0, a.pad[2] = a.pad[3] = p, a.dilation[0] = a.dilation[1] = d;
    a.groups = G;
    harness h;
    dn_shape in = {3, {Ci, H, W}};
    CHECK(h_init(&h, &dn_opdef_conv2d, &a, in, n) == DN_OK, "conv2d infer: %s", dn_last_error());
    float *r = zeros(h.out_numel);
    for (int64_t i = 0; i < h.out_numel; i++) r[i] = frand(-1, 1);
    conv_case k = {n, Ci, H, W, Co, K, K, s, 1, p, p, d, d, G, h.node.shape.dims[1],
                   h.node.shape.dims[2], NULL, NULL, NULL};
    double *x = to_double(h.in, h.in_numel), *w = to_double(h.param[0], h.pn[0]);
    double *b = to_double(h.param[1], h.pn[1]), *y = malloc((size_t)h.out_numel * sizeof *y);
    k.x = x, k.w = w, k.b = b;
    conv_ref64(&k, y);
    double *gx = malloc((size_t)h.in_numel * sizeof *gx), *gw = malloc((size_t)h.pn[0] * 8);
    if (with_fd) {
        fd(&k, r, y, h.out_numel, x, h.in_numel, gx);
        fd(&k, r, y, h.out_numel, w, h.pn[0], gw);
    } else { /* the reference twin's gradients */
        h_run(&h, r, 1, 1);
        for (int64_t i = 0; i < h.in_numel; i++) gx[i] = h.gin[i];
        for (int64_t i = 0; i < h.pn[0]; i++) gw[i] = h.gparam[0][i];
    }
    conv_ref64(&k, y);
    for (int ref = 0; ref < 2; ref++) {
        h_run(&h, r, ref, 1);
        CHECK(rel_err(h.out, y, h.out_numel) < 1e-5, "conv2d %s forward: error %g",
              ref ? "ref" : "fast", rel_err(h.out, y, h.out_numel));
        CHECK(rel_err(h.gin, gx, h.in_numel) < 1e-4, "conv2d %s input gradient: error %g",
              ref ? "ref" : "fast", rel_err(h.gin, gx, h.in_numel));
        CHECK(rel_err(h.gparam[0], gw, h.pn[0]) < 1e-4, "conv2d %s weight gradient: error %g",
              ref ? "ref" : "fast", rel_err(h.gparam[0], gw, h.pn[0]));
    }
    /* one thread against three */
    h_run(&h, r, 0, 1);
    float *o1 = zeros(h.out_numel), *g1 = zeros(h.in_numel), *w1 = zeros(h.pn[0]);
    memcpy(o1, h.out, (size_t)h.out_numel * 4);
    memcpy(g1, h.gin, (size_t)h.in_numel * 4);
    memcpy(w1, h.gparam[0], (size_t)h.pn[0] * 4);
    h_run(&h, r, 0, 3);
    CHECK(!memcmp(o1, h.out, (size_t)h.out_numel * 4) && !memcmp(g1, h.gin, (size_t)h.in_numel * 4)
              && !memcmp(w1, h.gparam[0], (size_t)h.pn[0] * 4),
          "conv2d: 1 and 3 threads differ (n %lld, C %lld -> %lld)", (long long)n,
          (long long)Ci, (long long)Co);
    free(o1), free(g1), free(w1), free(r), free(x), free(w), free(b), free(y), free(gx), free(gw);
    h_free(&h);
}

/* --- the direct path: every instruction set, and its dispatch --------------- */

static void test_direct(void)
{
    const dn_isa best = dn_cpu_detect();
    for (int isa = DN_ISA_GENERIC; isa <= (int)DN_ISA_AVX512; isa++) {
        if (dn_cpu_set_isa((dn_isa)isa) != (dn_isa)isa) continue;
        test_conv2d_case(2, 4, 7, 6, 4, 3, 2, 1, 1, 4, 1);    /* depthwise, stride 2 */
        test_conv2d_case(2, 3, 9, 8, 6, 5, 1, 2, 2, 3, 1);    /* 5x5, dilation 2, multiplier 2 */
        test_conv2d_case(2, 8, 6, 7, 4, 3, 1, 1, 1, 2, 1);    /* 4 channels in, 2 out per group */
        test_conv2d_case(1, 3, 26, 24, 4, 3, 1, 1, 1, 1, 0);  /* a first layer, 25x24 outputs */
        test_conv2d_case(9, 16, 12, 10, 16, 3, 1, 1, 1, 16, 0); /* threads over samples, chunks */
    }
    dn_cpu_set_isa(best);
    /* the rule of conv_direct.c */
    CHECK(dn_direct_wanted(32, 32, 32, 4, 4, 0), "depthwise: direct");
    CHECK(dn_direct_wanted(64, 64, 16, 4, 4, 0), "4 channels per group: direct");
    CHECK(!dn_direct_wanted(80, 80, 16, 4, 4, 0), "5 channels per group: im2col");
    CHECK(!dn_direct_wanted(32, 32, 32, 4, 4, 1), "1x1 on the image: im2col");
    CHECK(dn_direct_wanted(3, 64, 1, 24, 24, 0), "first layer, 24x24: direct");
    CHECK(!dn_direct_wanted(3, 32, 1, 16, 16, 0), "32 outputs, 16x16: im2col");
    CHECK(dn_direct_wanted(3, 16, 1, 16, 16, 0), "16 outputs, 16x16: direct");
    CHECK(!dn_direct_wanted(4, 16, 1, 8, 8, 0), "first layer, 8x8: im2col");
}

/* --- the seeds' examples ---------------------------------------------------- */

static void test_seed004(void)
{
    /* Fig. 4.1: 32x32x3 -> 28x28x6 -> 24x24x10, 456 and 1510 parameters */
    dn_attrs a;
    dn_attrs_default(&a);
    a.units = 6, a.kernel[0] = a.kernel[1] = 5;
    harness h;
    CHECK(h_init(&h, &dn_opdef_conv2d, &a, (dn_shape){3, {3, 32, 32}}, 1) == DN_OK, "infer");
    CHECK(h.node.shape.dims[0] == 6 && h.node.shape.dims[1] == 28 && h.node.shape.dims[2] == 28 &&
              h.pn[0] + h.pn[1] == 456, "seed 004: 28x28x6 and 456 parameters, got %lld",
          (long long)(h.pn[0] + h.pn[1]));
    h_free(&h);
    a.units = 10;
    CHECK(h_init(&h, &dn_opdef_conv2d, &a, (dn_shape){3, {6, 28, 28}}, 1) == DN_OK, "infer");
    CHECK(h.node.shape.dims[1] == 24 && h.pn[0] + h.pn[1] == 1510,
          "seed 004: 24x24x10 and 1510 parameters, got %lld", (long long)(h.pn[0] + h.pn[1]));
    h_free(&h);

    /* transposed convolution, stride 2, I = K = [[0,1],[2,3]] */
    static const float want[16] = {0, 0, 0, 1, 0, 0, 2, 3, 0, 2, 0, 3, 4, 6, 6, 9};
    dn_attrs_default(&a);
    a.units = 1, a.kernel[0] = a.kernel[1] = 2, a.stride[0] = a.stride[1] = 2, a.use_bias = 0;
    for (int ref = 0; ref < 2; ref++) {
        CHECK(h_init(&h, &dn_opdef_conv2d_transpose, &a, (dn_shape){3, {1, 2, 2}}, 1) == DN_OK,
              "infer: %s", dn_last_error());
        for (int i = 0; i < 4; i++) h.in[i] = h.param[0][i] = (float)i;
        float r[16] = {0};
        h_run(&h, r, ref, 1);
        CHECK(h.out_numel == 16 && !memcmp(h.out, want, sizeof want),
              "seed 004 transposed convolution (%s): got %g %g %g %g / ... / %g %g %g %g",
              ref ? "ref" : "fast", h.out[0], h.out[1], h.out[2], h.out[3], h.out[12], h.out[13],
              h.out[14], h.out[15]);
        h_free(&h);
    }
}

/* --- pools and upsampling: fast == ref, small exact cases ------------------- */

static void test_pools(void)
{
    dn_attrs a;
    dn_attrs_default(&a);
    a.kernel[0] = a.kernel[1] = 2;
    harness h;
    /* 2x2 max pool of 0..15 on 4x4: [[5,7],[13,15]]; gradient to those */
    CHECK(h_init(&h, &dn_opdef_maxpool2d, &a, (dn_shape){3, {1, 4, 4}}, 1) == DN_OK, "infer");
    for (int i = 0; i < 16; i++) h.in[i] = (float)i;
    float r[4] = {1, 2, 3, 4};
    h_run(&h, r, 0, 1);
    CHECK(h.out[0] == 5 && h.out[1] == 7 && h.out[2] == 13 && h.out[3] == 15, "maxpool values");
    CHECK(h.gin[5] == 1 && h.gin[7] == 2 && h.gin[13] == 3 && h.gin[15] == 4 && h.gin[0] == 0,
          "maxpool gradient to the argmax");
    h_free(&h);
    /* every op: fast == ref on a larger case, 1 == 3 threads */
    const dn_op_def *defs[] = {&dn_opdef_maxpool2d, &dn_opdef_avgpool2d,
                               &dn_opdef_global_avgpool2d, &dn_opdef_upsample2d};
    a.kernel[0] = 3, a.kernel[1] = 2, a.stride[0] = 2, a.pad[0] = a.pad[1] = 1, a.pad[3] = 1;
    a.factor[0] = 3;
    for (int d = 0; d < 4; d++) {
        CHECK(h_init(&h, defs[d], &a, (dn_shape){3, {16, 19, 18}}, 9) == DN_OK, "%s infer: %s",
              defs[d]->name, dn_last_error());
        float *rr = zeros(h.out_numel), *o[3], *g[3];
        for (int64_t i = 0; i < h.out_numel; i++) rr[i] = frand(-1, 1);
        for (int k = 0; k < 3; k++) {
            h_run(&h, rr, k == 1, k == 2 ? 3 : 1);
            o[k] = zeros(h.out_numel), g[k] = zeros(h.in_numel);
            memcpy(o[k], h.out, (size_t)h.out_numel * 4);
            memcpy(g[k], h.gin, (size_t)h.in_numel * 4);
        }
        double *o64 = to_double(o[1], h.out_numel), *g64 = to_double(g[1], h.in_numel);
        CHECK(rel_err(o[0], o64, h.out_numel) < 1e-6 && rel_err(g[0], g64, h.in_numel) < 1e-6,
              "%s: fast and ref differ", defs[d]->name);
        CHECK(!memcmp(o[0], o[2], (size_t)h.out_numel * 4) &&
                  !memcmp(g[0], g[2], (size_t)h.in_numel * 4),
              "%s: 1 and 3 threads differ", defs[d]->name);
        for (int k = 0; k < 3; k++) free(o[k]), free(g[k]);
        free(rr), free(o64), free(g64);
        h_free(&h);
    }
}

/* --- errors ------------------------------------------------------------------ */

static void test_errors(void)
{
    dn_attrs a;
    dn_attrs_default(&a);
    harness h;
    a.units = 4, a.groups = 3;
    CHECK(h_init(&h, &dn_opdef_conv2d, &a, (dn_shape){3, {3, 5, 5}}, 1) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "groups=3 must divide"), "groups: %s", dn_last_error());
    a.groups = 1, a.kernel[0] = 7;
    CHECK(h_init(&h, &dn_opdef_conv2d, &a, (dn_shape){3, {3, 5, 5}}, 1) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "(3, 5, 5)"), "empty output: %s", dn_last_error());
    CHECK(h_init(&h, &dn_opdef_conv2d, &a, (dn_shape){2, {3, 25}}, 1) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "(channels, height, width)"), "rank: %s", dn_last_error());
    dn_attrs_default(&a);
    a.kernel[0] = a.kernel[1] = 2, a.pad[0] = 2;
    CHECK(h_init(&h, &dn_opdef_maxpool2d, &a, (dn_shape){3, {3, 5, 5}}, 1) == DN_ERR_INVALID &&
              strstr(dn_last_error(), "smaller than the window"), "pool pad: %s",
          dn_last_error());
}

int main(void)
{
    test_seed004();
    test_conv2d_case(2, 2, 5, 6, 3, 3, 2, 1, 1, 1, 1);   /* stride 2, padding */
    test_conv2d_case(3, 4, 6, 5, 4, 2, 1, 1, 2, 2, 1);   /* dilation, groups */
    test_conv2d_case(2, 3, 4, 4, 6, 3, 1, 1, 1, 3, 1);   /* depthwise, multiplier 2 */
    test_conv2d_case(2, 3, 4, 5, 2, 1, 1, 0, 1, 1, 1);   /* 1x1: the image is the column */
    test_conv2d_case(9, 8, 12, 10, 16, 3, 1, 1, 1, 1, 0); /* threads over samples and chunks */
    test_direct();
    test_pools();
    test_errors();
    if (failures) {
        printf("test_ops_conv: %d checks failed\n", failures);
        return 1;
    }
    printf("test_ops_conv: all checks passed\n");
    return 0;
}
