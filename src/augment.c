/* Image augmentation in the training loop (seed 000, section 6.6): a
 * horizontal flip, a rotation about the centre with bilinear interpolation
 * and an integer shift per sample, drawn from Philox by (seed, epoch, row).
 * include/dagnet/augment.h is the manual: the order of the transforms,
 * their formulas and where each draw comes from.
 *
 * Output pixel (y, x) of a sample is found by undoing the stages in
 * reverse: the shift gives (y - dy, x - dx) (fill outside the image), the
 * rotation the point (ys, xs) it reads, and the flip the input column of
 * each of its four bilinear neighbours. The fast kernel copies row segments
 * when there is no rotation and computes each pixel's neighbours and
 * weights once for all channels; the reference walks the same stages one
 * pixel and one channel at a time. Both evaluate the same expressions, so
 * they agree exactly. */
#include <math.h>
#include "graph_impl.h"
#include "dagnet/augment.h"

/* Floats in a batch below which it is transformed on one thread. */
#define AUGMENT_PAR_MIN_FLOATS 65536

int dn_augment_enabled(const dn_augment_config *c)
{
    return c && (c->max_shift != 0 || c->flip != 0 || c->max_degrees != 0.0f);
}

dn_status dn_augment_check(const dn_augment_config *c, int64_t H, int64_t W)
{
    if (!c) return DN_OK;
    if (c->max_shift < 0 || c->max_shift >= H || c->max_shift >= W)
        return dn_fail(DN_ERR_INVALID, "the augmentation shift is %d pixels; it must be >= 0 and "
                       "smaller than the image (%lld x %lld): use 0 to switch shifts off or a "
                       "few pixels to shift", c->max_shift, (long long)H, (long long)W);
    if (c->flip != 0 && c->flip != 1)
        return dn_fail(DN_ERR_INVALID, "the augmentation flip is %d; use 0 (off) or 1 (flip "
                       "with probability 0.5)", c->flip);
    if (!(c->max_degrees >= 0.0f && c->max_degrees <= 180.0f))
        return dn_fail(DN_ERR_INVALID, "the augmentation rotation is %g degrees; it must be in "
                       "[0, 180] (0 switches rotations off)", (double)c->max_degrees);
    if (!isfinite(c->fill_value))
        return dn_fail(DN_ERR_INVALID, "the augmentation fill value is %g; give a finite value "
                       "for the pixels brought in from outside the image",
                       (double)c->fill_value);
    return DN_OK;
}

/* An integer uniform in [-k, k] from one word (multiply-shift). */
static int uniform_int(uint32_t w, int k)
{
    return (int)(((uint64_t)w * (uint64_t)(2 * k + 1)) >> 32) - k;
}

void dn_augment_draw_sample(const dn_augment_config *c, uint64_t seed, uint64_t epoch,
                            int64_t index, dn_augment_draw *t)
{
    uint32_t w[4];
    dn_rng_fill_u32(seed, DN_AUGMENT_STREAM + epoch, 4 * (uint64_t)index, w, 4);
    t->flip = c->flip && (w[0] >> 31);
    t->degrees = c->max_degrees > 0.0f ? (2.0f * dn_u32_to_unit(w[1]) - 1.0f) * c->max_degrees
                                       : 0.0f;
    t->dy = c->max_shift > 0 ? uniform_int(w[2], c->max_shift) : 0;
    t->dx = c->max_shift > 0 ? uniform_int(w[3], c->max_shift) : 0;
}

/* The rotation of one sample: (ys, xs) = centre + R (point - centre). */
typedef struct rotation {
    double cs, sn, cy, cx;
} rotation;

static rotation rotation_of(const dn_augment_draw *t, int64_t H, int64_t W)
{
    const double a = (double)t->degrees * (3.14159265358979323846 / 180.0);
    rotation r = {cos(a), sin(a), 0.5 * (double)(H - 1), 0.5 * (double)(W - 1)};
    return r;
}

/* The four bilinear neighbours of the rotated point read by (y1, x1) (the
 * pixel after undoing the shift): offsets into a channel (-1: outside) and
 * weights, in the order (y0, x0), (y0, x0+1), (y0+1, x0), (y0+1, x0+1). */
static void neighbours(const rotation *r, int flip, int64_t H, int64_t W, int64_t y1,
                       int64_t x1, int64_t off[4], double wt[4])
{
    const double u = (double)x1 - r->cx, v = (double)y1 - r->cy;
    const double xs = r->cx + r->cs * u - r->sn * v;
    const double ys = r->cy + r->sn * u + r->cs * v;
    const double fx0 = floor(xs), fy0 = floor(ys);
    const double fx = xs - fx0, fy = ys - fy0;
    const int64_t x0 = (int64_t)fx0, y0 = (int64_t)fy0;
    for (int k = 0; k < 4; k++) {
        const int64_t yy = y0 + (k >> 1), xx = x0 + (k & 1);
        off[k] = yy >= 0 && yy < H && xx >= 0 && xx < W ? yy * W + (flip ? W - 1 - xx : xx) : -1;
    }
    wt[0] = (1.0 - fy) * (1.0 - fx);
    wt[1] = (1.0 - fy) * fx;
    wt[2] = fy * (1.0 - fx);
    wt[3] = fy * fx;
}

static float blend(const float *chan, const int64_t off[4], const double wt[4], float fill)
{
    double acc = 0.0;
    for (int k = 0; k < 4; k++) acc += wt[k] * (double)(off[k] >= 0 ? chan[off[k]] : fill);
    return (float)acc;
}

/* --- fast kernel ---------------------------------------------------------- */

/* No rotation: each output row is a segment of an input row (reversed when
 * flipped) between fill. */
static void shift_flip(const dn_augment_draw *t, float fill, const float *src, int64_t C,
                       int64_t H, int64_t W, float *dst)
{
    const int64_t xa = DN_MAX(0, t->dx), xb = DN_MIN(W, W + t->dx); /* x - dx in [0, W) */
    for (int64_t ch = 0; ch < C; ch++)
        for (int64_t y = 0; y < H; y++) {
            float *out = dst + (ch * H + y) * W;
            const int64_t sy = y - t->dy;
            if (sy < 0 || sy >= H || xa >= xb) {
                for (int64_t x = 0; x < W; x++) out[x] = fill;
                continue;
            }
            const float *row = src + (ch * H + sy) * W;
            for (int64_t x = 0; x < xa; x++) out[x] = fill;
            if (t->flip)
                for (int64_t x = xa; x < xb; x++) out[x] = row[W - 1 - (x - t->dx)];
            else
                memcpy(out + xa, row + (xa - t->dx), (size_t)(xb - xa) * sizeof(float));
            for (int64_t x = xb; x < W; x++) out[x] = fill;
        }
}

void dn_augment_apply(const dn_augment_draw *t, float fill, const float *src, int64_t C,
                      int64_t H, int64_t W, float *dst)
{
    if (t->degrees == 0.0f) {
        shift_flip(t, fill, src, C, H, W, dst);
        return;
    }
    const rotation r = rotation_of(t, H, W);
    const int64_t hw = H * W;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            const int64_t y1 = y - t->dy, x1 = x - t->dx;
            float *out = dst + y * W + x;
            if (y1 < 0 || y1 >= H || x1 < 0 || x1 >= W) {
                for (int64_t ch = 0; ch < C; ch++) out[ch * hw] = fill;
                continue;
            }
            int64_t off[4];
            double wt[4];
            neighbours(&r, t->flip, H, W, y1, x1, off, wt);
            for (int64_t ch = 0; ch < C; ch++) out[ch * hw] = blend(src + ch * hw, off, wt, fill);
        }
}

/* --- reference ------------------------------------------------------------ */

/* Pixel (y, x) of one channel, undoing shift, rotation and flip in turn. */
static float ref_pixel(const dn_augment_draw *t, const rotation *r, float fill,
                       const float *chan, int64_t H, int64_t W, int64_t y, int64_t x)
{
    const int64_t y1 = y - t->dy, x1 = x - t->dx; /* before the shift */
    if (y1 < 0 || y1 >= H || x1 < 0 || x1 >= W) return fill;
    if (t->degrees == 0.0f) return chan[y1 * W + (t->flip ? W - 1 - x1 : x1)];
    int64_t off[4];
    double wt[4];
    neighbours(r, t->flip, H, W, y1, x1, off, wt);
    return blend(chan, off, wt, fill);
}

void dn_augment_apply_ref(const dn_augment_draw *t, float fill, const float *src, int64_t C,
                          int64_t H, int64_t W, float *dst)
{
    const rotation r = rotation_of(t, H, W);
    for (int64_t ch = 0; ch < C; ch++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++)
                dst[(ch * H + y) * W + x] = ref_pixel(t, &r, fill, src + ch * H * W, H, W, y, x);
}

/* --- batches ---------------------------------------------------------------- */

dn_status dn_augment_batch(const dn_augment_config *c, const float *src, const int64_t *rows,
                           int64_t m, int64_t C, int64_t H, int64_t W, uint64_t seed,
                           uint64_t epoch, float *dst, int nthreads)
{
    if (!c || !src || !dst || m < 0 || C < 1 || H < 1 || W < 1)
        return dn_fail(DN_ERR_INVALID, "dn_augment_batch needs a config, source and destination "
                       "buffers, m >= 0 samples and C, H, W >= 1");
    dn_status s = dn_augment_check(c, H, W);
    if (s) return s;
    const int64_t chw = C * H * W;
    const int ref = dn_reference_mode();
    int nt = nthreads > 0 ? nthreads : dn_max_threads();
    nt = nt > 1 && m > 1 && m * chw >= AUGMENT_PAR_MIN_FLOATS ? nt : 1;
    (void)nt;
    #pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        const int64_t row = rows ? rows[i] : i;
        dn_augment_draw t;
        dn_augment_draw_sample(c, seed, epoch, row, &t);
        if (ref)
            dn_augment_apply_ref(&t, c->fill_value, src + row * chw, C, H, W, dst + i * chw);
        else
            dn_augment_apply(&t, c->fill_value, src + row * chw, C, H, W, dst + i * chw);
    }
    return DN_OK;
}

/* --- the graph's setting ------------------------------------------------------ */

dn_status dn_graph_set_augment(dn_graph_t *g, int input, const dn_augment_config *c)
{
    if (!g) return dn_fail(DN_ERR_INVALID, "the graph is NULL");
    if (!dn_augment_enabled(c)) {
        memset(&g->augment, 0, sizeof g->augment);
        return DN_OK;
    }
    if (input < 0 || input >= g->n_inputs)
        return dn_fail(DN_ERR_INVALID, "augmentation was asked for input %d; the graph has "
                       "inputs 0..%d", input, g->n_inputs - 1);
    const dn_node *nd = &g->nodes[g->inputs[input]];
    const dn_shape *sh = &nd->attrs.shape;
    if (sh->ndim != 3) {
        char buf[96];
        dn_shape_format(sh, buf, sizeof buf);
        return dn_fail(DN_ERR_INVALID, "augmentation transforms images, but input %d ('%s') has "
                       "per-sample shape %s; give it images of shape (C, H, W), e.g. digits "
                       "of 64 pixels as (1, 8, 8)", input, nd->name, buf);
    }
    dn_status s = dn_augment_check(c, sh->dims[1], sh->dims[2]);
    if (s) return s;
    g->augment = *c;
    g->augment_input = input;
    return DN_OK;
}
