/* The reference twin of RECURRENT: the equations of include/dagnet/ops.h
 * ("Recurrent layers") one sample and one step at a time, in plain loops
 * with libm's exp and tanh, and backpropagation through time written out
 * per step (seed 003 section 8.3): every parameter gradient is the sum of
 * its per-step terms. It keeps the same saved block as the fast kernels
 * (src/ops/recurrent.c) and shares nothing else with them. */
#include <math.h>
#include "ops/recurrent.h"

static float sig(float x) { return 1.0f / (1.0f + expf(-x)); }

static float act1(const rnn_dims *d, float x)
{
    float y;
    dn_act_forward(d->act, d->alpha, &x, &y, 1);
    return y;
}

/* act'(x) from y = act(x) */
static float act1_grad(const rnn_dims *d, float y)
{
    float g = 1.0f;
    dn_act_backward_from_out(d->act, d->alpha, &y, &g, 1);
    return g;
}

typedef struct ref_params {
    const float *wx, *wh, *bias, *peep, *bh;
} ref_params;

static ref_params params_of(const dn_ctx *c, const rnn_dims *d, int dir)
{
    ref_params p = {0};
    p.wx = c->param[0] + (int64_t)dir * d->F * d->GH;
    p.wh = c->param[1] + (int64_t)dir * d->H * d->GH;
    p.bias = d->p_bias >= 0 ? c->param[d->p_bias] + (int64_t)dir * d->GH : NULL;
    if (d->peep) p.peep = c->param[d->p_extra] + (int64_t)dir * 3 * d->H;
    if (d->reset_after && d->p_extra >= 0) p.bh = c->param[d->p_extra] + (int64_t)dir * d->GH;
    return p;
}

/* a (GH) = b + x Wx, and ah (GH) = h Wh (+ b_h): every gate column; the
 * seeds' GRU candidate's recurrent part is added later from r (.) h. */
static void preact(const rnn_dims *d, const ref_params *p, const float *x, const float *hp,
                   float *a, float *ah)
{
    for (int64_t k = 0; k < d->GH; k++) {
        float s = p->bias ? p->bias[k] : 0.0f;
        for (int64_t f = 0; f < d->F; f++) s += x[f] * p->wx[f * d->GH + k];
        a[k] = s;
        float r = p->bh ? p->bh[k] : 0.0f;
        for (int64_t j = 0; j < d->H; j++) r += hp[j] * p->wh[j * d->GH + k];
        ah[k] = r;
    }
}

void dn_recurrent_forward_ref(const dn_ctx *c)
{
    rnn_dims d;
    rnn_dims_of(c, &d);
    const int64_t n = d.n, T = d.T, F = d.F, H = d.H, GH = d.GH, DH = d.D * H;
    const int64_t ldy = (T + d.S) * DH;
    float *a = c->ws, *ah = a + GH, *hr = ah + GH;
    for (int dir = 0; dir < d.D; dir++) {
        const int rev = rnn_reversed(&d, dir);
        const rnn_saved sv = rnn_saved_of(c, &d, dir);
        const ref_params p = params_of(c, &d, dir);
        if (d.drop) rnn_draw_mask(c, &d, dir, &sv);
        for (int64_t b = 0; b < n; b++) {
            const int64_t s0 = rev ? T : 0;
            for (int64_t j = 0; j < H; j++) {
                sv.hs[(s0 * n + b) * H + j] = d.i_h0 >= 0 ? c->in[d.i_h0][b * DH + dir * H + j] : 0;
                if (sv.cs)
                    sv.cs[(s0 * n + b) * H + j] =
                        d.i_c0 >= 0 ? c->in[d.i_c0][b * DH + dir * H + j] : 0;
            }
            for (int64_t s = 0; s < T; s++) {
                const int64_t t = rnn_time(&d, dir, s), ps = t + rev, ns = t + 1 - rev;
                const float *hp = sv.hs + (ps * n + b) * H;
                float *h = sv.hs + (ns * n + b) * H;
                float *y = c->out + b * ldy + rnn_out_row(&d, t) * DH + dir * H;
                const float *cp = sv.cs ? sv.cs + (ps * n + b) * H : NULL;
                float *cc = sv.cs ? sv.cs + (ns * n + b) * H : NULL;
                if (!rnn_valid(&d, c, b, t)) {
                    for (int64_t j = 0; j < H; j++) {
                        h[j] = hp[j];
                        if (cc) cc[j] = cp[j];
                        y[j] = 0.0f;
                    }
                    if (sv.aux)
                        for (int64_t j = 0; j < H; j++) sv.aux[(t * n + b) * H + j] = 0.0f;
                    continue;
                }
                /* h(t-1) as the recurrent products read it (recurrent dropout) */
                for (int64_t j = 0; j < H; j++) hr[j] = d.drop ? hp[j] * sv.mask[b * H + j] : hp[j];
                preact(&d, &p, c->in[0] + (b * T + t) * F, hr, a, ah);
                float *g = sv.gates ? sv.gates + (t * n + b) * GH : NULL;
                for (int64_t j = 0; j < H; j++) {
                    if (d.cell == DN_CELL_RNN) {
                        h[j] = act1(&d, a[j] + ah[j]);
                    } else if (d.cell == DN_CELL_LSTM) {
                        float pi = p.peep ? p.peep[j] * cp[j] : 0.0f;
                        float pf = p.peep ? p.peep[H + j] * cp[j] : 0.0f;
                        float po = p.peep ? p.peep[2 * H + j] * cp[j] : 0.0f;
                        float i = sig(a[j] + ah[j] + pi), f = sig(a[H + j] + ah[H + j] + pf);
                        float u = tanhf(a[2 * H + j] + ah[2 * H + j]);
                        float o = sig(a[3 * H + j] + ah[3 * H + j] + po);
                        cc[j] = f * cp[j] + i * u;
                        sv.tc[(t * n + b) * H + j] = tanhf(cc[j]);
                        h[j] = o * tanhf(cc[j]);
                        g[j] = i, g[H + j] = f, g[2 * H + j] = u, g[3 * H + j] = o;
                    } else {
                        g[j] = sig(a[j] + ah[j]);
                        g[H + j] = sig(a[H + j] + ah[H + j]);
                    }
                }
                if (d.cell == DN_CELL_GRU) {
                    float *aux = sv.aux + (t * n + b) * H;
                    for (int64_t j = 0; j < H; j++)
                        aux[j] = d.reset_after ? ah[2 * H + j] : g[j] * hr[j];
                    for (int64_t k = 0; k < H; k++) {
                        float s2 = a[2 * H + k];
                        if (d.reset_after) {
                            s2 += g[k] * aux[k];
                        } else {
                            for (int64_t j = 0; j < H; j++) s2 += aux[j] * p.wh[j * GH + 2 * H + k];
                        }
                        g[2 * H + k] = act1(&d, s2);
                    }
                    for (int64_t j = 0; j < H; j++)
                        h[j] = g[H + j] * hp[j] + (1.0f - g[H + j]) * g[2 * H + j];
                }
                for (int64_t j = 0; j < H; j++) y[j] = h[j];
            }
            const int64_t sf = rev ? 0 : T;
            for (int64_t j = 0; j < H; j++) {
                c->out[b * ldy + T * DH + dir * H + j] = sv.hs[(sf * n + b) * H + j];
                if (sv.cs) c->out[b * ldy + (T + 1) * DH + dir * H + j] = sv.cs[(sf * n + b) * H + j];
            }
        }
    }
}

/* The gradients of one step of one sample: da (GH) for the input side, dah
 * (GH) for the recurrent product; dh, dc updated to those of the previous
 * step, except what flows through the recurrent product. hr = hp (.) m is
 * h(t-1) as the recurrent products read it (m NULL: no dropout). */
static void step_grads(const rnn_dims *d, const ref_params *p, const rnn_saved *sv, int64_t t,
                       int64_t b, const float *hp, const float *hr, const float *m,
                       const float *h, const float *cp, float *dh, float *dc, float *da,
                       float *dah, float *drh)
{
    const int64_t n = d->n, H = d->H, GH = d->GH;
    const float *g = sv->gates ? sv->gates + (t * n + b) * GH : NULL;
    for (int64_t j = 0; j < H; j++) {
        if (d->cell == DN_CELL_RNN) {
            da[j] = dh[j] * act1_grad(d, h[j]);
            dh[j] = 0.0f;
        } else if (d->cell == DN_CELL_LSTM) {
            float i = g[j], f = g[H + j], u = g[2 * H + j], o = g[3 * H + j];
            float tc = sv->tc[(t * n + b) * H + j];
            float dcc = dc[j] + dh[j] * o * (1.0f - tc * tc);
            da[j] = dcc * u * i * (1.0f - i);
            da[H + j] = dcc * cp[j] * f * (1.0f - f);
            da[2 * H + j] = dcc * i * (1.0f - u * u);
            da[3 * H + j] = dh[j] * tc * o * (1.0f - o);
            dc[j] = dcc * f;
            if (p->peep)
                dc[j] += p->peep[j] * da[j] + p->peep[H + j] * da[H + j] +
                         p->peep[2 * H + j] * da[3 * H + j];
            dh[j] = 0.0f;
        } else {
            float z = g[H + j], nn = g[2 * H + j];
            da[H + j] = dh[j] * (hp[j] - nn) * z * (1.0f - z);
            da[2 * H + j] = dh[j] * (1.0f - z) * act1_grad(d, nn);
            dh[j] *= z;
        }
    }
    for (int64_t k = 0; k < GH; k++) dah[k] = da[k];
    if (d->cell != DN_CELL_GRU) return;
    const float *aux = sv->aux + (t * n + b) * H;
    for (int64_t j = 0; j < H; j++) {
        float r = g[j];
        if (d->reset_after) {
            da[j] = dah[j] = da[2 * H + j] * aux[j] * r * (1.0f - r);
            dah[2 * H + j] = da[2 * H + j] * r;
        } else {
            float s = 0.0f;
            for (int64_t k = 0; k < H; k++) s += da[2 * H + k] * p->wh[j * GH + 2 * H + k];
            drh[j] = s;
        }
    }
    if (d->reset_after) return;
    for (int64_t j = 0; j < H; j++) {
        float r = g[j];
        da[j] = dah[j] = drh[j] * hr[j] * r * (1.0f - r);
        dh[j] += drh[j] * r * (m ? m[j] : 1.0f);
    }
}

void dn_recurrent_backward_ref(const dn_ctx *c)
{
    rnn_dims d;
    rnn_dims_of(c, &d);
    const int64_t n = d.n, T = d.T, F = d.F, H = d.H, GH = d.GH, DH = d.D * H;
    const int64_t ldy = (T + d.S) * DH;
    float *da = c->ws, *dah = da + GH, *dh = dah + GH, *dc = dh + H, *drh = dc + H;
    float *hr = drh + H;
    for (int dir = 0; dir < d.D; dir++) {
        const int rev = rnn_reversed(&d, dir);
        const rnn_saved sv = rnn_saved_of(c, &d, dir);
        const ref_params p = params_of(c, &d, dir);
        float *gwx = c->gparam[0] ? c->gparam[0] + (int64_t)dir * F * GH : NULL;
        float *gwh = c->gparam[1] ? c->gparam[1] + (int64_t)dir * H * GH : NULL;
        float *gb = d.p_bias >= 0 && c->gparam[d.p_bias] ? c->gparam[d.p_bias] + (int64_t)dir * GH
                                                          : NULL;
        float *gx = d.p_extra >= 0 ? c->gparam[d.p_extra] : NULL;
        for (int64_t b = 0; b < n; b++) {
            for (int64_t j = 0; j < H; j++) {
                dh[j] = c->gout[b * ldy + T * DH + dir * H + j];
                dc[j] = sv.cs ? c->gout[b * ldy + (T + 1) * DH + dir * H + j] : 0.0f;
            }
            for (int64_t s = T - 1; s >= 0; s--) {
                const int64_t t = rnn_time(&d, dir, s), ps = t + rev, ns = t + 1 - rev;
                if (rnn_valid(&d, c, b, t)) {
                    const float *gy = c->gout + b * ldy + rnn_out_row(&d, t) * DH + dir * H;
                    const float *hp = sv.hs + (ps * n + b) * H, *h = sv.hs + (ns * n + b) * H;
                    const float *cp = sv.cs ? sv.cs + (ps * n + b) * H : NULL;
                    const float *x = c->in[0] + (b * T + t) * F;
                    const float *m = d.drop ? sv.mask + b * H : NULL;
                    for (int64_t j = 0; j < H; j++) hr[j] = m ? hp[j] * m[j] : hp[j];
                    for (int64_t j = 0; j < H; j++) dh[j] += gy[j];
                    step_grads(&d, &p, &sv, t, b, hp, hr, m, h, cp, dh, dc, da, dah, drh);
                    /* dh(t-1) through the recurrent product */
                    for (int64_t j = 0; j < H; j++) {
                        float s2 = 0.0f;
                        int64_t kmax = (d.cell == DN_CELL_GRU && !d.reset_after) ? 2 * H : GH;
                        for (int64_t k = 0; k < kmax; k++) s2 += dah[k] * p.wh[j * GH + k];
                        dh[j] += m ? s2 * m[j] : s2;
                    }
                    if (c->gin[0])
                        for (int64_t f = 0; f < F; f++) {
                            float s2 = 0.0f;
                            for (int64_t k = 0; k < GH; k++) s2 += da[k] * p.wx[f * GH + k];
                            c->gin[0][(b * T + t) * F + f] += s2;
                        }
                    for (int64_t k = 0; k < GH; k++) {
                        if (gwx)
                            for (int64_t f = 0; f < F; f++) gwx[f * GH + k] += x[f] * da[k];
                        if (gb) gb[k] += da[k];
                        if (gwh) {
                            const float *src = hr;
                            if (d.cell == DN_CELL_GRU && !d.reset_after && k >= 2 * H)
                                src = sv.aux + (t * n + b) * H;
                            for (int64_t j = 0; j < H; j++) gwh[j * GH + k] += src[j] * dah[k];
                        }
                    }
                    if (gx && d.peep)
                        for (int64_t j = 0; j < H; j++) {
                            float *gp = gx + (int64_t)dir * 3 * H;
                            gp[j] += da[j] * cp[j];
                            gp[H + j] += da[H + j] * cp[j];
                            gp[2 * H + j] += da[3 * H + j] * cp[j];
                        }
                    else if (gx)
                        for (int64_t k = 0; k < GH; k++) gx[(int64_t)dir * GH + k] += dah[k];
                }
                if (d.trunc > 0 && s > 0 && s % d.trunc == 0)
                    for (int64_t j = 0; j < H; j++) dh[j] = dc[j] = 0.0f;
            }
            if (d.i_h0 >= 0 && c->gin[d.i_h0])
                for (int64_t j = 0; j < H; j++) c->gin[d.i_h0][b * DH + dir * H + j] += dh[j];
            if (d.i_c0 >= 0 && c->gin[d.i_c0])
                for (int64_t j = 0; j < H; j++) c->gin[d.i_c0][b * DH + dir * H + j] += dc[j];
        }
    }
}
