/* Tests of image augmentation (src/augment.c): the fast kernel against its
 * reference twin, shifts and flips against hand-written loops, rotations by
 * 0 and 90 degrees, the draws and their addressing, threads, the checks of
 * the config and the graph's setter. Exit status 0 when every check
 * passes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "dagnet/augment.h"

#include "check.h"

static void fill_random(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = frand(-1.0f, 1.0f);
}

/* Every kind of transform on odd shapes: the fast kernel equals the
 * reference bit for bit (they evaluate the same expressions). */
static void test_fast_matches_reference(void)
{
    static const int64_t shapes[][3] = {{1, 8, 8}, {3, 5, 7}, {2, 9, 4}, {1, 1, 3}};
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        const int64_t C = shapes[k][0], H = shapes[k][1], W = shapes[k][2], n = C * H * W;
        float *src = malloc((size_t)n * sizeof *src), *a = malloc((size_t)n * sizeof *a),
              *b = malloc((size_t)n * sizeof *b);
        fill_random(src, n);
        int bad = 0;
        for (int trial = 0; trial < 60; trial++) {
            dn_augment_draw t = {trial & 1, trial % 3 ? frand(-180.0f, 180.0f) : 0.0f,
                                 (int)frand(-(float)H, (float)H), (int)frand(-(float)W, (float)W)};
            dn_augment_apply(&t, 0.25f, src, C, H, W, a);
            dn_augment_apply_ref(&t, 0.25f, src, C, H, W, b);
            bad += memcmp(a, b, (size_t)n * sizeof *a) != 0;
        }
        CHECK(bad == 0, "shape (%lld, %lld, %lld): %d of 60 transforms differ from the reference",
              (long long)C, (long long)H, (long long)W, bad);
        free(src);
        free(a);
        free(b);
    }
}

/* Shifts and flips against the definition, written out directly. */
static void test_shift_flip_exact(void)
{
    enum { C = 2, H = 5, W = 6 };
    float src[C * H * W], out[C * H * W];
    fill_random(src, C * H * W);
    for (int flip = 0; flip < 2; flip++)
        for (int dy = -H; dy <= H; dy++)
            for (int dx = -W; dx <= W; dx++) {
                dn_augment_draw t = {flip, 0.0f, dy, dx};
                dn_augment_apply(&t, -3.0f, src, C, H, W, out);
                int bad = 0;
                for (int c = 0; c < C; c++)
                    for (int y = 0; y < H; y++)
                        for (int x = 0; x < W; x++) {
                            int sy = y - dy, sx = x - dx;
                            float want = -3.0f;
                            if (sy >= 0 && sy < H && sx >= 0 && sx < W)
                                want = src[(c * H + sy) * W + (flip ? W - 1 - sx : sx)];
                            bad += out[(c * H + y) * W + x] != want;
                        }
                CHECK(bad == 0, "flip %d shift (%d, %d): %d pixels wrong", flip, dy, dx, bad);
            }
}

/* 0 degrees with the rotation path is the identity; 90 degrees on a square
 * image is numpy's rot90: out(y, x) = in(x, W - 1 - y). */
static void test_rotation_known(void)
{
    enum { N = 7 };
    float src[N * N], out[N * N];
    fill_random(src, N * N);
    dn_augment_draw t = {0, 90.0f, 0, 0};
    dn_augment_apply(&t, 0.0f, src, 1, N, N, out);
    double err = 0;
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            err = fmax(err, fabs(out[y * N + x] - src[x * N + (N - 1 - y)]));
    CHECK(err < 1e-6, "rotation by 90 degrees is off rot90 by %g", err);
    t.degrees = -360.0f; /* the full turn goes through the bilinear path */
    dn_augment_apply(&t, 0.0f, src, 1, N, N, out);
    err = 0;
    for (int i = 0; i < N * N; i++) err = fmax(err, fabs(out[i] - src[i]));
    CHECK(err < 1e-6, "rotation by 360 degrees is off the identity by %g", err);
}

static void test_draws(void)
{
    dn_augment_config c = {3, 1, 15.0f, 0.0f};
    int flips = 0, seen[7] = {0};
    double lo = 0, hi = 0;
    for (int64_t i = 0; i < 4000; i++) {
        dn_augment_draw t, u;
        dn_augment_draw_sample(&c, 9, 2, i, &t);
        dn_augment_draw_sample(&c, 9, 2, i, &u);
        CHECK(memcmp(&t, &u, sizeof t) == 0, "row %lld: two draws differ", (long long)i);
        flips += t.flip;
        CHECK(t.dy >= -3 && t.dy <= 3 && t.dx >= -3 && t.dx <= 3, "shift (%d, %d) out of range",
              t.dy, t.dx);
        if (t.dy >= -3 && t.dy <= 3) seen[t.dy + 3]++;
        lo = fmin(lo, t.degrees);
        hi = fmax(hi, t.degrees);
        /* position 4 i of stream DN_AUGMENT_STREAM + epoch */
        CHECK(t.flip == (int)(dn_rng_u32(9, DN_AUGMENT_STREAM + 2, 4 * (uint64_t)i) >> 31),
              "row %lld: the flip is not word 4 i of the stream", (long long)i);
    }
    CHECK(abs(flips - 2000) < 200, "%d flips of 4000", flips);
    for (int k = 0; k < 7; k++)
        CHECK(seen[k] > 400, "shift %d drawn %d times of 4000", k - 3, seen[k]);
    CHECK(lo < -14.0 && lo >= -15.0 && hi > 14.0 && hi <= 15.0, "angles in [%g, %g]", lo, hi);
    /* switching the flip off leaves the other draws as they were */
    dn_augment_draw t, u;
    dn_augment_draw_sample(&c, 9, 2, 17, &t);
    c.flip = 0;
    dn_augment_draw_sample(&c, 9, 2, 17, &u);
    CHECK(u.flip == 0 && u.degrees == t.degrees && u.dy == t.dy && u.dx == t.dx,
          "the draws moved when the flip was switched off");
    dn_augment_draw_sample(&c, 9, 3, 17, &u);
    CHECK(u.degrees != t.degrees, "epochs 2 and 3 drew the same angle");
}

/* A batch: sample i is row rows[i] with that row's draw, the same for one
 * and several threads, and the reference mode gives the same. */
static void test_batch(void)
{
    enum { N = 300, C = 3, H = 12, W = 10, CHW = C * H * W };
    float *src = malloc(N * CHW * sizeof *src), *a = malloc(N * CHW * sizeof *a),
          *b = malloc(N * CHW * sizeof *b), *one = malloc(CHW * sizeof *one);
    int64_t rows[N];
    for (int i = 0; i < N; i++) rows[i] = (i * 7 + 3) % N;
    fill_random(src, N * CHW);
    dn_augment_config c = {2, 1, 20.0f, 0.5f};
    CHECK(dn_augment_batch(&c, src, rows, N, C, H, W, 5, 1, a, 1) == DN_OK, "%s", dn_last_error());
    CHECK(dn_augment_batch(&c, src, rows, N, C, H, W, 5, 1, b, 4) == DN_OK, "%s", dn_last_error());
    CHECK(memcmp(a, b, N * CHW * sizeof *a) == 0, "1 and 4 threads differ");
    int prev = dn_set_reference_mode(1);
    CHECK(dn_augment_batch(&c, src, rows, N, C, H, W, 5, 1, b, 4) == DN_OK, "%s", dn_last_error());
    dn_set_reference_mode(prev);
    CHECK(memcmp(a, b, N * CHW * sizeof *a) == 0, "the reference mode differs");
    int bad = 0;
    for (int i = 0; i < N; i++) {
        dn_augment_draw t;
        dn_augment_draw_sample(&c, 5, 1, rows[i], &t);
        dn_augment_apply_ref(&t, 0.5f, src + rows[i] * CHW, C, H, W, one);
        bad += memcmp(one, a + i * CHW, CHW * sizeof *one) != 0;
    }
    CHECK(bad == 0, "%d samples are not their row's transform", bad);
    free(src);
    free(a);
    free(b);
    free(one);
}

static void test_checks(void)
{
    const dn_augment_config bad[] = {
        {-1, 0, 0.0f, 0.0f}, {8, 0, 0.0f, 0.0f}, {0, 2, 0.0f, 0.0f},
        {0, 0, -1.0f, 0.0f}, {0, 0, 181.0f, 0.0f}, {0, 0, NAN, 0.0f}, {1, 0, 0.0f, INFINITY}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        CHECK(dn_augment_check(&bad[k], 8, 10) == DN_ERR_INVALID && dn_last_error()[0],
              "bad config %zu was accepted", k);
    const dn_augment_config good = {7, 1, 180.0f, -1.0f};
    CHECK(dn_augment_check(&good, 8, 10) == DN_OK, "%s", dn_last_error());
    CHECK(!dn_augment_enabled(NULL), "NULL is enabled");
}

static void test_graph_setter(void)
{
    dn_graph_t *g;
    int x, f;
    dn_shape img = {3, {1, 6, 6}}, flat = {1, {4}};
    dn_graph_new(&g);
    dn_graph_add_input(g, &img, &x);
    dn_graph_add_input(g, &flat, &f);
    dn_augment_config c = {1, 1, 0.0f, 0.0f};
    CHECK(dn_graph_set_augment(g, 0, &c) == DN_OK, "%s", dn_last_error());
    CHECK(dn_graph_set_augment(g, 1, &c) == DN_ERR_INVALID &&
          strstr(dn_last_error(), "(C, H, W)"), "a flat input was accepted: %s", dn_last_error());
    CHECK(dn_graph_set_augment(g, 2, &c) == DN_ERR_INVALID, "input 2 was accepted");
    c.max_shift = 6;
    CHECK(dn_graph_set_augment(g, 0, &c) == DN_ERR_INVALID &&
          strstr(dn_last_error(), "smaller than the image"), "a shift of 6 on 6 x 6 passed");
    dn_augment_config off = {0, 0, 0.0f, 0.0f};
    CHECK(dn_graph_set_augment(g, 1, &off) == DN_OK, "switching off failed: %s", dn_last_error());
    CHECK(dn_graph_set_augment(g, 0, NULL) == DN_OK, "NULL failed: %s", dn_last_error());
    dn_graph_free(g);
}

int main(void)
{
    test_fast_matches_reference();
    test_shift_flip_exact();
    test_rotation_known();
    test_draws();
    test_batch();
    test_checks();
    test_graph_setter();
    if (failures) printf("%d failures\n", failures);
    else printf("augment: all passed\n");
    return failures != 0;
}
