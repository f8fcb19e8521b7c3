/* RECURRENT: RNN, LSTM and GRU layers over a whole sequence, forward and
 * backward through time (include/dagnet/ops.h, "Recurrent layers"; seed 002
 * section 6, seed 003 sections 8.2-8.3, 8.5, 8.7-8.8).
 *
 * The fast kernels work time-major inside (a step's rows are contiguous):
 *   forward:  X is copied time-major; its projection X W_x + b for all T n
 *             rows is one GEMM, written where the gates of each step go;
 *             each step adds h(t-1) W_h for all gates in one GEMM (two for
 *             the seeds' GRU, whose candidate reads r (.) h(t-1)) and runs
 *             the cell (src/ops/recurrent_cells.c). W_h is packed once per
 *             call in the GEMM's sliver layout (dn_sgemm_pack_b), so each
 *             step streams it in order instead of walking its rows 4 G H
 *             bytes apart (an LSTM of 256 units: 1 MB, more than a core's L2,
 *             read again every step). The gate values, states
 *             and tanh(c) that backward needs are kept in the node's saved
 *             block, nothing is allocated per step.
 *   backward: back through the steps, each one GEMM with W_h^T (two for
 *             the seeds' GRU) giving dL/dh(t-1); after the
 *             loop one GEMM over all steps for each weight gradient
 *             (dW_h = H_prev^T dA, dW_x = X^T dA) and one for dX.
 * A bidirectional layer runs its directions at once on two threads when it
 * has them, each on its own buffers; every GEMM sums each element in the
 * same order for any thread count, so results do not depend on it.
 *
 * Saved block, per direction, time-major (n rows per step):
 *   hs  (T + 1) n H  states; h(t) of a forward direction in slot t + 1 and h0
 *                    in slot 0, of a reversed one in slot t and h0 in slot T
 *   gates T n G H    gate values (not for an RNN: its pre-activations go in hs)
 *   cs  (T + 1) n H  LSTM cell states, slots as hs;  tc  T n H  tanh(c)
 *   aux T n H        GRU: r (.) h(t-1), or h(t-1) W_hn + b_hn (reset_after)
 */
#include <stdio.h>
#include "ops/recurrent.h"

/* Below this many elements of a step, its cell runs on one thread. */
#define CELL_PAR_MIN 16384
#define WS_ALIGN 16

static int n_states(const dn_attrs *a) { return a->cell == DN_CELL_LSTM ? 2 : 1; }
static int64_t n_gates(const dn_attrs *a)
{
    return a->cell == DN_CELL_LSTM ? 4 : a->cell == DN_CELL_GRU ? 3 : 1;
}

/* Saved floats per sample and per direction. */
static int64_t saved_per_dir(const dn_attrs *a, int64_t T, int64_t H)
{
    int64_t s = (T + 1) * H;
    if (a->cell != DN_CELL_RNN) s += T * n_gates(a) * H;
    if (a->cell == DN_CELL_LSTM) s += (T + 1) * H + T * H;
    if (a->cell == DN_CELL_GRU) s += T * H;
    if (a->recurrent_dropout > 0.0f) s += H + T * H; /* the mask, h(t-1) (.) mask */
    return s;
}

/* Floats of the packed recurrent kernel for forward (W_h; the seeds' GRU:
 * its r, z columns and its n columns apart) and for backward (W_h^T). */
static int64_t packed_fwd(const dn_attrs *a, int64_t H)
{
    if (a->cell == DN_CELL_GRU && !a->reset_after)
        return dn_sgemm_packed_floats(H, 2 * H) + dn_sgemm_packed_floats(H, H);
    return dn_sgemm_packed_floats(H, n_gates(a) * H);
}
static int64_t packed_bwd(const dn_attrs *a, int64_t H)
{
    if (a->cell == DN_CELL_GRU && !a->reset_after)
        return dn_sgemm_packed_floats(2 * H, H) + dn_sgemm_packed_floats(H, H);
    return dn_sgemm_packed_floats(n_gates(a) * H, H);
}

static dn_status recurrent_infer(dn_node *node)
{
    const dn_attrs *a = &node->attrs;
    if (a->cell < 0 || a->cell >= DN_CELL_COUNT)
        return dn_fail_node(node, DN_ERR_INVALID, "unknown recurrent cell %d", (int)a->cell);
    if (a->units < 1)
        return dn_fail_node(node, DN_ERR_INVALID, "units must be >= 1, got %lld",
                            (long long)a->units);
    if (a->directions != 1 && a->directions != 2)
        return dn_fail_node(node, DN_ERR_INVALID, "directions must be 1 or 2 (bidirectional), "
                            "got %d", a->directions);
    if (a->go_backwards && a->directions != 1)
        return dn_fail_node(node, DN_ERR_INVALID, "go_backwards applies to a one-direction "
                            "layer; a bidirectional layer already runs both ways");
    if (a->peepholes && a->cell != DN_CELL_LSTM)
        return dn_fail_node(node, DN_ERR_INVALID, "peepholes belong to an LSTM, not a %s",
                            dn_cell_name(a->cell));
    if (a->reset_after && a->cell != DN_CELL_GRU)
        return dn_fail_node(node, DN_ERR_INVALID, "reset_after belongs to a GRU, not a %s",
                            dn_cell_name(a->cell));
    if (!(a->recurrent_dropout >= 0.0f && a->recurrent_dropout < 1.0f))
        return dn_fail_node(node, DN_ERR_INVALID, "recurrent_dropout must be in [0, 1), got %g",
                            (double)a->recurrent_dropout);
    if (a->truncate < 0)
        return dn_fail_node(node, DN_ERR_INVALID, "truncate must be >= 0 (0: the whole "
                            "sequence), got %lld", (long long)a->truncate);
    if (a->cell != DN_CELL_LSTM && !dn_act_fusable(a->act))
        return dn_fail_node(node, DN_ERR_INVALID, "activation '%s' cannot be used in a recurrent "
                            "cell; use one whose derivative follows from its output (tanh, relu, "
                            "sigmoid, ...)", dn_act_name(a->act));
    const int n_state_in = node->n_in - 1 - (a->has_mask ? 1 : 0);
    if (n_state_in < 0 || n_state_in > n_states(a))
        return dn_fail_node(node, DN_ERR_INVALID, "a %s layer takes X%s and at most %d initial "
                            "state%s, got %d inputs", dn_cell_name(a->cell),
                            a->has_mask ? ", the mask" : "", n_states(a),
                            n_states(a) > 1 ? "s (h, c)" : " (h)", node->n_in);
    const dn_shape *x = &node->in_shape[0];
    if (!node->in_batched[0] || x->ndim != 2 || x->dims[0] < 1 || x->dims[1] < 1)
        return dn_fail_node(node, DN_ERR_INVALID, "a recurrent layer needs batched sequences of "
                            "shape (steps, features) per sample; reshape the input to (T, F)");
    const int64_t T = x->dims[0], F = x->dims[1], H = a->units, D = a->directions;
    if (a->has_mask) {
        const dn_shape *m = &node->in_shape[1];
        if (!node->in_batched[1] || m->ndim != 1 || m->dims[0] != T)
            return dn_fail_node(node, DN_ERR_INVALID, "the mask must have one entry per step "
                                "(%lld,) per sample", (long long)T);
    }
    for (int k = 1 + (a->has_mask ? 1 : 0); k < node->n_in; k++) {
        const dn_shape *s = &node->in_shape[k];
        if (!node->in_batched[k] || s->ndim != 1 || s->dims[0] != D * H)
            return dn_fail_node(node, DN_ERR_INVALID, "an initial state must have %lld values per "
                                "sample (directions x units)", (long long)(D * H));
    }
    const int64_t G = n_gates(a);
    node->shape.ndim = 2;
    node->shape.dims[0] = T + n_states(a);
    node->shape.dims[1] = D * H;
    node->batched = 1;
    /* one direction: the shapes without their leading 1 (Keras' and
     * PyTorch's, transposed as dagnet's dense weights are) */
    const int lead = D > 1;
    dn_shape wx = lead ? (dn_shape){3, {D, F, G * H}} : (dn_shape){2, {F, G * H}};
    dn_shape wh = lead ? (dn_shape){3, {D, H, G * H}} : (dn_shape){2, {H, G * H}};
    dn_shape b = lead ? (dn_shape){2, {D, G * H}} : (dn_shape){1, {G * H}};
    dn_node_param(node, "kernel", &wx, a->w_init, a->w_scale, F, G * H, 1, 1, 1);
    dn_node_param(node, "recurrent_kernel", &wh, a->w_init, a->w_scale, H, G * H, 1, 1, 1);
    if (a->use_bias) dn_node_param(node, "bias", &b, a->b_init, a->b_scale, F, G * H, 1, 0, 0);
    if (a->peepholes) {
        dn_shape p = lead ? (dn_shape){3, {D, 3, H}} : (dn_shape){2, {3, H}};
        dn_node_param(node, "peephole", &p, a->b_init, a->b_scale, H, H, 1, 0, 0);
    }
    if (a->reset_after && a->use_bias)
        dn_node_param(node, "recurrent_bias", &b, a->b_init, a->b_scale, H, G * H, 1, 0, 0);
    node->saved_per_sample = D * saved_per_dir(a, T, H);
    node->saved_fixed = 0;
    /* forward: X time-major, the valid flags, reset_after's h W_h, W_h
     * packed; backward adds per direction dA (twice with reset_after), the
     * carried dh, dc, the GRU's d(r h) and the gradient of the dropped
     * h(t-1), dX time-major, W_h^T packed, and
     * for an RNN or LSTM [X | H_prev] with its product */
    const int64_t ra = a->reset_after ? 1 : 0;
    const int64_t joint = a->cell != DN_CELL_GRU; /* [X | H_prev] for the kernels' gradient */
    node->ws_per_sample = 2 * T * F + 1 +
                          D * (T * G * H * (1 + ra) + 4 * H + G * H + joint * T * (F + H));
    node->ws_fixed = D * (packed_fwd(a, H) + packed_bwd(a, H) + joint * (F + H) * G * H) +
                     32 * WS_ALIGN;
    return DN_OK;
}

void rnn_dims_of(const dn_ctx *c, rnn_dims *d)
{
    const dn_node *nd = c->node;
    const dn_attrs *a = &nd->attrs;
    memset(d, 0, sizeof *d);
    d->cell = a->cell;
    d->act = a->act;
    d->alpha = a->alpha;
    d->n = c->n;
    d->T = nd->in_shape[0].dims[0];
    d->F = nd->in_shape[0].dims[1];
    d->H = a->units;
    d->G = n_gates(a);
    d->GH = d->G * d->H;
    d->D = a->directions;
    d->S = n_states(a);
    d->go_backwards = a->go_backwards != 0;
    d->peep = a->peepholes != 0;
    d->reset_after = a->reset_after != 0;
    d->bias = a->use_bias != 0;
    d->trunc = a->truncate;
    d->drop_rate = a->recurrent_dropout;
    d->drop = c->training && a->recurrent_dropout > 0.0f;
    int k = 1;
    d->i_mask = a->has_mask ? k++ : -1;
    d->i_h0 = k < nd->n_in ? k++ : -1;
    d->i_c0 = k < nd->n_in ? k++ : -1;
    k = 2;
    d->p_bias = a->use_bias ? k++ : -1;
    d->p_extra = (a->peepholes || (a->reset_after && a->use_bias)) ? k++ : -1;
}

/* --- buffers -------------------------------------------------------------- */

rnn_saved rnn_saved_of(const dn_ctx *c, const rnn_dims *d, int dir)
{
    const int64_t n = d->n, T = d->T, H = d->H;
    float *p = c->saved + (int64_t)dir * n * saved_per_dir(&c->node->attrs, T, H);
    rnn_saved s = {0};
    s.hs = p;
    p += (T + 1) * n * H;
    if (d->cell != DN_CELL_RNN) {
        s.gates = p;
        p += T * n * d->GH;
    }
    if (d->cell == DN_CELL_LSTM) {
        s.cs = p;
        p += (T + 1) * n * H;
        s.tc = p;
        p += T * n * H;
    }
    if (d->cell == DN_CELL_GRU) {
        s.aux = p;
        p += T * n * H;
    }
    if (c->node->attrs.recurrent_dropout > 0.0f) {
        s.mask = p;
        p += n * H;
        s.hd = p;
    }
    return s;
}

void rnn_draw_mask(const dn_ctx *c, const rnn_dims *d, int dir, const rnn_saved *sv)
{
    const int64_t len = d->n * d->H;
    const float keep = (float)(1.0 / (1.0 - (double)d->drop_rate));
    dn_rng_uniform(c->seed, c->stream, (uint64_t)(dir * len), sv->mask, len);
    for (int64_t i = 0; i < len; i++) sv->mask[i] = sv->mask[i] >= d->drop_rate ? keep : 0.0f;
}

/* out (rows) = a (.) b */
DN_TARGET_CLONES
static void mul_rows(float *restrict out, const float *restrict a, const float *restrict b,
                     int64_t n)
{
    for (int64_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}

/* y += x (.) m */
DN_TARGET_CLONES
static void add_mul_rows(float *restrict y, const float *restrict x, const float *restrict m,
                         int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += x[i] * m[i];
}

/* A bump allocator over the node's scratch. */
typedef struct bump {
    float *p;
} bump;

static float *take(bump *b, int64_t floats)
{
    float *r = b->p;
    b->p += (floats + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
    return r;
}

/* dst (T n, F) time-major from src (n, T, F), or back, adding. */
static void to_time_major(const float *src, float *dst, int64_t n, int64_t T, int64_t F)
{
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < n; b++)
            memcpy(dst + (t * n + b) * F, src + (b * T + t) * F, (size_t)F * sizeof(float));
}

static void add_from_time_major(const float *src, float *dst, int64_t n, int64_t T, int64_t F)
{
    for (int64_t b = 0; b < n; b++)
        for (int64_t t = 0; t < T; t++) {
            const float *s = src + (t * n + b) * F;
            float *o = dst + (b * T + t) * F;
            for (int64_t f = 0; f < F; f++) o[f] += s[f];
        }
}

static void valid_flags(const dn_ctx *c, const rnn_dims *d, int64_t t, unsigned char *valid)
{
    for (int64_t b = 0; b < d->n; b++) valid[b] = (unsigned char)rnn_valid(d, c, b, t);
}

/* out (n, H) = state input k's columns of direction dir, or zeros */
static void initial_state(const dn_ctx *c, const rnn_dims *d, int k, int dir, float *out)
{
    const int64_t H = d->H, DH = d->D * d->H;
    for (int64_t b = 0; b < d->n; b++) {
        if (k >= 0)
            memcpy(out + b * H, c->in[k] + b * DH + dir * H, (size_t)H * sizeof(float));
        else
            memset(out + b * H, 0, (size_t)H * sizeof(float));
    }
}

/* Threads for one step's cell: whole blocks of rows, the same arithmetic
 * per row for any count. */
static int cell_threads(const rnn_dims *d, int nthreads)
{
    return nthreads > 1 && d->n > 1 && d->n * d->GH >= CELL_PAR_MIN
               ? (int)DN_MIN((int64_t)nthreads, d->n) : 1;
}

static void run_cell(rnn_step st, int nt, int backward, rnn_step_grad sg, int gates_only)
{
    const int64_t n = st.d->n;
    if (nt <= 1) {
        st.b0 = 0;
        st.b1 = n;
        sg.st = &st;
        if (gates_only) gru_gates_forward(&st);
        else if (backward) rnn_cell_backward(&sg);
        else rnn_cell_forward(&st);
        return;
    }
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int k = 0; k < nt; k++) {
        rnn_step s = st;
        rnn_step_grad g = sg;
        s.b0 = n * k / nt;
        s.b1 = n * (k + 1) / nt;
        g.st = &s;
        if (gates_only) gru_gates_forward(&s);
        else if (backward) rnn_cell_backward(&g);
        else rnn_cell_forward(&s);
    }
}

/* --- forward --------------------------------------------------------------- */

/* The buffers of step t (of a direction running reversed when rev). */
static rnn_step step_at(const rnn_dims *d, const rnn_saved *sv, int64_t t, int rev,
                        const float *peep, const unsigned char *valid)
{
    const int64_t n = d->n, H = d->H, ps = t + rev, ns = t + 1 - rev;
    rnn_step st = {0};
    st.d = d;
    st.hp = sv->hs + ps * n * H;
    st.h = sv->hs + ns * n * H;
    st.g = d->cell == DN_CELL_RNN ? st.h : sv->gates + t * n * d->GH;
    if (sv->cs) {
        st.cp = sv->cs + ps * n * H;
        st.c = sv->cs + ns * n * H;
        st.tc = sv->tc + t * n * H;
    }
    st.aux = sv->aux ? sv->aux + t * n * H : NULL;
    st.hr = d->drop ? sv->hd + t * n * H : st.hp;
    st.peep = peep;
    st.valid = valid;
    return st;
}

/* One direction; xt is X time-major (T n, F), valid (n) scratch, hw (n, GH)
 * scratch for reset_after. */
static void forward_dir(const dn_ctx *c, const rnn_dims *d, int dir, const float *xt,
                        unsigned char *valid, float *hw, float *pk, int nthreads)
{
    const int64_t n = d->n, T = d->T, F = d->F, H = d->H, GH = d->GH, DH = d->D * H;
    const int rev = rnn_reversed(d, dir);
    const rnn_saved sv = rnn_saved_of(c, d, dir);
    const float *wx = c->param[0] + (int64_t)dir * F * GH;
    const float *wh = c->param[1] + (int64_t)dir * H * GH;
    const float *bias = d->p_bias >= 0 ? c->param[d->p_bias] + (int64_t)dir * GH : NULL;
    const float *extra = d->p_extra >= 0 ? c->param[d->p_extra] : NULL;
    const float *peep = d->peep ? extra + (int64_t)dir * 3 * H : NULL;
    const float *bh = (d->reset_after && extra) ? extra + (int64_t)dir * GH : NULL;
    const int64_t ldy = (T + d->S) * DH;
    /* the input projection of every step */
    float *xp = d->cell == DN_CELL_RNN ? sv.hs + (rev ? 0 : 1) * n * H : sv.gates;
    dn_gemm_epilogue ep = {bias, DN_ACT_IDENTITY, 0.0f};
    dn_sgemm_run(0, 0, T * n, GH, F, 1.0f, xt, F, wx, GH, 0.0f, xp, GH, &ep, nthreads);
    /* W_h packed once for all steps (the seeds' GRU: its r, z and n columns) */
    const int seeds_gru = d->cell == DN_CELL_GRU && !d->reset_after;
    float *pk2 = pk + (seeds_gru ? dn_sgemm_packed_floats(H, 2 * H) : 0);
    dn_sgemm_pack_b(0, H, seeds_gru ? 2 * H : GH, wh, GH, pk);
    if (seeds_gru) dn_sgemm_pack_b(0, H, H, wh + 2 * H, GH, pk2);
    if (d->drop) rnn_draw_mask(c, d, dir, &sv);
    const int64_t s0 = rev ? T : 0;
    initial_state(c, d, d->i_h0, dir, sv.hs + s0 * n * H);
    if (sv.cs) initial_state(c, d, d->i_c0, dir, sv.cs + s0 * n * H);
    const int nt = cell_threads(d, nthreads);
    rnn_step_grad none = {0};
    for (int64_t s = 0; s < T; s++) {
        const int64_t t = rnn_time(d, dir, s);
        rnn_step st = step_at(d, &sv, t, rev, peep, valid);
        st.hw = hw;
        st.y = c->out + rnn_out_row(d, t) * DH + dir * H;
        st.ldy = ldy;
        valid_flags(c, d, t, valid);
        if (d->drop) mul_rows((float *)st.hr, st.hp, sv.mask, n * H);
        if (seeds_gru) {
            dn_sgemm_packed(n, 2 * H, H, 1.0f, st.hr, H, pk, 1.0f, st.g, GH, NULL, nthreads);
            run_cell(st, nt, 0, none, 1);
            dn_sgemm_packed(n, H, H, 1.0f, st.aux, H, pk2, 1.0f, st.g + 2 * H, GH, NULL,
                            nthreads);
        } else if (d->reset_after) {
            dn_gemm_epilogue eph = {bh, DN_ACT_IDENTITY, 0.0f};
            dn_sgemm_packed(n, GH, H, 1.0f, st.hr, H, pk, 0.0f, hw, GH, &eph, nthreads);
        } else {
            dn_sgemm_packed(n, GH, H, 1.0f, st.hr, H, pk, 1.0f, st.g, GH, NULL, nthreads);
        }
        run_cell(st, nt, 0, none, 0);
    }
    /* the final states */
    const int64_t sf = rev ? 0 : T;
    for (int64_t b = 0; b < n; b++) {
        float *y = c->out + b * ldy + dir * H;
        memcpy(y + T * DH, sv.hs + (sf * n + b) * H, (size_t)H * sizeof(float));
        if (sv.cs) memcpy(y + (T + 1) * DH, sv.cs + (sf * n + b) * H, (size_t)H * sizeof(float));
    }
}

typedef struct fwd_scratch {
    float *xt;
    unsigned char *valid[2];
    float *hw[2];
    float *pk[2];
} fwd_scratch;

static fwd_scratch forward_scratch(const dn_ctx *c, const rnn_dims *d, bump *bp)
{
    fwd_scratch f;
    f.xt = take(bp, d->T * d->n * d->F);
    for (int dir = 0; dir < 2; dir++) {
        f.valid[dir] = (unsigned char *)take(bp, (d->n + 3) / 4);
        f.hw[dir] = d->reset_after && dir < d->D ? take(bp, d->n * d->GH) : NULL;
        f.pk[dir] = dir < d->D ? take(bp, packed_fwd(&c->node->attrs, d->H)) : NULL;
    }
    to_time_major(c->in[0], f.xt, d->n, d->T, d->F);
    return f;
}

static void recurrent_forward(const dn_ctx *c)
{
    rnn_dims d;
    rnn_dims_of(c, &d);
    bump bp = {c->ws};
    fwd_scratch f = forward_scratch(c, &d, &bp);
    if (d.D == 2 && c->nthreads > 1) {
        #pragma omp parallel for num_threads(2) schedule(static)
        for (int dir = 0; dir < 2; dir++) forward_dir(c, &d, dir, f.xt, f.valid[dir], f.hw[dir], f.pk[dir], 1);
        return;
    }
    for (int dir = 0; dir < d.D; dir++)
        forward_dir(c, &d, dir, f.xt, f.valid[dir], f.hw[dir], f.pk[dir], c->nthreads);
}

/* --- backward -------------------------------------------------------------- */

typedef struct dir_grads {
    float *dA, *dAh;  /* (T n, GH): dL/d(gate pre-activations); of h W_h + b_h */
    float *xh, *gw;   /* RNN, LSTM: [X | H_prev] (T n, F + H) and its product with dA */
    float *dh, *dc, *drh, *wt; /* wt: W_h^T packed */
    float *dhr;                /* recurrent dropout: the gradient of h(t-1) (.) mask */
    unsigned char *valid;
} dir_grads;

/* y (n) += x */
DN_TARGET_CLONES
static void add_rows(float *restrict y, const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

/* out (cols) += column sums of m (rows, cols, ld), row after row; threads
 * take blocks of columns, so each sum has the same order for any count. */
#define COLSUM_BLOCK 128
DN_TARGET_CLONES
static void add_col_sums_block(const float *restrict m, int64_t rows, int64_t cols, int64_t ld,
                               float *restrict out)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *row = m + r * ld;
        for (int64_t j = 0; j < cols; j++) out[j] += row[j];
    }
}

static void add_col_sums(const float *m, int64_t rows, int64_t cols, int64_t ld, float *out,
                         int nthreads)
{
    const int64_t nblk = (cols + COLSUM_BLOCK - 1) / COLSUM_BLOCK;
    const int nt = nthreads > 1 && rows * cols >= CELL_PAR_MIN ? (int)DN_MIN(nthreads, nblk) : 1;
    (void)nt;
    #pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t k = 0; k < nblk; k++) {
        const int64_t j0 = k * COLSUM_BLOCK;
        add_col_sums_block(m + j0, rows, DN_MIN(COLSUM_BLOCK, cols - j0), ld, out + j0);
    }
}

/* The gradients of the peepholes (3, H): rows i, f, o of sum dA_gate (.) c(t-1). */
static void peephole_grads(const float *dA, const float *cprev, int64_t rows, int64_t H,
                           float *gp)
{
    static const int gate[3] = {0, 1, 3};
    for (int k = 0; k < 3; k++)
        for (int64_t r = 0; r < rows; r++) {
            const float *a = dA + r * 4 * H + gate[k] * H, *cp = cprev + r * H;
            for (int64_t j = 0; j < H; j++) gp[k * H + j] += a[j] * cp[j];
        }
}

static void backward_dir(const dn_ctx *c, const rnn_dims *d, int dir, const float *xt,
                         dir_grads *gr, int nthreads)
{
    const int64_t n = d->n, T = d->T, F = d->F, H = d->H, GH = d->GH, DH = d->D * H;
    const int rev = rnn_reversed(d, dir);
    const rnn_saved sv = rnn_saved_of(c, d, dir);
    const float *wh = c->param[1] + (int64_t)dir * H * GH;
    const float *extra = d->p_extra >= 0 ? c->param[d->p_extra] : NULL;
    const float *peep = d->peep ? extra + (int64_t)dir * 3 * H : NULL;
    const int64_t ldy = (T + d->S) * DH;
    const float *gy = c->gout;
    /* W_h^T (GH, H) packed once for all steps (the seeds' GRU: W_rz^T and
     * W_n^T apart) */
    const int seeds_gru = d->cell == DN_CELL_GRU && !d->reset_after;
    float *wt_n = gr->wt + (seeds_gru ? dn_sgemm_packed_floats(2 * H, H) : 0);
    dn_sgemm_pack_b(1, seeds_gru ? 2 * H : GH, H, wh, GH, gr->wt);
    if (seeds_gru) dn_sgemm_pack_b(1, H, H, wh + 2 * H, GH, wt_n);
    for (int64_t b = 0; b < n; b++) {
        memcpy(gr->dh + b * H, gy + b * ldy + T * DH + dir * H, (size_t)H * sizeof(float));
        if (sv.cs)
            memcpy(gr->dc + b * H, gy + b * ldy + (T + 1) * DH + dir * H,
                   (size_t)H * sizeof(float));
    }
    const int nt = cell_threads(d, nthreads);
    for (int64_t s = T - 1; s >= 0; s--) {
        const int64_t t = rnn_time(d, dir, s);
        const int64_t row = rnn_out_row(d, t);
        valid_flags(c, d, t, gr->valid);
        for (int64_t b = 0; b < n; b++) {
            if (!gr->valid[b]) continue;
            const float *g = gy + b * ldy + row * DH + dir * H;
            float *dh = gr->dh + b * H;
            for (int64_t j = 0; j < H; j++) dh[j] += g[j];
        }
        rnn_step st = step_at(d, &sv, t, rev, peep, gr->valid);
        rnn_step_grad sg = {&st, gr->dh, gr->dc, gr->dA + t * n * GH,
                            gr->dAh ? gr->dAh + t * n * GH : NULL};
        run_cell(st, nt, 1, sg, 0);
        /* the gradient of h(t-1) as the recurrent products read it: straight
         * into dh, or under dropout into dhr and then dh += dhr (.) mask */
        float *dhr = d->drop ? gr->dhr : gr->dh;
        if (d->drop) memset(dhr, 0, (size_t)(n * H) * sizeof(float));
        if (seeds_gru) {
            dn_sgemm_packed(n, H, H, 1.0f, sg.dg + 2 * H, GH, wt_n, 0.0f, gr->drh, H, NULL,
                            nthreads);
            st.b0 = 0;
            st.b1 = n;
            gru_reset_backward(&sg, gr->drh, dhr);
            dn_sgemm_packed(n, H, 2 * H, 1.0f, sg.dg, GH, gr->wt, 1.0f, dhr, H, NULL, nthreads);
        } else {
            dn_sgemm_packed(n, H, GH, 1.0f, sg.dgh ? sg.dgh : sg.dg, GH, gr->wt, 1.0f, dhr, H,
                            NULL, nthreads);
        }
        if (d->drop) add_mul_rows(gr->dh, dhr, sv.mask, n * H);
        if (d->trunc > 0 && s > 0 && s % d->trunc == 0) {
            memset(gr->dh, 0, (size_t)(n * H) * sizeof(float));
            if (sv.cs) memset(gr->dc, 0, (size_t)(n * H) * sizeof(float));
        }
    }
    /* the initial states */
    const float *dstate[2] = {gr->dh, gr->dc};
    const int slot[2] = {d->i_h0, d->i_c0};
    for (int k = 0; k < 2; k++) {
        if (slot[k] < 0 || !c->gin[slot[k]]) continue;
        for (int64_t b = 0; b < n; b++) {
            float *o = c->gin[slot[k]] + b * DH + dir * H;
            for (int64_t j = 0; j < H; j++) o[j] += dstate[k][b * H + j];
        }
    }
    /* the parameters, each in one product over all steps */
    const int64_t rows = T * n;
    const float *hprev = d->drop ? sv.hd : sv.hs + rev * n * H; /* as W_h read them */
    float *gwx = c->gparam[0] ? c->gparam[0] + (int64_t)dir * F * GH : NULL;
    float *gwh = c->gparam[1] ? c->gparam[1] + (int64_t)dir * H * GH : NULL;
    if (gwx && gwh && gr->xh) {
        /* both kernels read the same dA: [X | H_prev]^T dA in one product packs
         * dA once and fills taller tiles (an LSTM of 256 units over 64
         * features and 1600 rows: 189 GFLOP/s against 153 for the two) */
        const int64_t FH = F + H;
        for (int64_t r = 0; r < rows; r++) {
            memcpy(gr->xh + r * FH, xt + r * F, (size_t)F * sizeof(float));
            memcpy(gr->xh + r * FH + F, hprev + r * H, (size_t)H * sizeof(float));
        }
        dn_sgemm_run(1, 0, FH, GH, rows, 1.0f, gr->xh, FH, gr->dA, GH, 0.0f, gr->gw, GH, NULL,
                     nthreads);
        add_rows(gwx, gr->gw, F * GH);
        add_rows(gwh, gr->gw + F * GH, H * GH);
    } else {
        if (gwx)
            dn_sgemm_run(1, 0, F, GH, rows, 1.0f, xt, F, gr->dA, GH, 1.0f, gwx, GH, NULL,
                         nthreads);
        if (gwh && d->cell == DN_CELL_GRU && !d->reset_after) {
            dn_sgemm_run(1, 0, H, 2 * H, rows, 1.0f, hprev, H, gr->dA, GH, 1.0f, gwh, GH, NULL,
                         nthreads);
            dn_sgemm_run(1, 0, H, H, rows, 1.0f, sv.aux, H, gr->dA + 2 * H, GH, 1.0f, gwh + 2 * H,
                         GH, NULL, nthreads);
        } else if (gwh) {
            dn_sgemm_run(1, 0, H, GH, rows, 1.0f, hprev, H, gr->dAh ? gr->dAh : gr->dA, GH, 1.0f,
                         gwh, GH, NULL, nthreads);
        }
    }
    if (d->p_bias >= 0 && c->gparam[d->p_bias])
        add_col_sums(gr->dA, rows, GH, GH, c->gparam[d->p_bias] + (int64_t)dir * GH, nthreads);
    if (d->p_extra >= 0 && c->gparam[d->p_extra]) {
        if (d->peep)
            peephole_grads(gr->dA, sv.cs + rev * n * H, rows, H,
                           c->gparam[d->p_extra] + (int64_t)dir * 3 * H);
        else
            add_col_sums(gr->dAh, rows, GH, GH, c->gparam[d->p_extra] + (int64_t)dir * GH,
                         nthreads);
    }
}

static void recurrent_backward(const dn_ctx *c)
{
    rnn_dims d;
    rnn_dims_of(c, &d);
    const int64_t n = d.n, T = d.T, F = d.F, H = d.H, GH = d.GH;
    bump bp = {c->ws};
    float *xt = take(&bp, T * n * F);
    float *dxt = take(&bp, T * n * F);
    dir_grads gr[2];
    for (int dir = 0; dir < d.D; dir++) {
        gr[dir].dA = take(&bp, T * n * GH);
        gr[dir].dAh = d.reset_after ? take(&bp, T * n * GH) : NULL;
        const int joint = d.cell != DN_CELL_GRU;
        gr[dir].xh = joint ? take(&bp, T * n * (F + H)) : NULL;
        gr[dir].gw = joint ? take(&bp, (F + H) * GH) : NULL;
        gr[dir].dh = take(&bp, n * H);
        gr[dir].dc = take(&bp, n * H);
        gr[dir].drh = take(&bp, n * H);
        gr[dir].dhr = take(&bp, n * H);
        gr[dir].wt = take(&bp, packed_bwd(&c->node->attrs, H));
        gr[dir].valid = (unsigned char *)take(&bp, (n + 3) / 4);
    }
    to_time_major(c->in[0], xt, n, T, F);
    if (d.D == 2 && c->nthreads > 1) {
        #pragma omp parallel for num_threads(2) schedule(static)
        for (int dir = 0; dir < 2; dir++) backward_dir(c, &d, dir, xt, &gr[dir], 1);
    } else {
        for (int dir = 0; dir < d.D; dir++) backward_dir(c, &d, dir, xt, &gr[dir], c->nthreads);
    }
    if (!c->gin[0]) return;
    for (int dir = 0; dir < d.D; dir++)
        dn_sgemm_run(0, 1, T * n, F, GH, 1.0f, gr[dir].dA, GH, c->param[0] + (int64_t)dir * F * GH,
                     GH, dir ? 1.0f : 0.0f, dxt, F, NULL, c->nthreads);
    add_from_time_major(dxt, c->gin[0], n, T, F);
}

void dn_recurrent_forward_ref(const dn_ctx *c);
void dn_recurrent_backward_ref(const dn_ctx *c);

/* Backward reads the inputs (X, the mask) and the output. The mask gets a
 * gradient buffer that stays zero. */
const dn_op_def dn_opdef_recurrent = {
    DN_OP_RECURRENT, "recurrent", 1, 4, DN_OPF_BWD_INALL | DN_OPF_BWD_OUT,
    recurrent_infer, recurrent_forward, recurrent_backward, dn_recurrent_forward_ref,
    dn_recurrent_backward_ref};
