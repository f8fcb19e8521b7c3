/* dagnet/rbm.h: restricted Boltzmann machines (seed 000, 9.2; seed 002,
 * section 8; seed 003, chapter 13): conditionals, samplers, block Gibbs,
 * free energy, pseudo-likelihood, CD-k / PCD-k training one epoch per call,
 * and the log partition function exactly (small models) or by annealed
 * importance sampling.
 *
 * The model. n_visible visible units v, n_hidden hidden units h, weights W
 * stored (n_hidden, n_visible) row-major (scikit-learn's components_ and
 * seed 002's W), visible bias b (n_visible), hidden bias c (n_hidden):
 *
 *   Bernoulli visible, v in {0,1}^n_visible:
 *     E(v,h) = -b.v - c.h - h W v
 *     p(h_j = 1 | v) = sigmoid(c_j + W_j.v)       (W_j: row j of W)
 *     p(v_i = 1 | h) = sigmoid(b_i + (h W)_i)
 *     F(v) = -b.v - sum_j softplus(c_j + W_j.v)  (free energy, p(v) = e^-F / Z)
 *   Gaussian visible with unit variance (for standardised data), v real:
 *     E(v,h) = |v - b|^2 / 2 - c.h - h W v
 *     p(h_j = 1 | v) = sigmoid(c_j + W_j.v),  p(v | h) = N(b + h W, I)
 *     F(v) = |v - b|^2 / 2 - sum_j softplus(c_j + W_j.v)
 *
 * A dn_rbm borrows its three arrays: the caller owns them (numpy arrays
 * in the binding) and training updates them in place. Data are float32,
 * row-major, one sample per row. Every function returns a dn_status and
 * gives the same results for any thread count (nthreads <= 0: all that
 * dn_max_threads() allows); small problems stay on one thread.
 *
 * Randomness. A draw is addressed by (seed, stream, position) (rng.h), so
 * results repeat for a seed whatever the threads. The samplers give element
 * (r, j) of a (rows, cols) draw the word at position offset + r * cols + j
 * (Bernoulli: x = [u < p], u uniform in [0,1); seed 002, section 1), or,
 * for Gaussian draws, the pair of words at offset + r * cols2 + 2 (j / 2)
 * with cols2 = cols rounded up to even (x = mean + z, z standard normal).
 * A caller that draws again advances offset by what the call used
 * (dn_rbm_gibbs_positions).
 *
 * Example: 10 epochs of PCD-1 with scikit-learn's recipe, then scores.
 *
 *   dn_rbm m = {64, 256, DN_RBM_BERNOULLI, W, b, c};   // W random N(0, 0.01)
 *   dn_rbm_train_config cfg;
 *   dn_rbm_train_sklearn(&cfg, 0.1f, 10, 42);
 *   float chains[10 * 256] = {0};                      // h of 10 chains, 0 at start
 *   dn_rbm_train_state st = {chains, 10, NULL, NULL, NULL, 0};
 *   double err;
 *   for (int e = 0; e < 10; e++)
 *       if (dn_rbm_train_epoch(&m, &cfg, &st, X, n, 0, &err)) puts(dn_last_error());
 *   dn_rbm_pseudo_likelihood(&m, X, n, NULL, pl, 0);
 */
#ifndef DAGNET_RBM_H
#define DAGNET_RBM_H

#include <stdint.h>
#include "dagnet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dn_rbm_visible {
    DN_RBM_BERNOULLI = 0, /* binary visible units */
    DN_RBM_GAUSSIAN = 1   /* real visible units, unit variance */
} dn_rbm_visible;

typedef struct dn_rbm {
    int64_t n_visible, n_hidden;
    dn_rbm_visible visible;
    float *W; /* (n_hidden, n_visible) */
    float *b; /* (n_visible) visible bias */
    float *c; /* (n_hidden) hidden bias */
} dn_rbm;

/* DN_ERR_INVALID (with a message) unless the sizes are positive, the unit
 * type known and the three arrays given. */
dn_status dn_rbm_check(const dn_rbm *m);

/* --- conditionals and samplers ------------------------------------------ */

/* ph (n, n_hidden) = sigmoid(v W^T + c) for v (n, n_visible). */
dn_status dn_rbm_hidden_probs(const dn_rbm *m, const float *v, int64_t n, float *ph,
                              int nthreads);

/* mv (n, n_visible) = E[v | h] for h (n, n_hidden): sigmoid(h W + b)
 * (Bernoulli) or h W + b (Gaussian). h may hold probabilities. */
dn_status dn_rbm_visible_means(const dn_rbm *m, const float *h, int64_t n, float *mv,
                               int nthreads);

/* x = [u < p] elementwise for p (rows, cols); x may be p. */
dn_status dn_rbm_sample_bernoulli(const float *p, int64_t rows, int64_t cols, float *x,
                                  uint64_t seed, uint64_t stream, uint64_t offset,
                                  int nthreads);

/* x = mean + z, z ~ N(0, 1) elementwise; x may be mean. */
dn_status dn_rbm_sample_gaussian(const float *mean, int64_t rows, int64_t cols, float *x,
                                 uint64_t seed, uint64_t stream, uint64_t offset,
                                 int nthreads);

/* --- block Gibbs sampling (seed 002, Algorithm 1) -------------------------
 *
 * k >= 1 steps on n chains at once. v is (n, n_visible), h (n, n_hidden).
 *   from_hidden == 0: v holds the start; each step draws h ~ p(h|v), then
 *     v ~ p(v|h) (hidden first, as Algorithm 1).
 *   from_hidden == 1: h holds the start; each step draws v ~ p(v|h), then
 *     h ~ p(h|v) (the order of a persistent chain kept as h).
 * On return v and h hold the last samples; v_mean (may be NULL) the means
 * the last v was drawn from; h_prob (may be NULL) p(h | last v) (an extra
 * product when from_hidden == 0). Step t (0-based) uses the positions
 * offset + t * n * (n_hidden + cols2) + [0, n * n_hidden) for its hidden
 * draws (row-major) and the next n * cols2 for its visible ones, cols2 =
 * n_visible rounded up to even. */
dn_status dn_rbm_gibbs(const dn_rbm *m, int64_t n, int k, int from_hidden, float *v,
                       float *h, float *v_mean, float *h_prob, uint64_t seed,
                       uint64_t stream, uint64_t offset, int nthreads);

/* Positions one dn_rbm_gibbs call with these sizes uses. */
uint64_t dn_rbm_gibbs_positions(const dn_rbm *m, int64_t n, int k);

/* --- scores ---------------------------------------------------------------- */

/* F[r] = free energy of row r of v (n, n_visible) (formulas above), with
 * softplus taken stably (max(x,0) + log1p(e^-|x|)) and sums in double. */
dn_status dn_rbm_free_energy(const dn_rbm *m, const float *v, int64_t n, double *F,
                             int nthreads);

/* Log pseudo-likelihood of binary rows (Bernoulli visible only):
 *   feature == NULL: pl[r] = sum_i log sigmoid(F(v with bit i flipped) - F(v)),
 *     exact over all features;
 *   otherwise: pl[r] = n_visible * log sigmoid(F(v flipped at feature[r]) - F(v)),
 *     scikit-learn's one-feature estimate of the same sum (score_samples).
 * Flipping bit i moves every hidden pre-activation by +-W_ji, so the flipped
 * free energies cost n_hidden softplus terms each, not a new product. */
dn_status dn_rbm_pseudo_likelihood(const dn_rbm *m, const float *v, int64_t n,
                                   const int64_t *feature, double *pl, int nthreads);

/* --- training: one epoch of CD-k or PCD-k per call ------------------------
 *
 * Seed 000, 9.2.1-9.2.2; seed 002, section 8 (CD-k, PCD-k). For each
 * minibatch V (m rows, in order or shuffled):
 *   positive:  H+ = p(h|V), the probabilities (seeds 000 and 002);
 *   negative:  CD:  chains start at h ~ p(h|V) (m chains);
 *              PCD: chains start at the kept hidden samples (n_chains);
 *              k steps v ~ p(v|h), h' = p(h|v), h ~ h' (the last h drawn
 *              only for PCD, where it becomes the kept state); V- is the
 *              last v SAMPLE and H- = p(h|V-);
 *   gradient:  dW = H+^T V / m - H-^T V- / r,  db = mean(V) - sum(V-) / r,
 *              dc = mean(H+) - sum(H-) / r, where r = the number of chains,
 *              or m with neg_per_batch (scikit-learn divides both terms by
 *              the batch's rows);
 *   update (gradient ascent, classical momentum, seed 000 5.1):
 *              vel = momentum vel + lr (dtheta - l2 theta [W only]);
 *              theta += vel  (without momentum: theta += lr (...)).
 * Batches are rows [s, s + batch_size) of the order, the last one shorter:
 * exactly sklearn.utils.gen_even_slices as BernoulliRBM uses it.
 */
typedef enum dn_rbm_method {
    DN_RBM_CD = 0, /* contrastive divergence: chains restart at the batch */
    DN_RBM_PCD = 1 /* persistent chains (stochastic maximum likelihood) */
} dn_rbm_method;

typedef struct dn_rbm_train_config {
    dn_rbm_method method;
    int k;               /* Gibbs steps per update, >= 1 */
    int64_t batch_size;  /* rows per update, >= 1 */
    float lr;            /* learning rate, > 0 */
    float momentum;      /* in [0, 1); 0: no velocities needed */
    float l2;            /* weight decay on W, >= 0 */
    int shuffle;         /* 1: a fresh permutation each epoch (seed, epoch) */
    int neg_per_batch;   /* 1: negative sums divided by the batch's rows */
    int monitor;         /* 1: compute the reconstruction error */
    uint64_t seed;
    const float *sample_weight; /* NULL, or n weights >= 0: each batch's data
                                   terms (and CD's negative rows) become means
                                   weighted by them, divided by the batch's
                                   total weight (neg_per_batch divides by it
                                   too); a batch of total weight 0 is skipped.
                                   PCD's chains stay unweighted. */
} dn_rbm_train_config;

/* What the caller keeps between epochs. */
typedef struct dn_rbm_train_state {
    float *chains;    /* PCD: (n_chains, n_hidden) hidden samples, updated; 0 at
                         start (seed 000 9.2.2) or what the caller chooses */
    int64_t n_chains; /* PCD: >= 1 */
    float *vel_W, *vel_b, *vel_c; /* momentum > 0: velocities (shapes of W, b,
                                     c), 0 at start; NULL otherwise */
    int64_t epoch;    /* selects the shuffle and the draws; +1 per call */
} dn_rbm_train_state;

/* CD-1, batch 10, lr 0.1, no momentum, decay, shuffle or monitoring. */
void dn_rbm_train_default(dn_rbm_train_config *c);

/* scikit-learn's BernoulliRBM recipe: PCD-1 with n_chains = batch_size
 * (its h_samples_), batches in order, negative sums over the batch's rows,
 * no momentum or decay. */
void dn_rbm_train_sklearn(dn_rbm_train_config *c, float lr, int64_t batch_size,
                          uint64_t seed);

/* One epoch over X (n, n_visible), updating m->W, b, c (and st) in place.
 * monitor (may be NULL) receives, with c->monitor, the mean over samples of
 * sum_i (v_i - E[v_i | h = p(h|v)])^2 before each batch's update (the
 * reconstruction error); 0 otherwise. Stops with DN_ERR_NUMERIC when the
 * parameters stop being finite. */
dn_status dn_rbm_train_epoch(dn_rbm *m, const dn_rbm_train_config *c,
                             dn_rbm_train_state *st, const float *X, int64_t n,
                             int nthreads, double *monitor);

/* --- the partition function -------------------------------------------- */

/* log Z exactly, by enumerating the 2^s states of the smaller layer
 * (Gaussian visible: the hidden layer, with the Gaussian integral in
 * closed form), in Gray-code order with double sums and log-sum-exp.
 * Refuses (DN_ERR_INVALID) when s > 30: use dn_rbm_log_z_ais. */
dn_status dn_rbm_log_z_exact(const dn_rbm *m, int nthreads, double *log_z);

/* Annealed importance sampling (Neal 2001; Salakhutdinov and Murray 2008)
 * from the base-rate model A (W = 0, c = 0, visible bias base_b) to the
 * model B through
 *   log p*_beta(v) = vis_beta(v) + sum_j softplus(beta (c_j + W_j.v)),
 *   vis_beta(v) = b_beta.v (Bernoulli) or -|v - b_beta|^2/2 (Gaussian),
 *   b_beta = (1 - beta) base_b + beta b,
 * one Gibbs transition per intermediate beta, n_runs independent runs. */
typedef struct dn_rbm_ais_config {
    int64_t n_runs;       /* >= 2 */
    int64_t n_betas;      /* >= 2, including 0 and 1 */
    const double *betas;  /* NULL: dn_rbm_ais_betas; else n_betas increasing
                             values from 0 to 1 */
    const float *base_b;  /* (n_visible) base visible bias (Bernoulli: typically
                             log(p / (1 - p)) of the data's mean; Gaussian: the
                             base mean); NULL: zeros */
    uint64_t seed;
} dn_rbm_ais_config;

typedef struct dn_rbm_ais_result {
    double log_z;      /* log Z_A + log mean(w) */
    double log_z_base; /* log Z_A */
    double log_se;     /* log(std(w) / sqrt(n_runs)) + log Z_A: the spread of the
                          estimate of Z on the log scale */
    double rel_se;     /* std(w) / (mean(w) sqrt(n_runs)): about the standard
                          error of log_z in nats */
} dn_rbm_ais_result;

/* 100 runs, 10000 betas, default schedule, zero base bias, seed 0. */
void dn_rbm_ais_default(dn_rbm_ais_config *c);

/* The default schedule (Salakhutdinov and Murray's proportions): 4% of the
 * points evenly in [0, 0.5), 28% in [0.5, 0.9), the rest in [0.9, 1],
 * ending at exactly 1. n >= 2. */
dn_status dn_rbm_ais_betas(int64_t n, double *betas);

/* log_w (may be NULL): the n_runs log importance weights. Runs are
 * parallel; run r uses its own positions, so results do not depend on the
 * thread count. */
dn_status dn_rbm_log_z_ais(const dn_rbm *m, const dn_rbm_ais_config *c, int nthreads,
                           dn_rbm_ais_result *out, double *log_w);

#ifdef __cplusplus
}
#endif
#endif
