/* Winograd's minimal filtering F(2x2, 3x3) for CONV2D (Lavin and Gray,
 * "Fast Algorithms for Convolutional Neural Networks", 2016): each 2x2 tile
 * of outputs comes from the 4x4 tile d of the padded input that covers it,
 *   Y = A^T [ (G g G^T) (.) (B^T d B) ] A,
 * with the cross-correlation's matrices
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 * The 16 products of (.) summed over input channels are 16 GEMMs,
 *   M_xi (C_out, T) = U_xi (C_out, C_in) V_xi (C_in, T),  xi = 4 i + k,
 * which do 16 / 36 of im2col's multiply-adds for the same outputs (the
 * transforms are a few additions per value). The backward pass runs the
 * adjoints of the same linear maps (the seeds omit convolution's backward,
 * see conv.c): dM_xi = A dY_tile A^T, then
 *   dU_xi += dM_xi V_xi^T  and  dW = G^T dU G  (the weight gradient),
 *   dV_xi = U_xi^T dM_xi  and  dX += B dV B^T, tile by tile (overlapping
 *   tiles add).
 * The transforms vectorise over tiles: a plane is split once into its even
 * and odd columns, so that the column transform of a padded row reads
 * contiguous arrays, and its even and odd rows are kept apart, so that the
 * row transform covers every tile of a plane in one pass. The planes of V
 * and M lie a little more than a multiple of 4 KiB apart. One sample at a
 * time, in a fixed order. */
#include <string.h>
#include "internal.h"
#include "conv_winograd.h"

static int64_t up16(int64_t n) { return (n + 15) / 16 * 16; }

dn_wino dn_wino_geom(int64_t C, int64_t H, int64_t W, int64_t M, int64_t Ho, int64_t Wo,
                     int64_t pt, int64_t pl)
{
    dn_wino w;
    w.C = C, w.H = H, w.W = W, w.M = M, w.Ho = Ho, w.Wo = Wo, w.pt = pt, w.pl = pl;
    w.th = (Ho + 1) / 2, w.tw = (Wo + 1) / 2, w.T = w.th * w.tw;
    w.Hp = 2 * w.th + 2;
    /* the transforms read or write the 16 planes at once: a stride of a
     * multiple of 4 KiB would put all 16 streams in the same cache sets */
    w.vs = up16(C * w.T) + 16;
    w.ms = up16(M * w.T) + 16;
    return w;
}

int64_t dn_wino_filter_floats(const dn_wino *w) { return up16(16 * w->M * w->C); }

/* scratch: V (16 planes of vs) | M (16 planes of ms) | E, O (Hp, tw + 1) |
 * H (4 k, 2 parities, th + 1, tw) | twelve rows of T */
int64_t dn_wino_scratch_floats(const dn_wino *w)
{
    return 16 * w->vs + 16 * w->ms + up16(2 * w->Hp * (w->tw + 1)) +
           up16(8 * (w->th + 1) * w->tw) + up16(12 * w->T);
}

typedef struct wino_scratch {
    float *V, *Mt, *E, *O, *H, *tmp;
} wino_scratch;

static wino_scratch scratch_of(const dn_wino *w, float *s)
{
    wino_scratch p;
    p.V = s;
    p.Mt = p.V + 16 * w->vs;
    p.E = p.Mt + 16 * w->ms;
    p.O = p.E + w->Hp * (w->tw + 1);
    p.H = p.E + up16(2 * w->Hp * (w->tw + 1));
    p.tmp = p.H + up16(8 * (w->th + 1) * w->tw);
    return p;
}

/* --- the filter ------------------------------------------------------------ */

void dn_wino_filter(const dn_wino *w, const float *wt, float *U)
{
    const int64_t MC = w->M * w->C;
    for (int64_t co = 0; co < w->M; co++)
        for (int64_t ci = 0; ci < w->C; ci++) {
            const float *g = wt + (co * w->C + ci) * 9;
            float t[4][3], u[4][4];
            for (int j = 0; j < 3; j++) { /* t = G g */
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; i++) { /* u = t G^T */
                u[i][0] = t[i][0];
                u[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                u[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                u[i][3] = t[i][2];
            }
            for (int xi = 0; xi < 16; xi++) U[xi * MC + co * w->C + ci] = u[xi / 4][xi % 4];
        }
}

void dn_wino_filter_grad(const dn_wino *w, const float *dU, float *dW, int accumulate)
{
    const int64_t MC = w->M * w->C;
    for (int64_t co = 0; co < w->M; co++)
        for (int64_t ci = 0; ci < w->C; ci++) {
            float d[4][4], s[4][3];
            for (int xi = 0; xi < 16; xi++) d[xi / 4][xi % 4] = dU[xi * MC + co * w->C + ci];
            for (int i = 0; i < 4; i++) { /* s = d G */
                s[i][0] = d[i][0] + 0.5f * (d[i][1] + d[i][2]);
                s[i][1] = 0.5f * (d[i][1] - d[i][2]);
                s[i][2] = 0.5f * (d[i][1] + d[i][2]) + d[i][3];
            }
            float *g = dW + (co * w->C + ci) * 9;
            for (int j = 0; j < 3; j++) { /* G^T s */
                float g0 = s[0][j] + 0.5f * (s[1][j] + s[2][j]);
                float g1 = 0.5f * (s[1][j] - s[2][j]);
                float g2 = 0.5f * (s[1][j] + s[2][j]) + s[3][j];
                g[j] = (accumulate ? g[j] : 0.0f) + g0;
                g[3 + j] = (accumulate ? g[3 + j] : 0.0f) + g1;
                g[6 + j] = (accumulate ? g[6 + j] : 0.0f) + g2;
            }
        }
}

/* --- the input: V = B^T d B, and its adjoint ------------------------------- */

/* E, O (Hp, tw + 1) = the even and odd columns of the padded plane x (H, W):
 * padded row R, column c is x[R - pt][c - pl], zero outside. */
DN_TARGET_CLONES
static void split_plane(const dn_wino *w, const float *x, float *E, float *O)
{
    const int64_t n = w->tw + 1, pl = w->pl, W = w->W;
    /* columns 2b - pl and 2b + 1 - pl both inside the row for b in [b0, b1) */
    const int64_t b0 = DN_MIN((pl + 1) / 2, n), b1 = DN_MAX(b0, DN_MIN(n, (W + pl) / 2));
    for (int64_t R = 0; R < w->Hp; R++) {
        float *e = E + R * n, *o = O + R * n;
        const int64_t iy = R - w->pt;
        if (iy < 0 || iy >= w->H) {
            memset(e, 0, (size_t)n * sizeof(float));
            memset(o, 0, (size_t)n * sizeof(float));
            continue;
        }
        const float *row = x + iy * W;
        for (int64_t b = 0; b < n; b++) {
            if (b == b0) b = b1;
            if (b >= n) break;
            int64_t c0 = 2 * b - pl, c1 = c0 + 1;
            e[b] = c0 >= 0 && c0 < W ? row[c0] : 0.0f;
            o[b] = c1 >= 0 && c1 < W ? row[c1] : 0.0f;
        }
        for (int64_t b = b0; b < b1; b++) {
            e[b] = row[2 * b - pl];
            o[b] = row[2 * b + 1 - pl];
        }
    }
}

/* The column transform of one padded row: h_k[b] = (B^T applied to the
 * columns 2b .. 2b + 3)_k, h (4 rows of stride hs). */
DN_TARGET_CLONES
static void row_transform(const float *restrict e, const float *restrict o, float *restrict h,
                          int64_t hs, int64_t tw)
{
    for (int64_t b = 0; b < tw; b++) {
        h[b] = e[b] - e[b + 1];
        h[hs + b] = o[b] + e[b + 1];
        h[2 * hs + b] = e[b + 1] - o[b];
        h[3 * hs + b] = o[b] - o[b + 1];
    }
}

/* H holds, for each k, the column transforms of the even padded rows
 * (th + 1 rows of tw) and then of the odd ones: the rows 2a .. 2a + 3 of
 * tile row a are even row a, odd row a, even row a + 1, odd row a + 1, so
 * that the row transform of every tile is one pass over flat tile indices
 * j = a tw + b, row a + 1 being j + tw. */
static float *h_row(const dn_wino *w, float *H, int k, int64_t R)
{
    return H + ((2 * k + (R & 1)) * (w->th + 1) + R / 2) * w->tw;
}

/* The row transform of every tile of one (channel, k): v_i (4 planes of
 * stride vs, T each) = B^T applied to rows even a, odd a, even a + 1,
 * odd a + 1. */
DN_TARGET_CLONES
static void col_transform(const float *restrict he, const float *restrict ho, float *restrict v,
                          int64_t vs, int64_t T, int64_t tw)
{
    for (int64_t j = 0; j < T; j++) {
        float d0 = he[j], d1 = ho[j], d2 = he[j + tw], d3 = ho[j + tw];
        v[j] = d0 - d2;
        v[vs + j] = d1 + d2;
        v[2 * vs + j] = d2 - d1;
        v[3 * vs + j] = d1 - d3;
    }
}

/* V (16, C, T) = B^T d B of every tile of every channel of x (C, H, W). */
DN_TARGET_CLONES
static void input_transform(const dn_wino *w, const float *x, const wino_scratch *p)
{
    const int64_t tw = w->tw, n = tw + 1, vs = w->vs, hs = 2 * (w->th + 1) * tw;
    for (int64_t ci = 0; ci < w->C; ci++) {
        split_plane(w, x + ci * w->H * w->W, p->E, p->O);
        for (int64_t R = 0; R < w->Hp; R++)
            row_transform(p->E + R * n, p->O + R * n, h_row(w, p->H, 0, R), hs, tw);
        for (int k = 0; k < 4; k++)
            col_transform(h_row(w, p->H, k, 0), h_row(w, p->H, k, 1),
                          p->V + k * vs + ci * w->T, 4 * vs, w->T, tw);
    }
}

/* The adjoint of col_transform: the even and odd rows of one (channel, k),
 * th + 1 rows each, = B applied to v, written whole. */
DN_TARGET_CLONES
static void col_adjoint(const float *restrict v, int64_t vs, float *restrict he,
                        float *restrict ho, int64_t T, int64_t tw)
{
    for (int64_t j = 0; j < T; j++) {
        he[j] = v[j];
        ho[j] = v[vs + j] - v[2 * vs + j] + v[3 * vs + j];
    }
    for (int64_t j = T; j < T + tw; j++) he[j] = ho[j] = 0.0f;
    for (int64_t j = 0; j < T; j++) { /* row a + 1 */
        he[j + tw] += v[vs + j] + v[2 * vs + j] - v[j];
        ho[j + tw] -= v[3 * vs + j];
    }
}

/* The adjoint of row_transform: the padded row r (2 tw + 2) = B applied to
 * h, column 2b + j of tile b receiving its term j; two passes, so that
 * neither carries a dependence from one tile to the next. */
DN_TARGET_CLONES
static void row_adjoint(const float *restrict h, int64_t hs, float *restrict r, int64_t tw)
{
    for (int64_t b = 0; b < tw; b++) {
        r[2 * b] = h[b];
        r[2 * b + 1] = h[hs + b] - h[2 * hs + b] + h[3 * hs + b];
    }
    r[2 * tw] = r[2 * tw + 1] = 0.0f;
    for (int64_t b = 0; b < tw; b++) {
        r[2 * b + 2] += h[hs + b] + h[2 * hs + b] - h[b];
        r[2 * b + 3] -= h[3 * hs + b];
    }
}

/* dst (n) += src (n) */
DN_TARGET_CLONES
static void add_row(float *restrict dst, const float *restrict src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

/* gx (C, H, W) += B dV B^T of every tile, V (16, C, T) holding dV. */
static void input_adjoint(const dn_wino *w, float *gx, const wino_scratch *p)
{
    const int64_t tw = w->tw, vs = w->vs, hs = 2 * (w->th + 1) * tw;
    float *r = p->tmp;
    for (int64_t ci = 0; ci < w->C; ci++) {
        for (int k = 0; k < 4; k++)
            col_adjoint(p->V + k * vs + ci * w->T, 4 * vs, h_row(w, p->H, k, 0),
                        h_row(w, p->H, k, 1), w->T, tw);
        float *plane = gx + ci * w->H * w->W;
        for (int64_t iy = 0; iy < w->H; iy++) {
            const int64_t R = iy + w->pt;
            if (R >= w->Hp) break;
            row_adjoint(h_row(w, p->H, 0, R), hs, r, tw);
            add_row(plane + iy * w->W, r + w->pl, w->W); /* W + pl <= 2 tw + 2 */
        }
    }
}

/* --- the output: Y = A^T M A, and its adjoint --------------------------- */

/* Every tile of one output channel: m (16 planes of stride ms, n tiles
 * each) -> y (4 rows of n: the outputs y00, y01, y10, y11 of each tile). */
DN_TARGET_CLONES
static void tile_outputs(const float *restrict m, int64_t ms, float *restrict y, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        float r0[4], r1[4];
        for (int k = 0; k < 4; k++) {
            float m0 = m[k * ms + j], m1 = m[(4 + k) * ms + j], m2 = m[(8 + k) * ms + j],
                  m3 = m[(12 + k) * ms + j];
            r0[k] = m0 + m1 + m2;
            r1[k] = m1 - m2 - m3;
        }
        y[j] = r0[0] + r0[1] + r0[2];
        y[n + j] = r0[1] - r0[2] - r0[3];
        y[2 * n + j] = r1[0] + r1[1] + r1[2];
        y[3 * n + j] = r1[1] - r1[2] - r1[3];
    }
}

/* The plane y (Ho, Wo) from the four outputs of its tiles, t (4 rows of T),
 * the tiles past the last row or column cut. */
DN_TARGET_CLONES
static void interleave_plane(const dn_wino *w, const float *restrict t, float *restrict y)
{
    const int64_t tw = w->tw, T = w->T, Wo = w->Wo, half = Wo / 2;
    for (int64_t oy = 0; oy < w->Ho; oy++) {
        const int64_t a = oy / 2, i = oy & 1;
        const float *ev = t + 2 * i * T + a * tw, *od = ev + T;
        float *row = y + oy * Wo;
        for (int64_t b = 0; b < half; b++) {
            row[2 * b] = ev[b];
            row[2 * b + 1] = od[b];
        }
        if (Wo & 1) row[Wo - 1] = ev[half];
    }
}

/* y (M, Ho, Wo) = A^T M A of every tile, M (16, M, T) */
static void output_transform(const dn_wino *w, float *y, const wino_scratch *p)
{
    for (int64_t co = 0; co < w->M; co++) {
        tile_outputs(p->Mt + co * w->T, w->ms, p->tmp, w->T);
        interleave_plane(w, p->tmp, y + co * w->Ho * w->Wo);
    }
}

/* The adjoint of interleave_plane: t (4 rows of T) from dz (Ho, Wo), zero
 * for the cut outputs. */
DN_TARGET_CLONES
static void split_outputs(const dn_wino *w, const float *restrict dz, float *restrict t)
{
    const int64_t tw = w->tw, T = w->T, Wo = w->Wo, half = Wo / 2;
    if (w->Ho & 1) { /* the cut bottom row of the last tile row */
        float *ev = t + 2 * T + (w->th - 1) * tw, *od = ev + T;
        for (int64_t b = 0; b < tw; b++) ev[b] = od[b] = 0.0f;
    }
    for (int64_t oy = 0; oy < w->Ho; oy++) {
        const int64_t a = oy / 2, i = oy & 1;
        float *ev = t + 2 * i * T + a * tw, *od = ev + T;
        const float *row = dz + oy * Wo;
        for (int64_t b = 0; b < half; b++) {
            ev[b] = row[2 * b];
            od[b] = row[2 * b + 1];
        }
        if (Wo & 1) ev[half] = row[Wo - 1], od[half] = 0.0f;
    }
}

/* The adjoint of tile_outputs: m (16 planes of stride ms, n tiles each) =
 * A dY A^T from the four outputs of each tile, dy (4 rows of n); c (8 rows
 * of n) is scratch. Output row p gives c_p = (y_p0, y_p0 + y_p1,
 * y_p0 - y_p1, -y_p1), and m_ik = (c_0k, c_0k + c_1k, c_0k - c_1k, -c_1k)_i. */
DN_TARGET_CLONES
static void tile_output_adjoint(const float *restrict dy, float *restrict c, float *restrict m,
                                int64_t ms, int64_t n)
{
#pragma GCC ivdep
    for (int64_t j = 0; j < n; j++) {
        float a0 = dy[j], a1 = dy[n + j], b0 = dy[2 * n + j], b1 = dy[3 * n + j];
        c[j] = a0;
        c[n + j] = a0 + a1;
        c[2 * n + j] = a0 - a1;
        c[3 * n + j] = -a1;
        c[4 * n + j] = b0;
        c[5 * n + j] = b0 + b1;
        c[6 * n + j] = b0 - b1;
        c[7 * n + j] = -b1;
    }
    for (int k = 0; k < 4; k++) {
        const float *restrict c0 = c + k * n, *restrict c1 = c + (4 + k) * n;
        float *restrict m0 = m + k * ms, *restrict m1 = m + (4 + k) * ms;
        float *restrict m2 = m + (8 + k) * ms, *restrict m3 = m + (12 + k) * ms;
#pragma GCC ivdep
        for (int64_t j = 0; j < n; j++) {
            m0[j] = c0[j];
            m1[j] = c0[j] + c1[j];
            m2[j] = c0[j] - c1[j];
            m3[j] = -c1[j];
        }
    }
}

/* M (16, M, T) = the adjoint of output_transform applied to dz (M, Ho, Wo) */
static void output_adjoint(const dn_wino *w, const float *dz, const wino_scratch *p)
{
    for (int64_t co = 0; co < w->M; co++) {
        split_outputs(w, dz + co * w->Ho * w->Wo, p->tmp);
        tile_output_adjoint(p->tmp, p->tmp + 4 * w->T, p->Mt + co * w->T, w->ms, w->T);
    }
}

/* --- one sample -------------------------------------------------------------- */

void dn_wino_forward(const dn_wino *w, const float *U, const float *x, float *y,
                     float *scratch, int nthreads)
{
    const wino_scratch p = scratch_of(w, scratch);
    const int64_t M = w->M, C = w->C, T = w->T;
    input_transform(w, x, &p);
    for (int xi = 0; xi < 16; xi++)
        dn_sgemm(0, 0, M, T, C, 1.0f, U + xi * M * C, C, p.V + xi * w->vs, T, 0.0f,
                 p.Mt + xi * w->ms, T, NULL, nthreads);
    output_transform(w, y, &p);
}

void dn_wino_backward(const dn_wino *w, const float *U, const float *x, const float *dz,
                      float *dU, float beta, float *gx, float *scratch, int nthreads)
{
    const wino_scratch p = scratch_of(w, scratch);
    const int64_t M = w->M, C = w->C, T = w->T;
    input_transform(w, x, &p);
    output_adjoint(w, dz, &p);
    for (int xi = 0; dU && xi < 16; xi++)
        dn_sgemm(0, 1, M, C, T, 1.0f, p.Mt + xi * w->ms, T, p.V + xi * w->vs, T, beta,
                 dU + xi * M * C, C, NULL, nthreads);
    if (!gx) return;
    for (int xi = 0; xi < 16; xi++) /* dV overwrites V */
        dn_sgemm(1, 0, C, T, M, 1.0f, U + xi * M * C, C, p.Mt + xi * w->ms, T, 0.0f,
                 p.V + xi * w->vs, T, NULL, nthreads);
    input_adjoint(w, gx, &p);
}
