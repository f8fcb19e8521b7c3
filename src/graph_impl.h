/* The graph structure, shared by src/graph.c (building, compiling),
 * src/exec.c (planning, forward, backward) and src/train.c (the epoch). */
#ifndef DAGNET_GRAPH_IMPL_H
#define DAGNET_GRAPH_IMPL_H

#include "internal.h"
#include "dagnet/augment.h"

/* A compiled parameter. */
typedef struct dn_param_rec {
    char name[96];
    int node, index;   /* node id and its n-th declared parameter */
    int64_t offset;    /* floats into the parameter and gradient arenas */
    int64_t size;
} dn_param_rec;

/* What a run computes: every graph output, or the loss. */
typedef enum dn_target { DN_TARGET_OUTPUTS = 0, DN_TARGET_LOSS = 1 } dn_target;

/* The memory plan for one (batch, flags, target). Offsets in bytes into
 * the activation arena, -1 when the buffer is absent. */
typedef struct dn_plan {
    int valid;
    int64_t batch;
    int flags;
    dn_target target;
    int64_t bytes;
    int64_t *val_off, *grad_off, *saved_off;
    unsigned char *active;     /* node takes part in this run */
    unsigned char *needs_grad; /* node's gradient is computed (GRAD runs) */
    int *zero_at;              /* node id whose backward zeroes this node's
                                  gradient first; -1: zeroed at the start */
} dn_plan;

struct dn_graph {
    dn_node *nodes;
    int n_nodes, cap_nodes;
    int *inputs;       /* node ids of INPUT nodes, in the order added */
    int n_inputs, cap_inputs;
    int *outputs;
    int n_outputs;
    int compiled;
    uint64_t seed;
    int *order;        /* execution order (topological) */
    int loss_node;     /* the single LOSS node, or -1 */
    /* parameters */
    dn_param_rec *params;
    int n_params;
    int64_t param_floats;
    int64_t max_macs;  /* multiply-adds of the largest product, per sample */
    float *param_arena, *grad_arena;
    /* optimiser */
    int has_optim;
    dn_optim_config optim;
    float *optim_state;
    dn_param_view *views;
    int n_views;
    int64_t step;
    double last_reg_loss; /* regulariser part of the last epoch's mean loss */
    /* running */
    dn_plan plan;
    unsigned char *arena;
    int64_t arena_cap;
    float *ws;
    int64_t ws_cap;    /* floats */
    const float **val; /* value pointer of each node in the current run */
    int64_t run_n;     /* batch of the last forward; -1 before */
    int run_flags;
    uint64_t run_counter;
    uint64_t epoch;
    int64_t *perm;
    int64_t perm_cap;
    dn_augment_config augment; /* of input augment_input in training epochs */
    int augment_input;
};

/* src/train.c: point the optimiser at the trainable parameters (after
 * dn_graph_set_optimizer or a change of dn_graph_set_trainable). */
dn_status dn_train_bind_params(dn_graph_t *g);

/* src/exec.c */
dn_status dn_exec_prepare(dn_graph_t *g, int64_t batch, int flags, dn_target target);
dn_status dn_exec_forward(dn_graph_t *g, int64_t n, int flags, int nthreads);
dn_status dn_exec_backward(dn_graph_t *g, const float *const *grad_outputs, int nthreads);
void dn_plan_free(dn_plan *p);

#endif
