/* dagnet/graph.h: building, compiling and running a graph.
 *
 * A neural network is a DAG whose vertices carry a tensor function and its
 * vector-Jacobian products (seed 000, section 1). Building records nodes;
 * compiling computes the topological order (iteratively), infers and checks
 * every shape, allocates the parameter arena and initialises it. Running
 * plans the activation memory for a batch size once, then visits the nodes
 * in topological order (forward, seed 000 section 3) and in reverse
 * (backward, section 4), where a node consumed several times receives the
 * sum of its consumers' gradients.
 *
 * Node ids are small integers handed out in the order nodes are added.
 * Inputs (DN_OP_INPUT) are numbered separately too, in the order they were
 * added: arrays passed to run functions follow that order.
 */
#ifndef DAGNET_GRAPH_H
#define DAGNET_GRAPH_H

#include <stdint.h>
#include "dagnet/ops.h"
#include "dagnet/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dn_graph dn_graph_t;

/* Run flags. */
#define DN_RUN_TRAINING 1 /* dropout drops, batch norm uses batch statistics */
#define DN_RUN_GRAD 2     /* keep what backward needs; enables dn_graph_backward */

dn_status dn_graph_new(dn_graph_t **out);
void dn_graph_free(dn_graph_t *g);

/* --- building ------------------------------------------------------------ */

/* A batched input with the given per-sample shape. */
dn_status dn_graph_add_input(dn_graph_t *g, const dn_shape *sample_shape,
                             int *node);

/* A node applying `op` to `inputs` (node ids); attrs may be NULL for the
 * defaults. The inputs may be rewired before compiling. */
dn_status dn_graph_add_node(dn_graph_t *g, dn_op op, const int *inputs,
                            int n_inputs, const dn_attrs *attrs, int *node);

/* Split `input` along `axis` into k consecutive parts of sizes[0..k): k
 * SLICE nodes whose ids go to nodes[0..k). Like numpy slices, a part that
 * runs past the end of the axis is cut there, and one that starts past it
 * is empty, which dn_graph_compile rejects. */
dn_status dn_graph_add_split(dn_graph_t *g, int input, int axis, const int64_t *sizes, int k,
                             int *nodes);

/* Make input `slot` of `node` read from `src` (any node: a cycle made this
 * way is reported by dn_graph_compile). */
dn_status dn_graph_set_input(dn_graph_t *g, int node, int slot, int src);

/* A name used in messages and parameter names (copied; default "<op>_<id>"). */
dn_status dn_graph_set_name(dn_graph_t *g, int node, const char *name);

/* Freeze a node (trainable 0) or let it train again (1). A frozen node's
 * parameters get no gradient, no update and no weight decay, and the node
 * runs as at inference, so nothing of it changes while the rest of the
 * network trains: batch normalisation uses and keeps its running statistics
 * (Keras' rule), dropout keeps every unit. This is transfer learning's
 * fixed main model under a new head (seed 000, section 6.5). A node that
 * neither trains nor passes a gradient to one that does (a frozen layer
 * below every trainable one) does not run backward at all. Before compile
 * or after it: the next run plans again, and the optimiser keeps the state
 * of every parameter (a parameter frozen and trained again resumes from it). */
dn_status dn_graph_set_trainable(dn_graph_t *g, int node, int trainable);

/* Make `node` use every parameter of `src` instead of its own: one layer
 * applied to several inputs, its weights shared (read by each use, trained by
 * the sum of their gradients, listed once, under src). Both must have the
 * same op; dn_graph_compile checks that their parameters have the same
 * shapes (a dense layer's inputs the same width). Before compile. */
dn_status dn_graph_share_params(dn_graph_t *g, int node, int src);

/* The nodes whose values dn_graph_output returns (and whose gradients
 * dn_graph_backward takes). */
dn_status dn_graph_set_outputs(dn_graph_t *g, const int *nodes, int n);

/* --- compiling ----------------------------------------------------------- */

/* Order, shapes, parameters (initialised from seed). DN_ERR_INVALID on a
 * cycle, a dangling input or a shape mismatch, naming both ends. */
dn_status dn_graph_compile(dn_graph_t *g, uint64_t seed);

int dn_graph_num_nodes(const dn_graph_t *g);
int dn_graph_num_inputs(const dn_graph_t *g);
int dn_graph_num_outputs(const dn_graph_t *g);
/* The node id of input k / output k. */
int dn_graph_input_node(const dn_graph_t *g, int k);
int dn_graph_output_node(const dn_graph_t *g, int k);

/* Per-sample output shape of a node after compile; *batched says whether
 * the batch dimension comes first. */
dn_status dn_graph_node_shape(const dn_graph_t *g, int node, dn_shape *shape,
                              int *batched);

/* While building: the per-sample shape a node will have, inferred for it
 * and its ancestors as dn_graph_compile would (a layer whose settings depend
 * on its input's size asks for that input's shape). After compile, as
 * dn_graph_node_shape. */
dn_status dn_graph_infer_shape(dn_graph_t *g, int node, dn_shape *shape, int *batched);

/* The execution order after compile (n_nodes ids). */
const int *dn_graph_order(const dn_graph_t *g);

/* Parameters after compile, in the order nodes declare them. A weight that
 * a LINEAR_TIED or CONTRACTIVE node shares with a dense layer is listed once,
 * under the dense layer, and its gradient sums both uses. */
int dn_graph_num_params(const dn_graph_t *g);
typedef struct dn_param_info {
    const char *name;   /* "<node name>.<weight|bias|gamma|beta|running_mean|running_var>" */
    int node;
    dn_shape shape;
    float *value;       /* in the parameter arena: writes are seen by the next run */
    int64_t offset;     /* floats from the start of the arena */
    float *grad;        /* in the gradient arena (NULL for non-trainable state) */
    int trainable;
} dn_param_info;
dn_status dn_graph_param(const dn_graph_t *g, int k, dn_param_info *info);

/* --- running ------------------------------------------------------------- */

/* Forward over a batch of n samples: inputs[k] points at n * numel(shape_k)
 * floats for input k. flags: DN_RUN_*. nthreads <= 0: dn_max_threads(). */
dn_status dn_graph_forward(dn_graph_t *g, const float *const *inputs,
                           int64_t n, int flags, int nthreads);

/* Output k of the last forward: a pointer valid until the next run, and its
 * number of floats. */
dn_status dn_graph_output(const dn_graph_t *g, int k, const float **data,
                          int64_t *numel);

/* Backward after a forward with DN_RUN_GRAD, which must be the graph's last
 * run (DN_ERR_STATE otherwise, also after a run that failed): grad_outputs[k]
 * is the gradient of output k and holds as many floats as that output
 * (dn_graph_output's numel), which the caller must check (NULL: zero, or 1
 * for a LOSS output). Parameter gradients are zeroed, then filled. */
dn_status dn_graph_backward(dn_graph_t *g, const float *const *grad_outputs,
                            int nthreads);

/* Gradient with respect to input k after dn_graph_backward. */
dn_status dn_graph_input_grad(const dn_graph_t *g, int k, const float **data,
                              int64_t *numel);

/* The threads a run of n samples uses when given nthreads (<= 0:
 * dn_max_threads()): fewer when the graph's largest product at that batch
 * cannot give each thread about a million multiply-adds (dn_set_thread_trim
 * turns this off). Every run function applies it; results do not depend on
 * the thread count either way. */
int dn_graph_step_threads(const dn_graph_t *g, int64_t n, int nthreads);

/* Forward in inference mode over n samples in chunks of at most `chunk`,
 * copying output `k` to out (n * numel(shape) floats). */
dn_status dn_graph_predict(dn_graph_t *g, const float *const *inputs,
                           int64_t n, int k, float *out, int64_t chunk,
                           int nthreads);

/* Bytes in the activation arena planned for the last batch size (0 before). */
int64_t dn_graph_activation_bytes(const dn_graph_t *g);

/* --- training ------------------------------------------------------------ */

/* Set (and reset) the optimiser; allocates its state. The graph must have
 * exactly one loss node (an op flagged as a loss: DN_OP_LOSS or
 * DN_OP_VAE_LOSS, sample weights in its input 2), which training minimises. */
dn_status dn_graph_set_optimizer(dn_graph_t *g, const dn_optim_config *c);

/* Change the learning rate of the optimiser in place (schedules). */
dn_status dn_graph_set_lr(dn_graph_t *g, float lr);

/* One epoch: shuffle (when asked) with the graph's seed and epoch counter,
 * then for each batch gather rows, forward, loss, backward, update. data[k]
 * points at n_samples rows of input k; NULL fills that input with ones
 * (unweighted samples); an input set with dn_graph_set_augment reads its
 * rows through random image transforms (augment.h). *mean_loss is the
 * sample-weighted mean of the batch losses plus the regularisation term. DN_ERR_NUMERIC when a batch loss
 * turns NaN or infinite: the epoch stops before that batch's update. */
dn_status dn_graph_train_epoch(dn_graph_t *g, const float *const *data,
                               int64_t n_samples, int64_t batch_size,
                               int shuffle, int nthreads, double *mean_loss);

/* Optimiser steps taken so far. */
int64_t dn_graph_step_count(const dn_graph_t *g);

/* The regulariser's part of the mean loss of the last epoch. */
double dn_graph_last_reg_loss(const dn_graph_t *g);

/* The objective over a whole dataset, in inference mode (no dropout, batch
 * norm with its running statistics) and in chunks of at most `chunk`
 * samples (<= 0: 1024), so memory stays that of one chunk:
 *   *value = sum_i w_i l_i / sum_i w_i + l2 / (2 D) sum ||w||^2
 * over the decayed parameters, D = sum_i w_i with reg_per_sample, else 1.
 * data as for dn_graph_train_epoch. grad (dn_graph_param_floats floats, laid
 * out like the parameter arena: dn_param_info.offset) receives the gradient
 * of *value, 0 for non-trainable entries; NULL computes the value only. A
 * loss that is not finite is returned as it is: the caller decides. This is
 * what full-batch optimisers (L-BFGS) minimise. */
dn_status dn_graph_objective(dn_graph_t *g, const float *const *data, int64_t n, int64_t chunk,
                             double l2, int reg_per_sample, int nthreads, double *value,
                             float *grad);

/* Floats in the parameter arena (and in each optimiser state slot). */
int64_t dn_graph_param_floats(const dn_graph_t *g);

/* The optimiser's state: slots x dn_graph_param_floats floats, each slot
 * laid out like the parameter arena (*n_floats = 0 when the optimiser keeps
 * none); writable, to save training where it stopped and resume it. */
dn_status dn_graph_optim_state(dn_graph_t *g, float **state, int64_t *n_floats);

/* Epochs trained so far (the shuffle of epoch e is drawn from the seed and e). */
int64_t dn_graph_epoch_count(const dn_graph_t *g);

/* Restore the step and epoch counters (with the state above, training then
 * resumes exactly where it stopped). */
dn_status dn_graph_set_counters(dn_graph_t *g, int64_t steps, int64_t epochs);

/* Runs (forward passes, at training and at inference) made so far. The
 * random numbers of a training run (dropout masks, noise, the VAE's draws)
 * are keyed by the seed and this count, so a graph rebuilt from saved
 * parameters continues bit for bit once it is given the count back. */
uint64_t dn_graph_run_count(const dn_graph_t *g);
dn_status dn_graph_set_run_count(dn_graph_t *g, uint64_t runs);

#ifdef __cplusplus
}
#endif
#endif
