/* Shared by the recurrent op's files: its sizes, where its inputs and
 * parameters are, and the per-step cell arithmetic (src/ops/recurrent_cells.c)
 * that the fast time loop (src/ops/recurrent.c) calls. The reference twin
 * (src/ops/recurrent_ref.c) reads only the sizes and pointers. */
#ifndef DAGNET_OPS_RECURRENT_H
#define DAGNET_OPS_RECURRENT_H

#include "internal.h"

typedef struct rnn_dims {
    dn_cell cell;
    dn_act act;          /* RNN's and GRU candidate's activation */
    float alpha;
    int64_t n, T, F, H;  /* batch, steps, input features, units */
    int64_t G, GH;       /* gates (1, 4, 3) and G H */
    int D, S;            /* directions; state rows after the sequence (2 LSTM, else 1) */
    int go_backwards, peep, reset_after, bias;
    int64_t trunc;       /* 0: the whole sequence */
    int drop;            /* recurrent dropout in this run */
    float drop_rate;
    int i_mask, i_h0, i_c0; /* input slots, -1 when absent */
    int p_bias, p_extra; /* parameter slots of bias and peephole/recurrent_bias, -1 absent */
} rnn_dims;

void rnn_dims_of(const dn_ctx *c, rnn_dims *d);

/* The node's saved block of direction dir (layout in src/ops/recurrent.c). */
typedef struct rnn_saved {
    float *hs, *gates, *cs, *tc, *aux;
    float *mask, *hd;    /* recurrent dropout: the mask (n, H), h(t-1) (.) mask per step */
} rnn_saved;
rnn_saved rnn_saved_of(const dn_ctx *c, const rnn_dims *d, int dir);

/* Recurrent dropout: draw direction dir's mask (n, H) into sv->mask, the
 * same for the fast kernels and the reference (0, or 1 / (1 - p)). */
void rnn_draw_mask(const dn_ctx *c, const rnn_dims *d, int dir, const rnn_saved *sv);

/* Direction dir runs from the last step to the first. */
static inline int rnn_reversed(const rnn_dims *d, int dir)
{
    return (dir == 1) != (d->go_backwards != 0);
}

/* The step run s-th by a direction, and the output row of step t. */
static inline int64_t rnn_time(const rnn_dims *d, int dir, int64_t s)
{
    return rnn_reversed(d, dir) ? d->T - 1 - s : s;
}
static inline int64_t rnn_out_row(const rnn_dims *d, int64_t t)
{
    return d->go_backwards ? d->T - 1 - t : t;
}

/* 1 when sample b's step t is real (no mask, or a nonzero mask entry). */
static inline int rnn_valid(const rnn_dims *d, const dn_ctx *c, int64_t b, int64_t t)
{
    return d->i_mask < 0 || c->in[d->i_mask][b * d->T + t] != 0.0f;
}

/* --- one step of the cells, over rows b0..b1 of the batch ----------------
 * Buffers are time-major blocks of n rows: g (n, GH) the step's gate
 * pre-activations, overwritten by the gate values; hp, cp (n, H) the state
 * before the step, h, c (n, H) after it; valid (n) 1 for real steps. */

typedef struct rnn_step {
    const rnn_dims *d;
    int64_t b0, b1;
    float *g;             /* (n, GH) */
    const float *hp, *cp; /* previous h, c */
    const float *hr;      /* h(t-1) as the recurrent products read it: hp, or hp (.) mask */
    float *h, *c;         /* new h, c */
    float *tc;            /* LSTM: tanh(c) */
    float *aux;           /* GRU: r (.) h(t-1) (seeds) or h(t-1) W_hn + b_hn (reset_after) */
    const float *hw;      /* GRU reset_after: h(t-1) W_h + b_h (n, GH) */
    const float *peep;    /* LSTM peepholes (3, H) or NULL */
    const unsigned char *valid;
    float *y;             /* output rows of this step: y + b ldy + dir H */
    int64_t ldy;
} rnn_step;

void rnn_cell_forward(const rnn_step *st);
/* GRU, seeds' form: r and z from g's first 2 H columns, aux = r (.) h(t-1). */
void gru_gates_forward(const rnn_step *st);

/* Backward of one step. dh (n, H) holds dL/dh(t) (output and carried) and
 * dc dL/dc(t); on return dh holds the part of dL/dh(t-1) that does not go
 * through the recurrent kernel (masked steps: all of it; a GRU: z (.) dh)
 * and dc dL/dc(t-1). dg (n, GH) receives dL/da of the gates; dgh (reset_after)
 * the gradient of h(t-1) W_h + b_h. */
typedef struct rnn_step_grad {
    const rnn_step *st;
    float *dh, *dc;
    float *dg, *dgh;
} rnn_step_grad;

void rnn_cell_backward(const rnn_step_grad *sg);
/* GRU, seeds' form, after d(r (.) h_r) = drh is known (h_r = st->hr): dr
 * into dg, and dhr += drh (.) r (the gradient of h_r). */
void gru_reset_backward(const rnn_step_grad *sg, const float *drh, float *dhr);

#endif
