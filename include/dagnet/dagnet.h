/* dagnet.h: the C core of dagnet.
 *
 * A neural network is a directed acyclic graph whose vertices carry a
 * tensor function and its vector-Jacobian products (seed 000, section 1).
 * The core builds such a graph, compiles it (topological order, shape
 * inference, parameter and activation memory), runs it forward in
 * topological order and backward in reverse order, and trains it one epoch
 * per call.
 *
 * Components, one header each:
 *   status.h  dn_status codes and the thread-local message (dn_last_error)
 *   tensor.h  shapes (per-sample, batch dimension implicit) and tensors
 *   cpu.h     instruction-set detection, threads, reference mode
 *   ops.h     the ops a node can carry, activations, losses, initialisers
 *   gemm.h    the packed SGEMM with fused epilogues
 *   rng.h     Philox4x32-10: every draw a function of (seed, stream, position)
 *   init.h    parameter initialisers
 *   optim.h   optimiser updates, weight decay, max-norm, clipping
 *   graph.h   building, compiling, running and training a graph
 *   augment.h random image transforms in training epochs (shift, flip, rotation)
 *   rbm.h     restricted Boltzmann machines: samplers, CD/PCD, log Z
 *
 * Conventions: names are dn_<thing>_<action>; every function that can fail
 * returns a dn_status and sets a message saying what to do; the core never
 * prints or ends the process. Backward functions add into gradients; the
 * executor zeroes them once per step. Results do not depend on the number
 * of threads.
 *
 * Example: a two-layer network trained with Adam on (X, y).
 *
 *   dn_graph_t *g;  int x, t, h, o, l;
 *   dn_shape in = {1, {4}}, tgt = {1, {1}};
 *   dn_attrs a;
 *   dn_graph_new(&g);
 *   dn_graph_add_input(g, &in, &x);
 *   dn_graph_add_input(g, &tgt, &t);
 *   dn_attrs_default(&a); a.units = 16; a.act = DN_ACT_RELU;
 *   dn_graph_add_node(g, DN_OP_LINEAR, &x, 1, &a, &h);
 *   dn_attrs_default(&a); a.units = 1;
 *   dn_graph_add_node(g, DN_OP_LINEAR, &h, 1, &a, &o);
 *   dn_attrs_default(&a); a.loss = DN_LOSS_MSE;
 *   int li[2] = {o, t};
 *   dn_graph_add_node(g, DN_OP_LOSS, li, 2, &a, &l);
 *   dn_graph_set_outputs(g, &o, 1);
 *   if (dn_graph_compile(g, 42) != DN_OK) puts(dn_last_error());
 *   dn_optim_config c; dn_optim_default(&c, DN_OPTIM_ADAM);
 *   dn_graph_set_optimizer(g, &c);
 *   const float *data[2] = {X, y};  double loss;
 *   for (int e = 0; e < 10; e++)
 *       dn_graph_train_epoch(g, data, n, 32, 1, 0, &loss);
 *   dn_graph_free(g);
 */
#ifndef DAGNET_H
#define DAGNET_H

#include "dagnet/status.h"
#include "dagnet/tensor.h"
#include "dagnet/cpu.h"
#include "dagnet/ops.h"
#include "dagnet/gemm.h"
#include "dagnet/rng.h"
#include "dagnet/init.h"
#include "dagnet/optim.h"
#include "dagnet/graph.h"
#include "dagnet/augment.h"
#include "dagnet/rbm.h"

#endif
