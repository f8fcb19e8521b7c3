/* The per-step arithmetic of the recurrent cells, forward and backward, for
 * the fast time loop of src/ops/recurrent.c: everything between the step's
 * recurrent products, row by row of the batch, in loops that vectorise
 * (src/ops/fastmath.h). The equations are those of include/dagnet/ops.h
 * ("Recurrent layers"): seed 003 sections 8.2 (RNN), 8.7 (GRU) and 8.8 (LSTM,
 * peepholes on c(t-1) for all three gates), seed 002 section 6.
 *
 * Backward, per gate, from the gate values kept by forward:
 *   LSTM: dc~ = dc + dh o (1 - tanh(c)^2);  da_i = dc~ g i (1 - i);
 *         da_f = dc~ c(t-1) f (1 - f);  da_g = dc~ i (1 - g^2);
 *         da_o = dh tanh(c) o (1 - o);
 *         dc(t-1) = dc~ f + p_i da_i + p_f da_f + p_o da_o
 *   GRU:  da_z = dh (h(t-1) - n) z (1 - z);  da_n = dh (1 - z) act'(n);
 *         dh(t-1) gets dh z directly, and through the reset gate:
 *         seeds' form, with d(r h) = da_n W_hn^T: da_r = d(r h) h(t-1) r (1 - r),
 *           dh(t-1) += d(r h) r;
 *         reset_after, with q = h(t-1) W_hn + b_hn: da_r = da_n q r (1 - r),
 *           dq = da_n r. */
#include "ops/recurrent.h"
#include "fastmath.h"

/* The per-unit helpers below must be inlined into their loops to vectorise. */
#if defined(__GNUC__)
#define CELL_INLINE static inline __attribute__((always_inline))
#else
#define CELL_INLINE static inline
#endif

/* --- LSTM ------------------------------------------------------------------ */

/* One unit: the gates from their pre-activations (peephole terms added),
 * the new cell and hidden state. */
CELL_INLINE void lstm_unit(float *gi, float *gf, float *gg, float *go, float cp, float pi,
                             float pf, float po, float *c, float *tc, float *h, float *y)
{
    float i = sigmoid_fast(*gi + pi * cp), f = sigmoid_fast(*gf + pf * cp);
    float o = sigmoid_fast(*go + po * cp);
    float u = tanh_fast(*gg);
    float cj = f * cp + i * u;
    float t = tanh_fast(cj);
    *gi = i;
    *gf = f;
    *gg = u;
    *go = o;
    *c = cj;
    *tc = t;
    *h = o * t;
    *y = o * t;
}

/* Two loops, with and without peepholes: a branch inside would stop gcc
 * from vectorising. */
DN_TARGET_CLONES
static void lstm_row_forward(float *restrict g, const float *restrict cp, float *restrict c,
                             float *restrict tc, float *restrict h, float *restrict y,
                             const float *restrict peep, int64_t H)
{
    float *restrict gi = g, *restrict gf = g + H, *restrict gg = g + 2 * H,
                    *restrict go = g + 3 * H;
    if (peep) {
        for (int64_t j = 0; j < H; j++)
            lstm_unit(gi + j, gf + j, gg + j, go + j, cp[j], peep[j], peep[H + j],
                      peep[2 * H + j], c + j, tc + j, h + j, y + j);
    } else {
        for (int64_t j = 0; j < H; j++)
            lstm_unit(gi + j, gf + j, gg + j, go + j, cp[j], 0.0f, 0.0f, 0.0f, c + j, tc + j,
                      h + j, y + j);
    }
}

CELL_INLINE void lstm_unit_backward(float i, float f, float u, float o, float t, float cp,
                                      float pi, float pf, float po, float *dh, float *dc,
                                      float *di, float *df, float *dgg, float *dgo)
{
    float dcc = *dc + *dh * o * (1.0f - t * t);
    float ai = dcc * u * i * (1.0f - i);
    float af = dcc * cp * f * (1.0f - f);
    float ag = dcc * i * (1.0f - u * u);
    float ao = *dh * t * o * (1.0f - o);
    *di = ai;
    *df = af;
    *dgg = ag;
    *dgo = ao;
    *dc = dcc * f + pi * ai + pf * af + po * ao;
    *dh = 0.0f;
}

DN_TARGET_CLONES
static void lstm_row_backward(const float *restrict g, const float *restrict cp,
                              const float *restrict tc, const float *restrict peep,
                              float *restrict dh, float *restrict dc, float *restrict dg, int64_t H)
{
    const float *restrict gi = g, *restrict gf = g + H, *restrict gg = g + 2 * H,
                          *restrict go = g + 3 * H;
    float *restrict di = dg, *restrict df = dg + H, *restrict dgg = dg + 2 * H,
                    *restrict dgo = dg + 3 * H;
    if (peep) {
        for (int64_t j = 0; j < H; j++)
            lstm_unit_backward(gi[j], gf[j], gg[j], go[j], tc[j], cp[j], peep[j], peep[H + j],
                               peep[2 * H + j], dh + j, dc + j, di + j, df + j, dgg + j, dgo + j);
    } else {
        for (int64_t j = 0; j < H; j++)
            lstm_unit_backward(gi[j], gf[j], gg[j], go[j], tc[j], cp[j], 0.0f, 0.0f, 0.0f, dh + j,
                               dc + j, di + j, df + j, dgg + j, dgo + j);
    }
}

/* --- GRU ------------------------------------------------------------------- */

/* r, z = sigmoid(a) in place over 2 H columns */
DN_TARGET_CLONES
static void sigmoid_inplace(float *restrict a, int64_t n)
{
    for (int64_t j = 0; j < n; j++) a[j] = sigmoid_fast(a[j]);
}

DN_TARGET_CLONES
static void gru_row_gates(float *restrict g, const float *restrict hp, float *restrict rh,
                          int64_t H)
{
    sigmoid_inplace(g, 2 * H);
    for (int64_t j = 0; j < H; j++) rh[j] = g[j] * hp[j];
}

/* reset_after: r, z, and the candidate's pre-activation a_n + r q, q kept */
DN_TARGET_CLONES
static void gru_row_gates_after(float *restrict g, const float *restrict hw, float *restrict q,
                                int64_t H)
{
    for (int64_t j = 0; j < 2 * H; j++) g[j] = sigmoid_fast(g[j] + hw[j]);
    for (int64_t j = 0; j < H; j++) {
        q[j] = hw[2 * H + j];
        g[2 * H + j] += g[j] * q[j];
    }
}

/* h = z h(t-1) + (1 - z) n, n already activated in g's last H columns */
DN_TARGET_CLONES
static void gru_row_blend(const float *restrict g, const float *restrict hp, float *restrict h,
                          float *restrict y, int64_t H)
{
    const float *z = g + H, *nn = g + 2 * H;
    for (int64_t j = 0; j < H; j++) {
        float v = z[j] * hp[j] + (1.0f - z[j]) * nn[j];
        h[j] = v;
        y[j] = v;
    }
}

/* da_z, da_n (n's derivative applied by the caller) and dh = z dh */
DN_TARGET_CLONES
static void gru_row_backward(const float *restrict g, const float *restrict hp,
                             float *restrict dh, float *restrict dg, int64_t H)
{
    const float *z = g + H, *nn = g + 2 * H;
    for (int64_t j = 0; j < H; j++) {
        float d = dh[j];
        dg[H + j] = d * (hp[j] - nn[j]) * z[j] * (1.0f - z[j]);
        dg[2 * H + j] = d * (1.0f - z[j]);
        dh[j] = d * z[j];
    }
}

/* reset_after: from da_n, da_r = da_n q r (1 - r) and dq = da_n r; dgh gets
 * (da_r, da_z, dq) */
DN_TARGET_CLONES
static void gru_row_backward_after(const float *restrict g, const float *restrict q,
                                   float *restrict dg, float *restrict dgh, int64_t H)
{
    const float *r = g;
    for (int64_t j = 0; j < H; j++) {
        float dan = dg[2 * H + j];
        float dr = dan * q[j] * r[j] * (1.0f - r[j]);
        dg[j] = dr;
        dgh[j] = dr;
        dgh[H + j] = dg[H + j];
        dgh[2 * H + j] = dan * r[j];
    }
}

DN_TARGET_CLONES
static void gru_row_reset_backward(const float *restrict g, const float *restrict hp,
                                   const float *restrict drh, float *restrict dh,
                                   float *restrict dg, int64_t H)
{
    const float *r = g;
    for (int64_t j = 0; j < H; j++) {
        dg[j] = drh[j] * hp[j] * r[j] * (1.0f - r[j]);
        dh[j] += drh[j] * r[j];
    }
}

/* --- the steps ----------------------------------------------------------- */

static void masked_row(const rnn_step *st, int64_t b)
{
    const int64_t H = st->d->H;
    memcpy(st->h + b * H, st->hp + b * H, (size_t)H * sizeof(float));
    if (st->c) memcpy(st->c + b * H, st->cp + b * H, (size_t)H * sizeof(float));
    memset(st->y + b * st->ldy, 0, (size_t)H * sizeof(float));
}

void gru_gates_forward(const rnn_step *st)
{
    const int64_t H = st->d->H, GH = st->d->GH;
    for (int64_t b = st->b0; b < st->b1; b++) {
        if (st->valid[b])
            gru_row_gates(st->g + b * GH, st->hr + b * H, st->aux + b * H, H);
        else
            memset(st->aux + b * H, 0, (size_t)H * sizeof(float));
    }
}

void rnn_cell_forward(const rnn_step *st)
{
    const rnn_dims *d = st->d;
    const int64_t H = d->H, GH = d->GH;
    for (int64_t b = st->b0; b < st->b1; b++) {
        if (!st->valid[b]) {
            masked_row(st, b);
            continue;
        }
        float *g = st->g + b * GH, *h = st->h + b * H, *y = st->y + b * st->ldy;
        switch (d->cell) {
        case DN_CELL_RNN: /* g is h's row, holding the pre-activation */
            dn_act_forward(d->act, d->alpha, g, h, H);
            memcpy(y, h, (size_t)H * sizeof(float));
            break;
        case DN_CELL_LSTM:
            lstm_row_forward(g, st->cp + b * H, st->c + b * H, st->tc + b * H, h, y, st->peep, H);
            break;
        case DN_CELL_GRU:
            if (d->reset_after) gru_row_gates_after(g, st->hw + b * GH, st->aux + b * H, H);
            dn_act_forward(d->act, d->alpha, g + 2 * H, g + 2 * H, H);
            gru_row_blend(g, st->hp + b * H, h, y, H);
            break;
        default: break;
        }
    }
}

void rnn_cell_backward(const rnn_step_grad *sg)
{
    const rnn_step *st = sg->st;
    const rnn_dims *d = st->d;
    const int64_t H = d->H, GH = d->GH;
    for (int64_t b = st->b0; b < st->b1; b++) {
        float *dg = sg->dg + b * GH, *dh = sg->dh + b * H;
        if (!st->valid[b]) {
            memset(dg, 0, (size_t)GH * sizeof(float));
            if (sg->dgh) memset(sg->dgh + b * GH, 0, (size_t)GH * sizeof(float));
            continue;
        }
        const float *g = st->g + b * GH;
        switch (d->cell) {
        case DN_CELL_RNN:
            memcpy(dg, dh, (size_t)H * sizeof(float));
            dn_act_backward_from_out(d->act, d->alpha, g, dg, H);
            memset(dh, 0, (size_t)H * sizeof(float));
            break;
        case DN_CELL_LSTM:
            lstm_row_backward(g, st->cp + b * H, st->tc + b * H, st->peep, dh, sg->dc + b * H, dg,
                              H);
            break;
        case DN_CELL_GRU:
            gru_row_backward(g, st->hp + b * H, dh, dg, H);
            dn_act_backward_from_out(d->act, d->alpha, g + 2 * H, dg + 2 * H, H);
            if (d->reset_after)
                gru_row_backward_after(g, st->aux + b * H, dg, sg->dgh + b * GH, H);
            break;
        default: break;
        }
    }
}

void gru_reset_backward(const rnn_step_grad *sg, const float *drh, float *dhr)
{
    const rnn_step *st = sg->st;
    const int64_t H = st->d->H, GH = st->d->GH;
    for (int64_t b = st->b0; b < st->b1; b++) {
        if (!st->valid[b]) continue;
        gru_row_reset_backward(st->g + b * GH, st->hr + b * H, drh + b * H, dhr + b * H,
                               sg->dg + b * GH, H);
    }
}
