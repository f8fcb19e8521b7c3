/* UPSAMPLE2D: nearest-neighbour upsampling of NCHW images by integer
 * factors (fh, fw): Y[c, y, x] = X[c, y / fh, x / fw], (C, H, W) ->
 * (C, H fh, W fw). Its vector-Jacobian product sums the gradient of each
 * fh x fw block back onto its source pixel (seed 000, section 4), block
 * rows in order. Threads take whole planes.
 */
#include <stdio.h>
#include "internal.h"

#define PAR_MIN_ELEMS 32768

static dn_status upsample_infer(dn_node *node)
{
    const dn_attrs *a = &node->attrs;
    const dn_shape *in = &node->in_shape[0];
    dn_status st = dn_node_expect_image(node, 0);
    if (st) return st;
    if (a->factor[0] < 1 || a->factor[1] < 1)
        return dn_fail_node(node, DN_ERR_INVALID, "factors (%lld, %lld) must be integers >= 1",
                            (long long)a->factor[0], (long long)a->factor[1]);
    int64_t H, W;
    if (!dn_mul_ok(in->dims[1], a->factor[0], &H) || !dn_mul_ok(in->dims[2], a->factor[1], &W))
        return dn_fail_node(node, DN_ERR_INVALID, "factors (%lld, %lld) make the images too "
                            "large to count in 64 bits; use smaller factors",
                            (long long)a->factor[0], (long long)a->factor[1]);
    node->shape = (dn_shape){3, {in->dims[0], H, W}};
    node->batched = node->in_batched[0];
    node->saved_per_sample = node->saved_fixed = node->ws_per_sample = node->ws_fixed = 0;
    return DN_OK;
}

typedef struct up_geom {
    int64_t planes, H, W, fh, fw;
} up_geom;

static up_geom up_geom_of(const dn_ctx *c)
{
    const dn_node *nd = c->node;
    up_geom g = {c->n * nd->in_shape[0].dims[0], nd->in_shape[0].dims[1],
                 nd->in_shape[0].dims[2], nd->attrs.factor[0], nd->attrs.factor[1]};
    return g;
}

static int up_threads(const dn_ctx *c, const up_geom *g)
{
    return c->nthreads > 1 && g->planes * g->H * g->W * g->fh * g->fw >= PAR_MIN_ELEMS
               ? c->nthreads : 1;
}

// out (n, C, H fh, W fw), in X (n, C, H, W)
static void upsample_run(const dn_ctx *c, int nt)
{
    up_geom g = up_geom_of(c);
    const int64_t Wo = g.W * g.fw, plane = g.H * g.W;
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t p = 0; p < g.planes; p++) {
        const float *x = c->in[0] + p * plane;
        float *y = c->out + p * plane * g.fh * g.fw;
        for (int64_t iy = 0; iy < g.H; iy++) {
            float *row = y + iy * g.fh * Wo;
            for (int64_t ix = 0; ix < g.W; ix++)
                for (int64_t k = 0; k < g.fw; k++) row[ix * g.fw + k] = x[iy * g.W + ix];
            for (int64_t r = 1; r < g.fh; r++)
                memcpy(row + r * Wo, row, (size_t)Wo * sizeof(float));
        }
    }
}

// gin X (n, C, H, W) += block sums of gout (n, C, H fh, W fw)
static void upsample_back_run(const dn_ctx *c, int nt)
{
    if (!c->gin[0]) return;
    up_geom g = up_geom_of(c);
    const int64_t Wo = g.W * g.fw, plane = g.H * g.W;
    const int fresh = c->gin_fresh & 1;
    (void)nt;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t p = 0; p < g.planes; p++) {
        float *gx = c->gin[0] + p * plane;
        const float *gy = c->gout + p * plane * g.fh * g.fw;
        for (int64_t iy = 0; iy < g.H; iy++)
            for (int64_t ix = 0; ix < g.W; ix++) {
                float s = fresh ? 0.0f : gx[iy * g.W + ix];
                for (int64_t r = 0; r < g.fh; r++)
                    for (int64_t k = 0; k < g.fw; k++)
                        s += gy[(iy * g.fh + r) * Wo + ix * g.fw + k];
                gx[iy * g.W + ix] = s;
            }
    }
}

static void upsample_forward_mt(const dn_ctx *c)
{
    up_geom g = up_geom_of(c);
    upsample_run(c, up_threads(c, &g));
}

static void upsample_backward_mt(const dn_ctx *c)
{
    up_geom g = up_geom_of(c);
    upsample_back_run(c, up_threads(c, &g));
}

/* The reference twins: the same loops on one thread. */
static void upsample_forward_ref(const dn_ctx *c) { upsample_run(c, 1); }
static void upsample_backward_ref(const dn_ctx *c) { upsample_back_run(c, 1); }

const dn_op_def dn_opdef_upsample2d = {
    DN_OP_UPSAMPLE2D, "upsample2d", 1, 1, DN_OPF_BWD_FRESH, upsample_infer,
    upsample_forward_mt, upsample_backward_mt, upsample_forward_ref, upsample_backward_ref};
