/* dagnet/ops.h: the operations a graph node can carry, and their settings.
 *
 * Each op family lives in one file under src/ops/ with its forward and
 * backward side by side and a plain reference twin (_ref). Backward
 * functions ADD into input and parameter gradients; the executor zeroes
 * gradients once per step.
 *
 * Axes count over the full tensor, the batch dimension being axis 0;
 * negative axes count from the end.
 */
#ifndef DAGNET_OPS_H
#define DAGNET_OPS_H

#include <stdint.h>
#include "dagnet/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dn_op {
    DN_OP_INPUT = 0,    /* a batched data input (features, targets, weights) */
    DN_OP_LINEAR,       /* Y = act(X W + b), W (n_in, units); X (..., n_in) */
    DN_OP_MATMUL,       /* per-sample op(A) op(B): A (.., m, k), B (.., k, n) */
    DN_OP_ADD,          /* A + B with numpy broadcasting */
    DN_OP_SUB,          /* A - B with numpy broadcasting */
    DN_OP_MUL,          /* A * B with numpy broadcasting */
    DN_OP_SCALE,        /* scale * A */
    DN_OP_BROADCAST,    /* A broadcast to the per-sample shape attrs.shape */
    DN_OP_ACTIVATION,   /* act(A), elementwise */
    DN_OP_SOFTMAX,      /* softmax over attrs.axis */
    DN_OP_LOG_SOFTMAX,  /* log_softmax over attrs.axis */
    DN_OP_SUM,          /* sum over attrs.axis, or over all per-sample axes */
    DN_OP_MEAN,         /* mean over attrs.axis, or over all per-sample axes */
    DN_OP_RESHAPE,      /* same data, per-sample shape attrs.shape (flatten too) */
    DN_OP_CONCAT,       /* join 2..DN_MAX_INPUTS inputs along attrs.axis */
    DN_OP_SLICE,        /* [start, stop) along attrs.axis (split is k slices) */
    DN_OP_DROPOUT,      /* inverted dropout: keep with 1 - rate, scale 1/(1-rate) */
    DN_OP_BATCHNORM,    /* batch normalisation over all axes but attrs.axis */
    DN_OP_LAYERNORM,    /* layer normalisation over the last axis */
    DN_OP_LOSS,         /* loss(pred, target [, sample_weight] [, terms]) -> scalar;
                           terms: unbatched single numbers (penalties) added as
                           they are */
    /* Images are NCHW: per-sample (C, H, W). Convolutions are
     * cross-correlations (no kernel flip). Sizes along H (and W likewise):
     *   CONV2D:           Ho = floor((H + pt + pb - dh (KH - 1) - 1) / sh) + 1
     *   CONV2D_TRANSPOSE: Ho = (H - 1) sh - pt - pb + dh (KH - 1) + oph + 1
     *   pools:            Ho = floor((H + pt + pb - KH) / sh) + 1 */
    DN_OP_CONV2D,       /* act(W * X + b), W (C_out, C_in/groups, KH, KW), b (C_out) */
    DN_OP_CONV2D_TRANSPOSE, /* gradient of CONV2D w.r.t. its input, as a layer:
                           W (C_in, C_out/groups, KH, KW) as in PyTorch, b (C_out) */
    DN_OP_MAXPOOL2D,    /* max over windows; padding never wins */
    DN_OP_AVGPOOL2D,    /* mean over windows (attrs.count_pad) */
    DN_OP_GLOBAL_AVGPOOL2D, /* (C, H, W) -> (C): mean over H and W */
    DN_OP_UPSAMPLE2D,   /* nearest neighbour: (C, H, W) -> (C, H fh, W fw) */
    /* Variational autoencoders (src/ops/variational.c). */
    DN_OP_REPARAMETERIZE, /* (mu, logvar) -> mu + exp(logvar / 2) eps, eps ~ N(0, I) drawn
                             in the core: fresh in training, fixed per position at inference */
    DN_OP_GAUSSIAN_KL,  /* (mu, logvar) -> (1,): KL(N(mu, e^logvar) || N(0, I)) per sample */
    DN_OP_VAE_LOSS,     /* (pred, target, sample_weight, penalty) -> scalar: a LOSS whose
                           per-sample loss (attrs.loss MSE or BCE_LOGITS) adds
                           attrs.scale * penalty (the KL): the negative ELBO */
    /* Spectral normalisation (src/ops/spectral.c). */
    DN_OP_SPECTRAL_LINEAR, /* Y = act(X W / sigma(W) + b), sigma by power iteration with a
                              persistent vector u (non-trainable state) */
    /* Autoencoders (seed 002 section 9, seed 003 sections 11.2.1-11.2.3). */
    DN_OP_LINEAR_TIED,  /* (X, E): act(X W_E^T + b): W_E the weight of the LINEAR
                           node E, shared (tied weights); E's output is not read */
    DN_OP_MASKING_NOISE, /* training only: each element zeroed with probability
                           attrs.rate, kept ones not rescaled; identity at inference */
    DN_OP_GAUSSIAN_NOISE, /* training only: A + attrs.scale N(0, 1); identity at inference */
    /* Penalties: one number, unbatched, to give a LOSS node as an added term.
     * Means over the batch, weighted by the optional sample weights w (batch, 1)
     * given last, as the loss weighs its samples. */
    DN_OP_L1_PENALTY,   /* (H [, w]): attrs.scale mean_i sum_j |H_ij| */
    DN_OP_KL_SPARSITY,  /* (H [, w]): attrs.scale sum_j KL(rho || rho_hat_j), rho =
                           attrs.rate, rho_hat_j the batch mean of H[:, j], in (0, 1) */
    DN_OP_CONTRACTIVE,  /* (H, X [, w]): attrs.scale mean_i ||dH_i/dX_i||_F^2 for H the
                           LINEAR node act(X W + b) of activation attrs.act (alpha) */
    /* Sequences (src/ops/recurrent*.c, src/ops/sequence.c): per sample a
     * sequence is (T, F), time first; a mask is (T,), nonzero for a real step
     * and zero for padding. */
    DN_OP_RECURRENT,    /* (X [, mask] [, h0 [, c0]]) -> (T + S, D H): a recurrent layer over
                           the whole sequence, see "Recurrent layers" below */
    DN_OP_SEQUENCE_MASK, /* (T, ...) -> (T,): 1 where some element of step t differs from
                           attrs.scale (the mask value), else 0; X gets no gradient */
    DN_OP_EMBEDDING,    /* (T,) token ids as floats -> (T, units): row id of the table
                           W (attrs.vocab, units); ids outside [0, vocab) give zeros */
    DN_OP_COUNT
} dn_op;

#define DN_MAX_INPUTS 8
#define DN_MAX_PARAMS 4
#define DN_AXIS_ALL 127 /* SUM/MEAN: reduce every per-sample axis */

/* Recurrent layers (DN_OP_RECURRENT; seed 002 section 6, seed 003 chapter 8).
 * attrs.cell picks the cell, attrs.units is H, attrs.directions D (1, or 2
 * for a bidirectional layer: the second direction runs from the last step to
 * the first with its own parameters). Inputs: X (T, F); the mask (T,) when
 * attrs.has_mask; then optionally the initial h0 (D H) and, for an LSTM, c0
 * (D H); absent states are zero. The output has T + S rows of D H columns:
 * row t the hidden state after step t (the directions side by side; zero
 * where the mask is zero), row T the final h, and for an LSTM row T + 1 the
 * final c (S = 2; else S = 1). A masked step leaves every state unchanged
 * and gets no gradient. Parameters, per direction d (gate order below):
 *   kernel (D, F, G H), recurrent_kernel (D, H, G H), bias (D, G H) when
 *   use_bias, peephole (D, 3, H) for an LSTM with attrs.peepholes (i, f, o),
 *   recurrent_bias (D, G H) for a GRU with reset_after and use_bias;
 * one direction drops the leading D: kernel (F, G H), ...
 * With a = x W_x + b + h(t-1) W_h for the gate's columns (+ b_h, the
 * recurrent_bias, with reset_after):
 *   RNN  (G = 1): h = act(a), act tanh, relu or sigmoid
 *   LSTM (G = 4, gates i, f, g, o): i, f, o = sigmoid(a + p (.) c(t-1)) (the
 *        seeds' peepholes, all on c(t-1)), g = tanh(a), c = f c(t-1) + i g,
 *        h = o tanh(c)
 *   GRU  (G = 3, gates r, z, n): r, z = sigmoid(a); the seeds' form (seed 003
 *        section 8.7) n = act(x W_xn + b_n + (r (.) h(t-1)) W_hn), and with
 *        reset_after (PyTorch's) n = act(x W_xn + b_n + r (.) (h(t-1) W_hn +
 *        b_hn)); h = z h(t-1) + (1 - z) n; act tanh or relu.
 * attrs.truncate k > 0 cuts the gradient between steps k j - 1 and k j (in
 * the order the direction runs): backpropagation through time truncated to
 * chunks of k steps. attrs.go_backwards (D = 1) runs from the last step to
 * the first, and row s of the output holds the s-th step run.
 * attrs.recurrent_dropout p > 0 in training multiplies h(t-1) by a mask m of
 * 0 and 1 / (1 - p), drawn per sequence, unit and direction and the same at
 * every step (Gal and Ghahramani, 2016), wherever h(t-1) enters a recurrent
 * product: (h(t-1) (.) m) W_h, and the seeds' GRU candidate reads
 * (r (.) h(t-1) (.) m) W_hn; the cells' other uses of h(t-1) (the GRU's
 * z h(t-1)) and c(t-1) are not dropped, as in Keras. */
typedef enum dn_cell {
    DN_CELL_RNN = 0,
    DN_CELL_LSTM,
    DN_CELL_GRU,
    DN_CELL_COUNT
} dn_cell;

/* Activations. Those marked * can be fused into LINEAR: their derivative is a
 * function of the output. */
typedef enum dn_act {
    DN_ACT_IDENTITY = 0, /* * */
    DN_ACT_RELU,         /* * */
    DN_ACT_LEAKY_RELU,   /* * max(x, alpha x), 0 < alpha */
    DN_ACT_ELU,          /* * x > 0 ? x : alpha (exp(x) - 1) */
    DN_ACT_SIGMOID,      /* * */
    DN_ACT_TANH,         /* * */
    DN_ACT_SOFTPLUS,     /* * log(1 + exp(x)) */
    DN_ACT_GELU,         /*   x Phi(x), erf form */
    DN_ACT_SILU,         /*   x sigmoid(x) */
    DN_ACT_COUNT
} dn_act;

/* 1 when act'(x) can be computed from y = act(x) alone. */
int dn_act_fusable(dn_act act);

/* Losses, each fused with its output activation and averaged over the batch
 * with optional sample weights: sum_i w_i l_i / sum_i w_i.
 *   MSE:        l = 1/2 sum_j (p_j - t_j)^2            (seed 000, 2.1)
 *   BCE_LOGITS: l = sum_j softplus(z_j) - t_j z_j      (seed 000, 2.2)
 *   SOFTMAX_CE: l = -sum_j t_j log softmax(z)_j        (seed 000, 2.3);
 *               a target of one column holds class indices
 *   POISSON:    l = sum_j exp(z_j) - t_j z_j           (log link) */
typedef enum dn_loss {
    DN_LOSS_MSE = 0,
    DN_LOSS_BCE_LOGITS,
    DN_LOSS_SOFTMAX_CE,
    DN_LOSS_POISSON,
    DN_LOSS_COUNT
} dn_loss;

/* Initialisers for parameters (seed 000, section 7). fan_in and fan_out are
 * those of the layer the parameter belongs to. */
typedef enum dn_init {
    DN_INIT_ZEROS = 0,
    DN_INIT_CONSTANT,       /* value */
    DN_INIT_UNIFORM,        /* U(-scale, scale) */
    DN_INIT_NORMAL,         /* N(0, scale^2) */
    DN_INIT_LECUN_UNIFORM,  /* U(+-sqrt(3 / fan_in)) */
    DN_INIT_LECUN_NORMAL,   /* N(0, 1 / fan_in) */
    DN_INIT_GLOROT_UNIFORM, /* U(+-sqrt(6 / (fan_in + fan_out))) */
    DN_INIT_GLOROT_NORMAL,  /* N(0, 2 / (fan_in + fan_out)) */
    DN_INIT_HE_NORMAL,      /* N(0, 2 / fan_in) */
    DN_INIT_HE_UNIFORM,     /* U(+-sqrt(6 / fan_in)) */
    DN_INIT_SKLEARN,        /* scikit-learn's MLP: U(+-sqrt(scale / (fan_in + fan_out))),
                               scale 6, or 2 for a logistic layer; weights and biases */
    DN_INIT_COUNT
} dn_init;

/* Settings of a node; dn_attrs_default() fills the defaults, and each op
 * reads only the fields it names. */
typedef struct dn_attrs {
    int64_t units;       /* LINEAR: output features */
    int use_bias;        /* LINEAR (default 1) */
    dn_act act;          /* LINEAR, LINEAR_TIED, ACTIVATION, CONTRACTIVE */
    float alpha;         /* LEAKY_RELU slope (0.01), ELU alpha (1.0) */
    float scale;         /* SCALE factor; GAUSSIAN_NOISE std; penalty weights */
    float rate;          /* DROPOUT, MASKING_NOISE probability of dropping;
                            KL_SPARSITY target activation */
    float eps;           /* BATCHNORM, LAYERNORM (1e-5) */
    float momentum;      /* BATCHNORM running statistics: r = (1-m) r + m batch (0.1) */
    int axis;            /* SOFTMAX, LOG_SOFTMAX, SUM, MEAN, CONCAT, SLICE, BATCHNORM */
    int keepdims;        /* SUM, MEAN */
    int64_t start, stop; /* SLICE */
    dn_shape shape;      /* RESHAPE, BROADCAST: per-sample target shape; RESHAPE
                            accepts one -1 */
    dn_loss loss;        /* LOSS */
    int trans_a, trans_b; /* MATMUL */
    dn_init w_init;      /* LINEAR weights, norm scales (GLOROT_UNIFORM / ONES) */
    float w_scale;       /* scale or value for w_init */
    dn_init b_init;      /* LINEAR bias, norm shifts (ZEROS) */
    float b_scale;       /* scale or value for b_init */
    /* Images. Pairs are (h, w); units is C_out of CONV2D and CONV2D_TRANSPOSE,
     * which also read use_bias, act/alpha (fusable activations) and the
     * initialisers, fan_in = C_in/groups KH KW, fan_out = C_out KH KW / groups. */
    int64_t kernel[2];   /* CONV2D, CONV2D_TRANSPOSE: kernel size; pools: window (1, 1) */
    int64_t stride[2];   /* (0, 0): 1 for convolutions, the window for pools */
    int64_t pad[4];      /* zero padding top, bottom, left, right (0, 0, 0, 0); of
                            CONV2D_TRANSPOSE, the rows and columns cut from its output */
    int64_t dilation[2]; /* CONV2D, CONV2D_TRANSPOSE (1, 1) */
    int64_t out_pad[2];  /* CONV2D_TRANSPOSE: rows and columns added at the bottom and
                            right, each < stride or < dilation (0, 0) */
    int64_t groups;      /* CONV2D, CONV2D_TRANSPOSE: C_in and C_out are multiples (1) */
    int count_pad;       /* AVGPOOL2D: 1 divides by the whole window, padding
                            included, as PyTorch's default; 0 by its real pixels (1) */
    int64_t factor[2];   /* UPSAMPLE2D (2, 2) */
    /* Sequences. RECURRENT also reads units, use_bias, act and alpha (the
     * RNN's and the GRU candidate's activation, one whose derivative follows
     * from its output: tanh, relu, sigmoid, ...) and the initialisers
     * (w_init for both kernels, b_init for the biases). */
    dn_cell cell;        /* RECURRENT (DN_CELL_RNN) */
    int directions;      /* RECURRENT: 1, or 2 for bidirectional (1) */
    int go_backwards;    /* RECURRENT, one direction only (0) */
    int peepholes;       /* RECURRENT LSTM (0) */
    int reset_after;     /* RECURRENT GRU: PyTorch's form (0: the seeds') */
    int has_mask;        /* RECURRENT: input 1 is the mask (0) */
    int64_t truncate;    /* RECURRENT: BPTT chunk length, 0 for the whole sequence (0) */
    float recurrent_dropout; /* RECURRENT, training: dropout on h(t-1) where it enters the
                           recurrent product, one mask per sequence for all steps (0) */
    int64_t vocab;       /* EMBEDDING: rows of the table */
} dn_attrs;

void dn_attrs_default(dn_attrs *a);

const char *dn_op_name(dn_op op);
const char *dn_act_name(dn_act act);
const char *dn_loss_name(dn_loss loss);
const char *dn_init_name(dn_init init);
const char *dn_cell_name(dn_cell cell);

/* Look names up ("relu", "softmax_cross_entropy", "glorot_uniform", ...);
 * DN_ERR_INVALID with the list of valid names when unknown. */
dn_status dn_act_from_name(const char *name, dn_act *out);
dn_status dn_loss_from_name(const char *name, dn_loss *out);
dn_status dn_init_from_name(const char *name, dn_init *out);
dn_status dn_cell_from_name(const char *name, dn_cell *out);

#ifdef __cplusplus
}
#endif
#endif
