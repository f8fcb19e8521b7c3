/* dagnet/augment.h: random image transforms inside the training loop.
 *
 * Training-set augmentation modifies the examples before they enter the
 * network, to teach it invariances (seed 000, section 6.6). dagnet applies
 * three transforms to NCHW float32 images (per-sample shape (C, H, W)), in
 * this order, each sample with its own draws and every channel alike:
 *
 *   1. horizontal flip, with probability 0.5: out(y, x) = in(y, W - 1 - x);
 *   2. rotation by an angle uniform in [-max_degrees, max_degrees] about the
 *      image centre (cy, cx) = ((H - 1) / 2, (W - 1) / 2); positive angles
 *      turn the picture counter-clockwise as displayed with row 0 at the top
 *      (90 degrees is numpy's rot90 on a square image). Output pixel (y, x)
 *      reads the input at
 *          xs = cx + cos(t) (x - cx) - sin(t) (y - cy)
 *          ys = cy + sin(t) (x - cx) + cos(t) (y - cy)
 *      by bilinear interpolation, neighbours outside the image counting as
 *      the fill value;
 *   3. shift by integers (dy, dx), each uniform in [-max_shift, max_shift]:
 *      out(y, x) = in(y - dy, x - dx), the fill value where that falls
 *      outside the image.
 *
 * A transform whose setting is zero is skipped (a rotation by exactly 0
 * degrees copies pixels exactly). Pixels brought in from outside take
 * fill_value (0 by default, the zero padding of the seeds' convolutions).
 *
 * Randomness: sample `index` (its row in the data set) in epoch `epoch`
 * reads the four Philox words at positions 4 index .. 4 index + 3 of the
 * stream DN_AUGMENT_STREAM + epoch of the graph's seed (rng.h): word 0's top
 * bit is the flip, word 1 the angle, words 2 and 3 the shifts dy and dx. A
 * sample's transform therefore depends on (seed, epoch, row) only: not on
 * the batch size, the shuffle or the number of threads, and switching one
 * transform on or off leaves the draws of the others unchanged.
 *
 * Example: shifts of up to 2 pixels and flips for input 0 of a compiled
 * graph g, in every later dn_graph_train_epoch (never in forward, predict or
 * objective):
 *
 *   dn_augment_config a = {0};
 *   a.max_shift = 2;
 *   a.flip = 1;
 *   if (dn_graph_set_augment(g, 0, &a) != DN_OK) puts(dn_last_error());
 */
#ifndef DAGNET_AUGMENT_H
#define DAGNET_AUGMENT_H

#include <stdint.h>
#include "dagnet/status.h"
#include "dagnet/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The stream (plus the epoch) that augmentation draws from. */
#define DN_AUGMENT_STREAM 0x4155474d00000000ull /* "AUGM" */

/* What to draw; all zero is off. */
typedef struct dn_augment_config {
    int max_shift;      /* shifts in [-max_shift, max_shift] pixels; < H and < W */
    int flip;           /* 1: flip horizontally with probability 0.5 */
    float max_degrees;  /* rotations in [-max_degrees, max_degrees]; at most 180 */
    float fill_value;   /* pixels from outside the image (0) */
} dn_augment_config;

/* One sample's drawn transform. */
typedef struct dn_augment_draw {
    int flip;           /* 0 or 1 */
    float degrees;      /* counter-clockwise */
    int dy, dx;         /* shift down and right */
} dn_augment_draw;

/* DN_OK when c is valid for images of H x W pixels, else DN_ERR_INVALID
 * with a message saying which setting to change. */
dn_status dn_augment_check(const dn_augment_config *c, int64_t H, int64_t W);

/* 1 when c transforms anything (a NULL c does not). */
int dn_augment_enabled(const dn_augment_config *c);

/* The transform of data-set row `index` in epoch `epoch`. */
void dn_augment_draw_sample(const dn_augment_config *c, uint64_t seed, uint64_t epoch,
                            int64_t index, dn_augment_draw *t);

/* dst (C, H, W) = the transform t of src (C, H, W); src and dst must not
 * overlap. The _ref twin is the plain staged loop, one pixel and channel at
 * a time, that tests compare with. */
void dn_augment_apply(const dn_augment_draw *t, float fill_value, const float *src,
                      int64_t C, int64_t H, int64_t W, float *dst);
void dn_augment_apply_ref(const dn_augment_draw *t, float fill_value, const float *src,
                          int64_t C, int64_t H, int64_t W, float *dst);

/* Sample i of dst (m samples of C x H x W floats) is row rows[i] of src
 * transformed with the draw of (seed, epoch, rows[i]); rows NULL means rows
 * 0 .. m-1. Parallel over samples when the batch is large enough, with the
 * same result for any nthreads (<= 0: dn_max_threads()). Uses the _ref
 * twin in reference mode (cpu.h). */
dn_status dn_augment_batch(const dn_augment_config *c, const float *src, const int64_t *rows,
                           int64_t m, int64_t C, int64_t H, int64_t W, uint64_t seed,
                           uint64_t epoch, float *dst, int nthreads);

/* Augment input `input` of g (per-sample shape (C, H, W)) in every later
 * dn_graph_train_epoch, with the graph's seed and epoch counter; forward,
 * predict and objective never augment. One input at a time: each call
 * replaces the setting, and a NULL or all-zero config switches it off.
 * DN_ERR_INVALID, saying what to change, for an input that is not an
 * image or an invalid config (dn_augment_check). */
dn_status dn_graph_set_augment(dn_graph_t *g, int input, const dn_augment_config *c);

#ifdef __cplusplus
}
#endif
#endif
