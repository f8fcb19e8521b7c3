/* dagnet/optim.h: optimiser updates, regularisers and constraints.
 *
 * One step, over every trainable parameter in one pass:
 *   1. gradient clipping by global norm (clip_norm > 0): g *= clip / max(clip, ||g||)
 *   2. weight decay as a loss term on decayed parameters (seed 000, 6.1):
 *      g += l2 w + l1 sign(w); with reg_per_sample, l2 and l1 are divided by
 *      the batch's total sample weight, its size without weights
 *      (scikit-learn's alpha)
 *   3. the update rule (seed 000, 5):
 *      SGD       w -= lr g
 *      MOMENTUM  v = mu v - lr g; w += v                        (seed 000, 5.1)
 *      NESTEROV  v = mu v - lr g; w += mu v - lr g              (scikit-learn's form)
 *      ADAGRAD   s += g^2; w -= lr g / (sqrt(s) + eps)
 *      RMSPROP   s = rho s + (1 - rho) g^2; w -= lr g / (sqrt(s) + eps)
 *      ADAM      m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *                w -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)  (seed 000, 5.2,
 *                with eps outside the square root, the common form)
 *      ADAMW     w -= lr weight_decay w, then ADAM (decoupled decay)
 *   4. max-norm constraint on constrained parameters (seed 000, 6.2): each
 *      unit's incoming weight vector (a column of W (n_in, n_out)) is scaled
 *      down to norm max_norm when longer.
 *   5. weight clipping (clip_value > 0): every element of every parameter is
 *      clipped to [-clip_value, clip_value], the WGAN critic's crude
 *      Lipschitz bound (Arjovsky et al., 2017; seed 004 checklist, 8.17 [STD]).
 */
#ifndef DAGNET_OPTIM_H
#define DAGNET_OPTIM_H

#include <stdint.h>
#include "dagnet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dn_optim_kind {
    DN_OPTIM_SGD = 0,
    DN_OPTIM_MOMENTUM,
    DN_OPTIM_NESTEROV,
    DN_OPTIM_ADAGRAD,
    DN_OPTIM_RMSPROP,
    DN_OPTIM_ADAM,
    DN_OPTIM_ADAMW,
    DN_OPTIM_COUNT
} dn_optim_kind;

typedef struct dn_optim_config {
    dn_optim_kind kind;
    float lr;           /* learning rate (0.001) */
    float momentum;     /* MOMENTUM, NESTEROV (0.9) */
    float beta1, beta2; /* ADAM, ADAMW (0.9, 0.999) */
    float eps;          /* ADAGRAD, RMSPROP, ADAM, ADAMW (1e-8) */
    float rho;          /* RMSPROP (0.99) */
    float weight_decay; /* ADAMW decoupled decay (0.01) */
    float l2, l1;       /* loss-term weight decay on decayed parameters (0) */
    int reg_per_sample; /* divide l2 and l1 by the batch's total sample weight (0) */
    float max_norm;     /* max-norm constraint, 0 for none */
    float clip_norm;    /* clip the global gradient norm, 0 for none */
    float clip_value;   /* clip every parameter to [-clip_value, clip_value], 0 for none */
} dn_optim_config;

void dn_optim_default(dn_optim_config *c, dn_optim_kind kind);
const char *dn_optim_name(dn_optim_kind kind);
dn_status dn_optim_from_name(const char *name, dn_optim_kind *out);

/* State arrays each parameter needs (0, 1 or 2). */
int dn_optim_state_slots(dn_optim_kind kind);

/* Check a configuration; DN_ERR_INVALID naming the bad field. */
dn_status dn_optim_check(const dn_optim_config *c);

/* One parameter as the optimiser sees it. */
typedef struct dn_param_view {
    float *value;
    const float *grad_in; /* the raw gradient (not modified) */
    float *state[2];      /* dn_optim_state_slots() arrays, zero at step 1 */
    int64_t size;
    int64_t cols;         /* the last dimension (max-norm acts per column) */
    int decay;            /* L1/L2 apply (weights: 1, biases and norms: 0) */
    int constrain;        /* max-norm applies */
} dn_param_view;

/* Apply one step `t` (1-based) to n parameters. `batch` is the batch's
 * total sample weight, its size when unweighted (for reg_per_sample; 0
 * turns the regulariser off for this step, as the loss of such a batch is 0). *reg_loss receives the weight-decay term of the loss
 * at the weights before the step (0.5 l2 ||w||^2 + l1 ||w||_1, scaled like
 * the gradients). The sums cross parameters in a fixed order. */
dn_status dn_optim_step(const dn_optim_config *c, dn_param_view *params,
                        int n, int64_t t, double batch, int nthreads,
                        double *reg_loss);

#ifdef __cplusplus
}
#endif
#endif
